"""Matplotlib views of a fitted mixture. matplotlib is imported only when called.

Every function draws on the given axes (or the current ones) and returns them.
"""

from __future__ import annotations

import numpy as np


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def plot_fit(model, X, y=None, *, ax=None, cmap: str = "coolwarm", bands: bool = False,
             alpha: float = 0.05, offset=None, trials=None, concomitant=None):
    """Data coloured by posterior membership, with each component's fitted line.

    For one feature the points are ``(x, y)`` and each component's mean curve
    ``g^-1(x' beta_k)`` (a line for Gaussian and Student-t components; without the
    offset) is drawn over the range of x; for several features the points are observed
    against the mixture's fitted mean, with the identity line. Binomial responses with
    trials are shown as proportions of successes.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.
    X, y : array-like
        Data to show.
    ax : matplotlib Axes, optional
    cmap : str, default="coolwarm"
        Colour map; with two components the colour is the probability of the second.
    bands : bool, default=False
        With one feature, shade each line's pointwise ``1 - alpha`` confidence band
        for the component mean, from the coefficients' covariance (delta method).
    alpha : float, default=0.05
    offset, trials, concomitant : array-like, optional
        As for :meth:`RegressionMixture.posterior`.

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    ax = _axes(ax)
    resp = model.posterior(X, y, offset=offset, trials=trials, concomitant=concomitant)
    rows = model._eval_rows(X, y, None, offset, trials, concomitant=concomitant)
    design, y, trials = rows.X, rows.y, rows.trials
    if trials is not None:
        y = y / trials
    inverse = model.family_.link.inverse if hasattr(model.family_, "link") else None
    K = resp.shape[1]
    colors = plt.get_cmap(cmap if K == 2 else "tab10")
    if K == 2:
        point_colors = colors(resp[:, 1])
    else:
        point_colors = colors(np.argmax(resp, axis=1) % 10)
    if design.shape[1] == 1:
        ax.scatter(design[:, 0], y, c=point_colors, s=18, edgecolors="k", linewidths=0.3)
        grid = np.linspace(design[:, 0].min(), design[:, 0].max(), 200)[:, None]
        eta = model._component_means(grid, kind="link")
        curves = model._component_means(grid)
        half_widths = _mean_band(model, grid[:, 0], alpha) if bands else None
        for k in range(K):
            color = colors(float(k)) if K == 2 else colors(k % 10)
            ax.plot(grid[:, 0], curves[:, k], color=color, lw=2,
                    label=f"component {k + 1} (weight {model.weights_[k]:.2f})")
            if half_widths is not None:  # on the link scale, mapped through g^-1
                lo, hi = eta[:, k] - half_widths[k], eta[:, k] + half_widths[k]
                if inverse is not None:
                    lo, hi = np.sort([inverse(lo), inverse(hi)], axis=0)
                ax.fill_between(grid[:, 0], lo, hi, color=color, alpha=0.2, lw=0)
        ax.set_xlabel(_feature_name(model, 0))
    else:
        fitted = model.predict(X, offset=offset, concomitant=concomitant)
        ax.scatter(fitted, y, c=point_colors, s=18, edgecolors="k", linewidths=0.3)
        lo, hi = min(fitted.min(), y.min()), max(fitted.max(), y.max())
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, label="y = fitted")
        ax.set_xlabel("fitted mixture mean")
    design_info = getattr(model, "formula_design_", None)
    ax.set_ylabel(getattr(design_info, "response_name", None) or "y")
    ax.legend(loc="best", fontsize="small")
    return ax


def _mean_band(model, x: np.ndarray, alpha: float) -> np.ndarray:
    """Half-widths (K, n) of pointwise intervals for each component's mean at x."""
    from scipy.stats import norm

    cov = model.covariance_matrix()
    z = norm.ppf(1 - alpha / 2)
    out = np.empty((model.n_components, len(x)))
    name = model.coef_names()[0]
    for k in range(model.n_components):
        comp = k + 1
        if model.fit_intercept:
            keys = [(comp, "intercept"), (comp, name)]
            block = cov.loc[keys, keys].to_numpy()
            var = block[0, 0] + 2 * x * block[0, 1] + x * x * block[1, 1]
        else:
            var = x * x * cov.loc[(comp, name), (comp, name)]
        out[k] = z * np.sqrt(np.maximum(var, 0.0))
    return out


def plot_history(model, *, ax=None):
    """The log-likelihood at every accepted iterate of the best start."""
    ax = _axes(ax)
    history = np.asarray(model.log_likelihood_history_)
    ax.plot(np.arange(len(history)), history, marker="o", ms=3, lw=1.5)
    ax.set_xlabel("accepted iterate (best start, initial burst included)")
    ax.set_ylabel("log-likelihood")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    state = "converged" if model.converged_ else "not converged"
    ax.set_title(f"{model.n_iter_} EM steps, {state}")
    return ax


def _feature_name(model, j: int) -> str:
    names = getattr(model, "feature_names_in_", None)
    return str(names[j]) if names is not None else f"x{j}" if j else "x"


def plot_criteria(selection, *, ax=None, criteria=("aic", "bic", "icl")):
    """Information criteria against the number of components (smaller is better).

    Parameters
    ----------
    selection : ComponentSelection
        The result of :func:`regmix.select_components`.
    ax : matplotlib Axes, optional
    criteria : sequence of str
        Columns of ``selection.table`` to draw.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    table = selection.table
    for name in criteria:
        ax.plot(table.index, table[name], marker="o", label=name.upper())
    best = selection.best_n_components_
    ax.axvline(best, color="grey", ls="--", lw=1,
               label=f"chosen by {selection.criterion.upper()}: K = {best}")
    ax.set_xlabel("number of components K")
    ax.set_ylabel("criterion (smaller is better)")
    ax.set_xticks(list(table.index))
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_posterior(model, X, y=None, *, ax=None, bins: int = 20, eps: float = 1e-4):
    """Rootogram of posterior membership probabilities, one histogram per component.

    As flexmix's ``rootogram``: for each component, the rows whose posterior probability
    exceeds ``eps``, binned by that probability, with the square root of the counts on
    the vertical axis. Well-separated components pile up near 0 and 1.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    resp = model.posterior(X, y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    for k in range(resp.shape[1]):
        values = resp[resp[:, k] > eps, k]
        counts, _ = np.histogram(values, bins=edges)
        ax.stairs(np.sqrt(counts), edges, label=f"component {k + 1}", lw=1.5)
    ax.set_xlabel("posterior probability")
    ax.set_ylabel("sqrt(count)")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper center", fontsize="small")
    return ax


def plot_coefficients(model, *, ax=None, alpha: float = 0.05, table=None,
                      include=("intercept", "coef")):
    """Each component's coefficients with ``1 - alpha`` confidence intervals.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model (with ``compute_se=True``), or None when ``table`` is given.
    ax : matplotlib Axes, optional
    alpha : float, default=0.05
    table : pandas.DataFrame, optional
        A parameter table to draw instead of ``model.coef_table(alpha)`` (for example a
        bootstrap's ``table()``).
    include : tuple of str
        ``"intercept"`` and/or ``"coef"``; sigmas and weights are on other scales.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax)
    table = model.coef_table(alpha) if table is None else table
    params = table.index.get_level_values("parameter")
    keep = np.ones(len(table), dtype=bool) & ~params.isin(["sigma", "weight"])
    if "intercept" not in include:
        keep &= params != "intercept"
    if "coef" not in include:
        keep &= params == "intercept"
    table = table[keep]
    names = list(dict.fromkeys(table.index.get_level_values("parameter")))
    components = list(dict.fromkeys(table.index.get_level_values("component")))
    width = 0.8 / max(len(components), 1)
    for i, comp in enumerate(components):
        part = table.xs(comp, level="component").reindex(names)
        est, lo, hi = (part[c].to_numpy(dtype=float) for c in ("estimate", "ci_lower",
                                                               "ci_upper"))
        pos = np.arange(len(names)) + (i - (len(components) - 1) / 2) * width
        ax.errorbar(est, pos, xerr=np.vstack([est - lo, hi - est]), fmt="o", capsize=3,
                    label=f"component {comp}")
    ax.axvline(0.0, color="grey", lw=1, ls=":")
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel(f"estimate with {100 * (1 - alpha):.0f}% interval")
    ax.legend(loc="best", fontsize="small")
    return ax
