"""Losses as pure functions of ``(params, batch)``: ``value`` and ``value_and_grad``."""

from .base import Objective
from .function import FormulaObjective, FunctionObjective, numeric_grad
from .penalties import PENALTIES, Penalty
from .squared import LOSSES, SquaredError

__all__ = [
    "LOSSES",
    "PENALTIES",
    "FormulaObjective",
    "FunctionObjective",
    "Objective",
    "Penalty",
    "SquaredError",
    "numeric_grad",
]
