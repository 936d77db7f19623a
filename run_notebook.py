"""Run the original notebook, unchanged, headless, and keep everything it produced.

Builds ``mnist.npz`` if it is missing (``mnist_prep.py``; set MNIST_SOURCE to use
a local copy of MNIST), executes ``vae_exercise.ipynb`` on the project's kernel in
the notebook's folder, and writes one run folder ``runs/<timestamp>/``:

  vae_exercise.ipynb  the executed notebook       stdout.txt    what the cells printed
  vae_exercise.html   its HTML export             metrics.json  numbers parsed from stdout,
  cellNN-K.png        every figure                              versions and Theano flags

Progress (the running cell, the printed lines) goes to the terminal as it comes.
A failing cell stops the run with its number, its source line and the error;
the run folder is then kept as ``runs/<timestamp>-failed``.
"""

import argparse
import base64
import json
import re
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.paths import jupyter_runtime_dir
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
from nbclient.util import run_sync
from nbconvert import HTMLExporter
from traitlets import default

import mnist_prep

REPO = Path(__file__).resolve().parent
NUMBER = r"(-?\d+\.\d+|-?inf|nan)"
FORWARD = re.compile(
    r"\[array\(([^,]+), dtype=float32\), array\(([^,]+), dtype=float32\), "
    r"array\(([^,]+), dtype=float32\)\]"
)
EPOCH = re.compile(
    rf"Epoch (\d+)\tTrain: LL: {NUMBER}\tKL {NUMBER}\tlogpx: {NUMBER}\t"
    rf"Valid: LL: {NUMBER}\tKL {NUMBER}\tlogpx: {NUMBER}"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The names metrics.json gives the forward-pass triple and each epoch's six numbers.
FORWARD_NAMES = ["LL", "logpx", "KL"]
EPOCH_NAMES = ["train_LL", "train_KL", "train_logpx", "valid_LL", "valid_KL", "valid_logpx"]
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
# Asked of the kernel after the last cell, so the record is what the notebook ran with.
# Python 2.7 too (the 2016 stack), where Theano 0.8.2 nests settings: config.blas.ldflags.
ENVIRONMENT_CODE = f"""
def _environment():
    import functools, json, os, platform, sys, lasagne, numpy, theano
    def setting(name):
        if hasattr(theano.config, name):
            return getattr(theano.config, name)
        return functools.reduce(getattr, name.split("__"), theano.config)
    return json.dumps({{
        "python": platform.python_version(), "executable": sys.executable,
        "theano": theano.__version__, "lasagne": lasagne.__version__, "numpy": numpy.__version__,
        "THEANORC": os.environ.get("THEANORC", ""),
        "THEANO_FLAGS": os.environ.get("THEANO_FLAGS", ""),
        "theano_config": dict((k, str(setting(k))) for k in {THEANO_SETTINGS!r}),
    }})
print(_environment())
del _environment
"""


def parse_metrics(stdout):
    """The forward-pass triple [LL, logpx, KL] and the per-epoch lines the notebook prints."""
    forward = FORWARD.search(stdout)
    return {
        "forward_pass": [float(v) for v in forward.groups()] if forward else None,
        "epochs": [
            {
                "epoch": int(m[1]),
                **{name: float(v) for name, v in zip(EPOCH_NAMES, m.groups()[1:], strict=True)},
            }
            for m in EPOCH.finditer(stdout)
        ],
    }


class IPCKernelManager(AsyncKernelManager):
    """A kernel on IPC sockets beside its connection file in Jupyter's runtime folder.

    Not TCP: ipykernel warns that TCP traffic is not encrypted, and a local run needs no
    port. The socket paths derive from the connection file, so they are absolute; a bare
    KernelManager's (a relative ``kernel-ipc``) would be looked for in this process's folder
    and made in the kernel's, the notebook's. The environment's Jupyter servers do the same
    through the ``jupyter_config.json`` that ``legacy.install`` writes.
    """

    @default("transport")
    def _transport_default(self):
        return "ipc"

    @default("connection_file")
    def _connection_file_default(self):
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        return str(runtime / f"kernel-{uuid.uuid4()}.json")


class StreamingClient(NotebookClient):
    """An nbclient client that shows each cell and its printed lines as they come."""

    def __init__(self, nb, log, **kwargs):
        super().__init__(nb, **kwargs)
        self.log_to = log

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
            self.log_to.write(msg["content"]["text"])
            self.log_to.flush()
        return super().output(outs, msg, display_id, cell_index)


def failing_line(cell, error):
    """The source line a cell's error points at (IPython prints ``Cell In[n], line k``)."""
    found = re.findall(r"line (\d+)", ANSI.sub("", error.traceback or str(error)))
    lines = cell.source.splitlines()
    number = int(found[0]) if found else None
    if number is None or not 1 <= number <= len(lines):
        return None, None
    return number, lines[number - 1].strip()


def kernel_print(client, code):
    """Run ``code`` in the kernel outside the notebook; return what it printed."""
    printed = []

    def keep(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    run_sync(client.kc.execute_interactive)(code, output_hook=keep, timeout=60)
    return "".join(printed)


def execute(nb, folder, log, seed=None):
    """Execute the notebook cell by cell; return (stdout, environment, failure or None)."""
    client = StreamingClient(
        nb,
        log,
        kernel_name=nb.metadata.kernelspec.name,
        kernel_manager_class=IPCKernelManager,
        timeout=None,
        resources={"metadata": {"path": str(folder)}},
    )
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    failure, environment = None, {}
    with client.setup_kernel():
        if seed is not None:
            kernel_print(client, f"import numpy; numpy.random.seed({int(seed)}); del numpy")
        for number, index in enumerate(code, 1):
            cell = nb.cells[index]
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            log.write(f"[cell {number}/{len(code)}] {first}\n")
            log.flush()
            start = time.perf_counter()
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                line, text = failing_line(cell, error)
                failure = {
                    "cell": number,
                    "line": line,
                    "source": text,
                    "error": f"{error.ename}: {error.evalue}",
                }
                break
            except DeadKernelError as error:
                failure = {"cell": number, "line": None, "source": None, "error": str(error)}
                break
            cell.metadata["wall_seconds"] = round(time.perf_counter() - start, 3)
        if run_sync(client.kc.is_alive)():
            environment = json.loads(kernel_print(client, ENVIRONMENT_CODE))
    stdout = "".join(
        out.get("text", "")
        for i in code
        for out in nb.cells[i].get("outputs", [])
        if out.output_type == "stream" and out.name == "stdout"
    )
    return stdout, environment, failure


def save_figures(nb, folder):
    names = []
    for index, cell in enumerate(nb.cells):
        pngs = [
            o.data["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})
        ]
        for k, png in enumerate(pngs, 1):
            name = f"cell{index:02d}-{k}.png"
            (folder / name).write_bytes(base64.b64decode(png))
            names.append(name)
    return names


def use_kernel(nb, name):
    """Point the notebook's metadata at kernel ``name``; return that kernel's stack.

    The stack ("today", "2016") is the ``vae_legacy_stack`` metadata our kernelspecs
    carry; another kernel's is its name.
    """
    spec = KernelSpecManager().get_kernel_spec(name)
    nb.metadata.kernelspec = {
        "name": name,
        "display_name": spec.display_name,
        "language": spec.language,
    }
    return spec.metadata.get("vae_legacy_stack", name)


def run(notebook, runs_dir, log=None, seed=None, kernel=None):
    """Execute ``notebook`` in its folder and write a run folder; return (folder, failure).

    Progress goes to ``log``, by default the ``sys.stderr`` of the time of the call.
    ``seed`` seeds numpy's global generator in the kernel before the first cell (the
    notebook itself never seeds); it is recorded, and the notebook is left as it is.
    ``kernel`` names the kernel to run on; by default the one the notebook names.
    """
    notebook = Path(notebook).resolve()
    nb = nbformat.read(notebook, as_version=4)
    stack = use_kernel(nb, kernel or nb.metadata.kernelspec.name)
    stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    runs_dir = Path(runs_dir)
    start = time.perf_counter()
    stdout, environment, failure = execute(nb, notebook.parent, log or sys.stderr, seed)
    wall = time.perf_counter() - start

    work = runs_dir / f".{stamp}.partial"
    work.mkdir(parents=True)
    nbformat.write(nb, work / notebook.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (work / notebook.with_suffix(".html").name).write_text(html, encoding="utf-8")
    (work / "stdout.txt").write_text(stdout, encoding="utf-8")
    metrics = {
        "status": "failed" if failure else "ok",
        "failure": failure,
        "notebook": str(notebook),
        "started": stamp,
        "seed": seed,
        "kernel": nb.metadata.kernelspec.name,
        "stack": stack,
        "wall_seconds": round(wall, 1),
        "cell_seconds": [c.metadata.get("wall_seconds") for c in nb.cells if c.cell_type == "code"],
        **parse_metrics(stdout),
        "figures": save_figures(nb, work),
        "environment": environment,
    }
    (work / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    final = runs_dir / (stamp + ("-failed" if failure else ""))
    work.rename(final)
    return final, failure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", default=REPO / "vae_exercise.ipynb", type=Path)
    parser.add_argument("--runs", default=REPO / "runs", type=Path, help="where run folders go")
    parser.add_argument("--no-data", action="store_true", help="do not build mnist.npz")
    parser.add_argument("--seed", type=int, help="seed numpy in the kernel before the first cell")
    parser.add_argument(
        "--kernel", help="run on this kernel, e.g. vae-legacy-2016 (default: the notebook's)"
    )
    args = parser.parse_args(argv)
    if not args.no_data:
        status = mnist_prep.main(["--out", str(args.notebook.resolve().parent / "mnist.npz")])
        if status:
            return status
    folder, failure = run(args.notebook, args.runs, seed=args.seed, kernel=args.kernel)
    if failure:
        where = f"cell {failure['cell']}" + (f", line {failure['line']}" if failure["line"] else "")
        print(
            f"run_notebook: {where}: {failure['source'] or ''}\n  {failure['error']}",
            file=sys.stderr,
        )
        print(f"run_notebook: partial run kept in {folder}", file=sys.stderr)
        return 1
    metrics = json.loads((folder / "metrics.json").read_text())
    print(f"run_notebook: done in {metrics['wall_seconds']} s; run folder {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
