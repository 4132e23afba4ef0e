"""Families, concomitant variables, groups and constraints through every row source.

The streamed (Parquet) and distributed (Dask) passes must give the fit the in-memory
pass gives: the family, gating and group statistics are additive like the Gaussian
ones, and chunks never split a group.
"""

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture

pytest.importorskip("pyarrow")
da = pytest.importorskip("dask.array")

from regmix.sources.dask import DaskData  # noqa: E402
from regmix.sources.parquet import ParquetData  # noqa: E402

SETTINGS = dict(random_state=0, n_init=1, chunk_size=97, tol=1e-14)


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """Groups of 1..8 rows sorted by label, memberships and gating per group."""
    rng = np.random.default_rng(3)
    G = 400
    sizes = rng.integers(1, 9, G)
    g = np.repeat(np.arange(G), sizes)
    n = g.size
    x = rng.uniform(-2, 2, n)
    zg = rng.normal(size=G)
    lab = (rng.random(G) < 1 / (1 + np.exp(-(0.3 + 1.2 * zg))))[g]
    y = np.where(lab, 1 - x, 2 + 1.5 * x) + 0.8 * rng.standard_normal(n)
    counts = rng.poisson(np.exp(np.where(lab, 0.5 + 0.8 * x, 1.5 - 0.5 * x))).astype(float)
    frame = pd.DataFrame(dict(x=x, y=y, z=zg[g], g=g, counts=counts))
    path = tmp_path_factory.mktemp("sources") / "grouped.parquet"
    frame.to_parquet(path, row_group_size=211)
    return frame, path


def _close(a, b, tol=1e-7):
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-12, abs=1e-8)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=tol)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=tol)
    if a.gating_coef_ is not None:
        np.testing.assert_allclose(a.gating_coef_, b.gating_coef_, atol=tol)


def test_parquet_groups_and_concomitant_equal_memory(grouped):
    frame, path = grouped
    mem = RegressionMixture(2, **SETTINGS).fit(frame[["x"]], frame["y"], groups=frame["g"],
                                               concomitant=frame[["z"]])
    src = ParquetData(path, x=["x"], y="y", groups="g", concomitant=["z"])
    streamed = RegressionMixture(2, **SETTINGS).fit(src)
    _close(mem, streamed)
    assert streamed.n_groups_ == mem.n_groups_ == frame["g"].nunique()
    assert streamed.bic_ == pytest.approx(mem.bic_, rel=1e-12)
    np.testing.assert_allclose(streamed.information_, mem.information_, rtol=1e-5,
                               atol=1e-6 * np.abs(mem.information_).max())


def test_dask_groups_and_concomitant_equal_memory(grouped):
    frame, _ = grouped
    mem = RegressionMixture(2, **SETTINGS).fit(frame[["x"]], frame["y"], groups=frame["g"],
                                               concomitant=frame[["z"]])
    chunks = 333  # block boundaries that cut groups: the source re-cuts them
    dist = RegressionMixture(2, **SETTINGS).fit(
        da.from_array(frame[["x"]].to_numpy(), chunks=chunks),
        da.from_array(frame["y"].to_numpy(), chunks=chunks),
        groups=da.from_array(frame["g"].to_numpy(), chunks=chunks),
        concomitant=da.from_array(frame[["z"]].to_numpy(), chunks=chunks))
    _close(mem, dist)
    assert dist.n_groups_ == mem.n_groups_


def test_dask_source_blocks_end_on_group_boundaries(grouped):
    frame, _ = grouped
    g = frame["g"].to_numpy()
    src = DaskData(da.from_array(frame[["x"]].to_numpy(), chunks=250),
                   da.from_array(frame["y"].to_numpy(), chunks=250),
                   groups=da.from_array(g, chunks=250))
    edges = np.cumsum(src._X.chunks[0])[:-1]
    assert np.all(g[edges] != g[edges - 1])


@pytest.mark.parametrize("family", ["poisson", "negative_binomial"])
def test_count_families_stream_and_distribute(grouped, family):
    frame, path = grouped
    mem = RegressionMixture(2, family=family, **SETTINGS).fit(frame[["x"]], frame["counts"])
    streamed = RegressionMixture(2, family=family, **SETTINGS).fit(
        ParquetData(path, x=["x"], y="counts"))
    dist = RegressionMixture(2, family=family, **SETTINGS).fit(
        da.from_array(frame[["x"]].to_numpy(), chunks=300),
        da.from_array(frame["counts"].to_numpy(), chunks=300))
    _close(mem, streamed, tol=1e-6)
    _close(mem, dist, tol=1e-6)


def test_constraints_stream(grouped):
    frame, path = grouped
    for options in ({"common_coef": ["intercept"]}, {"equal_variance": True},
                    {"fixed_coef": {"x": [-1.0, 1.5]}}):
        mem = RegressionMixture(2, **SETTINGS, **options).fit(frame[["x"]], frame["y"])
        streamed = RegressionMixture(2, **SETTINGS, **options).fit(
            ParquetData(path, x=["x"], y="y"))
        _close(mem, streamed)


def test_unsorted_groups_are_refused(grouped, tmp_path):
    frame, _ = grouped
    path = tmp_path / "unsorted.parquet"
    frame.sample(frac=1.0, random_state=0).to_parquet(path)
    with pytest.raises(ValueError, match="sorted by 'g'"):
        ParquetData(path, x=["x"], y="y", groups="g")
    shuffled = frame.sample(frac=1.0, random_state=0)
    with pytest.raises(ValueError, match="sorted by group"):
        DaskData(da.from_array(shuffled[["x"]].to_numpy(), chunks=200),
                 da.from_array(shuffled["y"].to_numpy(), chunks=200),
                 groups=da.from_array(shuffled["g"].to_numpy(), chunks=200))


def test_negative_counts_in_a_stream_name_the_row(grouped, tmp_path):
    frame, _ = grouped
    bad = frame.copy()
    bad.loc[123, "counts"] = -2.0
    path = tmp_path / "bad.parquet"
    bad.to_parquet(path)
    with pytest.raises(ValueError, match=r"y\[123\]"):
        RegressionMixture(2, family="poisson").fit(ParquetData(path, x=["x"], y="counts"))


def test_formula_on_a_dask_dataframe_equals_pandas():
    dd = pytest.importorskip("dask.dataframe")
    rng = np.random.default_rng(0)
    n = 3000
    x, z = rng.uniform(-2, 2, n), rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], n)
    lab = rng.random(n) < 1 / (1 + np.exp(-1.5 * z))
    y = np.where(lab, 1 - x, 2 + 1.5 * x) + (g == "b") * 0.5 + 0.3 * rng.standard_normal(n)
    frame = pd.DataFrame(dict(x=x, y=y, z=z, g=g))
    for formula in ("y ~ x + C(g)", "y ~ x + I(x**2) | z"):
        mem = RegressionMixture(2, formula=formula, **SETTINGS).fit(frame)
        dist = RegressionMixture(2, formula=formula, **SETTINGS).fit(
            dd.from_pandas(frame, npartitions=4))
        _close(mem, dist)
        assert list(dist.feature_names_in_) == list(mem.feature_names_in_)
        np.testing.assert_allclose(dist.predict(frame), mem.predict(frame), atol=1e-8)


def test_dask_formula_refuses_what_it_cannot_encode():
    dd = pytest.importorskip("dask.dataframe")
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame(dict(x=rng.normal(size=n), y=rng.normal(size=n),
                              g=["a"] * (n - 10) + ["new"] * 10))
    ddf = dd.from_pandas(frame, npartitions=4)
    with pytest.raises(ValueError, match="offset"):
        RegressionMixture(2, formula="y ~ x + offset(x)").fit(ddf)
    with pytest.raises(ValueError, match="dask DataFrame"):
        RegressionMixture(2, formula="y ~ x").fit(da.from_array(frame[["x"]].to_numpy()))
    import regmix.estimator.inputs as est

    small = est.DASK_FORMULA_SAMPLE
    try:
        est.DASK_FORMULA_SAMPLE = 100  # the sample misses the last partition's level
        with pytest.raises(ValueError, match="new"):
            RegressionMixture(2, formula="y ~ x + C(g)").fit(ddf)
    finally:
        est.DASK_FORMULA_SAMPLE = small
