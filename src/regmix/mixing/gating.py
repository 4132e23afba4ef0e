"""Mixing weights: how the prior probability of each component is modelled.

A mixing model answers, for the EM machinery:

* ``log_weights(params, chunk)``: the log prior probabilities, (K, 1) when they are the
  same for every row, (K, n) when they depend on the row's concomitant variables;
* ``statistics(params, chunk, resp, w)``: additive statistics of a chunk for its M-step,
  given the (K, n) posterior probabilities (of the rows, or of the groups) and the
  observation weights;
* ``m_step(mix_stats, params)``: new ``(weights, gating)``;
* vectors for the accelerator, and the number of free parameters.

:class:`ConstantWeights` is the classical mixture; :class:`MultinomialLogitGating` makes
the weights depend on covariates (a mixture of experts, flexmix's concomitant model).
"""

from __future__ import annotations

import numpy as np

from regmix.core.chunk import Chunk
from regmix.core.linalg import log_softmax, softmax, solve_normal_equations
from regmix.core.params import MixtureParams


class MultinomialLogitGating:
    """Mixing weights that depend on concomitant variables ``z``:
    ``pi_k(z) = exp(z' gamma_k) / sum_l exp(z' gamma_l)`` with ``gamma_1 = 0``.

    The gating design (an intercept and the concomitant variables, standardised like the
    regression design) arrives with each chunk as ``chunk.ZT``. The M-step is one Newton
    step of the weighted multinomial-logit fit of the posterior probabilities on ``z``
    (flexmix's ``FLXPmultinom``), warm-started from the current ``gamma``; the EM driver
    halves a step that would lower the log-likelihood. The statistics are the gradient
    and the Hessian of that fit at the current ``gamma``, additive over rows.

    Parameters
    ----------
    ridge : float, default=1e-8
        A tiny ridge on the Newton system relative to its diagonal, so that a gating
        design on which some component's weight is not identified still gives a step.
    """

    name = "multinomial_logit"
    exact = False

    def __init__(self, ridge: float = 1e-8) -> None:
        self.ridge = float(ridge)

    def n_parameters(self, n_components: int, n_gating: int = 1) -> int:
        return (n_components - 1) * n_gating

    def start(self, n_components: int,
              n_gating: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Equal weights: every gating coefficient zero."""
        return np.full(n_components, 1.0 / n_components), np.zeros((n_components, n_gating))

    def _gamma(self, params: MixtureParams, q: int) -> np.ndarray:
        g = params.gating
        return np.zeros((params.weights.shape[0], q)) if g is None else g

    def log_weights(self, params: MixtureParams, chunk: Chunk) -> np.ndarray:
        """``log pi_k(z_i)``, shape (K, n)."""
        assert chunk.ZT is not None  # a source with concomitant variables serves ZT
        return log_softmax(self._gamma(params, chunk.ZT.shape[0]) @ chunk.ZT)

    def statistics(self, params: MixtureParams, chunk: Chunk, resp: np.ndarray,
                   w: np.ndarray | None,
                   ZT: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """``(resp_sum, gradient, hessian)`` of the weighted multinomial-logit fit.

        ``gradient`` is (K - 1, q): ``sum_i w_i (r_ik - pi_ik) z_i``; ``hessian`` is
        ((K - 1) q, (K - 1) q): ``sum_i w_i (diag(pi_i) - pi_i pi_i') (x) z_i z_i'``
        (minus the Hessian). ``ZT`` overrides the chunk's gating design (one column per
        group for grouped data).
        """
        ZT = chunk.ZT if ZT is None else ZT
        assert ZT is not None
        K, n = resp.shape
        q = ZT.shape[0]
        pi = softmax(self._gamma(params, q) @ ZT)
        wv = np.ones(n) if w is None else w
        resp_sum = resp @ wv
        grad = ((resp[1:] - pi[1:]) * wv) @ ZT.T
        H = np.empty((K - 1, q, K - 1, q))
        for k in range(1, K):
            for j in range(k, K):
                c = wv * pi[k] * ((1.0 if j == k else 0.0) - pi[j])
                block = (ZT * c) @ ZT.T
                H[k - 1, :, j - 1, :] = block
                H[j - 1, :, k - 1, :] = block.T
        return resp_sum, grad, H.reshape((K - 1) * q, (K - 1) * q)

    def m_step(self, mix_stats: tuple[np.ndarray, ...],
               params: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        """One Newton step on ``gamma``; the reported weights are the posterior shares."""
        resp_sum, grad, H = mix_stats
        K = resp_sum.shape[0]
        q = grad.shape[1]
        gamma = self._gamma(params, q).copy()
        if K > 1:
            Hr = H + self.ridge * np.diag(np.maximum(np.diag(H), 1e-300))
            step, _ = solve_normal_equations(Hr, grad.ravel())
            gamma[1:] += step.reshape(K - 1, q)
        total = resp_sum.sum()
        weights = resp_sum / total if total > 0 else np.full(K, 1.0 / K)
        return weights, gamma

    def vector_size(self, params: MixtureParams) -> int:
        assert params.gating is not None  # gating coefficients from start() on
        return params.weights.shape[0] + params.gating[1:].size

    def to_vector(self, params: MixtureParams) -> np.ndarray:
        assert params.gating is not None
        logw = np.log(params.weights)
        return np.concatenate([logw - logw.mean(), params.gating[1:].ravel()])

    def from_vector(self, vec: np.ndarray,
                    like: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        assert like.gating is not None
        K, q = like.gating.shape
        gamma = np.zeros((K, q))
        gamma[1:] = vec[K:].reshape(K - 1, q)
        return softmax(vec[:K]), gamma
