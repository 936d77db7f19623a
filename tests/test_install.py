"""What legacy.install writes into the environment leaves Jupyter's own tools working."""

import os
import subprocess
import sys

import nbformat


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
