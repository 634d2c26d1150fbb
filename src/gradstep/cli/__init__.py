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

from typing import Annotated

import typer

from . import history
from .common import Command, Group
from .datasets import datasets
from .demo import demo
from .fit import fit
from .minimize import check_grad, minimize
from .serve import serve
from .sweep import sweep

app = typer.Typer(
    cls=Group,
    help="gradstep: gradient descent you can see and trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(cls=Command)(demo)
app.command(cls=Command)(fit)
app.command(cls=Command)(minimize)
app.command(cls=Command)(sweep)
app.command(cls=Command)(serve)
app.command("check-grad", cls=Command)(check_grad)
app.command(cls=Command)(datasets)
app.add_typer(history.app, name="history")


def version() -> str:
    """gradstep's version: the installed distribution's (``importlib.metadata``), else the package's own."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("gradstep")
    except PackageNotFoundError:
        from .._version import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        print(f"gradstep {version()}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="Print gradstep's version and exit.")] = False,
) -> None:
    pass

__all__ = ["app"]
