"""Record what CPython 2.7 prints for notebook cells, as IPython on Python 2 ran them.

Run by tests/test_py2print.py with a Python 2.7: a JSON list of cases (each a list of
cells) on stdin, a JSON list of [stdout, stderr, names of the exceptions raised] out.
Each case's cells run in order in one namespace, compiled by one ``codeop.Compile``
(IPython's compiler; it keeps ``__future__`` flags), with sys.stdout and sys.stderr
Python objects like ipykernel's streams; as IPython on Python 2 did, a softspace still
pending after a cell that ran without error is flushed with a newline.
"""

import codeop
import json
import sys


class Stream:
    def __init__(self):
        self.parts, self.softspace = [], 0

    def write(self, text):
        self.parts.append(text)


def record(cells):
    out, err, raised = Stream(), Stream(), []
    compiler, namespace = codeop.Compile(), {"__name__": "__main__"}
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        for cell in cells:
            try:
                exec(compiler(cell, "<cell>", "exec"), namespace)
            except Exception as error:
                raised.append(type(error).__name__)
                continue
            if out.softspace:
                out.write("\n")
                out.softspace = 0
    finally:
        sys.stdout, sys.stderr = saved
    return ["".join(out.parts), "".join(err.parts), raised]


json.dump([record(cells) for cells in json.load(sys.stdin)], sys.stdout)
