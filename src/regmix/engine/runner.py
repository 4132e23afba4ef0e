"""The pass runner: binds a row source, a family and a mixing model into the passes EM
needs (``evaluate`` and ``given``), on the numpy pass or the compiled kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from regmix.compiled.gaussian_kernel import GaussianSums
from regmix.compiled.glm_kernel import START_LINKS, glm_e_step, glm_log_constant
from regmix.core.chunk import Chunk
from regmix.core.params import MixtureParams
from regmix.core.results import PassResult
from regmix.engine.kernel import (
    add_kernel_rows,
    compiled_pass_applies,
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
        self._log_constant: float | None = None  # of the GLM kernel: the rows' own part

    def _compiled_evaluate(self, params, memberships=None, classify: bool = False):
        """The E-step pass by the fused compiled kernel (same sums as the numpy pass):
        on the rows in memory, or batch by batch on rows streamed by a background
        reader (the same blocks, so the same bits as the rows in memory). With
        ``classify``, the :class:`~regmix.engine.passes.ClassificationSums` of the same
        pass instead."""

        st = self.source.standardization
        component = params.component
        student = self.kernel == "student_t"  # extra = (sigma, df) per component
        sigma = component.extra[:, 0] if student else component.sigma
        gating, log_w = self._gating(params)
        sums = GaussianSums(st.x_loc, 1.0 / st.x_scale, st.y_loc, 1.0 / st.y_scale,
                            self.source.fit_intercept, component.coef, sigma, log_w,
                            n_threads=kernel_threads(self.source, self.n_jobs),
                            df=component.extra[:, 1] if student else None,
                            classify=classify, **gating)
        add_kernel_rows(self.source, sums, chunk_size=self.chunk_size,
                        memberships=memberships)
        loglik, resp_sum, A, b, c, *rest = sums.result()
        if classify:
            return self._classes(rest[-1], resp_sum)
        mix_stats = (resp_sum,) if not gating else (resp_sum, *rest[int(student)])
        if not student:
            return PassResult(loglik, resp_sum, (A, b, c), mix_stats)
        gh = rest[0] if self.family.df is None else np.zeros_like(rest[0])
        return PassResult(loglik, resp_sum, (A, b, c, gh), mix_stats)

    def _gating(self, params) -> tuple[dict, np.ndarray]:
        """The compiled kernels' gating arguments besides the concomitant variables
        (none for constant weights: the source has concomitant variables only when the
        weights are gated, see :func:`~regmix.engine.kernel.compiled_pass_applies`) and
        the log weights they take instead (zero with gating)."""
        if getattr(self.source, "Z", None) is None:
            return {}, self.mixing.log_weights(params)[:, 0]
        st = self.source.standardization
        return (dict(z_loc=st.z_loc, z_inv=1.0 / st.z_scale, gating=params.gating),
                np.zeros(params.weights.shape[0]))

    def _compiled_glm_evaluate(self, params, memberships=None, classify: bool = False):
        """The E-step pass by the fused compiled GLM kernel (the numpy pass's sums, to
        round-off) on the rows in memory, the statistics of the extras (Gamma shape,
        negative-binomial size) included. The part of the log-likelihood that depends
        on the rows alone is summed at the first pass and kept. With ``classify``, the
        :class:`~regmix.engine.passes.ClassificationSums` of the same pass instead."""
        src, st = self.source, self.source.standardization
        X, y, w = src.arrays()
        threads = kernel_threads(src, self.n_jobs)
        if self._log_constant is None:
            self._log_constant = glm_log_constant(y, w, src.trials, self.family.name,
                                                  n_threads=threads)
        coef, extra = params.component.coef, params.component.extra
        gating, log_w = self._gating(params)
        loglik, resp_sum, A, b, extra_stats, *rest = glm_e_step(
            X, y, w, src.offset, src.trials, st.x_loc, 1.0 / st.x_scale, 1.0 / st.y_scale,
            src.fit_intercept, coef, log_w, self.family.name,
            self.family.link_name, n_threads=threads, log_constant=self._log_constant,
            responsibilities=memberships, extra=extra[:, 0] if extra.shape[1] else None,
            classify=classify, concomitant=getattr(src, "Z", None), **gating)
        if classify:
            return self._classes(rest[-1], resp_sum)
        mix_stats = (resp_sum,) if not gating else (resp_sum, *rest[0])
        return PassResult(loglik, resp_sum, (A, b, extra_stats), mix_stats)

    def _classes(self, sums: tuple, resp_sum: np.ndarray) -> ClassificationSums:
        """The :class:`~regmix.engine.passes.ClassificationSums` of a compiled pass's
        ``(counts, table, entropy, top)``."""
        counts, table, entropy, top = sums
        return ClassificationSums(entropy, table, float(self.source.total_weight), top,
                                  counts, resp_sum)

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
        if (self.kernel == "glm" and hasattr(resp_fn, "as_array")
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
        if self.kernel == "glm":
            return self._compiled_glm_evaluate(params, classify=True)
        if self.kernel in ("gaussian", "student_t"):
            return self._compiled_evaluate(params, classify=True)
        family, mixing = self.family, self.mixing
        return classification_total(run_pass(
            self.source, lambda ch: classification_chunk(ch, family, mixing, params),
            chunk_size=self.chunk_size, n_jobs=self.n_jobs))
