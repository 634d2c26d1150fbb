"""Clean CSV files read lean, with pyarrow's streaming CSV reader, as :class:`_ArrowCsvSource`.

Only the head of the file is decoded here (to detect the delimiter and read the header, exactly as
the careful reader of :mod:`.text` does); one pass over the raw bytes counts the lines (an upper
bound on the rows, to preallocate the destination), the quotes (a file with quoted cells under
its header is left to the careful reader), empty lines and NUL bytes; the cells are then
parsed by pyarrow in blocks and copied into the destination (:mod:`.dense`). Numeric columns are
parsed as float64 (correctly rounded, as Python's ``float``), the target as text, parsed as the
careful reader parses it.

Whatever this reader cannot decide exactly as the careful reader would -- a text column, an unnamed
or padded header name, a cell pyarrow does not parse, an infinite value, a problem in a file with
empty lines (so lines and rows differ) -- raises :class:`~.common._Fallback`, and the file
is read again by the careful reader, which gives the located message.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "clean.csv")
>>> _ = open(path, "w").write("a,b,y\\n1,2,3\\n4,5,6\\n" + "7,8,9\\n" * 200_000)
>>> src = open_lean_csv(path, None)
>>> src.names, src.delimiter, src.n_rows >= 2
(['a', 'b', 'y'], ',', True)
>>> sum(b.num_rows for b in src.batches(["a", "b"], "y"))
200002
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .common import NA_TOKENS, DataError, _Column, _column_from_text, _DenseSource, _Fallback, _Located
from .text import _MAGIC, DELIMITERS, _check_delimiter, _sniff_delimiter

__all__ = ["open_lean_csv"]

MIN_BYTES = 1 << 20
"""Smaller files are read by the careful reader: little memory either way, and no pyarrow to import."""
HEAD_BYTES = 4 * 65536 + 4
"""Bytes decoded to detect the delimiter: at least the 65536 characters the careful reader samples."""
BLOCK_BYTES = 1 << 22
"""Bytes of text pyarrow parses (and this reader copies into the destination) at a time."""
MAX_COLUMNS = 10_000
"""Wider files are read by the careful reader (its header parsing is linear in the width)."""
_SCAN_BYTES = 16 << 20
_NULLS = sorted({v for t in NA_TOKENS for v in (t, t.upper(), t.title(), t.capitalize())})


class _DataLines:
    """The line of data row ``i`` (0-based) in a file without quotes or blank lines under its header."""

    def __init__(self, first: int) -> None:
        self.first = first

    def __getitem__(self, i: int) -> int:
        return self.first + i


def _decode_head(head: bytes, truncated: bool) -> str | None:
    """The head of the file as text (None where the careful reader must look: not UTF-8, binary, ...)."""
    if any(head.startswith(magic) for magic, _, _ in _MAGIC) or b"\x00" in head:
        return None
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    head = head[len(codecs.BOM_UTF8):] if head.startswith(codecs.BOM_UTF8) else head
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as err:
        if truncated and err.start >= len(head) - 3:  # a character cut by the end of the head
            return head[: err.start].decode("utf-8", "replace")
        return None


def _header(text: str, delimiter: str) -> list[str] | None:
    """The names on the first line, if they are plain: named, unpadded, distinct, 2 to MAX_COLUMNS of them."""
    try:
        names = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True))
    except (csv.Error, StopIteration):
        return None
    if not 2 <= len(names) <= MAX_COLUMNS or len(set(names)) != len(names):
        return None
    if any(not n or n != n.strip() for n in names):
        return None
    return names


class _Scan(NamedTuple):
    """What one pass over the raw bytes saw."""

    breaks: int   # line breaks (a CR LF counts twice: an upper bound on the lines)
    quotes: int   # double quotes
    blank: bool   # an empty line (two line breaks in a row)
    nul: bool     # a NUL byte


def _scan(path: Path) -> _Scan:
    """Count the line breaks and quotes, and look for empty lines and NUL bytes, in one pass over the bytes."""
    breaks = quotes = 0
    blank = nul = False
    last = b""
    with open(path, "rb") as f:
        while chunk := f.read(_SCAN_BYTES):
            breaks += chunk.count(b"\n") + chunk.count(b"\r")
            quotes += chunk.count(b'"')
            seam = last + chunk[:1]
            blank = blank or any(p in chunk or p == seam for p in (b"\n\n", b"\n\r", b"\r\r"))
            nul = nul or b"\x00" in chunk
            last = chunk[-1:]
    return _Scan(breaks, quotes, blank, nul)


class _ArrowCsvSource(_DenseSource):
    """A CSV file whose head looks clean, to be read with pyarrow (``lean``: it may raise :class:`_Fallback`)."""

    lean = True

    def __init__(self, path: Path, delimiter: str, names: list[str], n_rows: int, locates: bool) -> None:
        super().__init__(path)
        self.delimiter = delimiter
        self.names = names
        self.n_rows = n_rows          # an upper bound: the line breaks, less the header's
        self.locates = locates        # no empty lines: data row i is on line i + 2
        self.where = _Located(path, _DataLines(2))
        self.types: dict[str, Any] = {}

    def _options(self, column_types: dict[str, Any]) -> dict[str, Any]:
        import pyarrow.csv as pacsv

        return {
            "read_options": pacsv.ReadOptions(block_size=BLOCK_BYTES),
            "parse_options": pacsv.ParseOptions(delimiter=self.delimiter, quote_char='"', double_quote=True,
                                                escape_char=False, newlines_in_values=False,
                                                ignore_empty_lines=True),
            "convert_options": pacsv.ConvertOptions(column_types=column_types, null_values=_NULLS,
                                                    strings_can_be_null=False, quoted_strings_can_be_null=True),
        }

    def peek(self) -> None:
        """Infer the columns' types from the first block; fall back unless pyarrow sees the same header."""
        import pyarrow.csv as pacsv

        try:
            with pacsv.open_csv(self.path, **self._options({})) as reader:
                schema = reader.schema
        except Exception:
            raise _Fallback from None
        if [str(n) for n in schema.names] != self.names:
            raise _Fallback
        self.types = {str(f.name): f.type for f in schema}

    def skip_reason(self, name: str) -> str | None:
        import pyarrow as pa

        t = self.types[name]
        if pa.types.is_int64(t) or pa.types.is_float64(t):
            return None
        raise _Fallback  # text, empty or typed in the first block: only a full read can tell

    def numeric(self, names: Sequence[str]) -> bool:
        return True  # parsed as float64; a cell that is not a number makes pyarrow fail, and this reader fall back

    def batches(self, features: Sequence[str], target: str) -> Iterator[Any]:
        """Record batches of every column: the features as float64, the others as text."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        wanted = set(features)
        types = {name: (pa.float64() if name in wanted else pa.string()) for name in self.names}
        try:
            with pacsv.open_csv(self.path, **self._options(types)) as reader:
                yield from reader
        except Exception:
            raise _Fallback from None

    def column(self, name: str, chunks: list[Any]) -> _Column:
        import pyarrow as pa

        cells = pa.chunked_array(chunks, type=pa.string()).to_pylist()
        return _column_from_text(name, cells, all_str=True)


def open_lean_csv(path: str | os.PathLike, delimiter: str | None) -> _ArrowCsvSource | None:
    """A lean reader for the CSV file ``path``, or None when the careful reader must read it.

    None for files under :data:`MIN_BYTES`, whose head is not clean UTF-8 text with a plain header
    (``_header``), that hold NUL bytes or quoted cells, have fewer than two data lines, or when pyarrow
    cannot be imported.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size < MIN_BYTES:
            return None
        import pyarrow.csv  # noqa: F401

        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except (ImportError, OSError):
        return None
    truncated = size > len(head)
    text = _decode_head(head, truncated)
    if text is None or not text.strip():
        return None
    if delimiter is None:
        preferred = ("\t", ",", ";", "|") if path.suffix.lower() == ".tsv" else DELIMITERS
        delimiter = _sniff_delimiter(text, preferred, truncated=truncated)
    else:
        try:
            delimiter = _check_delimiter(path, delimiter)
        except DataError:
            return None
    names = _header(text, delimiter)
    if names is None:
        return None
    scan = _scan(path)
    if scan.nul or scan.breaks < 2 or text[:1].isspace():
        return None
    if scan.quotes != text.splitlines()[0].count('"'):
        return None  # quoted cells: pyarrow takes some that Python's strict csv refuses ("3"4)
    src = _ArrowCsvSource(path, delimiter, names, scan.breaks + 1, locates=not scan.blank)
    try:
        src.peek()
    except _Fallback:
        return None
    return src
