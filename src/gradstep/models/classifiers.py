r"""Logistic and softmax regression by gradient descent, scikit-learn classifiers.

Examples
--------
>>> import numpy as np
>>> from gradstep import LogisticRegression
>>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array(["no", "no", "yes", "yes"])
>>> clf = LogisticRegression(lr=0.5, epochs=200, tol=None, penalty="l2", alpha=0.01).fit(X, y)  # separable: a penalty
>>> clf.classes_.tolist(), clf.predict([[-3.0], [3.0]]).tolist()
(['no', 'yes'], ['no', 'yes'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight

from .. import backend
from ..objectives import LogisticLoss, Penalty, SoftmaxCrossEntropy
from ..optim import GradientTransformation
from .base import GradientDescentModel
from .placement import Placement, float_dtype, host, is_tensor

_COMMON_DOC = r"""
    Parameters
    ----------
    fit_intercept, optimizer, lr, optimizer_params, epochs, batch_size, shuffle, random_state,
    penalty, alpha, l1_ratio, clip_value, clip_norm, scale, tol, n_iter_no_change, gtol,
    early_stopping, validation_fraction, average, warm_start, record_params, backend, device
        As in :class:`gradstep.LinearRegression`. To match
        scikit-learn's ``LogisticRegression(C=C)`` use ``penalty="l2", alpha=1 / (C * n_samples)``.
    class_weight : dict, "balanced" or None
        Weight of each class in the loss (``"balanced"``: ``n / (n_classes * count)``),
        multiplied with ``sample_weight``.

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted; any type.
    coef_, intercept_ : ndarray
        In the original units of ``X``.
    n_iter_, t_, history_, result_, scaling_
        As in :class:`gradstep.LinearRegression`.
"""


class _Classifier(ClassifierMixin, GradientDescentModel):
    _multi_output = False
    _stratify = True

    def __init__(
        self,
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
        class_weight: Mapping[Any, float] | str | None = None,
    ) -> None:
        self.class_weight = class_weight
        super().__init__(
            fit_intercept=fit_intercept, optimizer=optimizer, lr=lr, optimizer_params=optimizer_params,
            epochs=epochs, batch_size=batch_size, shuffle=shuffle, random_state=random_state, penalty=penalty,
            alpha=alpha, l1_ratio=l1_ratio, clip_value=clip_value, clip_norm=clip_norm, scale=scale, tol=tol,
            n_iter_no_change=n_iter_no_change, gtol=gtol, early_stopping=early_stopping,
            validation_fraction=validation_fraction, average=average, warm_start=warm_start,
            record_params=record_params, backend=backend, device=device,
        )

    def _labels(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        """Class indices of ``y`` in ``classes_`` (learnt on the first call)."""
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if self.classes_.size < 2:
                raise ValueError(f"{type(self).__name__} needs at least two classes; y has only one class, "
                                 f"{self.classes_.tolist()}")
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, self.classes_.size - 1)
        unknown = self.classes_[idx] != y
        if np.any(unknown):
            raise ValueError(f"y has labels {np.unique(y[unknown]).tolist()[:5]} that are not in classes_ "
                             f"{self.classes_.tolist()}; give every class in the first partial_fit(classes=...)")
        return idx

    def _row_weights(self, y: np.ndarray, sample_weight: Any, X: Any) -> np.ndarray | None:
        if self.class_weight is None and sample_weight is None:
            return None
        w = _check_sample_weight(host(sample_weight), X, dtype=float_dtype(X))
        if self.class_weight is not None:
            present = np.unique(y)
            cw = compute_class_weight(self.class_weight, classes=present, y=y)
            w = w * cw[np.searchsorted(present, y)]
        return w

    def _epoch_metrics(self, train: tuple, validation: tuple | None):
        """Accuracy on the training rows (and the validation rows) after each epoch, from the
        encoded targets: the predicted class is the largest decision value (logit > 0 for binary).
        The training accuracy is counted by the objective's pass over the rows when the loop made one
        at these parameters (``seen``), else here."""
        obj = self._objective_

        def accuracy(params: Any, batch: tuple) -> float:
            Z, Y = batch[0], batch[1]
            D = obj.predict(params, Z)
            xp = backend.namespace(D)
            pred = (D[:, 0] > 0) if D.shape[1] == 1 else xp.argmax(D, axis=1)
            truth = (Y[:, 0] > 0.5) if Y.shape[1] == 1 else xp.argmax(Y, axis=1)
            return backend.as_float(xp.sum(xp.astype(pred == truth, xp.int64))) / D.shape[0]

        def metrics(params: Any, seen: dict | None = None) -> dict:
            out = {"accuracy": seen["accuracy"] if seen and "accuracy" in seen else accuracy(params, train)}
            if validation is not None:
                out["val_accuracy"] = accuracy(params, validation)
            return out

        return metrics

    def _decision(self, X: Any) -> Any:
        from .. import faults

        return faults.check_predictions(super()._decision(X), X)  # an overflow is an error, never nan

    def _chunk_encoder(self) -> Callable:
        from .streaming import EncodeLabels

        return EncodeLabels(self.classes_, one_hot=self._multi_class)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> _Classifier:
        """One more epoch over ``(X, y)``, continuing the optimiser state, schedule and history.

        ``classes`` (all labels that will ever appear) is needed on the first call
        when the first chunk does not hold every class.
        """
        return self._partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    def predict(self, X: Any) -> Any:
        """The most probable class of each row (a tensor on ``X``'s device for tensor input and numeric labels)."""
        proba = self.predict_proba(X)
        idx = backend.namespace(proba).argmax(proba, axis=1)
        if is_tensor(idx) and self.classes_.dtype.kind in "biuf":
            return backend.namespace(idx).take(Placement(idx.device).put(self.classes_), idx)
        return self.classes_[backend.to_numpy(idx)]

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """:math:`\\log P(\\text{class} \\mid x)`, computed stably, shape (n, n_classes)."""
        raise NotImplementedError

    def predict_proba(self, X: Any) -> Any:
        """:math:`P(\\text{class} \\mid x)`, shape (n, n_classes), columns in the order of ``classes_``."""
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = self._multi_class
        return tags


def _rounded_to_one(log_p: Any) -> Any:
    r"""``log_p`` with 0 where :math:`p = e^{\log p}` rounds to 1 in its dtype (:math:`|\log p| < \epsilon/2`):
    the log of the probability ``predict_proba`` returns, which is then exactly 1."""
    xp = backend.namespace(log_p)
    return xp.where(log_p > -0.5 * xp.finfo(log_p.dtype).eps, xp.zeros_like(log_p), log_p)


class LogisticRegression(_Classifier):
    __doc__ = r"""Binary logistic regression by gradient descent.

    :math:`P(y = \text{classes\_}[1] \mid x) = \sigma(x^\top w + b)` with the sigmoid
    :math:`\sigma(z) = 1 / (1 + e^{-z})`; minimises the weighted mean log-loss
    :math:`\frac1m \sum_i s_i [\log(1 + e^{z_i}) - y_i z_i] + \alpha R(w)`, computed stably.
    """ + _COMMON_DOC

    _multi_class = False

    @property
    def loss_name(self) -> str:
        return "log_loss"

    def _encode(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        idx = self._labels(y, first, classes)
        if self.classes_.size != 2:
            raise ValueError(f"Only binary classification is supported. The type of the target is multiclass: "
                             f"{self.classes_.size} classes {self.classes_.tolist()[:10]}; use SoftmaxRegression")
        return idx.reshape(-1, 1).astype(float)

    def _objective(self, n_features: int, n_outputs: int, penalty: Penalty) -> LogisticLoss:
        return LogisticLoss(n_features, bool(self.fit_intercept), penalty)

    def _store(self, W: Any, b: Any) -> None:
        self.coef_ = backend.copy(W.T)  # (1, d) as scikit-learn
        self.intercept_ = backend.copy(b) if b is not None else backend.zeros_like(W[0, :])

    def decision_function(self, X: Any) -> np.ndarray:
        """:math:`z = x^\\top w + b`; positive means ``classes_[1]``. Shape (n,)."""
        return self._decision(X)[:, 0]

    def predict_log_proba(self, X: Any) -> Any:
        z = self.decision_function(X)
        return _rounded_to_one(backend.namespace(z).stack([backend.log_sigmoid(-z), backend.log_sigmoid(z)], axis=1))

    def predict_proba(self, X: Any) -> Any:
        z = self.decision_function(X)
        # not 1 - p: exact when p is near 1
        return backend.namespace(z).stack([backend.sigmoid(-z), backend.sigmoid(z)], axis=1)


class SoftmaxRegression(_Classifier):
    __doc__ = r"""Multinomial (softmax) regression by gradient descent.

    :math:`P(k \mid x) = \operatorname{softmax}(x^\top W + b)_k`; minimises the weighted
    mean cross-entropy :math:`\frac1m \sum_i s_i [\operatorname{logsumexp}(z_i) - z_{i, y_i}] + \alpha R(W)`,
    computed stably. Works for any number of classes from two.
    """ + _COMMON_DOC

    _multi_class = True

    @property
    def loss_name(self) -> str:
        return "cross_entropy"

    def _encode(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        idx = self._labels(y, first, classes)
        return np.eye(self.classes_.size)[idx]

    def _objective(self, n_features: int, n_outputs: int, penalty: Penalty) -> SoftmaxCrossEntropy:
        return SoftmaxCrossEntropy(n_features, n_outputs, bool(self.fit_intercept), penalty)

    def _store(self, W: Any, b: Any) -> None:
        self.coef_ = backend.copy(W.T)  # (n_classes, d)
        self.intercept_ = backend.copy(b) if b is not None else backend.zeros_like(W[0, :])

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits :math:`x^\\top W + b`, shape (n, n_classes); for two classes, as scikit-learn,
        the difference :math:`z_1 - z_0` (positive means ``classes_[1]``), shape (n,)."""
        z = self._decision(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_log_proba(self, X: Any) -> Any:
        Z = self._decision(X)
        return _rounded_to_one(Z - backend.logsumexp(Z, axis=1, keepdims=True))

    def predict_proba(self, X: Any) -> Any:
        return backend.softmax(self._decision(X), axis=1)
