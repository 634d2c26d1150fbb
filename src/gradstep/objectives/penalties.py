r"""Penalties on the coefficients (never on the intercept), as scikit-learn's SGD defines them.

.. math::
    R_{l2}(w) = \tfrac12 \lVert w\rVert_2^2,\qquad
    R_{l1}(w) = \lVert w\rVert_1,\qquad
    R_{en}(w) = \rho \lVert w\rVert_1 + \tfrac{1-\rho}{2} \lVert w\rVert_2^2

and the objective adds :math:`\alpha\,R(w)`. Where the L1 term is not differentiable
(:math:`w_j = 0`) the objective's gradient is its *minimum-norm subgradient*: of the set
:math:`g_j + [-\lambda_1, \lambda_1]` the point nearest 0,
:math:`\operatorname{sign}(g_j)\max(|g_j| - \lambda_1, 0)` (:meth:`Penalty.add_grad`). It is 0
exactly where the objective is stationary, so the gradient norm measures the distance to the
optimum with an L1 term as without one, and a proximal step
(:func:`gradstep.optim.proximal.l1_step`) recovers the smooth part from it.

Examples
--------
>>> import numpy as np
>>> p = Penalty("l2", alpha=0.5)
>>> p.value(np.array([1.0, -2.0])), p.grad(np.array([1.0, -2.0]))
(1.25, array([ 0.5, -1. ]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import Array, as_float, namespace

PENALTIES = (None, "none", "l2", "l1", "elasticnet")


@dataclass(frozen=True)
class Penalty:
    """``alpha * R(w)`` with ``R`` one of ``"l2"``, ``"l1"``, ``"elasticnet"`` or ``None``."""

    kind: str | None = None
    alpha: float = 0.0
    l1_ratio: float = 0.15

    def __post_init__(self) -> None:
        if self.kind not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {self.kind!r}")
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        if not 0 <= self.l1_ratio <= 1:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio!r}")

    @property
    def l1(self) -> float:
        """The weight of :math:`\\lVert w\\rVert_1` in the objective."""
        return {"l1": self.alpha, "elasticnet": self.alpha * self.l1_ratio}.get(self.kind or "", 0.0)

    @property
    def l2(self) -> float:
        """The weight :math:`\\lambda` of :math:`\\tfrac{\\lambda}{2}\\lVert w\\rVert_2^2` in the objective."""
        return {"l2": self.alpha, "elasticnet": self.alpha * (1 - self.l1_ratio)}.get(self.kind or "", 0.0)

    @property
    def active(self) -> bool:
        return (self.l1 > 0) or (self.l2 > 0)

    def value(self, w: Array) -> float:
        """:math:`\alpha R(w)` as a Python float (``w`` a NumPy array or a torch tensor)."""
        xp = namespace(w)
        out = 0.0
        if self.l2:
            out += 0.5 * self.l2 * as_float(xp.sum(w * w))
        if self.l1:
            out += self.l1 * as_float(xp.sum(xp.abs(w)))
        return out

    def grad(self, w: Array) -> Array:
        """:math:`\alpha \nabla R(w)` (the L1 part a subgradient, 0 at 0), of ``w``'s type, dtype and device."""
        xp = namespace(w)
        g = xp.zeros_like(w)
        if self.l2:
            g = g + self.l2 * w
        if self.l1:
            g = g + self.l1 * xp.sign(w)
        return g

    def add_grad(self, w: Array, g: Array) -> Array:
        r"""The minimum-norm subgradient of :math:`f + \alpha R` at ``w``, given :math:`g = \nabla f(w)`.

        .. math::
            g_j + \lambda_2 w_j + \lambda_1 \operatorname{sign}(w_j)\ \ (w_j \ne 0),\qquad
            \operatorname{sign}(g_j) \max(|g_j| - \lambda_1, 0)\ \ (w_j = 0).

        Without an L1 part it is :math:`g + \alpha \nabla R(w)`.

        Examples
        --------
        >>> import numpy as np
        >>> Penalty("l1", alpha=0.5).add_grad(np.array([1.0, 0.0, 0.0]), np.array([0.2, 0.3, -0.9]))
        array([ 0.7,  0. , -0.4])
        """
        xp = namespace(w, g)
        full = g + self.grad(w)   # where w != 0 (at w == 0 the L2 part is 0 and h = g)
        if not self.l1:
            return full
        shrunk = xp.sign(g) * xp.clip(xp.abs(g) - self.l1, min=0.0)
        return xp.where(w == 0, shrunk, full)
