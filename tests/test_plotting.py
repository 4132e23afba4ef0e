"""Plots draw what they claim on the axes they are given (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from regmix import RegressionMixture, select_components  # noqa: E402
from regmix.datasets import make_regression_mixture  # noqa: E402
from regmix.plotting import plot_criteria, plot_fit, plot_history, plot_posterior  # noqa: E402


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = make_regression_mixture(300, coef=[[2.0], [-1.0]], intercept=[0.0, 1.0],
                                         sigma=[0.5, 0.5], random_state=1)
    return X, y


@pytest.fixture(scope="module")
def model(data):
    return RegressionMixture(2, random_state=0).fit(*data)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_plot_fit_one_feature(model, data, ax):
    assert plot_fit(model, *data, ax=ax) is ax
    assert len(ax.lines) == 2
    assert len(ax.collections[0].get_offsets()) == 300
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("component 1")


def test_plot_fit_several_features_uses_names(ax):
    X, y, _, _ = make_regression_mixture(200, 3, 2, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    m = RegressionMixture(2, random_state=0).fit(frame, y)
    plot_fit(m, frame, y, ax=ax)
    assert ax.get_xlabel() == "fitted mixture mean"
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], m.predict(frame))


def test_plot_history(model, ax):
    plot_history(model, ax=ax)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), model.log_likelihood_history_)


def test_plot_criteria(data, ax):
    sel = select_components(*data, n_components=[1, 2, 3], random_state=0)
    plot_criteria(sel, ax=ax)
    assert len(ax.lines) == 4  # three criteria and the chosen K
    np.testing.assert_allclose(ax.lines[1].get_ydata(), sel.table["bic"])
    assert "K = 2" in ax.get_legend().get_texts()[-1].get_text()


def test_plot_posterior_rootogram(model, data, ax):
    plot_posterior(model, *data, ax=ax, bins=10)
    assert len(ax.patches) == 2
    resp = model.posterior(*data)
    counts, _ = np.histogram(resp[resp[:, 0] > 1e-4, 0], bins=np.linspace(0, 1, 11))
    np.testing.assert_allclose(ax.patches[0].get_data().values, np.sqrt(counts))


def test_plot_coefficients(model, ax):
    from regmix.plotting import plot_coefficients

    plot_coefficients(model, ax=ax)
    table = model.coef_table()
    assert len(ax.containers) == 2  # one errorbar container per component
    first = ax.containers[0].lines[0].get_xdata()
    np.testing.assert_allclose(first, table.loc[1].loc[["intercept", "x0"], "estimate"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["intercept", "x0"]


def test_plot_fit_confidence_bands(model, data, ax):
    from regmix.plotting import _mean_band

    plot_fit(model, *data, ax=ax, bands=True)
    assert len(ax.collections) == 3  # the points and one band per component
    # at x = 0 the band's half-width is z * the intercept's standard error, and at x = 1
    # it is z * sqrt(var(b0) + 2 cov(b0, b1) + var(b1)), from the covariance matrix
    cov = model.covariance_matrix()
    z = 1.959963984540054
    widths = _mean_band(model, np.array([0.0, 1.0]), 0.05)
    keys = [(2, "intercept"), (2, "x0")]
    assert widths[1, 0] == pytest.approx(z * np.sqrt(cov.loc[keys[0], keys[0]]), rel=1e-12)
    assert widths[1, 1] == pytest.approx(z * np.sqrt(cov.loc[keys, keys].to_numpy().sum()),
                                         rel=1e-12)
