"""gradstep: gradient descent you can see and trust.

One descent loop (:func:`gradstep.loop.run`) with composable optimisers
(:mod:`gradstep.optim`), objectives (:mod:`gradstep.objectives`), a full
record of every run (:class:`History`) and diagnostics that explain it.

``import gradstep`` is cheap: the public names below are resolved on first
use (PEP 562 module ``__getattr__``), so SciPy, scikit-learn, SymPy, pandas,
PyTorch and matplotlib are imported only by the code that needs them.

Examples
--------
>>> import gradstep
>>> res = gradstep.minimize("x**2 + y**2", x0=[3, 2], lr=0.1)
>>> res.success, res.nit       # the gradient norm reached gtol=1e-5 (SciPy's default) at step 61
(True, 61)
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__  # re-exported: gradstep.__version__

if TYPE_CHECKING:   # what static type checkers and IDEs see; at run time see __getattr__
    from . import diagnostics, optim
    from .diagnostics import (
        check_grad,
        closed_form,
        condition_number,
        numeric_grad,
        stable_lr,
    )
    from .faults import NumericalError, NumericalWarning
    from .history import History
    from .loop import DivergenceError, Result, StopRule, run
    from .minimize import minimize
    from .models import LinearRegression, LogisticRegression, SoftmaxRegression

# public name -> (submodule, attribute); attribute None: the submodule itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "DivergenceError": ("loop", "DivergenceError"),
    "History": ("history", "History"),
    "LinearRegression": ("models", "LinearRegression"),
    "LogisticRegression": ("models", "LogisticRegression"),
    "NumericalError": ("faults", "NumericalError"),
    "NumericalWarning": ("faults", "NumericalWarning"),
    "SoftmaxRegression": ("models", "SoftmaxRegression"),
    "Result": ("loop", "Result"),
    "StopRule": ("loop", "StopRule"),
    "check_grad": ("diagnostics", "check_grad"),
    "closed_form": ("diagnostics", "closed_form"),
    "condition_number": ("diagnostics", "condition_number"),
    "diagnostics": ("diagnostics", None),
    "minimize": ("minimize", "minimize"),
    "numeric_grad": ("diagnostics", "numeric_grad"),
    "optim": ("optim", None),
    "run": ("loop", "run"),
    "stable_lr": ("diagnostics", "stable_lr"),
}

__all__ = [
    "DivergenceError",
    "History",
    "LinearRegression",
    "LogisticRegression",
    "NumericalError",
    "NumericalWarning",
    "Result",
    "SoftmaxRegression",
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


def __getattr__(name: str) -> Any:
    """Import the submodule behind a public name on first use, then cache it here."""
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(f".{module}", __name__)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value   # the next lookup is a plain attribute, __getattr__ is not called again
    return value


def __dir__() -> list[str]:
    """The public names, whether resolved yet or not, and the public submodules imported so far."""
    loaded = [name for name, value in globals().items() if not name.startswith("_")
              and isinstance(value, types.ModuleType) and value.__name__.startswith(f"{__name__}.")]
    return sorted({*__all__, "__version__", *loaded})


class _Package(types.ModuleType):
    """The package's module type: ``gradstep.minimize`` stays the function.

    The first import of the submodule ``gradstep.minimize`` (from anywhere)
    makes the import system set the package attribute ``minimize`` to that
    module; an eager ``from .minimize import minimize`` used to overwrite it
    straight away, and this does the same, whenever it happens.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        attribute = _LAZY[name][1] if name in _LAZY else None
        if attribute is not None and isinstance(value, types.ModuleType):
            value = getattr(value, attribute, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
