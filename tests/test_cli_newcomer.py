"""The command line as a newcomer meets it in the first hour (issue 17): every point run as a user runs it,
in process (Typer's runner) or as ``python -m gradstep``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gradstep.cli import app
from gradstep.data.datasets import tutorial_line

SRC = str(Path(__file__).resolve().parents[1] / "src")
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def gradstep(*args: str) -> subprocess.CompletedProcess:
    """``gradstep ARGS`` in a fresh process, with this checkout's package."""
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "gradstep", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def flat(text: str) -> str:
    """Help text without its boxes and line breaks: Rich wraps at the terminal's width."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def panels(text: str) -> dict[str, str]:
    """``--help``'s panels by title, each flattened."""
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        title = re.match(r"\s*╭─ (.+?) ─", line)
        if title:
            current = title.group(1)
            found[current] = []
        elif line.lstrip().startswith("╰"):
            current = None
        elif current is not None:
            found[current].append(line)
    return {name: flat("\n".join(lines)) for name, lines in found.items()}


def one_error_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def default_of(help_text: str, option: str) -> str:
    """The ``[default: ...]`` stated for ``option`` in a command's help (its row: the option, then its metavar)."""
    text = flat(help_text)
    m = re.search(re.escape(option) + r" [A-Z][^ ]* .*?\[default: (.+?)\]", text)
    assert m, (option, text)
    return m.group(1)


# --- --version ------------------------------------------------------------------------------------------

def test_version_prints_the_installed_version():
    from importlib.metadata import PackageNotFoundError, version

    import gradstep as package

    try:
        expected = version("gradstep")
    except PackageNotFoundError:  # pragma: no cover - a checkout that was never installed
        expected = package.__version__
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"gradstep {expected}"
    proc = gradstep("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"gradstep {expected}", proc.stderr
    assert "--version" in flat(invoke("--help").stdout)


# --- help: panels, defaults, flags ----------------------------------------------------------------------

def test_fit_help_groups_its_options_in_panels():
    result = invoke("fit", "--help")
    assert result.exit_code == 0, result.output
    found = panels(result.stdout)
    assert {"Data", "Model", "Optimiser", "Stopping", "Output", "Large data and checkpoints"} <= set(found)
    assert "Options" not in found   # no catch-all panel of 40 options
    where = {"--target": "Data", "--dropna": "Data", "--model": "Model", "--penalty": "Model", "--lr": "Optimiser",
             "--optimizer": "Optimiser", "--epochs": "Stopping", "--early-stopping": "Stopping", "--tol": "Stopping",
             "--json": "Output", "--history": "Output", "--stream": "Large data and checkpoints"}
    for option, panel in where.items():
        assert re.search(re.escape(option) + r"\b", found[panel]), (option, panel, found[panel])
    for panel in ("Optimiser", "Stopping", "Output"):
        assert panel in panels(invoke("minimize", "--help").stdout)
    assert {"Problem", "Grid", "Stopping", "Output"} <= set(panels(invoke("sweep", "--help").stdout))


def test_fit_help_states_the_defaults_including_the_learning_rate_s():
    text = invoke("fit", "--help").stdout
    assert default_of(text, "--lr") == "(0.01 for linear, auto for the classifiers)"
    assert default_of(text, "--epochs") == "5000"
    assert default_of(text, "--model") == "linear"
    assert default_of(text, "--tol") == "(none; 1e-3 with --early-stopping)"
    assert default_of(text, "--batch-size") == "(all = batch GD)"
    assert default_of(invoke("minimize", "--help").stdout, "--lr") == "0.01"


@pytest.mark.parametrize("command", [("fit",), ("minimize",), ("sweep",), ("demo",), ("check-grad",),
                                     ("history", "show"), ()], ids=lambda c: " ".join(c) or "gradstep")
def test_flags_are_shown_as_flags(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "<bool>" not in text
    assert "--help Show this message" in text


def test_fit_flags_take_no_value_and_options_name_theirs():
    text = flat(invoke("fit", "--help").stdout)
    for flag, words in {"--dropna": "Drop rows", "--early-stopping": "Hold out rows", "--no-intercept": "Fit y",
                        "--json": "Print machine-readable", "--stream": "Read the data", "--resume": "Go on"}.items():
        assert f"{flag} {words}" in text, flag
    assert "--shuffle --no-shuffle Shuffle rows" in text
    for option, metavar in {"--lr": "NUMBER|auto", "--target": "COLUMN", "--plot": "FOLDER", "--epochs": "N"}.items():
        assert re.search(re.escape(option) + r" (-\w )?" + re.escape(metavar) + " ", text), option
    assert "<str>" not in text and "<int>" not in text and "<float>" not in text


def test_one_default_optimiser_name_across_the_commands():
    fit_default = default_of(invoke("fit", "--help").stdout, "--optimizer")
    assert fit_default == "auto"
    assert default_of(invoke("minimize", "--help").stdout, "--optimizer") == fit_default
    assert default_of(invoke("sweep", "--help").stdout, "--optimizer") == fit_default
    # minimize's auto is plain gradient descent at --lr: the tutorial's iterates, (3, 2) * 0.8^k at lr 0.1
    result = invoke("minimize", "x**2 + y**2", "--x0", "3,2", "--lr", "0.1", "--steps", "10", "--json")
    out = json.loads(result.stdout)
    np.testing.assert_allclose(out["path"], np.array([3.0, 2.0]) * 0.8 ** np.arange(11)[:, None], rtol=1e-12)
    assert "(gd, lr 0.1)" in invoke("minimize", "x**2", "--x0", "1", "--lr", "0.1").stdout


# --- lr <= 0 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("fit", "--lr", "0"), ("fit", "--lr", "-0.5"), ("fit", "--lr", "nan"), ("fit", "--model", "logistic",
                                                                            "--dataset", "breast_cancer", "--lr", "0"),
    ("minimize", "x**2", "--x0", "1", "--lr", "0"), ("minimize", "x**2", "--x0", "1", "--lr", "-1"),
    ("sweep", "--lr", "0.1,0"), ("sweep", "--formula", "x**2", "--x0", "1", "--lr", "-0.1"),
], ids=lambda a: " ".join(a))
def test_a_learning_rate_that_is_not_above_zero_is_refused(args):
    line = one_error_line(invoke(*args))
    assert "--lr must be a number > 0" in line


# --- early stopping ------------------------------------------------------------------------------------------

def test_early_stopping_alone_stops_on_the_validation_loss():
    args = ("fit", "--dataset", "diabetes", "--scale", "standard", "--lr", "0.1", "--json")
    result = invoke(*args, "--early-stopping")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["epochs_run"] < 5000 and out["success"], out["message"]
    assert "validation loss" in out["message"] and "tol=0.001" in out["message"]
    # --tol none asks for every epoch, with or without a validation set
    out = json.loads(invoke(*args, "--early-stopping", "--tol", "none").stdout)
    assert out["epochs_run"] == 5000 and not out["success"]
    out = json.loads(invoke(*args, "--early-stopping", "--tol", "0.1").stdout)
    assert out["success"] and "tol=0.1" in out["message"]


# --- the closed form includes the penalty ------------------------------------------------------------------

def ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """argmin mean((X w + b - y)^2) + (alpha / 2) |w|^2, the intercept not penalised: [w, b]."""
    m, d = X.shape
    A = np.column_stack([X, np.ones(m)])
    D = np.diag([1.0] * d + [0.0])
    return np.linalg.solve(A.T @ A + (m * alpha / 2) * D, A.T @ y)


def test_ridge_is_compared_with_the_ridge_closed_form():
    ds = tutorial_line()
    result = invoke("fit", "--penalty", "l2", "--alpha", "1", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    expected = ridge(ds.X, np.asarray(ds.y, dtype=float), 1.0)
    np.testing.assert_allclose(np.append(out["closed_form_coef"], out["closed_form_intercept"]), expected, rtol=1e-9)
    unpenalised = np.linalg.lstsq(np.column_stack([ds.X, np.ones(len(ds.y))]), ds.y, rcond=None)[0]
    assert abs(expected[0] - unpenalised[0]) > 0.01   # a different problem, and the column is its optimum
    assert out["relative_error_to_closed_form"] < 1e-8 and abs(out["optimality_gap"]) < 1e-9
    assert out["reference"] == "closed form (ridge, alpha 1)"
    text = invoke("fit", "--penalty", "l2", "--alpha", "1").stdout
    assert "closed form (ridge, alpha 1)" in text and "relative distance to the closed form" in text


def test_lasso_is_compared_with_the_exact_optimum_not_a_closed_form():
    result = invoke("fit", "--penalty", "l1", "--alpha", "1", "--json")
    out = json.loads(result.stdout)
    assert out["reference"] == "exact optimum (l1, alpha 1)"
    assert out["relative_error_to_closed_form"] < 1e-6 and abs(out["optimality_gap"]) < 1e-9
    text = invoke("fit", "--penalty", "l1", "--alpha", "1").stdout
    assert "exact optimum (l1, alpha 1)" in text and "relative distance to the exact optimum" in text
    assert "closed form" not in text


# --- history show ----------------------------------------------------------------------------------------------

def test_history_show_names_the_parameters_in_the_data_s_units(tmp_path):
    run = tmp_path / "run.json"
    result = invoke("fit", "--dataset", "diabetes", "--scale", "standard", "--lr", "0.2", "--epochs", "300",
                    "--history", str(run), "--json")
    assert result.exit_code == 0, result.output
    fitted = json.loads(result.stdout)
    shown = invoke("history", "show", str(run), "--json")
    assert shown.exit_code == 0, shown.output
    out = json.loads(shown.stdout)
    assert out["param_names"][:3] == ["w[age]", "w[sex]", "w[bmi]"] and out["param_names"][-1] == "b"
    np.testing.assert_allclose(out["final_params_original"], np.append(fitted["coef"], fitted["intercept"]),
                               rtol=1e-10)
    assert out["final_params_units"] == "standard-scaled units"
    text = invoke("history", "show", str(run)).stdout
    assert "w[bmi]" in text and "in the data's units" in text and "as descended (standard-scaled)" in text
    assert f"{fitted['coef'][2]:.10g}" in text
    # unscaled: one column, in the data's units
    invoke("fit", "--epochs", "10", "--history", str(run), "--quiet")
    text = invoke("history", "show", str(run)).stdout
    assert "w[x]" in text and "value (the data's units)" in text


# --- sweep -------------------------------------------------------------------------------------------------------

def test_sweep_states_its_budget_and_tolerance_and_calls_unconverged_runs_so():
    result = invoke("sweep", "--lr", "0.01", "--epochs", "20")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "20 epochs" in text and "tol=1e-06" in text and "closed-form optimum" in text
    assert "not converged" in text and " ok " not in text
    out = json.loads(invoke("sweep", "--lr", "0.01", "--epochs", "20", "--json").stdout)
    assert out["budget"] == {"epochs": 20} and out["tol"] == 1e-6
    assert out["runs"][0]["outcome"] == "not converged" and not out["runs"][0]["converged"]
    result = invoke("sweep", "--formula", "x**2 + y**2", "--x0", "3,2", "--lr", "0.4,0.01,1.1", "--steps", "50")
    text = flat(result.stdout)
    assert "50 steps" in text and "gradient norm at most tol=1e-06" in text
    out = json.loads(invoke("sweep", "--formula", "x**2 + y**2", "--x0", "3,2", "--lr", "0.4,0.01,1.1",
                            "--steps", "50", "--json").stdout)
    assert [r["outcome"] for r in out["runs"]] == ["converged", "not converged", "diverged"]
    assert out["budget"] == {"steps": 50}


# --- a misspelt option -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, meant", [
    (("fit", "--learning-rate", "0.1"), "--lr"),
    (("minimize", "x**2", "--x0", "1", "--learning-rate", "0.1"), "--lr"),
    (("sweep", "--learning_rate", "0.1"), "--lr"),
    (("fit", "--iterations", "10"), "--epochs"),
    (("minimize", "x**2", "--x0", "1", "--iterations", "10"), "--steps"),
    (("fit", "--batch_size", "10"), "--batch-size"),
    (("fit", "--epoch", "10"), "--epochs"),
    (("fit", "--optimiser", "adam"), "--optimizer"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_misspelt_option_gets_the_one_meant(args, meant):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert f"Did you mean {meant}?" in flat(result.stderr)


def test_the_suggestion_reaches_a_user_s_terminal():
    proc = gradstep("fit", "--learning-rate", "0.1")
    assert proc.returncode == 2 and "Did you mean --lr?" in flat(proc.stderr)


# --- the CLI's own words -----------------------------------------------------------------------------------------

def test_a_text_target_suggests_the_classifier_options(tmp_path):
    path = tmp_path / "pets.csv"
    path.write_text("x,y\n1,cat\n2,dog\n")
    line = one_error_line(invoke("fit", str(path), "--target", "y"))
    assert "--model logistic" in line and "--model softmax" in line and "task=" not in line
    line = one_error_line(invoke("fit", "--dataset", "iris", "--model", "logistic"))
    assert "--model softmax" in line and "SoftmaxRegression" not in line
    line = one_error_line(invoke("fit", "--penalty", "l3"))
    assert line.startswith("error: --penalty must be one of") and "None" not in line


# --- columns counted from 1 --------------------------------------------------------------------------------------

def test_a_formula_error_counts_columns_from_1():
    line = one_error_line(invoke("minimize", "x + y ^ 2", "--x0", "1,2"))
    assert "at column 7" in line   # the 7th character is '^'


def test_a_numpy_array_s_columns_are_counted_from_1(tmp_path):
    a = np.arange(12.0).reshape(4, 3)
    a[2, 1] = np.nan
    np.save(tmp_path / "a.npy", a)
    line = one_error_line(invoke("fit", str(tmp_path / "a.npy"), "--target", "2"))
    assert "row 3 (index 2), column 2 (index 1): missing value" in line
    line = one_error_line(invoke("fit", str(tmp_path / "a.npy"), "--target", "5"))
    assert "named by their index, counted from 0" in line


def test_a_streamed_csv_names_the_column_pyarrow_counts_from_0(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "rows.csv"
    path.write_text("a,b,c,y\n1,2,3,4\n1,x,3,4\n")
    line = one_error_line(invoke("fit", str(path), "--target", "y", "--stream"))
    assert "column 'b' (column 2 of the file)" in line and "#1" not in line
