"""Constraints on chosen components: a coefficient shared by a subset of components, a
coefficient fixed in some components only (flexmix's ``nested``), fixed mixing weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from regmix import RegressionMixture
from regmix.families.constraints import (
    CoefficientConstraints,
    coefficient_index,
    coefficient_update,
)
from regmix.persistence import load, save

from .test_boundary import central_hessian

NAMES = ["intercept", "x0", "x1"]
# flexmix's NregFix design (its x1 is x0 here, its x2 x1): x1 common to all, x0 shared
# by components 2 and 3, absent from component 1, one sigma
NESTED = dict(common_coef={"x1": "all", "x0": [2, 3]}, fixed_coef={"x0": [0, None, None]},
              equal_variance=True)


def _nested_data(n=240, seed=0):
    """Rows of the NregFix design (three components, x2 a 0/1 dummy)."""
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(-1, 1, n)
    x2 = rng.integers(0, 2, n).astype(float)
    labels = rng.choice(3, n, p=[0.45, 0.2, 0.35])
    intercept = np.array([3.0, -8.0, 1.0])[labels]
    slope = np.array([0.0, 10.0, 10.0])[labels]
    y = intercept + slope * x1 + 5.0 * x2 + rng.standard_normal(n)
    return np.column_stack([x1, x2]), y


def _nested_loglik(phi, X, y):
    """The observed-data log-likelihood of the nested model written out: phi =
    (a_1, a_2, a_3, b_x1, b_x2, log sigma, eta_2, eta_3)."""
    a, b1, b2, log_s, eta = phi[:3], phi[3], phi[4], phi[5], phi[6:]
    slope1 = np.array([0.0, b1, b1])
    mu = a[None, :] + X[:, :1] * slope1[None, :] + X[:, 1:2] * b2
    log_pi = np.concatenate([[0.0], eta]) - special.logsumexp(np.concatenate([[0.0], eta]))
    s = np.exp(log_s)
    logf = -0.5 * ((y[:, None] - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
    return float(special.logsumexp(logf + log_pi, axis=1).sum())


@pytest.fixture(scope="module")
def nested_fit():
    X, y = _nested_data()
    return RegressionMixture(3, random_state=0, **NESTED).fit(X, y), X, y


# ---------------------------------------------------------------------- the M-step
def test_constrained_step_is_the_weighted_least_squares_with_the_constraint_written_out():
    rng = np.random.default_rng(1)
    n, K, p = 60, 3, 3
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    y = rng.standard_normal(n)
    R = rng.uniform(0.1, 1.0, (K, n))
    scale = np.array([1.0, 2.0, 0.5])
    index, values = coefficient_index(NAMES, K, **{k: NESTED[k] for k in
                                                   ("common_coef", "fixed_coef")})
    cons = CoefficientConstraints(index, values)
    coef0 = cons.with_fixed(np.zeros((K, p)))
    A = np.einsum("kn,ni,nj->kij", R, X, X)
    b = np.einsum("kn,ni,n->ki", R, X, y)
    coef, _, _ = coefficient_update(A, b, coef0, np.ones(K, bool), cons, scale)
    # naive: min sum_k scale_k sum_i r_ki (y_i - a_k - b1_k x1_i - b2 x2_i)^2 with
    # b1_1 = 0, b1_2 = b1_3 = b1: unknowns (a_1, a_2, a_3, b1, b2)
    rows, resp, w = [], [], []
    for k in range(K):
        design = np.zeros((n, 5))
        design[:, k] = 1.0
        design[:, 3] = X[:, 1] if k > 0 else 0.0
        design[:, 4] = X[:, 2]
        rows.append(design)
        resp.append(y)
        w.append(scale[k] * R[k])
    D, t, sw = np.vstack(rows), np.concatenate(resp), np.sqrt(np.concatenate(w))
    theta = np.linalg.lstsq(D * sw[:, None], t * sw, rcond=None)[0]
    expected = np.array([[theta[0], 0.0, theta[4]], [theta[1], theta[3], theta[4]],
                         [theta[2], theta[3], theta[4]]])
    np.testing.assert_allclose(coef, expected, rtol=1e-12, atol=1e-12)


def test_a_subset_of_all_components_is_the_common_coefficient():
    X, y = _nested_data(120, seed=3)
    plain = RegressionMixture(2, common_coef=["x1"], random_state=0).fit(X, y)
    subset = RegressionMixture(2, common_coef={"x1": [1, 2]}, random_state=0).fit(X, y)
    np.testing.assert_array_equal(subset.coef_, plain.coef_)
    assert subset.log_likelihood_ == plain.log_likelihood_
    index, _ = coefficient_index(["intercept", "x1"], 3, {"x1": [1, 3]})
    # one x1 for components 1 and 3, its own for component 2
    assert index[0, 1] == index[2, 1] != index[1, 1]
    assert len(set(index.ravel())) == 5


# ---------------------------------------------------------------------- the fit
def test_nested_fit_is_a_stationary_point_with_the_right_parameter_count(nested_fit):
    model, X, y = nested_fit
    assert model.state_.n_parameters == 8  # 3 intercepts, x0, x1, sigma, 2 weights
    np.testing.assert_array_equal(model.coef_[0, 0], 0.0)
    assert model.coef_[1, 0] == model.coef_[2, 0]
    assert np.ptp(model.coef_[:, 1]) == 0 and np.ptp(model.sigma_) == 0
    w = model.weights_
    phi = np.r_[model.intercept_, model.coef_[1, 0], model.coef_[0, 1],
                np.log(model.sigma_[0]), np.log(w[1:] / w[0])]
    ll = _nested_loglik(phi, X, y)
    assert ll == pytest.approx(model.log_likelihood_, rel=1e-10)
    grad = [(_nested_loglik(phi + h, X, y) - _nested_loglik(phi - h, X, y)) / 2e-6
            for h in np.eye(phi.size) * 1e-6]
    assert np.max(np.abs(grad)) < 1e-4
    assert model.aic_ == pytest.approx(-2 * ll + 2 * 8)


def test_nested_standard_errors_are_those_of_the_numerical_hessian(nested_fit):
    model, X, y = nested_fit
    w = model.weights_
    phi = np.r_[model.intercept_, model.coef_[1, 0], model.coef_[0, 1],
                np.log(model.sigma_[0]), np.log(w[1:] / w[0])]
    cov = np.linalg.inv(-central_hessian(lambda v: _nested_loglik(v, X, y), phi))
    se = np.sqrt(np.diag(cov))
    table = model.coef_table()["std_err"]
    got = [table[(k, "intercept")] for k in (1, 2, 3)] + [table[(2, "x0")],
                                                          table[(1, "x1")]]
    np.testing.assert_allclose(got, se[:5], rtol=1e-4)
    assert table[(1, "sigma")] == pytest.approx(model.sigma_[0] * se[5], rel=1e-4)
    assert table[(1, "x0")] == 0.0 and table[(3, "x0")] == table[(2, "x0")]


def test_nested_model_reaches_the_best_of_many_random_starts(nested_fit):
    model, X, y = nested_fit
    best = max(RegressionMixture(3, n_init=1, split_merge=False, init="random",
                                 random_state=s, **NESTED).fit(X, y).log_likelihood_
               for s in range(12))
    assert model.log_likelihood_ >= best - 1e-8


def test_fixed_weights_are_kept_counted_out_and_stationary():
    X, y = _nested_data(150, seed=5)
    X = X[:, :1]
    model = RegressionMixture(2, fixed_weights=[0.3, 0.7], random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.weights_, [0.3, 0.7])
    assert model.state_.n_parameters == 6
    free = RegressionMixture(2, random_state=0).fit(X, y)
    assert free.state_.n_parameters == 7
    # one EM step of the naive algorithm (weights held) does not move the fit
    mu = model.intercept_[None, :] + X @ model.coef_.T
    logf = (-0.5 * ((y[:, None] - mu) / model.sigma_) ** 2 - np.log(model.sigma_)
            + np.log([0.3, 0.7]))
    r = np.exp(logf - special.logsumexp(logf, axis=1, keepdims=True))
    D = np.column_stack([np.ones_like(y), X[:, 0]])
    for k in range(2):
        beta = np.linalg.solve(D.T @ (r[:, k, None] * D), D.T @ (r[:, k] * y))
        np.testing.assert_allclose(beta, [model.intercept_[k], model.coef_[k, 0]],
                                   rtol=1e-6, atol=1e-8)
    se = model.coef_table()["std_err"]
    assert se[(1, "weight")] == 0.0


def test_fixed_weights_on_the_compiled_kernel_are_the_numpy_fit():
    pytest.importorskip("numba")
    X, y = _nested_data(600, seed=6)
    fits = [RegressionMixture(2, fixed_weights=[0.3, 0.7], engine=engine, random_state=0)
            .fit(X, y) for engine in ("numba", "numpy")]
    np.testing.assert_array_equal(fits[0].weights_, [0.3, 0.7])
    assert fits[0].log_likelihood_ == pytest.approx(fits[1].log_likelihood_, rel=1e-10)


def test_save_load_round_trip_of_nested_constraints(tmp_path, nested_fit):
    model, X, y = nested_fit
    path = tmp_path / "m.json"
    save(model, path)
    back = load(path)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    np.testing.assert_array_equal(back.posterior(X, y), model.posterior(X, y))
    np.testing.assert_allclose(back.coef_table()["std_err"], model.coef_table()["std_err"],
                               rtol=1e-12)
    weighted = RegressionMixture(2, fixed_weights=[0.4, 0.6], random_state=0).fit(X, y)
    save(weighted, path)
    assert load(path).state_.n_parameters == weighted.state_.n_parameters
    np.testing.assert_array_equal(load(path).weights_, [0.4, 0.6])


# ---------------------------------------------------------------------- bad specs
@pytest.mark.parametrize(("params", "message"), [
    (dict(common_coef={"x9": [1, 2]}), "common_coef: 'x9' is not a coefficient"),
    (dict(common_coef={"x1": [0, 1]}), r"component 0 is not one of 1..3"),
    (dict(common_coef={"x1": [1, 4]}), r"component 4 is not one of 1..3"),
    (dict(common_coef={"x1": [2]}), "at least two components"),
    (dict(common_coef={"x1": [[1, 2], [2, 3]]}), "overlap"),
    (dict(common_coef={"x1": [1, 2]}, fixed_coef={"x1": [0, None, None]}),
     "'x1' in component 1 is both common and fixed"),
    (dict(fixed_coef={"x1": [0, None]}), r"fixed_coef\['x1'\] must be"),
    (dict(fixed_weights=[0.5, 0.6, 0.1]), "fixed_weights must sum to one"),
    (dict(fixed_weights=[0.5, 0.5]), "fixed_weights must be 3 positive numbers"),
    (dict(fixed_weights=[0.0, 0.5, 0.5]), "fixed_weights must be 3 positive numbers"),
])
def test_bad_specs_name_the_argument(params, message):
    X, y = _nested_data(60, seed=2)
    with pytest.raises(ValueError, match=message):
        RegressionMixture(3, **params).fit(X, y)


def test_fixed_weights_refuse_concomitant_variables():
    X, y = _nested_data(60, seed=2)
    with pytest.raises(ValueError, match="fixed_weights cannot be combined"):
        RegressionMixture(2, fixed_weights=[0.5, 0.5]).fit(X, y, concomitant=X[:, :1])


# ---------------------------------------------------------------------- known labels
def _two_lines(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    labels = (rng.uniform(size=n) < 0.65).astype(int)  # component 1 the smaller
    y = np.where(labels == 0, 1 + 2 * x, -1 - x) + 0.5 * rng.standard_normal(n)
    return x[:, None], y, labels + 1


def _masked_loglik(phi, X, y, allowed):
    """sum_i log sum_{k allowed} pi_k N(y_i; a_k + b_k x_i, s_k): phi = (a_1, b_1,
    log s_1, a_2, b_2, log s_2, eta_2)."""
    a, b, s = phi[[0, 3]], phi[[1, 4]], np.exp(phi[[2, 5]])
    log_pi = np.array([0.0, phi[6]]) - np.logaddexp(0.0, phi[6])
    mu = a + X[:, :1] * b
    logf = -0.5 * ((y[:, None] - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)
    return float(special.logsumexp(np.where(allowed, logf + log_pi, -np.inf), axis=1).sum())


def test_all_labels_known_is_one_regression_per_class():
    X, y, labels = _two_lines()
    model = RegressionMixture(2, init="random", random_state=0).fit(X, y, known_labels=labels)
    D = np.column_stack([np.ones_like(y), X[:, 0]])
    expected_ll = 0.0
    for k in (1, 2):
        rows = labels == k
        beta = np.linalg.lstsq(D[rows], y[rows], rcond=None)[0]
        sigma = np.sqrt(np.mean((y[rows] - D[rows] @ beta) ** 2))
        np.testing.assert_allclose([model.intercept_[k - 1], model.coef_[k - 1, 0]], beta,
                                   rtol=1e-10, atol=1e-12)
        assert model.sigma_[k - 1] == pytest.approx(sigma, rel=1e-10)
        assert model.weights_[k - 1] == pytest.approx(rows.mean(), rel=1e-12)
        expected_ll += (rows.sum() * np.log(rows.mean()) - rows.sum() * (
            np.log(sigma) + 0.5 * np.log(2 * np.pi) + 0.5))
    assert model.log_likelihood_ == pytest.approx(expected_ll, rel=1e-12)
    # the same with groups of two rows sharing their label
    order = np.argsort(labels, kind="stable")
    g = labels[order] * y.size + np.arange(y.size) // 2  # pairs within a class
    grouped = RegressionMixture(2, random_state=0).fit(X[order], y[order], groups=g,
                                                       known_labels=labels[order])
    np.testing.assert_allclose(grouped.coef_, model.coef_, rtol=1e-10)


def test_partly_known_labels_maximise_the_masked_likelihood_with_its_standard_errors():
    X, y, labels = _two_lines(seed=1)
    rng = np.random.default_rng(2)
    known = np.where(rng.uniform(size=y.size) < 0.3, labels, -1).astype(float)
    known[:5] = np.nan
    model = RegressionMixture(2, random_state=0).fit(X, y, known_labels=known)
    allowed = np.ones((y.size, 2), dtype=bool)
    fixed = known > 0
    allowed[fixed] = np.eye(2, dtype=bool)[known[fixed].astype(int) - 1]
    w = model.weights_
    phi = np.r_[model.intercept_[0], model.coef_[0, 0], np.log(model.sigma_[0]),
                model.intercept_[1], model.coef_[1, 0], np.log(model.sigma_[1]),
                np.log(w[1] / w[0])]
    ll = _masked_loglik(phi, X, y, allowed)
    assert ll == pytest.approx(model.log_likelihood_, rel=1e-10)
    grad = [(_masked_loglik(phi + h, X, y, allowed) - _masked_loglik(phi - h, X, y, allowed))
            / 2e-6 for h in np.eye(phi.size) * 1e-6]
    assert np.max(np.abs(grad)) < 1e-4
    cov = np.linalg.inv(-central_hessian(lambda v: _masked_loglik(v, X, y, allowed), phi))
    se = np.sqrt(np.diag(cov))
    table = model.coef_table()["std_err"]
    np.testing.assert_allclose([table[(1, "intercept")], table[(1, "x0")],
                                table[(2, "intercept")], table[(2, "x0")]],
                               se[[0, 1, 3, 4]], rtol=1e-4)
    # a mask of allowed components: the same fit
    masked = RegressionMixture(2, random_state=0).fit(X, y, known_labels=allowed)
    assert masked.log_likelihood_ == pytest.approx(model.log_likelihood_, rel=1e-12)


@pytest.mark.parametrize(("labels", "message"), [
    (np.r_[0, np.ones(59)], r"known_labels has 0 in row 0: a label is a component 1..2"),
    (np.r_[np.ones(59), 3], r"known_labels has 3 in row 59"),
    (np.r_[1.5, np.ones(59)], r"known_labels has 1.5 in row 0"),
    (np.ones(59), r"known_labels must have shape \(60,\)"),
    (np.zeros((60, 2), dtype=bool), "known_labels allows no component in row 0"),
    ("label", "known_labels='label' names no column"),
])
def test_bad_known_labels_name_the_argument(labels, message):
    X, y, _ = _two_lines(60)
    with pytest.raises(ValueError, match=message):
        RegressionMixture(2).fit(X, y, known_labels=labels)


def test_known_labels_must_agree_within_a_group():
    X, y, labels = _two_lines(60)
    with pytest.raises(ValueError, match="known_labels differ within a group"):
        RegressionMixture(2).fit(X, y, groups=np.arange(60) // 3, known_labels=labels)


def test_known_labels_are_recorded_and_asked_for_again_or_refused(tmp_path):
    X, y, labels = _two_lines(80)
    known = np.where(np.arange(80) < 10, labels, -1)
    model = RegressionMixture(2, random_state=0).fit(X, y, known_labels=known)
    assert model.state_.n_known_labels == 10
    save(model, tmp_path / "m.json")
    assert load(tmp_path / "m.json").state_.n_known_labels == 10
    with pytest.raises(ValueError, match="the bootstrap does not take known labels"):
        model.bootstrap(X, y, n_boot=2)
    with pytest.raises(ValueError, match="cov_type='robust': this model was fitted with "
                                         "known_labels; pass them again"):
        model.coef_table(cov_type="robust", X=X, y=y)
    robust = model.coef_table(cov_type="robust", X=X, y=y, known_labels=known)
    assert np.isfinite(robust["std_err"]).all()
    assert RegressionMixture(2, random_state=0).fit(X, y).state_.n_known_labels is None
