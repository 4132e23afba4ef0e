"""Choosing K: information criteria and the bootstrap likelihood-ratio test."""

import numpy as np
import pytest

from regmix import RegressionMixture, bootstrap_lr_test, select_components
from regmix.datasets import make_regression_mixture


@pytest.fixture(scope="module")
def two_lines():
    X, y, _, _ = make_regression_mixture(400, coef=[[2.0], [-1.0]], intercept=[0.0, 1.0],
                                         sigma=[0.5, 0.5], random_state=1)
    return X, y


def test_bic_picks_the_true_number_of_components(two_lines):
    X, y = two_lines
    sel = select_components(X, y, n_components=range(1, 5), random_state=0)
    assert sel.best_n_components_ == 2
    assert sel.best_estimator_ is sel.estimators_[2]
    assert list(sel.table.index) == [1, 2, 3, 4]


def test_table_matches_the_criteria_definitions(two_lines):
    X, y = two_lines
    sel = select_components(X, y, n_components=[1, 2, 3], random_state=0)
    n = len(y)
    for k, row in sel.table.iterrows():
        model = sel.estimators_[k]
        d = k * (X.shape[1] + 1) + k + (k - 1)
        ll = model.log_likelihood(X, y)
        assert row["n_parameters"] == d
        assert row["log_likelihood"] == pytest.approx(ll, rel=1e-10)
        assert row["aic"] == pytest.approx(-2 * ll + 2 * d, rel=1e-10)
        assert row["bic"] == pytest.approx(-2 * ll + d * np.log(n), rel=1e-10)
        assert row["icl"] == pytest.approx(model.icl(X, y), rel=1e-10)
    # the one-component model is ordinary least squares with the ML variance
    D = np.column_stack([np.ones(n), X])
    beta, rss = np.linalg.lstsq(D, y, rcond=None)[:2]
    ll_ols = -0.5 * n * (np.log(2 * np.pi * rss[0] / n) + 1)
    assert sel.table.loc[1, "log_likelihood"] == pytest.approx(ll_ols, rel=1e-10)


def test_criterion_choice_and_template(two_lines):
    X, y = two_lines
    template = RegressionMixture(n_init=2, random_state=3)
    sel = select_components(X, y, n_components=[1, 2], criterion="icl", estimator=template)
    assert sel.criterion == "icl" and sel.best_n_components_ == 2
    assert sel.best_estimator_.n_init == 2
    with pytest.raises(ValueError, match="criterion must be one of"):
        select_components(X, y, criterion="deviance")


def test_too_many_components_are_reported_not_raised():
    X, y, _, _ = make_regression_mixture(30, coef=[[1.0]], intercept=[0.0], random_state=0)
    sel = select_components(X, y, n_components=[1, 2, 8], random_state=0)
    assert sel.table.loc[8, "status"].startswith(("too few rows", "degenerate"))
    assert np.isnan(sel.table.loc[8, "bic"])
    assert 8 not in sel.estimators_


@pytest.mark.slow
def test_lr_test_rejects_one_component_for_two_lines(two_lines):
    X, y = two_lines
    res = bootstrap_lr_test(X, y, n_components=1, n_boot=19, random_state=0, n_init=2)
    assert res.statistic > res.replicates.max()
    assert res.p_value == pytest.approx(1 / 20)
    assert res.null_model.n_components == 1 and res.alternative_model.n_components == 2


@pytest.mark.slow
def test_lr_test_keeps_one_component_for_one_line():
    # under the null the bootstrap p-value is uniform: across 10 data sets it should not
    # often fall at the smallest possible value (1 / 20)
    small = 0
    for seed in range(10):
        X, y, _, _ = make_regression_mixture(200, coef=[[1.0]], intercept=[0.0],
                                             random_state=seed)
        res = bootstrap_lr_test(X, y, n_components=1, n_boot=19, random_state=seed,
                                n_init=2, min_weight=0.1)
        assert 0 < res.p_value <= 1 and len(res.replicates) + res.n_failed == 19
        small += res.p_value <= 0.05
    assert small <= 3
