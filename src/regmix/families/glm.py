"""Generalized linear components: Poisson, binomial, Gamma and negative binomial.

Each family is a small object plugged into the same seam as
:class:`~regmix.families.gaussian.Gaussian`: per-row log-densities, additive statistics and an
M-step from them. The M-step is one Fisher-scoring (IRLS) step per EM iteration,
warm-started from the current coefficients: from the statistics ``A_k = X' diag(r_k W) X``
and ``b_k = X' (r_k u)`` of one pass (``W`` the Fisher weights, ``u`` the score with
respect to the linear predictor, ``r_k`` the weighted responsibilities) the new
coefficients are ``beta_k + A_k^-1 b_k``. This is a generalized EM step: the EM driver
keeps the log-likelihood from decreasing by halving a step that overshoots (see
:func:`regmix.fitting.em.run_em`), so every iteration still costs one pass over the rows.

A first M-step without coefficients starts from the data, as R's ``glm.fit`` does
(``mustart``): the working response ``g(mu_0)`` of a smoothed response is regressed on
the design.

Dispersion parameters are estimated inside the M-step: the Gamma shape exactly, given
the current means (a one-dimensional root of ``log nu - digamma(nu) = c``); the
negative-binomial size by one Newton step on ``log size``.

Everything runs in internal units, where the design is standardised but the response is
not (counts, proportions and positive values keep their meaning).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from regmix.core.chunk import Chunk, Standardization
from regmix.core.linalg import linear_predictor, weighted_moments
from regmix.core.params import ComponentParams
from regmix.families.constraints import CoefficientConstraints, coefficient_update
from regmix.families.links import get_link

__all__ = ["GLMFamily"]


_EPS = np.finfo(np.float64).eps


# A mean within this distance of a bound the link reaches only at infinity counts as on
# it (``saturated``): a logit of 18.4, a log of -18.4.
MEAN_BOUND_TOL = 1e-8


# Largest change of a coefficient in one Fisher-scoring step, in standardised units (the
# linear predictor moves by at most this much per standard deviation of a feature): far
# from the optimum a full step can overshoot into overflow, near it steps are small.
# With a link in the response's units (identity, inverse) the bound is this many times
# the largest coefficient instead.
_MAX_STEP = 4.0


class GLMFamily:
    """Base class of the generalized linear families.

    Subclasses define the per-row log-density and its derivatives with respect to the
    mean; this class turns them into the statistics and the IRLS M-step.
    """

    name = "glm"
    label = "GLM"
    allowed_links: tuple[str, ...] = ()
    location_scale = False
    exact_m_step = False
    init_steps = 2
    extra_names: tuple[str, ...] = ()
    extra_bounds: tuple[float, float] = (1e-8, 1e8)

    def __init__(self, link: str | None = None) -> None:
        self.link = get_link(link if link is not None else self.allowed_links[0],
                             self.allowed_links, self.name)
        self.link_name = self.link.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link_name!r})"

    # ------------------------------------------------------------ to be defined by families
    def loglik(self, y, eta, mu, extra, trials):
        """Per-row log-density (K, n); ``extra`` is (K, m) and broadcasts as (K, m, 1)."""
        raise NotImplementedError

    def mu_derivatives(self, y, mu, extra, trials):
        """First and second derivatives of the log-density with respect to the mean."""
        raise NotImplementedError

    def fisher(self, mu, extra, trials):
        """``E[-d^2 log f / d mu^2]``: the inverse variance of the response."""
        raise NotImplementedError

    def mustart(self, y, trials):
        """A smoothed response inside the mean's range, for the first IRLS step."""
        raise NotImplementedError

    def working(self, y, mu, dmu, extra, trials):
        """The Fisher weights ``W = dmu^2 E[-d^2 log f / d mu^2]`` and the scores
        ``u = dmu d log f / d mu`` with respect to the linear predictor (K, n), for
        means ``mu`` with link derivatives ``dmu``."""
        W = dmu * dmu * self.fisher(mu, extra, trials)
        return W, self.mu_derivatives(y, mu, extra, trials)[0] * dmu

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        """Raise ValueError naming the first invalid value of the response.

        ``start`` is the index of the first row (for the message); ``complete`` says
        whether ``y`` is the whole response, so that data-set-wide conditions (every
        count zero) are checked too, or one chunk of it.
        """
        raise NotImplementedError

    def draw(self, mu, extra, trials, rng):
        """Random responses with means ``mu`` (n,) and extras (n, m)."""
        raise NotImplementedError

    def saturated(self, y, mu, trials):
        """Which rows sit at a bound of the mean that the link reaches only as the linear
        predictor goes to infinity, with the response on that bound (their log-density
        then tends to its supremum): (K, n) booleans, or None for a family or link
        without such a bound. Coefficients that diverge make the means of the rows a
        component owns go there (see :mod:`regmix.inference.boundary`)."""
        return None

    # extras (dispersion): statistics and update; families without extras keep these
    def extra_statistics(self, y, mu, extra, trials, wr):
        """Additive statistics for the extras' update, shape (K, s)."""
        return np.zeros((wr.shape[0], 0))

    def update_extra(self, stats, resp_sum, extra):
        """New extras (K, m) from their statistics."""
        return extra

    def extra_derivatives(self, y, mu, extra, trials):
        """Derivatives of the log-density in ``log extra``: (e1, e2, cross_mu)."""
        shape = (mu.shape[0], 0, mu.shape[1])
        return np.zeros(shape), np.zeros((mu.shape[0], 0, 0, mu.shape[1])), np.zeros(shape)

    def default_extra(self) -> np.ndarray:
        """Starting extras of one component, shape (m,)."""
        return np.zeros(0)

    def free_extra(self) -> np.ndarray:
        """Which extras are estimated (the others are fixed, known values)."""
        return np.ones(len(self.extra_names), dtype=bool)

    # ------------------------------------------------------------ the family seam
    constraints: CoefficientConstraints | None = None

    def n_parameters(self, n_components: int, n_design: int) -> int:
        """Coefficients and the estimated extras of every component."""
        n_extra = n_components * int(self.free_extra().sum())
        if self.constraints is None:
            return n_components * n_design + n_extra
        return self.constraints.n_coefficients(n_components) + n_extra

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> ComponentParams:
        coef = np.asarray(coef, dtype=np.float64)
        extra = np.asarray(extra, dtype=np.float64).reshape(coef.shape[0], -1)
        return ComponentParams(coef, extra)

    def zero_params(self, n_components: int, n_design: int) -> ComponentParams:
        """A reference point without coefficients: the first M-step starts from the data."""
        return ComponentParams(None, np.tile(self.default_extra(), (n_components, 1)))

    def with_unit_scale(self, params: ComponentParams) -> ComponentParams:
        """Subset fits keep their coefficients; the extras restart from the defaults."""
        return ComponentParams(params.coef, np.tile(self.default_extra(),
                                                    (params.n_components, 1)))

    def linear_predictor(self, params: ComponentParams, XT: np.ndarray,
                         offset: np.ndarray | None = None) -> np.ndarray:
        assert params.coef is not None
        return linear_predictor(params.coef, XT, offset)

    def mean(self, params: ComponentParams, XT: np.ndarray,
             offset: np.ndarray | None = None) -> np.ndarray:
        """Component means on the response scale, shape (K, n)."""
        return self.link.inverse(self.linear_predictor(params, XT, offset))

    def _extra3(self, params: ComponentParams) -> np.ndarray:
        return params.extra[:, :, None]

    def log_density(self, params: ComponentParams, chunk: Chunk,
                    log_weights: np.ndarray | float = 0.0) -> tuple[np.ndarray, Any]:
        """Component log-densities plus ``log_weights`` (K, n); the means as a cache."""
        eta = self.linear_predictor(params, chunk.XT, chunk.offset)
        mu, dmu, _ = self.link.derivatives(eta)
        logd = self.loglik(chunk.y, eta, mu, self._extra3(params), chunk.trials)
        logd += log_weights
        return logd, (mu, dmu)

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: ComponentParams,
                   cache: Any = None) -> tuple[np.ndarray, ...]:
        """``(A, b, extra_stats)``: the IRLS normal equations per component and the
        statistics of the extras, for (K, n) weighted responsibilities ``wr``."""
        y, trials = chunk.y, chunk.trials
        extra = self._extra3(params)
        if params.coef is None:  # first step: from a smoothed response, not from coef
            mu = np.broadcast_to(self.mustart(y, trials), wr.shape)
            eta = self.link.link(mu)
            _, dmu, _ = self.link.derivatives(eta)
            W = self.working(y, mu, dmu, extra, trials)[0]
            z = eta if chunk.offset is None else eta - chunk.offset
            if self.constraints is not None and self.constraints.fixed.any():
                z = z - self.constraints.fixed_part(chunk.XT)
        else:
            if cache is None:
                eta = self.linear_predictor(params, chunk.XT, chunk.offset)
                mu, dmu, _ = self.link.derivatives(eta)
            else:
                mu, dmu = cache
            W, score = self.working(y, mu, dmu, extra, trials)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(W > 0, score / W, 0.0)
        A, b, _ = weighted_moments(chunk.XT, wr * W, z)
        return A, b, self.extra_statistics(y, mu, extra, trials, wr)

    def m_step(self, stats: tuple[np.ndarray, ...], resp_sum: np.ndarray,
               params: ComponentParams) -> tuple[ComponentParams, np.ndarray]:
        """One Fisher-scoring step per component, then the extras.

        Returns
        -------
        params : ComponentParams
        rank_deficient : ndarray of bool, shape (K,)
        """

        A, b, extra_stats = stats
        K, p = b.shape
        cons = self.constraints
        coef = np.zeros((K, p)) if params.coef is None else params.coef
        if params.coef is None and cons is not None:
            coef = cons.with_fixed(coef)
        live = resp_sum > 1e-12 * max(float(resp_sum.sum()), 1e-300)
        new, delta, deficient = coefficient_update(A, b, coef, live, cons)
        size = float(np.abs(delta).max(initial=0.0))
        bound = _MAX_STEP
        if self.link.response_units:
            bound *= float(np.abs(coef).max(initial=0.0))
        if params.coef is not None and size > bound:  # a trust region for the step
            new = coef + delta * (bound / size)  # one factor: keeps common columns equal
        coef = new
        extra = params.extra.copy()
        # a first step from the data says nothing yet about the dispersion
        if extra.shape[1] and live.any() and params.coef is not None:
            free = self.free_extra()
            if live.all() and free.all():  # (the common case, without fancy indexing)
                new = self.update_extra(extra_stats, resp_sum, extra)
                extra = np.clip(new, *self.extra_bounds)
            else:
                new = self.update_extra(extra_stats[live], resp_sum[live], extra[live])
                extra[np.ix_(live, free)] = np.clip(new[:, free], *self.extra_bounds)
        return ComponentParams(coef, extra), deficient

    def to_vector(self, params: ComponentParams) -> np.ndarray:
        """Unconstrained coordinates ``(coef, log extras)`` for EM acceleration."""
        assert params.coef is not None  # only a first M-step's reference point has none
        return np.concatenate([params.coef.ravel(), np.log(params.extra).ravel()])

    def from_vector(self, vec: np.ndarray, like: ComponentParams) -> ComponentParams:
        assert like.coef is not None
        K, p = like.coef.shape
        extra = np.exp(vec[K * p :].reshape(like.extra.shape))
        extra = np.clip(extra, *self.extra_bounds)
        fixed = ~self.free_extra()
        extra[:, fixed] = like.extra[:, fixed]
        return ComponentParams(vec[: K * p].reshape(K, p).copy(), extra)

    def to_user(self, params: ComponentParams,
                standardization: Standardization) -> ComponentParams:
        assert params.coef is not None
        return ComponentParams(standardization.to_user(params.coef), params.extra.copy())

    def to_internal(self, params: ComponentParams,
                    standardization: Standardization) -> ComponentParams:
        assert params.coef is not None
        return ComponentParams(standardization.to_internal(params.coef), params.extra.copy())

    def row_derivatives(self, params: ComponentParams,
                        chunk: Chunk) -> tuple[np.ndarray, ...]:
        """Per-row log-density and derivatives for the observed information; see
        :meth:`regmix.families.gaussian.Gaussian.row_derivatives`."""
        y, trials = chunk.y, chunk.trials
        extra = self._extra3(params)
        eta = self.linear_predictor(params, chunk.XT, chunk.offset)
        mu, dmu, d2mu = self.link.derivatives(eta)
        logf = self.loglik(y, eta, mu, extra, trials)
        l1, l2 = self.mu_derivatives(y, mu, extra, trials)
        e1, e2, cross = self.extra_derivatives(y, mu, extra, trials)
        free = self.free_extra()
        return (logf, l1 * dmu, l2 * dmu * dmu + l1 * d2mu, e1[:, free],
                e2[:, free][:, :, free], cross[:, free] * dmu[:, None, :])

    def sample(self, params: ComponentParams, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None) -> np.ndarray:
        """Draw responses for design rows ``X`` (n, n_design) from components ``labels``."""
        assert params.coef is not None
        eta = np.einsum("ij,ij->i", X, params.coef[labels])
        if offset is not None:
            eta = eta + offset
        return self.draw(self.link.inverse(eta), params.extra[labels], trials, rng)


# Beyond 2^53 float64 holds only every other integer: no longer counts.
MAX_COUNT = 2.0**53


def _check_counts(y: np.ndarray, what: str, start: int, complete: bool) -> None:
    bad = (y < 0) | (y != np.floor(y))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the {what} response must be non-negative integer counts; "
                         f"y[{start + i}] = {y[i]:g}")
    bad = y > MAX_COUNT
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the {what} response must be counts up to 2**53 = {MAX_COUNT:g}, "
                         f"beyond which float64 does not hold every integer; y[{start + i}]"
                         f" = {y[i]:g}")
    if complete and not np.any(y > 0):
        raise ValueError(f"every count of the {what} response is zero: the means go to zero "
                         "and the coefficients to minus infinity")


# Below this many rows a table over the count values (see per_count) costs more to set
# up than the log-gamma values of the rows themselves.
TABLE_MIN_ROWS = 256


def count_indices(v: np.ndarray, min_rows: int = 0) -> np.ndarray | None:
    """``v`` as integer indices when its values are whole numbers from 0 to below its
    length, and it has at least ``min_rows`` of them, else None: counts few enough
    distinct values for a table over ``0..max(v)`` (see :func:`per_count`) to cost no
    more than the rows themselves."""
    v = np.asarray(v)
    if (v.ndim != 1 or v.shape[0] < max(min_rows, 1)
            or not (0 <= v.min() and v.max() < v.shape[0])):
        return None
    vi = v.astype(np.intp)
    return vi if (vi == v).all() else None


def per_count(f, y: np.ndarray, th: np.ndarray) -> np.ndarray:
    """``f(y, th)`` for an elementwise ``f`` of counts ``y`` (n,) and per-component
    values ``th`` (K, 1): shape (K, n), or (..., K, n) for an ``f`` that stacks several
    such functions.

    When :func:`count_indices` applies to at least :data:`TABLE_MIN_ROWS` rows, ``f`` is
    evaluated once per count value ``0..max(y)`` and component and the rows take their
    values from that table: the same numbers, bit for bit, as ``f(y, th)``, for a
    fraction of the special-function calls when the counts repeat.
    """
    th = np.asarray(th)
    yi = count_indices(y, TABLE_MIN_ROWS) if th.ndim == 2 and th.shape[1] == 1 else None
    if yi is None:
        return f(y, th)
    grid = np.arange(int(yi.max()) + 1, dtype=np.float64)
    return np.take(f(grid, th), yi, axis=-1)


def log_factorials(*counts: np.ndarray) -> list[np.ndarray]:
    """``lgamma(v + 1)`` of each of several count arrays ``v`` (n,): from one table over
    ``0..max`` where :func:`count_indices` applies to each, with at least
    :data:`TABLE_MIN_ROWS` rows (the same numbers, bit for bit), else directly."""
    found = [count_indices(v, TABLE_MIN_ROWS) for v in counts]
    indices = [i for i in found if i is not None]
    if len(indices) < len(counts):
        return [special.gammaln(v + 1.0) for v in counts]
    top = max(int(i.max()) for i in indices)
    table = special.gammaln(np.arange(top + 1, dtype=np.float64) + 1.0)
    return [table[i] for i in indices]


def zero_counts_at_bound(link_name: str, y: np.ndarray, mu: np.ndarray) -> np.ndarray | None:
    """The ``saturated`` rows of a count family (Poisson, negative binomial): with the
    log link, rows of zero count whose mean is below ``MEAN_BOUND_TOL`` (the log link
    reaches 0 only at minus infinity); None with the identity link, which reaches it
    at a finite value, which is no divergence."""
    if link_name != "log":
        return None
    return (mu < MEAN_BOUND_TOL) & (y == 0)
