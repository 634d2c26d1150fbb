"""The record of a run: what happened at every step and every epoch.

Row ``k`` of the step table (``k = 0, 1, ...``) describes step ``k``: the
parameters :math:`\\theta_k` it started from, the loss and gradient norm of
its batch at :math:`\\theta_k`, and the learning rate :math:`\\eta_k` of the
update :math:`\\theta_k \\to \\theta_{k+1}`. The parameters after the last step
are ``final_params``. Row ``e`` of the epoch table holds the loss on all the
data after epoch ``e``.

Every step's scalars are kept. The parameters are kept as ``record_params``
says (:mod:`gradstep.param_rows`): by default (``"thinned"``) every step's
up to :data:`~gradstep.param_rows.MAX_PARAM_ROWS` steps, then evenly thinned
(every 2nd, 4th, ... step), plus the parameters after each mini-batch epoch;
``"all"`` keeps every step's. :attr:`History.param_steps` says which step
each kept row belongs to; in the step table (:meth:`History.to_pandas`, CSV)
the parameter columns are NaN on the steps not kept. For every step's
parameters on disk rather than in memory, see :mod:`gradstep.steps_file`.

A history is saved as JSON (everything, exact to the last bit) or CSV (the
step or epoch table, for spreadsheets and pandas) and loaded back; files of
format version 1 (every step's parameters, or none) are read as well.

Examples
--------
>>> import numpy as np
>>> h = History(param_names=("w",))
>>> h.record_step(epoch=0, loss=4.0, grad_norm=4.0, lr=0.1, params=np.array([2.0]))
>>> h.final_params = np.array([1.6])
>>> h.path.ravel().tolist()
[2.0, 1.6]
>>> History.from_json(h.to_json()).loss.tolist()
[4.0]

A long run keeps a bounded, evenly spaced set of parameter vectors:

>>> h = History(record_params=4)             # at most 4 (the default is 10,000)
>>> for k in range(10):
...     h.record_step(epoch=0, loss=1.0, grad_norm=1.0, lr=0.1, params=np.array([float(k)]))
>>> h.param_steps.tolist(), h.params.ravel().tolist(), len(h.loss)
([0, 4, 8], [0.0, 4.0, 8.0], 10)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_text
from .backend import to_numpy
from .param_rows import MAX_PARAM_ROWS, ParamRows, limit_of
from .steps_file import ROW_GROUP, StepsFile, StepsWriter

FORMAT = "gradstep.history"
VERSION = 2
"""2: the kept parameter rows with their steps (``params``, ``param_steps``, ``param_pinned``); 1: a
parameter row for every step, or none."""
STEP_COLUMNS = ("step", "epoch", "loss", "grad_norm", "lr")
SCALARS = ("loss", "grad_norm", "lr")


def _encode(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)  # 'nan', 'inf', '-inf' survive JSON


def _decode(x: Any) -> float:
    return float(x) if x is not None else math.nan


class _Column:
    """A growing column: single values go to a list, whole runs of steps as NumPy blocks.

    A step at a time (:meth:`History.record_step`) costs a list append; an epoch
    of steps from a compiled loop (:meth:`History.record_steps`) is one array,
    kept as given, with no Python object per value; a block of one repeated value
    (a constant learning rate) is kept as that value alone.
    """

    def __init__(self, dtype: Any, values: Sequence | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self._blocks: list[np.ndarray] = []
        self._tail: list = list(values) if values is not None else []
        self._n = len(self._tail)

    def append(self, value: Any) -> None:
        self._tail.append(value)
        self._n += 1

    def extend(self, values: np.ndarray) -> None:
        """Append an array of values; it is kept, not copied (do not modify it afterwards)."""
        self._flush()
        block = np.asarray(values, dtype=self.dtype).reshape(-1)
        if block.shape[0] > 1 and block[0] == block[-1] and (block == block[0]).all():
            block = np.broadcast_to(block[0].copy(), block.shape)   # 8 bytes, whatever the length
        self._blocks.append(block)
        self._n += block.shape[0]

    def _flush(self) -> None:
        if self._tail:
            self._blocks.append(np.asarray(self._tail, dtype=self.dtype))
            self._tail = []

    def array(self) -> np.ndarray:
        """All values as a new array."""
        self._flush()
        if not self._blocks:
            return np.empty(0, dtype=self.dtype)
        whole = np.concatenate(self._blocks)
        if len(self._blocks) > 1 and all(b.strides[0] for b in self._blocks):
            self._blocks = [whole]     # joined once (repeated values stay compact)
            return whole.copy()
        return whole

    def tolist(self) -> list:
        return self.array().tolist()

    def since(self, k: int) -> np.ndarray:
        """The values from row ``k`` on (only the blocks holding them are read)."""
        self._flush()
        parts, end = [], self._n
        for block in reversed(self._blocks):
            if end <= k:
                break
            begin = end - block.shape[0]
            parts.append(block[max(k - begin, 0):])
            end = begin
        return np.concatenate(parts[::-1]) if parts else np.empty(0, dtype=self.dtype)

    def last(self) -> Any:
        return self._tail[-1] if self._tail else self._blocks[-1][-1].item()

    def __len__(self) -> int:
        return self._n


def _pack(values: np.ndarray) -> Any:
    """``values`` as ``(run values, run lengths)`` when that is smaller (an epoch column, a constant
    learning rate), else as they are; :func:`_unpack` undoes it."""
    values = np.asarray(values)
    if len(values) < 2:
        return values
    starts = np.r_[0, np.flatnonzero(values[1:] != values[:-1]) + 1]
    if 4 * len(starts) > len(values):
        return np.ascontiguousarray(values)
    return values[starts], np.diff(np.r_[starts, len(values)])


def _unpack(packed: Any) -> np.ndarray:
    return np.repeat(*packed) if isinstance(packed, tuple) else packed


class _Runs:
    """A column of whole numbers that stay the same for long runs (a step's epoch): the start and
    value of each run, 16 bytes a run instead of 8 a step."""

    dtype = np.dtype(np.int64)

    def __init__(self, values: Sequence[int] | np.ndarray = ()) -> None:
        self._starts: list[int] = []
        self._values: list[int] = []
        self._n = 0
        self.extend(np.asarray(values, dtype=np.int64))

    def append(self, value: int) -> None:
        if not self._values or self._values[-1] != value:
            self._starts.append(self._n)
            self._values.append(int(value))
        self._n += 1

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        if not len(values):
            return
        change = np.flatnonzero(values[1:] != values[:-1]) + 1
        for i in np.r_[0, change]:
            if i or not self._values or self._values[-1] != values[0]:
                self._starts.append(self._n + int(i))
                self._values.append(int(values[i]))
        self._n += len(values)

    def fill(self, value: int, n: int) -> None:
        """Append ``n`` copies of ``value``."""
        if n:
            self.append(value)
            self._n += n - 1

    def array(self) -> np.ndarray:
        lengths = np.diff(np.r_[self._starts, self._n]).astype(np.int64)
        return np.repeat(np.asarray(self._values, dtype=np.int64), lengths)

    def tolist(self) -> list:
        return self.array().tolist()

    def since(self, k: int) -> np.ndarray:
        """The values from row ``k`` on."""
        return _unpack(self.since_packed(k))

    def since_packed(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`since` as ``(run values, run lengths)`` (:func:`_pack`'s form), without expanding the runs."""
        i = max(int(np.searchsorted(self._starts, k, side="right")) - 1, 0)
        if not self._starts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        starts = np.maximum(np.asarray(self._starts[i:], dtype=np.int64), k)
        return np.asarray(self._values[i:], dtype=np.int64), np.diff(np.r_[starts, self._n]).astype(np.int64)

    def last(self) -> int:
        return self._values[-1]

    def __len__(self) -> int:
        return self._n


class _Count:
    """The step column: ``0, 1, ..., n - 1``, stored as ``n``."""

    dtype = np.dtype(np.int64)

    def __init__(self, n: int = 0) -> None:
        self._n = n

    def array(self) -> np.ndarray:
        return np.arange(self._n, dtype=np.int64)

    def tolist(self) -> list:
        return list(range(self._n))

    def __len__(self) -> int:
        return self._n


def _new_steps() -> dict[str, Any]:
    return {"step": _Count(), "epoch": _Runs(), **{c: _Column(float) for c in SCALARS}}


class History:
    """Per-step and per-epoch record of one run.

    Parameters
    ----------
    record_params : {"thinned", "all", "none"}, bool or int, default="thinned"
        Which parameter vectors :math:`\\theta_k` to keep (:mod:`gradstep.param_rows`):
        ``"thinned"`` every step's up to :data:`~gradstep.param_rows.MAX_PARAM_ROWS` steps, then
        evenly thinned, plus each mini-batch epoch's end; an int ``L >= 2`` the same with at most
        ``L``; ``"all"`` (or ``True``) every step's; ``"none"`` (or ``False``) none;
        :class:`~gradstep.steps_file.StepsFile` ``(path)``: every step's row, parameters
        included, appended to Parquet as the run goes (and its ``keep`` in memory).
    param_names : sequence of str, optional
        Names of the parameter coordinates, e.g. ``("w", "b")``.
    meta : dict, optional
        Settings of the run (optimiser, learning rate, seed...), saved with it.
    """

    def __init__(
        self,
        record_params: bool | int | str = "thinned",
        param_names: Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._param_rows = ParamRows(limit_of(record_params))
        self.record_params = record_params
        self.param_names = tuple(param_names) if param_names is not None else None
        self.meta: dict[str, Any] = dict(meta or {})
        self._steps = _new_steps()
        self._epochs: dict[str, list] = {"epoch": [], "step": [], "loss": []}
        self._writer = StepsWriter(record_params.path, self._param_labels) if isinstance(record_params,
                                                                                          StepsFile) else None
        self.final_params: np.ndarray | None = None

    def close(self) -> None:
        """Complete the part of the steps file (``record_params=StepsFile(...)``) written so far: its last
        rows and its footer. :func:`gradstep.loop.run` calls it when a run ends (after training with
        :class:`gradstep.torch.Optimizer`, call it yourself); steps recorded later go to a new part."""
        if self._writer is not None:
            self._writer.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if state.get("_writer") is not None:   # an open file is not pickled: a new part when recording goes on
            state["_writer"] = None
        return state

    # ------------------------------------------------------------------ recording
    def record_step(self, epoch: int, loss: float, grad_norm: float, lr: float, params: Any | None) -> None:
        """Append step ``k = n_steps`` (``params`` is :math:`\\theta_k`, kept as ``record_params`` says)."""
        s = self._steps
        k = self.n_steps
        s["step"] = _Count(k + 1)
        s["epoch"].append(int(epoch))
        s["loss"].append(float(loss))
        s["grad_norm"].append(float(grad_norm))
        s["lr"].append(float(lr))
        rows = self._param_rows
        keep = params is not None and (rows.wants(k) or self._writer is not None)
        theta = np.array(to_numpy(params), copy=True) if keep else None   # NumPy, whatever library or device
        rows.add_one(k, theta)
        if self._writer is not None:
            self._writer.write(k, np.array([int(epoch)]), np.array([float(loss)]), np.array([float(grad_norm)]),
                               np.array([float(lr)]), None if theta is None else theta.reshape(1, -1))

    def record_steps(self, epoch: int, loss: np.ndarray, grad_norm: np.ndarray, lr: np.ndarray,
                     params: np.ndarray | None, every: int = 1, first: int = 0) -> None:
        """Append ``len(loss)`` steps of one epoch at once, as :meth:`record_step` would one by one.

        ``params`` holds :math:`\\theta` of the steps ``first, first + every, ...`` of these
        (:meth:`param_plan` says which the record keeps; ``every=1, first=0``: all of them, of which
        the record keeps its own), shape ``(rows, n_params)``, or None; the other arguments are 1-D
        NumPy arrays, one value per step. The arrays are kept as they are, not copied (an epoch of
        per-sample steps is megabytes): hand over arrays nothing else will modify.
        """
        n = int(np.shape(loss)[0])
        if not n:
            return
        s = self._steps
        first_step = self.n_steps
        s["step"] = _Count(first_step + n)
        s["epoch"].fill(int(epoch), n)
        s["loss"].extend(loss)
        s["grad_norm"].extend(grad_norm)
        s["lr"].extend(lr)
        if self._writer is not None:
            full = params is not None and len(params) == n
            self._writer.write(first_step, np.full(n, int(epoch)), loss, grad_norm, lr, params if full else None)
        if params is not None and self._param_rows.on:
            params = np.asarray(params)
            wanted = max(0, -(-(n - first) // every))
            if len(params) == n and wanted != n:   # every step's rows: the record picks its own
                every, first = 1, 0
            elif len(params) != wanted:
                raise ValueError(f"{len(params)} parameter rows for {n} steps kept from {first} every {every}")
            params = params.reshape(len(params), -1) if len(params) else None
        self._param_rows.add_piece(first_step, n, params, every, first)

    def param_plan(self, max_steps: int | None) -> tuple[int, int, int | None]:
        """``(every, first, max_steps)``: of the next at most ``max_steps`` steps (lowered so that the
        thinning does not change in between), the record keeps ``first, first + every, ...``
        (``every`` 0: none). For a compiled epoch, which then makes only these rows. With a
        steps file: every step's, at most :data:`~gradstep.steps_file.ROW_GROUP` at a time."""
        if self._writer is not None:
            return 1, 0, ROW_GROUP if max_steps is None else min(max_steps, ROW_GROUP)
        return self._param_rows.plan(max_steps)

    def record_epoch(self, epoch: int, loss: float, params: Any | None = None, **extra: float) -> None:
        """Append the end-of-epoch row: the loss on all the data (and e.g. ``val_loss``); ``params``, the
        parameters after the epoch, are kept whatever the thinning (unless ``record_params`` is off)."""
        e = self._epochs
        n_before = len(e["epoch"])
        e["epoch"].append(int(epoch))
        e["step"].append(self.n_steps)
        e["loss"].append(float(loss))
        for key, value in extra.items():
            e.setdefault(key, [math.nan] * n_before).append(float(value))
        for col in e.values():
            if len(col) == n_before:
                col.append(math.nan)
        if params is not None and self._param_rows.on:
            self._param_rows.pin(np.array(to_numpy(params), copy=True))

    # ------------------------------------------------------------------ reading
    @property
    def n_steps(self) -> int:
        return len(self._steps["step"])

    @property
    def n_epochs(self) -> int:
        return len(self._epochs["epoch"])

    @property
    def last_epoch(self) -> int | None:
        """Index of the last epoch recorded (None before the first)."""
        return self._epochs["epoch"][-1] if self._epochs["epoch"] else None

    def __len__(self) -> int:
        return self.n_steps

    def column(self, name: str) -> np.ndarray:
        """A step column (``loss``, ``grad_norm``, ``lr``, ``epoch``, ``step``) as an array."""
        return self._steps[name].array()

    def last(self, name: str) -> float | None:
        """The last value of a step column (None before the first step), without building the column."""
        return float(self._steps[name].last()) if self.n_steps else None

    @property
    def loss(self) -> np.ndarray:
        """Batch loss at each step, :math:`f(\\theta_k)` on step ``k``'s batch."""
        return self.column("loss")

    @property
    def grad_norm(self) -> np.ndarray:
        return self.column("grad_norm")

    @property
    def lr(self) -> np.ndarray:
        return self.column("lr")

    @property
    def epoch_loss(self) -> np.ndarray:
        """Loss on all the data after each epoch."""
        return np.asarray(self._epochs["loss"], dtype=float)

    def _kept(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept rows of steps before ``n_steps`` (the end of the last epoch is ``final_params``)."""
        steps, rows = self._param_rows.steps(), self._param_rows.rows()
        i = int(np.searchsorted(steps, self.n_steps))
        return steps[:i], rows[:i]

    @property
    def param_steps(self) -> np.ndarray | None:
        """The step ``k`` of each row of :attr:`params` (increasing); None if not recorded."""
        return None if self.params is None else self._kept()[0].copy()

    @property
    def params(self) -> np.ndarray | None:
        """The kept :math:`\\theta_k`, one row per :attr:`param_steps` entry, shape ``(kept, n_params)``
        (every step's with ``record_params="all"``, or in a run of at most
        :data:`~gradstep.param_rows.MAX_PARAM_ROWS` steps); None if not recorded."""
        steps, rows = self._kept()
        if not self._param_rows.on or (self.n_steps and not len(steps)):
            return None
        return rows.copy() if len(steps) else np.empty((0, 0))

    @property
    def path(self) -> np.ndarray | None:
        """The kept points visited and the last one, :math:`\\theta_{k_0}, \\theta_{k_1}, \\dots, \\theta_n`
        (steps :attr:`path_steps`), shape ``(kept + 1, n_params)``: every point with ``"all"``."""
        p = self.params
        if p is None or self.final_params is None:
            return p
        last = np.asarray(self.final_params, dtype=float).reshape(1, -1)
        return last if p.size == 0 else np.vstack([p, last])

    @property
    def path_steps(self) -> np.ndarray | None:
        """The step of each row of :attr:`path`: :attr:`param_steps`, then ``n_steps``."""
        steps = self.param_steps
        if steps is None or self.final_params is None:
            return steps
        return np.r_[steps, self.n_steps]

    def _param_labels(self, n: int) -> list[str]:
        names = self.param_names if self.param_names and len(self.param_names) == n else None
        return [f"param:{names[i]}" if names else f"param:{i}" for i in range(n)]

    def to_pandas(self, kind: str = "steps") -> Any:
        """The step table (``kind="steps"``, with ``param:NAME`` columns, NaN on the steps whose parameters
        were not kept), the epoch table (``"epochs"``) or the kept parameters (``"params"``: ``step``,
        ``epoch`` and the ``param:NAME`` columns, one row per kept step)."""
        import pandas as pd

        if kind == "epochs":
            return pd.DataFrame({k: list(v) for k, v in self._epochs.items()})
        if kind not in ("steps", "params"):
            raise ValueError(f"kind must be 'steps', 'epochs' or 'params', got {kind!r}")
        p, steps = self.params, self._kept()[0]
        if kind == "params":
            cols = {"step": steps, "epoch": self.column("epoch")[steps]}
            frame = pd.DataFrame(cols)
            if p is None or not p.size:
                return frame
            return pd.concat([frame, pd.DataFrame(p, columns=self._param_labels(p.shape[1]))], axis=1)
        df = pd.DataFrame({k: v.array() for k, v in self._steps.items()})
        if p is not None and p.size:
            full = p if len(steps) == self.n_steps else np.full((self.n_steps, p.shape[1]), np.nan)
            full[steps] = p
            df = pd.concat([df, pd.DataFrame(full, columns=self._param_labels(p.shape[1]))], axis=1)
        return df

    # ------------------------------------------------------------------ saving and loading
    def _policy(self) -> Any:
        """``record_params`` as JSON keeps it."""
        r = self.record_params
        r = r.keep if isinstance(r, StepsFile) else r
        return r if isinstance(r, (bool, str)) or r is None else int(r)

    def to_dict(self) -> dict[str, Any]:
        steps = {k: [_encode(x) if isinstance(x, float) else x for x in v.tolist()] for k, v in self._steps.items()}
        if self._param_rows.on:
            steps["params"] = [[_encode(float(x)) for x in p] for p in self._param_rows.rows()]
            steps["param_steps"] = self._param_rows.steps().tolist()
            steps["param_pinned"] = list(self._param_rows.pinned)
        return {
            "format": FORMAT,
            "version": VERSION,
            "meta": self.meta,
            "param_names": list(self.param_names) if self.param_names else None,
            "record_params": self._policy(),
            "steps": steps,
            "epochs": {k: [_encode(float(x)) if k not in ("epoch", "step") else x for x in v]
                       for k, v in self._epochs.items()},
            "final_params": None if self.final_params is None
            else [_encode(float(x)) for x in np.asarray(self.final_params).reshape(-1)],
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str | None:
        """The whole history as JSON text, or, given ``path``, written there atomically and ``None`` returned
        (as pandas' ``to_json`` does: a REPL does not echo the file's text); floats round-trip exactly.

        >>> import tempfile, pathlib
        >>> h = History()
        >>> h.record_step(epoch=0, loss=1.0, grad_norm=2.0, lr=0.1, params=np.array([1.0]))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     print(h.to_json(pathlib.Path(d, "run.json")), History.from_json(pathlib.Path(d, "run.json")).loss)
        None [1.]
        """
        text = json.dumps(self.to_dict(), default=_json_default)
        if path is None:
            return text
        write_text(path, text)
        return None

    def to_csv(self, path: str | os.PathLike, kind: str = "steps") -> None:
        """Write the step, epoch or kept-parameter table as CSV, atomically (floats written to round-trip
        exactly; parameters not kept are empty cells)."""
        write_text(path, self.to_pandas(kind).to_csv(index=False, float_format="%.17g"))

    def _set_steps(self, epoch: Any, loss: Any, grad_norm: Any, lr: Any) -> None:
        """Replace the step table (a history being loaded)."""
        self._steps = {"step": _Count(len(loss)), "epoch": _Runs(epoch), **{k: _Column(float) for k in SCALARS}}
        for k, v in zip(SCALARS, (loss, grad_norm, lr)):
            if len(v):
                self._steps[k].extend(np.asarray(v, dtype=float))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a gradstep history (expected format {FORMAT!r})")
        if d.get("version", 0) > VERSION:
            raise ValueError(f"history version {d.get('version')} is newer than this gradstep reads ({VERSION})")
        # version 1 said True for every step's parameters; a missing setting is version 1's default
        h = cls(record_params=d.get("record_params", True), param_names=d.get("param_names"), meta=d.get("meta"))
        steps = d["steps"]
        h._set_steps([int(x) for x in steps["epoch"]], *([_decode(x) for x in steps[k]] for k in SCALARS))
        rows = steps.get("params", [])
        kept = steps.get("param_steps", range(len(rows)))   # version 1: a row for every step
        params = np.array([[_decode(x) for x in p] for p in rows], dtype=float).reshape(len(rows), -1)
        h._param_rows = ParamRows.restore(h._param_rows.limit, h.n_steps, np.asarray(kept, dtype=np.int64), params,
                                          steps.get("param_pinned", []))
        h._epochs = {k: [(int(x) if k in ("epoch", "step") else _decode(x)) for x in v] for k, v in d["epochs"].items()}
        fp = d.get("final_params")
        h.final_params = None if fp is None else np.array([_decode(x) for x in fp], dtype=float)
        return h

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> History:
        """Load a history from a JSON file path or a JSON string written by :meth:`to_json`."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as err:
                raise ValueError(f"cannot read history file {path}: {err.strerror}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"history JSON is malformed at line {err.lineno}, column {err.colno}: {err.msg}") from None
        return cls.from_dict(d)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> History:
        """Load the step table written by :meth:`to_csv` (epochs and final parameters are JSON-only; a
        row whose parameter cells are all empty is a step whose parameters were not kept)."""
        import pandas as pd

        df = pd.read_csv(path)
        missing = [c for c in STEP_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: not a gradstep step table, columns {missing} are missing")
        pcols = [c for c in df.columns if c.startswith("param:")]
        names = [c[len("param:"):] for c in pcols]
        P = df[pcols].to_numpy(dtype=float)
        kept = np.flatnonzero(~np.isnan(P).all(axis=1)) if pcols else np.empty(0, dtype=np.int64)
        policy: Any = False if not pcols else ("all" if len(kept) == len(df) else max(len(kept), MAX_PARAM_ROWS))
        h = cls(record_params=policy, param_names=names if pcols and not all(n.isdigit() for n in names) else None)
        h._set_steps(df["epoch"].astype(int).to_numpy(), *(df[k].astype(float).tolist() for k in SCALARS))
        h._param_rows = ParamRows.restore(h._param_rows.limit, len(df), kept, P[kept], kept.tolist())  # as written
        return h

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickling; a history pickled by gradstep before version 2 (a row per step) is converted."""
        if "_param_rows" not in state:
            old = state.pop("_params", [])
            steps = state["_steps"]
            n = len(steps["step"])
            state["_steps"] = {"step": _Count(n), "epoch": _Runs(steps["epoch"].array()),
                               **{c: steps[c] for c in SCALARS}}
            rows = np.concatenate(old) if old else np.empty((0, 0))
            state["_param_rows"] = ParamRows.restore(limit_of(state.get("record_params", True)), n,
                                                     np.arange(len(rows)), rows, [])
        self.__dict__.update(state)
        rp = self.__dict__.get("record_params")
        self._writer = StepsWriter(rp.path, self._param_labels) if isinstance(rp, StepsFile) else None

    # ------------------------------------------------------------------ pieces, for append-only checkpoints
    def _mark(self) -> tuple[int, int, int]:
        """Where the record stands: ``(steps, epochs, epoch ends kept)``."""
        return self.n_steps, self.n_epochs, len(self._param_rows.pinned)

    def _header(self) -> dict[str, Any]:
        """What is not appended step by step: the settings, names, meta and final parameters."""
        return {"record_params": self.record_params, "param_names": self.param_names, "meta": self.meta,
                "final_params": self.final_params}

    def _piece(self, since: tuple[int, int, int]) -> dict[str, Any]:
        """What was recorded after the :meth:`_mark` ``since``: the steps, epochs and parameter rows
        from there (:meth:`_from_pieces` joins such pieces back into the history)."""
        k, e, q = since
        steps, rows = self._param_rows.since(k)   # an epoch end kept at step k may come again: later wins
        return {"n0": k, "e0": e, "loss": self._steps["loss"].since(k), "grad_norm": self._steps["grad_norm"].since(k),
                "epoch": self._steps["epoch"].since_packed(k), "lr": _pack(self._steps["lr"].since(k)),
                "param_steps": steps, "params": rows,
                "pinned": self._param_rows.pinned[q:], "epochs": {c: v[e:] for c, v in self._epochs.items()}}

    @classmethod
    def _from_pieces(cls, header: dict[str, Any], pieces: list[dict[str, Any]]) -> History:
        """The history whose :meth:`_header` and successive :meth:`_piece` these are."""
        h = cls(record_params=header["record_params"], param_names=header["param_names"], meta=header["meta"])
        for i, piece in enumerate(pieces):
            if piece["n0"] != sum(len(_unpack(p["loss"])) for p in pieces[:i]):
                raise ValueError("the pieces of the history do not follow each other")
        for p in pieces:   # piece by piece: a constant learning rate stays one value a piece
            h._steps["epoch"].extend(_unpack(p["epoch"]))
            for c in SCALARS:
                h._steps[c].extend(_unpack(p[c]))
        h._steps["step"] = _Count(len(h._steps["loss"]))
        rows = [p["params"] for p in pieces if len(p["param_steps"])]
        h._param_rows = ParamRows.restore(
            h._param_rows.limit, h.n_steps,
            np.concatenate([p["param_steps"] for p in pieces]) if pieces else np.empty(0, np.int64),
            np.concatenate(rows) if rows else np.empty((0, 0)), [t for p in pieces for t in p["pinned"]])
        n = 0
        for p in pieces:   # a column that appeared later is NaN on the rows before it
            for c, v in p["epochs"].items():
                h._epochs.setdefault(c, [math.nan] * n).extend(v)
            n += len(p["epochs"]["epoch"])
            for v in h._epochs.values():
                v.extend([math.nan] * (n - len(v)))
        h.final_params = header["final_params"]
        return h

    def __repr__(self) -> str:
        last = f", last loss {self._steps['loss'].last():.6g}" if self.n_steps else ""
        return f"History({self.n_steps} steps, {self.n_epochs} epochs{last})"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)
