"""What CPython 2.7 says of a cell that does not parse: its syntax error, line and message.

The notebook's cells are Python 2, so a slip in one should be reported as the course's
kernel reported it (``invalid syntax`` at line 3, say), not as Python 3 does
(``Missing parentheses in call to 'print'`` at line 2). ``python27_error`` gives that
report; ``python3_reads_further`` says when Python 3's own report is the better one, for a
cell that is Python 3 up to its error. ``legacy.py2print`` uses both.

CPython 2.7 finds a syntax error in two passes: its tokenizer feeding an LL(1) parser made
from its grammar by pgen, then the compiler's own checks (``can't assign to literal``).
The first pass is reproduced here, error for error: _Tokenizer27 does what CPython 2.7's
tokenizer does on a string (the same tokens, the same errors, and the line and offset it
reports them at), and fissix's pgen parser runs Python 2.7's grammar. The line CPython 2.7
reports is the last one its tokenizer read, the offset where it stopped reading. CPython 2.7
counts that offset from the first line of the token it was reading, here it counts from the
reported line, so that the caret stays on it: the two differ only after a triple-quoted
string that spans lines. The second pass is left to Python 3 (``legacy.py2print``).
tests/test_py2syntax.py checks all of it against CPython 2.7 itself.
"""

import ast
import codeop
import functools
import io
import itertools
from typing import NamedTuple

from fissix.pgen2 import grammar, parse, pgen, token

# How IPython compiles a cell: to an AST, with top-level ``await`` allowed.
CELL_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

# Python 2.7's grammar: the same language as CPython 2.7's Grammar/Grammar, in pgen's notation.
_GRAMMAR_27 = r"""
file_input: (NEWLINE | stmt)* ENDMARKER
decorator: '@' dotted_name ['(' [arglist] ')'] NEWLINE
decorators: decorator+
decorated: decorators (classdef | funcdef)
funcdef: 'def' NAME parameters ':' suite
parameters: '(' [varargslist] ')'
varargslist: ((fpdef ['=' test] ',')* ('*' NAME [',' '**' NAME] | '**' NAME) |
              fpdef ['=' test] (',' fpdef ['=' test])* [','])
fpdef: NAME | '(' fplist ')'
fplist: fpdef (',' fpdef)* [',']
stmt: simple_stmt | compound_stmt
simple_stmt: small_stmt (';' small_stmt)* [';'] NEWLINE
small_stmt: (expr_stmt | print_stmt | del_stmt | pass_stmt | flow_stmt | import_stmt |
             global_stmt | exec_stmt | assert_stmt)
expr_stmt: testlist (augassign (yield_expr | testlist) | ('=' (yield_expr | testlist))*)
augassign: ('+=' | '-=' | '*=' | '/=' | '%=' | '&=' | '|=' | '^=' | '<<=' | '>>=' | '**=' |
            '//=')
print_stmt: 'print' ([test (',' test)* [',']] | '>>' test [(',' test)+ [',']])
del_stmt: 'del' exprlist
pass_stmt: 'pass'
flow_stmt: break_stmt | continue_stmt | return_stmt | raise_stmt | yield_stmt
break_stmt: 'break'
continue_stmt: 'continue'
return_stmt: 'return' [testlist]
yield_stmt: yield_expr
raise_stmt: 'raise' [test [',' test [',' test]]]
import_stmt: import_name | import_from
import_name: 'import' dotted_as_names
import_from: ('from' ('.'* dotted_name | '.'+)
              'import' ('*' | '(' import_as_names ')' | import_as_names))
import_as_name: NAME ['as' NAME]
dotted_as_name: dotted_name ['as' NAME]
import_as_names: import_as_name (',' import_as_name)* [',']
dotted_as_names: dotted_as_name (',' dotted_as_name)*
dotted_name: NAME ('.' NAME)*
global_stmt: 'global' NAME (',' NAME)*
exec_stmt: 'exec' expr ['in' test [',' test]]
assert_stmt: 'assert' test [',' test]
compound_stmt: (if_stmt | while_stmt | for_stmt | try_stmt | with_stmt | funcdef | classdef |
                decorated)
if_stmt: 'if' test ':' suite ('elif' test ':' suite)* ['else' ':' suite]
while_stmt: 'while' test ':' suite ['else' ':' suite]
for_stmt: 'for' exprlist 'in' testlist ':' suite ['else' ':' suite]
try_stmt: ('try' ':' suite ((except_clause ':' suite)+ ['else' ':' suite]
           ['finally' ':' suite] | 'finally' ':' suite))
with_stmt: 'with' with_item (',' with_item)* ':' suite
with_item: test ['as' expr]
except_clause: 'except' [test [('as' | ',') test]]
suite: simple_stmt | NEWLINE INDENT stmt+ DEDENT
testlist_safe: old_test [(',' old_test)+ [',']]
old_test: or_test | old_lambdef
old_lambdef: 'lambda' [varargslist] ':' old_test
test: or_test ['if' or_test 'else' test] | lambdef
or_test: and_test ('or' and_test)*
and_test: not_test ('and' not_test)*
not_test: 'not' not_test | comparison
comparison: expr (comp_op expr)*
comp_op: '<' | '>' | '==' | '>=' | '<=' | '<>' | '!=' | 'in' | 'not' 'in' | 'is' | 'is' 'not'
expr: xor_expr ('|' xor_expr)*
xor_expr: and_expr ('^' and_expr)*
and_expr: shift_expr ('&' shift_expr)*
shift_expr: arith_expr (('<<' | '>>') arith_expr)*
arith_expr: term (('+' | '-') term)*
term: factor (('*' | '/' | '%' | '//') factor)*
factor: ('+' | '-' | '~') factor | power
power: atom trailer* ['**' factor]
atom: ('(' [yield_expr | testlist_comp] ')' | '[' [listmaker] ']' | '{' [dictorsetmaker] '}' |
       '`' testlist1 '`' | NAME | NUMBER | STRING+)
listmaker: test (list_for | (',' test)* [','])
testlist_comp: test (comp_for | (',' test)* [','])
lambdef: 'lambda' [varargslist] ':' test
trailer: '(' [arglist] ')' | '[' subscriptlist ']' | '.' NAME
subscriptlist: subscript (',' subscript)* [',']
subscript: '.' '.' '.' | test | [test] ':' [test] [sliceop]
sliceop: ':' [test]
exprlist: expr (',' expr)* [',']
testlist: test (',' test)* [',']
dictorsetmaker: ((test ':' test (comp_for | (',' test ':' test)* [','])) |
                 (test (comp_for | (',' test)* [','])))
classdef: 'class' NAME ['(' [testlist] ')'] ':' suite
arglist: (argument ',')* (argument [','] | '*' test (',' argument)* [',' '**' test] |
                          '**' test)
argument: test [comp_for] | test '=' test
list_iter: list_for | list_if
list_for: 'for' exprlist 'in' testlist_safe [list_iter]
list_if: 'if' old_test [list_iter]
comp_iter: comp_for | comp_if
comp_for: 'for' exprlist 'in' or_test [comp_iter]
comp_if: 'if' old_test [comp_iter]
testlist1: test (',' test)*
yield_expr: 'yield' [testlist]
"""

# The messages of CPython 2.7's err_input, by the name its parser gives the error.
_MESSAGES = {
    "syntax": (SyntaxError, "invalid syntax"),
    "expected indent": (IndentationError, "expected an indented block"),
    "indent": (IndentationError, "unexpected indent"),
    "unindent": (IndentationError, "unexpected unindent"),
    "eof": (SyntaxError, "unexpected EOF while parsing"),
    "token": (SyntaxError, "invalid token"),
    "eols": (SyntaxError, "EOL while scanning string literal"),
    "eofs": (SyntaxError, "EOF while scanning triple-quoted string literal"),
    "dedent": (IndentationError, "unindent does not match any outer indentation level"),
    "toodeep": (IndentationError, "too many levels of indentation"),
    "linecont": (SyntaxError, "unexpected character after line continuation character"),
}
_TWO_CHARS = {"==", "!=", "<>", "<=", "<<", ">=", ">>", "+=", "-=", "*=", "**", "/=", "//"}
_TWO_CHARS |= {"|=", "%=", "&=", "^="}
_THREE_CHARS = {"<<=", ">>=", "**=", "//="}
_NEXTLINE = object()


def _digit(c, digits="0123456789"):
    return c is not None and c in digits


def _letter(c):
    return c is not None and ("a" <= c <= "z" or "A" <= c <= "Z")


@functools.cache
def _grammar27():
    return pgen.ParserGenerator("<Python 2.7>", io.StringIO(_GRAMMAR_27)).make_grammar()


class _Tokenizer27:
    """CPython 2.7's tokenizer reading a string.

    ``get()`` gives the next token as ``(fissix token number, string, start)``, or None
    after an error, which ``done`` then names; ``done`` is ``"eof"`` once the text is read.
    ``cur`` is where reading stopped and ``lineno`` the last line read, where CPython 2.7
    reports an error found at that point.
    """

    def __init__(self, text):
        self.text = text
        self.cur = self.inp = 0
        self.start = None
        self.lineno = 0
        self.done = None
        self.atbol = True
        self.indents = [0]
        self.pendin = 0
        self.level = 0

    def nextc(self):
        """The next character, reading the next line when one is used up; None at the end."""
        if self.cur == self.inp:
            if self.done or self.inp == len(self.text):
                self.done = self.done or "eof"
                return None
            self.lineno += 1
            self.inp = self.text.find("\n", self.inp) + 1 or len(self.text)
        self.cur += 1
        return self.text[self.cur - 1]

    def backup(self, c):
        if c is not None:
            self.cur -= 1

    def fail(self, done, to_end_of_line=True):
        self.done = done
        if to_end_of_line:
            self.cur = self.inp

    def get(self):
        while True:
            self.start = None
            blankline = False
            if self.atbol:
                self.atbol = False
                col = 0
                while True:
                    c = self.nextc()
                    if c == " ":
                        col += 1
                    elif c == "\t":
                        col = (col // 8 + 1) * 8
                    elif c == "\f":
                        col = 0
                    else:
                        break
                self.backup(c)
                blankline = c in ("#", "\n")
                if not blankline and self.level == 0:
                    if col > self.indents[-1]:
                        if len(self.indents) >= 100:
                            return self.fail("toodeep")
                        self.pendin += 1
                        self.indents.append(col)
                    elif col < self.indents[-1]:
                        while len(self.indents) > 1 and col < self.indents[-1]:
                            self.pendin -= 1
                            self.indents.pop()
                        if col != self.indents[-1]:
                            return self.fail("dedent")
            self.start = self.cur
            if self.pendin < 0:
                self.pendin += 1
                return token.DEDENT, "", self.cur
            if self.pendin > 0:
                self.pendin -= 1
                return token.INDENT, "", self.cur
            found = self.after_indentation(blankline)
            if found is not _NEXTLINE:
                return found

    def after_indentation(self, blankline):
        while True:
            self.start = None
            c = self.nextc()
            while c in (" ", "\t", "\f"):
                c = self.nextc()
            self.start = self.cur - 1
            if c == "#":
                while c is not None and c != "\n":
                    c = self.nextc()
            if c is None:
                return (token.ENDMARKER, "", self.cur) if self.done == "eof" else None
            if _letter(c) or c == "_":
                if c in "bBuU":
                    c = self.nextc()
                    if c in ("r", "R"):
                        c = self.nextc()
                elif c in "rR":
                    c = self.nextc()
                if c in ("'", '"'):
                    return self.string(c)
                while _letter(c) or _digit(c) or c == "_":
                    c = self.nextc()
                self.backup(c)
                return token.NAME, self.text[self.start : self.cur], self.start
            if c == "\n":
                self.atbol = True
                if blankline or self.level > 0:
                    return _NEXTLINE
                return token.NEWLINE, "\n", self.start
            if c == ".":
                c = self.nextc()
                if _digit(c):
                    return self.fraction()
                self.backup(c)
                return token.DOT, ".", self.start
            if _digit(c):
                return self.number(c)
            if c in ("'", '"'):
                return self.string(c)
            if c == "\\":
                if self.nextc() != "\n":
                    return self.fail("linecont")
                continue
            c2 = self.nextc()
            if c2 is not None and c + c2 in _TWO_CHARS:
                c3 = self.nextc()
                if c3 is None or c + c2 + c3 not in _THREE_CHARS:
                    self.backup(c3)
                op = self.text[self.start : self.cur]
                return grammar.opmap[op], op, self.start
            self.backup(c2)
            self.level += (c in "([{") - (c in ")]}")
            return grammar.opmap.get(c, token.OP), c, self.start

    def number(self, c):
        if c != "0":
            c = self.nextc()
            while _digit(c):
                c = self.nextc()
            if c in ("l", "L"):
                return self.end_number(self.nextc())
            if c == ".":
                return self.fraction()
            return self.exponent(c)
        c = self.nextc()
        if c == ".":
            return self.fraction()
        if c in ("j", "J"):
            return self.end_number(self.nextc())
        radix = {"x": "0123456789abcdefABCDEF", "o": "01234567", "b": "01"}
        if c is not None and c.lower() in radix:
            digits = radix[c.lower()]
            c = self.nextc()
            if not _digit(c, digits):
                self.backup(c)
                return self.fail("token", to_end_of_line=False)
            while _digit(c, digits):
                c = self.nextc()
        else:
            while _digit(c, "01234567"):
                c = self.nextc()
            decimal = _digit(c)
            while _digit(c):
                c = self.nextc()
            if c == ".":
                return self.fraction()
            if c in ("e", "E", "j", "J"):
                return self.exponent(c)
            if decimal:
                self.backup(c)
                return self.fail("token", to_end_of_line=False)
        if c in ("l", "L"):
            c = self.nextc()
        return self.end_number(c)

    def fraction(self):
        c = self.nextc()
        while _digit(c):
            c = self.nextc()
        return self.exponent(c)

    def exponent(self, c):
        if c in ("e", "E"):
            e, c = c, self.nextc()
            if c in ("+", "-"):
                c = self.nextc()
                if not _digit(c):
                    self.backup(c)
                    return self.fail("token", to_end_of_line=False)
            elif not _digit(c):
                self.backup(c)
                self.backup(e)
                return token.NUMBER, self.text[self.start : self.cur], self.start
            c = self.nextc()
            while _digit(c):
                c = self.nextc()
        if c in ("j", "J"):
            c = self.nextc()
        return self.end_number(c)

    def end_number(self, c):
        self.backup(c)
        return token.NUMBER, self.text[self.start : self.cur], self.start

    def string(self, quote):
        quote2 = self.cur - self.start + 1
        triple, tripcount = False, 0
        while True:
            c = self.nextc()
            if c == "\n":
                if not triple:
                    self.backup(c)
                    return self.fail("eols", to_end_of_line=False)
                tripcount = 0
            elif c is None:
                return self.fail("eofs" if triple else "eols")
            elif c == quote:
                tripcount += 1
                if self.cur - self.start == quote2:
                    c = self.nextc()
                    if c == quote:
                        triple, tripcount = True, 0
                        continue
                    self.backup(c)
                if not triple or tripcount == 3:
                    return token.STRING, self.text[self.start : self.cur], self.start
            elif c == "\\":
                tripcount = 0
                if self.nextc() is None:
                    return self.fail("eols")
            else:
                tripcount = 0


class _Leaves(list):
    """A parsed node, kept as the strings of its leaves."""


class _Parser27(parse.Parser):
    """fissix's pgen parser on Python 2.7's grammar; ``print`` is a name after a
    ``from __future__ import print_function``, from the next statement on, as in CPython 2.7."""

    def __init__(self):
        super().__init__(_grammar27(), self.leaves)
        self.import_stmt = self.grammar.symbol2number["import_stmt"]
        self.print_function = False
        self.setup()

    def leaves(self, grammar, node):
        kind, value, _, children = node
        if children is None:
            return [value]
        leaves = _Leaves(itertools.chain.from_iterable(children))
        if kind == self.import_stmt and leaves[:3] == ["from", "__future__", "import"]:
            self.print_function = self.print_function or "print_function" in leaves
        return leaves

    def classify(self, type, value, context):
        if type == token.NAME and value == "print" and self.print_function:
            return self.grammar.tokens[token.NAME]
        return super().classify(type, value, context)

    def expects_only_indent(self):
        """Whether INDENT is the one token the parser's current state accepts."""
        dfa, state, _ = self.stack[-1]
        labels = set()
        for label, _ in dfa[0][state]:
            kind = self.grammar.labels[label][0]
            if label and kind >= 256:
                labels.update(self.grammar.dfas[kind][1])
            elif label:
                labels.add(label)
        return labels == {self.grammar.tokens[token.INDENT]}


class Python2Error(NamedTuple):
    """A syntax error as CPython 2.7 reports it, and the stretch of the text it stopped on."""

    error: type
    msg: str
    lineno: int
    offset: int
    line: str
    start: int
    end: int

    def exception(self, filename):
        return self.error(self.msg, (filename, self.lineno, self.offset, self.line))


def _python2_text(source):
    """The text CPython 2.7 compiles for ``source``: its newlines, and one at the end."""
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def python27_error(source):
    """The syntax error CPython 2.7's parser finds in ``source``, or None if it finds none."""
    text = _python2_text(source)
    tokenizer, parser = _Tokenizer27(text), _Parser27()
    started = False
    while True:
        found = tokenizer.get()
        if found is None:
            kind, start = tokenizer.done, tokenizer.start
            break
        kind, value, start = found
        if kind == token.ENDMARKER and started:  # CPython's parsetok: a last NEWLINE first
            kind, started = token.NEWLINE, False
            tokenizer.pendin, tokenizer.indents = 1 - len(tokenizer.indents), [0]
        else:
            started = True
        try:
            if parser.addtoken(kind, value, None):
                return None
        except parse.ParseError as error:
            if error.msg != "bad token" and parser.expects_only_indent():
                kind = "expected indent"
            else:
                kind = {token.INDENT: "indent", token.DEDENT: "unindent"}.get(kind, "syntax")
            break
    if tokenizer.lineno <= 1 and tokenizer.done == "eof":
        kind = "eof"
    lineno = max(tokenizer.lineno, 1)
    line_start = 0 if lineno == 1 else _nth(text, "\n", lineno - 1) + 1
    line = text[line_start : text.find("\n", line_start) + 1 or len(text)]
    offset = tokenizer.cur - line_start
    start = tokenizer.cur if start is None else min(start, tokenizer.cur)
    return Python2Error(*_MESSAGES[kind], lineno, offset, line, start, tokenizer.cur)


def _nth(text, char, n):
    """The index of the n-th ``char`` in text."""
    index = -1
    for _ in range(n):
        index = text.index(char, index + 1)
    return index


def _python3_fails_within(text, end):
    """Whether Python 3 finds an error in ``text[:end]``, not just the end of it coming early."""
    flags = CELL_FLAGS | codeop.PyCF_DONT_IMPLY_DEDENT | codeop.PyCF_ALLOW_INCOMPLETE_INPUT
    try:
        compile(text[:end], "<cell>", "exec", flags)
    except SyntaxError as error:
        return type(error).__name__ != "_IncompleteInputError" and error.msg != "incomplete input"
    except ValueError:
        return False
    return False


def _position(text, error):
    """Where in text Python 3 puts a SyntaxError (its line and 1-based offset)."""
    lineno, offset = error.lineno or 1, error.offset or 1
    line_start = 0 if lineno <= 1 else _nth(text, "\n", min(lineno, text.count("\n")) - 1) + 1
    return line_start + offset - 1


def python3_reads_further(source, found, python3):
    """Whether ``python3``, Python 3's SyntaxError for ``source``, is the one to report rather
    than ``found``, CPython 2.7's: Python 3 reads the cell without error up to where
    CPython 2.7 stopped, and puts its own error after that."""
    text = _python2_text(source)
    return not _python3_fails_within(text, found.start) and _position(text, python3) >= found.end
