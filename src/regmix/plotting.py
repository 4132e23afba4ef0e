"""Matplotlib views of a fitted mixture. matplotlib is imported only when called.

Every function draws on the axes it is given and returns them; without ``ax`` it makes
a new figure (scikit-learn's convention for its displays), so that consecutive calls
never draw over one another. :func:`plot_posterior` draws one panel per component and
:func:`plot_coefficients` one for the components' coefficients and one for the gating
coefficients; they take a sequence of axes, or one axes whose area they divide, and
return an array of axes.

Components are numbered from 1 in every legend and title, as in the summary.
"""

from __future__ import annotations

import numbers
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from regmix.estimator.formula import level_key, typical_value
from regmix.families.composite import response_mean

# Line styles of the curves of successive levels of ``plot_fit(..., by=...)``.
_LEVEL_STYLES = ("-", "--", ":", "-.")

# At most this many levels for ``by``, and variables named in the legend's title.
_MAX_LEVELS = 10
_MAX_FIXED = 4


def _new_axes(ax):
    """``ax``, or the axes of a new figure."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.subplots()[1]
    return ax


def _panels(ax, n: int, panel_size=(4.0, 3.4)) -> np.ndarray:
    """``n`` axes side by side: of a new figure (``ax`` None), the ``n`` axes given, or
    the area of the one axes given divided into ``n``."""
    if ax is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(panel_size[0] * n, panel_size[1]), layout="constrained")
        return np.array(fig.subplots(1, n, squeeze=False)[0], dtype=object)
    if isinstance(ax, (list, tuple, np.ndarray)):
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.size != n:
            raise ValueError(f"ax holds {axes.size} axes; this plot has {n} panels")
        return axes
    if n == 1:
        return np.array([ax], dtype=object)
    spec = ax.get_subplotspec()
    if spec is None:
        raise ValueError(f"this plot has {n} panels: pass ax as {n} axes, or one axes of a "
                         "grid of subplots (whose area is divided)")
    fig = ax.figure
    ax.remove()
    grid = spec.subgridspec(1, n, wspace=0.4)
    return np.array([fig.add_subplot(grid[0, i]) for i in range(n)], dtype=object)


# ---------------------------------------------------------------------- plot_fit
def plot_fit(model, X, y=None, *, x=None, by=None, ax=None, cmap: str = "coolwarm",
             bands: bool = False, alpha: float = 0.05, n_grid: int = 200, offset=None,
             trials=None, concomitant=None):
    """Data coloured by posterior membership, with each component's fitted curve.

    The points are one variable against the response; each component's mean
    ``g^-1(x' beta_k)`` is drawn over a grid of that variable, through the model's own
    design (so a formula's polynomials, transforms, factors and interactions show as
    they were fitted), with every other variable held at a typical value: its mean
    when numeric, its most frequent level when categorical. The legend's title says
    what was held fixed. Binomial responses with trials are shown as proportions of
    successes.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.
    X, y : array-like
        Data to show (for a formula model the data frame; ``y`` is then read from it).
    x : str or int, optional
        The variable on the horizontal axis. For a formula model a numerical variable
        of the formula (default: the first); otherwise a column index or feature name
        (default: the first column), the other columns at their means.
    by : str, optional
        A variable of a formula model (categorical, or with at most 10 distinct
        values) for which a curve per level is drawn instead of holding it fixed.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    cmap : str, default="coolwarm"
        Colour map; with two components the colour is the probability of the second,
        shown by a colour bar. With more components the colour is the most probable
        component, the colour of its curve.
    bands : bool, default=False
        Shade each curve's pointwise ``1 - alpha`` confidence band for the component
        mean, from the coefficients' covariance (delta method, on the link scale).
    alpha : float, default=0.05
    n_grid : int, default=200
        Points of the grid of ``x``.
    offset, trials, concomitant : array-like, optional
        As for :meth:`RegressionMixture.posterior`; the curves take the mean offset.

    Returns
    -------
    ax : matplotlib Axes
    """
    if getattr(getattr(model, "family_", None), "responses", None) is not None:
        raise ValueError("plot_fit draws one response; a model of several responses has "
                         "predict() and predict_components() per response")
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    ax = _new_axes(ax)
    resp = model.posterior(X, y, offset=offset, trials=trials, concomitant=concomitant)
    rows = model._eval_rows(X, y, None, offset, trials, concomitant=concomitant)
    response = rows.y if rows.trials is None else rows.y / rows.trials
    user_offset = None if offset is None else float(np.mean(offset))
    curves = (_formula_curves(model, X, x, by, n_grid, user_offset)
              if getattr(model, "formula", None) is not None
              else _array_curves(model, rows, x, by, n_grid))
    K = resp.shape[1]
    colors = plt.get_cmap(cmap if K == 2 else "tab10")

    def color(k: int):
        return colors(float(k)) if K == 2 else colors(k % 10)

    point_colors = colors(resp[:, 1]) if K == 2 else [color(k) for k in resp.argmax(axis=1)]
    ax.scatter(curves.points, response, c=point_colors, s=18, edgecolors="k",
               linewidths=0.3)
    families = getattr(model.family_, "families", None)  # a family per component
    component = model._user_params().component

    def mean_of(eta: np.ndarray, k: int) -> np.ndarray:
        """Component k's mean from its linear predictor, by its family's rule (with
        its parameters, for a family whose mean needs them)."""
        if families is not None:
            return response_mean(families[k], eta, component.parts[k])
        return response_mean(model.family_, eta[:, None], component.take(np.array([k])))[:, 0]

    half_widths = [_mean_band(model, design, alpha) if bands else None
                   for design in curves.designs]
    drawn = [response]
    for k in range(K):
        for i, level in enumerate(curves.levels):
            eta = curves.eta[i][:, k]
            mean = mean_of(eta, k)
            drawn.append(mean)
            label = f"component {k + 1} (weight {model.weights_[k]:.2f})"
            if curves.by is not None:
                label = f"component {k + 1}, {curves.by} = {level}"
            ax.plot(curves.grids[i], mean, color=color(k), lw=2, label=label,
                    ls=_LEVEL_STYLES[i % len(_LEVEL_STYLES)])
            widths = half_widths[i]
            if widths is not None:  # on the link scale, mapped through g^-1
                lo, hi = eta - widths[k], eta + widths[k]
                lo, hi = np.sort([mean_of(lo, k), mean_of(hi, k)], axis=0)
                ax.fill_between(curves.grids[i], lo, hi, color=color(k), alpha=0.2, lw=0)
    if bands:  # wide bands must not squash the data
        low = min(float(np.nanmin(v)) for v in drawn)
        high = max(float(np.nanmax(v)) for v in drawn)
        pad = 0.05 * (high - low) or 1.0
        ax.set_ylim(low - pad, high + pad)
    ax.set_xlabel(curves.label)
    design_info = getattr(model, "formula_design_", None)
    ax.set_ylabel(getattr(design_info, "response_name", None) or "y")
    notes = [] if K == 2 else ["points: the most probable component"]
    ax.legend(loc="best", fontsize="small", title=_legend_title(curves.fixed, notes),
              title_fontsize="small")
    if K == 2:
        bar = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colors)
        ax.figure.colorbar(bar, ax=ax, label="posterior probability of component 2")
    return ax


class _Curves(NamedTuple):
    """What :func:`plot_fit` draws: per level of ``by`` the grid of the horizontal
    variable, the design rows and linear predictors (n_grid, K) there; the points'
    horizontal positions, the axis label and what was held fixed."""

    grids: list[np.ndarray]
    levels: list
    designs: list[np.ndarray]
    eta: list[np.ndarray]
    points: np.ndarray
    label: str
    by: str | None
    fixed: list[str]


def _formula_curves(model, frame, x, by, n_grid: int, user_offset) -> _Curves:
    """The curves of a formula model: a grid frame per level of ``by``, passed through
    the model's design."""
    kinds = model.formula_design_.variables(frame.columns)
    numeric = [v for v, kind in kinds.items() if kind == "numerical"]
    if x is None:
        if not numeric:
            raise ValueError(f"the formula {model.formula!r} has no numerical variable to "
                             "put on the x axis")
        x = numeric[0] if numeric[0] != by else (numeric[1:] or [None])[0]
    if x not in kinds:
        raise ValueError(f"x={x!r} is not a variable of the formula {model.formula!r} "
                         f"(its variables: {', '.join(kinds)})")
    if kinds[x] != "numerical":
        raise ValueError(f"x={x!r} is a categorical variable of the formula and cannot be "
                         "on the x axis; draw one curve per level of it with by= "
                         "(regmix fit --plot-by)")
    levels: list = [None]
    if by is not None:
        if by not in kinds:
            raise ValueError(f"by={by!r} is not a variable of the formula {model.formula!r} "
                             f"(its variables: {', '.join(kinds)})")
        if by == x:
            raise ValueError(f"by={by!r} is also x: choose another variable for by")
        levels = sorted(pd.unique(frame[by].dropna()), key=level_key)
        if len(levels) > _MAX_LEVELS:
            raise ValueError(f"by={by!r} has {len(levels)} distinct values; at most "
                             f"{_MAX_LEVELS} curves per component are drawn")
    points = frame[x].to_numpy(dtype=np.float64)
    typical = {v: typical_value(frame[v], kind) for v, kind in kinds.items() if v not in (x, by)}
    grids, designs, eta = [], [], []
    for level in levels:  # each level's curve over the range of x of its rows
        seen = points if level is None else points[(frame[by] == level).to_numpy()]
        grid = np.linspace(np.nanmin(seen), np.nanmax(seen), int(n_grid))
        columns = {v: pd.Series([value] * grid.size, dtype=_grid_dtype(frame[v], kinds[v]))
                   for v, value in typical.items()}
        columns[x] = pd.Series(grid)
        if by is not None:
            columns[by] = pd.Series([level] * grid.size, dtype=frame[by].dtype)
        grid_frame = pd.DataFrame(columns)
        offset = None if user_offset is None else np.full(grid.size, user_offset)
        grids.append(grid)
        designs.append(model._design(grid_frame))
        eta.append(model.predict_components(grid_frame, offset=offset, kind="link"))
    fixed = [f"{v} = {_shown(value)}" for v, value in typical.items()]
    if user_offset is not None:
        fixed.append(f"offset = {_shown(user_offset)}")
    return _Curves(grids, levels, designs, eta, points, str(x), by, fixed)


def _array_curves(model, rows, x, by, n_grid: int) -> _Curves:
    """The curves of a model fitted to arrays: column ``x`` over a grid, the other
    columns at their means."""
    if by is not None:
        raise ValueError("by= needs a formula model (it names a variable of the formula)")
    names = model.coef_names()
    if x is None:
        j = 0
    elif isinstance(x, str):
        if x not in names:
            raise ValueError(f"x={x!r} is not a feature of the model (its features: "
                             f"{', '.join(names)})")
        j = names.index(x)
    elif isinstance(x, numbers.Integral) and not isinstance(x, bool) and 0 <= x < len(names):
        j = int(x)
    else:
        raise ValueError(f"x must be a column index from 0 to {len(names) - 1} or a feature "
                         f"name; got {x!r}")
    design = rows.X
    grid = np.linspace(design[:, j].min(), design[:, j].max(), int(n_grid))
    means = design.mean(axis=0)
    grid_design = np.tile(means, (grid.size, 1))
    grid_design[:, j] = grid
    offset = None if rows.offset is None else np.full(grid.size, rows.offset.mean())
    eta = model._component_means(grid_design, offset, kind="link")
    fixed = [f"{names[i]} = {_shown(means[i])}" for i in range(len(names)) if i != j]
    if offset is not None:
        fixed.append(f"offset = {_shown(offset[0])}")
    return _Curves([grid], [None], [grid_design], [eta], design[:, j], names[j], None,
                   fixed)


def _grid_dtype(column: pd.Series, kind: str):
    return np.float64 if isinstance(typical_value(column, kind), float) else column.dtype


def _shown(value) -> str:
    return f"{value:.4g}" if isinstance(value, numbers.Real) else str(value)


def _legend_title(fixed: list[str], notes: list[str]) -> str | None:
    """The legend's title: what the curves hold fixed (the first few), and notes."""
    shown = fixed if len(fixed) <= _MAX_FIXED else [
        *fixed[:_MAX_FIXED], f"{len(fixed) - _MAX_FIXED} more at their typical values"]
    lines = (["held fixed: " + ", ".join(shown)] if shown else []) + notes
    return "\n".join(lines) or None


def _mean_band(model, design: np.ndarray, alpha: float) -> np.ndarray:
    """Half-widths (K, n) of pointwise ``1 - alpha`` intervals for each component's
    linear predictor at the rows of ``design`` (n, n_features; no intercept column):
    ``z sqrt(g' V_k g)`` with ``g`` the row with its intercept and ``V_k`` the
    covariance of component k's coefficients."""
    from scipy.stats import norm

    cov = model.covariance_matrix()
    z = norm.ppf(1 - alpha / 2)
    design = np.asarray(design, dtype=np.float64)
    names = model.coef_names()
    if model.fit_intercept:
        names = ["intercept", *names]
        design = np.column_stack([np.ones(design.shape[0]), design])
    out = np.empty((model.n_components, design.shape[0]))
    for k in range(model.n_components):
        keys = [(k + 1, name) for name in names]
        block = cov.loc[keys, keys].to_numpy()
        var = np.einsum("ni,ij,nj->n", design, block, design)
        out[k] = z * np.sqrt(np.maximum(var, 0.0))
    return out


# ---------------------------------------------------------------------- the others
def plot_history(model, *, ax=None):
    """The log-likelihood at every accepted iterate of the best start."""
    ax = _new_axes(ax)
    history = np.asarray(model.log_likelihood_history_)
    ax.plot(np.arange(len(history)), history, marker="o", ms=3, lw=1.5)
    ax.set_xlabel("accepted iterate (best start, initial burst included)")
    ax.set_ylabel("log-likelihood")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    state = "converged" if model.converged_ else "not converged"
    ax.set_title(f"{model.n_iter_} EM steps, {state}")
    return ax


def plot_criteria(selection, *, ax=None, criteria=("aic", "bic", "icl")):
    """Information criteria against the number of components (smaller is better).

    Parameters
    ----------
    selection : ComponentSelection
        The result of :func:`regmix.select_components`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    criteria : sequence of str
        Columns of ``selection.table`` to draw.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _new_axes(ax)
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


def _sqrt_ticks(top: float) -> np.ndarray:
    """Counts for the ticks of a square-root axis up to ``top``: 0, then 1, 2, 5, 10,
    20, 50, ... as far as they go, thinned so that they stay apart."""
    nice = [0.0]
    scale = 1.0
    while scale <= max(top, 1.0):
        nice += [c * scale for c in (1, 2, 5) if c * scale <= max(top, 1.0)]
        scale *= 10
    ticks = [nice[0]]
    for c in nice[1:]:  # keep ticks at least a tenth of the axis apart
        if np.sqrt(c) - np.sqrt(ticks[-1]) >= 0.1 * np.sqrt(max(top, 1.0)):
            ticks.append(c)
    return np.asarray(ticks)


def plot_posterior(model, X, y=None, *, ax=None, bins: int = 20, eps: float = 1e-4,
                   **kwargs):
    """Rootogram of posterior membership probabilities: one panel per component.

    As flexmix's ``rootogram``: for each component, the rows whose posterior
    probability exceeds ``eps``, binned by that probability, with the counts on a
    square-root scale (bar heights are the square roots of the counts; the ticks are
    labelled in counts). Well-separated components pile up near 0 and 1.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.
    X, y : array-like
        Data (for a formula model the data frame; ``y`` is then read from it).
    ax : matplotlib Axes or sequence of K Axes, optional
        The K panels, or one axes whose area is divided into them; a new figure when
        None.
    bins : int, default=20
    eps : float, default=1e-4
    **kwargs
        ``offset``, ``trials``, ``concomitant``, ``groups``, as for
        :meth:`RegressionMixture.posterior`.

    Returns
    -------
    axes : ndarray of K matplotlib Axes
    """
    resp = model.posterior(X, y, **kwargs)
    K = resp.shape[1]
    axes = _panels(ax, K)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = [np.histogram(resp[resp[:, k] > eps, k], bins=edges)[0] for k in range(K)]
    top = max(int(c.max()) for c in counts)
    ticks = _sqrt_ticks(top)
    for k, panel in enumerate(axes):
        panel.stairs(np.sqrt(counts[k]), edges, fill=True, color=f"C{k}", alpha=0.7)
        panel.set_title(f"component {k + 1}")
        panel.set_xlim(0, 1)
        panel.set_ylim(0, 1.05 * np.sqrt(max(top, 1)))
        panel.set_yticks(np.sqrt(ticks))
        panel.set_yticklabels([f"{c:g}" for c in ticks])
        panel.set_xlabel("posterior probability")
    axes[0].set_ylabel("count (square-root scale)")
    return axes


def plot_coefficients(model, *, ax=None, alpha: float = 0.05, table=None,
                      include=("intercept", "coef")):
    """Each component's coefficients with ``1 - alpha`` confidence intervals.

    The components' coefficients and, for a model with concomitant variables, the
    gating coefficients (log-odds of components 2..K against component 1) are on two
    panels, each with its own scale.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model (with ``compute_se=True``), or None when ``table`` is given.
    ax : matplotlib Axes or sequence of Axes, optional
        One axes per panel, or one axes whose area is divided into the panels; a new
        figure when None.
    alpha : float, default=0.05
    table : pandas.DataFrame, optional
        A parameter table to draw instead of ``model.coef_table(alpha)`` (for example a
        bootstrap's ``table()``).
    include : tuple of str
        ``"intercept"`` and/or ``"coef"``; sigmas and weights are on other scales.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        The components' coefficients, then the gating coefficients if any.
    """
    table = model.coef_table(alpha) if table is None else table
    params = table.index.get_level_values("parameter").astype(str)
    gate = params.str.startswith("gate:")
    keep = ~params.isin(["sigma", "weight"]) & ~gate
    if "intercept" not in include:
        keep &= params != "intercept"
    if "coef" not in include:
        keep &= params == "intercept"
    parts = [(table[keep], "component coefficients")]
    if gate.any():
        parts.append((table[gate], "gating coefficients\n(log-odds against component 1)"))
    axes = _panels(ax, len(parts), panel_size=(5.0, 3.6))
    for panel, (part, title) in zip(axes, parts, strict=True):
        _interval_panel(panel, part, alpha)
        if len(parts) > 1:
            panel.set_title(title, fontsize="medium")
    return axes


def _interval_panel(ax, table, alpha: float) -> None:
    """Estimates and intervals of ``table``'s rows, one row of the axis per parameter
    and an offset marker per component (coloured as in the other plots)."""
    names = list(dict.fromkeys(table.index.get_level_values("parameter")))
    components = list(dict.fromkeys(table.index.get_level_values("component")))
    width = 0.8 / max(len(components), 1)
    for i, comp in enumerate(components):
        part = table.xs(comp, level="component").reindex(names)
        est, lo, hi = (part[c].to_numpy(dtype=float) for c in ("estimate", "ci_lower",
                                                               "ci_upper"))
        pos = np.arange(len(names)) + (i - (len(components) - 1) / 2) * width
        ax.errorbar(est, pos, xerr=np.vstack([est - lo, hi - est]), fmt="o", capsize=3,
                    label=f"component {comp}", color=f"C{_component_index(comp)}")
    ax.axvline(0.0, color="grey", lw=1, ls=":")
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels([re.sub(r"^gate:", "", str(n)) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel(f"estimate with {100 * (1 - alpha):.0f}% interval")
    ax.legend(loc="best", fontsize="small")


def _component_index(comp) -> int:
    return int(comp) - 1 if isinstance(comp, numbers.Integral) else 0
