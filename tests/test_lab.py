"""lab.py, what ``make lab`` and ``make notebook`` run: the working copy, and the server."""

import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, notebook_source
from ipykernel.ipkernel import IPythonKernel
from nbformat.sign import NotebookNotary

import lab

URL = re.compile(r"http://127\.0\.0\.1:\d+/lab/tree/vae_exercise\.ipynb\?token=[0-9a-f]{48}")


def test_workspace_holds_a_trusted_copy_made_once(tmp_path, notebook_folder, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))  # the trust database
    source = notebook_source(tmp_path / "repo", notebook_folder)
    workspace = lab.prepare_workspace(source)
    assert workspace == source / "workspace"
    copy = nbformat.read(workspace / lab.NOTEBOOK, as_version=nbformat.NO_CONVERT)
    original = nbformat.read(REPO / lab.NOTEBOOK, as_version=nbformat.NO_CONVERT)
    assert copy.cells == original.cells
    assert copy.metadata.kernelspec == original.metadata.kernelspec
    assert copy.metadata.language_info == IPythonKernel.language_info
    assert NotebookNotary().check_signature(copy)
    assert (workspace / "mnist.npz").resolve() == (source / "mnist.npz").resolve()
    assert (workspace / "VAE.png").read_bytes() == (REPO / "VAE.png").read_bytes()

    # Yours from then on: a second call keeps it.
    copy.cells.append(nbformat.v4.new_markdown_cell("my notes"))
    nbformat.write(copy, workspace / lab.NOTEBOOK)
    lab.prepare_workspace(source)
    assert nbformat.read(workspace / lab.NOTEBOOK, as_version=4).cells[-1].source == "my notes"
    assert (source / lab.NOTEBOOK).read_bytes() == (REPO / lab.NOTEBOOK).read_bytes()


def as_user(user, command):
    """``command`` run as ``user`` (a ``pwd`` entry), through util-linux's setpriv."""
    ids = [f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    return ["setpriv", *ids, *command]


def runs_as(user, command):
    return subprocess.run(as_user(user, command), cwd="/", capture_output=True).returncode == 0


def start(folder, user=None):
    """``lab.py --no-browser`` on ``folder``, as this process's user or as ``user`` (a
    ``pwd`` entry), in a home of its own; the process, its stdout a pipe."""
    home = folder / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    command = [sys.executable, str(REPO / "lab.py"), "--no-browser", "--no-data"]
    command += ["--folder", str(folder)]
    if user is not None:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)
        command = as_user(user, command)
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=folder)


def printed_url(process, timeout=120):
    """The URL ``lab.py`` prints once the server answers (killed if none comes in time)."""
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    printed = []
    try:
        for line in process.stdout:
            printed.append(line)
            if found := URL.search(line):
                return found[0]
    finally:
        watchdog.cancel()
    pytest.fail(f"lab.py printed no URL: {''.join(printed)!r}")


@pytest.mark.parametrize("who", ["root", "a normal user"])
def test_make_lab_prints_a_url_that_opens_the_notebook(who, notebook_folder):
    root = os.geteuid() == 0
    if who == "root" and not root:
        pytest.skip("the tests do not run as root: make lab cannot be tried as root here")
    user = pwd.getpwnam("nobody") if who == "a normal user" and root else None
    if user and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): cannot become a normal user")
    # Through a shell: setpriv itself may still exec what root can reach.
    if user and not runs_as(user, ["/bin/sh", "-c", f"exec {shlex.quote(sys.executable)} -c ''"]):
        pytest.skip(
            f"this environment's Python ({Path(sys.executable).resolve()}) is not one that "
            f"user {user.pw_name} may run: a normal user makes their own environment"
        )
    # Not under pytest's own temporary folder, which only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="make-lab-"))
    try:
        notebook_source(folder, notebook_folder)
        process = start(folder, user)
        try:
            url = printed_url(process)
            with urllib.request.urlopen(url, timeout=30) as response:
                assert response.status == 200
                assert "JupyterLab" in response.read().decode()
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C
            assert process.wait(timeout=60) == 0
        assert (folder / "workspace" / lab.NOTEBOOK).exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_jupyterlab_asks_no_build_status_which_needs_nodejs():
    # Without Node.js (a fresh machine) the server warns on every start that it cannot tell
    # whether its build is current; the project builds no lab extension, so lab never asks.
    from jupyterlab_server.config import get_static_page_config

    page = get_static_page_config(level="all")
    assert page["buildCheck"] is False and page["buildAvailable"] is False


def test_the_token_is_in_no_command_line_another_user_can_read(tmp_path, notebook_folder):
    workspace = lab.prepare_workspace(notebook_source(tmp_path / "repo", notebook_folder))
    with lab.running_server("lab", workspace, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL) as server:  # fmt: skip
        procs = [server.pid] + [
            int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children")
            .read_text().split()
        ]  # fmt: skip
        for pid in procs:
            assert server.token not in Path(f"/proc/{pid}/cmdline").read_text()
        assert Path(f"/proc/{server.pid}/environ").stat().st_mode & 0o044 == 0  # owner only
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/status",
            headers={"Authorization": f"token {server.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
