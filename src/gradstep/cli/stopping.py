"""Ctrl-C and SIGTERM in the commands: stop at a step boundary, save, say how to resume.

Every long command (``fit``, ``minimize``, ``sweep``, ``demo``) runs inside :func:`stoppable`.
The first SIGINT / SIGTERM makes the descent loop stop before its next update
(:mod:`gradstep.interrupt`); the command then writes the history so far (if ``--history`` was
given) and a checkpoint — to ``--checkpoint`` or, when none was given, to
:func:`default_checkpoint` — atomically, prints the command that resumes, and exits with
130 (SIGINT) or 143 (SIGTERM), as a shell does for a process a signal ended. The resumed run
reaches the result the uninterrupted one would have given.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape

from .. import interrupt
from .common import cli_words, err, fail

if TYPE_CHECKING:
    from ..checkpoint import CheckpointFile


@contextmanager
def stoppable() -> Iterator[None]:
    """The block's first Ctrl-C / SIGTERM stops the run at its next step instead of killing it."""
    with interrupt.graceful():
        yield


def default_checkpoint(command: str) -> Path:
    """Where an interrupted run is saved when no ``--checkpoint`` was given: ``gradstep-COMMAND.ckpt``
    in the current folder (written only on an interruption)."""
    return Path(f"gradstep-{command}.ckpt")


NEVER = 2**62
"""``checkpoint_every`` when only an interruption should write the checkpoint."""


def checkpoint_file(checkpoint: Path | None, every: int, resume: bool) -> CheckpointFile | None:
    """``--checkpoint``, ``--checkpoint-every`` and ``--resume`` as the library's one value
    (:class:`gradstep.checkpoint.CheckpointFile`; None without ``--checkpoint``), its errors in the flags' words."""
    from ..checkpoint import CheckpointFile

    try:
        return CheckpointFile.of(checkpoint, every, resume)
    except ValueError as e:
        fail(cli_words(str(e)))


def on_interruption(ck: CheckpointFile | None, command: str) -> CheckpointFile:
    """The checkpoint a run writes: ``ck``, or without ``--checkpoint`` :func:`default_checkpoint`, written only
    when a signal stops the run."""
    from ..checkpoint import CheckpointFile

    return ck if ck is not None else CheckpointFile(default_checkpoint(command), NEVER)


def resume_command(checkpoint: Path, argv: Sequence[str] | None = None) -> str:
    """The command line that resumes: the same arguments, ``--checkpoint PATH --resume``."""
    args = list(sys.argv[1:] if argv is None else argv)
    kept: list[str] = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--checkpoint":
            skip = True
            continue
        if a.startswith("--checkpoint=") or a == "--resume":
            continue
        kept.append(a)
    return shlex.join(["gradstep", *kept, "--checkpoint", str(checkpoint), "--resume"])


def stopped(what: str, steps: int, checkpoint: Path, saved: Sequence[Path] = ()) -> NoReturn:
    """Report an interrupted run on stderr and exit with the signal's code (130 / 143)."""
    lines = [f"{interrupt.signal_name()}: {what} stopped after {steps} steps, at a step boundary.",
             f"checkpoint: {checkpoint}"]
    lines += [f"history so far: {p}" for p in saved]
    lines.append(f"resume with: {resume_command(checkpoint)}")
    err.print(escape("\n".join(lines)), highlight=False)
    raise typer.Exit(interrupt.exit_code())


class Session:
    """The runs of a command that makes several (``sweep``, ``demo``): the finished ones and the one
    under way, saved when a signal stops it, so that ``--resume`` redoes nothing.

    The checkpoint (``--checkpoint`` or :func:`default_checkpoint`) holds the finished runs' results
    by key and the key of the run under way; that run's own checkpoint (its loop's snapshot) is the
    file beside it, ``PATH.run``. Both are written when a signal stops the command; with an explicit
    ``--checkpoint`` the first is also written after every finished run (a killed command then
    loses only the run under way).
    """

    def __init__(self, command: str, checkpoint: Path | None, resume: bool, settings: dict[str, Any]) -> None:
        from .. import checkpoint as checkpoints

        checkpoint_file(checkpoint, NEVER, resume)   # --resume needs --checkpoint
        self.command, self.settings = command, settings
        self.path = checkpoint or default_checkpoint(command)
        self.explicit = checkpoint is not None
        self.run_path = self.path.with_name(self.path.name + ".run")
        self.done: dict[str, Any] = {}
        self.current: str | None = None
        if resume and self.path.exists():
            try:
                saved = checkpoints.load(self.path)
            except ValueError as e:
                fail(str(e))
            if not isinstance(saved, dict) or saved.get("kind") != command:
                fail(f"{self.path}: not a checkpoint of gradstep {command}; give another --checkpoint, or delete it "
                     f"to start afresh")
            theirs = saved["settings"]
            differ = [f"{k}={theirs.get(k)!r} there, {v!r} here" for k, v in settings.items() if theirs.get(k) != v]
            if differ:
                fail(f"{self.path}: the checkpoint was made with other settings ({'; '.join(differ)}); use the same "
                     f"settings to resume, or delete the checkpoint to start afresh")
            self.done, self.current = saved["done"], saved["current"]

    def run(self, key: str, fn: Callable[[Path, bool], tuple[Any, int | None, Sequence[Path]]]) -> Any:
        """The result of run ``key``: saved, or ``fn(run_checkpoint, resume)``, which returns the result,
        the steps made when a signal stopped it (else None) and the files it saved so far."""

        if key in self.done:
            return self.done[key]
        value, interrupted_after, saved = fn(self.run_path, key == self.current and self.run_path.exists())
        if interrupted_after is not None:
            self._save(key)
            stopped(f"{self.command} (run {key!r}, {len(self.done)} runs finished before it)", interrupted_after,
                    self.path, saved)
        self.done[key] = value
        if self.explicit:
            self._save(None)
        return value

    def _save(self, current: str | None) -> None:
        from .. import checkpoint as checkpoints

        checkpoints.save(self.path, {"kind": self.command, "settings": self.settings, "done": self.done,
                                     "current": current})


__all__ = ["NEVER", "Session", "checkpoint_file", "default_checkpoint", "on_interruption", "resume_command",
           "stoppable", "stopped"]
