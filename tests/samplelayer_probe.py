"""What importing samplelayer does to numpy's generator, and what its layers draw, as JSON.

Run by tests/test_samplelayer.py with each stack's interpreter (Python 2.7 and 3.11),
from the repository root: ``python tests/samplelayer_probe.py NUMPY_SEED``. Theano
and Lasagne are imported first, so the generator moves only by samplelayer's import.
"""

import json
import sys

import lasagne  # noqa: F401  (imported before seeding, as in the notebook)
import numpy as np
import theano
import theano.tensor as T

np.random.seed(int(sys.argv[1]))
import samplelayer  # noqa: E402

CLASSES = ["SimpleSampleLayer", "SampleLayer", "SimpleBernoulliSampleLayer", "BernoulliSampleLayer"]
state = np.random.get_state()


def default_seed(function):
    """A method's default ``seed``, drawn at import (``__func__``: Python 2's unbound method)."""
    return int(getattr(function, "__func__", function).__defaults__[-1])


# Mean 0 and log variance 0 make a normal layer's output its noise, exactly: the draws
# themselves, not arithmetic done on them; Bernoulli layers get the probability 0.5.
x = T.matrix("x")


def layer_and_output(name, seed=None):
    """A layer of class ``name`` (seed: its default if None) and its output for ``x``."""
    cls = getattr(samplelayer, name)
    kwargs = {} if seed is None else {"seed": seed}
    if name == "SimpleSampleLayer":
        layer = cls((None, 3), (None, 3), **kwargs)
    elif name == "SampleLayer":
        layer = cls((None, 3), (None, 3), eq_samples=2, iw_samples=2, **kwargs)
    elif name == "SimpleBernoulliSampleLayer":
        layer = cls((None, 3), **kwargs)
    else:
        layer = cls((None, 3), eq_samples=2, **kwargs)
    inputs = [x, x] if name in ("SimpleSampleLayer", "SampleLayer") else x + 0.5
    return layer, layer.get_output_for(inputs)


defaults = []
for name in CLASSES:
    cls = getattr(samplelayer, name)
    defaults += [default_seed(cls.__init__), default_seed(cls.seed)]

# Per class: a layer with default seeds, and fresh layers built with seeds chosen by the
# caller's test: the constructor's and the seed method's defaults, and 7.
layers, outputs = [], []
for k, name in enumerate(CLASSES):
    layer, output = layer_and_output(name)
    layers.append(layer)
    outputs.append(output)
    for seed in (defaults[2 * k], defaults[2 * k + 1], 7):
        outputs.append(layer_and_output(name, seed)[1])
draw = theano.function([x], outputs)
zeros = np.zeros((2, 3), dtype=theano.config.floatX)


def as_lists(arrays):
    return [a.ravel().tolist() for a in arrays]


first = as_lists(draw(zeros))
for layer in layers:
    layer.seed()
after_seed = as_lists(draw(zeros))[::4]
for layer in layers:
    layer.seed(7)
after_seed_7 = as_lists(draw(zeros))[::4]

json.dump(
    {
        "state_after_import": [state[0], [int(v) for v in state[1]], int(state[2])],
        "defaults": defaults,
        "default": first[::4],
        "built_with_init_default": first[1::4],
        "built_with_seed_default": first[2::4],
        "built_with_7": first[3::4],
        "after_seed": after_seed,
        "after_seed_7": after_seed_7,
    },
    sys.stdout,
)
