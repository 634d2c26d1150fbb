"""minimize(): formula strings and callables, SciPy result conventions, stopping and divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradstep import minimize
from gradstep.expression import FormulaError
from gradstep.optim import chain, clip_by_value, sgd


def test_bowl_path_is_0_8_to_the_k_at_every_step():
    res = minimize("x**2 + y**2", x0=[3, 2], lr=0.1, steps=50)
    k = np.arange(51)[:, None]
    expected = np.array([3.0, 2.0]) * 0.8**k  # x_{k+1} = x_k - 0.1 * 2 x_k
    np.testing.assert_allclose(res.history.path, expected, rtol=1e-12)
    assert not res.success and res.status == 1 and res.nit == 50   # the budget ran out: SciPy's maxiter
    np.testing.assert_allclose(res.x, expected[-1], rtol=1e-12)
    assert res.fun == pytest.approx(float(expected[-1] @ expected[-1]), rel=1e-12)
    np.testing.assert_allclose(res.jac, 2 * expected[-1], rtol=1e-12)
    np.testing.assert_allclose(res.history.loss, (expected[:-1] ** 2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(res.history.grad_norm, 2 * np.linalg.norm(expected[:-1], axis=1), rtol=1e-12)
    assert res.history.lr.tolist() == [0.1] * 50
    assert res.variables == ("x", "y")


def test_bowl_with_lr_1_1_diverges_with_a_message():
    res = minimize("x**2 + y**2", x0=[3, 2], lr=1.1, steps=50)
    assert not res.success and res.status == 2
    assert "diverged" in res.message and "step" in res.message and "1.1" in res.message
    # the Hessian is 2I, so the largest stable lr is 2 / 2 = 1
    assert "about 1 " in res.message or "about 1(" in res.message or "about 1 (" in res.message
    # it stopped early: x_k = 3 * (-1.2)^k, the loss passed 1e6 x the start before step 50
    assert res.nit < 50
    assert np.all(np.isfinite(res.history.path))


@pytest.mark.parametrize("lr", [0.4, 0.01])
def test_tutorial_learning_rate_comparison(lr):
    # the tutorial's fixed 50 steps: gtol off (minimize's default gtol=1e-5 would stop lr=0.4 early)
    res = minimize("x**2 + y**2", x0=[3, 2], lr=lr, steps=50, gtol=None)
    factor = 1 - 2 * lr
    np.testing.assert_allclose(res.x, np.array([3.0, 2.0]) * factor**50, rtol=1e-10, atol=1e-300)
    assert res.nit == 50 and res.status == 1 and not res.success   # no rule on: none met
    # with the default gtol, the run stops at the first k with ‖∇f(x_k)‖ = 2‖(3, 2)‖ |factor|^k <= 1e-5
    res = minimize("x**2 + y**2", x0=[3, 2], lr=lr, steps=50)
    k = int(np.ceil(np.log(1e-5 / (2 * np.hypot(3, 2))) / np.log(abs(factor))))
    assert (res.nit, res.success) == ((k, True) if k <= 50 else (50, False))
    np.testing.assert_allclose(res.x, np.array([3.0, 2.0]) * factor**res.nit, rtol=1e-10)


def test_one_variable_curve_against_torch_autograd():
    lr, steps = 0.01, 40
    res = minimize("(2 - x**2*sin(x))**2", x0=[1.0], lr=lr, steps=steps)
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([x], lr=lr)
    path = [x.detach().clone().numpy()]
    for _ in range(steps):
        opt.zero_grad()
        loss = (2 - x**2 * torch.sin(x)) ** 2
        loss.sum().backward()
        opt.step()
        path.append(x.detach().clone().numpy())
    np.testing.assert_allclose(res.history.path, np.array(path), rtol=1e-12)


def test_rosenbrock_with_adam_against_torch():
    res = minimize("(1 - x)**2 + 100*(y - x**2)**2", x0=[-1.2, 1.0], optimizer="adam", lr=0.01, steps=100)
    p = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        ((1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2).backward()
        opt.step()
    np.testing.assert_allclose(res.x, p.detach().numpy(), rtol=1e-12)


def test_callable_with_given_numeric_and_symbolic_gradients_agree():
    def f(v):
        return float((v[0] - 1) ** 2 + 3 * (v[1] + 2) ** 2)

    def g(v):
        return np.array([2 * (v[0] - 1), 6 * (v[1] + 2)])

    given = minimize(f, [0.0, 0.0], grad=g, lr=0.05, steps=30)
    numeric = minimize(f, [0.0, 0.0], lr=0.05, steps=30)
    symbolic = minimize("(a - 1)**2 + 3*(b + 2)**2", [0.0, 0.0], lr=0.05, steps=30)
    np.testing.assert_allclose(symbolic.history.path, given.history.path, rtol=1e-14)
    np.testing.assert_allclose(numeric.history.path, given.history.path, rtol=1e-7, atol=1e-9)


def test_variables_order_is_alphabetical_unless_named():
    auto = minimize("w**2 + 10*b**2", [1.0, 2.0], lr=0.01, steps=1)
    assert auto.variables == ("b", "w")
    np.testing.assert_allclose(auto.x, [1.0 - 0.01 * 20.0, 2.0 - 0.01 * 4.0])  # b=1, w=2
    named = minimize("w**2 + 10*b**2", [1.0, 2.0], lr=0.01, steps=1, variables=["w", "b"])
    assert named.variables == ("w", "b")
    np.testing.assert_allclose(named.x, [1.0 - 0.01 * 2.0, 2.0 - 0.01 * 40.0])  # w=1, b=2


def test_gtol_and_tol_stop_with_success():
    res = minimize("x**2 + y**2", x0=[3, 2], lr=0.1, steps=1000, gtol=1e-6)
    assert res.success and res.status == 0 and res.nit < 1000
    assert np.linalg.norm(res.jac) <= 1e-6
    # the first step at which 2*|x_k| <= 1e-6, with |x_k| = |x_0| 0.8^k
    k = int(np.ceil(np.log(1e-6 / (2 * np.hypot(3, 2))) / np.log(0.8)))
    assert res.nit == k
    res = minimize("x**2 + y**2", x0=[3, 2], lr=0.1, steps=1000, tol=1e-9, n_iter_no_change=3)
    assert res.success and res.status == 0 and res.nit < 1000


def test_tolerance_not_met_is_not_success():
    res = minimize("x**2", x0=[3.0], lr=1e-4, steps=5, gtol=1e-12)
    assert not res.success and res.status == 1
    assert "limit of 5 steps" in res.message and "gtol=1e-12 not met" in res.message


def test_callback_can_stop_the_run():
    seen = []

    def cb(info):
        seen.append(info.step)
        if info.step == 3:
            raise StopIteration

    res = minimize("x**2", x0=[3.0], lr=0.1, steps=100, callback=cb)
    assert res.nit == 3 and res.status == 3 and seen == [1, 2, 3]
    assert not res.success and "StopIteration" in res.message   # SciPy: "`callback` raised `StopIteration`"


def test_transform_chain_and_schedule_are_accepted():
    from gradstep.optim.schedules import step

    res = minimize("x**2", [10.0], optimizer=chain(clip_by_value(1.0), sgd(lr=step(0.5, step_size=2, gamma=0.5))),
                   steps=4)
    # gradient 20, 19, ... clipped to 1; lr 0.5, 0.5, 0.25, 0.25
    np.testing.assert_allclose(res.history.path.ravel(), [10.0, 9.5, 9.0, 8.75, 8.5])
    np.testing.assert_allclose(res.history.lr, [0.5, 0.5, 0.25, 0.25])


def test_float32_start_stays_float32():
    res = minimize("x**2 + y**2", x0=np.array([3, 2], dtype=np.float32), lr=0.1, steps=10)
    assert res.x.dtype == np.float32
    np.testing.assert_allclose(res.x, np.array([3.0, 2.0]) * 0.8**10, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(fun="x**2 + y**2", x0=[1.0]), "2 variables"),
        (dict(fun="x**2", x0=[[1.0]]), "flat"),
        (dict(fun="x**2", x0=["a"]), "x0"),
        (dict(fun="x**2", x0=[np.nan]), "finite"),
        (dict(fun="x**2", x0=[1.0], steps=-1), "steps"),
        (dict(fun="x**2", x0=[1.0], optimizer="newton"), "unknown optimizer"),
        (dict(fun="x**2", x0=[1.0], optimizer_params={"betas": (0.9, 0.99)}), "no parameter"),
        (dict(fun="x**2", x0=[1.0], lr=-0.1), "lr"),
        (dict(fun="x**2", x0=[1.0], grad="exact"), "grad"),
        (dict(fun=lambda v: float(v @ v), x0=[1.0], grad="symbolic"), "formula"),
        (dict(fun=lambda v: v, x0=[1.0, 2.0]), "single number"),
        (dict(fun=lambda v: float(v @ v), x0=[1.0, 2.0], grad=lambda v: v[:1]), "shape"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    fun = kwargs.pop("fun")
    x0 = kwargs.pop("x0")
    with pytest.raises((ValueError, TypeError), match=match):
        minimize(fun, x0, **kwargs)


def test_a_refused_formula_raises_formula_error():
    with pytest.raises(FormulaError):
        minimize("__import__('os').system('true')", [1.0])
