# Everything creates what it needs: a fresh clone runs `make run` or `make test` and nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# aws-sam-cli pins boto3 exactly, so it lives in a tool virtualenv of its own.
SAM_VERSION := 1.170.0
SAM_VENV := .tools/sam
SAM      := $(SAM_VENV)/bin/sam
# `sam build` for the python3.13 runtime needs a 3.13 interpreter on PATH.
PY313_DIR ?= $(shell pyenv root 2>/dev/null)/versions/3.13.0/bin
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: venv run test unit lint build bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'

run: venv
	$(BIN)/sesame local --aliases aliases.toml

lint: venv $(SAM)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

unit: venv
	$(BIN)/pytest

test: venv lint
	$(BIN)/pytest --cov=sesame.core --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95

build: $(SAM)
	PATH="$(PY313_DIR):$$PATH" $(SAM) build --template template.yaml

bench: venv
	$(BIN)/python bench/bench_preview.py

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .coverage .hypothesis
