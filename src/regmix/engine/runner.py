"""The pass runner: binds a row source, a family and a mixing model into the passes EM
needs (``evaluate`` and ``given``), on the numpy pass or the compiled kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from regmix.compiled.gaussian_kernel import GaussianSums
from regmix.compiled.glm_kernel import START_LINKS, glm_e_step, glm_log_constant
from regmix.compiled.helpers import available, taking_turns
from regmix.core.chunk import Chunk
from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.engine.kernel import (
    add_kernel_rows,
    compiled_pass_applies,
    has_concomitant,
    kernel_family,
    kernel_threads,
)
from regmix.engine.passes import (
    ClassificationSums,
    classification_chunk,
    classification_total,
    e_step_chunk,
    given_chunk,
    overlap_chunk,
    run_pass,
)


class MembershipArray:
    """Given memberships of every row as one (n, K) array, as a responsibility function.

    Called with a chunk it returns that chunk's rows divided by their sums, transposed to
    (K, rows); :meth:`as_array` hands the whole array to the compiled kernel instead,
    which divides on the fly. The array is only read.
    """

    def __init__(self, memberships: np.ndarray) -> None:
        self.memberships = memberships

    def __call__(self, chunk: Chunk) -> np.ndarray:
        R = self.memberships[chunk.start : chunk.stop]
        return (R / R.sum(axis=1, keepdims=True)).T

    def as_array(self, n_rows: int) -> np.ndarray:
        """The (n, K) memberships of all rows (rows not normalised)."""
        return self.memberships


@dataclass(frozen=True)
class GaussianBlockPass:
    """The compiled Gaussian (or Student-t) E-step pass at given parameters, as a
    function of rows in memory: what :class:`PassRunner` adds the rows of a source to,
    and what a Dask worker runs on one partition (it pickles with the parameters)."""

    x_loc: np.ndarray
    x_inv: np.ndarray
    y_loc: float
    y_inv: float
    fit_intercept: bool
    coef: np.ndarray
    sigma: np.ndarray
    log_weights: np.ndarray
    df: np.ndarray | None  # Student-t components' degrees of freedom
    df_free: bool  # whether the df are estimated (their sums are kept)
    gating: dict  # multinomial-logit weights (see gating_arguments), or empty
    classify: bool = False  # the classification sums instead (see PassRunner)
    grouped: bool = False  # rows in groups that share one posterior (rows in memory)

    @classmethod
    def at(cls, params, source, mixing, student: bool, family, classify: bool = False,
           grouped: bool = False) -> GaussianBlockPass:
        """The pass at mixture ``params`` over the rows of ``source`` (its
        standardisation), with the log-weights of ``mixing``."""
        st, component = source.standardization, params.component
        gating, log_w = gating_arguments(params, source, mixing)
        return cls(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale,
                   source.fit_intercept, component.coef,
                   component.extra[:, 0] if student else component.sigma, log_w,
                   component.extra[:, 1] if student else None,
                   student and family.df is None, gating, classify, grouped)

    def sums(self, n_threads: int) -> GaussianSums:
        """Empty sums of this pass, to which batches of rows are added."""
        return GaussianSums(self.x_loc, self.x_inv, self.y_loc, self.y_inv,
                            self.fit_intercept, self.coef, self.sigma, self.log_weights,
                            n_threads=n_threads, df=self.df, classify=self.classify,
                            grouped=self.grouped, **self.gating)

    def result(self, sums: GaussianSums) -> PassResult | tuple:
        """The :class:`PassResult` of the rows added to ``sums`` (with ``classify``:
        their classification sums and sizes, see :meth:`PassRunner.classification`)."""
        loglik, resp_sum, A, b, c, *rest = sums.result()
        mix_sum = rest.pop() if self.grouped else resp_sum  # (per group for groups)
        if self.classify:
            return rest[-1], mix_sum
        student = self.df is not None
        mix_stats = (mix_sum, *rest[int(student)]) if self.gating else (mix_sum,)
        if not student:
            return PassResult(loglik, resp_sum, (A, b, c), mix_stats)
        gh = rest[0] if self.df_free else np.zeros_like(rest[0])
        return PassResult(loglik, resp_sum, (A, b, c, gh), mix_stats)

    def __call__(self, X, y, w, _unused=None, *, concomitant=None) -> PassResult:
        """The pass over the rows ``X, y, w`` of one partition (with gating, and their
        ``concomitant`` variables), on one thread."""
        sums = self.sums(1)
        Z = () if concomitant is None else (concomitant,)
        with taking_turns():
            sums.add(_readable(X), y, w, None, *Z, last=True)
        result = self.result(sums)
        assert isinstance(result, PassResult)  # (partitions take no classification)
        return result


@dataclass(frozen=True)
class GLMBlockPass:
    """The compiled GLM E-step pass at given parameters, as a function of rows in
    memory (see :class:`GaussianBlockPass`)."""

    x_loc: np.ndarray
    x_inv: np.ndarray
    y_inv: float
    fit_intercept: bool
    coef: np.ndarray
    log_weights: np.ndarray
    family: str
    link: str
    extra: np.ndarray | None
    gating: dict  # multinomial-logit weights (see gating_arguments), or empty

    @classmethod
    def at(cls, params, source, mixing, family) -> GLMBlockPass:
        """The pass at mixture ``params`` over the rows of ``source``."""
        st, component = source.standardization, params.component
        extra = component.extra
        gating, log_w = gating_arguments(params, source, mixing)
        return cls(st.x_loc, 1.0 / st.x_scale, 1.0 / st.y_scale, source.fit_intercept,
                   component.coef, log_w, family.name, family.link_name,
                   extra[:, 0] if extra.shape[1] else None, gating)

    def log_constant(self, X, y, w) -> float:
        """:func:`~regmix.compiled.glm_kernel.glm_log_constant` of one partition's rows
        (NaN where numba does not import: that partition takes the numpy pass)."""
        if not available():
            return float("nan")
        with taking_turns():
            return glm_log_constant(y, w, None, self.family, n_threads=1)

    def __call__(self, X, y, w, log_constant=None, *, offset=None, trials=None,
                 responsibilities=None, n_threads: int = 1, concomitant=None,
                 classify: bool = False, group_starts=None) -> PassResult | tuple:
        """The pass over the rows ``X, y, w`` (by default of one partition, on one
        thread); ``log_constant`` is theirs, computed here when None or NaN. With
        gating, ``concomitant`` holds the rows' concomitant variables; with
        ``classify``, their classification sums and sizes instead (see
        :meth:`PassRunner.classification`); for grouped rows, ``group_starts`` the
        first row of each group."""
        if log_constant is not None and np.isnan(log_constant):
            log_constant = None
        with taking_turns():
            loglik, resp_sum, A, b, extra_stats, *rest = glm_e_step(
                _readable(X), y, w, offset, trials, self.x_loc, self.x_inv, self.y_inv,
                self.fit_intercept, self.coef, self.log_weights, self.family, self.link,
                n_threads=n_threads, log_constant=log_constant,
                responsibilities=responsibilities, extra=self.extra, classify=classify,
                concomitant=concomitant, group_starts=group_starts, **self.gating)
        mix_sum = rest.pop() if group_starts is not None else resp_sum  # (per group)
        if classify:
            return rest[-1], mix_sum
        mix_stats = (mix_sum, *rest[0]) if self.gating else (mix_sum,)
        return PassResult(loglik, resp_sum, (A, b, extra_stats), mix_stats)


def gating_arguments(params, source, mixing) -> tuple[dict, np.ndarray]:
    """The compiled kernels' gating arguments besides the concomitant variables (none
    for constant weights: a source has concomitant variables only when the weights are
    gated, see :func:`~regmix.engine.kernel.compiled_pass_applies`) and the log weights
    they take instead (zero with gating)."""
    if not has_concomitant(source):
        return {}, mixing.log_weights(params)[:, 0]
    st = source.standardization
    return (dict(z_loc=st.z_loc, z_inv=1.0 / st.z_scale, gating=params.gating),
            np.zeros(params.weights.shape[0]))


def _readable(X: np.ndarray) -> np.ndarray:
    """``X`` as the kernels read it: itself when C- or F-contiguous float64 (a
    partition's rows usually are), else a contiguous copy."""
    if X.dtype == np.float64 and (X.flags.c_contiguous or X.flags.f_contiguous):
        return X
    return np.ascontiguousarray(X, dtype=np.float64)


class PassRunner:
    """Binds a row source, a family and a mixing model into the two passes EM needs.

    ``evaluate(params)`` is an E-step pass and ``given(resp_fn)`` a pass with supplied
    responsibilities; ``n_passes`` counts both. The EM driver receives these bound
    methods and never sees the rows.
    """

    def __init__(self, source, family, mixing, *, chunk_size: int, n_jobs: int,
                 engine: str = "numpy") -> None:
        self.source, self.family, self.mixing = source, family, mixing
        self.chunk_size, self.n_jobs = chunk_size, n_jobs
        self.n_passes = 0
        self.engine = engine
        if engine == "numba" and not compiled_pass_applies(source, family, mixing):
            self.engine = "numpy"
        # which compiled kernel runs the E-step passes: "gaussian", "glm" or None
        self.kernel = kernel_family(family) if self.engine == "numba" else None
        # of the GLM kernel: the rows' own part (one per partition of a Dask source)
        self._log_constant: float | list | None = None

    def _compiled_evaluate(self, params, memberships=None, classify: bool = False):
        """The E-step pass by the fused compiled kernel (same sums as the numpy pass):
        on the rows in memory, batch by batch on rows streamed by a background
        reader (the same blocks, so the same bits as the rows in memory), or partition
        by partition where the rows of a Dask source live. With ``classify`` (rows not
        on Dask), the :class:`~regmix.engine.passes.ClassificationSums` of the same
        pass instead."""
        block_pass = GaussianBlockPass.at(params, self.source, self.mixing,
                                          self.kernel == "student_t", self.family,
                                          classify, self._grouped(memberships))
        if self._partitioned:
            return self._on_partitions(params, block_pass)
        sums = block_pass.sums(kernel_threads(self.source, self.n_jobs))
        add_kernel_rows(self.source, sums, chunk_size=self.chunk_size,
                        memberships=memberships)
        result = block_pass.result(sums)
        return self._classes(*result) if isinstance(result, tuple) else result

    def _compiled_glm_evaluate(self, params, memberships=None, classify: bool = False):
        """The E-step pass by the fused compiled GLM kernel (the numpy pass's sums, to
        round-off) on the rows in memory or on each partition of a Dask source, the
        statistics of the extras (Gamma shape, negative-binomial size) included. The
        part of the log-likelihood that depends on the rows alone is summed at the
        first pass and kept (per partition for a Dask source). With ``classify`` (rows
        not on Dask), the :class:`~regmix.engine.passes.ClassificationSums` of the same
        pass instead."""
        src = self.source
        block_pass = GLMBlockPass.at(params, src, self.mixing, self.family)
        if self._partitioned:
            if self._log_constant is None:
                self._log_constant = src.per_block(block_pass.log_constant)
            return self._on_partitions(params, block_pass, self._log_constant)
        X, y, w = src.arrays()
        threads = kernel_threads(src, self.n_jobs)
        if self._log_constant is None:
            self._log_constant = glm_log_constant(y, w, src.trials, self.family.name,
                                                  n_threads=threads)
        result = block_pass(X, y, w, self._log_constant, offset=src.offset,
                            trials=src.trials, responsibilities=memberships,
                            n_threads=threads, concomitant=getattr(src, "Z", None),
                            classify=classify,
                            group_starts=src.group_starts if self._grouped(memberships)
                            else None)
        return self._classes(*result) if isinstance(result, tuple) else result

    def _grouped(self, memberships) -> bool:
        """Whether a compiled pass takes the rows in their groups, each sharing one
        posterior: grouped rows in memory, unless given ``memberships`` of every row
        (which the numpy pass takes row by row too)."""
        return memberships is None and getattr(self.source, "groups", None) is not None

    def _classes(self, sums: tuple, sizes: np.ndarray) -> ClassificationSums:
        """The :class:`~regmix.engine.passes.ClassificationSums` of a compiled pass's
        ``(counts, table, entropy, top)`` and sizes (``N_k``, or for grouped rows the
        groups' summed posteriors: the observations are the groups, of weight one)."""
        counts, table, entropy, top = sums
        n = self.source.n_groups if self._grouped(None) else self.source.total_weight
        return ClassificationSums(entropy, table, float(n), top, counts, sizes)

    @property
    def _partitioned(self) -> bool:
        """Whether the rows are partitions on a Dask cluster (``map_reduce``)."""
        return hasattr(self.source, "map_reduce")

    def _on_partitions(self, params, block_pass, block_args=None) -> PassResult:
        """The compiled pass ``block_pass`` on every partition of a Dask source where
        numba imports on the worker, the numpy pass on the others, summed as the
        numpy pass's partitions are."""
        family, mixing = self.family, self.mixing
        return self.source.map_reduce(lambda ch: e_step_chunk(ch, family, mixing, params),
                                      self.chunk_size, block_fn=block_pass,
                                      block_args=block_args)

    @property
    def total_weight(self) -> float:
        return self.source.total_weight

    def evaluate(self, params) -> PassResult:
        """E-step pass at mixture parameters ``params``."""
        self.n_passes += 1
        if self.kernel in ("gaussian", "student_t") and params.component.coef is not None:
            result = self._compiled_evaluate(params)
        elif self.kernel == "glm" and params.component.coef is not None:
            # (a first step without coefficients starts from the data: the numpy pass)
            result = self._compiled_glm_evaluate(params)
        else:
            family, mixing = self.family, self.mixing
            result = run_pass(self.source,
                              lambda ch: e_step_chunk(ch, family, mixing, params),
                              chunk_size=self.chunk_size, n_jobs=self.n_jobs)
        return result

    def given(self, resp_fn: Callable, n_components: int, params=None) -> PassResult:
        """Statistics pass for responsibilities ``resp_fn(chunk)`` of shape (K, n), taken
        at mixture parameters ``params`` (by default :meth:`start_params`).
        Memberships that can be had for all rows at once (an ``as_array(n_rows)``
        method, as :class:`MembershipArray` and the initialisation's row-hash
        memberships have) go through the compiled kernel where it runs the E-steps."""
        self.n_passes += 1
        if params is None:
            params = self.start_params(n_components)
        if (self.kernel in ("gaussian", "student_t") and hasattr(resp_fn, "as_array")
                and hasattr(self.source, "arrays") and params.component.coef is not None):
            return self._compiled_evaluate(params, resp_fn.as_array(self.source.n_rows))
        if (self.kernel == "glm" and hasattr(resp_fn, "as_array") and not self._partitioned
                and (params.component.coef is not None
                     or self.family.link_name in START_LINKS)):
            return self._compiled_glm_evaluate(params, resp_fn.as_array(self.source.n_rows))
        family, mixing = self.family, self.mixing
        return run_pass(self.source, lambda ch: given_chunk(ch, family, mixing, params, resp_fn),
                        chunk_size=self.chunk_size, n_jobs=self.n_jobs)

    def start_params(self, n_components: int):
        """Equal weights, zero gating and the family's reference point."""

        weights, gating = self.mixing.start(n_components, getattr(self.source, "n_gating", 1))
        return MixtureParams(weights, self.family.zero_params(n_components,
                                                              self.source.n_design), gating)

    def overlap(self, params) -> tuple[np.ndarray, np.ndarray]:
        """The (K, K) membership overlaps at ``params`` and the mean of each design
        column (see :func:`regmix.engine.passes.overlap_chunk`), by one pass."""
        self.n_passes += 1
        family, mixing = self.family, self.mixing
        res = run_pass(self.source, lambda ch: overlap_chunk(ch, family, mixing, params),
                       chunk_size=self.chunk_size, n_jobs=self.n_jobs)
        return res.stats[0], res.stats[1] / max(float(res.resp_sum[0]), 1e-300)

    def classification(self, params) -> ClassificationSums:
        """Classification summaries at ``params`` (see
        :class:`~regmix.engine.passes.ClassificationSums`), by one pass."""
        self.n_passes += 1
        if self.kernel is not None and not self._partitioned:  # (numpy on Dask)
            if self.kernel == "glm":
                return self._compiled_glm_evaluate(params, classify=True)
            return self._compiled_evaluate(params, classify=True)
        family, mixing = self.family, self.mixing
        return classification_total(run_pass(
            self.source, lambda ch: classification_chunk(ch, family, mixing, params),
            chunk_size=self.chunk_size, n_jobs=self.n_jobs))
