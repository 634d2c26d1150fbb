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
``adamw``     scale_by_adam → weight decay → −lr                  ``AdamW``
``adamax``    weight decay → scale_by_adamax → −lr                ``Adamax``
``nadam``     [weight decay] → scale_by_nadam → [decay] → −lr     ``NAdam``
``radam``     [weight decay] → scale_by_radam → [decay] → −lr     ``RAdam``
``bb``        −t·g, t from s, y (:mod:`.linesearch`)              none (Barzilai–Borwein)
``lbfgs``     two-loop recursion, ≤ max_iter a step (:mod:`.lbfgs`) ``LBFGS``
============  ==================================================  =========================

``adadelta``, ``asgd``, ``rprop`` and ``adafactor`` are torch's ``Adadelta``, ``ASGD``, ``Rprop`` and
``Adafactor``, chained from the steps of :mod:`.classic` (their factories below say how).

Each name is one entry of :data:`REGISTRY` (:mod:`.registry`): the factory below, the torch class
and settings of the last column, whether its L1 steps are proximal, and how the compiled epochs
make its step; a new optimiser is its factory (the maths) and its entry.

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

from collections.abc import Callable, Mapping
from typing import Any, cast

from .adam_family import scale_by_adamax, scale_by_nadam, scale_by_radam
from .base import GradientTransformation, chain
from .classic import (
    adafactor_step,
    add_decoupled_weight_decay,
    asgd_decay,
    average_iterates,
    scale_by_adadelta,
    scale_by_adafactor,
    scale_by_rprop,
)
from .lbfgs import lbfgs
from .linesearch import bb, lr_rule
from .proximal import accelerate, l1_step
from .registry import CompiledStep, Entry
from .schedules import LearningRate, adagrad_decay, as_schedule
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


def _sgd_step(settings: Mapping[str, Any]) -> CompiledStep:
    """The compiled step of :func:`sgd`, :func:`momentum` and :func:`nesterov`: a trace when there is momentum."""
    mu, nesterov_ = float(settings["momentum"]), bool(settings.get("nesterov", False))
    return CompiledStep("plain", float(settings["weight_decay"]), bool(mu or nesterov_), mu,
                        float(settings.get("dampening", 0.0)), nesterov_)


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
        schedule = adagrad_decay(schedule, lr_decay)
    return chain(
        add_decayed_weights(weight_decay),
        scale_by_adagrad(eps, initial_accumulator_value),
        scale_by_lr(schedule),
    )


def _adagrad_step(settings: Mapping[str, Any]) -> CompiledStep:
    """The compiled step of :func:`adagrad` (its initial accumulator is in the state it starts from)."""
    return CompiledStep("adagrad", float(settings["weight_decay"]), eps=float(settings["eps"]),
                        lr_decay=float(settings["lr_decay"]))


def rmsprop(
    lr: LearningRate = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> GradientTransformation:
    r"""RMSProp: :math:`v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\
    \theta_{t+1} = \theta_t - \eta_t\, g_t/(\sqrt{v_t}+\epsilon)`."""
    parts = [add_decayed_weights(weight_decay), scale_by_rms(alpha, eps, centered)]
    if momentum:
        parts.append(trace(momentum))
    return chain(*parts, scale_by_lr(lr))


def _rmsprop_step(settings: Mapping[str, Any]) -> CompiledStep:
    """The compiled step of :func:`rmsprop`: a trace when there is momentum."""
    mu = float(settings["momentum"])
    return CompiledStep("rmsprop", float(settings["weight_decay"]), bool(mu), mu, eps=float(settings["eps"]),
                        alpha=float(settings["alpha"]), centered=bool(settings["centered"]))


def adam(
    lr: LearningRate = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> GradientTransformation:
    r"""Adam: bias-corrected moments,
    :math:`\theta_{t+1} = \theta_t - \eta_t\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)`."""
    pair = cast("tuple[float, float]", tuple(betas))   # scale_by_adam says when it is not a pair
    return chain(add_decayed_weights(weight_decay), scale_by_adam(pair, eps, amsgrad), scale_by_lr(lr))


def _adam_step(settings: Mapping[str, Any]) -> CompiledStep:
    """The compiled step of :func:`adam`."""
    b1, b2 = settings["betas"]
    return CompiledStep("adam", float(settings["weight_decay"]), eps=float(settings["eps"]),
                        betas=(float(b1), float(b2)), amsgrad=bool(settings["amsgrad"]))


def fista(lr: LearningRate = 1e-3, restart: bool = True) -> GradientTransformation:
    r"""Accelerated gradient (FISTA) with adaptive restart: the momentum of Nesterov's method without
    knowing the strong convexity, :math:`O(1/k^2)` on convex problems; see :func:`~gradstep.optim.proximal.accelerate`.

    With ``lr`` :math:`1/L` (:math:`L` the gradient's Lipschitz constant) it is the full-batch
    default of the estimators (``optimizer="auto"``).
    """
    return accelerate(sgd(lr), restart=restart)


# --------------------------------------------------------------------- Adam's relatives (issue 19)
# Weight decay after the scaling, just before -lr, is torch's decoupled decay (see .adam_family).
def _decayed(scaling: GradientTransformation, lr: LearningRate, weight_decay: float,
             decoupled: bool) -> GradientTransformation:
    """``scaling`` then ``-lr``, with the weight decay as torch's L2 gradient term or decoupled (AdamW)."""
    decay = add_decayed_weights(weight_decay)
    return chain(scaling, decay, scale_by_lr(lr)) if decoupled else chain(decay, scaling, scale_by_lr(lr))


def adamw(
    lr: LearningRate = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
) -> GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay (``torch.optim.AdamW``),
    :math:`\theta_{t+1} = (1 - \eta_t\lambda)\,\theta_t - \eta_t\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)`."""
    pair = cast("tuple[float, float]", tuple(betas))
    return _decayed(scale_by_adam(pair, eps, amsgrad), lr, weight_decay, decoupled=True)


def adamax(
    lr: LearningRate = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> GradientTransformation:
    r"""Adamax: Adam with the infinity norm (``torch.optim.Adamax``); see
    :func:`~gradstep.optim.adam_family.scale_by_adamax`."""
    return _decayed(scale_by_adamax(cast("tuple[float, float]", tuple(betas)), eps), lr, weight_decay, False)


def nadam(
    lr: LearningRate = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    r"""NAdam: Adam with Nesterov momentum (``torch.optim.NAdam``); see
    :func:`~gradstep.optim.adam_family.scale_by_nadam`."""
    scaling = scale_by_nadam(cast("tuple[float, float]", tuple(betas)), eps, momentum_decay)
    return _decayed(scaling, lr, weight_decay, bool(decoupled_weight_decay))


def radam(
    lr: LearningRate = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    r"""RAdam: Adam with the variance of its adaptive step rectified (``torch.optim.RAdam``); see
    :func:`~gradstep.optim.adam_family.scale_by_radam`."""
    scaling = scale_by_radam(cast("tuple[float, float]", tuple(betas)), eps)
    return _decayed(scaling, lr, weight_decay, bool(decoupled_weight_decay))


# --------------------------------------------------------------------- classic torch.optim algorithms (issue 19)
def adadelta(lr: LearningRate = 1.0, rho: float = 0.9, eps: float = 1e-6,
             weight_decay: float = 0.0) -> GradientTransformation:
    r"""Adadelta (``torch.optim.Adadelta``): weight decay → :func:`~gradstep.optim.classic.scale_by_adadelta`
    → :math:`-\eta`, :math:`\theta_{t+1} = \theta_t - \eta\,\Delta_t` (:math:`\eta = 1`: the paper's step)."""
    return chain(add_decayed_weights(weight_decay), scale_by_adadelta(rho, eps), scale_by_lr(lr))


def asgd(lr: LearningRate = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
         weight_decay: float = 0.0) -> GradientTransformation:
    r"""Averaged SGD (``torch.optim.ASGD``): :math:`\theta_{t+1} = \theta_t(1 - \lambda\eta_t) - \eta_t g_t`
    with :math:`\eta_t = \eta / (1 + \lambda\eta t)^{\alpha}` (:class:`~gradstep.optim.classic.asgd_decay`,
    the history's ``lr`` column), and the average of the iterates from update ``t0`` on kept in the state
    (:func:`~gradstep.optim.classic.average_iterates`: ``find_states(state, AverageIteratesState)[0].ax``,
    torch's ``ax``). As torch's, the iterate is the plain one, not the average."""
    lambd = _check("lambd", lambd)
    alpha = _check("alpha", alpha)
    return chain(add_decayed_weights(weight_decay), add_decayed_weights(lambd),
                 scale_by_lr(asgd_decay(as_schedule(lr), lambd, alpha)), average_iterates(t0))


def rprop(lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
          step_sizes: tuple[float, float] = (1e-6, 50.0)) -> GradientTransformation:
    r"""Rprop (``torch.optim.Rprop``), sign-based and full-batch: :func:`~gradstep.optim.classic.scale_by_rprop`
    (``lr`` is the first step of every component; the history's ``lr`` column is ``nan``)."""
    if callable(lr):
        raise TypeError("rprop's lr is its first step size, a number (each component then adapts its own step)")
    return scale_by_rprop(lr, etas, step_sizes)


def adafactor(lr: LearningRate = 1e-2, beta2_decay: float = -0.8, eps: tuple[float | None, float] = (None, 1e-3),
              d: float = 1.0, weight_decay: float = 0.0) -> GradientTransformation:
    r"""Adafactor (``torch.optim.Adafactor``): :func:`~gradstep.optim.classic.scale_by_adafactor` →
    :math:`-\rho_t`, :math:`\rho_t = \min(\eta, 1/\sqrt t)` (:class:`~gradstep.optim.classic.adafactor_step`,
    the history's ``lr`` column) → decoupled weight decay :math:`-\eta\lambda\theta`. On the loop's one
    flat vector the second moment is not factored (see :func:`~gradstep.optim.classic.scale_by_adafactor`)."""
    schedule = as_schedule(lr)
    return chain(scale_by_adafactor(beta2_decay, eps, d), scale_by_lr(adafactor_step(schedule)),
                 add_decoupled_weight_decay(weight_decay, schedule))


REGISTRY: Mapping[str, Entry] = {
    "gd": Entry(sgd, "SGD", proximal=True, compiled=_sgd_step),
    "sgd": Entry(sgd, "SGD", proximal=True, compiled=_sgd_step),
    "momentum": Entry(momentum, "SGD", proximal=True, compiled=_sgd_step),
    "nesterov": Entry(nesterov, "SGD", {"nesterov": True}, proximal=True, compiled=_sgd_step),
    "adagrad": Entry(adagrad, "Adagrad", compiled=_adagrad_step),
    "rmsprop": Entry(rmsprop, "RMSprop", compiled=_rmsprop_step),
    "adam": Entry(adam, "Adam", compiled=_adam_step),
    "fista": Entry(fista, proximal=True),
    # issue 19: Adam's relatives (compiled kernels to come)
    "adamw": Entry(adamw, "AdamW"),
    "adamax": Entry(adamax, "Adamax"),
    "nadam": Entry(nadam, "NAdam"),
    "radam": Entry(radam, "RAdam"),
    "adadelta": Entry(adadelta, "Adadelta"),
    "asgd": Entry(asgd, "ASGD"),
    "rprop": Entry(rprop, "Rprop"),
    "adafactor": Entry(adafactor, "Adafactor"),
    # issue 19, step sizes without a learning rate (optim/linesearch.py) and L-BFGS (optim/lbfgs.py)
    "bb": Entry(bb),
    "lbfgs": Entry(lbfgs, "LBFGS"),
}
"""Each named optimiser, described once (:class:`~gradstep.optim.registry.Entry`): its factory, its
``torch.optim`` counterpart, whether its L1 steps are proximal, its compiled step. ``"gd"`` and ``"sgd"``
are the same plain step (the batch size decides how stochastic it is)."""

OPTIMIZERS: Mapping[str, Callable[..., GradientTransformation]] = {name: e.factory for name, e in REGISTRY.items()}
"""Optimiser names and their factories (from :data:`REGISTRY`)."""

PROXIMAL = tuple(dict.fromkeys(e.factory for e in REGISTRY.values() if e.proximal))
"""The named optimisers that take proximal L1 steps (their step is ``-lr`` times a gradient or a trace)."""


def make_optimizer(
    optimizer: str | GradientTransformation = "sgd",
    lr: LearningRate | str | None = None,
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
    lr : float, schedule or "polyak", optional
        Learning rate of a named optimiser; ``None`` keeps its torch default. ``"polyak"``: Polyak's
        step for ``"gd"`` (:func:`~gradstep.optim.linesearch.polyak_step`; ``optimizer_params``
        ``f_star``, ``max_lr``).
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
    if isinstance(lr, str):   # a step rule instead of a learning rate: lr="polyak" (optim/linesearch.py)
        return chain(*_clips(clip_value, clip_norm), lr_rule(lr, optimizer, params))
    if isinstance(optimizer, GradientTransformation):
        if params:
            raise ValueError(
                "optimizer_params apply to a named optimizer; a GradientTransformation carries its own settings"
            )
        clips = _clips(clip_value, clip_norm)
        return chain(*clips, optimizer) if clips else optimizer
    entry = _named(optimizer, params)
    if lr is not None:
        params["lr"] = lr
    clips = _clips(clip_value, clip_norm)
    if l1 and entry.proximal:
        return _proximal(entry.factory, params, clips, l1, mask, cumulative)
    opt = entry.factory(**params)
    return chain(*clips, opt) if clips else opt


def _named(optimizer: Any, params: Mapping[str, Any]) -> Entry:
    """The :data:`REGISTRY` entry of the name ``optimizer``, once its ``params`` are known to be its own."""
    if not isinstance(optimizer, str) or optimizer.lower() not in REGISTRY:
        raise ValueError(
            f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)} "
            "or pass a gradstep.optim transform"
        )
    entry = REGISTRY[optimizer.lower()]
    # checked before the unknown names: "lr" is not in `accepted`, so the other order
    # answered "has no parameter(s) ['lr']" and this clearer message was never reached
    if "lr" in params:
        raise ValueError("give the learning rate as lr=..., not inside optimizer_params")
    accepted = list(entry.defaults)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"optimizer {optimizer!r} has no parameter(s) {unknown}; its parameters are {accepted}")
    return entry


def _clips(clip_value: float | None, clip_norm: float | None) -> list[GradientTransformation]:
    """The clipping steps asked for: by value, then by norm."""
    clips = []
    if clip_value is not None:
        clips.append(clip_by_value(clip_value))
    if clip_norm is not None:
        clips.append(clip_by_norm(clip_norm))
    return clips


def _proximal(factory: Callable[..., GradientTransformation], params: dict[str, Any],
              clips: list[GradientTransformation],
              l1: float, mask: Any, cumulative: bool) -> GradientTransformation:
    """``factory(**params)`` with proximal L1 steps: the clips act on the smooth gradient, inside the
    proximal step, and FISTA's momentum outside it."""
    if mask is None:
        raise ValueError("an L1 step needs the mask of the penalised entries")
    if factory is fista:
        restart = params.pop("restart", True)
        return accelerate(l1_step(chain(*clips, sgd(**params)), l1, mask, cumulative), restart=restart)
    return l1_step(chain(*clips, factory(**params)), l1, mask, cumulative)
