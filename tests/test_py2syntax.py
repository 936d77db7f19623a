"""legacy.py2syntax finds the syntax errors CPython 2.7 finds, where it finds them.

The oracle is CPython 2.7 itself (tests/py2_syntax_recorder.py); without a Python 2.7
these tests skip. How the errors reach the user, through the kernel, is tested in
tests/test_py2print.py.
"""

import random

import nbformat

import notebook_cells
from legacy import py2syntax


def mutants(cells, n, seed):
    """n cells made from the given ones by 1 to 3 random edits: the slips of someone editing."""
    rng = random.Random(seed)
    inserts = list("()[]{}:=,.'\"`\\ \t\n#@$!<>-+*/%0123456789eLjxob_")
    inserts += ["print ", "    ", "'''", '"""', "lambda ", " if ", "->", ":=", "f'", "ur'", "rb'"]
    made = []
    for _ in range(n):
        cell = rng.choice(cells)
        for _ in range(rng.randint(1, 3)):
            i, edit = rng.randrange(len(cell) + 1), rng.random()
            if edit < 0.4:
                cell = cell[:i] + cell[i + 1 :]
            elif edit < 0.8:
                cell = cell[:i] + rng.choice(inserts) + cell[i:]
            else:
                lines = cell.split("\n")
                j = rng.randrange(len(lines))
                if edit < 0.94:
                    lines[j] = rng.choice(["", " ", "  ", "\t"]) + lines[j].lstrip()
                else:
                    lines[j] = lines[j][: rng.randrange(len(lines[j]) + 1)]
                cell = "\n".join(lines)
        made.append(cell)
    return made


def test_python27_parser_errors_on_mutated_notebook_cells(python27_syntax_errors):
    """python27_error gives what CPython 2.7's parser gives, on 2000 mutants of the notebook's
    cells: no error where it finds none; else the same exception, message, line and (where
    CPython 2.7 counts it within one line) offset."""
    cells = [c.source for c in nbformat.read(notebook_cells.NOTEBOOK, as_version=4).cells]
    cells = mutants([c for c in cells if c.strip()], 2000, seed=12)
    recorded = python27_syntax_errors(cells)
    errors = {parsed[1] for parsed, _ in recorded if parsed}
    assert len(errors) >= 7, f"the mutants make too few kinds of error: {errors}"
    for cell, (parsed, _) in zip(cells, recorded, strict=True):
        found = py2syntax.python27_error(cell)
        ours = found and [found.error.__name__, found.msg, found.lineno, found.offset]
        if parsed and (parsed[4].count("\n") > 1 or not cell.isascii()):
            parsed[3] = ours[3] = None  # CPython 2.7 counts bytes, and from a string's start
        assert ours == (parsed and parsed[:4]), cell
