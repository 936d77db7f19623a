"""The bridge: the 2016 notebook, unchanged, on Theano-PyMC 1.1.2, Lasagne 0.1, Python 3."""
