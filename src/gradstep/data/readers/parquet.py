"""Parquet files as :class:`_ParquetSource`: the schema is read first, then only the columns needed,
with pyarrow (imported when a Parquet file is read, never before)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .common import DataError, _brief, _Column, _column_from_text, _DenseSource, _err, _first, _show

BATCH_ROWS = 65_536
"""Rows read (and copied into the destination) at a time."""
_PARQUET_HINT = "check that the file is complete (an interrupted copy or download truncates it) or export it again"


def _labels(arr: Any) -> np.ndarray:
    """Class labels of a numeric column: its own NumPy array when it has no nulls (no Python objects made)."""
    import pyarrow as pa

    t = arr.type
    if arr.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        return np.asarray(arr.to_numpy())
    return np.array(arr.to_pylist(), dtype=object)


class _ParquetSource(_DenseSource):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import pyarrow.parquet as pq

        try:
            meta = pq.read_metadata(path)
            schema = meta.schema.to_arrow_schema()
            self.n_rows = int(meta.num_rows)
        except Exception as err:  # pyarrow raises many kinds on a corrupt file
            raise _err(path, f"cannot be read as Parquet ({_brief(err)})",
                       _PARQUET_HINT) from None
        self.names = [str(n) for n in schema.names]
        seen: set[str] = set()
        for name in self.names:
            if name in seen:
                raise _err(path, f"two columns are named {_show(name)}", "give every column a different name",
                           column=name)
            seen.add(name)
        self.types = {str(f.name): f.type for f in schema}
        self.index_columns: set[str] = set()
        try:
            meta_pd = schema.pandas_metadata or {}
            self.index_columns = {c for c in meta_pd.get("index_columns", []) if isinstance(c, str)}
        except Exception:
            pass

    def _kind(self, name: str) -> str:
        import pyarrow as pa

        t = self.types[name]
        if pa.types.is_dictionary(t):
            t = t.value_type
        if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                or pa.types.is_decimal(t) or pa.types.is_null(t)):
            return "numeric"
        is_string_view = getattr(pa.types, "is_string_view", lambda _: False)
        if pa.types.is_string(t) or pa.types.is_large_string(t) or is_string_view(t):
            return "text"
        return "other"

    def skip_reason(self, name: str) -> str | None:
        if name in self.index_columns:
            return "pandas index"
        kind = self._kind(name)
        return None if kind == "numeric" else ("not numeric" if kind == "text" else f"type {self.types[name]}")

    def numeric(self, names: Sequence[str]) -> bool:
        """Whether every column of ``names`` holds numbers (so it can be filled into a float64 array)."""
        return all(self._kind(name) == "numeric" for name in names)

    def batches(self, features: Sequence[str], target: str, batch_rows: int | None = None) -> Iterator[Any]:
        """The columns ``features`` and ``target`` as record batches of ``batch_rows`` rows, one after the other."""
        import pyarrow.parquet as pq

        try:
            with pq.ParquetFile(self.path, pre_buffer=False) as pf:  # pre-buffering would hold the whole file
                yield from pf.iter_batches(batch_size=batch_rows or BATCH_ROWS, columns=[*features, target],
                                           use_pandas_metadata=False)
        except Exception as err:
            raise self._unreadable(err) from None

    def column(self, name: str, arr: Any) -> _Column:
        """One column from its Arrow data (an array or a chunked array, possibly only its first rows)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            if isinstance(arr, list):
                arr = pa.chunked_array(arr, type=arr[0].type if arr else self.types[name])
            if pa.types.is_dictionary(arr.type):
                arr = pc.cast(arr, arr.type.value_type)
            kind = self._kind(name)
            null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            if kind == "text":
                return _column_from_text(name, arr.to_pylist(), typed_labels=True)
            if kind != "numeric":
                return _Column(name, np.full(len(arr), np.nan), null, cells=None, invalid=_first(~null),
                               type_name=f"type {arr.type}")
            values = np.array(pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False),
                              dtype=np.float64)  # a copy: arrow's buffers are read-only
            values[null] = np.nan
            missing = np.isnan(values)
            try:
                np_type = np.dtype(arr.type.to_pandas_dtype())
            except Exception:
                np_type = np.dtype(object)
            col = _Column(name, values, missing, cells=values, nonfinite=_first(np.isinf(values)),
                          n_numbers=int(values.size - missing.sum()), label_dtype=np_type)
            col.labels = lambda arr=arr: _labels(arr)
            return col
        except Exception as err:
            raise self._unreadable(err) from None

    def _unreadable(self, err: BaseException) -> DataError:
        return err if isinstance(err, DataError) else _err(
            self.path, f"cannot be read as Parquet ({_brief(err)})", _PARQUET_HINT)

    def columns(self, names: Sequence[str]) -> dict[str, _Column]:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(self.path, columns=list(names), use_pandas_metadata=False)
        except Exception as err:
            raise self._unreadable(err) from None
        return {name: self.column(name, table.column(name)) for name in names}
