"""Taking turns on a shared machine: an exclusive lock held around each CPU-heavy step.

``historical/band.py``, ``historical/replay.py`` and ``bench/benchmark.py`` train or
time the notebook on a machine others use too. Given ``--lock FILE``, each holds an
exclusive ``flock`` on FILE only while a step runs, so that other jobs taking the same
lock interleave with it rather than slow it down, and nobody holds the machine for hours.
"""

import fcntl
from contextlib import contextmanager


@contextmanager
def held(path):
    """Hold an exclusive flock on ``path`` for the duration; no lock when ``path`` is None."""
    if path is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
