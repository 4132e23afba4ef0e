"""Label-switching confidence of the bootstrap: the matching margin of each replicate
against a brute force over all K! assignments, the flag of ambiguous replicates, and
standard errors and intervals from the unambiguous replicates only."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.inference.bootstrap import (
    AMBIGUITY_THRESHOLD,
    BootstrapResult,
    _Parameters,
    _two_best_assignments,
)
from regmix.inference.summary import make_summary


def _brute_force(cost):
    """Every assignment's total cost, sorted: (best, second best)."""
    k = cost.shape[0]
    totals = sorted(sum(cost[i, p[i]] for i in range(k))
                    for p in itertools.permutations(range(k)))
    return totals[0], (totals[1] if k > 1 else np.inf)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7, 8])
def test_two_best_assignments_agree_with_a_brute_force(k):
    rng = np.random.default_rng(k)
    for _ in range(3):
        cost = rng.exponential(size=(k, k))
        order, best, second = _two_best_assignments(cost)
        want_best, want_second = _brute_force(cost)
        assert best == pytest.approx(want_best, rel=1e-12)
        assert second == pytest.approx(want_second, rel=1e-12)
        assert cost[np.arange(k), order].sum() == pytest.approx(want_best, rel=1e-12)


def test_a_tie_has_margin_zero():
    cost = np.array([[1.0, 1.0], [1.0, 1.0]])
    order, best, second = _two_best_assignments(cost)
    assert best == second == 2.0
    params = _Parameters(np.zeros((2, 2)), np.zeros((2, 0)), np.full(2, 0.5), None)
    assert params.matched_to(params, margin=True)[1] == 0.0


@pytest.mark.parametrize("k", [2, 4, 8])
def test_margin_of_a_replicate_against_a_brute_force(k):
    rng = np.random.default_rng(10 + k)

    def draw():
        w = rng.dirichlet(np.ones(k))
        return _Parameters(rng.normal(size=(k, 2)), rng.uniform(0.5, 1.5, (k, 1)), w, None)

    ref, rep = draw(), draw()
    matched, margin = rep.matched_to(ref, margin=True)
    stack = lambda p: np.column_stack([p.coef, p.extra, p.weights])  # noqa: E731
    a, b = stack(ref), stack(rep)
    totals = sorted(((a - b[list(p)]) ** 2).sum() for p in itertools.permutations(range(k)))
    assert margin == pytest.approx(1.0 - totals[0] / totals[1], rel=1e-10)
    assert ((a - stack(matched)) ** 2).sum() == pytest.approx(totals[0], rel=1e-12)


def _data(shift, n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    labels = rng.integers(0, 2, n)
    y = np.where(labels == 0, shift, -shift) + 0.8 * x + 0.5 * rng.normal(size=n)
    return pd.DataFrame({"x": x}), y


def test_well_separated_components_give_no_ambiguous_replicate():
    # every replicate refitted from all starts, as for the identical components below
    X, y = _data(1.0, 300)
    model = RegressionMixture(2, random_state=0).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        boot = model.bootstrap(X, y, n_boot=12, random_state=0, refit="full")
    assert not [w for w in caught if "ambiguous" in str(w.message)]
    assert boot.matching_margin.shape == (12,) and boot.matching_margin.min() > 0.9
    assert not boot.ambiguous.any() and boot.n_ambiguous == 0
    pd.testing.assert_series_equal(boot.std_err, boot.replicates.std(ddof=1))
    assert "ambiguous" not in boot.table().attrs["se_method"]


@pytest.fixture(scope="module")
def identical():
    """Two components with the same regression line, each replicate refitted from
    all starts: its labels are a coin toss."""
    X, y = _data(0.0, 300)
    model = RegressionMixture(2, random_state=0, n_init=2).fit(X, y)
    with pytest.warns(UserWarning, match=r"(\d+) of 12 bootstrap replicates") as record:
        boot = model.bootstrap(X, y, n_boot=12, random_state=0, refit="full")
    return X, y, model, boot, record


def test_nearly_identical_components_give_ambiguous_replicates(identical):
    X, y, model, boot, record = identical
    assert boot.ambiguous.any() and not boot.ambiguous.all()
    np.testing.assert_array_equal(boot.ambiguous, boot.matching_margin < AMBIGUITY_THRESHOLD)
    message = next(str(w.message) for w in record if "ambiguous" in str(w.message))
    assert message.startswith(f"{boot.n_ambiguous} of 12 ")
    assert f"{boot.n_ambiguous} of 12 with an ambiguous" in boot.table().attrs["se_method"]
    assert f"({12 - boot.n_ambiguous} replicates" in boot.table().attrs["se_method"]
    report = " ".join(str(make_summary(model, X, y, boot.table())).split())
    assert f"{boot.n_ambiguous} of 12 with an ambiguous label matching" in report


def test_standard_errors_use_the_unambiguous_replicates(identical):
    boot = identical[3]
    values = boot.replicates.to_numpy()
    kept = values[~boot.ambiguous]
    se = np.sqrt(((kept - kept.mean(axis=0)) ** 2).sum(axis=0) / (len(kept) - 1))
    np.testing.assert_allclose(boot.std_err.to_numpy(), se, rtol=1e-12)
    np.testing.assert_allclose(boot.table()["std_err"].to_numpy(), se, rtol=1e-12)
    lower = np.quantile(kept, boot.alpha / 2, axis=0)
    np.testing.assert_allclose(boot.ci["ci_lower"].to_numpy(), lower, rtol=1e-12)
    everything = np.std(values, axis=0, ddof=1)
    assert not np.allclose(everything, se)
    both = BootstrapResult(boot.replicates, boot.estimates, boot.kind, boot.alpha,
                           matching_margin=boot.matching_margin, ambiguous=boot.ambiguous,
                           include_ambiguous=True)
    np.testing.assert_allclose(both.std_err.to_numpy(), everything, rtol=1e-12)
    assert "included" in both.table().attrs["se_method"]


def test_include_ambiguous_and_the_threshold_on_the_call(identical):
    X, y, model, _, _ = identical
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose = model.bootstrap(X, y, n_boot=4, random_state=0, refit="full",
                                include_ambiguous=True, ambiguity_threshold=1.0)
    assert loose.ambiguous.all() and loose.include_ambiguous
    pd.testing.assert_series_equal(loose.std_err, loose.replicates.std(ddof=1))
    with pytest.warns(UserWarning, match="3 of 3 .* standard errors are NaN"):
        strict = model.bootstrap(X, y, n_boot=3, random_state=0, ambiguity_threshold=1.0)
    assert strict.ambiguous.all() and strict.std_err.isna().all()
    with pytest.raises(ValueError, match="ambiguity_threshold"):
        model.bootstrap(X, y, n_boot=2, ambiguity_threshold=1.5)


def test_a_result_without_margins_counts_no_ambiguous_replicate():
    frame = pd.DataFrame(np.arange(6.0).reshape(3, 2), columns=["a", "b"])
    result = BootstrapResult(frame, pd.Series([0.0, 0.0], index=frame.columns), "parametric")
    np.testing.assert_array_equal(result.matching_margin, np.ones(3))
    assert result.n_ambiguous == 0
    with pytest.raises(ValueError, match="matching_margin"):
        BootstrapResult(frame, result.estimates, "parametric", ambiguous=np.zeros(2, bool))
