r"""Gradient descent on Dask arrays and DataFrames: the rows stay in their blocks, on the workers.

Every loss gradstep fits is a mean over rows, so over the row blocks :math:`B_1, \dots, B_b`
of the data (:math:`n = \sum_c m_c` rows in all)

.. math::

    \nabla f(\theta) = \frac1n \sum_{c=1}^{b} \sum_{i \in B_c} \nabla \ell_i(\theta)
    + \alpha \nabla R(W).

:class:`DaskRows` is a row source (:class:`gradstep.data.stream.RowSource`) over the blocks:

* ``map_reduce(fn, combine)`` runs ``fn`` on every block *where the block is* (a Dask task per
  block, on the workers of the active scheduler: a ``distributed`` cluster, threads or
  the synchronous scheduler), adds the results in a tree of ``combine`` tasks and brings back one
  small result with one ``dask.compute``. A full-batch gradient step, and the one-pass summary of
  :func:`gradstep.models.streaming.summarise`, are thus one round trip to the cluster that ships
  :math:`O(d\,k)` numbers each way, not the rows. Every value is checked finite (a
  :class:`~gradstep.data.readers.DataError` names the block, row and column of the first bad one)
  on the first full pass, which is the summary's; later passes compute the same blocks from the
  same graph and skip the check;
* ``read(pieces, skip)`` brings the blocks to this process one at a time (mini-batch epochs run
  here, through the compiled loops, on one block at a time; a shuffled epoch visits the blocks
  in a seeded order).

The loop is the one of :meth:`~gradstep.models.base.GradientDescentModel.fit`, so the iterates are
those of the in-memory fit up to rounding (the sums are added in another order). Data that is
read again every step (a full-batch classifier) is best ``persist``-ed on the cluster first.

:func:`client` opens a cluster (a local one of ``workers`` processes, or a running scheduler) for
the time of a ``with`` block; :func:`read_parquet` reads Parquet files lazily with Dask.

Examples
--------
>>> import dask
>>> import dask.array as da
>>> import numpy as np
>>> from gradstep import LinearRegression
>>> x = np.linspace(0, 1, 200)[:, None]
>>> X, y = da.from_array(x, chunks=50), da.from_array(3 * x[:, 0] - 1, chunks=50)
>>> rows = DaskRows(X, y)
>>> rows.description, rows.piece_rows
('dask array (200 rows, 1 columns, 4 blocks)', (50, 50, 50, 50))
>>> with dask.config.set(scheduler="synchronous"):
...     model = LinearRegression(epochs=2000, tol=None).fit(X, y)
>>> np.round(model.coef_, 3), round(float(model.intercept_), 3)
(array([3.]), -1.0)
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .data.readers.common import DataError, _names, _show

Chunk = tuple[np.ndarray, np.ndarray]
SPLIT_EVERY = 8
"""Block results combined by one task of ``map_reduce``'s tree."""


class DaskRows:
    """A row source over a 2-D Dask array ``X`` and its targets ``y``, one piece per row block.

    Parameters
    ----------
    X : dask.array.Array of shape (n, d), or dask.dataframe.DataFrame
        The features. Blocks are rows only: the columns are rechunked into one block.
        Row blocks of unknown size (from a DataFrame) are measured first (one pass); empty
        blocks are left out.
    y : dask.array.Array, dask Series, NumPy array or str
        The ``n`` targets (rechunked to the row blocks of ``X``), or, for a DataFrame ``X``,
        the name of its target column.
    feature_names : sequence of str, optional
        Default: ``x0, x1, ...`` for an array, the columns for a DataFrame.
    features : sequence of str, optional
        The feature columns of a DataFrame (default: every numeric column but the target).
    target_name : str, optional
        Default: the name of ``y`` (``"y"`` for an unnamed array).
    description : str, optional
        What the rows are, for messages and checkpoints.
    """

    def __init__(self, X: Any, y: Any, *, feature_names: Sequence[str] | None = None,
                 features: Sequence[str] | None = None, target_name: str | None = None,
                 description: str | None = None) -> None:
        import dask.dataframe as dd

        kind = "dask array"
        if isinstance(X, dd.DataFrame):
            kind = "dask dataframe"
            X, y, names, target = _from_frame(X, y, features)
            feature_names = feature_names or names
            target_name = target_name or target
        elif features is not None:
            raise ValueError("features= picks DataFrame columns; for an array give feature_names=")
        _check_features(X)
        y, target_name = _target(y, target_name)
        X, y, rows = _row_blocks(X, y)
        n, d = int(X.shape[0]), int(X.shape[1])
        self.X, self.y = X, y
        names = tuple(str(f) for f in feature_names) if feature_names is not None else \
            tuple(f"x{j}" for j in range(d))
        if len(names) != d:
            raise ValueError(f"{len(names)} feature names for {d} columns")
        self.feature_names, self.target_name = names, str(target_name or "y")
        self.n_rows = n
        self.piece_rows: tuple[int, ...] = rows if n else ()   # always known: the row blocks
        self._starts = np.concatenate([[0], np.cumsum(self.piece_rows)]).astype(np.int64)
        self._delayed: list | None = None
        self._checked = False  # every block checked finite by a full pass (the graph gives the same values again)
        self.description = description or f"{kind} ({n} rows, {d} columns, {len(self.piece_rows)} blocks)"

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def n_blocks(self) -> int:
        return len(self.piece_rows)

    def _blocks(self) -> list[Any]:
        """The delayed blocks of ``[X, y]``, in order: one array, so that what ``X`` and ``y`` share
        (e.g. the read of a Parquet partition) is computed once a block; the graphs are optimised
        once, then kept."""
        if self._delayed is None:
            import dask.array as da

            both = da.concatenate([self.X, self.y[:, None]], axis=1).rechunk({1: self.n_features + 1})
            self._delayed = list(both.to_delayed().ravel())[: self.n_blocks]
        return self._delayed

    def _check(self, p: int, check: bool = True) -> _Block:
        return _Block(p, int(self._starts[p]), self.description, self.feature_names, self.target_name, check)

    def read(self, pieces: Sequence[int] | None = None, skip: int = 0) -> Iterator[Chunk]:
        """The blocks ``pieces`` (all, in order, by default), less the first ``skip`` rows.

        Each block is computed once, from its optimised graph (:meth:`_blocks`); on a
        ``distributed`` cluster the next block is already being computed (and sent) while this
        one is used, so the transfers overlap the descent.
        """
        order = [int(p) for p in (range(self.n_blocks) if pieces is None else pieces)]
        wanted = []
        for p in order:   # blocks wholly inside ``skip`` are not computed
            if skip >= self.piece_rows[p]:
                skip -= self.piece_rows[p]
            else:
                wanted.append(p)
        fetch = _Fetcher(self._blocks(), wanted)
        for i, p in enumerate(wanted):
            rows = fetch(i)
            X, y = self._check(p).clean(rows[:, :-1], rows[:, -1])
            if skip:
                X, y, skip = X[skip:], y[skip:], 0
            yield X, y

    def map_reduce(self, fn: Callable[..., Any], combine: Callable[[Any, Any], Any], indexed: bool = False) -> Any:
        """``combine`` of ``fn(X, y)`` over the blocks: ``fn`` runs on the workers, the results are
        combined in a tree of tasks there, and one result comes back (one ``dask.compute``).
        The blocks are checked finite until one call has gone through them all. ``indexed``:
        ``fn(X, y, first_row)``, with the index of the block's first row."""
        import dask

        if not self.n_blocks:
            raise DataError(f"{self.description}: there are no rows")
        apply = dask.delayed(_apply, pure=False)
        check = not self._checked
        parts = [apply(fn, self._check(p, check), b, indexed) for p, b in enumerate(self._blocks())]
        join = dask.delayed(_combine, pure=False)
        while len(parts) > 1:  # a tree of fan-in SPLIT_EVERY: few tasks, each adding a few small results
            parts = [join(combine, *parts[i:i + SPLIT_EVERY]) for i in range(0, len(parts), SPLIT_EVERY)]
        (total,) = dask.compute(parts[0], optimize_graph=False)  # the blocks' graphs are optimised already
        self._checked = True
        return total

    def persist(self) -> DaskRows:
        """The same rows, their blocks computed and kept in the cluster's memory (for many passes)."""
        import dask

        out = object.__new__(DaskRows)
        out.__dict__.update(self.__dict__)
        out.X, out.y = dask.persist(self.X, self.y)
        out._delayed = None
        return out

    def __repr__(self) -> str:
        return f"DaskRows({self.description})"


class _Fetcher:
    """The computed blocks ``wanted`` of ``delayed`` ones, in turn: with a ``distributed`` client, block
    ``i + 1`` is submitted when block ``i`` is asked for (one in flight); else computed on demand."""

    def __init__(self, delayed: Sequence[Any], wanted: Sequence[int]) -> None:
        self.delayed, self.wanted = delayed, list(wanted)
        try:
            from distributed import default_client

            self.client: Any = default_client()
        except (ImportError, ValueError):  # no distributed client: Dask's local scheduler
            self.client = None
        self.futures: dict[int, Any] = {}

    def _submit(self, i: int) -> None:
        if self.client is not None and i < len(self.wanted) and i not in self.futures:
            self.futures[i] = self.client.compute(self.delayed[self.wanted[i]], optimize_graph=False)

    def __call__(self, i: int) -> Any:
        import dask

        if self.client is None:
            return dask.compute(self.delayed[self.wanted[i]], optimize_graph=False)[0]
        self._submit(i)
        self._submit(i + 1)
        return self.client.gather(self.futures.pop(i))


class _Block:
    """Where a block is (its index and first row) and how to clean it: float64, C-contiguous, finite."""

    def __init__(self, index: int, first_row: int, description: str, names: Sequence[str], target: str,
                 check: bool = True) -> None:
        self.index, self.first_row, self.description = index, first_row, description
        self.names, self.target, self.check = tuple(names), target, check

    def clean(self, X: Any, y: Any) -> Chunk:
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        if not self.check or math.isfinite(float(X.sum())) and math.isfinite(float(y.sum())):
            return X, y
        bad_x, bad_y = ~np.isfinite(X), ~np.isfinite(y)
        rows = np.flatnonzero(bad_x.any(axis=1) | bad_y)
        if rows.size == 0:  # a sum overflowed, no value is bad
            return X, y
        i = int(rows[0])
        column = self.target if bad_y[i] else self.names[int(np.flatnonzero(bad_x[i])[0])]
        value = y[i] if bad_y[i] else X[i, self.names.index(column)]
        what = ("missing value (NaN)" if np.isnan(value)
                else f"value {value} (infinite, or too large for a 64-bit float)")
        row = self.first_row + i + 1
        raise DataError(f"{self.description}, block {self.index}, row {row} (index {row - 1}), column "
                        f"{_show(column)}: {what}; drop or fill the rows with missing values (e.g. "
                        "dropna() or fillna()) before fitting, or fix the value", row=row, column=column)


def _combine(combine: Callable, *parts: Any) -> Any:
    """``combine`` of ``parts`` from left to right (a task on a worker)."""
    total = parts[0]
    for p in parts[1:]:
        total = combine(total, p)
    return total


def _apply(fn: Callable, block: _Block, rows: Any, indexed: bool = False) -> Any:
    """``fn`` on one block ``[X, y]``, checked (a task on a worker); ``indexed``: with the block's first row."""
    X, y = block.clean(rows[:, :-1], rows[:, -1])
    return fn(X, y, block.first_row) if indexed else fn(X, y)


def _check_features(X: Any) -> None:
    """Refuse an ``X`` that is not a 2-D dask array."""
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a 2-D dask array or a dask DataFrame, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features), got a dask array of shape {X.shape}")


def _target(y: Any, target_name: str | None) -> tuple[Any, str | None]:
    """The targets as a 1-D dask or NumPy array, and their name (given, else the Series' own)."""
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(y, str):
        raise TypeError("y can be a column name only when X is a dask DataFrame")
    if isinstance(y, dd.Series):
        target_name = target_name or (str(y.name) if y.name is not None else None)
        y = y.to_dask_array(lengths=True)
    elif not isinstance(y, da.Array):
        name = getattr(y, "name", None)
        target_name = target_name or (str(name) if isinstance(name, str) else None)
        y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one target per row), got shape {y.shape}")
    return y, target_name


def _row_blocks(X: Any, y: Any) -> tuple[Any, Any, tuple[int, ...]]:
    """``X`` (checked by :func:`_check_features`) and ``y`` (by :func:`_target`) in float64, both in the same
    row blocks (the non-empty blocks of ``X``, measured first where unknown) and ``X``'s columns in one block;
    and the blocks' row counts."""
    import dask.array as da

    for a in (X, y):
        if isinstance(a, da.Array) and a.dtype.kind not in "biuf":
            raise TypeError(f"the rows must be numbers; got a dask array of dtype {a.dtype}")
    if any(math.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if isinstance(y, da.Array) and any(math.isnan(c) for c in y.chunks[0]):
        y = y.compute_chunk_sizes()
    n, d = int(X.shape[0]), int(X.shape[1])
    if y.shape[0] != n:
        raise ValueError(f"X and y have different numbers of rows: X has {n}, y has {y.shape[0]}; "
                         "give one target per row")
    rows = tuple(int(c) for c in X.chunks[0] if c > 0) or (0,)
    X = X.astype(np.float64).rechunk((rows, (d,)))
    y = da.from_array(y.astype(np.float64), chunks=(rows,)) if isinstance(y, np.ndarray) \
        else y.astype(np.float64).rechunk((rows,))
    return X, y, rows


def _from_frame(df: Any, y: Any, features: Sequence[str] | None) -> tuple[Any, Any, tuple[str, ...], str | None]:
    """A DataFrame's feature columns and target as dask arrays with known row blocks."""
    import dask.dataframe as dd
    import pandas as pd

    columns = [str(c) for c in df.columns]
    target = None
    from_column = isinstance(y, str)
    if from_column:
        if y not in columns:
            raise ValueError(f"no column {_show(y)}; the columns are {_names(columns)}")
        target = y
        y = df[target]
    elif isinstance(y, dd.Series):
        target = None if y.name is None else str(y.name)
    numeric = {str(c): pd.api.types.is_numeric_dtype(t) for c, t in df.dtypes.items()}
    if features is None:
        features = [c for c in columns if c != target and numeric[c]]
        if not features:
            raise ValueError(f"no numeric feature column among {_names(columns)}; list them with features=")
    features = [str(f) for f in features]
    for f in features:
        if f not in numeric:
            raise ValueError(f"no column {_show(f)}; the columns are {_names(columns)}")
        if not numeric[f]:
            raise ValueError(f"column {_show(f)} is not numeric (dtype {df.dtypes[f]}); convert it or leave it "
                             "out of features=")
    if target is not None and not numeric[target]:
        raise ValueError(f"the target column {_show(target)} is not numeric (dtype {df.dtypes[target]})")
    if from_column and target not in features:
        # features and target in one pass over the partitions (their lengths measured once)
        # (block sizes measured on the array itself: lengths=True can disagree with the optimised
        # partitions of a projected read_parquet)
        both = df[[*features, target]].to_dask_array().compute_chunk_sizes()
        return both[:, :-1], both[:, -1], tuple(features), target
    X = df[features].to_dask_array()
    if isinstance(y, dd.Series):
        y = y.to_dask_array()
    return X, y, tuple(features), target


def read_parquet(path: str | os.PathLike | Sequence[str | os.PathLike], target: str,
                 features: Sequence[str] | None = None, **kwargs: Any) -> DaskRows:
    """Parquet files (a file, a folder, a glob, or a list of files) read lazily by :func:`dask.dataframe.read_parquet`.

    ``features`` default to every numeric column but ``target``; ``kwargs`` go to Dask's reader.
    The blocks are the row groups (``split_row_groups=True``, as the pieces of
    :class:`~gradstep.data.stream.ParquetRows`), unless ``kwargs`` say otherwise: small blocks
    spread the one-pass summary over the workers, and a mini-batch epoch fetches the next block
    while it descends on this one.
    """
    import dask.dataframe as dd

    paths = os.fspath(path) if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path]
    text = paths if isinstance(paths, str) else f"{paths[0]} and {len(paths) - 1} more files"
    kwargs.setdefault("split_row_groups", True)
    try:
        df = dd.read_parquet(paths, **kwargs)
    except (OSError, ValueError) as err:
        from .data.readers.common import _brief

        raise DataError(f"{text}: cannot be read as Parquet ({_brief(err)}); check the path", path=text) from None
    rows = DaskRows(df, target, features=features)
    rows.description = f"{text} (dask: {rows.n_rows} rows, {rows.n_features} columns, {rows.n_blocks} blocks)"
    return rows


@contextlib.contextmanager
def client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` for a ``with`` block: to the running ``scheduler`` (``"tcp://HOST:8786"``),
    or to a local cluster of ``workers`` single-threaded processes on 127.0.0.1. Both are closed on exit."""
    if scheduler is not None and workers is not None:
        raise ValueError("give either scheduler (the address of a running cluster) or workers (to start a "
                         "local one), not both")
    if scheduler is None and workers is None:
        raise ValueError("give scheduler='tcp://HOST:8786' (a running cluster) or workers=N (a local one)")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise ValueError(f"scheduler must be an address such as 'tcp://HOST:8786', got {scheduler!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral)
                                or workers < 1):
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is not None:
        c = Client(scheduler)
    else:
        assert workers is not None   # one of the two is given (checked above)
        # no dashboard; the scheduler's small HTTP server on a free port (not 8787, maybe taken)
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None, processes=True,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        try:
            c = Client(cluster)
        except BaseException:
            cluster.close()
            raise
    try:
        yield c
    finally:
        c.close()
        if cluster is not None:
            cluster.close()


__all__ = ["DaskRows", "client", "read_parquet"]
