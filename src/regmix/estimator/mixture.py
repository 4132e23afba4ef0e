"""The scikit-learn estimator: validates, delegates to the EM layers, stores results."""

from __future__ import annotations

import numbers
import reprlib
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from regmix.compiled.helpers import available
from regmix.core.choices import ESTIMATOR_DEFAULTS
from regmix.core.chunk import group_starts
from regmix.core.errors import (
    BoundaryWarning,
    ConcomitantWarning,
    DegenerateFitError,
    RankDeficiencyWarning,
    ReplicationWarning,
)
from regmix.core.linalg import collinear_columns, softmax
from regmix.core.params import MixtureParams, valid_extras
from regmix.engine.kernel import compiled_pass_applies, kernel_reads
from regmix.engine.passes import check_source_response, row_posteriors
from regmix.engine.runner import MembershipArray, PassRunner
from regmix.engine.threads import DEFAULT_CHUNK_SIZE, resolve_n_jobs, single_threaded_blas
from regmix.estimator import model_file
from regmix.estimator.inference_methods import InferenceMixin
from regmix.estimator.inputs import (
    InputsMixin,
    Rows,
    bound_responses,
    censored_source,
    is_dask_collection,
    is_row_source,
    response_names,
    response_units,
    uncentred,
)
from regmix.estimator.margins import MarginsMixin
from regmix.estimator.polish import newton_polish
from regmix.estimator.random_effects import RandomEffectsMixin
from regmix.estimator.state import FittedState, constrained_family
from regmix.families.composite import component_order, response_mean
from regmix.families.mixed_gaussian import MixedGaussian
from regmix.families.registry import get_family
from regmix.fitting.initialization import STRATEGIES, Initializer
from regmix.fitting.newton import em_map_jacobian
from regmix.fitting.search import SearchOutcome, StartSearch, collapse_floor
from regmix.inference.boundary import boundary_parameters, fit_boundary, sigmas_at_floor
from regmix.inference.diagnostics import information_criteria
from regmix.mixing.constant import ConstantWeights, FixedWeights
from regmix.mixing.gating import MultinomialLogitGating
from regmix.sources.arrays import ArrayData, response_robust_scale
from regmix.sources.dask import DaskData
from regmix.sources.validation import check_features, check_response

# Below this many rows a numpy pass costs a few milliseconds: not worth loading the
# compiled kernel.
_COMPILED_MIN_ROWS = 100_000


# Convergence tolerance of the starts screened on a subsample (their winner is refined
# on all rows at ``tol``).
_SCREEN_TOL = 1e-9


# For a family whose fit Newton steps finish (estimator/polish.py): the EM tolerance
# from which they take over.
_POLISH_FROM = 1e-8

# Subsample for the EM rate matrix when there is no screening subsample (its size when
# init_sample_size is None, and the seed of its row draw).
_RATE_SAMPLE_SIZE = 20_000


_RATE_SAMPLE_SEED = 20_080_512


_RATE_MIN_ROWS = 10_000


def _information_criteria(loglik: float, n_params: int, n_obs: float,
                          max_log_posterior: float) -> tuple[float, float, float]:
    """AIC, BIC and ICL (smaller is better, as in R).

    ``max_log_posterior`` is ``sum_i w_i log max_k r_ik``; ICL is BIC plus twice its
    negation (Biernacki, Celeux and Govaert, 2000).
    """
    crit = information_criteria(loglik, n_params, n_obs)
    return crit["aic"], crit["bic"], crit["bic"] - 2.0 * max_log_posterior


def _mixing_model(gating_names: list[str] | None, fixed_weights=None):
    """The mixing model of a fit with these concomitant variables (None: constant) and
    known weights (``fixed_weights``, checked by the estimator)."""
    if fixed_weights is not None:
        return FixedWeights(fixed_weights)
    if gating_names is None:
        return ConstantWeights()
    return MultinomialLogitGating()


def _restricted_rows(source, n_components: int) -> int | None:
    """How many rows have a known (or restricted) component; None without labels."""
    allowed = getattr(source, "allowed", None)
    if allowed is None:
        return None
    return int(np.count_nonzero(allowed != (1 << n_components) - 1))


class _FitData(NamedTuple):
    """The rows of a fit: its row source and what the later steps need of the input."""

    source: Any
    rows: Rows | None  # the validated arrays; None for a streamed source
    y: np.ndarray | None
    w: np.ndarray | None
    n_pos: int  # rows with positive weight
    family: Any  # the family, before the constraints
    gating_names: list[str] | None


class _FitSetup(NamedTuple):
    """What a fit runs with: the constrained family, the mixing model and settings."""

    family: Any
    mixing: Any
    n_params: int
    x_mean: np.ndarray
    x_std: np.ndarray
    settings: dict
    em_settings: dict


class _Fitted:
    """A fitted attribute of the estimator: a field of its :class:`FittedState`.

    Reading it on an unfitted estimator raises AttributeError (so ``hasattr`` is False);
    an ``optional`` field that the state does not have (None) is absent too.
    """

    def __init__(self, field: str, optional: bool = False) -> None:
        self.field = field
        self.optional = optional

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def _state(self, obj) -> FittedState:
        state = vars(obj).get("state_")
        if state is None:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute "
                                 f"{self.name!r} (it is not fitted)")
        return state

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = getattr(self._state(obj), self.field)
        if value is None and self.optional:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute "
                                 f"{self.name!r}")
        return value

    def __set__(self, obj, value) -> None:
        setattr(self._state(obj), self.field, value)


class _FamilyParameter(_Fitted):
    """``sigma_``, ``df_``, ``shape_`` or ``size_``: a column of the state's extras
    (absent when the fitted family has no such parameter)."""

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return self._state(obj).extra_column(self.field)

    def __set__(self, obj, value) -> None:
        state = self._state(obj)
        j = list(state.family.extra_names).index(self.field)
        extra = state.extra.copy()
        extra[:, j] = value
        state.extra = extra



def _init_numbers(init: Mapping, key: str) -> np.ndarray:
    """``init[key]`` as a float64 array; a value that is not numbers (text, ragged
    lists) is refused naming the key."""
    try:
        return np.asarray(init[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"init[{key!r}] must be a number or an array of numbers; got "
                         f"{reprlib.repr(init[key])}") from None

class RegressionMixture(InputsMixin, InferenceMixin, MarginsMixin, RandomEffectsMixin,
                        RegressorMixin,
                        BaseEstimator):
    """Finite mixture of linear regressions fitted by exact maximum-likelihood EM.

    Each row comes from one of K components; component k has coefficients ``beta_k``,
    noise standard deviation ``sigma_k`` and mixing weight ``pi_k``::

        y_i ~ sum_k pi_k N(x_i' beta_k, sigma_k^2)

    The E-step works in log space; the M-step is weighted least squares in closed form
    from per-component statistics gathered in one chunked pass over the rows.

    Parameters
    ----------
    n_components : int, default=2
        Number of components K.
    family : str, family object or list, default="gaussian"
        The component distribution: ``"gaussian"``, ``"poisson"``, ``"binomial"``,
        ``"gamma"``, ``"negative_binomial"``, ``"student_t"`` or ``"censored_gaussian"``
        (tobit, interval and truncated regression components, ``docs/censored.md``), or
        an object such as ``regmix.NegativeBinomial(size=2.0)``,
        ``regmix.StudentT(df=4.0)`` (known dispersion) or
        ``regmix.CensoredGaussian(lower=0.0)``. GLM components take one IRLS step per
        EM iteration; Student-t components are the robust mixture of regressions. A
        list gives one family (name or object) per component, in the components'
        order, where
        ``"pointmass"`` (or ``regmix.PointMass(value)``) is a component with all its
        mass on one value and no regression: ``["pointmass", "poisson"]`` is the
        zero-inflated Poisson model (see :mod:`regmix.families.composite`). A mapping
        of response names to families, ``{"yn": "gaussian", "yp": "poisson"}`` (or a
        :class:`~regmix.families.multi_response.MultiResponse`, which also chooses each
        response's design columns), is several responses sharing the class: ``y`` is
        their columns, the formula's left-hand side ``"yn + yp ~ x"`` names them, NaN
        marks a missing response, and the predictions have one column per response
        (``docs/multi-response.md``).
    link : str, optional
        The link function where the family offers a choice (``"log"``/``"identity"``
        for the Poisson, ``"logit"``/``"probit"``/``"cloglog"`` for the binomial,
        ``"log"``/``"inverse"``/``"identity"`` for the Gamma); by default log, logit,
        log and log.
    formula : str, optional
        A model formula (formulaic syntax), e.g. ``"y ~ x + I(x**2) + C(group)"``.
        Then ``fit(data)`` takes a data frame and the response from the left-hand side
        (or ``fit(data, y)`` with a one-sided formula ``"~ x"``), and every method that
        takes ``X`` takes a data frame and rebuilds the design with the training-time
        state (categorical levels, stateful transforms). The formula's intercept must
        agree with ``fit_intercept``: write ``"y ~ x"`` with ``fit_intercept=True`` and
        ``"y ~ x - 1"`` with ``fit_intercept=False``. Only data columns (backticked
        when they are not Python names: ```my col```), numbers and an allow-list of
        transforms may appear: ``I``, ``C`` (with ``levels=`` and ``contr.<name>``
        contrasts), ``center``, ``scale``, ``standardize``, ``poly``, ``bs``, ``cr``,
        ``cs``, ``cc``, ``lag``, ``log``, ``exp`` (and their base-2 and base-10
        forms), ``offset``, and elementwise numpy functions as ``np.<name>``
        (``np.log``, ``np.log1p``, ``np.exp``, ``np.sqrt``, ``np.abs``, ``np.square``,
        ``np.power``, ...; the list is
        :data:`regmix.estimator.formula_safety.NUMPY_FUNCTIONS`). Every term is
        checked before anything is evaluated, here and when a model file is loaded;
        any other code (attributes, subscripts, other calls) raises a ValueError
        naming the term.
    fit_intercept : bool, default=True
        Whether each component has its own intercept.
    n_init : int, default=2
        Number of starts run to convergence before the split-and-merge moves.
    init : {"short_em", "subsets", "random"}, array-like or dict, default="short_em"
        How each start begins. ``"short_em"`` runs several short EM bursts from random
        subset fits and random memberships and continues the best (flexmix's
        ``initFlexmix`` idea, the emEM strategy); ``"subsets"`` fits each component to
        its own small random subset of rows; ``"random"`` draws random soft
        memberships. An array of shape (n_samples, K) gives starting responsibilities
        (rows are normalised); a dict with keys ``weights``, ``coef``, ``intercept``
        (when ``fit_intercept``) and the family's parameters (``sigma``, ...) gives
        starting parameters, with concomitant variables optionally ``gating`` (K, 1 + q),
        the gating coefficients in user units as ``gating_coef_`` (else the log-odds of
        ``weights`` start the gating intercepts). A given start is used once, whatever
        ``n_init``, and is not followed by split-and-merge moves.
    split_merge : bool, default=True
        With a strategy ``init``: after the starts, look for a higher maximum by
        split-and-merge moves (Ueda et al., 2000, Neural Computation 12, 2109-2128):
        two components whose memberships overlap are merged and another is split in
        two (above and below its line, inside and outside its spread, or either side
        of a feature's mean), or a new component is seeded on a line that runs
        tightly through a few rows (Gaussian and Student-t components), each move is
        run for a few EM steps and the best
        continued to convergence, for as long as a move gains; and when the best was
        reached from one starting point only, a further batch of ``2 * n_init``
        starts and a wider round of moves. This is what makes the default fit reach
        the global maximum once K >= 3; ``False`` runs the ``n_init`` starts only. See
        :class:`regmix.fitting.search.StartSearch`. The runs from independent
        starting points that reached the best log-likelihood are counted in
        ``n_at_best_`` of ``n_runs_``, and a :class:`~regmix.ReplicationWarning` says
        when the best was reached once only.
    max_iter : int, default=1000
        Maximum EM iterations per start, after its initialisation. ``0`` initialises
        only.
    tol : float, default=1e-12
        Convergence threshold on the change of the mean log-likelihood per unit of
        sample weight across one EM step. The default is tight on purpose: with the
        acceleration it costs a few more passes, and the fit reaches the maximum to
        about ten significant digits of the log-likelihood (scikit-learn's mixtures
        default to 1e-3).
    accelerate : bool, default=True
        Whether to accelerate EM with SQUAREM extrapolation (Varadhan and Roland,
        2008): after every two EM steps the fit jumps along the direction they took, and
        keeps the jump only if the log-likelihood does not drop below the second step.
        It reaches the same optimum in far fewer passes when components overlap; the
        log-likelihood still never decreases. On large data (from about 250,000 rows
        for a few coefficients) with Gaussian components and constant weights, the last
        iterations are then Newton steps on the EM map, ``v + (I - J)^{-1} (M(v) - v)``,
        with EM's rate matrix ``J`` estimated on a 20,000-row subsample: one pass of
        all rows per step as in EM, but several digits gained per step rather than a
        fraction of one (Louis, 1982). ``False`` gives plain EM iterates.
    min_weight : float, default=0.05
        The smallest admissible mixing weight: a solution in which a component's
        weight is below it is not accepted (the likelihood of such a component is
        unbounded as it collapses onto a few rows; flexmix removes such components at
        its default ``minprior=0.05``, regmix keeps K fixed). Admissibility is judged
        at convergence: a weight may dip below ``min_weight`` on the way (a small true
        component often does early on) and the run goes on, unless the weight falls
        below a tenth of ``min_weight``, where the component has lost its rows; an
        inadmissible solution is the starting point of split-and-merge moves that
        re-seed its small component elsewhere. If no run of the whole search ends
        admissible, :class:`~regmix.DegenerateFitError` is raised.
    var_floor : float, default=1e-8
        Lower bound on every ``sigma_k^2``, relative to the square of the robust scale
        of ``y`` (1.4826 times its weighted median absolute deviation, from its median
        with an intercept and from zero without; its standard deviation where that is
        zero), so that a few gross outliers do not raise it. A sigma that ends on the
        floor (a component whose rows lie exactly on its line, where the likelihood is
        unbounded) is reported: see Notes.
    common_coef : list of str or dict, optional
        Coefficients shared by all components (``"intercept"`` or feature names;
        flexmix's ``fixed = ~ x``), or ``{name: spec}`` where ``spec`` is ``"all"``, a
        list of components (numbered 1..K) that share one coefficient (``{"x1": [1,
        2]}``: components 1 and 2 share it, the others have their own; flexmix's
        ``nested``), or a list of such lists.
    fixed_coef : dict, optional
        Known coefficients, ``{name: value}`` (the same for all components) or
        ``{name: [v_1, ..., v_K]}``, where ``None`` (or NaN) leaves that component's
        coefficient free: ``{"x1": [None, None, 0]}`` drops ``x1`` from component 3.
        They are not estimated.
    equal_variance : bool, default=False
        One ``sigma`` for all components (Gaussian and Student-t families).
    fixed_weights : array-like of shape (n_components,), optional
        Known mixing weights (positive, summing to one), not estimated; not with
        concomitant variables. With fixed weights, or with constraints that differ
        between components, the fitted components keep the numbering of the
        constraints instead of being ordered by weight.
    init_sample_size : int or None, default=20000
        With more than twice this many rows, the search (every start, its
        initialisation and the split-and-merge moves) runs on a random subsample of
        about this many rows, and only the best is refined on all rows. Starts cost
        little that way on large data, and the winner of a subsample of 20000 rows is
        the winner on all rows but in contrived cases. None searches on all rows.
    chunk_size : int, default=8192
        Rows a worker thread takes at a time in the data pass (rounded to whole
        reduction blocks of 8192 rows; for a streamed source, rows read at a time).
        Every pass sums fixed row blocks and adds the block sums in row order, so the
        results are bit-identical for any chunk size (and any ``n_jobs``).
    n_jobs : int or None, default=None
        Threads for the data pass; None or -1 uses every core. Results do not depend
        on it.
    engine : {"auto", "numpy", "numba"}, default="auto"
        How the data pass runs on rows held in memory. ``"numba"`` is a fused compiled
        kernel (one read of each row computes the responsibilities and every statistic,
        on all threads; needs the ``fast`` extra) for Gaussian, Poisson and binomial
        components with constant mixing weights and no constraints or groups (other
        models take the numpy pass); ``"numpy"`` is the chunked numpy pass.
        Both give the same sums to round-off. ``"auto"`` uses numba when it is installed
        and the data have at least 100,000 rows.
    random_state : int, RandomState instance or None, default=None
        Seed for the starts.
    warm_start : bool, default=False
        If True, ``fit`` continues from the previous solution with a single start.
    verbose : int, default=0
        1 reports each start, 2 also each iteration.
    progress : bool, default=False
        Show a tqdm progress bar over the starts (with the current iteration and the best
        log-likelihood) for fits that take more than half a second, when standard error
        is a terminal.
    compute_se : bool, default=True
        Whether ``fit`` computes the covariance of the estimates from the observed
        information (one more pass over the rows), for :meth:`coef_table` and
        :meth:`summary`. Set False to save that pass when only the estimates matter.

    Attributes
    ----------
    state_ : regmix.estimator.state.FittedState
        Everything the fit produced, as one object; the fitted attributes below are
        read from it, and the model file writes it (``FittedState.to_dict``).
    coef_ : ndarray of shape (n_components, n_features)
        Coefficients per component (without the intercept).
    intercept_ : ndarray of shape (n_components,)
        Intercepts (zeros when ``fit_intercept=False``).
    sigma_ : ndarray of shape (n_components,)
        Noise standard deviations (Gaussian), scales (Student-t).
    df_, shape_, size_ : ndarray of shape (n_components,)
        The family's other parameters where it has them: Student-t degrees of freedom,
        Gamma shape (``Var = mu^2 / shape``), negative-binomial size (``Var = mu +
        mu^2 / size``).
    family_ : family object
        The family the model was fitted with.
    gating_coef_ : ndarray of shape (n_components, 1 + q) or None
        With concomitant variables: the multinomial-logit gating coefficients (intercept
        first, the first component's row zero); None otherwise.
    n_groups_ : int or None
        Groups in the training data of a grouped fit (the information criteria count
        them as the observations).
    n_at_best_, n_runs_ : int
        Of the fit's EM runs from independent starting points (the starts, and the
        split-and-merge moves from solutions other than the final one), how many
        ended at the best log-likelihood (to 1e-5 per unit of sample weight), and how
        many there were. Absent for a model file written before they were recorded.
    weights_ : ndarray of shape (n_components,)
        Mixing proportions (with concomitant variables: the components' shares of the
        posterior probabilities); components are ordered by decreasing weight.
    log_likelihood_ : float
        Observed-data log-likelihood of the training data at the fitted parameters.
    log_likelihood_history_ : ndarray
        Log-likelihood of every accepted iterate of the best start, from its first
        parameters on (with ``init="short_em"`` the winning short burst is included).
        It never decreases.
    converged_ : bool
        Whether the best start converged.
    n_iter_ : int
        EM steps (M-steps) of the best start, its initial burst included.
    aic_, bic_, icl_ : float
        The information criteria on the training data (see :meth:`aic`, :meth:`bic`,
        :meth:`icl`); ``n`` is the sum of the sample weights.
    component_sizes_ : ndarray of shape (n_components,)
        Summed posterior probabilities (weighted) of each component on the training data.
    component_counts_ : ndarray of shape (n_components,)
        Rows (weighted) whose most probable component is k.
    n_samples_fit_ : int
        Rows seen in fit.
    sum_weights_ : float
        Sum of the sample weights in fit (``n_samples_fit_`` without weights).
    information_ : ndarray or None
        Observed information (minus the analytic Hessian of the observed-data
        log-likelihood) at the fitted parameters, in the free unconstrained parameters:
        per component the coefficients and the logarithms of the family's estimated
        parameters (``(beta_1, log sigma_1, ..., beta_K, log sigma_K)`` for Gaussian
        components), then ``eta_2, ..., eta_K`` with ``pi = softmax(0, eta)`` (or the
        gating coefficients of components 2..K); under constraints the shared and
        known parameters are counted once or not at all. :meth:`covariance_matrix` maps
        its inverse to the natural parameters. None when ``compute_se=False``.
    n_passes_ : int
        Passes over the data made by the whole fit (every start, initialisation and
        rejected extrapolations included): the fit's cost in units of one read of X.
    n_parameters_ : int
        Free parameters: ``K * p + K + (K - 1)`` for Gaussian components with ``p``
        coefficients each (intercept included); in general the estimated coefficients,
        family parameters and mixing (or gating) parameters.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X was a data frame with string column names.

    Notes
    -----
    Components are reported in a deterministic order: by decreasing mixing weight,
    ties broken by intercept and then by coefficients. Information criteria follow R's
    convention: smaller is better.

    Parameters on the boundary. Some fits leave parameters without a
    maximum-likelihood estimate: a binomial component's coefficients diverge when its
    fitted probabilities reach 0 or 1 at the rows it owns (complete or quasi-complete
    separation), a Poisson or negative-binomial component's when its means go to 0
    where the counts are zero (a factor level with only zero counts), and a Gaussian or
    Student-t sigma stops at the variance floor when a component's rows lie exactly on
    its line; with concomitant variables the gating coefficients diverge when those
    variables separate the components (each row's prior probability 0 or 1, its
    posterior agreeing). ``fit`` detects these (one more pass over the rows for the GLM
    families, and one for a gating; see :mod:`regmix.inference.boundary`) and warns with
    :class:`~regmix.BoundaryWarning`, naming the component in the reported order and
    the parameters by their names in :meth:`coef_table`. They are recorded in
    ``state_.boundary`` (and in a saved model), get NaN standard errors, z, p-values
    and intervals in :meth:`coef_table` and :meth:`covariance_matrix`, and a note in
    :meth:`summary`; the other parameters' standard errors come from the information
    with the diverging directions removed. The reported values of diverging
    coefficients are only where EM stopped.

    Examples
    --------
    >>> from regmix import RegressionMixture
    >>> from regmix.datasets import make_regression_mixture
    >>> X, y, labels, truth = make_regression_mixture(
    ...     n_samples=400, coef=[[1.0], [-1.0]], intercept=[0.0, 0.0],
    ...     sigma=[0.3, 0.3], random_state=0)
    >>> model = RegressionMixture(n_components=2, random_state=0).fit(X, y)
    >>> np.round(np.sort(model.coef_[:, 0]), 1)
    array([-1.,  1.])
    """

    # the fitted attributes, read from the fitted state ``state_``
    family_ = _Fitted("family")
    coef_ = _Fitted("coef")
    intercept_ = _Fitted("intercept")
    weights_ = _Fitted("weights")
    sigma_ = _FamilyParameter("sigma")
    df_ = _FamilyParameter("df")
    shape_ = _FamilyParameter("shape")
    size_ = _FamilyParameter("size")
    gating_coef_ = _Fitted("gating_coef")
    n_groups_ = _Fitted("n_groups")
    log_likelihood_ = _Fitted("log_likelihood")
    log_likelihood_history_ = _Fitted("history")
    converged_ = _Fitted("converged")
    n_iter_ = _Fitted("n_iter")
    n_passes_ = _Fitted("n_passes")
    n_parameters_ = _Fitted("n_parameters")
    aic_ = _Fitted("aic", optional=True)
    bic_ = _Fitted("bic", optional=True)
    icl_ = _Fitted("icl", optional=True)
    n_samples_fit_ = _Fitted("n_samples_fit", optional=True)
    sum_weights_ = _Fitted("sum_weights", optional=True)
    component_sizes_ = _Fitted("component_sizes")
    component_counts_ = _Fitted("component_counts")
    information_ = _Fitted("information")
    n_at_best_ = _Fitted("n_at_best", optional=True)
    n_runs_ = _Fitted("n_runs", optional=True)

    def __init__(
        self,
        n_components: int = 2,
        *,
        family="gaussian",
        link: str | None = None,
        formula: str | None = None,
        fit_intercept: bool = True,
        n_init: int = 2,
        init="short_em",
        split_merge: bool = True,
        max_iter: int = ESTIMATOR_DEFAULTS["max_iter"],
        tol: float = ESTIMATOR_DEFAULTS["tol"],
        accelerate: bool = True,
        min_weight: float = ESTIMATOR_DEFAULTS["min_weight"],
        var_floor: float = 1e-8,
        init_sample_size: int | None = 20000,
        common_coef=None,
        fixed_coef=None,
        equal_variance: bool = False,
        fixed_weights=None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        n_jobs: int | None = None,
        engine: str = "auto",
        random_state=None,
        warm_start: bool = False,
        verbose: int = 0,
        progress: bool = False,
        compute_se: bool = True,
    ) -> None:
        self.n_components = n_components
        self.family = family
        self.link = link
        self.formula = formula
        self.fit_intercept = fit_intercept
        self.n_init = n_init
        self.init = init
        self.split_merge = split_merge
        self.max_iter = max_iter
        self.tol = tol
        self.accelerate = accelerate
        self.min_weight = min_weight
        self.var_floor = var_floor
        self.init_sample_size = init_sample_size
        self.common_coef = common_coef
        self.fixed_coef = fixed_coef
        self.equal_variance = equal_variance
        self.fixed_weights = fixed_weights
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.engine = engine
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.progress = progress
        self.compute_se = compute_se

    # ------------------------------------------------------------------ validation
    def _family_object(self):
        """The family object of ``family`` (and ``link``, ``var_floor``); with a formula
        random-effects term ``(terms | group)``, the latent-class linear mixed model
        of those terms (the family must then be Gaussian)."""
        terms = self._random_term()[0]
        if terms is None:
            return get_family(self.family, link=self.link, var_floor=self.var_floor)
        if isinstance(self.family, MixedGaussian):  # given, or read from a model file
            if self.family.names != MixedGaussian(terms).names:
                raise ValueError(f"family={self.family!r} has other random effects than "
                                 f"the formula's term ({terms} | ...)")
            return get_family(self.family, var_floor=self.var_floor)
        if not (isinstance(self.family, str) and self.family == "gaussian"):
            raise ValueError(f"the formula's random-effects term ({terms} | ...) makes a "
                             f"linear mixed model of Gaussian components; got "
                             f"family={self.family!r}")
        if self.link not in (None, "identity"):
            raise ValueError(f"link={self.link!r}: the mixed model's link is the identity")
        return get_family(MixedGaussian(terms), var_floor=self.var_floor)

    def _check_params(self) -> None:
        def integer(name, low):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {v!r}")

        def real(name, low, high, low_open=False):
            v = getattr(self, name)
            ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
            ok = ok and (v > low if low_open else v >= low) and v <= high
            if not ok:
                bound = f"{'>' if low_open else '>='} {low} and <= {high}"
                raise ValueError(f"{name} must be a real number {bound}; got {v!r}")

        integer("n_components", 1)
        integer("n_init", 1)
        integer("max_iter", 0)
        integer("chunk_size", 1)
        integer("verbose", 0)
        if self.init_sample_size is not None:
            integer("init_sample_size", 100)
        real("tol", 0.0, np.inf)
        real("min_weight", 0.0, 1.0)
        real("var_floor", 0.0, np.inf, low_open=True)
        if self.min_weight * self.n_components > 1:
            raise ValueError(
                f"min_weight={self.min_weight} is impossible with n_components="
                f"{self.n_components}: the weights would sum to more than one"
            )
        if self.n_jobs is not None and (
            isinstance(self.n_jobs, bool)
            or not isinstance(self.n_jobs, numbers.Integral)
            or (self.n_jobs < 1 and self.n_jobs != -1)
        ):
            raise ValueError(f"n_jobs must be None, -1 or a positive integer; got {self.n_jobs!r}")
        for name in ("fit_intercept", "split_merge", "equal_variance", "accelerate",
                     "compute_se", "warm_start", "progress"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False; got "
                                 f"{getattr(self, name)!r}")
        if self.formula is not None and not isinstance(self.formula, str):
            raise ValueError(f"formula must be a string or None; got {self.formula!r}")
        if self.engine not in ("auto", "numpy", "numba"):
            raise ValueError(f"engine must be 'auto', 'numpy' or 'numba'; got {self.engine!r}")
        family = self._family_object()
        families = getattr(family, "families", None)
        if families is not None and len(families) != self.n_components:
            raise ValueError(f"family lists {len(families)} families, one per component, "
                             f"but n_components={self.n_components}")
        self._check_fixed_weights()
        if isinstance(self.init, str) and self.init not in STRATEGIES:
            raise ValueError(
                f"init must be one of {STRATEGIES}, an array or a dict; got {self.init!r}"
            )

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, sample_weight=None, *, offset=None, trials=None,
            concomitant=None, groups=None, known_labels=None):
        """Fit the mixture by EM: ``n_init`` starts, then split-and-merge moves, and
        keep the best admissible maximum.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Features (numeric), or the data frame when the model has a formula, or a
            streaming row source such as :class:`regmix.parquet.ParquetData` (which
            then supplies the response and weights itself).
        y : array-like of shape (n_samples,), (n_samples, 2) or (n_samples, 4), optional
            Response; required unless the formula has a left-hand side. For the
            binomial family: 0/1 values, successes (with ``trials``), or two columns
            ``[successes, failures]`` (R's ``cbind(s, f)``; in a formula
            ``"s + f ~ x"``). For the censored Gaussian family: values (censored at
            the family's ``lower``/``upper``), or the limits per row ``[lower,
            upper]`` or ``[lower, upper, trunc_lower, trunc_upper]`` (NaN or an
            infinity for an open side; ``docs/censored.md``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; an integer weight counts a row that many times.
        offset : array-like of shape (n_samples,), optional
            A known term added to every component's linear predictor with coefficient
            one, such as ``np.log(exposure)`` for Poisson rates (flexmix's
            ``offset``); a formula may also contain ``offset(expr)`` terms, which are
            added to it.
        trials : array-like of shape (n_samples,), optional
            Binomial trials per row, when ``y`` counts successes.
        concomitant : array-like or DataFrame of shape (n_samples, q), optional
            Concomitant variables ``z``: the mixing weights become ``pi_k(z) =
            softmax_k(z' gamma)`` (a mixture of experts; flexmix's ``concomitant``). With
            a formula write them right of a ``|``: ``"y ~ x | z1 + z2"``.
        groups : array-like of shape (n_samples,) or str, optional
            Group labels: all rows of a group share one component membership
            (flexmix's ``y ~ x | g``). With a data frame, the name of a column.
        known_labels : array-like of shape (n_samples,) or (n_samples, K), or str, optional
            Known components of some rows (Mplus' KNOWNCLASS; semi-supervised): a
            component 1..K per row, -1 or NaN where unknown; or an (n, K) boolean array
            of the components each row may belong to; with a data frame, the name of a
            column. The rows of a group must agree. The fit then maximises ``sum_i
            w_i log sum_{k in A_i} pi_k f_k(y_i | x_i)`` over the allowed components
            ``A_i`` of each row (all K where unknown): the likelihood of the responses
            and of the known labels. The components keep their numbers. Rows in memory
            only (not a streamed source).

        Returns
        -------
        self : RegressionMixture
        """
        with single_threaded_blas():
            return self._fit(X, y, sample_weight, offset, trials, concomitant, groups,
                             known_labels=known_labels)

    def fit_from(self, models, X, y=None, sample_weight=None, *, offset=None, trials=None,
                 concomitant=None, groups=None):
        """Fit as :meth:`fit` does, with more starts taken from fitted models.

        Each model, fitted to the same rows with ``n_components - 1``,
        ``n_components`` or ``n_components + 1`` components and the same family and
        design, gives starts: each of its components split in two (by the rules of
        :mod:`regmix.fitting.moves`), its own parameters, or each pair of its
        components merged. They are searched with the fit's own starts, so the result
        is at least as good as the best of them (at the same ``min_weight``), which is
        what makes :func:`regmix.select_components`' log-likelihoods rise with K.

        Parameters
        ----------
        models : RegressionMixture or list of RegressionMixture
            Fitted models of the same data.
        X, y, sample_weight, offset, trials, concomitant, groups
            As for :meth:`fit`.

        Returns
        -------
        self : RegressionMixture
        """
        models = [models] if isinstance(models, RegressionMixture) else list(models)
        for i, model in enumerate(models):
            self._check_origin(model, i)
        with single_threaded_blas():
            return self._fit(X, y, sample_weight, offset, trials, concomitant, groups,
                             origins=models)

    def _refit_from(self, models, X, y=None, **data):
        """:meth:`fit_from` by the search of a bootstrap replicate
        (:meth:`regmix.fitting.search.StartSearch.run_replicate`): a few EM steps from
        every start, the most promising continued until two reach the same maximum."""
        models = list(models)
        for i, model in enumerate(models):
            self._check_origin(model, i)
        with single_threaded_blas():
            return self._fit(X, y, data.pop("sample_weight", None), origins=models,
                             replicate=True, **data)

    def _check_origin(self, model, i: int) -> None:
        """Raise ValueError unless ``model`` can give starts to this fit."""
        what = f"models[{i}]"
        if not isinstance(model, RegressionMixture) or not hasattr(model, "state_"):
            raise ValueError(f"{what} must be a fitted RegressionMixture; got "
                             f"{type(model).__name__}")
        k = model.state_.n_components
        if abs(k - int(self.n_components)) > 1:
            raise ValueError(f"{what} has {k} components: starts for n_components="
                             f"{self.n_components} come from {self.n_components - 1}, "
                             f"{self.n_components} or {self.n_components + 1}")
        family = self._family_object()
        theirs = model.state_.family
        if (family.name, family.link_name) != (theirs.name, theirs.link_name):
            raise ValueError(f"{what} was fitted with {theirs!r}, not {family!r}")
        if model.fit_intercept != self.fit_intercept or model.formula != self.formula:
            raise ValueError(f"{what} has another design: fit_intercept and formula must "
                             "be those of this estimator")

    def _fit(self, X, y=None, sample_weight=None, offset=None, trials=None, concomitant=None,
             groups=None, origins=(), known_labels=None, replicate=False):
        """The body of :meth:`fit`, run with BLAS pinned to one thread: the steps of a fit
        (``replicate``: by the search of a bootstrap replicate, see :meth:`_refit_from`)."""
        self._check_params()
        warm = self.warm_start and hasattr(self, "coef_")
        if warm:
            self._check_warm_start()
        self._identifier_concomitants = []  # found by _rows on arrays and data frames
        data = self._fit_data(X, y, sample_weight, offset, trials, concomitant, groups, warm,
                              known_labels)
        setup = self._fit_setup(data)
        outcome, runner = self._run_starts(data, setup, warm, origins, replicate)
        if getattr(setup.family, "group_derivatives", None) is not None:
            # EM is slow near a singular random-effect covariance: Newton steps finish
            outcome.best = newton_polish(outcome.best, runner, tol=self.tol,
                                         min_weight=self.min_weight)
        boundary = fit_boundary(setup.family, outcome.best.params, runner)
        self._check_best(outcome, runner,
                         separated=any(entry[2] is not None and entry[1] != "variance_floor"
                                       for entry in boundary))
        self._store_state(outcome, data, setup, runner, boundary)
        grouping = self._grouping_warning(any(b.gating for b in self.state_.boundary))
        if grouping is not None:
            warnings.warn(grouping, ConcomitantWarning, stacklevel=3)
        return self

    def _fit_data(self, X, y, sample_weight, offset, trials, concomitant, groups,
                  warm: bool, known_labels=None) -> _FitData:
        """Step 1: the fit's rows as a row source, with the unconstrained family."""
        if known_labels is not None and (is_dask_collection(X) or is_row_source(X)):
            raise ValueError("known_labels needs the rows in memory (arrays or a data "
                             "frame), not a streamed source")
        family = self._family_object()
        if is_dask_collection(X):
            names = response_names(self.family)
            if self.formula is not None:
                X, y, concomitant = self._dask_formula(X, y, concomitant, offset, trials)
            if names is not None and hasattr(y, "columns"):  # the responses, in order
                missing = [r for r in names if r not in list(y.columns)]
                if missing:
                    raise ValueError(f"the responses {missing} are not columns of y "
                                     f"({[str(c) for c in y.columns]})")
                y = y[list(names)]
            limits = None
            if (hasattr(family, "response_limits") and getattr(y, "ndim", 1) == 2
                    and y.shape[1] > 1):  # columns of limits are the censored response
                limits, y = y, None
            X = DaskData(X, y, sample_weight, fit_intercept=self.fit_intercept,
                         concomitant=concomitant, groups=groups, limits=limits,
                         responses=names)
            y = sample_weight = concomitant = groups = None
        if is_row_source(X):
            if any(a is not None for a in (offset, trials, concomitant, groups)):
                raise ValueError("offset, trials, concomitant and groups cannot be given with "
                                 "a row source; a source names its concomitant columns "
                                 "itself (concomitant=)")
            censored = hasattr(family, "response_limits")
            X = censored_source(X, family)
            if getattr(X, "limit_columns", None) and not censored:
                raise ValueError("the row source's limit columns are a censored response: "
                                 "use family='censored_gaussian'")
            data = self._streamed_fit_data(X, y, sample_weight, family)
        else:
            data = self._array_fit_data(X, y, sample_weight, offset, trials, concomitant,
                                        groups, family, warm, known_labels)
        if response_names(data.family) is not None:  # each response's design and floor
            data = data._replace(family=bound_responses(
                data.family, self._feature_labels(data.source.n_features), data.source,
                data.y))
        elif hasattr(data.family, "bind"):  # random effects named by their columns
            names = (["intercept"] if self.fit_intercept else []) + self._feature_labels(
                data.source.n_features)
            data = data._replace(family=data.family.bind(names))
        if getattr(data.family, "internal_var_floor", None) is not None:
            # the floor in internal units: var_floor times the squared robust scale of y
            ratio = response_robust_scale(data.source) / data.source.standardization.y_scale
            data = data._replace(family=data.family.with_floor_unit(ratio * ratio))
        return data

    def _streamed_fit_data(self, source, y, sample_weight, family) -> _FitData:
        """The fit's rows from a row source (Parquet, dask)."""
        source = response_units(self._streamed_source(source, y, sample_weight), family)
        if self._intercept_constrained() or getattr(family, "needs_uncentred", False):
            source = uncentred(source)
        if not family.location_scale:
            check_source_response(source, family, chunk_size=int(self.chunk_size))
        gating_names = list(getattr(source, "z_columns", [])) or None
        return _FitData(source, None, None, None, source.n_rows, family, gating_names)

    def _array_fit_data(self, X, y, sample_weight, offset, trials, concomitant, groups,
                        family, warm: bool, known_labels=None) -> _FitData:
        """The fit's rows from arrays or a data frame, validated."""
        rows = self._rows(X, y, sample_weight, offset, trials, family, reset=not warm,
                          concomitant=concomitant, groups=groups, fitting=True)
        allowed = self._known_labels(X, known_labels, rows)
        X, y, w = rows.X, rows.y, rows.w
        n_pos = X.shape[0] if w is None else int(np.count_nonzero(w))
        # the concomitant variables' names: of these rows, or of the fit continued
        gating_names = self.state_.gating_names if warm else self._gating_names
        source = ArrayData(X, y, w, fit_intercept=self.fit_intercept, offset=rows.offset,
                           trials=rows.trials, scale_response=family.location_scale,
                           Z=rows.Z, groups=rows.groups,
                           centre_x=not (self._intercept_constrained()
                                         or getattr(family, "needs_uncentred", False)),
                           compiled=self._kernel_expected(family, rows), allowed=allowed,
                           limits=rows.limits)
        return _FitData(source, rows, y, w, n_pos, family, gating_names)

    def _fit_setup(self, data: _FitData) -> _FitSetup:
        """Step 2: the constrained family, the mixing model and the pass runner, with
        the checks that need them."""
        source = data.source
        K = self.n_components
        p = source.n_design
        family = self._constrained(data.family, source.standardization, p)
        if self.fixed_weights is not None and data.gating_names is not None:
            raise ValueError("fixed_weights cannot be combined with concomitant variables "
                             "(the weights are then a function of them)")
        mixing = _mixing_model(data.gating_names, self._fixed_weights())
        n_params = family.n_parameters(K, p) + mixing.n_parameters(
            K, getattr(source, "n_gating", 1))
        if data.n_pos < n_params:
            raise ValueError(
                f"got n_samples={data.n_pos} rows with positive weight, fewer than the "
                f"{n_params} free parameters of a {K}-component mixture with {p} "
                "coefficients per component; use fewer components or features, or more rows"
            )
        n_groups = getattr(source, "n_groups", None)
        if n_groups is not None and K > n_groups:
            raise ValueError(
                f"n_components={K} is more than the {n_groups} group(s) of the data: all "
                "rows of a group share one component, so a component without a group of "
                "its own is not identified; use at most as many components as groups"
            )

        x_mean, x_std = source.feature_moments()
        if data.y is not None and family.location_scale:
            self._check_response_varies(data.y, data.w)
        settings = dict(chunk_size=int(self.chunk_size), n_jobs=resolve_n_jobs(self.n_jobs))
        # where Newton steps finish the fit (see _fit), EM need only come close
        polished = getattr(family, "group_derivatives", None) is not None
        em_settings = dict(max_iter=self.max_iter,
                           tol=max(self.tol, _POLISH_FROM) if polished else self.tol,
                           min_weight=self.min_weight,
                           accelerate=self.accelerate, verbose=self.verbose,
                           progress=bool(self.progress))
        return _FitSetup(family, mixing, n_params, x_mean, x_std, settings, em_settings)

    def _run_starts(self, data: _FitData, setup: _FitSetup, warm: bool, origins=(),
                    replicate: bool = False):
        """Steps 3 and 4: the search from every start (see
        :class:`regmix.fitting.search.StartSearch`; on a subsample when the data are
        large, and then the winner refined on all rows); ``(outcome, runner)``.
        ``origins`` are fitted models whose parameters give more starts (see
        :meth:`fit_from`)."""
        source = data.source
        family, mixing, settings = setup.family, setup.mixing, setup.settings
        st = source.standardization
        K = self.n_components
        runner = PassRunner(source, family, mixing, engine=self._engine(source.n_rows),
                            **settings)
        rng = check_random_state(self.random_state)
        screen = (
            isinstance(self.init, str)
            and not warm
            and self.init_sample_size is not None
            and source.n_rows > 2 * self.init_sample_size
        )
        sub_runner = None
        search = dict(n_components=K, min_weight=self.min_weight,
                      settings=setup.em_settings)
        searching = isinstance(self.init, str) and not warm
        floor = collapse_floor(self.min_weight)
        internal = []
        for i, model in enumerate(origins):
            if model.state_.n_features_in != self.n_features_in_:
                raise ValueError(f"models[{i}] was fitted to {model.state_.n_features_in} "
                                 f"features, these rows have {self.n_features_in_}")
            if model.state_.gating_names != data.gating_names:
                raise ValueError(f"models[{i}] has other concomitant variables "
                                 f"({model.state_.gating_names}) than this fit "
                                 f"({data.gating_names})")
            # in internal units without this fit's constraints, which are for K
            # components: the start made from them is an M-step that has them
            internal.append(self._internal_params(model._user_params(), data.family, st))
        search_runner, search_settings = runner, setup.em_settings
        if screen:
            # Search on a subsample; only the winner is refined on all rows.
            sub = source.subsample(int(self.init_sample_size), int(rng.randint(2**31 - 1)))
            # the compiled kernel, once loaded for the full rows, is fast on these too; a
            # start only has to be good enough to win, the winner is refined on all rows
            sub_runner = PassRunner(sub, family, mixing, engine=runner.engine, **settings)
            search_runner = sub_runner
            search_settings = dict(setup.em_settings, tol=max(self.tol, _SCREEN_TOL))
        initializer = Initializer(search_runner, n_components=K, min_weight=self.min_weight,
                                  floor=floor)
        order = None if data.rows is None else data.rows.order
        starts = self._starts(initializer, family, st, rng, order=order)
        more = ((lambda: self._starts(initializer, family, st, rng, 2 * self.n_init))
                if searching and self.split_merge else None)
        rate = self._newton_rate(source, runner, sub_runner, settings)
        searcher = StartSearch(search_runner, **dict(search, settings=search_settings),
                               split_merge=self.split_merge and searching,
                               seed=int(rng.randint(2**31 - 1)) if searching else 0,
                               rate=None if screen else rate)
        outcome = (searcher.run_replicate(starts, internal) if replicate
                   else searcher.run(starts, internal, more=more))
        if screen and outcome.best is not None:
            winner = outcome.best
            # a start converged on the subsample is near the maximum: Newton steps at once
            final = StartSearch(runner, **search, split_merge=False, rate=rate,
                                rate_from=np.inf).run([lambda: winner.params])
            final.n_at_best, final.n_runs = outcome.n_at_best, outcome.n_runs
            final.n_moves = outcome.n_moves
            outcome = final
        if outcome.best is None:
            self._raise_degenerate(outcome, family)
        return outcome, runner

    def _check_best(self, outcome: SearchOutcome, runner: PassRunner,
                    separated: bool = False) -> None:
        """Step 5: warn when the best run met a rank-deficient design, did not converge
        or was reached from one start only (a component's rank-deficient Fisher weights
        are the separation that :meth:`_store_state` reports when ``separated``)."""
        source = runner.source
        best, runs = outcome.best, outcome.runs
        assert best is not None
        if best.rank_deficient:
            self._warn_rank_deficiency(runner, source.n_features, separated)
        if outcome.n_runs >= 2 and outcome.n_at_best == 1:
            warnings.warn(
                f"The best log-likelihood was reached by 1 of the {outcome.n_runs} runs "
                "from independent starting points: it has not been replicated and may "
                "not be the global maximum; increase n_init",
                ReplicationWarning,
                stacklevel=3,
            )
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                f"The best of {len(runs)} start(s) did not converge in max_iter="
                f"{self.max_iter} iterations (last change in mean log-likelihood "
                f"{abs(best.history[-1] - best.history[-2]) / source.total_weight:.3g} > "
                f"tol={self.tol}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _store_state(self, outcome: SearchOutcome, data: _FitData, setup: _FitSetup,
                     runner: PassRunner, boundary: list | None = None) -> None:
        """Step 6: the fitted state, in user units and the model's component order, with
        the training data's criteria, the parameters on the boundary (``boundary``, from
        :func:`~regmix.inference.boundary.fit_boundary`, each warned about) and
        (``compute_se``) the observed information."""
        run = outcome.best
        assert run is not None
        source, family, params = data.source, setup.family, run.params
        st = source.standardization
        user = family.to_user(params.component, st)
        full = user.coef
        icpt = full[:, 0] if self.fit_intercept else np.zeros(full.shape[0])
        coef = full[:, 1:] if self.fit_intercept else full
        order = component_order(family, np.lexsort(tuple(coef.T[::-1]) + (icpt,
                                                                           -params.weights)))
        if self._labelled_components(family) or getattr(source, "allowed", None) is not None:
            order = np.arange(order.size)  # the constraints number the components
        # the log-density of an observed value changes with the response's unit, the
        # probability of a censored row's interval does not
        shift = getattr(source, "observed_weight", source.total_weight) * np.log(st.y_scale)
        gating_coef = None
        if params.gating is not None:
            gamma = st.gating_to_user(params.gating)[order]
            gating_coef = gamma - gamma[0]
        log_likelihood = float(run.loglik - shift)
        n_groups = getattr(source, "n_groups", None)
        classes = runner.classification(params)
        n_obs = source.total_weight if n_groups is None else n_groups
        aic, bic, icl = _information_criteria(log_likelihood, setup.n_params, n_obs,
                                              classes.top)
        assert classes.counts is not None and classes.sizes is not None
        counts = classes.counts[order]
        unweighted = data.w is None and getattr(source, "weight_column", None) is None
        gated_formula = self._gating_formula() is not None
        self._set_state(FittedState(
            family=family,
            coef=coef[order].copy(),
            intercept=icpt[order].copy(),
            extra=np.asarray(user.extra)[order].copy(),
            weights=params.weights[order].copy(),
            log_likelihood=log_likelihood,
            history=np.asarray(run.history) - shift,
            converged=bool(run.converged),
            n_iter=int(run.n_iter),
            n_passes=runner.n_passes,
            n_parameters=int(setup.n_params),
            n_features_in=self.n_features_in_,
            x_mean=setup.x_mean,
            x_std=setup.x_std,
            fit_intercept=bool(self.fit_intercept),
            formula=self.formula,
            fit_offset=data.rows is not None and data.rows.offset is not None,
            fit_trials=data.rows is not None and data.rows.trials is not None,
            gating_coef=gating_coef,
            gating_names=data.gating_names,
            n_groups=n_groups,
            feature_names_in=getattr(self, "feature_names_in_", None),
            formula_design=(getattr(self, "formula_design_", None)
                            if self.formula is not None else None),
            concomitant_design=(getattr(self, "concomitant_design_", None)
                                if gated_formula else None),
            aic=aic, bic=bic, icl=icl,
            n_samples_fit=source.n_rows,
            sum_weights=source.total_weight,
            component_sizes=classes.sizes[order],
            component_counts=counts.round().astype(np.int64) if unweighted else counts,
            entropy=classes.entropy,
            classification=classes.table[np.ix_(order, order)],
            n_at_best=int(outcome.n_at_best),
            n_runs=int(outcome.n_runs),
            n_known_labels=_restricted_rows(source, self.n_components),
        ))
        self._store_boundary(boundary or [], order, source)
        if self.compute_se:
            self.state_.information = self._information(source, data.rows)

    def _store_boundary(self, found: list, order: np.ndarray, source) -> None:
        """Record the parameters on the boundary in the state, in the model's component
        order, and warn about each."""
        family = self.state_.family
        names = (["intercept"] if self.fit_intercept else []) + self._feature_labels(
            source.n_features)
        if getattr(family, "coef_names", None) is not None:  # several responses
            names = family.coef_names(names[int(self.fit_intercept):], self.fit_intercept)
        cons = getattr(family, "constraints", None)
        free = np.ones(len(names), dtype=bool) if cons is None else ~cons.fixed
        extras = [n for n, f in zip(family.extra_names, family.free_extra(), strict=True)
                  if f]
        gating = self.state_.gating_names
        self.state_.boundary = boundary_parameters(
            found, order, names, free, extras,
            gating_names=None if gating is None else ["intercept", *gating],
            standardization=source.standardization)
        for entry in self.state_.boundary:
            warnings.warn(entry.message(self.var_floor), BoundaryWarning, stacklevel=4)

    def _set_state(self, state: FittedState) -> None:
        """Make ``state`` the estimator's fitted state (after a fit, or loading a model
        file); the attributes that input validation owns follow it."""
        self.state_ = state
        self.n_features_in_ = state.n_features_in
        if state.feature_names_in is not None:
            self.feature_names_in_ = state.feature_names_in
        elif "feature_names_in_" in vars(self):
            del self.feature_names_in_
        if state.formula_design is not None:
            self.formula_design_ = state.formula_design
        if state.concomitant_design is not None:
            self.concomitant_design_ = state.concomitant_design

    def _newton_rate(self, source, runner, sub_runner, settings):
        """The EM rate-matrix estimate for Newton steps on all rows (see
        :func:`regmix.fitting.em.run_em`), or None where it does not pay.

        ``J`` is estimated on a subsample (the screening subsample when there is one,
        else about ``min(init_sample_size, n / 8)`` rows): one pass of the subsample per
        free coordinate, plus one. That is used only for exact M-steps without
        constraints or gating, with acceleration on, when the subsample has at least
        10,000 rows and 25 per coordinate (smaller ones estimate ``J`` too roughly to
        gain) and one estimate costs at most two passes of all rows (a Newton phase
        typically saves ten or more).
        """
        family, mixing = runner.family, runner.mixing
        n = source.n_rows
        size = sub_runner.source.n_rows if sub_runner is not None else min(
            int(self.init_sample_size or _RATE_SAMPLE_SIZE), n // 8)
        exact = getattr(family, "exact_m_step", True) and getattr(mixing, "exact", True)
        if (not self.accelerate or not exact or self._has_constraints()
                or self.fixed_weights is not None):
            return None
        K, p = self.n_components, source.n_design
        dims = family.to_vector(family.zero_params(K, p)).size + K
        if size < max(_RATE_MIN_ROWS, 25 * dims) or (dims + 1) * size > 2 * n:
            return None
        runners = [sub_runner]

        def rate(params):
            if runners[0] is None:  # drawn only when a run gets close enough to use it
                sub = source.subsample(size, _RATE_SAMPLE_SEED)
                runners[0] = PassRunner(sub, family, mixing, engine=runner.engine, **settings)
            return em_map_jacobian(family, mixing, runners[0].evaluate, params)

        return rate

    # ------------------------------------------------------------------ constraints
    def _has_constraints(self) -> bool:
        return bool(self.common_coef) or bool(self.fixed_coef) or bool(self.equal_variance)

    def _check_fixed_weights(self) -> None:
        """Raise ValueError unless ``fixed_weights`` is None or K admissible weights."""
        if self.fixed_weights is None:
            return
        K = self.n_components
        try:
            w = np.asarray(self.fixed_weights, dtype=np.float64)
        except (TypeError, ValueError):
            w = np.zeros(0)
        if w.shape != (K,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(f"fixed_weights must be {K} positive numbers (one per "
                             f"component); got {reprlib.repr(self.fixed_weights)}")
        if abs(float(w.sum()) - 1.0) > 1e-9:
            raise ValueError(f"fixed_weights must sum to one; got {w.tolist()}, summing "
                             f"to {float(w.sum())!r}")
        if np.any(w < self.min_weight):
            raise ValueError(f"fixed_weights has a weight below min_weight="
                             f"{self.min_weight}: {w.tolist()}; lower min_weight")

    def _fixed_weights(self) -> np.ndarray | None:
        """The known weights, normalised, or None."""
        if self.fixed_weights is None:
            return None
        w = np.asarray(self.fixed_weights, dtype=np.float64)
        return w / w.sum()

    def _labelled_components(self, family) -> bool:
        """Whether the components have identities of their own (fixed weights that
        differ, or constraints that differ between components): then the fit keeps
        their numbering."""
        w = self._fixed_weights()
        if w is not None and np.ptp(w) > 0:
            return True
        cons = getattr(family, "constraints", None)
        return cons is not None and not cons.symmetric

    def _intercept_constrained(self) -> bool:
        names = set(self.common_coef or ()) | set(dict(self.fixed_coef or {}))
        # (several responses name each response's intercept, "yn:intercept")
        return any(n == "intercept" or str(n).endswith(":intercept") for n in names)

    def _constrained(self, family, st, p: int):
        """A copy of ``family`` carrying the estimator's constraints (or ``family``)."""
        names = (["intercept"] if self.fit_intercept else []) + self._feature_labels(
            p - int(self.fit_intercept))
        return constrained_family(family, st, self.get_params(deep=False), names)

    def _kernel_expected(self, family, rows) -> bool:
        """Whether the fit's passes will run on the compiled kernel (see
        :func:`regmix.engine.kernel.compiled_pass_applies`), so that the set-up may use numba
        too without loading it for nothing."""

        return (compiled_pass_applies(None, family, constrained=self._has_constraints())
                and kernel_reads(rows, family) and self._engine(rows.X.shape[0]) == "numba")

    def _engine(self, n_rows: int) -> str:
        """The data-pass engine for ``n_rows`` rows: "numba" or "numpy"."""
        if self.engine == "numpy":
            return "numpy"
        if self.engine == "auto" and n_rows < _COMPILED_MIN_ROWS:
            return "numpy"

        if not available():
            if self.engine == "numba":
                raise ImportError("engine='numba' needs numba: pip install 'regmix[fast]'")
            return "numpy"
        return "numba"

    def _check_warm_start(self) -> None:
        fitted_k = self.weights_.shape[0]
        if fitted_k != self.n_components:
            raise ValueError(
                f"warm_start=True but n_components changed from {fitted_k} to "
                f"{self.n_components}; set warm_start=False to fit from scratch"
            )
        if self.state_.fit_intercept != self.fit_intercept:
            raise ValueError(
                f"warm_start=True but fit_intercept changed to {self.fit_intercept}; "
                "set warm_start=False to fit from scratch"
            )
        if self.state_.formula != self.formula:
            raise ValueError(
                "warm_start=True but the formula changed; set warm_start=False to fit "
                "from scratch"
            )
        family = self._family_object()
        if (family.name, family.link_name) != (self.family_.name, self.family_.link_name):
            raise ValueError(
                f"warm_start=True but the family changed from {self.family_!r} to "
                f"{family!r}; set warm_start=False to fit from scratch"
            )
        change = getattr(family, "warm_start_change", None)
        reason = None if change is None else change(self.family_)
        if reason is not None:  # a start the new structure's parameters cannot hold
            raise ValueError(f"warm_start=True but {reason}; set warm_start=False to fit "
                             "from scratch")

    def _raise_degenerate(self, outcome: SearchOutcome, family):
        tried = f"{len(outcome.runs)} run(s) to convergence"
        if outcome.n_moves:
            tried += f" (from the starts and {outcome.n_moves} split-and-merge moves)"
        n_bad = sum(not np.isfinite(r.loglik) for r in outcome.runs)
        if outcome.runs and n_bad == len(outcome.runs):
            raise DegenerateFitError(
                f"none of the {tried} had a finite log-likelihood: the family's mean "
                "left its range at some row (with an identity link, a negative or zero "
                "mean); use the family's default link or check the response"
            )
        why = ""
        finite = [r for r in outcome.runs if np.isfinite(r.loglik)]
        if finite:
            best = max(finite, key=lambda r: r.loglik)
            k = int(np.argmin(best.params.weights))
            why = (f"; in the best of them component {k + 1} has weight "
                   f"{best.params.weights[k]:.3g}")
            if k in sigmas_at_floor(family, best.params):
                why += (" and its sigma sits at the variance floor: it collapsed onto "
                        "rows lying exactly on its line (identical responses, or as few "
                        "rows as coefficients), where the likelihood is unbounded as "
                        "sigma goes to zero")
                if family.name == "gaussian":
                    why += (" (a few gross outliers do that to Gaussian components; the "
                            "student_t family down-weights them instead)")
        raise DegenerateFitError(
            f"none of the {tried} ended with every component's weight at least "
            f"min_weight={self.min_weight}: the data do not support "
            f"{self.n_components} components{why}; lower n_components or min_weight"
        )

    def _starts(self, initializer: Initializer, family, st, rng, n: int | None = None,
                order: np.ndarray | None = None):
        """A list of zero-argument callables, each producing one start (``n``, by
        default ``n_init``, of a strategy ``init``). ``order`` gives the caller's row of
        each row of the fit (rows sorted by group), which ``init`` memberships follow."""
        if self.warm_start and hasattr(self, "coef_"):
            internal = self._internal_params(self._user_params(), family, st)
            return [lambda: internal]
        init = self.init
        if isinstance(init, str):
            seeds = [int(rng.randint(2**31 - 1)) * (2**31) + int(rng.randint(2**31 - 1))
                     for _ in range(self.n_init if n is None else n)]
            return [lambda s=s: initializer(init, s) for s in seeds]
        if isinstance(init, Mapping):
            params = self._params_from_dict(init, family)
            if self.fixed_weights is not None:
                params = MixtureParams(self._fixed_weights(), params.component,
                                       params.gating)
            start = initializer.runner.start_params(self.n_components)
            gating = None if start.gating is None else np.zeros_like(start.gating)
            if params.gating is not None:
                if gating is None or params.gating.shape != gating.shape:
                    raise ValueError(
                        f"init gating has shape {params.gating.shape}; the fit's gating "
                        f"coefficients have shape "
                        f"{None if gating is None else gating.shape} (an intercept and "
                        f"the concomitant variables per component)")
                gating = st.gating_to_internal(params.gating - params.gating[0])
            elif gating is not None:  # equal weights would ignore the given ones
                gating[:, 0] = np.log(params.weights) - np.log(params.weights[0])
            component = family.to_internal(params.component, st)
            if getattr(family, "constraints", None) is not None:
                component = family.constraints.project(family, component)
            internal = MixtureParams(params.weights, component, gating)
            return [lambda: internal]
        given = self._check_init_resp(init, initializer.n_rows)
        resp = MembershipArray(given if order is None else given[order])
        return [lambda: initializer.from_memberships(resp)]

    @staticmethod
    def _internal_params(params: MixtureParams, family, st) -> MixtureParams:
        """Fitted parameters ``params`` (user units) in the internal units ``st`` of
        a fit with ``family`` (projected on its constraints)."""
        gating = None if params.gating is None else st.gating_to_internal(params.gating)
        component = family.to_internal(params.component, st)
        if getattr(family, "constraints", None) is not None:
            component = family.constraints.project(family, component)
        return MixtureParams(params.weights, component, gating)

    def _check_init_resp(self, init, n_rows: int) -> np.ndarray:
        """The starting memberships as a float64 array (rows are normalised where they
        are used); never a copy of a float64 array."""
        K = self.n_components
        try:
            R = np.asarray(init, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"init must be one of {STRATEGIES}, an ({n_rows}, {K}) array "
                             f"of responsibilities or a dict of parameters; got a "
                             f"{type(init).__name__} that is not an array of "
                             "numbers") from None
        if R.ndim != 2:
            raise ValueError(f"init must be one of {STRATEGIES}, an ({n_rows}, {K}) array "
                             f"of responsibilities or a dict of parameters; got "
                             f"{reprlib.repr(init)}")
        if R.shape != (n_rows, K):
            raise ValueError(
                f"init responsibilities must have shape ({n_rows}, {K}); got {R.shape}"
            )
        s = R.sum(axis=1)  # NaN and infinity propagate to the sums
        if not np.all(np.isfinite(s)) or R.min() < 0:
            raise ValueError("init responsibilities must be finite and non-negative")
        if np.any(s <= 0):
            raise ValueError(f"init responsibilities sum to zero in row {int(np.argmin(s))}")
        return R

    def _params_from_dict(self, init: Mapping, family) -> MixtureParams:
        K, p = self.n_components, self.n_features_in_
        if hasattr(family, "coef_width"):  # several responses: their coefficients side by side
            p = family.coef_width(p + int(self.fit_intercept)) - int(self.fit_intercept)
        extras = list(family.extra_names)
        required = {"weights", "coef", *extras} | ({"intercept"} if self.fit_intercept
                                                   else set())
        missing = required - set(init)
        if missing:
            raise ValueError(f"init dict is missing {sorted(missing)}")
        unknown = set(init) - required - {"gating"}
        if unknown:
            raise ValueError(f"init dict has keys {sorted(map(str, unknown))} that a "
                             f"{family.name} start does not take (it takes "
                             f"{sorted(required)}, and gating)")
        weights = _init_numbers(init, "weights").reshape(-1)
        coef = _init_numbers(init, "coef")
        if coef.ndim == 1 and p == 1 and coef.shape == (K,):
            coef = coef[:, None]  # one feature: one coefficient per component
        extra = [_init_numbers(init, e) for e in extras]
        bad_extra = [e for e, v in zip(extras, extra, strict=True)
                     if v.shape not in ((), (K,))]
        if weights.shape != (K,) or coef.shape != (K, p) or bad_extra:
            hint = (f" (coef is ({p}, {K}): components are its rows, write its transpose)"
                    if coef.shape == (p, K) and p != K else "")
            raise ValueError(
                f"init dict needs weights ({K},), coef ({K}, {p})"
                + "".join(f", {e} ({K},) or a number" for e in extras)
                + f"; got weights {weights.shape}, coef {coef.shape}"
                + "".join(f", {e} {v.shape}" for e, v in zip(extras, extra, strict=True))
                + hint
            )
        extra_arr = (np.column_stack([np.broadcast_to(v, (K,)) for v in extra]) if extras
                     else np.zeros((K, 0)))
        if (not np.all(np.isfinite(weights)) or np.any(weights < 0)
                or abs(weights.sum() - 1.0) > 1e-12 * K):
            raise ValueError(f"init weights must be finite, non-negative and sum to one "
                             f"(to 1e-12); got {weights.tolist()}, summing to "
                             f"{float(weights.sum())!r}")
        if not (np.all(np.isfinite(extra_arr)) and np.all(valid_extras(family, extra_arr))):
            raise ValueError(f"init {', '.join(extras)} must be finite and positive")
        full = coef
        if self.fit_intercept:
            icpt = _init_numbers(init, "intercept")
            if icpt.shape == () and K == 1:
                icpt = icpt.reshape(1)
            if icpt.shape != (K,):
                raise ValueError(f"init intercept must have shape ({K},); got {icpt.shape}")
            full = np.column_stack([icpt, coef])
        if not np.all(np.isfinite(full)):
            raise ValueError("init coefficients must be finite")
        extra = extra_arr
        gating = None
        if "gating" in init:  # in user units, as gating_coef_; checked against the fit
            gating = _init_numbers(init, "gating")
            if gating.ndim != 2 or gating.shape[0] != K or not np.all(np.isfinite(gating)):
                raise ValueError(f"init gating must be finite numbers of shape ({K}, 1 + "
                                 f"the concomitant variables); got shape {gating.shape}")
        return MixtureParams(weights, family.make_params(full, extra), gating)

    def _warn_rank_deficiency(self, runner, n_features: int, separated: bool = False
                              ) -> None:
        families = getattr(runner.family, "families", None)
        if families is not None:  # the design's collinearity, by a regression component
            p = runner.source.n_design
            runner = PassRunner(runner.source,
                                next(f for f in families if f.n_parameters(1, p) >= p),
                                runner.mixing, chunk_size=runner.chunk_size,
                                n_jobs=runner.n_jobs)
        whole = runner.given(lambda ch: np.ones((1, ch.y.shape[0])), 1)
        names = (["intercept"] if self.fit_intercept else []) + self._feature_labels(n_features)
        bad = collinear_columns(whole.stats[0][0])
        if bad:
            which = ", ".join(names[j] for j in bad)
            msg = (
                f"The design is rank deficient: {which} "
                f"{'is a linear combination' if len(bad) == 1 else 'are linear combinations'}"
                " of the other columns (or constant); minimum-norm coefficients were used"
            )
        elif separated:  # the Fisher weights of separated rows vanish: BoundaryWarning says so
            return
        else:
            msg = (
                "A component's weighted design was rank deficient during EM (too few rows "
                "with weight in it); minimum-norm coefficients were used for that step"
            )
        warnings.warn(msg, RankDeficiencyWarning, stacklevel=4)

    def _feature_labels(self, n_features: int) -> list[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(s) for s in names]
        return [f"x{j}" for j in range(n_features)]

    def coef_names(self) -> list[str]:
        """Names of the columns of ``coef_``: feature names, or ``x0, x1, ...``; for
        several responses ``"<response>:<column>"``, every response's coefficients side
        by side after the first response's intercept (``intercept_``)."""
        check_is_fitted(self)
        if getattr(self.family_, "coef_names", None) is not None:
            return self._coefficient_labels()[int(self.fit_intercept):]
        return self._feature_labels(self.coef_.shape[1])

    def _coefficient_labels(self) -> list[str]:
        """Names of every coefficient of a component, the intercept's first when fitted
        (``"intercept"``; for several responses ``"<response>:intercept"``)."""
        names = getattr(self.family_, "coef_names", None)
        if names is not None:
            return names(self._feature_labels(self.n_features_in_), self.fit_intercept)
        return (["intercept"] if self.fit_intercept else []) + self.coef_names()

    @property
    def random_cov_(self) -> np.ndarray:
        """Covariance matrices of the random effects (K, q, q), user units, for a
        :class:`~regmix.families.mixed_gaussian.MixedGaussian` fit."""
        component = self._user_params().component
        if not hasattr(component, "cov"):
            raise AttributeError("random_cov_ exists for MixedGaussian fits only")
        return component.cov

    # ------------------------------------------------------------------ evaluation
    def _user_params(self) -> MixtureParams:
        full = np.column_stack([self.intercept_, self.coef_]) if self.fit_intercept else self.coef_
        return MixtureParams(self.weights_, self.family_.make_params(full, self.state_.extra),
                             self.gating_coef_)

    def _mixing(self):
        """The mixing model of the fit."""
        return _mixing_model(self.state_.gating_names, self._fixed_weights())

    def _posteriors(self, X, y, sample_weight=None, offset=None, trials=None,
                    concomitant=None, groups=None):
        """``(resp, obs_ll, obs_w, obs_resp)``: the rows' posterior probabilities in the
        caller's order, and per observation (row, or group) the log-likelihood
        contribution, the weight and the posterior probabilities."""
        rows = self._eval_rows(X, y, sample_weight, offset, trials, concomitant=concomitant,
                               groups=groups)
        source = self._eval_source(rows)
        resp, obs_ll = row_posteriors(source, self.family_, self._mixing(),
                                      self._user_params(), chunk_size=int(self.chunk_size))
        if rows.groups is None:
            obs_resp = resp
            obs_w = np.ones(rows.X.shape[0]) if rows.w is None else rows.w
        else:
            starts = group_starts(rows.groups)
            obs_resp, obs_w = resp[starts], np.ones(starts.size)
        if rows.order is not None:
            unsorted = np.empty_like(resp)
            unsorted[rows.order] = resp
            resp = unsorted
        return resp, obs_ll, obs_w, obs_resp

    def mixing_weights(self, concomitant=None) -> np.ndarray:
        """The prior probabilities ``pi_k(z)`` of each row, shape (n_samples, K).

        Parameters
        ----------
        concomitant : array-like or DataFrame of shape (n_samples, q)
            The concomitant variables (for a formula model with a gating part, the data
            frame). For a model without concomitant variables, any array with
            ``n_samples`` rows: every row gets ``weights_``.
        """
        check_is_fitted(self)
        gating_names = self.state_.gating_names
        if gating_names is None:
            return self._prior_weights(None, len(concomitant) if concomitant is not None
                                       else 1)
        if self._gating_formula() is not None:
            Z = check_features(self.concomitant_design_.transform(concomitant),
                               "concomitant")[0]
        else:
            Z = check_features(concomitant, "concomitant")[0]
            if Z.shape[1] != len(gating_names):
                raise ValueError(f"concomitant has {Z.shape[1]} columns; the model was "
                                 f"fitted with {len(gating_names)}")
        return self._prior_weights(Z)

    def _prior_weights(self, Z: np.ndarray | None, n: int = 1, weights=None, gating=None
                       ) -> np.ndarray:
        """(n, K) prior probabilities at validated concomitant rows ``Z`` (n, q): the
        softmax of the gating's linear predictors, or ``weights_`` on every one of ``n``
        rows without gating. ``weights`` and ``gating`` (K, q + 1) replace the fit's
        (for derivatives with respect to them)."""
        if Z is None:
            return np.tile(self.weights_ if weights is None else weights, (n, 1))
        gamma = self.gating_coef_ if gating is None else gating
        return softmax(gamma[:, 0][None, :] + Z @ gamma[:, 1:].T, axis=1)

    def _row_weights(self, X, concomitant, n: int) -> np.ndarray:
        """(n, K) prior probabilities of the rows of X (``weights_`` without gating)."""
        if self.state_.gating_names is None:
            return self._prior_weights(None, n)
        if self._gating_formula() is not None:
            if concomitant is not None:
                raise ValueError("the formula has a gating part; do not pass concomitant")
            return self.mixing_weights(X)
        if concomitant is None:
            raise ValueError("the model has concomitant variables: pass concomitant= for "
                             "these rows")
        pi = self.mixing_weights(concomitant)
        if pi.shape[0] != n:
            raise ValueError(f"concomitant has {pi.shape[0]} rows but X has {n}")
        return pi

    def predict_components(self, X, *, offset=None, kind: str = "response") -> np.ndarray:
        """Each component's mean, shape (n_samples, n_components) (for several
        responses (n_samples, n_components, n_responses)).

        Parameters
        ----------
        X : array-like or DataFrame
            Features, or the data frame for a formula model.
        offset : array-like of shape (n_samples,), optional
            The offset of these rows (required when the model was fitted with an
            ``offset`` argument; a formula's ``offset(...)`` terms are computed).
        kind : {"response", "link", "censored"}, default="response"
            The mean ``mu_k = g^-1(eta_k)`` or the linear predictor ``eta_k = x' beta_k
            + offset``. They coincide for Gaussian and Student-t components. For the
            binomial family the mean is the success probability. For the censored
            Gaussian family the mean is the latent response's, and ``"censored"`` the
            expected recorded value (censored and truncated at the family's constant
            limits).
            A point-mass component has no linear predictor: ``"link"`` is refused
            for it.
        """
        check_is_fitted(self)
        kinds = ("response", "link", "censored") if hasattr(
            self.family_, "censored_mean") else ("response", "link")
        if kind not in kinds:
            raise ValueError(f"kind must be one of {', '.join(map(repr, kinds))}; got "
                             f"{kind!r}")
        if kind == "link":
            members = getattr(self.family_, "families", [])
            without = [k + 1 for k, f in enumerate(members) if f.name == "pointmass"]
            if without:
                raise ValueError(
                    f"kind='link': component {without[0]} is a point mass, which has no "
                    "linear predictor; use kind='response' (its value is its mean)")
        Xa, _, _ = self._validate_Xy(X, None, None, reset=False, require_y=False)
        formula_offset = self.formula_design_.offset(X) if self.formula is not None else None
        if offset is not None:
            offset = check_response(offset, Xa.shape[0], name="offset")
        if formula_offset is not None:
            offset = formula_offset if offset is None else offset + formula_offset
        if offset is None and self.state_.fit_offset and self.formula is None:
            raise ValueError("the model was fitted with an offset: pass offset= for these "
                             "rows (zeros if it does not apply)")
        return self._component_means(Xa, offset, kind)

    def _component_means(self, design: np.ndarray, offset: np.ndarray | None = None,
                         kind: str = "response", coef: np.ndarray | None = None
                         ) -> np.ndarray:
        """Each component's mean (or linear predictor) at rows of the design in user
        units, shape (n, K): what :meth:`predict_components` and the plots show.
        ``coef`` (K, p), the coefficients with the intercept first when fitted,
        replaces the fit's (for derivatives with respect to them)."""
        means = getattr(self.family_, "response_means", None)
        if means is not None:  # several responses: (n, K, R)
            full = np.column_stack([np.ones(design.shape[0]), design]) if (
                self.fit_intercept) else design
            return means(self._user_params().component, full, kind)
        if coef is None:
            eta = design @ self.coef_.T + self.intercept_
        elif self.fit_intercept:
            eta = design @ coef[:, 1:].T + coef[:, 0]
        else:
            eta = design @ coef.T
        if offset is not None:
            eta += offset[:, None]
        if kind == "censored":
            return self.family_.censored_mean(eta, self.sigma_)
        if kind == "link":
            return eta
        return response_mean(self.family_, eta, self._user_params().component)

    def predict(self, X, *, offset=None, kind: str = "response", concomitant=None,
                y=None, groups=None) -> np.ndarray:
        """The mixture mean ``sum_k pi_k(z) mu_k(x)``, shape (n_samples,) (for several
        responses (n_samples, n_responses), in the family's order).

        With ``kind="link"`` the weighted mean of the linear predictors,
        ``sum_k pi_k eta_k(x)``; see :meth:`predict_components`. A model with
        concomitant variables weights the components by ``pi_k(z)`` of each row
        (``concomitant=``, or the formula's gating part). For a mixed-model family the
        mean is the marginal one, ``x' beta_k``; ``kind="conditional"`` gives instead
        ``sum_k P(k | y_i) (x' beta_k + z' E[b_i | y_i, k])``, conditional on the
        subjects' predicted random effects (:meth:`random_effects`), which needs their
        responses ``y`` and ``groups``.
        """
        if kind == "conditional":
            return self._conditional_predict(X, y, groups, offset)
        if y is not None or groups is not None:
            raise ValueError("y and groups are used only with kind='conditional'")
        if (kind not in ("response", "link", "censored") and hasattr(self, "family_")
                and getattr(self.family_, "random_effects", None) is not None):
            raise ValueError(f"kind must be one of 'response', 'link', 'conditional'; got "
                             f"{kind!r}")
        means = self.predict_components(X, offset=offset, kind=kind)
        pi = self._row_weights(X, concomitant, means.shape[0])
        if means.ndim == 3:  # several responses: (n, R), in the family's order
            return np.einsum("nkr,nk->nr", means, pi)
        return np.einsum("nk,nk->n", means, pi)

    def posterior(self, X, y=None, *, offset=None, trials=None, concomitant=None,
                  groups=None) -> np.ndarray:
        """Posterior membership probabilities, shape (n_samples, n_components).

        With ``groups`` the rows of a group share their group's probabilities.
        """
        return self._posteriors(X, y, None, offset, trials, concomitant, groups)[0]

    def classify(self, X, y=None, *, offset=None, trials=None, concomitant=None,
                 groups=None) -> np.ndarray:
        """The most probable component of each row, shape (n_samples,).

        Returns
        -------
        ndarray of int
            Column indices of :meth:`posterior`, from 0 to ``n_components - 1``, as
            scikit-learn numbers classes; the summary, the plots' legends and the
            command line, written for people, number the same components from 1
            (``classify(X, y) + 1``).
        """
        return np.argmax(self.posterior(X, y, offset=offset, trials=trials,
                                        concomitant=concomitant, groups=groups), axis=1)

    def score(self, X, y=None, sample_weight=None) -> float:
        """The coefficient of determination R^2 of :meth:`predict` (scikit-learn's
        regressor score).

        For a formula model ``y`` is read from the data frame when not given; binomial
        responses with trials are compared as proportions of successes. With several
        responses: the mean of their R^2, each on the rows where it is observed.
        """
        rows = self._eval_rows(X, y, sample_weight, None, None)
        observed = rows.y if rows.trials is None else rows.y / rows.trials
        if observed.ndim == 2:  # several responses
            predicted = self.predict(X)
            scores = []
            for r in range(observed.shape[1]):
                seen = ~np.isnan(observed[:, r])
                scores.append(r2_score(observed[seen, r], predicted[seen, r],
                                       sample_weight=None if rows.w is None else rows.w[seen]))
            return float(np.mean(scores))
        return float(r2_score(observed, self.predict(X), sample_weight=rows.w))

    def log_likelihood(self, X, y=None, sample_weight=None, *, offset=None, trials=None,
                       concomitant=None, groups=None) -> float:
        """Total (weighted) observed-data log-likelihood of the rows (of the groups, with
        ``groups``)."""
        _, obs_ll, obs_w, _ = self._posteriors(X, y, sample_weight, offset, trials,
                                               concomitant, groups)
        return float(obs_w @ obs_ll)

    def _criteria(self, X, y, sample_weight, offset=None, trials=None, concomitant=None,
                  groups=None):
        """AIC, BIC and ICL of the rows (``n`` is the number of rows or sum of weights,
        or the number of groups)."""
        _, obs_ll, w, obs_resp = self._posteriors(X, y, sample_weight, offset, trials,
                                                  concomitant, groups)
        with np.errstate(divide="ignore"):
            max_log_posterior = float(w @ np.log(obs_resp.max(axis=1)))
        return _information_criteria(float(w @ obs_ll), self.n_parameters_, w.sum(),
                                     max_log_posterior)

    def aic(self, X, y=None, sample_weight=None, *, offset=None, trials=None,
            concomitant=None, groups=None) -> float:
        """Akaike's criterion ``-2 log L + 2 d`` (smaller is better)."""
        return self._criteria(X, y, sample_weight, offset, trials, concomitant, groups)[0]

    def bic(self, X, y=None, sample_weight=None, *, offset=None, trials=None,
            concomitant=None, groups=None) -> float:
        """Schwarz's criterion ``-2 log L + d log n`` (smaller is better).

        ``n`` is the number of rows, or the sum of the sample weights.
        """
        return self._criteria(X, y, sample_weight, offset, trials, concomitant, groups)[1]

    def icl(self, X, y=None, sample_weight=None, *, offset=None, trials=None,
            concomitant=None, groups=None) -> float:
        """Integrated completed likelihood, ``BIC + 2 * sum_i -log r_{i, c_i}``.

        ``c_i`` is the most probable component of row i (Biernacki, Celeux and Govaert,
        2000); the penalty grows as the components overlap. Smaller is better.
        """
        return self._criteria(X, y, sample_weight, offset, trials, concomitant, groups)[2]

    def sample(self, n_samples: int | None = None, X=None, random_state=None, *,
               offset=None, trials=None, concomitant=None, groups=None, limits=None):
        """Simulate responses from the fitted mixture.

        Parameters
        ----------
        n_samples : int, optional
            Rows to draw. Required when ``X`` is None; otherwise None or ``len(X)``.
        X : array-like of shape (n_samples, n_features), optional
            Features to simulate at. When None, each feature is drawn independently from
            a normal distribution with the training mean and standard deviation.
        random_state : int, RandomState instance or None
            Seed.
        offset : array-like of shape (n_samples,), optional
            Offsets of the rows (zero when not given and ``X`` is None).
        trials : array-like of shape (n_samples,), optional
            Binomial trials per row (one trial when not given).
        concomitant : array-like of shape (n_samples, q), optional
            The concomitant variables of the rows, for a model with gating (components
            are then drawn with probabilities ``pi_k(z)``).
        groups : array-like of shape (n_samples,) or str, optional
            Group labels of the rows of ``X`` (or a column of the data frame): one
            component is drawn per group, from its first row's probabilities, and for
            a mixed-model family one vector of random effects. Required for a
            mixed-model family.
        limits : array-like of shape (n_samples, 2) or (n_samples, 4), optional
            For the censored Gaussian family: the rows' censoring and truncation
            limits, a response of limits as :meth:`fit` takes it (the data's own, for
            a simulation of their design). Each row's latent response is drawn from
            its component truncated to the row's truncation limits; a draw inside a
            censored row's interval is recorded as that interval, any other (and
            every draw of a row of equal limits) as the value. Needs ``X``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,) or (n_samples, c)
            Responses (for the binomial family: successes; for the censored Gaussian
            family: drawn inside its truncation limits and censored at its constant
            points, or with ``limits`` the simulated limits, ``c`` columns as given
            with open sides infinite).
        labels : ndarray of shape (n_samples,)
            The component each row was drawn from.
        """
        check_is_fitted(self)
        rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
        if X is None:
            if (n_samples is None or isinstance(n_samples, bool)
                    or not isinstance(n_samples, numbers.Integral) or n_samples < 1):
                raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}")
            n = int(n_samples)
            state = self.state_
            Xa = state.x_mean + state.x_std * rng.standard_normal((n, self.n_features_in_))
            if offset is not None:
                offset = check_response(offset, n, name="offset")
            pi = None
            if self.state_.gating_names is not None:
                if self._gating_formula() is not None:
                    raise ValueError("a formula model with a gating part samples at given "
                                     "rows: pass X (a data frame)")
                pi = self._row_weights(None, concomitant, n)
        else:
            rows = self._eval_rows(X, None, None, offset, None, require_y=False,
                                   concomitant=concomitant, groups=groups)
            Xa, offset = np.array(rows.X, dtype=np.float64, copy=True), rows.offset
            if n_samples is not None and int(n_samples) != Xa.shape[0]:
                raise ValueError(f"n_samples={n_samples} but X has {Xa.shape[0]} rows")
            n = Xa.shape[0]
            pi = (None if self.state_.gating_names is None
                  else self._row_weights(X, concomitant, n))
        if groups is not None and X is None:
            raise ValueError("groups= needs the rows X they label")
        if limits is not None:
            if X is None:
                raise ValueError("limits= needs the rows X they belong to")
            limits = self._sampling_limits(limits, n)
            if groups is not None and rows.order is not None:
                limits = limits[0][rows.order], limits[1]
        if trials is not None:
            trials = check_response(trials, n, name="trials")
        if groups is None:
            if getattr(self.family_, "group_log_density", None) is not None:
                raise ValueError("sampling a model with per-group densities (random "
                                 "effects) needs X and groups=")
            y, labels = self._simulate_response(Xa, rng, offset, trials, pi, limits=limits)
            return Xa, y, labels
        # rows sorted by group: draw there, return in the caller's order
        order = rows.order if rows.order is not None else np.arange(n)
        starts = group_starts(rows.groups)
        trials = None if trials is None else trials[order]
        pi = None if pi is None else np.asarray(pi)[order]
        y_sorted, labels_sorted = self._simulate_response(Xa, rng, offset, trials, pi,
                                                          group_starts=starts,
                                                          limits=limits)
        y, labels = np.empty_like(y_sorted), np.empty_like(labels_sorted)
        y[order], labels[order] = y_sorted, labels_sorted
        X_out = np.empty_like(Xa)
        X_out[order] = Xa
        return X_out, y, labels

    def _sampling_limits(self, limits, n: int) -> tuple[np.ndarray, int]:
        """The rows' limits (n, 4) and the number of columns of the user's response of
        limits, from which :meth:`sample` simulates (the censored family only)."""
        split = getattr(self.family_, "response_limits", None)
        if split is None:
            raise ValueError(f"limits= applies to the censored_gaussian family, not "
                             f"{self.family_.name!r}")
        given = np.asarray(limits, dtype=np.float64)
        if given.ndim != 2 or given.shape[0] != n:
            raise ValueError(f"limits must have one row per row of X ({n}) and two or four "
                             f"columns; got shape {given.shape}")
        _, lim = split(given)
        if lim is None:  # every row an observed value without truncation
            lim = np.repeat(given[:, :1], 4, axis=1)
            lim[:, 2], lim[:, 3] = -np.inf, np.inf
        return lim, given.shape[1]

    def _simulate_response(self, design: np.ndarray, rng: np.random.Generator, offset=None,
                           trials=None, pi=None, group_starts=None, limits=None):
        """Responses and component labels drawn at the rows of a (n, n_features) design.

        Each row's component is drawn by inverting its cumulative prior probabilities
        ``pi`` (n, K), the weights when None; with ``group_starts`` (the first row of each
        group, rows sorted by group) one component is drawn per group, from its first
        row's probabilities. This is the one place where components are drawn.
        ``limits``: the rows' censoring limits (n, 4) and the columns of the response
        to return (see :meth:`_sampling_limits`).
        """
        n, K = design.shape[0], self.n_components
        first = np.arange(n) if group_starts is None else np.asarray(group_starts)
        probs = (np.broadcast_to(self.weights_, (first.size, K)) if pi is None
                 else np.asarray(pi)[first])
        cum = np.cumsum(probs, axis=1)
        labels = np.minimum((rng.random(first.size)[:, None] > cum).sum(axis=1), K - 1)
        if group_starts is not None:
            labels = np.repeat(labels, np.diff(np.append(first, n)))
        params = self._user_params().component
        full = np.column_stack([np.ones(n), design]) if self.fit_intercept else design
        if getattr(self.family_, "group_log_density", None) is not None:
            # a family whose groups share more than their component (random effects)
            return self.family_.sample(params, full, labels, rng, offset, trials,
                                       group_starts=group_starts), labels
        if limits is not None:
            drawn = self.family_.sample(params, full, labels, rng, offset, trials,
                                        limits=limits[0])
            return drawn[:, :limits[1]], labels
        return self.family_.sample(params, full, labels, rng, offset, trials), labels

    def _repr_html_(self):
        """A fitted model shows its summary in notebooks; an unfitted one its parameters."""
        if hasattr(self, "coef_") and self.information_ is not None:
            return self.summary().as_html()
        return super()._repr_html_inner()

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the fitted model to ``path`` as JSON (see ``docs/model-format.md``).

        :func:`regmix.load` reads it back; predictions are reproduced exactly.
        """
        model_file.save(self, path)
