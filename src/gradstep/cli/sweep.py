"""``gradstep sweep``: one problem, a grid of learning rates, optimisers and batch sizes."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from .common import emit_json, fail, floats, load_data, names, out, written
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
    file: Annotated[Path | None, typer.Argument(help="Data file (default: the tutorial line unless --formula).")] = None,
    formula: Annotated[str | None, typer.Option("--formula", "-f", help='Sweep on a formula instead, e.g. "x**2 + y**2".')] = None,
    x0: Annotated[str | None, typer.Option("--x0", help="Start for --formula: 3,2")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="A bundled dataset.")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Column to predict (with a file).")] = None,
    lr: Annotated[str, typer.Option(help="Learning rates, comma-separated.")] = "0.4,0.1,0.01",
    optimizer: Annotated[str, typer.Option(help="Optimisers, comma-separated.")] = "gd",
    batch_size: Annotated[str, typer.Option(help="Batch sizes for data, comma-separated ('all' = batch GD).")] = "all",
    steps: Annotated[int, typer.Option(help="Steps per run (formula).")] = 50,
    epochs: Annotated[int, typer.Option(help="Epochs per run (data).")] = 200,
    loss: Annotated[str, typer.Option(help="Squared-error convention (data).")] = "mse",
    scale: Annotated[str, typer.Option(help="Feature scaling (data): standard, minmax, none.")] = "none",
    tol: Annotated[float, typer.Option(help="Tolerance for 'steps to tol': gradient norm (formula), relative gap to the closed-form loss (data).")] = 1e-6,
    seed: Annotated[int, typer.Option(help="Seed of the shuffling.")] = 0,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the overlaid figures to this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    checkpoint: Annotated[Path | None, typer.Option(help="Where Ctrl-C / SIGTERM saves the sweep (default "
                                                    "gradstep-sweep.ckpt).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Go on from --checkpoint: finished runs are not redone.")] = False,
) -> None:
    """Run a grid of settings on one problem: final loss, steps to tolerance, divergence, overlaid paths."""
    session = Session("sweep", checkpoint, resume, {
        "file": str(file) if file else None, "formula": formula, "x0": x0, "dataset": dataset, "target": target,
        "lr": lr, "optimizer": optimizer, "batch_size": batch_size, "steps": steps, "epochs": epochs, "loss": loss,
        "scale": scale, "seed": seed})
    with stoppable():
        _sweep(session, file, formula, x0, dataset, target, lr, optimizer, batch_size, steps, epochs, loss, scale, tol,
               seed, plot, as_json)


def _sweep(session: Session, file: Path | None, formula: str | None, x0: str | None, dataset: str | None,
           target: str | None, lr: str, optimizer: str, batch_size: str, steps: int, epochs: int, loss: str,
           scale: str, tol: float, seed: int, plot: Path | None, as_json: bool) -> None:
    from ..loop import INTERRUPTED

    lrs = floats(lr, "--lr")
    optimizers = names(optimizer) or ["gd"]
    rows: list[dict[str, Any]] = []
    runs: list[Any] = []
    labels: list[str] = []
    if formula is not None:
        from ..minimize import minimize
        from .minimize import parse_formula

        if file is not None or dataset is not None:
            fail("give --formula or data (FILE / --dataset), not both")
        if x0 is None:
            fail("--formula needs a start: --x0 3,2")
        parsed = parse_formula(formula, None)
        start = floats(x0, "--x0")
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
            rows.append({"optimizer": opt_name, "lr": rate, "batch_size": None, "final_loss": float(res.fun),
                         "steps_to_tol": k, "diverged": res.status == 2, "message": res.message})
            runs.append(res)
            labels.append(f"{opt_name}, lr {rate:g}")
    else:
        from ..diagnostics import closed_form
        from ..loop import DivergenceError
        from ..models import LinearRegression

        ds = load_data(file, dataset, target, None, None, False, None)
        X, y = ds.X, np.asarray(ds.y, dtype=float)
        for opt_name, rate, bs in itertools.product(optimizers, lrs, _batch_sizes(batch_size)):
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
                Z, Y = est._fit_space(X, y)
                coef, b = closed_form(Z, Y, True, loss)
                best = est._objective_.value(est._objective_.pack(np.asarray(coef).T, np.atleast_1d(b)), (Z, Y))
                e = _first(hist.epoch_loss - best <= tol * max(1.0, abs(best)))
                runs.append(est)
                labels.append(f"{opt_name}, lr {rate:g}, batch {bs or 'all'}")
            rows.append({"optimizer": opt_name, "lr": rate, "batch_size": bs,
                         "final_loss": float(hist.epoch_loss[-1]) if hist.n_epochs else float("nan"),
                         "steps_to_tol": None if diverged or e is None else int(hist.to_pandas("epochs")["step"][e]),
                         "diverged": diverged, "message": message})
    files: list[Path] = []
    if plot is not None and runs:
        from .figures import formula_figures, model_figures

        if formula is not None:
            files = formula_figures(parsed, runs, labels, plot, gif=False)
        else:
            files = model_figures(runs, labels, X, y, plot, ds.feature_names, ds.target_name, gif=False)
    if as_json:
        emit_json({"runs": rows, "files": [str(p) for p in files]})
        return
    table = Table("optimizer", "lr", "batch", "final loss", "steps to tol", "outcome", show_edge=False)
    for r in rows:
        table.add_row(r["optimizer"], f"{r['lr']:g}", str(r["batch_size"] or "all"), f"{r['final_loss']:.6g}",
                      "—" if r["steps_to_tol"] is None else str(r["steps_to_tol"]),
                      "[red]diverged[/]" if r["diverged"] else "ok")
    out.print(table)
    written(files, False)
