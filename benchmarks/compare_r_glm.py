"""Compare regmix with R's flexmix on mixtures of GLMs, on the same data, in the same run.

Usage::

    python benchmarks/compare_r_glm.py [--sizes 1e3 1e4 1e5 1e6]
        [--families poisson binomial gamma poisson_experts] [--repeats 3]
        [--start-noise 0.2]
        [--flexmix-cap 60] [--rscript Rscript]

Three families, K = 2 components, two features ``x1, x2 ~ N(0, 1)`` plus intercept; each
row's component is drawn with probabilities ``WEIGHTS`` (``numpy.random.default_rng(0)``):

* Poisson, log link, with an exposure ``t ~ U(0.5, 5)``: ``y ~ Poisson(t exp(x' b_k))``;
  flexmix ``flexmix(y ~ x1 + x2, k = 2, model = FLXMRglm(family = "poisson", offset =
  log(t)))``, regmix ``family="poisson"`` with ``offset=np.log(t)``. flexmix 2.3-18 drops
  an ``offset(log(t))`` term written in the formula without a word, so that spelling is
  fitted too (default control) to show it;
* binomial, logit link, ``m ~ U{1, ..., 20}`` trials: ``s ~ Bin(m, logit^-1(x' b_k))``;
  flexmix ``FLXMRglm(cbind(s, f) ~ x1 + x2, family = "binomial")``, regmix
  ``family="binomial"`` with the two columns ``[s, f]`` as response;
* Gamma, inverse link, ``y ~ Gamma(shape nu_k, mean 1 / x' b_k)``: flexmix's
  ``FLXMRglm(family = "Gamma")`` calls ``glm.fit(family = Gamma())`` and cannot be given
  another link, so regmix is fitted with ``link="inverse"``. The shapes differ in how
  they are estimated: flexmix sets ``nu_k = sum(w) / deviance`` of the weighted
  ``glm.fit`` (the deviance estimate, a first-order approximation that is below the
  maximum-likelihood shape), regmix maximises the likelihood in ``nu_k`` at every M-step.
  flexmix's iterations are thus not quite EM steps and its fit is not the maximum of the
  likelihood it reports (``logLik`` uses ``dgamma`` with its shapes);
* ``poisson_experts``, a mixture of experts: the Poisson components and exposure above,
  with component 2's weight ``1 / (1 + exp(-(-0.4 + 1.5 z)))`` in a concomitant variable
  ``z ~ N(0, 1)`` (``numpy.random.default_rng(2)``, which also draws the labels): flexmix
  ``concomitant = FLXPmultinom(~ z)``, regmix ``concomitant=z``.

Every fit begins from the same hard assignment: the true labels, with a random
``--start-noise`` fraction of the rows given a uniformly drawn label, as a one-hot (n, 2)
matrix (flexmix ``cluster = <matrix>``, taken as the starting posteriors; regmix
``init=<matrix>, n_init=1``). The data and the start are written once to a binary file
that ``benchmarks/compare_r_glm.R`` reads.

Fits timed (wall time of the fitting call only; data loading excluded):

* flexmix with its default control (``tolerance = 1e-6`` on the relative change of the
  log-likelihood, ``iter.max = 200``) and with ``tolerance = 1e-10, iter.max = 100000``.
  Its M-step runs ``glm.fit`` to convergence for each component (several IRLS passes);
* regmix, single start from the assignment (``compute_se=False``, default ``tol``),
  accelerated (the default) and as plain EM; its M-step is one Fisher-scoring step per
  iteration (one pass). The regmix fits use ``engine="numpy"``, and the accelerated
  single start is also run with ``engine="numba"``: the compiled pass of Poisson and
  binomial components (Gamma components have none, so that row is the numpy pass again).

For a size above the first, flexmix is skipped for a family when its time at the previous
size, scaled linearly in n, exceeds ``--flexmix-cap`` seconds (regmix still runs). Fits
taking less than a second are repeated (``--repeats``) and the best time is kept, with
its CPU time (all threads). The script prints one markdown table, then checks that regmix
and R compute the same log-likelihood for the same parameters (flexmix's ``logLik``, a
direct R formula with ``dpois`` / ``dbinom`` / ``dgamma`` and log-sum-exp, and regmix's
``max_iter=0`` evaluation), with the largest coefficient difference to regmix's fit and
the Gamma shapes. flexmix's ``logLik`` is that of its last E-step, taken with the mixing
weights before their last update, whereas ``prior(fit)`` returns the weights updated from
that E-step's posteriors: at a loose tolerance the reported value is a little below the
log-likelihood of ``parameters(fit)`` and ``prior(fit)``.
Without Rscript (or without flexmix) it prints the regmix rows only, with a note.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from regmix import RegressionMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_r import RError, checkout, fmt, timed  # noqa: E402  (shared helpers)
from compare_r import r_versions as _r_versions  # noqa: E402
from compare_r import run_r as _run_r  # noqa: E402

K = 2
R_SCRIPT = Path(__file__).resolve().with_name("compare_r_glm.R")


def run_r(rscript: str, args: list, timeout: float | None = None) -> list[dict]:
    """Run compare_r_glm.R; return its RESULT lines as dicts."""
    return _run_r(rscript, args, timeout, script=R_SCRIPT)


def r_versions(rscript: str | None) -> dict | None:
    return _r_versions(rscript, script=R_SCRIPT)


@dataclass(frozen=True)
class Setup:
    """A family's true parameters: coef (K, 3) with the intercept first."""

    family: str
    link: str
    weights: tuple
    coef: tuple
    shape: tuple | None = None
    gating: tuple | None = None  # component 2's log-odds (intercept, slope in z)
    name: str = ""  # the setup's name when it is not the family's (R reads it)

    @property
    def key(self) -> str:
        return self.name or self.family


SETUPS = {
    "poisson": Setup("poisson", "log", (0.6, 0.4), ((0.5, 1.0, -0.5), (1.5, -0.5, 0.3))),
    "binomial": Setup("binomial", "logit", (0.6, 0.4),
                      ((-1.0, 1.0, -0.5), (1.0, -0.5, 0.5))),
    # inverse link: the linear predictors stay above 0.15 for |x| < 5
    "gamma": Setup("gamma", "inverse", (0.6, 0.4), ((2.0, 0.2, -0.15), (0.5, 0.05, -0.04)),
                   shape=(5.0, 20.0)),
    # a mixture of experts: the Poisson components above, the weight of the second
    # component logistic in a concomitant variable z ~ N(0, 1)
    "poisson_experts": Setup("poisson", "log", (0.6, 0.4),
                             ((0.5, 1.0, -0.5), (1.5, -0.5, 0.3)), gating=(-0.4, 1.5),
                             name="poisson_experts"),
}


@dataclass
class Row:
    n: int
    family: str
    tool: str
    setting: str
    time: float
    iterations: int | None = None
    passes: int | None = None
    loglik: float | None = None
    note: str = ""
    cpu: float | None = None
    same_model: bool = True  # False for a fit of another model (the ignored offset)


@dataclass
class Params:
    """A parameter set: weights (K,), coef (K, 3) with the intercept first, Gamma shapes."""

    weights: np.ndarray
    coef: np.ndarray
    shape: np.ndarray | None = None
    gating: np.ndarray | None = None  # (K, 2): log-odds against component 1 in (1, z)

    @classmethod
    def from_r(cls, result: dict) -> Params:
        coef = np.asarray(result["coef"], dtype=np.float64).reshape(K, -1)
        shape, gating = result.get("shape"), result.get("gating")
        return cls(np.asarray(result["weights"], dtype=np.float64), coef,
                   None if shape is None else np.asarray(shape, dtype=np.float64),
                   None if gating is None else np.asarray(gating, dtype=np.float64
                                                          ).reshape(K, -1))

    @classmethod
    def from_model(cls, model: RegressionMixture) -> Params:
        shape = getattr(model, "shape_", None)
        gating = model.gating_coef_
        return cls(model.weights_.copy(), np.column_stack([model.intercept_, model.coef_]),
                   None if shape is None else np.asarray(shape).copy(),
                   None if gating is None else np.asarray(gating).copy())

    def as_init(self) -> dict:
        init = {"weights": self.weights / self.weights.sum(), "coef": self.coef[:, 1:],
                "intercept": self.coef[:, 0]}
        if self.shape is not None:
            init["shape"] = self.shape
        if self.gating is not None:
            init["gating"] = self.gating
        return init

    def write(self, path: Path) -> None:
        parts = [self.weights] + ([] if self.shape is None else [self.shape])
        gating = [] if self.gating is None else [self.gating.ravel()]
        values = np.concatenate([*parts, self.coef.ravel(), *gating])
        path.write_text(" ".join(f"{v:.17g}" for v in values) + "\n")

    def coef_gap(self, other: Params) -> float:
        """Largest coefficient difference, components matched by the closest coefficients."""
        return min(float(np.abs(self.coef - other.coef[list(order)]).max())
                   for order in ((0, 1), (1, 0)))


@dataclass
class Data:
    X: np.ndarray
    y: np.ndarray  # (n,), or (n, 2) = [successes, failures] for the binomial
    resp: np.ndarray
    offset: np.ndarray | None = None
    columns: list = field(default_factory=list)  # what the R script reads, in order
    z: np.ndarray | None = None  # the concomitant variable of a mixture of experts

    def fit_args(self) -> dict:
        """The keyword arguments of a regmix fit besides X and y."""
        return {"offset": self.offset,
                "concomitant": None if self.z is None else self.z[:, None]}


# ---------------------------------------------------------------------------- data
def make_data(setup: Setup, n: int, start_noise: float) -> Data:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    labels = rng.choice(K, size=n, p=setup.weights)
    z = None
    if setup.gating is not None:  # the labels drawn again, from the experts' weights
        gate_rng = np.random.default_rng(2)
        z = gate_rng.normal(size=n)
        second = 1.0 / (1.0 + np.exp(-(setup.gating[0] + setup.gating[1] * z)))
        labels = (gate_rng.random(n) < second).astype(np.int64)
    eta = np.einsum("ij,ij->i", np.column_stack([np.ones(n), X]),
                    np.asarray(setup.coef)[labels])
    offset = None
    if setup.family == "poisson":
        t = rng.uniform(0.5, 5.0, size=n)
        offset = np.log(t)
        y = rng.poisson(np.exp(eta + offset)).astype(np.float64)
        columns = [y, *X.T, t] + ([] if z is None else [z])
    elif setup.family == "binomial":
        m = rng.integers(1, 21, size=n)
        s = rng.binomial(m, 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
        y = np.column_stack([s, m - s])
        columns = [s, m - s, *X.T]
    else:
        shape = np.asarray(setup.shape)[labels]
        y = rng.gamma(shape, 1.0 / eta / shape)
        columns = [y, *X.T]
    start_rng = np.random.default_rng(1)
    start = labels.copy()
    moved = start_rng.choice(n, size=int(round(start_noise * n)), replace=False)
    start[moved] = start_rng.integers(0, K, size=len(moved))
    resp = np.zeros((n, K))
    resp[np.arange(n), start] = 1.0
    return Data(X, y, resp, offset, [*columns, *resp.T], z)


def write_data(path: Path, data: Data) -> None:
    """Column after column as little-endian float64 (see compare_r_glm.R)."""
    with open(path, "wb") as f:
        for column in data.columns:
            np.ascontiguousarray(column, dtype="<f8").tofile(f)


# ---------------------------------------------------------------------------- regmix
def regmix_model(setup: Setup, engine: str = "numpy", **kwargs) -> RegressionMixture:
    """regmix with the numpy data pass, or with ``engine="numba"`` the compiled one where
    the family has it."""
    return RegressionMixture(K, family=setup.family, link=setup.link, engine=engine,
                             compute_se=False, **kwargs)


def regmix_loglik(setup: Setup, data: Data, params: Params) -> float:
    """regmix's log-likelihood at given parameters (initialise only, no EM step)."""
    model = regmix_model(setup, init=params.as_init(), max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(model.fit(data.X, data.y, **data.fit_args()).log_likelihood_)


def warm_up(families) -> None:
    """One small fit per family, so that no timed fit pays for first-call costs."""
    for family in families:
        setup = SETUPS[family]
        data = make_data(setup, 2000, 0.2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for engine in ("numpy", "numba"):
                regmix_model(setup, engine, init=data.resp, n_init=1, max_iter=5).fit(
                    data.X, data.y, **data.fit_args())


def regmix_rows(setup: Setup, n: int, data: Data, repeats: int):
    single = dict(init=data.resp, n_init=1)
    settings = [
        ("single start, accelerated", single),
        ("single start, plain EM", dict(single, accelerate=False, max_iter=100000)),
        ("single start, accelerated, engine='numba'", dict(single, engine="numba")),
    ]
    rows, first = [], None
    for name, kwargs in settings:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            elapsed, cpu, model = timed(
                lambda kw=kwargs: regmix_model(setup, **kw).fit(data.X, data.y,
                                                                **data.fit_args()),
                repeats)
        if first is None:
            first = model
        note = "" if model.converged_ else "not converged"
        rows.append(Row(n, setup.key, "regmix", name, elapsed, model.n_iter_,
                        model.n_passes_, model.log_likelihood_, note, cpu=cpu))
    return rows, first


def regmix_source() -> str:
    """The regmix checkout (commit, uncommitted changes) and the data-pass engine."""
    where = checkout()
    return (f"{where}; engine='numpy' for every fit but those marked engine='numba'; "
            f"threads = {os.cpu_count()}")


# ---------------------------------------------------------------------------- R
def flexmix_rows(rscript, setup: Setup, n, data_file, params_in, repeats):
    results = run_r(rscript, ["fit", setup.key, data_file, n, repeats, params_in])
    rows, fits, evaluated = [], [], None
    for r in results:
        if r["task"] == "evaluate":
            evaluated = r["loglik"]
            continue
        if "error" in r:
            rows.append(Row(n, setup.key, "flexmix", r["setting"], np.nan,
                            note=f"error: {r['error']}"))
            continue
        notes = [] if r["converged"] else ["not converged"]
        if r["k"] != K:
            notes.append(f"{r['k']} component(s) left")
        if not r["same_model"] and "direct_loglik_no_offset" in r:
            same = abs(r["loglik"] - r["direct_loglik_no_offset"]) < 1e-6 * abs(r["loglik"])
            notes.append("offset ignored: logLik = formula without offset" if same
                         else "logLik differs from the formula without offset")
        rows.append(Row(n, setup.key, "flexmix", r["setting"], r["time"], r["iter"],
                        None, r["loglik"], "; ".join(notes), cpu=r["cpu"],
                        same_model=r["same_model"]))
        fits.append(r)
    return rows, fits, evaluated


# ---------------------------------------------------------------------------- output
def print_table(rows: list[Row]) -> None:
    best = {}
    for r in rows:
        if r.same_model and r.loglik is not None and np.isfinite(r.loglik):
            key = (r.family, r.n)
            best[key] = max(best.get(key, -np.inf), r.loglik)
    print("| family | n | tool | setting | wall time (s) | CPU time (s) | iterations "
          "| passes | s/iteration | log-likelihood | best - this | note |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        per_iter = r.time / r.iterations if r.iterations else None
        gap = (best[(r.family, r.n)] - r.loglik
               if r.same_model and r.loglik is not None else None)
        print(f"| {r.family} | {r.n:,} | {r.tool} | {r.setting} | {fmt(r.time, '.4g')} "
              f"| {fmt(r.cpu, '.4g')} | {fmt(r.iterations, 'd')} | {fmt(r.passes, 'd')} "
              f"| {fmt(per_iter, '.3g')} "
              f"| {fmt(r.loglik, '.4f')} | {fmt(gap, '.4g')} | {r.note} |")


def print_checks(checks: list[tuple]) -> None:
    print("Log-likelihood of one parameter set, as reported by the fitting tool, by a "
          "direct R formula (dpois / dbinom / dgamma, log-sum-exp) and by regmix "
          "(init=<parameters>, max_iter=0); the largest coefficient difference to "
          "regmix's accelerated fit (components matched); the Gamma shapes (true: "
          f"{', '.join(f'{v:g}' for v in SETUPS['gamma'].shape)}):")
    print()
    print("| family | n | parameters of | reported | R formula | regmix | regmix - R formula "
          "| max abs coef diff to regmix | Gamma shapes |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    for family, n, source, reported, r_formula, ours, gap, shape in checks:
        shapes = "" if shape is None else ", ".join(f"{v:.4f}" for v in shape)
        print(f"| {family} | {n:,} | {source} | {reported:.6f} | {r_formula:.6f} "
              f"| {ours:.6f} | {ours - r_formula:.2g} | {fmt(gap, '.3g')} | {shapes} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    parser.add_argument("--families", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeat fits that take under a second, keep the best time")
    parser.add_argument("--start-noise", type=float, default=0.2,
                        help="fraction of the rows whose start label is redrawn at random")
    parser.add_argument("--flexmix-cap", type=float, default=60.0,
                        help="skip flexmix where it would take longer (seconds, estimated "
                             "from the previous size)")
    parser.add_argument("--rscript", default="Rscript", help="the Rscript executable")
    args = parser.parse_args()

    rscript = shutil.which(args.rscript)
    versions = r_versions(rscript)
    have_flexmix = versions is not None and versions["flexmix"] != "missing"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()} ({platform.platform()}), numpy {np.__version__}")
    if versions is None:
        print("note: Rscript not found or not working; only regmix is measured")
    else:
        print(f"R: {versions['r']}, flexmix {versions['flexmix']}, BLAS {versions['blas']}")
        if not have_flexmix:
            print("note: the R package flexmix is not installed; it is left out")
    print(f"regmix: {regmix_source()}")
    print(f"start: true labels, {args.start_noise:.0%} of the rows (chosen at random) given "
          "a uniformly drawn label")
    print()

    warm_up(args.families)
    rows: list[Row] = []
    checks: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="regmix-compare-r-glm-") as tmp:
        for family in args.families:
            setup = SETUPS[family]
            last = None  # (n, seconds) of the last flexmix run of this family
            for n in (int(s) for s in args.sizes):
                data = make_data(setup, n, args.start_noise)
                regmix, single = regmix_rows(setup, n, data, args.repeats)
                rows.extend(regmix)
                single_params = Params.from_model(single)
                if not have_flexmix:
                    continue
                estimate = None if last is None else last[1] * n / last[0]
                if estimate is not None and estimate > args.flexmix_cap:
                    rows.append(Row(n, family, "flexmix", "skipped", np.nan,
                                    note=f"about {estimate:.0f} s estimated from n = "
                                         f"{last[0]:,}"))
                    print(f"{family} n={n:,} done", file=sys.stderr, flush=True)
                    continue
                data_file = Path(tmp) / f"data-{family}-{n}.bin"
                write_data(data_file, data)
                params_file = Path(tmp) / f"regmix-{family}-{n}.txt"
                single_params.write(params_file)
                try:
                    fx_rows, fx_fits, r_eval = flexmix_rows(rscript, setup, n, data_file,
                                                            params_file, args.repeats)
                except RError as e:
                    fx_fits, r_eval = [], None
                    fx_rows = [Row(n, family, "flexmix", "failed", np.nan, note=str(e))]
                data_file.unlink()
                rows.extend(fx_rows)
                last = (n, sum(r.time for r in fx_rows if np.isfinite(r.time)))
                if r_eval is not None:
                    checks.append((family, n, "regmix single start, accelerated",
                                   single.log_likelihood_, r_eval, single.log_likelihood_,
                                   None, single_params.shape))
                for fit in fx_fits:
                    if "coef" not in fit or not fit["same_model"]:
                        continue
                    params = Params.from_r(fit)
                    ours = regmix_loglik(setup, data, params)
                    checks.append((family, n, f"flexmix {fit['setting']}", fit["loglik"],
                                   fit["direct_loglik"], ours,
                                   single_params.coef_gap(params), params.shape))
                print(f"{family} n={n:,} done", file=sys.stderr, flush=True)

    print_table(rows)
    if checks:
        print()
        print_checks(checks)


if __name__ == "__main__":
    main()
