"""The subjects' predicted random effects of a latent-class mixed model and the
predictions conditional on them, for :class:`~regmix.RegressionMixture`."""

from __future__ import annotations

import numpy as np

from regmix.core.chunk import group_starts
from regmix.engine.passes import chunk_posteriors


class RandomEffectsMixin:
    """:meth:`random_effects` and the conditional predictions of a model whose family
    has random effects (:class:`regmix.families.mixed_gaussian.MixedGaussian`)."""

    def _subject_effects(self, X, y, groups, offset=None):
        """``(rows, resp, effects)`` of the subjects of ``X``: the validated rows (sorted
        by group), each subject's posterior probabilities (G, K) and its conditional
        means of the random effects given each class (K, G, q), in user units."""
        family = self.family_
        if getattr(family, "random_effects", None) is None:
            raise ValueError(f"a {family.label} family has no random effects")
        if groups is None:  # the column of the formula's "(terms | group)", if any
            groups = self._random_term()[1]
        if groups is None:
            raise ValueError("random effects are predicted per subject: pass groups=")
        if y is None and self.formula is None:
            raise ValueError("random effects are predicted from the subjects' responses: pass y")
        rows = self._eval_rows(X, y, None, offset, None, groups=groups)
        source = self._eval_source(rows)
        params, mixing = self._user_params(), self._mixing()
        resp, effects = [], []
        for start, stop in source.ranges(int(self.chunk_size)):
            chunk = source.chunk(start, stop)
            group_resp = chunk_posteriors(chunk, family, mixing, params)[3]
            resp.append(group_resp.T)
            effects.append(family.random_effects(params.component, chunk)[0])
        return rows, np.concatenate(resp), np.concatenate(effects, axis=1)

    def random_effects(
        self, X, y=None, *, groups, offset=None, by_class: bool = False
    ) -> np.ndarray:
        """The subjects' predicted random effects (BLUPs).

        Given class k, ``E[b_i | y_i, k] = D_k Z_i' V_ik^-1 (y_i - X_i beta_k)``; mixed
        over the classes by the subject's posterior probabilities,
        ``sum_k P(k | y_i) E[b_i | y_i, k]``.

        Parameters
        ----------
        X, y : array-like
            The subjects' rows (a data frame for a formula model, which may give ``y``).
        groups : array-like of shape (n_samples,) or str
            The subject of each row (or the name of a column of the data frame).
        offset : array-like of shape (n_samples,), optional
        by_class : bool, default=False
            Return the effects given each class instead of their posterior mixture.

        Returns
        -------
        ndarray of shape (n_groups, q), or (n_groups, K, q) with ``by_class``
            Subjects in the sorted order of their labels (``numpy.unique(groups)``),
            effects in the order of the family's random-effect columns.
        """
        _, resp, effects = self._subject_effects(X, y, groups, offset)
        if by_class:
            return np.ascontiguousarray(np.moveaxis(effects, 0, 1))
        return np.einsum("gk,kga->ga", resp, effects)

    def _conditional_predict(self, X, y, groups, offset=None) -> np.ndarray:
        """``sum_k P(k | y_i) (x' beta_k + z' E[b_i | y_i, k])`` per row, in the
        caller's order (see :meth:`predict`)."""
        rows, resp, effects = self._subject_effects(X, y, groups, offset)
        n = rows.X.shape[0]
        full = np.column_stack([np.ones(n), rows.X]) if self.fit_intercept else rows.X
        starts = group_starts(rows.groups)
        sizes = np.diff(np.append(starts, n))
        coef = (
            np.column_stack([self.intercept_, self.coef_]) if self.fit_intercept else (self.coef_)
        )
        means = full @ coef.T  # (n, K)
        Z = full[:, list(self.family_.z_rows)]
        means += np.einsum("na,kna->nk", Z, np.repeat(effects, sizes, axis=1))
        if rows.offset is not None:
            means += rows.offset[:, None]
        pred = np.einsum("nk,nk->n", means, np.repeat(resp, sizes, axis=0))
        if rows.order is None:
            return pred
        out = np.empty_like(pred)
        out[rows.order] = pred
        return out
