"""The project installs the standard way: in a fresh venv built from the lock, ``pip install
--no-deps -e .`` alone gives the bridge and the kernel, and ``pip uninstall`` takes them
away again; what it installs leaves Jupyter's own tools working."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from conftest import JUPYTER_DATA, REPO


def run(argv, cwd, env=None, check=True):
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new venv holding the locked packages and nothing of the project's."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=REPO)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps"]
    lock = REPO / "locks" / ("python{}.{}.txt".format(*sys.version_info[:2]))
    run([*pip, "--require-hashes", "-r", str(lock)], cwd=REPO)
    return venv


def outside_env(venv, home):
    """The environment of a user of ``venv``: nothing of ours or of this test run leaks in."""
    leaked = ("THEANORC", "THEANO_FLAGS", "PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")
    env = {k: v for k, v in os.environ.items() if k not in leaked}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", IPYTHONDIR=str(home / "ipython"))
    return env


def site_packages(venv):
    return venv / "lib" / ("python{}.{}".format(*sys.version_info[:2])) / "site-packages"


@contextmanager
def installed(venv, home, *target):
    """``venv`` with the project installed as a user would (``pip install --no-deps``, the
    backend from the lock): yields its python and a user's environment, then uninstalls."""
    python, env = str(venv / "bin" / "python"), outside_env(venv, home)
    pip = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    run([*pip, *target], cwd=home, env=env)
    try:
        yield python, env
    finally:
        run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "vae-legacy"], home, env)


def imported(python, env, cwd, module):
    """Import Lasagne's ``elu`` through the bridge; print THEANORC and ``module``'s file."""
    code = (
        f"import lasagne.nonlinearities as n; n.elu; import os, {module}\n"
        f"print(os.environ['THEANORC']); print({module}.__file__)"
    )
    return run([python, "-c", code], cwd=cwd, env=env).stdout.splitlines()


def project_files(venv):
    """What the project put in the venv, beside the packages of the lock."""
    site = site_packages(venv)
    return sorted(
        str(path.relative_to(venv))
        for path in [
            *site.glob("*vae_legacy*"),
            *(venv / "etc").rglob("*"),
            *(venv / "share" / "jupyter" / "kernels").iterdir(),
            *(venv / "share" / "jupyter" / "lab" / "settings").rglob("*.json"),
        ]
        if path.is_file() or path.parent.name == "kernels"
    )


def test_pip_install_editable_gives_the_bridge_and_the_kernel(fresh_venv, tmp_path):
    before = project_files(fresh_venv)
    tree = run(["git", "status", "--porcelain", "--ignored"], cwd=REPO).stdout
    with installed(fresh_venv, tmp_path, "-e", str(REPO)) as (python, env):
        assert imported(python, env, tmp_path, "legacy") == [
            str(REPO / "legacy" / "theanorc"),
            str(REPO / "legacy" / "__init__.py"),
        ]
        specs = json.loads(run(["jupyter", "kernelspec", "list", "--json"], tmp_path, env).stdout)
        kernel = Path(specs["kernelspecs"]["vae-legacy"]["resource_dir"])
        assert kernel == fresh_venv / "share" / "jupyter" / "kernels" / "vae-legacy"
        ours = JUPYTER_DATA / "kernels" / "vae-legacy" / "kernel.json"
        assert (kernel / "kernel.json").read_text() == ours.read_text()

        cell = "import sys\nprint 'kernel', sys.executable"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
        nbformat.write(nb, tmp_path / "check.ipynb")
        execute = ["jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace"]
        run(
            [*execute, "--ExecutePreprocessor.kernel_name=vae-legacy", "check.ipynb"], tmp_path, env
        )
        (done,) = nbformat.read(tmp_path / "check.ipynb", as_version=4).cells
        assert [o.text for o in done.outputs] == [f"kernel {python}\n"]
        assert run(["git", "status", "--porcelain", "--ignored"], cwd=REPO).stdout == tree
    assert project_files(fresh_venv) == before
    gone = run([python, "-c", "import legacy"], cwd=tmp_path, env=env, check=False)
    assert "No module named 'legacy'" in gone.stderr


def test_a_wheel_holds_the_bridge_and_the_sample_layers(fresh_venv, tmp_path):
    """Not editable: the notebook's needs are in site-packages, the tooling stays behind."""
    with installed(fresh_venv, tmp_path, str(REPO)) as (python, env):
        site = site_packages(fresh_venv)
        assert imported(python, env, tmp_path, "samplelayer") == [
            str(site / "legacy" / "theanorc"),
            str(site / "samplelayer.py"),
        ]
        tooling = run([python, "-c", "import run_notebook"], cwd=tmp_path, env=env, check=False)
        assert "No module named 'run_notebook'" in tooling.stderr


def test_nbconvert_executes_a_notebook_in_another_folder(tmp_path):
    """``jupyter nbconvert --execute`` on a notebook below the working folder: its kernel
    runs in the notebook's folder, its client in ours; a transport whose sockets are named
    relative to the working folder (IPC without a connection file) would never connect.
    The kernel is the environment's plain ``python3``, with the Python 2 print."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print 'hello', 1")])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "plain.ipynb")
    jupyter = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute"]
    done = subprocess.run(
        [*jupyter, "elsewhere/plain.ipynb", "--output", str(tmp_path / "out.ipynb")],
        cwd=tmp_path,
        env={**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (cell,) = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    assert [o.text for o in cell.outputs] == ["hello 1\n"]
    assert sorted(p.name for p in folder.iterdir()) == ["plain.ipynb"]


@pytest.mark.parametrize("made_by", ["a venv without pip", "another Python"])
def test_set_up_makes_again_a_venv_it_cannot_use(tmp_path, made_by):
    # A venv cut off while being made (Ctrl-C during python -m venv) has no pip; one of
    # another Python cannot take the lock. Both are made again, saying so in one line; here
    # the new one stops at once, its Python (a stand-in) not being one the project runs on.
    env = tmp_path / "env"
    if made_by == "a venv without pip":
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    else:
        (env / "bin").mkdir(parents=True)
        (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (env / "bin" / "python").write_text("#!/bin/sh\necho Python 3.13.5\nexit 1\n")
        (env / "bin" / "python").chmod(0o755)
    done = subprocess.run(
        ["make", "-s", f"ENV={env}", "PYTHON=/bin/false", f"{env}/.vae-legacy-ready"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout.startswith(f"set-up: making {env} again: it holds ")
    assert not env.exists()
    assert done.stderr.startswith(
        "set-up: vae-legacy runs on Python 3.11, 3.12, 3.13, and /bin/false is missing: install"
    )


def test_set_up_without_a_supported_python_says_so_in_one_line(tmp_path):
    """Before anything is installed: a Python the project does not run on (a stand-in 3.10)
    is named, with the supported versions and the ways to get one."""
    python = tmp_path / "python3"
    python.write_text('#!/bin/sh\ncase "$1" in -V) echo Python 3.10.12;; *) echo 3.10;; esac\n')
    python.chmod(0o755)
    env = tmp_path / "env"
    done = subprocess.run(
        ["make", "-s", f"ENV={env}", f"PYTHON={python}", f"{env}/.vae-legacy-ready"],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[0] == (
        f"set-up: vae-legacy runs on Python 3.11, 3.12, 3.13, and {python} is Python 3.10.12:"
        " install one (Debian 12's python3 is 3.11, Debian 13's 3.13, Ubuntu 24.04's 3.12, with"
        " python3-venv; or pyenv install 3.13; or conda with environment.yml), then"
        " PYTHON=/path/to/python3.X make"
    )
    assert not env.exists()


def test_a_notebook_saved_with_its_outputs_shows_in_git_as_committed(tmp_path):
    """Both ways, in a clone: without the set-up's filter, a notebook run in a plain `jupyter
    lab` and saved differs in git by its outputs; with it (``make git-filter``, which the
    set-up runs), git holds it as committed: no diff, nothing to stage, the outputs on disk.
    (``git status`` lists it until ``git add`` refreshes the index: git takes a new size for
    a change without asking the filter.) A second environment's set-up leaves a working filter
    as it is."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)], cwd=tmp_path)
    notebook = clone / "vae_exercise.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    code = next(cell for cell in nb.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="saved output\n")]
    code.execution_count = 1
    nbformat.write(nb, notebook)
    assert run(["git", "status", "--porcelain"], clone).stdout == " M vae_exercise.ipynb\n"
    assert "saved output" in run(["git", "diff"], clone).stdout
    python = Path(sys.executable)
    make = ["make", "-s", "-f", str(REPO / "Makefile"), "git-filter"]
    said = run([*make, f"ENV={python.parent.parent}"], clone).stdout
    assert said == "set-up: git shows notebooks without their outputs (nbstripout's filter)\n"
    assert run(["git", "diff"], clone).stdout == ""
    run(["git", "add", "vae_exercise.ipynb"], clone)
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    assert "saved output" in notebook.read_text()
    assert run([*make, f"ENV={tmp_path / 'another-env'}"], clone).stdout == ""
    clean = run(["git", "config", "filter.nbstripout.clean"], clone).stdout
    assert clean == f'"{python}" -m nbstripout --keep-id\n'
