r"""The compiled epoch behind :mod:`gradstep.kernels.loops` (imported, and Numba with it, on first use).

:func:`_epoch` makes the updates of one epoch of per-sample or mini-batch descent
for the squared error (any convention, any number of outputs) and the logistic
loss, with every optimiser, clipping, penalty (the L1 part's minimum-norm subgradient,
and the proximal steps with cumulative truncation of the plain optimisers) and per-row
weight of the plain path, in the plain path's order of operations (see :mod:`gradstep.kernels.loops`
for the maths and what it is checked against). One function per dtype runs every
case: the settings arrive in three arrays (slots ``I_*``, ``F_*``, ``T_*``) and
are one branch each per step. Compiled with ``cache=True``: a new process loads it
from disk.

Speed, at a few dozen nanoseconds per sample:

* the rows of the coming steps are prefetched (:func:`_prefetch`): shuffled rows
  miss the cache otherwise, and the misses cost more than the step;
* the arrays are passed around without reference counting (:func:`_borrowed`);
* the per-step parts are inlined into the loop (:func:`_inline`).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic

from ._slots import (  # the layout of the settings, shared with the Python side (.loops)
    ADAGRAD,
    ADAM,
    F_BETA1,
    F_BETA2,
    F_CLIP_NORM,
    F_GTOL,
    F_L1,
    F_L2,
    F_SCALE,
    F_SCALE_LAST,
    GO,
    GRADIENT,
    I_AMSGRAD,
    I_AVERAGE,
    I_CENTERED,
    I_CLIP_NORM,
    I_CLIP_VALUE,
    I_DECAY,
    I_GTOL,
    I_INTERCEPT,
    I_K,
    I_L1,
    I_L2,
    I_LOSS,
    I_NESTEROV,
    I_OPT,
    I_PROX,
    I_RECORD,
    I_RECORD_FIRST,
    I_TRACE,
    I_WEIGHTED,
    LOGISTIC,
    MAX_STEPS,
    PARAMETERS,
    RMSPROP,
    T_ALPHA,
    T_BETA2,
    T_CLIP_HI,
    T_CLIP_LO,
    T_DAMPED,
    T_DECAY,
    T_EPS,
    T_L1,
    T_L2,
    T_MOMENTUM,
    T_ONE,
    T_ONE_ALPHA,
    T_ONE_BETA1,
    T_ONE_BETA2,
    T_SCALE,
    T_SCALE_LAST,
    T_ZERO,
)


def _njit(fn):
    return numba.njit(cache=True, nogil=True)(fn)


def _inline(fn):
    """A per-step part of the kernel, inlined into its loop at Numba's level (a call per step passing
    a dozen arrays costs as much as a per-sample step)."""
    return numba.njit(cache=True, nogil=True, inline="always")(fn)


@intrinsic
def _prefetch(typingctx, arr, i, j):
    """Ask the CPU to fetch the cache line of ``arr[i, j]`` (``arr[i]`` for a 1-D array), LLVM's
    ``llvm.prefetch`` for reading. It never faults, and nothing waits for it.

    Rows visited in shuffled order miss the cache; fetched a few steps ahead, they do not.
    """

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = [args[1], args[2]][: aryty.ndim]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index, wraparound=False)
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [i8p, i32(0), i32(3), i32(1)])  # read, keep in all cache levels, data
        return context.get_dummy_value()

    return types.void(arr, i, j), codegen

@intrinsic
def _borrowed(typingctx, arrays):
    """The arrays of the tuple ``arrays`` without their reference counts.

    Numba counts references to every array a function passes on or views: a call and an
    atomic add each, several per step in an inlined loop body, more than a per-sample step
    costs. The kernels take their arguments through this once; the views are valid while
    the arrays live, which is the whole kernel call (the caller holds them).
    """

    def codegen(context, builder, signature, args):
        borrowed = []
        for i, aryty in enumerate(signature.args[0]):
            src = context.make_array(aryty)(context, builder, builder.extract_value(args[0], i))
            dst = context.make_array(aryty)(context, builder)
            for name in ("nitems", "itemsize", "data", "shape", "strides"):
                setattr(dst, name, getattr(src, name))
            dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
            dst.parent = cgutils.get_null_value(dst.parent.type)
            borrowed.append(dst._getvalue())
        return context.make_tuple(builder, signature.return_type, borrowed)

    return arrays(arrays), codegen


@_inline
def _fetch_rows(X, Y, w, order, start, stop):
    """Prefetch the cache lines of the rows ``order[start:stop]`` of ``X``, ``Y`` and ``w``."""
    n, d = order.shape[0], X.shape[1]
    per_line = max(1, 64 // X.itemsize)
    weighted = w.shape[0] > 0
    for i in range(start, min(stop, n)):
        row = order[i]
        for c in range(0, d, per_line):
            _prefetch(X, row, c)
        _prefetch(X, row, d - 1)
        _prefetch(Y, row, 0)
        if weighted:
            _prefetch(w, row, 0)


@_inline
def _cast(x, buf):
    """``x`` in the dtype of the one-element array ``buf``: a Python float meeting a NumPy array."""
    buf[0] = x
    return buf[0]


@_inline
def _minimum(a, b):
    """``np.minimum``: the smaller, nan if either is."""
    return a if (a <= b or math.isnan(a)) else b


@_inline
def _maximum(a, b):
    """``np.maximum``: the larger, nan if either is."""
    return a if (a >= b or math.isnan(a)) else b


@_inline
def _sign(a, one, zero):
    """``np.sign``: -1, 0 or 1 (+0 for -0, nan for nan)."""
    if a > zero:
        return one
    if a < zero:
        return -one
    if a == zero:
        return zero
    return a


@_inline
def _above_zero(a, zero):
    """``np.clip(a, min=0.0)``, i.e. ``np.maximum(a, 0.0)``: ``a`` if above 0 or nan, else +0 (NumPy's
    loops give the second operand of equal ones: +0 for -0)."""
    return a if (a > zero or math.isnan(a)) else zero


@_inline
def _below_zero(a, zero):
    """``np.clip(a, max=0.0)``, i.e. ``np.minimum(a, 0.0)``: ``a`` if below 0 or nan, else +0."""
    return a if (a < zero or math.isnan(a)) else zero


@_inline
def _block_sum(a, lo, n, zero):
    """NumPy's sum of a run of at most 128 values: in order below 8, else eight running sums."""
    if n < 8:
        res = zero
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@_inline
def _sum(a, lo, n, zero):
    """``np.sum(a[lo:lo+n])`` as NumPy adds a contiguous run: blocks of at most 128 values,
    halved (at a multiple of 8) and added pairwise above that."""
    return _block_sum(a, lo, n, zero) if n <= 128 else _long_sum(a, lo, n, zero)


@_njit
def _long_sum(a, lo, n, zero):
    """:func:`_sum` of more than 128 values: NumPy's halving walked with a stack, not by recursion
    (a cached Numba function calling a recursive one crashes when loaded from the cache)."""
    starts = np.empty(64, np.int64)
    sizes = np.empty(64, np.int64)
    stage = np.zeros(64, np.int64)
    partial = np.empty(64, a.dtype)
    starts[0], sizes[0], stage[0] = lo, n, 0
    top = 0
    result = zero
    while top >= 0:
        size = sizes[top]
        if size <= 128 or stage[top] == 2:
            value = _block_sum(a, starts[top], size, zero) if size <= 128 else partial[top]
            top -= 1
            if top < 0:
                result = value
            elif stage[top] == 1:  # the left half is done: keep it, go right
                partial[top] = value
                stage[top] = 3
            else:  # the right half is done
                partial[top] = partial[top] + value
                stage[top] = 2
            continue
        half = size // 2
        half -= half % 8
        if stage[top] == 0:
            stage[top] = 1
            starts[top + 1], sizes[top + 1], stage[top + 1] = starts[top], half, 0
        else:  # stage 3: the right half
            stage[top] = 4
            starts[top + 1], sizes[top + 1], stage[top + 1] = starts[top] + half, size - half, 0
        top += 1
    return result


@_inline
def _sum_squares(a, n, tmp, zero):
    """``np.sum(np.square(a[:n]))``."""
    for i in range(n):
        tmp[i] = a[i] * a[i]
    return _sum(tmp, 0, n, zero)


@_inline
def _rows(X, order, lo, m, Xb):
    """Copy the batch ``X[order[lo:lo+m]]`` into ``Xb[:m]`` (as NumPy's fancy index copies it)."""
    for i in range(m):
        row = order[lo + i]
        for c in range(X.shape[1]):
            Xb[i, c] = X[row, c]


# The per-step functions take views made once per epoch (W = θ[:d], gW = g[:d], the batch
# buffers and their transposes), of the borrowed arrays.
@_inline
def _squared(X, Y, w, order, lo, m, W, b, gW, gb, xb, xbT, zb, wr, tmp, icfg, scale, scale_t, zero):
    """Loss and gradient (into ``gW``, ``gb``) of single-output squared error on rows ``order[lo:lo+m]``,
    as :class:`~gradstep.objectives.SquaredError` computes them: ``r = X w + b - y``,
    ``value = scale/2 * sum(r * wr)``, ``g = [(X.T @ wr) * scale, sum(wr) * scale]``.
    ``xb``, ``xbT``, ``zb``, ``wr`` are ``m``-row views of the batch buffers."""
    d = X.shape[1]
    weighted, intercept = icfg[I_WEIGHTED], icfg[I_INTERCEPT]
    if m == 1:  # one row: X @ w is a dot product, X.T @ wr a product per entry, a sum 0 + the value
        row = order[lo]
        x = X[row]
        z = np.dot(x, W) + b[0] if intercept else np.dot(x, W)
        r = z - Y[row, 0]
        v = w[row] * r if weighted else r
        for c in range(d):
            gW[c] = (x[c] * v) * scale_t
        if intercept:
            gb[0] = (zero + v) * scale_t
        return (0.5 * scale) * np.float64(zero + r * v)
    _rows(X, order, lo, m, xb)
    np.dot(xb, W, zb)
    for i in range(m):
        row = order[lo + i]
        z = zb[i] + b[0] if intercept else zb[i]
        r = z - Y[row, 0]
        v = w[row] * r if weighted else r
        wr[i] = v
        tmp[i] = r * v
    total = _sum(tmp, 0, m, zero)
    np.dot(xbT, wr, gW)
    for c in range(d):
        gW[c] = gW[c] * scale_t
    if intercept:
        gb[0] = _sum(wr, 0, m, zero) * scale_t
    return (0.5 * scale) * np.float64(total)


@_inline
def _squared_multi(X, Y, w, order, lo, m, W, b, gW, gb, xb, xbT, zb, wr, tmp, icfg, scale, scale_t, zero):
    """:func:`_squared` for ``k > 1`` outputs: ``W``, ``gW`` are (d, k), ``zb`` and ``wr`` (m, k)."""
    d, k = X.shape[1], icfg[I_K]
    weighted, intercept = icfg[I_WEIGHTED], icfg[I_INTERCEPT]
    _rows(X, order, lo, m, xb)
    if m == 1:  # a vector-matrix product
        np.dot(xb[0], W, zb[0])
    else:
        np.dot(xb, W, zb)
    for i in range(m):
        row = order[lo + i]
        for j in range(k):
            z = zb[i, j] + b[j] if intercept else zb[i, j]
            r = z - Y[row, j]
            v = w[row] * r if weighted else r
            wr[i, j] = v
            tmp[i * k + j] = r * v
    total = _sum(tmp, 0, m * k, zero)
    if m == 1:
        for c in range(d):
            for j in range(k):
                gW[c, j] = (xb[0, c] * wr[0, j]) * scale_t
    else:
        np.dot(xbT, wr, gW)
        for c in range(d):
            for j in range(k):
                gW[c, j] = gW[c, j] * scale_t
    if intercept:  # a column sum over rows: NumPy adds row after row
        for j in range(k):
            acc = zero
            for i in range(m):
                acc += wr[i, j]
            gb[j] = acc * scale_t
    return (0.5 * scale) * np.float64(total)


@_inline
def _log_loss(z, y, zero, one):
    """One row's log loss and :math:`\\sigma(z) - y` in the stable forms of
    :class:`~gradstep.objectives.LogisticLoss`."""
    e = math.exp(-abs(z))
    t = math.log1p(e)
    loss = -(y * (_minimum(z, zero) - t) + (one - y) * (_minimum(-z, zero) - t))
    return loss, (one - y) * ((one if z >= zero else e) / (one + e)) - y * ((one if -z >= zero else e) / (one + e))


@_inline
def _logistic(X, Y, w, order, lo, m, W, b, gW, gb, xb, xbT, zb, wr, tmp, icfg, zero, one, cast):
    """Loss and gradient (into ``gW``, ``gb``) of the binary log loss on rows ``order[lo:lo+m]``, as
    :class:`~gradstep.objectives.LogisticLoss` computes them: ``value = sum(w * loss) / m``,
    ``g = [X.T @ (w * (σ(z) - y)) / m, sum(w * (σ(z) - y)) / m]``."""
    d = X.shape[1]
    weighted, intercept = icfg[I_WEIGHTED], icfg[I_INTERCEPT]
    if m == 1:  # one row (see _squared); the division by m = 1 is exact
        row = order[lo]
        x = X[row]
        loss, G = _log_loss(np.dot(x, W) + b[0] if intercept else np.dot(x, W), Y[row, 0], zero, one)
        if weighted:
            loss, G = w[row] * loss, w[row] * G
        for c in range(d):
            gW[c] = x[c] * G
        if intercept:
            gb[0] = zero + G
        return np.float64(zero + loss)
    _rows(X, order, lo, m, xb)
    np.dot(xb, W, zb)
    for i in range(m):
        row = order[lo + i]
        loss, G = _log_loss(zb[i] + b[0] if intercept else zb[i], Y[row, 0], zero, one)
        if weighted:
            loss, G = w[row] * loss, w[row] * G
        tmp[i] = loss
        wr[i] = G
    total = _sum(tmp, 0, m, zero)
    m_t = _cast(m, cast)
    np.dot(xbT, wr, gW)
    for c in range(d):
        gW[c] = gW[c] / m_t
    if intercept:
        gb[0] = _sum(wr, 0, m, zero) / m_t
    return np.float64(total) / m


@_inline
def _penalty(value, theta, g, n_w, icfg, fcfg, tcfg, tmp, zero, one):
    """``value`` plus :meth:`~gradstep.objectives.penalties.Penalty.value`, and ``g`` made the minimum-norm
    subgradient of :meth:`~gradstep.objectives.penalties.Penalty.add_grad` on ``W`` (the first ``n_w``
    entries): ``g + (l2 θ + l1 sign(θ))`` where θ ≠ 0, ``sign(g) max(|g| - l1, 0)`` where θ = 0."""
    l1, l2 = icfg[I_L1], icfg[I_L2]
    pen = 0.0
    if l2:
        pen += 0.5 * fcfg[F_L2] * np.float64(_sum_squares(theta, n_w, tmp, zero))
    if l1:
        for c in range(n_w):
            tmp[c] = abs(theta[c])
        pen += fcfg[F_L1] * np.float64(_sum(tmp, 0, n_w, zero))
    l1_t, l2_t = tcfg[T_L1], tcfg[T_L2]
    for c in range(n_w):
        if l1 and theta[c] == zero:   # the L2 part is 0 there
            g[c] = _sign(g[c], one, zero) * _above_zero(abs(g[c]) - l1_t, zero)
            continue
        pg = zero   # Penalty.grad, then added: g + (l2 θ + l1 sign θ)
        if l2:
            pg = pg + l2_t * theta[c]
        if l1:
            pg = pg + l1_t * _sign(theta[c], one, zero)
        g[c] = g[c] + pg
    return value + pen


@_inline
def _smooth_gradient(theta, g, n_w, l1_t, zero, one):
    """:func:`~gradstep.optim.proximal.smooth_gradient`: the gradient of the smooth part from the
    minimum-norm subgradient, ``g + l1 (mask · direction)`` with ``mask`` 1 on ``W`` and 0 on the intercept
    (whose ``l1 (0 · direction)``, a signed zero, is added too: NumPy adds it)."""
    for c in range(theta.shape[0]):
        direction = _sign(g[c], one, zero) if theta[c] == zero else -_sign(theta[c], one, zero)
        g[c] = g[c] + l1_t * ((one if c < n_w else zero) * direction)


@_inline
def _truncated(z, u, q, zero):
    """Tsuruoka et al.'s cumulative truncation of one penalised entry ``z`` of the gradient step's end
    (:func:`gradstep.optim.proximal._truncate`): towards 0 by ``u ± q``, not past it."""
    if z > zero:
        return _above_zero(z - (u + q), zero)
    if z < zero:
        return _below_zero(z + (u - q), zero)
    return z


@_inline
def _proximal_update(theta, g, neg_lr, lr, n_w, l1, q, u, cast, zero):
    """The end of :func:`~gradstep.optim.proximal.l1_step` (cumulative) and the loop's ``params + updates``:
    ``z = θ + step``, ``u += lr l1``, the truncation of ``W``'s entries, ``q += new - z``, and
    ``θ + (new - θ)`` (not always ``new`` to the last bit). Returns whether θ stayed finite."""
    u[0] = u[0] + lr * l1
    u_t = _cast(u[0], cast)  # a Python float meeting q
    finite = True
    for c in range(theta.shape[0]):
        z = theta[c] + neg_lr * g[c]
        new = _truncated(z, u_t, q[c], zero) if c < n_w else z
        q[c] = q[c] + (new - z)
        v = theta[c] + (new - theta[c])
        theta[c] = v
        finite = finite & (abs(v) < np.inf)
    return finite


@_inline
def _update(step, value, m, theta, g, neg_lr, lr, icfg, fcfg, tcfg, n_w, trace, s1, s2, s3, counts, avg, mean,
            q, u, out_loss, out_gnorm, out_path, tmp, cast):
    """The rest of one step after the batch's loss ``value`` and data gradient ``g``: the penalty,
    the loop's checks, the record, the transform chain (inside the proximal step with ``I_PROX``)
    and the update of ``theta``.

    Returns ``(halt, value, gnorm)``: ``GO``, or ``GRADIENT`` (no update made) or ``PARAMETERS``
    (the update made gave non-finite parameters); ``value`` with the penalty.
    """
    p = theta.shape[0]
    zero, one = tcfg[T_ZERO], tcfg[T_ONE]
    if icfg[I_L1] or icfg[I_L2]:  # Penalty.value then Penalty.add_grad, on W only
        value = _penalty(value, theta, g, n_w, icfg, fcfg, tcfg, tmp, zero, one)
    gnorm = np.float64(math.sqrt(_sum_squares(g, p, tmp, zero)))
    if not math.isfinite(gnorm) or (icfg[I_GTOL] and gnorm <= fcfg[F_GTOL]):
        return GRADIENT, value, gnorm
    out_loss[step] = value
    out_gnorm[step] = gnorm
    every = icfg[I_RECORD]
    if every:  # θ of the steps first, first + every, ... of this call
        j = step - icfg[I_RECORD_FIRST]
        if j >= 0 and j % every == 0:
            row = j // every
            for c in range(p):
                out_path[row, c] = theta[c]
    prox = icfg[I_PROX]
    if prox:  # the proximal step's chain takes the smooth part's gradient
        _smooth_gradient(theta, g, n_w, tcfg[T_L1], zero, one)
    # ---- the transform chain: clip by value, by norm, weight decay, optimiser, learning rate
    if icfg[I_CLIP_VALUE]:
        lo_c, hi_c = tcfg[T_CLIP_LO], tcfg[T_CLIP_HI]
        for c in range(p):
            if g[c] < lo_c:  # np.clip: nan stays nan
                g[c] = lo_c
            elif g[c] > hi_c:
                g[c] = hi_c
    if icfg[I_CLIP_NORM]:
        norm = np.float64(math.sqrt(_sum_squares(g, p, tmp, zero)))
        if norm > fcfg[F_CLIP_NORM]:
            f = _cast(fcfg[F_CLIP_NORM] / norm, cast)
            for c in range(p):
                g[c] = g[c] * f
    if icfg[I_DECAY]:
        wd = tcfg[T_DECAY]
        for c in range(p):
            g[c] = g[c] + wd * theta[c]
    opt = icfg[I_OPT]
    if opt == ADAGRAD:
        eps = tcfg[T_EPS]
        for c in range(p):
            s1[c] = s1[c] + g[c] * g[c]
            g[c] = g[c] / (math.sqrt(s1[c]) + eps)
    elif opt == RMSPROP:
        alpha, one_alpha, eps = tcfg[T_ALPHA], tcfg[T_ONE_ALPHA], tcfg[T_EPS]
        for c in range(p):
            s1[c] = alpha * s1[c] + one_alpha * (g[c] * g[c])
            if icfg[I_CENTERED]:
                s2[c] = s2[c] + one_alpha * (g[c] - s2[c])
                g[c] = g[c] / (math.sqrt(s1[c] - s2[c] * s2[c]) + eps)
            else:
                g[c] = g[c] / (math.sqrt(s1[c]) + eps)
    elif opt == ADAM:
        t = counts[1] + 1
        counts[1] = t
        bc1 = _cast(1 - math.pow(fcfg[F_BETA1], float(t)), cast)
        bc2 = _cast(math.sqrt(1 - math.pow(fcfg[F_BETA2], float(t))), cast)
        one_b1, b2, one_b2, eps = tcfg[T_ONE_BETA1], tcfg[T_BETA2], tcfg[T_ONE_BETA2], tcfg[T_EPS]
        for c in range(p):
            s2[c] = s2[c] + one_b1 * (g[c] - s2[c])
            s1[c] = b2 * s1[c] + one_b2 * (g[c] * g[c])
            if icfg[I_AMSGRAD]:
                s3[c] = _maximum(s3[c], s1[c])
                den = math.sqrt(s3[c]) / bc2 + eps
            else:
                den = math.sqrt(s1[c]) / bc2 + eps
            g[c] = (s2[c] / bc1) / den
    if icfg[I_TRACE]:
        mom, damped = tcfg[T_MOMENTUM], tcfg[T_DAMPED]
        first = counts[0] == 0
        for c in range(p):
            buf = g[c] if first else mom * trace[c] + damped * g[c]
            trace[c] = buf
            g[c] = g[c] + mom * buf if icfg[I_NESTEROV] else buf
        counts[0] += 1
    if prox:
        finite = _proximal_update(theta, g, neg_lr, lr, n_w, fcfg[F_L1], q, u, cast, zero)
    else:
        finite = True
        for c in range(p):
            v = theta[c] + neg_lr * g[c]
            theta[c] = v
            finite = finite & (abs(v) < np.inf)
    if not finite:
        return PARAMETERS, value, gnorm
    if icfg[I_AVERAGE]:  # the running mean of the iterates, handed back to the caller
        avg[1] += m
        if avg[1] >= avg[0]:
            avg[2] += 1
            cnt = _cast(avg[2], cast)
            for c in range(p):
                mean[c] = theta[c] if avg[2] == 1 else mean[c] + (theta[c] - mean[c]) / cnt
    return GO, value, gnorm


@_njit
def _epoch(data, n_steps, bs, params, config, state, out, scratch):
    r"""Make up to ``n_steps`` updates of one epoch, in place; return ``(done, halt, halt_loss, halt_gnorm)``.

    ``data``: the rows ``X``, ``Y``, ``w`` (empty: no weights) and their ``order``; ``params``: θ
    (updated in place), :math:`-\eta_t` per step in θ's dtype and :math:`\eta_t` in float64; ``config``:
    ``icfg``, ``fcfg``, ``tcfg`` (see :class:`CompiledEpochs`); ``state``: the optimiser's arrays (see
    :func:`_update`; ``q`` and the one-element ``u`` those of the proximal step);
    ``out``: loss and gradient norm per step, θ of the steps kept (``I_RECORD``, ``I_RECORD_FIRST``);
    ``scratch``: ``g``, the batch buffer ``Xb`` (bs, d), ``Zb`` and ``WR`` (bs k), ``tmp``, ``cast``. One
    function for every loss: the loss is one branch per step, and the whole of it compiles once per dtype.
    """
    X, Y, w, order = _borrowed(data)
    theta, neg_lrs, lrs = _borrowed(params)
    icfg, fcfg, tcfg = _borrowed(config)
    trace, s1, s2, s3, counts, avg, mean, q, u = _borrowed(state)
    out_loss, out_gnorm, out_path = _borrowed(out)
    g, Xb, Zb, WR, tmp, cast = _borrowed(scratch)
    n, d = order.shape[0], X.shape[1]  # the rows of this call: order may start inside the epoch
    k = Y.shape[1]
    dk = d * k
    logistic, zero, one = icfg[I_LOSS] == LOGISTIC, tcfg[T_ZERO], tcfg[T_ONE]
    W, b, gW, gb = theta[:d], theta[dk:], g[:d], g[dk:]  # single output
    W2, gW2 = theta[:dk].reshape((d, k)), g[:dk].reshape((d, k))  # k outputs
    xb, xbT, zb, wr, zb2, wr2 = Xb, Xb.T, Zb, WR, Zb.reshape((bs, k)), WR.reshape((bs, k))
    ahead = max(bs, 16)  # rows fetched ahead of their step
    for step in range(n_steps):
        lo = step * bs
        m = min(bs, n - lo)
        _fetch_rows(X, Y, w, order, lo + ahead, lo + ahead + m)
        full = m == bs
        if not full:  # the last, short batch
            xb, xbT, zb, wr = Xb[:m], Xb[:m].T, Zb[:m * k], WR[:m * k]
            zb2, wr2 = zb.reshape((m, k)), wr.reshape((m, k))
        if logistic:
            value = _logistic(X, Y, w, order, lo, m, W, b, gW, gb, xb, xbT, zb, wr, tmp, icfg, zero, one, cast)
        else:
            scale, scale_t = (fcfg[F_SCALE], tcfg[T_SCALE]) if full else (fcfg[F_SCALE_LAST], tcfg[T_SCALE_LAST])
            if k == 1:
                value = _squared(X, Y, w, order, lo, m, W, b, gW, gb, xb, xbT, zb, wr, tmp, icfg, scale, scale_t,
                                 zero)
            else:
                value = _squared_multi(X, Y, w, order, lo, m, W2, b, gW2, gb, xb, xbT, zb2, wr2, tmp, icfg, scale,
                                       scale_t, zero)
        halt, value, gnorm = _update(step, value, m, theta, g, neg_lrs[step], lrs[step], icfg, fcfg, tcfg, dk,
                                     trace, s1, s2, s3, counts, avg, mean, q, u, out_loss, out_gnorm, out_path,
                                     tmp, cast)
        if halt != GO:
            return step + (halt == PARAMETERS), halt, value, gnorm
    return n_steps, MAX_STEPS if n_steps * bs < n else GO, np.nan, np.nan
