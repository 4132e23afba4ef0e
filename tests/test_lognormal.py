"""Log-normal components: alone and beside Gamma components, against log-likelihoods,
means and standard errors written here with scipy; predictions, sampling, model files,
formulas, streaming and the command line.

(The two-component EM against the dense reference EM, K = 1 against least squares on
``log y``, the observed information against a numerical Hessian and the invalid
responses are in ``test_families_reference.py`` and ``test_family_information.py``.)
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from regmix import LogNormal, RegressionMixture, load
from regmix.datasets import make_family_mixture
from tests.reference import numerical_hessian
from tests.test_global_optimum import _best_of_100


def _data(n=500, seed=0):
    X, y, labels, truth = make_family_mixture(
        n, "lognormal", coef=[[0.8], [-0.5]], intercept=[0.5, 2.0], weights=[0.55, 0.45],
        extra={"sigma": [0.4, 0.3]}, random_state=seed)
    return X, y, labels, truth


def _mixture_loglik(X, y, theta, kinds):
    """The log-likelihood of a mixture of ``kinds`` ("lognormal" or "gamma") with log
    links, by scipy: ``theta`` per component (intercept, slope, log extra), then the
    logits of components 2..K against the first."""
    K = len(kinds)
    blocks, logits = theta[: 3 * K].reshape(K, 3), np.concatenate([[0.0], theta[3 * K :]])
    log_pi = logits - special.logsumexp(logits)
    parts = []
    for k, kind in enumerate(kinds):
        eta = blocks[k, 0] + blocks[k, 1] * X[:, 0]
        extra = np.exp(blocks[k, 2])
        if kind == "lognormal":
            parts.append(log_pi[k] + stats.lognorm.logpdf(y, extra, scale=np.exp(eta)))
        else:
            parts.append(log_pi[k] + stats.gamma.logpdf(y, extra, scale=np.exp(eta) / extra))
    return float(np.sum(special.logsumexp(np.array(parts), axis=0)))


def _theta(model, kinds):
    extra = [model.sigma_ if kind == "lognormal" else model.shape_ for kind in kinds]
    blocks = [[model.intercept_[k], model.coef_[k, 0], np.log(extra[k][k])]
              for k in range(len(kinds))]
    logits = np.log(model.weights_[1:]) - np.log(model.weights_[0])
    return np.concatenate([np.ravel(blocks), logits])


def _gradient(X, y, theta, kinds):
    """Central differences of :func:`_mixture_loglik` in ``theta``."""
    step = 1e-4  # the round-off of the sum, about 1e-13 * abs(log L) / step, stays small
    return np.array([(_mixture_loglik(X, y, theta + step * e, kinds)
                      - _mixture_loglik(X, y, theta - step * e, kinds)) / (2 * step)
                     for e in np.eye(theta.size)])


def test_the_fit_is_a_stationary_point_of_the_scipy_log_likelihood():
    X, y, _, _ = _data()
    model = RegressionMixture(2, family="lognormal", random_state=0).fit(X, y)
    kinds = ["lognormal", "lognormal"]
    theta = _theta(model, kinds)
    assert model.log_likelihood_ == pytest.approx(_mixture_loglik(X, y, theta, kinds),
                                                  rel=1e-12)
    np.testing.assert_allclose(_gradient(X, y, theta, kinds), 0.0, atol=1e-3)
    # the standard errors of the coefficients from the numerical Hessian
    H = numerical_hessian(lambda t: _mixture_loglik(X, y, t, kinds), theta, h=1e-4)
    cov = np.linalg.inv(-H)
    se = model.coef_table()["std_err"]
    for k in range(2):
        assert se[(k + 1, "intercept")] == pytest.approx(np.sqrt(cov[3 * k, 3 * k]), rel=1e-4)
        assert se[(k + 1, "x0")] == pytest.approx(np.sqrt(cov[3 * k + 1, 3 * k + 1]),
                                                  rel=1e-4)


def test_a_gamma_and_a_log_normal_component_side_by_side():
    rng = np.random.default_rng(3)
    n = 600
    x = rng.normal(size=n)
    second = rng.random(n) < 0.4
    y = np.where(second, np.exp(2.0 - 0.5 * x + 0.25 * rng.standard_normal(n)),
                 rng.gamma(3.0, np.exp(0.3 + 0.6 * x) / 3.0))
    X = x[:, None]
    model = RegressionMixture(2, family=["gamma", "lognormal"], random_state=0).fit(X, y)
    kinds = ["gamma", "lognormal"]
    extra = [model.state_.extra[0, 0], model.state_.extra[1, 1]]  # shape, sigma
    theta = np.concatenate([
        [model.intercept_[0], model.coef_[0, 0], np.log(extra[0])],
        [model.intercept_[1], model.coef_[1, 0], np.log(extra[1])],
        [np.log(model.weights_[1] / model.weights_[0])]])
    assert model.log_likelihood_ == pytest.approx(_mixture_loglik(X, y, theta, kinds),
                                                  rel=1e-12)
    np.testing.assert_allclose(_gradient(X, y, theta, kinds), 0.0, atol=1e-3)
    np.testing.assert_allclose(model.coef_[:, 0], [0.6, -0.5], atol=0.1)
    assert model.weights_[1] == pytest.approx(0.4, abs=0.06)
    # a Gaussian component beside it is refused: its response is standardised
    with pytest.raises(ValueError, match="location-scale"):
        RegressionMixture(2, family=["gaussian", "lognormal"]).fit(X, y)


def test_which_family_takes_which_rows_is_searched():
    # a spread-out Gamma component and a tight log-normal one: a start that gives the
    # tight rows to the Gamma component climbs to a lower maximum (seed 12 did before
    # the search swapped the two components' rows)
    X, y, _, _ = make_family_mixture(
        800, ["gamma", "lognormal"], coef=[[0.6], [-0.5]], intercept=[0.3, 2.0],
        weights=[0.6, 0.4], extra={"shape": [3.0, np.nan], "sigma": [np.nan, 0.25]},
        random_state=69)
    family = ["gamma", "lognormal"]
    best = _best_of_100(X, y, 2, n_starts=30, family=family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = RegressionMixture(2, family=family, random_state=12, compute_se=False).fit(X, y)
    assert fit.log_likelihood_ >= best - 1e-6 * abs(best)
    assert fit.weights_[0] > fit.weights_[1]  # the Gamma component holds the wide 60%


def test_predictions_are_the_log_normal_means_and_samples_follow_them():
    X, y, _, _ = _data(400, 1)
    model = RegressionMixture(2, family="lognormal", random_state=0).fit(X, y)
    Xn = np.array([[-1.0], [0.0], [1.5]])
    eta = model.intercept_ + Xn @ model.coef_.T
    means = np.exp(eta + 0.5 * model.sigma_**2)
    np.testing.assert_allclose(model.predict_components(Xn), means, rtol=1e-13)
    np.testing.assert_allclose(model.predict(Xn), means @ model.weights_, rtol=1e-13)
    np.testing.assert_allclose(model.predict_components(Xn, kind="link"), eta, rtol=1e-13)
    draws = model.sample(X=np.repeat(Xn[1:2], 40_000, axis=0), random_state=0)[1]
    assert np.all(draws > 0)
    assert draws.mean() == pytest.approx(model.predict(Xn[1:2])[0], rel=0.02)
    with pytest.raises(ValueError, match="margins of lognormal components"):
        model.marginal_effects(X)


def test_model_file_formula_and_command_line(tmp_path):
    X, y, _, _ = _data(300, 2)
    frame = pd.DataFrame({"x": X[:, 0], "y": y})
    model = RegressionMixture(2, family="lognormal", formula="y ~ x",
                              random_state=0).fit(frame)
    plain = RegressionMixture(2, family="lognormal", random_state=0).fit(X, y)
    assert model.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-12)
    path = tmp_path / "m.json"
    model.save(path)
    again = load(path)
    assert isinstance(again.family_, LogNormal)
    np.testing.assert_array_equal(again.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(again.posterior(frame), model.posterior(frame))

    from click.testing import CliRunner

    from regmix.cli import main

    frame.to_csv(tmp_path / "d.csv", index=False)
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "d.csv"), "--formula", "y ~ x",
                                       "-k", "2", "--family", "lognormal", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "Log-normal" in result.output
    frame.loc[5, "y"] = -1.0
    frame.to_csv(tmp_path / "bad.csv", index=False)
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "bad.csv"), "--formula",
                                       "y ~ x", "-k", "2", "--family", "lognormal"])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "must be positive" in result.output


def test_a_streamed_parquet_fit_equals_the_fit_in_memory(tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    X, y, _, _ = _data(900, 3)
    pd.DataFrame({"x": X[:, 0], "y": y}).to_parquet(tmp_path / "d.parquet",
                                                    row_group_size=300)
    kw = dict(family="lognormal", random_state=0, n_init=1, split_merge=False)
    in_memory = RegressionMixture(2, **kw).fit(X, y)
    streamed = RegressionMixture(2, **kw).fit(ParquetData(tmp_path / "d.parquet", x=["x"],
                                                          y="y"))
    assert streamed.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(streamed.coef_, in_memory.coef_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(streamed.sigma_, in_memory.sigma_, rtol=1e-9)


def test_the_default_fit_reaches_the_best_of_many_starts():
    X, y, _, _ = make_family_mixture(
        600, "lognormal", coef=[[1.0], [0.2], [-0.8]], intercept=[0.0, 0.6, 0.2],
        weights=[0.5, 0.35, 0.15], extra={"sigma": [0.5, 0.3, 0.4]}, random_state=5)
    best = _best_of_100(X, y, 3, n_starts=40, family="lognormal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = RegressionMixture(3, family="lognormal", random_state=0,
                                compute_se=False).fit(X, y)
    assert fit.log_likelihood_ >= best - 1e-6 * abs(best)
