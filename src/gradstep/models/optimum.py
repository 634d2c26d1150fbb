r"""A fitted estimator seen in its objective's terms: the objective, the fitted parameters, the optimum and the gap.

Gradient descent runs in the units of the fit: the features after ``scale``, the target
encoded as the loss wants it, the parameters packed as
:math:`\theta = [\operatorname{vec}(W), b]` (the objective's ``pack``). :class:`FittedObjective`
gives that view of a fitted estimator through public names: ``objective_``,
:meth:`~FittedObjective.fitted_params`, :meth:`~FittedObjective.fit_space`, and from them
:meth:`~FittedObjective.loss_value`, :meth:`~FittedObjective.reference_optimum` and
:meth:`~FittedObjective.optimality_gap`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..objectives import LinearObjective
from .placement import host
from .settings import Settings


class FittedObjective(Settings):
    """The fitted objective and parameters, in the units gradient descent ran in, and the exact optimum."""

    @property
    def objective_(self) -> LinearObjective:
        r"""The objective the fit minimised (loss and penalty, without the row weights' data): a
        :class:`~gradstep.objectives.LinearObjective` with ``value``, ``value_and_grad``, ``predict``,
        ``pack`` / ``unpack`` (:math:`\theta \leftrightarrow (W, b)`) and ``penalty``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before a fit.

        Examples
        --------
        >>> import numpy as np
        >>> from gradstep import LinearRegression
        >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
        >>> model = LinearRegression(penalty="l2", alpha=0.1, epochs=5, tol=None).fit(X, y)
        >>> type(model.objective_).__name__, model.objective_.penalty.l2
        ('SquaredError', 0.1)
        """
        check_is_fitted(self)
        return self._objective_

    @property
    def averaging_(self) -> bool:
        """Whether the fit averages its iterates (``average``): ``coef_`` and ``intercept_`` then report
        their running mean (:meth:`fitted_params`), not the last iterate ``result_.x``.

        Examples
        --------
        >>> import numpy as np
        >>> from gradstep import LinearRegression
        >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
        >>> LinearRegression(batch_size=1, average=True, epochs=3, tol=None).fit(X, y).averaging_
        True
        """
        check_is_fitted(self)
        return self._averager is not None

    def fitted_params(self) -> np.ndarray:
        r""":math:`\hat\theta`, the parameters ``coef_`` and ``intercept_`` report, in the units gradient
        descent ran in (after ``scale``), packed as the objective's ``pack`` lays them out, as NumPy
        float64: the mean of the iterates with ``average``, else the last one.

        ``scaling_.to_original(*objective_.unpack(theta))`` maps them to ``(W, b)`` in the units of ``X``.

        Examples
        --------
        >>> import numpy as np
        >>> from gradstep import LinearRegression
        >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
        >>> model = LinearRegression(epochs=2000, tol=None).fit(X, y)
        >>> np.round(model.fitted_params(), 6).tolist()   # [w, b]
        [2.0, 1.0]
        """
        check_is_fitted(self)
        averager = self._averager
        theta = averager.mean if averager is not None and averager.mean is not None else self._theta
        return np.array(host(theta), dtype=np.float64)

    def fit_space(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(Z, Y)``: ``X`` validated and in the units gradient descent ran in (after ``scale``), ``y``
        encoded as the objective takes it (one column for a regression or two classes, one-hot rows
        for more), both as NumPy float64 (the data of ``objective_.value(theta, (Z, Y))``).

        Examples
        --------
        >>> import numpy as np
        >>> from gradstep import SoftmaxRegression
        >>> X = np.array([[0.0], [2.0], [4.0]]); y = np.array(["a", "b", "c"])
        >>> Z, Y = SoftmaxRegression(scale="minmax", epochs=1, tol=None).fit(X, y).fit_space(X, y)
        >>> Z.ravel().tolist(), Y.tolist()
        ([0.0, 0.5, 1.0], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        """
        check_is_fitted(self)
        Z = host(self.scaling_.transform(self._check_X(X, reset=False))).astype(np.float64, copy=False)
        return Z, self._encode(np.asarray(host(y)), first=False).astype(np.float64, copy=False)

    def loss_value(self, X: Any, y: Any) -> float:
        """The objective (loss plus penalty) of the fitted parameters on ``(X, y)``."""
        Z, Y = self.fit_space(X, y)
        return self._objective_.value(self.fitted_params(), (Z, Y))

    def reference_optimum(self, X: Any, y: Any) -> tuple[np.ndarray, float]:
        r"""The exact optimum :math:`(\theta^*, f^*)` of this model's objective on ``(X, y)``.

        Same loss and penalty as the fit, in the units gradient descent ran in (after ``scale``),
        without sample or class weights; :math:`\theta^* = [\operatorname{vec}(W^*), b^*]` as
        ``objective_.pack`` lays it out (``scaling_.to_original`` maps it to the units of ``X``).
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
        Z, Y = self.fit_space(X, y)
        return self._reference((Z, Y), self.fitted_params())

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
        Z, Y = self.fit_space(X, y)
        theta = self.fitted_params()
        return self._objective_.value(theta, (Z, Y)) - self._reference((Z, Y), theta)[1]


__all__ = ["FittedObjective"]
