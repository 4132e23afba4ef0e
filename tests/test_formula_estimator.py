"""RegressionMixture with a formula: data frames in, the same fit as the arrays."""

import numpy as np
import pandas as pd
import pytest

from regmix import RegressionMixture, select_components


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.uniform(0.5, 3.0, n)
    g = rng.choice(["a", "b", "c"], n)
    z = rng.integers(0, 2, n)
    shift = pd.Series(g).map({"a": 0.0, "b": 1.0, "c": -1.0}).to_numpy()
    y = np.where(z == 1, 1 + 2 * x, -1 - x + 0.5 * x**2) + shift + rng.normal(0, 0.3, n)
    return pd.DataFrame({"tuned": y, "stretch": x, "group": g})


def _by_hand(frame):
    """The design of 'tuned ~ stretch + I(stretch**2) + C(group)', built in the test."""
    x = frame["stretch"].to_numpy()
    return np.column_stack([x, x**2, (frame["group"] == "b").to_numpy(float),
                            (frame["group"] == "c").to_numpy(float)])


FORMULA = "tuned ~ stretch + I(stretch**2) + C(group)"


def test_formula_fit_equals_array_fit(frame):
    by_formula = RegressionMixture(2, formula=FORMULA, random_state=0).fit(frame)
    by_array = RegressionMixture(2, random_state=0).fit(_by_hand(frame), frame["tuned"])
    np.testing.assert_allclose(by_formula.coef_, by_array.coef_, rtol=1e-10)
    assert by_formula.log_likelihood_ == pytest.approx(by_array.log_likelihood_, rel=1e-12)
    assert by_formula.coef_names() == ["stretch", "I(stretch ** 2)", "C(group)[T.b]",
                                       "C(group)[T.c]"]


def test_predict_on_new_frame_uses_training_levels(frame):
    model = RegressionMixture(2, formula=FORMULA, random_state=0).fit(frame)
    new = frame.iloc[:5].drop(columns="tuned").copy()
    new["group"] = ["c", "c", "c", "c", "c"]  # one level only: the design keeps all columns
    expected = _by_hand(new) @ model.coef_.T + model.intercept_
    np.testing.assert_allclose(model.predict_components(new), expected, rtol=1e-12)
    np.testing.assert_allclose(model.predict(new), expected @ model.weights_, rtol=1e-12)
    # the response is read from the frame when it is there
    np.testing.assert_allclose(model.posterior(frame.iloc[:5]),
                               model.posterior(frame.iloc[:5], frame["tuned"].iloc[:5]))
    with pytest.raises(ValueError, match="pass y or include the response"):
        model.posterior(new)


def test_one_sided_formula_with_y(frame):
    model = RegressionMixture(2, formula="~ stretch", random_state=0).fit(frame, frame["tuned"])
    assert model.coef_.shape == (2, 1)


def test_intercept_contradiction_is_refused(frame):
    with pytest.raises(ValueError, match="fit_intercept"):
        RegressionMixture(2, formula="tuned ~ stretch - 1").fit(frame)
    with pytest.raises(ValueError, match="fit_intercept"):
        RegressionMixture(2, formula="tuned ~ stretch", fit_intercept=False).fit(frame)
    model = RegressionMixture(2, formula="tuned ~ stretch - 1", fit_intercept=False,
                              random_state=0).fit(frame)
    np.testing.assert_array_equal(model.intercept_, 0.0)


def test_unknown_column_is_named(frame):
    with pytest.raises(ValueError, match="stretchratio"):
        RegressionMixture(2, formula="tuned ~ stretchratio").fit(frame)


def test_select_components_with_formula(frame):
    sel = select_components(frame, formula="tuned ~ stretch + I(stretch**2)",
                            n_components=[1, 2], random_state=0)
    assert sel.best_n_components_ == 2
    assert sel.best_estimator_.formula == "tuned ~ stretch + I(stretch**2)"


def test_warm_start_with_formula(frame):
    model = RegressionMixture(2, formula=FORMULA, warm_start=True, random_state=0, max_iter=1,
                              init="random", n_init=1, tol=0.0, split_merge=False)
    with pytest.warns(Warning):
        model.fit(frame)
    first = model.log_likelihood_
    with pytest.warns(Warning):
        model.fit(frame)
    assert model.log_likelihood_ > first
    model.set_params(n_components=3)
    with pytest.raises(ValueError, match="n_components changed from 2 to 3"):
        model.fit(frame)


def test_non_numeric_response_on_new_data_is_named(frame):
    model = RegressionMixture(2, formula="tuned ~ stretch", random_state=0).fit(frame)
    with pytest.raises(ValueError, match="response column 'tuned' is not numeric"):
        model.posterior(frame.assign(tuned=["a", "b"] * 200))
    assert model.component_counts_.dtype.kind == "i"
    assert model.component_counts_.sum() == len(frame)


def test_methods_taking_y_read_it_from_the_frame(frame):
    model = RegressionMixture(2, formula=FORMULA, random_state=0).fit(frame)
    y = frame["tuned"].to_numpy()
    residual = y - model.predict(frame)
    r2 = 1 - residual @ residual / np.sum((y - y.mean()) ** 2)
    assert model.score(frame) == pytest.approx(r2, rel=1e-12)
    assert model.score(frame) == model.score(frame, y)
    w = np.linspace(0.5, 2.0, len(y))
    assert model.score(frame, sample_weight=w) == model.score(frame, y, sample_weight=w)
    for name in ("log_likelihood", "aic", "bic", "icl"):
        assert getattr(model, name)(frame) == getattr(model, name)(frame, y), name
    np.testing.assert_array_equal(model.classify(frame), model.classify(frame, y))
    np.testing.assert_array_equal(model.posterior(frame), model.posterior(frame, y))
    with pytest.raises(ValueError, match="no response 'tuned'"):
        model.score(frame.drop(columns="tuned"))


def test_fitted_criteria_are_those_of_the_training_rows(frame):
    model = RegressionMixture(2, formula=FORMULA, random_state=0).fit(frame)
    n, d, ll = len(frame), model.n_parameters_, model.log_likelihood_
    assert model.aic_ == pytest.approx(-2 * ll + 2 * d, rel=1e-12)
    assert model.bic_ == pytest.approx(-2 * ll + d * np.log(n), rel=1e-12)
    resp = model.posterior(frame)
    icl = model.bic_ - 2 * np.log(resp.max(axis=1)).sum()
    assert model.icl_ == pytest.approx(icl, rel=1e-10)
    assert model.aic_ == pytest.approx(model.aic(frame), rel=1e-10)


def test_design_names_its_variables_and_their_kinds():
    from regmix.estimator.formula import FormulaDesign

    data = pd.DataFrame({"y": np.arange(8.0), "x": np.arange(1.0, 9.0),
                         "code": [1, 2] * 4, "Treatment": ["No", "Yes"] * 4,
                         "Hours": np.linspace(1, 2, 8), "x2": np.ones(8)})
    formula = "y ~ Treatment * np.log(x) + C(code) + offset(np.log(Hours))"
    design, _, _ = FormulaDesign.from_data(formula, data, fit_intercept=True)
    kinds = {"Treatment": "categorical", "x": "numerical", "code": "categorical"}
    assert design.variables() == kinds
    assert list(design.variables()) == ["Treatment", "x", "code"]  # order of the terms
    assert design.variables(data.columns) == {**kinds, "Hours": "numerical"}
    assert FormulaDesign.from_dict(design.to_dict()).variables() == kinds


def test_a_column_named_like_a_transform_is_required_at_predict():
    # "Treatment" is also the name of formulaic's contrast transform: a frame without
    # the column must be refused by name, not read as the transform
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"x": rng.normal(size=n), "Treatment": rng.choice(["a", "b"], n)})
    df["y"] = df.x + (df.Treatment == "b") + rng.normal(size=n)
    model = RegressionMixture(2, formula="y ~ x + Treatment", random_state=0).fit(df)
    assert model.formula_design_.required_variables == ["Treatment", "x"]
    assert np.isfinite(model.predict(df)).all()
    with pytest.raises(ValueError, match="uses 'Treatment', which is not a column"):
        model.predict(df[["x"]])
