"""Where the compiled kernels apply, and how rows reach them.

:func:`compiled_pass_applies` is the one rule for whether a pass (E-step or information) may run a
compiled kernel, and :func:`kernel_family` says which one; :func:`add_kernel_rows` feeds the
Gaussian kernel the rows of a source in memory or streamed.
"""

from __future__ import annotations

import numpy as np

from regmix.compiled.glm_kernel import KERNEL_LINKS
from regmix.compiled.helpers import available
from regmix.engine.threads import read_ahead
from regmix.families.binomial import Binomial
from regmix.families.gamma import GammaFamily
from regmix.families.gaussian import Gaussian
from regmix.families.links import LINKS
from regmix.families.negative_binomial import NegativeBinomial
from regmix.families.poisson import Poisson
from regmix.families.student_t import StudentT
from regmix.mixing.constant import ConstantWeights
from regmix.mixing.gating import MultinomialLogitGating

# Rows per batch of a streamed compiled pass (at least): large enough that reading and
# the kernel's per-call set-up are cheap per row, small enough that what pyarrow's
# scanner holds ahead stays small (with pyarrow decoding on its own threads it grew with
# the batch size: a peak RSS of about 730 MiB over 1e8 rows at 65,536 rows per batch,
# 1.7 GiB at 262,144; decoding on the reader's thread, about 490 MiB at either).
STREAM_BATCH_ROWS = 1 << 16


# The GLM families the compiled GLM pass covers, each with the links it covers
# (glm_kernel.KERNEL_LINKS). Only these classes themselves: a subclass, or any other
# family object, is not the kernel's.
GLM_KERNEL_LINKS: dict[type, tuple[str, ...]] = {
    cls: KERNEL_LINKS[cls.name] for cls in (Poisson, Binomial, GammaFamily, NegativeBinomial)
}


def kernel_family(family) -> str | None:
    """Which compiled E-step kernel computes the passes of ``family``: ``"gaussian"``
    (:class:`~regmix.families.gaussian.Gaussian`), ``"student_t"``
    (:class:`~regmix.families.student_t.StudentT`, on the Gaussian kernel's rows),
    ``"glm"`` (Poisson, binomial, Gamma
    or negative-binomial components with a link of :data:`GLM_KERNEL_LINKS`), or None
    for every other family object (including subclasses, composite families and the
    families whose groups' densities are not sums of row densities, such as
    :class:`~regmix.families.mixed_gaussian.MixedGaussian`), which take the numpy
    pass."""
    cls = type(family)
    if hasattr(family, "group_log_density"):
        return None
    if cls is Gaussian:
        return "gaussian"
    if cls is StudentT:
        return "student_t"
    links = GLM_KERNEL_LINKS.get(cls)
    if links is None:
        return None
    name = getattr(family, "link_name", None)
    if name not in links or type(getattr(family, "link", None)) is not LINKS[name]:
        return None
    return "glm"


# What rows may carry that no compiled kernel reads: known labels' masks (the Gaussian
# kernel reads no offsets either; concomitant variables are read for gated weights, and
# groups (their group_starts), from rows in memory: see _readable_concomitant).
_UNREAD = ("allowed",)


def has_concomitant(source) -> bool:
    """Whether the rows of ``source`` carry concomitant variables: as an array ``Z``
    (rows in memory) or as columns (``n_gating`` above one: a file or a Dask source)."""
    return getattr(source, "Z", None) is not None or getattr(source, "n_gating", 1) > 1


def kernel_reads(rows, family) -> bool:
    """Whether the compiled kernel of ``family``'s components (:func:`kernel_family`)
    reads rows like ``rows`` (a source, or the estimator's validated rows): nothing that
    no kernel reads (groups, known labels), and for the Gaussian kernel (Gaussian and
    Student-t components) no offset. The layout of the arrays is not judged here."""
    kind = kernel_family(family)
    if kind is None or any(getattr(rows, a, None) is not None for a in _UNREAD):
        return False
    return kind == "glm" or getattr(rows, "offset", None) is None


def _readable_concomitant(source) -> bool:
    """Whether the concomitant variables of rows in memory, if any, are what the kernels
    read in place: C- or F-contiguous float64."""
    Z = getattr(source, "Z", None)
    return Z is None or (Z.dtype == np.float64 and (Z.flags.c_contiguous
                                                    or Z.flags.f_contiguous))


def glm_kernel_rows(source) -> bool:
    """Whether the compiled GLM pass can read the rows of ``source``: rows without known
    labels (offsets, trials, concomitant variables and groups are fine), in memory as
    contiguous float64 arrays, and numba importable; or the whole blocks of a Dask
    source (``map_reduce``, :attr:`~regmix.sources.dask.DaskData.block_rows`), whose
    workers each take the numpy pass instead where numba does not import there."""
    if hasattr(source, "map_reduce"):  # partitions on Dask: numba where they live
        return bool(source.block_rows)
    if not hasattr(source, "arrays"):
        return False
    if any(getattr(source, a, None) is not None for a in _UNREAD):
        return False
    X, y, w = source.arrays()
    vectors = [y, w, getattr(source, "offset", None), getattr(source, "trials", None)]
    ok = X.dtype == np.float64 and (X.flags.c_contiguous or X.flags.f_contiguous)
    ok = ok and _readable_concomitant(source) and y is not None
    return bool(ok and all(v is None or v.flags.c_contiguous for v in vectors) and available())


def kernel_rows(source) -> bool:
    """Whether the compiled kernels can read the rows of ``source``: rows without offset
    or known labels, numba importable, and the rows either in memory as contiguous
    float64 arrays (concomitant variables and groups too) or streamed in batches
    (``row_batches``, as :class:`~regmix.parquet.ParquetData` offers, concomitant
    variables with the rows; no groups); or the whole blocks of a Dask source
    (``map_reduce``, concomitant variables beside the features, no groups; numba is then
    checked on each worker)."""

    if hasattr(source, "row_batches"):
        return bool(source.batch_rows and available())
    if hasattr(source, "map_reduce"):  # partitions on Dask: numba where they live
        return bool(source.block_rows)
    if not hasattr(source, "arrays"):
        return False
    if not all(getattr(source, a, None) is None for a in ("offset", *_UNREAD)):
        return False
    if not _readable_concomitant(source):
        return False
    X, y, w = source.arrays()
    ok = (X.flags.c_contiguous or X.flags.f_contiguous) and y is not None and y.flags.c_contiguous
    ok = ok and (w is None or w.flags.c_contiguous)
    return bool(ok and available())


def compiled_pass_applies(source, family, mixing=None, *, constrained: bool | None = None,
                          weights=None, user_units: bool = False,
                          information: bool = False) -> bool:
    """The one rule for whether a compiled kernel can run a pass: a family the kernels
    know (:func:`kernel_family`) without constraints, constant weights (or, for the
    E-step, multinomial-logit gating), and rows the kernel can read
    (:func:`kernel_rows` for Gaussian components, :func:`glm_kernel_rows` for the GLM
    families). Grouped rows take the E-step kernels, whose posteriors are per group,
    but not the information's.

    Parameters
    ----------
    source : row source or None
        The rows of the pass; None when they are not built yet (the estimator's set-up,
        which checks :func:`kernel_reads` of its validated rows itself): only the model
        is judged then.
    family : object
        The component family.
    mixing : mixing model, optional
        Must be :class:`~regmix.mixing.constant.ConstantWeights` when given, or for the
        E-step :class:`~regmix.mixing.gating.MultinomialLogitGating`.
    constrained : bool, optional
        Whether coefficient constraints apply; None reads ``family.constraints``.
    weights : array-like, optional
        Mixing proportions the kernel takes as given: all must be positive (the
        information kernel works with their logarithms).
    user_units : bool, default=False
        Also require the source's rows in user units (no standardisation), as the
        information kernel does.
    information : bool, default=False
        Whether the pass is the observed information's, which has a compiled kernel for
        Gaussian and GLM components (not Student-t) with constant weights, on rows in
        memory (the GLM families' with offsets and trials) or streamed plain rows.
    """
    kind = kernel_family(family)
    if kind is None or (information and kind == "student_t"):
        return False
    if constrained is None:
        constrained = getattr(family, "constraints", None) is not None
    if constrained and information:
        return False
    gated = type(mixing) is MultinomialLogitGating
    if mixing is not None and not (isinstance(mixing, ConstantWeights)
                                   or (gated and not information)):
        return False
    if weights is not None and not np.all(np.asarray(weights) > 0):
        return False
    if source is None:
        return True
    if has_concomitant(source) != gated:
        return False  # concomitant variables are read for gated weights only
    if information and (hasattr(source, "map_reduce")
                        or getattr(source, "groups", None) is not None):
        return False  # the compiled information takes ungrouped rows in memory or streamed
    if user_units:
        st = source.standardization
        if (np.any(st.x_loc) or np.any(st.x_scale != 1.0) or st.y_loc != 0.0
                or st.y_scale != 1.0):
            return False
    if kind != "glm" or (information and hasattr(source, "row_batches")):
        return kernel_rows(source)  # (streamed: plain rows, without offsets or trials)
    return glm_kernel_rows(source)


def kernel_threads(source, n_jobs: int) -> int:
    """Threads for a compiled kernel over ``source``: ``n_jobs``, or one fewer for
    streamed rows, whose reader keeps a core busy decoding the next batches."""
    return n_jobs if hasattr(source, "arrays") else max(1, n_jobs - 1)


def add_kernel_rows(source, sums, *, chunk_size: int, memberships=None) -> None:
    """Add every row of ``source`` (see :func:`kernel_rows`) to the compiled ``sums``
    (a :class:`~regmix.compiled.gaussian_kernel.GaussianSums` or
    :class:`~regmix.compiled.information_kernel.InformationSums`).

    Rows in memory go in one batch, with the given ``memberships`` if any (and their
    offsets and trials, which only the GLM information takes: the rule of
    :func:`compiled_pass_applies` gives other sums no rows that have them; and their
    group starts for sums over grouped rows). Streamed
    rows are read ahead in a background thread; their values were checked when the
    source was created, so the batches are not checked again: a file that changed
    since shows as a different number of rows or as non-finite sums, and then the
    checks run again to name the row.
    """
    if hasattr(source, "arrays"):
        Z = getattr(source, "Z", None)  # (concomitant variables: sums with gating)
        vectors = {a: v for a in ("offset", "trials")
                   if (v := getattr(source, a, None)) is not None}
        if sums.grouped:
            vectors["group_starts"] = source.group_starts
        sums.add(*source.arrays(), memberships, *(() if Z is None else (Z,)), **vectors,
                 last=True)
        return
    if memberships is not None:
        raise ValueError("given memberships of every row need the rows in memory")
    size = max(chunk_size, STREAM_BATCH_ROWS)
    for _, X, y, w, Z in read_ahead(source.row_batches(size, validate=False)):
        sums.add(X, y, w, None, *(() if Z is None else (Z,)))
    if sums.n_rows != source.n_rows:
        raise ValueError(f"{source.path!s} has changed since the source was created: "
                         f"{sums.n_rows} rows read, {source.n_rows} expected")
    if not np.isfinite(sums.totals()).all():
        for _ in source.row_batches(size):  # raises, naming the column and row
            pass
