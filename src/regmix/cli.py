"""The ``regmix`` command line: ``fit``, ``select``, ``predict``, ``margins`` and ``demo``.

Data files are CSV (``.csv``, optionally compressed as ``.csv.gz``, ``.csv.bz2``,
``.csv.xz``, ``.csv.zip`` or ``.csv.zst``) or Parquet (a ``.parquet`` or ``.pq`` file, or
a directory of Parquet files; reading Parquet needs pyarrow). Results go to standard
output; notes ("wrote ...") and warnings go to standard error.

Every mistake of the user -- a missing, empty or unreadable file, an unknown column, a
formula that cannot be parsed or evaluated, a bad option value, a damaged model file, a
fit that cannot be made -- ends the command with exit status 2 and exactly one line on
standard error, starting with ``error: ``; so does an exception regmix did not foresee,
named by its type. Components are counted from 1 in the output; a message about a row
of a CSV file names its line (the header is line 1). Ctrl-C ends it with exit status
130 and the line ``error: interrupted`` (:mod:`regmix.interrupts`; the script's entry
point is :mod:`regmix.__main__`).

This module is the command tree: the options, their help texts, choices and defaults,
built from click, the standard library and :mod:`regmix.core.choices` alone, so that
``regmix --help`` imports neither numpy nor the estimator. A command imports its body
from :mod:`regmix.cli_commands` (numpy, pandas, the estimator) when it runs.
"""

from __future__ import annotations

import errno
import functools
import math
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from regmix.cli_errors import UserError, _error_text, _first_line, _one_line
from regmix.core.choices import (
    COMPONENT_TYPE_NAMES,
    COV_TYPES,
    CRITERIA,
    ESTIMATOR_DEFAULTS,
    FAMILY_LINKS,
    LINK_NAMES,
    RANDOM_COV_CLASSES,
    RANDOM_COVS,
)
from regmix.interrupts import exit_interrupted, requested

if TYPE_CHECKING:
    from regmix.cli_commands import model_report, predictions, read_data

__all__ = ["main", "model_report", "predictions", "read_data"]


MAX_K_VALUES = 1000


F = TypeVar("F", bound=Callable[..., Any])


# ---------------------------------------------------------------------- errors
@contextmanager
def _one_line_click_errors() -> Iterator[None]:
    """Turn click's usage errors (usage lines, hint, message) into a :class:`UserError`,
    and Ctrl-C outside a command (click would print "Aborted!") into one line
    ``error: interrupted`` with exit status 130."""
    try:
        yield
    except KeyboardInterrupt:
        exit_interrupted()
    except (UserError, click.exceptions.NoArgsIsHelpError):
        raise
    except click.ClickException as err:
        message = _one_line(err.format_message())
        ctx = getattr(err, "ctx", None)
        if isinstance(err, click.UsageError) and ctx is not None:
            message = f"{message} (see '{ctx.command_path} --help')"
        raise UserError(message) from None


class RegmixGroup(click.Group):
    """A click group whose usage errors are a single ``error: ...`` line, exit status 2.

    Click reports a bad option or argument with the usage line, a hint and the message;
    here the whole report is one line on standard error.
    """

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        """Parse the group's own options; usage errors become one line."""
        with _one_line_click_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        """Resolve, parse and run the subcommand; usage errors and warnings are one line."""
        with warnings.catch_warnings(), _one_line_click_errors():
            warnings.showwarning = _show_warning
            return super().invoke(ctx)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Show a warning as one ``warning: ...`` line on standard error."""
    click.echo(f"warning: {_first_line(message)}", err=True)


def _command_boundary(func: F) -> F:
    """Report every error of a command as one line: the library's ValueError, TypeError
    and OSError as a :class:`UserError` (exit status 2), Ctrl-C as ``error:
    interrupted`` with exit status 130, and anything else as a :class:`UserError`
    naming the exception, never a traceback.

    :class:`~regmix.DegenerateFitError` is a ValueError. An exception raised after
    Ctrl-C is an interruption. A broken pipe on standard output is left to click, which
    exits quietly.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            exit_interrupted()
        except MemoryError:
            raise UserError("out of memory: the data or the model are too large for "
                            "this machine") from None
        except Exception as err:
            if requested():
                exit_interrupted()
            if isinstance(err, OSError) and err.errno == errno.EPIPE:
                raise
            raise UserError(_unexpected_error_text(err)) from None

    return wrapper  # type: ignore[return-value]


def _unexpected_error_text(err: Exception) -> str:
    """One line for an exception a command let through: the message of the library's
    ValueError, TypeError and OSError; the type and message of anything else."""
    if isinstance(err, (OSError, ValueError, TypeError)):
        return _error_text(err)
    return f"{type(err).__name__}: {_error_text(err)}"



# ---------------------------------------------------------------------- options
class ComponentRange(click.ParamType):
    """Numbers of components: ``3``, a range ``1-5``, a list ``1,2,4`` or both ``1-3,6``.

    Converts to a sorted list of distinct integers >= 1.
    """

    name = "K-range"

    def convert(self, value: Any, param, ctx) -> list[int]:
        """Parse ``value``; a bad value fails with click's one-line usage error."""
        if isinstance(value, (list, tuple)):
            return sorted({int(v) for v in value})
        text = str(value).strip()
        found: set[int] = set()
        for part in text.split(","):
            part = part.strip()
            single = re.fullmatch(r"[+-]?\d+", part)
            span = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if single:
                lo = hi = int(part)
            elif span:
                lo, hi = int(span.group(1)), int(span.group(2))
            else:
                self.fail(
                    f"{text!r} is not a number of components, a range such as '1-5' or a "
                    "list such as '1,2,4'", param, ctx)
            if lo < 1:
                self.fail(f"{text!r}: numbers of components must be >= 1", param, ctx)
            if lo > hi:
                self.fail(f"{text!r}: the range {part!r} is empty (its start exceeds its end)",
                          param, ctx)
            if hi - lo + len(found) >= MAX_K_VALUES:
                self.fail(f"{text!r}: at most {MAX_K_VALUES} numbers of components", param, ctx)
            found.update(range(lo, hi + 1))
        return sorted(found)


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Apply click options so that they are listed in the order given."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


_formula_option = click.option(
    "--formula", required=True, metavar="FORMULA",
    help="Model formula, e.g. \"y ~ x\" or \"y ~ x + C(g)\" (formulaic syntax); the "
         "response is the left-hand side.")


class FamilyChoice(click.ParamType):
    """A family name, or one per component separated by commas
    (``pointmass,poisson``); converts to the name or the list of names."""

    name = "FAMILY[,FAMILY...]"
    choices = tuple(FAMILY_LINKS)  # the families of one name
    components = (*FAMILY_LINKS, *COMPONENT_TYPE_NAMES)  # the names a list may hold

    def convert(self, value: Any, param, ctx) -> str | list[str] | dict[str, Any]:
        """Parse ``value``; an unknown name fails with click's one-line usage error.
        ``RESPONSE=FAMILY`` entries (``yn=gaussian,yp=poisson``) are several responses
        sharing the class: a mapping of the response columns to their families, or to
        ``(family, columns)`` for an entry ``RESPONSE=FAMILY[COLUMN,...]`` that names
        the response's design columns (``yp=poisson[x]``)."""
        if not isinstance(value, str):
            return value
        if "=" in value:
            return self._responses(value, param, ctx)
        names = [v.strip() for v in value.split(",")]
        known = self.choices if len(names) == 1 else self.components
        for name in names:
            if name not in known:
                self.fail(f"{name!r} is not one of {', '.join(known)}", param, ctx)
        return names[0] if len(names) == 1 else names

    def _responses(self, value: str, param, ctx) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for entry in _top_level_split(value):
            response, _, family = (part.strip() for part in entry.partition("="))
            columns = None
            if family.endswith("]") and "[" in family:
                family, _, inner = family[:-1].partition("[")
                family = family.strip()
                columns = tuple(c.strip() for c in _top_level_split(inner) if c.strip())
            if not response or "=" not in entry:
                self.fail("write several responses as RESPONSE=FAMILY entries separated "
                          f"by commas (yn=gaussian,yp=poisson[x]); got {value!r}", param, ctx)
            if family not in self.choices:
                self.fail(f"{family!r} (response {response!r}) is not one of "
                          f"{', '.join(self.choices)}", param, ctx)
            out[response] = family if columns is None else (family, columns)
        return out


def _top_level_split(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "([") - (ch in ")]")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """Refuse NaN (which passes click's ranges) for a float option."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("must be a number, not nan", ctx=ctx, param=param)
    return value


_fit_settings = _options(
    click.option("--n-init", default=2, show_default=True, type=click.IntRange(min=1),
                 metavar="N", help="Starts per fit; the highest log-likelihood wins."),
    click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
                 metavar="S", help="Random seed of the starts; the same seed gives the same fit."),
    click.option("--family", default="gaussian", show_default=True,
                 type=FamilyChoice(),
                 help="Component family: one of " + ", ".join(FAMILY_LINKS) + "; or one "
                      "per component, separated by commas, where 'pointmass' is a "
                      "component at zero ('pointmass,poisson' with -k 2: zero-inflated "
                      "Poisson). A binomial response is 0/1, or two columns 'successes + "
                      "failures ~ x'. Several responses sharing the class: RESPONSE=FAMILY "
                      "entries ('yn=gaussian,yp=poisson' with 'yn + yp ~ x'; an empty "
                      "cell is a missing response), a response on some design columns "
                      "only as RESPONSE=FAMILY[COLUMN,...] ('yp=poisson[x]')."),
    click.option("--link", default=None, type=click.Choice(LINK_NAMES),
                 help="Link function (default: the family's first: "
                      + "; ".join(f"{name}: {', '.join(links)}"
                                  for name, links in FAMILY_LINKS.items()) + ")."),
    click.option("--groups", default=None, metavar="COLUMN",
                 help="Column of group labels: the rows of a group share one component. "
                      "Concomitant variables go in the formula after '|': "
                      "'y ~ x | z'."),
    click.option("--random", default=None, metavar="TERMS",
                 help="Random effects per group (a latent-class linear mixed model, with "
                      "--groups): terms of the formula's design, as lme4's left of '|': "
                      "'time' or '1 + time' (intercept and slope), '0 + time', '1'."),
    click.option("--random-cov", "random_cov", default=RANDOM_COVS[0], show_default=True,
                 type=click.Choice(RANDOM_COVS),
                 help="The random effects' covariance matrix: any, or diagonal "
                      "(independent effects). With --random or a formula term "
                      "'(terms | group)'."),
    click.option("--random-cov-classes", "random_cov_classes",
                 default=RANDOM_COV_CLASSES[0], show_default=True,
                 type=click.Choice(RANDOM_COV_CLASSES),
                 help="The random effects' covariance per class, one common to all "
                      "classes, or proportional (D_k = w_k^2 D, lcmm's nwg). A common "
                      "sigma is --equal-variance."),
    click.option("--lower", default=None, type=float, metavar="VALUE", callback=_finite,
                 help="With --family censored_gaussian: the response is censored from "
                      "below at VALUE (tobit: a value at VALUE is known only to be at "
                      "most VALUE). Limits per row are two columns of the formula, "
                      "'low + high ~ x' (equal for an observed value, an empty cell "
                      "for an open side)."),
    click.option("--upper", default=None, type=float, metavar="VALUE", callback=_finite,
                 help="With --family censored_gaussian: the response is censored from "
                      "above at VALUE."),
    click.option("--truncation", default=None, metavar="LOW,HIGH",
                 help="With --family censored_gaussian: rows are observed only between "
                      "LOW and HIGH (truncated regression; an empty side is open: '0,')."),
)


class FixedCoef(click.ParamType):
    """A known coefficient, ``NAME=VALUE`` (every component) or ``NAME=V1,...,VK`` (one
    value per component, ``NA`` for a free one); converts to ``(name, value)`` with a
    float or a list of floats and Nones."""

    name = "NAME=VALUE"

    def convert(self, value: Any, param, ctx) -> tuple[str, float | list[float | None]]:
        """Parse ``value``; a bad value fails with click's one-line usage error."""
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).rpartition("=")  # a design name may hold "="
        name = name.strip()
        try:
            if not (sep and name):
                raise ValueError
            values = [None if v.strip().upper() == "NA" else float(v)
                      for v in text.split(",")]
        except ValueError:
            self.fail(f"{value!r} is not NAME=VALUE or NAME=V1,...,VK (numbers, NA for a "
                      "free one)", param, ctx)
        if not all(v is None or math.isfinite(v) for v in values):
            self.fail(f"{value!r}: the values must be finite numbers", param, ctx)
        if values[0] is None and len(values) == 1:
            self.fail(f"{value!r}: NA is for one component of NAME=V1,...,VK", param, ctx)
        return name, (values[0] or 0.0) if len(values) == 1 else values


# The estimator's defaults that the options show as their own
_DEFAULTS = ESTIMATOR_DEFAULTS


_em_settings = _options(
    click.option("--max-iter", default=_DEFAULTS["max_iter"], show_default=True,
                 type=click.IntRange(min=0), metavar="N",
                 help="Maximum EM iterations per start (0 initialises only)."),
    click.option("--tol", default=_DEFAULTS["tol"], show_default=True,
                 type=click.FloatRange(min=0.0), metavar="TOL", callback=_finite,
                 help="Convergence threshold on the change of the mean log-likelihood "
                      "per EM step."),
    click.option("--min-weight", default=_DEFAULTS["min_weight"], show_default=True,
                 type=click.FloatRange(0.0, 1.0), metavar="W", callback=_finite,
                 help="Smallest admissible mixing weight of a component."),
    click.option("--common-coef", "common_coef", multiple=True, metavar="NAME[@C1,C2]",
                 help="A coefficient shared by all components ('intercept' or a column "
                      "of the design, as the summary names it), or by the components "
                      "after '@' (numbered from 1: x1@1,2); repeatable."),
    click.option("--fixed-coef", "fixed_coef", multiple=True, type=FixedCoef(),
                 help="A known coefficient, not estimated: NAME=VALUE for every "
                      "component or NAME=V1,...,VK per component (NA: free there, so "
                      "x1=0,NA,NA drops x1 from component 1); repeatable."),
    click.option("--fixed-weights", "fixed_weights", default=None, metavar="W1,...,WK",
                 help="Known mixing weights (summing to one), not estimated."),
    click.option("--equal-variance", is_flag=True,
                 help="One sigma for all components (Gaussian and Student-t families)."),
    click.option("--weights", default=None, metavar="COLUMN",
                 help="Column of non-negative row weights (an integer weight counts a row "
                      "that many times)."),
)


_report_options = _options(
    click.option("--format", "fmt", default="text", show_default=True,
                 type=click.Choice(["text", "json"], case_sensitive=False),
                 help="Print a text report or a JSON object."),
    click.option("--quiet", "-q", is_flag=True,
                 help="No progress bar and no 'wrote ...' notes."),
)


# ---------------------------------------------------------------------- commands
@click.group(cls=RegmixGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="regmix")
def main() -> None:
    """Finite mixtures of regressions fitted by exact maximum-likelihood EM.

    DATA is a CSV file or a Parquet file or directory. Errors are reported on one line
    of standard error and exit with status 2.
    """


@main.command()
@click.argument("data", type=click.Path())
@_formula_option
@click.option("-k", "--components", "n_components", default=2, show_default=True,
              type=click.IntRange(min=1), metavar="K", help="Number of components K.")
@_fit_settings
@_em_settings
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the fitted model (JSON) here, for 'regmix predict'.")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Write a PNG: the data with each component's fitted curve and its "
                   "confidence band, and the log-likelihood per iterate.")
@click.option("--plot-x", "plot_x", metavar="VAR",
              help="The variable on the x axis of --plot (default: the formula's first "
                   "numerical variable); the others are held at their mean or most "
                   "frequent level.")
@click.option("--plot-by", "plot_by", metavar="VAR",
              help="Draw one curve per level of this variable of the formula in --plot.")
@click.option("--stream/--no-stream", default=None,
              help="Read a Parquet DATA batch by batch instead of loading it (for data "
                   "larger than memory); the formula must name plain columns, "
                   "'y ~ x1 + x2'. Without either flag, a Parquet DATA that would take "
                   "more than half the available memory is streamed when the formula "
                   "and options allow it, with a note saying so.")
@click.option("--cov-type", default="oim", show_default=True,
              type=click.Choice(list(COV_TYPES), case_sensitive=False),
              help="Standard errors: observed information (oim), robust sandwich "
                   "(factor n/(n-1)) or cluster-robust (factor G/(G-1), with --clusters).")
@click.option("--clusters", default=None, metavar="COLUMN",
              help="Column of cluster labels for --cov-type cluster (whole groups per "
                   "cluster with --groups).")
@click.option("--known-labels", "known_labels", default=None, metavar="COLUMN",
              help="Column of known components (1..K; -1 or empty where unknown).")
@_report_options
@_command_boundary
def fit(**options: Any) -> None:
    """Fit a K-component mixture of regressions to DATA and report it."""
    from regmix.cli_commands import fit as run

    run(**options)


@main.command()
@click.argument("data", type=click.Path())
@_formula_option
@click.option("-k", "--components", "ks", default="1-5", show_default=True,
              type=ComponentRange(), metavar="KS",
              help="Numbers of components to try: a range '1-5', a list '1,2,4' or both.")
@click.option("--criterion", default="bic", show_default=True,
              type=click.Choice(CRITERIA, case_sensitive=False),
              help="Criterion to minimise.")
@_fit_settings
@_em_settings
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the chosen model (JSON) here.")
@click.option("--plot", type=click.Path(dir_okay=False),
              help="Write a PNG of the criteria against K.")
@_report_options
@_command_boundary
def select(**options: Any) -> None:
    """Fit a mixture for each K and choose K by an information criterion."""
    from regmix.cli_commands import select as run

    run(**options)


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the predictions here (CSV for .csv, gzip-compressed CSV for "
                   ".csv.gz, Parquet for .parquet/.pq) instead of standard output.")
@click.option("--keep", multiple=True, metavar="COL",
              help="A column of DATA copied unchanged to the output, before the "
                   "predictions (an identifier, say); repeatable.")
@click.option("--groups", default=None, metavar="COLUMN",
              help="Column of group labels, for a model fitted with groups: the "
                   "posteriors are per group, and a model with random effects adds "
                   "'conditional', the prediction given the groups' predicted random "
                   "effects.")
@click.option("--quiet", "-q", is_flag=True, help="No 'wrote ...' note.")
@_command_boundary
def predict(**options: Any) -> None:
    """Predict DATA with a saved MODEL; write one CSV row per row of DATA.

    Columns: the --keep columns, predicted (the mixture mean), mean_1 ... mean_K (each
    component's mean), weight_1 ... weight_K (the mixing weights pi_k(z) of a model
    with concomitant variables) and, when DATA holds the response, posterior_1 ...
    posterior_K and component (the most probable one, counted from 1). The index of
    DATA comes first when it is not the default 0, 1, 2, ...
    """
    from regmix.cli_commands import predict as run

    run(**options)


@main.command()
@click.argument("model_path", metavar="MODEL", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--variable", "variables", multiple=True, metavar="VAR",
              help="A variable whose effect to report (default: every one); repeatable.")
@click.option("--discrete", multiple=True, metavar="VAR",
              help="A numerical variable (a 0/1 indicator) taken as discrete: changes "
                   "from its smallest value instead of the derivative; repeatable.")
@click.option("--at-means", is_flag=True,
              help="At the means of the variables (most frequent levels) instead of "
                   "averaged over the rows.")
@click.option("--predictive", is_flag=True,
              help="Predictive margins (the mean of each component's mean and of the "
                   "mixture mean) instead of marginal effects.")
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the table here (CSV, .csv.gz or Parquet) instead of printing it.")
@click.option("--quiet", "-q", is_flag=True, help="No 'wrote ...' note.")
@_command_boundary
def margins(**options: Any) -> None:
    """Average marginal effects (or predictive margins) of a saved MODEL over DATA.

    One row per effect: variable, contrast (dy/dx, or "b vs a" for a factor's level),
    component (mixture or the component's number), part (total; for the mixture of a
    model with a gating part also components and gating), the effect with its
    delta-method standard error, z, p-value and 95% interval; see
    RegressionMixture.marginal_effects.
    """
    from regmix.cli_commands import margins as run

    run(**options)


@main.command()
@click.option("--out", default="regmix-demo.png", show_default=True,
              type=click.Path(dir_okay=False, writable=True), help="Where to write the PNG.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@_command_boundary
def demo(**options: Any) -> None:
    """Fit the classic two-line example and plot it."""
    from regmix.cli_commands import demo as run

    run(**options)


# The bodies' public functions, importable from here as before (PEP 562).
_BODY_NAMES = ("model_report", "predictions", "read_data")


def __getattr__(name: str) -> Any:
    """Load :func:`read_data`, :func:`model_report` or :func:`predictions` (and with
    them numpy, pandas and the estimator) on first use."""
    if name in _BODY_NAMES:
        import regmix.cli_commands as cli_commands

        return getattr(cli_commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
