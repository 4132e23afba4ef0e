"""Choosing K: information criteria and the bootstrap likelihood-ratio test."""

import warnings

import numpy as np
import pytest
from sklearn.utils import check_random_state

from regmix import RegressionMixture, bootstrap_lr_test, select_components
from regmix.core.errors import DegenerateFitError
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
@pytest.mark.filterwarnings("ignore:.*bootstrap replicates could not be fitted")
@pytest.mark.filterwarnings("ignore:no fit with 2 components")
def test_lr_test_keeps_one_component_for_one_line():
    # under the null the bootstrap p-value is uniform: across 6 data sets it should not
    # often fall at the smallest possible value (1 / 10, with probability 0.1 each; four
    # or more of six: p = 0.0013)
    small = 0
    for seed in range(6):
        X, y, _, _ = make_regression_mixture(200, coef=[[1.0]], intercept=[0.0],
                                             random_state=seed)
        res = bootstrap_lr_test(X, y, n_components=1, n_boot=9, random_state=seed,
                                n_init=2, min_weight=0.1)
        if res.alternative_model is None:  # no admissible two-component fit
            assert res.statistic == 0 and res.p_value == 1 and res.n_valid == 0
        else:
            assert 0 < res.p_value <= 1 and len(res.replicates) + res.n_failed == 9
        small += res.p_value <= 0.1
    assert small <= 3


# ---------------------------------------------------------------------- the path in K
def _three_lines(seed, n=100):
    X, y, _, _ = make_regression_mixture(n, coef=[[1.0], [-1.0], [0.0]], intercept=[0, 1, -1],
                                         sigma=[0.5, 0.5, 0.5], random_state=seed)
    return X, y


@pytest.mark.parametrize("seed", [1, 9])
def test_path_is_monotone_and_never_below_the_plain_fits(seed):
    # seeds at which fits from the K - 1 fit alone ended below the plain fit at K = 5
    X, y = _three_lines(seed, n=120)
    sel = select_components(X, y, n_components=range(1, 6), random_state=seed,
                            compute_se=False)
    ll = sel.table["log_likelihood"].to_numpy()
    assert (sel.table["status"] == "ok").all()
    assert np.all(np.diff(ll) >= -1e-8 * np.abs(ll[1:]))
    for k in range(1, 6):
        plain = RegressionMixture(k, random_state=seed, compute_se=False).fit(X, y)
        assert ll[k - 1] >= plain.log_likelihood_ - 1e-6 * abs(plain.log_likelihood_), k
        # the table holds what the kept model says
        assert ll[k - 1] == pytest.approx(sel.estimators_[k].log_likelihood(X, y), rel=1e-10)


def test_path_takes_any_order_and_gaps(two_lines):
    X, y = two_lines
    sel = select_components(X, y, n_components=[3, 1, 2, 1], random_state=0,
                            compute_se=False)
    assert list(sel.table.index) == [1, 2, 3]
    gap = select_components(X, y, n_components=[1, 3], random_state=0, compute_se=False)
    assert list(gap.table.index) == [1, 3]
    # without K = 2 the K = 3 fit has only its own starts and the K = 1 fit, whose merges
    # it cannot use: the plain fit (or one from it refitted) at least
    plain = RegressionMixture(3, random_state=0, compute_se=False).fit(X, y)
    assert gap.table.loc[3, "log_likelihood"] >= plain.log_likelihood_ - 1e-8
    for k, row in sel.table.iterrows():
        model = sel.estimators_[k]
        assert row["n_at_best"] == model.n_at_best_ and row["n_runs"] == model.n_runs_
        assert 1 <= row["n_at_best"] <= row["n_runs"]
    for bad in ([0, 1], [], [1.5], ["2"]):
        with pytest.raises(ValueError, match="n_components must be positive integers"):
            select_components(X, y, n_components=bad)


def test_path_passes_offsets_and_concomitant_variables():
    rng = np.random.default_rng(0)
    n = 300
    x, z = rng.normal(size=n), rng.normal(size=n)
    exposure = rng.uniform(1, 3, size=n)
    first = rng.random(n) < 1 / (1 + np.exp(-2 * z))
    mu = exposure * np.exp(np.where(first, 1.0 + 0.5 * x, -0.5 - 0.5 * x))
    y = rng.poisson(mu).astype(float)
    sel = select_components(x[:, None], y, n_components=[1, 2], family="poisson",
                            offset=np.log(exposure), concomitant=z[:, None],
                            random_state=0, compute_se=False)
    model = sel.estimators_[2]
    assert model.gating_coef_ is not None and model.state_.fit_offset
    ll = model.log_likelihood(x[:, None], y, offset=np.log(exposure),
                              concomitant=z[:, None])
    assert sel.table.loc[2, "log_likelihood"] == pytest.approx(ll, rel=1e-10)
    assert sel.best_n_components_ == 2


# ---------------------------------------------------------------------- the LR test
@pytest.fixture(scope="module")
def one_line():
    X, y, _, _ = make_regression_mixture(100, coef=[[1.0]], intercept=[0.0], random_state=3)
    return X, y


def test_lr_statistic_is_twice_the_gain_of_the_best_fits():
    X, y, _, _ = make_regression_mixture(100, coef=[[2.0], [-1.0]], intercept=[0.0, 1.0],
                                         sigma=[0.5, 0.5], random_state=1)
    res = bootstrap_lr_test(X, y, n_components=1, n_boot=2, random_state=0)
    # K = 1: least squares with the ML variance; K = 2: the best of many plain fits
    n = len(y)
    D = np.column_stack([np.ones(n), X])
    rss = np.linalg.lstsq(D, y, rcond=None)[1][0]
    ll_1 = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
    ll_2 = max(RegressionMixture(2, n_init=10, random_state=s, compute_se=False)
               .fit(X, y).log_likelihood_ for s in range(3))
    assert res.null_model.log_likelihood_ == pytest.approx(ll_1, rel=1e-10)
    assert res.alternative_model.log_likelihood_ == pytest.approx(ll_2, rel=1e-8)
    assert res.statistic == pytest.approx(2 * (ll_2 - ll_1), rel=1e-8)
    assert np.all(res.replicates >= 0) and res.statistic > 0
    assert res.n_valid == 2 and res.n_failed == 0 and not res.stopped_early


def test_lr_statistic_is_never_negative_and_the_alternative_starts_from_the_null(one_line):
    X, y = one_line
    res = bootstrap_lr_test(X, y, n_components=1, n_boot=3, random_state=1)
    assert res.alternative_model.log_likelihood_ >= res.null_model.log_likelihood_
    assert res.statistic >= 0 and np.all(res.replicates >= 0)
    assert res.statistic == pytest.approx(
        2 * (res.alternative_model.log_likelihood_ - res.null_model.log_likelihood_),
        rel=1e-12, abs=1e-12)


def test_lr_test_is_the_same_for_any_n_jobs(one_line):
    X, y = one_line
    one = bootstrap_lr_test(X, y, n_boot=3, random_state=5, n_jobs=1)
    two = bootstrap_lr_test(X, y, n_boot=3, random_state=5, n_jobs=2)
    np.testing.assert_array_equal(one.replicates, two.replicates)
    assert (one.statistic, one.p_value, one.n_failed) == (two.statistic, two.p_value,
                                                          two.n_failed)


def test_replicate_search_reaches_the_maximum_of_many_starts():
    # two separated lines: the replicate search from the one-component fit (split, seed
    # lines, one random start) ends where default fits with many starts do, reached
    # from two starting points
    X, y, _, _ = make_regression_mixture(200, coef=[[2.0], [-1.0]], intercept=[0.0, 1.0],
                                         sigma=[0.4, 0.4], random_state=6)
    one = RegressionMixture(1, compute_se=False).fit(X, y)
    best = max(RegressionMixture(2, n_init=5, random_state=s, compute_se=False)
               .fit(X, y).log_likelihood_ for s in range(3))
    quick = RegressionMixture(2, n_init=1, init="random", random_state=0,
                              compute_se=False)._refit_from([one], X, y)
    assert quick.log_likelihood_ == pytest.approx(best, rel=1e-10)
    assert quick.n_at_best_ >= 2
    assert quick.log_likelihood_ > one.log_likelihood_


def _failing_fit_from(monkeypatch, fail_on):
    """Make the K + 1 fits from fitted models (by ``fit_from`` on the data, by the
    replicate search in a replicate's first attempts and by ``fit_from`` in its last)
    numbered in ``fail_on`` (the observed one is 0) raise."""
    original = RegressionMixture._fit
    calls = {"alt": -1}

    def fit(self, *args, origins=(), **kwargs):
        if self.n_components == 2 and origins:
            calls["alt"] += 1
            if calls["alt"] in fail_on:
                raise DegenerateFitError("no admissible solution (mocked)")
        return original(self, *args, origins=origins, **kwargs)

    monkeypatch.setattr(RegressionMixture, "_fit", fit)


def test_a_failed_replicate_is_retried(one_line, monkeypatch):
    X, y = one_line
    plain = bootstrap_lr_test(X, y, n_boot=3, random_state=2)
    _failing_fit_from(monkeypatch, {1})  # the first attempt of the first replicate
    res = bootstrap_lr_test(X, y, n_boot=3, random_state=2)
    assert res.n_failed == 0 and res.n_valid == 3
    # the other replicates are those of the run without failures (seeds drawn up front)
    np.testing.assert_array_equal(res.replicates[1:], plain.replicates[1:])
    assert res.statistic == plain.statistic


def test_a_replicate_that_cannot_be_fitted_is_counted_not_set_to_zero(one_line,
                                                                       monkeypatch):
    X, y = one_line
    plain = bootstrap_lr_test(X, y, n_boot=4, random_state=2)
    _failing_fit_from(monkeypatch, {1, 2, 3})  # every attempt of the first replicate
    with pytest.warns(UserWarning, match="1 of 4 bootstrap replicates could not be"):
        res = bootstrap_lr_test(X, y, n_boot=4, random_state=2)
    assert res.n_failed == 1 and res.n_valid == 3 and len(res.replicates) == 3
    np.testing.assert_array_equal(res.replicates, plain.replicates[1:])
    exceed = np.sum(res.replicates >= res.statistic)
    assert res.p_value == pytest.approx((1 + exceed) / 4)


@pytest.mark.filterwarnings("ignore:.*bootstrap replicates could not be fitted")
def test_sequential_stopping_on_a_clear_null_and_a_clear_alternative(one_line):
    X, y = one_line
    full = bootstrap_lr_test(X, y, n_boot=12, random_state=3)
    seq = bootstrap_lr_test(X, y, n_boot=12, random_state=3, sequential=2)
    # stopped at the second replicate at least as large as the statistic, p = h / L
    assert seq.stopped_early and seq.sequential == 2
    L = seq.n_valid
    assert L < 12 and seq.replicates[-1] >= seq.statistic
    assert np.sum(seq.replicates >= seq.statistic) == 2
    assert seq.p_value == pytest.approx(2 / L)
    np.testing.assert_array_equal(seq.replicates, full.replicates[:L])
    # the same stop with workers in parallel
    par = bootstrap_lr_test(X, y, n_boot=12, random_state=3, sequential=2, n_jobs=2)
    np.testing.assert_array_equal(par.replicates, seq.replicates)
    # two well-separated lines: no replicate comes near, all are drawn, p = 1 / (B + 1)
    X2, y2, _, _ = make_regression_mixture(100, coef=[[2.0], [-1.0]], intercept=[0, 1],
                                           sigma=[0.3, 0.3], random_state=1)
    clear = bootstrap_lr_test(X2, y2, n_boot=5, random_state=0, sequential=1)
    assert not clear.stopped_early and clear.n_valid == 5
    assert clear.p_value == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="sequential must be a positive integer"):
        bootstrap_lr_test(X, y, sequential=0)


def test_simulation_draws_a_component_per_group_and_by_the_gating():
    from regmix.selection import _Rows, _simulate_null

    rng = np.random.default_rng(1)
    n_groups, size = 60, 5
    groups = np.repeat(np.arange(n_groups), size)
    z = np.repeat(rng.normal(size=n_groups), size)
    x = rng.normal(size=groups.size)
    high = np.repeat(rng.random(n_groups), size) < 1 / (1 + np.exp(-3 * z))
    y = np.where(high, 20 + x, -20 - x) + 0.5 * rng.normal(size=x.size)
    model = RegressionMixture(2, random_state=0, compute_se=False).fit(
        x[:, None], y, concomitant=z[:, None], groups=groups)
    rows = _Rows(x[:, None], x[:, None], None, None, z[:, None], groups)
    draws = np.array([_simulate_null(model, rows, np.random.default_rng(s)) > 0
                      for s in range(200)])
    by_group = draws.reshape(200, n_groups, size)
    # one component per group: every row of a group on the same side
    assert np.all(by_group.all(axis=2) | ~by_group.any(axis=2))
    # the share drawn from the high component follows the gating probabilities
    high_k = int(np.argmax(model.intercept_))
    pi = model.mixing_weights(z[::size, None])[:, high_k]
    share = by_group[:, :, 0].mean(axis=0)
    assert np.max(np.abs(share - pi)) < 4 * np.sqrt(0.25 / 200)
    assert abs(share.mean() - pi.mean()) < 0.03


@pytest.mark.filterwarnings("ignore:.*bootstrap replicates could not be fitted")
def test_lr_test_runs_with_offsets_trials_concomitant_and_groups():
    rng = np.random.default_rng(2)
    n_groups, size = 40, 4
    groups = np.repeat(np.arange(n_groups), size)
    n = groups.size
    x, z = rng.normal(size=n), np.repeat(rng.normal(size=n_groups), size)
    exposure = rng.uniform(1, 3, size=n)
    first = np.repeat(rng.random(n_groups), size) < 1 / (1 + np.exp(-2 * z))
    y = rng.poisson(exposure * np.exp(np.where(first, 1.0 + 0.5 * x, -0.5))).astype(float)
    res = bootstrap_lr_test(x[:, None], y, n_boot=3, random_state=0, family="poisson",
                            offset=np.log(exposure), concomitant=z[:, None],
                            groups=groups)
    assert res.alternative_model.gating_coef_ is not None
    assert res.alternative_model.n_groups_ == n_groups
    ll_n = res.null_model.log_likelihood(x[:, None], y, offset=np.log(exposure),
                                         concomitant=z[:, None], groups=groups)
    ll_a = res.alternative_model.log_likelihood(x[:, None], y, offset=np.log(exposure),
                                                concomitant=z[:, None], groups=groups)
    assert res.statistic == pytest.approx(2 * (ll_a - ll_n), rel=1e-8)
    assert res.n_valid + res.n_failed == 3 and np.all(res.replicates >= 0)
    # binomial successes out of trials
    t = rng.integers(1, 6, size=60).astype(float)
    xb = rng.normal(size=60)
    s = rng.binomial(t.astype(int), 1 / (1 + np.exp(-xb))).astype(float)
    res = bootstrap_lr_test(xb[:, None], s, n_boot=2, random_state=0, family="binomial",
                            trials=t, min_weight=0.1)
    assert res.n_valid + res.n_failed == 2


def _many_start_statistic(X, y_sim, alternative) -> float:
    """``2 (log L_2 - log L_1)`` on simulated responses: least squares in closed form
    against the best of default fits with many starts, plain and from the K = 1 fit
    split and the alternative (-inf without an admissible two-component fit)."""
    n = len(y_sim)
    D = np.column_stack([np.ones(n), X])
    rss = np.linalg.lstsq(D, y_sim, rcond=None)[1][0]
    ll_1 = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1)
    one = RegressionMixture(1, compute_se=False).fit(X, y_sim)
    best = -np.inf
    for origins in ([], [one, alternative]):
        fit = RegressionMixture(2, n_init=6, random_state=7, compute_se=False)
        try:
            fit.fit_from(origins, X, y_sim) if origins else fit.fit(X, y_sim)
        except DegenerateFitError:
            continue
        best = max(best, fit.log_likelihood_)
    return 2 * (best - ll_1)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*bootstrap replicates could not be fitted")
def test_replicate_statistics_agree_with_many_start_fits(one_line):
    # each replicate's statistic against fits with many starts on the same responses
    from regmix.selection import _replicate, _replicate_task, _simulate_null

    X, y = one_line
    B = 8
    res = bootstrap_lr_test(X, y, n_boot=B, random_state=4)
    rng = check_random_state(4)
    rng.randint(2**31 - 1)
    seeds = [int(s) for s in rng.randint(2**31 - 1, size=B)]
    none = dict(offset=None, trials=None, concomitant=None, groups=None)
    task = _replicate_task(RegressionMixture(), res.null_model, res.alternative_model, X,
                           y, none, 0, {}, False)
    ours = [_replicate(task, s) for s in seeds]
    np.testing.assert_array_equal(res.replicates, [v for v in ours if v is not None])
    agree = 0
    for seed, value in zip(seeds, ours, strict=True):
        y_sim = _simulate_null(task.null, task.rows, np.random.default_rng(seed))
        reference = _many_start_statistic(X, y_sim, task.alternative)
        if value is None:  # failed: right when many starts find no admissible fit either
            agree += not np.isfinite(reference)
            continue
        # the many-start fits are no exhaustive search either: agreement with the best
        agree += bool(value >= max(reference, value) - 1e-6 * (1 + reference))
    assert agree >= 0.75 * B


def test_a_test_without_any_fitted_replicate_has_no_p_value(one_line, monkeypatch):
    X, y = one_line
    _failing_fit_from(monkeypatch, set(range(1, 100)))
    with pytest.warns(UserWarning, match="2 of 2 bootstrap replicates"):
        res = bootstrap_lr_test(X, y, n_boot=2, random_state=2)
    assert res.n_valid == 0 and res.n_failed == 2 and np.isnan(res.p_value)
    assert res.statistic > 0


@pytest.mark.parametrize("constraint", [{"common_coef": ["x0"]}, {"fixed_coef": {"x0": 1.0}}])
def test_path_with_coefficient_constraints_is_monotone_and_keeps_them(constraint):
    X, y, _, _ = make_regression_mixture(200, coef=[[1.0, 0.5], [1.0, -1.0]],
                                         intercept=[0.0, 2.0], sigma=[0.5, 0.5],
                                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = select_components(X, y, n_components=[1, 2, 3], random_state=0, **constraint)
    ll = sel.table["log_likelihood"].to_numpy()
    assert np.all(np.diff(ll) >= -1e-8 * np.abs(ll[1:]))
    for model in sel.estimators_.values():
        first = model.coef_[:, 0]
        np.testing.assert_allclose(first, first[0], rtol=1e-12)
        if "fixed_coef" in constraint:
            np.testing.assert_allclose(first, 1.0, rtol=1e-12)
