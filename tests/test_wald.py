"""Wald tests of linear hypotheses: against the quadratic form computed by hand from the
covariance matrix, and against the likelihood-ratio test of the constrained fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from regmix import RegressionMixture
from regmix.inference.wald import parse_hypotheses


def _data(n, seed=0, K=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    z = rng.integers(0, K, size=n)
    icpt = np.array([3.0, -1.0, 6.0])[z]
    slope1 = np.array([1.0, -1.0, 0.0])[z]
    y = icpt + 0.5 * X[:, 0] + slope1 * X[:, 1] + rng.normal(size=n) * (1 + 0.3 * z)
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = _data(600)
    return X, y, RegressionMixture(2, random_state=0).fit(X, y)


def _by_hand(cov: pd.DataFrame, estimates: pd.Series, rows: list[dict], r) -> float:
    """``(Rb - r)' (R V R')^-1 (Rb - r)`` with R built from {(component, name): coef}."""
    R = np.zeros((len(rows), len(cov)))
    for i, row in enumerate(rows):
        for key, c in row.items():
            R[i, cov.index.get_loc(key)] = c
    d = R @ estimates.to_numpy() - np.asarray(r, dtype=float)
    return float(d @ np.linalg.solve(R @ cov.to_numpy() @ R.T, d))


@pytest.mark.parametrize("cov_type", ["oim", "robust"])
def test_statistic_is_the_quadratic_form(fitted, cov_type):
    X, y, model = fitted
    data = {} if cov_type == "oim" else {"X": X, "y": y}
    cov = model.covariance_matrix(cov_type, **data)
    est = model.coef_table(cov_type=cov_type, **data)["estimate"]
    result = model.wald_test("x0@1 = x0@2, 2*x1@1 - x1@2 = 0.5", cov_type=cov_type, **data)
    W = _by_hand(cov, est, [{(1, "x0"): 1, (2, "x0"): -1},
                            {(1, "x1"): 2, (2, "x1"): -1}], [0, 0.5])
    assert result.df == 2
    np.testing.assert_allclose(result.statistic, W, rtol=1e-10)
    np.testing.assert_allclose(result.p_value, stats.chi2.sf(W, 2), rtol=1e-10)
    assert f"chi2(2) = {W:.4f}" in repr(result)
    assert cov.attrs["se_method"] in repr(result)


def test_strings_lists_and_matrices_agree(fitted):
    _, _, model = fitted
    index = model.coef_table().index
    one = model.wald_test("x0@1 = x0@2; sigma@1 - sigma@2 = 0")
    listed = model.wald_test(["x0@1 - x0@2", "sigma@1 = sigma@2"])
    R = np.zeros((2, len(index)))
    R[0, index.get_loc((1, "x0"))], R[0, index.get_loc((2, "x0"))] = 1, -1
    R[1, index.get_loc((1, "sigma"))], R[1, index.get_loc((2, "sigma"))] = 1, -1
    matrix = model.wald_test(R, np.zeros(2))
    for other in (listed, matrix):
        np.testing.assert_allclose(other.statistic, one.statistic, rtol=1e-12)
        assert other.df == one.df == 2


def test_test_equal_is_the_joint_equality(fitted):
    X, y = _data(900, seed=1, K=3)
    model = RegressionMixture(3, random_state=0).fit(X, y)
    cov = model.covariance_matrix()
    est = model.coef_table()["estimate"]
    result = model.test_equal("x1")
    W = _by_hand(cov, est, [{(1, "x1"): 1, (2, "x1"): -1}, {(1, "x1"): 1, (3, "x1"): -1}],
                 [0, 0])
    assert result.df == 2
    np.testing.assert_allclose(result.statistic, W, rtol=1e-10)
    assert result.hypotheses == ["x1@1 = x1@2", "x1@1 = x1@3"]
    with pytest.raises(ValueError, match="per-component parameter"):
        model.test_equal("weight")


def test_wald_is_close_to_the_likelihood_ratio_on_a_large_sample():
    # x0 has the same slope (0.5) in both components: the null hypothesis holds
    X, y = _data(20000, seed=5)
    free = RegressionMixture(2, random_state=0).fit(X, y)
    common = RegressionMixture(2, common_coef=["x0"], random_state=0).fit(X, y)
    lr = 2 * (free.log_likelihood_ - common.log_likelihood_)
    wald = free.test_equal("x0")
    assert lr >= 0
    assert abs(wald.statistic - lr) < 0.01 * lr  # both about 1.1 here


def test_names_with_any_characters_are_parsed():
    index = pd.MultiIndex.from_tuples(
        [(1, "C(g)[T.b]"), (1, "I(x - 1)"), (2, "C(g)[T.b]"), (2, "I(x - 1)")],
        names=["component", "parameter"])
    R, r, eqs = parse_hypotheses("C(g)[T.b]@1 = C(g)[T.b]@2, I(x - 1)@2 - 0.5 = 1e-1",
                                 index)
    np.testing.assert_array_equal(R, [[1, 0, -1, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(r, [0.0, 0.6])
    assert eqs == ["C(g)[T.b]@1 = C(g)[T.b]@2", "I(x - 1)@2 - 0.5 = 1e-1"]


@pytest.mark.parametrize("text, message", [
    ("x9@1 = 0", "'x9@1' in 'x9@1 = 0' is not a parameter"),
    ("x0@3 = 0", "x0@3 is not a parameter of the model"),
    ("x0@1 * x1@1 = 0", "a product of two parameters"),
    ("x0@1 = 1 = 2", "more than one '='"),
    ("3 = 2", "involves no parameter"),
    ("x0@1 x1@1", "not a linear equation"),
    ("x0@1 = 0,", "empty equation"),
])
def test_bad_hypotheses_are_named(fitted, text, message):
    _, _, model = fitted
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("*", r"\*")):
        model.wald_test(text)


def test_bad_matrices_are_refused(fitted):
    _, _, model = fitted
    with pytest.raises(ValueError, match="R must have shape"):
        model.wald_test(np.ones((1, 3)))
    with pytest.raises(ValueError, match="r goes with a matrix R"):
        model.wald_test("x0@1 = x0@2", r=[1.0])
