"""Newton steps on the observed log-likelihood after EM, for families whose EM slows
down near the boundary of their parameter space (the latent-class linear mixed model,
whose random-effect covariances approach singularity).

The steps use the analytic score and observed information of the whole mixture
(:func:`regmix.inference.information.score_information`, one pass each), in
coordinates where such a boundary is an ordinary point: per component the
coefficients, ``log sigma`` and the lower triangle of a square root ``L`` of the
random-effect covariance (``D = L L'``, no logarithm of its diagonal), then the log
weight ratios. A singular ``D`` is then ``L`` with a zero on its diagonal, and a
maximum there has a negative definite Hessian, so Newton's method converges
quadratically where EM crawls.
"""

from __future__ import annotations

import numpy as np

from regmix.core.params import MixtureParams
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


def _vector(params: MixtureParams, layout: _Layout) -> np.ndarray:
    """The polish coordinates of ``params`` (see the module docstring)."""
    comp = params.component
    q = comp.cov.shape[1]
    rows, cols = np.tril_indices(q)
    jitter = 1e-12 * np.maximum(np.trace(comp.cov, axis1=1, axis2=2), 1e-300)
    L = np.linalg.cholesky(comp.cov + jitter[:, None, None] * np.eye(q))
    blocks = np.column_stack([comp.coef, np.log(comp.sigma), L[:, rows, cols]])
    log_w = np.log(params.weights)
    return np.concatenate([blocks.ravel(), log_w[1:] - log_w[0]])


def _params(vec: np.ndarray, like: MixtureParams, family, layout: _Layout) -> MixtureParams:
    """Inverse of :func:`_vector`."""
    K, p = layout.K, layout.p
    q = like.component.cov.shape[1]
    rows, cols = np.tril_indices(q)
    blocks = vec[: K * (p + layout.m)].reshape(K, -1)
    L = np.zeros((K, q, q))
    L[:, rows, cols] = blocks[:, p + 1 :]
    cov = L @ np.swapaxes(L, 1, 2)
    eta = np.concatenate([[0.0], vec[layout.eta]])
    weights = np.exp(eta - eta.max())
    return MixtureParams(
        weights / weights.sum(),
        family.make_params(
            blocks[:, :p], np.column_stack([np.exp(blocks[:, p]), cov[:, rows, cols]])
        ),
    )


def _derivatives(vec, params, family, runner, layout):
    """Score, Hessian and log-likelihood in the polish coordinates at ``vec``."""
    score, info, loglik = score_information(
        family, params, runner.source, runner.chunk_size, runner.n_jobs
    )
    hessian = -info
    q = params.component.cov.shape[1]
    rows, cols = np.tril_indices(q)
    T = np.eye(layout.dim)
    curvature = np.zeros((layout.dim, layout.dim))
    blocks = vec[: layout.K * (layout.p + layout.m)].reshape(layout.K, -1)
    for k in range(layout.K):
        L = np.zeros((q, q))
        L[rows, cols] = blocks[k, layout.p + 1 :]
        J, S = _covariance_maps(L)
        idx = layout.block(k)[layout.p + 1 :]
        T[np.ix_(idx, idx)] = J
        curvature[np.ix_(idx, idx)] = np.einsum("e,efg->fg", score[idx], S)
    return T.T @ score, T.T @ hessian @ T + curvature, loglik


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
    layout = _Layout(K, p, int(family.free_extra().sum()))
    threshold = tol * runner.total_weight
    vec = _vector(params, layout)
    loglik = run.loglik
    history, n_passes, steps, converged = list(run.history), run.n_passes, 0, False
    while steps < max_steps:
        grad, hess, _ = _derivatives(vec, params, family, runner, layout)
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
            trial = _params(trial_vec, params, family, layout)
            if trial.weights.min() >= min_weight:
                with np.errstate(all="ignore"):
                    trial_ll = runner.evaluate(trial).loglik
                n_passes += 1
                if np.isfinite(trial_ll) and trial_ll >= loglik:
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
