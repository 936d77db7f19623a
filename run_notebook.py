"""Run the original notebook, unchanged, headless, and keep everything it produced.

Builds ``mnist.npz`` if it is missing (``mnist_prep.py``; set MNIST_SOURCE to use
a local copy of MNIST), executes ``vae_exercise.ipynb`` on the project's kernel in
the notebook's folder, and writes one run folder ``runs/<timestamp>/``:

  vae_exercise.ipynb  the executed notebook       stdout.txt    what the cells printed
  vae_exercise.html   its HTML export             metrics.json  numbers parsed from stdout,
  cellNN-K.png        every figure                              versions and Theano flags

The run folder is claimed before the first cell runs (``runs/<timestamp>-2`` for a
second run in the same second); until the run ends its metrics.json says "running".
Progress (the running cell, the printed lines) goes to the terminal as it comes, and a
line every minute while one cell runs; ``--cell-timeout S`` fails a run whose cell runs
longer than S seconds, keeping what ran.
A failing cell stops the run with its number, its source line and the error;
the run folder is then kept as ``runs/<timestamp>-failed``. Ctrl-C stops the running
cell and keeps what ran as ``runs/<timestamp>-interrupted`` (exit status 130); SIGTERM and
SIGHUP do the same (exit status 143, 129), the record naming the signal.
"""

import argparse
import asyncio
import base64
import contextlib
import functools
import itertools
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import ensure_event_loop
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbconvert import HTMLExporter
from traitlets import default

import mnist_prep
import run_record
from gpu_backend import probe

REPO = Path(__file__).resolve().parent
# Asked of the kernel after a cell failed: the line of the cell's own code the error came
# from, from the traceback's frames (the frame after IPython's run_code, which runs the
# cell, names the cell's file; the innermost frame in that file is the line), or, for a
# cell that did not compile, from its SyntaxError. Python 2.7 too (the 2016 stack).
FAILURE_CODE = """
def _failure():
    import json, sys
    value, tb, frames = getattr(sys, "last_value", None), getattr(sys, "last_traceback", None), []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((code.co_filename, code.co_name, tb.tb_lineno))
        tb = tb.tb_next
    runs = [i for i, frame in enumerate(frames)
            if frame[1] == "run_code" and frame[0].endswith("interactiveshell.py")]
    found = {"line": None, "message": None}
    if runs and runs[0] + 1 < len(frames):
        cell = frames[runs[0] + 1][0]
        found["line"] = [line for name, _, line in frames if name == cell][-1]
    elif isinstance(value, SyntaxError):
        found["line"], found["message"] = value.lineno, value.msg
    return json.dumps(found)
print(_failure())
del _failure
"""
STAMP = "%Y-%m-%dT%H-%M-%S"
# numpy.random.seed takes 0 to 2**32 - 1; another seed would raise in the kernel, leaving numpy
# unseeded.
MAX_SEED = 2**32 - 1


class RunError(Exception):
    """What keeps a run from starting, or from being kept, said in one line."""


def numpy_seed(text):
    """A seed numpy takes, from the command line; RunError, in one line, for any other."""
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed <= MAX_SEED:
        raise RunError(f"numpy's seed is a whole number from 0 to {MAX_SEED}, not {text!r}")
    return seed


class IPCKernelManager(AsyncKernelManager):
    """A kernel on IPC sockets beside its connection file in Jupyter's runtime folder.

    Not TCP: ipykernel warns that TCP traffic is not encrypted, and a local run needs no
    port. The socket paths derive from the connection file, so they are absolute; a bare
    KernelManager's (a relative ``kernel-ipc``) would be looked for in this process's folder
    and made in the kernel's, the notebook's. The environment's Jupyter servers do the same
    through the ``jupyter_config.json`` that the install puts in the environment (``install/``).
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
        self.line_open = False

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream" and msg["content"]["text"]:
            self.log_to.write(msg["content"]["text"])
            self.log_to.flush()
            self.line_open = not msg["content"]["text"].endswith("\n")
        return super().output(outs, msg, display_id, cell_index)


class Interrupts:
    """Ctrl-C during a run, in the main thread, and SIGTERM and SIGHUP (a cancelled job,
    ``timeout``, a closed terminal) the same way.

    The first one interrupts the running cell (the kernel gets its own Ctrl-C) and the run
    ends after it, keeping what ran; one before a cell starts ends the run there. Another
    while still waiting on the kernel stops waiting. Saving the run folder is never
    interrupted. Where a signal is not at its default (ignored, or handled by the caller),
    nothing changes for it. ``stopped_by`` is the first signal's name.
    """

    DEFAULTS = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.SIG_DFL,
        signal.SIGHUP: signal.SIG_DFL,
    }

    def __init__(self):
        self.requested = self.waiting = False
        self.stopped_by = None
        self.client = None
        self.previous = {}
        self.tasks = set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum, default in self.DEFAULTS.items():
                if signal.getsignal(signum) is default:
                    self.previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)

    def handle(self, signum, frame):
        if self.requested and self.waiting:
            raise KeyboardInterrupt
        self.requested = True
        self.stopped_by = self.stopped_by or signal.Signals(signum).name
        if self.client is not None:
            self.interrupt_kernel(self.client)

    def interrupt_kernel(self, client):
        """Have the event loop nbclient is waiting in interrupt the kernel."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        async def interrupt():
            with contextlib.suppress(Exception):
                await ensure_async(client.km.interrupt_kernel())

        def start():
            task = loop.create_task(interrupt())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        loop.call_soon_threadsafe(start)

    @contextlib.contextmanager
    def cell(self, client):
        """While a cell runs: Ctrl-C interrupts it."""
        self.client = client
        try:
            yield
        finally:
            self.client = None

    @contextlib.contextmanager
    def kernel(self):
        """While the run waits on the kernel: a second Ctrl-C stops waiting."""
        self.waiting = True
        try:
            yield
        finally:
            self.waiting = False


def kernel_print(client, code, timeout=60):
    """Run ``code`` in the kernel outside the notebook; return what it printed."""
    printed = []

    def keep(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    run_sync(client.kc.execute_interactive)(code, output_hook=keep, timeout=timeout)
    return "".join(printed)


def kernel_json(client, code, timeout=60):
    """What ``code`` prints in the kernel, read as JSON; {} if the kernel does not say."""
    try:
        return json.loads(kernel_print(client, code, timeout))
    except Exception:
        return {}


def failure_of(client, cell, number, error):
    """The record of a cell that raised ``error``: its number, the line (asked of the
    kernel, see FAILURE_CODE) and its source, and the error."""
    found = kernel_json(client, FAILURE_CODE, timeout=30)
    lines = cell.source.splitlines()
    line = found.get("line")
    if not (isinstance(line, int) and 1 <= line <= len(lines)):
        line = None
    message = found.get("message") or error.evalue
    return {
        "cell": number,
        "line": line,
        "source": lines[line - 1].strip() if line else None,
        "error": f"{error.ename}: {message}" if message else error.ename,
    }


def abandon_tasks():
    """Cancel what nbclient left waiting in its event loop when a second Ctrl-C stopped it."""
    loop = ensure_event_loop()
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


@contextlib.contextmanager
def still_running(log, label, every):
    """While a cell runs: every ``every`` seconds, a line saying it still does, since when."""
    done, start = threading.Event(), time.monotonic()

    def beat():
        while not done.wait(every):
            minutes, seconds = divmod(int(time.monotonic() - start), 60)
            log.write(f"{label} still running ({minutes} min {seconds:02d} s)\n")
            log.flush()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def execute(nb, folder, log, seed=None, interrupts=None, cell_timeout=None, heartbeat=60):
    """Execute the notebook cell by cell; return (stdout, environment, failure or None,
    whether Ctrl-C stopped it). A cell running past ``cell_timeout`` seconds fails the run."""
    interrupts = interrupts or Interrupts()
    client = StreamingClient(
        nb,
        log,
        kernel_name=nb.metadata.kernelspec.name,
        kernel_manager_class=IPCKernelManager,
        timeout=cell_timeout,
        resources={"metadata": {"path": str(folder)}},
    )
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    failure, environment, interrupted, number, ran = None, {}, False, 1, False
    try:
        with interrupts.kernel(), client.setup_kernel():
            try:
                if seed is not None:
                    seeding = f"import numpy; numpy.random.seed({int(seed)}); del numpy"
                    if kernel_print(client, seeding + "; print('seeded')").split() != ["seeded"]:
                        raise RuntimeError(f"numpy could not be seeded with {seed} in the kernel")
                for number, index in enumerate(code, 1):
                    if interrupts.requested:
                        failure = {"cell": number, "line": None, "source": None}
                        failure["error"] = "KeyboardInterrupt: stopped before this cell"
                        interrupted = True
                        break
                    cell = nb.cells[index]
                    first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                    label = f"[cell {number}/{len(code)}]"
                    log.write(f"{label} {first}\n")
                    log.flush()
                    start = time.perf_counter()
                    try:
                        with interrupts.cell(client), still_running(log, label, heartbeat):
                            client.execute_cell(cell, index)
                    except CellTimeoutError:
                        failure = {"cell": number, "line": None, "source": None}
                        failure["error"] = f"the cell ran past its limit of {cell_timeout} s"
                        run_sync(client.km.interrupt_kernel)()
                        break
                    except CellExecutionError as error:
                        failure = failure_of(client, cell, number, error)
                        interrupted = interrupts.requested and error.ename == "KeyboardInterrupt"
                        break
                    except DeadKernelError as error:  # a signal to the whole group, too
                        failure = {"cell": number, "line": None, "source": None}
                        failure["error"] = str(error)
                        interrupted = interrupts.requested
                        break
                    cell.metadata["wall_seconds"] = round(time.perf_counter() - start, 3)
                else:
                    ran = True
                if run_sync(client.kc.is_alive)():
                    environment = kernel_json(client, run_record.ENVIRONMENT_CODE)
            except KeyboardInterrupt:
                abandon_tasks()
                raise
    except KeyboardInterrupt:  # a second Ctrl-C: the run stopped waiting on the kernel
        if failure is None and not ran:
            failure = {"cell": number, "line": None, "source": None, "error": "KeyboardInterrupt"}
            interrupted = True
    except Exception as error:  # the kernel did not start, or the client lost it
        if failure is None:
            failure = {"cell": number, "line": None, "source": None}
            failure["error"] = f"{type(error).__name__}: {error}"
    if client.line_open:
        log.write("\n")
    stdout = "".join(
        out.get("text", "")
        for i in code
        for out in nb.cells[i].get("outputs", [])
        if out.output_type == "stream" and out.name == "stdout"
    )
    return stdout, environment, failure, interrupted


def save_figures(nb, folder):
    names = []
    for index, cell in enumerate(nb.cells):
        pngs = [
            o.data["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})
        ]
        for k, png in enumerate(pngs, 1):
            name = f"cell{index:02d}-{k}.png"
            run_record.write_whole(folder / name, base64.b64decode(png))
            names.append(name)
    return names


def read_notebook(path):
    """The notebook at ``path``; RunError if there is none."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"no notebook {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # JSON, schema and encoding errors alike
        raise RunError(f"{path} is not a notebook: {error}") from None


def use_kernel(nb, name=None):
    """Point the notebook's metadata at kernel ``name`` (default: the one it names); return
    that kernel's stack.

    The stack ("today", "2016") is the ``vae_legacy_stack`` metadata our kernelspecs
    carry; another kernel's is its name. A kernel whose environment is not whole (the
    ``vae_legacy_ready`` file its metadata names is missing: a build cut off or under way)
    is refused, saying how to make it.
    """
    name = name or nb.metadata.get("kernelspec", {}).get("name")
    if not name:
        raise RunError("the notebook names no kernel: say which with --kernel")
    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise RunError(f"no kernel '{name}' (installed: {known})") from None
    ready = spec.metadata.get("vae_legacy_ready")
    if ready and not Path(ready["file"]).exists():
        raise RunError(f"kernel '{name}' is not built whole: run {ready['make']}")
    nb.metadata.kernelspec = {
        "name": name,
        "display_name": spec.display_name,
        "language": spec.language,
    }
    return spec.metadata.get("vae_legacy_stack", name)


def dead_runs(runs_dir):
    """The run folders in ``runs_dir`` whose record says "running" though their runner, on
    this machine, is gone (killed with SIGKILL, or the machine stopped)."""
    dead = []
    for folder in sorted(Path(runs_dir).iterdir()) if Path(runs_dir).is_dir() else []:
        try:
            record = run_record.read(folder)
        except run_record.RecordError:
            continue
        if run_record.died(record):
            dead.append(folder)
    return dead


def runs_folder(runs_dir):
    """Make ``runs_dir`` if needed and check that run folders can be written in it."""
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise RunError(f"{runs_dir} is a file, not a folder for runs")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=runs_dir).close()
    except OSError as error:
        raise RunError(f"cannot write run folders in {runs_dir}: {error.strerror}") from None
    return runs_dir


def claim_run_folder(runs_dir, stamp):
    """Make a new, empty ``runs_dir/<stamp>`` (or ``<stamp>-2``, ... if that name is taken):
    made with one mkdir, so no other run can have it, and free under all its endings."""
    runs_dir = runs_folder(runs_dir)
    for n in itertools.count(1):
        name = stamp if n == 1 else f"{stamp}-{n}"
        if any(
            (runs_dir / (name + ending)).exists()
            for ending in run_record.ENDINGS.values()
            if ending
        ):
            continue
        try:
            (runs_dir / name).mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise RunError(f"cannot write run folders in {runs_dir}: {error.strerror}") from None
        return runs_dir / name


def record_of(nb, notebook, stamp, seed, stack, **outcome):
    """This run's metrics.json (run_record): what it ran, and ``outcome`` so far."""
    return run_record.new(
        notebook=notebook,
        started=stamp,
        seed=seed,
        kernel=nb.metadata.kernelspec.name,
        stack=stack,
        cell_seconds=[c.metadata.get("wall_seconds") for c in nb.cells if c.cell_type == "code"],
        **outcome,
    )


def save_run(folder, nb, notebook, stdout, log):
    """Write the executed notebook, its HTML, stdout and the figures; return the figures."""
    run_record.write_whole(folder / notebook.name, nbformat.writes(nb))
    try:
        html, _ = HTMLExporter().from_notebook_node(nb)
    except Exception as error:  # keep the run without its HTML rather than lose it
        log.write(f"run_notebook: no HTML export ({type(error).__name__}: {error})\n")
    else:
        run_record.write_whole(folder / notebook.with_suffix(".html").name, html)
    run_record.write_whole(folder / "stdout.txt", stdout)
    return save_figures(nb, folder)


def unsaved(folder, record, wall, error):
    """A run that could not be saved (a full disk): its half-written files removed, it ends
    as failed, saying why, as far as the disk allows; the one line that says so."""
    why = f"could not save the run: {error.strerror or error}"
    for partial in folder.glob(".*.partial"):
        partial.unlink(missing_ok=True)
    failure = {"cell": None, "line": None, "source": None, "error": why}
    with contextlib.suppress(OSError):
        run_record.write(folder, record(status="failed", failure=failure, wall_seconds=wall))
    failed = folder.with_name(folder.name + run_record.ENDINGS["failed"])
    with contextlib.suppress(OSError):
        folder = folder.rename(failed)
    return f"{why}; what was saved is in {folder}"


def run(notebook, runs_dir, log=None, seed=None, kernel=None, cell_timeout=None, heartbeat=60):
    """Execute ``notebook`` in its folder and write a run folder; return (folder, failure).

    Progress goes to ``log``, by default the ``sys.stderr`` of the time of the call.
    ``seed`` seeds numpy's global generator in the kernel before the first cell (the
    notebook itself never seeds); it is recorded, and the notebook is left as it is.
    ``kernel`` names the kernel to run on; by default the one the notebook names.
    The run folder is claimed before the kernel starts, and holds a metrics.json saying
    "running" until the run ends; it is then named for how the run ended
    (run_record.ENDINGS),
    ``failure`` saying where it stopped. RunError: no such notebook or kernel, or a
    ``runs_dir`` where run folders cannot be written.
    """
    notebook = Path(notebook).resolve()
    log = log or sys.stderr
    if seed is not None:
        numpy_seed(seed)
    nb = read_notebook(notebook)
    stack = use_kernel(nb, kernel)
    with Interrupts() as interrupts:
        stamp = datetime.now().strftime(STAMP)
        folder = claim_run_folder(runs_dir, stamp)
        record = functools.partial(record_of, nb, notebook, stamp, seed, stack)
        try:
            run_record.write(folder, record())
        except OSError as error:
            folder.rmdir()
            raise RunError(f"cannot write in {folder}: {error.strerror}") from None
        start = time.perf_counter()
        stdout, environment, failure, interrupted = execute(
            nb, notebook.parent, log, seed, interrupts, cell_timeout, heartbeat
        )
        wall = round(time.perf_counter() - start, 1)
        status = "interrupted" if interrupted else "failed" if failure else "ok"
        if interrupted and interrupts.stopped_by not in (None, "SIGINT"):
            failure["error"] = interrupts.stopped_by  # what stopped it, not what the cell saw
        try:
            figures = save_run(folder, nb, notebook, stdout, log)
            run_record.write(
                folder,
                record(
                    status=status,
                    failure=failure,
                    stdout=stdout,
                    wall_seconds=wall,
                    figures=figures,
                    environment=environment,
                ),
            )
        except OSError as error:
            raise RunError(unsaved(folder, record, wall, error)) from None
    final = folder.with_name(folder.name + run_record.ENDINGS[status])
    if final != folder:
        try:
            folder.rename(final)
        except OSError:
            final = folder  # its metrics.json says how it ended
    return final, failure


def use_device(device):
    """Run the kernel's Theano on ``device``: "cpu" as the theanorc says, or "cuda", after
    asking that a GPU opens here (RunError, in one line, if not)."""
    if device == "cpu":
        return
    try:
        name, architecture = probe.probe()
    except probe.NoGpu as error:
        raise RunError(f"cannot run on the GPU: {error}") from None
    flags = os.environ.get("THEANO_FLAGS", "")
    os.environ["THEANO_FLAGS"] = f"{flags},device={device}" if flags else f"device={device}"
    print(f"run_notebook: Theano on {device}: {name} ({architecture})", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", default=REPO / "vae_exercise.ipynb", type=Path)
    parser.add_argument("--runs", default=REPO / "runs", type=Path, help="where run folders go")
    parser.add_argument("--no-data", action="store_true", help="do not build mnist.npz")
    parser.add_argument(
        "--seed", help="seed numpy in the kernel before the first cell (0 to 2**32 - 1)"
    )
    parser.add_argument(
        "--kernel", help="run on this kernel, e.g. vae-legacy-2016 (default: the notebook's)"
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where Theano computes"
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        metavar="SECONDS",
        help="fail the run when one cell runs longer (default: no limit)",
    )
    args = parser.parse_args(argv)
    try:
        seed = None if args.seed is None else numpy_seed(args.seed)
        use_kernel(read_notebook(args.notebook), args.kernel)
        runs_folder(args.runs)
        for folder in dead_runs(args.runs):
            print(f"run_notebook: {folder} never ended: its runner is gone", file=sys.stderr)
        use_device(args.device)
        if not args.no_data:
            status = mnist_prep.main(["--out", str(args.notebook.resolve().parent / "mnist.npz")])
            if status:
                return status
        if args.cell_timeout is not None and not args.cell_timeout > 0:
            raise RunError(
                f"--cell-timeout is a number of seconds above 0, not {args.cell_timeout}"
            )
        folder, failure = run(
            args.notebook, args.runs, seed=seed, kernel=args.kernel, cell_timeout=args.cell_timeout
        )
    except RunError as error:
        print(f"run_notebook: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("run_notebook: interrupted before the notebook ran", file=sys.stderr)
        return 130
    metrics = run_record.read(folder)
    if failure:
        where = f"cell {failure['cell']}" + (f", line {failure['line']}" if failure["line"] else "")
        if metrics["status"] == "interrupted":
            source = f" ({failure['source']})" if failure["source"] else ""
            stopped = failure["error"] if failure["error"] in ("SIGTERM", "SIGHUP") else None
            how = f"stopped by {stopped}" if stopped else "interrupted"
            print(
                f"run_notebook: {how} at {where}{source}; partial run kept in {folder}",
                file=sys.stderr,
            )
            return 128 + signal.Signals[stopped] if stopped else 130
        print(
            f"run_notebook: {where}: {failure['source'] or ''}\n  {failure['error']}",
            file=sys.stderr,
        )
        print(f"run_notebook: partial run kept in {folder}", file=sys.stderr)
        return 1
    print(f"run_notebook: done in {metrics['wall_seconds']} s; run folder {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
