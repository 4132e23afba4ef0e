"""The summary report: header values against direct formulas, and its three renderings."""

import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import binom, norm

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture
from regmix.inference.bootstrap import bootstrap
from regmix.inference.covariance import coef_table, covariance, natural_parameters
from regmix.inference.information import observed_information, parameter_index
from regmix.inference.summary import Summary, format_value, make_summary

from .reference import gated_lines

TRUTH = {"weights": [0.6, 0.4], "coef": [[2.0, 0.0], [-2.0, 1.0]], "intercept": [2.0, -2.0],
         "sigma": [0.5, 1.0]}


def _wald_table(model, X, y, w=None):
    full = np.column_stack([model.intercept_, model.coef_])
    D = np.column_stack([np.ones(len(y)), X])
    info = observed_information(model.weights_, full, model.sigma_, D, y, w)
    cov = covariance(model.weights_, full, model.sigma_, info)
    index = parameter_index(model.n_components, model.coef_names(), model.fit_intercept)
    return coef_table(natural_parameters(model.weights_, full, model.sigma_), cov, index)


@pytest.fixture(scope="module")
def fitted():
    X, y, _, _ = make_regression_mixture(300, **TRUTH, random_state=2)
    X = pd.DataFrame(X, columns=["log_x", "dose%"])
    model = RegressionMixture(2, random_state=0).fit(X, y)
    table = _wald_table(model, X.to_numpy(), y)
    return X, y, model, table, make_summary(model, X, y, table)


def _densities(model, X, y):
    means = np.asarray(X) @ model.coef_.T + model.intercept_
    return model.weights_ * norm.pdf(y[:, None], means, model.sigma_)


# ---------------------------------------------------------------------- header
def test_header_values_equal_direct_formulas(fitted):
    X, y, model, _, summary = fitted
    dens = _densities(model, X, y)
    ll = np.log(dens.sum(axis=1)).sum()
    resp = dens / dens.sum(axis=1, keepdims=True)
    n, d = len(y), 2 * 3 + 2 + 1
    h = summary.header
    assert h["No. observations"] == n and h["Components"] == 2
    assert h["Parameters"] == d
    assert h["Log-likelihood"] == pytest.approx(ll, rel=1e-10)
    assert h["AIC"] == pytest.approx(-2 * ll + 2 * d, rel=1e-10)
    assert h["BIC"] == pytest.approx(-2 * ll + d * np.log(n), rel=1e-10)
    hard = resp.argmax(axis=1)
    icl = -2 * ll + d * np.log(n) - 2 * np.log(resp[np.arange(n), hard]).sum()
    assert h["ICL"] == pytest.approx(icl, rel=1e-10)
    np.testing.assert_allclose(h["Size (posterior)"], resp.sum(axis=0), rtol=1e-10)
    np.testing.assert_array_equal(h["Size (hard)"], np.bincount(hard, minlength=2))
    assert h["Converged"] is True and h["Iterations"] == model.n_iter_


def test_weighted_header_uses_the_weights(fitted):
    X, y, model, table, _ = fitted
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    summary = make_summary(model, X, y, table, sample_weight=w)
    dens = _densities(model, X, y)
    resp = dens / dens.sum(axis=1, keepdims=True)
    assert summary.header["Sum of weights"] == pytest.approx(w.sum())
    assert summary.header["Log-likelihood"] == pytest.approx(w @ np.log(dens.sum(axis=1)))
    np.testing.assert_allclose(summary.header["Size (posterior)"], w @ resp, rtol=1e-10)
    assert "Sum of weights:" in summary.as_text()


# ---------------------------------------------------------------------- text
def test_text_contains_the_header_and_every_parameter(fitted):
    _, _, model, table, summary = fitted
    text = str(summary)
    assert text == summary.as_text() == repr(summary)
    for key in ("Log-likelihood", "AIC", "BIC", "ICL", "No. observations", "Components",
                "Converged", "Iterations"):
        assert f"{key}:" in text
        assert format_value(summary.header[key]) in text
    for size in summary.header["Size (posterior)"]:
        assert format_value(size) in text
    lines = text.splitlines()
    for (component, name), row in table.iterrows():
        heading = lines.index(f"Component {component}")
        matches = [s for s in lines[heading:] if s.split()[:1] == [name]]
        assert matches, name
        assert f"{row['estimate']:.4f}" in matches[0]
        assert f"{row['std_err']:.4f}" in matches[0]
    assert "Standard errors: observed information." in text
    assert "[0.025" in text and "0.975]" in text


def test_text_is_aligned(fitted):
    text = fitted[-1].as_text()
    lines = text.splitlines()
    width = len(lines[1])
    assert width >= 78 and set(lines[1]) == {"="}
    assert all(len(s) <= width for s in lines if not s.startswith(("Standard", "z and")))
    rows = [s for s in lines if s.startswith("  ") and s[2].isalpha()]
    assert len(rows) == 10
    assert len({len(s) for s in rows if "sigma" not in s and "weight" not in s}) == 1
    # the estimates' decimal points line up
    assert len({s.index(".") for s in rows}) == 1


def test_untested_cells_are_blank(fitted):
    text = fitted[-1].as_text()
    sigma_rows = [s for s in text.splitlines() if s.strip().startswith("sigma")]
    assert len(sigma_rows) == 2
    assert all(len(s.split()) == 5 for s in sigma_rows)  # name, estimate, se, interval
    assert "nan" not in text.lower()


def test_long_names_stand_above_their_values():
    name = "a_very_long_feature_name_" * 3
    index = pd.MultiIndex.from_product([[1], [name, "b"]])
    table = coef_table([1.0, 2.0], np.diag([0.04, 0.01]), index)
    lines = Summary({"Components": 1}, table).as_text().splitlines()
    assert len(lines[1]) == 80 and all(len(s) <= 80 for s in lines)
    i = lines.index("  " + name)
    assert lines[i + 1].split()[:2] == ["1.0000", "0.2000"]
    assert lines[i + 2].split()[:3] == ["b", "2.0000", "0.1000"]


def test_flat_index_and_missing_columns():
    table = coef_table([1.0, 2.0], np.diag([0.01, 0.04]), pd.Index(["a", "b"]))
    text = Summary({"Model": "test"}, table).as_text()
    assert "Component" not in text and "  a" in text and "  b" in text
    with pytest.raises(ValueError, match="missing columns"):
        Summary({}, table.drop(columns="z"))


def test_bootstrap_table_in_a_summary(fitted):
    X, y, model, _, _ = fitted
    init = {"weights": model.weights_, "coef": model.coef_, "intercept": model.intercept_,
            "sigma": model.sigma_}

    def fit_fn(Xb, yb, w):
        return RegressionMixture(2, init=init, n_jobs=1).fit(Xb, yb, w)

    result = bootstrap(fit_fn, X.to_numpy(), y, n_boot=10, kind="nonparametric",
                       random_state=0, reference=model)
    text = make_summary(model, X, y, result.table()).as_text()
    assert "nonparametric bootstrap (10 replicates" in text


# ---------------------------------------------------------------------- HTML and LaTeX
def test_html_is_a_well_formed_table(fitted):
    _, _, _, table, summary = fitted
    assert summary._repr_html_() == summary.as_html()
    root = ET.fromstring(summary.as_html())
    assert root.tag == "div"
    tables = root.findall("table")
    assert [t.get("class") for t in tables] == [
        "regmix-summary-header", "regmix-summary-components", "regmix-summary-coefficients"]
    coefficients = tables[-1]
    width = len(coefficients.find("thead/tr"))
    body = coefficients.findall("tbody/tr")
    for tr in body:
        assert sum(int(cell.get("colspan", 1)) for cell in tr) == width == 7
    names = [tr[0].text for tr in body if len(tr) > 1]
    assert names == [name for _, name in table.index]
    assert "P>|z|" in ET.tostring(coefficients, encoding="unicode").replace("&gt;", ">")


def test_latex_tabulars(fitted):
    latex = fitted[-1].as_latex()
    assert latex.count(r"\begin{tabular}") == 3 == latex.count(r"\end{tabular}")
    assert r"\begin{tabular}{lrrrrrr}" in latex
    assert r"log\_x" in latex and r"dose\%" in latex
    assert r"P\textgreater{}\textbar{}z\textbar{}" in latex
    coefficients = latex.split(r"\begin{tabular}")[-1]
    rows = [s for s in coefficients.splitlines() if s.endswith(r"\\")
            and not s.startswith(r"\multicolumn")]
    assert len(rows) == 1 + 10
    assert all(s.replace(r"\&", "").count("&") == 6 for s in rows)


# ---------------------------------------------------------------------- every family
def _family_data(family, seed=0):
    rng = np.random.default_rng(seed)
    n = 200
    x = rng.normal(size=n)
    eta = np.where(rng.integers(0, 2, n) == 0, 0.5 + 0.8 * x, -0.5 - 0.6 * x)
    y = {"gaussian": lambda: eta + 0.3 * rng.normal(size=n),
         "student_t": lambda: eta + 0.3 * rng.standard_t(5, size=n),
         "poisson": lambda: rng.poisson(np.exp(eta)),
         "binomial": lambda: rng.binomial(1, 1 / (1 + np.exp(-2 * eta))),
         "gamma": lambda: rng.gamma(5.0, np.exp(eta) / 5.0),
         "negative_binomial": lambda: rng.negative_binomial(5, 5 / (5 + np.exp(eta)))}[family]
    return pd.DataFrame({"x": x}), np.asarray(y(), dtype=np.float64)


@pytest.mark.parametrize(("family", "link", "label", "title"), [
    ("gaussian", None, "Gaussian", "Mixture of linear regressions"),
    ("student_t", None, "Student-t", "Mixture of Student-t regressions"),
    ("poisson", None, "Poisson (log link)", "Mixture of Poisson regressions"),
    ("poisson", "identity", "Poisson (identity link)", "Mixture of Poisson regressions"),
    ("binomial", None, "Binomial (logit link)", "Mixture of binomial regressions"),
    ("binomial", "probit", "Binomial (probit link)", "Mixture of binomial regressions"),
    ("gamma", "log", "Gamma (log link)", "Mixture of Gamma regressions"),
    ("negative_binomial", None, "Negative binomial (log link)",
     "Mixture of negative binomial regressions"),
])
def test_header_names_the_family_and_link(family, link, label, title):
    X, y = _family_data(family)
    if family == "poisson" and link == "identity":
        X = X.assign(x=X["x"].abs())
        y = np.random.default_rng(1).poisson(2.0 + X["x"]).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RegressionMixture(2, family=family, link=link, random_state=0).fit(X, y)
        own = model.summary()
        made = make_summary(model, X, y, own.table)
    for summary in (own, made):
        assert summary.header["Family"] == label
        assert summary.title == title
        assert summary.header["Parameters"] == model.n_parameters_
        assert label in summary.as_text() and title in summary.as_text()
    # the header of the training data equals the fit's own header, line by line
    assert list(made.header) == list(own.header)
    for key, value in own.header.items():
        if isinstance(value, float | np.ndarray):
            np.testing.assert_allclose(made.header[key], value, rtol=1e-8)
        else:
            assert made.header[key] == value, key


def test_header_of_grouped_weighted_binomial_trials():
    rng = np.random.default_rng(2)
    n = 240
    x = rng.normal(size=n)
    groups = np.repeat(np.arange(60), 4)[rng.permutation(n)]
    trials = rng.integers(1, 6, n).astype(np.float64)
    comp = rng.integers(0, 2, 60)[groups]
    y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-np.where(comp == 0, 1 + x, -1 - x))))
    X = pd.DataFrame({"x": x})
    w = rng.integers(1, 3, n).astype(np.float64)
    args = dict(trials=trials, groups=groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RegressionMixture(2, family="binomial", random_state=0).fit(
            X, y.astype(np.float64), sample_weight=w, **args)
        own = model.summary()
    made = make_summary(model, X, y.astype(np.float64), own.table, sample_weight=w, **args)
    # posterior of each group, written here: the weights multiply the log-densities
    eta = model.intercept_[None, :] + x[:, None] * model.coef_[:, 0][None, :]
    logf = w[:, None] * binom.logpmf(y[:, None], trials[:, None], 1 / (1 + np.exp(-eta)))
    group_logf = np.stack([np.bincount(groups, weights=logf[:, k]) for k in range(2)], 1)
    group_logf += np.log(model.weights_)
    resp = np.exp(group_logf - logsumexp(group_logf, axis=1, keepdims=True))
    for summary in (own, made):
        h = summary.header
        assert h["Family"] == "Binomial (logit link)"
        assert h["No. observations"] == n and h["Groups"] == 60
        assert h["Sum of weights"] == pytest.approx(w.sum())
        np.testing.assert_allclose(h["Size (posterior)"], resp.sum(axis=0), rtol=1e-8)
        np.testing.assert_array_equal(
            h["Size (hard)"], np.bincount(resp.argmax(axis=1), minlength=2))
    assert made.header["Log-likelihood"] == pytest.approx(own.header["Log-likelihood"],
                                                          rel=1e-10)


# ---------------------------------------------------------------------- width and notes
@pytest.fixture(scope="module")
def long_formula_fit():
    """A Poisson fit with a long formula and a long interaction name, as seizure's."""
    rng = np.random.default_rng(5)
    day = np.tile(np.arange(1.0, 71.0), 2)
    treatment = np.where(day > 35, "Yes", "No")
    hours = rng.uniform(5, 24, day.size)
    high = rng.random(day.size) < 0.4
    mean = np.exp(np.where(high, 1.5, 0.3) - 0.2 * (treatment == "Yes") * np.log(day)
                  + np.log(hours) - 2.5)
    frame = pd.DataFrame({"Day": day, "Treatment": treatment, "Hours": hours,
                          "seizures": rng.poisson(mean)})
    formula = "seizures ~ Treatment * np.log(Day) + offset(np.log(Hours))"
    return RegressionMixture(2, family="poisson", formula=formula, random_state=0,
                             n_init=1).fit(frame)


def test_text_is_at_most_80_columns_and_keeps_everything(long_formula_fit):
    model = long_formula_fit
    text = model.summary().as_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    # the formula is shown whole (on lines of its own, wrapped if need be)
    assert model.formula in " ".join(line.strip() for line in lines)
    # a name too long for the name column stands on a line above its values
    name = "Treatment[T.Yes]:np.log(Day)"
    at = [i for i, line in enumerate(lines) if line.strip() == name]
    assert len(at) == 2  # once per component
    table = model.coef_table()
    for comp, i in zip((1, 2), at, strict=True):
        values = [float(v) for v in lines[i + 1].split()]
        row = table.loc[(comp, name)]
        np.testing.assert_allclose(values, row.to_numpy(dtype=float), atol=5e-4)


def test_many_components_wrap_the_size_rows():
    index = pd.MultiIndex.from_tuples([(k, "x0") for k in range(1, 10)],
                                      names=["component", "parameter"])
    table = pd.DataFrame(np.ones((9, 6)), index=index, columns=["estimate", "std_err", "z",
                                                                "p_value", "ci_lower",
                                                                "ci_upper"])
    sizes = np.arange(1.0, 10.0) * 1000.123
    text = Summary({"Components": 9, "Size (posterior)": sizes}, table).as_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    heads = [line.split()[1:] for line in lines if line.startswith("Component ")
             and not line.startswith("Component 1\n") and len(line.split()) > 2]
    assert [c for head in heads for c in head] == [str(k) for k in range(1, 10)]
    shown = [v for line in lines if line.startswith("Size (posterior)")
             for v in line.split()[2:]]
    assert shown == [format_value(v) for v in sizes]


def test_gating_note_names_the_baseline():
    frame = gated_lines(seed=1, gate=(-2.0, 4.0))
    z = frame["z"].to_numpy()
    model = RegressionMixture(2, formula="y ~ x | z", random_state=0).fit(frame)
    text = model.summary().as_text()
    assert "against component 1" in text and "the baseline" in text
    # what the note says: log(pi_2 / pi_1) is the linear predictor of component 2's
    # gating rows, and component 1 has none
    table = model.coef_table()
    pi = model.mixing_weights(frame)
    eta = table.loc[(2, "gate:intercept"), "estimate"] + table.loc[(2, "gate:z"),
                                                                   "estimate"] * z
    np.testing.assert_allclose(np.log(pi[:, 1] / pi[:, 0]), eta, rtol=1e-10)
    assert not any(p.startswith("gate:") for p in table.loc[1].index)
    assert "baseline" not in RegressionMixture(2, random_state=0).fit(
        frame[["x"]], frame["y"]).summary().as_text()


def test_grouped_summary_gives_rows_and_groups(long_formula_fit):
    rng = np.random.default_rng(3)
    n = 120
    groups = np.repeat(np.arange(30), 4)
    comp = rng.integers(0, 2, 30)[groups]
    x = rng.normal(size=n)
    y = np.where(comp == 0, 1 + 2 * x, -1 - x) + rng.normal(0, 0.3, n)
    model = RegressionMixture(2, random_state=0).fit(x[:, None], y, groups=groups)
    summary = model.summary()
    assert summary.header["No. observations"] == 120 and summary.header["Groups"] == 30
    text = " ".join(summary.as_text().split())
    assert "Grouped fit: 120 rows in 30 groups" in text
    made = make_summary(model, x[:, None], y, summary.table, groups=groups)
    assert "Grouped fit: 120 rows in 30 groups" in " ".join(made.as_text().split())
    assert "Grouped fit" not in long_formula_fit.summary().as_text()
