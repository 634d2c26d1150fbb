"""Proximal L1 steps, FISTA and the defaults that reach the optimum (issue 16).

References: hand-written ISTA, FISTA and Tsuruoka loops; scikit-learn's exact solvers
(``LogisticRegression`` lbfgs at tol 1e-12, ``Lasso`` / ``ElasticNet`` at tol 1e-14); the objectives
written out in NumPy here, not gradstep's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.preprocessing import StandardScaler

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression
from gradstep.objectives import Penalty, SquaredError
from gradstep.optim import accelerate, l1_step, make_optimizer, sgd
from gradstep.optim.proximal import smooth_gradient


# ------------------------------------------------------------------------------ data and objectives
def _standard(X):
    return StandardScaler().fit_transform(X)


def _sparse():
    X, y = make_regression(n_samples=500, n_features=40, n_informative=6, noise=1.0, random_state=0)
    return _standard(X), y


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return _standard(X), y


def lasso_objective(X, y, w, b, alpha, rho=1.0):
    r = y - X @ w - b
    return r @ r / (2 * len(y)) + alpha * (rho * np.abs(w).sum() + 0.5 * (1 - rho) * (w @ w))


def logistic_objective(X, y, w, b, alpha):
    z = X @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * alpha * (w @ w)


def softmax_objective(X, y, W, b, alpha):
    """``W`` of shape (k, d), as scikit-learn's ``coef_``."""
    Z = X @ W.T + b
    lse = np.logaddexp.reduce(Z, axis=1)
    return np.mean(lse - Z[np.arange(len(y)), y]) + 0.5 * alpha * np.sum(W * W)


def _fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)   # a default fit must converge
        return model.fit(X, y)


# ------------------------------------------------------------------------------ the pieces
def test_add_grad_is_the_minimum_norm_subgradient():
    rng = np.random.default_rng(0)
    w = rng.normal(size=50)
    w[::3] = 0.0
    g = rng.normal(size=50)
    pen = Penalty("elasticnet", alpha=0.8, l1_ratio=0.6)
    l1, l2 = pen.l1, pen.l2
    out = pen.add_grad(w, g)
    # the subdifferential of l1 |w| at 0 is [-l1, l1]: its point nearest -g, written as a clip
    at_zero = g + np.clip(-g, -l1, l1)
    expected = np.where(w == 0, at_zero, g + l2 * w + l1 * np.sign(w))
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=1e-15)
    assert np.all(out[(w == 0) & (np.abs(g) <= l1)] == 0.0)


def test_the_subgradient_vanishes_at_the_lasso_optimum():
    X, y = _sparse()
    ref = Lasso(alpha=1.0, tol=1e-14, max_iter=10**6).fit(X, y)
    obj = SquaredError(X.shape[1], loss="half_mse", penalty=Penalty("l1", alpha=1.0))
    theta = obj.pack(ref.coef_[:, None], np.array([ref.intercept_]))
    _, grad = obj.value_and_grad(theta, (X, y[:, None]))
    _, at_zero = obj.value_and_grad(np.zeros_like(theta), (X, y[:, None]))
    assert np.linalg.norm(grad) < 1e-9 * np.linalg.norm(at_zero)


def test_smooth_gradient_recovers_the_smooth_part_where_it_is_known():
    rng = np.random.default_rng(1)
    w = rng.normal(size=20)
    w[:8] = 0.0
    g_smooth = rng.normal(size=20) * 2
    pen = Penalty("l1", alpha=0.5)
    mask = np.ones(20)
    back = smooth_gradient(pen.add_grad(w, g_smooth), w, pen.l1, mask)
    known = (w != 0) | (np.abs(g_smooth) > pen.l1)   # inside [-l1, l1] at 0 the smooth part is not needed
    np.testing.assert_allclose(back[known], g_smooth[known], rtol=1e-13, atol=1e-13)
    assert np.all(back[~known] == 0.0)


def _ista_reference(X, y, alpha, lr, steps, accelerated):
    """ISTA / FISTA with gradient restart for half-mse + alpha |w|_1 with an intercept, written out."""
    n, d = X.shape
    x = np.zeros(d + 1)
    yk = x.copy()
    t = 1.0

    def grad(v):
        r = X @ v[:d] + v[d] - y
        return np.concatenate([X.T @ r / n, [r.sum() / n]])

    def prox(v):
        out = v.copy()
        out[:d] = np.sign(v[:d]) * np.maximum(np.abs(v[:d]) - lr * alpha, 0.0)
        return out

    for _ in range(steps):
        x_new = prox(yk - lr * grad(yk))
        if not accelerated:
            yk = x_new
            continue
        if (yk - x_new) @ (x_new - x) > 0:
            t, yk = 1.0, x_new
        else:
            t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            yk = x_new + (t - 1) / t_new * (x_new - x)
            t = t_new
        x = x_new
    return yk


@pytest.mark.parametrize("name", ["sgd", "fista"])
def test_proximal_steps_are_ista_and_fista(name):
    X, y = _diabetes()
    obj = SquaredError(X.shape[1], loss="half_mse", penalty=Penalty("l1", alpha=1.0))
    mask = obj.pack(np.ones((X.shape[1], 1)), np.zeros(1))
    opt = make_optimizer(name, lr=0.2, l1=1.0, mask=mask)
    theta = np.zeros(obj.n_params)
    state = opt.init(theta)
    for _ in range(60):
        _, g = obj.value_and_grad(theta, (X, y[:, None]))
        u, state = opt.update(g, state, theta)
        theta = theta + u
    expected = _ista_reference(X, y, 1.0, 0.2, 60, accelerated=name == "fista")
    np.testing.assert_allclose(theta, expected, rtol=1e-10, atol=1e-10)
    assert np.array_equal(theta[:-1] == 0, expected[:-1] == 0)


def test_cumulative_truncation_is_tsuruoka_as_scikit_learn_writes_it():
    rng = np.random.default_rng(2)
    d, l1 = 6, 0.3
    lrs = [0.5 / (1 + 0.1 * t) for t in range(40)]
    grads = rng.normal(size=(40, d)) * np.array([1.0, 0.05, 2.0, 0.01, 0.5, 0.2])
    mask = np.ones(d)
    opt = l1_step(sgd(lambda t: lrs[t]), l1, mask, cumulative=True)
    theta, state = np.zeros(d), None
    state = opt.init(theta)
    # scikit-learn's _sgd_fast: u += eta * alpha * l1_ratio; then per weight, with q the applied penalty
    w, u, q = np.zeros(d), 0.0, np.zeros(d)
    for t in range(40):
        smooth = grads[t]
        sub = Penalty("l1", alpha=l1).add_grad(theta, smooth)   # what an objective hands the step
        step, state = opt.update(sub, state, theta)
        theta = theta + step
        recovered = smooth_gradient(sub, w, l1, mask)
        w = w - lrs[t] * recovered
        u += lrs[t] * l1
        for j in range(d):
            z = w[j]
            if z > 0:
                w[j] = max(0.0, w[j] - (u + q[j]))
            elif z < 0:
                w[j] = min(0.0, w[j] + (u - q[j]))
            q[j] += w[j] - z
        np.testing.assert_allclose(theta, w, rtol=1e-13, atol=1e-15)
        assert np.array_equal(theta == 0, w == 0)
    assert np.sum(theta == 0) >= 1   # the weak coordinates were truncated to exact zeros


def test_accelerate_without_l1_beats_plain_steps_and_keeps_torch_and_numpy_equal():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(30, 10)) * np.logspace(0, -1.5, 10)   # condition number about 1000
    H = A.T @ A / 30 + 1e-4 * np.eye(10)
    b = rng.normal(size=10)
    lr = 1 / np.linalg.eigvalsh(H)[-1]
    x_star = np.linalg.solve(H, b)

    def run(opt, x, steps=300):
        state = opt.init(x)
        for _ in range(steps):
            u, state = opt.update(H @ x - b if isinstance(x, np.ndarray) else
                                  torch.as_tensor(H) @ x - torch.as_tensor(b), state, x)
            x = x + u
        return x

    fast, slow = run(accelerate(sgd(lr)), np.zeros(10)), run(sgd(lr), np.zeros(10))
    assert np.linalg.norm(fast - x_star) < 1e-3 * np.linalg.norm(slow - x_star)
    on_torch = run(accelerate(sgd(lr)), torch.zeros(10, dtype=torch.float64))
    np.testing.assert_allclose(on_torch.numpy(), fast, rtol=1e-12, atol=1e-14)


def test_l1_steps_on_torch_equal_numpy():
    X, y = _diabetes()
    mask = np.concatenate([np.ones(X.shape[1]), [0.0]])
    pen = Penalty("l1", alpha=25.0)   # strong enough for zeros within 30 steps
    for cumulative in (False, True):
        out = []
        for lib in ("numpy", "torch"):
            opt = make_optimizer("sgd", lr=0.05, l1=pen.l1, mask=mask, cumulative=cumulative)
            theta = np.zeros(X.shape[1] + 1) if lib == "numpy" else torch.zeros(X.shape[1] + 1, dtype=torch.float64)
            state = opt.init(theta)
            for i in range(30):
                rows = slice(10 * i, 10 * i + 10)
                r = X[rows] @ np.asarray(theta[:-1]) + float(theta[-1]) - y[rows]
                g = np.concatenate([X[rows].T @ r / 10, [r.mean()]])
                sub = np.concatenate([pen.add_grad(np.asarray(theta[:-1]), g[:-1]), g[-1:]])   # as an objective
                u, state = opt.update(sub if lib == "numpy" else torch.as_tensor(sub), state, theta)
                theta = theta + u
            out.append(np.asarray(theta))
        np.testing.assert_allclose(out[1], out[0], rtol=1e-12, atol=1e-14)
        assert np.array_equal(out[0] == 0, out[1] == 0) and np.sum(out[0][:-1] == 0) > 0


# ------------------------------------------------------------------------------ the defaults
def _gap(f, f_star):
    return (f - f_star) / abs(f_star)


@pytest.mark.parametrize("batch_size", [None, 32, 1])
@pytest.mark.parametrize("data", ["breast_cancer", "make_classification"])
def test_default_logistic_fits_reach_lbfgs(data, batch_size):
    if data == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    else:
        X, y = make_classification(2000, 20, random_state=0)
    X, alpha = _standard(X), 1e-2
    ref = SkLogistic(C=1 / (len(y) * alpha), tol=1e-12, max_iter=100000).fit(X, y)
    f_star = logistic_objective(X, y, ref.coef_[0], ref.intercept_[0], alpha)
    model = _fit_quietly(LogisticRegression(penalty="l2", alpha=alpha, batch_size=batch_size, random_state=0), X, y)
    assert model.optimizer_ == ("fista" if batch_size is None else "sgd")
    f = logistic_objective(X, y, model.coef_[0], model.intercept_[0], alpha)
    assert -1e-9 <= _gap(f, f_star) <= 1e-4


@pytest.mark.parametrize("data", ["digits", "wine"])
def test_default_softmax_fits_reach_lbfgs(data):
    X, y = (load_digits if data == "digits" else load_wine)(return_X_y=True)
    X, alpha = _standard(X), 1e-2
    ref = SkLogistic(C=1 / (len(y) * alpha), tol=1e-12, max_iter=100000).fit(X, y)
    f_star = softmax_objective(X, y, ref.coef_, ref.intercept_, alpha)
    model = _fit_quietly(SoftmaxRegression(penalty="l2", alpha=alpha, random_state=0), X, y)
    f = softmax_objective(X, y, model.coef_, model.intercept_, alpha)
    assert -1e-9 <= _gap(f, f_star) <= 1e-4


CASES_L1 = {
    "diabetes-l1": (_diabetes, "l1", 1.0, 1.0),
    "diabetes-elasticnet": (_diabetes, "elasticnet", 2.0, 0.5),
    "sparse-l1": (_sparse, "l1", 1.0, 1.0),
    "sparse-elasticnet": (_sparse, "elasticnet", 1.0, 0.5),
}


@pytest.mark.parametrize("case", sorted(CASES_L1))
def test_default_full_batch_l1_fits_reach_lasso_with_its_zeros(case):
    data, penalty, alpha, rho = CASES_L1[case]
    X, y = data()
    ref = (Lasso(alpha=alpha, tol=1e-14, max_iter=10**6) if penalty == "l1" else
           ElasticNet(alpha=alpha, l1_ratio=rho, tol=1e-14, max_iter=10**6)).fit(X, y)
    f_star = lasso_objective(X, y, ref.coef_, ref.intercept_, alpha, rho)
    model = _fit_quietly(LinearRegression(loss="half_mse", penalty=penalty, alpha=alpha, l1_ratio=rho), X, y)
    f = lasso_objective(X, y, model.coef_, model.intercept_, alpha, rho)
    assert -1e-12 <= _gap(f, f_star) <= 1e-6
    np.testing.assert_array_equal(model.coef_ == 0, ref.coef_ == 0)


@pytest.mark.parametrize("data", ["diabetes", "sparse"])
def test_per_sample_sgd_with_l1_gives_exact_zeros(data):
    X, y = (_diabetes if data == "diabetes" else _sparse)()
    ref = Lasso(alpha=1.0, tol=1e-14, max_iter=10**6).fit(X, y)
    model = LinearRegression(loss="half_mse", penalty="l1", alpha=1.0, batch_size=1, random_state=0).fit(X, y)
    assert np.sum(model.coef_ == 0) >= np.sum(ref.coef_ == 0) - 1
    f_star = lasso_objective(X, y, ref.coef_, ref.intercept_, 1.0)
    assert _gap(lasso_objective(X, y, model.coef_, model.intercept_, 1.0), f_star) <= 1e-3


def test_an_explicit_learning_rate_keeps_the_plain_step():
    X, y = _diabetes()
    model = LinearRegression(lr=0.01, epochs=3, tol=None).fit(X, y)
    assert model.optimizer_ == "sgd" and model.lr_ == 0.01 and model.gtol_ is None
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(3):   # the tutorials' loop: mean squared error, full batch
        r = X @ w + b - y
        w, b = w - 0.01 * (2 / len(y)) * (X.T @ r), b - 0.01 * (2 / len(y)) * r.sum()
    np.testing.assert_allclose(model.coef_, w, rtol=1e-12)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_default_l1_fits_on_torch_take_the_numpy_path(batch_size):
    X, y = _diabetes()
    kw = {"loss": "half_mse", "penalty": "l1", "alpha": 1.0, "batch_size": batch_size, "random_state": 0,
          "epochs": 50, "tol": None}   # 50 epochs each, no rule
    ref = LinearRegression(**kw).fit(X, y)
    on_torch = LinearRegression(**kw, backend="torch").fit(X, y)
    assert on_torch.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(on_torch.coef_, ref.coef_, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(on_torch.coef_ == 0, ref.coef_ == 0)
    assert np.sum(ref.coef_ == 0) > 0
