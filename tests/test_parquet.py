"""Streaming fits from Parquet equal in-memory fits."""

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture

pytest.importorskip("pyarrow")

from regmix.sources.parquet import ParquetData  # noqa: E402


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory):
    X, y, _, _ = make_regression_mixture(30000, 2, 2, random_state=4)
    frame = pd.DataFrame(X, columns=["a", "b"])
    frame["y"] = y
    frame["w"] = np.random.default_rng(0).integers(1, 4, len(y)).astype(float)
    path = tmp_path_factory.mktemp("pq") / "data.parquet"
    frame.to_parquet(path, row_group_size=7000)
    return path, frame


@pytest.mark.parametrize("weighted", [False, True])
def test_streamed_fit_equals_in_memory_fit(parquet_file, weighted):
    path, frame = parquet_file
    source = ParquetData(path, x=["a", "b"], y="y", weights="w" if weighted else None)
    kw = dict(random_state=0, chunk_size=4096, init_sample_size=5000)
    streamed = RegressionMixture(2, **kw).fit(source)
    memory = RegressionMixture(2, **kw).fit(frame[["a", "b"]], frame["y"],
                                            sample_weight=frame["w"] if weighted else None)
    assert streamed.log_likelihood_ == pytest.approx(memory.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(streamed.coef_, memory.coef_, rtol=1e-10)
    np.testing.assert_allclose(streamed.sigma_, memory.sigma_, rtol=1e-10)
    assert list(streamed.feature_names_in_) == ["a", "b"]
    pd.testing.assert_frame_equal(streamed.coef_table(), memory.coef_table(), rtol=1e-8)


def test_directory_of_files(parquet_file, tmp_path):
    _, frame = parquet_file
    for i, start in enumerate(range(0, len(frame), 10000)):
        frame.iloc[start:start + 10000].to_parquet(tmp_path / f"part-{i}.parquet")
    source = ParquetData(tmp_path, x=["a", "b"], y="y")
    assert source.n_rows == len(frame)
    st = source.standardization
    np.testing.assert_allclose(st.x_loc, frame[["a", "b"]].mean(), rtol=1e-12)
    np.testing.assert_allclose(st.x_scale, frame[["a", "b"]].std(ddof=0), rtol=1e-12)


def test_bad_sources(parquet_file, tmp_path):
    path, frame = parquet_file
    with pytest.raises(ValueError, match="column 'z' is not in"):
        ParquetData(path, x=["a", "z"], y="y")
    with pytest.raises(ValueError, match="no such file"):
        ParquetData(tmp_path / "missing.parquet", x=["a"], y="y")
    bad = frame.copy()
    bad.loc[123, "b"] = np.nan
    bad.to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(ValueError, match="column 'b' has a missing or non-finite value at row 123"
                       ):
        ParquetData(tmp_path / "nan.parquet", x=["a", "b"], y="y")
    text = frame.assign(g="u")
    text.to_parquet(tmp_path / "text.parquet")
    with pytest.raises(ValueError, match="column 'g' is not numeric"):
        ParquetData(tmp_path / "text.parquet", x=["a", "g"], y="y")
    with pytest.raises(ValueError, match="fit_intercept"):
        RegressionMixture(2, fit_intercept=False).fit(ParquetData(path, x=["a"], y="y"))


def test_sample_draws_features_around_the_training_moments(parquet_file):
    # without an intercept the standardisation is not centred; sample() must still draw
    # around the features' own mean and spread, as for in-memory data
    path, frame = parquet_file
    source = ParquetData(path, x=["a", "b"], y="y", fit_intercept=False)
    streamed = RegressionMixture(2, fit_intercept=False, random_state=0,
                                 init_sample_size=5000, compute_se=False).fit(source)
    memory = RegressionMixture(2, fit_intercept=False, random_state=0,
                               init_sample_size=5000, compute_se=False
                               ).fit(frame[["a", "b"]], frame["y"])
    np.testing.assert_allclose(streamed.state_.x_mean, frame[["a", "b"]].mean(), rtol=1e-10)
    np.testing.assert_allclose(streamed.state_.x_std, frame[["a", "b"]].std(ddof=0), rtol=1e-10)
    np.testing.assert_allclose(streamed.state_.x_mean, memory.state_.x_mean, rtol=1e-10)
