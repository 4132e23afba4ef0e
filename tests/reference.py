"""Independent reference computations shared by the tests."""

import numpy as np
import pandas as pd
from scipy.special import logsumexp


def dense_em(X, y, w, weights, coef_full, sigma, n_iter, fit_intercept=True):
    """A naive dense EM for a mixture of linear regressions, written for the tests.

    Builds the full diagonal weight matrices (O(n^2)), uses scipy's logsumexp and plain
    normal equations in the user's units. Returns the parameters after ``n_iter``
    iterations and the log-likelihood at them.
    """
    D = np.column_stack([np.ones(len(y)), X]) if fit_intercept else np.asarray(X)
    weights = np.array(weights, dtype=float)
    coef_full = np.array(coef_full, dtype=float)
    sigma = np.array(sigma, dtype=float)
    K = len(weights)

    def loglik_and_resp():
        logp = np.empty((len(y), K))
        for k in range(K):
            r = y - D @ coef_full[k]
            logp[:, k] = (
                np.log(weights[k]) - np.log(sigma[k]) - 0.5 * np.log(2 * np.pi)
                - 0.5 * (r / sigma[k]) ** 2
            )
        lse = logsumexp(logp, axis=1)
        return float(w @ lse), np.exp(logp - lse[:, None])

    for _ in range(n_iter):
        _, R = loglik_and_resp()
        for k in range(K):
            Wk = np.diag(w * R[:, k])
            beta = np.linalg.solve(D.T @ Wk @ D, D.T @ Wk @ y)
            coef_full[k] = beta
            r = y - D @ beta
            sigma[k] = np.sqrt((r @ Wk @ r) / np.trace(Wk))
        weights = (w @ R) / w.sum()
    ll, _ = loglik_and_resp()
    return weights, coef_full, sigma, ll


def match_labels(true_coef, est_coef):
    """Permutation of the estimated components that best matches the true ones."""
    from itertools import permutations

    K = len(true_coef)
    best = min(
        permutations(range(K)),
        key=lambda perm: np.sum((np.asarray(est_coef)[list(perm)] - true_coef) ** 2),
    )
    return np.array(best)


def gated_lines(n: int = 300, seed: int = 0, gate=(-4.0, 8.0)) -> pd.DataFrame:
    """Two lines (1 + 2x and 3 - x, noise 0.3) whose second one's share grows with a
    concomitant z: P(second | z) = logistic(gate[0] + gate[1] z), z uniform on [0, 1]."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0, 1, n)
    x = rng.normal(0, 1, n)
    second = rng.random(n) < 1 / (1 + np.exp(-(gate[0] + gate[1] * z)))
    y = np.where(second, 3 - x, 1 + 2 * x) + rng.normal(0, 0.3, n)
    return pd.DataFrame({"x": x, "z": z, "y": y})


def numerical_hessian(f, x, h=1e-4) -> np.ndarray:
    """Central second differences of ``f`` at ``x``: ``h`` a step for every coordinate,
    or one per coordinate (an array)."""
    x = np.asarray(x, dtype=np.float64)
    d = x.size
    E = np.eye(d) * np.broadcast_to(np.asarray(h, dtype=np.float64), (d,))
    H = np.empty((d, d))
    for i in range(d):
        for j in range(i, d):
            H[i, j] = H[j, i] = (f(x + E[i] + E[j]) - f(x + E[i] - E[j])
                                 - f(x - E[i] + E[j]) + f(x - E[i] - E[j])) / (
                                     4 * E[i, i] * E[j, j])
    return H
