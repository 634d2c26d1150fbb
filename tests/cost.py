"""Bounds on how long an operation takes that hold on a busy machine: no test asserts wall-clock time.

A machine running other work (CI runners, a laptop building something) stretches wall-clock time
at random, so a fixed bound in seconds fails now and then (5.22 s against a 5 s bound). A bound
here is instead

* the CPU time of this process (:func:`time.process_time`: what other processes do does not count),
* compared with a reference operation of the same kind measured in the same test (a slower or a
  busier machine slows both alike),
* before a bound is declared broken, measured again, the operation and the reference both: a
  process sharing the core (hyper-threads, caches) stretches even CPU time for a moment, by 3 times
  at worst here; only an operation that stays slow fails,
* with a wide margin: what the bound catches is a change of complexity (quadratic instead of
  linear, a hang, a formula expanded), which costs tens of times more, not a few percent.

Timings themselves are measured and reported by ``benchmarks/``, not asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def cpu(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    """``(seconds of this process's CPU time, result)`` of ``fn(*args, **kwargs)``."""
    start = time.process_time()
    out = fn(*args, **kwargs)
    return time.process_time() - start, out


def least_cpu(fn: Callable[[], Any], repeat: int = 3) -> float:
    """The least CPU time of ``repeat`` calls of ``fn`` (the least disturbed one)."""
    return min(cpu(fn)[0] for _ in range(repeat))


class Reference:
    """The CPU time of a reference operation ``fn``, measured when first needed (the least of
    ``repeat`` calls) and again, then, before a bound on it is declared broken."""

    def __init__(self, fn: Callable[[], Any], repeat: int = 3) -> None:
        self.fn, self.repeat = fn, repeat
        self._seconds: float | None = None

    @property
    def seconds(self) -> float:
        if self._seconds is None:
            self._seconds = max(least_cpu(self.fn, self.repeat), 1e-6)
        return self._seconds

    def within(self, seconds: float, times: float) -> bool:
        """Whether ``seconds`` of CPU are at most ``times`` the reference (measured again if not at first)."""
        if seconds <= times * self.seconds:
            return True
        self._seconds = max(self.seconds, least_cpu(self.fn, self.repeat))
        return seconds <= times * self.seconds

    def check(self, seconds: float, times: float, what: str, again: Callable[[], Any] | None = None,
              rounds: int = 2) -> None:
        """Assert :meth:`within`; if not at first, ``again()`` (the operation once more, as it was measured)
        is timed up to ``rounds`` times and its least time counts. The message gives both numbers."""
        ok = self.within(seconds, times)
        for _ in range(rounds if again is not None and not ok else 0):
            seconds = min(seconds, cpu(again)[0])
            if ok := self.within(seconds, times):
                break
        assert ok, (f"{what} took {seconds:.3g} s of CPU, {seconds / self.seconds:.0f} times the reference operation "
                    f"({self.seconds:.3g} s, measured in this test); the bound is {times:g} times")
