"""The notebook's VAE written again in plain numpy float32, backward pass by hand.

It is the benchmark's floor for "what the machine does with the same BLAS and no
framework": the same 784-256-256-64 / 64-256-256-784 ELU model, Lasagne's
GlorotUniform init, the notebook's LogLikelihood (Bernoulli log-likelihood with
p clipped to [1e-6, 1 - 1e-6], KL to N(0, 1), log-variance clipped to [-10, 10])
and Lasagne 0.1's Adam. ``tests/test_twins.py`` checks its loss terms and
gradients against the notebook's Theano graph.

Parameters are a list of arrays in the order of the notebook's
``get_all_params([l_z, l_mux])``: W and b of enc1, enc2, mu, logvar, dec1, dec2, out.
"""

import numpy as np

NUM_FEATURES, NUM_HIDDEN, NUM_LATENT = 784, 256, 64
LAYERS = [  # (name, inputs, outputs)
    ("enc1", NUM_FEATURES, NUM_HIDDEN),
    ("enc2", NUM_HIDDEN, NUM_HIDDEN),
    ("mu", NUM_HIDDEN, NUM_LATENT),
    ("logvar", NUM_HIDDEN, NUM_LATENT),
    ("dec1", NUM_LATENT, NUM_HIDDEN),
    ("dec2", NUM_HIDDEN, NUM_HIDDEN),
    ("out", NUM_HIDDEN, NUM_FEATURES),
]
CLIP_P, CLIP_LOGVAR = 1e-6, 10.0


def init_params(rng):
    """GlorotUniform weights, U(-sqrt(6 / (n_in + n_out)), +...), and zero biases."""
    params = []
    for _, n_in, n_out in LAYERS:
        limit = np.sqrt(6.0 / (n_in + n_out))
        params.append(rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32))
        params.append(np.zeros(n_out, dtype=np.float32))
    return params


def elu(a):
    """a for a > 0, exp(a) - 1 otherwise; min(a, 0) keeps exp from overflowing."""
    return np.maximum(a, 0) + np.expm1(np.minimum(a, 0))


def elu_grad(a):
    """1 for a > 0, exp(a) otherwise."""
    return np.exp(np.minimum(a, 0))


def forward_backward(params, x, eps):
    """The loss terms (LL, logpx, KL) of a batch and the gradients of -LL, float32."""
    w_enc1, b_enc1, w_enc2, b_enc2, w_mu, b_mu, w_lv, b_lv = params[:8]
    w_dec1, b_dec1, w_dec2, b_dec2, w_out, b_out = params[8:]
    batch = x.shape[0]

    a1 = x @ w_enc1 + b_enc1
    h1 = elu(a1)
    a2 = h1 @ w_enc2 + b_enc2
    h2 = elu(a2)
    mu = h2 @ w_mu + b_mu
    a_lv = h2 @ w_lv + b_lv
    logvar = np.clip(a_lv, -CLIP_LOGVAR, CLIP_LOGVAR)
    std = np.exp(0.5 * logvar)
    z = mu + std * eps
    a3 = z @ w_dec1 + b_dec1
    h3 = elu(a3)
    a4 = h3 @ w_dec2 + b_dec2
    h4 = elu(a4)
    with np.errstate(over="ignore"):  # exp(-a) = inf below a = -88 makes p = 0, as it should
        p = 1 / (1 + np.exp(-(h4 @ w_out + b_out)))
    pc = np.clip(p, CLIP_P, 1 - CLIP_P)

    logpx = (x * np.log(pc) + (1 - x) * np.log1p(-pc)).sum(axis=1).mean()
    kl = (-0.5 * (1 + logvar - mu**2 - np.exp(logvar))).sum(axis=1).mean()

    # Backward pass of the loss -LL = -logpx + KL, with 1 / batch from the means.
    d_pc = -(x / pc - (1 - x) / (1 - pc)) / batch
    d_out = d_pc * ((p >= CLIP_P) & (p <= 1 - CLIP_P)) * p * (1 - p)
    d_a4 = (d_out @ w_out.T) * elu_grad(a4)
    d_a3 = (d_a4 @ w_dec2.T) * elu_grad(a3)
    d_z = d_a3 @ w_dec1.T
    d_mu = d_z + mu / batch
    d_logvar = d_z * eps * 0.5 * std + 0.5 * (np.exp(logvar) - 1) / batch
    d_a_lv = d_logvar * ((a_lv >= -CLIP_LOGVAR) & (a_lv <= CLIP_LOGVAR))
    d_a2 = (d_mu @ w_mu.T + d_a_lv @ w_lv.T) * elu_grad(a2)
    d_a1 = (d_a2 @ w_enc2.T) * elu_grad(a1)

    layer_inputs = [x, h1, h2, h2, z, h3, h4]
    layer_grads = [d_a1, d_a2, d_mu, d_a_lv, d_a3, d_a4, d_out]
    grads = []
    for inputs, d in zip(layer_inputs, layer_grads, strict=True):
        grads += [inputs.T @ d, d.sum(axis=0)]
    return (logpx - kl, logpx, kl), grads


class Adam:
    """Lasagne 0.1's Adam: eps is added to sqrt(v) before the bias correction."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, epsilon
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        a_t = self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for p, m, v, g in zip(self.params, self.m, self.v, grads, strict=True):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= a_t * m / (np.sqrt(v) + self.eps)


def make_train_step(seed=0):
    """A function that trains on one minibatch and returns its (LL, logpx, KL)."""
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    adam = Adam(params)

    def train_step(x):
        eps = rng.standard_normal((x.shape[0], NUM_LATENT), dtype=np.float32)
        terms, grads = forward_backward(params, x, eps)
        adam.step(grads)
        return terms

    return train_step
