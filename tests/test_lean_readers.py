"""Lean loading (:mod:`gradstep.data.readers.dense`, ``arrow_csv``) and the memory budget of ``.npy``/``.npz``.

References are independent: pyarrow's own ``read_table(...).to_pandas()`` and ``pandas.read_csv`` with
the exact float parser of pandas 3, compared bitwise; the careful text reader for
the messages of the files the lean reader hands over. Blocks are made small (a few rows) so that every
file spans many of them.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import gradstep.data.readers as readers
from gradstep.cli import app
from gradstep.data.readers import DataError, arrow_csv, parquet, read_table

N = 203  # rows: not a multiple of the block size


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(parquet, "BATCH_ROWS", 16)
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(arrow_csv, "MIN_BYTES", 0)  # small files too


def frame(seed: int, n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.integers(-12, 12, size=(n, 4))
    return pd.DataFrame({
        "a": rng.standard_normal(n) * scales[:, 0],
        "b": rng.integers(-10**6, 10**6, n),
        "c": (rng.standard_normal(n) * scales[:, 2]).astype(np.float32),
        "d": rng.random(n) < 0.5,
        "y": rng.standard_normal(n) * scales[:, 3],
    })


def bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def careful_only(monkeypatch) -> None:
    """Make every CSV go through the careful reader (the lean one declines)."""
    monkeypatch.setattr(readers, "open_lean_csv", lambda path, delimiter: None)


def lean_used(monkeypatch) -> list[str]:
    """Record the CSV files the lean reader took (and did not hand back)."""
    taken: list[str] = []
    real = arrow_csv._ArrowCsvSource.batches

    def batches(self, *a, **k):
        taken.append(self.path.name)
        yield from real(self, *a, **k)

    monkeypatch.setattr(arrow_csv._ArrowCsvSource, "batches", batches)
    return taken


# --- Parquet --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_parquet_equals_pyarrow_to_pandas_bitwise(tmp_path, seed):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(frame(seed), preserve_index=False), path, row_group_size=50)
    ds = read_table(path, target="y")
    ref = pq.read_table(path).to_pandas()
    assert ds.X.flags.c_contiguous and ds.X.dtype == np.float64 and ds.feature_names == ("a", "b", "c", "d")
    assert bitwise_equal(ds.X, ref[["a", "b", "c", "d"]].to_numpy(dtype=np.float64))
    assert bitwise_equal(ds.y, ref["y"].to_numpy(dtype=np.float64))


def test_parquet_nulls_dropped_or_filled_as_pandas_does(tmp_path):
    df = frame(7)
    df.loc[[0, 17, 90, N - 1], "a"] = np.nan
    df.loc[[5, 90], "y"] = np.nan
    path = tmp_path / "holes.parquet"
    df.to_parquet(path, index=False)
    ref = pq.read_table(path).to_pandas()
    ds = read_table(path, target="y", features=["a", "b"], missing="drop")
    kept = ref.dropna(subset=["a", "b", "y"])
    assert bitwise_equal(ds.X, kept[["a", "b"]].to_numpy(dtype=np.float64))
    assert bitwise_equal(ds.y, kept["y"].to_numpy(dtype=np.float64))
    with pytest.raises(DataError, match=r"row 6 \(index 5\), column 'y': missing value in the target"):
        read_table(path, target="y", features=["a", "b"], missing="mean")
    ds = read_table(path, target="b", features=["a"], missing="mean")
    filled = ref["a"].fillna(ref["a"].mean())
    np.testing.assert_allclose(ds.X[:, 0], filled.to_numpy(), rtol=1e-15, atol=0)
    assert not np.isnan(ds.X).any()


@pytest.mark.parametrize("row", [0, N // 2, N - 1])
@pytest.mark.parametrize("column", ["a", "c"])
def test_parquet_nan_is_reported_at_its_row_and_column(tmp_path, row, column):
    df = frame(1)
    df.loc[row, column] = np.nan
    path = tmp_path / "nan.parquet"
    df.to_parquet(path, index=False)
    with pytest.raises(DataError) as info:
        read_table(path, target="y")
    assert str(info.value) == (f"{path}, row {row + 1} (index {row}), column '{column}': missing value; "
                               "use missing='drop' or missing='mean'")
    assert (info.value.row, info.value.column) == (row + 1, column)


def test_parquet_first_problem_wins_across_columns_and_target(tmp_path):
    df = frame(2)
    df.loc[150, "a"] = np.inf
    df.loc[120, "y"] = np.nan
    df.loc[130, "b"] = None
    path = tmp_path / "many.parquet"
    df.to_parquet(path, index=False)
    with pytest.raises(DataError, match=r"row 121 \(index 120\), column 'y': missing value in the target"):
        read_table(path, target="y")
    df.loc[120, "y"] = 1.0
    df.to_parquet(path, index=False)
    with pytest.raises(DataError, match=r"row 131 \(index 130\), column 'b': missing value"):
        read_table(path, target="y")
    with pytest.raises(DataError) as info:
        read_table(path, target="y", missing="drop")
    assert str(info.value).endswith("row 151 (index 150), column 'a': infinite value 'inf'; replace it with a "
                                    "finite number, or leave the cell empty to mark it missing")


# --- CSV --------------------------------------------------------------------------------------------


def write_csv(path, df: pd.DataFrame) -> None:
    lines = [",".join(df.columns)]
    for row in df.itertuples(index=False):
        lines.append(",".join("" if (isinstance(v, float) and np.isnan(v)) else repr(v) for v in row))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("seed", range(3))
def test_csv_equals_pandas_round_trip_bitwise(tmp_path, monkeypatch, seed):
    df = frame(seed).astype({"c": np.float64, "d": np.int64})
    df.loc[3, "a"] = -0.0
    path = tmp_path / "t.csv"
    write_csv(path, df)
    text = path.read_text().replace("e-0", "E-0", 5).replace(",1", ",+1", 5)  # other spellings of numbers
    path.write_text(text)
    taken = lean_used(monkeypatch)
    ds = read_table(path, target="y")
    assert taken == ["t.csv"]
    ref = pd.read_csv(path)  # pandas 3 parses floats exactly (correctly rounded)
    assert ds.X.flags.c_contiguous and ds.feature_names == ("a", "b", "c", "d")
    assert bitwise_equal(ds.X, ref[["a", "b", "c", "d"]].to_numpy(dtype=np.float64))
    assert bitwise_equal(ds.y, ref["y"].to_numpy(dtype=np.float64))
    assert np.signbit(ds.X[3, 0])  # -0.0 stays negative


def test_csv_lean_and_careful_readers_agree(tmp_path, monkeypatch):
    df = frame(4).astype({"c": np.float64, "d": np.int64})
    df.loc[[2, 50], "a"] = np.nan
    path = tmp_path / "holes.csv"
    write_csv(path, df)
    taken = lean_used(monkeypatch)
    lean = [read_table(path, target="y", missing=m) for m in ("drop", "mean")]
    lean.append(read_table(path, target="d", task="classification", missing="drop"))
    assert taken == ["holes.csv"] * 3
    careful_only(monkeypatch)
    careful = [read_table(path, target="y", missing=m) for m in ("drop", "mean")]
    careful.append(read_table(path, target="d", task="classification", missing="drop"))
    for a, b in zip(lean, careful):
        assert bitwise_equal(a.X, b.X) and a.description == b.description
        assert a.y.dtype == b.y.dtype and a.y.tolist() == b.y.tolist()


@pytest.mark.parametrize("row", [0, N // 2, N - 1])
def test_csv_missing_cell_is_reported_at_its_line_and_column(tmp_path, monkeypatch, row):
    df = frame(5).astype({"c": np.float64, "d": np.int64})
    path = tmp_path / "gap.csv"
    write_csv(path, df)
    lines = path.read_text().splitlines()
    cells = lines[row + 1].split(",")
    cells[2] = ""
    lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    taken = lean_used(monkeypatch)
    with pytest.raises(DataError) as info:
        read_table(path, target="y")
    assert taken == ["gap.csv"]  # found by the lean reader, in its one pass
    assert str(info.value) == f"{path}, line {row + 2}, column 'c': missing value; use missing='drop' or missing='mean'"
    assert (info.value.line, info.value.column) == (row + 2, "c")


@pytest.mark.parametrize("row", [0, N // 2, N - 1])
@pytest.mark.parametrize("cell, problem", [("abc", "'abc' is not a number"), ("inf", "infinite value 'inf'"),
                                           ("1e999", "'1e999' is too large for a 64-bit float")])
def test_csv_bad_cells_get_the_careful_readers_message(tmp_path, monkeypatch, row, cell, problem):
    df = frame(6).astype({"c": np.float64, "d": np.int64})
    path = tmp_path / "bad.csv"
    write_csv(path, df)
    lines = path.read_text().splitlines()
    cells = lines[row + 1].split(",")
    cells[1] = cell
    lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as lean:
        read_table(path, target="y")
    careful_only(monkeypatch)
    with pytest.raises(DataError) as careful:
        read_table(path, target="y")
    assert str(lean.value) == str(careful.value)
    assert str(lean.value).startswith(f"{path}, line {row + 2}, column 'b': {problem}")


def test_csv_with_blank_lines_names_the_right_line(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("x,y\n1,2\n\n3,4\n\n5,\n6,7\n")
    with pytest.raises(DataError) as info:
        read_table(path, target="y")
    assert str(info.value).startswith(f"{path}, line 6, column 'y': missing value in the target")
    assert read_table(path, target="y", missing="drop").X.ravel().tolist() == [1.0, 3.0, 6.0]


# --- the memory budget --------------------------------------------------------------------------------


def test_npz_past_the_budget_is_refused_from_its_headers(tmp_path, monkeypatch):
    path = tmp_path / "xy.npz"
    np.savez_compressed(path, X=np.zeros((100, 3)), y=np.zeros(100))
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("decompressed"))
    with pytest.raises(DataError) as info:
        read_table(path, target="y", memory_budget=1024)
    message = str(info.value)
    assert message == (f"{path}: the array 'X' (shape (100, 3), float64) expands to 2.4 kB in memory, more than "
                       "the memory budget of 1.02 kB; raise memory_budget to allow more, or convert the data to "
                       "Parquet and stream it")
    assert "\n" not in message and info.value.path == path
    with pytest.raises(DataError, match=r"the arrays \['X', 'y'\] together expand to 3.2 kB in memory, more than "
                                        r"the memory budget of 3 kB"):
        read_table(path, target="y", memory_budget=3000)


def test_npz_and_npy_within_the_budget_are_read(tmp_path):
    X, y = np.arange(12.0).reshape(6, 2), np.arange(6.0)
    np.savez_compressed(tmp_path / "xy.npz", X=X, y=y)
    ds = read_table(tmp_path / "xy.npz", target="y", memory_budget=10_000)
    assert ds.X.tolist() == X.tolist() and ds.y.tolist() == y.tolist()
    np.save(tmp_path / "t.npy", np.column_stack([X, y]))
    assert read_table(tmp_path / "t.npy", target="last", memory_budget=1000).X.tolist() == X.tolist()
    with pytest.raises(DataError, match=r"t.npy: the array \(shape \(6, 3\), float64\) takes 144 bytes in memory"):
        read_table(tmp_path / "t.npy", target="last", memory_budget=100)


def test_a_streamed_npz_member_is_refused_without_reading_it(tmp_path):
    """An archive whose member is written in pieces (as a huge one would be) is judged by its header."""
    path = tmp_path / "zeros.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1)))
    header["shape"] = (4000, 10)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("X.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for _ in range(10):
            f.write(bytes(32_000))
    with pytest.raises(DataError, match=r"zeros.npz: the array 'X' \(shape \(4000, 10\), float64\) expands to "
                                        r"320 kB in memory, more than the memory budget of 1.02 kB"):
        read_table(path, memory_budget=1024)


@pytest.mark.parametrize("budget", [0, -5, 1.5, "1G", True])
def test_a_bad_budget_is_a_data_error(tmp_path, budget):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    with pytest.raises(DataError, match="memory_budget must be a positive number of bytes"):
        read_table(path, target="y", memory_budget=budget)


def test_fit_command_refuses_an_npz_past_the_default_budget(tmp_path, monkeypatch):
    path = tmp_path / "xy.npz"
    np.savez_compressed(path, X=np.zeros((100, 3)), y=np.zeros(100))
    monkeypatch.setattr(readers, "default_budget", lambda: 1024)
    result = CliRunner().invoke(app, ["fit", str(path), "--target", "y"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "expands to 2.4 kB in memory" in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("labels", [np.arange(N) % 3, (np.arange(N) % 2).astype(bool),
                                    (np.arange(N) % 4).astype(np.float32), np.arange(N) % 5 + 2**60])
def test_parquet_class_labels_keep_their_values_and_dtype(tmp_path, labels):
    df = frame(8).assign(label=labels)
    path = tmp_path / "clf.parquet"
    df.to_parquet(path, index=False)
    ds = read_table(path, target="label", task="classification")
    ref = pq.read_table(path).to_pandas()["label"].to_numpy()
    assert ds.y.dtype == ref.dtype and ds.y.tolist() == ref.tolist()
    assert bitwise_equal(ds.X, pq.read_table(path).to_pandas()[["a", "b", "c", "d", "y"]].to_numpy(np.float64))
