"""The bodies of the ``regmix`` commands (:mod:`regmix.cli` declares them).

Imported by a command when it runs, not when the command tree is built, so that
``regmix --help`` does not import numpy, pandas, scikit-learn and the estimator.
"""

from __future__ import annotations

import errno
import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from regmix.cli_errors import UserError, _error_text, _first_line
from regmix.core.choices import RANDOM_COV_CLASSES, RANDOM_COVS
from regmix.core.files import atomic_path
from regmix.demo import run_demo, save_demo_figure
from regmix.estimator.formula import plain_formula, split_random, split_responses
from regmix.estimator.mixture import RegressionMixture
from regmix.families.censored_gaussian import CensoredGaussian
from regmix.families.mixed_gaussian import MixedGaussian
from regmix.families.multi_response import MultiResponse
from regmix.interrupts import interruptible
from regmix.persistence import load
from regmix.plotting import plot_criteria, plot_fit, plot_history
from regmix.selection import select_components
from regmix.sources.parquet import ParquetData

__all__ = ["csv_lines", "demo", "fit", "load_model", "model_report", "predict",
           "predictions", "read_data", "select"]


CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst")


PARQUET_SUFFIXES = (".parquet", ".pq")


# Summary header labels and the keys they get in JSON output (other labels are slugged).
_HEADER_KEYS = {
    "Model": "model",
    "Family": "family",
    "No. observations": "n_observations",
    "Sum of weights": "sum_weights",
    "Groups": "n_groups",
    "Formula": "formula",
    "Components": "n_components",
    "Converged": "converged",
    "Iterations": "n_iter",
    "Log-likelihood": "log_likelihood",
    "Parameters": "n_parameters",
    "AIC": "aic",
    "BIC": "bic",
    "ICL": "icl",
    "Size (posterior)": "component_sizes",
    "Size (hard)": "component_counts",
}


# ---------------------------------------------------------------------- input
def read_data(path: str) -> pd.DataFrame:
    """Read a data set from a CSV file or a Parquet file or directory.

    Parameters
    ----------
    path : str
        A ``.csv`` file (possibly compressed: ``.csv.gz`` and so on), a ``.parquet`` or
        ``.pq`` file, or a directory of Parquet files.

    Returns
    -------
    pandas.DataFrame
        At least one row and one column.

    Raises
    ------
    UserError
        When the path does not exist, has an unknown file type, is empty or cannot be
        read, or when pyarrow is needed and missing.
    """
    p = Path(path)
    if not p.exists():
        raise UserError(f"cannot read {path}: no such file or directory")
    if p.is_dir():
        kind = "Parquet"
    else:
        name = p.name.lower()
        if name.endswith(CSV_SUFFIXES):
            kind = "CSV"
        elif name.endswith(PARQUET_SUFFIXES):
            kind = "Parquet"
        else:
            raise UserError(
                f"unknown file type of {path}: expected a .csv file, a .parquet file or a "
                "directory of Parquet files"
            )
        try:
            size = p.stat().st_size
        except OSError as err:
            raise UserError(f"cannot read {path}: {_error_text(err)}") from None
        if size == 0:
            raise UserError(f"{path} is empty")
    try:
        frame = _read_csv(p) if kind == "CSV" else _read_parquet(p)
    except UserError:
        raise
    except (OSError, ValueError, TypeError, ImportError) as err:
        # ImportError: a compression library pandas needs (zstandard, say) is missing
        raise UserError(f"cannot read {path} as {kind}: {_error_text(err)}") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise UserError(f"{path} has no data rows")
    return frame


def _read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, skipinitialspace=True)
    _check_mostly_numeric(frame, path)
    return frame


def _check_mostly_numeric(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a text column whose cells are numbers but for a few: a stray string in a
    numeric column (``"oops"`` among numbers), which a formula would otherwise code as
    a categorical variable with a level per number. A column that is mostly text (or
    a column named in ``C()``) is categorical as it should be."""
    for name in frame.columns:
        column = frame[name]
        if not (pd.api.types.is_object_dtype(column.dtype)
                or pd.api.types.is_string_dtype(column.dtype)):
            continue
        present = column.dropna()
        numbers = pd.to_numeric(present, errors="coerce")
        n_text = int(numbers.isna().sum())
        if 0 < n_text and n_text < 0.5 * len(present):
            i = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            line = int(present.index[i]) + 2  # the header is line 1
            raise UserError(f"column {name!r} of {path} holds numbers but for "
                            f"{n_text} cell(s): line {line} has {present.iloc[i]!r}; fix "
                            "the value (or write missing values as empty cells)")


# A row of the data in the library's messages: "row 5", or "y[5]" for the response
_ROW = re.compile(r"\brow (\d+)\b")
_ITEM = re.compile(r"\b(y|trials)\[(\d+)\]( = )?")


def csv_lines(message: str, path: str) -> str:
    """``message`` with the rows of the CSV file ``path`` that it names (0-based
    positions among the data rows) written as lines of the file: the header is line 1,
    so data row i is line i + 2."""
    where = f"of {path}"
    message = _ROW.sub(lambda m: f"line {int(m.group(1)) + 2} {where}", message)
    return _ITEM.sub(lambda m: f"{m.group(1)} on line {int(m.group(2)) + 2} {where}"
                     + (" is " if m.group(3) else ""), message)


@contextmanager
def _naming_lines(path: str) -> Iterator[None]:
    """Report a ValueError about the rows of a CSV file ``path`` with the lines of the
    file (see :func:`csv_lines`); other inputs keep their 0-based rows."""
    try:
        yield
    except ValueError as err:
        if not Path(path).name.lower().endswith(CSV_SUFFIXES):
            raise
        raise UserError(csv_lines(_error_text(err), path)) from None


def _need_pyarrow(what: str):
    """Import pyarrow, or fail with a one-line hint naming ``what`` needs it."""
    try:
        import pyarrow
    except ImportError:
        raise UserError(
            f"{what} needs pyarrow, which is not installed: pip install 'regmix[parquet]'"
        ) from None
    return pyarrow


def _read_parquet(path: Path) -> pd.DataFrame:
    pyarrow = _need_pyarrow(f"reading {path}")
    from pyarrow import parquet
    pool = pyarrow.default_memory_pool()
    try:
        schema = parquet.read_schema(path) if path.is_file() else parquet.ParquetDataset(
            path).schema
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        names = [n for n in schema.names if n not in index]
        columns = {}
        for i, name in enumerate(names):
            # one column at a time, its Arrow buffers released before the next: the
            # frame plus about two columns at the peak, where reading the table whole
            # held it beside the frame
            table = parquet.read_table(path, columns=[name], use_pandas_metadata=i == 0)
            part = table.to_pandas(self_destruct=True, split_blocks=True)
            del table
            pool.release_unused()
            if i == 0:
                first_index = part.index
            columns[name] = part[name].reset_index(drop=True)  # no copy, no alignment
    except pyarrow.ArrowException as err:
        raise ValueError(_error_text(err)) from None
    if not columns:
        return pd.DataFrame()
    frame = pd.DataFrame(columns, copy=False)
    frame.index = first_index
    return frame


def load_model(path: str) -> RegressionMixture:
    """Read a model file written by ``regmix fit --out`` or ``RegressionMixture.save``.

    Raises
    ------
    UserError
        When the file cannot be read, is damaged, is not a regmix model or was written
        by a newer regmix.
    """

    try:
        return load(path)
    except OSError as err:
        raise UserError(f"cannot read model {path}: {err.strerror or err}") from None


# ---------------------------------------------------------------------- output
def _check_output(path: str | None) -> None:
    """Refuse, before any work, an output path whose directory does not exist."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    parent = p.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {path}: no such directory {parent}")


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """Report an OSError while writing ``path`` as one line."""
    try:
        yield
    except OSError as err:
        if err.errno == errno.EPIPE:
            raise
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None


def _need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install 'regmix[plot]'") from None


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        click.echo(message, err=True)


def _progress(quiet: bool) -> bool:
    """Show progress bars only on a terminal, and never with ``--quiet``."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not quiet and isatty is not None and bool(isatty())


@contextmanager
def _collected_warnings() -> Iterator[list[str]]:
    """Collect the warnings raised in the block; print each once as ``warning: ...``.

    The list yielded is filled when the block ends (and stays empty if it raises: the
    error line is then the only output on standard error).
    """
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        yield messages
    for item in caught:
        text = _first_line(item.message)
        if text and text not in messages:
            messages.append(text)
    for text in messages:
        click.echo(f"warning: {text}", err=True)


def _jsonable(value: Any) -> Any:
    """``value`` made of JSON types only; NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _dump_json(obj: dict[str, Any]) -> str:
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False)


def _header_key(label: str) -> str:
    return _HEADER_KEYS.get(label) or re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def model_report(model: RegressionMixture, **cov: Any) -> dict[str, Any]:
    """A fitted model as a JSON-ready dict: header, coefficient table and diagnostics.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model (with standard errors).
    **cov :
        ``cov_type``, ``X``, ``clusters``, ... for the standard errors, as taken by
        :meth:`RegressionMixture.summary`; observed information by default.

    Returns
    -------
    dict
        ``header``: the summary's header values (``model``, ``family``,
        ``n_observations``, ``formula``, ``n_components``, ``converged``, ``n_iter``,
        ``log_likelihood``, ``n_parameters``, ``aic``, ``bic``, ``icl``,
        ``component_sizes``, ``component_counts``, ``sabic``, ``caic``, ``awe``,
        ``entropy_relative``, ``avg_posterior`` and the classification table's rows
        ``mean_post_class_<c>``); ``coefficients``: one record per row
        of :meth:`RegressionMixture.coef_table` (``component``, ``parameter``,
        ``estimate``, ``std_err``, ``z``, ``p_value``, ``ci_lower``, ``ci_upper``; an
        empty test is None); ``diagnostics``: ``converged``, ``n_iter``, ``n_passes``,
        ``log_likelihood_history``, and ``n_at_best`` of ``n_runs``, the runs from
        independent starting points that reached the best log-likelihood (None when
        the model does not record them); ``se_method``: how the standard errors were
        computed.
    """
    summary = model.summary(**cov)
    header = {_header_key(label): value for label, value in summary.header.items()}
    records = summary.table.reset_index().to_dict(orient="records")
    diagnostics = {
        "converged": model.converged_,
        "n_iter": model.n_iter_,
        "n_passes": model.n_passes_,
        "log_likelihood_history": model.log_likelihood_history_,
        "n_at_best": getattr(model, "n_at_best_", None),
        "n_runs": getattr(model, "n_runs_", None),
    }
    return {"header": header, "coefficients": records, "diagnostics": diagnostics,
            "se_method": summary.table.attrs.get("se_method")}


# ---------------------------------------------------------------------- plots
def _save_fit_plot(model: RegressionMixture, frame: pd.DataFrame, path: str,
                   x: str | None = None, by: str | None = None) -> None:
    """Two panels: the data with each component's fitted curve against ``x`` (one per
    level of ``by``), and the log-likelihood history."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5))
    ax_fit, ax_ll = fig.subplots(1, 2)
    plot_fit(model, frame, None, x=x, by=by, ax=ax_fit, bands=model.information_ is not None)
    plot_history(model, ax=ax_ll)
    fig.suptitle(f"{model.formula}, K = {model.n_components}")
    fig.tight_layout()
    with _writing(path):
        fig.savefig(path, dpi=110)


def _save_criteria_plot(selection, path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.5))
    plot_criteria(selection, ax=fig.subplots())
    fig.tight_layout()
    with _writing(path):
        fig.savefig(path, dpi=110)


# ---------------------------------------------------------------------- options
def _censoring_family(family, em: dict[str, Any]):
    """The family with the censoring and truncation options of
    :data:`regmix.cli._fit_settings` (``--lower``, ``--upper``, ``--truncation``), which
    apply to the censored_gaussian family only."""
    lower, upper, truncation = em.pop("lower"), em.pop("upper"), em.pop("truncation")
    if lower is None and upper is None and truncation is None:
        return family
    if family != CensoredGaussian.name:
        raise UserError(f"--lower, --upper and --truncation apply to --family "
                        f"{CensoredGaussian.name}; got --family {family}")
    limits = None
    if truncation is not None:
        parts = truncation.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            limits = tuple(float(t) if t.strip() else default
                           for t, default in zip(parts, (-np.inf, np.inf), strict=True))
        except ValueError:
            raise UserError(f"--truncation {truncation!r} is not LOW,HIGH (numbers, an empty "
                            "side for an open one)") from None
    try:
        return CensoredGaussian(lower=lower, upper=upper, truncation=limits)
    except ValueError as err:
        raise UserError(f"--lower/--upper/--truncation: {err}") from None


def _constraints(em: dict[str, Any]) -> dict[str, Any]:
    """The estimator's parameters from the options of :data:`regmix.cli._em_settings` (all but
    ``--weights``)."""
    fixed = dict(em["fixed_coef"])
    if len(fixed) < len(em["fixed_coef"]):
        raise UserError("--fixed-coef names a coefficient twice")
    common: dict[str, Any] = {}
    for text in dict.fromkeys(em["common_coef"]):
        name, at, components = text.rpartition("@") if "@" in text else (text, "", "")
        try:
            subset = [int(c) for c in components.split(",")] if at else "all"
        except ValueError:
            raise UserError(f"--common-coef {text!r}: after '@' come component numbers "
                            "separated by commas (x1@1,2)") from None
        if name in common and (subset == "all" or common[name] == "all"):
            raise UserError(f"--common-coef names {name!r} twice")
        common[name] = subset if name not in common else (
            [common[name], subset] if isinstance(common[name][0], int)
            else [*common[name], subset])
    weights = em["fixed_weights"]
    if weights is not None:
        try:
            weights = [float(w) for w in weights.split(",")]
        except ValueError:
            raise UserError(f"--fixed-weights {em['fixed_weights']!r} is not numbers "
                            "separated by commas") from None
    plain = all(v == "all" for v in common.values())
    return {"max_iter": em["max_iter"], "tol": em["tol"], "min_weight": em["min_weight"],
            "common_coef": (list(common) if plain else common) or None,
            "fixed_coef": fixed or None, "equal_variance": em["equal_variance"],
            "fixed_weights": weights}


def _weights_column(frame: pd.DataFrame, column: str | None, data: str) -> np.ndarray | None:
    """The row weights of ``--weights COLUMN`` (None without it), checked to be
    numbers; the library checks the rest (finite, non-negative, a positive sum)."""
    if column is None:
        return None
    if column not in frame.columns:
        raise UserError(f"--weights {column!r} is not a column of {data}")
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
            values.dtype):
        raise UserError(f"--weights column {column!r} of {data} is not numeric")
    return values.to_numpy(dtype=np.float64)


# The estimator's parameters set by options, and the options' names
_PARAMETER_OPTIONS = {"common_coef": "--common-coef", "fixed_coef": "--fixed-coef",
                      "fixed_weights": "--fixed-weights", "known_labels": "--known-labels",
                      "min_weight": "--min-weight", "max_iter": "--max-iter", "tol": "--tol"}


@contextmanager
def _naming_options(weights: str | None) -> Iterator[None]:
    """Report the library's ValueError about a parameter set by an option with the
    option's name, and one about ``sample_weight`` as one about the ``--weights``
    column."""
    try:
        yield
    except ValueError as err:
        text = _error_text(err).removeprefix("Input ")  # "Input sample_weight contains"
        if weights is not None and text.startswith("sample_weight"):
            text = f"the --weights column {weights!r}{text[len('sample_weight'):]}"
        else:
            found = [o for p, o in _PARAMETER_OPTIONS.items()
                     if re.match(rf"{p}\b", text)]
            if not found:
                raise
            text = f"{found[0]}: {text}"
        raise ValueError(text) from None


def _family(family: Any) -> Any:
    """The estimator's ``family`` from ``--family``: several responses of which some
    name their design columns (``(family, columns)`` entries) are a
    :class:`~regmix.families.multi_response.MultiResponse`."""
    if not isinstance(family, dict) or all(isinstance(f, str) for f in family.values()):
        return family
    return MultiResponse({r: f if isinstance(f, str) else f[0] for r, f in family.items()},
                         columns={r: f[1] for r, f in family.items() if not isinstance(f, str)})


# ---------------------------------------------------------------------- commands
def _random_family(family, link: str | None, groups: str | None, random: str | None,
                   formula: str, cov: str, cov_classes: str):
    """The family of ``--family``, ``--random`` and the covariance structure
    (``--random-cov``, ``--random-cov-classes``): a latent-class linear mixed model for
    random effects."""
    structure = {"cov": cov, "cov_classes": cov_classes}
    if random is None:
        if (cov, cov_classes) == (RANDOM_COVS[0], RANDOM_COV_CLASSES[0]):
            return family
        terms = split_random(formula)[1]
        if terms is None:
            raise UserError("--random-cov and --random-cov-classes apply to random effects: "
                            "add --random TERMS or a term '(terms | group)' to the formula")
        return MixedGaussian(terms, **structure)
    if family != "gaussian" or link not in (None, "identity"):
        raise UserError(f"--random gives Gaussian components random effects; got "
                        f"--family {family}")
    if groups is None:
        raise UserError("--random needs --groups COLUMN: the subjects of the random effects")
    try:
        return MixedGaussian(random, **structure)
    except ValueError as err:
        raise UserError(f"--{err}") from None


def fit(data: str, formula: str, n_init: int, seed: int, family: str, link: str | None,
        groups: str | None, fmt: str, quiet: bool, n_components: int, out: str | None,
        plot: str | None, plot_x: str | None, plot_by: str | None, stream: bool | None,
        cov_type: str, clusters: str | None, weights: str | None,
        known_labels: str | None, random: str | None = None,
        random_cov: str = RANDOM_COVS[0], random_cov_classes: str = RANDOM_COV_CLASSES[0],
        **em: Any) -> None:
    """Run ``regmix fit`` (declared, with its help, as :func:`regmix.cli.fit`)."""
    family = _censoring_family(family, em)
    settings = _constraints(em)
    family = _random_family(family, link, groups, random, formula, random_cov,
                            random_cov_classes)
    _check_output(out)
    _check_output(plot)
    if plot is None and (plot_x is not None or plot_by is not None):
        raise UserError("--plot-x and --plot-by choose what --plot draws: add --plot FILE")
    cov_type = cov_type.lower()
    if (clusters is not None) != (cov_type == "cluster"):
        raise UserError("--clusters COLUMN goes with --cov-type cluster, and --cov-type "
                        "cluster needs --clusters COLUMN")
    in_memory_only = {"--clusters": clusters, "--plot": plot, "--groups": groups,
                      "--known-labels": known_labels}
    for option, value in in_memory_only.items():
        if value is not None and stream:
            also = " or --plot" if option == "--plot" else ""
            raise UserError(f"{option} needs the data in memory; drop --stream{also}")
    if plot is not None:
        _need_matplotlib()
    if stream is None:  # neither --stream nor --no-stream: stream what would not fit
        stream = (all(v is None for v in in_memory_only.values())
                  and _streams_by_itself(data, formula, quiet))
    sample_weight = None
    if stream:
        frame = None
        source = _streamed_source(data, formula, weights)
        model = RegressionMixture(n_components, family=_family(family), link=link, n_init=n_init,
                                  random_state=seed, progress=_progress(quiet), **settings)
    else:
        frame = source = read_data(data)
        for option, name in (("--plot-x", plot_x), ("--plot-by", plot_by)):
            if name is not None and name not in frame.columns:
                raise UserError(f"{option} {name!r} is not a column of {data}")
        sample_weight = _weights_column(frame, weights, data)
        model = RegressionMixture(n_components, family=_family(family), link=link, formula=formula,
                                  n_init=n_init, random_state=seed,
                                  progress=_progress(quiet), **settings)
    as_json = fmt.lower() == "json"
    cov: dict[str, Any] = {} if cov_type == "oim" else {
        "cov_type": cov_type, "X": source, "clusters": clusters, "groups": groups}
    if sample_weight is not None and cov:
        cov["sample_weight"] = sample_weight
    with _collected_warnings() as caught, _naming_lines(data), _naming_options(weights):
        model.fit(source, sample_weight=sample_weight, groups=groups,
                  known_labels=known_labels)
        report = model_report(model, **cov) if as_json else model.summary(**cov).as_text()
    if as_json:
        click.echo(_dump_json({**report, "warnings": caught}))
    else:
        click.echo(report)
    _save_outputs(model, out, plot, quiet,
                  lambda path: _save_fit_plot(model, frame, path, plot_x, plot_by))


# Share of the available memory above which `regmix fit` streams a Parquet input by
# itself (when its formula allows it), and how many float64 copies of the columns an
# in-memory fit holds at its peak (the frame, the design and the response).
STREAM_SHARE = 0.5
IN_MEMORY_COPIES = 2.5


def available_memory() -> int | None:
    """Bytes of memory this process could still take: the kernel's estimate of the
    memory available without swapping (``MemAvailable``), within the cgroup's limit
    when one is set; None where neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (  # cgroup v2, then v1
            ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
             "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as f:
                limit = f.read().strip()
            with open(usage_file) as f:
                used = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max", or v1's huge "no limit"
            found.append(max(int(limit) - used, 0))
        break
    return min(found) if found else None


def _streams_by_itself(data: str, formula: str, quiet: bool) -> bool:
    """Whether ``regmix fit`` streams ``data`` without ``--stream``: a Parquet input,
    a formula of plain column names, and columns whose in-memory fit would take more
    than :data:`STREAM_SHARE` of the available memory. Says so when it does."""
    p = Path(data)
    if plain_formula(formula) is None or not p.exists() or not (
            p.is_dir() or p.name.lower().endswith(PARQUET_SUFFIXES)):
        return False
    free = available_memory()
    if free is None:
        return False
    _need_pyarrow(f"reading {data}")
    import pyarrow
    from pyarrow import dataset
    try:
        files = dataset.dataset(p, format="parquet")
        n_rows, n_columns = files.count_rows(), len(files.schema.names)
    except (pyarrow.ArrowException, OSError):
        return False  # read_data reports what is wrong with the file
    need = IN_MEMORY_COPIES * 8 * n_rows * n_columns
    if need <= STREAM_SHARE * free:
        return False
    _note(f"note: streaming {data} batch by batch: {n_rows:,} rows of {n_columns} columns "
          f"would take about {need / 2**30:.1f} GiB in memory, with {free / 2**30:.1f} GiB "
          "available (--no-stream loads it all the same)", quiet)
    return True


def _streamed_source(data: str, formula: str, weights: str | None = None):
    """A :class:`regmix.parquet.ParquetData` for ``regmix fit --stream``."""
    responses, rhs = split_responses(formula)
    # several responses "yn + yp ~ x": the plain formula of the first, all of them read
    plain = plain_formula(f"{responses[0]} {rhs}" if len(responses) > 1 else formula)
    if plain is None:
        raise UserError(
            f"--stream takes a formula of plain column names, such as 'y ~ x1 + x2'; "
            f"got {formula!r}"
        )
    p = Path(data)
    if not p.exists():
        raise UserError(f"cannot read {data}: no such file or directory")
    if not (p.is_dir() or p.name.lower().endswith(PARQUET_SUFFIXES)):
        raise UserError(f"--stream reads Parquet (a .parquet file or a directory); got {data}")
    _need_pyarrow(f"reading {data}")

    response, columns = plain
    # "y ~ x1 + x1" has the term x1 once, as a formula fitted in memory has it
    return ParquetData(p, x=list(dict.fromkeys(columns)),
                       y=responses if len(responses) > 1 else response, weights=weights)


def _save_outputs(model: RegressionMixture, out: str | None, plot: str | None, quiet: bool,
                  plot_fn: Callable[[str], None]) -> None:
    with interruptible():  # Ctrl-C unwinds here: the temporary files are removed
        _write_outputs(model, out, plot, quiet, plot_fn)


def _write_outputs(model: RegressionMixture, out: str | None, plot: str | None,
                   quiet: bool, plot_fn: Callable[[str], None]) -> None:
    if out is not None:
        with _writing(out):
            model.save(out)
        _note(f"wrote {out}", quiet)
    if plot is not None:
        plot_fn(plot)
        _note(f"wrote {plot}", quiet)


def select(data: str, formula: str, n_init: int, seed: int, family: str,
           link: str | None, groups: str | None, fmt: str, quiet: bool,
           ks: list[int], criterion: str, out: str | None, plot: str | None,
           weights: str | None, random: str | None = None,
           random_cov: str = RANDOM_COVS[0], random_cov_classes: str = RANDOM_COV_CLASSES[0],
           **em: Any) -> None:
    """Run ``regmix select`` (declared, with its help, as :func:`regmix.cli.select`)."""
    family = _censoring_family(family, em)
    settings = _constraints(em)
    family = _random_family(family, link, groups, random, formula, random_cov,
                            random_cov_classes)
    per_component = [name for name, value in em["fixed_coef"] if isinstance(value, list)]
    if per_component:
        raise UserError(f"--fixed-coef {per_component[0]}=V1,...,VK gives one value per "
                        "component, but 'regmix select' fits several K: give one value")

    criterion = criterion.lower()
    _check_output(out)
    _check_output(plot)
    if plot is not None:
        _need_matplotlib()
    template = RegressionMixture(max(ks), family=_family(family), link=link, formula=formula,
                                 n_init=n_init, random_state=seed,
                                 progress=_progress(quiet), **settings)
    with _naming_options(weights):
        template._check_params()  # refuse an impossible K before fitting the smaller ones
    frame = read_data(data)
    sample_weight = _weights_column(frame, weights, data)
    as_json = fmt.lower() == "json"
    with _collected_warnings() as caught, _naming_lines(data), _naming_options(weights):
        selection = select_components(frame, n_components=ks, criterion=criterion,
                                      estimator=template, sample_weight=sample_weight,
                                      groups=groups)
        best = selection.best_estimator_
        if as_json:
            report = {"criterion": criterion,
                      "best_n_components": selection.best_n_components_,
                      "table": _selection_records(selection),
                      "best": model_report(best)}
        else:
            text = f"{_selection_text(selection)}\n\n{best.summary().as_text()}"
    if as_json:
        click.echo(_dump_json({**report, "warnings": caught}))
    else:
        click.echo(text)
    _save_outputs(best, out, plot, quiet, lambda path: _save_criteria_plot(selection, path))


def _selection_records(selection) -> list[dict[str, Any]]:
    """The rows of a selection's table as records (``n_parameters`` an int or None)."""
    records = selection.table.reset_index().to_dict(orient="records")
    for row in records:
        n_par = row["n_parameters"]
        row["n_parameters"] = None if pd.isna(n_par) else int(n_par)
    return records


def _selection_text(selection) -> str:
    """The table of a component selection as fixed-width text, the choice marked."""
    table = selection.table
    crit = selection.criterion.upper()
    labels = ["K", "log-likelihood", "parameters", "AIC", "BIC", "ICL", "SABIC", "CAIC",
              "AWE", "entropy", "LMR p", "converged", "replicated", "status"]
    rows = []

    def num(v: float, spec: str = ".3f") -> str:
        return "-" if pd.isna(v) else format(float(v), spec)

    for k, row in table.iterrows():
        status = str(row["status"]).split(":", 1)[0]
        rows.append([
            ("* " if k == selection.best_n_components_ else "") + str(k),
            num(row["log_likelihood"]), num(row["n_parameters"], ".0f"),
            num(row["aic"]), num(row["bic"]), num(row["icl"]), num(row["sabic"]),
            num(row["caic"]), num(row["awe"]), num(row["entropy"]), num(row["lmr_p"], ".4f"),
            str(bool(row["converged"])),
            f"{int(row['n_at_best'])}/{int(row['n_runs'])}" if status == "ok" else "-",
            status,
        ])
    widths = [max(len(r[j]) for r in [labels, *rows]) for j in range(len(labels))]

    def line(cells: Sequence[str]) -> str:
        head = [c.rjust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)]
        return "  ".join([*head, cells[-1]]).rstrip()

    out = [f"Number of components by {crit} (smaller is better)", line(labels)]
    out += [line(r) for r in rows]
    out.append(f"chosen: K = {selection.best_n_components_} (* smallest {crit})")
    return "\n".join(out)


def predict(model_path: str, data: str, out: str | None, keep: tuple[str, ...],
            quiet: bool, groups: str | None = None) -> None:
    """Run ``regmix predict`` (declared, with its help, as :func:`regmix.cli.predict`)."""
    writer = _output_writer(out)
    model = load_model(model_path)
    frame = read_data(data)
    keep = tuple(dict.fromkeys(keep))
    for name in keep:
        if name not in frame.columns:
            raise UserError(f"--keep {name!r} is not a column of {data}")
    if groups is not None and groups not in frame.columns:
        raise UserError(f"--groups {groups!r} is not a column of {data}")
    with _collected_warnings(), _naming_lines(data):
        table = predictions(model, frame, groups)
    clash = [name for name in keep if name in table.columns]
    if clash:
        raise UserError(f"--keep {clash[0]!r} has the name of a column of the predictions")
    table = pd.concat([frame[list(keep)], table], axis=1)
    keep_index = not _is_default_index(frame.index)
    if out is None:
        sys.stdout.write(table.to_csv(index=keep_index))
        sys.stdout.flush()
        return
    with interruptible(), _writing(out), atomic_path(out) as tmp:
        writer(table, tmp, keep_index)
    _note(f"wrote {table.shape[0]} rows to {out}", quiet)


def margins(model_path: str, data: str, variables: tuple[str, ...],
            discrete: tuple[str, ...], at_means: bool, predictive: bool, out: str | None,
            quiet: bool) -> None:
    """Run ``regmix margins`` (declared, with its help, as :func:`regmix.cli.margins`)."""
    if predictive and (variables or discrete):
        raise UserError("--variable and --discrete go with marginal effects, not "
                        "--predictive")
    writer = _output_writer(out)
    model = load_model(model_path)
    frame = read_data(data)
    kind = "at_means" if at_means else "average"
    with _collected_warnings(), _naming_lines(data):
        X = _model_input(model, frame)
        if predictive:
            table = model.predictive_margins(X, kind=kind)
        else:
            table = model.marginal_effects(X, variables=list(variables) or None,
                                           discrete=list(discrete), kind=kind)
    if out is None:
        click.echo(table.to_string(index=False))
        return
    with interruptible(), _writing(out), atomic_path(out) as tmp:
        writer(table, tmp, False)
    _note(f"wrote {table.shape[0]} rows to {out}", quiet)


def _output_writer(out: str | None) -> Callable[[pd.DataFrame, Path, bool], None]:
    """How ``regmix predict`` writes ``--out`` (a table, the temporary path, whether
    to write the index), chosen by its extension; checked before any work."""
    _check_output(out)
    name = "" if out is None else out.lower()
    if name.endswith(PARQUET_SUFFIXES):
        _need_pyarrow(f"writing {out}")
        return lambda table, path, index: table.to_parquet(path, index=index)
    if name.endswith(".csv.gz"):
        # explicitly: the temporary file's name does not end in .gz
        return lambda table, path, index: table.to_csv(path, index=index,
                                                       compression="gzip")
    if out is None or name.endswith(".csv"):
        return lambda table, path, index: table.to_csv(path, index=index)
    raise UserError(f"--out {out}: unknown file type; expected .csv, .csv.gz, .parquet "
                    "or .pq")


def _is_default_index(index: pd.Index) -> bool:
    return (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
            and index.name is None)


def _model_input(model: RegressionMixture, frame: pd.DataFrame):
    """What the model's methods take: the frame (formula) or the feature columns."""
    if getattr(model, "formula", None) is not None:
        return frame
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [str(n) for n in names if n not in frame.columns]
        if missing:
            raise UserError(
                f"the data lack the model's feature column(s) {', '.join(map(repr, missing))}"
            )
        return frame[list(names)]
    if frame.shape[1] != model.n_features_in_:
        raise UserError(
            f"the model takes {model.n_features_in_} unnamed feature(s) but the data have "
            f"{frame.shape[1]} columns"
        )
    return frame.to_numpy()


def predictions(model: RegressionMixture, frame: pd.DataFrame,
                groups: str | None = None) -> pd.DataFrame:
    """Predictions of a fitted model for the rows of ``frame``, in their order.

    Parameters
    ----------
    model : RegressionMixture
        A fitted model.
    frame : pandas.DataFrame
        New rows. With a formula model they hold the right-hand side's columns and,
        optionally, the response's.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``frame``: ``predicted`` (:meth:`RegressionMixture.predict`: the
        components weighted by each row's ``pi_k(z)`` when the model has a gating part),
        ``mean_1`` ... ``mean_K`` (:meth:`RegressionMixture.predict_components`),
        ``weight_1`` ... ``weight_K`` when the model has a gating part
        (:meth:`RegressionMixture.mixing_weights`, ``pi_k(z)``) and,
        when the rows hold the response of a formula model, ``posterior_1`` ...
        ``posterior_K`` (:meth:`RegressionMixture.posterior`) and ``component``, the
        most probable component counted from 1; with ``groups`` (a column of
        ``frame``) the posteriors are the groups', and a model with random effects
        adds ``conditional`` (``predict(kind="conditional")``).
    """
    X = _model_input(model, frame)
    means = model.predict_components(X)
    K = means.shape[1]
    responses = getattr(model.family_, "responses", None)
    if responses is not None:  # several responses: ``predicted_<r>``, ``mean_<r>_<k>``
        predicted = model.predict(X)
        columns: dict[str, np.ndarray] = {f"predicted_{r}": predicted[:, j]
                                          for j, r in enumerate(responses)}
        columns.update({f"mean_{r}_{k + 1}": means[:, k, j] for j, r in enumerate(responses)
                        for k in range(K)})
    else:
        columns = {"predicted": model.predict(X)}
        columns.update({f"mean_{k + 1}": means[:, k] for k in range(K)})
    if model.state_.gating_names is not None:
        # a formula model's gating reads the frame; an array model's rows are its
        # concomitant columns only when fitted so, which predict does not take
        pi = model.mixing_weights(frame if model.formula is not None else X)
        columns.update({f"weight_{k + 1}": pi[:, k] for k in range(K)})
    design = getattr(model, "formula_design_", None)
    mixed = getattr(model.family_, "random_effects", None) is not None
    if groups is None:  # the column of a formula term "(1 + time | subject)", if any
        groups = model._random_term()[1]
    if design is not None and (design.has_response(frame) if responses is None
                               else all(r in frame.columns for r in responses)):
        if mixed and groups is None:
            raise UserError("the model has random effects: pass --groups COLUMN for the "
                            "posteriors of the rows' subjects")
        post = model.posterior(frame, groups=groups)
        columns.update({f"posterior_{k + 1}": post[:, k] for k in range(K)})
        columns["component"] = np.argmax(post, axis=1) + 1
        if mixed:
            columns["conditional"] = model.predict(frame, kind="conditional",
                                                   groups=groups)
    return pd.DataFrame(columns, index=frame.index)


def demo(out: str, seed: int) -> None:
    """Run ``regmix demo`` (declared, with its help, as :func:`regmix.cli.demo`)."""
    _check_output(out)

    result = run_demo(seed)
    click.echo("Two-component mixture of regressions on 100 points (no intercept)")
    click.echo(result.table)
    try:
        save_demo_figure(result, out)
    except ImportError:
        click.echo("error: the plot needs matplotlib: pip install 'regmix[plot]'", err=True)
        sys.exit(2)
    except OSError as err:
        click.echo(f"error: cannot write {out}: {err.strerror or err}", err=True)
        sys.exit(2)
    click.echo(f"wrote {out}")
