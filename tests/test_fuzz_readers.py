"""Fuzzing the data readers, kept in the repository (GitHub issue "Hardening", part 1).

Property of :func:`gradstep.data.readers.read_table` (and ``read_csv``) for
generated, then damaged, files written to a temporary folder -- CSV text (cells
of every kind, ragged rows, duplicate or empty headers, BOMs, latin-1 and
UTF-16 encodings, truncation, random bytes), Parquet (typed columns, then cut
or overwritten at random offsets), ``.npy``/``.npz`` (numbers, text, structured,
complex, datetime and object arrays, then cut or overwritten), and binary junk
under each extension:

* the reader returns a consistent :class:`Dataset` or raises :class:`DataError`,
  nothing else (no ``UnicodeError``, ``IndexError``, pyarrow or zipfile errors);
* the error is one line that starts with the path, and the location it records
  (``line``, ``row``, ``column``) is spelled in the message and lies in the file;
* within a bound on its cost (:data:`TIME_BOUND` times the reading of a small CSV file, in CPU time
  measured here against that reference measured in the same process, so that a busy machine does not
  fail it: see ``cost.py``);
* arrays of Python objects are never unpickled (a canary's ``__reduce__``).

The cases actually run are counted in :data:`COUNTS`; ``fuzz/count.py`` runs the
same properties with a larger budget, ``fuzz/readers_atheris.py`` is the
coverage-guided harness for long runs.
"""

from __future__ import annotations

import io
import math
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gradstep.data.datasets import Dataset
from gradstep.data.readers import DataError, read_csv, read_table

from cost import Reference, cpu

SCALE = float(os.environ.get("GRADSTEP_FUZZ_SCALE", "1"))   # fuzz/count.py runs more cases
HANGS: list[str] = []   # cases over the bound
TIME_BOUND = 1000.0   # times the reference's CPU time per case (about 1 s; the slowest case takes 2 times)
FUZZ = {"derandomize": True, "database": None, "deadline": None, "suppress_health_check": list(HealthCheck)}
COUNTS: dict[str, int] = {"csv": 0, "parquet": 0, "npz/npy": 0, "read": 0}
SLOWEST: dict[str, float] = {}   # CPU seconds
SUFFIXES = {"csv": (".csv", ".tsv", ".txt", ".dat"), "parquet": (".parquet", ".pq"), "npz/npy": (".npz", ".npy")}


# --- the property -----------------------------------------------------------------------------

def _lines_in(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + 1


def _reference_read() -> None:
    """The reference of the cost bounds: write and read a CSV of 200 rows and 5 columns (about 1 ms)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "reference.csv")
        path.write_text("a,b,c,d,y\n" + "".join(f"{i},{i % 7},{i / 3:.4f},x{i % 3},{i % 2}\n" for i in range(200)))
        read_table(path, "y")


REFERENCE = Reference(_reference_read)


def _quietly(reader, *args, **kwargs) -> None:
    try:
        reader(*args, **kwargs)
    except DataError:
        pass


def check_file(path: Path, target: str | None, target_kind: str, *, text_only: bool = False,
               **kwargs) -> Dataset | None:
    """Read ``path``: a consistent Dataset, or a located one-line DataError; nothing else, and quickly."""
    COUNTS[target_kind] += 1
    data = path.read_bytes()
    reader = read_csv if text_only else read_table
    start = time.process_time()
    try:
        ds = reader(path, target, **kwargs)
    except DataError as err:
        elapsed = time.process_time() - start
        message = str(err)
        assert message.startswith(str(path)), message
        assert "\n" not in message and "\r" not in message and "; " in message, message
        assert err.path == path
        if err.line is not None:
            assert f"line {err.line}" in message, message
            assert 1 <= err.line <= _lines_in(data), (err.line, message)
        if err.row is not None:
            assert err.row >= 1 and (err.line is not None or f"row {err.row} " in message), message
        if err.column is not None:
            assert "column " in message, message
        ds = None
    else:
        elapsed = time.process_time() - start
        COUNTS["read"] += 1
        assert isinstance(ds, Dataset)
        n = ds.X.shape[0]
        assert ds.X.ndim == 2 and ds.X.dtype == np.float64 and n >= 2 and ds.X.shape[1] >= 1
        assert ds.y.shape == (n,) and np.isfinite(ds.X).all()
        assert len(ds.feature_names) == ds.X.shape[1] and ds.target_name not in ds.feature_names
        if ds.task == "regression":
            assert ds.y.dtype == np.float64 and np.isfinite(ds.y).all()
        else:
            assert len(set(ds.y.tolist())) >= 2
    SLOWEST[target_kind] = max(SLOWEST.get(target_kind, 0.0), elapsed)
    if not REFERENCE.within(elapsed, TIME_BOUND):
        HANGS.append(f"{target_kind}: {path.name} ({len(data)} bytes) took {elapsed:.2f} s of CPU")
    REFERENCE.check(elapsed, TIME_BOUND, f"reading {path.name} ({len(data)} bytes)",
                    again=lambda: _quietly(reader, path, target, **kwargs))
    return ds


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-readers")


def _damage(raw: bytes, data: st.DataObject) -> bytes:
    """Cut ``raw`` at a random offset and/or overwrite, insert or delete a few bytes."""
    buf = bytearray(raw)
    how = data.draw(st.sampled_from(["none", "none", "none", "cut", "flip", "cut+flip", "insert", "delete"]),
                    label="damage")
    if "flip" in how and buf:
        for at, value in data.draw(st.lists(st.tuples(st.integers(0, len(buf) - 1), st.integers(0, 255)),
                                            min_size=1, max_size=6), label="flips"):
            buf[at] = value
    if how == "insert":
        at = data.draw(st.integers(0, len(buf)), label="at")
        buf[at:at] = data.draw(st.binary(min_size=1, max_size=16), label="inserted")
    if how == "delete" and buf:
        at = data.draw(st.integers(0, len(buf) - 1), label="at")
        del buf[at:at + data.draw(st.integers(1, 16), label="length")]
    if "cut" in how:
        buf = buf[:data.draw(st.integers(0, len(buf)), label="cut")]
    return bytes(buf)


OPTIONS = st.fixed_dictionaries({}, optional={
    "missing": st.sampled_from(["error", "drop", "mean"]),
    "task": st.sampled_from(["regression", "classification"]),
})


# --- CSV -----------------------------------------------------------------------------------------

CELLS = st.one_of(
    st.sampled_from(["1", "-2.5", "1e3", "0", "7", "3.25", "-0.0", "12", "4", "5"]),   # plain numbers, often
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "NA", "nan", "NaN", "-nan", "null", "None", "#N/A", "<NA>", "inf", "-inf", "Infinity",
                     "1e400", "-1e400", "1e-400", "9" * 100, "-" + "9" * 400, "1" + "0" * 309, "0x10", "1_0",
                     "1,5", "1.234,5", " 7 ", "?", "-", "abc", "é", "\u2028", "\x85", "\x0b", "\x1c", "\u00a0",
                     "١٢٣", "1e", "e5", ".", "+", "nan(0x1)", "True", "false"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
    st.text(alphabet='0123456789.,;|\t"e+- \n\r', max_size=8),
)
HEADER_NAMES = st.one_of(st.sampled_from(["x", "y", "z", "target", " y ", "", "x", "Unnamed: 0", "0", "a,b",
                                          '"y"', "y\n", "\ufeffy", "名前", "y"]),
                         st.text(max_size=6))


def _quote(cell: str, sep: str, how: str) -> str:
    if how == "always" or (how == "needed" and any(c in cell for c in (sep, '"', "\n", "\r"))):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def csv_files(draw) -> tuple[bytes, str | None, dict]:
    if draw(st.integers(0, 2)) == 0:   # a clean table of numbers, to reach the end of the reader too
        header = draw(st.sampled_from([["x", "y"], ["x", "z", "y"], ["a", "b b", "target", "y"]]))
        number = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(-1e6, 1e6).map(repr))
        rows = draw(st.lists(st.lists(number, min_size=len(header), max_size=len(header)), min_size=2, max_size=8))
    else:
        header = draw(st.lists(HEADER_NAMES, min_size=0, max_size=6))
        width = max(1, len(header))
        rows = draw(st.lists(st.one_of(st.lists(CELLS, min_size=width, max_size=width),      # rectangular
                                       st.lists(CELLS, min_size=0, max_size=width + 2)),      # ragged
                             max_size=8))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from(["needed", "needed", "never", "always"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [sep.join(_quote(c, sep, quoting) for c in r) for r in [header, *rows]]
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "")   # a blank line
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "utf-16-le",
                                     "cp1252", "utf-32"]))
    raw = text.encode(encoding, errors="replace") if encoding not in ("utf-8", "utf-8-sig") else \
        text.encode(encoding, errors="surrogatepass")
    names = [h.strip() for h in header]
    target = draw(st.one_of(st.none(), st.sampled_from(["y", "target", "nope"]),
                            st.sampled_from(names) if names else st.none()))
    kwargs = draw(OPTIONS)
    if draw(st.integers(0, 5)) == 0:
        kwargs["delimiter"] = draw(st.sampled_from([sep, ",", "tab", "\\t", ";;", "", '"', "\n", "x"]))
    if names and draw(st.integers(0, 5)) == 0:
        kwargs["features"] = draw(st.lists(st.sampled_from(names + ["nope", ""]), max_size=3))
    return raw, target, kwargs


@settings(max_examples=int(1400 * SCALE), **FUZZ)
@given(case=csv_files(), suffix=st.sampled_from(SUFFIXES["csv"]), data=st.data())
@example(case=(b"x,y\n1,2\n3,4\n", "y", {}), suffix=".csv", data=None)
@example(case=("x,y\n1,2\n3,4\n".encode("utf-16"), "y", {}), suffix=".csv", data=None)
@example(case=(b"x,y\n1e400,2\n3,4\n", "y", {}), suffix=".csv", data=None)
@example(case=(("x,y\n" + "9" * 100 + ",2\n3,4\n").encode(), "y", {}), suffix=".csv", data=None)
@example(case=(b"x,x\n1,2\n3,4\n", "x", {}), suffix=".csv", data=None)
@example(case=(b"x,y\n", "y", {}), suffix=".csv", data=None)
@example(case=(b"", "y", {}), suffix=".csv", data=None)
@example(case=(b"x,y\n1,2,3\n3\n", "y", {}), suffix=".csv", data=None)
@example(case=("x;y\n1;nan\n3;inf\n".encode("latin-1"), "y", {"missing": "drop"}), suffix=".csv", data=None)
def test_generated_csv_reads_or_raises_located_data_error(work, case, suffix, data):
    raw, target, kwargs = case
    if data is not None:
        raw = _damage(raw, data)
    path = work / f"table{suffix}"
    path.write_bytes(raw)
    check_file(path, target, "csv", **kwargs)


@settings(max_examples=int(400 * SCALE), **FUZZ)
@given(raw=st.one_of(st.binary(max_size=600), st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace"))),
       suffix=st.sampled_from(SUFFIXES["csv"]), target=st.sampled_from([None, "y", "0"]),
       text_only=st.booleans())
def test_junk_bytes_as_csv(work, raw, suffix, target, text_only):
    path = work / f"junk{suffix}"
    path.write_bytes(raw)
    check_file(path, target, "csv", text_only=text_only)


def _wide(work: Path, columns: int, rows: int, dup: bool) -> tuple[Path, list[str]]:
    """A CSV of ``columns`` columns (the last ``y``; with ``dup``, the middle one named as the second)."""
    names = [f"c{j}" for j in range(columns - 1)] + ["y"]
    if dup and columns > 2:
        names[columns // 2] = names[1]
    lines = [",".join(names)] + [",".join(str((j + i) % 7) for j in range(columns)) for i in range(rows)]
    path = work / f"wide-{columns}-{rows}-{dup}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, names


def _read_wide(path: Path, names: list[str], columns: int, rows: int, dup: bool) -> None:
    try:
        ds = read_table(path, "y")
        assert ds.X.shape == (rows, columns - 1) and not dup
    except DataError as err:
        assert str(err).startswith(str(path)) and (dup or rows < 2 or columns < 2), str(err)
        assert not dup or f"line 1, column {names[1]!r}: columns 2 and {columns // 2 + 1}" in str(err)


@pytest.mark.parametrize("columns, rows, dup", [(1, 2, False), (2, 0, False), (1000, 3, True), (50_000, 2, True),
                                                (50_000, 1, False), (200_000, 2, False)])
def test_very_wide_headers_are_read_in_linear_time(work, columns, rows, dup):
    """A wide header is read in time linear in its width (it was quadratic: 27 s for 50 000 columns): ten
    times the columns cost at most 40 times the CPU time (measured: 14-17; quadratic: 100), both measured here."""
    path, names = _wide(work, columns, rows, dup)
    seconds, _ = cpu(_read_wide, path, names, columns, rows, dup)
    if columns >= 50_000:
        small, small_names = _wide(work, columns // 10, rows, dup)
        Reference(lambda: _read_wide(small, small_names, columns // 10, rows, dup)).check(
            seconds, 40, f"reading a header of {columns} columns",
            again=lambda: _read_wide(path, names, columns, rows, dup))


def test_a_million_columns_in_a_header_is_bounded(work):
    """1 000 000 column names (7 MB of header) and two rows: read, or refused, in bounded time."""
    path = work / "million.csv"
    n = 1_000_000
    header = ",".join(f"c{j}" for j in range(n - 1)) + ",y"
    row = ",".join("1" for _ in range(n))
    path.write_text(f"{header}\n{row}\n{row.replace('1', '2')}\n")
    ds = read_table(path, "y")   # the cost of a width is bounded by the test above, against a tenth of it
    assert ds.X.shape == (2, n - 1)


# --- Parquet -------------------------------------------------------------------------------------

@st.composite
def parquet_tables(draw):
    import pyarrow as pa

    n = draw(st.integers(0, 6))
    names = draw(st.lists(st.sampled_from(["x", "y", "z", "w", "target", "", "__index_level_0__", "y"]),
                          min_size=1, max_size=4, unique=draw(st.booleans())))
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    arrays = []
    for _ in names:
        kind = draw(st.sampled_from(["float", "float", "float", "int", "int", "bool", "str", "null", "dict", "decimal",
                                     "timestamp", "list", "binary", "float32", "uint64", "numtext"]))
        if kind == "float":
            arr = pa.array(draw(st.lists(st.one_of(floats, st.none()), min_size=n, max_size=n)), pa.float64())
        elif kind == "float32":
            arr = pa.array(draw(st.lists(st.floats(width=32), min_size=n, max_size=n)), pa.float32())
        elif kind == "int":
            arr = pa.array(draw(st.lists(st.one_of(st.integers(-2**63, 2**63 - 1), st.none()), min_size=n,
                                         max_size=n)), pa.int64())
        elif kind == "uint64":
            arr = pa.array(draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n)), pa.uint64())
        elif kind == "bool":
            arr = pa.array(draw(st.lists(st.one_of(st.booleans(), st.none()), min_size=n, max_size=n)))
        elif kind in ("str", "numtext"):
            cells = CELLS if kind == "numtext" else st.text(max_size=5)
            arr = pa.array(draw(st.lists(st.one_of(cells, st.none()), min_size=n, max_size=n)), pa.string())
        elif kind == "dict":
            arr = pa.array(draw(st.lists(st.sampled_from(["a", "b", "1", "2.5"]), min_size=n, max_size=n))
                           ).dictionary_encode()
        elif kind == "decimal":
            import decimal
            arr = pa.array([decimal.Decimal(v) for v in draw(st.lists(st.integers(-10**30, 10**30), min_size=n,
                                                                      max_size=n))], pa.decimal128(38, 3))
        elif kind == "timestamp":
            arr = pa.array(draw(st.lists(st.integers(0, 10**15), min_size=n, max_size=n)), pa.timestamp("us"))
        elif kind == "list":
            arr = pa.array(draw(st.lists(st.lists(st.integers(0, 3), max_size=2), min_size=n, max_size=n)))
        elif kind == "binary":
            arr = pa.array(draw(st.lists(st.binary(max_size=4), min_size=n, max_size=n)), pa.binary())
        else:
            arr = pa.nulls(n)
        arrays.append(arr)
    return names, arrays


def _parquet_bytes(names, arrays, compression: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), buf, compression=compression)
    return buf.getvalue()


@settings(max_examples=int(1500 * SCALE), **FUZZ)
@given(table=parquet_tables(), compression=st.sampled_from(["none", "snappy", "zstd"]),
       target=st.sampled_from([None, "y", "target", "x", "nope"]), options=OPTIONS,
       suffix=st.sampled_from(SUFFIXES["parquet"] + (".bin",)), data=st.data())
def test_generated_parquet_reads_or_raises_located_data_error(work, table, compression, target, options, suffix,
                                                              data):
    raw = _damage(_parquet_bytes(*table, compression), data)
    path = work / f"table{suffix}"
    path.write_bytes(raw)
    check_file(path, target, "parquet", **options)


def test_timestamp_target_for_classification_is_a_data_error(work):
    """Found by fuzz/count.py: a Parquet timestamp target with task='classification' raised
    IndexError('too many indices for array: array is 0-dimensional, but 1 were indexed')."""
    import datetime

    import pyarrow as pa

    us = datetime.timedelta(microseconds=1)
    epoch = datetime.datetime(1970, 1, 1)
    names = ["target", "z", "", "y"]
    arrays = [pa.array([epoch + us, epoch + us, epoch + us, epoch], pa.timestamp("us")),
              pa.array([0.0, 0.0, 0.0, 0.0]),
              pa.array([epoch, epoch + 266085 * us, epoch + 6522413 * us, epoch + 2203424 * us], pa.timestamp("us")),
              pa.array([-0.0, 0.0, 3.36000123404288e16, 0.0], pa.float32())]
    path = work / "timestamps.parquet"
    path.write_bytes(_parquet_bytes(names, arrays, "none"))
    with pytest.raises(DataError) as info:
        read_table(path, "target", task="classification")
    assert str(info.value) == (f"{path}, column 'target': the column has type timestamp[us], which cannot be class "
                               "labels; class labels must be numbers or text; choose another target=, or convert "
                               "the column to text")
    assert info.value.column == "target"
    npz = work / "datetimes.npz"
    np.savez(npz, t=np.arange(4).astype("M8[s]"), z=np.arange(4.0))
    with pytest.raises(DataError, match="dtype datetime64.s., which cannot be class labels"):
        read_table(npz, "t", task="classification")
    check_file(path, "target", "parquet", task="classification")


@settings(max_examples=int(500 * SCALE), **FUZZ)
@given(raw=st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(lambda b: b"PAR1" + b + b"PAR1")),
       suffix=st.sampled_from(SUFFIXES["parquet"]), target=st.sampled_from([None, "y"]))
def test_junk_bytes_as_parquet(work, raw, suffix, target):
    path = work / f"junk{suffix}"
    path.write_bytes(raw)
    check_file(path, target, "parquet")


# --- NumPy -------------------------------------------------------------------------------------

UNPICKLED: list[str] = []


class Canary:
    """Unpickling one appends to UNPICKLED: proof that an object array was loaded."""

    def __reduce__(self):
        return UNPICKLED.append, ("unpickled",)


@st.composite
def numpy_arrays(draw, ndim=None):
    n = draw(st.integers(0, 5))
    ndim = draw(st.sampled_from([0, 1, 1, 2, 2, 3])) if ndim is None else ndim
    shape = {0: (), 1: (n,), 2: (n, draw(st.integers(0, 4))), 3: (n, 2, 1)}[ndim]
    size = math.prod(shape)
    kind = draw(st.sampled_from(["f8", "f8", "i8", "f4", "f2", "u1", "bool", "U", "S", "object", "c16", "M8[s]",
                                 "structured", "V4", "f16"]))
    if kind in ("f8", "f4", "f2", "f16"):
        values = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=size, max_size=size))
        with np.errstate(all="ignore"):
            return np.array(values, dtype=np.longdouble if kind == "f16" else kind).reshape(shape)
    if kind in ("i8", "u1"):
        lo, hi = (-2**63, 2**63 - 1) if kind == "i8" else (0, 255)
        return np.array(draw(st.lists(st.integers(lo, hi), min_size=size, max_size=size)), dtype=kind).reshape(shape)
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)), dtype=bool).reshape(shape)
    if kind in ("U", "S"):
        cells = draw(st.lists(st.one_of(CELLS.filter(lambda c: "\x00" not in c)), min_size=size, max_size=size))
        if kind == "S":
            return np.array([c.encode("utf-8", "replace") for c in cells] or [b""], dtype="S")[:size].reshape(shape)
        return np.array(cells or [""], dtype="U")[:size].reshape(shape)
    if kind == "object":
        a = np.empty(size, dtype=object)
        for i in range(size):
            a[i] = Canary()
        return a.reshape(shape)
    if kind == "c16":
        return (np.arange(size) * (1 + 1j)).reshape(shape)
    if kind == "M8[s]":
        return np.arange(size).astype("M8[s]").reshape(shape)
    if kind == "V4":
        return np.zeros(shape, dtype="V4")
    fields = draw(st.lists(st.sampled_from(["x", "y", "z", "obj", "sub"]), min_size=1, max_size=3, unique=True))
    dtype = [(f, object if f == "obj" else ("f8", (2,)) if f == "sub" else "f8") for f in fields]
    a = np.zeros(n, dtype=dtype)
    if "obj" in fields:
        for i in range(n):
            a["obj"][i] = Canary()
    return a


@st.composite
def npz_files(draw):
    layout = draw(st.sampled_from(["npy", "npy2d", "XY", "columns", "mixed"]))
    buf = io.BytesIO()
    if layout in ("npy", "npy2d"):
        a = draw(numpy_arrays(ndim=2 if layout == "npy2d" else None))
        np.save(buf, a, allow_pickle=True)
        return buf.getvalue(), ".npy", draw(st.sampled_from([None, "last", "-1", "0", "1", "y", "-9", "x"]))
    if layout == "XY":
        arrays = {"X": draw(numpy_arrays(ndim=2)), "y": draw(numpy_arrays(ndim=draw(st.sampled_from([1, 1, 2]))))}
        if draw(st.booleans()):
            arrays["feature_names"] = draw(numpy_arrays(ndim=1))
    else:
        keys = draw(st.lists(st.sampled_from(["x", "y", "z", "target", "X", "w"]), min_size=0, max_size=4,
                             unique=True))
        arrays = {k: draw(numpy_arrays(ndim=1 if layout == "columns" else None)) for k in keys}
    compressed = draw(st.booleans())
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    if draw(st.integers(0, 7)) == 0:   # a stray non-.npy member
        with zipfile.ZipFile(buf, "a") as zf:
            zf.writestr("notes.txt", "hello")
    return buf.getvalue(), ".npz", draw(st.sampled_from([None, "y", "x", "target", "X", "nope"]))


@settings(max_examples=int(1600 * SCALE), **FUZZ)
@given(case=npz_files(), options=OPTIONS, data=st.data(), unknown_suffix=st.booleans())
def test_generated_numpy_files_read_or_raise_located_data_error(work, case, options, data, unknown_suffix):
    raw, suffix, target = case
    raw = _damage(raw, data)
    path = work / f"arrays{'.bin' if unknown_suffix else suffix}"
    path.write_bytes(raw)
    UNPICKLED.clear()
    check_file(path, target, "npz/npy", **options)
    assert not UNPICKLED, "an object array was unpickled"


@settings(max_examples=int(400 * SCALE), **FUZZ)
@given(raw=st.one_of(st.binary(max_size=600), st.binary(max_size=300).map(lambda b: b"\x93NUMPY" + b),
                     st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b)),
       suffix=st.sampled_from(SUFFIXES["npz/npy"]), target=st.sampled_from([None, "y", "last"]))
def test_junk_bytes_as_numpy(work, raw, suffix, target):
    path = work / f"junk{suffix}"
    path.write_bytes(raw)
    check_file(path, target, "npz/npy")


def test_object_arrays_are_never_unpickled(work):
    for name, save in [("objects.npy", lambda p: np.save(p, np.array([[Canary(), 1.0]] * 3, dtype=object))),
                       ("objects.npz", lambda p: np.savez(p, X=np.array([[Canary()]] * 3, dtype=object),
                                                          y=np.ones(3))),
                       ("columns.npz", lambda p: np.savez(p, x=np.array([Canary()] * 3, dtype=object),
                                                          y=np.ones(3)))]:
        path = work / name
        save(path)
        UNPICKLED.clear()
        with pytest.raises(DataError, match="Python objects"):
            read_table(path, "y" if name.endswith(".npz") else "last")
        assert not UNPICKLED


def test_zz_case_counts(capsys):
    """Runs last in this module: how many cases each property ran (0 when deselected)."""
    with capsys.disabled():
        print(f"\nreader fuzz cases: {COUNTS}; slowest (s of CPU): {({k: round(v, 3) for k, v in SLOWEST.items()})}"
              + (f"; the reference {REFERENCE.seconds:.4f} s" if SLOWEST else ""))
    for target in ("csv", "parquet", "npz/npy"):   # 1800-2000 each when the whole module runs
        assert COUNTS[target] == 0 or COUNTS[target] >= 1000 * SCALE or COUNTS[target] <= 500 * SCALE + 6
