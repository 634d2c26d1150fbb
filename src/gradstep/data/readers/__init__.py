"""Read a data table (CSV, Parquet, NumPy) into a :class:`~gradstep.data.datasets.Dataset`.

Every problem is reported as a :class:`DataError`: a one-line message that starts
with the file path, names the place (``line N`` of a text file, counting the header
as line 1; ``row N (index N-1)`` of a Parquet or NumPy file) and the column, and
ends with what to do about it, naming the parameters as :func:`read_table` spells
them (``features=``, ``missing='drop'``); the command line says its flags instead.

Formats, chosen by the file's extension
---------------------------------------
* ``.csv``, ``.tsv``, ``.txt`` and any other extension: text with a header row.
  UTF-8, with or without a byte-order mark. The delimiter (comma, semicolon, tab
  or pipe) is detected from the first lines unless given. Fields may be quoted
  with ``"`` (a quoted field may hold delimiters, newlines and ``""``). Header names
  are stripped of surrounding spaces; a column with an empty name is called
  ``Unnamed: J`` (J counting from 0, as pandas does) and is never chosen by default.
  Blank lines are skipped. An unknown extension whose content starts like a
  Parquet, ``.npy`` or ``.npz`` file is read as that format.
* ``.parquet``, ``.pq``: read with pyarrow, only the columns needed. Numeric types
  (integers, floats, booleans, decimals) are numbers; string columns are parsed
  like CSV cells when asked for; the pandas index columns are never chosen by default.
* ``.npy``: a 2-D array of numbers, columns named ``"0"``, ``"1"``, ...; the
  target (and the features) may also be given as a negative index (``"-1"``) or
  ``"last"``. A 1-D structured array is read with one column per field.
* ``.npz``: if it holds a 2-D array ``X``, the features are ``X``'s columns
  (named ``"0"``, ``"1"``, ... or by a 1-D string array ``feature_names``) and the
  target is the array ``y`` -- pass ``target="y"`` or leave the target out.
  Otherwise every array in it is 1-D and is one column named by its key.
  Arrays of Python objects are refused without being unpickled.

Cells
-----
A cell is *missing* if it is empty or one of ``NA``, ``N/A``, ``NaN``, ``null``,
``None``, ``#N/A``, ``<NA>`` ... (any case), a null in Parquet, or NaN.
``missing="error"`` (the default) reports the first missing cell used,
``"drop"`` drops every row with a missing cell in a used column, and ``"mean"``
fills missing *feature* cells with the column's mean (the target is never filled:
a missing target is an error under ``"mean"``). Infinite values and numbers
too large for a 64-bit float are always errors.

Memory
------
Parquet files, and CSV files of 1 MiB or more whose cells pyarrow parses exactly as Python does (no quoted
cells under the header, plain header names, numeric feature columns), are read in blocks
straight into one preallocated C-ordered float64 array (:mod:`.dense`): peak memory is the
data plus a block, and each block is checked as it is copied, so a missing cell (in Parquet
also an infinite one) deep in the file is reported from the one read pass. Any other CSV file,
or one in which pyarrow meets a cell it does not parse (text, an infinity), is read again by the
careful text reader, which gives the located message. ``.npy`` and ``.npz`` files whose headers
promise arrays larger than ``memory_budget`` bytes are refused before anything is read or decompressed.

By default the features are every column but the target that holds numbers; the
columns left out (text, empty, unnamed, an index) are listed in ``Dataset.skipped``
and in the description. A column with both numbers and other text is an error,
not silently skipped. ``task="classification"`` keeps the target's labels as they
are (text, or integers when every label is an integer) and needs two classes.

Examples
--------
>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "points.csv")
>>> _ = open(path, "w").write("x;name;y\\n1;a;3\\n2;b;5\\n")
>>> ds = read_table(path, target="y")
>>> ds.X.ravel().tolist(), ds.y.tolist(), ds.feature_names, ds.skipped
([1.0, 2.0], [3.0, 5.0], ('x',), ('name',))
>>> _ = open(path, "w").write("x,y\\n1,3\\n,5\\n4,9\\n")
>>> read_table(path, target="y")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
gradstep.data.readers.DataError: ...points.csv, line 3, column 'x': missing value; use missing='drop' or missing='mean'
>>> read_table(path, target="y", missing="mean").X.ravel().tolist()
[1.0, 2.5, 4.0]
>>> ds = read_csv(path, target="y", missing="drop")
>>> ds.X.ravel().tolist(), ds.y.tolist()
([1.0, 4.0], [3.0, 9.0])
"""

from __future__ import annotations

import difflib
import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..datasets import Dataset
from ..memory import default_budget
from . import dense
from .arrays import _ArraySource, _load_npy, _load_npz
from .arrow_csv import open_lean_csv
from .common import (
    NA_TOKENS,
    DataError,
    _brief,
    _Column,
    _comma_number,
    _DenseSource,
    _err,
    _Fallback,
    _first,
    _names,
    _show,
    _Source,
)
from .parquet import _PARQUET_HINT, _ParquetSource
from .text import DELIMITERS, _CsvSource

# NA_TOKENS and DELIMITERS are imported for their old address, gradstep.data.readers.

__all__ = ["DELIMITERS", "DataError", "MISSING_POLICIES", "NA_TOKENS", "TASKS", "read_csv", "read_table"]

MISSING_POLICIES = ("error", "drop", "mean")
TASKS = ("regression", "classification")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
_MISSING_HINT = "use missing='drop' or missing='mean'"
_FEATURES_HINT = "list the feature columns separated by commas, e.g. x1,x2"
_TARGET_MISSING_HINT = "use missing='drop' to drop the rows without a target (a target is never filled)"


def _open(path: Path, delimiter: str | None, text_only: bool, budget: int | None = None) -> _Source:
    if not path.exists():
        raise _err(path, "no such file", "check the path (or leave it out to use the bundled data)")
    if path.is_dir():
        raise _err(path, "is a folder, not a file", "give the path of a data file")
    suffix = path.suffix.lower()
    if text_only or suffix in TEXT_SUFFIXES:
        return _text_source(path, delimiter)
    if suffix in PARQUET_SUFFIXES:
        return _ParquetSource(path)
    if suffix == ".npy":
        return _load_npy(path, budget)
    if suffix == ".npz":
        return _load_npz(path, budget)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise _err(path, f"cannot be read ({_brief(err)})", "check the path and its permissions") from None
    if head.startswith(b"PAR1"):
        return _ParquetSource(path)
    if head.startswith(b"\x93NUMPY"):
        return _load_npy(path, budget)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                is_npz = any(n.endswith(".npy") for n in zf.namelist())
        except Exception:
            is_npz = False
        if is_npz:
            return _load_npz(path, budget)
    return _text_source(path, delimiter)


def _text_source(path: Path, delimiter: str | None) -> _Source:
    """The lean CSV reader where the file's head looks clean, else the careful one."""
    return open_lean_csv(path, delimiter) or _CsvSource(path, delimiter)


def _check_choice(path: Path, what: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise _err(path, f"{what} must be one of {_names(choices)}, got {_show(value)}",
                   f"choose one of {', '.join(choices)}")
    return value


def _unknown(src: _Source, name: str, role: str) -> DataError:
    """The error for a column name that is not in the file, with the columns and a suggestion."""
    if isinstance(src, _ArraySource) and src.fixed_target is not None and role == "target":
        return _err(src.path, f"holds X and y, so the target is 'y', not {_show(name)}",
                    "pass target='y' or leave the target out")
    flag = "target=" if role == "target" else "features="
    close = difflib.get_close_matches(name, src.names, n=1) or [n for n in src.names if n.lower() == name.lower()]
    hint = f"did you mean {_show(close[0])}?" if close else f"choose among the columns with {flag}"
    if isinstance(src, _CsvSource) and src.header_hint():
        hint = src.header_hint()
    if isinstance(src, _ArraySource) and src.numbered:
        hint += "; a column may also be given as a negative index such as -1, or as last"
    if isinstance(src, _ArraySource) and src.numbered:
        return _err(src.path, f"no column {_show(name)} for {flag}; this array's columns are named by their index, "
                    f"counted from 0: {_names(src.names)}", hint)
    return _err(src.path, f"no column {_show(name)} for {flag}; the columns are {_names(src.names)}", hint)


def _bad_cell_hint(text: str, role: str, requested: bool) -> str:
    t = text.strip()
    if t and len(t) <= 4 and not any(ch.isalnum() for ch in t):
        return f"if {t!r} marks a missing value, leave the cell empty instead (then {_MISSING_HINT})"
    if _comma_number(t):
        return "write numbers with a decimal point and no thousands separator (1234.5, not 1.234,5 or 1,234.5)"
    if role == "target":
        return "a regression target must be numeric (for class labels use task='classification')"
    if requested:
        return "encode this column as numbers (e.g. one 0/1 column per category) or leave it out of features="
    return "fix the cell, or choose the feature columns with features= to leave this column out"


def _nonfinite_error(src: _Source, name: str, i: int, cell: object, overflow: bool) -> DataError:
    if overflow:
        return src.where.error(f"{_show(cell)} is too large for a 64-bit float (beyond +-1.8e308)",
                               "fix the cell, or rescale the column", i=i, column=name)
    return src.where.error(f"infinite value {_show(cell)}",
                           "replace it with a finite number, or leave the cell empty to mark it missing", i=i,
                           column=name)


def _missing_error(src: _Source, name: str, i: int, role: str, missing: str) -> DataError | None:
    """The error for a missing cell in row ``i`` under the ``missing`` policy, if it is one."""
    if role == "target" and missing != "drop":
        return src.where.error("missing value in the target", _TARGET_MISSING_HINT, i=i, column=name)
    if missing == "error":
        return _missing_cell_error(src, name, i)
    return None


def _missing_cell_error(src: _Source, name: str, i: int) -> DataError:
    """The error for a missing feature cell in row ``i`` where ``missing="error"``."""
    return src.where.error("missing value", _MISSING_HINT, i=i, column=name)


def _label_errors(src: _Source, col: _Column, order: int) -> list[tuple[int, int, DataError]]:
    """The errors of a classification target: a typed column that holds no labels, or an infinite label."""
    if col.type_name is not None:
        # e.g. a Parquet timestamp or a NumPy datetime column: it has no labels to keep
        return [(-1, order, src.where.error(f"the column has {col.type_name}, which cannot be class labels",
                                            "class labels must be numbers or text; choose another target=, "
                                            "or convert the column to text", column=col.name))]
    labels = col.get_labels()
    if isinstance(labels, np.ndarray) and labels.dtype.kind == "f":
        bad = _first(np.isinf(labels))
        if bad is not None:
            return [(bad, order, src.where.error(f"infinite class label {_show(col.cell(bad))}",
                                                 "class labels must be finite numbers or text", i=bad,
                                                 column=col.name))]
    return []


def _number_errors(src: _Source, col: _Column, order: int, role: str,
                   requested: bool) -> list[tuple[int, int, DataError]]:
    """The errors of a column read as numbers: a cell that is not a number, an infinite one."""
    errors = []
    if col.invalid is not None:
        i = col.invalid
        if col.type_name is not None:
            problem = f"the column has {col.type_name}, not numbers"
            hint = ("a regression target must be numeric (for class labels use task='classification')"
                    if role == "target" else "convert it to numbers, or leave it out of features=")
        else:
            cell = col.cell(i)
            problem = f"{_show(cell)} is not a number"
            hint = _bad_cell_hint(str(cell), role, requested)
        errors.append((i, order, src.where.error(problem, hint, i=i, column=col.name)))
    if col.nonfinite is not None:
        i = col.nonfinite
        errors.append((i, order, _nonfinite_error(src, col.name, i, col.cell(i), col.overflow)))
    return errors


def _cell_errors(src: _Source, col: _Column, order: int, role: str, requested: bool, task: str,
                 missing: str) -> list[tuple[int, int, DataError]]:
    """Every problem of one column, as (row, the column's order, error): the first one is reported."""
    if role == "target" and task == "classification":
        errors = _label_errors(src, col, order)
    else:
        errors = _number_errors(src, col, order, role, requested)
    first_missing = _first(col.missing)
    if first_missing is not None:
        error = _missing_error(src, col.name, first_missing, role, missing)
        if error is not None:
            errors.append((first_missing, order, error))
    return errors


def _budget(path: Path, memory_budget: int | None) -> int:
    if memory_budget is None:
        return default_budget()
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)) or memory_budget <= 0:
        raise _err(path, f"memory_budget must be a positive number of bytes, got {_show(memory_budget)}",
                   "pass e.g. memory_budget=2**30 (1 GiB), or None for the default")
    return int(memory_budget)


def read_table(
    path: str | os.PathLike,
    target: str | None = None,
    features: Sequence[str] | None = None,
    delimiter: str | None = None,
    missing: str = "error",
    task: str = "regression",
    memory_budget: int | None = None,
) -> Dataset:
    """Read ``features`` and ``target`` from a CSV, Parquet, ``.npy`` or ``.npz`` file (chosen by its extension).

    Parquet files and clean CSV files are read in blocks straight into one float64 array (peak
    memory: the data plus a block); a bad cell is reported from that one read pass.

    Parameters
    ----------
    path : str or os.PathLike
        The file; see the module's documentation for the formats.
    target : str
        The column to predict. For ``.npy`` also an index as text (``"3"``, ``"-1"``) or ``"last"``;
        for an ``.npz`` holding ``X`` and ``y``, ``"y"`` or None.
    features : sequence of str, optional
        Exactly these columns, in this order. Default: every other column that holds numbers
        (the ones left out are listed in ``Dataset.skipped``).
    delimiter : str, optional
        CSV delimiter (also ``"\\\\t"`` or ``"tab"``); default: detected among ``, ; tab |``.
    missing : {"error", "drop", "mean"}
        What to do with missing cells: report the first one, drop the rows that have one,
        or fill feature cells with their column's mean (never the target).
    task : {"regression", "classification"}
        Regression needs a numeric target (``y`` float64); classification keeps the labels
        (``y`` of dtype object for text, else the labels' own dtype) and needs two classes.
    memory_budget : int, optional
        Bytes the arrays of a ``.npy`` or ``.npz`` file may take once loaded (decompressed); a file
        whose headers promise more is refused before anything is read. Default:
        :func:`gradstep.data.memory.default_budget` (a quarter of the available memory).

    Returns
    -------
    Dataset
        ``X`` float64 of shape (n, d), C-ordered, ``y`` of shape (n,), the feature and target names,
        a one-line description, ``task`` and ``skipped``.

    Raises
    ------
    DataError
        With a one-line message: the path, where (line or row, and column), the problem, what to do.
    """
    return _read(path, target, features, delimiter, missing, task, text_only=False, memory_budget=memory_budget)


def read_csv(path: str | os.PathLike, target: str | None = None, features: Sequence[str] | None = None,
             delimiter: str | None = None, missing: str = "error", task: str = "regression") -> Dataset:
    """Like :func:`read_table`, reading the file as CSV text whatever its extension."""
    return _read(path, target, features, delimiter, missing, task, text_only=True)


def _read(path: str | os.PathLike, target: str | None, features: Sequence[str] | str | None,
          delimiter: str | None, missing: str, task: str, text_only: bool,
          memory_budget: int | None = None) -> Dataset:
    """What :func:`read_table` and :func:`read_csv` do; ``text_only`` reads any file as CSV text.

    A lean CSV reader that cannot decide (:class:`_Fallback`) hands the file to the careful one.
    """
    path = Path(path)
    missing = _check_choice(path, "missing", missing, MISSING_POLICIES)
    task = _check_choice(path, "task", task, TASKS)
    src = _open(path, delimiter, text_only, _budget(path, memory_budget))
    if src.lean:
        try:
            return _read_source(src, target, features, missing, task)
        except _Fallback:
            src = _CsvSource(path, delimiter)
    return _read_source(src, target, features, missing, task)


class _Choice(NamedTuple):
    """The columns chosen: the target, the features, the columns left out (with why), and whether the
    features were given."""

    target: str
    features: list[str]
    skipped: list[tuple[str, str]]
    requested: bool


def _read_source(src: _Source, target: str | None, features: Sequence[str] | str | None, missing: str,
                 task: str) -> Dataset:
    if src.n_rows == 0:
        empty = "the header has no rows under it" if isinstance(src, _CsvSource) else "the table has no rows"
        raise _err(src.path, empty, "add rows of data")
    try:
        chosen = _choose(src, target, features)
    except DataError:
        if src.lean:  # the careful reader's message may name more (a hint about the header)
            raise _Fallback from None
        raise
    X, target_col = _load(src, chosen, missing, task)
    X, keep, notes = _handle_missing(src.path, X, target_col, chosen, missing)
    y = _target_values(src.path, target_col, keep, task)
    if chosen.skipped:
        notes.append("skipped " + ", ".join(f"{_show(n)} ({r})" for n, r in chosen.skipped))
    rows, d = X.shape
    description = f"{src.path} ({rows} rows, {d} feature{'s' * (d != 1)}"
    description += "".join(f"; {note}" for note in notes) + ")"
    return Dataset(src.path.name, np.ascontiguousarray(X), y, tuple(chosen.features), chosen.target, description,
                   task=task, skipped=tuple(n for n, _ in chosen.skipped))


def _choose(src: _Source, target: str | None, features: Sequence[str] | str | None) -> _Choice:
    """The target and feature columns, from the names given or by default."""
    path = src.path
    if target is None:
        if src.default_target is None:
            raise _err(path, f"no target column given; the columns are {_names(src.names)}",
                       "name the column to predict with target=")
        target = src.default_target
    target_text = str(target).strip()
    target_name = src.resolve(target_text, "target")
    if target_name is None:
        raise _unknown(src, target_text, "target")
    if features is None:
        feats, skipped = _default_features(src, target_name)
        return _Choice(target_name, feats, skipped, requested=False)
    return _Choice(target_name, _given_features(src, features, target_name), [], requested=True)


def _given_features(src: _Source, features: Sequence[str] | str, target_name: str) -> list[str]:
    path = src.path
    if isinstance(features, str):
        features = features.split(",")
    feats: list[str] = []
    for given in features:
        text = str(given).strip()
        if not text:
            raise _err(path, "an empty name in features=", _FEATURES_HINT)
        name = src.resolve(text, "feature")
        if name is None:
            raise _unknown(src, text, "feature")
        if name == target_name:
            raise _err(path, f"column {_show(name)} is the target and cannot also be a feature",
                       "leave it out of features=", column=name)
        if name in feats:
            raise _err(path, f"column {_show(name)} is listed twice in features=", "list each column once",
                       column=name)
        feats.append(name)
    if not feats:
        raise _err(path, "features= lists no columns", _FEATURES_HINT)
    return feats


def _default_features(src: _Source, target_name: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Every column but the target that holds numbers, and the others with the reason they are left out."""
    feats, skipped = [], []
    for name in src.names:
        if name == target_name:
            continue
        reason = src.skip_reason(name)
        if reason is None:
            feats.append(name)
        else:
            skipped.append((name, reason))
    if not feats:
        why = f" (skipped: {', '.join(f'{_show(n)} {r}' for n, r in skipped)})" if skipped else ""
        hint = (src.header_hint() if isinstance(src, _CsvSource) else "") or \
            "add numeric feature columns, or encode the text ones as numbers"
        raise _err(src.path, f"there are no numeric feature columns besides the target {_show(target_name)}{why}",
                   hint)
    return feats, skipped


def _load(src: _Source, chosen: _Choice, missing: str, task: str) -> tuple[np.ndarray, _Column]:
    """``X`` (NaN where a feature cell is missing) and the target's column; the first bad cell is an error."""
    if isinstance(src, _DenseSource) and src.numeric(chosen.features):
        return _load_dense(src, chosen, missing, task)
    return _load_columns(src, chosen, missing, task)


def _load_columns(src: _Source, chosen: _Choice, missing: str, task: str) -> tuple[np.ndarray, _Column]:
    """Column by column (text cells, NumPy arrays): every column's errors first, then ``X``."""
    used = chosen.features + [chosen.target]
    cols = src.columns(used)
    errors = []
    for order, name in enumerate(used):
        role = "target" if name == chosen.target else "feature"
        errors += _cell_errors(src, cols[name], order, role, chosen.requested, task, missing)
    if errors:
        raise min(errors, key=lambda e: (e[0], e[1]))[2]
    X = np.empty((src.n_rows, len(chosen.features)), dtype=np.float64)
    for j, name in enumerate(chosen.features):
        X[:, j] = cols[name].values
    return X, cols[chosen.target]


def _load_dense(src: _DenseSource, chosen: _Choice, missing: str, task: str) -> tuple[np.ndarray, _Column]:
    """In one pass, the features straight into ``X`` (checked block by block) and the target's column."""
    feats = chosen.features
    try:
        filled = dense.fill(src.batches(feats, chosen.target), feats, chosen.target, src.n_rows,
                            missing_is_error=missing == "error")
    except ValueError as err:  # more rows than the file's metadata said
        if src.lean:
            raise _Fallback from None
        raise _err(src.path, f"cannot be read as Parquet ({_brief(err)})", _PARQUET_HINT) from None
    X = filled.X
    if filled.rows != src.n_rows:
        if not src.lean or filled.rows < 2:
            raise _Fallback if src.lean else _err(
                src.path, f"holds {filled.rows} rows but its metadata say {src.n_rows}", _PARQUET_HINT)
        X.resize((filled.rows, len(feats)), refcheck=False)  # the CSV's line count was an upper bound
    target_col = src.column(chosen.target, filled.target_chunks)
    errors = _cell_errors(src, target_col, len(feats), "target", chosen.requested, task, missing)
    if filled.problem is not None:
        errors.append(_problem_error(src, filled.problem, X, feats))
    if errors:
        if src.lean and not src.locates:
            raise _Fallback
        raise min(errors, key=lambda e: (e[0], e[1]))[2]
    return X, target_col


def _problem_error(src: _Source, problem: dense.Problem, X: np.ndarray, feats: list[str]) -> tuple[int, int, DataError]:
    """The error of the first bad feature cell :func:`dense.fill` met (missing ones only where they are errors)."""
    i, j, kind = problem
    if kind == "missing":
        return i, j, _missing_cell_error(src, feats[j], i)
    if src.lean:  # the careful reader quotes the cell as written (inf, Infinity, 1e999)
        raise _Fallback
    return i, j, _nonfinite_error(src, feats[j], i, X[i, j], overflow=False)


def _handle_missing(path: Path, X: np.ndarray, target_col: _Column, chosen: _Choice,
                    missing: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """``X`` with the missing cells dropped or filled as ``missing`` says, the rows kept (None: all), notes."""
    notes: list[str] = []
    keep = None
    if missing == "drop":
        X, keep, notes = _drop_missing(path, X, target_col, chosen)
    elif missing == "mean":
        notes = _fill_means(path, X, chosen.features)
    rows = X.shape[0]
    if rows == 1:
        after = " is left after dropping rows with missing values" if keep is not None else ""
        raise _err(path, f"only one row of data{after}; fitting needs at least two",
                   "add more rows" + (" or fill the missing values (missing='mean')" if after else ""))
    return X, keep, notes


def _drop_missing(path: Path, X: np.ndarray, target_col: _Column,
                  chosen: _Choice) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    n = X.shape[0]
    keep = ~target_col.missing
    for j in range(X.shape[1]):
        keep &= ~np.isnan(X[:, j])  # after the checks, a NaN feature cell is a missing one
    dropped = int(n - keep.sum())
    if dropped == n:
        used = chosen.features + [chosen.target]
        raise _err(path, f"every row has a missing value in the columns used {_names(used)}, so none is left",
                   "fill them (missing='mean') or choose other features=")
    if not dropped:
        return X, None, []
    return X[keep], keep, [f"dropped {dropped} row{'s' * (dropped != 1)} with missing values"]


def _fill_means(path: Path, X: np.ndarray, feats: list[str]) -> list[str]:
    """Fill each feature's missing cells (NaN) with its column's mean, in place."""
    filled = 0
    for j, name in enumerate(feats):
        m = np.isnan(X[:, j])
        if not m.any():
            continue
        present = X[~m, j]
        if present.size == 0:
            raise _err(path, "the column has no values, so it has no mean to fill it with",
                       "leave it out of features=", column=name)
        with np.errstate(all="ignore"):
            mean = float(np.mean(present))
            if not math.isfinite(mean):  # the sum overflowed
                mean = float(np.sum(present / present.size))
        if not math.isfinite(mean):
            raise _err(path, "the column's mean is too large for a 64-bit float", "rescale the column", column=name)
        X[m, j] = mean
        filled += int(m.sum())
    return [f"filled {filled} missing cell{'s' * (filled != 1)} with column means"] if filled else []


def _target_values(path: Path, col: _Column, keep: np.ndarray | None, task: str) -> np.ndarray:
    """``y``: the target's numbers (regression) or labels (classification) in the rows kept."""
    if task == "regression":
        values = col.values if keep is None else col.values[keep]
        return values.astype(np.float64, copy=False)  # a fresh array already (the column is not kept)
    y = np.asarray(col.get_labels())
    y = y if keep is None else y[keep]
    if col.label_dtype is not None and col.label_dtype != y.dtype:
        y = np.asarray(y.tolist(), dtype=col.label_dtype)
    y = np.ascontiguousarray(y)
    classes = set(y.tolist())
    if len(classes) < 2:
        (only,) = classes
        raise _err(path, f"the target has a single class ({_show(only)}); classification needs at least two "
                   "classes", "check the target= column (and that dropping rows did not leave only one class)",
                   column=col.name)
    return y
