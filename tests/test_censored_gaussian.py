"""Censored and truncated Gaussian components against references written here.

The references are deliberately plain: row log-likelihoods from scipy.stats (the normal
density, the difference of two normal CDFs, minus the log-probability of the truncation
interval), maximised directly by scipy.optimize; one EM step from the posteriors of those
densities, the truncated-normal moments of scipy.stats.truncnorm and the moments of the
unseen truncated draws by the law of total expectation, and a numerical M-step.
"""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

import regmix
from regmix import RegressionMixture
from regmix.core.chunk import Chunk
from regmix.core.params import GaussianParams
from regmix.families.censored_gaussian import CensoredGaussian, log_ndtr_diff
from tests.reference import numerical_hessian
from tests.test_global_optimum import _best_of_100

INF = np.inf


# ----------------------------------------------------------------------------- reference
def limits_of(y, lower=None, upper=None, truncation=(-INF, INF)):
    """Per-row ``(lo, hi, t_lo, t_hi)`` of a one-column response censored at constant
    points (the tobit reading), written independently of the family."""
    y = np.asarray(y, float)
    lo = np.where(y <= lower, -INF, y) if lower is not None else y.copy()
    hi = np.where(y >= upper, INF, y) if upper is not None else y.copy()
    lo, hi = np.maximum(lo, truncation[0]), np.minimum(hi, truncation[1])
    return np.column_stack(
        [lo, hi, np.full(len(y), truncation[0]), np.full(len(y), truncation[1])]
    )


def row_loglik(D, lim, beta, sigma):
    """One component's row log-likelihoods with scipy.stats."""
    mu = D @ beta
    lo, hi, t_lo, t_hi = lim.T
    exact = lo == hi
    with np.errstate(divide="ignore"):
        cens = np.log(stats.norm.cdf(hi, mu, sigma) - stats.norm.cdf(lo, mu, sigma))
        trunc = np.log(stats.norm.cdf(t_hi, mu, sigma) - stats.norm.cdf(t_lo, mu, sigma))
    return np.where(exact, stats.norm.logpdf(lo, mu, sigma), cens) - trunc


def mixture_loglik(D, lim, weights, coef, sigma, w=None):
    lj = np.column_stack(
        [np.log(weights[k]) + row_loglik(D, lim, coef[k], sigma[k]) for k in range(len(weights))]
    )
    ll = special.logsumexp(lj, axis=1)
    return float(ll.sum() if w is None else w @ ll), lj


def direct_ml(D, lim, theta0):
    """K = 1 by BFGS on (beta, log sigma) of the row log-likelihoods."""
    p = D.shape[1]

    def nll(theta):
        with np.errstate(all="ignore"):
            value = -row_loglik(D, lim, theta[:p], np.exp(theta[p])).sum()
        return value if np.isfinite(value) else 1e300

    res = optimize.minimize(nll, theta0, method="BFGS", options={"gtol": 1e-8})
    return res.x[:p], float(np.exp(res.x[p])), -float(res.fun)


def reference_em_step(D, lim, weights, coef, sigma):
    """One EM step: scipy posteriors and moments, a numerical M-step per component."""
    _, lj = mixture_loglik(D, lim, weights, coef, sigma)
    r = np.exp(lj - special.logsumexp(lj, axis=1, keepdims=True))
    lo, hi, t_lo, t_hi = lim.T
    exact = lo == hi
    new_coef, new_sigma = [], []
    for k in range(len(weights)):
        mu, s = D @ coef[k], sigma[k]
        a, b = (lo - mu) / s, (hi - mu) / s
        with np.errstate(invalid="ignore"):
            m_in = stats.truncnorm.mean(a, b, loc=mu, scale=s)
            v_in = stats.truncnorm.var(a, b, loc=mu, scale=s)
        m1 = np.where(exact, lo, m_in)
        m2 = np.where(exact, lo * lo, v_in + m_in**2)
        # unseen draws outside the truncation interval, by total expectation
        ta, tb = (t_lo - mu) / s, (t_hi - mu) / s
        P = stats.norm.cdf(tb) - stats.norm.cdf(ta)
        t_m = stats.truncnorm.mean(ta, tb, loc=mu, scale=s)
        t_m2 = stats.truncnorm.var(ta, tb, loc=mu, scale=s) + t_m**2
        count = (1 - P) / P
        out1 = (mu - P * t_m) / P  # count * E[y | outside]
        out2 = (mu**2 + s**2 - P * t_m2) / P
        rk = r[:, k]

        def neg_q(theta, rk=rk, m1=m1, m2=m2, count=count, out1=out1, out2=out2):
            beta, log_s = theta[:-1], theta[-1]
            eta = D @ beta
            ss = (m2 - 2 * m1 * eta + eta**2) + (out2 - 2 * out1 * eta + count * eta**2)
            q = rk @ (-(1 + count) * log_s - ss / (2 * np.exp(2 * log_s)))
            g_beta = D.T @ (rk * ((m1 + out1) - (1 + count) * eta)) / np.exp(2 * log_s)
            g_s = rk @ (-(1 + count) + ss / np.exp(2 * log_s))
            return -q, -np.append(g_beta, g_s)

        res = optimize.minimize(
            neg_q,
            np.append(coef[k], np.log(s)),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-12, "maxiter": 10000},
        )
        new_coef.append(res.x[:-1])
        new_sigma.append(np.exp(res.x[-1]))
    return r.mean(axis=0), np.array(new_coef), np.array(new_sigma)


def two_component_data(n=600, seed=0):
    """Two lines, a latent response left-censored at 0, right-censored at 6."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    z = rng.random(n) < 0.4
    ystar = np.where(z, 3.0 + 1.5 * x, 1.0 - 1.0 * x) + rng.normal(size=n) * np.where(z, 0.6, 1.0)
    return x[:, None], np.clip(ystar, 0.0, 6.0), ystar


def interval_data(n=500, seed=1, truncate=False):
    """A four-column response: exact values, intervals, both one-sided censorings and
    (optionally) truncation limits per row."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.random(n) < 0.5
    ystar = np.where(z, 2.0 + 1.0 * x, -1.0 + 0.5 * x) + rng.normal(size=n) * np.where(z, 0.7, 1.0)
    t_lo = np.where(rng.random(n) < 0.5, -2.5, -INF) if truncate else np.full(n, -INF)
    keep = ystar > t_lo
    x, ystar, t_lo, z = x[keep], ystar[keep], t_lo[keep], z[keep]
    n = len(x)
    kind = rng.integers(0, 4, n)
    lo, hi = ystar.copy(), ystar.copy()
    lo[kind == 1], hi[kind == 1] = np.floor(ystar[kind == 1]), np.floor(ystar[kind == 1]) + 1
    lo[kind == 2] = np.nan  # left-censored at the next integer above
    hi[kind == 2] = np.ceil(ystar[kind == 2])
    lo[kind == 3], hi[kind == 3] = np.floor(ystar[kind == 3]), INF
    return x[:, None], np.column_stack([lo, hi, t_lo, np.full(n, INF)]), z


def design(X):
    return np.column_stack([np.ones(len(X)), X])


def as_limits(Y):
    lim = np.array(Y, dtype=float)
    lim[:, 0] = np.where(np.isnan(lim[:, 0]), -INF, lim[:, 0])
    lim[:, 1] = np.where(np.isnan(lim[:, 1]), INF, lim[:, 1])
    lim[:, 0], lim[:, 1] = np.maximum(lim[:, 0], lim[:, 2]), np.minimum(lim[:, 1], lim[:, 3])
    return lim


def params_of(model):
    return model.weights_, np.column_stack([model.intercept_, model.coef_]), model.sigma_


# ----------------------------------------------------------------------------- log-space
def test_log_ndtr_diff_is_accurate_in_both_tails():
    a = np.array([-INF, -40.0, -1.0, 0.5, 30.0, 38.0, -3.0])
    b = np.array([-38.0, -39.0, 2.0, INF, 30.5, INF, -3.0 + 1e-9])
    got = log_ndtr_diff(a, b)
    # references: log-survival / log-cdf, and mpmath-free differences where exact
    expected = [
        special.log_ndtr(-38.0),
        special.log_ndtr(-39.0)
        + np.log1p(-np.exp(special.log_ndtr(-40.0) - special.log_ndtr(-39.0))),
        np.log(special.ndtr(2.0) - special.ndtr(-1.0)),
        special.log_ndtr(-0.5),
        special.log_ndtr(-30.0)
        + np.log1p(-np.exp(special.log_ndtr(-30.5) - special.log_ndtr(-30.0))),
        special.log_ndtr(-38.0),
        # a narrow interval: its width times the midpoint's density
        np.log((b[6] - a[6]) * stats.norm.pdf(0.5 * (a[6] + b[6]))),
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert np.all(np.isfinite(got))


# ----------------------------------------------------------------------------- K = 1
@pytest.mark.parametrize("case", ["tobit", "interval", "truncated", "truncated_rows"])
def test_one_component_equals_direct_maximum_likelihood(case):
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    ystar = 1.0 + 2.0 * x + 1.5 * rng.normal(size=n)
    family, y = "censored_gaussian", None
    if case == "tobit":
        family, y = CensoredGaussian(lower=0.0, upper=4.0), np.clip(ystar, 0.0, 4.0)
        lim = limits_of(y, 0.0, 4.0)
    elif case == "interval":
        X, y, _ = interval_data(n, seed=4)
        x, y = X[:, 0], y[:, :2]
        lim = as_limits(
            np.column_stack([y, np.full((len(y), 1), -INF), np.full((len(y), 1), INF)])
        )
    elif case == "truncated":
        keep = ystar > 0.5
        x, y = x[keep], ystar[keep]
        family = CensoredGaussian(truncation=(0.5, INF))
        lim = limits_of(y, truncation=(0.5, INF))
    else:
        X, y, _ = interval_data(n, seed=5, truncate=True)
        x = X[:, 0]
        lim = as_limits(y)
    model = RegressionMixture(1, family=family, tol=1e-14, max_iter=20000, random_state=0).fit(
        x[:, None], y
    )
    D = design(x[:, None])
    beta0 = np.linalg.lstsq(D, np.where(np.isfinite(lim[:, 0]), lim[:, 0], lim[:, 1]), rcond=None)[
        0
    ]
    beta, sigma, ll = direct_ml(D, lim, np.append(beta0, np.log(2.0)))
    assert model.log_likelihood_ == pytest.approx(ll, abs=1e-6)
    np.testing.assert_allclose(np.r_[model.intercept_, model.coef_[0]], beta, atol=1e-6)
    assert model.sigma_[0] == pytest.approx(sigma, abs=1e-6)
    # the reported log-likelihood is the one of the reported parameters
    assert model.log_likelihood_ == pytest.approx(
        row_loglik(D, lim, np.r_[model.intercept_, model.coef_[0]], model.sigma_[0]).sum(),
        rel=1e-12,
    )


def test_uncensored_rows_give_the_gaussian_fit():
    X, _, ystar = two_component_data(seed=2)  # no limits: every row observed
    a = RegressionMixture(2, family="gaussian", random_state=1).fit(X, ystar)
    b = RegressionMixture(2, family="censored_gaussian", random_state=1).fit(X, ystar)
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-7, atol=1e-8)


# ----------------------------------------------------------------------------- K = 2 step
@pytest.mark.parametrize("truncate", [False, True])
def test_one_em_step_equals_the_dense_reference(truncate):
    X, Y, _ = interval_data(400, seed=6, truncate=truncate)
    lim = as_limits(Y)
    D = design(X)
    weights, coef, sigma = (
        np.array([0.55, 0.45]),
        np.array([[1.5, 0.8], [-0.5, 0.2]]),
        np.array([1.2, 0.9]),
    )
    start = {"weights": weights, "intercept": coef[:, 0], "coef": coef[:, 1:], "sigma": sigma}
    model = RegressionMixture(
        2,
        family="censored_gaussian",
        init=start,
        n_init=1,
        max_iter=1,
        accelerate=False,
        min_weight=0.0,
        compute_se=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged after one step
        model.fit(X, Y if truncate else Y[:, :2])
    ref_w, ref_coef, ref_sigma = reference_em_step(D, lim, weights, coef, sigma)
    got_w, got_coef, got_sigma = params_of(model)
    order = np.argsort(-ref_w)
    np.testing.assert_allclose(got_w, ref_w[order], rtol=1e-8)
    np.testing.assert_allclose(got_coef, ref_coef[order], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(got_sigma, ref_sigma[order], rtol=1e-8)


# ----------------------------------------------------------------------------- EM path
@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("truncate", [False, True])
def test_log_likelihood_never_decreases(accelerate, truncate):
    X, Y, _ = interval_data(500, seed=7, truncate=truncate)
    model = RegressionMixture(
        2,
        family="censored_gaussian",
        n_init=1,
        init="random",
        split_merge=False,
        accelerate=accelerate,
        random_state=3,
        compute_se=False,
    ).fit(X, Y)
    history = model.log_likelihood_history_
    assert len(history) > 5
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))
    ll, _ = mixture_loglik(design(X), as_limits(Y), *params_of(model))
    assert model.log_likelihood_ == pytest.approx(ll, rel=1e-11)


def test_recovers_the_truth_from_censored_data():
    X, y, _ = two_component_data(n=4000, seed=8)
    assert 0.1 < np.mean((y == 0) | (y == 6)) < 0.4  # substantial censoring
    model = RegressionMixture(
        2, family=CensoredGaussian(lower=0.0, upper=6.0), random_state=0
    ).fit(X, y)
    w, coef, sigma = params_of(model)
    np.testing.assert_allclose(w, [0.6, 0.4], atol=0.03)
    np.testing.assert_allclose(coef, [[1.0, -1.0], [3.0, 1.5]], atol=0.1)
    np.testing.assert_allclose(sigma, [1.0, 0.6], atol=0.06)
    # ignoring the censoring biases the slopes towards zero
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a Gaussian component may take the zeros
        naive = RegressionMixture(2, random_state=0).fit(X, y)
    assert np.abs(naive.coef_[:, 0]).min() < np.abs(model.coef_[:, 0]).min() - 0.05


# ----------------------------------------------------------------------------- inference
def test_row_derivatives_equal_finite_differences():
    """Every kind of row: observed, interval, left- and right-censored, each with and
    without truncation limits (internal units: the chunk is built by hand)."""
    lim = np.array(
        [
            [0.3, 0.3, -INF, INF],
            [-0.5, 0.7, -INF, INF],
            [-INF, 0.2, -INF, INF],
            [0.1, INF, -INF, INF],
            [0.3, 0.3, -1.0, INF],
            [-0.5, 0.7, -1.0, 2.0],
            [-1.0, 0.2, -1.0, INF],
            [0.1, 2.0, -INF, 2.0],
        ]
    ).T.copy()
    n = lim.shape[1]
    rng = np.random.default_rng(0)
    XT = np.vstack([np.ones(n), rng.normal(size=n)])
    chunk = Chunk(0, XT, np.where(lim[0] == lim[1], lim[0], 0.0), None, limits=lim)
    family = CensoredGaussian()
    coef, log_s = np.array([[0.2, 0.4]]), np.log(0.8)

    def logf(shift=0.0, t=0.0):  # shift moves the linear predictor, t log sigma
        p = GaussianParams(coef + np.array([[shift, 0.0]]), np.array([np.exp(log_s + t)]))
        return family.log_density(p, chunk)[0][0]

    f, d1, d2, e1, e2, ce = family.row_derivatives(
        GaussianParams(coef, np.array([np.exp(log_s)])), chunk
    )
    h = 1e-4
    np.testing.assert_allclose(f[0], row_loglik(XT.T, lim.T, coef[0], np.exp(log_s)), rtol=1e-12)
    close = dict(rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d1[0], (logf(h) - logf(-h)) / (2 * h), **close)
    np.testing.assert_allclose(e1[0, 0], (logf(t=h) - logf(t=-h)) / (2 * h), **close)
    np.testing.assert_allclose(
        np.broadcast_to(d2, f.shape)[0], (logf(h) - 2 * logf() + logf(-h)) / h**2, rtol=1e-5
    )
    np.testing.assert_allclose(
        e2[0, 0, 0], (logf(t=h) - 2 * logf() + logf(t=-h)) / h**2, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        ce[0, 0],
        (logf(h, h) - logf(h, -h) - logf(-h, h) + logf(-h, -h)) / (4 * h * h),
        rtol=1e-5,
        atol=1e-7,
    )


def test_standard_errors_equal_the_numerical_hessian():
    X, Y, _ = interval_data(500, seed=9, truncate=True)
    model = RegressionMixture(2, family="censored_gaussian", random_state=0).fit(X, Y)
    D, lim = design(X), as_limits(Y)
    w, coef, sigma = params_of(model)
    K, p = coef.shape

    def loglik(theta):  # natural parameters: coefficients, sigmas, first weight
        c = theta[: K * p].reshape(K, p)
        s = theta[K * p : K * p + K]
        pi = np.array([theta[-1], 1 - theta[-1]])
        return mixture_loglik(D, lim, pi, c, s)[0]

    theta = np.concatenate([coef.ravel(), sigma, w[:1]])
    H = numerical_hessian(loglik, theta, 1e-4 * np.maximum(1.0, np.abs(theta)))
    cov = np.linalg.inv(-H)
    se = np.sqrt(np.diag(cov))
    table = model.coef_table()
    got = table["std_err"].to_numpy().reshape(K, p + 2)
    np.testing.assert_allclose(got[:, :p], se[: K * p].reshape(K, p), rtol=1e-4)
    np.testing.assert_allclose(got[:, p], se[K * p : K * p + K], rtol=1e-4)
    np.testing.assert_allclose(got[:, p + 1], [se[-1], se[-1]], rtol=1e-4)
    assert "Censored Gaussian" in str(model.summary())


# ----------------------------------------------------------------------------- evaluation
def test_predict_posterior_and_log_likelihood_on_new_rows():
    X, Y, _ = interval_data(400, seed=10, truncate=True)
    model = RegressionMixture(2, family="censored_gaussian", random_state=0).fit(X, Y)
    w, coef, sigma = params_of(model)
    Xn, Yn, _ = interval_data(50, seed=11, truncate=True)
    D = design(Xn)
    # latent means: the components' lines, weighted by the mixing weights
    np.testing.assert_allclose(model.predict(Xn), (D @ coef.T) @ w, rtol=1e-12)
    ll, lj = mixture_loglik(D, as_limits(Yn), w, coef, sigma)
    post = np.exp(lj - special.logsumexp(lj, axis=1, keepdims=True))
    np.testing.assert_allclose(model.posterior(Xn, Yn), post, rtol=1e-10, atol=1e-14)
    assert model.log_likelihood(Xn, Yn) == pytest.approx(ll, rel=1e-11)


def test_sample_draws_censored_and_truncated_responses():
    X, y, _ = two_component_data(n=800, seed=12)
    family = CensoredGaussian(lower=0.0, upper=6.0, truncation=(-1.0, INF))
    model = RegressionMixture(2, family=family, random_state=0, compute_se=False).fit(X, y)
    Xs, ys, labels = model.sample(20000, random_state=1)
    assert ys.min() == 0.0 and ys.max() == 6.0
    # the share censored at 0 is the truncated normal's probability of (-1, 0]
    w, coef, sigma = params_of(model)
    mu = np.einsum("ij,ij->i", design(Xs), coef[labels])
    s = sigma[labels]
    p0 = (stats.norm.cdf(0, mu, s) - stats.norm.cdf(-1, mu, s)) / stats.norm.sf(-1, mu, s)
    assert np.mean(ys == 0.0) == pytest.approx(p0.mean(), abs=0.012)
    # the draws are a valid response of the same family
    again = RegressionMixture(2, family=family, random_state=0, compute_se=False)
    again.fit(Xs[:4000], ys[:4000])
    np.testing.assert_allclose(again.coef_, model.coef_, atol=0.1)


def test_save_and_load_reproduce_the_model(tmp_path):
    X, y, _ = two_component_data(n=500, seed=13)
    family = CensoredGaussian(lower=0.0, upper=6.0, truncation=(-1.0, INF))
    model = RegressionMixture(2, family=family, random_state=0).fit(X, y)
    path = tmp_path / "model.json"
    model.save(path)
    assert json.loads(path.read_text())  # plain JSON (no infinities)
    loaded = regmix.load(path)
    assert loaded.family_.lower == 0.0 and loaded.family_.upper == 6.0
    assert loaded.family_.truncation == (-1.0, INF)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.posterior(X, y), model.posterior(X, y))
    assert loaded.log_likelihood(X, y) == model.log_likelihood(X, y)


def test_formula_with_limit_columns():
    X, Y, _ = interval_data(300, seed=14)
    frame = pd.DataFrame({"x": X[:, 0], "lo": Y[:, 0], "hi": Y[:, 1]})
    model = RegressionMixture(
        2, family="censored_gaussian", formula="lo + hi ~ x", random_state=0, compute_se=False
    ).fit(frame)
    arrays = RegressionMixture(
        2, family="censored_gaussian", random_state=0, compute_se=False
    ).fit(X, Y[:, :2])
    assert model.log_likelihood_ == pytest.approx(arrays.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(
        model.posterior(frame), arrays.posterior(X, Y[:, :2]), rtol=1e-10, atol=1e-14
    )


# ----------------------------------------------------------------------------- start search
@pytest.mark.slow
def test_default_fit_reaches_the_best_of_many_starts():
    family = CensoredGaussian(lower=0.0, upper=6.0)
    for seed in range(3):
        X, y, _ = two_component_data(n=500, seed=20 + seed)
        default = RegressionMixture(2, family=family, random_state=seed, compute_se=False).fit(
            X, y
        )
        best = _best_of_100(X, y, 2, n_starts=40, family=family)
        assert default.log_likelihood_ >= best - 1e-5 * len(y)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "family, y, message",
    [
        (
            "censored_gaussian",
            [[0.0, 1.0], [2.0, 1.0]],
            "lower limit 2 above its upper limit 1 at row 1",
        ),
        ("censored_gaussian", [[0.0, 1.0], [np.nan, np.inf]], "no finite limit at row 1"),
        (CensoredGaussian(lower=0.0), [1.0, -0.5], "below the censoring point lower=0.0 at row 1"),
        (CensoredGaussian(truncation=(0.0, 5.0)), [1.0, 6.0], "outside its truncation limits"),
        (
            "censored_gaussian",
            [[0.0, 1.0, 0.5, 3.0], [1.0, 1.0, 2.0, 3.0]],
            "outside its truncation limits .* at row 1",
        ),
        (
            "censored_gaussian",
            [[0.0, 1.0, 3.0, 3.0], [1.0, 1.0, 0.0, 3.0]],
            "truncation limits \\[3, 3\\] that hold no value at row 0",
        ),
        ("gaussian", [[0.0, 1.0], [1.0, 2.0]], "the gaussian family needs one column"),
        (CensoredGaussian(lower=0.0), [[0.0, 1.0], [1.0, 2.0]], "apply to a one-column"),
    ],
)
def test_bad_limits_raise_a_value_error_naming_the_row(family, y, message):
    X = np.array([[0.0], [1.0]])
    with pytest.raises(ValueError, match=message):
        RegressionMixture(1, family=family).fit(X, np.asarray(y, dtype=float))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lower=1.0, upper=0.0), "lower must be below upper"),
        (dict(truncation=(1.0, 0.0)), "low < high"),
        (dict(lower=-1.0, truncation=(0.0, 5.0)), "outside truncation"),
        (dict(lower=np.inf), "lower must be finite"),
    ],
)
def test_bad_family_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CensoredGaussian(**kwargs)


def test_user_limits_are_not_written_to():
    X, Y, _ = interval_data(200, seed=15)
    Y2 = Y[:, :2].copy()
    before = Y2.copy()
    RegressionMixture(1, family="censored_gaussian", compute_se=False).fit(X, Y2)
    np.testing.assert_array_equal(Y2, before)


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_resamples_the_rows_with_their_limits():
    X, Y, _ = interval_data(300, seed=16, truncate=True)
    model = RegressionMixture(2, family="censored_gaussian", random_state=0).fit(X, Y)
    boot = model.bootstrap(X, Y, n_boot=20, random_state=0)
    table = model.coef_table()
    ratio = boot.std_err.to_numpy() / table["std_err"].to_numpy()
    assert np.all((ratio > 0.4) & (ratio < 2.5)), ratio
    # centred on the censored fit (a refit of the midpoints would shift the lines)
    np.testing.assert_allclose(boot.estimates.to_numpy(), table["estimate"].to_numpy())
    shift = np.abs(np.asarray(boot.replicates).mean(axis=0) - table["estimate"].to_numpy())
    assert np.all(shift < 3 * table["std_err"].to_numpy())


def test_sample_at_the_rows_limits():
    X, Y, _ = interval_data(400, seed=40, truncate=True)
    model = RegressionMixture(2, family="censored_gaussian", random_state=0, compute_se=False)
    model.fit(X, Y)
    Xt, Yt = np.tile(X, (40, 1)), np.tile(Y, (40, 1))
    _, Ys, labels = model.sample(X=Xt, limits=Yt, random_state=3)
    assert Ys.shape == Yt.shape
    lim = as_limits(Yt)
    np.testing.assert_array_equal(Ys[:, 2:], lim[:, 2:])  # the truncation kept
    w, coef, sigma = params_of(model)
    mu, s = np.einsum("ij,ij->i", design(Xt), coef[labels]), sigma[labels]
    lo, hi, t_lo, t_hi = lim.T
    censored = lo < hi
    as_interval = (Ys[:, 0] == lo) & (Ys[:, 1] == hi) & censored
    exact = Ys[:, 0] == Ys[:, 1]
    assert np.all(as_interval | exact)
    # a censored row returns its interval with the truncated normal's probability of it
    P = stats.norm.cdf(t_hi, mu, s) - stats.norm.cdf(t_lo, mu, s)
    p_in = (stats.norm.cdf(hi, mu, s) - stats.norm.cdf(lo, mu, s)) / P
    share, expected = as_interval[censored].mean(), p_in[censored].mean()
    se = np.sqrt((p_in[censored] * (1 - p_in[censored])).sum()) / censored.sum()
    assert abs(share - expected) < 4 * se
    # a censored row's value drawn outside its interval lies outside it
    outside = censored & exact
    assert np.all((Ys[outside, 0] < lo[outside]) | (Ys[outside, 0] > hi[outside]))
    # an observed row's draws: the component's normal truncated to the row's limits
    u = stats.truncnorm.cdf(
        Ys[~censored, 0],
        ((t_lo - mu) / s)[~censored],
        ((t_hi - mu) / s)[~censored],
        loc=mu[~censored],
        scale=s[~censored],
    )
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    truncated = ~censored & np.isfinite(t_lo)
    assert np.all(Ys[truncated, 0] > t_lo[truncated])
    # two columns give two columns; the simulated response is one the family fits
    _, Y2, _ = model.sample(X=X, limits=Y[:, :2], random_state=4)
    assert Y2.shape == (len(X), 2)
    RegressionMixture(2, family="censored_gaussian", compute_se=False).fit(X, Y2)
    with pytest.raises(ValueError, match="applies to the censored_gaussian family"):
        gaussian = RegressionMixture(1, compute_se=False).fit(X, X[:, 0] + np.cos(X[:, 0]))
        gaussian.sample(X=X, limits=Y[:, :2])
    with pytest.raises(ValueError, match="needs the rows X"):
        model.sample(10, limits=Y[:10])
    with pytest.raises(ValueError, match="one row per row of X"):
        model.sample(X=X, limits=Y[:10])


def test_parametric_bootstrap_at_the_rows_limits():
    X, Y, _ = interval_data(300, seed=16, truncate=True)
    model = RegressionMixture(2, family="censored_gaussian", random_state=0).fit(X, Y)
    boot = model.bootstrap(X, Y, n_boot=20, kind="parametric", random_state=0)
    table = model.coef_table()
    ratio = boot.std_err.to_numpy() / table["std_err"].to_numpy()
    assert np.all((ratio > 0.4) & (ratio < 2.5)), ratio
    shift = np.abs(np.asarray(boot.replicates).mean(axis=0) - table["estimate"].to_numpy())
    assert np.all(shift < 3 * table["std_err"].to_numpy())


def test_bootstrap_lr_test_at_the_rows_limits():
    from regmix import bootstrap_lr_test
    from regmix.selection import QUICK_REFIT

    X, _, ystar = two_component_data(n=200, seed=41)
    point = np.where(np.arange(200) % 2 == 0, 0.0, 1.0)  # tobit at points per row
    Y = np.column_stack([np.where(ystar <= point, -INF, ystar), np.maximum(ystar, point)])
    res = bootstrap_lr_test(
        X,
        Y,
        n_components=1,
        n_boot=4,
        random_state=0,
        family="censored_gaussian",
        n_init=1,
        split_merge=False,
        compute_se=False,
        refit_params=QUICK_REFIT,
    )
    assert res.n_failed == 0 and res.replicates.size == 4
    assert np.all(res.replicates >= 0)
    # two distinct lines: the statistic is far beyond the null's replicates
    assert res.statistic > res.replicates.max() and res.p_value == pytest.approx(1 / 5)


# ----------------------------------------------------------------------------- CLI
def _cli(args):
    from click.testing import CliRunner

    from regmix.cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_cli_fits_censored_and_interval_responses(tmp_path):
    X, y, _ = two_component_data(n=400, seed=3)
    frame = pd.DataFrame({"x": X[:, 0], "y": y})
    frame.to_csv(tmp_path / "tobit.csv", index=False)
    out = tmp_path / "model.json"
    result = _cli(
        [
            "fit",
            str(tmp_path / "tobit.csv"),
            "--formula",
            "y ~ x",
            "--family",
            "censored_gaussian",
            "--lower",
            "0",
            "--upper",
            "6",
            "--truncation",
            "-1,",
            "--format",
            "json",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    family = CensoredGaussian(lower=0.0, upper=6.0, truncation=(-1.0, INF))
    direct = RegressionMixture(2, family=family, formula="y ~ x", random_state=0).fit(frame)
    assert report["header"]["log_likelihood"] == pytest.approx(direct.log_likelihood_, rel=1e-12)
    assert regmix.load(out).family_.truncation == (-1.0, INF)

    Xi, Y, _ = interval_data(300, seed=3)
    pd.DataFrame({"x": Xi[:, 0], "lo": Y[:, 0], "hi": Y[:, 1]}).to_csv(
        tmp_path / "interval.csv", index=False
    )  # open limits: empty cells and inf
    result = _cli(
        [
            "fit",
            str(tmp_path / "interval.csv"),
            "--formula",
            "lo + hi ~ x",
            "--family",
            "censored_gaussian",
            "--format",
            "json",
            "-q",
        ]
    )
    assert result.exit_code == 0, result.output
    direct = RegressionMixture(2, family="censored_gaussian", random_state=0).fit(Xi, Y[:, :2])
    assert json.loads(result.output)["header"]["log_likelihood"] == pytest.approx(
        direct.log_likelihood_, rel=1e-10
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--lower", "0"], "apply to --family censored_gaussian"),
        (["--family", "censored_gaussian", "--truncation", "0;3"], "is not LOW,HIGH"),
        (
            ["--family", "censored_gaussian", "--lower", "1"],
            "below the censoring point lower=1.0 at line",
        ),
    ],
)
def test_cli_refuses_bad_censoring_options(tmp_path, extra, message):
    X, y, _ = two_component_data(n=50, seed=3)
    pd.DataFrame({"x": X[:, 0], "y": y}).to_csv(tmp_path / "d.csv", index=False)
    result = _cli(["fit", str(tmp_path / "d.csv"), "--formula", "y ~ x", *extra])
    assert result.exit_code == 2
    assert message in result.output


# ----------------------------------------------------------------------------- row data
def test_integer_weights_equal_repeated_rows():
    X, Y, _ = interval_data(200, seed=17, truncate=True)
    counts = np.random.default_rng(0).integers(1, 4, len(X))
    kw = dict(family="censored_gaussian", random_state=0, compute_se=False, tol=1e-13)
    weighted = RegressionMixture(2, **kw).fit(X, Y, sample_weight=counts.astype(float))
    repeated = RegressionMixture(2, **kw).fit(
        np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0)
    )
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-9)
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-7)
    ll, _ = mixture_loglik(design(X), as_limits(Y), *params_of(weighted), w=counts)
    assert weighted.log_likelihood_ == pytest.approx(ll, rel=1e-11)


def test_an_offset_shifts_the_latent_response():
    X, Y, _ = interval_data(300, seed=18, truncate=True)
    offset = np.random.default_rng(1).normal(size=len(X))
    shifted = Y + offset[:, None]  # every limit moves with the latent response
    kw = dict(family="censored_gaussian", random_state=0, compute_se=False, tol=1e-13)
    plain = RegressionMixture(2, **kw).fit(X, Y)
    with_offset = RegressionMixture(2, **kw).fit(X, shifted, offset=offset)
    np.testing.assert_allclose(with_offset.coef_, plain.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(with_offset.sigma_, plain.sigma_, rtol=1e-6)
    assert with_offset.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-9)


def test_grouped_rows_share_a_component():
    X, Y, _ = interval_data(400, seed=19)
    groups = np.arange(len(X)) // 4
    model = RegressionMixture(2, family="censored_gaussian", random_state=0, compute_se=False).fit(
        X, Y[:, :2], groups=groups
    )
    w, coef, sigma = params_of(model)
    lim = as_limits(
        np.column_stack([Y[:, :2], np.full((len(X), 1), -INF), np.full((len(X), 1), INF)])
    )
    D = design(X)
    rows = np.column_stack([row_loglik(D, lim, coef[k], sigma[k]) for k in range(2)])
    group_ll = np.add.reduceat(rows, np.arange(0, len(X), 4), axis=0) + np.log(w)
    assert model.log_likelihood_ == pytest.approx(
        special.logsumexp(group_ll, axis=1).sum(), rel=1e-11
    )


def test_select_components_with_limits():
    X, y, _ = two_component_data(n=400, seed=21)
    sel = regmix.select_components(
        X, y, n_components=[1, 2, 3], family=CensoredGaussian(lower=0.0, upper=6.0), random_state=0
    )
    assert sel.best_n_components_ == 2


def test_expected_censored_value_by_integration():
    X, y, _ = two_component_data(n=500, seed=22)
    family = CensoredGaussian(lower=0.0, upper=6.0, truncation=(-1.0, INF))
    model = RegressionMixture(2, family=family, random_state=0, compute_se=False).fit(X, y)
    Xn = np.array([[-2.0], [-0.3], [0.4], [1.9]])
    got = model.predict_components(Xn, kind="censored")
    latent = model.predict_components(Xn)
    for i in range(len(Xn)):
        for k in range(2):
            mu, s = latent[i, k], model.sigma_[k]
            mass = stats.norm.sf(-1.0, mu, s)
            inside = integrate.quad(
                lambda v, mu=mu, s=s: v * stats.norm.pdf(v, mu, s), 0.0, 6.0, epsabs=1e-13
            )[0]
            expected = (inside + 6.0 * stats.norm.sf(6.0, mu, s)) / mass  # 0 at 0
            assert got[i, k] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(model.predict(Xn, kind="censored"), got @ model.weights_)
    # McDonald and Moffitt's tobit mean without truncation
    tobit = CensoredGaussian(lower=0.0)
    eta, sigma = np.array([[-1.0, 0.5]]), np.array([1.0, 2.0])
    z = eta / sigma
    np.testing.assert_allclose(
        tobit.censored_mean(eta, sigma),
        stats.norm.cdf(z) * eta + sigma * stats.norm.pdf(z),
        rtol=1e-13,
    )
    with pytest.raises(ValueError, match="kind must be one of"):
        RegressionMixture(1).fit(X, y).predict(X, kind="censored")


def test_robust_standard_errors_agree_with_the_information_when_the_model_holds():
    X, Y, _ = interval_data(800, seed=23, truncate=True)
    model = RegressionMixture(2, family="censored_gaussian", random_state=0).fit(X, Y)
    oim = model.coef_table()["std_err"].to_numpy()
    robust = model.coef_table(cov_type="robust", X=X, y=Y)["std_err"].to_numpy()
    assert np.all(np.isfinite(robust))
    np.testing.assert_allclose(robust, oim, rtol=0.35)


@pytest.mark.parametrize("truncate", [False, True])
def test_parquet_limit_columns_equal_the_arrays(tmp_path, truncate):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    X, Y, _ = interval_data(20_000, seed=25, truncate=truncate)  # three reduction blocks
    Y = Y if truncate else Y[:, :2]
    names = ["lo", "hi", "tlo", "thi"][: Y.shape[1]]
    frame = pd.DataFrame({"x": X[:, 0], **{c: Y[:, j] for j, c in enumerate(names)}})
    frame = frame.replace([np.inf, -np.inf], np.nan)  # open limits as missing values
    frame.to_parquet(tmp_path / "d.parquet", row_group_size=3000)
    source = ParquetData(tmp_path / "d.parquet", x=["x"], limits=names)
    kw = dict(family="censored_gaussian", random_state=0, n_init=1, split_merge=False)
    streamed = RegressionMixture(2, **kw).fit(source)
    arrays = RegressionMixture(2, **kw).fit(X, Y)
    assert streamed.log_likelihood_ == pytest.approx(arrays.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(streamed.coef_, arrays.coef_, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(
        streamed.coef_table()["std_err"], arrays.coef_table()["std_err"], rtol=1e-6
    )
    robust = streamed.coef_table(cov_type="robust", X=source)["std_err"]
    np.testing.assert_allclose(
        robust, arrays.coef_table(cov_type="robust", X=X, y=Y)["std_err"], rtol=1e-6
    )


def test_row_sources_refuse_what_they_cannot_carry(tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    X, y, _ = two_component_data(n=100, seed=24)
    pd.DataFrame({"x": X[:, 0], "y": y, "hi": y}).to_parquet(tmp_path / "d.parquet")
    with_limits = ParquetData(tmp_path / "d.parquet", x=["x"], limits=["y", "hi"])
    with pytest.raises(ValueError, match=r"apply to one response column .*limit columns"):
        RegressionMixture(2, family=CensoredGaussian(lower=0.0)).fit(with_limits)
    with pytest.raises(ValueError, match="use family='censored_gaussian'"):
        RegressionMixture(2).fit(with_limits)
    with pytest.raises(ValueError, match="set y=None"):
        ParquetData(tmp_path / "d.parquet", x=["x"], y="y", limits=["y", "hi"])
    with pytest.raises(ValueError, match="two columns"):
        ParquetData(tmp_path / "d.parquet", x=["x"], limits=["y"])
    bad = pd.DataFrame({"x": X[:, 0], "lo": y, "hi": y - 1.0})
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="above its upper limit .* at row 0"):
        ParquetData(tmp_path / "bad.parquet", x=["x"], limits=["lo", "hi"])


def test_parametric_bootstrap_draws_from_the_constant_limits():
    X, y, _ = two_component_data(n=300, seed=30)
    model = RegressionMixture(
        2, family=CensoredGaussian(lower=0.0, upper=6.0), random_state=0
    ).fit(X, y)
    boot = model.bootstrap(X, y, n_boot=20, kind="parametric", random_state=0)
    ratio = boot.std_err.to_numpy() / model.coef_table()["std_err"].to_numpy()
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_fit_does_not_depend_on_the_chunk_size_or_threads():
    X, Y, _ = interval_data(20_000, seed=31, truncate=True)  # three reduction blocks
    kw = dict(
        family="censored_gaussian", random_state=0, compute_se=False, n_init=1, split_merge=False
    )
    a = RegressionMixture(2, n_jobs=1, **kw).fit(X, Y)
    b = RegressionMixture(2, chunk_size=3000, n_jobs=2, **kw).fit(X, Y)
    assert a.log_likelihood_ == b.log_likelihood_
    np.testing.assert_array_equal(a.coef_, b.coef_)


# ----------------------------------------------------------------------------- other families
@pytest.mark.parametrize(
    "families",
    [
        ["censored_gaussian", "gaussian"],
        ["censored_gaussian", "pointmass"],
        ["gaussian", "censored_gaussian"],
        ["censored_gaussian", "censored_gaussian"],
    ],
)
def test_a_family_per_component_with_a_censored_component_is_refused(families):
    X, y, _ = two_component_data(n=50, seed=42)
    family = [CensoredGaussian(lower=0.0) if f == "censored_gaussian" else f for f in families]
    named = ", ".join(repr(f) for f in families)
    with pytest.raises(ValueError, match=rf"family \[{named}\]: a censored_gaussian component"):
        RegressionMixture(2, family=family).fit(X, y)


def test_cli_refuses_a_censored_component_beside_another_family(tmp_path):
    X, y, _ = two_component_data(n=50, seed=43)
    pd.DataFrame({"x": X[:, 0], "y": y}).to_csv(tmp_path / "d.csv", index=False)
    args = ["fit", str(tmp_path / "d.csv"), "--formula", "y ~ x", "-k", "2"]
    result = _cli([*args, "--family", "censored_gaussian,gaussian"])
    assert result.exit_code == 2
    assert "family ['censored_gaussian', 'gaussian']: a censored_gaussian component" in (
        result.output
    )


# ----------------------------------------------------------------------------- streamed constants
def test_parquet_with_constant_limits_equals_the_rows_in_memory(tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    X, y, _ = two_component_data(n=9_000, seed=44)  # two reduction blocks
    pd.DataFrame({"x": X[:, 0], "y": y}).to_parquet(tmp_path / "d.parquet", row_group_size=3000)
    family = CensoredGaussian(lower=0.0, upper=6.0)
    kw = dict(family=family, random_state=0, n_init=1, split_merge=False)
    source = ParquetData(tmp_path / "d.parquet", x=["x"], y="y")
    streamed = RegressionMixture(2, **kw).fit(source)
    arrays = RegressionMixture(2, **kw).fit(X, y)
    assert streamed.log_likelihood_ == pytest.approx(arrays.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(streamed.coef_, arrays.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(streamed.sigma_, arrays.sigma_, rtol=1e-10)
    np.testing.assert_allclose(
        streamed.coef_table()["std_err"], arrays.coef_table()["std_err"], rtol=1e-8
    )
    np.testing.assert_allclose(
        streamed.coef_table(cov_type="robust", X=source)["std_err"],
        arrays.coef_table(cov_type="robust", X=X, y=y)["std_err"],
        rtol=1e-8,
    )
    # the censored rows are read as censored: the log-likelihood is the test's own
    w, coef, sigma = params_of(arrays)
    lim = limits_of(y, 0.0, 6.0)
    assert streamed.log_likelihood_ == pytest.approx(
        mixture_loglik(design(X), lim, w, coef, sigma)[0], rel=1e-10
    )
    # constant truncation too, in several record batches
    Xs, ys = X[:800], y[:800]
    pd.DataFrame({"x": Xs[:, 0], "y": ys}).to_parquet(tmp_path / "t.parquet", row_group_size=300)
    kw_t = dict(kw, family=CensoredGaussian(lower=0.0, truncation=(-1.0, INF)), compute_se=False)
    truncated = RegressionMixture(2, **kw_t).fit(
        ParquetData(tmp_path / "t.parquet", x=["x"], y="y")
    )
    direct = RegressionMixture(2, **kw_t).fit(Xs, ys)
    assert truncated.log_likelihood_ == pytest.approx(direct.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(truncated.coef_, direct.coef_, rtol=1e-10, atol=1e-12)
    # a value beyond a censoring point is refused naming the row, as in memory
    bad = y.copy()
    bad[5000] = -0.5
    pd.DataFrame({"x": X[:, 0], "y": bad}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="below the censoring point lower=0.0 at row 5000"):
        RegressionMixture(2, **kw).fit(ParquetData(tmp_path / "bad.parquet", x=["x"], y="y"))


def test_cli_streams_constant_limits(tmp_path):
    pytest.importorskip("pyarrow")
    X, y, _ = two_component_data(n=400, seed=45)
    frame = pd.DataFrame({"x": X[:, 0], "y": y})
    frame.to_parquet(tmp_path / "d.parquet")
    options = "--family censored_gaussian --lower 0 --upper 6 --format json -q".split()
    args = ["fit", str(tmp_path / "d.parquet"), "--formula", "y ~ x", *options]
    streamed = _cli([*args, "--stream"])
    in_memory = _cli([*args, "--no-stream"])
    assert streamed.exit_code == 0, streamed.output
    assert in_memory.exit_code == 0, in_memory.output
    a, b = json.loads(streamed.output), json.loads(in_memory.output)
    assert a["header"]["log_likelihood"] == pytest.approx(b["header"]["log_likelihood"], rel=1e-10)
    direct = RegressionMixture(
        2, family=CensoredGaussian(lower=0.0, upper=6.0), random_state=0
    ).fit(X, y)
    assert a["header"]["log_likelihood"] == pytest.approx(direct.log_likelihood_, rel=1e-10)


# ----------------------------------------------------------------------------- indicator
def test_values_and_a_censoring_indicator_are_limits():
    rng = np.random.default_rng(12)
    n = 400
    x = rng.normal(size=n)
    latent = np.where(rng.random(n) < 0.5, 1.0 + x, -1.0 + 0.5 * x) + rng.normal(0, 0.7, n)
    cut = rng.uniform(-1.0, 2.5, n)  # a censoring time per row, as in survival data
    observed = latent <= cut
    y = np.where(observed, latent, cut)
    censored = ~observed
    before = (y.copy(), censored.copy())
    limits = regmix.censored_limits(y, censored)
    np.testing.assert_array_equal(y, before[0])  # the inputs are not written to
    np.testing.assert_array_equal(censored, before[1])
    expected = np.column_stack([y, np.where(censored, np.inf, y)])
    np.testing.assert_array_equal(limits, expected)
    np.testing.assert_array_equal(regmix.censored_limits(y, censored.astype(int)), limits)
    left = regmix.censored_limits(-y, censored, side="left")
    np.testing.assert_array_equal(left, np.column_stack([np.where(censored, -np.inf, -y), -y]))
    kw = dict(family="censored_gaussian", random_state=0, n_init=1, split_merge=False)
    a = RegressionMixture(2, **kw).fit(x[:, None], limits)
    b = RegressionMixture(2, **kw).fit(x[:, None], np.column_stack(
        [y, np.where(censored, np.nan, y)]))  # NaN: the same open side
    assert a.log_likelihood_ == b.log_likelihood_
    with pytest.raises(ValueError, match="censored must be 0 or 1 .* got 2 at row 1"):
        regmix.censored_limits([1.0, 2.0, 3.0], [0, 2, 1])
    with pytest.raises(ValueError, match="y is not a finite number at row 2"):
        regmix.censored_limits([1.0, 2.0, np.nan], [0, 0, 1])
    with pytest.raises(ValueError, match="censored has 2 entries but y has 3"):
        regmix.censored_limits([1.0, 2.0, 3.0], [0, 1])
    with pytest.raises(ValueError, match="side must be 'right' or 'left'"):
        regmix.censored_limits([1.0], [0], side="both")
