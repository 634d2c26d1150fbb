"""Fitting Dask arrays and DataFrames (gradstep.distributed) on a local cluster of two worker processes.

The reference for every number is the in-memory fit of the same estimator on the same rows as
NumPy arrays: full-batch descent over the blocks (the gradient summed on the workers) and
mini-batch epochs in block order must make the same steps, up to the rounding of sums added in
another order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression
from gradstep.data.readers import DataError
from gradstep.data.stream import StreamBatches
from gradstep.distributed import DaskRows, client, read_parquet

N, D = 700, 4
CHUNKS = (150, 100, 200, 130, 120)   # uneven row blocks
TOL = 1e-10


@pytest.fixture(scope="module")
def cluster():
    """A client to a local cluster of two single-threaded worker processes."""
    lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                                  processes=True, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    c = distributed.Client(lc)
    try:
        yield c
    finally:
        c.close()
        lc.close()


def rows(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * np.array([1.0, 2.0, 0.5, 1.5]) + np.array([0.5, -1.0, 0.0, 2.0])
    return X, X @ np.array([1.5, -2.0, 0.5, 3.0]) + 0.7 + 0.1 * rng.normal(size=N)


def on_dask(X: np.ndarray, y: np.ndarray) -> tuple:
    return da.from_array(X, chunks=(CHUNKS, D)), da.from_array(y, chunks=(CHUNKS,))


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """Normwise relative difference of two paths of iterates."""
    assert a.shape == b.shape
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def same_path(ref, got) -> None:
    assert ref.history_.n_steps == got.history_.n_steps > 0
    assert rel(got.history_.params, ref.history_.params) < TOL
    assert rel(np.atleast_1d(got.coef_), np.atleast_1d(ref.coef_)) < TOL
    np.testing.assert_allclose(got.history_.loss, ref.history_.loss, rtol=1e-9)


# ----------------------------------------------------------------------------- full batch, on the workers
@pytest.mark.parametrize("make", [
    lambda: LinearRegression(sufficient_stats=False, epochs=15, tol=None),
    lambda: LinearRegression(epochs=15, tol=None),
    lambda: LinearRegression(sufficient_stats=False, penalty="l2", alpha=0.3, epochs=15, tol=None),
    lambda: LinearRegression(penalty="l2", alpha=0.3, epochs=15, tol=None),
], ids=["linear-rows", "linear-stats", "linear-rows-l2", "linear-stats-l2"])
def test_full_batch_linear_matches_numpy(cluster, make):
    X, y = rows()
    ref = make().fit(X, y)
    got = make().fit(*on_dask(X, y))
    same_path(ref, got)
    assert got.history_.meta["data"] == f"dask array ({N} rows, {D} columns, {len(CHUNKS)} blocks)"
    assert got.history_.meta["sufficient_stats"] == (make().sufficient_stats is not False)


@pytest.mark.parametrize("penalty", [None, "l2"])
def test_full_batch_logistic_matches_numpy(cluster, penalty):
    X, y = rows(1)
    labels = (y > np.median(y)).astype(float)
    make = lambda: LogisticRegression(penalty=penalty, alpha=0.05, epochs=12, tol=None)
    ref = make().fit(X, labels)
    got = make().fit(*on_dask(X, labels))
    same_path(ref, got)
    np.testing.assert_array_equal(got.classes_, ref.classes_)


@pytest.mark.parametrize("penalty", [None, "l2"])
def test_full_batch_softmax_matches_numpy(cluster, penalty):
    X, y = rows(2)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3])).astype(float)   # 3 classes
    make = lambda: SoftmaxRegression(penalty=penalty, alpha=0.05, epochs=12, tol=None)
    ref = make().fit(X, labels)
    got = make().fit(*on_dask(X, labels))
    same_path(ref, got)
    np.testing.assert_array_equal(got.classes_, [0.0, 1.0, 2.0])


def test_map_reduce_runs_on_the_workers(cluster):
    X, y = rows()
    src = DaskRows(*on_dask(X, y))
    seen = src.map_reduce(lambda Xb, yb: {(distributed.get_worker().address, Xb.shape[0])}, lambda a, b: a | b)
    assert sorted(m for _, m in seen) == sorted(CHUNKS)
    assert {w for w, _ in seen} <= set(cluster.scheduler_info()["workers"])
    total = src.map_reduce(lambda Xb, yb: np.array([Xb.sum(), yb.sum(), Xb.shape[0]]), lambda a, b: a + b)
    np.testing.assert_allclose(total, [X.sum(), y.sum(), N], rtol=1e-12)


# ----------------------------------------------------------------------------- mini-batches, block by block
def test_minibatch_in_order_matches_numpy(cluster):
    X, y = rows()
    make = lambda: LinearRegression(batch_size=32, shuffle=False, lr=0.01, epochs=3, tol=None)
    ref = make().fit(X, y)
    got = make().fit(*on_dask(X, y))
    assert got.history_.n_steps == 3 * -(-N // 32)
    same_path(ref, got)


def test_minibatch_shuffled_is_seeded_and_visits_every_row(cluster):
    X, y = rows()
    X[:, 0] = np.arange(N) / N   # the row's id, over N
    Xd, yd = on_dask(X, y)
    src = DaskRows(Xd, yd)
    batches = StreamBatches(src, 50, True, 7, 200, None, None)
    for epoch in (0, 1):
        ids = np.rint(np.concatenate([b[0][:, 0] for b in batches.epoch(epoch)]) * N)
        assert sorted(ids) == list(range(N))          # every row once
        assert not np.array_equal(ids, np.arange(N))  # in another order
    make = lambda seed: LinearRegression(batch_size=50, lr=1e-3, epochs=2, tol=None,
                                         random_state=seed)
    a, b, c = make(3).fit(Xd, yd), make(3).fit(Xd, yd), make(4).fit(Xd, yd)
    assert a.history_.n_steps == 2 * -(-N // 50)
    np.testing.assert_array_equal(a.history_.params, b.history_.params)
    assert not np.array_equal(a.history_.params, c.history_.params)


@pytest.mark.parametrize("shuffle", [False, True])
def test_minibatch_epoch_in_pieces_fetches_each_block_once(cluster, monkeypatch, shuffle):
    """Compiled epochs cut into pieces of 3 updates (a stop can be asked for): each block comes to
    this process once an epoch (counted by the blocks' rows read: n per epoch, besides the summary
    reduced on the workers, n more), and the iterates are those of the uncut epochs on NumPy."""
    from gradstep import interrupt, loop
    from gradstep.data.stream import ObservedRows

    X, y = rows()
    make = lambda: LinearRegression(batch_size=16, shuffle=shuffle, random_state=1, lr=0.01, epochs=2, tol=None)
    reference = make().fit_stream(DaskRows(*on_dask(X, y)), buffer_rows=200)
    read = []
    monkeypatch.setattr(loop, "INTERRUPT_PIECE", 3)
    monkeypatch.setattr(loop, "PIECE_WORK", 0)
    with interrupt.graceful(notice=False):
        got = make().fit_stream(ObservedRows(DaskRows(*on_dask(X, y)), read.append), buffer_rows=200)
    assert got.history_.meta["compiled"] is True
    assert sum(read) == 3 * N
    np.testing.assert_array_equal(got.history_.params, reference.history_.params)
    if not shuffle:
        same_path(make().fit(X, y), got)


def test_read_pieces_and_skip():
    X, y = rows()
    src = DaskRows(*on_dask(X, y))
    assert src.piece_rows == CHUNKS and src.n_rows == N and src.feature_names == ("x0", "x1", "x2", "x3")
    got = list(src.read([2, 0], skip=10))
    assert [c[0].shape[0] for c in got] == [190, 150]
    np.testing.assert_array_equal(got[0][0], X[260:450])
    np.testing.assert_array_equal(got[1][1], y[:150])
    assert all(c[0].flags.c_contiguous and c[0].dtype == np.float64 for c in got)
    assert [c[0].shape[0] for c in src.read(skip=300)] == [150, 130, 120]


# ----------------------------------------------------------------------------- DataFrames and Parquet
def test_parquet_dataframe_matches_numpy(cluster, tmp_path):
    X, y = rows()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(target=y, label="text")
    for i, lo in enumerate(range(0, N, 250)):
        frame.iloc[lo:lo + 250].to_parquet(tmp_path / f"part{i}.parquet", index=False)
    src = read_parquet(tmp_path, target="target")
    assert src.feature_names == ("a", "b", "c", "d") and src.target_name == "target"
    assert src.n_rows == N and sum(src.piece_rows) == N
    make = lambda: LinearRegression(sufficient_stats=False, epochs=12, tol=None)
    ref = make().fit(X, y)
    got = make().fit_stream(src)
    same_path(ref, got)
    np.testing.assert_array_equal(got.feature_names_in_, ["a", "b", "c", "d"])
    # a dask DataFrame given to fit, the target by name; and a chosen subset of features
    df = dd.read_parquet(str(tmp_path / "*.parquet"))
    same_path(ref, make().fit(df, "target"))
    assert DaskRows(df, df["target"], features=["b", "d"]).feature_names == ("b", "d")
    # a list of files (what `gradstep fit A.parquet B.parquet --scheduler ...` passes): the same rows in order
    files = sorted(tmp_path.glob("part*.parquet"), key=lambda f: int(f.stem[4:]))
    listed = read_parquet(files, target="target")
    assert listed.n_rows == N and str(files[0]) in listed.description
    same_path(ref, make().fit_stream(listed))


# ----------------------------------------------------------------------------- bad input
def test_missing_value_names_block_row_and_column(cluster):
    X, y = rows()
    X[310, 2] = np.nan   # block 2 (rows 250-449), row 311
    with pytest.raises(DataError, match=r"block 2, row 311 \(index 310\), column 'x2': missing value"):
        LinearRegression(epochs=5).fit(*on_dask(X, y))
    X, y = rows()
    y[5] = np.inf
    with pytest.raises(DataError, match=r"block 0, row 6 .*column 'y': value inf"):
        list(DaskRows(*on_dask(X, y)).read())


def test_bad_shapes_and_arguments():
    X, y = rows()
    Xd, yd = on_dask(X, y)
    with pytest.raises(ValueError, match="different numbers of rows: X has 700, y has 699"):
        DaskRows(Xd, y[:-1])
    with pytest.raises(ValueError, match="different numbers of rows"):
        DaskRows(Xd, da.from_array(y[:-1], chunks=100))
    with pytest.raises(ValueError, match="must be 2-D"):
        DaskRows(Xd[:, 0], yd)
    with pytest.raises(TypeError, match="column name only when X is a dask DataFrame"):
        DaskRows(Xd, "y")
    df = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")).assign(t=y), npartitions=3)
    with pytest.raises(ValueError, match="no column 'z'"):
        DaskRows(df, "z")
    with pytest.raises(ValueError, match="either scheduler .* or workers"), \
            client(scheduler="tcp://127.0.0.1:8786", workers=2):
        pass
    with pytest.raises(ValueError, match="workers must be an int >= 1"), client(workers=0):
        pass


def test_numpy_target_and_unknown_chunks():
    X, y = rows()
    df = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=4)
    Xd = df.to_dask_array()                  # row blocks of unknown size
    assert np.isnan(Xd.chunks[0][0])
    src = DaskRows(Xd, y)                     # NumPy targets, cut to the measured blocks
    assert sum(src.piece_rows) == N and len(src.piece_rows) == 4
    got = list(src.read())
    np.testing.assert_array_equal(np.concatenate([c[0] for c in got]), X)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in got]), y)


def test_local_client_context():
    X, y = rows()
    with client(workers=1) as c:
        assert len(c.scheduler_info()["workers"]) == 1
        total = DaskRows(*on_dask(X, y)).map_reduce(lambda a, b: b.sum(), lambda u, v: u + v)
    assert np.isclose(total, y.sum())
    assert c.status == "closed"
