r"""The steps of four classic ``torch.optim`` algorithms: Adadelta, averaged SGD, Rprop and Adafactor.

Each function returns a :class:`~gradstep.optim.base.GradientTransformation` whose arithmetic is that of
torch's single-tensor code (``_single_tensor_adadelta``, ``_single_tensor_asgd``,
``_single_tensor_rprop``, ``_single_tensor_adafactor`` in torch 2.13), in the same order of operations,
so that the named optimisers of :mod:`.alias` built from them (``adadelta``, ``asgd``, ``rprop``,
``adafactor``) reproduce torch's iterates (``tests/test_optim_classic.py``). ``g`` is the incoming
gradient, ``t`` counts updates from 1; the maths is written once with the array namespace of the
gradient (NumPy arrays or torch tensors).

Examples
--------
>>> import numpy as np
>>> from gradstep.optim import chain, scale_by_lr
>>> opt = chain(scale_by_adadelta(rho=0.9), scale_by_lr(1.0))
>>> updates, state = opt.update(np.array([3.0, -4.0]), opt.init(np.zeros(2)), np.zeros(2))
>>> np.round(updates, 6)
array([-0.003162,  0.003162])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..backend import Array, copy, namespace
from .base import GradientTransformation, global_norm
from .schedules import LearningRate, Schedule, as_schedule
from .transforms import _check


def _lerp(start: Array, end: Array, weight: float) -> Array:
    r"""``torch.lerp(start, end, weight)`` as torch computes it: :math:`s + w(e - s)` for :math:`|w| < 1/2`,
    else :math:`e - (e - s)(1 - w)` (exact at :math:`w = 1`)."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


# --------------------------------------------------------------------- Adadelta
class ScaleByAdadeltaState(NamedTuple):
    """``square_avg``: :math:`v_t`, the running mean of :math:`g^2`; ``acc_delta``: :math:`a_t`, that of the steps."""

    square_avg: Array
    acc_delta: Array


def scale_by_adadelta(rho: float = 0.9, eps: float = 1e-6) -> GradientTransformation:
    r"""Adadelta's scaling (Zeiler 2012) as ``torch.optim.Adadelta`` computes it.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2,\quad
        \Delta_t = \frac{\sqrt{a_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t,\quad
        a_t = \rho a_{t-1} + (1-\rho) \Delta_t^2,\qquad u_t = \Delta_t

    (torch then steps by :math:`-\eta\,\Delta_t`, with :math:`\eta = 1` by default: the unit-free step of
    the paper, which :func:`~gradstep.optim.scale_by_lr` makes).

    Examples
    --------
    >>> import numpy as np
    >>> t = scale_by_adadelta(rho=0.5, eps=1.0)
    >>> t.update(np.array([2.0]), t.init(np.zeros(1)))[0]     # sqrt(1) / sqrt(0.5 * 4 + 1) * 2
    array([1.15470054])
    """
    rho = _check("rho", rho, hi=1.0)
    eps = _check("eps", eps)

    def init(params: Array) -> ScaleByAdadeltaState:
        xp = namespace(params)
        return ScaleByAdadeltaState(xp.zeros_like(params), xp.zeros_like(params))

    def update(grads: Array, state: ScaleByAdadeltaState,
               params: Array | None = None) -> tuple[Array, ScaleByAdadeltaState]:
        xp = namespace(grads)
        v = state.square_avg * rho + (1 - rho) * grads * grads     # torch: mul_(rho).addcmul_(g, g, 1 - rho)
        delta = xp.sqrt(state.acc_delta + eps) / xp.sqrt(v + eps) * grads
        a = state.acc_delta * rho + (1 - rho) * delta * delta
        return delta, ScaleByAdadeltaState(v, a)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- averaged SGD
@dataclass(frozen=True)
class asgd_decay:
    r"""ASGD's step size (torch ``ASGD``): :math:`\eta_t = s(t) / (1 + \lambda\, s(t)\, t)^{\alpha}`, with
    :math:`s` the ``schedule`` and :math:`t` the updates already made (so the first step is :math:`s(0)`).

    torch computes the same number after each step from the group's learning rate; with a constant one
    the two agree exactly (with a torch scheduler torch's :math:`\eta_t` uses the previous step's rate).

    Examples
    --------
    >>> from gradstep.optim.schedules import constant
    >>> asgd_decay(constant(0.5), lambd=1.0, alpha=1.0)(2)    # 0.5 / (1 + 0.5 * 2)
    0.25
    """

    schedule: Schedule
    lambd: float
    alpha: float

    def __call__(self, count: int) -> float:
        lr = self.schedule(count)
        return lr / ((1 + self.lambd * lr * count) ** self.alpha)


class AverageIteratesState(NamedTuple):
    """``count``: updates so far; ``ax``: the averaged parameters :math:`\\bar\\theta_t` (torch ASGD's ``ax``)."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    ax: Array


def average_iterates(t0: float = 1e6) -> GradientTransformation:
    r"""Polyak–Ruppert averaging of the iterates from update ``t0`` on, as ``torch.optim.ASGD`` keeps it.

    The updates pass unchanged; the state follows the new parameters :math:`\theta_t = \theta_{t-1} + u_t`:

    .. math::
        \bar\theta_t = \bar\theta_{t-1} + \mu_t(\theta_t - \bar\theta_{t-1}),\qquad
        \mu_t = 1 / \max(1,\ t - 1 - t_0)

    (:math:`\bar\theta_t = \theta_t` while :math:`\mu_t = 1`), so :math:`\bar\theta_t` is the mean of the
    iterates after :math:`t_0`. It has to come last in a chain (it needs the final updates) and needs
    ``params``.

    Examples
    --------
    >>> import numpy as np
    >>> t = average_iterates(t0=0)
    >>> x, s = np.zeros(1), t.init(np.zeros(1))
    >>> for g in (1.0, 2.0, 3.0):
    ...     u, s = t.update(np.array([g]), s, x)
    ...     x = x + u
    >>> x, s.ax                                   # iterates 1, 3, 6: the mean of 3 and 6 (mu = 1, 1, 1/2)
    (array([6.]), array([4.5]))
    """
    t0 = float(t0)
    if not math.isfinite(t0):
        raise ValueError(f"t0 must be a finite number, got {t0!r}")

    def init(params: Array) -> AverageIteratesState:
        return AverageIteratesState(0, namespace(params).zeros_like(params))

    def update(grads: Array, state: AverageIteratesState,
               params: Array | None = None) -> tuple[Array, AverageIteratesState]:
        if params is None:
            raise ValueError("average_iterates needs params: call update(grads, state, params)")
        new = params + grads
        mu = 1.0 if state.count == 0 else 1 / max(1, state.count - t0)    # torch's mu, set after step t - 1
        ax = copy(new) if mu == 1 else state.ax + (new - state.ax) * mu
        return grads, AverageIteratesState(state.count + 1, ax)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- Rprop
class ScaleByRpropState(NamedTuple):
    """``prev``: the previous gradient (0 where its sign flipped); ``step_size``: each component's step."""

    prev: Array
    step_size: Array


def scale_by_rprop(lr: float = 1e-2, etas: Sequence[float] = (0.5, 1.2),
                   step_sizes: Sequence[float] = (1e-6, 50.0)) -> GradientTransformation:
    r"""Rprop (resilient backpropagation, Riedmiller and Braun 1993) as ``torch.optim.Rprop`` computes it:
    each component moves by its own step against the *sign* of its gradient.

    .. math::
        s = \operatorname{sign}(g_t\, g_{t-1}),\quad
        \delta_t = \operatorname{clip}(\delta_{t-1}\cdot\{\eta_+, \eta_-, 1\}_{s = 1, -1, 0},\
        \delta_{min}, \delta_{max}),\quad
        u_t = -\operatorname{sign}(g_t)\,\delta_t

    with :math:`\delta_0 = ` ``lr`` and :math:`g_t` set to 0 where its sign flipped (that component
    waits a step; the 0 is the next step's :math:`g_{t-1}`). The update already carries its minus sign
    and its steps (optax's ``scale_by_rprop`` does the same): no :func:`~gradstep.optim.scale_by_lr`
    follows, ``lr`` is only the first step, and the history's ``lr`` column is ``nan`` (there is one
    step per component, the state's ``step_size``).

    Rprop is a *full-batch* method: the sign of a mini-batch gradient is noise, which makes the steps
    shrink where they should grow. Use it with the whole data as one batch.

    Examples
    --------
    >>> import numpy as np
    >>> t = scale_by_rprop(lr=0.1)
    >>> s = t.init(np.zeros(2))
    >>> u, s = t.update(np.array([1.0, -2.0]), s)
    >>> u, t.update(np.array([3.0, 5.0]), s)[0]     # same sign: 0.1 * 1.2; flipped: no move
    (array([-0.1,  0.1]), array([-0.12, -0.  ]))
    """
    lr = _check("lr", lr)
    etaminus, etaplus = (float(e) for e in etas)
    if not 0.0 < etaminus < 1.0 < etaplus:
        raise ValueError(f"etas must be (etaminus, etaplus) with 0 < etaminus < 1 < etaplus, got {tuple(etas)!r}")
    lo, hi = (float(s) for s in step_sizes)
    if not 0.0 <= lo <= hi:
        raise ValueError(f"step_sizes must be (min, max) with 0 <= min <= max, got {tuple(step_sizes)!r}")

    def init(params: Array) -> ScaleByRpropState:
        xp = namespace(params)
        return ScaleByRpropState(xp.zeros_like(params), xp.full_like(params, lr))

    def update(grads: Array, state: ScaleByRpropState,
               params: Array | None = None) -> tuple[Array, ScaleByRpropState]:
        xp = namespace(grads)
        same = grads * state.prev
        flipped = same < 0
        factor = xp.where(same > 0, xp.full_like(grads, etaplus),
                          xp.where(flipped, xp.full_like(grads, etaminus), xp.ones_like(grads)))
        step = xp.clip(state.step_size * factor, lo, hi)
        g = xp.where(flipped, xp.zeros_like(grads), grads)
        return -(xp.sign(g) * step), ScaleByRpropState(g, step)

    return GradientTransformation(init, update)


# --------------------------------------------------------------------- Adafactor
class ScaleByAdafactorState(NamedTuple):
    r"""Adafactor's state for a vector: ``count``: :math:`t`; ``variance``: :math:`\hat V_t`."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    variance: Array


class FactoredAdafactorState(NamedTuple):
    r"""Adafactor's state for a matrix (the last two axes): ``count``: :math:`t`; ``row_var``, ``col_var``:
    the factors :math:`R_t, C_t` of its second moment (running means of the rows' and columns' mean squares)."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do
    row_var: Array
    col_var: Array


AdafactorState = ScaleByAdafactorState | FactoredAdafactorState


def _adafactor_eps(eps: Sequence[float | None]) -> tuple[float | None, float]:
    """torch Adafactor's ``eps = (eps1 or None, eps2)``, checked."""
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise ValueError(f"eps must be a pair (eps1 or None, eps2), got {eps!r}")
    eps1 = None if eps[0] is None else _check("eps[0]", eps[0])
    if eps[1] is None:
        raise ValueError("eps[1] (eps2, the least parameter scale) must be a number")
    return eps1, _check("eps[1]", eps[1])


def _second_moment(grads: Array, state: AdafactorState, beta: float,
                   eps1: float) -> tuple[Array, AdafactorState]:
    r"""The estimate of :math:`\mathbb{E}[g^2]` and the new state: a running mean for a vector; for a matrix
    (its last two axes) the rank-one :math:`R C / \operatorname{mean}(R)` from running means of the row and
    column means of :math:`g^2` (Shazeer and Stern 2018)."""
    t = state.count + 1
    if isinstance(state, ScaleByAdafactorState):
        variance = _lerp(state.variance, grads * grads, beta)
        return variance, ScaleByAdafactorState(t, variance)
    xp = namespace(grads)
    row_mean = xp.linalg.vector_norm(grads, axis=-1, keepdims=True) ** 2 / grads.shape[-1]
    col_mean = xp.linalg.vector_norm(grads, axis=-2, keepdims=True) ** 2 / grads.shape[-2]
    row_var = _lerp(state.row_var, row_mean, beta)
    col_var = _lerp(state.col_var, col_mean, beta)
    estimate = (row_var @ col_var) / xp.clip(xp.mean(row_var, axis=-2, keepdims=True), min=eps1)
    return estimate, FactoredAdafactorState(t, row_var, col_var)


def scale_by_adafactor(beta2_decay: float = -0.8, eps: Sequence[float | None] = (None, 1e-3),
                       d: float = 1.0) -> GradientTransformation:
    r"""Adafactor's scaling (Shazeer and Stern 2018) as ``torch.optim.Adafactor`` computes it, without its
    relative step :math:`\rho_t` (:func:`adafactor_step` is that schedule; the named ``adafactor`` chains
    the two and the decoupled weight decay).

    .. math::
        \hat\beta_t = t^{\tau},\quad \hat V_t = \hat V_{t-1} + \hat\beta_t(g_t^2 - \hat V_{t-1}),\quad
        U_t = g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)},\qquad
        u_t = \frac{\max(\epsilon_2, \operatorname{RMS}(\theta_{t-1}))}{\max(1, \operatorname{RMS}(U_t)/d)}\, U_t

    (:math:`\tau` = ``beta2_decay``, :math:`\epsilon_1` = ``eps[0]``, the dtype's machine epsilon when
    None, :math:`\epsilon_2` = ``eps[1]``, :math:`d` the clipping threshold). For a matrix (an array of two
    or more axes, the last two factored) :math:`\hat V_t` is the rank-one :math:`R_t C_t / \operatorname{mean}(R_t)`
    of running means of its rows' and columns' mean squares, the memory saving the method is known for.

    The loop, the estimators and :class:`gradstep.torch.Optimizer` hand a transform *one flat vector* of all
    the parameters, so there the second moment is never factored and the RMS of :math:`\theta` and of
    :math:`U` are taken over all the parameters together; torch takes them per parameter tensor. The
    iterates are torch's for one parameter vector (or for a model's parameters flattened into one), and
    this transform driven by hand on a matrix gives torch's on that matrix.

    Examples
    --------
    >>> import numpy as np
    >>> t = scale_by_adafactor()
    >>> t.update(np.array([3.0, -4.0]), t.init(np.zeros(2)), np.zeros(2))[0]   # RMS(U) = 1: eps2 * sign(g)
    array([ 0.001, -0.001])
    """
    tau = float(beta2_decay)
    if not (math.isfinite(tau) and tau <= 0):
        raise ValueError(f"beta2_decay must be a finite number <= 0, got {beta2_decay!r}")
    eps1, eps2 = _adafactor_eps(eps)
    d = _check("d", d, lo=1.0)

    def init(params: Array) -> AdafactorState:
        xp = namespace(params)
        if params.ndim < 2:
            return ScaleByAdafactorState(0, xp.zeros_like(params))
        return FactoredAdafactorState(0, xp.zeros_like(params[..., :1]), xp.zeros_like(params[..., :1, :]))

    def update(grads: Array, state: AdafactorState, params: Array | None = None) -> tuple[Array, AdafactorState]:
        if params is None:
            raise ValueError("scale_by_adafactor needs params (its step is relative to their RMS)")
        xp = namespace(grads)
        e1 = xp.finfo(grads.dtype).eps if eps1 is None else eps1
        n = math.prod(params.shape)
        scale = max(eps2, global_norm(params) / (n**0.5))
        estimate, state = _second_moment(grads, state, float(state.count + 1) ** tau, e1)
        u = 1 / xp.sqrt(xp.clip(estimate, min=e1 * e1)) * grads       # torch: clamp_(eps1²).rsqrt_().mul_(g)
        denom = max(1.0, global_norm(u) / ((n**0.5) * d))
        return (scale / denom) * u, state

    return GradientTransformation(init, update)


@dataclass(frozen=True)
class adafactor_step:
    r"""Adafactor's relative step: :math:`\rho_t = \min(s(t), 1/\sqrt{t + 1})`, with :math:`s` the
    ``schedule`` (torch's ``lr``) and :math:`t` the updates already made.

    Examples
    --------
    >>> from gradstep.optim.schedules import constant
    >>> [adafactor_step(constant(0.4))(t) for t in (0, 3, 24)]
    [0.4, 0.4, 0.2]
    """

    schedule: Schedule

    def __call__(self, count: int) -> float:
        return min(self.schedule(count), 1 / ((count + 1.0) ** 0.5))


class DecoupledDecayState(NamedTuple):
    """``count``: updates so far (the schedule's argument)."""

    count: int  # type: ignore[assignment]  # shadows tuple.count, as optax's states do


def add_decoupled_weight_decay(weight_decay: float = 0.0, lr: LearningRate = 1.0) -> GradientTransformation:
    r"""Decoupled weight decay after the step (Loshchilov and Hutter; torch Adafactor's): :math:`u \leftarrow
    u - \eta_t \lambda\, \theta`, i.e. :math:`\theta` shrunk by :math:`1 - \eta_t\lambda` besides the step
    (:math:`\eta_t` the schedule ``lr``, not the step's own size). Needs ``params``; comes after the step.

    Examples
    --------
    >>> import numpy as np
    >>> t = add_decoupled_weight_decay(0.1, lr=0.5)
    >>> t.update(np.zeros(1), t.init(np.ones(1)), np.ones(1))[0]
    array([-0.05])
    """
    weight_decay = _check("weight_decay", weight_decay)
    schedule = as_schedule(lr)

    def init(params: Array) -> DecoupledDecayState:
        return DecoupledDecayState(0)

    def update(grads: Array, state: DecoupledDecayState,
               params: Array | None = None) -> tuple[Array, DecoupledDecayState]:
        if weight_decay == 0:
            return grads, DecoupledDecayState(state.count + 1)
        if params is None:
            raise ValueError("add_decoupled_weight_decay needs params: call update(grads, state, params)")
        return grads - (schedule(state.count) * weight_decay) * params, DecoupledDecayState(state.count + 1)

    return GradientTransformation(init, update)


__all__ = [
    "AverageIteratesState",
    "DecoupledDecayState",
    "FactoredAdafactorState",
    "ScaleByAdadeltaState",
    "ScaleByAdafactorState",
    "ScaleByRpropState",
    "adafactor_step",
    "add_decoupled_weight_decay",
    "asgd_decay",
    "average_iterates",
    "scale_by_adadelta",
    "scale_by_adafactor",
    "scale_by_rprop",
]
