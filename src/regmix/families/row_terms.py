"""Per-row derivatives of the component log-densities in a component's whole block of
parameters, for the observed information.

A family gives its per-row derivatives in its linear predictor and its free extras
(``row_derivatives``); :func:`row_terms` turns them into the gradient of every row's
log-density in the component's block ``(coefficients, log extras)`` and the weighted
sum of the rows' Hessians in that block, which is what the information needs. A family
whose component has several linear predictors (several responses sharing the class,
:class:`~regmix.families.multi_response.MultiResponse`) gives these itself
(``row_terms``), composed from its members' terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from regmix.core.chunk import Chunk

__all__ = ["RowTerms", "row_terms"]


@dataclass(frozen=True)
class RowTerms:
    """The derivatives of a chunk's component log-densities.

    Attributes
    ----------
    logf : ndarray of shape (K, n)
        The rows' log-densities.
    grad : ndarray of shape (K, n, d)
        Each row's gradient of its log-density of component k in component k's block
        (d = coefficients plus free extras, in the unconstrained coordinates).
    hessian : callable
        ``hessian(k, q)``: the sum over the rows of ``q_i`` (shape (n,)) times the
        Hessian of row i's log-density of component k in its block, (d, d).
    """

    logf: np.ndarray
    grad: np.ndarray
    hessian: Callable[[int, np.ndarray], np.ndarray]


def row_terms(family, params, chunk: Chunk) -> RowTerms:
    """The :class:`RowTerms` of ``family`` at ``params`` on ``chunk``: the family's own
    (``family.row_terms``) or those of its derivatives in one linear predictor
    (``family.row_derivatives``) on the chunk's design."""
    own = getattr(family, "row_terms", None)
    if own is not None:
        return own(params, chunk)
    logf, d1, d2, e1, e2, ce = family.row_derivatives(params, chunk)
    D = chunk.XT.T
    p = D.shape[1]
    grad = np.concatenate([D[None, :, :] * d1[:, :, None], np.moveaxis(e1, 1, 2)], axis=2)

    def hessian(k: int, q: np.ndarray) -> np.ndarray:
        m = e1.shape[1]
        H = np.empty((p + m, p + m))
        H[:p, :p] = (D * (q * d2[k])[:, None]).T @ D
        H[:p, p:] = D.T @ (q * ce[k]).T
        H[p:, :p] = H[:p, p:].T
        H[p:, p:] = np.einsum("abn,n->ab", e2[k], q)
        return H

    return RowTerms(logf, grad, hessian)
