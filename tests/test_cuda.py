"""Theano's GPU backend: built from source without a GPU, its mends, and the notebook on one.

The build (libgpuarray and pygpu 0.7.6) runs once into a temporary prefix, here and in CI;
a fake ``libcuda.so.1`` stands in for the driver where the mends need one. The tests named
``on_the_gpu`` need an NVIDIA GPU and the backend built into this environment (``make
cuda``); elsewhere they skip, saying which is missing. ``gpu_backend/device_check.sh``
runs them on a lent H200.
"""

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import REPO

from gpu_backend import build, probe
from legacy import compat
from stack2016.build import git_tree_id, unpack_verified

SOURCE = os.environ.get("LIBGPUARRAY_SOURCE")
needs_source = pytest.mark.skipif(
    not SOURCE, reason="LIBGPUARRAY_SOURCE is not set (.ci/run sets it to ../shared's copy)"
)
# The GPU forward pass of the notebook's own graph, and where Theano ran it.
GPU_FORWARD = """
import json, numpy as np, theano
import notebook_cells
from gpu_backend.probe import describe
ns = notebook_cells.build_model(notebook_cells.new_shell())
x = (np.random.RandomState(0).rand(500, 784) < 0.2).astype("float32")
LL, logpx, KL = (float(v) for v in ns["f_train"](x))
ops = sorted({type(node.op).__name__ for node in ns["f_train"].maker.fgraph.toposort()})
print(json.dumps([theano.config.device, LL, logpx, KL, ops, describe()]))
"""


def gpu_missing():
    try:
        probe.probe()
    except probe.NoGpu as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """libgpuarray and pygpu built into a temporary prefix: (prefix, its site-packages)."""
    if not SOURCE:
        pytest.skip("LIBGPUARRAY_SOURCE is not set (.ci/run sets it to ../shared's copy)")
    if build.unbuildable_on(sys.version_info[:2]):
        pytest.skip(build.unbuildable_on(sys.version_info[:2]))
    prefix = tmp_path_factory.mktemp("gpu")
    done = subprocess.run(
        [sys.executable, "-m", "gpu_backend.build", "--prefix", prefix],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "libcuda.so -> not found here" in done.stdout
    site = next(prefix.glob("lib/python3*/site-packages"))
    return prefix, site


def python_with(site, code, **env):
    """Run ``code`` in this environment's Python with the built pygpu importable."""
    env = {**os.environ, "PYTHONPATH": str(site), **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/"
    )


def fake_libcuda(folder, libgpuarray_src):
    """A ``libcuda.so.1`` with every entry point libgpuarray loads: cuInit says there is no
    device (CUDA_ERROR_NO_DEVICE, 100), as the driver does on a machine without a GPU."""
    names = re.findall(r"DEF_PROC(_V2)?\((\w+),", (libgpuarray_src / "libcuda.fn").read_text())
    body = "".join(f"int {n}{'_v2' if v2 else ''}(void) {{ return 100; }}\n" for v2, n in names)
    body = body.replace(
        "int cuGetErrorName(void) { return 100; }",
        'int cuGetErrorName(int e, const char **s) { *s = "CUDA_ERROR_NO_DEVICE"; return 0; }',
    ).replace(
        "int cuGetErrorString(void) { return 100; }",
        'int cuGetErrorString(int e, const char **s) { *s = "no CUDA device"; return 0; }',
    )
    (folder / "fake.c").write_text(body)
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", folder / "libcuda.so.1",
         folder / "fake.c"], check=True,
    )  # fmt: skip


def test_the_backend_builds_and_imports_without_a_gpu(built):
    prefix, site = built
    done = python_with(site, "import pygpu.gpuarray as g; print(g.api_version()[0])")
    assert done.returncode == 0, done.stderr
    # Theano-PyMC 1.1.2 asks for libgpuarray's C API 2 (theano.gpuarray.init_dev).
    assert done.stdout.split() == ["2"]
    assert (prefix / "include" / "gpuarray" / "array.h").exists()
    runpath = subprocess.run(
        ["readelf", "-d", prefix / "lib" / "libgpuarray.so"], capture_output=True, text=True
    ).stdout
    assert f"[{prefix / 'lib' / build.CUDA_LINKS}]" in runpath


@needs_source
def test_the_source_is_verified_by_its_tree(tmp_path):
    archive = build.archive_of(SOURCE, tmp_path)
    assert git_tree_id(archive, build.unsubstituted) == build.TREE
    with tarfile.open(archive) as tar, tarfile.open(tmp_path / "changed.tar.gz", "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("src/gpuarray_buffer_cuda.c"):
                data = data.replace(b'"-arch"', b'"-arch" ')
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    assert git_tree_id(tmp_path / "changed.tar.gz", build.unsubstituted) != build.TREE


@needs_source
def test_cmake_4_gets_the_cmakelists_without_the_policy_it_dropped(tmp_path):
    with tarfile.open(build.archive_of(SOURCE, tmp_path)) as tar:
        name = next(
            n for n in tar.getnames() if n.count("/") == 1 and n.endswith("/CMakeLists.txt")
        )
        released = tar.extractfile(name).read().decode()
    assert build.for_cmake(released, 3) == released
    mended = build.for_cmake(released, 4)
    assert "CMP0063 OLD" in released and "CMP0063 OLD" not in mended
    assert mended.splitlines()[2:20] == released.splitlines()[2:20]  # the rest as released
    assert len(mended.splitlines()) == len(released.splitlines())


def test_the_bare_library_names_are_linked_to_the_versioned_ones(tmp_path):
    cuda, lib = tmp_path / "cuda", tmp_path / "lib64"
    for folder, names in {
        cuda: ["libcuda.so", "libcuda.so.1", "libcuda.so.580.1"],  # as NVIDIA's driver mount
        lib: ["libnvrtc.so.13", "libnvrtc-builtins.so.13.0", "libcublas.so.13",
              "libcublasLt.so.13"],
    }.items():  # fmt: skip
        folder.mkdir()
        for name in names:
            (folder / name).write_text(name)
    made = build.cuda_library_links(tmp_path / "env", [str(cuda), str(lib)], cache={})
    assert made == {
        "libcuda.so": cuda / "libcuda.so.1",
        "libnvrtc.so": lib / "libnvrtc.so.13",
        "libcublas.so": lib / "libcublas.so.13",
    }
    links = tmp_path / "env" / "lib" / build.CUDA_LINKS
    assert (links / "libnvrtc.so").read_text() == "libnvrtc.so.13"
    # The families come along: NVRTC opens its builtins, cuBLAS needs cuBLASLt, by name.
    assert (links / "libnvrtc-builtins.so.13.0").read_text() == "libnvrtc-builtins.so.13.0"
    assert (links / "libcublasLt.so.13").read_text() == "libcublasLt.so.13"
    # Made again where nothing is found, the old links go: none points at a removed CUDA.
    assert build.cuda_library_links(tmp_path / "env", [], cache={}) == dict.fromkeys(made)
    assert list(links.iterdir()) == []


def test_libgpuarray_opens_the_driver_through_the_links_only(built, tmp_path):
    prefix, site = built
    archive = build.archive_of(SOURCE, tmp_path)
    source = unpack_verified(archive, build.TREE, "libgpuarray", tmp_path, build.unsubstituted)
    fake_libcuda(tmp_path, source / "src" / "loaders")
    code = "import pygpu\ntry: pygpu.init('cuda0')\nexcept Exception as e: print(e)"
    without = python_with(site, code)
    assert 'Could not load "libcuda.so"' in without.stdout
    build.cuda_library_links(prefix, [str(tmp_path)], cache={})
    try:
        through = python_with(site, code)
        # The fake driver answered: libgpuarray found libcuda.so by its bare name.
        assert "CUDA_ERROR_NO_DEVICE" in through.stdout, through.stdout + through.stderr
    finally:
        build.cuda_library_links(prefix, [], cache={})


def test_a_gpu_run_without_a_gpu_stops_in_one_line(built, tmp_path):
    _, site = built
    cases = {
        str(site): "no NVIDIA driver found (libcuda.so.1); once it is installed, run `make cuda` "
        "again",
        "": "Theano's GPU backend is not built here (no pygpu): run `make cuda`",
    }
    for path, why in cases.items():
        done = subprocess.run(
            [sys.executable, "run_notebook.py", "--device", "cuda", "--runs", tmp_path / "runs"],
            capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": path},
        )  # fmt: skip
        assert done.returncode == 2
        assert done.stderr.splitlines() == [f"run_notebook: cannot run on the GPU: {why}"]
        assert done.stdout == "" and list((tmp_path / "runs").iterdir()) == []


def test_theano_asked_for_a_gpu_it_cannot_open_stops_instead_of_using_the_cpu(built):
    _, site = built
    code = "import theano; print(theano.config.device, theano.gpuarray.pygpu_activated)"
    refused = python_with(site, code, THEANO_FLAGS="device=cuda")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == (
        'RuntimeError: Theano cannot use device=cuda: Could not load "libcuda.so": '
        "libcuda.so: cannot open shared object file: No such file or directory"
    )
    assert "ERROR (theano.gpuarray)" not in refused.stderr  # no fallback, no logged trace
    assert python_with("", code, THEANO_FLAGS="device=cuda").stderr.splitlines()[-1] == (
        "RuntimeError: Theano cannot use device=cuda: pygpu is not installed (make cuda)"
    )
    on_cpu = python_with(site, "import theano; print(theano.config.device)")
    assert on_cpu.returncode == 0 and on_cpu.stdout.split() == ["cpu"]


def test_theano_can_move_the_graph_to_the_gpu_once_optdb_is_forwarded(built):
    _, site = built
    # use("") does what device=cuda does after opening the GPU: tag the GPU optimizations.
    code = (
        "import theano.gpuarray as g, theano.compile as c; g.use(''); "
        "print('gpuarray_opt' in c.optdb.__position__ and c.optdb['gpuarray_opt'] is not None)"
    )
    done = python_with(site, code)
    assert done.returncode == 0 and done.stdout.split() == ["True"], done.stderr
    unpatch = "from legacy import compat; compat.AFTER_IMPORT.pop('theano.gpuarray.optdb'); "
    unpatched = python_with(site, unpatch + code)
    assert "has no attribute 'add_tags'" in unpatched.stderr


# A lift to the GPU as op_lifter makes it, on a graph whose one client is a GpuFromHost:
# what the maker is called with. No GPU is opened.
LIFT = """
import types, theano.tensor as T
from theano.gpuarray.basic_ops import GpuFromHost
from theano.gpuarray.opt_util import op_lifter
called = []
lift = op_lifter([T.Elemwise])(lambda *args: called.append(args))
x = T.matrix(); y = T.exp(x)
fgraph = types.SimpleNamespace(clients={y: [(types.SimpleNamespace(op=GpuFromHost(None)), 0)]})
try:
    lift.transform(fgraph, y.owner)
except TypeError as error:
    print("TypeError", error)
print(len(called[0]) if called else 0, called and called[0][0] is fgraph)
"""


def test_the_gpu_makers_get_the_graph(built):
    _, site = built
    assert python_with(site, LIFT).stdout.split() == ["5", "True"]
    unpatch = "from legacy import compat; compat.AFTER_IMPORT.pop('theano.gpuarray.opt_util')\n"
    unpatched = python_with(site, unpatch + LIFT).stdout
    assert "missing 1 required positional argument" in unpatched or unpatched.split() == [
        "4", "False"]  # fmt: skip


def test_nvrtc_builtins_are_loaded_from_the_links_only(tmp_path, monkeypatch):
    links = tmp_path / "lib" / build.CUDA_LINKS
    links.mkdir(parents=True)
    (tmp_path / "b.c").write_text("int nvrtc_builtins_stand_in(void) { return 13; }\n")
    name = f"libnvrtc-builtins.so.13.0.{os.getpid()}"
    subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o", tmp_path / name,
                    tmp_path / "b.c"], check=True)  # fmt: skip

    def loaded():
        return name in Path("/proc/self/maps").read_text()

    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    compat.preload_nvrtc_builtins(None)
    assert not loaded()
    (links / name).symlink_to(tmp_path / name)
    compat.preload_nvrtc_builtins(None)
    assert loaded()


@pytest.mark.skipif(gpu_missing() is not None, reason=f"no GPU: {gpu_missing()}")
def test_forward_pass_on_the_gpu():
    out = subprocess.run(
        [sys.executable, "-c", GPU_FORWARD], capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "THEANO_FLAGS": "device=cuda"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    device, LL, logpx, KL, ops, gpu = json.loads(out.stdout.splitlines()[-1])
    print(device, LL, logpx, KL, gpu, ops)
    assert device == "cuda" and gpu["name"].startswith("NVIDIA")
    # The products and the sample layer's noise are the GPU's; no product is left on the CPU.
    assert {"GpuGemm", "GpuDot22"} & set(ops) and "GPUA_mrg_uniform" in ops, ops
    assert not {"Dot22", "Gemm", "CGemv", "Gemv", "mrg_uniform"} & set(ops), ops
    assert LL == pytest.approx(logpx - KL, rel=1e-5, abs=1e-3)
    assert KL >= 0


# An optimization that raises, registered where the GPU lifts run: with the theanorc's
# on_opt_error=raise the function does not compile; Theano's default only logs it.
FAILING_OPT = """
import theano, theano.tensor as T
from theano.compile import optdb
from theano.graph.opt import local_optimizer, in2out
@local_optimizer([T.Elemwise])
def broken(fgraph, node):
    raise TypeError("a lift that cannot run")
optdb.register("broken", in2out(broken), 49, "fast_run")
x = T.matrix()
theano.function([x], T.exp(x))
print("compiled")
"""


def test_a_failing_optimization_stops_the_compile_instead_of_leaving_the_graph():
    def run(**env):
        return subprocess.run([sys.executable, "-c", FAILING_OPT], capture_output=True,
                              text=True, cwd="/", env={**os.environ, **env})  # fmt: skip

    refused = run()
    assert refused.returncode == 1 and "a lift that cannot run" in refused.stderr
    logged = run(THEANO_FLAGS="on_opt_error=warn")
    assert logged.stdout.split() == ["compiled"] and "Optimization failure" in logged.stderr


def test_the_backend_is_refused_in_one_line_where_pygpu_cannot_build(capsys):
    """Python 3.13: one line, before anything is fetched or built; 3.11 and 3.12 build."""
    assert build.unbuildable_on((3, 11)) is None and build.unbuildable_on((3, 12)) is None
    assert build.unbuildable_on((3, 13)).startswith("pygpu 0.7.6 does not build on Python 3.13")
    if build.unbuildable_on(sys.version_info[:2]):
        assert build.main(["--prefix", "/nonexistent"]) == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith("gpu_backend: pygpu 0.7.6 does not build on Python 3.13")
