"""Generalized linear components: Poisson, binomial, Gamma and negative binomial.

Each family is a small object plugged into the same seam as
:class:`~regmix.families.Gaussian`: per-row log-densities, additive statistics and an
M-step from them. The M-step is one Fisher-scoring (IRLS) step per EM iteration,
warm-started from the current coefficients: from the statistics ``A_k = X' diag(r_k W) X``
and ``b_k = X' (r_k u)`` of one pass (``W`` the Fisher weights, ``u`` the score with
respect to the linear predictor, ``r_k`` the weighted responsibilities) the new
coefficients are ``beta_k + A_k^-1 b_k``. This is a generalized EM step: the EM driver
keeps the log-likelihood from decreasing by halving a step that overshoots (see
:func:`regmix.em.run_em`), so every iteration still costs one pass over the rows.

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

import numpy as np
from scipy import special

from .families import ComponentParams, linear_predictor, weighted_moments
from .links import get_link

__all__ = ["Binomial", "GammaFamily", "GLMFamily", "NegativeBinomial", "Poisson",
           "solve_log_minus_digamma"]

_EPS = np.finfo(np.float64).eps
# Largest change of a coefficient in one Fisher-scoring step, in standardised units (the
# linear predictor moves by at most this much per standard deviation of a feature): far
# from the optimum a full step can overshoot into overflow, near it steps are small.
_MAX_STEP = 4.0


def solve_log_minus_digamma(c: np.ndarray, upper: float) -> np.ndarray:
    """The root ``x`` of ``log x - digamma(x) = c`` for each ``c > 0``, capped at ``upper``.

    ``log x - digamma(x)`` is convex and decreasing from infinity to zero, so Newton's
    method started left of the root converges monotonically. The start is Minka's
    approximation ``(3 - c + sqrt((c - 3)^2 + 24 c)) / (12 c)``, halved until it lies left
    of the root. Used for the Gamma shape and the Student-t degrees of freedom.
    """
    c = np.asarray(c, dtype=np.float64)
    out = np.full(c.shape, float(upper))
    live = c > 1.0 / (2.0 * upper)  # log x - digamma(x) ~ 1 / (2x) for large x
    if not live.any():
        return out
    cc = c[live]
    x = (3.0 - cc + np.sqrt((cc - 3.0) ** 2 + 24.0 * cc)) / (12.0 * cc)
    for _ in range(200):
        right = np.log(x) - special.digamma(x) < cc
        if not right.any():
            break
        x[right] *= 0.5
    for _ in range(100):
        f = np.log(x) - special.digamma(x) - cc
        fp = 1.0 / x - special.polygamma(1, x)
        step = f / fp
        x = x - step
        if np.all(np.abs(step) <= 1e-15 * x):
            break
    out[live] = np.minimum(x, upper)
    return out


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
    constraints = None

    def n_parameters(self, n_components: int, n_design: int) -> int:
        """Coefficients and the estimated extras of every component."""
        n_extra = n_components * int(self.free_extra().sum())
        if self.constraints is None:
            return n_components * n_design + n_extra
        return self.constraints.n_coefficients(n_components) + n_extra

    def make_params(self, coef, extra) -> ComponentParams:
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

    def linear_predictor(self, params, XT: np.ndarray, offset=None) -> np.ndarray:
        return linear_predictor(params.coef, XT, offset)

    def mean(self, params, XT: np.ndarray, offset=None) -> np.ndarray:
        """Component means on the response scale, shape (K, n)."""
        return self.link.inverse(self.linear_predictor(params, XT, offset))

    def _extra3(self, params) -> np.ndarray:
        return params.extra[:, :, None]

    def log_density(self, params: ComponentParams, chunk, log_weights=0.0):
        """Component log-densities plus ``log_weights`` (K, n); the means as a cache."""
        eta = self.linear_predictor(params, chunk.XT, chunk.offset)
        mu, dmu, _ = self.link.derivatives(eta)
        logd = self.loglik(chunk.y, eta, mu, self._extra3(params), chunk.trials)
        logd += log_weights
        return logd, (mu, dmu)

    def statistics(self, chunk, wr: np.ndarray, params: ComponentParams, cache=None):
        """``(A, b, extra_stats)``: the IRLS normal equations per component and the
        statistics of the extras, for (K, n) weighted responsibilities ``wr``."""
        y, trials = chunk.y, chunk.trials
        extra = self._extra3(params)
        if params.coef is None:  # first step: from a smoothed response, not from coef
            mu = np.broadcast_to(self.mustart(y, trials), wr.shape)
            eta = self.link.link(mu)
            _, dmu, _ = self.link.derivatives(eta)
            W = dmu * dmu * self.fisher(mu, extra, trials)
            z = eta if chunk.offset is None else eta - chunk.offset
            if self.constraints is not None and self.constraints.fixed.any():
                z = z - self.constraints.fixed_part(chunk.XT)
        else:
            if cache is None:
                eta = self.linear_predictor(params, chunk.XT, chunk.offset)
                mu, dmu, _ = self.link.derivatives(eta)
            else:
                mu, dmu = cache
            W = dmu * dmu * self.fisher(mu, extra, trials)
            score = self.mu_derivatives(y, mu, extra, trials)[0] * dmu
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(W > 0, score / W, 0.0)
        A, b, _ = weighted_moments(chunk.XT, wr * W, z)
        return A, b, self.extra_statistics(y, mu, extra, trials, wr)

    def m_step(self, stats, resp_sum: np.ndarray, params: ComponentParams):
        """One Fisher-scoring step per component, then the extras.

        Returns
        -------
        params : ComponentParams
        rank_deficient : ndarray of bool, shape (K,)
        """
        from .constraints import coefficient_update

        A, b, extra_stats = stats
        K, p = b.shape
        cons = self.constraints
        coef = np.zeros((K, p)) if params.coef is None else params.coef
        if params.coef is None and cons is not None:
            coef = cons.with_fixed(coef)
        live = resp_sum > 1e-12 * max(float(resp_sum.sum()), 1e-300)
        new, delta, deficient = coefficient_update(A, b, coef, live, cons)
        size = float(np.abs(delta).max(initial=0.0))
        if params.coef is not None and size > _MAX_STEP:  # a trust region for the step
            new = coef + delta * (_MAX_STEP / size)  # one factor: keeps common columns equal
        coef = new
        extra = params.extra.copy()
        # a first step from the data says nothing yet about the dispersion
        if extra.shape[1] and live.any() and params.coef is not None:
            new = self.update_extra(extra_stats[live], resp_sum[live], extra[live])
            free = self.free_extra()
            extra[np.ix_(live, free)] = np.clip(new[:, free], *self.extra_bounds)
        return ComponentParams(coef, extra), deficient

    def to_vector(self, params: ComponentParams) -> np.ndarray:
        """Unconstrained coordinates ``(coef, log extras)`` for EM acceleration."""
        return np.concatenate([params.coef.ravel(), np.log(params.extra).ravel()])

    def from_vector(self, vec: np.ndarray, like: ComponentParams) -> ComponentParams:
        K, p = like.coef.shape
        extra = np.exp(vec[K * p :].reshape(like.extra.shape))
        extra = np.clip(extra, *self.extra_bounds)
        fixed = ~self.free_extra()
        extra[:, fixed] = like.extra[:, fixed]
        return ComponentParams(vec[: K * p].reshape(K, p).copy(), extra)

    def to_user(self, params: ComponentParams, standardization) -> ComponentParams:
        return ComponentParams(standardization.to_user(params.coef), params.extra.copy())

    def to_internal(self, params: ComponentParams, standardization) -> ComponentParams:
        return ComponentParams(standardization.to_internal(params.coef), params.extra.copy())

    def row_derivatives(self, params: ComponentParams, chunk):
        """Per-row log-density and derivatives for the observed information; see
        :meth:`regmix.families.Gaussian.row_derivatives`."""
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
               rng: np.random.Generator, offset=None, trials=None) -> np.ndarray:
        """Draw responses for design rows ``X`` (n, n_design) from components ``labels``."""
        eta = np.einsum("ij,ij->i", X, params.coef[labels])
        if offset is not None:
            eta = eta + offset
        return self.draw(self.link.inverse(eta), params.extra[labels], trials, rng)


def _check_counts(y: np.ndarray, what: str, start: int, complete: bool) -> None:
    bad = (y < 0) | (y != np.floor(y))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"the {what} response must be non-negative integer counts; "
                         f"y[{start + i}] = {y[i]:g}")
    if complete and not np.any(y > 0):
        raise ValueError(f"every count of the {what} response is zero: the means go to zero "
                         "and the coefficients to minus infinity")


class Poisson(GLMFamily):
    """Poisson components, ``y | x, k ~ Poisson(mu_k)``, ``g(mu_k) = x' beta_k + offset``.

    Parameters
    ----------
    link : {"log", "identity"}, default="log"
        The canonical log link (flexmix's and glm's default).
    """

    name = "poisson"
    label = "Poisson"
    allowed_links = ("log", "identity")

    def loglik(self, y, eta, mu, extra, trials):
        if self.link_name == "log":
            return y * eta - mu - special.gammaln(y + 1.0)
        return special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)

    def mu_derivatives(self, y, mu, extra, trials):
        m = np.maximum(mu, 1e-300)
        return y / m - 1.0, -y / (m * m)

    def fisher(self, mu, extra, trials):
        return 1.0 / np.maximum(mu, 1e-300)

    def mustart(self, y, trials):
        return y + 0.1

    def check_response(self, y, trials=None, *, start=0, complete=True):
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        _check_counts(y, "Poisson", start, complete)

    def draw(self, mu, extra, trials, rng):
        return rng.poisson(mu).astype(np.float64)


class Binomial(GLMFamily):
    """Binomial components: ``y`` successes out of ``m`` trials with probability
    ``p_k``, ``g(p_k) = x' beta_k + offset``.

    The response is either 0/1 (one trial per row) or successes together with the
    number of trials per row (``fit(X, y, trials=m)``, or ``y`` with two columns
    ``[successes, failures]`` as R's ``cbind(s, f)``).

    Parameters
    ----------
    link : {"logit", "probit", "cloglog"}, default="logit"
    """

    name = "binomial"
    label = "Binomial"
    allowed_links = ("logit", "probit", "cloglog")

    @staticmethod
    def _m(trials):
        return 1.0 if trials is None else trials

    def loglik(self, y, eta, mu, extra, trials):
        m = self._m(trials)
        const = special.gammaln(m + 1.0) - special.gammaln(y + 1.0) - special.gammaln(
            m - y + 1.0)
        if self.link_name == "logit":
            return const - y * np.logaddexp(0.0, -eta) - (m - y) * np.logaddexp(0.0, eta)
        return const + special.xlogy(y, mu) + special.xlog1py(m - y, -mu)

    def mu_derivatives(self, y, mu, extra, trials):
        m = self._m(trials)
        p = np.clip(mu, _EPS, 1.0 - _EPS)
        q = 1.0 - p
        return y / p - (m - y) / q, -y / (p * p) - (m - y) / (q * q)

    def fisher(self, mu, extra, trials):
        p = np.clip(mu, _EPS, 1.0 - _EPS)
        return self._m(trials) / (p * (1.0 - p))

    def mustart(self, y, trials):
        m = self._m(trials)
        return (y + 0.5) / (m + 1.0)

    def check_response(self, y, trials=None, *, start=0, complete=True):
        if trials is None:
            bad = (y != 0) & (y != 1)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(
                    f"a binomial response without trials must be 0 or 1; y[{start + i}] = "
                    f"{y[i]:g} (pass trials= or two columns [successes, failures] for counts)")
            m = np.ones_like(y)
        else:
            m = trials
            bad = ~(m > 0) | ~np.isfinite(m)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial trials must be positive; trials[{start + i}] = "
                                 f"{m[i]:g}")
            bad = y < 0
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial successes must be non-negative; y[{start + i}] = "
                                 f"{y[i]:g}")
            bad = y > m
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"binomial successes exceed the trials in row {start + i}: "
                                 f"{y[i]:g} > {m[i]:g}")
        if complete and (not np.any(y > 0) or not np.any(y < m)):
            which = "successes" if not np.any(y > 0) else "failures"
            raise ValueError(f"the binomial response has no {which}: the probabilities go to "
                             "the boundary and the coefficients to infinity")

    def draw(self, mu, extra, trials, rng):
        m = np.ones(mu.shape[0], dtype=np.int64) if trials is None else np.asarray(
            trials).astype(np.int64)
        return rng.binomial(m, np.clip(mu, 0.0, 1.0)).astype(np.float64)


class GammaFamily(GLMFamily):
    """Gamma components with mean ``mu_k`` and shape ``nu_k`` (``Var = mu^2 / nu``).

    Parameters
    ----------
    link : {"log", "inverse", "identity"}, default="log"
        The log link keeps every mean positive; it is what flexmix's users of Gamma
        mixtures usually choose (R's canonical link for the Gamma is the inverse).
    shape : float, optional
        A known shape, the same for every component (``shape=1``: exponential
        components); None (default) estimates one shape per component by maximum
        likelihood.
    """

    name = "gamma"
    label = "Gamma"
    allowed_links = ("log", "inverse", "identity")
    extra_names = ("shape",)

    def __init__(self, link: str | None = None, shape: float | None = None) -> None:
        super().__init__(link)
        if shape is not None and not (np.isfinite(shape) and shape > 0):
            raise ValueError(f"shape must be a positive number or None; got {shape!r}")
        self.shape = None if shape is None else float(shape)

    def __repr__(self) -> str:
        return f"GammaFamily(link={self.link_name!r}, shape={self.shape!r})"

    def free_extra(self):
        return np.array([self.shape is None])

    def loglik(self, y, eta, mu, extra, trials):
        nu = extra[:, 0]
        log_mu = eta if self.link_name == "log" else np.log(mu)
        return (nu * np.log(nu) - special.gammaln(nu) + (nu - 1.0) * np.log(y)
                - nu * (y / mu + log_mu))

    def mu_derivatives(self, y, mu, extra, trials):
        nu = extra[:, 0]
        return nu * (y - mu) / (mu * mu), nu * (mu - 2.0 * y) / (mu * mu * mu)

    def fisher(self, mu, extra, trials):
        return extra[:, 0] / (mu * mu)

    def mustart(self, y, trials):
        return y

    def default_extra(self):
        return np.array([1.0 if self.shape is None else self.shape])

    def extra_statistics(self, y, mu, extra, trials, wr):
        t = np.log(y / mu) - y / mu
        return np.einsum("kn,kn->k", wr, t)[:, None]

    def update_extra(self, stats, resp_sum, extra):
        # maximise sum r [nu log nu - lgamma(nu) + nu (log(y/mu) - y/mu)] over nu
        c = -stats[:, 0] / resp_sum - 1.0
        return solve_log_minus_digamma(c, self.extra_bounds[1])[:, None]

    def extra_derivatives(self, y, mu, extra, trials):
        nu = extra[:, 0]
        l1 = np.log(nu) + 1.0 - special.digamma(nu) + np.log(y / mu) - y / mu
        l2 = 1.0 / nu - special.polygamma(1, nu)
        e1 = nu * l1
        e2 = e1 + nu * nu * l2
        cross = nu * (y - mu) / (mu * mu)
        return e1[:, None], e2[:, None, None], cross[:, None]

    def check_response(self, y, trials=None, *, start=0, complete=True):
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        bad = ~(y > 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"the Gamma response must be positive; y[{start + i}] = "
                             f"{y[i]:g}")
        if complete and np.ptp(y) == 0:
            raise ValueError(f"y is constant (every value is {y[0]:g}): the Gamma shape is "
                             "unbounded")

    def draw(self, mu, extra, trials, rng):
        nu = extra[:, 0]
        return rng.gamma(nu, mu / nu)


class NegativeBinomial(GLMFamily):
    """Negative-binomial (NB2) components: mean ``mu_k``, size ``theta_k``,
    ``Var = mu + mu^2 / theta`` (R's ``MASS::glm.nb`` and Stata's ``nbreg``).

    Parameters
    ----------
    size : float, optional
        A known size, the same for every component; None (default) estimates one size
        per component by maximum likelihood.
    link : {"log"}, default="log"
    """

    name = "negative_binomial"
    label = "Negative binomial"
    allowed_links = ("log",)
    extra_names = ("size",)

    def __init__(self, size: float | None = None, link: str | None = None) -> None:
        super().__init__(link)
        if size is not None and not (np.isfinite(size) and size > 0):
            raise ValueError(f"size must be a positive number or None; got {size!r}")
        self.size = None if size is None else float(size)

    def __repr__(self) -> str:
        return f"NegativeBinomial(size={self.size!r}, link={self.link_name!r})"

    def free_extra(self):
        return np.array([self.size is None])

    def default_extra(self):
        return np.array([10.0 if self.size is None else self.size])

    def loglik(self, y, eta, mu, extra, trials):
        th = extra[:, 0]
        log_mu = eta if self.link_name == "log" else np.log(mu)
        log_sum = np.logaddexp(np.log(th), log_mu)
        return (special.gammaln(y + th) - special.gammaln(th) - special.gammaln(y + 1.0)
                + th * (np.log(th) - log_sum) + y * (log_mu - log_sum))

    def mu_derivatives(self, y, mu, extra, trials):
        th = extra[:, 0]
        m = np.maximum(mu, 1e-300)
        s = th + m
        return th * (y - m) / (m * s), -y / (m * m) + (th + y) / (s * s)

    def fisher(self, mu, extra, trials):
        th = extra[:, 0]
        m = np.maximum(mu, 1e-300)
        return th / (m * (th + m))

    def mustart(self, y, trials):
        return y + (y == 0) / 6.0

    def _theta_derivatives(self, y, mu, th):
        s = th + mu
        l1 = special.digamma(y + th) - special.digamma(th) + np.log(th / s) + 1.0 - (th + y) / s
        l2 = (special.polygamma(1, y + th) - special.polygamma(1, th) + 1.0 / th - 2.0 / s
              + (th + y) / (s * s))
        return l1, l2

    def extra_statistics(self, y, mu, extra, trials, wr):
        th = extra[:, 0]
        l1, l2 = self._theta_derivatives(y, mu, th)
        e1 = th * l1
        e2 = e1 + th * th * l2
        return np.column_stack([np.einsum("kn,kn->k", wr, e1), np.einsum("kn,kn->k", wr, e2)])

    def update_extra(self, stats, resp_sum, extra):
        # one Newton step on log(size); a gradient step of one unit where Q is not concave
        g, h = stats[:, 0], stats[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(h < 0, -g / h, np.sign(g))
        step = np.clip(np.nan_to_num(step), -3.0, 3.0)
        return extra * np.exp(step)[:, None]

    def extra_derivatives(self, y, mu, extra, trials):
        th = extra[:, 0]
        l1, l2 = self._theta_derivatives(y, mu, th)
        e1 = th * l1
        e2 = e1 + th * th * l2
        cross = th * (y - mu) / (th + mu) ** 2
        return e1[:, None], e2[:, None, None], cross[:, None]

    def check_response(self, y, trials=None, *, start=0, complete=True):
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        _check_counts(y, "negative binomial", start, complete)

    def draw(self, mu, extra, trials, rng):
        th = extra[:, 0]
        return rng.negative_binomial(th, th / (th + mu)).astype(np.float64)
