r"""A linear model's loss over data that comes in chunks: a file read piece by piece, a Dask array's blocks.

Every loss of :mod:`gradstep.objectives` is a mean over the ``m`` rows of a batch
(or, for ``SquaredError(loss="sum")``, a sum) plus a penalty added once. So over
chunks :math:`c` of :math:`m_c` rows, :math:`n = \sum_c m_c`,

.. math::

    f(\theta) = \frac1n \sum_c m_c\, f_c(\theta) + \alpha R(W), \qquad
    \nabla f(\theta) = \frac1n \sum_c m_c\, \nabla f_c(\theta) + \alpha \nabla R(W),

with :math:`f_c` the unpenalised loss of chunk :math:`c` (drop the :math:`1/n` and the
:math:`m_c` for a sum). :func:`chunk_sums` computes one chunk's share with the
objective's own code (so fused kernels and every backend apply), and every linear
objective takes such data as its batch: it adds the shares of whatever the data
hands back and the penalty once (:class:`~gradstep.objectives.linear.LinearObjective`,
where the path for each kind of batch is chosen). The data decides how the
chunks are visited: it has a method ``sums(objective, params, grad) -> ChunkSums``
(a stream reads its chunks one after the other, a Dask array maps over its
blocks on the workers). :class:`ChunkedObjective` is the objective under the
name a streamed model gives it.

The result is the same function as on all the rows at once; it is rounded
differently (a sum of chunk sums), so iterates agree to rounding, not bit for bit.

Examples
--------
>>> import numpy as np
>>> from gradstep.objectives import SquaredError
>>> X, Y = np.arange(6.0).reshape(3, 2), np.array([[1.0], [2.0], [4.0]])
>>> obj, theta = SquaredError(n_features=2), np.array([0.5, -0.5, 1.0])
>>> class TwoChunks:                        # rows 0-1, then row 2
...     def sums(self, objective, params, grad):
...         first = chunk_sums(objective, params, (X[:2], Y[:2]), grad)
...         return first + chunk_sums(objective, params, (X[2:], Y[2:]), grad)
>>> value, g = obj.value_and_grad(theta, TwoChunks())
>>> v0, g0 = obj.value_and_grad(theta, (X, Y))
>>> bool(np.isclose(value, v0)), bool(np.allclose(g, g0))
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .linear import LinearObjective, unpenalised


@dataclass(frozen=True)
class ChunkSums:
    """The unpenalised loss summed over some rows (each chunk's mean times its rows), its gradient, the rows.

    ``grad`` is None when only the value was asked for. Two of them add (``a + b``).
    """

    value: float
    grad: Any
    rows: int

    def __add__(self, other: ChunkSums) -> ChunkSums:
        grad = None if self.grad is None or other.grad is None else self.grad + other.grad
        return ChunkSums(self.value + other.value, grad, self.rows + other.rows)


class ChunkedData(Protocol):
    """Data visited chunk by chunk: it adds up :func:`chunk_sums` over its chunks."""

    def sums(self, objective: LinearObjective, params: Any, grad: bool) -> ChunkSums: ...


def chunk_sums(objective: LinearObjective, params: Any, batch: tuple, grad: bool = True) -> ChunkSums:
    """One chunk's share: the loss of ``objective`` (give it :func:`unpenalised`) on ``batch`` times its rows.

    ``batch`` is ``(X, Y)`` or ``(X, Y, w)`` as for the objective itself.
    """
    m = int(batch[0].shape[0])
    weight = 1.0 if objective.summed else float(m)
    if not grad:
        return ChunkSums(weight * objective.value(params, batch), None, m)
    value, g = objective.value_and_grad(params, batch)
    return ChunkSums(weight * value, g * weight, m)


@dataclass(frozen=True)
class ChunkedObjective:
    """``objective`` on :class:`ChunkedData` and on an ordinary batch, unchanged: a linear objective
    takes both itself, and this wrapper only names it.

    Every attribute of the wrapped objective (``n_params``, ``unpack``, ``penalty`` ...)
    reads through, so a model can use it in place of the objective.
    """

    objective: LinearObjective

    def __getattr__(self, name: str) -> Any:
        if name == "objective":  # not set yet (while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.objective, name)

    def value(self, params: Any, batch: Any) -> float:
        return self.objective.value(params, batch)

    def value_and_grad(self, params: Any, batch: Any) -> tuple[float, Any]:
        return self.objective.value_and_grad(params, batch)


__all__ = ["ChunkSums", "ChunkedData", "ChunkedObjective", "chunk_sums", "unpenalised"]
