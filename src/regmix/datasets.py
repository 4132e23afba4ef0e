"""Seeded generators of data from known mixtures of regressions."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state


def make_regression_mixture(
    n_samples: int = 200,
    n_features: int = 1,
    n_components: int = 2,
    *,
    weights=None,
    coef=None,
    intercept=None,
    sigma=None,
    x_scale: float = 1.0,
    random_state=None,
):
    """Draw a data set from a mixture of linear regressions with known parameters.

    Features are independent ``N(0, x_scale^2)``; each row's component is drawn with
    probabilities ``weights``; ``y = intercept_k + x' coef_k + sigma_k * N(0, 1)``.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Size of the problem (ignored where ``coef`` fixes them).
    weights : array-like of shape (K,), optional
        Mixing proportions; equal by default.
    coef : array-like of shape (K, n_features), optional
        Slopes; drawn from ``N(0, 3^2)`` by default.
    intercept : array-like of shape (K,), optional
        Intercepts; drawn from ``N(0, 2^2)`` by default.
    sigma : array-like of shape (K,), optional
        Noise standard deviations; ones by default.
    x_scale : float, default=1.0
        Standard deviation of the features.
    random_state : int, RandomState instance or None
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    labels : ndarray of shape (n_samples,)
        The true component of each row.
    params : dict
        ``weights``, ``coef``, ``intercept`` and ``sigma`` of the generating model.
    """
    rng = check_random_state(random_state)
    if coef is not None:
        coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        n_components, n_features = coef.shape
    else:
        coef = rng.normal(0.0, 3.0, size=(n_components, n_features))
    K = n_components
    intercept = rng.normal(0.0, 2.0, size=K) if intercept is None else np.asarray(
        intercept, dtype=np.float64).reshape(K)
    sigma = np.ones(K) if sigma is None else np.asarray(sigma, dtype=np.float64).reshape(K)
    weights = np.full(K, 1.0 / K) if weights is None else np.asarray(
        weights, dtype=np.float64).reshape(K)
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError(f"weights must be non-negative and sum to one; got {weights}")
    if np.any(sigma < 0):
        raise ValueError(f"sigma must be non-negative; got {sigma}")
    X = rng.normal(0.0, x_scale, size=(n_samples, n_features))
    labels = rng.choice(K, size=n_samples, p=weights)
    y = intercept[labels] + np.einsum("ij,ij->i", X, coef[labels])
    y = y + sigma[labels] * rng.standard_normal(n_samples)
    params = {"weights": weights, "coef": coef, "intercept": intercept, "sigma": sigma}
    return X, y, labels, params
