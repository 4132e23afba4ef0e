"""A formula runs only data columns, numbers and allowed transforms, checked before
anything is evaluated: at fit, and when a model file is read (a model file is data)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture
from regmix.estimator.formula import FormulaDesign
from regmix.estimator.formula_safety import check_expression, check_formula
from regmix.persistence import load, save

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 120
    x1, x2 = rng.normal(size=n), rng.uniform(1.0, 3.0, size=n)
    g = np.where(rng.uniform(size=n) < 0.5, 1.0, -1.0)
    return pd.DataFrame({
        "x1": x1, "x2": x2, "z": rng.normal(size=n), "t": rng.uniform(0.5, 2.0, size=n),
        "f": rng.choice(["a", "b", "c"], size=n), "my col": rng.normal(size=n),
        "y": 1.0 + g * 2.0 * x1 + 0.5 * x2 + 0.3 * rng.normal(size=n),
    })


def _model(formula: str) -> RegressionMixture:
    return RegressionMixture(2, formula=formula, n_init=1, max_iter=30, random_state=0)


def _marker_call(marker: Path) -> str:
    return f"open('{marker.as_posix()}', 'w').close()"


# ---------------------------------------------------------------------- at fit
def test_import_through_np_builtins_is_refused_at_fit(frame, tmp_path):
    marker = tmp_path / "pwned"
    term = f"np.__builtins__['__import__']('os').system('touch {marker.as_posix()}')"
    with pytest.raises(ValueError, match=r"formula term \"np\.__builtins__.*is not allowed: "
                                         r"attribute '__builtins__'"):
        _model(f"y ~ x1 + {term}").fit(frame)
    assert not marker.exists()


def test_open_in_a_term_is_refused_before_evaluation(frame, tmp_path):
    marker = tmp_path / "f.txt"
    formula = f"y ~ x1 + I({_marker_call(marker)} or x2)"
    with pytest.raises(ValueError, match=r"formula term \"I\(open.*is not allowed: "
                                         r"call of 'open', which is not an allowed"):
        _model(formula).fit(frame)
    assert not marker.exists()
    with pytest.raises(ValueError, match="is not allowed"):  # the design alone, too
        FormulaDesign.from_data(formula, frame, fit_intercept=True)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["gating", "offset"])
def test_gating_part_and_offsets_are_checked_first(frame, tmp_path, where):
    marker = tmp_path / where
    bad = f"I({_marker_call(marker)} or z)"
    formula = (f"y ~ x1 | z + {bad}" if where == "gating"
               else f"y ~ x1 + offset(np.log(t) + {bad})")
    with pytest.raises(ValueError, match="is not allowed: call of 'open'"):
        _model(formula).fit(frame)
    assert not marker.exists()


@pytest.mark.parametrize(("term", "why"), [
    ("I(x1.__class__)", "attribute '__class__'"),
    ("I(x1.real)", "attribute 'real'"),
    ("np.load(x1)", "attribute 'load' of np"),
    ("np.linalg.norm(x1)", "attribute 'linalg' of np"),
    ("I(__import__)", "name '__import__'"),
    ("I((lambda: x1)())", "a lambda"),
    ("I([v for v in x1])", "a comprehension"),
    ("I(x1[0])", "a subscript"),
    ("np.log(*x1)", "a starred argument"),
    ("I((w := x1))", r"an assignment \(:=\)"),
    ("I(f'{x1}')", "an f-string"),
    ("eval('x1')", "call of 'eval'"),
    ("I('a' * 10)", "a string outside the arguments"),
    ("I(x1 == 'a' * 10)", "a string outside the arguments"),
    ("I(9 ** 9 ** 9)", "the exponent of '\\*\\*'"),
    ("I((9 ** 99) ** 99)", "powers cannot be nested"),
    ("I(9 ** (10 ** 9 if x1 else 0))", "the exponent of"),
    ("I(9 ** np.maximum(x1, 10 ** 9))", "the exponent of"),
    ("I(9 ** (x1 * 0 + 99999999))", "the exponent of"),
    ("I(x1 << 3)", "operator LShift"),
    ("I(q)", "uses 'q', which is not a column"),
])
def test_each_kind_of_code_is_refused_with_its_reason(term, why):
    with pytest.raises(ValueError, match=why) as info:
        check_formula(f"y ~ x1 + {term}", ["y", "x1"])
    assert "only data columns, numbers and the transforms" in str(info.value) or "uses" in why


def test_allowed_formulas_fit_and_predict(frame):
    formula = ("y ~ x1 + I(x1**2) + np.log(x2) + C(f) + `my col` + center(z) "
               "+ bs(x2, df=3) + offset(np.log(t)) | z")
    model = _model(formula).fit(frame)
    assert np.all(np.isfinite(model.predict(frame)))
    assert "C(f)[T.b]" in model.formula_design_.column_names
    # the same terms, computed independently of formulaic
    X = model.formula_design_.transform(frame)
    names = model.formula_design_.column_names
    np.testing.assert_array_equal(X[:, names.index("I(x1 ** 2)")], frame["x1"] ** 2)
    np.testing.assert_array_equal(X[:, names.index("np.log(x2)")], np.log(frame["x2"]))
    np.testing.assert_allclose(X[:, names.index("center(z)")], frame["z"] - frame["z"].mean())
    np.testing.assert_array_equal(model.formula_design_.offset(frame), np.log(frame["t"]))


@pytest.mark.parametrize("formula", [
    "y ~ C(f, levels=['a', 'b', 'c']) + C(f, contr.treatment('b')) + x1",
    "y ~ np.power(x2, 0.5) + I(x2 ** (1/3)) + I(x2 ** -2) + I(2 ** x1) + I(x2 ** (x1 / 2))",
    "y ~ I(x1 > 0) + I((x1 > 0) & (z < 1)) + I(x1 if True else z) + {x1 + z}",
    "y ~ x1 + I(f == 'b') + I(f != \"c\")",
    "y ~ np.log(`my col` ** 2 + 1) + poly(x1, degree=2) + scale(x2) + standardize(z)",
])
def test_allowed_terms_pass(formula, frame):
    check_formula(formula, list(frame.columns))
    FormulaDesign.from_data(formula, frame, fit_intercept=True)


def test_a_loaded_design_allows_any_plain_name_but_no_code():
    check_expression("np.log(anything) + I(`a b` ** 2)")
    with pytest.raises(ValueError, match="call of 'open'"):
        check_expression("I(open('x'))")
    with pytest.raises(ValueError, match="name '__builtins__'"):
        check_expression("I(__builtins__)")


# ---------------------------------------------------------------------- at load
@pytest.fixture(scope="module")
def saved(frame, tmp_path_factory):
    model = _model("y ~ x1 + np.log(x2) + C(f)").fit(frame)
    path = tmp_path_factory.mktemp("saved") / "model.json"
    save(model, path)
    return model, json.loads(path.read_text())


def _edited(content: dict, path: Path, old: str, new: str) -> Path:
    """``content`` with every occurrence of the string ``old`` (a formula or a stored
    factor expression) replaced by ``new``, written to ``path``."""
    text = json.dumps(content).replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    path.write_text(text)
    return path


def _assert_refused(path: Path, frame, marker: Path, term: str) -> None:
    with pytest.raises(ValueError, match=r"is damaged or unsafe: formula term") as info:
        load(path).predict(frame)
    assert str(path) in str(info.value) and term in str(info.value)
    assert not marker.exists()


def test_malicious_factor_expression_in_model_file(saved, frame, tmp_path):
    model, content = saved
    marker = tmp_path / "pwned"
    evil = f"np.log({_marker_call(marker)} or x2)"
    path = _edited(content, tmp_path / "evil.json", "np.log(x2)", evil)
    assert evil in path.read_text()
    _assert_refused(path, frame, marker, "np.log(open(")
    # the stored expressions only (formula strings untouched) are refused too
    fake = json.loads(json.dumps(content))
    rhs = fake["formula_design"]["rhs"]
    rhs["terms"] = [[[evil if e == "np.log(x2)" else e, m, k] for e, m, k in term]
                    for term in rhs["terms"]]
    for entry in rhs["structure"]:
        for st in entry["scoped_terms"]:
            st["factors"] = [[evil if e == "np.log(x2)" else e, r] for e, r in st["factors"]]
    rhs["encoder_state"] = {(evil if e == "np.log(x2)" else e): v
                            for e, v in rhs["encoder_state"].items()}
    path = tmp_path / "evil_terms.json"
    path.write_text(json.dumps(fake))
    _assert_refused(path, frame, marker, "np.log(open(")
    # and the unedited file still predicts as the model did
    path = tmp_path / "unedited.json"
    path.write_text(json.dumps(content))
    np.testing.assert_array_equal(load(path).predict(frame), model.predict(frame))


def test_malicious_formula_string_in_model_file(saved, frame, tmp_path):
    _, content = saved
    marker = tmp_path / "pwned"
    term = f"np.__builtins__['__import__']('os').system('touch {marker.as_posix()}')"
    path = _edited(content, tmp_path / "evil.json", "y ~ x1 + np.log(x2) + C(f)",
                   f"y ~ x1 + np.log(x2) + C(f) + offset({term})")
    _assert_refused(path, frame, marker, "np.__builtins__")


def test_python_factor_disguised_by_its_evaluation_method(saved, frame, tmp_path):
    _, content = saved
    marker = tmp_path / "pwned"
    fake = json.loads(json.dumps(content))
    fake["formula_design"]["rhs"]["terms"][1][0] = [f"I({_marker_call(marker)})", "python",
                                                    "unknown"]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(fake))
    _assert_refused(path, frame, marker, "I(open(")


def test_cli_predict_refuses_an_unsafe_model(saved, frame, tmp_path):
    from click.testing import CliRunner

    from regmix.cli import main

    _, content = saved
    marker = tmp_path / "pwned"
    path = _edited(content, tmp_path / "evil.json", "np.log(x2)",
                   f"np.log({_marker_call(marker)} or x2)")
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    result = CliRunner().invoke(main, ["predict", str(path), str(data)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "is damaged or unsafe: formula term" in lines[0]
    assert not marker.exists()


@pytest.mark.parametrize("name", ["gaussian_formula", "gating_formula", "poisson_offset"])
def test_golden_formula_models_still_load(name, tmp_path):
    path = tmp_path / f"{name}.json"
    shutil.copy(GOLDEN / f"{name}.json", path)
    assert load(path).formula is not None
