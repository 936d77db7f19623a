"""IPython extension: the notebook's Python 2 ``print`` statements print as on Python 2.7.

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
"""

import ast
import builtins
import sys

from fissix import pygram, pytree
from fissix.pgen2 import driver, token

NAME = "_py2_print"

_syms = pygram.python_symbols
_driver = driver.Driver(pygram.python_grammar, convert=pytree.convert)
_AST_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
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
        module = compile(source, "<cell>", "exec", _AST_FLAGS)
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


class Py2Print:
    """The input transformer (lines in, lines out), applied after IPython's own."""

    def __init__(self):
        self.print_function = False

    def __call__(self, lines):
        source = "".join(lines)
        if self.print_function or "print" not in source:
            return lines
        if "print_function" in source and _imports_print_function(source):
            self.print_function = True
            return lines
        try:
            tree = _driver.parse_string(source + "\n")
        except Exception:
            return lines
        keywords = []
        for node in tree.pre_order():
            if _py3_only(node):
                return lines
            if node.type == token.NAME and node.value == "print":
                keywords.append(node)
        if not keywords:
            return lines
        for keyword in keywords:
            _rewrite(keyword)
        rewritten = str(tree)[:-1]
        try:
            compile(rewritten, "<cell>", "exec", _AST_FLAGS)
        except (SyntaxError, ValueError):
            return lines
        return rewritten.splitlines(keepends=True)


def load_ipython_extension(ip):
    """Rewrite print statements in each cell, flush softspace after it, print as in 2016."""
    setattr(builtins, NAME, Print)
    set_numpy_print_mode("1.13")
    ip.input_transformers_post.append(Py2Print())
    ip.events.register("post_run_cell", flush_softspace)


def unload_ipython_extension(ip):
    """Undo ``load_ipython_extension``."""
    ip.input_transformers_post[:] = [
        t for t in ip.input_transformers_post if not isinstance(t, Py2Print)
    ]
    ip.events.unregister("post_run_cell", flush_softspace)
    set_numpy_print_mode(False)
    if hasattr(builtins, NAME):
        delattr(builtins, NAME)
