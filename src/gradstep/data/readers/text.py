"""CSV text: decode the file's bytes as UTF-8 (refusing binary formats with a hint), detect or check the
delimiter, split the text into records and give each data row its line number, as :class:`_CsvSource`."""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import DataError, _brief, _Column, _column_from_text, _comma_number, _err, _Located, _show, _Source

DELIMITERS = (",", ";", "\t", "|")
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


def _sniff_delimiter(text: str, preferred: Sequence[str], truncated: bool = False) -> str:
    """The candidate delimiter under which the first lines have the same number (> 1) of fields.

    ``truncated``: ``text`` is only the head of the file (the file goes on after it).
    """
    sample = text[:65536]
    if (truncated or len(text) > len(sample)) and "\n" in sample:
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
        self._index = {name: j for j, name in enumerate(names)}  # not names.index: linear in a wide header
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
            cells = self._cells[self._index[name]]
            with _gc_paused() if len(cells) > 10_000 else contextlib.nullcontext():  # costly per column when wide
                self._cache[name] = _column_from_text(name, cells, all_str=True)
        return self._cache[name]

    def resolve(self, name: str, role: str) -> str | None:
        return name if name in self._index else None

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
                    "pass the right delimiter=")
        return ""
