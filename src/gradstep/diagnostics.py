r"""Diagnostics that explain a run: gradient checks, stable learning rates, conditioning, closed form.

For squared error with the column of ones appended, :math:`\tilde X = [X, \mathbf 1]`,
the Hessian is :math:`H = c\,\tilde X^\top \tilde X + \lambda D` with
:math:`c = 2/m` (``"mse"``), :math:`1/m` (``"half_mse"``) or :math:`2` (``"sum"``),
:math:`\lambda` the L2 weight and :math:`D` the identity without the intercept.
Plain gradient descent is stable iff :math:`\eta < 2/L` with
:math:`L = \lambda_{max}(H)`, and converges at a rate set by the condition
number :math:`\kappa = \lambda_{max}/\lambda_{min}`.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1.0], [2.0], [3.0]])
>>> round(stable_lr(X, loss="half_mse", fit_intercept=False), 6)   # 2 / (14/3)
0.428571
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import backend
from .objectives.function import numeric_grad
from .objectives.logistic import LogisticLoss, SoftmaxCrossEntropy
from .objectives.squared import LOSSES, _scales

__all__ = [
    "check_grad",
    "closed_form",
    "condition_number",
    "largest_eigenvalue",
    "numeric_grad",
    "stable_lr",
    "stable_lr_at",
]


def check_grad(
    fun: Callable[[np.ndarray], float],
    grad: Callable[[np.ndarray], Any],
    x: Any,
    h: float = 1e-6,
    floor: float = 1e-8,
) -> np.ndarray:
    r"""Per-coordinate relative error of ``grad`` against central differences.

    .. math:: e_i = \frac{|g_i - \hat g_i|}{\max(|g_i|, |\hat g_i|, \text{floor})}

    with :math:`\hat g` from :func:`numeric_grad`. Values around ``1e-8`` or
    below mean the gradient is right; ``floor`` keeps coordinates whose
    gradient is zero from dividing by zero.

    Examples
    --------
    >>> import numpy as np
    >>> err = check_grad(lambda v: float(v @ v), lambda v: 2 * v, np.array([1.0, -2.0]))
    >>> bool(err.max() < 1e-8)
    True
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(grad(x), dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"grad returned shape {g.shape}, expected the shape of x, {x.shape}")
    n = numeric_grad(fun, x, h)
    return np.abs(g - n) / np.maximum(np.maximum(np.abs(g), np.abs(n)), floor)


def _augment(X: Any, fit_intercept: bool) -> Any:
    r""":math:`\tilde X = [X, \mathbf 1]` (or ``X``) in float64, in ``X``'s array library and on its device."""
    xp = backend.namespace(X)
    X = xp.asarray(X, dtype=xp.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x features), got {X.ndim}-D")
    if not fit_intercept:
        return X
    return xp.concat([X, xp.ones((X.shape[0], 1), dtype=X.dtype, device=backend.device(X))], axis=1)


def largest_eigenvalue(
    matvec: Callable[[Any], Any], dim: int, max_iter: int = 1000, rtol: float = 1e-10, seed: int = 0,
    like: Any = None,
) -> float:
    r"""The eigenvalue of largest magnitude of a symmetric operator, by power iteration.

    Iterates :math:`v \leftarrow Av / \lVert Av\rVert` and returns the Rayleigh quotient
    :math:`v^\top A v` once it changes by less than ``rtol`` (relative). Only
    products :math:`Av` are needed: no matrix is formed or inverted. The vectors are NumPy
    arrays, or of the array library and device of ``like`` when it is given (a torch
    tensor on a GPU keeps the iteration there).
    """
    v = np.random.default_rng(seed).standard_normal(dim) + 1.0
    v /= np.linalg.norm(v)
    if like is not None:  # iterate in the operator's array library, on its device
        v = backend.namespace(like).asarray(v, device=backend.device(like))
    xp = backend.namespace(v)
    lam = 0.0
    for _ in range(max_iter):
        w = matvec(v)
        new = backend.as_float(xp.sum(v * w))
        norm = backend.as_float(xp.linalg.vector_norm(w))
        if norm == 0.0 or not math.isfinite(norm):
            return new if math.isfinite(new) else math.nan
        v = w / norm
        if abs(new - lam) <= rtol * abs(new):
            return new
        lam = new
    return lam


CURVATURE_BOUNDS = {"log_loss": LogisticLoss.lipschitz_factor, "cross_entropy": SoftmaxCrossEntropy.lipschitz_factor}
"""Bounds on the second derivative of the logistic (sigmoid' <= 1/4) and softmax (<= 1/2) losses."""


def _curvature(loss: str, m: int, n_outputs: int) -> float:
    r"""``c`` with Hessian :math:`\preceq c\,\tilde X^\top\tilde X` (+ the L2 part) for ``m`` rows."""
    if loss in CURVATURE_BOUNDS:
        return CURVATURE_BOUNDS[loss] / m
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES + tuple(CURVATURE_BOUNDS)}, got {loss!r}")
    return _scales(loss, m, n_outputs)[1]


def stable_lr(
    X: Any,
    loss: str = "mse",
    fit_intercept: bool = True,
    l2: float = 0.0,
    n_outputs: int = 1,
    per_sample: bool = False,
    sample_weight: Any = None,
) -> float:
    r"""The largest stable learning rate :math:`2/L` of plain gradient descent on squared error.

    :math:`L` is the largest eigenvalue of the Hessian (see the module
    docstring), found by power iteration on :math:`v \mapsto \tilde X^\top(\tilde X v)`.
    For ``"log_loss"`` and ``"cross_entropy"`` (logistic and softmax regression) the
    Hessian is bounded by :data:`CURVATURE_BOUNDS` times :math:`\tilde X^\top \tilde X / m`,
    so :math:`2/L` is a learning rate that is always stable (it may be conservative).
    With ``per_sample=True`` it is the bound of per-sample SGD: the largest
    :math:`L` over the one-row Hessians :math:`c_1 \tilde x_i \tilde x_i^\top + \lambda D`
    (without a penalty, :math:`c_1 \max_i \lVert \tilde x_i\rVert^2`), so every one-row step is stable.

    Parameters
    ----------
    X : array_like, shape (m, d)
    loss : {"mse", "half_mse", "sum", "log_loss", "cross_entropy"}
    fit_intercept : bool
    l2 : float
        Weight :math:`\lambda` of the L2 penalty :math:`\tfrac{\lambda}{2}\lVert w\rVert^2`.
    n_outputs : int
        Number of targets (the mean is over all of them).
    per_sample : bool
        Bound for batches of one row.
    sample_weight : array_like, optional
        Per-row weights of the loss (the Hessian becomes :math:`c\,\tilde X^\top W \tilde X`).
    """
    Xt = _augment(X, fit_intercept)
    xp = backend.namespace(Xt)
    m = Xt.shape[0]
    if m == 0:
        raise ValueError("X has no rows")
    _curvature(loss, 1, n_outputs)  # the loss name is checked before any work
    if sample_weight is None:
        w = xp.ones(m, dtype=Xt.dtype, device=backend.device(Xt))
    else:
        w = xp.reshape(xp.asarray(sample_weight, dtype=Xt.dtype, device=backend.device(Xt)), (-1,))
    if w.shape != (m,):
        raise ValueError(f"sample_weight has {w.shape[0]} values for {m} rows")
    if per_sample:
        # one row's Hessian c w_i x x^T + l2 D, x = (u, 1): on span{(u, 0), e_last} it is
        # [[c_i |u|^2 + l2, c_i |u|], [c_i |u|, c_i]] with c_i = c w_i
        ci = _curvature(loss, 1, n_outputs) * w
        U = Xt[:, :-1] if fit_intercept else Xt
        s = xp.sum(U * U, axis=1)
        if fit_intercept:
            T = ci * s + l2 + ci
            L = backend.as_float(xp.max((T + xp.sqrt(xp.clip(T * T - 4 * ci * l2, min=0.0))) / 2))
        else:
            L = backend.as_float(xp.max(ci * s)) + l2
    else:
        c = _curvature(loss, m, n_outputs)
        D = np.ones(Xt.shape[1])  # the L2 penalty's diagonal: not on the intercept
        if fit_intercept:
            D[-1] = 0.0
        D = xp.asarray(D, device=backend.device(Xt))
        L = largest_eigenvalue(lambda v: c * (Xt.T @ (w * (Xt @ v))) + l2 * D * v, Xt.shape[1], like=Xt)
    return 2.0 / L if L > 0 else math.inf


def stable_lr_at(value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], x: Any, eps: float = 1e-5) -> float | None:
    r"""Estimate :math:`2/L` at the point ``x`` of a general function.

    :math:`L` is the largest Hessian eigenvalue at ``x``, by power iteration on
    Hessian-vector products from central differences of the gradient,
    :math:`Hv \approx (g(x + \epsilon v) - g(x - \epsilon v)) / 2\epsilon`. Returns
    ``None`` when the curvature is not positive (no such bound) or not finite.
    """
    x = np.asarray(x, dtype=np.float64)

    def hv(v: np.ndarray) -> np.ndarray:
        return (value_and_grad(x + eps * v)[1] - value_and_grad(x - eps * v)[1]) / (2 * eps)

    with np.errstate(all="ignore"):
        lam = largest_eigenvalue(hv, x.size, max_iter=200, rtol=1e-8)
    return 2.0 / lam if math.isfinite(lam) and lam > 0 else None


def condition_number(X: Any, fit_intercept: bool = True) -> float:
    r"""Condition number :math:`\kappa = \lambda_{max}/\lambda_{min}` of the squared-error Hessian.

    Equals ``np.linalg.cond(X_tilde) ** 2``; ``inf`` when the columns are
    linearly dependent. Gradient descent needs about :math:`\kappa` steps per
    digit of accuracy; standardising the features usually shrinks it a lot.

    Examples
    --------
    >>> import numpy as np
    >>> condition_number(np.array([[1.0, 0.0], [0.0, 3.0]]), fit_intercept=False)
    9.0
    """
    s = np.linalg.svd(_augment(X, fit_intercept), compute_uv=False)
    if s.size == 0 or s[-1] <= s[0] * np.finfo(float).eps * max(np.shape(X)):
        return math.inf
    return float((s[0] / s[-1]) ** 2)


def closed_form(
    X: Any, y: Any, fit_intercept: bool = True, loss: str = "mse", l2: float = 0.0
) -> tuple[np.ndarray, np.ndarray | float]:
    r"""The exact minimiser of squared error (least squares, or ridge with ``l2 > 0``).

    Minimises :math:`s\lVert \tilde X\theta - y\rVert^2 + \tfrac{\lambda}{2}\lVert w\rVert^2`
    (``s`` the scale of ``loss``; the intercept is not penalised) by
    ``numpy.linalg.lstsq`` on the stacked system
    :math:`[\tilde X;\ \sqrt{\lambda/2s}\,D]\,\theta = [y;\ 0]` — no normal
    equations, no inverse.

    Returns
    -------
    coef : ndarray
        Shape ``(d,)`` for 1-D ``y``, ``(k, d)`` for 2-D ``y`` (scikit-learn's layout).
    intercept : float or ndarray
        0.0 when ``fit_intercept`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> coef, b = closed_form(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
    >>> np.round(coef, 12), round(float(b), 12)
    (array([2.]), 1.0)
    """
    Xt = _augment(X, fit_intercept)
    y = np.asarray(y, dtype=np.float64)
    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    if Y.shape[0] != Xt.shape[0]:
        raise ValueError(f"X has {Xt.shape[0]} rows but y has {Y.shape[0]}")
    d = Xt.shape[1]
    A, B = Xt, Y
    if l2 > 0:
        s = _scales(loss, Xt.shape[0], Y.shape[1])[0]
        D = np.eye(d)
        if fit_intercept:
            D[-1, -1] = 0.0
        A = np.vstack([Xt, math.sqrt(l2 / (2 * s)) * D])
        B = np.vstack([Y, np.zeros((d, Y.shape[1]))])
    theta = np.linalg.lstsq(A, B, rcond=None)[0]
    W, b = (theta[:-1], theta[-1]) if fit_intercept else (theta, np.zeros(Y.shape[1]))
    if y.ndim == 1:
        return W[:, 0], float(b[0])
    return W.T, b
