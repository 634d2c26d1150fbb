"""The ``gradstep`` command (Typer + Rich).

Exit codes: 0 the run ended (converged, or its budget spent: then it says "did not converge" and why),
1 the run diverged, 2 bad input (file, column, formula, option).
Every command's maths is the library's: these modules only parse options and print.

Start-up is kept short: a command imports what it uses when it runs (matplotlib
only for figures, scikit-learn only for models), and the exact gradients of typed-in
formulas come from the on-disk cache of :mod:`gradstep.cache` after the first run,
without importing SymPy (``GRADSTEP_CACHE_DIR``, ``GRADSTEP_NO_CACHE=1``).
"""

from __future__ import annotations

import typer

from . import history
from .datasets import datasets
from .demo import demo
from .fit import fit
from .minimize import check_grad, minimize
from .serve import serve
from .sweep import sweep

app = typer.Typer(
    help="gradstep: gradient descent you can see and trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(demo)
app.command()(fit)
app.command()(minimize)
app.command()(sweep)
app.command()(serve)
app.command("check-grad")(check_grad)
app.command()(datasets)
app.add_typer(history.app, name="history")

__all__ = ["app"]
