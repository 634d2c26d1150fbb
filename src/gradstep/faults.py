r"""Numerical faults of a fit, caught before and after it: warnings and errors that say what to do.

Before a fit (:func:`check_data`, one :math:`O(nd)` pass over ``X``, plus a :math:`O(nd^2)`
rank check only when ``d`` and ``n d^2`` are small):

* the squares of a column (or of the target) overflow the dtype: :class:`NumericalError`
  (instead of a divergence at step 0 with a meaningless "stable learning rate");
* features on very different scales (``scale`` off): :class:`NumericalWarning`;
* constant columns (which duplicate the intercept; not with ``scale``, which makes them zeros whose
  coefficients stay at 0), identical columns and linearly dependent columns (no L2 penalty):
  :class:`NumericalWarning`, the coefficients are not unique.

After a fit (:func:`check_fit`, :math:`O(nd)`, nothing per step):

* the tolerance rule stopped the run far from the optimum: a Jacobi (diagonal) estimate of
  :math:`f - f^*`, :math:`\tfrac12\sum_j g_j^2 / H_{jj}`, is large next to the loss;
* perfectly separable classes without a penalty: the weights grow without bound.

Predictions that are not finite raise :class:`NumericalError` (:func:`check_predictions`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from . import backend

SCALE_RATIO = 1e4
"""Largest ratio of feature scales (the intercept's column of ones counting as scale 1) before a
warning: gradient descent slows down by about its square (the condition number)."""

GAP_RATIO = 0.1
"""A run stopped by ``tol`` or ``gtol`` with an estimated :math:`f - f^*` above this share of the loss is
reported as stopped far from the optimum."""

RANK_MAX_FEATURES = 200
RANK_MAX_WORK = 2e8
"""The rank check (linearly dependent columns) runs only for ``d <= 200`` and ``n d^2 <= 2e8``."""

SEPARABLE_LP_MAX = 2e5
"""The separability linear programme runs only when ``n (d + 1) k`` is at most this (and the fit
already classifies 95% of the rows right); above, only the fitted parameters can show separability."""

RANK_TOL = 1e-10
"""Smallest eigenvalue of the columns' correlation matrix counted as zero."""


class NumericalWarning(UserWarning):
    """The data or the result of a fit has a numerical problem that may make the answer wrong."""


class NumericalError(ValueError, FloatingPointError):
    """A computation would overflow or give NaN; the message names the culprit and the remedy."""


def _names(model: Any, d: int) -> list[str]:
    return [str(f) for f in getattr(model, "feature_names_in_", [f"x{i}" for i in range(d)])]


def _quote(names: list[str], limit: int = 5) -> str:
    shown = [f"'{n}'" for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    if len(shown) == 1:
        return shown[0] + more
    return ", ".join(shown[:-1]) + (" and " if not more else ", ") + shown[-1] + more


def _dtype_name(X: Any) -> str:
    return str(X.dtype).rsplit(".", 1)[-1]


def _finfo(X: Any) -> np.finfo:
    return np.finfo(np.float32 if _dtype_name(X) == "float32" else np.float64)


def _host(a: Any) -> np.ndarray:
    return np.asarray(backend.to_numpy(a), dtype=np.float64)


def _warn(message: str, stacklevel: int) -> None:
    warnings.warn(message, NumericalWarning, stacklevel=stacklevel + 1)


# ---------------------------------------------------------------------------------------- before a fit
def _column_stats(X: Any, centre: bool = False, extras: bool = False, gram: bool = False) -> dict[str, Any]:
    """Per-column statistics of ``X`` without overflowing: each column is divided by its largest
    ``|x|`` first (``U = X / max|x|``). Always ``amax`` (max ``|x_j|``), ``constant``, ``s2`` (sum of
    ``u_j^2``); ``sc`` (sum of squares of ``u_j``, centred with ``centre``); with ``extras``, ``sig``
    (a random projection of each ``u_j``) and with ``gram`` ``G`` (the float64 Gram matrix of the
    centred ``U``). NumPy input is read in blocks of rows (no copy of ``X``); other libraries
    (torch, on their device) work on the whole array.
    """
    from .objectives.stats import gram as xtx

    xp = backend.namespace(X)
    n, d = X.shape
    mx, mn = xp.max(X, axis=0), xp.min(X, axis=0)
    amax = _host(xp.maximum(xp.abs(mx), xp.abs(mn)))
    out: dict[str, Any] = {"amax": amax, "constant": _host(mx == mn).astype(bool)}
    m = np.where(amax > 0, amax, 1.0)
    r = np.random.default_rng(0).standard_normal(n) if extras else None
    if isinstance(X, np.ndarray):
        with backend.one_blas_thread():  # blocks in cache: threads would only wait on each other
            scale_ = m.astype(X.dtype)
            rows = max(1, (1 << 16) // max(d, 1))  # blocks of 64k values: in cache
            mean = np.zeros(d)
            if centre:
                for i in range(0, n, rows):
                    mean += np.sum(X[i:i + rows] / scale_, axis=0, dtype=np.float64)
                mean /= n
            mean_x = mean.astype(X.dtype)
            s2, sc, sig = np.zeros(d), np.zeros(d), np.zeros(d)
            G = np.zeros((d, d)) if gram else None
            for i in range(0, n, rows):
                U = X[i:i + rows] / scale_
                s2 += np.einsum("ij,ij->j", U, U)
                C = U - mean_x if centre else U
                sc += np.einsum("ij,ij->j", C, C) if centre else 0.0
                if r is not None:   # extras
                    sig += r[i:i + rows] @ U
                if gram:
                    G += xtx(C.astype(np.float64, copy=False))
            out.update(s2=s2, sc=sc if centre else s2, sig=sig, G=G)
            return out
    U = X / xp.asarray(m, dtype=X.dtype, device=backend.device(X))
    out["s2"] = _host(xp.sum(U * U, axis=0))
    C = U - xp.mean(U, axis=0) if centre else U
    out["sc"] = _host(xp.sum(C * C, axis=0)) if centre else out["s2"]
    if extras:
        out["sig"] = _host(xp.asarray(r, dtype=X.dtype, device=backend.device(X)) @ U)
    if gram:
        C64 = C if _dtype_name(C) == "float64" else xp.astype(C, xp.float64)
        out["G"] = _host(C64.T @ C64)
    return out


def check_overflow(model: Any, X: Any, Y: Any = None, target: bool = False, stats: dict | None = None) -> dict:
    """Raise :class:`NumericalError` when the sum of squares of a column of ``X`` (or of ``Y``,
    with ``target``) overflows ``X``'s dtype; return the column statistics (:func:`_column_stats`).

    Computed without overflowing: each column is divided by its largest absolute value first.
    """
    stats = stats if stats is not None else _column_stats(X)
    amax, s2 = stats["amax"], stats["s2"]
    info = _finfo(X)
    limit = math.log(float(info.max))
    with np.errstate(divide="ignore"):
        logsq = 2 * np.log(np.where(amax > 0, amax, 1.0)) + np.log(np.maximum(s2, 1.0))
    bad = np.flatnonzero(logsq > limit)
    dtype = _dtype_name(X)
    if bad.size:
        names = _names(model, X.shape[1])
        cols = _quote([names[j] for j in bad])
        big = float(amax[bad].max())
        raise NumericalError(
            f"the squares of column{'s' if bad.size > 1 else ''} {cols} overflow {dtype} (max |x| = {big:.3g}, "
            f"largest {dtype} {float(info.max):.3g}): divide {'those columns' if bad.size > 1 else 'that column'} "
            f"by a constant (e.g. {big:.0e}) before fitting" + (" or fit in float64" if dtype != "float64" else ""))
    if target and Y is not None:
        yp = backend.namespace(Y)
        ymax = yp.max(yp.abs(Y), axis=0)
        ym = yp.where(ymax > 0, ymax, yp.ones_like(ymax))
        ys2 = _host(yp.sum((Y / ym) ** 2, axis=0))
        ymax = _host(ymax)
        with np.errstate(divide="ignore"):
            ylog = 2 * np.log(np.where(ymax > 0, ymax, 1.0)) + np.log(np.maximum(ys2, 1.0))
        ybad = np.flatnonzero(ylog > limit)
        if ybad.size:
            which = "y" if Y.shape[1] == 1 else f"y[:, {int(ybad[0])}]"
            raise NumericalError(
                f"the squares of the target {which} overflow {dtype} (max |y| = {float(ymax[ybad].max()):.3g}): "
                f"divide y by its standard deviation (and multiply the predictions back) or fit in float64")
    return stats


def check_data(model: Any, X: Any, Y: Any, penalty: Any, stacklevel: int = 2) -> None:
    """All the checks before a fresh fit on ``X`` (original units) and the encoded target ``Y``.

    Raises :class:`NumericalError` on overflow; warns (:class:`NumericalWarning`) about feature
    scales (only with ``scale`` off), constant, identical and linearly dependent columns (only
    without an L2 penalty, which makes the coefficients unique; constant ones only with ``scale`` off).
    """
    n, d = X.shape
    target = model.loss_name in ("mse", "half_mse", "sum")
    names = _names(model, d)
    intercept = bool(getattr(model, "fit_intercept", True))
    unique = penalty.l2 == 0   # else the coefficients are unique: no column checks
    gram = unique and 2 <= d <= RANK_MAX_FEATURES and n * d * d <= RANK_MAX_WORK
    stats = check_overflow(model, X, Y, target=target,
                           stats=_column_stats(X, centre=intercept, extras=unique, gram=gram))
    amax, constant = stats["amax"], stats["constant"]
    scale = np.sqrt(stats["sc"] / n) * np.where(amax > 0, amax, 1.0)  # std (intercept) or root mean square
    scaled = getattr(model, "scale", None) not in (None, "none")
    if not scaled:
        _check_scales(names, scale, constant, intercept, stacklevel + 1)
    if not unique:
        return
    reported = set()
    flagged = np.flatnonzero(constant if intercept else constant & (amax == 0))
    if scaled:   # scale='standard' / 'minmax' centre a constant column to zeros (with an intercept; an all-zero
        flagged = flagged[:0]   # one stays zeros), as scikit-learn's scalers do, silently: its gradient is 0
        # and its coefficient stays at its start, 0 from zeros: the minimum-norm answer, no choice to warn about
    if flagged.size:
        cols = [names[j] for j in flagged]
        one = len(cols) == 1
        what = ("is constant (it duplicates the intercept)" if one else "are constant (they duplicate the intercept)"
                ) if intercept else ("is all zeros" if one else "are all zeros")
        whose = ("its coefficient and the intercept are" if intercept else "its coefficient is") if one else (
            "their coefficients and the intercept are" if intercept else "their coefficients are")
        _warn(f"column{'' if one else 's'} {_quote(cols)} {what}: {whose} not unique; drop {'it' if one else 'them'}, "
              f"or set penalty='l2' with alpha > 0", stacklevel + 1)
        reported.update(flagged.tolist())
    live = [j for j in range(d) if not constant[j]]
    dups = _duplicates(X, stats["sig"], live, amax)
    for a, b in dups:
        _warn(f"columns '{names[a]}' and '{names[b]}' are identical: their coefficients are not unique (only "
              f"their sum is); drop one of them, or set penalty='l2' with alpha > 0", stacklevel + 1)
        reported.add(b)
    rest = [j for j in live if j not in reported]
    if gram and len(rest) >= 2:
        dependent = _dependent(stats["G"], rest)
        if dependent:
            cols = [names[j] for j in dependent]
            _warn(f"columns {_quote(cols, 8)} are linearly dependent (one is a combination of the others"
                  f"{' and the intercept' if intercept else ''}): the coefficients are not unique; drop one of "
                  f"them, or set penalty='l2' with alpha > 0", stacklevel + 1)


def _check_scales(names: list[str], scale: np.ndarray, constant: np.ndarray, intercept: bool,
                  stacklevel: int) -> None:
    idx = [j for j in range(len(names)) if not constant[j] and scale[j] > 0 and np.isfinite(scale[j])]
    if not idx:
        return
    s = scale[idx]
    lo, hi = float(s.min()), float(s.max())
    if intercept:
        lo, hi = min(lo, 1.0), max(hi, 1.0)
    if hi / lo <= SCALE_RATIO:
        return
    ref = float(np.median(np.log10(np.r_[s, [1.0] if intercept else []])))
    odd = [j for j in idx if abs(math.log10(scale[j]) - ref) > 2]   # a factor 100 off the median scale
    if not odd:  # the columns together against the intercept
        odd = idx
    odd.sort(key=lambda j: -abs(math.log(scale[j])))
    listed = ", ".join(f"'{names[j]}' {scale[j]:.3g}" for j in odd[:5]) + (f" and {len(odd) - 5} more"
                                                                           if len(odd) > 5 else "")
    kind = "standard deviations" if intercept else "root mean squares"
    ones = " against the intercept's column of ones (scale 1)" if intercept else ""
    _warn(f"the features' scales differ by a factor of {hi / lo:.3g}{ones} ({kind}: {listed}): gradient descent "
          f"slows down by about the square of that and can stop far from the optimum; set scale='standard' "
          f"(or 'minmax'), or standardise X yourself", stacklevel + 1)


def _duplicates(X: Any, sig: np.ndarray, live: list[int], amax: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(a, b)``, ``a < b``, of identical columns among ``live``: candidates from one random
    projection ``sig`` of every column divided by its largest ``|x|`` (O(nd)), confirmed exactly (O(n) each)."""
    if len(live) < 2:
        return []
    xp = backend.namespace(X)
    tol = 1e-4 * math.sqrt(X.shape[0])
    order = sorted(live, key=lambda j: (amax[j], sig[j]))
    out, seen = [], set()
    for i, a in enumerate(order):
        if a in seen:
            continue
        for b in order[i + 1:]:
            if amax[b] != amax[a]:
                break
            if abs(sig[b] - sig[a]) > tol or b in seen:
                continue
            if bool(xp.all(X[:, a] == X[:, b])):
                out.append((min(a, b), max(a, b)))
                seen.add(b)
    return sorted(out)


def _dependent(G_all: np.ndarray, cols: list[int]) -> list[int]:
    """The columns (of ``cols``) in the near-null space of their correlation matrix, from the Gram
    matrix ``G_all`` of all the (scaled, and with an intercept centred) columns; [] for full rank."""
    G = G_all[np.ix_(cols, cols)]
    dg = np.sqrt(np.diag(G))
    if np.any(dg == 0):
        return []
    C = G / np.outer(dg, dg)
    lam, V = np.linalg.eigh(C)
    null = V[:, lam <= RANK_TOL * len(cols)]
    if null.shape[1] == 0:
        return []
    weight = np.max(np.abs(null), axis=1)
    return [cols[i] for i in np.flatnonzero(weight > 1e-3 * weight.max())]


# ---------------------------------------------------------------------------------------- after a fit
def check_fit(model: Any, X: Any, Y: Any, w: Any, result: Any, stacklevel: int = 2) -> None:
    """After a fresh ``fit``: separable classes (classifiers without a penalty), and a stop by the
    ``tol`` or ``gtol`` rule far from the optimum (a diagonal estimate of :math:`f - f^*`): on badly
    scaled features both the loss and the gradient can fall while the optimum is far."""
    from sklearn.base import is_classifier

    if result.jac is None or model.averaging_:
        return
    obj = model.objective_
    Z = model.scaling_.transform(X)
    if (is_classifier(model) and not model.early_stopping and not obj.penalty.active
            and _separable(model, obj, Z, Y, w, result, stacklevel + 1)):
        return
    if result.status != 0 or model.early_stopping or obj.penalty.l1:
        return
    _check_gap(model, obj, Z, w, result, stacklevel + 1)


def _separable(model: Any, obj: Any, Z: Any, Y: Any, w: Any, result: Any, stacklevel: int) -> bool:
    """Warn and return True when the classes are perfectly separable: the fitted parameters
    separate them (a certificate, O(nd)), or, when the fit nearly does and the problem is small,
    a linear programme finds parameters that do (:data:`SEPARABLE_LP_MAX`)."""
    xp = backend.namespace(Z)
    D = obj.predict(result.x, Z)
    if D.shape[1] == 1:
        margin = (2 * Y[:, 0] - 1) * D[:, 0]
    else:
        true = xp.sum(D * Y, axis=1)
        other = xp.max(xp.where(Y > 0.5, xp.full_like(D, -math.inf), D), axis=1)
        margin = true - other
    keep = None if w is None else _host(w) > 0
    margin = _host(margin) if keep is None else _host(margin)[keep]
    if not np.all(margin > 0):
        n, d = Z.shape
        k = Y.shape[1]
        if np.mean(margin > 0) < 0.95 or n * (d + 1) * max(k, 1) > SEPARABLE_LP_MAX:
            return False
        Zh, Yh = _host(Z), _host(Y)
        if keep is not None:
            Zh, Yh = Zh[keep], Yh[keep]
        if not _lp_separable(Zh, Yh):
            return False
    theta, g = _host(result.x), _host(result.jac)
    growing = float(-(g @ theta)) > 0
    norm = float(np.linalg.norm(_host(model.coef_)))
    _warn(f"the classes are perfectly separable: without a penalty the weights grow without bound "
          f"(|w| = {norm:.3g}{' and still growing' if growing else ''}) and the probabilities go to 0 and 1; "
          f"set a penalty (penalty='l2', alpha=...) or early_stopping=True", stacklevel + 1)
    return True


def _lp_separable(Z: np.ndarray, Y: np.ndarray) -> bool:
    r"""Whether some :math:`(W, b)` gives every row a margin of at least 1: a feasibility linear
    programme (HiGHS through :func:`scipy.optimize.linprog`), 2 (d + 1) non-zeros per constraint."""
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    n, d = Z.shape
    Zt = np.hstack([Z, np.ones((n, 1))])
    p = d + 1
    if Y.shape[1] == 1:  # binary: s_i (w . z_i + b) >= 1, s = +-1
        A = -(2 * Y[:, :1] - 1) * Zt
        n_vars = p
    else:  # z_{i, y_i} - z_{i, j} >= 1 for j != y_i; theta laid out (p, k)
        k = Y.shape[1]
        label = np.argmax(Y, axis=1)
        rows, cols, vals = [], [], []
        r = 0
        feats = np.arange(p) * k
        for j in range(k):
            idx = np.flatnonzero(label != j)
            for i in idx:
                rows.append(np.full(2 * p, r))
                cols.append(np.concatenate([feats + label[i], feats + j]))
                vals.append(np.concatenate([-Zt[i], Zt[i]]))
                r += 1
        A = csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, p * k))
        n_vars = p * k
    res = linprog(np.zeros(n_vars), A_ub=A, b_ub=-np.ones(A.shape[0]), bounds=(None, None), method="highs")
    return res.status == 0


def _check_gap(model: Any, obj: Any, Z: Any, w: Any, result: Any, stacklevel: int) -> None:
    from .diagnostics import _curvature

    xp = backend.namespace(Z)
    n, k = Z.shape[0], obj.n_outputs
    c = _curvature(model.loss_name, n, k)
    if isinstance(Z, np.ndarray):  # no temporary of Z's size
        col = np.einsum("ij,ij->j", Z, Z) if w is None else np.einsum("ij,ij,i->j", Z, Z, w)
    else:
        col = _host(xp.sum(Z * Z if w is None else w[:, None] * (Z * Z), axis=0))
    ones = float(n if w is None else backend.as_float(xp.sum(w)))
    h = np.repeat(c * col + obj.penalty.l2, k)
    if obj.fit_intercept:
        h = np.concatenate([h, np.full(k, c * ones)])
    g = _host(result.jac)
    with np.errstate(all="ignore"):
        gap = 0.5 * float(np.sum(np.where(h > 0, g * g / h, 0.0)))
    fun = float(result.fun)
    if not (math.isfinite(gap) and gap > GAP_RATIO * abs(fun) and gap > 10 * float(model.tol_ or 0.0)):
        return
    by_tol = result.met == "tol"
    rule = f"tol rule (tol={model.tol_})" if by_tol else f"gtol rule (gtol={model.gtol_})"
    remedy = "lower tol or raise n_iter_no_change/epochs" if by_tol else "lower gtol"
    _warn(f"the run stopped by the {rule} far from the optimum: the loss {fun:.4g} is about "
          f"{gap:.3g} above its minimum (estimated from the final gradient); the features are probably badly "
          f"scaled or nearly collinear: set scale='standard', {remedy}",
          stacklevel + 1)


# ---------------------------------------------------------------------------------------- predictions
def check_predictions(out: Any, X: Any) -> Any:
    """``out`` (decision values of the rows of ``X``) when finite, else :class:`NumericalError`."""
    xp = backend.namespace(out)
    finite = xp.all(xp.isfinite(out), axis=1) if out.ndim == 2 else xp.isfinite(out)
    if bool(xp.all(finite)):
        return out
    bad = np.flatnonzero(~backend.to_numpy(finite))
    big = float(np.max(np.abs(_host(X[bad[0]]))))
    dtype = _dtype_name(out)
    raise NumericalError(
        f"the predictions of {bad.size} row(s) of X overflow {dtype} (first: row {int(bad[0])}, whose largest "
        f"|x| is {big:.3g}): check those rows, or scale them as the training data were")


# ---------------------------------------------------------------------------------------- minimize
def check_schedule(lr: Any, counts: tuple[int, ...] = (0, 1)) -> None:
    """A schedule ``lr`` gives finite numbers >= 0 at ``counts`` (else ValueError naming ``lr``)."""
    if not callable(lr):
        return
    for t in counts:
        v = float(lr(t))
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"lr: the schedule gives lr({t}) = {v!r}; a learning rate must be a finite number "
                             f">= 0 (check the schedule's formula and parameters)")


def check_start(objective: Any, x: Any) -> None:
    """:class:`NumericalError` when the function or its gradient is not finite at the start ``x``."""
    with np.errstate(all="ignore"):
        value, g = objective.value_and_grad(x)
    where = backend.to_numpy(x).tolist()
    if not math.isfinite(value):
        raise NumericalError(f"fun(x0) = {value} at x0 = {where}: the function is not finite where the descent "
                             f"starts; start inside its domain (choose another x0)")
    if not backend.isfinite_all(g):
        raise NumericalError(f"the gradient at x0 = {where} is not finite ({backend.to_numpy(g).tolist()}); "
                             f"start where the function is differentiable (choose another x0) or check grad")


def check_init(coef_init: Any, intercept_init: Any, lr: Any) -> None:
    """Starting values and a learning-rate schedule that are finite (else ValueError naming them)."""
    for name, value in (("coef_init", coef_init), ("intercept_init", intercept_init)):
        if value is None:
            continue
        try:
            a = np.asarray(backend.to_numpy(value), dtype=np.float64)
        except (TypeError, ValueError):
            continue  # not numbers: the shape and type checks of the fit say so
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} has non-finite values ({int(np.sum(~np.isfinite(a)))} of {a.size}): give "
                             f"finite starting values, or leave {name}=None to start from zeros")
    check_schedule(lr)
