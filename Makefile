# The README's two commands: `make run` runs the notebook end to end, `make test` the tests.
# Both build the environment first when it is missing or stale, and are quick when it is not.
# Conda users: `make run ENV=$CONDA_PREFIX` inside the env made from environment.yml.
# Interactive: `make lab` (JupyterLab) or `make notebook` (Notebook 7) on a working copy.
# The 2016 stack (Python 2.7, Theano 0.8.2) and its kernel: `make stack-2016`; both stacks
# on one seed, line by line: `make compare-2016 SEED=1`.
# The GPU: `make cuda` builds Theano's GPU backend (libgpuarray, pygpu) into the environment;
# then `make run DEVICE=cuda`.

ENV ?= .venv
# The interpreter .venv is made with: PYTHON if given, else python3.11, else python3. The lock
# is for Python 3.11, any 3.11 from 3.11.0 (Debian 12's python3 is 3.11.2).
PYTHON ?= $(firstword $(shell command -v python3.11 python3 2>/dev/null) python3)
PY := $(ENV)/bin/python
READY := $(ENV)/.vae-legacy-ready
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

SEED ?= 1
DEVICE ?= cpu
# Given to the commands through their environment, never spliced into a shell line.
export SEED DEVICE

.PHONY: run test lint lab notebook browser stack-2016 compare-2016 cuda cmake test-fresh

run: $(READY)
	$(PY) run_notebook.py --device "$$DEVICE"

test: $(READY) browser cmake
	$(PY) -m stack2016.build --if-python27
	$(PY) -m pytest

lab: $(READY)
	$(PY) lab.py

notebook: $(READY)
	$(PY) lab.py --app notebook

# Debian's Chromium, which the browser tests drive through Playwright (whose own browser
# download `playwright install` needs is not used). Where the package cannot be installed,
# say so: the browser tests then skip, saying why.
CHROMIUM := /usr/lib/chromium/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  echo "set-up: installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null || \
	  echo "set-up: no Debian chromium here; the browser tests will skip"; }

stack-2016: $(READY)
	$(PY) -m stack2016.build

compare-2016: stack-2016
	$(PY) historical/side_by_side.py --seed "$$SEED"

cuda: $(READY) cmake
	$(PY) -m gpu_backend.build

# libgpuarray is built with CMake: Debian's, where none is on PATH (make cuda; the tests
# build it without a GPU).
cmake:
	@command -v cmake >/dev/null || { \
	  echo "set-up: installing Debian's cmake for libgpuarray"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq cmake >/dev/null; }

# The two commands on a fresh, minimal Debian root (root, debootstrap; 15-30 min).
DISTRO ?= bookworm
test-fresh:
	bash tests/fresh_machine.sh $(DISTRO)

lint: $(READY)
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

# Python first, before any apt-get: a .venv of another Python, or one cut off while being made
# (no pip), is made again (a conda env, which has no pyvenv.cfg, is never touched); without a
# Python 3.11, one line says how to get one.
IS_311 := -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'
$(READY): requirements.txt pyproject.toml $(shell find install -type f)
	@if test -x $(PY) && ! { $(PY) $(IS_311) && $(PY) -m pip --version; } >/dev/null 2>&1; then \
	  if test -f $(ENV)/pyvenv.cfg; then \
	    echo "set-up: making $(ENV) again: it holds $$($(PY) -V 2>&1), without pip or not a 3.11"; \
	    rm -rf $(ENV); \
	  else echo "set-up: $(ENV) holds $$($(PY) -V 2>&1); the lock is for Python 3.11" >&2; exit 2; fi; \
	fi
	@test -x $(PY) || $(PYTHON) $(IS_311) 2>/dev/null || { \
	  echo "set-up: the lock is for Python 3.11 (3.11.0 or later), and $(PYTHON) is" \
	    "$$($(PYTHON) -V 2>&1 || echo missing): install one (Debian 12: apt-get install python3-venv;" \
	    "pyenv install 3.11; conda: environment.yml), then PYTHON=/path/to/python3.11 make" >&2; \
	  exit 2; }
	@test -e $(ENV)/lib/libopenblas.so || dpkg -s libopenblas-dev >/dev/null 2>&1 || { \
	  echo "set-up: installing Debian's OpenBLAS for Theano"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev g++ >/dev/null; }
	@test -x $(PY) || { echo "set-up: creating $(ENV) with $(PYTHON)"; $(PYTHON) -m venv $(ENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) notebook_cells.py
	@touch $@
