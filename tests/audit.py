"""The audit hook the parser tests share: installed once per process, recording only inside :func:`audited`.

``sys.addaudithook`` cannot be undone, so one hook serves every test module that watches what
parsing a formula does (:mod:`test_expression`, :mod:`test_fuzz_parser`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

_EVENTS: list[tuple[str, tuple]] = []
_RECORDING = [False]


def _audit(event: str, args: tuple) -> None:
    if _RECORDING[0]:
        _EVENTS.append((event, args))


sys.addaudithook(_audit)


@contextlib.contextmanager
def audited() -> Iterator[list[tuple[str, tuple]]]:
    """Record the audit events raised inside the block."""
    _EVENTS.clear()
    _RECORDING[0] = True
    try:
        yield _EVENTS
    finally:
        _RECORDING[0] = False


def besides_ast_parse(events: list[tuple[str, tuple]]) -> list[tuple[str, tuple]]:
    """The audited actions other than ``ast.parse`` (a ``compile`` event with the default filename):
    exec, import, open, getattr hooks, ... (empty when parsing did nothing else)."""
    return [(name, args[1:2]) for name, args in events if not (name == "compile" and args[1] == "<unknown>")]
