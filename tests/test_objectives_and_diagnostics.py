"""Objectives' gradients and the diagnostics, against finite differences, NumPy, scikit-learn and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import Ridge

from gradstep import check_grad, closed_form, condition_number, numeric_grad, stable_lr
from gradstep.diagnostics import largest_eigenvalue, stable_lr_at
from gradstep.expression import parse
from gradstep.objectives import FormulaObjective, FunctionObjective, Penalty, SquaredError

RNG = np.random.default_rng(42)
X = RNG.normal(size=(30, 3))
Y1 = RNG.normal(size=(30, 1))
Y2 = RNG.normal(size=(30, 2))

SQUARED = [
    (loss, k, fit_intercept, penalty)
    for loss in ("mse", "half_mse", "sum")
    for k in (1, 2)
    for fit_intercept in (True, False)
    for penalty in (None, Penalty("l2", 0.3), Penalty("l1", 0.2), Penalty("elasticnet", 0.25, 0.4))
]


def _squared(loss, k, fit_intercept, penalty):
    obj = SquaredError(3, k, loss, fit_intercept, penalty or Penalty())
    theta = np.random.default_rng(k).normal(size=obj.n_params) + 0.5  # away from 0 (L1 kink)
    return obj, theta, (X, Y1 if k == 1 else Y2)


@pytest.mark.parametrize("loss, k, fit_intercept, penalty", SQUARED)
def test_squared_error_gradient_passes_check_grad(loss, k, fit_intercept, penalty):
    obj, theta, batch = _squared(loss, k, fit_intercept, penalty)
    err = check_grad(lambda t: obj.value(t, batch), lambda t: obj.value_and_grad(t, batch)[1], theta)
    assert err.max() < 1e-6


@pytest.mark.parametrize("loss, k, fit_intercept, penalty", SQUARED)
def test_squared_error_value_and_gradient_match_torch_autograd(loss, k, fit_intercept, penalty):
    obj, theta, (Xb, Yb) = _squared(loss, k, fit_intercept, penalty)
    value, grad = obj.value_and_grad(theta, (Xb, Yb))
    t = torch.tensor(theta, requires_grad=True)
    W = t[: 3 * k].reshape(3, k)
    pred = torch.from_numpy(Xb) @ W + (t[3 * k :] if fit_intercept else 0.0)
    sq = ((pred - torch.from_numpy(Yb)) ** 2).sum()
    data = {"mse": sq / (30 * k), "half_mse": sq / (60 * k), "sum": sq}[loss]
    pen = penalty or Penalty()
    total = data + pen.l2 / 2 * (W**2).sum() + pen.l1 * W.abs().sum()
    total.backward()
    assert value == pytest.approx(total.item(), rel=1e-13)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_mse_matches_torch_mse_loss():
    obj = SquaredError(3, 1, "mse", True)
    theta = np.array([0.1, -0.2, 0.3, 0.4])
    pred = X @ theta[:3] + theta[3]
    ref = torch.nn.functional.mse_loss(torch.from_numpy(pred), torch.from_numpy(Y1[:, 0])).item()
    assert obj.value(theta, (X, Y1)) == pytest.approx(ref, rel=1e-14)


FORMULAS = [
    ("x**2 + y**2", [3.0, 2.0]),
    ("(1 - x)**2 + 100*(y - x**2)**2", [-1.2, 1.0]),
    ("(2 - x**2*sin(x))**2", [1.3]),
    ("exp(x)*cos(y) + log(1 + x**2) + sqrt(y**2 + 1)", [0.4, -0.7]),
    ("sigmoid(x*y) + tanh(x) - abs(y)", [0.3, -1.1]),
]


@pytest.mark.parametrize("text, x", FORMULAS)
def test_formula_and_callable_objectives_pass_check_grad(text, x):
    formula = parse(text)
    exact = FormulaObjective(formula)
    assert check_grad(formula, lambda v: exact.value_and_grad(v)[1], x).max() < 1e-6
    numeric = FunctionObjective(formula, "numeric")
    np.testing.assert_allclose(numeric.value_and_grad(np.array(x))[1], exact.value_and_grad(np.array(x))[1],
                               rtol=1e-7, atol=1e-9)
    given = FunctionObjective(formula, formula.grad)
    np.testing.assert_array_equal(given.value_and_grad(np.array(x))[1], exact.value_and_grad(np.array(x))[1])


def test_numeric_grad_is_central_differences():
    f = lambda v: float(np.sin(v[0]) * v[1] ** 3)  # noqa: E731
    x = np.array([0.7, 1.3])
    h = 1e-6
    by_hand = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(2)]
    np.testing.assert_array_equal(numeric_grad(f, x, h), by_hand)
    np.testing.assert_allclose(numeric_grad(f, x), [np.cos(0.7) * 1.3**3, 3 * np.sin(0.7) * 1.3**2], rtol=1e-8)


def test_check_grad_flags_a_wrong_gradient():
    err = check_grad(lambda v: float(v @ v), lambda v: np.array([2 * v[0], 3 * v[1]]), [1.0, 1.0])
    assert err[0] < 1e-8 and err[1] == pytest.approx(1 / 3, rel=1e-6)


@pytest.mark.parametrize("loss, c", [("mse", 2.0), ("half_mse", 1.0), ("sum", 2.0)])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_stable_lr_is_two_over_the_largest_hessian_eigenvalue(loss, c, fit_intercept):
    Xt = np.hstack([X, np.ones((30, 1))]) if fit_intercept else X
    scale = c if loss == "sum" else c / 30
    H = scale * Xt.T @ Xt + 0.1 * np.diag([1.0] * 3 + [0.0] * fit_intercept)
    assert stable_lr(X, loss, fit_intercept, l2=0.1) == pytest.approx(2 / np.linalg.eigvalsh(H).max(), rel=1e-9)


def test_per_sample_stable_lr_is_the_worst_row():
    Xt = np.hstack([X, np.ones((30, 1))])
    expected = 2 / (2 * np.max(np.sum(Xt**2, axis=1)))
    assert stable_lr(X, "mse", True, per_sample=True) == pytest.approx(expected, rel=1e-14)


def test_the_stable_lr_really_is_the_edge_of_stability():
    from gradstep import DivergenceError, LinearRegression

    y = X @ np.array([1.0, 2.0, 3.0])
    s = stable_lr(X, "mse", True)
    LinearRegression(lr=0.98 * s, epochs=3000, tol=None).fit(X, y)  # converges
    with pytest.raises(DivergenceError):
        LinearRegression(lr=1.02 * s, epochs=3000, tol=None).fit(X, y)


def test_largest_eigenvalue_by_power_iteration():
    A = RNG.normal(size=(8, 8))
    A = A @ A.T
    assert largest_eigenvalue(lambda v: A @ v, 8) == pytest.approx(np.linalg.eigvalsh(A).max(), rel=1e-9)


def test_stable_lr_at_a_point_of_a_function():
    f = parse("(1 - x)**2 + 100*(y - x**2)**2")
    x = np.array([-1.2, 1.0])
    # Hessian of Rosenbrock by hand
    H = np.array([[2 - 400 * (x[1] - 3 * x[0] ** 2), -400 * x[0]], [-400 * x[0], 200.0]])
    assert stable_lr_at(f.value_and_grad, x) == pytest.approx(2 / np.linalg.eigvalsh(H).max(), rel=1e-5)
    assert stable_lr_at(parse("-(x**2)").value_and_grad, np.array([1.0])) is None


def test_condition_number_is_cond_squared():
    Xt = np.hstack([X, np.ones((30, 1))])
    assert condition_number(X) == pytest.approx(np.linalg.cond(Xt) ** 2, rel=1e-10)
    assert condition_number(X, fit_intercept=False) == pytest.approx(np.linalg.cond(X) ** 2, rel=1e-10)
    assert condition_number(np.hstack([X, X[:, :1]])) == float("inf")


def test_closed_form_matches_scikit_learn():
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + RNG.normal(0, 0.1, 30)
    coef, b = closed_form(X, y)
    ref = SkLinearRegression().fit(X, y)
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-12)
    assert b == pytest.approx(ref.intercept_, rel=1e-12)
    coef2, b2 = closed_form(X, Y2)
    ref2 = SkLinearRegression().fit(X, Y2)
    np.testing.assert_allclose(coef2, ref2.coef_, rtol=1e-10)
    np.testing.assert_allclose(b2, ref2.intercept_, rtol=1e-10)
    coef3, b3 = closed_form(X, y, fit_intercept=False)
    np.testing.assert_allclose(coef3, SkLinearRegression(fit_intercept=False).fit(X, y).coef_, rtol=1e-12)
    assert b3 == 0.0
    # ridge: (1/m)|r|^2 + (l2/2)|w|^2 <=> sklearn Ridge alpha = m*l2/2
    coef4, b4 = closed_form(X, y, loss="mse", l2=0.4)
    ref4 = Ridge(alpha=30 * 0.4 / 2).fit(X, y)
    np.testing.assert_allclose(coef4, ref4.coef_, rtol=1e-10)
    assert b4 == pytest.approx(ref4.intercept_, rel=1e-10)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_per_sample_stable_lr_with_penalty_is_the_worst_one_row_hessian(fit_intercept, l2):
    Xt = np.hstack([X, np.ones((30, 1))]) if fit_intercept else X
    D = np.diag([1.0] * 3 + [0.0] * fit_intercept)
    worst = max(np.linalg.eigvalsh(2 * np.outer(x, x) + l2 * D).max() for x in Xt)
    assert stable_lr(X, "mse", fit_intercept, l2=l2, per_sample=True) == pytest.approx(2 / worst, rel=1e-12)
