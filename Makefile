# Everything creates what it needs: a fresh clone runs `make run` or `make test` and nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# aws-sam-cli pins boto3 exactly, so it lives in a tool virtualenv of its own.
SAM_VERSION := 1.170.0
SAM_VENV := .tools/sam
SAM      := $(SAM_VENV)/bin/sam
# checkov, pinned, in a tool virtualenv of its own as well.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .tools/checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov
# `sam build` for the python3.13 runtime needs a 3.13 interpreter on PATH.
PY313_DIR ?= $(shell pyenv root 2>/dev/null)/versions/3.13.0/bin
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

# The Lambda runtime is Python 3.13; the suite runs there too.
VENV313 := .tools/py313

.PHONY: venv run test unit test-py313 lint checkov build bench chaos catalog clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

run: venv
	@echo "From another terminal: $(BIN)/python -m sesame.local.send --to john@example.com"
	$(BIN)/sesame local --aliases aliases.toml

lint: venv $(SAM) checkov
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

# The SAM template as written, then as translated (the IAM roles SAM generates included).
checkov: venv $(CHECKOV)
	$(CHECKOV) --config-file .checkov.yaml --file template.yaml
	$(BIN)/python tests/test_template.py .aws-sam/translated.json
	$(CHECKOV) --config-file .checkov.yaml --file .aws-sam/translated.json

unit: venv
	$(BIN)/pytest

$(VENV313)/.installed: pyproject.toml
	@test -x "$(PY313_DIR)/python3.13" || { echo "the Python 3.13 run needs python3.13: set PY313_DIR to its bin folder" >&2; exit 1; }
	"$(PY313_DIR)/python3.13" -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --upgrade pip
	$(VENV313)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

test-py313: $(VENV313)/.installed
	$(VENV313)/bin/pytest -q -p no:cacheprovider

test: venv lint build test-py313
	$(BIN)/pytest --cov=sesame.core --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95

# src/Makefile does the packaging (template.yaml: BuildMethod makefile); then every module
# shipped must have valid unchecked-hash bytecode for the runtime's Python.
build: $(SAM)
	@test -x "$(PY313_DIR)/python3.13" || { echo "sam build needs python3.13: set PY313_DIR to its bin folder" >&2; exit 1; }
	PATH="$(PY313_DIR):$$PATH" $(SAM) build --template template.yaml
	"$(PY313_DIR)/python3.13" tests/bundle_check.py .aws-sam/build/HandleEmailFunction .aws-sam/build/DeadLetterFunction

# Every benchmark runs, then the target fails if any missed a target. The handler one
# builds a bundle for this machine with src/Makefile and needs python3.13 (PY313_DIR).
bench: venv
	@status=0; \
	$(BIN)/python bench/bench_preview.py || status=1; \
	$(BIN)/python bench/bench_local.py || status=1; \
	PY313_DIR="$(PY313_DIR)" $(BIN)/python bench/bench_handler.py || status=1; \
	exit $$status

# 500 messages of 1 to 120 destinations through `sesame local --faults`, at fault rates 0.2 and 0.05.
chaos: venv
	$(BIN)/python -m sesame.local.chaos --messages 500 --rate 0.2 --rate 0.05 --workdir .chaos

# The index schema and named queries the `sesame` package carries, extracted from the
# template (tests/test_index_catalog.py fails until this is run after a change).
catalog: venv
	$(BIN)/python -m sesame.ops.catalog template.yaml --write

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .coverage .hypothesis
