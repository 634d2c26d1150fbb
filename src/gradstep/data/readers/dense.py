"""Lean loading: Arrow record batches written straight into one preallocated float64 array.

A table of numbers becomes one C-ordered ``(n_rows, n_features)`` float64 array once: each batch's
columns are converted (nulls become NaN) and copied into their slice of the destination, and the
slice is checked for infinities and missing values as it is copied, so a bad cell deep in a large
file is found in the one read pass. Peak memory is the destination plus one batch. The target is
not copied: its Arrow chunks are kept, for the format's reader to turn into a column.

Examples
--------
>>> import pyarrow as pa
>>> batches = [pa.record_batch({"a": [1.0, 2.0], "b": [3, 4], "y": [0.5, 0.25]}),
...            pa.record_batch({"a": [5.0, None], "b": [6, 7], "y": [1.0, 2.0]})]
>>> filled = fill(batches, ["a", "b"], "y", n_rows=4, missing_is_error=True)
>>> filled.X.tolist()
[[1.0, 3.0], [2.0, 4.0], [5.0, 6.0], [nan, 7.0]]
>>> filled.rows, filled.problem, len(filled.target_chunks)
(4, Problem(row=3, feature=0, kind='missing'), 2)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Filled", "Problem", "as_float64", "fill"]


class Problem(NamedTuple):
    """The first bad feature cell: its 0-based row, the feature's position, ``"missing"`` or ``"infinite"``."""

    row: int
    feature: int
    kind: str


@dataclass
class Filled:
    """What :func:`fill` read: ``X`` (rows past ``rows`` unwritten), the target's chunks, the first problem."""

    X: np.ndarray
    rows: int = 0
    target_chunks: list[Any] = field(default_factory=list)
    problem: Problem | None = None


def as_float64(arr: Any) -> np.ndarray:
    """A numeric Arrow array (integers, floats, booleans, decimals, nulls, dictionaries of them) as float64.

    Nulls become NaN; a float64 array without nulls is not copied.

    >>> import pyarrow as pa
    >>> as_float64(pa.array([1, None, 3])).tolist()
    [1.0, nan, 3.0]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64(), safe=False)
    return arr.to_numpy(zero_copy_only=False)


def _first_problem(block: np.ndarray, missing_is_error: bool) -> tuple[int, int, str] | None:
    """The first (row-major) infinite cell of ``block``, or NaN cell when ``missing_is_error``."""
    finite = np.isfinite(block)
    if finite.all():
        return None
    bad = ~finite if missing_is_error else np.isinf(block)
    if not bad.any():
        return None
    row, col = divmod(int(np.argmax(bad)), block.shape[1])
    return row, col, "infinite" if np.isinf(block[row, col]) else "missing"


def fill(batches: Iterable[Any], features: Sequence[str], target: str, n_rows: int,
         missing_is_error: bool = False) -> Filled:
    """Copy the ``features`` of Arrow record ``batches`` into one float64 array of ``n_rows`` rows (at most).

    Parameters
    ----------
    batches : iterable of pyarrow.RecordBatch
        Holding the feature columns (numeric) and ``target``, in row order.
    features : sequence of str
        The columns of ``X``, in order.
    target : str
        The column whose chunks are kept in ``Filled.target_chunks``.
    n_rows : int
        Rows to allocate: exactly the rows, or an upper bound (``Filled.rows`` says how many were read).
    missing_is_error : bool
        Whether a NaN (a null or missing cell) is a problem; an infinity always is.

    Returns
    -------
    Filled
        The first problem is recorded and reading goes on to the end (so that a damaged later part
        of the file is still noticed); later cells are not checked.

    Raises
    ------
    ValueError
        When the batches hold more than ``n_rows`` rows.
    """
    X = np.empty((n_rows, len(features)), dtype=np.float64)
    filled = Filled(X)
    for batch in batches:
        start, stop = filled.rows, filled.rows + batch.num_rows
        if stop > n_rows:
            raise ValueError(f"more than the {n_rows} rows announced")
        block = X[start:stop]
        for j, name in enumerate(features):
            block[:, j] = as_float64(batch.column(name))
        filled.target_chunks.append(batch.column(target))
        filled.rows = stop
        if filled.problem is None and block.size:
            found = _first_problem(block, missing_is_error)
            if found is not None:
                filled.problem = Problem(start + found[0], found[1], found[2])
    return filled
