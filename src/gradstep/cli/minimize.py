"""``gradstep minimize`` and ``gradstep check-grad``: typed-in formulas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from .common import (
    CHECKPOINTS,
    EXIT_DIVERGED,
    OPTIMISER,
    OPTIMIZER_DEFAULT,
    OPTIMIZER_LIST,
    OUTPUT,
    START,
    STOPPING,
    ClipNormOption,
    ClipValueOption,
    OptOption,
    ScheduleOption,
    emit_json,
    fail,
    floats,
    names,
    optimizer_params,
    optional_float,
    out,
    plain_optimizer,
    positive_lr,
    schedule,
    written,
)
from .stopping import checkpoint_file, on_interruption, stoppable, stopped


def parse_formula(text: str, variables: str | None):
    """The parsed formula, its derivatives from the on-disk cache when there (no SymPy import)."""
    from ..expression import FormulaError, parse

    try:
        return parse(text, names(variables), cache=True)
    except FormulaError as e:
        fail(f"formula refused: {e}")
    except (TypeError, ValueError) as e:
        fail(str(e))


def minimize(
    formula: Annotated[str, typer.Argument(help='A formula such as "x**2 + y**2".', metavar="FORMULA")],
    x0: Annotated[str, typer.Option("--x0", metavar="X,Y,...", rich_help_panel=START,
                                    help="Start, one value per variable: 3,2")],
    variables: Annotated[str | None, typer.Option(metavar="A,B,...", rich_help_panel=START,
                                                  help="Variable order, e.g. w,b.",
                                                  show_default="alphabetical")] = None,
    optimizer: Annotated[str, typer.Option(metavar="NAME", rich_help_panel=OPTIMISER,
                                           help="auto (plain gradient descent at --lr: gd, as fit's auto with a "
                                                f"number for --lr), {OPTIMIZER_LIST}.")] = OPTIMIZER_DEFAULT,
    lr: Annotated[float, typer.Option(metavar="NUMBER", rich_help_panel=OPTIMISER,
                                      help="Learning rate, > 0 (the start of the schedule).")] = 0.01,
    schedule_spec: ScheduleOption = None,
    opt: OptOption = None,
    clip_value: ClipValueOption = None,
    clip_norm: ClipNormOption = None,
    steps: Annotated[int, typer.Option(metavar="N", rich_help_panel=STOPPING,
                                       help="Most steps to make (the library's default: enough for gd at lr 0.01 "
                                            "to reach --gtol on a well-scaled problem).")] = 10_000,
    gtol: Annotated[str, typer.Option(metavar="NUMBER|none", rich_help_panel=STOPPING,
                                      help="Converge when the gradient norm is at most this (SciPy BFGS's default; "
                                           "'none': off, and the run can then only spend its --steps).")] = "1e-5",
    tol: Annotated[str, typer.Option(metavar="NUMBER|none", rich_help_panel=STOPPING,
                                     help="Stop when f improves by less than this.")] = "none",
    plot: Annotated[Path | None, typer.Option("--plot", metavar="FOLDER", rich_help_panel=OUTPUT,
                                              help="Write the curve/contour with the path to this folder.")] = None,
    history: Annotated[Path | None, typer.Option(metavar="FILE", rich_help_panel=OUTPUT,
                                                 help="Write the run's history to this JSON file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", rich_help_panel=OUTPUT,
                                          help="Print machine-readable JSON (with the path).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", rich_help_panel=OUTPUT,
                                        help="Print only the final point.")] = False,
    checkpoint: Annotated[Path | None, typer.Option(metavar="FILE", rich_help_panel=CHECKPOINTS,
                                                    help="Save the run to this file every --checkpoint-every steps "
                                                         "and on Ctrl-C / SIGTERM.")] = None,
    checkpoint_every: Annotated[int, typer.Option(metavar="STEPS", rich_help_panel=CHECKPOINTS,
                                                  help="Steps between two checkpoints.")] = 1000,
    resume: Annotated[bool, typer.Option("--resume", rich_help_panel=CHECKPOINTS,
                                         help="Go on from --checkpoint if it exists.")] = False,
) -> None:
    """Minimise a typed-in formula by gradient descent with its exact gradient."""
    from ..loop import INTERRUPTED
    from ..minimize import minimize as run_minimize

    parsed = parse_formula(formula, variables)
    positive_lr(lr)
    optimizer = plain_optimizer(optimizer)
    ck = on_interruption(checkpoint_file(checkpoint, checkpoint_every, resume), "minimize")
    files: list[Path] = []
    with stoppable():
        try:
            res = run_minimize(formula, floats(x0, "--x0"), optimizer=optimizer, lr=schedule(schedule_spec, lr),
                               steps=steps, tol=optional_float(tol, "--tol"), gtol=optional_float(gtol, "--gtol"),
                               variables=list(parsed.variables), optimizer_params=optimizer_params(opt) or None,
                               clip_value=clip_value, clip_norm=clip_norm, checkpoint=ck.path,
                               checkpoint_every=ck.every, resume=ck.resume)
        except (TypeError, ValueError, FileNotFoundError) as e:
            fail(str(e))
        if history is not None:
            res.history.to_json(history)
            files.append(history)
        if res.status == INTERRUPTED:
            stopped("minimize", res.nit, Path(ck.path), files)
    if plot is not None:
        from .figures import formula_figures

        files += formula_figures(parsed, [res], [f"{optimizer}, lr {lr:g}"], plot)
    if as_json:
        emit_json({
            "formula": formula, "variables": list(res.variables), "x": res.x, "fun": res.fun,
            "jac": res.jac, "nit": res.nit, "success": bool(res.success), "status": res.status,
            "message": res.message, "path": res.history.path, "loss": res.history.loss,
            "files": [str(p) for p in files],
        })
    elif quiet:
        print(" ".join(f"{v:.10g}" for v in res.x))
    else:
        out.print(f"[bold]gradstep minimize[/] {formula}  ({optimizer}, lr {lr:g})", highlight=False)
        path, loss = res.history.path, res.history.loss
        table = Table("step", *res.variables, "f", show_edge=False)
        rows = list(range(len(path)))
        shown = rows if len(rows) <= 12 else rows[:6] + [-1] + rows[-5:]
        for k in shown:
            if k == -1:
                table.add_row("…", *["…"] * len(res.variables), "…")
                continue
            f = loss[k] if k < len(loss) else res.fun
            table.add_row(str(k), *[f"{v:.8g}" for v in path[k]], f"{f:.8g}")
        out.print(table)
        message = res.message.removeprefix("converged: ")   # said once, by the outcome
        out.print(f"{_outcome(res.status)}: {message}", highlight=False)
        written(files, quiet)
    if res.status == 2:
        raise typer.Exit(EXIT_DIVERGED)


def _outcome(status: int) -> str:
    """How a run ended, in the summary's words: only a met rule is a success; a spent budget is no
    failure of the command (exit 0), but the run did not converge."""
    from ..loop import CONVERGED, MAX_ITER

    if status == CONVERGED:
        return "[green]converged[/]"
    return "[yellow]did not converge[/]" if status == MAX_ITER else "[red]failed[/]"


def check_grad(
    formula: Annotated[str, typer.Argument(help='A formula such as "x**2 * y".', metavar="FORMULA")],
    at: Annotated[str, typer.Option("--at", metavar="X,Y,...", help="The point, one value per variable: 1,2")],
    variables: Annotated[str | None, typer.Option(metavar="A,B,...", help="Variable order.",
                                                  show_default="alphabetical")] = None,
    h: Annotated[float, typer.Option(metavar="NUMBER", help="Step of the central differences.")] = 1e-6,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Compare the exact (symbolic) gradient with central differences, coordinate by coordinate."""
    from ..diagnostics import check_grad as relative_errors
    from ..objectives import numeric_grad

    parsed = parse_formula(formula, variables)
    x = np.array(floats(at, "--at"))
    if x.size != len(parsed.variables):
        fail(f"--at has {x.size} values but the formula has {len(parsed.variables)} variables "
             f"{list(parsed.variables)}; give one value per variable")
    if not h > 0:
        fail(f"--h must be > 0, got {h}")
    exact, numeric = parsed.grad(x), numeric_grad(parsed, x, h)
    errors = relative_errors(parsed, parsed.grad, x, h)
    if as_json:
        emit_json({"formula": formula, "variables": list(parsed.variables), "at": x, "exact": exact,
                   "numeric": numeric, "relative_error": errors, "value": float(parsed(x))})
        return
    table = Table("variable", "exact ∂f", "numeric ∂f", "relative error", show_edge=False)
    for name, a, n, e in zip(parsed.variables, exact, numeric, errors):
        table.add_row(name, f"{a:.12g}", f"{n:.12g}", f"{e:.2e}")
    out.print(f"[bold]gradstep check-grad[/] {formula} at {x.tolist()} (h = {h:g})", highlight=False)
    out.print(table)
    worst = float(np.max(errors))
    verdict = "agree" if worst < 1e-6 else "DISAGREE (check the formula's smoothness at this point, or h)"
    out.print(f"largest relative error {worst:.2e}: exact and numeric gradients {verdict}", highlight=False)
