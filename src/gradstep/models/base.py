r"""What the estimators share: hyper-parameters, validation, and fitting through :func:`gradstep.loop.run`.

A subclass says only what differs: how the target is encoded (:meth:`_encode`),
which objective it minimises (:meth:`_objective`), per-row weights
(:meth:`_row_weights`, e.g. class weights) and how fitted parameters become
``coef_`` / ``intercept_``. ``fit`` runs a fresh descent (or, with
``warm_start``, continues the last one); ``partial_fit`` runs one more epoch
over new rows and continues the optimiser state, the learning-rate schedule
and the history exactly where the previous call left them.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .. import backend, diagnostics
from ..data.batching import Batches, resolve_seed
from ..history import History
from ..loop import (
    DIVERGED,
    DivergenceError,
    EpochRunner,
    Result,
    StepInfo,
    StopRule,
    run,
)
from ..objectives import PENALTIES, Penalty
from ..optim import OPTIMIZERS, GradientTransformation, make_optimizer
from ..scaling import FeatureScaling
from .placement import Placement, check_tensor, is_tensor


class Averager:
    r"""Averaged SGD: the running mean of the iterates once ``start`` rows have been seen.

    :math:`\bar\theta_n = \bar\theta_{n-1} + (\theta_n - \bar\theta_{n-1}) / n` over the
    updates from the one at which ``start`` rows have been seen (scikit-learn's ``average``).
    """

    def __init__(self, start: int) -> None:
        self.start, self.rows, self.count = start, 0, 0
        self.mean: Any = None

    def __call__(self, info: StepInfo) -> None:
        self.rows += info.rows
        if self.rows < self.start:
            return
        self.count += 1
        self.mean = backend.copy(info.params) if self.mean is None else self.mean + (info.params - self.mean) / self.count


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON-friendly values (transforms and schedules by their repr)."""
    return {k: v if v is None or isinstance(v, (bool, int, float, str)) else repr(v) for k, v in params.items()}


class GradientDescentModel(BaseEstimator):
    """Base of gradstep's estimators (see the subclasses for the parameters' meaning)."""

    _loss_name = "mse"          # for the stable-learning-rate explanation (diagnostics.stable_lr)
    _stratify = False           # classifiers split validation rows by class

    def __init__(
        self,
        *,
        fit_intercept: bool = True,
        optimizer: str | GradientTransformation = "sgd",
        lr: Any = "auto",
        optimizer_params: Mapping[str, Any] | None = None,
        epochs: int = 1000,
        batch_size: int | None = None,
        shuffle: bool = True,
        random_state: Any = None,
        penalty: str | None = None,
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        scale: str | None = None,
        tol: float | None = 1e-3,
        n_iter_no_change: int = 5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        average: bool | int = False,
        warm_start: bool = False,
        record_params: bool = True,
        backend: str | None = None,
        device: Any = None,
    ) -> None:
        self.fit_intercept = fit_intercept
        self.optimizer = optimizer
        self.lr = lr
        self.optimizer_params = optimizer_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.scale = scale
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.average = average
        self.warm_start = warm_start
        self.record_params = record_params
        self.backend = backend
        self.device = device

    # ------------------------------------------------------------------ what subclasses provide
    def _encode(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        """The target as a 2-D float array ``Y`` for the objective (learning ``classes_`` when ``first``)."""
        raise NotImplementedError

    def _objective(self, n_features: int, n_outputs: int, penalty: Penalty) -> Any:
        raise NotImplementedError

    def _row_weights(self, y: np.ndarray, sample_weight: Any, X: Any) -> np.ndarray | None:
        """Per-row weights for the loss as a NumPy array (None when all are 1)."""
        if sample_weight is None:
            return None
        return _check_sample_weight(_host(sample_weight), X, dtype=_float_dtype(X), ensure_non_negative=True)

    def _store(self, W: np.ndarray, b: np.ndarray | None) -> None:
        """Set ``coef_`` and ``intercept_`` from ``W`` (d, k) and ``b`` (k,) in original units."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checks
    def _check_hyper(self) -> Penalty:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, numbers.Integral) or self.epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {self.epochs!r}")
        if isinstance(self.optimizer, str) and self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or a gradstep.optim transform, "
                             f"got {self.optimizer!r}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {self.penalty!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if not isinstance(self.average, bool) and (not isinstance(self.average, numbers.Integral) or self.average < 1):
            raise ValueError(f"average must be a bool or an int >= 1 (rows seen before averaging), got {self.average!r}")
        kind = None if self.penalty == "none" else self.penalty
        return Penalty(kind, float(self.alpha), float(self.l1_ratio))

    def _param_names(self, d: int, k: int) -> list[str]:
        feats = [str(f) for f in getattr(self, "feature_names_in_", [f"x{i}" for i in range(d)])]
        if k == 1:
            return [f"w[{f}]" for f in feats] + (["b"] if self.fit_intercept else [])
        names = [f"w[{f},{j}]" for f in feats for j in range(k)]
        return names + ([f"b[{j}]" for j in range(k)] if self.fit_intercept else [])

    def _initial_params(self, obj: Any, dtype: Any, coef_init: Any, intercept_init: Any) -> Any:
        d, k = obj.n_features, obj.n_outputs
        W = np.zeros((d, k), dtype=dtype)
        if coef_init is not None:
            c = np.asarray(_host(coef_init), dtype=dtype)
            if c.size != d * k:
                want = f"({d},)" if k == 1 else f"({k}, {d})"
                raise ValueError(f"coef_init has shape {c.shape}; it must have shape {want} (n_targets, n_features)")
            W = c.reshape(k, d).T.copy()
        b = np.zeros(k, dtype=dtype)
        if intercept_init is not None:
            if not self.fit_intercept:
                raise ValueError("intercept_init was given but fit_intercept=False")
            i = np.asarray(_host(intercept_init), dtype=dtype).reshape(-1)
            if i.size != k:
                raise ValueError(f"intercept_init has {i.size} values; it must have {k} (one per output)")
            b = i
        W, b = self._placement.put(W), self._placement.put(b)
        return obj.pack(*self.scaling_.to_scaled(W, b if self.fit_intercept else None))

    # ------------------------------------------------------------------ fitting
    def _check_X(self, X: Any, reset: bool) -> Any:
        """``X`` validated (float32 or float64) and on the compute side, as :attr:`_placement` says.

        NumPy-like input goes through scikit-learn's ``validate_data``; a tensor is
        checked where it lives (:func:`~gradstep.models.placement.check_tensor`).
        """
        if reset:
            self._placement = Placement.resolve(X, self.backend, self.device)
        if not is_tensor(X):
            return self._placement.put(validate_data(self, X, reset=reset, dtype=[np.float64, np.float32]))
        X = check_tensor(X)
        if reset:
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input.")
        return self._placement.put(X)

    def _prepare(self, X: Any, y: Any, reset: bool, classes: Any = None, sample_weight: Any = None):
        """``(X, y, Y, w)``: ``X``, the encoded target ``Y`` and the row weights ``w`` on the compute
        side; ``y`` the labels as given, in NumPy (checked and encoded on the host)."""
        if reset:
            self._output = Placement.resolve(X, None, None)  # results come back in the input's type
        Xc = self._check_X(X, reset)
        y = validate_data(self, "no_validation", _host(y), multi_output=self._multi_output,
                          y_numeric=not self._stratify)
        if len(y) != Xc.shape[0]:
            raise ValueError(f"X has {Xc.shape[0]} rows but y has {len(y)}; give one target per row")
        y = np.asarray(y)
        dtype = _float_dtype(Xc)
        Y = self._encode(y, first=reset, classes=classes).astype(dtype, copy=False)
        w = self._row_weights(y, sample_weight, Xc)
        if w is not None:  # validated: non-negative, not all zero
            # mean 1: full-batch GD with weight k on a row is exactly GD with the row repeated k times
            w = w * (w.shape[0] / float(np.sum(w)))
        return Xc, y, self._placement.put(Y, dtype), self._placement.put(w, dtype)

    def _descend(self, X: Any, Y: Any, w: Any, y_raw: np.ndarray, *, epochs: int,
                 tol: float | None, early_stopping: bool, callback: Callable | None) -> Result:
        """One call of the loop from the current state (``self._theta``, ``self._state``, ``self.history_``)."""
        validation = None
        if early_stopping:
            from sklearn.model_selection import train_test_split

            # the split of the row indices (drawn on the host), applied on the compute side
            keep, held = train_test_split(np.arange(X.shape[0]), test_size=self.validation_fraction,
                                          random_state=self._seed, stratify=y_raw if self._stratify else None)
            Xv, Yv, wv = (None if a is None else backend.index(a, held) for a in (X, Y, w))
            X, Y, w = (None if a is None else backend.index(a, keep) for a in (X, Y, w))
            validation = tuple(a for a in (self.scaling_.transform(Xv), Yv, wv) if a is not None)
        Z = self.scaling_.transform(X)
        batches = self._batches(Z, Y, w)
        stop = StopRule(max_epochs=epochs, tol=tol, n_iter_no_change=self.n_iter_no_change)
        transform = self._make_transform()  # built (and its settings checked) before any fast path looks at them
        compiled = self._compiled_epochs(batches, callback)
        self.history_.meta["compiled"] = compiled is not None
        callbacks = [c for c in (self._averager, callback) if c is not None and compiled is None]

        def both(info: StepInfo) -> None:
            for c in callbacks:
                c(info)

        def explain() -> float | None:
            return diagnostics.stable_lr(Z, self._loss_name, bool(self.fit_intercept), self._objective_.penalty.l2,
                                         Y.shape[1], per_sample=batches.size == 1, sample_weight=w)

        result = run(self._objective_, self._theta, transform, batches, stop, history=self.history_,
                     state=self._state, callback=both if callbacks else None, stable_lr=explain,
                     validation=validation, start_epoch=self._epochs_done,
                     epoch_metrics=self._epoch_metrics(batches.data, validation), epoch_runner=compiled)
        if result.status == DIVERGED:
            raise DivergenceError(result.message, self.history_.n_steps, self.history_.lr[-1] if self.history_.n_steps
                                  else np.nan, result.fun, self.history_.meta.get("stable_lr"), self.history_)
        self._theta, self._state = result.x, result.state
        self._epochs_done += result.nepoch
        theta = self._averager.mean if self._averager is not None and self._averager.mean is not None else result.x
        W, b = self.scaling_.to_original(*self._objective_.unpack(theta))
        self._store(self._output.put(W), self._output.put(b))
        self.n_iter_ = result.nepoch
        self.t_ = self.history_.n_steps
        self.result_ = result
        return result

    def _compiled_epochs(self, batches: Any, callback: Callable | None) -> EpochRunner | None:
        """The compiled epochs of :mod:`gradstep.kernels.loops` when they can run this fit (mini-batches
        of NumPy rows, a named optimiser, no callback; averaging included), else None: the plain loop."""
        if callback is not None or not isinstance(batches, Batches) or batches.full_batch:
            return None
        if not isinstance(self.optimizer, str) or not isinstance(batches.X, np.ndarray):
            return None
        from ..kernels import loops

        return loops.epoch_runner(self._objective_, batches, self.optimizer, self.lr_, self.optimizer_params,
                                  self.clip_value, self.clip_norm, self._state, averager=self._averager)

    def _batches(self, Z: Any, Y: Any, w: Any) -> Any:
        """How the loop sees the (scaled) training rows: :class:`Batches` by default."""
        return Batches(Z, Y, self.batch_size, bool(self.shuffle), self._seed, w)

    def _epoch_metrics(self, train: tuple, validation: tuple | None) -> Callable[[np.ndarray], dict] | None:
        """What to record after each epoch besides the losses (classifiers: accuracy); None for nothing."""
        return None

    def _make_transform(self) -> GradientTransformation:
        """The optimiser chain, rebuilt from the hyper-parameters (its closures are not stored, so a
        fitted estimator pickles; its state is)."""
        return make_optimizer(self.optimizer, self.lr_, self.optimizer_params, self.clip_value, self.clip_norm)

    def _auto_lr(self, Z: Any, k: int, w: Any) -> float | None:
        """``lr="auto"``: half the largest stable learning rate, :math:`1/L`, for the plain and momentum
        steps (the per-row bound for per-sample SGD; row weights included); ``None`` (the
        optimiser's torch default) for the adaptive ones, whose steps are not in units of the gradient."""
        if isinstance(self.optimizer, str) and self.optimizer.lower() in ("adagrad", "rmsprop", "adam"):
            return None
        return 0.5 * diagnostics.stable_lr(Z, self._loss_name, bool(self.fit_intercept), self._objective_.penalty.l2,
                                           k, per_sample=self.batch_size == 1, sample_weight=w)

    def _start(self, X: Any, Y: Any, w: Any, penalty: Penalty, coef_init: Any,
               intercept_init: Any) -> None:
        """A fresh run: objective, scaling, learning rate, optimiser state, history."""
        self._seed = resolve_seed(self.random_state)
        self._objective_ = self._objective(X.shape[1], Y.shape[1], penalty)
        self.scaling_ = FeatureScaling.fit(self.scale, X, center=bool(self.fit_intercept))
        auto = isinstance(self.lr, str) and self.lr == "auto"
        if isinstance(self.lr, str) and not auto:
            raise ValueError(f"lr must be a number, a schedule or 'auto', got {self.lr!r}")
        self.lr_ = self._auto_lr(self.scaling_.transform(X), Y.shape[1], w) if auto else self.lr
        self._theta = self._initial_params(self._objective_, _float_dtype(X), coef_init, intercept_init)
        self._state = self._make_transform().init(self._theta)
        self._epochs_done = 0
        start = int(self.average) if not isinstance(self.average, bool) else (1 if self.average else 0)
        self._averager = Averager(start) if start else None
        self.history_ = History(
            record_params=self.record_params, param_names=self._param_names(X.shape[1], Y.shape[1]),
            meta={"model": type(self).__name__, "params": _plain(self.get_params()), "seed": self._seed,
                  "backend": self._placement.describe(),
                  "n_samples": X.shape[0], "scale": self.scaling_.kind,
                  "lr": self.lr_ if isinstance(self.lr_, (int, float)) or self.lr_ is None else repr(self.lr_)},
        )

    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None, sample_weight: Any = None,
            callback: Callable[[StepInfo], Any] | None = None) -> GradientDescentModel:
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

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            When the loss explodes; the message names the step, the learning rate and the
            largest stable one. The estimator is then left unfitted.
        """
        penalty = self._check_hyper()
        warm = self.warm_start and hasattr(self, "_theta") and coef_init is None and intercept_init is None
        X, y_raw, Y, w = self._prepare(X, y, reset=not warm, sample_weight=sample_weight)
        if not warm:
            self._start(X, Y, w, penalty, coef_init, intercept_init)
        result = self._descend(X, Y, w, y_raw, epochs=int(self.epochs), tol=self.tol,
                               early_stopping=bool(self.early_stopping), callback=callback)
        if not result.success:
            warnings.warn(f"{result.message} (epochs={self.epochs}, tol={self.tol}); raise epochs or lr, "
                          "or scale the features", ConvergenceWarning, stacklevel=2)
        return self

    def _partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> GradientDescentModel:
        first = not hasattr(self, "_theta")
        penalty = self._check_hyper()
        X, y_raw, Y, w = self._prepare(X, y, reset=first, classes=classes, sample_weight=sample_weight)
        if first:
            self._start(X, Y, w, penalty, None, None)
        self._descend(X, Y, w, y_raw, epochs=1, tol=None, early_stopping=False, callback=None)
        return self

    # ------------------------------------------------------------------ diagnostics
    def _fit_space(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(Z, Y)``: validated data in the units gradient descent ran in, the target encoded, as
        NumPy float64 (diagnostics are computed on the host, in double precision)."""
        check_is_fitted(self)
        Z = _host(self.scaling_.transform(self._check_X(X, reset=False))).astype(np.float64)
        return Z, self._encode(np.asarray(_host(y)), first=False).astype(np.float64)

    def loss_value(self, X: Any, y: Any) -> float:
        """The objective (loss plus penalty) of the fitted parameters on ``(X, y)``."""
        Z, Y = self._fit_space(X, y)
        return self._objective_.value(_host(self._theta).astype(np.float64), (Z, Y))

    def _decision(self, X: Any) -> Any:
        """:math:`XW + b` in original units, shape (n, k), computed on the compute side and
        returned in the type of ``X``."""
        check_is_fitted(self)
        Xc = self._check_X(X, reset=False)
        xp, dtype = backend.namespace(Xc), _float_dtype(Xc)
        coef = xp.reshape(self._placement.put(self.coef_, dtype), (-1, Xc.shape[1]))
        b = self._placement.put(np.atleast_1d(_host(self.intercept_)), dtype)
        return Placement.resolve(X, None, None).put(Xc @ coef.T + b)


def _host(a: Any) -> Any:
    """A tensor as a NumPy array; anything else (lists, DataFrames, None) as it is."""
    return backend.to_numpy(a) if is_tensor(a) else a


def _float_dtype(X: Any) -> np.dtype:
    """The NumPy dtype matching ``X``'s floating dtype (NumPy or torch): float32 or float64."""
    return np.dtype(np.float32) if str(X.dtype).rsplit(".", 1)[-1] == "float32" else np.dtype(np.float64)
