"""``gradstep history show|plot FILE``: look at a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
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
    file: Annotated[Path, typer.Argument(help="A history JSON file written by --history.", metavar="FILE")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Summarise a saved run: steps, epochs, losses, final parameters (named, in the data's units), settings."""
    h = _load(file)
    loss = h.loss
    names = _names(h)
    original = _original_units(h)
    summary = {
        "steps": h.n_steps, "epochs": h.n_epochs,
        "first_loss": float(loss[0]) if loss.size else None,
        "last_loss": float(loss[-1]) if loss.size else None,
        "min_loss": float(np.nanmin(loss)) if loss.size and np.isfinite(loss).any() else None,
        "last_epoch_loss": float(h.epoch_loss[-1]) if h.n_epochs else None,
        "final_params": h.final_params, "param_names": names, "meta": h.meta,
        "final_params_units": _units(h, original),
    }
    if original is not None:
        summary["final_params_original"] = original
    if as_json:
        emit_json(summary)
        return
    table = Table("", "value", show_header=False, show_edge=False)
    for key in ("steps", "epochs", "first_loss", "last_loss", "min_loss", "last_epoch_loss"):
        value = summary[key]
        table.add_row(key.replace("_", " "), "—" if value is None else f"{value:.10g}")
    for key, value in h.meta.items():
        if key != "scaling":
            table.add_row(escape(str(key)), escape(str(value)))
    out.print(f"[bold]{escape(str(file))}[/]")
    out.print(table)
    if h.final_params is None:
        return
    if original is not None:
        params = Table("final parameter", "in the data's units", f"as descended ({h.meta.get('scale')}-scaled)",
                       show_edge=False)
        for name, a, b in zip(names, original, h.final_params):
            params.add_row(escape(name), f"{a:.10g}", f"{b:.10g}")
    else:
        units = summary["final_params_units"]
        params = Table("final parameter", f"value ({units})" if units else "value", show_edge=False)
        for name, v in zip(names, h.final_params):
            params.add_row(escape(name), f"{v:.10g}")
    out.print(params)


def _names(h) -> list[str]:
    """The parameters' names: the history's (``w[age]``, ``b``; ``x``, ``y`` for a formula), else their index."""
    n = 0 if h.final_params is None else len(h.final_params)
    given = list(h.param_names or [])
    return given if len(given) == n else [f"θ[{i}]" for i in range(n)]


def _scaling(h) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The feature scaling of an estimator's run, ``(kind, center, scale)``, as its history records it."""
    kind, stored = h.meta.get("scale"), h.meta.get("scaling")
    if not kind or not isinstance(stored, dict):
        return None
    try:
        return str(kind), np.asarray(stored["center"], dtype=float), np.asarray(stored["scale"], dtype=float)
    except (KeyError, TypeError, ValueError):
        return None


def _original_units(h) -> list[float] | None:
    """The final parameters mapped back to the data's units (``W / s``, ``b - c.W``) when the run descended on
    scaled features and its history records the scaling; None otherwise."""
    scaling = _scaling(h)
    if scaling is None or h.final_params is None:
        return None
    from ..scaling import FeatureScaling

    kind, center, scale = scaling
    theta = np.asarray(h.final_params, dtype=float)
    d = center.size
    intercept = bool((h.meta.get("params") or {}).get("fit_intercept", True))
    k = theta.size // (d + intercept) if d else 0
    if not k or k * (d + intercept) != theta.size or scale.size != d:
        return None
    W, b = FeatureScaling(kind, center, scale).to_original(theta[: d * k].reshape(d, k),
                                                           theta[d * k:] if intercept else None)
    return [*np.ravel(W).tolist(), *([] if b is None else np.ravel(b).tolist())]


def _units(h, original: list[float] | None) -> str | None:
    """The units ``final_params`` are in, in words, for an estimator's run (None for a formula's)."""
    kind = h.meta.get("scale")
    if not kind:
        return "the data's units" if "model" in h.meta else None
    return f"{kind}-scaled units" + ("" if original is not None else "; this file does not record the scaling")


@app.command(cls=Command)
def plot(
    file: Annotated[Path, typer.Argument(help="A history JSON file written by --history.", metavar="FILE")],
    out_dir: Annotated[Path, typer.Option("--out", metavar="FOLDER", help="Folder for the figures.")]
    = Path("gradstep-plots"),
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
