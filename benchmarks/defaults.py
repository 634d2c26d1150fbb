r"""Default fits against the optimum: does ``gradstep`` with only the problem stated reach it?

One command::

    python benchmarks/defaults.py                 # every case, best of 3 timed fits (a minute or two)
    python benchmarks/defaults.py --quick         # breast_cancer full batch and diabetes L1, 1 fit (the test)
    python benchmarks/defaults.py --json rows.json --repeat 5

Each case is a problem (data, loss, penalty, alpha) on features standardised by scikit-learn's
``StandardScaler`` (targets left as they are). Every contender is constructed with the problem's
settings only (``penalty``, ``alpha``, ``l1_ratio``, ``loss``, ``batch_size``, ``random_state=0``),
everything else at its default:

* gradstep's ``LogisticRegression`` / ``SoftmaxRegression`` / ``LinearRegression`` (full batch,
  ``batch_size=32`` and ``batch_size=1`` for the classifiers; full batch and ``batch_size=1`` for
  the regressions),
* scikit-learn's ``SGDClassifier`` / ``SGDRegressor`` (same objective, except that
  ``SGDClassifier`` is one-vs-rest on more than two classes),
* an exact solver, the reference: ``LogisticRegression(C=1/(n*alpha), tol=1e-12,
  max_iter=100000)`` (lbfgs; multinomial for more than two classes) and ``Lasso`` /
  ``ElasticNet(tol=1e-14, max_iter=1e6)``.

The objectives, written here in NumPy (independently of gradstep's code), over the ``n`` rows:

========== ====================================================================================
logistic   :math:`\frac1n\sum_i [\log(1+e^{z_i}) - y_i z_i] + \frac\alpha2\lVert w\rVert^2`
softmax    :math:`\frac1n\sum_i [\operatorname{lse}(z_i) - z_{i,y_i}] + \frac\alpha2\lVert W\rVert_F^2`
squared    :math:`\frac1{2n}\lVert y - Xw - b\rVert^2 + \alpha[\rho\lVert w\rVert_1 + \frac{1-\rho}2\lVert w\rVert^2]`
           (``half_mse``; :math:`\rho = 1` for L1, ``l1_ratio`` for the elastic net)
========== ====================================================================================

which are gradstep's, scikit-learn's SGD's and (divided by :math:`Cn`) ``LogisticRegression``'s,
and ``Lasso``'s / ``ElasticNet``'s. Every fitted ``coef_`` / ``intercept_`` is evaluated on the
standardised data; the table gives the relative gap :math:`(f - f^*)/|f^*|` to the reference's
:math:`f^*`, the training accuracy (or R²; on the training rows), the exact zeros of ``coef_``
(``== 0.0``) against the reference's (:math:`|w| < 10^{-12}`), the epochs (``n_iter_``), the
fastest of ``--repeat`` fits (``time.perf_counter`` around ``fit``; the first fit of a kind pays
Numba's compilation, so ``--quick`` times include it) and the warnings each fit raised. Then it
says whether each "Done when" criterion of the issue "Defaults that reach the optimum, and L1
that gives exact zeros" holds. (digits has 3 pixel columns that are 0 in every image: their 3 × 10
coefficients stay 0 for every solver, hence its 30 zeros.) Nothing here asserts: a fit that warns
or fails is a row that says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

LOGISTIC_GAP = 1e-4      # criterion 1: logistic / softmax gradstep rows
L1_GAP = 1e-6            # criterion 2: full-batch L1 / elastic-net gradstep rows (and the same zero set)
REF_ZERO = 1e-12         # a reference coefficient below this is a zero
ISSUE = "Defaults that reach the optimum, and L1 that gives exact zeros"


# --------------------------------------------------------------------------- objectives (NumPy, our own)
def logistic_objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, alpha: float) -> float:
    """Mean log-loss of 0/1 labels ``y`` at ``z = X w + b``, plus ``alpha/2 ||w||^2``."""
    z = X @ w + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * alpha * (w @ w))


def softmax_objective(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray, alpha: float) -> float:
    """Mean cross-entropy of class indices ``y`` at ``Z = X W^T + b`` (``W`` is (K, d)), plus ``alpha/2 ||W||_F^2``."""
    Z = X @ W.T + b
    top = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(lse - Z[np.arange(len(y)), y]) + 0.5 * alpha * np.sum(W * W))


def squared_objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, alpha: float, rho: float) -> float:
    """``1/(2n) ||y - X w - b||^2 + alpha (rho ||w||_1 + (1 - rho)/2 ||w||^2)`` (Lasso's and ElasticNet's)."""
    r = y - X @ w - b
    return float(r @ r / (2 * len(y)) + alpha * (rho * np.abs(w).sum() + 0.5 * (1 - rho) * (w @ w)))


# --------------------------------------------------------------------------- cases
@dataclass
class Case:
    name: str
    kind: str                      # "logistic", "softmax" or "squared"
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    penalty: str
    alpha: float
    l1_ratio: float | None = None  # elastic net only
    batches: tuple = (None, 32, 1)
    quick_batches: tuple | None = None  # the batch settings --quick runs; None: the case is not in --quick

    @property
    def rho(self) -> float:
        return 1.0 if self.penalty == "l1" else (self.l1_ratio if self.penalty == "elasticnet" else 0.0)


def _sk(name: str, **kw: Any) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        import sklearn.datasets as ds

        out = getattr(ds, name)(**kw)
        return (out[0], out[1]) if isinstance(out, tuple) else (out.data, out.target)

    return load


CASES = [
    Case("breast_cancer", "logistic", _sk("load_breast_cancer"), "l2", 1e-2, quick_batches=(None,)),
    Case("make_classification(2000, 20)", "logistic",
         _sk("make_classification", n_samples=2000, n_features=20, random_state=0), "l2", 1e-2),
    # per-sample softmax runs the plain Python loop (no compiled softmax epochs yet): about 3 minutes here
    Case("digits", "softmax", _sk("load_digits"), "l2", 1e-2, batches=(None, 32)),
    Case("wine", "softmax", _sk("load_wine"), "l2", 1e-2),
    # alphas at which the exact solutions have zeros (3 and 1 of the 10 coefficients): at 0.05 they have none
    Case("diabetes", "squared", _sk("load_diabetes"), "l1", 1.0, batches=(None, 1), quick_batches=(None, 1)),
    Case("diabetes", "squared", _sk("load_diabetes"), "elasticnet", 2.0, l1_ratio=0.5, batches=(None, 1)),
    Case("make_regression(500, 40, 6 informative)", "squared",
         _sk("make_regression", n_samples=500, n_features=40, n_informative=6, noise=1.0, random_state=0),
         "l1", 1.0, batches=(None, 1)),
]


def case_label(c: Case) -> str:
    what = {"logistic": "logistic", "softmax": "softmax", "squared": "half_mse"}[c.kind]
    pen = f"{c.penalty} α={c.alpha:g}" + (f" l1_ratio={c.l1_ratio:g}" if c.l1_ratio is not None else "")
    return f"{c.name}, {what} {pen}"


# --------------------------------------------------------------------------- fitting
@dataclass
class Problem:
    case: Case
    X: np.ndarray
    y: np.ndarray                  # 0/1 (logistic), class index (softmax) or the target (squared)
    classes: np.ndarray | None = None
    ref_coef: np.ndarray | None = None
    f_star: float = float("nan")
    extra: dict = field(default_factory=dict)

    def objective(self, coef: np.ndarray, intercept: Any) -> float:
        c = self.case
        if c.kind == "logistic":
            return logistic_objective(self.X, self.y, np.ravel(coef), float(np.ravel(intercept)[0]), c.alpha)
        if c.kind == "softmax":
            return softmax_objective(self.X, self.y, np.atleast_2d(coef), np.ravel(intercept), c.alpha)
        return squared_objective(self.X, self.y, np.ravel(coef), float(np.ravel(intercept)[0]), c.alpha, c.rho)


def load_problem(c: Case) -> Problem:
    from sklearn.preprocessing import StandardScaler

    X, y = c.load()
    X = StandardScaler().fit_transform(np.asarray(X, dtype=float))
    if c.kind == "squared":
        return Problem(c, X, np.asarray(y, dtype=float))
    classes = np.unique(y)
    return Problem(c, X, np.searchsorted(classes, y), classes)


def timed_fit(make: Callable[[], Any], X: np.ndarray, y: np.ndarray, repeat: int) -> dict[str, Any]:
    """Fit ``make()`` ``repeat`` times; the last model, the fastest time, every warning's category, or the error."""
    best, model, caught, error = float("inf"), None, [], None
    for _ in range(repeat):
        est = make()
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            try:
                est.fit(X, y)
            except Exception as exc:  # a fit that fails is reported, not raised
                error = f"{type(exc).__name__}: {exc}"[:200]
                break
            best = min(best, time.perf_counter() - t0)
        model = est
        for w in got:
            name = w.category.__name__
            if name not in caught:
                caught.append(name)
    return {"model": model, "seconds": best if model is not None else None, "warnings": caught, "error": error}


def _epochs(model: Any) -> int | None:
    n = getattr(model, "n_iter_", None)
    return None if n is None else int(np.max(n))


def _row(p: Problem, method: str, kind: str, batch_size: Any, fit: dict[str, Any]) -> dict[str, Any]:
    c, m = p.case, fit["model"]
    row: dict[str, Any] = {
        "case": case_label(c), "dataset": c.name, "objective_kind": c.kind, "penalty": c.penalty,
        "alpha": c.alpha, "l1_ratio": c.l1_ratio, "method": method, "kind": kind, "batch_size": batch_size,
        "n_samples": int(p.X.shape[0]), "n_features": int(p.X.shape[1]),
        "f_star": p.f_star, "objective": None, "gap": None, "gap_note": None,
        "score_name": "R²" if c.kind == "squared" else "accuracy", "score": None,
        "zeros": None, "ref_zeros": int(np.sum(np.abs(p.ref_coef) < REF_ZERO)) if p.ref_coef is not None else None,
        "same_zero_set": None, "epochs": None, "seconds": fit["seconds"], "warnings": fit["warnings"],
        "convergence_warning": "ConvergenceWarning" in fit["warnings"], "error": fit["error"],
        "coef": None, "intercept": None, "lr_": None,
    }
    if m is None:
        return row
    coef, intercept = np.asarray(m.coef_, dtype=float), np.atleast_1d(np.asarray(m.intercept_, dtype=float))
    row.update(coef=coef.tolist(), intercept=intercept.tolist(), epochs=_epochs(m), score=float(m.score(p.X, _y(p))),
               zeros=int(np.sum(coef == 0.0)))
    if p.ref_coef is not None:
        ref_zero = np.abs(p.ref_coef) < REF_ZERO
        row["same_zero_set"] = bool(np.array_equal(coef.reshape(ref_zero.shape) == 0.0, ref_zero))
    lr = getattr(m, "lr_", None)
    row["lr_"] = float(lr) if isinstance(lr, (int, float, np.floating)) else (None if lr is None else repr(lr))
    if kind == "sklearn-sgd" and c.kind == "softmax":
        # one-vs-rest: a different objective; the softmax objective at its coefficients, labelled as such
        row["gap_note"] = "n/a (one-vs-rest)"
        f = p.objective(coef, intercept)
        row["softmax_gap_at_coef"] = (f - p.f_star) / abs(p.f_star)
        return row
    row["objective"] = p.objective(coef, intercept)
    row["gap"] = (row["objective"] - p.f_star) / abs(p.f_star)
    return row


def _y(p: Problem) -> np.ndarray:
    return p.y if p.classes is None else p.classes[p.y]


def run_case(c: Case, quick: bool, repeat: int) -> list[dict[str, Any]]:
    from sklearn.linear_model import ElasticNet, Lasso, SGDClassifier, SGDRegressor
    from sklearn.linear_model import LogisticRegression as SkLogistic

    import gradstep

    p = load_problem(c)
    n, y = p.X.shape[0], _y(p)
    batches = c.quick_batches if quick else c.batches
    if c.kind == "squared":
        if c.penalty == "l1":
            ref_name, make_ref = "Lasso(tol=1e-14)", partial(Lasso, alpha=c.alpha, tol=1e-14, max_iter=10**6)
        else:
            ref_name = "ElasticNet(tol=1e-14)"
            make_ref = partial(ElasticNet, alpha=c.alpha, l1_ratio=c.l1_ratio, tol=1e-14, max_iter=10**6)
        sgd_kw = {"penalty": c.penalty, "alpha": c.alpha, **({"l1_ratio": c.l1_ratio} if c.l1_ratio else {})}
        sgd_name, make_sgd = "sklearn SGDRegressor", partial(SGDRegressor, **sgd_kw, random_state=0)
        gs_kw = {"loss": "half_mse", "penalty": c.penalty, "alpha": c.alpha,
                 **({"l1_ratio": c.l1_ratio} if c.l1_ratio is not None else {})}
        gs_cls = gradstep.LinearRegression
    else:
        ref_name = "LogisticRegression lbfgs(C=1/(nα), tol=1e-12)"
        make_ref = partial(SkLogistic, C=1 / (n * c.alpha), tol=1e-12, max_iter=100000)
        sgd_name = "sklearn SGDClassifier" + (" (one-vs-rest)" if c.kind == "softmax" else "")
        make_sgd = partial(SGDClassifier, loss="log_loss", penalty=c.penalty, alpha=c.alpha, random_state=0)
        gs_kw = {"penalty": c.penalty, "alpha": c.alpha}
        gs_cls = gradstep.SoftmaxRegression if c.kind == "softmax" else gradstep.LogisticRegression

    rows = []
    ref = timed_fit(make_ref, p.X, y, repeat)
    if ref["model"] is not None:
        p.ref_coef = np.asarray(ref["model"].coef_, dtype=float)
        p.f_star = p.objective(p.ref_coef, ref["model"].intercept_)
    r = _row(p, f"reference: {ref_name}", "reference", None, ref)
    rows.append(r)
    _show(r)
    for bs in batches:
        label = "gradstep full batch" if bs is None else f"gradstep batch_size={bs}"
        fit = timed_fit(partial(gs_cls, **gs_kw, batch_size=bs, random_state=0), p.X, y, repeat)
        rows.append(_row(p, label, "gradstep", bs, fit))
        _show(rows[-1])
    rows.append(_row(p, sgd_name, "sklearn-sgd", None, timed_fit(make_sgd, p.X, y, repeat)))
    _show(rows[-1])
    return rows


# --------------------------------------------------------------------------- report
def sig2(x: float | None) -> str:
    """Two significant digits: ``3.1e-05``, ``0``, ``-2.2e-16``."""
    if x is None or not np.isfinite(x):
        return "—" if x is None else str(x)
    return "0" if x == 0 else f"{x:.1e}"


def seconds(x: float | None) -> str:
    return "—" if x is None else (f"{x:.2g}" if x >= 1e-3 else f"{x:.1e}")


def gap_cell(r: dict) -> str:
    if r["kind"] == "reference":
        return f"f* = {r['f_star']:.10g}" if r["f_star"] == r["f_star"] else "—"
    return r["gap_note"] if r["gap_note"] else sig2(r["gap"])


def notes(r: dict) -> str:
    out = []
    if r.get("softmax_gap_at_coef") is not None:
        out.append(f"softmax objective at its OvR coef: gap {sig2(r['softmax_gap_at_coef'])}")
    if r["kind"] == "gradstep" and r["same_zero_set"] is not None and r["penalty"] != "l2":
        out.append("same zero set" if r["same_zero_set"] else "zero set differs")
    if r["error"]:
        out.append(r["error"])
    return "; ".join(out)


HEADER = ["case", "method", "rel. gap (f − f*) / abs(f*)", "train acc. / R²", "zeros (ref)", "epochs", "seconds",
          "warning", "notes"]


def table_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        score = "—" if r["score"] is None else f"{r['score']:.4f}"
        zeros = "—" if r["zeros"] is None else f"{r['zeros']} ({r['ref_zeros']})"
        epochs = "—" if r["epochs"] is None else str(r["epochs"])
        out.append([r["case"], r["method"], gap_cell(r), score, zeros, epochs, seconds(r["seconds"]),
                    ", ".join(r["warnings"]) or "—", notes(r)])
    return out


def _show(r: dict) -> None:
    cells = table_rows([r])[0]
    print(f"  {cells[0][:44]:<44} {cells[1][:46]:<46} {cells[2]:>22} {cells[3]:>7} {cells[4]:>8} {cells[5]:>6} "
          f"{cells[6]:>7}s {cells[7]}", flush=True)


def criteria(rows: list[dict]) -> list[dict[str, Any]]:
    """The issue's "Done when" criteria, each with the rows it covers and those that fail it."""
    gs = [r for r in rows if r["kind"] == "gradstep"]

    def name(r: dict) -> str:
        return f"{r['case']} / {r['method']}"

    out = []
    smooth = [r for r in gs if r["objective_kind"] in ("logistic", "softmax")]
    fail = [f"{name(r)}: gap {sig2(r['gap'])}" for r in smooth if r["gap"] is None or not r["gap"] <= LOGISTIC_GAP]
    out.append({"criterion": f"logistic/softmax gradstep rows: relative gap ≤ {LOGISTIC_GAP:g}", "rows": len(smooth),
                "failing": fail})
    full = [r for r in gs if r["penalty"] in ("l1", "elasticnet") and r["batch_size"] is None]
    fail = [f"{name(r)}: gap {sig2(r['gap'])}, zeros {r['zeros']} (ref {r['ref_zeros']})"
            + ("" if r["same_zero_set"] else ", zero set differs")
            for r in full if r["gap"] is None or not r["gap"] <= L1_GAP or not r["same_zero_set"]]
    out.append({"criterion": f"full-batch L1/elastic-net gradstep rows: gap ≤ {L1_GAP:g} and the reference's "
                             "zero set", "rows": len(full), "failing": fail})
    per = [r for r in gs if r["penalty"] in ("l1", "elasticnet") and r["batch_size"] == 1]
    fail = [f"{name(r)}: zeros {r['zeros']} < ref {r['ref_zeros']} − 1" for r in per
            if r["zeros"] is None or r["ref_zeros"] is None or r["zeros"] < r["ref_zeros"] - 1]
    out.append({"criterion": "per-sample (batch_size=1) L1/elastic-net gradstep rows: zeros ≥ reference zeros − 1",
                "rows": len(per), "failing": fail})
    for c in out:
        c["holds"] = c["rows"] > 0 and not c["failing"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="breast_cancer full batch and diabetes L1, one fit each")
    ap.add_argument("--repeat", type=int, default=None, help="timed fits per row, the fastest kept (3; 1 with --quick)")
    ap.add_argument("--json", type=Path, default=None, help="write every row (and the criteria) there")
    args = ap.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)

    import sklearn

    import gradstep

    machine = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.machine(),
               "python": platform.python_version()}
    versions = {"gradstep": gradstep.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__}
    print(f"gradstep defaults benchmark: gradstep {versions['gradstep']}, scikit-learn {versions['sklearn']}, "
          f"NumPy {versions['numpy']}, Python {machine['python']}; {machine['processor']}, "
          f"{machine['cpu_count']} cores; best of {repeat} fit(s){' (quick)' if args.quick else ''}", flush=True)
    rows: list[dict[str, Any]] = []
    for c in CASES:
        if args.quick and c.quick_batches is None:
            continue
        rows += run_case(c, args.quick, repeat)

    print("\nAccuracy and R² are on the training rows; zeros count coef_ == 0.0 (the reference's: |w| < 1e-12); "
          "seconds are the fastest fit.\n")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    for cells in table_rows(rows):
        print("| " + " | ".join(cells) + " |")
    crit = criteria(rows)
    print(f'\nDone when (issue "{ISSUE}"):')
    for c in crit:
        state = "holds" if c["holds"] else ("no rows" if c["rows"] == 0 else "fails")
        print(f"- [{state}] {c['criterion']} ({c['rows'] - len(c['failing'])}/{c['rows']} rows)")
        for f in c["failing"]:
            print(f"    - {f}")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "machine": machine, "repeat": repeat,
                                         "quick": args.quick, "rows": rows, "criteria": crit}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
