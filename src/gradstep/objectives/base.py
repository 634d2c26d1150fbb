"""The objective interface: a loss as pure functions of ``(params, batch)``.

An objective has two methods (dask-glm's ``families``, scikit-learn's
``loss / dloss``)::

    value(params, batch) -> float
    value_and_grad(params, batch) -> (float, ndarray)

``params`` is one flat array; ``batch`` is ``(X, Y)`` or ``(X, Y, w)`` (``w``
per-row weights, see :mod:`gradstep.objectives.linear`) for a model fitted to
data, or ``None`` for a function of the parameters alone.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..backend import Array

Batch = Any  # tuple (X, Y), (X, Y, w) or None


@runtime_checkable
class Objective(Protocol):
    """Anything with ``value`` and ``value_and_grad`` of ``(params, batch)``."""

    def value(self, params: Array, batch: Batch = None) -> float: ...

    def value_and_grad(self, params: Array, batch: Batch = None) -> tuple[float, Array]: ...
