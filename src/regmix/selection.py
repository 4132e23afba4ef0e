"""Choosing the number of components: information criteria and a bootstrap LR test."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils import check_random_state

from regmix.core.choices import CRITERIA
from regmix.core.errors import DegenerateFitError
from regmix.estimator.mixture import RegressionMixture
from regmix.inference.diagnostics import LMRTest
from regmix.inference.diagnostics import lmr_test as _lmr_statistic

# Backward and forward sweeps of the component path at most (see select_components).
MAX_SWEEPS = 3

# A refit replaces a fit on the path when its log-likelihood is higher by more than this
# share of the log-likelihood's magnitude (plus the same absolute amount).
PATH_GAIN = 1e-10

# Round-off of a log-likelihood difference, relative to the magnitude of the null
# log-likelihood (plus the same absolute amount): a K + 1 fit below the K fit by less is
# taken to be at the same value, by more to be a failed search.
ROUND_OFF = 1e-8

# Attempts at fitting a bootstrap replicate, each with a seed of its own: by the
# replicate search with the replicate's parameters, and the last with the estimator's
# own search.
REPLICATE_ATTEMPTS = 3

# A replicate's own starts in the attempts by the replicate search
# (regmix.fitting.search.StartSearch.run_replicate), besides the candidates from the
# fitted models and the seed lines: one from random memberships (for one component,
# the fit to all rows).
REPLICATE_PARAMS = {"n_init": 1, "init": "random"}

# The same, under the name it had when it was a quicker alternative to the
# estimator's search (``refit_params=QUICK_REFIT``); it is now the default.
QUICK_REFIT = REPLICATE_PARAMS


@dataclass
class ComponentSelection:
    """Fits for several numbers of components and the one a criterion prefers.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by ``n_components`` (increasing): ``log_likelihood``,
        ``n_parameters``, ``aic``, ``bic``, ``icl``, ``sabic``, ``caic``, ``awe`` (see
        :meth:`RegressionMixture.information_criteria`), ``entropy`` (the relative
        entropy ``1 - E / (n log K)``), ``avepp_min`` (the smallest average posterior
        probability of a component over the observations assigned to it), ``lmr``
        and ``lmr_p`` (the Lo-Mendell-Rubin adjusted LR statistic of K - 1 against K
        and its p-value, :func:`lmr_test`, when K - 1 is in the table),
        ``converged``, ``status`` ("ok",
        or why no admissible fit was found; the numbers of a failed fit are NaN) and
        the replication of the best log-likelihood, ``n_at_best`` out of ``n_runs``
        (the fit's :attr:`~regmix.RegressionMixture.n_at_best_` and
        :attr:`~regmix.RegressionMixture.n_runs_`: runs from independent starting
        points, and how many of them ended at the reported maximum; both 0 for a
        failed fit).
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

    The fits are a path in K rather than independent fits. Each K is fitted on its
    own and by :meth:`RegressionMixture.fit_from` with the fit of K - 1 components
    (when that K was fitted) as an origin, whose components are split in two, and the
    fit with the higher log-likelihood is kept. Then backward sweeps: each K is
    refitted with the fits of K - 1 and K + 1 as origins (the K + 1 fit's pairs of
    components merged), and the refit kept if its log-likelihood is higher; the sweep
    goes on forward for the K whose neighbours changed, and sweeps repeat until
    nothing changes (at most :data:`MAX_SWEEPS`). A poor local maximum at one K is
    thereby repaired from its neighbours, the table's log-likelihood does not fall as
    K grows, as the nesting of the models says it must (at the same ``min_weight``; a
    K without an admissible solution shows in ``status``), and no K is below the
    plain fit of the estimator at that K.

    Parameters
    ----------
    X : array-like or DataFrame
        Features, or the data frame when the estimator has a formula.
    y : array-like, optional
        Response (taken from the formula's left-hand side when there is one).
    n_components : iterable of int, default=range(1, 6)
        The numbers of components to try, in any order (they are sorted; a repeated
        K is fitted once). A K whose K - 1 is not in the list (or had no admissible
        fit) starts from the estimator's own starts only.
    criterion : {"bic", "aic", "icl", "sabic", "caic", "awe"}, default="bic"
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

    Raises
    ------
    DegenerateFitError
        When no K could be fitted.

    Examples
    --------
    >>> from regmix import select_components
    >>> from regmix.datasets import make_regression_mixture
    >>> X, y, _, _ = make_regression_mixture(300, coef=[[2.0], [-2.0]], intercept=[0, 0],
    ...                                      sigma=[0.5, 0.5], random_state=0)
    >>> sel = select_components(X, y, n_components=[1, 2, 3], random_state=0)
    >>> sel.best_n_components_
    2
    >>> bool(sel.table["log_likelihood"].is_monotonic_increasing)
    True
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}")
    ks = _component_numbers(n_components)
    template = estimator if estimator is not None else RegressionMixture(**params)
    if not isinstance(template, RegressionMixture):
        raise ValueError(f"estimator must be a RegressionMixture; got "
                         f"{type(template).__name__}")
    data = dict(sample_weight=sample_weight, offset=offset, trials=trials,
                concomitant=concomitant, groups=groups)
    path = _ComponentPath(template, ks, X, y, data)
    path.run()
    path.warn()
    fitted = path.fits
    if not fitted:
        raise DegenerateFitError(f"no number of components in {ks} could be fitted: "
                                 + "; ".join(f"K={k}: {path.status[k]}" for k in ks))
    rows = [_table_row(k, fitted.get(k), path.status[k]) for k in ks]
    for row in rows:
        k = row["n_components"]
        if k in fitted and k - 1 in fitted:
            test = lmr_test(fitted[k - 1], fitted[k])
            row["lmr"], row["lmr_p"] = test.statistic, test.p_value
    table = pd.DataFrame(rows).set_index("n_components")
    best = int(table.loc[list(fitted), criterion].idxmin())
    return ComponentSelection(table, criterion, best, fitted[best], dict(fitted))


def _component_numbers(n_components) -> list[int]:
    """The sorted distinct numbers of components, checked."""
    try:
        given = list(n_components)
    except TypeError:
        given = [n_components]
    bad = [k for k in given if isinstance(k, bool) or not isinstance(k, (int, np.integer))
           or k < 1]
    if not given or bad:
        raise ValueError(f"n_components must be positive integers; got {given}")
    return sorted({int(k) for k in given})


class _ComponentPath:
    """The fits of :func:`select_components`: forward with splits, then sweeps."""

    def __init__(self, template: RegressionMixture, ks: list[int], X, y, data: dict):
        self.template, self.ks, self.X, self.y, self.data = template, ks, X, y, data
        self.fits: dict[int, RegressionMixture] = {}
        self.caught: dict[int, list] = {}
        self.status: dict[int, str] = {}
        self.version = dict.fromkeys(ks, 0)
        # the neighbours (and their versions) each K was last fitted from
        self.tried: dict[int, tuple] = {}

    def run(self) -> None:
        for k in self.ks:
            # the fit on its own, then from the K - 1 fit split: the better is kept, so
            # the path is never below the plain fit
            self._fit(k, ())
            self._fit(k, (k - 1,))
        for _ in range(MAX_SWEEPS):
            changed = [self._fit(k, (k - 1, k + 1)) for k in reversed(self.ks)]
            changed += [self._fit(k, (k - 1, k + 1)) for k in self.ks]
            if not any(changed):
                break

    def _fit(self, k: int, neighbours: tuple[int, ...]) -> bool:
        """Fit K from the fitted neighbours unless it was fitted from them as they are
        now; whether the fit of K changed."""
        origins = [j for j in neighbours if j in self.fits]
        key = tuple((j, self.version[j]) for j in origins)
        if (neighbours and not origins) or self.tried.get(k) == key:
            return False
        self.tried[k] = key
        model = clone(self.template).set_params(n_components=k)
        try:
            # a candidate's warnings are kept with it, and given if it is kept
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _fit_from(model, [self.fits[j] for j in origins], self.X, self.y,
                          **self.data)
        except DegenerateFitError as err:
            self.status.setdefault(k, f"degenerate: {err}")
            return False
        except ValueError as err:
            if "fewer than" not in str(err) or (k == self.ks[0] and not self.fits):
                raise
            self.status.setdefault(k, f"too few rows: {err}")
            return False
        old = self.fits.get(k)
        if old is not None:
            gain = model.log_likelihood_ - old.log_likelihood_
            if gain <= PATH_GAIN * (1.0 + abs(old.log_likelihood_)):
                return False
        self.fits[k] = model
        self.caught[k] = list(caught)
        self.status[k] = "ok"
        self.version[k] += 1
        return True

    def warn(self) -> None:
        """Give the warnings of the fits kept, once each, in the order of K."""
        for k in self.ks:
            for record in self.caught.get(k, []):
                warnings.warn(f"K={k}: {record.message}", record.category, stacklevel=3)


_DIAGNOSTICS = ("sabic", "caic", "awe", "entropy", "avepp_min", "lmr", "lmr_p")


def _table_row(k: int, model: RegressionMixture | None, status: str) -> dict[str, Any]:
    if model is None:
        return {"n_components": k, "log_likelihood": np.nan, "n_parameters": np.nan,
                "aic": np.nan, "bic": np.nan, "icl": np.nan,
                **dict.fromkeys(_DIAGNOSTICS, np.nan), "converged": False,
                "status": status, "n_at_best": 0, "n_runs": 0}
    crit = model.information_criteria()
    diag = model.classification_diagnostics()
    return {
        "n_components": k,
        "log_likelihood": model.log_likelihood_,
        "n_parameters": model.n_parameters_,
        "aic": model.aic_,
        "bic": model.bic_,
        "icl": model.icl_,
        "sabic": crit["sabic"],
        "caic": crit["caic"],
        "awe": crit["awe"],
        "entropy": diag["relative_entropy"],
        "avepp_min": float(np.nanmin(diag["average_posterior"])),
        "lmr": np.nan,
        "lmr_p": np.nan,
        "converged": model.converged_,
        "status": "ok",
        "n_at_best": int(model.n_at_best_),
        "n_runs": int(model.n_runs_),
    }


def lmr_test(null: RegressionMixture, alt: RegressionMixture) -> LMRTest:
    """The Lo-Mendell-Rubin adjusted likelihood-ratio test of K - 1 against K components.

    A fast complement to :func:`bootstrap_lr_test`: the likelihood ratio of two fits to
    the same rows, scaled by ``1 / (1 + 1 / (d log n))`` with ``d`` the difference in
    free parameters and referred to a chi-square with ``d`` degrees of freedom (Lo,
    Mendell and Rubin 2001, Biometrika 88:767, their ad hoc adjustment; see
    :func:`regmix.inference.diagnostics.lmr_test`). Approximate: prefer the bootstrap
    when the answer matters.

    Parameters
    ----------
    null, alt : RegressionMixture
        Fits with K - 1 and K components to the same data.

    Returns
    -------
    regmix.inference.diagnostics.LMRTest

    Raises
    ------
    ValueError
        If the fits do not have K - 1 and K components, or were not fitted to the same
        number of observations.
    """
    K = alt.n_components
    if null.n_components != K - 1:
        raise ValueError(f"null must have one component fewer than alt; got "
                         f"{null.n_components} and {K}")
    n_null, n_alt = null._n_observations(), alt._n_observations()
    if n_null != n_alt:
        raise ValueError(f"the fits were made on different data ({n_null:g} and {n_alt:g} "
                         "observations)")
    return _lmr_statistic(null.log_likelihood_, null.n_parameters_, alt.log_likelihood_,
                          alt.n_parameters_, n_alt, K)


def _fit_from(model: RegressionMixture, origins: list[RegressionMixture], X, y,
              **kwargs) -> RegressionMixture:
    """``model.fit_from(origins, ...)``, or ``model.fit`` when there are no origins."""
    if origins:
        return model.fit_from(origins, X, y, **kwargs)
    return model.fit(X, y, **kwargs)


def _array_template(template: RegressionMixture) -> RegressionMixture:
    """The template for refits on a numeric design (a formula has already been applied)."""
    if template.formula is not None:
        return clone(template).set_params(formula=None)
    return clone(template)


@dataclass
class LikelihoodRatioTest:
    """Parametric bootstrap likelihood-ratio test of K against K + 1 components.

    Attributes
    ----------
    n_components : int
        K, the number of components under the null hypothesis.
    statistic : float
        ``2 (log L_{K+1} - log L_K)`` on the data, from the fits at their maxima; never
        negative.
    p_value : float
        ``(1 + #{replicates >= statistic}) / (n_valid + 1)``; when the sequential rule
        ended the test (``sequential=h``), ``h / n_valid``; NaN when no replicate could
        be fitted.
    replicates : ndarray of shape (n_valid,)
        The statistic of each replicate that could be fitted, in the order drawn (the
        failed ones are left out, not set to a value).
    null_model, alternative_model : RegressionMixture
        The fits with K and K + 1 components; the alternative is fitted with starts
        from the null fit split (:meth:`RegressionMixture.fit_from`), so that its
        log-likelihood is at least the null's. ``alternative_model`` is None when no
        K + 1 fit keeps every weight at least ``min_weight``: the data give no
        admissible alternative, the statistic is 0 and the p-value 1 (every
        replicate's statistic is at least 0, so no replicates are drawn).
    n_failed : int
        Replicates left out because their fits failed on every attempt (see
        :func:`bootstrap_lr_test`).
    n_valid : int
        Replicates the p-value is computed from (``len(replicates)``).
    stopped_early : bool
        Whether the sequential rule ended the test, on reaching ``h`` replicates at
        least as large as the statistic (usually before ``n_boot``); the p-value is
        then ``h / n_valid``.
    sequential : int or None
        The ``h`` of sequential stopping, or None.
    """

    n_components: int
    statistic: float
    p_value: float
    replicates: np.ndarray
    null_model: RegressionMixture
    alternative_model: RegressionMixture | None
    n_failed: int = 0
    n_valid: int = 0
    stopped_early: bool = False
    sequential: int | None = None


class _Rows(NamedTuple):
    """The validated rows of the test, as every replicate is fitted to them."""

    X: Any  # ndarray, or a data frame with the feature names
    design: np.ndarray
    offset: np.ndarray | None
    trials: np.ndarray | None
    Z: np.ndarray | None
    groups: np.ndarray | None
    limits: tuple[np.ndarray, int] | None = None  # a censored response's, per row

    def fit_kwargs(self) -> dict[str, Any]:
        return dict(offset=self.offset, trials=self.trials, concomitant=self.Z,
                    groups=self.groups)


class _Replicates(NamedTuple):
    """What a replicate needs: the rows, the generating model and the fits' origins and
    templates (picklable, for worker processes)."""

    rows: _Rows
    null: RegressionMixture  # the null fit on the numeric rows: simulates, and a start
    alternative: RegressionMixture  # the alternative fit on the numeric rows: a start
    quick: tuple[RegressionMixture, RegressionMixture]  # replicate search (K, K + 1)
    full: tuple[RegressionMixture, RegressionMixture]  # last attempt: the full search


def bootstrap_lr_test(
    X,
    y=None,
    *,
    n_components: int = 1,
    n_boot: int = 99,
    random_state=None,
    estimator: RegressionMixture | None = None,
    offset=None,
    trials=None,
    concomitant=None,
    groups=None,
    n_jobs: int | None = None,
    sequential: int | None = None,
    refit_params: dict | None = None,
    **params,
) -> LikelihoodRatioTest:
    """Test K components against K + 1 by a parametric bootstrap of the LR statistic.

    The likelihood-ratio statistic has no chi-squared reference distribution for
    mixtures (the null lies on the boundary of the parameter space), so its null
    distribution is simulated (McLachlan 1987, Appl. Statist. 36, 318-324): responses
    are drawn from the K-component fit at the observed rows, both models are refit,
    and the statistic recomputed, as mixtools' ``boot.comp`` does.

    **The statistic.** The K + 1 model is fitted with starts from the K fit split
    (:meth:`RegressionMixture.fit_from`), besides its own, so its log-likelihood is at
    least the K fit's; the statistic ``2 (log L_{K+1} - log L_K)`` is clipped at 0
    below by round-off, and a K + 1 fit lower than that raises a
    :class:`RuntimeWarning`.

    **The replicates.** Each replicate's responses are drawn from the null fit: the
    component of each row from its mixing weights (with concomitant variables, the
    row's gating probabilities; with groups, one component per group from the
    probabilities of its first row), then the response from that component, with the
    rows' offsets and trials. The replicate's fits are warm-started from the fitted
    models, on the numeric rows (a formula is applied once): the K fit from the null
    fit's parameters (which generated the data) besides one start of its own (for
    K = 1, the fit to all rows: the closed-form least-squares fit for Gaussian
    components), the K + 1
    fit from the replicate's K fit split by every rule and given a small component on
    each of twelve seed lines (lines that run tightly through a few rows), and from
    the alternative fit's parameters. Each candidate is run for a few EM steps and
    the most promising are continued to convergence until two of them reach the same
    best maximum (:meth:`regmix.fitting.search.StartSearch.run_replicate`), without
    the split-and-merge rounds of the fit to the data and without standard errors.
    On data from K components the likelihood with K + 1 has many local maxima (a
    small component on a few rows that happen to line up), and a search that stops
    at lower ones on the replicates than the data's search does on the data makes the
    p-value too small: the seed lines are where those maxima are, and on tonedata's
    null fit the replicates' statistics reach the best of many independent fits more
    often than with the estimator's own search, at a fraction of its cost
    (``benchmarks/bench_lrtest.py --check``, ``docs/benchmarks.md``). A replicate
    whose fits fail (:class:`~regmix.DegenerateFitError`: no
    admissible solution; or any other ``ValueError``), or whose K + 1 fit ends below
    its K fit, is fitted again on the same responses with another seed, the last of
    :data:`REPLICATE_ATTEMPTS` attempts with the estimator's own search (the
    template's ``n_init`` and split-and-merge moves); a replicate that still fails is
    counted in ``n_failed`` and left out of the p-value. Such replicates are, as a
    rule, data whose K + 1 likelihood has no maximum with every weight at least
    ``min_weight`` (a component collapses onto a few rows; more starts do not find
    one). The p-value is then that of the replicates that have one, which is what the
    fitted alternative on the data has too; when many fail, ``min_weight`` is too
    large for the data and the test should be run again with a smaller one.

    **Sequential stopping** (Besag and Clifford 1991, Biometrika 78, 301-304). With
    ``sequential=h`` the replicates are taken in the order drawn and the test stops at
    the one that makes ``h`` replicates at least as large as the statistic; the
    p-value is then ``h / L`` with ``L`` the valid replicates taken. When fewer than
    ``h`` of the ``n_boot`` replicates reach the statistic, the p-value is the usual
    ``(1 + g) / (n_valid + 1)``. A clearly non-significant statistic is thus settled
    after about ``h / p`` replicates.

    Every replicate's seed is drawn from ``random_state`` before any is fitted and a
    replicate depends on its seed alone, so the result is the same for any
    ``n_jobs``.

    Parameters
    ----------
    X, y :
        Data, as for :meth:`RegressionMixture.fit`.
    n_components : int, default=1
        K under the null hypothesis.
    n_boot : int, default=99
        Bootstrap replicates (at most, with ``sequential``).
    random_state : int, RandomState instance or None
        Seed for the simulations and the fits.
    estimator : RegressionMixture, optional
        Template for the fits; otherwise ``RegressionMixture(**params)``.
    offset, trials, concomitant, groups : optional
        As for :meth:`RegressionMixture.fit`; the replicates are simulated and fitted
        with them.
    n_jobs : int or None, default=None
        Worker processes for the replicates (joblib's default backend; None is one,
        -1 every core). Starting the workers takes a few seconds (each imports
        regmix), which pays off for tests that run longer than that; within
        ``joblib.parallel_config(backend="threading")`` the workers are threads.
    sequential : int or None, default=None
        ``h`` of sequential stopping, a positive integer; None draws all ``n_boot``.
    refit_params : dict, optional
        Estimator parameters of a replicate's attempts by the replicate search, over
        the template's and :data:`REPLICATE_PARAMS` (one start of its own from random
        memberships), such as ``{"n_init": 3}`` for more starts of its own.
    **params
        Estimator parameters when no template is given (``family=``, ...).

    Returns
    -------
    LikelihoodRatioTest

    Raises
    ------
    DegenerateFitError
        When the data have no admissible fit with K components (without an admissible
        fit with K + 1, see ``alternative_model``).
    """
    n_boot = _positive_int(n_boot, "n_boot")
    K = _positive_int(n_components, "n_components")
    if sequential is not None:
        sequential = _positive_int(sequential, "sequential")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(
            n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1):
        raise ValueError(f"n_jobs must be None, -1 or a positive integer; got {n_jobs!r}")
    if refit_params is not None and not isinstance(refit_params, dict):
        raise ValueError(f"refit_params must be a dict of estimator parameters; got "
                         f"{type(refit_params).__name__}")
    rng = check_random_state(random_state)
    template = estimator if estimator is not None else RegressionMixture(**params)
    if not isinstance(template, RegressionMixture):
        raise ValueError(f"estimator must be a RegressionMixture; got "
                         f"{type(template).__name__}")
    data = dict(offset=offset, trials=trials, concomitant=concomitant, groups=groups)
    seed = int(rng.randint(2**31 - 1))
    null = clone(template).set_params(n_components=K, random_state=seed).fit(X, y, **data)
    alt = clone(template).set_params(n_components=K + 1, random_state=seed)
    try:
        _fit_from(alt, [null], X, y, **data)
    except DegenerateFitError as err:
        warnings.warn(f"no fit with {K + 1} components keeps every weight at least "
                      f"min_weight={template.min_weight} ({err}); the statistic is 0 and "
                      "the p-value 1, without replicates", UserWarning, stacklevel=2)
        return LikelihoodRatioTest(K, 0.0, 1.0, np.empty(0), null, None, 0, 0, False,
                                   sequential)
    stat = _statistic(null.log_likelihood_, alt.log_likelihood_, "the data")
    seeds = [int(s) for s in rng.randint(2**31 - 1, size=n_boot)]
    task = _replicate_task(template, null, alt, X, y, data, seed,
                           {} if refit_params is None else refit_params,
                           parallel=n_jobs not in (None, 1))
    outcomes = _run_replicates(task, seeds, stat, n_jobs, sequential)
    reps = np.array([s for s in outcomes if s is not None], dtype=np.float64)
    n_failed = sum(s is None for s in outcomes)
    exceed = int(np.sum(reps >= stat))
    stopped = sequential is not None and exceed >= sequential
    if stopped:
        p_value = exceed / reps.size
    elif reps.size:
        p_value = (1.0 + exceed) / (reps.size + 1.0)
    else:  # no replicate could be fitted: the null distribution is unknown
        p_value = np.nan
    if n_failed:
        warnings.warn(f"{n_failed} of {len(outcomes)} bootstrap replicates could not be "
                      f"fitted in {REPLICATE_ATTEMPTS} attempts and are left out of the "
                      "p-value", UserWarning, stacklevel=2)
    return LikelihoodRatioTest(K, stat, float(p_value), reps, null, alt, n_failed,
                               int(reps.size), bool(stopped), sequential)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _statistic(ll_null: float, ll_alt: float, what: str) -> float:
    """``2 (ll_alt - ll_null)``, clipped at 0 below by round-off; a K + 1 fit lower
    than that is a failed search, and warned about."""
    stat = 2.0 * (ll_alt - ll_null)
    if stat < -2.0 * ROUND_OFF * (1.0 + abs(ll_null)):
        warnings.warn(f"the fit with more components ends below the fit with fewer on "
                      f"{what} (log-likelihoods {ll_alt!r} < {ll_null!r}): the search "
                      "missed the maximum; the statistic is set to 0", RuntimeWarning,
                      stacklevel=3)
    return max(stat, 0.0)


def _replicate_task(template: RegressionMixture, null: RegressionMixture,
                    alt: RegressionMixture, X, y, data: dict, seed: int, quick: dict,
                    parallel: bool) -> _Replicates:
    """The rows as numbers, the fits on them and the replicates' templates."""
    rows = null._eval_rows(X, y, None, data["offset"], data["trials"],
                           concomitant=data["concomitant"], groups=data["groups"])
    response = rows.y
    if rows.limits is not None:
        response = null.family_.user_response(rows.y, rows.limits)
    limits = (rows.limits, response.shape[1]) if rows.limits is not None and (
        response.ndim == 2) else None
    names = getattr(null, "feature_names_in_", None)
    Xr = rows.X if names is None else pd.DataFrame(rows.X, columns=list(names))
    the_rows = _Rows(Xr, rows.X, rows.offset, rows.trials, rows.Z, rows.groups, limits)
    base = _array_template(template)
    if parallel:  # the workers are the parallelism; a fit's own threads would compete
        base.set_params(n_jobs=1)
    if template.formula is not None:
        # the fits again on the numbers the formula made (the same data): their
        # parameters simulate and start the replicates' fits
        kw = the_rows.fit_kwargs()
        null = clone(base).set_params(n_components=null.n_components, random_state=seed)
        null.fit(Xr, response, **kw)
        alt = clone(base).set_params(n_components=alt.n_components, random_state=seed)
        _fit_from(alt, [null], Xr, response, **kw)
    K = null.n_components
    quiet = clone(base).set_params(compute_se=False, verbose=0, progress=False)
    quick_fit = clone(quiet).set_params(**{**REPLICATE_PARAMS, **quick})
    return _Replicates(
        the_rows, null, alt,
        (clone(quick_fit).set_params(n_components=K),
         clone(quick_fit).set_params(n_components=K + 1)),
        (clone(quiet).set_params(n_components=K), clone(quiet).set_params(n_components=K + 1)),
    )


def _run_replicates(task: _Replicates, seeds: list[int], stat: float,
                    n_jobs: int | None, sequential: int | None) -> list[float | None]:
    """The replicates' statistics (None for a failed one) in the order of ``seeds``; with
    sequential stopping, up to the one at which it stops."""
    jobs = 1 if n_jobs is None else int(n_jobs)
    if jobs == 1:
        out: list[float | None] = []
        exceed = 0
        for s in seeds:
            out.append(_replicate(task, s))
            exceed += out[-1] is not None and out[-1] >= stat
            if sequential is not None and exceed >= sequential:
                break
        return out
    with Parallel(n_jobs=jobs) as parallel:
        if sequential is None:
            return list(parallel(delayed(_replicate)(task, s) for s in seeds))
        # in batches, stopping at the same replicate as a run in one process would
        batch = 4 * parallel._effective_n_jobs()
        out, exceed = [], 0
        for start in range(0, len(seeds), batch):
            for value in parallel(delayed(_replicate)(task, s)
                                  for s in seeds[start:start + batch]):
                out.append(value)
                exceed += value is not None and value >= stat
                if exceed >= sequential:
                    return out
        return out


def _replicate(task: _Replicates, seed: int) -> float | None:
    """One replicate's statistic, or None when its fits failed on every attempt."""
    rng = np.random.default_rng(seed)
    y = _simulate_null(task.null, task.rows, rng)
    fit_seeds = rng.integers(2**31 - 1, size=REPLICATE_ATTEMPTS)
    kw = task.rows.fit_kwargs()
    for attempt, fit_seed in enumerate(fit_seeds):
        last = attempt == REPLICATE_ATTEMPTS - 1
        null_t, alt_t = task.full if last else task.quick
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                null = clone(null_t).set_params(random_state=int(fit_seed))
                _refit(null, [task.null], task.rows.X, y, kw, last)
                alt = clone(alt_t).set_params(random_state=int(fit_seed))
                _refit(alt, [null, task.alternative], task.rows.X, y, kw, last)
        except ValueError:  # DegenerateFitError included
            continue
        stat = 2.0 * (alt.log_likelihood_ - null.log_likelihood_)
        if stat >= -2.0 * ROUND_OFF * (1.0 + abs(null.log_likelihood_)):
            return max(stat, 0.0)
    return None


def _refit(model: RegressionMixture, origins: list[RegressionMixture], X, y, kw: dict,
           full: bool) -> None:
    """A replicate's fit from ``origins``: by the estimator's own search (``full``) or by
    the replicate search."""
    if full:
        model.fit_from(origins, X, y, **kw)
    else:
        model._refit_from(origins, X, y, **kw)


def _simulate_null(model: RegressionMixture, rows: _Rows, rng: np.random.Generator
                  ) -> np.ndarray:
    """Responses drawn from a fitted model at the rows of the test.

    Each row's component is drawn from its mixing weights (the gating probabilities of
    its concomitant variables, when the model has them); with groups one component is
    drawn per group, from the probabilities of its first row (the group's, as in the
    fit). The responses are then drawn from the components with the rows' offsets and
    trials; a censored response's rows at their own limits.
    """
    return model._simulate_rows(rows.design, rng, rows.offset, rows.trials, rows.Z,
                                rows.groups, rows.limits)
