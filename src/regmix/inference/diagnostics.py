"""Classification and enumeration diagnostics of a fitted mixture.

* **Classification.** From the observations' posterior probabilities ``r_ok`` (rows, or
  groups for grouped data) with weights ``w_o``: the entropy ``E = -sum_o w_o sum_k r_ok
  log r_ok``, the relative entropy (Mplus's "entropy") ``1 - E / (n log K)`` with ``n
  = sum_o w_o`` (Ramaswamy, DeSarbo, Reibstein and Robinson 1993), and the
  classification table: per assigned class ``c`` (the most probable component) the mean
  posterior probability of each component over the observations assigned to ``c``
  (Mplus's "average latent class probabilities for most likely latent class
  membership"), whose diagonal is the average posterior probability of each component
  (AvePP; Nagin 2005). The sums come from one pass
  (:meth:`regmix.engine.runner.PassRunner.classification`).
* **Information criteria** (:func:`information_criteria`), smaller is better, with ``k``
  free parameters and ``n`` observations: AIC ``-2LL + 2k`` (Akaike 1974), BIC ``-2LL +
  k log n`` (Schwarz 1978), SABIC ``-2LL + k log((n + 2) / 24)`` (Sclove 1987), CAIC
  ``-2LL + k (log n + 1)`` (Bozdogan 1987), AWE ``-2LL + 2k (3/2 + log n)`` (Banfield
  and Raftery 1993, in the form of Masyn 2013).
* **Lo-Mendell-Rubin adjusted likelihood-ratio test** (:func:`lmr_test`) of K - 1
  against K components (Lo, Mendell and Rubin 2001, Biometrika 88:767).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from regmix.engine.passes import ClassificationSums, classification_sums

__all__ = ["ClassificationSums", "LMRTest", "classification_diagnostics",
           "classification_sums", "information_criteria",
           "lmr_test", "summary_entries"]


def classification_diagnostics(sums: ClassificationSums) -> dict[str, object]:
    """Entropy, relative entropy, average posterior probabilities and the classification
    table from :class:`ClassificationSums`.

    Returns
    -------
    dict
        ``entropy`` (E), ``relative_entropy`` (``1 - E / (n log K)``; NaN for K = 1),
        ``classification`` ((K, K): row c the mean posterior probabilities over the
        observations assigned to c; NaN for a component to which none is assigned) and
        ``average_posterior`` (its diagonal, AvePP).
    """
    table = np.asarray(sums.table, dtype=np.float64)
    K = table.shape[0]
    size = table.sum(axis=1)
    mean = np.full((K, K), np.nan)
    filled = size > 0
    mean[filled] = table[filled] / size[filled, None]
    relative = (1.0 - sums.entropy / (sums.n * np.log(K)) if K > 1 and sums.n > 0
                else float("nan"))
    return {"entropy": float(sums.entropy), "relative_entropy": float(relative),
            "classification": mean, "average_posterior": np.diag(mean).copy()}


def information_criteria(loglik: float, n_params: int, n_obs: float) -> dict[str, float]:
    """AIC, BIC, SABIC, CAIC and AWE (smaller is better).

    Parameters
    ----------
    loglik : float
        The maximised log-likelihood LL.
    n_params : int
        Free parameters k.
    n_obs : float
        Observations n (rows, sum of weights, or groups).

    Returns
    -------
    dict
        ``aic = -2LL + 2k`` (Akaike 1974); ``bic = -2LL + k log n`` (Schwarz 1978);
        ``sabic = -2LL + k log n*`` with ``n* = (n + 2) / 24`` (Sclove 1987, as Mplus);
        ``caic = -2LL + k (log n + 1)`` (Bozdogan 1987); ``awe = -2LL + 2k (3/2 + log
        n)`` (Banfield and Raftery 1993, as Masyn 2013 writes it).
    """
    dev = -2.0 * float(loglik)
    k = float(n_params)
    log_n = float(np.log(n_obs))
    return {"aic": dev + 2.0 * k, "bic": dev + k * log_n,
            "sabic": dev + k * float(np.log((n_obs + 2.0) / 24.0)),
            "caic": dev + k * (log_n + 1.0), "awe": dev + 2.0 * k * (1.5 + log_n)}


def summary_entries(loglik: float, n_params: int, n_obs: float,
                    sums: ClassificationSums | None) -> dict[str, object]:
    """The lines a summary adds for these diagnostics, in print order: SABIC, CAIC and
    AWE, then (with ``sums``) the relative entropy (K > 1), the average posterior
    probabilities and the rows of the classification table."""
    crit = information_criteria(loglik, n_params, n_obs)
    entries: dict[str, object] = {"SABIC": crit["sabic"], "CAIC": crit["caic"],
                                  "AWE": crit["awe"]}
    if sums is None:
        return entries
    diag = classification_diagnostics(sums)
    table = np.asarray(diag["classification"])
    if table.shape[0] > 1:
        entries["Entropy (relative)"] = diag["relative_entropy"]
    entries["Avg. posterior"] = diag["average_posterior"]
    for c, row in enumerate(table, start=1):
        entries[f"Mean post. | class {c}"] = row
    return entries


@dataclass(frozen=True)
class LMRTest:
    """The Lo-Mendell-Rubin adjusted likelihood-ratio test of K - 1 against K.

    Attributes
    ----------
    lr : float
        ``2 (LL_K - LL_{K-1})``.
    statistic : float
        The adjusted statistic ``LR / (1 + 1 / (d log n))``.
    df : int
        ``d``, the difference in free parameters.
    p_value : float
        ``P(chi2_d > statistic)``.
    n_components : int
        K.
    """

    lr: float
    statistic: float
    df: int
    p_value: float
    n_components: int

    def __repr__(self) -> str:
        K = self.n_components
        return (f"Lo-Mendell-Rubin adjusted LR test, {K - 1} vs {K} components: LR = "
                f"{self.lr:.4f}, adjusted = {self.statistic:.4f}, df = {self.df}, "
                f"p = {self.p_value:.4g}")


def lmr_test(ll_null: float, k_null: int, ll_alt: float, k_alt: int, n_obs: float,
             n_components: int) -> LMRTest:
    """The Lo-Mendell-Rubin ad hoc adjusted likelihood-ratio test.

    Lo, Mendell and Rubin (2001, Biometrika 88:767) scale the likelihood ratio of K - 1
    against K components, ``LR = 2 (LL_K - LL_{K-1})``, by ``1 / (1 + 1 / (d log n))``
    with ``d`` the number of parameters K adds (their ad hoc adjustment, 3 for
    univariate normal components, as tidyLPA's ``calc_lrt`` computes it), and refer the
    result to a chi-square with ``d`` degrees of freedom. This is fast but approximate
    (the regularity conditions of the chi-square limit fail at K - 1 components); the
    parametric bootstrap (:func:`regmix.selection.bootstrap_lr_test`) is calibrated.

    Parameters
    ----------
    ll_null, k_null :
        Log-likelihood and free parameters of the K - 1 component fit.
    ll_alt, k_alt :
        The same of the K component fit.
    n_obs : float
        Observations n.
    n_components : int
        K.

    Returns
    -------
    LMRTest

    Raises
    ------
    ValueError
        If the K component model does not have more parameters.
    """
    d = int(k_alt) - int(k_null)
    if d < 1:
        raise ValueError(f"the {n_components}-component model must have more free "
                         f"parameters than the {n_components - 1}-component one; got "
                         f"{k_alt} and {k_null}")
    lr = 2.0 * (float(ll_alt) - float(ll_null))
    statistic = lr / (1.0 + 1.0 / (d * float(np.log(n_obs))))
    p = float(stats.chi2.sf(statistic, d)) if statistic > 0 else 1.0
    return LMRTest(lr, statistic, d, p, int(n_components))
