r"""The compiled loops behind :mod:`gradstep.kernels.fused` (imported, and Numba with it, on first use).

One parallel kernel, :func:`linear_parts`, serves the three losses. The rows of
``X`` are cut into blocks of ``block_rows`` rows (a few KiB, so the block stays
in cache between its two reads) and the blocks into at most :data:`MAX_CHUNKS`
chunks of consecutive blocks; ``prange`` runs over the chunks. For every block:

1. the decision :math:`z_{ij} = x_i\cdot w_j + b_j`, one row at a time, reading
   the block from memory (:func:`_dot8`: eight vector lanes of partial sums);
   for the squared error the residual, :math:`G` and :math:`\ell` come with it;
2. (logistic, softmax) the loss :math:`\ell_i` and
   :math:`G_{ij} = w_i\,\partial\ell_i/\partial z_{ij}` in loops over the block
   that LLVM vectorises. The exponential and the logarithms are written out
   below (Cody-Waite reduction and a polynomial, a few ulps) because the C
   library's are scalar calls, and the divisions go through :func:`_div8`
   because LLVM's cost model keeps loops with a division scalar on some CPUs;
3. :math:`\sum_i G_{ij} x_i` from cache (:func:`_xtg`: eight columns at a time
   in registers, no store and reload per row).

The intrinsics emit LLVM vector IR directly because Numba leaves LLVM's SLP
vectoriser off and the loop vectoriser cannot reorder a floating-point sum
without ``fastmath``: written out, the order of every sum is fixed and the
same on every CPU. Each chunk's sums go to its own slot of ``part_*`` and the
chunks are added in chunk order at the end, so the result depends on the
shape and ``block_rows`` only, not on the number of threads or their timing.
Everything is computed in float64 (float32 input is widened on load). No
``fastmath``: NaN and infinity go through as IEEE arithmetic says, and the
special cases of the exponential and the logarithm (out of range, not finite)
are left to ``np.exp`` and ``np.log``.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import get_parallel_chunksize, njit, prange, set_parallel_chunksize, types
from numba.core import cgutils
from numba.core.cpu_options import ParallelOptions
from numba.extending import intrinsic

SQUARED, LOGISTIC, SOFTMAX = 0, 1, 2
"""The ``kind`` codes of :func:`linear_parts`."""

MAX_CHUNKS = 64
"""At most this many per-chunk partial sums (the units of parallel work)."""

_JIT = {"cache": True, "fastmath": False, "nogil": True}

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 with 21 trailing zero bits: n * _LN2_HI is exact for |n| < 2**21
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_SQRT2 = 1.4142135623730951
_EXP_MIN = -708.0  # e**x is a normal float for x >= -708, and 2**n below too (n >= -1021)
_TINY = 2.2250738585072014e-308  # the smallest normal float64
_HUGE = 1.7976931348623157e308  # the largest finite float64


# --------------------------------------------------------------------------- intrinsics
@intrinsic
def _from_bits(typingctx, bits):
    """The float64 whose IEEE bit pattern is the int64 ``bits``."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _to_bits(typingctx, x):
    """The IEEE bit pattern of the float64 ``x`` as an int64."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _div8(typingctx, num, den, out, i):
    """``out[i:i+8] = num[i:i+8] / den[i:i+8]`` as one 8-lane IEEE division (1-D float64 C arrays)."""

    def codegen(context, builder, signature, args):
        vec = ir.VectorType(ir.DoubleType(), 8)
        ptrs = []
        for ty, val in zip(signature.args[:3], args[:3]):
            data = context.make_array(ty)(context, builder, val).data
            ptrs.append(builder.bitcast(builder.gep(data, [args[3]]), vec.as_pointer()))
        quotient = builder.fdiv(builder.load(ptrs[0], align=8), builder.load(ptrs[1], align=8))
        builder.store(quotient, ptrs[2], align=8)
        return context.get_dummy_value()

    return types.void(num, den, out, types.intp), codegen


@intrinsic
def _dot8(typingctx, X, i, V, j):
    """``X[i] · V[j]`` in float64 (``X`` (n, d) float32/64 and ``V`` (k, d) float64, C-contiguous), in a fixed order.

    Eight lanes of partial sums over the full groups of eight (lane ``q`` adds
    the products at ``l ≡ q mod 8``, in order), the ``d % 8`` left over in one
    scalar sum ``t``, then ``(((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))) + t``.
    """

    def codegen(context, builder, signature, args):
        xty, _, vty, _ = signature.args
        f64 = ir.DoubleType()
        x_el = context.get_data_type(xty.dtype)
        vec, x_vec = ir.VectorType(f64, 8), ir.VectorType(x_el, 8)
        x = context.make_array(xty)(context, builder, args[0])
        v = context.make_array(vty)(context, builder, args[2])
        d = builder.extract_value(x.shape, 1)
        x_row = builder.gep(x.data, [builder.mul(args[1], d)])
        v_row = builder.gep(v.data, [builder.mul(args[3], builder.extract_value(v.shape, 1))])
        three, one = ir.Constant(d.type, 3), ir.Constant(d.type, 1)
        n8 = builder.ashr(d, three)
        acc = cgutils.alloca_once_value(builder, ir.Constant(vec, None))
        with cgutils.for_range(builder, n8) as loop:
            off = builder.shl(loop.index, three)
            xv = builder.load(builder.bitcast(builder.gep(x_row, [off]), x_vec.as_pointer()),
                              align=xty.dtype.bitwidth // 8)
            if x_el != f64:
                xv = builder.fpext(xv, vec)
            vv = builder.load(builder.bitcast(builder.gep(v_row, [off]), vec.as_pointer()), align=8)
            builder.store(builder.fadd(builder.load(acc), builder.fmul(xv, vv)), acc)
        tail = cgutils.alloca_once_value(builder, ir.Constant(f64, 0.0))
        with cgutils.for_range_slice(builder, builder.shl(n8, three), d, one, inc=True) as (l, _):
            xs = builder.load(builder.gep(x_row, [l]))
            if x_el != f64:
                xs = builder.fpext(xs, f64)
            partial = builder.load(tail)
            builder.store(builder.fadd(partial, builder.fmul(xs, builder.load(builder.gep(v_row, [l])))), tail)
        lanes = builder.load(acc)
        a = [builder.extract_element(lanes, ir.Constant(ir.IntType(32), q)) for q in range(8)]
        add = builder.fadd
        total = add(add(add(a[0], a[4]), add(a[2], a[6])), add(add(a[1], a[5]), add(a[3], a[7])))
        return add(total, builder.load(tail))

    return types.float64(X, types.intp, V, types.intp), codegen


def _masked_load(builder, ptr, vec, lanes, align):
    """``llvm.masked.load``: the first ``lanes`` elements of the vector at ``ptr``, zeros after them."""
    i32 = ir.IntType(32)
    index = ir.Constant(ir.VectorType(lanes.type, vec.count), list(range(vec.count)))
    bound = builder.insert_element(ir.Constant(index.type, ir.Undefined), lanes, ir.Constant(i32, 0))
    bound = builder.shuffle_vector(bound, ir.Constant(index.type, ir.Undefined),
                                   ir.Constant(ir.VectorType(i32, vec.count), [0] * vec.count))
    mask = builder.icmp_signed("<", index, bound)
    suffix = {"double": "f64", "float": "f32"}[str(vec.element)]
    fnty = ir.FunctionType(vec, [ptr.type, i32, mask.type, vec])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.load.v{vec.count}{suffix}.p0")
    return builder.call(fn, [ptr, ir.Constant(i32, align), mask, ir.Constant(vec, None)])


@intrinsic
def _xtg(typingctx, acc, j, G, X, i0, m):
    """``acc[j, :] += Σ_{r<m} G[j, r] X[i0 + r, :]`` (``acc`` (k, d') float64 with d' = d rounded up to 8).

    The columns in chunks of eight (the last one loaded masked: zeros past
    ``d``), for each chunk the rows in order into two register accumulators,
    even and odd rows, then ``acc[chunk] += even + odd``: no store and reload per row.
    """

    def codegen(context, builder, signature, args):
        aty, _, gty, xty, _, _ = signature.args
        f64 = ir.DoubleType()
        x_el = context.get_data_type(xty.dtype)
        vec, x_vec = ir.VectorType(f64, 8), ir.VectorType(x_el, 8)
        a = context.make_array(aty)(context, builder, args[0])
        g = context.make_array(gty)(context, builder, args[2])
        x = context.make_array(xty)(context, builder, args[3])
        j, i0, m = args[1], args[4], args[5]
        d = builder.extract_value(x.shape, 1)
        a_row = builder.gep(a.data, [builder.mul(j, builder.extract_value(a.shape, 1))])
        g_row = builder.gep(g.data, [builder.mul(j, builder.extract_value(g.shape, 1))])
        x_block = builder.gep(x.data, [builder.mul(i0, d)])
        x_align = xty.dtype.bitwidth // 8
        one, two, eight = (ir.Constant(d.type, c) for c in (1, 2, 8))
        n_chunks = builder.sdiv(builder.add(d, ir.Constant(d.type, 7)), eight)
        m_even = builder.sub(m, builder.srem(m, two))
        i32 = ir.IntType(32)
        undef = ir.Constant(vec, ir.Undefined)
        zeros = ir.Constant(ir.VectorType(i32, 8), [0] * 8)
        even = cgutils.alloca_once(builder, vec)
        odd = cgutils.alloca_once(builder, vec)

        def splat(value):
            return builder.shuffle_vector(builder.insert_element(undef, value, ir.Constant(i32, 0)), undef, zeros)

        with cgutils.for_range(builder, n_chunks) as chunk:
            col = builder.mul(chunk.index, eight)
            left = builder.sub(d, col)
            full = builder.icmp_signed(">=", left, eight)

            def row(r):  # G[j, r] * X[i0 + r, col:col + 8], in float64
                ptr = builder.bitcast(builder.gep(x_block, [builder.add(builder.mul(r, d), col)]), x_vec.as_pointer())
                with builder.if_else(full) as (then, otherwise):
                    with then:
                        v_full = builder.load(ptr, align=x_align)
                        b_full = builder.block
                    with otherwise:
                        v_part = _masked_load(builder, ptr, x_vec, left, x_align)
                        b_part = builder.block
                xv = builder.phi(x_vec)
                xv.add_incoming(v_full, b_full)
                xv.add_incoming(v_part, b_part)
                if x_el != f64:
                    xv = builder.fpext(xv, vec)
                return builder.fmul(splat(builder.load(builder.gep(g_row, [r]))), xv)

            builder.store(ir.Constant(vec, None), even)
            builder.store(ir.Constant(vec, None), odd)
            with cgutils.for_range_slice(builder, ir.Constant(d.type, 0), m_even, two, inc=True) as (r, _):
                builder.store(builder.fadd(builder.load(even), row(r)), even)
                builder.store(builder.fadd(builder.load(odd), row(builder.add(r, one))), odd)
            with builder.if_then(builder.icmp_signed("<", m_even, m)):
                builder.store(builder.fadd(builder.load(even), row(m_even)), even)
            ptr = builder.bitcast(builder.gep(a_row, [col]), vec.as_pointer())
            total = builder.fadd(builder.load(even), builder.load(odd))
            builder.store(builder.fadd(builder.load(ptr, align=8), total), ptr, align=8)
        return context.get_dummy_value()

    return types.void(acc, types.intp, G, X, types.intp, types.intp), codegen


# --------------------------------------------------------------------------- element maths (inlined into vector loops)
@njit(inline="always", **_JIT)
def _exp(x):
    r"""``e**x`` for ``-708 <= x <= 709`` (no special cases: :func:`_exp_into` clamps and fixes up).

    :math:`x = n\ln 2 + r` with :math:`|r| \le \tfrac12\ln 2`, :math:`e^r` by its
    Taylor polynomial of degree 13 (truncation below 1e-17), times :math:`2^n`
    built from its bits.
    """
    n = np.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _from_bits((np.int64(n) + 1023) << 52)


@njit(inline="always", **_JIT)
def _two_atanh(s):
    r""":math:`2\operatorname{atanh}(s) = 2s\sum_{j=0}^{16} s^{2j}/(2j+1)` (Horner in :math:`s^2`).

    For :math:`|s| \le 1/3` the terms left out are below 1e-17 relative. With
    :math:`s = e/(2+e)` this is :math:`\log(1+e)`, with :math:`s = (m-1)/(m+1)`
    it is :math:`\log m`, without forming :math:`1 + e` or :math:`m - 1` rounding.
    """
    t = s * s
    p = 1.0 / 33.0
    p = p * t + 1.0 / 31.0
    p = p * t + 1.0 / 29.0
    p = p * t + 1.0 / 27.0
    p = p * t + 1.0 / 25.0
    p = p * t + 1.0 / 23.0
    p = p * t + 1.0 / 21.0
    p = p * t + 1.0 / 19.0
    p = p * t + 1.0 / 17.0
    p = p * t + 1.0 / 15.0
    p = p * t + 1.0 / 13.0
    p = p * t + 1.0 / 11.0
    p = p * t + 1.0 / 9.0
    p = p * t + 1.0 / 7.0
    p = p * t + 1.0 / 5.0
    p = p * t + 1.0 / 3.0
    return 2.0 * s * (p * t + 1.0)


@njit(inline="always", **_JIT)
def _sum(a, m):
    """``a[0] + ... + a[m-1]`` in eight interleaved partial sums (a fixed order)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m8 = m - m % 8
    for r in range(0, m8, 8):
        s0 += a[r]
        s1 += a[r + 1]
        s2 += a[r + 2]
        s3 += a[r + 3]
        s4 += a[r + 4]
        s5 += a[r + 5]
        s6 += a[r + 6]
        s7 += a[r + 7]
    t = 0.0
    for r in range(m8, m):
        t += a[r]
    return (((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))) + t


# --------------------------------------------------------------------------- block maths (vector loops)
@njit(**_JIT)
def _div_into(num, den, out, m):
    """``out[:m] = num[:m] / den[:m]``, eight lanes at a time."""
    m8 = m - m % 8
    for r in range(0, m8, 8):
        _div8(num, den, out, r)
    for r in range(m8, m):
        out[r] = num[r] / den[r]


@njit(**_JIT)
def _exp_into(src, dst, m):
    """``dst[:m] = exp(src[:m])`` (``src`` is not ``dst``); ``np.exp`` where ``src`` is not in [-708, 0]."""
    rare = False
    for r in range(m):
        x = src[r]
        usual = (x >= _EXP_MIN) & (x <= 0.0)
        rare |= not usual
        dst[r] = _exp(x if usual else _EXP_MIN)
    if rare:
        for r in range(m):
            x = src[r]
            if not (x >= _EXP_MIN and x <= 0.0):
                dst[r] = np.exp(x)


@njit(**_JIT)
def _log_into(src, dst, m, F, N, S):
    r"""``dst[:m] = log(src[:m])`` (``src`` is not ``dst``; ``F``, ``N``, ``S`` scratch); ``np.log`` where ``src``
    is not normal and finite.

    :math:`x = 2^n m` with :math:`m \in [\sqrt2/2, \sqrt2)`,
    :math:`\log x = n\ln 2 + 2\operatorname{atanh}\big((m-1)/(m+1)\big)`.
    """
    rare = False
    for r in range(m):
        x = src[r]
        usual = (x >= _TINY) & (x <= _HUGE)
        rare |= not usual
        bits = _to_bits(x if usual else 1.0)
        n = (bits >> 52) - 1023
        mant = _from_bits((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
        big = mant > _SQRT2
        mant = 0.5 * mant if big else mant
        N[r] = np.float64(n + 1 if big else n)
        F[r] = mant - 1.0  # exact: mant is within a factor 2 of 1
        dst[r] = F[r] + 2.0
    _div_into(F, dst, S, m)
    for r in range(m):
        n = N[r]
        dst[r] = n * _LN2_HI + (_two_atanh(S[r]) + n * _LN2_LO)
    if rare:
        for r in range(m):
            x = src[r]
            if not (x >= _TINY and x <= _HUGE):
                dst[r] = np.log(x)


@njit(**_JIT)
def _squared_rows(X, Y, w, WT, b, i0, m, G, L):
    r"""Squared error as the plain path, row by row with the decision: :math:`r = x\cdot w_j + b_j - y_j`,
    :math:`G = w r`, :math:`\ell = \sum_j r G`."""
    k = WT.shape[0]
    weighted = w.shape[0] > 0
    for r in range(m):
        i = i0 + r
        loss = 0.0
        for j in range(k):
            res = (_dot8(X, i, WT, j) + b[j]) - Y[i, j]
            g = w[i] * res if weighted else res
            G[j, r] = g
            loss += res * g
        L[r] = loss


@njit(**_JIT)
def _logistic_block(Z, Y, w, m, G, L, B):
    r"""Binary log loss in the plain path's stable forms, with :math:`e = e^{-|z|}` (``B`` scratch, 6 rows).

    :math:`\ell = -(y\log\sigma(z) + (1-y)\log\sigma(-z))`, :math:`\log\sigma(\pm z) = \min(\pm z, 0) - \log(1+e)`;
    :math:`G = (1-y)\sigma(z) - y\sigma(-z)`, :math:`\sigma(\pm z) = (\pm z \ge 0\ ?\ 1 : e)/(1+e)`.
    """
    T, E, A, C, P, Q = B[0], B[1], B[2], B[3], B[4], B[5]
    for r in range(m):
        T[r] = -abs(Z[0, r])
    _exp_into(T, E, m)
    for r in range(m):
        z = Z[0, r]
        e = E[r]
        A[r] = 1.0 if z >= 0.0 else e
        C[r] = 1.0 if -z >= 0.0 else e
        T[r] = 1.0 + e
    _div_into(A, T, P, m)  # σ(z)
    _div_into(C, T, Q, m)  # σ(-z)
    for r in range(m):
        T[r] = 2.0 + E[r]
    _div_into(E, T, A, m)  # e / (2 + e)
    for r in range(m):
        z = Z[0, r]
        y = Y[0, r]
        l1p = _two_atanh(A[r])  # log(1 + e)
        ls_pos = np.minimum(z, 0.0) - l1p  # as xp.minimum(z, 0): NaN stays NaN
        ls_neg = np.minimum(-z, 0.0) - l1p
        L[r] = -(y * ls_pos + (1.0 - y) * ls_neg)
        G[0, r] = (1.0 - y) * P[r] - y * Q[r]
    if w.shape[0] > 0:
        for r in range(m):
            L[r] = w[r] * L[r]
            G[0, r] = w[r] * G[0, r]


@njit(**_JIT)
def _softmax_block(Z, Y, w, m, G, L, B):
    r"""Softmax cross-entropy as the plain path (``B`` scratch, 6 rows): :math:`M` the finite row maximum,
    :math:`\operatorname{lse} = \log\sum_j e^{z_j - M} + M`, :math:`\ell = \operatorname{lse} - z\cdot y`,
    :math:`G = e^{z - \operatorname{lse}} - y`.
    """
    k = Z.shape[0]
    T, E, M, F, N, S = B[0], B[1], B[2], B[3], B[4], B[5]
    for r in range(m):
        M[r] = Z[0, r]
    for j in range(1, k):
        for r in range(m):
            z = Z[j, r]
            M[r] = z if z > M[r] or np.isnan(z) else M[r]  # NaN wins, as in np.max
    for r in range(m):
        mx = M[r]
        M[r] = mx if mx - mx == 0.0 else 0.0  # 0 where the maximum is not finite
        L[r] = 0.0
    for j in range(k):
        for r in range(m):
            T[r] = Z[j, r] - M[r]
        _exp_into(T, E, m)
        for r in range(m):
            L[r] += E[r]
    _log_into(L, T, m, F, N, S)
    for r in range(m):
        M[r] = T[r] + M[r]  # lse
        L[r] = Z[0, r] * Y[0, r]
    for j in range(1, k):
        for r in range(m):
            L[r] += Z[j, r] * Y[j, r]
    for r in range(m):
        L[r] = M[r] - L[r]
    for j in range(k):
        for r in range(m):
            T[r] = Z[j, r] - M[r]
        _exp_into(T, E, m)
        for r in range(m):
            G[j, r] = E[r] - Y[j, r]
    if w.shape[0] > 0:
        for r in range(m):
            L[r] = w[r] * L[r]
        for j in range(k):
            for r in range(m):
                G[j, r] = w[r] * G[j, r]


@njit(**_JIT)
def _correct(Z, Y, m):
    """Rows of the block whose predicted class is the true one: :math:`z > 0` against :math:`y > 1/2` for
    one output, else the first largest decision (NaN counting as largest, as ``np.argmax``) against the
    first largest label."""
    k = Z.shape[0]
    count = 0
    for r in range(m):
        if k == 1:
            count += (Z[0, r] > 0.0) == (Y[0, r] > 0.5)
            continue
        bz, by = 0, 0
        for j in range(1, k):
            z, best = Z[j, r], Z[bz, r]
            if (z > best or np.isnan(z)) and not np.isnan(best):
                bz = j
            if Y[j, r] > Y[by, r]:
                by = j
        count += bz == by
    return count


@njit(**_JIT)
def _chunk(kind, X, Y, w, WT, b, block_rows, grad, blk0, blk1, out_W, out_b, out_correct):
    """Blocks ``blk0 .. blk1 - 1``: sets ``out_W`` (k, d) and ``out_b`` (k,) (with ``grad``) and, for the
    classifiers, ``out_correct[0]`` (the rows predicted right); returns the loss sum."""
    n, d = X.shape
    k = WT.shape[0]
    weighted = w.shape[0] > 0
    Z = np.empty((k, block_rows))
    Yb = np.empty((k, block_rows))
    wb = np.empty(block_rows if weighted else 0)
    G = np.empty((k, block_rows))
    L = np.empty(block_rows)
    B = np.empty((6, block_rows))
    acc = np.zeros((k, (d + 7) // 8 * 8))  # padded to whole lanes for _xtg
    acc_b = np.zeros(k)
    loss = 0.0
    correct = 0
    for blk in range(blk0, blk1):
        i0 = blk * block_rows
        m = min(n, i0 + block_rows) - i0
        if kind == SQUARED:  # the decision and the residual, reading the block from memory
            _squared_rows(X, Y, w, WT, b, i0, m, G, L)
        else:
            for j in range(k):  # the decision, reading the block from memory
                for r in range(m):
                    Z[j, r] = _dot8(X, i0 + r, WT, j) + b[j]
            for j in range(k):  # labels and weights of the block, contiguous and in float64
                for r in range(m):
                    Yb[j, r] = Y[i0 + r, j]
            if weighted:
                for r in range(m):
                    wb[r] = w[i0 + r]
            correct += _correct(Z, Yb, m)
            if kind == LOGISTIC:
                _logistic_block(Z, Yb, wb, m, G, L, B)
            else:
                _softmax_block(Z, Yb, wb, m, G, L, B)
        if grad:
            for j in range(k):  # the gradient, from cache
                _xtg(acc, j, G, X, i0, m)
                acc_b[j] += _sum(G[j], m)
        loss += _sum(L, m)
    for j in range(k):  # written once per chunk: neighbouring chunks' slots share cache lines
        out_b[j] = acc_b[j]
        for l in range(d):
            out_W[j, l] = acc[j, l]
    out_correct[0] = correct
    return loss


# --------------------------------------------------------------------------- the kernel
_ONLY_PRANGE = ParallelOptions({"comprehension": False, "reduction": False, "inplace_binop": False, "setitem": False,
                                "numpy": False, "stencil": False, "fusion": False, "prange": True})
"""Parallel loops from ``prange`` only (not from ``np.zeros`` and the like): less to compile, same code."""


@njit(parallel=_ONLY_PRANGE, **_JIT)
def linear_parts(kind, X, Y, w, WT, b, block_rows, grad):
    r"""The data part of a linear model's loss and gradient in one pass over ``X``.

    Parameters
    ----------
    kind : int
        :data:`SQUARED`, :data:`LOGISTIC` or :data:`SOFTMAX`.
    X : (n, d) float32 or float64, C-contiguous
    Y : (n, k) targets or labels (X's dtype), C-contiguous
    w : (n,) row weights (X's dtype), or an empty array for none
    WT : (k, d) float64, ``W`` transposed (C-contiguous)
    b : (k,) float64, the intercept (zeros without one)
    block_rows : int
        Rows per block (the unit that stays in cache).
    grad : bool
        Whether to compute the gradient parts (else they are zeros).

    Returns
    -------
    loss : float
        :math:`\sum_i w_i \ell_i`.
    gWT : (k, d) float64
        :math:`\sum_i G_i x_i^\top`, i.e. :math:`(X^\top G)^\top`.
    gb : (k,) float64
        :math:`\sum_i G_i`.
    correct : int
        Logistic and softmax: the rows whose predicted class (largest decision) is the label's (0
        for squared error).
    """
    n, d = X.shape
    k = WT.shape[0]
    n_blocks = (n + block_rows - 1) // block_rows
    per_chunk = (n_blocks + MAX_CHUNKS - 1) // MAX_CHUNKS
    n_chunks = (n_blocks + per_chunk - 1) // per_chunk
    part_W = np.zeros((n_chunks, k, d))
    part_b = np.zeros((n_chunks, k))
    part_loss = np.zeros(n_chunks)
    part_correct = np.zeros((n_chunks, 8), dtype=np.int64)  # a cache line per chunk
    for c in prange(n_chunks):
        blk1 = min(n_blocks, (c + 1) * per_chunk)
        part_loss[c] = _chunk(kind, X, Y, w, WT, b, block_rows, grad, c * per_chunk, blk1, part_W[c], part_b[c],
                              part_correct[c])
    gWT = np.zeros((k, d))
    gb = np.zeros(k)
    loss = 0.0
    correct = 0
    for c in range(n_chunks):
        loss += part_loss[c]
        correct += part_correct[c, 0]
        for j in range(k):
            gb[j] += part_b[c, j]
            for l in range(d):
                gWT[j, l] += part_W[c, j, l]
    return loss, gWT, gb, correct


def run(kind, X, Y, w, WT, b, block_rows, grad):
    """:func:`linear_parts` with its chunks handed to the threads one at a time (a busy core holds no one back)."""
    previous = get_parallel_chunksize()
    set_parallel_chunksize(1)
    try:
        return linear_parts(kind, X, Y, w, WT, b, block_rows, grad)
    finally:
        set_parallel_chunksize(previous)
