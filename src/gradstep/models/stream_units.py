r"""The units a streamed fit works in: feature scaling and row weights, learnt from the summary pass.

An in-memory fit sees :math:`Z = (X - c)/s` (:class:`~gradstep.scaling.FeatureScaling`) and,
per row, the weight

.. math:: w'_i = \frac{n}{\sum_j v_j c_{y_j}}\; v_i\, c_{y_i},

with :math:`v_i` the sample weight (1 without) and :math:`c_y` the class weight (1 without),
normalised to mean 1. A streamed fit gets :math:`c, s` (column means and variances, or minima and
maxima), the class counts and the weight sums from its one pass
(:func:`gradstep.models.streaming.summarise`), then applies the same arithmetic to every chunk as
it is read (:class:`PrepareRows`), so it makes the in-memory fit's steps on the same rows.

The squared-error statistics of the summary, gathered in the original units, are carried over
exactly: with :math:`\tilde Z = \tilde X T`, :math:`T = \begin{pmatrix} S^{-1} & 0 \\ -c^\top S^{-1}
& 1\end{pmatrix}` (:math:`S = \mathrm{diag}(s)`; without an intercept :math:`T = S^{-1}`) and the
weights' factor :math:`f`,

.. math:: G_Z = f\,T^\top \Big(\sum_y c_y G_y\Big) T,\qquad C_Z = f\,T^\top \sum_y c_y C_y,\qquad
          s_Z = f \sum_y c_y s_y.

Examples
--------
>>> import numpy as np
>>> from gradstep.models.streaming import SummaryPart
>>> X, y = np.array([[0.0], [2.0], [4.0]]), np.array([1.0, 3.0, 5.0])
>>> summary = SummaryPart(fit_intercept=True)(X, y)
>>> units = StreamUnits.of(summary, "standard", fit_intercept=True)
>>> Z = units.prepare(None, None)(X, y)[0]
>>> np.round(Z.ravel(), 4).tolist()
[-1.2247, 0.0, 1.2247]
>>> G = units.stats(summary).G                  # the statistics of [Z, 1]
>>> bool(np.allclose(G, np.c_[Z, np.ones(3)].T @ np.c_[Z, np.ones(3)]))
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..objectives import SquaredStats
from ..scaling import FeatureScaling
from .streaming import Summary, split_weights


@dataclass(frozen=True)
class RowWeights:
    r"""A chunk's row weights :math:`w'_i = f\, v_i\, c_{y_i}` (see the module docstring)."""

    factor: float
    classes: np.ndarray | None = None         # both or neither
    class_weights: np.ndarray | None = None

    def __call__(self, y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
        w = np.ones(y.shape[0]) if sample_weight is None else sample_weight
        if self.class_weights is not None and self.classes is not None:
            w = w * self.class_weights[np.searchsorted(self.classes, y)]
        return w * self.factor


@dataclass(frozen=True)
class PrepareRows:
    """A raw chunk ``(X, y)`` as the model sees it: ``(Z, Y)`` or ``(Z, Y, w)`` (picklable: Dask
    runs it on the workers). The sample-weight column, if any, is taken out of ``X`` first."""

    scaling: FeatureScaling
    encode: Callable[[np.ndarray, np.ndarray], tuple] | None
    weight_column: int | None
    weights: RowWeights | None

    def __call__(self, X: np.ndarray, y: np.ndarray) -> tuple:
        X, v = split_weights(X, self.weight_column)
        Z = self.scaling.transform(X)
        Z, Y = (Z, y[:, None]) if self.encode is None else self.encode(Z, y)
        return (Z, Y) if self.weights is None else (Z, Y, self.weights(y, v))


def class_weights(class_weight: Mapping[Any, float] | str, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    r"""The weight of each label in ``labels`` (sorted), as :func:`sklearn.utils.class_weight.compute_class_weight`
    gives it on rows with these ``counts``: ``"balanced"`` is :math:`n / (k\, n_y)`; a dict maps labels to weights."""
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced', a dict or None, got {class_weight!r}")
        return counts.sum() / (labels.size * counts.astype(np.float64))
    from sklearn.utils.class_weight import compute_class_weight

    return compute_class_weight(class_weight, classes=labels, y=labels)  # a dict's weights need no counts


@dataclass(frozen=True)
class StreamUnits:
    """The scaling and the row weights of a streamed fit (see the module docstring)."""

    scaling: FeatureScaling
    weights: RowWeights | None
    fit_intercept: bool

    @classmethod
    def of(cls, summary: Summary, scale: str | None, fit_intercept: bool, class_weight: Any = None,
           weighted: bool = False) -> StreamUnits:
        """The units learnt from the ``summary`` of all the rows (training and held-out, as in memory)."""
        scaling = summary.columns.scaling(scale, center=fit_intercept)
        if class_weight is None and not weighted:
            return cls(scaling, None, fit_intercept)
        cw = None if class_weight is None else class_weights(class_weight, summary.labels, summary.counts)
        sums = np.array([g.weight_sum for g in summary.groups])
        total = float(np.sum(sums if cw is None else sums * cw))
        if not total > 0:
            raise ValueError("the sample weights (times the class weights) add up to 0; give positive weights")
        return cls(scaling, RowWeights(summary.n_rows / total, summary.labels if cw is not None else None, cw),
                   fit_intercept)

    def prepare(self, encode: Callable | None, weight_column: int | None) -> PrepareRows:
        return PrepareRows(self.scaling, encode, weight_column, self.weights)

    def _class_weights(self, summary: Summary) -> np.ndarray:
        weights = self.weights
        if weights is None or weights.class_weights is None or weights.classes is None:
            return np.ones(len(summary.groups))
        cw, classes = weights.class_weights, weights.classes
        return np.array([cw[int(np.searchsorted(classes, v))] for v in summary.labels])

    def _map(self, d: int) -> np.ndarray:
        """:math:`T` of the module docstring."""
        inv = 1.0 / np.asarray(self.scaling.scale, dtype=np.float64)
        if not self.fit_intercept:
            return np.diag(inv)
        T = np.eye(d + 1)
        T[:d, :d] = np.diag(inv)
        T[d, :d] = -np.asarray(self.scaling.center, dtype=np.float64) * inv
        return T

    def stats(self, summary: Summary) -> SquaredStats:
        """The squared-error statistics of ``summary``'s rows in the units of the fit (exact maths;
        the summary's own when there is neither scaling nor weighting)."""
        if not self.scaling.active and self.weights is None:
            return summary.stats
        f = 1.0 if self.weights is None else self.weights.factor
        cw = self._class_weights(summary)
        G = sum(c * g.stats.G for c, g in zip(cw, summary.groups))
        C = sum(c * g.stats.C for c, g in zip(cw, summary.groups))
        s = sum(c * g.stats.s for c, g in zip(cw, summary.groups))
        if self.scaling.active:
            T = self._map(summary.columns.mean.shape[0])
            G, C = T.T @ G @ T, T.T @ C
        return SquaredStats(f * G, f * C, f * s, summary.n_rows, self.fit_intercept)

    def max_row_sq(self, summary: Summary) -> float:
        r""":math:`\max_i \lVert z_i \rVert^2` unscaled; scaled, the bound
        :math:`\sum_j \max(|lo_j - c_j|, |hi_j - c_j|)^2 / s_j^2` from the column ranges."""
        if not self.scaling.active:
            return summary.max_row_sq
        cols, c, s = summary.columns, self.scaling.center, self.scaling.scale
        return float(np.sum(np.maximum((cols.lo - c) ** 2, (cols.hi - c) ** 2) / s**2))

    def max_weight(self, summary: Summary) -> float:
        """The largest row weight :math:`w'_i` (1 without weights)."""
        if self.weights is None:
            return 1.0
        cw = self._class_weights(summary)
        return self.weights.factor * max(c * g.max_weight for c, g in zip(cw, summary.groups))


__all__ = ["PrepareRows", "RowWeights", "StreamUnits", "class_weights"]
