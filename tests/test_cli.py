"""The gradstep command: summaries, JSON output, and clear errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression as SkLinearRegression
from typer.testing import CliRunner

from gradstep.cli import app
from gradstep.data.datasets import tutorial_line

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


def test_fit_on_the_bundled_data_matches_the_closed_form():
    result = invoke("fit", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ds = tutorial_line()
    ref = SkLinearRegression().fit(ds.X, ds.y)
    np.testing.assert_allclose(out["coef"], ref.coef_, rtol=1e-8)
    assert out["intercept"] == pytest.approx(ref.intercept_, rel=1e-8)
    assert out["relative_error_to_closed_form"] < 1e-8
    # the tutorial's fixed 5,000 epochs, every rule off: done as asked, but no rule met, so not a success
    assert out["steps"] == 5000 and not out["success"] and "no convergence rule on" in out["message"]


def test_fit_prints_a_readable_summary():
    result = invoke("fit")
    assert result.exit_code == 0
    assert "closed form" in result.stdout and "intercept" in result.stdout and "stable lr" in result.stdout


def test_fit_a_csv_file(tmp_path):
    rng = np.random.default_rng(0)
    x1, x2 = rng.uniform(0, 1, 40), rng.uniform(0, 1, 40)
    y = 3 * x1 - 2 * x2 + 0.5
    path = tmp_path / "data.csv"
    path.write_text("x1,x2,label\n" + "".join(f"{a},{b},{c}\n" for a, b, c in zip(x1, x2, y)))
    result = invoke("fit", str(path), "--target", "label", "--lr", "0.5", "--epochs", "20000", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    np.testing.assert_allclose(out["coef"], [3.0, -2.0], rtol=1e-6)
    assert out["features"] == ["x1", "x2"]
    result = invoke("fit", str(path), "--target", "label", "--features", "x1", "--quiet")
    assert result.exit_code == 0 and len(result.stdout.split()) == 2


@pytest.mark.parametrize(
    "content, args, needle",
    [
        (None, ("--target", "y"), "no such file"),
        ("x,y\n1,2\n", ("--target", "z"), "no column 'z'"),
        ("x,y\n1,2\n2,abc\n", ("--target", "y"), "line 3, column 'y'"),
        ("x,y\n1,2\n,3\n", ("--target", "y"), "missing value"),
        ("x,y\n1,2\n2,inf\n", ("--target", "y"), "infinite"),
        ("", ("--target", "y"), "empty"),
        ("x,y\n", ("--target", "y"), "no rows"),
        ("x,y\n1,2\n", (), "--target"),
        ("x,y\n1,2\n2,3\n", ("--target", "y", "--loss", "l3"), "loss must be one of"),
        ("x,y\n1,2\n2,3\n", ("--target", "y", "--tol", "abc"), "--tol"),
    ],
)
def test_fit_bad_input_exits_2_with_a_located_message(tmp_path, content, args, needle):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    result = invoke("fit", str(path), *args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.output


def test_fit_divergence_exits_1_and_names_the_stable_lr(tmp_path):
    history = tmp_path / "h.json"
    result = invoke("fit", "--lr", "0.1", "--history", str(history))
    assert result.exit_code == 1
    assert "diverged" in result.stderr and "stable learning rate" in result.stderr
    assert json.loads(history.read_text())["format"] == "gradstep.history"


def test_minimize_command_defaults_are_the_library_s():
    import inspect

    from gradstep.cli.minimize import minimize as command
    from gradstep.minimize import DEFAULT_GTOL, DEFAULT_STEPS

    defaults = {k: p.default for k, p in inspect.signature(command).parameters.items()}
    assert defaults["steps"] == DEFAULT_STEPS and float(defaults["gtol"]) == DEFAULT_GTOL


def test_minimize_json_path():
    result = invoke("minimize", "x**2 + y**2", "--x0", "3,2", "--lr", "0.1", "--steps", "50", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    k = np.arange(51)[:, None]
    np.testing.assert_allclose(out["path"], np.array([3.0, 2.0]) * 0.8**k, rtol=1e-12)
    assert not out["success"] and out["status"] == 1 and out["variables"] == ["x", "y"]   # 50 steps spent


def test_minimize_summary_and_divergence():
    result = invoke("minimize", "x**2 + y**2", "--x0", "3,2", "--lr", "0.1", "--steps", "50")
    # a spent budget: no crash (exit 0), no success, and the message says which rule was not met
    assert result.exit_code == 0 and "did not converge: stopped at the limit of 50 steps" in result.stdout
    assert "gtol=1e-05 not met" in result.stdout
    result = invoke("minimize", "x**2 + y**2", "--x0", "3,2", "--lr", "0.1")
    assert result.exit_code == 0 and "converged: the gradient norm" in result.stdout
    assert "did not converge" not in result.stdout
    result = invoke("minimize", "x**2 + y**2", "--x0", "3,2", "--lr", "1.1", "--steps", "50")
    assert result.exit_code == 1 and "diverged" in result.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (("__import__('os')", "--x0", "1"), "formula refused"),
        (("x**2", "--x0", "a,b"), "--x0"),
        (("x**2 + y**2", "--x0", "1"), "2 variables"),
        (("x**2", "--x0", "1", "--optimizer", "bfgs"), "unknown optimizer"),
    ],
)
def test_minimize_bad_input_exits_2(args, needle):
    result = invoke("minimize", *args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.output


def test_installed_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "gradstep.cli", "minimize", "x**2", "--x0", "1", "--quiet",
                           "--lr", "0.25", "--steps", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) == pytest.approx(0.25)  # 1 -> 0.5 -> 0.25
