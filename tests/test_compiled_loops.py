"""Compiled per-sample and mini-batch epochs (gradstep.kernels.loops) against the plain loop.

The plain loop is the reference: every case fits the same model twice, with the compiled
epochs on and off, and compares the whole record (parameters, losses, gradient norms,
learning rates of every step; the epoch losses), the final optimiser state and the fitted
coefficients. float64 agrees to 1e-12 relative (in practice bit for bit for squared error),
float32 to 1e-5.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from gradstep import (
    DivergenceError,
    LinearRegression,
    LogisticRegression,
    SoftmaxRegression,
)
from gradstep.data.batching import Batches
from gradstep.history import History
from gradstep.kernels import loops
from gradstep.loop import StopRule, run
from gradstep.objectives import SquaredError
from gradstep.optim import make_optimizer, schedules, sgd

pytest.importorskip("numba", reason="Numba is not installed: only the plain loop runs")

OPTIMIZERS = {
    "sgd": ("sgd", {}),
    "gd": ("gd", {}),
    "sgd-damped": ("sgd", {"momentum": 0.8, "dampening": 0.3}),
    "momentum": ("momentum", {}),
    "nesterov": ("nesterov", {"weight_decay": 0.01}),
    "adagrad": ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-8}),
    "rmsprop": ("rmsprop", {}),
    "rmsprop-centered": ("rmsprop", {"momentum": 0.5, "centered": True, "alpha": 0.9}),
    "adam": ("adam", {}),
    "amsgrad": ("adam", {"amsgrad": True, "weight_decay": 0.01, "betas": (0.8, 0.99)}),
}
EXTRAS = {
    "plain": {},
    "l2": {"penalty": "l2", "alpha": 0.01},
    "l1": {"penalty": "l1", "alpha": 0.01},
    "elasticnet+clip_value": {"penalty": "elasticnet", "alpha": 0.02, "l1_ratio": 0.4, "clip_value": 0.5},
    "clip_norm": {"clip_norm": 0.7},
    "step-schedule": {"lr": lambda lr: schedules.step(2 * lr, step_size=7, gamma=0.7)},
    "cosine-schedule": {"lr": lambda lr: schedules.cosine(2 * lr, T_max=50, eta_min=lr / 10)},
    "weights": {"sample_weight": True},
    "no-intercept": {"fit_intercept": False},
    "average": {"average": True},
    "average-late": {"average": 40},
    "in-order": {"shuffle": False},
}
MODELS = ("mse", "half_mse", "sum", "logistic")


def _data(n: int = 70, d: int = 3, seed: int = 0, k: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.array([1.0, 2.0, 0.5])[:d]
    Y = X @ rng.normal(size=(d, k)) + 0.3 + 0.1 * rng.normal(size=(n, k))
    return X, (Y[:, 0] if k == 1 else Y)


def _model(kind: str, **kw):
    if kind == "logistic":
        return LogisticRegression(**kw)
    return LinearRegression(loss=kind, **kw)


def _fit(kind: str, compiled: bool, X, y, *, sample_weight=None, epochs: int = 2, **kw):
    base = 0.01 if kind != "sum" else 0.002
    kw = {"lr": base, "epochs": epochs, "tol": None, "random_state": 3, **kw}
    if isinstance(kw["lr"], type(lambda: 0)):  # a schedule scaled to the loss convention
        kw["lr"] = kw["lr"](base)
    saved = loops.ENABLED
    loops.ENABLED = compiled
    try:
        model = _model(kind, **kw)
        return model.fit(X, (y > y.mean()) if kind == "logistic" else y, sample_weight=sample_weight)
    finally:
        loops.ENABLED = saved


def _assert_states_equal(a, b, rtol: float) -> None:
    assert type(a) is type(b)
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_states_equal(x, y, rtol)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        _close(a, b, rtol)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b if isinstance(a, int) else a == pytest.approx(b, rel=rtol, abs=0)


def _close(actual, desired, rtol: float, what: str = "") -> None:
    """Equal to ``rtol``, relative to each value in float64 and to the array's scale in float32 (where the
    plain path's SIMD ``exp`` and ``log1p`` round differently from the C library's)."""
    desired = np.asarray(desired)
    atol = 0.0 if rtol <= 1e-12 or not desired.size else rtol * float(np.nanmax(np.abs(desired)))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=what)


def _assert_same_run(fast, plain, rtol: float = 1e-12) -> None:
    assert fast.history_.meta["compiled"] is True and plain.history_.meta["compiled"] is False
    hf, hp = fast.history_, plain.history_
    assert hf.n_steps == hp.n_steps and hf.n_epochs == hp.n_epochs
    np.testing.assert_array_equal(hf.column("epoch"), hp.column("epoch"))
    for name in ("loss", "grad_norm", "lr"):
        _close(hf.column(name), hp.column(name), rtol, name)
    if hp.params is not None:
        assert hf.params.dtype == hp.params.dtype
        _close(hf.params, hp.params, rtol, "params")
    else:
        assert hf.params is None
    _close(hf.epoch_loss, hp.epoch_loss, rtol, "epoch loss")
    _close(hf.final_params, hp.final_params, rtol, "final params")
    _close(fast.coef_, plain.coef_, rtol, "coef_")
    _assert_states_equal(fast._state, plain._state, rtol)


@pytest.mark.parametrize("batch_size", [1, 16, 64])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", MODELS)
def test_every_optimiser_and_batch_size_gives_the_plain_iterates(kind, optimizer, batch_size):
    X, y = _data()
    name, params = OPTIMIZERS[optimizer]
    # the extras rotate over the table, so each runs with several optimisers and models
    extra = dict(EXTRAS[sorted(EXTRAS)[(sorted(OPTIMIZERS).index(optimizer) + MODELS.index(kind)) % len(EXTRAS)]])
    w = np.random.default_rng(5).uniform(0.2, 3.0, len(y)) if extra.pop("sample_weight", False) else None
    kw = {"optimizer": name, "optimizer_params": params, "batch_size": batch_size, **extra}
    _assert_same_run(_fit(kind, True, X, y, sample_weight=w, **kw), _fit(kind, False, X, y, sample_weight=w, **kw))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("extra", sorted(EXTRAS))
@pytest.mark.parametrize("kind", MODELS)
def test_every_schedule_clip_penalty_and_weighting_gives_the_plain_iterates(kind, extra, optimizer):
    X, y = _data(n=40)
    kw = dict(EXTRAS[extra])
    w = np.random.default_rng(5).uniform(0.2, 3.0, len(y)) if kw.pop("sample_weight", False) else None
    for bs in (1, 16):
        kw.update(optimizer=optimizer, batch_size=bs)
        _assert_same_run(_fit(kind, True, X, y, sample_weight=w, **kw), _fit(kind, False, X, y, sample_weight=w, **kw))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop-centered", "adagrad", "amsgrad"])
@pytest.mark.parametrize("kind", MODELS)
def test_float32_gives_the_plain_iterates_to_float32_precision(kind, optimizer):
    X, y = _data()
    name, params = OPTIMIZERS[optimizer]
    w = np.random.default_rng(5).uniform(0.2, 3.0, len(y)).astype(np.float32)
    for bs in (1, 16):
        kw = {"optimizer": name, "optimizer_params": params, "batch_size": bs, "penalty": "elasticnet",
              "alpha": 0.01, "clip_norm": 2.0}
        fast = _fit(kind, True, X.astype(np.float32), y, sample_weight=w, **kw)
        plain = _fit(kind, False, X.astype(np.float32), y, sample_weight=w, **kw)
        assert fast.history_.params.dtype == np.float32 and fast._theta.dtype == np.float32
        _assert_same_run(fast, plain, rtol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_multi_output_regression_gives_the_plain_iterates(batch_size):
    X, Y = _data(k=3)
    w = np.random.default_rng(5).uniform(0.2, 3.0, len(Y))
    kw = {"optimizer": "adam", "batch_size": batch_size, "penalty": "l2", "clip_value": 1.0, "lr": 0.05}
    _assert_same_run(_fit("mse", True, X, Y, sample_weight=w, **kw), _fit("mse", False, X, Y, sample_weight=w, **kw))


def test_per_sample_lasso_runs_compiled_and_gives_the_exact_zeros_of_the_lasso():
    """The proximal steps (cumulative truncation) compiled: the plain iterates, and as many exact zeros
    as scikit-learn's coordinate descent finds (one fewer at most)."""
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Lasso
    from sklearn.preprocessing import StandardScaler

    X, y = make_regression(500, 40, n_informative=6, noise=1, random_state=0)
    X = StandardScaler().fit_transform(X)
    kw = {"loss": "half_mse", "penalty": "l1", "alpha": 1.0, "batch_size": 1, "random_state": 0}
    model = LinearRegression(**kw).fit(X, y)
    assert model.history_.meta["compiled"] is True and type(model._state).__name__ == "L1StepState"
    lasso = Lasso(alpha=1.0, tol=1e-14).fit(X, y)
    assert np.sum(model.coef_ == 0) >= np.sum(lasso.coef_ == 0) - 1
    runs = []
    for on in (True, False):
        loops.ENABLED = on
        try:
            with pytest.warns(ConvergenceWarning):
                runs.append(LinearRegression(**kw, epochs=2).fit(X, y))
        finally:
            loops.ENABLED = True
    _assert_same_run(*runs)


def test_without_recorded_params_the_rest_of_the_record_is_the_same():
    X, y = _data()
    fast = _fit("mse", True, X, y, batch_size=1, record_params=False, optimizer="momentum")
    plain = _fit("mse", False, X, y, batch_size=1, record_params=False, optimizer="momentum")
    assert fast.history_.params is None
    _assert_same_run(fast, plain)


def test_the_tolerance_rule_and_early_stopping_stop_at_the_same_epoch():
    X, y = _data()
    kw = {"batch_size": 8, "epochs": 60, "lr": 0.05, "tol": 1e-3, "n_iter_no_change": 3, "early_stopping": True,
          "validation_fraction": 0.2}
    for kind in ("mse", "logistic"):
        fast, plain = _fit(kind, True, X, y, **kw), _fit(kind, False, X, y, **kw)
        assert fast.n_iter_ == plain.n_iter_ < 60
        np.testing.assert_allclose(fast.history_.to_pandas("epochs").to_numpy(),
                                   plain.history_.to_pandas("epochs").to_numpy(), rtol=1e-12)
        _assert_same_run(fast, plain)


@pytest.mark.parametrize("settings", [{"optimizer": "adam"}, {"optimizer": "momentum", "penalty": "l1", "alpha": 0.05}])
@pytest.mark.parametrize("kind", ["mse", "logistic"])
def test_partial_fit_over_chunks_continues_either_path_exactly(kind, settings):
    X, y = _data(n=80)
    target = (y > y.mean()).astype(int) if kind == "logistic" else y
    chunks = [(X[:48], target[:48]), (X[48:], target[48:])]
    runs = {}
    for switches in ((True, True), (False, False), (True, False), (False, True)):
        model = _model(kind, batch_size=16, lr=0.05, random_state=1, average=True, **settings)
        for (Xc, yc), on in zip(chunks, switches):
            loops.ENABLED = on
            try:
                extra = {"classes": [0, 1]} if kind == "logistic" else {}
                model.partial_fit(Xc, yc, **extra)
            finally:
                loops.ENABLED = True
            assert model.history_.meta["compiled"] is on
        runs[switches] = model
    reference = runs[(False, False)]
    for model in runs.values():
        np.testing.assert_allclose(model.history_.params, reference.history_.params, rtol=1e-12, atol=0)
        np.testing.assert_allclose(model.history_.loss, reference.history_.loss, rtol=1e-12, atol=0)
        np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-12, atol=0)  # the averaged iterate
        _assert_states_equal(model._state, reference._state, 1e-12)


def test_warm_start_continues_exactly():
    X, y = _data()
    models = []
    for on in (True, False):
        loops.ENABLED = on
        try:
            model = LinearRegression(optimizer="rmsprop", optimizer_params={"momentum": 0.3}, batch_size=4, lr=0.01,
                                     epochs=2, tol=None, random_state=0, warm_start=True)
            model.fit(X, y).fit(X, y)
        finally:
            loops.ENABLED = True
        assert model.t_ == 4 * 18 and model.history_.meta["compiled"] is on
        models.append(model)
    _assert_same_run(*models)


@pytest.mark.parametrize("case", ["epoch-loss", "parameters", "gradient"])
def test_divergence_raises_the_same_error_on_both_paths(case):
    X, y = _data()
    lr, bs = {"epoch-loss": (0.5, 16), "parameters": (1e308, 1), "gradient": (0.01, 1)}[case]
    if case == "gradient":  # squares of the gradient overflow before any update (those of X do not)
        X, y = X * 1e150, y * 1e10
    if case == "parameters":  # the first update overflows
        y = y + 100.0
    errors = []
    for on in (True, False):
        with pytest.raises(DivergenceError) as info:
            _fit("mse", on, X, y, batch_size=bs, lr=lr, epochs=5)
        errors.append(info.value)
    fast, plain = errors
    assert str(fast) == str(plain)
    assert (fast.step, fast.lr) == (plain.step, plain.lr)
    assert fast.loss == plain.loss or (math.isnan(fast.loss) and math.isnan(plain.loss))
    expected = {"epoch-loss": "the loss grew to", "parameters": "the parameters became non-finite",
                "gradient": "the gradient became inf"}[case]
    assert expected in str(fast)
    np.testing.assert_array_equal(fast.history.loss, plain.history.loss)


def test_the_loop_hook_respects_max_steps_and_gtol():
    X, y = _data()
    obj = SquaredError(n_features=3)
    batches = Batches(X, y.reshape(-1, 1), batch_size=4, shuffle=True, seed=2)
    opt = make_optimizer("nesterov", lr=0.01)
    theta0 = np.zeros(obj.n_params)
    runner = loops.epoch_runner(obj, batches, "nesterov", 0.01, None, None, None, opt.init(theta0))
    assert runner is not None
    for stop in (StopRule(max_steps=23, max_epochs=4), StopRule(max_steps=36), StopRule(max_epochs=3, gtol=4.0)):
        fast = run(obj, theta0, opt, batches, stop, epoch_runner=runner)
        plain = run(obj, theta0, opt, batches, stop)
        assert (fast.nit, fast.nepoch, fast.status, fast.message) == (plain.nit, plain.nepoch, plain.status,
                                                                      plain.message)
        np.testing.assert_array_equal(fast.x, plain.x)
        np.testing.assert_array_equal(fast.history.params, plain.history.params)
        assert fast.history.n_epochs == plain.history.n_epochs


@pytest.mark.parametrize("case", ["transform", "callback", "softmax", "full-batch", "switch", "env", "torch"])
def test_what_it_cannot_run_falls_back_to_the_plain_loop(case, monkeypatch):
    X, y = _data()
    kw = {"batch_size": 8, "lr": 0.01, "epochs": 2, "tol": None, "random_state": 0}
    fit_kw = {}
    model = LinearRegression(**kw)
    if case == "transform":
        model = LinearRegression(**{**kw, "optimizer": sgd(lr=0.01)})
    elif case == "callback":
        fit_kw["callback"] = lambda info: None
    elif case == "softmax":
        model, y = SoftmaxRegression(**kw), np.digitize(y, np.quantile(y, [0.33, 0.66]))
    elif case == "full-batch":
        model = LinearRegression(**{**kw, "batch_size": None})
    elif case == "switch":
        monkeypatch.setattr(loops, "ENABLED", False)
    elif case == "env":
        monkeypatch.setenv("GRADSTEP_COMPILED", "0")
    elif case == "torch":
        torch = pytest.importorskip("torch")
        X, y = torch.from_numpy(X), torch.from_numpy(y)
    model.fit(X, y, **fit_kw)
    assert model.history_.meta["compiled"] is False
    assert model.history_.n_steps == (2 if case == "full-batch" else 2 * 9)


def test_history_records_a_block_of_steps_as_step_by_step():
    rows = [(0.5, 1.0, 0.1, [1.0, 2.0]), (0.25, 0.5, 0.1, [0.9, 1.8]), (0.125, 0.25, 0.05, [0.8, 1.7])]
    one, block = History(param_names=("w", "b")), History(param_names=("w", "b"))
    for loss, gnorm, lr, p in rows[:1]:
        one.record_step(0, loss, gnorm, lr, np.array(p))
        block.record_step(0, loss, gnorm, lr, np.array(p))
    for loss, gnorm, lr, p in rows[1:]:
        one.record_step(1, loss, gnorm, lr, np.array(p))
    block.record_steps(1, *(np.array(c) for c in zip(*rows[1:])))
    assert one.to_json() == block.to_json()
    assert one.to_pandas().equals(block.to_pandas())
    assert repr(one) == repr(block) and block.column("step").tolist() == [0, 1, 2]
    assert json.loads(History.from_json(block.to_json()).to_json()) == json.loads(one.to_json())


def test_a_second_process_loads_the_compiled_code_from_the_disk_cache():
    script = textwrap.dedent("""
        import numpy as np
        from gradstep import LinearRegression
        X = np.random.default_rng(0).normal(size=(30, 2)); y = X @ np.array([1.0, -2.0])
        model = LinearRegression(batch_size=1, lr=0.01, epochs=1, tol=None, random_state=0).fit(X, y)
        from gradstep.kernels import _loops_numba
        stats = _loops_numba._epoch.stats
        print(model.history_.meta["compiled"], sum(stats.cache_hits.values()), sum(stats.cache_misses.values()),
              stats.cache_path)
    """)
    env = {k: v for k, v in os.environ.items() if k != "GRADSTEP_COMPILED"}
    # the first process compiles, or finds the code this session's tests left in the cache
    first, second = (subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                    check=True, timeout=300).stdout.split() for _ in range(2))
    assert first[0] == "True" and int(first[1]) + int(first[2]) == 1
    assert second[:3] == ["True", "1", "0"]  # loaded from the disk cache: nothing compiled
    cache = Path(second[3])
    assert any(cache.glob("_loops_numba._epoch-*.nbi")) and any(cache.glob("_loops_numba._epoch-*.nbc"))
