"""Seeded generators of data from known mixtures of regressions."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from regmix.families.registry import get_family


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


def make_family_mixture(
    n_samples: int = 500,
    family="poisson",
    *,
    coef,
    intercept,
    weights=None,
    extra=None,
    trials=None,
    x_scale: float = 1.0,
    random_state=None,
):
    """Draw a data set from a mixture of regressions of any family.

    Features are independent ``N(0, x_scale^2)``; each row's component is drawn with
    probabilities ``weights``; the response from the family with mean
    ``g^-1(intercept_k + x' coef_k)``.

    Parameters
    ----------
    n_samples : int
        Rows.
    family : str or family object
        As for :class:`~regmix.RegressionMixture` (``"poisson"``, ``"binomial"``,
        ``"gamma"``, ``"negative_binomial"``, ``"student_t"``, ``"gaussian"``).
    coef : array-like of shape (K, n_features)
    intercept : array-like of shape (K,)
    weights : array-like of shape (K,), optional
        Mixing proportions; equal by default.
    extra : dict, optional
        The family's other parameters by name, one value per component: ``sigma``
        (Gaussian, Student-t), ``df`` (Student-t), ``shape`` (Gamma), ``size``
        (negative binomial).
    trials : int or array-like of shape (n_samples,), optional
        Binomial trials per row (one by default).
    x_scale : float, default=1.0
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        For the binomial family: successes.
    labels : ndarray of shape (n_samples,)
    params : dict
        ``weights``, ``coef``, ``intercept`` and the extras.

    Examples
    --------
    >>> from regmix.datasets import make_family_mixture
    >>> X, y, labels, _ = make_family_mixture(
    ...     300, "poisson", coef=[[1.0], [-1.0]], intercept=[0.5, 2.0], random_state=0)
    >>> bool((y >= 0).all() and (y == y.round()).all())
    True
    """

    fam = get_family(family)
    rng = check_random_state(random_state)
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    K, p = coef.shape
    intercept = np.asarray(intercept, dtype=np.float64).reshape(K)
    weights = np.full(K, 1.0 / K) if weights is None else np.asarray(
        weights, dtype=np.float64).reshape(K)
    extra = dict(extra or {})
    missing = [e for e in fam.extra_names if e not in extra and e != "df"]
    if missing:
        raise ValueError(f"the {fam.name} family needs extra={{...}} with {missing}")
    if "df" in fam.extra_names:
        extra.setdefault("df", np.full(K, fam.df if fam.df is not None else 5.0))
    values = np.column_stack([np.broadcast_to(np.asarray(extra[e], dtype=np.float64), (K,))
                              for e in fam.extra_names]) if fam.extra_names else np.zeros((K, 0))
    X = rng.normal(0.0, x_scale, size=(n_samples, p))
    labels = rng.choice(K, size=n_samples, p=weights)
    if trials is not None:
        trials = np.broadcast_to(np.asarray(trials), (n_samples,))
    params = fam.make_params(np.column_stack([intercept, coef]), values)
    design = np.column_stack([np.ones(n_samples), X])
    generator = np.random.default_rng(rng.randint(2**31 - 1))
    y = fam.sample(params, design, labels, generator, None, trials)
    out = {"weights": weights, "coef": coef, "intercept": intercept}
    out.update({e: values[:, j] for j, e in enumerate(fam.extra_names)})
    return X, y, labels, out
