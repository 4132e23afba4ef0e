"""Compare regmix with R's flexmix and mixtools on the same data, in the same run.

Usage::

    python benchmarks/compare_r.py [--sizes 1e3 1e4 1e5 1e6] [--repeats 3]
        [--start-noise 0.5] [--mixtools-cap 300] [--rscript Rscript]

For each n the data are those of ``benchmarks/bench_em.py`` (K = 3 components, five
features plus intercept, ``make_regression_mixture(n, coef=COEF, ..., random_state=0)``).
Every single-start fit begins from the same hard assignment: the true labels, each
replaced with probability ``--start-noise`` by a uniformly drawn label. The data and the
assignment are written once to a binary file that ``benchmarks/compare_r.R`` reads.

Fits timed (wall time of the fitting call only; data loading excluded):

* flexmix: ``flexmix(y ~ x1 + ... + x5, k = 3, cluster = <one-hot start>)`` with its
  default control (relative tolerance 1e-6, at most 200 iterations) and with
  ``tolerance = 1e-10, iter.max = 100000``;
* mixtools: ``regmixEM(y, X, k = 3, lambda, beta, sigma)`` from the parameters of one
  M-step on the start assignment (its defaults: ``epsilon = 1e-8`` on the absolute
  change of the log-likelihood, ``maxit = 10000``). A size whose estimated run time
  exceeds ``--mixtools-cap`` seconds is skipped; the estimate comes from a one-iteration
  run (or from the previous size, scaled linearly in n) times the expected iteration
  count;
* regmix: a single start from the same assignment (``init=<one-hot (n, 3) array>,
  n_init=1, compute_se=False``), accelerated on all cores, accelerated on one thread, as
  plain EM and (where regmix has the choice) with the numpy data-pass engine; a single
  start of regmix's own (``n_init=1, compute_se=False, random_state=0``: the start is
  found and converged on a 20,000-row subsample, then refined on all rows); and the
  default fit ``RegressionMixture(3, random_state=0)``;
* the memory-bandwidth floor: one ``X.sum()`` over the (n, 5) float64 design, best of 5.

Fits taking less than a second are repeated (``--repeats``) and the best time is kept,
with its CPU time (all threads). The script prints one markdown table, then checks that
regmix and R compute the same log-likelihood for the same parameters. Without Rscript (or
without the R packages) it prints the regmix rows only, with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from regmix import RegressionMixture
from regmix.datasets import make_regression_mixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_em import COEF  # noqa: E402  (the sibling benchmark's coefficients)

K = 3
INTERCEPT = [0.0, 1.0, -1.0]
SIGMA = [1.0, 0.5, 1.5]
R_SCRIPT = Path(__file__).resolve().with_name("compare_r.R")


@dataclass
class Row:
    n: int
    tool: str
    setting: str
    time: float
    iterations: int | None = None
    passes: int | None = None
    loglik: float | None = None
    note: str = ""
    per_iteration: bool = True  # False when the iterations are only part of the work
    cpu: float | None = None


@dataclass
class Params:
    """A parameter set: weights (K,), sigma (K,), coef (K, 6) with the intercept first."""

    weights: np.ndarray
    sigma: np.ndarray
    coef: np.ndarray

    @classmethod
    def from_r(cls, result: dict) -> Params:
        coef = np.asarray(result["coef"], dtype=np.float64).reshape(K, -1)
        return cls(np.asarray(result["weights"], dtype=np.float64),
                   np.asarray(result["sigma"], dtype=np.float64), coef)

    @classmethod
    def from_model(cls, model: RegressionMixture) -> Params:
        return cls(model.weights_.copy(), model.sigma_.copy(),
                   np.column_stack([model.intercept_, model.coef_]))

    def as_init(self) -> dict:
        return {"weights": self.weights / self.weights.sum(), "coef": self.coef[:, 1:],
                "intercept": self.coef[:, 0], "sigma": self.sigma}

    def write(self, path: Path) -> None:
        values = np.concatenate([self.weights, self.sigma, self.coef.ravel()])
        path.write_text(" ".join(f"{v:.17g}" for v in values) + "\n")


# ---------------------------------------------------------------------------- data
def make_data(n: int, start_noise: float):
    X, y, labels, _ = make_regression_mixture(n, coef=COEF, intercept=INTERCEPT,
                                              sigma=SIGMA, random_state=0)
    rng = np.random.default_rng(1)
    flip = rng.random(n) < start_noise
    start = np.where(flip, rng.integers(0, K, size=n), labels)
    resp = np.zeros((n, K))
    resp[np.arange(n), start] = 1.0
    return X, y, resp


def write_data(path: Path, X: np.ndarray, y: np.ndarray, resp: np.ndarray) -> None:
    """Column after column as little-endian float64: y, the features, the memberships."""
    with open(path, "wb") as f:
        for column in (y, *X.T, *resp.T):
            np.ascontiguousarray(column, dtype="<f8").tofile(f)


def m_step_params(X: np.ndarray, y: np.ndarray, resp: np.ndarray) -> Params:
    """Maximum-likelihood parameters given (hard or soft) memberships."""
    Xd = np.column_stack([np.ones(len(y)), X])
    coef, sigma = np.empty((K, Xd.shape[1])), np.empty(K)
    for k in range(K):
        w = resp[:, k]
        sw = np.sqrt(w)
        coef[k] = np.linalg.lstsq(Xd * sw[:, None], y * sw, rcond=None)[0]
        sigma[k] = np.sqrt(w @ (y - Xd @ coef[k]) ** 2 / w.sum())
    return Params(resp.sum(axis=0) / len(y), sigma, coef)


# ---------------------------------------------------------------------------- timing
def timed(fit, repeats: int):
    """Wall and CPU seconds of the fastest ``fit()`` (repeated while under a second)."""
    best, cpu, result = np.inf, np.nan, None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        result = fit()
        wall, used = time.perf_counter() - t, time.process_time() - c
        if wall < best:
            best, cpu = wall, used
        if best >= 1.0:
            break
    return best, cpu, result


def bandwidth_floor(X: np.ndarray) -> float:
    best = np.inf
    for _ in range(5):
        t = time.perf_counter()
        X.sum()
        best = min(best, time.perf_counter() - t)
    return best


def regmix_loglik(X: np.ndarray, y: np.ndarray, params: Params) -> float:
    """regmix's log-likelihood at given parameters (initialise only, no EM step)."""
    model = RegressionMixture(K, init=params.as_init(), max_iter=0, compute_se=False)
    return float(model.fit(X, y).log_likelihood_)


def has_engines() -> bool:
    """Whether this regmix version lets the data-pass engine be chosen."""
    return "engine" in RegressionMixture().get_params()


def warm_up() -> None:
    """Load (or compile) regmix's compiled functions, so that no timed fit pays for it:
    two short fits on 70,000 rows (the second one's input checks use the compiled
    column extremes, which large arrays get once the kernel is loaded)."""
    if not has_engines():
        return
    X, y, resp = make_data(70_000, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for init in (resp, "short_em"):
            try:
                RegressionMixture(K, init=init, n_init=1, max_iter=2, compute_se=False,
                                  engine="numba", random_state=0).fit(X, y)
            except (ImportError, ValueError):
                pass


def regmix_rows(n, X, y, resp, repeats: int):
    single = dict(init=resp, n_init=1, compute_se=False)
    settings = [
        ("single start, accelerated", single),
        ("single start, accelerated, 1 thread", dict(single, n_jobs=1)),
        ("single start, plain EM", dict(single, accelerate=False, max_iter=100000)),
    ]
    if has_engines():
        settings.append(("single start, accelerated, numpy engine",
                         dict(single, engine="numpy")))
    defaults = RegressionMixture().get_params()
    own = dict(n_init=1, compute_se=False, random_state=0)
    settings.append(("single start of its own (n_init=1)", own))
    se = ", with SEs" if defaults.get("compute_se") else ""
    settings.append((f"default fit ({defaults['n_init']} starts{se})", dict(random_state=0)))
    rows, first = [], None
    for name, kwargs in settings:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elapsed, cpu, model = timed(
                lambda kw=kwargs: RegressionMixture(K, **kw).fit(X, y), repeats)
        if first is None:
            first = model
        notes = [] if model.converged_ else ["not converged"]
        multi = "random_state" in kwargs  # starts screened on a subsample
        if multi:
            notes.append(f"{elapsed / model.n_passes_ * 1e3:.3g} ms/pass")
        rows.append(Row(n, "regmix", name, elapsed, model.n_iter_, model.n_passes_,
                        model.log_likelihood_, "; ".join(notes), per_iteration=not multi,
                        cpu=cpu))
    return rows, first


def checkout() -> str:
    """The regmix checkout: its commit, and whether src/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return f"commit {commit}{' with uncommitted changes in src/' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"


def regmix_source() -> str:
    """The regmix checkout (commit, uncommitted changes) and the data-pass engines."""
    where = checkout()
    try:
        import numba

        fast = f"numba {numba.__version__} installed"
    except ImportError:
        fast = "numba not installed"
    engines = "engine='auto' unless stated" if has_engines() else "single numpy engine"
    return f"{where}; {engines}; {fast}; threads = {os.cpu_count()} unless stated"


# ---------------------------------------------------------------------------- R
class RError(RuntimeError):
    pass


def run_r(rscript: str, args: list, timeout: float | None = None,
          script: Path = R_SCRIPT) -> list[dict]:
    """Run an R script (compare_r.R by default); return its RESULT lines as dicts."""
    cmd = [rscript, "--vanilla", str(script), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    results = [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
               if line.startswith("RESULT ")]
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise RError(f"Rscript {args[0]} failed: {' | '.join(tail)}")
    return results


def r_versions(rscript: str | None, script: Path = R_SCRIPT) -> dict | None:
    if rscript is None:
        return None
    try:
        return run_r(rscript, ["versions"], timeout=120, script=script)[0]
    except (RError, OSError, subprocess.SubprocessError, IndexError):
        return None


def flexmix_rows(rscript, n, data, params_in, repeats):
    results = run_r(rscript, ["flexmix", data, n, repeats, params_in])
    rows, fits, evaluated = [], [], None
    for r in results:
        if r["task"] == "evaluate":
            evaluated = r["loglik"]
            continue
        note = "" if r["converged"] else "not converged"
        if r["k"] != K:
            note = f"{note}; {r['k']} components left".lstrip("; ")
        rows.append(Row(n, "flexmix", r["setting"], r["time"], r["iter"], r["iter"],
                        r["loglik"], note, cpu=r["cpu"]))
        fits.append(r)
    return rows, fits, evaluated


class MixtoolsPlanner:
    """Decides whether a mixtools run fits in the time cap, from what earlier sizes showed."""

    def __init__(self, rscript: str, cap: float, repeats: int) -> None:
        self.rscript, self.cap, self.repeats = rscript, cap, repeats
        self.seconds_per_row_iter: float | None = None
        self.iterations: int | None = None

    def run(self, n, data, start_file, fallback_iters: int):
        expected = self.iterations or fallback_iters
        row = Row(n, "mixtools", "defaults (epsilon 1e-8 absolute)", float("nan"))
        if self.seconds_per_row_iter is not None:
            estimate = self.seconds_per_row_iter * n * expected
            if estimate > 3 * self.cap:
                row.note = (f"skipped: about {estimate:.0f} s estimated "
                            f"({expected} iterations)")
                return row, None
        try:
            probe = run_r(self.rscript, ["mixtools", data, n, 1, start_file, 1, 1],
                          timeout=self.cap)[0]
        except subprocess.TimeoutExpired:
            row.note = f"skipped: one iteration takes more than {self.cap:.0f} s"
            return row, None
        except RError as e:
            row.note = str(e)
            return row, None
        self.seconds_per_row_iter = probe["time"] / n
        estimate = probe["time"] * expected
        if estimate > self.cap:
            row.note = (f"skipped: about {estimate:.0f} s estimated "
                        f"({probe['time']:.1f} s/iteration, {expected} iterations)")
            return row, None
        try:
            r = run_r(self.rscript, ["mixtools", data, n, self.repeats, start_file, 10000, 1],
                      timeout=2 * self.cap)[0]
        except subprocess.TimeoutExpired:
            row.note = f"stopped at the time limit of {2 * self.cap:.0f} s"
            return row, None
        except RError as e:
            row.note = str(e)
            return row, None
        self.iterations = int(r["iter"])
        self.seconds_per_row_iter = r["time"] / max(r["iter"], 1) / n
        notes = [] if r["converged"] else ["not converged"]
        if r["restarts"]:
            notes.append(f"{r['restarts']} random restart(s) after a decrease")
        row.time, row.iterations, row.passes = r["time"], r["iter"], r["iter"]
        row.loglik, row.note, row.cpu = r["loglik"], "; ".join(notes), r["cpu"]
        return row, r


# ---------------------------------------------------------------------------- output
def fmt(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return format(v, spec)


def print_table(rows: list[Row]) -> None:
    best = {}
    for r in rows:
        if r.loglik is not None and np.isfinite(r.loglik):
            best[r.n] = max(best.get(r.n, -np.inf), r.loglik)
    print("| n | tool | setting | wall time (s) | CPU time (s) | iterations | passes "
          "| s/iteration | log-likelihood | best - this | note |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        per_iter = r.time / r.iterations if r.iterations and r.per_iteration else None
        gap = best[r.n] - r.loglik if r.loglik is not None else None
        print(f"| {r.n:,} | {r.tool} | {r.setting} | {fmt(r.time, '.4g')} "
              f"| {fmt(r.cpu, '.4g')} | {fmt(r.iterations, 'd')} | {fmt(r.passes, 'd')} "
              f"| {fmt(per_iter, '.3g')} "
              f"| {fmt(r.loglik, '.4f')} | {fmt(gap, '.4g')} | {r.note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeat fits that take under a second, keep the best time")
    parser.add_argument("--start-noise", type=float, default=0.5,
                        help="probability that a row's start label is redrawn at random")
    parser.add_argument("--mixtools-cap", type=float, default=300.0,
                        help="skip mixtools where it would take longer (seconds)")
    parser.add_argument("--rscript", default="Rscript", help="the Rscript executable")
    args = parser.parse_args()

    rscript = shutil.which(args.rscript)
    versions = r_versions(rscript)
    have_flexmix = versions is not None and versions["flexmix"] != "missing"
    have_mixtools = versions is not None and versions["mixtools"] != "missing"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, numpy {np.__version__}")
    if versions is None:
        print("note: Rscript not found or not working; only regmix is measured")
    else:
        print(f"R: {versions['r']}, flexmix {versions['flexmix']}, "
              f"mixtools {versions['mixtools']}, BLAS {versions['blas']}")
        for pkg, ok in (("flexmix", have_flexmix), ("mixtools", have_mixtools)):
            if not ok:
                print(f"note: the R package {pkg} is not installed; it is left out")
    print(f"regmix: {regmix_source()}")
    print(f"start: true labels, each redrawn uniformly with probability {args.start_noise}")
    print()

    warm_up()
    rows: list[Row] = []
    checks: list[tuple] = []
    planner = MixtoolsPlanner(rscript, args.mixtools_cap, args.repeats) if have_mixtools \
        else None
    with tempfile.TemporaryDirectory(prefix="regmix-compare-r-") as tmp:
        for n in (int(s) for s in args.sizes):
            X, y, resp = make_data(n, args.start_noise)
            data = Path(tmp) / f"data-{n}.bin"
            write_data(data, X, y, resp)
            rows.append(Row(n, "numpy", "X.sum(): one read of X (floor)", bandwidth_floor(X)))
            regmix, single = regmix_rows(n, X, y, resp, args.repeats)
            rows.extend(regmix)
            single_params = Params.from_model(single)
            params_file = Path(tmp) / f"regmix-{n}.txt"
            single_params.write(params_file)

            tight_iters = None
            if have_flexmix:
                try:
                    fx_rows, fx_fits, r_eval = flexmix_rows(rscript, n, data, params_file,
                                                            args.repeats)
                except RError as e:
                    fx_fits, r_eval = [], None
                    fx_rows = [Row(n, "flexmix", "failed", np.nan, note=str(e))]
                rows.extend(fx_rows)
                if r_eval is not None:
                    checks.append((n, "regmix single start", single.log_likelihood_, r_eval,
                                   single.log_likelihood_))
                for fit in fx_fits:
                    if "coef" not in fit:
                        continue
                    ours = regmix_loglik(X, y, Params.from_r(fit))
                    checks.append((n, f"flexmix {fit['setting']}", fit["loglik"],
                                   fit["direct_loglik"], ours))
                    tight_iters = int(fit["iter"])
            if planner is not None:
                start_file = Path(tmp) / f"start-{n}.txt"
                m_step_params(X, y, resp).write(start_file)
                row, fit = planner.run(n, data, start_file, tight_iters or 100)
                rows.append(row)
                if fit is not None:
                    ours = regmix_loglik(X, y, Params.from_r(fit))
                    checks.append((n, "mixtools", fit["loglik"], fit["direct_loglik"], ours))
            data.unlink()
            print(f"n={n:,} done", file=sys.stderr, flush=True)

    print_table(rows)
    if checks:
        print()
        print("Log-likelihood of one parameter set, as reported by the fitting tool, by a "
              "direct R formula (dnorm, log-sum-exp) and by regmix:")
        print()
        print("| n | parameters of | reported | R formula | regmix | regmix - R formula |")
        print("|---:|---|---:|---:|---:|---:|")
        for n, source, reported, r_formula, ours in checks:
            print(f"| {n:,} | {source} | {reported:.6f} | {r_formula:.6f} | {ours:.6f} "
                  f"| {ours - r_formula:.2g} |")


if __name__ == "__main__":
    main()
