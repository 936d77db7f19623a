# The README's two commands: `make run` runs the notebook end to end, `make test` the tests.
# Both build the environment first when it is missing or stale, and are quick when it is not.
# Conda users: `make run ENV=$CONDA_PREFIX` inside the env made from environment.yml.

ENV ?= .venv
PYTHON ?= python3.11
PY := $(ENV)/bin/python
READY := $(ENV)/.vae-legacy-ready
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test lint

run: $(READY)
	$(PY) run_notebook.py

test: $(READY)
	$(PY) -m pytest

lint: $(READY)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

$(READY): requirements.txt theanorc legacy/install.py legacy/activate.py
	@test -e $(ENV)/lib/libopenblas.so || dpkg -s libopenblas-dev >/dev/null 2>&1 || { \
	  echo "set-up: installing Debian's OpenBLAS for Theano"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev g++ >/dev/null; }
	@test -x $(PY) || { echo "set-up: creating $(ENV) with $(PYTHON)"; $(PYTHON) -m venv $(ENV); }
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "the lock is for Python 3.11"'
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.txt
	$(PY) -m legacy.install
	$(PY) notebook_cells.py
	@touch $@
