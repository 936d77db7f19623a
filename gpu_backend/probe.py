"""Can Theano use a GPU here, and which: asked before a GPU run, recorded after it.

    python -m gpu_backend.probe        the GPU as JSON, or one line on why there is none

``probe()`` asks in a child process, since opening the GPU holds it; ``describe()`` runs in
the kernel after a run, about the GPU Theano used.
"""

import ast
import ctypes
import json
import shutil
import subprocess
import sys
from pathlib import Path

from legacy.compat import CUDA_LINKS

LINKS = Path(sys.prefix, "lib", CUDA_LINKS)
# libgpuarray's words when it cannot open a library -> what a user is told.
MISSING = {
    '"libcuda.so"': "no NVIDIA driver found (libcuda.so.1)",
    '"libnvrtc.so"': "no NVRTC found (libnvrtc.so.N, CUDA's runtime compiler)",
    '"libcublas.so"': "no cuBLAS found (libcublas.so.N)",
}
ASK = (
    "import json, pygpu; c = pygpu.init('cuda0'); "
    "print(json.dumps([getattr(v, 'decode', lambda: v)() for v in (c.devname, c.bin_id)]))"
)


class NoGpu(Exception):
    """Why Theano cannot use a GPU here, in one line."""


def why_not(message):
    """pygpu's error when opening the GPU, as a user's one line."""
    for name, said in MISSING.items():
        if f"Could not load {name}" in message:
            return f"{said}; once it is installed, run `make cuda` again"
    return f"the GPU cannot be opened: {message}"


def probe(python=sys.executable, env=None):
    """[name, architecture] of the GPU pygpu opens as cuda0; NoGpu if it cannot."""
    done = subprocess.run([python, "-c", ASK], capture_output=True, text=True, env=env)
    if done.returncode == 0:
        return json.loads(done.stdout.splitlines()[-1])
    error = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
    if "No module named 'pygpu'" in error:
        raise NoGpu("Theano's GPU backend is not built here (no pygpu): run `make cuda`")
    said = error.split(": ", 1)[-1]
    if said[:2] in ("b'", 'b"'):  # pygpu's messages are bytes
        said = ast.literal_eval(said).decode()
    raise NoGpu(why_not(said))


def call(library, function, *arguments):
    """Call a CUDA library's version function with int out-arguments; their values or None."""
    try:
        handle = ctypes.CDLL(str(LINKS / library) if (LINKS / library).exists() else library)
    except OSError:
        return None
    values = [ctypes.c_int() for _ in arguments if _ is None]
    out = iter(values)
    passed = [ctypes.byref(next(out)) if a is None else ctypes.c_int(a) for a in arguments]
    return [v.value for v in values] if getattr(handle, function)(*passed) == 0 else None


def describe():
    """The GPU Theano runs on, its driver and the CUDA libraries libgpuarray opened."""
    from theano.gpuarray.type import get_context

    context = get_context(None)
    smi = shutil.which("nvidia-smi")
    driver = subprocess.run(
        [smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
        text=True,
    ).stdout.split() if smi else []  # fmt: skip
    cuda = call("libcuda.so.1", "cuDriverGetVersion", None)
    nvrtc = call("libnvrtc.so", "nvrtcVersion", None, None)
    cublas = [call("libcublas.so", "cublasGetProperty", part, None) for part in range(3)]
    return {
        "name": getattr(context.devname, "decode", lambda: context.devname)(),
        "architecture": getattr(context.bin_id, "decode", lambda: context.bin_id)(),
        "driver": driver[0] if driver else None,
        "cuda": f"{cuda[0] // 1000}.{cuda[0] % 1000 // 10}" if cuda else None,
        "nvrtc": ".".join(map(str, nvrtc)) if nvrtc else None,
        "cublas": ".".join(str(p[0]) for p in cublas) if all(cublas) else None,
    }


def main():
    try:
        print(json.dumps(probe()))
    except NoGpu as error:
        print(f"gpu_backend: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
