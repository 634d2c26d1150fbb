r"""Which parameter vectors a :class:`~gradstep.history.History` keeps: all, none, or a bounded, evenly thinned set.

A run of :math:`n` steps visits :math:`\theta_0, \dots, \theta_n`. Keeping them all costs
:math:`8 n p` bytes (840 MB for five million per-sample steps of 21 parameters), so by
default a history keeps

* the **grid**: :math:`\theta_t` for every :math:`t < n` with :math:`t \bmod s = 0`, where the
  stride :math:`s` is the smallest power of two with :math:`\lceil n / s \rceil \le L`
  (:math:`L` = :data:`MAX_PARAM_ROWS` by default): every step up to :math:`L` steps, then
  every 2nd, every 4th... When a step would make the grid hold :math:`L + 1` rows, the
  stride doubles and every other kept row is dropped, so the kept steps stay evenly spaced
  and their number stays between :math:`L/2` and :math:`L`;
* the **epoch ends**: the parameters after each mini-batch epoch (:meth:`ParamRows.pin`),
  never dropped.

The kept set depends only on :math:`n` and the epoch ends, not on how the steps arrived
(one at a time, or in pieces from a compiled epoch), so a resumed run keeps the same rows as
an uninterrupted one.

``record_params`` (on :class:`~gradstep.history.History` and every estimator) says which:

====================  ==========================================================
``"thinned"``         the default: the grid with :math:`L` = :data:`MAX_PARAM_ROWS`, plus epoch ends
an int ``L >= 2``     the same with at most ``L`` grid rows
``"all"`` or True     every step's parameters (memory grows with the run)
``"none"`` or False   no parameters
``StepsFile(path)``   every step's row to Parquet as the run goes (:mod:`gradstep.steps_file`),
                      and ``"thinned"`` (or its ``keep``) in memory
====================  ==========================================================

Examples
--------
>>> import numpy as np
>>> rows = ParamRows(limit_of(4))
>>> for t in range(9):
...     rows.add_one(t, np.array([float(t)]))
>>> rows.every, rows.steps().tolist()        # 9 steps, at most 4 rows: every 4th
(4, [0, 4, 8])
>>> stride(9, 4), stride(8, 4), stride(4, 4)
(4, 2, 1)
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

MAX_PARAM_ROWS = 10_000
"""Grid rows a ``record_params="thinned"`` history keeps at most (besides the epoch ends)."""

POLICIES = ("thinned", "all", "none")


def limit_of(record_params: Any) -> float:
    """The most grid rows a ``record_params`` setting keeps: 0 (none), ``math.inf`` (all) or ``L``.

    Raises ``ValueError`` for anything that is not a policy of this module.

    >>> limit_of("thinned"), limit_of(True), limit_of(False), limit_of(500)
    (10000, inf, 0, 500)
    """
    keep = getattr(record_params, "keep", None)   # a StepsFile: every step to disk, ``keep`` in memory
    if keep is not None and hasattr(record_params, "path"):
        return limit_of(keep)
    if record_params is True or record_params == "all":
        return math.inf
    if record_params is False or record_params is None or record_params == "none":
        return 0
    if record_params == "thinned":
        return MAX_PARAM_ROWS
    if isinstance(record_params, numbers.Integral) and int(record_params) >= 2:
        return int(record_params)
    raise ValueError(f"record_params must be 'thinned' (the default: at most {MAX_PARAM_ROWS} parameter vectors, "
                     f"evenly spaced, plus each epoch's end), 'all' (or True), 'none' (or False), or an int >= 2 "
                     f"(the most vectors kept); got {record_params!r}")


def stride(n: int, limit: float) -> int:
    r"""The grid's stride after ``n`` steps: the smallest power of two :math:`s` with
    :math:`\lceil n / s \rceil \le` ``limit`` (1 when ``limit`` is infinite or 0)."""
    if not limit or math.isinf(limit):
        return 1
    s = 1
    while -(-n // s) > limit:
        s *= 2
    return s


class KeepParams:
    """Which steps' parameters an epoch runner hands back: of the steps it makes, ``first``,
    ``first + every``, ... (``every`` 0: none). A runner that makes its steps in several calls (the
    blocks of a stream) passes the same object on; each call :meth:`advance`s it past its steps.

    >>> keep = KeepParams(4, 1)
    >>> keep.advance(6); (keep.every, keep.first)    # steps 1 and 5 kept; the next kept is 3 steps on
    (4, 3)
    """

    def __init__(self, every: int, first: int) -> None:
        self.every, self.first = int(every), int(first)

    def __bool__(self) -> bool:
        return self.every > 0

    def advance(self, done: int) -> None:
        """``done`` steps were made: ``first`` becomes the next kept step's offset from there."""
        if self.every:
            self.first = self.first - done if self.first >= done else (self.first - done) % self.every


class ParamRows:
    """The kept parameter vectors of a run, with the step index of each, in step order.

    Row ``i`` is :math:`\\theta_t` for ``t = steps()[i]``: the parameters step ``t`` started
    from (``t = n`` for the end of the last epoch, which equals the final parameters).

    Parameters
    ----------
    limit : float
        :func:`limit_of` the ``record_params`` setting.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.every = 1
        self.n = 0                                  # steps seen
        self._steps: list[np.ndarray] = []          # blocks of step indices (int64)
        self._rows: list[np.ndarray] = []           # blocks of rows, each (len(steps), p)
        self.pinned: list[int] = []                 # steps of the epoch ends (never dropped)
        self._last = -1                             # the last kept step

    @property
    def on(self) -> bool:
        return self.limit > 0

    def __len__(self) -> int:
        return sum(len(s) for s in self._steps)

    # ------------------------------------------------------------------ planning a compiled piece
    def plan(self, max_steps: int | None) -> tuple[int, int, int | None]:
        """``(every, first, max_steps)`` for a piece of steps from step ``n`` on, so that the stride
        does not change inside it: keep local step ``j`` when ``j >= first`` and
        ``(j - first) % every == 0``; at most ``max_steps`` steps (the caller's cap, lowered)."""
        if not self.on:
            return 0, 0, max_steps
        every = stride(self.n + 1, self.limit)
        if math.isinf(self.limit):
            return every, 0, max_steps
        room = int(self.limit) * every - self.n     # steps before the grid needs a wider stride
        first = (-self.n) % every
        return every, first, room if max_steps is None else min(room, max_steps)

    # ------------------------------------------------------------------ adding rows
    def wants(self, t: int) -> bool:
        """Whether step ``t`` (the next one) is kept: on the grid of ``stride(t + 1)``."""
        return self.on and t % stride(t + 1, self.limit) == 0

    def add_one(self, t: int, theta: Any) -> None:
        """Step ``t`` (= the number of steps seen) was made from ``theta`` (kept as given if :meth:`wants`
        it; ``None``: not recorded)."""
        keep = theta is not None and self.wants(t)
        self.add_piece(t, 1, np.asarray(theta).reshape(1, -1) if keep else None, 1, 0)

    def add_piece(self, t0: int, n: int, rows: np.ndarray | None, every: int, first: int) -> None:
        """Steps ``t0 .. t0 + n - 1`` were made; ``rows`` are those :meth:`plan` asked for
        (local steps ``first, first + every, ...``), kept as given (not copied)."""
        if t0 != self.n:
            raise ValueError(f"the parameter record expected step {self.n}, got {t0}")
        self.n = t0 + n
        if not self.on or rows is None or not len(rows):
            self._settle()
            return
        steps = t0 + first + every * np.arange(len(rows), dtype=np.int64)
        if steps[-1] >= self.n:
            raise ValueError(f"{len(rows)} parameter rows for {n} steps with stride {every}")
        target = stride(self.n, self.limit)
        if every % target or (t0 + first) % target:   # rows off the grid (e.g. every step's)
            on_grid = steps % target == 0
            steps, rows = steps[on_grid], rows[on_grid]
            if not len(steps):
                self._settle()
                return
        if steps[0] == self._last:                  # an epoch end already kept: the same point
            steps, rows = steps[1:], rows[1:]
        if len(steps):
            self._steps.append(steps)
            self._rows.append(rows)
            self._last = int(steps[-1])
        self._settle()

    def pin(self, theta: np.ndarray) -> None:
        """Keep ``theta`` as the parameters after ``n`` steps (an epoch's end): never dropped."""
        if not self.on:
            return
        self.pinned.append(self.n)
        if self._last != self.n:
            self._steps.append(np.array([self.n], dtype=np.int64))
            self._rows.append(np.array(theta, copy=True).reshape(1, -1))
            self._last = self.n

    def _settle(self) -> None:
        """Widen the stride to ``stride(n)``, dropping the rows off the new grid (epoch ends stay)."""
        every = stride(self.n, self.limit)
        if every == self.every:
            return
        self.every = every
        if not self._steps:
            return
        steps, rows = self.steps(), self.rows()
        keep = (steps % every == 0) | np.isin(steps, np.asarray(self.pinned, dtype=np.int64))
        self._steps, self._rows = [steps[keep]], [rows[keep]]

    # ------------------------------------------------------------------ reading
    def steps(self) -> np.ndarray:
        """The step index of each kept row (int64, increasing)."""
        if len(self._steps) > 1:
            self._steps = [np.concatenate(self._steps)]
        return self._steps[0] if self._steps else np.empty(0, dtype=np.int64)

    def rows(self) -> np.ndarray:
        """The kept rows, shape ``(len(self), p)`` (``(0, 0)`` when none)."""
        if len(self._rows) > 1:
            self._rows = [np.concatenate(self._rows)]
        return self._rows[0] if self._rows else np.empty((0, 0))

    def since(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, rows)`` of the kept rows with step ``>= t`` (what a checkpoint appends)."""
        steps = self.steps()
        i = int(np.searchsorted(steps, t))
        return steps[i:], self.rows()[i:]

    # ------------------------------------------------------------------ rebuilding
    @classmethod
    def restore(cls, limit: float, n: int, steps: np.ndarray, rows: np.ndarray, pinned: list[int]) -> ParamRows:
        """The record after ``n`` steps, from its kept ``steps`` and ``rows`` (later duplicates of a step
        win; rows off the grid of ``n`` that are not ``pinned`` are dropped)."""
        r = cls(limit)
        r.n, r.pinned = int(n), [int(t) for t in pinned]
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        if len(steps):
            rows = np.asarray(rows).reshape(len(steps), -1)
            order = np.argsort(steps, kind="stable")
            steps, rows = steps[order], rows[order]
            last = np.r_[steps[1:] != steps[:-1], True]      # the last of equal steps
            r._steps, r._rows, r._last = [steps[last]], [rows[last]], int(steps[-1])
        r.every = 1 if math.isinf(limit) or not limit else 0   # forces _settle to apply the stride of n
        r._settle()
        return r


__all__ = ["MAX_PARAM_ROWS", "POLICIES", "KeepParams", "ParamRows", "limit_of", "stride"]
