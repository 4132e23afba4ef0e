"""The families' shortcuts of the data pass and the M-step against the direct results:
tables over the count values, the trigamma function, the warm-started digamma root and
the Student-t derivatives in log df."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats

from regmix.families.glm import TABLE_MIN_ROWS, count_indices, log_factorials, per_count
from regmix.families.negative_binomial import (
    log_rising_ratio,
    polygamma_differences,
    solve_log_minus_digamma,
    trigamma,
)
from regmix.families.student_t import _log_df_derivatives


def _nb_terms(y, th):
    return np.stack([special.gammaln(y + th) - special.gammaln(th), log_rising_ratio(y, th)])


@pytest.mark.parametrize("n", [1, 7, TABLE_MIN_ROWS, 1000])
def test_count_table_is_the_direct_evaluation_bit_for_bit(n):
    rng = np.random.default_rng(n)
    y = rng.poisson(3.0, n).astype(np.float64)
    th = np.array([[0.3], [7.0], [250.0]])
    assert (count_indices(y, TABLE_MIN_ROWS) is not None) == (n >= TABLE_MIN_ROWS)
    np.testing.assert_array_equal(per_count(log_rising_ratio, y, th), log_rising_ratio(y, th))
    np.testing.assert_array_equal(per_count(_nb_terms, y, th), _nb_terms(y, th))
    m = y + rng.integers(0, 4, n)
    for got, v in zip(log_factorials(m, y, m - y), (m, y, m - y), strict=True):
        np.testing.assert_array_equal(got, special.gammaln(v + 1.0))


@pytest.mark.parametrize(
    "y",
    [
        np.array([0.0, 1.5, 2.0]),
        np.array([0.0, -1.0, 2.0]),
        np.array([0.0, 1.0, 5.0]),
        np.array([0.0, np.nan, 1.0]),
    ],
)
def test_count_table_falls_back_beyond_small_whole_counts(y):
    """Fractions, negative values, a largest count beyond the rows and NaN are
    evaluated directly (and give what the direct evaluation gives)."""
    assert count_indices(y) is None
    th = np.array([[2.0], [9.0]])
    np.testing.assert_array_equal(per_count(log_rising_ratio, y, th), log_rising_ratio(y, th))


@pytest.mark.parametrize("y", [np.array([0.0, 3.0, 1.0, 3.0, 0.0, 2.0]), np.array([0.5, 7.0])])
def test_digamma_and_trigamma_differences_of_counts(y):
    """The sums over the counts below (whole counts) and the digamma and trigamma values
    (otherwise) against the direct differences for moderate
    sizes, the first terms of their series in 1 / th for a large size."""
    th = np.array([[0.4], [6.0], [1e9]])
    psi, tri = polygamma_differences(y, th)
    ref_psi = special.digamma(y + th[:2]) - special.digamma(th[:2])
    ref_tri = special.polygamma(1, y + th[:2]) - special.polygamma(1, th[:2])
    np.testing.assert_allclose(psi[:2], ref_psi, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(tri[:2], ref_tri, rtol=1e-12, atol=1e-15)
    big = th[2, 0]
    if np.all(y == np.floor(y)):  # sum_{j<y} 1 / (th + j) = y / th - y (y - 1) / (2 th^2)
        np.testing.assert_allclose(psi[2], y / big - y * (y - 1) / (2 * big**2), rtol=1e-15)
        np.testing.assert_allclose(tri[2], -y / big**2, rtol=1e-8)


def test_trigamma_is_scipys_polygamma_of_order_one():
    x = np.geomspace(1e-3, 1e6, 200)
    np.testing.assert_array_equal(trigamma(x), special.polygamma(1, x))


def _brentq_root(c):
    return optimize.brentq(
        lambda t: np.log(t) - special.digamma(t) - c, 1e-12, 1e10, xtol=1e-300, rtol=1e-15
    )


@pytest.mark.parametrize("factor", [1e-6, 0.3, 1.0 - 1e-9, 1.0, 1.0 + 1e-9, 3.0, 1e6])
def test_warm_started_root_is_the_cold_root(factor):
    """From starts left of the root, right of it, and so far right that the Newton
    step would leave the positive numbers, the warm-started root is the cold one."""
    c = np.array([1e-4, 0.01, 0.07, 0.5, 3.0, 1e3])
    cold = solve_log_minus_digamma(c, 1e8)
    warm = solve_log_minus_digamma(c, 1e8, cold * factor)
    np.testing.assert_allclose(warm, cold, rtol=1e-10, atol=0)
    for ci, xi in zip(c, warm, strict=True):
        assert abs(xi - _brentq_root(ci)) <= 1e-10 * xi


def test_warm_start_out_of_range_falls_back_to_the_cold_start():
    c = np.array([0.05, 0.2, 1e-12])
    cold = solve_log_minus_digamma(c, 1e8)
    warm = solve_log_minus_digamma(c, 1e8, np.array([np.nan, -1.0, np.inf]))
    np.testing.assert_allclose(warm, cold, rtol=1e-12, atol=0)
    assert warm[2] == 1e8


def _log_df_derivatives_naive(e, s2, nu):
    """The derivatives of ``log t_nu(e; sigma)`` in ``log nu`` written out from the
    density ``lgamma((nu + 1) / 2) - lgamma(nu / 2) - log(nu pi s2) / 2 - (nu + 1) / 2
    log(1 + e^2 / (nu s2))``."""
    e2 = e * e
    D = nu * s2 + e2
    f = 0.5 * (
        special.digamma(0.5 * (nu + 1.0))
        - special.digamma(0.5 * nu)
        - 1.0 / nu
        - np.log(D / (nu * s2))
        + (nu + 1.0) * e2 / (nu * D)
    )
    fp = 0.5 * (
        0.5 * special.polygamma(1, 0.5 * (nu + 1.0))
        - 0.5 * special.polygamma(1, 0.5 * nu)
        + 1.0 / nu**2
        - s2 / D
        + 1.0 / nu
        + e2 * (nu * D - (nu + 1.0) * (D + nu * s2)) / (nu * D) ** 2
    )
    g = nu * f
    return g, g + nu * nu * fp


def test_student_t_log_df_derivatives_match_the_density():
    """Against the derivatives written out from the density, and against central
    differences of scipy's t log-density in log df."""
    rng = np.random.default_rng(3)
    nu = np.array([[0.6], [3.0], [40.0], [900.0]])
    sigma = np.array([[0.5], [1.0], [2.0], [0.8]])
    e = rng.standard_t(3.0, (4, 50)) * sigma
    q = e * e / (nu * sigma**2)
    g, h = _log_df_derivatives(q, np.log1p(q), nu)
    g0, h0 = _log_df_derivatives_naive(e, sigma**2, nu)
    scale = np.abs(g0) + 1e-6  # the naive form cancels to about eps in absolute terms
    assert np.max(np.abs(g - g0) / scale) < 1e-8
    assert np.max(np.abs(h - h0) / (np.abs(h0) + 1e-6)) < 1e-8

    def logpdf(log_nu):
        return stats.t.logpdf(e, np.exp(log_nu), scale=sigma)

    # scipy's log-density is known to about 1e-12 at 900 df: differences of 1e-3
    step = 1e-3
    lo, mid, hi = logpdf(np.log(nu) - step), logpdf(np.log(nu)), logpdf(np.log(nu) + step)
    np.testing.assert_allclose(g, (hi - lo) / (2 * step), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(h, (hi - 2 * mid + lo) / step**2, rtol=1e-4, atol=1e-5)


def test_logit_binomial_log_density_holds_where_p_rounds_to_0_or_1():
    """Against ``logaddexp`` and exact log factorials, for linear predictors out to
    where ``p`` or ``1 - p`` is below the smallest normal number."""
    from math import lgamma

    from regmix.families.binomial import Binomial

    eta = np.array([[-800.0, -40.0, -3.0, 0.0, 2.5, 40.0, 800.0]])
    trials = np.array([12.0, 7.0, 3.0, 1.0, 5.0, 9.0, 4.0])
    for y in (np.zeros(7), trials, np.floor(trials / 2)):
        got = Binomial().loglik(y, eta, special.expit(eta), None, trials)
        const = [
            lgamma(m + 1) - lgamma(k + 1) - lgamma(m - k + 1)
            for k, m in zip(y, trials, strict=True)
        ]
        want = const - y * np.logaddexp(0.0, -eta) - (trials - y) * np.logaddexp(0.0, eta)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_log_newton_step():
    """Newton's step where the function is concave, a unit gradient step elsewhere,
    bounded, and none where undefined (no curvature and no slope)."""
    from regmix.families.constraints import log_newton_step

    g = np.array([2.0, -1.0, 3.0, 0.0, 50.0, 1.0, np.nan])
    h = np.array([-4.0, -0.5, 1.0, 0.0, -1.0, -1e-300, -1.0])
    np.testing.assert_array_equal(log_newton_step(g, h, 3.0), [0.5, -2.0, 1.0, 0.0, 3.0, 3.0, 0.0])


def test_batched_normal_equations():
    """Well-conditioned systems against numpy's solver, a singular one against the
    minimum-norm solution of its system scaled to unit diagonal (pseudo-inverse),
    flagged."""
    from regmix.core.linalg import solve_normal_equations_batch

    rng = np.random.default_rng(5)
    X = rng.normal(size=(3, 4, 60)) * np.array([1.0, 1e-3, 1e3])[:, None, None]
    A = X @ X.transpose(0, 2, 1)
    v = np.array([1.0, -2.0, 0.5, 3.0])
    A[1] = np.outer(v, v)  # rank one
    b = rng.normal(size=(3, 4))
    b[1] = 2.0 * v
    x, deficient = solve_normal_equations_batch(A, b)
    np.testing.assert_array_equal(deficient, [False, True, False])
    for k in (0, 2):
        np.testing.assert_allclose(x[k], np.linalg.solve(A[k], b[k]), rtol=1e-10)
    d = np.sqrt(np.diag(A[1]))
    scaled = np.linalg.pinv(A[1] / np.outer(d, d)) @ (b[1] / d) / d
    np.testing.assert_allclose(x[1], scaled, rtol=1e-10)
    indefinite = np.array([[[1.0, 2.0], [2.0, 1.0]]])  # eigenvalues 3 and -1
    x, deficient = solve_normal_equations_batch(indefinite, np.ones((1, 2)))
    assert deficient[0]
    np.testing.assert_allclose(x[0], [1.0 / 3.0, 1.0 / 3.0], rtol=1e-12)  # the 3's part
    x, deficient = solve_normal_equations_batch(np.zeros((2, 0, 0)), np.zeros((2, 0)))
    assert x.shape == (2, 0) and not deficient.any()


def test_gamma_log_link_working_weights_are_the_general_formula():
    """``W = nu (dmu / mu)^2`` and ``u = nu (y / mu - 1) dmu / mu`` with ``dmu = mu``,
    bit for bit, and neither at rows whose mean underflows or whose score overflows."""
    from regmix.families.gamma import GammaFamily

    rng = np.random.default_rng(0)
    eta = rng.normal(size=(2, 300)) * 3
    eta[0, :3] = [-800.0, -700.0, 300.0]
    mu = np.exp(np.minimum(eta, 300.0))
    y = rng.gamma(2.0, 1.0, 300)
    y[1] = 1e100
    nu = np.array([[2.0], [7.0]])
    W, u = GammaFamily(link="log").working(y, mu, mu, nu[:, :, None], None)
    with np.errstate(all="ignore"):
        q = mu / mu
        W0, u0 = nu * q * q, nu * (y / mu - 1.0) * q
    ok = np.isfinite(u0) & (mu > 0)
    assert not ok[0, :2].any() and ok.sum() == ok.size - 2
    np.testing.assert_array_equal(W, np.where(ok, W0, 0.0))
    np.testing.assert_array_equal(u, np.where(ok, u0, 0.0))
