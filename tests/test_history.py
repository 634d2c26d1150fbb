"""The record of a run: contents, pandas, and exact round trips through JSON and CSV."""

from __future__ import annotations

import json
import math
import os
import stat

import numpy as np
import pytest

from gradstep import History, LinearRegression, minimize
from gradstep.data.datasets import tutorial_line


@pytest.fixture()
def fitted():
    ds = tutorial_line()
    return LinearRegression(batch_size=25, lr=0.001, epochs=4, tol=None, random_state=1).fit(ds.X, ds.y), ds


def test_history_records_every_step_and_epoch(fitted):
    model, ds = fitted
    h = model.history_
    assert h.n_steps == 16 and h.n_epochs == 4
    # step k's loss is the batch loss at theta_k, recomputed here by hand
    from gradstep.data.batching import epoch_order

    order = epoch_order(100, 0, h.meta["seed"])
    rows = order[:25]
    w, b = h.params[0]
    assert h.loss[0] == pytest.approx(np.mean((ds.X[rows, 0] * w + b - ds.y[rows]) ** 2), rel=1e-14)
    # the epoch loss is on all the data at the parameters after the epoch
    w, b = h.params[4]  # theta after epoch 0 = theta_4
    assert h.epoch_loss[0] == pytest.approx(np.mean((ds.X[:, 0] * w + b - ds.y) ** 2), rel=1e-14)
    np.testing.assert_array_equal(h.path[-1], np.append(model.coef_, model.intercept_))
    np.testing.assert_allclose(h.lr, 0.001)
    assert h.param_names == ("w[x0]", "b")


def test_to_pandas_tables(fitted):
    model, _ = fitted
    steps = model.history_.to_pandas()
    assert list(steps.columns) == ["step", "epoch", "loss", "grad_norm", "lr", "param:w[x0]", "param:b"]
    np.testing.assert_array_equal(steps["loss"].to_numpy(), model.history_.loss)
    epochs = model.history_.to_pandas("epochs")
    assert epochs["step"].tolist() == [4, 8, 12, 16]


def test_json_round_trip_is_exact(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "run.json"
    assert model.history_.to_json(path) is None   # as pandas: a REPL does not echo the written file
    assert path.read_text() == model.history_.to_json()
    back = History.from_json(path)
    np.testing.assert_array_equal(back.params, model.history_.params)
    np.testing.assert_array_equal(back.loss, model.history_.loss)
    np.testing.assert_array_equal(back.epoch_loss, model.history_.epoch_loss)
    np.testing.assert_array_equal(back.final_params, model.history_.final_params)
    assert back.meta == json.loads(model.history_.to_json())["meta"]
    assert back.to_json() == model.history_.to_json()


def test_csv_round_trip_is_exact(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "steps.csv"
    model.history_.to_csv(path)
    back = History.from_csv(path)
    np.testing.assert_array_equal(back.params, model.history_.params)
    np.testing.assert_array_equal(back.loss, model.history_.loss)
    np.testing.assert_array_equal(back.grad_norm, model.history_.grad_norm)
    assert back.param_names == ("w[x0]", "b")


def test_non_finite_values_survive_json():
    h = History(param_names=("x",))
    h.record_step(0, math.inf, math.nan, 0.1, np.array([1.0]))
    back = History.from_json(h.to_json())
    assert back.loss[0] == math.inf and math.isnan(back.grad_norm[0])
    json.loads(h.to_json())  # strict JSON: no bare NaN / Infinity tokens
    assert "NaN" not in h.to_json() and "Infinity" not in h.to_json()


def test_params_can_be_left_out():
    res = minimize("x**2 + y**2", [3, 2], lr=0.1, steps=5, record_params=False)
    assert res.history.params is None and res.history.n_steps == 5
    assert "param:" not in "".join(res.history.to_pandas().columns)


def test_loading_rejects_other_files(tmp_path):
    with pytest.raises(ValueError, match="not a gradstep history"):
        History.from_json('{"a": 1}')
    with pytest.raises(ValueError, match="malformed"):
        History.from_json("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        History.from_json(tmp_path / "missing.json")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing"):
        History.from_csv(tmp_path / "x.csv")


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    path.write_text("old")
    h = History()
    h.record_step(0, 1.0, 1.0, 0.1, np.array([1.0]))

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        h.to_json(path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_written_files_have_the_mode_open_would_give(tmp_path, mask):
    """Atomic writes go through a private temporary file; the result still gets 0o666 minus the umask,
    as a file made by open() -- the reference, made beside it."""
    old = os.umask(mask)
    try:
        with open(tmp_path / "plain.json", "w") as f:
            f.write("{}")
        History().to_json(tmp_path / "run.json")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)
    assert mode(tmp_path / "run.json") == mode(tmp_path / "plain.json") == 0o666 & ~mask
