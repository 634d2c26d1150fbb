r"""Cross-entropy losses of linear classifiers: binary logistic and multinomial softmax.

Both are linear models (:mod:`gradstep.objectives.linear`): the decision is
:math:`Z = XW + \mathbf 1 b^\top`, the parameters one flat vector
:math:`\theta = [\operatorname{vec}(W), b]`, a batch ``(X, Y)`` or ``(X, Y, w)``
with per-row weights ``w``, and the penalty :math:`\alpha R(W)` is on ``W`` only.
Over the ``m`` rows of a batch, with :math:`\sigma` the logistic function
(:func:`gradstep.backend.sigmoid`),

:class:`LogisticLoss` (``Y`` of shape (m, 1), labels 0/1)
    .. math::
        f = \frac1m\sum_i w_i\,[\operatorname{softplus}(z_i) - y_i z_i],\qquad
        \nabla_W f = \frac1m X^\top\big(w\circ(\sigma(z) - y)\big)

:class:`SoftmaxCrossEntropy` (``Y`` of shape (m, K), one-hot)
    .. math::
        f = \frac1m\sum_i w_i\,[\operatorname{lse}(Z_i) - Z_i\cdot Y_i],\qquad
        \nabla_W f = \frac1m X^\top\big(w\circ(\operatorname{softmax}(Z) - Y)\big)

(the gradient w.r.t. ``b`` is the same with ``X`` replaced by a column of ones),
with :math:`\operatorname{softplus}(z) = \log(1 + e^z)` and
:math:`\operatorname{lse}(Z_i) = \log\sum_j e^{Z_{ij}}`; without weights,
:math:`w_i = 1`. The mean is over ``m`` rows even when weighted (scikit-learn's
SGD convention). Everything is computed without overflow for any finite
decision (``|z| = 1e4`` gives the exact limits, no warning):

* binary: :math:`\ell = -y \log\sigma(z) - (1-y)\log\sigma(-z)` with
  :func:`~gradstep.backend.log_sigmoid` (equal to softplus(z) − yz, without its
  cancellation for confident right answers), and
  :math:`\sigma(z) - y = (1-y)\,\sigma(z) - y\,\sigma(-z)` (no cancellation for 0/1 labels);
* softmax: :func:`~gradstep.backend.logsumexp` (maximum subtracted) and
  :math:`\operatorname{softmax}(Z) = e^{Z - \operatorname{lse}(Z)}`.

The maths is written once with the array namespace of the parameters and the
batch: NumPy arrays or torch tensors (see :mod:`gradstep.backend`).

Hessian bounds (for step sizes): :math:`\sigma' \le \tfrac14` and the softmax
Jacobian :math:`\operatorname{diag}(p) - pp^\top` has largest eigenvalue at most
:math:`\tfrac12`, so the data part of the Hessian is bounded by
``lipschitz_factor`` :math:`\cdot\,\tilde X^\top\tilde X/m` (times
:math:`\max_i w_i` with weights; :math:`\tilde X = [X, \mathbf 1]` with an
intercept), plus the L2 weight on ``W``.

Examples
--------
>>> import numpy as np
>>> obj = LogisticLoss(n_features=1)
>>> X, Y = np.array([[1.0], [-1.0]]), np.array([[1.0], [0.0]])
>>> value, grad = obj.value_and_grad(np.zeros(obj.n_params), (X, Y))
>>> round(value, 6), grad        # log 2 at θ = 0; gradient ½ Σ x (½ − y)
(0.693147, array([-0.5,  0. ]))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..backend import (
    Array,
    log_sigmoid,
    logsumexp,
    sigmoid,
    softmax,
)
from ..kernels.fused import Loss
from .linear import LinearObjective, Scale
from .penalties import Penalty


class _CrossEntropy(LinearObjective):
    """What the two cross-entropies share: labels in ``Y``, the mean over the ``m`` rows (divided by
    ``m``) and :meth:`evaluate`, the loss and the accuracy from one pass."""

    labels: ClassVar[bool] = True

    def _scale(self, m: int) -> Scale:
        return Scale(1.0, 1.0, m)

    def evaluate(self, params: Array, batch: Any, grad: bool = True,
                 metrics: bool = True) -> tuple[float, Array | None, dict[str, float]]:
        """``(value, gradient or None, {"accuracy": ...})`` from one pass over the batch: the accuracy (the
        share of rows classified right, see ``_hits``) comes from the same decision values
        (``metrics=False``: ``{}``, and no count made by the plain path, where it costs a pass)."""
        return self._pass(params, batch, grad, metrics)


@dataclass(frozen=True)
class LogisticLoss(_CrossEntropy):
    r"""Binary cross-entropy (log loss) of a linear model's decision ``z = X @ W + b``.

    .. math::
        f(\theta) = \frac1m \sum_{i=1}^m w_i \big[\log(1 + e^{z_i}) - y_i z_i\big] + \alpha R(W),
        \qquad
        \nabla_W f = \frac1m X^\top \big(w \circ (\sigma(z) - y)\big) + \alpha\nabla R(W)

    and :math:`\nabla_b f` the sum over rows of :math:`\frac1m w\circ(\sigma(z) - y)`.

    Parameters
    ----------
    n_features : int
        ``d``, the number of columns of ``X``.
    fit_intercept : bool
        Whether ``b`` is a parameter (else it is 0).
    penalty : Penalty
        Applied to ``W`` only.

    Attributes
    ----------
    n_outputs : int
        Always 1: ``W`` is (d, 1), ``b`` is (1,), ``θ`` has ``d + fit_intercept`` values.
    lipschitz_factor : float
        0.25, the bound :math:`\sigma'(z) \le \tfrac14`: the data part of the
        Hessian is at most :math:`0.25\,\tilde X^\top \operatorname{diag}(w)\tilde X / m`.

    Notes
    -----
    A batch is ``(X, Y)`` or ``(X, Y, w)``: ``X`` (m, d), ``Y`` (m, 1) float
    labels in {0, 1} (a probability in [0, 1] also works: the loss is then the
    cross-entropy against it), ``w`` (m,) per-row weights. The mean divides by
    ``m``, not by :math:`\sum w_i`. ``Y`` is used in the float type of the
    decision (so float32 data with float64 labels stays float32).

    Examples
    --------
    >>> import numpy as np
    >>> obj = LogisticLoss(n_features=2, fit_intercept=False)
    >>> X, Y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0], [0.0]])
    >>> theta = np.array([2.0, -2.0])
    >>> obj.predict_proba(theta, X).round(4)
    array([[0.8808],
           [0.1192]])
    >>> round(obj.value(theta, (X, Y)), 6)                        # -log σ(2)
    0.126928
    >>> round(obj.value(theta, (X, Y, np.array([2.0, 0.0]))), 6)  # (2 ℓ₁ + 0 ℓ₂) / 2
    0.126928
    """

    n_features: int
    fit_intercept: bool = True
    penalty: Penalty = field(default_factory=Penalty)

    lipschitz_factor: ClassVar[float] = 0.25
    n_outputs: ClassVar[int] = 1
    kind: ClassVar[Loss] = "logistic"

    def predict_proba(self, params: Array, X: Array) -> Array:
        r""":math:`P(y = 1 \mid x) = \sigma(z)`, shape (m, 1) (class 0: ``sigmoid(-z)``, not ``1 - p``)."""
        return sigmoid(self.decision(params, X))

    def _rows(self, xp: Any, Z: Array, Y: Array, w: Array | None, grad: bool) -> tuple[Array, Array | None]:
        r"""The weighted log losses (m, 1) and :math:`G = w\circ(\sigma(z) - y)`."""
        loss = _binary_log_loss(Z, Y)
        G = ((1.0 - Y) * sigmoid(Z) - Y * sigmoid(-Z)) if grad else None  # σ(z) − y
        if w is not None:
            loss = w[:, None] * loss
            G = w[:, None] * G if grad else None
        return loss, G

    def _hits(self, xp: Any, Z: Array, Y: Array) -> Array:
        r"""Rows with :math:`z > 0` exactly where :math:`y > 1/2`."""
        return (Z[:, 0] > 0) == (Y[:, 0] > 0.5)


@dataclass(frozen=True)
class SoftmaxCrossEntropy(_CrossEntropy):
    r"""Multinomial cross-entropy of a linear model's decision ``Z = X @ W + b`` (K classes).

    .. math::
        f(\theta) = \frac1m \sum_{i=1}^m w_i \Big[\log\sum_{j=1}^K e^{Z_{ij}} - Z_i\cdot Y_i\Big] + \alpha R(W),
        \qquad
        \nabla_W f = \frac1m X^\top \big(w \circ (\operatorname{softmax}(Z) - Y)\big) + \alpha\nabla R(W)

    (``w`` multiplying rows) and :math:`\nabla_b f` the sum over rows of
    :math:`\frac1m w\circ(\operatorname{softmax}(Z) - Y)`. For one-hot ``Y``
    the bracket is :math:`-\log p_{i, c_i}`, the log loss of the true class.

    Parameters
    ----------
    n_features : int
        ``d``, the number of columns of ``X``.
    n_classes : int
        ``K >= 2``; ``W`` is (d, K), ``b`` is (K,).
    fit_intercept : bool
        Whether ``b`` is a parameter (else it is 0).
    penalty : Penalty
        Applied to ``W`` only.

    Attributes
    ----------
    n_outputs : int
        ``n_classes``.
    lipschitz_factor : float
        0.5: the Hessian of :math:`\operatorname{lse}` at any point,
        :math:`\operatorname{diag}(p) - pp^\top`, has largest eigenvalue at
        most :math:`\tfrac12`, so the data part of the Hessian is at most
        :math:`0.5\,\tilde X^\top \operatorname{diag}(w)\tilde X / m` (per class block).

    Notes
    -----
    A batch is ``(X, Y)`` or ``(X, Y, w)``: ``X`` (m, d), ``Y`` (m, K) **one-hot**
    float labels (the caller encodes them; rows of class probabilities summing
    to 1 also work), ``w`` (m,) per-row weights. The parametrisation is the
    over-complete one (all K columns free, as scikit-learn's multinomial
    ``LogisticRegression``): without a penalty adding a constant to every
    column leaves the loss unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> obj = SoftmaxCrossEntropy(n_features=1, n_classes=3, fit_intercept=False)
    >>> X, Y = np.array([[1.0]]), np.array([[0.0, 1.0, 0.0]])
    >>> theta = np.log([1.0, 2.0, 1.0])                 # probabilities ¼, ½, ¼
    >>> obj.predict_proba(theta, X)
    array([[0.25, 0.5 , 0.25]])
    >>> value, grad = obj.value_and_grad(theta, (X, Y))
    >>> round(value, 6), grad                           # -log ½; p − y
    (0.693147, array([ 0.25, -0.5 ,  0.25]))
    """

    n_features: int
    n_classes: int
    fit_intercept: bool = True
    penalty: Penalty = field(default_factory=Penalty)

    lipschitz_factor: ClassVar[float] = 0.5
    kind: ClassVar[Loss] = "softmax"

    def __post_init__(self) -> None:
        if isinstance(self.n_classes, bool) or int(self.n_classes) != self.n_classes or self.n_classes < 2:
            raise ValueError(f"n_classes must be a whole number >= 2, got {self.n_classes!r}")

    @property
    def n_outputs(self) -> int:
        """``n_classes``: the columns of ``W``, ``b``, ``Y`` and the decision."""
        return self.n_classes

    def predict_proba(self, params: Array, X: Array) -> Array:
        """:math:`\\operatorname{softmax}(Z)` row by row, shape (m, K)."""
        return softmax(self.decision(params, X), axis=1)

    def _rows(self, xp: Any, Z: Array, Y: Array, w: Array | None, grad: bool) -> tuple[Array, Array | None]:
        r"""The weighted losses :math:`\operatorname{lse}(Z_i) - Z_i\cdot Y_i` (m,) and
        :math:`G = w\circ(\operatorname{softmax}(Z) - Y)`."""
        lse = logsumexp(Z, axis=1, keepdims=True)
        loss = lse[:, 0] - xp.sum(Z * Y, axis=1)
        G = (xp.exp(Z - lse) - Y) if grad else None  # softmax(Z) − Y
        if w is not None:
            loss = w * loss
            G = w[:, None] * G if grad else None
        return loss, G

    def _hits(self, xp: Any, Z: Array, Y: Array) -> Array:
        """Rows whose first largest decision is their label's."""
        return xp.argmax(Z, axis=1) == xp.argmax(Y, axis=1)


def _binary_log_loss(z: Array, y: Array) -> Array:
    r""":math:`-y\log\sigma(z) - (1-y)\log\sigma(-z)`, elementwise, finite for every finite ``z``."""
    return -(y * log_sigmoid(z) + (1.0 - y) * log_sigmoid(-z))
