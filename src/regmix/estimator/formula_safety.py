"""What a formula may contain: data columns, numbers and an allow-list of transforms.

formulaic evaluates the Python terms of a formula (``np.log(z)``, ``I(x ** 2)``,
``C(g)``) with Python's ``eval``. A formula is therefore code, and a model file, which
stores one, would be code too. This module makes a formula data again: every Python
term is parsed with :mod:`ast` and checked *before* anything is evaluated, and only
these may appear in it:

* names: columns of the data (a backticked name such as ```my col``` included), and,
  as the function called, the transforms of :data:`ALLOWED_FUNCTIONS`;
* ``np.<f>`` or ``numpy.<f>`` for the elementwise numpy functions of
  :data:`NUMPY_FUNCTIONS`, and ``contr.<f>`` for formulaic's contrasts
  (:data:`CONTRAST_FUNCTIONS`); no other attribute;
* numbers, ``True``, ``False``, ``None``; strings, lists and tuples of these only as
  arguments of a call (``C(g, levels=["a", "b"])``, ``contr.treatment("b")``) or
  operands of a comparison (``I(g == "a")``), so that no string or list arithmetic
  can be written;
* arithmetic, comparison, boolean and unary operators (not the shifts), conditional
  expressions, and keyword arguments of the allowed calls. The exponent of ``**``
  must be a plain number of at most :data:`MAX_EXPONENT` in size or arithmetic
  (``+ - * /``) of columns and such numbers, and powers cannot be nested, so that no
  constant of the formula can grow into a huge integer.

Everything else is refused with a :class:`UnsafeFormulaError` naming the term and
why: subscripts, other attributes, dunder names, lambdas, comprehensions, starred
arguments, ``:=``, f-strings and calls of anything else. formulaic's plain names
(``x``, ``a:b``) and literal terms (``1``) are looked up or read as literals, never
evaluated, so only its Python terms need the check.

At fit time the names must be columns of the data (:func:`check_formula` with
``columns``); a loaded model does not know the data, so any name that is not a
dunder passes as a column there (``columns=None``), while calls and attributes are
held to the same allow-list. A name that is not a column of the new data then fails
as a missing column, or at most reads a value of formulaic's context (a function or
a module), which no allowed call invokes; neither runs code.

Examples
--------
>>> check_formula("y ~ x + I(x ** 2) + np.log(z) + C(g)", ["y", "x", "z", "g"])
>>> try:
...     check_formula("y ~ x + I(open('f'))", ["y", "x"])
... except UnsafeFormulaError as err:
...     print(str(err).split(" (only")[0])
formula term "I(open('f'))" is not allowed: call of 'open', which is not an allowed transform
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from formulaic.errors import FormulaicError
from formulaic.parser.algos.tokenize import tokenize

__all__ = [
    "ALLOWED_FUNCTIONS",
    "CONTRAST_FUNCTIONS",
    "MAX_EXPONENT",
    "NUMPY_FUNCTIONS",
    "POWER_HINT",
    "UnsafeFormulaError",
    "check_expression",
    "check_formula",
]


ALLOWED_FUNCTIONS = frozenset({
    # formulaic's default transforms
    "I", "C", "log", "log10", "log2", "exp", "exp2", "exp10", "center", "scale",
    "standardize", "bs", "cr", "cs", "cc", "poly", "lag",
    # formulaic's patsy-style contrasts
    "Treatment", "Sum", "Helmert", "Poly", "Diff",
    # regmix's offset terms
    "offset",
})
"""Functions that may be called by their bare name."""


NUMPY_FUNCTIONS = frozenset({
    "log", "log1p", "log2", "log10", "exp", "expm1", "exp2", "sqrt", "cbrt", "abs",
    "absolute", "square", "power", "sign", "floor", "ceil", "round", "clip", "maximum",
    "minimum", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "where",
})
"""Elementwise numpy functions that may be called as ``np.<name>`` or ``numpy.<name>``."""


CONTRAST_FUNCTIONS = frozenset({"treatment", "sum", "helmert", "poly", "diff"})
"""formulaic's contrasts, which may be named as ``contr.<name>``."""


MAX_EXPONENT = 1000
"""The largest absolute value of a constant exponent of ``**``."""


_MODULES = {"np": NUMPY_FUNCTIONS, "numpy": NUMPY_FUNCTIONS, "contr": CONTRAST_FUNCTIONS}


_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow,
           ast.BitAnd, ast.BitOr, ast.BitXor)


_UNARY = (ast.UAdd, ast.USub, ast.Not, ast.Invert)


_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


_SHOWN = 60


class UnsafeFormulaError(ValueError):
    """A formula term that is not allowed: it would run code other than the transforms."""


def _allowed_text() -> str:
    return (f"only data columns, numbers and the transforms "
            f"{', '.join(sorted(ALLOWED_FUNCTIONS))}, np.<{'|'.join(sorted(NUMPY_FUNCTIONS))}>"
            f" and contr.<{'|'.join(sorted(CONTRAST_FUNCTIONS))}> may appear")


def _shown(term: str) -> str:
    return term if len(term) <= _SHOWN else term[: _SHOWN - 5] + "[...]"


def _refuse(term: str, why: str) -> UnsafeFormulaError:
    return UnsafeFormulaError(
        f"formula term {_shown(term)!r} is not allowed: {why} ({_allowed_text()})"
    )


# ---------------------------------------------------------------------- formulas
def check_formula(formula: str, columns: Collection[str] | None = None) -> None:
    """Check every Python term of ``formula`` before any of it is evaluated.

    Parameters
    ----------
    formula : str
        A formulaic formula, possibly with a gating part after ``|`` and
        ``offset(...)`` terms.
    columns : collection of str, optional
        The columns of the data, which are the only names a term may read. None (for a
        loaded model, which does not know the data) lets any name that is not a dunder
        pass as a column. With the columns (at fit time) a power written ``^`` is
        refused too: ``^`` is Python's exclusive or; a loaded model is read as it was fitted.

    Raises
    ------
    UnsafeFormulaError
        A ValueError naming the first term that is not allowed, and why.
    ValueError
        For a power written ``^``, at fit time.
    """
    try:
        tokens = list(tokenize(formula))
    except (FormulaicError, SyntaxError, ValueError):
        # formulaic parses with this same tokenizer, so a formula it cannot tokenize is
        # never evaluated: the parse reports it (and regmix's splitting of a formula
        # into parts leaves it whole).
        return
    for token in tokens:
        if token.kind.name == "PYTHON":
            term = str(token.token)
            if _parse(term) is None:
                raise UnsafeFormulaError(
                    f"cannot parse formula {formula!r}: term {_shown(term)!r} is not a "
                    "Python expression")
            check_expression(term, columns)
            if columns is not None:
                _check_powers(formula, term)


POWER_HINT = "powers are written ** in regmix formulas, e.g. I(x**2)"
"""What a formula that writes a power as ``^`` is told (``^`` is Python's exclusive or)."""


def _check_powers(formula: str, term: str) -> None:
    """Refuse a Python term that applies ``^`` to a number, as in ``I(x^2)``: in Python
    ``^`` is the exclusive or (of integers or booleans), not a power, and would fail on
    a float column or silently give the bits of an integer one. ``^`` of two
    comparisons, ``I((x > 0) ^ (z > 0))``, stays allowed; so does formulaic's
    ``(a + b)^2`` outside ``I(...)``, the interactions of ``a`` and ``b``."""
    parsed = _parse(term)
    if parsed is None:
        return
    for node in ast.walk(parsed[0]):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor)
                and any(_plain_number(side) is not None and not _is_bool(side)
                        for side in (node.left, node.right))):
            raise ValueError(f"formula {formula!r}: term {_shown(term)!r} uses '^', "
                             f"which is the exclusive or in Python; {POWER_HINT}")


def _is_bool(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, bool)


def check_expression(expr: str, columns: Collection[str] | None = None) -> None:
    """Check one Python expression of a formula (a term or a stored factor).

    Parameters
    ----------
    expr : str
        The expression, as formulaic evaluates it (backticked names included).
    columns : collection of str, optional
        As in :func:`check_formula`.

    Raises
    ------
    UnsafeFormulaError
        When the expression is not allowed; the message names it and says why.
    """
    parsed = _parse(expr)
    if parsed is None:
        raise _refuse(expr, "it is not a Python expression")
    tree, quoted = parsed
    _Checker(expr, quoted, None if columns is None else {str(c) for c in columns}).check(
        tree.body, argument=False
    )


def _parse(expr: str) -> tuple[ast.Expression, dict[str, str]] | None:
    """The AST of ``expr`` with its backticked names replaced, and their names; None
    when it is not a Python expression."""
    source, quoted = _replace_backticks(expr)
    try:
        return ast.parse(source.strip(), mode="eval"), quoted
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return None


def _replace_backticks(expr: str) -> tuple[str, dict[str, str]]:
    """``expr`` with each backticked name replaced by a placeholder identifier, and the
    placeholders' names (backticks inside string literals are left alone)."""
    out: list[str] = []
    quoted: dict[str, str] = {}
    i, quote = 0, ""
    while i < len(expr):
        char = expr[i]
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(expr):
                out.append(expr[i + 1])
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "`":
            end = expr.find("`", i + 1)
            if end < 0:
                raise _refuse(expr, "a backticked name is not closed")
            placeholder = f"_regmix_quoted_{len(quoted)}"
            quoted[placeholder] = expr[i + 1 : end]
            out.append(f" {placeholder} ")
            i = end
        else:
            out.append(char)
        i += 1
    return "".join(out), quoted


class _Checker:
    """Walks the AST of one expression and raises at the first node not allowed."""

    def __init__(self, term: str, quoted: dict[str, str], columns: set[str] | None) -> None:
        self.term = term
        self.quoted = quoted
        self.columns = columns

    def refuse(self, why: str) -> UnsafeFormulaError:
        return _refuse(self.term, why)

    def check(self, node: ast.AST, *, argument: bool) -> None:
        """``argument``: whether ``node`` is (inside) an argument of an allowed call,
        where strings, lists and tuples may appear."""
        if isinstance(node, ast.Name):
            self.name(node.id)
        elif isinstance(node, ast.Constant):
            self.constant(node.value, argument=argument)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.BinOp):
            self.binary(node)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _UNARY):
                raise self.refuse(f"operator {type(node.op).__name__}")
            self.check(node.operand, argument=False)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.check(value, argument=False)
        elif isinstance(node, ast.Compare):
            bad = [op for op in node.ops if not isinstance(op, _COMPARE)]
            if bad:
                raise self.refuse(f"comparison {type(bad[0]).__name__}")
            for value in [node.left, *node.comparators]:  # g == "a": strings compare
                self.check(value, argument=True)
        elif isinstance(node, ast.IfExp):
            for value in (node.test, node.body, node.orelse):
                self.check(value, argument=False)
        elif isinstance(node, (ast.List, ast.Tuple)) and argument:
            for element in node.elts:
                if isinstance(element, ast.Starred):
                    raise self.refuse("a starred expression")
                self.check(element, argument=True)
        elif isinstance(node, ast.Attribute):
            self.attribute(node)
        elif isinstance(node, ast.Subscript):
            self.check(node.value, argument=False)
            raise self.refuse("a subscript")
        else:
            raise self.refuse(_describe(node))

    def attribute(self, node: ast.Attribute) -> None:
        """``np.log`` or ``contr.sum`` named (not called): an allowed function as a value."""
        if not (isinstance(node.value, ast.Name) and node.value.id in _MODULES):
            self.check(node.value, argument=False)
            raise self.refuse(f"attribute {node.attr!r}")
        if node.attr not in _MODULES[node.value.id]:
            raise self.refuse(f"attribute {node.attr!r} of {node.value.id}")

    def name(self, name: str) -> None:
        if name in self.quoted:
            name = self.quoted[name]
        elif name.startswith("__"):
            raise self.refuse(f"name {name!r}")
        if (self.columns is not None and name not in self.columns
                and name not in ALLOWED_FUNCTIONS):
            shown = ", ".join(repr(c) for c in sorted(self.columns)[:12])
            more = ", ..." if len(self.columns) > 12 else ""
            raise UnsafeFormulaError(
                f"formula term {_shown(self.term)!r} uses {name!r}, which is not a column "
                f"of the data (columns: {shown}{more}) nor an allowed transform")

    def constant(self, value: object, *, argument: bool) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, (int, float)):
            return
        if isinstance(value, str) and argument:
            return
        if isinstance(value, str):
            raise self.refuse("a string outside the arguments of a transform")
        raise self.refuse(f"a {type(value).__name__} literal")

    def call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ALLOWED_FUNCTIONS:
            pass
        elif isinstance(func, ast.Attribute):
            self.attribute(func)
        elif isinstance(func, ast.Name):
            raise self.refuse(f"call of {func.id!r}, which is not an allowed transform")
        else:
            self.check(func, argument=False)  # names what is wrong inside, if anything
            raise self.refuse(f"call of {_describe(func)}")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse("a starred argument")
            self.check(arg, argument=True)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.refuse("a ** argument")
            if keyword.arg.startswith("__"):
                raise self.refuse(f"keyword {keyword.arg!r}")
            self.check(keyword.value, argument=True)

    def binary(self, node: ast.BinOp) -> None:
        if not isinstance(node.op, _BINARY):
            raise self.refuse(f"operator {type(node.op).__name__}")
        self.check(node.left, argument=False)
        self.check(node.right, argument=False)
        if isinstance(node.op, ast.Pow) and (_has_power(node.left)
                                             or not _small_exponent(node.right)):
            raise self.refuse(
                f"the exponent of '**' must be a plain number of at most {MAX_EXPONENT} in "
                "size or arithmetic of columns and such numbers, and powers cannot be "
                "nested")


def _small_exponent(node: ast.AST) -> bool:
    """Whether ``node`` is a plain number of at most :data:`MAX_EXPONENT` in size, or
    ``+ - * /`` and unary signs of names and such numbers with a name among them:
    an exponent that cannot be a huge Python integer (a name is a column, evaluated
    by numpy in fixed width; any other value of a name makes the arithmetic fail)."""
    value = _plain_number(node)
    if value is not None:
        return abs(value) <= MAX_EXPONENT
    leaves: list[ast.AST] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.BinOp) and isinstance(item.op, _EXPONENT_ARITHMETIC):
            stack += [item.left, item.right]
        elif isinstance(item, ast.UnaryOp) and isinstance(item.op, (ast.UAdd, ast.USub)):
            stack.append(item.operand)
        else:
            leaves.append(item)
    numbers = [_plain_number(leaf) for leaf in leaves if not isinstance(leaf, ast.Name)]
    return (any(isinstance(leaf, ast.Name) for leaf in leaves)
            and all(v is not None and abs(v) <= MAX_EXPONENT for v in numbers))


_EXPONENT_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)


def _has_power(node: ast.AST) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node))


def _plain_number(node: ast.AST) -> float | None:
    """The value of a number, a signed number or a ratio of two numbers; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        inner = _plain_number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
            and isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant)):
        num, den = _plain_number(node.left), _plain_number(node.right)
        if num is None or not den:
            return None
        return num / den
    return None


_DESCRIPTIONS = {
    ast.Subscript: "a subscript", ast.Lambda: "a lambda", ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression", ast.NamedExpr: "an assignment (:=)",
    ast.JoinedStr: "an f-string", ast.Starred: "a starred expression",
    ast.Dict: "a dict", ast.Set: "a set", ast.List: "a list outside a call",
    ast.Tuple: "a tuple outside a call", ast.Await: "await", ast.Yield: "yield",
    ast.YieldFrom: "yield", ast.Slice: "a slice", ast.Call: "the result of a call",
}


def _describe(node: ast.AST) -> str:
    return _DESCRIPTIONS.get(type(node), f"a {type(node).__name__} expression")
