r"""Constraints by projection: every iterate is kept in a closed convex set :math:`C`.

A projection :math:`P_C(z) = \arg\min_{x\in C}\lVert x - z\rVert_2` is applied after the step:
:func:`projected` turns the update :math:`u` of any chain into :math:`u' = P_C(\theta + u) - \theta`,
so that :math:`\theta + u' = P_C(\theta + u)` (projected gradient descent). The sets:

* :func:`box`: :math:`\ell_i \le x_i \le h_i` (SciPy's ``bounds``; ``None`` for an open side), a clip;
* :func:`simplex`: :math:`x_i \ge 0,\ \sum_i x_i = 1` (probability vectors), by the sort-based
  algorithm of Held, Wolfe and Crowder (1974) (Duchi et al., 2008);
* :func:`l2_ball`: :math:`\lVert x\rVert_2 \le r`, :math:`P(z) = z\,\min(1, r/\lVert z\rVert_2)`.

Examples
--------
>>> import numpy as np
>>> simplex(np.array([0.5, 1.5, -1.0]))
array([0., 1., 0.])
>>> opt = projected(l2_ball(1.0))
>>> theta = np.array([0.6, 0.0])
>>> theta + opt.update(np.array([0.0, 0.8]), opt.init(theta), theta)[0]   # (0.6, 0.8) has norm 1
array([0.6, 0.8])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..backend import Array, as_float, device, namespace
from .base import GradientTransformation, stateless

Projection = Callable[[Array], Array]


def simplex(z: Array) -> Array:
    r"""The Euclidean projection of ``z`` onto the probability simplex
    :math:`\{x : x_i \ge 0,\ \sum_i x_i = 1\}`: :math:`x_i = \max(z_i - \tau, 0)`, with
    :math:`\tau = (\sum_{j\le\rho} z_{(j)} - 1)/\rho` over the :math:`z` sorted decreasingly,
    :math:`\rho` the largest :math:`k` with :math:`z_{(k)} > (\sum_{j\le k} z_{(j)} - 1)/k`.
    """
    xp = namespace(z)
    u = xp.flip(xp.sort(z))
    thresholds = (xp.cumulative_sum(u) - 1) / xp.arange(1, u.shape[0] + 1, dtype=z.dtype, device=device(z))
    rho = int(as_float(xp.sum(xp.astype(u > thresholds, xp.int64))))
    return xp.clip(z - thresholds[rho - 1], min=0.0)


def l2_ball(radius: float = 1.0) -> Projection:
    r"""The projection onto :math:`\{x : \lVert x\rVert_2 \le r\}`: :math:`z\,\min(1, r/\lVert z\rVert_2)`.

    >>> import numpy as np
    >>> l2_ball(2.0)(np.array([3.0, 4.0]))
    array([1.2, 1.6])
    """
    r = float(radius)
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"the l2_ball's radius must be a finite number > 0, got {radius!r}")

    def project(z: Array) -> Array:
        norm = math.sqrt(as_float(namespace(z).sum(z * z)))
        return z * (r / norm) if norm > r else z

    return project


def box(bounds: Sequence[tuple[float | None, float | None]]) -> Projection:
    """The projection onto the box ``bounds``, one ``(lo, hi)`` per variable as SciPy spells it (``None``:
    that side is open): a clip.

    >>> import numpy as np
    >>> box([(0, 1), (None, 2)])(np.array([-0.5, 3.0]))
    array([0., 2.])
    """
    try:
        pairs = [(-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi)) for lo, hi in bounds]
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a list of (lo, hi) pairs, None for an open side, got {bounds!r}") from None
    bad = [i for i, (lo, hi) in enumerate(pairs) if math.isnan(lo) or math.isnan(hi) or lo > hi]
    if bad:
        raise ValueError(f"bounds {bad}: each pair (lo, hi) needs lo <= hi, got {[bounds[i] for i in bad]}")
    lows, highs = [p[0] for p in pairs], [p[1] for p in pairs]

    def project(z: Array) -> Array:
        if z.shape[0] != len(pairs):
            raise ValueError(f"bounds has {len(pairs)} pairs but there are {z.shape[0]} variables; "
                             "give one (lo, hi) per variable")
        xp = namespace(z)
        lo = xp.asarray(lows, dtype=z.dtype, device=device(z))
        hi = xp.asarray(highs, dtype=z.dtype, device=device(z))
        return xp.minimum(xp.maximum(z, lo), hi)

    return project


def projected(projection: Projection) -> GradientTransformation:
    r"""Keep the iterates in a set: the update :math:`u` (of the transforms before this one in a chain)
    becomes :math:`u' = P(\theta + u) - \theta`.

    ``projection`` maps a point to its projection (:func:`simplex`, :func:`l2_ball`, :func:`box` or any
    function of an array).
    """

    def fn(updates: Array, params: Array | None) -> Array:
        if params is None:
            raise ValueError("projected needs params: call update(grads, state, params)")
        return projection(params + updates) - params

    return stateless(fn)


@dataclass(frozen=True)
class ProjectedGradient:
    r"""An objective whose gradient is the *gradient mapping*
    :math:`G_\eta(\theta) = (\theta - P(\theta - \eta\nabla f(\theta)))/\eta` (Nesterov's; with
    :math:`\eta = 1` L-BFGS-B's projected gradient, whose largest entry is SciPy's ``pgtol``).

    It is :math:`\nabla f` where the step stays inside the set and 0 exactly at the constrained optimum, so
    ``gtol`` and the history's gradient norm measure the distance to it as they do without constraints.
    Plain gradient descent at the learning rate :math:`\eta` steps to
    :math:`\theta - \eta G_\eta = P(\theta - \eta\nabla f)`: projected gradient descent;
    :func:`projected` after the step keeps any other step (Adam's, momentum's) feasible.

    >>> import numpy as np
    >>> from gradstep.objectives import FunctionObjective
    >>> obj = ProjectedGradient(FunctionObjective(lambda x: float(x @ x), grad=lambda x: 2 * x), box([(1, 2)]), 0.25)
    >>> obj.value_and_grad(np.array([1.0]))      # at the bound x = 1 of min x² on [1, 2]: stationary
    (1.0, array([0.]))
    """

    objective: Any
    projection: Projection
    step: float = 1.0

    def value(self, params: Array, batch: Any = None) -> float:
        return float(self.objective.value(params, batch))

    def value_and_grad(self, params: Array, batch: Any = None) -> tuple[float, Array]:
        value, grads = self.objective.value_and_grad(params, batch)
        eta = self.step
        return value, (params - self.projection(params - eta * grads)) / eta


def as_projection(projection: Any = None, bounds: Any = None) -> Projection | None:
    """The projection :func:`gradstep.minimize`'s ``projection=`` and ``bounds=`` name (None: none):
    ``"simplex"``, ``"l2_ball"`` (radius 1) or ``("l2_ball", radius)``, a callable; ``bounds`` a list
    of ``(lo, hi)`` pairs. Both at once are refused (the projection onto their intersection is not the
    composition of the two)."""
    if bounds is not None and projection is not None:
        raise ValueError("give bounds or projection, not both: the projection onto their intersection is not "
                         "one after the other; write it as one projection=callable")
    if bounds is not None:
        return box(bounds)
    if projection is None or callable(projection):
        return projection
    name, args = (projection, ()) if isinstance(projection, str) else (None, ())
    if isinstance(projection, (tuple, list)) and projection:
        name, args = projection[0], tuple(projection[1:])
    if name == "simplex" and not args:
        return simplex
    if name == "l2_ball":
        return l2_ball(*args)
    raise ValueError(f"projection must be 'simplex', 'l2_ball', ('l2_ball', radius) or a function, "
                     f"got {projection!r}")
