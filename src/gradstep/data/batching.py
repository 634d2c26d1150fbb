"""Batches of rows: full batch, mini-batches of any size, one sample at a time.

An epoch is one pass over the ``n`` rows in batches of ``batch_size`` (the
last batch may be smaller: it is used, not dropped). Rows are taken in data
order, or shuffled with a permutation that depends only on ``(seed, epoch)``,
so the same seed gives the same batches on any backend, after a resume, and
whatever happened in earlier epochs. The permutation is always drawn by NumPy;
the rows of NumPy arrays and torch tensors alike are taken with it
(:func:`gradstep.backend.index`), so both backends see identical batches.

Examples
--------
>>> import numpy as np
>>> b = Batches(np.arange(5.0).reshape(5, 1), np.zeros((5, 1)), batch_size=2)
>>> [Xb.ravel().tolist() for Xb, Yb in b.epoch(0)]
[[0.0, 1.0], [2.0, 3.0], [4.0]]
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import index


def resolve_seed(random_state: Any) -> int:
    """Turn ``random_state`` (None, int, ``np.random.Generator`` or ``RandomState``) into an int seed.

    ``None`` draws a fresh seed from the operating system, so an unseeded run is
    still reproducible from the seed recorded in its history.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"random_state must be None, an int or a NumPy generator, got {random_state!r}")
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**32))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**32, dtype=np.uint64))
    raise TypeError(f"random_state must be None, an int or a NumPy generator, got {random_state!r}")


def epoch_order(n: int, epoch: int, seed: int) -> np.ndarray:
    """The shuffled row order of ``epoch``: a permutation of ``range(n)`` fixed by ``(seed, epoch)``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def check_batch_size(batch_size: Any) -> None:
    """``batch_size`` is None (the full batch) or an int >= 1, else a ValueError saying so."""
    bs = batch_size
    if bs is not None and (isinstance(bs, bool) or not isinstance(bs, numbers.Integral) or bs < 1):
        raise ValueError(f"batch_size must be None (full batch) or an int >= 1, got {bs!r}")


class BatchCount:
    """The batch arithmetic of ``n_samples`` rows in batches of ``batch_size`` (shared by every kind of batches)."""

    n_samples: int
    batch_size: int | None

    @property
    def size(self) -> int:
        """The effective batch size."""
        return self.n_samples if self.batch_size is None else min(int(self.batch_size), self.n_samples)

    @property
    def full_batch(self) -> bool:
        """True when every step sees all rows (batch gradient descent)."""
        return self.size >= self.n_samples

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_samples // self.size)


@dataclass(frozen=True)
class Batches(BatchCount):
    """The batches of ``(X, Y)`` for each epoch.

    Parameters
    ----------
    X, Y : array
        Rows are samples; ``Y`` is 2-D ``(n, k)``. NumPy arrays or torch
        tensors (one library and device for ``X``, ``Y`` and ``w``).
    batch_size : int or None
        ``None`` (or ``>= n``) is the full batch (batch GD), 1 is per-sample
        SGD, anything between is mini-batch.
    shuffle : bool
        Shuffle the rows every epoch (else data order).
    seed : int
        Seed of the shuffling (see :func:`epoch_order`).
    w : ndarray, optional
        Per-row weights (sample weight times class weight); batches are then ``(X, Y, w)``.
    """

    X: Any
    Y: Any
    batch_size: int | None = None
    shuffle: bool = False
    seed: int = 0
    w: Any = None
    n_samples: int = field(init=False)

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        object.__setattr__(self, "n_samples", n)
        if self.Y.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {self.Y.shape[0]}; they must match")
        if self.w is not None and tuple(self.w.shape) != (n,):
            raise ValueError(
                f"sample weights have shape {tuple(self.w.shape)}; they must have one value per row, ({n},)"
            )
        check_batch_size(self.batch_size)

    @property
    def data(self) -> tuple[Any, ...]:
        """All rows, ``(X, Y)`` or ``(X, Y, w)``."""
        return (self.X, self.Y) if self.w is None else (self.X, self.Y, self.w)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Any, ...]]:
        """Yield the batches of ``epoch`` (0-based) from its batch ``start`` on (a resumed run starts
        inside an epoch). Data order gives views, shuffled order copies."""
        arrays = self.data
        if self.full_batch:
            if start == 0:
                yield arrays
            return
        bs, n = self.size, self.n_samples
        if self.shuffle:
            order = epoch_order(n, epoch, self.seed)
            for lo in range(start * bs, n, bs):
                idx = order[lo : lo + bs]
                yield tuple(index(a, idx) for a in arrays)
        else:
            for lo in range(start * bs, n, bs):
                yield tuple(a[lo : lo + bs] for a in arrays)


@dataclass(frozen=True)
class FixedBatch:
    """The same single batch every epoch: full-batch descent on a summary of the data.

    For :class:`~gradstep.objectives.stats.SquaredStats` (squared error from
    sufficient statistics) in place of the rows; it has the interface of a
    full-batch :class:`Batches`.
    """

    batch: Any
    n_samples: int

    full_batch = True
    steps_per_epoch = 1

    @property
    def size(self) -> int:
        return self.n_samples

    @property
    def data(self) -> Any:
        return self.batch

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        if start == 0:
            yield self.batch
