"""IPython extension: the notebook's Python 2 ``print`` statements print as on Python 2.7,
and ``/`` divides as Python 2's classic division did (``ClassicDivision``).

The rule is Python 2 first. A cell that parses as Python 2 (fissix's grammar with the
print statement, minus the syntax only Python 3 has) gets Python 2's print, because
that is what the notebook's authors saw: ``print (1, 2)`` prints a tuple although it is
valid Python 3 too. Any other cell runs untouched as Python 3, and so does every cell
from a ``from __future__ import print_function`` on (IPython on Python 2 kept future
flags for the session).

Each print statement is rewritten in place into a chain of calls, on the same physical
lines so tracebacks keep their line numbers: ``print >>f, a, b`` becomes
``_py2_print( f)( a)( b).newline()``, and a trailing comma ends the chain with
``.comma()`` instead (both return None, so IPython displays nothing). Each call writes
one item, so items are evaluated and written one by one, as in Python 2.

Items print as Python 2.7's ``str`` did: a ``float`` with 12 significant digits
(``print 1.0/3`` gives ``0.333333333333``), everything else as its ``str``; ``str(x)``
and ``"%s" % x`` inside a cell stay Python 3's. Loading the extension also puts numpy
in its ``legacy='1.13'`` print mode, what numpy 1.11 printed in 2016:
``array(-564.3092651367188, dtype=float32)``, not ``array(-564.30927, dtype=float32)``.

Stock 2to3 loses Python 2's softspace rule for a trailing comma, so it is kept here:
each item sets ``file.softspace`` unless it is a string ending in whitespace other than
``' '``, and a set flag makes the next item start with a space. A flag still set when a
cell ends without error is flushed with a newline, as IPython did on Python 2.

Errors point where the user looks. A traceback through a rewritten cell shows the cell as
the user wrote it (``print "a", y/x``, not the call chain), on the same line numbers. A
cell that does not compile is reported as CPython 2.7 reported it (``invalid syntax`` at
line 3, say, not Python 3's ``Missing parentheses in call to 'print'`` at line 2), unless
the cell is Python 3 up to its error, which keeps Python 3's report: ``legacy.py2syntax``
reproduces CPython 2.7's tokenizer and parser for that (its compiler's later checks, such
as ``can't assign to literal``, are left to Python 3, on the right line).
"""

import ast
import builtins
import linecache
import sys
import warnings

from fissix import pygram, pytree
from fissix.pgen2 import driver, token

from legacy import py2syntax

NAME = "_py2_print"
DIV = "_py2_div"

_syms = pygram.python_symbols
_driver = driver.Driver(pygram.python_grammar, convert=pytree.convert)
_PY3_TYPES = {
    token.ASYNC,
    token.AWAIT,
    token.RARROW,
    token.COLONEQUAL,
    token.ATEQUAL,
    _syms.annassign,
    _syms.star_expr,
    _syms.tname,
    _syms.yield_arg,
}


def py2_str(item):
    """``str(item)`` as CPython 2.7 gave it: a float to 12 significant digits (``float_str``,
    whose ``'g'`` with ``Py_DTSF_ADD_DOT_0`` is Python 3's format spec ``'.12'``)."""
    if isinstance(item, float) and type(item).__str__ is float.__str__:
        return format(item, ".12")
    return str(item)


def set_numpy_print_mode(legacy):
    """``"1.13"``: numpy 1.11's array and scalar reprs, as in 2016; ``False``: today's."""
    import numpy

    numpy.set_printoptions(legacy=legacy)


def softspace(file, flag):
    """Python 2's ``PyFile_SoftSpace``: set ``file.softspace`` to flag, return the old one."""
    try:
        old = file.softspace
    except Exception:
        old = 0
    try:
        file.softspace = flag
    except Exception:
        pass
    return old if isinstance(old, int) else 0


class Print:
    """One print statement: ``Print(file)(item)(item).newline()``, or ``.comma()`` at the end."""

    def __init__(self, file):
        self.file = file

    def stream(self):
        """The file to write to; ``None`` means ``sys.stdout`` at the time of writing."""
        return sys.stdout if self.file is None else self.file

    def __call__(self, item):
        """Write one item as Python 2's ``PRINT_ITEM`` does, and return self for the next."""
        __tracebackhide__ = True
        file = self.stream()
        if softspace(file, 0):
            file.write(" ")
        file.write(py2_str(item))
        if not isinstance(item, str) or not item[-1:].isspace() or item[-1] == " ":
            softspace(file, 1)
        return self

    def newline(self):
        """End the statement with a newline (``PRINT_NEWLINE``)."""
        __tracebackhide__ = True
        file = self.stream()
        file.write("\n")
        softspace(file, 0)

    def comma(self):
        """End the statement after a trailing comma: the softspace flag stays set."""


def flush_softspace(result):
    """After a cell that ran without error, end a line left open by ``print x,``."""
    if result.success and softspace(sys.stdout, 0):
        sys.stdout.write("\n")


def _py3_only(node):
    """Whether node is syntax that fissix's grammar accepts but Python 2.7 does not."""
    kind, parent = node.type, node.parent
    if kind in _PY3_TYPES:
        return True
    if kind == token.STRING:
        return "f" in node.value[: len(node.value) - len(node.value.lstrip("bBfFrRuU"))].lower()
    if kind == token.NAME:
        return (
            node.value == "nonlocal"
            or (node.value == "from" and parent.type == _syms.raise_stmt)
            or not node.value.isascii()
        )
    if kind == token.NUMBER:
        return "_" in node.value
    if kind == token.AT:
        return parent.type != _syms.decorator
    if kind == token.DOUBLESTAR:
        return parent.type == _syms.dictsetmaker
    if kind == token.STAR and parent.type in (_syms.typedargslist, _syms.varargslist):
        comma = node.next_sibling
        if comma is not None and comma.type != token.COMMA:
            comma = comma.next_sibling
        after = comma and comma.next_sibling
        return after is not None and after.type != token.DOUBLESTAR
    return False


def _imports_print_function(source):
    """Whether the cell has a top-level ``from __future__ import print_function``."""
    try:
        module = compile(source, "<cell>", "exec", py2syntax.CELL_FLAGS)
    except (SyntaxError, ValueError):
        return False
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "print_function" for alias in node.names)
        for node in module.body
    )


def _rewrite(keyword):
    """Turn the print statement led by the ``print`` leaf into a call chain, in place."""
    stmt = keyword.parent
    if stmt.type != _syms.print_stmt:
        keyword.value = NAME + "(None).newline()"
        return
    kids = stmt.children
    to_file = kids[1].type == token.RIGHTSHIFT
    keyword.value = NAME + ("(" if to_file else "(None)(")
    if to_file:
        kids[1].value = ""
    for kid in kids:
        if kid.type == token.COMMA:
            kid.value = ")("
    if kids[-1].type == token.COMMA:
        kids[-1].value = ").comma()"
    else:
        last = kids[-1]
        while last.children:
            last = last.children[-1]
        last.value += ").newline()"


def _python2_only(tree):
    """The first syntax Python 2.7 accepts and Python 3 does not, as (leaf, what it is, what
    to write instead), or None.

    (``<>``, backquotes, ``except E, e``, ``raise E, v``, ``exec code``, tuple parameters,
    ``0777``, ``10L``, ``ur''``.)"""
    for node in tree.pre_order():
        kind = node.type
        leaf = next(node.leaves()) if node.children else node
        if kind == token.BACKQUOTE:
            return leaf, "backquotes `x`", "repr(x)"
        if kind == token.NOTEQUAL and node.value == "<>":
            return leaf, "<>", "!="
        if kind == token.NUMBER and node.value[-1] in "lL":
            return leaf, node.value, node.value[:-1]
        if kind == token.NUMBER and node.value[0] == "0" and node.value.isdigit():
            if node.value.strip("0"):
                return leaf, node.value, "0o" + node.value.lstrip("0")
        if kind == token.STRING:
            prefix = node.value[: len(node.value) - len(node.value.lstrip("bBfFrRuU"))].lower()
            if "u" in prefix and "r" in prefix:
                return leaf, "ur'...'", "r'...'"
        if kind == _syms.except_clause and any(kid.type == token.COMMA for kid in node.children):
            return leaf, "except E, e", "except E as e"
        if kind == _syms.raise_stmt and any(kid.type == token.COMMA for kid in node.children):
            return leaf, "raise E, v", "raise E(v)"
        if kind in (_syms.tfpdef, _syms.vfpdef):
            return leaf, "tuple parameters", "one parameter, unpacked in the body"
        if kind == _syms.exec_stmt and not (
            len(node.children) == 2 and node.children[1].type == _syms.atom
        ):
            return leaf, "the exec statement", "exec(code)"
    return None


def python2_only_error(found, source, filename):
    """The SyntaxError for Python 2 this kernel does not run, at its line: what to write."""
    leaf, what, instead = found
    line = source.splitlines(keepends=True)[leaf.lineno - 1]
    return SyntaxError(_not_run(what, instead), (filename, leaf.lineno, leaf.column + 1, line))


def _not_run(what, instead):
    return (
        f"{what}: Python 2 that this kernel does not run (it runs Python 3 with Python 2's "
        f"print and division); write {instead}, or use the 2016 kernel (vae-legacy-2016), "
        "which runs all of Python 2.7"
    )


# Python 2's names that Python 3 has not, and what to write instead.
PYTHON2_NAMES = {
    "xrange": "range",
    "raw_input": "input",
    "unicode": "str",
    "basestring": "str",
    "long": "int",
    "unichr": "chr",
    "iteritems": "d.items()",
    "iterkeys": "d.keys()",
    "itervalues": "d.values()",
    "has_key": "k in d",
}


def python2_names(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for NameError and AttributeError: one of Python 2's names gets a
    message saying what to write instead; the traceback is shown as always."""
    name = getattr(value, "name", None)
    if name in PYTHON2_NAMES and value.args and "Python 2" not in str(value.args[0]):
        value.args = (f"{value.args[0]}; {_not_run(name, PYTHON2_NAMES[name])}",)
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def _rewritten(source):
    """The cell with its print statements rewritten, or None if it is no Python 2 cell."""
    try:
        tree = _driver.parse_string(source + "\n")
    except Exception:
        return None
    keywords = []
    for node in tree.pre_order():
        if _py3_only(node):
            return None
        if node.type == token.NAME and node.value == "print":
            keywords.append(node)
    if not keywords:
        return None
    for keyword in keywords:
        _rewrite(keyword)
    return str(tree)[:-1]


def _line_as_written(error, source):
    """Python 3's ``error`` with its line as the cell has it: Python 3.12's tokenizer reports
    the line without its newline, where 3.11 (and 2.7) kept it."""
    lines = source.splitlines(keepends=True)
    if error.lineno and error.lineno <= len(lines):
        line = lines[error.lineno - 1]
        if error.text == line.rstrip("\r\n"):
            error.text = line
    return error


class Py2Print:
    """The input transformer (lines in, lines out), applied after IPython's own.

    It also keeps the cells it rewrote, for tracebacks to show them as written
    (``original``), and says which syntax error a cell gets (``syntax_error``).
    """

    def __init__(self):
        self.print_function = False
        self.originals = {}

    def __call__(self, lines):
        source = "".join(lines)
        if self.print_function or "print" not in source:
            return lines
        if "print_function" in source and _imports_print_function(source):
            self.print_function = True
            return lines
        rewritten = _rewritten(source)
        if rewritten is None:
            return lines
        try:
            compile(rewritten, "<cell>", "exec", py2syntax.CELL_FLAGS)
        except (SyntaxError, ValueError):
            return lines
        self.originals[rewritten] = source
        while len(self.originals) > 16:
            del self.originals[next(iter(self.originals))]
        return rewritten.splitlines(keepends=True)

    def original(self, cell):
        """The cell as the user wrote it, if it is one this transformer rewrote."""
        return self.originals.get(cell)

    def syntax_error(self, source, filename, python3):
        """The error to report for ``source``, a cell Python 3 rejected with ``python3``.

        A cell that is Python 2 up to where CPython 2.7 stops on it gets CPython 2.7's
        error; one that Python 3 reads further than CPython 2.7 does keeps Python 3's, and so
        does every cell once ``print_function`` is on. A cell CPython 2.7's parser accepts
        gets Python 3's error on its rewrite, which points at the right line, unless it holds
        Python 2 syntax Python 3 has not (``<>``, ...): that gets a line saying what to write.
        """
        if self.print_function:
            return python3
        found = py2syntax.python27_error(source)
        if found is None:
            return self.compiler_error(source, filename, python3)
        if py2syntax.python3_reads_further(source, found, python3):
            return python3
        return found.exception(filename)

    def compiler_error(self, source, filename, python3):
        """Python 3's error for the rewrite of a cell CPython 2.7's parser accepts, or, where
        it holds Python 2 syntax that Python 3 has not, what to write instead."""
        try:
            tree = _driver.parse_string(source + "\n")
        except Exception:
            return python3
        found = _python2_only(tree)
        if found is not None:
            return python2_only_error(found, source, filename)
        rewritten = _rewritten(source) or source
        try:
            compile(rewritten, filename, "exec", py2syntax.CELL_FLAGS)
        except SyntaxError as error:
            lines = source.splitlines(keepends=True)
            if not error.lineno or error.lineno > len(lines):
                return python3
            line = lines[error.lineno - 1]
            same = rewritten.splitlines(keepends=True)[error.lineno - 1] == line
            return type(error)(
                error.msg, (filename, error.lineno, error.offset if same else None, line)
            )
        return python3


def classic_div(a, b):
    """Python 2's ``a / b``: integers (Python's, numpy's, arrays of them) floor-divide,
    anything else divides as ``/`` does in Python 3."""
    if _integral(a) and _integral(b):
        return a // b
    return a / b


def _integral(x):
    if isinstance(x, int):  # bool too, as in Python 2
        return True
    kind = getattr(getattr(x, "dtype", None), "kind", None)
    return kind in ("i", "u", "b") and type(x).__module__ == "numpy"


class ClassicDivision(ast.NodeTransformer):
    """Each cell's ``a / b`` becomes ``_py2_div(a, b)``, and ``x /= b`` for a plain name
    ``x = _py2_div(x, b)``, on the same lines; from a ``from __future__ import division`` on,
    nothing (IPython on Python 2 kept future flags for the session)."""

    def __init__(self):
        self.true_division = False

    def visit_Module(self, node):
        for stmt in node.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
                self.true_division |= any(alias.name == "division" for alias in stmt.names)
        return node if self.true_division else self.generic_visit(node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if not isinstance(node.op, ast.Div):
            return node
        call = ast.Call(ast.Name(DIV, ast.Load()), [node.left, node.right], [])
        return ast.copy_location(call, node)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if not (isinstance(node.op, ast.Div) and isinstance(node.target, ast.Name)):
            return node
        value = ast.Call(
            ast.Name(DIV, ast.Load()), [ast.Name(node.target.id, ast.Load()), node.value], []
        )
        return ast.copy_location(ast.Assign([node.target], value), node)


def _hook_compiler(compiler, transformer):
    """Make IPython's compiler show rewritten cells as written and report Python 2.7's
    syntax errors; ``_unhook_compiler`` undoes it."""
    _unhook_compiler(compiler)
    cache, ast_parse = compiler.cache, compiler.ast_parse

    def cache_as_written(transformed_code, *args, **kwargs):
        name = cache(transformed_code, *args, **kwargs)
        original = transformer.original(transformed_code)
        if original is not None:
            lines = [line + "\n" for line in original.splitlines()]
            linecache.cache[name] = (len(original), None, lines, name)
        return name

    def ast_parse_python2(source, filename="<unknown>", symbol="exec"):
        try:
            return ast_parse(source, filename, symbol)
        except SyntaxError as python3:
            if symbol != "exec":
                raise
            error = transformer.syntax_error(source, filename, python3)
            if error is python3:
                raise
            raise error from None

    for hook in (cache_as_written, ast_parse_python2):
        hook.py2print = True
    compiler.cache, compiler.ast_parse = cache_as_written, ast_parse_python2


def _unhook_compiler(compiler):
    for name in ("cache", "ast_parse"):
        if getattr(vars(compiler).get(name), "py2print", False):
            delattr(compiler, name)


def _hook_tokenizer(manager):
    """IPython tokenizes a cell before any transformer sees it, and a tokenizer error (bad
    indentation) stops the cell there: its line, as the cell has it (``_line_as_written``)."""
    _unhook_tokenizer(manager)
    transform_cell = manager.transform_cell

    def transform_cell_as_written(cell):
        try:
            return transform_cell(cell)
        except SyntaxError as error:
            raise _line_as_written(error, cell) from None

    transform_cell_as_written.py2print = True
    manager.transform_cell = transform_cell_as_written


def _unhook_tokenizer(manager):
    if getattr(vars(manager).get("transform_cell"), "py2print", False):
        del manager.transform_cell


# Python 2 took an unknown escape such as the notebook's '$z\sim p(z)$' as it stands, silently;
# Python 3 takes it the same, and says so: a DeprecationWarning (hidden) up to 3.11, a
# SyntaxWarning on every run of the cell from 3.12.
INVALID_ESCAPE = ("ignore", r"invalid escape sequence", Warning)


def quiet_invalid_escapes(quiet=True):
    """Cells compile unknown escapes without a word, as Python 2 did (or, not ``quiet``, as
    Python 3 does)."""
    action, message, category = INVALID_ESCAPE
    warnings.filters[:] = [
        f for f in warnings.filters if not (f[0] == action and f[1] and f[1].pattern == message)
    ]
    if quiet:
        warnings.filterwarnings(action, message, category)


def load_ipython_extension(ip):
    """Rewrite print statements in each cell, flush softspace after it, print as in 2016;
    tracebacks show the cells as written, syntax errors are Python 2.7's."""
    setattr(builtins, NAME, Print)
    setattr(builtins, DIV, classic_div)
    set_numpy_print_mode("1.13")
    ip.ast_transformers.append(ClassicDivision())
    transformer = Py2Print()
    ip.input_transformers_post.append(transformer)
    _hook_compiler(ip.compile, transformer)
    _hook_tokenizer(ip.input_transformer_manager)
    quiet_invalid_escapes()
    ip.events.register("post_run_cell", flush_softspace)
    ip.set_custom_exc((NameError, AttributeError), python2_names)


def unload_ipython_extension(ip):
    """Undo ``load_ipython_extension``."""
    ip.input_transformers_post[:] = [
        t for t in ip.input_transformers_post if not isinstance(t, Py2Print)
    ]
    _unhook_compiler(ip.compile)
    _unhook_tokenizer(ip.input_transformer_manager)
    quiet_invalid_escapes(False)
    ip.set_custom_exc((), None)
    ip.ast_transformers[:] = [t for t in ip.ast_transformers if not isinstance(t, ClassicDivision)]
    ip.events.unregister("post_run_cell", flush_softspace)
    set_numpy_print_mode(False)
    for name in (NAME, DIV):
        if hasattr(builtins, name):
            delattr(builtins, name)
