"""Newton steps on the observed log-likelihood after EM, for families whose EM slows
down near the boundary of their parameter space (the latent-class linear mixed model,
whose random-effect covariances approach singularity).

The steps use the analytic score and observed information of the whole mixture
(:func:`regmix.inference.information.score_information`, one pass each), in
coordinates where such a boundary is an ordinary point: per component the
coefficients, ``log sigma`` and the lower triangle of a square root ``L`` of the
random-effect covariance (``D = L L'``, no logarithm of its diagonal), then the log
weight ratios (or, with concomitant variables, the gating coefficients of components
2..K). A singular ``D`` is then ``L`` with a zero on its diagonal, and a
maximum there has a negative definite Hessian, so Newton's method converges
quadratically where EM crawls. The coordinates are the free parameters of the
family's covariance structure (:class:`_Coordinates`): a common sigma or a common
``D`` once, a diagonal ``D`` by its diagonal, proportional ones ``D_k = w_k^2 D`` by
``D``'s ``L`` and the ratios ``w_k``.
"""

from __future__ import annotations

import numpy as np

from regmix.core.params import MixtureParams
from regmix.families.mixed_gaussian import class_map, covariance_entries
from regmix.fitting.state import EMRun
from regmix.inference.information import _Layout, score_information

# Steps halved at most this many times before the polish gives up.
_MAX_HALVINGS = 30


def _covariance_maps(L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of ``vech(L L')`` in ``vech(L)`` (lower triangles, row-major).

    Returns the Jacobian ``J`` (u, u) and the second derivatives ``S`` (u, u, u),
    ``S[e, f, g] = d2 D_e / dL_f dL_g``, which do not depend on ``L``.
    """
    rows, cols = (idx.tolist() for idx in np.tril_indices(L.shape[0]))
    u = len(rows)
    J = np.zeros((u, u))
    S = np.zeros((u, u, u))
    for e, (a, b) in enumerate(zip(rows, cols, strict=True)):
        for f, (i, j) in enumerate(zip(rows, cols, strict=True)):
            J[e, f] = (a == i) * L[b, j] + (b == i) * L[a, j]
            for g, (k, m) in enumerate(zip(rows, cols, strict=True)):
                S[e, f, g] = (j == m) * ((a == i) * (b == k) + (b == i) * (a == k))
    return J, S


class _Coordinates:
    """The polish coordinates of a mixture of ``family``'s components: the
    coefficients, ``log sigma_k`` (one with a common sigma), the free entries of a
    lower-triangular ``L`` per free covariance (per class, or one for a common ``D``
    or the reference ``D_K`` of proportional ones; its diagonal when diagonal), then
    ``w_1 .. w_{K-1}`` of ``D_k = w_k^2 L L'`` (proportional), then the log weight
    ratios, or the gating coefficients of components 2..K when ``gated``. ``layout``
    places the information's coordinates ``theta``."""

    def __init__(self, family, layout: _Layout, gated: bool = False) -> None:
        self.family, self.layout, self.gated = family, layout, gated
        K = layout.K
        q = family.n_random
        self.rows, self.cols = covariance_entries(q, family.diagonal)
        self.u = self.rows.size
        self.G = K if family.cov_classes == "specific" else 1
        self.n_s = 1 if family.constraints is not None and family.constraints.equal_scale else K
        self.n_w = K - 1 if family.cov_classes == "proportional" else 0

    def _split(self, vec: np.ndarray):
        K, p = self.layout.K, self.layout.p
        ends = np.cumsum([K * p, self.n_s, self.G * self.u, self.n_w])
        coef, log_sigma, ell, w, eta = np.split(vec, ends)
        return coef.reshape(K, p), log_sigma, ell.reshape(self.G, self.u), w, eta

    def vector(self, params: MixtureParams) -> np.ndarray:
        """The coordinates of ``params``."""
        comp = params.component
        free = comp.cov if self.G > 1 else comp.cov[-1:]
        q = free.shape[1]
        jitter = 1e-12 * np.maximum(np.trace(free, axis1=1, axis2=2), 1e-300)
        L = np.linalg.cholesky(free + jitter[:, None, None] * np.eye(q))
        w = self.family.proportions(comp.cov)[: self.n_w]
        if self.gated:
            mixing = params.gating[1:].ravel()
        else:
            log_w = np.log(params.weights)
            mixing = log_w[1:] - log_w[0]
        return np.concatenate(
            [
                comp.coef.ravel(),
                np.log(comp.sigma[: self.n_s]),
                L[:, self.rows, self.cols].ravel(),
                w,
                mixing,
            ]
        )

    def _covariances(self, ell: np.ndarray):
        """The entries of ``L L'`` (G, u) with their first and second derivatives."""
        G, u = ell.shape
        if self.family.diagonal:
            jac = np.zeros((G, u, u))
            curv = np.zeros((G, u, u, u))
            jac[:, np.arange(u), np.arange(u)] = 2.0 * ell
            curv[:, np.arange(u), np.arange(u), np.arange(u)] = 2.0
            return ell**2, jac, curv
        q = self.family.n_random
        L = np.zeros((G, q, q))
        L[:, self.rows, self.cols] = ell
        maps = [_covariance_maps(L[g]) for g in range(G)]
        base = (L @ np.swapaxes(L, 1, 2))[:, self.rows, self.cols]
        return base, np.array([m[0] for m in maps]), np.array([m[1] for m in maps])

    def params(self, vec: np.ndarray, like: MixtureParams | None = None) -> MixtureParams:
        """Inverse of :meth:`vector`; with gating the weights are ``like``'s (the
        posterior shares, which the next pass gives)."""
        K = self.layout.K
        coef, log_sigma, ell, w, eta = self._split(vec)
        entries = class_map(*self._covariances(ell), self.family.cov_classes, K, w)[0]
        sigma = np.broadcast_to(np.exp(log_sigma), (K,))
        component = self.family.make_params(coef, np.column_stack([sigma, entries]))
        if self.gated:
            if like is None:
                raise ValueError("gated coordinates need the parameters they come from")
            gating = np.zeros((K, self.layout.q))
            gating[1:] = eta.reshape(K - 1, self.layout.q)
            return MixtureParams(like.weights, component, gating)
        weights = np.exp(np.concatenate([[0.0], eta]) - max(0.0, float(eta.max(initial=0.0))))
        return MixtureParams(weights / weights.sum(), component)

    def chain(self, vec: np.ndarray, score: np.ndarray, hessian: np.ndarray):
        """Score and Hessian in these coordinates from those in ``theta``."""
        layout = self.layout
        K, p = layout.K, layout.p
        dim = vec.size
        _, _, ell, w, _ = self._split(vec)
        _, J, S = class_map(*self._covariances(ell), self.family.cov_classes, K, w)
        blocks = np.array([layout.block(k) for k in range(K)])
        T = np.zeros((layout.dim, dim))
        T[blocks[:, :p].ravel(), np.arange(K * p)] = 1.0
        T[blocks[:, p], K * p + (np.arange(K) if self.n_s == K else 0)] = 1.0
        cov_cols = K * p + self.n_s + np.arange(J.shape[1])
        entries = blocks[:, p + 1 :].ravel()
        T[np.ix_(entries, cov_cols)] = J
        T[layout.eta, cov_cols[-1] + 1 + np.arange(layout.eta.size)] = 1.0
        curvature = np.zeros((dim, dim))
        curvature[np.ix_(cov_cols, cov_cols)] = np.einsum("e,efg->fg", score[entries], S)
        return T.T @ score, T.T @ hessian @ T + curvature


def _derivatives(vec, params, coordinates, runner):
    """Score, Hessian and log-likelihood in the polish coordinates at ``vec``."""
    score, info, loglik = score_information(
        coordinates.family, params, runner.source, runner.chunk_size, runner.n_jobs
    )
    grad, hess = coordinates.chain(vec, score, -info)
    return grad, hess, loglik


def newton_polish(
    run: EMRun, runner, *, tol: float, min_weight: float, max_steps: int = 50
) -> EMRun:
    """Newton steps from ``run``'s parameters until the predicted gain (half the
    Newton decrement) is below ``tol`` per unit of weight; each step is halved until it
    does not lower the log-likelihood, so the run's log-likelihood never decreases.

    ``runner`` is the fit's :class:`regmix.engine.runner.PassRunner` (internal units).
    Where the Hessian is not negative definite (away from a maximum, or along a
    direction it does not determine) its eigenvalues are replaced by their absolute
    values, bounded away from zero. Returns a new run, ``converged`` when the predicted
    gain fell below the threshold, or when the last change of the log-likelihood (of
    EM, or of the last Newton step) was below it.
    """
    family = runner.family
    params = run.params
    K, p = params.component.coef.shape
    gated = params.gating is not None
    q = 1 if not gated else params.gating.shape[1]
    coordinates = _Coordinates(family, _Layout(K, p, int(family.free_extra().sum()), q),
                               gated)
    threshold = tol * runner.total_weight
    vec = coordinates.vector(params)
    loglik = run.loglik
    history, n_passes, steps, converged = list(run.history), run.n_passes, 0, False
    while steps < max_steps:
        grad, hess, _ = _derivatives(vec, params, coordinates, runner)
        n_passes += 1
        lam, V = np.linalg.eigh(-0.5 * (hess + hess.T))
        floor = 1e-10 * max(float(np.abs(lam).max()), 1e-300)
        step = V @ ((V.T @ grad) / np.maximum(np.abs(lam), floor))
        if not np.all(np.isfinite(step)):
            break
        if 0.5 * float(grad @ step) < threshold and lam.min() > floor:
            converged = True
            break
        size, accepted = 1.0, False
        for _ in range(_MAX_HALVINGS):
            trial_vec = vec + size * step
            trial = coordinates.params(trial_vec, params)
            # with gating the weights are the posterior shares at the trial point, which
            # its pass gives; without, a trial below min_weight needs no pass
            if gated or trial.weights.min() >= min_weight:
                with np.errstate(all="ignore"):
                    result = runner.evaluate(trial)
                n_passes += 1
                if gated:
                    shares = np.asarray(result.mix_stats[0], dtype=np.float64)
                    trial = MixtureParams(shares / shares.sum(), trial.component,
                                          trial.gating)
                trial_ll = result.loglik
                if (trial.weights.min() >= min_weight and np.isfinite(trial_ll)
                        and trial_ll >= loglik):
                    accepted = True
                    break
            size *= 0.5
        if not accepted:
            break
        vec, params, loglik = trial_vec, trial, trial_ll
        history.append(loglik)
        steps += 1
    # without a converged Newton step: converged as EM's criterion at ``tol`` says (the
    # run's EM may have stopped at a looser tolerance)
    converged = converged or (
        run.converged and len(history) >= 2 and abs(history[-1] - history[-2]) < threshold
    )
    return EMRun(
        params,
        loglik,
        history,
        run.n_iter + steps,
        converged=converged,
        rank_deficient=run.rank_deficient,
        n_passes=n_passes,
    )
