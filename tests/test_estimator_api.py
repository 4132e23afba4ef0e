"""The estimator's public methods against independent computations."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning

from regmix import DegenerateFitError, RankDeficiencyWarning, RegressionMixture
from regmix.datasets import make_regression_mixture

from .reference import match_labels


@pytest.fixture(scope="module")
def fitted():
    X, y, labels, truth = make_regression_mixture(
        600, 2, 2, coef=[[2.0, -1.0], [-1.5, 0.5]], intercept=[1.0, -2.0], sigma=[0.5, 1.0],
        weights=[0.6, 0.4], random_state=0)
    return X, y, labels, truth, RegressionMixture(2, random_state=0).fit(X, y)


def _mixture_density(model, X, y):
    means = X @ model.coef_.T + model.intercept_
    return np.column_stack([
        model.weights_[k] * norm.pdf(y, means[:, k], model.sigma_[k])
        for k in range(model.n_components)
    ])


def test_recovers_true_parameters(fitted):
    X, y, labels, truth, model = fitted
    perm = match_labels(truth["coef"], model.coef_)
    np.testing.assert_allclose(model.coef_[perm], truth["coef"], atol=0.15)
    np.testing.assert_allclose(model.intercept_[perm], truth["intercept"], atol=0.15)
    np.testing.assert_allclose(model.sigma_[perm], truth["sigma"], atol=0.1)
    np.testing.assert_allclose(model.weights_[perm], truth["weights"], atol=0.05)
    # and classifies most rows into their true component (perm[true] = estimated)
    assert np.mean(np.argsort(perm)[model.classify(X, y)] == labels) > 0.9


@pytest.mark.parametrize("K,seed", [(2, 1), (3, 2), (4, 3)])
def test_recovery_for_several_components(K, seed):
    rng = np.random.default_rng(seed)
    coef = np.linspace(-3, 3, K)[:, None] + rng.normal(0, 0.1, size=(K, 1))
    X, y, _, truth = make_regression_mixture(
        1500 * K, coef=coef, intercept=np.zeros(K), sigma=np.full(K, 0.3), random_state=seed)
    model = RegressionMixture(K, random_state=seed).fit(X, y)
    perm = match_labels(truth["coef"], model.coef_)
    np.testing.assert_allclose(model.coef_[perm], truth["coef"], atol=0.05)
    np.testing.assert_allclose(model.sigma_[perm], truth["sigma"], atol=0.03)


def test_components_are_ordered_by_weight(fitted):
    model = fitted[-1]
    assert np.all(np.diff(model.weights_) <= 0)


def test_posterior_and_log_likelihood_match_direct_formula(fitted):
    X, y, _, _, model = fitted
    dens = _mixture_density(model, X, y)
    np.testing.assert_allclose(model.posterior(X, y), dens / dens.sum(1, keepdims=True),
                               rtol=1e-10, atol=1e-14)
    assert model.log_likelihood(X, y) == pytest.approx(np.log(dens.sum(1)).sum(), rel=1e-12)
    assert model.log_likelihood_ == pytest.approx(np.log(dens.sum(1)).sum(), rel=1e-10)
    np.testing.assert_array_equal(model.classify(X, y), np.argmax(dens, axis=1))


def test_predictions_match_direct_formula(fitted):
    X, y, _, _, model = fitted
    means = X @ model.coef_.T + model.intercept_
    np.testing.assert_allclose(model.predict_components(X), means, rtol=1e-12)
    np.testing.assert_allclose(model.predict(X), means @ model.weights_, rtol=1e-12)
    resid = y - model.predict(X)
    assert model.score(X, y) == pytest.approx(1 - resid @ resid / np.sum((y - y.mean()) ** 2))


def test_information_criteria_match_their_definitions(fitted):
    X, y, _, _, model = fitted
    K, p = 2, X.shape[1] + 1
    d = K * p + K + (K - 1)
    assert model.n_parameters_ == d
    ll = np.log(_mixture_density(model, X, y).sum(1)).sum()
    n = len(y)
    assert model.aic(X, y) == pytest.approx(-2 * ll + 2 * d, rel=1e-12)
    assert model.bic(X, y) == pytest.approx(-2 * ll + d * np.log(n), rel=1e-12)
    dens = _mixture_density(model, X, y)
    post = dens / dens.sum(1, keepdims=True)
    entropy_hard = -np.sum(np.log(post.max(axis=1)))
    assert model.icl(X, y) == pytest.approx(-2 * ll + d * np.log(n) + 2 * entropy_hard,
                                            rel=1e-12)
    assert model.icl(X, y) >= model.bic(X, y)


def test_sample_from_the_fitted_model(fitted):
    X, _, _, _, model = fitted
    Xs, ys, labels = model.sample(20000, random_state=1)
    assert Xs.shape == (20000, 2) and ys.shape == (20000,)
    np.testing.assert_allclose(np.bincount(labels) / 20000, model.weights_, atol=0.015)
    for k in range(2):
        rows = labels == k
        resid = ys[rows] - Xs[rows] @ model.coef_[k] - model.intercept_[k]
        assert resid.std() == pytest.approx(model.sigma_[k], rel=0.05)
    # at given features, with reproducible draws
    Xa, ya, la = model.sample(X=X[:50], random_state=3)
    Xb, yb, lb = model.sample(X=X[:50], random_state=3)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(Xa, X[:50])
    with pytest.raises(ValueError, match="n_samples"):
        model.sample()


def test_max_iter_zero_initialises_only():
    X, y, _, _ = make_regression_mixture(200, 1, 2, random_state=0)
    model = RegressionMixture(2, init="random", n_init=1, max_iter=0, random_state=0).fit(X, y)
    assert model.n_iter_ == 0
    assert len(model.log_likelihood_history_) == 1
    assert model.log_likelihood(X, y) == pytest.approx(model.log_likelihood_, rel=1e-12)


def test_convergence_warning_when_best_start_did_not_converge():
    X, y, _, _ = make_regression_mixture(200, 1, 2, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        RegressionMixture(2, init="random", max_iter=2, random_state=0).fit(X, y)


def test_same_random_state_gives_identical_fits():
    X, y, _, _ = make_regression_mixture(300, 2, 3, random_state=4)
    a = RegressionMixture(3, random_state=7).fit(X, y)
    b = RegressionMixture(3, random_state=7).fit(X, y)
    assert np.array_equal(a.coef_, b.coef_) and a.log_likelihood_ == b.log_likelihood_


def test_given_responsibilities_start():
    X, y, labels, _ = make_regression_mixture(300, 1, 2, random_state=5)
    resp = np.eye(2)[labels]
    model = RegressionMixture(2, init=resp, max_iter=0).fit(X, y)
    # one M-step from the true labels is the per-group least-squares fit
    for k in range(2):
        rows = labels == k
        D = np.column_stack([np.ones(rows.sum()), X[rows]])
        beta = np.linalg.lstsq(D, y[rows], rcond=None)[0]
        j = int(np.argmin(np.abs(model.intercept_ - beta[0])))
        assert model.coef_[j, 0] == pytest.approx(beta[1], rel=1e-10)
    with pytest.raises(ValueError, match="shape"):
        RegressionMixture(2, init=resp[:10]).fit(X, y)


def test_every_start_degenerate_raises_clear_error():
    # three points per component cannot support 5 components of weight >= 0.2
    X, y, _, _ = make_regression_mixture(40, 1, 1, random_state=0)
    with pytest.raises(DegenerateFitError, match="min_weight"):
        RegressionMixture(5, min_weight=0.19, n_init=2, random_state=0).fit(X, y)


def test_rank_deficient_design_warns_naming_the_column():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    X["c"] = X["a"] + 2 * X["b"]
    y = np.where(rng.random(300) < 0.5, 1, -1) * X["a"] + rng.normal(0, 0.3, size=300)
    with pytest.warns(RankDeficiencyWarning, match="'c'|c is a linear combination"):
        model = RegressionMixture(2, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.coef_))
    assert list(model.feature_names_in_) == ["a", "b", "c"]


def test_never_mutates_inputs():
    X, y, _, _ = make_regression_mixture(200, 2, 2, random_state=0)
    w = np.ones(200)
    frame = pd.DataFrame(X, columns=["u", "v"])
    copies = X.copy(), y.copy(), w.copy(), frame.copy()
    model = RegressionMixture(2, random_state=0).fit(X, y, sample_weight=w)
    model.fit(frame, y)
    model.predict(frame)
    model.posterior(frame, y)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    np.testing.assert_array_equal(w, copies[2])
    pd.testing.assert_frame_equal(frame, copies[3])


def test_no_nan_when_a_component_collapses():
    # 5 identical points on a line far from the rest invite a zero-variance component
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=100), np.full(5, 3.0)])[:, None]
    y = np.concatenate([2 * X[:100, 0] + rng.normal(size=100), np.full(5, -10.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RegressionMixture(2, min_weight=0.0, random_state=0).fit(X, y)
    for value in (model.coef_, model.intercept_, model.sigma_, model.weights_,
                  model.log_likelihood_):
        assert np.all(np.isfinite(value))
    # the floor: sqrt(var_floor) times the robust scale of y (1.4826 times its MAD)
    floor = np.sqrt(1e-8) * stats.median_abs_deviation(y, scale="normal")
    assert model.sigma_.min() >= floor * (1 - 1e-12)


def test_subsample_screening_reaches_the_same_optimum():
    X, y, _, _ = make_regression_mixture(30000, 2, 3, sigma=[1.0, 0.7, 1.2], random_state=8)
    screened = RegressionMixture(3, init_sample_size=2000, random_state=0).fit(X, y)
    full = RegressionMixture(3, init_sample_size=None, random_state=0).fit(X, y)
    assert screened.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-12, abs=1e-6)
    np.testing.assert_allclose(screened.coef_, full.coef_, rtol=1e-6, atol=1e-8)
    # only the winner runs on all rows: far fewer full passes
    assert screened.n_passes_ < full.n_passes_ / 5
