"""The run record, ``metrics.json``: what one run of the notebook did, in its run folder.

``run_notebook.py`` writes it; ``historical/band.py``, ``compare.py`` and
``side_by_side.py`` read it; ``historical/replay.py`` and ``bench/benchmark.py``
record the versions and the machine the same way. Its fields, in order:

  status        "running" until the run ends, then how it ended: a key of ENDINGS
  runner        {"pid", "host"} of the process writing it: a "running" record whose runner
                is gone on this machine is a dead run (still_running)
  failure       null, or where the run stopped: {"cell", "line", "source", "error"}
  notebook      the notebook's path           started   the run's timestamp
  seed          numpy's seed, or null         kernel    the kernel's name
  stack         "today", "2016" (our kernelspecs' vae_legacy_stack), else the kernel's name
  wall_seconds  the whole run                 cell_seconds  each code cell's
  forward_pass  [LL, logpx, KL] (FORWARD_NAMES), parsed from what the notebook printed
  epochs        [{"epoch": e, "train_LL": ..., ...}] (EPOCH_NAMES), parsed likewise
  figures       the PNG files beside it
  environment   environment(), asked of the kernel after the last cell; on a GPU, "gpu":
                the GPU, its driver, CUDA, NVRTC and cuBLAS (gpu_backend.probe.describe)

Every file of a run folder is written whole (``write_whole``), so that a run can be read
while it goes.
"""

import inspect
import json
import os
import platform
import re
from pathlib import Path

from mnist_prep import pid_alive

FILE = "metrics.json"
RUNNING = "running"
# How a run ends, and what its folder's name gets for it: runs/<timestamp><ending>.
ENDINGS = {"ok": "", "failed": "-failed", "interrupted": "-interrupted"}

# The names the record gives the forward-pass triple and each epoch's six numbers.
FORWARD_NAMES = ["LL", "logpx", "KL"]
EPOCH_NAMES = ["train_LL", "train_KL", "train_logpx", "valid_LL", "valid_KL", "valid_logpx"]
# The versions environment() names, in the order reports show them.
VERSIONS = ["python", "theano", "lasagne", "numpy"]
THEANO_SETTINGS = [
    "floatX",
    "device",
    "blas__ldflags",
    "openmp",
    "linker",
    "allow_gc",
    "optimizer",
    "gcc__cxxflags",
    "compiledir",
]

# The notebook's two prints: the forward pass and an epoch's line.
_NUMBER = r"(-?\d+\.\d+|-?inf|nan)"
_FORWARD = re.compile(
    r"\[array\(([^,]+), dtype=float32\), array\(([^,]+), dtype=float32\), "
    r"array\(([^,]+), dtype=float32\)\]"
)
_EPOCH = re.compile(
    rf"Epoch (\d+)\tTrain: LL: {_NUMBER}\tKL {_NUMBER}\tlogpx: {_NUMBER}\t"
    rf"Valid: LL: {_NUMBER}\tKL {_NUMBER}\tlogpx: {_NUMBER}"
)


class RecordError(Exception):
    """A run folder without a record, or one that does not hold what a finished run writes."""


def parse_printed(stdout):
    """The forward-pass triple [LL, logpx, KL] and the epoch lines in what the notebook printed."""
    forward = _FORWARD.search(stdout)
    return {
        "forward_pass": [float(v) for v in forward.groups()] if forward else None,
        "epochs": [
            {
                "epoch": int(m[1]),
                **{name: float(v) for name, v in zip(EPOCH_NAMES, m.groups()[1:], strict=True)},
            }
            for m in _EPOCH.finditer(stdout)
        ],
    }


def environment():
    """This interpreter's versions and Theano settings (THEANO_SETTINGS).

    It also runs inside a kernel, sent as source (ENVIRONMENT_CODE), and there on Python 2.7
    too, where Theano 0.8.2 nests settings (config.blas.ldflags): so it imports what it
    needs itself and is written in Python 2.7 as well as 3.
    """
    import functools
    import os
    import platform
    import sys

    import lasagne
    import numpy
    import theano

    def setting(name):
        if hasattr(theano.config, name):
            return getattr(theano.config, name)
        return functools.reduce(getattr, name.split("__"), theano.config)

    found = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "theano": theano.__version__,
        "lasagne": lasagne.__version__,
        "numpy": numpy.__version__,
        "THEANORC": os.environ.get("THEANORC", ""),
        "THEANO_FLAGS": os.environ.get("THEANO_FLAGS", ""),
        "theano_config": dict((name, str(setting(name))) for name in THEANO_SETTINGS),
    }
    if str(setting("device")).startswith("cuda"):
        from gpu_backend.probe import describe

        found["gpu"] = describe()
    return found


# environment(), run in a kernel after the last cell: it prints the JSON, and leaves no names.
ENVIRONMENT_CODE = (
    f"THEANO_SETTINGS = {THEANO_SETTINGS!r}\n"
    + inspect.getsource(environment)
    + "print(__import__('json').dumps(environment()))\n"
    + "del THEANO_SETTINGS, environment\n"
)


def machine():
    """Platform, CPU model and core count of this machine."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    return {
        "platform": platform.platform(),
        "cpu": models[0] if models else platform.processor(),
        "cores": os.cpu_count(),
    }


def new(
    *,
    notebook,
    started,
    seed,
    kernel,
    stack,
    cell_seconds,
    status=RUNNING,
    runner=None,
    failure=None,
    wall_seconds=None,
    stdout="",
    figures=(),
    environment=None,
):
    """A record, its fields in their order; its numbers are parsed from ``stdout``."""
    return {
        "status": status,
        "runner": runner or this_runner(),
        "failure": failure,
        "notebook": str(notebook),
        "started": started,
        "seed": seed,
        "kernel": kernel,
        "stack": stack,
        "wall_seconds": wall_seconds,
        "cell_seconds": list(cell_seconds),
        **parse_printed(stdout),
        "figures": list(figures),
        "environment": environment or {},
    }


def this_runner():
    """Who writes a record: this process, on this machine (to tell a dead run from a live one)."""
    return {"pid": os.getpid(), "host": platform.node()}


def died(record):
    """Whether a record says "running" though its runner, on this machine, is gone."""
    return record.get("status") == RUNNING and still_running(record) is False


def still_running(record):
    """For a record that says "running": True if its runner is alive, False if it is gone
    (killed, or its machine stopped), None if that cannot be told (another machine's). A
    PID the system has since given to another process reads as alive."""
    runner = record.get("runner")
    pid = runner.get("pid") if isinstance(runner, dict) else None
    if not isinstance(pid, int) or runner.get("host") != platform.node():
        return None
    return pid_alive(pid)


def write_whole(path, data):
    """Write ``path`` (text or bytes) whole or not at all: a reader sees the old file or the
    new one, never half of it. For one writer at a time, as in a claimed run folder; not
    synced to disk (a crash of the machine may lose it)."""
    temporary = path.with_name(f".{path.name}.partial")
    if isinstance(data, str):
        temporary.write_text(data, encoding="utf-8")
    else:
        temporary.write_bytes(data)
    os.replace(temporary, path)


def write(folder, record):
    """Write ``record`` as ``folder``'s metrics.json, whole (a run may be read as it goes)."""
    write_whole(Path(folder) / FILE, json.dumps(record, indent=1) + "\n")


def read(folder):
    """The record in ``folder``, as it was written; RecordError if there is no JSON object."""
    path = Path(folder) / FILE
    if not path.is_file():
        raise RecordError(f"no {FILE} in {folder}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RecordError(f"cannot read {path}: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(record, dict):
        raise RecordError(f"{path} does not hold a metrics object")
    return record


def read_finished(folder):
    """The record of a run that ended "ok", checked to hold a number for every field it
    parses; RecordError, saying what is wrong in one line, for any other."""
    record, path = read(folder), Path(folder) / FILE
    status = record.get("status")
    if status == "failed":
        failure = record.get("failure")
        failure = failure if isinstance(failure, dict) else {"error": failure}
        where = f" at cell {failure['cell']}" if failure.get("cell") is not None else ""
        raise RecordError(f"the run failed{where}: {failure.get('error') or 'no error recorded'}")
    alive = still_running(record) if status == RUNNING else None
    if alive is False:
        raise RecordError(
            f"{path}: the run died before it ended (its runner, pid {record['runner']['pid']} "
            "on this machine, is gone: killed, or the machine stopped)"
        )
    if alive:
        raise RecordError(f"{path}: the run is still going (pid {record['runner']['pid']})")
    if status != "ok":
        raise RecordError(f"{path} has status {shown(status) if 'status' in record else 'missing'}")
    forward = record.get("forward_pass")
    if not (isinstance(forward, list) and len(forward) == 3) or not all(map(is_number, forward)):
        raise RecordError(f"{path} has no forward pass [LL, logpx, KL] (got {shown(forward)})")
    epochs = record.get("epochs")
    if not isinstance(epochs, list) or not epochs:
        raise RecordError(f"{path} has no epoch lines")
    check_epochs(epochs, path)
    return record


def check_epochs(epochs, where):
    """RecordError unless every epoch entry is an object with a number for each EPOCH_NAMES."""
    for e, entry in enumerate(epochs):
        if not isinstance(entry, dict):
            raise RecordError(f"{where}: epoch {e} is {shown(entry)}, not an object of six numbers")
        for name in EPOCH_NAMES:
            if not is_number(entry.get(name)):
                got = shown(entry[name]) if name in entry else "missing"
                raise RecordError(f"{where}: epoch {e} has no number for {name} ({got})")


def is_number(value):
    """A JSON number that is a float (nan and inf included), not a bool."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        float(value)
    except OverflowError:  # an integer with hundreds of digits
        return False
    return True


def shown(value):
    """A JSON value as a short phrase for a message: ``null``, ``"26.6"``, ``[1, 2]``, ..."""
    text = "null" if value is None else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
