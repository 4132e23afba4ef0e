"""The contracts of the seams: row sources, families, mixing models and memberships.

Every layer above the bottom exchanges four kinds of objects through narrow seams. The
protocols below write those seams down: what the engine, the fitting loop and the
inference code call on each object, with the shapes and units of every argument and
result. The concrete classes of the package (:class:`~regmix.sources.arrays.ArrayData`,
:class:`~regmix.parquet.ParquetData`, :class:`~regmix.dask_source.DaskData`; the
families; :class:`~regmix.mixing.constant.ConstantWeights` and
:class:`~regmix.mixing.gating.MultinomialLogitGating`; the membership functions) are
checked against them by a static type checker, and :func:`regmix.families.registry.get_family`
refuses a user family that lacks a member of :class:`Family`.

Conventions shared by all of them:

* K is the number of components, n the number of rows of a chunk, ``n_design`` (p) the
  number of design columns (the intercept first when the model has one), q the number of
  gating design rows (an intercept and the concomitant variables), m the number of a
  family's extra parameters (``len(extra_names)``).
* Per-row quantities are laid out component-major, (K, n), and the design is transposed,
  ``XT`` of shape (p, n), so that every per-component operation runs over long
  contiguous rows (see :class:`~regmix.core.chunk.Chunk`).
* Everything inside EM is in internal units: the design standardised by the source's
  :class:`~regmix.core.chunk.Standardization`, and the response too for location-scale
  families. Only ``to_user`` / ``to_internal`` and ``sample`` touch user units.
* Statistics are tuples of arrays whose element-wise sum over chunks is the statistic of
  all rows (:class:`~regmix.core.results.PassResult` adds them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import numpy as np

from regmix.core.chunk import Chunk, Standardization
from regmix.core.params import MixtureParams

__all__ = [
    "ArrayMemberships",
    "ArraySource",
    "BatchSource",
    "ComponentParameters",
    "Constraints",
    "DistributedSource",
    "Family",
    "FAMILY_MEMBERS",
    "Memberships",
    "MixingModel",
    "RandomAccessSource",
    "RowSource",
    "StreamingSource",
    "protocol_members",
]

T = TypeVar("T")


# ---------------------------------------------------------------------------- row sources
class RowSource(Protocol):
    """What every row source offers, however its rows are stored.

    A source serves its rows as standardised :class:`~regmix.core.chunk.Chunk` objects
    through one of three access patterns, which :func:`regmix.engine.passes.run_pass`
    tries in this order: :class:`DistributedSource` (``map_reduce``, computed where the
    rows live), :class:`RandomAccessSource` (``blocks``/``ranges``/``chunk``) and
    :class:`StreamingSource` (``iter_chunks``, read in order). Whatever the pattern, the
    chunks' results are summed over the fixed reduction blocks in row order, so a pass is
    bit-identical for any chunk size and thread count.
    """

    @property
    def n_rows(self) -> int:
        """Number of rows n."""

    @property
    def n_features(self) -> int:
        """Number of feature columns (without the intercept)."""

    @property
    def n_design(self) -> int:
        """Number of design columns p: the features and, first, the intercept if any."""

    @property
    def n_gating(self) -> int:
        """Rows q of the gating design: 1 (the intercept) plus the concomitant
        variables."""

    @property
    def n_groups(self) -> int | None:
        """Number of groups whose rows share one membership, or None for ungrouped
        rows."""

    @property
    def total_weight(self) -> float:
        """Sum of the sample weights (the number of rows when unweighted)."""

    @property
    def fit_intercept(self) -> bool:
        """Whether the design has a leading column of ones."""

    @property
    def standardization(self) -> Standardization:
        """The map between user units and the internal units of every chunk."""

    def feature_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and standard deviation of each feature in user units, two
        arrays of shape (n_features,) (a constant feature has standard deviation 0)."""

    def subsample(self, size: int, seed: int) -> RandomAccessSource:
        """About ``size`` rows drawn by a per-row hash of ``seed`` (whole groups for
        grouped rows), held in memory, in the same internal units as this source."""


class RandomAccessSource(RowSource, Protocol):
    """A source that can hand out any row range (rows in memory)."""

    def blocks(self) -> list[tuple[int, int]]:
        """The fixed reduction blocks ``(start, stop)``: consecutive, covering every row
        once, :data:`~regmix.core.chunk.REDUCTION_BLOCK` rows from row 0 (for grouped
        rows: extended to group boundaries)."""

    def ranges(self, chunk_size: int) -> list[tuple[int, int]]:
        """Row ranges ``(start, stop)`` of about ``chunk_size`` rows covering every row
        once (for grouped rows: ending on group boundaries)."""

    def chunk(self, start: int, stop: int) -> Chunk:
        """The standardised chunk of rows ``start..stop-1`` (a fresh buffer: the
        source's arrays are never written to)."""


class ArraySource(RandomAccessSource, Protocol):
    """Rows in memory as numpy arrays, which the compiled kernel can read directly."""

    @property
    def offset(self) -> np.ndarray | None:
        """Known term of the linear predictor (n,), user units, or None."""

    @property
    def groups(self) -> np.ndarray | None:
        """Sorted group codes (n,), or None."""

    @property
    def Z(self) -> np.ndarray | None:
        """Concomitant variables (n, q - 1) in user units, or None."""

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The raw user-unit features (n, n_features), response (n,) and weights (n,)
        (None where absent); never to be written to."""


class StreamingSource(RowSource, Protocol):
    """A source read from start to end (a file, or a cluster brought to the client)."""

    @property
    def x_columns(self) -> list[str]:
        """Names of the feature columns, in order."""

    def iter_chunks(self, chunk_size: int) -> Iterator[Chunk]:
        """The standardised chunks in row order, one per reduction block
        (``chunk_size`` is how many rows are read at a time)."""

    def plain(self) -> StreamingSource:
        """The same rows served in user units (the identity standardisation)."""


class BatchSource(StreamingSource, Protocol):
    """A streamed source whose plain rows the compiled kernel can read batch by batch."""

    @property
    def batch_rows(self) -> bool:
        """Whether :meth:`row_batches` applies: one response, no groups and no
        censoring limits."""

    @property
    def plain_rows(self) -> bool:
        """Whether :meth:`row_batches` applies and the rows have no concomitant
        variables."""

    def row_batches(self, batch_size: int, *,
                    validate: bool = True) -> Iterator[tuple[Any, ...]]:
        """``(start, X, y, w, Z)`` in user units, at most ``batch_size`` rows each, in
        row order: ``X`` (rows, n_features) float64, ``y`` and ``w`` (rows,) or None,
        ``Z`` (rows, q) the concomitant variables or None."""


class DistributedSource(StreamingSource, Protocol):
    """A source whose rows live on workers: each pass is computed where they are."""

    def map_reduce(self, chunk_fn: Callable[[Chunk], T], chunk_size: int) -> T:
        """The sum (with ``+``) of ``chunk_fn(chunk)`` over every chunk, in row order,
        computed on the workers; only the results travel back."""


# ---------------------------------------------------------------------------- families
class ComponentParameters(Protocol):
    """Parameters of K components of one family, internal units (read-only)."""

    @property
    def n_components(self) -> int:
        """K."""

    @property
    def coef(self) -> np.ndarray | None:
        """Coefficients (K, p), intercept first; None only in a reference point from
        which the first M-step starts from the data."""

    @property
    def extra(self) -> np.ndarray:
        """The family's other parameters (K, m), natural scale, in the order of
        ``extra_names``."""

    def take(self, order: np.ndarray) -> ComponentParameters:
        """The components in the given order (or a subset), copied."""


class Constraints(Protocol):
    """Constraints on the coefficients and scales that the estimator attaches to a
    family (:class:`~regmix.families.constraints.CoefficientConstraints`)."""

    @property
    def equal_scale(self) -> bool:
        """Whether all components share one scale (sigma)."""

    def n_coefficients(self, n_components: int) -> int:
        """Free coefficients of all components together."""

    def project(self, family: Any, params: Any) -> Any:
        """Starting parameters made to satisfy the constraints."""


P = TypeVar("P", bound=ComponentParameters)


class Family(Protocol[P]):
    """A family of component models: density, additive statistics and M-step.

    ``P`` is the family's parameter type (:class:`~regmix.core.params.GaussianParams`,
    :class:`~regmix.core.params.ComponentParams`). Every member is used by a layer above
    the families; :func:`regmix.families.registry.get_family` refuses an object that
    lacks one. A family may offer more (a GLM's ``link`` object, used for the mean on the
    response scale when present; ``row_terms``, the derivatives of the observed
    information in a component's whole block, for a family whose component has several
    linear predictors, such as :class:`~regmix.families.multi_response.MultiResponse`,
    whose chunk response is (n, R)).
    """

    @property
    def name(self) -> str:
        """Registry name (``"gaussian"``, ``"poisson"``, ...), stored in model files."""

    @property
    def label(self) -> str:
        """Human-readable name for summaries (``"Gaussian"``)."""

    @property
    def link_name(self) -> str:
        """Name of the link function (``"identity"``, ``"log"``, ...)."""

    @property
    def location_scale(self) -> bool:
        """Whether the response is standardised too (Gaussian, Student-t); otherwise
        counts, proportions and positive values keep their units."""

    @property
    def exact_m_step(self) -> bool:
        """Whether :meth:`m_step` maximises the expected complete-data log-likelihood
        exactly (else the EM driver guards every step against a decrease)."""

    @property
    def init_steps(self) -> int:
        """Extra M-steps a start takes with the same memberships (IRLS families, and the
        mixed model, whose ECM step depends on the variance components it starts from)."""

    @property
    def extra_names(self) -> tuple[str, ...]:
        """Names of the m extra parameters per component (``("sigma",)``)."""

    @property
    def constraints(self) -> Constraints | None:
        """Constraints attached by the estimator, or None."""

    def n_parameters(self, n_components: int, n_design: int) -> int:
        """Free parameters of K components on p design columns (coefficients and the
        estimated extras)."""

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> P:
        """Parameters from coefficients (K, p) and extras (K, m) (in any units: this
        only packs the arrays)."""

    def zero_params(self, n_components: int, n_design: int) -> P:
        """The reference point of a first M-step (no or zero coefficients, default
        extras)."""

    def with_unit_scale(self, params: P) -> P:
        """The same coefficients with the extras reset to their starting values."""

    def check_response(self, y: np.ndarray, trials: np.ndarray | None = None, *,
                       start: int = 0, complete: bool = True) -> None:
        """Raise ValueError naming the first invalid response value (row ``start + i``);
        ``complete`` says whether ``y`` is the whole response or one chunk of it."""

    def log_density(self, params: P, chunk: Chunk,
                    log_weights: np.ndarray | float = 0.0) -> tuple[np.ndarray, Any]:
        """Component log-densities of the chunk's rows plus ``log_weights`` (a (K, 1)
        or (K, n) array, or a scalar), shape (K, n), and a cache that
        :meth:`statistics` may reuse (None-compatible: any object)."""

    def statistics(self, chunk: Chunk, wr: np.ndarray, params: P,
                   cache: Any = None) -> tuple[np.ndarray, ...]:
        """Additive statistics of a chunk for the M-step, given the (K, n) weighted
        responsibilities ``wr`` (sample weight times responsibility), taken at
        ``params``; ``cache`` is the second output of :meth:`log_density` at the same
        parameters, or None."""

    def m_step(self, stats: tuple[np.ndarray, ...], resp_sum: np.ndarray,
               params: P) -> tuple[P, np.ndarray]:
        """New parameters from the statistics summed over all rows and the summed
        weighted responsibilities ``resp_sum`` (K,), and which components' weighted
        designs were rank deficient (bool, (K,)). A component without weight keeps its
        parameters."""

    def to_vector(self, params: P) -> np.ndarray:
        """Unconstrained coordinates of the parameters (for EM acceleration), 1-D."""

    def from_vector(self, vec: np.ndarray, like: P) -> P:
        """Inverse of :meth:`to_vector`; ``like`` gives the shapes and fixed values."""

    def to_user(self, params: P, standardization: Standardization) -> P:
        """Parameters in user units from internal ones."""

    def to_internal(self, params: P, standardization: Standardization) -> P:
        """Parameters in internal units from user ones."""

    def free_extra(self) -> np.ndarray:
        """Which extras are estimated, bool of shape (m,) (the others are known)."""

    def row_derivatives(self, params: P, chunk: Chunk) -> tuple[np.ndarray, ...]:
        """``(logf, d1, d2, e1, e2, ce)`` per row, for the observed information: the
        (K, n) log-densities, their first and second derivatives in the linear
        predictor, and in the free extras' unconstrained coordinates ``e1`` (K, m', n),
        ``e2`` (K, m', m', n) and the cross derivatives ``ce`` (K, m', n) (m' free
        extras)."""

    def sample(self, params: P, X: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, offset: np.ndarray | None = None,
               trials: np.ndarray | None = None) -> np.ndarray:
        """Responses (n,) drawn for the user-unit design rows ``X`` (n, p) from the
        components ``labels`` (n,), with user-unit parameters."""


# ---------------------------------------------------------------------------- mixing
class MixingModel(Protocol):
    """How the prior probabilities of the components are modelled.

    Works on :class:`~regmix.core.params.MixtureParams`: ``weights`` (K,) and ``gating``
    (K, q) coefficients (first row zero) or None.
    """

    @property
    def name(self) -> str:
        """Name stored in model files."""

    @property
    def exact(self) -> bool:
        """Whether :meth:`m_step` is an exact maximisation (else a guarded step)."""

    def n_parameters(self, n_components: int, n_gating: int = 1) -> int:
        """Free mixing parameters for K components and q gating rows."""

    def start(self, n_components: int,
              n_gating: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Equal weights (K,) and zero gating coefficients (K, q) or None."""

    def log_weights(self, params: MixtureParams, chunk: Chunk) -> np.ndarray:
        """Log prior probabilities of the chunk's rows: (K, 1) when the same for every
        row, else (K, n)."""

    def statistics(self, params: MixtureParams, chunk: Chunk, resp: np.ndarray,
                   w: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """Additive statistics for :meth:`m_step` from the (K, n) posterior
        probabilities ``resp`` (of the rows, or of the groups) and their weights (n,)
        or None; the first element is the summed weighted posteriors (K,)."""

    def m_step(self, mix_stats: tuple[np.ndarray, ...],
               params: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        """New ``(weights, gating)`` from the summed statistics."""

    def vector_size(self, params: MixtureParams) -> int:
        """Length of :meth:`to_vector`."""

    def to_vector(self, params: MixtureParams) -> np.ndarray:
        """Unconstrained coordinates of the mixing parameters, 1-D."""

    def from_vector(self, vec: np.ndarray,
                    like: MixtureParams) -> tuple[np.ndarray, np.ndarray | None]:
        """Inverse of :meth:`to_vector`: ``(weights, gating)``."""


# ---------------------------------------------------------------------------- memberships
class Memberships(Protocol):
    """Given memberships: a responsibility function for a pass with supplied
    responsibilities (:meth:`regmix.engine.runner.PassRunner.given`)."""

    def __call__(self, chunk: Chunk) -> np.ndarray:
        """The (K, n) responsibilities of the chunk's rows (each column sums to one),
        the same however the rows are split into chunks."""


class ArrayMemberships(Memberships, Protocol):
    """Memberships that can also be had for all rows at once (for the compiled pass)."""

    def as_array(self, n_rows: int) -> np.ndarray:
        """The (n_rows, K) memberships of all rows (rows need not be normalised)."""


# ---------------------------------------------------------------------------- runtime
_TYPING_NAMES = frozenset({"_is_protocol", "_is_runtime_protocol", "_abc_impl"})


def protocol_members(protocol: type) -> frozenset[str]:
    """The public member names a protocol requires (its own and its bases')."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (Protocol, object) or not getattr(cls, "_is_protocol", False):
            continue
        names.update(vars(cls).get("__annotations__", {}))
        names.update(vars(cls))
    return frozenset(n for n in names if not n.startswith("_") and n not in _TYPING_NAMES)


FAMILY_MEMBERS: frozenset[str] = protocol_members(Family)
"""Names of the members a family object must have (checked by ``get_family``)."""
