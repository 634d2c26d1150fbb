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

import ast
import codecs
import contextlib
import csv
import difflib
import gc
import io
import math
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .datasets import Dataset

__all__ = ["DataError", "read_table", "read_csv", "MISSING_POLICIES", "TASKS"]

MISSING_POLICIES = ("error", "drop", "mean")
TASKS = ("regression", "classification")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
NA_TOKENS = frozenset({
    "", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "#n/a", "#n/a n/a", "#na", "<na>",
    "-1.#ind", "1.#ind", "-1.#qnan", "1.#qnan",
})
_MISSING_HINT = "use --dropna or --fill mean"
_FEATURES_HINT = "list the feature columns separated by commas, e.g. x1,x2"
_PARQUET_HINT = "check that the file is complete (an interrupted copy or download truncates it) or export it again"
_TARGET_MISSING_HINT = "use --dropna to drop the rows without a target (a target is never filled)"
_MAX_NPY_HEADER = 1 << 20
_MAGIC = (
    (b"PAR1", "a Parquet file", "rename it to .parquet"),
    (b"\x93NUMPY", "a NumPy .npy file", "rename it to .npy"),
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook or a NumPy .npz file?)",
     "export the sheet as CSV (UTF-8), or rename a NumPy archive to .npz"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook", "export the sheet as CSV (UTF-8)"),
    (b"%PDF", "a PDF document", "export the table as CSV (UTF-8)"),
    (b"\x89PNG", "a PNG image", "export the table as CSV (UTF-8)"),
)


class DataError(ValueError):
    """Bad input data; the one-line message names the file, line or row and column, and says what to do.

    Attributes
    ----------
    path : pathlib.Path or None
        The file.
    line : int or None
        1-based line of a text file (the header is line 1), where one applies.
    row : int or None
        1-based data row (the first row under the header is row 1), where one applies.
    column : str or None
        The column's name, where one applies.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line: int | None = None,
                 row: int | None = None, column: str | None = None) -> None:
        super().__init__(" ".join(str(message).splitlines()))
        self.path = None if path is None else Path(path)
        self.line = line
        self.row = row
        self.column = column

    def __reduce__(self):
        return (type(self), (self.args[0],), self.__dict__)


# ---------------------------------------------------------------------------------------------
# messages


def _show(value: Any, limit: int = 40) -> str:
    """A short ``repr`` of a cell or name (escapes control characters, so it stays on one line)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return repr(text[: limit - 3]) + "..."
    return repr(text)


def _names(names: Sequence[str], limit: int = 20) -> str:
    shown = "[" + ", ".join(_show(n) for n in names[:limit]) + "]"
    return shown if len(names) <= limit else f"{shown[:-1]}, ... ({len(names)} in all)]"


class _Located:
    """Where data row ``i`` (0-based) is in the file: ``line N`` for text, ``row N (index N-1)`` otherwise."""

    def __init__(self, path: Path, lines: Sequence[int] | None = None) -> None:
        self.path = path
        self.lines = lines

    def error(self, problem: str, hint: str, *, i: int | None = None, line: int | None = None,
              column: str | None = None) -> DataError:
        parts = [str(self.path)]
        row = None
        if i is not None:
            row = i + 1
            if self.lines is not None:
                line = self.lines[i]
            else:
                parts.append(f"row {row} (index {i})")
        if line is not None:
            parts.append(f"line {line}")
        if column is not None:
            parts.append(f"column {_show(column)}")
        return DataError(f"{', '.join(parts)}: {problem}; {hint}", path=self.path, line=line, row=row,
                         column=column)


def _err(path: Path, problem: str, hint: str, **where: Any) -> DataError:
    return _Located(path).error(problem, hint, **where)


def _brief(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "no details"
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(err).__name__}: {text}"


# ---------------------------------------------------------------------------------------------
# columns


@dataclass
class _Column:
    """One column as float64 ``values`` (NaN where missing or not a number) plus what is wrong with it."""

    name: str
    values: np.ndarray
    missing: np.ndarray
    cells: Any = None                 # the original cells, for messages (sequence or array)
    invalid: int | None = None        # first cell that is not a number
    nonfinite: int | None = None      # first infinite (or overflowing) number
    overflow: bool = False            # whether that one overflowed float64 (rather than being inf)
    type_name: str | None = None      # a typed column that holds no numbers (e.g. 'timestamp[us]')
    labels: Any = None                # the labels for a classification target (array or callable)
    label_dtype: np.dtype | None = None  # dtype to give the labels once the missing ones are dropped
    n_numbers: int = 0

    @property
    def kind(self) -> str:
        if self.type_name is not None:
            return "other"
        if self.n_numbers:
            return "numeric"
        return "text" if not self.missing.all() else "empty"

    def cell(self, i: int) -> Any:
        return self.cells[i] if self.cells is not None else self.values[i]

    def get_labels(self) -> np.ndarray:
        if callable(self.labels):
            self.labels = self.labels()
        return self.labels


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _is_missing_text(text: str) -> bool:
    return len(text) <= 8 and text.lower() in NA_TOKENS


def _column_from_text(name: str, cells: Sequence[Any], typed_labels: bool = False, all_str: bool = False) -> _Column:
    """Parse text cells (``None`` is missing): numbers, missing markers, or neither."""
    n = len(cells)
    if all_str:
        strings = cells
    else:
        strings = ["" if c is None else (c if isinstance(c, str) else str(c)) for c in cells]
    values = None
    if n and "_" not in "".join(strings):  # float() would take 1_000; pandas and we do not
        try:  # fast path: every cell a number
            values = np.fromiter(map(float, strings), dtype=np.float64, count=n)
        except ValueError:
            values = None
    invalid = None
    if values is not None:
        missing = np.isnan(values)
        n_numbers = int(n - missing.sum())
    else:
        values = np.full(n, np.nan)
        missing = np.zeros(n, dtype=bool)
        n_numbers = 0
        for i, s in enumerate(strings):
            t = s.strip()
            if _is_missing_text(t):
                missing[i] = True
                continue
            try:
                v = float(t) if "_" not in t else None
            except ValueError:
                v = None
            if v is None:
                if invalid is None:
                    invalid = i
                continue
            if v != v:  # spelled like NaN
                missing[i] = True
            else:
                values[i] = v
                n_numbers += 1
    nonfinite = _first(np.isinf(values))
    overflow = False
    if nonfinite is not None:
        overflow = strings[nonfinite].strip().lstrip("+-").lower() not in ("inf", "infinity")
    col = _Column(name, values, missing, cells=strings, invalid=invalid, nonfinite=nonfinite,
                  overflow=overflow, n_numbers=n_numbers)
    if typed_labels:
        col.labels = lambda: np.array(strings, dtype=object)
    else:
        col.labels = lambda: _infer_labels(strings, col)
    return col


_INT_RE = re.compile(r"[+-]?\d+\Z")
_NUMBER_WITH_COMMAS = re.compile(r"[+-]?\d+([.,]\d+)+")


def _comma_number(text: str) -> bool:
    """Whether ``text`` is a number written with a decimal comma or thousands separators (1,5 or 1.234,5)."""
    return "," in text and _NUMBER_WITH_COMMAS.fullmatch(text) is not None


def _infer_labels(strings: Sequence[str], col: _Column) -> np.ndarray:
    """Labels read from text: int64 if every label is an integer, float64 if every one is a number, else str."""
    stripped = [s.strip() for s in strings]
    present = [s for s, m in zip(stripped, col.missing) if not m]
    if col.invalid is None and present:
        if all(_INT_RE.match(s) for s in present):
            try:
                return np.array([0 if m else int(s) for s, m in zip(stripped, col.missing)], dtype=np.int64)
            except OverflowError:
                pass
        return col.values.copy()
    return np.array(stripped, dtype=object)


def _column_from_array(name: str, a: np.ndarray) -> _Column:
    """A 1-D NumPy column: numbers (bool, int, float), text (parsed like CSV cells), or refused."""
    kind = a.dtype.kind
    if kind in "biuf" and a.dtype.names is None:
        with np.errstate(all="ignore"):
            values = a.astype(np.float64)
        missing = np.isnan(values)
        inf = np.isinf(values)
        nonfinite = _first(inf)
        overflow = bool(nonfinite is not None and kind == "f" and np.isfinite(a[nonfinite]))
        return _Column(name, values, missing, cells=a, nonfinite=nonfinite, overflow=overflow, labels=a,
                       n_numbers=int(a.size - missing.sum()))
    if kind in "US":
        cells = [c.decode("utf-8", "replace") if isinstance(c, bytes) else c for c in a.tolist()]
        col = _column_from_text(name, cells, typed_labels=True)
        col.labels = a
        return col
    values = np.full(a.shape[0], np.nan)
    return _Column(name, values, np.zeros(a.shape[0], dtype=bool), cells=a, invalid=0 if a.size else None,
                   type_name=f"dtype {a.dtype}")


# ---------------------------------------------------------------------------------------------
# sources: a table of named columns, read from one file


class _Source:
    """A table of named columns read from one file: names, row count, and the columns on request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names: list[str] = []
        self.n_rows = 0
        self.where = _Located(path)
        self.default_target: str | None = None

    def resolve(self, name: str, role: str) -> str | None:
        return name if name in self.names else None

    def skip_reason(self, name: str) -> str | None:
        raise NotImplementedError

    def columns(self, names: Sequence[str]) -> dict[str, _Column]:
        raise NotImplementedError


# --- CSV -------------------------------------------------------------------------------------


def _decode_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise _err(path, f"cannot be read ({_brief(err)})", "check the path and its permissions") from None
    if not data.strip(b" \t\r\n\x0b\x0c"):
        what = "the file is empty (0 bytes)" if not data else "the file is empty (only whitespace)"
        raise _err(path, what, "it needs a header row and rows of numbers")
    for magic, what, hint in _MAGIC:
        if data.startswith(magic):
            raise _err(path, f"is {what}, not CSV text", hint)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _err(path, "is UTF-16 text", "re-save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _err(path, f"contains NUL bytes (the first at byte {nul}), so it is a binary file, not CSV text",
                   "export the data as CSV text in UTF-8 (a UTF-16 text file must be re-saved as UTF-8)")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = bom + err.start
        raise _err(path, f"byte {offset} (0x{data[offset]:02x}) is not valid UTF-8",
                   "re-save the file as UTF-8 (in a spreadsheet: CSV UTF-8)", line=_line_of(data, offset)) from None
    if not text.strip():
        raise _err(path, "the file is empty (only whitespace)", "it needs a header row and rows of numbers")
    return text


def _line_of(data: bytes, offset: int) -> int:
    head = data[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _is_blank(fields: list[str]) -> bool:
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _sniff_delimiter(text: str, preferred: Sequence[str]) -> str:
    """The candidate delimiter under which the first lines have the same number (> 1) of fields."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    best, best_score = preferred[0], None
    for rank, d in enumerate(preferred):
        counts: list[int] = []
        try:
            for fields in csv.reader(io.StringIO(sample, newline=""), delimiter=d, quotechar='"'):
                if not _is_blank(fields):
                    counts.append(len(fields))
                if len(counts) >= 50:
                    break
        except csv.Error:
            pass
        if not counts or counts[0] < 2:
            continue
        score = (sum(c == counts[0] for c in counts[1:]), counts[0], -rank)
        if best_score is None or score > best_score:
            best, best_score = d, score
    return best


def _check_delimiter(path: Path, delimiter: str) -> str:
    named = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
    d = named.get(delimiter.lower(), delimiter) if isinstance(delimiter, str) else delimiter
    if not isinstance(d, str) or len(d) != 1 or d in '"\r\n':
        raise _err(path, f"the delimiter must be one character (not a quote or newline), got {_show(delimiter)}",
                   "give e.g. ',' or ';' or '\\t', or leave it out to detect it")
    return d


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while millions of strings are made (none of them in cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _records(text: str, delimiter: str, strict: bool = True) -> Any:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=strict)


class _RecordLines:
    """The line on which each data row starts; counted only when an error message needs one."""

    def __init__(self, text: str, delimiter: str, records: list[int]) -> None:
        self.records = records  # the index among all records (blank lines included) of each data row
        self.text = text if '"' in text else None  # without quotes, record k is line k + 1
        self.delimiter = delimiter
        self.starts: list[int] | None = None

    def of_record(self, k: int) -> int:
        if self.text is None:
            return k + 1
        if self.starts is None:
            reader, end, self.starts = _records(self.text, self.delimiter), 0, []
            for _ in reader:
                self.starts.append(end + 1)
                end = reader.line_num
        return self.starts[k]

    def __getitem__(self, i: int) -> int:
        return self.of_record(self.records[i])


class _CsvSource(_Source):
    def __init__(self, path: Path, delimiter: str | None = None) -> None:
        super().__init__(path)
        text = _decode_text(path)
        if delimiter is None:
            preferred = ("\t", ",", ";", "|") if path.suffix.lower() == ".tsv" else DELIMITERS
            delimiter = _sniff_delimiter(text, preferred)
        else:
            delimiter = _check_delimiter(path, delimiter)
        self.delimiter = delimiter
        try:
            with _gc_paused():
                records = list(_records(text, delimiter))
        except csv.Error as err:
            raise self._quoting_error(text, err) from None
        lengths = list(map(len, records))
        kept = [k for k, n in enumerate(lengths) if n > 1 or (n == 1 and records[k][0].strip())]  # not blank
        if not kept:
            raise _err(path, "the file is empty (only whitespace)", "it needs a header row and rows of numbers")
        lines = _RecordLines(text, delimiter, kept[1:])
        header = records[kept[0]]
        self.header_line = lines.of_record(kept[0])
        for k in kept[1:]:
            if lengths[k] != len(header):
                more = lengths[k] > len(header)
                raise self.where.error(
                    f"this row has {lengths[k]} fields but the header (line {self.header_line}) has {len(header)}",
                    ("remove the extra delimiter, or quote the value that contains it" if more else
                     "add the missing fields (an empty field counts as a missing value)"),
                    line=lines.of_record(k))
        if len(kept) == len(records) - kept[0]:
            rows = records[kept[0] + 1:]
        else:
            rows = [records[k] for k in kept[1:]]
        names = [h.strip() for h in header]
        if not any(names):
            raise self.where.error("the header has no column names", "the first line must name the columns",
                                   line=self.header_line)
        self.unnamed = set()
        for j, name in enumerate(names):
            if not name:
                names[j] = f"Unnamed: {j}"
                self.unnamed.add(names[j])
        seen: dict[str, int] = {}
        for j, name in enumerate(names):
            if name in seen:
                raise self.where.error(
                    f"columns {seen[name] + 1} and {j + 1} of the header are both named {_show(name)}",
                    "give every column a different name", line=self.header_line, column=name)
            seen[name] = j
        self.names = names
        self.n_rows = len(rows)
        self.where = _Located(path, lines)
        with _gc_paused():
            self._cells = list(zip(*rows)) if rows else [()] * len(names)  # one tuple of cells per column
        self._cache: dict[str, _Column] = {}

    def _quoting_error(self, text: str, err: csv.Error) -> DataError:
        reader, end = _records(text, self.delimiter), 0
        try:  # read again, counting lines, to find where the bad record starts
            for _ in reader:
                end = reader.line_num
        except csv.Error:
            pass
        message = str(err)
        if "end of data" in message:
            problem = "a quoted field that starts here is never closed (unterminated quote)"
            hint = 'close the quote with " or remove it'
        elif "field limit" in message:
            problem = f"a field is longer than {csv.field_size_limit()} characters"
            hint = 'this usually means an unterminated quote: check that every " is closed'
        else:
            problem = f"malformed quoting ({message})"
            hint = ('a quoted field must end with " followed by the delimiter or the end of the line; '
                    'write a quote inside a quoted field as ""')
        return self.where.error(problem, hint, line=end + 1)

    def _column(self, name: str) -> _Column:
        if name not in self._cache:
            with _gc_paused():
                self._cache[name] = _column_from_text(name, self._cells[self.names.index(name)], all_str=True)
        return self._cache[name]

    def columns(self, names: Sequence[str]) -> dict[str, _Column]:
        return {name: self._column(name) for name in names}

    def skip_reason(self, name: str) -> str | None:
        if name in self.unnamed:
            return "unnamed"
        col = self._column(name)
        if col.kind == "text" and _comma_number(col.cells[col.invalid].strip()):
            return None  # numbers written with decimal commas: keep it, so the first one is reported
        return None if col.kind == "numeric" else ("not numeric" if col.kind == "text" else "empty")

    def header_hint(self) -> str:
        if len(self.names) == 1 and any(d in self.names[0] for d in DELIMITERS + (" ",) if d != self.delimiter):
            return (f"the header was read as one column with the delimiter {_show(self.delimiter)}; "
                    "pass the right --delimiter")
        return ""


# --- Parquet ---------------------------------------------------------------------------------


class _ParquetSource(_Source):
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

    def columns(self, names: Sequence[str]) -> dict[str, _Column]:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(self.path, columns=list(names), use_pandas_metadata=False)
            out = {}
            for name in names:
                arr = table.column(name)
                if pa.types.is_dictionary(arr.type):
                    arr = pc.cast(arr, arr.type.value_type)
                kind = self._kind(name)
                null = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
                if kind == "numeric":
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
                    col.labels = lambda arr=arr: np.array(arr.to_pylist(), dtype=object)
                elif kind == "text":
                    col = _column_from_text(name, arr.to_pylist(), typed_labels=True)
                else:
                    col = _Column(name, np.full(len(arr), np.nan), null, cells=None, invalid=_first(~null),
                                  type_name=f"type {arr.type}")
                out[name] = col
        except DataError:
            raise
        except Exception as err:
            raise _err(self.path, f"cannot be read as Parquet ({_brief(err)})",
                       _PARQUET_HINT) from None
        return out


# --- NumPy -----------------------------------------------------------------------------------


def _npy_header(fp: Any) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and header length of a ``.npy`` stream, read without loading (or unpickling) anything."""
    magic = fp.read(8)
    if len(magic) < 8 or not magic.startswith(b"\x93NUMPY"):
        raise ValueError("it does not start with the .npy magic bytes")
    major = magic[6]
    if major == 1:
        (hlen,), used = struct.unpack("<H", fp.read(2)), 10
    elif major in (2, 3):
        raw = fp.read(4)
        if len(raw) < 4:
            raise ValueError("the header is cut off")
        (hlen,), used = struct.unpack("<I", raw), 12
    else:
        raise ValueError(f"unknown .npy format version {major}")
    if hlen > _MAX_NPY_HEADER:
        raise ValueError(f"the header claims {hlen} bytes")
    raw = fp.read(hlen)
    if len(raw) < hlen:
        raise ValueError("the header is cut off")
    header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
    if not isinstance(header, dict) or not {"descr", "shape", "fortran_order"} <= set(header):
        raise ValueError("the header is not a .npy header")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"bad shape {shape!r}")
    dtype = np.lib.format.descr_to_dtype(header["descr"])
    return shape, dtype, used + hlen


def _refuse_objects(path: Path, dtype: np.dtype, what: str) -> None:
    if dtype.hasobject:
        raise _err(path, f"{what} holds Python objects (dtype object), which are refused because loading them "
                   "would run pickle", "save arrays of numbers instead (e.g. X.astype(float))")


class _ArraySource(_Source):
    """Named 1-D arrays of equal length: the columns of a .npy, or the arrays of a .npz (loaded when needed)."""

    def __init__(self, path: Path, dtypes: dict[str, np.dtype], n_rows: int,
                 get: Callable[[Sequence[str]], dict[str, np.ndarray]], numbered: bool,
                 fixed_target: str | None = None) -> None:
        super().__init__(path)
        self.dtypes = dtypes
        self.names = list(dtypes)
        self.n_rows = n_rows
        self.get = get
        self.numbered = numbered
        self.default_target = self.fixed_target = fixed_target

    def resolve(self, name: str, role: str) -> str | None:
        if self.fixed_target is not None and role == "target":
            return name if name == self.fixed_target else None
        if name in self.names:
            return name
        if self.numbered and self.names:
            if name.lower() == "last":
                return self.names[-1]
            if re.fullmatch(r"-\d+", name) and 1 <= -int(name) <= len(self.names):
                return self.names[int(name)]
        return None

    def skip_reason(self, name: str) -> str | None:
        dtype = self.dtypes[name]
        return None if dtype.kind in "biuf" and dtype.names is None else f"dtype {dtype}"

    def columns(self, names: Sequence[str]) -> dict[str, _Column]:
        return {name: _column_from_array(name, np.asarray(a)) for name, a in self.get(names).items()}


def _load_npy(path: Path) -> _ArraySource:
    def fail(err: BaseException) -> DataError:
        return _err(path, f"cannot be read as a NumPy .npy file ({_brief(err)})",
                    "save the array with numpy.save, or check that the file is complete")

    try:
        with open(path, "rb") as fp:
            shape, dtype, offset = _npy_header(fp)
        size = path.stat().st_size
    except Exception as err:
        raise fail(err) from None
    _refuse_objects(path, dtype, "the array")
    if math.prod(shape) * dtype.itemsize > size - offset:
        raise _err(path, f"is truncated: its header promises an array of shape {shape} ({dtype}) but the file is "
                   f"only {size} bytes", "save the array again with numpy.save")
    structured = dtype.names is not None and len(shape) == 1
    if not structured and len(shape) != 2:
        raise _err(path, f"holds a {len(shape)}-D array of shape {shape}, but a table must be 2-D (rows x columns)",
                   "save a 2-D array with one column per variable, e.g. np.save(path, np.column_stack([x1, x2, y]))")
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as err:
        raise fail(err) from None
    if structured:
        arrays = {str(f): a[f] for f in dtype.names}
        dtypes = {k: (v.dtype if v.ndim == 1 else np.dtype(object)) for k, v in arrays.items()}
        return _ArraySource(path, dtypes, shape[0], lambda names: {k: arrays[k] for k in names}, numbered=False)
    arrays = {str(j): a[:, j] for j in range(shape[1])}
    return _ArraySource(path, {k: a.dtype for k in arrays}, shape[0], lambda names: {k: arrays[k] for k in names},
                        numbered=True)


def _load_npz(path: Path) -> _ArraySource:
    def fail(err: BaseException) -> DataError:
        return _err(path, f"cannot be read as a NumPy .npz archive ({_brief(err)})",
                    "save it with numpy.savez, or check that the file is complete")

    headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                with zf.open(info) as fp:
                    shape, dtype, offset = _npy_header(fp)
                _refuse_objects(path, dtype, f"the array {_show(key)}")
                if math.prod(shape) * dtype.itemsize > info.file_size - offset:
                    raise ValueError(f"the array {key!r} is truncated")
                headers[key] = (shape, dtype)
    except DataError:
        raise
    except Exception as err:
        raise fail(err) from None
    save_hint = "save it as np.savez(path, X=X, y=y) (X 2-D, y 1-D), or as one 1-D array per column"
    if not headers:
        raise _err(path, "holds no arrays", save_hint)

    def load(keys: Sequence[str]) -> dict[str, np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in keys}
        except Exception as err:
            raise fail(err) from None

    if "X" in headers and len(headers["X"][0]) == 2:
        if "y" not in headers:
            raise _err(path, f"holds a 2-D array 'X' but no array 'y' (its arrays are {_names(list(headers))})",
                       save_hint)
        (n, d), y_shape = headers["X"][0], headers["y"][0]
        if not (len(y_shape) == 1 or (len(y_shape) == 2 and y_shape[1] == 1)):
            raise _err(path, f"'y' has shape {y_shape}, but the target must be 1-D", save_hint)
        if y_shape[0] != n:
            raise _err(path, f"'X' has {n} rows but 'y' has {y_shape[0]}", "save X and y with one row per sample")
        names = [str(j) for j in range(d)]
        numbered = True
        if "feature_names" in headers:
            fn = load(["feature_names"])["feature_names"]
            if fn.ndim == 1 and len(fn) == d and fn.dtype.kind in "US":
                given = [(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip()
                         for v in fn.tolist()]
                if all(given) and len(set(given)) == d and "y" not in given:
                    names, numbered = given, False
        dtypes = {name: headers["X"][1] for name in names}
        dtypes["y"] = headers["y"][1]
        loaded: dict[str, np.ndarray] = {}

        def get(keys: Sequence[str]) -> dict[str, np.ndarray]:
            if not loaded:
                arrays = load(["X", "y"])
                loaded.update({name: arrays["X"][:, j] for j, name in enumerate(names)})
                loaded["y"] = arrays["y"].reshape(-1)
            return {k: loaded[k] for k in keys}

        return _ArraySource(path, dtypes, n, get, numbered=numbered, fixed_target="y")
    for key, (shape, _) in headers.items():
        if len(shape) != 1:
            raise _err(path, f"the array {_show(key)} has shape {shape}, but without a 2-D 'X' every array must be "
                       "1-D (one column)", save_hint)
    first = next(iter(headers))
    n = headers[first][0][0]
    for key, (shape, _) in headers.items():
        if shape[0] != n:
            raise _err(path, f"the array {_show(key)} has {shape[0]} rows but {_show(first)} has {n}",
                       "save columns of the same length")
    return _ArraySource(path, {k: v[1] for k, v in headers.items()}, n, load, numbered=False)


# ---------------------------------------------------------------------------------------------
# the reader


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
    if role == "target" and task == "classification":
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
    path = Path(path)
    return _read(path, target, features, delimiter, missing, task, text_only=False)


def read_csv(
    path: str | os.PathLike,
    target: str | None = None,
    features: Sequence[str] | None = None,
    delimiter: str | None = None,
    missing: str = "error",
    task: str = "regression",
) -> Dataset:
    """Like :func:`read_table`, reading the file as CSV text whatever its extension."""
    path = Path(path)
    return _read(path, target, features, delimiter, missing, task, text_only=True)


def _read(path: Path, target: str | None, features: Sequence[str] | str | None, delimiter: str | None,
          missing: str, task: str, text_only: bool) -> Dataset:
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
