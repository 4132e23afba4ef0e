"""Newton steps on the EM map: EM's rate matrix estimated by forward differences and
corrected by Broyden's secant update (Louis 1982).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.fitting.steps import m_step, param_vector, params_from_vector


def em_map_jacobian(family, mixing, evaluate: Callable[[MixtureParams], PassResult],
                    params: MixtureParams, *, rel_step: float = 1e-6) -> np.ndarray | None:
    """Jacobian of the EM map at ``params`` on the rows that ``evaluate`` reads.

    The EM map takes the coordinates ``v`` of :func:`param_vector` to those of the
    parameters after one E-step and M-step, ``M(v)``. Its Jacobian ``J`` is the matrix
    rate of convergence of EM (Dempster, Laird and Rubin, 1977): near the maximum,
    ``M(v) - v* = J (v - v*)``, so ``v* = v + (I - J)^{-1} (M(v) - v)``. ``J`` is a
    property of the model and of the distribution of the rows rather than of their number,
    so a subsample estimates it: forward differences, one pass per coordinate plus one.

    Returns
    -------
    ndarray of shape (d, d) or None
        ``J``, or None when a perturbed point could not be evaluated (a component lost
        all its weight, a non-finite statistic).
    """
    v0 = param_vector(family, mixing, params)

    def em_map(v: np.ndarray) -> np.ndarray:
        point = params_from_vector(family, mixing, v, params)
        new, _ = m_step(family, mixing, evaluate(point), point)
        return param_vector(family, mixing, new)

    with np.errstate(all="ignore"):
        f0 = em_map(v0)
        jac = np.empty((v0.size, v0.size))
        for i in range(v0.size):
            h = rel_step * max(1.0, abs(v0[i]))
            v = v0.copy()
            v[i] += h
            jac[:, i] = (em_map(v) - f0) / h
    return jac if np.all(np.isfinite(jac)) else None


def secant_update(system: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Broyden's update of ``system``, an estimate of ``I - J``, from one step on all rows.

    ``step`` is ``v1 - v0`` and ``change`` the change of ``M(v) - v`` it caused; near the
    maximum ``M(v1) - v1 - (M(v0) - v0) = (J - I) step``, so the updated matrix ``B``
    satisfies ``B step = -change`` and differs from ``system`` by a rank-one term in the
    direction of ``step`` only (Broyden, 1965, Math. Comp. 19, 577-593). ``system`` is
    returned unchanged when the step is zero or the update is not finite.
    """
    ss = float(step @ step)
    if not ss > 0:
        return system
    with np.errstate(all="ignore"):
        correction = np.outer(-change - system @ step, step) / ss
    return system + correction if np.all(np.isfinite(correction)) else system
