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

import functools
import numbers
import os
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .. import backend, diagnostics
from .. import checkpoint as checkpoints
from ..data.batching import Batches, resolve_seed
from ..history import History
from ..loop import (
    DIVERGED,
    INTERRUPTED,
    MAX_ITER,
    Checkpointing,
    DivergenceError,
    EpochRunner,
    EpochSteps,
    Result,
    Snapshot,
    StepInfo,
    StopRule,
    every_step,
    limit_reached,
    run,
)
from ..objectives import PENALTIES, Penalty
from ..optim import OPTIMIZERS, GradientTransformation, make_optimizer
from ..optim.schedules import inverse_epochs
from ..scaling import FeatureScaling
from .placement import Placement, check_tensor, is_tensor

if TYPE_CHECKING:
    from ..kernels.loops import CompiledEpochs, RunningMean


GTOL_FULL = 1e-5
"""``gtol="auto"`` for full batches: the gradient norm at most 1e-5 of its first value (on standardised data
the objective is then within about 1e-7 of its minimum, relative: ``benchmarks/defaults.py``)."""

HALF_LIFE = 10.0
"""Epochs until the mini-batch step of ``lr="auto"`` is halved (longer with an L2 penalty: :meth:`_auto_lr`)."""

GTOL_BATCHES = 2e-4
"""``gtol="auto"`` for mini-batches: the gradient over all the rows, at the end of an epoch, at most 2e-4
of its norm at the start."""


class Averager:
    r"""Averaged SGD: the running mean of the iterates once ``start`` rows have been seen.

    :math:`\bar\theta_n = \bar\theta_{n-1} + (\theta_n - \bar\theta_{n-1}) / n` over the
    updates from the one at which ``start`` rows have been seen (scikit-learn's ``average``).
    The plain loop calls it after each update; compiled epochs count in the kernel and hand back
    what they counted (:meth:`around`).
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

    def running_mean(self) -> RunningMean:
        """Where the mean stands, as the compiled epochs take it."""
        from ..kernels.loops import RunningMean

        return RunningMean(self.start, self.rows, self.count, self.mean)

    def around(self, runner: CompiledEpochs) -> EpochRunner:
        """The epoch runner ``runner`` with this mean carried through its calls: each call continues it
        from here (:meth:`~gradstep.kernels.loops.CompiledEpochs.run`) and it takes what the call counted."""
        return _AveragedEpochs(runner, self)


class _AveragedEpochs:
    """An epoch runner (:class:`gradstep.loop.EpochRunner`): compiled epochs that advance an :class:`Averager`."""

    def __init__(self, runner: CompiledEpochs, averager: Averager) -> None:
        self.runner, self.averager = runner, averager

    def __call__(self, params: Any, state: Any, epoch: int, *, start: int = 0, max_steps: int | None = None,
                 gtol: float | None = None, record_params: Any = True) -> EpochSteps:
        a = self.averager
        steps, counted = self.runner.run(params, state, epoch, start=start, max_steps=max_steps, gtol=gtol,
                                         record_params=record_params, average=a.running_mean())
        if counted is not None:
            a.rows, a.count, a.mean = counted.rows, counted.averaged, counted.mean
        return steps


FINGERPRINT_PIECE = 1 << 24
"""Bytes hashed per piece by :func:`_fingerprint` (the pieces' digests are hashed in turn)."""


def _fingerprint(*arrays: Any) -> str:
    """What identifies in-memory training data (and a given start) in a checkpoint: shapes, dtypes and a
    SHA-256 hash tree of the bytes (pieces of :data:`FINGERPRINT_PIECE` bytes hashed on every core, read in
    place: one pass over the data, far cheaper than the fit)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    h, parts = hashlib.sha256(), []
    with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:  # hashlib lets go of the GIL on large buffers
        for a in arrays:
            if a is None:
                parts.append("-")
                continue
            arr = np.ascontiguousarray(backend.to_numpy(a) if not isinstance(a, (int, float)) else np.asarray(a))
            h.update(str((arr.shape, arr.dtype.str)).encode())
            data = memoryview(arr).cast("B")   # no copy of the data (tobytes would make one)
            pieces = [data[i:i + FINGERPRINT_PIECE] for i in range(0, len(data), FINGERPRINT_PIECE)]
            for digest in pool.map(lambda piece: hashlib.sha256(piece).digest(), pieces):
                h.update(digest)
            parts.append("x".join(map(str, arr.shape)) or "scalar")
    return f"rows in memory ({', '.join(parts)}; digest {h.hexdigest()})"


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
        optimizer: str | GradientTransformation = "auto",
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
        tol: float | str | None = "auto",
        n_iter_no_change: int = 5,
        gtol: float | str | None = "auto",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        average: bool | int = False,
        warm_start: bool = False,
        record_params: bool | int | str = "thinned",
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
        self.gtol = gtol
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
        if isinstance(self.optimizer, str) and self.optimizer.lower() not in (*OPTIMIZERS, "auto"):
            raise ValueError(f"optimizer must be 'auto', one of {sorted(OPTIMIZERS)} or a gradstep.optim transform, "
                             f"got {self.optimizer!r}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {self.penalty!r}")
        for name in ("tol", "gtol"):
            v = getattr(self, name)
            if isinstance(v, str) and v != "auto":
                raise ValueError(f"{name} must be a number, None or 'auto', got {v!r}")
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
            return self._placement.put(validate_data(self, X, reset=reset, dtype=[np.float64, np.float32], order="C"))
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
        names = getattr(self, "feature_names_in_", None)  # validating y alone (reset) would delete X's names
        y = validate_data(self, "no_validation", _host(y), multi_output=self._multi_output,
                          y_numeric=not self._stratify)
        if names is not None:
            self.feature_names_in_ = names
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
                 tol: float | str | None, early_stopping: bool, callback: Callable | None,
                 checkpoint: Checkpointing | None = None, resume: Snapshot | None = None) -> Result:
        """One call of the loop on rows in memory, from the current state (``self._theta``, ...), or from
        ``resume``; ``checkpoint``: the loop's (:meth:`_checkpointing`)."""
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

        def explain() -> float | None:
            return diagnostics.stable_lr(Z, self._loss_name, bool(self.fit_intercept), self._objective_.penalty.l2,
                                         Y.shape[1], per_sample=batches.size == 1, sample_weight=w)

        return self._run(self._objective_, batches, epochs=epochs, tol=tol, callback=callback,
                         validation=validation, explain=explain,
                         compile=lambda: self._compiled_epochs(batches, callback),
                         epoch_metrics=self._epoch_metrics(batches.data, validation), checkpoint=checkpoint,
                         resume=resume)

    def _run(self, objective: Any, batches: Any, *, epochs: int, tol: float | str | None, callback: Callable | None,
             validation: tuple | None, explain: Callable[[], float | None],
             compile: Callable[[], EpochRunner | None], epoch_metrics: Callable | None = None,
             checkpoint: Checkpointing | None = None, resume: Snapshot | None = None) -> Result:
        """The loop on ``batches`` from the current state; the fitted attributes from its result."""
        self.tol_, self.gtol_ = self._rules(tol, validation is not None)
        stop = StopRule(max_epochs=epochs, tol=self.tol_, n_iter_no_change=self.n_iter_no_change,
                        rgtol=self.gtol_)
        transform = self._make_transform()  # built (and its settings checked) before any fast path looks at them
        compiled = compile()
        self.history_.meta["compiled"] = compiled is not None
        # compiled epochs average inside the kernel and tell a progress callback between their pieces
        callbacks = [c for c in (self._averager, callback) if c is not None and (compiled is None or c is callback)]

        def both(info: StepInfo) -> None:
            for c in callbacks:
                c(info)

        both.every_step = any(every_step(c) for c in callbacks)  # type: ignore[attr-defined]

        result = run(objective, self._theta, transform, batches, stop, history=self.history_,
                     state=self._state, callback=both if callbacks else None, stable_lr=explain,
                     validation=validation, start_epoch=self._epochs_done,
                     epoch_metrics=epoch_metrics, epoch_runner=compiled, checkpoint=checkpoint, resume=resume)
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

    def _rules(self, tol: float | str | None, validating: bool) -> tuple[float | None, float | None]:
        """The ``tol`` and ``gtol`` in force: ``"auto"`` is the gradient rule (``gtol`` :data:`GTOL_FULL`
        for full batches, :data:`GTOL_BATCHES` on the gradient over all the rows at each epoch's end for
        mini-batches), the loss rule only on a validation loss (``tol`` 1e-3 with ``early_stopping``):
        the loss improving slowly is no sign of an optimum near. ``tol=None`` with ``gtol="auto"`` runs
        every epoch asked for (``partial_fit``'s one epoch too)."""
        gtol = self.gtol
        if isinstance(gtol, str):   # tol=None asks for every epoch (scikit-learn's way): no rule then
            gtol = None if tol is None else GTOL_FULL if self._full_batch else GTOL_BATCHES
        if isinstance(tol, str):
            tol = 1e-3 if validating else None
        return tol, gtol

    def _compiled_epochs(self, batches: Any, callback: Callable | None, block: bool = False) -> EpochRunner | None:
        """The compiled epochs of :mod:`gradstep.kernels.loops` when they can run this fit (mini-batches
        of NumPy rows, a named optimiser, no callback; averaging included), else None: the plain loop."""
        if (callback is not None and every_step(callback)) or not isinstance(batches, Batches) or (
                batches.full_batch and not block):
            return None
        if not isinstance(self.optimizer, str) or not isinstance(batches.X, np.ndarray):
            return None
        from ..kernels import loops

        averager = self._averager
        runner = loops.epoch_runner(self._objective_, batches, self.optimizer_, self.lr_, self.optimizer_params,
                                    self.clip_value, self.clip_norm, self._state, block=block,
                                    average=None if averager is None else averager.running_mean())
        return runner if runner is None or averager is None else averager.around(runner)

    def _batches(self, Z: Any, Y: Any, w: Any) -> Any:
        """How the loop sees the (scaled) training rows: :class:`Batches` by default."""
        return Batches(Z, Y, self.batch_size, bool(self.shuffle), self._seed, w)

    def _epoch_metrics(self, train: tuple, validation: tuple | None) -> Callable[..., dict] | None:
        """What to record after each epoch besides the losses (classifiers: accuracy); None for nothing."""
        return None

    def _make_transform(self) -> GradientTransformation:
        """The optimiser chain, rebuilt from the hyper-parameters (its closures are not stored, so a
        fitted estimator pickles; its state is)."""
        obj = self._objective_
        W, b = obj.unpack(self._theta)
        xp = backend.namespace(W)
        mask = obj.pack(xp.ones_like(W), None if b is None else xp.zeros_like(b))
        return make_optimizer(self.optimizer_, self.lr_, self.optimizer_params, self.clip_value, self.clip_norm,
                              l1=obj.penalty.l1, mask=mask, cumulative=not self._full_batch)

    def _auto_lr(self, stable: Callable[[bool], float], n: int) -> Any:
        r"""``lr="auto"``: :math:`1/L` for full batches; for batches of :math:`B` rows, the step
        :math:`\eta_0 = 1/\mathcal L_B` of the batch gradient's expected smoothness (Gower et al., 2019),

        .. math:: \mathcal L_B = \frac{n - B}{B(n - 1)} L_{max} + \frac{n (B - 1)}{B (n - 1)} L

        (:math:`L_{max}` the largest one-row curvature: the noise of small batches), decayed with the
        epochs, :math:`\eta_0 / (1 + k/h)` (:class:`~gradstep.optim.schedules.inverse_epochs`), so that the
        steps reach the optimum instead of a noise ball around it. The half-life :math:`h` is
        :data:`HALF_LIFE` epochs, or :math:`4 / (\lambda_2 \eta_0 s)` (:math:`s` steps per epoch) when
        an L2 part :math:`\lambda_2` makes that longer: the decay must not outrun the contraction
        :math:`(1 - \eta\lambda_2)^s` of an epoch (measured: 2 left the softmax fits of
        ``benchmarks/defaults.py`` 4e-4 above the optimum after 1000 epochs, 4 and 8 about 5e-5). ``None`` (torch's default) for the adaptive optimisers."""
        if self._adaptive():
            return None
        if self._full_batch:
            return 0.5 * stable(False)
        B = int(self.batch_size)
        L_max = 2.0 / stable(True)
        L = L_max if B == 1 else 2.0 / stable(False)
        L_B = ((n - B) * L_max + n * (B - 1) * L) / (B * (n - 1)) if n > 1 else L_max
        eta, steps = 1.0 / L_B, -(-n // B)
        mu = self._objective_.penalty.l2
        half_life = max(HALF_LIFE, 4.0 / (mu * eta * steps)) if mu > 0 else HALF_LIFE
        return inverse_epochs(eta, steps, half_life)

    def _resolve_optimizer(self, full_batch: bool) -> str | GradientTransformation:
        """``optimizer="auto"``: FISTA for full batches with ``lr="auto"`` (its step 1/L is known), else
        the plain step (``"sgd"``), whose meaning an explicit learning rate keeps exactly."""
        if not (isinstance(self.optimizer, str) and self.optimizer.lower() == "auto"):
            return self.optimizer
        lr_auto = isinstance(self.lr, str) and self.lr == "auto"
        return "fista" if full_batch and lr_auto and not self.optimizer_params else "sgd"

    def _adaptive(self) -> bool:
        """AdaGrad, RMSProp and Adam: their steps are not in units of the gradient (no ``lr="auto"`` bound)."""
        return isinstance(self.optimizer, str) and self.optimizer.lower() in ("adagrad", "rmsprop", "adam")

    def _start(self, X: Any, Y: Any, w: Any, penalty: Penalty, coef_init: Any,
               intercept_init: Any) -> None:
        """A fresh run on rows in memory: the scaling is learnt from ``X``, ``lr="auto"`` from the
        scaled rows (:func:`gradstep.diagnostics.stable_lr`; the per-row bound for per-sample SGD)."""
        scaling = FeatureScaling.fit(self.scale, X, center=bool(self.fit_intercept))

        def stable(per_sample: bool) -> float:
            return diagnostics.stable_lr(scaling.transform(X), self._loss_name, bool(self.fit_intercept),
                                         self._objective_.penalty.l2, Y.shape[1], per_sample=per_sample,
                                         sample_weight=w)

        self._begin(penalty, X.shape[1], Y.shape[1], X.shape[0], _float_dtype(X), scaling, stable, coef_init,
                    intercept_init)

    def _begin(self, penalty: Penalty, d: int, k: int, n: int, dtype: np.dtype, scaling: FeatureScaling,
               stable: Callable[[bool], float], coef_init: Any, intercept_init: Any) -> None:
        """A fresh run: objective, scaling, learning rate, optimiser state, history.

        ``lr="auto"``: :meth:`_auto_lr` (``stable(per_sample)`` the largest stable learning rate, full batch or one row).
        plain and momentum steps; ``None`` (the optimiser's torch default) for the adaptive ones.
        """
        self._seed = resolve_seed(self.random_state)
        self._objective_ = self._objective(d, k, penalty)
        self.scaling_ = scaling
        auto = isinstance(self.lr, str) and self.lr == "auto"
        if isinstance(self.lr, str) and not auto:
            raise ValueError(f"lr must be a number, a schedule or 'auto', got {self.lr!r}")
        self._full_batch = self.batch_size is None or self.batch_size >= n
        self.optimizer_ = self._resolve_optimizer(self._full_batch)
        self.lr_ = self._auto_lr(stable, n) if auto else self.lr
        self._theta = self._initial_params(self._objective_, dtype, coef_init, intercept_init)
        self._state = self._make_transform().init(self._theta)
        self._epochs_done = 0
        start = int(self.average) if not isinstance(self.average, bool) else (1 if self.average else 0)
        self._averager = Averager(start) if start else None
        self.history_ = History(
            record_params=self.record_params, param_names=self._param_names(d, k),
            meta={"model": type(self).__name__, "params": _plain(self.get_params()), "seed": self._seed,
                  "optimizer": self.optimizer_ if isinstance(self.optimizer_, str) else "transform",
                  "backend": self._placement.describe(),
                  "n_samples": n, "scale": self.scaling_.kind,
                  "lr": self.lr_ if isinstance(self.lr_, (int, float)) or self.lr_ is None else repr(self.lr_)},
        )
        if scaling.active:   # the parameters are recorded in the scaled units: what maps them back (x - c) / s
            self.history_.meta["scaling"] = {
                "center": np.asarray(backend.to_numpy(scaling.center), dtype=np.float64).tolist(),
                "scale": np.asarray(backend.to_numpy(scaling.scale), dtype=np.float64).tolist()}

    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None, sample_weight: Any = None,
            callback: Callable[[StepInfo], Any] | None = None, *, checkpoint: str | os.PathLike | None = None,
            checkpoint_every: int = 1000, resume: bool = False) -> GradientDescentModel:
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
        description = functools.cache(lambda: _fingerprint(X, Y, w, coef_init, intercept_init))
        snapshot = self._restore(ck.path, description()) if ck is not None and ck.resumes() else None
        from .. import faults

        if not warm and snapshot is None:
            faults.check_init(coef_init, intercept_init, self.lr)
            faults.check_data(self, X, Y, penalty)  # overflow (error); scales, constant and dependent columns
            self._start(X, Y, w, penalty, coef_init, intercept_init)
        result = self._descend(X, Y, w, y_raw, epochs=int(self.epochs), tol=self.tol,
                               early_stopping=bool(self.early_stopping), callback=callback,
                               checkpoint=self._checkpointing(ck, description), resume=snapshot)
        self._warn_unconverged(result)
        if result.status != INTERRUPTED:
            faults.check_fit(self, X, Y, w, result)  # separable classes; a tol stop far from the optimum
        return self

    def _warn_unconverged(self, result: Result) -> None:
        """scikit-learn's convention: a ``ConvergenceWarning`` when the epochs ran out while a convergence
        rule (``tol``, ``gtol``) was on, naming what to change; a run with every rule off did what it was asked."""
        if result.status == MAX_ITER and (self.tol_ is not None or self.gtol_ is not None):
            # the loop's facts (its rgtol is the estimators' gtol), then the estimator's own advice
            said = limit_reached(f"{result.nepoch} epochs", result.unmet).replace("rgtol", "gtol")
            warnings.warn(f"{type(self).__name__} did not converge: {said}; {self._advice()}", ConvergenceWarning,
                          stacklevel=3)

    def _advice(self) -> str:
        """What to change when the epochs ran out before the rules in force were met."""
        rules = ", ".join(f"{name}={value:g}" for name, value in (("tol", self.tol_), ("gtol", self.gtol_))
                          if value is not None)
        steps = [f"raise epochs (now {self.epochs})"]
        if self.scale is None:
            steps.append("scale the features (scale='standard') if they are not standardised")
        if not self._full_batch:
            steps.append("use larger batches (batch_size: less noisy steps)")
        elif not (isinstance(self.lr, str) and self.lr == "auto"):
            steps.append("leave lr='auto' (FISTA at 1/L)")
        return f"{', '.join(steps)}, or loosen the rule ({rules}; None turns it off)"

    def _partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> GradientDescentModel:
        first = not hasattr(self, "_theta")
        penalty = self._check_hyper()
        X, y_raw, Y, w = self._prepare(X, y, reset=first, classes=classes, sample_weight=sample_weight)
        from .. import faults

        faults.check_overflow(self, X, Y, target=self._loss_name in ("mse", "half_mse", "sum"))
        if first:
            faults.check_init(None, None, self.lr)
            self._start(X, Y, w, penalty, None, None)
        self._descend(X, Y, w, y_raw, epochs=1, tol=None, early_stopping=False, callback=None)
        return self

    # ------------------------------------------------------------------ rows that do not fit in memory
    def fit_stream(self, source: Any, target: str | None = None, features: Any = None, *,
                   sample_weight: str | None = None, chunk_rows: int | None = None, buffer_rows: int | None = None,
                   callback: Callable[[StepInfo], Any] | None = None, checkpoint: str | os.PathLike | None = None,
                   checkpoint_every: int = 1000, resume: bool = False) -> GradientDescentModel:
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
        descent, for every step.

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

        source = _open_stream(source, target, features, sample_weight, chunk_rows)
        penalty = self._check_hyper()
        self._check_streamable()
        ck = checkpoints.CheckpointFile.of(checkpoint, checkpoint_every, resume)
        column = _weight_column(source, sample_weight)
        buffer_rows = buffer_rows or BUFFER_ROWS
        # what the batches depend on besides the settings: a checkpoint resumes only on the same
        description = (f"{getattr(source, 'description', type(source).__name__)} (shuffle buffer {buffer_rows} rows"
                       + (f", sample weights {sample_weight!r})" if sample_weight is not None else ")"))
        snapshot = None
        if ck is not None and ck.resumes():
            snapshot = self._restore(ck.path, description)
        else:
            self._start_stream(source, penalty, column)
        train, validation = self._stream_split(source)
        batches = self._stream_batches(train, buffer_rows)
        per_sample = batches.size == 1

        def explain() -> float | None:
            from . import streaming

            units = self._stream_units
            return streaming.stable_lr(units.stats(self._summary), units.max_row_sq(self._summary),
                                       units.max_weight(self._summary), self._loss_name, bool(self.fit_intercept),
                                       self._objective_.penalty.l2, self._objective_.n_outputs, per_sample)

        from ..objectives import ChunkedObjective

        result = self._run(ChunkedObjective(self._objective_), batches, epochs=int(self.epochs), tol=self.tol,
                           callback=callback, validation=validation, explain=explain,
                           compile=lambda: self._compiled_stream(batches, callback),
                           checkpoint=self._checkpointing(ck, description), resume=snapshot)
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
        from .stream_units import StreamUnits

        split = RowSplit(resolve_seed(self.random_state), float(self.validation_fraction)) \
            if self.early_stopping else None
        found = streaming.summarise(source, bool(self.fit_intercept), labels=self._stratify, weight_column=column,
                                    split=split)
        summary, held = found if split is not None else (found, None)
        every = summary + held if held is not None else summary   # scaling and weights: from all rows, as in memory
        self._placement = self._output = Placement.resolve(np.zeros((1, 1)), None, None)
        names = [n for i, n in enumerate(source.feature_names) if i != column]
        self.n_features_in_ = d = len(names)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        k = self._encode(every.labels if self._stratify else np.zeros(1), first=True).shape[1]
        units = StreamUnits.of(every, self.scale, bool(self.fit_intercept), getattr(self, "class_weight", None),
                               weighted=column is not None)
        self._summary, self._held_summary, self._split, self._weight_column = summary, held, split, column
        self._stream_units = units

        def stable(per_sample: bool) -> float:
            return streaming.stable_lr(units.stats(every), units.max_row_sq(every), units.max_weight(every),
                                       self._loss_name, bool(self.fit_intercept), self._objective_.penalty.l2, k,
                                       per_sample=per_sample)

        self._begin(penalty, d, k, every.n_rows, np.dtype(np.float64), units.scaling, stable, None, None)
        self.history_.meta["data"] = getattr(source, "description", None)

    def _stream_split(self, source: Any) -> tuple[Any, Any]:
        """``(training rows, validation)``: the source itself and None without ``early_stopping``; else
        the training rows and what the held-out rows' loss is computed on (their statistics, or
        the rows read again: :class:`~gradstep.data.stream.StreamData`)."""
        if self._split is None:
            return source, None
        from ..data.split import SplitRows
        from ..data.stream import StreamData

        held = self._summary_data(self._held_summary)
        if held is None:
            held = StreamData(SplitRows(source, self._split, held=True), self._stream_prepare())
        return SplitRows(source, self._split, held=False), held

    def _checkpointing(self, ck: checkpoints.CheckpointFile | None, description: Callable[[], str] | str) -> Checkpointing | None:
        """The loop's checkpointing for ``ck``: the estimator, the loop's snapshot and what the data are
        (``description``, or what it returns, asked only when saving), saved to ``ck.path`` every
        ``ck.every`` updates; :meth:`_restore` reads them back."""
        if ck is None:
            return None

        def save(snapshot: Snapshot) -> None:
            described = description() if callable(description) else description
            checkpoints.save(ck.path, {"model": self, "snapshot": snapshot, "data": described})

        return Checkpointing(save, ck.every)

    def _restore(self, path: str | os.PathLike, description: str) -> Snapshot:
        """The fitted state saved in the checkpoint ``path`` (after checking it is this run's), and its snapshot."""
        saved = checkpoints.load(path)
        model = saved["model"]
        if type(model) is not type(self):
            raise ValueError(f"{path}: the checkpoint is of a {type(model).__name__}, not a {type(self).__name__}")
        mine, theirs = _plain(self.get_params()), _plain(model.get_params())
        differ = [f"{k}={theirs.get(k)!r} there, {mine[k]!r} here" for k in mine if mine[k] != theirs.get(k)]
        if differ:
            raise ValueError(f"{path}: the checkpoint was made with other settings ({'; '.join(differ)}); "
                             f"use the same settings to resume, or delete the checkpoint to start afresh")
        if saved["data"] != description:
            raise ValueError(f"{path}: the checkpoint was made on {saved['data']}, not {description}; resume on "
                             f"the same data, or delete the checkpoint to start afresh")
        self.__dict__.update(model.__dict__)
        return saved["snapshot"]

    def _summary_data(self, summary: Any) -> Any:
        """What stands for the streamed rows of ``summary`` in the loss after each epoch, without reading
        them (LinearRegression: their :class:`~gradstep.objectives.SquaredStats`); None: read them."""
        return None

    def _chunk_encoder(self) -> Callable | None:
        """``(X, y) -> (X, Y)`` for each streamed chunk; None: ``Y = y[:, None]``."""
        return None

    def _stream_prepare(self) -> Callable:
        """How the model sees each raw chunk: weight column taken out, scaled, encoded, weighted."""
        return self._stream_units.prepare(self._chunk_encoder(), self._weight_column)

    def _stream_batches(self, source: Any, buffer_rows: int) -> Any:
        from ..data.batching import FixedBatch
        from ..data.stream import StreamBatches

        data = self._summary_data(self._summary)
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

    # ------------------------------------------------------------------ diagnostics
    def _fit_space(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(Z, Y)``: validated data in the units gradient descent ran in, the target encoded, as
        NumPy float64 (diagnostics are computed on the host, in double precision)."""
        check_is_fitted(self)
        Z = _host(self.scaling_.transform(self._check_X(X, reset=False))).astype(np.float64, copy=False)
        return Z, self._encode(np.asarray(_host(y)), first=False).astype(np.float64, copy=False)

    def _fitted_params(self) -> np.ndarray:
        """:math:`\\hat\\theta`, the parameters ``coef_`` and ``intercept_`` report, in the units gradient
        descent ran in, as NumPy float64: the mean of the iterates with ``average``, else the last one."""
        check_is_fitted(self)
        averager = getattr(self, "_averager", None)
        theta = averager.mean if averager is not None and averager.mean is not None else self._theta
        return np.array(_host(theta), dtype=np.float64)

    def loss_value(self, X: Any, y: Any) -> float:
        """The objective (loss plus penalty) of the fitted parameters on ``(X, y)``."""
        Z, Y = self._fit_space(X, y)
        return self._objective_.value(self._fitted_params(), (Z, Y))

    def reference_optimum(self, X: Any, y: Any) -> tuple[np.ndarray, float]:
        r"""The exact optimum :math:`(\theta^*, f^*)` of this model's objective on ``(X, y)``.

        Same loss and penalty as the fit, in the units gradient descent ran in (after ``scale``),
        without sample or class weights; :math:`\theta^* = [\operatorname{vec}(W^*), b^*]` as
        ``_objective_.pack`` lays it out (``scaling_.to_original`` maps it to the units of ``X``).
        Found by :func:`gradstep.reference.reference_solve` started from the fitted parameters
        (:class:`~gradstep.LinearRegression` without an L1 penalty: the closed form).

        Examples
        --------
        >>> import numpy as np
        >>> from gradstep import LogisticRegression
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 1, 0, 1])
        >>> clf = LogisticRegression(penalty="l2", alpha=0.1, epochs=5, tol=None).fit(X, y)
        >>> theta, f = clf.reference_optimum(X, y)
        >>> f <= clf.loss_value(X, y)
        True
        """
        Z, Y = self._fit_space(X, y)
        return self._reference((Z, Y), self._fitted_params())

    def _reference(self, batch: tuple[np.ndarray, np.ndarray], start: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`reference_optimum` on the fit-space ``batch``, from ``start`` (zeros when not finite)."""
        from ..reference import reference_solve

        return reference_solve(self._objective_, batch, x0=start if np.all(np.isfinite(start)) else None)

    def optimality_gap(self, X: Any, y: Any) -> float:
        r""":math:`f(\hat\theta) - f(\theta^*)`: how far the fitted objective is above its minimum on ``(X, y)``.

        :math:`f` is the model's objective, loss plus the same penalty, measured in the units
        gradient descent ran in (after ``scale``) and without sample or class weights;
        :math:`\hat\theta` the fitted parameters (those ``coef_`` and ``intercept_`` report) and
        :math:`\theta^*` the exact optimum (:meth:`reference_optimum`). Non-negative up to rounding
        (about :math:`10^{-16} |f^*|`); the relative gap is ``gap / abs(f_star)`` with ``f_star``
        from :meth:`reference_optimum`.

        Returns
        -------
        float
            The absolute gap, in the units of the objective.

        Examples
        --------
        >>> import numpy as np
        >>> from gradstep import SoftmaxRegression
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 2])
        >>> clf = SoftmaxRegression(penalty="l2", alpha=0.01, epochs=3, tol=None).fit(X, y)
        >>> clf.optimality_gap(X, y) > 0, clf.set_params(epochs=3000).fit(X, y).optimality_gap(X, y) < 1e-6
        (True, True)
        """
        Z, Y = self._fit_space(X, y)
        theta = self._fitted_params()
        return self._objective_.value(theta, (Z, Y)) - self._reference((Z, Y), theta)[1]

    def _decision(self, X: Any) -> Any:
        """:math:`XW + b` in original units, shape (n, k), computed on the compute side and
        returned in the type of ``X``."""
        check_is_fitted(self)
        Xc = self._check_X(X, reset=False)
        xp, dtype = backend.namespace(Xc), _float_dtype(Xc)
        coef = xp.reshape(self._placement.put(self.coef_, dtype), (-1, Xc.shape[1]))
        b = self._placement.put(np.atleast_1d(_host(self.intercept_)), dtype)
        return Placement.resolve(X, None, None).put(Xc @ coef.T + b)


def _open_stream(source: Any, target: str | None, features: Any, sample_weight: str | None,
                 chunk_rows: int | None) -> Any:
    """The row source of ``source`` (a path is opened with the weight column among its columns)."""
    from ..data.stream import CHUNK_ROWS, open_rows

    if not isinstance(source, (str, os.PathLike, list, tuple)):
        return source
    if sample_weight is not None and features is not None:
        names = [f.strip() for f in features.split(",")] if isinstance(features, str) else list(features)
        features = names if sample_weight in names else [*names, sample_weight]
    return open_rows(source, target, features, chunk_rows=chunk_rows or CHUNK_ROWS)


def _weight_column(source: Any, sample_weight: str | None) -> int | None:
    """The index of the sample-weight column among the source's columns (None without one)."""
    if sample_weight is None:
        return None
    names = list(source.feature_names)
    if sample_weight not in names:
        raise ValueError(f"sample_weight={sample_weight!r} is not a column of {source.description} (its columns "
                         f"are {names + [source.target_name]}); name the column holding the weights")
    if len(names) < 2:
        raise ValueError(f"sample_weight={sample_weight!r} is the only feature column; the fit needs at least one other")
    return names.index(sample_weight)


def _is_dask(X: Any) -> bool:
    """A Dask array or DataFrame (checked without importing Dask)."""
    return type(X).__module__.split(".")[0] == "dask"


def _host(a: Any) -> Any:
    """A tensor as a NumPy array; anything else (lists, DataFrames, None) as it is."""
    return backend.to_numpy(a) if is_tensor(a) else a


def _float_dtype(X: Any) -> np.dtype:
    """The NumPy dtype matching ``X``'s floating dtype (NumPy or torch): float32 or float64."""
    return np.dtype(np.float32) if str(X.dtype).rsplit(".", 1)[-1] == "float32" else np.dtype(np.float64)
