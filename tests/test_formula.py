"""Formula designs against design matrices built by hand, and their saved form."""

import json
import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("formulaic")

from regmix import RegressionMixture  # noqa: E402
from regmix.estimator.formula import (  # noqa: E402
    FormulaDesign,
    decode_state,
    encode_state,
    plain_formula,
    split_gating,
    split_offsets,
)
from regmix.estimator.formula_safety import check_formula  # noqa: E402


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.normal(size=n),
        "z": rng.uniform(1.0, 3.0, size=n),
        "g": rng.choice(["a", "b", "c"], size=n),
        "k": rng.integers(0, 3, size=n),
    })


def _dummies(values, levels):
    return np.column_stack([(np.asarray(values) == level).astype(float) for level in levels])


def _json_round_trip(design):
    return FormulaDesign.from_dict(json.loads(json.dumps(design.to_dict(), allow_nan=False)))


def _assert_json_safe(value):
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for v in value.values():
            _assert_json_safe(v)
    elif isinstance(value, list):
        for v in value:
            _assert_json_safe(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)


# ---------------------------------------------------------------------- designs
def test_design_matches_hand_built_columns(frame):
    formula = "y ~ x + I(x**2) + np.log(z) + C(g) + x:z"
    design, X, y = FormulaDesign.from_data(formula, frame, fit_intercept=True)
    assert design.column_names == ["x", "I(x ** 2)", "np.log(z)", "C(g)[T.b]", "C(g)[T.c]",
                                   "x:z"]
    x, z = frame["x"].to_numpy(), frame["z"].to_numpy()
    expected = np.column_stack([x, x**2, np.log(z), _dummies(frame["g"], ["b", "c"]), x * z])
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(y, frame["y"].to_numpy())
    assert X.dtype == np.float64 and X.flags.c_contiguous
    assert design.response_name == "y"
    assert design.required_variables == ["g", "x", "z"]


def test_intercept_free_formula_codes_every_level(frame):
    design, X, _ = FormulaDesign.from_data("y ~ 0 + C(g) + x", frame, fit_intercept=False)
    assert design.column_names == ["C(g)[a]", "C(g)[b]", "C(g)[c]", "x"]
    expected = np.column_stack([_dummies(frame["g"], ["a", "b", "c"]), frame["x"]])
    np.testing.assert_array_equal(X, expected)


def test_string_and_integer_columns(frame):
    design, X, _ = FormulaDesign.from_data("y ~ g + C(k)", frame, fit_intercept=True)
    assert design.column_names == ["g[T.b]", "g[T.c]", "C(k)[T.1]", "C(k)[T.2]"]
    expected = np.column_stack([_dummies(frame["g"], ["b", "c"]), _dummies(frame["k"], [1, 2])])
    np.testing.assert_array_equal(X, expected)


def test_response_from_the_left_hand_side_is_transformed(frame):
    data = frame.assign(y=np.exp(frame["y"]))
    design, _, y = FormulaDesign.from_data("np.log(y) ~ x", data, fit_intercept=True)
    np.testing.assert_array_equal(y, np.log(data["y"].to_numpy()))
    assert design.response_name == "np.log(y)"
    np.testing.assert_array_equal(design.response(data.iloc[:5]), y[:5])


def test_one_sided_formula_takes_y_separately(frame):
    for formula in ("~ x + z", "x + z"):
        design, X, y = FormulaDesign.from_data(formula, frame, fit_intercept=True,
                                               y=frame["y"])
        np.testing.assert_array_equal(X, frame[["x", "z"]].to_numpy())
        np.testing.assert_array_equal(y, frame["y"].to_numpy())
        assert design.response_name is None and design.response(frame) is None
    with pytest.raises(ValueError, match="no response"):
        FormulaDesign.from_data("~ x", frame, fit_intercept=True)
    _, _, y = FormulaDesign.from_data("~ x", frame, fit_intercept=True, require_response=False)
    assert y is None


def test_y_given_with_a_two_sided_formula(frame):
    # equal: accepted (as scikit-learn tools pass y along)
    _, _, y = FormulaDesign.from_data("y ~ x", frame, fit_intercept=True, y=frame["y"])
    np.testing.assert_array_equal(y, frame["y"].to_numpy())
    with pytest.raises(ValueError, match="differs from the response"):
        FormulaDesign.from_data("y ~ x", frame, fit_intercept=True, y=frame["y"] + 1)
    # the data lack the response column: the given y is used
    design, _, y = FormulaDesign.from_data("y ~ x", frame[["x"]], fit_intercept=True,
                                           y=frame["y"])
    np.testing.assert_array_equal(y, frame["y"].to_numpy())
    np.testing.assert_array_equal(design.response(frame), frame["y"].to_numpy())
    np.testing.assert_array_equal(_json_round_trip(design).response(frame), frame["y"])


def test_dot_stands_for_the_other_columns(frame):
    design, X, _ = FormulaDesign.from_data("y ~ .", frame[["y", "x", "z"]], fit_intercept=True)
    assert design.column_names == ["x", "z"]
    np.testing.assert_array_equal(X, frame[["x", "z"]].to_numpy())


def test_dict_of_columns_is_accepted(frame):
    data = {"y": frame["y"].to_numpy(), "x": frame["x"].to_numpy()}
    _, X, y = FormulaDesign.from_data("y ~ x", data, fit_intercept=True)
    np.testing.assert_array_equal(X[:, 0], data["x"])
    with pytest.raises(TypeError, match="DataFrame"):
        FormulaDesign.from_data("y ~ x", frame.to_numpy(), fit_intercept=True)


# ---------------------------------------------------------------------- intercept
@pytest.mark.parametrize("formula", ["y ~ x - 1", "y ~ 0 + x"])
def test_formula_without_intercept_needs_fit_intercept_false(frame, formula):
    with pytest.raises(ValueError, match="has no intercept.*set fit_intercept=False"):
        FormulaDesign.from_data(formula, frame, fit_intercept=True)
    design, X, _ = FormulaDesign.from_data(formula, frame, fit_intercept=False)
    assert design.column_names == ["x"] and not design.fit_intercept


def test_formula_with_intercept_needs_fit_intercept_true(frame):
    with pytest.raises(ValueError, match="includes an intercept but fit_intercept=False"):
        FormulaDesign.from_data("y ~ x", frame, fit_intercept=False)
    design, X, _ = FormulaDesign.from_data("y ~ 1 + x", frame, fit_intercept=True)
    assert design.column_names == ["x"] and X.shape == (len(frame), 1)


# ---------------------------------------------------------------------- new rows
def test_new_rows_keep_training_levels_and_state(frame):
    formula = "y ~ C(g) + center(x) + scale(z)"
    design, X, _ = FormulaDesign.from_data(formula, frame, fit_intercept=True)
    x, z = frame["x"].to_numpy(), frame["z"].to_numpy()
    np.testing.assert_allclose(X[:, 2], x - x.mean(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(X[:, 3], (z - z.mean()) / z.std(ddof=1), rtol=1e-14)
    new = pd.DataFrame({"g": ["c", "c"], "x": [0.0, 1.0], "z": [2.0, 2.5]})
    out = design.transform(new)
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out[:, :2], [[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(out[:, 2], new["x"] - x.mean(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(out[:, 3], (new["z"] - z.mean()) / z.std(ddof=1), rtol=1e-14)
    # the training rows give the training design, bit for bit
    assert design.transform(frame).tobytes() == X.tobytes()


def test_response_of_new_rows(frame):
    design, _, _ = FormulaDesign.from_data("y ~ x", frame, fit_intercept=True)
    np.testing.assert_array_equal(design.response(frame.iloc[3:7]), frame["y"].iloc[3:7])
    assert design.response(frame.drop(columns="y")) is None
    assert design.has_response(frame) and not design.has_response(frame[["x"]])


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("formula", ["y ~ (x", "y ~ x +", "y ~ I(x**)"])
def test_unparsable_formula_is_quoted(frame, formula):
    with pytest.raises(ValueError, match=f"cannot parse formula '{re.escape(formula)}'"):
        FormulaDesign.from_data(formula, frame, fit_intercept=True)


POWER = re.escape("powers are written ** in regmix formulas, e.g. I(x**2)")


@pytest.mark.parametrize("formula", [
    "y ~ x + I(x^2)",        # a float column: Python's xor fails
    "y ~ x + I(k^2)",        # an integer column: xor would give k's bits with 2
    "y ~ x + I(x ^ -1)",
    "y ~ x + offset(z^2)",
    "y ~ x + I(x ^ z)",      # two float columns: refused by numpy, the hint added
])
def test_a_power_written_with_a_caret_says_how_to_write_it(frame, formula):
    with pytest.raises(ValueError, match=POWER):
        FormulaDesign.from_data(formula, frame, fit_intercept=True)


def test_a_power_in_the_gating_part_is_named_with_the_whole_formula(frame):
    with pytest.raises(ValueError, match=re.escape("formula 'y ~ x | I(z^2)': term "
                                                   "'I(z^2)' uses '^'") + ".*" + POWER):
        RegressionMixture(2, formula="y ~ x | I(z^2)").fit(frame)


def test_a_caret_keeps_its_meanings_that_are_not_powers(frame):
    """formulaic's ``(a + b)^2`` is the interactions; ``^`` of two booleans is their
    exclusive or; and a loaded model is read as it was fitted (no data columns)."""
    design, X, _ = FormulaDesign.from_data("y ~ (x + z)^2", frame, fit_intercept=True)
    assert design.column_names == ["x", "z", "x:z"]
    np.testing.assert_array_equal(X[:, 2], frame["x"] * frame["z"])
    design, X, _ = FormulaDesign.from_data("y ~ I((x > 0) ^ (z > 2))", frame,
                                           fit_intercept=True)
    np.testing.assert_array_equal(X[:, 0], (frame["x"] > 0) != (frame["z"] > 2))
    check_formula("y ~ x + I(k ^ 2)")


def test_empty_or_non_string_formula(frame):
    with pytest.raises(ValueError, match="empty"):
        FormulaDesign.from_data("  ", frame, fit_intercept=True)
    with pytest.raises(ValueError, match="must be a string"):
        FormulaDesign.from_data(None, frame, fit_intercept=True)


def test_unknown_column_is_named(frame):
    with pytest.raises(ValueError, match="uses 'w', which is not a column"):
        FormulaDesign.from_data("y ~ x + np.log(w)", frame, fit_intercept=True)
    with pytest.raises(ValueError, match="uses 'response'"):
        FormulaDesign.from_data("response ~ x", frame, fit_intercept=True)


def test_missing_column_in_new_rows_is_named(frame):
    design, _, _ = FormulaDesign.from_data("y ~ x + C(g)", frame, fit_intercept=True)
    with pytest.raises(ValueError, match="uses 'g', which is not a column"):
        design.transform(frame[["x"]])


def test_non_numeric_response_is_named(frame):
    with pytest.raises(ValueError, match="response 'g' is not numeric"):
        FormulaDesign.from_data("g ~ x", frame, fit_intercept=True)


def test_several_responses_or_parts_are_refused(frame):
    with pytest.raises(ValueError, match="one response"):
        FormulaDesign.from_data("y + z + x ~ x", frame, fit_intercept=True)
    # two response terms are a binomial's successes and failures: two columns
    _, _, response = FormulaDesign.from_data("y + z ~ x", frame, fit_intercept=True)
    np.testing.assert_array_equal(response, frame[["y", "z"]].to_numpy())
    with pytest.raises(ValueError, match="several parts"):
        FormulaDesign.from_data("y ~ x | z", frame, fit_intercept=True)
    with pytest.raises(ValueError, match="no design column besides the intercept"):
        FormulaDesign.from_data("y ~ 1", frame, fit_intercept=True)


def test_nan_from_a_transform_names_row_and_column(frame):
    data = frame.assign(z=frame["z"].where(frame.index != 6, -1.0))
    with pytest.raises(ValueError, match=r"NaN at row 6, column 'np.log\(z\)'"):
        FormulaDesign.from_data("y ~ x + np.log(z)", data, fit_intercept=True)
    data = frame.assign(z=frame["z"].where(frame.index != 2, 0.0))
    with pytest.raises(ValueError, match=r"infinity at row 2, column 'np.log\(z\)'"):
        FormulaDesign.from_data("y ~ np.log(z)", data, fit_intercept=True)


def test_missing_values_are_refused_not_dropped(frame):
    data = frame.set_index(np.arange(100, 100 + len(frame)))  # rows are counted, not labels
    data.loc[104, "x"] = np.nan
    with pytest.raises(ValueError, match=r"NaN at row 4, column 'x'"):
        FormulaDesign.from_data("y ~ x", data, fit_intercept=True)
    data = frame.assign(g=frame["g"].where(frame.index != 5, None))
    with pytest.raises(ValueError, match=r"'C\(g\)'.*missing at row 5"):
        FormulaDesign.from_data("y ~ C(g)", data, fit_intercept=True)
    data = frame.assign(y=frame["y"].where(frame.index != 8, np.nan))
    with pytest.raises(ValueError, match=r"response 'y' contains NaN at row 8"):
        FormulaDesign.from_data("y ~ x", data, fit_intercept=True)


def test_unseen_level_is_refused(frame):
    design, _, _ = FormulaDesign.from_data("y ~ x + C(g)", frame, fit_intercept=True)
    new = pd.DataFrame({"x": [0.0, 1.0, 2.0], "g": ["a", "d", "b"]})
    with pytest.raises(ValueError, match=r"level 'd' at row 1, not seen in the training"):
        design.transform(new)
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["a", None]})
    with pytest.raises(ValueError, match=r"missing at row 1"):
        design.transform(new)


def test_changed_column_kind_is_refused(frame):
    design, _, _ = FormulaDesign.from_data("y ~ x", frame, fit_intercept=True)
    with pytest.raises(ValueError, match="cannot evaluate formula"):
        design.transform(pd.DataFrame({"x": ["a", "b"]}))


# ---------------------------------------------------------------------- saving
RICH = ("y ~ x + I(x**2) + np.log(z) + C(g) + x:z + center(x) + scale(z) + poly(x, 2)"
        " + bs(z, df=4) + C(k) + g:x + C(g, contr.sum)")


def test_saved_design_is_json_safe(frame):
    design, _, _ = FormulaDesign.from_data(RICH, frame, fit_intercept=True)
    d = design.to_dict()
    _assert_json_safe(d)
    assert d["formula"] == RICH and d["column_names"] == design.column_names
    assert d["rhs"]["encoder_state"]["C(g)"]["state"]["categories"] == ["a", "b", "c"]
    assert d["rhs"]["encoder_state"]["C(k)"]["state"]["categories"] == [0, 1, 2]


def test_rebuilt_design_is_bit_identical(frame):
    design, X, y = FormulaDesign.from_data(RICH, frame, fit_intercept=True)
    again = _json_round_trip(design)
    assert again.column_names == design.column_names
    assert again.formula == RICH and again.fit_intercept
    assert again.transform(frame).tobytes() == X.tobytes()
    new = pd.DataFrame({"x": [-0.3, 0.1, 0.7], "z": [1.5, 2.0, 2.9], "g": ["c", "a", "c"],
                        "k": [2, 2, 0]})
    assert again.transform(new).tobytes() == design.transform(new).tobytes()
    assert again.response(frame).tobytes() == y.tobytes()
    # C(g) and center(x) by hand, on rows that differ from the training rows
    names = again.column_names
    out = again.transform(new)
    np.testing.assert_array_equal(out[:, names.index("C(g)[T.c]")], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(out[:, names.index("center(x)")],
                                  new["x"].to_numpy() - frame["x"].to_numpy().mean())


def test_rebuilt_design_without_intercept_and_one_sided(frame):
    design, X, _ = FormulaDesign.from_data("0 + C(g) + x", frame, fit_intercept=False,
                                           y=frame["y"])
    again = _json_round_trip(design)
    assert again.transform(frame).tobytes() == X.tobytes()
    assert again.response(frame) is None and not again.fit_intercept
    with pytest.raises(ValueError, match="level 'z'"):
        again.transform(pd.DataFrame({"g": ["z"], "x": [1.0]}))


def test_damaged_saved_design_is_refused(frame):
    design, _, _ = FormulaDesign.from_data("y ~ x + C(g)", frame, fit_intercept=True)
    d = json.loads(json.dumps(design.to_dict()))
    for damage in (
        lambda d: d.pop("rhs"),
        lambda d: d.update(column_names=["x"]),
        lambda d: d.update(fit_intercept=False),
        lambda d: d["rhs"]["structure"][0].update(term=99),
        lambda d: d["rhs"].update(transform_state={"__scalar__": ["<M8[s]", 1]}),
        lambda d: d["rhs"].update(structure=None),
        lambda d: d["rhs"]["encoder_state"]["C(g)"].update(kind="colourful"),
        lambda d: d["rhs"]["terms"][1][0].__setitem__(1, "magic"),
    ):
        broken = json.loads(json.dumps(d))
        damage(broken)
        with pytest.raises(ValueError, match="saved formula design is damaged"):
            FormulaDesign.from_dict(broken)


def test_state_codec_round_trips_types_and_bits():
    state = {
        "center": np.float64(0.1 + 0.2),
        "small": np.float32(1 / 3),
        "count": np.int64(7),
        "flag": np.bool_(True),
        "alpha": {0: np.float64(-1.5), 1: 2.25},
        "knots": [0.1, 1e-300, -2.5],
        "arr": np.array([[1.0, np.nan], [np.inf, -0.0]]),
        "names": np.array(["a", "b"]),
        "pair": (1, "b"),
        "missing": float("nan"),
        "__odd": None,
    }
    again = decode_state(json.loads(json.dumps(encode_state(state), allow_nan=False)))
    assert list(again) == list(state)
    for key, value in state.items():
        got = again[key]
        assert type(got) is type(value), key
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype and got.tobytes() == value.tobytes()
        elif isinstance(value, np.generic):
            assert got.tobytes() == value.tobytes()
    assert again["alpha"] == {0: -1.5, 1: 2.25} and again["pair"] == (1, "b")
    assert np.isnan(again["missing"]) and again["knots"] == state["knots"]
    with pytest.raises(ValueError, match="cannot save"):
        encode_state({"f": len})


def test_gating_offsets_and_plain_formulas_are_split_on_formulaic_s_tokens():
    assert split_gating("y ~ x | z1 + z2") == ("y ~ x", "z1 + z2")
    assert split_gating("y ~ I((x > 0) | (x < -1))") == ("y ~ I((x > 0) | (x < -1))", None)
    assert split_gating("y ~ (x | z)") == ("y ~ (x | z)", None)
    for bad in ("y ~ x |", "y ~ x | z | w"):
        with pytest.raises(ValueError, match="write the gating variables once"):
            split_gating(bad)
    assert split_offsets("y ~ x + offset(np.log(t)) + z") == ("y ~ x + z", ["np.log(t)"])
    assert split_offsets("y ~ offset(a) + x") == ("y ~ x", ["a"])
    assert split_offsets("y ~ offset(a)") == ("y ~ 1", ["a"])
    assert split_offsets("y ~ x + myoffset(a)") == ("y ~ x + myoffset(a)", [])
    assert plain_formula("y ~ x1 + x2") == ("y", ["x1", "x2"])
    for other in ("y ~ I(x**2)", "y ~ x | z", "y ~ x * z", "y + w ~ x", "y ~ a.b", "y ~ (x"):
        assert plain_formula(other) is None


def test_large_designs_built_in_slices_equal_the_whole(monkeypatch):
    """A formula that learns nothing from the rows builds the design of many rows a
    slice at a time: the same design, spec and row of a NaN as one materialisation;
    a formula with levels or a stateful transform is materialised whole."""
    from regmix.estimator import formula as formula_module
    from regmix.estimator.formula import FormulaDesign

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=1000), "z": rng.uniform(1, 2, 1000),
                          "g": rng.choice(["a", "b"], 1000), "y": rng.normal(size=1000)})
    formulas = ["y ~ x + I(x**2) + np.log(z)", "y ~ x + C(g)", "y ~ center(x) + z"]
    whole = {f: FormulaDesign.from_data(f, frame, fit_intercept=True) for f in formulas}
    sliced_calls = []
    real = formula_module._sliced_design
    monkeypatch.setattr(formula_module, "SLICE_ROWS", 64)
    monkeypatch.setattr(formula_module, "_sliced_design",
                        lambda *a, **k: sliced_calls.append(a[0]) or real(*a, **k))
    for f in formulas:
        got = FormulaDesign.from_data(f, frame, fit_intercept=True)
        np.testing.assert_array_equal(got.X, whole[f].X)
        np.testing.assert_array_equal(got.y, whole[f].y)
        assert got.design.column_names == whole[f].design.column_names
        np.testing.assert_array_equal(got.design.transform(frame), whole[f].X)
    assert sliced_calls == [formulas[0], formulas[0]]
    bad = frame.copy()
    bad.loc[700, "z"] = -1.0
    with pytest.raises(ValueError, match="NaN at row 700, column 'np.log\\(z\\)'"):
        FormulaDesign.from_data(formulas[0], bad, fit_intercept=True)
