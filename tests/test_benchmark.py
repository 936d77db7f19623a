"""bench/benchmark.py checks its inputs before it times anything.

Fast: the benchmark is run as a subprocess on inputs it must refuse, so it stops
in about a second; nothing is compiled or timed.
"""

import io
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO

from bench import benchmark, worker

SCRIPT = REPO / "bench" / "benchmark.py"


def run(*args):
    """The benchmark's command line; it must stop before its first measurement."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--no-compile", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done


def refused(done):
    """The one stderr line of a benchmark that stopped at its input check."""
    assert done.returncode == 1, done.stderr
    assert done.stdout == "", "it started measuring"
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("benchmark: error: ")
    return done.stderr.removeprefix("benchmark: error: ").removesuffix("\n")


def x_train(rows=3, cols=784, dtype=np.float32, value=0.5):
    return np.full((rows, cols), value, dtype=dtype)


def test_missing_data_stops_at_once(tmp_path):
    data = tmp_path / "mnist.npz"
    message = refused(run("--data", data, "--out", tmp_path / "results"))
    assert message == (
        f"no {data}; build it with `.venv/bin/python mnist_prep.py` (offline: MNIST_SOURCE=DIR), "
        "or pass --data"
    )
    assert not (tmp_path / "results").exists()


def test_the_default_data_path_is_the_notebooks_mnist_npz():
    assert benchmark.DATA == REPO / "mnist.npz"


BAD_DATA = {
    "not an archive": (
        lambda path: path.write_bytes(b"not an npz"),
        "{path} is not a readable .npz archive (",
    ),
    "truncated archive": (
        lambda path: path.write_bytes(npz_bytes(path, X_train=x_train())[:200]),
        "{path} is not a readable .npz archive (",
    ),
    "a single array": (
        lambda path: path.write_bytes(npy_bytes(x_train())),
        "{path} is a single array, not an .npz archive with X_train",
    ),
    "no X_train": (
        lambda path: np.savez(path, X_valid=x_train(), y_train=np.zeros(3)),
        "{path} has no X_train array (it has X_valid, y_train)",
    ),
    "too few rows": (
        lambda path: np.savez(path, X_train=x_train(rows=10)),
        "{path}: X_train is float32 of shape (10, 784); expected float32 with at least 50000 "
        "rows of 784",
    ),
    "float64": (
        lambda path: np.savez(path, X_train=x_train(rows=1, dtype=np.float64)),
        "{path}: X_train is float64 of shape (1, 784); expected float32",
    ),
    "flat": (
        lambda path: np.savez(path, X_train=np.zeros(784, np.float32)),
        "{path}: X_train is float32 of shape (784,); expected float32",
    ),
}


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz_bytes(path, **arrays):
    np.savez(path, **arrays)
    return path.read_bytes()


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_one_line(tmp_path, case):
    make, message = BAD_DATA[case]
    data = tmp_path / "mnist.npz"
    make(data)
    assert refused(run("--data", data, "--out", tmp_path / "results")).startswith(
        message.format(path=data)
    )


@pytest.fixture
def small_rows(monkeypatch):
    """check_data with a 4-row threshold, so a good archive can be small."""
    monkeypatch.setattr(worker, "TRAIN_ROWS", 4)


@pytest.mark.parametrize("value", [-0.5, 1.5, np.nan])
def test_values_that_are_not_probabilities_are_refused(tmp_path, small_rows, value):
    x = x_train(rows=4)
    x[2, 100] = value
    data = tmp_path / "mnist.npz"
    np.savez(data, X_train=x)
    with pytest.raises(benchmark.InputError, match=r"X_train has values outside \[0, 1\]"):
        benchmark.check_data(data)


def test_good_data_passes_and_is_what_training_data_reads(tmp_path, small_rows):
    data = tmp_path / "mnist.npz"
    x = np.linspace(0, 1, 6 * 784, dtype=np.float32).reshape(6, 784)
    np.savez_compressed(data, X_train=x, X_valid=x[:1])
    benchmark.check_data(data)
    sample = worker.training_data(data)
    assert sample.shape == (4, 784) and sample.dtype == np.float32
    assert set(np.unique(sample)) <= {0.0, 1.0}


def options(tmp_path, **changes):
    values = {
        "epochs": 4,
        "threads": 2,
        "data": tmp_path / "mnist.npz",
        "out": tmp_path / "results",
        "lock": None,
    }
    return SimpleNamespace(**{**values, **changes})


@pytest.fixture
def good_data(tmp_path, small_rows):
    np.savez(tmp_path / "mnist.npz", X_train=x_train(rows=4))


def test_good_inputs_pass_and_make_the_results_folder(tmp_path, good_data):
    args = options(tmp_path, out=tmp_path / "new" / "results", lock=tmp_path / "cpu.lock")
    benchmark.check_inputs(args, ["default", "tuned"])
    assert (tmp_path / "new" / "results").is_dir()
    assert list((tmp_path / "new" / "results").iterdir()) == []


@pytest.mark.parametrize(
    "changes, configs, message",
    [
        ({"epochs": 0}, ["tuned"], "--epochs must be at least 1 (got 0)"),
        ({"threads": 0}, ["tuned"], "--threads must be at least 1 (got 0)"),
        ({}, ["default", ""], "--configs/--flags: empty or repeated Theano config"),
        ({}, ["tuned", "tuned"], "--configs/--flags: empty or repeated Theano config"),
    ],
)
def test_bad_options_are_refused(tmp_path, good_data, changes, configs, message):
    with pytest.raises(benchmark.InputError) as error:
        benchmark.check_inputs(options(tmp_path, **changes), configs)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize("below", ["", "results"])
def test_results_folder_below_a_file_is_refused_before_timing(tmp_path, below):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / below if below else blocker
    data = tmp_path / "mnist.npz"
    np.savez(data, X_train=x_train(rows=50_000, value=0))
    message = refused(run("--data", data, "--out", out))
    assert message == f"cannot write results to {out}: {blocker} is a file, not a folder"


def test_a_lock_file_that_cannot_be_opened_is_refused(tmp_path, good_data):
    lock = tmp_path / "a-file" / "cpu.lock"
    (tmp_path / "a-file").write_text("")
    with pytest.raises(benchmark.InputError, match="^cannot open the lock file .*cpu.lock"):
        benchmark.check_inputs(options(tmp_path, lock=lock), ["tuned"])
