"""Record the syntax errors CPython 2.7 gives for notebook cells.

Run with a Python 2.7 by conftest's ``python27_syntax_errors`` fixture: a JSON list of
cells (text) on stdin; out, for each, ``[parser, compiler]``: the error of CPython 2.7's
parser alone (the ``parser`` module: its tokenizer and grammar) and the one
``compile(cell, "<cell>", "exec")`` gives, as IPython on Python 2 compiled a cell, each
``[exception name, message, line, offset, text]`` or null when there is none. Cells are
compiled as unicode, as IPython's were.
"""

import json
import sys

import parser


def error(compile_it, cell):
    try:
        compile_it(cell)
    except SyntaxError as e:
        text = e.text.decode("utf-8") if isinstance(e.text, bytes) else e.text
        return [type(e).__name__, e.msg, e.lineno, e.offset, text]
    return None


def record(cell):
    return [
        error(lambda c: parser.suite(c.encode("utf-8")), cell),
        error(lambda c: compile(c, "<cell>", "exec"), cell),
    ]


json.dump([record(cell) for cell in json.load(sys.stdin)], sys.stdout)
