r"""Proximal steps for the L1 term, and acceleration (FISTA) with restarts.

An L1 term :math:`\lambda_1\lVert w\rVert_1` has no gradient at 0, and a subgradient step
oscillates around 0 instead of landing on it. A *proximal* step takes the gradient step on the
smooth part :math:`f` only and then solves for the L1 term exactly:

.. math::
    z = \theta - \eta\,\nabla f(\theta),\qquad
    \theta^+ = \operatorname{prox}_{\eta\lambda_1\lVert\cdot\rVert_1}(z)
             = \operatorname{sign}(z)\max(|z| - \eta\lambda_1, 0),

so coefficients whose pull is weaker than :math:`\lambda_1` are exactly 0 (ISTA). On
mini-batches the threshold of every step is too strong for rare features; scikit-learn's SGD
uses the cumulative penalty of Tsuruoka, Tsujii and Ananiadou (2009) instead: with
:math:`u_t = \lambda_1\sum_{s\le t}\eta_s` the penalty every weight could have received and
:math:`q_j` the one it did,

.. math::
    \theta_j^+ = \max(0, z_j - (u_t + q_j))\ (z_j > 0),\qquad
    \theta_j^+ = \min(0, z_j + (u_t - q_j))\ (z_j < 0),\qquad q_j \mathrel{+}= \theta_j^+ - z_j.

The objectives give the *minimum-norm subgradient* of :math:`f + \lambda_1\lVert w\rVert_1`
(:meth:`gradstep.objectives.penalties.Penalty.add_grad`), whose norm is 0 exactly at the
optimum; :func:`smooth_gradient` recovers :math:`\nabla f` from it for the step.

:func:`accelerate` wraps a (proximal) gradient step into FISTA (Beck and Teboulle, 2009),
with the gradient-based adaptive restart of O'Donoghue and Candès (2015): on a strongly
convex problem it converges linearly at the rate of Nesterov's method, without knowing the
strong convexity.

Examples
--------
>>> import numpy as np
>>> from gradstep.optim import sgd
>>> opt = l1_step(sgd(lr=0.5), l1=0.4, mask=np.ones(2))
>>> theta = np.array([0.3, 2.0])
>>> state = opt.init(theta)
>>> updates, state = opt.update(np.array([0.0, 0.0]) + 0.4 * np.sign(theta), state, theta)
>>> theta + updates                      # |0.3| <= 0.5 * 0.4 lands on 0; 2.0 shrinks by 0.2
array([0.1, 1.8])
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..backend import Array, as_float, namespace
from .base import GradientTransformation, find_states
from .transforms import ScaleByLrState


def smooth_gradient(grads: Array, params: Array, l1: float, mask: Array) -> Array:
    r""":math:`\nabla f` from the minimum-norm subgradient ``grads`` of :math:`f + \lambda_1\lVert w\rVert_1`.

    Where :math:`w_j \ne 0`, :math:`g_j - \lambda_1\operatorname{sign}(w_j)`; where :math:`w_j = 0`,
    :math:`g_j + \lambda_1\operatorname{sign}(g_j)` (0 when the subgradient is 0: then
    :math:`|\nabla_j f| \le \lambda_1` and the proximal step keeps :math:`w_j = 0` whatever it is).
    ``mask`` is 1 on the penalised entries (the coefficients), 0 elsewhere (the intercept).
    """
    xp = namespace(grads, params)
    direction = xp.where(params == 0, xp.sign(grads), -xp.sign(params))
    return grads + l1 * (mask * direction)


class L1StepState(NamedTuple):
    r"""The state of :func:`l1_step`: the wrapped step's, and the cumulative penalty (mini-batches).

    ``u`` is :math:`u_t = \lambda_1\sum_s \eta_s`, ``q`` the penalty each entry received (both
    unused, 0 and ``None``, for the full-batch proximal step).
    """

    inner: NamedTuple
    u: float
    q: Any


def _lr(state: Any) -> float:
    found = find_states(state, ScaleByLrState)
    if not found:
        raise ValueError("l1_step wraps a step with a learning rate (a chain ending in scale_by_lr, e.g. sgd)")
    return float(found[-1].lr)


def _soft_threshold(z: Array, threshold: Array) -> Array:
    xp = namespace(z)
    return xp.sign(z) * xp.clip(xp.abs(z) - threshold, min=0.0)


def _truncate(z: Array, u: float, q: Array, mask: Array) -> Array:
    """Tsuruoka et al.'s cumulative truncation of the masked entries of ``z``."""
    xp = namespace(z)
    down = xp.clip(z - (u + q), min=0.0)
    up = xp.clip(z + (u - q), max=0.0)
    new = xp.where(z > 0, down, xp.where(z < 0, up, z))
    return xp.where(mask != 0, new, z)


def l1_step(inner: GradientTransformation, l1: float, mask: Array, cumulative: bool = False
            ) -> GradientTransformation:
    r"""A proximal L1 step around ``inner`` (a gradient step with a learning rate, e.g. ``sgd``).

    Parameters
    ----------
    inner : GradientTransformation
        The step on the smooth part; its last :class:`ScaleByLrState` gives :math:`\eta`.
    l1 : float
        :math:`\lambda_1`, the weight of :math:`\lVert w\rVert_1` in the objective.
    mask : array
        1 on the penalised entries of :math:`\theta`, 0 on the others (the intercept).
    cumulative : bool
        ``False``: exact soft-thresholding (full batch); ``True``: Tsuruoka's cumulative
        truncation (mini-batches and single rows, as scikit-learn's SGD).

    The gradients given to ``update`` are the objective's minimum-norm subgradients
    (:func:`smooth_gradient` turns them back into :math:`\nabla f`).
    """
    l1 = float(l1)
    if not (math.isfinite(l1) and l1 >= 0):
        raise ValueError(f"l1 must be a finite number >= 0, got {l1!r}")

    def init(params: Array) -> L1StepState:
        return L1StepState(inner.init(params), 0.0, namespace(params).zeros_like(params) if cumulative else None)

    def update(grads: Array, state: L1StepState, params: Array | None = None) -> tuple[Array, L1StepState]:
        if params is None:
            raise ValueError("l1_step needs the parameters")
        m = namespace(params).asarray(mask, dtype=params.dtype)
        step, inner_state = inner.update(smooth_gradient(grads, params, l1, m), state.inner, params)
        z = params + step
        eta = _lr(inner_state)
        if not cumulative:
            return _soft_threshold(z, (eta * l1) * m) - params, L1StepState(inner_state, 0.0, None)
        u = state.u + eta * l1
        new = _truncate(z, u, state.q, m)
        return new - params, L1StepState(inner_state, u, state.q + (new - z))

    return GradientTransformation(init, update)


class AccelerateState(NamedTuple):
    """The state of :func:`accelerate`: the wrapped step's, the last step's end point ``x``, FISTA's ``t``."""

    inner: NamedTuple
    x: Any
    t: float
    restarts: int


def accelerate(inner: GradientTransformation, restart: bool = True) -> GradientTransformation:
    r"""FISTA around a (proximal) gradient step, with adaptive restart.

    With :math:`y_k` the parameters (where the gradient is taken) and :math:`x_{k+1} = y_k + u_k`
    the end of the wrapped step:

    .. math::
        t_{k+1} = \tfrac12\bigl(1 + \sqrt{1 + 4t_k^2}\bigr),\qquad
        y_{k+1} = x_{k+1} + \tfrac{t_k - 1}{t_{k+1}}\,(x_{k+1} - x_k),

    and, with ``restart``, :math:`t` goes back to 1 (no momentum) whenever
    :math:`(y_k - x_{k+1})^\top (x_{k+1} - x_k) > 0`: the step went against the gradient mapping.

    Examples
    --------
    >>> import numpy as np
    >>> from gradstep.optim import sgd
    >>> opt = accelerate(sgd(lr=0.1))
    >>> y = np.array([3.0, 2.0]); state = opt.init(y)
    >>> for _ in range(50):
    ...     u, state = opt.update(2 * y, state, y)
    ...     y = y + u
    >>> bool(np.abs(y).max() < 1e-8)
    True
    """

    def init(params: Array) -> AccelerateState:
        return AccelerateState(inner.init(params), params, 1.0, 0)

    def update(grads: Array, state: AccelerateState, params: Array | None = None) -> tuple[Array, AccelerateState]:
        if params is None:
            raise ValueError("accelerate needs the parameters")
        xp = namespace(params)
        step, inner_state = inner.update(grads, state.inner, params)
        x = params + step
        moved = x - state.x
        if restart and as_float(xp.sum((params - x) * moved)) > 0:
            return x - params, AccelerateState(inner_state, x, 1.0, state.restarts + 1)
        t = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * state.t * state.t))
        y = x + ((state.t - 1.0) / t) * moved
        return y - params, AccelerateState(inner_state, x, t, state.restarts)

    return GradientTransformation(init, update)
