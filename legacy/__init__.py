"""The bridge that runs the 2016 notebook unchanged on Theano-PyMC 1.1.2, Lasagne 0.1 and Python 3."""
