"""The latent-class linear mixed-model family against dense references."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from regmix.core.params import MixtureParams
from regmix.engine.kernel import compiled_pass_applies
from regmix.engine.passes import e_step_chunk, run_pass
from regmix.families.mixed_gaussian import MixedGaussian, MixedGaussianParams
from regmix.fitting.steps import m_step
from regmix.mixing.constant import ConstantWeights
from regmix.sources.arrays import ArrayData


def _data(n_groups=20, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    t = rng.uniform(0, 3, groups.size)
    b = rng.normal(size=(n_groups, 2)) * [1.0, 0.4]
    y = 1.0 + 0.5 * t + b[groups, 0] + b[groups, 1] * t + rng.normal(0, 0.3, t.size)
    return t[:, None], y, groups


def _params():
    cov = np.array([[[0.8, 0.1], [0.1, 0.2]], [[0.5, -0.05], [-0.05, 0.1]]])
    return MixtureParams(np.array([0.6, 0.4]),
                         MixedGaussianParams(np.array([[1.0, 0.5], [0.2, -0.3]]),
                                             np.array([0.3, 0.5]), cov))


def _dense_loglik(X, y, groups, params):
    """Sum over groups of log sum_k pi_k N(y_i; X_i beta_k, Z_i D_k Z_i' + s_k^2 I)."""
    total = 0.0
    comp = params.component
    for g in np.unique(groups):
        rows = groups == g
        Xd = np.column_stack([np.ones(rows.sum()), X[rows]])
        terms = [np.log(params.weights[k]) + multivariate_normal.logpdf(
            y[rows], Xd @ comp.coef[k],
            Xd @ comp.cov[k] @ Xd.T + comp.sigma[k] ** 2 * np.eye(rows.sum()))
            for k in range(2)]
        total += logsumexp(terms)
    return total


def _pass(source, family, params):
    mixing = ConstantWeights()
    return run_pass(source, lambda ch: e_step_chunk(ch, family, mixing, params),
                    chunk_size=8192)


def test_group_log_density_equals_dense_reference():
    X, y, groups = _data()
    source = ArrayData(X, y, None, fit_intercept=True, standardize=False, groups=groups)
    params = _params()
    result = _pass(source, MixedGaussian((0, 1)), params)
    assert result.loglik == pytest.approx(_dense_loglik(X, y, groups, params), abs=1e-10)


def test_ecm_steps_never_lower_the_likelihood():
    X, y, groups = _data(30, seed=1)
    source = ArrayData(X, y, None, fit_intercept=True, standardize=False, groups=groups)
    family, mixing = MixedGaussian((0, 1)), ConstantWeights()
    params = _params()
    history = []
    for _ in range(40):
        result = _pass(source, family, params)
        history.append(result.loglik)
        params, _ = m_step(family, mixing, result, params)
    assert np.all(np.diff(history) >= -1e-9)
    assert history[-1] > history[0] + 1.0


def test_one_class_reaches_the_statsmodels_maximum():
    import statsmodels.api as sm

    X, y, groups = _data(30, seed=2)
    source = ArrayData(X, y, None, fit_intercept=True, groups=groups)
    family, mixing = MixedGaussian((0, 1)), ConstantWeights()
    params = MixtureParams(np.ones(1), family.zero_params(1, 2))
    previous = -np.inf
    for _ in range(5000):
        result = _pass(source, family, params)
        if result.loglik - previous < 1e-11:
            break
        previous = result.loglik
        params, _ = m_step(family, mixing, result, params)
    loglik = result.loglik - y.size * np.log(source.standardization.y_scale)
    design = np.column_stack([np.ones(y.size), X])
    reference = sm.MixedLM(y, design, groups, exog_re=design).fit(reml=False)
    assert loglik == pytest.approx(reference.llf, abs=1e-6)


def test_estimator_recovers_two_classes_with_random_intercepts_and_slopes():
    from regmix import RegressionMixture

    rng = np.random.default_rng(0)
    n_groups = 300
    groups = np.repeat(np.arange(n_groups), rng.integers(4, 8, n_groups))
    cls = rng.integers(0, 2, n_groups)
    t = rng.uniform(0, 3, groups.size)
    beta = np.array([[0.0, 1.0], [4.0, -1.0]])
    b = rng.normal(size=(n_groups, 2)) * [0.8, 0.3]
    y = (beta[cls[groups], 0] + beta[cls[groups], 1] * t + b[groups, 0]
         + b[groups, 1] * t + rng.normal(0, 0.5, t.size))
    model = RegressionMixture(2, family=MixedGaussian((0, 1)),
                              random_state=0).fit(t[:, None], y, groups=groups)
    order = np.argsort(model.intercept_)
    assert np.allclose(model.intercept_[order], [0.0, 4.0], atol=0.25)
    assert np.allclose(model.coef_[order, 0], [1.0, -1.0], atol=0.15)
    assert np.allclose(model.sigma_, 0.5, atol=0.05)
    cov = model.random_cov_
    assert model.information_ is None
    assert np.all(np.diff(model.log_likelihood_history_) >= -1e-9)
    assert not compiled_pass_applies(None, model.family_)
    assert np.allclose(cov[:, 0, 0], 0.64, atol=0.25)
    assert np.allclose(cov[:, 1, 1], 0.09, atol=0.05)
    assert model.n_parameters_ == 2 * (2 + 1 + 3) + 1
    # the log-likelihood at the fitted parameters is the dense reference's
    params = MixtureParams(model.weights_, model.family_.make_params(
        np.column_stack([model.intercept_, model.coef_]), model.state_.extra))
    sub = groups < 20
    ll = RegressionMixture.log_likelihood(model, t[sub, None], y[sub], groups=groups[sub])
    assert ll == pytest.approx(_dense_loglik(t[sub, None], y[sub], groups[sub], params),
                               abs=1e-9)
    assert model.bic_ == pytest.approx(-2 * model.log_likelihood_
                                       + model.n_parameters_ * np.log(n_groups))


def test_unsupported_inputs_are_refused_by_name():
    from regmix import RegressionMixture

    X, y, groups = _data()
    model = RegressionMixture(1, family=MixedGaussian((0, 1)))
    with pytest.raises(ValueError, match="groups="):
        model.fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(X, y, sample_weight=np.ones(y.size), groups=groups)
    with pytest.raises(ValueError, match="concomitant"):
        RegressionMixture(2, family=MixedGaussian((0, 1))).fit(
            X, y, concomitant=X, groups=groups)
