"""EM iterates against a naive dense reference implementation written in conftest."""

import numpy as np
import pytest

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture


def _problem(seed=0, n=150, p=2, K=2):
    X, y, _, _ = make_regression_mixture(
        n, p, K, sigma=np.full(K, 0.8), random_state=seed
    )
    rng = np.random.default_rng(seed + 100)
    start = {
        "weights": np.full(K, 1.0 / K),
        "coef": rng.normal(0, 2, size=(K, p)),
        "intercept": rng.normal(0, 1, size=K),
        "sigma": np.full(K, 2.0),
    }
    return X, y, start


def _sorted_reference(weights, coef_full, sigma):
    order = np.lexsort(tuple(coef_full[:, 1:].T[::-1]) + (coef_full[:, 0], -weights))
    return weights[order], coef_full[order], sigma[order]


@pytest.mark.parametrize("n_iter", [1, 2, 5])
@pytest.mark.parametrize("K", [2, 3])
def test_first_iterations_equal_dense_reference(dense_reference, n_iter, K):
    X, y, start = _problem(seed=K, K=K)
    model = RegressionMixture(K, init=start, max_iter=n_iter, tol=0.0, min_weight=0.0,
                              accelerate=False)
    with pytest.warns(Warning):  # not converged: it was told to stop early
        model.fit(X, y)
    full0 = np.column_stack([start["intercept"], start["coef"]])
    ref = dense_reference(X, y, np.ones(len(y)), start["weights"], full0, start["sigma"], n_iter)
    w, c, s = _sorted_reference(*ref[:3])
    np.testing.assert_allclose(model.weights_, w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.column_stack([model.intercept_, model.coef_]), c,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.sigma_, s, rtol=1e-10)
    assert model.log_likelihood_ == pytest.approx(ref[3], rel=1e-12)
    assert model.n_iter_ == n_iter


def test_converged_fit_equals_dense_reference(dense_reference):
    X, y, start = _problem(seed=7, n=200, p=1, K=2)
    model = RegressionMixture(2, init=start, max_iter=5000, tol=1e-12, min_weight=0.0,
                              accelerate=False).fit(X, y)
    assert model.converged_
    full0 = np.column_stack([start["intercept"], start["coef"]])
    ref = dense_reference(X, y, np.ones(len(y)), start["weights"], full0, start["sigma"],
                          model.n_iter_)
    w, c, s = _sorted_reference(*ref[:3])
    np.testing.assert_allclose(model.weights_, w, rtol=1e-10)
    np.testing.assert_allclose(np.column_stack([model.intercept_, model.coef_]), c, rtol=1e-10,
                               atol=1e-10)
    np.testing.assert_allclose(model.sigma_, s, rtol=1e-10)
    assert model.log_likelihood_ == pytest.approx(ref[3], rel=1e-12)
    # the reported log-likelihood is the one of the returned parameters
    assert model.log_likelihood(X, y) == pytest.approx(model.log_likelihood_, rel=1e-12)


def test_weighted_fit_equals_dense_reference(dense_reference):
    X, y, start = _problem(seed=3, n=120, p=2, K=2)
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y))
    model = RegressionMixture(2, init=start, max_iter=3, tol=0.0, min_weight=0.0,
                              accelerate=False)
    with pytest.warns(Warning):
        model.fit(X, y, sample_weight=w)
    full0 = np.column_stack([start["intercept"], start["coef"]])
    ref = dense_reference(X, y, w, start["weights"], full0, start["sigma"], 3)
    wt, c, s = _sorted_reference(*ref[:3])
    np.testing.assert_allclose(model.weights_, wt, rtol=1e-10)
    np.testing.assert_allclose(np.column_stack([model.intercept_, model.coef_]), c, rtol=1e-10,
                               atol=1e-10)
    assert model.log_likelihood_ == pytest.approx(ref[3], rel=1e-12)


def test_no_intercept_equals_dense_reference(dense_reference):
    X, y, start = _problem(seed=5, n=100, p=2, K=2)
    del start["intercept"]
    model = RegressionMixture(2, fit_intercept=False, init=start, max_iter=4, tol=0.0,
                              min_weight=0.0, accelerate=False)
    with pytest.warns(Warning):
        model.fit(X, y)
    ref = dense_reference(X, y, np.ones(len(y)), start["weights"], start["coef"],
                          start["sigma"], 4, fit_intercept=False)
    order = np.lexsort(tuple(ref[1].T[::-1]) + (-ref[0],))
    np.testing.assert_allclose(model.coef_, ref[1][order], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, 0.0)
    assert model.log_likelihood_ == pytest.approx(ref[3], rel=1e-12)


@pytest.mark.parametrize("accelerate", [False, True])
def test_log_likelihood_never_decreases(accelerate):
    X, y, _, _ = make_regression_mixture(400, 2, 3, sigma=[1.0, 1.5, 0.5], random_state=11)
    for seed in range(5):
        model = RegressionMixture(3, init="random", n_init=1, max_iter=300, tol=0.0,
                                  min_weight=0.0, random_state=seed, accelerate=accelerate)
        with pytest.warns(Warning):
            model.fit(X, y)
        h = model.log_likelihood_history_
        assert model.n_iter_ == 300
        if not accelerate:
            assert len(h) == 301
        # allow only floating-point noise relative to the magnitude
        assert np.all(np.diff(h) >= -1e-10 * np.abs(h[1:]))


def test_acceleration_reaches_the_same_optimum_in_fewer_passes():
    # heavily overlapping components: plain EM crawls (about 1500 iterations). With unit
    # noise the optimum from this start is a component of weight 0.005 next to spikes of
    # higher likelihood, whose basins round-off decides: not a test of the accelerator.
    X, y, _, _ = make_regression_mixture(500, 1, 2, coef=[[1.0], [1.5]], intercept=[0, 0.3],
                                         sigma=[0.7, 0.7], random_state=3)
    rng = np.random.default_rng(0)
    start = {"weights": [0.5, 0.5], "coef": rng.normal(size=(2, 1)), "intercept": [0.0, 1.0],
             "sigma": [1.0, 1.0]}
    kw = dict(init=start, tol=1e-13, max_iter=100000, min_weight=0.0)
    plain = RegressionMixture(2, accelerate=False, **kw).fit(X, y)
    fast = RegressionMixture(2, accelerate=True, **kw).fit(X, y)
    assert plain.converged_ and fast.converged_
    assert fast.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-11)
    # the likelihood is flat along the overlap: plain EM stops 1e-5 short in coefficients
    np.testing.assert_allclose(fast.coef_, plain.coef_, rtol=1e-4)
    assert len(fast.log_likelihood_history_) < len(plain.log_likelihood_history_) / 3


def test_warm_start_two_single_iterations_equal_one_double():
    X, y, _, _ = make_regression_mixture(300, 1, 2, random_state=2)
    kw = dict(n_init=1, tol=0.0, random_state=4, min_weight=0.0)
    two = RegressionMixture(2, max_iter=2, **kw)
    with pytest.warns(Warning):
        two.fit(X, y)
    one = RegressionMixture(2, max_iter=1, warm_start=True, **kw)
    with pytest.warns(Warning):
        one.fit(X, y)
        one.fit(X, y)
    np.testing.assert_allclose(one.coef_, two.coef_, rtol=1e-12)
    np.testing.assert_allclose(one.intercept_, two.intercept_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(one.sigma_, two.sigma_, rtol=1e-12)
    np.testing.assert_allclose(one.weights_, two.weights_, rtol=1e-12)
    assert one.log_likelihood_ == pytest.approx(two.log_likelihood_, rel=1e-13)


def test_integer_sample_weight_equals_repeated_rows():
    X, y, start = _problem(seed=9, n=80, p=1, K=2)
    counts = np.random.default_rng(0).integers(0, 4, size=len(y))
    kw = dict(init=start, max_iter=500, tol=1e-12, min_weight=0.0)
    weighted = RegressionMixture(2, **kw).fit(X, y, sample_weight=counts)
    repeated = RegressionMixture(2, **kw).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-9)
    np.testing.assert_allclose(weighted.sigma_, repeated.sigma_, rtol=1e-9)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-9)
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-11)
    assert weighted.bic(X, y, counts) == pytest.approx(
        repeated.bic(np.repeat(X, counts, axis=0), np.repeat(y, counts)), rel=1e-11)
