"""What every schedule shares: the :data:`Schedule` type (a function ``count -> lr``) and the checks of its
arguments, apart from the schedules themselves so that :mod:`.schedules` and :mod:`.torch_schedules` both
use them (and :mod:`.schedules` re-exports the latter without an import cycle)."""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int], float]
LearningRate = float | Schedule


def _check_positive(name: str, value: float, allow_zero: bool = True) -> float:
    """``value`` as a float, checked finite and at least 0 (above 0 unless ``allow_zero``)."""
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def _check_whole(name: str, value: float, lo: int = 0) -> int:
    """``value`` as an int, checked a whole number at least ``lo``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < lo:
        raise ValueError(f"{name} must be a whole number >= {lo}, got {value!r}")
    return int(value)


def _check_fraction(name: str, value: float, lo_open: bool = False) -> float:
    """``value`` as a float in [0, 1] (in (0, 1] with ``lo_open``), as torch checks its factors."""
    value = float(value)
    if not (0 < value <= 1 if lo_open else 0 <= value <= 1):
        raise ValueError(f"{name} must be in {'(0' if lo_open else '[0'}, 1], got {value!r}")
    return value
