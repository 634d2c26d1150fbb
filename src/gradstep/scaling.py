r"""Feature scaling applied inside a model, with coefficients mapped back to the original units.

The model is fitted on :math:`Z = (X - c) / s` (``"standard"``: mean and standard
deviation; ``"minmax"``: minimum and range, both from scikit-learn's scalers).
A fit :math:`\hat y = Z W_s + b_s` in scaled units is the same function as

.. math:: \hat y = X W + b,\qquad W = W_s / s,\qquad b = b_s - (c / s)^\top W_s

in the original units. Scaling speeds gradient descent up because it shrinks
the condition number of the Hessian (see :func:`gradstep.condition_number`).
Without an intercept the shift :math:`c` is left out (only division by
:math:`s`), so the model still passes through the origin.

Examples
--------
>>> import numpy as np
>>> X = np.array([[0.0], [10.0], [20.0]])
>>> sc = FeatureScaling.fit("minmax", X)
>>> sc.transform(X).ravel().tolist()
[0.0, 0.5, 1.0]
>>> W, b = sc.to_original(np.array([[2.0]]), np.array([1.0]))   # y = 2 z + 1
>>> W.ravel().tolist(), b.tolist()                                # y = 0.1 x + 1
([0.1], [1.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALES = (None, "none", "standard", "minmax")


@dataclass(frozen=True)
class FeatureScaling:
    """An affine map :math:`x \\mapsto (x - c) / s`, per feature."""

    kind: str | None
    center: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, kind: str | None, X: np.ndarray, center: bool = True) -> "FeatureScaling":
        """Learn ``c`` and ``s`` from ``X`` (constant features get ``s = 1``)."""
        if kind not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {kind!r}")
        d = X.shape[1]
        if kind in (None, "none"):
            return cls(None, np.zeros(d, X.dtype), np.ones(d, X.dtype))
        if kind == "standard":
            from sklearn.preprocessing import StandardScaler

            sc = StandardScaler(with_mean=center).fit(X)
            c, s = (sc.mean_ if center else np.zeros(d)), sc.scale_
        else:
            from sklearn.preprocessing import MinMaxScaler

            sc = MinMaxScaler().fit(X)
            c, s = (sc.data_min_ if center else np.zeros(d)), 1.0 / sc.scale_
        return cls(kind, np.asarray(c, X.dtype), np.asarray(s, X.dtype))

    @property
    def active(self) -> bool:
        return self.kind is not None

    def transform(self, X: np.ndarray) -> np.ndarray:
        """:math:`Z = (X - c) / s` (``X`` itself when inactive)."""
        return (X - self.center) / self.scale if self.active else X

    def to_original(self, W: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Map ``(W_s, b_s)`` of shapes (d, k), (k,) fitted on ``Z`` back to the units of ``X``."""
        if not self.active:
            return W, b
        Wo = W / self.scale[:, None]
        return Wo, (None if b is None else b - self.center @ Wo)

    def to_scaled(self, W: np.ndarray, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The inverse of :meth:`to_original` (for starting values given in original units)."""
        if not self.active:
            return W, b
        return W * self.scale[:, None], (None if b is None else b + self.center @ W)
