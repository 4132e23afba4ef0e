"""The estimator's inference methods: tables, covariance, bootstrap, summary."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture


@pytest.fixture(scope="module")
def fit():
    X, y, _, _ = make_regression_mixture(400, coef=[[2.0], [-1.0]], intercept=[0.0, 1.0],
                                         sigma=[0.6, 0.8], weights=[0.6, 0.4], random_state=2)
    frame = pd.DataFrame({"dose": X[:, 0]})
    return frame, y, RegressionMixture(2, random_state=0).fit(frame, y)


def _loglik(theta, X, y):
    """Log-likelihood in (b0, b1, log s) x 2, eta parametrisation, written in the test."""
    b = theta[[0, 1, 3, 4]].reshape(2, 2)
    s = np.exp(theta[[2, 5]])
    pi = np.exp([0.0, theta[6]]) / (1 + np.exp(theta[6]))
    logp = np.column_stack([np.log(pi[k]) + norm.logpdf(y, b[k, 0] + X[:, 0] * b[k, 1], s[k])
                            for k in range(2)])
    return logsumexp(logp, axis=1).sum()


def test_standard_errors_match_a_numerical_hessian(fit):
    frame, y, model = fit
    X = frame.to_numpy()
    theta = np.array([model.intercept_[0], model.coef_[0, 0], np.log(model.sigma_[0]),
                      model.intercept_[1], model.coef_[1, 0], np.log(model.sigma_[1]),
                      np.log(model.weights_[1] / model.weights_[0])])
    h = 1e-4
    d = len(theta)
    H = np.empty((d, d))
    for i in range(d):
        for j in range(d):
            e_i, e_j = np.eye(d)[i] * h, np.eye(d)[j] * h
            H[i, j] = (_loglik(theta + e_i + e_j, X, y) - _loglik(theta + e_i - e_j, X, y)
                       - _loglik(theta - e_i + e_j, X, y) + _loglik(theta - e_i - e_j, X, y)
                       ) / (4 * h * h)
    cov_theta = np.linalg.inv(-H)
    table = model.coef_table()
    # coefficients: theta coordinates are the natural ones
    assert table.loc[(1, "intercept"), "std_err"] == pytest.approx(
        np.sqrt(cov_theta[0, 0]), rel=1e-4)
    assert table.loc[(2, "dose"), "std_err"] == pytest.approx(np.sqrt(cov_theta[4, 4]), rel=1e-4)
    # sigma = exp(log s): delta method
    assert table.loc[(1, "sigma"), "std_err"] == pytest.approx(
        model.sigma_[0] * np.sqrt(cov_theta[2, 2]), rel=1e-4)
    # weight_2 = logistic(eta): derivative pi1 * pi2
    pi1, pi2 = model.weights_
    assert table.loc[(2, "weight"), "std_err"] == pytest.approx(
        pi1 * pi2 * np.sqrt(cov_theta[6, 6]), rel=1e-4)


def test_coef_table_layout(fit):
    _, _, model = fit
    table = model.coef_table(alpha=0.1)
    assert list(table.columns) == ["estimate", "std_err", "z", "p_value", "ci_lower",
                                   "ci_upper"]
    assert list(table.index.get_level_values("parameter")[:4]) == ["intercept", "dose",
                                                                    "sigma", "weight"]
    row = table.loc[(1, "dose")]
    assert row["estimate"] == model.coef_[0, 0]
    assert row["ci_upper"] - row["estimate"] == pytest.approx(1.6448536 * row["std_err"])
    cov = model.covariance_matrix()
    assert cov.shape == (8, 8) and np.allclose(cov, cov.T)


def test_bootstrap_through_the_estimator(fit):
    frame, y, model = fit
    boot = model.bootstrap(frame, y, n_boot=60, random_state=0)
    again = model.bootstrap(frame, y, n_boot=60, random_state=0)
    pd.testing.assert_frame_equal(boot.replicates, again.replicates)
    analytic = model.coef_table()["std_err"]
    ratio = (boot.std_err / analytic).loc[[(1, "dose"), (2, "dose"), (1, "intercept")]]
    assert np.all((ratio > 0.6) & (ratio < 1.5))
    par = model.bootstrap(frame, y, n_boot=30, kind="parametric", random_state=1)
    assert par.n_failed == 0 and len(par.replicates) == 30


def test_summary_text_and_html(fit):
    _, _, model = fit
    text = str(model.summary())
    for needle in ("Log-likelihood", f"{model.log_likelihood_:.3f}", "BIC", "ICL",
                   "Converged", "dose", "sigma", "weight"):
        assert needle in text
    html = model._repr_html_()
    assert html.count("<table") >= 1 and "dose" in html
    assert "<table" not in RegressionMixture()._repr_html_() or "RegressionMixture" in \
        RegressionMixture()._repr_html_()


def test_compute_se_false_skips_the_information(fit):
    frame, y, _ = fit
    model = RegressionMixture(2, random_state=0, compute_se=False).fit(frame, y)
    assert model.information_ is None
    with pytest.raises(ValueError, match="compute_se=True"):
        model.coef_table()
