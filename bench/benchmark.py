"""Time the notebook's training step in Theano against PyTorch and numpy twins.

The question is whether a 2016 Theano graph, run unchanged, can still be as fast
as a maintained framework on today's CPU, and what the project's Theano
configuration contributes. So the Theano side is the notebook's own graph: its
model and function cells are executed by ``notebook_cells`` and its ``f_train``
is called as the notebook's training loop calls it. The twins (``twin_torch.py``,
``twin_numpy.py``) are the same model written again.

Every framework lives in its own long-lived subprocess (``bench/worker.py``, as
every other measurement) with the same thread count; this driver asks them for one
epoch each in turn (Theano, PyTorch, numpy, Theano, ...), so slow drift of the
machine hits all of them alike. With
``--lock`` each measurement holds an flock on that file, so engineers sharing
the machine can take turns without holding it for the whole run.

Each ``--configs`` entry is a Theano configuration: ``tuned`` is the repo's
``legacy/theanorc`` as it is, ``default`` keeps only the settings the notebook needs to
run at all (floatX, device, blas.ldflags) and leaves the rest at Theano's
defaults, and anything else is THEANO_FLAGS applied on top of ``tuned``.

    .venv/bin/python bench/benchmark.py --lock /tmp/vae-cpu.lock
    .venv/bin/python -m bench.benchmark --lock /tmp/vae-cpu.lock    # the same

Before timing anything it checks its inputs (``mnist.npz``, ``--out``, ``--lock``,
the options) and stops on the first problem with one line and exit status 1.
"""

import argparse
import configparser
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

import cpu_lock
import run_record
from bench import worker
from legacy.activate import THEANORC

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = REPO / "mnist.npz"
BASE_SETTINGS = [("global", "floatX"), ("global", "device"), ("blas", "ldflags")]


def epoch_gflop():
    """FLOPs of an epoch's matrix products: sum over products of 2*m*k*n, times NUM_BATCHES.

    Elementwise work (ELU, sigmoid, loss, Adam) is O(B*n) per layer, against
    O(B*n_in*n_out) for the products, and is left out.
    """
    return sum(2 * m * k * n for m, k, n in worker.gemm_shapes()) * worker.NUM_BATCHES / 1e9


class InputError(Exception):
    """An input the benchmark cannot run with, as one line."""


def check_data(path):
    """Raise InputError unless path holds the X_train the worker's training_data needs.

    That is: an .npz archive whose X_train is float32, at least TRAIN_ROWS rows of
    784 pixels, every value a probability (the Bernoulli sample draws from them).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"no {path}; build it with `.venv/bin/python mnist_prep.py` "
            "(offline: MNIST_SOURCE=DIR), or pass --data"
        )
    try:
        archive = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(f"{path} is not a readable .npz archive ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError(f"{path} is a single array, not an .npz archive with X_train")
    with archive:
        if "X_train" not in archive.files:
            raise InputError(f"{path} has no X_train array (it has {', '.join(archive.files)})")
        try:
            x = archive["X_train"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise InputError(f"{path}: X_train cannot be read ({error})") from error
    if x.dtype != np.float32 or x.ndim != 2 or x.shape[0] < worker.TRAIN_ROWS or x.shape[1] != 784:
        raise InputError(
            f"{path}: X_train is {x.dtype} of shape {x.shape}; expected float32 "
            f"with at least {worker.TRAIN_ROWS} rows of 784"
        )
    x = x[: worker.TRAIN_ROWS]
    if not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        raise InputError(
            f"{path}: X_train has values outside [0, 1] (min {np.nanmin(x)}, max {np.nanmax(x)})"
        )


def check_out(folder):
    """Create the results folder now, so that a run is not lost at its end; else InputError."""
    folder = Path(folder)
    for path in [folder, *folder.parents]:
        if path.exists():  # the nearest existing one
            if not path.is_dir():
                raise InputError(
                    f"cannot write results to {folder}: {path} is a file, not a folder"
                )
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise InputError(f"cannot write results to {folder}: {error.strerror or error}") from error


def check_inputs(args, configs):
    """Raise InputError, one line, for the first input the run would die on later."""
    if args.epochs < 1:
        raise InputError(f"--epochs must be at least 1 (got {args.epochs})")
    if args.threads < 1:
        raise InputError(f"--threads must be at least 1 (got {args.threads})")
    if not all(configs) or len(set(configs)) != len(configs):
        # an empty one would run as a second "tuned"; a repeated one overwrites the first's results
        raise InputError(f"--configs/--flags: empty or repeated Theano config in {configs}")
    check_data(args.data)
    check_out(args.out)
    if args.lock:
        try:
            with open(args.lock, "a"):
                pass
        except OSError as error:
            raise InputError(f"cannot open the lock file {args.lock} ({error.strerror})") from error


def add_theano_flags(env, flags):
    """``env`` with ``flags`` appended to its THEANO_FLAGS."""
    return {**env, "THEANO_FLAGS": ",".join(filter(None, [env.get("THEANO_FLAGS"), flags]))}


def theano_env(config, env, scratch):
    """The environment of a Theano worker under ``config`` (see the module docstring)."""
    env = dict(env)
    if config == "default":
        tuned = configparser.ConfigParser()
        tuned.optionxform = str
        tuned.read(THEANORC)
        base = configparser.ConfigParser()
        base.optionxform = str
        for section, key in BASE_SETTINGS:
            if not base.has_section(section):
                base.add_section(section)
            base.set(section, key, tuned.get(section, key))
        path = Path(scratch, "theanorc.default")
        with open(path, "w") as handle:
            base.write(handle)
        env["THEANORC"] = str(path)
    elif config != "tuned":
        env = add_theano_flags(env, config)
    return env


def run_worker(args, env):
    """Run ``python -m bench.worker ARGS`` to its end; return the last JSON line it printed."""
    command = [sys.executable, "-m", "bench.worker", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def compile_times(env, scratch, lock):
    """Import and compile seconds with a fresh compile cache, then again with it warm."""
    cache = tempfile.mkdtemp(prefix="compiledir-", dir=scratch)
    env = add_theano_flags(env, f"base_compiledir={cache}")
    times = {}
    for state in ("cold", "warm"):
        with cpu_lock.held(lock):
            times[state] = run_worker(["compile"], env)
    return times


class EpochServer:
    """A long-lived ``bench.worker`` process of one framework (or Theano config), timing an
    epoch whenever asked."""

    def __init__(self, name, kind, env, threads, log, data):
        self.name, self.log, self.seconds, self.lls = name, log, [], []
        command = [sys.executable, "-m", "bench.worker", kind]
        command += ["--threads", str(threads), "--data", str(data)]
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.info = self.read()

    def read(self):
        """The next JSON line the worker prints (anything else on stdout is skipped)."""
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"worker {self.name} died, see {self.log}")

    def epoch(self):
        self.process.stdin.write("epoch\n")
        self.process.stdin.flush()
        result = self.read()
        self.seconds.append(result["seconds"])
        self.lls.append(result["LL"])

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def median_of_faster_half(seconds):
    """Median of the faster half of the epochs (ceil(n / 2) of them): an epoch that
    another process slowed down only ever makes it longer, never shorter."""
    return statistics.median(sorted(seconds)[: math.ceil(len(seconds) / 2)])


def markdown(results):
    gflop, rows, gemm = results["epoch_gflop"], results["frameworks"], results["gemm"]
    torch_median = rows["PyTorch twin"]["median"] if "PyTorch twin" in rows else None
    lines = [
        f"One training epoch of the notebook ({worker.NUM_BATCHES} minibatches of "
        f"{worker.BATCH}), {results['threads']} "
        f"threads each, {results['epochs']} epochs each taken in turns; s / epoch is the "
        "median of the faster half of them.",
        "",
        "| | s / epoch | × PyTorch | GFLOP/s |",
        "|---|---:|---:|---:|",
    ]
    for name, row in rows.items():
        ratio = f"{row['median'] / torch_median:.2f}" if torch_median else "n/a"
        lines.append(f"| {name} | {row['median']:.2f} | {ratio} | {gflop / row['median']:.0f} |")
    lines += [
        "",
        f"GFLOP/s: the epoch's {gflop:.1f} GFLOP of matrix products per second. "
        f"numpy/OpenBLAS sgemm at the model's shapes runs at {gemm['gflops_min']:.0f}–"
        f"{gemm['gflops_max']:.0f} GFLOP/s; an epoch's products alone take "
        f"{gemm['epoch_seconds']:.2f} s ({gflop / gemm['epoch_seconds']:.0f} GFLOP/s).",
    ]
    if results["compile"]:
        lines += [
            "",
            "| Theano config | import theano, cold / warm cache | compile the notebook's "
            "functions, cold / warm |",
            "|---|---:|---:|",
        ]
        for config, times in results["compile"].items():
            cold, warm = times["cold"], times["warm"]
            lines.append(
                f"| {config} | {cold['import']:.1f} s / {warm['import']:.1f} s "
                f"| {cold['compile']:.1f} s / {warm['compile']:.1f} s |"
            )
    pinned = [f"{k}={v}" for k, v in results["machine"].items() if k.startswith("OPENBLAS_")]
    if pinned:
        lines += ["", f"Set in the environment: {', '.join(pinned)}."]
    if results["note"]:
        lines += ["", results["note"]]
    return "\n".join(lines) + "\n"


def theano_label(config):
    return f"Theano, {config}" if config in ("default", "tuned") else f"Theano, tuned + {config}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per framework")
    parser.add_argument(
        "--configs", default="default,tuned", help="Theano configs, comma-separated"
    )
    parser.add_argument(
        "--flags",
        action="append",
        default=[],
        help="one more Theano config: these THEANO_FLAGS on top of tuned (repeatable)",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per framework")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--data", type=Path, default=DATA, help="the notebook's mnist.npz (default: %(default)s)"
    )
    parser.add_argument("--lock", help="flock this file around each measurement")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time runs")
    parser.add_argument("--profile", action="store_true", help="save a Theano profile per config")
    args = parser.parse_args(argv)

    configs = args.configs.split(",") + args.flags
    try:
        check_inputs(args, configs)
    except InputError as error:
        print(f"benchmark: error: {error}", file=sys.stderr)
        return 1
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(args.threads)
    scratch = tempfile.mkdtemp(prefix="vae-bench-")
    results = {
        "epochs": args.epochs,
        "threads": args.threads,
        "epoch_gflop": epoch_gflop(),
        "machine": {
            **run_record.machine(),
            "loadavg_start": os.getloadavg(),
            **{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
        },
        "compile": {},
        "note": "",
    }

    with cpu_lock.held(args.lock):
        gemm = run_worker(["gemm"], env)
    calls = Counter(f"{m}x{k}x{n}" for m, k, n in worker.gemm_shapes())
    results["gemm"] = {
        "shapes": gemm,
        "gflops_min": min(g["gflops"] for g in gemm.values()),
        "gflops_max": max(g["gflops"] for g in gemm.values()),
        "epoch_seconds": worker.NUM_BATCHES * sum(gemm[s]["seconds"] * c for s, c in calls.items()),
    }

    if not args.no_compile:
        for config in configs:
            print(f"compile times, Theano {config} ...", flush=True)
            config_env = theano_env(config, env, scratch)
            results["compile"][config] = compile_times(config_env, scratch, args.lock)

    workers = []
    for config in configs:
        workers.append((theano_label(config), "theano", theano_env(config, env, scratch)))
    if importlib.util.find_spec("torch"):
        workers.append(("PyTorch twin", "torch", env))
    else:
        results["note"] = "PyTorch is not installed: its twin was skipped (bench/requirements.txt)."
        print(results["note"], flush=True)
    workers.append(("numpy twin", "numpy", env))

    started = []
    for number, (name, kind, worker_env) in enumerate(workers):
        print(f"starting {name} ...", flush=True)
        log = Path(scratch, f"worker{number}.log")
        with cpu_lock.held(args.lock):
            started.append(EpochServer(name, kind, worker_env, args.threads, log, args.data))
    for turn in range(args.epochs):
        for server in started:
            with cpu_lock.held(args.lock):
                server.epoch()
            print(f"epoch {turn + 1}/{args.epochs}  {server.name:<30} {server.seconds[-1]:.2f} s")
    for server in started:
        server.close()

    results["frameworks"] = {
        w.name: {
            "median": median_of_faster_half(w.seconds),
            "seconds": w.seconds,
            "LL": w.lls,
            **w.info,
        }
        for w in started
    }
    if "PyTorch twin" in results["frameworks"]:
        torch_median = results["frameworks"]["PyTorch twin"]["median"]
        results["ratios_to_pytorch"] = {
            name: row["median"] / torch_median for name, row in results["frameworks"].items()
        }
    results["machine"]["loadavg_end"] = os.getloadavg()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmark.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "benchmark.md").write_text(markdown(results))
    print(markdown(results))
    if args.profile:
        for config in configs:
            print(f"profiling Theano {config} ...", flush=True)
            profile_env = add_theano_flags(theano_env(config, env, scratch), "profile=True")
            path = args.out / f"profile_{config.replace('=', '-').replace(',', '_')}.txt"
            with cpu_lock.held(args.lock):
                run_worker(
                    ["profile", "--profile-to", str(path), "--data", str(args.data)],
                    profile_env,
                )
    shutil.rmtree(scratch)

    return 0


if __name__ == "__main__":
    sys.exit(main())
