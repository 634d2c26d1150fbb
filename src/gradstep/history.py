"""The record of a run: what happened at every step and every epoch.

Row ``k`` of the step table (``k = 0, 1, ...``) describes step ``k``: the
parameters :math:`\\theta_k` it started from, the loss and gradient norm of
its batch at :math:`\\theta_k`, and the learning rate :math:`\\eta_k` of the
update :math:`\\theta_k \\to \\theta_{k+1}`. The parameters after the last step
are ``final_params``, so :attr:`History.path` holds every point visited.
Row ``e`` of the epoch table holds the loss on all the data after epoch ``e``.

A history is saved as JSON (everything, exact to the last bit) or CSV (the
step or epoch table, for spreadsheets and pandas) and loaded back.

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
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy

FORMAT = "gradstep.history"
VERSION = 1
STEP_COLUMNS = ("step", "epoch", "loss", "grad_norm", "lr")


def _encode(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)  # 'nan', 'inf', '-inf' survive JSON


def _decode(x: Any) -> float:
    return float(x) if x is not None else math.nan


class _Column:
    """A growing column: single values go to a list, whole runs of steps as NumPy blocks.

    A step at a time (:meth:`History.record_step`) costs a list append; an epoch
    of steps from a compiled loop (:meth:`History.record_steps`) is one array,
    kept as given, with no Python object per value.
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
        self._blocks.append(np.asarray(values, dtype=self.dtype).reshape(-1))
        self._n += self._blocks[-1].shape[0]

    def _flush(self) -> None:
        if self._tail:
            self._blocks.append(np.asarray(self._tail, dtype=self.dtype))
            self._tail = []

    def array(self) -> np.ndarray:
        """All values as a new array."""
        self._flush()
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return self._blocks[0].copy() if self._blocks else np.empty(0, dtype=self.dtype)

    def tolist(self) -> list:
        return self.array().tolist()

    def last(self) -> Any:
        return self._tail[-1] if self._tail else self._blocks[-1][-1].item()

    def __len__(self) -> int:
        return self._n


def _new_steps() -> dict[str, _Column]:
    return {c: _Column(int if c in ("step", "epoch") else float) for c in STEP_COLUMNS}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder, then a rename.

    A crash or Ctrl-C leaves either the old file or the whole new one, never half of it.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        os.fchmod(fd, 0o666 & ~_umask())   # mkstemp's 0600 would hide the file from the group: open()'s mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class History:
    """Per-step and per-epoch record of one run.

    Parameters
    ----------
    record_params : bool
        Keep :math:`\\theta_k` at every step (switch off for large models).
    param_names : sequence of str, optional
        Names of the parameter coordinates, e.g. ``("w", "b")``.
    meta : dict, optional
        Settings of the run (optimiser, learning rate, seed...), saved with it.
    """

    def __init__(
        self,
        record_params: bool = True,
        param_names: Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.record_params = record_params
        self.param_names = tuple(param_names) if param_names is not None else None
        self.meta: dict[str, Any] = dict(meta or {})
        self._steps = _new_steps()
        self._params: list[np.ndarray] = []  # blocks of rows, each (steps, n_params)
        self._epochs: dict[str, list] = {"epoch": [], "step": [], "loss": []}
        self.final_params: np.ndarray | None = None

    # ------------------------------------------------------------------ recording
    def record_step(self, epoch: int, loss: float, grad_norm: float, lr: float, params: Any | None) -> None:
        """Append step ``k = n_steps`` (``params`` is :math:`\\theta_k`, kept only if ``record_params``)."""
        s = self._steps
        s["step"].append(len(s["step"]))
        s["epoch"].append(int(epoch))
        s["loss"].append(float(loss))
        s["grad_norm"].append(float(grad_norm))
        s["lr"].append(float(lr))
        if self.record_params and params is not None:  # a NumPy copy, whatever library or device params live on
            self._params.append(np.array(to_numpy(params), copy=True).reshape(1, -1))

    def record_steps(self, epoch: int, loss: np.ndarray, grad_norm: np.ndarray, lr: np.ndarray,
                     params: np.ndarray | None) -> None:
        """Append ``len(loss)`` steps of one epoch at once, as :meth:`record_step` would one by one.

        ``params`` is ``(len(loss), n_params)``, row ``j`` the parameters step ``j`` started
        from (kept only if ``record_params``); the other arguments are 1-D NumPy arrays, one value
        per step. The arrays are kept as they are, not copied (an epoch of per-sample steps is
        megabytes): hand over arrays nothing else will modify.
        """
        n = int(np.shape(loss)[0])
        if not n:
            return
        s = self._steps
        first = len(s["step"])
        s["step"].extend(np.arange(first, first + n))
        s["epoch"].extend(np.full(n, int(epoch)))
        s["loss"].extend(loss)
        s["grad_norm"].extend(grad_norm)
        s["lr"].extend(lr)
        if self.record_params and params is not None:
            self._params.append(np.asarray(params).reshape(n, -1))

    def record_epoch(self, epoch: int, loss: float, **extra: float) -> None:
        """Append the end-of-epoch row: the loss on all the data (and e.g. ``val_loss``)."""
        e = self._epochs
        n_before = len(e["epoch"])
        e["epoch"].append(int(epoch))
        e["step"].append(self.n_steps)
        e["loss"].append(float(loss))
        for key, value in extra.items():
            e.setdefault(key, [math.nan] * n_before).append(float(value))
        for key, col in e.items():
            if len(col) == n_before:
                col.append(math.nan)

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

    @property
    def params(self) -> np.ndarray | None:
        """:math:`\\theta_k` for every step, shape ``(n_steps, n_params)``; None if not recorded."""
        if not self.record_params or (self.n_steps and not self._params):
            return None
        if not self._params:
            return np.empty((0, 0))
        if len(self._params) > 1:
            self._params = [np.concatenate(self._params)]
        return self._params[0].copy()

    @property
    def path(self) -> np.ndarray | None:
        """Every point visited, :math:`\\theta_0 \\dots \\theta_n`, shape ``(n_steps + 1, n_params)``."""
        p = self.params
        if p is None or self.final_params is None:
            return p
        last = np.asarray(self.final_params, dtype=float).reshape(1, -1)
        return last if p.size == 0 else np.vstack([p, last])

    def _param_labels(self, n: int) -> list[str]:
        names = self.param_names if self.param_names and len(self.param_names) == n else None
        return [f"param:{names[i]}" if names else f"param:{i}" for i in range(n)]

    def to_pandas(self, kind: str = "steps"):
        """The step table (``kind="steps"``, with ``param:NAME`` columns) or the epoch table (``"epochs"``)."""
        import pandas as pd

        if kind == "epochs":
            return pd.DataFrame({k: list(v) for k, v in self._epochs.items()})
        if kind != "steps":
            raise ValueError(f"kind must be 'steps' or 'epochs', got {kind!r}")
        df = pd.DataFrame({k: v.array() for k, v in self._steps.items()})
        p = self.params
        if p is not None and p.size:
            df = pd.concat([df, pd.DataFrame(p, columns=self._param_labels(p.shape[1]))], axis=1)
        return df

    # ------------------------------------------------------------------ saving and loading
    def to_dict(self) -> dict[str, Any]:
        steps = {k: [_encode(x) if isinstance(x, float) else x for x in v.tolist()] for k, v in self._steps.items()}
        if self.record_params:
            steps["params"] = [[_encode(float(x)) for x in p] for block in self._params for p in block]
        return {
            "format": FORMAT,
            "version": VERSION,
            "meta": self.meta,
            "param_names": list(self.param_names) if self.param_names else None,
            "record_params": self.record_params,
            "steps": steps,
            "epochs": {k: [_encode(float(x)) if k not in ("epoch", "step") else x for x in v]
                       for k, v in self._epochs.items()},
            "final_params": None if self.final_params is None
            else [_encode(float(x)) for x in np.asarray(self.final_params).reshape(-1)],
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The whole history as JSON (written atomically to ``path`` if given); floats round-trip exactly."""
        text = json.dumps(self.to_dict(), default=_json_default)
        if path is not None:
            atomic_write(path, text)
        return text

    def to_csv(self, path: str | os.PathLike, kind: str = "steps") -> None:
        """Write the step or epoch table as CSV, atomically (floats written to round-trip exactly)."""
        atomic_write(path, self.to_pandas(kind).to_csv(index=False, float_format="%.17g"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a gradstep history (expected format {FORMAT!r})")
        if d.get("version", 0) > VERSION:
            raise ValueError(f"history version {d.get('version')} is newer than this gradstep reads ({VERSION})")
        h = cls(record_params=d.get("record_params", True), param_names=d.get("param_names"), meta=d.get("meta"))
        steps = d["steps"]
        for k in STEP_COLUMNS:
            h._steps[k] = _Column(h._steps[k].dtype,
                                  [(_decode(x) if k in ("loss", "grad_norm", "lr") else int(x)) for x in steps[k]])
        rows = steps.get("params", [])
        h._params = [np.array([[_decode(x) for x in p] for p in rows], dtype=float)] if rows else []
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
        """Load the step table written by :meth:`to_csv` (epochs and final parameters are JSON-only)."""
        import pandas as pd

        df = pd.read_csv(path)
        missing = [c for c in STEP_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: not a gradstep step table, columns {missing} are missing")
        pcols = [c for c in df.columns if c.startswith("param:")]
        names = [c[len("param:"):] for c in pcols]
        h = cls(record_params=bool(pcols), param_names=names if pcols and not all(n.isdigit() for n in names) else None)
        for k in STEP_COLUMNS:
            h._steps[k] = _Column(h._steps[k].dtype, df[k].astype(float if k in ("loss", "grad_norm", "lr") else int).tolist())
        h._params = [df[pcols].to_numpy(dtype=float)] if pcols and len(df) else []
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
