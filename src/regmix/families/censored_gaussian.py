"""Censored and truncated Gaussian regression components: tobit, interval and truncated
regression (Stata's ``fmm: tobit``, ``fmm: intreg`` and ``fmm: truncreg``).

Each component is a Gaussian regression ``y* | x, k ~ N(x' beta_k, sigma_k^2)`` of a
latent response ``y*`` of which a row shows an interval ``[lower, upper]`` (equal limits:
the value itself; an infinite limit: censored from one side) and which is observed only
inside a truncation interval ``[trunc_lower, trunc_upper]``. A row's log-density is

* ``log phi((y - mu) / sigma) - log sigma`` for an observed value,
* ``log(Phi(b) - Phi(a))`` for a censored one (``a``, ``b`` the standardised limits),
* minus ``log(Phi(tb) - Phi(ta))``, the log-probability of the truncation interval,

all in log space (:func:`log_ndtr_diff`).

EM works on the complete data of the latent responses. Censoring: the E-step replaces a
censored row's ``y*`` and ``y*^2`` by their conditional moments under the normal
truncated to the row's interval. Truncation: each observed row stands for a geometric
number of unseen draws of the same component that fell outside the truncation interval
(mean ``(1 - P) / P`` with ``P`` the interval's probability), whose moments are those of
the normal restricted to the outside (Dempster, Laird and Rubin 1977, section 4.2;
McLachlan and Krishnan, The EM Algorithm and Extensions, section 2.8). Both make the
M-step one weighted least-squares solve from additive sums, as for the Gaussian family,
and the step is an exact EM step, so the log-likelihood never decreases.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

from regmix.core.chunk import Chunk
from regmix.core.limits import interval_limits, point_limits
from regmix.core.linalg import weighted_moments
from regmix.core.params import GaussianParams
from regmix.families.gaussian import Gaussian

__all__ = ["CensoredGaussian", "log_ndtr_diff"]

_LOG_2PI = float(np.log(2.0 * np.pi))
_LOG_2 = float(np.log(2.0))


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x <= 0``, accurate near 0 and for large ``-x``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > -_LOG_2, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_ndtr_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for ``a < b`` (either may be infinite), without
    cancellation: an interval in the upper tail is mirrored into the lower one, where
    :func:`scipy.special.log_ndtr` is accurate, and a narrow interval (width ``h``
    with ``h * max(1, |m|) < 1e-3`` around its midpoint ``m``) is the midpoint's
    density times ``h (1 + (m^2 - 1) h^2 / 24)``, whose next term is below 1e-15."""
    flip = a > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    log_hi = _log_ndtr_finite(hi, 0.0)
    out = log_hi
    one_sided = np.isneginf(lo)  # P = Phi(hi): no second term
    if not one_sided.all():
        two = ~one_sided
        out = log_hi.copy()
        out[two] += _log1mexp(special.log_ndtr(lo[two]) - log_hi[two])
    with np.errstate(invalid="ignore"):
        h, m = b - a, 0.5 * (a + b)
        narrow = h * np.maximum(1.0, np.abs(m)) < 1e-3
    if np.any(narrow):
        h, m = h[narrow], m[narrow]
        out[narrow] = (
            np.log(h) - 0.5 * m * m - 0.5 * _LOG_2PI + np.log1p((m * m - 1.0) * h * h / 24.0)
        )
    return out


def _log_ndtr_finite(x: np.ndarray, at_inf: float) -> np.ndarray:
    """:func:`scipy.special.log_ndtr` of ``x``, computed only where ``x`` is finite
    (an open limit, ``+inf``, gives ``at_inf``); the function is costly."""
    out = np.full(x.shape, at_inf)
    finite = np.isfinite(x)
    out[finite] = special.log_ndtr(x[finite])
    return out


def _times(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``u * p`` with ``inf * 0`` read as 0 (an open limit ``u``, where the density
    ratio ``p`` vanishes)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(u), u * p, 0.0)


class _Interval:
    """The standard normal on ``(a, b)``: ``log P`` and the density ratios at the ends,
    ``pa = phi(a) / P``, ``pb = phi(b) / P``, with their products by powers of ``a``,
    ``b`` (from which the moments and the derivatives of ``log P`` follow)."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.log_p = log_ndtr_diff(a, b)
        with np.errstate(over="ignore", invalid="ignore"):
            self.pa = np.exp(-0.5 * a * a - 0.5 * _LOG_2PI - self.log_p)
            self.pb = np.exp(-0.5 * b * b - 0.5 * _LOG_2PI - self.log_p)
        self.a, self.b = a, b
        self.a1, self.b1 = _times(a, self.pa), _times(b, self.pb)

    def mean(self) -> np.ndarray:
        """``E[z]`` of the standard normal truncated to the interval."""
        return self.pa - self.pb

    def second_moment(self) -> np.ndarray:
        """``E[z^2]`` of the standard normal truncated to the interval."""
        return 1.0 + self.a1 - self.b1

    def derivatives(self, s: np.ndarray) -> tuple[np.ndarray, ...]:
        """First and second derivatives of ``log P`` in ``mu`` and ``log sigma`` when
        ``a = (lo - mu) / s`` and ``b = (hi - mu) / s``: ``(d_mu, d_mu2, d_u, d_u2,
        d_mu_u)``."""
        dp = self.pa - self.pb
        d = self.a1 - self.b1
        a2, b2 = _times(self.a, self.a1), _times(self.b, self.b1)
        a3, b3 = _times(self.a, a2), _times(self.b, b2)
        return (
            dp / s,
            (d - dp * dp) / (s * s),
            d,
            -d + (a3 - b3) - d * d,
            (a2 - b2 - dp - dp * d) / s,
        )


class CensoredGaussian(Gaussian):
    """Gaussian regression components of a censored and/or truncated response.

    The response is either one column, censored at the constant points ``lower`` and
    ``upper`` (the tobit model: a value at or below ``lower`` is known only to be at
    most ``lower``), or the limits of each row: two columns ``[lower, upper]`` (equal
    for an observed value, ``-inf``, ``inf`` or NaN for an open side: interval
    regression), or four, ``[lower, upper, trunc_lower, trunc_upper]``, which add
    truncation limits per row. ``truncation`` gives truncation limits common to every
    row (truncated regression). See ``docs/censored.md``.

    Parameters
    ----------
    lower, upper : float, optional
        Constant censoring points of a one-column response; None for none.
    truncation : tuple of two floats, optional
        Constant truncation limits ``(low, high)`` (either may be infinite): rows are
        observed only inside them. None for none.
    var_floor : float, default=1e-8
        Lower bound on every ``sigma_k^2`` relative to the square of the response's
        robust scale, as for :class:`~regmix.families.gaussian.Gaussian`.
    """

    name = "censored_gaussian"
    label = "Censored Gaussian"
    init_steps = 2

    def __init__(
        self,
        lower: float | None = None,
        upper: float | None = None,
        truncation: tuple[float, float] | None = None,
        var_floor: float = 1e-8,
    ) -> None:
        super().__init__(var_floor=var_floor)
        self.lower = None if lower is None else _number(lower, "lower")
        self.upper = None if upper is None else _number(upper, "upper")
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValueError(f"lower must be below upper; got lower={lower!r}, upper={upper!r}")
        self.truncation: tuple[float, float] | None = None
        if truncation is not None:
            try:
                t_lo, t_hi = (float(t) for t in truncation)
            except (TypeError, ValueError):
                raise ValueError(
                    f"truncation must be a pair (low, high); got {truncation!r}"
                ) from None
            if np.isnan(t_lo) or np.isnan(t_hi) or not t_lo < t_hi:
                raise ValueError(
                    f"truncation must be (low, high) with low < high; got {truncation!r}"
                )
            for name, point in (("lower", self.lower), ("upper", self.upper)):
                if point is not None and not t_lo < point < t_hi:
                    raise ValueError(
                        f"the censoring point {name}={point!r} lies outside "
                        f"truncation={truncation!r}"
                    )
            self.truncation = (t_lo, t_hi)

    def __repr__(self) -> str:
        return (
            f"CensoredGaussian(lower={self.lower!r}, upper={self.upper!r}, "
            f"truncation={self.truncation!r}, var_floor={self.var_floor!r})"
        )

    # ------------------------------------------------------------------ the response
    @property
    def constant_limits(self) -> bool:
        """Whether the family has censoring points or truncation limits of its own
        (which apply to a response in memory)."""
        return self.lower is not None or self.upper is not None or self.truncation is not None

    def response_limits(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The response's representative values and its limits, from the user's
        response (one column, or two or four columns of limits).

        Returns
        -------
        y : ndarray of shape (n,)
            A value inside each row's interval (the value of an observed row, the
            finite limit of a row censored on one side, the midpoint of an interval),
            from which the response's location and scale and the starting lines are
            taken.
        limits : ndarray of shape (n, 4) or None
            ``lower, upper, trunc_lower, trunc_upper`` per row, infinite where open
            (None when every row is an observed value without truncation).

        Raises
        ------
        ValueError
            Naming the row: a value outside the censoring points or the truncation
            limits, a lower limit above the upper one, a row with no finite limit.
        """
        y = np.asarray(y, dtype=np.float64)
        t_lo, t_hi = self.truncation if self.truncation is not None else (-np.inf, np.inf)
        if y.ndim == 1:
            if not self.constant_limits:
                _check_values(y, "y")
                return y, None
            return y, point_limits(y, self.lower, self.upper, self.truncation)
        if y.ndim != 2 or y.shape[1] not in (2, 4):
            raise ValueError(
                f"the {self.name} response is one column, or two columns "
                f"[lower, upper] or four [lower, upper, trunc_lower, "
                f"trunc_upper] of limits per row; got shape {y.shape}"
            )
        if self.lower is not None or self.upper is not None:
            raise ValueError(
                "the censoring points lower= and upper= of the family apply "
                "to a one-column response; with limits per row give them in "
                "the response's columns"
            )
        if y.shape[1] == 4 and self.truncation is not None:
            raise ValueError(
                "the response has truncation limits per row; do not also "
                "give the family truncation="
            )
        rep, limits = interval_limits(y, (t_lo, t_hi))
        lo, hi = limits[:, 0], limits[:, 1]
        exact = (lo == hi) & np.isneginf(limits[:, 2]) & np.isposinf(limits[:, 3])
        return rep, (None if exact.all() else limits)

    def user_response(self, y: np.ndarray, limits: np.ndarray | None) -> np.ndarray:
        """The response in the user's form from which :meth:`response_limits` gives
        ``y`` and ``limits`` again (for a refit on resampled rows): the values for
        constant censoring points, else the limits (without the truncation columns
        when the truncation is the family's)."""
        if limits is None or self.lower is not None or self.upper is not None:
            return y
        return limits[:, :2] if self.truncation is not None else limits

    def check_response(
        self,
        y: np.ndarray,
        trials: np.ndarray | None = None,
        *,
        start: int = 0,
        complete: bool = True,
    ) -> None:
        """Any finite response is valid (its limits are checked by
        :meth:`response_limits`)."""
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")

    # ------------------------------------------------------------------ the E-step
    def _terms(self, params: GaussianParams, chunk: Chunk, moments: bool):
        """Per-row log-densities and, with ``moments``, the complete-data sums' terms:
        ``(logf, m1, m2, count)`` with ``m1``, ``m2`` the expected standardised residual
        and its square summed over a row's latent draws (the row's and the unseen
        truncated ones), and ``count`` their expected number ``1 / P`` (None without
        truncation)."""
        mu = self.linear_predictor(params, chunk.XT, chunk.offset)
        s = params.sigma[:, None]
        z = (chunk.y - mu) / s
        logf = -0.5 * z * z - (np.log(params.sigma) + 0.5 * _LOG_2PI)[:, None]
        m1 = z if moments else None
        m2 = z * z if moments else None
        count = None
        lim = chunk.limits
        if lim is None:
            return logf, m1, m2, count
        cens = np.flatnonzero(lim[0] != lim[1])
        if cens.size:
            iv = _Interval((lim[0, cens] - mu[:, cens]) / s, (lim[1, cens] - mu[:, cens]) / s)
            logf[:, cens] = iv.log_p
            if moments:
                assert m1 is not None and m2 is not None
                m1[:, cens] = iv.mean()
                m2[:, cens] = iv.second_moment()
        trunc = np.flatnonzero(np.isfinite(lim[2]) | np.isfinite(lim[3]))
        if trunc.size:
            tv = _Interval((lim[2, trunc] - mu[:, trunc]) / s, (lim[3, trunc] - mu[:, trunc]) / s)
            logf[:, trunc] -= tv.log_p
            if moments:
                assert m1 is not None and m2 is not None
                # the unseen draws outside the interval: their expected number
                # (1 - P) / P and sums E[z 1_out] / P, E[z^2 1_out] / P
                inv_p = np.exp(-tv.log_p)
                m1[:, trunc] += tv.pb - tv.pa
                m2[:, trunc] += (inv_p - 1.0) + (tv.b1 - tv.a1)
                count = np.ones_like(logf)
                count[:, trunc] = inv_p
        return logf, m1, m2, count

    def log_density(
        self, params: GaussianParams, chunk: Chunk, log_weights: np.ndarray | float = 0.0
    ) -> tuple[np.ndarray, Any]:
        """Component log-densities plus ``log_weights`` (K, n), and the moments'
        terms as the cache of :meth:`statistics`."""
        logf, m1, m2, count = self._terms(params, chunk, moments=True)
        cache = (m1, m2, count)
        logf += log_weights
        return logf, cache

    def statistics(
        self, chunk: Chunk, wr: np.ndarray, params: GaussianParams, cache: Any = None
    ) -> tuple[np.ndarray, ...]:
        """``(X'W_kX, X'R_k s_k m1_k, s_k^2 sum r m2_k, sum w_k)``: the weighted least
        squares sums of the complete data around the current lines (``W = R / P``, the
        responsibilities times the expected number of latent draws per row), and the
        expected number of draws, the count of the variance update."""
        if cache is None:
            cache = self._terms(params, chunk, moments=True)[1:]
        m1, m2, count = cache
        s = params.sigma[:, None]
        weight = wr if count is None else wr * count
        resid = s * m1 if count is None else s * m1 / count
        A, b, _ = weighted_moments(chunk.XT, weight, resid)
        c = np.einsum("kn,kn->k", wr, m2) * params.sigma**2
        return A, b, c, weight.sum(axis=1)

    def m_step(
        self,
        stats: tuple[np.ndarray, ...],
        resp_sum: np.ndarray,
        params: GaussianParams,
        count: np.ndarray | None = None,
    ) -> tuple[GaussianParams, np.ndarray]:
        """The Gaussian family's weighted least squares on the complete-data sums, the
        variance over the expected number of latent draws."""
        A, b, c, draws = stats
        return super().m_step((A, b, c), resp_sum, params, count=draws)

    # ------------------------------------------------------------------ information
    def row_derivatives(self, params: GaussianParams, chunk: Chunk) -> tuple[np.ndarray, ...]:
        """Per-row log-density and its derivatives in ``(eta, log sigma)``; see
        :meth:`regmix.families.gaussian.Gaussian.row_derivatives`."""
        logf, d1, d2, e1, e2, ce = super().row_derivatives(params, chunk)
        lim = chunk.limits
        if lim is None:
            return logf, d1, d2, e1, e2, ce
        logf, d1, d2 = logf.copy(), d1.copy(), np.array(d2)
        e1, e2, ce = e1.copy(), e2.copy(), ce.copy()
        mu = self.linear_predictor(params, chunk.XT, chunk.offset)
        s = params.sigma[:, None]
        cens = np.flatnonzero(lim[0] != lim[1])
        if cens.size:
            iv = _Interval((lim[0, cens] - mu[:, cens]) / s, (lim[1, cens] - mu[:, cens]) / s)
            logf[:, cens] = iv.log_p
            (d1[:, cens], d2[:, cens], e1[:, 0, cens], e2[:, 0, 0, cens], ce[:, 0, cens]) = (
                iv.derivatives(s)
            )
        trunc = np.flatnonzero(np.isfinite(lim[2]) | np.isfinite(lim[3]))
        if trunc.size:
            tv = _Interval((lim[2, trunc] - mu[:, trunc]) / s, (lim[3, trunc] - mu[:, trunc]) / s)
            logf[:, trunc] -= tv.log_p
            t_mu, t_mu2, t_u, t_u2, t_mu_u = tv.derivatives(s)
            d1[:, trunc] -= t_mu
            d2[:, trunc] -= t_mu2
            e1[:, 0, trunc] -= t_u
            e2[:, 0, 0, trunc] -= t_u2
            ce[:, 0, trunc] -= t_mu_u
        return logf, d1, d2, e1, e2, ce

    # ------------------------------------------------------------------ prediction
    def censored_mean(self, eta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Each component's expected recorded value (n, K) at its latent means ``eta``
        (n, K) and scales ``sigma`` (K,), user units: the mean of the latent response
        truncated to the family's truncation limits, with a value beyond a censoring
        point recorded at the point."""
        t_lo, t_hi = self.truncation if self.truncation is not None else (-np.inf, np.inf)
        lo = t_lo if self.lower is None else self.lower
        hi = t_hi if self.upper is None else self.upper

        def z(v: float) -> np.ndarray:
            return np.broadcast_to((v - eta) / sigma, eta.shape)

        log_total = log_ndtr_diff(z(t_lo), z(t_hi))
        mid = _Interval(z(lo), z(hi))
        share = np.exp(mid.log_p - log_total)
        out = eta * share + sigma * (mid.pa - mid.pb) * share
        if self.lower is not None:  # the mass below the point, recorded at it
            out += self.lower * np.exp(log_ndtr_diff(z(t_lo), z(self.lower)) - log_total)
        if self.upper is not None:
            out += self.upper * np.exp(log_ndtr_diff(z(self.upper), z(t_hi)) - log_total)
        return out

    # ------------------------------------------------------------------ simulation
    def sample(
        self,
        params: GaussianParams,
        X: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
        offset: np.ndarray | None = None,
        trials: np.ndarray | None = None,
        limits: np.ndarray | None = None,
    ) -> np.ndarray:
        """Latent responses drawn inside the truncation limits and censored.

        Without ``limits``: drawn inside the family's truncation limits, censored at
        its censoring points (a draw beyond ``lower`` is recorded as ``lower``); a
        one-column response. With ``limits`` (n, 4), the rows' own limits (user
        units, as :meth:`response_limits` gives them): each row's latent value is
        drawn from its component truncated to the row's truncation limits, and a draw
        inside a censored row's interval ``[lower, upper]`` is recorded as that
        interval, any other draw as the value itself; the result is the (n, 4)
        limits of the simulated response (the rows' truncation limits kept).
        """
        mu = np.einsum("ij,ij->i", X, params.coef[labels])
        if offset is not None:
            mu = mu + offset
        sigma = params.sigma[labels]
        if limits is not None:
            y = _truncated_normal(mu, sigma, limits[:, 2], limits[:, 3], rng)
            out = np.empty_like(limits)
            out[:, 2:] = limits[:, 2:]
            inside = (limits[:, 0] < limits[:, 1]) & (y >= limits[:, 0]) & (y <= limits[:, 1])
            out[:, 0] = np.where(inside, limits[:, 0], y)
            out[:, 1] = np.where(inside, limits[:, 1], y)
            return out
        t_lo, t_hi = self.truncation if self.truncation is not None else (-np.inf, np.inf)
        y = _truncated_normal(mu, sigma, t_lo, t_hi, rng)
        if self.lower is not None:
            y = np.maximum(y, self.lower)
        if self.upper is not None:
            y = np.minimum(y, self.upper)
        return y


def _truncated_normal(
    mu: np.ndarray, sigma: np.ndarray, lo, hi, rng: np.random.Generator
) -> np.ndarray:
    """Draws of ``N(mu, sigma^2)`` truncated to ``[lo, hi]`` (arrays or numbers, either
    side may be infinite); rows without truncation are plain normal draws."""
    y = mu + sigma * rng.standard_normal(mu.shape[0])
    lo, hi = np.broadcast_to(lo, mu.shape), np.broadcast_to(hi, mu.shape)
    cut = np.flatnonzero(np.isfinite(lo) | np.isfinite(hi))
    if cut.size:
        m, s = mu[cut], sigma[cut]
        y[cut] = stats.truncnorm.rvs(
            (lo[cut] - m) / s, (hi[cut] - m) / s, loc=m, scale=s, random_state=rng
        )
    return np.asarray(y, dtype=np.float64)


def _number(value, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or None; got {value!r}") from None
    if not np.isfinite(out):
        raise ValueError(f"{name} must be finite (None for no censoring point); got {value!r}")
    return out


def _check_values(values: np.ndarray, name: str) -> None:
    """Refuse NaN in a one-column response (limits have their NaN replaced first)."""
    bad = np.isnan(values)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"{name} is NaN at row {int(where[0])}")
