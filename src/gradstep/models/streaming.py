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

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batching import Batches
from ..loop import EpochSteps
from ..objectives import SquaredStats
from ..scaling import FeatureScaling


@dataclass(frozen=True)
class Columns:
    r"""Column statistics of rows: count :math:`n`, means :math:`\bar x`, sums of squared deviations
    :math:`M_2 = \sum_i (x_i - \bar x)^2` (the variance is :math:`M_2 / n`), minima and maxima.

    Two sets of rows add by the pairwise update of Chan, Golub and LeVeque (1979):
    :math:`\delta = \bar x_b - \bar x_a`, :math:`\bar x = \bar x_a + \delta\, n_b / n`,
    :math:`M_2 = M_{2,a} + M_{2,b} + \delta^2 n_a n_b / n`: stable in any order of chunks.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [2.0], [4.0], [9.0]])
    >>> c = Columns.of(X[:1]) + Columns.of(X[1:])
    >>> c.mean.tolist(), (c.m2 / c.n).tolist(), c.lo.tolist(), c.hi.tolist()
    ([4.0], [9.5], [1.0], [9.0])
    """

    n: int
    mean: np.ndarray
    m2: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray) -> Columns:
        if X.shape[0] == 0:
            empty = np.zeros(X.shape[1])
            return cls(0, empty, empty, np.full(X.shape[1], np.inf), np.full(X.shape[1], -np.inf))
        mean = X.mean(axis=0)
        return cls(X.shape[0], mean, ((X - mean) ** 2).sum(axis=0), X.min(axis=0), X.max(axis=0))

    def __add__(self, other: Columns) -> Columns:
        a, b = self, other
        if not a.n or not b.n:
            keep = b if not a.n else a
            return Columns(keep.n, keep.mean, keep.m2, np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi))
        n = a.n + b.n
        delta = b.mean - a.mean
        return Columns(n, a.mean + delta * (b.n / n), a.m2 + b.m2 + delta**2 * (a.n * b.n / n),
                       np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi))

    def scaling(self, kind: str | None, center: bool) -> FeatureScaling:
        """The :class:`~gradstep.scaling.FeatureScaling` these rows give (as ``FeatureScaling.fit`` on them)."""
        return FeatureScaling.from_moments(kind, self.n, self.mean, self.m2 / max(self.n, 1), self.lo, self.hi,
                                           center=center)


@dataclass(frozen=True)
class Group:
    """Rows of one label (a classifier) or all rows (a regression): their
    :class:`~gradstep.objectives.SquaredStats` weighted by the sample weights, and the sum and
    largest of those weights (1 a row without a weight column)."""

    stats: SquaredStats
    weight_sum: float
    max_weight: float

    def __add__(self, other: Group) -> Group:
        return Group(self.stats + other.stats, self.weight_sum + other.weight_sum,
                     max(self.max_weight, other.max_weight))


def _add_groups(x: Group | None, y: Group | None) -> Group:
    """One label's groups of two summaries added; a label seen in only one of them keeps that group."""
    if x is not None and y is not None:
        return x + y
    group = x if x is not None else y
    if group is None:
        raise ValueError("a label found in neither summary")
    return group


@dataclass(frozen=True)
class Summary:
    r"""One pass over the rows: per label (classifiers; one group for a regression) their weighted
    squared-error statistics, weight sums and largest weight; the feature columns'
    :class:`Columns`; the largest squared row norm :math:`\max_i \lVert x_i \rVert^2`."""

    groups: tuple[Group, ...]
    labels: np.ndarray
    columns: Columns
    max_row_sq: float

    def __add__(self, other: Summary) -> Summary:
        a, b = self, other
        if not a.labels.size and not b.labels.size:   # a regression's one group (or chunks without rows)
            groups = tuple(x + y for x, y in zip(a.groups, b.groups)) if a.groups and b.groups \
                else a.groups or b.groups
            labels = a.labels
        else:
            labels = np.union1d(a.labels, b.labels)
            groups = tuple(_add_groups(a.group(v), b.group(v)) for v in labels)
        return Summary(groups, labels, a.columns + b.columns, max(a.max_row_sq, b.max_row_sq))

    def group(self, label: Any) -> Group | None:
        """The group of ``label`` (None when no row has it)."""
        i = int(np.searchsorted(self.labels, label))
        return self.groups[i] if i < self.labels.size and self.labels[i] == label else None

    @property
    def stats(self) -> SquaredStats:
        """The statistics of all the rows (weighted by the sample weights)."""
        return functools.reduce(_add, (g.stats for g in self.groups))

    @property
    def counts(self) -> np.ndarray:
        """Rows per group (per label, for a classifier)."""
        return np.array([g.stats.n_rows for g in self.groups], dtype=np.int64)

    @property
    def n_rows(self) -> int:
        return self.columns.n


@dataclass(frozen=True)
class SummaryPart:
    """The :class:`Summary` of one chunk (picklable: Dask runs it on the workers).

    ``weight_column``: the index in ``X`` of the sample-weight column (taken out of the features),
    or None; ``labels``: one group per distinct target (classifiers)."""

    fit_intercept: bool
    labels: bool = False
    weight_column: int | None = None

    def __call__(self, X: np.ndarray, y: np.ndarray) -> Summary:
        X, w = split_weights(X, self.weight_column)
        sq = float(np.max(np.einsum("ij,ij->i", X, X))) if X.shape[0] else 0.0
        if not self.labels:
            values, masks = np.zeros(0), [slice(None)]
        else:
            values = np.unique(y)
            masks = [y == v for v in values]
        groups = tuple(_group(X[m], y[m], None if w is None else w[m], self.fit_intercept) for m in masks) \
            if X.shape[0] else ()
        return Summary(groups, values, Columns.of(X), sq)


@dataclass(frozen=True)
class SplitSummaryPart:
    """The summaries of a chunk's training rows and held-out rows (``fn(X, y, first_row)`` of an
    indexed ``map_reduce``; :mod:`gradstep.data.split`)."""

    part: SummaryPart
    split: Any

    def __call__(self, X: np.ndarray, y: np.ndarray, first_row: int) -> tuple[Summary, Summary]:
        held = self.split.held(first_row, X.shape[0])
        return self.part(X[~held], y[~held]), self.part(X[held], y[held])


def _group(X: np.ndarray, y: np.ndarray, w: np.ndarray | None, fit_intercept: bool) -> Group:
    stats = SquaredStats.of(X, y[:, None], w, fit_intercept)
    if w is None:
        return Group(stats, float(X.shape[0]), 1.0)
    return Group(stats, float(np.sum(w)), float(np.max(w)))


def split_weights(X: np.ndarray, column: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(features, weights)``: column ``column`` of ``X`` taken out as the sample weights (None: none)."""
    if column is None:
        return X, None
    return np.delete(X, column, axis=1), np.ascontiguousarray(X[:, column])


def summarise(source: Any, fit_intercept: bool, labels: bool = False, weight_column: int | None = None,
              split: Any = None) -> Summary | tuple[Summary, Summary]:
    """The :class:`Summary` of all the rows of ``source`` (``labels``: one group per distinct target;
    ``weight_column``: that column of the chunks is the sample weights). With a ``split``
    (:class:`gradstep.data.split.RowSplit`), the summaries of the training and the held-out rows,
    in the same one pass.
    """
    from ..backend import one_blas_thread

    part = SummaryPart(fit_intercept, labels, weight_column)
    with one_blas_thread():  # chunk by chunk: in this process for files (Dask workers have their own)
        if split is None:
            return source.map_reduce(part, _add)
        return source.map_reduce(SplitSummaryPart(part, split), _add_pairs, indexed=True)


def _add(a: Any, b: Any) -> Any:
    return a + b


def _add_pairs(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], a[1] + b[1]


def stable_lr(stats: SquaredStats, max_row_sq: float, max_weight: float, loss: str, fit_intercept: bool,
              l2: float, n_outputs: int, per_sample: bool) -> float:
    r""":math:`2/L` of plain gradient descent from summary statistics in the units of the fit (as
    :func:`gradstep.diagnostics.stable_lr` computes it from the rows): :math:`L = \lambda_{max}(c\,G +
    \lambda D)` with :math:`c` the loss's curvature for :math:`n` rows and :math:`G` the (weighted)
    :math:`\tilde Z^\top \tilde Z`; or, per sample, the one-row bound for a row of squared norm
    ``max_row_sq`` and weight ``max_weight`` (the largest of each: a bound on every row's).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [3.0]])
    >>> stats = SquaredStats.of(X, np.zeros((2, 1)), None, False)   # G = X'X = 10
    >>> stable_lr(stats, 9.0, 1.0, "mse", False, 0.0, 1, per_sample=False)   # 2 / (2 G / n)
    0.2
    """
    from ..diagnostics import _curvature, largest_stable_lr, per_sample_curvature

    if not per_sample:
        return largest_stable_lr(np.asarray(stats.G, dtype=np.float64), stats.n_rows, loss, fit_intercept, l2,
                                 n_outputs)
    c1 = _curvature(loss, 1, n_outputs) * max_weight
    L = per_sample_curvature(c1 * max_row_sq, c1, l2, fit_intercept)  # the largest |u|^2 over the rows
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

    The loop calls it in pieces (up to a checkpoint, or :data:`~gradstep.loop.INTERRUPT_PIECE`
    updates while a stop can be asked for). Between two calls it keeps its place in the stream:
    the open block iterator, the current block's compiled runner and the batches of that block
    done, keyed by ``(epoch, next batch)``. A call whose ``start`` is that key goes on from there,
    so every row of an epoch is read once however the epoch is cut; any other ``start`` (a
    resumed run) opens the stream again, skipping ``start`` batches.

    ``make(batches)`` builds the compiled runner for in-memory :class:`Batches` of one block
    (None when the run cannot be compiled).
    """

    def __init__(self, batches: Any, make: Any) -> None:
        self.batches, self.make = batches, make
        self._at: tuple[int, int] | None = None   # (epoch, next batch) where the kept place is
        self._blocks: Iterator[tuple] = iter(())   # opened at the first block asked for
        self._block: tuple[Any, int, int] | None = None  # (runner, batches in the block, batches of it done)

    def _next_block(self, epoch: int, start: int) -> tuple[Any, int, int] | None:
        """The block holding batch ``start`` of ``epoch``: the kept one, or the next one read."""
        if self._at != (epoch, start):   # a resume, or a new epoch: open the stream at ``start``
            self._blocks, self._block = iter(self.batches.blocks(epoch, start)), None
        elif self._block is not None and self._block[2] < self._block[1]:
            return self._block
        block = next(self._blocks, None)
        if block is None:
            self._block = None
            return None
        b = self.batches
        runner = self.make(Batches(block[0], block[1], b.size, False, 0, block[2] if len(block) > 2 else None))
        if runner is None:
            raise RuntimeError("these rows cannot go through the compiled epochs (their dtype or shape "
                               "changed); set GRADSTEP_COMPILED=0")
        self._block = (runner, -(-block[0].shape[0] // b.size), 0)
        return self._block

    def __call__(self, params: Any, state: Any, epoch: int, *, start: int = 0, max_steps: int | None = None,
                 gtol: float | None = None, record_params: bool = True) -> EpochSteps:
        parts: list[EpochSteps] = []
        left = math.inf if max_steps is None else max_steps
        halt = None
        while left > 0:
            current = self._next_block(epoch, start)
            if current is None:
                break
            runner, size, offset = current
            done = runner(params, state, epoch, start=offset, gtol=gtol, record_params=record_params,
                          max_steps=None if math.isinf(left) else int(left))
            parts.append(done)
            params, state = done.params, done.state
            made = len(done.loss)
            if made == 0 and done.halt is None:   # nothing left in the rows read (the loop reports it)
                break
            left -= made
            start += made
            self._block, self._at = (runner, size, offset + made), (epoch, start)
            if done.halt not in (None, "max_steps"):
                halt = done
                self._at = None   # the run stops here; a later call reopens the stream
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


__all__ = ["Columns", "EncodeLabels", "Group", "SplitSummaryPart", "StreamEpochs", "Summary", "SummaryPart",
           "split_weights", "stable_lr", "summarise"]
