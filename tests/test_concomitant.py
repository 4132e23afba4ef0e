"""Concomitant-variable (mixture of experts) gating against independent computations.

The reference EM below is written here and is independent of regmix: the E-step
evaluates scipy.stats log-densities and the multinomial-logit gating by a log-softmax;
the M-step fits each component by weighted least squares in closed form (Gaussian) or by
scipy.optimize.minimize (Poisson), sets sigma_k to the weighted root mean squared
residual, and maximises sum_i sum_k r_ik log pi_k(z_i) over the gating coefficients by
BFGS with an analytic gradient, gamma_1 = 0.
"""

import warnings
from functools import cache
from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats
from sklearn.exceptions import ConvergenceWarning

import regmix
from regmix import RegressionMixture
from tests.reference import numerical_hessian


# ----------------------------------------------------------------------------- helpers
def log_softmax_rows(eta):
    """Row-wise log-softmax of an (n, K) block."""
    return eta - special.logsumexp(eta, axis=1, keepdims=True)


def gate_eta(Zd, gamma):
    """(n, K) gating linear predictors; ``Zd`` has a leading column of ones."""
    return Zd @ np.asarray(gamma, float).T


def with_ones(A):
    A = np.asarray(A, dtype=float).reshape(len(A), -1)
    return np.column_stack([np.ones(len(A)), A])


def component_logpdf(family, y, eta, sigma=None):
    if family == "gaussian":
        return stats.norm.logpdf(y, loc=eta, scale=sigma)
    return stats.poisson.logpmf(y, np.exp(eta))


def log_joint(family, D, Zd, y, beta, sigma, gamma):
    """(n, K) matrix of log pi_k(z_i) + log f_k(y_i)."""
    logp = log_softmax_rows(gate_eta(Zd, gamma))
    for k in range(beta.shape[0]):
        logp[:, k] += component_logpdf(family, y, D @ beta[k],
                                       None if sigma is None else sigma[k])
    return logp


def observed_loglik(family, X, Z, y, beta, sigma, gamma):
    """Observed-data log-likelihood of a gated mixture (beta rows: intercept, coef)."""
    D, Zd = with_ones(X), with_ones(Z)
    return float(special.logsumexp(
        log_joint(family, D, Zd, np.asarray(y, float), np.asarray(beta, float),
                  None if sigma is None else np.asarray(sigma, float), gamma),
        axis=1).sum())


def _gating_objective(theta, Zd, R):
    """Minus the mean of sum_k r_ik log pi_k(z_i) and its gradient in gamma_2..K."""
    n, K = R.shape
    m = Zd.shape[1]
    gamma = np.vstack([np.zeros(m), theta.reshape(K - 1, m)])
    lp = log_softmax_rows(gate_eta(Zd, gamma))
    f = -np.sum(R * lp) / n
    resid = R - np.exp(lp) * R.sum(axis=1, keepdims=True)
    g = -(resid[:, 1:].T @ Zd) / n
    return f, g.ravel()


def fit_gating(Zd, R, gamma0):
    K, m = gamma0.shape
    res = optimize.minimize(_gating_objective, gamma0[1:].ravel(), args=(Zd, R), jac=True,
                            method="BFGS", options={"gtol": 1e-12, "maxiter": 10000})
    return np.vstack([np.zeros(m), res.x.reshape(K - 1, m)])


def _poisson_objective(b, D, y, r):
    eta = D @ b
    mu = np.exp(eta)
    return -(r @ (y * eta - mu)), -(D.T @ (r * (y - mu)))


def fit_poisson_component(D, y, r, b0):
    r = r / r.sum()
    res = optimize.minimize(_poisson_objective, b0, args=(D, y, r), jac=True, method="BFGS",
                            options={"gtol": 1e-12, "maxiter": 10000})
    return res.x


def reference_em(family, X, Z, y, start, *, max_iter=5000, rtol=1e-13, xtol=1e-10):
    """Naive dense EM with multinomial-logit gating, from ``start``.

    ``start`` is an init dict (weights, intercept, coef, sigma); the gating starts at
    gamma_k = (log w_k - log w_1, 0, ..., 0) like regmix's dict start. Returns
    (beta (K, 1 + p), sigma (K,) or None, gamma (K, 1 + q), log-likelihood, history).
    """
    y = np.asarray(y, dtype=float)
    D, Zd = with_ones(X), with_ones(Z)
    w = np.asarray(start["weights"], float)
    K = len(w)
    beta = np.column_stack([np.asarray(start["intercept"], float),
                            np.asarray(start["coef"], float)])
    sigma = np.asarray(start["sigma"], float).copy() if family == "gaussian" else None
    gamma = np.zeros((K, Zd.shape[1]))
    gamma[:, 0] = np.log(w) - np.log(w[0])
    history, moved = [], np.inf
    for _ in range(max_iter + 1):
        logp = log_joint(family, D, Zd, y, beta, sigma, gamma)
        lse = special.logsumexp(logp, axis=1)
        history.append(float(lse.sum()))
        if (len(history) > 1 and abs(history[-1] - history[-2]) < rtol * abs(history[-1])
                and moved < xtol):
            break
        R = np.exp(logp - lse[:, None])
        old = np.concatenate([beta.ravel(), gamma.ravel()]
                             + ([] if sigma is None else [sigma]))
        for k in range(K):
            r = R[:, k]
            if family == "gaussian":
                beta[k] = np.linalg.solve(D.T @ (r[:, None] * D), D.T @ (r * y))
                sigma[k] = np.sqrt(r @ (y - D @ beta[k]) ** 2 / r.sum())
            else:
                beta[k] = fit_poisson_component(D, y, r, beta[k])
        gamma = fit_gating(Zd, R, gamma)
        new = np.concatenate([beta.ravel(), gamma.ravel()]
                             + ([] if sigma is None else [sigma]))
        moved = np.max(np.abs(new - old))
    else:
        raise AssertionError("the reference EM did not converge")
    return beta, sigma, gamma, history[-1], history


def model_beta(model):
    return np.column_stack([model.intercept_, model.coef_])


def match(ref_beta, est_beta):
    """Permutation ``perm`` with ``est_beta[perm]`` closest to ``ref_beta``."""
    K = len(ref_beta)
    return np.array(min(permutations(range(K)),
                        key=lambda p: np.sum((est_beta[list(p)] - ref_beta) ** 2)))


def rebased(gamma, perm):
    """Gating coefficients reordered by ``perm`` and re-based to the new first row."""
    g = np.asarray(gamma)[perm]
    return g - g[0]


def simulate(family, n, seed, beta, gamma, sigma=None, z_scale=1.0):
    """Rows of a gated mixture: X (n, p) uniform, Z (n, q) normal, y, labels."""
    rng = np.random.default_rng(seed)
    beta, gamma = np.asarray(beta, float), np.asarray(gamma, float)
    X = rng.uniform(-1.0, 1.0, size=(n, beta.shape[1] - 1))
    Z = z_scale * rng.standard_normal(size=(n, gamma.shape[1] - 1))
    pi = np.exp(log_softmax_rows(gate_eta(with_ones(Z), gamma)))
    labels = (rng.uniform(size=n)[:, None] > np.cumsum(pi, axis=1)).sum(axis=1)
    labels = np.minimum(labels, len(beta) - 1)
    eta = np.sum(with_ones(X) * beta[labels], axis=1)
    if family == "gaussian":
        y = eta + np.asarray(sigma)[labels] * rng.standard_normal(n)
    else:
        y = rng.poisson(np.exp(eta)).astype(float)
    return X, Z, y, labels


# ----------------------------------------------------------------------------- cases
CASES = {
    "gaussian_k2_q1": dict(
        family="gaussian", n=500, seed=1, beta=[[0.0, 2.0], [3.0, -1.0]], sigma=[0.5, 0.8],
        gamma=[[0.0, 0.0], [0.3, 1.5]],
        start={"weights": [0.45, 0.55], "intercept": [0.2, 2.8], "coef": [[1.8], [-0.8]],
               "sigma": [0.7, 0.6]}),
    "gaussian_k2_q1_overlap": dict(
        family="gaussian", n=500, seed=7, beta=[[0.0, 1.0], [1.2, -0.5]], sigma=[0.6, 0.8],
        gamma=[[0.0, 0.0], [0.2, 1.0]],
        start={"weights": [0.5, 0.5], "intercept": [0.3, 1.0], "coef": [[0.6], [-0.2]],
               "sigma": [0.7, 0.7]}),
    "gaussian_k2_q2": dict(
        family="gaussian", n=500, seed=2, beta=[[1.0, 1.5, -1.0], [-2.0, 0.5, 1.0]],
        sigma=[0.6, 0.6], gamma=[[0.0, 0.0, 0.0], [-0.2, 1.0, -1.3]],
        start={"weights": [0.6, 0.4], "intercept": [0.8, -1.7],
               "coef": [[1.3, -0.8], [0.7, 0.9]], "sigma": [0.5, 0.8]}),
    "gaussian_k3_q2": dict(
        family="gaussian", n=600, seed=3, beta=[[0.0, 2.0], [4.0, -1.0], [-4.0, 0.5]],
        sigma=[0.6, 0.8, 0.5],
        gamma=[[0.0, 0.0, 0.0], [0.2, 1.2, -0.8], [-0.3, -1.0, 0.7]],
        start={"weights": [0.3, 0.4, 0.3], "intercept": [0.3, 3.7, -3.8],
               "coef": [[1.8], [-0.7], [0.8]], "sigma": [0.8, 0.7, 0.7]}),
    "gaussian_k3_q1": dict(
        family="gaussian", n=600, seed=4, beta=[[0.0, 2.0], [4.0, -1.0], [-4.0, 0.5]],
        sigma=[0.6, 0.8, 0.5], gamma=[[0.0, 0.0], [0.5, 1.4], [0.0, -1.2]],
        start={"weights": [0.35, 0.35, 0.3], "intercept": [-0.2, 4.3, -3.7],
               "coef": [[2.2], [-1.3], [0.6]], "sigma": [0.5, 1.0, 0.6]}),
    "poisson_k2_q1": dict(
        family="poisson", n=500, seed=5, beta=[[0.5, 1.0], [2.5, -0.5]], sigma=None,
        gamma=[[0.0, 0.0], [0.2, -1.2]],
        start={"weights": [0.5, 0.5], "intercept": [0.7, 2.3], "coef": [[0.8], [-0.3]]}),
    "poisson_k2_q2": dict(
        family="poisson", n=500, seed=6, beta=[[0.5, 1.0], [2.5, -0.5]], sigma=None,
        gamma=[[0.0, 0.0, 0.0], [0.2, -1.2, 0.8]],
        start={"weights": [0.55, 0.45], "intercept": [0.3, 2.6], "coef": [[1.1], [-0.7]]}),
}


@cache
def case_data(name):
    c = CASES[name]
    return simulate(c["family"], c["n"], c["seed"], c["beta"], c["gamma"], c["sigma"])[:3]


@cache
def reference_fit(name):
    c = CASES[name]
    X, Z, y = case_data(name)
    return reference_em(c["family"], X, Z, y, c["start"])


@cache
def regmix_fit(name, tol=1e-15):
    c = CASES[name]
    X, Z, y = case_data(name)
    K = len(c["beta"])
    return RegressionMixture(K, family=c["family"], init=c["start"], n_init=1, tol=tol,
                             max_iter=5000).fit(X, y, concomitant=Z)


# ------------------------------------------------------------- the reference, checked
def test_reference_gating_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    Zd = with_ones(rng.standard_normal((200, 2)))
    R = rng.dirichlet(np.ones(3), size=200)
    theta = rng.normal(size=6)
    _, g = _gating_objective(theta, Zd, R)
    numeric = optimize.approx_fprime(theta, lambda t: _gating_objective(t, Zd, R)[0], 1e-7)
    np.testing.assert_allclose(g, numeric, atol=1e-6)


def test_reference_gating_with_hard_memberships_is_a_multinomial_logit_fit():
    # with 0/1 memberships and one binary z the ML gating reproduces the group shares
    rng = np.random.default_rng(1)
    z = (rng.uniform(size=800) < 0.4).astype(float)
    labels = rng.choice(2, size=800, p=[0.7, 0.3]) + (z == 1) * rng.choice(2, size=800)
    labels = np.minimum(labels, 1)
    R = np.eye(2)[labels]
    gamma = fit_gating(with_ones(z), R, np.zeros((2, 2)))
    share0 = labels[z == 0].mean()
    share1 = labels[z == 1].mean()
    assert gamma[1, 0] == pytest.approx(special.logit(share0), abs=1e-8)
    assert gamma[1, 1] == pytest.approx(special.logit(share1) - special.logit(share0), abs=1e-8)


def test_reference_history_never_decreases():
    *_, history = reference_fit("gaussian_k2_q1")
    h = np.asarray(history)
    assert np.all(np.diff(h) >= -1e-9 * abs(h[-1]))


# ------------------------------------------------------------- 1. regmix = reference EM
@pytest.mark.parametrize("name", list(CASES))
def test_gated_fit_equals_reference_em(name):
    c = CASES[name]
    X, Z, y = case_data(name)
    beta, sigma, gamma, ref_ll, _ = reference_fit(name)
    model = regmix_fit(name)
    assert model.gating_coef_.shape == (len(beta), 1 + Z.shape[1])
    np.testing.assert_array_equal(model.gating_coef_[0], 0.0)
    # regmix's log-likelihood is the one of its own parameters, computed here
    own = observed_loglik(c["family"], X, Z, y, model_beta(model),
                          getattr(model, "sigma_", None), model.gating_coef_)
    assert model.log_likelihood_ == pytest.approx(own, rel=1e-11, abs=1e-9)
    assert model.log_likelihood_ == pytest.approx(ref_ll, rel=0, abs=1e-8)
    perm = match(beta, model_beta(model))
    np.testing.assert_allclose(model_beta(model)[perm], beta, rtol=0, atol=1e-5)
    if sigma is not None:
        np.testing.assert_allclose(model.sigma_[perm], sigma, rtol=1e-5)
    np.testing.assert_allclose(rebased(model.gating_coef_, perm), gamma, rtol=0, atol=1e-5)
    # weights_ are the posterior shares, in decreasing order
    R = np.exp(log_softmax_rows(log_joint(c["family"], with_ones(X), with_ones(Z), y, beta,
                                          sigma, gamma)))
    np.testing.assert_allclose(model.weights_[perm], R.mean(axis=0), atol=1e-6)
    assert np.all(np.diff(model.weights_) <= 0)


def test_n_parameters_count_the_gating_coefficients():
    model = regmix_fit("gaussian_k3_q2")
    # 3 components x (intercept, slope, sigma) + 2 x (1 + 2) gating
    assert model.n_parameters_ == 3 * 3 + 2 * 3
    model = regmix_fit("poisson_k2_q1")
    assert model.n_parameters_ == 2 * 2 + 1 * 2


# ------------------------------------------------------------- 2. recovery of the truth
@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_default_fit_recovers_gating_that_depends_on_z(family):
    beta = ([[0.0, 2.0], [3.0, -1.0]] if family == "gaussian"
            else [[0.5, 1.0], [2.0, -0.5]])
    gamma = np.array([[0.0, 0.0], [0.4, 1.5]])
    X, Z, y, _ = simulate(family, 3000, 11, beta, gamma, sigma=[0.6, 0.8])
    model = RegressionMixture(2, family=family, random_state=0).fit(X, y, concomitant=Z)
    perm = match(np.asarray(beta), model_beta(model))
    np.testing.assert_allclose(model_beta(model)[perm], beta, rtol=0, atol=0.15)
    g = rebased(model.gating_coef_, perm)
    assert g[1, 1] == pytest.approx(1.5, abs=0.25)
    assert g[1, 0] == pytest.approx(0.4, abs=0.25)
    if family == "gaussian":
        np.testing.assert_allclose(model.sigma_[perm], [0.6, 0.8], rtol=0.1)


# ------------------------------------------------------------- 3. uninformative z
@pytest.mark.parametrize("q", [1, 2])
def test_uninformative_concomitant_gets_no_weight(q):
    n = 1000
    rng = np.random.default_rng(20 + q)
    X = rng.uniform(-1, 1, size=(n, 1))
    labels = rng.uniform(size=n) < 0.4
    y = np.where(labels, 3.0 - X[:, 0], 2.0 * X[:, 0]) + 0.6 * rng.standard_normal(n)
    Z = rng.standard_normal((n, q))  # independent of everything
    plain = RegressionMixture(2, random_state=0).fit(X, y)
    gated = RegressionMixture(2, random_state=0).fit(X, y, concomitant=Z)
    table = gated.coef_table()
    for j in range(q):
        row = table.loc[(2, f"gate:z{j}")]
        assert gated.gating_coef_[1, 1 + j] == pytest.approx(row["estimate"], abs=1e-12)
        assert abs(row["estimate"]) < 3 * row["std_err"] or abs(row["estimate"]) < 0.15
    gain = gated.log_likelihood_ - plain.log_likelihood_
    assert gain >= -1e-6  # nested: the gated model contains the plain one
    assert gain < stats.chi2.ppf(0.999, q) / 2
    # the gating intercept reproduces the plain weights
    perm = match(model_beta(plain), model_beta(gated))
    w = plain.weights_
    assert rebased(gated.gating_coef_, perm)[1, 0] == pytest.approx(np.log(w[1] / w[0]),
                                                                    abs=0.15)


# ------------------------------------------------------------- 4. formula "y ~ x | z"
@cache
def formula_frame():
    X, Z, y, _ = simulate("gaussian", 600, 30, [[0.0, 2.0], [3.0, -1.0]],
                          [[0.0, 0.0, 0.0], [0.3, 1.5, -0.7]], sigma=[0.5, 0.8])
    return pd.DataFrame({"y": y, "x": X[:, 0], "z": Z[:, 0], "v": Z[:, 1]})


def test_formula_gating_part_equals_concomitant_arrays():
    df = formula_frame()
    by_formula = RegressionMixture(2, formula="y ~ x | z + v", random_state=0).fit(df)
    X, Z = df[["x"]].to_numpy(), df[["z", "v"]].to_numpy()
    by_array = RegressionMixture(2, random_state=0).fit(X, df["y"].to_numpy(), concomitant=Z)
    assert by_formula.log_likelihood_ == pytest.approx(by_array.log_likelihood_,
                                                       rel=0, abs=1e-9)
    np.testing.assert_allclose(by_formula.gating_coef_, by_array.gating_coef_,
                               rtol=0, atol=1e-7)
    np.testing.assert_allclose(by_formula.coef_, by_array.coef_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.asarray(by_formula.predict(df)),
                               by_array.predict(X, concomitant=Z), rtol=1e-7, atol=1e-7)
    pi = np.asarray(by_formula.mixing_weights(df))
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    eta = by_formula.gating_coef_[:, 0] + Z @ by_formula.gating_coef_[:, 1:].T
    np.testing.assert_allclose(pi, special.softmax(eta, axis=1), rtol=1e-10, atol=1e-14)
    table = by_formula.coef_table()
    for name in ("gate:intercept", "gate:z", "gate:v"):
        assert (2, name) in table.index


def test_formula_mixing_weights_take_the_data_frame():
    # a formula model reads the concomitant variables from the data frame and returns an
    # (n, K) array, as predict_components does
    df = formula_frame()
    model = RegressionMixture(2, formula="y ~ x | z + v", random_state=0).fit(df)
    pi = model.mixing_weights(df)
    assert isinstance(pi, np.ndarray)
    assert pi.shape == (len(df), 2)
    eta = model.gating_coef_[:, 0] + df[["z", "v"]].to_numpy() @ model.gating_coef_[:, 1:].T
    expected = np.exp(eta - special.logsumexp(eta, axis=1, keepdims=True))
    np.testing.assert_allclose(pi, expected, rtol=1e-12, atol=1e-15)


def test_single_gating_variable_formula_equals_arrays():
    df = formula_frame()
    by_formula = RegressionMixture(2, formula="y ~ x | z", random_state=1).fit(df)
    by_array = RegressionMixture(2, random_state=1).fit(df[["x"]], df["y"],
                                                        concomitant=df[["z"]])
    assert by_formula.log_likelihood_ == pytest.approx(by_array.log_likelihood_,
                                                       rel=0, abs=1e-9)
    np.testing.assert_allclose(by_formula.gating_coef_, by_array.gating_coef_,
                               rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.asarray(by_formula.predict(df)),
                               by_array.predict(df[["x"]], concomitant=df[["z"]]),
                               rtol=1e-7, atol=1e-7)


# ------------------------------------------------------------- 5. predict / posterior
@pytest.mark.parametrize("name", ["gaussian_k3_q2", "poisson_k2_q2"])
def test_predict_posterior_and_log_likelihood_by_hand(name):
    c = CASES[name]
    X, Z, y = case_data(name)
    model = regmix_fit(name, tol=1e-12)
    pi = special.softmax(gate_eta(with_ones(Z), model.gating_coef_), axis=1)
    np.testing.assert_allclose(model.mixing_weights(Z), pi, rtol=1e-10, atol=1e-14)
    eta = with_ones(X) @ model_beta(model).T
    means = eta if c["family"] == "gaussian" else np.exp(eta)
    np.testing.assert_allclose(model.predict(X, concomitant=Z), np.sum(pi * means, axis=1),
                               rtol=1e-10, atol=1e-12)
    post = model.posterior(X, y, concomitant=Z)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    logp = log_joint(c["family"], with_ones(X), with_ones(Z), y, model_beta(model),
                     getattr(model, "sigma_", None), model.gating_coef_)
    np.testing.assert_allclose(post, np.exp(log_softmax_rows(logp)), rtol=1e-8, atol=1e-12)
    ll = model.log_likelihood(X, y, concomitant=Z)
    assert ll == pytest.approx(model.log_likelihood_, rel=1e-12, abs=1e-9)
    assert ll == pytest.approx(special.logsumexp(logp, axis=1).sum(), rel=1e-12, abs=1e-9)
    # on new rows too
    Xn, Zn, yn, _ = simulate(c["family"], 50, 99, c["beta"], c["gamma"], c["sigma"])
    logp_new = log_joint(c["family"], with_ones(Xn), with_ones(Zn), yn, model_beta(model),
                         getattr(model, "sigma_", None), model.gating_coef_)
    assert model.log_likelihood(Xn, yn, concomitant=Zn) == pytest.approx(
        special.logsumexp(logp_new, axis=1).sum(), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("name", ["gaussian_k3_q2", "poisson_k2_q2"])
def test_start_from_given_gating_coefficients(name):
    """init as a dict with the gating coefficients (user units, as gating_coef_):
    without EM steps the fit is at those parameters, its log-likelihood the one written
    here with scipy; shifted coefficients (any first row) start at the same point; a
    wrong shape, or gating without concomitant variables, is refused by name."""
    c = CASES[name]
    X, Z, y = case_data(name)
    model = regmix_fit(name, tol=1e-12)
    start = {"weights": model.weights_, "coef": model.coef_, "intercept": model.intercept_}
    if c["family"] == "gaussian":
        start["sigma"] = model.sigma_
    # a gating away from the fitted one, its first row not zero
    gating = model.gating_coef_ + 0.3 + np.arange(model.gating_coef_.size).reshape(
        model.gating_coef_.shape) * 0.05
    kw = {"family": c["family"], "max_iter": 0, "compute_se": False}
    K = model.n_components
    at = RegressionMixture(K, init={**start, "gating": gating}, **kw).fit(
        X, y, concomitant=Z)
    np.testing.assert_allclose(at.gating_coef_, gating - gating[0], rtol=1e-10, atol=1e-12)
    logp = log_joint(c["family"], with_ones(X), with_ones(Z), y, model_beta(model),
                     getattr(model, "sigma_", None), gating - gating[0])
    assert at.log_likelihood_ == pytest.approx(special.logsumexp(logp, axis=1).sum(),
                                               rel=1e-12, abs=1e-9)
    with pytest.raises(ValueError, match="init gating has shape"):
        RegressionMixture(K, init={**start, "gating": gating[:, :2]}, **kw).fit(
            X, y, concomitant=Z)
    with pytest.raises(ValueError, match="init gating has shape"):
        RegressionMixture(K, init={**start, "gating": gating}, **kw).fit(X, y)
    with pytest.raises(ValueError, match="init gating must be"):
        RegressionMixture(K, init={**start, "gating": gating[0]}, **kw).fit(
            X, y, concomitant=Z)


# ------------------------------------------------------------- 6. standard errors
def _unpack_theta(theta, family, K, p, q):
    per = 1 + p + (1 if family == "gaussian" else 0)
    blocks = theta[:K * per].reshape(K, per)
    beta = blocks[:, :1 + p]
    sigma = np.exp(blocks[:, 1 + p]) if family == "gaussian" else None
    gamma = np.vstack([np.zeros(1 + q), theta[K * per:].reshape(K - 1, 1 + q)])
    return beta, sigma, gamma


@pytest.mark.parametrize("name", ["gaussian_k2_q2", "gaussian_k3_q1", "poisson_k2_q1"])
def test_gating_standard_errors_equal_inverse_numerical_hessian(name):
    c = CASES[name]
    family = c["family"]
    X, Z, y = case_data(name)
    model = regmix_fit(name)
    K, p, q = len(c["beta"]), X.shape[1], Z.shape[1]
    cols = [model_beta(model)]
    if family == "gaussian":
        cols.append(np.log(model.sigma_)[:, None])
    theta = np.concatenate([np.hstack(cols).ravel(), model.gating_coef_[1:].ravel()])

    def loglik(t):
        return observed_loglik(family, X, Z, y, *_unpack_theta(t, family, K, p, q))

    # the fit is a stationary point of our log-likelihood
    E = np.eye(len(theta)) * 1e-5
    grad = np.array([(loglik(theta + e) - loglik(theta - e)) / 2e-5 for e in E])
    assert np.max(np.abs(grad)) < 1e-3
    cov = np.linalg.inv(-numerical_hessian(loglik, theta))
    se = np.sqrt(np.diag(cov))
    labels = []
    for k in range(1, K + 1):
        labels += [(k, "intercept")] + [(k, f"x{j}") for j in range(p)]
        if family == "gaussian":
            labels.append((k, "sigma"))
    labels += [(k, f"gate:{g}") for k in range(2, K + 1)
               for g in ["intercept", *[f"z{j}" for j in range(q)]]]
    assert len(labels) == len(theta)
    table = model.coef_table()
    gate_rows = [lab for lab in table.index if lab[1].startswith("gate:")]
    assert gate_rows == labels[-(K - 1) * (1 + q):]
    expected = se.copy()
    for i, lab in enumerate(labels):
        if lab[1] == "sigma":  # delta method from log sigma
            expected[i] = model.sigma_[lab[0] - 1] * se[i]
    got = table.loc[labels, "std_err"].to_numpy()
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    gate = [lab for lab in labels if lab[1].startswith("gate:")]
    np.testing.assert_allclose(table.loc[gate, "estimate"].to_numpy(),
                               model.gating_coef_[1:].ravel(), rtol=1e-12, atol=1e-14)
    assert not any(lab[1] == "weight" for lab in table.index)


# ------------------------------------------------------------- 7. monotone EM
@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("family", ["gaussian", "poisson"])
def test_log_likelihood_history_never_decreases(family, accelerate):
    beta = ([[0.0, 1.0], [1.5, -0.5]] if family == "gaussian"  # overlapping components
            else [[0.5, 1.0], [1.5, -0.5]])
    gamma = [[0.0, 0.0, 0.0], [0.3, 1.0, -0.8]]
    X, Z, y, _ = simulate(family, 600, 40, beta, gamma, sigma=[0.7, 0.9])
    model = RegressionMixture(2, family=family, random_state=1, n_init=1, max_iter=300,
                              accelerate=accelerate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, concomitant=Z)
    h = np.asarray(model.log_likelihood_history_)
    assert len(h) > 2
    assert np.all(np.diff(h) >= -1e-9 * np.abs(model.log_likelihood_))
    assert h[-1] == pytest.approx(model.log_likelihood_, rel=1e-12)


# ------------------------------------------------------------- 8. persistence
def test_save_load_round_trip_array_model(tmp_path):
    X, Z, y = case_data("gaussian_k3_q2")
    model = regmix_fit("gaussian_k3_q2", tol=1e-12)
    model.save(tmp_path / "m.json")
    back = regmix.load(tmp_path / "m.json")
    np.testing.assert_array_equal(back.gating_coef_, model.gating_coef_)
    np.testing.assert_array_equal(back.predict(X, concomitant=Z),
                                  model.predict(X, concomitant=Z))
    np.testing.assert_array_equal(back.posterior(X, y, concomitant=Z),
                                  model.posterior(X, y, concomitant=Z))
    np.testing.assert_array_equal(back.mixing_weights(Z), model.mixing_weights(Z))
    assert back.log_likelihood(X, y, concomitant=Z) == model.log_likelihood(X, y,
                                                                           concomitant=Z)
    with pytest.raises(ValueError, match="concomitant"):
        back.predict(X)


def test_save_load_round_trip_formula_model(tmp_path):
    df = formula_frame()
    model = RegressionMixture(2, formula="y ~ x | z + v", random_state=0).fit(df)
    model.save(tmp_path / "m.json")
    back = regmix.load(tmp_path / "m.json")
    np.testing.assert_array_equal(np.asarray(back.predict(df)), np.asarray(model.predict(df)))
    np.testing.assert_array_equal(np.asarray(back.posterior(df)),
                                  np.asarray(model.posterior(df)))
    np.testing.assert_array_equal(np.asarray(back.mixing_weights(df)),
                                  np.asarray(model.mixing_weights(df)))
    assert back.log_likelihood(df) == model.log_likelihood(df)
    np.testing.assert_array_equal(back.gating_coef_, model.gating_coef_)


def test_save_load_round_trip_poisson_model(tmp_path):
    X, Z, y = case_data("poisson_k2_q1")
    model = regmix_fit("poisson_k2_q1", tol=1e-12)
    model.save(tmp_path / "m.json")
    back = regmix.load(tmp_path / "m.json")
    np.testing.assert_array_equal(back.predict(X, concomitant=Z),
                                  model.predict(X, concomitant=Z))
    np.testing.assert_array_equal(back.posterior(X, y, concomitant=Z),
                                  model.posterior(X, y, concomitant=Z))
    assert back.log_likelihood(X, y, concomitant=Z) == model.log_likelihood(X, y,
                                                                           concomitant=Z)


# ------------------------------------------------------------- 9. errors
def test_missing_concomitant_raises():
    X, Z, y = case_data("gaussian_k2_q1")
    model = regmix_fit("gaussian_k2_q1", tol=1e-12)
    with pytest.raises(ValueError, match="concomitant"):
        model.posterior(X, y)
    with pytest.raises(ValueError, match="concomitant"):
        model.predict(X)
    with pytest.raises(ValueError, match="concomitant"):
        model.log_likelihood(X, y)


def test_wrong_number_of_concomitant_columns_raises():
    X, Z, y = case_data("gaussian_k2_q1")
    model = regmix_fit("gaussian_k2_q1", tol=1e-12)
    Z2 = np.column_stack([Z, Z])
    with pytest.raises(ValueError, match="concomitant"):
        model.predict(X, concomitant=Z2)
    with pytest.raises(ValueError, match="concomitant"):
        model.posterior(X, y, concomitant=Z2)
    with pytest.raises(ValueError, match="concomitant"):
        model.mixing_weights(Z2)


def test_wrong_number_of_concomitant_rows_raises():
    X, Z, y = case_data("gaussian_k2_q1")
    with pytest.raises(ValueError, match="concomitant"):
        RegressionMixture(2, random_state=0).fit(X, y, concomitant=Z[:-1])


def test_concomitant_given_to_a_model_fitted_without_it_raises():
    X, Z, y = case_data("gaussian_k2_q1")
    model = RegressionMixture(2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="concomitant"):
        model.posterior(X, y, concomitant=Z)


def test_formula_gating_part_and_concomitant_argument_raise():
    df = formula_frame()
    with pytest.raises(ValueError, match=r"concomitant|\|"):
        RegressionMixture(2, formula="y ~ x | z", random_state=0).fit(
            df, concomitant=df[["v"]])


def test_nan_in_concomitant_raises_naming_it():
    X, Z, y = case_data("gaussian_k2_q1")
    Zbad = Z.copy()
    Zbad[7, 0] = np.nan
    with pytest.raises(ValueError, match="concomitant"):
        RegressionMixture(2, random_state=0).fit(X, y, concomitant=Zbad)
    model = regmix_fit("gaussian_k2_q1", tol=1e-12)
    with pytest.raises(ValueError, match="concomitant"):
        model.predict(X, concomitant=Zbad)


# ----------------------------------------------------------------------------- flexmix's bar
def _npreg_like(seed=0, n=200):
    """Like flexmix's NPreg: x uniform on 0..10, two parabolas with normal noise, the
    rows of class 1 first, and grouping columns id1 (groups of four rows) and id2
    (pairs of rows)."""
    rng = np.random.default_rng(seed)
    label = np.repeat([1, 2], n // 2)
    x = rng.uniform(0.0, 10.0, n)
    yn = np.where(label == 1, 5.0 * x, 15.0 + 10.0 * x - x**2) + rng.normal(0.0, 3.0, n)
    return pd.DataFrame({"x": x, "yn": yn, "class": label,
                         "id1": np.repeat(np.arange(1, n // 4 + 1), 4),
                         "id2": np.repeat(np.arange(1, n // 2 + 1), 2)})


def _fit_recording(model, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(*args, **kwargs)
    return model, [w for w in caught if issubclass(w.category, regmix.ConcomitantWarning)]


def test_flexmix_s_grouping_bar_is_warned_about_and_groups_fit_the_grouped_model():
    """``yn ~ x + I(x**2) | id2`` is flexmix's grouped model; in regmix it would make
    id2 a concomitant variable. The warning names id2 and points to groups=; the fit
    with ``groups="id2"`` is flexmix's model: each pair of rows in one component (its
    class for nearly all pairs), each component the least-squares parabola weighted by
    its posterior probabilities."""
    frame = _npreg_like()
    _, caught = _fit_recording(
        RegressionMixture(2, formula="yn ~ x + I(x**2) | id2", random_state=0), frame)
    (warning,) = caught
    message = str(warning.message)
    assert message.startswith("the concomitant variable 'id2' looks like a group identifier "
                              "(100 distinct whole numbers, 2 rows each at the median)")
    assert "flexmix's 'y ~ x | g' groups the rows by g" in message
    assert "pass groups='id2' with the data frame" in message

    grouped, caught = _fit_recording(
        RegressionMixture(2, formula="yn ~ x + I(x**2)", random_state=0), frame,
        groups="id2")
    assert caught == []
    post = grouped.posterior(frame, groups="id2")
    np.testing.assert_array_equal(post[0::2], post[1::2])  # a pair shares its component
    k_first = int(np.argmax(post[frame["class"].to_numpy() == 1].mean(axis=0)))
    assert np.mean(np.where(post[:, k_first] > 0.5, 1, 2) == frame["class"]) >= 0.95
    D = np.column_stack([np.ones(len(frame)), frame.x, frame.x**2])
    for k in range(2):  # each component: least squares weighted by its posteriors
        root = np.sqrt(post[:, k])
        beta, *_ = np.linalg.lstsq(D * root[:, None], frame.yn * root, rcond=None)
        np.testing.assert_allclose(np.r_[grouped.intercept_[k], grouped.coef_[k]], beta,
                                   rtol=1e-5, atol=1e-7)


def test_string_identifiers_and_integer_codes_in_arrays_are_warned_about():
    frame = _npreg_like()
    frame["who"] = [f"s{i:03d}" for i in frame["id1"]]  # 50 levels of four rows
    _, caught = _fit_recording(
        RegressionMixture(2, formula="yn ~ x + I(x**2) | who", random_state=0), frame)
    assert len(caught) == 1
    assert "'who' looks like a group identifier (50 distinct values, 4 rows each" in str(
        caught[0].message)
    X = np.column_stack([frame.x, frame.x**2])
    _, caught = _fit_recording(RegressionMixture(2, random_state=0), X, frame.yn.to_numpy(),
                               concomitant=frame[["id1"]])
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'id1' looks like a group identifier" in message
    assert "in regmix concomitant= model the mixing weights" in message
    assert "pass the labels as groups=" in message


def test_ordinary_concomitant_variables_are_not_taken_for_identifiers():
    """A continuous variable, a count with few levels, whole numbers spread over a wide
    range (a measurement, not codes), and codes of the groups with groups= given (a
    variable of the groups, unrelated to the classes)."""
    frame = _npreg_like()
    rng = np.random.default_rng(1)
    frame["z"] = rng.normal(size=len(frame))
    frame["children"] = rng.integers(0, 5, len(frame))
    frame["income"] = rng.integers(10_000, 200_000, len(frame))
    for gating in ("z", "children", "income", "z + children"):
        _, caught = _fit_recording(
            RegressionMixture(2, formula=f"yn ~ x + I(x**2) | {gating}", random_state=0),
            frame)
        assert caught == [], gating
    frame["code"] = np.repeat(rng.permutation(len(frame) // 2), 2)  # one per pair
    _, caught = _fit_recording(
        RegressionMixture(2, formula="yn ~ x + I(x**2) | code", random_state=0), frame,
        groups="id2")
    assert caught == []


def test_a_formula_gating_that_separates_points_to_groups():
    """Two lines whose membership is ``z > 0``: from a formula's part after ``|`` the
    separation gets the grouping hint besides the BoundaryWarning; from concomitant=
    arrays only the BoundaryWarning."""
    rng = np.random.default_rng(0)
    n = 400
    z = rng.normal(size=n)
    x = rng.normal(size=n)
    y = np.where(z > 0, 3.0 + 2.0 * x, -3.0 - x) + rng.normal(scale=0.3, size=n)
    frame = pd.DataFrame({"y": y, "x": x, "z": z})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RegressionMixture(2, formula="y ~ x | z", random_state=0).fit(frame)
    kinds = [w.category for w in caught]
    assert kinds.count(regmix.BoundaryWarning) == 1
    (grouping,) = [str(w.message) for w in caught
                   if issubclass(w.category, regmix.ConcomitantWarning)]
    assert grouping.startswith("the gating variables after '|' (z) separate the components")
    assert "pass groups= (a column name with the data frame)" in grouping
    _, caught = _fit_recording(RegressionMixture(2, random_state=0), x[:, None], y,
                               concomitant=z[:, None])
    assert caught == []
