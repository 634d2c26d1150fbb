r"""The schedules of ``torch.optim.lr_scheduler``, with torch's names and arguments, as functions
``count -> lr`` (``count`` updates already made: the learning rate torch's ``get_last_lr()`` gives after
``count`` calls of ``step()``).

torch defines most of its schedulers by the recursion of their ``step()`` (each multiplies the current
learning rate by a factor), whose last bits can differ from the closed forms; a recursive schedule here
makes the same floating-point operations in the same order, remembering its last value so that counts
asked for in order cost one step each. ``tests/test_schedules_torch.py`` checks each against torch over
120 updates. They are also importable from :mod:`gradstep.optim.schedules`.

=========================  ============================  ======================================
name                       torch                         :math:`\eta_t`
=========================  ============================  ======================================
``multistep``              ``MultiStepLR``               times ``gamma`` at each milestone
``linear``                 ``LinearLR``                  factor linear from start to end
``polynomial``             ``PolynomialLR``              :math:`\eta (1 - t/T)^p`
``cosine_warm_restarts``   ``CosineAnnealingWarmRestarts``  cosine restarted after :math:`T_i`
``one_cycle``              ``OneCycleLR``                up then down (two or three phases)
``cyclic``                 ``CyclicLR``                  triangles between base and max
``sequential``             ``SequentialLR``              one schedule after another
``chained``                ``ChainedScheduler``          the schedules' factors multiplied
``lambda_`` (``"lambda"``)  ``LambdaLR``                 :math:`\eta\,\lambda(t)`
``multiplicative``         ``MultiplicativeLR``          :math:`\eta_{t-1}\,\lambda(t)`
=========================  ============================  ======================================

Examples
--------
>>> from gradstep.optim import schedules
>>> s = schedules.multistep(1.0, milestones=[2, 4], gamma=0.5)
>>> [s(t) for t in range(6)]
[1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._schedule_core import Schedule, _check_fraction, _check_positive, _check_whole


def _recur(memo: list[tuple[int, float]], count: int, first: float,
           step: Callable[[float, int], float]) -> float:
    r"""The recursion :math:`\eta_0 =` ``first``, :math:`\eta_t =` ``step(``:math:`\eta_{t-1}`, t``)`` at
    ``count``, from the value remembered in ``memo`` when it is not past ``count`` (then remembered)."""
    last = memo[-1] if memo else (0, first)    # read once: another thread may replace it meanwhile
    t, value = last if last[0] <= count else (0, first)
    while t < count:
        t += 1
        value = step(value, t)
    memo[:] = [(t, value)]
    return value


def _memo() -> list[tuple[int, float]]:
    return []


@dataclass(frozen=True)
class multistep:
    r"""Multiply by ``gamma`` at each milestone (torch ``MultiStepLR``):
    :math:`\eta_t = \eta\,\gamma^{\#\{m \in M : m \le t\}}` (a milestone given twice counts twice).

    Examples
    --------
    >>> multistep(1.0, milestones=[1, 3], gamma=0.1)(3)
    0.010000000000000002
    """

    lr: float
    milestones: Sequence[int]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        ms = tuple(_check_whole("milestones", m) for m in self.milestones)
        object.__setattr__(self, "milestones", ms)
        _check_positive("gamma", self.gamma)

    def __call__(self, count: int) -> float:
        value, times = self.lr, Counter(self.milestones)
        for m in sorted(times):          # torch's step(): lr * gamma ** (times m is given), at each m in turn
            if m > count:
                break
            value = value * self.gamma ** times[m]
        return value


@dataclass(frozen=True)
class linear:
    r"""A factor going linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` updates, then
    kept (torch ``LinearLR``): :math:`\eta_t = \eta\,(s + (e - s)\min(t, T)/T)`, made as torch's recursion
    :math:`\eta_t = \eta_{t-1}\bigl(1 + (e - s)/(T s + (t - 1)(e - s))\bigr)`.

    Examples
    --------
    >>> s = linear(1.0, start_factor=0.5, total_iters=2)
    >>> s(0), s(1), s(2), s(9)
    (0.5, 0.75, 1.0, 1.0)
    """

    lr: float
    start_factor: float = 1.0 / 3
    end_factor: float = 1.0
    total_iters: int = 5
    _memo: list[tuple[int, float]] = field(default_factory=_memo, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        object.__setattr__(self, "start_factor", _check_fraction("start_factor", self.start_factor, lo_open=True))
        object.__setattr__(self, "end_factor", _check_fraction("end_factor", self.end_factor))
        object.__setattr__(self, "total_iters", _check_whole("total_iters", self.total_iters))

    def _step(self, value: float, t: int) -> float:
        s, e = self.start_factor, self.end_factor
        return value * (1.0 + (e - s) / (self.total_iters * s + (t - 1) * (e - s)))

    def __call__(self, count: int) -> float:
        return _recur(self._memo, min(count, self.total_iters), self.lr * self.start_factor, self._step)


@dataclass(frozen=True)
class polynomial:
    r"""Polynomial decay to 0 over ``total_iters`` updates, then kept (torch ``PolynomialLR``):
    :math:`\eta_t = \eta\,(1 - \min(t, T)/T)^p`, made as torch's recursion
    :math:`\eta_t = \eta_{t-1}\bigl((1 - t/T)/(1 - (t-1)/T)\bigr)^p`.

    Examples
    --------
    >>> s = polynomial(1.0, total_iters=4, power=2.0)
    >>> s(0), s(2), s(4), s(9)
    (1.0, 0.25, 0.0, 0.0)
    """

    lr: float
    total_iters: int = 5
    power: float = 1.0
    _memo: list[tuple[int, float]] = field(default_factory=_memo, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        object.__setattr__(self, "total_iters", _check_whole("total_iters", self.total_iters))
        object.__setattr__(self, "power", _check_positive("power", self.power))

    def _step(self, value: float, t: int) -> float:
        n = self.total_iters
        return value * ((1.0 - t / n) / (1.0 - (t - 1) / n)) ** self.power

    def __call__(self, count: int) -> float:
        return _recur(self._memo, min(count, self.total_iters), self.lr, self._step)


@dataclass(frozen=True)
class cosine_warm_restarts:
    r"""Cosine annealing restarted every :math:`T_i` updates, :math:`T_0` first and each next period
    ``T_mult`` times the last (torch ``CosineAnnealingWarmRestarts``, SGDR):
    :math:`\eta_t = \eta_{min} + (\eta - \eta_{min})(1 + \cos(\pi T_{cur}/T_i))/2`, with
    :math:`T_{cur}` the updates since the last restart.

    Examples
    --------
    >>> s = cosine_warm_restarts(1.0, T_0=2, T_mult=2)
    >>> [s(t) for t in (0, 1, 2, 4, 6)]     # restarts at 0, 2, 6 (periods 2, 4, 8)
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    lr: float
    T_0: int
    T_mult: int = 1
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        object.__setattr__(self, "T_0", _check_whole("T_0", self.T_0, lo=1))
        object.__setattr__(self, "T_mult", _check_whole("T_mult", self.T_mult, lo=1))
        object.__setattr__(self, "eta_min", _check_positive("eta_min", self.eta_min))

    def __call__(self, count: int) -> float:
        t_cur, t_i = count, self.T_0     # torch's step(): T_cur += 1; at T_i it restarts and T_i *= T_mult
        while t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * self.T_mult
        return self.eta_min + (self.lr - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


@dataclass(frozen=True)
class one_cycle:
    r"""The one-cycle policy (torch ``OneCycleLR``; Smith and Topsoe 2017): from ``max_lr / div_factor`` up to
    ``max_lr`` over the first ``pct_start`` of ``total_steps`` (or ``epochs * steps_per_epoch``), then down
    to ``max_lr / div_factor / final_div_factor``; with ``three_phase`` back to the start first, then down.
    Each phase anneals by ``anneal_strategy``, ``"cos"``: :math:`b + (a - b)(1 + \cos\pi p)/2`, or
    ``"linear"``: :math:`a + (b - a)p`, from :math:`a` to :math:`b` as :math:`p` goes from 0 to 1.

    torch's ``cycle_momentum`` (the momentum cycled against the learning rate) is not part of a
    learning-rate schedule. As torch, asking for a count past ``total_steps`` is an error (and the count
``total_steps`` itself extrapolates the last phase).

    Examples
    --------
    >>> s = one_cycle(1.0, total_steps=10, anneal_strategy="linear", div_factor=10.0)
    >>> [round(s(t), 8) for t in (0, 2, 9)]
    [0.1, 1.0, 1e-05]
    """

    max_lr: float
    total_steps: int | None = None
    epochs: int | None = None
    steps_per_epoch: int | None = None
    pct_start: float = 0.3
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    _phases: tuple[tuple[float, str, str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_lr", _check_positive("max_lr", self.max_lr))
        if self.total_steps is not None:
            total = _check_whole("total_steps", self.total_steps, lo=1)
        elif self.epochs is not None and self.steps_per_epoch is not None:
            total = _check_whole("epochs", self.epochs, lo=1) * _check_whole("steps_per_epoch", self.steps_per_epoch, 1)
        else:
            raise ValueError("one_cycle needs total_steps, or epochs and steps_per_epoch")
        object.__setattr__(self, "total_steps", total)
        object.__setattr__(self, "pct_start", _check_fraction("pct_start", self.pct_start))
        if self.anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {self.anneal_strategy!r}")
        _check_positive("div_factor", self.div_factor, allow_zero=False)
        _check_positive("final_div_factor", self.final_div_factor, allow_zero=False)
        n, p = float(total), self.pct_start   # torch's phases: (end step, start lr, end lr)
        phases = ([(float(p * n) - 1, "initial", "max"), (float(2 * p * n) - 2, "max", "initial"),
                   (n - 1, "initial", "min")] if self.three_phase
                  else [(float(p * n) - 1, "initial", "max"), (n - 1, "max", "min")])
        object.__setattr__(self, "_phases", tuple(phases))

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def __call__(self, count: int) -> float:
        assert self.total_steps is not None
        if count > self.total_steps:
            raise ValueError(f"one_cycle was built for total_steps={self.total_steps} updates and update {count + 1} "
                             "asked for its learning rate: give total_steps at least the run's number of updates")
        initial = self.max_lr / self.div_factor
        lrs = {"initial": initial, "max": self.max_lr, "min": initial / self.final_div_factor}
        start_step = 0.0
        for i, (end_step, start, end) in enumerate(self._phases):
            if count <= end_step or i == len(self._phases) - 1:
                return self._anneal(lrs[start], lrs[end], (count - start_step) / (end_step - start_step))
            start_step = end_step
        raise AssertionError("unreachable: the last phase takes every count")


@dataclass(frozen=True)
class cyclic:
    r"""Cyclical learning rates (torch ``CyclicLR``; Smith 2017): triangles between ``base_lr`` and ``max_lr``,
    ``step_size_up`` updates up and ``step_size_down`` (default the same) down,
    :math:`\eta_t = \eta_b + (\eta_{max} - \eta_b)\,h_t\,\sigma`, with :math:`h_t \in [0, 1]` the triangle and
    :math:`\sigma` the ``scale_fn`` of the cycle number (``scale_mode="cycle"``) or of :math:`t`
    (``"iterations"``): ``mode`` ``"triangular"`` 1, ``"triangular2"`` :math:`2^{1-c}` (halved each
    cycle), ``"exp_range"`` :math:`\gamma^t`. torch's ``cycle_momentum`` is not part of a learning-rate schedule.

    Examples
    --------
    >>> s = cyclic(0.1, 1.1, step_size_up=2, mode="triangular2")
    >>> [round(s(t), 6) for t in range(7)]
    [0.1, 0.6, 1.1, 0.6, 0.1, 0.35, 0.6]
    """

    base_lr: float
    max_lr: float
    step_size_up: int = 2000
    step_size_down: int | None = None
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: float = 1.0
    scale_fn: Callable[[float], float] | None = None
    scale_mode: Literal["cycle", "iterations"] = "cycle"

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", _check_positive("base_lr", self.base_lr))
        object.__setattr__(self, "max_lr", _check_positive("max_lr", self.max_lr))
        _check_whole("step_size_up", self.step_size_up, lo=1)
        if self.step_size_down is not None:
            _check_whole("step_size_down", self.step_size_down)
        if self.scale_fn is None:
            if self.mode not in ("triangular", "triangular2", "exp_range"):
                raise ValueError(f"mode must be 'triangular', 'triangular2' or 'exp_range', got {self.mode!r}")
            # as torch: the mode decides the scale mode when no scale_fn is given
            object.__setattr__(self, "scale_mode", "iterations" if self.mode == "exp_range" else "cycle")
        elif self.scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations', got {self.scale_mode!r}")

    def _scale(self, x: float) -> float:
        if self.scale_fn is not None:
            return self.scale_fn(x)
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x if self.mode == "exp_range" else 1.0

    def __call__(self, count: int) -> float:
        up = float(self.step_size_up)
        total = up + (float(self.step_size_down) if self.step_size_down is not None else up)
        ratio = up / total
        cycle = math.floor(1 + count / total)
        x = 1.0 + count / total - cycle
        height = (self.max_lr - self.base_lr) * (x / ratio if x <= ratio else (x - 1) / (ratio - 1))
        return self.base_lr + height * self._scale(cycle if self.scale_mode == "cycle" else count)


@dataclass(frozen=True)
class sequential:
    r"""One schedule after another, joined at ``milestones`` (torch ``SequentialLR``): schedule :math:`i` from
    update :math:`m_{i-1}` on, counting its own updates from 0 there, :math:`\eta_t = s_i(t - m_{i-1})`.

    Each schedule restarts from its own learning rate, as torch's do (a ``multiplicative`` one after a
    milestone starts from its ``lr``, where torch's continues from the rate reached).

    Examples
    --------
    >>> from gradstep.optim.schedules import constant, linear
    >>> s = sequential([linear(1.0, start_factor=0.5, total_iters=2), constant(0.1)], milestones=[3])
    >>> [s(t) for t in range(5)]
    [0.5, 0.75, 1.0, 0.1, 0.1]
    """

    schedulers: Sequence[Schedule]
    milestones: Sequence[int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedulers", tuple(self.schedulers))
        ms = tuple(_check_whole("milestones", m) for m in self.milestones)
        object.__setattr__(self, "milestones", ms)
        if not self.schedulers or len(ms) != len(self.schedulers) - 1:
            raise ValueError(f"sequential needs one milestone fewer than schedules, got {len(self.schedulers)} "
                             f"schedules and {len(ms)} milestones")
        if list(ms) != sorted(ms):
            raise ValueError(f"milestones must be in increasing order, got {list(ms)}")
        for i, s in enumerate(self.schedulers):
            if not callable(s):
                raise TypeError(f"sequential: schedule {i} is {s!r}, not a schedule (a function count -> lr)")

    def __call__(self, count: int) -> float:
        i = bisect_right(self.milestones, count)
        return float(self.schedulers[i](count - (self.milestones[i - 1] if i else 0)))


@dataclass(frozen=True)
class chained:
    r"""Several schedules at once, their factors multiplied (torch ``ChainedScheduler``):
    :math:`\eta_t = \eta \prod_i s_i(t)/\eta`, every :math:`s_i` starting from the same ``lr`` :math:`\eta`.

    torch's schedulers each multiply the current rate by their own factor, so this is its product for the
    multiplicative ones (``step``, ``multistep``, ``constant`` with a factor, ``linear``, ``exponential``,
    ``polynomial``, ``multiplicative``); one that sets the rate outright (``lambda_``, ``cyclic``, ...)
    resets torch's product, and is taken here for its factor all the same.

    Examples
    --------
    >>> from gradstep.optim.schedules import constant, exponential
    >>> s = chained([constant(1.0, factor=0.5, total_iters=2), exponential(1.0, gamma=0.5)])
    >>> [s(t) for t in range(4)]
    [0.5, 0.25, 0.25, 0.125]
    """

    schedulers: Sequence[Schedule]
    lr: float = field(init=False)
    """The learning rate every schedule starts from."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedulers", tuple(self.schedulers))
        if not self.schedulers:
            raise ValueError("chained needs at least one schedule")
        rates = [getattr(s, "lr", None) for s in self.schedulers]
        if None in rates or len(set(rates)) != 1:
            raise ValueError("chained multiplies the factors of schedules that start from one learning rate: "
                             "give each the same lr (schedules.linear(0.1, ...), schedules.exponential(0.1, ...)), "
                             f"got {rates}")
        object.__setattr__(self, "lr", float(rates[0]))  # type: ignore[arg-type]  # not None: checked

    def __call__(self, count: int) -> float:
        base, value = self.lr, self.lr
        for s in self.schedulers:
            value = value * (s(count) / base)
        return value


@dataclass(frozen=True)
class lambda_:
    r"""``lr`` times a function of the count (torch ``LambdaLR``; ``"lambda"`` in
    :data:`~gradstep.optim.schedules.SCHEDULES`): :math:`\eta_t = \eta\,\lambda(t)`.

    Examples
    --------
    >>> lambda_(0.5, lr_lambda=lambda t: 1 / (t + 1))(3)
    0.125
    """

    lr: float
    lr_lambda: Callable[[int], float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        if not callable(self.lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the count, got {self.lr_lambda!r}")

    def __call__(self, count: int) -> float:
        return self.lr * self.lr_lambda(count)


@dataclass(frozen=True)
class multiplicative:
    r"""Each update multiplies the rate by a function of the count (torch ``MultiplicativeLR``):
    :math:`\eta_0 = \eta`, :math:`\eta_t = \eta_{t-1}\,\lambda(t)`.

    Examples
    --------
    >>> s = multiplicative(1.0, lr_lambda=lambda t: 0.5)
    >>> s(0), s(3)
    (1.0, 0.125)
    """

    lr: float
    lr_lambda: Callable[[int], float]
    _memo: list[tuple[int, float]] = field(default_factory=_memo, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_positive("lr", self.lr))
        if not callable(self.lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the count, got {self.lr_lambda!r}")

    def _step(self, value: float, t: int) -> float:
        return value * self.lr_lambda(t)

    def __call__(self, count: int) -> float:
        return _recur(self._memo, count, self.lr, self._step)
