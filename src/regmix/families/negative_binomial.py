"""Negative-binomial regression components with a size (dispersion) per component."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from regmix.core.choices import FAMILY_LINKS
from regmix.families.constraints import log_newton_step
from regmix.families.glm import (
    GLMFamily,
    _check_counts,
    count_indices,
    log_factorials,
    per_count,
    zero_counts_at_bound,
)

_LARGE_C = 1e9


def _log_minus_digamma(x: float) -> tuple[float, float]:
    """``log x - digamma(x)`` and its derivative ``1 / x - trigamma(x)``."""
    return (math.log(x) - float(special.digamma(x)),
            1.0 / x - float(special.zeta(2.0, x)))


def _left_start(c: float, warm: float | None) -> float:
    """A point left of the root of ``log x - digamma(x) = c`` (see
    :func:`solve_log_minus_digamma`): Minka's approximation ``(3 - c + sqrt((c - 3)^2 +
    24 c)) / (12 c)``, halved until it lies left of the root, or a ``warm`` point
    where that is nearer the root. A ``warm`` point left of the root is kept as it is;
    from one right of it a Newton step lands left of it (the function is convex).
    """
    x = (3.0 - c + math.hypot(c - 3.0, math.sqrt(24.0 * c))) / (12.0 * c)
    for _ in range(200):
        if not math.log(x) - float(special.digamma(x)) < c:
            break
        x *= 0.5
    if warm is not None and x < warm < math.inf:
        f, fp = _log_minus_digamma(warm)
        x = max(x, warm if f >= c else warm - (f - c) / fp)
    return x


def _newton_root(c: float, x: float) -> float:
    """Newton's method for ``log x - digamma(x) = c`` from ``x`` left of the root."""
    # the steps shrink, quadratically near the root, until round-off in
    # log x - digamma(x) (whose two terms cancel to 1 / (2x) for large x) dominates: a
    # root whose step stops shrinking is there, and is left alone
    last = math.inf
    for _ in range(100):
        f, fp = _log_minus_digamma(x)
        f -= c
        step = abs(f / fp)
        # far from the root the steps shrink steadily, near it quadratically
        shrinks = step < (0.5 if step < 1e-6 * x else 1.0) * last
        moving = shrinks and step > 1e-15 * x
        if shrinks:
            x -= f / fp
        last = step
        if not moving:
            break
    return x


def solve_log_minus_digamma(c: np.ndarray, upper: float,
                            warm: np.ndarray | None = None) -> np.ndarray:
    """The root ``x`` of ``log x - digamma(x) = c`` for each ``c > 0``, capped at ``upper``.

    ``log x - digamma(x)`` is convex and decreasing from infinity to zero, so Newton's
    method started left of the root converges monotonically. The start is Minka's
    approximation ``(3 - c + sqrt((c - 3)^2 + 24 c)) / (12 c)``, halved until it lies
    left of the root, or ``warm`` (the previous roots, say: an EM iteration's shapes)
    where that is nearer, moved left of the root by one Newton step where it lies right
    of it; either way Newton's steps go on until round-off stops them, so the root does
    not depend on the start beyond round-off. Used for the Gamma shape and the Student-t degrees of
    freedom. The roots are few (one per component): each is solved in scalars.
    """
    c = np.asarray(c, dtype=np.float64)
    out = np.full(c.shape, float(upper))
    starts = None if warm is None else np.broadcast_to(np.asarray(warm, np.float64), c.shape)
    for i, ci in np.ndenumerate(c):
        ci = float(ci)
        # log x - digamma(x) ~ 1 / x - log x for small x: beyond _LARGE_C the root is
        # 1 / c to a relative 1e-8 (and Newton's steps would leave the normal numbers)
        if ci >= _LARGE_C:
            out[i] = 1.0 / ci
        elif ci > 1.0 / (2.0 * upper):  # log x - digamma(x) ~ 1 / (2x) for large x
            x = _left_start(ci, None if starts is None else float(starts[i]))
            out[i] = min(_newton_root(ci, x), upper)
    return out


# From this size on, log_rising_ratio takes Stirling's series (whose first omitted term,
# 1 / (1680 z^7), is below 1e-17 here) instead of the difference of two log-gamma
# values, which loses ~eps * th log th to cancellation.
_STIRLING_SIZE = 100.0


def log_rising_ratio(y: np.ndarray, th: np.ndarray) -> np.ndarray:
    """``D(y, th) = lgamma(y + th) - lgamma(th) - y log th`` (``sum_{j<y} log1p(j / th)``
    for a count ``y``), accurate for every size ``th > 0``.

    For ``th >= 100`` from Stirling's series, ``(th + y - 1/2) log1p(y / th) - y`` plus
    the differences of its ``1 / (12 z)``, ``1 / (360 z^3)`` and ``1 / (1260 z^5)``
    terms; below, from the log-gamma values.
    """
    y, th = np.asarray(y, dtype=np.float64), np.asarray(th, dtype=np.float64)
    big = th >= _STIRLING_SIZE
    if not big.any():  # (every size below: no masks, the same numbers)
        return _log_gamma_ratio(y, th)
    y, th = np.broadcast_arrays(y, th)
    big = np.broadcast_to(big, y.shape)
    out = np.empty(y.shape)
    a, b = th[big], th[big] + y[big]
    out[big] = ((b - 0.5) * np.log1p(y[big] / a) - y[big]
                + (1.0 / b - 1.0 / a) / 12.0 - (1.0 / b**3 - 1.0 / a**3) / 360.0
                + (1.0 / b**5 - 1.0 / a**5) / 1260.0)
    small = ~big
    if small.any():
        out[small] = _log_gamma_ratio(y[small], th[small])
    return out


def _log_gamma_ratio(y: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``lgamma(y + a) - lgamma(a) - y log a`` from the log-gamma values."""
    return special.gammaln(y + a) - special.gammaln(a) - y * np.log(a)


def trigamma(x: np.ndarray) -> np.ndarray:
    """The trigamma function ``psi'(x) = zeta(2, x)``: ``scipy.special.polygamma(1, x)``
    without the digamma values that it computes as well and discards."""
    return special.zeta(2.0, x)


def polygamma_differences(y: np.ndarray, th: np.ndarray) -> np.ndarray:
    """``psi(y + th) - psi(th)`` and ``psi'(y + th) - psi'(th)``, stacked: (2, K, n)
    for counts ``y`` (n,) and sizes ``th`` (K, 1).

    Where :func:`~regmix.families.glm.count_indices` applies, from the sums over the
    counts below, ``sum_{j<y} 1 / (th + j)`` and ``-sum_{j<y} 1 / (th + j)^2``, taken
    once for every count value up to the largest (a cumulative sum; exact where the
    difference of two digamma values cancels, as for a large size); else from the
    digamma and trigamma values.
    """
    th = np.asarray(th, dtype=np.float64)
    yi = count_indices(y) if th.ndim == 2 and th.shape[1] == 1 else None
    if yi is None:
        yth = y + th
        return np.stack([special.digamma(yth) - special.digamma(th),
                         trigamma(yth) - trigamma(th)])
    inv = 1.0 / (th + np.arange(int(yi.max()), dtype=np.float64))
    table = np.zeros((2, th.shape[0], inv.shape[1] + 1))
    np.cumsum(inv, axis=1, out=table[0, :, 1:])
    np.cumsum(-(inv * inv), axis=1, out=table[1, :, 1:])
    return np.take(table, yi, axis=-1)


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
    discrete = True
    allowed_links = FAMILY_LINKS["negative_binomial"]
    extra_names = ("size",)

    def __init__(self, size: float | None = None, link: str | None = None) -> None:
        super().__init__(link)
        if size is not None and not (np.isfinite(size) and size > 0):
            raise ValueError(f"size must be a positive number or None; got {size!r}")
        self.size = None if size is None else float(size)

    def __repr__(self) -> str:
        return f"NegativeBinomial(size={self.size!r}, link={self.link_name!r})"

    def free_extra(self) -> np.ndarray:
        return np.array([self.size is None])

    def default_extra(self):
        return np.array([10.0 if self.size is None else self.size])

    def loglik(self, y, eta, mu, extra, trials):
        # lgamma(y + th) - lgamma(th) - lgamma(y + 1) + th log(th / (th + mu))
        # + y log(mu / (th + mu)), written without the cancellation of its terms, each
        # of order th log th for a large size: D(y, th) - lgamma(y + 1) + y log mu
        # - (th + y) log1p(mu / th), which tends to the Poisson log-density
        th = extra[:, 0]
        log_mu = eta if self.link_name == "log" else np.log(mu)
        ratio = np.exp(log_mu - np.log(th))  # mu / th
        return (per_count(log_rising_ratio, y, th) - log_factorials(y)[0] + y * log_mu
                - (th + y) * np.log1p(ratio))

    def mu_derivatives(self, y, mu, extra, trials):
        th = extra[:, 0]
        m = np.maximum(mu, 1e-300)
        s = th + m
        return th * (y - m) / (m * s), -y / (m * m) + (th + y) / (s * s)

    def fisher(self, mu, extra, trials):
        th = extra[:, 0]
        m = np.maximum(mu, 1e-300)
        return th / (m * (th + m))

    def working(self, y, mu, dmu, extra, trials):
        # W = dmu^2 th / (mu (th + mu)) and u = dmu th (y - mu) / (mu (th + mu))
        th = extra[:, 0]
        m = np.maximum(mu, 1e-300)
        v = dmu * th / (m * (th + m))
        return dmu * v, v * (y - m)

    def mustart(self, y, trials):
        return y + (y == 0) / 6.0

    def _theta_derivatives(self, y, mu, th):
        s = th + mu
        psi, tri = polygamma_differences(y, th)
        l1 = psi + np.log(th / s) + 1.0 - (th + y) / s
        l2 = tri + 1.0 / th - 2.0 / s + (th + y) / (s * s)
        return l1, l2

    def extra_statistics(self, y, mu, extra, trials, wr):
        th = extra[:, 0]
        l1, l2 = self._theta_derivatives(y, mu, th)
        e1 = th * l1
        e2 = e1 + th * th * l2
        return np.column_stack([np.einsum("kn,kn->k", wr, e1), np.einsum("kn,kn->k", wr, e2)])

    def update_extra(self, stats, resp_sum, extra):
        # one Newton step on log(size); a gradient step of one unit where Q is not concave
        return extra * np.exp(log_newton_step(stats[:, 0], stats[:, 1], 3.0))[:, None]

    def extra_derivatives(self, y, mu, extra, trials):
        th = extra[:, 0]
        l1, l2 = self._theta_derivatives(y, mu, th)
        e1 = th * l1
        e2 = e1 + th * th * l2
        cross = th * (y - mu) / (th + mu) ** 2
        return e1[:, None], e2[:, None, None], cross[:, None]

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        if trials is not None:
            raise ValueError("trials= applies to the binomial family only")
        _check_counts(y, "negative binomial", start, complete)

    def saturated(self, y, mu, trials):
        """See :func:`regmix.families.glm.zero_counts_at_bound`."""
        return zero_counts_at_bound(self.link_name, y, mu)

    def draw(self, mu, extra, trials, rng):
        th = extra[:, 0]
        return rng.negative_binomial(th, th / (th + mu)).astype(np.float64)
