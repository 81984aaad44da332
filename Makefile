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
# Python 3.13, the Lambda runtime: `sam build` needs it on PATH and the suite runs under it too.
# First a python3.13 on PATH that runs (a pyenv shim for a version not selected is on PATH but
# does not run), then pyenv's newest 3.13.x. Set PY313_DIR to its bin folder to choose another.
ifeq ($(origin PY313_DIR),undefined)
PY313_DIR := $(shell \
  if python3.13 -c 'import sys' >/dev/null 2>&1; then \
    dirname "$$(python3.13 -c 'import sys; print(sys.executable)')"; \
  else \
    root="$$(pyenv root 2>/dev/null || echo "$${PYENV_ROOT:-$$HOME/.pyenv}")"; \
    ls -d "$$root"/versions/3.13.*/bin 2>/dev/null | sort -V | \
      while read -r dir; do test -x "$$dir/python3.13" && echo "$$dir"; done | tail -n 1; \
  fi)
endif
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

# The Lambda runtime is Python 3.13; the suite runs there too.
VENV313 := .tools/py313
# The suite runs in this many processes (pytest-xdist); 0 runs it in one.
TEST_WORKERS ?= 2

.PHONY: venv run test unit test-py313 lint checkov build bench fuzz chaos py313 catalog clean

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

# Said before anything slow is installed, so a missing 3.13 costs seconds, not minutes.
py313:
	@if test -n "$(PY313_DIR)" && test -x "$(PY313_DIR)/python3.13"; then \
	  echo "Python 3.13 (the Lambda runtime): $(PY313_DIR)/python3.13"; \
	else \
	  echo "No Python 3.13 found. 'make test' and 'make build' need it (the Lambda runtime is python3.13)." >&2; \
	  echo "Looked for: a working python3.13 on PATH, then \$$(pyenv root)/versions/3.13.*/bin/python3.13." >&2; \
	  echo "Install one (e.g. 'pyenv install 3.13') or run: make $(or $(MAKECMDGOALS),test) PY313_DIR=/path/to/python3.13/bin" >&2; \
	  exit 1; \
	fi

$(VENV313)/.installed: pyproject.toml | py313
	"$(PY313_DIR)/python3.13" -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --upgrade pip
	$(VENV313)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

test-py313: $(VENV313)/.installed
	$(VENV313)/bin/pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

test: py313 venv lint build test-py313
	$(BIN)/pytest -n $(TEST_WORKERS) --cov=sesame.core --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=95

# src/Makefile does the packaging (template.yaml: BuildMethod makefile); then every module
# shipped must have valid unchecked-hash bytecode for the runtime's Python.
build: py313 $(SAM)
	PATH="$(PY313_DIR):$$PATH" $(SAM) build --template template.yaml
	"$(PY313_DIR)/python3.13" tests/bundle_check.py .aws-sam/build/HandleEmailFunction .aws-sam/build/DeadLetterFunction .aws-sam/build/FeedbackFunction

# Every benchmark runs, then the target fails if any missed a target. The handler one
# builds a bundle for this machine with src/Makefile and needs python3.13 (PY313_DIR).
bench: venv
	@status=0; \
	$(BIN)/python bench/bench_preview.py || status=1; \
	$(BIN)/python bench/bench_local.py --check || status=1; \
	PY313_DIR="$(PY313_DIR)" $(BIN)/python bench/bench_handler.py || status=1; \
	$(BIN)/python bench/bench_hostile.py || status=1; \
	exit $$status

# The hostile-mail property tests with more examples and far larger messages (about a minute;
# SESAME_FUZZ_EXAMPLES=N sets the examples per test).
fuzz: venv
	SESAME_FUZZ=long $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz_forward.py tests/test_hostile_events.py \
	  tests/test_local_stack.py::test_generated_hostile_mail_through_smtp_is_accepted_and_reaches_an_outcome

# 500 messages of 1 to 120 destinations through `sesame local --faults`, at fault rates 0.2 and 0.05.
chaos: venv
	$(BIN)/python -m sesame.local.chaos --messages 500 --rate 0.2 --rate 0.05 --workdir .chaos

# The index schema and named queries the `sesame` package carries, extracted from the
# template (tests/test_index_catalog.py fails until this is run after a change).
catalog: venv
	$(BIN)/python -m sesame.ops.catalog template.yaml --write

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache .coverage .hypothesis
