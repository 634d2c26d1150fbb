"""Constraints by projection (``gradstep.optim.projections``, ``minimize(bounds=..., projection=...)``).

* every iterate in the history is feasible to 1e-12 (box, simplex, ball), whatever the optimiser;
* on separable quadratics ``0.5 a Σ (x_i - c_i)²`` the limit is the Euclidean projection of ``c``,
  computed here independently (simplex: the sort-based rule written out with Python lists; ball:
  ``c r / |c|``; box: a clip);
* plain gradient descent at ``lr`` is projected gradient descent, ``x ← P(x - lr ∇f)`` (a hand loop);
* the tutorials' probability vector pushed to a target stays a probability vector at every step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from gradstep import minimize
from gradstep.optim.projections import box, l2_ball, projected, simplex

FEAS = 1e-12


def simplex_by_sorting(z) -> list[float]:
    """The projection onto {x >= 0, sum x = 1}: sort decreasingly, keep the largest k whose mean excess stays below
    each kept entry, shift by that mean excess and clip at 0 (plain Python, no NumPy)."""
    u = sorted((float(v) for v in z), reverse=True)
    total, tau = 0.0, 0.0
    for k, v in enumerate(u, start=1):
        total += v
        if v - (total - 1) / k > 0:
            tau = (total - 1) / k
    return [max(float(v) - tau, 0.0) for v in z]


def quadratic(a: float, c: np.ndarray):
    return (lambda x: float(0.5 * a * np.sum((x - c) ** 2))), (lambda x: a * (x - c))


def in_simplex(path: np.ndarray) -> None:
    assert np.all(path >= -FEAS)
    assert_allclose(path.sum(axis=1), 1.0, rtol=0, atol=FEAS)


# --------------------------------------------------------------------------- the projections themselves
def test_simplex_is_the_sort_based_projection():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 30):
        for scale in (0.1, 1.0, 10.0):
            z = rng.standard_normal(n) * scale
            assert_allclose(simplex(z), simplex_by_sorting(z), rtol=0, atol=1e-15)
    assert_allclose(simplex(np.array([0.2, 0.3, 0.5])), [0.2, 0.3, 0.5], atol=1e-16)   # a point of the set stays


def test_simplex_on_a_torch_tensor_keeps_its_type():
    z = torch.tensor([0.5, 1.5, -1.0, 0.25], dtype=torch.float64)
    out = simplex(z)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert_allclose(out.numpy(), simplex_by_sorting(z.tolist()), atol=1e-15)


def test_ball_and_box():
    assert_allclose(l2_ball(2.0)(np.array([3.0, 4.0])), [1.2, 1.6], rtol=1e-15)
    assert_allclose(l2_ball(10.0)(np.array([3.0, 4.0])), [3.0, 4.0])
    assert_allclose(box([(0, 1), (None, 2), (-1, None)])(np.array([-3.0, 5.0, -7.0])), [0.0, 2.0, -1.0])
    with pytest.raises(ValueError, match="lo <= hi"):
        box([(1, 0)])
    with pytest.raises(ValueError, match="one \\(lo, hi\\) per variable"):
        box([(0, 1)])(np.zeros(2))


def test_projected_update_lands_on_the_projection_of_the_step():
    rng = np.random.default_rng(1)
    t = projected(simplex)
    for _ in range(20):
        theta, u = simplex(rng.standard_normal(6)), rng.standard_normal(6)
        step, _ = t.update(u, t.init(theta), theta)
        assert_allclose(theta + step, simplex_by_sorting(theta + u), rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- minimize with constraints
CASES = {   # c: the unconstrained optimum; the projection and its independent value
    "simplex": (np.array([0.9, 0.6, -0.3, 0.2]), {"projection": "simplex"}, simplex_by_sorting),
    "ball": (np.array([2.0, -1.0, 2.0]), {"projection": ("l2_ball", 1.5)},
             lambda c: c * 1.5 / math.sqrt(sum(v * v for v in c))),
    "box": (np.array([2.0, -3.0, 0.5]), {"bounds": [(0, 1), (-1, None), (None, 0.25)]},
            lambda c: np.clip(c, [0, -1, -np.inf], [1, np.inf, 0.25])),
}


def feasible(case: str, path: np.ndarray) -> None:
    if case == "simplex":
        in_simplex(path)
    elif case == "ball":
        assert np.all(np.linalg.norm(path, axis=1) <= 1.5 + FEAS)
    else:
        assert np.all(path[:, 0] >= -FEAS) and np.all(path[:, 0] <= 1 + FEAS)
        assert np.all(path[:, 1] >= -1 - FEAS) and np.all(path[:, 2] <= 0.25 + FEAS)


@pytest.mark.parametrize("a", [0.5, 3.0])
@pytest.mark.parametrize("optimizer, lr", [("gd", 0.2), ("momentum", 0.05), ("adam", 0.05)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_iterate_is_feasible_and_the_limit_is_the_projection_of_the_optimum(case, optimizer, lr, a):
    c, constraint, reference = CASES[case]
    fun, grad = quadratic(a, c)
    x0 = np.full(c.shape[0], 5.0)   # infeasible for every set: the start is projected first
    res = minimize(fun, x0, grad=grad, optimizer=optimizer, lr=lr, gtol=1e-10, steps=20_000, **constraint)
    assert res.success, res.message
    feasible(case, res.history.path)
    assert_allclose(res.x, reference(c), rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gd_is_projected_gradient_descent(case):
    c, constraint, _ = CASES[case]
    fun, grad = quadratic(1.0, c)
    P = {"simplex": lambda z: np.array(simplex_by_sorting(z)),
         "ball": lambda z: z * min(1.0, 1.5 / np.linalg.norm(z)),
         "box": lambda z: np.clip(z, [0, -1, -np.inf], [1, np.inf, 0.25])}[case]
    x0 = np.array([0.5, -2.0, 1.0, 0.0][:c.shape[0]])
    res = minimize(fun, x0, grad=grad, lr=0.3, steps=50, gtol=None, **constraint)
    x, path = P(x0), []
    for _ in range(51):
        path.append(x)
        x = P(x - 0.3 * grad(x))
    assert_allclose(res.history.path, path, rtol=1e-12, atol=1e-15)


def test_the_tutorials_probability_vector_stays_a_probability_vector():
    """The tutorial's MSE between a probability vector and a target, by autograd: with projection="simplex"
    every step is a probability vector, also when the target is not one (its limit is then the target's
    projection)."""
    p0 = np.array([0.7, 0.1, 0.1, 0.1])
    for target in ([0.1, 0.2, 0.3, 0.4], [0.6, -0.2, 0.5, 0.4]):
        t = torch.tensor(target, dtype=torch.float64)
        res = minimize(lambda q, t=t: ((q - t) ** 2).mean(), p0, grad="autograd", lr=0.5, projection="simplex",
                       gtol=1e-10)
        assert res.success
        in_simplex(res.history.path)
        assert_allclose(res.x, simplex_by_sorting(target), atol=1e-9)


def test_a_callable_projection_and_a_torch_start():
    x0 = torch.tensor([3.0, 3.0], dtype=torch.float64)
    res = minimize("(x - 2)**2 + (y + 1)**2", x0, lr=0.1, projection=lambda z: z.clamp(min=0.0))
    assert isinstance(res.x, torch.Tensor) and res.success
    assert_allclose(res.x.numpy(), [2.0, 0.0], atol=1e-5)
    assert np.all(res.history.path >= 0)


def test_bounds_and_projection_are_one_or_the_other():
    with pytest.raises(ValueError, match="bounds or projection"):
        minimize("x**2", [1.0], bounds=[(0, 1)], projection="simplex")
    with pytest.raises(ValueError, match="projection must be"):
        minimize("x**2", [1.0], projection="cube")


def test_the_history_says_which_constraint():
    res = minimize("(x - 2)**2 + y**2", [0, 0], lr=0.1, bounds=[(0, 1), (None, None)])
    assert res.history.meta["bounds"] == [(0, 1), (None, None)]
    assert_allclose(res.x, [1.0, 0.0], atol=1e-6)
