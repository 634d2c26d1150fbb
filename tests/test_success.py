"""``Result.success`` means what it means in SciPy: True only when a convergence rule was met.

One test per way a run can end, for both :func:`gradstep.loop.run` and :func:`gradstep.minimize`:
converged by ``gtol``, by ``rgtol`` (full batch; the loop's rule: ``minimize`` has none), by the
loss rule ``tol`` / ``n_iter_no_change``; the budget spent with rules on, and with every rule off;
the callback's ``StopIteration``; divergence; an interrupt. Every expected value comes from an
independent reference: plain gradient descent written out here with the analytic gradient, the
rules written out from their definitions, the least-squares solution, and
``scipy.optimize.minimize(method="BFGS")`` (its ``success`` in the analogous situation).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize as scipy_minimize

from gradstep import interrupt
from gradstep.data.batching import Batches
from gradstep.loop import CONVERGED, DIVERGED, INTERRUPTED, MAX_ITER, STOPPED, StopRule, run
from gradstep.minimize import minimize
from gradstep.objectives import FunctionObjective, SquaredError
from gradstep.optim import sgd

FORMULA = "(x - 1)**2 + 3*(y + 2)**2"
X0 = np.array([0.0, 0.0])
LR = 0.1
KINDS = ["loop", "minimize"]


def f(v: np.ndarray) -> float:
    return float((v[0] - 1) ** 2 + 3 * (v[1] + 2) ** 2)


def grad(v: np.ndarray) -> np.ndarray:
    return np.array([2 * (v[0] - 1), 6 * (v[1] + 2)])


def hand_gd(steps: int, lr: float = LR) -> np.ndarray:
    """x_0 .. x_steps of x_{k+1} = x_k - lr ∇f(x_k), written out."""
    xs = [X0.copy()]
    for _ in range(steps):
        xs.append(xs[-1] - lr * grad(xs[-1]))
    return np.array(xs)


def first(mask) -> int:
    """The first index where ``mask`` holds (the test fails if it never does)."""
    hits = np.flatnonzero(mask)
    assert hits.size, "the reference never meets the rule: the test's settings are wrong"
    return int(hits[0])


def descend(kind: str, steps: int, *, gtol: float | None = None, tol: float | None = None,
            n_iter_no_change: int = 5, lr: float = LR, callback=None):
    """The same gradient descent on ``FORMULA`` through ``loop.run`` or ``minimize`` (every rule named)."""
    if kind == "loop":
        stop = StopRule(max_steps=steps, gtol=gtol, tol=tol, n_iter_no_change=n_iter_no_change)
        return run(FunctionObjective(f, grad=grad), X0.copy(), sgd(lr=lr), None, stop, callback=callback)
    return minimize(FORMULA, list(X0), lr=lr, steps=steps, gtol=gtol, tol=tol, n_iter_no_change=n_iter_no_change,
                    callback=callback)


def scipy_bfgs(**options):
    return scipy_minimize(f, X0, jac=grad, method="BFGS", options=options)


# ----------------------------------------------------------------------------- converged: success


@pytest.mark.parametrize("kind", KINDS)
def test_gtol_met_is_success_at_the_point_scipy_reaches(kind):
    gtol = 1e-5
    res = descend(kind, 1000, gtol=gtol)
    xs = hand_gd(1000)
    k = first([np.linalg.norm(grad(x)) <= gtol for x in xs])
    assert res.status == CONVERGED and res.nit == k
    np.testing.assert_allclose(res.x, xs[k], rtol=1e-12)
    assert np.linalg.norm(grad(res.x)) <= gtol                       # the analytic gradient at res.x
    h = 1e-6                                                          # and central differences
    fd = [(f(res.x + h * e) - f(res.x - h * e)) / (2 * h) for e in np.eye(2)]
    assert np.linalg.norm(fd) <= gtol * 1.01
    ref = scipy_bfgs(gtol=gtol)
    assert res.success is True and res.success == ref.success
    # both within gtol / (2 λ_min) = gtol / 2 of the minimiser: within gtol of each other
    np.testing.assert_allclose(res.x, ref.x, atol=gtol)


def test_minimize_default_converges_on_the_readme_example():
    """The README's example: minimize's defaults (gtol=1e-5, its step budget) reach the minimum (1, 1)."""
    res = minimize(lambda v: float((v - 1) @ (v - 1)), x0=[0.0, 0.0], grad="numeric")
    ref = scipy_minimize(lambda v: float((v - 1) @ (v - 1)), [0.0, 0.0], jac=lambda v: 2 * (v - 1), method="BFGS")
    assert res.success is True and res.success == ref.success and res.status == CONVERGED
    assert np.linalg.norm(2 * (res.x - 1)) <= 1e-5                    # the analytic gradient at res.x
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-5)


def _least_squares_problem():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 2))
    y = X @ [1.5, -0.5] + 0.1 * rng.standard_normal(60)
    return X, y


@pytest.mark.parametrize("data", [False, True], ids=["function", "full-batch data"])
def test_rgtol_met_is_success(data):
    """``rgtol`` (the estimators' ``gtol``): converged once ‖∇f‖ ≤ rgtol ‖∇f(θ_0)‖, full batch."""
    rgtol = 1e-6
    if data:
        X, y = _least_squares_problem()
        g = lambda t: 2 / len(y) * X.T @ (X @ t - y)                 # ∇ of the mean squared error
        objective, batches, lr = SquaredError(2, 1, "mse", False), Batches(X, y[:, None], None), 0.1
        best = np.linalg.lstsq(X, y, rcond=None)[0]
        lam = np.linalg.eigvalsh(2 / len(y) * X.T @ X)[0]             # the Hessian's smallest eigenvalue
    else:
        g, objective, batches, lr = grad, FunctionObjective(f, grad=grad), None, LR
        best, lam = np.array([1.0, -2.0]), 2.0
    res = run(objective, np.zeros(2), sgd(lr=lr), batches, StopRule(max_steps=10_000, rgtol=rgtol))
    ts = [np.zeros(2)]
    while np.linalg.norm(g(ts[-1])) > rgtol * np.linalg.norm(g(ts[0])):
        ts.append(ts[-1] - lr * g(ts[-1]))
    assert res.status == CONVERGED and res.success is True and res.nit == len(ts) - 1
    assert np.linalg.norm(g(res.x)) <= rgtol * np.linalg.norm(g(np.zeros(2)))
    # a strongly convex quadratic: ‖θ - θ*‖ ≤ ‖∇f(θ)‖ / λ_min
    assert np.linalg.norm(res.x - best) <= np.linalg.norm(g(res.x)) / lam * (1 + 1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_loss_rule_met_is_success(kind):
    """scikit-learn's rule, written out: stop once the loss has not gone below best - tol for n checks in a row
    (checked on f(x_k) before each update, every step being an epoch of a function)."""
    tol, n = 1e-6, 3
    res = descend(kind, 10_000, tol=tol, n_iter_no_change=n)
    xs = hand_gd(10_000)
    best, count, k = math.inf, 0, None
    for i, x in enumerate(xs):
        count = count + 1 if f(x) > best - tol else 0
        best = min(best, f(x))
        if count >= n:
            k = i
            break
    assert k is not None
    assert res.status == CONVERGED and res.success is True and res.nit == k
    np.testing.assert_allclose(res.x, xs[k], rtol=1e-12)
    # none of the last n checks went below the best before it by tol; the one before them did
    assert all(f(xs[i]) > min(f(x) for x in xs[:i]) - tol for i in range(k - n + 1, k + 1))
    assert f(xs[k - n]) <= min(f(x) for x in xs[: k - n]) - tol


# ----------------------------------------------------------------------------- the budget: no success


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rules", [{"gtol": 1e-5}, {"gtol": 1e-5, "tol": 1e-12}], ids=["gtol", "gtol+tol"])
def test_budget_spent_with_rules_on_is_no_success(kind, rules):
    steps = 20
    res = descend(kind, steps, **rules)
    xs = hand_gd(steps)
    norms = [np.linalg.norm(grad(x)) for x in xs[:-1]]
    assert min(norms) > rules["gtol"]                                # the rule was never met on the way
    assert res.status == MAX_ITER and res.nit == steps
    np.testing.assert_allclose(res.x, xs[-1], rtol=1e-12)
    ref = scipy_bfgs(gtol=rules["gtol"], maxiter=1)                 # SciPy's iterations spent first
    assert ref.status == 1 and res.success is False and res.success == ref.success
    # the message: the budget, each rule on and how far it was (the last step's gradient norm), what to change
    assert f"limit of {steps} steps" in res.message
    assert f"gtol={rules['gtol']:g} not met (gradient norm {norms[-1]:.3g} at the last step)" in res.message
    assert ("tol=1e-12 not met" in res.message) == ("tol" in rules)
    assert "allow more steps" in res.message and "raise the learning rate" in res.message


@pytest.mark.parametrize("kind", KINDS)
def test_budget_spent_with_every_rule_off_is_no_success(kind):
    steps = 20
    res = descend(kind, steps)                                       # gtol=None, tol=None: nothing to meet
    np.testing.assert_allclose(res.x, hand_gd(steps)[-1], rtol=1e-12)
    ref = scipy_bfgs(gtol=0.0, maxiter=1)                            # a rule that cannot hold, iterations spent
    assert ref.status == 1 and res.success is False and res.success == ref.success
    assert res.status == MAX_ITER and res.nit == steps
    assert res.message.startswith(f"completed the {steps} steps asked for") and "no convergence rule on" in res.message


# ----------------------------------------------------------------------------- stopped early: no success


@pytest.mark.parametrize("kind", KINDS)
def test_callback_stop_iteration_is_no_success(kind):
    k = 3

    def stop_at_k(info):
        if info.step == k:
            raise StopIteration

    res = descend(kind, 100, gtol=1e-5, callback=stop_at_k)
    calls = []

    def scipy_stop(intermediate_result):
        calls.append(intermediate_result)
        if len(calls) == k:
            raise StopIteration

    ref = scipy_minimize(f, X0, jac=grad, method="BFGS", callback=scipy_stop)
    assert "StopIteration" in ref.message and res.success is False and res.success == ref.success
    assert res.status == STOPPED and res.nit == k and "StopIteration" in res.message
    np.testing.assert_allclose(res.x, hand_gd(k)[-1], rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_divergence_is_no_success(kind):
    lr = 0.5                                  # above 2 / L = 2 / 6: y - (-2) is multiplied by 1 - 6 lr = -2 a step
    res = descend(kind, 100, gtol=1e-5, lr=lr)
    xs = hand_gd(100, lr)
    f0 = f(xs[0])
    k = first([f(x) > f0 + 1e6 * max(abs(f0), 1.0) for x in xs])   # the loop's divergence rule, written out
    assert res.status == DIVERGED and res.success is False and res.nit == k
    assert "diverged" in res.message


@pytest.mark.parametrize("kind", KINDS)
def test_interrupt_is_no_success(kind):
    k = 4

    def ctrl_c_at_k(info):                   # what a Ctrl-C during update k does
        if info.step == k:
            interrupt.request()

    with interrupt.graceful():
        res = descend(kind, 100, gtol=1e-5, callback=ctrl_c_at_k)
    assert res.status == INTERRUPTED and res.success is False and res.nit == k
    np.testing.assert_allclose(res.x, hand_gd(k)[-1], rtol=1e-12)
