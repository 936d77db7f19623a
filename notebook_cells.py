"""Run the notebook's own code cells outside Jupyter, unchanged.

The set-up's compile-cache warm-up, the benchmark and the historical replay need
the notebook's exact Theano graph; they build it by executing its cells in an
in-process IPython shell with the Python 2 print extension, never from a copy.

Run as a script, it warms Theano's compile cache: it builds the notebook's model
and compiles its four functions, so a user's first run does not wait a minute
for the C compiler.
"""

import sys
import time
from pathlib import Path

import nbformat
from IPython.core.interactiveshell import InteractiveShell

NOTEBOOK = Path(__file__).resolve().parent / "vae_exercise.ipynb"

IMPORTS, DATA, PLOT_DIGITS, HELPERS, MODEL, FUNCTIONS, FORWARD, PLOT_UNTRAINED, TRAIN, PLOT = range(
    10
)


def code_cells(notebook=NOTEBOOK):
    """The sources of the notebook's code cells, in order."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [cell.source for cell in cells if cell.cell_type == "code"]


class NotebookShell(InteractiveShell):
    """A shell without a GUI event loop, so ``%matplotlib inline`` works as in a kernel."""

    def enable_gui(self, gui=None):
        pass


def new_shell(namespace=None):
    """An in-process IPython shell that runs cells as the project's kernel does."""
    shell = NotebookShell.instance(user_ns=namespace)
    shell.extension_manager.load_extension("legacy.py2print")
    return shell


def run_cells(shell, sources):
    """Run each source as a notebook cell; the first error stops and is raised."""
    for source in sources:
        shell.run_cell(source, store_history=False).raise_error()


def build_graph(shell, num_features=784):
    """Run the notebook's model cells (layers, cost); data only lends its shape."""
    cells = code_cells()
    run_cells(shell, [cells[IMPORTS]])
    shell.user_ns["x_train"] = shell.user_ns["np"].zeros((1, num_features), dtype="float32")
    run_cells(shell, [cells[HELPERS], cells[MODEL]])
    return shell.user_ns


def build_model(shell, num_features=784):
    """Build the notebook's model and compile its functions (its function cell)."""
    namespace = build_graph(shell, num_features)
    run_cells(shell, [code_cells()[FUNCTIONS]])
    return namespace


def main():
    start = time.perf_counter()
    build_model(new_shell())
    print(f"notebook_cells: the notebook's graph is compiled ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
