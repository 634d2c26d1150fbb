"""Ctrl-C (SIGINT) and SIGTERM: a run stops at a step boundary, saves, and resumes to the same result.

The reference is always the uninterrupted run with the same settings, made separately: the
interrupted run, resumed from what it saved, must end with the same parameters and the same
history, step by step (exact equality: the same floating-point operations in the same order).
The command-line tests send real signals to real processes and run the command they print.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gradstep
from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression, interrupt
from gradstep.history import History
from gradstep.loop import INTERRUPTED

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"


def ctrl_c_at(k: int):
    """A callback that asks for a stop after update ``k`` (as a Ctrl-C during it would)."""
    seen = [0]

    def callback(info) -> None:
        seen[0] += 1
        if seen[0] == k:
            interrupt.request()
    return callback


def same_history(a: History, b: History) -> None:
    """Step by step and epoch by epoch, every column equal to the last bit (NaN where NaN)."""
    assert a.n_steps == b.n_steps and a.n_epochs == b.n_epochs
    for kind in ("steps", "epochs"):
        pd.testing.assert_frame_equal(a.to_pandas(kind), b.to_pandas(kind), check_exact=True)
    if a.record_params:
        assert np.array_equal(a.path, b.path)


def data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.2 * rng.normal(size=n)
    return X, y


# ============================================================== the signal handling itself

def test_first_signal_asks_for_a_stop_second_acts_as_usual():
    before = signal.getsignal(signal.SIGINT)
    with interrupt.graceful(notice=False):
        assert not interrupt.requested() and interrupt.active()
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert interrupt.requested() and interrupt.signal_name() == "SIGINT" and interrupt.exit_code() == 130
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) is before and not interrupt.requested() and not interrupt.active()


def test_sigterm_asks_for_a_stop_with_its_own_exit_code():
    before = signal.getsignal(signal.SIGTERM)
    with interrupt.graceful(notice=False):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert interrupt.requested() and interrupt.signal_name() == "SIGTERM" and interrupt.exit_code() == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_graceful_a_request_changes_nothing():
    reference = gradstep.minimize(ROSENBROCK, [-1.2, 1.0], optimizer="adam", lr=0.01, steps=300)
    interrupt.request()
    res = gradstep.minimize(ROSENBROCK, [-1.2, 1.0], optimizer="adam", lr=0.01, steps=300)
    assert res.status == reference.status == 1 and np.array_equal(res.x, reference.x)
    with interrupt.graceful():   # nor is a request made before the block carried into it
        assert not interrupt.requested()


# ============================================================== library: minimize

@pytest.mark.parametrize("k", [1, 137, 299])
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_minimize_interrupted_then_resumed_equals_the_uninterrupted_run(tmp_path, k, optimizer):
    kw = {"optimizer": optimizer, "lr": 1e-3, "steps": 300}
    reference = gradstep.minimize(ROSENBROCK, [-1.2, 1.0], **kw)
    ck = tmp_path / "m.ckpt"
    with interrupt.graceful():
        first = gradstep.minimize(ROSENBROCK, [-1.2, 1.0], **kw, callback=ctrl_c_at(k), checkpoint=ck,
                                  checkpoint_every=10**9)
    assert first.status == INTERRUPTED and not first.success and first.nit == k == first.snapshot.step
    assert first.message == f"interrupted by SIGINT after {k} steps of this run"
    assert np.array_equal(first.x, reference.history.path[k])      # stopped exactly after update k
    assert first.history.n_steps == k and ck.exists()
    again = gradstep.minimize(ROSENBROCK, [-1.2, 1.0], **kw, checkpoint=ck, resume=True)
    assert again.status == reference.status and np.array_equal(again.x, reference.x) and again.fun == reference.fun
    same_history(again.history, reference.history)


def test_minimize_resume_refuses_other_settings(tmp_path):
    ck = tmp_path / "m.ckpt"
    with interrupt.graceful():
        gradstep.minimize(ROSENBROCK, [-1.2, 1.0], lr=1e-3, steps=50, callback=ctrl_c_at(10), checkpoint=ck)
    with pytest.raises(ValueError, match=r"m.ckpt: the checkpoint was made with other settings \(lr=0.001 there, "
                                         r"0.002 here\)"):
        gradstep.minimize(ROSENBROCK, [-1.2, 1.0], lr=2e-3, steps=50, checkpoint=ck, resume=True)
    with pytest.raises(ValueError, match="resume=True needs checkpoint="):
        gradstep.minimize(ROSENBROCK, [-1.2, 1.0], resume=True)


# ============================================================== library: estimators in memory

@pytest.mark.parametrize("batch_size", [None, 16, 1])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_interrupted_then_resumed_equals_the_uninterrupted_fit(tmp_path, batch_size, optimizer):
    X, y = data()

    def model():
        return LinearRegression(batch_size=batch_size, optimizer=optimizer, lr=0.01, epochs=8, tol=None,
                                random_state=3)

    reference = model().fit(X, y)
    k = reference.t_ // 3 + 1
    ck = tmp_path / "f.ckpt"
    with warnings.catch_warnings(record=True) as caught, interrupt.graceful():
        warnings.simplefilter("always")
        first = model().fit(X, y, callback=ctrl_c_at(k), checkpoint=ck, checkpoint_every=10**9)
    assert not caught, [str(w.message) for w in caught]          # an interruption is not a convergence failure
    assert first.result_.status == INTERRUPTED and first.t_ == k == first.result_.snapshot.step
    again = model().fit(X, y, checkpoint=ck, resume=True)
    assert np.array_equal(again.coef_, reference.coef_) and again.intercept_ == reference.intercept_
    same_history(again.history_, reference.history_)


def test_compiled_epochs_stop_soon_and_resume_exactly(tmp_path, monkeypatch):
    """No callback: mini-batch epochs run compiled, in pieces (loop.INTERRUPT_PIECE, PIECE_WORK) inside
    graceful(); a stop asked from another thread is honoured between two pieces.

    The other thread asks once the first piece has run (the loop's second look at
    ``interrupt.requested``), and the loop waits for it there: no race with the clock."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 5))
    y = X @ np.arange(1.0, 6.0) + rng.normal(size=20_000)

    def model():
        return LinearRegression(batch_size=1, optimizer="momentum", lr=1e-3, epochs=10, tol=None, random_state=0)

    reference = model().fit(X, y)
    looked, asked = threading.Event(), threading.Event()
    looks = []
    requested = interrupt.requested

    def spy() -> bool:
        looks.append(1)
        if len(looks) == 2:
            looked.set()
            assert asked.wait(30), "the other thread never asked for the stop"
        return requested()

    def ask() -> None:
        looked.wait(30)
        interrupt.request()
        asked.set()

    monkeypatch.setattr(interrupt, "requested", spy)
    ck = tmp_path / "c.ckpt"
    other = threading.Thread(target=ask)
    with interrupt.graceful():
        other.start()
        first = model().fit(X, y, checkpoint=ck, checkpoint_every=10**9)
        other.join()
    assert first.result_.status == INTERRUPTED, "the stop came after the end: raise the epochs"
    assert 0 < first.t_ < reference.t_
    monkeypatch.setattr(interrupt, "requested", requested)
    again = model().fit(X, y, checkpoint=ck, resume=True)
    assert np.array_equal(again.coef_, reference.coef_) and again.intercept_ == reference.intercept_
    same_history(again.history_, reference.history_)


@pytest.mark.parametrize("cls", [LogisticRegression, SoftmaxRegression])
def test_classifiers_with_early_stopping_resume_exactly(tmp_path, cls):
    X, y = data(400)
    labels = (y > 0).astype(int) if cls is LogisticRegression else np.digitize(y, [-1.0, 1.0])

    def model():
        return cls(batch_size=32, lr=0.1, epochs=6, tol=None, early_stopping=True, random_state=1)

    def step_loop(info) -> None:   # a callback: the same (NumPy) step loop in all three runs
        return None

    reference = model().fit(X, labels, callback=step_loop)
    ck = tmp_path / "k.ckpt"
    with interrupt.graceful():
        first = model().fit(X, labels, callback=ctrl_c_at(40), checkpoint=ck)
    assert first.result_.status == INTERRUPTED
    again = model().fit(X, labels, checkpoint=ck, resume=True, callback=step_loop)
    assert np.array_equal(again.coef_, reference.coef_) and np.array_equal(again.intercept_, reference.intercept_)
    same_history(again.history_, reference.history_)
    assert np.array_equal(again.history_.to_pandas("epochs")["val_loss"],
                          reference.history_.to_pandas("epochs")["val_loss"])


def test_streamed_fit_interrupted_then_resumed(tmp_path):
    X, y = data(500)
    path = tmp_path / "rows.parquet"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}).to_parquet(path, row_group_size=64)

    def model():
        return LinearRegression(batch_size=20, lr=0.02, epochs=4, tol=None, random_state=2)

    reference = model().fit_stream(path, target="y")
    ck = tmp_path / "s.ckpt"
    with interrupt.graceful():
        first = model().fit_stream(path, target="y", callback=ctrl_c_at(33), checkpoint=ck, checkpoint_every=10**9)
    assert first.result_.status == INTERRUPTED and first.t_ == 33
    again = model().fit_stream(path, target="y", checkpoint=ck, resume=True)
    assert np.array_equal(again.coef_, reference.coef_) and again.intercept_ == reference.intercept_
    same_history(again.history_, reference.history_)


@pytest.mark.parametrize("change", ["data", "start"])
def test_fit_resume_refuses_other_data_or_start(tmp_path, change):
    X, y = data()
    ck = tmp_path / "f.ckpt"
    with interrupt.graceful():
        LinearRegression(batch_size=8, epochs=3, tol=None).fit(X, y, callback=ctrl_c_at(5), checkpoint=ck)
    X2, coef = (X + 1e-9, None) if change == "data" else (X, np.ones(3))
    with pytest.raises(ValueError, match=r"f.ckpt: the checkpoint was made on rows in memory .* not rows in memory"):
        LinearRegression(batch_size=8, epochs=3, tol=None).fit(X2, y, coef_init=coef, checkpoint=ck, resume=True)


# ============================================================== the commands, with real signals

def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gradstep", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "250"})


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the command ended before {path.name} appeared: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.02)


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def resume_line(err: str) -> list[str]:
    line = next(x for x in err.splitlines() if x.startswith("resume with: "))
    argv = shlex.split(line.removeprefix("resume with: "))
    assert argv[0] == "gradstep" and argv[-1] == "--resume"
    return argv[1:]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradstep", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "250"}, check=False)


def no_temporary_files(folder: Path) -> None:
    assert not [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize(("streamed", "sig"), [(False, signal.SIGINT), (True, signal.SIGTERM)])
def test_fit_command_stops_saves_and_resumes(tmp_path, streamed, sig):
    X, y = data(1000, seed=4)
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y})
    path = tmp_path / ("rows.parquet" if streamed else "rows.csv")
    frame.to_parquet(path, row_group_size=250) if streamed else frame.to_csv(path, index=False)
    common = ["fit", path.name, "--target", "y", "--batch-size", "1", "--epochs", "10", "--lr", "0.001", "--json",
              *(["--stream"] if streamed else [])]
    reference = run(*common, "--history", "full.json", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    proc = start(*common, "--history", "h.json", "--checkpoint", "run.ckpt", "--checkpoint-every", "500", cwd=tmp_path)
    wait_for(tmp_path / "run.ckpt", proc)
    code, _, err = stop(proc, sig)
    assert code == 128 + int(sig), err
    name = signal.Signals(sig).name
    assert f"{name}: fit stopped after" in err and "checkpoint: run.ckpt" in err and "history so far: h.json" in err
    steps = int(err.split("stopped after ")[1].split()[0])
    partial = History.from_json((tmp_path / "h.json").read_text())
    full = History.from_json((tmp_path / "full.json").read_text())
    assert 0 < partial.n_steps == steps < full.n_steps
    assert np.array_equal(partial.loss, full.loss[:steps])             # the history so far is the run's start
    no_temporary_files(tmp_path)
    again = run(*resume_line(err), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    a, b = json.loads(reference.stdout), json.loads(again.stdout)
    assert a["coef"] == b["coef"] and a["intercept"] == b["intercept"] and a["steps"] == b["steps"]
    same_history(History.from_json((tmp_path / "h.json").read_text()), full)


def test_minimize_command_without_checkpoint_saves_to_the_default_and_resumes(tmp_path):
    # gtol off: all 60,000 steps (the default gtol=1e-5 would end the run at about step 16,000, before the signal)
    args = ["minimize", ROSENBROCK, "--x0", "-1.2,1", "--optimizer", "adam", "--lr", "0.0005", "--steps", "60000",
            "--gtol", "none", "--json"]
    reference = gradstep.minimize(ROSENBROCK, [-1.2, 1.0], optimizer="adam", lr=0.0005, steps=60000, gtol=None)
    proc = start(*args, "--history", "h.json", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while cpu_seconds(proc.pid) < 1.8:   # past the imports (under 1 s of CPU), before the end (about 4 s)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the command ended or stalled: {proc.stderr.read()}")
        time.sleep(0.05)
    code, _, err = stop(proc, signal.SIGINT)
    assert code == 130, err
    assert "checkpoint: gradstep-minimize.ckpt" in err and (tmp_path / "gradstep-minimize.ckpt").exists()
    again = run(*resume_line(err), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["x"] == reference.x.tolist() and out["fun"] == reference.fun and out["nit"] == reference.nit
    same_history(History.from_json((tmp_path / "h.json").read_text()), reference.history)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_sweep_command_keeps_finished_runs_and_resumes(tmp_path):
    args = ["sweep", "--formula", ROSENBROCK, "--x0", "-1.2,1", "--lr", "0.001,0.0005", "--optimizer", "gd,adam",
            "--steps", "6000", "--json"]
    reference = run(*args, cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    proc = start(*args, "--checkpoint", "sweep.ckpt", cwd=tmp_path)
    wait_for(tmp_path / "sweep.ckpt", proc)      # written after the first run finished
    code, _, err = stop(proc, signal.SIGTERM)
    assert code == 143, err
    assert "SIGTERM: sweep (run " in err and "runs finished before it) stopped after" in err
    no_temporary_files(tmp_path)
    again = run(*resume_line(err), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(reference.stdout)


def test_demo_command_stops_writes_no_report_and_resumes(tmp_path):
    from gradstep.cli.demo import BOWL, BOWL_LRS, BOWL_STEPS, BOWL_X0, LINE_RUNS
    from gradstep.data.datasets import tutorial_line

    proc = start("demo", "--out", "out", "--json", "--checkpoint", "demo.ckpt", cwd=tmp_path)
    wait_for(tmp_path / "out" / "histories" / "line-all.json", proc)
    code, _, err = stop(proc, signal.SIGINT)
    assert code == 130, err
    assert not (tmp_path / "out" / "report.html").exists()            # no report from a stopped demo
    no_temporary_files(tmp_path)
    again = run(*resume_line(err), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "out" / "report.html").exists()
    ds = tutorial_line()
    for _, bs, lr, epochs in LINE_RUNS:
        ref = LinearRegression(batch_size=bs, lr=lr, epochs=epochs, tol=None, random_state=0).fit(ds.X, ds.y)
        same_history(History.from_json((tmp_path / "out" / "histories" / f"line-{bs or 'all'}.json").read_text()),
                     ref.history_)
    for lr in BOWL_LRS:
        ref = gradstep.minimize(BOWL, list(BOWL_X0), lr=lr, steps=BOWL_STEPS)
        same_history(History.from_json((tmp_path / "out" / "histories" / f"bowl-lr{lr:g}.json").read_text()),
                     ref.history)
    assert len(json.loads(again.stdout)["line"]) == len(LINE_RUNS)
    assert "1/4 " not in again.stderr and "writing report.html" not in again.stderr   # no progress with --json
