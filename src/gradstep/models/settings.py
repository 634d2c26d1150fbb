r"""The estimators' hyper-parameters, their checks, what a subclass provides, and the check of ``X``.

:class:`Settings` is the root of :class:`~gradstep.models.base.GradientDescentModel`: it holds
the hyper-parameters (scikit-learn's convention: stored as given by ``__init__``, checked when a
fit starts, :meth:`Settings._check_hyper`), declares the fitted state the other parts of an
estimator share, and names what a subclass says: how the target is encoded (``_encode``), which
objective it minimises (``_objective``), its loss's name (:attr:`Settings.loss_name`), per-row
weights (``_row_weights``) and how fitted parameters become ``coef_`` / ``intercept_`` (``_store``).

Examples
--------
>>> from gradstep import LinearRegression
>>> LinearRegression(penalty="l2", alpha=0.5)._check_hyper()
Penalty(kind='l2', alpha=0.5, l1_ratio=0.15)
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _check_sample_weight, validate_data

from ..objectives import PENALTIES, LinearObjective, Penalty
from ..optim import OPTIMIZERS, GradientTransformation
from .placement import Placement, check_tensor, float_dtype, host, is_tensor

if TYPE_CHECKING:
    from ..history import History
    from ..loop import Result
    from ..scaling import FeatureScaling
    from .averaging import Averager


def plain_values(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON-friendly values (transforms and schedules by their repr)."""
    return {k: v if v is None or isinstance(v, (bool, int, float, str)) else repr(v) for k, v in params.items()}


class Settings(BaseEstimator):
    """The hyper-parameters of gradstep's estimators (see the subclasses for their meaning) and their checks."""

    _stratify: ClassVar[bool] = False   # classifiers split validation rows by class
    _multi_output: ClassVar[bool]       # the target may have several columns (regression)

    # the fitted state, set by a fresh run (gradstep.models.descent.Descent._begin) and each call of the loop
    _objective_: LinearObjective
    _theta: Any                  # the last iterate, in the units gradient descent runs in
    _state: Any                  # the optimiser's state
    _averager: Averager | None   # averaged SGD's running mean (``average``), else None
    _epochs_done: int
    _seed: int
    _full_batch: bool
    _placement: Placement        # where the maths runs
    _output: Placement           # the type results come back in
    scaling_: FeatureScaling
    history_: History
    result_: Result
    optimizer_: str | GradientTransformation
    lr_: Any
    tol_: float | None
    gtol_: float | None
    n_iter_: int
    t_: int
    n_features_in_: int
    feature_names_in_: np.ndarray

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
    @property
    def loss_name(self) -> str:
        """The loss by the name :func:`gradstep.diagnostics.stable_lr` knows it: ``"mse"``, ``"half_mse"``,
        ``"sum"`` (:class:`~gradstep.LinearRegression`'s ``loss``), ``"log_loss"`` or ``"cross_entropy"``.

        Examples
        --------
        >>> from gradstep import LinearRegression, SoftmaxRegression
        >>> LinearRegression(loss="half_mse").loss_name, SoftmaxRegression().loss_name
        ('half_mse', 'cross_entropy')
        """
        return "mse"

    def _encode(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        """The target as a 2-D float array ``Y`` for the objective (learning ``classes_`` when ``first``)."""
        raise NotImplementedError

    def _objective(self, n_features: int, n_outputs: int, penalty: Penalty) -> LinearObjective:
        raise NotImplementedError

    def _row_weights(self, y: np.ndarray, sample_weight: Any, X: Any) -> np.ndarray | None:
        """Per-row weights for the loss as a NumPy array (None when all are 1)."""
        if sample_weight is None:
            return None
        return _check_sample_weight(host(sample_weight), X, dtype=float_dtype(X), ensure_non_negative=True)

    def _store(self, W: np.ndarray, b: np.ndarray | None) -> None:
        """Set ``coef_`` and ``intercept_`` from ``W`` (d, k) and ``b`` (k,) in original units."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checks
    def _check_hyper(self) -> Penalty:
        """The hyper-parameters checked (each error names the parameter and what it takes); the penalty."""
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
            raise ValueError(f"average must be a bool or an int >= 1 (rows seen before averaging), "
                             f"got {self.average!r}")
        kind = None if self.penalty == "none" else self.penalty
        return Penalty(kind, float(self.alpha), float(self.l1_ratio))

    def _param_names(self, d: int, k: int) -> list[str]:
        feats = [str(f) for f in getattr(self, "feature_names_in_", [f"x{i}" for i in range(d)])]
        if k == 1:
            return [f"w[{f}]" for f in feats] + (["b"] if self.fit_intercept else [])
        names = [f"w[{f},{j}]" for f in feats for j in range(k)]
        return names + ([f"b[{j}]" for j in range(k)] if self.fit_intercept else [])

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


__all__ = ["Settings", "plain_values"]
