"""Build Theano's GPU backend into the environment: libgpuarray and pygpu 0.7.6, from source.

    python -m gpu_backend.build [--prefix ENV]            (make cuda)

Theano-PyMC's ``device=cuda`` needs pygpu 0.7 and its C library libgpuarray, which are not
on PyPI. This takes their tag v0.7.6 (commit f036aef) from GitHub, or offline from
LIBGPUARRAY_SOURCE (the archive, or a folder holding it), checks it by its git tree id,
builds libgpuarray with CMake into ``ENV/lib`` and ``ENV/include`` (where Theano looks for
it: ``sys.exec_prefix``) and pygpu with the lock's Cython into ENV. No GPU is needed to
build; a machine without one builds, imports pygpu, and says that it has no driver.

libgpuarray opens ``libcuda.so``, ``libnvrtc.so`` and ``libcublas.so`` by those bare names,
which a driver and a CUDA 12/13 install provide only with a version (``libcuda.so.1``,
``libnvrtc.so.13``, ...). The build links the versioned libraries it finds into
``ENV/lib/gpuarray-cuda/`` under the bare names, and gives libgpuarray that folder as its
run path (``cuda_library_links``). Run it again after installing a driver or CUDA.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from legacy.compat import CUDA_LINKS
from stack2016.build import BuildError, run, source_archive, unpack_verified

# pygpu's versioneer.py is Theano-PyMC's: it builds with the same mend as the locks' sdists.
BUILD_MENDS = Path(__file__).resolve().parents[1] / "locks" / "build"

COMMIT = "f036aef3a425560161de362f390d238f4e7c1721"
TREE = "84eb06792702567029f09296934ae79809415356"
URL = f"https://github.com/Theano/libgpuarray/archive/{COMMIT}.tar.gz"
KEYWORDS = {b"refnames": b"d", b"full": b"H", b"date": b"ci"}  # export-subst's placeholders
# The bare name libgpuarray opens -> the library that provides it, by its versioned name.
# Each one's siblings of the same family come along (libnvrtc-builtins, libcublasLt):
# the library finds them by name, in its own folder or the loader's path, not ours.
CUDA_LIBRARIES = {"libcuda.so": "cuda", "libnvrtc.so": "nvrtc", "libcublas.so": "cublas"}
# Where CUDA's libraries are, after LD_LIBRARY_PATH and before the loader's cache: the
# environment's own lib (conda's cuda-nvrtc, libcublas), CUDA_HOME, the default install,
# NVIDIA's container mount of the driver, NVIDIA's wheels (nvidia-cuda-nvrtc, nvidia-cublas)
# in this Python's site-packages.
CUDA_DIRS = ["{CUDA_HOME}/lib64", "/usr/local/cuda/lib64", "/usr/local/nvidia/lib64"]
WHEEL_DIRS = ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib", "nvidia/cublas/lib"]


def unsubstituted(path, data):
    """pygpu/_version.py as committed: git archive fills in its version keywords."""
    if path != "pygpu/_version.py":
        return data
    return re.sub(
        rb'^(    git_(refnames|full|date) = )".*"$',
        lambda m: m[1] + b'"$Format:%' + KEYWORDS[m[2]] + b'$"',
        data,
        flags=re.M,
    )


def cmake_major():
    version = run("cmake", "--version").split()[2]
    return int(version.split(".")[0])


def for_cmake(cmakelists, major):
    """libgpuarray's CMakeLists sets policy CMP0063 to OLD, which CMake 4 no longer has (OLD
    left visibility unset in static libraries; Theano links the shared one). For CMake 4,
    without that line; it stays for CMake 3, where the build runs as released."""
    if major < 4:
        return cmakelists
    return cmakelists.replace("cmake_policy(SET CMP0063 OLD)", "", 1)


def archive_of(source, workdir):
    """libgpuarray v0.7.6: LIBGPUARRAY_SOURCE or GitHub."""
    return source_archive(source, workdir, "libgpuarray", COMMIT, URL, "LIBGPUARRAY_SOURCE")


def library_dirs():
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    dirs += [os.path.join(sys.prefix, "lib")] + [d.format(CUDA_HOME=home) for d in CUDA_DIRS]
    return dirs + [os.path.join(site, d) for site in sys.path if site for d in WHEEL_DIRS]


def loader_cache():
    """The loader's cache of 64-bit libraries (``ldconfig -p``): {file name: path}."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
    except OSError:
        return {}
    entries = (line.split(" => ") for line in listing.splitlines() if "x86-64) => " in line)
    return {name.split()[0]: path.strip() for name, path in entries}


def find_cuda_library(name, dirs=None, cache=None):
    """The versioned file of CUDA library ``name`` ("cuda", "nvrtc", ...), or None."""
    for folder in library_dirs() if dirs is None else dirs:
        found = sorted(glob.glob(os.path.join(folder, f"lib{name}.so.[0-9]*")), key=len)
        if found:
            return Path(found[0])
    cache = loader_cache() if cache is None else cache
    versioned = sorted((f for f in cache if f.startswith(f"lib{name}.so.")), key=len)
    return Path(cache[versioned[0]]) if versioned else None


def cuda_library_links(prefix, dirs=None, cache=None):
    """Link the CUDA libraries found here into ``prefix/lib/gpuarray-cuda`` under the bare
    names libgpuarray opens, their families beside them; return {bare name: target or None}.
    """
    folder = Path(prefix, "lib", CUDA_LINKS)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    made = {}
    for bare, name in CUDA_LIBRARIES.items():
        found = find_cuda_library(name, dirs, cache)
        made[bare] = found
        if found is None:
            continue
        (folder / bare).symlink_to(found.resolve())
        for sibling in found.parent.glob(f"lib{name}*.so.*"):
            if not (folder / sibling.name).exists():
                (folder / sibling.name).symlink_to(sibling.resolve())
    return made


def build(prefix, source):
    prefix = Path(prefix).resolve()
    with tempfile.TemporaryDirectory() as work:
        archive = archive_of(source, work)
        top = unpack_verified(archive, TREE, f"libgpuarray {COMMIT[:7]}", work, unsubstituted)
        print(f"gpu_backend: [1/3] libgpuarray v0.7.6 (tree {TREE[:7]}, verified) into {prefix}")
        cmakelists = top / "CMakeLists.txt"
        cmakelists.write_text(for_cmake(cmakelists.read_text(), cmake_major()))
        build_dir = top / "build"
        # CMake 4 also refuses its `cmake_minimum_required(VERSION 3.0)` unless told.
        run("cmake", "-S", top, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_INSTALL_PREFIX={prefix}", "-DCMAKE_INSTALL_LIBDIR=lib",
            f"-DCMAKE_INSTALL_RPATH={prefix / 'lib' / CUDA_LINKS}",
            "-DCMAKE_POLICY_VERSION_MINIMUM=3.5")  # fmt: skip
        run("cmake", "--build", build_dir, "--parallel", str(os.cpu_count() or 1))
        run("cmake", "--install", build_dir)
        print("gpu_backend: [2/3] pygpu 0.7.6, with the lock's Cython")
        flags = {
            "CFLAGS": f"-I{prefix / 'include'}",
            "LDFLAGS": f"-L{prefix / 'lib'} -Wl,-rpath,{prefix / 'lib'}",
            "PYTHONPATH": str(BUILD_MENDS),
        }
        run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
            "--disable-pip-version-check", "--prefix", prefix, top,
            env={**os.environ, **flags}, cwd=work)  # fmt: skip


def unbuildable_on(python):
    """Why pygpu 0.7.6 cannot be built on Python ``python`` (major, minor), or None. Its setup
    needs Cython below 3.0, whose C calls CPython 3.12's ``_PyLong_AsByteArray``, which 3.13
    changed, and reads numpy 1's ``PyArray_Descr`` (3.13's lock has numpy 2)."""
    if python >= (3, 13):
        return (
            f"pygpu 0.7.6 does not build on Python {python[0]}.{python[1]} (its Cython 0.29 "
            "code is for CPython 3.12 and numpy 1): make the GPU environment with Python 3.11 "
            "or 3.12, e.g. PYTHON=python3.12 make cuda"
        )
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix), help="the environment")
    args = parser.parse_args(argv)
    unbuildable = unbuildable_on(sys.version_info[:2])
    if unbuildable:
        print(f"gpu_backend: {unbuildable}", file=sys.stderr)
        return 2
    try:
        build(args.prefix, os.environ.get("LIBGPUARRAY_SOURCE"))
        print("gpu_backend: [3/3] linking the CUDA libraries libgpuarray opens")
        made = cuda_library_links(args.prefix)
    except BuildError as error:
        print(f"gpu_backend: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gpu_backend: interrupted; run it again to finish the build", file=sys.stderr)
        return 130
    for bare, found in made.items():
        print(f"gpu_backend:   {bare} -> {found or 'not found here'}")
    if made["libcuda.so"] is None:
        print("gpu_backend: built; no NVIDIA driver found here (libcuda.so.1): no GPU to run on")
    else:
        print("gpu_backend: built; THEANO_FLAGS=device=cuda, or run_notebook.py --device cuda")
    return 0


if __name__ == "__main__":
    sys.exit(main())
