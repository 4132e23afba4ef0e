"""Wald tests of linear hypotheses ``R theta = r`` about a fitted mixture's parameters.

A hypothesis is written with the names of :meth:`~regmix.RegressionMixture.coef_table`
and a component index after ``@``: ``"x1@1 = x1@2"`` (the coefficient of x1 is the same
in components 1 and 2), ``"2*x1@1 - x1@2 = 0.5"``, ``"gate:z@2 = 0"``, ``"sigma@1 =
sigma@2"``; a side without ``=`` is set to zero. A joint hypothesis is a list of such
strings or one string with the equations separated by commas or semicolons. The
statistic is ``W = (R b - r)' (R V R')^-1 (R b - r)``, chi-square with ``rank(R)``
degrees of freedom under the hypothesis (Wald 1943), with ``V`` the covariance of the
estimates of the chosen ``cov_type``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["WaldTest", "parse_hypotheses", "wald_test"]

_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_COMPONENT = re.compile(r"@(\d+)")
_OPERATORS = "+-*=,;"


@dataclass(frozen=True)
class WaldTest:
    """The result of a Wald test.

    Attributes
    ----------
    statistic : float
        The chi-square statistic ``W``.
    df : int
        Its degrees of freedom, the rank of ``R V R'``.
    p_value : float
        ``P(chi2_df > W)``.
    hypotheses : list of str
        The equations tested, one per row of ``R``.
    R : ndarray of shape (h, m)
    r : ndarray of shape (h,)
    se_method : str
        How the covariance was computed.
    """

    statistic: float
    df: int
    p_value: float
    hypotheses: list[str] = field(default_factory=list)
    R: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    r: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    se_method: str = "observed information"

    def __repr__(self) -> str:
        lines = [f"Wald test ({self.se_method}): chi2({self.df}) = {self.statistic:.4f}, "
                 f"p = {self.p_value:.4g}"]
        lines += [f"  {h}" for h in self.hypotheses]
        return "\n".join(lines)

    __str__ = __repr__


def _labels(index: pd.Index) -> list[str]:
    """``"name@k"`` for each (component, parameter) of ``index``."""
    return [f"{name}@{k}" for k, name in index]


def parse_hypotheses(hypotheses, index: pd.Index) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``R`` and ``r`` of equations written with the parameters' names.

    Parameters
    ----------
    hypotheses : str or sequence of str
        Equations such as ``"x1@1 = x1@2"`` (see the module's description).
    index : pandas.MultiIndex
        The (component, parameter) labels of the estimates.

    Returns
    -------
    R : ndarray of shape (h, len(index))
    r : ndarray of shape (h,)
    equations : list of str
        The equations, stripped.

    Raises
    ------
    ValueError
        On a name that is not a parameter (with the names there are), on a non-linear
        term, or on an equation that involves no parameter.
    """
    texts = [hypotheses] if isinstance(hypotheses, str) else list(hypotheses)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("hypotheses must be a string or a list of strings such as "
                         "'x1@1 = x1@2'")
    names = sorted({str(name) for _, name in index}, key=len, reverse=True)
    position = {label: i for i, label in enumerate(_labels(index))}
    rows: list[np.ndarray] = []
    consts: list[float] = []
    equations: list[str] = []
    for text in texts:
        for equation in _split(text, names):
            R_row, const = _equation(equation, names, position, len(index))
            rows.append(R_row)
            consts.append(const)
            equations.append(equation)
    return np.vstack(rows), np.asarray(consts), equations


def _tokens(text: str, names: Sequence[str]) -> list[tuple[str, object]]:
    """``("ref", label)``, ``("num", value)`` and ``("op", char)`` tokens. Parameter names
    are matched first, longest first, so that they may hold any character."""
    out: list[tuple[str, object]] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        name = next((n for n in names if text.startswith(n, i)
                     and _COMPONENT.match(text, i + len(n))), None)
        if name is not None:
            m = _COMPONENT.match(text, i + len(name))
            assert m is not None
            out.append(("ref", f"{name}@{int(m.group(1))}"))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            out.append(("num", float(m.group(0))))
            i = m.end()
            continue
        if text[i] in _OPERATORS:
            out.append(("op", text[i]))
            i += 1
            continue
        end = re.search(r"[\s=,;+*]|$", text[i + 1:])
        word = text[i : i + 1 + (end.start() if end else 0)]
        raise ValueError(f"{word!r} in {text!r} is not a parameter: write name@component "
                         f"with a name of coef_table() ({', '.join(sorted(names))}), "
                         "e.g. 'x1@1 = x1@2'")
    return out


def _split(text: str, names: Sequence[str]) -> list[str]:
    """The equations of ``text``, cut at the commas and semicolons between tokens."""
    equations, start, i = [], 0, 0
    while i < len(text):
        name = next((n for n in names if text.startswith(n, i)
                     and _COMPONENT.match(text, i + len(n))), None)
        if name is not None:
            i = _COMPONENT.match(text, i + len(name)).end()  # type: ignore[union-attr]
            continue
        if text[i] in ",;":
            equations.append(text[start:i].strip())
            start = i + 1
        i += 1
    equations.append(text[start:].strip())
    if any(not e for e in equations):
        raise ValueError(f"empty equation in {text!r}")
    return equations


def _equation(text: str, names, position: dict[str, int], m: int) -> tuple[np.ndarray, float]:
    tokens = _tokens(text, names)
    sides = [[]]  # type: list[list[tuple[str, object]]]
    for tok in tokens:
        if tok == ("op", "="):
            sides.append([])
        else:
            sides[-1].append(tok)
    if len(sides) > 2:
        raise ValueError(f"{text!r} has more than one '='")
    if len(sides) == 1:
        sides.append([("num", 0.0)])
    row = np.zeros(m)
    const = 0.0
    for sign, side in ((1.0, sides[0]), (-1.0, sides[1])):
        coef, c = _side(side, position, text)
        row += sign * coef
        const -= sign * c
    if not np.any(row):
        raise ValueError(f"{text!r} involves no parameter")
    return row, const


def _side(tokens, position: dict[str, int], text: str) -> tuple[np.ndarray, float]:
    """A linear side: a sum of terms ``[+-] item [* item ...]``, each item a number or a
    parameter, at most one parameter per term."""
    row = np.zeros(len(position))
    const = 0.0
    n, i = len(tokens), 0
    if not tokens:
        raise ValueError(f"{text!r} has an empty side")
    nonlinear = ValueError(f"{text!r} is not a linear equation in the parameters")
    while i < n:
        factor = 1.0
        while i < n and tokens[i] in (("op", "+"), ("op", "-")):
            factor = -factor if tokens[i][1] == "-" else factor
            i += 1
        ref = None
        while True:
            if i >= n or tokens[i][0] not in ("num", "ref"):
                raise nonlinear
            kind, value = tokens[i]
            i += 1
            if kind == "num":
                factor *= float(value)  # type: ignore[arg-type]
            elif ref is None:
                ref = str(value)
            else:
                raise ValueError(f"{text!r} is not linear: a product of two parameters")
            if i < n and tokens[i] == ("op", "*"):
                i += 1
                continue
            break
        if i < n and tokens[i] not in (("op", "+"), ("op", "-")):
            raise nonlinear
        if ref is None:
            const += factor
        elif ref in position:
            row[position[ref]] += factor
        else:
            components = sorted({int(label.rsplit("@", 1)[1]) for label in position})
            raise ValueError(f"{text!r}: {ref} is not a parameter of the model (components "
                             f"{components[0]}..{components[-1]})")
    return row, const


def wald_test(estimates, cov, R, r=None, hypotheses: Sequence[str] | None = None,
              se_method: str = "observed information") -> WaldTest:
    """The Wald test of ``R theta = r``.

    Parameters
    ----------
    estimates : array-like of shape (m,)
    cov : array-like of shape (m, m)
        Their covariance.
    R : array-like of shape (h, m)
    r : array-like of shape (h,), optional
        Zeros by default.
    hypotheses : sequence of str, optional
        Labels of the rows of ``R``.
    se_method : str
        How ``cov`` was computed (for the report).

    Returns
    -------
    WaldTest
        ``W = (R b - r)' (R V R')^+ (R b - r)`` with ``df = rank(R V R')``.

    Raises
    ------
    ValueError
        On shapes that disagree, or when a parameter the hypothesis involves has no
        standard error (on the boundary of the parameter space).
    """
    b = np.asarray(estimates, dtype=np.float64).reshape(-1)
    V = np.asarray(cov, dtype=np.float64)
    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    r = np.zeros(R.shape[0]) if r is None else np.asarray(r, dtype=np.float64).reshape(-1)
    if R.shape[1] != b.size or V.shape != (b.size, b.size) or r.shape != (R.shape[0],):
        raise ValueError(f"R must have shape (h, {b.size}) and r shape (h,); got "
                         f"{R.shape} and {r.shape}")
    if not (np.all(np.isfinite(R)) and np.all(np.isfinite(r))):
        raise ValueError("R and r must be finite")
    used = np.any(R != 0, axis=0)
    if np.any(np.isnan(V[np.ix_(used, used)])):
        raise ValueError("a parameter of the hypothesis has no standard error (it is on the "
                         "boundary of the parameter space)")
    labels = list(hypotheses) if hypotheses is not None else [
        f"row {i + 1} of R" for i in range(R.shape[0])]
    d = R @ b - r
    M = R[:, used] @ V[np.ix_(used, used)] @ R[:, used].T
    M = 0.5 * (M + M.T)
    lam, U = np.linalg.eigh(M)
    keep = lam > 1e-10 * max(float(np.abs(lam).max()), np.finfo(float).tiny)
    df = int(keep.sum())
    if df == 0:
        raise ValueError("the hypothesis has no variance: R V R' is zero")
    proj = U[:, keep].T @ d
    statistic = float(np.sum(proj**2 / lam[keep]))
    return WaldTest(statistic, df, float(stats.chi2.sf(statistic, df)), labels, R, r,
                    se_method)
