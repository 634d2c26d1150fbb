r"""How much memory a command may give its data: the budget that decides between reading a file
into memory and streaming it, and that refuses an archive which would expand past it.

The default budget is a quarter of the memory the machine has available now
(``MemAvailable`` of ``/proc/meminfo`` on Linux, else the free pages): the data, the
temporaries of a gradient pass over them and everything else the process holds must fit
in what is left. ``--memory`` (``parse_size``) sets it by hand.

Examples
--------
>>> parse_size("512M"), parse_size("1.5G"), parse_size("2GiB"), parse_size("2e9")
(512000000, 1500000000, 2147483648, 2000000000)
>>> in_memory_bytes(4_000_000, 21) / 1e6    # 4M rows, 20 features and a target, float64
672.0
"""

from __future__ import annotations

import os
import re

__all__ = ["DEFAULT_SHARE", "available_bytes", "default_budget", "describe", "in_memory_bytes", "parse_size",
           "table_bytes"]

DEFAULT_SHARE = 0.25
"""Share of the available memory the data may take by default."""

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 1 << 10, "m": 10**6, "mb": 10**6, "mib": 1 << 20,
          "g": 10**9, "gb": 10**9, "gib": 1 << 30, "t": 10**12, "tb": 10**12, "tib": 1 << 40}


def available_bytes() -> int:
    """Memory available to new allocations now, in bytes (Linux ``MemAvailable``; else the free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not a POSIX system
        return 4 << 30


def default_budget() -> int:
    """:data:`DEFAULT_SHARE` of :func:`available_bytes`."""
    return int(DEFAULT_SHARE * available_bytes())


def parse_size(text: str | int | float) -> int:
    """A size in bytes from ``"800M"``, ``"2G"``, ``"1.5GiB"``, ``"2e9"`` or a number (K, M, G, T decimal, as
    :func:`describe` writes them; KiB, MiB, GiB, TiB binary)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if m is None or m.group(2).lower() not in _UNITS:
            raise ValueError(f"a memory size must be a number with an optional unit K, M, G or T (e.g. 800M, "
                             f"2G), got {text!r}")
        value, unit = float(m.group(1)), m.group(2).lower()
    size = int(value * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"a memory size must be positive, got {text!r}")
    return size


def in_memory_bytes(n_rows: int, n_columns: int, itemsize: int = 8) -> int:
    """Bytes of ``n_rows`` by ``n_columns`` numbers held as one array (float64 by default)."""
    return int(n_rows) * int(n_columns) * int(itemsize)


def describe(n_bytes: int) -> str:
    """``n_bytes`` in words: ``"672 MB"``, ``"1.5 GB"`` (decimal units, as file sizes are shown)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            value = n_bytes / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n_bytes)} bytes"


def table_bytes(path: str | os.PathLike, n_columns: int | None = None) -> int | None:
    """The bytes a data file's table would take in memory as float64, known before reading it.

    Parquet: rows from the metadata times the numeric columns (or ``n_columns``); CSV: the file's
    size divided by the bytes per cell of its first 64 KiB, times 8 (an estimate; the rows are not
    counted). ``None`` for other files (the NumPy readers check their own headers).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("a,b\\n" + "1.5,2.5\\n" * 1000)
    >>> table_bytes(path)        # 2000 cells of 4 bytes: 16 kB as float64
    16000
    """
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        if n_columns is None:
            schema = meta.schema.to_arrow_schema()
            n_columns = sum(1 for f in schema if _numeric(f.type))
        return in_memory_bytes(meta.num_rows, n_columns)
    if suffix in (".csv", ".tsv", ".txt"):
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        header, *lines = head.splitlines() or [b""]  # the header is not data
        size -= len(header) + 1
        if len(head) == 1 << 16 and len(lines) > 1:
            lines = lines[:-1]  # the last line may be cut
        cells = sum(max(1, len(line.replace(b";", b",").replace(b"\t", b",").replace(b"|", b",").split(b",")))
                    for line in lines)
        data = sum(len(line) + 1 for line in lines)
        return int(size * 8 * cells / data) if cells and data else 0
    return None


def _numeric(t: object) -> bool:
    import pyarrow.types as pt

    return bool(pt.is_integer(t) or pt.is_floating(t) or pt.is_boolean(t) or pt.is_decimal(t))
