"""``gradstep demo``: the tutorials' lessons as runs, figures and a one-page report."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .common import emit_json, out
from .stopping import NEVER, Session, stoppable

LINE_RUNS = (  # (label, batch_size, lr, epochs): the three ways of batching on the tutorial line
    ("batch GD (all 100 rows per step)", None, 0.01, 2000),
    ("mini-batch GD (10 rows per step)", 10, 0.005, 200),
    ("per-sample SGD (1 row per step)", 1, 0.002, 50),
)
BOWL, BOWL_X0, BOWL_STEPS = "x**2 + y**2", (3.0, 2.0), 50
BOWL_LRS = (0.4, 0.1, 0.01)
TOO_LARGE = (0.9, 1.1)


def _row(cells: list[Any]) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    return f"<table>{head}{''.join(_row(r) for r in rows)}</table>"


def _figures(paths: list[Path], root: Path) -> str:
    return "".join(
        f'<figure><img src="{html.escape(p.relative_to(root).as_posix())}" alt="{html.escape(p.stem)}">'
        f"<figcaption>{html.escape(p.name)}</figcaption></figure>" for p in paths
    )


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


def _line_part(root: Path, session: Session) -> tuple[str, list[dict[str, Any]], list[Path]]:
    from ..data.datasets import tutorial_line
    from ..diagnostics import closed_form
    from ..models import LinearRegression
    from .figures import model_figures

    ds = tutorial_line()
    coef, b = closed_form(ds.X, ds.y)
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
    figs = model_figures(models, [r[0] for r in LINE_RUNS], ds.X, ds.y, root / "line", ds.feature_names)
    body = (
        f"<h2>1. Fitting a line: batch, mini-batch and per-sample gradient descent</h2>"
        f"<p>{html.escape(ds.description)}. The closed-form least-squares answer is "
        f"w = {coef[0]:.6f}, b = {b:.6f}. Each run starts at w = b = 0 and minimises the mean squared error.</p>"
        + _table(["run", "lr", "epochs", "steps", "w", "b", "final MSE", "distance to closed form"], rows)
        + "<p><b>What it teaches.</b> Batch GD takes one exact, smooth step per epoch and walks straight "
          "down the valley; mini-batch and per-sample SGD take many cheap, noisy steps per epoch (their loss "
          "curves jitter) and end near, not at, the optimum unless the learning rate decays. The contours "
          "are long and thin because x is not scaled (condition number in the hundreds): every path first "
          "drops into the valley, then crawls along it towards b.</p>"
        + _figures(figs, root)
    )
    return body, results, figs


def _bowl_part(root: Path, session: Session) -> tuple[str, list[dict[str, Any]], list[Path]]:
    from ..expression import parse
    from .figures import formula_figures

    runs = [_minimize(session, root, f"bowl-lr{lr:g}", lr) for lr in BOWL_LRS]
    rows, results = [], []
    for lr, r in zip(BOWL_LRS, runs):
        rows.append([lr, f"{1 - 2 * lr:g}", f"({r.x[0]:.3g}, {r.x[1]:.3g})", f"{r.fun:.3g}", r.message])
        results.append({"lr": lr, "x": r.x.tolist(), "fun": float(r.fun), "success": bool(r.success)})
    figs = formula_figures(parse(BOWL), runs, [f"lr {lr:g}" for lr in BOWL_LRS], root / "bowl", optimum=(0.0, 0.0))
    body = (
        f"<h2>2. Learning rates on f(x, y) = x² + y² from (3, 2), {BOWL_STEPS} steps at most</h2>"
        "<p>The gradient is (2x, 2y), so each step multiplies the point by 1 − 2·lr. A run converges (and "
        "stops) once the gradient norm is at most 1e-5, minimize's default gtol; one that spends its steps "
        "first did not converge.</p>"
        + _table(["lr", "factor per step", "end point", "f(end)", "outcome"], rows)
        + "<p><b>What it teaches.</b> lr 0.4 shrinks the point fivefold per step and is at the minimum almost "
          "at once; lr 0.1 gets there steadily (0.8 per step); lr 0.01 is too small — after 50 steps it has "
          "covered only two thirds of the way.</p>"
        + _figures(figs, root)
    )
    return body, results, figs


def _too_large_part(root: Path, session: Session) -> tuple[str, list[dict[str, Any]], list[Path]]:
    from ..data.datasets import tutorial_line
    from ..diagnostics import stable_lr
    from ..expression import parse
    from ..loop import INTERRUPTED, DivergenceError
    from ..models import LinearRegression
    from .figures import formula_figures

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
    figs = formula_figures(parse(BOWL), runs, [f"lr {lr:g}" for lr in TOO_LARGE], root / "too-large",
                           optimum=(0.0, 0.0))
    rows = [[lr, f"{1 - 2 * lr:g}", r.nit, r.message] for lr, r in zip(TOO_LARGE, runs)]
    body = (
        "<h2>3. A learning rate that is too large is caught</h2>"
        "<p>On x² + y² the largest stable learning rate is 1 (2 / L with L = 2, the curvature).</p>"
        + _table(["lr", "factor per step", "steps", "outcome"], rows)
        + f"<p>Fitting the tutorial line with lr 0.05 (its stable bound is {stable_lr(ds.X):.4g}):</p>"
        f"<pre>{html.escape(caught)}</pre>"
        "<p><b>What it teaches.</b> Below the bound a large step overshoots and oscillates but still "
        "converges (lr 0.9: factor −0.8); above it every step overshoots further (lr 1.1: factor −1.2) and "
        "gradstep stops the run, names the step and says which learning rate would be stable, instead of "
        "returning NaN.</p>"
        + _figures(figs, root)
    )
    results = [{"lr": lr, "nit": r.nit, "status": int(r.status), "message": r.message}
               for lr, r in zip(TOO_LARGE, runs)]
    return body, results + [{"fit_lr": 0.05, "message": caught}], figs


def _classification_part(root: Path, session: Session) -> tuple[str, list[dict[str, Any]], list[Path]]:
    from ..data.datasets import load_dataset
    from ..models import LogisticRegression, SoftmaxRegression
    from .figures import classifier_figures

    runs = (  # (name, model, dataset, two features): two features so the boundary can be drawn
        ("binary: logistic regression", LogisticRegression, "breast_cancer", ("mean radius", "mean texture")),
        ("three classes: softmax regression", SoftmaxRegression, "iris", ("petal length (cm)", "petal width (cm)")),
    )
    rows, results, figs, sections = [], [], [], []
    for title, model, name, pair in runs:
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
        these = classifier_figures(est, X, y, root / f"classify-{name}", pair, ds.class_names or None)
        figs += these
        sections.append(f"<h3>{html.escape(title)} on {html.escape(name)}</h3>" + _figures(these, root))
    body = (
        "<h2>4. Classification: the sigmoid and the softmax</h2>"
        "<p>Logistic regression squashes a line's output into a probability with the sigmoid; softmax "
        "regression does the same for several classes. Both are fitted by full-batch gradient descent on "
        "the cross-entropy, with the learning rate chosen from the data (1/L), on two standardised features "
        "so that the decision boundary can be drawn; 10% of the rows are held out for validation.</p>"
        + _table(["run", "data", "features", "lr (auto)", "epochs", "training accuracy", "validation accuracy"], rows)
        + "<p><b>What it teaches.</b> From the zero start every point is given one class; the boundary "
          "swings into place within the first few dozen steps (the animations), and after that the training "
          "loss barely moves. On breast_cancer the held-out loss bottoms out early and then creeps up while the "
          "training loss still falls a little: that is where early stopping (a <code>tol</code>) would stop. "
          "Overlapping classes (versicolor and virginica on iris) stay partly confused whatever the optimiser "
          "does: the limit is the straight boundary, as the confusion matrix shows.</p>"
        + "".join(sections)
    )
    return body, results, figs


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
figure{display:inline-block;margin:.5em;vertical-align:top}img{max-width:520px;border:1px solid #eee}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.8em}"""


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the report, figures and histories.")] = Path("gradstep-demo"),
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    checkpoint: Annotated[Path | None, typer.Option(help="Where Ctrl-C / SIGTERM saves the demo's runs (default "
                                                    "gradstep-demo.ckpt).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Go on from --checkpoint: finished runs are not redone.")] = False,
) -> None:
    """Run the tutorials' lessons and write every figure, the histories and report.html.

    Batch / mini-batch / per-sample SGD on a line, learning rates on a bowl, a too-large
    learning rate caught, logistic and softmax regression with their decision boundaries."""
    from ..history import atomic_write

    t0 = time.perf_counter()
    (out_dir / "histories").mkdir(parents=True, exist_ok=True)
    session = Session("demo", checkpoint, resume, {"out": str(out_dir)})
    with stoppable():   # a signal stops the run under way at its next step; no report is written then
        parts = [make(out_dir, session) for make in (_line_part, _bowl_part, _too_large_part, _classification_part)]
    report = out_dir / "report.html"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>gradstep demo</title>"
        f"<style>{STYLE}</style></head><body><h1>gradstep demo: gradient descent, seen</h1>"
        f"<p>Made by <code>gradstep demo</code> in {time.perf_counter() - t0:.1f} s. Every run's full record "
        "is in <code>histories/</code> (reload with <code>gradstep history show FILE</code>).</p>"
        + "".join(body for body, _, _ in parts) + "</body></html>"
    )
    atomic_write(report, page)
    files = [p for _, _, figs in parts for p in figs]
    if as_json:
        emit_json({"report": str(report), "figures": [str(p) for p in files],
                   "line": parts[0][1], "bowl": parts[1][1], "too_large": parts[2][1],
                   "classification": parts[3][1]})
        return
    out.print(f"[bold]gradstep demo[/]: {len(files)} figures, {len(list((out_dir / 'histories').iterdir()))} "
              f"histories and the report in {out_dir}/", highlight=False)
    out.print(f"open {report.resolve()}", highlight=False)
