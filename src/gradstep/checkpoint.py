"""Checkpoints: a run saved every N updates, so that a killed run can go on to the same result.

A checkpoint holds the estimator as it was when the run began (its settings, seed,
learning rate, averaging state and history so far) and the loop's
:class:`~gradstep.loop.Snapshot` (parameters, optimiser state, the position in the data, the
stopping rules' counters).

Its cost does not grow with the run: a checkpoint ``run.ckpt`` is two files,

* ``run.ckpt``, the state: everything but the histories' step records, small, replaced
  atomically at every save (:func:`gradstep.atomic.replacing`: a temporary file in the same
  folder, flushed to disk, then renamed over the old one);
* ``run.ckpt.<token>.history`` for each :class:`~gradstep.history.History` in it: its steps,
  epochs and kept parameter rows, **appended** piece by piece (only what was recorded since
  the previous save), flushed to disk before the state that counts its bytes is renamed in.

A run killed at any moment leaves either the previous checkpoint or the new one, never half
of one: the state names how many bytes of the history file are its own; bytes written after
them (a save cut short) are ignored, and cut off by the next save. A history not saved to this
checkpoint before (a fresh run) starts a new history file, and the files no state names any
more are removed after the rename. Copy or move a checkpoint with its ``.history`` files.

What a fit is asked to do with a checkpoint (the file, how often it is saved, whether the fit goes
on from it) travels as one value, :class:`CheckpointFile`.

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

import io
import os
import pickle
import secrets
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import replacing
from .history import History

FORMAT = "gradstep-checkpoint-2"
"""2: histories in append-only side files; 1 (still read): everything in one pickle."""
READS = ("gradstep-checkpoint-1", FORMAT)
HISTORY_ID = "gradstep.history-log"
TOKEN_BYTES = 6

# History -> {history file: (mark, bytes)}: what of it the file already holds (only this process's
# histories that saved or loaded it; a copy of a history starts a file of its own)
_saved: weakref.WeakKeyDictionary[History, dict[str, tuple[tuple[int, int, int], int]]] = weakref.WeakKeyDictionary()


class CheckpointError(ValueError):
    """A checkpoint that cannot be read as it is (the message names the file and what to do)."""


def _append(file: Path, history: History) -> tuple[tuple[int, int, int], int]:
    """Append to ``file`` what ``history`` recorded since the file's last piece of it (all of it for
    a new file); ``(mark, end)``: where the history stood, and the bytes of the file that are its own."""
    mark, size = _saved.get(history, {}).get(str(file), ((0, 0, 0), 0))
    now = history._mark()
    with open(file, "r+b" if size else "wb") as f:
        f.truncate(size)     # what a save cut short left after the last state's bytes
        f.seek(size)
        pickle.dump(history._piece(mark), f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
        return now, f.tell()


class _Saver(pickle.Pickler):
    """Pickles the content with each History replaced by a reference to its appended file."""

    def __init__(self, f: Any, path: Path) -> None:
        super().__init__(f, protocol=pickle.HIGHEST_PROTOCOL)
        self.path = path
        self.files: dict[History, tuple[str, tuple[int, int, int], int]] = {}

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is not History:
            return None
        if obj not in self.files:
            known = [Path(f) for f in _saved.get(obj, {}) if Path(f).parent == self.path.parent
                     and Path(f).name.startswith(self.path.name + ".")]
            file = known[0] if known and known[0].exists() else self.path.with_name(
                f"{self.path.name}.{secrets.token_hex(TOKEN_BYTES)}.history")
            self.files[obj] = (file.name, *_append(file, obj))
        name, _, end = self.files[obj]
        return (HISTORY_ID, name, end, obj._header())


class _Loader(pickle.Unpickler):
    """Unpickles a state, rebuilding each History from the bytes of its file the state names."""

    def __init__(self, f: Any, path: Path) -> None:
        super().__init__(f)
        self.path = path
        self.loaded: dict[tuple[str, int], History] = {}   # one history however often the state names it

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 4 and pid[0] == HISTORY_ID):
            raise pickle.UnpicklingError(f"unknown reference {pid!r}")
        _, name, end, header = pid
        if (name, end) not in self.loaded:
            self.loaded[name, end] = self._history(name, end, header)
        return self.loaded[name, end]

    def _history(self, name: str, end: int, header: dict[str, Any]) -> History:
        file = self.path.with_name(name)
        try:
            with open(file, "rb") as f:
                data = f.read(end)
        except FileNotFoundError:
            raise CheckpointError(f"{self.path}: its history file {file.name} is missing (copy a checkpoint with its "
                             f".history files); delete the checkpoint to start afresh") from None
        if len(data) < end:
            raise CheckpointError(f"{self.path}: its history file {file.name} is shorter than the checkpoint says")
        stream, pieces = io.BytesIO(data), []
        while stream.tell() < end:
            pieces.append(pickle.load(stream))
        history = History._from_pieces(header, pieces)
        _saved.setdefault(history, {})[str(file)] = (history._mark(), end)
        return history


def save(path: str | os.PathLike, content: Any) -> None:
    """Write ``content`` to ``path`` atomically (a temporary file, fsync, rename); the histories in it
    go to their append-only files (only their steps since the previous save)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / path.name
    with replacing(path) as tmp, open(tmp, "wb") as f:
        saver = _Saver(f, path)
        saver.dump({"format": FORMAT, "content": content})
    mine = {name for name, _, _ in saver.files.values()}
    for history, (name, mark, end) in saver.files.items():
        _saved.setdefault(history, {})[str(folder / name)] = (mark, end)
    for stale in folder.glob(f"{_glob_escape(path.name)}.*.history"):   # files no state names any more
        if stale.name not in mine and _is_token(stale.name[len(path.name) + 1:-len(".history")]):
            stale.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def _is_token(text: str) -> bool:
    """Whether ``text`` is a history file's token (not, say, ``run.<token>`` of a checkpoint ``NAME.run``)."""
    return len(text) == 2 * TOKEN_BYTES and all(c in "0123456789abcdef" for c in text)


def load(path: str | os.PathLike) -> Any:
    """What :func:`save` wrote to ``path``; a ``ValueError`` naming the file if it is not a checkpoint."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = _Loader(f, path).load()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no checkpoint there; run without --resume to start afresh") from None
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - unpickling a foreign file raises anything
        raise ValueError(f"{path}: not a gradstep checkpoint ({type(err).__name__}: {err}); delete it to start "
                         f"afresh") from None
    if not isinstance(data, dict) or data.get("format") not in READS:
        found = data.get("format") if isinstance(data, dict) else None
        raise ValueError(f"{path}: not a gradstep checkpoint (format {found!r}); delete it to start afresh")
    return data["content"]


@dataclass(frozen=True)
class CheckpointFile:
    """A fit's checkpoint as one value: the file, the updates between two saves (a stop asked for saves
    too, :mod:`gradstep.interrupt`), and whether the fit goes on from the file when it exists.

    Build it with :meth:`of` from the keywords ``checkpoint=``, ``checkpoint_every=`` and ``resume=``
    of ``fit``, ``fit_stream`` and :func:`gradstep.minimize`.

    >>> CheckpointFile.of("run.ckpt", 500, resume=True)
    CheckpointFile(path='run.ckpt', every=500, resume=True)
    >>> CheckpointFile.of(None, 500, resume=False) is None
    True
    """

    path: str | os.PathLike
    every: int = 1000
    resume: bool = False

    @classmethod
    def of(cls, path: str | os.PathLike | None, every: int, resume: bool) -> CheckpointFile | None:
        """The keywords as one value; None without a file. ``resume`` needs the file to go on from."""
        if path is None:
            if resume:
                raise ValueError("resume=True needs checkpoint= (the file to go on from)")
            return None
        return cls(path, every, resume)

    def resumes(self) -> bool:
        """Whether the fit goes on from the file: ``resume`` and the file exists (else it starts afresh)."""
        return self.resume and os.path.exists(self.path)


__all__ = ["FORMAT", "CheckpointError", "CheckpointFile", "load", "save"]
