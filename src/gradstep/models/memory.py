r"""An estimator's fit on rows in memory: the rows checked and encoded, a fresh start, and the descent on them.

:class:`InMemoryFit` is the part of :class:`~gradstep.models.base.GradientDescentModel` that
``fit`` (rows in memory) and ``partial_fit`` run: :meth:`InMemoryFit._prepare` validates ``X``,
encodes the target and normalises the row weights to mean 1 (so that full-batch descent with
weight :math:`k` on a row is descent with the row repeated :math:`k` times);
:meth:`InMemoryFit._start` learns the scaling and ``lr="auto"`` from the rows;
:meth:`InMemoryFit._descend` holds out the validation rows (``early_stopping``) and runs the
loop (:meth:`~gradstep.models.descent.Descent._run`) on the scaled rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import numpy as np
from sklearn.utils.validation import validate_data

from .. import backend, diagnostics
from ..data.batching import Batches
from ..loop import Checkpointing, Result, Snapshot
from ..objectives import Penalty
from ..scaling import FeatureScaling
from .descent import Descent
from .placement import Placement, float_dtype, host


class InMemoryFit(Descent):
    """Fitting on rows in memory (NumPy arrays or torch tensors): ``fit``'s and ``partial_fit``'s steps."""

    def _prepare(self, X: Any, y: Any, reset: bool, classes: Any = None,
                 sample_weight: Any = None) -> tuple[Any, np.ndarray, Any, Any]:
        """``(X, y, Y, w)``: ``X``, the encoded target ``Y`` and the row weights ``w`` on the compute
        side; ``y`` the labels as given, in NumPy (checked and encoded on the host)."""
        if reset:
            self._output = Placement.resolve(X, None, None)  # results come back in the input's type
        Xc = self._check_X(X, reset)
        names = getattr(self, "feature_names_in_", None)  # validating y alone (reset) would delete X's names
        y = validate_data(self, "no_validation", host(y), multi_output=self._multi_output,
                          y_numeric=not self._stratify)
        if names is not None:
            self.feature_names_in_ = names
        if len(y) != Xc.shape[0]:
            raise ValueError(f"X has {Xc.shape[0]} rows but y has {len(y)}; give one target per row")
        y = np.asarray(y)
        dtype = float_dtype(Xc)
        Y = self._encode(y, first=reset, classes=classes).astype(dtype, copy=False)
        w = self._row_weights(y, sample_weight, Xc)
        if w is not None:  # validated: non-negative, not all zero
            # mean 1: full-batch GD with weight k on a row is exactly GD with the row repeated k times
            w = w * (w.shape[0] / float(np.sum(w)))
        return Xc, y, self._placement.put(Y, dtype), self._placement.put(w, dtype)

    def _start(self, X: Any, Y: Any, w: Any, penalty: Penalty, coef_init: Any,
               intercept_init: Any) -> None:
        """A fresh run on rows in memory: the scaling is learnt from ``X``, ``lr="auto"`` from the
        scaled rows (:func:`gradstep.diagnostics.stable_lr`; the per-row bound for per-sample SGD)."""
        scaling = FeatureScaling.fit(self.scale, X, center=bool(self.fit_intercept))

        def stable(per_sample: bool) -> float:
            return diagnostics.stable_lr(scaling.transform(X), self.loss_name, bool(self.fit_intercept),
                                         self._objective_.penalty.l2, Y.shape[1], per_sample=per_sample,
                                         sample_weight=w)

        self._begin(penalty, X.shape[1], Y.shape[1], X.shape[0], float_dtype(X), scaling, stable, coef_init,
                    intercept_init)

    def _descend(self, X: Any, Y: Any, w: Any, y_raw: np.ndarray, *, epochs: int,
                 tol: float | str | None, early_stopping: bool, callback: Callable | None,
                 checkpoint: Checkpointing | None = None, resume: Snapshot | None = None) -> Result:
        """One call of the loop on rows in memory, from the current state (``self._theta``, ...), or from
        ``resume``; ``checkpoint``: the loop's (:func:`gradstep.models.resume.checkpointing`)."""
        validation = None
        if early_stopping:
            from sklearn.model_selection import train_test_split

            # the split of the row indices (drawn on the host), applied on the compute side
            keep, held = train_test_split(np.arange(X.shape[0]), test_size=self.validation_fraction,
                                          random_state=self._seed, stratify=y_raw if self._stratify else None)
            Zv = self.scaling_.transform(backend.index(X, held))
            Yv, wv = (None if a is None else backend.index(a, held) for a in (Y, w))
            X, Y, w = (None if a is None else backend.index(a, keep) for a in (X, Y, w))
            validation = tuple(a for a in (Zv, Yv, wv) if a is not None)
        Z = self.scaling_.transform(X)
        batches = self._batches(Z, Y, w)

        def explain() -> float | None:
            return diagnostics.stable_lr(Z, self.loss_name, bool(self.fit_intercept), self._objective_.penalty.l2,
                                         Y.shape[1], per_sample=batches.size == 1, sample_weight=w)

        return self._run(self._objective_, batches, epochs=epochs, tol=tol, callback=callback,
                         validation=validation, explain=explain,
                         compile=lambda: self._compiled_epochs(batches, callback),
                         epoch_metrics=self._epoch_metrics(batches.data, validation), checkpoint=checkpoint,
                         resume=resume)

    def _batches(self, Z: Any, Y: Any, w: Any) -> Any:
        """How the loop sees the (scaled) training rows: :class:`Batches` by default."""
        return Batches(Z, Y, self.batch_size, bool(self.shuffle), self._seed, w)

    def _epoch_metrics(self, train: tuple, validation: tuple | None) -> Callable[..., dict] | None:
        """What to record after each epoch besides the losses (classifiers: accuracy); None for nothing."""
        return None

    def _partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> Self:
        """One more epoch over ``(X, y)`` (``partial_fit``), continuing the optimiser state, schedule and
        history; the first call starts a fresh run."""
        first = not hasattr(self, "_theta")
        penalty = self._check_hyper()
        X, y_raw, Y, w = self._prepare(X, y, reset=first, classes=classes, sample_weight=sample_weight)
        from .. import faults

        faults.check_overflow(self, X, Y, target=self.loss_name in ("mse", "half_mse", "sum"))
        if first:
            faults.check_init(None, None, self.lr)
            self._start(X, Y, w, penalty, None, None)
        self._descend(X, Y, w, y_raw, epochs=1, tol=None, early_stopping=False, callback=None)
        return self


__all__ = ["InMemoryFit"]
