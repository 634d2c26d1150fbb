"""``gradstep fit``: fit a model to a data file or a bundled dataset, compare with the closed form."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from .common import (
    DATA,
    EXIT_DIVERGED,
    LARGE,
    MODEL,
    OPTIMISER,
    OPTIMIZER_DEFAULT,
    OPTIMIZER_LIST,
    OUTPUT,
    STOPPING,
    ClipNormOption,
    ClipValueOption,
    OptOption,
    Progress,
    ScheduleOption,
    brief,
    cli_words,
    emit_json,
    err,
    fail,
    load_data,
    names,
    optimizer_params,
    optional_float,
    out,
    positive_lr,
    schedule,
    warn,
    written,
)
from .stopping import checkpoint_file, on_interruption, stoppable, stopped

if TYPE_CHECKING:
    from ..checkpoint import CheckpointFile

MODELS = {"linear": ("LinearRegression", "regression"), "logistic": ("LogisticRegression", "classification"),
          "softmax": ("SoftmaxRegression", "classification")}
LOSS_OF = {"logistic": "log_loss", "softmax": "cross_entropy"}
LR_DEFAULT = "0.01 for linear, auto for the classifiers"
"""``--lr`` when not given, as ``--help`` states it."""
DEFAULT_GTOL = 1e-6
"""``--gtol`` of the classifiers by default: full-batch descent stops once the gradient norm is a millionth
of its first value (the training accuracy and loss have long settled; 5,000 epochs would be spent otherwise)."""


def _lr(text: str | None, model: str) -> float | str:
    """``--lr``: a number > 0 or 'auto'; by default (:data:`LR_DEFAULT`) 0.01 for linear regression (the
    tutorials'), 'auto' otherwise."""
    if text is None:
        return 0.01 if model == "linear" else "auto"
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        fail(f"--lr must be a number > 0 or 'auto', got {text!r}")
    return positive_lr(value, auto=True)


def lr_check(X: np.ndarray, lr: float, loss: str, fit_intercept: bool, scale: str | None,
             batch_size: int | None, l2: float, plain: bool) -> tuple[float, float, str | None]:
    """For the data gradient descent will see (after scaling): the largest stable learning rate of plain
    GD, the condition number, and a warning when a plain-GD ``lr`` exceeds the bound (other optimisers
    have other bounds, so they get none). One pass over the rows: both come from their Gram matrix
    (mapped through the scaling, so the scaled rows are not made here)."""
    from ..diagnostics import condition_number, gram, largest_stable_lr, stable_lr
    from ..scaling import FeatureScaling

    scaling = FeatureScaling.fit(scale, X, center=fit_intercept)
    G = scaling.transform_gram(gram(X, fit_intercept), fit_intercept)
    per_sample = batch_size == 1
    if per_sample:   # the worst row: their norms after scaling
        bound = stable_lr(scaling.transform(X), loss, fit_intercept, l2=l2, per_sample=True)
    else:
        bound = largest_stable_lr(G, X.shape[0], loss, fit_intercept, l2)
    warning = None
    if plain and lr > bound:
        kind = "per-sample SGD" if per_sample else "plain gradient descent"
        warning = (f"lr {lr:g} is above the largest stable learning rate {bound:.4g} of {kind} on this "
                   f"data: expect divergence; lower --lr" + ("" if scale else " or use --scale standard"))
    return bound, condition_number(X, fit_intercept, gram=G), warning


def fit(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Data file: CSV, Parquet, .npy or .npz (default: the tutorial line); several Parquet files or a "
             "folder are streamed.", show_default=False, metavar="FILE")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", metavar="NAME", rich_help_panel=DATA,
                                                help="A bundled dataset (see `gradstep datasets`).",
                                                show_default="tutorial-line when no FILE")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", metavar="COLUMN", rich_help_panel=DATA,
                                               help="Column to predict (required with a file).")] = None,
    features: Annotated[str | None, typer.Option(metavar="A,B,...", rich_help_panel=DATA,
                                                 help="Comma-separated feature columns.",
                                                 show_default="every other numeric column")] = None,
    delimiter: Annotated[str | None, typer.Option(metavar="CHAR", rich_help_panel=DATA, help="CSV delimiter.",
                                                  show_default="detected")] = None,
    dropna: Annotated[bool, typer.Option("--dropna", rich_help_panel=DATA,
                                         help="Drop rows with missing values.")] = False,
    fill: Annotated[str | None, typer.Option("--fill", metavar="mean", rich_help_panel=DATA,
                                             help="Fill missing feature values with the column's mean.")] = None,
    sample_weight: Annotated[str | None, typer.Option("--sample-weight", metavar="COLUMN", rich_help_panel=DATA,
                                                      help="Column of row weights (not a feature).")] = None,
    model: Annotated[str, typer.Option(metavar="NAME", rich_help_panel=MODEL,
                                       help="linear, logistic (binary) or softmax (multi-class).")] = "linear",
    loss: Annotated[str, typer.Option(metavar="NAME", rich_help_panel=MODEL,
                                      help="Linear model's loss: mse (mean of squares), half_mse (1/2m), "
                                           "sum.")] = "mse",
    penalty: Annotated[str | None, typer.Option(metavar="NAME", rich_help_panel=MODEL,
                                                help="l2, l1 or elasticnet.", show_default="none")] = None,
    alpha: Annotated[float, typer.Option(metavar="NUMBER", rich_help_panel=MODEL,
                                         help="Penalty strength.")] = 1e-4,
    class_weight: Annotated[str | None, typer.Option(metavar="balanced", rich_help_panel=MODEL,
                                                     help="Classifiers: 'balanced' weighs classes by n / (k "
                                                          "count).", show_default="none")] = None,
    scale: Annotated[str, typer.Option(metavar="NAME", rich_help_panel=MODEL,
                                       help="Feature scaling inside the model: standard, minmax, none.")] = "none",
    no_intercept: Annotated[bool, typer.Option("--no-intercept", rich_help_panel=MODEL,
                                               help="Fit y = w.x without b.")] = False,
    optimizer: Annotated[str, typer.Option(metavar="NAME", rich_help_panel=OPTIMISER,
                                           help="auto (FISTA at 1/L for full batches with --lr auto, else plain "
                                                f"gradient descent: gd), {OPTIMIZER_LIST}.")] = OPTIMIZER_DEFAULT,
    lr_text: Annotated[str | None, typer.Option("--lr", metavar="NUMBER|auto", rich_help_panel=OPTIMISER,
                                                help="Learning rate, > 0 (the start of the schedule), or 'auto' "
                                                     "(1/L).", show_default=LR_DEFAULT)] = None,
    schedule_spec: ScheduleOption = None,
    opt: OptOption = None,
    batch_size: Annotated[int | None, typer.Option(metavar="ROWS", rich_help_panel=OPTIMISER,
                                                   help="Rows per step (1 = per-sample SGD).",
                                                   show_default="all = batch GD")] = None,
    shuffle: Annotated[bool, typer.Option("--shuffle/--no-shuffle", rich_help_panel=OPTIMISER,
                                          help="Shuffle rows each epoch (mini-batch/SGD).")] = True,
    clip_value: ClipValueOption = None,
    clip_norm: ClipNormOption = None,
    seed: Annotated[int, typer.Option(metavar="N", rich_help_panel=OPTIMISER,
                                      help="Seed of the shuffling.")] = 0,
    epochs: Annotated[int, typer.Option(metavar="N", rich_help_panel=STOPPING,
                                        help="Maximum passes over the data.")] = 5000,
    early_stopping: Annotated[bool, typer.Option("--early-stopping", rich_help_panel=STOPPING,
                                                 help="Hold out rows; stop once their loss improves by less than "
                                                      "--tol (1e-3 unless given) for 5 epochs.")] = False,
    validation_fraction: Annotated[float, typer.Option(metavar="FRACTION", rich_help_panel=STOPPING,
                                                       help="Share of rows held out with "
                                                            "--early-stopping.")] = 0.1,
    tol: Annotated[str | None, typer.Option(metavar="NUMBER|none", rich_help_panel=STOPPING,
                                            help="Stop when the epoch loss (the held-out rows' with "
                                                 "--early-stopping) improves by less than this.",
                                            show_default="none; 1e-3 with --early-stopping")] = None,
    gtol: Annotated[str | None, typer.Option(metavar="NUMBER|none", rich_help_panel=STOPPING,
                                             help="Stop when the gradient norm (over all the rows, at each epoch's "
                                                  "end for mini-batches) falls to this fraction of its first "
                                                  "value; none for linear regression runs the tutorials' fixed "
                                                  "epochs.", show_default="1e-6 for full-batch classifiers, 2e-4 "
                                                  "for mini-batch ones, none for linear regression")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", metavar="FOLDER", rich_help_panel=OUTPUT,
                                              help="Write the figures to this folder.")] = None,
    history: Annotated[Path | None, typer.Option(metavar="FILE", rich_help_panel=OUTPUT,
                                                 help="Write the run's history to this JSON file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", rich_help_panel=OUTPUT,
                                          help="Print machine-readable JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", rich_help_panel=OUTPUT,
                                        help="Print only the fitted coefficients.")] = False,
    stream: Annotated[bool, typer.Option("--stream", rich_help_panel=LARGE,
                                         help="Read the data in chunks (files larger than memory).")] = False,
    chunk_rows: Annotated[int | None, typer.Option(metavar="ROWS", rich_help_panel=LARGE,
                                                   help="Rows read at a time when streaming (implies "
                                                        "--stream).")] = None,
    buffer_rows: Annotated[int | None, typer.Option(metavar="ROWS", rich_help_panel=LARGE,
                                                    help="Rows shuffled together when streaming.")] = None,
    memory: Annotated[str | None, typer.Option(metavar="SIZE", rich_help_panel=LARGE,
                                               help="Memory the data may take, e.g. 800M or 4G: a larger Parquet or "
                                                    "CSV file is streamed.",
                                               show_default="a quarter of the memory available")] = None,
    scheduler: Annotated[str | None, typer.Option(metavar="ADDRESS", rich_help_panel=LARGE,
                                                  help="Run on this Dask scheduler, e.g. tcp://HOST:8786.")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", rich_help_panel=LARGE,
                                                help="Start a local Dask cluster with this many workers.")] = None,
    checkpoint: Annotated[Path | None, typer.Option(metavar="FILE", rich_help_panel=LARGE,
                                                    help="Save the run to this file every --checkpoint-every steps "
                                                         "and on Ctrl-C / SIGTERM.")] = None,
    checkpoint_every: Annotated[int, typer.Option(metavar="STEPS", rich_help_panel=LARGE,
                                                  help="Steps between two checkpoints.")] = 1000,
    resume: Annotated[bool, typer.Option("--resume", rich_help_panel=LARGE,
                                         help="Go on from --checkpoint if it exists.")] = False,
) -> None:
    """Fit a model by gradient descent; compare it with the closed form (linear) or scikit-learn (classifiers)."""
    if model not in MODELS:
        fail(f"--model must be one of {list(MODELS)}, got {model!r}")
    cls_name, task = MODELS[model]
    scale_kind = None if scale == "none" else scale
    files = files or []
    ck = checkpoint_file(checkpoint, checkpoint_every, resume)
    streamed = _streamed(files, stream or chunk_rows is not None or scheduler is not None or workers is not None,
                         memory, dropna or fill is not None, quiet or as_json)
    file = files[0] if files else None
    ds = None if streamed else load_data(file, dataset, target, _with_column(features, sample_weight), delimiter,
                                            dropna, fill, task=task, memory=memory)
    if streamed:
        lr = _lr(lr_text, model)
        params = _params(model, optimizer, lr, schedule_spec, opt, epochs, batch_size, shuffle, seed, penalty, alpha,
                         clip_value, clip_norm, scale_kind, tol, early_stopping, validation_fraction, loss,
                         class_weight, task, gtol)
        params["fit_intercept"] = not no_intercept
        from .. import models  # scikit-learn with it: imported once the data are known to be good

        try:
            est = getattr(models, cls_name)(**params)
        except ValueError as e:
            fail(cli_words(str(e)))
        from .stream import fit_streamed

        fit_streamed(est, files, target=target, features=names(features), delimiter=delimiter, chunk_rows=chunk_rows,
                     buffer_rows=buffer_rows, scheduler=scheduler, workers=workers, checkpoint=ck,
                     history=history, as_json=as_json, quiet=quiet,
                     summary={"model": model, "optimizer": optimizer, "batch_size": batch_size, "streamed": True},
                     sample_weight=sample_weight)
        return
    assert ds is not None   # read into memory: not streamed
    if getattr(ds, "task", task) != task:
        fail(f"dataset {ds.name!r} is a {ds.task} task; --model {model} needs a "
             + ("numeric target to regress" if task == "regression" else "class label target"))
    ds, weights = _split_weights(ds, sample_weight)
    X = ds.X
    y = np.asarray(ds.y, dtype=float) if task == "regression" else np.asarray(ds.y)
    lr = _lr(lr_text, model)
    opt_params = optimizer_params(opt)
    params = _params(model, optimizer, lr, schedule_spec, opt, epochs, batch_size, shuffle, seed, penalty, alpha,
                     clip_value, clip_norm, scale_kind, tol, early_stopping, validation_fraction, loss, class_weight,
                     task, gtol)
    params["fit_intercept"] = not no_intercept
    from .. import models
    from ..objectives import Penalty

    try:
        est = getattr(models, cls_name)(**params)
        plain = optimizer in ("auto", "gd", "sgd") and not opt_params.get("momentum")
        bound, kappa, warning = lr_check(X, 0.0 if isinstance(lr, str) else lr, LOSS_OF.get(model, loss),
                                         not no_intercept, scale_kind, batch_size, Penalty(penalty, alpha).l2, plain)
    except ValueError as e:
        fail(cli_words(str(e)))
    if warning and not as_json:
        warn(warning)
    t0 = time.perf_counter()
    files = _fit_in_memory(est, ds, X, y, weights, on_interruption(ck, "fit"), history, quiet or as_json)
    seconds = time.perf_counter() - t0
    common = {
        "data": ds.description, "features": list(ds.feature_names), "target": ds.target_name, "model": model,
        "optimizer": est.optimizer_, "lr": est.lr_ if isinstance(est.lr_, (int, float)) else str(est.lr_),
        "schedule": schedule_spec, "batch_size": batch_size, "scale": scale_kind, "epochs_run": est.n_iter_,
        "steps": est.t_, "success": bool(est.result_.success), "message": est.result_.message,
        "loss_value": est.result_.fun, "coef": est.coef_, "intercept": est.intercept_, "stable_lr": bound,
        "lr_warning": warning, "condition_number": kappa, "seconds": seconds, "streamed": False,
        "sample_weight": sample_weight,
    }
    report = _regression if task == "regression" else _classification
    report(est, ds, X, y, common, files, plot, as_json, quiet)


def _streamed(files: list[Path], asked: bool, memory: str | None, cleaning: bool, silent: bool) -> bool:
    """Whether to stream the data: ``asked`` (``--stream``, ``--chunk-rows``, ``--scheduler``, ``--workers``),
    several files or a folder, or one file too big for ``--memory`` (said on stderr unless ``silent``);
    ``cleaning`` (``--dropna``, ``--fill``) is not available then."""
    streamed = asked or len(files) > 1 or any(f.is_dir() for f in files)
    too_big = _too_big(files[0], memory) if not streamed and len(files) == 1 else None
    if not (streamed or too_big):
        return False
    if not files:
        fail("streaming (--stream, --chunk-rows, --scheduler, --workers) needs a FILE, folder or files")
    if cleaning:
        why = "--dropna and --fill are not available when streaming: clean the files first"
        fail(f"{files[0]}: {too_big}; {why}, or give --memory SIZE to read it into memory" if too_big else why)
    if too_big and not silent:
        err.print(f"streaming {files[0].name}: {too_big} (--memory SIZE to read it into memory)", highlight=False,
                  markup=False)
    return True


def _fit_in_memory(est: Any, ds: Any, X: Any, y: np.ndarray, weights: np.ndarray | None, ck: CheckpointFile,
                   history: Path | None, silent: bool) -> list[Path]:
    """``est.fit`` on the rows in memory with a progress bar (unless ``silent``) and the checkpoint ``ck``; the
    history written to ``history``; a divergence or a stop asked for ends the command. The files written."""
    from ..loop import INTERRUPTED, DivergenceError

    steps_per_epoch = -(-len(y) // min(est.batch_size or len(y), len(y)))
    files: list[Path] = []
    with stoppable():
        try:
            with Progress(est.epochs * steps_per_epoch, f"fit {ds.name}", enabled=not silent) as bar:
                est.fit(X, y, sample_weight=weights, callback=bar, checkpoint=ck.path, checkpoint_every=ck.every,
                        resume=ck.resume)
        except DivergenceError as e:
            if history is not None:
                _with_names(e.history, ds.feature_names).to_json(history)
            fail(str(e), code=EXIT_DIVERGED)
        except (ValueError, TypeError, FileNotFoundError) as e:
            fail(cli_words(str(e)))
        if history is not None:
            _with_names(est.history_, ds.feature_names).to_json(history)
            files.append(history)
        if est.result_.status == INTERRUPTED:
            stopped("fit", est.t_, Path(ck.path), files)
    return files


def _with_names(history: Any, features: Any) -> Any:
    """``history`` with its parameters named after the data's columns (``w[age]``, not ``w[x0]``): the rows
    reach the estimator as an array, which has no column names."""
    import re

    names = [str(f) for f in features]

    def named(m: re.Match) -> str:
        j = int(m.group(1))
        return f"w[{names[j]}{m.group(2)}" if j < len(names) else m.group(0)

    if history.param_names:
        history.param_names = tuple(re.sub(r"^w\[x(\d+)([,\]])", named, p) for p in history.param_names)
    return history


def _with_column(features: str | None, column: str | None) -> str | None:
    """``--features`` with the weight column read too (it is split off after reading)."""
    if column is None or features is None or column in (names(features) or []):
        return features
    return f"{features},{column}"


def _split_weights(ds: Any, column: str | None) -> tuple[Any, np.ndarray | None]:
    """``(ds, w)``: the data without the ``--sample-weight`` column among its features, and that column."""
    import dataclasses

    if column is None:
        return ds, None
    if column not in list(ds.feature_names):
        fail(f"--sample-weight {column!r}: no such numeric column in {ds.description}; give one of "
             f"{list(ds.feature_names)[:10]}")
    j = list(ds.feature_names).index(column)
    rest = tuple(f for f in ds.feature_names if f != column)
    return dataclasses.replace(ds, X=np.delete(ds.X, j, axis=1), feature_names=rest), ds.X[:, j].copy()


def _too_big(file: Path, memory: str | None) -> str | None:
    """Why ``file`` is streamed when its table would take more than the memory budget
    (:mod:`gradstep.data.memory`), in words; None when it fits."""
    from ..data.memory import default_budget, describe, parse_size, table_bytes

    try:
        budget = parse_size(memory) if memory is not None else default_budget()
    except ValueError as e:
        fail(f"--memory: {e}")
    try:
        need = table_bytes(file) if file.is_file() else None
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the reader, with its own message
        return None
    if need is None or need <= budget:
        return None
    whose = "--memory" if memory is not None else "the memory budget (a quarter of the available memory)"
    return f"its table takes about {describe(need)} as float64, more than {whose}, {describe(budget)}"


def _default_gtol(task: str, batch_size: int | None) -> float | None:
    """``--gtol`` when not given: :data:`DEFAULT_GTOL` for full-batch classifiers, the estimators' mini-batch
    rule (the gradient over all the rows at each epoch's end) for mini-batch ones, none for linear regression."""
    if task != "classification":
        return None
    from ..models.base import GTOL_BATCHES

    return DEFAULT_GTOL if batch_size is None else GTOL_BATCHES


def _params(model: str, optimizer: str, lr: Any, schedule_spec: str | None, opt: list[str] | None, epochs: int,
            batch_size: int | None, shuffle: bool, seed: int, penalty: str | None, alpha: float,
            clip_value: float | None, clip_norm: float | None, scale_kind: str | None, tol: str | None,
            early_stopping: bool, validation_fraction: float, loss: str, class_weight: str | None,
            task: str, gtol: str | None = None) -> dict[str, Any]:
    """The estimator's hyper-parameters from the options. ``--tol`` not given: 'auto' with ``--early-stopping``
    (the estimators' 1e-3 on the held-out rows' loss, so that early stopping stops), else none."""
    params: dict[str, Any] = {
        "optimizer": optimizer, "lr": lr if lr == "auto" else schedule(schedule_spec, lr),
        "optimizer_params": optimizer_params(opt) or None,
        "epochs": epochs, "batch_size": batch_size, "shuffle": shuffle, "random_state": seed,
        "penalty": penalty, "alpha": alpha, "clip_value": clip_value, "clip_norm": clip_norm,
        "scale": scale_kind, "tol": (optional_float(tol, "--tol") if tol is not None
                                           else "auto" if early_stopping else None), "early_stopping": early_stopping,
        "gtol": optional_float(gtol, "--gtol") if gtol is not None else _default_gtol(task, batch_size),
        "validation_fraction": validation_fraction,
    }
    if task == "regression":
        params["loss"] = loss
    elif class_weight not in (None, "none"):
        params["class_weight"] = class_weight
    return params


def _settings(summary: dict[str, Any]) -> str:
    lr = summary["lr"]
    return f"{summary['optimizer']}, lr " + (f"{lr:.4g}" if isinstance(lr, (int, float)) else f"{lr}")


def _footer(summary: dict[str, Any]) -> str:
    return (f"largest stable lr of plain GD {summary['stable_lr']:.4g}, condition number "
            f"{summary['condition_number']:.4g}"
            + (" (after scaling)" if summary["scale"] else " (try --scale standard to shrink it)"))


def _regression(est: Any, ds: Any, X: np.ndarray, y: np.ndarray, summary: dict[str, Any], files: list[Path],
                plot: Path | None, as_json: bool, quiet: bool) -> None:
    """Coefficients next to the exact optimum of the same objective (loss and penalty), the gap to it."""
    if plot is not None:
        from .figures import model_figures

        files += model_figures([est], [_settings(summary)], X, y, plot, ds.feature_names, ds.target_name)
    theta, f_star = est.reference_optimum(X, y)
    coef_cf, b_cf = _optimum_coefs(est, theta)
    label = _reference_label(est, summary.get("sample_weight"))
    gd, cf = np.append(est.coef_, est.intercept_), np.append(coef_cf, b_cf)
    rel = float(np.linalg.norm(gd - cf) / max(float(np.linalg.norm(cf)), 1e-300))
    summary.update(loss=est.loss, closed_form_coef=coef_cf, closed_form_intercept=b_cf, reference=label,
                   relative_error_to_closed_form=rel, optimality_gap=est.loss_value(X, y) - f_star,
                   files=[str(p) for p in files])
    if brief(summary, gd, as_json, quiet):
        return
    out.print(f"[bold]gradstep fit[/] — {escape(ds.description)}")
    table = Table("parameter", "gradient descent", escape(label), show_edge=False)
    for name, a, b in zip([*ds.feature_names, "intercept"], gd, cf):
        table.add_row(escape(name if name == "intercept" else f"w[{name}]"), f"{a:.10g}", f"{b:.10g}")
    out.print(table)
    out.print(
        f"{_settings(summary)}, loss {est.loss}, batch {summary['batch_size'] or 'all'}: {est.n_iter_} epochs, "
        f"{est.t_} steps in {summary['seconds']:.3g} s — {est.result_.message}\n"
        f"final loss {est.result_.fun:.10g}, gap to the optimum {summary['optimality_gap']:.3g}, "
        f"relative distance to the {label.split(' (')[0]} {rel:.3g}\n" + _footer(summary), highlight=False,
    )
    written(files, quiet)


def _reference_label(est: Any, sample_weight: str | None = None) -> str:
    """What the reference column is: the closed form without an L1 part (least squares, ridge with an L2
    penalty), the exact optimum of the lasso / elastic net otherwise (there is no closed form); always of
    the unweighted objective."""
    pen = est.objective_.penalty
    base, notes = ("exact optimum", [f"{est.penalty}, alpha {est.alpha:g}"]) if pen.l1 else (
        ("closed form", [f"ridge, alpha {est.alpha:g}"]) if pen.l2 else ("closed form", []))
    if sample_weight:
        notes.append("no weights")
    return base + (f" ({'; '.join(notes)})" if notes else "")


def _optimum_coefs(est: Any, theta: np.ndarray) -> tuple[np.ndarray, float]:
    """The model's exact optimum ``theta`` (:meth:`reference_optimum`, fit units: loss and penalty as
    fitted, without weights; the closed form unless there is an L1 part) in the units of ``X``."""
    W, b = est.scaling_.to_original(*est.objective_.unpack(theta))
    return np.asarray(W)[:, 0], float(b[0]) if b is not None else 0.0


def _classification(est: Any, ds: Any, X: np.ndarray, y: np.ndarray, summary: dict[str, Any], files: list[Path],
                    plot: Path | None, as_json: bool, quiet: bool) -> None:
    """Accuracy and loss next to scikit-learn's LogisticRegression (lbfgs) with the same penalty."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression as Reference

    if plot is not None:
        from .figures import classifier_figures

        files += classifier_figures(est, X, y, plot, ds.feature_names, getattr(ds, "class_names", None) or None)
    pen = est.objective_.penalty
    Z, Y = est.fit_space(X, y)
    loss = est.loss_value(X, y)
    # scikit-learn parametrises two classes by one weight vector: compare like with like only
    comparable = not pen.l1 and est.fit_intercept and (Y.shape[1] == 1 or Y.shape[1] > 2)
    reference: dict[str, Any] = {}
    if comparable:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # mean(loss) + (l2 / 2)|w|^2  <=>  C sum(loss) + |w|^2 / 2 with C = 1 / (l2 n); no penalty: C = inf
            ref = Reference(C=1 / (pen.l2 * len(y)) if pen.l2 else np.inf, tol=1e-10, max_iter=10000).fit(Z, y)
        f_ref = est.objective_.value(est.objective_.pack(ref.coef_.T, ref.intercept_), (Z, Y))
        reference = {"sklearn_accuracy": float(ref.score(Z, y)), "sklearn_loss": f_ref,
                     "relative_gap_to_sklearn": (loss - f_ref) / abs(f_ref)}
    epochs = est.history_.to_pandas("epochs")
    summary.update(classes=est.classes_.tolist(), accuracy=float(est.score(X, y)),
                   val_accuracy=float(epochs["val_accuracy"].iloc[-1]) if "val_accuracy" in epochs else None,
                   optimality_gap=loss - est.reference_optimum(X, y)[1], files=[str(p) for p in files], **reference)
    if as_json:
        emit_json(summary)
        return
    if quiet:
        print(f"{summary['accuracy']:.6f}")
        return
    out.print(f"[bold]gradstep fit --model {summary['model']}[/] — {ds.description}", highlight=False)
    table = Table("", "gradient descent", "scikit-learn (lbfgs)", show_edge=False)
    table.add_row("training accuracy", f"{summary['accuracy']:.4f}",
                  f"{reference['sklearn_accuracy']:.4f}" if reference else "—")
    table.add_row("loss + penalty", f"{loss:.8g}",
                  f"{reference['sklearn_loss']:.8g}" if reference else "—")
    if summary["val_accuracy"] is not None:
        table.add_row("validation accuracy", f"{summary['val_accuracy']:.4f}", "")
    out.print(table)
    out.print(
        f"{len(est.classes_)} classes {est.classes_.tolist()[:10]}; {_settings(summary)}, batch "
        f"{summary['batch_size'] or 'all'}: {est.n_iter_} epochs, {est.t_} steps in {summary['seconds']:.3g} s — "
        f"{est.result_.message}\ngap to the optimum {summary['optimality_gap']:.3g} (loss + penalty without weights, "
        f"above its minimum)\n" + _footer(summary), highlight=False,
    )
    written(files, quiet)
