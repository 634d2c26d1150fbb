r"""Held-out rows of a stream, chosen by row: the validation split of a streamed early-stopping fit.

Row :math:`i` (its index in the whole data, from 0) is held out iff

.. math:: u(s, i) = h(i \oplus h(s)) \,/\, 2^{64} < f,

with :math:`h` pandas' 64-bit hash of integers (:func:`pandas.util.hash_array`, a bijective
mixing of the bits), :math:`s` the seed and :math:`f` the validation fraction. The choice
depends on nothing but :math:`(s, i)`: the same rows are held out in every epoch, after a
resume, whatever the chunk sizes, in data order or shuffled, and whichever process (a Dask
worker) reads the rows. About :math:`f n` rows are held out (not exactly: each row is an
independent draw).

:class:`SplitRows` is a row source (:class:`gradstep.data.stream.RowSource`) over the training
(or the held-out) rows of another: its pieces are those of the source, counted after the split.

Examples
--------
>>> import numpy as np
>>> split = RowSplit(seed=0, fraction=0.25)
>>> mask = split.held(0, 8)                       # rows 0..7
>>> bool(np.array_equal(split.held(4, 4), mask[4:]))  # the same rows, however the chunks fall
True
>>> round(float(split.held(0, 100_000).mean()), 2)
0.25
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Chunk = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class RowSplit:
    """Which rows are held out: :math:`u(s, i) < f` (see the module docstring).

    Parameters
    ----------
    seed : int
        :math:`s`.
    fraction : float
        :math:`f`, in (0, 1).
    """

    seed: int
    fraction: float

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.fraction!r}")

    def held(self, first_row: int, m: int) -> np.ndarray:
        """Boolean mask of the held-out rows among rows ``first_row .. first_row + m - 1``."""
        from pandas.util import hash_array

        key = hash_array(np.array([self.seed % 2**64], dtype=np.uint64))[0]
        u = hash_array(np.arange(first_row, first_row + m, dtype=np.uint64) ^ key)
        return u < np.uint64(min(int(self.fraction * 2.0**64), 2**64 - 1))


class SplitRows:
    """The training rows (``held=False``) or the held-out rows (``held=True``) of ``source``.

    Everything a :class:`~gradstep.data.stream.StreamBatches` needs: ``n_rows`` and
    ``piece_rows`` count the kept rows (computed from the row indices alone, without reading
    the data, when the source knows its pieces), ``read(pieces, skip)`` hands out the kept rows
    of those pieces (``skip`` counts kept rows), ``map_reduce`` reduces over them.
    """

    def __init__(self, source: Any, split: RowSplit, held: bool) -> None:
        self.source, self.split, self.held = source, split, held
        self.description = f"{source.description} ({'held-out' if held else 'training'} rows)"
        self.feature_names, self.target_name = source.feature_names, source.target_name
        pieces = source.piece_rows
        self.piece_rows: tuple[int, ...] | None = None
        self.n_rows: int | None = None
        if pieces is not None:
            self._starts = np.concatenate([[0], np.cumsum(pieces)]).astype(np.int64)
            self.piece_rows = tuple(int(np.count_nonzero(self._keep(int(s), m)))
                                    for s, m in zip(self._starts[:-1], pieces))
            self.n_rows = int(sum(self.piece_rows))

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def _keep(self, first_row: int, m: int) -> np.ndarray:
        mask = self.split.held(first_row, m)
        return mask if self.held else ~mask

    def count_rows(self) -> int:
        """The kept rows (a source that counts its rows by reading them reads them once)."""
        if self.n_rows is None:
            n = self.source.n_rows if self.source.n_rows is not None else self.source.count_rows()
            self.n_rows = int(np.count_nonzero(self._keep(0, int(n))))
        return self.n_rows

    def _indexed(self, pieces: Sequence[int] | None) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """The chunks of ``pieces`` with the index of their first row (a chunk never straddles two pieces)."""
        if pieces is None and self.source.piece_rows is None:  # read in order: a running count
            first = 0
            for X, y in self.source.read():
                yield X, y, first
                first += X.shape[0]
            return
        order = list(range(len(self.source.piece_rows)) if pieces is None else pieces)
        at, left = -1, 0
        for X, y in self.source.read(order):
            while left == 0:
                at += 1
                left = self.source.piece_rows[order[at]]
            yield X, y, int(self._starts[order[at]]) + self.source.piece_rows[order[at]] - left
            left -= X.shape[0]

    def read(self, pieces: Sequence[int] | None = None, skip: int = 0) -> Iterator[Chunk]:
        if self.piece_rows is not None:  # whole pieces skipped without reading them
            order = list(range(len(self.piece_rows)) if pieces is None else pieces)
            while order and skip >= self.piece_rows[order[0]]:
                skip -= self.piece_rows[order.pop(0)]
            pieces = order
        for X, y, first in self._indexed(pieces):
            keep = self._keep(first, X.shape[0])
            X, y = X[keep], y[keep]
            if skip:
                X, y, skip = X[skip:], y[skip:], max(0, skip - X.shape[0])
            if X.shape[0]:
                yield X, y

    def map_reduce(self, fn: Callable[[np.ndarray, np.ndarray], Any], combine: Callable[[Any, Any], Any]) -> Any:
        total = self.source.map_reduce(KeptRows(fn, self.split, self.held), SkipEmpty(combine), indexed=True)
        if total is None:
            from .readers.common import DataError

            raise DataError(f"{self.description}: there are no rows", path=None)
        return total


@dataclass(frozen=True)
class KeptRows:
    """``fn`` of the kept rows of a chunk whose first row is ``first_row`` (picklable: Dask ships it)."""

    fn: Callable[[np.ndarray, np.ndarray], Any]
    split: RowSplit
    held: bool

    def __call__(self, X: np.ndarray, y: np.ndarray, first_row: int) -> Any:
        """``fn`` of the kept rows; None when the chunk keeps none (:class:`SkipEmpty` passes it over)."""
        mask = self.split.held(first_row, X.shape[0])
        keep = mask if self.held else ~mask
        return self.fn(X[keep], y[keep]) if keep.any() else None


@dataclass(frozen=True)
class SkipEmpty:
    """``combine`` with None (a chunk without kept rows) as its neutral element."""

    combine: Callable[[Any, Any], Any]

    def __call__(self, a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else self.combine(a, b)


__all__ = ["KeptRows", "RowSplit", "SkipEmpty", "SplitRows"]
