"""Saved models read back bit for bit; damaged or foreign files are refused clearly."""

import json
import os
from operator import attrgetter

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture
from regmix.persistence import FORMAT_VERSION, load, model_to_dict, save

FITTED = ("coef_", "intercept_", "sigma_", "weights_", "log_likelihood_history_", "state_.x_mean",
          "state_.x_std")
SCALARS = ("log_likelihood_", "converged_", "n_iter_", "n_passes_", "n_parameters_",
           "n_features_in_")


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = make_regression_mixture(
        300, 2, 2, coef=[[2.0, -1.0], [-1.5, 0.5]], intercept=[1.0, -2.0], sigma=[0.5, 1.0],
        random_state=0)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return RegressionMixture(2, n_init=2, random_state=0).fit(X, y)


def _round_trip(model, tmp_path, name="model.json"):
    path = tmp_path / name
    save(model, path)
    return load(path), path


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _assert_same_model(a, b):
    for name in FITTED:
        assert _same_bits(attrgetter(name)(a), attrgetter(name)(b)), name
    for name in SCALARS:
        assert getattr(a, name) == getattr(b, name) and type(getattr(a, name)) is type(
            getattr(b, name)), name
    for name in ("aic_", "bic_", "icl_"):  # criteria stored at fit time, when there are any
        assert hasattr(a, name) == hasattr(b, name), name
        assert getattr(a, name, None) == getattr(b, name, None), name
    assert a.get_params() == b.get_params()


def _assert_same_predictions(a, b, X, y):
    assert _same_bits(a.predict(X), b.predict(X))
    assert _same_bits(a.predict_components(X), b.predict_components(X))
    assert _same_bits(a.posterior(X, y), b.posterior(X, y))
    assert a.log_likelihood(X, y) == b.log_likelihood(X, y)
    assert a.bic(X, y) == b.bic(X, y) and a.icl(X, y) == b.icl(X, y)


# ---------------------------------------------------------------------- round trips
def test_round_trip_is_bit_identical(fitted, data, tmp_path):
    X, y = data
    loaded, _ = _round_trip(fitted, tmp_path)
    _assert_same_model(fitted, loaded)
    _assert_same_predictions(fitted, loaded, X, y)
    assert not hasattr(loaded, "feature_names_in_")
    assert not hasattr(loaded, "formula_design_")
    Xa, ya, la = fitted.sample(50, random_state=4)
    Xb, yb, lb = loaded.sample(50, random_state=4)
    assert _same_bits(Xa, Xb) and _same_bits(ya, yb) and _same_bits(la, lb)


def test_round_trip_with_feature_names_and_no_intercept(data, tmp_path):
    X, y = data
    frame = pd.DataFrame(X, columns=["height", "width"])
    model = RegressionMixture(2, fit_intercept=False, n_init=1, random_state=1).fit(frame, y)
    loaded, _ = _round_trip(model, tmp_path)
    _assert_same_model(model, loaded)
    _assert_same_predictions(model, loaded, frame, y)
    assert list(loaded.feature_names_in_) == ["height", "width"]
    assert loaded.feature_names_in_.dtype == model.feature_names_in_.dtype
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame.rename(columns={"width": "depth"}))


def test_loaded_model_can_be_refitted(fitted, data, tmp_path):
    X, y = data
    loaded, _ = _round_trip(fitted, tmp_path)
    refit = loaded.set_params(warm_start=True).fit(X, y)
    assert refit.log_likelihood_ >= fitted.log_likelihood_ - 1e-9 * abs(fitted.log_likelihood_)


# ---------------------------------------------------------------------- the file
def test_file_layout(fitted, tmp_path):
    _, path = _round_trip(fitted, tmp_path)
    content = json.loads(path.read_text(encoding="utf-8"))
    assert content["format"] == "regmix-model"
    assert content["format_version"] == FORMAT_VERSION == 2
    assert isinstance(content["regmix_version"], str)
    assert content["estimator_params"] == fitted.get_params(deep=False)
    assert content["formula_design"] is None
    fitted_part = content["fitted"]
    assert np.array(fitted_part["coef_"]).shape == fitted.coef_.shape
    assert fitted_part["log_likelihood_"] == fitted.log_likelihood_
    assert fitted_part["x_mean"] == fitted.state_.x_mean.tolist()
    assert "feature_names_in_" not in fitted_part
    assert os.listdir(tmp_path) == ["model.json"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_parameters_that_are_not_json_scalars_are_stored_as_null(data, tmp_path):
    X, y = data
    resp = np.eye(2)[(X[:, 0] > 0).astype(int)]
    model = RegressionMixture(2, init=resp, max_iter=0,
                              random_state=np.random.RandomState(0)).fit(X, y)
    content = model_to_dict(model)
    assert content["estimator_params"]["init"] is None
    assert content["estimator_params"]["random_state"] is None
    loaded, _ = _round_trip(model, tmp_path)
    assert loaded.init == RegressionMixture().init and loaded.random_state is None
    _assert_same_predictions(model, loaded, X, y)


def test_unfitted_model_is_not_saved(tmp_path):
    with pytest.raises(NotFittedError):
        save(RegressionMixture(), tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


# ---------------------------------------------------------------------- refusals
def _write(tmp_path, content, name="bad.json"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_damaged_files_are_refused(fitted, tmp_path):
    _, path = _round_trip(fitted, tmp_path)
    text = path.read_text()
    for content in (text[: len(text) // 2], "", "not json", b"\xff\xfe\x00garbage"):
        with pytest.raises(ValueError, match="damaged"):
            load(_write(tmp_path, content))


def test_foreign_files_are_refused(tmp_path):
    for content in ([1, 2], {"format": "something-else", "format_version": 1}, {}):
        with pytest.raises(ValueError, match="not a regmix model file"):
            load(_write(tmp_path, content))


def test_newer_format_is_refused(fitted, tmp_path):
    content = model_to_dict(fitted)
    content["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ValueError, match="written by a newer regmix.*upgrade"):
        load(_write(tmp_path, content))
    content = model_to_dict(fitted)
    content["estimator_params"]["bandwidth"] = 3
    with pytest.raises(ValueError, match="bandwidth.*upgrade"):
        load(_write(tmp_path, content))


@pytest.mark.parametrize("damage, message", [
    (lambda c: c.pop("fitted"), "'fitted' is missing"),
    (lambda c: c["fitted"].pop("extra_"), "'extra_' is missing"),
    (lambda c: c["fitted"].pop("n_iter_"), "'n_iter_' must be an integer"),
    (lambda c: c["fitted"].update(coef_=[[1.0, 2.0]] * 2 + [[0.0, 0.0]]), r"shape \(3, 2\)"),
    (lambda c: c["fitted"].update(coef_=[[1.0], [2.0]]), r"'x_mean' has shape \(2,\)"),
    (lambda c: c["fitted"].update(coef_=[[1.0, 2.0], [1.0]]), "'coef_' is not an array"),
    (lambda c: c["fitted"].update(coef_=[]), "'coef_' is not a list of rows"),
    (lambda c: c["fitted"].update(n_features_in_=3), "n_features_in_=3 but coef_ has 2"),
    (lambda c: c["fitted"].update(x_mean=[0.0]), r"'x_mean' has shape \(1,\)"),
    (lambda c: c["fitted"].update(weights_=[1.0]), "1 mixing weights"),
    (lambda c: c["fitted"].update(extra_=[[1.0], [-1.0]]), "sigma_ must be positive"),
    (lambda c: c["fitted"].update(weights_=[0.7, 0.7]), "weights_ sum"),
    (lambda c: c["fitted"].update(converged_="yes"), "converged_"),
    (lambda c: c["fitted"].update(feature_names_in_=["a"]), "feature_names_in_"),
    (lambda c: c["estimator_params"].update(n_init=0), "n_init must be"),
])
def test_inconsistent_content_is_refused(fitted, tmp_path, damage, message):
    content = model_to_dict(fitted)
    damage(content)
    with pytest.raises(ValueError, match=message):
        load(_write(tmp_path, content))


def test_non_finite_values_are_refused(fitted, tmp_path):
    text = json.dumps(model_to_dict(fitted))
    intercept = json.dumps(fitted.intercept_.tolist())
    for bad in ("[NaN, 0.0]", "[1e999, 0.0]", "[-Infinity, 0.0]"):
        with pytest.raises(ValueError, match="damaged"):
            load(_write(tmp_path, text.replace(intercept, bad)))


# ---------------------------------------------------------------------- formulas
def _formula_frame():
    rng = np.random.default_rng(3)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.uniform(1, 2, size=n),
                          "g": rng.choice(["a", "b", "c"], size=n)})
    label = rng.random(n) < 0.5
    frame["y"] = (np.where(label, 2.0, -2.0) * frame["x"] + (frame["g"] == "b")
                  + rng.normal(0, 0.3, size=n))
    return frame


def test_formula_design_attribute_round_trips(tmp_path):
    frame = _formula_frame()
    model = RegressionMixture(2, formula="y ~ x + C(g) + center(z)", n_init=1,
                              random_state=0).fit(frame)
    design = model.formula_design_
    loaded, path = _round_trip(model, tmp_path)
    assert json.loads(path.read_text())["formula_design"]["formula"] == design.formula
    new = frame.iloc[::7]
    X_new = loaded.formula_design_.transform(new)
    assert _same_bits(X_new, design.transform(new))
    _assert_same_predictions(model, loaded, new, loaded.formula_design_.response(new))
    content = model_to_dict(model)
    content["formula_design"]["column_names"] = ["x"]
    with pytest.raises(ValueError, match="formula design is damaged"):
        load(_write(tmp_path, content))
    content = model_to_dict(model)
    content["fitted"]["coef_"] = [row[:2] for row in content["fitted"]["coef_"]]
    content["fitted"]["x_mean"] = content["fitted"]["x_mean"][:2]
    content["fitted"]["x_std"] = content["fitted"]["x_std"][:2]
    content["fitted"]["n_features_in_"] = 2
    content["fitted"]["feature_names_in_"] = content["fitted"]["feature_names_in_"][:2]
    content["fitted"]["information_"] = None
    with pytest.raises(ValueError, match="4 design columns but coef_ has 2"):
        load(_write(tmp_path, content))


def test_formula_model_round_trips_on_data_frames(tmp_path):
    pytest.importorskip("formulaic")
    if "formula" not in RegressionMixture().get_params():
        pytest.skip("RegressionMixture has no formula parameter")
    frame = _formula_frame()
    model = RegressionMixture(2, formula="y ~ x + C(g) + center(z)", n_init=1,
                              random_state=0).fit(frame)
    loaded, _ = _round_trip(model, tmp_path)
    assert loaded.formula == model.formula
    new = frame.iloc[::3]
    assert _same_bits(model.predict(new), loaded.predict(new))
    assert _same_bits(model.predict_components(new), loaded.predict_components(new))
    assert _same_bits(model.posterior(new, new["y"]), loaded.posterior(new, new["y"]))
    assert model.log_likelihood(new, new["y"]) == loaded.log_likelihood(new, new["y"])


def test_summary_and_coef_table_survive_a_round_trip(tmp_path):
    X, y, _, _ = make_regression_mixture(300, 2, 2, random_state=0)
    model = RegressionMixture(2, random_state=0).fit(X, y)
    loaded, _ = _round_trip(model, tmp_path)
    pd.testing.assert_frame_equal(loaded.coef_table(), model.coef_table())
    assert str(loaded.summary()) == str(model.summary())


def test_format_version_1_files_are_read_as_gaussian_models(fitted, data, tmp_path):
    """A file of the first format (Gaussian components, ``sigma_``, no family) loads."""
    X, y = data
    content = json.loads(json.dumps(model_to_dict(fitted)))
    content["format_version"] = 1
    fitted_part = content["fitted"]
    fitted_part["sigma_"] = [row[0] for row in fitted_part.pop("extra_")]
    for key in ("family", "fit_offset", "fit_trials", "gating_coef_", "gating_names",
                "n_groups_"):
        fitted_part.pop(key)
    for key in ("family", "link", "common_coef", "fixed_coef", "equal_variance"):
        content["estimator_params"].pop(key)
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(content))
    old = load(path)
    assert old.family_.name == "gaussian"
    assert _same_bits(old.sigma_, fitted.sigma_)
    assert _same_bits(old.predict(X), fitted.predict(X))
    assert old.log_likelihood(X, y) == fitted.log_likelihood(X, y)


# --------------------------------------------------------------------------- hostile paths
def test_a_fifo_or_a_device_is_refused_without_being_read(fitted, tmp_path):
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)  # opening it to read would block until a writer comes
    with pytest.raises(ValueError, match="is a FIFO, not a regular file"):
        load(fifo)
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")  # reading it would never end
    with pytest.raises(ValueError, match="is a character device, not a regular file"):
        load(link)
    with pytest.raises(ValueError, match="is a directory"):
        load(tmp_path)


def test_deeply_nested_or_huge_files_are_refused(tmp_path, monkeypatch):
    from regmix.estimator import model_file

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested 100000 levels deep"):
        load(deep)
    # brackets inside strings do not count
    assert model_file._nesting('{"a": "[[[[{{{", "b": [1, [2]]}') == 3
    big = tmp_path / "big.json"
    big.write_text(" " * 2000 + "{}")
    monkeypatch.setattr(model_file, "MAX_BYTES", 1000)
    with pytest.raises(ValueError, match="larger than 1000 bytes"):
        load(big)


def test_save_refuses_to_replace_what_is_not_a_regular_file(fitted, tmp_path):
    target = tmp_path / "target.json"
    target.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="is a symbolic link, not a regular file"):
        save(fitted, link)
    assert link.is_symlink() and target.read_text() == "keep me"
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is a FIFO"):
        save(fitted, fifo)
    with pytest.raises(ValueError, match="is a directory"):
        save(fitted, tmp_path)
    save(fitted, target)  # a regular file is replaced
    assert load(target).log_likelihood_ == fitted.log_likelihood_


@pytest.mark.parametrize("payload,message", [
    (["<U500000000", [1], ["a"]], "more than the 65536 a stored state needs"),
    (["<f8", [10**9], [1.0]], "array of shape"),
    (["<f8", [-1], []], "array of shape"),
])
def test_stored_arrays_cannot_ask_for_more_memory_than_their_values(payload, message):
    from regmix.estimator.formula import decode_state

    with pytest.raises(ValueError, match=message):
        decode_state({"__ndarray__": payload})
    np.testing.assert_array_equal(decode_state({"__ndarray__": ["<f8", [2], [1.0, 2.0]]}),
                                  [1.0, 2.0])
