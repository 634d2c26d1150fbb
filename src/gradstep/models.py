r"""scikit-learn estimators, thin layers over :func:`gradstep.loop.run`.

Examples
--------
>>> import numpy as np
>>> from gradstep import LinearRegression
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 2 * X.ravel() + 1
>>> model = LinearRegression(lr=0.1, epochs=2000, tol=None).fit(X, y)
>>> np.round(model.coef_, 6), round(model.intercept_, 6)
(array([2.]), 1.0)
>>> model.history_.loss[:2]   # mse at theta_0 = (0, 0) and theta_1 = (1.7, 0.8)
array([21.   ,  0.535])
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Mapping

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from . import diagnostics
from .data.batching import Batches, resolve_seed
from .history import History
from .loop import DIVERGED, DivergenceError, Result, StopRule, run
from .objectives import LOSSES, PENALTIES, Penalty, SquaredError
from .optim import OPTIMIZERS, GradientTransformation, make_optimizer
from .scaling import FeatureScaling


class LinearRegression(RegressorMixin, BaseEstimator):
    r"""Linear regression fitted by gradient descent, with a full record of the run.

    Minimises, over :math:`W` (d × k) and :math:`b` (k),

    .. math:: \ell(XW + \mathbf 1 b^\top, Y) + \alpha R(W)

    where :math:`\ell` is the squared error in the convention ``loss`` (see
    :class:`gradstep.objectives.SquaredError`) and :math:`R` the ``penalty``.
    ``batch_size=None`` is batch gradient descent, ``1`` per-sample SGD and
    anything between mini-batch; each epoch is one pass over the rows.

    Parameters
    ----------
    loss : {"mse", "half_mse", "sum"}, default="mse"
        Mean of squares (PyTorch's ``MSELoss``), half of it, or the plain sum.
    fit_intercept : bool, default=True
    optimizer : str or GradientTransformation, default="sgd"
        ``"gd"`` / ``"sgd"`` (the plain step), ``"momentum"``, ``"nesterov"``,
        ``"adagrad"``, ``"rmsprop"``, ``"adam"``, or a transform from
        :mod:`gradstep.optim` (which then carries its own learning rate).
    lr : float or schedule, default=0.01
        Learning rate, a number or a function ``count -> lr`` (:mod:`gradstep.optim.schedules`).
    optimizer_params : dict, optional
        Hyper-parameters of the named optimizer, torch's names: ``{"momentum": 0.95}``, ``{"betas": (0.9, 0.99)}``.
    epochs : int, default=1000
        Maximum number of passes over the data.
    batch_size : int or None, default=None
        Rows per step; ``None`` for all of them.
    shuffle : bool, default=True
        Shuffle the rows every epoch (mini-batch and per-sample only).
    random_state : int, Generator or None
        Seed of the shuffling; the seed used is saved in ``history_.meta``.
    penalty : {None, "l2", "l1", "elasticnet"}, default=None
    alpha : float, default=0.0001
        Penalty strength (scikit-learn's SGD convention: :math:`\alpha\cdot\tfrac12\lVert w\rVert^2` for L2).
    l1_ratio : float, default=0.15
        Share of L1 in the elastic net.
    clip_value, clip_norm : float, optional
        Clip each gradient component to ``[-clip_value, clip_value]`` / rescale the
        gradient to L2 norm at most ``clip_norm``.
    scale : {None, "standard", "minmax"}, default=None
        Scale the features inside the model (see :mod:`gradstep.scaling`):
        gradient descent runs on the scaled features (the history is in those
        units), ``coef_`` and ``intercept_`` are reported in the original units.
    tol : float or None, default=1e-3
        Stop when the loss on all the data has not improved by ``tol`` for
        ``n_iter_no_change`` epochs; ``None`` runs exactly ``epochs`` epochs.
    n_iter_no_change : int, default=5
    record_params : bool, default=True
        Keep the parameters of every step in ``history_``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    scaling_ : FeatureScaling
        The scaling learnt from ``X`` (identity when ``scale=None``).
    n_iter_ : int
        Epochs run.
    t_ : int
        Updates made.
    history_ : History
        Loss, gradient norm, learning rate (and parameters) per step; loss per epoch.
    result_ : Result
        The loop's result (SciPy ``OptimizeResult`` conventions).

    Raises
    ------
    DivergenceError
        From ``fit`` when the loss explodes; the message names the step, the
        learning rate and the largest stable learning rate.
    """

    _parameter_constraints: dict = {}

    def __init__(
        self,
        loss: str = "mse",
        fit_intercept: bool = True,
        optimizer: str | GradientTransformation = "sgd",
        lr: Any = 0.01,
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
        record_params: bool = True,
    ) -> None:
        self.loss = loss
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
        self.record_params = record_params

    # ------------------------------------------------------------------ helpers
    def _objective(self, n_features: int, n_outputs: int) -> SquaredError:
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {self.penalty!r}")
        if self.loss not in LOSSES:
            raise ValueError(
                f"loss must be one of {LOSSES} ('mse' = mean of squares, 'half_mse' = half of it, "
                f"'sum' = plain sum), got {self.loss!r}"
            )
        kind = None if self.penalty == "none" else self.penalty
        return SquaredError(n_features, n_outputs, self.loss, bool(self.fit_intercept),
                            Penalty(kind, float(self.alpha), float(self.l1_ratio)))

    def _initial_params(self, obj: SquaredError, dtype: Any, coef_init: Any, intercept_init: Any,
                        scaling: FeatureScaling) -> np.ndarray:
        d, k = obj.n_features, obj.n_outputs
        W = np.zeros((d, k), dtype=dtype)
        if coef_init is not None:
            c = np.asarray(coef_init, dtype=dtype)
            if c.size != d * k:
                want = f"({d},)" if k == 1 else f"({k}, {d})"
                raise ValueError(f"coef_init has shape {c.shape}; it must have shape {want} (n_targets, n_features)")
            W = c.reshape(k, d).T.copy()
        b = np.zeros(k, dtype=dtype)
        if intercept_init is not None:
            if not self.fit_intercept:
                raise ValueError("intercept_init was given but fit_intercept=False")
            i = np.asarray(intercept_init, dtype=dtype).reshape(-1)
            if i.size != k:
                raise ValueError(f"intercept_init has {i.size} values; it must have {k} (one per target)")
            b = i
        W, b = scaling.to_scaled(W, b if self.fit_intercept else None)
        return obj.pack(W, b)

    def _validate_hyper(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, numbers.Integral) or self.epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {self.epochs!r}")
        if isinstance(self.optimizer, str) and self.optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or a gradstep.optim transform, "
                             f"got {self.optimizer!r}")

    # ------------------------------------------------------------------ API
    def fit(self, X: Any, y: Any, coef_init: Any = None, intercept_init: Any = None,
            callback: Any = None) -> "LinearRegression":
        """Fit by gradient descent from ``coef_init`` / ``intercept_init`` (zeros by default).

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_targets)
        coef_init : array_like of shape (n_features,) or (n_targets, n_features), optional
        intercept_init : float or array_like of shape (n_targets,), optional
            Starting values, in the original units of ``X``.
        callback : callable, optional
            ``callback(StepInfo)`` after every update (e.g. a progress bar); raise
            ``StopIteration`` to stop.

        Returns
        -------
        self
        """
        self._validate_hyper()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32])
        y = np.asarray(y, dtype=X.dtype)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        obj = self._objective(X.shape[1], Y.shape[1])
        scaling = FeatureScaling.fit(self.scale, X, center=bool(self.fit_intercept))
        X = scaling.transform(X)
        params0 = self._initial_params(obj, X.dtype, coef_init, intercept_init, scaling)
        transform = make_optimizer(self.optimizer, self.lr, self.optimizer_params, self.clip_value, self.clip_norm)
        seed = resolve_seed(self.random_state)
        batches = Batches(X, Y, self.batch_size, bool(self.shuffle), seed)
        stop = StopRule(max_epochs=int(self.epochs), tol=self.tol, n_iter_no_change=self.n_iter_no_change)
        history = History(
            record_params=self.record_params,
            param_names=self._param_names(X.shape[1], Y.shape[1]),
            meta={"model": "LinearRegression", "params": _plain_params(self.get_params()), "seed": seed,
                  "n_samples": X.shape[0], "steps_per_epoch": batches.steps_per_epoch,
                  "scale": scaling.kind},
        )

        def explain_lr() -> float | None:
            return diagnostics.stable_lr(X, self.loss, bool(self.fit_intercept), obj.penalty.l2, Y.shape[1],
                                         per_sample=batches.size == 1)

        result = run(obj, params0, transform, batches, stop, history=history, callback=callback,
                     stable_lr=explain_lr)
        if result.status == DIVERGED:
            raise DivergenceError(result.message, result.nit, history.lr[-1] if history.n_steps else np.nan,
                                  result.fun, history.meta.get("stable_lr"), history)
        if not result.success:
            warnings.warn(
                f"{result.message} (epochs={self.epochs}, tol={self.tol}); raise epochs or lr, "
                "or scale the features", ConvergenceWarning, stacklevel=2)
        W, b = scaling.to_original(*obj.unpack(result.x))
        single = y.ndim == 1
        self.coef_ = W[:, 0].copy() if single else W.T.copy()
        if self.fit_intercept:
            self.intercept_ = float(b[0]) if single else b.copy()
        else:
            self.intercept_ = 0.0 if single else np.zeros(Y.shape[1], dtype=X.dtype)
        self.n_iter_ = result.nepoch
        self.t_ = result.nit
        self.history_ = history
        self.result_ = result
        self._objective_ = obj
        self.scaling_ = scaling
        return self

    def _param_names(self, d: int, k: int) -> list[str]:
        feats = [str(f) for f in getattr(self, "feature_names_in_", [f"x{i}" for i in range(d)])]
        if k == 1:
            return [f"w[{f}]" for f in feats] + (["b"] if self.fit_intercept else [])
        names = [f"w[{f},{j}]" for f in feats for j in range(k)]
        return names + ([f"b[{j}]" for j in range(k)] if self.fit_intercept else [])

    def predict(self, X: Any) -> np.ndarray:
        """:math:`\\hat y = X w + b` for each row of ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ np.asarray(self.coef_, dtype=X.dtype).T + self.intercept_

    def _fit_space(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(Z, Y)``: validated data in the units gradient descent ran in."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Z = (X - self.scaling_.center) / self.scaling_.scale if self.scaling_.active else X
        return Z, np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)

    def loss_value(self, X: Any, y: Any) -> float:
        """The objective (loss in this model's convention plus penalty) of the fitted model on ``(X, y)``."""
        Z, Y = self._fit_space(X, y)
        return self._objective_.value(np.asarray(self.result_.x, dtype=np.float64), (Z, Y))

    def optimality_gap(self, X: Any, y: Any) -> float:
        r""":math:`f(\hat\theta) - f(\theta^*)` with :math:`\theta^*` the closed-form optimum (same loss, same L2).

        Measured in the units gradient descent ran in (after ``scale``). Not
        defined with an L1 penalty (no closed form).
        """
        check_is_fitted(self)
        if self._objective_.penalty.l1:
            raise ValueError("optimality_gap needs a closed form: it is not defined with an L1 penalty")
        Z, Y = self._fit_space(X, y)
        coef, b = diagnostics.closed_form(Z, Y, bool(self.fit_intercept), self.loss, self._objective_.penalty.l2)
        best = self._objective_.pack(np.asarray(coef).T, np.atleast_1d(b) if self.fit_intercept else None)
        return self.loss_value(X, y) - self._objective_.value(best, (Z, Y))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON-friendly values (transforms and schedules by their repr)."""
    out = {}
    for key, value in params.items():
        out[key] = value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)
    return out


__all__ = ["DivergenceError", "LinearRegression", "Result"]
