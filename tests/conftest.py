"""Fixtures and paths shared by the test modules."""

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

import notebook_cells
from stack2016 import build

REPO = Path(__file__).resolve().parents[1]
# The Jupyter data folder that ``pip install -e .`` copies into the environment's prefix.
JUPYTER_DATA = REPO / "install" / "share" / "jupyter"
# A line at warning level or worse: Python's warnings, Jupyter's log (``[W ...``, ``[E ...``,
# ``[C ...``), a kernel's (``[IPKernelApp] WARNING | ...``), a traceback.
WARNING_LINE = re.compile(r"\w*Warning: |WARNING|^\[[WEC] |Traceback", re.MULTILINE)


@pytest.fixture(scope="session")
def stack_2016():
    """The built 2016 stack: its interpreter, Theano settings and kernel name.

    Skips only where there is no Python 2.7 to build it from; where there is one,
    ``make test`` has built it, and a missing build fails.
    """
    if build.find_python27() is None:
        pytest.skip("no Python 2.7 here (PYTHON27, PATH, pyenv): the 2016 stack cannot exist")
    assert (build.ENV / build.STAMP).is_file(), f"Python 2.7 is here but {build.ENV} is not built"
    return SimpleNamespace(
        python=str(build.ENV / "bin" / "python"), theanorc=build.THEANORC, kernel=build.KERNEL_NAME
    )


@pytest.fixture
def project_kernel(tmp_path, monkeypatch):
    """The name of the project's kernel, its spec the project's own file (the one the install
    copies), which Jupyter finds first; the kernel gets a fresh IPython profile."""
    monkeypatch.setenv("JUPYTER_PATH", str(JUPYTER_DATA))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    (spec,) = (JUPYTER_DATA / "kernels").iterdir()
    return spec.name


@pytest.fixture(scope="session")
def python27_syntax_errors():
    """Ask CPython 2.7 for the syntax errors of cells: for each, [parser error, compile
    error] (tests/py2_syntax_recorder.py says what they hold). Skips without a Python 2.7."""
    python27 = build.find_python27()
    if python27 is None:
        pytest.skip("no Python 2.7 here (PYTHON27, PATH, pyenv) to ask for its syntax errors")

    def ask(cells):
        recorded = subprocess.run(
            [python27, str(REPO / "tests" / "py2_syntax_recorder.py")],
            input=json.dumps(cells),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return json.loads(recorded.stdout)

    return ask


def digit_like(n, rng):
    """28x28 images in [0, 1) with values k/256: a class-dependent stroke plus faint noise."""
    labels = rng.randint(0, 10, size=n)
    images = rng.randint(0, 20, size=(n, 28, 28))
    for image, label in zip(images, labels, strict=True):
        top, left = 4 + label % 5 * 3, 4 + label // 5 * 8
        image[top : top + 12, left : left + 3] = 250
        image[top + label % 4 * 3, left : left + 12] = 250
    return (images.reshape(n, 784) / 256).astype("float32"), labels.astype("int64")


@pytest.fixture(scope="session")
def notebook_folder(tmp_path_factory):
    """A folder with a small synthetic, digit-like mnist.npz (no real MNIST needed)."""
    folder = tmp_path_factory.mktemp("notebook")
    rng = np.random.RandomState(0)
    splits = {
        name: digit_like(n, rng) for name, n in [("train", 640), ("valid", 200), ("test", 200)]
    }
    np.savez(
        folder / "mnist.npz",
        **{f"X_{name}": x for name, (x, _) in splits.items()},
        **{f"y_{name}": y for name, (_, y) in splits.items()},
    )
    return folder


def copy_of_notebook(folder, name, last_code_cell=None):
    """The committed notebook, cells untouched, optionally cut after one of its code cells."""
    nb = nbformat.read(notebook_cells.NOTEBOOK, as_version=4)
    if last_code_cell is not None:
        code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
        nb.cells = nb.cells[: code[last_code_cell] + 1]
    path = folder / name
    nbformat.write(nb, path)
    return path


def notebook_source(folder, notebook_folder):
    """``folder`` holding the committed notebook and its figure, beside the synthetic
    ``mnist.npz`` of ``notebook_folder``: the notebook's folder, as the project has it."""
    folder.mkdir(exist_ok=True)
    for name in ["vae_exercise.ipynb", "VAE.png"]:
        shutil.copyfile(REPO / name, folder / name)
    shutil.copyfile(notebook_folder / "mnist.npz", folder / "mnist.npz")
    return folder
