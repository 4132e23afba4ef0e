"""A printable report of a fitted mixture: header statistics and a parameter table.

:class:`Summary` renders as fixed-width text (``str``), HTML (shown by Jupyter) and a
LaTeX tabular. :func:`make_summary` builds one from a fitted model, its data and a
table from :func:`regmix.inference.covariance.coef_table` or
:meth:`regmix.inference.bootstrap.BootstrapResult.table`.
"""

from __future__ import annotations

import html
import numbers
import textwrap
from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import pandas as pd

from regmix.inference.diagnostics import classification_sums, summary_entries

__all__ = ["Summary", "format_value", "make_summary"]


_MIN_WIDTH = 78


# The text report is at most this wide: longer header entries (a formula) get lines of
# their own, wrapped, and a long parameter name a line above its values. Only cells
# too wide to fit side by side widen it.
_MAX_WIDTH = 80


_COLUMNS = ["estimate", "std_err", "z", "p_value", "ci_lower", "ci_upper"]


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}


# ---------------------------------------------------------------------- formatting
def format_value(value) -> str:
    """A header value as text: integers plainly, reals with three decimals."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _format_real(float(value), 3)
    return str(value)


def _format_real(v: float, decimals: int) -> str:
    if not np.isfinite(v):
        return "" if np.isnan(v) else str(v)
    if v != 0 and not 1e-4 <= abs(v) < 1e9:
        return f"{v:.{decimals}e}"
    return f"{v:.{decimals}f}"


def _format_cell(column: str, v: float) -> str:
    if np.isnan(v):
        return ""
    if column == "p_value":
        return f"{v:.3f}"
    if column == "z":
        return _format_real(v, 3)
    return _format_real(v, 4)


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _is_vector(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, pd.Series))


# ---------------------------------------------------------------------- the report
class Summary:
    """A report of a fitted mixture of regressions.

    Parameters
    ----------
    header : mapping of str to value
        Scalar entries (shown in two columns, in order) and vector entries of length K
        (per-component rows such as component sizes).
    table : pandas.DataFrame
        Parameter table with columns ``estimate``, ``std_err``, ``z``, ``p_value``,
        ``ci_lower``, ``ci_upper``, indexed by (component, parameter) or by parameter.
        ``table.attrs["alpha"]`` labels the interval columns.
    title : str, default="Mixture of linear regressions"
    notes : sequence of str, optional
        Lines printed under the parameter table.

    Examples
    --------
    >>> import pandas as pd
    >>> index = pd.MultiIndex.from_tuples([(1, "x0")], names=["component", "parameter"])
    >>> table = pd.DataFrame([[1.0, 0.1, 10.0, 0.0, 0.8, 1.2]], index=index,
    ...                      columns=["estimate", "std_err", "z", "p_value", "ci_lower",
    ...                               "ci_upper"])
    >>> print(Summary({"Components": 1}, table))
                            Mixture of linear regressions
    ==============================================================================
    Components:                         1
    ==============================================================================
                  estimate   std err         z     P>|z|  ci_lower  ci_upper
    ------------------------------------------------------------------------------
    Component 1
      x0            1.0000    0.1000    10.000     0.000    0.8000    1.2000
    ==============================================================================
    """

    def __init__(
        self,
        header: Mapping[str, object],
        table: pd.DataFrame,
        title: str = "Mixture of linear regressions",
        notes: Sequence[str] = (),
    ) -> None:
        missing = [c for c in _COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"table is missing columns {missing}")
        self.header = dict(header)
        self.table = table
        self.title = title
        self.notes = [str(s) for s in notes]

    # ------------------------------------------------------------------ pieces
    def _scalars(self) -> list[tuple[str, str]]:
        return [(f"{k}:", format_value(v)) for k, v in self.header.items() if not _is_vector(v)]

    def _vectors(self) -> list[tuple[str, list[str]]]:
        return [(k, [format_value(x) for x in v]) for k, v in self.header.items()
                if _is_vector(v)]

    def _column_labels(self) -> list[str]:
        alpha = self.table.attrs.get("alpha")
        if alpha is None:
            ci = ["ci_lower", "ci_upper"]
        else:
            ci = [f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"]
        return ["estimate", "std err", "z", "P>|z|", *ci]

    def _sections(self) -> list[tuple[str | None, list[tuple[str, list[str]]]]]:
        """(heading, rows) per component; rows are (name, formatted cells)."""
        index = self.table.index
        values = self.table[_COLUMNS].to_numpy(dtype=np.float64)
        rows = [
            [_format_cell(c, v) for c, v in zip(_COLUMNS, row, strict=True)] for row in values
        ]
        if not isinstance(index, pd.MultiIndex):
            return [(None, [(str(i), r) for i, r in zip(index, rows, strict=True)])]
        sections: dict[object, list] = {}
        for (comp, *rest), r in zip(index, rows, strict=True):
            sections.setdefault(comp, []).append((" ".join(map(str, rest)), r))
        return [(f"Component {comp}", items) for comp, items in sections.items()]

    def _component_labels(self) -> list[str]:
        index = self.table.index
        n = max((len(v) for _, v in self._vectors()), default=0)
        if isinstance(index, pd.MultiIndex):
            labels = [str(c) for c in index.get_level_values(0).unique()]
            if len(labels) >= n:  # else a component without rows (a gated point mass)
                return labels
        return [str(k + 1) for k in range(n)]

    # ------------------------------------------------------------------ text
    def as_text(self) -> str:
        """The report as fixed-width text."""
        labels = self._column_labels()
        sections = self._sections()
        rows_cells = [r for _, rows in sections for _, r in rows]
        cell_ws = [max([len(r[j]) for r in rows_cells] + [len(label), 8]) + 2
                   for j, label in enumerate(labels)]
        cells_w = sum(cell_ws)
        name_w = max([len(name) + 2 for _, rows in sections for name, _ in rows]
                     + [len(h or "") for h, _ in sections] + [12])
        name_w = min(name_w, max(_MAX_WIDTH - cells_w, 12))
        width = max(_MIN_WIDTH, name_w + cells_w, min(self._header_width(), _MAX_WIDTH))

        def cells(values: list[str]) -> str:
            return "".join(c.rjust(w) for c, w in zip(values, cell_ws, strict=True))

        lines = [self.title.center(width).rstrip(), "=" * width]
        lines += self._header_lines(width)
        vectors = self._vector_lines(width)
        if vectors:
            lines += ["=" * width, *vectors]
        lines += ["=" * width, " " * name_w + cells(labels),
                  "-" * width]
        for heading, rows in sections:
            if heading is not None:
                lines.append(heading)
            for name, r in rows:
                label = "  " + name
                if len(label) > name_w:  # the name on a line of its own, values below
                    lines.append(label)
                    label = ""
                lines.append(label.ljust(name_w) + cells(r))
        lines.append("=" * width)
        lines += [part for note in self.notes
                  for part in textwrap.wrap(note, max(width, _MAX_WIDTH),
                                            break_on_hyphens=False)]
        return "\n".join(line.rstrip() for line in lines)

    def _header_width(self) -> int:
        pairs = self._scalars()
        longest = max((len(k) + len(v) + 2 for k, v in pairs), default=0)
        return 2 * longest + 3

    def _header_lines(self, width: int) -> list[str]:
        """Two columns of the scalar entries; those too long for half the width after
        them, each on lines of its own."""
        col = (width - 3) // 2
        fits = [len(k) + len(v) + 1 <= col for k, v in self._scalars()]
        pairs = [p for p, ok in zip(self._scalars(), fits, strict=True) if ok]
        long = [p for p, ok in zip(self._scalars(), fits, strict=True) if not ok]
        half = (len(pairs) + 1) // 2
        left, right = pairs[:half], pairs[half:]
        lines = []
        for i, (k, v) in enumerate(left):
            text = k + v.rjust(col - len(k))
            if i < len(right):
                rk, rv = right[i]
                text += "   " + rk + rv.rjust(width - col - 3 - len(rk))
            lines.append(text)
        for k, v in long:
            lines += textwrap.wrap(f"{k} {v}", width, subsequent_indent=" " * (len(k) + 1),
                                   break_on_hyphens=False)
        return lines

    def _vector_lines(self, width: int) -> list[str]:
        vectors = self._vectors()
        if not vectors:
            return []
        comps = self._component_labels()
        name_w = max(len(k) for k, _ in vectors + [("Component", [])]) + 2
        cell_w = max([len(c) for _, v in vectors for c in v] + [len(c) for c in comps]
                     + [8]) + 2
        per_line = max((width - name_w) // cell_w, 1)  # many components: blocks of them
        lines: list[str] = []
        for start in range(0, len(comps), per_line):
            part = slice(start, start + per_line)
            lines += [""] if start else []
            lines.append("Component".ljust(name_w) + "".join(c.rjust(cell_w)
                                                             for c in comps[part]))
            lines += [k.ljust(name_w) + "".join(c.rjust(cell_w) for c in v[part])
                      for k, v in vectors]
        return lines

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    # ------------------------------------------------------------------ HTML
    def as_html(self) -> str:
        """The report as HTML tables (well-formed XHTML in one ``div``)."""
        e = html.escape
        parts = ['<div class="regmix-summary">',
                 '<table class="regmix-summary-header">',
                 f"<caption>{e(self.title)}</caption>", "<tbody>"]
        pairs = self._scalars()
        half = (len(pairs) + 1) // 2
        for i in range(half):
            cells = [pairs[i]] + ([pairs[half + i]] if half + i < len(pairs) else [("", "")])
            parts.append("<tr>" + "".join(f"<th>{e(k)}</th><td>{e(v)}</td>" for k, v in cells)
                         + "</tr>")
        parts += ["</tbody>", "</table>"]
        parts += self._html_vectors()
        parts += self._html_coefficients()
        parts += [f"<p>{e(note)}</p>" for note in self.notes]
        parts.append("</div>")
        return "\n".join(parts)

    def _html_vectors(self) -> list[str]:
        vectors = self._vectors()
        if not vectors:
            return []
        e = html.escape
        head = "".join(f"<th>{e(c)}</th>" for c in self._component_labels())
        parts = ['<table class="regmix-summary-components">',
                 f"<thead><tr><th>Component</th>{head}</tr></thead>", "<tbody>"]
        for k, v in vectors:
            parts.append(f"<tr><th>{e(k)}</th>" + "".join(f"<td>{e(c)}</td>" for c in v)
                         + "</tr>")
        return parts + ["</tbody>", "</table>"]

    def _html_coefficients(self) -> list[str]:
        e = html.escape
        labels = self._column_labels()
        head = "".join(f"<th>{e(c)}</th>" for c in labels)
        parts = ['<table class="regmix-summary-coefficients">',
                 f"<thead><tr><th></th>{head}</tr></thead>", "<tbody>"]
        for heading, rows in self._sections():
            if heading is not None:
                parts.append(f'<tr><th colspan="{len(labels) + 1}">{e(heading)}</th></tr>')
            for name, r in rows:
                parts.append(f"<tr><th>{e(name)}</th>" + "".join(f"<td>{e(c)}</td>" for c in r)
                             + "</tr>")
        return parts + ["</tbody>", "</table>"]

    def _repr_html_(self) -> str:
        return self.as_html()

    # ------------------------------------------------------------------ LaTeX
    def as_latex(self) -> str:
        """The report as LaTeX tabulars: header, component rows, parameter table."""
        x = _latex_escape
        pairs = self._scalars()
        half = (len(pairs) + 1) // 2
        lines = [r"\begin{tabular}{lrlr}", r"\hline",
                 r"\multicolumn{4}{c}{" + x(self.title) + r"} \\", r"\hline"]
        for i in range(half):
            cells = [pairs[i]] + ([pairs[half + i]] if half + i < len(pairs) else [("", "")])
            lines.append(" & ".join(f"{x(k)} & {x(v)}" for k, v in cells) + r" \\")
        lines += [r"\hline", r"\end{tabular}"]
        vectors = self._vectors()
        if vectors:
            comps = self._component_labels()
            lines += ["", r"\begin{tabular}{l" + "r" * len(comps) + "}", r"\hline",
                      "Component & " + " & ".join(x(c) for c in comps) + r" \\", r"\hline"]
            lines += [x(k) + " & " + " & ".join(x(c) for c in v) + r" \\" for k, v in vectors]
            lines += [r"\hline", r"\end{tabular}"]
        labels = self._column_labels()
        lines += ["", r"\begin{tabular}{l" + "r" * len(labels) + "}", r"\hline",
                  " & " + " & ".join(x(c) for c in labels) + r" \\", r"\hline"]
        for heading, rows in self._sections():
            if heading is not None:
                lines.append(rf"\multicolumn{{{len(labels) + 1}}}{{l}}{{{x(heading)}}} \\")
            lines += [x(name) + " & " + " & ".join(x(c) for c in r) + r" \\" for name, r in rows]
        lines.append(r"\hline")
        span = len(labels) + 1
        lines += [rf"\multicolumn{{{span}}}{{l}}{{{x(note)}}} \\" for note in self.notes]
        lines.append(r"\end{tabular}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- from a model
def family_label(family) -> str:
    """The family's name and, for a GLM family, its link: ``"Poisson (log link)"``;
    with a family per component, theirs joined by ``" + "``."""
    families = getattr(family, "families", None)
    if families is not None:
        return " + ".join(family_label(f) for f in families)
    label = str(getattr(family, "label", family.name))
    if hasattr(family, "link"):
        label += f" ({family.link_name} link)"
    return label


def summary_title(family) -> str:
    """``"Mixture of <kind> regressions"`` for the family (``"Mixture of regressions"``
    with a family per component, which the header's family line lists)."""
    if getattr(family, "families", None) is not None:
        return "Mixture of regressions"
    kind = {"gaussian": "linear", "binomial": "binomial",
            "negative_binomial": "negative binomial",
            "lognormal": "log-normal"}.get(family.name,
                                                          getattr(family, "label", family.name))
    return f"Mixture of {kind} regressions"


def summary_header(model, *, n_rows: int, sum_weights: float | None, n_groups: int | None,
                   log_likelihood: float, aic: float, bic: float, icl: float,
                   sizes, counts) -> dict[str, object]:
    """The header of a model's summary, in print order.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model (its class, family, formula, components, convergence,
        iterations and number of free parameters).
    n_rows : int
        Rows the statistics are taken over.
    sum_weights : float or None
        Their sum of weights, printed when the rows were weighted.
    n_groups : int or None
        Number of groups, for grouped rows.
    log_likelihood, aic, bic, icl : float
        The fit statistics on those rows.
    sizes, counts : ndarray of shape (K,)
        Per component the sum of posterior probabilities and the number (or weight)
        of the observations whose most probable component it is.

    Returns
    -------
    dict
    """
    header: dict[str, object] = {"Model": type(model).__name__,
                                 "Family": family_label(model.family_),
                                 "No. observations": int(n_rows)}
    if sum_weights is not None:
        header["Sum of weights"] = float(sum_weights)
    if n_groups is not None:
        header["Groups"] = int(n_groups)
    if getattr(model, "formula", None) is not None:
        header["Formula"] = model.formula
    header.update({
        "Components": int(model.n_components),
        "Converged": bool(model.converged_),
        "Iterations": int(model.n_iter_),
    })
    n_at_best, n_runs = getattr(model, "n_at_best_", None), getattr(model, "n_runs_", None)
    if n_at_best is not None and n_runs is not None:
        header["Best LL reached"] = f"{n_at_best} of {n_runs} starts"
    header.update({
        "Log-likelihood": float(log_likelihood),
        "Parameters": int(model.n_parameters_),
        "AIC": float(aic),
        "BIC": float(bic),
        "ICL": float(icl),
        "Size (posterior)": np.asarray(sizes),
        "Size (hard)": np.asarray(counts),
    })
    return header


def make_summary(model, X, y, table: pd.DataFrame, sample_weight=None, *, offset=None,
                 trials=None, concomitant=None, groups=None) -> Summary:
    """A :class:`Summary` of a fitted model on the data it was fitted to.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model (any family).
    X : array-like of shape (n, n_features)
    y : array-like of shape (n,)
    table : pandas.DataFrame
        The parameter table (:func:`regmix.inference.covariance.coef_table` or
        :meth:`regmix.inference.bootstrap.BootstrapResult.table`).
    sample_weight : array-like of shape (n,), optional
        Row weights used in the fit; sizes and criteria are weighted by them.
    offset, trials, concomitant, groups : optional
        As given to the model's ``fit``.

    Returns
    -------
    Summary
        Header: model, family (and link), number of rows (and sum of weights, number
        of groups, formula), components, convergence, iterations, how many of the
        fit's runs from independent starting points reached the best log-likelihood
        (when the model records it), log-likelihood,
        number of free parameters, AIC, BIC, ICL, and per component the sum of
        posterior probabilities and the number of observations (rows, or groups; the
        weight of rows) whose most probable component it is.
    """
    more = dict(offset=offset, trials=trials, concomitant=concomitant, groups=groups)
    # per observation (row, or group, whose rows' log-densities the weights multiply)
    rows_resp, _, obs_w, resp = model._posteriors(X, y, sample_weight, **more)
    n, K = rows_resp.shape
    n_groups = None if groups is None else resp.shape[0]
    sums = classification_sums(resp, obs_w)
    hard = sums.counts
    if sample_weight is None or groups is not None:
        hard = hard.round().astype(np.int64)
    crit = dict(sample_weight=sample_weight, **more)
    header = summary_header(
        model, n_rows=n, sum_weights=None if sample_weight is None else float(
            np.asarray(sample_weight, dtype=np.float64).sum()),
        n_groups=n_groups, log_likelihood=model.log_likelihood(X, y, **crit),
        aic=model.aic(X, y, **crit), bic=model.bic(X, y, **crit),
        icl=model.icl(X, y, **crit), sizes=sums.sizes, counts=hard)
    header.update(summary_entries(cast(float, header["Log-likelihood"]),
                                  model.n_parameters_, float(obs_w.sum()), sums))
    return Summary(header, table, title=summary_title(model.family_),
                   notes=summary_notes(table, n, n_groups))


def summary_notes(table: pd.DataFrame, n_rows: int | None = None,
                  n_groups: int | None = None) -> list[str]:
    """The notes printed under a parameter table (how errors were computed, which rows
    have no test, what the gating coefficients compare, what a grouped fit counts)."""
    notes = []
    if n_groups is not None:
        notes.append(f"Grouped fit: {n_rows} rows in {n_groups} groups; the groups are the "
                     "observations of the log-likelihood, the criteria and the sizes.")
    params = table.index.get_level_values(-1).astype(str)
    if params.str.startswith("gate:").any():
        notes.append("Gating (gate:...): log-odds of each component against component 1, "
                     "the baseline, whose gating coefficients are zero.")
    method = table.attrs.get("se_method")
    if method:
        notes.append(f"Standard errors: {method}.")
    untested = table.attrs.get("no_test")
    if untested:
        notes.append(f"z and P>|z| test a zero value; not given for {', '.join(untested)} "
                     "(zero is on the boundary).")
    if (params == "ratio").any():
        notes.append("ratio: w_k of random-effect covariances proportional across the "
                     "components, D_k = w_k^2 D_K.")
    common = table.attrs.get("common")
    if common:
        notes.append(f"Common to all components, shown under component 1: "
                     f"{', '.join(common)}.")
    return notes
