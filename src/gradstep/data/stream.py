r"""Rows that do not fit in memory: Parquet files and CSV read piece by piece, batched as in memory.

A *row source* hands out its rows as NumPy chunks ``(X, y)`` (``X`` float64 of shape
``(m, d)``, ``y`` of shape ``(m,)``), never all at once:

* :class:`ParquetRows`: a Parquet file, a folder of them or a glob; its pieces are the
  row groups (read ``chunk_rows`` rows at a time), their sizes known from the metadata;
* :class:`CsvRows`: a CSV file read block by block by pyarrow's streaming reader (its
  row count is known only after a pass);
* :class:`gradstep.distributed.DaskRows`: the blocks of Dask arrays, on a cluster.

:func:`open_rows` picks the first two by the path. Peak memory is a few chunks and one
shuffle buffer, whatever the size of the files.

An epoch of :class:`StreamBatches` is one pass over the rows. In data order (``shuffle=False``)
the batches are exactly those of :class:`~gradstep.data.batching.Batches` over all the rows,
so a streamed fit gives the in-memory iterates. Shuffled, the epoch visits the pieces in an
order drawn from ``(seed, epoch)``, gathers consecutive pieces into buffers of at least
``buffer_rows`` rows and permutes the rows of buffer ``j`` with a permutation drawn from
``(seed, epoch, j)``: the same seed gives the same batches on every run and after a resume.
(This is a bounded shuffle, not a uniform permutation of all the rows.)

Examples
--------
>>> import os, tempfile
>>> import numpy as np, pandas as pd
>>> path = os.path.join(tempfile.mkdtemp(), "rows.parquet")
>>> pd.DataFrame({"x": np.arange(5.0), "y": 2 * np.arange(5.0)}).to_parquet(path, row_group_size=2)
>>> rows = open_rows(path, target="y")
>>> rows.feature_names, rows.n_rows, rows.piece_rows
(('x',), 5, (2, 2, 1))
>>> b = StreamBatches(rows, batch_size=3)
>>> [Xb.ravel().tolist() for Xb, Yb in b.epoch(0)]
[[0.0, 1.0, 2.0], [3.0, 4.0]]
"""

from __future__ import annotations

import glob
import math
import numbers
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .batching import BatchCount, check_batch_size
from .readers.common import DataError, _brief, _err, _names, _show

CHUNK_ROWS = 1 << 16
"""Rows read at a time by default."""
BUFFER_ROWS = 1 << 18
"""Rows shuffled together by default (about 44 MB for 20 float64 columns)."""

Chunk = tuple[np.ndarray, np.ndarray]
PARQUET_SUFFIXES = (".parquet", ".pq")

Paths = str | os.PathLike | Sequence[str | os.PathLike]   # a file, folder or glob, or a list of these


class RowSource(Protocol):
    """Rows handed out chunk by chunk.

    Attributes
    ----------
    description : str
        What the rows are, for messages and checkpoints (e.g. the paths).
    feature_names : tuple of str
        ``d`` names, the columns of ``X``.
    target_name : str
    n_rows : int or None
        Known up front (Parquet, Dask) or None until :meth:`count_rows`.
    piece_rows : tuple of int or None
        The rows of each piece, the units a shuffled epoch reorders; None when the pieces
        can only be read in order (CSV).
    """

    description: str
    feature_names: tuple[str, ...]
    target_name: str

    @property
    def n_rows(self) -> int | None:   # read-only here, so a source whose count is always known (an int) fits
        ...

    @property
    def piece_rows(self) -> tuple[int, ...] | None:
        ...

    def read(self, pieces: Sequence[int] | None = None, skip: int = 0) -> Iterator[Chunk]:
        """The chunks of ``pieces`` in that order (all, in order, by default), less the first ``skip`` rows."""
        ...

    def map_reduce(self, fn: Callable[..., Any], combine: Callable[[Any, Any], Any], indexed: bool = False) -> Any:
        """``combine`` of ``fn(X, y)`` over all chunks (where the chunks are: a cluster maps on its workers);
        ``indexed``: ``fn(X, y, first_row)``, with the index of the chunk's first row in all the rows."""
        ...


def sequential_map_reduce(source: RowSource, fn: Callable[..., Any], combine: Callable[[Any, Any], Any],
                          indexed: bool = False) -> Any:
    """``map_reduce`` by reading the chunks one after the other in this process (in order, so the
    index of a chunk's first row is the rows before it)."""
    total = None
    first = 0
    for X, y in source.read():
        part = fn(X, y, first) if indexed else fn(X, y)
        first += X.shape[0]
        total = part if total is None else combine(total, part)
    if total is None:
        raise DataError(f"{source.description}: there are no rows", path=None)
    return total


def _check_finite(X: np.ndarray, y: np.ndarray, names: Sequence[str], target: str, path: Path, first_row: int,
                  line_offset: int | None) -> None:
    """A DataError naming the file, row (or line) and column of the first missing or infinite value."""
    if math.isfinite(float(X.sum())) and math.isfinite(float(y.sum())):
        return
    bad_x, bad_y = ~np.isfinite(X), ~np.isfinite(y)
    rows = np.flatnonzero(bad_x.any(axis=1) | bad_y)
    if rows.size == 0:  # a sum overflowed, no value is bad
        return
    i = int(rows[0])
    column = target if bad_y[i] else names[int(np.flatnonzero(bad_x[i])[0])]
    value = y[i] if bad_y[i] else X[i, names.index(column)]
    what = "missing value" if np.isnan(value) else f"value {value} (infinite, or too large for a 64-bit float)"
    row = first_row + i + 1
    where = {"line": row + line_offset} if line_offset is not None else {"i": row - 1}
    raise _err(path, what, "drop or fill the rows with missing values before streaming the file, or fix the value",
               column=column, **where)


# --------------------------------------------------------------------------------------------- Parquet
def _parquet_files(path: Paths) -> list[Path]:
    if not isinstance(path, (str, os.PathLike)):  # several (e.g. a shell-expanded data/*.parquet)
        if not path:
            raise DataError("no Parquet file given", path=None)
        return [f for p in path for f in _parquet_files(p)]
    text = os.fspath(path)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"{text}: no file matches this pattern; check the path", path=text)
        return files
    p = Path(text)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in PARQUET_SUFFIXES)
        if not files:
            raise DataError(f"{p}: the folder holds no .parquet files; give a file, a folder of Parquet files "
                            f"or a pattern such as data/*.parquet", path=p)
        return files
    if not p.exists():
        raise DataError(f"{p}: no such file; check the path", path=p)
    return [p]


class ParquetRows:
    """The rows of one or more Parquet files, read row group by row group with pyarrow.

    Parameters
    ----------
    path : str, os.PathLike or a list of them
        A file, a folder (every ``.parquet`` / ``.pq`` file in it, sorted by name), a glob, or a
        list of these (read in the order given).
    target : str
        The column to predict.
    features : sequence of str, optional
        The feature columns; default every numeric column but the target (and a pandas index).
    chunk_rows : int
        Rows converted to NumPy at a time.
    """

    def __init__(self, path: Paths, target: str | None, features: Sequence[str] | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        import pyarrow.parquet as pq

        from .readers.parquet import _ParquetSource

        self.files = _parquet_files(path)
        self.description = (os.fspath(path) if isinstance(path, (str, os.PathLike))
                            else ", ".join(os.fspath(p) for p in path))
        self.chunk_rows = _positive("chunk_rows", chunk_rows)
        first = _ParquetSource(self.files[0])  # the schema, with the in-memory reader's checks
        if target is None:
            raise _err(self.files[0], f"no target column given; the columns are {_names(first.names)}",
                       "name the column to predict with target=")
        if target not in first.names:
            raise _err(self.files[0], f"no column {_show(target)}; the columns are {_names(first.names)}",
                       "name the column to predict with target=")
        if features is None:
            features = [n for n in first.names if n != target and first.skip_reason(n) is None]
            if not features:
                raise _err(self.files[0], "no numeric feature column", "list the features with features=")
        for name in [*features, target]:
            if name not in first.names:
                raise _err(self.files[0], f"no column {_show(name)}; the columns are {_names(first.names)}",
                           "list existing columns with features=")
            if first.skip_reason(name) is not None:
                raise _err(self.files[0], f"column {_show(name)} is not numeric ({first.skip_reason(name)})",
                           "stream numeric columns only (convert it, or leave it out of features=)", column=name)
        self.feature_names, self.target_name = tuple(str(f) for f in features), str(target)
        self._columns = [*self.feature_names, self.target_name]
        self._pieces: list[tuple[int, int]] = []
        rows: list[int] = []
        for i, f in enumerate(self.files):
            try:
                meta = pq.read_metadata(f)
                names = set(meta.schema.to_arrow_schema().names)
            except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds on a bad file
                raise _err(f, f"cannot be read as Parquet ({_brief(err)})",
                           "check that the file is complete or export it again") from None
            missing = [c for c in self._columns if c not in names]
            if missing:
                raise _err(f, f"has no column {_show(missing[0])}, which {self.files[0].name} has",
                           "give files with the same columns", column=missing[0])
            for g in range(meta.num_row_groups):
                self._pieces.append((i, g))
                rows.append(int(meta.row_group(g).num_rows))
        self.piece_rows = tuple(rows)
        self.n_rows = int(sum(rows))
        self._starts = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self._file_starts: dict[int, int] = {}  # the first row of each file, for messages
        for (i, _), start in zip(self._pieces, self._starts[:-1]):
            self._file_starts.setdefault(i, int(start))
        self._open: dict[int, Any] = {}

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def __getstate__(self) -> dict:  # open files do not pickle (Dask ships sources to workers)
        return {**self.__dict__, "_open": {}}

    def _file(self, i: int) -> Any:
        import pyarrow.parquet as pq

        if i not in self._open:
            self._open[i] = pq.ParquetFile(self.files[i])
        return self._open[i]

    def _to_numpy(self, batch: Any) -> Chunk:
        import pyarrow as pa
        import pyarrow.compute as pc

        m, d = batch.num_rows, self.n_features
        X = np.empty((m, d), dtype=np.float64)
        cols = []
        for j in range(len(self._columns)):
            col = batch.column(j)
            if pa.types.is_dictionary(col.type):
                col = pc.cast(col, col.type.value_type)
            if col.type != pa.float64():
                col = pc.cast(col, pa.float64(), safe=False)
            cols.append(col.to_numpy(zero_copy_only=False))  # nulls become NaN
        for j in range(d):
            X[:, j] = cols[j]
        return X, np.array(cols[d], dtype=np.float64)

    def read(self, pieces: Sequence[int] | None = None, skip: int = 0) -> Iterator[Chunk]:
        order = range(len(self._pieces)) if pieces is None else pieces
        for p in order:
            rows = self.piece_rows[p]
            if skip >= rows:
                skip -= rows
                continue
            i, g = self._pieces[p]
            first_row = int(self._starts[p]) - self._file_starts[i]
            try:
                batches = self._file(i).iter_batches(batch_size=self.chunk_rows, row_groups=[g],
                                                     columns=self._columns, use_pandas_metadata=False)
                for rb in batches:
                    X, y = self._to_numpy(rb)
                    _check_finite(X, y, self.feature_names, self.target_name, self.files[i], first_row, None)
                    first_row += X.shape[0]
                    if skip:
                        X, y, skip = X[skip:], y[skip:], max(0, skip - X.shape[0])
                    if X.shape[0]:
                        yield X, y
            except DataError:
                raise
            except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds on a bad file
                raise _err(self.files[i], f"cannot be read as Parquet ({_brief(err)})",
                           "check that the file is complete or export it again") from None

    def map_reduce(self, fn: Callable, combine: Callable, indexed: bool = False) -> Any:
        return sequential_map_reduce(self, fn, combine, indexed)


# --------------------------------------------------------------------------------------------- CSV
class CsvRows:
    """The rows of a CSV file, read in blocks by pyarrow's streaming CSV reader.

    Parameters
    ----------
    path : str or os.PathLike
    target : str
        The column to predict (default: the last column).
    features : sequence of str, optional
        Default: every other column.
    delimiter : str, optional
        Default: detected from the header among ``, ; tab |``.
    chunk_bytes : int
        Bytes parsed at a time.
    """

    def __init__(self, path: str | os.PathLike, target: str | None = None, features: Sequence[str] | None = None,
                 delimiter: str | None = None, chunk_bytes: int = 1 << 23) -> None:
        self.path = Path(path)
        self.description = os.fspath(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file; check the path", path=self.path)
        self.chunk_bytes = _positive("chunk_bytes", chunk_bytes)
        with open(self.path, "rb") as f:
            head = f.readline(1 << 20).decode("utf-8-sig", errors="replace").rstrip("\r\n")
        if not head.strip():
            raise _err(self.path, "the first line (the header) is empty", "start the file with a header row", line=1)
        if delimiter is None:
            delimiter = max([",", ";", "\t", "|"], key=head.count)
        self.delimiter = "\t" if delimiter in ("\\t", "tab") else delimiter
        names = [n.strip().strip('"') for n in head.split(self.delimiter)]
        self._all = names
        target = names[-1] if target is None else target
        if target not in names:
            raise _err(self.path, f"no column {_show(target)}; the columns are {_names(names)}",
                       "name the column to predict with target=", line=1)
        if features is None:
            features = [n for n in names if n != target]
        for name in features:
            if name not in names:
                raise _err(self.path, f"no column {_show(name)}; the columns are {_names(names)}",
                           "list existing columns with features=", line=1)
        self.feature_names, self.target_name = tuple(features), str(target)
        self.piece_rows = None
        self.n_rows: int | None = None

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def _brief(self, err: BaseException) -> str:
        """pyarrow's message with its 0-based ``CSV column #j`` named: ``column 'b' (column 2 of the file)``."""
        def named(m: re.Match) -> str:
            j = int(m.group(1))
            return f"column {_show(self._all[j])} (column {j + 1} of the file)" if j < len(self._all) else m.group(0)

        return re.sub(r"CSV column #(\d+)", named, _brief(err))

    def count_rows(self) -> int:
        """Read the file once to count its rows (checking every value on the way)."""
        if self.n_rows is None:
            self.n_rows = sum(X.shape[0] for X, _ in self.read())
        return self.n_rows

    def read(self, pieces: Sequence[int] | None = None, skip: int = 0) -> Iterator[Chunk]:
        if pieces is not None:
            raise ValueError("a CSV file is read in order: its pieces cannot be chosen")
        import pyarrow as pa
        import pyarrow.csv as pcsv

        cols = [*self.feature_names, self.target_name]
        try:
            reader = pcsv.open_csv(
                self.path,
                read_options=pcsv.ReadOptions(block_size=self.chunk_bytes),
                parse_options=pcsv.ParseOptions(delimiter=self.delimiter),
                convert_options=pcsv.ConvertOptions(include_columns=cols,
                                                    column_types={c: pa.float64() for c in cols}))
        except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds on a bad file
            raise _err(self.path, f"cannot be read as CSV ({self._brief(err)})",
                       "check the delimiter (delimiter=) and that every value is a number") from None
        first_row = 0
        while True:
            try:
                rb = reader.read_next_batch()
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds on a bad file
                raise _err(self.path, f"cannot be read as CSV near data row {first_row + 1} or after "
                           f"({self._brief(err)})", "make every value of the used columns a number") from None
            m = rb.num_rows
            X = np.empty((m, self.n_features))
            for j in range(self.n_features):
                X[:, j] = rb.column(j).to_numpy(zero_copy_only=False)
            y = np.asarray(rb.column(self.n_features).to_numpy(zero_copy_only=False), dtype=np.float64)
            _check_finite(X, y, self.feature_names, self.target_name, self.path, first_row, 1)
            first_row += m
            if skip:
                X, y, skip = X[skip:], y[skip:], max(0, skip - m)
            if X.shape[0]:
                yield X, y

    def map_reduce(self, fn: Callable, combine: Callable, indexed: bool = False) -> Any:
        return sequential_map_reduce(self, fn, combine, indexed)


def open_rows(path: Paths, target: str | None = None, features: Sequence[str] | str | None = None,
              *, chunk_rows: int = CHUNK_ROWS, delimiter: str | None = None) -> RowSource:
    """A row source for ``path``: Parquet (a ``.parquet``/``.pq`` file, a folder, a glob, or several of
    these in a list) or CSV (anything else).

    ``features`` may be a list or a comma-separated string.
    """
    try:
        import pyarrow  # noqa: F401 - both readers are pyarrow's
    except ImportError:
        raise ImportError("reading files in chunks needs pyarrow: pip install 'gradstep[parquet]'") from None
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    if not isinstance(path, (str, os.PathLike)):
        if len(path) != 1:
            return ParquetRows(list(path), target, features, chunk_rows)
        path = path[0]
    text = os.fspath(path)
    if Path(text).is_dir() or any(ch in text for ch in "*?[") or Path(text).suffix.lower() in PARQUET_SUFFIXES:
        return ParquetRows(path, target, features, chunk_rows)
    return CsvRows(path, target, features, delimiter)


class ObservedRows:
    """A row source that reports the rows it reads: ``on_rows(m)`` after every chunk (a progress bar).

    Everything else reads through to ``source``. Rows summed on a cluster (``map_reduce`` of a
    Dask source) are reported when the reduction returns.
    """

    def __init__(self, source: Any, on_rows: Callable[[int], Any]) -> None:
        self.source, self.on_rows = source, on_rows

    def __getattr__(self, name: str) -> Any:
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)

    def read(self, pieces: Sequence[int] | None = None, skip: int = 0) -> Iterator[Chunk]:
        for X, y in self.source.read(pieces, skip):
            self.on_rows(X.shape[0])
            yield X, y

    def map_reduce(self, fn: Callable, combine: Callable, indexed: bool = False) -> Any:
        if getattr(self.source, "map_reduce", None) is not None and not isinstance(
                self.source, (ParquetRows, CsvRows)):
            total = self.source.map_reduce(fn, combine, indexed=indexed)
            self.on_rows(int(self.source.n_rows or 0))
            return total
        return sequential_map_reduce(self, fn, combine, indexed)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------- batches
def _windows(piece_rows: Sequence[int], order: np.ndarray, buffer_rows: int) -> list[list[int]]:
    """Consecutive pieces of ``order`` gathered until each group holds at least ``buffer_rows`` rows."""
    out: list[list[int]] = [[]]
    rows = 0
    for p in order:
        if rows >= buffer_rows:
            out.append([])
            rows = 0
        out[-1].append(int(p))
        rows += piece_rows[p]
    return out if out[0] else []


@dataclass
class StreamBatches(BatchCount):
    """The batches of a :class:`RowSource` for each epoch, with the interface of
    :class:`~gradstep.data.batching.Batches` (``epoch``, ``size``, ``full_batch``, ``data`` ...).

    Parameters
    ----------
    source : RowSource
    batch_size : int or None
        None (or at least the rows) is the full batch.
    shuffle : bool
        A bounded shuffle (see the module docstring); else data order.
    seed : int
    buffer_rows : int
        Rows shuffled together.
    prepare : callable, optional
        ``prepare(X, y) -> (X', Y')``: how the model sees a chunk (scaling, target encoding,
        another dtype); applied to every chunk as it is read.
    data : object, optional
        What the loop evaluates "on all the data" (the epoch's loss): by default a
        :class:`StreamData` that reads the rows again; a model may give a summary
        (e.g. :class:`~gradstep.objectives.SquaredStats`).
    """

    source: Any
    batch_size: int | None = None
    shuffle: bool = False
    seed: int = 0
    buffer_rows: int = BUFFER_ROWS
    prepare: Callable[[np.ndarray, np.ndarray], tuple] | None = None
    data: Any = None
    n_samples: int = field(init=False)

    def __post_init__(self) -> None:
        n = self.source.n_rows
        if n is None:
            n = self.source.count_rows()
        if n == 0:
            raise DataError(f"{self.source.description}: there are no rows", path=None)
        self.n_samples = int(n)
        check_batch_size(self.batch_size)
        self.buffer_rows = _positive("buffer_rows", self.buffer_rows)
        if self.data is None:
            self.data = StreamData(self.source, self.prepare)

    def _prepared(self, X: np.ndarray, y: np.ndarray) -> tuple:
        return (X, y[:, None]) if self.prepare is None else tuple(self.prepare(X, y))

    def rows(self, epoch: int, skip: int = 0) -> Iterator[tuple]:
        """The epoch's rows in order, as prepared chunks, less the first ``skip`` rows."""
        if not self.shuffle:
            for X, y in self.source.read(skip=skip):
                yield self._prepared(X, y)
            return
        for w, left, X, y in self._shuffle_windows(epoch, skip):
            perm = np.random.default_rng([self.seed, epoch, w]).permutation(X.shape[0])[left:]
            X, y = X[perm], y[perm]
            del perm  # only the permuted window stays alive while the next one is read
            yield self._prepared(X, y)
            del X, y

    def _shuffle_windows(self, epoch: int, skip: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """``(w, left, X, y)``: window ``w`` of a shuffled epoch and the rows of it to leave out (the
        rest of ``skip``). With the pieces' sizes known, whole windows inside ``skip`` are not read,
        and the others are read by one ``read`` call (a source may fetch ahead across windows)."""
        src = self.source
        if src.piece_rows is None:  # read in order, gathered into windows as the chunks come
            left = skip
            for w, chunks in enumerate(_buffered(src.read(), self.buffer_rows)):
                X, y = _joined(chunks)
                if left < X.shape[0]:
                    yield w, left, X, y
                left = max(0, left - X.shape[0])
            return
        order = np.random.default_rng([self.seed, epoch]).permutation(len(src.piece_rows))
        windows = _windows(src.piece_rows, order, self.buffer_rows)
        sizes = [sum(src.piece_rows[p] for p in win) for win in windows]
        first, left = 0, skip
        while first < len(windows) and left >= sizes[first]:
            left -= sizes[first]
            first += 1
        chunks = iter(src.read([p for win in windows[first:] for p in win]))
        for w in range(first, len(windows)):
            got: list[Chunk] = []
            rows = 0
            while rows < sizes[w]:  # a chunk never straddles two pieces, so never two windows
                c = next(chunks, None)
                if c is None:  # fewer rows than counted (the loop says the data changed)
                    break
                got.append(c)
                rows += c[0].shape[0]
            if rows > left:
                yield (w, left, *_joined(got))
            left = max(0, left - rows)

    def blocks(self, epoch: int, start: int = 0) -> Iterator[tuple]:
        """The epoch's rows from batch ``start`` on, in blocks whose rows are a multiple of the batch
        size (all but the last): every batch lies inside one block."""
        bs = self.size
        carry: tuple | None = None
        for chunk in self.rows(epoch, skip=start * bs):
            if carry is not None:  # the rows left over, completed by the head of this chunk: one batch
                need = bs - carry[0].shape[0]
                head = tuple(np.concatenate([a, b[:need]]) for a, b in zip(carry, chunk))
                chunk = tuple(b[need:] for b in chunk)
                carry = None
                if head[0].shape[0] < bs:  # this chunk was too short to complete it
                    carry = head
                    continue
                yield head
            m = chunk[0].shape[0]
            cut = m - m % bs
            if cut < m:
                carry = tuple(a[cut:] for a in chunk)
                chunk = tuple(a[:cut] for a in chunk)
            if cut:
                yield chunk
        if carry is not None:
            yield carry

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple]:
        """The batches of ``epoch`` from batch ``start`` on (the full batch: the data itself)."""
        if self.full_batch:
            if start == 0:
                yield self.data
            return
        bs = self.size
        for block in self.blocks(epoch, start):
            for lo in range(0, block[0].shape[0], bs):
                yield tuple(a[lo:lo + bs] for a in block)


def _joined(chunks: list[Chunk]) -> Chunk:
    """The rows of ``chunks`` as one chunk (no copy for one)."""
    if len(chunks) == 1:
        return chunks[0]
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def _buffered(chunks: Iterator[Chunk], buffer_rows: int) -> Iterator[list[Chunk]]:
    """Consecutive chunks gathered until each group holds at least ``buffer_rows`` rows."""
    group: list[Chunk] = []
    rows = 0
    for c in chunks:
        group.append(c)
        rows += c[0].shape[0]
        if rows >= buffer_rows:
            yield group
            group, rows = [], 0
    if group:
        yield group


@dataclass(frozen=True)
class StreamData:
    """All the rows of a source as one "batch" for :class:`~gradstep.objectives.ChunkedObjective`:
    the loss and gradient are added up chunk by chunk (``source.map_reduce``)."""

    source: Any
    prepare: Callable | None = None

    def sums(self, objective: Any, params: Any, grad: bool) -> Any:
        from ..objectives.chunked import ChunkSums, chunk_sums

        prepare = self.prepare

        def part(X: np.ndarray, y: np.ndarray) -> ChunkSums:
            batch = (X, y[:, None]) if prepare is None else tuple(prepare(X, y))
            return chunk_sums(objective, params, batch, grad)

        return self.source.map_reduce(part, _add)

    def __len__(self) -> int:
        return int(self.source.n_rows or 0)


def _add(a: Any, b: Any) -> Any:
    return a + b


__all__ = ["BUFFER_ROWS", "CHUNK_ROWS", "CsvRows", "ObservedRows", "ParquetRows", "RowSource", "StreamBatches",
           "StreamData", "open_rows", "sequential_map_reduce"]
