"""Step sizes without a learning rate (``gradstep.optim.linesearch``), each against a hand-written loop here:

* Armijo backtracking (``minimize(..., line_search="armijo")``) on ``0.5 (x² + 1000 y²)`` from (1, 1)
  reaches f < 1e-12 with no lr and ``success=True``, through the iterates of the textbook loop;
* Barzilai–Borwein (``optimizer="bb"``, BB1 and BB2) reaches f < 1e-12 in at most 300 steps there;
* Polyak's step (``lr="polyak"``) with a known minimum value;
* the history's ``lr`` column is the step each rule took.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gradstep import minimize
from gradstep.data.batching import Batches
from gradstep.loop import StopRule, run
from gradstep.objectives import SquaredError
from gradstep.optim import REGISTRY, make_optimizer
from gradstep.optim.linesearch import armijo, bb, line_search, polyak_step

A = np.array([1.0, 1000.0])
X0 = np.array([1.0, 1.0])


def f(p: np.ndarray) -> float:
    return float(0.5 * (A[0] * p[0] ** 2 + A[1] * p[1] ** 2))


def grad(p: np.ndarray) -> np.ndarray:
    return A * p


def hand_armijo(x0, steps, c=1e-4, shrink=0.5, initial=1.0, grow=None):
    """The textbook loop: t from `initial` (or grow × the last t), halved until f(x - t g) <= f(x) - c t |g|²."""
    x, path, ts, t_last = x0.copy(), [x0.copy()], [], None
    for _ in range(steps):
        g = grad(x)
        t = initial if (grow is None or t_last is None) else grow * t_last
        while f(x - t * g) > f(x) - c * t * (g @ g):
            t *= shrink
        x = x - t * g
        path.append(x)
        ts.append(t)
        t_last = t
    return np.array(path), np.array(ts)


def hand_bb(x0, steps, lr, variant="bb1"):
    x, path, x_prev, g_prev = x0.copy(), [x0.copy()], None, None
    for _ in range(steps):
        g = grad(x)
        t = lr
        if x_prev is not None:
            s, y = x - x_prev, g - g_prev
            if s @ y > 0:
                t = (s @ s) / (s @ y) if variant == "bb1" else (s @ y) / (y @ y)
        x_prev, g_prev = x, g
        x = x - t * g
        path.append(x)
    return np.array(path)


# --------------------------------------------------------------------------- Armijo
def test_armijo_reaches_the_minimum_with_no_lr_through_the_hand_loops_iterates():
    res = minimize(f, X0, grad=grad, line_search="armijo", gtol=1e-7)
    assert res.success and res.status == 0
    assert res.fun < 1e-12
    path, ts = hand_armijo(X0, res.nit)
    assert_allclose(res.history.path, path, rtol=1e-12, atol=1e-300)
    assert_allclose(res.history.lr, ts, rtol=0, atol=0)       # the lr column is the step taken
    assert np.all(np.diff(res.history.loss) <= 0)             # sufficient decrease: f never grows


def test_armijo_settings_and_a_growing_first_trial():
    settings = {"c": 0.3, "shrink": 0.7, "initial": 0.01, "grow": 2.0}
    res = minimize(f, X0, grad=grad, line_search=settings, steps=200, gtol=None)
    path, ts = hand_armijo(X0, 200, **settings)
    assert_allclose(res.history.path, path, rtol=1e-12, atol=1e-300)
    assert_allclose(res.history.lr, ts, rtol=1e-15)


def test_armijo_on_a_formula_doctest_example():
    res = minimize("0.5*x**2 + 500*y**2", x0=[1, 1], line_search="armijo", gtol=1e-8)
    assert res.success and res.fun < 1e-12


def test_armijo_along_momentums_direction_descends_and_converges():
    res = minimize(f, X0, grad=grad, optimizer="momentum", line_search="armijo", gtol=1e-7)
    assert res.success and res.fun < 1e-12
    assert np.all(np.diff(res.history.loss) <= 0)


def test_a_direction_that_climbs_is_replaced_by_the_gradient():
    ls = armijo(direction=True)
    x = np.array([3.0, 4.0])
    f2 = lambda p: float(p @ p)  # noqa: E731
    u, state = ls.update(-2 * x, ls.init(x), x, value=f2(x), value_fn=f2, value_and_grad_fn=lambda p: (f2(p), 2 * p))
    assert_allclose(x + u, [0.0, 0.0])   # searched along g = 2x instead: t = 1 gives -x, t = 0.5 hits 0
    assert state.lr == 0.5


def test_armijo_on_full_batch_regression_data_through_the_loop():
    """The loop's objective on the batch: least squares, where a hand loop with the same objective agrees."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3
    obj = SquaredError(n_features=3, loss="mse")
    rows = (X, y[:, None])
    res = run(obj, np.zeros(4), armijo(), Batches(X, y[:, None]), StopRule(max_steps=60))
    theta = np.zeros(4)
    for k in range(60):
        v, g = obj.value_and_grad(theta, rows)
        t = 1.0
        while obj.value(theta - t * g, rows) > v - 1e-4 * t * (g @ g):
            t *= 0.5
        assert res.history.lr[k] == t
        theta = theta - t * g
    assert_allclose(res.x, theta, rtol=1e-12)
    assert res.history.loss[-1] < 1e-10


@pytest.mark.parametrize("bad", [{"c": 0.0}, {"c": 1.0}, {"shrink": 1.0}, {"initial": -1.0}, {"grow": 0.5},
                                 {"max_backtracks": -1}])
def test_armijo_refuses_bad_settings(bad):
    with pytest.raises(ValueError):
        armijo(**bad)


def test_line_search_is_armijo_or_its_settings():
    with pytest.raises(ValueError, match="armijo"):
        line_search("wolfe")
    with pytest.raises(ValueError, match="clip_value"):
        minimize(f, X0, grad=grad, line_search="armijo", clip_norm=1.0)


# --------------------------------------------------------------------------- Barzilai–Borwein
@pytest.mark.parametrize("variant", ["bb1", "bb2"])
@pytest.mark.parametrize("lr", [1e-3, 0.01])
def test_bb_reaches_the_minimum_in_at_most_300_steps_through_the_hand_loops_iterates(variant, lr):
    res = minimize(f, X0, grad=grad, optimizer="bb", lr=lr, optimizer_params={"variant": variant}, gtol=1e-9)
    assert res.success and res.fun < 1e-12 and res.nit <= 300
    path = hand_bb(X0, res.nit, lr, variant)
    assert_allclose(res.history.path, path, rtol=1e-12, atol=1e-14)


def test_bb_on_an_ill_conditioned_bowl_beats_its_learning_rate():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    H = q @ np.diag(np.logspace(0, 3, 5)) @ q.T
    res = minimize(lambda x: float(0.5 * x @ H @ x), np.ones(5), grad=lambda x: H @ x, optimizer="bb", lr=1e-3,
                   gtol=1e-10, steps=300)
    assert res.success and res.fun < 1e-20
    # the lr column: BB1's 1 / Rayleigh quotient of H along s, always within the spectrum's inverse
    lrs = res.history.lr[1:]
    assert np.all((lrs >= 1e-3 * (1 - 1e-12)) & (lrs <= 1 + 1e-12))


def test_bb_is_a_registered_name_without_a_torch_counterpart():
    assert REGISTRY["bb"].torch is None and REGISTRY["bb"].factory is bb
    with pytest.raises(ValueError, match="variant"):
        bb(variant="bb3")


# --------------------------------------------------------------------------- Polyak
def test_polyak_with_f_star_zero_matches_the_hand_loop():
    """Polyak's path here is chaotic in its small y component (its sign flips every step and a 1-ulp change
    of |g|² grows to O(1) relative in y within 100 steps): the hand loop sums |g|² as the library does,
    and also, written with ``g @ g``, agrees over the first 10 steps."""
    res = minimize(f, X0, grad=grad, lr="polyak", gtol=1e-7)
    assert res.success and res.fun < 1e-12
    for norm2, steps in ((lambda g: np.sum(g * g), res.nit), (lambda g: g @ g, 10)):
        x, path, ts = X0.copy(), [X0], []
        for _ in range(steps):
            g = grad(x)
            ts.append(f(x) / norm2(g))
            x = x - ts[-1] * g
            path.append(x)
        assert_allclose(res.history.path[:steps + 1], path, rtol=1e-12, atol=1e-300)
        assert_allclose(res.history.lr[:steps], ts, rtol=1e-12)


def test_polyak_with_a_known_minimum_value_and_a_cap():
    fun = lambda p: float((p[0] - 1) ** 2 + 4 * (p[1] + 2) ** 2 + 3)  # noqa: E731
    g = lambda p: np.array([2 * (p[0] - 1), 8 * (p[1] + 2)])  # noqa: E731
    res = minimize(fun, [0.0, 0.0], grad=g, lr="polyak", optimizer_params={"f_star": 3.0, "max_lr": 0.2}, gtol=1e-6)
    assert res.success   # f - f* cancels below |g| ~ 1e-8 (f* = 3 has an ulp of 4e-16): gtol 1e-6
    assert_allclose(res.x, [1.0, -2.0], atol=1e-6)
    x = np.zeros(2)
    for k in range(res.nit):
        gx = g(x)
        t = min((fun(x) - 3.0) / (gx @ gx), 0.2)
        assert res.history.lr[k] == pytest.approx(t, rel=1e-12)
        x = x - t * gx
    assert_allclose(res.x, x, rtol=1e-12)


def test_polyak_step_is_zero_at_or_below_f_star():
    opt, x = polyak_step(f_star=1.0), np.array([1.0])
    u, state = opt.update(np.array([2.0]), opt.init(x), x, value=0.5, value_fn=None, value_and_grad_fn=None)
    assert u[0] == 0 and state.lr == 0


def test_lr_polyak_is_for_plain_gradient_descent():
    with pytest.raises(ValueError, match="optimizer='gd'"):
        make_optimizer("adam", "polyak")
    with pytest.raises(ValueError, match="f_star"):
        make_optimizer("gd", "polyak", {"momentum": 0.9})
    with pytest.raises(ValueError, match="polyak"):
        make_optimizer("gd", "armijo")
