"""Standard errors, tables and reports of a fitted mixture: the estimator's inference layer.

:class:`InferenceMixin` gives :class:`~regmix.RegressionMixture` the observed
information of the fit (one pass over the rows, restricted to the free parameters by the
constraint map), the covariance of the estimates, the coefficient table, the bootstrap and
the statsmodels-style summary. The numerics live in :mod:`regmix.inference`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from regmix.engine.threads import resolve_n_jobs
from regmix.estimator.inputs import Rows, censored_source, is_row_source
from regmix.inference.bootstrap import AMBIGUITY_THRESHOLD, bootstrap
from regmix.inference.covariance import (
    coef_table,
    natural_covariance,
    natural_parameters,
    reported_parameters,
)
from regmix.inference.diagnostics import (
    ClassificationSums,
    classification_diagnostics,
    information_criteria,
    summary_entries,
)
from regmix.inference.information import (
    _Layout,
    mixture_information,
    parameter_index,
    score_information,
)
from regmix.inference.robust import check_cov_type, cluster_codes, score_meat
from regmix.inference.summary import Summary, summary_header, summary_notes, summary_title
from regmix.inference.wald import WaldTest, parse_hypotheses, wald_test
from regmix.sources.arrays import ArrayData


class InferenceMixin:
    """Inference and reports for :class:`~regmix.RegressionMixture`."""

    def _information(self, source, rows: Rows | None) -> np.ndarray:
        """Observed information at the fitted parameters in the free parameters (one pass
        in user units): the full matrix restricted by the constraint map."""

        plain = source.plain() if rows is None else self._eval_source(rows)
        if getattr(source, "allowed", None) is not None:
            plain.allowed = source.allowed  # the fit's known labels, rows in the same order
        C = self._constraint_map()
        extra_map = self._free_extra_map()
        if extra_map is None or not extra_map[1].any():
            full = mixture_information(self.family_, self._user_params(), plain,
                                       chunk_size=int(self.chunk_size),
                                       n_jobs=resolve_n_jobs(self.n_jobs),
                                       engine=self._engine(plain.n_rows))
            return C.T @ full @ C
        # a map that is not linear (proportional covariances): minus the Hessian of the
        # log-likelihood in the free parameters has the score's curvature term
        score, full, _ = score_information(self.family_, self._user_params(), plain,
                                           chunk_size=int(self.chunk_size),
                                           n_jobs=resolve_n_jobs(self.n_jobs))
        layout = self._layout()
        extras = np.array([layout.block(k)[layout.p :] for k in range(layout.K)]).ravel()
        curvature = np.einsum("e,efg->fg", score[extras], extra_map[1])
        columns = self._extra_columns()
        info = C.T @ full @ C
        info[np.ix_(columns, columns)] -= curvature
        return info

    def _free_extra_map(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The family's map of its free extras to the components' (``free_extra_map``,
        at the fitted extras in user units), or None."""
        extra_map = getattr(self.family_, "free_extra_map", None)
        return None if extra_map is None else extra_map(self._free_extra())

    def _extra_columns(self) -> np.ndarray:
        """The columns of the constraint map that are the family's free extras under a
        ``free_extra_map`` (after the free coefficients)."""
        cons = getattr(self.family_, "constraints", None)
        layout = self._layout()
        n_coef = layout.K * layout.p if cons is None else int(cons.index.max()) + 1
        extra_map = self._free_extra_map()
        assert extra_map is not None
        return n_coef + np.arange(extra_map[0].shape[1])

    def _layout(self):

        p = self.coef_.shape[1] + int(self.fit_intercept)
        q = 1 if self.gating_coef_ is None else self.gating_coef_.shape[1]
        return _Layout(self.n_components, p, int(self.family_.free_extra().sum()), q)

    def _refuse_known_labels(self, what: str) -> None:
        """Raise ValueError for a model fitted with known labels, which ``what`` (a
        computation on rows given without them) would ignore."""
        if getattr(self.state_, "n_known_labels", None) is not None:
            raise ValueError(f"{what} does not take known labels, and this model was "
                             f"fitted with known_labels; use the observed-information "
                             f"standard errors (cov_type='oim')")

    def _constraint_map(self) -> np.ndarray:
        """The matrix C with ``theta = C phi + const``: the full unconstrained parameters
        (per component coefficients and log extras, then gating) from the free ones
        (the free coefficients in the numbering of the constraints, each shared one
        once, then per component the free extras, then each common log sigma, then the
        gating coefficients or log weight ratios unless the weights are fixed)."""
        layout = self._layout()
        cons = getattr(self.family_, "constraints", None)
        fixed_weights = getattr(self, "fixed_weights", None) is not None
        K, p, m = layout.K, layout.p, layout.m
        extra_map = self._free_extra_map()
        if cons is None and not fixed_weights and extra_map is None:
            return np.eye(layout.dim)[:, self._parameter_mask()]
        index = (np.arange(K * p).reshape(K, p) if cons is None else cons.index)
        equal_scale = cons is not None and cons.equal_scale
        # the common sigmas' positions among the free extras
        free = np.cumsum(self.family_.free_extra()) - 1
        common = {int(free[j]) for j in cons.scale_columns} if equal_scale else set()
        blocks = np.array([layout.block(k) for k in range(K)])  # (K, p + m)
        columns = []

        def unit(positions):
            col = np.zeros(layout.dim)
            col[positions] = 1.0
            return col

        columns += [unit(blocks[:, :p][index == i]) for i in range(int(index.max()) + 1)]
        if extra_map is not None:  # the family's own map of its free extras
            for derivative in extra_map[0].T:
                col = np.zeros(layout.dim)
                col[blocks[:, p:].ravel()] = derivative
                columns.append(col)
        else:
            columns += [unit([blocks[k, p + j]]) for k in range(K) for j in range(m)
                        if j not in common]
        if equal_scale and extra_map is None:
            columns += [unit(blocks[:, p + j]) for j in sorted(common)]
        if not fixed_weights:
            columns += [unit([i]) for i in layout.eta]
        C = np.column_stack(columns)
        absent = ~self._parameter_mask()  # a point mass's coefficients, say
        return C[:, ~(C[absent] != 0).any(axis=0)]

    def _parameter_mask(self) -> np.ndarray:
        """Which coordinates of the full unconstrained layout are parameters, bool
        (dim,): all, but where components have their own families (a point mass has no
        coefficients, a Gaussian component beside Student-t ones no df)."""
        layout = self._layout()
        keep = np.ones(layout.dim, dtype=bool)
        mask = getattr(self.family_, "parameter_mask", None)
        if mask is not None:
            keep[: layout.K * (layout.p + layout.m)] = mask(layout.p).ravel()
        return keep

    def _natural_mask(self) -> np.ndarray:
        """Which rows of the full :func:`parameter_index` are parameters of the model
        (see :meth:`_parameter_mask`), bool."""
        layout = self._layout()
        blocks = self._parameter_mask()[: layout.K * (layout.p + layout.m)].reshape(
            layout.K, -1)
        if self.gating_coef_ is None:
            return np.column_stack([blocks, np.ones(layout.K, dtype=bool)]).ravel()
        return np.concatenate([blocks.ravel(), np.ones(layout.eta.size, dtype=bool)])

    def _parameter_index(self, full: bool = False):
        """Labels of the natural parameters (``full``: also the coordinates of the
        uniform layout that are no parameters of their component)."""
        gating = getattr(self, "gating_coef_", None)
        gating_names = None if gating is None else ["intercept", *self.state_.gating_names]
        index = parameter_index(self.n_components, self._coefficient_labels(), False,
                                self._free_extra_names(), gating_names)
        return index if full else index[self._natural_mask()]

    def _free_extra_names(self) -> list[str]:
        """Names of the family parameters that were estimated (not fixed)."""
        free = self.family_.free_extra()
        return [n for n, f in zip(self.family_.extra_names, free, strict=True) if f]

    def _linear_extra(self) -> np.ndarray | None:
        """Which estimated extras the information holds as they are rather than by
        their logarithm (a family's ``linear_extra``; None: all by their logarithm)."""
        linear = getattr(self.family_, "linear_extra", None)
        return None if linear is None else linear()[self.family_.free_extra()]

    def _free_extra(self) -> np.ndarray:
        """The estimated extras (K, m'); where a component's family lacks one (NaN in
        the state), 1 stands in: it is no parameter and leaves the tables."""
        extra = self.state_.extra[:, self.family_.free_extra()]
        return np.where(np.isnan(extra), 1.0, extra)

    def covariance_matrix(self, cov_type: str = "oim", *, X=None, y=None, clusters=None,
                          sample_weight=None, offset=None, trials=None, concomitant=None,
                          groups=None, known_labels=None):
        """Covariance of the estimates, labelled by (component, parameter).

        From the inverse of the observed information (:attr:`information_`) by the
        delta method: intercept, coefficients, the family's estimated parameters (sigma,
        shape, size, df) and weight of each component. The weights sum to one, so the
        matrix is singular in that direction. Rows and columns of parameters on the
        boundary (``state_.boundary``) are NaN. Its rows are those of
        :meth:`coef_table`: a random-effect covariance common to all classes once,
        under class 1, and for proportional ones the rows ``ratio`` (``w_k``).

        Parameters
        ----------
        cov_type : {"oim", "robust", "cluster"}, default="oim"
            ``"oim"``: the inverse of the observed information. ``"robust"``: the
            sandwich ``c H^-1 B H^-1`` (Huber 1967, White 1982) with ``H`` the observed
            information, ``B = sum_o w_o^2 s_o s_o'`` the outer products of the
            observations' scores ``s_o`` (the rows, or the groups for a model fitted
            with groups) and Stata's factor ``c = n / (n - 1)`` (n observations with
            positive weight). ``"cluster"``: the same with ``B = sum_g S_g S_g'`` over
            the clusters' summed weighted scores and ``c = G / (G - 1)`` (G clusters).
            With sample weights read as probability weights this is the
            pseudo-maximum-likelihood covariance. The scores go through the constraint
            map, as the information does; one more pass over the rows.
        X, y :
            The training data as given to :meth:`fit` (a data frame for a formula
            model, or the Parquet/dask row source); needed for ``"robust"`` and
            ``"cluster"``. Rows whose log-likelihood at the fit differs from
            :attr:`log_likelihood_` are refused.
        clusters : str or array-like of shape (n,), optional
            For ``"cluster"``: one label per row of ``X`` (in the caller's order), or
            the name of a column of the data frame ``X``. With groups every group must
            lie in one cluster.
        sample_weight, offset, trials, concomitant, groups, known_labels : optional
            As given to :meth:`fit` (a model fitted with known labels needs them again:
            its scores are those of the likelihood with the labels).

        Returns
        -------
        pandas.DataFrame
            ``attrs["se_method"]`` says how it was computed.
        """

        return self._reported_covariance(
            cov_type, X=X, y=y, clusters=clusters, sample_weight=sample_weight,
            offset=offset, trials=trials, concomitant=concomitant, groups=groups,
            known_labels=known_labels)[1]

    def _reported_covariance(self, cov_type: str = "oim", **data
                             ) -> tuple[np.ndarray, pd.DataFrame]:
        """The estimates as :meth:`coef_table` reports them and their covariance (see
        :func:`~regmix.inference.covariance.reported_parameters`); ``data`` as for
        :meth:`covariance_matrix`."""
        natural = self._natural_covariance(cov_type, **data)
        estimates, matrix, index = reported_parameters(
            self.family_, self.n_components, self._natural_estimates(), natural.index,
            natural.to_numpy())
        frame = pd.DataFrame(matrix, index=index, columns=index)
        frame.attrs["se_method"] = natural.attrs["se_method"]
        return estimates, frame

    def _natural_covariance(self, cov_type: str = "oim", *, X=None, y=None, clusters=None,
                            sample_weight=None, offset=None, trials=None, concomitant=None,
                            groups=None, known_labels=None) -> pd.DataFrame:
        """The covariance of the natural parameters (:meth:`_natural_estimates`: every
        class's extras, no ratios); the arguments as for :meth:`covariance_matrix`."""
        check_is_fitted(self)
        if self.information_ is None:
            raise ValueError("standard errors need compute_se=True when fitting")
        meat, method = self._score_meat(
            cov_type, X, y, clusters, dict(sample_weight=sample_weight, offset=offset,
                                           trials=trials, concomitant=concomitant,
                                           groups=groups, known_labels=known_labels))
        C = self._constraint_map()
        index = self._parameter_index(full=True)
        drop, undefined = self._boundary_coordinates(C, index)
        cov = natural_covariance(self.weights_, self._free_extra(), self.information_,
                                 self._layout(), C, gating=self.gating_coef_ is not None,
                                 drop=drop, undefined=undefined, meat=meat,
                                 linear=self._linear_extra())
        keep = self._natural_mask()
        frame = pd.DataFrame(cov[np.ix_(keep, keep)], index=index[keep], columns=index[keep])
        frame.attrs["se_method"] = method
        return frame

    def _score_meat(self, cov_type: str, X, y, clusters, data: dict
                    ) -> tuple[np.ndarray | None, str]:
        """The middle of the sandwich in the free parameters (``C' B C`` times the
        small-sample factor), None for ``"oim"``, and the description of the method."""
        check_cov_type(cov_type)
        if cov_type == "oim":
            if clusters is not None or X is not None:
                raise ValueError("X and clusters are used only with cov_type='robust' or "
                                 "'cluster'")
            return None, "observed information"
        if clusters is not None and cov_type != "cluster":
            raise ValueError("clusters= needs cov_type='cluster'")
        labels = data.pop("known_labels", None)
        fitted_with_labels = getattr(self.state_, "n_known_labels", None) is not None
        if fitted_with_labels and labels is None:
            raise ValueError(f"cov_type={cov_type!r}: this model was fitted with "
                             "known_labels; pass them again (known_labels=...)")
        if labels is not None and not fitted_with_labels:
            raise ValueError("known_labels given, but the model was fitted without them")
        if cov_type == "cluster" and clusters is None:
            raise ValueError("cov_type='cluster' needs clusters=: one label per row, or the "
                             "name of a column of the data frame X")
        if X is None:
            raise ValueError(f"cov_type={cov_type!r} needs the training data: pass X (and "
                             "y, sample_weight, ... as given to fit)")
        order = None
        if is_row_source(X):
            if (y is not None or labels is not None
                    or any(v is not None for v in data.values())):
                raise ValueError("with a row source, y, sample_weight, offset, trials, "
                                 "concomitant and groups come from the source")
            source = censored_source(X, self.family_).plain()
        else:
            if isinstance(clusters, str):
                X, clusters = self._cluster_column(X, clusters)
            rows = self._eval_rows(X, y, data["sample_weight"], data["offset"],
                                   data["trials"], concomitant=data["concomitant"],
                                   groups=data["groups"])
            allowed = None if labels is None else self._known_labels(X, labels, rows)
            source, order = self._eval_source(rows, allowed), rows.order
        n_fit = getattr(self, "n_samples_fit_", None)
        if n_fit is not None and source.n_rows != n_fit:
            raise ValueError(f"these rows are not the training data: X has {source.n_rows} "
                             f"rows, the fit had {n_fit}")
        codes = n_clusters = None
        if cov_type == "cluster":
            codes, n_clusters = cluster_codes(clusters, source.n_rows)
            codes = codes if order is None else codes[order]
        result = score_meat(self.family_, self._user_params(), source, self._layout(),
                            codes=codes, n_clusters=n_clusters,
                            chunk_size=int(self.chunk_size),
                            n_jobs=resolve_n_jobs(self.n_jobs),
                            engine=self._engine(source.n_rows))
        ll = self.log_likelihood_
        if not abs(result.loglik - ll) <= 1e-7 * max(1.0, abs(ll)):
            raise ValueError(
                f"these rows are not the training data: their log-likelihood at the fit is "
                f"{result.loglik:.6g}, the fit's {ll:.6g}; pass X, y, sample_weight, offset, "
                "trials, concomitant and groups as given to fit")
        C = self._constraint_map()
        n = result.n_units
        if cov_type == "cluster":
            method = f"cluster-robust (sandwich), small-sample factor G/(G-1), G = {n} clusters"
        else:
            unit = "groups" if getattr(self, "n_groups_", None) is not None else "observations"
            method = f"robust (sandwich), small-sample factor n/(n-1), n = {n} {unit}"
        return result.factor * (C.T @ result.meat @ C), method

    def _cluster_column(self, X, name: str):
        """``X`` without the column ``name`` (kept for a formula model, whose formula
        picks its columns), and that column's values."""
        columns = getattr(X, "columns", None)
        if columns is None or name not in columns:
            raise ValueError(f"clusters={name!r} is not a column of X")
        values = np.asarray(X[name])
        return (X if self.formula is not None else X.drop(columns=[name])), values

    def _boundary_coordinates(self, C: np.ndarray, index: pd.MultiIndex
                              ) -> tuple[np.ndarray, np.ndarray]:
        """For the parameters on the boundary (``state_.boundary``): the free parameters
        (columns of the constraint map ``C``) to remove from the information, and the
        positions in ``index`` of the parameters without a standard error.

        A sigma at the floor removes the component's coefficients and log sigma. A
        diverging subspace of dimension r removes r of the coordinates it involves,
        chosen by QR with column pivoting of its basis so that the rest spans a
        complement of it (for the gating: of all components' gating coefficients, whose
        entries share one basis). A shared parameter (a common coefficient, an equal sigma) is one
        free parameter, so removing it removes it for every component."""
        layout = self._layout()
        names = self._coefficient_labels()
        extras = self._free_extra_names()
        theta: list[int] = []
        undefined: list[int] = []
        gating_dropped = False
        for entry in self.state_.boundary:
            block = layout.eta if entry.gating else layout.block(entry.component)
            undefined += [index.get_loc((entry.component + 1, name))
                          for name in entry.parameters]
            if entry.gating and gating_dropped:
                continue  # the gating entries share one basis, removed once
            gating_dropped |= entry.gating
            if entry.directions is None:
                theta += [block[names.index(n)] if n in names
                          else block[layout.p + extras.index(n)] for n in entry.parameters]
            else:
                r = entry.directions.shape[0]
                pivots = linalg.qr(entry.directions, pivoting=True, mode="r")[1][:r]
                theta += [int(block[j]) for j in pivots]
        drop = (np.flatnonzero(np.abs(C[theta]).sum(axis=0) > 0) if theta
                else np.zeros(0, dtype=np.intp))
        return drop, np.asarray(undefined, dtype=np.intp)

    def coef_table(self, alpha: float = 0.05, cov_type: str = "oim", *, X=None, y=None,
                   clusters=None, **data):
        """Estimates with standard errors, Wald tests and confidence intervals.

        Parameters
        ----------
        alpha : float, default=0.05
            The intervals have coverage ``1 - alpha``.
        cov_type : {"oim", "robust", "cluster"}, default="oim"
            Observed-information, robust (sandwich, factor ``n / (n - 1)``) or
            cluster-robust (factor ``G / (G - 1)``) standard errors; see
            :meth:`covariance_matrix`.
        X, y, clusters, **data :
            For ``"robust"`` and ``"cluster"``: the training data and the cluster
            labels, and ``sample_weight``, ``offset``, ``trials``, ``concomitant``,
            ``groups`` as given to :meth:`fit` (see :meth:`covariance_matrix`).

        Returns
        -------
        pandas.DataFrame
            Indexed by (component, parameter), with columns ``estimate``, ``std_err``,
            ``z``, ``p_value``, ``ci_lower`` and ``ci_upper``. Standard errors come from
            the observed information of the observed-data log-likelihood (or its
            sandwich with the scores); ``z`` and
            ``p_value`` test a zero value and are left empty for weights and the
            family's positive parameters (sigma, shape, size, df), where zero is on the
            boundary. Parameters that have no estimate (diverging coefficients, a sigma
            at the variance floor, listed in ``state_.boundary``) get NaN standard
            errors, z, p-values and intervals.
        """

        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
        estimates, cov = self._reported_covariance(cov_type, X=X, y=y, clusters=clusters,
                                                   **data)
        table = coef_table(estimates, cov.to_numpy(), cov.index, alpha,
                           no_test=("sigma", "weight", "shape", "size", "df", "ratio"),
                           method=cov.attrs["se_method"])
        common = getattr(self.family_, "common_extra_names", ())
        if common:  # shown once, under component 1
            table.attrs["common"] = list(common)
        return table

    def _natural_estimates(self) -> np.ndarray:
        """The estimates in the order of the covariance matrix."""
        params = self._user_params()
        return natural_parameters(params.weights, params.component.coef,
                                  self._free_extra(), params.gating)[self._natural_mask()]

    def wald_test(self, hypotheses, r=None, cov_type: str = "oim", *, X=None, y=None,
                  clusters=None, **data) -> WaldTest:
        """Wald test of linear hypotheses about the parameters, within and across
        components.

        Parameters
        ----------
        hypotheses : str, list of str, or array-like of shape (h, m)
            Equations in the names of :meth:`coef_table` with the component after
            ``@``: ``"x1@1 = x1@2"``, ``"2*x1@1 - x1@2 = 0.5"``, ``"gate:z@2 = 0"``,
            ``"sigma@1 = sigma@2"`` (a side without ``=`` equals zero). A list, or
            equations separated by commas or semicolons, is one joint test. Or the
            matrix ``R`` over the rows of :meth:`coef_table`, in its order.
        r : array-like of shape (h,), optional
            With a matrix ``R``: the right-hand side (zeros by default).
        cov_type, X, y, clusters, **data :
            The covariance the test uses, as for :meth:`covariance_matrix`.

        Returns
        -------
        regmix.inference.wald.WaldTest
            ``statistic`` ``W = (R b - r)' (R V R')^-1 (R b - r)``, ``df`` (the rank of
            ``R V R'``) and ``p_value`` of the chi-square distribution (Wald 1943).

        Examples
        --------
        >>> model.wald_test("x0@1 = x0@2")  # doctest: +SKIP
        Wald test (observed information): chi2(1) = 5.1234, p = 0.0236
          x0@1 = x0@2
        """
        estimates, cov = self._reported_covariance(cov_type, X=X, y=y, clusters=clusters,
                                                   **data)
        if isinstance(hypotheses, str) or (isinstance(hypotheses, (list, tuple)) and hypotheses
                                           and all(isinstance(h, str) for h in hypotheses)):
            if r is not None:
                raise ValueError("r goes with a matrix R; write the right-hand side in the "
                                 "equations")
            R, r, labels = parse_hypotheses(hypotheses, cov.index)
        else:
            R, labels = hypotheses, None
        return wald_test(estimates, cov.to_numpy(), R, r, labels,
                         cov.attrs["se_method"])

    def test_equal(self, parameter: str, cov_type: str = "oim", *, X=None, y=None,
                   clusters=None, **data) -> WaldTest:
        """Wald test that one parameter is the same in every component.

        Parameters
        ----------
        parameter : str
            A name of :meth:`coef_table` (``"x1"``, ``"intercept"``, ``"sigma"``).
        cov_type, X, y, clusters, **data :
            As for :meth:`wald_test`.

        Returns
        -------
        regmix.inference.wald.WaldTest
            The joint test of ``parameter@1 = parameter@k`` for k = 2..K (K - 1 degrees
            of freedom).
        """
        check_is_fitted(self)
        if self.n_components < 2:
            raise ValueError("test_equal compares components; the model has one")
        names = set(self._parameter_index().get_level_values(1))
        if parameter not in names or parameter.startswith("gate:") or parameter == "weight":
            raise ValueError(f"parameter must be a per-component parameter of coef_table(); "
                             f"got {parameter!r}")
        if parameter in getattr(self.family_, "common_extra_names", ()):
            raise ValueError(f"parameter {parameter!r} is common to all components (one "
                             "random-effect covariance); there is nothing to compare")
        equations = [f"{parameter}@1 = {parameter}@{k}"
                     for k in range(2, self.n_components + 1)]
        return self.wald_test(equations, cov_type=cov_type, X=X, y=y, clusters=clusters,
                              **data)

    def _n_observations(self) -> float:
        """The n of the information criteria: groups, or the sum of the row weights."""
        groups = getattr(self, "n_groups_", None)
        if groups is not None:
            return float(groups)
        total = getattr(self, "sum_weights_", None)
        return float(self.n_samples_fit_ if total is None else total)

    def information_criteria(self) -> dict[str, float]:
        """The information criteria of the training data (smaller is better).

        Returns
        -------
        dict
            ``aic``, ``bic``, ``sabic`` (``n* = (n + 2) / 24``), ``caic`` (``k (log n +
            1)``), ``awe`` (``-2LL + 2k (3/2 + log n)``) and ``icl``, with ``k`` free
            parameters and ``n`` observations (rows, sum of weights, or groups); see
            :func:`regmix.inference.diagnostics.information_criteria` for the sources.
        """
        check_is_fitted(self)
        if getattr(self, "n_samples_fit_", None) is None:
            raise ValueError("the model does not record its training rows (an old model "
                             "file); compute criteria with aic(X, y) and bic(X, y)")
        crit = information_criteria(self.log_likelihood_, self.n_parameters_,
                                    self._n_observations())
        icl = getattr(self, "icl_", None)
        crit["icl"] = float("nan") if icl is None else float(icl)
        return crit

    def classification_diagnostics(self) -> dict:
        """How well the fit separates the training observations into components.

        Returns
        -------
        dict
            ``entropy`` ``E = -sum_o w_o sum_k r_ok log r_ok``; ``relative_entropy``
            ``1 - E / (n log K)`` (Mplus's "entropy"; NaN for K = 1);
            ``average_posterior`` (K,), the mean posterior probability of each
            component over the observations assigned to it (AvePP); ``classification``,
            a K x K data frame whose row c holds the mean posterior probabilities of
            the observations whose most probable component is c. See
            :mod:`regmix.inference.diagnostics`.
        """
        check_is_fitted(self)
        state = self.state_
        if state.entropy is None or state.classification is None:
            raise ValueError("the model does not hold its classification sums (a model file "
                             "written before they were recorded); refit it")
        out = classification_diagnostics(ClassificationSums(
            state.entropy, state.classification, self._n_observations()))
        labels = range(1, self.n_components + 1)
        out["classification"] = pd.DataFrame(
            out["classification"], index=pd.Index(labels, name="assigned"),
            columns=pd.Index(labels, name="component"))
        return out

    def _diagnostics_header(self) -> dict[str, object]:
        """The summary's lines of the further criteria and the classification."""
        if getattr(self, "n_samples_fit_", None) is None:
            return {}
        state = self.state_
        sums = (None if state.entropy is None or state.classification is None else
                ClassificationSums(state.entropy, state.classification,
                                   self._n_observations()))
        return summary_entries(self.log_likelihood_, self.n_parameters_,
                               self._n_observations(), sums)

    def bootstrap(self, X, y=None, *, n_boot: int = 200, kind: str = "nonparametric",
                  sample_weight=None, offset=None, trials=None, concomitant=None,
                  groups=None, random_state=None, alpha: float = 0.05,
                  refit: str = "reference",
                  ambiguity_threshold: float = AMBIGUITY_THRESHOLD,
                  include_ambiguous: bool = False):
        """Bootstrap standard errors and percentile intervals, labels matched.

        Works for every family, with concomitant variables, groups, constraints,
        offsets, binomial trials and row weights.

        Parameters
        ----------
        X, y :
            The training data, as given to :meth:`fit`.
        n_boot : int, default=200
            Replicates.
        kind : {"nonparametric", "parametric"}, default="nonparametric"
            Resample rows with replacement (with groups: whole groups), or simulate
            responses from this fit at the same rows (one component per group).
        sample_weight : array-like, optional
            Row weights, carried along with the rows.
        offset, trials, concomitant, groups : optional
            As given to :meth:`fit`; carried along with the rows.
        random_state : int or None
            Seed; the same seed gives the same replicates.
        alpha : float, default=0.05
            The percentile intervals have coverage ``1 - alpha``.
        refit : {"reference", "full"}, default="reference"
            Start every replicate's EM from this fit's parameters (fast, as flexmix's
            ``boot`` does by default) or refit each replicate with all of this model's
            starts.
        ambiguity_threshold : float, default=0.2
            A replicate whose label-matching margin (``1 - best / second`` of the
            matching costs of its best and second-best assignment of components to
            this fit's; see :func:`regmix.inference.bootstrap.bootstrap`) is below
            this is flagged ambiguous.
        include_ambiguous : bool, default=False
            Whether the standard errors and intervals use the ambiguous replicates
            too; by default they are left out.

        Returns
        -------
        regmix.inference.bootstrap.BootstrapResult
            ``replicates``, ``std_err``, ``ci`` and ``table()``, indexed like
            :meth:`coef_table`; ``n_failed`` replicates whose fit failed are dropped;
            ``matching_margin`` and ``ambiguous`` per replicate.

        Warns
        -----
        UserWarning
            If any replicate's label matching is ambiguous (how many of how many).
        """

        check_is_fitted(self)
        self._refuse_known_labels("the bootstrap")
        if refit not in ("reference", "full"):
            raise ValueError(f"refit must be 'reference' or 'full'; got {refit!r}")
        rows = self._eval_rows(X, y, sample_weight, offset, trials, concomitant=concomitant,
                               groups=groups)
        grouped = getattr(self, "n_groups_", None) is not None
        if grouped != (rows.groups is not None):
            raise ValueError("the model was fitted with groups: pass groups= for these rows"
                             if grouped else "the model was fitted without groups; do not "
                             "pass groups")
        template = clone(self).set_params(warm_start=False, verbose=0, progress=False,
                                          compute_se=False, formula=None)
        if refit == "reference":
            # (a parameter a component's family lacks is NaN: any value stands in)
            start = {"weights": self.weights_, "coef": np.nan_to_num(self.coef_)}
            for j, name in enumerate(self.family_.extra_names):
                start[name] = np.nan_to_num(self.state_.extra[:, j], nan=1.0)
            if self.fit_intercept:
                start["intercept"] = np.nan_to_num(self.intercept_)
            template.set_params(init=start, n_init=1)
        names = self._feature_labels(self.n_features_in_)  # the design's columns
        gating_names = getattr(self, "_gating_names", None)

        def fit_fn(Xb, yb, wb, offset=None, trials=None, concomitant=None, groups=None):
            Zb = None if concomitant is None else pd.DataFrame(concomitant,
                                                               columns=gating_names)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return clone(template).fit(pd.DataFrame(Xb, columns=names), yb,
                                           sample_weight=wb, offset=offset, trials=trials,
                                           concomitant=Zb, groups=groups)

        response = rows.y
        if rows.limits is not None:  # a censored response: its limits travel with the rows
            response = self.family_.user_response(rows.y, rows.limits)
        # limits per row: the parametric replicates are censored at the rows' own
        limits = ((rows.limits, response.shape[1])
                  if rows.limits is not None and response.ndim == 2 else None)

        def sample_fn(Xb, rng, offset=None, trials=None, concomitant=None, groups=None):
            return self._simulate_rows(Xb, rng, offset, trials, concomitant, groups,
                                       limits=limits)

        extras = {"offset": rows.offset, "trials": rows.trials, "concomitant": rows.Z}
        return bootstrap(fit_fn, rows.X, response, rows.w, n_boot=n_boot, kind=kind,
                         random_state=random_state, sample_fn=sample_fn, alpha=alpha,
                         reference=self, rows=extras, groups=rows.groups,
                         index=self._parameter_index(),
                         ambiguity_threshold=ambiguity_threshold,
                         include_ambiguous=include_ambiguous)

    def _simulate_rows(self, X, rng, offset=None, trials=None, Z=None, groups=None,
                       limits=None):
        """Responses drawn from the fit at validated rows (sorted by group), with the
        rows' prior probabilities (the gating's ``pi_k(z)``) and one component per group
        for grouped rows, censored at the rows' ``limits`` (see
        ``_simulate_response``)."""
        source = ArrayData(X, None, None, fit_intercept=self.fit_intercept,
                           standardize=False, offset=offset, trials=trials, Z=Z,
                           groups=groups)
        chunk = source.chunk(0, source.n_rows)
        pi = None
        if Z is not None:
            log_pi = self._mixing().log_weights(self._user_params(), chunk)
            pi = np.exp(np.broadcast_to(log_pi, (self.n_components, X.shape[0]))).T
        y, _ = self._simulate_response(np.asarray(X, dtype=np.float64), rng, offset, trials,
                                       pi, chunk.group_starts, limits)
        return y

    def summary(self, alpha: float = 0.05, cov_type: str = "oim", *, X=None, y=None,
                clusters=None, **data):
        """A statsmodels-style report: fit statistics, then the coefficient table.

        Parameters
        ----------
        alpha : float, default=0.05
            The intervals have coverage ``1 - alpha``.
        cov_type, X, y, clusters, **data :
            The standard errors, as for :meth:`coef_table`; the note under the table
            names the method and its small-sample factor.

        Returns
        -------
        regmix.inference.summary.Summary
            Prints as text; ``as_html()`` (shown in notebooks) and ``as_latex()``.
        """

        check_is_fitted(self)
        header = summary_header(
            self, n_rows=self.n_samples_fit_,
            sum_weights=(None if self.sum_weights_ == self.n_samples_fit_
                         else self.sum_weights_),
            n_groups=getattr(self, "n_groups_", None), log_likelihood=self.log_likelihood_,
            aic=self.aic_, bic=self.bic_, icl=self.icl_, sizes=self.component_sizes_,
            counts=self.component_counts_)
        header.update(self._diagnostics_header())
        table = self.coef_table(alpha, cov_type, X=X, y=y, clusters=clusters, **data)
        notes = summary_notes(table, self.n_samples_fit_, getattr(self, "n_groups_", None))
        notes += [entry.note() for entry in self.state_.boundary]
        return Summary(header, table, title=summary_title(self.family_), notes=notes)
