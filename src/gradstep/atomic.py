"""Atomic file writes: a file is replaced by its whole new content or not at all.

Every file gradstep writes for the user (a history's JSON or CSV, a checkpoint's state,
a figure, a cache entry) goes through :func:`replacing`, one rule for all of them:

1. the new content goes to a temporary file in the same folder, named
   ``.<name>.<12 hex digits>.tmp`` (hidden, so a half-written file is never taken for
   the real one, and in the same file system, so that the rename below is atomic);
2. the temporary file is created as :func:`open` would create the file itself: mode
   ``0o666`` less the umask (not :func:`tempfile.mkstemp`'s ``0o600``, which would
   hide the result from the group);
3. the temporary file is flushed to the disk (``fsync``), then renamed over the
   target (:func:`os.replace`), then the folder is flushed too where the system allows
   it (POSIX), so that the rename itself survives a power cut;
4. on any failure (an exception, Ctrl-C) the temporary file is removed and the old
   file, if any, is left as it was.

Missing folders are an error, as for :func:`open`, unless ``parents=True`` asks to create them.

Examples
--------
>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     path = pathlib.Path(d, "note.txt")
...     write_text(path, "first")
...     with replacing(path) as tmp:
...         _ = tmp.write_text("second")
...     path.read_text(), sorted(p.name for p in pathlib.Path(d).iterdir())
('second', ['note.txt'])
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing", "write_bytes", "write_text"]

TOKEN_BYTES = 6
"""Random bytes in a temporary file's name (12 hex digits)."""
_TRIES = 100


def _create_beside(path: Path) -> Path:
    """A new, empty temporary file in ``path``'s folder, with the mode :func:`open` would give."""
    for _ in range(_TRIES):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(TOKEN_BYTES)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))   # the umask applies
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name} after {_TRIES} tries")


def _fsync_folder(folder: Path) -> None:
    """Flush the folder's entries (the rename) to the disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:   # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], parents: bool = False) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; it replaces ``path`` only if the block succeeds.

    The block writes the temporary file by its name (any writer: ``open``, ``savefig``, a
    pickler); on leaving it the file is fsynced and renamed over ``path``, and the folder is
    fsynced. An exception in the block (or in the rename) removes the temporary file and
    leaves ``path`` as it was. ``parents``: create ``path``'s missing folders first. See the
    module's documentation for the rule.
    """
    path = Path(path)
    folder = path.parent
    if parents:
        folder.mkdir(parents=True, exist_ok=True)
    tmp = _create_beside(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`replacing`)."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically as UTF-8, newlines as given (:func:`replacing`).

    A crash or Ctrl-C leaves either the old file or the whole new one, never half of it.
    """
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
