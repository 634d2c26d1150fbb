"""Bad inputs and what gradstep says about them: runs each case and prints a Markdown table.

Run: ``python benchmarks/bad_inputs.py`` (about 10 s). Each case is run for real, through the
command line (``gradstep ...`` in a fresh process, as a user types it) or the library; the table
shows the exit code or exception and the first line of the message. The table in
``docs/hardening.md`` was made by this script.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

CASES_CLI = [
    ("CSV: a text cell in a numeric column", "rows.csv", "x,y\n1,2\n3,abc\n5,6\n", ["fit", "{f}", "--target", "y"]),
    ("CSV: a missing target", "rows.csv", "x,y\n1,2\n3,\n5,6\n", ["fit", "{f}", "--target", "y"]),
    ("CSV: ragged row", "rows.csv", "x,y\n1,2\n3,4,5\n", ["fit", "{f}", "--target", "y"]),
    ("CSV: infinite value", "rows.csv", "x,y\n1,2\ninf,4\n", ["fit", "{f}", "--target", "y"]),
    ("CSV: number too large for a float", "rows.csv", "x,y\n1,2\n1e400,4\n", ["fit", "{f}", "--target", "y"]),
    ("CSV: not UTF-8", "rows.csv", b"x,y\n1,2\n\xff\xfe,4\n", ["fit", "{f}", "--target", "y"]),
    ("CSV: empty file", "rows.csv", "", ["fit", "{f}", "--target", "y"]),
    ("CSV: unknown target", "rows.csv", "x,y\n1,2\n3,4\n", ["fit", "{f}", "--target", "price"]),
    ("Parquet: truncated file", "rows.parquet", None, ["fit", "{f}", "--target", "y"]),
    ("npz: array of Python objects", "rows.npz", None, ["fit", "{f}", "--target", "y"]),
    ("absurd learning rate", None, None, ["fit", "--lr", "1e6", "--epochs", "3", "--batch-size", "10"]),
    ("negative learning rate", None, None, ["fit", "--lr", "-1"]),
    ("formula with a Python attribute", None, None, ["minimize", "x.__class__", "--x0", "1"]),
    ("formula calling eval", None, None, ["minimize", "eval('1') + x", "--x0", "1"]),
    ("formula nested too deep", None, None, ["minimize", "sin(" * 50 + "x" + ")" * 50, "--x0", "1"]),
    ("huge power", None, None, ["minimize", "x**9**9**9", "--x0", "1"]),
    ("x0 of the wrong length", None, None, ["minimize", "x**2 + y**2", "--x0", "1"]),
    ("--resume without --checkpoint", None, None, ["minimize", "x**2", "--x0", "1", "--resume"]),
    ("resume with other settings", None, None, None),
]


def _special(name: str, path: Path) -> None:
    import pandas as pd

    if name.endswith(".parquet"):
        pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0)}).to_parquet(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif name.endswith(".npz"):
        np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([1.0, 2.0]))


def cli_rows(folder: Path) -> list[tuple[str, str, str]]:
    rows = []
    for label, name, content, args in CASES_CLI:
        if args is None:   # resume with other settings: a checkpoint made with lr 0.1, resumed with 0.2
            ck = folder / "run.ckpt"
            subprocess.run([sys.executable, "-m", "gradstep", "minimize", "x**2", "--x0", "3", "--lr", "0.1",
                            "--checkpoint", str(ck), "--checkpoint-every", "1"], capture_output=True, check=False)
            args = ["minimize", "x**2", "--x0", "3", "--lr", "0.2", "--checkpoint", str(ck), "--resume"]
        f = None
        if name is not None:
            f = folder / name
            if content is None:
                _special(name, f)
            elif isinstance(content, bytes):
                f.write_bytes(content)
            else:
                f.write_text(content)
        argv = [a.replace("{f}", str(f)) if f is not None else a for a in args]
        r = subprocess.run([sys.executable, "-m", "gradstep", *argv], capture_output=True, text=True, check=False,
                           env={**os.environ, "COLUMNS": "400"}, cwd=folder)
        text = (r.stderr or r.stdout).strip().splitlines()
        first = next((t for t in text if t.startswith("error:")),
                     next((t for t in text if t.strip() and not t.startswith("Traceback")), ""))
        shown = " ".join(["gradstep", *[a if len(a) < 40 else a[:37] + "..." for a in argv]])
        shown = shown.replace(str(folder) + "/", "")
        rows.append((label + f" (`{shown}`)", f"exit {r.returncode}", first.replace(str(folder) + "/", "")))
    return rows


def library_rows() -> list[tuple[str, str, str]]:
    from gradstep import LinearRegression, LogisticRegression, minimize

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.1 * rng.normal(size=200)
    cases = [
        ("float32 data whose squares overflow", lambda: LinearRegression().fit(X.astype(np.float32) * 1e20,
                                                                               y.astype(np.float32))),
        ("features 1e-8 in size", lambda: LinearRegression(epochs=200).fit(X * 1e-8, y)),
        ("a constant column", lambda: LinearRegression(epochs=50).fit(np.c_[X, np.ones(200)], y)),
        ("a duplicated column", lambda: LinearRegression(epochs=50).fit(np.c_[X, X[:, 0]], y)),
        ("separable classes, no penalty", lambda: LogisticRegression(epochs=3000, lr=1.0, tol=None).fit(
            np.r_[X[:100, :2] + 4, X[100:, :2] - 4], np.r_[np.ones(100), np.zeros(100)])),
        ("a learning rate far above the stable one", lambda: LinearRegression(lr=10.0, epochs=50).fit(X, y)),
        ("predict on a row of 1e308", lambda: LinearRegression(epochs=50).fit(X, y).predict([[1e308, 1e308, 1e308]])),
        ("minimize from a point where f is NaN", lambda: minimize("log(x)", [-1.0])),
    ]
    rows = []
    for label, fn in cases:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fn()
                outcome, message = "no error", ""
            except Exception as e:  # noqa: BLE001 - each case's outcome is what is shown
                outcome, message = type(e).__name__, str(e)
        said = [w for w in caught if w.category.__name__ in ("NumericalWarning", "ConvergenceWarning")]
        if said:
            outcome = f"{outcome}; {said[0].category.__name__}" if outcome != "no error" else said[0].category.__name__
            message = message or str(said[0].message)
        rows.append((label, outcome, message))
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        rows = cli_rows(Path(d)) + library_rows()
    print("| case | outcome | message (first line) |")
    print("| --- | --- | --- |")
    for case, outcome, message in rows:
        cell = message.replace("|", "\\|")
        print(f"| {case} | {outcome} | {cell} |")


if __name__ == "__main__":
    main()
