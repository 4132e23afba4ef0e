"""Marginal effects and predictive margins: against OLS and statsmodels' margins for one
component, against derivatives and delta-method standard errors computed in the test
from the fitted parameters and the covariance matrix for mixtures, and against the
analytic derivative of a polynomial and a factor's coefficient for formula models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from regmix import RegressionMixture


def _row(table, variable=None, component="mixture", part="total", contrast=None):
    keep = (table["component"] == component) & (table["part"] == part)
    if variable is not None:
        keep &= table["variable"] == variable
    if contrast is not None:
        keep &= table["contrast"] == contrast
    assert keep.sum() == 1, table
    return table[keep].iloc[0]


def _jacobian(fn, theta, h=1e-5):
    """Central differences of fn over the parameter vector, steps relative to it."""
    theta = np.asarray(theta, dtype=float)
    out = []
    for j in range(theta.size):
        step = h * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        out.append((np.asarray(fn(up)) - np.asarray(fn(down))) / (2 * step))
    return np.column_stack(out)


def _delta_se(fn, cov):
    """``sqrt(diag(G V G'))`` over the covariance matrix's own parameter vector (NaN
    entries of V, parameters the quantities do not depend on, treated as zero)."""
    est = cov.attrs["estimates"]
    G = _jacobian(fn, est)
    V = np.nan_to_num(cov.to_numpy())
    return np.sqrt(np.diag(G @ V @ G.T))


def _covariance(model, **kwargs):
    cov = model.covariance_matrix(**kwargs)
    cov.attrs["estimates"] = model.coef_table(**kwargs)["estimate"].to_numpy()
    return cov


# ---------------------------------------------------------------------- one component
def test_gaussian_one_component_is_ols():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = 1.0 + X @ [2.0, -1.0, 0.5] + rng.normal(size=300)
    model = RegressionMixture(1, random_state=0).fit(X, y)
    effects = model.marginal_effects(X)
    table = model.coef_table()
    ols = np.linalg.lstsq(np.column_stack([np.ones(300), X]), y, rcond=None)[0]
    for j, name in enumerate(["x0", "x1", "x2"]):
        for component in ("mixture", 1):
            row = _row(effects, name, component)
            np.testing.assert_allclose(row["effect"], ols[j + 1], rtol=1e-8)
            np.testing.assert_allclose(row["std_err"], table.loc[(1, name), "std_err"],
                                       rtol=1e-8)
    # a robust covariance is carried through unchanged
    robust = model.marginal_effects(X, variables="x1", cov_type="robust", y=y)
    np.testing.assert_allclose(
        _row(robust, "x1")["std_err"],
        model.coef_table(cov_type="robust", X=X, y=y).loc[(1, "x1"), "std_err"], rtol=1e-8)
    assert "robust" in robust.attrs["se_method"]


@pytest.mark.parametrize("kind,at", [("average", "overall"), ("at_means", "mean")])
def test_poisson_one_component_matches_statsmodels(kind, at):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 2))
    y = rng.poisson(np.exp(0.3 + 0.5 * X[:, 0] - 0.4 * X[:, 1]))
    model = RegressionMixture(1, family="poisson", random_state=0, tol=1e-12).fit(X, y)
    result = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(tol=1e-12)
    margeff = result.get_margeff(at=at, method="dydx")
    effects = model.marginal_effects(X, kind=kind)
    for j, name in enumerate(["x0", "x1"]):
        row = _row(effects, name)
        np.testing.assert_allclose(row["effect"], margeff.margeff[j], rtol=1e-6)
        np.testing.assert_allclose(row["std_err"], margeff.margeff_se[j], rtol=1e-6)


# ---------------------------------------------------------------------- mixtures
@pytest.fixture(scope="module")
def poisson_two():
    rng = np.random.default_rng(2)
    n = 500
    X = rng.normal(size=(n, 2))
    X[:, 1] = rng.integers(0, 2, size=n)
    z = rng.random(n) < 0.4
    eta = np.where(z, 1.5 + 0.6 * X[:, 0] - 0.5 * X[:, 1], 0.2 - 0.3 * X[:, 0] + 0.8 * X[:, 1])
    y = rng.poisson(np.exp(eta))
    return X, y, RegressionMixture(2, family="poisson", random_state=0).fit(X, y)


def _poisson_mean(theta, X, K=2):
    """Per row and component, and for the mixture, the mean written from the natural
    parameters in coef_table's order: (intercept, x0, x1, weight) per component."""
    blocks = np.asarray(theta).reshape(K, 4)
    mu = np.exp(blocks[:, 0] + X @ blocks[:, 1:3].T)
    return mu, mu @ blocks[:, 3]


def test_two_components_against_a_naive_reference(poisson_two):
    X, _, model = poisson_two
    cov = _covariance(model)
    effects = model.marginal_effects(X, variables="x0")

    def ame(theta, h=1e-6):
        up, down = X.copy(), X.copy()
        up[:, 0] += h
        down[:, 0] -= h
        (mu1, m1), (mu0, m0) = _poisson_mean(theta, up), _poisson_mean(theta, down)
        return np.r_[np.mean(m1 - m0), np.mean(mu1 - mu0, axis=0)] / (2 * h)

    # by hand from the fitted attributes
    mu = np.exp(model.intercept_ + X @ model.coef_.T)
    by_hand = mu * model.coef_[:, 0]
    np.testing.assert_allclose(_row(effects, "x0", 1)["effect"], by_hand[:, 0].mean(),
                               rtol=1e-10)
    np.testing.assert_allclose(_row(effects, "x0")["effect"],
                               (by_hand @ model.weights_).mean(), rtol=1e-10)
    se = _delta_se(ame, cov)
    for i, component in enumerate(["mixture", 1, 2]):
        row = _row(effects, "x0", component)
        np.testing.assert_allclose(row["effect"], ame(cov.attrs["estimates"])[i], rtol=1e-6)
        np.testing.assert_allclose(row["std_err"], se[i], rtol=1e-5)
        np.testing.assert_allclose(row["z"], row["effect"] / row["std_err"], rtol=1e-12)
    assert set(effects["part"]) == {"total"}  # no gating: no parts


def test_discrete_change_of_an_indicator(poisson_two):
    X, _, model = poisson_two
    cov = _covariance(model)
    effects = model.marginal_effects(X, variables=["x1"], discrete="x1")
    assert set(effects["contrast"]) == {"1.0 vs 0.0"}

    def change(theta):
        one, zero = X.copy(), X.copy()
        one[:, 1], zero[:, 1] = 1.0, 0.0
        (mu1, m1), (mu0, m0) = _poisson_mean(theta, one), _poisson_mean(theta, zero)
        return np.r_[np.mean(m1 - m0), np.mean(mu1 - mu0, axis=0)]

    expected, se = change(cov.attrs["estimates"]), _delta_se(change, cov)
    for i, component in enumerate(["mixture", 1, 2]):
        row = _row(effects, "x1", component)
        np.testing.assert_allclose(row["effect"], expected[i], rtol=1e-10)
        np.testing.assert_allclose(row["std_err"], se[i], rtol=1e-5)


def test_predictive_margins_against_the_predictions(poisson_two):
    X, _, model = poisson_two
    cov = _covariance(model)
    margins = model.predictive_margins(X)
    comp = model.predict_components(X).mean(axis=0)
    np.testing.assert_allclose(margins["margin"], np.r_[model.predict(X).mean(), comp],
                               rtol=1e-12)
    assert list(margins["component"]) == ["mixture", 1, 2]

    def margin(theta):
        mu, m = _poisson_mean(theta, X)
        return np.r_[m.mean(), mu.mean(axis=0)]

    np.testing.assert_allclose(margins["std_err"], _delta_se(margin, cov), rtol=1e-5)
    at = model.predictive_margins(X, at={"x1": [0, 1]}, component=2)
    assert list(at["at"]) == ["x1=0", "x1=1"]
    for value, (_, row) in zip([0, 1], at.iterrows(), strict=True):
        Xv = X.copy()
        Xv[:, 1] = value
        np.testing.assert_allclose(row["margin"], model.predict_components(Xv)[:, 1].mean(),
                                   rtol=1e-12)
    weighted = model.predictive_margins(X, component="mixture",
                                        sample_weight=np.arange(len(X)) % 3)
    np.testing.assert_allclose(weighted["margin"],
                               np.average(model.predict(X), weights=np.arange(len(X)) % 3),
                               rtol=1e-12)


@pytest.fixture(scope="module")
def gated():
    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)})
    late = rng.random(n) < 1 / (1 + np.exp(-1.5 * df["x"].to_numpy()))
    df["y"] = (np.where(late, 2.0 + df["x"] + 0.5 * df["x"] ** 2, -1.0 - df["x"])
               + 1.0 * (df["g"] == "b") + 0.3 * rng.normal(size=n))
    model = RegressionMixture(2, formula="y ~ x + I(x**2) + C(g) | x", random_state=0)
    return df, model.fit(df)


def test_gated_parts_sum_to_the_derivative_of_predict(gated):
    df, model = gated
    before = df.copy()
    effects = model.marginal_effects(df, variables="x")
    pd.testing.assert_frame_equal(df, before)  # the caller's frame is not touched
    total, via_comp, via_gate = (_row(effects, "x", part=p)["effect"]
                                 for p in ("total", "components", "gating"))
    np.testing.assert_allclose(via_comp + via_gate, total, rtol=1e-12)
    h = 1e-5
    up, down = df.assign(x=df["x"] + h), df.assign(x=df["x"] - h)
    np.testing.assert_allclose(total, np.mean(model.predict(up) - model.predict(down)) / (2 * h),
                               rtol=1e-6)
    pi = model.mixing_weights(df)
    dmu = (model.predict_components(up) - model.predict_components(down)) / (2 * h)
    np.testing.assert_allclose(via_comp, np.mean((pi * dmu).sum(axis=1)), rtol=1e-6)
    assert via_gate != 0.0


def test_polynomial_and_factor_through_the_formula(gated):
    df, model = gated
    effects = model.marginal_effects(df)
    names = model.coef_names()
    b1, b2 = names.index("x"), names.index("I(x ** 2)")
    x = df["x"].to_numpy()
    cov = model.covariance_matrix()
    for k in (1, 2):
        coef = model.coef_[k - 1]
        row = _row(effects, "x", k)
        np.testing.assert_allclose(row["effect"], np.mean(coef[b1] + 2 * coef[b2] * x),
                                   rtol=1e-8)
        keys = [(k, "x"), (k, "I(x ** 2)")]
        g = np.array([1.0, 2 * x.mean()])
        np.testing.assert_allclose(row["std_err"],
                                   np.sqrt(g @ cov.loc[keys, keys].to_numpy() @ g), rtol=1e-6)
        for level in ("b", "c"):  # identity link: the change is the coefficient
            row = _row(effects, "g", k, contrast=f"{level} vs a")
            name = f"C(g)[T.{level}]"
            np.testing.assert_allclose(row["effect"], coef[names.index(name)], rtol=1e-10)
            np.testing.assert_allclose(row["std_err"],
                                       np.sqrt(cov.loc[(k, name), (k, name)]), rtol=1e-6)
    # the mixture's change: the same change of predict, averaged
    change = (model.predict(df.assign(g="b")) - model.predict(df.assign(g="a"))).mean()
    np.testing.assert_allclose(_row(effects, "g", contrast="b vs a")["effect"], change,
                               rtol=1e-10)


def test_at_means_and_at_values(gated):
    df, model = gated
    at = model.marginal_effects(df, variables="x", kind="at_means", at={"x": [0.0, 1.0]},
                                component=2)
    assert list(at["at"].unique()) == ["x=0.0", "x=1.0"]
    coef = model.coef_[1]
    names = model.coef_names()
    for value in (0.0, 1.0):
        row = _row(at[at["at"] == f"x={value}"], "x", 2)
        np.testing.assert_allclose(
            row["effect"], coef[names.index("x")] + 2 * coef[names.index("I(x ** 2)")] * value,
            rtol=1e-8)


def test_bad_input_is_named(gated, poisson_two):
    df, model = gated
    with pytest.raises(ValueError, match="variables: 'w' is not a variable"):
        model.marginal_effects(df, variables="w")
    with pytest.raises(ValueError, match="at: 'age' is not a variable"):
        model.predictive_margins(df, at={"age": 3})
    with pytest.raises(ValueError, match="kind must be"):
        model.marginal_effects(df, kind="mean")
    with pytest.raises(ValueError, match="component must be"):
        model.predictive_margins(df, component=3)
    with pytest.raises(ValueError, match="discrete: 'q' is not a variable"):
        model.marginal_effects(df, discrete="q")
    X, _, poisson = poisson_two
    with pytest.raises(ValueError, match="variables: 'x7' is not a variable"):
        poisson.marginal_effects(X, variables="x7")


def test_arrays_a_feature_and_a_concomitant_variable_of_one_name_move_together():
    rng = np.random.default_rng(4)
    n = 500
    X = pd.DataFrame({"x": rng.normal(size=n), "w": rng.normal(size=n)})
    Z = pd.DataFrame({"x": X["x"]})
    late = rng.random(n) < 1 / (1 + np.exp(-2 * X["x"].to_numpy()))
    y = np.where(late, 1 + X["x"], -1 - X["x"]) + 0.3 * rng.normal(size=n)
    model = RegressionMixture(2, random_state=0).fit(X, y, concomitant=Z)
    effects = model.marginal_effects(X, concomitant=Z)
    h = 1e-5

    def mean_at(shift):
        return model.predict(X.assign(x=X["x"] + shift), concomitant=Z + shift).mean()

    np.testing.assert_allclose(_row(effects, "x")["effect"], (mean_at(h) - mean_at(-h)) / (2 * h),
                               rtol=1e-6)
    # w is a feature only: no part through the gating
    assert _row(effects, "w", part="gating")["effect"] == 0.0
    np.testing.assert_allclose(_row(effects, "w", 1)["effect"], model.coef_[0, 1], rtol=1e-12)


def test_delta_method_of_a_linear_map_and_a_parameter_without_a_standard_error():
    from regmix.inference.margins import delta_method

    rng = np.random.default_rng(5)
    A = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, -1.0]])
    L = rng.normal(size=(4, 4))
    V = L @ L.T
    theta = rng.normal(size=4)
    values, cov = delta_method(lambda t: A @ t, theta, V, np.arange(4))
    np.testing.assert_allclose(values, A @ theta, rtol=1e-15)
    np.testing.assert_allclose(cov, A @ V @ A.T, rtol=1e-9)
    V[3, :] = V[:, 3] = np.nan  # the second quantity depends on it, the first does not
    _, cov = delta_method(lambda t: A @ t, theta, V, np.arange(4))
    np.testing.assert_allclose(cov[0, 0], A[0, :3] @ V[:3, :3] @ A[0, :3], rtol=1e-9)
    assert np.isnan(cov[1, 1]) and np.isnan(cov[0, 1])


def test_zero_inflated_poisson_against_a_naive_reference():
    """A point mass at zero gated by z beside a Poisson component in x: the mixture
    mean is ``m = pi(z) exp(b0 + b1 x)`` with ``pi(z) = 1 / (1 + exp(-(g0 + g1 z)))``,
    written here from coef_table's four estimates; the effects of x and z, the margins
    and their delta-method standard errors equal the derivatives of that mean. The
    point mass's own mean (zero) moves with nothing."""
    rng = np.random.default_rng(0)
    n = 500
    x, z = rng.normal(size=n), rng.normal(size=n)
    zero = rng.random(n) < 1 / (1 + np.exp(0.6 - 1.2 * z))
    y = np.where(zero, 0.0, rng.poisson(np.exp(0.4 + 0.7 * x)))
    frame = pd.DataFrame({"y": y, "x": x, "z": z})
    model = RegressionMixture(2, family=["pointmass", "poisson"], formula="y ~ x | z",
                              random_state=0).fit(frame)
    cov = _covariance(model)
    assert list(model.coef_table().index) == [
        (2, "intercept"), (2, "x"), (2, "gate:intercept"), (2, "gate:z")]

    def means(theta, x=x, z=z):
        b0, b1, g0, g1 = theta
        mu = np.exp(b0 + b1 * x)
        return mu, mu / (1 + np.exp(-(g0 + g1 * z)))

    def ame(theta, h=1e-6):
        (mu_x1, m_x1), (mu_x0, m_x0) = means(theta, x=x + h), means(theta, x=x - h)
        (_, m_z1), (_, m_z0) = means(theta, z=z + h), means(theta, z=z - h)
        return np.array([np.mean(m_x1 - m_x0), np.mean(mu_x1 - mu_x0),
                         np.mean(m_z1 - m_z0)]) / (2 * h)

    effects = model.marginal_effects(frame)
    rows = [_row(effects, "x"), _row(effects, "x", 2), _row(effects, "z")]
    theta = cov.attrs["estimates"]
    np.testing.assert_allclose([r["effect"] for r in rows], ame(theta), rtol=1e-6)
    np.testing.assert_allclose([r["std_err"] for r in rows], _delta_se(ame, cov), rtol=1e-5)
    for variable in ("x", "z"):
        point_mass = _row(effects, variable, 1)
        assert point_mass["effect"] == 0.0 and point_mass["std_err"] == 0.0
    margins = model.predictive_margins(frame)
    mixture = margins[margins["component"] == "mixture"].iloc[0]

    def margin(theta):
        return np.array([np.mean(means(theta)[1])])

    np.testing.assert_allclose(mixture["margin"], margin(theta)[0], rtol=1e-10)
    np.testing.assert_allclose(mixture["std_err"], _delta_se(margin, cov)[0], rtol=1e-5)
