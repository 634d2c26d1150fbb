"""A record of bounded size and checkpoints of bounded cost (issue 15, item 7).

The references: the same run with ``record_params="all"`` (every step's parameters, the old
default) for what a thinned record keeps; the even grid written out from its definition
(the smallest power-of-two stride that leaves at most ``L`` steps) for which steps it keeps;
the uninterrupted run for a run killed and resumed; the bytes of the checkpoint files for
what a save appends.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from gradstep import LinearRegression, minimize, plots
from gradstep import checkpoint as checkpoints
from gradstep.history import History
from gradstep.kernels import loops
from gradstep.param_rows import MAX_PARAM_ROWS, KeepParams
from gradstep.steps_file import StepsFile, read


def _grid(n: int, limit: int) -> list[int]:
    """The even grid by its definition: steps 0, s, 2s, ... below n, s the smallest power of two
    leaving at most ``limit`` of them."""
    for k in range(64):
        kept = list(range(0, n, 2 ** k))
        if len(kept) <= limit:
            return kept
    raise AssertionError("unreachable")


def _data(n: int = 97, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.normal(size=n)


def _fit(record, compiled: bool = True, **kw) -> LinearRegression:
    X, y = _data()
    params = {"batch_size": 4, "lr": 0.01, "epochs": 40, "tol": None, "random_state": 0, **kw}
    old = loops.ENABLED
    loops.ENABLED = compiled
    try:
        return LinearRegression(record_params=record, **params).fit(X, y)
    finally:
        loops.ENABLED = old


# ------------------------------------------------------------------------------ what is kept
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_thinned_record_keeps_the_grid_and_epoch_ends_of_the_full_record(compiled, batch_size):
    full = _fit("all", compiled, batch_size=batch_size).history_
    thin = _fit(16, compiled, batch_size=batch_size).history_
    assert thin.meta["compiled"] is compiled
    n = full.n_steps
    assert full.params.shape[0] == n and full.param_steps.tolist() == list(range(n))
    ends = [t for t in full.to_pandas("epochs")["step"] if t < n]
    assert thin.param_steps.tolist() == sorted(set(_grid(n, 16)) | set(ends))
    np.testing.assert_array_equal(thin.params, full.params[thin.param_steps])
    for name in ("step", "epoch", "loss", "grad_norm", "lr"):   # every step's scalars, as the full record
        np.testing.assert_array_equal(thin.column(name), full.column(name))
    np.testing.assert_array_equal(thin.final_params, full.final_params)
    np.testing.assert_array_equal(thin.path, np.vstack([full.params[thin.param_steps], full.final_params]))
    assert thin.path_steps.tolist() == thin.param_steps.tolist() + [n]


def test_a_step_at_a_time_keeps_what_pieces_keep():
    """minimize records one step at a time; the kept steps and points are those of the full record."""
    full = minimize("(x - 1)**2 + 3*(y + 2)**2", [4.0, 3.0], lr=0.01, steps=1000, gtol=None,
                    record_params="all").history   # all 1000 steps: gtol off
    thin = minimize("(x - 1)**2 + 3*(y + 2)**2", [4.0, 3.0], lr=0.01, steps=1000, gtol=None,
                    record_params=50).history
    assert thin.param_steps.tolist() == _grid(1000, 50) == list(range(0, 1000, 32))
    np.testing.assert_array_equal(thin.params, full.params[thin.param_steps])
    np.testing.assert_array_equal(thin.loss, full.loss)


def test_the_default_keeps_at_most_max_param_rows_plus_the_epoch_ends():
    X, y = _data(2500)
    model = LinearRegression(batch_size=1, lr=0.001, epochs=6, tol=None, random_state=0).fit(X, y)
    h = model.history_
    assert model.record_params == "thinned" and h.n_steps == 15000
    ends = [2500 * e for e in range(1, 6)]
    assert h.param_steps.tolist() == sorted(set(_grid(15000, MAX_PARAM_ROWS)) | set(ends))
    assert len(h.params) <= MAX_PARAM_ROWS + 6 and len(h.loss) == 15000
    steps = np.asarray(_grid(15000, MAX_PARAM_ROWS))
    assert np.all(np.diff(steps) == 2)   # evenly spaced


def test_record_params_none_and_bad_values():
    h = _fit("none").history_
    assert h.params is None and h.param_steps is None and h.n_steps == 40 * 25
    assert _fit(False).history_.params is None
    with pytest.raises(ValueError, match="record_params must be"):
        _fit("some")
    with pytest.raises(ValueError, match="record_params must be"):
        History(record_params=1)


def test_compiled_epochs_hand_back_only_the_rows_kept(monkeypatch):
    """No call of the kernel returns more parameter rows than the record keeps (+ 1 for the step that
    widens the grid): a bounded record never holds a whole epoch's path."""
    sizes: list[tuple[int, int]] = []
    call = loops.CompiledEpochs.__call__

    def spy(self, *args, **kwargs):
        done = call(self, *args, **kwargs)
        sizes.append((len(done.loss), 0 if done.path is None else len(done.path)))
        return done

    monkeypatch.setattr(loops.CompiledEpochs, "__call__", spy)
    X, y = _data(3000)
    h = LinearRegression(batch_size=1, lr=0.001, epochs=4, tol=None, record_params=20,
                         random_state=0).fit(X, y).history_
    assert h.meta["compiled"] and sum(n for n, _ in sizes) == 12000
    assert max(rows for _, rows in sizes) <= 21 and max(n for n, _ in sizes) > 1000


def test_keep_params_advances_across_blocks():
    keep = KeepParams(4, 1)
    kept = []
    for start, n in ((0, 3), (3, 6), (9, 2), (11, 9)):   # the blocks of a stream, one after the other
        kept += [start + j for j in range(keep.first, n, keep.every)]
        keep.advance(n)
    assert kept == list(range(1, 20, 4))


# ------------------------------------------------------------------------------ tables and files
def test_pandas_json_and_csv_align_parameters_with_steps(tmp_path):
    h = _fit(16).history_
    df = h.to_pandas()
    pcols = [c for c in df.columns if c.startswith("param:")]
    assert len(df) == h.n_steps and len(pcols) == 4
    kept = df[pcols].notna().all(axis=1)
    assert np.flatnonzero(kept).tolist() == h.param_steps.tolist()
    assert df.loc[~kept, pcols].isna().all().all()
    np.testing.assert_array_equal(df.loc[kept, pcols].to_numpy(), h.params)
    table = h.to_pandas("params")
    assert table["step"].tolist() == h.param_steps.tolist()
    np.testing.assert_array_equal(table[pcols].to_numpy(), h.params)
    np.testing.assert_array_equal(table["epoch"], h.column("epoch")[h.param_steps])

    back = History.from_json(h.to_json())
    assert json.loads(h.to_json())["version"] == 2
    assert back.to_json() == h.to_json()
    np.testing.assert_array_equal(back.params, h.params)
    np.testing.assert_array_equal(back.param_steps, h.param_steps)

    h.to_csv(tmp_path / "steps.csv")
    csv = History.from_csv(tmp_path / "steps.csv")
    np.testing.assert_array_equal(csv.param_steps, h.param_steps)
    np.testing.assert_array_equal(csv.params, h.params)
    np.testing.assert_array_equal(csv.loss, h.loss)


def test_version_1_files_are_read():
    """A version 1 file (written by hand here as version 1 wrote them): a row for every step."""
    old = {"format": "gradstep.history", "version": 1, "meta": {}, "param_names": ["w"], "record_params": True,
           "steps": {"step": [0, 1, 2], "epoch": [0, 0, 1], "loss": [4.0, 2.0, "nan"], "grad_norm": [1.0, 1.0, 1.0],
                     "lr": [0.1, 0.1, 0.1], "params": [[2.0], [1.5], [1.25]]},
           "epochs": {"epoch": [0], "step": [2], "loss": [1.0]}, "final_params": [1.0]}
    h = History.from_dict(old)
    assert h.param_steps.tolist() == [0, 1, 2] and h.params.ravel().tolist() == [2.0, 1.5, 1.25]
    assert h.path.ravel().tolist() == [2.0, 1.5, 1.25, 1.0]
    assert h.column("epoch").tolist() == [0, 0, 1] and np.isnan(h.loss[2])


def test_steps_file_holds_every_step_of_the_full_record(tmp_path):
    full = _fit("all", batch_size=1, epochs=30).history_
    model = _fit(StepsFile(tmp_path / "steps.parquet", keep=10), batch_size=1, epochs=30)
    h = model.history_
    table = read(tmp_path / "steps.parquet")
    assert len(table) == full.n_steps == 97 * 30
    assert table["step"].tolist() == list(range(full.n_steps))
    for name in ("epoch", "loss", "grad_norm", "lr"):
        np.testing.assert_array_equal(table[name].to_numpy(), full.column(name))
    pcols = [c for c in table.columns if c.startswith("param:")]
    np.testing.assert_array_equal(table[pcols].to_numpy(), full.params)
    assert len(h.params) <= 10 + 30   # memory: the thinned record
    np.testing.assert_array_equal(h.params, full.params[h.param_steps])
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(next((tmp_path / "steps.parquet").glob("part-*.parquet"))).metadata
    assert meta.num_rows == full.n_steps
    assert all(meta.row_group(i).num_rows <= 65536 for i in range(meta.num_row_groups))


# ------------------------------------------------------------------------------ plots
def test_plots_draw_a_thinned_path():
    h = minimize("(1 - x)**2 + 100*(y - x**2)**2", [-1.5, 2.0], optimizer="adam", lr=0.05, steps=3000,
                 gtol=None, record_params=64).history   # all 3000 steps: gtol off
    fig = plots.plot_contour(plots.formula_surface("(1 - x)**2 + 100*(y - x**2)**2"), h, optimum=(1, 1))
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(np.column_stack(line.get_data()), h.path)
    assert len(h.path) == len(_grid(3000, 64)) + 1


# ------------------------------------------------------------------------------ checkpoints
def _checkpoint_files(ck) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in ck.parent.iterdir() if p.name.startswith(ck.name)}


def test_a_checkpoint_appends_only_the_new_steps(tmp_path):
    """Every save leaves the bytes of the previous ones as they were and adds a piece that does not grow
    with the run; the state file stays small."""
    X, y = _data(400)
    ck = tmp_path / "run.ckpt"
    snapshots: list[tuple[int, bytes, int]] = []
    save = checkpoints.save

    def watch(path, content):
        save(path, content)
        logs = [p for p in tmp_path.iterdir() if p.name.endswith(".history")]
        assert len(logs) == 1
        snapshots.append((content["snapshot"].step, logs[0].read_bytes(), ck.stat().st_size))

    import gradstep.checkpoint as module

    module_save, module.save = module.save, watch
    try:
        model = LinearRegression(batch_size=1, lr=0.001, epochs=20, tol=None, random_state=0)
        model.fit(X, y, checkpoint=ck, checkpoint_every=400)
    finally:
        module.save = module_save
    assert [s for s, _, _ in snapshots] == list(range(400, 8001, 400))
    for (_, before, _), (_, after, _) in zip(snapshots, snapshots[1:]):
        assert after[:len(before)] == before                    # appended, never rewritten
    growth = np.diff([len(b) for _, b, _ in snapshots])
    # the 400 steps since the last save: loss and gradient norm (8 bytes each), 4 parameters (32) and their
    # step (8); the epoch and the constant learning rate packed; a few kB of framing. Not the whole run.
    assert growth.max() < 56 * 400 + 4000
    assert growth[-1] <= 1.01 * growth[0]
    states = [s for _, _, s in snapshots]
    assert max(states) < 8000 and max(states) - min(states) < 200
    back = checkpoints.load(ck)["model"].history_
    np.testing.assert_array_equal(back.loss, model.history_.loss[:8000])
    np.testing.assert_array_equal(back.params, model.history_.params)


def test_a_fresh_run_starts_a_new_history_file_and_the_old_one_goes(tmp_path):
    X, y = _data(50)
    ck = tmp_path / "run.ckpt"
    params = {"batch_size": 5, "lr": 0.01, "epochs": 3, "tol": None, "random_state": 0}
    LinearRegression(**params).fit(X, y, checkpoint=ck, checkpoint_every=10)
    first = [p.name for p in tmp_path.iterdir() if p.name.endswith(".history")]
    (tmp_path / "run.ckpt.run.0123456789ab.history").write_bytes(b"another checkpoint's")
    LinearRegression(**params).fit(X, y, checkpoint=ck, checkpoint_every=10)
    second = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".history"))
    assert len(first) == 1 and first[0] not in second
    assert "run.ckpt.run.0123456789ab.history" in second and len(second) == 2   # NAME.run's is not ours
    os.unlink(next(p for p in tmp_path.iterdir() if p.name.endswith(".history") and ".run." not in p.name))
    with pytest.raises(ValueError, match="history file .* is missing"):
        checkpoints.load(ck)


def test_a_format_1_checkpoint_is_read(tmp_path):
    path = tmp_path / "old.ckpt"
    path.write_bytes(pickle.dumps({"format": "gradstep-checkpoint-1", "content": {"step": 4}}))
    assert checkpoints.load(path) == {"step": 4}


KILLED = textwrap.dedent("""
    import sys
    import numpy as np
    from gradstep import LinearRegression

    X, y = np.load(sys.argv[1]), np.load(sys.argv[2])
    LinearRegression(**eval(sys.argv[4])).fit(X, y, checkpoint=sys.argv[3], checkpoint_every=int(sys.argv[5]))
""")


def test_sigkill_during_a_thinned_compiled_fit_then_resume_is_bit_for_bit(tmp_path):
    """Killed after its record has widened its grid several times, then resumed: the parameters,
    every step's scalars and the kept parameter rows are those of the uninterrupted run, bit for bit."""
    X, y = _data(2000, seed=3)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    params = {"batch_size": 1, "lr": 0.001, "epochs": 1500, "tol": None, "random_state": 5, "record_params": 64,
              "optimizer": "momentum"}
    ck, every = tmp_path / "run.ckpt", 20000
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), str(ck),
                              repr(params), str(every)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None and len(seen) < 3:
            if ck.exists():
                try:
                    step = checkpoints.load(ck)["snapshot"].step
                except (ValueError, FileNotFoundError):   # read between a state's rename and its old file's removal
                    continue
                if not seen or seen[-1] != step:
                    seen.append(step)
            time.sleep(0.002)
        assert child.poll() is None, f"the run ended before it was killed: {child.communicate()}"
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    saved = checkpoints.load(ck)
    snap = saved["snapshot"]
    assert 0 < snap.step < 3_000_000 and snap.step % every == 0
    assert saved["model"].history_.n_steps == snap.step

    resumed = LinearRegression(**params).fit(X, y, checkpoint=ck, resume=True)
    reference = LinearRegression(**params).fit(X, y)
    np.testing.assert_array_equal(resumed.coef_, reference.coef_)
    np.testing.assert_array_equal(resumed.intercept_, reference.intercept_)
    r, h = reference.history_, resumed.history_
    assert r.n_steps == h.n_steps == 3_000_000
    for name in ("epoch", "loss", "grad_norm", "lr"):
        np.testing.assert_array_equal(h.column(name), r.column(name))
    np.testing.assert_array_equal(h.param_steps, r.param_steps)
    np.testing.assert_array_equal(h.params, r.params)
    pd.testing.assert_frame_equal(h.to_pandas("epochs"), r.to_pandas("epochs"))
    assert len(r.params) <= 64 + 1500
