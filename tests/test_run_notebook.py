"""The unchanged notebook runs headless on the project kernel; its run folder holds what it did.

The notebook runs on a small synthetic, digit-like ``mnist.npz`` (no real MNIST
needed), in a temporary copy of its folder.
"""

import concurrent.futures
import datetime
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from conftest import REPO, WARNING_LINE, copy_of_notebook

import notebook_cells
import run_notebook
import run_record


def test_forward_pass_of_the_unchanged_notebook(notebook_folder, tmp_path):
    """CI's smoke test: the notebook's own cells up to and including `print  f_train(x_valid)`."""
    notebook = copy_of_notebook(notebook_folder, "forward.ipynb", notebook_cells.FORWARD)
    folder, failure = run_notebook.run(notebook, tmp_path / "runs")
    assert failure is None
    metrics = run_record.read(folder)
    LL, logpx, KL = metrics["forward_pass"]
    assert all(math.isfinite(v) for v in (LL, logpx, KL))
    assert LL == pytest.approx(logpx - KL, rel=1e-5, abs=1e-3)
    assert KL >= 0
    assert metrics["environment"]["theano_config"]["floatX"] == "float32"


def test_whole_notebook_end_to_end(notebook_folder, tmp_path, capfd):
    notebook = copy_of_notebook(notebook_folder, "vae_exercise.ipynb")
    status = run_notebook.main(
        ["--notebook", str(notebook), "--runs", str(tmp_path / "runs"), "--no-data", "--seed", "4"]
    )
    assert status == 0
    # What `make run` shows: the cells and their prints, and no warning, the kernel's own
    # included (its stderr is ours), such as ipykernel's about unencrypted TCP.
    out, err = capfd.readouterr()
    assert "[cell 10/10]" in err and "Epoch 9\tTrain" in err
    assert not WARNING_LINE.findall(out + err), out + err
    (folder,) = (tmp_path / "runs").iterdir()
    metrics = run_record.read(folder)
    assert metrics["status"] == "ok" and metrics["seed"] == 4
    assert [e["epoch"] for e in metrics["epochs"]] == list(range(10))
    for e in metrics["epochs"]:
        for split in ("train", "valid"):
            LL, KL, logpx = e[f"{split}_LL"], e[f"{split}_KL"], e[f"{split}_logpx"]
            assert all(math.isfinite(v) for v in (LL, KL, logpx))
            assert abs(LL - (logpx - KL)) <= 0.15  # three numbers each rounded to 0.1
            assert KL >= 0
    assert metrics["epochs"][-1]["train_LL"] > metrics["epochs"][0]["train_LL"]
    assert len(metrics["figures"]) == 5
    assert all(
        (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in metrics["figures"]
    )
    assert "Epoch 9\tTrain: LL:" in (folder / "stdout.txt").read_text()
    assert "MNIST handwritten" in (folder / "vae_exercise.html").read_text()
    executed = nbformat.read(folder / "vae_exercise.ipynb", as_version=4)
    assert [c.source for c in executed.cells] == [
        c.source for c in nbformat.read(notebook_cells.NOTEBOOK, as_version=4).cells
    ]


def test_a_failing_cell_stops_the_run_and_names_its_line(tmp_path, capsys):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("print 'first'"),
            nbformat.v4.new_code_cell("x = 1\ny = 0\nz = x / y\nprint 'never'"),
            nbformat.v4.new_code_cell("print 'not reached'"),
        ],
        metadata={"kernelspec": {"name": "vae-legacy", "display_name": "", "language": "python"}},
    )
    notebook = tmp_path / "broken.ipynb"
    nbformat.write(nb, notebook)
    status = run_notebook.main(
        ["--notebook", str(notebook), "--runs", str(tmp_path / "runs"), "--no-data"]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "cell 2, line 3: z = x / y" in err
    assert "ZeroDivisionError" in err
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-failed")
    metrics = run_record.read(folder)
    assert metrics["status"] == "failed"
    assert metrics["failure"]["cell"] == 2
    assert (folder / "stdout.txt").read_text() == "first\n"


def notebook_of(path, *cells):
    """A notebook of code cells on the project kernel, written to path."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(cell) for cell in cells],
        metadata={"kernelspec": {"name": "vae-legacy", "display_name": "", "language": "python"}},
    )
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize(
    ("cell", "line", "source", "error"),
    [
        (
            "# plot the baseline 1 again\nx = 1\nraise ValueError('boom')",
            3,
            "raise ValueError('boom')",
            "ValueError: boom",
        ),
        ("x = 1\nraise ValueError('bad at line 99')", 2, None, "ValueError: bad at line 99"),
        ("def f(x):\n    return 1 / x\n\nf(0)", 2, "return 1 / x", "ZeroDivisionError"),
        ('x = 0\ny = 1\nprint "a", y/x', 3, 'print "a", y/x', "ZeroDivisionError"),
        ('y = 2\nprint "a"\nz = = 3', 3, "z = = 3", "SyntaxError: invalid syntax"),
    ],
    ids=["comment_with_line_1", "message_with_line_99", "in_a_function", "print_line", "syntax"],
)
def test_the_failing_line_is_the_cells_own(tmp_path, cell, line, source, error):
    """The line named is the one the error came from in the cell's code, whatever the cell's
    text or the error's message say."""
    notebook = notebook_of(tmp_path / "fails.ipynb", cell)
    folder, failure = run_notebook.run(notebook, tmp_path / "runs", log=io.StringIO())
    assert failure["line"] == line
    assert failure["source"] == (source or cell.splitlines()[line - 1])
    assert failure["error"].startswith(error)
    assert run_record.read(folder)["failure"] == failure


class FixedTime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2016, 7, 1, 12, 0, 0)


def test_runs_in_the_same_second_each_keep_their_folder(tmp_path, monkeypatch):
    """Three runs stamped with the same second: three folders, each its own run's."""
    monkeypatch.setattr(run_notebook, "datetime", FixedTime)
    runs = tmp_path / "runs"
    cells = ["print 'first'", "print 'second'\n1/0", "print 'third'"]
    folders = [
        run_notebook.run(notebook_of(tmp_path / f"n{i}.ipynb", cell), runs, log=io.StringIO())[0]
        for i, cell in enumerate(cells)
    ]
    stamp = "2016-07-01T12-00-00"
    assert [f.name for f in folders] == [stamp, f"{stamp}-2-failed", f"{stamp}-3"]
    assert sorted(p.name for p in runs.iterdir()) == sorted(f.name for f in folders)
    assert [(f / "stdout.txt").read_text() for f in folders] == ["first\n", "second\n", "third\n"]
    statuses = [run_record.read(f)["status"] for f in folders]
    assert statuses == ["ok", "failed", "ok"]


def test_run_folders_are_claimed_once(tmp_path):
    """Many claims of one stamp at once (threads): each gets its own new folder."""
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        claimed = list(pool.map(lambda _: run_notebook.claim_run_folder(tmp_path, "s"), range(32)))
    assert len(set(claimed)) == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in claimed)


@pytest.fixture
def no_data_build(monkeypatch):
    """mnist_prep.main, replaced by a spy that only records its calls."""
    calls = []
    monkeypatch.setattr(run_notebook.mnist_prep, "main", lambda argv: calls.append(argv) or 0)
    return calls


def unusable_runs(tmp_path, kind, request):
    """A --runs where no run folder can be made, and what run_notebook says of it."""
    if kind == "a file":
        (tmp_path / "taken").write_text("")
        return tmp_path / "taken", "is a file, not a folder for runs"
    if kind == "under a file":
        (tmp_path / "taken").write_text("")
        return tmp_path / "taken" / "runs", "cannot write run folders in"
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes into a read-only folder, but not an immutable one
        if shutil.which("chattr") and subprocess.run(["chattr", "+i", locked]).returncode == 0:
            request.addfinalizer(lambda: subprocess.run(["chattr", "-i", locked]))
    try:
        (locked / "probe").touch()
    except PermissionError:
        return locked, "cannot write run folders in"
    pytest.skip("no way here to make a folder this user cannot write in (root, no chattr)")


@pytest.mark.parametrize("kind", ["a file", "under a file", "unwritable"])
def test_an_unusable_runs_folder_fails_at_once(tmp_path, capsys, request, no_data_build, kind):
    """Found before anything runs or is built: one line, exit status 2."""
    notebook = notebook_of(tmp_path / "nb.ipynb", "print 'never'")
    runs, said = unusable_runs(tmp_path, kind, request)
    status = run_notebook.main(["--notebook", str(notebook), "--runs", str(runs)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("run_notebook: ")
    assert said in err and "Traceback" not in err
    assert no_data_build == []
    with pytest.raises(run_notebook.RunError):
        run_notebook.run(notebook, runs, log=io.StringIO())


@pytest.mark.parametrize(
    ("notebook", "kernel", "said"),
    [
        ("no/such/folder/nb.ipynb", None, "run_notebook: no notebook "),
        ("not_json.ipynb", None, " is not a notebook: "),
        ("nb.ipynb", "no-such-kernel", "run_notebook: no kernel 'no-such-kernel' (installed: "),
    ],
    ids=["mistyped_notebook", "not_a_notebook", "mistyped_kernel"],
)
def test_a_bad_notebook_or_kernel_fails_at_once_and_leaves_nothing(
    tmp_path, capsys, no_data_build, notebook, kernel, said
):
    """One line, exit status 2, and no folders, no mnist.npz, no runs/."""
    notebook_of(tmp_path / "nb.ipynb", "print 'never'")
    (tmp_path / "not_json.ipynb").write_text("{ not json")
    before = sorted(tmp_path.rglob("*"))
    argv = ["--notebook", str(tmp_path / notebook), "--runs", str(tmp_path / "runs")]
    status = run_notebook.main(argv + (["--kernel", kernel] if kernel else []))
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and said in err
    assert sorted(tmp_path.rglob("*")) == before
    assert no_data_build == []


def start_run(tmp_path, *cells):
    """run_notebook.py in its own process group, Ctrl-C as in a terminal (not ignored)."""
    notebook = notebook_of(tmp_path / "nb.ipynb", *cells)

    def own_terminal_group():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setpgrp()

    argv = [sys.executable, str(REPO / "run_notebook.py"), "--notebook", str(notebook)]
    argv += ["--runs", str(tmp_path / "runs"), "--no-data"]
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=own_terminal_group,
    )


def ctrl_c_when(process, printed, times=1, pause=2.0, signum=signal.SIGINT, group=True):
    """Press Ctrl-C (SIGINT to the process group), or send ``signum`` to the group or the
    process alone, once ``printed`` is on stderr; return (exit status, stderr)."""
    seen = []
    deadline = time.monotonic() + 120
    while not any(printed in line for line in seen):
        assert time.monotonic() < deadline, "".join(seen)
        line = process.stderr.readline()
        assert line, "".join(seen)
        seen.append(line)
    for _ in range(times):
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        time.sleep(pause)
    _, rest = process.communicate(timeout=120)
    return process.returncode, "".join(seen) + rest


LOOP = "import time\nfor i in range(120):\n    print 'tick', i\n    time.sleep(0.5)"


def test_ctrl_c_keeps_the_partial_run(tmp_path):
    """Ctrl-C stops the running cell; what ran is kept; one line, exit status 130."""
    process = start_run(tmp_path, "print 'start'", LOOP, "print 'never'")
    status, err = ctrl_c_when(process, "tick 2")
    said = [line for line in err.splitlines() if line.startswith("run_notebook:")]
    assert status == 130 and "Traceback" not in err and "ZMQError" not in err
    assert len(said) == 1 and said[0].startswith("run_notebook: interrupted at cell 2, line ")
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-interrupted") and said[0].endswith(str(folder))
    metrics = run_record.read(folder)
    assert metrics["status"] == "interrupted"
    assert metrics["failure"]["cell"] == 2 and metrics["failure"]["error"] == "KeyboardInterrupt"
    assert metrics["failure"]["line"] in (3, 4)  # in the print or the sleep
    assert metrics["environment"]["theano_config"]["floatX"] == "float32"
    assert (folder / "stdout.txt").read_text().startswith("start\ntick 0\ntick 1\ntick 2\n")
    executed = nbformat.read(folder / "nb.ipynb", as_version=4)
    assert executed.cells[1].outputs[-1].ename == "KeyboardInterrupt"
    assert executed.cells[2].outputs == []


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGHUP, True)],
    ids=["SIGTERM to the runner (timeout)", "SIGTERM to the group (a cancelled job)",
         "SIGHUP (a closed terminal)"],
)  # fmt: skip
def test_sigterm_and_sighup_keep_the_partial_run_as_ctrl_c_does(tmp_path, signum, group):
    process = start_run(tmp_path, "print 'start'", LOOP, "print 'never'")
    status, err = ctrl_c_when(process, "tick 2", signum=signum, group=group)
    name = signal.Signals(signum).name
    said = [line for line in err.splitlines() if line.startswith("run_notebook:")]
    assert status == 128 + signum and "Traceback" not in err
    assert len(said) == 1 and said[0].startswith(f"run_notebook: stopped by {name} at cell 2")
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-interrupted") and said[0].endswith(str(folder))
    metrics = run_record.read(folder)
    assert metrics["status"] == "interrupted" and metrics["failure"]["error"] == name
    assert (folder / "stdout.txt").read_text().startswith("start\ntick 0\ntick 1\ntick 2\n")


def test_a_second_ctrl_c_stops_waiting_on_a_stubborn_cell(tmp_path):
    """A cell that swallows Ctrl-C: the second one ends the run, and it is still kept."""
    stubborn = "import time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
    stubborn += "    except KeyboardInterrupt:\n        print 'swallowed'"
    process = start_run(tmp_path, "print 'start'", stubborn)
    status, err = ctrl_c_when(process, "[cell 2/2]", times=2)
    said = [line for line in err.splitlines() if line.startswith("run_notebook:")]
    assert status == 130 and "Traceback" not in err and "Task exception" not in err
    assert len(said) == 1 and said[0].startswith("run_notebook: interrupted at cell 2")
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-interrupted")
    assert run_record.read(folder)["status"] == "interrupted"
    assert (folder / "stdout.txt").read_text().startswith("start\n")


@pytest.mark.parametrize(
    ("cell", "line", "error"),
    [
        ("# plot the baseline 1 again\nx = 1\nraise ValueError('boom')", 3, "ValueError: boom"),
        ('y = 2\nprint "a"\nz = = 3', 3, "SyntaxError: invalid syntax"),
    ],
    ids=["runtime", "syntax"],
)
def test_the_failing_line_on_the_2016_stack(stack_2016, tmp_path, cell, line, error):
    """The kernel is asked the same way on Python 2.7 and IPython 5."""
    notebook = notebook_of(tmp_path / "fails.ipynb", cell)
    _, failure = run_notebook.run(
        notebook, tmp_path / "runs", log=io.StringIO(), kernel=stack_2016.kernel
    )
    assert (failure["line"], failure["error"]) == (line, error)


@pytest.mark.parametrize("seed", ["-1", str(2**32), "2**40", "1; touch F"])
def test_a_seed_numpy_would_refuse_is_refused_before_anything_runs(tmp_path, capsys, seed):
    # numpy.random.seed raises on these inside the kernel, which left numpy unseeded while
    # the run recorded the seed.
    runs = tmp_path / "runs"
    assert run_notebook.main(["--seed", seed, "--runs", str(runs), "--no-data"]) == 2
    out = capsys.readouterr()
    assert (
        out.err
        == f"run_notebook: numpy's seed is a whole number from 0 to 4294967295, not {seed!r}\n"
    )
    assert not runs.exists()
    with pytest.raises(run_notebook.RunError):
        run_notebook.run(REPO / "vae_exercise.ipynb", runs, seed=-1)
    assert not runs.exists()


def test_make_hands_seed_and_device_to_the_commands_as_they_are(tmp_path):
    # A stand-in environment, ready, whose python prints its arguments: what make passes.
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (env / "bin" / "python").chmod(0o755)
    (env / ".vae-legacy-ready").touch()
    os.utime(env / ".vae-legacy-ready", (time.time() + 3600,) * 2)  # newer than the lock
    done = subprocess.run(
        ["make", "-s", "run", f"ENV={env}", "DEVICE=cpu; touch F"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert done.stdout.splitlines() == ["run_notebook.py", "--device", "cpu; touch F"]
    assert not (REPO / "F").exists()


def test_a_kernel_whose_stack_is_half_built_is_refused_saying_how_to_build_it(
    tmp_path, capsys, monkeypatch
):
    kernels = tmp_path / "jupyter" / "kernels" / "half"
    kernels.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "half",
        "language": "python",
        "metadata": {
            "vae_legacy_stack": "2016",
            "vae_legacy_ready": {"file": str(tmp_path / "env" / "ready"), "make": "make it"},
        },
    }
    (kernels / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    argv = ["--kernel", "half", "--runs", str(tmp_path / "runs"), "--no-data"]
    assert run_notebook.main(argv) == 2
    assert (
        capsys.readouterr().err == "run_notebook: kernel 'half' is not built whole: run make it\n"
    )
    assert not (tmp_path / "runs").exists()


def test_a_long_cell_says_it_is_still_running(tmp_path):
    notebook = notebook_of(tmp_path / "nb.ipynb", "import time\ntime.sleep(2.2)\nprint 'slept'")
    log = io.StringIO()
    folder, failure = run_notebook.run(notebook, tmp_path / "runs", log=log, heartbeat=0.5)
    assert failure is None
    beats = [line for line in log.getvalue().splitlines() if "still running" in line]
    assert len(beats) >= 3 and beats[-1] == "[cell 1/1] still running (0 min 02 s)"


def test_a_cell_past_its_time_limit_fails_the_run_and_keeps_what_ran(tmp_path, capsys):
    forever = "import time\nwhile True:\n    time.sleep(0.1)"
    notebook = notebook_of(tmp_path / "nb.ipynb", "print 'before'", forever, "print 'never'")
    argv = ["--notebook", str(notebook), "--runs", str(tmp_path / "runs"), "--no-data"]
    assert run_notebook.main([*argv, "--cell-timeout", "3"]) == 1
    err = capsys.readouterr().err
    assert "run_notebook: cell 2: \n  the cell ran past its limit of 3.0 s\n" in err
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-failed")
    assert (folder / "stdout.txt").read_text() == "before\n"
    assert run_notebook.main([*argv, "--cell-timeout", "0"]) == 2
    assert capsys.readouterr().err == (
        "run_notebook: --cell-timeout is a number of seconds above 0, not 0.0\n"
    )


def test_a_run_killed_outright_reads_as_dead_not_as_running(tmp_path, capsys):
    process = start_run(tmp_path, "print 'start'", LOOP)
    ctrl_c_when(process, "tick 1", signum=signal.SIGKILL)
    (folder,) = (tmp_path / "runs").iterdir()
    record = run_record.read(folder)
    assert record["status"] == "running" and run_notebook.run_record.still_running(record) is False
    with pytest.raises(run_notebook.run_record.RecordError, match="the run died before it ended"):
        run_notebook.run_record.read_finished(folder)
    notebook = notebook_of(tmp_path / "next.ipynb", "print 'next'")
    argv = ["--notebook", str(notebook), "--runs", str(tmp_path / "runs"), "--no-data"]
    assert run_notebook.main(argv) == 0
    assert f"run_notebook: {folder} never ended: its runner is gone\n" in capsys.readouterr().err
    live = dict(record, runner=run_notebook.run_record.this_runner())
    assert run_notebook.run_record.still_running(live) is True


def test_a_full_disk_while_saving_ends_as_a_failed_run_saying_why(tmp_path, monkeypatch):
    notebook = notebook_of(tmp_path / "nb.ipynb", "print 'ran'")
    real_write = run_notebook.run_record.write_whole

    def full_disk(path, data):
        if path.name == "stdout.txt":
            path.with_name(f".{path.name}.partial").write_text("half")
            raise OSError(28, "No space left on device")
        return real_write(path, data)

    monkeypatch.setattr(run_notebook.run_record, "write_whole", full_disk)
    with pytest.raises(run_notebook.RunError) as error:
        run_notebook.run(notebook, tmp_path / "runs", log=io.StringIO())
    (folder,) = (tmp_path / "runs").iterdir()
    assert str(error.value) == (
        f"could not save the run: No space left on device; what was saved is in {folder}"
    )
    assert folder.name.endswith("-failed") and not list(folder.glob(".*.partial"))
    record = run_record.read(folder)
    assert record["status"] == "failed"
    assert record["failure"]["error"] == "could not save the run: No space left on device"
