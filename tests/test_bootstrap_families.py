"""The bootstrap for every family and option: its table has the rows of coef_table(),
its standard errors agree with the observed information, and its replicates are the fits
of a resampling loop written here."""

import warnings

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture

N = 240


def _data(family: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N)
    labels = rng.integers(0, 2, N)
    eta = np.where(labels == 0, 0.5 + 0.8 * x, -0.5 - 0.6 * x)
    draw = {
        "gaussian": lambda: eta + 0.3 * rng.normal(size=N),
        "student_t": lambda: eta + 0.3 * rng.standard_t(5, size=N),
        "poisson": lambda: rng.poisson(np.exp(eta)),
        "binomial": lambda: rng.binomial(1, 1 / (1 + np.exp(-2 * eta))),
        "gamma": lambda: rng.gamma(5.0, np.exp(eta) / 5.0),
        "negative_binomial": lambda: rng.negative_binomial(5, 5 / (5 + np.exp(eta))),
    }[family]
    return pd.DataFrame({"x": x}), np.asarray(draw(), dtype=np.float64)


def _check_rows(model, boot, n_boot):
    assert boot.table().index.equals(model.coef_table().index)
    assert boot.n_failed == 0 and boot.n_boot == n_boot
    assert np.all(np.isfinite(boot.replicates.to_numpy()))


@pytest.mark.parametrize("kind", ["nonparametric", "parametric"])
@pytest.mark.parametrize("family", ["gaussian", "student_t", "poisson", "binomial", "gamma",
                                    "negative_binomial"])
def test_every_family(family, kind):
    X, y = _data(family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a small sample: the information may be flat
        model = RegressionMixture(2, family=family, random_state=0).fit(X, y)
        boot = model.bootstrap(X, y, n_boot=3, kind=kind, random_state=0)
        _check_rows(model, boot, 3)
    if family == "student_t":
        assert (1, "df") in boot.table().index


def _options():
    rng = np.random.default_rng(1)
    z = pd.DataFrame({"z": rng.normal(size=N)})
    return {
        "concomitant": ({}, {"concomitant": z}),
        "groups": ({}, {"groups": np.repeat(np.arange(N // 4), 4)[rng.permutation(N)]}),
        "common_coef": ({"common_coef": ["x"]}, {}),
        "fixed_coef": ({"fixed_coef": {"x": 0.8}}, {}),
        "equal_variance": ({"equal_variance": True}, {}),
        "offset": ({}, {"offset": 0.1 * rng.normal(size=N)}),
        "sample_weight": ({}, {"sample_weight": rng.uniform(0.5, 2.0, N)}),
    }


@pytest.mark.parametrize("kind", ["nonparametric", "parametric"])
@pytest.mark.parametrize("option", list(_options()))
def test_every_option(option, kind):
    X, y = _data("gaussian")
    settings, fit_args = _options()[option]
    model = RegressionMixture(2, random_state=0, **settings).fit(X, y, **fit_args)
    boot = model.bootstrap(X, y, n_boot=3, kind=kind, random_state=0, **fit_args)
    _check_rows(model, boot, 3)
    if option == "fixed_coef":  # a fixed coefficient does not vary
        np.testing.assert_allclose(boot.replicates[(1, "x")], 0.8, rtol=1e-12)
    if option == "common_coef":
        np.testing.assert_allclose(boot.replicates[(1, "x")], boot.replicates[(2, "x")])


@pytest.mark.parametrize("kind", ["nonparametric", "parametric"])
def test_binomial_trials(kind):
    rng = np.random.default_rng(2)
    X, _ = _data("gaussian")
    trials = rng.integers(1, 6, N).astype(np.float64)
    eta = np.where(rng.integers(0, 2, N) == 0, 1.0 + X["x"], -1.0 - X["x"])
    y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-eta))).astype(np.float64)
    model = RegressionMixture(2, family="binomial", random_state=0).fit(X, y, trials=trials)
    boot = model.bootstrap(X, y, trials=trials, n_boot=3, kind=kind, random_state=0)
    _check_rows(model, boot, 3)


def test_formula_with_a_gating_part_and_groups():
    X, y = _data("gaussian")
    rng = np.random.default_rng(3)
    frame = X.assign(y=y, z=rng.normal(size=N), g=np.repeat(np.arange(N // 4), 4))
    gated = RegressionMixture(2, formula="y ~ x | z", random_state=0).fit(frame)
    _check_rows(gated, gated.bootstrap(frame, n_boot=3, random_state=0), 3)
    grouped = RegressionMixture(2, formula="y ~ x", random_state=0).fit(frame, groups="g")
    _check_rows(grouped, grouped.bootstrap(frame, n_boot=3, groups="g", random_state=0), 3)
    with pytest.raises(ValueError, match="groups"):
        grouped.bootstrap(frame, n_boot=3)


def test_poisson_standard_errors_agree_with_the_information():
    """K = 1: a Poisson regression, whose observed-information standard errors the
    nonparametric bootstrap estimates. With B replicates the relative error of a
    bootstrap standard deviation is about 1 / sqrt(2 (B - 1)) = 0.05 for B = 200; the
    tolerance is four of those."""
    rng = np.random.default_rng(4)
    n = 400
    x = rng.normal(size=n)
    X = pd.DataFrame({"x": x})
    y = rng.poisson(np.exp(0.3 + 0.5 * x)).astype(np.float64)
    model = RegressionMixture(1, family="poisson", random_state=0).fit(X, y)
    boot = model.bootstrap(X, y, n_boot=200, random_state=0)
    analytic = model.coef_table()["std_err"].drop((1, "weight"))
    ratio = boot.std_err.drop((1, "weight")) / analytic
    np.testing.assert_allclose(ratio, 1.0, atol=0.2)


def test_grouped_replicates_are_fits_on_resampled_groups():
    """The replicates of a grouped Poisson fit are the fits of this loop: with the b-th
    child of the seed, draw as many groups as there are with replacement, give each
    draw a new label, refit from the fitted parameters."""
    rng = np.random.default_rng(5)
    n_groups, size = 40, 3
    x = rng.normal(size=n_groups * size)
    labels = rng.permutation(np.repeat(np.arange(n_groups), size))
    X = pd.DataFrame({"x": x})
    y = rng.poisson(np.exp(0.2 + 0.4 * x)).astype(np.float64)
    model = RegressionMixture(1, family="poisson", random_state=0).fit(X, y, groups=labels)
    boot = model.bootstrap(X, y, groups=labels, n_boot=4, random_state=7)
    init = {"weights": model.weights_, "coef": model.coef_, "intercept": model.intercept_}
    expected = []
    for seed in np.random.SeedSequence(7).spawn(4):
        draw = np.random.default_rng(seed).integers(0, n_groups, size=n_groups)
        # the fit sorts the rows by group, stably: group g is the g-th run of rows
        sorted_rows = np.argsort(labels, kind="stable").reshape(n_groups, size)
        idx = np.concatenate([sorted_rows[g] for g in draw])
        new_labels = np.repeat(np.arange(n_groups), size)
        refit = RegressionMixture(1, family="poisson", init=init, n_init=1,
                                  compute_se=False).fit(X.iloc[idx], y[idx],
                                                        groups=new_labels)
        expected.append([refit.intercept_[0], refit.coef_[0, 0], 1.0])
    np.testing.assert_allclose(boot.replicates.to_numpy(), np.array(expected), rtol=1e-10)
    assert boot.std_err[(1, "x")] > 0


def test_parametric_draws_one_component_per_group():
    """Two well separated components, groups of ten rows: a simulated response's rows
    of one group come from one component, so every group is classified as one."""
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(30), 10)
    comp = rng.integers(0, 2, 30)[groups]
    x = rng.normal(size=300)
    y = np.where(comp == 0, 5.0 + x, -5.0 - x) + 0.2 * rng.normal(size=300)
    X = pd.DataFrame({"x": x})
    model = RegressionMixture(2, random_state=0).fit(X, y, groups=groups)
    ys = model._simulate_rows(X.to_numpy(), np.random.default_rng(0), groups=groups)
    means = model.predict_components(X)
    nearest = np.argmin(np.abs(ys[:, None] - means), axis=1)
    for g in range(30):
        assert np.unique(nearest[groups == g]).size == 1
