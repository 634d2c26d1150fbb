"""gradstep: gradient descent you can see and trust.

One descent loop (:func:`gradstep.loop.run`) with composable optimisers
(:mod:`gradstep.optim`), objectives (:mod:`gradstep.objectives`), a full
record of every run (:class:`History`) and diagnostics that explain it.

Examples
--------
>>> import gradstep
>>> res = gradstep.minimize("x**2 + y**2", x0=[3, 2], lr=0.1, steps=50)
>>> res.success
True
"""

from . import diagnostics, optim
from .diagnostics import check_grad, closed_form, condition_number, numeric_grad, stable_lr
from .history import History
from .loop import DivergenceError, Result, StopRule, run
from .minimize import minimize
from .models import LinearRegression, LogisticRegression, SoftmaxRegression

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "History",
    "LinearRegression",
    "LogisticRegression",
    "SoftmaxRegression",
    "Result",
    "StopRule",
    "check_grad",
    "closed_form",
    "condition_number",
    "diagnostics",
    "minimize",
    "numeric_grad",
    "optim",
    "run",
    "stable_lr",
]
