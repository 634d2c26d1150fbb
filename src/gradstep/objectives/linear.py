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

It also chooses, in one place (:meth:`LinearObjective._parts`), how a batch is
computed; ``value`` is that computation without the gradient:

* :class:`~gradstep.objectives.stats.SquaredStats` (squared error only): from
  :math:`G`, :math:`C`, :math:`s`, whatever the rows;
* chunked data (anything with ``sums``, :mod:`gradstep.objectives.chunked`):
  the chunks' shares added, each computed as a batch of rows;
* a large NumPy batch (:func:`gradstep.kernels.fused.applies`): one compiled pass,
  the loss named by ``kind``;
* anything else: the plain rows, with the loss's row-wise pieces
  (``_rows``: the weighted per-row losses and :math:`G = w\circ\partial\ell/\partial Z`,
  as the kernel defines them) and ``X.T @ G``.

The loss's :class:`Scale` turns the sums into its mean (or sum) the same way on
every path: ``value = Σ w ℓ · value / over`` and ``gradient = XᵀG · grad / over``,
each step taken only where it changes the number, so a convention that divides
by ``m`` (the cross-entropies) and one that multiplies by ``1/(mk)`` (squared
error) each round as written.

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

import dataclasses
from typing import Any, ClassVar, NamedTuple

from ..backend import Array, as_float, device, namespace
from ..kernels import fused
from .penalties import Penalty
from .stats import SquaredStats, squared_parts

Parts = tuple[float, Any, Any, dict[str, float]]
"""``(value, gW, gb, counts)``: the unpenalised value, the gradient's parts (``None`` without a
gradient) and what the pass counted (``{"accuracy": ...}`` or ``{}``)."""


class Scale(NamedTuple):
    """How a loss turns its sums over the rows into its value and gradient.

    ``value = Σ_i w_i ℓ_i · value / over`` and ``gradient = XᵀG · grad / over``; a
    factor of 1 is not applied, so each convention rounds as it is written
    (``SquaredError``: times ``1/(mk)``; the cross-entropies: divided by ``m``).
    The fused kernel takes the gradient's factor as one number, ``grad / over``.
    """

    value: float
    grad: float
    over: int = 1


class LinearObjective:
    """Base of the linear-model losses: parameters, decision ``X @ W + b``, batch, penalty, and the choice of path.

    Not a loss itself. A subclass is a frozen dataclass that provides the
    attributes below and the loss's own pieces: ``kind`` (its fused kernel),
    :meth:`_scale`, :meth:`_rows` and, for a classifier, ``labels = True`` and
    :meth:`_hits`. ``value`` and ``value_and_grad`` are written once, here.

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
    kind : {"squared", "logistic", "softmax"}
        The loss's name in :func:`gradstep.kernels.fused.linear_parts`.
    labels : bool
        ``Y`` holds labels, used in the decision's float type (else targets, used as they are).
    """

    n_features: int
    fit_intercept: bool
    penalty: Penalty

    kind: ClassVar[fused.Loss]
    labels: ClassVar[bool] = False

    # ------------------------------------------------------------------ parameters
    @property
    def n_outputs(self) -> int:
        """``k``: a field of the loss, a constant or another field's value (``n_classes``)."""
        raise NotImplementedError

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

    # ------------------------------------------------------------------ value and gradient
    @property
    def summed(self) -> bool:
        """True for a loss that is a sum over the rows, False for a mean (chunks then weigh by their rows)."""
        return False

    def value(self, params: Array, batch: Any) -> float:
        r""":math:`f(\theta)` on ``batch``: :meth:`value_and_grad` without the gradient."""
        return self._pass(params, batch, grad=False, metrics=False)[0]

    def value_and_grad(self, params: Array, batch: Any) -> tuple[float, Array]:
        r""":math:`(f(\theta), \nabla f(\theta))` on ``batch``: rows ``(X, Y)`` or ``(X, Y, w)``, chunked
        data, or (squared error) :class:`~gradstep.objectives.stats.SquaredStats`."""
        value, grad, _ = self._pass(params, batch, grad=True, metrics=False)
        return value, grad

    def _pass(self, params: Array, batch: Any, grad: bool,
              metrics: bool) -> tuple[float, Array | None, dict[str, float]]:
        """``(value, gradient or None, counts)``: :meth:`_parts` with the penalty added, once."""
        value, gW, gb, seen = self._parts(params, batch, grad, metrics)
        W, _ = self.unpack(params)
        return self._penalised(value, W), (self._gradient(gW, gb, W) if grad else None), seen

    def _parts(self, params: Array, batch: Any, grad: bool, metrics: bool) -> Parts:
        """The one choice of path for a batch (see the module docstring); the loss unpenalised."""
        if isinstance(batch, SquaredStats) and self.kind == "squared":  # O(p^2 k) whatever the rows
            scale = self._scale(batch.n_rows)
            return (*squared_parts(self, params, batch, (scale.value, scale.grad), grad), {})
        if hasattr(batch, "sums"):
            return (*self._chunks(params, batch, grad), {})
        X, Y, w = self._batch(batch)
        m = X.shape[0]
        scale = self._scale(m)
        if fused.applies(params, X, Y, w, labels=self.labels):  # large NumPy batch: one compiled pass
            W, b = self.unpack(params)
            total, gW, gb, correct = fused.linear_parts_counted(self.kind, X, Y, w, W, b, scale.grad / scale.over,
                                                                grad=grad)
            seen = {"accuracy": correct / m} if metrics else {}
        else:
            total, gW, gb, seen = self._plain(params, (X, Y, w), scale, grad, metrics)
        return _times(total, scale.value, scale.over), gW, gb, seen

    def _plain(self, params: Array, rows: tuple[Array, Array, Array | None], scale: Scale, grad: bool,
               metrics: bool) -> Parts:
        """The rows in the array library's own operations: ``Z``, the loss's :meth:`_rows`, then ``XᵀG``.
        The value is returned unscaled (``Σ w ℓ``), the gradient's parts scaled."""
        X, Y, w = rows
        xp = namespace(params, X)
        Z = self.decision(params, X)
        if self.labels:
            Y = xp.astype(Y, Z.dtype, copy=False)  # 0/1 and one-hot labels are exact in any float type
        terms, G = self._rows(xp, Z, Y, w, grad)
        total = as_float(xp.sum(terms))
        seen = {"accuracy": _share(xp, self._hits(xp, Z, Y))} if metrics else {}
        if not grad:
            return total, None, None, seen
        gb = _times(xp.sum(G, axis=0), scale.grad, scale.over) if self.fit_intercept else None
        return total, _times(X.T @ G, scale.grad, scale.over), gb, seen

    def _chunks(self, params: Array, data: Any, grad: bool) -> tuple[float, Array | None, Array | None]:
        """Chunked data: the shares ``data.sums`` adds up (each chunk's unpenalised loss times its rows,
        :func:`~gradstep.objectives.chunked.chunk_sums`) over all the rows."""
        parts = data.sums(unpenalised(self), params, grad)
        if parts.rows == 0:
            raise ValueError("the data has no rows: there is no loss to compute")
        scale = 1.0 if self.summed else 1.0 / parts.rows
        gW, gb = self.unpack(parts.grad * scale) if grad else (None, None)
        return parts.value * scale, gW, gb

    # ------------------------------------------------------------------ each loss's own pieces
    def _scale(self, m: int) -> Scale:
        """The loss's :class:`Scale` for a batch of ``m`` rows."""
        raise NotImplementedError

    def _rows(self, xp: Any, Z: Array, Y: Array, w: Array | None, grad: bool) -> tuple[Array, Array | None]:
        r"""``(terms, G)``: an array whose sum is :math:`\sum_i w_i \ell_i`, and the kernel's ``G``
        (:math:`w\circ\partial\ell/\partial Z` up to the factor of the scale; ``None`` without ``grad``)."""
        raise NotImplementedError

    def _hits(self, xp: Any, Z: Array, Y: Array) -> Array:
        """A boolean per row: classified right (for the accuracy)."""
        raise NotImplementedError(f"{type(self).__name__} counts no accuracy")

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


def unpenalised(objective: LinearObjective) -> LinearObjective:
    """The same loss without its penalty (which a sum over chunks adds once, not per chunk)."""
    if not objective.penalty.active:
        return objective
    return dataclasses.replace(objective, penalty=Penalty())  # type: ignore[type-var]


def _times(x: Any, factor: float, over: int) -> Any:
    """``x · factor / over``, each step taken only where it changes ``x``."""
    if factor != 1.0:
        x = x * factor
    return x if over == 1 else x / over


def _share(xp: Any, hits: Array) -> float:
    """The share of true values in a boolean vector, as a Python float."""
    return as_float(xp.sum(xp.astype(hits, xp.int64))) / hits.shape[0]
