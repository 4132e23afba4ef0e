"""Choosing the number of components: information criteria and a bootstrap LR test."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import check_random_state

from regmix.core.errors import DegenerateFitError
from regmix.estimator.mixture import RegressionMixture

CRITERIA = ("bic", "aic", "icl")


@dataclass
class ComponentSelection:
    """Fits for several numbers of components and the one a criterion prefers.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``n_components``: ``log_likelihood``, ``n_parameters``, ``aic``,
        ``bic``, ``icl``, ``converged`` and ``status`` ("ok", or why the fit failed; the
        numbers of a failed fit are NaN).
    criterion : str
        The criterion used to choose (smaller is better).
    best_n_components_ : int
        The chosen K.
    best_estimator_ : RegressionMixture
        The fitted model with the chosen K.
    estimators_ : dict of int to RegressionMixture
        Every successful fit, by K.
    """

    table: pd.DataFrame
    criterion: str
    best_n_components_: int
    best_estimator_: RegressionMixture
    estimators_: dict = field(default_factory=dict)


def select_components(
    X,
    y=None,
    *,
    n_components=range(1, 6),
    criterion: str = "bic",
    sample_weight=None,
    estimator: RegressionMixture | None = None,
    offset=None,
    trials=None,
    concomitant=None,
    groups=None,
    **params,
) -> ComponentSelection:
    """Fit a mixture for each number of components and pick one by a criterion.

    Parameters
    ----------
    X : array-like or DataFrame
        Features, or the data frame when the estimator has a formula.
    y : array-like, optional
        Response (taken from the formula's left-hand side when there is one).
    n_components : iterable of int, default=range(1, 6)
        The numbers of components to try.
    criterion : {"bic", "aic", "icl"}, default="bic"
        Smaller is better, as in R.
    sample_weight : array-like, optional
        Row weights passed to every fit.
    estimator : RegressionMixture, optional
        A template whose parameters are used for every fit (``n_components`` is set
        for each K); otherwise ``RegressionMixture(**params)``.
    offset, trials, concomitant, groups : optional
        Passed to every fit (see :meth:`RegressionMixture.fit`).
    **params
        Estimator parameters when no template is given (``family=``, ...).

    Returns
    -------
    ComponentSelection

    Examples
    --------
    >>> from regmix import select_components
    >>> from regmix.datasets import make_regression_mixture
    >>> X, y, _, _ = make_regression_mixture(300, coef=[[2.0], [-2.0]], intercept=[0, 0],
    ...                                      sigma=[0.5, 0.5], random_state=0)
    >>> sel = select_components(X, y, n_components=[1, 2, 3], random_state=0)
    >>> sel.best_n_components_
    2
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}")
    ks = [int(k) for k in n_components]
    if not ks or min(ks) < 1:
        raise ValueError(f"n_components must be positive integers; got {list(n_components)}")
    template = estimator if estimator is not None else RegressionMixture(**params)
    rows, fitted = [], {}
    for k in ks:
        model = clone(template).set_params(n_components=k)
        try:
            model.fit(X, y, sample_weight=sample_weight, offset=offset, trials=trials,
                      concomitant=concomitant, groups=groups)
        except DegenerateFitError as err:
            rows.append(_failed_row(k, f"degenerate: {err}"))
            continue
        except ValueError as err:
            if k == ks[0] or "fewer than" not in str(err):
                raise
            rows.append(_failed_row(k, f"too few rows: {err}"))
            continue
        fitted[k] = model
        ll = model.log_likelihood_
        rows.append({
            "n_components": k,
            "log_likelihood": ll,
            "n_parameters": model.n_parameters_,
            "aic": model.aic_,
            "bic": model.bic_,
            "icl": model.icl_,
            "converged": model.converged_,
            "status": "ok",
        })
    table = pd.DataFrame(rows).set_index("n_components")
    if not fitted:
        raise DegenerateFitError(f"no number of components in {ks} could be fitted")
    best = int(table.loc[list(fitted), criterion].idxmin())
    return ComponentSelection(table, criterion, best, fitted[best], fitted)


def _array_template(template: RegressionMixture) -> RegressionMixture:
    """The template for refits on a numeric design (a formula has already been applied)."""
    if "formula" in template.get_params():
        return clone(template).set_params(formula=None)
    return template


def _failed_row(k: int, status: str) -> dict:
    return {"n_components": k, "log_likelihood": np.nan, "n_parameters": np.nan,
            "aic": np.nan, "bic": np.nan, "icl": np.nan, "converged": False, "status": status}


@dataclass
class LikelihoodRatioTest:
    """Parametric bootstrap likelihood-ratio test of K against K + 1 components.

    Attributes
    ----------
    n_components : int
        K, the number of components under the null hypothesis.
    statistic : float
        ``2 (log L_{K+1} - log L_K)`` on the data.
    p_value : float
        ``(1 + #{replicates >= statistic}) / (n_valid + 1)``.
    replicates : ndarray
        The statistic on each data set simulated from the K-component fit.
    null_model, alternative_model : RegressionMixture
        The fits with K and K + 1 components. ``alternative_model`` is None when every
        K + 1 start was degenerate (a weight below ``min_weight``); the statistic is
        then 0, as it is for such a replicate.
    n_failed : int
        Replicates dropped because a fit failed.
    """

    n_components: int
    statistic: float
    p_value: float
    replicates: np.ndarray
    null_model: RegressionMixture
    alternative_model: RegressionMixture | None
    n_failed: int = 0


def bootstrap_lr_test(
    X,
    y=None,
    *,
    n_components: int = 1,
    n_boot: int = 99,
    random_state=None,
    estimator: RegressionMixture | None = None,
    **params,
) -> LikelihoodRatioTest:
    """Test K components against K + 1 by a parametric bootstrap of the LR statistic.

    The likelihood-ratio statistic has no chi-squared reference distribution for
    mixtures (the null lies on the boundary of the parameter space), so its null
    distribution is simulated (McLachlan 1987, Appl. Statist. 36, 318-324): responses
    are drawn from the K-component fit at the observed features, both models are refit,
    and the statistic recomputed, as mixtools' ``boot.comp`` does.

    Parameters
    ----------
    X, y :
        Data, as for :meth:`RegressionMixture.fit`.
    n_components : int, default=1
        K under the null hypothesis.
    n_boot : int, default=99
        Bootstrap replicates.
    random_state : int, RandomState instance or None
        Seed for the simulations and the fits.
    estimator : RegressionMixture, optional
        Template for the fits; otherwise ``RegressionMixture(**params)``.

    Returns
    -------
    LikelihoodRatioTest
    """
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    K = int(n_components)
    if K < 1:
        raise ValueError(f"n_components must be >= 1; got {n_components!r}")
    rng = check_random_state(random_state)
    template = estimator if estimator is not None else RegressionMixture(**params)

    def fit_pair(Xd, yd, seed):
        null = clone(template).set_params(n_components=K, random_state=seed).fit(Xd, yd)
        try:
            alt = clone(template).set_params(n_components=K + 1, random_state=seed).fit(Xd, yd)
        except DegenerateFitError:
            # no K+1 fit keeps every weight above min_weight: the alternative collapses
            # onto the null model
            return null, None, 0.0
        # the K+1 model nests the K model: its maximum cannot be lower
        return null, alt, max(2.0 * (alt.log_likelihood_ - null.log_likelihood_), 0.0)

    null, alt, stat = fit_pair(X, y, int(rng.randint(2**31 - 1)))
    design = null._design_and_response(X, y)[0]
    template = _array_template(template)
    replicates, failed = [], 0
    for _ in range(int(n_boot)):
        seed = int(rng.randint(2**31 - 1))
        y_sim, _ = null._simulate_response(design, np.random.default_rng(seed))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                replicates.append(fit_pair(design, y_sim, seed)[2])
        except ValueError:
            failed += 1
    reps = np.asarray(replicates)
    p_value = (1.0 + np.sum(reps >= stat)) / (len(reps) + 1.0)
    return LikelihoodRatioTest(K, stat, float(p_value), reps, null, alt, failed)
