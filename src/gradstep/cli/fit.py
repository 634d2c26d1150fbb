"""``gradstep fit``: fit a model to a data file or a bundled dataset, compare with the closed form."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import typer
from rich.table import Table

from .common import (
    EXIT_DIVERGED,
    SCHEDULE_HELP,
    Progress,
    emit_json,
    fail,
    load_data,
    optimizer_params,
    optional_float,
    out,
    schedule,
    warn,
    written,
)

MODELS = ("linear",)


def lr_check(X: np.ndarray, lr: float, loss: str, fit_intercept: bool, scale: str | None,
             batch_size: int | None, l2: float, plain: bool) -> tuple[float, float, str | None]:
    """For the data gradient descent will see (after scaling): the largest stable learning rate of plain
    GD, the condition number, and a warning when a plain-GD ``lr`` exceeds the bound (other optimisers
    have other bounds, so they get none)."""
    from ..diagnostics import condition_number, stable_lr
    from ..scaling import FeatureScaling

    Z = FeatureScaling.fit(scale, X, center=fit_intercept).transform(np.asarray(X, dtype=float))
    per_sample = batch_size == 1
    bound = stable_lr(Z, loss, fit_intercept, l2=l2, per_sample=per_sample)
    warning = None
    if plain and lr > bound:
        kind = "per-sample SGD" if per_sample else "plain gradient descent"
        warning = (f"lr {lr:g} is above the largest stable learning rate {bound:.4g} of {kind} on this "
                   f"data: expect divergence; lower --lr" + ("" if scale else " or use --scale standard"))
    return bound, condition_number(Z, fit_intercept), warning


def fit(
    file: Optional[Path] = typer.Argument(None, help="Data file: CSV, Parquet, .npy or .npz (default: the tutorial line)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="A bundled dataset (see `gradstep datasets`)."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Column to predict (required with a file)."),
    features: Optional[str] = typer.Option(None, help="Comma-separated feature columns (default: all other numeric)."),
    delimiter: Optional[str] = typer.Option(None, help="CSV delimiter (default: detected)."),
    dropna: bool = typer.Option(False, "--dropna", help="Drop rows with missing values."),
    fill: Optional[str] = typer.Option(None, "--fill", help="Fill missing feature values: 'mean'."),
    model: str = typer.Option("linear", help="Model: linear."),
    optimizer: str = typer.Option("sgd", help="gd/sgd, momentum, nesterov, adagrad, rmsprop, adam."),
    lr: float = typer.Option(0.01, help="Learning rate (the start of the schedule)."),
    schedule_spec: Optional[str] = typer.Option(None, "--schedule", help=SCHEDULE_HELP),
    opt: Optional[List[str]] = typer.Option(None, "--opt", help="Optimizer setting NAME=VALUE (torch names), repeatable."),
    epochs: int = typer.Option(5000, help="Maximum passes over the data."),
    batch_size: Optional[int] = typer.Option(None, help="Rows per step (default: all = batch GD; 1 = per-sample SGD)."),
    shuffle: bool = typer.Option(True, "--shuffle/--no-shuffle", help="Shuffle rows each epoch (mini-batch/SGD)."),
    loss: str = typer.Option("mse", help="mse (mean of squares), half_mse (1/2m), sum."),
    penalty: Optional[str] = typer.Option(None, help="l2, l1 or elasticnet."),
    alpha: float = typer.Option(1e-4, help="Penalty strength."),
    clip_value: Optional[float] = typer.Option(None, help="Clip each gradient component to [-c, c]."),
    clip_norm: Optional[float] = typer.Option(None, help="Rescale the gradient to L2 norm at most c."),
    scale: str = typer.Option("none", help="Feature scaling inside the model: standard, minmax, none."),
    no_intercept: bool = typer.Option(False, "--no-intercept", help="Fit y = w.x without b."),
    tol: str = typer.Option("none", help="Stop when the epoch loss improves by less than this (or 'none')."),
    seed: int = typer.Option(0, help="Seed of the shuffling."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the figures to this folder."),
    history: Optional[Path] = typer.Option(None, help="Write the run's history to this JSON file."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the fitted coefficients."),
) -> None:
    """Fit a model by gradient descent and compare it with the closed-form answer."""
    from ..diagnostics import closed_form
    from ..loop import DivergenceError
    from ..models import LinearRegression

    if model not in MODELS:
        fail(f"--model must be one of {list(MODELS)}, got {model!r}")
    scale_kind = None if scale == "none" else scale
    ds = load_data(file, dataset, target, features, delimiter, dropna, fill)
    if getattr(ds, "task", "regression") != "regression":
        fail(f"dataset {ds.name!r} is a classification task; --model linear needs a numeric target to regress")
    X, y = ds.X, np.asarray(ds.y, dtype=float)
    est = LinearRegression(
        loss=loss, fit_intercept=not no_intercept, optimizer=optimizer, lr=schedule(schedule_spec, lr),
        optimizer_params=optimizer_params(opt) or None, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
        random_state=seed, penalty=penalty, alpha=alpha, clip_value=clip_value, clip_norm=clip_norm,
        scale=scale_kind, tol=optional_float(tol, "--tol"),
    )
    try:
        l2 = est._objective(X.shape[1], 1).penalty.l2
        plain = optimizer in ("gd", "sgd") and not optimizer_params(opt).get("momentum")
        bound, kappa, warning = lr_check(X, lr, loss, not no_intercept, scale_kind, batch_size, l2, plain)
    except ValueError as e:
        fail(str(e))
    if warning and not as_json:
        warn(warning)
    t0 = time.perf_counter()
    steps_per_epoch = -(-len(y) // min(batch_size or len(y), len(y)))
    try:
        with Progress(epochs * steps_per_epoch, f"fit {ds.name}", enabled=not (quiet or as_json)) as bar:
            est.fit(X, y, callback=bar)
    except DivergenceError as e:
        if history is not None:
            e.history.to_json(history)
        fail(str(e), code=EXIT_DIVERGED)
    except (ValueError, TypeError) as e:
        fail(str(e))
    seconds = time.perf_counter() - t0
    files: list[Path] = []
    if history is not None:
        est.history_.to_json(history)
        files.append(history)
    if plot is not None:
        from .figures import model_figures

        files += model_figures([est], [f"{optimizer}, lr {lr:g}"], X, y, plot, ds.feature_names, ds.target_name)
    coef_cf, b_cf = closed_form(X, y, not no_intercept, loss)
    gd, cf = np.append(est.coef_, est.intercept_), np.append(coef_cf, b_cf)
    rel = float(np.linalg.norm(gd - cf) / max(float(np.linalg.norm(cf)), 1e-300))
    summary: dict[str, Any] = {
        "data": ds.description, "features": list(ds.feature_names), "target": ds.target_name,
        "model": model, "optimizer": optimizer, "lr": lr, "schedule": schedule_spec, "loss": loss,
        "batch_size": batch_size, "scale": scale_kind, "epochs_run": est.n_iter_, "steps": est.t_,
        "success": bool(est.result_.success), "message": est.result_.message, "loss_value": est.result_.fun,
        "coef": est.coef_, "intercept": est.intercept_, "closed_form_coef": coef_cf, "closed_form_intercept": b_cf,
        "relative_error_to_closed_form": rel, "optimality_gap": est.optimality_gap(X, y),
        "stable_lr": bound, "lr_warning": warning, "condition_number": kappa,
        "seconds": seconds, "files": [str(p) for p in files],
    }
    if as_json:
        emit_json(summary)
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
        f"{optimizer}, lr {lr:g}, loss {loss}, batch {batch_size or 'all'}: {est.n_iter_} epochs, {est.t_} steps "
        f"in {seconds:.3g} s — {est.result_.message}\n"
        f"final loss {est.result_.fun:.10g}, gap to the optimum {summary['optimality_gap']:.3g}, "
        f"relative distance to the closed form {rel:.3g}\n"
        f"largest stable lr of plain GD {bound:.4g}, condition number {kappa:.4g}"
        + (" (after scaling)" if scale_kind else " (try --scale standard to shrink it)"), highlight=False,
    )
    written(files, quiet)
