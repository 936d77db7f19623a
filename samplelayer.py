"""Lasagne layers that draw samples, as the Lab 6 notebook imports them.

The 2016 notebook does ``from samplelayer import SimpleSampleLayer``. The
``samplelayer.py`` it shipped with is not part of this project, so this file is
our own reimplementation of that module, a drop-in: with the same numpy seed it
draws what the original drew, because the 2016 numbers were made with its quirks:

* importing it draws eight seeds from Lasagne's random generator (numpy's global
  one unless ``lasagne.random.set_rng`` was called), which moves that generator
  before the notebook draws its weights: each class's ``__init__`` and ``seed``
  have their own default seed, drawn when the class body runs, in class order;
* ``layer.seed()`` restarts the stream from the ``seed`` method's default, not
  from the seed the layer was built with;
* the layers always sample, also when asked for ``deterministic=True`` output.

Written for Python 2.7 with Theano 0.8.2 and Lasagne master (the 2016 stack) as
well as for Python 3.11 with Theano-PyMC and the bridge: hence no f-strings and
``super(Class, self)``.
"""

import numbers

import lasagne
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams

__all__ = [
    "SimpleSampleLayer",
    "SampleLayer",
    "SimpleBernoulliSampleLayer",
    "BernoulliSampleLayer",
]


def draw_seed():
    """One seed from Lasagne's random generator, in [1, 2147462579), the MRG modulus.

    Used as a default argument value, so it runs once, when the ``def`` line runs.
    """
    return lasagne.random.get_rng().randint(1, 2147462579)


def seed_method():
    """A ``seed`` method whose default seed is drawn now, for the class being defined."""

    def seed(self, seed=draw_seed()):
        """Restart the layer's random stream from ``seed``.

        Parameters
        ----------
        seed : int
            The new seed, in [1, 2147462579). The default was drawn for this
            class's ``seed`` method when the module was imported; it is not the
            seed the layer was built with. Functions already compiled from the
            layer's output draw from the restarted stream.
        """
        self._srng.seed(seed)

    return seed


def _check_same_shape(mean_shape, log_var_shape):
    """Raise ValueError unless the two shapes can be equal (``None`` matches any size)."""
    if len(mean_shape) != len(log_var_shape) or any(
        m is not None and v is not None and m != v for m, v in zip(mean_shape, log_var_shape)
    ):
        raise ValueError(
            "mean and log_var must have the same shape, got mean shape %s "
            "and log_var shape %s" % (tuple(mean_shape), tuple(log_var_shape))
        )


def _sample_count(name, count):
    """Return a valid ``eq_samples``/``iw_samples``: a positive int or an integer Theano scalar."""
    if isinstance(count, T.Variable):
        if count.ndim != 0 or not count.dtype.startswith(("int", "uint")):
            raise TypeError(
                "%s must be a positive int or an integer scalar, got %s" % (name, count.type)
            )
        return count
    if isinstance(count, bool) or not isinstance(count, numbers.Integral):
        raise TypeError("%s must be a positive int or an integer scalar, got %r" % (name, count))
    if count < 1:
        raise ValueError("%s must be positive, got %d" % (name, count))
    return int(count)


def _repeated_shape(shape, eq_samples, iw_samples):
    """Shape of a (batch, features) input after drawing eq * iw samples per row."""
    if len(shape) != 2:
        raise ValueError("expected a 2-d (batch, features) input, got shape %s" % (tuple(shape),))
    batch_size, num_features = shape
    if all(isinstance(n, numbers.Integral) for n in (batch_size, eq_samples, iw_samples)):
        return batch_size * eq_samples * iw_samples, num_features
    return None, num_features


class SimpleSampleLayer(lasagne.layers.MergeLayer):
    """Draw one reparameterised sample ``z = mean + exp(0.5 * log_var) * eps``.

    ``eps`` is standard normal noise of ``mean``'s shape and dtype floatX, so
    ``z ~ N(mean, exp(log_var))`` elementwise and gradients flow to ``mean`` and
    ``log_var`` (the reparameterisation trick of [KINGMA]_).

    The layer always samples: it ignores ``deterministic=True``, so the
    notebook's evaluation and reconstruction outputs are stochastic too.

    Parameters
    ----------
    mean : a :class:`Layer` instance or a tuple
        The mean of the distribution to sample from.
    log_var : a :class:`Layer` instance or a tuple
        Its log variance, log(sigma^2), of the same shape as ``mean``.
    seed : int
        Seed of the layer's random stream, in [1, 2147462579). The default is
        drawn once, when this module is imported, so every layer of this class
        built without a seed draws the same noise: give each sample layer of a
        model its own seed.
    **kwargs
        Any additional keyword arguments are passed to the :class:`MergeLayer`
        superclass.

    Raises
    ------
    ValueError
        If the known shapes of ``mean`` and ``log_var`` differ.

    References
    ----------
    .. [KINGMA] Kingma, Diederik P., and Max Welling. "Auto-Encoding
       Variational Bayes." arXiv preprint arXiv:1312.6114 (2013).
    """

    def __init__(self, mean, log_var, seed=draw_seed(), **kwargs):
        super(SimpleSampleLayer, self).__init__([mean, log_var], **kwargs)
        self.get_output_shape_for(self.input_shapes)  # bad shapes fail here, not later
        self._srng = MRG_RandomStreams(seed)

    seed = seed_method()

    def get_output_shape_for(self, input_shapes):
        mean_shape, log_var_shape = input_shapes
        _check_same_shape(mean_shape, log_var_shape)
        return mean_shape

    def get_output_for(self, inputs, **kwargs):
        mean, log_var = inputs
        eps = self._srng.normal(mean.shape, dtype=theano.config.floatX)
        return mean + T.exp(0.5 * log_var) * eps


def _exp_half(log_var):
    """The standard deviation from a log variance: exp(0.5 * log_var)."""
    return T.exp(0.5 * log_var)


class SampleLayer(lasagne.layers.MergeLayer):
    """Draw ``eq_samples * iw_samples`` reparameterised samples per input row.

    For ``mean`` and ``log_var`` of shape (batch, n_latent) it draws standard
    normal ``eps`` of shape (batch, eq_samples, iw_samples, n_latent), dtype
    floatX, computes ``z = mean + nonlinearity(log_var) * eps`` with ``mean``
    and ``log_var`` broadcast over the two sample axes, and returns ``z``
    reshaped to (batch * eq_samples * iw_samples, n_latent): the samples of
    row ``b`` are rows ``b * eq_samples * iw_samples`` onwards, ``iw_samples``
    varying fastest. These are the Monte Carlo and importance samples of the
    importance weighted bound of [BURDA]_.

    The layer always samples: it ignores ``deterministic=True``.

    Parameters
    ----------
    mean : a :class:`Layer` instance or a tuple
        The mean of the distribution to sample from, of shape (batch, n_latent).
    log_var : a :class:`Layer` instance or a tuple
        Its spread, of the same shape as ``mean``; ``nonlinearity`` turns it
        into the standard deviation, so by default it is log(sigma^2).
    eq_samples : int or integer Theano scalar
        Number of Monte Carlo samples of the expectation over q(z|x).
    iw_samples : int or integer Theano scalar
        Number of importance samples. The output's first dimension is known
        only when the batch size and both sample counts are ints.
    nonlinearity : callable or None
        Maps ``log_var`` to the standard deviation. The default,
        ``exp(0.5 * x)``, makes ``log_var`` log(sigma^2); ``T.sqrt`` makes it
        sigma^2; ``None`` (the identity) makes it sigma.
    seed : int
        Seed of the layer's random stream, in [1, 2147462579); the default is
        drawn once, when this module is imported.
    **kwargs
        Any additional keyword arguments are passed to the :class:`MergeLayer`
        superclass.

    Raises
    ------
    ValueError
        If ``mean`` is not 2-d, the known shapes of ``mean`` and ``log_var``
        differ, or a sample count is not positive.
    TypeError
        If a sample count is neither an int nor an integer Theano scalar.

    References
    ----------
    .. [BURDA] Burda, Yuri, Roger Grosse, and Ruslan Salakhutdinov.
       "Importance Weighted Autoencoders." arXiv preprint arXiv:1509.00519 (2015).
    """

    def __init__(
        self, mean, log_var, eq_samples=1, iw_samples=1, nonlinearity=_exp_half, seed=draw_seed(),
        **kwargs
    ):  # fmt: skip
        super(SampleLayer, self).__init__([mean, log_var], **kwargs)
        self.eq_samples = _sample_count("eq_samples", eq_samples)
        self.iw_samples = _sample_count("iw_samples", iw_samples)
        self.nonlinearity = nonlinearity or lasagne.nonlinearities.identity
        self.get_output_shape_for(self.input_shapes)  # bad shapes fail here, not later
        self._srng = MRG_RandomStreams(seed)

    seed = seed_method()

    def get_output_shape_for(self, input_shapes):
        mean_shape, log_var_shape = input_shapes
        _check_same_shape(mean_shape, log_var_shape)
        return _repeated_shape(mean_shape, self.eq_samples, self.iw_samples)

    def get_output_for(self, inputs, **kwargs):
        mean, log_var = inputs
        batch_size, num_latent = mean.shape
        eps = self._srng.normal(
            (batch_size, self.eq_samples, self.iw_samples, num_latent),
            dtype=theano.config.floatX,
        )
        std = self.nonlinearity(log_var.dimshuffle(0, "x", "x", 1))
        z = mean.dimshuffle(0, "x", "x", 1) + std * eps
        return z.reshape((-1, num_latent))


class SimpleBernoulliSampleLayer(lasagne.layers.Layer):
    """Draw one Bernoulli sample per element: 1 with probability ``mean``, else 0.

    The output has ``mean``'s shape and dtype; its gradient is undefined
    (``theano.grad`` through it raises). The layer always samples: it ignores
    ``deterministic=True``.

    Parameters
    ----------
    mean : a :class:`Layer` instance or a tuple
        The probability of a one, elementwise, in [0, 1].
    seed : int
        Seed of the layer's random stream, in [1, 2147462579); the default is
        drawn once, when this module is imported.
    **kwargs
        Any additional keyword arguments are passed to the :class:`Layer`
        superclass.
    """

    def __init__(self, mean, seed=draw_seed(), **kwargs):
        super(SimpleBernoulliSampleLayer, self).__init__(mean, **kwargs)
        self._srng = MRG_RandomStreams(seed)

    seed = seed_method()

    def get_output_shape_for(self, input_shape):
        return input_shape

    def get_output_for(self, input, **kwargs):
        return self._srng.binomial(size=input.shape, n=1, p=input, dtype=input.dtype)


class BernoulliSampleLayer(lasagne.layers.Layer):
    """Draw ``eq_samples * iw_samples`` Bernoulli samples per input row.

    For ``mean`` of shape (batch, n_features) it draws samples of shape
    (batch, eq_samples, iw_samples, n_features), dtype floatX, each 1 with
    probability ``mean`` of its row, and returns them reshaped like
    :class:`SampleLayer`'s to (batch * eq_samples * iw_samples, n_features).
    Its gradient is undefined (``theano.grad`` through it raises). The layer
    always samples: it ignores ``deterministic=True``.

    Parameters
    ----------
    mean : a :class:`Layer` instance or a tuple
        The probability of a one, elementwise, in [0, 1], of shape
        (batch, n_features).
    eq_samples : int or integer Theano scalar
        Number of Monte Carlo samples per row.
    iw_samples : int or integer Theano scalar
        Number of importance samples per row. The output's first dimension
        is known only when the batch size and both sample counts are ints.
    seed : int
        Seed of the layer's random stream, in [1, 2147462579); the default is
        drawn once, when this module is imported.
    **kwargs
        Any additional keyword arguments are passed to the :class:`Layer`
        superclass.

    Raises
    ------
    ValueError
        If ``mean`` is not 2-d or a sample count is not positive.
    TypeError
        If a sample count is neither an int nor an integer Theano scalar.
    """

    def __init__(self, mean, eq_samples=1, iw_samples=1, seed=draw_seed(), **kwargs):
        super(BernoulliSampleLayer, self).__init__(mean, **kwargs)
        self.eq_samples = _sample_count("eq_samples", eq_samples)
        self.iw_samples = _sample_count("iw_samples", iw_samples)
        self.get_output_shape_for(self.input_shape)  # bad shapes fail here, not later
        self._srng = MRG_RandomStreams(seed)

    seed = seed_method()

    def get_output_shape_for(self, input_shape):
        return _repeated_shape(input_shape, self.eq_samples, self.iw_samples)

    def get_output_for(self, input, **kwargs):
        batch_size, num_features = input.shape
        samples = self._srng.binomial(
            size=(batch_size, self.eq_samples, self.iw_samples, num_features),
            n=1,
            p=input.dimshuffle(0, "x", "x", 1),
            dtype=theano.config.floatX,
        )
        return samples.reshape((-1, num_features))
