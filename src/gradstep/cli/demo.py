"""``gradstep demo``: the tutorials' lessons as runs, figures and a one-page report."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import numpy as np
import typer
from rich.markup import escape

from .common import emit_json, err, out
from .stopping import NEVER, Session, stoppable

LINE_RUNS = (  # (label, batch_size, lr, epochs): the three ways of batching on the tutorial line
    ("batch GD (all 100 rows per step)", None, 0.01, 2000),
    ("mini-batch GD (10 rows per step)", 10, 0.005, 200),
    ("per-sample SGD (1 row per step)", 1, 0.002, 50),
)
BOWL, BOWL_X0, BOWL_STEPS = "x**2 + y**2", (3.0, 2.0), 50
BOWL_LRS = (0.4, 0.1, 0.01)
TOO_LARGE = (0.9, 1.1)


class Shown(NamedTuple):
    """A figure as the report shows it: the file, a short title (also its alt text) and what to look at."""

    path: Path
    title: str
    caption: str


class Part(NamedTuple):
    """One lesson of the report: its anchor and heading (the table of contents), its HTML, its numbers
    for ``--json`` and every file it wrote."""

    anchor: str
    heading: str
    body: str
    results: list[dict[str, Any]]
    files: list[Path]


class Steps:
    """What the demo is doing, a line on stderr at each stage (its runs, then its figures), so that a
    first run (which also compiles kernels) is never silent for long; off with ``--json`` and ``--quiet``."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total

    def __call__(self, k: int | None, text: str) -> None:
        if self.enabled:
            err.print(escape((f"{k}/{self.total} " if k else "") + text), highlight=False)


def _row(cells: list[Any]) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    return f"<table>{head}{''.join(_row(r) for r in rows)}</table>"


def _figures(shown: list[Shown], root: Path) -> str:
    """The figures in a grid, each with its title and what to look at (animations are GIFs, whose
    still PNGs stay beside them, listed at the end of the report)."""
    return "<div class='figs'>" + "".join(
        f"<figure><img src=\"{html.escape(f.path.relative_to(root).as_posix())}\" alt=\"{html.escape(f.title)}\" "
        f"loading='lazy'><figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>"
        for f in shown) + "</div>"


def _lesson(text: str) -> str:
    return f"<div class='lesson'><b>What it teaches.</b> {text}</div>"


def _signed(x: float) -> str:
    """``x`` with a typographic minus sign."""
    return f"{x:g}".replace("-", "−")


def _named(paths: list[Path], name: str) -> Path:
    return next(p for p in paths if p.name == name)


def _minimize(session: Session, root: Path, name: str, lr: float) -> Any:
    """``minimize`` of the bowl at ``lr``, its history written to ``histories/NAME.json`` (resumable)."""
    from ..loop import INTERRUPTED
    from ..minimize import minimize

    def one(ck: Path, again: bool) -> tuple:
        r = minimize(BOWL, list(BOWL_X0), lr=lr, steps=BOWL_STEPS, checkpoint=ck, checkpoint_every=NEVER,
                     resume=again)
        path = root / "histories" / f"{name}.json"
        r.history.to_json(path)
        return r, r.nit if r.status == INTERRUPTED else None, [path]

    return session.run(name, one)


def _fit(session: Session, root: Path, name: str, est: Any, X: Any, y: Any) -> Any:
    """``est.fit(X, y)``, its history written to ``histories/NAME.json`` (resumable)."""
    from ..loop import INTERRUPTED

    def one(ck: Path, again: bool) -> tuple:
        est.fit(X, y, checkpoint=ck, checkpoint_every=NEVER, resume=again)
        path = root / "histories" / f"{name}.json"
        est.history_.to_json(path)
        return est, est.t_ if est.result_.status == INTERRUPTED else None, [path]

    return session.run(name, one)


def _line_part(root: Path, session: Session, step: Steps) -> Part:
    from ..data.datasets import tutorial_line
    from ..diagnostics import closed_form, condition_number
    from ..models import LinearRegression
    from .figures import model_figures

    step(1, "fitting a line by batch, mini-batch and per-sample gradient descent…")
    ds = tutorial_line()
    coef, b = closed_form(ds.X, ds.y)
    best = float(np.mean((ds.X[:, 0] * coef[0] + b - ds.y) ** 2))   # the least-squares minimum of the MSE
    models, rows, results = [], [], []
    for label, bs, lr, epochs in LINE_RUNS:
        m = _fit(session, root, f"line-{bs or 'all'}",
                 LinearRegression(batch_size=bs, lr=lr, epochs=epochs, tol=None, random_state=0), ds.X, ds.y)
        models.append(m)
        dist = float(np.hypot(m.coef_[0] - coef[0], m.intercept_ - b))
        rows.append([label, lr, epochs, m.t_, f"{m.coef_[0]:.6f}", f"{m.intercept_:.6f}",
                     f"{m.result_.fun:.6f}", f"{dist:.2e}"])
        results.append({"run": label, "lr": lr, "epochs": epochs, "steps": m.t_, "w": float(m.coef_[0]),
                        "b": float(m.intercept_), "loss": float(m.result_.fun), "distance_to_closed_form": dist})
    step(1, "drawing the fitted line, the loss curves and the descent over the loss surface (an animation)…")
    figs = model_figures(models, [r[0] for r in LINE_RUNS], ds.X, ds.y, root / "line", ds.feature_names)
    gaps = [float(m.history_.epoch_loss[-1]) - best for m in models]
    batch_path = models[0].history_.path
    shown = [
        Shown(_named(figs, "fit.png"), "The data and the fitted line",
              f"The {len(ds.y)} points and the line batch gradient descent found: w = {models[0].coef_[0]:.4f}, "
              f"b = {models[0].intercept_:.4f} (least squares: {coef[0]:.4f} and {b:.4f})."),
        Shown(_named(figs, "descent.gif"), "The three runs over the loss surface",
              "Contours join the (w, b) of equal mean squared error; the star is the least-squares answer. Look at "
              "the shape: x is not scaled, so the valley is long and narrow. Every run first crosses it, w changing "
              f"fast (batch GD even overshoots to w = {batch_path[:, 0].max():.2f} and comes back), then crawls "
              "along its floor, b changing slowly. The per-sample path zig-zags: each step follows a single row. "
              "The animation plays the first steps one by one, then ever more at a time (the title counts them)."),
        Shown(_named(figs, "epoch_loss.png"), "The loss on all the data after each epoch",
              f"Above the least-squares minimum ({best:.4f}); both axes are logarithmic. Look at the ends: batch "
              "GD's line keeps falling straight (the same factor every epoch) to "
              f"{gaps[0]:.0e}; mini-batch and per-sample SGD start faster (10 and 100 steps an epoch) but level off "
              f"{gaps[1]:.2g} and {gaps[2]:.2g} above the minimum: with a constant learning rate they keep jumping "
              "around it (the noise floor)."),
        Shown(_named(figs, "loss.png"), "The loss at every step, and after each epoch",
              "Faint: each step's loss on its own batch, a band of noise for SGD (one row's squared error jumps "
              "between about 0 and 10 from step to step). Bold, with dots: the loss on all the data after each "
              "epoch, the curve to compare. Below: the gradient norm, as noisy, and the constant learning rates."),
    ]
    body = (
        f"<p>{html.escape(ds.description)}. The closed-form least-squares answer is "
        f"w = {coef[0]:.6f}, b = {b:.6f}. Each run starts at w = b = 0 and minimises the mean squared error.</p>"
        + _table(["run", "lr", "epochs", "steps", "w", "b", "final MSE", "distance to closed form"], rows)
        + _figures(shown, root)
        + _lesson("Batch GD takes one exact, smooth step per epoch and walks straight down the valley; mini-batch "
                  "and per-sample SGD take many cheap, noisy steps per epoch (their per-step losses jitter) and end "
                  "near, not at, the optimum unless the learning rate decays. The contours are long and thin because "
                  f"x is not scaled (condition number {condition_number(ds.X):.0f}): every path first drops into the "
                  "valley, then crawls along it towards b.")
    )
    return Part("line", "Fitting a line: batch, mini-batch and per-sample gradient descent", body, results, figs)


def _bowl_part(root: Path, session: Session, step: Steps) -> Part:
    from ..expression import parse
    from .figures import formula_figures

    step(2, f"minimising x² + y² from (3, 2) with learning rates {', '.join(f'{lr:g}' for lr in BOWL_LRS)}…")
    runs = [_minimize(session, root, f"bowl-lr{lr:g}", lr) for lr in BOWL_LRS]
    rows, results = [], []
    for lr, r in zip(BOWL_LRS, runs):
        rows.append([lr, _signed(1 - 2 * lr), f"({r.x[0]:.3g}, {r.x[1]:.3g})", f"{r.fun:.3g}", r.message])
        results.append({"lr": lr, "x": r.x.tolist(), "fun": float(r.fun), "success": bool(r.success)})
    step(2, "drawing the loss curves and the descent over the contours (an animation)…")
    figs = formula_figures(parse(BOWL), runs, [f"lr {lr:g}" for lr in BOWL_LRS], root / "bowl", optimum=(0.0, 0.0),
                           aspect="equal")
    fast, _, slow = runs
    shown = [
        Shown(_named(figs, "descent.gif"), "Three learning rates from the same start",
              "Every marker is a step from (3, 2), the hollow circle, towards the minimum, the star. Look at the "
              "spacing: lr 0.4 (circles) removes 80% of the remaining distance at every step and reaches the star "
              f"in {fast.nit} steps; lr 0.1 (triangles) removes 20% a step; lr 0.01 (squares) only 2%, and after "
              f"{BOWL_STEPS} steps it is still at ({slow.x[0]:.2f}, {slow.x[1]:.2f})."),
        Shown(_named(figs, "loss.png"), "The loss and the gradient norm at every step",
              "On a log scale a straight line is the same factor every step: (1 − 2·lr)² for the loss, 0.04 for "
              "lr 0.4, 0.64 for lr 0.1 and 0.96 for lr 0.01. The steeper, the faster; lr 0.4 stops early because "
              "its gradient norm fell below gtol."),
    ]
    body = (
        "<p>The gradient is (2x, 2y), so each step multiplies the point by 1 − 2·lr. A run converges (and "
        "stops) once the gradient norm is at most 1e-5, minimize's default gtol; one that spends its steps "
        "first did not converge.</p>"
        + _table(["lr", "factor per step", "end point", "f(end)", "outcome"], rows)
        + _figures(shown, root)
        + _lesson("lr 0.4 shrinks the point fivefold per step and is at the minimum almost at once; lr 0.1 gets "
                  "there steadily (0.8 per step); lr 0.01 is too small — after 50 steps it has covered only two "
                  "thirds of the way.")
    )
    return Part("bowl", f"Learning rates on f(x, y) = x² + y² from (3, 2), {BOWL_STEPS} steps at most", body,
                results, figs)


def _too_large_part(root: Path, session: Session, step: Steps) -> Part:
    from ..data.datasets import tutorial_line
    from ..diagnostics import stable_lr
    from ..expression import parse
    from ..loop import INTERRUPTED, DivergenceError
    from ..models import LinearRegression
    from .figures import formula_figures

    step(3, f"trying learning rates that are too large: {' and '.join(f'{lr:g}' for lr in TOO_LARGE)} on the "
            "bowl, 0.05 on the line…")
    runs = [_minimize(session, root, f"bowl-lr{lr:g}", lr) for lr in TOO_LARGE]
    ds = tutorial_line()

    def diverging(ck: Path, again: bool) -> tuple:
        est = LinearRegression(lr=0.05, epochs=1000, tol=None)
        try:
            est.fit(ds.X, ds.y, checkpoint=ck, checkpoint_every=NEVER, resume=again)
        except DivergenceError as e:
            return str(e), None, []
        return "(not caught)", est.t_ if est.result_.status == INTERRUPTED else None, []

    caught = session.run("line-lr0.05", diverging)
    step(3, "drawing the loss curves and the descent over the contours (an animation)…")
    figs = formula_figures(parse(BOWL), runs, [f"lr {lr:g}" for lr in TOO_LARGE], root / "too-large",
                           optimum=(0.0, 0.0), aspect="equal")
    rows = [[lr, _signed(1 - 2 * lr), r.nit, r.message] for lr, r in zip(TOO_LARGE, runs)]
    shown = [
        Shown(_named(figs, "descent.gif"), "Overshooting, converging and diverging",
              f"lr {TOO_LARGE[0]:g} (circles) jumps across the minimum at every step, the factor is "
              f"{_signed(1 - 2 * TOO_LARGE[0])}, but lands closer each time, so it still converges; lr "
              f"{TOO_LARGE[1]:g} (triangles) jumps across and lands farther, factor {_signed(1 - 2 * TOO_LARGE[1])}, "
              "until it leaves the plot."),
        Shown(_named(figs, "loss.png"), "The loss at every step",
              f"It falls by {(1 - 2 * TOO_LARGE[0]) ** 2:.2g} a step for lr {TOO_LARGE[0]:g}, zig-zag and all, and "
              f"grows by {(1 - 2 * TOO_LARGE[1]) ** 2:.2g} a step for lr {TOO_LARGE[1]:g} until gradstep stops the run "
              f"at step {runs[1].nit}."),
    ]
    body = (
        "<p>On x² + y² the largest stable learning rate is 1 (2 / L with L = 2, the curvature).</p>"
        + _table(["lr", "factor per step", "steps", "outcome"], rows)
        + f"<p>Fitting the tutorial line with lr 0.05 (its stable bound is {stable_lr(ds.X):.4g}):</p>"
        f"<pre>{html.escape(caught)}</pre>"
        + _figures(shown, root)
        + _lesson("Below the bound a large step overshoots and oscillates but still converges (lr 0.9: factor "
                  "−0.8); above it every step overshoots further (lr 1.1: factor −1.2) and gradstep stops the run, "
                  "names the step and says which learning rate would be stable, instead of returning NaN.")
    )
    results = [{"lr": lr, "nit": r.nit, "status": int(r.status), "message": r.message}
               for lr, r in zip(TOO_LARGE, runs)]
    return Part("too-large", "A learning rate that is too large is caught", body,
                results + [{"fit_lr": 0.05, "message": caught}], figs)


def _classification_part(root: Path, session: Session, step: Steps) -> Part:
    from ..data.datasets import load_dataset
    from ..models import LogisticRegression, SoftmaxRegression
    from .figures import classifier_figures

    runs = (  # (name, model, dataset, two features): two features so the boundary can be drawn
        ("binary: logistic regression", LogisticRegression, "breast_cancer", ("mean radius", "mean texture")),
        ("three classes: softmax regression", SoftmaxRegression, "iris", ("petal length (cm)", "petal width (cm)")),
    )
    rows, results, figs, fits = [], [], [], []
    for title, model, name, pair in runs:
        step(4, f"fitting {model.__name__} to {name}…")
        ds = load_dataset(name)
        cols = [ds.feature_names.index(f) for f in pair]
        X, y = ds.X[:, cols], ds.y
        est = _fit(session, root, f"classify-{name}",
                   model(optimizer="gd", scale="standard", epochs=300, tol=None, early_stopping=True, random_state=0),
                   X, y)   # plain gradient descent, as the text says (the default would take FISTA's steps)
        epochs = est.history_.to_pandas("epochs")
        acc, val = float(est.score(X, y)), float(epochs["val_accuracy"].iloc[-1])
        rows.append([title, name, " & ".join(pair), f"{est.lr_:.4g}", est.n_iter_, f"{acc:.3f}", f"{val:.3f}"])
        results.append({"run": title, "dataset": name, "features": list(pair), "accuracy": acc,
                        "val_accuracy": val})
        step(4, f"drawing {name}'s curves, confusion matrix and decision regions (an animation)…")
        these = classifier_figures(est, X, y, root / f"classify-{name}", pair, ds.class_names or None)
        figs += these
        fits.append((name, these, int(np.sum(est.predict(X) != y)), len(y)))
    (bc, bc_figs, bc_wrong, bc_n), (ir, ir_figs, ir_wrong, ir_n) = fits
    shown = [
        Shown(_named(bc_figs, "boundary.gif"), f"{bc}: the decision regions during training",
              "The colours are the class predicted at each point of the plane, the markers the data in their true "
              "class. Look at the start: every point is given one class; within a few dozen steps the straight "
              "boundary swings into place, and then hardly moves (the animation shows the first steps one by "
              "one, then ever more at a time). Points on the wrong side are the mistakes."),
        Shown(_named(ir_figs, "boundary.gif"), f"{ir}: three regions, one straight boundary between each two",
              "Setosa is separated at once; versicolor and virginica overlap, so some of their points stay on the "
              "wrong side whatever the optimiser does: the limit is the straight boundary."),
        Shown(_named(bc_figs, "curves.png"), f"{bc}: loss and accuracy per epoch",
              "Solid: the training rows; dashed: the 10% held out. Look at the first dozen epochs, where almost "
              "all the progress is; afterwards the held-out loss creeps up while the training loss still falls a "
              "little: where early stopping (a tol) would stop."),
        Shown(_named(ir_figs, "curves.png"), f"{ir}: loss and accuracy per epoch",
              "The same curves for three classes: the loss keeps falling slowly while the accuracy settles early."),
        Shown(_named(bc_figs, "confusion.png"), f"{bc}: right and wrong answers",
              f"Rows: the true class; columns: the predicted one. The diagonal counts the right answers, the other "
              f"cells the {bc_wrong} mistakes in {bc_n} points."),
        Shown(_named(ir_figs, "confusion.png"), f"{ir}: right and wrong answers",
              f"All {ir_wrong} mistakes in {ir_n} points are between versicolor and virginica, the two classes "
              f"that overlap."),
    ]
    body = (
        "<p>Logistic regression squashes a line's output into a probability with the sigmoid; softmax "
        "regression does the same for several classes. Both are fitted by full-batch gradient descent on "
        "the cross-entropy, with the learning rate chosen from the data (1/L), on two standardised features "
        "so that the decision boundary can be drawn; 10% of the rows are held out for validation.</p>"
        + _table(["run", "data", "features", "lr (auto)", "epochs", "training accuracy", "validation accuracy"], rows)
        + _figures(shown, root)
        + _lesson("From the zero start every point is given one class; the boundary swings into place within the "
                  "first few dozen steps (the animations), and after that the training loss barely moves. On "
                  "breast_cancer the held-out loss bottoms out early and then creeps up while the training loss "
                  "still falls a little: that is where early stopping (a <code>tol</code>) would stop. Overlapping "
                  "classes (versicolor and virginica on iris) stay partly confused whatever the optimiser does: the "
                  "limit is the straight boundary, as the confusion matrix shows.")
    )
    return Part("classification", "Classification: the sigmoid and the softmax", body, results, figs)


def _files_part(root: Path, parts: list[Part]) -> str:
    """The files the demo wrote, linked: the stills of the animations and the figures not shown above,
    and the histories."""
    shown = set(re.findall(r'<img src="([^"]+)"', "".join(p.body for p in parts)))
    items = []
    for part in parts:
        rest = [f.relative_to(root).as_posix() for f in part.files if f.relative_to(root).as_posix() not in shown]
        if rest:
            links = ", ".join(f"<a href='{html.escape(r)}'>{html.escape(r)}</a>" for r in rest)
            items.append(f"<li>{html.escape(part.heading)}: {links}</li>")
    histories = sorted(p.name for p in (root / "histories").glob("*.json"))
    links = ", ".join(f"<a href='histories/{html.escape(h)}'>{html.escape(h)}</a>" for h in histories)
    return (
        "<p>Every figure above is also a file; the animations have still PNGs of their last frame, and a few "
        "more figures were drawn than shown:</p><ul>" + "".join(items) + "</ul>"
        f"<p>The full record of every run (each step's loss, gradient norm, learning rate and parameters), "
        f"to reload with <code>gradstep history show FILE</code> or <code>History.from_json</code>: {links}.</p>"
    )


STYLE = """body{font-family:system-ui,sans-serif;max-width:1440px;margin:1.5em auto;padding:0 1.5em;color:#222;
line-height:1.5;font-size:16px}
p,nav,.lesson,pre{max-width:80ch}h1{margin-bottom:.2em}h2{margin-top:2.2em;border-top:1px solid #ddd;padding-top:1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,560px),1fr));gap:1.5em 2em;margin:1.2em 0}
figure{margin:0}figure img{width:100%;max-width:700px;height:auto;border:1px solid #e4e4e4;display:block}
figcaption{margin-top:.4em;max-width:700px;color:#333}
.lesson{background:#f3f7fb;border-left:4px solid #4a78a8;padding:.7em 1em;margin:1em 0}
nav{background:#fafafa;border:1px solid #e4e4e4;padding:.5em 1.2em}nav ol{margin:.3em 0}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.8em}"""


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the report, figures and histories.")] = Path(
        "gradstep-demo"),
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the report's path (no progress).")] = False,
    checkpoint: Annotated[Path | None, typer.Option(help="Where Ctrl-C / SIGTERM saves the demo's runs (default "
                                                    "gradstep-demo.ckpt).")] = None,
    resume: Annotated[bool, typer.Option("--resume",
                                         help="Go on from --checkpoint: finished runs are not redone.")] = False,
) -> None:
    """Run the tutorials' lessons and write every figure, the histories and report.html.

    Batch / mini-batch / per-sample SGD on a line, learning rates on a bowl, a too-large
    learning rate caught, logistic and softmax regression with their decision boundaries.
    Each stage is announced on stderr (not with --json or --quiet)."""
    from ..atomic import write_text

    t0 = time.perf_counter()
    makers = (_line_part, _bowl_part, _too_large_part, _classification_part)
    step = Steps(not (as_json or quiet), len(makers))
    step(None, f"gradstep demo: {len(makers)} lessons, their figures and report.html in {out_dir}/ "
               "(about 10 s; a first run also compiles kernels, 15 s)")
    (out_dir / "histories").mkdir(parents=True, exist_ok=True)
    session = Session("demo", checkpoint, resume, {"out": str(out_dir)})
    with stoppable():   # a signal stops the run under way at its next step; no report is written then
        parts = [make(out_dir, session, step) for make in makers]
    step(None, "writing report.html…")
    report = out_dir / "report.html"
    contents = "".join(f"<li><a href='#{p.anchor}'>{html.escape(p.heading)}</a></li>" for p in parts)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>gradstep demo</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{STYLE}</style></head><body><h1>gradstep demo: gradient descent, seen</h1>"
        f"<p>Made by <code>gradstep demo</code> in {time.perf_counter() - t0:.1f} s: four lessons, each a few "
        "runs, a table of their numbers, figures with what to look at in each, and what it teaches.</p>"
        f"<nav><b>Contents</b><ol>{contents}<li><a href='#files'>The files</a></li></ol></nav>"
        + "".join(f"<h2 id='{p.anchor}'>{i}. {html.escape(p.heading)}</h2>{p.body}" for i, p in enumerate(parts, 1))
        + f"<h2 id='files'>The files</h2>{_files_part(out_dir, parts)}</body></html>"
    )
    write_text(report, page)
    files = [p for part in parts for p in part.files]
    if as_json:
        emit_json({"report": str(report), "figures": [str(p) for p in files],
                   "line": parts[0].results, "bowl": parts[1].results, "too_large": parts[2].results,
                   "classification": parts[3].results})
        return
    if quiet:
        print(report)
        return
    out.print(f"[bold]gradstep demo[/]: {len(files)} figures, {len(list((out_dir / 'histories').iterdir()))} "
              f"histories and the report in {out_dir}/ ({time.perf_counter() - t0:.1f} s)", highlight=False)
    out.print(f"open {report.resolve()}", highlight=False)
