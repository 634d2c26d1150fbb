"""``gradstep sweep``: one problem, a grid of learning rates, optimisers and batch sizes."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from .common import (
    CHECKPOINTS,
    GRID,
    OPTIMIZER_DEFAULT,
    OPTIMIZER_LIST,
    OUTPUT,
    START,
    STOPPING,
    emit_json,
    fail,
    floats,
    load_data,
    names,
    out,
    plain_optimizer,
    positive_lr,
    written,
)
from .stopping import NEVER, Session, stoppable


def _batch_sizes(text: str) -> list[int | None]:
    sizes: list[int | None] = []
    for part in names(text) or []:
        if part.lower() in ("all", "full", "none"):
            sizes.append(None)
            continue
        try:
            sizes.append(int(part))
        except ValueError:
            fail(f"--batch-size takes whole numbers or 'all', e.g. all,10,1; got {part!r}")
    return sizes


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def sweep(
    file: Annotated[Path | None, typer.Argument(help="Data file (default: the tutorial line unless --formula).",
                                                metavar="FILE", show_default=False)] = None,
    formula: Annotated[str | None, typer.Option("--formula", "-f", metavar="FORMULA", rich_help_panel=START,
                                                help='Sweep on a formula instead, e.g. "x**2 + y**2".')] = None,
    x0: Annotated[str | None, typer.Option("--x0", metavar="X,Y,...", rich_help_panel=START,
                                           help="Start for --formula: 3,2")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", metavar="NAME", rich_help_panel=START,
                                                help="A bundled dataset.",
                                                show_default="tutorial-line when no FILE")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", metavar="COLUMN", rich_help_panel=START,
                                               help="Column to predict (with a file).")] = None,
    loss: Annotated[str, typer.Option(metavar="NAME", rich_help_panel=START,
                                      help="Squared-error convention (data).")] = "mse",
    scale: Annotated[str, typer.Option(metavar="NAME", rich_help_panel=START,
                                       help="Feature scaling (data): standard, minmax, none.")] = "none",
    lr: Annotated[str, typer.Option(metavar="A,B,...", rich_help_panel=GRID,
                                    help="Learning rates > 0, comma-separated.")] = "0.4,0.1,0.01",
    optimizer: Annotated[str, typer.Option(metavar="A,B,...", rich_help_panel=GRID,
                                           help="Optimisers, comma-separated: auto (plain gradient descent at "
                                                f"each --lr: gd), {OPTIMIZER_LIST}.")] = OPTIMIZER_DEFAULT,
    batch_size: Annotated[str, typer.Option(metavar="A,B,...", rich_help_panel=GRID,
                                            help="Batch sizes for data, comma-separated ('all' = batch "
                                                 "GD).")] = "all",
    seed: Annotated[int, typer.Option(metavar="N", rich_help_panel=GRID, help="Seed of the shuffling.")] = 0,
    steps: Annotated[int, typer.Option(metavar="N", rich_help_panel=STOPPING,
                                       help="Steps every run makes (formula).")] = 50,
    epochs: Annotated[int, typer.Option(metavar="N", rich_help_panel=STOPPING,
                                        help="Epochs every run makes (data).")] = 200,
    tol: Annotated[float, typer.Option(metavar="NUMBER", rich_help_panel=STOPPING,
                                       help="A run has converged once within this: the gradient norm (formula), "
                                            "the loss's relative gap to the closed-form optimum (data); 'steps "
                                            "to tol' is the first step there.")] = 1e-6,
    plot: Annotated[Path | None, typer.Option("--plot", metavar="FOLDER", rich_help_panel=OUTPUT,
                                              help="Write the overlaid figures to this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", rich_help_panel=OUTPUT,
                                          help="Print machine-readable JSON.")] = False,
    checkpoint: Annotated[Path | None, typer.Option(metavar="FILE", rich_help_panel=CHECKPOINTS,
                                                    help="Where Ctrl-C / SIGTERM saves the sweep.",
                                                    show_default="gradstep-sweep.ckpt")] = None,
    resume: Annotated[bool, typer.Option("--resume", rich_help_panel=CHECKPOINTS,
                                         help="Go on from --checkpoint: finished runs are not redone.")] = False,
) -> None:
    """Run a grid of settings on one problem: final loss, steps to tolerance, divergence, overlaid paths."""
    session = Session("sweep", checkpoint, resume, {
        "file": str(file) if file else None, "formula": formula, "x0": x0, "dataset": dataset, "target": target,
        "lr": lr, "optimizer": optimizer, "batch_size": batch_size, "steps": steps, "epochs": epochs, "loss": loss,
        "scale": scale, "seed": seed})
    with stoppable():
        _sweep(session, file, formula, x0, dataset, target, lr, optimizer, batch_size, steps, epochs, loss, scale, tol,
               seed, plot, as_json)


@dataclass
class _Grid:
    """The runs of a sweep and what its report says about them: ``problem`` in words, the ``budget``
    every run spends (``{"steps": n}`` or ``{"epochs": n}``), the convergence ``rule``, and
    ``figures(folder)``, which writes the overlaid figures of the runs kept (the ones that did not diverge)."""

    problem: str
    budget: dict[str, int]
    rule: str
    figures: Callable[[Path], list[Path]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    runs: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def _sweep(session: Session, file: Path | None, formula: str | None, x0: str | None, dataset: str | None,
           target: str | None, lr: str, optimizer: str, batch_size: str, steps: int, epochs: int, loss: str,
           scale: str, tol: float, seed: int, plot: Path | None, as_json: bool) -> None:
    lrs = [positive_lr(rate) for rate in floats(lr, "--lr")]
    optimizers = [plain_optimizer(name) for name in names(optimizer) or [OPTIMIZER_DEFAULT]]
    if formula is not None:
        if file is not None or dataset is not None:
            fail("give --formula or data (FILE / --dataset), not both")
        grid = _formula_grid(session, formula, x0, optimizers, lrs, steps, tol)
    else:
        grid = _data_grid(session, load_data(file, dataset, target, None, None, False, None), optimizers, lrs,
                          _batch_sizes(batch_size), epochs, loss, scale, seed, tol)
    _report(grid, tol, plot, as_json)


def _formula_grid(session: Session, formula: str, x0: str | None, optimizers: list[str], lrs: list[float],
                  steps: int, tol: float) -> _Grid:
    """Each optimiser at each learning rate on ``formula`` from ``x0``, ``steps`` steps each."""
    from ..loop import INTERRUPTED
    from ..minimize import minimize
    from .figures import formula_figures
    from .minimize import parse_formula

    if x0 is None:
        fail("--formula needs a start: --x0 3,2")
    parsed = parse_formula(formula, None)
    start = floats(x0, "--x0")
    grid = _Grid(f"{formula} from ({', '.join(f'{v:g}' for v in start)})", {"steps": steps},
                 f"the gradient norm at most tol={tol:g}",
                 lambda folder: formula_figures(parsed, grid.runs, grid.labels, folder, gif=False))
    for opt_name, rate in itertools.product(optimizers, lrs):
        def one(ck: Path, again: bool, opt_name: str = opt_name, rate: float = rate) -> tuple:
            try:
                # gtol off: every run does its --steps, so that "steps to tol" is measured on its record
                # (a run stopped by minimize's gtol would not record the step that met it)
                res = minimize(formula, start, optimizer=opt_name, lr=rate, steps=steps, gtol=None,
                               checkpoint=ck, checkpoint_every=NEVER, resume=again)
            except (TypeError, ValueError) as bad:
                fail(str(bad))
            return res, res.nit if res.status == INTERRUPTED else None, []

        res = session.run(f"{opt_name}, lr {rate!r}", one)
        k = _first(res.history.grad_norm <= tol)
        grid.rows.append(_row(opt_name, rate, None, float(res.fun), k, res.status == 2, res.message))
        grid.runs.append(res)
        grid.labels.append(f"{opt_name}, lr {rate:g}")
    return grid


def _data_grid(session: Session, ds: Any, optimizers: list[str], lrs: list[float], batch_sizes: list[int | None],
               epochs: int, loss: str, scale: str, seed: int, tol: float) -> _Grid:
    """Each optimiser at each learning rate and batch size fitting a line to ``ds``, ``epochs`` epochs each."""
    from ..diagnostics import closed_form
    from ..loop import INTERRUPTED, DivergenceError
    from ..models import LinearRegression
    from .figures import model_figures

    X, y = ds.X, np.asarray(ds.y, dtype=float)
    grid = _Grid(ds.description, {"epochs": epochs},
                 f"the epoch loss within tol={tol:g} (relative) of the closed-form optimum",
                 lambda folder: model_figures(grid.runs, grid.labels, X, y, folder, ds.feature_names,
                                              ds.target_name, gif=False))
    for opt_name, rate, bs in itertools.product(optimizers, lrs, batch_sizes):
        def one(ck: Path, again: bool, opt_name: str = opt_name, rate: float = rate, bs: int | None = bs) -> tuple:
            est = LinearRegression(optimizer=opt_name, lr=rate, epochs=epochs, batch_size=bs, loss=loss,
                                   scale=None if scale == "none" else scale, tol=None, random_state=seed)
            try:
                est.fit(X, y, checkpoint=ck, checkpoint_every=NEVER, resume=again)
            except DivergenceError as bad:
                return (est, bad.history, True, str(bad)), None, []
            except (TypeError, ValueError, FileNotFoundError) as bad:
                fail(str(bad))
            stopped_at = est.t_ if est.result_.status == INTERRUPTED else None
            return (est, est.history_, False, est.result_.message), stopped_at, []

        est, hist, diverged, message = session.run(f"{opt_name}, lr {rate!r}, batch {bs or 'all'}", one)
        if not diverged:
            Z, Y = est.fit_space(X, y)
            coef, b = closed_form(Z, Y, True, loss)
            best = est.objective_.value(est.objective_.pack(np.asarray(coef).T, np.atleast_1d(b)), (Z, Y))
            e = _first(hist.epoch_loss - best <= tol * max(1.0, abs(best)))
            grid.runs.append(est)
            grid.labels.append(f"{opt_name}, lr {rate:g}, batch {bs or 'all'}")
        grid.rows.append(_row(opt_name, rate, bs, float(hist.epoch_loss[-1]) if hist.n_epochs else float("nan"),
                              None if diverged or e is None else int(hist.to_pandas("epochs")["step"][e]), diverged,
                              message))
    return grid


def _report(grid: _Grid, tol: float, plot: Path | None, as_json: bool) -> None:
    """Write the figures to ``plot`` (if given) and print the grid's table, or its JSON."""
    files = grid.figures(plot) if plot is not None and grid.runs else []
    if as_json:
        emit_json({"budget": grid.budget, "tol": tol, "converged_when": grid.rule, "runs": grid.rows,
                   "files": [str(p) for p in files]})
        return
    (unit, n), = grid.budget.items()
    out.print(f"[bold]gradstep sweep[/] — {escape(grid.problem)}", highlight=False)
    out.print(f"every run makes {n} {unit}; converged: {grid.rule} ('steps to tol': the first step there)",
              highlight=False)
    table = Table("optimizer", "lr", "batch", "final loss", "steps to tol", "outcome", show_edge=False)
    for r in grid.rows:
        table.add_row(r["optimizer"], f"{r['lr']:g}", str(r["batch_size"] or "all"), f"{r['final_loss']:.6g}",
                      "—" if r["steps_to_tol"] is None else str(r["steps_to_tol"]), OUTCOME_STYLE[r["outcome"]])
    out.print(table)
    written(files, False)


OUTCOME_STYLE = {"converged": "[green]converged[/]", "not converged": "[yellow]not converged[/]",
                 "diverged": "[red]diverged[/]"}


def _row(optimizer: str, lr: float, batch_size: int | None, final_loss: float, steps_to_tol: int | None,
         diverged: bool, message: str) -> dict[str, Any]:
    """One run of the grid. Its rules are off (every run spends its budget, so that its record holds the step
    that met the tolerance): it converged when it reached the sweep's ``--tol``, and did not otherwise."""
    outcome = "diverged" if diverged else "not converged" if steps_to_tol is None else "converged"
    return {"optimizer": optimizer, "lr": lr, "batch_size": batch_size, "final_loss": final_loss,
            "steps_to_tol": steps_to_tol, "diverged": diverged, "converged": outcome == "converged",
            "outcome": outcome, "message": message}
