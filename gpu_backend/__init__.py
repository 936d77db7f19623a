"""Theano's GPU backend (libgpuarray and pygpu 0.7.6): its build, and what a run asks of it."""
