"""Checkpoints: a run saved every N updates, so that a killed run can go on to the same result.

A checkpoint holds the estimator as it was when the run began (its settings, seed,
learning rate, averaging state and history so far) and the loop's
:class:`~gradstep.loop.Snapshot` (parameters, optimiser state, the position in the data, the
stopping rules' counters). It is written atomically: to a temporary file in the same folder,
flushed to disk, then renamed over the old one (:func:`os.replace`). A run killed at any
moment leaves either the previous checkpoint or the new one, never half a file.

Checkpoints are pickles: load only your own (unpickling runs code from the file).

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
>>> save(path, {"step": 3})
>>> load(path)
{'step': 3}
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

FORMAT = "gradstep-checkpoint-1"


def save(path: str | os.PathLike, content: Any) -> None:
    """Write ``content`` to ``path`` atomically (a temporary file, fsync, rename)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump({"format": FORMAT, "content": content}, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself reaches the disk
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path: str | os.PathLike) -> Any:
    """What :func:`save` wrote to ``path``; a ``ValueError`` naming the file if it is not a checkpoint."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no checkpoint there; run without --resume to start afresh") from None
    except Exception as err:  # noqa: BLE001 - unpickling a foreign file raises anything
        raise ValueError(f"{path}: not a gradstep checkpoint ({type(err).__name__}: {err}); delete it to start "
                         f"afresh") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a gradstep checkpoint (format {data.get('format') if isinstance(data, dict) else None!r}); "
                         f"delete it to start afresh")
    return data["content"]


__all__ = ["FORMAT", "load", "save"]
