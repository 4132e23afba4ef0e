"""Negative-binomial regression components with a size (dispersion) per component."""

from __future__ import annotations

import numpy as np
from scipy import special

from regmix.core.choices import FAMILY_LINKS
from regmix.families.glm import GLMFamily, _check_counts, zero_counts_at_bound

_LARGE_C = 1e9


def solve_log_minus_digamma(c: np.ndarray, upper: float) -> np.ndarray:
    """The root ``x`` of ``log x - digamma(x) = c`` for each ``c > 0``, capped at ``upper``.

    ``log x - digamma(x)`` is convex and decreasing from infinity to zero, so Newton's
    method started left of the root converges monotonically. The start is Minka's
    approximation ``(3 - c + sqrt((c - 3)^2 + 24 c)) / (12 c)``, halved until it lies left
    of the root. Used for the Gamma shape and the Student-t degrees of freedom.
    """
    c = np.asarray(c, dtype=np.float64)
    out = np.full(c.shape, float(upper))
    # log x - digamma(x) ~ 1 / x - log x for small x: beyond _LARGE_C the root is 1 / c
    # to a relative 1e-8 (and Newton's steps would leave the normal numbers)
    large = c >= _LARGE_C
    out[large] = 1.0 / c[large]
    live = (c > 1.0 / (2.0 * upper)) & ~large  # log x - digamma(x) ~ 1 / (2x) for large x
    if not live.any():
        return out
    cc = c[live]
    x = (3.0 - cc + np.hypot(cc - 3.0, np.sqrt(24.0 * cc))) / (12.0 * cc)
    for _ in range(200):
        right = np.log(x) - special.digamma(x) < cc
        if not right.any():
            break
        x[right] *= 0.5
    # Newton's steps shrink, quadratically near the root, until round-off in
    # log x - digamma(x) (whose two terms cancel to 1 / (2x) for large x) dominates: a
    # root whose step stops shrinking is there, and is left alone
    moving = np.ones(x.shape, dtype=bool)
    last = np.full(x.shape, np.inf)
    for _ in range(100):
        xm = x[moving]
        f = np.log(xm) - special.digamma(xm) - cc[moving]
        fp = 1.0 / xm - special.zeta(2.0, xm)  # the trigamma function
        step = np.abs(f / fp)
        # far from the root the steps shrink steadily, near it quadratically
        shrinks = step < np.where(step < 1e-6 * xm, 0.5, 1.0) * last[moving]
        x[moving] = np.where(shrinks, xm - f / fp, xm)
        last[moving] = step
        moving[moving] = shrinks & (step > 1e-15 * xm)
        if not moving.any():
            break
    out[live] = np.minimum(x, upper)
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
    y, th = np.broadcast_arrays(np.asarray(y, dtype=np.float64),
                                np.asarray(th, dtype=np.float64))
    out = np.empty(y.shape)
    big = th >= _STIRLING_SIZE
    if big.any():
        a, b = th[big], th[big] + y[big]
        out[big] = ((b - 0.5) * np.log1p(y[big] / a) - y[big]
                    + (1.0 / b - 1.0 / a) / 12.0 - (1.0 / b**3 - 1.0 / a**3) / 360.0
                    + (1.0 / b**5 - 1.0 / a**5) / 1260.0)
    small = ~big
    if small.any():
        a, yy = th[small], y[small]
        out[small] = special.gammaln(yy + a) - special.gammaln(a) - yy * np.log(a)
    return out


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
        return (log_rising_ratio(y, th) - special.gammaln(y + 1.0) + y * log_mu
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
