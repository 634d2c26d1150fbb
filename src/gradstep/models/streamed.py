r"""An estimator's fit on rows read piece by piece (files, Dask): ``fit_stream`` and what it keeps.

:class:`StreamedFit` is the part of :class:`~gradstep.models.base.GradientDescentModel` that
:meth:`StreamedFit.fit_stream` runs, the same descent as ``fit`` over a row source
(:mod:`gradstep.data.stream`, :class:`gradstep.distributed.DaskRows`). One summary pass
(:func:`gradstep.models.streaming.summarise`) gives the features, the labels, the scaling and
the row weights (:mod:`gradstep.models.stream_units`) and ``lr="auto"``; the fit keeps it as
``stream_summary_`` (:class:`StreamSummary`), which is also how its callers see the rows
without reading them again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from .. import checkpoint as checkpoints
from ..data.batching import Batches, resolve_seed
from ..loop import EpochRunner, StepInfo
from ..objectives import Penalty
from .descent import Descent
from .placement import Placement
from .resume import checkpointing, restore
from .stream_units import StreamUnits
from .streaming import Summary


@dataclass(frozen=True)
class StreamSummary:
    r"""What the summary pass of :meth:`StreamedFit.fit_stream` learnt, kept as ``stream_summary_``.

    Attributes
    ----------
    train : Summary
        The training rows' :class:`~gradstep.models.streaming.Summary` (in the units of the
        source, weighted by the sample weights): their count, labels, column moments and, for
        squared error, :math:`\tilde X^\top W \tilde X`, :math:`\tilde X^\top W y`
        (``train.stats``).
    held : Summary or None
        The held-out rows' (``early_stopping``), else None.
    units : StreamUnits
        The scaling and row weights of the fit, learnt from all the rows
        (``units.stats(rows)``: the statistics in the units gradient descent ran in).
    weight_column : int or None
        The index of the sample-weight column among the source's columns; None without one.
    split : RowSplit or None
        Which rows are held out (:class:`gradstep.data.split.RowSplit`), with ``early_stopping``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd
    >>> from gradstep import LinearRegression
    >>> path = os.path.join(tempfile.mkdtemp(), "line.parquet")
    >>> pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 3.0, 5.0, 7.0]}).to_parquet(path)
    >>> seen = LinearRegression(epochs=1, tol=None).fit_stream(path, target="y").stream_summary_
    >>> seen.rows.n_rows, seen.train.stats.C.ravel().tolist()   # X~'y = (sum x y, sum y)
    (4, [34.0, 16.0])
    """

    train: Summary
    held: Summary | None
    units: StreamUnits
    weight_column: int | None
    split: Any

    @property
    def rows(self) -> Summary:
        """The summary of all the rows, training and held-out."""
        return self.train if self.held is None else self.train + self.held


class StreamedFit(Descent):
    """Fitting on rows that do not fit in memory: :meth:`fit_stream` and its steps."""

    stream_summary_: StreamSummary

    def fit_stream(self, source: Any, target: str | None = None, features: Any = None, *,
                   sample_weight: str | None = None, chunk_rows: int | None = None, buffer_rows: int | None = None,
                   callback: Callable[[StepInfo], Any] | None = None, checkpoint: str | os.PathLike | None = None,
                   checkpoint_every: int = 1000, resume: bool = False) -> Self:
        r"""Fit on rows read piece by piece: Parquet files, a CSV file or Dask arrays (see :mod:`gradstep.data.stream`).

        The same descent as :meth:`fit` (the same iterates, in data order), with memory bounded by
        the chunks and the shuffle buffer rather than the data. The rows are read once to gather
        their summary (:func:`gradstep.models.streaming.summarise`: the number of rows, the labels
        and their counts, the column means, variances, minima and maxima, the sample weights' sums,
        :math:`\tilde X^\top W \tilde X` and, for squared error, :math:`\tilde X^\top W y`), then once
        per epoch. ``scale``, ``class_weight`` and sample weights are learnt from the summary and
        applied to every chunk as it is read (:mod:`gradstep.models.stream_units`), as ``fit``
        applies them to the rows in memory. For squared error the loss on all the rows, the
        validation loss, and full-batch descent, come from the summary at :math:`O(d^2)` a step; a
        classifier reads the rows again for its loss after every epoch and, in full-batch
        descent, for every step. The summary is kept as ``stream_summary_`` (:class:`StreamSummary`).

        With ``early_stopping``, row :math:`i` is held out for validation iff a hash of
        (seed, :math:`i`) falls below ``validation_fraction`` (:mod:`gradstep.data.split`): the
        same rows in every epoch and after a resume, about ``validation_fraction`` of them (the
        in-memory fit draws exactly that share at random instead). Their loss is recorded after
        every epoch (``val_loss``) and the ``tol`` rule watches it.

        Parameters
        ----------
        source : str, os.PathLike or RowSource
            A Parquet file, folder or glob, a CSV file, or a row source
            (:func:`gradstep.data.stream.open_rows`, :class:`gradstep.distributed.DaskRows`).
        target, features : str, sequence of str, optional
            The columns, when ``source`` is a path.
        sample_weight : str, optional
            The column holding each row's weight (non-negative): read with the rows, not a feature.
        chunk_rows, buffer_rows : int, optional
            Rows read at a time and rows shuffled together (defaults
            :data:`~gradstep.data.stream.CHUNK_ROWS`, :data:`~gradstep.data.stream.BUFFER_ROWS`).
        callback : callable, optional
            ``callback(StepInfo)`` after every update (it turns the compiled epochs off).
        checkpoint : path, optional
            Save the run there every ``checkpoint_every`` updates (atomically, :mod:`gradstep.checkpoint`).
        resume : bool
            If ``checkpoint`` exists, go on from it (the same settings and data are required) to the
            result the uninterrupted run would have given.

        Returns
        -------
        self

        Notes
        -----
        Not available for streamed rows: ``backend="torch"`` (the rows are NumPy chunks). With
        ``scale`` or weights and ``batch_size=1``, ``lr="auto"`` bounds the rows' norms and weights
        by their largest values from the summary (it may be below the in-memory fit's).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np, pandas as pd
        >>> from gradstep import LinearRegression
        >>> path = os.path.join(tempfile.mkdtemp(), "line.parquet")
        >>> x = np.linspace(0, 1, 1000)
        >>> pd.DataFrame({"x": x, "y": 2 * x + 1}).to_parquet(path, row_group_size=100)
        >>> model = LinearRegression(batch_size=50, lr=0.5, epochs=200, tol=None, random_state=0)
        >>> np.round(model.fit_stream(path, target="y").coef_, 3), round(model.intercept_, 3)
        (array([2.]), 1.0)
        >>> model = LinearRegression(batch_size=50, epochs=20, scale="standard", random_state=0)
        >>> np.round(model.fit_stream(path, target="y").coef_, 3)
        array([2.])
        """
        from ..data.stream import BUFFER_ROWS

        source = open_stream(source, target, features, sample_weight, chunk_rows)
        penalty = self._check_hyper()
        self._check_streamable()
        ck = checkpoints.CheckpointFile.of(checkpoint, checkpoint_every, resume)
        column = weight_column(source, sample_weight)
        buffer_rows = buffer_rows or BUFFER_ROWS
        # what the batches depend on besides the settings: a checkpoint resumes only on the same
        description = (f"{getattr(source, 'description', type(source).__name__)} (shuffle buffer {buffer_rows} rows"
                       + (f", sample weights {sample_weight!r})" if sample_weight is not None else ")"))
        snapshot = None
        if ck is not None and ck.resumes():
            snapshot = restore(self, ck.path, description)
        else:
            self._start_stream(source, penalty, column)
        train, validation = self._stream_split(source)
        batches = self._stream_batches(train, buffer_rows)
        per_sample = batches.size == 1

        def explain() -> float | None:
            from . import streaming

            units, summary = self.stream_summary_.units, self.stream_summary_.train
            return streaming.stable_lr(units.stats(summary), units.max_row_sq(summary), units.max_weight(summary),
                                       self.loss_name, bool(self.fit_intercept), self._objective_.penalty.l2,
                                       self._objective_.n_outputs, per_sample)

        # the objective takes the chunked data itself (LinearObjective's one choice of path)
        result = self._run(self._objective_, batches, epochs=int(self.epochs), tol=self.tol,
                           callback=callback, validation=validation, explain=explain,
                           compile=lambda: self._compiled_stream(batches, callback),
                           checkpoint=checkpointing(self, ck, description), resume=snapshot)
        self._warn_unconverged(result)
        return self

    def _check_streamable(self) -> None:
        if getattr(self, "backend", None) not in (None, "numpy"):
            raise ValueError(f"backend={self.backend!r} is not available for streamed rows (they are NumPy "
                             f"chunks); set it to None, or read the data into memory and use fit")
        from ..scaling import SCALES

        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")

    def _start_stream(self, source: Any, penalty: Penalty, column: int | None) -> None:
        """A fresh streamed run: the one summary pass (split into training and held-out rows with
        ``early_stopping``); features, labels, scaling and weights from it."""
        from ..data.split import RowSplit
        from . import streaming

        split = RowSplit(resolve_seed(self.random_state), float(self.validation_fraction)) \
            if self.early_stopping else None
        found = streaming.summarise(source, bool(self.fit_intercept), labels=self._stratify, weight_column=column,
                                    split=split)
        summary, held = found if isinstance(found, tuple) else (found, None)
        every = summary + held if held is not None else summary   # scaling and weights: from all rows, as in memory
        self._placement = self._output = Placement.resolve(np.zeros((1, 1)), None, None)
        names = [n for i, n in enumerate(source.feature_names) if i != column]
        self.n_features_in_ = d = len(names)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        k = self._encode(every.labels if self._stratify else np.zeros(1), first=True).shape[1]
        units = StreamUnits.of(every, self.scale, bool(self.fit_intercept), getattr(self, "class_weight", None),
                               weighted=column is not None)
        self.stream_summary_ = StreamSummary(summary, held, units, column, split)

        def stable(per_sample: bool) -> float:
            return streaming.stable_lr(units.stats(every), units.max_row_sq(every), units.max_weight(every),
                                       self.loss_name, bool(self.fit_intercept), self._objective_.penalty.l2, k,
                                       per_sample=per_sample)

        self._begin(penalty, d, k, every.n_rows, np.dtype(np.float64), units.scaling, stable, None, None)
        self.history_.meta["data"] = getattr(source, "description", None)

    def _stream_split(self, source: Any) -> tuple[Any, Any]:
        """``(training rows, validation)``: the source itself and None without ``early_stopping``; else
        the training rows and what the held-out rows' loss is computed on (their statistics, or
        the rows read again: :class:`~gradstep.data.stream.StreamData`)."""
        seen = self.stream_summary_
        if seen.split is None:
            return source, None
        from ..data.split import SplitRows
        from ..data.stream import StreamData

        held = self._summary_data(seen.held)
        if held is None:
            held = StreamData(SplitRows(source, seen.split, held=True), self._stream_prepare())
        return SplitRows(source, seen.split, held=False), held

    def _summary_data(self, summary: Any) -> Any:
        """What stands for the streamed rows of ``summary`` in the loss after each epoch, without reading
        them (LinearRegression: their :class:`~gradstep.objectives.SquaredStats`); None: read them."""
        return None

    def _chunk_encoder(self) -> Callable | None:
        """``(X, y) -> (X, Y)`` for each streamed chunk; None: ``Y = y[:, None]``."""
        return None

    def _stream_prepare(self) -> Callable:
        """How the model sees each raw chunk: weight column taken out, scaled, encoded, weighted."""
        return self.stream_summary_.units.prepare(self._chunk_encoder(), self.stream_summary_.weight_column)

    def _stream_batches(self, source: Any, buffer_rows: int) -> Any:
        from ..data.batching import FixedBatch
        from ..data.stream import StreamBatches

        data = self._summary_data(self.stream_summary_.train)
        batches = StreamBatches(source, self.batch_size, bool(self.shuffle), self._seed, buffer_rows,
                                self._stream_prepare(), None)
        self.history_.meta["sufficient_stats"] = data is not None and batches.full_batch
        if data is not None and batches.full_batch:
            return FixedBatch(data, batches.n_samples)
        if data is not None:
            batches.data = data
        return batches

    def _compiled_stream(self, batches: Any, callback: Callable | None) -> EpochRunner | None:
        """Compiled epochs over the blocks of a stream (:class:`~gradstep.models.streaming.StreamEpochs`)
        when the in-memory rule (:meth:`_compiled_epochs`) would compile such rows; else None."""
        from ..data.stream import StreamBatches

        if not isinstance(batches, StreamBatches) or batches.full_batch:
            return None
        from .streaming import StreamEpochs

        k, bs = self._objective_.n_outputs, batches.size
        probe = Batches(np.zeros((bs + 1, self.n_features_in_)), np.zeros((bs + 1, k)), bs, False, 0)
        if self._compiled_epochs(probe, callback) is None:
            return None
        return StreamEpochs(batches, lambda rows: self._compiled_epochs(rows, callback, block=True))


def open_stream(source: Any, target: str | None, features: Any, sample_weight: str | None,
                chunk_rows: int | None) -> Any:
    """The row source of ``source`` (a path is opened with the weight column among its columns)."""
    from ..data.stream import CHUNK_ROWS, open_rows

    if not isinstance(source, (str, os.PathLike, list, tuple)):
        return source
    if sample_weight is not None and features is not None:
        names = [f.strip() for f in features.split(",")] if isinstance(features, str) else list(features)
        features = names if sample_weight in names else [*names, sample_weight]
    return open_rows(source, target, features, chunk_rows=chunk_rows or CHUNK_ROWS)


def weight_column(source: Any, sample_weight: str | None) -> int | None:
    """The index of the sample-weight column among the source's columns (None without one)."""
    if sample_weight is None:
        return None
    names = list(source.feature_names)
    if sample_weight not in names:
        raise ValueError(f"sample_weight={sample_weight!r} is not a column of {source.description} (its columns "
                         f"are {names + [source.target_name]}); name the column holding the weights")
    if len(names) < 2:
        raise ValueError(f"sample_weight={sample_weight!r} is the only feature column; the fit needs at least "
                         f"one other")
    return names.index(sample_weight)


__all__ = ["StreamSummary", "StreamedFit", "open_stream", "weight_column"]
