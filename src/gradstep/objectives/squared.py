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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
class SquaredError:
    """Squared error of ``X @ W + b`` against ``Y`` (see the module docstring for the maths).

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
    """

    n_features: int
    n_outputs: int = 1
    loss: str = "mse"
    fit_intercept: bool = True
    penalty: Penalty = field(default_factory=Penalty)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(
                f"loss must be one of {LOSSES}: 'mse' = mean of squares (PyTorch MSELoss), "
                f"'half_mse' = 1/(2m) sum of squares, 'sum' = plain sum; got {self.loss!r}"
            )

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        return self.n_outputs * (self.n_features + int(self.fit_intercept))

    def unpack(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Split ``θ`` into ``W`` (d, k) and ``b`` (k,) or ``None`` (views, no copy)."""
        d, k = self.n_features, self.n_outputs
        W = params[: d * k].reshape(d, k)
        return W, (params[d * k :] if self.fit_intercept else None)

    def pack(self, W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """Join ``W`` and ``b`` into ``θ``."""
        parts = [np.reshape(W, -1)]
        if self.fit_intercept:
            parts.append(np.zeros(self.n_outputs, dtype=np.result_type(W)) if b is None else np.reshape(b, -1))
        return np.concatenate(parts)

    def predict(self, params: np.ndarray, X: np.ndarray) -> np.ndarray:
        """:math:`X W + b`, shape (m, k)."""
        W, b = self.unpack(params)
        out = X @ W
        return out if b is None else out + b

    def value(self, params: np.ndarray, batch) -> float:
        X, Y = batch
        R = self.predict(params, X) - Y
        vs, _ = _scales(self.loss, Y.shape[0], self.n_outputs)
        out = vs * float(np.sum(R * R))
        if self.penalty.active:
            out += self.penalty.value(self.unpack(params)[0])
        return out

    def value_and_grad(self, params: np.ndarray, batch) -> tuple[float, np.ndarray]:
        X, Y = batch
        W, b = self.unpack(params)
        R = self.predict(params, X) - Y
        vs, gs = _scales(self.loss, Y.shape[0], self.n_outputs)
        value = vs * float(np.sum(R * R))
        gW = (X.T @ R) * gs
        if self.penalty.active:
            value += self.penalty.value(W)
            gW = gW + self.penalty.grad(W)
        if b is None:
            return value, gW.reshape(-1)
        return value, np.concatenate([gW.reshape(-1), R.sum(axis=0) * gs])

    def curvature(self, n_rows: int) -> float:
        """``c`` in Hessian :math:`= c\\,\\tilde X^\\top \\tilde X` (+ the L2 weight) for ``n_rows`` rows."""
        return _scales(self.loss, n_rows, self.n_outputs)[1]
