r"""Named optimisers, each a chain of small transforms.

Hyper-parameter names and defaults are those of ``torch.optim``; each chain
reproduces the torch optimiser's iterates (see ``tests/test_optim_torch.py``).

============  ==================================================  =========================
name          chain                                               torch equivalent
============  ==================================================  =========================
``sgd``       [weight decay] → [trace] → −lr                      ``SGD``
``momentum``  weight decay → trace(μ=0.9) → −lr                   ``SGD(momentum=0.9)``
``nesterov``  weight decay → trace(μ=0.9, nesterov) → −lr         ``SGD(nesterov=True)``
``adagrad``   weight decay → scale_by_adagrad → −lr/(1+t·decay)   ``Adagrad``
``rmsprop``   weight decay → scale_by_rms → [trace] → −lr         ``RMSprop``
``adam``      weight decay → scale_by_adam → −lr                  ``Adam``
``fista``     FISTA with restarts around −lr (:mod:`.proximal`)   none (Beck–Teboulle 2009)
============  ==================================================  =========================

With an L1 term (``make_optimizer(..., l1=...)``) the plain, momentum and FISTA steps become
proximal steps (:func:`gradstep.optim.proximal.l1_step`): exact zeros instead of a subgradient's
oscillation.

Examples
--------
>>> import numpy as np
>>> from gradstep.optim import adam
>>> opt = adam(lr=0.1)
>>> x = np.array([1.0, -2.0])
>>> state = opt.init(x)
>>> for _ in range(3):
...     updates, state = opt.update(2 * x, state, x)   # gradient of |x|^2
...     x = x + updates
>>> np.round(x, 4)
array([ 0.7016, -1.7006])
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .base import GradientTransformation, chain
from .proximal import accelerate, l1_step
from .schedules import LearningRate, as_schedule
from .transforms import (
    _check,
    add_decayed_weights,
    clip_by_norm,
    clip_by_value,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_lr,
    scale_by_rms,
    trace,
)


def sgd(
    lr: LearningRate = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Plain gradient descent, :math:`\theta_{t+1} = \theta_t - \eta_t g_t` (``torch.optim.SGD``).

    With ``momentum`` > 0 it is heavy-ball momentum; see :func:`trace`.
    """
    parts = [add_decayed_weights(weight_decay)] if weight_decay else []
    if momentum or nesterov:
        parts.append(trace(momentum, dampening, nesterov))
    return chain(*parts, scale_by_lr(lr))


def momentum(
    lr: LearningRate = 1e-3, momentum: float = 0.9, dampening: float = 0.0, weight_decay: float = 0.0
) -> GradientTransformation:
    r"""Heavy-ball momentum: :math:`b_t = \mu b_{t-1} + g_t,\ \theta_{t+1} = \theta_t - \eta_t b_t`."""
    return sgd(lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)


def nesterov(lr: LearningRate = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0) -> GradientTransformation:
    r"""Nesterov momentum as torch computes it: :math:`\theta_{t+1} = \theta_t - \eta_t (g_t + \mu b_t)`."""
    return sgd(lr, momentum=momentum, weight_decay=weight_decay, nesterov=True)


@dataclass(frozen=True)
class _AdagradDecay:
    """torch Adagrad's ``lr / (1 + (t-1)·lr_decay)`` on top of any schedule."""

    lr: Callable[[int], float]
    lr_decay: float

    def __call__(self, count: int) -> float:
        return self.lr(count) / (1 + count * self.lr_decay)


def adagrad(
    lr: LearningRate = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> GradientTransformation:
    r"""AdaGrad: :math:`s_t = s_{t-1} + g_t^2,\ \theta_{t+1} = \theta_t - \eta_t\, g_t / (\sqrt{s_t} + \epsilon)`."""
    schedule = as_schedule(lr)
    lr_decay = _check("lr_decay", lr_decay)  # as torch.optim.Adagrad: a negative one gave lr < 0, then 1/0
    if lr_decay:
        schedule = _AdagradDecay(schedule, lr_decay)
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_adagrad(eps, initial_accumulator_value),
        scale_by_lr(schedule),
    )


def rmsprop(
    lr: LearningRate = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> GradientTransformation:
    r"""RMSProp: :math:`v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\ \theta_{t+1} = \theta_t - \eta_t\, g_t/(\sqrt{v_t}+\epsilon)`."""
    parts = [add_decayed_weights(weight_decay), scale_by_rms(alpha, eps, centered)]
    if momentum:
        parts.append(trace(momentum))
    return chain(*parts, scale_by_lr(lr))


def adam(
    lr: LearningRate = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> GradientTransformation:
    r"""Adam: bias-corrected moments, :math:`\theta_{t+1} = \theta_t - \eta_t\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)`."""
    return chain(add_decayed_weights(weight_decay), scale_by_adam(tuple(betas), eps, amsgrad), scale_by_lr(lr))


def fista(lr: LearningRate = 1e-3, restart: bool = True) -> GradientTransformation:
    r"""Accelerated gradient (FISTA) with adaptive restart: the momentum of Nesterov's method without
    knowing the strong convexity, :math:`O(1/k^2)` on convex problems; see :func:`~gradstep.optim.proximal.accelerate`.

    With ``lr`` :math:`1/L` (:math:`L` the gradient's Lipschitz constant) it is the full-batch
    default of the estimators (``optimizer="auto"``).
    """
    return accelerate(sgd(lr), restart=restart)


OPTIMIZERS: Mapping[str, Callable[..., GradientTransformation]] = {
    "gd": sgd,
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "fista": fista,
}
"""Optimiser names: ``"gd"`` and ``"sgd"`` are the same plain step (the batch size decides how stochastic it is)."""


def make_optimizer(
    optimizer: str | GradientTransformation = "sgd",
    lr: LearningRate | None = None,
    optimizer_params: Mapping[str, Any] | None = None,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    l1: float = 0.0,
    mask: Any = None,
    cumulative: bool = False,
) -> GradientTransformation:
    r"""Build the transform chain ``clip_by_value → clip_by_norm → optimiser`` from names and numbers.

    Parameters
    ----------
    optimizer : str or GradientTransformation
        A name from :data:`OPTIMIZERS` or a ready transform (which carries its
        own learning rate: ``lr`` is then not used, and ``optimizer_params``
        must be left unset).
    lr : float or schedule, optional
        Learning rate of a named optimiser; ``None`` keeps its torch default.
    optimizer_params : mapping, optional
        Further hyper-parameters of the named optimiser, e.g. ``{"betas": (0.9, 0.99)}``.
    clip_value, clip_norm : float, optional
        Clip the gradient by value and/or by global L2 norm before the optimiser sees it.
    l1 : float
        :math:`\lambda_1` of an L1 term in the objective: the plain, momentum, Nesterov and
        FISTA steps become proximal (:func:`~gradstep.optim.proximal.l1_step`, on the entries
        where ``mask`` is 1); the adaptive ones keep the objective's subgradient.
    mask : array, optional
        1 on the entries the L1 term applies to (the coefficients), 0 elsewhere; needed with ``l1``.
    cumulative : bool
        With ``l1``: Tsuruoka's cumulative truncation (mini-batches) instead of exact
        soft-thresholding (full batch).

    Examples
    --------
    >>> opt = make_optimizer("adam", lr=0.01, optimizer_params={"amsgrad": True}, clip_norm=5.0)
    """
    params = dict(optimizer_params or {})
    if isinstance(optimizer, GradientTransformation):
        if params:
            raise ValueError(
                "optimizer_params apply to a named optimizer; a GradientTransformation carries its own settings"
            )
        opt = optimizer
    else:
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)} "
                "or pass a gradstep.optim transform"
            )
        factory = OPTIMIZERS[optimizer.lower()]
        # checked before the unknown names: "lr" is not in `accepted`, so the other order
        # answered "has no parameter(s) ['lr']" and this clearer message was never reached
        if "lr" in params:
            raise ValueError("give the learning rate as lr=..., not inside optimizer_params")
        accepted = [p for p in inspect.signature(factory).parameters if p != "lr"]
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ValueError(
                f"optimizer {optimizer!r} has no parameter(s) {unknown}; its parameters are {accepted}"
            )
        if lr is not None:
            params["lr"] = lr
    clips = []
    if clip_value is not None:
        clips.append(clip_by_value(clip_value))
    if clip_norm is not None:
        clips.append(clip_by_norm(clip_norm))
    if not isinstance(optimizer, GradientTransformation):
        if l1 and factory in PROXIMAL:
            return _proximal(factory, params, clips, l1, mask, cumulative)
        opt = factory(**params)
    return chain(*clips, opt) if clips else opt


PROXIMAL = (sgd, momentum, nesterov, fista)
"""The named optimisers that take proximal L1 steps (their step is ``-lr`` times a gradient or a trace)."""


def _proximal(factory: Callable[..., GradientTransformation], params: dict[str, Any], clips: list,
              l1: float, mask: Any, cumulative: bool) -> GradientTransformation:
    """``factory(**params)`` with proximal L1 steps: the clips act on the smooth gradient, inside the
    proximal step, and FISTA's momentum outside it."""
    if mask is None:
        raise ValueError("an L1 step needs the mask of the penalised entries")
    if factory is fista:
        restart = params.pop("restart", True)
        return accelerate(l1_step(chain(*clips, sgd(**params)), l1, mask, cumulative), restart=restart)
    return l1_step(chain(*clips, factory(**params)), l1, mask, cumulative)
