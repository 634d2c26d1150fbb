"""A small on-disk cache of derived text, such as the exact gradients of formulas.

An entry maps a key (the SHA-256 of everything its value depends on) to a
list of strings, stored as one JSON file ``<folder>/<key>.json``.  The cache
is a convenience, never a source of truth or of errors:

* every read is checked (size, JSON, shape, the key inside the file) and
  anything wrong reads as a miss; callers parse the strings again with their
  own safe parser, so a tampered file can inject nothing;
* writes are atomic (:mod:`gradstep.atomic`: a temporary file in the folder,
  flushed, then ``os.replace``), and a folder that cannot be created or
  written silently turns caching off.

The folder is ``$GRADSTEP_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradstep``, else
``~/.cache/gradstep``.  ``GRADSTEP_CACHE_DIR=""`` or ``GRADSTEP_NO_CACHE=1``
turn the cache off.  Nothing is ever evicted (an entry is a few hundred bytes);
deleting the folder at any time is safe.

Examples
--------
>>> import tempfile
>>> k = key("example", "x**2")
>>> with tempfile.TemporaryDirectory() as folder:
...     print(load(k, folder), store(k, ["2*x"], folder), load(k, folder))
None True ['2*x']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from . import switches
from .atomic import replacing

__all__ = ["DIR_VARIABLE", "MAX_BYTES", "OFF_VARIABLE", "directory", "key", "load", "store"]

DIR_VARIABLE = "GRADSTEP_CACHE_DIR"
OFF_VARIABLE = "GRADSTEP_NO_CACHE"
MAX_BYTES: int = 4 * 2**20   # a larger entry is neither written nor read


def directory() -> Path | None:
    """The cache folder from the environment, or None when caching is off.

    Returns
    -------
    Path or None
        ``$GRADSTEP_CACHE_DIR``; else ``$XDG_CACHE_HOME/gradstep`` (if that is
        an absolute path); else ``~/.cache/gradstep``.  None if
        ``GRADSTEP_NO_CACHE`` is on (:func:`gradstep.switches.enabled`: set, and not
        ``""``/``0``/``false``/``no``/``off``),
        if ``GRADSTEP_CACHE_DIR`` is set but empty, or if there is no home folder.
        The folder need not exist.
    """
    if switches.enabled(OFF_VARIABLE, default=False):
        return None
    if DIR_VARIABLE in os.environ:
        chosen = os.environ[DIR_VARIABLE]
        return Path(chosen).expanduser() if chosen.strip() else None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "gradstep"
    try:
        return Path.home() / ".cache" / "gradstep"
    except (RuntimeError, KeyError):   # no home folder
        return None


def key(*parts: str) -> str:
    """The entry key of ``parts``: ``sha256(json([part_1, ..., part_n]))`` in hex.

    Examples
    --------
    >>> len(key("a", "b")), key("a", "b") == key("a", "b") != key("ab")
    (64, True)
    """
    return hashlib.sha256(json.dumps(list(parts)).encode()).hexdigest()


def _path(entry: str, folder: str | os.PathLike[str] | None) -> Path | None:
    folder = directory() if folder is None else Path(folder)
    if folder is None or len(entry) != 64 or not all(c in "0123456789abcdef" for c in entry):
        return None
    return folder / f"{entry}.json"


def load(entry: str, folder: str | os.PathLike[str] | None = None) -> list[str] | None:
    """The strings stored under ``entry`` in ``folder`` (default: :func:`directory`),
    or None: a miss, caching off, or an entry that is unreadable, too large or
    not of the expected shape.  Never raises."""
    path = _path(entry, folder)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return None
        content = json.loads(data)
    except (OSError, ValueError, RecursionError):   # missing, unreadable, not JSON (UnicodeError is a ValueError)
        return None
    if not isinstance(content, dict) or content.get("key") != entry:
        return None
    values = content.get("values")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return values


def store(entry: str, values: Sequence[str], folder: str | os.PathLike[str] | None = None) -> bool:
    """Write ``values`` under ``entry`` in ``folder`` (default: :func:`directory`)
    atomically; False (and nothing written) when caching is off, the folder
    cannot be created or written, or the entry is too large.  Never raises."""
    path = _path(entry, folder)
    if path is None:
        return False
    data = json.dumps({"key": entry, "values": list(values)}).encode()
    if len(data) > MAX_BYTES:
        return False
    try:
        with replacing(path, parents=True) as temp, open(temp, "wb") as f:
            f.write(data)
        return True
    except OSError:
        return False
