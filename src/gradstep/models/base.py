r"""The estimators' common class, :class:`GradientDescentModel`, assembled from its parts by job.

A subclass says only what differs: how the target is encoded (``_encode``), which objective
it minimises (``_objective``), its loss's name (``loss_name``), per-row weights (``_row_weights``,
e.g. class weights) and how fitted parameters become ``coef_`` / ``intercept_`` (``_store``).
``fit`` runs a fresh descent (or, with ``warm_start``, continues the last one); ``partial_fit``
runs one more epoch over new rows and continues the optimiser state, the learning-rate schedule
and the history exactly where the previous call left them.

The parts, one job each:

* :mod:`~gradstep.models.settings`: the hyper-parameters, their checks, what a subclass provides;
* :mod:`~gradstep.models.descent`: a fresh run (the ``"auto"`` settings) and each call of the loop;
* :mod:`~gradstep.models.memory`: the fit on rows in memory (``fit``'s steps, ``partial_fit``);
* :mod:`~gradstep.models.streamed`: ``fit_stream``, on rows read piece by piece (Dask arrays given
  to ``fit`` go there);
* :mod:`~gradstep.models.optimum`: the fitted objective and parameters, the exact optimum and the gap;
* :mod:`~gradstep.models.resume`: checkpoints (the data's fingerprint, save and restore);
* :mod:`~gradstep.models.averaging`: averaged SGD's running mean.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Self

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .. import backend
from .. import checkpoint as checkpoints
from ..loop import INTERRUPTED, StepInfo
from .averaging import Averager  # noqa: F401  (checkpoints pickled before the split name it here)
from .descent import GTOL_BATCHES, GTOL_FULL, HALF_LIFE
from .memory import InMemoryFit
from .optimum import FittedObjective
from .placement import Placement, float_dtype, host
from .resume import checkpointing, fingerprint, restore
from .streamed import StreamedFit


def _is_dask(X: Any) -> bool:
    """A Dask array or DataFrame (checked without importing Dask)."""
    return type(X).__module__.split(".")[0] == "dask"


class GradientDescentModel(FittedObjective, StreamedFit, InMemoryFit):
    """Base of gradstep's estimators (see the subclasses for the parameters' meaning)."""

    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None, sample_weight: Any = None,
            callback: Callable[[StepInfo], Any] | None = None, *, checkpoint: str | os.PathLike | None = None,
            checkpoint_every: int = 1000, resume: bool = False) -> Self:
        """Fit by gradient descent from ``coef_init`` / ``intercept_init`` (zeros by default).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) (or (n_samples, n_targets) for regression)
        coef_init : array_like of shape (n_features,) or (n_outputs, n_features), optional
            Starting coefficients, in the original units of ``X``.
        intercept_init : float or array_like of shape (n_outputs,), optional
        sample_weight : array_like of shape (n_samples,), optional
            Each row's loss is multiplied by its weight (and, for classifiers, its class weight).
        callback : callable, optional
            ``callback(StepInfo)`` after every update (e.g. a progress bar); raise
            ``StopIteration`` to stop.
        checkpoint : path, optional
            Save the run there every ``checkpoint_every`` updates and when it is interrupted
            (atomically, :mod:`gradstep.checkpoint`; :mod:`gradstep.interrupt`).
        resume : bool
            If ``checkpoint`` exists, go on from it (the same settings, data and start are
            required) to the result the uninterrupted run would have given.

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            When the loss explodes; the message names the step, the learning rate and the
            largest stable one. The estimator is then left unfitted.

        Notes
        -----
        Interrupted inside :func:`gradstep.interrupt.graceful`, the estimator holds the
        parameters reached (``result_.status`` 4, ``result_.snapshot``) and no warning is given.
        """
        if _is_dask(X):  # blockwise, through the same loop (gradstep.distributed)
            if any(a is not None for a in (coef_init, intercept_init, sample_weight)):
                raise ValueError("coef_init, intercept_init and sample_weight are not available for Dask arrays")
            from ..distributed import DaskRows

            return self.fit_stream(DaskRows(X, y), callback=callback, checkpoint=checkpoint,
                                   checkpoint_every=checkpoint_every, resume=resume)
        ck = checkpoints.CheckpointFile.of(checkpoint, checkpoint_every, resume)
        penalty = self._check_hyper()
        warm = self.warm_start and hasattr(self, "_theta") and coef_init is None and intercept_init is None
        X, y_raw, Y, w = self._prepare(X, y, reset=not warm, sample_weight=sample_weight)
        # a checkpoint resumes only on the same rows, weights and start; the data are hashed when a
        # checkpoint is written or read, not for a run that never saves one
        description = functools.cache(lambda: fingerprint(X, Y, w, coef_init, intercept_init))
        snapshot = restore(self, ck.path, description()) if ck is not None and ck.resumes() else None
        from .. import faults

        if not warm and snapshot is None:
            faults.check_init(coef_init, intercept_init, self.lr)
            faults.check_data(self, X, Y, penalty)  # overflow (error); scales, constant and dependent columns
            self._start(X, Y, w, penalty, coef_init, intercept_init)
        result = self._descend(X, Y, w, y_raw, epochs=int(self.epochs), tol=self.tol,
                               early_stopping=bool(self.early_stopping), callback=callback,
                               checkpoint=checkpointing(self, ck, description), resume=snapshot)
        self._warn_unconverged(result)
        if result.status != INTERRUPTED:
            faults.check_fit(self, X, Y, w, result)  # separable classes; a tol stop far from the optimum
        return self

    def _decision(self, X: Any) -> Any:
        """:math:`XW + b` in original units, shape (n, k), computed on the compute side and
        returned in the type of ``X``."""
        check_is_fitted(self)
        Xc = self._check_X(X, reset=False)
        xp, dtype = backend.namespace(Xc), float_dtype(Xc)
        coef = xp.reshape(self._placement.put(self.coef_, dtype), (-1, Xc.shape[1]))
        b = self._placement.put(np.atleast_1d(host(self.intercept_)), dtype)
        return Placement.resolve(X, None, None).put(Xc @ coef.T + b)


__all__ = ["GTOL_BATCHES", "GTOL_FULL", "HALF_LIFE", "GradientDescentModel"]
