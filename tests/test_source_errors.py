"""Mistakes in the arguments of the estimator and the row sources, and model files
edited by hand, are refused by regmix's own messages naming the argument, the global
row or the file -- not by numpy's, pyarrow's or dask's."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture, load
from regmix.datasets import make_regression_mixture


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = make_regression_mixture(120, coef=[[1.0, -1.0], [-1.0, 2.0]],
                                         intercept=[0.0, 1.0], sigma=[0.3, 0.3],
                                         random_state=2)
    z = np.random.default_rng(3).normal(size=(120, 1))
    return X, y, z


@pytest.fixture(scope="module")
def gated(data):
    X, y, z = data
    return RegressionMixture(2, random_state=0, n_init=1).fit(X, y, concomitant=z)


GOOD_START = {"coef": [[1.0, -1.0], [-1.0, 2.0]], "intercept": [0.0, 1.0],
              "sigma": [0.3, 0.3], "weights": [0.5, 0.5]}


# ---------------------------------------------------------------------- init=
@pytest.mark.parametrize("key, value", [
    ("coef", [[1.0, 2.0], [3.0]]),       # ragged
    ("coef", "abc"),
    ("sigma", "a"),
    ("weights", [0.5, "x"]),
    ("intercept", {"a": 1}),
])
def test_init_dict_value_that_is_not_numbers_names_the_key(data, key, value):
    X, y, _ = data
    with pytest.raises(ValueError, match=rf"init\['{key}'\] must be a number or an array"):
        RegressionMixture(2, init={**GOOD_START, key: value}).fit(X, y)


@pytest.mark.parametrize("init", [5, [[1.0, 2.0], [3.0]]])
def test_init_that_is_no_strategy_array_or_dict_is_named(data, init):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"init must be one of .* an \(120, 2\) array"):
        RegressionMixture(2, init=init).fit(X, y)


def test_student_t_df_in_init_that_is_text_is_named(data):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"init\['df'\]"):
        RegressionMixture(2, family="student_t",
                          init={**GOOD_START, "df": "x"}).fit(X, y)


@pytest.mark.parametrize("name", ["fit_intercept", "equal_variance", "accelerate",
                                  "compute_se", "warm_start", "progress"])
def test_switch_that_is_not_a_bool_is_named(data, name):
    X, y, _ = data
    with pytest.raises(ValueError, match=rf"{name} must be True or False; got 'no'"):
        RegressionMixture(2, **{name: "no"}).fit(X, y)


# ---------------------------------------------------------------------- concomitant=
def test_predict_with_concomitant_of_other_length_names_both_counts(data, gated):
    X, _, z = data
    with pytest.raises(ValueError, match=r"concomitant has 119 rows but X has 120"):
        gated.predict(X, concomitant=z[:-1])


def test_predict_with_concomitant_of_other_width_names_the_widths(data, gated):
    X, _, z = data
    with pytest.raises(ValueError, match=r"concomitant has 3 columns; the model was "
                                         r"fitted with 1"):
        gated.predict(X, concomitant=np.repeat(z, 3, axis=1))


@pytest.mark.parametrize("bad", [np.ones(120), np.ones((120, 1, 1))])
def test_predict_with_concomitant_of_wrong_dimension_names_it(data, gated, bad):
    X, _, _ = data
    with pytest.raises(ValueError, match="concomitant"):
        gated.predict(X, concomitant=bad)


# ---------------------------------------------------------------------- Parquet
def _write_parquet(path, seed: int, n: int = 300) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 0.5, 2 * x, -x + 1) + 0.2 * rng.normal(size=n)
    # no compression, no dictionary: the byte layout depends on the row count only
    pq.write_table(pa.table({"x1": x, "y": y}), path, compression="none",
                   use_dictionary=False)


def test_parquet_file_rewritten_with_the_same_size_and_mtime_is_refused(tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    path = tmp_path / "rows.parquet"
    _write_parquet(path, seed=0)
    before = os.stat(path)
    source = ParquetData(path, x=["x1"], y="y")
    RegressionMixture(2, random_state=0, n_init=1).fit(source)  # the file as it was
    _write_parquet(path, seed=1)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(ValueError, match=r"rows\.parquet' has changed since its "
                                         r"ParquetData was made \(its footer differs\)"):
        RegressionMixture(2, random_state=0, n_init=1).fit(source)


def test_parquet_file_that_grew_or_went_is_refused_naming_it(tmp_path):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    path = tmp_path / "rows.parquet"
    _write_parquet(path, seed=0)
    source = ParquetData(path, x=["x1"], y="y")
    _write_parquet(path, seed=0, n=400)
    with pytest.raises(ValueError, match=r"rows\.parquet' has changed .*its size"):
        RegressionMixture(2, n_init=1).fit(source)
    path.unlink()
    with pytest.raises(ValueError, match=r"cannot read .*rows\.parquet'.*No such file"):
        RegressionMixture(2, n_init=1).fit(source)


@pytest.mark.parametrize("kwargs, message", [
    ({"x": "x1"}, r"x must be a list of column names, not a string: write x=\['x1'\]"),
    ({"x": ["x1"], "concomitant": "x1"}, r"concomitant must be a list of column names"),
    ({"x": ["x1"], "y": ["y"]}, r"y must be one column name \(a string\) or None"),
    ({"x": ["x1"], "y": "y", "weights": 3}, r"weights must be one column name"),
    ({"x": [1]}, r"x must be a list of column names; got 1 in it"),
    ({"x": ["x1"], "y": "y", "fit_intercept": "no"}, r"fit_intercept must be True or False"),
])
def test_parquet_arguments_of_the_wrong_kind_are_named(tmp_path, kwargs, message):
    pytest.importorskip("pyarrow")
    from regmix.parquet import ParquetData

    path = tmp_path / "rows.parquet"
    _write_parquet(path, seed=0)
    with pytest.raises(ValueError, match=message):
        ParquetData(path, **kwargs)


# ---------------------------------------------------------------------- Dask
@pytest.fixture
def dask_sync():
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):
        yield


def test_dask_response_of_other_length_names_both_counts(data, dask_sync):
    import dask.array as da

    X, y, _ = data
    with pytest.raises(ValueError, match=r"y has 90 rows but X has 120"):
        RegressionMixture(2).fit(da.from_array(X, chunks=40), da.from_array(y[:90], chunks=40))
    with pytest.raises(ValueError, match=r"y has 90 rows but X has 120"):
        RegressionMixture(2).fit(da.from_array(X, chunks=40), y[:90])
    with pytest.raises(ValueError, match=r"sample_weight has 100 rows but X has 120"):
        RegressionMixture(2).fit(da.from_array(X, chunks=40), da.from_array(y, chunks=40),
                                 sample_weight=da.from_array(np.ones(100), chunks=25))
    # two columns are several responses, which need a family each
    with pytest.raises(ValueError, match=r"several responses \['y0', 'y1'\]: give each"):
        RegressionMixture(2).fit(da.from_array(X, chunks=40),
                                 da.from_array(np.c_[y, y], chunks=40))


@pytest.mark.parametrize("what, message", [
    ("X", r"X contains NaN or infinity at row 97, column 'x1'"),
    ("y", r"y contains NaN or infinity at row 97"),
    ("w", r"sample_weight is negative at row 97"),
    ("groups", r"groups on Dask need the rows sorted .*row 97 has a smaller label"),
])
def test_dask_arrays_name_the_global_row(data, dask_sync, what, message):
    import dask.array as da

    X, y, _ = data
    X, y, w = X.copy(), y.copy(), np.ones(120)
    g = np.repeat(np.arange(60), 2)
    if what == "X":
        X[97, 1] = np.inf
    elif what == "y":
        y[97] = np.nan
    elif what == "w":
        w[97] = -1.0
    else:
        g[97] = 0
    with pytest.raises(ValueError, match=message):
        RegressionMixture(2).fit(da.from_array(X, chunks=40), da.from_array(y, chunks=40),
                                 sample_weight=da.from_array(w, chunks=40),
                                 groups=da.from_array(g, chunks=40))


@pytest.mark.parametrize("change, message", [
    ("nan_x", r"design of formula 'y ~ x1' has NaN at row 77, column 'x1'"),
    ("nan_y", r"response 'y' contains NaN at row 77"),
    ("level", r"has level 'z' at row 99, not seen"),
    ("text", r"the formula 'y ~ x1 \+ C\(c\)' fails on the rows 75 to 99: .*'oops'"),
])
def test_dask_formula_errors_name_the_global_row(data, dask_sync, monkeypatch, change,
                                                 message):
    dd = pytest.importorskip("dask.dataframe")
    import regmix.estimator.inputs as inputs

    # the formula's state is learnt from the first 30 rows; the bad rows come later
    monkeypatch.setattr(inputs, "DASK_FORMULA_SAMPLE", 30)
    X, y, _ = data
    frame = pd.DataFrame({"x1": X[:100, 0], "y": y[:100], "c": ["a", "b"] * 50})
    formula = "y ~ x1 + C(c)" if change in ("level", "text") else "y ~ x1"
    if change == "nan_x":
        frame.loc[77, "x1"] = np.nan
    elif change == "nan_y":
        frame.loc[77, "y"] = np.nan
    elif change == "level":
        frame.loc[99, "c"] = "z"
    else:
        frame["x1"] = frame["x1"].astype(object)
        frame.loc[77, "x1"] = "oops"
    with pytest.raises(ValueError, match=message):
        RegressionMixture(2, formula=formula).fit(dd.from_pandas(frame, npartitions=4))


# ---------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    X, y, _ = data
    path = tmp_path_factory.mktemp("model") / "model.json"
    RegressionMixture(2, random_state=0, n_init=1).fit(X, y).save(path)
    return json.loads(path.read_text())


@pytest.mark.parametrize("section, key, value, message", [
    ("estimator_params", "fit_intercept", "no", "fit_intercept must be True or False"),
    ("estimator_params", "equal_variance", "no", "equal_variance must be True or False"),
    # 2 components of 3 coefficients, 2 sigmas (1 when equal) and 1 free weight
    ("estimator_params", "equal_variance", True,
     "'n_parameters_' is 9, but the model it describes .* has 8 free parameters"),
    ("estimator_params", "formula", -1, "formula must be a string or None"),
    ("fitted", "fit_offset", "no", "'fit_offset' must be true or false"),
    ("fitted", "n_parameters_", 10, r"'information_' has shape \(9, 9\), expected \(10, 10\)"),
])
def test_model_file_edited_by_hand_is_damaged_naming_the_file(saved, tmp_path, section,
                                                              key, value, message):
    content = json.loads(json.dumps(saved))
    content[section][key] = value
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=rf"edited\.json is damaged: {message}"):
        load(path)


def test_model_file_with_gating_names_removed_is_damaged(data, tmp_path, gated):
    path = tmp_path / "gated.json"
    gated.save(path)
    content = json.loads(path.read_text())
    content["fitted"]["gating_names"] = None
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"gated\.json is damaged: 'n_parameters_'"):
        load(path)


def test_model_file_whose_formula_is_not_its_design_s_is_damaged(data, tmp_path):
    X, y, _ = data
    frame = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "y": y})
    path = tmp_path / "formula.json"
    RegressionMixture(2, formula="y ~ x1 + x2", random_state=0, n_init=1).fit(frame).save(
        path)
    content = json.loads(path.read_text())
    content["estimator_params"]["formula"] = "y ~ x2 + x1"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"formula\.json is damaged: the estimator's "
                                         r"formula 'y ~ x2 \+ x1' is not its formula "
                                         r"design's 'y ~ x1 \+ x2'"):
        load(path)


def test_model_file_whose_weights_do_not_sum_to_one_names_the_sum(saved, tmp_path):
    content = json.loads(json.dumps(saved))
    content["fitted"]["weights_"] = [0.2, 0.2]
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"weights\.json is damaged: weights_ sum to 0\.4$"):
        load(path)
