r"""Objectives that are plain functions of the parameters.

``fun(x) -> float`` with its gradient from one of three sources:

* given by the caller, ``grad(x) -> array``;
* central differences, one coordinate at a time,
  :math:`\partial_i f \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}`;
* exact symbolic differentiation of a typed-in formula
  (:mod:`gradstep.expression`).

Examples
--------
>>> import numpy as np
>>> obj = FunctionObjective(lambda x: float(x @ x), grad="numeric")
>>> value, g = obj.value_and_grad(np.array([3.0, 2.0]))
>>> value, np.round(g, 6)
(13.0, array([6., 4.]))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import as_float, device, namespace, to_numpy

GradSpec = Callable[[np.ndarray], Any] | str | None


def numeric_grad(fun: Callable[[np.ndarray], float], x: Any, h: float = 1e-6) -> np.ndarray:
    r"""Central-difference gradient, one coordinate at a time.

    .. math:: g_i = \frac{f(x + h e_i) - f(x - h e_i)}{2h}

    Parameters
    ----------
    fun : callable
        ``fun(x) -> float``.
    x : array_like
        The point, 1-D (evaluated in float64).
    h : float
        The step; the error is :math:`O(h^2)` plus rounding :math:`O(\epsilon/h)`.

    Examples
    --------
    >>> import numpy as np
    >>> np.round(numeric_grad(lambda v: v[0] ** 2 * v[1], [3.0, 2.0]), 6)
    array([12.,  9.])
    """
    if not (h > 0):
        raise ValueError(f"h must be > 0, got {h!r}")
    x = np.array(x, dtype=np.float64, copy=True)
    g = np.empty_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + h
        fp = float(fun(x))
        flat[i] = orig - h
        fm = float(fun(x))
        flat[i] = orig
        gflat[i] = (fp - fm) / (2 * h)
    return g


def _scalar(out: Any) -> float:
    arr = out if hasattr(out, "shape") else np.asarray(out)  # a NumPy or torch array stays where it is
    shape = tuple(arr.shape)
    if math.prod(shape) != 1:
        raise ValueError(f"the function must return a single number, got an array of shape {shape}")
    return as_float(namespace(arr).reshape(arr, ()))


def _like(g: Any, params: Any) -> Any:
    """``g`` as an array of ``params``'s library, dtype and device (no copy when it already is one)."""
    return namespace(params).asarray(g, dtype=params.dtype, device=device(params))


@dataclass(frozen=True)
class FunctionObjective:
    """A function ``fun(x) -> float`` with a gradient given, numeric or exact.

    Parameters
    ----------
    fun : callable
        The function to minimise.
    grad : callable or "numeric"
        ``grad(x) -> array`` of ``x``'s shape, or ``"numeric"`` for central
        differences with step ``h``.
    h : float
        Step of the central differences.
    """

    fun: Callable[[np.ndarray], Any]
    grad: GradSpec = "numeric"
    h: float = 1e-6

    def __post_init__(self) -> None:
        if not callable(self.fun):
            raise TypeError(f"fun must be callable, got {type(self.fun).__name__}")
        if not (callable(self.grad) or self.grad == "numeric"):
            raise ValueError(f"grad must be a callable or 'numeric', got {self.grad!r}")

    def value(self, params: np.ndarray, batch: Any = None) -> float:
        return _scalar(self.fun(params))

    def value_and_grad(self, params: np.ndarray, batch: Any = None) -> tuple[float, np.ndarray]:
        value = self.value(params)
        if callable(self.grad):
            g = _like(self.grad(params), params)
            if tuple(g.shape) != tuple(params.shape):
                raise ValueError(
                    f"grad returned an array of shape {tuple(g.shape)}; it must have the shape of x, "
                    f"{tuple(params.shape)}"
                )
        else:
            g = _like(numeric_grad(self.fun, to_numpy(params), self.h), params)
        return value, g


@dataclass(frozen=True)
class FormulaObjective:
    """A typed-in formula with its exact gradient (see :func:`gradstep.expression.parse`).

    Evaluated in the array library of the parameters: NumPy points by the
    formula itself, a torch tensor with torch operations on its coordinates
    ``x[0], x[1], ...`` (0-d tensors of its dtype, on its device), so the run
    never leaves the device.
    """

    formula: Any  # gradstep.expression.Formula

    def evaluate(self, params: Any) -> Any:
        """:math:`f` at ``params`` as a 0-d array of their library (for a tensor, built from torch
        operations, so autograd can differentiate it)."""
        return self.formula.evaluate(*_coordinates(params), xp=namespace(params))

    def value(self, params: Any, batch: Any = None) -> float:
        if isinstance(params, np.ndarray):
            return _scalar(self.formula(params))
        return _scalar(self.evaluate(params))

    def value_and_grad(self, params: Any, batch: Any = None) -> tuple[float, Any]:
        if isinstance(params, np.ndarray):
            value, g = self.formula.value_and_grad(params)
            return _scalar(value), _like(g, params)
        xp, coords = namespace(params), _coordinates(params)
        value = self.formula.evaluate(*coords, xp=xp)
        return _scalar(value), _like(xp.stack(self.formula.evaluate_grad(*coords, xp=xp)), params)


def _coordinates(x: Any) -> list[Any]:
    """The entries of a 1-D array as 0-d arrays of its library (one per variable of a formula)."""
    return [x[i] for i in range(x.shape[0])]
