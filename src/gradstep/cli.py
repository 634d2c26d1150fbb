"""The ``gradstep`` command: fit a line to data, minimise a typed-in formula.

Exit codes: 0 success, 1 the run diverged, 2 bad input (file, column, formula, option).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="gradstep: gradient descent you can see and trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _optional_float(text: str | None, name: str) -> float | None:
    if text is None or text.strip().lower() in ("none", "off", ""):
        return None
    try:
        value = float(text)
    except ValueError:
        _fail(f"{name} must be a number or 'none', got {text!r}")
    return value


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        _fail(f"{name} must be numbers separated by commas, e.g. 3,2; got {text!r}")
    return []


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def _emit_json(payload: dict[str, Any]) -> None:
    print(json.dumps({k: _jsonable(v) for k, v in payload.items()}, indent=2))


@app.command()
def fit(
    file: Optional[Path] = typer.Argument(None, help="CSV file with a header row; leave out for the bundled tutorial line."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Column to predict (required with a file)."),
    features: Optional[str] = typer.Option(None, help="Comma-separated feature columns (default: all others)."),
    delimiter: Optional[str] = typer.Option(None, help="CSV delimiter (default: detected)."),
    optimizer: str = typer.Option("sgd", help="gd/sgd, momentum, nesterov, adagrad, rmsprop, adam."),
    lr: float = typer.Option(0.01, help="Learning rate."),
    epochs: int = typer.Option(5000, help="Maximum passes over the data."),
    batch_size: Optional[int] = typer.Option(None, help="Rows per step (default: all = batch GD; 1 = per-sample SGD)."),
    loss: str = typer.Option("mse", help="mse (mean of squares), half_mse (1/2m), sum."),
    no_intercept: bool = typer.Option(False, "--no-intercept", help="Fit y = w.x without b."),
    tol: str = typer.Option("none", help="Stop when the epoch loss improves by less than this (or 'none')."),
    seed: int = typer.Option(0, help="Seed of the shuffling."),
    history: Optional[Path] = typer.Option(None, help="Write the run's history to this JSON file."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the fitted coefficients."),
) -> None:
    """Fit linear regression by gradient descent and compare with the closed-form answer."""
    from .data.datasets import load_dataset
    from .data.readers import DataError, read_csv
    from .diagnostics import closed_form, condition_number, stable_lr
    from .loop import DivergenceError
    from .models import LinearRegression

    try:
        if file is None:
            if target is not None or features is not None:
                _fail("--target and --features go with a FILE; without one the bundled tutorial line is used")
            ds = load_dataset("tutorial-line")
        else:
            if target is None:
                _fail(f"give the column to predict with --target COLUMN (file {file})")
            feats = [f.strip() for f in features.split(",")] if features else None
            ds = read_csv(file, target, feats, delimiter)
    except DataError as e:
        _fail(str(e))
    model = LinearRegression(
        loss=loss, fit_intercept=not no_intercept, optimizer=optimizer, lr=lr, epochs=epochs,
        batch_size=batch_size, shuffle=True, random_state=seed, tol=_optional_float(tol, "--tol"),
    )
    t0 = time.perf_counter()
    try:
        model.fit(ds.X, ds.y)
    except DivergenceError as e:
        if history is not None:
            e.history.to_json(history)
        _fail(str(e), code=1)
    except (ValueError, TypeError) as e:
        _fail(str(e))
    seconds = time.perf_counter() - t0
    if history is not None:
        model.history_.to_json(history)
    coef_cf, b_cf = closed_form(ds.X, ds.y, not no_intercept, loss)
    gd = np.append(model.coef_, model.intercept_)
    cf = np.append(coef_cf, b_cf)
    rel = float(np.linalg.norm(gd - cf) / max(np.linalg.norm(cf), 1e-300))
    summary = {
        "data": ds.description,
        "features": list(ds.feature_names),
        "target": ds.target_name,
        "optimizer": optimizer, "lr": lr, "loss": loss, "batch_size": batch_size,
        "epochs_run": model.n_iter_, "steps": model.t_,
        "success": bool(model.result_.success), "message": model.result_.message,
        "loss_value": model.result_.fun,
        "coef": model.coef_, "intercept": model.intercept_,
        "closed_form_coef": coef_cf, "closed_form_intercept": b_cf,
        "relative_error_to_closed_form": rel,
        "optimality_gap": model.optimality_gap(ds.X, ds.y),
        "stable_lr": stable_lr(ds.X, loss, not no_intercept),
        "condition_number": condition_number(ds.X, not no_intercept),
        "seconds": seconds,
    }
    if as_json:
        _emit_json(summary)
        return
    if quiet:
        print(" ".join(f"{v:.10g}" for v in gd))
        return
    out.print(f"[bold]gradstep fit[/] — {ds.description}")
    table = Table("parameter", "gradient descent", "closed form", show_edge=False)
    for name, a, b in zip([*ds.feature_names, "intercept"], gd, cf):
        table.add_row(name if name == "intercept" else f"w[{name}]", f"{a:.10g}", f"{b:.10g}")
    out.print(table)
    out.print(
        f"{optimizer}, lr {lr:g}, loss {loss}: {model.n_iter_} epochs, {model.t_} steps in {seconds:.3g} s — "
        f"{model.result_.message}\n"
        f"final loss {model.result_.fun:.10g}, gap to the optimum {summary['optimality_gap']:.3g}, "
        f"relative distance to the closed form {rel:.3g}\n"
        f"largest stable lr (full batch) {summary['stable_lr']:.4g}, condition number "
        f"{summary['condition_number']:.4g}", highlight=False,
    )


@app.command()
def minimize(
    formula: str = typer.Argument(..., help='A formula such as "x**2 + y**2".'),
    x0: str = typer.Option(..., "--x0", help="Start, one value per variable: 3,2"),
    lr: float = typer.Option(0.01, help="Learning rate."),
    steps: int = typer.Option(100, help="Number of steps."),
    optimizer: str = typer.Option("gd", help="gd, momentum, nesterov, adagrad, rmsprop, adam."),
    variables: Optional[str] = typer.Option(None, help="Variable order, e.g. w,b (default: alphabetical)."),
    tol: str = typer.Option("none", help="Stop when f improves by less than this (or 'none')."),
    gtol: str = typer.Option("none", help="Stop when the gradient norm is at most this (or 'none')."),
    history: Optional[Path] = typer.Option(None, help="Write the run's history to this JSON file."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON (with the path)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final point."),
) -> None:
    """Minimise a typed-in formula by gradient descent with its exact gradient."""
    from .expression import FormulaError
    from .minimize import minimize as run_minimize

    names = [v.strip() for v in variables.split(",")] if variables else None
    try:
        res = run_minimize(formula, _floats(x0, "--x0"), optimizer=optimizer, lr=lr, steps=steps,
                           tol=_optional_float(tol, "--tol"), gtol=_optional_float(gtol, "--gtol"),
                           variables=names)
    except FormulaError as e:
        _fail(f"formula refused: {e}")
    except (ValueError, TypeError) as e:
        _fail(str(e))
    if history is not None:
        res.history.to_json(history)
    if as_json:
        _emit_json({
            "formula": formula, "variables": list(res.variables), "x": res.x, "fun": res.fun,
            "jac": res.jac, "nit": res.nit, "success": bool(res.success), "status": res.status,
            "message": res.message, "path": res.history.path, "loss": res.history.loss,
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
        out.print(f"{'[green]success[/]' if res.success else '[red]failed[/]'}: {res.message}", highlight=False)
    if res.status == 2:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
