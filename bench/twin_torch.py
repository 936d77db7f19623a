"""The notebook's VAE written again in PyTorch (CPU, eager, autograd).

The benchmark's yardstick for "a maintained framework on the same machine": the
same 784-256-256-64 / 64-256-256-784 ELU model, GlorotUniform (Xavier) weights
and zero biases, the notebook's LogLikelihood (Bernoulli log-likelihood with p
clipped to [1e-6, 1 - 1e-6], KL to N(0, 1), log-variance clipped to [-10, 10])
and Lasagne 0.1's Adam, written with torch's multi-tensor ``_foreach`` ops as
torch.optim.Adam does inside (torch's own Adam puts eps after the bias
correction, Lasagne's before). ``tests/test_twins.py`` checks its loss terms and
gradients against the notebook's Theano graph.

Parameters are a list of tensors in the order of the notebook's
``get_all_params([l_z, l_mux])``: W (inputs x outputs) and b of enc1, enc2, mu,
logvar, dec1, dec2, out.
"""

import math

import torch
import torch.nn.functional as F

from bench.twin_numpy import CLIP_LOGVAR, CLIP_P, LAYERS, NUM_LATENT  # the model, written once


def init_params(generator):
    params = []
    for _, n_in, n_out in LAYERS:
        w = torch.empty(n_in, n_out)
        torch.nn.init.xavier_uniform_(w, generator=generator)
        params += [w.requires_grad_(), torch.zeros(n_out, requires_grad=True)]
    return params


def loss_terms(params, x, eps):
    """The notebook's (LL, logpx, KL) of a batch, as scalar tensors."""
    w_enc1, b_enc1, w_enc2, b_enc2, w_mu, b_mu, w_lv, b_lv = params[:8]
    w_dec1, b_dec1, w_dec2, b_dec2, w_out, b_out = params[8:]
    h = F.elu(torch.addmm(b_enc1, x, w_enc1))
    h = F.elu(torch.addmm(b_enc2, h, w_enc2))
    mu = torch.addmm(b_mu, h, w_mu)
    logvar = torch.clamp(torch.addmm(b_lv, h, w_lv), -CLIP_LOGVAR, CLIP_LOGVAR)
    z = mu + torch.exp(0.5 * logvar) * eps
    h = F.elu(torch.addmm(b_dec1, z, w_dec1))
    h = F.elu(torch.addmm(b_dec2, h, w_dec2))
    p = torch.clamp(torch.sigmoid(torch.addmm(b_out, h, w_out)), CLIP_P, 1 - CLIP_P)
    logpx = -F.binary_cross_entropy(p, x, reduction="none").sum(dim=1).mean()
    kl = (-0.5 * (1 + logvar - mu**2 - torch.exp(logvar))).sum(dim=1).mean()
    return logpx - kl, logpx, kl


def forward_backward(params, x, eps):
    """Numpy in, numpy out: the loss terms and the gradients of -LL w.r.t. ``params``."""
    params = [torch.tensor(p, requires_grad=True) for p in params]
    terms = loss_terms(params, torch.from_numpy(x), torch.from_numpy(eps))
    grads = torch.autograd.grad(-terms[0], params)
    return [t.item() for t in terms], [g.numpy() for g in grads]


class Adam:
    """Lasagne 0.1's Adam: eps is added to sqrt(v) before the bias correction."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, epsilon
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads):
        self.t += 1
        a_t = self.lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        torch._foreach_lerp_(self.m, grads, 1 - self.beta1)
        torch._foreach_mul_(self.v, self.beta2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.beta2)
        denominator = torch._foreach_sqrt(self.v)
        torch._foreach_add_(denominator, self.eps)
        torch._foreach_addcdiv_(self.params, self.m, denominator, value=-a_t)


def make_train_step(seed=0):
    """A function that trains on one minibatch (numpy) and returns its (LL, logpx, KL)."""
    generator = torch.Generator().manual_seed(seed)
    params = init_params(generator)
    adam = Adam(params)

    def train_step(x):
        x = torch.from_numpy(x)
        eps = torch.randn(x.shape[0], NUM_LATENT, generator=generator)
        terms = loss_terms(params, x, eps)
        adam.step(torch.autograd.grad(-terms[0], params))
        return [t.detach() for t in terms]

    return train_step
