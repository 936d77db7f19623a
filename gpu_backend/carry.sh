#!/usr/bin/env bash
# What gpu_backend/device_check.sh needs on a GPU machine that reaches no network and has no
# Python 3.11, packed here into .carry/ (git-ignored), under the device tool's 64 MiB:
#   python.tar.xz  pyenv's CPython 3.11.7, at its own prefix (a pyenv build is not relocatable),
#                  without its tests, IDLE, Tk, pip's wheels, lib2to3, docs, static library
#   venv.tar.xz    the hashed lock installed at $VENV, without what a headless run never
#                  imports (the browser-test driver, the servers and their static files, the
#                  debugger, completion, PDF fonts, data sets, linters, tests, symbols,
#                  Cython's compiled modules), with scipy's LP64 OpenBLAS as lib/libopenblas.so
#                  for Theano's CPU BLAS (that machine has no libopenblas-dev). Mathtext's
#                  fonts stay: matplotlib's font cache is shared by its environments.
#   libgpuarray's source and MNIST, from ../shared.
# Usage: bash gpu_backend/carry.sh   (then the device call names .carry in `carry`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY311=$(pyenv root)/versions/3.11.7
VENV=/tmp/vae-legacy-gpu/venv
CARRY=.carry
SHARED=$(cd .. && pwd)/shared
rm -rf "$CARRY" && mkdir -p "$CARRY/mnist"
grep -qx '/.carry/' .git/info/exclude || echo '/.carry/' >>.git/info/exclude

echo "carry: CPython 3.11.7 from $PY311"
stage=$(mktemp -d)
tar -C / -cf - --exclude='*/site-packages/*' --exclude='*/python3.11/test' \
  --exclude='*/idlelib' --exclude='*/tkinter' --exclude='*/ensurepip' --exclude='*/lib2to3' \
  --exclude='*/pydoc_data' --exclude='*/turtledemo' --exclude='__pycache__' --exclude='*.a' \
  "${PY311#/}" | tar -C "$stage" -xf -
find "$stage" -name '*.so*' -type f -exec strip --strip-unneeded {} +
tar -C "$stage" -cf - "${PY311#/}" | xz -T0 -6 >"$CARRY/python.tar.xz"
rm -rf "$stage"

echo "carry: the lock at $VENV"
rm -rf "$VENV"
"$PY311/bin/python3.11" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
  -r locks/python3.11.txt
site=$VENV/lib/python3.11/site-packages
rm -rf "$site"/{playwright,jupyterlab,notebook,babel,jedi,debugpy,ruff,parso,fontTools}{,-*.dist-info} \
  "$site"/{jupyter_server,jupyter_server_terminals,jupyter_builder,jupyter_lsp}{,-*.dist-info} \
  "$site"/{jupyterlab_server,notebook_shim,greenlet,tzdata}{,-*.dist-info} "$VENV/bin/ruff" \
  "$site"/matplotlib/mpl-data/{sample_data,fonts/afm,fonts/pdfcorefonts} \
  "$site"/scipy/misc/*.dat \
  "$site"/sklearn/datasets/{data,descr,images} "$VENV"/share/jupyter/{lab,labextensions}
find "$site" -depth \( -name tests -o -name __pycache__ \) -type d -exec rm -rf {} +
find "$site" -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +
find "$site/Cython" -name '*.so' -delete  # its pure-Python twin is beside each
for lib in "$site"/scipy.libs/*; do  # OpenBLAS, and beside it what it loads
  ln -s "python3.11/site-packages/scipy.libs/${lib##*/}" "$VENV/lib/${lib##*/}"
done
ln -s "$(basename "$site"/scipy.libs/libopenblas*.so)" "$VENV/lib/libopenblas.so"
tar -C / -cf - "${VENV#/}" | xz -T0 -9 >"$CARRY/venv.tar.xz"

cp "$SHARED"/libgpuarray-0.7.6/*.tar.gz "$CARRY/"
cp "$SHARED"/mnist/*.gz "$CARRY/mnist/"
du -sh "$CARRY"/* | sed 's/^/carry: /'
