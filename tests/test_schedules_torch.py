"""Parity of the schedules with ``torch.optim.lr_scheduler`` (issue 19, item 2).

Each schedule, with torch's defaults and with other settings, gives the learning rate torch's scheduler
reports by ``get_last_lr()`` before any ``step()`` and after each of 120 (a dummy ``torch.optim.SGD`` with
momentum, stepped before its scheduler as torch asks): ``schedule(t)`` against the rate after ``t`` steps,
relative 1e-12. Where torch's rate is exactly 0 (a polynomial decay's end) ours must be 0 too; no other
rate here is near 0 (the smallest are ``one_cycle``'s ``max_lr / div_factor / final_div_factor``, which
are compared relatively like the rest). ``reduce_on_plateau`` is checked against torch's
``ReduceLROnPlateau`` fed the same metrics: the rate after each metric equal, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as L

from gradstep import minimize
from gradstep.optim import chain, sgd
from gradstep.optim import schedules as S
from gradstep.optim.plateau import reduce_on_plateau

UPDATES = 120
RTOL = 1e-12
LR = 0.1


def torch_rates(make: Callable[[torch.optim.Optimizer], object], lr: float = LR) -> list[float]:
    """torch's learning rate before the first ``step()`` and after each of :data:`UPDATES`."""
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    sched = make(opt)
    rates = [float(sched.get_last_lr()[0])]
    for _ in range(UPDATES):
        opt.step()
        sched.step()
        rates.append(float(sched.get_last_lr()[0]))
    return rates


def rel_diff(ours: list[float], theirs: list[float]) -> float:
    """The largest relative difference; a 0 of torch's must be a 0 of ours (then the difference is |ours|)."""
    return max(abs(a - b) / abs(b) if b != 0 else abs(a) * math.inf if a else 0.0 for a, b in zip(ours, theirs))


def _sqrt_decay(t: int) -> float:
    return 1 / math.sqrt(1 + t)


# name: (ours, torch's), each a default and a non-default setting
CASES: dict[str, tuple[Callable[[], Callable[[int], float]], Callable[[torch.optim.Optimizer], object]]] = {
    "constant-default": (lambda: S.constant(LR, factor=1 / 3), lambda o: L.ConstantLR(o)),
    "constant-other": (lambda: S.constant(LR, factor=0.5, total_iters=50),
                       lambda o: L.ConstantLR(o, factor=0.5, total_iters=50)),
    "multistep-default": (lambda: S.multistep(LR, [30, 80]), lambda o: L.MultiStepLR(o, [30, 80])),
    "multistep-other": (lambda: S.multistep(LR, [0, 10, 10, 57, 200], gamma=0.7),
                        lambda o: L.MultiStepLR(o, [0, 10, 10, 57, 200], gamma=0.7)),
    "linear-default": (lambda: S.linear(LR), lambda o: L.LinearLR(o)),
    "linear-other": (lambda: S.linear(LR, start_factor=0.9, end_factor=0.05, total_iters=97),
                     lambda o: L.LinearLR(o, start_factor=0.9, end_factor=0.05, total_iters=97)),
    "polynomial-default": (lambda: S.polynomial(LR), lambda o: L.PolynomialLR(o)),
    "polynomial-other": (lambda: S.polynomial(LR, total_iters=100, power=2.5),
                         lambda o: L.PolynomialLR(o, total_iters=100, power=2.5)),
    "cosine_warm_restarts-default": (lambda: S.cosine_warm_restarts(LR, T_0=10),
                                     lambda o: L.CosineAnnealingWarmRestarts(o, T_0=10)),
    "cosine_warm_restarts-other": (lambda: S.cosine_warm_restarts(LR, T_0=7, T_mult=2, eta_min=1e-3),
                                   lambda o: L.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=2, eta_min=1e-3)),
    "one_cycle-default": (lambda: S.one_cycle(1.0, total_steps=UPDATES),
                          lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=UPDATES)),
    "one_cycle-linear": (lambda: S.one_cycle(0.5, epochs=12, steps_per_epoch=10, pct_start=0.25,
                                             anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
                         lambda o: L.OneCycleLR(o, max_lr=0.5, epochs=12, steps_per_epoch=10, pct_start=0.25,
                                                anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0)),
    "one_cycle-three_phase": (lambda: S.one_cycle(2.0, total_steps=150, pct_start=0.35, three_phase=True),
                              lambda o: L.OneCycleLR(o, max_lr=2.0, total_steps=150, pct_start=0.35,
                                                     three_phase=True)),
    "cyclic-default": (lambda: S.cyclic(0.01, 0.1), lambda o: L.CyclicLR(o, 0.01, 0.1)),
    "cyclic-triangular2": (lambda: S.cyclic(0.01, 0.1, step_size_up=10, step_size_down=15, mode="triangular2"),
                           lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=10, step_size_down=15,
                                                mode="triangular2")),
    "cyclic-exp_range": (lambda: S.cyclic(0.01, 0.1, step_size_up=7, mode="exp_range", gamma=0.98),
                         lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=7, mode="exp_range", gamma=0.98)),
    "cyclic-scale_fn": (lambda: S.cyclic(0.01, 0.1, step_size_up=9, scale_fn=_sqrt_decay, scale_mode="iterations"),
                        lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=9, scale_fn=_sqrt_decay,
                                             scale_mode="iterations")),
    "sequential-default": (lambda: S.sequential([S.linear(LR), S.exponential(LR, gamma=0.97)], milestones=[5]),
                           lambda o: L.SequentialLR(o, [L.LinearLR(o), L.ExponentialLR(o, gamma=0.97)], [5])),
    "sequential-other": (lambda: S.sequential([S.constant(LR, factor=0.2, total_iters=3),
                                               S.cosine_warm_restarts(LR, T_0=11, T_mult=2),
                                               S.multistep(LR, [5, 9], gamma=0.5),
                                               S.polynomial(LR, total_iters=20, power=0.5)],
                                              milestones=[10, 50, 90]),
                         lambda o: L.SequentialLR(o, [L.ConstantLR(o, factor=0.2, total_iters=3),
                                                      L.CosineAnnealingWarmRestarts(o, T_0=11, T_mult=2),
                                                      L.MultiStepLR(o, [5, 9], gamma=0.5),
                                                      L.PolynomialLR(o, total_iters=20, power=0.5)],
                                                  [10, 50, 90])),
    "chained-default": (lambda: S.chained([S.constant(LR, factor=0.1, total_iters=2), S.exponential(LR, gamma=0.9)]),
                        lambda o: L.ChainedScheduler([L.ConstantLR(o, factor=0.1, total_iters=2),
                                                      L.ExponentialLR(o, gamma=0.9)])),
    "chained-other": (lambda: S.chained([S.linear(LR, start_factor=0.5, total_iters=40),
                                         S.multistep(LR, [20, 70], gamma=0.3), S.step(LR, 25, gamma=0.8),
                                         S.polynomial(LR, total_iters=110, power=1.5)]),
                      lambda o: L.ChainedScheduler([L.LinearLR(o, start_factor=0.5, total_iters=40),
                                                    L.MultiStepLR(o, [20, 70], gamma=0.3),
                                                    L.StepLR(o, 25, gamma=0.8),
                                                    L.PolynomialLR(o, total_iters=110, power=1.5)])),
    "lambda-power": (lambda: S.lambda_(LR, lambda t: 0.97**t), lambda o: L.LambdaLR(o, lambda t: 0.97**t)),
    "lambda-warmup": (lambda: S.lambda_(LR, lambda t: min(1.0, (t + 1) / 10) / math.sqrt(max(t, 1))),
                      lambda o: L.LambdaLR(o, lambda t: min(1.0, (t + 1) / 10) / math.sqrt(max(t, 1)))),
    "multiplicative-constant": (lambda: S.multiplicative(LR, lambda t: 0.95),
                                lambda o: L.MultiplicativeLR(o, lambda t: 0.95)),
    "multiplicative-varying": (lambda: S.multiplicative(LR, lambda t: 1 - 0.003 * (t % 7)),
                               lambda o: L.MultiplicativeLR(o, lambda t: 1 - 0.003 * (t % 7))),
    # the schedules that were there before, measured the same way
    "step": (lambda: S.step(LR, step_size=13, gamma=0.7), lambda o: L.StepLR(o, 13, gamma=0.7)),
    "exponential": (lambda: S.exponential(LR, gamma=0.97), lambda o: L.ExponentialLR(o, gamma=0.97)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_rates_are_torch_s_over_120_updates(name: str) -> None:
    ours, theirs = CASES[name]
    s = ours()
    got = [s(t) for t in range(UPDATES + 1)]
    want = torch_rates(theirs)
    assert rel_diff(got, want) <= RTOL, (name, rel_diff(got, want))
    again = ours()                  # a fresh schedule asked out of order (its memory of the last count reset)
    assert rel_diff([again(t) for t in [*range(UPDATES, -1, -7), *range(UPDATES + 1)]],
                    [want[t] for t in [*range(UPDATES, -1, -7), *range(UPDATES + 1)]]) <= RTOL


def test_a_plain_number_is_still_a_constant() -> None:
    s = S.constant(0.3)
    assert s.plain and [s(t) for t in (0, 5, 10**6)] == [0.3, 0.3, 0.3]
    assert S.as_schedule(0.3) == s and not S.constant(0.3, factor=0.5).plain


def test_minimize_records_torch_s_rates_in_its_history() -> None:
    """One run through ``minimize``: the history's lr column is torch's sequence, update by update."""
    schedule = S.one_cycle(0.05, total_steps=UPDATES, three_phase=True)
    res = minimize("x**2 + 3*y**2", [1.0, -1.0], lr=schedule, steps=UPDATES, gtol=None)
    want = torch_rates(lambda o: L.OneCycleLR(o, max_lr=0.05, total_steps=UPDATES, three_phase=True))
    assert res.nit == UPDATES
    assert rel_diff(list(res.history.lr), want[:UPDATES]) <= RTOL
    x = np.array([1.0, -1.0])          # and the iterates are gradient steps with those rates
    for eta in want[:UPDATES]:
        x = x - eta * np.array([2 * x[0], 6 * x[1]])
    np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=1e-300)


def test_torch_s_names_reach_every_schedule() -> None:
    assert S.SCHEDULES["lambda"] is S.lambda_
    for name in ("multistep", "linear", "polynomial", "cosine_warm_restarts", "one_cycle", "cyclic",
                 "sequential", "chained", "multiplicative", "constant"):
        assert S.SCHEDULES[name] is getattr(S, name)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: S.one_cycle(1.0), "total_steps"),
    (lambda: S.sequential([S.constant(0.1)], milestones=[3]), "one milestone fewer"),
    (lambda: S.sequential([S.constant(0.1), S.constant(0.2)], milestones=[-1]), "whole number"),
    (lambda: S.chained([S.constant(0.1), S.exponential(0.2, 0.9)]), "same lr"),
    (lambda: S.linear(0.1, start_factor=0.0), r"start_factor must be in \(0, 1\]"),
    (lambda: S.constant(0.1, factor=1.5), "factor"),
    (lambda: S.cyclic(0.1, 1.0, mode="sawtooth"), "mode"),
    (lambda: S.multistep(0.1, [2.5]), "milestones"),
])
def test_bad_settings_say_what_to_give(make: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_one_cycle_past_its_total_steps_fails_as_torch_does() -> None:
    s = S.one_cycle(1.0, total_steps=10)
    s(10)
    with pytest.raises(ValueError, match="total_steps=10"):
        s(11)


# --------------------------------------------------------------------------- reduce_on_plateau
def recorded_losses(epochs: int = 150, per_epoch: int = 1, seed: int = 0) -> list[float]:
    """A loss sequence as training gives, ``per_epoch`` losses an epoch: decreasing in bursts of epochs,
    flat stretches, noise, a few spikes."""
    rng = np.random.default_rng(seed)
    level, out = 10.0, []
    for k in range(epochs):
        if k % 25 < 8:
            level *= 0.9
        spike = 3.0 if k % 37 == 36 else 0.0
        out += [float(level * (1 + 0.02 * rng.standard_normal()) + spike) for _ in range(per_epoch)]
    return out


PLATEAU = {
    "default": {},
    "quick-cooldown-min_lr": {"factor": 0.5, "patience": 2, "cooldown": 3, "min_lr": 0.004},
    "abs": {"threshold": 0.05, "threshold_mode": "abs", "patience": 1, "factor": 0.3},
    "eps-blocks-small-cuts": {"patience": 0, "factor": 0.9, "eps": 0.005},
    "max": {"mode": "max", "patience": 3, "factor": 0.2, "threshold": 0.01},
    "max-abs": {"mode": "max", "threshold_mode": "abs", "threshold": 0.1, "patience": 2, "cooldown": 1},
}


def torch_plateau(metrics: list[float], lr: float, **settings: object) -> list[float]:
    """torch's rate after each ``ReduceLROnPlateau.step(metric)``."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = L.ReduceLROnPlateau(opt, **settings)  # type: ignore[arg-type]
    out = []
    for m in metrics:
        sched.step(m)
        out.append(float(sched.get_last_lr()[0]))
    return out


@pytest.mark.parametrize("accumulation", [1, 4])
@pytest.mark.parametrize("name", list(PLATEAU))
def test_reduce_on_plateau_is_torch_s_on_a_recorded_loss_sequence(name: str, accumulation: int) -> None:
    settings = PLATEAU[name]
    losses = recorded_losses(150, accumulation, seed=accumulation)
    if settings.get("mode") == "max":
        losses = [-v for v in losses]
    groups = [losses[i:i + accumulation] for i in range(0, len(losses), accumulation)]
    want = torch_plateau([sum(g) / accumulation for g in groups], 0.1, **settings)
    assert len(set(want)) > 2, "the sequence must make torch cut the rate more than once"
    rule = reduce_on_plateau(0.1, accumulation=accumulation, **settings)  # type: ignore[arg-type]
    state = rule.init(np.zeros(2))
    grads = np.array([1.0, -2.0])
    rates, made = [], []
    for k, loss in enumerate(losses):
        u, state = rule.update(grads, state, np.zeros(2), value=loss)
        made.append(state.inner.lr)
        np.testing.assert_array_equal(u, grads * (made[-1] / 0.1))
        if (k + 1) % accumulation == 0:
            rates.append(state.lr)
    assert rates == want                                     # exactly, after each metric
    assert made == [0.1] * accumulation + [r for r in want[:-1] for _ in range(accumulation)]


def test_a_run_records_the_plateau_s_rates_and_torch_agrees_on_its_losses() -> None:
    """Through ``minimize``: the history's lr column is the rate each update took; torch fed the history's
    losses (one per update, ``accumulation=1``) gives the same rates."""
    settings = {"patience": 3, "factor": 0.5}
    opt = chain(sgd(0.1), reduce_on_plateau(0.1, **settings))  # type: ignore[arg-type]
    # with lr 0.1, y bounces between 1 and -1 and the loss levels off at 10: a plateau, then the cut
    res = minimize("x**2 + 10*y**2", [1.0, 1.0], optimizer=opt, steps=60, gtol=None)
    want = torch_plateau(list(res.history.loss), 0.1, **settings)
    assert res.nit == 60 and list(res.history.lr) == [0.1, *want[:-1]]
    assert set(want) == {0.1, 0.05} and res.fun < 1e-3


@pytest.mark.parametrize(("settings", "match"), [
    ({"factor": 1.0}, "factor must be < 1"),
    ({"mode": "biggest"}, "mode"),
    ({"threshold_mode": "pct"}, "threshold_mode"),
    ({"patience": -1}, "patience"),
    ({"accumulation": 0}, "accumulation"),
])
def test_reduce_on_plateau_checks_its_settings(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reduce_on_plateau(0.1, **settings)


def test_the_compiled_epochs_take_the_rates_the_schedule_gives() -> None:
    """The compiled loops fill a plain constant in without calling it; ConstantLR's form must be called."""
    from gradstep.kernels.loops import learning_rates

    assert learning_rates(S.constant(1.0, factor=0.5, total_iters=2), 0, 4).tolist() == [0.5, 0.5, 1.0, 1.0]
    s = S.polynomial(LR, total_iters=100, power=2.5)
    assert learning_rates(s, 7, 50).tolist() == [s(t) for t in range(7, 57)]


def test_an_estimator_s_updates_take_torch_s_rates() -> None:
    """A mini-batch fit (compiled epochs where Numba is there): its history's lr column is torch's CyclicLR."""
    from gradstep import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, 2.0, 3.0]) + 0.1 * rng.normal(size=200)
    model = LinearRegression(optimizer="sgd", lr=S.cyclic(0.001, 0.02, step_size_up=5, mode="triangular2"),
                             batch_size=20, epochs=3, shuffle=False, tol=None, gtol=None).fit(X, y)
    want = torch_rates(lambda o: L.CyclicLR(o, 0.001, 0.02, step_size_up=5, mode="triangular2"))
    assert len(model.history_.lr) == 30
    assert rel_diff(list(model.history_.lr), want[:30]) <= RTOL
