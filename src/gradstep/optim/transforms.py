r"""The small steps that optimisers are chained from.

Each function returns a :class:`~gradstep.optim.base.GradientTransformation`.
Formulas follow ``torch.optim`` exactly (same order of operations, same
defaults), so a chain reproduces a torch optimiser's iterates; ``g`` is the
incoming gradient (or the output of the previous transform), ``t`` counts
updates from 1.

The maths is written once with the array namespace of the gradient
(:func:`gradstep.backend.namespace`): parameters, gradients and states may be
NumPy arrays or torch tensors, and a state keeps the type, dtype and device of
the parameters it was initialised from.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import Array, copy, namespace
from .base import EmptyState, GradientTransformation, global_norm, stateless
from .schedules import LearningRate, as_schedule


def _check(name: str, value: float, lo: float = 0.0, hi: float = math.inf, hi_open: bool = False) -> float:
    value = float(value)
    ok = math.isfinite(value) and lo <= value and (value < hi if hi_open else value <= hi)
    if not ok:
        rng = f">= {lo:g}" if hi == math.inf else (f"in [{lo:g}, {hi:g})" if hi_open else f"in [{lo:g}, {hi:g}]")
        raise ValueError(f"{name} must be a finite number {rng}, got {value!r}")
    return value


def _check_betas(betas: tuple[float, float]) -> tuple[float, float]:
    """``betas`` as a pair of floats in ``[0, 1)``, as ``torch.optim`` accepts them."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return (_check("betas[0]", betas[0], hi=1.0, hi_open=True), _check("betas[1]", betas[1], hi=1.0, hi_open=True))


# --------------------------------------------------------------------- learning rate
class ScaleByLrState(NamedTuple):
    """``count``: updates made so far; ``lr``: the learning rate of the last update (nan before the first)."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    lr: float


def scale_by_lr(lr: LearningRate) -> GradientTransformation:
    r"""Multiply by minus the learning rate: :math:`u = -\eta_t\, g`.

    ``lr`` is a number or a schedule ``count -> lr`` (see :mod:`gradstep.optim.schedules`).
    """
    schedule = as_schedule(lr)

    def init(params: Array) -> ScaleByLrState:
        return ScaleByLrState(0, math.nan)

    def update(grads: Array, state: ScaleByLrState, params: Array | None = None) -> tuple[Array, ScaleByLrState]:
        eta = float(schedule(state.count))
        return -eta * grads, ScaleByLrState(state.count + 1, eta)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- momentum
class TraceState(NamedTuple):
    """``count``: updates so far; ``trace``: the momentum buffer :math:`b`."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    trace: Array


def trace(momentum: float = 0.9, dampening: float = 0.0, nesterov: bool = False) -> GradientTransformation:
    r"""Heavy-ball momentum as ``torch.optim.SGD`` computes it.

    .. math::
        b_1 = g_1,\quad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t,\qquad
        u_t = b_t \;\text{or, with Nesterov,}\; u_t = g_t + \mu\, b_t.
    """
    momentum = _check("momentum", momentum)
    dampening = _check("dampening", dampening, hi=1.0)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0 (as in torch.optim.SGD)")

    def init(params: Array) -> TraceState:
        return TraceState(0, namespace(params).zeros_like(params))

    def update(grads: Array, state: TraceState, params: Array | None = None) -> tuple[Array, TraceState]:
        if state.count == 0:
            buf = copy(grads)
        else:
            buf = momentum * state.trace + (1 - dampening) * grads
        out = grads + momentum * buf if nesterov else buf
        return out, TraceState(state.count + 1, buf)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- adaptive
class ScaleByAdagradState(NamedTuple):
    """``sum_of_squares``: :math:`s_t = s_{t-1} + g_t^2`."""

    sum_of_squares: Array


def scale_by_adagrad(eps: float = 1e-10, initial_accumulator_value: float = 0.0) -> GradientTransformation:
    r"""AdaGrad's scaling: :math:`s_t = s_{t-1} + g_t^2,\; u_t = g_t / (\sqrt{s_t} + \epsilon)`."""
    eps = _check("eps", eps)
    initial_accumulator_value = _check("initial_accumulator_value", initial_accumulator_value)

    def init(params: Array) -> ScaleByAdagradState:
        return ScaleByAdagradState(namespace(params).full_like(params, initial_accumulator_value))

    def update(grads: Array, state: ScaleByAdagradState,
               params: Array | None = None) -> tuple[Array, ScaleByAdagradState]:
        xp = namespace(grads)
        s = state.sum_of_squares + grads * grads
        return grads / (xp.sqrt(s) + eps), ScaleByAdagradState(s)

    return GradientTransformation(init, update)


class ScaleByRmsState(NamedTuple):
    """``square_avg``: :math:`v_t`; ``grad_avg``: :math:`\\bar g_t` (zeros unless centred)."""

    square_avg: Array
    grad_avg: Array


def scale_by_rms(alpha: float = 0.99, eps: float = 1e-8, centered: bool = False) -> GradientTransformation:
    r"""RMSProp's scaling as ``torch.optim.RMSprop`` computes it.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\quad
        \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t,\quad
        u_t = g_t / (\sqrt{v_t - [\bar g_t^2]} + \epsilon)

    with the bracketed term only when ``centered``.
    """
    alpha = _check("alpha", alpha, hi=1.0)
    eps = _check("eps", eps)

    def init(params: Array) -> ScaleByRmsState:
        xp = namespace(params)
        return ScaleByRmsState(xp.zeros_like(params), xp.zeros_like(params))

    def update(grads: Array, state: ScaleByRmsState, params: Array | None = None) -> tuple[Array, ScaleByRmsState]:
        xp = namespace(grads)
        v = alpha * state.square_avg + (1 - alpha) * (grads * grads)
        m = state.grad_avg
        if centered:
            m = m + (1 - alpha) * (grads - m)
            avg = xp.sqrt(v - m * m) + eps
        else:
            avg = xp.sqrt(v) + eps
        return grads / avg, ScaleByRmsState(v, m)

    return GradientTransformation(init, update)


class ScaleByAdamState(NamedTuple):
    """``count``: :math:`t`; ``mu``, ``nu``: first and second moments; ``nu_max``: running max of ``nu`` (AMSGrad)."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    mu: Array
    nu: Array
    nu_max: Array


def scale_by_adam(
    betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, amsgrad: bool = False
) -> GradientTransformation:
    r"""Adam's scaling as ``torch.optim.Adam`` computes it.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
        u_t = \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t} / \sqrt{1-\beta_2^t} + \epsilon}

    With ``amsgrad`` the running maximum of :math:`v_t` replaces :math:`v_t`.
    """
    b1, b2 = _check_betas(betas)
    eps = _check("eps", eps)

    def init(params: Array) -> ScaleByAdamState:
        xp = namespace(params)
        return ScaleByAdamState(0, xp.zeros_like(params), xp.zeros_like(params), xp.zeros_like(params))

    def update(grads: Array, state: ScaleByAdamState, params: Array | None = None) -> tuple[Array, ScaleByAdamState]:
        xp = namespace(grads)
        t = state.count + 1
        mu = state.mu + (1 - b1) * (grads - state.mu)  # torch's lerp
        nu = b2 * state.nu + (1 - b2) * (grads * grads)
        nu_max = xp.maximum(state.nu_max, nu) if amsgrad else state.nu_max
        denom = xp.sqrt(nu_max if amsgrad else nu) / math.sqrt(1 - b2**t) + eps
        return (mu / (1 - b1**t)) / denom, ScaleByAdamState(t, mu, nu, nu_max)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- weight decay and clipping
def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    r"""torch's ``weight_decay``: :math:`u = g + \lambda\,\theta` (needs ``params``)."""
    weight_decay = _check("weight_decay", weight_decay)

    def fn(grads: Array, params: Array | None) -> Array:
        if weight_decay == 0:
            return grads
        if params is None:
            raise ValueError("add_decayed_weights needs params: call update(grads, state, params)")
        return grads + weight_decay * params

    return stateless(fn)


def clip_by_value(clip_value: float) -> GradientTransformation:
    r"""Clamp each component to :math:`[-c, c]` (``torch.nn.utils.clip_grad_value_``).

    Examples
    --------
    >>> import numpy as np
    >>> t = clip_by_value(1.0)
    >>> t.update(np.array([-3.0, 0.5, 2.0]), t.init(np.zeros(3)))[0]
    array([-1. ,  0.5,  1. ])
    """
    c = _check("clip_value", clip_value)
    if c == 0:
        raise ValueError("clip_value must be > 0 (0 would zero every gradient)")
    return stateless(lambda grads, params: namespace(grads).clip(grads, -c, c))


def clip_by_norm(max_norm: float) -> GradientTransformation:
    r"""Rescale the whole gradient when its L2 norm exceeds :math:`c`.

    .. math:: u = g \cdot \min\!\left(1, \frac{c}{\lVert g\rVert_2}\right)

    The norm is the global norm over all parameters (as
    ``torch.nn.utils.clip_grad_norm_``, without torch's ``1e-6`` in the denominator).

    Examples
    --------
    >>> import numpy as np
    >>> t = clip_by_norm(1.0)
    >>> t.update(np.array([3.0, 4.0]), t.init(np.zeros(2)))[0]
    array([0.6, 0.8])
    """
    c = _check("clip_norm", max_norm)
    if c == 0:
        raise ValueError("clip_norm must be > 0 (0 would zero every gradient)")

    def fn(grads: Array, params: Array | None) -> Array:
        norm = global_norm(grads)
        return grads * (c / norm) if norm > c else grads

    return stateless(fn)


def identity() -> GradientTransformation:
    """Pass the gradient through unchanged."""
    return stateless(lambda grads, params: grads)


__all__ = [
    "EmptyState",
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByLrState",
    "ScaleByRmsState",
    "TraceState",
    "add_decayed_weights",
    "clip_by_norm",
    "clip_by_value",
    "identity",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_lr",
    "scale_by_rms",
    "trace",
]
