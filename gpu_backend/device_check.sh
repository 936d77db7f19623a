#!/usr/bin/env bash
# The GPU check, in one call of the device tool (one H200, no network, no Python 3.11), from
# what gpu_backend/carry.sh packed into .carry/: set up the environment, `make cuda`, ask for
# the GPU, run the GPU test, then the unchanged notebook on the GPU, numpy seeded to $SEED.
# Everything it shows lands in $OUT: check.log, the run folder (run-gpu.tar.gz), the
# compile caches (theano-cache.tar.xz, for a second call). Each step is timed; a failed step
# ends the check, saying which, except the GPU test: the notebook runs after it all the same.
#   device run: bash gpu_backend/device_check.sh        (carry: [".carry"])
#   here, the same steps up to the GPU: OUT=/tmp/out bash gpu_backend/device_check.sh
#   then here, the report: python historical/gpu_report.py GPU_RUN CPU_RUN_SAME_SEED \
#     --out historical/side_by_side/gpu-seed1.md
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder for what the check shows}
SEED=${SEED:-1}
VENV=/tmp/vae-legacy-gpu/venv
PY=$VENV/bin/python
mkdir -p "$OUT"
exec > >(tee "$OUT/check.log") 2>&1
export PYTHONUNBUFFERED=1 MNIST_SOURCE=$PWD/.carry/mnist LIBGPUARRAY_SOURCE=$PWD/.carry
step() {
  local name=$1 start=$SECONDS
  shift
  echo "== $name"
  "$@" || { echo "== FAILED: $name ($((SECONDS - start)) s)"; [ -n "${GO_ON:-}" ] || exit 1; }
  echo "== done: $name ($((SECONDS - start)) s)"
}

machine() {
  uname -srm
  grep -m1 PRETTY_NAME /etc/os-release
  ldd --version | head -1
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  nproc
  # Where this machine keeps CUDA's libraries, for the record and for LD_LIBRARY_PATH below.
  find / \( -path /proc -o -path /sys \) -prune -o \( -name 'libcuda.so*' -o -name \
    'libnvrtc.so*' -o -name 'libcublas.so*' \) -print 2>/dev/null | sort | head -20
  command -v cmake gcc g++ nvcc
}

# Python at its own prefix, unless one is there already (here: pyenv's, left as it is).
unpack() {
  python=$(tar -tJf .carry/python.tar.xz | grep -m1 'bin/python3.11$')
  { [ -x "/$python" ] || tar -C / -xJf .carry/python.tar.xz; } &&
    rm -rf "$VENV" && tar -C / -xJf .carry/venv.tar.xz &&
    "$PY" -c 'import sys, numpy, scipy, sklearn, matplotlib; print(sys.version)'
}

# The carried environment is the set-up's output; only the project itself goes in here.
install_project() {
  "$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . &&
    touch "$VENV/.vae-legacy-ready"
}

# NVRTC and cuBLAS may live in a wheel folder of another Python: show the build where.
cuda_dirs() {
  find / \( -path /proc -o -path /sys \) -prune -o \( -name 'libnvrtc.so.*' -o -name \
    'libcublas.so.*' \) -printf '%h\n' 2>/dev/null | sort -u | paste -sd:
}

# Whatever the check got to, the run folder and the compile caches come back.
keep() {
  [ -d "$OUT/runs" ] && tar -C "$OUT/runs" -czf "$OUT/run-gpu.tar.gz" . && rm -rf "$OUT/runs"
  [ -d ~/.theano ] && tar -C ~ -cJf "$OUT/theano-cache.tar.xz" .theano
  echo "== the check ended after $SECONDS s"
}
trap keep EXIT

step "the machine" machine
step "unpack Python 3.11.7 and the environment" unpack
step "install the project" install_project
step "make cuda" env LD_LIBRARY_PATH="$(cuda_dirs)" make cuda ENV="$VENV"
step "ask for the GPU" "$PY" -m gpu_backend.probe
GO_ON=1 step "the GPU test" "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py -k on_the_gpu
step "the notebook on the GPU, seed $SEED" \
  "$PY" run_notebook.py --device cuda --seed "$SEED" --runs "$OUT/runs"
