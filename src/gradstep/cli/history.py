"""``gradstep history show|plot FILE``: look at a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from .common import Command, Group, emit_json, fail, out, plots_module, written

app = typer.Typer(cls=Group, help="Summarise or plot a saved run (a history JSON file).", no_args_is_help=True)


def _load(file: Path):
    from ..history import History

    try:
        return History.from_json(file)
    except (ValueError, KeyError, TypeError) as e:
        fail(f"{file}: {e}")


@app.command(cls=Command)
def show(
    file: Annotated[Path, typer.Argument(help="A history JSON file written by --history.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Summarise a saved run: steps, epochs, losses, final parameters, settings."""
    h = _load(file)
    loss = h.loss
    summary = {
        "steps": h.n_steps, "epochs": h.n_epochs,
        "first_loss": float(loss[0]) if loss.size else None,
        "last_loss": float(loss[-1]) if loss.size else None,
        "min_loss": float(np.nanmin(loss)) if loss.size and np.isfinite(loss).any() else None,
        "last_epoch_loss": float(h.epoch_loss[-1]) if h.n_epochs else None,
        "final_params": h.final_params, "param_names": list(h.param_names or []), "meta": h.meta,
    }
    if as_json:
        emit_json(summary)
        return
    table = Table("", "value", show_header=False, show_edge=False)
    for key in ("steps", "epochs", "first_loss", "last_loss", "min_loss", "last_epoch_loss"):
        value = summary[key]
        table.add_row(key.replace("_", " "), "—" if value is None else f"{value:.10g}")
    if h.final_params is not None:
        labels = h.param_names or [str(i) for i in range(len(h.final_params))]
        for name, v in zip(labels, h.final_params):
            table.add_row(f"final {name}", f"{v:.10g}")
    for key, value in h.meta.items():
        table.add_row(str(key), str(value))
    out.print(f"[bold]{file}[/]")
    out.print(table)


@app.command(cls=Command)
def plot(
    file: Annotated[Path, typer.Argument(help="A history JSON file written by --history.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the figures.")] = Path("gradstep-plots"),
) -> None:
    """Plot a saved run: loss, gradient norm and learning rate per step; the path on the contours of
    its formula when the run was a two-variable `minimize`."""
    h = _load(file)
    plots = plots_module()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / "loss.png"]
    plots.plot_loss(h, [file.stem], path=files[0])
    formula = h.meta.get("fun")
    if isinstance(formula, str) and h.path is not None and h.path.shape[1] == 2:
        from ..expression import FormulaError, parse

        try:
            parsed = parse(formula, h.param_names, cache=True)
        except FormulaError:
            parsed = None
        if parsed is not None:
            files.append(out_dir / "contour.png")
            plots.plot_contour(plots.formula_surface(parsed, (0, 1), h.final_params), h, [file.stem],
                               names=list(parsed.variables), path=files[-1])
    written(files, False)
