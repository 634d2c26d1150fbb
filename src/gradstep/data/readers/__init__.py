"""Read a data table (CSV, Parquet, NumPy) into a :class:`~gradstep.data.datasets.Dataset`.

Every problem is reported as a :class:`DataError`: a one-line message that starts
with the file path, names the place (``line N`` of a text file, counting the header
as line 1; ``row N (index N-1)`` of a Parquet or NumPy file) and the column, and
ends with what to do about it.

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
gradstep.data.readers.DataError: ...points.csv, line 3, column 'x': missing value; use --dropna or --fill mean
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
from pathlib import Path
from typing import Sequence

import numpy as np

from ..datasets import Dataset
from .arrays import _ArraySource, _load_npy, _load_npz
from .common import NA_TOKENS, DataError, _brief, _Column, _comma_number, _err, _first, _names, _show, _Source
from .parquet import _ParquetSource
from .text import DELIMITERS, _CsvSource

# NA_TOKENS and DELIMITERS are imported for their old address, gradstep.data.readers.

__all__ = ["DELIMITERS", "DataError", "MISSING_POLICIES", "NA_TOKENS", "TASKS", "read_csv", "read_table"]

MISSING_POLICIES = ("error", "drop", "mean")
TASKS = ("regression", "classification")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
_MISSING_HINT = "use --dropna or --fill mean"
_FEATURES_HINT = "list the feature columns separated by commas, e.g. x1,x2"
_TARGET_MISSING_HINT = "use --dropna to drop the rows without a target (a target is never filled)"


def _open(path: Path, delimiter: str | None, text_only: bool) -> _Source:
    if not path.exists():
        raise _err(path, "no such file", "check the path (or leave it out to use the bundled data)")
    if path.is_dir():
        raise _err(path, "is a folder, not a file", "give the path of a data file")
    suffix = path.suffix.lower()
    if text_only or suffix in TEXT_SUFFIXES:
        return _CsvSource(path, delimiter)
    if suffix in PARQUET_SUFFIXES:
        return _ParquetSource(path)
    if suffix == ".npy":
        return _load_npy(path)
    if suffix == ".npz":
        return _load_npz(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise _err(path, f"cannot be read ({_brief(err)})", "check the path and its permissions") from None
    if head.startswith(b"PAR1"):
        return _ParquetSource(path)
    if head.startswith(b"\x93NUMPY"):
        return _load_npy(path)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                is_npz = any(n.endswith(".npy") for n in zf.namelist())
        except Exception:
            is_npz = False
        if is_npz:
            return _load_npz(path)
    return _CsvSource(path, delimiter)


def _check_choice(path: Path, what: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise _err(path, f"{what} must be one of {_names(choices)}, got {_show(value)}",
                   f"choose one of {', '.join(choices)}")
    return value


def _unknown(src: _Source, name: str, role: str) -> DataError:
    """The error for a column name that is not in the file, with the columns and a suggestion."""
    if isinstance(src, _ArraySource) and src.fixed_target is not None and role == "target":
        return _err(src.path, f"holds X and y, so the target is 'y', not {_show(name)}",
                    "pass --target y (or leave the target out in Python)")
    flag = "--target" if role == "target" else "--features"
    close = difflib.get_close_matches(name, src.names, n=1) or [n for n in src.names if n.lower() == name.lower()]
    hint = f"did you mean {_show(close[0])}?" if close else f"choose among the columns with {flag}"
    if isinstance(src, _CsvSource) and src.header_hint():
        hint = src.header_hint()
    if isinstance(src, _ArraySource) and src.numbered:
        hint += "; a column may also be given as a negative index such as -1, or as last"
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
        return "encode this column as numbers (e.g. one 0/1 column per category) or leave it out of --features"
    return "fix the cell, or choose the feature columns with --features to leave this column out"


def _cell_errors(src: _Source, col: _Column, order: int, role: str, requested: bool, task: str,
                 missing: str) -> list[tuple[int, int, DataError]]:
    errors = []
    where = src.where
    name = col.name
    if role == "target" and task == "classification" and col.type_name is not None:
        # e.g. a Parquet timestamp or a NumPy datetime column: it has no labels to keep
        errors.append((-1, order, where.error(f"the column has {col.type_name}, which cannot be class labels",
                                              "class labels must be numbers or text; choose another --target, "
                                              "or convert the column to text", column=name)))
    elif role == "target" and task == "classification":
        labels = col.get_labels()
        if isinstance(labels, np.ndarray) and labels.dtype.kind == "f":
            bad = _first(np.isinf(labels))
            if bad is not None:
                errors.append((bad, order, where.error(f"infinite class label {_show(col.cell(bad))}",
                                                       "class labels must be finite numbers or text", i=bad,
                                                       column=name)))
    else:
        if col.invalid is not None:
            i = col.invalid
            if col.type_name is not None:
                problem = f"the column has {col.type_name}, not numbers"
                hint = ("a regression target must be numeric (for class labels use task='classification')"
                        if role == "target" else "convert it to numbers, or leave it out of --features")
            else:
                cell = col.cell(i)
                problem = f"{_show(cell)} is not a number"
                hint = _bad_cell_hint(str(cell), role, requested)
            errors.append((i, order, where.error(problem, hint, i=i, column=name)))
        if col.nonfinite is not None:
            i = col.nonfinite
            cell = col.cell(i)
            if col.overflow:
                problem = f"{_show(cell)} is too large for a 64-bit float (beyond +-1.8e308)"
                hint = "fix the cell, or rescale the column"
            else:
                problem = f"infinite value {_show(cell)}"
                hint = "replace it with a finite number, or leave the cell empty to mark it missing"
            errors.append((i, order, where.error(problem, hint, i=i, column=name)))
    first_missing = _first(col.missing)
    if first_missing is not None:
        if role == "target" and missing != "drop":
            errors.append((first_missing, order, where.error("missing value in the target", _TARGET_MISSING_HINT,
                                                             i=first_missing, column=name)))
        elif missing == "error":
            errors.append((first_missing, order, where.error("missing value", _MISSING_HINT, i=first_missing,
                                                             column=name)))
    return errors


def read_table(
    path: str | os.PathLike,
    target: str | None = None,
    features: Sequence[str] | None = None,
    delimiter: str | None = None,
    missing: str = "error",
    task: str = "regression",
) -> Dataset:
    """Read ``features`` and ``target`` from a CSV, Parquet, ``.npy`` or ``.npz`` file (chosen by its extension).

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

    Returns
    -------
    Dataset
        ``X`` float64 of shape (n, d), ``y`` of shape (n,), the feature and target names,
        a one-line description, ``task`` and ``skipped``.

    Raises
    ------
    DataError
        With a one-line message: the path, where (line or row, and column), the problem, what to do.
    """
    return _read(path, target, features, delimiter, missing, task, text_only=False)


def read_csv(path: str | os.PathLike, target: str | None = None, features: Sequence[str] | None = None,
             delimiter: str | None = None, missing: str = "error", task: str = "regression") -> Dataset:
    """Like :func:`read_table`, reading the file as CSV text whatever its extension."""
    return _read(path, target, features, delimiter, missing, task, text_only=True)


def _read(path: str | os.PathLike, target: str | None, features: Sequence[str] | str | None,
          delimiter: str | None, missing: str, task: str, text_only: bool) -> Dataset:
    """What :func:`read_table` and :func:`read_csv` do; ``text_only`` reads any file as CSV text."""
    path = Path(path)
    missing = _check_choice(path, "missing", missing, MISSING_POLICIES)
    task = _check_choice(path, "task", task, TASKS)
    src = _open(path, delimiter, text_only)
    if src.n_rows == 0:
        empty = "the header has no rows under it" if isinstance(src, _CsvSource) else "the table has no rows"
        raise _err(path, empty, "add rows of data")

    # which columns
    if target is None:
        if src.default_target is None:
            raise _err(path, f"no target column given; the columns are {_names(src.names)}",
                       "name the column to predict with --target")
        target = src.default_target
    target_text = str(target).strip()
    target_name = src.resolve(target_text, "target")
    if target_name is None:
        raise _unknown(src, target_text, "target")
    skipped: list[tuple[str, str]] = []
    requested = features is not None
    if features is not None:
        if isinstance(features, str):
            features = features.split(",")
        feats: list[str] = []
        for given in features:
            text = str(given).strip()
            if not text:
                raise _err(path, "an empty name in --features", _FEATURES_HINT)
            name = src.resolve(text, "feature")
            if name is None:
                raise _unknown(src, text, "feature")
            if name == target_name:
                raise _err(path, f"column {_show(name)} is the target and cannot also be a feature",
                           "leave it out of --features", column=name)
            if name in feats:
                raise _err(path, f"column {_show(name)} is listed twice in --features", "list each column once",
                           column=name)
            feats.append(name)
        if not feats:
            raise _err(path, "--features lists no columns", _FEATURES_HINT)
    else:
        feats = []
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
            raise _err(path, f"there are no numeric feature columns besides the target {_show(target_name)}{why}",
                       hint)

    # check the cells
    used = feats + [target_name]
    cols = src.columns(used)
    errors = []
    for order, name in enumerate(used):
        role = "target" if name == target_name else "feature"
        errors += _cell_errors(src, cols[name], order, role, requested, task, missing)
    if errors:
        raise min(errors, key=lambda e: (e[0], e[1]))[2]

    # missing cells
    n = src.n_rows
    keep = np.ones(n, dtype=bool)
    notes = []
    X = np.empty((n, len(feats)), dtype=np.float64)
    for j, name in enumerate(feats):
        X[:, j] = cols[name].values
    if missing == "drop":
        for name in used:
            keep &= ~cols[name].missing
        dropped = int(n - keep.sum())
        if dropped == n:
            raise _err(path, f"every row has a missing value in the columns used {_names(used)}, so none is left",
                       "fill them (--fill mean) or choose other --features")
        if dropped:
            notes.append(f"dropped {dropped} row{'s' * (dropped != 1)} with missing values")
            X = X[keep]
    elif missing == "mean":
        filled = 0
        for j, name in enumerate(feats):
            m = cols[name].missing
            if m.any():
                present = X[~m, j]
                if present.size == 0:
                    raise _err(path, "the column has no values, so it has no mean to fill it with",
                               "leave it out of --features", column=name)
                with np.errstate(all="ignore"):
                    mean = float(np.mean(present))
                    if not math.isfinite(mean):  # the sum overflowed
                        mean = float(np.sum(present / present.size))
                if not math.isfinite(mean):
                    raise _err(path, "the column's mean is too large for a 64-bit float",
                               "rescale the column", column=name)
                X[m, j] = mean
                filled += int(m.sum())
        if filled:
            notes.append(f"filled {filled} missing cell{'s' * (filled != 1)} with column means")
    rows = int(keep.sum())
    if rows == 1:
        after = " is left after dropping rows with missing values" if missing == "drop" and n > 1 else ""
        raise _err(path, f"only one row of data{after}; fitting needs at least two",
                   "add more rows" + (" or fill the missing values (--fill mean)" if after else ""))

    # the target
    col = cols[target_name]
    if task == "regression":
        y = col.values[keep].astype(np.float64)
    else:
        y = np.asarray(col.get_labels())[keep]
        if col.label_dtype is not None and col.label_dtype != y.dtype:
            y = np.asarray(y.tolist(), dtype=col.label_dtype)
        y = np.ascontiguousarray(y)
        classes = set(y.tolist())
        if len(classes) < 2:
            (only,) = classes
            raise _err(path, f"the target has a single class ({_show(only)}); classification needs at least two "
                       "classes", "check the --target column (and that dropping rows did not leave only one class)",
                       column=target_name)
    if skipped:
        notes.append("skipped " + ", ".join(f"{_show(n)} ({r})" for n, r in skipped))
    description = f"{path} ({rows} rows, {len(feats)} feature{'s' * (len(feats) != 1)}"
    description += "".join(f"; {note}" for note in notes) + ")"
    return Dataset(
        path.name, np.ascontiguousarray(X), y, tuple(feats), target_name, description,
        task=task, skipped=tuple(n for n, _ in skipped),
    )
