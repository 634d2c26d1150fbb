"""``gradstep fit`` on data read piece by piece: big Parquet/CSV files, or Dask on a cluster.

Chosen by ``gradstep fit`` when asked (``--stream``, ``--chunk-rows``,
``--scheduler``, ``--workers``) or when given several files or a folder. The fit is
:meth:`gradstep.models.base.GradientDescentModel.fit_stream`; this module opens the rows,
shows a progress bar counting rows per second, and prints the result next to the
closed form and the gap to the optimum, both computed from the one-pass summary (linear regression;
the gap only without sample weights).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from .common import EXIT_DIVERGED, brief, cli_words, err, fail, out, written
from .stopping import checkpoint_file, on_interruption, stoppable, stopped

if TYPE_CHECKING:
    from ..checkpoint import CheckpointFile


class RowsProgress:
    """A progress bar on stderr counting the rows read and their rate (it appears after ``delay`` s)."""

    def __init__(self, total: int | None, description: str, enabled: bool, delay: float = 0.5) -> None:
        self.total, self.description, self.enabled, self.delay = total, description, enabled, delay
        self.rows = 0
        self.start = time.perf_counter()
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, m: int) -> None:
        self.rows += m
        if not self.enabled:
            return
        if self._bar is None:
            if time.perf_counter() - self.start < self.delay:
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress("{task.description}", BarColumn(), TextColumn("{task.completed:,.0f} rows"),
                                 TextColumn("{task.fields[rate]:,.0f} rows/s"), TimeElapsedColumn(),
                                 console=err, transient=True)
            self._task = self._bar.add_task(self.description, total=self.total, rate=0.0)
            self._bar.start()
        rate = self.rows / max(time.perf_counter() - self.start, 1e-9)
        self._bar.update(self._task, completed=self.rows, rate=rate)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def open_source(files: list[Path], target: str | None, features: list[str] | None, delimiter: str | None,
                chunk_rows: int | None, dask: bool) -> Any:
    """The row source of the files: pyarrow streaming, or a Dask dataframe on the cluster."""
    from ..data.readers import DataError
    from ..data.stream import CHUNK_ROWS, open_rows

    if target is None:
        fail(f"give the column to predict with --target COLUMN (file {files[0]})")
    try:
        if dask:
            from ..distributed import read_parquet

            return read_parquet([str(f) for f in files] if len(files) > 1 else str(files[0]), target, features)
        if len(files) > 1:
            return open_rows([str(f) for f in files], target, features, chunk_rows=chunk_rows or CHUNK_ROWS)
        return open_rows(files[0], target, features, chunk_rows=chunk_rows or CHUNK_ROWS, delimiter=delimiter)
    except (DataError, ValueError, ImportError) as e:
        fail(cli_words(str(e)))


def fit_streamed(est: Any, files: list[Path], *, target: str | None, features: list[str] | None,
                 delimiter: str | None, chunk_rows: int | None, buffer_rows: int | None, scheduler: str | None,
                 workers: int | None, checkpoint: CheckpointFile | Path | None, history: Path | None, as_json: bool,
                 quiet: bool, summary: dict[str, Any], sample_weight: str | None = None, checkpoint_every: int = 1000,
                 resume: bool = False) -> None:
    """Fit ``est`` on the rows of ``files`` and print the result (``sample_weight``: the column of
    row weights, ``--sample-weight COLUMN``). ``checkpoint``: what :func:`~gradstep.cli.stopping.checkpoint_file`
    made of the flags, or the file, with ``checkpoint_every`` and ``resume`` (``--checkpoint-every``, ``--resume``)."""
    from ..checkpoint import CheckpointFile

    ck = checkpoint if isinstance(checkpoint, CheckpointFile) else checkpoint_file(checkpoint, checkpoint_every, resume)
    dask = scheduler is not None or workers is not None
    cluster: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if dask:
        from ..distributed import client

        try:
            cluster = client(scheduler=scheduler, workers=workers)
        except ValueError as e:
            fail(cli_words(str(e)))
    with cluster:
        source = open_source(files, target, _with_weights(features, sample_weight), delimiter, chunk_rows, dask)
        n = source.n_rows
        passes = 1 + int(est.epochs) if est.batch_size is not None else 1
        bar = RowsProgress(None if n is None else n * passes, f"fit {files[0].name}", enabled=not (quiet or as_json))
        t0 = time.perf_counter()
        files_written = _fit_rows(est, source, bar, sample_weight, buffer_rows, on_interruption(ck, "fit"), history)
        seconds = time.perf_counter() - t0
    rows = int(est.history_.meta["n_samples"])   # all the rows (training and held-out)
    summary.update(
        data=source.description, features=[str(f) for f in est.feature_names_in_], target=source.target_name,
        sample_weight=sample_weight,
        rows=rows, rows_read=bar.rows, rows_per_second=bar.rows / seconds if seconds > 0 else None,
        lr=est.lr_ if isinstance(est.lr_, (int, float)) or est.lr_ is None else str(est.lr_),
        epochs_run=est.n_iter_, steps=est.t_, success=bool(est.result_.success), message=est.result_.message,
        loss_value=est.result_.fun, coef=est.coef_, intercept=est.intercept_, seconds=seconds,
        checkpoint=str(ck.path) if ck is not None else None, files=[str(p) for p in files_written],
    )
    names = [*map(str, est.feature_names_in_), "intercept"]
    gd = np.append(np.ravel(est.coef_), np.ravel(est.intercept_))
    cf = _closed_form(est)
    if cf is not None:
        summary.update(closed_form=cf, relative_error_to_closed_form=float(
            np.linalg.norm(gd - cf) / max(float(np.linalg.norm(cf)), 1e-300)))
    summary["optimality_gap"] = _optimality_gap(est)
    if brief(summary, gd, as_json, quiet):
        return
    out.print(f"[bold]gradstep fit[/] — {escape(source.description)}: {rows:,} rows, {len(names) - 1} features, "
              f"read in chunks", highlight=False)
    table = Table("parameter", "gradient descent", *(["closed form"] if cf is not None else []), show_edge=False)
    if gd.size == len(names):
        for i, name in enumerate(names):
            table.add_row(escape(name if name == "intercept" else f"w[{name}]"), f"{gd[i]:.10g}",
                          *([f"{cf[i]:.10g}"] if cf is not None else []))
        out.print(table)
    else:
        out.print(f"coef {np.asarray(est.coef_).tolist()}, intercept {np.asarray(est.intercept_).tolist()}")
    rate = summary["rows_per_second"]
    out.print(f"{est.optimizer_}, lr {summary['lr']}, batch {est.batch_size or 'all'}: {est.n_iter_} epochs, "
              f"{est.t_} steps in {seconds:.3g} s; {bar.rows:,} rows read"
              + (f" at {rate:,.0f} rows/s" if rate else "") + f" — {est.result_.message}\n"
              f"final loss {est.result_.fun:.10g}"
              + (f", gap to the optimum {summary['optimality_gap']:.3g}" if summary["optimality_gap"] is not None
                 else "")
              + (f", relative distance to the closed form {summary['relative_error_to_closed_form']:.3g}"
                 if cf is not None else ""), highlight=False)
    written(files_written, quiet)


def _fit_rows(est: Any, source: Any, bar: RowsProgress, sample_weight: str | None, buffer_rows: int | None,
              ck: CheckpointFile, history: Path | None) -> list[Path]:
    """``est.fit_stream`` on the rows of ``source``, counted by ``bar``, with the checkpoint ``ck``; the history
    written to ``history``; a divergence, bad data or a stop asked for ends the command. The files written."""
    from ..data.readers import DataError
    from ..data.stream import ObservedRows
    from ..loop import INTERRUPTED, DivergenceError

    files: list[Path] = []
    with stoppable():
        try:
            est.fit_stream(ObservedRows(source, bar), sample_weight=sample_weight, buffer_rows=buffer_rows,
                           checkpoint=str(ck.path), checkpoint_every=ck.every, resume=ck.resume)
        except DivergenceError as e:
            bar.close()
            if history is not None:
                e.history.to_json(history)
            fail(str(e), code=EXIT_DIVERGED)
        except (DataError, ValueError, TypeError, FileNotFoundError, ImportError) as e:
            bar.close()
            fail(cli_words(str(e)))
        bar.close()
        if history is not None:
            est.history_.to_json(history)
            files.append(history)
        if est.result_.status == INTERRUPTED:
            stopped("fit", est.t_, Path(ck.path), files)
    return files


def _with_weights(features: list[str] | None, sample_weight: str | None) -> list[str] | None:
    """The columns to read: the weight column is read with the rows (``fit_stream`` takes it out of the
    features); None (every numeric column) reads it anyway."""
    if sample_weight is None or features is None or sample_weight in features:
        return features
    return [*features, sample_weight]


def _closed_form(est: Any) -> np.ndarray | None:
    """Least squares from the summary's statistics, :math:`\\tilde X^\\top \\tilde X \\theta = \\tilde X^\\top y`
    (linear regression without a penalty; None otherwise)."""
    if not hasattr(est, "loss") or est.objective_.penalty.active:
        return None
    stats = est.stream_summary_.train.stats
    theta = np.linalg.lstsq(np.asarray(stats.G), np.asarray(stats.C), rcond=None)[0][:, 0]
    return theta if est.fit_intercept else np.append(theta, 0.0)


def _optimality_gap(est: Any) -> float | None:
    """:meth:`~gradstep.models.base.GradientDescentModel.optimality_gap` on all the streamed rows (training
    and held-out) for a linear regression fitted without sample weights, from the summary's statistics
    (:math:`O(d^2)` an evaluation, no row read again; accurate to about :math:`\\epsilon\\sum y^2 / m`);
    None otherwise: weighted statistics are all the summary holds, and a classifier's reference solve
    would read every row at every iteration."""
    seen = est.stream_summary_
    if not hasattr(est, "loss") or seen.weight_column is not None:
        return None
    from ..reference import reference_solve

    stats, theta, obj = seen.units.stats(seen.rows), est.fitted_params(), est.objective_
    return obj.value(theta, stats) - reference_solve(obj, stats, x0=theta)[1]
