"""The middle of the sandwich: sums of outer products of the observations' scores.

The robust (Huber-White) covariance of maximum-likelihood estimates is
``c H^-1 B H^-1`` with ``H`` the observed information and ``B`` the sum of outer
products of the score units' scores (White 1982; for clustered data Liang and Zeger
1986). A unit is an observation (a row, or a whole group for grouped data) for
``cov_type="robust"``, with ``B = sum_o w_o^2 s_o s_o'``, and a cluster for
``cov_type="cluster"``, with ``B = sum_g S_g S_g'`` and ``S_g = sum_{o in g} w_o s_o``.
The score ``s_o`` of an observation is the gradient of its contribution to the
observed-data log-likelihood, which by Fisher's identity is the posterior-weighted sum
of the complete-data scores (:func:`regmix.inference.information.observation_scores`,
the same per-observation derivatives the information is made of). With sample weights
read as probability weights this is the pseudo-maximum-likelihood sandwich.

The small-sample factor ``c`` is Stata's: ``n / (n - 1)`` for ``robust`` (n score units)
and ``G / (G - 1)`` for ``cluster`` (G clusters).

One pass over any row source gives ``B``: per chunk a ``(dim, dim)`` sum of outer
products, or a ``(G, dim)`` array of per-cluster score sums; no per-row scores are kept.
With ``engine="numba"`` the ``robust`` sums of the components the compiled information
covers take its pass (:class:`~regmix.compiled.information_kernel.InformationSums` with
``meat=True``), on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from regmix.core.choices import COV_TYPES
from regmix.core.results import PassResult
from regmix.engine.passes import run_pass
from regmix.inference.information import _Layout, compiled_information_sums, observation_scores

__all__ = ["COV_TYPES", "ScoreMeat", "check_cov_type", "cluster_codes", "score_meat"]


@dataclass(frozen=True)
class ScoreMeat:
    """The summed outer products of the score units' scores.

    Attributes
    ----------
    meat : ndarray of shape (dim, dim)
        ``B`` in the unconstrained parameters ``theta`` of the information.
    n_units : int
        Score units: observations with positive weight (robust), or clusters.
    loglik : float
        The weighted log-likelihood of the rows the scores were taken at.
    cov_type : {"robust", "cluster"}
    """

    meat: np.ndarray
    n_units: int
    loglik: float
    cov_type: str

    @property
    def factor(self) -> float:
        """Stata's small-sample factor: ``n / (n - 1)`` or ``G / (G - 1)``."""
        n = self.n_units
        return n / (n - 1) if n > 1 else float("nan")


def check_cov_type(cov_type: str) -> str:
    """``cov_type`` checked against :data:`COV_TYPES`."""
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {list(COV_TYPES)}; got {cov_type!r}")
    return cov_type


def cluster_codes(labels, n_rows: int) -> tuple[np.ndarray, int]:
    """Cluster labels of the rows as codes ``0, ..., G - 1``.

    Parameters
    ----------
    labels : array-like of shape (n_rows,)
        Any labels (numbers, strings); a missing label is refused.
    n_rows : int

    Returns
    -------
    codes : ndarray of int64, shape (n_rows,)
    n_clusters : int

    Raises
    ------
    ValueError
        If ``labels`` has the wrong length, a missing value, or fewer than two clusters.
    """
    values = np.asarray(labels)
    if values.ndim != 1 or values.shape[0] != n_rows:
        raise ValueError(f"clusters must have one label per row ({n_rows}); got shape "
                         f"{values.shape}")
    codes, uniques = pd.factorize(pd.Series(values))
    if np.any(codes < 0):
        raise ValueError(f"clusters has a missing label at row {int(np.argmax(codes < 0))}")
    if uniques.size < 2:
        raise ValueError(f"cluster-robust standard errors need at least two clusters; "
                         f"clusters has {uniques.size}")
    return codes.astype(np.int64), int(uniques.size)


def score_meat(family, params, source, layout: _Layout, *, codes=None,
               n_clusters: int | None = None, chunk_size: int = 8192,
               n_jobs: int = 1, engine: str = "numpy") -> ScoreMeat:
    """``B`` at ``params`` (user units) over the rows of ``source`` (user units).

    Parameters
    ----------
    family, params :
        The fitted family and :class:`~regmix.core.params.MixtureParams`.
    source :
        A row source in user units (``ArrayData(standardize=False)``, or a streamed
        source's ``plain()``).
    layout : _Layout
        The parameter layout of the information.
    codes : ndarray of shape (n_rows,), optional
        Cluster codes from :func:`cluster_codes`, in the source's row order; None for
        ``robust``. With grouped rows every group must lie in one cluster.
    n_clusters : int, optional
        The number of clusters (with ``codes``).
    chunk_size, n_jobs :
        As for the data pass.
    engine : {"numpy", "numba"}, default="numpy"
        With "numba", the ``robust`` meat of components with constant weights on rows
        the compiled information reads (see
        :func:`~regmix.engine.kernel.compiled_pass_applies`) takes the compiled pass; the
        same sums to round-off.

    Returns
    -------
    ScoreMeat
    """
    sums = None if codes is not None else compiled_information_sums(
        family, params, source, chunk_size, n_jobs, engine, meat=True)
    if sums is not None:
        loglik, n_units = sums.totals_of_rows()
        return ScoreMeat(sums.result(), n_units, loglik, "robust")
    dim = layout.dim

    def unit_scores(chunk):
        scores, omega, obs_ll = observation_scores(layout, family, params, chunk)
        return scores * omega[:, None], float(omega @ obs_ll), np.count_nonzero(omega > 0)

    if codes is None:

        def chunk_fn(chunk) -> PassResult:
            s, ll, n = unit_scores(chunk)
            return PassResult(ll, np.array([float(n)]), (s.T @ s,))
    else:
        G = int(n_clusters) if n_clusters is not None else int(codes.max()) + 1

        def chunk_fn(chunk) -> PassResult:
            s, ll, n = unit_scores(chunk)
            rows = codes[chunk.start : chunk.start + chunk.XT.shape[1]]
            starts = chunk.group_starts
            if starts is not None:
                split = np.minimum.reduceat(rows, starts) != np.maximum.reduceat(rows, starts)
                if split.any():
                    bad = chunk.start + int(starts[np.argmax(split)])
                    raise ValueError("clusters must hold whole groups: a group spans several "
                                     f"clusters (the one starting at row {bad} of the rows "
                                     "sorted by group)")
                rows = rows[starts]
            sums = np.zeros((G, dim))
            np.add.at(sums, rows, s)
            return PassResult(ll, np.array([float(n)]), (sums,))

    total = run_pass(source, chunk_fn, chunk_size=int(chunk_size), n_jobs=n_jobs)
    if codes is None:
        meat, n_units, kind = total.stats[0], int(total.resp_sum[0]), "robust"
    else:
        sums = total.stats[0]
        meat, n_units, kind = sums.T @ sums, G, "cluster"
    return ScoreMeat(0.5 * (meat + meat.T), n_units, float(total.loglik), kind)
