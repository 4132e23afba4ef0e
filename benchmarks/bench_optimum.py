"""How often the default fit reaches the best admissible log-likelihood.

Usage::

    python benchmarks/bench_optimum.py [--starts 500] [--seeds 20]
        [--cache benchmarks/optimum_reference.json] [--only NAME ...] [--quick]
        [--rscript Rscript] [--list]

For a fixed set of hard problems (synthetic ones generated here from fixed seeds, and
the example data of flexmix and mixtools read through Rscript), the script computes:

* the reference: the best admissible log-likelihood over ``--starts`` single starts
  ``RegressionMixture(K, n_init=1, init="random" | "subsets" (alternately),
  min_weight=0.0, compute_se=False, random_state=100000 + i)``, without the
  split-and-merge moves of the default search (``split_merge=False`` where the
  estimator has them: the reference is what single starts find). A start is admissible
  when it did not raise and every fitted weight is at least 0.05 (with concomitant
  variables: the mean over the rows of ``mixing_weights(concomitant)``). A start that
  stopped at ``max_iter`` counts only if, continued with 20 times as many iterations,
  it converges admissible (at the value it then reaches): a point where a start
  stopped unconverged need not be a maximum. Exceptions and warnings are counted; a
  cached reference of an older rule is checked by fitting its best start again. The
  references are kept in the JSON file ``--cache``
  (keyed by problem name and number of starts, with a fingerprint of the data), so a
  later run, after the default fit changed, reuses them;
* the default fit ``RegressionMixture(K, family=..., random_state=s).fit(...)`` for
  the seeds ``s = 0 .. --seeds - 1`` (standard errors left on): a seed hits when its
  log-likelihood is at least ``ref - 1e-6 * |ref|``; a fit that raises is a miss, and
  the reason is printed. The median wall time per fit (``time.perf_counter``), and the
  medians of ``n_at_best_`` and ``n_runs_`` where the estimator has them.

It prints one markdown table and the overall share of (problem, seed) pairs that hit.
Columns: the reference log-likelihood, the smallest weight of the start that reached it,
the admissible starts, the starts within the tolerance of the reference, the seeds of the
default fit that hit ("above": by more than the tolerance), the median time of a
default fit, and the medians of ``n_at_best_`` and ``n_runs_`` ("–" where the estimator
has no such attribute). Progress, the reference starts' failures and warnings and every
missed seed (its log-likelihood and distance to the reference, or its exception) go to
standard error.
The real-data problems need ``Rscript`` with flexmix and mixtools; without them they are
skipped with a note. ``--quick`` is ``--starts 100 --seeds 5``.

The newer component types (:func:`newer_problems`, and flexmix's ``dmft`` and ``NPreg``
data) follow the same protocol, both ``init`` options included: negative-binomial,
Gamma and Student-t components (two with gross outliers), zero-inflated Poisson
and negative-binomial models (``family=["pointmass", "poisson"]``), a family per
component (Gaussian and Student-t), censored Gaussian responses (tobit limits, and unit
intervals as a two-column response) and two responses sharing the class
(``MultiResponse``; NPreg's ``yn`` Gaussian and ``yp ~ x`` Poisson as in
``compare_r_multi.py``). The ``dmft`` problems (flexmix's zero-inflated Poisson model,
written as in ``compare_r_dmft.py``) have zero components of weight 0.045 and 0.021 at
the maximum flexmix finds: for them both the admissibility threshold and the default
fit's ``min_weight`` are 0.01 (flexmix's ``minprior`` there), the only problems whose
default fit sets an argument.

Latent-class linear mixed models (family "mixed" in the table: ``MixedGaussian`` with
the problem's random effects, rows grouped by subject with ``groups=``) take the same
protocol: every option of the reference starts (both inits, ``min_weight=0``,
``split_merge=False``) works for them. They are five synthetic problems (subjects of 4
to 8 rows at times ``t ~ U(0, 3)``: K = 2 with a random intercept, K = 2 with a random
intercept and slope, K = 3 with a random intercept and a class of 10%, K = 3 with a
random intercept and overlapping lines, K = 3 with a random intercept and slope and
overlapping lines) and
mixtools' ``RanEffdata`` (200 subjects of 25 rows, two classes, random intercept and
slope), in the long form of ``benchmarks/compare_r_mixed.R``.

Problems: ``--list`` prints their names; ``--only`` runs a subset (names or prefixes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from regmix import CensoredGaussian, MultiResponse, RegressionMixture
from regmix.datasets import make_family_mixture, make_regression_mixture
from regmix.families.mixed_gaussian import MixedGaussian

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_r_dmft import FORMULA as DMFT_FORMULA  # noqa: E402  (the dmft model)
from compare_r_dmft import _levels as dmft_levels  # noqa: E402

# Single starts for the reference: no split-and-merge moves (a parameter since the
# default fit became a search; absent before).
_PLAIN = ({"split_merge": False} if "split_merge" in RegressionMixture().get_params()
          else {})

MIN_WEIGHT = 0.05
REL_TOL = 1e-6
DEFAULT_CACHE = Path(__file__).resolve().with_name("optimum_reference.json")

R_EXPORT = r"""
out <- commandArgs(trailingOnly = TRUE)[1]
suppressPackageStartupMessages({library(flexmix); library(mixtools)})
data(tonedata, package = "mixtools")
write.csv(tonedata, file.path(out, "tonedata.csv"), row.names = FALSE)
data(NPreg, package = "flexmix")
write.csv(NPreg[, c("x", "yn", "yp")], file.path(out, "NPreg.csv"), row.names = FALSE)
data(dmft, package = "flexmix")
write.csv(dmft, file.path(out, "dmft.csv"), row.names = FALSE)
data(bioChemists, package = "flexmix")
b <- bioChemists
b$fem <- as.character(b$fem)
b$mar <- as.character(b$mar)
write.csv(b, file.path(out, "bioChemists.csv"), row.names = FALSE)
data(RanEffdata, package = "mixtools")
long <- do.call(rbind, lapply(seq_along(RanEffdata), function(i)
  data.frame(id = i, y = RanEffdata[[i]][, 1], x = RanEffdata[[i]][, 3])))
write.csv(long, file.path(out, "RanEffdata.csv"), row.names = FALSE)
"""


# ---------------------------------------------------------------------------- problems
@dataclass
class Data:
    """What ``fit`` takes: ``X`` (array or data frame), ``y`` (None with a formula; two
    columns for censoring intervals or two responses) and the keyword arguments
    (trials, concomitant, groups)."""

    X: object
    y: np.ndarray | None
    fit_kwargs: dict = field(default_factory=dict)
    n: int = 0

    def fingerprint(self) -> str:
        h = hashlib.sha1()
        if hasattr(self.X, "to_numpy"):
            for col in self.X.columns:
                h.update(str(col).encode())
                h.update(np.asarray(self.X[col]).astype(str).tobytes())
        else:
            h.update(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
        if self.y is not None:
            h.update(np.ascontiguousarray(self.y, dtype=np.float64).tobytes())
        for key in sorted(self.fit_kwargs):
            h.update(key.encode())
            h.update(np.ascontiguousarray(self.fit_kwargs[key], dtype=np.float64).tobytes())
        return h.hexdigest()[:16]


@dataclass
class Problem:
    """A problem: ``family`` is what ``RegressionMixture(family=)`` takes (a name, a
    list of them, one per component, or a family object), ``label`` its name in the
    table (by default ``family`` itself, or its names joined by ``+``), ``min_weight``
    both the default fit's and the admissibility threshold of the reference;
    ``random`` the random effects of a latent-class mixed model
    (``MixedGaussian(random)``, ``family`` then its label)."""

    name: str
    family: object
    K: int
    make: Callable[[], Data]
    model_kwargs: dict = field(default_factory=dict)
    needs_r: bool = False
    note: str = ""
    label: str = ""
    min_weight: float = MIN_WEIGHT
    random: str | None = None

    @property
    def family_label(self) -> str:
        if self.label:
            return self.label
        if isinstance(self.family, (list, tuple)):
            return "+".join(map(str, self.family))
        return str(self.family)

    def family_arg(self) -> object:
        """What the estimator's ``family=`` takes."""
        return self.family if self.random is None else MixedGaussian(self.random)


def _gaussian(n, coef, intercept, sigma, weights, seed, x_scale=1.0):
    def make():
        X, y, _, _ = make_regression_mixture(n, coef=coef, intercept=intercept, sigma=sigma,
                                             weights=weights, x_scale=x_scale,
                                             random_state=seed)
        return Data(X, y, n=n)
    return make


def _family(n, family, coef, intercept, weights, seed, trials=None, extra=None,
            outliers=0):
    """``make_family_mixture``; ``extra`` its shape parameters, ``outliers`` rows (the
    first) moved 30 units up."""
    def make():
        t = None
        if trials is not None:
            t = np.random.default_rng(seed + 1).integers(trials[0], trials[1] + 1, size=n)
        X, y, _, _ = make_family_mixture(n, family, coef=coef, intercept=intercept,
                                         weights=weights, extra=extra, trials=t,
                                         random_state=seed)
        y[:outliers] += 30.0
        return Data(X, y, {} if t is None else {"trials": t}, n=n)
    return make


def _hybrid(n, df, coef, intercept, sigma, weights, seed):
    """Lines with normal errors (``df`` None) or Student-t errors (``df``)."""
    def make():
        rng = np.random.default_rng(seed)
        x = rng.normal(size=n)
        k = rng.choice(len(weights), size=n, p=weights)
        errors = np.column_stack([rng.normal(size=n) if d is None else rng.standard_t(d, n)
                                  for d in df])
        y = (np.asarray(intercept)[k] + np.asarray(coef)[k] * x
             + np.asarray(sigma)[k] * errors[np.arange(n), k])
        return Data(x[:, None], y, n=n)
    return make


def _censored(n, coef, intercept, sigma, weights, seed, lower=None, upper=None,
              interval=False):
    """Gaussian lines censored at ``lower`` and ``upper`` (a one-column response), or,
    with ``interval``, known only to lie between consecutive integers (two columns)."""
    def make():
        X, y, _, _ = make_regression_mixture(n, coef=coef, intercept=intercept, sigma=sigma,
                                             weights=weights, random_state=seed)
        if interval:
            y = np.column_stack([np.floor(y), np.floor(y) + 1.0])
        else:
            y = np.clip(y, -np.inf if lower is None else lower,
                        np.inf if upper is None else upper)
        return Data(X, y, n=n)
    return make


def _two_responses(n, seed):
    """K = 3 classes (weights 0.5, 0.4, 0.1) of a Gaussian ``yn`` and a Poisson ``yp``,
    both regressions on x, as the columns of an ``(n, 2)`` response."""
    def make():
        rng = np.random.default_rng(seed)
        x = rng.normal(size=n)
        k = rng.choice(3, size=n, p=[0.5, 0.4, 0.1])
        yn = (np.array([0.0, 1.0, 0.5])[k] + np.array([1.0, 0.3, -1.0])[k] * x
              + np.array([1.0, 1.0, 0.6])[k] * rng.normal(size=n))
        yp = rng.poisson(np.exp(np.array([1.0, 1.2, 2.0])[k]
                                + np.array([0.3, -0.2, 0.0])[k] * x))
        return Data(x[:, None], np.column_stack([yn, yp.astype(np.float64)]), n=n)
    return make


def _gating(n, seed):
    """K = 3 Gaussian lines whose weights depend on a concomitant variable z:
    logits (0, -0.5 + 1.5 z, -1.5 - 1.0 z)."""
    def make():
        rng = np.random.default_rng(seed)
        x = rng.normal(size=n)
        z = rng.normal(size=n)
        logits = np.column_stack([np.zeros(n), -0.5 + 1.5 * z, -1.5 - 1.0 * z])
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        b0 = np.array([0.0, 0.5, -0.5])
        b1 = np.array([1.0, 0.0, 2.0])
        s = np.array([1.0, 0.8, 0.7])
        y = b0[labels] + b1[labels] * x + s[labels] * rng.normal(size=n)
        return Data(x[:, None], y, {"concomitant": z[:, None]}, n=n)
    return make


def _grouped(n_groups, family, seed):
    """Groups of 1 to 6 rows that share a component: K = 3 overlapping Gaussian lines
    (weights 0.5, 0.35, 0.15) or K = 2 Poisson regressions (weights 0.7, 0.3)."""
    def make():
        rng = np.random.default_rng(seed)
        sizes = rng.integers(1, 7, size=n_groups)
        g = np.repeat(np.arange(n_groups), sizes)
        n = g.size
        x = rng.normal(size=n)
        if family == "gaussian":
            w, b0, b1, s = [0.5, 0.35, 0.15], [0.0, 1.0, -1.0], [1.0, 0.5, 1.5], [1.0, 1.0, 1.0]
        else:
            w, b0, b1, s = [0.7, 0.3], [0.5, 1.0], [0.5, -0.3], None
        comp = rng.choice(len(w), size=n_groups, p=w)[g]
        eta = np.asarray(b0)[comp] + np.asarray(b1)[comp] * x
        if family == "gaussian":
            y = eta + np.asarray(s)[comp] * rng.normal(size=n)
        else:
            y = rng.poisson(np.exp(eta)).astype(np.float64)
        return Data(x[:, None], y, {"groups": g}, n=n)
    return make


def _mixed(n_subjects, weights, intercept, slope, sd, sigma, seed, gate=None):
    """Subjects of 4 to 8 rows at times ``t ~ U(0, 3)`` in K classes of lines
    ``intercept_k + slope_k t``, with a random intercept (``sd`` a number) or a random
    intercept and slope (``sd`` their two standard deviations, correlation 0.3) and
    residual standard deviation ``sigma``. With ``gate`` ``(a, b)`` (two classes) a
    subject is in class 2 with probability ``expit(a + b z)``, ``z ~ N(0, 1)`` the
    subject's concomitant variable."""
    def make():
        rng = np.random.default_rng(seed)
        sizes = rng.integers(4, 9, size=n_subjects)
        g = np.repeat(np.arange(n_subjects), sizes)
        t = rng.uniform(0.0, 3.0, size=g.size)
        cls = rng.choice(len(weights), size=n_subjects, p=weights)[g]
        kwargs: dict = {"groups": g}
        if gate is not None:
            other = np.random.default_rng(seed + 1000)
            z = other.normal(size=n_subjects)
            second = other.random(n_subjects) < 1.0 / (1.0 + np.exp(-(gate[0] + gate[1] * z)))
            cls = second.astype(int)[g]
            kwargs["concomitant"] = z[g][:, None]
        sds = np.atleast_1d(np.asarray(sd, dtype=np.float64))
        corr = np.array([[1.0, 0.3], [0.3, 1.0]])[: sds.size, : sds.size]
        b = rng.multivariate_normal(np.zeros(sds.size), corr * np.outer(sds, sds),
                                    size=n_subjects)[g]
        y = np.asarray(intercept)[cls] + np.asarray(slope)[cls] * t + b[:, 0]
        if sds.size == 2:
            y += b[:, 1] * t
        y += sigma * rng.normal(size=g.size)
        return Data(t[:, None], y, kwargs, n=g.size)
    return make


def _real(file: str, columns: list[str], groups: str | None = None):
    def make():
        import pandas as pd

        frame = pd.read_csv(REAL_DIR / file)
        kwargs = {} if groups is None else {"groups": frame[groups].to_numpy()}
        return Data(frame[columns], None, kwargs, n=len(frame))
    return make


def _dmft():
    """flexmix's dmft data, with R's factor levels (those of ``compare_r_dmft.py``)."""
    import pandas as pd

    frame = dmft_levels(pd.read_csv(REAL_DIR / "dmft.csv"))
    columns = ["End", "Begin", "Gender", "Ethnic", "Treatment"]
    return Data(frame[columns], None, n=len(frame))


REAL_DIR = Path(".")  # set by load_r_data()


def problems() -> list[Problem]:
    ps = [
        # Gaussian, make_regression_mixture
        Problem("gauss_k2_n100", "gaussian", 2,
                _gaussian(100, [[1.0], [1.6]], [0.0, 0.8], [1.0, 1.0], [0.7, 0.3], 11)),
        Problem("gauss_k2_w05_n500", "gaussian", 2,
                _gaussian(500, [[1.0], [-0.5]], [0.0, 1.0], [1.0, 0.7], [0.95, 0.05], 12)),
        Problem("gauss_k3_n300", "gaussian", 3,
                _gaussian(300, [[1.0], [0.0], [-1.0]], [0.0, 0.5, 0.0], [0.8, 0.8, 0.8],
                          [0.5, 0.3, 0.2], 13)),
        Problem("gauss_k3_d2_n2000", "gaussian", 3,
                _gaussian(2000, [[1.0, 0.5], [0.5, 1.0], [0.0, -0.5]], [0.0, 0.3, -0.3],
                          [1.0, 1.0, 1.0], [0.6, 0.3, 0.1], 14)),
        Problem("gauss_k4_n1000", "gaussian", 4,
                _gaussian(1000, [[2.0], [0.5], [-1.0], [-2.5]], [0.0, 1.0, -1.0, 0.5],
                          [1.0, 0.8, 1.2, 1.0], [0.4, 0.3, 0.2, 0.1], 15)),
        Problem("gauss_k5_n2000", "gaussian", 5,
                _gaussian(2000, [[3.0], [1.5], [0.0], [-1.5], [-3.0]], [0.0, 1.0, -1.0, 0.5, 0.0],
                          [1.0, 0.8, 1.2, 1.0, 0.6], [0.35, 0.25, 0.2, 0.15, 0.05], 16)),
        Problem("gauss_k6_n1500", "gaussian", 6,
                _gaussian(1500, [[4.0], [2.5], [1.0], [-0.5], [-2.0], [-3.5]],
                          [0.0, 1.0, -1.0, 0.5, 0.0, -0.5], [1.0, 0.8, 1.2, 1.0, 0.6, 0.9],
                          [0.3, 0.25, 0.15, 0.13, 0.1, 0.07], 17)),
        Problem("gauss_k3_n10000", "gaussian", 3,
                _gaussian(10000, [[1.0], [0.7], [0.3]], [0.0, 0.3, -0.2], [1.0, 0.6, 1.2],
                          [0.55, 0.35, 0.1], 18)),
        Problem("gauss_k4_d2_n10000", "gaussian", 4,
                _gaussian(10000, [[1.0, 0.0], [0.5, 0.6], [-0.3, 0.3], [0.0, -0.6]],
                          [0.0, 0.4, -0.4, 0.6], [1.0, 0.8, 1.0, 0.6],
                          [0.5, 0.3, 0.14, 0.06], 19)),
        # Poisson and binomial with trials, make_family_mixture
        Problem("poisson_k2_n500", "poisson", 2,
                _family(500, "poisson", [[0.5], [0.2]], [1.0, 1.6], [0.75, 0.25], 21)),
        Problem("poisson_k3_n2000", "poisson", 3,
                _family(2000, "poisson", [[0.4], [0.1], [-0.3]], [1.0, 1.3, 1.6],
                        [0.6, 0.3, 0.1], 22)),
        Problem("binomial_k2_n500", "binomial", 2,
                _family(500, "binomial", [[1.0], [-0.5]], [0.0, 0.5], [0.7, 0.3], 23,
                        trials=(10, 10))),
        Problem("binomial_k3_n1000", "binomial", 3,
                _family(1000, "binomial", [[1.5], [0.0], [-1.0]], [-1.0, 0.5, 1.0],
                        [0.5, 0.35, 0.15], 24, trials=(5, 20))),
        # concomitant variables and groups
        Problem("gating_k3_n1000", "gaussian", 3, _gating(1000, 31),
                note="concomitant z"),
        Problem("groups_k3_n300g", "gaussian", 3, _grouped(300, "gaussian", 32),
                note="300 groups"),
        Problem("groups_poisson_k2_n200g", "poisson", 2, _grouped(200, "poisson", 33),
                note="200 groups"),
        # latent-class linear mixed models (rows grouped by subject)
        Problem("mixed_k2_ri_n100s", "mixed", 2,
                _mixed(100, [0.6, 0.4], [0.0, 2.0], [1.0, -0.5], 0.8, 0.5, 41),
                note="random intercept, 100 subjects", random="1"),
        Problem("mixed_k2_ris_n200s", "mixed", 2,
                _mixed(200, [0.55, 0.45], [0.0, 1.0], [1.0, -0.3], [0.8, 0.3], 0.5, 42),
                note="random intercept and slope, 200 subjects", random="1 + x0"),
        Problem("mixed_k3_w10_n400s", "mixed", 3,
                _mixed(400, [0.5, 0.4, 0.1], [0.0, 1.5, 3.5], [1.0, 0.0, -1.0], 0.7, 0.6,
                       43),
                note="random intercept, a class of 10%, 400 subjects", random="1"),
        Problem("mixed_k3_overlap_n300s", "mixed", 3,
                _mixed(300, [0.45, 0.35, 0.2], [0.0, 0.8, -0.5], [1.0, 0.5, 1.4], 0.6,
                       0.7, 44),
                note="random intercept, overlapping lines, 300 subjects", random="1"),
        Problem("mixed_k3_ris_n250s", "mixed", 3,
                _mixed(250, [0.5, 0.35, 0.15], [0.0, 0.8, -0.5], [1.0, 0.5, 1.4],
                       [0.6, 0.25], 0.6, 46),
                note="random intercept and slope, overlapping lines, 250 subjects",
                random="1 + x0"),
        Problem("mixed_gated_k2_n200s", "mixed", 2,
                _mixed(200, [0.5, 0.5], [0.0, 1.5], [1.0, -0.5], [0.7, 0.3], 0.5, 47,
                       gate=(-0.3, 1.5)),
                note="random intercept and slope, class on a subject's z, 200 subjects",
                random="1 + x0"),
    ]
    tone = _real("tonedata.csv", ["stretchratio", "tuned"])
    npreg = _real("NPreg.csv", ["x", "yn"])
    bio = _real("bioChemists.csv", ["art", "fem", "mar", "kid5", "phd", "ment"])
    for K in (3, 4, 5):
        ps.append(Problem(f"tonedata_k{K}", "gaussian", K, tone,
                          {"formula": "tuned ~ stretchratio"}, needs_r=True))
    for K in (2, 3):
        ps.append(Problem(f"NPreg_k{K}", "gaussian", K, npreg,
                          {"formula": "yn ~ x + I(x**2)"}, needs_r=True))
    for K in (2, 3):
        ps.append(Problem(f"bioChemists_k{K}", "poisson", K, bio,
                          {"formula": "art ~ C(fem) + C(mar) + kid5 + phd + ment"},
                          needs_r=True))
    ps += newer_problems()
    dmft = ["pointmass", "poisson"]
    for K in (2, 3):
        ps.append(Problem(f"dmft_k{K}", dmft + ["poisson"] * (K - 2), K, _dmft,
                          {"formula": DMFT_FORMULA}, needs_r=True, min_weight=0.01,
                          note="min_weight 0.01"))
    ps.append(Problem("multi_NPreg_k2", MultiResponse({"yn": "gaussian", "yp": "poisson"},
                                                      columns={"yp": ["x"]}),
                      2, _real("NPreg.csv", ["x", "yn", "yp"]),
                      {"formula": "yn + yp ~ x + I(x**2)"}, needs_r=True,
                      label="yn gaussian + yp poisson"))
    ps.append(Problem("RanEffdata_k2", "mixed", 2,
                      _real("RanEffdata.csv", ["y", "x"], groups="id"),
                      {"formula": "y ~ x"}, needs_r=True,
                      note="200 subjects of 25 rows", random="1 + x"))
    return ps


def newer_problems() -> list[Problem]:
    """Synthetic problems of the newer component types: shape parameters, point
    masses, a family per component, censored responses, several responses."""
    t_extra = {"sigma": [1.0, 0.8, 0.5], "df": [3.0, 5.0, 10.0]}
    return [
        Problem("negbin_k2_n600", "negative_binomial", 2,
                _family(600, "negative_binomial", [[0.6], [-0.4]], [1.0, 2.0], [0.7, 0.3],
                        41, extra={"size": [3.0, 8.0]})),
        Problem("negbin_k3_n1500", "negative_binomial", 3,
                _family(1500, "negative_binomial", [[0.5], [0.0], [-0.5]], [1.0, 1.8, 2.5],
                        [0.55, 0.37, 0.08], 42, extra={"size": [2.0, 5.0, 10.0]})),
        Problem("gamma_k2_n400", "gamma", 2,
                _family(400, "gamma", [[0.5], [-0.5]], [0.0, 1.0], [0.9, 0.1], 43,
                        extra={"shape": [4.0, 10.0]})),
        Problem("gamma_k3_n1200", "gamma", 3,
                _family(1200, "gamma", [[0.5], [-0.3], [0.0]], [0.0, 0.5, 1.5],
                        [0.5, 0.4, 0.1], 44, extra={"shape": [3.0, 6.0, 15.0]})),
        Problem("student_t_k2_n500", "student_t", 2,
                _family(500, "student_t", [[1.0], [2.0]], [0.0, 0.5], [0.6, 0.4], 45,
                        extra={"sigma": [1.0, 1.0], "df": [4.0, 4.0]}, outliers=10),
                note="10 outliers"),
        Problem("student_t_k3_n1000", "student_t", 3,
                _family(1000, "student_t", [[1.0], [-1.0], [0.0]], [0.0, 1.0, 3.0],
                        [0.5, 0.42, 0.08], 46, extra=t_extra)),
        Problem("student_t_k3_out_n800", "student_t", 3,
                _family(800, "student_t", [[1.0], [0.0], [-1.0]], [0.0, 0.5, 0.0],
                        [0.5, 0.41, 0.09], 65,
                        extra={"sigma": [1.0, 0.8, 0.5], "df": [3.0, 3.0, 3.0]},
                        outliers=8),
                note="8 outliers"),
        Problem("zip_k2_n1000", ["pointmass", "poisson"], 2,
                _family(1000, ["pointmass", "poisson"], [[0.0], [0.5]], [0.0, 1.0],
                        [0.2, 0.8], 47)),
        Problem("zip_k3_n2000", ["pointmass", "poisson", "poisson"], 3,
                _family(2000, ["pointmass", "poisson", "poisson"], [[0.0], [0.5], [-0.3]],
                        [0.0, 0.3, 1.8], [0.1, 0.6, 0.3], 48)),
        Problem("zinb_k2_n800", ["pointmass", "negative_binomial"], 2,
                _family(800, ["pointmass", "negative_binomial"], [[0.0], [0.4]], [0.0, 0.8],
                        [0.15, 0.85], 49, extra={"size": [1.0, 2.0]})),
        Problem("hybrid_k2_n800", ["gaussian", "student_t"], 2,
                _hybrid(800, [None, 2.5], [1.0, -0.5], [0.0, 0.5], [1.0, 0.7], [0.6, 0.4],
                        50)),
        Problem("hybrid_k3_n1500", ["gaussian", "gaussian", "student_t"], 3,
                _hybrid(1500, [None, None, 3.0], [1.0, 0.0, -1.0], [0.0, 1.0, 0.0],
                        [1.0, 0.7, 0.5], [0.5, 0.41, 0.09], 51)),
        Problem("hybrid_k3_t2_n1000", ["gaussian", "student_t", "student_t"], 3,
                _hybrid(1000, [None, 2.0, 4.0], [1.0, 0.0, -1.0], [0.0, 0.5, 0.0],
                        [1.0, 0.8, 0.6], [0.5, 0.42, 0.08], 66)),
        Problem("censored_k2_n800", CensoredGaussian(lower=0.0), 2,
                _censored(800, [[1.0], [-0.5]], [1.0, 2.0], [1.0, 0.8], [0.7, 0.3], 52,
                          lower=0.0),
                label="censored_gaussian", note="lower 0"),
        Problem("censored_k3_n1500", CensoredGaussian(lower=0.0, upper=6.0), 3,
                _censored(1500, [[1.0], [0.0], [-1.0]], [2.0, 3.0, 4.0], [1.0, 0.8, 0.7],
                          [0.5, 0.4, 0.1], 53, lower=0.0, upper=6.0),
                label="censored_gaussian", note="lower 0, upper 6"),
        Problem("censored_interval_k2_n600", "censored_gaussian", 2,
                _censored(600, [[1.5], [-0.5]], [0.0, 1.0], [1.0, 1.0], [0.65, 0.35], 54,
                          interval=True),
                note="unit intervals"),
        Problem("multi_k3_n900", MultiResponse({"yn": "gaussian", "yp": "poisson"}), 3,
                _two_responses(900, 55), label="yn gaussian + yp poisson"),
        Problem("lognormal_k2_n600", "lognormal", 2,
                _family(600, "lognormal", [[0.8], [-0.3]], [0.0, 0.7], [0.75, 0.25], 67,
                        extra={"sigma": [0.5, 0.3]})),
        Problem("lognormal_k3_n1200", "lognormal", 3,
                _family(1200, "lognormal", [[1.0], [0.2], [-0.8]], [0.0, 0.6, 0.2],
                        [0.5, 0.41, 0.09], 68, extra={"sigma": [0.5, 0.3, 0.4]})),
        Problem("gamma_lognormal_k2_n800", ["gamma", "lognormal"], 2,
                _family(800, ["gamma", "lognormal"], [[0.6], [-0.5]], [0.3, 2.0],
                        [0.6, 0.4], 69, extra={"shape": [3.0, np.nan],
                                               "sigma": [np.nan, 0.25]})),
    ]


def load_r_data(rscript: str | None, tmp: Path) -> str | None:
    """Export the R example data to CSV files in ``tmp``; the reason when it fails."""
    global REAL_DIR
    exe = shutil.which(rscript) if rscript else None
    if exe is None:
        return f"{rscript!r} not found"
    snippet = tmp / "export.R"
    snippet.write_text(R_EXPORT)
    proc = subprocess.run([exe, str(snippet), str(tmp)], capture_output=True, text=True)
    if proc.returncode != 0:
        return "R export failed: " + proc.stderr.strip().splitlines()[-1]
    REAL_DIR = tmp
    return None


# ---------------------------------------------------------------------------- fitting
def fit(problem: Problem, data: Data, **kwargs) -> RegressionMixture:
    model = RegressionMixture(problem.K, family=problem.family_arg(), **problem.model_kwargs,
                              **kwargs)
    if data.y is None:
        return model.fit(data.X, **data.fit_kwargs)
    return model.fit(data.X, data.y, **data.fit_kwargs)


def fitted_weights(model: RegressionMixture, data: Data) -> np.ndarray:
    z = data.fit_kwargs.get("concomitant")
    if z is None:
        return np.asarray(model.weights_)
    return model.mixing_weights(z).mean(axis=0)


def start_fit(problem: Problem, data: Data, i: int, **kwargs) -> RegressionMixture:
    """Single start ``i`` of the reference (random memberships for even ``i``, elemental
    subsets for odd ones), without moves."""
    init = "random" if i % 2 == 0 else "subsets"
    return fit(problem, data, n_init=1, init=init, min_weight=0.0, compute_se=False,
               random_state=100000 + i, **_PLAIN, **kwargs)


# A reference start that stopped at max_iter is continued with this many times the
# estimator's max_iter: it counts for the reference only if it then converges,
# admissible (a start can crawl unconverged past a saddle, or towards a component that
# vanishes, and stop at a point that is no maximum).
CONTINUE_FACTOR = 20

# The rule the references follow; a cached reference of an older rule is checked again.
REFERENCE_RULE = 2


def continued(problem: Problem, data: Data, i: int) -> tuple[float, float] | None:
    """``(log-likelihood, smallest weight)`` of reference start ``i`` continued to
    convergence (see :data:`CONTINUE_FACTOR`), or None if it does not converge to an
    admissible fit."""
    max_iter = CONTINUE_FACTOR * RegressionMixture().get_params()["max_iter"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = start_fit(problem, data, i, max_iter=max_iter)
    except Exception:  # noqa: BLE001 -- a start that fails is no reference
        return None
    ll, smallest = float(model.log_likelihood_), float(fitted_weights(model, data).min())
    if not (model.converged_ and np.isfinite(ll) and smallest >= problem.min_weight):
        return None
    return ll, smallest


def reference(problem: Problem, data: Data, starts: int) -> dict:
    """The best admissible log-likelihood over ``starts`` single random starts that
    converged (an unconverged one after it is continued, see :func:`continued`)."""
    candidates, best_any = [], -np.inf
    errors, warns = Counter(), Counter()
    n_inadmissible = 0
    t0 = time.perf_counter()
    for i in range(starts):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = start_fit(problem, data, i)
            except Exception as exc:  # noqa: BLE001 -- every failure is counted
                errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                continue
            finally:
                for w in caught:
                    warns[w.category.__name__] += 1
        ll = float(model.log_likelihood_)
        smallest = float(fitted_weights(model, data).min())
        if np.isfinite(ll):
            best_any = max(best_any, ll)
        if not np.isfinite(ll) or smallest < problem.min_weight:
            n_inadmissible += 1
            continue
        candidates.append((ll, i, bool(model.converged_), smallest))
    best, best_start, ref_min_weight, dropped = -np.inf, None, None, 0
    for ll, i, converged, smallest in sorted(candidates, reverse=True):
        if not converged:
            done = continued(problem, data, i)
            if done is None:
                dropped += 1
                continue
            ll, smallest = done
        best, best_start, ref_min_weight = ll, i, smallest
        break
    lls = np.asarray([c[0] for c in candidates])
    at_ref = int(np.sum(lls >= best - REL_TOL * abs(best))) if lls.size else 0
    return {"reference": best if np.isfinite(best) else None, "best_start": best_start,
            "starts": starts, "admissible": int(lls.size), "at_reference": at_ref,
            "inadmissible": n_inadmissible, "min_weight_at_reference": ref_min_weight,
            "best_any": best_any if np.isfinite(best_any) else None,
            "unconverged_dropped": dropped, "rule": REFERENCE_RULE,
            "errors": dict(errors),
            "warnings": dict(warns), "seconds": round(time.perf_counter() - t0, 1)}


def checked(problem: Problem, data: Data, entry: dict) -> dict | None:
    """A cached reference of an older rule brought to :data:`REFERENCE_RULE`: its best
    start fitted again, and kept if that start converges (continued if need be) to an
    admissible fit at the reference or above; None if the reference must be searched
    again (the start does not converge, or no longer reaches the reference)."""
    i, ref = entry["best_start"], entry["reference"]
    if ref is None or i is None:
        return dict(entry, rule=REFERENCE_RULE, unconverged_dropped=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = start_fit(problem, data, i)
    except Exception:  # noqa: BLE001 -- then searched again
        return None
    done: tuple[float, float] | None = (float(model.log_likelihood_),
                                        float(fitted_weights(model, data).min()))
    if not model.converged_:
        done = continued(problem, data, i)
    if done is None or done[0] < ref - REL_TOL * abs(ref) or done[1] < problem.min_weight:
        return None
    return dict(entry, reference=max(ref, done[0]), rule=REFERENCE_RULE,
                unconverged_dropped=0)


def default_fits(problem: Problem, data: Data, ref: float, seeds: int) -> dict:
    hits, above, times, misses = 0, 0, [], []
    at_best, runs = [], []
    tol = REL_TOL * abs(ref)
    # the estimator's default min_weight, unless the problem has its own
    own = {} if problem.min_weight == MIN_WEIGHT else {"min_weight": problem.min_weight}
    for s in range(seeds):
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = fit(problem, data, random_state=s, **own)
        except Exception as exc:  # noqa: BLE001 -- a failed default fit is a miss
            times.append(time.perf_counter() - t0)
            misses.append(f"seed {s}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        times.append(time.perf_counter() - t0)
        ll = float(model.log_likelihood_)
        if ll >= ref - tol:
            hits += 1
            above += ll > ref + tol
        else:
            misses.append(f"seed {s}: {ll:.6f} ({ll - ref:+.4g})")
        for attr, out in (("n_at_best_", at_best), ("n_runs_", runs)):
            value = getattr(model, attr, None)
            if value is not None:
                out.append(value)
    return {"hits": hits, "above": int(above), "seeds": seeds,
            "ms": 1e3 * float(np.median(times)), "misses": misses,
            "n_at_best": float(np.median(at_best)) if at_best else None,
            "n_runs": float(np.median(runs)) if runs else None}


# ---------------------------------------------------------------------------- cache
def load_cache(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_cache(path: Path, cache: dict) -> None:
    path.write_text(json.dumps(dict(sorted(cache.items())), indent=1) + "\n")


def cache_key(problem: Problem, starts: int) -> str:
    return f"{problem.name}|starts={starts}"


# ---------------------------------------------------------------------------- main
def num(v) -> str:
    return "–" if v is None else f"{v:.4g}"


def select(ps: list[Problem], only: list[str] | None) -> list[Problem]:
    if not only:
        return ps
    chosen = [p for p in ps if any(p.name == o or p.name.startswith(o) for o in only)]
    if not chosen:
        sys.exit(f"no problem matches {only}; --list prints the names")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=500,
                        help="random starts for the reference (default 500)")
    parser.add_argument("--seeds", type=int, default=20,
                        help="seeds of the default fit (default 20)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="JSON file of reference values (default %(default)s)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these problems (names or prefixes)")
    parser.add_argument("--quick", action="store_true", help="--starts 100 --seeds 5")
    parser.add_argument("--rscript", default="Rscript")
    parser.add_argument("--list", action="store_true", help="print the problem names")
    args = parser.parse_args()
    if args.quick:
        args.starts, args.seeds = 100, 5
    ps = select(problems(), args.only)
    if args.list:
        print("\n".join(p.name for p in ps))
        return

    # warm up (imports, first-call costs) outside the timings
    X, y, _, _ = make_regression_mixture(200, random_state=0)
    RegressionMixture(2, random_state=0).fit(X, y)

    cache = load_cache(args.cache)
    rows, total_hits, total_pairs = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        r_problem = None
        if any(p.needs_r for p in ps):
            r_problem = load_r_data(args.rscript, Path(tmp))
            if r_problem:
                print(f"note: skipping the flexmix/mixtools data ({r_problem})",
                      file=sys.stderr)
        for p in ps:
            if p.needs_r and r_problem:
                continue
            data = p.make()
            key, fp = cache_key(p, args.starts), data.fingerprint()
            entry = cache.get(key)
            if (entry is not None and entry.get("fingerprint") == fp
                    and entry.get("rule") != REFERENCE_RULE):
                entry = checked(p, data, entry)
                if entry is not None:
                    cache[key] = entry
                    save_cache(args.cache, cache)
            if entry is None or entry.get("fingerprint") != fp:
                print(f"[{p.name}] reference over {args.starts} starts ...",
                      file=sys.stderr, flush=True)
                entry = reference(p, data, args.starts)
                entry.update(fingerprint=fp, n=data.n, K=p.K, family=p.family_label)
                cache[key] = entry
                save_cache(args.cache, cache)
            ref = entry["reference"]
            extra = (f"  errors {entry['errors']}" if entry["errors"] else "") + (
                f"  warnings {entry['warnings']}" if entry["warnings"] else "")
            print(f"[{p.name}] reference {ref} ({entry['admissible']} admissible, "
                  f"{entry['at_reference']} at it, smallest weight "
                  f"{num(entry['min_weight_at_reference'])}, best of any start "
                  f"{entry['best_any']}, {entry['seconds']} s){extra}",
                  file=sys.stderr, flush=True)
            if ref is None:
                rows.append((p, entry, None))
                continue
            result = default_fits(p, data, ref, args.seeds)
            for m in result["misses"]:
                print(f"[{p.name}]   miss {m}", file=sys.stderr)
            total_hits += result["hits"]
            total_pairs += result["seeds"]
            rows.append((p, entry, result))

    print(f"\nreference: best admissible log-likelihood over {args.starts} starts; "
          f"default fit: {args.seeds} seeds\n")
    print("| problem | family | K | n | reference loglik | smallest weight | admissible "
          "| starts at ref | hits/seeds | above | median ms | n_at_best_ | n_runs_ |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p, entry, r in rows:
        head = (f"| {p.name} | {p.family_label} | {p.K} | {entry['n']:,} | "
                + ("none" if entry["reference"] is None else f"{entry['reference']:.6f}")
                + f" | {num(entry['min_weight_at_reference'])} | {entry['admissible']}"
                + f" | {entry['at_reference']}/{entry['starts']}")
        if r is None:
            print(head + " | – | – | – | – | – |")
        else:
            print(head + f" | {r['hits']}/{r['seeds']} | {r['above']} | {r['ms']:.1f} | "
                  f"{num(r['n_at_best'])} | {num(r['n_runs'])} |")
    share = total_hits / total_pairs if total_pairs else float("nan")
    print(f"\noverall: {total_hits}/{total_pairs} (problem, seed) pairs hit "
          f"the reference ({share:.1%})")


if __name__ == "__main__":
    main()
