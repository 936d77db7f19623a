"""The benchmark's twins compute what the notebook's Theano graph computes.

``bench/twin_numpy.py`` and ``bench/twin_torch.py`` are the notebook's VAE written
again; a speed comparison means something only if they are the same model. Here
they get the notebook's own initial weights and the same noise eps, and must
return the notebook's LL, logpx and KL and the gradients of -LL w.r.t. every
parameter. The Theano side is the notebook's model and LogLikelihood, built by
executing its cells; only the sample layer's random stream is replaced by the
given eps, so z = mu + exp(0.5 * logvar) * eps comes from the layer's own code.

Both sides compute in float32 and sum up to 784 terms, in their own order and
with their own exp and log, so they agree to float32's tolerance, not bit for bit:
the loss terms to a relative 1e-5 and every gradient entry to 1e-5 of the largest
(they differ by about 3e-7 of it). A second case clips log-variances and output
probabilities, where the gradient is cut.
"""

import numpy as np
import pytest
import theano
from lasagne.layers import get_output

import notebook_cells
from bench import twin_numpy

BATCH = 16
W_LOGVAR, B_LOGVAR, B_OUT = 6, 7, 13  # in get_all_params order: W, b of enc1, ..., out


class GivenNoise:
    """Stands in for a sample layer's random stream: every normal draw is ``eps``."""

    def __init__(self, eps):
        self.eps = eps

    def normal(self, size, dtype):
        return self.eps


@pytest.fixture(scope="module")
def notebook():
    """The notebook's parameters and f(x, eps) -> [LL, logpx, KL, *grads of -LL]."""
    ns = notebook_cells.build_model(notebook_cells.new_shell())
    sym_eps = theano.tensor.matrix("eps")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ns["l_z"], "_srng", GivenNoise(sym_eps))
        z, muq, logvarq = get_output(
            [ns["l_z"], ns["l_muq"], ns["l_logvarq"]], {ns["l_in_x"]: ns["sym_x"]}
        )
    mux = get_output(ns["l_mux"], {ns["l_in_z"]: z})
    terms = ns["LogLikelihood"](mux, ns["sym_x"], muq, logvarq)
    grads = theano.grad(-terms[0], ns["all_params"])
    f = theano.function([ns["sym_x"], sym_eps], [*terms, *grads])
    return ns["all_params"], f


def batch(seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((BATCH, twin_numpy.NUM_FEATURES)) < 0.3).astype(np.float32)
    eps = rng.standard_normal((BATCH, twin_numpy.NUM_LATENT), dtype=np.float32)
    return x, eps


def saturate(params, x):
    """Weights that clip half the log-variances at -10 and two thirds of the output
    probabilities at 1e-6 or 1 - 1e-6 (logits near +-30). Clipping at +10 instead would
    make z huge and logits of 5 to 14, where log(1 - p) magnifies the last bit of p."""
    params = [p.copy() for p in params]
    params[B_LOGVAR][::2] = -20
    params[B_OUT][::3], params[B_OUT][1::3] = 30, -30
    h = twin_numpy.elu(x @ params[0] + params[1])
    h = twin_numpy.elu(h @ params[2] + params[3])
    assert (h @ params[W_LOGVAR] + params[B_LOGVAR] < -10).mean() > 0.4
    return params


@pytest.fixture(params=["initial", "saturated"])
def case(request, notebook):
    """The notebook's initial weights (or saturating ones), a batch x and its noise eps."""
    x, eps = batch()
    params = [p.get_value() for p in notebook[0]]
    if request.param == "saturated":
        params = saturate(params, x)
    return params, x, eps


def theano_result(notebook, params, x, eps):
    """The notebook graph's terms and gradients at ``params``; its weights are put back."""
    shared_params, f = notebook
    initial = [p.get_value() for p in shared_params]
    try:
        for shared, value in zip(shared_params, params, strict=True):
            shared.set_value(value)
        out = f(x, eps)
    finally:
        for shared, value in zip(shared_params, initial, strict=True):
            shared.set_value(value)
    return out[:3], out[3:]


def assert_same(twin, expected):
    (terms, grads), (want_terms, want_grads) = twin, expected
    np.testing.assert_allclose(terms, want_terms, rtol=1e-5)
    assert len(grads) == len(want_grads)
    for index, (grad, want) in enumerate(zip(grads, want_grads, strict=True)):
        assert grad.shape == want.shape and grad.dtype == np.float32, index
        np.testing.assert_allclose(
            grad, want, rtol=0, atol=1e-5 * np.abs(want).max(), err_msg=f"gradient {index}"
        )


def test_numpy_twin_has_the_notebooks_parameter_shapes_and_init(notebook):
    mine = twin_numpy.init_params(np.random.default_rng(0))
    notebooks_params = [p.get_value() for p in notebook[0]]
    for index, (param, notebooks) in enumerate(zip(mine, notebooks_params, strict=True)):
        assert param.shape == notebooks.shape and param.dtype == notebooks.dtype, index
        if param.ndim == 1:
            assert not param.any() and not notebooks.any(), index
        else:
            limit = np.sqrt(6 / sum(param.shape))  # GlorotUniform's bound
            for w in (param, notebooks):
                assert 0.95 * limit < np.abs(w).max() <= limit, index


def test_numpy_twin_matches_the_notebook(notebook, case):
    params, x, eps = case
    twin = twin_numpy.forward_backward([p.copy() for p in params], x, eps)
    assert_same(twin, theano_result(notebook, params, x, eps))


def test_torch_twin_matches_the_notebook(notebook, case):
    pytest.importorskip("torch", reason="PyTorch is optional (bench/requirements.txt)")
    from bench import twin_torch

    params, x, eps = case
    twin = twin_torch.forward_backward(params, x, eps)
    assert_same(twin, theano_result(notebook, params, x, eps))
