"""Classification and enumeration diagnostics against naive computations in the test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regmix import RegressionMixture, lmr_test, load, select_components
from regmix.inference.diagnostics import (
    ClassificationSums,
    classification_diagnostics,
    classification_sums,
    information_criteria,
)
from regmix.inference.diagnostics import lmr_test as lmr_statistic
from regmix.persistence import save


def _naive(resp, w):
    """Entropy, the classification table of mean posteriors and AvePP, row by row."""
    N, K = resp.shape
    E = 0.0
    for i in range(N):
        for k in range(K):
            if resp[i, k] > 0:
                E -= w[i] * resp[i, k] * np.log(resp[i, k])
    table = np.zeros((K, K))
    for c in range(K):
        members = [i for i in range(N) if np.argmax(resp[i]) == c]
        total = sum(w[i] for i in members)
        for k in range(K):
            table[c, k] = sum(w[i] * resp[i, k] for i in members) / total
    n = float(np.sum(w))
    return E, 1 - E / (n * np.log(K)), table, np.diag(table)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(2)
    n = 400
    X = rng.normal(size=(n, 1))
    z = rng.integers(0, 3, size=n)
    y = np.array([0.0, 3.0, -3.0])[z] + np.array([1.0, -1.0, 0.5])[z] * X[:, 0] \
        + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    model = RegressionMixture(3, random_state=0).fit(X, y, sample_weight=w)
    return X, y, w, model


def test_sums_match_the_naive_computation():
    rng = np.random.default_rng(0)
    resp = rng.dirichlet([0.5, 1.0, 2.0], size=50)
    resp[0] = [1.0, 0.0, 0.0]  # a zero probability: 0 log 0 = 0
    w = rng.uniform(0.1, 3.0, size=50)
    E, rel, table, avepp = _naive(resp, w)
    out = classification_diagnostics(classification_sums(resp, w))
    np.testing.assert_allclose(out["entropy"], E, rtol=1e-12)
    np.testing.assert_allclose(out["relative_entropy"], rel, rtol=1e-12)
    np.testing.assert_allclose(out["classification"], table, rtol=1e-12)
    np.testing.assert_allclose(out["average_posterior"], avepp, rtol=1e-12)


def test_empty_class_and_one_component_are_nan():
    resp = np.array([[0.9, 0.1], [0.7, 0.3]])
    out = classification_diagnostics(classification_sums(resp))
    assert np.all(np.isnan(out["classification"][1]))
    one = classification_diagnostics(ClassificationSums(0.0, np.array([[5.0]]), 5.0))
    assert np.isnan(one["relative_entropy"])
    np.testing.assert_array_equal(one["classification"], [[1.0]])


def test_fit_stores_the_training_posteriors_sums(fitted):
    X, y, w, model = fitted
    resp = model.posterior(X, y)
    E, rel, table, avepp = _naive(resp, w)
    diag = model.classification_diagnostics()
    np.testing.assert_allclose(diag["entropy"], E, rtol=1e-9)
    np.testing.assert_allclose(diag["relative_entropy"], rel, rtol=1e-9)
    np.testing.assert_allclose(diag["classification"].to_numpy(), table, rtol=1e-9)
    np.testing.assert_allclose(diag["average_posterior"], avepp, rtol=1e-9)
    assert list(diag["classification"].index) == [1, 2, 3]


def test_grouped_observations_are_the_groups():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(60), 4)
    z = rng.integers(0, 2, size=60)[groups]
    X = rng.normal(size=(240, 1))
    y = np.where(z == 1, 2 + X[:, 0], -2 - X[:, 0]) + rng.normal(size=240)
    model = RegressionMixture(2, random_state=0).fit(X, y, groups=groups)
    resp = model.posterior(X, y, groups=groups)[::4]  # one row per group
    E, rel, table, _ = _naive(resp, np.ones(60))
    diag = model.classification_diagnostics()
    np.testing.assert_allclose(diag["entropy"], E, rtol=1e-9)
    np.testing.assert_allclose(diag["relative_entropy"], rel, rtol=1e-9)
    np.testing.assert_allclose(diag["classification"].to_numpy(), table, rtol=1e-9)


def test_information_criteria_are_the_formulas(fitted):
    _, _, w, model = fitted
    ll, k, n = model.log_likelihood_, model.n_parameters_, w.sum()
    crit = model.information_criteria()
    np.testing.assert_allclose(crit["aic"], -2 * ll + 2 * k)
    np.testing.assert_allclose(crit["bic"], -2 * ll + k * np.log(n))
    np.testing.assert_allclose(crit["sabic"], -2 * ll + k * np.log((n + 2) / 24))
    np.testing.assert_allclose(crit["caic"], -2 * ll + k * (np.log(n) + 1))
    np.testing.assert_allclose(crit["awe"], -2 * ll + 2 * k * (1.5 + np.log(n)))
    np.testing.assert_allclose(crit["icl"], model.icl_)
    np.testing.assert_allclose(crit["bic"], model.bic_)
    # an Mplus output: LL = -891.143, 7 parameters, n = 1691: BIC 1834.321, SABIC 1812.083
    mplus = information_criteria(-891.143, 7, 1691)
    np.testing.assert_allclose(mplus["sabic"], 1812.083, atol=5e-3)  # LL is rounded
    np.testing.assert_allclose(mplus["bic"], 1834.321, atol=5e-3)


def test_lmr_is_the_adjusted_ratio():
    # tidyLPA's calc_lrt example: n = 150, (LL, k) = (-741.02, 8) against (-488.91, 13)
    test = lmr_statistic(-741.02, 8, -488.91, 13, 150, 2)
    lr = 2 * (-488.91 + 741.02)
    adjusted = lr / (1 + 1 / (5 * np.log(150)))
    np.testing.assert_allclose([test.lr, test.statistic], [lr, adjusted])
    np.testing.assert_allclose(test.p_value, stats.chi2.sf(adjusted, 5))
    assert test.df == 5
    assert "1 vs 2 components" in repr(test)
    with pytest.raises(ValueError, match="more free parameters"):
        lmr_statistic(-10.0, 5, -9.0, 5, 100, 2)


def test_lmr_of_two_fits_and_the_selection_table(fitted):
    X, y, w, _ = fitted
    sel = select_components(X, y, n_components=[1, 2, 3], sample_weight=w, random_state=0)
    table = sel.table
    two, three = sel.estimators_[2], sel.estimators_[3]
    test = lmr_test(two, three)
    np.testing.assert_allclose(table.loc[3, ["lmr", "lmr_p"]].to_numpy(float),
                               [test.statistic, test.p_value])
    assert np.isnan(table.loc[1, "lmr"])
    for k, model in sel.estimators_.items():
        crit = model.information_criteria()
        for name in ("sabic", "caic", "awe"):
            np.testing.assert_allclose(table.loc[k, name], crit[name])
        diag = model.classification_diagnostics()
        np.testing.assert_allclose(table.loc[k, "avepp_min"],
                                   np.min(diag["average_posterior"]))
    assert np.isnan(table.loc[1, "entropy"])
    with pytest.raises(ValueError, match="one component fewer"):
        lmr_test(sel.estimators_[1], three)
    by_awe = select_components(X, y, n_components=[1, 2, 3], sample_weight=w,
                               criterion="awe", random_state=0)
    assert by_awe.best_n_components_ == int(by_awe.table["awe"].idxmin())


def test_summary_and_model_file_carry_the_diagnostics(fitted, tmp_path):
    X, y, w, model = fitted
    diag = model.classification_diagnostics()
    header = model.summary().header
    np.testing.assert_allclose(header["Entropy (relative)"], diag["relative_entropy"])
    np.testing.assert_allclose(header["Mean post. | class 2"],
                               diag["classification"].loc[2].to_numpy())
    np.testing.assert_allclose(header["AWE"], model.information_criteria()["awe"])
    path = tmp_path / "model.json"
    save(model, path)
    loaded = load(path)
    pd.testing.assert_frame_equal(loaded.classification_diagnostics()["classification"],
                                  diag["classification"])
