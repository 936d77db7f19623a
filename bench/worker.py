"""One measurement of the benchmark, in a process of its own: ``bench/benchmark.py`` runs it.

    python -m bench.worker theano|torch|numpy --threads N --data mnist.npz
    python -m bench.worker profile --data mnist.npz --profile-to FILE
    python -m bench.worker compile
    python -m bench.worker gemm

``theano``, ``torch`` and ``numpy`` build that framework's training step (Theano: the
notebook's own f_train; the others its twins), run one untimed warm-up epoch, print a JSON
line of what they run on, then time one epoch for each line read from stdin, printing
``{"seconds": ..., "LL": ...}``. ``profile`` runs one epoch of the notebook's f_train under
Theano's profiler (THEANO_FLAGS=profile=True) and saves its summary; ``compile`` times
importing Theano and compiling the notebook's functions; ``gemm`` times numpy's sgemm at the
model's shapes. Each prints its result as a JSON line on stdout. The driver sets each
process's thread counts and Theano configuration (THEANORC, THEANO_FLAGS) in its
environment, which is why every measurement has a process of its own.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import run_record
from bench import twin_numpy

SEED = 1234
BATCH = 64
NUM_BATCHES = 50_000 // BATCH  # 781, the notebook's num_batch_train
# (inputs, outputs) of the notebook's seven DenseLayers: enc1, enc2, mu, logvar, dec1, dec2, out.
LAYERS = [(n_in, n_out) for _, n_in, n_out in twin_numpy.LAYERS]
TRAIN_ROWS = 50_000  # the notebook's x_train: the first 50,000 rows of X_train
FRAMEWORKS = ["theano", "torch", "numpy"]


def gemm_shapes():
    """The (m, k, n) of every matrix product in one training step, forward and backward.

    A dense layer with a batch of B rows computes X (B x n_in) @ W (n_in x n_out)
    forward, X.T (n_in x B) @ dY for the weight gradient and dY (B x n_out) @ W.T
    for the input gradient, which the first layer does not need (x is data).
    """
    shapes = []
    for index, (n_in, n_out) in enumerate(LAYERS):
        shapes += [(BATCH, n_in, n_out), (n_in, BATCH, n_out)]
        if index > 0:
            shapes.append((BATCH, n_out, n_in))
    return shapes


def training_data(path):
    """The notebook's x_train: a Bernoulli sample of MNIST's first 50,000 training images."""
    images = np.load(path)["X_train"][:TRAIN_ROWS]
    return np.random.RandomState(SEED).binomial(1, images).astype("float32")


def epoch_loop(train, x_train):
    """The notebook's inner training loop; returns the epoch's mean LL."""
    lls = []
    for i in range(NUM_BATCHES):
        out = train(x_train[BATCH * i : (i + 1) * BATCH])
        lls += [out[0]]
    return float(np.mean(lls))


def notebook_f_train():
    """The notebook's f_train, and the versions and Theano settings it runs with."""
    import notebook_cells

    namespace = notebook_cells.build_model(notebook_cells.new_shell())
    return namespace["f_train"], run_record.environment()


def serve(kind, threads, data):
    """Build one framework's step, then run an epoch per line read from stdin."""
    if kind == "theano":
        train, info = notebook_f_train()
    elif kind == "torch":
        import torch

        from bench import twin_torch

        torch.set_num_threads(threads)
        train = twin_torch.make_train_step(SEED)
        info = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    else:
        train = twin_numpy.make_train_step(SEED)
        info = {"numpy": np.__version__}
    x_train = training_data(data)
    start = time.perf_counter()
    epoch_loop(train, x_train)
    info["warmup_seconds"] = time.perf_counter() - start
    print(json.dumps(info), flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        ll = epoch_loop(train, x_train)
        print(json.dumps({"seconds": time.perf_counter() - start, "LL": ll}), flush=True)


def profile_epoch(path, data):
    """One epoch of the notebook's f_train under Theano's profiler, saved as text."""
    train, _ = notebook_f_train()
    epoch_loop(train, training_data(data))
    with open(path, "w") as handle:
        train.profile.summary(file=handle, n_apply_to_print=30)
    print(json.dumps({"profile": str(path)}))


def measure_compile():
    """Seconds to import Theano, then to run the notebook's function cell."""
    start = time.perf_counter()
    import theano  # noqa: F401

    import_seconds = time.perf_counter() - start
    import notebook_cells as nb

    shell = nb.new_shell()
    nb.build_graph(shell)
    start = time.perf_counter()
    nb.run_cells(shell, [nb.code_cells()[nb.FUNCTIONS]])
    compile_seconds = time.perf_counter() - start
    print(json.dumps({"import": import_seconds, "compile": compile_seconds}))


def measure_gemm():
    """numpy/OpenBLAS sgemm GFLOP/s at the model's shapes (best of 5 x 100 calls)."""
    rng = np.random.default_rng(SEED)
    results = {}
    for m, k, n in sorted(set(gemm_shapes())):
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        out = np.empty((m, n), dtype=np.float32)
        np.matmul(a, b, out=out)
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(100):
                np.matmul(a, b, out=out)
            best = min(best, (time.perf_counter() - start) / 100)
        results[f"{m}x{k}x{n}"] = {"seconds": best, "gflops": 2 * m * k * n / best / 1e9}
    print(json.dumps(results))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", choices=[*FRAMEWORKS, "profile", "compile", "gemm"])
    parser.add_argument("--threads", type=int, default=1, help="torch's thread count")
    parser.add_argument("--data", type=Path, help="the notebook's mnist.npz")
    parser.add_argument("--profile-to", type=Path, help="where profile saves its summary")
    args = parser.parse_args(argv)
    if args.job == "compile":
        measure_compile()
    elif args.job == "gemm":
        measure_gemm()
    elif args.job == "profile":
        profile_epoch(args.profile_to, args.data)
    else:
        serve(args.job, args.threads, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
