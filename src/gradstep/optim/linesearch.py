r"""Step sizes without a learning rate: chosen from the objective's values (Armijo, Polyak) or from the
last two iterates (Barzilai–Borwein).

Each rule ends a chain as :func:`~gradstep.optim.transforms.scale_by_lr` does, turning an incoming
gradient-like :math:`p` into the update :math:`u = -t\,p`, and keeps the step it took as a
:class:`~gradstep.optim.transforms.ScaleByLrState` (``lr`` is :math:`t`): the loop records it in the
history's ``lr`` column like any learning rate (:func:`gradstep.loop.current_lr`).

* :func:`armijo`: backtracking until :math:`f(\theta - t p) \le f(\theta) - c\,t\,\nabla f^\top p`;
* :func:`bb`: Barzilai and Borwein's (1988) steps :math:`s^\top s / s^\top y` (BB1) or
  :math:`s^\top y / y^\top y` (BB2), a named optimiser (``optimizer="bb"``);
* :func:`polyak_step`: Polyak's :math:`t = (f(\theta) - f^\star) / \lVert g\rVert^2`
  (``lr="polyak"``).

Examples
--------
>>> import numpy as np
>>> from gradstep import minimize
>>> res = minimize("0.5*x**2 + 500*y**2", x0=[1, 1], line_search="armijo", gtol=1e-8)
>>> res.success, bool(res.fun < 1e-12), bool(0 < res.history.lr.min() <= res.history.lr.max() <= 1)
(True, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, cast

from ..backend import Array, as_float, copy, namespace
from .base import GradientTransformation, GradientTransformationExtraArgs, UpdateFn, chain, stateless
from .schedules import LearningRate, as_schedule
from .transforms import ScaleByLrState, _check

ValueFn = Callable[[Array], float]


def _dot(a: Array, b: Array) -> float:
    """:math:`a^\\top b` as a Python float."""
    return as_float(namespace(a, b).sum(a * b))


def _init(params: Array) -> ScaleByLrState:
    return ScaleByLrState(0, math.nan)


# --------------------------------------------------------------------- Armijo
def armijo(c: float = 1e-4, shrink: float = 0.5, initial: float = 1.0, grow: float | None = None,
           max_backtracks: int = 60, direction: bool = False) -> GradientTransformationExtraArgs:
    r"""Backtracking line search with Armijo's sufficient-decrease condition.

    From :math:`t_0` the trial step shrinks, :math:`t \leftarrow \beta t`, until

    .. math:: f(\theta - t\,p) \le f(\theta) - c\, t\, \nabla f(\theta)^\top p,

    and the update is :math:`u = -t\,p`. :math:`t_0` is ``initial`` at every step, or with ``grow``
    :math:`\gamma` the previous step grown, :math:`t_0 = \gamma\, t_{k-1}` (``initial`` at the first).

    Parameters
    ----------
    c : float, default=1e-4
        The sufficient-decrease constant, in (0, 1).
    shrink : float, default=0.5
        :math:`\beta`, in (0, 1).
    initial : float, default=1.0
        The first trial step.
    grow : float, optional
        :math:`\gamma \ge 1`: start each search from the last step times ``grow``.
    max_backtracks : int, default=60
        At most this many shrinks; when none is accepted the smallest trial step is taken.
    direction : bool, default=False
        ``False``: the incoming ``grads`` is the gradient itself (:math:`p = g`, slope
        :math:`\lVert g\rVert^2`). ``True``: it is the search direction of another method (e.g. the
        output of an optimiser at ``lr = 1``, negated); the gradient is evaluated for the slope (one
        more evaluation), and a direction that does not descend (:math:`g^\top p \le 0`) is replaced by
        :math:`g`.

    Examples
    --------
    >>> import numpy as np
    >>> ls = armijo()
    >>> f = lambda x: float(x @ x)
    >>> x = np.array([3.0, 4.0])
    >>> u, state = ls.update(2 * x, ls.init(x), x, value=f(x), value_fn=f, value_and_grad_fn=None)
    >>> x + u, state.lr                         # t = 1 gives -x, no decrease; 0.5 lands on the minimum
    (array([0., 0.]), 0.5)
    """
    c = _check("c", c, hi=1.0, hi_open=True)
    shrink = _check("shrink", shrink, hi=1.0, hi_open=True)
    initial = _check("initial", initial)
    if c == 0 or shrink == 0 or initial == 0:
        raise ValueError("c, shrink and initial must be > 0")
    if grow is not None and not (math.isfinite(grow) and grow >= 1):
        raise ValueError(f"grow must be a finite number >= 1 or None, got {grow!r}")
    if isinstance(max_backtracks, bool) or not isinstance(max_backtracks, int) or max_backtracks < 0:
        raise ValueError(f"max_backtracks must be a whole number >= 0, got {max_backtracks!r}")

    def update(grads: Array, state: ScaleByLrState, params: Array | None = None, *, value: float,
               value_fn: ValueFn, value_and_grad_fn: Any) -> tuple[Array, ScaleByLrState]:
        if params is None:
            raise ValueError("armijo needs params: call update(grads, state, params, value=..., ...)")
        p, slope = grads, _dot(grads, grads)
        if direction:
            g = value_and_grad_fn(params)[1]
            slope = _dot(g, p)
            if not slope > 0:
                p, slope = g, _dot(g, g)
        t = initial if grow is None or state.count == 0 else grow * state.lr
        for _ in range(max_backtracks):
            if value_fn(params - t * p) <= value - c * t * slope:
                break
            t *= shrink
        return -t * p, ScaleByLrState(state.count + 1, t)

    return GradientTransformationExtraArgs(_init, cast(UpdateFn, update))   # takes the loop's keywords


def line_search(settings: Mapping[str, Any] | str = "armijo",
                direction: GradientTransformation | None = None) -> GradientTransformation:
    """:func:`armijo` along the gradient, or along the update of ``direction`` (an optimiser built at
    ``lr = 1``: its update :math:`u` is the direction, searched as :math:`p = -u`).

    ``settings`` is ``"armijo"`` or a mapping of :func:`armijo`'s settings (``c``, ``shrink``,
    ``initial``, ``grow``, ``max_backtracks``), as :func:`gradstep.minimize`'s ``line_search=`` takes it.

    Examples
    --------
    >>> from gradstep.optim import momentum
    >>> opt = line_search({"c": 0.1, "shrink": 0.7}, direction=momentum(lr=1.0))
    """
    if isinstance(settings, str):
        if settings.lower() != "armijo":
            raise ValueError(f"line_search must be 'armijo' or a mapping of armijo's settings, got {settings!r}")
        settings = {}
    elif not isinstance(settings, Mapping):
        raise ValueError(f"line_search must be 'armijo' or a mapping of armijo's settings, got {settings!r}")
    if direction is None:
        return armijo(**settings)
    return chain(direction, stateless(lambda u, params: -u), armijo(**settings, direction=True))


# --------------------------------------------------------------------- Barzilai–Borwein
class BBState(NamedTuple):
    """``inner``: the step taken (:class:`ScaleByLrState`, whose ``count`` is 0 before the first step);
    ``params``, ``grads``: the last iterate and its gradient, :math:`\theta_{k-1}` and :math:`g_{k-1}`
    (zeros before the first step)."""

    inner: ScaleByLrState
    params: Array
    grads: Array


def bb(lr: LearningRate = 1e-3, variant: Literal["bb1", "bb2"] = "bb1") -> GradientTransformation:
    r"""Barzilai–Borwein steps: with :math:`s = \theta_k - \theta_{k-1}` and :math:`y = g_k - g_{k-1}`,

    .. math::
        t_k = \frac{s^\top s}{s^\top y}\ \text{(BB1)}\quad\text{or}\quad
        t_k = \frac{s^\top y}{y^\top y}\ \text{(BB2)},\qquad u_k = -t_k\, g_k.

    On a quadratic :math:`t_k` is the inverse of a Rayleigh quotient of the Hessian (BB1: along
    :math:`s`; BB2: along :math:`A^{1/2}s`): no learning rate, and far fewer steps than plain gradient
    descent on ill-conditioned problems (the objective does not decrease at every step).

    Parameters
    ----------
    lr : float or schedule, default=1e-3
        The first step (a small one), and the step wherever :math:`s^\top y \le 0` (no curvature
        along :math:`s`: a non-convex region).
    variant : {"bb1", "bb2"}, default="bb1"

    Examples
    --------
    >>> import numpy as np
    >>> opt, x = bb(lr=0.1), np.array([1.0, 1.0])
    >>> state = opt.init(x)
    >>> for _ in range(3):
    ...     u, state = opt.update(np.array([1.0, 10.0]) * x, state, x)   # f = (x² + 10 y²) / 2
    ...     x = x + u
    >>> float(state.inner.lr), x                # y was 0 after step 1: along x alone, 1/1 lands on 0
    (1.0, array([0., 0.]))
    """
    schedule = as_schedule(lr)
    if variant not in ("bb1", "bb2"):
        raise ValueError(f"variant must be 'bb1' or 'bb2', got {variant!r}")

    def init(params: Array) -> BBState:
        zeros = namespace(params).zeros_like(params)
        return BBState(ScaleByLrState(0, math.nan), zeros, copy(zeros))

    def update(grads: Array, state: BBState, params: Array | None = None) -> tuple[Array, BBState]:
        if params is None:
            raise ValueError("bb needs params: call update(grads, state, params)")
        count = state.inner.count
        t = float(schedule(count))
        if count > 0:
            s, y = params - state.params, grads - state.grads
            sy = _dot(s, y)
            if sy > 0:
                t = _dot(s, s) / sy if variant == "bb1" else sy / _dot(y, y)
        return -t * grads, BBState(ScaleByLrState(count + 1, t), copy(params), copy(grads))

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- Polyak
def polyak_step(f_star: float = 0.0, max_lr: float = math.inf) -> GradientTransformationExtraArgs:
    r"""Polyak's step: the step that would reach the optimal value :math:`f^\star` if :math:`f` were linear,

    .. math:: t = \min\!\left(\frac{f(\theta) - f^\star}{\lVert g\rVert^2},\ t_{\max}\right),\qquad u = -t\,g

    (:math:`t = 0` where :math:`g = 0` or :math:`f(\theta) \le f^\star`).

    Parameters
    ----------
    f_star : float, default=0.0
        The optimal value :math:`f^\star` (known, or an estimate: a lower bound gives longer steps).
    max_lr : float, default=inf
        :math:`t_{\max}`, a cap on the step.

    Examples
    --------
    >>> import numpy as np
    >>> opt, x = polyak_step(), np.array([3.0, 4.0])
    >>> u, state = opt.update(2 * x, opt.init(x), x, value=25.0, value_fn=None, value_and_grad_fn=None)
    >>> x + u, state.lr                         # t = 25 / 100
    (array([1.5, 2. ]), 0.25)
    """
    f_star = float(f_star)
    if not math.isfinite(f_star):
        raise ValueError(f"f_star must be a finite number, got {f_star!r}")
    max_lr = float(max_lr)
    if not max_lr > 0:
        raise ValueError(f"max_lr must be > 0, got {max_lr!r}")

    def update(grads: Array, state: ScaleByLrState, params: Array | None = None, *, value: float,
               value_fn: Any, value_and_grad_fn: Any) -> tuple[Array, ScaleByLrState]:
        sq = _dot(grads, grads)
        t = min((value - f_star) / sq, max_lr) if sq > 0 and value > f_star else 0.0
        return -t * grads, ScaleByLrState(state.count + 1, t)

    return GradientTransformationExtraArgs(_init, cast(UpdateFn, update))   # takes the loop's keywords


LR_RULES = ("polyak",)
"""The names ``lr=`` takes besides numbers and schedules (:func:`lr_rule`)."""


def lr_rule(rule: str, optimizer: Any, params: Mapping[str, Any]) -> GradientTransformation:
    """The step rule ``lr=rule`` names, for plain gradient descent (``optimizer`` ``"gd"`` or ``"sgd"``):
    ``"polyak"`` is :func:`polyak_step` with ``params`` (``f_star``, ``max_lr``) as its settings."""
    if rule.lower() not in LR_RULES:
        raise ValueError(f"lr must be a number, a schedule or one of {list(LR_RULES)}, got {rule!r}")
    if not (isinstance(optimizer, str) and optimizer.lower() in ("gd", "sgd")):
        raise ValueError(f"lr={rule!r} is a step rule of plain gradient descent: use optimizer='gd', "
                         f"not {optimizer!r}")
    unknown = sorted(set(params) - {"f_star", "max_lr"})
    if unknown:
        raise ValueError(f"lr='polyak' takes optimizer_params f_star and max_lr, not {unknown}")
    return polyak_step(**params)
