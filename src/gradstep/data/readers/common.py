"""The pieces every reader shares: :class:`DataError` (defined in :mod:`gradstep.data.errors`), the helpers
that say where a problem is and quote cells and names in one-line messages, the column model (:class:`_Column`,
built from text cells by :func:`_column_from_text`) and the :class:`_Source` base class, a table of named
columns read from one file (:class:`_DenseSource`: one whose numeric columns stream into one array)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import DataError

NA_TOKENS = frozenset({
    "", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "#n/a", "#n/a n/a", "#na", "<na>",
    "-1.#ind", "1.#ind", "-1.#qnan", "1.#qnan",
})


class _Fallback(Exception):
    """Raised by a lean reader (:mod:`.arrow_csv`) for a file it cannot read exactly as the careful reader
    would; the file is then read by the careful reader, which says what is wrong with it."""


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


class _Lines(Protocol):
    """The line of each data row: ``lines[i]`` for row ``i`` (0-based); a list, or an object that
    counts the line only when a message asks for it."""

    def __getitem__(self, i: int, /) -> int: ...


class _Located:
    """Where data row ``i`` (0-based) is in the file: ``line N`` for text, ``row N (index N-1)`` otherwise; a
    column by its name, or for the columns of a bare array (``numbered``: named by their 0-based index)
    ``column N (index N-1)``, counted from 1 as the rows are."""

    def __init__(self, path: Path, lines: _Lines | None = None, numbered: bool = False) -> None:
        self.path = path
        self.lines = lines
        self.numbered = numbered

    def column(self, name: str) -> str:
        if self.numbered and name.isdigit():
            return f"column {int(name) + 1} (index {name})"
        return f"column {_show(name)}"

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
            parts.append(self.column(column))
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
    if not mask.any():  # cheaper than flatnonzero, which counts for one column of a wide table
        return None
    return int(np.argmax(mask))


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


# ---------------------------------------------------------------------------------------------
# sources: a table of named columns, read from one file


class _Source:
    """A table of named columns read from one file: names, row count, and the columns on request.

    ``lean`` sources (pyarrow's CSV reader) may raise :class:`_Fallback` wherever they cannot decide.
    Sources that can stream numeric columns into one array are :class:`_DenseSource`.
    """

    lean = False

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


class _DenseSource(_Source):
    """A source whose numeric columns stream, as Arrow record batches, into one float64 array (:mod:`.dense`).

    ``locates``: a lean source knows the line of every data row (else it falls back to report an error).
    """

    locates = True

    def numeric(self, names: Sequence[str]) -> bool:
        """Whether every column of ``names`` holds numbers (so it can be filled into a float64 array)."""
        raise NotImplementedError

    def batches(self, features: Sequence[str], target: str) -> Iterator[Any]:
        """Record batches holding at least the columns ``features`` and ``target``, one after the other."""
        raise NotImplementedError

    def column(self, name: str, chunks: Any) -> _Column:
        """The column ``name`` from its Arrow data (the chunks its batches held)."""
        raise NotImplementedError
