"""Latent-class mixed models with concomitant variables: a subject's class probabilities
``pi_k(z_i)`` (multinomial logit of the subject's variables), against a dense marginal
log-likelihood written here with scipy, its numerical gradient and Hessian; the formula
with a random-effects term and a gating part; model files."""

import numpy as np
import pandas as pd
import pytest
from scipy import special

from regmix import RegressionMixture, load
from regmix.families.mixed_gaussian import MixedGaussian
from tests.reference import numerical_hessian


def _subjects(n_subjects=60, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), rng.integers(4, 8, n_subjects))
    z = rng.normal(size=n_subjects)
    cls = (rng.random(n_subjects) < special.expit(-0.3 + 1.5 * z)).astype(int)
    t = rng.uniform(0, 3, groups.size)
    b = rng.normal(size=(n_subjects, 2)) * [0.8, 0.3]
    y = (np.where(cls[groups] == 0, t, 4 - t) + b[groups, 0] + b[groups, 1] * t
         + rng.normal(0, 0.5, t.size))
    return t, y, groups, z


def _dense_loglik(theta, t, y, groups, z):
    """Per class (intercept, slope, sigma, var_0, cov_10, var_1), then the gating
    coefficients (intercept, z) of class 2: the marginal log-likelihood with each
    subject's full covariance matrix ``Z D Z' + sigma^2 I`` (a Cholesky factor for its
    inverse and determinant)."""
    blocks, gate = theta[:12].reshape(2, 6), theta[12:]
    total = 0.0
    for g in np.unique(groups):
        rows = groups == g
        n = int(rows.sum())
        Zg = np.column_stack([np.ones(n), t[rows]])
        eta = np.array([0.0, gate[0] + gate[1] * z[g]])
        log_pi = eta - special.logsumexp(eta)
        parts = []
        for k in range(2):
            a, s, sigma, v0, c, v1 = blocks[k]
            V = Zg @ np.array([[v0, c], [c, v1]]) @ Zg.T + sigma**2 * np.eye(n)
            L = np.linalg.cholesky(V)
            e = np.linalg.solve(L, y[rows] - a - s * t[rows])
            parts.append(log_pi[k] - np.log(np.diag(L)).sum() - 0.5 * e @ e
                         - 0.5 * n * np.log(2 * np.pi))
        total += special.logsumexp(parts)
    return total


def _theta(model):
    blocks = [[model.intercept_[k], model.coef_[k, 0], model.sigma_[k],
               model.random_cov_[k, 0, 0], model.random_cov_[k, 1, 0],
               model.random_cov_[k, 1, 1]] for k in range(2)]
    return np.concatenate([np.ravel(blocks), model.gating_coef_[1]])


def test_gated_mixed_model_is_the_dense_maximum_with_its_standard_errors():
    t, y, groups, z = _subjects(40)
    model = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        t[:, None], y, groups=groups, concomitant=z[groups][:, None])
    theta = _theta(model)
    assert model.log_likelihood_ == pytest.approx(_dense_loglik(theta, t, y, groups, z),
                                                  rel=1e-12)
    step = 1e-5
    grad = [(_dense_loglik(theta + step * e, t, y, groups, z)
             - _dense_loglik(theta - step * e, t, y, groups, z)) / (2 * step)
            for e in np.eye(theta.size)]
    np.testing.assert_allclose(grad, 0.0, atol=2e-4)
    # every standard error (the natural parameters: sigma, the covariance entries and
    # the gating coefficients as they are) from the numerical Hessian of the dense
    # log-likelihood
    H = numerical_hessian(lambda v: _dense_loglik(v, t, y, groups, z), theta, h=1e-4)
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    table = model.coef_table()["std_err"].to_numpy()
    np.testing.assert_allclose(table, se, rtol=2e-3)
    # the truth's gating roughly recovered (of the "4 - t" class against the "t" class,
    # whichever component number each has)
    truth = np.array([-0.3, 1.5]) * (1 if model.intercept_[1] > model.intercept_[0] else -1)
    np.testing.assert_allclose(model.gating_coef_[1], truth, atol=1.0)


def test_formula_with_a_random_effects_term_and_a_gating_part(tmp_path):
    t, y, groups, z = _subjects(50, seed=1)
    frame = pd.DataFrame({"y": y, "t": t, "id": groups, "z": z[groups]})
    model = RegressionMixture(2, formula="y ~ t + (1 + t | id) | z", random_state=0).fit(frame)
    arrays = RegressionMixture(2, family=MixedGaussian((0, 1)), random_state=0).fit(
        t[:, None], y, groups=groups, concomitant=z[groups][:, None])
    assert model.log_likelihood_ == pytest.approx(arrays.log_likelihood_, rel=1e-10)
    np.testing.assert_allclose(model.gating_coef_, arrays.gating_coef_, atol=1e-6)
    path = tmp_path / "m.json"
    model.save(path)
    again = load(path)
    np.testing.assert_array_equal(again.posterior(frame), model.posterior(frame))
    np.testing.assert_array_equal(again.predict(frame), model.predict(frame))
    # the prior of each subject from its own z
    pi = special.softmax(np.column_stack([np.ones(len(frame)), frame["z"]])
                         @ model.gating_coef_.T, axis=1)
    means = np.column_stack([model.intercept_[k] + model.coef_[k, 0] * t for k in range(2)])
    np.testing.assert_allclose(model.predict(frame), np.sum(pi * means, axis=1), rtol=1e-12)
