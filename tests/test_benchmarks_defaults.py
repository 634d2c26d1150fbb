"""``benchmarks/defaults.py --quick`` fits the defaults and reports their distance to the optimum.

Whether the defaults reach the optimum is what the benchmark measures, not what is asserted here
(its criteria may fail while the defaults are being changed); what is checked is the measure: every
column is there, each row's objective is the objective of its coefficients (recomputed here), the
reference's optimum agrees with SciPy's minimum of the same objective, written again here, and no
fit lands below the optimum. Nothing about wall-clock time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.preprocessing import StandardScaler

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "defaults.py"
COLUMNS = ("case", "method", "kind", "batch_size", "f_star", "objective", "gap", "score", "score_name", "zeros",
           "ref_zeros", "epochs", "seconds", "warnings", "convergence_warning", "error", "coef", "intercept")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("defaults") / "rows.json"
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(path)], check=False,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    return json.loads(path.read_text()), out.stdout


def _standardised(load):
    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y.astype(float)


def logistic(X, y, w, b, alpha):
    z = X @ w + b
    return np.mean(np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0) - y * z) + alpha / 2 * w @ w


def lasso(X, y, w, b, alpha):
    r = y - X @ w - b
    return r @ r / (2 * len(y)) + alpha * np.abs(w).sum()


def test_every_row_has_every_column_and_the_table_is_printed(report):
    data, stdout = report
    rows = data["rows"]
    assert {"gradstep", "sklearn", "numpy"} <= set(data["versions"]) and data["machine"]["cpu_count"] >= 1
    assert {r["case"].split(",")[0] for r in rows} == {"breast_cancer", "diabetes"}
    assert [r["kind"] for r in rows].count("reference") == 2
    for r in rows:
        assert set(COLUMNS) <= set(r), set(COLUMNS) - set(r)
        assert r["error"] is None, r["error"]
        assert r["seconds"] > 0 and r["epochs"] >= 1 and r["zeros"] >= 0
    assert "| case | method |" in stdout and "Done when" in stdout
    assert len(data["criteria"]) == 3 and all(isinstance(c["holds"], bool) for c in data["criteria"])


def test_objectives_are_those_of_the_coefficients_and_no_fit_beats_the_optimum(report):
    sets = {"breast_cancer": _standardised(load_breast_cancer), "diabetes": _standardised(load_diabetes)}
    for r in report[0]["rows"]:
        X, y = sets[r["case"].split(",")[0]]
        w, b = np.ravel(r["coef"]), r["intercept"][0]
        f = logistic(X, y, w, b, r["alpha"]) if r["objective_kind"] == "logistic" else lasso(X, y, w, b, r["alpha"])
        assert f == pytest.approx(r["objective"], rel=1e-12), r["method"]
        assert r["gap"] == pytest.approx((f - r["f_star"]) / abs(r["f_star"]), rel=1e-9, abs=1e-15)
        assert r["gap"] >= -1e-9, r["method"]
        if r["kind"] == "reference":
            assert r["gap"] == 0 and r["objective"] == r["f_star"]


def test_the_logistic_optimum_is_scipys(report):
    ref = next(r for r in report[0]["rows"] if r["kind"] == "reference" and r["objective_kind"] == "logistic")
    X, y = _standardised(load_breast_cancer)
    alpha, n = ref["alpha"], len(y)

    def fg(t):
        w, b = t[:-1], t[-1]
        z = X @ w + b
        s = 1 / (1 + np.exp(-z)) - y
        return logistic(X, y, w, b, alpha), np.append(X.T @ s / n + alpha * w, s.mean())

    best = minimize(fg, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B",
                    options={"ftol": 1e-16, "gtol": 1e-12, "maxiter": 100000})
    assert ref["f_star"] == pytest.approx(best.fun, rel=1e-9)
    assert ref["f_star"] <= best.fun * (1 + 1e-12)


def test_the_lasso_optimum_is_scipys(report):
    """Lasso's f* against L-BFGS-B on the same objective with w = u − v, u, v ≥ 0 (smooth, bounded)."""
    ref = next(r for r in report[0]["rows"] if r["kind"] == "reference" and r["objective_kind"] == "squared")
    X, y = _standardised(load_diabetes)
    alpha, (n, d) = ref["alpha"], X.shape

    def fg(t):
        u, v, b = t[:d], t[d:2 * d], t[-1]
        r = y - X @ (u - v) - b
        g = -X.T @ r / n
        return r @ r / (2 * n) + alpha * (u.sum() + v.sum()), np.concatenate([g + alpha, -g + alpha, [-r.mean()]])

    best = minimize(fg, np.zeros(2 * d + 1), jac=True, method="L-BFGS-B",
                    bounds=[(0, None)] * (2 * d) + [(None, None)],
                    options={"ftol": 1e-16, "gtol": 1e-12, "maxiter": 100000, "maxfun": 100000})
    assert ref["f_star"] == pytest.approx(best.fun, rel=1e-9)
    assert ref["f_star"] <= best.fun * (1 + 1e-12)
    assert ref["f_star"] == pytest.approx(lasso(X, y, np.ravel(ref["coef"]), ref["intercept"][0], alpha), rel=1e-13)
