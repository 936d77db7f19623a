# The README's two commands: `make run` runs the notebook end to end, `make test` the tests.
# Both build the environment first when it is missing or stale, and are quick when it is not.
# Conda users: `make run ENV=$CONDA_PREFIX` inside the env made from environment.yml.
# Interactive: `make lab` (JupyterLab) or `make notebook` (Notebook 7) on a working copy.
# The 2016 stack (Python 2.7, Theano 0.8.2) and its kernel: `make stack-2016`; both stacks
# on one seed, line by line: `make compare-2016 SEED=1`.
# The GPU: `make cuda` builds Theano's GPU backend (libgpuarray, pygpu) into the environment;
# then `make run DEVICE=cuda`.

ENV ?= .venv
# The Pythons the project runs on, each with its own hashed lock, locks/pythonX.Y.txt, which
# admits every X.Y from X.Y.0 (Debian 12's python3 is 3.11.2, Debian 13's 3.13.5).
SUPPORTED := 3.11 3.12 3.13
# The interpreter $(ENV) is made with: PYTHON if given, else the machine's python3.
PYTHON ?= python3
PY := $(ENV)/bin/python
READY := $(ENV)/.vae-legacy-ready
X_Y := -c 'import sys; print("%d.%d" % sys.version_info[:2])'
ENV_PYVER := $(shell $(PY) $(X_Y) 2>/dev/null)
# The Python whose lock is installed: $(ENV)'s own while it is a supported one and no PYTHON
# was asked for; else PYTHON's (and $(ENV), of another Python, is made again with it).
ifeq ($(origin PYTHON),file)
PYVER := $(or $(filter $(SUPPORTED),$(ENV_PYVER)),$(shell $(PYTHON) $(X_Y) 2>/dev/null))
else
PYVER := $(shell $(PYTHON) $(X_Y) 2>/dev/null)
endif
LOCK := locks/python$(PYVER).txt
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --no-deps
comma := ,
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

SEED ?= 1
DEVICE ?= cpu
# Given to the commands through their environment, never spliced into a shell line.
export SEED DEVICE

.PHONY: run test lint lab notebook browser stack-2016 compare-2016 cuda cmake test-fresh git-filter

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
# supported Python, one line says how to get one. The lock's two sdists (Theano-PyMC, Lasagne)
# are built with the lock's own setuptools, wheel and packaging, installed first, and the
# build's mends (locks/build) on PYTHONPATH.
$(READY): $(wildcard $(LOCK)) pyproject.toml locks/build/sitecustomize.py $(shell find install -type f)
	@if test -x $(PY) && ! { test "$(ENV_PYVER)" = "$(PYVER)" && $(PY) -m pip --version; } >/dev/null 2>&1; then \
	  if test -f $(ENV)/pyvenv.cfg; then \
	    echo "set-up: making $(ENV) again: it holds $$($(PY) -V 2>&1), without pip or of another Python than $(PYTHON)"; \
	    rm -rf $(ENV); \
	  else echo "set-up: $(ENV) holds $$($(PY) -V 2>&1), not a Python $(PYVER)" >&2; exit 2; fi; \
	fi
	@test -n "$(filter $(SUPPORTED),$(PYVER))" || { \
	  echo "set-up: vae-legacy runs on Python $(subst $() ,$(comma) ,$(SUPPORTED)), and $(PYTHON) is" \
	    "$$($(PYTHON) -V 2>&1 || echo missing): install one (Debian 12's python3 is 3.11, Debian" \
	    "13's 3.13, Ubuntu 24.04's 3.12, with python3-venv; or pyenv install 3.13; or conda with" \
	    "environment.yml), then PYTHON=/path/to/python3.X make" >&2; \
	  exit 2; }
	@test -e $(ENV)/lib/libopenblas.so || dpkg -s libopenblas-dev >/dev/null 2>&1 || { \
	  echo "set-up: installing Debian's OpenBLAS for Theano"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev g++ >/dev/null; }
	@test -x $(PY) || { echo "set-up: creating $(ENV) with $(PYTHON) (Python $(PYVER))"; $(PYTHON) -m venv $(ENV); }
	awk '/^[a-z0-9]/ {keep = /^(setuptools|wheel|packaging)==/} keep' $(LOCK) >$(ENV)/build-tools.txt
	$(PIP) --require-hashes -r $(ENV)/build-tools.txt
	PYTHONPATH=$(CURDIR)/locks/build $(PIP) --require-hashes --no-build-isolation --use-pep517 -r $(LOCK)
	$(PIP) --no-build-isolation -e .
	@$(MAKE) --no-print-directory -s git-filter
	$(PY) notebook_cells.py
	@touch $@

# nbstripout's git filter in this checkout: a notebook saved with its outputs (say, the
# committed one run in a plain `jupyter lab`) shows in git as committed, its outputs left on
# disk; --keep-id keeps its cell ids. Set by the first environment made, and again only once
# the interpreter it names is gone (git cannot run a missing filter).
NBSTRIPOUT = "$(abspath $(PY))" -m nbstripout --keep-id
git-filter:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 0; \
	python=$$(git config filter.nbstripout.clean | sed -n 's/^"\(.*\)" -m nbstripout --keep-id$$/\1/p'); \
	test -x "$$python" || { \
	  $(PY) -m nbstripout --install && \
	  git config filter.nbstripout.clean '$(NBSTRIPOUT)' && \
	  git config diff.ipynb.textconv '$(NBSTRIPOUT) -t' && \
	  echo "set-up: git shows notebooks without their outputs (nbstripout's filter)"; }
