"""Constraints on the component parameters: shared coefficients, known coefficients and
a common scale.

* **Common coefficients** (flexmix's ``fixed = ~ x``, Stata's ``lcinvariant``): some
  design columns have one coefficient for all components.
* **Fixed coefficients**: known values, the same for all components or one per
  component; they are not estimated.
* **Equal scale** (mixtools' ``arbvar = FALSE``): one ``sigma`` for all Gaussian or
  Student-t components.

The M-step solves the constrained problem exactly: the per-component normal equations
``A_k delta_k = b_k`` (each scaled by the component's precision ``1 / sigma_k^2``, or by 1
where the weights already carry it) are stacked into one system whose unknowns are each
component's free coefficients and the common coefficients once (a stacked weighted least
squares); fixed coefficients do not move.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from regmix.core.linalg import solve_normal_equations, solve_normal_equations_batch


class VarianceFloor:
    """The variance floor of a location-scale family (Gaussian, Student-t).

    ``var_floor`` is relative to the square of the response's robust scale (see
    :func:`regmix.sources.arrays.response_robust_scale`): a few gross outliers inflate
    ``var(y)``, and a floor relative to it would hold every component far above its
    noise. ``floor_unit`` is that squared robust scale in the fit's internal units
    (where the response has unit spread), set for each fit by :meth:`with_floor_unit`;
    :attr:`internal_var_floor` is the floor the M-step applies.
    """

    var_floor: float
    floor_unit: float = 1.0

    @property
    def internal_var_floor(self) -> float:
        """The lower bound on every ``sigma_k^2`` in internal units."""
        return self.var_floor * self.floor_unit

    def with_floor_unit(self, unit: float):
        """A copy whose floor is ``var_floor * unit`` in internal units."""
        new = copy.copy(self)
        new.floor_unit = float(unit)
        return new


def scale_update(A, b, c, delta, resp_sum, live, constraints, var_floor) -> np.ndarray:
    """New sigmas of the live components from the weighted residual sums after the
    coefficient step; one pooled sigma under an equal-scale constraint."""
    if constraints is None or not constraints.has_coefficient_constraints:
        rss = c[live] - np.einsum("kp,kp->k", b[live], delta[live])
    else:

        rss = residual_sums(A, b, c, delta)[live]
    if constraints is not None and constraints.equal_scale:
        var = np.full(rss.shape, rss.sum() / resp_sum[live].sum())
    else:
        var = rss / resp_sum[live]
    return np.sqrt(np.maximum(var, var_floor))


@dataclass(frozen=True)
class CoefficientConstraints:
    """Which coefficients are shared or known, and whether the scale is common.

    Attributes
    ----------
    common : ndarray of bool, shape (p,)
        Design columns (intercept first) whose coefficient all components share.
    fixed : ndarray of bool, shape (p,)
        Design columns whose coefficients are known.
    fixed_values : ndarray of shape (K, p)
        The known values in internal units (only the ``fixed`` columns are used).
    equal_scale : bool
        One scale parameter (sigma) for all components.
    """

    common: np.ndarray
    fixed: np.ndarray
    fixed_values: np.ndarray
    equal_scale: bool = False

    @property
    def free(self) -> np.ndarray:
        """Columns estimated separately per component."""
        return ~(self.common | self.fixed)

    @property
    def has_coefficient_constraints(self) -> bool:
        return bool(self.common.any() or self.fixed.any())

    def n_coefficients(self, n_components: int) -> int:
        """Free coefficients of all components together."""
        return n_components * int(self.free.sum()) + int(self.common.sum())

    def with_fixed(self, coef: np.ndarray) -> np.ndarray:
        """``coef`` (K, p) with the fixed columns set to their values."""
        out = np.array(coef, dtype=np.float64, copy=True)
        out[:, self.fixed] = self.fixed_values[:, self.fixed]
        return out

    def project(self, family, params):
        """Starting parameters made to satisfy the constraints: fixed columns at their
        values, common columns at their mean over the components, and (with an equal
        scale) every sigma at their geometric mean."""
        coef = self.with_fixed(params.coef)
        coef[:, self.common] = coef[:, self.common].mean(axis=0)
        extra = np.array(params.extra, dtype=np.float64, copy=True)
        if self.equal_scale:
            extra[:, 0] = np.exp(np.log(extra[:, 0]).mean())
        return family.make_params(coef, extra)

    def fixed_part(self, XT: np.ndarray) -> np.ndarray:
        """The fixed columns' contribution to each component's linear predictor (K, n)."""
        return self.fixed_values[:, self.fixed] @ XT[self.fixed]

    def step(self, A: np.ndarray, b: np.ndarray, scale: np.ndarray,
             live: np.ndarray) -> tuple[np.ndarray, bool]:
        """The constrained Newton / least-squares step ``delta`` (K, p).

        Solves the stacked system of the live components' equations ``scale_k A_k
        delta_k = scale_k b_k`` with ``delta_k = (free_k, common, 0 for fixed)``.

        Returns
        -------
        delta : ndarray of shape (K, p)
        rank_deficient : bool
        """
        K, p = b.shape
        free, common = np.flatnonzero(self.free), np.flatnonzero(self.common)
        idx = np.flatnonzero(live)
        nf, nc = free.size, common.size
        size = idx.size * nf + nc
        M = np.zeros((size, size))
        r = np.zeros(size)
        c0 = idx.size * nf
        for j, k in enumerate(idx):
            s = scale[k]
            blk = slice(j * nf, (j + 1) * nf)
            M[blk, blk] = s * A[k][np.ix_(free, free)]
            M[blk, c0:] = s * A[k][np.ix_(free, common)]
            M[c0:, blk] = M[blk, c0:].T
            M[c0:, c0:] += s * A[k][np.ix_(common, common)]
            r[blk] = s * b[k][free]
            r[c0:] += s * b[k][common]
        delta = np.zeros((K, p))
        if size == 0:
            return delta, False
        x, deficient = solve_normal_equations(M, r)
        for j, k in enumerate(idx):
            delta[k, free] = x[j * nf : (j + 1) * nf]
            delta[k, common] = x[c0:]
        return delta, deficient


def residual_sums(A: np.ndarray, b: np.ndarray, c: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``e'R e`` after the step: ``c - 2 b'delta + delta' A delta`` per component, for
    statistics taken around the old coefficients (residuals ``e``)."""
    quad = np.einsum("kp,kpq,kq->k", delta, A, delta)
    return c - 2.0 * np.einsum("kp,kp->k", b, delta) + quad


def coefficient_update(A: np.ndarray, b: np.ndarray, coef: np.ndarray, live: np.ndarray,
                       constraints: CoefficientConstraints | None,
                       scale: np.ndarray | None = None):
    """The coefficient step of an M-step, with or without constraints.

    Parameters
    ----------
    A, b : ndarray of shape (K, p, p) and (K, p)
        Per-component normal equations around ``coef``.
    coef : ndarray of shape (K, p)
        The current coefficients (the fixed ones at their values).
    live : ndarray of bool, shape (K,)
        Components with weight; the others keep their coefficients.
    constraints : CoefficientConstraints or None
    scale : ndarray of shape (K,), optional
        Each component's precision (``1 / sigma_k^2``) for the stacked system.

    Returns
    -------
    coef : ndarray of shape (K, p)
    delta : ndarray of shape (K, p)
        The step (zero for components without weight).
    deficient : ndarray of bool, shape (K,)
    """

    K, p = b.shape
    delta = np.zeros((K, p))
    deficient = np.zeros(K, dtype=bool)
    if not live.any():
        return coef.copy(), delta, deficient
    if constraints is None or not constraints.has_coefficient_constraints:
        delta[live], deficient[live] = solve_normal_equations_batch(A[live], b[live])
    else:
        s = np.ones(K) if scale is None else scale
        delta, flag = constraints.step(A, b, s, live)
        deficient[live] = flag
    return coef + delta, delta, deficient
