"""Streamed fits with everything the in-memory fit has, and every row read once per pass.

References, independent of the streaming code: the in-memory ``fit`` of the same rows read with
pandas (data order gives the same batches, so the same iterates up to rounding), NumPy's column
statistics, scikit-learn's class weights, the rows themselves (an ``id`` column says which rows
an epoch or the validation set holds), hand-computed losses, and the uninterrupted run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression, interrupt, loop
from gradstep.data.split import RowSplit, SplitRows
from gradstep.data.stream import ObservedRows, StreamBatches, StreamData, open_rows
from gradstep.loop import INTERRUPTED
from gradstep.models.stream_units import class_weights

N, FEATURES, GROUP, CHUNK = 203, ["a", "b", "c"], 20, 7


def _frame(seed: int = 0) -> pd.DataFrame:
    """Features of very different scales and offsets, a weight column and three targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 3)) * np.array([1.0, 10.0, 0.1]) + np.array([5.0, -3.0, 1.0])
    y = X @ np.array([1.0, -0.2, 3.0]) + 0.5 + 0.1 * rng.normal(size=N)
    df = pd.DataFrame(X, columns=FEATURES)
    df["w"] = rng.uniform(0.1, 3.0, size=N)
    df["y"] = y
    df["yb"] = (y > np.quantile(y, 0.3)).astype(np.int64)          # unbalanced classes
    df["ym"] = np.digitize(y, np.quantile(y, [0.2, 0.7])).astype(np.int64)
    df["id"] = np.arange(N, dtype=float)
    return df


def _write(df: pd.DataFrame, folder) -> str:
    path = folder / "rows.parquet"
    df.to_parquet(path, row_group_size=GROUP, index=False)
    return str(path)


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


MODELS = {
    "linear": (LinearRegression, "y", {}),
    "logistic": (LogisticRegression, "yb", {}),
    "softmax": (SoftmaxRegression, "ym", {}),
}


def _pair(tmp_path, name, *, weights=False, chunk_rows=CHUNK, **params):
    """The streamed fit and the in-memory fit of the same rows, in data order, with a fixed lr."""
    cls, target, extra = MODELS[name]
    df = _frame()
    path = _write(df, tmp_path)
    kw = {"shuffle": False, "tol": None, "epochs": 3, "lr": 0.01, **extra, **params}
    memory = cls(**kw).fit(df[FEATURES].to_numpy(), df[target].to_numpy(),
                           sample_weight=df["w"].to_numpy() if weights else None)
    streamed = cls(**kw).fit_stream(path, target=target, features=FEATURES, chunk_rows=chunk_rows,
                                    sample_weight="w" if weights else None)
    return streamed, memory


def _assert_same(streamed, memory, rel: float = 1e-12) -> None:
    hs, hm = streamed.history_, memory.history_
    assert hs.n_steps == hm.n_steps > 0
    assert _rel(hs.params, hm.params) <= rel
    assert _rel(hs.epoch_loss, hm.epoch_loss) <= 1e-9
    np.testing.assert_array_equal(hs.lr, hm.lr)
    # coefficients and intercept as one vector: a near-zero intercept alone has no relative precision
    theta_s = np.append(np.ravel(streamed.coef_), np.ravel(streamed.intercept_))
    theta_m = np.append(np.ravel(memory.coef_), np.ravel(memory.intercept_))
    assert _rel(theta_s, theta_m) <= rel


# ------------------------------------------------------------------------------ scaling
@pytest.mark.parametrize("batch_size", [16, None, 1])
@pytest.mark.parametrize("scale", ["standard", "minmax"])
@pytest.mark.parametrize("name", list(MODELS))
def test_scaled_stream_equals_in_memory(tmp_path, name, scale, batch_size):
    streamed, memory = _pair(tmp_path, name, scale=scale, batch_size=batch_size)
    _assert_same(streamed, memory)
    assert streamed.history_.meta["scale"] == scale
    if batch_size == 16:   # the same fast path as in memory
        assert streamed.history_.meta["compiled"] == memory.history_.meta["compiled"]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_scaling_from_the_summary_is_numpys(tmp_path, scale, fit_intercept):
    X = _frame()[FEATURES].to_numpy()
    m = LinearRegression(scale=scale, fit_intercept=fit_intercept, epochs=1, batch_size=16, lr=0.01, tol=None)
    m.fit_stream(_write(_frame(), tmp_path), target="y", features=FEATURES, chunk_rows=CHUNK)
    if scale == "standard":
        center, spread = X.mean(axis=0), X.std(axis=0)
    else:
        center, spread = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
    np.testing.assert_allclose(m.scaling_.scale, spread, rtol=1e-14)
    np.testing.assert_allclose(m.scaling_.center, center if fit_intercept else 0.0, rtol=1e-14, atol=0)


# ------------------------------------------------------------------------------ weights
@pytest.mark.parametrize("batch_size", [16, None, 1])
@pytest.mark.parametrize("name", list(MODELS))
def test_sample_weight_column_equals_in_memory(tmp_path, name, batch_size):
    streamed, memory = _pair(tmp_path, name, weights=True, batch_size=batch_size, scale="standard")
    _assert_same(streamed, memory)
    assert list(streamed.feature_names_in_) == FEATURES   # the weight column is not a feature


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("class_weight", ["balanced", "dict"])
@pytest.mark.parametrize("name", ["logistic", "softmax"])
def test_class_weight_equals_in_memory(tmp_path, name, class_weight, weights):
    labels = np.unique(_frame()[MODELS[name][1]])
    cw = "balanced" if class_weight == "balanced" else {int(v): 1.0 + i for i, v in enumerate(labels)}
    streamed, memory = _pair(tmp_path, name, weights=weights, batch_size=16, class_weight=cw)
    _assert_same(streamed, memory)


def test_class_weights_from_counts_are_sklearns():
    y = _frame()["ym"].to_numpy()
    labels, counts = np.unique(y, return_counts=True)
    np.testing.assert_allclose(class_weights("balanced", labels, counts),
                               compute_class_weight("balanced", classes=labels, y=y), rtol=1e-15)
    given = {0: 2.0, 1: 0.5, 2: 1.0}
    np.testing.assert_array_equal(class_weights(given, labels, counts),
                                  compute_class_weight(given, classes=labels, y=y))


def test_auto_lr_with_scaling_and_weights_matches_in_memory(tmp_path):
    streamed, memory = _pair(tmp_path, "linear", weights=True, batch_size=None, scale="standard", lr="auto")
    assert streamed.lr_ == pytest.approx(memory.lr_, rel=1e-6)
    # mini-batches: the noise term bounds one row's curvature by the largest weight times the largest
    # squared norm (the summary keeps each maximum, not that of their product): never a larger step
    streamed, memory = _pair(tmp_path, "linear", weights=True, batch_size=16, scale="standard", lr="auto")
    assert 0 < streamed.lr_(0) <= memory.lr_(0) * (1 + 1e-12)
    assert streamed.lr_.steps_per_epoch == memory.lr_.steps_per_epoch


# ------------------------------------------------------------------------------ every row read once
@pytest.mark.parametrize("pieces", ["checkpoints", "interrupt"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_rows_read_once_per_pass(tmp_path, monkeypatch, shuffle, pieces):
    """One streamed epoch cut into pieces of 2 or 3 updates reads every row once: the summary
    pass plus the epoch is 2 n rows (one epoch more, n more)."""
    path = _write(_frame(), tmp_path)
    counts = []
    kw = {"batch_size": 4, "shuffle": shuffle, "random_state": 1, "tol": None, "lr": 0.001}
    for epochs in (1, 3):
        read = [0]
        source = ObservedRows(open_rows(path, "y", FEATURES, chunk_rows=CHUNK),
                              lambda m, read=read: read.__setitem__(0, read[0] + m))
        model = LinearRegression(epochs=epochs, **kw)
        if pieces == "checkpoints":
            model.fit_stream(source, buffer_rows=45, checkpoint=tmp_path / f"c{epochs}.ckpt", checkpoint_every=3)
        else:
            monkeypatch.setattr(loop, "INTERRUPT_PIECE", 2)
            monkeypatch.setattr(loop, "PIECE_WORK", 0)
            with interrupt.graceful(notice=False):
                model.fit_stream(source, buffer_rows=45)
        assert model.history_.meta["compiled"] is True and model.t_ == epochs * -(-N // 4)
        counts.append(read[0])
    assert counts == [2 * N, 4 * N]


def test_pieces_give_the_iterates_of_whole_epochs(tmp_path, monkeypatch):
    path = _write(_frame(), tmp_path)
    kw = {"batch_size": 4, "shuffle": True, "random_state": 1, "tol": None, "lr": 0.001, "epochs": 2}
    whole = LinearRegression(**kw).fit_stream(path, target="y", features=FEATURES, buffer_rows=45)
    monkeypatch.setattr(loop, "INTERRUPT_PIECE", 3)
    monkeypatch.setattr(loop, "PIECE_WORK", 0)
    with interrupt.graceful(notice=False):
        cut = LinearRegression(**kw).fit_stream(path, target="y", features=FEATURES, buffer_rows=45)
    np.testing.assert_array_equal(cut.history_.params, whole.history_.params)
    np.testing.assert_array_equal(cut.coef_, whole.coef_)


# ------------------------------------------------------------------------------ validation rows
def _held_ids(split: RowSplit) -> set[int]:
    return set(np.flatnonzero(split.held(0, N)).tolist())


def test_row_split_does_not_depend_on_the_chunks():
    split = RowSplit(seed=5, fraction=0.2)
    whole = split.held(0, N)
    pieces = np.concatenate([split.held(lo, min(13, N - lo)) for lo in range(0, N, 13)])
    np.testing.assert_array_equal(pieces, whole)
    assert 0.1 < whole.mean() < 0.3
    assert not np.array_equal(RowSplit(seed=6, fraction=0.2).held(0, N), whole)


@pytest.mark.parametrize("chunk_rows", [CHUNK, 1000])
def test_validation_rows_are_the_same_set_in_every_epoch(tmp_path, chunk_rows):
    df = _frame()
    path = _write(df, tmp_path)
    split = RowSplit(seed=3, fraction=0.25)
    source = open_rows(path, "y", ["id", "a"], chunk_rows=chunk_rows)
    held = _held_ids(split)
    train = StreamBatches(SplitRows(source, split, held=False), batch_size=8, shuffle=True, seed=0, buffer_rows=30)
    assert train.n_samples == N - len(held)
    for epoch in range(3):
        ids = np.concatenate([Xb[:, 0] for Xb, _ in train.epoch(epoch)])
        assert sorted(ids.astype(int).tolist()) == sorted(set(range(N)) - held)
    for skip in (0, 5, 40):   # a resumed epoch: the rest of the same training rows
        rest = np.concatenate([X[:, 0] for X, _ in SplitRows(source, split, held=False).read(skip=skip)])
        assert rest.astype(int).tolist() == sorted(set(range(N)) - held)[skip:]
    got = StreamData(SplitRows(source, split, held=True)).source.map_reduce(lambda X, y: set(X[:, 0].astype(int)),
                                                                            lambda a, b: a | b)
    assert got == held


@pytest.mark.parametrize("name", ["linear", "logistic"])
def test_early_stopping_trains_on_the_rest_and_scores_the_held_rows(tmp_path, name):
    """Streamed early stopping = the in-memory fit of the training rows (the same iterates), with
    ``val_loss`` after each epoch the loss of the held-out rows at that epoch's parameters."""
    cls, target, _ = MODELS[name]
    df = _frame()
    path = _write(df, tmp_path)
    kw = {"batch_size": 8, "shuffle": False, "tol": None, "epochs": 4, "lr": 0.01, "random_state": 7}
    streamed = cls(early_stopping=True, validation_fraction=0.2, **kw).fit_stream(
        path, target=target, features=FEATURES, chunk_rows=CHUNK)
    held = RowSplit(7, 0.2).held(0, N)
    X, y = df[FEATURES].to_numpy(), df[target].to_numpy()
    memory = cls(**kw).fit(X[~held], y[~held])
    assert _rel(streamed.history_.params, memory.history_.params) <= 1e-12
    ends = streamed.history_.to_pandas("epochs")
    assert len(ends) == 4
    for (_, row), params in zip(ends.iterrows(), streamed.history_.path[ends["step"].to_numpy()]):
        memory._theta = params.copy()   # the objective of the held-out rows at this epoch's end
        by_hand = memory.loss_value(X[held], y[held])
        assert row["val_loss"] == pytest.approx(by_hand, rel=1e-10)


def test_early_stopping_stops_on_the_validation_loss(tmp_path):
    path = _write(_frame(), tmp_path)
    model = LinearRegression(batch_size=8, shuffle=True, random_state=0, epochs=500, tol=1e-3, n_iter_no_change=3,
                             early_stopping=True, scale="standard")
    model.fit_stream(path, target="y", features=FEATURES)
    val = model.history_.to_pandas("epochs")["val_loss"].to_numpy()
    assert model.result_.success and model.n_iter_ < 500 and "validation loss" in model.result_.message
    best = np.minimum.accumulate(val)
    assert np.all(val[-3:] > best[-4] - 1e-3)   # the last three epochs did not beat the best by tol


# ------------------------------------------------------------------------------ stopped and resumed
def test_interrupted_stream_with_everything_resumes_to_the_uninterrupted_run(tmp_path, monkeypatch):
    """Scaling, a weight column, class weights, early stopping and shuffling; stopped mid-epoch
    (a stop asked for part-way through the first epoch), resumed from the checkpoint: the same run."""
    path = _write(_frame(), tmp_path)
    kw = {"batch_size": 8, "shuffle": True, "random_state": 2, "tol": None, "epochs": 3, "lr": 0.05,
          "scale": "standard", "class_weight": "balanced", "early_stopping": True, "validation_fraction": 0.2}

    def fit(source, **more):
        return LogisticRegression(**kw).fit_stream(source, sample_weight="w", buffer_rows=45, **more)

    reference = fit(open_rows(path, "yb", [*FEATURES, "w"], chunk_rows=CHUNK))
    read = [0]

    def stop_later(m: int) -> None:
        read[0] += m
        if read[0] >= 2.2 * N:   # the summary (N), the loss at the start (0.8 N), then 0.4 N into epoch 0
            interrupt.request()

    ck = tmp_path / "run.ckpt"
    monkeypatch.setattr(loop, "INTERRUPT_PIECE", 2)
    monkeypatch.setattr(loop, "PIECE_WORK", 0)
    with interrupt.graceful(notice=False):
        first = fit(ObservedRows(open_rows(path, "yb", [*FEATURES, "w"], chunk_rows=CHUNK), stop_later),
                    checkpoint=ck, checkpoint_every=10**9)
    assert first.result_.status == INTERRUPTED and 0 < first.t_ < reference.t_
    assert first.result_.snapshot.batch > 0   # mid-epoch
    again = fit(open_rows(path, "yb", [*FEATURES, "w"], chunk_rows=CHUNK), checkpoint=ck, resume=True)
    np.testing.assert_array_equal(again.history_.params, reference.history_.params)
    np.testing.assert_array_equal(again.history_.to_pandas("epochs")["val_loss"],
                                  reference.history_.to_pandas("epochs")["val_loss"])
    np.testing.assert_array_equal(again.coef_, reference.coef_)


def test_missing_weight_column_says_what_to_do(tmp_path):
    path = _write(_frame(), tmp_path)
    with pytest.raises(ValueError, match="sample_weight='weight' is not a column"):
        LinearRegression(epochs=1, batch_size=8, lr=0.01).fit_stream(open_rows(path, "y", FEATURES),
                                                                     sample_weight="weight")
