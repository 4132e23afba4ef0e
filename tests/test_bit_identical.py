"""The same random_state gives bit-identical fits across chunk sizes and thread counts.

Every pass sums its rows in fixed reduction blocks and adds the block sums in row order
(``regmix.core.chunk.REDUCTION_BLOCK``), so neither ``chunk_size`` nor ``n_jobs`` changes a
single bit of the result for a given source.
"""

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.core.chunk import REDUCTION_BLOCK
from regmix.datasets import make_regression_mixture

N = 3 * REDUCTION_BLOCK + 1234  # several blocks and a partial one


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = make_regression_mixture(N, coef=[[1.0, -1.0], [-1.0, 2.0]],
                                         intercept=[0.0, 1.0], sigma=[0.5, 0.7],
                                         random_state=4)
    g = np.repeat(np.arange(N // 3 + 1), 3)[:N]
    z = np.random.default_rng(0).normal(size=(N, 1))
    return X, y, g, z


def _fingerprint(model):
    parts = [model.coef_, model.intercept_, model.weights_, model.state_.extra,
             np.atleast_1d(model.log_likelihood_), model.log_likelihood_history_]
    if model.information_ is not None:
        parts.append(model.information_.ravel())
    if model.gating_coef_ is not None:
        parts.append(model.gating_coef_.ravel())
    return np.concatenate([np.ravel(p) for p in parts])


def _assert_identical(models):
    prints = [_fingerprint(m) for m in models]
    for other in prints[1:]:
        assert np.array_equal(prints[0], other)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_arrays_across_chunk_sizes_and_threads(data, engine, monkeypatch):
    if engine == "numba":
        pytest.importorskip("numba")
        from regmix.compiled import helpers

        # the compiled passes on two threads over these rows too (by default one thread
        # per MIN_ROWS_PER_THREAD rows)
        monkeypatch.setattr(helpers, "MIN_ROWS_PER_THREAD", 1)
    X, y, _, _ = data
    fits = [RegressionMixture(2, random_state=0, engine=engine, chunk_size=cs, n_jobs=nj,
                              init_sample_size=None).fit(X, y)
            for cs, nj in [(100, 1), (REDUCTION_BLOCK, 2), (50_000, 2), (3 * N, 1)]]
    _assert_identical(fits)


@pytest.mark.parametrize("options", [
    {"family": "poisson"},
    {"family": "student_t"},
    {"common_coef": ["x1"], "equal_variance": True},
])
def test_families_and_constraints_across_chunk_sizes(data, options):
    X, y, _, _ = data
    if options.get("family") == "poisson":
        rng = np.random.default_rng(1)
        eta = np.where(rng.random(N) < 0.4, 1.0 + 0.8 * X[:, 0], 2.0 - 0.5 * X[:, 1])
        y = rng.poisson(np.exp(eta)).astype(float)
    fits = [RegressionMixture(2, random_state=0, chunk_size=cs, n_jobs=nj,
                              init_sample_size=None, **options).fit(X, y)
            for cs, nj in [(500, 1), (3 * REDUCTION_BLOCK, 2)]]
    _assert_identical(fits)


def test_groups_and_gating_across_chunk_sizes(data):
    X, y, g, z = data
    fits = [RegressionMixture(2, random_state=0, chunk_size=cs, n_jobs=nj,
                              init_sample_size=None).fit(X, y, groups=g, concomitant=z)
            for cs, nj in [(700, 1), (2 * REDUCTION_BLOCK, 2)]]
    _assert_identical(fits)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_memory_layouts_of_the_same_values(data, engine):
    """A Fortran-ordered X, row- and column-strided views and a strided y hold the same
    values as C-ordered arrays: the fits and their evaluations have the same bits."""
    if engine == "numba":
        pytest.importorskip("numba")
    X, y, _, z = data
    rows = np.zeros((2 * N, X.shape[1]))
    rows[::2] = X
    cols = np.repeat(X, 2, axis=1)[:, ::2]
    y_strided = np.repeat(y, 2)[::2]
    assert not (rows[::2].flags.c_contiguous or cols.flags.c_contiguous
                or np.asfortranarray(X).flags.c_contiguous or y_strided.flags.c_contiguous)
    layouts = [(X, y), (np.asfortranarray(X), y), (rows[::2], y), (cols, y_strided)]
    fits = [RegressionMixture(2, random_state=0, engine=engine, n_jobs=2, n_init=1,
                              split_merge=False, init_sample_size=None).fit(XX, yy)
            for XX, yy in layouts]
    _assert_identical(fits)
    scores = [m.log_likelihood(XX, yy) for m, (XX, yy) in zip(fits, layouts, strict=True)]
    assert len(set(scores)) == 1
    gated = [RegressionMixture(2, random_state=0, n_init=1, split_merge=False,
                               init_sample_size=None)
             .fit(X, y, concomitant=zz)
             for zz in (z, np.asfortranarray(np.repeat(z, 2, axis=1))[:, ::2])]
    _assert_identical(gated)


def test_parquet_across_chunk_sizes_and_row_groups(data, tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.sources.parquet import ParquetData

    X, y, _, _ = data
    frame = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "y": y})
    fits = []
    for i, (rows, cs, nj) in enumerate([(1000, 300, 1), (7777, REDUCTION_BLOCK, 2),
                                        (N, 40_000, 2)]):
        path = tmp_path / f"d{i}.parquet"
        frame.to_parquet(path, row_group_size=rows)
        source = ParquetData(path, x=["x0", "x1"], y="y")
        fits.append(RegressionMixture(2, random_state=0, chunk_size=cs, n_jobs=nj,
                                      init_sample_size=None).fit(source))
    _assert_identical(fits)


def test_dask_across_chunk_sizes(data):
    da = pytest.importorskip("dask.array")
    X, y, _, _ = data
    Xd, yd = da.from_array(X, chunks=10_000), da.from_array(y, chunks=10_000)
    fits = [RegressionMixture(2, random_state=0, chunk_size=cs,
                              init_sample_size=None).fit(Xd, yd)
            for cs in (256, 4 * REDUCTION_BLOCK)]
    _assert_identical(fits)
