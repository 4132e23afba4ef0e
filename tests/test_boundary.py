"""Parameters on the boundary: diverging coefficients (separation) and sigmas at the
variance floor are warned about, get NaN standard errors and a summary note, survive a
save and load, and ordinary fits report nothing.

The references are independent of regmix's information code: the log-likelihood of the
limit model (the diverging component replaced by its limit, a step function), written
here with scipy and differentiated by central differences; least squares on the rows of
the component that did not collapse; and the same model coded two ways.
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from regmix import BoundaryWarning, RankDeficiencyWarning, RegressionMixture, load
from regmix.core.errors import InformationWarning
from regmix.inference.boundary import BoundaryParameters
from regmix.persistence import model_from_dict, model_to_dict

GOLDEN = Path(__file__).resolve().parent / "golden"


def fit(*args, n_components=2, **params):
    """Fit, returning the model and the warnings raised."""
    params.setdefault("random_state", 0)
    fit_kw = params.pop("fit_kw", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = RegressionMixture(n_components, **params).fit(*args, **fit_kw)
    numeric = [str(c.message) for c in caught if issubclass(c.category, RuntimeWarning)]
    assert not numeric, numeric
    return model, caught


def boundary_messages(caught):
    return [str(c.message) for c in caught if issubclass(c.category, BoundaryWarning)]


def central_hessian(f, x, h=1e-4):
    """Central-difference Hessian of a scalar function."""
    x = np.asarray(x, dtype=np.float64)
    d = x.size
    H = np.empty((d, d))
    for i in range(d):
        for j in range(i, d):
            ei, ej = np.eye(d)[i] * h, np.eye(d)[j] * h
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                 + f(x - ei - ej)) / (4 * h * h)
    return H


# --------------------------------------------------------------------------- separation
@pytest.fixture(scope="module")
def dose_response():
    """A dose-response mixture with trials: one component dies at every dose above 1.6
    and at none below (a step), the other is an ordinary logistic curve in log(dose)."""
    rng = np.random.default_rng(1)
    dose = np.repeat(np.linspace(0.5, 3.0, 11), 6)
    trials = np.full(dose.size, 20.0)
    step = rng.random(dose.size) < 0.5
    p_logistic = 1.0 / (1.0 + np.exp(1.0 - 2.0 * np.log(dose)))
    dead = np.where(step, 20.0 * (dose > 1.6), rng.binomial(20, p_logistic)).astype(float)
    return pd.DataFrame({"log(Dose)": np.log(dose)}), dead, trials


@pytest.fixture(scope="module")
def separated_fit(dose_response):
    X, y, trials = dose_response
    return fit(X, y, family="binomial", fit_kw={"trials": trials})


def test_separation_warns_naming_the_component_and_its_coefficients(separated_fit):
    model, caught = separated_fit
    messages = boundary_messages(caught)
    assert len(messages) == 1, messages
    # the step component: the one whose probabilities are all 0 or 1
    k = int(np.argmax(np.abs(model.coef_[:, 0])))
    assert messages[0].startswith(f"component {k + 1}: the coefficients of intercept and "
                                  "log(Dose) diverge (complete separation")
    assert "no maximum-likelihood estimate" in messages[0]
    # the misleading "too few rows" rank-deficiency message is not given instead
    assert not [c for c in caught if issubclass(c.category, RankDeficiencyWarning)]
    (entry,) = model.state_.boundary
    assert (entry.component, entry.kind, entry.parameters) == (
        k, "complete_separation", ("intercept", "log(Dose)"))


def test_separated_coefficients_have_nan_standard_errors(separated_fit):
    model, _ = separated_fit
    table = model.coef_table()
    k = model.state_.boundary[0].component + 1
    for name in ("intercept", "log(Dose)"):
        row = table.loc[(k, name)]
        assert np.isfinite(row["estimate"])
        assert row[["std_err", "z", "p_value", "ci_lower", "ci_upper"]].isna().all(), row
    other = table.drop(index=k, level="component")
    assert np.all(np.isfinite(other["std_err"])) and np.all(other["std_err"] > 0)
    assert np.isfinite(table.loc[(k, "weight"), "std_err"])


def test_the_other_component_matches_the_limit_model(separated_fit, dose_response):
    """The other component's estimates and standard errors are those of the limit model,
    in which the separated component is its limiting step function: its log-likelihood
    is written here with scipy, maximised by scipy and differentiated numerically."""
    model, _ = separated_fit
    X, y, trials = dose_response
    x = X["log(Dose)"].to_numpy()
    k = model.state_.boundary[0].component
    j = 1 - k
    p_step = model.predict_components(X)[:, k]
    explained = stats.binom.pmf(y, trials, p_step)
    step = np.round(explained)  # the limit: 1 where the step explains the row, else 0
    np.testing.assert_allclose(explained, step, atol=1e-9)

    def loglik(theta):
        b0, b1, eta = theta
        pi = 1.0 / (1.0 + np.exp(-eta))
        f = stats.binom.pmf(y, trials, 1.0 / (1.0 + np.exp(-(b0 + b1 * x))))
        return float(np.sum(np.log(pi * f + (1.0 - pi) * step)))

    start = [model.intercept_[j], model.coef_[j, 0],
             np.log(model.weights_[j] / model.weights_[k])]
    best = optimize.minimize(lambda t: -loglik(t), start, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    np.testing.assert_allclose(best.x, start, rtol=1e-6, atol=1e-7)
    cov = np.linalg.inv(-central_hessian(loglik, best.x))
    pi = model.weights_[j]
    expected = np.sqrt([cov[0, 0], cov[1, 1], (pi * (1 - pi)) ** 2 * cov[2, 2]])
    table = model.coef_table()
    got = table.loc[[(j + 1, "intercept"), (j + 1, "log(Dose)"), (j + 1, "weight")],
                    "std_err"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_summary_notes_the_separation(separated_fit):
    model, _ = separated_fit
    k = model.state_.boundary[0].component + 1
    notes = model.summary().notes
    assert (f"Component {k}: intercept and log(Dose) diverge (complete separation); no "
            "maximum-likelihood estimate, no standard errors.") in notes
    assert f"Component {k}: intercept and log(Dose) diverge" in model.summary().as_text()


def test_single_component_separation_warns():
    """The textbook case: one logistic regression on completely separated 0/1 rows."""
    x = np.random.default_rng(0).normal(size=60)
    model, caught = fit(x[:, None], (x > 0).astype(float), n_components=1,
                        family="binomial")
    assert len(boundary_messages(caught)) == 1
    assert model.state_.boundary[0].parameters in (("intercept", "x0"), ("x0",))
    assert np.isnan(model.coef_table().loc[(1, "x0"), "std_err"])


def test_quasi_complete_separation_keeps_the_identified_intercept():
    """0/1 rows: no successes left of zero, no failures right of it, and 10 rows at zero
    with 3 successes. Only the slope diverges; the intercept is the logit of the
    probability at zero, identified by those 10 rows alone: logit(0.3), with the
    binomial standard error 1 / sqrt(10 p (1 - p)). The features' mean is not zero, so
    the user-unit intercept is computed through a cancellation."""
    x = np.r_[np.linspace(-3.0, -0.5, 20), np.zeros(10), np.linspace(0.5, 6.0, 30)]
    y = np.r_[np.zeros(20), np.ones(3), np.zeros(7), np.ones(30)]
    model, caught = fit(x[:, None], y, n_components=1, family="binomial")
    (message,) = boundary_messages(caught)
    assert message.startswith("component 1: the coefficient of x0 diverges (quasi-complete "
                              "separation")
    (entry,) = model.state_.boundary
    assert (entry.kind, entry.parameters) == ("quasi_complete_separation", ("x0",))
    table = model.coef_table()
    assert np.isnan(table.loc[(1, "x0"), "std_err"])
    assert table.loc[(1, "intercept"), "estimate"] == pytest.approx(np.log(3 / 7), rel=1e-6)
    assert table.loc[(1, "intercept"), "std_err"] == pytest.approx(
        1 / np.sqrt(10 * 0.3 * 0.7), rel=1e-6)


@pytest.fixture(scope="module")
def zero_level():
    """Poisson counts with a factor: in one component the level "c" has mean zero."""
    rng = np.random.default_rng(3)
    n = 400
    g = rng.integers(0, 3, n)
    x = rng.normal(size=n)
    first = rng.random(n) < 0.5
    mu = np.where(first, np.exp(1.0 + 0.5 * x) * (g != 2), np.exp(2.5 - 0.3 * x))
    return pd.DataFrame({"x": x, "g": np.array(["a", "b", "c"])[g], "y": rng.poisson(mu)})


def test_a_count_level_with_mean_zero_names_its_dummy_only(zero_level):
    model, caught = fit(zero_level, family="poisson", formula="y ~ x + C(g)")
    (message,) = boundary_messages(caught)
    (entry,) = model.state_.boundary
    k = entry.component + 1
    assert entry.kind == "zero_mean" and entry.parameters == ("C(g)[T.c]",)
    assert message.startswith(f"component {k}: the coefficient of C(g)[T.c] diverges")
    se = model.coef_table()["std_err"]
    assert np.isnan(se[(k, "C(g)[T.c]")])
    assert np.all(np.isfinite(se.drop((k, "C(g)[T.c]"))))


def test_standard_errors_do_not_depend_on_how_the_zero_level_is_coded(zero_level):
    """With the zero level as the reference, the intercept and both dummies diverge
    together, while the slope of x and the weights are the same parameters as before:
    their standard errors must agree with the first coding's."""
    first, _ = fit(zero_level, family="poisson", formula="y ~ x + C(g)")
    recoded = zero_level.assign(g=zero_level["g"].map({"a": "b1", "b": "c1", "c": "a0"}))
    second, caught = fit(recoded, family="poisson", formula="y ~ x + C(g)")
    (entry,) = second.state_.boundary
    assert entry.parameters == ("intercept", "C(g)[T.b1]", "C(g)[T.c1]")
    k = entry.component + 1
    a, b = first.coef_table(), second.coef_table()
    assert np.isnan(b.loc[(k, "intercept"), "std_err"])
    for key in [(1, "x"), (2, "x"), (1, "weight"), (2, "weight")]:
        assert b.loc[key, "std_err"] == pytest.approx(a.loc[key, "std_err"], rel=1e-6), key


def test_a_streamed_fit_finds_the_same_boundary(zero_level, tmp_path):
    """The detection pass runs on any row source: a Parquet file streamed batch by batch
    gives the in-memory fit's boundary and standard errors."""
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    frame = pd.DataFrame({"x": zero_level["x"], "b": (zero_level["g"] == "b") * 1.0,
                          "c": (zero_level["g"] == "c") * 1.0,
                          "y": zero_level["y"].astype(float)})
    frame.to_parquet(tmp_path / "rows.parquet", row_group_size=64)
    in_memory, _ = fit(frame[["x", "b", "c"]], frame["y"].to_numpy(), family="poisson")
    streamed, _ = fit(ParquetData(tmp_path / "rows.parquet", x=["x", "b", "c"], y="y"),
                      family="poisson", chunk_size=64)
    assert [b.parameters for b in in_memory.state_.boundary] == [("c",)]
    (a,), (b,) = streamed.state_.boundary, in_memory.state_.boundary
    assert (a.component, a.kind, a.parameters) == (b.component, b.kind, b.parameters)
    np.testing.assert_allclose(a.directions, b.directions, atol=1e-9)
    # the diverging estimate is only where EM stopped; everything else agrees
    got, expected = streamed.coef_table(), in_memory.coef_table()
    key = (a.component + 1, "c")
    pd.testing.assert_frame_equal(got.drop(key), expected.drop(key), rtol=1e-9, atol=1e-12)
    assert got.loc[key].drop("estimate").isna().all()


# --------------------------------------------------------------------------- variance floor
@pytest.fixture(scope="module")
def collapsed():
    """100 rows around y = 1 + 2x and three rows exactly on y = 30 - x."""
    rng = np.random.default_rng(2)
    x = np.append(rng.normal(size=100), [0.0, 1.0, 2.0])
    y = np.append(1.0 + 2.0 * x[:100] + rng.normal(0.0, 0.5, 100), 30.0 - x[100:])
    X = x[:, None]
    model, caught = fit(X, y, min_weight=0.0)
    return X, y, model, caught


def test_sigma_at_the_floor_warns_and_has_no_standard_errors(collapsed):
    X, y, model, caught = collapsed
    (message,) = boundary_messages(caught)
    assert message.startswith("component 2: sigma sits at the variance floor")
    assert "the likelihood is unbounded" in message
    assert model.weights_[1] == pytest.approx(3 / 103, rel=1e-9)
    table = model.coef_table()
    for name in ("intercept", "x0", "sigma"):
        assert np.isnan(table.loc[(2, name), "std_err"]), name
    assert "Component 2: sigma sits at the variance floor" in model.summary().as_text()


def test_the_other_component_has_the_least_squares_standard_errors(collapsed):
    """Memberships are certain, so the rest of the fit is the normal regression on the
    100 rows (maximum-likelihood sigma) and a binomial proportion for the weight."""
    X, y, model, _ = collapsed
    D = np.column_stack([np.ones(100), X[:100, 0]])
    beta, *_ = np.linalg.lstsq(D, y[:100], rcond=None)
    sigma = np.sqrt(np.mean((y[:100] - D @ beta) ** 2))
    expected = np.r_[np.sqrt(np.diag(sigma**2 * np.linalg.inv(D.T @ D))),
                     sigma / np.sqrt(200.0), np.sqrt(100 / 103 * 3 / 103 / 103)]
    table = model.coef_table()
    rows = [(1, "intercept"), (1, "x0"), (1, "sigma"), (1, "weight")]
    np.testing.assert_allclose(table.loc[rows, "estimate"].to_numpy()[:3],
                               np.r_[beta, sigma], rtol=1e-9)
    np.testing.assert_allclose(table.loc[rows, "std_err"].to_numpy(), expected, rtol=1e-6)
    assert table.loc[(2, "weight"), "std_err"] == pytest.approx(expected[3], rel=1e-6)


def test_student_t_lines_without_noise_lose_sigma_and_df():
    """Rows exactly on two lines: both Student-t scales sit at the floor. With every
    residual zero the degrees of freedom are not determined either; the memberships are
    certain, so each weight has the standard error of a binomial proportion."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    y = np.where(rng.random(120) < 0.4, 1.0 + 2.0 * x, -1.0 - x)
    model, caught = fit(x[:, None], y, family="student_t")
    assert len(boundary_messages(caught)) == 2
    assert [b.parameters for b in model.state_.boundary] == [
        ("intercept", "x0", "sigma", "df")] * 2
    table = model.coef_table()
    assert table["std_err"].drop("weight", level="parameter").isna().all()
    pi = model.weights_
    np.testing.assert_allclose(table["std_err"].xs("weight", level="parameter"),
                               np.sqrt(pi * (1 - pi) / 120), rtol=1e-6)


# --------------------------------------------------------------------------- gating separation
def _gated_lines(seed, noise, n=400):
    """Two well-separated lines whose membership is ``z + noise > 0``: with
    ``noise=0`` the concomitant variable separates them (the gating diverges), with
    ``noise > 0`` the groups overlap and the gating is a steep but finite logistic."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    label = (z + noise * rng.normal(size=n) > 0).astype(int)
    x = rng.normal(size=n)
    y = np.where(label == 1, 3.0 + 2.0 * x, -3.0 - x) + rng.normal(scale=0.3, size=n)
    return x[:, None], y, z[:, None], label


@pytest.fixture(scope="module")
def gating_separated():
    X, y, Z, label = _gated_lines(0, 0.0)
    model, caught = fit(X, y, fit_kw={"concomitant": Z})
    return X, y, Z, label, model, caught


def test_a_separating_gating_warns_and_has_no_standard_errors(gating_separated):
    *_, model, caught = gating_separated
    (message,) = boundary_messages(caught)
    assert message.startswith("component 2: the gating coefficients gate:intercept and "
                              "gate:z0 diverge (the concomitant variables separate")
    assert model.converged_  # EM stops: the gain per step falls below tol
    (entry,) = model.state_.boundary
    assert (entry.component, entry.kind) == (1, "gating_separation")
    assert entry.directions.shape == (2, 2)  # complete separation: every direction
    table = model.coef_table()
    for name in ("gate:intercept", "gate:z0"):
        assert table.loc[(2, name)].drop("estimate").isna().all(), name
    assert np.all(np.isfinite(table["std_err"].drop(["gate:intercept", "gate:z0"],
                                                    level="parameter")))
    assert ("Component 2: gate:intercept and gate:z0 diverge (gating separation)"
            in model.summary().as_text())


def test_the_components_of_a_separated_gating_are_least_squares_fits(gating_separated):
    """At the limit the prior probabilities are the labels, so are the posteriors, and
    each component is the normal regression on its own rows (maximum-likelihood
    sigma): estimates and standard errors of the limit model."""
    X, y, Z, label, model, _ = gating_separated
    post = model.posterior(X, y, concomitant=Z)
    k_of = {int(np.argmax(post[label == v].mean(axis=0))): v for v in (0, 1)}
    assert sorted(k_of) == [0, 1]
    table = model.coef_table()
    for k, v in k_of.items():
        np.testing.assert_allclose(post[:, k], (label == v) * 1.0, atol=1e-12)
        rows = label == v
        D = np.column_stack([np.ones(rows.sum()), X[rows, 0]])
        beta, *_ = np.linalg.lstsq(D, y[rows], rcond=None)
        sigma = np.sqrt(np.mean((y[rows] - D @ beta) ** 2))
        expected = np.r_[np.sqrt(np.diag(sigma**2 * np.linalg.inv(D.T @ D))),
                         sigma / np.sqrt(2.0 * rows.sum())]
        names = [(k + 1, "intercept"), (k + 1, "x0"), (k + 1, "sigma")]
        np.testing.assert_allclose(table.loc[names, "estimate"], np.r_[beta, sigma],
                                   rtol=1e-9)
        np.testing.assert_allclose(table.loc[names, "std_err"], expected, rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_steep_gating_with_overlapping_groups_is_not_separated(seed):
    """Memberships are ``z + N(0, 0.1^2) > 0``: the gating is a logistic regression with
    a slope near 17, so a quarter of the rows have prior probabilities within 1e-8 of 0
    or 1, but the rows on the wrong side of zero pin it. Nothing is flagged, and the
    gating is the weighted logistic regression of the posterior probabilities on z
    (statsmodels)."""
    X, y, Z, _ = _gated_lines(seed, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        model = RegressionMixture(2, random_state=0).fit(X, y, concomitant=Z)
    assert model.state_.boundary == []
    assert np.all(np.isfinite(model.coef_table()["std_err"]))
    gamma = model.gating_coef_[1]
    eta = gamma[0] + gamma[1] * Z[:, 0]
    assert np.sum(np.abs(eta) > -np.log(1e-8)) >= 50  # not vacuous: rows do saturate
    r = model.posterior(X, y, concomitant=Z)[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels on a fractional response
        logit = sm.GLM(r, sm.add_constant(Z), family=sm.families.Binomial()).fit(tol=1e-14)
    np.testing.assert_allclose(gamma, logit.params, rtol=1e-6)


def test_quasi_complete_gating_separation_keeps_the_identified_intercept():
    """Rows with z < 0 on one line, z > 0 on the other, and 30 rows at z = 0 of which 9
    on the second line. Only the gating slope diverges; the gating intercept is the
    log-odds of the second component's share at z = 0, identified by those 30 rows
    alone, with the binomial standard error 1 / sqrt(30 p (1 - p)). The mean of z is
    not zero, so the user-unit intercept is computed through a cancellation."""
    rng = np.random.default_rng(3)
    z = np.r_[np.repeat([-2.0, -1.0, 1.0, 2.0, 3.0], 50), np.zeros(30)]
    second = np.r_[z[:250] > 0, np.arange(30) < 9]
    x = rng.normal(size=z.size)
    y = np.where(second, 4.0 + x, -4.0 + x) + rng.normal(scale=0.3, size=z.size)
    model, caught = fit(x[:, None], y, fit_kw={"concomitant": z[:, None]})
    (message,) = boundary_messages(caught)
    assert message.startswith("component 2: the gating coefficient gate:z0 diverges")
    (entry,) = model.state_.boundary
    assert entry.parameters == ("gate:z0",)
    p = 9 / 30 if model.intercept_[1] > 0 else 21 / 30  # component 2's share at z = 0
    table = model.coef_table()
    assert table.loc[(2, "gate:intercept"), "estimate"] == pytest.approx(
        np.log(p / (1 - p)), rel=1e-6)
    assert table.loc[(2, "gate:intercept"), "std_err"] == pytest.approx(
        1 / np.sqrt(30 * p * (1 - p)), rel=1e-6)
    assert np.isnan(table.loc[(2, "gate:z0"), "std_err"])


def test_three_components_name_only_the_separated_gating():
    """Rows with z > 0.6 belong to a third line; below, memberships of the first two
    overlap (logistic in 1.5 z). The three lines are parallel and 8 apart, 27 times
    the noise, so the posteriors are the labels to working precision. Only the third
    component's gating diverges; the second one's is the logistic regression of the
    labels below 0.6 (statsmodels), with its standard errors."""
    rng = np.random.default_rng(1)
    n = 600
    z = rng.normal(size=n)
    label = np.where(z > 0.6, 2, (rng.random(n) < 1 / (1 + np.exp(-1.5 * z))).astype(int))
    x = rng.normal(size=n)
    y = np.choose(label, [-4.0 + x, 4.0 + x, 12.0 + x])
    y = y + rng.normal(scale=0.3, size=n)
    model, caught = fit(x[:, None], y, n_components=3, fit_kw={"concomitant": z[:, None]})
    (message,) = boundary_messages(caught)
    assert message.startswith("component 3: the gating coefficients gate:intercept and")
    (entry,) = model.state_.boundary
    assert (entry.component, entry.parameters) == (2, ("gate:intercept", "gate:z0"))
    assert entry.directions.shape == (2, 4)
    order = np.argsort(model.intercept_)  # lines -4, 4 and 12
    assert list(order) == [0, 1, 2]
    table = model.coef_table()
    below = z <= 0.6
    logit = sm.Logit(label[below], sm.add_constant(z[below])).fit(disp=0, tol=1e-12)
    gate = [(2, "gate:intercept"), (2, "gate:z0")]
    np.testing.assert_allclose(table.loc[gate, "estimate"], logit.params, rtol=1e-6)
    np.testing.assert_allclose(table.loc[gate, "std_err"], logit.bse, rtol=1e-6)
    assert table.loc[[(3, "gate:intercept"), (3, "gate:z0")], "std_err"].isna().all()


def test_groups_whose_concomitant_variable_separates_them():
    """Groups of four rows sharing a value of z: the groups with z > 0 follow one line,
    the others the other line. The gating of the groups diverges."""
    rng = np.random.default_rng(5)
    n_groups = 80
    groups = np.repeat(np.arange(n_groups), 4)
    z = np.repeat(rng.normal(size=n_groups), 4)
    x = rng.normal(size=groups.size)
    y = np.where(z > 0, 1.0 + x, -1.0 - 2.0 * x) + rng.normal(scale=0.5, size=x.size)
    model, caught = fit(x[:, None], y, fit_kw={"concomitant": z[:, None], "groups": groups})
    assert len(boundary_messages(caught)) == 1
    (entry,) = model.state_.boundary
    assert entry.kind == "gating_separation" and entry.component == 1
    assert model.coef_table().loc[(2, "gate:z0"), ["std_err", "z", "p_value"]].isna().all()


def test_a_streamed_fit_finds_the_same_gating_boundary(gating_separated, tmp_path):
    from regmix.parquet import ParquetData

    X, y, Z, _, in_memory, _ = gating_separated
    frame = pd.DataFrame({"x0": X[:, 0], "z0": Z[:, 0], "y": y})
    frame.to_parquet(tmp_path / "rows.parquet", row_group_size=64)
    streamed, _ = fit(ParquetData(tmp_path / "rows.parquet", x=["x0"], y="y",
                                  concomitant=["z0"]), chunk_size=64)
    (a,), (b,) = streamed.state_.boundary, in_memory.state_.boundary
    assert (a.component, a.kind, a.parameters) == (b.component, b.kind, b.parameters)
    # the same subspace (here all of it, of which any orthonormal basis is one)
    np.testing.assert_allclose(a.directions.T @ a.directions, b.directions.T @ b.directions,
                               atol=1e-9)
    got, expected = streamed.coef_table(), in_memory.coef_table()
    gate = [(2, "gate:intercept"), (2, "gate:z0")]
    pd.testing.assert_frame_equal(got.drop(gate), expected.drop(gate), rtol=1e-7)
    assert got.loc[gate].drop(columns="estimate").isna().all().all()


def test_a_gating_without_separation_is_not_flagged_on_a_collinear_design():
    """A concomitant column that is a copy of another moves no row: rank deficiency,
    not separation."""
    X, y, Z, _ = _gated_lines(2, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        warnings.simplefilter("ignore", InformationWarning)
        warnings.simplefilter("ignore", RankDeficiencyWarning)
        model = RegressionMixture(2, random_state=0).fit(
            X, y, concomitant=np.column_stack([Z, 2.0 * Z]))
    assert model.state_.boundary == []


# --------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("which", ["separated", "collapsed", "gating"])
def test_save_and_load_keep_the_boundary(which, separated_fit, collapsed, gating_separated,
                                         tmp_path):
    model = {"separated": separated_fit[0], "collapsed": collapsed[2],
             "gating": gating_separated[4]}[which]
    path = tmp_path / "model.json"
    model.save(path)
    assert "boundary_" in json.loads(path.read_text())["fitted"]
    loaded = load(path)
    assert loaded.state_.boundary == model.state_.boundary
    pd.testing.assert_frame_equal(loaded.coef_table(), model.coef_table())
    assert loaded.summary().as_text() == model.summary().as_text()


def test_old_model_files_have_no_boundary():
    for path in sorted(GOLDEN.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        model = load(path)
        assert model.state_.boundary == []
        assert "boundary_" not in model_to_dict(model)["fitted"]


@pytest.mark.parametrize(("change", "match"), [
    ({"component": 3}, r"component 3, not in 1\.\.2"),
    ({"kind": "overflow"}, "kind 'overflow'"),
    ({"parameters": ["slope"]}, r"names parameters \['slope'\]"),
    ({"directions": [[1.0, 0.0, 0.0]]}, r"directions of shape \(1, 3\)"),
    ({"directions": None}, "must have directions"),
])
def test_a_damaged_boundary_entry_is_refused(separated_fit, change, match):
    content = model_to_dict(separated_fit[0])
    content["fitted"]["boundary_"][0].update(change)
    with pytest.raises(ValueError, match="is damaged.*" + match):
        model_from_dict(content)


@pytest.mark.parametrize(("change", "match"), [
    ({"component": 1}, r"component 1, not in 2\.\.2"),
    ({"parameters": ["gate:w"]}, r"names parameters \['gate:w'\]"),
    ({"parameters": ["intercept"]}, r"names parameters \['intercept'\]"),
    ({"directions": [[1.0, 0.0, 0.0]]}, r"directions of shape \(1, 3\)"),
])
def test_a_damaged_gating_entry_is_refused(gating_separated, change, match):
    content = model_to_dict(gating_separated[4])
    content["fitted"]["boundary_"][0].update(change)
    with pytest.raises(ValueError, match="is damaged.*" + match):
        model_from_dict(content)


def test_a_gating_entry_needs_concomitant_variables(separated_fit):
    content = model_to_dict(separated_fit[0])
    content["fitted"]["boundary_"][0].update(kind="gating_separation", component=2)
    with pytest.raises(ValueError, match="is damaged.*of the gating, but the model has no "
                                         "concomitant variables"):
        model_from_dict(content)


def test_boundary_entries_check_their_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        BoundaryParameters(0, "nowhere", ("x",))
    with pytest.raises(ValueError, match="directions are given exactly"):
        BoundaryParameters(0, "zero_mean", ("x",))
    with pytest.raises(ValueError, match="the first component has no gating"):
        BoundaryParameters(0, "gating_separation", ("gate:z",), np.eye(1))


# --------------------------------------------------------------------------- no false alarms
def _family_examples():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.test_summary import _family_data

    return _family_data


@pytest.mark.parametrize(("family", "link"), [
    ("gaussian", None), ("student_t", None), ("poisson", None), ("gamma", "log"),
    ("negative_binomial", None),
])
def test_ordinary_fits_report_no_boundary(family, link):
    X, y = _family_examples()(family)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        warnings.simplefilter("ignore", InformationWarning)
        model = RegressionMixture(2, family=family, link=link, random_state=0).fit(X, y)
    assert model.state_.boundary == []
    assert np.all(np.isfinite(model.coef_table()["std_err"]))


def test_a_steep_binomial_component_with_some_rows_at_the_bound_is_not_separated():
    """Some rows of a steep (but finite) logistic component have probabilities within
    1e-8 of 0 or 1 and no failures or successes; the rows in between pin the slope, so
    no coefficient diverges."""
    rng = np.random.default_rng(4)
    n = 300
    x = rng.uniform(-3.0, 3.0, n)
    first = rng.random(n) < 0.5
    p = np.where(first, 1 / (1 + np.exp(-8.0 * x)), 1 / (1 + np.exp(1.0 - 0.5 * x)))
    trials = np.full(n, 30.0)
    y = rng.binomial(30, p).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        model = RegressionMixture(2, family="binomial", random_state=0).fit(
            x[:, None], y, trials=trials)
    k = int(np.argmax(model.coef_[:, 0]))
    mu = model.predict_components(x[:, None])[:, k]
    owned = model.posterior(x[:, None], y, trials=trials)[:, k] > 0.5
    at_bound = owned & (((mu < 1e-8) & (y == 0)) | ((mu > 1 - 1e-8) & (y == trials)))
    assert at_bound.sum() >= 10  # the test is not vacuous: rows do saturate
    assert model.state_.boundary == []
    assert np.all(np.isfinite(model.coef_table()["std_err"]))


def test_the_separation_statistics_pass_runs_only_where_a_row_saturates(monkeypatch):
    """The screen of means skips the statistics pass where no row sits at a bound (the
    result would be empty: the unsaturated moments equal the moments), and lets a
    separated fit through to it."""
    from regmix.inference import boundary

    calls = []
    statistics = boundary._chunk_statistics

    def counted(*args, **kwargs):
        calls.append(1)
        return statistics(*args, **kwargs)

    monkeypatch.setattr(boundary, "_chunk_statistics", counted)
    X, y = _family_examples()("poisson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InformationWarning)
        model = RegressionMixture(2, family="poisson", random_state=0).fit(X, y)
    assert model.state_.boundary == [] and not calls
    x = np.random.default_rng(0).normal(size=60)
    model, caught = fit(x[:, None], (x > 0).astype(float), n_components=1,
                        family="binomial")
    assert calls and len(model.state_.boundary) == 1


# --------------------------------------------------------------------------- members
def test_a_family_per_component_reports_its_separated_component(dose_response):
    """Both components binomial, given as a family per component: the same boundary,
    warning and standard errors as the one family; with a probit member beside the
    logit one the warning names the component whose coefficients diverge."""
    X, y, trials = dose_response
    one, _ = fit(X, y, family="binomial", fit_kw={"trials": trials})
    per, caught = fit(X, y, family=["binomial", "binomial"], fit_kw={"trials": trials})
    ((a_entry,), (b_entry,)) = per.state_.boundary, one.state_.boundary
    assert (a_entry.component, a_entry.kind, a_entry.parameters) == (
        b_entry.component, b_entry.kind, b_entry.parameters)
    np.testing.assert_allclose(a_entry.directions, b_entry.directions, atol=1e-6)
    assert boundary_messages(caught) == [b_entry.message()]
    a, b = per.coef_table(), one.coef_table()
    np.testing.assert_array_equal(a["std_err"].isna(), b["std_err"].isna())
    np.testing.assert_allclose(a["std_err"], b["std_err"], rtol=1e-6)
    mixed, caught = fit(X, y, family=["binomial", regmix_probit()], fit_kw={"trials": trials})
    (entry,) = mixed.state_.boundary
    messages = boundary_messages(caught)
    assert messages == [entry.message()]
    assert messages[0].startswith(f"component {entry.component + 1}: the coefficients of "
                                  "intercept and log(Dose) diverge (complete separation")
    table = mixed.coef_table()
    k = entry.component + 1
    assert table.loc[[(k, "intercept"), (k, "log(Dose)")], "std_err"].isna().all()
    assert np.all(np.isfinite(table.drop(index=k, level="component")["std_err"]))


def regmix_probit():
    from regmix import Binomial

    return Binomial(link="probit")


@pytest.fixture(scope="module")
def separated_response():
    """Two classes of a Gaussian response yn and a 0/1 response yb: in one class yb is
    a step in x (separated), in the other a logistic curve."""
    rng = np.random.default_rng(0)
    n = 300
    x = rng.uniform(-2, 2, n)
    c = rng.random(n) < 0.5
    yn = np.where(c, 4 + 2 * x, -2 - x) + rng.normal(0, 1, n)
    logistic = rng.random(n) < 1 / (1 + np.exp(-(0.5 + x)))
    yb = np.where(c, x > 0.3, logistic).astype(float)
    return pd.DataFrame({"x": x, "yn": yn, "yb": yb})


def test_several_responses_report_the_separated_response(separated_response):
    """The warning and the NaN standard errors name the response's coefficients; the
    other parameters' estimates and standard errors are those of the limit model (the
    separated class's yb a step function), written here with scipy, maximised and
    differentiated numerically."""
    df = separated_response
    model, caught = fit(df, family={"yn": "gaussian", "yb": "binomial"}, formula="yn + yb ~ x")
    (entry,) = model.state_.boundary
    assert entry.kind == "complete_separation"
    assert entry.parameters == ("yb:intercept", "yb:x")
    k = entry.component
    assert boundary_messages(caught) == [entry.message()]
    assert entry.message().startswith(f"component {k + 1}: the coefficients of "
                                      "yb:intercept and yb:x diverge")
    assert not [c for c in caught if issubclass(c.category, RankDeficiencyWarning)]
    table = model.coef_table()
    assert table.loc[[(k + 1, "yb:intercept"), (k + 1, "yb:x")], "std_err"].isna().all()
    # the limit model
    x, yn, yb = (df[c].to_numpy() for c in ("x", "yn", "yb"))
    p_step = model.predict_components(df)[:, k, 1]
    step = np.round(stats.binom.pmf(yb, 1, p_step))
    np.testing.assert_allclose(stats.binom.pmf(yb, 1, p_step), step, atol=1e-9)
    j = 1 - k

    def loglik(t):
        eta = t[8]
        pi_j = 1 / (1 + np.exp(-eta))
        fj = stats.norm.pdf(yn, t[0] + t[1] * x, np.exp(t[2])) * stats.binom.pmf(
            yb, 1, 1 / (1 + np.exp(-(t[3] + t[4] * x))))
        fk = stats.norm.pdf(yn, t[5] + t[6] * x, np.exp(t[7])) * step
        return float(np.sum(np.log(pi_j * fj + (1 - pi_j) * fk)))

    def est(c, name):
        return table.loc[(c + 1, name), "estimate"]

    start = np.array([est(j, "yn:intercept"), est(j, "yn:x"), np.log(est(j, "yn:sigma")),
                      est(j, "yb:intercept"), est(j, "yb:x"), est(k, "yn:intercept"),
                      est(k, "yn:x"), np.log(est(k, "yn:sigma")),
                      np.log(model.weights_[j] / model.weights_[k])])
    best = optimize.minimize(lambda t: -loglik(t), start, method="BFGS",
                             options={"gtol": 1e-9})
    np.testing.assert_allclose(best.x, start, rtol=1e-5, atol=1e-6)
    cov = np.linalg.inv(-central_hessian(loglik, best.x))
    se = np.sqrt(np.diag(cov))
    names = [(j, "yn:intercept", 0), (j, "yn:x", 1), (j, "yb:intercept", 3), (j, "yb:x", 4),
             (k, "yn:intercept", 5), (k, "yn:x", 6)]
    for c, name, i in names:
        assert table.loc[(c + 1, name), "std_err"] == pytest.approx(se[i], rel=1e-4)
    for c, i in ((j, 2), (k, 7)):
        assert table.loc[(c + 1, "yn:sigma"), "std_err"] == pytest.approx(
            est(c, "yn:sigma") * se[i], rel=1e-4)
    # the model file keeps the entry
    assert load_roundtrip(model).state_.boundary == model.state_.boundary


def load_roundtrip(model):
    return model_from_dict(json.loads(json.dumps(model_to_dict(model))))


def test_several_responses_report_a_response_at_its_variance_floor():
    """One class's yn lies exactly on a line: its yn coefficients and sigma lose their
    standard errors, the counts' coefficients keep theirs."""
    rng = np.random.default_rng(3)
    n = 200
    x = rng.uniform(0, 4, n)
    c = np.arange(n) < 100
    yn = np.where(c, 1.0 + 2.0 * x, 8.0 - x + rng.normal(0, 1, n))
    yp = rng.poisson(np.exp(np.where(c, 1.0 + 0.2 * x, 0.3))).astype(float)
    df = pd.DataFrame({"x": x, "yn": yn, "yp": yp})
    model, caught = fit(df, family={"yn": "gaussian", "yp": "poisson"}, formula="yn + yp ~ x")
    (entry,) = model.state_.boundary
    assert entry.kind == "variance_floor"
    assert entry.parameters == ("yn:intercept", "yn:x", "yn:sigma")
    assert boundary_messages(caught) == [entry.message(model.var_floor)]
    k = entry.component + 1
    table = model.coef_table()
    assert table.loc[[(k, n) for n in entry.parameters], "std_err"].isna().all()
    assert np.all(np.isfinite(table.loc[[(k, "yp:intercept"), (k, "yp:x")], "std_err"]))
    assert load_roundtrip(model).state_.boundary == model.state_.boundary
