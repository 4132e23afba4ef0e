"""The censored Gaussian, several responses and the latent-class mixed model on a Dask
source (local synchronous scheduler) equal their in-memory fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402

from regmix import MultiResponse, RegressionMixture  # noqa: E402
from regmix.families.censored_gaussian import CensoredGaussian  # noqa: E402
from regmix.families.mixed_gaussian import MixedGaussian  # noqa: E402
from regmix.sources.arrays import ArrayData  # noqa: E402
from regmix.sources.dask import DaskData  # noqa: E402


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _close(on_dask, in_memory, tol=1e-9):
    assert on_dask.log_likelihood_ == pytest.approx(in_memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(on_dask.coef_, in_memory.coef_, rtol=tol, atol=tol)
    np.testing.assert_allclose(on_dask.intercept_, in_memory.intercept_, rtol=tol, atol=tol)
    np.testing.assert_allclose(on_dask.weights_, in_memory.weights_, rtol=tol, atol=tol)


def _limits(n=1_500, seed=4):
    """Exact values, intervals, left- and right-censored rows and truncation below."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.random(n) < 0.5
    ystar = np.where(z, 2.0 + x, -1.0 + 0.5 * x) + rng.normal(size=n) * np.where(z, 0.7, 1.0)
    t_lo = np.where(rng.random(n) < 0.5, -2.5, -np.inf)
    keep = ystar > t_lo
    x, ystar, t_lo = x[keep], ystar[keep], t_lo[keep]
    kind = rng.integers(0, 4, x.size)
    lo, hi = ystar.copy(), ystar.copy()
    lo[kind == 1], hi[kind == 1] = np.floor(ystar[kind == 1]), np.floor(ystar[kind == 1]) + 1
    lo[kind == 2] = np.nan  # open below
    hi[kind == 2] = np.ceil(ystar[kind == 2])
    lo[kind == 3], hi[kind == 3] = np.floor(ystar[kind == 3]), np.inf
    return x[:, None], np.column_stack([lo, hi, t_lo, np.full(x.size, np.inf)])


def test_censored_gaussian_limits_in_the_response_columns():
    X, Y = _limits()  # four columns: with truncation limits (two: the next test)
    kw = dict(family="censored_gaussian", random_state=0, n_init=1, split_merge=False)
    in_memory = RegressionMixture(2, **kw).fit(X, Y)
    on_dask = RegressionMixture(2, **kw).fit(
        da.from_array(X, chunks=(500, 1)), da.from_array(Y, chunks=(500, 4))
    )
    _close(on_dask, in_memory)
    np.testing.assert_allclose(on_dask.sigma_, in_memory.sigma_, rtol=1e-9)
    # the standard errors from the information of the same rows
    np.testing.assert_allclose(
        on_dask.coef_table()["std_err"], in_memory.coef_table()["std_err"], rtol=1e-7
    )


def test_censored_limits_from_a_dask_dataframe_and_their_errors():
    X, Y = _limits(600)
    frame = pd.DataFrame({"x": X[:, 0], "lo": Y[:, 0], "hi": Y[:, 1]})
    ddf = dd.from_pandas(frame, npartitions=3)
    kw = dict(family="censored_gaussian", random_state=0, n_init=1, split_merge=False)
    on_dask = RegressionMixture(2, **kw).fit(ddf[["x"]], ddf[["lo", "hi"]])
    in_memory = RegressionMixture(2, **kw).fit(frame[["x"]], frame[["lo", "hi"]])
    _close(on_dask, in_memory, 1e-8)
    source = DaskData(ddf[["x"]], limits=ddf[["lo", "hi"]])
    assert source.limit_columns == ["lo", "hi"] and not source.plain_rows
    # the weight of the exactly observed rows (the log-likelihood's unit)
    assert source.observed_weight == np.count_nonzero(Y[:, 0] == Y[:, 1])
    bad = Y[:, :2].copy()
    bad[450] = [1.0, 0.0]  # the lower limit above the upper one, in a later partition
    with pytest.raises(ValueError, match="row 450"):
        DaskData(da.from_array(X, chunks=(200, 1)), limits=da.from_array(bad, chunks=(200, 2)))
    with pytest.raises(ValueError, match="limits must have two columns"):
        DaskData(da.from_array(X, chunks=(200, 1)), limits=da.from_array(Y[:, :3], chunks=200))
    # constant points apply to one response column, not to limit columns
    with pytest.raises(ValueError, match="constant censoring points .* the limit columns"):
        RegressionMixture(2, family=CensoredGaussian(lower=-5.0)).fit(
            ddf[["x"]], ddf[["lo", "hi"]]
        )


@pytest.mark.parametrize(
    "family",
    [
        CensoredGaussian(lower=0.0),
        CensoredGaussian(lower=0.0, upper=3.0),
        CensoredGaussian(truncation=(-1.0, np.inf)),
    ],
    ids=["left", "both", "truncated"],
)
def test_constant_censoring_points_and_truncation_on_partitions(family):
    rng = np.random.default_rng(7)
    n = 1_200
    x = rng.normal(size=n)
    ystar = np.where(rng.random(n) < 0.5, 1.0 + x, -0.5 + 0.5 * x) + rng.normal(0, 0.8, n)
    if family.truncation is not None:
        keep = ystar > family.truncation[0]
        x, ystar = x[keep], ystar[keep]
    y = np.clip(ystar, family.lower, family.upper) if family.lower is not None else ystar
    X = x[:, None]
    w = rng.uniform(0.5, 2.0, y.size)
    kw = dict(family=family, random_state=0, n_init=1, split_merge=False)
    in_memory = RegressionMixture(2, **kw).fit(X, y, sample_weight=w)
    on_dask = RegressionMixture(2, **kw).fit(
        da.from_array(X, chunks=(400, 1)), da.from_array(y, chunks=400),
        sample_weight=da.from_array(w, chunks=400),
    )
    # (the sums of the partitions are added in another order: the EM stops at points
    # a convergence tolerance apart)
    _close(on_dask, in_memory, 1e-7)
    np.testing.assert_allclose(on_dask.sigma_, in_memory.sigma_, rtol=1e-7)
    np.testing.assert_allclose(
        on_dask.coef_table()["std_err"], in_memory.coef_table()["std_err"], rtol=1e-6
    )
    source = DaskData(da.from_array(X, chunks=(400, 1)), da.from_array(y, chunks=400))
    censored = source.with_censoring(family.lower, family.upper, family.truncation)
    observed = np.ones(y.size, dtype=bool)
    for point in (family.lower, family.upper):
        if point is not None:
            observed &= y != point
    assert censored.observed_weight == np.count_nonzero(observed)
    assert source.observed_weight == y.size  # the source itself is unchanged


def test_constant_censoring_errors_name_the_row_of_the_collection():
    X, y = np.zeros((600, 1)), np.ones(600)
    X[:, 0] = np.arange(600) / 600
    y[450] = -1.0  # below the censoring point, in the second partition
    with pytest.raises(ValueError, match="below the censoring point lower=0.0 at row 450"):
        RegressionMixture(2, family=CensoredGaussian(lower=0.0)).fit(
            da.from_array(X, chunks=(200, 1)), da.from_array(y, chunks=200)
        )


def _two_responses(n=400, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    c = rng.random(n) < 0.5
    yn = np.where(c, 5 * x, 40 - (x - 5) ** 2) + rng.normal(0, 3, n)
    yp = rng.poisson(np.exp(np.where(c, 2 - 0.2 * x, 1 + 0.1 * x))).astype(float)
    frame = pd.DataFrame({"x": x, "x2": x**2, "yn": yn, "yp": yp})
    frame.loc[frame.index[::5], "yp"] = np.nan  # missing responses keep their rows
    frame.loc[frame.index[3::13], "yn"] = np.nan
    return frame


def test_several_responses_from_a_dask_dataframe_and_array():
    frame = _two_responses()
    family = MultiResponse({"yn": "gaussian", "yp": "poisson"}, columns={"yp": ["x"]})
    kw = dict(family=family, random_state=0, tol=1e-12, n_init=1, split_merge=False)
    in_memory = RegressionMixture(2, **kw).fit(frame[["x", "x2"]], frame[["yn", "yp"]])
    ddf = dd.from_pandas(frame, npartitions=3)
    # the responses picked by name from a frame with them in another order
    on_dask = RegressionMixture(2, **kw).fit(ddf[["x", "x2"]], ddf[["yp", "yn"]])
    _close(on_dask, in_memory)
    np.testing.assert_allclose(on_dask.information_, in_memory.information_, rtol=1e-6)
    Xd = da.from_array(frame[["x", "x2"]].to_numpy(), chunks=(150, 2))
    Yd = da.from_array(frame[["yn", "yp"]].to_numpy(), chunks=(150, 2))
    unnamed = MultiResponse({"yn": "gaussian", "yp": "poisson"}, columns={"yp": ["x0"]})
    _close(RegressionMixture(2, **dict(kw, family=unnamed)).fit(Xd, Yd), in_memory)
    with pytest.raises(ValueError, match="several responses"):
        RegressionMixture(2).fit(Xd, Yd)
    with pytest.raises(ValueError, match=r"the responses \['yn'\] are not columns of y"):
        RegressionMixture(2, **kw).fit(ddf[["x", "x2"]], ddf[["yp", "x"]])
    with pytest.raises(ValueError, match="responses= has 3 names but y has 2 columns"):
        DaskData(Xd, Yd, responses=["a", "b", "c"])
    bad = frame[["yn", "yp"]].to_numpy().copy()
    bad[222, 1] = np.inf
    with pytest.raises(ValueError, match="response 'yp' contains infinity at row 222"):
        RegressionMixture(2, **kw).fit(Xd, da.from_array(bad, chunks=(150, 2)))


@pytest.mark.parametrize("formula", ["yn + yp ~ x + I(x**2)", "~ x + I(x**2)"],
                         ids=["named", "one-sided"])
def test_several_responses_with_a_formula_on_a_dask_dataframe(formula):
    frame = _two_responses()
    family = MultiResponse({"yn": "gaussian", "yp": "poisson"}, columns={"yp": ["x"]})
    kw = dict(family=family, formula=formula, random_state=0, tol=1e-12, n_init=1,
              split_merge=False)
    in_memory = RegressionMixture(2, **kw).fit(frame)
    on_dask = RegressionMixture(2, **kw).fit(dd.from_pandas(frame, npartitions=3))
    _close(on_dask, in_memory)
    np.testing.assert_allclose(on_dask.information_, in_memory.information_, rtol=1e-6)
    # predictions of the fit on new rows, and the responses' names
    np.testing.assert_allclose(on_dask.predict(frame), in_memory.predict(frame), rtol=1e-9)
    text = frame.assign(yp=frame["yp"].astype(str))
    with pytest.raises(ValueError, match="response 'yp' is not numeric"):
        RegressionMixture(2, **kw).fit(dd.from_pandas(text, npartitions=3))
    with pytest.raises(ValueError, match="response 'yp' is not a column of the data"):
        RegressionMixture(2, **kw).fit(dd.from_pandas(frame.drop(columns="yp"),
                                                      npartitions=3))


def _subjects(n_groups=45, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), rng.integers(4, 8, n_groups))
    cls = rng.integers(0, 2, n_groups)
    t = rng.uniform(0, 3, groups.size)
    beta = np.array([[0.0, 1.0], [4.0, -1.0]])
    b = rng.normal(size=(n_groups, 2)) * [0.8, 0.3]
    y = (
        beta[cls[groups], 0]
        + beta[cls[groups], 1] * t
        + b[groups, 0]
        + b[groups, 1] * t
        + rng.normal(0, 0.5, t.size)
    )
    return t[:, None], y, groups


def test_mixed_model_on_partitions_cut_at_subject_boundaries():
    X, y, groups = _subjects()
    kw = dict(family=MixedGaussian((0, 1)), random_state=0, n_init=1, split_merge=False)
    in_memory = RegressionMixture(2, **kw).fit(X, y, groups=groups)
    # partitions of 150 rows end inside subjects: the source moves their ends
    chunks = 100
    source_groups = da.from_array(groups, chunks=chunks)
    on_dask = RegressionMixture(2, **kw).fit(
        da.from_array(X, chunks=(chunks, 1)), da.from_array(y, chunks=chunks), groups=source_groups
    )
    _close(on_dask, in_memory)
    np.testing.assert_allclose(on_dask.random_cov_, in_memory.random_cov_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(on_dask.sigma_, in_memory.sigma_, rtol=1e-9)
    np.testing.assert_allclose(on_dask.information_, in_memory.information_, rtol=1e-6)
    source = DaskData(
        da.from_array(X, chunks=(chunks, 1)), da.from_array(y, chunks=chunks), groups=source_groups
    )
    ends = np.cumsum(source._X.chunks[0])[:-1]
    assert ends.size and np.all(groups[ends] != groups[ends - 1])  # no subject split
    # the starts' subsample: the same whole subjects as in memory
    rows = ArrayData(X, y, None, fit_intercept=True, groups=groups).subsample(100, 7)
    drawn = source.subsample(100, 7)
    assert 0 < drawn.n_rows < X.shape[0]
    np.testing.assert_array_equal(drawn.arrays()[1], rows.arrays()[1])
    np.testing.assert_array_equal(np.diff(drawn.groups) != 0, np.diff(rows.groups) != 0)
