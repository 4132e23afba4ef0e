"""From the user's arguments to validated rows: the estimator's input layer.

:class:`InputsMixin` gives :class:`~regmix.RegressionMixture` the methods that turn the
arguments of ``fit`` and of the evaluation methods (arrays, data frames with a formula,
dask collections, row sources, offsets, trials, concomitant variables, groups) into
validated arrays (:class:`Rows`) or row sources, with every refusal naming the argument,
row and column. Nothing here runs EM.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted, validate_data

from regmix.core.chunk import group_starts
from regmix.core.linalg import roundoff_spread
from regmix.estimator.formula import FormulaDesign, split_gating, split_random, split_responses
from regmix.estimator.formula_safety import check_formula
from regmix.families.composite import member_names
from regmix.sources.arrays import ROBUST_SCALE_ROWS, ArrayData, robust_scale, robust_scale_rows
from regmix.sources.dask import globally_numbered, partition_starts
from regmix.sources.validation import (
    check_features,
    check_finite_magnitude,
    check_response,
    check_sample_weight,
)

# Rows of a dask DataFrame from which a formula's state is learnt.
DASK_FORMULA_SAMPLE = 50_000


def is_row_source(obj) -> bool:
    """Whether ``obj`` is a row source (:class:`~regmix.parquet.ParquetData`,
    :class:`~regmix.dask_source.DaskData`)."""
    return hasattr(obj, "iter_chunks") and hasattr(obj, "standardization")


def is_dask_collection(obj) -> bool:
    return type(obj).__module__.startswith("dask") and hasattr(obj, "__dask_graph__")


def censored_source(source, family):
    """The row source with its response read as censored at the censored Gaussian
    family's constant points and truncation (each block's limits made as it is read);
    the source itself for any other family, or a family without constant limits.

    Raises
    ------
    ValueError
        For a source that cannot apply them (limit columns, several responses, a
        source without ``with_censoring``), naming what to do instead.
    """
    if not (hasattr(family, "response_limits") and family.constant_limits):
        return source
    apply = getattr(source, "with_censoring", None)
    if apply is None:
        raise ValueError(f"the {family.name} family's constant censoring points and "
                         f"truncation are applied by rows in memory, ParquetData and "
                         f"DaskData, not by {type(source).__name__}")
    return apply(family.lower, family.upper, family.truncation)


def _restandardized(source, **changes):
    """A shallow copy of the row source whose standardisation has ``changes``."""
    import copy
    import dataclasses

    new = copy.copy(source)
    new.standardization = dataclasses.replace(source.standardization, **changes)
    return new


def response_units(source, family):
    """The row source with its response left unstandardised when the family's response
    is not a location-scale quantity (counts, proportions, positive values)."""
    st = source.standardization
    if family.location_scale or (st.y_loc == 0.0 and st.y_scale == 1.0):
        return source
    return _restandardized(source, y_loc=0.0, y_scale=1.0)


def uncentred(source):
    """The row source with uncentred features (scaled only), for intercept constraints."""
    return _restandardized(source, x_loc=np.zeros_like(source.standardization.x_loc))


def response_names(family) -> tuple[str, ...] | None:
    """The responses of a family for several responses sharing the class (a mapping of
    names to families, or a :class:`~regmix.families.multi_response.MultiResponse`),
    or None for one response."""
    if isinstance(family, Mapping):
        return tuple(family)
    return getattr(family, "responses", None)


def _response_columns(frame, names: tuple[str, ...], where: str = "the data"
                      ) -> tuple[str, ...]:
    """``names``, checked to be numeric columns of the data frame ``frame`` (pandas or
    dask; ``where`` names it in the messages).

    Raises
    ------
    ValueError
        Naming a response that is not a column or not numeric.
    """
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise ValueError(f"response {missing[0]!r} is not a column of {where} (columns "
                         f"{[str(c) for c in frame.columns]})")
    for c in names:
        dtype = frame[c].dtype
        if getattr(dtype, "kind", "O") not in "biuf" and not pd.api.types.is_numeric_dtype(
                dtype):
            raise ValueError(f"response {c!r} is not numeric (dtype {dtype})")
    return names


def multi_response(y, names: tuple[str, ...], n_rows: int, frame=None) -> np.ndarray:
    """The (n, R) responses, NaN where missing: the columns ``names`` of the data frame
    ``y`` (or of ``frame``, the formula's data, when ``y`` is None), or an (n, R)
    array in that order.

    Raises
    ------
    ValueError
        Naming a response column that is not found or not numeric, or when an array
        has the wrong shape.
    """
    source = frame if y is None else y
    if source is None:
        raise ValueError(f"the responses {list(names)} are needed: pass y (a data frame "
                         "with these columns or an (n, R) array)")
    if isinstance(source, pd.DataFrame):
        _response_columns(source, names, "y" if y is not None else "the data")
        cols = [source[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in names]
        arr = np.column_stack(cols) if cols else np.empty((len(source), 0))
    else:
        arr = np.array(source, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise ValueError(f"y must have one column per response {list(names)}, shape "
                             f"(n, {len(names)}); got shape {arr.shape}")
    if arr.shape[0] != n_rows:
        raise ValueError(f"y has {arr.shape[0]} rows but X has {n_rows}")
    for r, c in enumerate(names):
        col = arr[:, r]
        try:
            check_finite_magnitude(col[~np.isnan(col)], f"response {c!r}")
        except ValueError as err:
            raise ValueError(f"{err} (NaN marks a missing response)") from None
    return arr


def bound_responses(family, design_names, source, y: np.ndarray | None = None):
    """A family for several responses bound to the design of ``source`` (each
    response's design columns) with each location-scale member's variance floor unit:
    the squared robust scale of its observed response, from the rows of
    :func:`regmix.sources.arrays.robust_scale_rows` (so that every source of the same
    rows gives the same floors). ``y``, the responses when they are in memory, or the
    robust-scale rows when they are every row, show a response missing on every row,
    which is refused."""
    ys, ws = robust_scale_rows(source)
    every = y if y is not None else ys if source.n_rows <= ROBUST_SCALE_ROWS else None
    units = {}
    for r, (name, member) in enumerate(zip(family.responses, family.members, strict=True)):
        if every is not None and np.isnan(every[:, r]).all():
            raise ValueError(f"response {name!r} is missing (NaN) on every row")
        obs = ~np.isnan(ys[:, r])
        if member.location_scale and obs.any():
            scale = robust_scale(ys[obs, r], None if ws is None else ws[obs],
                                 source.fit_intercept)
            units[name] = scale * scale
    return family.bind(design_names, source.fit_intercept, units)


class Rows(NamedTuple):
    """Validated rows of one call: arrays in the order used (sorted by group)."""

    X: np.ndarray
    y: np.ndarray | None
    w: np.ndarray | None
    offset: np.ndarray | None
    trials: np.ndarray | None
    Z: np.ndarray | None
    groups: np.ndarray | None
    order: np.ndarray | None  # the rows' positions in the caller's order
    limits: np.ndarray | None = None  # a censored response's limits (n, 4)

    def sorted_by_group(self) -> Rows:
        order = np.argsort(self.groups, kind="stable")
        take = [None if a is None else a[order] for a in self[:7]]
        return Rows(*take, order, None if self.limits is None else self.limits[order])


class InputsMixin:
    """Input validation and row construction for :class:`~regmix.RegressionMixture`."""

    def _validate_Xy(self, X, y, sample_weight, reset: bool, require_y: bool = True,
                     limits: bool = False):
        """Numeric design, response and weights from the user's arguments.

        With a formula, ``X`` is a data frame and the response comes from the formula's
        left-hand side unless ``y`` is given; ``reset`` builds the design from the data,
        otherwise the training-time design is applied. ``limits``: the response may be
        columns of censoring limits (see :func:`check_response`).
        """
        if self.formula is not None:
            return self._formula_Xy(X, y, sample_weight, reset, require_y, limits)
        Xa, _ = check_features(X)
        validate_data(self, X, reset=reset, skip_check_array=True)
        names = response_names(self.family)
        if names is not None:
            ya = (multi_response(y, names, Xa.shape[0])
                  if (require_y or y is not None) else None)
        else:
            ya = (check_response(y, Xa.shape[0], two_columns=True, limits=limits)
                  if (require_y or y is not None) else None)
        w = check_sample_weight(sample_weight, Xa.shape[0])
        return Xa, ya, w

    def _main_formula(self) -> str:
        """The regression part of the formula (without a gating part after ``|`` or a
        random-effects term ``(terms | group)``; for several responses, without the
        left-hand side that names them)."""
        main = split_random(split_gating(self.formula)[0])[0]
        names = response_names(self.family)
        if names is None:
            return main
        given, rhs = split_responses(main)
        if given and sorted(given) != sorted(names):
            raise ValueError(f"the formula's responses {given} are not the family's "
                             f"responses {list(names)}")
        return rhs

    def _formula_Xy(self, X, y, sample_weight, reset: bool, require_y: bool,
                    limits: bool = False):

        names = response_names(self.family)
        if names is None:
            return self._formula_design_Xy(X, y, sample_weight, reset, require_y, limits)
        # several responses: the design from the one-sided formula, the responses from
        # y or the data's columns
        Xa, _, w = self._formula_design_Xy(X, None, sample_weight, reset, False)
        wanted = require_y or y is not None or all(c in getattr(X, "columns", ())
                                                   for c in names)
        return Xa, (multi_response(y, names, Xa.shape[0], X) if wanted else None), w

    def _formula_design_Xy(self, X, y, sample_weight, reset: bool, require_y: bool,
                           limits: bool = False):

        if reset:
            _check_formula_first(self.formula, X)
            design, Xa, ya = FormulaDesign.from_data(
                self._main_formula(), X, fit_intercept=self.fit_intercept, y=y,
                require_response=require_y,
            )
            self.formula_design_ = design
            self.n_features_in_ = Xa.shape[1]
            self.feature_names_in_ = np.asarray(design.column_names, dtype=object)
        else:
            design = self.formula_design_
            Xa = design.transform(X)
            ya = y if y is not None else design.response(X)
            if ya is None and require_y:
                raise ValueError(
                    f"the data have no response {design.response_name!r}: pass y or "
                    "include the response column"
                )
        Xa, _ = check_features(Xa)
        ya = (check_response(ya, Xa.shape[0], two_columns=True, limits=limits)
              if ya is not None else None)
        w = check_sample_weight(sample_weight, Xa.shape[0])
        return Xa, ya, w

    def _rows(self, X, y, sample_weight, offset, trials, family, *, reset: bool = False,
              require_y: bool = True, concomitant=None, groups=None,
              fitting: bool = False) -> Rows:
        """Validated rows of the user's arguments, sorted by group when grouped.

        A two-column response becomes successes and trials (binomial only); the
        formula's ``offset(...)`` terms are added to ``offset``; the family checks the
        response's range; the concomitant variables come from ``concomitant`` or the
        formula's gating part; group labels become sorted integer codes. A censored
        family's response becomes representative values and the rows' limits.
        """
        split_limits = getattr(family, "response_limits", None)
        Xa, ya, w = self._validate_Xy(X, y, sample_weight, reset=reset, require_y=require_y,
                                      limits=split_limits is not None)
        formula_offset = self.formula_design_.offset(X) if self.formula is not None else None
        n = Xa.shape[0]
        Z = self._concomitant(X, concomitant, n, fitting and reset)
        codes = self._group_codes(X, groups, n, fitting)
        if fitting and reset:
            self._identifier_concomitants = (
                [] if codes is not None else self._identifier_like(X, Z))
        limits = None
        if ya is not None and split_limits is not None:
            ya, limits = split_limits(ya)
        if response_names(family) is not None:
            if trials is not None or offset is not None or formula_offset is not None:
                raise ValueError("offsets and trials do not apply to several responses")
        elif ya is not None and ya.ndim == 2:
            if "binomial" not in member_names(family):
                raise ValueError(
                    f"y has two columns, which is the binomial [successes, failures] "
                    f"response (or the limits [lower, upper] of the censored_gaussian "
                    f"family); the {family.name} family needs one column")
            if trials is not None:
                raise ValueError("y has two columns [successes, failures]; do not also pass "
                                 "trials")
            successes, failures = ya[:, 0], ya[:, 1]  # (column by column: no row-wise
            bad = (successes < 0) | (failures < 0)     # reductions over two entries)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"successes and failures must be non-negative; row {i} is "
                                 f"{ya[i].tolist()}")
            ya, trials = successes.copy(), successes + failures
        if trials is not None:
            if "binomial" not in member_names(family):
                raise ValueError("trials= applies to the binomial family only")
            trials = check_response(trials, n, name="trials")
        if offset is not None:
            offset = check_response(offset, n, name="offset")
        if formula_offset is not None:
            offset = formula_offset if offset is None else offset + formula_offset
        if ya is not None:
            family.check_response(ya, trials)
        # one memory layout whatever the caller's (Fortran order, strided views): the
        # reductions then add in the same order and the fit has the same bits
        rows = Rows(*(None if a is None else np.ascontiguousarray(a)
                      for a in (Xa, ya, w, offset, trials, Z)), codes, None, limits)
        return rows if codes is None else rows.sorted_by_group()

    def _concomitant(self, X, concomitant, n: int, reset: bool):
        """The concomitant matrix (n, q) or None; sets the gating names when fitting."""
        gating_formula = self._gating_formula()
        if gating_formula is not None:
            if concomitant is not None:
                raise ValueError("the formula has a gating part after '|'; do not also pass "
                                 "concomitant")

            if reset:
                design, Z, _ = FormulaDesign.from_data(f"~ {gating_formula}", X,
                                                       fit_intercept=True,
                                                       require_response=False)
                self.concomitant_design_ = design
                self._gating_names = list(design.column_names)
            else:
                Z = self.concomitant_design_.transform(X)
            return check_features(Z, "concomitant")[0]
        if concomitant is None:
            if reset:
                self._gating_names = None
            elif self.state_.gating_names is not None:
                raise ValueError("the model has concomitant variables: pass concomitant= "
                                 "for these rows")
            return None
        Z, names = check_features(concomitant, "concomitant")
        if Z.shape[0] != n:
            raise ValueError(f"concomitant has {Z.shape[0]} rows but X has {n}")
        if reset:
            self._gating_names = ([str(c) for c in names] if names is not None
                                  else [f"z{j}" for j in range(Z.shape[1])])
        elif self.state_.gating_names is None:
            raise ValueError("the model was fitted without concomitant variables")
        elif Z.shape[1] != len(self.state_.gating_names):
            raise ValueError(f"concomitant has {Z.shape[1]} columns; the model was fitted "
                             f"with {len(self.state_.gating_names)}")
        return Z

    def _identifier_like(self, X, Z) -> list[tuple[str, str]]:
        """The concomitant variables of a fit that look like group identifiers, each
        with what makes it look so: the raw columns the formula's gating part reads, or
        the columns of ``concomitant``."""
        if self._gating_formula() is not None:
            names = list(self.concomitant_design_.required_variables)
            columns = [X[name] for name in names]
        elif Z is not None:
            names, columns = list(self._gating_names), list(Z.T)
        else:
            return []
        found = [(name, identifier_levels(column)) for name, column in zip(names, columns,
                                                                          strict=True)]
        return [(name, why) for name, why in found if why is not None]

    def _grouping_warning(self, separated: bool) -> str | None:
        """The :class:`~regmix.ConcomitantWarning` of a fit, or None: when a concomitant
        variable looks like a group identifier, or (``separated``) the variables of a
        formula's gating part separate the components, the message points to
        ``groups=``, flexmix's ``| g``."""
        identifiers = self._identifier_concomitants
        gating = self._gating_formula()
        separated = separated and gating is not None
        if not identifiers and not separated:
            return None
        found = []
        if identifiers:
            found += [f"the concomitant variable {name!r} looks like a group identifier "
                      f"({why})" for name, why in identifiers]
        if separated:
            found.append(f"the gating variables after '|' ({gating}) separate the "
                         "components (their gating coefficients diverge)")
        where = ("the variables after '|' in a formula" if gating is not None
                 else "concomitant=")
        if identifiers and gating is not None:
            how = f"pass groups={identifiers[0][0]!r} with the data frame"
        elif identifiers:
            how = "pass the labels as groups="
        else:
            how = "pass groups= (a column name with the data frame)"
        return (f"{'; '.join(found)}: in regmix {where} model the mixing weights "
                "(concomitant variables), while flexmix's 'y ~ x | g' groups the rows by "
                f"g. If the rows of a group must share one component, {how} and leave "
                "the variable out of the concomitant variables")

    def _random_term(self) -> tuple[str | None, str | None]:
        """The formula's random-effects term: its terms and its column of groups (None,
        None without one)."""
        if not isinstance(self.formula, str):
            return None, None
        return split_random(self.formula)[1:]  # (the term is inside the regression part)

    def _group_codes(self, X, groups, n: int, fitting: bool):
        """Integer group codes (n,) or None; remembers whether the fit was grouped.
        The column of a formula's random-effects term ``(terms | group)`` gives the
        groups when ``groups`` is None."""
        group_column = self._random_term()[1]
        if group_column is not None:
            if groups is None and hasattr(X, "columns") and group_column in X.columns:
                groups = group_column
            elif isinstance(groups, str) and groups != group_column:
                raise ValueError(f"groups={groups!r}, but the formula's random-effects "
                                 f"term groups by {group_column!r}")
        if groups is None:
            if fitting:
                self._grouped = False
            return None
        if isinstance(groups, str):
            if not hasattr(X, "columns") or groups not in X.columns:
                raise ValueError(f"groups={groups!r} names no column of the data")
            groups = X[groups]
        labels = np.asarray(groups)
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ValueError(f"groups must have shape ({n},); got {labels.shape}")
        if pd.isna(pd.Series(labels)).any():
            i = int(np.argmax(pd.isna(pd.Series(labels)).to_numpy()))
            raise ValueError(f"groups has a missing label at row {i}")
        if fitting:
            self._grouped = True
        return pd.factorize(labels, sort=True)[0].astype(np.int64)

    def _known_labels(self, X, labels, rows: Rows) -> np.ndarray | None:
        """The known component labels as the rows' allowed-component bits (int64, in
        the order of ``rows``), or None.

        ``labels`` is (n,) with a component 1..K or -1 / NaN (unknown) per row, an
        (n, K) array of booleans (the components each row may belong to), or with a
        data frame the name of a column of labels. The rows of a group must agree.
        """
        if labels is None:
            return None
        K, n = int(self.n_components), rows.X.shape[0]
        if K > 62:
            raise ValueError(f"known_labels takes at most 62 components; got {K}")
        if isinstance(labels, str):
            if not hasattr(X, "columns") or labels not in X.columns:
                raise ValueError(f"known_labels={labels!r} names no column of the data")
            labels = X[labels]
        if hasattr(labels, "to_numpy"):
            labels = labels.to_numpy(dtype=np.float64, na_value=np.nan)
        try:
            values = np.asarray(labels, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("known_labels must be numbers: a component 1..K per row "
                             "(-1 or NaN where unknown) or an (n, K) boolean array") from None
        bits = np.int64(1) << np.arange(K, dtype=np.int64)
        if values.ndim == 2:
            if values.shape != (n, K) or not np.all((values == 0) | (values == 1)):
                raise ValueError(f"known_labels as a mask must be an ({n}, {K}) array of "
                                 f"booleans; got shape {values.shape}")
            allowed = (values.astype(bool) * bits).sum(axis=1).astype(np.int64)
            if np.any(allowed == 0):
                raise ValueError(f"known_labels allows no component in row "
                                 f"{int(np.argmax(allowed == 0))}")
        elif values.shape == (n,):
            unknown = np.isnan(values) | (values == -1)
            bad = ~unknown & ~np.isin(values, np.arange(1, K + 1))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"known_labels has {values[i]:g} in row {i}: a label is a "
                                 f"component 1..{K}, or -1 or NaN where unknown")
            allowed = np.full(n, int(bits.sum()), dtype=np.int64)
            known = ~unknown
            allowed[known] = bits[values[known].astype(np.int64) - 1]
        else:
            raise ValueError(f"known_labels must have shape ({n},) or ({n}, {K}); got "
                             f"{values.shape}")
        if rows.order is not None:
            allowed = allowed[rows.order]
        if rows.groups is not None:
            first = group_starts(rows.groups)
            sizes = np.diff(np.append(first, n))
            differ = allowed != np.repeat(allowed[first], sizes)
            if differ.any():
                i = int(np.argmax(differ))
                row = i if rows.order is None else int(rows.order[i])
                raise ValueError(f"known_labels differ within a group (row {row}): the rows "
                                 "of a group share one component, so they share its label")
        return allowed

    def _gating_formula(self) -> str | None:
        if self.formula is None:
            return None

        return split_gating(self.formula)[1]

    def _check_response_varies(self, y: np.ndarray, w: np.ndarray | None) -> None:
        """Refuse a response that is constant on the rows with weight (zero without an
        intercept): every line fits it exactly and the likelihood is unbounded."""
        used = y if w is None else y[w > 0]
        where = "" if w is None else " on every row with positive weight"
        ulps = roundoff_spread(used)
        if ulps == 0 and (self.fit_intercept or used[0] == 0):
            raise ValueError(
                f"y is constant (every value is {used[0]!r}{where}); there is nothing to "
                "fit a mixture of regressions to"
            )
        if ulps is not None and ulps > 0 and self.fit_intercept:
            raise ValueError(
                f"y is constant up to round-off{where}: its values span {np.ptp(used):.3g}, "
                f"{ulps:.3g} units in the last place of their magnitude "
                f"{np.max(np.abs(used)):.3g}; there is nothing to fit a mixture of "
                "regressions to (subtract a reference value before rounding to float64 "
                "if the variation is real)"
            )

    def _dask_formula(self, frame, y, concomitant, offset, trials):
        """The formula applied to a dask DataFrame partition by partition.

        The design's state (categorical levels, the centring of ``center(x)``, spline
        knots) is learnt from the first :data:`DASK_FORMULA_SAMPLE` rows, read from the
        leading partitions; every partition is then encoded with it, where the rows
        live. A categorical level that the sample lacks is refused when its partition
        is encoded. With several responses the formula's left-hand side names them
        (or the family does, for a one-sided formula) and they are the frame's columns
        of those names, NaN where a response is missing, as in memory.
        """

        if not hasattr(frame, "map_partitions") or not hasattr(frame, "columns"):
            raise ValueError("a formula needs a dask DataFrame (not a dask array)")
        if any(a is not None for a in (y, concomitant, offset, trials)):
            raise ValueError("with a formula on a dask DataFrame the response and the "
                             "gating variables come from the formula; do not pass y, "
                             "concomitant, offset or trials")
        _check_formula_first(self.formula, frame)
        sample = frame.head(DASK_FORMULA_SAMPLE, npartitions=-1)
        responses = response_names(self.family)
        design, _, _ = FormulaDesign.from_data(self._main_formula(), sample,
                                               fit_intercept=self.fit_intercept,
                                               require_response=responses is None)
        if design.offset_terms:
            raise ValueError("offset(...) terms are not supported on a dask DataFrame")
        names = list(design.column_names)
        starts = partition_starts(frame)
        what = f"the formula {self.formula!r}"

        @functools.partial(globally_numbered, starts=starts, what=what)
        def encode(part):
            return pd.DataFrame(design.transform(part), index=part.index, columns=names)

        @functools.partial(globally_numbered, starts=starts, what=what)
        def response(part):
            values = design.response(part)
            if values is None or np.ndim(values) != 1:
                raise ValueError(f"the response {design.response_name!r} must be one "
                                 "numeric column on a dask DataFrame")
            return pd.Series(values, index=part.index, name="y", dtype=np.float64)

        meta_X = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in names})
        X = frame.map_partitions(encode, meta=meta_X)
        if responses is not None:  # the responses' columns, read where they live
            y = frame[list(_response_columns(frame, responses))].astype(np.float64)
        else:
            y = frame.map_partitions(response, meta=pd.Series(dtype=np.float64, name="y"))
        Z = None
        gating = self._gating_formula()
        if gating is not None:
            gdesign, _, _ = FormulaDesign.from_data(f"~ {gating}", sample, fit_intercept=True,
                                                    require_response=False)
            gnames = list(gdesign.column_names)

            @functools.partial(globally_numbered, starts=starts, what=what)
            def encode_gating(part):
                return pd.DataFrame(gdesign.transform(part), index=part.index, columns=gnames)

            Z = frame.map_partitions(
                encode_gating, meta=pd.DataFrame({c: pd.Series(dtype=np.float64)
                                                  for c in gnames}))
            self.concomitant_design_ = gdesign
        self.formula_design_ = design
        self._dask_formula_applied = True
        return X, y, Z

    def _streamed_source(self, source, y, sample_weight):
        """Check a row source given to ``fit`` and take its feature names."""
        if y is not None or sample_weight is not None:
            raise ValueError("with a row source, y and sample_weight come from the source")
        if self.formula is not None and not getattr(self, "_dask_formula_applied", False):
            raise ValueError("a row source names its columns itself; set formula=None")
        self._dask_formula_applied = False
        if source.fit_intercept != self.fit_intercept:
            raise ValueError(
                f"the source was built with fit_intercept={source.fit_intercept} but the "
                f"estimator has fit_intercept={self.fit_intercept}"
            )
        names = response_names(self.family)
        columns = getattr(source, "y_columns", None)
        if names is not None and columns is not None and list(columns) != list(names):
            raise ValueError(f"the row source's responses are {list(columns)}, not the "
                             f"family's responses {list(names)}: pass y={list(names)} to "
                             "the source")
        if names is None and columns is not None and len(columns) > 1:
            raise ValueError(f"the row source has several responses {list(columns)}: give "
                             "each its family (family={name: family, ...})")
        if (getattr(source, "y_column", "") is None and not columns
                and not getattr(source, "limit_columns", None)):
            raise ValueError("the row source has no response column")
        self.n_features_in_ = source.n_features
        self.feature_names_in_ = np.asarray(source.x_columns, dtype=object)
        return source

    def _design(self, X) -> np.ndarray:
        """The numeric design (n, n_features) of new data."""
        return self._validate_Xy(X, None, None, reset=False, require_y=False)[0]

    def _design_and_response(self, X, y, sample_weight=None):
        """The numeric design (n, n_features), response and weights of new data."""
        return self._validate_Xy(X, y, sample_weight, reset=False)

    def _eval_rows(self, X, y, sample_weight, offset, trials, require_y: bool = True,
                   concomitant=None, groups=None) -> Rows:
        """Validated rows of new data, with the offset and concomitant variables the
        model needs."""
        check_is_fitted(self)
        rows = self._rows(X, y, sample_weight, offset, trials, self.family_,
                          require_y=require_y, concomitant=concomitant, groups=groups)
        if rows.offset is None and self.state_.fit_offset and self.formula is None:
            raise ValueError("the model was fitted with an offset: pass offset= for these "
                             "rows (zeros if it does not apply)")
        return rows

    def _eval_source(self, rows: Rows, allowed=None) -> ArrayData:
        """The validated rows as a row source in user units; ``allowed``, the known
        labels' (n, K) mask of each row's possible components."""
        return ArrayData(rows.X, rows.y, rows.w, fit_intercept=self.fit_intercept,
                         standardize=False, offset=rows.offset, trials=rows.trials, Z=rows.Z,
                         groups=rows.groups, allowed=allowed, limits=rows.limits)


# A concomitant variable looks like a group identifier when it has at least this many
# levels (whole numbers or strings) and more than a fifth as many levels as values or
# fewer than IDENTIFIER_ROWS values per level at the median.
IDENTIFIER_LEVELS = 10
IDENTIFIER_ROWS = 5


def identifier_levels(values) -> str | None:
    """What makes ``values`` look like a group identifier, or None.

    Strings (or categories) and whole numbers that fill at least half of their range
    (codes, not measurements that happen to be whole) look like an identifier when
    they have at least :data:`IDENTIFIER_LEVELS` levels and more than one level per five
    values, or fewer than :data:`IDENTIFIER_ROWS` values per level at the median.
    Missing values are left out.

    Examples
    --------
    >>> identifier_levels(np.repeat(np.arange(100), 2))
    '100 distinct whole numbers, 2 rows each at the median'
    >>> identifier_levels(np.random.default_rng(0).normal(size=200)) is None
    True
    """
    series = pd.Series(np.asarray(values) if not isinstance(values, pd.Series) else values)
    series = series.dropna()
    if pd.api.types.is_bool_dtype(series) or series.empty:
        return None
    kind = "values"
    numeric = pd.api.types.is_numeric_dtype(series)
    if numeric:  # (measurements that are not whole numbers, before counting levels)
        v = series.to_numpy(dtype=np.float64)
        if np.any(v != np.round(v)):
            return None
    counts = series.value_counts()
    levels = len(counts)
    if numeric:
        with np.errstate(over="ignore"):  # a range beyond float64 is not codes
            span = np.ptp(v) + 1.0 if np.all(np.isfinite(v)) else np.inf
        if levels < 0.5 * span:
            return None
        kind = "whole numbers"
    if levels < IDENTIFIER_LEVELS:
        return None
    median = float(np.median(counts.to_numpy()))
    if levels > series.size / 5 or median < IDENTIFIER_ROWS:
        return f"{levels} distinct {kind}, {median:g} rows each at the median"
    return None


def _check_formula_first(formula: str, data) -> None:
    """Check the whole formula (gating part and offsets included) against the columns
    of ``data`` (a pandas or dask data frame, or a mapping of columns) before any of it
    is evaluated; other data are refused later by the formula design."""
    columns = getattr(data, "columns", None)
    if columns is None and isinstance(data, Mapping):
        columns = list(data)
    if columns is not None:
        check_formula(formula, [str(c) for c in columns])
