"""Model formulas: from a data frame and a formula such as ``"y ~ x + C(g)"`` to arrays.

A :class:`FormulaDesign` parses a formula with `formulaic
<https://matthewwardrop.github.io/formulaic/>`_, builds the design matrix and the response
of the training data, and keeps formulaic's model specification of the right-hand side
so that new rows are encoded exactly as the training rows were: the same categorical
levels, the same state of stateful transforms (``center``, ``scale``, ``poly``, splines).

The design never contains an intercept column; regmix adds its own when
``fit_intercept`` is true. The formula's intercept must agree with ``fit_intercept``,
because it decides how categorical terms are coded: with an intercept ``C(g)`` gets one
column per level but the first, without one a column for every level.

Only the columns of the data and an allow-list of formulaic's transforms and numpy's
elementwise functions (``np.log``, ``log``, ``exp``, ``center``, ``scale``, ``poly``,
``bs``, ``cr``, ``cc``, ``C``, ``I``, ...; see :mod:`regmix.estimator.formula_safety`)
can be used in a formula; no variable of the caller is visible.

:meth:`FormulaDesign.to_dict` gives a JSON-safe description from which
:meth:`FormulaDesign.from_dict` rebuilds a design that encodes new rows bit for bit as
the original does. formulaic evaluates a formula's Python terms (such as ``np.log(z)``)
with ``eval``, so every one of them is checked before anything is evaluated, at fit
and when a design is read back (:mod:`regmix.estimator.formula_safety`): only data
columns, numbers and an allow-list of transforms may appear, and a design read from a
file never runs other code.

Examples
--------
>>> import pandas as pd
>>> from regmix.estimator.formula import FormulaDesign
>>> frame = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0], "x": [0.0, 1.0, 2.0, 3.0],
...                       "g": ["a", "b", "a", "b"]})
>>> design, X, y = FormulaDesign.from_data("y ~ x + C(g)", frame, fit_intercept=True)
>>> design.column_names
['x', 'C(g)[T.b]']
>>> X
array([[0., 0.],
       [1., 1.],
       [2., 0.],
       [3., 1.]])
>>> design.transform(pd.DataFrame({"x": [5.0], "g": ["b"]}))
array([[5., 1.]])
"""

from __future__ import annotations

import copy
import math
import numbers
import re
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec
from formulaic import __version__ as formulaic_version
from formulaic.errors import DataMismatchWarning, FormulaicError
from formulaic.formula import SimpleFormula, StructuredFormula
from formulaic.materializers.base import EncodedTermStructure
from formulaic.materializers.types import EvaluatedFactor, ScopedFactor, ScopedTerm
from formulaic.parser.algos.tokenize import tokenize
from formulaic.parser.types import Factor, Term

from regmix.estimator.formula_safety import (
    POWER_HINT,
    UnsafeFormulaError,
    check_expression,
    check_formula,
)
from regmix.sources.validation import check_response

__all__ = ["FormulaData", "FormulaDesign"]


_MATERIALIZER = "pandas"


# Rows of training data above which a design whose formula learns nothing from the rows
# is built this many rows at a time (see _sliced_design).
SLICE_ROWS = 1 << 18

_SPEC_SETTINGS = dict(
    materializer=_MATERIALIZER, output="pandas", na_action="ignore", ensure_full_rank=True
)


_ANSI = re.compile(r"\x1b\[[0-9;]*m|[\u29db\u29da]")


class FormulaData(NamedTuple):
    """What :meth:`FormulaDesign.from_data` returns.

    Attributes
    ----------
    design : FormulaDesign
        The fitted design, for new rows.
    X : ndarray of shape (n_samples, n_columns)
        The design matrix of the data, float64, without an intercept column.
    y : ndarray of shape (n_samples,) or None
        The response: the formula's left-hand side, or the ``y`` given.
    """

    design: FormulaDesign
    X: np.ndarray
    y: np.ndarray | None


# ---------------------------------------------------------------------- the design
class FormulaDesign:
    """A formula fitted to training data, which encodes new rows the same way.

    Build one with :meth:`from_data` (or :meth:`from_dict`), not directly.

    Attributes
    ----------
    formula : str
        The formula as given.
    fit_intercept : bool
        Whether the formula has an intercept (and the model fits one).
    column_names : list of str
        Names of the design columns, as formulaic names them (``"x"``,
        ``"I(x ** 2)"``, ``"C(g)[T.b]"``, ``"x:z"``); the intercept is not among them.
    response_name : str or None
        The left-hand side (``"y"``, ``"np.log(y)"``), or None for a one-sided formula.
    required_variables : list of str
        The columns of the data the right-hand side reads, sorted.
    """

    def __init__(
        self,
        formula: str,
        fit_intercept: bool,
        column_names: list[str],
        rhs_spec: ModelSpec,
        lhs_spec: ModelSpec | None,
    ) -> None:
        self.formula = formula
        self.fit_intercept = bool(fit_intercept)
        self.column_names = list(column_names)
        self._rhs = rhs_spec
        self._lhs = lhs_spec
        self.response_name = None if lhs_spec is None else str(lhs_spec.formula)
        self.required_variables = sorted(_data_names(rhs_spec.formula))
        self.offset_terms = split_offsets(formula)[1]
        for expr in self.offset_terms:  # evaluated as I(expr) by evaluate_offset
            check_expression(expr)

    def __repr__(self) -> str:
        return f"FormulaDesign({self.formula!r}, {len(self.column_names)} columns)"

    # ------------------------------------------------------------------ building
    @classmethod
    def from_data(
        cls,
        formula: str,
        data,
        *,
        fit_intercept: bool,
        y=None,
        require_response: bool = True,
    ) -> FormulaData:
        """Parse ``formula``, and build the design and response of ``data``.

        Parameters
        ----------
        formula : str
            A two-sided formula ``"y ~ x + C(g)"`` takes the response from the
            left-hand side; a one-sided one (``"~ x + C(g)"`` or ``"x + C(g)"``) needs
            ``y``. ``"."`` on the right stands for every other column.
        data : DataFrame or mapping of column name to 1-D array
            The training rows.
        fit_intercept : bool
            Whether the model fits an intercept; the formula must agree (``"y ~ x"``
            has an implicit intercept, ``"y ~ x - 1"`` and ``"y ~ 0 + x"`` none).
        y : array-like of shape (n_samples,), optional
            The response, for a one-sided formula. With a two-sided formula it may be
            given too, but must then equal the left-hand side.
        require_response : bool, default=True
            Whether a response must be available.

        Returns
        -------
        FormulaData
            ``(design, X, y)``: the :class:`FormulaDesign`, the design matrix (float64,
            no intercept column) and the response (None only when there is none and
            ``require_response`` is false).

        Raises
        ------
        ValueError
            When the formula cannot be parsed or evaluated, names a column the data
            lacks, disagrees with ``fit_intercept``, produces NaN or infinity, or has a
            non-numeric response.
        """
        frame = _as_frame(data)
        formula = _check_formula_string(formula)
        check_formula(formula, [str(c) for c in frame.columns])
        stripped, offsets = split_offsets(formula)
        lhs_formula, rhs_formula = _parse(stripped, [str(c) for c in frame.columns])
        _check_intercept(formula, rhs_formula, fit_intercept)
        rhs_spec, X = _fit_design(formula, rhs_formula, frame)
        lhs_spec, response = _fit_response(formula, lhs_formula, frame, given=y is not None)
        response = _reconcile_response(formula, response, y, X.shape[0], require_response)
        design = cls(formula, fit_intercept, _design_names(rhs_spec), rhs_spec, lhs_spec)
        return FormulaData(design, X, response)

    # ------------------------------------------------------------------ new rows
    def transform(self, data) -> np.ndarray:
        """The design matrix of new rows, encoded with the training state.

        Parameters
        ----------
        data : DataFrame or mapping of column name to 1-D array
            Rows with (at least) the columns in :attr:`required_variables`.

        Returns
        -------
        ndarray of shape (n_samples, len(column_names))
            float64, without an intercept column.

        Raises
        ------
        ValueError
            When a column is missing, a categorical value was not seen in training,
            a column's kind differs from training, or NaN or infinity results.
        """
        frame = _as_frame(data)
        _check_columns(self.formula, self._rhs.formula, frame)
        if frame.shape[0] > SLICE_ROWS and _learns_nothing(self._rhs):
            return _sliced_design(self.formula, self._rhs, frame)
        matrix, _ = _materialize(self.formula, _fresh(self._rhs), frame)
        return _design_array(self.formula, matrix, self.column_names)

    def variables(self, columns=None) -> dict[str, str]:
        """The data columns the formula's right-hand side reads, in the order of its
        terms, each with its kind.

        Parameters
        ----------
        columns : iterable of str, optional
            The columns of a data frame; those that the ``offset(...)`` terms read are
            added at the end, as ``"numerical"``.

        Returns
        -------
        dict of str to str
            ``"categorical"`` when a categorical term reads the column (a text column,
            or any column in ``C()``), otherwise ``"numerical"``. For
            ``"y ~ C(g) * np.log(x)"``: ``{"g": "categorical", "x": "numerical"}``.
        """
        factors = [factor for term in self._rhs.formula for factor in term.factors]
        data = self.required_variables
        kinds: dict[str, str] = {}
        for factor in factors:
            entry = self._rhs.encoder_state.get(str(factor.expr))
            categorical = entry is not None and entry[0] is Factor.Kind.CATEGORICAL
            for name in _names_in(str(factor.expr), data):
                if categorical or name not in kinds:
                    kinds[name] = "categorical" if categorical else "numerical"
        if columns is not None:
            names = [str(c) for c in columns]
            for expr in self.offset_terms:
                for name in _names_in(expr, names):
                    kinds.setdefault(name, "numerical")
        return kinds

    def offset(self, data) -> np.ndarray | None:
        """The formula's ``offset(...)`` terms evaluated on ``data`` (None without any)."""
        return evaluate_offset(self.formula, self.offset_terms, _as_frame(data))

    def has_response(self, data) -> bool:
        """Whether ``data`` holds every column the left-hand side needs."""
        return self._lhs is not None and _has_columns(self._lhs.formula, _as_frame(data))

    def response(self, data) -> np.ndarray | None:
        """The left-hand side evaluated on ``data``, or None if it cannot be.

        Parameters
        ----------
        data : DataFrame or mapping of column name to 1-D array
            Rows; the response is computed when every column it needs is present.

        Returns
        -------
        ndarray of shape (n_samples,) or None
            None for a one-sided formula or when a column of the response is absent.
        """
        if not self.has_response(data):
            return None
        frame = _as_frame(data)
        for name in self._lhs.formula.required_variables:
            dtype = frame[str(name)].dtype
            if getattr(dtype, "kind", "O") not in "biuf":
                raise ValueError(
                    f"the response column {str(name)!r} is not numeric (dtype {dtype}); a "
                    "regression mixture needs a numeric response"
                )
        spec = _fresh(self._lhs)
        matrix, spec = _materialize(self.formula, spec, frame, check_levels=False)
        return _response_array(spec, matrix, frame)

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description from which :meth:`from_dict` rebuilds this design.

        Returns
        -------
        dict
            Only str, int, float, bool, None, lists and dicts; see
            ``docs/model-format.md`` for the fields.

        Raises
        ------
        ValueError
            When a transform keeps state of a type that cannot be written.
        """
        return {
            "formula": self.formula,
            "fit_intercept": self.fit_intercept,
            "column_names": list(self.column_names),
            "rhs": _spec_to_dict(self._rhs),
            "lhs": None if self._lhs is None else _spec_to_dict(self._lhs),
            "formulaic_version": str(formulaic_version),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FormulaDesign:
        """Rebuild a design from :meth:`to_dict` output.

        Parameters
        ----------
        d : mapping
            As returned by :meth:`to_dict` (possibly through JSON).

        Returns
        -------
        FormulaDesign

        Raises
        ------
        ValueError
            When ``d`` is incomplete or inconsistent.
        """
        try:
            return cls._from_dict(d)
        except UnsafeFormulaError:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, RuntimeError) as err:
            raise ValueError(
                f"the saved formula design is damaged: {type(err).__name__}: {err}"
            ) from None
        except ValueError as err:
            raise ValueError(f"the saved formula design is damaged: {err}") from None

    @classmethod
    def _from_dict(cls, d: Mapping[str, Any]) -> FormulaDesign:
        if not isinstance(d, Mapping):
            raise TypeError(f"expected a dict, got {type(d).__name__}")
        formula = d["formula"]
        names = d["column_names"]
        if not isinstance(formula, str) or not _is_str_list(names):
            raise TypeError("formula must be a string and column_names a list of strings")
        check_formula(formula)  # a model file is data: nothing in it may run code
        rhs = _spec_from_dict(d["rhs"])
        lhs = None if d.get("lhs") is None else _spec_from_dict(d["lhs"])
        fit_intercept = d["fit_intercept"]
        if not isinstance(fit_intercept, bool) or fit_intercept != _has_intercept(rhs.formula):
            raise ValueError("fit_intercept does not match the formula's intercept")
        if _design_names(rhs) != names:
            raise ValueError("column_names do not match the saved structure")
        return cls(formula, fit_intercept, names, rhs, lhs)


# ---------------------------------------------------------------------- typical values
def typical_value(column: pd.Series, kind: str, weights: np.ndarray | None = None):
    """A numerical variable's (weighted) mean, or a categorical one's most frequent
    value (by total weight): what the plots and the margins at the means hold a variable
    at."""
    if kind == "numerical" and pd.api.types.is_numeric_dtype(column.dtype) \
            and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64)
        return float(values.mean() if weights is None else np.average(values, weights=weights))
    if weights is None:
        return column.mode(dropna=True).iloc[0]
    totals = pd.Series(weights, index=column.index).groupby(column, sort=True,
                                                             observed=True).sum()
    return totals.idxmax()


def level_key(value):
    """The sort key of a variable's levels: numbers in order, then text."""
    return (0, value, "") if isinstance(value, numbers.Real) else (1, 0, str(value))


# ---------------------------------------------------------------------- parsing
def _names_in(expr: str, names: list[str]) -> list[str]:
    """Those of ``names`` that the expression ``expr`` reads (as an identifier, or
    quoted in backticks)."""
    return [name for name in names if name == expr or f"`{name}`" in expr
            or re.search(rf"(?<![\w.`]){re.escape(name)}(?![\w`])", expr)]


def _as_frame(data) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    raise TypeError(
        f"a formula needs a pandas DataFrame (or a dict of columns); got {type(data).__name__}"
    )


def _check_formula_string(formula) -> str:
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string such as 'y ~ x'; got {formula!r}")
    if not formula.strip():
        raise ValueError("formula is empty; write it as 'y ~ x1 + x2'")
    return formula


def _first_line(err: BaseException) -> str:
    text = _ANSI.sub("", str(err)).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _parse(formula: str, columns: list[str]) -> tuple[SimpleFormula | None, SimpleFormula]:
    """The left-hand side (or None) and the right-hand side of ``formula``."""
    try:
        parsed = Formula(formula, _context={"__formulaic_variables_available__": columns})
    except (FormulaicError, SyntaxError, ValueError, TypeError) as err:
        raise ValueError(f"cannot parse formula {formula!r}: {_first_line(err)}") from None
    if isinstance(parsed, SimpleFormula):
        return None, parsed
    parts = dict(parsed._structure) if isinstance(parsed, StructuredFormula) else {}
    lhs, rhs = parts.pop("lhs", None), parts.pop("rhs", None)
    if parts or not isinstance(rhs, SimpleFormula) or not isinstance(lhs, SimpleFormula):
        raise ValueError(
            f"formula {formula!r} has several parts; regmix takes one response and one "
            "right-hand side, as in 'y ~ x1 + x2'"
        )
    if len(lhs) not in (1, 2):
        raise ValueError(
            f"formula {formula!r} has {len(lhs)} terms on the left-hand side; a regression "
            "mixture has one response (or 'successes + failures' for a binomial family)"
        )
    return lhs, rhs


def formula_tokens(formula: str) -> list | None:
    """formulaic's tokens of ``formula`` (each with its ``source_start`` and
    ``source_end`` in the string), or None when formulaic cannot tokenize it (the
    formula's parse then reports the error)."""
    try:
        return list(tokenize(formula))
    except (FormulaicError, SyntaxError, ValueError):
        return None


def _is_operator(token, text: str) -> bool:
    return token.kind.name == "OPERATOR" and str(token.token) == text


def _top_level(tokens: list) -> list:
    """The tokens outside any parentheses."""
    depth, out = 0, []
    for token in tokens:
        if token.kind.name == "CONTEXT":
            depth += {"(": 1, ")": -1}.get(str(token.token), 0)
        elif depth == 0:
            out.append(token)
    return out


def split_gating(formula: str) -> tuple[str, str | None]:
    """``"y ~ x | z"`` gives ``("y ~ x", "z")``: the regression formula and the gating
    (concomitant) part right of a top-level ``|``; None when there is none."""
    tokens = formula_tokens(formula)
    bars = [t for t in _top_level(tokens or []) if _is_operator(t, "|")]
    if not bars:
        return formula, None
    gating = formula[bars[0].source_end + 1 :].strip()
    if not gating or len(bars) > 1:
        raise ValueError(
            f"formula {formula!r}: write the gating variables once after '|', as "
            "in 'y ~ x | z1 + z2'")
    return formula[: bars[0].source_start].rstrip(), gating


def split_random(formula: str) -> tuple[str, str | None, str | None]:
    """``"y ~ time + (1 + time | subject)"`` gives ``("y ~ time", "1 + time",
    "subject")``: the formula without its random-effects term (lme4's ``(terms |
    group)``), the terms left of its ``|`` and the column of groups right of it; the
    formula and None, None without such a term."""
    tokens = formula_tokens(formula) or []
    depth, found = 0, []
    for i, token in enumerate(tokens):
        if token.kind.name == "CONTEXT":
            if str(token.token) == "(":
                depth += 1
                if depth == 1:
                    opened, bars = i, []
            elif str(token.token) == ")":
                depth -= 1
                if depth == 0 and bars:
                    found.append((opened, bars, i))
        elif depth == 1 and _is_operator(token, "|"):
            bars.append(i)
    if not found:
        return formula, None, None
    if len(found) > 1 or len(found[0][1]) > 1:
        raise ValueError(f"formula {formula!r}: write one random-effects term, as in "
                         "'y ~ time + (1 + time | subject)'")
    opened, (bar,), closed = found[0]
    terms = formula[tokens[opened].source_end + 1 : tokens[bar].source_start].strip()
    group = formula[tokens[bar].source_end + 1 : tokens[closed].source_start].strip()
    if not terms or not group.isidentifier():
        raise ValueError(f"formula {formula!r}: the random-effects term takes terms left "
                         "of '|' and one column of groups right of it, as in "
                         "'(1 + time | subject)'")
    before = tokens[opened - 1] if opened > 0 else None
    after = tokens[closed + 1] if closed + 1 < len(tokens) else None
    start, stop = tokens[opened].source_start, tokens[closed].source_end + 1
    if before is not None and _is_operator(before, "+"):
        start = before.source_start  # "x + (1 | g)": the '+' before goes too
    elif after is not None and _is_operator(after, "+"):
        stop = after.source_end + 1  # "~ (1 | g) + x": the '+' after goes too
    elif before is None or not _is_operator(before, "~"):
        raise ValueError(f"formula {formula!r}: add the random-effects term to the "
                         "others with '+'")
    rest = (formula[:start].rstrip() + " " + formula[stop:].lstrip()).strip()
    if rest.endswith("~"):
        rest += " 1"  # "y ~ (1 | g)": the fixed part is the intercept alone
    return rest, terms, group


def split_responses(formula: str) -> tuple[list[str], str]:
    """``"yn + yp ~ x"`` gives ``(["yn", "yp"], "~ x")``: the response columns named on
    the left of a top-level ``~`` (column names joined by ``+``, for several responses
    sharing the class) and the one-sided formula of the design; no names for a
    one-sided formula."""
    tokens = formula_tokens(formula) or []
    tildes = [t for t in _top_level(tokens) if _is_operator(t, "~")]
    if not tildes:
        return [], formula
    lhs = formula[: tildes[0].source_start].strip()
    rhs = "~ " + formula[tildes[0].source_end + 1 :].strip()
    names = [part.strip().strip("`") for part in lhs.split("+")] if lhs else []
    if any(not name for name in names):
        raise ValueError(f"formula {formula!r}: several responses are column names joined "
                         "by '+' on the left of '~', as in 'yn + yp ~ x'")
    return names, rhs


def _offset_term(token) -> bool:
    text = str(token.token)
    return token.kind.name == "PYTHON" and text.startswith("offset(") and text.endswith(")")


def split_offsets(formula: str) -> tuple[str, list[str]]:
    """The formula without its ``offset(...)`` terms, and the offset expressions.

    ``"y ~ x + offset(np.log(hours))"`` gives ``("y ~ x", ["np.log(hours)"])``. Each
    offset is added to every component's linear predictor with coefficient one.
    """
    exprs: list[str] = []
    out = formula
    while (tokens := formula_tokens(out)) is not None:
        found = [i for i, t in enumerate(tokens) if _offset_term(t)]
        if not found:
            break
        i = found[0]
        term = tokens[i]
        exprs.append(str(term.token)[len("offset(") : -1].strip())
        start, end = term.source_start, term.source_end
        if i > 0 and _is_operator(tokens[i - 1], "+"):
            start = tokens[i - 1].source_start
        elif i + 1 < len(tokens) and _is_operator(tokens[i + 1], "+"):
            end = tokens[i + 1].source_end
        before, after = out[:start].rstrip(), out[end + 1 :].lstrip()
        out = f"{before} {after}".strip()
        if out.endswith("~"):
            out += " 1"
    return out, exprs


def plain_formula(formula: str) -> tuple[str, list[str]] | None:
    """``"y ~ x1 + x2"`` gives ``("y", ["x1", "x2"])``: the response and feature columns
    of a formula of plain column names only; None for any other formula."""
    tokens = formula_tokens(formula)
    if not tokens or len(tokens) < 3 or len(tokens) % 2 == 0:
        return None
    names = tokens[0::2]
    operators = tokens[1::2]
    if not all(t.kind.name == "NAME" and str(t.token).isidentifier()
               and formula[t.source_start : t.source_end + 1] == str(t.token) for t in names):
        return None
    if not _is_operator(operators[0], "~") or not all(_is_operator(t, "+")
                                                      for t in operators[1:]):
        return None
    return str(names[0].token), [str(t.token) for t in names[1:]]


def evaluate_offset(formula: str, exprs: list[str], frame: pd.DataFrame) -> np.ndarray | None:
    """The sum of the offset expressions evaluated on ``frame`` (None without any)."""
    if not exprs:
        return None
    total = np.zeros(frame.shape[0])
    for expr in exprs:
        spec = ModelSpec(formula=Formula(f"0 + I({expr})"), **_SPEC_SETTINGS)
        matrix, _ = _materialize(formula, spec, frame, check_levels=False)
        values = matrix.iloc[:, 0].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"offset({expr}) is missing or not finite in row "
                             f"{int(np.argmax(bad))}")
        total += values
    return total


def _has_intercept(rhs: SimpleFormula) -> bool:
    return any(term.degree == 0 for term in rhs)


def _check_intercept(formula: str, rhs: SimpleFormula, fit_intercept: bool) -> None:
    has = _has_intercept(rhs)
    if has and not fit_intercept:
        raise ValueError(
            f"formula {formula!r} includes an intercept but fit_intercept=False; set "
            "fit_intercept=True, or remove the intercept from the formula with '- 1' "
            "(or '0 +')"
        )
    if not has and fit_intercept:
        raise ValueError(
            f"formula {formula!r} has no intercept ('- 1' or '0 +') but fit_intercept=True; "
            "set fit_intercept=False, or keep the formula's intercept"
        )


def _data_names(part: SimpleFormula) -> set[str]:
    """The columns ``part`` reads: formulaic's required variables and every bare name
    (a lookup factor), which formulaic leaves out when it is also the name of a
    transform (a column called ``Treatment``, say); without the column such a name
    would be read as the transform."""
    lookups = {str(factor.expr) for term in part for factor in term.factors
               if factor.eval_method is Factor.EvalMethod.LOOKUP}
    return {str(v) for v in part.required_variables} | lookups


def _has_columns(part: SimpleFormula, frame: pd.DataFrame) -> bool:
    columns = {str(c) for c in frame.columns}
    return _data_names(part) <= columns


def _check_columns(formula: str, part: SimpleFormula, frame: pd.DataFrame) -> None:
    columns = {str(c) for c in frame.columns}
    missing = sorted(_data_names(part) - columns)
    if missing:
        shown = ", ".join(repr(str(c)) for c in list(frame.columns)[:12])
        more = ", ..." if frame.shape[1] > 12 else ""
        which = ", ".join(repr(m) for m in missing)
        raise ValueError(
            f"formula {formula!r} uses {which}, which "
            f"{'is' if len(missing) == 1 else 'are'} not a column of the data (columns: "
            f"{shown}{more}) nor a formulaic transform"
        )


# ---------------------------------------------------------------------- materialising
def _fit_design(
    formula: str, rhs: SimpleFormula, frame: pd.DataFrame
) -> tuple[ModelSpec, np.ndarray]:
    """The fitted right-hand-side spec and the design matrix of the training rows."""
    _check_columns(formula, rhs, frame)
    spec = ModelSpec(formula=rhs, **_SPEC_SETTINGS)
    if frame.shape[0] > SLICE_ROWS:
        head, fitted = _materialize(formula, _fresh(spec), frame.iloc[:SLICE_ROWS])
        if _learns_nothing(fitted):  # its fit to the first rows is its fit to all
            return fitted, _sliced_design(formula, fitted, frame, head)
    matrix, spec = _materialize(formula, spec, frame)
    return spec, _design_array(formula, matrix, _checked_names(formula, spec))


def _checked_names(formula: str, spec: ModelSpec) -> list[str]:
    names = _design_names(spec)
    if not names:
        raise ValueError(
            f"formula {formula!r} gives no design column besides the intercept; "
            "regmix needs at least one"
        )
    return names


def _learns_nothing(spec: ModelSpec) -> bool:
    """Whether a fitted spec holds nothing learnt from the rows: no transform state
    (``center``, ``scale``, ``poly``, splines) and no categorical levels."""
    return not spec.transform_state and all(
        kind is not Factor.Kind.CATEGORICAL for kind, _ in spec.encoder_state.values())


def _sliced_design(formula: str, spec: ModelSpec, frame: pd.DataFrame,
                   head: pd.DataFrame | None = None) -> np.ndarray:
    """The design of ``frame`` under a fitted spec that learns nothing from the rows,
    built :data:`SLICE_ROWS` rows at a time (``head``, if given, is the first slice's
    model matrix): formulaic's model matrix of all rows would be one more copy of the
    design."""
    names = _checked_names(formula, spec)
    n = frame.shape[0]
    X = np.empty((n, len(names)), dtype=np.float64)
    for start in range(0, n, SLICE_ROWS):
        stop = min(start + SLICE_ROWS, n)
        if start > 0 or head is None:
            head, _ = _materialize(formula, _fresh(spec), frame.iloc[start:stop],
                                   check_levels=False)
        _fill_columns(X[start:stop], head, names)
    _check_finite(formula, X, names)
    return X


def _fit_response(
    formula: str, lhs: SimpleFormula | None, frame: pd.DataFrame, *, given: bool
) -> tuple[ModelSpec | None, np.ndarray | None]:
    """The left-hand-side spec and the response, when the data hold its columns.

    When they do not and ``y`` is given, the spec is kept unfitted (so that the response
    of new data can still be computed) and the given ``y`` is used.
    """
    if lhs is None:
        return None, None
    spec = ModelSpec(formula=lhs, **_SPEC_SETTINGS)
    if given and not _has_columns(lhs, frame):
        return spec, None
    _check_columns(formula, lhs, frame)
    matrix, spec = _materialize(formula, spec, frame, check_levels=False)
    return spec, _response_array(spec, matrix, frame)


def _materialize(
    formula: str, spec: ModelSpec, frame: pd.DataFrame, *, check_levels: bool = True
) -> tuple[pd.DataFrame, ModelSpec]:
    """Evaluate ``spec`` on ``frame``: the model matrix (a DataFrame) and the fitted spec.

    Categorical values outside the training levels are refused here, by row: formulaic
    would only warn and encode such rows as zeros.
    """
    materializer = spec.get_materializer(frame)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataMismatchWarning)
            warnings.filterwarnings(
                "ignore", message="Constructing a Categorical with a dtype",
                category=DeprecationWarning,
            )
            with np.errstate(all="ignore"):  # NaN and infinity are reported by row later
                matrix = materializer.get_model_matrix(spec)
    except Exception as err:
        if check_levels:
            _check_levels(formula, spec, materializer.factor_cache)
        if isinstance(err, (FormulaicError, SyntaxError)):
            reason = _first_line(err)
            if "'xor'" in reason or "for ^:" in reason:  # x ^ z of float columns
                reason += f"; '^' is the exclusive or in Python: {POWER_HINT}"
            raise ValueError(f"cannot evaluate formula {formula!r}: {reason}") from None
        raise
    fitted = matrix.model_spec
    if check_levels:
        _check_levels(formula, fitted, materializer.factor_cache)
    return matrix, fitted


def _fresh(spec: ModelSpec) -> ModelSpec:
    """A copy whose state dicts formulaic may update without touching ``spec``."""
    return spec.update(
        transform_state=copy.deepcopy(spec.transform_state),
        encoder_state=copy.deepcopy(spec.encoder_state),
    )


def _check_levels(formula: str, spec: ModelSpec, cache: Mapping) -> None:
    """Refuse missing categorical values, and levels not seen in training."""
    for expr, (kind, state) in spec.encoder_state.items():
        levels = state.get("categories") if isinstance(state, Mapping) else None
        if kind is not Factor.Kind.CATEGORICAL or levels is None or expr not in cache:
            continue
        values = cache[expr].values
        values = getattr(values, "__wrapped__", values)
        if isinstance(values, Mapping):
            continue
        series = pd.Series(np.asarray(values, dtype=object))
        bad = np.flatnonzero(pd.Index(levels).get_indexer(series) < 0)
        if bad.size == 0:
            continue
        row = int(bad[0])
        value = series.iloc[row]
        if pd.isna(value):
            raise ValueError(
                f"categorical term {expr!r} of formula {formula!r} is missing at row {row} "
                f"({bad.size} missing value{'s' if bad.size > 1 else ''} in all); drop or "
                "impute those rows"
            )
        unseen = sorted({str(v) for v in series.iloc[bad] if not pd.isna(v)})
        raise ValueError(
            f"categorical term {expr!r} of formula {formula!r} has level {value!r} at row "
            f"{row}, not seen in the training data (unseen: {', '.join(unseen)}; known: "
            f"{', '.join(str(v) for v in levels)})"
        )


def _intercept_columns(spec: ModelSpec) -> set[str]:
    return {c for s in spec.structure for c in s.columns if s.term.degree == 0}


def _design_names(spec: ModelSpec) -> list[str]:
    dropped = _intercept_columns(spec)
    return [str(c) for c in spec.column_names if c not in dropped]


def _design_array(formula: str, matrix: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The model matrix's columns ``names`` as one C-ordered float64 array, filled column
    by column: selecting the columns and converting the selection would hold two more
    copies of the design at once."""
    X = np.empty((matrix.shape[0], len(names)), dtype=np.float64)
    _fill_columns(X, matrix, names)
    _check_finite(formula, X, names)
    return X


def _fill_columns(X: np.ndarray, matrix: pd.DataFrame, names: list[str]) -> None:
    """Write the model matrix's columns ``names`` into ``X``'s columns, one at a time
    (missing values as NaN)."""
    for j, name in enumerate(names):
        X[:, j] = matrix[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _check_finite(formula: str, X: np.ndarray, names: list[str]) -> None:
    if np.isfinite(X.sum(axis=0)).all():  # no n-by-p temporary when all is well
        return
    bad = ~np.isfinite(X)
    row, col = (int(i) for i in np.argwhere(bad)[0])
    what = "NaN" if np.isnan(X[row, col]) else "infinity"
    count = int(bad.sum())
    raise ValueError(
        f"the design of formula {formula!r} has {what} at row {row}, column "
        f"{names[col]!r} ({count} non-finite value{'s' if count > 1 else ''} in all): a "
        "missing value in the data, or a transform undefined there (such as the log of a "
        "number <= 0); drop or impute those rows, or change the formula"
    )


def _response_array(spec: ModelSpec, matrix: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    name = str(spec.formula)
    kinds = [kind for kind, _ in spec.encoder_state.values()]
    if len(spec.formula) == 2 and matrix.shape[1] == 2 and Factor.Kind.CATEGORICAL not in kinds:
        # open limits of a censored response are NaN or infinite: the family's rows
        # check decides whether they are allowed
        return check_response(matrix.to_numpy(dtype=np.float64), frame.shape[0],
                              name=f"response {name!r}", two_columns=True, limits=True)
    if Factor.Kind.CATEGORICAL in kinds or matrix.shape[1] != 1:
        dtype = frame[name].dtype if name in frame.columns else "categorical"
        raise ValueError(
            f"the response {name!r} is not numeric (dtype {dtype}); a regression mixture "
            "needs a numeric response"
        )
    return check_response(matrix.iloc[:, 0], frame.shape[0], name=f"response {name!r}")


def _reconcile_response(
    formula: str, from_formula, y, n_rows: int, required: bool
) -> np.ndarray | None:
    given = None if y is None else check_response(y, n_rows, two_columns=True)
    if from_formula is not None and given is not None:
        if not np.array_equal(from_formula, given):
            raise ValueError(
                f"y was given and differs from the response of formula {formula!r}; pass "
                "one of them only, or use a one-sided formula such as '~ x'"
            )
        return from_formula
    response = from_formula if from_formula is not None else given
    if response is None and required:
        raise ValueError(
            f"formula {formula!r} has no response (left-hand side) and no y was given; "
            "write it as 'y ~ ...' or pass y"
        )
    return response


# ---------------------------------------------------------------------- saving specs
def _spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    terms = list(spec.formula)
    return {
        "terms": [[_factor_to_list(f) for f in term.factors] for term in terms],
        "structure": (
            None if spec.structure is None
            else [_structure_to_dict(s, terms) for s in spec.structure]
        ),
        "transform_state": encode_state(spec.transform_state),
        "encoder_state": {
            str(expr): {
                "kind": kind.value,
                "state": encode_state({k: v for k, v in state.items() if k != "contrasts"}),
            }
            for expr, (kind, state) in spec.encoder_state.items()
        },
    }


def _factor_to_list(factor: Factor) -> list[str]:
    return [factor.expr, factor.eval_method.value, factor.kind.value]


def _structure_to_dict(entry: EncodedTermStructure, terms: list[Term]) -> dict[str, Any]:
    index = [i for i, t in enumerate(terms) if t == entry.term]
    if len(index) != 1:
        raise ValueError(f"cannot save the formula: term {entry.term!r} is not in the formula")
    return {
        "term": index[0],
        "scoped_terms": [
            {
                "factors": [[sf.factor.expr, bool(sf.reduced)] for sf in st.factors],
                "scale": encode_state(st.scale),
            }
            for st in entry.scoped_terms
        ],
        "columns": [str(c) for c in entry.columns],
    }


def _spec_from_dict(d: Mapping[str, Any]) -> ModelSpec:
    terms = [
        Term([_checked_factor(expr, method, kind) for expr, method, kind in factors])
        for factors in d["terms"]
    ]
    structure = d["structure"]
    if structure is not None:
        structure = [_structure_from_dict(s, terms) for s in structure]
    encoder_state = {
        str(expr): (Factor.Kind(entry["kind"]), decode_state(entry["state"]))
        for expr, entry in d["encoder_state"].items()
    }
    return ModelSpec(
        formula=SimpleFormula(terms, _ordering="none"),
        structure=structure,
        transform_state=decode_state(d["transform_state"]),
        encoder_state=encoder_state,
        **_SPEC_SETTINGS,
    )


def _checked_factor(expr: Any, method: Any, kind: Any) -> Factor:
    """A saved factor; one that formulaic would evaluate as Python must pass
    :func:`~regmix.estimator.formula_safety.check_expression` (a lookup reads a column,
    a literal is read by ``ast.literal_eval``: neither runs code)."""
    if not isinstance(expr, str):
        raise TypeError(f"a saved factor's expression must be a string, not {expr!r}")
    factor = Factor(expr, eval_method=method, kind=kind)
    if factor.eval_method not in (Factor.EvalMethod.LOOKUP, Factor.EvalMethod.LITERAL):
        check_expression(expr)
    return factor


def _structure_from_dict(d: Mapping[str, Any], terms: list[Term]) -> EncodedTermStructure:
    term = terms[d["term"]]
    by_expr = {f.expr: f for f in term.factors}
    scoped = [
        ScopedTerm(
            [
                ScopedFactor(EvaluatedFactor(by_expr[expr], None), reduced=bool(reduced))
                for expr, reduced in st["factors"]
            ],
            scale=decode_state(st["scale"]),
        )
        for st in d["scoped_terms"]
    ]
    if not _is_str_list(d["columns"]):
        raise TypeError("structure columns must be a list of strings")
    return EncodedTermStructure(term, scoped, list(d["columns"]))


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# ---------------------------------------------------------------------- state codec
_TAGS = ("__tuple__", "__dict__", "__ndarray__", "__scalar__", "__float__")


_ARRAY_KINDS = "biufU"


def encode_state(value: Any) -> Any:
    """Encode formulaic transform state as JSON-safe values, exactly and reversibly.

    Python scalars, strings, lists and dicts with string keys are kept as they are;
    tuples, dicts with other keys, numpy scalars and arrays and non-finite floats are
    written as one-key dicts tagged ``"__tuple__"``, ``"__dict__"``, ``"__scalar__"``,
    ``"__ndarray__"`` and ``"__float__"``, so that :func:`decode_state` gives back the
    same types and bits.

    Parameters
    ----------
    value : object
        The state.

    Returns
    -------
    object
        Made only of str, int, float, bool, None, lists and dicts.

    Raises
    ------
    ValueError
        For a value of another type (such as a pandas object or a function).

    Examples
    --------
    >>> encode_state({"center": np.float64(1.5), "ddof": 1})
    {'center': {'__scalar__': ['<f8', 1.5]}, 'ddof': 1}
    >>> encode_state({0: (1, float("inf"))})
    {'__dict__': [[0, {'__tuple__': [1, {'__float__': 'inf'}]}]]}
    """
    if isinstance(value, np.generic):  # before float: np.float64 is a float
        return _encode_scalar(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.ndarray):
        return _encode_array(value)
    if isinstance(value, list):
        return [encode_state(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode_state(v) for v in value]}
    if isinstance(value, dict):
        return _encode_dict(value)
    raise ValueError(
        f"cannot save formula state holding a value of type {type(value).__name__}"
    )


def _encode_scalar(value: np.generic) -> dict[str, Any]:
    if value.dtype.kind not in "biuf":
        raise ValueError(f"cannot save formula state holding a numpy {value.dtype} value")
    return {"__scalar__": [value.dtype.str, encode_state(value.item())]}


def _encode_array(value: np.ndarray) -> dict[str, Any]:
    if value.dtype.kind not in _ARRAY_KINDS:
        raise ValueError(f"cannot save formula state holding a numpy {value.dtype} array")
    flat = [encode_state(v) for v in value.ravel().tolist()]
    return {"__ndarray__": [value.dtype.str, list(value.shape), flat]}


def _encode_dict(value: dict) -> dict[str, Any]:
    plain = all(isinstance(k, str) and not k.startswith("__") for k in value)
    if plain:
        return {k: encode_state(v) for k, v in value.items()}
    return {"__dict__": [[encode_state(k), encode_state(v)] for k, v in value.items()]}


def decode_state(value: Any) -> Any:
    """Invert :func:`encode_state`.

    Parameters
    ----------
    value : object
        JSON-safe values as written by :func:`encode_state`.

    Returns
    -------
    object

    Raises
    ------
    ValueError
        For a malformed tag.
    """
    if isinstance(value, list):
        return [decode_state(v) for v in value]
    if not isinstance(value, dict):
        return value
    tags = [k for k in value if k in _TAGS]
    if not tags:
        return {k: decode_state(v) for k, v in value.items()}
    if len(value) != 1:
        raise ValueError(f"malformed formula state: tagged dict with keys {sorted(value)}")
    tag, payload = tags[0], value[tags[0]]
    try:
        return _DECODERS[tag](payload)
    except (TypeError, ValueError, IndexError) as err:
        raise ValueError(f"malformed formula state under {tag!r}: {err}") from None


def _decode_scalar(payload) -> np.generic:
    dtype, item = payload
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise ValueError(f"unsupported dtype {dtype}")
    return dtype.type(decode_state(item))


def _decode_array(payload) -> np.ndarray:
    dtype, shape, flat = payload
    dtype = np.dtype(dtype)
    if dtype.kind not in _ARRAY_KINDS:
        raise ValueError(f"unsupported dtype {dtype}")
    # what a stored state can need: a file cannot make an array larger than its values
    if dtype.itemsize > _MAX_ITEMSIZE:
        raise ValueError(f"dtype {dtype.str} of {dtype.itemsize} bytes per value, more "
                         f"than the {_MAX_ITEMSIZE} a stored state needs")
    if (not isinstance(shape, list) or not isinstance(flat, list)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                       for n in shape)
            or math.prod(shape) != len(flat)):
        raise ValueError(f"array of shape {shape!r} with {len(flat)} values")
    return np.array([decode_state(v) for v in flat], dtype=dtype).reshape(shape)


# The largest value of a stored array (a category name of 16,384 characters).
_MAX_ITEMSIZE = 65_536


def _decode_float(payload) -> float:
    if payload not in ("nan", "inf", "-inf"):
        raise ValueError(f"not a non-finite float: {payload!r}")
    return float(payload)


_DECODERS = {
    "__tuple__": lambda p: tuple(decode_state(v) for v in p),
    "__dict__": lambda p: {decode_state(k): decode_state(v) for k, v in p},
    "__ndarray__": _decode_array,
    "__scalar__": _decode_scalar,
    "__float__": _decode_float,
}
