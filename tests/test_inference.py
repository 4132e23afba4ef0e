"""Observed information, delta-method covariance, Wald tables and the bootstrap.

The expectations are computed independently: a numerical Hessian of a log-likelihood
written here with scipy, the spread of estimates over simulated data sets, and the
closed-form standard errors of ordinary least squares.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp, softmax
from scipy.stats import norm

from regmix import DegenerateFitError, RegressionMixture
from regmix.core.errors import InformationWarning
from regmix.datasets import make_regression_mixture
from regmix.inference.bootstrap import BootstrapResult, bootstrap
from regmix.inference.covariance import coef_table, covariance, natural_parameters
from regmix.inference.information import observed_information, parameter_index

from .reference import match_labels

SEPARATED = {"weights": [0.6, 0.4], "coef": [[2.0], [-2.0]], "intercept": [2.0, -2.0],
             "sigma": [0.5, 1.0]}


# ---------------------------------------------------------------------- helpers
def _design(X, fit_intercept=True):
    return np.column_stack([np.ones(len(X)), X]) if fit_intercept else np.asarray(X)


def _full(model):
    return np.column_stack([model.intercept_, model.coef_])


def _theta(weights, coef_full, sigma):
    """Unconstrained coordinates (b_1, log s_1, ..., b_K, log s_K, eta_2, ..., eta_K)."""
    blocks = np.column_stack([coef_full, np.log(sigma)]).ravel()
    return np.concatenate([blocks, np.log(weights[1:] / weights[0])])


def _loglik(theta, D, y, w, K):
    p = D.shape[1]
    blocks = theta[: K * (p + 1)].reshape(K, p + 1)
    log_pi = np.log(softmax(np.concatenate([[0.0], theta[K * (p + 1) :]])))
    logp = log_pi + norm.logpdf(y[:, None], D @ blocks[:, :p].T, np.exp(blocks[:, p]))
    return float(w @ logsumexp(logp, axis=1))


def _numerical_hessian(f, x, h=3e-3):
    """Central second differences, Richardson-extrapolated (error O(h^4))."""

    def at(step):
        d = x.size
        E = np.eye(d) * step
        H = np.empty((d, d))
        for i in range(d):
            for j in range(i, d):
                H[i, j] = H[j, i] = (
                    f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j])
                    + f(x - E[i] - E[j])
                ) / (4 * step * step)
        return H

    return (4 * at(h / 2) - at(h)) / 3


def _natural_from_theta(theta, K, p):
    blocks = theta[: K * (p + 1)].reshape(K, p + 1)
    pi = softmax(np.concatenate([[0.0], theta[K * (p + 1) :]]))
    return np.column_stack([blocks[:, :p], np.exp(blocks[:, p]), pi]).ravel()


def _se(model, X, y, w=None):
    full = _full(model)
    info = observed_information(model.weights_, full, model.sigma_, _design(X), y, w)
    return np.sqrt(np.diag(covariance(model.weights_, full, model.sigma_, info)))


def _params(model):
    return natural_parameters(model.weights_, _full(model), model.sigma_)


@pytest.fixture(scope="module")
def separated():
    X, y, _, _ = make_regression_mixture(300, **SEPARATED, random_state=5)
    model = RegressionMixture(2, random_state=0).fit(X, y)
    return X, y, model


def _fit_from(model):
    init = {"weights": model.weights_, "coef": model.coef_, "intercept": model.intercept_,
            "sigma": model.sigma_}

    def fit_fn(X, y, w):
        return RegressionMixture(2, init=init, n_jobs=1).fit(X, y, w)

    return fit_fn


# ---------------------------------------------------------------------- layout
def test_parameter_index_order_and_labels():
    index = parameter_index(2, ["a", "b"], True)
    assert index.names == ["component", "parameter"]
    assert index.tolist() == [
        (1, "intercept"), (1, "a"), (1, "b"), (1, "sigma"), (1, "weight"),
        (2, "intercept"), (2, "a"), (2, "b"), (2, "sigma"), (2, "weight"),
    ]
    assert parameter_index(1, ["x0"], False).tolist() == [(1, "x0"), (1, "sigma"), (1, "weight")]


def test_parameter_index_refuses_duplicate_names():
    with pytest.raises(ValueError, match="sigma"):
        parameter_index(2, ["sigma"], True)


def test_natural_parameters_follow_the_index():
    vec = natural_parameters([0.7, 0.3], [[1.0, 2.0], [3.0, 4.0]], [0.5, 0.6])
    np.testing.assert_array_equal(vec, [1.0, 2.0, 0.5, 0.7, 3.0, 4.0, 0.6, 0.3])


# ---------------------------------------------------------------------- information
def _information_cases():
    # a fitted optimum with two components
    X, y, _, _ = make_regression_mixture(250, 2, 2, coef=[[1.5, -1.0], [-1.0, 0.5]],
                                         intercept=[0.5, -0.5], sigma=[0.6, 0.9],
                                         random_state=3)
    model = RegressionMixture(2, random_state=0).fit(X, y)
    yield "optimum", (model.weights_, _full(model), model.sigma_, _design(X), y, np.ones(len(y)))
    # an arbitrary point with three components, row weights and no intercept
    rng = np.random.default_rng(4)
    X, y, _, _ = make_regression_mixture(200, 3, 3, random_state=4)
    w = rng.uniform(0.2, 2.0, size=len(y))
    coef = rng.normal(0, 2, size=(3, 3))
    yield "arbitrary", (np.array([0.5, 0.3, 0.2]), coef, np.array([1.0, 2.0, 3.0]), X, y, w)


@pytest.mark.parametrize("case", list(_information_cases()), ids=lambda c: c[0])
def test_information_equals_numerical_hessian(case):
    weights, coef_full, sigma, D, y, w = case[1]
    K = len(weights)
    theta = _theta(weights, coef_full, sigma)
    numerical = -_numerical_hessian(lambda t: _loglik(t, D, y, w, K), theta)
    info = observed_information(weights, coef_full, sigma, D, y, w)
    assert info.shape == (theta.size, theta.size)
    np.testing.assert_allclose(info, numerical, rtol=1e-5, atol=1e-7 * np.abs(numerical).max())


def test_information_at_an_optimum_is_positive_definite(separated):
    X, y, model = separated
    info = observed_information(model.weights_, _full(model), model.sigma_, _design(X), y)
    assert np.linalg.eigvalsh(info).min() > 0


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 100000])
def test_information_does_not_depend_on_chunk_size(separated, chunk_size):
    X, y, model = separated
    args = (model.weights_, _full(model), model.sigma_, _design(X), y)
    ref = observed_information(*args)
    np.testing.assert_allclose(observed_information(*args, chunk_size=chunk_size), ref,
                               rtol=1e-11, atol=1e-11 * np.abs(ref).max())


def test_integer_weights_equal_repeated_rows(separated):
    X, y, model = separated
    counts = np.random.default_rng(0).integers(0, 4, size=len(y))
    args = (model.weights_, _full(model), model.sigma_)
    weighted = observed_information(*args, _design(X), y, counts)
    repeated = observed_information(*args, _design(np.repeat(X, counts, axis=0)),
                                    np.repeat(y, counts))
    np.testing.assert_allclose(weighted, repeated, rtol=1e-10, atol=1e-10)


def test_information_refuses_bad_shapes(separated):
    X, y, model = separated
    with pytest.raises(ValueError, match="D must have shape"):
        observed_information(model.weights_, _full(model), model.sigma_, X, y)
    with pytest.raises(ValueError, match="positive"):
        observed_information([1.0, 0.0], _full(model), model.sigma_, _design(X), y)


# ---------------------------------------------------------------------- covariance
def test_single_component_gives_ols_standard_errors():
    rng = np.random.default_rng(2)
    n = 120
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1]
    y = 1.0 + X @ [0.5, -0.2, 3.0] + rng.normal(0, 0.7, size=n)
    D = _design(X)
    beta, rss = np.linalg.lstsq(D, y, rcond=None)[:2]
    sigma_ml = np.sqrt(rss[0] / n)
    info = observed_information([1.0], beta[None, :], [sigma_ml], D, y)
    cov = covariance([1.0], beta[None, :], [sigma_ml], info)
    ols = sigma_ml**2 * np.linalg.inv(D.T @ D)
    np.testing.assert_allclose(cov[:4, :4], ols, rtol=1e-9)
    np.testing.assert_allclose(cov[4, 4], sigma_ml**2 / (2 * n), rtol=1e-9)
    np.testing.assert_allclose(cov[:4, 4], 0.0, atol=1e-12)
    np.testing.assert_array_equal(cov[5], 0.0)  # the single weight is fixed at one


def test_single_component_fit_gives_ols_standard_errors():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 1))
    y = 2.0 - X[:, 0] + rng.normal(size=80)
    model = RegressionMixture(1).fit(X, y)
    D = _design(X)
    resid = y - D @ np.linalg.lstsq(D, y, rcond=None)[0]
    sigma_ml = np.sqrt(resid @ resid / len(y))
    se = _se(model, X, y)
    np.testing.assert_allclose(se[:2], sigma_ml * np.sqrt(np.diag(np.linalg.inv(D.T @ D))),
                               rtol=1e-7)


def test_covariance_is_the_delta_method_image():
    weights = np.array([0.5, 0.3, 0.2])
    coef = np.array([[1.0, -1.0], [0.0, 2.0], [3.0, 0.5]])
    sigma = np.array([0.5, 1.0, 2.0])
    rng = np.random.default_rng(0)
    A = rng.normal(size=(11, 11))
    info = A @ A.T + 11 * np.eye(11)
    theta = _theta(weights, coef, sigma)
    h = 1e-6
    J = np.column_stack([
        (_natural_from_theta(theta + h * e, 3, 2) - _natural_from_theta(theta - h * e, 3, 2))
        / (2 * h)
        for e in np.eye(theta.size)
    ])
    np.testing.assert_allclose(_natural_from_theta(theta, 3, 2),
                               natural_parameters(weights, coef, sigma), rtol=1e-12)
    expected = J @ np.linalg.inv(info) @ J.T
    np.testing.assert_allclose(covariance(weights, coef, sigma, info), expected,
                               rtol=1e-7, atol=1e-12)


def test_covariance_warns_when_the_information_is_singular():
    A = np.random.default_rng(1).normal(size=(4, 4))
    info = np.zeros((5, 5))
    info[:4, :4] = A @ A.T + np.eye(4)  # nothing known about the proportions
    weights, coef, sigma = [0.5, 0.5], [[0.0], [1.0]], [1.0, 2.0]
    with pytest.warns(InformationWarning, match="singular"):
        cov = covariance(weights, coef, sigma, info)
    # rows (b1, s1, pi1, b2, s2, pi2), columns (b1, log s1, b2, log s2, eta2)
    J = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, -0.25],
                  [0, 0, 1, 0, 0], [0, 0, 0, 2, 0], [0, 0, 0, 0, 0.25]])
    np.testing.assert_allclose(cov, J @ np.linalg.pinv(info) @ J.T, rtol=1e-8, atol=1e-10)


def test_identical_components_give_a_warning():
    # the likelihood does not depend on the proportions of two identical components
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 1))
    y = X[:, 0] + rng.normal(size=100)
    coef = np.array([[0.0, 1.0], [0.0, 1.0]])
    info = observed_information([0.5, 0.5], coef, [1.0, 1.0], _design(X), y)
    assert abs(info[-1, -1]) < 1e-12 * np.abs(info).max()
    with pytest.warns(InformationWarning):
        cov = covariance([0.5, 0.5], coef, [1.0, 1.0], info)
    assert np.all(np.isfinite(cov))


def test_covariance_warns_when_the_information_is_not_positive_definite():
    info = np.diag([1.0, 2.0, -1.0])
    with pytest.warns(InformationWarning, match="not positive definite"):
        cov = covariance([1.0], [[0.0, 1.0]], [1.0], info)
    table = coef_table(natural_parameters([1.0], [[0.0, 1.0]], [1.0]), cov,
                       parameter_index(1, ["x"], True))
    assert np.isnan(table.loc[(1, "sigma"), "std_err"])


def test_covariance_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match="information must have shape"):
        covariance([0.5, 0.5], [[0.0], [1.0]], [1.0, 1.0], np.eye(3))


# ---------------------------------------------------------------------- Wald table
def test_coef_table_columns_and_values():
    index = parameter_index(1, ["x"], True)
    est = np.array([1.0, 1.96, 0.5, 1.0])
    cov = np.diag([0.25, 1.0, 0.01, 0.0])
    table = coef_table(est, cov, index, alpha=0.1)
    assert list(table.columns) == ["estimate", "std_err", "z", "p_value", "ci_lower",
                                   "ci_upper"]
    assert table.index.equals(index)
    row = table.loc[(1, "x")]
    assert row["z"] == pytest.approx(1.96)
    assert row["p_value"] == pytest.approx(0.05, abs=1e-4)
    assert row["ci_lower"] == pytest.approx(1.96 - 1.6448536, rel=1e-6)
    assert table.loc[(1, "intercept"), "std_err"] == pytest.approx(0.5)
    # no test of a zero sigma or weight; a fixed weight has zero standard error
    assert table.loc[[(1, "sigma"), (1, "weight")], ["z", "p_value"]].isna().all().all()
    assert table.loc[(1, "weight"), "ci_lower"] == table.loc[(1, "weight"), "ci_upper"] == 1.0
    assert table.attrs["alpha"] == 0.1


# ---------------------------------------------------------------------- sampling variability
def test_standard_errors_match_the_spread_over_simulated_data_sets():
    true_coef = np.array(SEPARATED["coef"])
    estimates, errors = [], []
    for seed in range(200):
        X, y, _, _ = make_regression_mixture(400, **SEPARATED, random_state=1000 + seed)
        model = RegressionMixture(2, init=SEPARATED, n_jobs=1).fit(X, y)
        perm = match_labels(true_coef, model.coef_)
        estimates.append(_params(model).reshape(2, -1)[perm].ravel())
        errors.append(_se(model, X, y).reshape(2, -1)[perm].ravel())
    empirical = np.std(estimates, axis=0, ddof=1)
    analytic = np.sqrt(np.mean(np.square(errors), axis=0))
    np.testing.assert_allclose(analytic / empirical, 1.0, atol=0.15)


# ---------------------------------------------------------------------- bootstrap
def _reversing(fit_fn):
    """A fit function whose fits report their components in reverse order."""

    def fit(X, y, w):
        model = fit_fn(X, y, w)
        for name in ("coef_", "intercept_", "sigma_", "weights_"):
            setattr(model, name, getattr(model, name)[::-1].copy())
        return model

    return fit


@pytest.mark.parametrize("kind", ["parametric", "nonparametric"])
def test_bootstrap_standard_errors_agree_with_the_information(separated, kind):
    X, y, model = separated
    result = bootstrap(_fit_from(model), X, y, None, 100, kind=kind, random_state=0,
                       reference=model)
    assert isinstance(result, BootstrapResult)
    assert result.n_boot == 100 and result.n_failed == 0
    index = parameter_index(2, model.coef_names(), True)
    assert result.replicates.columns.equals(index)
    analytic = pd.Series(_se(model, X, y), index=index)
    np.testing.assert_allclose(result.std_err / analytic, 1.0, atol=0.3)
    ci = result.ci
    assert list(ci.columns) == ["ci_lower", "ci_upper"]
    assert np.all((ci["ci_lower"] < _params(model)) & (_params(model) < ci["ci_upper"]))
    table = result.table()
    assert list(table.columns) == ["estimate", "std_err", "z", "p_value", "ci_lower",
                                   "ci_upper"]
    np.testing.assert_allclose(table["estimate"], _params(model))
    assert kind in table.attrs["se_method"]


def test_bootstrap_undoes_label_switching(separated):
    X, y, model = separated
    result = bootstrap(_reversing(_fit_from(model)), X, y, None, 20, kind="nonparametric",
                       random_state=1, reference=model)
    deviation = (result.replicates - _params(model)).abs()
    # every replicate lies close to the reference component for component
    assert (deviation.max() < 8 * pd.Series(_se(model, X, y), index=deviation.columns)).all()


def test_bootstrap_is_deterministic_for_a_seed(separated):
    X, y, model = separated
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=len(y))
    run = dict(fit_fn=_fit_from(model), X=X, y=y, sample_weight=w, n_boot=5,
               kind="nonparametric", reference=model)
    a = bootstrap(**run, random_state=3)
    b = bootstrap(**run, random_state=3)
    c = bootstrap(**run, random_state=4)
    pd.testing.assert_frame_equal(a.replicates, b.replicates)
    assert not np.allclose(a.replicates, c.replicates)


def test_parametric_bootstrap_with_a_sample_function(separated):
    X, y, model = separated
    calls = []

    def sample_fn(Xs, rng):
        calls.append(Xs)
        return model.sample(X=Xs, random_state=int(rng.integers(2**31 - 1)))[1]

    a = bootstrap(_fit_from(model), X, y, None, 4, random_state=0, sample_fn=sample_fn,
                  reference=model)
    b = bootstrap(_fit_from(model), X, y, None, 4, random_state=0, reference=model)
    assert len(calls) == 4 and all(Xs is X for Xs in calls)
    pd.testing.assert_frame_equal(a.replicates, b.replicates)


def test_bootstrap_drops_and_counts_failed_fits(separated):
    X, y, model = separated
    fit = _fit_from(model)
    count = iter(range(100))

    def flaky(Xb, yb, w):
        if next(count) % 3 == 1:
            raise DegenerateFitError("no luck")
        return fit(Xb, yb, w)

    result = bootstrap(flaky, X, y, None, 6, kind="nonparametric", random_state=0,
                       reference=model)
    assert result.n_failed == 2 and result.n_boot == 4
    assert result.errors == ["DegenerateFitError: no luck"] * 2

    def broken(Xb, yb, w):
        raise DegenerateFitError("never")

    with pytest.raises(RuntimeError, match="every one of the 3 bootstrap fits failed"):
        bootstrap(broken, X, y, None, 3, random_state=0, reference=model)


def test_bootstrap_fits_the_reference_when_not_given(separated):
    X, y, model = separated
    result = bootstrap(_fit_from(model), X, y, n_boot=3, kind="nonparametric",
                       random_state=0)
    np.testing.assert_allclose(result.estimates, _params(model), rtol=1e-6, atol=1e-8)


def test_bootstrap_refuses_an_unknown_kind(separated):
    X, y, model = separated
    with pytest.raises(ValueError, match="kind"):
        bootstrap(_fit_from(model), X, y, n_boot=3, kind="jackknife", reference=model)
