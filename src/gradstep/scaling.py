r"""Feature scaling applied inside a model, with coefficients mapped back to the original units.

The model is fitted on :math:`Z = (X - c) / s` (``"standard"``: mean and standard
deviation; ``"minmax"``: minimum and range, as scikit-learn's scalers compute them).
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
from typing import Any

import numpy as np

from . import backend

SCALES = (None, "none", "standard", "minmax")


@dataclass(frozen=True)
class FeatureScaling:
    """An affine map :math:`x \\mapsto (x - c) / s`, per feature."""

    kind: str | None
    center: Any
    scale: Any

    @classmethod
    def fit(cls, kind: str | None, X: Any, center: bool = True) -> FeatureScaling:
        """Learn ``c`` and ``s`` from ``X`` (constant features get ``s = 1``), in ``X``'s array library.

        ``"standard"``: the column means and standard deviations (``ddof=0``), with
        scikit-learn's test for a constant column (variance within rounding of zero);
        ``"minmax"``: the column minima and ranges, a range below ``10 eps`` counting as 0.
        Written with the array-API namespace of ``X``, so tensors are scaled on their device.
        """
        if kind not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {kind!r}")
        xp = backend.namespace(X)
        d = X.shape[1]
        zeros = xp.zeros(d, dtype=X.dtype, device=backend.device(X))
        ones = xp.ones(d, dtype=X.dtype, device=backend.device(X))
        if kind in (None, "none"):
            return cls(None, zeros, ones)
        if kind == "standard":
            n = X.shape[0]
            mean = xp.mean(X, axis=0)
            var = _variance(X, mean)
            eps = float(np.finfo(np.float64).eps)  # sklearn.preprocessing._data._is_constant_feature
            constant = var <= n * eps * var + (n * mean * eps) ** 2
            c, s = (mean if center else zeros), xp.where(constant, ones, xp.sqrt(var))
        else:
            lo = xp.min(X, axis=0)
            rng = xp.max(X, axis=0) - lo
            eps = float(np.finfo(np.float32 if X.dtype == xp.float32 else np.float64).eps)
            c, s = (lo if center else zeros), xp.where(rng < 10 * eps, ones, rng)
        return cls(kind, c, s)

    @property
    def active(self) -> bool:
        return self.kind is not None

    def transform(self, X: np.ndarray) -> np.ndarray:
        """:math:`Z = (X - c) / s` (``X`` itself when inactive; one new array of ``X``'s size when active)."""
        if not self.active:
            return X
        if isinstance(X, np.ndarray):
            Z = np.subtract(X, self.center)
            return np.divide(Z, self.scale, out=Z)
        return (X - self.center) / self.scale

    def transform_gram(self, G: np.ndarray, fit_intercept: bool) -> np.ndarray:
        r"""The Gram matrix of :math:`\tilde Z` from that of :math:`\tilde X` (NumPy, float64), without the rows.

        :math:`\tilde Z = \tilde X A` with :math:`A = \begin{pmatrix} S^{-1} & 0 \\ -c^\top S^{-1} & 1
        \end{pmatrix}` (:math:`S = \operatorname{diag}(s)`; without an intercept :math:`A = S^{-1}`), so
        :math:`\tilde Z^\top\tilde Z = A^\top (\tilde X^\top \tilde X) A`.

        Examples
        --------
        >>> import numpy as np
        >>> from gradstep.diagnostics import gram
        >>> X = np.array([[0.0], [10.0], [20.0]])
        >>> sc = FeatureScaling.fit("minmax", X)
        >>> np.allclose(sc.transform_gram(gram(X), True), gram(sc.transform(X)))
        True
        """
        if not self.active:
            return G
        inv = 1.0 / np.asarray(backend.to_numpy(self.scale), dtype=np.float64)
        A = np.diag(inv)
        if fit_intercept:
            shift = -np.asarray(backend.to_numpy(self.center), dtype=np.float64) * inv
            A = np.block([[A, np.zeros((inv.size, 1))], [shift[None, :], np.ones((1, 1))]])
        return A.T @ G @ A

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


def _variance(X: Any, mean: Any) -> Any:
    r"""The column variances :math:`\frac1n\sum_i (x_{ij} - \bar x_j)^2` (``ddof=0``); NumPy arrays
    block by block, so no temporary of ``X``'s size is made."""
    if not isinstance(X, np.ndarray):
        xp = backend.namespace(X)
        return xp.mean((X - mean) ** 2, axis=0)
    total = np.zeros(X.shape[1], dtype=np.result_type(X.dtype, np.float32))
    for lo in range(0, X.shape[0], 1 << 15):
        D = X[lo:lo + (1 << 15)] - mean
        total += np.einsum("ij,ij->j", D, D)
    return (total / X.shape[0]).astype(X.dtype, copy=False)
