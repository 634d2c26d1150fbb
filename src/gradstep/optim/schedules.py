"""Learning-rate schedules: functions ``count -> lr``.

``count`` is the number of updates already made (0 for the first step). Every
place that takes a learning rate accepts a number or a schedule;
:func:`as_schedule` normalises the two once (jax's ``make_schedule``).

The formulas follow ``torch.optim.lr_scheduler`` (stepped once per update) and
scikit-learn's ``learning_rate="invscaling"``; the rest of torch's schedules, with its names and
arguments, are in :mod:`.torch_schedules` and importable from here too. :data:`SCHEDULES` names them all.

Examples
--------
>>> from gradstep.optim import schedules
>>> s = schedules.step(0.1, step_size=10, gamma=0.5)
>>> s(0), s(9), s(10), s(25)
(0.1, 0.1, 0.05, 0.025)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._schedule_core import LearningRate, Schedule, _check_fraction, _check_positive, _check_whole
from .torch_schedules import (
    chained,
    cosine_warm_restarts,
    cyclic,
    lambda_,
    linear,
    multiplicative,
    multistep,
    one_cycle,
    polynomial,
    sequential,
)


@dataclass(frozen=True)
class constant:
    r"""A fixed learning rate, :math:`\eta_t = \eta`; with a ``factor``, torch's ``ConstantLR``:
    :math:`\eta\,f` for the first ``total_iters`` updates, then :math:`(\eta f)(1/f)` (as torch makes it).

    Examples
    --------
    >>> constant(0.1)(1000)
    0.1
    >>> s = constant(1.0, factor=0.5, total_iters=2)
    >>> s(0), s(1), s(2)
    (0.5, 0.5, 1.0)
    """

    lr: float
    factor: float | None = None
    total_iters: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        if self.factor is not None:
            object.__setattr__(self, "factor", _check_fraction("factor", self.factor, lo_open=True))
        object.__setattr__(self, "total_iters", _check_whole("total_iters", self.total_iters))

    @property
    def plain(self) -> bool:
        """Whether the rate is ``lr`` at every count (no ``factor``)."""
        return self.factor is None

    def __call__(self, count: int) -> float:
        if self.factor is None:
            return self.lr
        low = self.lr * self.factor   # torch: its first step multiplies by factor, step total_iters by 1/factor
        return low if count < self.total_iters or self.total_iters == 0 else low * (1.0 / self.factor)


@dataclass(frozen=True)
class step:
    r"""Decay by ``gamma`` every ``step_size`` updates (torch ``StepLR``).

    :math:`\eta_t = \eta\,\gamma^{\lfloor t / s \rfloor}`.

    Examples
    --------
    >>> step(1.0, step_size=2, gamma=0.5)(5)
    0.25
    """

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        if int(self.step_size) != self.step_size or self.step_size < 1:
            raise ValueError(f"step_size must be a whole number >= 1, got {self.step_size!r}")
        _check_positive("gamma", self.gamma)

    def __call__(self, count: int) -> float:
        return self.lr * self.gamma ** (count // self.step_size)


@dataclass(frozen=True)
class exponential:
    r"""Decay by ``gamma`` every update (torch ``ExponentialLR``): :math:`\eta_t = \eta\,\gamma^t`.

    Examples
    --------
    >>> exponential(1.0, gamma=0.5)(3)
    0.125
    """

    lr: float
    gamma: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        _check_positive("gamma", self.gamma)

    def __call__(self, count: int) -> float:
        return self.lr * self.gamma**count


@dataclass(frozen=True)
class inverse_time:
    r"""scikit-learn's ``invscaling``: :math:`\eta_t = \eta / (t + 1)^{p}`.

    scikit-learn counts updates from 1, so the first step (``count = 0``) uses
    ``lr`` itself. ``power_t`` defaults to scikit-learn's 0.25.

    Examples
    --------
    >>> inverse_time(1.0, power_t=0.5)(3)
    0.5
    """

    lr: float
    power_t: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        _check_positive("power_t", self.power_t)

    def __call__(self, count: int) -> float:
        return self.lr / (count + 1.0) ** self.power_t


@dataclass(frozen=True)
class inverse_epochs:
    r"""A step that decays with the epochs: :math:`\eta_t = \eta / (1 + \lfloor t / s\rfloor / h)`.

    ``s`` is ``steps_per_epoch``, ``h`` the ``half_life`` in epochs (the step is halved after
    ``h`` epochs, a third after ``2h``). Constant within an epoch, so that each pass over the
    reshuffled rows is taken with one step size; decaying as :math:`1/k`, so that stochastic
    steps reach the optimum instead of a noise ball around it (Robbins and Monro's conditions).

    Examples
    --------
    >>> s = inverse_epochs(0.5, steps_per_epoch=10, half_life=4)
    >>> s(0), s(9), s(40), s(80)
    (0.5, 0.5, 0.25, 0.16666666666666666)
    """

    lr: float
    steps_per_epoch: int
    half_life: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        if int(self.steps_per_epoch) != self.steps_per_epoch or self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be a whole number >= 1, got {self.steps_per_epoch!r}")
        _check_positive("half_life", self.half_life, allow_zero=False)

    def __call__(self, count: int) -> float:
        return self.lr / (1.0 + (count // self.steps_per_epoch) / self.half_life)

    def __str__(self) -> str:
        return f"{self.lr:.4g} / (1 + epoch / {self.half_life:.4g})"


@dataclass(frozen=True)
class cosine:
    r"""Cosine annealing over ``T_max`` updates (torch ``CosineAnnealingLR``, closed form).

    :math:`\eta_t = \eta_{min} + (\eta - \eta_{min})\,(1 + \cos(\pi t / T_{max}))/2`;
    after ``T_max`` updates it keeps ``eta_min``.

    Examples
    --------
    >>> cosine(1.0, T_max=4)(2)
    0.5
    """

    lr: float
    T_max: int
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        if int(self.T_max) != self.T_max or self.T_max < 1:
            raise ValueError(f"T_max must be a whole number >= 1, got {self.T_max!r}")
        _check_positive("eta_min", self.eta_min)

    def __call__(self, count: int) -> float:
        t = min(count, self.T_max)
        return self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2


@dataclass(frozen=True)
class adagrad_decay:
    r"""torch Adagrad's decay on top of any schedule: :math:`\eta_t = s(t) / (1 + t\,d)`, with :math:`s` the
    ``schedule`` and :math:`d` the ``lr_decay`` (:func:`gradstep.optim.adagrad` checks it is at least 0).

    Examples
    --------
    >>> adagrad_decay(constant(1.0), lr_decay=0.5)(2)
    0.5
    """

    schedule: Schedule
    lr_decay: float

    def __call__(self, count: int) -> float:
        return self.schedule(count) / (1 + count * self.lr_decay)


def as_schedule(lr: LearningRate, name: str = "lr") -> Schedule:
    """Return ``lr`` as a schedule: numbers become :class:`constant`, callables pass through.

    Raises
    ------
    TypeError
        If ``lr`` is neither a number nor a callable.
    ValueError
        If ``lr`` is a negative or non-finite number.
    """
    if callable(lr):
        return lr
    if isinstance(lr, (bool, str)) or not isinstance(lr, (int, float)) and not hasattr(lr, "__float__"):
        raise TypeError(
            f"{name} must be a number or a schedule (a function count -> lr, e.g. "
            f"gradstep.optim.schedules.step(0.1, step_size=100)), got {lr!r}"
        )
    try:
        return constant(float(lr))
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


SCHEDULES: Mapping[str, Callable[..., Schedule]] = {
    "constant": constant,
    "step": step,
    "exponential": exponential,
    "inverse_time": inverse_time,
    "inverse_epochs": inverse_epochs,
    "cosine": cosine,
    "multistep": multistep,
    "linear": linear,
    "polynomial": polynomial,
    "cosine_warm_restarts": cosine_warm_restarts,
    "one_cycle": one_cycle,
    "cyclic": cyclic,
    "sequential": sequential,
    "chained": chained,
    "lambda": lambda_,
    "multiplicative": multiplicative,
}
"""Every schedule by name (``"lambda"`` is :class:`lambda_`, Python reserving the word): each takes the
learning rate first as ``lr``, but ``one_cycle`` (``max_lr``), ``cyclic`` (``base_lr, max_lr``) and the
combinations ``sequential`` and ``chained`` (schedules)."""

__all__ = [
    "SCHEDULES",
    "LearningRate",
    "Schedule",
    "adagrad_decay",
    "as_schedule",
    "chained",
    "constant",
    "cosine",
    "cosine_warm_restarts",
    "cyclic",
    "exponential",
    "inverse_epochs",
    "inverse_time",
    "lambda_",
    "linear",
    "multiplicative",
    "multistep",
    "one_cycle",
    "polynomial",
    "sequential",
    "step",
]
