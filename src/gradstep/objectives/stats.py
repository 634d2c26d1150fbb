r"""Sufficient statistics of squared error: one pass over the data, then every step costs :math:`O(p^2 k)`.

With :math:`\tilde X = [X, \mathbf 1]` (or :math:`X` without an intercept),
:math:`\Theta = [W; b^\top]` of shape :math:`(p, k)`, row weights :math:`w`
(:math:`\operatorname{diag}(w) = D_w`) and the residual :math:`R = \tilde X\Theta - Y`,

.. math::

    \sum_i w_i \lVert r_i\rVert^2 = \langle \Theta, G\Theta - 2C\rangle + s, \qquad
    \tilde X^\top D_w R = G\Theta - C,

    G = \tilde X^\top D_w \tilde X,\quad C = \tilde X^\top D_w Y,\quad s = \textstyle\sum_i w_i\lVert y_i\rVert^2 .

:math:`G`, :math:`C` and :math:`s` are gathered once (:meth:`SquaredStats.of`, a
single pass over ``X``); after that the value and gradient of
:class:`~gradstep.objectives.squared.SquaredError` in any of its conventions,
with or without a penalty, need only them: a step costs :math:`O(p^2 k)`
whatever the number of rows. ``SquaredError`` takes a :class:`SquaredStats` in
place of a batch ``(X, Y[, w])``.

Both routes compute the same mathematical gradient; they round differently
(:math:`G\Theta - C` against :math:`\tilde X^\top R`), so iterates agree to
about :math:`\kappa\,\epsilon` relative, not bit for bit. The value is the
difference of large terms near the optimum: it is accurate to about
:math:`\epsilon\, s` absolute (and clipped at 0), which is what the stopping rule
and the record need, but a loss far below :math:`\epsilon\, s` reads as 0.

Examples
--------
>>> import numpy as np
>>> from gradstep.objectives import SquaredError
>>> X, Y = np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [5.0]])
>>> obj, theta = SquaredError(n_features=1), np.array([1.0, 0.0])
>>> stats = SquaredStats.of(X, Y, fit_intercept=True)
>>> value, grad = obj.value_and_grad(theta, stats)       # residuals -1, -2, -3
>>> round(value, 12), grad
(4.666666666667, array([-5.33333333, -4.        ]))
>>> obj.value_and_grad(theta, (X, Y))[1]                  # from the rows
array([-5.33333333, -4.        ])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import Array, as_float, device, namespace

GRAM_ROWS = 1 << 15
"""Rows per block of :func:`gram` on NumPy arrays (a weighted block is copied: a few MB)."""


def gram(X: Array, w: Array | None = None) -> Array:
    r""":math:`X^\top D_w X` (:math:`X^\top X` without weights) in one pass over the rows of ``X``.

    NumPy float arrays go through BLAS ``syrk`` block by block (it computes one triangle:
    about 15 times faster than ``X.T @ X`` for tall data), the weights applied as
    :math:`\sqrt{w_i}` to the rows of each block (they are non-negative); other array
    libraries (torch, on their device) compute ``(X * w).T @ X``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> gram(X)
    array([[35., 44.],
           [44., 56.]])
    >>> gram(X, np.array([1.0, 0.0, 4.0])).tolist()
    [[101.0, 122.0], [122.0, 148.0]]
    """
    if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float32, np.float64)):
        Xw = X if w is None else X * w[:, None]
        return Xw.T @ X
    from scipy.linalg import blas

    syrk = blas.dsyrk if X.dtype == np.float64 else blas.ssyrk
    d = X.shape[1]
    upper = np.zeros((d, d), dtype=X.dtype)
    root = None if w is None else np.sqrt(np.asarray(w, dtype=X.dtype))
    for lo in range(0, X.shape[0], GRAM_ROWS):
        block = X[lo:lo + GRAM_ROWS]
        if root is not None:
            block = block * root[lo:lo + GRAM_ROWS, None]
        # block.T is Fortran-ordered when block is C-ordered: syrk reads it in place
        upper = syrk(1.0, block.T, beta=1.0, c=upper, trans=0, overwrite_c=True)
    return upper + np.triu(upper, 1).T


@dataclass(frozen=True)
class SquaredStats:
    """:math:`G = \\tilde X^\\top D_w \\tilde X`, :math:`C = \\tilde X^\\top D_w Y`,
    :math:`s = \\sum_i w_i \\lVert y_i\\rVert^2`.

    Attributes
    ----------
    G : array, shape (p, p)
    C : array, shape (p, k)
    s : float
    n_rows : int
        ``m``, the rows summarised (the means divide by it).
    fit_intercept : bool
        Whether the last row and column of ``G`` are the column of ones.
    """

    G: Array
    C: Array
    s: float
    n_rows: int
    fit_intercept: bool

    @classmethod
    def of(cls, X: Array, Y: Array, w: Array | None = None, fit_intercept: bool = True) -> SquaredStats:
        """Gather the statistics of ``(X, Y[, w])`` in one pass (NumPy or torch, on the data's device)."""
        xp = namespace(X, Y, w)
        G = gram(X, w)
        Yw = Y if w is None else Y * w[:, None]
        C = X.T @ Yw
        s = as_float(xp.sum(Y * Yw))
        if fit_intercept:
            ones = xp.ones(X.shape[0], dtype=X.dtype, device=device(X))
            wsum = ones if w is None else w
            sx = xp.sum(X, axis=0) if w is None else X.T @ w   # X^T w
            total = xp.reshape(xp.sum(wsum), (1, 1))      # sum of weights
            G = xp.concat([xp.concat([G, sx[:, None]], axis=1),
                           xp.concat([sx[None, :], total], axis=1)], axis=0)
            sy = xp.sum(Y if w is None else Y * w[:, None], axis=0)
            C = xp.concat([C, sy[None, :]], axis=0)
        return cls(G, C, s, int(X.shape[0]), bool(fit_intercept))

    def __add__(self, other: SquaredStats) -> SquaredStats:
        """The statistics of both sets of rows (every one of them is a sum over rows)."""
        if self.fit_intercept != other.fit_intercept or self.C.shape != other.C.shape:
            raise ValueError("cannot add statistics gathered for different models")
        return SquaredStats(self.G + other.G, self.C + other.C, self.s + other.s, self.n_rows + other.n_rows,
                            self.fit_intercept)

    def __len__(self) -> int:  # a batch of ``n_rows`` rows for whoever counts them
        return self.n_rows


def squared_parts(objective: Any, params: Array, stats: SquaredStats, scales: tuple[float, float],
                  grad: bool = True) -> tuple[float, Array | None, Array | None]:
    """``(Σ w r² · value_scale, gW, gb)`` of a squared-error objective from its statistics, unpenalised
    (the objective adds the penalty); ``gW`` and ``gb`` (``grad_scale · X̃ᵀD_w R``, split) are ``None``
    without ``grad``, ``gb`` also without an intercept."""
    if stats.fit_intercept != objective.fit_intercept or stats.C.shape != (
            objective.n_features + int(objective.fit_intercept), objective.n_outputs):
        raise ValueError("these statistics were gathered for another model (features, outputs or intercept differ)")
    xp = namespace(params, stats.G)
    W, b = objective.unpack(params)
    Theta = W if b is None else xp.concat([W, b[None, :]], axis=0)
    H = stats.G @ Theta - stats.C                      # X~^T D_w R
    vs, gs = scales
    value = max(vs * (as_float(xp.sum(Theta * (H - stats.C))) + stats.s), 0.0)
    if not grad:
        return value, None, None
    d = objective.n_features
    gW = H[:d] * gs
    gb = H[d] * gs if objective.fit_intercept else None
    return value, gW, gb


__all__ = ["GRAM_ROWS", "SquaredStats", "gram"]
