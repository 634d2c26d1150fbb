"""``gradstep fit`` on files read in chunks, with checkpoints and on a local Dask cluster, run as a user runs it.

The reference for every number is the in-memory estimator fitted on the same rows read with pandas.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gradstep import LinearRegression, LogisticRegression


def gradstep(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradstep.cli", *map(str, args)], capture_output=True, text=True,
                          check=False, timeout=timeout)


def frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.1 * rng.normal(size=n)
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y, "label": (y > 0.7).astype(float)})


def fitted(payload: dict) -> np.ndarray:
    return np.append(np.ravel(payload["coef"]), np.ravel(payload["intercept"]))


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture
def parquet(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    df = frame()
    path = tmp_path / "rows.parquet"
    df.to_parquet(path, row_group_size=50, index=False)
    return path, df


def test_stream_fit_equals_the_in_memory_fit(parquet):
    path, df = parquet
    res = gradstep("fit", path, "--target", "y", "--features", "a,b,c", "--stream", "--batch-size", "16",
                   "--epochs", "4", "--lr", "0.05", "--no-shuffle", "--chunk-rows", "30", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    ref = LinearRegression(batch_size=16, epochs=4, lr=0.05, shuffle=False, tol=None, random_state=0).fit(
        df[["a", "b", "c"]].to_numpy(), df["y"].to_numpy())
    assert relative(fitted(out), np.append(ref.coef_, ref.intercept_)) < 1e-12
    assert out["rows"] == len(df) and out["steps"] == ref.t_
    assert out["rows_read"] == 5 * len(df)  # the summary pass and four epochs
    cf = np.linalg.lstsq(np.c_[df[["a", "b", "c"]].to_numpy(), np.ones(len(df))], df["y"].to_numpy(), rcond=None)[0]
    assert relative(np.asarray(out["closed_form"]), cf) < 1e-10


def test_a_folder_of_files_streams_as_their_rows_in_order(tmp_path):
    df = frame(300, seed=1)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        df.iloc[100 * i:100 * (i + 1)].to_parquet(folder / f"part{i}.parquet", row_group_size=40, index=False)
    res = gradstep("fit", folder, "--target", "label", "--features", "a,b,c", "--model", "logistic",
                   "--batch-size", "32", "--epochs", "3", "--lr", "0.3", "--no-shuffle", "--json")
    assert res.returncode == 0, res.stderr
    ref = LogisticRegression(batch_size=32, epochs=3, lr=0.3, shuffle=False, tol=None, random_state=0).fit(
        df[["a", "b", "c"]].to_numpy(), df["label"].to_numpy())
    assert relative(fitted(json.loads(res.stdout)), np.append(ref.coef_, ref.intercept_)) < 1e-12


def test_checkpoint_then_resume_gives_the_same_result(parquet, tmp_path):
    path, _ = parquet
    ck = tmp_path / "run.ckpt"
    common = ["fit", path, "--target", "y", "--stream", "--batch-size", "8", "--epochs", "6", "--lr", "0.02",
              "--seed", "5", "--json"]
    full = gradstep(*common)
    first = gradstep(*common, "--checkpoint", ck, "--checkpoint-every", "7")
    assert full.returncode == 0 and first.returncode == 0, first.stderr
    assert ck.exists() and not list(tmp_path.glob(".*.tmp"))
    again = gradstep(*common, "--checkpoint", ck, "--resume")
    assert again.returncode == 0, again.stderr
    a, b, c = (fitted(json.loads(r.stdout)) for r in (full, first, again))
    assert np.array_equal(a, b) and np.array_equal(a, c)
    other = gradstep(*common[:-1], "--lr", "0.03", "--json", "--checkpoint", ck, "--resume")
    assert other.returncode == 2 and "lr=0.02 there" in other.stderr


def test_stream_fit_with_scaling_equals_the_in_memory_fit(parquet):
    path, df = parquet
    res = gradstep("fit", path, "--target", "y", "--features", "a,b,c", "--stream", "--batch-size", "16",
                   "--epochs", "2", "--lr", "0.05", "--no-shuffle", "--scale", "minmax", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    ref = LinearRegression(batch_size=16, epochs=2, lr=0.05, shuffle=False, tol=None, scale="minmax").fit(
        df[["a", "b", "c"]].to_numpy(), df["y"].to_numpy())
    assert relative(fitted(out), np.append(ref.coef_, ref.intercept_)) < 1e-12
    assert out["rows_read"] == 3 * len(df)  # the summary pass and two epochs


def test_fit_streamed_takes_a_sample_weight_column(parquet, tmp_path):
    """``fit_streamed(..., sample_weight=COLUMN)`` (the keyword ``--sample-weight`` goes to): the
    column weighs the rows and is not a feature, whether or not the features name it."""
    from gradstep.cli.stream import fit_streamed

    path, df = parquet
    X, y, w = df[["a", "b", "c"]].to_numpy(), df["y"].to_numpy(), df["label"].to_numpy() + 0.5
    weighted = tmp_path / "weighted.parquet"
    df.assign(w=w).to_parquet(weighted, row_group_size=50, index=False)
    kw = {"batch_size": 16, "epochs": 2, "lr": 0.05, "shuffle": False, "tol": None}
    ref = LinearRegression(**kw).fit(X, y, sample_weight=w)
    for features in (["a", "b", "c"], None):
        est, summary = LinearRegression(**kw), {}
        data = weighted if features else tmp_path / "no_label.parquet"
        if not features:
            df.drop(columns="label").assign(w=w).to_parquet(data, row_group_size=50, index=False)
        fit_streamed(est, [data], target="y", features=features, delimiter=None, chunk_rows=None, buffer_rows=None,
                     scheduler=None, workers=None, checkpoint=None, checkpoint_every=1000, resume=False,
                     history=None, as_json=True, quiet=True, summary=summary, sample_weight="w")
        assert summary["features"] == ["a", "b", "c"] and summary["sample_weight"] == "w"
        assert relative(fitted(summary), np.append(ref.coef_, ref.intercept_)) < 1e-12


@pytest.mark.parametrize(("args", "message"), [
    (["--resume"], "--resume needs --checkpoint"),
    (["--stream", "--dropna"], "--dropna and --fill are not available when streaming"),
    (["--stream", "--target", "nope"], "no column 'nope'"),
])
def test_bad_streaming_options_are_clear_errors(parquet, args, message):
    path, _ = parquet
    target = [] if "--target" in args else ["--target", "y"]
    res = gradstep("fit", path, *target, *args)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_a_missing_value_names_file_row_and_column(tmp_path):
    df = frame(120)
    df.loc[77, "b"] = np.nan
    path = tmp_path / "holes.parquet"
    df.to_parquet(path, row_group_size=50, index=False)
    res = gradstep("fit", path, "--target", "y", "--stream")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "holes.parquet" in res.stderr and "row 78" in res.stderr and "'b'" in res.stderr


def test_workers_start_a_local_dask_cluster(parquet):
    path, df = parquet
    res = gradstep("fit", path, "--target", "y", "--features", "a,b,c", "--workers", "2", "--epochs", "40",
                   "--lr", "0.3", "--json")
    assert res.returncode == 0, res.stderr
    ref = LinearRegression(epochs=40, lr=0.3, tol=None).fit(df[["a", "b", "c"]].to_numpy(), df["y"].to_numpy())
    assert relative(fitted(json.loads(res.stdout)), np.append(ref.coef_, ref.intercept_)) < 1e-10
