"""Constant mixing weights: every row has the same prior probabilities ``pi_k``."""

from __future__ import annotations

import numpy as np

from regmix.core.chunk import Chunk
from regmix.core.linalg import softmax
from regmix.core.params import MixtureParams


class ConstantWeights:
    """Mixing proportions ``pi_k`` that are the same for every row."""

    name = "constant"
    exact = True

    def n_parameters(self, n_components: int, n_gating: int = 1) -> int:
        """``K - 1`` free proportions (they sum to one)."""
        return n_components - 1

    def start(self, n_components: int,
              n_gating: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        """Equal weights and no gating coefficients."""
        return np.full(n_components, 1.0 / n_components), None

    def log_weights(self, params: MixtureParams, chunk: Chunk | None = None) -> np.ndarray:
        """Log proportions as a (K, 1) column, broadcastable against a (K, n) block.

        ``log 0 = -inf``.
        """
        with np.errstate(divide="ignore"):
            return np.log(params.weights)[:, None]

    def statistics(self, params: MixtureParams, chunk: Chunk, resp: np.ndarray,
                   w: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """The summed (weighted) posterior probabilities."""
        return (resp.sum(axis=1) if w is None else resp @ w,)

    def m_step(self, mix_stats: tuple[np.ndarray, ...],
               params: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        """Maximum-likelihood proportions from the summed posterior probabilities."""
        resp_sum = mix_stats[0]
        total = resp_sum.sum()
        if not total > 0:
            return np.full(resp_sum.shape, 1.0 / resp_sum.shape[0]), None
        return resp_sum / total, None

    def vector_size(self, params: MixtureParams) -> int:
        return params.weights.shape[0]

    def to_vector(self, params: MixtureParams) -> np.ndarray:
        """Unconstrained coordinates (centred log weights) for EM acceleration."""
        logw = np.log(params.weights)
        return logw - logw.mean()

    def from_vector(self, vec: np.ndarray,
                    like: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        """Inverse of :meth:`to_vector` (a softmax)."""
        return softmax(vec), None


class FixedWeights(ConstantWeights):
    """Known mixing proportions: the same for every row, and not estimated.

    Parameters
    ----------
    weights : array-like of shape (K,)
        Positive proportions that sum to one.
    """

    name = "fixed"

    def __init__(self, weights) -> None:
        self.weights = np.asarray(weights, dtype=np.float64).copy()

    def n_parameters(self, n_components: int, n_gating: int = 1) -> int:
        """None: the proportions are known."""
        return 0

    def start(self, n_components: int,
              n_gating: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        """The known proportions."""
        return self.weights.copy(), None

    def m_step(self, mix_stats: tuple[np.ndarray, ...],
               params: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        """The known proportions, whatever the posterior probabilities."""
        return self.weights.copy(), None

    def from_vector(self, vec: np.ndarray,
                    like: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        """The known proportions (an extrapolation does not move them)."""
        return self.weights.copy(), None
