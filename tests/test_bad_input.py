"""Bad input is refused with a ValueError that says what is wrong and where."""

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture


@pytest.fixture
def data():
    X, y, _, _ = make_regression_mixture(60, 2, 2, random_state=0)
    return X, y


def test_nan_in_X_names_row_and_column(data):
    X, y = data
    X = X.copy()
    X[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN at row 7, column 1"):
        RegressionMixture().fit(X, y)


def test_inf_in_y_names_row(data):
    X, y = data
    y = y.copy()
    y[3] = np.inf
    with pytest.raises(ValueError, match=r"y contains infinity at row 3"):
        RegressionMixture().fit(X, y)


def test_nan_in_dataframe_names_the_column(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["height", "width"])
    frame.loc[5, "width"] = np.nan
    with pytest.raises(ValueError, match=r"row 5, column 'width'"):
        RegressionMixture().fit(frame, y)


def test_nullable_dtype_with_missing_value_is_refused(data):
    X, y = data
    frame = pd.DataFrame({"a": pd.array([1, 2, None] + list(range(57)), dtype="Int64"),
                          "b": X[:, 1]})
    with pytest.raises(ValueError, match=r"NaN at row 2, column 'a'"):
        RegressionMixture().fit(frame, y)


def test_non_numeric_column_is_named(data):
    X, y = data
    frame = pd.DataFrame({"size": X[:, 0], "colour": ["red", "blue"] * 30})
    with pytest.raises(ValueError, match=r"column 'colour' is not numeric"):
        RegressionMixture().fit(frame, y)


def test_non_numeric_response(data):
    X, _ = data
    with pytest.raises(ValueError, match=r"y is not numeric"):
        RegressionMixture().fit(X, np.array(["a"] * 60))


def test_wrong_lengths(data):
    X, y = data
    with pytest.raises(ValueError, match=r"y has 59 rows but X has 60"):
        RegressionMixture().fit(X, y[:-1])


def test_one_dimensional_X(data):
    X, y = data
    with pytest.raises(ValueError, match=r"Expected 2D array for X.*Reshape"):
        RegressionMixture().fit(X[:, 0], y)


def test_fewer_rows_than_parameters():
    X, y, _, _ = make_regression_mixture(8, 2, 2, random_state=0)
    with pytest.raises(ValueError, match=r"n_samples=8 rows.*fewer than the 9 free parameters"):
        RegressionMixture(2).fit(X, y)


def test_negative_sample_weight(data):
    X, y = data
    w = np.ones(60)
    w[4] = -1
    with pytest.raises(ValueError, match=r"sample_weight is negative at row 4"):
        RegressionMixture().fit(X, y, sample_weight=w)


def test_constant_response(data):
    X, _ = data
    with pytest.raises(ValueError, match=r"y is constant"):
        RegressionMixture().fit(X, np.full(60, 3.0))


@pytest.mark.parametrize("param,value,message", [
    ("n_components", 0, "n_components must be an integer >= 1"),
    ("n_init", 0, "n_init must be an integer >= 1"),
    ("max_iter", -1, "max_iter must be an integer >= 0"),
    ("tol", -1.0, "tol must be a real number"),
    ("min_weight", 0.6, "min_weight=0.6 is impossible with n_components=2"),
    ("init", "kmeans", "init must be one of"),
    ("var_floor", 0.0, "var_floor must be a real number > 0"),
    ("n_jobs", 0, "n_jobs must be None, -1 or a positive integer"),
])
def test_bad_parameters(data, param, value, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        RegressionMixture(**{param: value}).fit(X, y)


def test_predict_with_wrong_number_of_features(data):
    X, y = data
    model = RegressionMixture(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 1 features, but RegressionMixture is expecting"):
        model.predict(X[:, :1])


def test_bad_init_dict(data):
    X, y = data
    with pytest.raises(ValueError, match=r"init dict is missing \['sigma'\]"):
        RegressionMixture(init={"weights": [0.5, 0.5], "coef": np.zeros((2, 2)),
                                "intercept": [0, 0]}).fit(X, y)


def _start(**changes):
    start = {"weights": [0.5, 0.5], "coef": np.zeros((2, 2)), "intercept": [0.0, 0.0],
             "sigma": [1.0, 1.0]}
    start.update(changes)
    return start


@pytest.mark.parametrize("start,message", [
    (_start(coef=np.zeros((2, 3))), r"coef \(2, 2\), sigma \(2,\) or a number; got"),
    (_start(sigma=[np.inf, 1.0]), "sigma must be finite and positive"),
    (_start(weights=[0.5, 0.5 + 1e-6]), "sum to one"),
    (_start(weights=[np.nan, 1.0]), "must be finite"),
    (_start(sigmas=[1.0, 1.0]), r"keys \['sigmas'\] that a gaussian start does not take"),
    (_start(intercept=[0.0, 0.0, 0.0]), r"init intercept must have shape \(2,\)"),
    (_start(intercept=[[0.0], [0.0]]), r"init intercept must have shape \(2,\); got \(2, 1\)"),
])
def test_init_dict_is_checked_by_name(data, start, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        RegressionMixture(init=start).fit(X, y)


def test_init_coef_of_shape_features_by_components_is_refused_not_reshaped():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    start = {"weights": [0.5, 0.5], "coef": np.zeros((3, 2)), "intercept": [0.0, 0.0],
             "sigma": [1.0, 1.0]}
    with pytest.raises(ValueError, match="write its transpose"):
        RegressionMixture(init=start).fit(X, y)


def test_init_memberships_follow_the_callers_rows_with_unsorted_groups():
    # groups whose rows are not in order: the fit sorts the rows by group, and the
    # given memberships must go with the rows they were given for
    rng = np.random.default_rng(0)
    n_groups, size = 40, 5
    groups = np.repeat(np.arange(n_groups), size)
    label = np.repeat(rng.integers(0, 2, n_groups), size)
    x = rng.normal(size=n_groups * size)
    y = np.where(label == 1, 3 + 2 * x, -3 - x) + rng.normal(scale=0.3, size=x.size)
    perm = rng.permutation(x.size)
    X, y, groups, label = x[perm, None], y[perm], groups[perm], label[perm]
    R = np.column_stack([label == 0, label == 1]).astype(float)
    model = RegressionMixture(2, init=R, max_iter=0).fit(X, y, groups=groups)
    # one M-step from the true memberships: least squares on each label's rows
    for k in (0, 1):
        D = np.column_stack([np.ones(int(np.sum(label == k))), X[label == k, 0]])
        beta = np.linalg.lstsq(D, y[label == k], rcond=None)[0]
        j = int(np.argmin(np.abs(model.intercept_ - beta[0])))
        np.testing.assert_allclose([model.intercept_[j], model.coef_[j, 0]], beta,
                                   rtol=1e-10)


def test_fractional_trials_successes_and_sample_size_are_refused(data):
    X, _ = data
    n = X.shape[0]
    trials = np.full(n, 10.0)
    y = np.arange(n) % 5.0
    with pytest.raises(ValueError, match=r"trials must be whole numbers; trials\[3\] = 10.5"):
        RegressionMixture(family="binomial").fit(X, y, trials=np.where(np.arange(n) == 3,
                                                                        10.5, trials))
    with pytest.raises(ValueError, match=r"successes \(with trials\) must be whole numbers"):
        RegressionMixture(family="binomial").fit(X, y + 0.5, trials=trials)
    model = RegressionMixture(random_state=0).fit(*data)
    with pytest.raises(ValueError, match="n_samples must be a positive integer; got 2.5"):
        model.sample(2.5)


def test_more_components_than_groups_is_refused(data):
    X, y = data
    groups = np.repeat([0, 1], [30, 30])
    with pytest.raises(ValueError, match=r"n_components=3 is more than the 2 group\(s\)"):
        RegressionMixture(3).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match=r"n_components=2 is more than the 1 group\(s\)"):
        RegressionMixture(2).fit(X, y, groups=np.zeros(60, dtype=int))


def test_poisson_identity_link_fits_without_numerical_warnings():
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, 400)
    first = rng.random(400) < 0.5
    y = rng.poisson(np.where(first, 3 + 0.5 * x, 8 + 1.0 * x)).astype(float)
    # any RuntimeWarning is an error in this suite
    m = RegressionMixture(2, family="poisson", link="identity", random_state=0).fit(
        x[:, None], y)
    mu = m.intercept_[None, :] + x[:, None] * m.coef_[:, 0][None, :]
    direct = np.log((m.weights_ * stats.poisson.pmf(y[:, None], mu)).sum(axis=1)).sum()
    assert m.log_likelihood_ == pytest.approx(direct, rel=1e-10)


def test_starts_outside_the_family_range_are_named_not_blamed_on_the_weights():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = rng.poisson(np.exp(2 + 2 * x)).astype(float)  # far from linear in x
    with pytest.raises(ValueError, match="had a finite log-likelihood: the family's mean"):
        RegressionMixture(2, family="poisson", link="identity", n_init=1, init="random",
                          split_merge=False, random_state=0).fit(x[:, None], y)
