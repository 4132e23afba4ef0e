"""Plots draw what they claim on the axes they are given (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import norm  # noqa: E402

from regmix import RegressionMixture, select_components  # noqa: E402
from regmix.datasets import make_regression_mixture  # noqa: E402
from regmix.plotting import (  # noqa: E402
    _mean_band,
    plot_coefficients,
    plot_criteria,
    plot_fit,
    plot_history,
    plot_posterior,
)

from .reference import gated_lines  # noqa: E402

Z = norm.ppf(0.975)


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = make_regression_mixture(300, coef=[[2.0], [-1.0]], intercept=[0.0, 1.0],
                                         sigma=[0.5, 0.5], random_state=1)
    return X, y


@pytest.fixture(scope="module")
def model(data):
    return RegressionMixture(2, random_state=0).fit(*data)


@pytest.fixture(scope="module")
def npreg():
    """flexmix's NPreg design: a line and a parabola in x on [0, 10]."""
    rng = np.random.default_rng(3)
    x = np.linspace(0, 10, 200)
    z = rng.integers(0, 2, x.size)
    yn = np.where(z == 0, 5 * x, 15 + 10 * x - x**2) + rng.normal(0, 3, x.size)
    g = np.where(rng.random(x.size) < 0.4, "b", "a")
    frame = pd.DataFrame({"x": x, "yn": yn + 4.0 * (g == "b"), "g": g,
                          "w": rng.normal(2.0, 1.0, x.size)})
    return frame


@pytest.fixture(scope="module")
def parabola(npreg):
    return RegressionMixture(2, formula="yn ~ x + I(x**2)", random_state=0).fit(npreg)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ax():
    return plt.subplots()[1]


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _colorbar_labels(fig) -> list[str]:
    return [a.get_ylabel() for a in fig.axes if a.get_label() == "<colorbar>"]


# ---------------------------------------------------------------------- plot_fit
def test_plot_fit_one_feature(model, data, ax):
    assert plot_fit(model, *data, ax=ax) is ax
    assert len(ax.lines) == 2
    assert len(ax.collections[0].get_offsets()) == 300
    assert _legend(ax)[0].startswith("component 1")
    line = ax.lines[1]
    np.testing.assert_allclose(line.get_ydata(),
                               model.intercept_[1] + model.coef_[1, 0] * line.get_xdata())
    # two components: the shading is P(component 2), explained by a labelled colour bar
    assert _colorbar_labels(ax.figure) == ["posterior probability of component 2"]


def test_plot_fit_formula_draws_the_parabola(parabola, npreg, ax):
    plot_fit(parabola, npreg, ax=ax)
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "yn"
    assert len(ax.lines) == 2
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], npreg["x"])
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], npreg["yn"])
    names = parabola.coef_names()
    assert names == ["x", "I(x ** 2)"]
    steps = []
    for k, line in enumerate(ax.lines):
        g = line.get_xdata()
        expected = (parabola.intercept_[k] + parabola.coef_[k, 0] * g
                    + parabola.coef_[k, 1] * g**2)
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
        steps.append(np.diff(line.get_ydata()))
    # one curve rises then falls (the parabola, peak near x = 5), the other is monotone
    turning = [bool((d > 0).any() and (d < 0).any()) for d in steps]
    assert sorted(turning) == [False, True]
    peak = ax.lines[turning.index(True)]
    assert 4 < peak.get_xdata()[np.argmax(peak.get_ydata())] < 6
    assert ax.get_legend().get_title().get_text() == ""  # nothing else to hold fixed


def test_plot_fit_bands_through_the_design(parabola, npreg, ax):
    plot_fit(parabola, npreg, ax=ax, bands=True)
    assert len(ax.collections) == 3  # the points and one band per component
    cov = parabola.covariance_matrix()
    g = np.array([0.0, 2.5, 10.0])
    widths = _mean_band(parabola, np.column_stack([g, g**2]), 0.05)
    for k in range(2):
        keys = [(k + 1, n) for n in ("intercept", "x", "I(x ** 2)")]
        V = cov.loc[keys, keys].to_numpy()
        for i, xi in enumerate(g):
            row = np.array([1.0, xi, xi * xi])
            assert widths[k, i] == pytest.approx(Z * np.sqrt(row @ V @ row), rel=1e-12)
    # the band is drawn around the curve: the curve's points lie inside it
    band = ax.collections[1].get_paths()[0].vertices
    curve = ax.lines[0]
    mid = len(curve.get_xdata()) // 2
    at = np.isclose(band[:, 0], curve.get_xdata()[mid])
    assert band[at, 1].min() < curve.get_ydata()[mid] < band[at, 1].max()


def test_plot_fit_holds_other_variables_at_typical_values(npreg, ax):
    m = RegressionMixture(2, formula="yn ~ x + I(x**2) + w + g", random_state=0).fit(npreg)
    plot_fit(m, npreg, ax=ax)
    title = ax.get_legend().get_title().get_text()
    mean_w = npreg["w"].mean()
    assert title == f"held fixed: w = {mean_w:.4g}, g = a"  # "a" is the most frequent
    line = ax.lines[0]
    grid = pd.DataFrame({"x": line.get_xdata(), "w": mean_w, "g": "a"})
    np.testing.assert_allclose(line.get_ydata(), m.predict_components(grid)[:, 0])
    b = m.coef_names().index("g[T.b]")
    direct = (m.intercept_[0] + m.coef_[0, 0] * grid.x + m.coef_[0, 1] * grid.x**2
              + m.coef_[0, 2] * mean_w)
    np.testing.assert_allclose(line.get_ydata(), direct, rtol=1e-12)
    assert b == 3


def test_plot_fit_one_curve_per_level(npreg, ax):
    m = RegressionMixture(2, formula="yn ~ x + I(x**2) + C(g)", random_state=0).fit(npreg)
    plot_fit(m, npreg, by="g", ax=ax, bands=True)
    assert len(ax.lines) == 4  # K components times two levels
    assert _legend(ax) == ["component 1, g = a", "component 1, g = b",
                           "component 2, g = a", "component 2, g = b"]
    assert m.coef_names() == ["x", "I(x ** 2)", "C(g)[T.b]"]
    for i, line in enumerate(ax.lines):
        k, level = divmod(i, 2)
        g = line.get_xdata()
        direct = (m.intercept_[k] + m.coef_[k, 0] * g + m.coef_[k, 1] * g**2
                  + m.coef_[k, 2] * level)
        np.testing.assert_allclose(line.get_ydata(), direct, rtol=1e-12)
    assert ax.lines[1].get_linestyle() != ax.lines[0].get_linestyle()
    assert len(ax.collections) == 5


def test_plot_fit_level_curves_span_their_rows(ax):
    rng = np.random.default_rng(0)
    day = np.arange(1.0, 101.0)
    treat = np.where(day > 60, "yes", "no")
    frame = pd.DataFrame({"day": day, "treat": treat,
                          "y": rng.poisson(np.where(rng.random(100) < 0.5, 2.0, 8.0))})
    m = RegressionMixture(2, family="poisson", formula="y ~ treat * np.log(day)",
                          random_state=0).fit(frame)
    plot_fit(m, frame, by="treat", ax=ax)
    xs = [line.get_xdata() for line in ax.lines[:2]]
    assert (xs[0].min(), xs[0].max()) == (1.0, 60.0)
    assert (xs[1].min(), xs[1].max()) == (61.0, 100.0)
    assert np.all(ax.lines[0].get_ydata() > 0)  # exp(eta): a mean count


def test_plot_fit_array_model_with_several_columns(ax):
    X, y, _, _ = make_regression_mixture(200, 3, 2, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    m = RegressionMixture(2, random_state=0).fit(frame, y)
    plot_fit(m, frame, y, x="b", ax=ax, bands=True)
    assert ax.get_xlabel() == "b" and len(ax.lines) == 2
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], frame["b"])
    means = frame.mean()
    line = ax.lines[1]
    expected = (m.intercept_[1] + m.coef_[1, 0] * means["a"]
                + m.coef_[1, 1] * line.get_xdata() + m.coef_[1, 2] * means["c"])
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
    title = ax.get_legend().get_title().get_text()
    assert title == f"held fixed: a = {means['a']:.4g}, c = {means['c']:.4g}"
    other = plt.subplots()[1]
    plot_fit(m, frame, y, x=1, ax=other)  # a column index picks the same column
    np.testing.assert_allclose(other.lines[1].get_ydata(), line.get_ydata())


def test_plot_fit_three_components_say_how_points_are_coloured(data, ax):
    X, y, _, _ = make_regression_mixture(300, coef=[[2.0], [-1.0], [0.0]],
                                         intercept=[0.0, 1.0, 6.0], sigma=[0.5] * 3,
                                         random_state=4)
    m = RegressionMixture(3, random_state=0).fit(X, y)
    plot_fit(m, X, y, ax=ax)
    assert len(ax.lines) == 3
    assert "most probable component" in ax.get_legend().get_title().get_text()
    assert _colorbar_labels(ax.figure) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"x": "g"}, "categorical variable"),
    ({"x": "nope"}, "not a variable of the formula"),
    ({"by": "x"}, "is also x"),
    ({"by": "w"}, "at most 10"),
])
def test_plot_fit_refuses_bad_variables(npreg, kwargs, message, ax):
    m = RegressionMixture(2, formula="yn ~ x + w + g", random_state=0, n_init=1).fit(npreg)
    with pytest.raises(ValueError, match=message):
        plot_fit(m, npreg, ax=ax, **{"x": "x", **kwargs})


def test_plot_fit_refuses_a_bad_column_index(model, data, ax):
    with pytest.raises(ValueError, match="column index from 0 to 0"):
        plot_fit(model, *data, x=3, ax=ax)
    with pytest.raises(ValueError, match="needs a formula model"):
        plot_fit(model, *data, by="g", ax=ax)


# ---------------------------------------------------------------------- new figures
def test_without_ax_each_plot_makes_its_own_figure(model, data, parabola, npreg):
    sel = select_components(*data, n_components=[1, 2], random_state=0, n_init=1)
    axes = [plot_fit(parabola, npreg), plot_history(model), plot_criteria(sel),
            plot_coefficients(model)[0], plot_posterior(model, *data)[0]]
    figures = {id(a.figure) for a in axes}
    assert len(figures) == 5
    assert len(axes[0].lines) == 2 and len(axes[1].lines) == 1


def test_plot_history(model, ax):
    plot_history(model, ax=ax)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), model.log_likelihood_history_)


def test_plot_criteria(data, ax):
    sel = select_components(*data, n_components=[1, 2, 3], random_state=0)
    plot_criteria(sel, ax=ax)
    assert len(ax.lines) == 4  # three criteria and the chosen K
    np.testing.assert_allclose(ax.lines[1].get_ydata(), sel.table["bic"])
    assert "K = 2" in ax.get_legend().get_texts()[-1].get_text()


# ---------------------------------------------------------------------- rootogram
def test_plot_posterior_rootogram_one_panel_per_component(model, data, ax):
    fig = ax.figure
    axes = plot_posterior(model, *data, ax=ax, bins=10)
    assert len(axes) == 2 and all(a.figure is fig for a in axes)
    resp = model.posterior(*data)
    for k, panel in enumerate(axes):
        assert len(panel.patches) == 1
        assert panel.get_title() == f"component {k + 1}"
        counts, _ = np.histogram(resp[resp[:, k] > 1e-4, k], bins=np.linspace(0, 1, 11))
        np.testing.assert_allclose(panel.patches[0].get_data().values, np.sqrt(counts))
        # ticks are counts on a square-root scale: the label is the square of the place
        ticks = panel.get_yticks()
        labels = [float(t.get_text()) for t in panel.get_yticklabels()]
        np.testing.assert_allclose(np.square(ticks), labels)
        assert labels[0] == 0 and len(labels) >= 3
    assert "square-root" in axes[0].get_ylabel()


def test_plot_posterior_takes_k_axes_and_reads_y_from_the_frame(parabola, npreg):
    axes = plt.subplots(1, 2)[1]
    drawn = plot_posterior(parabola, npreg, ax=axes)
    assert list(drawn) == list(axes)
    with pytest.raises(ValueError, match="this plot has 2 panels"):
        plot_posterior(parabola, npreg, ax=plt.subplots(1, 3)[1])


# ---------------------------------------------------------------------- coefficients
def test_plot_coefficients(model, ax):
    (panel,) = plot_coefficients(model, ax=ax)
    assert panel is ax
    table = model.coef_table()
    assert len(ax.containers) == 2  # one errorbar container per component
    first = ax.containers[0].lines[0].get_xdata()
    np.testing.assert_allclose(first, table.loc[1].loc[["intercept", "x0"], "estimate"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["intercept", "x0"]


def test_plot_coefficients_gating_on_its_own_panel(ax):
    frame = gated_lines(seed=0)
    m = RegressionMixture(2, formula="y ~ x | z", random_state=0).fit(frame)
    axes = plot_coefficients(m, ax=ax)
    assert len(axes) == 2 and ax not in axes  # the area of ax divided in two
    table = m.coef_table()
    coefs, gating = axes
    assert [t.get_text() for t in coefs.get_yticklabels()] == ["intercept", "x"]
    assert [t.get_text() for t in gating.get_yticklabels()] == ["intercept", "z"]
    np.testing.assert_allclose(gating.containers[0].lines[0].get_xdata(),
                               table.loc[2].loc[["gate:intercept", "gate:z"], "estimate"])
    assert "component 1" in gating.get_title()
    # each panel's scale fits its own intervals
    lo, hi = table.loc[2].loc["gate:z", ["ci_lower", "ci_upper"]]
    assert gating.get_xlim()[0] <= lo and hi <= gating.get_xlim()[1]
    component = table[~table.index.get_level_values(1).str.startswith("gate:")
                      & ~table.index.get_level_values(1).isin(["sigma", "weight"])]
    low, high = component["ci_lower"].min(), component["ci_upper"].max()
    pad = 0.1 * (high - low)
    assert low - pad <= coefs.get_xlim()[0] and coefs.get_xlim()[1] <= high + pad


# ---------------------------------------------------------------------- the CLI's --plot
def _run_cli(args):
    from click.testing import CliRunner

    from regmix.cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_cli_plot_x_and_by(npreg, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = tmp_path / "npreg.csv"
    npreg.to_csv(path, index=False)
    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig",
                        lambda fig, *a, **k: (saved.append(fig), original(fig, *a, **k)))
    result = _run_cli(["fit", str(path), "--formula", "yn ~ x + I(x**2) + C(g)", "--n-init",
                       "1", "--plot", str(tmp_path / "fit.png"), "--plot-x", "x",
                       "--plot-by", "g", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"
    fit_axes = saved[0].axes[0]
    assert fit_axes.get_xlabel() == "x" and len(fit_axes.lines) == 4
    assert len(fit_axes.collections) == 5  # points and the bands
    assert "posterior probability of component 2" in _colorbar_labels(saved[0])


@pytest.mark.parametrize(("extra", "message"), [
    (["--plot-x", "x"], "error: --plot-x and --plot-by choose what --plot draws"),
    (["--plot", "{d}/p.png", "--plot-x", "nope"], "error: --plot-x 'nope' is not a column"),
    (["--plot", "{d}/p.png", "--plot-x", "g"], "error: x='g' is a categorical variable"),
])
def test_cli_plot_x_errors(npreg, tmp_path, extra, message):
    path = tmp_path / "npreg.csv"
    npreg.to_csv(path, index=False)
    args = [a.replace("{d}", str(tmp_path)) for a in extra]
    result = _run_cli(["fit", str(path), "--formula", "yn ~ x + g", "--n-init", "1",
                       "--quiet", *args])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(message)
