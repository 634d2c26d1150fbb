"""read_table: every format round-trips a random table, checked against pandas / numpy / pyarrow reading it.

The references are independent readers of the same file (``pandas.read_csv`` with exact float parsing,
``pandas.read_parquet``, ``numpy.load``); no expected number is written down by hand.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradstep.data.datasets import Dataset
from gradstep.data.readers import DataError, read_csv, read_table


def random_frame(seed: int, n: int = 37, with_text: bool = True) -> pd.DataFrame:
    """Floats of every size, integers, and (optionally) text containing every delimiter and quotes."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "a": rng.normal(size=n),
        "b b": rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, size=n),
        "c": rng.integers(-1000, 1000, size=n),
        "d": rng.uniform(-1, 1, size=n),
    })
    if with_text:
        pieces = np.array(["red", "a,b", "x;y", "t\tu", "p|q", 'say "hi"', "two\nlines", " padded "])
        df.insert(2, "note", pieces[rng.integers(0, len(pieces), size=n)])
    df["target"] = rng.normal(size=n) * 5
    return df


def reference_csv(path: Path, sep: str, **kw) -> pd.DataFrame:
    ref = pd.read_csv(path, sep=sep, encoding="utf-8-sig", **kw)  # pandas 3 parses floats exactly
    ref.columns = [str(c).strip() for c in ref.columns]
    return ref


def numeric_features(ref: pd.DataFrame, target: str) -> list[str]:
    return [c for c in ref.select_dtypes(["number", "bool"]).columns if c != target]  # booleans count as 0/1


def assert_matches(ds: Dataset, ref: pd.DataFrame, features: list[str], target: str) -> None:
    assert ds.feature_names == tuple(features) and ds.target_name == target
    assert ds.X.dtype == np.float64 and ds.X.shape == (len(ref), len(features)) and ds.X.flags.c_contiguous
    np.testing.assert_array_equal(ds.X, ref[features].to_numpy(dtype=np.float64))
    np.testing.assert_array_equal(ds.y, ref[target].to_numpy(dtype=np.float64))
    assert ds.y.dtype == np.float64 and ds.task == "regression"


# --- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
@pytest.mark.parametrize("bom", [False, True])
def test_csv_round_trips_with_detected_delimiter(tmp_path, seed, sep, bom):
    df = random_frame(seed)
    path = tmp_path / "data.csv"
    df.to_csv(path, sep=sep, index=False, encoding="utf-8-sig" if bom else "utf-8")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") == bom
    ref = reference_csv(path, sep)
    feats = numeric_features(ref, "target")
    ds = read_table(path, target="target")
    assert_matches(ds, ref, feats, "target")
    assert ds.skipped == ("note",) and "note" in ds.description
    # explicit features, in the order given, and an explicit delimiter
    ds = read_table(path, target="a", features=["d", "target"], delimiter=sep)
    assert_matches(ds, ref, ["d", "target"], "a")


def test_csv_quoted_fields_and_padded_header(tmp_path):
    df = random_frame(5)
    path = tmp_path / "quoted.csv"
    df.rename(columns={"a": "  a ", "target": "target  "}).to_csv(path, index=False, quoting=1)  # QUOTE_ALL
    ref = reference_csv(path, ",")
    ds = read_table(path, target="target")
    assert_matches(ds, ref, numeric_features(ref, "target"), "target")
    assert ds.feature_names[0] == "a"
    labels = read_table(path, target="note", task="classification")
    assert labels.y.tolist() == ref["note"].str.strip().tolist()


def test_tsv_and_txt_and_unknown_extensions_are_csv(tmp_path):
    df = random_frame(6, with_text=False)
    for name, sep in [("d.tsv", "\t"), ("d.txt", ";"), ("d.dat", "|"), ("noext", ",")]:
        path = tmp_path / name
        df.to_csv(path, sep=sep, index=False)
        ref = reference_csv(path, sep)
        assert_matches(read_table(path, "target"), ref, numeric_features(ref, "target"), "target")


@pytest.mark.parametrize("given", ["\t", "\\t", "tab"])
def test_tab_delimiter_spellings(tmp_path, given):
    path = tmp_path / "tabs.csv"
    random_frame(8).to_csv(path, sep="\t", index=False)
    ref = reference_csv(path, "\t")
    assert_matches(read_table(path, "target", delimiter=given), ref, numeric_features(ref, "target"), "target")


def test_csv_line_endings_and_blank_lines(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"x,y\r\n1,2\r\n\r\n3,4.5\r\n")
    ref = pd.read_csv(path)
    ds = read_table(path, "y")
    assert_matches(ds, ref, ["x"], "y")


def test_unnamed_index_column_is_skipped_by_default(tmp_path):
    df = random_frame(9, with_text=False)
    path = tmp_path / "with_index.csv"
    df.to_csv(path)  # pandas writes its index as a first column with an empty name
    ref = reference_csv(path, ",")
    ds = read_table(path, "target")
    assert ds.skipped == ("Unnamed: 0",)
    assert_matches(ds, ref, [c for c in numeric_features(ref, "target") if c != "Unnamed: 0"], "target")


def test_read_csv_is_the_text_reader(tmp_path):
    df = random_frame(10, with_text=False)
    path = tmp_path / "data.parquetish"
    df.to_csv(path, index=False)
    ref = reference_csv(path, ",")
    assert_matches(read_csv(path, "target"), ref, numeric_features(ref, "target"), "target")
    assert_matches(read_csv(path, "target", ["c"], ","), ref, ["c"], "target")  # positional, as the old CLI calls it


# --- missing values -------------------------------------------------------------------------


def frame_with_holes(seed: int, n: int = 40) -> pd.DataFrame:
    df = random_frame(seed, n=n, with_text=False)
    rng = np.random.default_rng(seed + 100)
    for col in ["a", "c", "d"]:
        df.loc[rng.random(n) < 0.15, col] = np.nan
    return df


@pytest.mark.parametrize("seed", range(4))
def test_missing_drop_matches_pandas_dropna(tmp_path, seed):
    df = frame_with_holes(seed)
    df.loc[df.index[3], "target"] = np.nan
    path = tmp_path / "holes.csv"
    df.to_csv(path, index=False, na_rep=["", "NA", "nan"][seed % 3])
    ref = reference_csv(path, ",")
    with pytest.raises(DataError) as info:
        read_table(path, "target")
    assert "missing='drop' or missing='mean'" in str(info.value) or "missing='drop'" in str(info.value)
    feats = ["a", "b b", "c", "d"]
    ds = read_table(path, "target", missing="drop")
    assert_matches(ds, ref.dropna(subset=feats + ["target"]), feats, "target")
    assert "dropped" in ds.description
    # only the used columns count
    ds = read_table(path, "target", features=["b b"], missing="drop")
    assert_matches(ds, ref.dropna(subset=["b b", "target"]), ["b b"], "target")


@pytest.mark.parametrize("seed", range(4))
def test_missing_mean_matches_pandas_fillna(tmp_path, seed):
    df = frame_with_holes(seed)
    path = tmp_path / "holes.csv"
    df.to_csv(path, index=False)
    ref = reference_csv(path, ",")
    feats = ["a", "b b", "c", "d"]
    ds = read_table(path, "target", missing="mean")
    filled = ref[feats].fillna(ref[feats].mean())
    for j, col in enumerate(feats):  # the means agree to rounding: a few ulps of the mean absolute value
        scale = ref[col].abs().mean()
        np.testing.assert_allclose(ds.X[:, j], filled[col].to_numpy(dtype=float), rtol=1e-14, atol=1e-14 * scale)
    kept = ref[feats].notna().to_numpy()
    np.testing.assert_array_equal(ds.X[kept], ref[feats].to_numpy(dtype=float)[kept])
    np.testing.assert_array_equal(ds.y, ref["target"].to_numpy())
    assert "filled" in ds.description


def test_missing_target_is_never_filled(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, np.nan, 3.0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"line 3, column 'y'.*missing='drop'"):
        read_table(path, "y", missing="mean")
    assert read_table(path, "y", missing="drop").y.tolist() == [1.0, 3.0]


def test_bad_policy_and_task_are_data_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    with pytest.raises(DataError, match="missing must be one of"):
        read_table(path, "y", missing="median")
    with pytest.raises(DataError, match="task must be one of"):
        read_table(path, "y", task="ranking")


# --- classification -----------------------------------------------------------------------


def test_classification_labels_text_and_integers(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x1": rng.normal(size=30), "x2": rng.normal(size=30),
                       "species": rng.choice(["setosa", "versicolor", "virginica"], size=30),
                       "code": rng.integers(0, 3, size=30)})
    path = tmp_path / "flowers.csv"
    df.to_csv(path, index=False)
    ref = reference_csv(path, ",")
    ds = read_table(path, "species", task="classification")
    assert ds.task == "classification" and ds.feature_names == ("x1", "x2", "code")
    assert ds.y.dtype == object and ds.y.tolist() == ref["species"].tolist()
    np.testing.assert_array_equal(ds.X, ref[["x1", "x2", "code"]].to_numpy(dtype=float))
    ds = read_table(path, "code", task="classification")
    assert ds.y.dtype == ref["code"].dtype == np.int64
    np.testing.assert_array_equal(ds.y, ref["code"].to_numpy())
    assert ds.skipped == ("species",)
    with pytest.raises(DataError, match="'setosa'|'versicolor'|'virginica'"):
        read_table(path, "species")  # regression needs numbers


def test_classification_labels_from_parquet_keep_their_dtype(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=20), "label": rng.choice(["a", "b"], size=20),
                       "k": rng.integers(0, 4, size=20).astype(np.int32)})
    path = tmp_path / "labels.parquet"
    df.to_parquet(path, index=False)
    ref = pd.read_parquet(path)
    ds = read_table(path, "label", task="classification")
    assert ds.y.tolist() == ref["label"].tolist() and ds.feature_names == ("x", "k")
    ds = read_table(path, "k", task="classification", features=["x"])
    assert ds.y.dtype == ref["k"].dtype
    np.testing.assert_array_equal(ds.y, ref["k"].to_numpy())


def test_classification_drop_rows_without_label(tmp_path):
    path = tmp_path / "gaps.csv"
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": ["a", None, "b", "a"]})
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match="line 3, column 'label'"):
        read_table(path, "label", task="classification")
    ref = reference_csv(path, ",").dropna()
    ds = read_table(path, "label", task="classification", missing="drop")
    assert ds.y.tolist() == ref["label"].tolist()
    np.testing.assert_array_equal(ds.X[:, 0], ref["x"].to_numpy())


# --- Parquet -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_parquet_round_trips(tmp_path, seed):
    df = random_frame(seed)
    df["flag"] = df["a"] > 0
    path = tmp_path / ("data.parquet" if seed % 2 else "data.pq")
    df.to_parquet(path, index=False)
    ref = pd.read_parquet(path)
    feats = numeric_features(ref, "target")
    ds = read_table(path, target="target")
    assert ds.feature_names == tuple(feats) and ds.skipped == ("note",)
    np.testing.assert_array_equal(ds.X, ref[feats].to_numpy(dtype=np.float64))
    np.testing.assert_array_equal(ds.y, ref["target"].to_numpy(dtype=np.float64))
    ds = read_table(path, target="a", features=["c", "b b"])
    np.testing.assert_array_equal(ds.X, ref[["c", "b b"]].to_numpy(dtype=np.float64))


def test_parquet_reads_only_the_needed_columns(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    df = random_frame(4)
    path = tmp_path / "data.parquet"
    df.to_parquet(path, index=False)
    asked = []
    real, real_batches = pq.read_table, pq.ParquetFile.iter_batches
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: asked.append(k.get("columns")) or real(*a, **k))
    monkeypatch.setattr(pq.ParquetFile, "iter_batches",
                        lambda self, *a, **k: asked.append(k.get("columns")) or real_batches(self, *a, **k))
    ds = read_table(path, target="target", features=["d"])
    assert asked == [["d", "target"]]  # one read of the two columns used (in batches, or whole)
    assert ds.X.ravel().tolist() == df["d"].tolist()


def test_parquet_pandas_index_is_skipped(tmp_path):
    df = random_frame(3, with_text=False).set_index("c")
    path = tmp_path / "indexed.parquet"
    df.to_parquet(path)
    ds = read_table(path, "target")
    assert "c" in ds.skipped and "c" not in ds.feature_names
    np.testing.assert_array_equal(ds.X, df[list(ds.feature_names)].to_numpy())


# --- NumPy --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int16])
def test_npy_round_trips_with_index_targets(tmp_path, dtype):
    rng = np.random.default_rng(3)
    a = (rng.normal(size=(25, 4)) * 100).astype(dtype)
    path = tmp_path / "a.npy"
    np.save(path, a)
    ref = np.load(path)
    for target in ("3", "-1", "last"):
        ds = read_table(path, target)
        assert ds.feature_names == ("0", "1", "2") and ds.target_name == "3"
        np.testing.assert_array_equal(ds.X, ref[:, :3].astype(np.float64))
        np.testing.assert_array_equal(ds.y, ref[:, 3].astype(np.float64))
    ds = read_table(path, "0", features=["-1", "1"])
    assert ds.feature_names == ("3", "1")
    np.testing.assert_array_equal(ds.X, ref[:, [3, 1]].astype(np.float64))


def test_npy_structured_array_columns_are_its_fields(tmp_path):
    a = np.zeros(5, dtype=[("x", "f8"), ("n", "i4"), ("y", "f8")])
    a["x"], a["n"], a["y"] = np.arange(5) / 3, np.arange(5), np.arange(5) ** 2
    path = tmp_path / "rec.npy"
    np.save(path, a)
    ref = np.load(path)
    ds = read_table(path, "y")
    assert ds.feature_names == ("x", "n")
    np.testing.assert_array_equal(ds.X, np.column_stack([ref["x"], ref["n"]]))


def test_npz_x_and_y(tmp_path):
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    path = tmp_path / "xy.npz"
    np.savez(path, X=X, y=y)
    ref = np.load(path)
    for target in ("y", None):
        ds = read_table(path, target)
        np.testing.assert_array_equal(ds.X, ref["X"])
        np.testing.assert_array_equal(ds.y, ref["y"])
        assert ds.feature_names == ("0", "1", "2") and ds.target_name == "y"
    ds = read_table(path, "y", features=["2", "0"])
    np.testing.assert_array_equal(ds.X, ref["X"][:, [2, 0]])
    named = tmp_path / "named.npz"
    np.savez_compressed(named, X=X, y=y, feature_names=np.array(["u", "v", "w"]))
    ds = read_table(named, features=["w"])
    assert ds.feature_names == ("w",)
    np.testing.assert_array_equal(ds.X[:, 0], np.load(named)["X"][:, 2])


def test_npz_one_array_per_column(tmp_path):
    rng = np.random.default_rng(5)
    cols = {"x1": rng.normal(size=12), "x2": rng.integers(0, 9, size=12), "name": np.array(list("abcdefghijkl")),
            "y": rng.normal(size=12)}
    path = tmp_path / "cols.npz"
    np.savez(path, **cols)
    ref = np.load(path)
    ds = read_table(path, "y")
    assert ds.feature_names == ("x1", "x2") and ds.skipped == ("name",)
    np.testing.assert_array_equal(ds.X, np.column_stack([ref["x1"], ref["x2"]]).astype(float))
    ds = read_table(path, "name", task="classification")
    assert ds.y.tolist() == ref["name"].tolist()


def test_object_arrays_are_refused_without_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([[1, None]], dtype=object), allow_pickle=True)
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(DataError, match="Python objects"):
        read_table(path, "last")


# --- the error object ------------------------------------------------------------------------


def test_data_error_attributes_and_pickling(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(DataError) as info:
        read_table(path, "y")
    e = info.value
    assert isinstance(e, ValueError)
    assert (e.path, e.line, e.row, e.column) == (path, 3, 2, "y")
    again = pickle.loads(pickle.dumps(e))
    assert str(again) == str(e) and again.line == 3 and again.column == "y"
    with pytest.raises(DataError) as info:
        read_table(tmp_path / "nowhere.csv", "y")
    assert info.value.line is None and info.value.column is None and "no such file" in str(info.value)


# --- property tests: anything either reads or raises DataError ----------------------------------

_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(path: Path, **kwargs) -> None:
    """read_table returns a consistent Dataset or raises a one-line DataError; never anything else."""
    try:
        ds = read_table(path, **kwargs)
    except DataError as e:
        message = str(e)
        assert message.startswith(str(path)) and "\n" not in message and "\r" not in message
        return
    n = ds.X.shape[0]
    assert ds.X.ndim == 2 and ds.X.dtype == np.float64 and n >= 2 and ds.X.shape[1] >= 1
    assert ds.y.shape == (n,) and np.isfinite(ds.X).all()
    if ds.task == "regression":
        assert np.isfinite(ds.y).all()
    assert len(ds.feature_names) == ds.X.shape[1]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@_FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".txt", ".dat", ".parquet", ".npy", ".npz"]),
       target=st.sampled_from(["y", "0", "last", "a"]))
def test_random_bytes_read_or_raise_data_error(work, data, suffix, target):
    path = work / f"fuzz{suffix}"
    path.write_bytes(data)
    check(path, target=target)


_cells = st.one_of(
    st.sampled_from(["1", "-2.5", "1e3", "", "NA", "nan", "inf", "-inf", "1e999", "abc", "?", "1,5", "0x10",
                     " 7 ", "1_0", '"3"', '"a,b"', '"', '""', "a\"b", "NaN", "None", "é", "\u2028"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
)


@_FUZZ
@given(header=st.lists(st.sampled_from(["x", "y", " y ", "z", "", "x"]), min_size=0, max_size=4),
       rows=st.lists(st.lists(_cells, min_size=0, max_size=5), max_size=6),
       sep=st.sampled_from([",", ";", "\t", "|"]), newline=st.sampled_from(["\n", "\r\n", "\r"]),
       bom=st.booleans(), missing=st.sampled_from(["error", "drop", "mean"]),
       task=st.sampled_from(["regression", "classification"]), given_sep=st.booleans())
def test_random_malformed_csv_reads_or_raises_data_error(work, header, rows, sep, newline, bom, missing, task,
                                                         given_sep):
    lines = [sep.join(header)] + [sep.join(r) for r in rows]
    data = ("\ufeff" if bom else "") + newline.join(lines)
    path = work / "fuzz.csv"
    path.write_bytes(data.encode("utf-8", "surrogatepass"))
    check(path, target="y", missing=missing, task=task, delimiter=sep if given_sep else None)


@pytest.fixture(scope="module")
def valid_files(work) -> dict[str, bytes]:
    """The bytes of a good Parquet, .npy and .npz file, to damage."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=20), "b": rng.integers(0, 5, size=20), "y": rng.normal(size=20)})
    out = {}
    path = work / "valid.parquet"
    df.to_parquet(path, index=False)
    out[".parquet"] = path.read_bytes()
    path = work / "valid.npy"
    np.save(path, df.to_numpy())
    out[".npy"] = path.read_bytes()
    path = work / "valid.npz"
    np.savez(path, X=df[["a", "b"]].to_numpy(), y=df["y"].to_numpy())
    out[".npz"] = path.read_bytes()
    return out


@_FUZZ
@given(suffix=st.sampled_from([".parquet", ".npy", ".npz"]), data=st.data())
def test_damaged_binary_files_read_or_raise_data_error(work, valid_files, suffix, data):
    raw = bytearray(valid_files[suffix])
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=4),
                      label="flips")
    for at, value in flips:
        raw[at] = value
    path = work / f"damaged{suffix}"
    path.write_bytes(bytes(raw[: cut if data.draw(st.booleans(), label="truncate") else len(raw)]))
    check(path, target="y" if suffix != ".npy" else "last")
