"""The label-matched bootstrap: refit on resampled rows, match components to the fitted
model, and summarise the replicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from regmix.inference.covariance import _table, _z_crit, natural_parameters
from regmix.inference.information import parameter_index


# ---------------------------------------------------------------------- bootstrap
@dataclass
class BootstrapResult:
    """Replicates of a bootstrap of a mixture fit, components matched to the reference.

    Attributes
    ----------
    replicates : pandas.DataFrame
        One row per successful replicate, columns the parameter index.
    estimates : pandas.Series
        The reference fit's parameters.
    kind : str
        ``"parametric"`` or ``"nonparametric"``.
    alpha : float
        Percentile intervals have coverage ``1 - alpha``.
    n_failed : int
        Replicates whose fit raised an exception (dropped).
    errors : list of str
        The messages of those exceptions.
    """

    replicates: pd.DataFrame
    estimates: pd.Series
    kind: str
    alpha: float = 0.05
    n_failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def n_boot(self) -> int:
        """Number of successful replicates."""
        return len(self.replicates)

    @property
    def std_err(self) -> pd.Series:
        """Standard deviation of the replicates (``ddof=1``)."""
        return self.replicates.std(ddof=1)

    @property
    def ci(self) -> pd.DataFrame:
        """Percentile intervals, columns ``ci_lower`` and ``ci_upper``."""
        q = self.replicates.quantile([self.alpha / 2, 1 - self.alpha / 2]).T
        q.columns = ["ci_lower", "ci_upper"]
        return q

    def table(self, *, no_test: Sequence[str] = ("sigma", "weight", "shape", "size", "df")
              ) -> pd.DataFrame:
        """A table with the columns of :func:`coef_table`.

        Standard errors are the bootstrap ones, ``z`` and ``p_value`` Wald statistics
        computed from them, and the intervals percentile intervals.

        Parameters
        ----------
        no_test : sequence of str, default=("sigma", "weight", "shape", "size", "df")
            Parameter names whose ``z`` and ``p_value`` are left NaN.

        Returns
        -------
        pandas.DataFrame
        """
        ci = self.ci
        method = f"{self.kind} bootstrap ({self.n_boot} replicates, percentile intervals)"
        return _table(self.estimates.to_numpy(), self.std_err.to_numpy(),
                      ci["ci_lower"].to_numpy(), ci["ci_upper"].to_numpy(),
                      self.estimates.index, self.alpha, no_test, method)


def bootstrap(
    fit_fn: Callable,
    X,
    y,
    sample_weight=None,
    n_boot: int = 200,
    kind: str = "parametric",
    random_state=None,
    sample_fn: Callable | None = None,
    alpha: float = 0.05,
    reference=None,
) -> BootstrapResult:
    """Bootstrap a mixture fit, undoing label switching.

    Parameters
    ----------
    fit_fn : callable
        ``fit_fn(X, y, w)`` returns a fitted model with attributes ``coef_``,
        ``intercept_``, ``sigma_``, ``weights_``, ``fit_intercept`` and method
        ``coef_names()`` (a fitted :class:`~regmix.RegressionMixture`). ``w`` may be
        None. It should be deterministic (fixed ``random_state``).
    X : ndarray of shape (n, n_features)
    y : ndarray of shape (n,)
    sample_weight : ndarray of shape (n,), optional
        Row weights, carried along with the rows.
    n_boot : int, default=200
        Number of replicates.
    kind : {"parametric", "nonparametric"}, default="parametric"
        Nonparametric: rows drawn with replacement. Parametric: responses simulated
        from the reference fit at the same ``X`` by ``sample_fn``.
    random_state : int, numpy Generator, SeedSequence or None
        Seed; replicate ``b`` uses the ``b``-th child of its seed sequence, so the
        result is deterministic for a given seed (and a deterministic ``fit_fn``).
    sample_fn : callable, optional
        ``sample_fn(X, rng)`` returns simulated responses for the rows of ``X`` given
        a ``numpy.random.Generator``. Defaults to the reference model's ``sample``.
    alpha : float, default=0.05
        Percentile intervals have coverage ``1 - alpha``.
    reference : fitted model, optional
        The fit to bootstrap; ``fit_fn(X, y, sample_weight)`` when None.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    RuntimeError
        If every replicate fails.

    Notes
    -----
    Each replicate's components are put in the order that minimises the total squared
    distance between its natural-parameter vectors and the reference's (an assignment
    problem, solved exactly). The distance is in the units of the parameters.
    """
    if kind not in ("parametric", "nonparametric"):
        raise ValueError(f"kind must be 'parametric' or 'nonparametric'; got {kind!r}")
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be an integer >= 2; got {n_boot!r}")
    _z_crit(alpha)
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if reference is None:
        reference = fit_fn(X, y, w)
    if sample_fn is None:
        sample_fn = _default_sample_fn(reference)
    ref = _model_parameters(reference)
    index = parameter_index(ref.shape[0], reference.coef_names(), reference.fit_intercept)
    rows, errors = [], []
    for seed in _seed_sequence(random_state).spawn(int(n_boot)):
        rng = np.random.default_rng(seed)
        Xb, yb, wb = _resample(kind, X, y, w, rng, sample_fn)
        try:
            params = _model_parameters(fit_fn(Xb, yb, wb))
        except Exception as exc:  # a failed refit is dropped and counted
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        rows.append(_match_components(params, ref).ravel())
    if not rows:
        raise RuntimeError(f"every one of the {n_boot} bootstrap fits failed; first: {errors[0]}")
    replicates = pd.DataFrame(np.array(rows), columns=index)
    return BootstrapResult(replicates, pd.Series(ref.ravel(), index=index), kind, float(alpha),
                           len(errors), errors)


def _seed_sequence(random_state) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(int(random_state.randint(2**31 - 1)))
    return np.random.SeedSequence(random_state)


def _default_sample_fn(reference) -> Callable:
    def sample_fn(X, rng):
        return reference.sample(X=X, random_state=int(rng.integers(2**31 - 1)))[1]

    return sample_fn


def _resample(kind, X, y, w, rng, sample_fn):
    if kind == "nonparametric":
        idx = rng.integers(0, y.shape[0], size=y.shape[0])
        return X[idx], y[idx], None if w is None else w[idx]
    yb = np.asarray(sample_fn(X, rng), dtype=np.float64).reshape(-1)
    if yb.shape != y.shape:
        raise ValueError(f"sample_fn returned shape {yb.shape}; expected {y.shape}")
    return X, yb, w


def _model_parameters(model) -> np.ndarray:
    """Natural parameters of a fitted model, shape (K, p + 2)."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    if model.fit_intercept:
        coef = np.column_stack([model.intercept_, coef])
    return natural_parameters(model.weights_, coef, model.sigma_).reshape(coef.shape[0], -1)


def _match_components(params: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``params`` with its components reordered to best match ``ref``'s."""
    if params.shape != ref.shape:
        raise ValueError(f"a replicate has parameters of shape {params.shape}; "
                         f"the reference {ref.shape}")
    cost = ((ref[:, None, :] - params[None, :, :]) ** 2).sum(axis=2)
    _, order = linear_sum_assignment(cost)
    return params[order]
