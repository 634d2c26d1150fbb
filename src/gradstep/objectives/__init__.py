"""Losses as pure functions of ``(params, batch)``: ``value`` and ``value_and_grad``."""

from .base import Objective
from .chunked import ChunkedObjective, ChunkSums, chunk_sums
from .function import FormulaObjective, FunctionObjective, numeric_grad
from .linear import LinearObjective
from .logistic import LogisticLoss, SoftmaxCrossEntropy
from .penalties import PENALTIES, Penalty
from .squared import LOSSES, SquaredError
from .stats import SquaredStats

__all__ = [
    "LOSSES",
    "PENALTIES",
    "ChunkSums",
    "ChunkedObjective",
    "FormulaObjective",
    "FunctionObjective",
    "LinearObjective",
    "LogisticLoss",
    "Objective",
    "Penalty",
    "SoftmaxCrossEntropy",
    "SquaredError",
    "SquaredStats",
    "chunk_sums",
    "numeric_grad",
]
