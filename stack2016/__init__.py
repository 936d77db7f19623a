"""The 2016 stack: Python 2.7, numpy 1.11.1, Theano 0.8.2, Lasagne 3f3ff93, as a Jupyter kernel."""
