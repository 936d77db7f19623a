#!/usr/bin/env bash
# Compiles locks/pythonX.Y.txt, the hashed lock of Python X.Y, from pyproject.toml, on that
# Python (pip-compile resolves for the interpreter it runs on), keeping the pins it already
# has; a new one starts from 3.11's, so that every Python has the same versions where their
# wheels allow (numpy and scipy differ, by pyproject.toml's markers). The sdists' metadata is
# built as the set-up builds them: without build isolation, with locks/build on PYTHONPATH.
# locks/floor.txt holds back what the first X.Y.0 lacks.
#   bash locks/compile.sh 3.12 [/path/to/python3.12]
set -euo pipefail
VERSION=${1:?which Python: 3.11, 3.12 or 3.13}
# The given Python, else python3.X where it runs (pyenv's bare shims may not), else pyenv's.
PYTHON=${2:-$(python"$VERSION" -c 'import sys; print(sys.executable)' 2>/dev/null ||
  ls "$(pyenv root 2>/dev/null)"/versions/"$VERSION".*/bin/python"$VERSION" | tail -1)}
cd "$(dirname "$0")/.."
[ -e "locks/python$VERSION.txt" ] || cp locks/python3.11.txt "locks/python$VERSION.txt"
TOOLS=$(mktemp -d)
trap 'rm -rf "$TOOLS"' EXIT
"$PYTHON" -m venv "$TOOLS"
"$TOOLS/bin/pip" install --quiet pip-tools==7.7.0 setuptools==69.5.1 wheel hatchling==1.33.0
CUSTOM_COMPILE_COMMAND="bash locks/compile.sh $VERSION" PYTHONPATH=$PWD/locks/build \
  "$TOOLS/bin/pip-compile" --quiet --allow-unsafe \
  --build-deps-for=editable --constraint=locks/floor.txt --extra=cuda --extra=dev \
  --generate-hashes --index-url=https://pypi.org/simple --no-emit-find-links \
  --no-emit-index-url --no-build-isolation --strip-extras \
  --output-file="locks/python$VERSION.txt" pyproject.toml
