r"""How much memory a command may give its data: the budget that decides between reading a file
into memory and streaming it, and that refuses an archive which would expand past it.

The default budget is a quarter of the memory the machine has available now
(``MemAvailable`` of ``/proc/meminfo`` on Linux, else the free pages): the data, the
temporaries of a gradient pass over them and everything else the process holds must fit
in what is left. ``--memory`` (``parse_size``) sets it by hand.

Examples
--------
>>> parse_size("512M"), parse_size("1.5G"), parse_size("2e9")
(536870912, 1610612736, 2000000000)
>>> in_memory_bytes(4_000_000, 21) / 1e6    # 4M rows, 20 features and a target, float64
672.0
"""

from __future__ import annotations

import os
import re

__all__ = ["DEFAULT_SHARE", "available_bytes", "default_budget", "describe", "in_memory_bytes", "parse_size"]

DEFAULT_SHARE = 0.25
"""Share of the available memory the data may take by default."""

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


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
    """A size in bytes from ``"800M"``, ``"2G"``, ``"1.5GiB"``, ``"2e9"`` or a number (binary units)."""
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
