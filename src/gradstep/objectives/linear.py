r"""What every loss of a linear model shares: the parameters, the decision, the batch and the penalty.

A linear model with ``d`` features and ``k`` outputs has the decision function

.. math:: Z = X W + \mathbf 1 b^\top, \qquad W \in \mathbb R^{d\times k},\ b \in \mathbb R^k,

and its parameters are one flat vector :math:`\theta = [\operatorname{vec}(W), b]`
(``W`` row-major, ``b`` absent without an intercept). A batch is ``(X, Y)`` or
``(X, Y, w)`` with ``w`` a 1-D array of per-row weights (sample weight times
class weight, computed by the caller). Weighted losses follow scikit-learn's SGD
convention: a mean over the ``m`` rows of the batch becomes
:math:`\frac1m\sum_i w_i \ell_i` (divided by ``m``, *not* by :math:`\sum_i w_i`),
a sum becomes :math:`\sum_i w_i \ell_i`. The penalty
:math:`\alpha R(W)` (:class:`~gradstep.objectives.penalties.Penalty`) is added
once per batch, on ``W`` only.

:class:`LinearObjective` holds this; the losses
(:class:`~gradstep.objectives.squared.SquaredError`,
:class:`~gradstep.objectives.logistic.LogisticLoss`,
:class:`~gradstep.objectives.logistic.SoftmaxCrossEntropy`) hold only their own maths.

All of it is written once with the array namespace of the parameters and the
batch (:func:`gradstep.backend.namespace`): NumPy arrays or torch tensors (of
one library, on one device) go in, gradients of the same type, dtype and
device come out, and values are Python floats.

Examples
--------
>>> import numpy as np
>>> from gradstep.objectives import SquaredError
>>> obj = SquaredError(n_features=2, n_outputs=1)
>>> theta = obj.pack(np.array([[1.0], [2.0]]), np.array([0.5]))
>>> theta, obj.n_params
(array([1. , 2. , 0.5]), 3)
>>> obj.decision(theta, np.array([[1.0, 1.0]]))
array([[3.5]])
"""

from __future__ import annotations

from typing import Any

from ..backend import Array, device, namespace
from .penalties import Penalty


class LinearObjective:
    """Base of the linear-model losses: parameters, decision ``X @ W + b``, batch, penalty.

    Not a loss itself. A subclass is a frozen dataclass that provides the
    attributes below and implements ``value`` and ``value_and_grad`` with
    :meth:`_batch`, :meth:`decision`, :meth:`_penalised` and :meth:`_gradient`.

    Attributes
    ----------
    n_features : int
        ``d``, the number of columns of ``X``.
    n_outputs : int
        ``k``, the number of columns of ``Y`` and of the decision.
    fit_intercept : bool
        Whether ``b`` is a parameter (else it is 0 and absent from ``θ``).
    penalty : Penalty
        ``α R(W)``, on ``W`` only.
    """

    n_features: int
    n_outputs: int
    fit_intercept: bool
    penalty: Penalty

    # ------------------------------------------------------------------ parameters
    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector, ``k (d + fit_intercept)``."""
        return self.n_outputs * (self.n_features + int(self.fit_intercept))

    def unpack(self, params: Array) -> tuple[Array, Array | None]:
        """Split ``θ`` into ``W`` (d, k) and ``b`` (k,) or ``None`` (views, no copy)."""
        d, k = self.n_features, self.n_outputs
        W = namespace(params).reshape(params[: d * k], (d, k))
        return W, (params[d * k :] if self.fit_intercept else None)

    def pack(self, W: Array, b: Array | None = None) -> Array:
        """Join ``W`` (d, k) and ``b`` (k,) into ``θ`` (``b`` defaults to zeros; ignored without intercept)."""
        xp = namespace(W, b)
        W = xp.asarray(W)
        parts = [xp.reshape(W, (-1,))]
        if self.fit_intercept:
            b = xp.zeros(self.n_outputs, dtype=W.dtype, device=device(W)) if b is None else xp.asarray(b)
            parts.append(xp.reshape(b, (-1,)))
        return xp.concat(parts)

    def decision(self, params: Array, X: Array) -> Array:
        """The linear part :math:`Z = X W + b`, shape (m, k)."""
        W, b = self.unpack(params)
        out = X @ W
        return out if b is None else out + b

    def predict(self, params: Array, X: Array) -> Array:
        """Same as :meth:`decision`: :math:`X W + b`, shape (m, k)."""
        return self.decision(params, X)

    # ------------------------------------------------------------------ for the losses
    def _batch(self, batch: Any) -> tuple[Array, Array, Array | None]:
        """``(X, Y, w)`` from ``(X, Y)`` or ``(X, Y, w)``; ``w`` is ``None`` when absent or ``None``.

        ``Y`` must be 2-D ``(m, k)`` (a 1-D ``Y`` would broadcast silently); ``w``
        is returned as a 1-D array of length ``m`` in ``X``'s float type.
        """
        if batch is None or len(batch) not in (2, 3):
            raise ValueError(f"a linear model's batch is (X, Y) or (X, Y, w), got {type(batch).__name__}")
        X, Y = batch[0], batch[1]
        w = batch[2] if len(batch) == 3 else None
        m = X.shape[0]
        if Y.shape != (m, self.n_outputs):
            raise ValueError(
                f"Y has shape {Y.shape}; it must be 2-D ({m}, {self.n_outputs}): one row per row of X, "
                f"one column per output"
            )
        if w is not None:
            xp = namespace(X)
            dtype = X.dtype if xp.isdtype(X.dtype, "real floating") else xp.float64
            w = xp.asarray(w, dtype=dtype, device=device(X))
            if w.shape != (m,):
                raise ValueError(f"the weights have shape {w.shape}; they must be 1-D, one per row: ({m},)")
        return X, Y, w

    def _penalised(self, value: float, W: Array) -> float:
        """``value`` plus ``α R(W)``."""
        if self.penalty.active:
            value += self.penalty.value(W)
        return value

    def _gradient(self, gW: Array, gb: Array | None, W: Array) -> Array:
        """The flat gradient ``[vec(gW + α ∇R(W)), gb]`` (``gb`` dropped without intercept); with an L1
        part, the minimum-norm subgradient (:meth:`Penalty.add_grad`)."""
        xp = namespace(gW)
        if self.penalty.active:
            gW = self.penalty.add_grad(W, gW)
        if not self.fit_intercept:
            return xp.reshape(gW, (-1,))
        return xp.concat([xp.reshape(gW, (-1,)), gb])
