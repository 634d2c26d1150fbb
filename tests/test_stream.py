"""Streamed rows (gradstep.data.stream, LinearModel.fit_stream) against the in-memory fit.

The reference for every number is independent of the streaming code: the in-memory ``fit`` on
the same rows read with pandas (data order makes the same batches, so the iterates agree to
rounding; they are usually bit for bit), the rows themselves (which rows an epoch visits), or
where a value was planted in a file (the row or line an error names).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression
from gradstep.data.readers import DataError
from gradstep.data.stream import CsvRows, ParquetRows, StreamBatches, open_rows

N, FEATURES = 103, ["a", "b", "c"]
GROUP = 10  # Parquet row groups of 10 rows: they do not divide the batch size 16
CHUNK = 7   # rows converted at a time, fewer than a row group


def _frame(kind: str, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 3))
    if kind == "regression":
        y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=N)
    elif kind == "binary":
        y = (X @ np.array([1.0, -1.0, 0.5]) + 0.5 * rng.normal(size=N) > 0).astype(np.int64)
    else:
        y = np.argmax(X @ rng.normal(size=(3, 3)) + 0.5 * rng.normal(size=(N, 3)), axis=1).astype(np.int64)
    df = pd.DataFrame(X, columns=FEATURES)
    df["y"] = y
    return df


def _write(df: pd.DataFrame, folder, layout: str) -> str:
    """``df`` as one Parquet file, a folder of three, a glob over them, or a CSV file; the path to stream."""
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "file":
        path = folder / "rows.parquet"
        df.to_parquet(path, row_group_size=GROUP, index=False)
        return str(path)
    if layout in ("folder", "glob"):
        parts = folder / "parts"
        parts.mkdir()
        for i, (lo, hi) in enumerate([(0, 40), (40, 75), (75, N)]):
            df.iloc[lo:hi].to_parquet(parts / f"part{i}.parquet", row_group_size=9, index=False)
        return str(parts) if layout == "folder" else str(parts / "part*.parquet")
    path = folder / "rows.csv"
    df.to_csv(path, index=False)
    return str(path)


def _assert_close(actual, expected, rel: float) -> None:
    """``|actual - expected| <= rel * max|expected|`` element-wise (relative to the array's scale)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    scale = max(float(np.max(np.abs(expected))), 1e-300) if expected.size else 1.0
    np.testing.assert_array_less(np.abs(actual - expected), rel * scale * (1 + 1e-15) + 1e-300)


def _assert_same_fit(streamed, memory, rel: float = 1e-12, epoch_rel: float = 1e-9) -> None:
    hs, hm = streamed.history_, memory.history_
    assert hs.n_steps == hm.n_steps > 0
    _assert_close(hs.params, hm.params, rel)
    _assert_close(hs.loss, hm.loss, epoch_rel)
    np.testing.assert_array_equal(hs.column("epoch"), hm.column("epoch"))
    np.testing.assert_array_equal(hs.lr, hm.lr)
    _assert_close(hs.epoch_loss, hm.epoch_loss, epoch_rel)
    _assert_close(streamed.coef_, memory.coef_, rel)
    _assert_close(streamed.intercept_, memory.intercept_, rel)


MODELS = {
    "linear-mse": (LinearRegression, "regression", {"lr": 0.05}),
    "linear-sum": (LinearRegression, "regression", {"loss": "sum", "lr": 0.002}),
    "linear-l2": (LinearRegression, "regression", {"lr": 0.05, "penalty": "l2", "alpha": 0.1}),
    # strong enough to hold the third coefficient (0.5) at exactly 0: the proximal steps' truncation
    "linear-l1": (LinearRegression, "regression", {"lr": 0.05, "penalty": "l1", "alpha": 1.2}),
    "logistic": (LogisticRegression, "binary", {"lr": 0.2}),
    "logistic-elasticnet": (LogisticRegression, "binary", {"lr": 0.2, "penalty": "elasticnet", "alpha": 0.4,
                                                           "l1_ratio": 0.5}),
    "softmax": (SoftmaxRegression, "multiclass", {"lr": 0.2}),
}


def _pair(name, path, batch_size, chunk_rows=CHUNK, callback=None, df=None, **extra):
    """The streamed fit of ``path`` and the in-memory fit of the same rows read with pandas."""
    cls, _kind, params = MODELS[name]
    if df is None:
        df = pd.read_parquet(path) if not path.endswith(".csv") else pd.read_csv(path)
    kw = dict(batch_size=batch_size, shuffle=False, tol=None, epochs=3, **params, **extra)
    memory = cls(**kw).fit(df[FEATURES].to_numpy(), df["y"].to_numpy())
    streamed = cls(**kw).fit_stream(path, target="y", chunk_rows=chunk_rows, callback=callback)
    return streamed, memory


@pytest.mark.parametrize("layout", ["file", "folder", "glob", "csv"])
@pytest.mark.parametrize("batch_size", [None, 16, 1])
@pytest.mark.parametrize("name", list(MODELS))
def test_stream_equals_in_memory(tmp_path, name, batch_size, layout):
    path = _write(_frame(MODELS[name][1]), tmp_path, layout)
    if layout in ("folder", "glob"):  # the reference reads the same rows in the same order
        df = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "parts").glob("*.parquet"))])
        assert len(df) == N
    else:
        df = None
    streamed, memory = _pair(name, path, batch_size, df=df)
    epoch_rel = 1e-12 if MODELS[name][0] is not LinearRegression else 1e-9
    _assert_same_fit(streamed, memory, epoch_rel=epoch_rel)
    if batch_size is not None:  # the mini-batch stream runs the compiled epochs when the in-memory fit does
        assert streamed.history_.meta["compiled"] == memory.history_.meta["compiled"]


@pytest.mark.parametrize("batch_size", [None, 16, 1])
@pytest.mark.parametrize("name", ["linear-mse", "linear-l1", "logistic"])
def test_stream_equals_in_memory_plain_loop(tmp_path, monkeypatch, name, batch_size):
    monkeypatch.setenv("GRADSTEP_COMPILED", "0")
    path = _write(_frame(MODELS[name][1]), tmp_path, "file")
    streamed, memory = _pair(name, path, batch_size)
    assert streamed.history_.meta["compiled"] is False and memory.history_.meta["compiled"] is False
    _assert_same_fit(streamed, memory, epoch_rel=1e-9)


@pytest.mark.parametrize("layout", ["file", "csv"])
@pytest.mark.parametrize("batch_size", [None, 16, 1])
def test_stream_with_callback_equals_in_memory(tmp_path, batch_size, layout):
    path = _write(_frame("regression"), tmp_path, layout)
    seen = []
    streamed, memory = _pair("linear-mse", path, batch_size, callback=lambda info: seen.append(info.step))
    assert streamed.history_.meta["compiled"] is False
    assert seen == list(range(1, memory.history_.n_steps + 1))
    _assert_same_fit(streamed, memory)


def test_stream_chunk_rows_larger_than_groups(tmp_path):
    path = _write(_frame("binary"), tmp_path, "file")
    streamed, memory = _pair("logistic", path, 16, chunk_rows=1000)
    _assert_same_fit(streamed, memory, epoch_rel=1e-12)


@pytest.mark.parametrize("batch_size", [None, 1, 4])
@pytest.mark.parametrize("name", ["linear-mse", "linear-l2", "logistic", "softmax"])
def test_auto_lr_matches_in_memory(tmp_path, name, batch_size):
    cls, kind, params = MODELS[name]
    params = {k: v for k, v in params.items() if k != "lr"}
    df = _frame(kind)
    path = _write(df, tmp_path, "file")
    kw = dict(batch_size=batch_size, shuffle=False, tol=None, epochs=1, lr="auto", **params)
    memory = cls(**kw).fit(df[FEATURES].to_numpy(), df["y"].to_numpy())
    streamed = cls(**kw).fit_stream(path, target="y", chunk_rows=CHUNK)
    if batch_size is None:
        assert np.isfinite(memory.lr_) and memory.lr_ > 0
        assert streamed.lr_ == pytest.approx(memory.lr_, rel=1e-6)
        return
    # mini-batches: the same decaying schedule, from the same first step
    assert type(streamed.lr_) is type(memory.lr_)
    assert np.isfinite(memory.lr_(0)) and memory.lr_(0) > 0
    assert streamed.lr_.steps_per_epoch == memory.lr_.steps_per_epoch == -(-len(df) // batch_size)
    assert streamed.lr_.half_life == pytest.approx(memory.lr_.half_life, rel=1e-6)
    for t in (0, 7 * memory.lr_.steps_per_epoch, 10**6):
        assert streamed.lr_(t) == pytest.approx(memory.lr_(t), rel=1e-6)


# ------------------------------------------------------------------------------ batches of a stream
def _id_frame(n: int = N) -> pd.DataFrame:
    """Rows that say who they are: ``id`` is the row's index."""
    rng = np.random.default_rng(1)
    return pd.DataFrame({"id": np.arange(n, dtype=float), "x": rng.normal(size=n), "y": rng.normal(size=n)})


def _sources(tmp_path, df):
    pq_path = tmp_path / "ids.parquet"
    df.to_parquet(pq_path, row_group_size=GROUP, index=False)
    csv_path = tmp_path / "ids.csv"
    df.to_csv(csv_path, index=False)
    return {"parquet": ParquetRows(pq_path, "y", ["id", "x"], chunk_rows=CHUNK),
            "csv": CsvRows(csv_path, "y", ["id", "x"], chunk_bytes=300)}


def _ids(batches) -> list[np.ndarray]:
    return [Xb[:, 0].copy() for Xb, _ in batches]


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_shuffled_epochs_visit_every_row_once_and_are_seeded(tmp_path, kind):
    df = _id_frame()
    src = _sources(tmp_path, df)[kind]
    if kind == "csv":
        assert len(list(src.read())) > 3  # several blocks: the windows gather more than one
    make = lambda seed: StreamBatches(src, batch_size=16, shuffle=True, seed=seed, buffer_rows=25)
    b = make(5)
    for e in range(3):
        batches = list(b.epoch(e))
        assert [len(x) for x, _ in batches] == [16] * 6 + [N - 96]
        ids = np.concatenate(_ids(batches))
        np.testing.assert_array_equal(np.sort(ids), np.arange(N))
        # the targets travel with their rows
        np.testing.assert_array_equal(np.concatenate([y[:, 0] for _, y in batches]),
                                      df["y"].to_numpy()[ids.astype(int)])
        assert not np.array_equal(ids, np.arange(N))
    again = [np.concatenate(_ids(make(5).epoch(e))) for e in range(3)]
    first = [np.concatenate(_ids(b.epoch(e))) for e in range(3)]
    for a, f in zip(again, first):
        np.testing.assert_array_equal(a, f)
    assert not np.array_equal(first[0], first[1])
    other = np.concatenate(_ids(make(6).epoch(0)))
    assert not np.array_equal(other, first[0])


def test_shuffle_windows_respect_buffer_rows(tmp_path):
    df = _id_frame()
    src = _sources(tmp_path, df)["parquet"]
    assert src.piece_rows == (GROUP,) * 10 + (3,)
    for buffer_rows in (1, 15, 25, 60):
        b = StreamBatches(src, batch_size=16, shuffle=True, seed=2, buffer_rows=buffer_rows)
        for e in range(2):
            chunks = list(b.rows(e))
            ids = [c[0][:, 0].astype(int) for c in chunks]
            assert sum(len(i) for i in ids) == N
            for i in ids[:-1]:
                assert buffer_rows <= len(i) <= buffer_rows + GROUP - 1
            assert len(ids[-1]) <= buffer_rows + GROUP - 1
            for i in ids:  # each window is whole row groups, its rows permuted
                groups = np.unique(i // GROUP)
                expected = np.concatenate([np.arange(g * GROUP, min((g + 1) * GROUP, N)) for g in groups])
                np.testing.assert_array_equal(np.sort(i), expected)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize("batch_size", [16, 1, 7])
def test_epoch_from_start_batch(tmp_path, kind, shuffle, batch_size):
    src = _sources(tmp_path, _id_frame())[kind]
    b = StreamBatches(src, batch_size=batch_size, shuffle=shuffle, seed=4, buffer_rows=25)
    for e in (0, 3):
        whole = list(b.epoch(e))
        assert len(whole) == b.steps_per_epoch == -(-N // batch_size)
        for k in sorted({0, 1, 2, 3, 5, len(whole) // 2, len(whole) - 1, len(whole)}):
            part = list(b.epoch(e, start=k))
            assert len(part) == len(whole) - k
            for (x1, y1), (x2, y2) in zip(part, whole[k:]):
                np.testing.assert_array_equal(x1, x2)
                np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_unshuffled_epoch_is_data_order(tmp_path, kind):
    df = _id_frame()
    src = _sources(tmp_path, df)[kind]
    b = StreamBatches(src, batch_size=16, shuffle=False)
    batches = list(b.epoch(0))
    np.testing.assert_array_equal(np.concatenate(_ids(batches)), np.arange(N))
    np.testing.assert_array_equal(np.concatenate([x[:, 1] for x, _ in batches]), df["x"].to_numpy())


def test_parquet_reads_at_most_chunk_rows(tmp_path):
    df = _id_frame()
    path = tmp_path / "ids.parquet"
    df.to_parquet(path, row_group_size=GROUP, index=False)
    for chunk_rows in (1, 4, 7, 10, 64):
        src = ParquetRows(path, "y", chunk_rows=chunk_rows)
        assert src.feature_names == ("id", "x") and src.n_rows == N
        chunks = list(src.read())
        assert max(len(x) for x, _ in chunks) <= chunk_rows
        X = np.concatenate([x for x, _ in chunks])
        np.testing.assert_array_equal(X, df[["id", "x"]].to_numpy())
        np.testing.assert_array_equal(np.concatenate([y for _, y in chunks]), df["y"].to_numpy())
        # chosen pieces in the order given, less the first rows skipped
        part = np.concatenate([x[:, 0] for x, _ in src.read([2, 0], skip=3)])
        np.testing.assert_array_equal(part, np.r_[23:30, 0:10])
        assert all(len(x) <= chunk_rows for x, _ in src.read([2, 0], skip=3))


def test_open_rows_picks_the_reader(tmp_path):
    df = _id_frame()
    srcs = _sources(tmp_path, df)
    assert isinstance(open_rows(tmp_path / "ids.parquet", "y"), ParquetRows)
    assert isinstance(open_rows(tmp_path / "ids.csv", "y", "id, x"), CsvRows)
    csv = open_rows(tmp_path / "ids.csv", "y", "id, x")
    assert csv.feature_names == ("id", "x") and csv.count_rows() == N
    assert srcs["parquet"].n_rows == N


# ------------------------------------------------------------------------------ errors
def _nonfinite_frame(row: int, column: str, value) -> pd.DataFrame:
    df = _frame("regression")
    df[column] = df[column].astype(object) if value is None else df[column]
    df.loc[row, column] = value
    if value is None:
        df[column] = df[column].astype("Float64")  # a nullable column: the cell is written as a null
    return df


@pytest.mark.parametrize("value", [np.nan, None, np.inf, -np.inf])
@pytest.mark.parametrize("column", ["b", "y"])
def test_parquet_nonfinite_names_file_row_column(tmp_path, column, value):
    df = _nonfinite_frame(57, column, value)
    path = tmp_path / "bad.parquet"
    df.to_parquet(path, row_group_size=GROUP, index=False)
    with pytest.raises(DataError) as info:
        LinearRegression(lr=0.01, epochs=1).fit_stream(path, target="y")
    err = info.value
    assert err.path == path and err.row == 58 and err.column == column
    assert str(path) in str(err) and "row 58" in str(err) and repr(column) in str(err)


def test_parquet_nonfinite_in_a_folder_names_its_file(tmp_path):
    df = _frame("regression")
    df.loc[40 + 12, "c"] = np.nan  # row 13 of the second file
    _write(df, tmp_path, "folder")
    second = tmp_path / "parts" / "part1.parquet"
    with pytest.raises(DataError) as info:
        LinearRegression(lr=0.01, epochs=1).fit_stream(tmp_path / "parts", target="y")
    err = info.value
    assert err.path == second and err.row == 13 and err.column == "c"
    assert str(second) in str(err) and "row 13" in str(err)


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("column", ["a", "y"])
def test_csv_nonfinite_names_line_and_column(tmp_path, column, value):
    df = _nonfinite_frame(30, column, value)
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    text = path.read_text().splitlines()
    planted = next(i for i, line in enumerate(text, start=1) if ("inf" in line or ",," in line or line.endswith(",")
                                                                 or line.startswith(",")))
    assert planted == 32  # header = line 1, data row 31 (index 30) = line 32
    with pytest.raises(DataError) as info:
        LinearRegression(lr=0.01, epochs=1).fit_stream(path, target="y")
    err = info.value
    assert err.path == path and err.line == 32 and err.column == column
    assert str(path) in str(err) and "line 32" in str(err)


def test_csv_nonfinite_in_a_later_block(tmp_path):
    df = _id_frame(500)
    df.loc[431, "x"] = np.nan
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    src = CsvRows(path, "y", chunk_bytes=256)
    with pytest.raises(DataError) as info:
        src.count_rows()
    assert info.value.line == 433 and info.value.column == "x"


def test_source_errors_name_the_path(tmp_path):
    df = _frame("regression")
    df["s"] = ["t"] * N
    path = tmp_path / "rows.parquet"
    df.to_parquet(path, index=False)
    with pytest.raises(DataError, match="not numeric") as info:
        open_rows(path, "y", ["a", "s"])
    assert info.value.path == path and info.value.column == "s" and str(path) in str(info.value)
    with pytest.raises(DataError, match="'nope'") as info:
        open_rows(path, "nope")
    assert info.value.path == path and str(path) in str(info.value)
    csv = tmp_path / "rows.csv"
    _frame("regression").to_csv(csv, index=False)
    with pytest.raises(DataError, match="'nope'") as info:
        open_rows(csv, "nope")
    assert info.value.path == csv and str(csv) in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        open_rows(empty, "y")
    assert info.value.path == empty and str(empty) in str(info.value)
    for missing in (tmp_path / "missing.parquet", tmp_path / "missing.csv"):
        with pytest.raises(DataError, match="no such file") as info:
            open_rows(missing, "y")
        assert info.value.path == missing and str(missing) in str(info.value)
    with pytest.raises(DataError, match="no file matches") as info:
        open_rows(tmp_path / "nothing*.parquet", "y")
    assert str(tmp_path / "nothing*.parquet") in str(info.value)


def test_folder_with_different_columns_names_the_file(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    df = _frame("regression")
    df.iloc[:50].to_parquet(folder / "a.parquet", index=False)
    df.iloc[50:].rename(columns={"b": "B"}).to_parquet(folder / "b.parquet", index=False)
    with pytest.raises(DataError, match="'b'") as info:
        LinearRegression(lr=0.01, epochs=1).fit_stream(folder, target="y")
    assert info.value.path == folder / "b.parquet" and str(folder / "b.parquet") in str(info.value)


@pytest.mark.parametrize(("setting", "says"), [({"backend": "torch"}, "backend='torch'"),
                                               ({"scale": "robust"}, "scale must be one of")])
def test_fit_stream_refuses_in_memory_only_settings(tmp_path, setting, says):
    path = _write(_frame("regression"), tmp_path, "file")
    with pytest.raises(ValueError, match=says):
        LinearRegression(lr=0.01, epochs=1, **setting).fit_stream(path, target="y")


# ------------------------------------------------------------------------------ loss after each epoch
@pytest.mark.parametrize("shuffle", [False, True])
def test_epoch_loss_linear_from_summary(tmp_path, shuffle):
    """The epoch loss of a streamed LinearRegression comes from the summary (X'X, X'y, y'y):
    it matches the loss an in-memory model computes on all the rows (the in-memory run's own
    epoch losses in data order; its loss_value at each recorded iterate when shuffled)."""
    df = _frame("regression")
    path = _write(df, tmp_path, "file")
    X, y = df[FEATURES].to_numpy(), df["y"].to_numpy()
    kw = {"batch_size": 16, "shuffle": shuffle, "random_state": 0, "tol": None, "epochs": 4, "lr": 0.05}
    streamed = LinearRegression(**kw).fit_stream(path, target="y", chunk_rows=CHUNK, buffer_rows=25)
    assert streamed.history_.n_epochs == 4
    if not shuffle:
        memory = LinearRegression(**kw).fit(X, y)
        _assert_close(streamed.history_.epoch_loss, memory.history_.epoch_loss, 1e-9)
    # independently: the mean squared error of the parameters after each epoch, by hand
    params = streamed.history_.path
    ends = streamed.history_.to_pandas("epochs")["step"].to_numpy()
    by_hand = [np.mean((X @ params[s][:3] + params[s][3] - y) ** 2) for s in ends]
    _assert_close(streamed.history_.epoch_loss, by_hand, 1e-9)


def test_epoch_loss_logistic_by_passes(tmp_path):
    df = _frame("binary")
    path = _write(df, tmp_path, "file")
    X, y = df[FEATURES].to_numpy(), df["y"].to_numpy()
    kw = {"batch_size": 16, "shuffle": False, "tol": None, "epochs": 4, "lr": 0.2}
    streamed = LogisticRegression(**kw).fit_stream(path, target="y", chunk_rows=CHUNK)
    memory = LogisticRegression(**kw).fit(X, y)
    assert streamed.history_.n_epochs == memory.history_.n_epochs == 4
    _assert_close(streamed.history_.epoch_loss, memory.history_.epoch_loss, 1e-12)
