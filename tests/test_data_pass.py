"""The data pass: statistics against a direct computation, chunk and thread invariance."""

import numpy as np
import pytest
from scipy.special import logsumexp

from regmix import RegressionMixture
from regmix.compiled import helpers
from regmix.core.chunk import Chunk
from regmix.core.params import GaussianParams
from regmix.core.rowhash import row_uniforms
from regmix.datasets import make_regression_mixture
from regmix.engine.passes import e_step_pass, observation_posteriors
from regmix.families.gaussian import Gaussian
from regmix.sources.arrays import ArrayData


def _setup(n=157, d=3, K=3, weighted=True, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(5.0, 3.0, size=(n, d))
    y = rng.normal(10.0, 4.0, size=n)
    w = rng.uniform(0.5, 2.0, size=n) if weighted else None
    coef = rng.normal(size=(K, d + 1))
    sigma = rng.uniform(0.5, 2.0, size=K)
    weights = rng.dirichlet(np.ones(K))
    return X, y, w, GaussianParams(coef, sigma), weights


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_statistics_equal_direct_computation(weighted, fit_intercept):
    X, y, w, params, weights = _setup(weighted=weighted)
    if not fit_intercept:
        params = GaussianParams(params.coef[:, 1:], params.sigma)
    source = ArrayData(X, y, w, fit_intercept=fit_intercept)
    st = source.standardization
    res = e_step_pass(source, Gaussian(), params, np.log(weights)[:, None], chunk_size=50)

    # direct: build the standardised design, densities and responsibilities explicitly
    Xs = (X - st.x_loc) / st.x_scale
    D = np.column_stack([np.ones(len(y)), Xs]) if fit_intercept else Xs
    ys = (y - st.y_loc) / st.y_scale
    ww = np.ones(len(y)) if w is None else w
    K = len(weights)
    dens = np.column_stack([
        weights[k] / (np.sqrt(2 * np.pi) * params.sigma[k])
        * np.exp(-0.5 * ((ys - D @ params.coef[k]) / params.sigma[k]) ** 2)
        for k in range(K)
    ])
    R = dens / dens.sum(axis=1, keepdims=True)
    assert res.loglik == pytest.approx(ww @ np.log(dens.sum(axis=1)), rel=1e-12)
    np.testing.assert_allclose(res.resp_sum, ww @ R, rtol=1e-12)
    A, b, c = res.stats
    for k in range(K):
        rk = ww * R[:, k]
        e = ys - D @ params.coef[k]
        np.testing.assert_allclose(A[k], (D * rk[:, None]).T @ D, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(b[k], D.T @ (rk * e), rtol=1e-11, atol=1e-12)
        assert c[k] == pytest.approx(np.sum(rk * e * e), rel=1e-12)


def test_pass_is_chunk_size_invariant():
    X, y, w, params, weights = _setup(n=300)
    source = ArrayData(X, y, w, fit_intercept=True)
    lw = np.log(weights)[:, None]
    results = [e_step_pass(source, Gaussian(), params, lw, chunk_size=cs) for cs in (7, 64, 300)]
    for res in results[1:]:
        assert res.loglik == pytest.approx(results[0].loglik, rel=1e-13)
        for a, b in zip(res.stats, results[0].stats, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_fit_is_chunk_size_invariant():
    X, y, _, _ = make_regression_mixture(300, 2, 2, random_state=3)
    fits = [RegressionMixture(2, chunk_size=cs, random_state=0, tol=1e-10).fit(X, y)
            for cs in (7, 64, 300)]
    for f in fits[1:]:
        np.testing.assert_allclose(f.coef_, fits[0].coef_, rtol=1e-8)
        np.testing.assert_allclose(f.sigma_, fits[0].sigma_, rtol=1e-8)
        assert f.log_likelihood_ == pytest.approx(fits[0].log_likelihood_, rel=1e-12)


def test_fit_is_bit_identical_across_thread_counts():
    X, y, _, _ = make_regression_mixture(2000, 2, 2, random_state=1)
    kw = dict(chunk_size=128, random_state=5)
    a = RegressionMixture(2, n_jobs=1, **kw).fit(X, y)
    b = RegressionMixture(2, n_jobs=2, **kw).fit(X, y)
    c = RegressionMixture(2, n_jobs=2, **kw).fit(X, y)
    for other in (b, c):
        assert np.array_equal(a.coef_, other.coef_)
        assert np.array_equal(a.sigma_, other.sigma_)
        assert a.log_likelihood_ == other.log_likelihood_


def test_huge_residuals_do_not_underflow():
    # residuals of 1e6 standard deviations: exp() of the densities underflows to 0
    X, y, w, params, weights = _setup(n=50, weighted=False)
    source = ArrayData(X, y + 1e7, None, fit_intercept=False, standardize=False)
    params = GaussianParams(params.coef[:, 1:], np.full(3, 1e-3))
    res = e_step_pass(source, Gaussian(), params, np.log(weights)[:, None], chunk_size=16)
    assert np.isfinite(res.loglik)
    assert res.resp_sum.sum() == pytest.approx(50.0)
    assert all(np.all(np.isfinite(s)) for s in res.stats)


def test_row_uniforms_do_not_depend_on_the_range_split():
    whole = row_uniforms(42, 0, 1000, 3)
    parts = np.vstack([row_uniforms(42, s, min(s + 7, 1000), 3) for s in range(0, 1000, 7)])
    assert np.array_equal(whole, parts)
    assert 0 < whole.min() and whole.max() < 1
    # roughly uniform: mean and variance of U(0, 1) within sampling error
    assert abs(whole.mean() - 0.5) < 0.02
    assert abs(whole.var() - 1 / 12) < 0.005
    assert not np.array_equal(whole, row_uniforms(43, 0, 1000, 3))


def test_compiled_engine_gives_the_same_fit():
    pytest.importorskip("numba")
    X, y, _, _ = make_regression_mixture(5000, 3, 3, random_state=2)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    kw = dict(random_state=0, chunk_size=1024)
    fast = RegressionMixture(3, engine="numba", **kw).fit(X, y, sample_weight=w)
    slow = RegressionMixture(3, engine="numpy", **kw).fit(X, y, sample_weight=w)
    # The engines differ in the last bits of the standardisation and of every sum, so
    # their iterates part at round-off and each stops within tol of the maximum: the
    # log-likelihoods agree to 1e-12, the coefficients (flat directions of a likelihood
    # with overlapping components) to about sqrt(tol).
    assert fast.log_likelihood_ == pytest.approx(slow.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=5e-7, atol=1e-12)


def test_compiled_engine_gives_the_same_fit_from_given_memberships():
    # starting memberships go through the kernel's given-memberships pass with
    # engine="numba" and through the chunked numpy pass otherwise
    pytest.importorskip("numba")
    X, y, labels, _ = make_regression_mixture(6000, 2, 3, random_state=3)
    rng = np.random.default_rng(1)
    start = np.where(rng.random(len(y)) < 0.4, rng.integers(0, 3, len(y)), labels)
    resp = np.eye(3)[start] * rng.uniform(0.5, 2.0, size=(len(y), 1))  # unnormalised rows
    kw = dict(init=resp, n_init=1, chunk_size=1000, compute_se=False)
    fast = RegressionMixture(3, engine="numba", **kw).fit(X, y)
    slow = RegressionMixture(3, engine="numpy", **kw).fit(X, y)
    assert fast.log_likelihood_ == pytest.approx(slow.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(fast.coef_, slow.coef_, rtol=1e-9, atol=1e-12)
    assert fast.n_iter_ == slow.n_iter_
    first = RegressionMixture(3, engine="numba", **dict(kw, max_iter=0)).fit(X, y)
    again = RegressionMixture(3, engine="numpy", **dict(kw, max_iter=0)).fit(X, y)
    np.testing.assert_allclose(first.coef_, again.coef_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed, start, stop, n_columns", [
    (0, 0, 1000, 1), (2**62 + 5, 123, 70_000, 3), (7, 10**9, 10**9 + 17, 2), (1, 5, 5, 1)])
def test_compiled_row_uniforms_are_the_same_bits(seed, start, stop, n_columns):
    pytest.importorskip("numba")
    expected = row_uniforms(seed, start, stop, n_columns)
    got = helpers.row_uniforms(seed, start, stop, n_columns, compiled=True)
    assert got.shape == expected.shape and np.array_equal(got, expected)


def test_compiled_subsample_draws_the_same_rows():
    pytest.importorskip("numba")
    from regmix.sources.arrays import ArrayData

    X, y, _, _ = make_regression_mixture(50_000, 2, 2, random_state=0)
    plain = ArrayData(X, y, None, fit_intercept=True).subsample(5000, 11)
    fast = ArrayData(X, y, None, fit_intercept=True, compiled=True).subsample(5000, 11)
    np.testing.assert_array_equal(fast.arrays()[0], plain.arrays()[0])
    assert 4500 < fast.n_rows < 5500


@pytest.mark.parametrize("grouped", [False, True])
def test_observation_posteriors_equal_direct_computation(grouped):
    """Rows, or groups whose rows' weighted log-densities add up: posteriors and
    log-likelihood contributions against scipy's logsumexp."""
    rng = np.random.default_rng(0)
    K, n = 3, 12
    logf = rng.normal(scale=50.0, size=(K, n))
    before = logf.copy()
    w = rng.uniform(0.5, 2.0, n)
    log_w = np.log(rng.dirichlet(np.ones(K), size=n).T)
    starts = np.array([0, 2, 7, 8]) if grouped else None
    chunk = Chunk(0, np.ones((1, n)), np.zeros(n), w, group_starts=starts)
    resp, obs_ll, obs_log_w = observation_posteriors(logf, log_w, chunk)
    if grouped:
        labels = np.repeat(np.arange(4), np.diff(np.append(starts, n)))
        joint = np.stack([np.bincount(labels, weights=w * logf[k]) for k in range(K)])
        joint += log_w[:, starts]
        np.testing.assert_array_equal(obs_log_w, log_w[:, starts])
    else:
        joint = logf + log_w
    np.testing.assert_allclose(obs_ll, logsumexp(joint, axis=0), rtol=1e-12)
    np.testing.assert_allclose(resp, np.exp(joint - logsumexp(joint, axis=0)), rtol=1e-10)
    np.testing.assert_array_equal(logf, before)
