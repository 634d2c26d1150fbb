r"""The exact optimum of a linear model's objective, as a reference to measure gradient descent against.

:func:`reference_solve` minimises an objective of :mod:`gradstep.objectives`
(:class:`~gradstep.objectives.SquaredError`, :class:`~gradstep.objectives.LogisticLoss`,
:class:`~gradstep.objectives.SoftmaxCrossEntropy`) on one batch with SciPy's L-BFGS-B at tolerances
far below anything gradient descent reaches, in NumPy float64:

.. math:: \theta^* = \operatorname*{arg\,min}_\theta f(\theta),\qquad
          f(\theta) = L(\theta) + \tfrac{\lambda_2}{2}\lVert W\rVert_2^2 + \lambda_1 \lVert W\rVert_1

(:math:`L` the loss, :math:`\lambda_1, \lambda_2` the L1 and L2 weights of the objective's
:class:`~gradstep.objectives.Penalty`, on the coefficients :math:`W` only, never the intercept).

The L1 term is not differentiable at 0, so with :math:`\lambda_1 > 0` the coefficients are split
into their positive and negative parts, :math:`W = U - V` with :math:`U, V \ge 0` (bounds), and

.. math:: \min_{U, V \ge 0,\ b}\; g(U - V, b) + \lambda_1 \textstyle\sum (U + V),
          \qquad g = L + \tfrac{\lambda_2}{2}\lVert W\rVert_2^2,

a smooth problem with the same minimum (at an optimum at most one of :math:`U_j, V_j` is
positive, so :math:`\sum(U + V) = \lVert W\rVert_1`), whose gradient is
:math:`(\nabla_W g + \lambda_1,\ -\nabla_W g + \lambda_1,\ \nabla_b g)`. Coefficients at 0 end on
their bounds, so the zeros of a sparse optimum come out exactly 0. Only the objective's smooth part
``g`` is differentiated (the objective with its penalty replaced by its L2 part): the reference
never depends on which subgradient of :math:`\lVert W\rVert_1` the objective returns.

Examples
--------
>>> import numpy as np
>>> from gradstep.objectives import Penalty, SquaredError
>>> X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]); Y = np.array([[3.0], [0.1], [3.1]])
>>> obj = SquaredError(n_features=2, loss="half_mse", fit_intercept=False, penalty=Penalty("l1", alpha=0.5))
>>> theta, f = reference_solve(obj, (X, Y))
>>> np.round(theta, 8).tolist(), round(f, 8)     # the second coefficient is exactly 0
([2.3, 0.0], 1.34)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .objectives.penalties import Penalty

GTOL = 1e-12
"""L-BFGS-B's ``gtol``: the largest entry of the projected gradient at which it stops."""
FTOL = 1e-16
"""L-BFGS-B's ``ftol`` (``factr`` times the machine epsilon; below 1): it stops on the relative decrease
of ``f`` only when a step no longer decreases it at all, in practice at the limit of float64 rounding."""
MAXCOR = 30
"""Pairs of corrections L-BFGS-B keeps (SciPy's default is 10)."""
MAXITER = 100_000
"""Iterations (and, doubled, function evaluations) at most."""


def reference_solve(objective: Any, batch: Any, x0: Any = None) -> tuple[np.ndarray, float]:
    r"""The minimiser :math:`\theta^*` of ``objective`` on ``batch`` and the minimum :math:`f(\theta^*)`.

    Parameters
    ----------
    objective : LinearObjective
        A frozen dataclass with a ``penalty`` field, ``value``, ``value_and_grad``, ``n_features``,
        ``n_outputs`` and ``n_params`` (:mod:`gradstep.objectives`).
    batch : tuple or SquaredStats
        ``(X, Y)`` or ``(X, Y, w)`` as the objective takes it (or, for squared error, the
        :class:`~gradstep.objectives.SquaredStats` of the rows), NumPy arrays: the solve runs in float64.
    x0 : array_like, optional
        A starting point, e.g. a fitted model's parameters (default zeros). It changes the time taken,
        not the answer (beyond the tolerances): a start near the optimum is a few iterations.

    Returns
    -------
    theta_star : ndarray of shape (n_params,)
        :math:`\theta^* = [\operatorname{vec}(W^*), b^*]` as ``objective.pack`` lays it out.
    f_star : float
        ``objective.value(theta_star, batch)``: the same code as a fitted model's loss, so that
        :math:`f(\hat\theta) - f^*` compares like with like.

    Notes
    -----
    L-BFGS-B with ``gtol`` :data:`GTOL`, ``ftol`` :data:`FTOL`, ``maxcor`` :data:`MAXCOR` and
    ``maxiter`` :data:`MAXITER` (see the module docstring for the L1 split). It starts from ``x0``
    and only accepts decreasing steps, so :math:`f^* \le f(x_0)`. Where the infimum is not
    attained (e.g. logistic regression without a penalty on separable classes) it stops where
    float64 can no longer decrease ``f``. A :class:`~sklearn.exceptions.ConvergenceWarning` is
    given when it stops on the iteration limit instead.
    """
    from scipy.optimize import minimize

    start = np.zeros(objective.n_params) if x0 is None else np.asarray(x0, dtype=np.float64).reshape(-1)
    l1 = objective.penalty.l1
    fun, x_start, bounds, to_theta = (_split(objective, batch, start, l1) if l1 > 0
                                      else (_smooth(objective, batch), start, None, lambda x: x))
    res = minimize(fun, x_start, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"gtol": GTOL, "ftol": FTOL, "maxcor": MAXCOR, "maxiter": MAXITER,
                            "maxfun": 2 * MAXITER})
    if res.status == 1:
        from sklearn.exceptions import ConvergenceWarning

        warnings.warn(f"reference_solve stopped on the iteration limit ({res.message}); the reference "
                      f"optimum may be inexact", ConvergenceWarning, stacklevel=2)
    theta = to_theta(res.x)
    return theta, float(objective.value(theta, batch))


def _smooth(objective: Any, batch: Any) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``theta -> (f, grad)`` of ``objective`` (a smooth one: no L1 part) in float64."""

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective.value_and_grad(theta, batch)
        return float(value), np.asarray(grad, dtype=np.float64)

    return fun


def smooth_part(objective: Any) -> Any:
    """``objective`` with its penalty replaced by the penalty's L2 part alone (no penalty without one)."""
    l2 = objective.penalty.l2
    return dataclasses.replace(objective, penalty=Penalty("l2", alpha=l2) if l2 else Penalty())


def _split(objective: Any, batch: Any, start: np.ndarray, l1: float) -> tuple[Callable, np.ndarray, list, Callable]:
    r"""The L1 problem in the variables ``x = [U, V, b]`` (see the module docstring): its
    ``x -> (f, grad)``, the start ``[max(W0, 0), max(-W0, 0), b0]``, the bounds and ``x -> theta``."""
    n = objective.n_features * objective.n_outputs
    g = _smooth(smooth_part(objective), batch)

    def to_theta(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x[:n] - x[n:2 * n], x[2 * n:]])

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = g(to_theta(x))
        gW = grad[:n]
        return value + l1 * float(np.sum(x[:2 * n])), np.concatenate([gW + l1, l1 - gW, grad[n:]])

    W0 = start[:n]
    x0 = np.concatenate([np.maximum(W0, 0.0), np.maximum(-W0, 0.0), start[n:]])
    bounds = [(0.0, None)] * (2 * n) + [(None, None)] * (start.size - n)
    return fun, x0, bounds, to_theta
