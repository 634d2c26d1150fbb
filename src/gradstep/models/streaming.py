r"""What an estimator needs to fit rows it cannot hold: one summary pass, and compiled epochs over blocks.

:func:`summarise` reads the rows once (``source.map_reduce``: in this process for files,
on the workers for Dask) and gathers, for :math:`\tilde X = [X, \mathbf 1]`,

* :math:`G = \tilde X^\top \tilde X`, :math:`C = \tilde X^\top y`, :math:`s = \sum y^2` (the
  :class:`~gradstep.objectives.SquaredStats` of the rows): full-batch descent on squared
  error, and the loss on all the rows after every epoch, then cost :math:`O(d^2)` per step;
* :math:`\max_i \lVert \tilde x_i \rVert^2` and :math:`\lambda_{max}(G)`: the largest stable
  learning rate (:func:`stable_lr`) without another pass;
* the labels present (classifiers).

:class:`StreamEpochs` runs mini-batch epochs of a :class:`~gradstep.data.stream.StreamBatches`
with the compiled kernels of :mod:`gradstep.kernels.loops`, one block of rows at a time (every
batch lies inside a block), so a streamed epoch makes exactly the updates the plain loop makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batching import Batches
from ..loop import EpochSteps
from ..objectives import SquaredStats


@dataclass(frozen=True)
class Summary:
    """One pass over the rows: their squared-error statistics, largest squared row norm and labels."""

    stats: SquaredStats
    max_row_sq: float
    labels: np.ndarray

    def __add__(self, other: Summary) -> Summary:
        return Summary(self.stats + other.stats, max(self.max_row_sq, other.max_row_sq),
                       np.union1d(self.labels, other.labels))

    @property
    def n_rows(self) -> int:
        return self.stats.n_rows


def summarise(source: Any, fit_intercept: bool, labels: bool = False) -> Summary:
    """The :class:`Summary` of all the rows of ``source`` (``labels``: also the distinct targets)."""

    def part(X: np.ndarray, y: np.ndarray) -> Summary:
        sq = float(np.max(np.einsum("ij,ij->i", X, X))) if X.shape[0] else 0.0
        return Summary(SquaredStats.of(X, y[:, None], None, fit_intercept), sq,
                       np.unique(y) if labels else np.zeros(0))

    return source.map_reduce(part, _add)


def _add(a: Any, b: Any) -> Any:
    return a + b


def stable_lr(summary: Summary, loss: str, fit_intercept: bool, l2: float, n_outputs: int,
              per_sample: bool) -> float:
    r""":math:`2/L` of plain gradient descent from the summary (as :func:`gradstep.diagnostics.stable_lr`
    computes it from the rows): :math:`L = \lambda_{max}(c\,G + \lambda D)` with :math:`c` the loss's
    curvature for :math:`n` rows, or, per sample, the largest one-row bound."""
    from ..diagnostics import _curvature, largest_stable_lr, per_sample_curvature

    if not per_sample:
        return largest_stable_lr(np.asarray(summary.stats.G), summary.n_rows, loss, fit_intercept, l2, n_outputs)
    c1 = _curvature(loss, 1, n_outputs)
    L = per_sample_curvature(c1 * summary.max_row_sq, c1, l2, fit_intercept)  # the largest |u|^2 over the rows
    return 2.0 / L if L > 0 else math.inf


@dataclass(frozen=True)
class EncodeLabels:
    """A classifier's chunk of rows as the loss wants it: ``y`` (labels in ``classes``) as class
    indices (one column) or one-hot rows. Small and picklable, so Dask ships it to the workers."""

    classes: np.ndarray
    one_hot: bool

    def __call__(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.clip(np.searchsorted(self.classes, y), 0, self.classes.size - 1)
        if np.any(self.classes[idx] != y):
            raise ValueError(f"the rows have labels {np.unique(y[self.classes[idx] != y]).tolist()[:5]} not in "
                             f"classes_ {self.classes.tolist()[:10]}")
        if self.one_hot:
            return X, np.eye(self.classes.size, dtype=X.dtype)[idx]
        return X, idx.astype(X.dtype)[:, None]


class StreamEpochs:
    """An epoch runner (:class:`gradstep.loop.EpochRunner`) for streamed mini-batches: the compiled
    kernel of :mod:`gradstep.kernels.loops` over each block of
    :meth:`~gradstep.data.stream.StreamBatches.blocks` in turn, its steps joined into one epoch.

    ``make(batches)`` builds the compiled runner for in-memory :class:`Batches` of one block
    (None when the run cannot be compiled).
    """

    def __init__(self, batches: Any, make: Any) -> None:
        self.batches, self.make = batches, make

    def __call__(self, params: Any, state: Any, epoch: int, *, start: int = 0, max_steps: int | None = None,
                 gtol: float | None = None, record_params: bool = True) -> EpochSteps:
        b = self.batches
        parts: list[EpochSteps] = []
        left = math.inf if max_steps is None else max_steps
        halt = None
        for block in b.blocks(epoch, start):
            if left <= 0:
                break
            runner = self.make(Batches(block[0], block[1], b.size, False, 0, block[2] if len(block) > 2 else None))
            if runner is None:
                raise RuntimeError("these rows cannot go through the compiled epochs (their dtype or shape "
                                   "changed); set GRADSTEP_COMPILED=0")
            done = runner(params, state, epoch, gtol=gtol, record_params=record_params,
                          max_steps=None if math.isinf(left) else int(left))
            parts.append(done)
            params, state = done.params, done.state
            left -= len(done.loss)
            if done.halt not in (None, "max_steps"):
                halt = done
                break
        if not parts:
            empty = np.zeros(0)
            return EpochSteps(params, state, empty, empty, empty, None if not record_params else
                              np.zeros((0, np.asarray(params).size)))
        join = np.concatenate
        path = join([p.path for p in parts]) if record_params else None
        last = halt or parts[-1]
        return EpochSteps(params, state, join([p.loss for p in parts]), join([p.grad_norm for p in parts]),
                          join([p.lr for p in parts]), path, halt.halt if halt else None, last.halt_loss,
                          last.halt_grad_norm)


__all__ = ["EncodeLabels", "StreamEpochs", "Summary", "stable_lr", "summarise"]
