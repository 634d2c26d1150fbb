r"""Averaged SGD: the running mean of the iterates an estimator reports with ``average``.

Examples
--------
>>> import numpy as np
>>> from gradstep.loop import StepInfo
>>> mean = Averager(start=2)
>>> for k, theta in enumerate([0.0, 2.0, 4.0]):
...     mean(StepInfo(step=k, epoch=0, params=np.array([theta]), loss=0.0, grad_norm=0.0, lr=0.1, rows=1))
>>> mean.count, mean.mean.tolist()   # the mean from the update at which 2 rows have been seen
(2, [3.0])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import backend
from ..loop import EpochRunner, EpochSteps, StepInfo

if TYPE_CHECKING:
    from ..kernels.loops import CompiledEpochs, RunningMean


class Averager:
    r"""Averaged SGD: the running mean of the iterates once ``start`` rows have been seen.

    :math:`\bar\theta_n = \bar\theta_{n-1} + (\theta_n - \bar\theta_{n-1}) / n` over the
    updates from the one at which ``start`` rows have been seen (scikit-learn's ``average``).
    The plain loop calls it after each update; compiled epochs count in the kernel and hand back
    what they counted (:meth:`around`).
    """

    def __init__(self, start: int) -> None:
        self.start, self.rows, self.count = start, 0, 0
        self.mean: Any = None

    def __call__(self, info: StepInfo) -> None:
        self.rows += info.rows
        if self.rows < self.start:
            return
        self.count += 1
        self.mean = backend.copy(info.params) if self.mean is None else \
            self.mean + (info.params - self.mean) / self.count

    def running_mean(self) -> RunningMean:
        """Where the mean stands, as the compiled epochs take it."""
        from ..kernels.loops import RunningMean

        return RunningMean(self.start, self.rows, self.count, self.mean)

    def around(self, runner: CompiledEpochs) -> EpochRunner:
        """The epoch runner ``runner`` with this mean carried through its calls: each call continues it
        from here (:meth:`~gradstep.kernels.loops.CompiledEpochs.run`) and it takes what the call counted."""
        return _AveragedEpochs(runner, self)


class _AveragedEpochs:
    """An epoch runner (:class:`gradstep.loop.EpochRunner`): compiled epochs that advance an :class:`Averager`."""

    def __init__(self, runner: CompiledEpochs, averager: Averager) -> None:
        self.runner, self.averager = runner, averager

    def __call__(self, params: Any, state: Any, epoch: int, *, start: int = 0, max_steps: int | None = None,
                 gtol: float | None = None, record_params: Any = True) -> EpochSteps:
        a = self.averager
        steps, counted = self.runner.run(params, state, epoch, start=start, max_steps=max_steps, gtol=gtol,
                                         record_params=record_params, average=a.running_mean())
        if counted is not None:
            a.rows, a.count, a.mean = counted.rows, counted.averaged, counted.mean
        return steps


__all__ = ["Averager"]
