"""The fitted state: one object owns a fit's results, and its dict form reads back exactly."""

import dataclasses
import json

import numpy as np
import pytest

from regmix import RegressionMixture, StudentT
from regmix.datasets import make_regression_mixture
from regmix.estimator.state import FittedState
from regmix.families.registry import family_to_dict
from regmix.persistence import load, save


@pytest.fixture(scope="module")
def data():
    X, y, labels, _ = make_regression_mixture(
        400, coef=[[2.0], [-1.5]], intercept=[1.0, -1.0], sigma=[0.4, 0.6], random_state=3)
    rng = np.random.default_rng(3)
    z = labels[:, None] + rng.normal(scale=0.8, size=(400, 1))
    groups = np.repeat(np.arange(200), 2)
    return X, y, z, groups


def _poisson_data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 1))
    labels = rng.random(500) < 0.4
    eta = np.where(labels, 0.5 + 1.0 * X[:, 0], 2.0 - 0.5 * X[:, 0])
    return X, rng.poisson(np.exp(eta)).astype(np.float64)


def _models(data):
    X, y, z, groups = data
    Xp, yp = _poisson_data()
    return {
        "gaussian": RegressionMixture(2, n_init=1, random_state=0).fit(X, y),
        "gated": RegressionMixture(2, n_init=1, random_state=0).fit(X, y, concomitant=z),
        "grouped": RegressionMixture(2, n_init=1, random_state=0).fit(X, y, groups=groups),
        "poisson": RegressionMixture(2, family="poisson", n_init=1,
                                     random_state=0).fit(Xp, yp),
        "constrained": RegressionMixture(2, n_init=1, random_state=0, common_coef=["x0"],
                                         equal_variance=True).fit(X, y),
    }


@pytest.fixture(scope="module")
def models(data):
    return _models(data)


def _same(a, b) -> bool:
    """Whether two field values are equal bit for bit (arrays: values, shape, dtype)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and (
            np.array_equal(a, b) if a.dtype == object else
            np.array_equal(a.view(np.uint8), b.view(np.uint8)))
    if isinstance(a, float) or isinstance(b, float):  # Python or numpy floats
        return (isinstance(a, float) and isinstance(b, float)
                and np.float64(a).tobytes() == np.float64(b).tobytes())
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _assert_same_state(got: FittedState, want: FittedState) -> None:
    for field in dataclasses.fields(FittedState):
        a, b = getattr(got, field.name), getattr(want, field.name)
        if field.name == "family":
            assert family_to_dict(a) == family_to_dict(b)
            ca, cb = getattr(a, "constraints", None), getattr(b, "constraints", None)
            assert (ca is None) == (cb is None)
            if ca is not None:  # the masks; fixed values are in the units of the fit's passes
                for part in ("index", "fixed_entries"):
                    assert _same(getattr(ca, part), getattr(cb, part)), part
                assert ca.equal_scale == cb.equal_scale
        elif field.name in ("formula_design", "concomitant_design"):
            assert (a is None) == (b is None), field.name
            if a is not None:
                assert a.to_dict() == b.to_dict()
        else:
            assert _same(a, b), field.name


def _round_trip(model) -> FittedState:
    state = model.state_
    # through JSON text, as in a model file
    d = json.loads(json.dumps(state.to_dict(), allow_nan=False))
    designs = {
        key: None if getattr(state, key) is None else getattr(state, key).to_dict()
        for key in ("formula_design", "concomitant_design")
    }
    return FittedState.from_dict(d, "the state", params=model.get_params(deep=False),
                                 **designs)


@pytest.mark.parametrize("kind", ["gaussian", "gated", "grouped", "poisson", "constrained"])
def test_state_round_trip_is_bit_identical(models, kind):
    model = models[kind]
    back = _round_trip(model)
    _assert_same_state(back, model.state_)
    assert back.to_dict() == model.state_.to_dict()


def test_fitted_attributes_are_read_from_the_state(models):
    model = models["gated"]
    state = model.state_
    assert model.coef_ is state.coef and model.weights_ is state.weights
    assert model.gating_coef_ is state.gating_coef
    np.testing.assert_array_equal(model.sigma_, state.extra[:, 0])
    assert not hasattr(models["poisson"], "sigma_")
    assert not hasattr(RegressionMixture(), "coef_")


def test_a_formula_state_round_trips(data):
    import pandas as pd

    X, y, z, _ = data
    frame = pd.DataFrame({"x": X[:, 0], "z": z[:, 0], "y": y})
    model = RegressionMixture(2, formula="y ~ x | z", n_init=1, random_state=0).fit(frame)
    back = _round_trip(model)
    _assert_same_state(back, model.state_)
    assert back.concomitant_design is not None


@pytest.mark.parametrize("family", ["poisson", StudentT(df=4.0)])
def test_loaded_model_has_the_saved_parameters(family, data, tmp_path):
    X, y, _, _ = data
    if family == "poisson":
        X, y = _poisson_data()
    model = RegressionMixture(2, family=family, n_init=1, random_state=0).fit(X, y)
    save(model, tmp_path / "m.json")
    loaded = load(tmp_path / "m.json")
    got, want = loaded.get_params(deep=False), model.get_params(deep=False)
    if isinstance(family, str):
        assert got == want
    else:  # the object is rebuilt from the file, with its fixed option
        assert family_to_dict(got.pop("family")) == family_to_dict(want.pop("family"))
        assert got == want
    _assert_same_state(loaded.state_, model.state_)


def _damaged(d, key, value):
    d = dict(d)
    if value is KeyError:
        del d[key]
    else:
        d[key] = value
    return d


@pytest.mark.parametrize("key, value, message", [
    ("x_std", KeyError, "fitted value 'x_std' is missing"),
    ("coef_", [[1.0, 2.0], [3.0, 4.0]], "'x_mean' has shape"),
    ("intercept_", [0.0], "'intercept_' has shape"),
    ("weights_", [0.5, float("nan")], "'weights_' holds non-finite"),
    ("extra_", [["a"], [1.0]], "'extra_' is not an array of numbers"),
    ("converged_", 1, "'converged_' must be true or false"),
    ("n_iter_", -1, "'n_iter_' must be an integer >= 0"),
    ("gating_names", "z", "'gating_names' must be a list of strings"),
    ("n_groups_", 2.5, "'n_groups_' must be an integer or null"),
    ("feature_names_in_", ["a", "b"], "'feature_names_in_' must be 1 strings"),
    ("information_", [[1.0]], "'information_' has shape"),
])
def test_damaged_state_is_refused_naming_the_key(models, key, value, message):
    model = models["gaussian"]
    d = _damaged(model.state_.to_dict(), key, value)
    with pytest.raises(ValueError, match=f"the state is damaged: {message}"):
        FittedState.from_dict(d, "the state", params=model.get_params(deep=False))


def test_state_of_other_parameters_is_refused(models):
    model = models["gaussian"]
    d = model.state_.to_dict()
    params = dict(model.get_params(deep=False), n_components=3)
    with pytest.raises(ValueError, match="2 mixing weights for n_components=3"):
        FittedState.from_dict(d, "the state", params=params)
    params = dict(model.get_params(deep=False), family="poisson")
    with pytest.raises(ValueError, match="the family 'gaussian' differs"):
        FittedState.from_dict(d, "the state", params=params)
