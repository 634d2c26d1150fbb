r"""``reduce_on_plateau``: the learning rate cut when the loss stops improving (torch's ``ReduceLROnPlateau``),
as a transform fed by the loss.

torch steps its scheduler once an epoch with a metric; here the metric is the mean of the losses the loop
passes (``value``, the objective before the update on the update's batch) over ``accumulation`` updates
(the epoch's number of batches, as optax's ``accumulation_size``). At the end of each such group:

* the metric :math:`m` is an improvement when :math:`m < b(1 - \tau)` (``mode="min"``,
  ``threshold_mode="rel"``), :math:`m < b - \tau` (``"abs"``), or :math:`m > b(1 + \tau)` /
  :math:`m > b + \tau` with ``mode="max"``; :math:`b` the best so far (:math:`\pm\infty` at first);
* an improvement sets :math:`b \leftarrow m` and the count of bad groups to 0, any other adds one;
  during a ``cooldown`` the count stays 0;
* when the count passes ``patience``, :math:`\eta \leftarrow \max(\eta\,f, \eta_{min})` (``factor``,
  ``min_lr``), kept only if it moves by more than ``eps``; the cooldown starts and the count is reset.

The transform multiplies the updates it gets, made with the optimiser's learning rate ``lr``, by
:math:`\eta_k/\eta` (1 until the first cut), and its state carries :math:`\eta_k` as a
:class:`~gradstep.optim.ScaleByLrState` that the loop's history reads as the update's learning rate.

Examples
--------
>>> import numpy as np
>>> from gradstep.optim import chain, sgd
>>> opt = chain(sgd(lr=0.1), reduce_on_plateau(0.1, patience=0, factor=0.5))
>>> state = opt.init(np.zeros(1))
>>> for loss in (3.0, 2.0, 2.5, 2.5):
...     u, state = opt.update(np.ones(1), state, np.zeros(1), value=loss)
...     print(round(float(u[0]), 4), state.states[-1].inner.lr)
-0.1 0.1
-0.1 0.1
-0.1 0.1
-0.05 0.05
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, cast

from ..backend import Array
from ._schedule_core import _check_positive, _check_whole
from .base import GradientTransformationExtraArgs
from .transforms import ScaleByLrState

Mode = Literal["min", "max"]
ThresholdMode = Literal["rel", "abs"]


class ReduceOnPlateauState(NamedTuple):
    """Where the rule stands: the rate for the next update ``lr``, the ``best`` metric, the bad groups
    counted and the cooldown left (torch's ``num_bad_epochs`` and ``cooldown_counter``), the losses summed
    in the group under way (``total`` of ``seen``), and ``inner``: the update made last and its rate, as
    the loop reads a learning rate (:func:`gradstep.loop.current_lr`)."""

    lr: float
    best: float
    num_bad_epochs: int
    cooldown_counter: int
    total: float
    seen: int
    inner: ScaleByLrState


class _Rule(NamedTuple):
    """The settings, checked (torch's names)."""

    mode: Mode
    factor: float
    patience: int
    threshold: float
    threshold_mode: ThresholdMode
    cooldown: int
    min_lr: float
    eps: float

    def better(self, a: float, best: float) -> bool:
        """Whether the metric ``a`` improves on ``best`` (torch's ``_is_better``)."""
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if self.threshold_mode == "rel" else a < best - self.threshold
        return a > best * (self.threshold + 1.0) if self.threshold_mode == "rel" else a > best + self.threshold

    def step(self, metric: float, s: ReduceOnPlateauState) -> ReduceOnPlateauState:
        """torch's ``ReduceLROnPlateau.step(metric)``: the state after a group whose mean loss is ``metric``."""
        best, bad, cool, lr = s.best, s.num_bad_epochs + 1, s.cooldown_counter, s.lr
        if self.better(metric, best):
            best, bad = metric, 0
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > self.patience:
            new = max(lr * self.factor, self.min_lr)
            if lr - new > self.eps:
                lr = new
            cool, bad = self.cooldown, 0
        return s._replace(lr=lr, best=best, num_bad_epochs=bad, cooldown_counter=cool, total=0.0, seen=0)


def reduce_on_plateau(
    lr: float,
    mode: Mode = "min",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: ThresholdMode = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    eps: float = 1e-8,
    accumulation: int = 1,
) -> GradientTransformationExtraArgs:
    r"""Cut the learning rate by ``factor`` when the mean loss over ``accumulation`` updates has not improved
    for more than ``patience`` such groups (torch's ``ReduceLROnPlateau``, same arguments; see the module).

    Place it after an optimiser made with the learning rate ``lr`` (``chain(adam(lr=1e-3),
    reduce_on_plateau(1e-3))``): it scales that optimiser's updates by :math:`\eta_k/\eta`. The update
    that ends a group is made with the rate before the group's verdict, as torch's ``optimizer.step()``
    comes before its ``scheduler.step(metric)``.

    Parameters
    ----------
    lr : float
        The optimiser's learning rate :math:`\eta` (> 0), the one ``min_lr`` and ``eps`` compare with.
    mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps
        As torch's: ``factor`` in [0, 1), the others at least 0.
    accumulation : int
        Updates per metric (>= 1): the number of batches of an epoch to follow torch's epochs.

    Examples
    --------
    >>> import numpy as np
    >>> rule = reduce_on_plateau(1.0, patience=1, factor=0.5, accumulation=2)
    >>> state = rule.init(np.zeros(1))
    >>> rates = []
    >>> for loss in [4.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]:
    ...     _, state = rule.update(np.ones(1), state, value=loss)
    ...     rates.append(state.lr)
    >>> rates      # the groups' means 3, 3, 3, 3: two without improvement, then the cut
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
    """
    rule = _settings(mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)
    lr0 = _check_positive("lr", lr, allow_zero=False)
    accumulation = _check_whole("accumulation", accumulation, lo=1)
    worst = math.inf if rule.mode == "min" else -math.inf

    def init(params: Array) -> ReduceOnPlateauState:
        return ReduceOnPlateauState(lr0, worst, 0, 0, 0.0, 0, ScaleByLrState(0, math.nan))

    def update(grads: Array, state: ReduceOnPlateauState, params: Array | None = None,
               **extra_args: Any) -> tuple[Array, ReduceOnPlateauState]:
        if "value" not in extra_args:
            raise TypeError("reduce_on_plateau is fed by the loss: update(..., value=f(params)); "
                            "gradstep.loop.run and chain pass it")
        updates = grads if state.lr == lr0 else grads * (state.lr / lr0)
        made = ScaleByLrState(state.inner.count + 1, state.lr)
        total, seen = state.total + float(extra_args["value"]), state.seen + 1
        new = state._replace(total=total, seen=seen, inner=made)
        if seen == accumulation:
            new = rule.step(total / seen, new)
        return updates, new

    return GradientTransformationExtraArgs(init, update)


def _settings(mode: str, factor: float, patience: int, threshold: float, threshold_mode: str, cooldown: int,
              min_lr: float, eps: float) -> _Rule:
    """The settings of :func:`reduce_on_plateau`, checked, with a message naming the bad one."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
    factor = _check_positive("factor", factor)
    if factor >= 1.0:
        raise ValueError(f"factor must be < 1 (the rate is multiplied by it), got {factor!r}")
    return _Rule(cast(Mode, mode), factor, _check_whole("patience", patience), _check_positive("threshold", threshold),
                 cast(ThresholdMode, threshold_mode), _check_whole("cooldown", cooldown),
                 _check_positive("min_lr", min_lr), _check_positive("eps", eps))
