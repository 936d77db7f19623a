"""legacy.py2print gives the notebook's Python 2 print statements Python 2.7's output."""

import builtins
import json
import re
import subprocess
import sys
import traceback
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import REPO
from IPython.core.interactiveshell import InteractiveShell
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from traitlets.config import Config

from legacy import py2print, py2syntax
from stack2016 import build

# The notebook's two print statements, byte for byte, with stub values for what they print.
STUBS = """\
def f_train(x):
    return [-98.43359375, 21.34765625, -77.0859375]
x_valid = None
"""
F_TRAIN = "print  f_train(x_valid)"
EPOCHS = r"""LL_train, KL_train, logpx_train = [], [], []
LL_valid, KL_valid, logpx_valid = [], [], []
for e in range(3):
    LL_train.append(-160.25 + 10 * e); LL_valid.append(-158.125 + 10 * e)
    KL_train.append(20.5 + e); KL_valid.append(20.0 + e)
    logpx_train.append(-139.75 + 9 * e); logpx_valid.append(-138.0625 + 9 * e)
    print "Epoch %i\t"%(e) + \
    "Train: LL: %0.1f\tKL %0.1f\tlogpx: %0.1f\t"%(LL_train[-1],KL_train[-1],logpx_train[-1]) + \
    "Valid: LL: %0.1f\tKL %0.1f\tlogpx: %0.1f"%(LL_valid[-1],KL_valid[-1],logpx_valid[-1])
"""
F_TRAIN_OUT = "[-98.43359375, 21.34765625, -77.0859375]\n"
EPOCHS_OUT = (
    "Epoch 0\tTrain: LL: -160.2\tKL 20.5\tlogpx: -139.8\t"
    "Valid: LL: -158.1\tKL 20.0\tlogpx: -138.1\n"
    "Epoch 1\tTrain: LL: -150.2\tKL 21.5\tlogpx: -130.8\t"
    "Valid: LL: -148.1\tKL 21.0\tlogpx: -129.1\n"
    "Epoch 2\tTrain: LL: -140.2\tKL 22.5\tlogpx: -121.8\t"
    "Valid: LL: -138.1\tKL 22.0\tlogpx: -120.1\n"
)

# What CPython 2.7.18 printed, recorded by tests/py2_print_recorder.py (how it runs the cells
# is said there); test_goldens_are_what_python27_prints records them again.
# (id, cells, stdout, stderr, exceptions raised)
GOLDEN = [
    ("notebook_f_train", [STUBS, F_TRAIN], F_TRAIN_OUT, "", []),
    (
        "classic_division",
        ["print 7/2, 7/-2, -7/2, 7.0/2, 7/2.0, True/2, 2**64/3, 1/3.0"],
        "3 -4 -4 3.5 3.5 0 6148914691236517205 0.333333333333\n",
        "",
        [],
    ),
    ("classic_division_in_place", ["x = 7\nx /= 2\nprint x"], "3\n", "", []),
    ("division_by_zero", ["print 1/0"], "", "", ["ZeroDivisionError"]),
    (
        "future_division_from_its_cell_on",
        ["print 7/2", "from __future__ import division\nprint 7/2", "print 7/2"],
        "3\n3.5\n3.5\n",
        "",
        [],
    ),
    ("notebook_epochs", [EPOCHS], EPOCHS_OUT, "", []),
    ("tuple", ["print (1, 2)"], "(1, 2)\n", "", []),
    ("call_looking_tuple", ['print("x =", 3)'], "('x =', 3)\n", "", []),
    ("list", ["x = 3\nprint [x]"], "[3]\n", "", []),
    ("negative", ["print -1"], "-1\n", "", []),
    ("percent_after_parens", ['x = 5\nprint ("%s") % x'], "5\n", "", []),
    ("parens_single", ['print("hello")'], "hello\n", "", []),
    (
        "mixed_items",
        ["print 1, 2.5, None, [1, 'a'], (1,), {'k': 1}, 'end'"],
        "1 2.5 None [1, 'a'] (1,) {'k': 1} end\n",
        "",
        [],
    ),
    (
        "to_stringio",
        [
            "try:\n    from StringIO import StringIO\nexcept ImportError:\n"
            "    from io import StringIO\nf = StringIO()\nprint >>f, 'a', 1,\nprint >>f, 'b'\n"
            "print >>f\nprint repr(f.getvalue())"
        ],
        "'a 1 b\\n\\n'\n",
        "",
        [],
    ),
    (
        "to_file_writes",
        [
            "class Log(object):\n    def __init__(self):\n        self.parts = []\n"
            "    def write(self, s):\n        self.parts.append(s)\nlog = Log()\n"
            "print >>log, 'x', 2,\nprint >>log, 'y\\t', 'z'\nprint log.parts"
        ],
        "['x', ' ', '2', ' ', 'y\\t', 'z', '\\n']\n",
        "",
        [],
    ),
    ("to_none", ["print >>None, 'to', 'stdout'"], "to stdout\n", "", []),
    (
        "to_stderr",
        ["import sys\nprint 'out',\nprint >>sys.stderr, 'err', 1\nprint 'more'"],
        "out more\n",
        "err 1\n",
        [],
    ),
    (
        "softspace_sequence",
        ["print 'a',\nprint 'b'\nprint 'c', 'd',\nprint 'e'"],
        "a b\nc d e\n",
        "",
        [],
    ),
    (
        "softspace_newline_tab_space",
        [
            "print 'x\\n',\nprint 'y'\nprint 't\\t',\nprint 'u'\nprint 's ',\nprint 'v'\n"
            "print 'in\\t', 'line'"
        ],
        "x\ny\nt\tu\ns  v\nin\tline\n",
        "",
        [],
    ),
    (
        "softspace_empty_and_objects",
        [
            "class O(object):\n    def __str__(self):\n        return 'obj\\n'\n"
            "print '',\nprint 'x'\nprint O(),\nprint 'z'"
        ],
        " x\nobj\n z\n",
        "",
        [],
    ),
    ("bare_print", ["print 'a'\nprint\nprint 'b',\nprint\nprint 'c'"], "a\n\nb\nc\n", "", []),
    (
        "loop_if_def",
        [
            "def show(n):\n    for i in range(n):\n        if i % 2:\n            print i,\n"
            "        else:\n            print 'even',\n    print\nshow(4)\nshow(1)"
        ],
        "even 1 even 3\neven\n",
        "",
        [],
    ),
    (
        "continuation",
        ["print 'a' + \\\n    'b', \\\n    3, \\\n    (4,\n     5)"],
        "ab 3 (4, 5)\n",
        "",
        [],
    ),
    (
        "one_line_suite",
        ["for i in range(3): print i,\nif True: print 'x'; print 'y',"],
        "0 1 2 x\ny\n",
        "",
        [],
    ),
    (
        "word_print_in_strings",
        ["s = \"print 'no'\"  # print x\nprint s, 'print'"],
        "print 'no' print\n",
        "",
        [],
    ),
    (
        "floats_as_python2_str",
        [
            "print 1.0/3, 1e16, 2.0, -0.0, 1e-5, 123456789012345.0, float('inf'), float('nan')\n"
            "print [1.0/3], (1.0/3,), 1e22, 0.1+0.2, 100.0, 1e15, 1e12, 123456789012.5\n"
            "class F(float):\n    pass\nclass G(float):\n    def __str__(self):\n"
            "        return 'G!'\nprint F(1.0/3), G(1.0)"
        ],
        "0.333333333333 1e+16 2.0 -0.0 1e-05 1.23456789012e+14 inf nan\n"
        "[0.3333333333333333] (0.3333333333333333,) 1e+22 0.3 100.0 1e+15 1e+12 "
        "1.23456789012e+11\n0.333333333333 G!\n",
        "",
        [],
    ),
    ("cell_end_flush", ["print 'a',", "print 'b',", "x = 1", "print 'c'"], "a\nb\nc\n", "", []),
    ("error_keeps_softspace", ["print 'a', 1/0", "print 'b'"], "a b\n", "", ["ZeroDivisionError"]),
    (
        "future_print_function",
        ["from __future__ import print_function\nprint('a', 'b', sep='-')", "print('c', 'd')"],
        "a-b\nc d\n",
        "",
        [],
    ),
]

# Cells that are not Python 2 run untouched as Python 3 (expected: Python 3's output).
PYTHON3 = [
    ("sep", 'a, b = 1, 2\nprint(a, b, sep="-")', "1-2\n"),
    ("f_string", 'x = 3\nprint(f"x={x}", x)', "x=3 3\n"),
    ("keyword_only", "def f(*, a):\n    print(a, a)\nf(a=1)", "1 1\n"),
    (
        "nonlocal",
        "def outer():\n    n = 1\n    def inner():\n        nonlocal n\n        n += 1\n"
        "    inner()\n    print(n, n)\nouter()",
        "2 2\n",
    ),
    ("async", "async def g():\n    print(1, 2)\nawait g()", "1 2\n"),
]


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """An in-process IPython shell with the extension; tracebacks are not printed."""
    main = sys.modules["__main__"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        ip = InteractiveShell(config=config)
        ip._showtraceback = lambda etype, value, stb: None
        ip.extension_manager.load_extension("legacy.py2print")
        yield ip
        ip.extension_manager.unload_extension("legacy.py2print")
    sys.modules["__main__"] = main


def run_cells(shell, cells):
    """Run cells in a fresh namespace with a freshly loaded extension; return the results."""
    py2print.unload_ipython_extension(shell)
    shell.reset(new_session=False)
    py2print.load_ipython_extension(shell)
    return [shell.run_cell(cell) for cell in cells]


def errors(results):
    """The names of the exceptions the cells raised."""
    return [type(r.error_in_exec).__name__ for r in results if r.error_in_exec]


@pytest.mark.parametrize(
    ("cells", "out", "err", "raised"), [c[1:] for c in GOLDEN], ids=[c[0] for c in GOLDEN]
)
def test_python2_golden(shell, capsys, cells, out, err, raised):
    """Python 2 cells print what CPython 2.7.18 printed."""
    results = run_cells(shell, cells)
    assert capsys.readouterr() == (out, err)
    assert errors(results) == raised


def test_goldens_are_what_python27_prints():
    """Every golden above is what CPython 2.7 itself prints for its cells, today."""
    python27 = build.find_python27()
    if python27 is None:
        pytest.skip("no Python 2.7 here (PYTHON27, PATH, pyenv) to record the goldens again")
    recorded = subprocess.run(
        [python27, str(REPO / "tests" / "py2_print_recorder.py")],
        input=json.dumps([cells for _, cells, *_ in GOLDEN]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(recorded.stdout) == [[out, err, raised] for _, _, out, err, raised in GOLDEN]


def test_numpy_prints_as_numpy_1_11(shell, capsys):
    """The 2016 forward-pass line, printed from its own float32 values, to the byte."""
    historical = json.loads((REPO / "historical" / "summercamp2016_lab6.json").read_text())
    forward = historical["forward_pass"]
    values = ", ".join(repr(forward[name]) for name in ("LL", "logpx", "KL"))
    run_cells(shell, [f"import numpy as np\nprint [np.array(np.float32(v)) for v in [{values}]]"])
    assert capsys.readouterr().out == forward["printed"] + "\n"


@pytest.mark.parametrize(("cell", "out"), [c[1:] for c in PYTHON3], ids=[c[0] for c in PYTHON3])
def test_python3_cell_untouched(shell, capsys, cell, out):
    """A cell that is not Python 2 is left alone and prints as Python 3."""
    assert py2print.Py2Print()(cell.splitlines(True)) == cell.splitlines(True)
    results = run_cells(shell, [cell])
    assert capsys.readouterr() == (out, "")
    assert errors(results) == []


def test_rewrite_keeps_lines():
    """The rewrite keeps line count, statement start lines and backslash continuations."""
    lines = EPOCHS.splitlines(True)
    rewritten = py2print.Py2Print()(lines)
    assert len(rewritten) == len(lines)
    assert [line.startswith("    print") for line in lines] == [
        line.startswith("    _py2_print(") for line in rewritten
    ]
    assert [line.endswith("\\\n") for line in lines] == [
        line.endswith("\\\n") for line in rewritten
    ]


def test_magics_still_work(shell, capsys):
    """A magic line before a print statement, and a ``%%time`` body, still work."""
    run_cells(
        shell, ["%config InteractiveShell.autocall = 0\nprint 'a', 1", "%%time\nprint 'b', 2"]
    )
    out = capsys.readouterr().out
    assert out.startswith("a 1\n")
    assert "b 2\n" in out


def test_traceback_line_numbers(shell, capsys):
    """An error on a rewritten cell's 3rd line is reported on line 3."""
    (result,) = run_cells(shell, ['print "one"\nprint "two",\nprint 1/0\n'])
    frames = traceback.extract_tb(result.error_in_exec.__traceback__)
    assert [f.lineno for f in frames if f.name == "<module>"] == [3]
    assert capsys.readouterr().out == "one\ntwo"


def test_syntax_error_line_numbers(shell):
    """SyntaxErrors are Python 3's own, on the lines the user wrote."""
    (result,) = run_cells(shell, ["x = 1\ny = 2\nz = x +* y\n"])
    assert result.error_before_exec.lineno == 3
    # Parses as Python 2, but the rewrite is no Python 3 (``<>``): left as the user wrote it,
    # and its error is at the ``<>`` (line 3), not Python 3's "Missing parentheses" (line 1).
    cell = 'print "a"\nx = 1\nif x <> 2:\n    print "b"\n'
    assert py2print.Py2Print()(cell.splitlines(True)) == cell.splitlines(True)
    with pytest.raises(SyntaxError) as python3:
        compile(cell, "<cell>", "exec")
    (result,) = run_cells(shell, [cell])
    assert python3.value.lineno == 1 and result.error_before_exec.lineno == 3
    assert result.error_before_exec.msg.startswith("<>: Python 2 that this kernel does not run")


def test_unload(shell):
    """Unloading removes the transformer and the builtin."""
    py2print.unload_ipython_extension(shell)
    assert not any(isinstance(t, py2print.Py2Print) for t in shell.input_transformers_post)
    assert not hasattr(builtins, py2print.NAME)
    assert repr(np.array(np.float32(-564.30927))) == "array(-564.30927, dtype=float32)"
    py2print.load_ipython_extension(shell)


KERNEL_STDOUT = [
    "ready\n",
    F_TRAIN_OUT,
    EPOCHS_OUT,
    "a\n",
    "b\n",
    "[array(-564.3092651367188, dtype=float32)]\n",
]


def print_through_kernel(kernel_name):
    """What the notebook's print cells, and the 2016 numpy repr, print through nbclient and
    the kernel ``kernel_name``: one stdout per cell; any other output fails."""
    cells = [
        "%matplotlib inline\n" + STUBS + "print 'ready',",
        F_TRAIN,
        EPOCHS,
        "print 'a',",
        "print 'b'",
        "import numpy as np\nprint [np.array(np.float32(-564.3092651367188))]",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(
        nb, kernel_name=kernel_name, timeout=60, resources={"metadata": {"path": str(REPO)}}
    ).execute()
    outputs = [cell.outputs for cell in nb.cells]
    assert {o.output_type for cell in outputs for o in cell} == {"stream"}
    stdout = ["".join(o.text for o in cell if o.name == "stdout") for cell in outputs]
    return stdout


def test_real_kernel(project_kernel):
    """The notebook's cells through nbclient and the project's kernel, ``vae-legacy``."""
    assert print_through_kernel(project_kernel) == KERNEL_STDOUT


def test_a_plain_interpreter_kernel_prints_as_python_2_too(tmp_path, monkeypatch):
    """A kernel started from the environment's plain interpreter, with no extension flag and
    no kernelspec of ours, as VS Code or ``jupyter console --kernel python3`` start one: the
    environment's own IPython configuration (``install/etc/ipython``) loads the extension."""
    spec = tmp_path / "kernels" / "plain-python"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "plain", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # no user profile's config
    assert print_through_kernel("plain-python") == KERNEL_STDOUT


def test_installed_kernelspec_is_the_plain_interpreter():
    """Our kernelspec needs no flag of its own: the environment gives every kernel the
    extension, and a flag would replace the user's own list of extensions. Its ``python``
    is the interpreter of whoever launches it (Jupyter's rule), i.e. this environment's."""
    spec = KernelSpecManager().get_kernel_spec("vae-legacy")
    assert spec.resource_dir == str(Path(sys.prefix, "share", "jupyter", "kernels", "vae-legacy"))
    assert spec.argv == ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    launched = KernelManager(kernel_name="vae-legacy").format_kernel_cmd()
    assert launched[:3] == [sys.executable, "-m", "ipykernel_launcher"]


# Cells with a syntax error, and the error CPython 2.7.18 gives for each (exception, message,
# line); test_syntax_goldens_are_what_python27_gives checks them against CPython 2.7 itself.
SYNTAX_GOLDEN = [
    ("after_print", 'y = 2\nprint "a"\nz = = 3\n', "SyntaxError", "invalid syntax", 3),
    (
        "after_except_comma",
        'try:\n    y = 1/0\nexcept ZeroDivisionError, e:\n    print "caught", e\nz = = 3\n',
        "SyntaxError",
        "invalid syntax",
        5,
    ),
    ("after_backquotes", "x = 1\ny = `x`\nz = = 3\n", "SyntaxError", "invalid syntax", 3),
    ("after_diamond", "x = 1\nif x <> 2: y = 3\nz = = 3\n", "SyntaxError", "invalid syntax", 3),
    ("unclosed_print", 'print "a", (1,\nprint "b"\n', "SyntaxError", "invalid syntax", 2),
    ("missing_colon", "for i in range(3)\n    print i\n", "SyntaxError", "invalid syntax", 1),
    (
        "annotation_in_python2_cell",
        'print "a"\ndef f(x) -> int:\n    return x\n',
        "SyntaxError",
        "invalid syntax",
        2,
    ),
    ("f_string_in_python2_cell", 'print "a"\nprint f"{a}"\n', "SyntaxError", "invalid syntax", 2),
    ("chevron", 'import sys\nprint >>sys.stderr "a"\n', "SyntaxError", "invalid syntax", 2),
    (
        "unexpected_indent",
        'print "a"\n    print "b"\n',
        "IndentationError",
        "unexpected indent",
        2,
    ),
    (
        "expected_indent",
        "for i in range(3):\nprint i\n",
        "IndentationError",
        "expected an indented block",
        2,
    ),
    (
        "unindent",
        'if True:\n    print "a"\n  print "b"\n',
        "IndentationError",
        "unindent does not match any outer indentation level",
        3,
    ),
    ("eol", 'x = 1\nprint "a\nx = 2\n', "SyntaxError", "EOL while scanning string literal", 2),
    (
        "eof_in_triple_quotes",
        'print """a\nx = 1\n',
        "SyntaxError",
        "EOF while scanning triple-quoted string literal",
        2,
    ),
    ("eof", "print (1,\n", "SyntaxError", "unexpected EOF while parsing", 1),
    (
        "line_continuation",
        "print 1 + \\ 2\n",
        "SyntaxError",
        "unexpected character after line continuation character",
        1,
    ),
    ("invalid_token", "print 09\n", "SyntaxError", "invalid token", 1),
    (
        "notebook_epoch_line",
        EPOCHS.replace("%(e) + \\", "%(e) +"),
        "SyntaxError",
        "invalid syntax",
        7,
    ),
]


@pytest.mark.parametrize(
    ("cell", "error", "msg", "lineno"),
    [c[1:] for c in SYNTAX_GOLDEN],
    ids=[c[0] for c in SYNTAX_GOLDEN],
)
def test_python2_syntax_errors(shell, cell, error, msg, lineno):
    """A Python 2 cell that does not compile gets CPython 2.7's error, line and message."""
    (result,) = run_cells(shell, [cell])
    found = result.error_before_exec
    assert (type(found).__name__, found.msg, found.lineno) == (error, msg, lineno)
    assert found.text == cell.splitlines(keepends=True)[lineno - 1]


def test_syntax_goldens_are_what_python27_gives(python27_syntax_errors):
    """Every syntax golden above is what CPython 2.7's compile() gives for its cell, today."""
    recorded = python27_syntax_errors([cell for _, cell, *_ in SYNTAX_GOLDEN])
    assert [compiled[:3] for _, compiled in recorded] == [
        [error, msg, lineno] for _, _, error, msg, lineno in SYNTAX_GOLDEN
    ]


def test_python3_cells_keep_python3_errors(shell):
    """A cell that is Python 3 up to its error gets Python 3's error."""
    cell = 'x = f"{1}"\nif x\n    y = 2\n'
    with pytest.raises(SyntaxError) as python3:
        compile(cell, "<cell>", "exec")
    assert py2syntax.python27_error(cell).lineno == 1  # CPython 2.7 stops on the f-string
    (result,) = run_cells(shell, [cell])
    found = result.error_before_exec
    assert (found.msg, found.lineno) == (python3.value.msg, 2) == ("expected ':'", 2)


def test_compiler_errors_on_the_right_line(shell):
    """An error Python 2.7's parser lets through (its compiler's) is Python 3's, on its line."""
    (result,) = run_cells(shell, ['print "a"\nf(a=1, 2)\n'])
    found = result.error_before_exec
    assert (found.lineno, found.text) == (2, "f(a=1, 2)\n")
    assert found.msg == "positional argument follows keyword argument"


def test_tracebacks_show_the_cell_as_written(shell, capsys):
    """A runtime error on a rewritten line shows the user's line, at its number."""
    shown = []
    shell._showtraceback = lambda etype, value, stb: shown.append(shell.InteractiveTB.stb2text(stb))
    try:
        (result,) = run_cells(shell, ['x = 0\ny = 1\nprint "a", y/x\n'])
    finally:
        shell._showtraceback = lambda etype, value, stb: None
    (frame,) = [
        f for f in traceback.extract_tb(result.error_in_exec.__traceback__) if f.name == "<module>"
    ]
    assert (frame.lineno, frame.line) == (3, 'print "a", y/x')
    (text,) = shown
    assert 'print "a", y/x' in text and NAME_CALL not in text
    assert capsys.readouterr().out == "a"


NAME_CALL = py2print.NAME + "("


def plain(traceback_lines):
    """A kernel's traceback lines as text, without their colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback_lines))


def test_unload_unhooks_the_compiler(shell):
    """Unloading restores IPython's own compiler methods."""
    py2print.unload_ipython_extension(shell)
    assert "cache" not in vars(shell.compile) and "ast_parse" not in vars(shell.compile)
    py2print.load_ipython_extension(shell)
    assert vars(shell.compile)["cache"].py2print and vars(shell.compile)["ast_parse"].py2print


def test_real_kernel_errors(project_kernel):
    """Through the project's kernel, ``vae-legacy``: the error outputs nbclient gets."""
    cells = ['y = 2\nprint "a"\nz = = 3', 'x = 0\nprint "a", 1/x']
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(
        nb,
        kernel_name=project_kernel,
        timeout=60,
        allow_errors=True,
        resources={"metadata": {"path": str(REPO)}},
    ).execute()
    (syntax,), (_, runtime) = (cell.outputs for cell in nb.cells)
    assert (syntax.ename, syntax.evalue.split(" (")[0]) == ("SyntaxError", "invalid syntax")
    assert "line 3" in syntax.evalue and "z = = 3" in plain(syntax.traceback)
    assert runtime.ename == "ZeroDivisionError"
    shown = plain(runtime.traceback)
    assert 'print "a", 1/x' in shown and NAME_CALL not in shown


NOT_RUN = (
    "Python 2 that this kernel does not run (it runs Python 3 with Python 2's print and division); "
)
PYTHON2_ONLY = [
    ("print 1 <> 2\n", "<>", "!=", 1, 9),
    ("x = 1\ny = `x`\n", "backquotes `x`", "repr(x)", 2, 5),
    (
        "try:\n    1/0\nexcept ZeroDivisionError, e:\n    pass\n",
        "except E, e",
        "except E as e",
        3,
        1,
    ),
    ('raise ValueError, "m"\n', "raise E, v", "raise E(v)", 1, 1),
    ('exec "x = 1"\n', "the exec statement", "exec(code)", 1, 1),
    ("x = 10L\n", "10L", "10", 1, 5),
    ("x = 0777\n", "0777", "0o777", 1, 5),
    ("x = ur'a'\n", "ur'...'", "r'...'", 1, 5),
    (
        "def f((a, b)):\n    return a\n",
        "tuple parameters",
        "one parameter, unpacked in the body",
        1,
        7,
    ),
]


@pytest.mark.parametrize(("cell", "what", "instead", "lineno", "offset"), PYTHON2_ONLY)
def test_python2_the_kernel_does_not_run_says_so_at_its_line(
    shell, cell, what, instead, lineno, offset
):
    # Python 3 alone said "Missing parentheses in call to 'print'" for the first, and
    # "invalid syntax" for most; CPython 2.7 ran them all.
    (result,) = run_cells(shell, [cell])
    found = result.error_before_exec
    assert type(found) is SyntaxError and (found.lineno, found.offset) == (lineno, offset)
    assert found.msg == (
        f"{what}: {NOT_RUN}write {instead}, or use the 2016 kernel (vae-legacy-2016), which "
        "runs all of Python 2.7"
    )


@pytest.mark.parametrize(
    ("cell", "name", "instead"),
    [
        ("for i in xrange(3):\n    pass\n", "xrange", "range"),
        ("d = {}\nd.has_key(1)\n", "has_key", "k in d"),
        ("d = {}\nlist(d.iteritems())\n", "iteritems", "d.items()"),
    ],
)
def test_python2_names_say_what_to_write_instead(shell, cell, name, instead):
    (result,) = run_cells(shell, [cell])
    assert str(result.error_in_exec).endswith(
        f"; {name}: {NOT_RUN}write {instead}, or use the 2016 kernel (vae-legacy-2016), "
        "which runs all of Python 2.7"
    )
    (other,) = run_cells(shell, ["no_such_name\n"])
    assert str(other.error_in_exec) == "name 'no_such_name' is not defined"


NUMPY_DIVISION = [
    "import numpy as np\n"
    "print np.int32(7)/2, np.array([7, -7])/2, np.uint8(7)/np.int64(2), np.int64(-7)/2\n"
    "print np.array([7.0])/2, np.array([7])/np.array([2.0]), np.float32(7)/2"
]


def test_numpy_integers_divide_as_on_the_2016_stack(stack_2016, shell, capsys):
    # numpy 1.11 on Python 2.7 divided integer scalars and arrays classically, too.
    recorded = subprocess.run(
        [stack_2016.python, str(REPO / "tests" / "py2_print_recorder.py")],
        input=json.dumps([NUMPY_DIVISION]), capture_output=True, text=True, check=True,
    )  # fmt: skip
    ((out, err, raised),) = json.loads(recorded.stdout)
    assert out.startswith("3 [ 3 -4] 3 -4\n") and not raised
    run_cells(shell, NUMPY_DIVISION)
    assert capsys.readouterr() == (out, err)


def test_an_error_keeps_its_line_as_the_cell_has_it():
    """Both ways: Python 3.12's tokenizer reports a line without its newline (3.11's and 2.7's
    with it): given back as the cell has it; a line already whole, or another, is kept."""
    cell = 'if True:\n    print "a"\n  print "b"\n'
    error = IndentationError("unindent", ("<cell>", 3, 11, '  print "b"'))
    assert py2print._line_as_written(error, cell).text == '  print "b"\n'
    whole = IndentationError("unindent", ("<cell>", 3, 11, '  print "b"\n'))
    assert py2print._line_as_written(whole, cell).text == '  print "b"\n'
    other = SyntaxError("invalid syntax", ("<cell>", 2, 1, "x"))
    assert py2print._line_as_written(other, cell).text == "x"


def test_unknown_escapes_compile_quietly_as_on_python_2(shell):
    """The notebook's '$z\\sim p(z)$' warns on Python 3.12 and later (a SyntaxWarning; a
    DeprecationWarning before), as every unknown escape does. Both ways: with the
    extension's filter it compiles without a word, without it Python 3 warns."""
    import warnings

    cell = "label = '$z\\sim p(z)$'\n"
    for quiet in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            py2print.quiet_invalid_escapes(quiet)
            compile(cell, "<cell>", "exec")
        said = [str(w.message) for w in caught]
        assert said == ([] if quiet else ["invalid escape sequence '\\s'"]), said
    py2print.quiet_invalid_escapes()
