# `make up` and `make test` each build .venv from pyproject.toml first (only Python 3.11 needed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-pyproject
BENCHMARKS := $(filter-out benchmarks/__init__.py,$(wildcard benchmarks/*.py))
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium

.PHONY: $(VENV) up down status test test-fast lint bench chromium

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

# The browser tests drive Debian's Chromium: installed here when missing and apt-get can (as
# root, or with password-less sudo); otherwise those tests skip and say why.
chromium:
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null 2>&1; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	  { $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    $$sudo apt-get install -y -q chromium chromium-driver; } \
	  || echo "could not install Chromium: the browser tests will skip"; \
	fi

test: $(VENV) chromium
	$(BIN)/python -m pytest -q tests $(PYTEST_ARGS)

test-fast: $(VENV)
	$(BIN)/python -m pytest -q -m "not slow" tests $(PYTEST_ARGS)

lint: $(VENV)
	$(BIN)/ruff check .

bench: $(VENV)
	set -e; for script in $(BENCHMARKS); do $(BIN)/python $$script --quick; done
