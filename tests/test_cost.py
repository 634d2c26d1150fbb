"""The cost bounds of ``cost.py``: CPU time against a reference measured in the same test."""

from __future__ import annotations

import pytest

from cost import Reference, cpu


def spin(n: int) -> int:
    return sum(i * i for i in range(n))


def test_cpu_time_counts_work_not_waiting():
    import time

    slept, _ = cpu(time.sleep, 0.1)
    assert slept < 0.05   # a wait (for a busy core, a lock, a sleep) costs no CPU time


def test_an_operation_many_times_the_reference_fails_and_one_within_passes():
    ref = Reference(lambda: spin(20_000))
    ref.check(cpu(spin, 40_000)[0], 20, "twice the work")
    with pytest.raises(AssertionError, match="times the reference operation"):
        ref.check(cpu(spin, 2_000_000)[0], 20, "a hundred times the work", again=lambda: spin(2_000_000))


def test_a_moment_of_contention_is_measured_again_before_failing():
    ref = Reference(lambda: spin(20_000))
    ref.check(1e3, 20, "a measurement stretched by another process", again=lambda: spin(20_000))
