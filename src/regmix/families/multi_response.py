"""Several responses sharing one latent class: a family whose members are responses.

``family={"yn": "gaussian", "yp": "poisson"}`` is one :class:`MultiResponse`: every
component has one set of parameters per response, each of that response's family, on
that response's design columns (a subset of the design, by default all of it); the
class is shared. The component log-density of a row is the sum over the responses of
their log-densities (the responses are independent given the class), and a response
missing on a row (NaN) contributes nothing there: rows with some responses missing
keep the others' contributions (missing at random). This is flexmix's list of drivers
in ``model=``, Mplus's several indicators of one latent class, and lcmm's
``multlcmm``.

The chunk carries the responses as one ``(n, R)`` array. Each member family sees a
chunk of its own: the rows of the design it uses, its column of the response, and only
the rows where it is observed. So each response's statistics are that family's own
statistics with the same weighted responsibilities, restricted to its observed rows, and
its M-step is that family's M-step (with the responsibilities summed over those rows):
one pass over the rows per EM iteration, as for a single response.

The parameters (:class:`~regmix.core.params.MultiResponseParams`) hold one parameter
object of K components per response. Read as arrays, ``coef`` (K, P) is every
response's coefficients side by side (response by response, each on its design
columns, intercept first) and ``extra`` (K, m) every response's extras, named
``"<response>:<name>"`` (``"yn:sigma"``).

The responses are not standardised (each member sees its response in user units, the
design is standardised as usual), so a Gaussian member's variance floor is the floor
unit the estimator gives it from that response's robust scale (:meth:`bind`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from regmix.core.chunk import Chunk, Standardization
from regmix.core.params import MultiResponseParams
from regmix.families.composite import MemberFamilies
from regmix.families.pointmass import PointMass
from regmix.families.row_terms import RowTerms, row_terms

__all__ = ["MultiResponse"]


class _Sums(tuple):
    """One response's statistics (its observed rows' responsibility sums first): a
    tuple whose ``+`` adds element-wise, as the data pass adds every family's
    statistics."""

    __slots__ = ()

    def __add__(self, other):
        return _Sums(a + b for a, b in zip(self, other, strict=True))


class MultiResponse(MemberFamilies):
    """Several responses, each with its own family, sharing the latent class.

    Parameters
    ----------
    families : mapping of str to family name or object
        The responses, in order: each response's column name and its family
        (``{"yn": "gaussian", "yp": "poisson"}``). Names are resolved by
        :func:`regmix.families.registry.get_family` when the estimator builds the
        family.
    columns : mapping of str to sequence of str, optional
        For some responses, the design columns their components use (names of the
        design's columns, compared without spaces, so that ``"I(x**2)"`` is the design's
        ``"I(x ** 2)"``; without the intercept, which every response has when the model
        fits one); the others use every column.

    Notes
    -----
    The responses are a data frame's columns of these names (``y=`` or the data of a
    formula model, whose left-hand side ``"yn + yp ~ x"`` lists them), or an
    ``(n, R)`` array in this order. NaN marks a missing response.
    """

    name = "multi_response"
    constraints = None
    location_scale = False

    def __init__(
        self, families: Mapping[str, Any], columns: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        if not isinstance(families, Mapping) or not families:
            raise ValueError(
                "family: several responses are a mapping of each response's "
                "column name to its family, such as {'yn': 'gaussian', "
                f"'yp': 'poisson'}}; got {families!r}"
            )
        for key in families:
            if not isinstance(key, str) or not key:
                raise ValueError(f"family: response names must be non-empty strings; got {key!r}")
        self.responses: tuple[str, ...] = tuple(families)
        self.members: tuple[Any, ...] = tuple(families.values())
        columns = dict(columns or {})
        unknown = sorted(set(columns) - set(self.responses))
        if unknown:
            raise ValueError(
                f"columns names response(s) {unknown} that are not among the "
                f"responses {list(self.responses)}"
            )
        self.columns: dict[str, tuple[str, ...]] = {
            r: tuple(str(c) for c in cols) for r, cols in columns.items()
        }
        # the design rows (of a chunk's XT) each response uses; None: all of them
        self.blocks: tuple[np.ndarray, ...] | None = None

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{r!r}: {m!r}" for r, m in zip(self.responses, self.members, strict=True)
        )
        cols = f", columns={self.columns!r}" if self.columns else ""
        return f"MultiResponse({{{inner}}}{cols})"

    # ------------------------------------------------------------ construction
    def resolved(self, resolve) -> MultiResponse:
        """A copy whose members are family objects: ``resolve(member, response)`` turns
        each name (or object) into one."""
        new = copy.copy(self)
        new.members = tuple(
            resolve(m, r) for m, r in zip(self.members, self.responses, strict=True)
        )
        for r, m in zip(self.responses, new.members, strict=True):
            if getattr(m, "responses", None) is not None or hasattr(m, "families"):
                raise ValueError(f"family[{r!r}] must be one family, not {m!r}")
            if isinstance(m, PointMass) or hasattr(m, "group_log_density"):
                raise ValueError(
                    f"family[{r!r}]: a response's family is a regression with a density "
                    f"per row; {m!r} is not"
                )
        return new

    def bind(
        self,
        design_names: Sequence[str],
        fit_intercept: bool,
        floor_units: Mapping[str, float] | None = None,
    ) -> MultiResponse:
        """A copy for a design: each response's design rows (the intercept, when
        fitted, and its columns among ``design_names``, the design's columns without
        the intercept), and the variance floor units of its Gaussian-like members
        (``floor_units[response]``, the squared robust scale of that response).

        Raises
        ------
        ValueError
            When a response's columns are not columns of the design.
        """
        names = [str(c) for c in design_names]
        shift = int(fit_intercept)
        blocks = []
        for r in self.responses:
            wanted = self.columns.get(r)
            if wanted is None:
                blocks.append(np.arange(len(names) + shift, dtype=np.intp))
                continue
            # "I(x**2)" is the design's "I(x ** 2)": names are compared without spaces
            bare = [n.replace(" ", "") for n in names]
            missing = [c for c in wanted if c.replace(" ", "") not in bare]
            if missing:
                raise ValueError(
                    f"columns[{r!r}] names {missing}, which are not columns of the design {names}"
                )
            idx = sorted({bare.index(c.replace(" ", "")) + shift for c in wanted})
            blocks.append(np.array(([0] if fit_intercept else []) + idx, dtype=np.intp))
        new = copy.copy(self)
        new.blocks = tuple(blocks)
        new.members = tuple(
            m.with_floor_unit(float(floor_units[r]))
            if floor_units is not None and r in floor_units and hasattr(m, "with_floor_unit")
            else m
            for r, m in zip(self.responses, self.members, strict=True)
        )
        return new

    def _blocks(self, n_design: int) -> tuple[np.ndarray, ...]:
        if self.blocks is not None:
            return self.blocks
        return tuple(np.arange(n_design, dtype=np.intp) for _ in self.responses)

    def _widths(self, n_design: int) -> list[int]:
        return [b.size for b in self._blocks(n_design)]

    def coef_width(self, n_design: int) -> int:
        """Width P of the coefficient array for a design of ``n_design`` columns: every
        response's design columns, side by side."""
        return sum(self._widths(n_design))

    def coef_names(self, design_names: Sequence[str], fit_intercept: bool) -> list[str]:
        """Names of the P coefficients, ``"<response>:<column>"`` (``"yn:intercept"``),
        for the design's columns ``design_names`` (without the intercept)."""
        full = (["intercept"] if fit_intercept else []) + [str(c) for c in design_names]
        return [
            f"{r}:{full[j]}"
            for r, b in zip(self.responses, self._blocks(len(full)), strict=True)
            for j in b
        ]

    # ------------------------------------------------------------ description
    @property
    def label(self) -> str:
        return " + ".join(
            f"{r}: {m.label}" for r, m in zip(self.responses, self.members, strict=True)
        )

    @property
    def extra_names(self) -> tuple[str, ...]:
        return tuple(
            f"{r}:{n}"
            for r, m in zip(self.responses, self.members, strict=True)
            for n in m.extra_names
        )

    @property
    def internal_var_floor(self) -> None:
        """None: each member has its own floor (see :meth:`bind`)."""
        return None

    @property
    def _members(self) -> tuple[Any, ...]:
        return self.members

    def _pack(self, parts) -> MultiResponseParams:
        return MultiResponseParams(tuple(parts))

    # ------------------------------------------------------------ parameters
    def n_parameters(self, n_components: int, n_design: int) -> int:
        return sum(
            m.n_parameters(n_components, p)
            for m, p in zip(self.members, self._widths(n_design), strict=True)
        )

    def _split(self, a: np.ndarray, widths: Sequence[int]) -> list[np.ndarray]:
        return np.split(a, np.cumsum(widths)[:-1], axis=1)

    def make_params(self, coef: np.ndarray, extra: np.ndarray) -> MultiResponseParams:
        """Parameters from the side-by-side coefficients (K, P) and extras (K, m)."""
        coef = np.asarray(coef, dtype=np.float64)
        extra = np.asarray(extra, dtype=np.float64).reshape(coef.shape[0], -1)
        widths = [b.size for b in self.blocks] if self.blocks is not None else None
        if widths is None:  # no design bound: every response on the same columns
            R = len(self.members)
            if coef.shape[1] % R:
                raise ValueError(
                    f"coef has {coef.shape[1]} columns, not a multiple of the {R} responses"
                )
            widths = [coef.shape[1] // R] * R
        coefs = self._split(coef, widths)
        extras = self._split(extra, [len(m.extra_names) for m in self.members])
        return self._pack(
            m.make_params(c, e) for m, c, e in zip(self.members, coefs, extras, strict=True)
        )

    def zero_params(self, n_components: int, n_design: int) -> MultiResponseParams:
        return self._pack(
            m.zero_params(n_components, p)
            for m, p in zip(self.members, self._widths(n_design), strict=True)
        )

    def free_extra(self) -> np.ndarray:
        return np.concatenate([m.free_extra() for m in self.members])

    def _standardizations(self, st: Standardization, n_design: int):
        """Each response's map between units: its design columns' locations and scales,
        the response itself unstandardised."""
        out = []
        shift = int(st.fit_intercept)
        for b in self._blocks(n_design):
            cols = b[b >= shift] - shift
            out.append(
                Standardization(
                    st.x_loc[cols],
                    st.x_scale[cols],
                    0.0,
                    1.0,
                    st.fit_intercept and bool(b.size) and b[0] == 0,
                )
            )
        return out

    def _convert(self, params: MultiResponseParams, st: Standardization, direction: str):
        n_design = st.x_loc.shape[0] + int(st.fit_intercept)
        return self._pack(
            getattr(m, direction)(p, s)
            for (m, p), s in zip(
                self._parts(params), self._standardizations(st, n_design), strict=True
            )
        )

    def to_user(
        self, params: MultiResponseParams, standardization: Standardization
    ) -> MultiResponseParams:
        return self._convert(params, standardization, "to_user")

    def to_internal(
        self, params: MultiResponseParams, standardization: Standardization
    ) -> MultiResponseParams:
        return self._convert(params, standardization, "to_internal")

    # ------------------------------------------------------------ the data pass
    def check_response(
        self,
        y: np.ndarray,
        trials: np.ndarray | None = None,
        *,
        start: int = 0,
        complete: bool = True,
    ) -> None:
        """Each member checks its observed values; the error names the response."""
        if trials is not None:
            raise ValueError("trials= does not apply to several responses")
        y = np.asarray(y)
        if y.ndim != 2 or y.shape[1] != len(self.members):
            raise ValueError(
                f"the {len(self.members)} responses {list(self.responses)} "
                f"need a response array of shape (n, {len(self.members)}); "
                f"got {y.shape}"
            )
        for r, (name, m) in enumerate(zip(self.responses, self.members, strict=True)):
            col = y[:, r]
            obs = ~np.isnan(col)
            if not obs.any():  # (a fit refuses this: see bind)
                continue
            # missing values are left out; 1 (valid for every family) keeps row numbers
            try:
                m.check_response(np.where(obs, col, 1.0), None, start=start, complete=False)
                if complete:
                    m.check_response(col[obs], None, start=start, complete=True)
            except ValueError as err:
                raise ValueError(f"response {name!r}: {err}") from None

    def _sub_chunks(self, chunk: Chunk) -> list[tuple[Chunk, np.ndarray | None]]:
        """Each member's chunk (its design rows, its response column, its observed rows)
        and the positions of those rows in the chunk (None: every row)."""
        out: list[tuple[Chunk, np.ndarray | None]] = []
        y = chunk.y
        for r, b in enumerate(self._blocks(chunk.XT.shape[0])):
            col = y[:, r]
            obs = ~np.isnan(col)
            if obs.all():  # consecutive design rows are a view, others a copy
                run = b.size and b[-1] - b[0] + 1 == b.size
                XT = chunk.XT[b[0] : b[-1] + 1] if run else chunk.XT[b]
                sub = Chunk(chunk.start, XT, np.ascontiguousarray(col), chunk.w)
                out.append((sub, None))
                continue
            rows = np.flatnonzero(obs)
            w = None if chunk.w is None else chunk.w[rows]
            out.append((Chunk(chunk.start, chunk.XT[np.ix_(b, rows)], col[rows], w), rows))
        return out

    def log_density(
        self, params: MultiResponseParams, chunk: Chunk, log_weights: np.ndarray | float = 0.0
    ) -> tuple[np.ndarray, Any]:
        """The sum of the responses' log-densities (of each on its observed rows) plus
        ``log_weights``; the members' chunks and caches as the cache."""
        K, n = params.n_components, chunk.y.shape[0]
        logd = np.zeros((K, n))
        caches = []
        for (m, p), (sub, rows) in zip(self._parts(params), self._sub_chunks(chunk), strict=True):
            part, cache = m.log_density(p, sub, 0.0)
            if rows is None:
                logd += part
            else:
                logd[:, rows] += part
            caches.append((sub, rows, cache))
        logd += log_weights
        return logd, tuple(caches)

    def statistics(
        self, chunk: Chunk, wr: np.ndarray, params: MultiResponseParams, cache: Any = None
    ) -> tuple[Any, ...]:
        """Per response: the weighted responsibilities summed over its observed rows,
        then its family's statistics on those rows."""
        if cache is None:
            cache = tuple((sub, rows, None) for sub, rows in self._sub_chunks(chunk))
        out = []
        for (m, p), (sub, rows, c) in zip(self._parts(params), cache, strict=True):
            wr_r = wr if rows is None else wr[:, rows]
            out.append(_Sums((wr_r.sum(axis=1), *m.statistics(sub, wr_r, p, c))))
        return tuple(out)

    def m_step(
        self, stats: tuple, resp_sum: np.ndarray, params: MultiResponseParams
    ) -> tuple[MultiResponseParams, np.ndarray]:
        """Each response's M-step by its family, with the responsibilities of its
        observed rows."""
        parts, deficient = [], np.zeros(params.n_components, dtype=bool)
        for (m, p), s in zip(self._parts(params), stats, strict=True):
            new, flag = m.m_step(tuple(s[1:]), s[0], p)
            parts.append(new)
            deficient |= np.asarray(flag, dtype=bool)
        return self._pack(parts), deficient

    def response_means(
        self, params: MultiResponseParams, D: np.ndarray, kind: str = "response"
    ) -> np.ndarray:
        """Each component's mean (or linear predictor) of each response at the rows of
        the full design ``D`` (n, p) (intercept column first when fitted), user units:
        shape (n, K, R)."""
        out = []
        for (m, p), b in zip(self._parts(params), self._blocks(D.shape[1]), strict=True):
            eta = D[:, b] @ p.coef.T
            link = getattr(m, "link", None)
            out.append(eta if kind == "link" or link is None else link.inverse(eta))
        return np.stack(out, axis=2)

    # ------------------------------------------------------------ inference, simulation
    def row_derivatives(self, params: MultiResponseParams, chunk: Chunk):
        """Not defined: a component has one linear predictor per response; the
        information reads :meth:`row_terms`."""
        raise NotImplementedError(
            "several responses have one linear predictor each; see MultiResponse.row_terms"
        )

    def row_terms(self, params: MultiResponseParams, chunk: Chunk) -> RowTerms:
        """The members' :class:`~regmix.families.row_terms.RowTerms`, each on its
        observed rows, composed: the log-densities summed, the gradients and Hessians
        placed in the component's block, every response's coefficients first (side by
        side), then every response's free extras."""
        K, n = params.n_components, chunk.y.shape[0]
        subs = self._sub_chunks(chunk)
        parts = [
            (row_terms(m, p, sub), rows)
            for (m, p), (sub, rows) in zip(self._parts(params), subs, strict=True)
        ]
        widths = [t.grad.shape[2] for t, _ in parts]
        n_free = [int(m.free_extra().sum()) for m in self.members]
        n_coef = [w - e for w, e in zip(widths, n_free, strict=True)]
        coef_at = np.cumsum([0, *n_coef])
        extra_at = coef_at[-1] + np.cumsum([0, *n_free])
        index = [
            np.r_[coef_at[r] : coef_at[r + 1], extra_at[r] : extra_at[r + 1]]
            for r in range(len(parts))
        ]
        d = int(extra_at[-1])
        logf = np.zeros((K, n))
        grad = np.zeros((K, n, d))
        for (t, rows), idx in zip(parts, index, strict=True):
            where = slice(None) if rows is None else rows
            logf[:, where] += t.logf
            grad[np.ix_(np.arange(K), np.arange(n)[where], idx)] = t.grad

        def hessian(k: int, q: np.ndarray) -> np.ndarray:
            H = np.zeros((d, d))
            for (t, rows), idx in zip(parts, index, strict=True):
                H[np.ix_(idx, idx)] = t.hessian(k, q if rows is None else q[rows])
            return H

        return RowTerms(logf, grad, hessian)

    def sample(
        self,
        params: MultiResponseParams,
        X: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
        offset: np.ndarray | None = None,
        trials: np.ndarray | None = None,
    ) -> np.ndarray:
        """Every response of each row from its component, shape (n, R)."""
        if offset is not None or trials is not None:
            raise ValueError("offsets and trials do not apply to several responses")
        return np.column_stack(
            [
                m.sample(p, X[:, b], labels, rng)
                for (m, p), b in zip(self._parts(params), self._blocks(X.shape[1]), strict=True)
            ]
        )

    def to_dict(self, member_to_dict) -> dict:
        """A JSON-safe description; ``member_to_dict`` describes each member."""
        return {
            "name": self.name,
            "link": self.link_name,
            "responses": list(self.responses),
            "families": [member_to_dict(m) for m in self.members],
            "columns": {r: list(c) for r, c in self.columns.items()},
            "blocks": None if self.blocks is None else [b.tolist() for b in self.blocks],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], member_from_dict) -> MultiResponse:
        """Inverse of :meth:`to_dict`."""
        family = cls(
            dict(zip(d["responses"], [member_from_dict(f) for f in d["families"]], strict=True)),
            d.get("columns") or None,
        )
        blocks = d.get("blocks")
        if blocks is not None:
            family.blocks = tuple(np.asarray(b, dtype=np.intp) for b in blocks)
        return family
