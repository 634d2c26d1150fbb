"""What the atheris harnesses share: the time bound of one input, the slowest input so far, progress lines."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

BOUND = float(os.environ.get("GRADSTEP_FUZZ_BOUND", "2"))
"""Seconds one input may take (``GRADSTEP_FUZZ_BOUND``, default 2); longer is reported as a hang."""


def account(stats: dict[str, Any], elapsed: float, shown: str, report: Callable[[str], None], loud: float,
            what: str) -> None:
    """Record one input that took ``elapsed`` s: the slowest so far (``report`` it when over ``loud`` s),
    a progress line at runs 1, 2, 4, ... and every 10 000, and an ``AssertionError`` (libFuzzer's crash)
    when over :data:`BOUND`. libFuzzer's exit skips Python's exit hooks, hence the lines on the way."""
    if elapsed > stats["slowest_s"]:
        stats["slowest_s"], stats["slowest_input"] = elapsed, shown
        if elapsed > loud:
            report("new slowest")
    runs = stats["runs"]
    if runs & (runs - 1) == 0 or runs % 10000 == 0:
        report("progress")
    if elapsed > BOUND:
        raise AssertionError(f"{what} took {elapsed:.2f} s (bound {BOUND} s)")
