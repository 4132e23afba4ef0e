"""Standard errors and confidence intervals for a fitted mixture of linear regressions.

Two routes are offered:

* **Observed information.** :func:`observed_information` is minus the exact analytic
  Hessian of the observed-data log-likelihood, gathered in one chunked pass over the
  rows; :func:`covariance` turns it into the covariance of the natural parameters by
  the delta method, and :func:`coef_table` into a Wald table.
* **Bootstrap.** :func:`bootstrap` refits on resampled rows (nonparametric) or on
  responses simulated from the fit (parametric), undoes label switching by matching
  each replicate's components to the reference fit, and summarises the replicates.

Everything here works on plain NumPy arrays; the parameters of a K-component mixture
with a design of ``p`` columns (intercept first when there is one) are

* ``weights`` of shape (K,), the mixing proportions;
* ``coef_full`` of shape (K, p), the coefficients on the design;
* ``sigma`` of shape (K,), the noise standard deviations.

The information is taken in the unconstrained parametrisation
``theta = (b_1, log s_1, ..., b_K, log s_K, eta_2, ..., eta_K)`` with
``pi = softmax(0, eta_2, ..., eta_K)``, of dimension ``K * (p + 1) + K - 1``. The
natural parameters are ordered as :func:`parameter_index`: per component the
coefficients, then ``sigma``, then ``weight``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regmix.compiled.information_kernel import (
    GaussianInformation,
    GLMInformation,
    InformationSums,
)
from regmix.core.chunk import Chunk
from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.engine.kernel import (
    add_kernel_rows,
    compiled_pass_applies,
    kernel_family,
    kernel_threads,
)
from regmix.engine.passes import chunk_posteriors, observation_posteriors, run_pass
from regmix.engine.threads import resolve_n_jobs, single_threaded_blas
from regmix.families.gaussian import Gaussian
from regmix.families.row_terms import row_terms
from regmix.mixing.constant import ConstantWeights
from regmix.mixing.gating import MultinomialLogitGating

__all__ = [
    "compiled_information_sums",
    "family_information",
    "mixture_information",
    "observation_scores",
    "observed_information",
    "parameter_index",
]


# ---------------------------------------------------------------------- parameter layout
def parameter_index(
    n_components: int, coef_names: Sequence[str], fit_intercept: bool,
    extra_names: Sequence[str] = ("sigma",), gating_names: Sequence[str] | None = None,
) -> pd.MultiIndex:
    """Labels of the natural parameters, one (component, parameter) pair each.

    Parameters
    ----------
    n_components : int
        Number of components K; components are labelled ``1, ..., K``.
    coef_names : sequence of str
        Names of the features (the columns of ``coef_``, without the intercept).
    fit_intercept : bool
        Whether each component has an intercept.
    extra_names : sequence of str, default=("sigma",)
        The family's estimated parameters besides the coefficients (``("sigma",)``
        for Gaussian components, ``()`` for Poisson, ``("shape",)`` for Gamma, ...).
    gating_names : sequence of str, optional
        With concomitant variables: the gating design's columns (``"intercept"`` and
        the variables). Components 2..K then get ``"gate:<name>"`` rows after all
        components' parameters, and no ``"weight"`` rows.

    Returns
    -------
    pandas.MultiIndex
        Levels ``component`` and ``parameter``; per component ``"intercept"`` (when
        fitted), each coefficient name, the extras and ``"weight"``, in that order.

    Raises
    ------
    ValueError
        If a name occurs twice, including a feature named like a reserved parameter.

    Examples
    --------
    >>> parameter_index(2, ["x0"], True).tolist()[:4]
    [(1, 'intercept'), (1, 'x0'), (1, 'sigma'), (1, 'weight')]
    """
    names = (["intercept"] if fit_intercept else []) + [str(c) for c in coef_names]
    names += [*extra_names, "weight"]
    duplicated = sorted({s for s in names if names.count(s) > 1})
    if duplicated:
        raise ValueError(
            f"parameter names must be unique within a component; {duplicated} occur more "
            "than once (rename features called 'intercept', 'weight' or like a family "
            "parameter such as 'sigma')"
        )
    components = range(1, int(n_components) + 1)
    if gating_names is None:
        return pd.MultiIndex.from_product([components, names],
                                          names=["component", "parameter"])
    tuples = [(k, nm) for k in components for nm in names[:-1]]
    tuples += [(k, f"gate:{g}") for k in components[1:] for g in gating_names]
    return pd.MultiIndex.from_tuples(tuples, names=["component", "parameter"])


def _check_params(weights, coef_full, extra, signed: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The parameters as float arrays, checked; ``signed``: extras of any sign (the
    covariances of random effects)."""
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    extra = np.asarray(extra, dtype=np.float64)
    coef_full = np.asarray(coef_full, dtype=np.float64)
    K = weights.shape[0]
    if extra.ndim == 1:
        extra = extra[:, None]
    if coef_full.ndim != 2 or coef_full.shape[0] != K or extra.ndim != 2 or (
            extra.shape[0] != K):
        raise ValueError(
            f"need weights (K,), coef_full (K, p) and sigma (K,) or extras (K, m); got "
            f"{weights.shape}, {coef_full.shape} and {extra.shape}"
        )
    if np.any(~(weights > 0)) or np.any(~(np.isfinite(extra) if signed else extra > 0)):
        raise ValueError("weights and sigma (and the other family parameters) must be positive")
    return weights, coef_full, extra


# ---------------------------------------------------------------------- observed information
def observed_information(
    weights,
    coef_full,
    sigma,
    D,
    y,
    w=None,
    chunk_size: int = 8192,
) -> np.ndarray:
    """Minus the analytic Hessian of the observed-data log-likelihood (Gaussian components).

    The log-likelihood is ``sum_i w_i log sum_k pi_k N(y_i; D_i' b_k, s_k^2)``, in the
    unconstrained parametrisation ``theta = (b_1, log s_1, ..., b_K, log s_K,
    eta_2, ..., eta_K)`` with ``pi = softmax(0, eta_2, ..., eta_K)``.

    Parameters
    ----------
    weights : array-like of shape (K,)
        Mixing proportions (positive, summing to one).
    coef_full : array-like of shape (K, p)
        Coefficients on the design ``D``.
    sigma : array-like of shape (K,)
        Noise standard deviations.
    D : array-like of shape (n, p)
        The full design, intercept column first when there is one.
    y : array-like of shape (n,)
        Response.
    w : array-like of shape (n,), optional
        Row weights (frequency weights); ones by default.
    chunk_size : int, default=8192
        Rows per chunk. Memory beyond the data is O(chunk_size * (K * p + d)).

    Returns
    -------
    ndarray of shape (d, d)
        The observed information, ``d = K * (p + 1) + K - 1``. At a local maximum of
        the likelihood it is positive semi-definite.

    Notes
    -----
    Row i contributes the Hessian of ``log sum_k exp(l_ik)``,
    ``sum_k r_ik (H_ik + g_ik g_ik') - gbar_i gbar_i'`` with ``l_ik = log pi_k +
    log f_ik``, ``g_ik`` and ``H_ik`` its gradient and Hessian, ``r_ik`` the posterior
    probabilities and ``gbar_i = sum_k r_ik g_ik`` the row's score. Each ``g_ik`` is
    non-zero only in component k's block and in the ``eta`` block, so the first term is
    accumulated block by block; the second is ``G' diag(w) G`` for the chunk's score
    matrix ``G``. :func:`family_information` does the same for any family.
    """

    weights, coef_full, extra = _check_params(weights, coef_full, sigma)
    D = np.asarray(D, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n = y.shape[0]
    K, p = coef_full.shape
    if D.ndim != 2 or D.shape != (n, p):
        raise ValueError(f"D must have shape ({n}, {p}); got {D.shape}")
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"w must have shape ({n},); got {w.shape}")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")

    family = Gaussian()
    params = MixtureParams(weights, family.make_params(coef_full, extra))
    layout = _Layout(K, p, 1)
    info = np.zeros((layout.dim, layout.dim))
    # Chunks are thin: BLAS on several threads would only add overhead and variance.
    with single_threaded_blas():
        for start in range(0, n, int(chunk_size)):
            rows = slice(start, start + int(chunk_size))
            chunk = Chunk(start, np.ascontiguousarray(D[rows].T), y[rows], w[rows])
            info -= _chunk_hessian(layout, family, params, chunk)
    return 0.5 * (info + info.T)


def family_information(family, weights, coef_full, extra, source,
                       chunk_size: int = 8192) -> np.ndarray:
    """Observed information of a mixture of any family, from a user-unit row source.

    The parametrisation is, per component, the coefficients and the logarithms of the
    family's free extras (sigma, shape, size, df), then ``eta_2, ..., eta_K``.
    """

    family = Gaussian() if family is None else family
    weights, coef_full, extra = _check_params(weights, coef_full, extra)
    params = MixtureParams(weights, family.make_params(coef_full, extra))
    return mixture_information(family, params, source, chunk_size)


def mixture_information(family, params, source, chunk_size: int = 8192,
                        n_jobs: int | None = 1, engine: str = "numpy") -> np.ndarray:
    """Observed information of a mixture at ``params`` (user units), any mixing model.

    The parametrisation is, per component, the coefficients and the logarithms of the
    family's free extras, then the gating coefficients ``gamma_2, ..., gamma_K`` (each
    of length q, the gating design's width; with constant weights q = 1 and ``gamma``
    is ``eta``, ``pi = softmax(0, eta)``). Grouped rows (``chunk.group_starts``) are
    handled: the observations are the groups. Constraints are not applied here: the
    caller restricts the matrix (``C' I C``) to its free parameters. ``n_jobs`` threads
    share the rows (None: every core). With ``engine="numba"``, Gaussian, Poisson,
    binomial, Gamma and negative-binomial components with constant positive weights on
    rows the compiled kernels read (in user units, ungrouped; offsets and trials in
    memory) take the compiled pass
    (:class:`~regmix.compiled.information_kernel.GaussianInformation`,
    :class:`~regmix.compiled.information_kernel.GLMInformation`: the same matrix to
    round-off; see :func:`~regmix.engine.kernel.compiled_pass_applies`); everything
    else takes the numpy pass.
    """
    sums = compiled_information_sums(family, params, source, chunk_size, n_jobs, engine)
    if sums is not None:
        return sums.result()
    return score_information(family, params, source, chunk_size, n_jobs)[1]


def compiled_information_sums(family, params, source, chunk_size: int, n_jobs: int | None,
                              engine: str, meat: bool = False) -> InformationSums | None:
    """The compiled information's sums (with ``meat``, the robust meat's) over the rows
    of ``source`` at ``params`` (user units), or None where the compiled pass does not
    apply (``engine`` other than "numba", gating, or what
    :func:`~regmix.engine.kernel.compiled_pass_applies` refuses)."""
    if engine != "numba" or params.gating is not None or not compiled_pass_applies(
            source, family, constrained=False, weights=params.weights, user_units=True,
            information=True):
        return None
    n_threads = kernel_threads(source, resolve_n_jobs(n_jobs))
    coef = params.component.coef
    sums: InformationSums
    if kernel_family(family) == "gaussian":
        sums = GaussianInformation(source.fit_intercept, coef, params.component.sigma,
                                   params.weights, n_threads=n_threads, meat=meat)
    else:
        extra = params.component.extra
        sums = GLMInformation(family.name, family.link_name, source.fit_intercept, coef,
                              params.weights, extra[:, 0] if extra.shape[1] else None,
                              bool(family.free_extra().all()), n_threads=n_threads,
                              meat=meat)
    add_kernel_rows(source, sums, chunk_size=int(chunk_size))
    return sums


def score_information(family, params, source, chunk_size: int = 8192,
                      n_jobs: int | None = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """The score (gradient of the log-likelihood), the observed information and the
    log-likelihood at ``params``, in the coordinates of :func:`mixture_information`,
    from one numpy pass over the rows of ``source`` (in the units of ``params``).

    Returns
    -------
    score : ndarray of shape (d,)
    information : ndarray of shape (d, d)
    loglik : float
    """
    K, p = params.component.coef.shape
    m = int(family.free_extra().sum())
    q = 1 if params.gating is None else params.gating.shape[1]
    layout = _Layout(K, p, m, q)

    def block_info(chunk) -> PassResult:
        hessian, score, loglik = _chunk_hessian_score(layout, family, params, chunk)
        return PassResult(loglik, np.zeros(1), (-hessian, score))

    if hasattr(source, "map_reduce"):  # computed where the rows live
        with single_threaded_blas():
            total = source.map_reduce(block_info, int(chunk_size))
    else:  # the data pass's threads and fixed reduction blocks
        total = run_pass(source, block_info, chunk_size=int(chunk_size),
                         n_jobs=resolve_n_jobs(n_jobs))
    info, score = total.stats
    return score, 0.5 * (info + info.T), float(total.loglik)


@dataclass(frozen=True)
class _Layout:
    """Positions of the parameters in ``theta``: per component the ``p`` coefficients
    and ``m`` log extras, then the gating coefficients of components 2..K (``q`` each)."""

    K: int
    p: int
    m: int = 1
    q: int = 1

    @property
    def dim(self) -> int:
        return self.K * (self.p + self.m) + (self.K - 1) * self.q

    def block(self, k: int) -> np.ndarray:
        """Indices of ``(b_k, log extras_k)``."""
        size = self.p + self.m
        return np.arange(k * size, (k + 1) * size)

    @property
    def eta(self) -> np.ndarray:
        """Indices of the gating coefficients (``eta_2, ..., eta_K`` when q = 1)."""
        return np.arange(self.K * (self.p + self.m), self.dim)


@dataclass(frozen=True)
class _ChunkTerms:
    """What a chunk's Hessian and its observations' scores share (see
    :func:`_chunk_terms`)."""

    hessian: Callable  # (k, q) -> the q-weighted sum of the rows' Hessians in block k
    r: np.ndarray  # (K, N) the observations' posterior probabilities
    pi_o: np.ndarray  # (K, N) their mixing weights
    omega: np.ndarray  # (N,) their weights
    Zo: np.ndarray  # (N, q) their gating design
    q_rows: np.ndarray  # (K, n) the rows' weighted posterior probabilities
    A: list  # per component the (N, p + m) gradients of the log density
    scores: np.ndarray  # (N, dim) the observations' scores
    obs_ll: np.ndarray  # (N,) their log-likelihood contributions (unweighted)


def _chunk_terms(layout, family, params, chunk) -> _ChunkTerms:
    """Per-observation derivatives of a chunk from the family's per-row derivatives and
    the data pass's posteriors.

    ``o`` runs over the observations: the rows (weight ``w_i``), or the groups (weight
    one, ``l_ok`` summing ``w_i log f_ik`` over the group's rows). The score of
    observation o (the gradient of ``log sum_k exp(l_ok)``) is ``gbar_o = sum_k r_ok
    g_ok`` by Fisher's identity, with ``g_ok`` the gradient of ``l_ok``, non-zero only in
    component k's block (``A_k``) and in the gating block.
    """
    if getattr(family, "group_derivatives", None) is not None:
        return _group_terms(layout, family, params, chunk)
    terms = row_terms(family, params.component, chunk)
    logf = terms.logf
    n = logf.shape[1]
    w = np.ones(n) if chunk.w is None else chunk.w
    mixing = _mixing(params)
    Z = np.ones((n, 1)) if params.gating is None else chunk.ZT.T
    # the E-step of the data pass: the observations' posteriors and log mixing weights
    r, obs_ll, logpi_o = observation_posteriors(logf, mixing.log_weights(params, chunk),
                                                chunk)
    starts = chunk.group_starts
    if starts is None:
        omega, Zo = w, Z
    else:
        omega, Zo = np.ones(starts.size), Z[starts]
    pi_o = np.exp(np.broadcast_to(logpi_o, r.shape))
    r_rows = r if starts is None else np.repeat(r, np.diff(np.append(starts, n)), axis=1)
    A = [a if starts is None else np.add.reduceat(a * w[:, None], starts, axis=0)
         for a in terms.grad]  # per component (N, p + m)
    return _ChunkTerms(terms.hessian, r, pi_o, omega, Zo, w * r_rows, A,
                       _observation_scores(layout, r, pi_o, Zo, A), obs_ll)


def _mixing(params):
    return ConstantWeights() if params.gating is None else MultinomialLogitGating()


def _observation_scores(layout, r, pi_o, Zo, A) -> np.ndarray:
    """The observations' scores (N, dim) by Fisher's identity: ``r_ok`` times the
    gradient ``A[k]`` of ``l_ok`` in component k's block, ``(r_ok - pi_ok) z_o`` in the
    gating block."""
    N = r.shape[1]
    scores = np.empty((N, layout.dim))
    scores[:, layout.eta] = ((r - pi_o)[1:].T[:, :, None] * Zo[:, None, :]).reshape(N, -1)
    for k in range(layout.K):
        scores[:, layout.block(k)] = r[k][:, None] * A[k]
    return scores


def _group_terms(layout, family, params, chunk) -> _ChunkTerms:
    """:func:`_chunk_terms` for a family whose groups' densities are not sums of row
    densities: it gives each group's gradient and Hessian itself
    (``group_derivatives``), and the data pass's E-step the posteriors."""
    if chunk.group_starts is None:
        raise ValueError(f"a {family.label} family needs grouped rows (groups=)")
    mixing = _mixing(params)
    _, obs_ll, _, r, _, ZTo = chunk_posteriors(chunk, family, mixing, params)
    _, grad, hess = family.group_derivatives(params.component, chunk)
    starts = chunk.group_starts
    N = starts.size
    logpi_o = np.broadcast_to(mixing.log_weights(params, chunk),
                              (layout.K, chunk.y.shape[0]))[:, starts]
    pi_o = np.exp(logpi_o)
    Zo = np.ones((N, 1)) if ZTo is None else ZTo.T
    A = list(grad)
    # the posterior-weighted sums of the groups' Hessians, block k's whatever the
    # rows' weights (which have no part in a group's density here)
    Hc = np.einsum("kg,kgab->kab", r, hess)
    return _ChunkTerms(lambda k, _: Hc[k], r, pi_o, np.ones(N), Zo,
                       np.zeros((layout.K, 0)), A,
                       _observation_scores(layout, r, pi_o, Zo, A), obs_ll)


def observation_scores(layout, family, params, chunk) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """The scores of a chunk's observations (rows, or groups) in ``theta``.

    Returns
    -------
    scores : ndarray of shape (N, dim)
        Each observation's gradient of its log-likelihood contribution (unweighted).
    omega : ndarray of shape (N,)
        The observations' weights (row weights; one per group).
    obs_ll : ndarray of shape (N,)
        Their log-likelihood contributions (unweighted).
    """
    terms = _chunk_terms(layout, family, params, chunk)
    return terms.scores, terms.omega, terms.obs_ll


def _chunk_hessian(layout, family, params, chunk) -> np.ndarray:
    """Hessian of the chunk's log-likelihood (see :func:`_chunk_hessian_score`)."""
    return _chunk_hessian_score(layout, family, params, chunk)[0]


def _chunk_hessian_score(layout, family, params, chunk) -> tuple[np.ndarray, np.ndarray,
                                                                   float]:
    """Hessian, gradient and value of the chunk's log-likelihood ``sum_o w_o log sum_k
    exp(l_ok)``.

    Per observation (see :func:`_chunk_terms`) the Hessian of ``log sum_k exp(l_ok)``
    is ``sum_k r_ok (H_ok + g_ok g_ok') - gbar_o gbar_o'`` with ``g_ok``, ``H_ok`` the
    gradient and Hessian of ``l_ok``, ``r_ok`` the posterior probabilities and
    ``gbar_o`` the observation's score; ``g_ok`` is non-zero only in component k's
    block and in the gating block.
    """
    K, p, m, q = layout.K, layout.p, layout.m, layout.q
    t = _chunk_terms(layout, family, params, chunk)
    r, pi_o, omega, Zo, q_rows = t.r, t.pi_o, t.omega, t.Zo, t.q_rows
    N = r.shape[1]
    H = np.zeros((layout.dim, layout.dim))
    blk = slice(0, p + m)
    for k in range(K):
        indicator = (np.arange(K) == k)[:, None] - pi_o  # (K, N)
        Ck = (indicator[1:].T[:, :, None] * Zo[:, None, :]).reshape(N, -1)
        G = np.column_stack([t.A[k], Ck])
        M = (G * (omega * r[k])[:, None]).T @ G
        M[blk, blk] += t.hessian(k, q_rows[k])
        local = np.concatenate([layout.block(k), layout.eta])
        H[np.ix_(local, local)] += M
    # Hessian of log pi_k(z) (the same for every k): -(diag(pi) - pi pi') (x) z z'
    gate = layout.eta
    for k in range(1, K):
        for j in range(k, K):
            c = omega * pi_o[k] * ((1.0 if j == k else 0.0) - pi_o[j])
            block = (Zo * c[:, None]).T @ Zo
            rows = gate[(k - 1) * q : k * q]
            cols = gate[(j - 1) * q : j * q]
            H[np.ix_(rows, cols)] -= block
            if j != k:
                H[np.ix_(cols, rows)] -= block.T
    H -= (t.scores * omega[:, None]).T @ t.scores
    return H, omega @ t.scores, float(omega @ np.where(omega > 0, t.obs_ll, 0.0))
