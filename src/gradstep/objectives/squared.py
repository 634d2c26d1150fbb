r"""Squared error of a linear model, in the three conventions of the tutorials.

The model is :math:`\hat Y = X W + \mathbf 1 b^\top` with ``W`` of shape
``(d, k)`` and ``b`` of shape ``(k,)``; the residual is :math:`R = \hat Y - Y`
and, over a batch of ``m`` rows and ``k`` outputs,

==============  ====================================  ======================================
``loss``        value                                 gradient w.r.t. ``W`` (``b``: sum rows)
==============  ====================================  ======================================
``"mse"``       :math:`\frac{1}{mk}\sum R^2`          :math:`\frac{2}{mk} X^\top R`
``"half_mse"``  :math:`\frac{1}{2mk}\sum R^2`         :math:`\frac{1}{mk} X^\top R`
``"sum"``       :math:`\sum R^2`                      :math:`2\,X^\top R`
==============  ====================================  ======================================

plus :math:`\alpha R(W)` for a :class:`~gradstep.objectives.penalties.Penalty`.
``"mse"`` is PyTorch's ``MSELoss``, ``"half_mse"`` the "½ cancels the 2"
convention, ``"sum"`` a hand-written loop over points. For a single row and
feature without intercept the ``"mse"`` gradient is exactly the tutorial's
``2*x*(x*w - y)``.

The parameters are one flat vector :math:`\theta = [\operatorname{vec}(W), b]`.

Examples
--------
>>> import numpy as np
>>> obj = SquaredError(n_features=1, loss="mse", fit_intercept=False)
>>> X, Y = np.array([[1.0], [2.0]]), np.array([[2.0], [4.0]])
>>> obj.value_and_grad(np.array([1.0]), (X, Y))   # residuals -1, -2
(2.5, array([-5.]))

The same code runs on torch tensors (see :mod:`gradstep.backend`):

>>> import torch
>>> obj.value_and_grad(torch.tensor([1.0]), (torch.tensor([[1.0], [2.0]]), torch.tensor([[2.0], [4.0]])))
(2.5, tensor([-5.]))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..backend import Array
from ..kernels.fused import Loss
from .linear import LinearObjective, Scale
from .penalties import Penalty

LOSSES = ("mse", "half_mse", "sum")


def _scales(loss: str, m: int, k: int) -> tuple[float, float]:
    """``(value_scale, grad_scale)`` so that value = vs·ΣR² and grad = gs·XᵀR."""
    if loss == "mse":
        return 1.0 / (m * k), 2.0 / (m * k)
    if loss == "half_mse":
        return 0.5 / (m * k), 1.0 / (m * k)
    return 1.0, 2.0


@dataclass(frozen=True)
class SquaredError(LinearObjective):
    r"""Squared error of ``X @ W + b`` against ``Y`` (see the module docstring for the maths).

    Parameters
    ----------
    n_features : int
        ``d``, the number of columns of ``X``.
    n_outputs : int
        ``k``, the number of columns of ``Y``.
    loss : {"mse", "half_mse", "sum"}
        The convention; there is no default mixing of them.
    fit_intercept : bool
        Whether ``b`` is a parameter (else it is 0).
    penalty : Penalty
        Applied to ``W`` only.

    Notes
    -----
    A batch is ``(X, Y)`` or ``(X, Y, w)`` with ``Y`` of shape ``(m, k)``, or the
    :class:`~gradstep.objectives.stats.SquaredStats` of such a batch, and
    ``w`` per-row weights (see :mod:`gradstep.objectives.linear`). Weighted,
    :math:`\sum R^2` becomes :math:`\sum_i w_i \sum_j R_{ij}^2` (still divided
    by ``m k`` for the means) and :math:`X^\top R` becomes
    :math:`X^\top (w \circ R)`. Without weights the computation is exactly the
    unweighted one. ``params`` and the batch may be NumPy arrays or torch
    tensors (see :mod:`gradstep.backend`); the gradient has their type.
    """

    n_features: int
    n_outputs: int = 1
    loss: str = "mse"
    fit_intercept: bool = True
    penalty: Penalty = field(default_factory=Penalty)

    kind: ClassVar[Loss] = "squared"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(
                f"loss must be one of {LOSSES}: 'mse' = mean of squares (PyTorch MSELoss), "
                f"'half_mse' = 1/(2m) sum of squares, 'sum' = plain sum; got {self.loss!r}"
            )

    @property
    def summed(self) -> bool:
        """True for ``loss="sum"``: a sum over the rows, not a mean."""
        return self.loss == "sum"

    def _scale(self, m: int) -> Scale:
        """The convention's factors: value ``vs · Σ R²``, gradient ``gs · XᵀR`` (``_scales``)."""
        return Scale(*_scales(self.loss, m, self.n_outputs))

    def _rows(self, xp: Any, Z: Array, Y: Array, w: Array | None, grad: bool) -> tuple[Array, Array]:
        """``(R ∘ (w ∘ R), w ∘ R)`` with the residual ``R = Z - Y`` (``w ∘ R`` is ``R`` without weights)."""
        R = Z - Y
        wR = R if w is None else w[:, None] * R
        return R * wR, wR

    def curvature(self, n_rows: int) -> float:
        """``c`` in Hessian :math:`= c\\,\\tilde X^\\top \\tilde X` (+ the L2 weight) for ``n_rows`` rows.

        With weights the Hessian is :math:`c\\,\\tilde X^\\top \\operatorname{diag}(w) \\tilde X`
        (+ the L2 weight), at most ``max(w)`` times the unweighted one.
        """
        return _scales(self.loss, n_rows, self.n_outputs)[1]
