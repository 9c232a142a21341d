# `make up` and `make test` each build .venv from pyproject.toml first (only Python 3.11 needed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-pyproject
BENCHMARKS := $(filter-out benchmarks/__init__.py,$(wildcard benchmarks/*.py))
PYTEST_ARGS ?=

.PHONY: $(VENV) up down status test test-fast lint bench

$(VENV): $(STAMP)

# Re-runs only when pyproject.toml is newer than the stamp; a failed install leaves no stamp.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

up: $(VENV)
	$(BIN)/dynaprice up --demo

down: $(VENV)
	$(BIN)/dynaprice down

status: $(VENV)
	$(BIN)/dynaprice status

test: $(VENV)
	$(BIN)/python -m pytest -q tests $(PYTEST_ARGS)

test-fast: $(VENV)
	$(BIN)/python -m pytest -q -m "not slow" tests $(PYTEST_ARGS)

lint: $(VENV)
	$(BIN)/ruff check .

bench: $(VENV)
	set -e; for script in $(BENCHMARKS); do $(BIN)/python $$script --quick; done
