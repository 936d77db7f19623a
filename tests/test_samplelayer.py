"""Tests of samplelayer.py, our reimplementation of the notebook's sample layers.

The statistical checks draw from explicitly seeded streams, so they give the
same answer on every run; their bounds are 5 standard errors, which a correct
sampler exceeds with probability below 1e-6 per compared number. The notebook's
model keeps the notebook's default seed, which changes from process to process,
so its training check has a wide margin. Compiled functions are module-scoped
fixtures: each distinct graph is compiled once.
"""

import inspect
import json
import os
import subprocess
import sys

import lasagne
import numpy as np
import pytest
import theano
import theano.tensor as T
from conftest import REPO
from lasagne.layers import InputLayer, get_output
from lasagne.nonlinearities import sigmoid

import notebook_cells
from samplelayer import (
    BernoulliSampleLayer,
    SampleLayer,
    SimpleBernoulliSampleLayer,
    SimpleSampleLayer,
)

FLOATX = theano.config.floatX
CLASSES = [SimpleSampleLayer, SampleLayer, SimpleBernoulliSampleLayer, BernoulliSampleLayer]

# Four latent units with different means and log variances.
MU = np.array([-2.0, 0.0, 0.5, 3.0], dtype=FLOATX)
LOG_VAR = np.array([-3.0, 0.0, 1.0, 2.5], dtype=FLOATX)
N_SAMPLES = 20000


def rows(row, n_rows):
    """``row`` repeated as ``n_rows`` rows."""
    return np.tile(row, (n_rows, 1))


def assert_normal_moments(samples, mean, var):
    """Column means and variances of ``samples`` within 5 standard errors of ``mean``, ``var``.

    For n draws of N(m, v): the sample mean has standard error sqrt(v / n), and
    the unbiased sample variance has variance 2 v^2 / (n - 1), so standard
    error v * sqrt(2 / (n - 1)).
    """
    samples = samples.astype(np.float64)
    n = len(samples)
    mean_err = np.abs(samples.mean(axis=0) - mean)
    var_err = np.abs(samples.var(axis=0, ddof=1) - var)
    assert np.all(mean_err < 5 * np.sqrt(var / n)), (samples.mean(axis=0), mean)
    assert np.all(var_err < 5 * var * np.sqrt(2 / (n - 1))), (samples.var(axis=0, ddof=1), var)


def assert_bernoulli_frequencies(samples, p):
    """Column frequencies of ones in ``samples`` within 5 standard errors of ``p``.

    The frequency of ones in n Bernoulli(p) draws has standard error
    sqrt(p (1 - p) / n); for p of exactly 0 or 1 that is 0, so it must be exact.
    """
    assert set(np.unique(samples)) <= {0.0, 1.0}
    freq = samples.astype(np.float64).mean(axis=0)
    bound = 5 * np.sqrt(p * (1 - p) / len(samples))
    assert np.all(np.abs(freq - p) <= bound), (freq, p)


# --- compiled functions, one per graph --------------------------------------------------


@pytest.fixture(scope="module")
def simple_sample():
    """f(mu, log_var, c) -> z, d sum(z * c) / d mu, d sum(z * c) / d log_var, from one draw."""
    mu, log_var, c = T.matrices("mu", "log_var", "c")
    l_mu, l_log_var = InputLayer((None, 4)), InputLayer((None, 4))
    z = get_output(SimpleSampleLayer(l_mu, l_log_var, seed=1234), {l_mu: mu, l_log_var: log_var})
    grads = theano.grad(T.sum(z * c), [mu, log_var])
    return theano.function([mu, log_var, c], [z, *grads])


@pytest.fixture(scope="module")
def sample_fixed():
    """f(mu, log_var) -> z of a SampleLayer with eq_samples=2, iw_samples=5."""
    mu, log_var = T.matrices("mu", "log_var")
    layer = SampleLayer((None, 4), (None, 4), eq_samples=2, iw_samples=5, seed=4321)
    return theano.function([mu, log_var], layer.get_output_for([mu, log_var]))


@pytest.fixture(scope="module")
def sample_symbolic():
    """f(mu, sigma, eq, iw) -> z of a SampleLayer with symbolic counts and nonlinearity=None."""
    mu, sigma = T.matrices("mu", "sigma")
    eq, iw = T.iscalars("eq", "iw")
    layer = SampleLayer(
        (None, 4), (None, 4), eq_samples=eq, iw_samples=iw, nonlinearity=None, seed=999
    )
    return theano.function([mu, sigma, eq, iw], layer.get_output_for([mu, sigma]))


@pytest.fixture(scope="module")
def bernoulli():
    """f(p) -> SimpleBernoulliSampleLayer sample, BernoulliSampleLayer (eq=2, iw=3) sample."""
    p = T.matrix("p")
    simple = SimpleBernoulliSampleLayer((None, 6), seed=11)
    repeated = BernoulliSampleLayer((None, 6), eq_samples=2, iw_samples=3, seed=12)
    return theano.function([p], [simple.get_output_for(p), repeated.get_output_for(p)])


def init_seed(cls):
    """The seed a layer of ``cls`` built without one uses, drawn at import."""
    return inspect.signature(cls.__init__).parameters["seed"].default


def reseed_seed(cls):
    """The seed ``layer.seed()`` restarts a layer of ``cls`` from, drawn at import."""
    return inspect.signature(cls.seed).parameters["seed"].default


@pytest.fixture(scope="module")
def seeded():
    """SimpleSampleLayers by name (a, b: seed 1; c: seed 2; d, e: no seed; f: the
    constructor's default seed; g: the seed method's), their seeds, and draw(), which
    returns one 3 x 5 draw of N(0, 1) from each, by name."""
    chosen = {"a": 1, "b": 1, "c": 2, "d": None, "e": None}
    chosen.update(f=init_seed(SimpleSampleLayer), g=reseed_seed(SimpleSampleLayer))
    layers = {
        name: SimpleSampleLayer((None, 5), (None, 5), **({} if seed is None else {"seed": seed}))
        for name, seed in chosen.items()
    }
    seeds = {name: init_seed(SimpleSampleLayer) if s is None else s for name, s in chosen.items()}
    x = T.matrix("x")
    fn = theano.function([x], [lay.get_output_for([x, T.zeros_like(x)]) for lay in layers.values()])

    def draw():
        return dict(zip(layers, fn(np.zeros((3, 5), dtype=FLOATX)), strict=True))

    return layers, seeds, draw


def restart(layers, seeds):
    """Put every layer back at the start of its stream (the tests share the layers)."""
    for name, layer in layers.items():
        layer.seed(seeds[name])


# --- moments ----------------------------------------------------------------------------


def test_simple_sample_layer_moments(simple_sample):
    mu, log_var = rows(MU, N_SAMPLES), rows(LOG_VAR, N_SAMPLES)
    z, _, _ = simple_sample(mu, log_var, np.zeros_like(mu))
    assert z.dtype == FLOATX and z.shape == (N_SAMPLES, 4)
    assert_normal_moments(z, MU, np.exp(LOG_VAR))


def test_sample_layer_moments(sample_fixed):
    batch, k = N_SAMPLES // 10, 10  # 2 eq samples x 5 iw samples per row
    z = sample_fixed(rows(MU, batch), rows(LOG_VAR, batch))
    assert z.dtype == FLOATX and z.shape == (batch * k, 4)
    assert_normal_moments(z, MU, np.exp(LOG_VAR))
    # The k samples of one row are independent draws, not one draw repeated: their
    # within-row variance, pooled over rows (batch * (k - 1) degrees of freedom), is v.
    within = z.astype(np.float64).reshape(batch, k, 4).var(axis=1, ddof=1).mean(axis=0)
    var = np.exp(LOG_VAR)
    assert np.all(np.abs(within - var) < 5 * var * np.sqrt(2 / (batch * (k - 1)))), within


def test_sample_layer_moments_symbolic_counts_sigma_input(sample_symbolic):
    sigma = np.exp(0.5 * LOG_VAR)  # nonlinearity=None: the second input is sigma itself
    z = sample_symbolic(rows(MU, N_SAMPLES // 6), rows(sigma, N_SAMPLES // 6), 3, 2)
    assert z.shape == (N_SAMPLES // 6 * 6, 4)
    assert_normal_moments(z, MU, sigma**2)


def test_bernoulli_frequencies(bernoulli):
    p = np.array([0.0, 0.02, 0.3, 0.5, 0.9, 1.0], dtype=FLOATX)
    simple, repeated = bernoulli(rows(p, N_SAMPLES))
    assert simple.dtype == FLOATX and simple.shape == (N_SAMPLES, 6)
    assert repeated.dtype == FLOATX and repeated.shape == (N_SAMPLES * 6, 6)
    assert_bernoulli_frequencies(simple, p)
    assert_bernoulli_frequencies(repeated, p)


# --- the reparameterisation gradient ----------------------------------------------------


def test_reparameterisation_gradient(simple_sample):
    rng = np.random.RandomState(0)
    mu = rng.normal(size=(200, 4)).astype(FLOATX)
    log_var = rng.uniform(-3, 3, size=(200, 4)).astype(FLOATX)
    c = rng.normal(size=(200, 4)).astype(FLOATX)
    z, grad_mu, grad_log_var = simple_sample(mu, log_var, c)  # one call, so one draw of eps
    eps = (z.astype(np.float64) - mu) / np.exp(0.5 * log_var)
    assert 0.8 < eps.std() < 1.2
    # z = mu + exp(0.5 log_var) eps, so d sum(z c)/d mu = c and
    # d sum(z c)/d log_var = c * 0.5 * exp(0.5 log_var) * eps.
    np.testing.assert_allclose(grad_mu, c, rtol=1e-6)
    np.testing.assert_allclose(
        grad_log_var, c * 0.5 * np.exp(0.5 * log_var) * eps, rtol=1e-4, atol=1e-5
    )


# --- always samples ---------------------------------------------------------------------


def test_deterministic_output_still_samples():
    mu, log_var = T.matrices("mu", "log_var")
    l_mu, l_log_var = InputLayer((None, 3)), InputLayer((None, 3))
    layers = [
        SimpleSampleLayer(l_mu, l_log_var, seed=5),
        SampleLayer(l_mu, l_log_var, eq_samples=2, iw_samples=2, seed=6),
        SimpleBernoulliSampleLayer(lasagne.layers.NonlinearityLayer(l_mu, sigmoid), seed=7),
        BernoulliSampleLayer(lasagne.layers.NonlinearityLayer(l_mu, sigmoid), 2, 2, seed=8),
    ]
    outputs = get_output(layers, {l_mu: mu, l_log_var: log_var}, deterministic=True)
    outputs.append(layers[0].get_output_for([mu, log_var], deterministic=True))
    f = theano.function([mu, log_var], outputs)
    zeros = np.zeros((40, 3), dtype=FLOATX)  # means 0 (p = 0.5), variances 1
    for first, second in zip(f(zeros, zeros), f(zeros, zeros), strict=True):
        assert 0.4 < first.std() < 1.5  # samples, not the mean (0, or 0.5 for p)
        assert not np.array_equal(first, second)  # and a new draw on every call


# --- seeding ----------------------------------------------------------------------------


def test_same_seed_same_draws_other_seed_other_draws(seeded):
    layers, seeds, draw = seeded
    restart(layers, seeds)
    z = draw()
    np.testing.assert_array_equal(z["a"], z["b"])
    assert not np.array_equal(z["a"], z["c"])


def test_default_seed_is_the_constructors_import_time_default(seeded):
    layers, seeds, draw = seeded
    restart(layers, seeds)
    z = draw()
    np.testing.assert_array_equal(z["d"], z["e"])
    np.testing.assert_array_equal(z["d"], z["f"])
    assert not np.array_equal(z["d"], z["g"])
    for cls in CLASSES:
        for seed in (init_seed(cls), reseed_seed(cls)):
            assert isinstance(seed, int) and 1 <= seed < 2147462579


def test_seed_method_restarts_the_stream(seeded):
    layers, seeds, draw = seeded
    restart(layers, seeds)
    first, second = draw(), draw()
    assert not np.array_equal(first["a"], second["a"])  # the stream moves on
    layers["a"].seed(1)  # back to the seed it was built with
    layers["c"].seed(1)  # onto the stream of seed 1
    layers["d"].seed()  # onto the seed method's default, not the constructor's
    third = draw()
    np.testing.assert_array_equal(third["a"], first["a"])
    np.testing.assert_array_equal(third["c"], first["a"])
    np.testing.assert_array_equal(third["d"], first["g"])
    assert not np.array_equal(third["b"], first["b"])  # b was not restarted
    assert not np.array_equal(third["b"], second["b"])


def probe(python, numpy_seed, env=None):
    """Start tests/samplelayer_probe.py with ``python`` from the repository root."""
    return subprocess.Popen(
        [python, str(REPO / "tests" / "samplelayer_probe.py"), str(numpy_seed)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def probe_result(proc):
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    return json.loads(stdout)


def expected_import(numpy_seed):
    """The original module's import: eight seeds drawn one by one from numpy's generator."""
    rng = np.random.RandomState(numpy_seed)
    seeds = [int(rng.randint(1, 2147462579)) for _ in range(8)]
    name, keys, pos = rng.get_state()[:3]
    return seeds, [name, keys.tolist(), int(pos)]


def assert_drop_in(result, numpy_seed):
    """The probe's record shows the original module's seeding and draws."""
    seeds, state = expected_import(numpy_seed)
    assert result["defaults"] == seeds  # SimpleSampleLayer __init__, its seed, SampleLayer ...
    assert result["state_after_import"] == state
    assert result["default"] == result["built_with_init_default"]
    assert result["after_seed"] == result["built_with_seed_default"]
    assert result["after_seed_7"] == result["built_with_7"]
    for draws in result["default"]:
        assert len(set(draws)) >= 2  # real draws, not a constant


@pytest.mark.parametrize("numpy_seed", [1, 5])
def test_drop_in_today(numpy_seed):
    assert_drop_in(probe_result(probe(sys.executable, numpy_seed)), numpy_seed)


@pytest.mark.parametrize("numpy_seed", [1, 5])
def test_drop_in_on_the_2016_stack_draws_what_today_draws(stack_2016, numpy_seed):
    """Python 2.7 + Theano 0.8.2 + Lasagne 3f3ff93 and today's stack: the same module,
    the same seeds and state, bit-identical draws."""
    then = probe(stack_2016.python, numpy_seed, {"THEANORC": str(stack_2016.theanorc)})
    today = probe_result(probe(sys.executable, numpy_seed))
    then = probe_result(then)
    assert_drop_in(then, numpy_seed)
    assert then == today


def test_default_seeds_follow_lasagne_rng_at_import():
    """Seeding Lasagne's own generator instead of numpy's moves it and not numpy's."""
    script = (
        "import lasagne, numpy as np, inspect\n"
        "lasagne.random.set_rng(np.random.RandomState(3))\n"
        "np.random.seed(4)\n"
        "import samplelayer\n"
        "print(inspect.signature(samplelayer.SimpleSampleLayer.__init__).parameters['seed'].default,"
        " np.random.randint(1000000))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    seed, numpy_next = map(int, out.stdout.split())
    assert seed == np.random.RandomState(3).randint(1, 2147462579)
    assert numpy_next == np.random.RandomState(4).randint(1000000)


# --- shapes and bad input ---------------------------------------------------------------


@pytest.mark.parametrize("batch", [None, 32])
def test_simple_sample_layer_shape(batch):
    layer = SimpleSampleLayer(InputLayer((batch, 64)), InputLayer((None, 64)))
    assert layer.output_shape == (batch, 64)
    assert layer.get_output_shape_for([(None, 7, 2), (5, 7, 2)]) == (None, 7, 2)


@pytest.mark.parametrize("cls", [SampleLayer, BernoulliSampleLayer])
@pytest.mark.parametrize(
    ("batch", "eq", "iw", "expected"),
    [
        (10, 1, 1, 10),
        (10, 3, 2, 60),
        (10, np.int64(3), 2, 60),
        (None, 3, 2, None),
        (10, T.iscalar(), 2, None),
        (10, 3, T.lscalar(), None),
    ],
)
def test_repeated_sample_layer_shape(cls, batch, eq, iw, expected):
    inputs = [(batch, 4), (batch, 4)] if cls is SampleLayer else [(batch, 4)]
    layer = cls(*inputs, eq_samples=eq, iw_samples=iw)
    assert layer.output_shape == (expected, 4)


def test_compiled_output_shapes(sample_fixed, sample_symbolic, bernoulli):
    mu = np.arange(1, 13, dtype=FLOATX).reshape(3, 4)
    # With (next to) no spread every sample is its row's mean: each row repeats, in order.
    z = sample_fixed(mu, np.full_like(mu, -200))
    assert z.shape == (30, 4)
    np.testing.assert_allclose(z, mu.repeat(10, axis=0))
    for eq, iw in [(1, 1), (3, 1), (1, 5), (2, 3)]:
        z = sample_symbolic(mu, np.zeros_like(mu), eq, iw)
        np.testing.assert_array_equal(z, mu.repeat(eq * iw, axis=0))
    p = np.array([[1, 0, 1, 0, 0, 1], [0, 0, 1, 1, 1, 0], [1, 1, 0, 0, 0, 1]], dtype=FLOATX)
    simple, repeated = bernoulli(p)
    np.testing.assert_array_equal(simple, p)
    np.testing.assert_array_equal(repeated, p.repeat(6, axis=0))


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(None, 64\).*\(None, 32\)"):
        SimpleSampleLayer(InputLayer((None, 64)), InputLayer((None, 32)))
    with pytest.raises(ValueError, match=r"\(None, 64\).*\(None, 8, 8\)"):
        SimpleSampleLayer(InputLayer((None, 64)), InputLayer((None, 8, 8)))
    with pytest.raises(ValueError, match=r"\(10, 4\).*\(20, 4\)"):
        SampleLayer(InputLayer((10, 4)), InputLayer((20, 4)), eq_samples=2)
    layer = SimpleSampleLayer(InputLayer((None, 4)), InputLayer((None, 4)))
    with pytest.raises(ValueError, match="same shape"):
        layer.get_output_shape_for([(5, 4), (5, 3)])
    for cls, inputs in [(SampleLayer, [(None, 8, 8)] * 2), (BernoulliSampleLayer, [(None, 8, 8)])]:
        with pytest.raises(ValueError, match=r"2-d .*\(None, 8, 8\)"):
            cls(*inputs)


@pytest.mark.parametrize("cls", [SampleLayer, BernoulliSampleLayer])
@pytest.mark.parametrize("name", ["eq_samples", "iw_samples"])
@pytest.mark.parametrize(
    ("count", "error"),
    [
        (0, ValueError),
        (-2, ValueError),
        (2.0, TypeError),
        (1.5, TypeError),
        (True, TypeError),
        ("2", TypeError),
        (None, TypeError),
        (T.fscalar(), TypeError),
        (T.ivector(), TypeError),
    ],
)
def test_bad_sample_counts_are_refused(cls, name, count, error):
    inputs = [(None, 4), (None, 4)] if cls is SampleLayer else [(None, 4)]
    with pytest.raises(error, match=name):
        cls(*inputs, **{name: count})


# --- the notebook's model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook_f_train():
    """The notebook's own model, cost and f_train (its cells, run by notebook_cells), its
    weights drawn after numpy is seeded."""
    np.random.seed(0)
    return notebook_cells.build_model(notebook_cells.new_shell())["f_train"]


def test_notebook_model_trains(notebook_f_train):
    rng = np.random.RandomState(0)
    pixel_p = rng.uniform(size=784) ** 3  # mostly dark pixels, like MNIST
    x = rng.binomial(1, pixel_p, size=(64, 784)).astype(FLOATX)
    history = []
    for _ in range(30):
        outputs = notebook_f_train(x)
        for value in outputs:
            assert value.dtype == np.float32 and value.shape == ()
            assert np.isfinite(value)
        LL, logpx, KL = outputs
        np.testing.assert_allclose(LL, logpx - KL, rtol=1e-6, atol=1e-4)
        assert KL >= 0
        history.append(float(LL))
    assert np.mean(history[-5:]) > np.mean(history[:5]) + 100, history
