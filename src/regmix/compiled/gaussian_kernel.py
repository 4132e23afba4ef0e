"""Fused compiled E-step for Gaussian components: one read of the rows, many threads.

:func:`gaussian_e_step` computes, for rows held in memory, what the data pass
(:func:`regmix.engine.passes.e_step_pass` with
:class:`regmix.families.gaussian.Gaussian`) computes: the weighted log-likelihood, the
summed weighted responsibilities ``N_k`` and the statistics
``(X'R_kX, X'R_k e_k, e_k'R_k e_k)``, in the internal (standardised) units. Every row is
read once and standardised on the fly; no standardised copy of the design is made.

Layout of the computation:

* The rows are cut into blocks of ``block_size`` rows. Blocks run in parallel: each of
  the threads (numba ``prange`` over the threads) claims the next block by an atomic
  counter until none is left, so that a thread that another process holds up takes
  fewer blocks instead of holding up the pass; each block writes its sums into its own
  slot, and the slots are added in block order afterwards. The result depends on
  ``block_size`` but not on the number of threads or on which thread took which block,
  and it is deterministic. A pass runs on one thread per
  :data:`~regmix.compiled.helpers.MIN_ROWS_PER_THREAD` rows at most
  (:func:`~regmix.compiled.helpers.on_threads`).
* A block is processed tile by tile (``_TILE`` rows). Each per-row quantity of a tile
  (standardised design, residuals, log-densities, responsibilities) lives in a short
  contiguous buffer, so that every loop over rows vectorises.
* Every sum over the rows ``t`` of a tile (``sum_t u_t v_t Y_rt`` for one to eight rows
  ``r`` of a tile buffer ``Y``) is computed by a small LLVM intrinsic in eight independent
  lanes (lane ``l`` takes rows ``l, l + 8, ...``, each term added by a fused multiply-add)
  that are then added pairwise; rows past the last multiple of eight are added one by
  one, and the tile's sum is added to the block's. With up to seven design columns a
  component's statistics take two such sweeps (the upper triangle of ``X'R_kX``; then
  ``X'R_k e_k``, ``e_k'R_k e_k`` and ``N_k``), with one vector accumulator per entry and
  each entry's arithmetic unchanged. The order of every floating-point
  operation is fixed by the code (no fast-math, no contraction or reassociation by the
  compiler; fused multiply-adds only where the code asks for ``llvm.fma``, which rounds
  once on every machine), so the result does not depend on the vector width the
  compiler picks either.
* A C-ordered ``X`` is standardised into the tile's column buffers eight rows at a time,
  each column's eight values loaded one by one into a vector: left to itself the
  compiler would gather them, and vector gathers are slow on many CPUs.
* ``exp`` and ``log`` are evaluated in plain IEEE arithmetic (a Taylor / atanh series
  after an exact range reduction, within two units in the last place) rather than by the
  C library, so that they vectorise too (``exp`` eight lanes at a time in an intrinsic,
  its polynomial by fused multiply-adds).
* Without sample weights only the sum of the rows' ``log(sum_k exp(...))`` is needed:
  it is taken as the log of per-lane products of the sums (each in ``[1, K]``, at most
  ``_TILE / _LANES`` per product), one ``log`` per lane and tile instead of one per row.

Student-t components (:class:`GaussianSums` with ``df``) take the same pass with their
own rows (``_student_rows``): the t log-densities, the scale weights ``u`` in the
weights ``r u`` of ``A``, ``b`` and ``c``, the sums of ``r`` and of the first two
derivatives of the log-density in ``log df``, as
:meth:`regmix.families.student_t.StudentT.statistics` computes them (``log1p`` from the
kernel's ``log``, one division per row).

Grouped rows (``group_starts``: all rows of a group share one membership, as flexmix's
``| g`` has them) take the same pass in blocks that end on group boundaries
(:func:`block_bounds`) and tiles that hold whole groups (a block whose largest group is
longer than ``_TILE`` rows takes tiles of that group's length): the rows' log-densities,
without the log weights, are summed per group with the row weights, the group's log
weights (with gating, its first row's) are added, and the group's posterior
(``_group_rows``) is each of its rows' responsibility in the sums, which are thus the
ungrouped pass's; the log-likelihood, the classification and the gating sums are per
group, and the groups' posteriors, the statistics of the mixing weights, are summed too
(:func:`regmix.engine.passes.observation_posteriors` is the numpy pass's rule).

numba is imported only when the kernel is first needed. The compiled code is cached on
disk (``cache=True``): in ``__pycache__`` next to this file when that is writable,
otherwise in numba's user-wide cache directory (or ``NUMBA_CACHE_DIR``); editing this file
invalidates it.
"""

from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import numpy as np

from regmix.compiled.helpers import (
    CompiledOnce,
    on_threads,
    read_only,
    symmetric_from_packed,
    upper_indices,
)

_LOG_2PI = float(np.log(2.0 * np.pi))

# (entering np.errstate costs more than a small pass's arithmetic: only where needed)
_NO_CONTEXT = contextlib.nullcontext()

# Rows per block of the E-step pass: small enough that the few blocks of a subsample
# (about 20,000 rows when starts are screened) still split evenly across the threads;
# large enough that the per-block set-up is negligible.
E_STEP_BLOCK_SIZE = 2048


# Rows per tile: the tile buffers (about 20 rows of _TILE doubles) fit in a 48 KB L1 cache.
_TILE = 256


# Designs up to this many columns take a component's statistics in two sweeps over a
# tile, the first for the upper triangle of X'R_kX (p (p + 1) / 2 vector accumulators:
# 28 of the 32 AVX-512 registers at p = 7). With AVX2 an eight-lane accumulator takes two
# of the 16 registers, and from p = 3 the accumulators spill to the stack: the same
# bits, somewhat slower (docs/benchmarks.md).
_GRAM_MAX = 7


# Lanes of the dot-product intrinsic (one AVX-512 register, two AVX2 registers).
_LANES = 8


# exp: valid arguments, log2(e), log(2) as a high part with trailing zero bits plus a low
# part, and the Taylor coefficients 1/k!.
_EXP_MIN = -745.2


_EXP_MAX = 709.782712893384


_LOG2E = 1.4426950408889634


_LN2_HI = 6.93147180369123816490e-01


_LN2_LO = 1.90821492927058770002e-10


_E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (
    1.0 / math.factorial(k) for k in range(3, 14)
)


# log: smallest normal number, 2^54, sqrt(2) and the atanh coefficients 2 / (2 m + 1).
_DBL_MIN = 2.2250738585072014e-308


_TWO54 = 18014398509481984.0


_SQRT2 = math.sqrt(2.0)


_L1, _L2, _L3, _L4, _L5, _L6, _L7, _L8, _L9, _L10 = (2.0 / (2 * m + 1) for m in range(1, 11))










def _build() -> SimpleNamespace:
    """Define the compiled functions (compiled, or loaded from numba's on-disk cache, on
    first call); numba is imported here and nowhere else.

    The helpers that compiled code calls are bound as module globals, not as closure
    variables: numba keys its on-disk cache on the pickled closure of a function, and the
    pickle of an intrinsic or a dispatcher differs between processes.
    """
    global _as_float, _as_int, _accumulate, _log, _exp_rows, _prange, _block, _standardise_rows
    global _dots1, _dots2, _dots3, _dots4, _dots5, _dots6, _dots7, _dots8, _component_sums
    global _gram1, _gram2, _gram3, _gram4, _gram5, _gram6, _gram7
    global _standardise_tile, _given_rows, _sum_of_logs, _claim, _student_rows
    global _classify_rows, _linear_rows, _gating_rows, _gating_sums, _add_rows, _row_maxima
    global _exp_below_max
    global _block_slots, _add_slots
    global _group_rows, _group_gating, _tile_size, _tile_end, _group_buffers, _group_start
    import numba
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    _prange = numba.prange

    @intrinsic
    def _claim(typingctx, counter):
        # The value of counter[0] before adding one to it, atomically: the next block for
        # the thread that asks (blocks are claimed one at a time, in any order).
        if not (is_array(counter, 1) and counter.dtype == types.int64):
            return None

        def codegen(context, builder, signature, args):
            a = context.make_array(signature.args[0])(context, builder, args[0])
            return builder.atomic_rmw("add", a.data, ir.Constant(ir.IntType(64), 1),
                                      "monotonic")

        return types.int64(counter), codegen

    @intrinsic
    def _as_float(typingctx, bits):
        # The bits of an int64 as a float64.
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen

    @intrinsic
    def _as_int(typingctx, x):
        # The bits of a float64 as an int64.
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))

        return types.int64(types.float64), codegen

    def is_array(a, ndim):
        return isinstance(a, types.Array) and a.ndim == ndim and a.layout == "C"

    def _fma_function(builder, vec):
        # llvm.fma on _LANES lanes: a * b + c rounded once, on every machine.
        return cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{_LANES}f64"
        )

    def emit_sums(context, builder, terms, m, acc_arg, acc_type, q):
        # For each term (u, v, rows) in order and each row Y of its rows in order:
        #     acc[q + slot] += sum_{t < m} (u[t] v[t]) Y[t]   (slot = 0, 1, ... in turn)
        # with u, v and the rows pointers to doubles. The sum over the rows below the
        # last multiple of _LANES is taken in _LANES vector lanes (one fused multiply-add
        # per term) that are then added pairwise, the remaining rows added one by one
        # after. All sums are taken in one sweep over t.
        i32, i64 = ir.IntType(32), ir.IntType(64)
        vec = ir.VectorType(ir.DoubleType(), _LANES)
        pvec = vec.as_pointer()
        pdbl = ir.DoubleType().as_pointer()
        n8 = builder.and_(m, ir.Constant(i64, -_LANES))
        n_slots = sum(len(rows) for _, _, rows in terms)
        accs = [cgutils.alloca_once_value(builder, ir.Constant(vec, None))
                for _ in range(n_slots)]

        def load(ptr, i, ty):
            return builder.load(builder.bitcast(builder.gep(ptr, [i]), ty), align=8)

        fma = _fma_function(builder, vec)
        step = ir.Constant(i64, _LANES)
        with cgutils.for_range_slice(builder, ir.Constant(i64, 0), n8, step) as (i, _):
            slot = 0
            for u, v, rows in terms:
                x = builder.fmul(load(u, i, pvec), load(v, i, pvec))
                for row in rows:
                    total = builder.call(fma, [x, load(row, i, pvec), builder.load(accs[slot])])
                    builder.store(total, accs[slot])
                    slot += 1
        sums = []
        for a in accs:
            v = builder.load(a)
            e = [builder.extract_element(v, ir.Constant(i32, j)) for j in range(_LANES)]
            while len(e) > 1:
                e = [builder.fadd(e[2 * h], e[2 * h + 1]) for h in range(len(e) // 2)]
            sums.append(cgutils.alloca_once_value(builder, e[0]))
        with cgutils.for_range_slice(builder, n8, m, ir.Constant(i64, 1)) as (i, _):
            slot = 0
            for u, v, rows in terms:
                x = builder.fmul(load(u, i, pdbl), load(v, i, pdbl))
                for row in rows:
                    total = builder.fma(x, load(row, i, pdbl), builder.load(sums[slot]))
                    builder.store(total, sums[slot])
                    slot += 1
        acc_a = context.make_array(acc_type)(context, builder, acc_arg)
        for slot in range(n_slots):
            target = builder.gep(acc_a.data, [builder.add(q, ir.Constant(i64, slot))])
            builder.store(builder.fadd(builder.load(target), builder.load(sums[slot])), target)

    def row_pointer(builder, array, r):
        # A pointer to the first double of row r of a C-contiguous 2-D array.
        i64 = ir.IntType(64)
        stride = builder.ashr(cgutils.unpack_tuple(builder, array.strides, 2)[0],
                              ir.Constant(i64, 3))
        return builder.gep(array.data, [builder.mul(r, stride)])

    def make_dots(n_rows):
        # dots(u, v, Y, row0, m, acc, q): for r < n_rows,
        #     acc[q + r] += sum_{t < m} (u[t] v[t]) Y[row0 + r, t]
        # (the arithmetic of emit_sums).
        @intrinsic
        def dots(typingctx, u, v, Y, row0, m, acc, q):
            if not (is_array(u, 1) and is_array(v, 1) and is_array(Y, 2) and is_array(acc, 1)):
                return None
            sig = types.none(u, v, Y, types.int64, types.int64, acc, types.int64)

            def codegen(context, builder, signature, args):
                uv, vv, yv, r0, mv, av, q = args
                ua = context.make_array(signature.args[0])(context, builder, uv)
                va = context.make_array(signature.args[1])(context, builder, vv)
                ya = context.make_array(signature.args[2])(context, builder, yv)
                i64 = ir.IntType(64)
                rows = [row_pointer(builder, ya, builder.add(r0, ir.Constant(i64, r)))
                        for r in range(n_rows)]
                emit_sums(context, builder, [(ua.data, va.data, rows)], mv, av,
                          signature.args[5], q)
                return context.get_dummy_value()

            return sig, codegen

        return dots

    def make_gram(p):
        # gram(Z, v, e, one, m, acc, q): one component's sums over t < m, laid out from
        # acc[q] as in _block: the upper triangle of sum_t v[t] Z[:, t] Z[:, t]' by rows
        # (acc[q + slot] += sum_t (Z[j, t] v[t]) Z[l, t] for j <= l < p), then
        # b_j = sum_t (e[t] v[t]) Z[j, t], c = sum_t (e[t] v[t]) e[t] and
        # N = sum_t (v[t] one[t]) one[t] (one holding ones): the sums that
        # _accumulate gives, bit for bit, in two sweeps over t instead of p + 3.
        @intrinsic
        def gram(typingctx, Z, v, e, one, m, acc, q):
            if not (is_array(Z, 2) and is_array(v, 1) and is_array(e, 1)
                    and is_array(one, 1) and is_array(acc, 1)):
                return None
            sig = types.none(Z, v, e, one, types.int64, acc, types.int64)

            def codegen(context, builder, signature, args):
                zv, vv, ev, ov, mv, av, q = args
                za = context.make_array(signature.args[0])(context, builder, zv)
                v, e, one = (context.make_array(signature.args[i])(context, builder, a).data
                             for i, a in ((1, vv), (2, ev), (3, ov)))
                i64 = ir.IntType(64)
                rows = [row_pointer(builder, za, ir.Constant(i64, r)) for r in range(p)]
                acc_type = signature.args[5]
                emit_sums(context, builder, [(rows[j], v, rows[j:]) for j in range(p)], mv,
                          av, acc_type, q)
                q_b = builder.add(q, ir.Constant(i64, p * (p + 1) // 2))
                emit_sums(context, builder, [(e, v, [*rows, e]), (v, one, [one])], mv, av,
                          acc_type, q_b)
                return context.get_dummy_value()

            return sig, codegen

        return gram

    _dots1, _dots2, _dots3, _dots4, _dots5, _dots6, _dots7, _dots8 = (
        make_dots(r) for r in range(1, 9)
    )
    _gram1, _gram2, _gram3, _gram4, _gram5, _gram6, _gram7 = (
        make_gram(p) for p in range(1, _GRAM_MAX + 1)
    )

    def vector_exp(builder, x):
        # exp of each lane of x: x = n log 2 + r with |r| <= log(2) / 2 (Cody-Waite), exp(r)
        # by its Taylor series to degree 13 (truncation error below 1e-17), times 2^n as two
        # exact powers of two built from their bits; 0, inf and NaN outside the range.
        vec = x.type
        i64v = ir.VectorType(ir.IntType(64), _LANES)

        def splat(value, ty=vec):
            return ir.Constant(ty, [value] * _LANES)

        floor = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec]), f"llvm.floor.v{_LANES}f64"
        )
        inside = builder.and_(
            builder.fcmp_ordered(">=", x, splat(_EXP_MIN)),
            builder.fcmp_ordered("<=", x, splat(_EXP_MAX)),
        )
        xc = builder.select(inside, x, splat(0.0))
        nf = builder.call(floor, [builder.fadd(builder.fmul(xc, splat(_LOG2E)), splat(0.5))])
        r = builder.fsub(
            builder.fsub(xc, builder.fmul(nf, splat(_LN2_HI))), builder.fmul(nf, splat(_LN2_LO))
        )
        fma = _fma_function(builder, vec)
        s = splat(_E13)
        for coefficient in (_E12, _E11, _E10, _E9, _E8, _E7, _E6, _E5, _E4, _E3, 0.5, 1.0, 1.0):
            s = builder.call(fma, [r, s, splat(coefficient)])
        n = builder.fptosi(nf, i64v)
        h = builder.ashr(n, splat(1, i64v))
        bias, shift = splat(1023, i64v), splat(52, i64v)
        f1 = builder.bitcast(builder.shl(builder.add(h, bias), shift), vec)
        f2 = builder.bitcast(builder.shl(builder.add(builder.sub(n, h), bias), shift), vec)
        s = builder.fmul(builder.fmul(s, f1), f2)
        s = builder.select(builder.fcmp_ordered("<", x, splat(_EXP_MIN)), splat(0.0), s)
        s = builder.select(builder.fcmp_ordered(">", x, splat(_EXP_MAX)), splat(math.inf), s)
        return builder.select(builder.fcmp_unordered("uno", x, x), x, s)

    @intrinsic
    def _exp_rows(typingctx, D, mx, total, m):
        # D[k, t] = exp(D[k, t] - mx[t]) and total[t] = D[0, t] + D[1, t] + ... for t below
        # m rounded up to a multiple of _LANES (the buffers are that long), _LANES rows at
        # a time.
        if not (is_array(D, 2) and is_array(mx, 1) and is_array(total, 1)):
            return None
        sig = types.none(D, mx, total, types.int64)

        def codegen(context, builder, signature, args):
            dv, mv, tv, m = args
            da = context.make_array(signature.args[0])(context, builder, dv)
            ma = context.make_array(signature.args[1])(context, builder, mv)
            ta = context.make_array(signature.args[2])(context, builder, tv)
            i64 = ir.IntType(64)
            vec = ir.VectorType(ir.DoubleType(), _LANES)
            pvec = vec.as_pointer()
            n_comp = cgutils.unpack_tuple(builder, da.shape, 2)[0]
            stride = cgutils.unpack_tuple(builder, da.strides, 2)[0]
            row_stride = builder.ashr(stride, ir.Constant(i64, 3))
            stop = builder.and_(
                builder.add(m, ir.Constant(i64, _LANES - 1)), ir.Constant(i64, -_LANES)
            )

            def ptr(base, i):
                return builder.bitcast(builder.gep(base, [i]), pvec)

            step = ir.Constant(i64, _LANES)
            with cgutils.for_range_slice(builder, ir.Constant(i64, 0), stop, step) as (t, _):
                top = builder.load(ptr(ma.data, t), align=8)
                total = cgutils.alloca_once_value(builder, ir.Constant(vec, None))
                with cgutils.for_range(builder, n_comp) as loop:
                    p = ptr(da.data, builder.add(builder.mul(loop.index, row_stride), t))
                    e = vector_exp(builder, builder.fsub(builder.load(p, align=8), top))
                    builder.store(e, p, align=8)
                    builder.store(builder.fadd(builder.load(total), e), total)
                builder.store(builder.load(total), ptr(ta.data, t), align=8)
            return context.get_dummy_value()

        return sig, codegen

    @intrinsic
    def _standardise_rows(typingctx, X, t0, m, loc, inv, Z, off):
        # Z[off + j, t] = (X[t0 + t, j] - loc[j]) * inv[j] for t < m, j < d, with X a
        # C-ordered (n, d) array: _LANES rows at a time, each column's _LANES values
        # loaded one by one into a vector (the compiler would otherwise gather them,
        # which is slow on many CPUs), the remaining rows one by one.
        if not (is_array(X, 2) and is_array(loc, 1) and is_array(inv, 1) and is_array(Z, 2)):
            return None
        sig = types.none(X, types.int64, types.int64, loc, inv, Z, types.int64)

        def codegen(context, builder, signature, args):
            xv, t0, m, lv, iv, zv, off = args
            xa = context.make_array(signature.args[0])(context, builder, xv)
            la = context.make_array(signature.args[3])(context, builder, lv)
            ia = context.make_array(signature.args[4])(context, builder, iv)
            za = context.make_array(signature.args[5])(context, builder, zv)
            i32, i64 = ir.IntType(32), ir.IntType(64)
            vec = ir.VectorType(ir.DoubleType(), _LANES)
            d = cgutils.unpack_tuple(builder, xa.shape, 2)[1]
            n8 = builder.and_(m, ir.Constant(i64, -_LANES))

            def x_at(t, j):  # X[t0 + t, j]
                row = builder.mul(builder.add(t0, t), d)
                return builder.load(builder.gep(xa.data, [builder.add(row, j)]))

            def z_ptr(j, t):  # &Z[off + j, t]
                return builder.gep(row_pointer(builder, za, builder.add(off, j)), [t])

            with cgutils.for_range(builder, d) as col:
                j = col.index
                lj = builder.load(builder.gep(la.data, [j]))
                ij = builder.load(builder.gep(ia.data, [j]))
                lv8, iv8 = ir.Constant(vec, None), ir.Constant(vec, None)
                for lane in range(_LANES):
                    lv8 = builder.insert_element(lv8, lj, ir.Constant(i32, lane))
                    iv8 = builder.insert_element(iv8, ij, ir.Constant(i32, lane))
                step = ir.Constant(i64, _LANES)
                with cgutils.for_range_slice(builder, ir.Constant(i64, 0), n8, step) as (t, _):
                    v = ir.Constant(vec, None)
                    for lane in range(_LANES):
                        x = x_at(builder.add(t, ir.Constant(i64, lane)), j)
                        v = builder.insert_element(v, x, ir.Constant(i32, lane))
                    z = builder.fmul(builder.fsub(v, lv8), iv8)
                    builder.store(z, builder.bitcast(z_ptr(j, t), vec.as_pointer()), align=8)
                with cgutils.for_range_slice(builder, n8, m, ir.Constant(i64, 1)) as (t, _):
                    z = builder.fmul(builder.fsub(x_at(t, j), lj), ij)
                    builder.store(z, z_ptr(j, t))
            return context.get_dummy_value()

        return sig, codegen

    jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")

    @jit
    def _accumulate(u, v, Y, row0, n_rows, m, acc, q0):  # pragma: no cover - compiled
        # acc[q0 + r] += sum_{t < m} (u[t] v[t]) Y[row0 + r, t] for r < n_rows, eight rows
        # of Y per sweep over u and v.
        r = 0
        while r < n_rows:
            g = min(n_rows - r, 8)
            if g == 8:
                _dots8(u, v, Y, row0 + r, m, acc, q0 + r)
            elif g == 7:
                _dots7(u, v, Y, row0 + r, m, acc, q0 + r)
            elif g == 6:
                _dots6(u, v, Y, row0 + r, m, acc, q0 + r)
            elif g == 5:
                _dots5(u, v, Y, row0 + r, m, acc, q0 + r)
            elif g == 4:
                _dots4(u, v, Y, row0 + r, m, acc, q0 + r)
            elif g == 3:
                _dots3(u, v, Y, row0 + r, m, acc, q0 + r)
            elif g == 2:
                _dots2(u, v, Y, row0 + r, m, acc, q0 + r)
            else:
                _dots1(u, v, Y, row0 + r, m, acc, q0 + r)
            r += g

    @jit
    def _component_sums(Z, v, E, k, ones2, p, m, acc, q):  # pragma: no cover - compiled
        # One component's sums from acc[q] (see make_gram, with e = E[k] and ones2 a row
        # of ones): in two sweeps for p <= _GRAM_MAX, else in p + 3 (the same bits).
        e = E[k]
        one = ones2[0]
        if p == 1:
            _gram1(Z, v, e, one, m, acc, q)
        elif p == 2:
            _gram2(Z, v, e, one, m, acc, q)
        elif p == 3:
            _gram3(Z, v, e, one, m, acc, q)
        elif p == 4:
            _gram4(Z, v, e, one, m, acc, q)
        elif p == 5:
            _gram5(Z, v, e, one, m, acc, q)
        elif p == 6:
            _gram6(Z, v, e, one, m, acc, q)
        elif p == 7:
            _gram7(Z, v, e, one, m, acc, q)
        else:
            P = p * (p + 1) // 2
            _accumulate(v, one, ones2, 0, 1, m, acc, q + P + p + 1)
            _accumulate(e, v, E, k, 1, m, acc, q + P + p)
            _accumulate(e, v, Z, 0, p, m, acc, q + P)
            for j in range(p):
                _accumulate(Z[j], v, Z, j, p - j, m, acc, q)
                q += p - j

    @jit
    def _standardise_tile(X, by_row, t0, m, x_loc, x_inv, Z, off):  # pragma: no cover
        # Z[off + j, t] = (x - x_loc[j]) * x_inv[j] for the rows t0..t0+m-1 of X (by_row)
        # or of the columns of X (the transpose of a Fortran-ordered design).
        if by_row:
            _standardise_rows(X, t0, m, x_loc, x_inv, Z, off)
            return
        for j in range(X.shape[0]):
            zj = Z[off + j]
            lj = x_loc[j]
            ij = x_inv[j]
            xj = X[j]
            for t in range(m):
                zj[t] = (xj[t0 + t] - lj) * ij

    @jit
    def _sum_of_logs(s, m, prods):  # pragma: no cover - compiled
        # sum_{t < m} log s[t] for s[t] in [1, K]: the log of the products in _LANES
        # lanes of at most _TILE / _LANES rows each (lane l takes rows l, l + _LANES, ...),
        # one log per lane; prods is a buffer of _LANES doubles.
        for lane in range(_LANES):
            prods[lane] = 1.0
        m8 = m - m % _LANES
        for t8 in range(0, m8, _LANES):
            for lane in range(_LANES):
                prods[lane] *= s[t8 + lane]
        for t in range(m8, m):
            prods[t - m8] *= s[t]
        logs = 0.0
        for lane in range(_LANES):
            logs += _log(prods[lane])
        return logs

    @jit
    def _classify_rows(D, tot, wt, m, acc, q):  # pragma: no cover - compiled
        # The classification sums of a tile's rows, from the scaled densities D[k, t]
        # and the inverse of their sum tot[t] (posterior r_k = D[k, t] tot[t]), each row
        # of weight w > 0 adding to acc from q: w to the count of its first component of
        # largest posterior (K entries), w r to that component's row of the table (K by
        # K), -w sum_k r_k log r_k (0 log 0 = 0) and w log max_k r_k.
        K = D.shape[0]
        for t in range(m):
            wi = wt[t]
            if not wi > 0.0:
                continue
            it = tot[t]
            best = D[0, t] * it
            arg = 0
            ent = 0.0
            for k in range(K):
                rk = D[k, t] * it
                if rk > best:
                    best = rk
                    arg = k
                if rk > 0.0:
                    ent -= rk * math.log(rk)
            acc[q + arg] += wi
            row = q + K + arg * K
            for k in range(K):
                acc[row + k] += (D[k, t] * it) * wi
            acc[q + K + K * K] += ent * wi
            acc[q + K + K * K + 1] += wi * math.log(best)

    @jit
    def _add_rows(D, L, m):  # pragma: no cover - compiled
        # D[k, t] += L[k, t] for the tile's rows.
        for k in range(D.shape[0]):
            dk = D[k]
            lk = L[k]
            for t in range(m):
                dk[t] += lk[t]

    @jit
    def _row_maxima(D, mx, m):  # pragma: no cover - compiled
        # mx[t] = max_k D[k, t] for the tile's rows.
        d0 = D[0]
        for t in range(m):
            mx[t] = d0[t]
        for k in range(1, D.shape[0]):
            dk = D[k]
            for t in range(m):
                v = dk[t]
                mx[t] = v if v > mx[t] else mx[t]

    @jit
    def _exp_below_max(D, mx, tot, m):  # pragma: no cover - compiled
        # The first half of a log-sum-exp over the tile's rows, from their maxima mx: mx
        # made 0 where infinite, D[k, t] = exp(D[k, t] - mx[t]) (the vector exp) and
        # tot[t] = sum_k D[k, t]; returns whether some row's sum is 0 (no component can
        # produce it).
        for t in range(m):
            v = mx[t]
            mx[t] = v if (v > -np.inf and v < np.inf) else 0.0
        _exp_rows(D, mx, tot, m)
        for t in range(m):
            if tot[t] == 0.0:
                return True
        return False

    @jit
    def _linear_rows(coef, Z, H, m):  # pragma: no cover - compiled
        # H[k, t] = (coef[k, 0] Z[0, t] + coef[k, 1] Z[1, t]) + ... for the tile's rows.
        K, p = coef.shape
        for k in range(K):
            hk = H[k]
            ck = coef[k]
            c0 = ck[0]
            z0 = Z[0]
            for t in range(m):
                hk[t] = c0 * z0[t]
            for j in range(1, p):
                cj = ck[j]
                zj = Z[j]
                for t in range(m):
                    hk[t] += cj * zj[t]

    @jit
    def _gating_rows(gamma, Zt, LW, PI, gm, gs, m):  # pragma: no cover - compiled
        # Per row of the tile the log gating weights LW[k, t] = eta_k - (max + log sum
        # exp(eta - max)) with eta_k = gamma_k' z_t (as core.linalg.log_softmax) and the
        # weights PI = exp(eta - max) / sum (as core.linalg.softmax), by the vector exp.
        K = gamma.shape[0]
        _linear_rows(gamma, Zt, LW, m)
        _row_maxima(LW, gm, m)
        for k in range(K):
            lk = LW[k]
            pk = PI[k]
            for t in range(m):
                pk[t] = lk[t]
        _exp_rows(PI, gm, gs, m)
        for t in range(m):
            gm[t] = gm[t] + _log(gs[t])
            gs[t] = 1.0 / gs[t]
        for k in range(K):
            lk = LW[k]
            pk = PI[k]
            for t in range(m):
                lk[t] = lk[t] - gm[t]
                pk[t] = pk[t] * gs[t]

    @jit
    def _gating_sums(D, PI, wt, Zt, cg, ones, m, acc, q0):  # pragma: no cover - compiled
        # The multinomial-logit statistics of the tile (MultinomialLogitGating.statistics)
        # from acc[q0]: for k = 1..K-1 the gradient sum_t (w r_k - w pi_k) z_t (D holds
        # w r); then for 1 <= k <= j < K the upper triangle, row by row, of
        # sum_t w pi_k (delta_kj - pi_j) z_t z_t'.
        K = D.shape[0]
        q = Zt.shape[0]
        pos = q0
        for k in range(1, K):
            dk = D[k]
            pk = PI[k]
            for t in range(m):
                cg[t] = dk[t] - wt[t] * pk[t]
            _accumulate(cg, ones, Zt, 0, q, m, acc, pos)
            pos += q
        for k in range(1, K):
            pk = PI[k]
            for j in range(k, K):
                pj = PI[j]
                delta = 1.0 if j == k else 0.0
                for t in range(m):
                    cg[t] = (wt[t] * pk[t]) * (delta - pj[t])
                for a in range(q):
                    _accumulate(Zt[a], cg, Zt, a, q - a, m, acc, pos)
                    pos += q - a

    @jit
    def _group_start(firsts, g, g1, stop):  # pragma: no cover - compiled
        # The first row of group g of a block's groups ..g1-1 (first rows firsts), or the
        # block's end stop for g = g1.
        return firsts[g] if g < g1 else stop

    @jit
    def _tile_size(firsts, has_gr, g0, g1, stop):  # pragma: no cover - compiled
        # Rows of a block's tile buffers: _TILE, or for grouped rows (the block's groups
        # g0..g1-1, first rows firsts, ending at row stop) at least the largest group's, in
        # whole _LANES, so that a tile always holds whole groups.
        T = _TILE
        if has_gr:
            for g in range(g0, g1):
                T = max(T, _group_start(firsts, g + 1, g1, stop) - firsts[g])
            T = (T + _LANES - 1) // _LANES * _LANES
        return T

    @jit
    def _tile_end(firsts, has_gr, g, g1, t0, stop, T):  # pragma: no cover - compiled
        # The group after the last whole group of the tile at row t0, which is group g
        # (grouped rows: as many whole groups as T rows hold), else g; and the tile's
        # number of rows (ungrouped rows: min(_TILE, stop - t0)).
        if not has_gr:
            return g, min(_TILE, stop - t0)
        ge = g + 1
        while ge < g1 and _group_start(firsts, ge + 1, g1, stop) - t0 <= T:
            ge += 1
        return ge, _group_start(firsts, ge, g1, stop) - t0

    @jit
    def _group_buffers(K, T, q_g, has_gr, has_g):  # pragma: no cover - compiled
        # The per-group buffers of a tile of T rows (of one column without groups, or
        # without gating for the gating's three): the sums S (K, T), their maxima and
        # the inverse totals; the posteriors, gating weights and gating design; the
        # groups' first rows in the tile and each row's group.
        Tg = T if has_gr else 1
        Tgg = Tg if has_g else 1
        return (np.zeros((K, Tg)), np.zeros(Tg), np.zeros(Tg), np.zeros((K, Tgg)),
                np.zeros((K, Tgg)), np.ones((q_g, Tgg)), np.zeros(Tg + 1, dtype=np.int64),
                np.zeros(Tg, dtype=np.int64))

    @jit
    def _group_rows(D, inv, wt, LW, has_g, glw, firsts, g, ng, t0, m, S, gmx, gtot, lo,
                    gi, prods, acc, q_ll, q_n):  # pragma: no cover - compiled
        # The posteriors of the ng groups g, g + 1, ... of the tile of m rows at row t0
        # (firsts the first rows of the groups; lo takes the tile's own, gi each row's
        # group in the tile), from their rows' log-densities D[k, t] (without log
        # weights), as
        # engine.passes.observation_posteriors takes them: per group S[k, j] = sum_t
        # w_t D[k, t] plus its first row's log weights (LW[k, .] with has_g, else
        # glw[k]); then S = exp(S - max) with the sum's inverse in gtot[j], the groups'
        # log(sum) + max (-inf where no component can produce a group) added to
        # acc[q_ll] (the logs as _sum_of_logs takes them, one per lane, for up to
        # _TILE groups) and their posteriors to acc[q_n + k]; D[k, t] = S[k, j] and
        # inv[t] = gtot[j] for the rows of group j.
        K = D.shape[0]
        for j in range(ng):
            lo[j] = firsts[g + j] - t0
        lo[ng] = m
        for j in range(ng):
            for t in range(lo[j], lo[j + 1]):
                gi[t] = j
        for k in range(K):
            dk = D[k]
            sk = S[k]
            for j in range(ng):
                sk[j] = 0.0
            for t in range(m):
                sk[gi[t]] += wt[t] * dk[t]
            for j in range(ng):
                sk[j] += LW[k, lo[j]] if has_g else glw[k]
        _row_maxima(S, gmx, ng)
        empty = _exp_below_max(S, gmx, gtot, ng)
        ll = 0.0
        if empty or ng > _TILE:
            for j in range(ng):
                s = gtot[j]
                if s == 0.0:  # no component can produce the group
                    ll += -np.inf
                    gtot[j] = 1.0
                else:
                    ll += _log(s) + gmx[j]
        else:
            ll = _sum_of_logs(gtot, ng, prods)
            for j in range(ng):
                ll += gmx[j]
        acc[q_ll] += ll
        for j in range(ng):
            gtot[j] = 1.0 / gtot[j]
        for k in range(K):
            dk = D[k]
            sk = S[k]
            n_k = 0.0
            for j in range(ng):
                n_k += sk[j] * gtot[j]
            for t in range(m):
                dk[t] = sk[gi[t]]
            acc[q_n + k] += n_k
        for t in range(m):
            inv[t] = gtot[gi[t]]

    @jit
    def _group_gating(S, gtot, PI, Zt, firsts, g, ng, t0, R, PIg, Zg, cg, ones, acc,
                      q0):  # pragma: no cover - compiled
        # The gating sums of _gating_sums over the ng groups of the tile (see
        # _group_rows), each an observation of weight one with the posteriors
        # S[k, j] gtot[j] and its first row's gating weights and design.
        for j in range(ng):
            a = firsts[g + j] - t0
            for k in range(S.shape[0]):
                R[k, j] = S[k, j] * gtot[j]
                PIg[k, j] = PI[k, a]
            for c in range(Zt.shape[0]):
                Zg[c, j] = Zt[c, a]
        _gating_sums(R, PIg, ones, Zg, cg, ones, ng, acc, q0)

    @jit
    def _given_rows(R, t0, m, D, total):  # pragma: no cover - compiled
        # D[k, t] = R[t0 + t, k] (given memberships) and total[t] their sum over k.
        for t in range(m):
            total[t] = 0.0
        for k in range(D.shape[0]):
            dk = D[k]
            for t in range(m):
                v = R[t0 + t, k]
                dk[t] = v
                total[t] += v

    @jit
    def _log(x):  # pragma: no cover - compiled
        # x = 2^e f with f in [sqrt(1/2), sqrt(2)) from the bits, log f = 2 atanh(u) with
        # u = (f - 1) / (f + 1) by its odd series (truncation error below 1e-18), plus
        # e log 2 in two parts.
        tiny = x < _DBL_MIN
        xs = x * _TWO54 if tiny else x
        bits = _as_int(xs)
        e = np.float64(((bits >> 52) & 0x7FF) - 1023)
        e = e - 54.0 if tiny else e
        f = _as_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
        big = f >= _SQRT2
        f = f * 0.5 if big else f
        e = e + 1.0 if big else e
        u = (f - 1.0) / (f + 1.0)
        u2 = u * u
        t = _L10
        t = _L9 + u2 * t
        t = _L8 + u2 * t
        t = _L7 + u2 * t
        t = _L6 + u2 * t
        t = _L5 + u2 * t
        t = _L4 + u2 * t
        t = _L3 + u2 * t
        t = _L2 + u2 * t
        t = _L1 + u2 * t
        res = e * _LN2_HI + ((2.0 * u + u * (u2 * t)) + e * _LN2_LO)
        if x == 0.0:
            res = -np.inf
        if x == np.inf:
            res = np.inf
        if not x >= 0.0:
            res = np.nan
        return res

    @jit
    def _block_slots(first, last, block_size, n_acc):  # pragma: no cover - compiled
        # For a pass over the blocks of rows first, first + block_size, ... (the last
        # ending at row last): their number, a slot of n_acc sums for each and the
        # counter from which the threads claim them (_claim).
        n_blocks = (last - first + block_size - 1) // block_size
        return n_blocks, np.zeros((n_blocks, n_acc)), np.zeros(1, dtype=np.int64)

    @jit
    def _add_slots(partial, total):  # pragma: no cover - compiled
        # total += the blocks' sums, one block after the other in block order.
        for blk in range(partial.shape[0]):
            for a in range(partial.shape[1]):
                total[a] += partial[blk, a]

    @jit
    def _block(
        X, by_row, y, w, has_w, x_loc, x_inv, y_loc, y_inv, intercept, coef, const, scale,
        student, tc, R, has_r, classify, Zg, z_by_row, has_g, z_loc, z_inv, gamma, glw, firsts,
        has_gr, grp0, grp1, start, stop, out,
    ):  # pragma: no cover - compiled
        # The sums over rows start..stop-1, written to out (laid out as in kernel below;
        # with has_g, weights multinomial-logit in the gating design as in the GLM
        # kernel's _block (const then without log weights) and the gating sums of
        # _gating_sums after the rest; with classify, the classification sums of
        # _classify_rows after those).
        # With has_gr the rows are the groups grp0..grp1-1 (first rows firsts), each sharing
        # one posterior (_group_rows: const then holds no log weights, glw the constant
        # ones): a tile holds whole groups, the log-likelihood, the classification and
        # the gating sums are per group, and the groups' posteriors are summed after
        # the rest.
        # With has_r the responsibilities are the rows of R divided by their sums
        # instead of the posterior probabilities (no log-likelihood). With student the
        # components are Student-t (constants tc, see GaussianSums): the sums of A, b and
        # c take the weights r u (u the scale weights), and the sums of r and of the
        # log-df derivatives g, h follow the log-likelihood.
        K, p = coef.shape
        off = 1 if intercept else 0
        P = p * (p + 1) // 2
        stride = P + p + 2
        # per component: A, b, c, N; then the log-likelihood; then per component the
        # Student-t sums of r, g and h
        acc = np.zeros(out.shape[0])
        T = _tile_size(firsts, has_gr, grp0, grp1, stop)
        U = np.ones((K, T))  # Student-t: scale weights u, then r u
        G = np.zeros((2 * K, T))  # Student-t: g and h
        Z = np.empty((p, T))  # standardised design, one row per column
        E = np.empty((K, T))  # means, then residuals
        D = np.zeros((K, T))  # log-densities, then densities, then responsibilities
        ll = np.empty((1, T))  # per-row log-likelihood
        yt = np.empty(T)
        wt = np.ones(T)
        ones2 = np.ones((1, T))  # a row of ones, for sums with a unit factor
        ones = ones2[0]
        mx2 = np.zeros((1, T))  # per-row maximum log-density
        mx = mx2[0]
        prods = np.ones(_LANES)
        inv = np.empty(T)
        q_g = gamma.shape[1]
        Zt = np.ones((q_g, T))  # gating design (row 0: ones), log weights, weights
        LW = np.zeros((K, T))
        PI = np.zeros((K, T))
        gm = np.zeros(T)
        gs = np.zeros(T)
        cg = np.zeros(T)
        S, gmx, gtot, RG, PIG, ZG, lo, gi = _group_buffers(K, T, q_g, has_gr, has_g)
        gq = K * stride + 1 + 3 * K  # the gating sums, then the classification sums
        cq = gq + ((K - 1) * q_g + (K - 1) * K // 2 * (q_g * (q_g + 1) // 2) if has_g else 0)
        nq = cq + (K + K * K + 2 if classify else 0)  # the groups' posterior sums
        if intercept:
            Z[0, :] = 1.0
        t0 = start
        grp = grp0
        while t0 < stop:
            grp_end, m = _tile_end(firsts, has_gr, grp, grp1, t0, stop, T)
            ng = grp_end - grp
            _standardise_tile(X, by_row, t0, m, x_loc, x_inv, Z, off)
            if has_g:
                _standardise_tile(Zg, z_by_row, t0, m, z_loc, z_inv, Zt, 1)
                _gating_rows(gamma, Zt, LW, PI, gm, gs, m)
            for t in range(m):
                yt[t] = (y[t0 + t] - y_loc) * y_inv
            if has_w:
                for t in range(m):
                    wt[t] = w[t0 + t]
            # Means ((c_0 z_0 + c_1 z_1) + c_2 z_2) + ..., residuals, log-densities
            # log pi_k - (log sigma_k + log(2 pi) / 2) - (e sqrt(1/2) / sigma_k)^2 and
            # their maximum over the components.
            for k in range(K):
                ek = E[k]
                ck = coef[k]
                z0 = Z[0]
                c0 = ck[0]
                if p == 1:
                    for t in range(m):
                        ek[t] = c0 * z0[t]
                else:
                    z1 = Z[1]
                    c1 = ck[1]
                    for t in range(m):
                        ek[t] = c0 * z0[t] + c1 * z1[t]
                j = 2
                while j + 1 < p:
                    z0 = Z[j]
                    z1 = Z[j + 1]
                    c0 = ck[j]
                    c1 = ck[j + 1]
                    for t in range(m):
                        ek[t] = (ek[t] + c0 * z0[t]) + c1 * z1[t]
                    j += 2
                if j < p:
                    z0 = Z[j]
                    c0 = ck[j]
                    for t in range(m):
                        ek[t] = ek[t] + c0 * z0[t]
                dk = D[k]
                lk = const[k]
                sk = scale[k]
                if student:
                    _student_rows(yt, ek, dk, U[k], G, k, tc[k], lk, m)
                    if k == 0:
                        for t in range(m):
                            mx[t] = dk[t]
                    else:
                        for t in range(m):
                            v = dk[t]
                            mx[t] = v if v > mx[t] else mx[t]
                elif k == 0:
                    for t in range(m):
                        e = yt[t] - ek[t]
                        ek[t] = e
                        v = e * sk
                        v = lk - v * v
                        dk[t] = v
                        mx[t] = v
                else:
                    for t in range(m):
                        e = yt[t] - ek[t]
                        ek[t] = e
                        v = e * sk
                        v = lk - v * v
                        dk[t] = v
                        mx[t] = v if v > mx[t] else mx[t]
            if has_g and not has_gr:  # the rows' own log weights, and the maxima again
                _add_rows(D, LW, m)
                _row_maxima(D, mx, m)
            if has_r:
                _given_rows(R, t0, m, D, inv)
                for t in range(m):
                    inv[t] = 1.0 / inv[t]
            elif has_gr:
                _group_rows(D, inv, wt, LW, has_g, glw, firsts, grp, ng, t0, m, S, gmx, gtot,
                            lo, gi, prods, acc, K * stride, nq)
                if classify:
                    _classify_rows(S, gtot, ones, ng, acc, cq)
            else:
                # Log-sum-exp with the row maximum subtracted (zero when it is infinite).
                _exp_below_max(D, mx, inv, m)
                # The log-likelihood of a row is log(sum) + max.
                if has_w:
                    ll0 = ll[0]
                    for t in range(m):
                        s = inv[t]
                        ll0[t] = _log(s) + mx[t]
                        inv[t] = 1.0 / s
                    _accumulate(wt, ones, ll, 0, 1, m, acc, K * stride)
                else:
                    # Unweighted rows need only the sum of the logs: the log of the
                    # products of the sums (each in [1, K]) in _LANES lanes of at most
                    # _TILE / _LANES rows each, one log per lane instead of one per row.
                    logs = _sum_of_logs(inv, m, prods)
                    for t in range(m):
                        inv[t] = 1.0 / inv[t]
                    _accumulate(ones, ones, mx2, 0, 1, m, acc, K * stride)
                    acc[K * stride] += logs
                if classify:
                    _classify_rows(D, inv, wt, m, acc, cq)
            for k in range(K):
                dk = D[k]
                base = k * stride
                # Weighted responsibilities r = (density / sum) * w; N = sum r,
                # c = sum (e r) e, b_j = sum (e r) z_j and the upper triangle of A by
                # rows, A_jl = sum (z_j r) z_l for l >= j.
                for t in range(m):
                    dk[t] = (dk[t] * inv[t]) * wt[t]
                if student:
                    uk = U[k]
                    for t in range(m):
                        uk[t] = dk[t] * uk[t]
                    _component_sums(Z, uk, E, k, ones2, p, m, acc, base)
                    q = K * stride + 1 + 3 * k
                    _accumulate(dk, ones, ones2, 0, 1, m, acc, q)
                    _accumulate(dk, ones, G, 2 * k, 2, m, acc, q + 1)
                else:
                    _component_sums(Z, dk, E, k, ones2, p, m, acc, base)
            if has_g and has_gr:
                _group_gating(S, gtot, PI, Zt, firsts, grp, ng, t0, RG, PIG, ZG, cg, ones, acc, gq)
            elif has_g:
                _gating_sums(D, PI, wt, Zt, cg, ones, m, acc, gq)
            t0 += m
            grp = grp_end
        out[:] = acc

    @jit
    def _student_rows(yt, ek, dk, uk, G, k, c, lk, m):  # pragma: no cover - compiled
        # Student-t rows of one component, as StudentT.log_density and statistics compute
        # them: residuals e = y - mean into ek, log-densities plus lk into dk, scale
        # weights u into uk, and the first two derivatives g, h of the log-density in
        # log df into rows 2k and 2k + 1 of G. c holds sigma, nu, (nu + 1) / 2, nu + 1,
        # the density's constant, digamma((nu + 1) / 2) - digamma(nu / 2) - 1 / nu,
        # (trigamma((nu + 1) / 2) - trigamma(nu / 2)) / 2 + 1 / nu^2 and sigma^2.
        # With D = nu s2 + e^2 = nu s2 (1 + z^2 / nu): log(D / (nu s2)) is the density's
        # log1p(z^2 / nu) (taken as log(1 + x) x / ((1 + x) - 1) from the kernel's log)
        # and u = (nu + 1) s2 / D, so that a row takes one division and one log.
        sg, nu, half, nu1, ct, c3, c4, s2 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        inv_sg = 1.0 / sg
        inv_nu = 1.0 / nu
        nus2 = nu * s2
        gk = G[2 * k]
        hk = G[2 * k + 1]
        for t in range(m):
            e = yt[t] - ek[t]
            ek[t] = e
            z = e * inv_sg
            x = (z * z) * inv_nu
            one = 1.0 + x
            lp = _log(one) * (x / (one - 1.0)) if one != 1.0 else x
            dk[t] = (-half * lp + ct) + lk
            e2 = e * e
            inv_d = 1.0 / (nus2 + e2)
            uk[t] = (nu1 * s2) * inv_d
            w1 = inv_d * inv_nu  # 1 / (nu D)
            f = 0.5 * ((c3 - lp) + (nu1 * e2) * w1)
            fp = 0.5 * (((c4 - s2 * inv_d) + inv_nu)
                        + e2 * (nu * (nus2 + e2) - nu1 * ((nus2 + e2) + nus2)) * (w1 * w1))
            g = nu * f
            gk[t] = g
            hk[t] = g + nu * nu * fp

    @numba.njit(parallel=True, nogil=True, cache=True, fastmath=False, error_model="numpy")
    def kernel(
        X, by_row, y, w, has_w, x_loc, x_inv, y_loc, y_inv, intercept, coef, const, scale,
        student, tc, R, has_r, classify, Zg, z_by_row, has_g, z_loc, z_inv, gamma, glw,
        bounds, firsts, bg, has_gr, total, n_workers,
    ):  # pragma: no cover - compiled
        # Adds the sums of the blocks of rows bounds[i]..bounds[i + 1]-1 to total, in
        # block order (the layout of total: per component the upper triangle of A by
        # rows, b, c, N; then the log-likelihood). With has_gr block i holds the groups
        # bg[i]..bg[i + 1]-1, whose first rows are firsts. X holds the rows (by_row) or the
        # columns (the transpose of a Fortran-ordered X).
        # Each of n_workers threads claims the next block until none is left (_claim),
        # so that a thread that gets less of a core takes fewer blocks.
        n_acc = total.shape[0]
        n_blocks = bounds.shape[0] - 1
        if n_workers <= 1:  # on the calling thread, without entering the thread pool
            # (np.empty and loops only: parallel=True makes np.zeros a parallel loop)
            out = np.empty(n_acc)
            for blk in range(n_blocks):
                _block(
                    X, by_row, y, w, has_w, x_loc, x_inv, y_loc, y_inv, intercept, coef,
                    const, scale, student, tc, R, has_r, classify, Zg, z_by_row, has_g,
                    z_loc, z_inv, gamma, glw, firsts, has_gr, bg[blk], bg[blk + 1], bounds[blk],
                    bounds[blk + 1], out,
                )
                for a in range(n_acc):
                    total[a] += out[a]
            return
        partial = np.zeros((n_blocks, n_acc))
        claimed = np.zeros(1, dtype=np.int64)
        for _ in _prange(min(n_workers, n_blocks)):
            blk = _claim(claimed)
            while blk < n_blocks:
                _block(
                    X, by_row, y, w, has_w, x_loc, x_inv, y_loc, y_inv, intercept, coef,
                    const, scale, student, tc, R, has_r, classify, Zg, z_by_row, has_g,
                    z_loc, z_inv, gamma, glw, firsts, has_gr, bg[blk], bg[blk + 1], bounds[blk],
                    bounds[blk + 1], partial[blk],
                )
                blk = _claim(claimed)
        _add_slots(partial, total)

    @jit
    def exp_minus(D, mx, total):  # pragma: no cover - compiled
        # The kernel's exp, for tests: D[k, t] = exp(D[k, t] - mx[t]), total = column sums.
        _exp_rows(D, mx, total, D.shape[1] - D.shape[1] % _LANES)

    @jit
    def increasing(a):  # pragma: no cover - compiled
        # Whether a[0] < a[1] < ... (without a temporary of the size of a).
        for i in range(1, a.shape[0]):
            if not a[i] > a[i - 1]:
                return False
        return True

    @jit
    def log_array(x, out):  # pragma: no cover - compiled
        # The kernel's log, for tests.
        for i in range(x.shape[0]):
            out[i] = _log(x[i])

    return SimpleNamespace(kernel=kernel, exp_minus=exp_minus, log=log_array,
                           increasing=increasing)


_compiled = CompiledOnce(_build)


def gaussian_e_step(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    x_loc: np.ndarray,
    x_inv: np.ndarray,
    y_loc: float,
    y_inv: float,
    fit_intercept: bool,
    coef: np.ndarray,
    sigma: np.ndarray,
    log_weights: np.ndarray,
    block_size: int = E_STEP_BLOCK_SIZE,
    *,
    n_threads: int | None = None,
    responsibilities: np.ndarray | None = None,
    group_starts: np.ndarray | None = None,
) -> tuple:
    """E-step and Gaussian M-step statistics over all rows in one compiled pass.

    Internally ``x* = (x - x_loc) * x_inv`` and ``y* = (y - y_loc) * y_inv``; the design
    row is ``(1, x*)`` with an intercept and ``x*`` without. For every row the kernel forms
    the residuals ``e_k = y* - x*' coef_k``, the joint log-densities
    ``log pi_k - log sigma_k - log(2 pi) / 2 - (e_k / sigma_k)^2 / 2``, normalises them by
    a log-sum-exp with the row maximum subtracted, and accumulates the weighted
    responsibilities ``r_k`` (sample weight times responsibility) into the sums below.
    This is :class:`GaussianSums` given all rows in one batch.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Features in user units, float64, C- or F-contiguous. Only read, never copied
        (a Fortran-ordered X is read column by column through its transpose).
    y : ndarray of shape (n,)
        Response in user units.
    w : ndarray of shape (n,) or None
        Non-negative sample weights; None means all ones.
    x_loc, x_inv : ndarray of shape (d,)
        Column locations and inverse scales of the standardisation.
    y_loc, y_inv : float
        Location and inverse scale of the response.
    fit_intercept : bool
        Whether the design has a leading column of ones.
    coef : ndarray of shape (K, p)
        Component coefficients in internal units, ``p = d + fit_intercept``, intercept
        first.
    sigma : ndarray of shape (K,)
        Component noise standard deviations in internal units, positive.
    log_weights : ndarray of shape (K,) or (K, 1)
        Log mixing proportions; ``-inf`` marks a component of weight zero, which gets
        responsibility zero.
    block_size : int, default=2048
        Rows per block. Blocks are the unit of parallel work and of summation: the result
        depends on ``block_size`` but not on the number of threads.
    n_threads : int or None, default=None
        Threads to use for this call; None means numba's current setting for the calling
        thread (``numba.get_num_threads()``). Capped at ``numba.config.NUMBA_NUM_THREADS``
        and at the number of blocks; the setting of the calling thread is restored.
    responsibilities : ndarray of shape (n, K), optional
        Given memberships (non-negative, each row with a positive sum) to use instead
        of the posterior probabilities: row ``i`` divided by its sum gives ``r_ik``. The
        log-likelihood is then NaN and ``log_weights`` is not used.
    group_starts : ndarray of int of shape (G,), optional
        Grouped rows (sorted by group): the first row of each group. All rows of a
        group share one posterior, from ``sum_i w_i log f_k(y*_i)`` over its rows plus
        ``log pi_k``; the blocks then end on group boundaries (see
        :func:`block_bounds`), and the groups' summed posteriors are returned last.

    Returns
    -------
    loglik : float
        Weighted observed-data log-likelihood ``sum_i w_i log sum_k pi_k f_k(y*_i)`` in
        internal units (for grouped rows, the sum over the groups of ``log sum_k pi_k
        prod_i f_k(y*_i)^w_i``).
    resp_sum : ndarray of shape (K,)
        ``N_k = sum_i r_ik``.
    A : ndarray of shape (K, p, p)
        ``X'R_kX`` (symmetric).
    b : ndarray of shape (K, p)
        ``X'R_k e_k``.
    c : ndarray of shape (K,)
        ``e_k'R_k e_k``.

    Raises
    ------
    ImportError
        If numba is not installed.
    ValueError
        If an argument has the wrong type, layout or shape.

    Notes
    -----
    A row whose components all have log-density ``-inf`` gets NaN responsibilities and
    log-likelihood ``-inf``, as in the numpy data pass. The first call in a process
    compiles the kernel, or loads it from numba's on-disk cache.
    """
    sums = GaussianSums(x_loc, x_inv, y_loc, y_inv, fit_intercept, coef, sigma,
                        log_weights, block_size, n_threads=n_threads,
                        grouped=group_starts is not None)
    sums.add(X, y, w, responsibilities, group_starts=group_starts, last=True)
    return sums.result()


def _student_constants(sigma: np.ndarray, df, K: int) -> np.ndarray:
    """Per Student-t component the constants of the kernel's rows (``_student_rows``):
    sigma, nu, (nu + 1) / 2, nu + 1, the log-density's constant ``lgamma((nu + 1) / 2) -
    lgamma(nu / 2) - (log nu + log pi) / 2 - log sigma``, ``digamma((nu + 1) / 2) -
    digamma(nu / 2) - 1 / nu``, ``(trigamma((nu + 1) / 2) - trigamma(nu / 2)) / 2 +
    1 / nu^2`` and sigma^2 (scipy's functions, as :class:`~regmix.families.student_t.StudentT`
    takes them)."""
    from scipy import special

    nu = np.asarray(df, dtype=np.float64).reshape(-1)
    if nu.shape != (K,) or not np.all(nu > 0):
        raise ValueError(f"df must hold {K} positive numbers; got {np.asarray(df)!r}")
    if not np.all(sigma > 0):
        raise ValueError("sigma must be positive for Student-t components")
    half, half0 = 0.5 * (nu + 1.0), 0.5 * nu
    const = (special.gammaln(half) - special.gammaln(half0)
             - 0.5 * (np.log(nu) + math.log(math.pi)) - np.log(sigma))
    c3 = special.digamma(half) - special.digamma(half0) - 1.0 / nu
    c4 = 0.5 * special.polygamma(1, half) - 0.5 * special.polygamma(1, half0) + 1.0 / nu**2
    return np.ascontiguousarray(np.column_stack([sigma, nu, half, nu + 1.0, const, c3, c4,
                                                 sigma * sigma]))


def gating_arguments(concomitant, z_loc, z_inv, gating, n: int, K: int) -> tuple:
    """The kernel's gating arguments: the concomitant variables (rows, or the columns of
    a Fortran-ordered array), whether by rows, locations, inverse scales and the (K, q)
    coefficients; stand-ins of one column without concomitant variables."""
    if concomitant is None:
        if gating is not None:
            raise ValueError("gating coefficients need the concomitant variables")
        return (read_only(np.zeros((1, 1))), True, read_only(np.zeros(1)),
                read_only(np.ones(1)), read_only(np.zeros((K, 1))))
    Zc = concomitant
    if not isinstance(Zc, np.ndarray) or Zc.dtype != np.float64 or Zc.ndim != 2:
        raise ValueError("concomitant must be a 2-D float64 ndarray")
    if not (Zc.flags.c_contiguous or Zc.flags.f_contiguous):
        raise ValueError("concomitant must be C- or F-contiguous (it is read in place)")
    if Zc.shape[0] != n:
        raise ValueError(f"concomitant must have {n} rows; got {Zc.shape[0]}")
    by_row = bool(Zc.flags.c_contiguous)
    return (read_only(Zc if by_row else Zc.T), by_row,
            *gating_parameters(z_loc, z_inv, gating, Zc.shape[1], K))


def gating_parameters(z_loc, z_inv, gating, r: int, K: int) -> tuple:
    """The kernel's gating parameters for ``r`` concomitant variables: their locations
    and inverse scales (r,) and the (K, r + 1) coefficients, checked and read-only."""
    if z_loc is None or z_inv is None or gating is None:
        raise ValueError("concomitant variables need z_loc, z_inv and gating")
    zl = read_only(np.ascontiguousarray(z_loc, dtype=np.float64).reshape(-1))
    zi = read_only(np.ascontiguousarray(z_inv, dtype=np.float64).reshape(-1))
    gamma = read_only(np.ascontiguousarray(gating, dtype=np.float64))
    if zl.shape != (r,) or zi.shape != (r,) or gamma.shape != (K, r + 1):
        raise ValueError(f"z_loc and z_inv must have shape ({r},) and gating ({K}, {r + 1})")
    return zl, zi, gamma


def gating_sum_count(K: int, q: int) -> int:
    """How many sums the kernels' gating statistics take (``_gating_sums``, whose layout
    the kernels' blocks count the same way): the (K - 1) q gradient entries, then the
    upper triangle of a (q, q) block per pair of components 1 <= k <= j < K."""
    return (K - 1) * q + (K - 1) * K // 2 * (q * (q + 1) // 2)


def gating_statistics(sums: np.ndarray, K: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """The gradient (K - 1, q) and the symmetric ((K - 1) q, (K - 1) q) matrix of the
    kernel's gating sums (the gradients, then per pair of components 1 <= k <= j < K
    the upper triangle of their block, row by row)."""
    grad = sums[: (K - 1) * q].reshape(K - 1, q).copy()
    H = np.empty((K - 1, q, K - 1, q))
    rows, cols = upper_indices(q)
    pos = (K - 1) * q
    size = q * (q + 1) // 2
    for k in range(1, K):
        for j in range(k, K):
            block = np.empty((q, q))
            block[rows, cols] = sums[pos : pos + size]
            block[cols, rows] = sums[pos : pos + size]
            H[k - 1, :, j - 1, :] = block
            H[j - 1, :, k - 1, :] = block.T
            pos += size
    return grad, H.reshape((K - 1) * q, (K - 1) * q)


def block_bounds(first: int, last: int, block_size: int,
                 group_starts: np.ndarray | None = None) -> tuple:
    """The kernels' blocks of rows ``first..last-1``: their bounds (one more than there
    are blocks), every ``block_size`` rows from ``first``; for grouped rows
    (``group_starts``, the groups' first rows, increasing, the first one ``first``)
    each cut moved on to the first group boundary at or after it, so that a block holds
    whole groups. Also returned: the group starts as int64 (not copied when they are;
    a stand-in for ungrouped rows) and the number of groups before each block bound
    (zeros for ungrouped rows). What is made is of the size of the blocks."""
    if group_starts is None:
        bounds = np.append(np.arange(first, last, block_size, dtype=np.int64), last)
        return bounds, np.zeros(1, dtype=np.int64), np.zeros(bounds.shape, dtype=np.int64)
    firsts = np.ascontiguousarray(group_starts, dtype=np.int64)
    at = np.searchsorted(firsts, np.arange(first + block_size, last, block_size))
    cuts = np.where(at < firsts.shape[0], firsts[np.minimum(at, firsts.shape[0] - 1)], last)
    bounds = np.unique(np.concatenate([[first], cuts, [last]])).astype(np.int64)
    return bounds, firsts, np.searchsorted(firsts, bounds).astype(np.int64)


def check_group_starts(group_starts, n: int) -> np.ndarray:
    """``group_starts`` as the kernels take them: the first rows of the groups of ``n``
    sorted rows (int64, increasing, the first 0, all below ``n``; none for no rows)."""
    starts = np.ascontiguousarray(group_starts, dtype=np.int64).reshape(-1)
    if n and (starts.shape[0] == 0 or starts[0] != 0 or starts[-1] >= n
              or not _compiled().increasing(starts)):
        raise ValueError(f"group_starts must be increasing row indices from 0, below {n}")
    if not n and starts.shape[0]:
        raise ValueError("group_starts of no rows must be empty")
    return starts


class _BlockedBatches:
    """Rows added batch by batch to a compiled sum over fixed blocks of rows.

    Every block is ``block_size`` rows from the first row on, whatever the batches: a
    batch's whole blocks go to the compiled function in place (:meth:`_call`), and the
    rows of a block that a batch leaves unfinished are copied and completed by the next
    batch (fewer than ``block_size`` rows per batch), so a batch is never copied whole.
    The compiled functions add the block sums to a running total in block order, so
    the result is the same, bit for bit, as for all rows in one batch.
    """

    def __init__(self, n_features: int, n_components: int, block_size: int,
                 n_threads: int | None, n_sums: int) -> None:
        self.block_size = int(block_size)
        if self.block_size < 1:
            raise ValueError(f"block_size must be positive; got {self.block_size}")
        self.n_features, self.n_components = n_features, n_components
        self.n_threads = n_threads
        self.n_rows = 0
        self._given = self._weighted = None  # set by the first batch
        self._carry: list | None = None  # (X, y, w, R) rows of an unfinished block
        self._closed = False  # a last, unfinished block has been added
        self._total = np.zeros(n_sums)
        self._group_starts: np.ndarray | None = None  # of grouped rows (one batch)

    # whether the sums are over grouped rows (GaussianSums with grouped=True)
    grouped = False

    def add(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None,
            responsibilities: np.ndarray | None = None,
            concomitant: np.ndarray | None = None, *, offset: np.ndarray | None = None,
            trials: np.ndarray | None = None, group_starts: np.ndarray | None = None,
            last: bool = False) -> None:
        """Add the rows of one batch (arguments as for :func:`gaussian_e_step`, and the
        rows' concomitant variables for sums with gating, their offsets and trials for
        sums that take them; every batch of a pass has weights, or none has, and the
        same for responsibilities, concomitant variables, offsets and trials). Grouped
        rows (sums made with ``grouped=True``) come in one batch with their
        ``group_starts``, the first rows of the groups. With ``last`` no rows follow: the
        batch's rows of an unfinished last block are then read in place instead of
        copied.

        Raises
        ------
        ValueError
            If an argument has the wrong type, layout or shape, if batches mix
            weighted and unweighted rows (or given and posterior memberships, or rows
            with and without offsets or trials), if rows come after :meth:`result`
            took the sums over an unfinished block, or if grouped rows come without
            their group starts or in more than one batch.
        """
        if not isinstance(X, np.ndarray) or X.dtype != np.float64 or X.ndim != 2:
            raise ValueError("X must be a 2-D float64 ndarray")
        if not (X.flags.c_contiguous or X.flags.f_contiguous):
            raise ValueError("X must be C- or F-contiguous (it is read in place, never copied)")
        n, d = X.shape
        if d != self.n_features:
            raise ValueError(f"X must have {self.n_features} columns; got {d}")
        y = np.ascontiguousarray(y, dtype=np.float64)
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},); got {y.shape}")
        if w is not None:
            w = np.ascontiguousarray(w, dtype=np.float64)
            if w.shape != (n,):
                raise ValueError(f"w must have shape ({n},); got {w.shape}")
        K = self.n_components
        R = responsibilities
        if R is not None:
            R = np.ascontiguousarray(R, dtype=np.float64)
            if R.shape != (n, K):
                raise ValueError(f"responsibilities must have shape ({n}, {K}); got "
                                 f"{R.shape}")
        if self.grouped and (self.n_rows or self._closed):
            raise ValueError("grouped rows are added in one batch")
        if self._closed and n:
            raise ValueError("no rows can be added after the sums over a last, unfinished "
                             "block were taken")
        Zc = concomitant
        if Zc is not None:
            Zc = np.asarray(Zc, dtype=np.float64)
            if Zc.ndim != 2 or Zc.shape[0] != n:
                raise ValueError(f"concomitant must have shape ({n}, r); got {Zc.shape}")
            if not (Zc.flags.c_contiguous or Zc.flags.f_contiguous):
                Zc = np.ascontiguousarray(Zc)  # (a strided view: its few columns copied)
        if (Zc is not None) != self._gated:
            raise ValueError("these sums take concomitant variables with gating "
                             "coefficients only, and then with every batch")
        vectors = []
        for name, v in (("offset", offset), ("trials", trials)):
            if v is not None:
                if not self._row_vectors:
                    raise ValueError(f"these sums take no {name}")
                v = np.ascontiguousarray(v, dtype=np.float64)
                if v.shape != (n,):
                    raise ValueError(f"{name} must have shape ({n},); got {v.shape}")
            vectors.append(v)
        kinds = (w is not None, R is not None, *(v is not None for v in vectors))
        if self._kinds is None:
            self._kinds = kinds
            self._weighted, self._given = kinds[:2]
        elif kinds != self._kinds:
            raise ValueError("every batch of a pass must have weights (and given "
                             "responsibilities, offsets, trials) or none")
        if (group_starts is not None) != self.grouped:
            raise ValueError("these sums take group starts if and only if they were made "
                             "for grouped rows")
        if self.grouped:
            if R is not None:
                raise ValueError("grouped rows take the posterior probabilities, not "
                                 "given responsibilities")
            self._group_starts = check_group_starts(group_starts, n)
            self.n_rows = n
            self._run(X, y, w, R, Zc, *vectors, 0, n)
            self._closed = True
            return
        self.n_rows += n
        rows = [X, y, w, R, Zc, *vectors]
        first = 0
        if self._carry is not None:  # complete the unfinished block from this batch
            first = min(self.block_size - self._carry[0].shape[0], n)
            self._carry = [None if c is None else np.concatenate([c, a[:first]])
                           for c, a in zip(self._carry, rows, strict=True)]
            if self._carry[0].shape[0] < self.block_size:
                return
            self._run(*self._carry, 0, self.block_size)
            self._carry = None
        whole = first + (n - first) // self.block_size * self.block_size
        if last and n > first:  # the unfinished last block too, in place
            self._run(*rows, first, n)
            self._closed = True
            return
        if whole > first:
            self._run(*rows, first, whole)
        if whole < n:
            self._carry = [None if a is None else a[whole:].copy() for a in rows]

    # whether the sums take concomitant variables (GaussianSums with gating)
    _gated = False

    # whether the compiled function runs on the calling thread for one worker (see
    # on_threads)
    _serial = False

    # whether the sums take the rows' offsets and trials (the GLM information)
    _row_vectors = False

    _kinds: tuple | None = None  # which of the optional rows the batches have

    def _call(self, X, by_row: bool, y, w, has_w: bool, R, has_r: bool, Zg, z_by_row: bool,
              off, has_off: bool, trials, has_m: bool, first: int, last: int,
              n_workers: int) -> None:  # pragma: no cover
        raise NotImplementedError  # (in the subclasses)

    def _run(self, X, y, w, R, Zc, off, trials, first: int, last: int) -> None:
        """Add the blocks of rows first..last-1 of one batch to the total, on at most
        ``n_threads`` threads."""
        by_row = bool(X.flags.c_contiguous)
        has_w, has_r = w is not None, R is not None
        has_off, has_m = off is not None, trials is not None
        w, off, trials = (np.empty(0) if a is None else a for a in (w, off, trials))
        R = R if has_r else np.empty((0, self.n_components))
        z_by_row = Zc is None or bool(Zc.flags.c_contiguous)
        Zc = np.zeros((1, 1)) if Zc is None else (Zc if z_by_row else Zc.T)
        X, y, w, R, Zc, off, trials = (read_only(a) for a in (
            X if by_row else X.T, y, w, R, Zc, off, trials))
        on_threads(self.n_threads, last - first, self._call, X, by_row, y, w, has_w, R, has_r,
                   Zc, z_by_row, off, has_off, trials, has_m, first, last,
                   serial=self._serial)

    def _finish(self) -> None:
        """Add the rows of a last, unfinished block."""
        if self._carry is not None:
            self._run(*self._carry, 0, self._carry[0].shape[0])
            self._carry = None
            self._closed = True

    def totals(self) -> np.ndarray:
        """The sums over all rows added so far (a read-only view, in the compiled
        function's layout)."""
        self._finish()
        return read_only(self._total)


class GaussianSums(_BlockedBatches):
    """The sums of the compiled E-step pass, taken batch by batch.

    A pass over rows that arrive in batches of any size (streamed from a file, for
    instance) adds each batch with :meth:`add`; :meth:`result` gives what
    :func:`gaussian_e_step` returns for all the rows at once, bit for bit: the blocks
    are the same rows (``block_size`` rows from the first row on) and their sums are
    added in the same order. The rows of a block that a batch leaves unfinished are
    copied and completed by the next batch (fewer than ``block_size`` rows per batch),
    so a batch is never copied whole.

    Parameters
    ----------
    x_loc, x_inv, y_loc, y_inv, fit_intercept, coef, sigma, log_weights, block_size
        As for :func:`gaussian_e_step`.
    n_threads : int or None, default=None
        Threads for each batch, as for :func:`gaussian_e_step`.
    df : ndarray of shape (K,), optional
        Student-t components with these degrees of freedom (see :meth:`result`).
    classify : bool, default=False
        Also sum the rows' classification by their posterior probabilities (not with
        given responsibilities): :meth:`result` then returns it last, as
        :func:`~regmix.compiled.glm_kernel.glm_e_step` does.
    gating, z_loc, z_inv : ndarray, optional
        Multinomial-logit weights, as for :func:`~regmix.compiled.glm_kernel.glm_e_step`:
        the (K, r + 1) coefficients and the concomitant variables' locations and inverse
        scales (``log_weights`` is then not used); every batch then brings its rows'
        concomitant variables, and :meth:`result` returns the gating statistics after
        the other sums (before the classification).
    grouped : bool, default=False
        Sums over grouped rows, added in one batch with their group starts
        (:meth:`add`): all rows of a group share one posterior, from the sum of their
        weighted log-densities and the log weights of the group's first row, as the
        numpy pass has them (:func:`regmix.engine.passes.observation_posteriors`); the
        log-likelihood, the classification and the gating statistics are per group
        (each of weight one), and :meth:`result` returns the groups' summed posteriors
        last.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(5000, 2)), rng.normal(size=5000)
    >>> args = (np.zeros(2), np.ones(2), 0.0, 1.0, True, rng.normal(size=(2, 3)),
    ...         np.ones(2), np.log([0.5, 0.5]))
    >>> sums = GaussianSums(*args)
    >>> for start in range(0, 5000, 1500):  # batches that end inside blocks
    ...     sums.add(X[start : start + 1500], y[start : start + 1500], None)
    >>> whole = gaussian_e_step(X, y, None, *args)
    >>> all(np.array_equal(a, b) for a, b in zip(sums.result(), whole))
    True
    """

    _serial = True

    def __init__(
        self,
        x_loc: np.ndarray,
        x_inv: np.ndarray,
        y_loc: float,
        y_inv: float,
        fit_intercept: bool,
        coef: np.ndarray,
        sigma: np.ndarray,
        log_weights: np.ndarray,
        block_size: int = E_STEP_BLOCK_SIZE,
        *,
        n_threads: int | None = None,
        df: np.ndarray | None = None,
        classify: bool = False,
        gating: np.ndarray | None = None,
        z_loc: np.ndarray | None = None,
        z_inv: np.ndarray | None = None,
        grouped: bool = False,
    ) -> None:
        x_loc = np.ascontiguousarray(x_loc, dtype=np.float64).reshape(-1)
        x_inv = np.ascontiguousarray(x_inv, dtype=np.float64).reshape(-1)
        d = x_loc.shape[0]
        if x_inv.shape != (d,):
            raise ValueError(f"x_loc and x_inv must have the same shape; got ({d},) and "
                             f"{x_inv.shape}")
        self.fit_intercept = bool(fit_intercept)
        p = d + int(self.fit_intercept)
        if p == 0:
            raise ValueError("the design has no columns")
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        if coef.ndim != 2 or coef.shape[1] != p:
            raise ValueError(f"coef must have shape (K, {p}); got {coef.shape}")
        K = coef.shape[0]
        sigma = np.asarray(sigma, dtype=np.float64).reshape(-1)
        log_weights = np.asarray(log_weights, dtype=np.float64).reshape(-1)
        if K == 0 or sigma.shape != (K,) or log_weights.shape != (K,):
            raise ValueError(f"sigma and log_weights must have {K} > 0 entries")
        self._gated = gating is not None
        self._gating = (np.zeros(1), np.ones(1), np.zeros((K, 1)))
        if self._gated:
            self._gating = gating_parameters(z_loc, z_inv, gating, np.shape(gating)[1] - 1, K)
            log_weights = np.zeros(K)
        self.grouped = bool(grouped)
        glw = np.zeros(K)
        if self.grouped:  # the log weights are the groups', not in each row's density
            glw, log_weights = log_weights, np.zeros(K)
        # The same arithmetic as Gaussian.log_density: log pi_k - (log sigma_k +
        # log(2 pi)/2) and (e_k * sqrt(1/2) / sigma_k)^2.
        with np.errstate(divide="ignore") if not sigma.min() > 0 else _NO_CONTEXT:
            const = np.ascontiguousarray(log_weights - (np.log(sigma) + 0.5 * _LOG_2PI))
            scale = np.ascontiguousarray(math.sqrt(0.5) / sigma)
        self.student = df is not None
        tc = np.zeros((K, 8))
        if self.student:
            const = np.ascontiguousarray(log_weights)
            tc = _student_constants(sigma, df, K)
        # Read-only views (no copies): the kernel cannot write to them, and one compiled
        # specialisation serves writeable and read-only inputs alike.
        self._params = tuple(read_only(a) for a in (x_loc, x_inv, coef, const, scale, tc,
                                                    np.ascontiguousarray(glw)))
        self._y = (float(y_loc), float(y_inv))
        self.n_design = p
        self.classify = bool(classify)
        q_g = self._gating[2].shape[1]
        self._n_gating = gating_sum_count(K, q_g) if self._gated else 0
        super().__init__(d, K, block_size, n_threads,
                         K * (p * (p + 1) // 2 + p + 2) + 1 + 3 * K + self._n_gating
                         + (K + K * K + 2 if self.classify else 0) + K * self.grouped)

    def _call(self, X, by_row, y, w, has_w, R, has_r, Zg, z_by_row, off, has_off, trials,
              has_m, first, last, n_workers) -> None:
        x_loc, x_inv, coef, const, scale, tc, glw = self._params
        if self.classify and has_r:
            raise ValueError("classify needs the posterior probabilities, not given "
                             "responsibilities")
        blocks = block_bounds(first, last, self.block_size, self._group_starts)
        _compiled().kernel(X, by_row, y, w, has_w, x_loc, x_inv, *self._y, self.fit_intercept,
                           coef, const, scale, self.student, tc, R, has_r, self.classify,
                           Zg, z_by_row, self._gated, *self._gating, glw, *blocks,
                           self.grouped, self._total, n_workers)

    def result(self) -> tuple:
        """The sums over all rows added so far, as :func:`gaussian_e_step` returns them
        (the log-likelihood is NaN if any batch had given responsibilities). For
        Student-t components (``df``) ``A``, ``b`` and ``c`` take the weights ``r u``
        (``u`` the scale weights), ``resp_sum`` is ``sum r``, and the sums of the first
        two derivatives of the log-densities in ``log df`` come next, shape (K, 2).
        For grouped rows the groups' summed posteriors (K,) come last."""
        self._finish()
        K, p = self.n_components, self.n_design
        P = p * (p + 1) // 2
        total = self._total
        per = total[: K * (P + p + 2)].reshape(K, P + p + 2)
        A = symmetric_from_packed(per[:, :P], p)  # the kernel's order: row by row
        b = per[:, P : P + p].copy()
        c = per[:, P + p].copy()
        resp_sum = per[:, P + p + 1].copy()
        base = K * (P + p + 2)
        loglik = math.nan if self._given else float(total[base])
        q = base + 1 + 3 * K
        result: tuple = (loglik, resp_sum, A, b, c)
        if self.student:
            t = total[base + 1 : q].reshape(K, 3)
            result = (loglik, t[:, 0].copy(), A, b, c, t[:, 1:].copy())
        if self._gated:
            result = (*result, gating_statistics(total[q : q + self._n_gating], K,
                                                 self._gating[2].shape[1]))
            q += self._n_gating
        if self.classify:
            table = total[q + K : q + K + K * K].reshape(K, K).copy()
            result = (*result, (total[q : q + K].copy(), table, float(total[q + K + K * K]),
                                float(total[q + K + K * K + 1])))
            q += K + K * K + 2
        return (*result, total[q : q + K].copy()) if self.grouped else result

