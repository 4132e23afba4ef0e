"""Mixing weights: how the prior probability of each component is modelled.

Only constant weights exist for now; a covariate-dependent gating model plugs in here by
offering the same three methods.
"""

from __future__ import annotations

import numpy as np


class ConstantWeights:
    """Mixing proportions ``pi_k`` that are the same for every row."""

    name = "constant"

    def n_parameters(self, n_components: int) -> int:
        """``K - 1`` free proportions (they sum to one)."""
        return n_components - 1

    def log_weights(self, weights: np.ndarray) -> np.ndarray:
        """Log proportions as a (K, 1) column, broadcastable against a (K, n) block.

        ``log 0 = -inf``.
        """
        with np.errstate(divide="ignore"):
            return np.log(weights)[:, None]

    def m_step(self, resp_sum: np.ndarray) -> np.ndarray:
        """Maximum-likelihood proportions from the summed (weighted) responsibilities."""
        total = resp_sum.sum()
        if not total > 0:
            return np.full(resp_sum.shape, 1.0 / resp_sum.shape[0])
        return resp_sum / total

    def to_vector(self, weights: np.ndarray) -> np.ndarray:
        """Unconstrained coordinates (centred log weights) for EM acceleration."""
        logw = np.log(weights)
        return logw - logw.mean()

    def from_vector(self, vec: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_vector` (a softmax)."""
        e = np.exp(vec - vec.max())
        return e / e.sum()
