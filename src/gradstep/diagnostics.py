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
    "SOLVE_RCOND",
    "check_grad",
    "closed_form",
    "condition_number",
    "gram",
    "largest_eigenvalue",
    "largest_stable_lr",
    "numeric_grad",
    "per_sample_curvature",
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


def gram(X: Any, fit_intercept: bool = True, sample_weight: Any = None) -> np.ndarray:
    r""":math:`\tilde X^\top W \tilde X` with :math:`\tilde X = [X, \mathbf 1]` (or ``X``), as a NumPy float64 array.

    One pass over the rows (:func:`gradstep.objectives.stats.gram`: BLAS ``syrk``), without
    forming :math:`\tilde X`: the intercept's row and column are :math:`X^\top w` and
    :math:`\sum_i w_i`. Every diagnostic of squared error (and the curvature bounds of the
    logistic and softmax losses) is a function of this :math:`(d+1) \times (d+1)` matrix, so
    :func:`stable_lr`, :func:`condition_number` take it as ``gram=`` when it is already known.

    Examples
    --------
    >>> import numpy as np
    >>> gram(np.array([[1.0], [2.0], [3.0]])).tolist()
    [[14.0, 6.0], [6.0, 3.0]]
    """
    from .objectives.stats import gram as xtx

    X = _float64(X)
    m = X.shape[0]
    w = _weights(X, sample_weight)
    G = backend.to_numpy(xtx(X, w)).astype(np.float64, copy=False)
    if not fit_intercept:
        return G
    xp = backend.namespace(X)
    sx = backend.to_numpy(xp.sum(X, axis=0) if w is None else X.T @ w)
    total = float(m) if w is None else backend.as_float(xp.sum(w))
    return np.block([[G, sx[:, None]], [sx[None, :], np.array([[total]])]])


_gram = gram  # the function, where a parameter is called ``gram``


def _float64(X: Any) -> Any:
    """``X`` as a 2-D float64 array of its own library and device (no copy when it already is one)."""
    xp = backend.namespace(X)
    X = xp.asarray(X, dtype=xp.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x features), got {X.ndim}-D")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    return X


def _weights(X: Any, sample_weight: Any) -> Any:
    """``sample_weight`` as a float64 vector of ``X``'s library and device, one per row (None stays None)."""
    if sample_weight is None:
        return None
    xp = backend.namespace(X)
    w = xp.reshape(xp.asarray(sample_weight, dtype=X.dtype, device=backend.device(X)), (-1,))
    if w.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight has {w.shape[0]} values for {X.shape[0]} rows")
    return w


def _penalty_diagonal(p: int, fit_intercept: bool) -> np.ndarray:
    """The L2 penalty's diagonal :math:`D`: ones, but zero on the intercept."""
    D = np.ones(p)
    if fit_intercept:
        D[-1] = 0.0
    return D


def largest_stable_lr(G: np.ndarray, n_rows: int, loss: str, fit_intercept: bool, l2: float = 0.0,
                      n_outputs: int = 1) -> float:
    r""":math:`2/L` of full-batch gradient descent from the Gram matrix :math:`G = \tilde X^\top W \tilde X`
    of ``n_rows`` rows: :math:`L = \lambda_{max}(c\,G + \lambda D)` (``eigvalsh``, exact to rounding).

    Examples
    --------
    >>> import numpy as np
    >>> round(largest_stable_lr(np.array([[14.0]]), 3, "half_mse", fit_intercept=False), 12)   # 2 / (14/3)
    0.428571428571
    """
    c = _curvature(loss, n_rows, n_outputs)
    H = c * np.asarray(G, dtype=np.float64) + l2 * np.diag(_penalty_diagonal(G.shape[0], fit_intercept))
    L = float(np.linalg.eigvalsh(H)[-1])
    return 2.0 / L if L > 0 else math.inf


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
    gram: Any = None,
) -> float:
    r"""The largest stable learning rate :math:`2/L` of plain gradient descent on squared error.

    :math:`L` is the largest eigenvalue of the Hessian (see the module docstring), from the
    Gram matrix :math:`\tilde X^\top W \tilde X` (:func:`gram`, one pass over the rows; then
    ``eigvalsh`` of a :math:`(d+1)\times(d+1)` matrix: exact to rounding).
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
    gram : array_like, optional
        :func:`gram` of ``X`` (with the same ``fit_intercept`` and weights) when already computed.
    """
    X = _float64(X)
    _curvature(loss, 1, n_outputs)  # the loss name is checked before any work
    w = _weights(X, sample_weight)
    if not per_sample:
        G = np.asarray(gram, dtype=np.float64) if gram is not None else _gram(X, fit_intercept, w)
        return largest_stable_lr(G, X.shape[0], loss, fit_intercept, l2, n_outputs)
    # one row's Hessian c w_i x x^T + l2 D, x = (u, 1): on span{(u, 0), e_last} it is
    # [[c_i |u|^2 + l2, c_i |u|], [c_i |u|, c_i]] with c_i = c w_i
    ci = _curvature(loss, 1, n_outputs) * (1.0 if w is None else backend.to_numpy(w))
    L = per_sample_curvature(ci * backend.to_numpy(_row_norms(X)), ci, l2, fit_intercept)
    return 2.0 / L if L > 0 else math.inf


def _row_norms(X: Any) -> Any:
    r""":math:`\lVert x_i\rVert^2` of every row, without a temporary of ``X``'s size for NumPy."""
    if isinstance(X, np.ndarray):
        return np.einsum("ij,ij->i", X, X)
    xp = backend.namespace(X)
    return xp.sum(X * X, axis=1)


def per_sample_curvature(cs: Any, c: Any, l2: float, fit_intercept: bool) -> float:
    r"""The largest curvature over one-row Hessians :math:`c_i \tilde x_i \tilde x_i^\top + \lambda D`,
    given :math:`c_i \lVert u_i\rVert^2` (``cs``) and :math:`c_i` (``c``), arrays or numbers.

    With an intercept, on :math:`\mathrm{span}\{(u, 0), e_{d+1}\}` that Hessian is
    :math:`\begin{pmatrix} c\lVert u\rVert^2 + \lambda & c\lVert u\rVert \\ c\lVert u\rVert & c\end{pmatrix}`
    (trace :math:`T`, determinant :math:`c\lambda`), whose largest eigenvalue is
    :math:`(T + \sqrt{T^2 - 4 c \lambda})/2`; without one it is :math:`c\lVert u\rVert^2 + \lambda`.

    Examples
    --------
    >>> per_sample_curvature(2.0, 1.0, 0.0, fit_intercept=True)   # c |u|^2 + c
    3.0
    """
    cs, c = np.asarray(cs, dtype=np.float64), np.asarray(c, dtype=np.float64)
    if not fit_intercept:
        return float(np.max(cs)) + l2
    T = cs + l2 + c
    return float(np.max((T + np.sqrt(np.clip(T * T - 4 * c * l2, 0.0, None))) / 2))


def stable_lr_at(value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], x: Any,
                 eps: float = 1e-5) -> float | None:
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


def condition_number(X: Any, fit_intercept: bool = True, gram: Any = None) -> float:
    r"""Condition number :math:`\kappa = \lambda_{max}/\lambda_{min}` of the squared-error Hessian.

    Equals ``np.linalg.cond(X_tilde) ** 2``, computed from the eigenvalues of the Gram matrix
    (:func:`gram`, one pass over the rows; give it as ``gram=`` when it is known): relative
    accuracy about :math:`\kappa\,\epsilon`. ``inf`` when :math:`\lambda_{min}` is within the
    Gram matrix's rounding, :math:`\lambda_{max}\,\epsilon\max(m, d)`: the columns are linearly
    dependent, or too nearly so to tell. Gradient descent needs about :math:`\kappa` steps per
    digit of accuracy; standardising the features usually shrinks it a lot.

    Examples
    --------
    >>> import numpy as np
    >>> condition_number(np.array([[1.0, 0.0], [0.0, 3.0]]), fit_intercept=False)
    9.0
    """
    X = _float64(X)
    G = np.asarray(gram, dtype=np.float64) if gram is not None else _gram(X, fit_intercept)
    lam = np.linalg.eigvalsh(G)
    if lam[-1] <= 0 or lam[0] <= lam[-1] * np.finfo(float).eps * max(X.shape[0], G.shape[0]):
        return math.inf
    return float(lam[-1] / lam[0])


SOLVE_RCOND = 1e-10
r""":func:`closed_form` solves the normal equations when :math:`\lambda_{min}/\lambda_{max}` of the
Gram matrix is above this (then one refinement pass makes the answer as accurate as ``lstsq``'s),
and falls back to ``lstsq`` on the rows below it."""


def closed_form(
    X: Any, y: Any, fit_intercept: bool = True, loss: str = "mse", l2: float = 0.0
) -> tuple[np.ndarray, np.ndarray | float]:
    r"""The exact minimiser of squared error (least squares, or ridge with ``l2 > 0``).

    Minimises :math:`s\lVert \tilde X\theta - y\rVert^2 + \tfrac{\lambda}{2}\lVert w\rVert^2`
    (``s`` the scale of ``loss``; the intercept is not penalised): the normal equations
    :math:`(G + \tfrac{\lambda}{2s} D)\,\theta = \tilde X^\top y` with :math:`G = \tilde X^\top\tilde X`
    (:class:`~gradstep.objectives.SquaredStats`, one pass over the rows, no copy of ``X``) solved
    by an eigendecomposition, then one step of iterative refinement with the residual computed
    from the rows, :math:`\theta \leftarrow \theta + (G + \tfrac{\lambda}{2s}D)^{-1}
    (\tilde X^\top(y - \tilde X\theta) - \tfrac{\lambda}{2s}D\theta)`, which removes the error the
    normal equations add (about :math:`\kappa\,\epsilon`). Ill-conditioned problems
    (:data:`SOLVE_RCOND`) are solved by ``numpy.linalg.lstsq`` on the stacked system
    :math:`[\tilde X;\ \sqrt{\lambda/2s}\,D]\,\theta = [y;\ 0]` instead.

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
    from .objectives.stats import SquaredStats

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x features), got {X.ndim}-D")
    y = np.asarray(y, dtype=np.float64)
    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {Y.shape[0]}")
    ridge = l2 / (2 * _scales(loss, X.shape[0], Y.shape[1])[0]) if l2 > 0 else 0.0
    stats = SquaredStats.of(X, Y, None, fit_intercept)
    D = _penalty_diagonal(stats.G.shape[0], fit_intercept)
    lam, V = np.linalg.eigh(stats.G + ridge * np.diag(D))
    if lam[-1] <= 0 or lam[0] <= lam[-1] * SOLVE_RCOND:
        theta = _lstsq(X, Y, fit_intercept, ridge, D)
    else:
        def solve(B: np.ndarray) -> np.ndarray:
            return V @ ((V.T @ B) / lam[:, None])

        theta = solve(stats.C)
        R = Y - X @ theta[:X.shape[1]] - (theta[-1] if fit_intercept else 0.0)
        XtR = np.vstack([X.T @ R, R.sum(axis=0, keepdims=True)]) if fit_intercept else X.T @ R
        theta = theta + solve(XtR - ridge * D[:, None] * theta)
    W, b = (theta[:-1], theta[-1]) if fit_intercept else (theta, np.zeros(Y.shape[1]))
    if y.ndim == 1:
        return W[:, 0], float(b[0])
    return W.T, b


def _lstsq(X: np.ndarray, Y: np.ndarray, fit_intercept: bool, ridge: float, D: np.ndarray) -> np.ndarray:
    r"""Least squares on the rows, :math:`[\tilde X;\ \sqrt{r}\,D]\,\theta = [Y;\ 0]`, by ``lstsq``
    (it copies ``X`` with the column of ones: for the ill-conditioned problems only)."""
    A = np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X
    B = Y
    if ridge > 0:
        A = np.vstack([A, math.sqrt(ridge) * np.diag(D)])
        B = np.vstack([Y, np.zeros((D.size, Y.shape[1]))])
    return np.linalg.lstsq(A, B, rcond=None)[0]
