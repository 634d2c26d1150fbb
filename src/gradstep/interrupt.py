"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM: at the next step boundary, with everything saved.

Inside :func:`graceful`, the first SIGINT or SIGTERM does not raise: it sets a flag that the
descent loop (:func:`gradstep.loop.run`) reads between two updates. The loop then hands its
:class:`~gradstep.loop.Snapshot` to the run's checkpoint (if it has one) and returns with
``status`` 4 (:data:`gradstep.loop.INTERRUPTED`); the caller saves the history so far and says
how to resume. A second signal restores the usual behaviour at once (Ctrl-C raises
``KeyboardInterrupt``; SIGTERM ends the process), for a run that must die now.

Outside :func:`graceful` nothing changes: Ctrl-C raises ``KeyboardInterrupt`` as usual.

Examples
--------
>>> import gradstep
>>> from gradstep import interrupt
>>> def ctrl_c_after_three(info):             # what a Ctrl-C during the third step does
...     if info.step == 3:
...         interrupt.request()
>>> with interrupt.graceful():
...     res = gradstep.minimize("x**2", [3.0], lr=0.1, steps=100, callback=ctrl_c_after_three)
>>> res.status, res.nit, res.message
(4, 3, 'interrupted by SIGINT after 3 steps of this run')
>>> res.snapshot.step, res.x                  # resume=res.snapshot goes on from here
(3, array([1.536]))
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_requested = threading.Event()
_signal: int | None = None
_active = 0

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def requested() -> bool:
    """True once a stop has been asked for inside :func:`graceful` (the loop stops at its next step);
    always False outside it."""
    return _active > 0 and _requested.is_set()


def active() -> bool:
    """True inside :func:`graceful` (the compiled epochs then run in short pieces, to stop soon)."""
    return _active > 0


def signal_name() -> str:
    """The name of the signal that asked for the stop (``"SIGINT"`` when asked by :func:`request`)."""
    return signal.Signals(_signal).name if _signal is not None else "SIGINT"


def exit_code() -> int:
    """The shell's code for a process ended by that signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + (_signal if _signal is not None else int(signal.SIGINT))


def request(signum: int = signal.SIGINT) -> None:
    """Ask the running loop to stop at its next step boundary, as the first signal does."""
    global _signal
    _signal = int(signum)
    _requested.set()


@contextmanager
def graceful(notice: bool = True) -> Iterator[None]:
    """Within the block, the first SIGINT / SIGTERM asks the loop to stop at the next step; the second
    acts as usual. ``notice`` prints one line to stderr on the first signal. In a thread other than
    the main one (where Python cannot set handlers) only :func:`request` stops the loop."""
    global _active, _signal
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        request(signum)
        for s, old in previous.items():   # the second signal: the usual behaviour, at once
            signal.signal(s, old)
        if notice:
            print(f"\n{signal.Signals(signum).name}: stopping at the next step and saving the run "
                  f"(again to stop at once)", file=sys.stderr, flush=True)

    main = threading.current_thread() is threading.main_thread()
    if _active == 0:   # a request made outside any block is not carried into this one
        _requested.clear()
        _signal = None
    if main:
        for s in SIGNALS:
            previous[s] = signal.getsignal(s)
            signal.signal(s, handler)
    _active += 1
    try:
        yield
    finally:
        _active -= 1
        if main:
            for signum, old in previous.items():
                signal.signal(signum, old)
        if _active == 0:
            _requested.clear()
            _signal = None


__all__ = ["active", "exit_code", "graceful", "request", "requested", "signal_name"]
