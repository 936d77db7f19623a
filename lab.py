"""Open the notebook in JupyterLab (``make lab``) or Notebook 7 (``make notebook``).

    .venv/bin/python lab.py [--app lab|notebook] [--port N] [--no-browser] [--no-data]

The server shows ``workspace/`` (git ignores it), never the committed original:
``workspace/vae_exercise.ipynb`` is your copy of it, made the first time and then
left alone (delete it to start again from the original), beside what the notebook
reads from its folder: a link to ``mnist.npz`` and a copy of ``VAE.png``. So Run All,
edits and autosave change only your copy: the original stays byte for byte as
committed, on disk and not only in git's view, and ``git status`` stays clean.

The server listens on 127.0.0.1 only, on a free port, with a fresh random token; the
URL is printed once the server answers, and a browser opened where there is one.
As root it passes ``--allow-root`` (Jupyter refuses to start as root otherwise).
Ctrl-C stops the server and its kernels.
"""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import webbrowser
from contextlib import contextmanager
from pathlib import Path

import nbformat
from ipykernel.ipkernel import IPythonKernel
from nbformat.sign import NotebookNotary

import mnist_prep

REPO = Path(__file__).resolve().parent
NOTEBOOK = "vae_exercise.ipynb"
WORKSPACE = "workspace"
PAGES = {"lab": "lab/tree", "notebook": "notebooks"}


def prepare_workspace(source=REPO):
    """``source/workspace``: your copy of the notebook (made once, then kept), and what
    the notebook reads beside it: ``mnist.npz`` (a link) and ``VAE.png`` (a copy, as
    the server serves no link that leaves the folder it shows)."""
    source = Path(source)
    workspace = source / WORKSPACE
    workspace.mkdir(exist_ok=True)
    copy = workspace / NOTEBOOK
    if not copy.exists():
        nb = nbformat.read(source / NOTEBOOK, as_version=nbformat.NO_CONVERT)
        # What the kernel reports on connecting, which Jupyter would add at once otherwise,
        # marking the notebook changed before anyone did anything.
        nb.metadata.language_info = IPythonKernel.language_info
        nbformat.write(nb, copy)
        # Trusted, as `jupyter trust` does: the server warns about a notebook it cannot vouch
        # for. This one has no outputs yet; what you run in it, the server signs on saving.
        NotebookNotary().sign(nb)
    data = workspace / "mnist.npz"
    if not data.is_symlink():
        data.symlink_to(Path("..") / "mnist.npz")
    shutil.copyfile(source / "VAE.png", workspace / "VAE.png")
    return workspace


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(app, workspace, port, open_browser=False):
    """The command line of a Jupyter server of this environment, showing ``workspace``.

    Its token is not in it: every local user may read a process's command line, only its
    owner its environment, where the server reads the token (JUPYTER_TOKEN)."""
    command = [sys.executable, "-m", "jupyter", app, f"--ServerApp.root_dir={workspace}"]
    command += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}"]
    command += ["--ServerApp.port_retries=0"]
    # Ctrl-C stops at once, with no y/n question in the middle of make's output.
    command += ["--ServerApp.answer_yes=True", f"--ServerApp.open_browser={open_browser}"]
    # Jupyter Server's own websocket keep-alive counts in milliseconds in properties that
    # Tornado >= 6.5 reads in seconds, and Tornado warns that the 90000 "s" timeout exceeds
    # the 30000 "s" interval (jupyter_server issue #1612). A server on 127.0.0.1 has no proxy
    # to keep a connection alive through: no pings, no mismatch.
    command.append('--ServerApp.tornado_settings={"ws_ping_interval": 0}')
    if os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    if open_browser:
        command.append(NOTEBOOK)
    return command


def url(app, port, token, path=NOTEBOOK):
    return f"http://127.0.0.1:{port}/{PAGES[app]}/{path}?token={token}"


def wait_until_up(port, token, process, timeout=120):
    """Return once the server answers its API with our token; raise if it died or stalled."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Jupyter server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the Jupyter server did not answer within {timeout} s")


@contextmanager
def running_server(app, workspace, port=None, open_browser=False, **popen):
    """A Jupyter server showing ``workspace``, up and answering; stopped (kernels too) after.

    Yields the server's process, with ``port``, ``token`` and ``url(path)`` attached.
    """
    port, token = port or free_port(), secrets.token_hex(24)
    command = server_command(app, workspace, port, open_browser)
    env = {**popen.pop("env", os.environ), "JUPYTER_TOKEN": token}
    server = subprocess.Popen(command, cwd=workspace, env=env, **popen)
    server.port, server.token = port, token
    server.url = lambda path=NOTEBOOK: url(app, port, token, path)
    try:
        wait_until_up(port, token, server)
        yield server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def has_browser():
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=sorted(PAGES), default="lab")
    parser.add_argument("--port", type=int, help="default: a free one")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    parser.add_argument("--no-data", action="store_true", help="do not build mnist.npz")
    parser.add_argument(
        "--folder", type=Path, default=REPO, help="the notebook's folder (default: this one)"
    )
    args = parser.parse_args(argv)
    if not args.no_data:
        status = mnist_prep.main(["--out", str(args.folder / "mnist.npz")])
        if status:
            return status
    workspace = prepare_workspace(args.folder)
    open_browser = not args.no_browser and has_browser()
    try:
        with running_server(args.app, workspace, args.port, open_browser) as server:
            print(f"\n    {server.url()}\n", flush=True)
            print(f"lab: your copy is {workspace / NOTEBOOK}; Ctrl-C stops the server", flush=True)
            return server.wait()
    except KeyboardInterrupt:  # the server had the Ctrl-C too, and has stopped
        return 0
    except RuntimeError as error:
        print(f"lab: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
