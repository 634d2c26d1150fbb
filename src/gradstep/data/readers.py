"""Read a table of numbers from a CSV file, with errors that name the file, row and column.

Examples
--------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "points.csv")
>>> _ = open(path, "w").write("x,y\\n1,3\\n2,5\\n")
>>> ds = read_csv(path, target="y")
>>> ds.X.ravel().tolist(), ds.y.tolist()
([1.0, 2.0], [3.0, 5.0])
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .datasets import Dataset


class DataError(ValueError):
    """Bad input data; the message names the file, row and column and says what to do."""


def _where(path: Path, row: int | None = None, column: str | None = None) -> str:
    parts = [str(path)]
    if row is not None:
        parts.append(f"line {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def read_csv(
    path: str | os.PathLike,
    target: str,
    features: Sequence[str] | None = None,
    delimiter: str | None = None,
) -> Dataset:
    """Read ``features`` (default: every other column) and ``target`` from a CSV file with a header row.

    Every cell used must be a finite number; the first bad one is reported with
    its line number (counting the header as line 1) and column.

    Raises
    ------
    DataError
        For a missing or empty file, an unknown column, a non-numeric, missing
        or infinite cell.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path (or leave it out to use the bundled data)")
    with open(path, "rb") as f:
        if not f.read(4096).strip(b" \t\r\n\xef\xbb\xbf"):
            raise DataError(f"{path}: the file is empty; it needs a header row and rows of numbers")
    try:
        df = pd.read_csv(path, sep=delimiter, engine="python" if delimiter is None else "c",
                         encoding="utf-8-sig", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; it needs a header row and rows of numbers") from None
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot be read as CSV ({err}); check the delimiter and quoting") from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.shape[0] == 0:
        raise DataError(f"{path}: the header has no rows under it")
    if target not in df.columns:
        raise DataError(f"{path}: no column {target!r} for --target; the columns are {list(df.columns)}")
    if features is None:
        features = [c for c in df.columns if c != target]
    else:
        unknown = [f for f in features if f not in df.columns]
        if unknown:
            raise DataError(f"{path}: no column(s) {unknown} for --features; the columns are {list(df.columns)}")
        if target in features:
            raise DataError(f"{path}: column {target!r} is the target and cannot also be a feature")
    if not features:
        raise DataError(f"{path}: there are no feature columns besides the target {target!r}")
    columns = list(features) + [target]
    values = np.empty((df.shape[0], len(columns)))
    for j, name in enumerate(columns):
        col = df[name]
        numeric = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(numeric))
        if bad.size:
            i = int(bad[0])
            cell = col.iloc[i]
            line = i + 2  # header is line 1
            if pd.isna(cell):
                raise DataError(f"{_where(path, line, name)}: missing value; fill or drop the row")
            if np.isinf(numeric[i]):
                raise DataError(f"{_where(path, line, name)}: infinite value {cell!r}; every cell must be finite")
            raise DataError(f"{_where(path, line, name)}: {cell!r} is not a number; every used column must be numeric")
        values[:, j] = numeric
    return Dataset(path.name, values[:, :-1], values[:, -1], tuple(features), target, f"{path} ({df.shape[0]} rows)")

