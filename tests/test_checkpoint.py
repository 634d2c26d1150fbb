"""Checkpoints (gradstep.checkpoint, run(checkpoint=, resume=), fit_stream(checkpoint=, resume=)).

The reference is always the uninterrupted run with the same settings: a run killed (SIGKILL) or
stopped part-way and resumed from its last checkpoint must end with the same parameters and
the same history, step by step.
"""

from __future__ import annotations

import copy
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

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression
from gradstep import checkpoint as checkpoints
from gradstep.data.batching import Batches
from gradstep.history import History
from gradstep.kernels import loops
from gradstep.loop import Snapshot, StopRule, run
from gradstep.objectives import SquaredError
from gradstep.optim import make_optimizer


def _frame(n: int, kind: str = "regression", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    if kind == "regression":
        y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.2 * rng.normal(size=n)
    elif kind == "binary":
        y = (X @ np.array([1.0, -1.0, 0.5]) + 0.5 * rng.normal(size=n) > 0).astype(float)
    else:
        y = np.argmax(X @ rng.normal(size=(3, 3)) + 0.5 * rng.normal(size=(n, 3)), axis=1).astype(float)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["y"] = y
    return df


def _assert_same_history(h: History, ref: History) -> None:
    assert h.n_steps == ref.n_steps
    for name in ("step", "epoch", "loss", "grad_norm", "lr"):
        np.testing.assert_allclose(h.column(name), ref.column(name), rtol=1e-12, atol=0)
    if ref.record_params:
        np.testing.assert_allclose(h.params, ref.params, rtol=1e-12, atol=1e-300)
    pd.testing.assert_frame_equal(h.to_pandas("epochs"), ref.to_pandas("epochs"), rtol=1e-12, atol=0,
                                  check_exact=False)
    if ref.final_params is not None:
        np.testing.assert_allclose(h.final_params, ref.final_params, rtol=1e-12, atol=0)


def _assert_same_model(m, ref) -> None:
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-12, atol=0)
    np.testing.assert_allclose(m.intercept_, ref.intercept_, rtol=1e-12, atol=0)
    _assert_same_history(m.history_, ref.history_)
    assert m.n_iter_ == ref.n_iter_ and m.t_ == ref.t_


def _no_temp_files(folder) -> None:
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == []


# ------------------------------------------------------------------------------ killed and resumed
N_KILL, BS_KILL, EVERY_KILL, EPOCHS_KILL = 100, 8, 25, 80   # 13 steps an epoch: 25k is never an epoch's end
KILL_PARAMS = {"batch_size": BS_KILL, "shuffle": True, "random_state": 3, "epochs": EPOCHS_KILL, "tol": None,
               "lr": 0.01, "optimizer": "momentum"}

CHILD = textwrap.dedent("""
    import sys, time
    from gradstep import LinearRegression

    path, ck, params = sys.argv[1], sys.argv[2], eval(sys.argv[3])

    def slow(info):
        time.sleep(0.004)

    LinearRegression(**params).fit_stream(path, target="y", checkpoint=ck, checkpoint_every=int(sys.argv[4]),
                                          buffer_rows=40, callback=slow)
""")


def test_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path):
    data = tmp_path / "rows.parquet"
    _frame(N_KILL).to_parquet(data, row_group_size=16, index=False)
    ck = tmp_path / "run.ckpt"
    total = EPOCHS_KILL * -(-N_KILL // BS_KILL)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(ck), repr(KILL_PARAMS), str(EVERY_KILL)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if ck.exists():
                step = checkpoints.load(ck)["snapshot"].step
                if not seen or seen[-1] != step:
                    seen.append(step)
                if len(seen) >= 3:  # written, then replaced at least twice
                    break
            time.sleep(0.005)
        assert child.poll() is None, f"the run ended before it was killed: {child.communicate()}"
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(seen) >= 3 and all(s % EVERY_KILL == 0 for s in seen)

    saved = checkpoints.load(ck)
    snap = saved["snapshot"]
    steps_per_epoch = -(-N_KILL // BS_KILL)
    assert 0 < snap.step < total
    assert 0 < snap.batch < steps_per_epoch  # killed mid-epoch
    assert snap.step == snap.epoch * steps_per_epoch + snap.batch
    assert saved["model"].history_.n_steps == snap.step

    resumed = LinearRegression(**KILL_PARAMS).fit_stream(data, target="y", checkpoint=ck, resume=True,
                                                         buffer_rows=40)
    reference = LinearRegression(**KILL_PARAMS).fit_stream(data, target="y", buffer_rows=40)
    assert reference.history_.n_steps == total
    _assert_same_model(resumed, reference)
    _no_temp_files(tmp_path)


# ------------------------------------------------------------------------------ the loop, snapshot by snapshot
def _problem(n: int = 61, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Y = (X @ np.array([0.7, -1.2, 2.0]) + 0.4 + 0.3 * rng.normal(size=n))[:, None]
    return SquaredError(n_features=3, n_outputs=1), X, Y


CASES = {
    # name: (batch_size, shuffle, compiled, optimiser, stop rule)
    "full-batch-tol": (None, False, False, "sgd", StopRule(max_epochs=200, tol=1e-3, n_iter_no_change=8)),
    "full-batch-max-steps": (None, False, False, "momentum", StopRule(max_epochs=200, max_steps=40)),
    "minibatch-shuffled-tol": (8, True, False, "momentum", StopRule(max_epochs=60, tol=1e-4, n_iter_no_change=3)),
    "minibatch-shuffled-max-steps": (8, True, False, "momentum", StopRule(max_epochs=60, max_steps=50)),
    "compiled-shuffled-tol": (8, True, True, "momentum", StopRule(max_epochs=60, tol=1e-4, n_iter_no_change=3)),
    "compiled-shuffled-max-steps": (8, True, True, "momentum", StopRule(max_epochs=60, max_steps=50)),
    "compiled-per-sample-tol": (1, True, True, "momentum", StopRule(max_epochs=30, tol=1e-3, n_iter_no_change=2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_resume_from_every_snapshot_equals_uninterrupted(case):
    batch_size, shuffle, compiled, optimizer, stop = CASES[case]
    objective, X, Y = _problem()
    batches = Batches(X, Y, batch_size, shuffle, seed=11)
    lr = 0.05 if batch_size != 1 else 0.01
    transform = make_optimizer(optimizer, lr)
    params0 = np.zeros(objective.n_params)

    def runner():
        if not compiled:
            return None
        r = loops.epoch_runner(objective, batches, optimizer, lr, None, None, None, transform.init(params0))
        assert r is not None
        return r

    def go(history, resume=None, saved=None):
        def keep(snapshot: Snapshot) -> None:
            saved.append((copy.deepcopy(snapshot), copy.deepcopy(history)))

        return run(objective, params0, transform, batches, stop, history=history, checkpoint=keep,
                   checkpoint_every=7, resume=resume, epoch_runner=runner())

    snaps: list = []
    ref_history = History()
    ref = go(ref_history, saved=snaps)
    assert ref.nit >= 14 and len(snaps) == ref.nit // 7
    assert [s.step for s, _ in snaps] == [7 * (i + 1) for i in range(len(snaps))]
    if stop.tol is not None:
        assert ref.status == 0  # the patience rule stopped it
        assert any(s.no_improvement > 0 for s, _ in snaps)  # a counter under way is restored
    if stop.max_steps is not None:
        assert ref.nit == stop.max_steps
    if batch_size is not None:  # some snapshots fall inside an epoch
        assert any(0 < s.batch < batches.steps_per_epoch for s, _ in snaps)

    for snap, hist in snaps:
        assert hist.n_steps == snap.step
        later: list = []
        resumed = run(objective, params0, transform, batches, stop, history=copy.deepcopy(hist),
                      checkpoint=lambda s, later=later: later.append(copy.deepcopy(s)), checkpoint_every=7,
                      resume=copy.deepcopy(snap), epoch_runner=runner())
        np.testing.assert_allclose(resumed.x, ref.x, rtol=1e-12, atol=0)
        assert (resumed.nit, resumed.nepoch, resumed.status, resumed.message) == \
            (ref.nit, ref.nepoch, ref.status, ref.message)
        assert resumed.fun == pytest.approx(ref.fun, rel=1e-12)
        _assert_same_history(resumed.history, ref_history)
        # the resumed run takes the snapshots the uninterrupted one took after this one
        expected = [s for s, _ in snaps if s.step > snap.step]
        assert [(s.step, s.epoch, s.batch, s.no_improvement) for s in later] == \
            [(s.step, s.epoch, s.batch, s.no_improvement) for s in expected]
        for a, b in zip(later, expected):
            np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=0)
            assert a.best == b.best


def test_checkpoint_every_must_be_positive():
    objective, X, Y = _problem()
    for bad in (0, -3, 2.5, True, None):
        with pytest.raises(ValueError, match="checkpoint_every"):
            run(objective, np.zeros(4), make_optimizer("sgd", 0.1), Batches(X, Y), StopRule(max_epochs=2),
                checkpoint=lambda s: None, checkpoint_every=bad)


# ------------------------------------------------------------------------------ estimators
STOPPED_CASES = {
    "linear-full-batch": (LinearRegression, "regression", {"batch_size": None, "lr": 0.1, "epochs": 60}),
    "linear-minibatch": (LinearRegression, "regression", {"batch_size": 8, "lr": 0.02, "epochs": 12,
                                                          "optimizer": "adam"}),
    "logistic-minibatch": (LogisticRegression, "binary", {"batch_size": 8, "lr": 0.1, "epochs": 12}),
    "softmax-per-sample": (SoftmaxRegression, "multiclass", {"batch_size": 1, "lr": 0.05, "epochs": 2}),
    "logistic-full-batch": (LogisticRegression, "binary", {"batch_size": None, "lr": 0.5, "epochs": 60}),
}


@pytest.mark.parametrize("case", list(STOPPED_CASES))
def test_fit_stream_stopped_then_resumed_equals_uninterrupted(tmp_path, case):
    """A run stopped part-way (its callback raises StopIteration after the second checkpoint), then
    resumed from the checkpoint file, ends where the uninterrupted run does."""
    cls, kind, extra = STOPPED_CASES[case]
    data = tmp_path / "rows.parquet"
    _frame(70, kind).to_parquet(data, row_group_size=16, index=False)
    ck = tmp_path / "run.ckpt"
    params = dict(shuffle=True, random_state=5, tol=None, **extra)

    def stop_at(info):
        if info.step == 27:
            raise StopIteration

    first = cls(**params).fit_stream(data, target="y", checkpoint=ck, checkpoint_every=11, buffer_rows=30,
                                     callback=stop_at)
    assert first.history_.n_steps == 27
    assert checkpoints.load(ck)["snapshot"].step == 22
    resumed = cls(**params).fit_stream(data, target="y", checkpoint=ck, checkpoint_every=11, buffer_rows=30,
                                       resume=True)
    reference = cls(**params).fit_stream(data, target="y", buffer_rows=30)
    assert reference.history_.n_steps > 27
    _assert_same_model(resumed, reference)
    assert checkpoints.load(ck)["snapshot"].step == 11 * (reference.history_.n_steps // 11)
    _no_temp_files(tmp_path)


def test_fit_stream_checkpoint_refuses_other_settings_data_or_file(tmp_path):
    df = _frame(70)
    data = tmp_path / "rows.parquet"
    df.to_parquet(data, row_group_size=16, index=False)
    other = tmp_path / "other.parquet"
    df.to_parquet(other, row_group_size=16, index=False)
    ck = tmp_path / "run.ckpt"
    params = {"batch_size": 8, "shuffle": True, "random_state": 2, "tol": None, "epochs": 5, "lr": 0.02}
    plain = LinearRegression(**params).fit_stream(data, target="y")
    with_ck = LinearRegression(**params).fit_stream(data, target="y", checkpoint=ck, checkpoint_every=6)
    _assert_same_model(with_ck, plain)  # saving checkpoints changes nothing
    assert ck.exists() and checkpoints.load(ck)["snapshot"].step == 6 * (plain.history_.n_steps // 6)
    before = ck.read_bytes()

    with pytest.raises(ValueError, match=r"lr=0\.02 there, 0\.03 here") as info:
        LinearRegression(**{**params, "lr": 0.03}).fit_stream(data, target="y", checkpoint=ck, resume=True)
    assert str(ck) in str(info.value)
    with pytest.raises(ValueError, match="random_state") as info:
        LinearRegression(**{**params, "random_state": 4}).fit_stream(data, target="y", checkpoint=ck, resume=True)
    with pytest.raises(ValueError, match="LinearRegression") as info:
        LogisticRegression(**params).fit_stream(data, target="y", checkpoint=ck, resume=True)
    with pytest.raises(ValueError, match="other.parquet") as info:
        LinearRegression(**params).fit_stream(other, target="y", checkpoint=ck, resume=True)
    assert str(ck) in str(info.value) and str(data) in str(info.value)
    with pytest.raises(ValueError, match="shuffle buffer 24 rows"):  # another buffer: other batches
        LinearRegression(**params).fit_stream(data, target="y", checkpoint=ck, resume=True, buffer_rows=24)
    assert ck.read_bytes() == before  # a refused resume leaves the checkpoint alone

    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(ValueError, match="not a gradstep checkpoint") as info:
        LinearRegression(**params).fit_stream(data, target="y", checkpoint=corrupt, resume=True)
    assert str(corrupt) in str(info.value)
    foreign = tmp_path / "foreign.ckpt"
    foreign.write_bytes(pickle.dumps({"some": "dict"}))
    with pytest.raises(ValueError, match="not a gradstep checkpoint") as info:
        LinearRegression(**params).fit_stream(data, target="y", checkpoint=foreign, resume=True)
    assert str(foreign) in str(info.value)

    fresh = tmp_path / "fresh.ckpt"
    afresh = LinearRegression(**params).fit_stream(data, target="y", checkpoint=fresh, checkpoint_every=6,
                                                   resume=True)
    _assert_same_model(afresh, plain)
    assert fresh.exists()
    _no_temp_files(tmp_path)


def test_resume_of_a_finished_run_gives_its_result(tmp_path):
    """The last checkpoint falls on the last step: resuming it makes no more updates and gives the result."""
    data = tmp_path / "rows.parquet"
    _frame(64).to_parquet(data, row_group_size=16, index=False)
    ck = tmp_path / "run.ckpt"
    params = {"batch_size": 8, "shuffle": True, "random_state": 2, "tol": None, "epochs": 3, "lr": 0.02}  # 24 steps
    done = LinearRegression(**params).fit_stream(data, target="y", checkpoint=ck, checkpoint_every=8)
    assert checkpoints.load(ck)["snapshot"].step == done.history_.n_steps == 24
    again = LinearRegression(**params).fit_stream(data, target="y", checkpoint=ck, resume=True)
    _assert_same_model(again, done)


# ------------------------------------------------------------------------------ atomic files
class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


def test_save_is_atomic_when_pickling_fails(tmp_path):
    path = tmp_path / "run.ckpt"
    checkpoints.save(path, {"step": 1, "values": [1.0, 2.0]})
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        checkpoints.save(path, {"step": 2, "bad": _Unpicklable()})
    assert path.read_bytes() == before
    assert checkpoints.load(path) == {"step": 1, "values": [1.0, 2.0]}
    _no_temp_files(tmp_path)
    # with no earlier file there is still none, and no temporary file
    new = tmp_path / "new.ckpt"
    with pytest.raises(RuntimeError):
        checkpoints.save(new, _Unpicklable())
    assert not new.exists()
    _no_temp_files(tmp_path)


def test_save_load_round_trip_and_errors(tmp_path):
    path = tmp_path / "sub" / "run.ckpt"  # the folder is made
    content = {"a": np.arange(3.0), "b": ("x", 2)}
    checkpoints.save(path, content)
    back = checkpoints.load(path)
    np.testing.assert_array_equal(back["a"], content["a"])
    assert back["b"] == content["b"]
    checkpoints.save(path, {"c": 3})
    assert checkpoints.load(path) == {"c": 3}
    _no_temp_files(path.parent)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoints.load(tmp_path / "missing.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="not a gradstep checkpoint") as info:
        checkpoints.load(truncated)
    assert str(truncated) in str(info.value)
