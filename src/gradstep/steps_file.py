r"""Every step of a run, parameters included, written to Parquet as the run goes.

A :class:`~gradstep.history.History` keeps every step's scalars but, by default, a bounded
number of parameter vectors (:mod:`gradstep.param_rows`). For every step's :math:`\theta_k`
without holding them in memory, give ``record_params=StepsFile(path)``: the history keeps
what ``keep`` says in memory and appends each step's row (``step``, ``epoch``, ``loss``,
``grad_norm``, ``lr``, ``param:NAME``...) to Parquet, :data:`ROW_GROUP` steps at a time.

``path`` is a Parquet dataset, a folder as Spark and pyarrow write them: each call of the
loop (a ``fit``, each ``partial_fit``, a resumed run) writes one file ``part-NNNNN.parquet``
in it, row group by row group, closed when that call ends. :func:`read` gives the table (a run
killed mid-way leaves its last part without its footer: :func:`read` skips it, and a resumed
run writes its steps again from its checkpoint on; the last row of each step wins).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from gradstep import LinearRegression
>>> path = os.path.join(tempfile.mkdtemp(), "steps.parquet")
>>> x = np.linspace(0, 1, 10); X = np.c_[x, x ** 2]; y = X @ np.array([0.5, -0.5])
>>> model = LinearRegression(batch_size=1, lr=0.001, epochs=3, tol=None,
...                          record_params=StepsFile(path, keep=4)).fit(X, y)
>>> table = read(path)
>>> len(table), model.history_.param_steps.tolist(), list(table.columns[:5])
(30, [0, 8, 10, 16, 20, 24], ['step', 'epoch', 'loss', 'grad_norm', 'lr'])
>>> bool(np.array_equal(table["loss"], model.history_.loss))
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROW_GROUP = 65_536
"""Steps written to the Parquet file at a time (a compiled epoch hands over at most this many
parameter vectors at once when a steps file is on)."""


@dataclass(frozen=True)
class StepsFile:
    """``record_params`` setting: every step to the Parquet dataset ``path``, ``keep`` in memory.

    Parameters
    ----------
    path : str or os.PathLike
        The folder of Parquet files (made if missing).
    keep : str, bool or int, default="thinned"
        What the history keeps in memory, as ``record_params`` says it (:mod:`gradstep.param_rows`).
    """

    path: str | os.PathLike
    keep: Any = "thinned"


class StepsWriter:
    """Appends steps to one new part file of a :class:`StepsFile` dataset, :data:`ROW_GROUP` at a time.

    Parameters
    ----------
    path : path
        The dataset folder.
    labels : callable
        ``labels(n_params) -> list of column names`` of the parameters.
    """

    def __init__(self, path: str | os.PathLike, labels: Any) -> None:
        self.folder = Path(path)
        self.labels = labels
        self._pending: list[tuple[tuple[np.ndarray, ...], np.ndarray | None]] = []   # (the five columns, params)
        self._n = 0
        self._writer: Any = None
        self.file: Path | None = None

    def write(self, first: int, epoch: np.ndarray, loss: np.ndarray, grad_norm: np.ndarray, lr: np.ndarray,
              params: np.ndarray | None) -> None:
        """Steps ``first, first + 1, ...`` (``params`` one row a step, or None)."""
        n = len(loss)
        if not n:
            return
        steps = np.arange(first, first + n, dtype=np.int64)
        self._pending.append(((steps, np.asarray(epoch, np.int64), *(np.asarray(a, np.float64) for a in
                                                                      (loss, grad_norm, lr))), params))
        self._n += n
        if self._n >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        """Write the steps held as one row group."""
        if not self._pending:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = [np.concatenate([c[i] for c, _ in self._pending]) for i in range(5)]
        names = ["step", "epoch", "loss", "grad_norm", "lr"]
        rows = [r for _, r in self._pending]
        if all(r is not None for r in rows):
            P = np.concatenate([np.asarray(r, dtype=np.float64).reshape(len(c[0]), -1)
                                for c, r in self._pending])
            cols += list(P.T)
            names += self.labels(P.shape[1])
        table = pa.table(dict(zip(names, cols)))
        if self._writer is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            index = len(list(self.folder.glob("part-*.parquet")))
            self.file = self.folder / f"part-{index:05d}.parquet"
            self._writer = pq.ParquetWriter(self.file, table.schema)
        self._writer.write_table(table)
        self._pending, self._n = [], 0

    def close(self) -> None:
        """Write what is held and the file's footer (the file is complete and readable)."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read(path: str | os.PathLike):
    """The steps of a :class:`StepsFile` dataset as a pandas DataFrame, one row a step in step order
    (parts without a footer, left by a killed run, are skipped; the last row of a step wins)."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for part in sorted(Path(path).glob("part-*.parquet")):
        try:
            frames.append(pq.read_table(part).to_pandas())
        except Exception:  # noqa: BLE001 - a part cut short by a kill has no footer
            continue
    if not frames:
        return pd.DataFrame(columns=["step", "epoch", "loss", "grad_norm", "lr"])
    table = pd.concat(frames, ignore_index=True)
    table = table.drop_duplicates("step", keep="last").sort_values("step", kind="stable")
    return table.reset_index(drop=True)


__all__ = ["ROW_GROUP", "StepsFile", "StepsWriter", "read"]
