"""The bridge: each patch is needed upstream, and with it Lasagne 0.1 works on Theano-PyMC."""

import inspect
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import lasagne
import numpy as np
import pytest
import theano
import theano.tensor as T
from conftest import REPO
from lasagne.layers import (
    DenseLayer,
    DropoutLayer,
    GaussianNoiseLayer,
    InputLayer,
    MaxPool2DLayer,
    RecurrentLayer,
    get_output,
)

from legacy import activate, compat

UPSTREAM = Path(theano.__file__).parent


def run_python(code, **env):
    """A fresh interpreter of the environment, with no Theano settings from the caller."""
    clean = {k: v for k, v in os.environ.items() if k not in ("THEANORC", "THEANO_FLAGS")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**clean, **env},
        timeout=300,
    )


def test_plain_interpreter_gets_the_bridge_and_settings():
    out = run_python(
        "import sys; assert 'theano' not in sys.modules\n"
        "import theano, lasagne\n"
        "from lasagne.nonlinearities import elu\n"
        "print(theano.config.floatX, theano.config.blas__ldflags)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["float32", "-lopenblas"]
    assert "NumPy C-API based implementation" not in out.stderr


def test_theano_flags_still_override_our_theanorc():
    out = run_python("import theano; print(theano.config.floatX)", THEANO_FLAGS="floatX=float64")
    assert out.stdout.strip() == "float64", out.stderr


def test_a_users_theanorc_is_left_alone(tmp_path):
    assert activate.theano_settings({}, tmp_path) == {"THEANORC": str(activate.THEANORC)}
    assert activate.theano_settings({"THEANORC": "/my/theanorc"}, tmp_path) == {}


def conda_like_prefix(tmp_path):
    """A prefix with its own OpenBLAS in ``lib``, as environment.yml's conda env has: here the
    system's, linked in."""
    system = Path("/usr/lib", sysconfig.get_config_var("MULTIARCH"), "libopenblas.so")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libopenblas.so").symlink_to(system)
    return tmp_path


def test_a_conda_env_links_its_own_openblas(tmp_path):
    """Both ways: a prefix without an OpenBLAS of its own keeps the theanorc's link flags (the
    first test of this file); one with it gets them in THEANO_FLAGS, beside the user's,
    through Theano's parser (commas quoted), into a BLAS op that compiles and runs."""
    lib = conda_like_prefix(tmp_path) / "lib"
    settings = activate.theano_settings({"THEANO_FLAGS": "floatX=float64"}, tmp_path)
    out = run_python(
        "import numpy as np, theano, theano.tensor as T\n"
        "x = T.matrix()\n"
        "f = theano.function([x], T.dot(x, x))\n"
        "print(theano.config.floatX, [type(n.op).__name__ for n in f.maker.fgraph.toposort()])\n"
        "print(theano.config.blas__ldflags)\n"
        "print(f(2 * np.eye(2)).tolist())",
        **settings,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "float64 ['Dot22']",
        f"-L{lib} -Wl,-rpath,{lib} -lopenblas",
        "[[4.0, 0.0], [0.0, 4.0]]",
    ]


def test_the_users_own_link_flags_win_over_the_conda_envs(tmp_path):
    conda_like_prefix(tmp_path)
    mine = {"THEANO_FLAGS": "blas__ldflags=-lmyblas"}
    assert activate.theano_settings(mine, tmp_path) == {"THEANORC": str(activate.THEANORC)}


def test_mrg_random_streams_alias():
    from theano.sandbox import rng_mrg

    assert "MRG_RandomStreams" not in inspect.getsource(rng_mrg)
    assert rng_mrg.MRG_RandomStreams is rng_mrg.MRG_RandomStream


def test_theano_gof_alias_lets_get_output_take_a_dict():
    assert not (UPSTREAM / "gof").exists()
    x = T.matrix("x")
    l_in = InputLayer((None, 3))
    l_out = DenseLayer(l_in, num_units=2, nonlinearity=None)
    f = theano.function([x], get_output(l_out, {l_in: x}))
    data = np.arange(6, dtype="float32").reshape(2, 3)
    expected = data @ l_out.W.get_value() + l_out.b.get_value()
    np.testing.assert_allclose(f(data), expected, rtol=1e-6)


def numpy_max_pool(x, size):
    n, c, h, w = x.shape
    x = x[:, :, : h // size * size, : w // size * size]
    return x.reshape(n, c, h // size, size, w // size, size).max(axis=(3, 5))


@pytest.mark.parametrize("size", [2, 3])
def test_max_pool_layer_matches_numpy(size):
    assert not (UPSTREAM / "tensor" / "signal" / "downsample.py").exists()
    x = T.tensor4("x")
    layer = MaxPool2DLayer(InputLayer((None, 2, 7, 8)), pool_size=size)
    data = np.random.RandomState(0).randn(3, 2, 7, 8).astype("float32")
    pooled = theano.function([x], get_output(layer, x))(data)
    np.testing.assert_array_equal(pooled, numpy_max_pool(data, size))
    assert pooled.shape[1:] == layer.output_shape[1:]


def test_elu_values_and_gradient_match_its_definition():
    from lasagne import nonlinearities

    assert "def elu" not in inspect.getsource(nonlinearities)
    x = T.vector("x")
    y = nonlinearities.elu(x)
    f = theano.function([x], [y, T.grad(y.sum(), x)])
    data = np.array([-20.0, -2.0, -0.5, -1e-4, 0.0, 1e-4, 0.5, 3.0], dtype="float32")
    values, grads = f(data)
    np.testing.assert_allclose(values, np.where(data > 0, data, np.expm1(data)), rtol=1e-6)
    np.testing.assert_allclose(grads, np.where(data > 0, 1.0, np.exp(data)), rtol=1e-6)


def test_dropout_and_gaussian_noise_sample():
    x = T.matrix("x")
    l_in = InputLayer((None, 500))
    drop = DropoutLayer(l_in, p=0.5)
    noise = GaussianNoiseLayer(l_in, sigma=0.1)
    f = theano.function(
        [x], [get_output(drop, x), get_output(noise, x), get_output(drop, x, deterministic=True)]
    )
    ones = np.ones((200, 500), dtype="float32")
    dropped, noisy, kept = f(ones)
    assert set(np.unique(dropped)) == {0.0, 2.0}
    # 100,000 Bernoulli(0.5) draws: sd of the kept fraction is 0.0016; allow 5 sd.
    assert abs((dropped > 0).mean() - 0.5) < 0.008
    # 100,000 N(0, 0.01) draws: sd of the mean 3.2e-4, of the sd about 2.2e-4; allow 5 sd.
    assert abs((noisy - 1).mean()) < 0.0016
    assert abs((noisy - 1).std() - 0.1) < 0.0011
    np.testing.assert_array_equal(kept, ones)


def test_dense_layer_adam_step_lowers_the_loss():
    rng = np.random.RandomState(1)
    data = rng.randn(64, 10).astype("float32")
    target = (data @ rng.randn(10, 1)).astype("float32")
    x, t = T.matrix("x"), T.matrix("t")
    l_in = InputLayer((None, 10))
    l_out = DenseLayer(l_in, num_units=1, nonlinearity=None)
    loss = lasagne.objectives.squared_error(get_output(l_out, {l_in: x}), t).mean()
    params = lasagne.layers.get_all_params(l_out, trainable=True)
    step = theano.function([x, t], loss, updates=lasagne.updates.adam(loss, params, 0.05))
    losses = [float(step(data, target)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_scan_layer_runs_on_python_3_11():
    x = T.tensor3("x")
    layer = RecurrentLayer(InputLayer((None, 5, 3)), num_units=4, nonlinearity=None)
    data = np.random.RandomState(2).randn(2, 5, 3).astype("float32")
    out = theano.function([x], get_output(layer, x))(data)
    h = np.zeros((2, 4), dtype="float32")
    W_in, W_hid, b = (p.get_value() for p in (layer.W_in_to_hid, layer.W_hid_to_hid, layer.b))
    for step in range(5):
        h = data[:, step] @ W_in + h @ W_hid + b
    np.testing.assert_allclose(out[:, -1], h, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not compat.scan_extension_unbuildable(), reason="scan's C code builds here")
def test_scan_without_the_bridge_raises():
    out = run_python(
        "from legacy import compat; compat.REFUSED.clear()\n"
        "import numpy as np, theano, theano.tensor as T\n"
        "x = T.vector('x')\n"
        "s, _ = theano.scan(lambda a, acc: acc + a, sequences=x, outputs_info=T.zeros(()))\n"
        "theano.function([x], s[-1])"
    )
    assert out.returncode != 0
    assert "longintrepr.h" in out.stderr


OPENMP_GRAPH = (
    "import numpy as np, theano, theano.tensor as T\n"
    "x = T.vector('x')\n"
    "f = theano.function([x], T.exp(x) * 2 + 1)\n"
    "print(float(f(np.zeros(300000, dtype='float32')).sum()))"
)


def test_openmp_elemwise_compiles_with_the_bridge():
    out = run_python(OPENMP_GRAPH, THEANO_FLAGS="openmp=True")
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout) == 900000.0


def test_openmp_elemwise_fails_without_the_bridge(tmp_path):
    unpatched = "from legacy import compat; compat.AFTER_IMPORT.pop('theano.tensor.elemwise')\n"
    out = run_python(
        unpatched + OPENMP_GRAPH, THEANO_FLAGS=f"openmp=True,base_compiledir={tmp_path}"
    )
    assert out.returncode != 0
    assert "openmp_elemwise_minsize" in out.stderr


def test_ops_with_empty_props_get_a_versioned_cache_key(monkeypatch):
    from theano.link.c.basic import CLinker

    a, b = T.matrix("a"), T.matrix("b")
    fgraph = theano.function([a, b], T.dot(a, b)).maker.fgraph
    assert [type(node.op).__name__ for node in fgraph.toposort()] == ["Dot22"]
    assert fgraph.toposort()[0].op.__props__ == ()

    version, _ = CLinker().accept(fgraph).cmodule_key()
    assert version and all(version)

    monkeypatch.setattr(CLinker, "cmodule_key_", CLinker.cmodule_key_.__wrapped__)
    upstream_version, _ = CLinker().accept(fgraph).cmodule_key()
    assert upstream_version == ()


def test_our_compiled_ops_leave_subnormal_floats_alone():
    """Our gcc flags speed elemwise code up without -ffast-math's process-wide flush-to-zero."""
    x = T.vector("x")
    f = theano.function([x], T.expm1(x) * 2)
    assert f(np.zeros(4, dtype="float32")).tolist() == [0.0] * 4
    tiny = np.array([1e-40], dtype="float32")
    assert (tiny * np.float32(1.0))[0] != 0.0


def upstream_source(module):
    return (UPSTREAM / module.replace("theano/", "", 1)).read_text()


def numpy_distutils(monkeypatch, present):
    """Make numpy.distutils look present (Python 3.11) or gone (3.12 and later) to the bridge."""
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        if name == "numpy.distutils":
            return object() if present else None
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_without_numpy_distutils_asks_numpy_for_its_headers(monkeypatch):
    """Both ways: where numpy.distutils exists (3.11), cmodule's source is left as it is;
    where it is gone (3.12, 3.13), it no longer imports it at start-up, and the header
    folder it asked comes from numpy.get_include()."""
    source = upstream_source("theano/link/c/cmodule.py")
    numpy_distutils(monkeypatch, present=True)
    assert compat.without_numpy_distutils(source) is source
    numpy_distutils(monkeypatch, present=False)
    mended = compat.without_numpy_distutils(source)
    start_up, _, blas_ldflags = mended.partition("def default_blas_ldflags")
    assert "import numpy.distutils" not in start_up and "numpy.distutils" not in start_up
    assert "numpy_inc_dirs = [numpy.get_include()]" in start_up
    assert "import numpy.distutils" in blas_ldflags  # only asked without blas.ldflags
    compile(mended, "cmodule.py", "exec")
    blas = compat.without_numpy_distutils(upstream_source("theano/tensor/blas.py"))
    assert "import numpy.distutils\n" not in blas and "import numpy.distutils.__config__" in blas


@pytest.mark.parametrize(
    ("numpy", "rewritten"), [((1, 23), False), ((1, 26), True), ((2, 1), True)]
)
def test_without_numpy_type_aliases_names_pythons_own(monkeypatch, numpy, rewritten):
    """Both ways: numpy 1.23 has np.int and np.complex, and the sources stay; from 1.24 they
    name int and complex, np.int32, np.complex64, ... untouched; the cast to bool's
    constructor is Python's bool where numpy has no np.bool (1.24 to 1.26)."""
    monkeypatch.setattr(compat, "numpy_version", lambda: numpy)
    random = upstream_source("theano/tensor/random/basic.py")
    scalar = upstream_source("theano/scalar/basic.py")
    mended = compat.without_numpy_type_aliases(random)
    assert ("otypes=[int]" in mended) is rewritten
    assert ("otypes=[np.int]" in mended) is not rewritten
    mended = compat.without_numpy_type_aliases(scalar)
    assert ("np.complex(" not in mended) is rewritten
    assert mended.count("np.complex64") == scalar.count("np.complex64")
    assert mended.count("np.int32") == scalar.count("np.int32")
    assert ('(bool if o_type.dtype == "bool" else' in mended) is (numpy == (1, 26))
    compile(mended, "basic.py", "exec")
    pygpu = 'register_dtype(np.bool, ["ga_bool", "bool"])\nregister_dtype(np.bool_, [])\n'
    assert (compat.without_numpy_type_aliases(pygpu) != pygpu) is rewritten
    assert compat.without_numpy_type_aliases(pygpu).endswith("register_dtype(np.bool_, [])\n")


C_BEFORE = (
    '#include "numpy/npy_3kcompat.h"\n'
    "npy_intp s = PyArray_STRIDES(V3)[0] / PyArray_DESCR(V3)->elsize;\n"
    "#if defined(NPY_PY3K)\nlong n = PyInt_AsLong(count);\n#endif\n"
)


def test_c_for_numpy2_rewrites_only_for_numpy_2():
    assert compat.c_for_numpy2(C_BEFORE, 1) is C_BEFORE
    after = compat.c_for_numpy2(C_BEFORE, 2)
    assert "->elsize" not in after and "PyArray_STRIDES(V3)[0] / PyArray_ITEMSIZE(V3);" in after
    assert after.startswith('#include "numpy/npy_3kcompat.h"\n\n#ifndef NPY_PY3K\n')
    assert "#define PyInt_AsLong PyLong_AsLong" in after


MRG_AND_DIMSHUFFLE = (
    "import numpy as np, theano, theano.tensor as T\n"
    "from theano.sandbox.rng_mrg import MRG_RandomStream\n"
    "x = T.matrix('x')\n"
    "u = MRG_RandomStream(1).uniform((3, 4))\n"
    "f = theano.function([x], (x.dimshuffle(1, 0) * u.T).sum())\n"
    "from theano.link.c import lazylinker_c\n"
    "print(repr(float(f(np.ones((3, 4), dtype='float32')))), lazylinker_c.get_version())\n"
)


def c_sources(folder):
    return [path.read_text() for path in folder.rglob("mod.cpp")]


@pytest.mark.skipif(compat.numpy_version() >= (2, 0), reason="numpy 2 here: the next test")
def test_theano_compiles_its_c_as_rewritten_for_numpy_2_on_numpy_1_too(tmp_path):
    """The rewrite through Theano's compiler, forced here on numpy 1 (whose headers take it
    too): the MRG sampler's and DimShuffle's C (which read the item size) and the lazy
    linker compile, in a fresh cache, and compute what they compute unrewritten."""
    forced = "from legacy import compat; compat.numpy_version = lambda: (2, 1)\n"
    runs = {}
    for name, code in [("numpy1", MRG_AND_DIMSHUFFLE), ("forced", forced + MRG_AND_DIMSHUFFLE)]:
        out = run_python(code, THEANO_FLAGS=f"base_compiledir={tmp_path / name}")
        assert out.returncode == 0, out.stderr[-3000:]
        runs[name] = out.stdout
    assert runs["forced"] == runs["numpy1"]
    assert any("->elsize" in source for source in c_sources(tmp_path / "numpy1"))
    forced_sources = c_sources(tmp_path / "forced")
    assert not any("->elsize" in source for source in forced_sources)
    assert any("PyArray_ITEMSIZE(" in source for source in forced_sources)


@pytest.mark.skipif(compat.numpy_version() < (2, 0), reason="numpy 1 here: the test before")
def test_theano_compiles_its_c_for_numpy_2_only_rewritten(tmp_path):
    """Both ways on numpy 2: rewritten, the C compiles and runs, in a fresh cache; without the
    rewrite it does not compile (``PyArray_Descr`` has no ``elsize``)."""
    out = run_python(MRG_AND_DIMSHUFFLE, THEANO_FLAGS=f"base_compiledir={tmp_path / 'bridge'}")
    assert out.returncode == 0, out.stderr[-3000:]
    sources = c_sources(tmp_path / "bridge")
    assert sources and not any("->elsize" in source for source in sources)
    unpatched = "from legacy import compat; compat.AFTER_IMPORT.pop('theano.link.c.cmodule')\n"
    out = run_python(
        unpatched + MRG_AND_DIMSHUFFLE, THEANO_FLAGS=f"base_compiledir={tmp_path / 'bare'}"
    )
    assert out.returncode != 0
    assert re.search(r"PyArray_Descr.* has no member named .elsize.", out.stderr), out.stderr[
        -2000:
    ]


def test_c_modules_built_against_numpy_1_and_2_never_share_a_folder():
    assert theano.config.compiledir.endswith(f"-numpy{np.__version__}")
