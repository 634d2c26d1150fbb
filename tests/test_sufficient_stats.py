"""Squared error from sufficient statistics (XᵀX, Xᵀy gathered once) against the rows.

The reference is the plain computation over the rows, ``SquaredError`` with the
batch ``(X, Y[, w])``, itself checked against torch autograd elsewhere. Values and
gradients must agree to 1e-12 relative at points away from the optimum, and a
whole full-batch run must take the same iterates to 1e-10 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from gradstep import LinearRegression
from gradstep.objectives import LOSSES, Penalty, SquaredError, SquaredStats


def _problem(k: int, weighted: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, 5)) * np.array([1.0, 4.0, 0.3, 2.0, 1.0]) + np.array([0.0, 1.0, -2.0, 0.5, 3.0])
    Y = X @ rng.standard_normal((5, k)) + 0.7 + 0.2 * rng.standard_normal((300, k))
    w = rng.uniform(0.2, 3.0, 300) if weighted else None
    return X, Y, w


def _rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.mark.parametrize("penalty", [None, "l2", "l1", "elasticnet"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("loss", LOSSES)
def test_value_and_gradient_from_statistics_equal_those_from_the_rows(loss, k, fit_intercept, weighted, penalty):
    X, Y, w = _problem(k, weighted)
    obj = SquaredError(5, k, loss, fit_intercept, Penalty(penalty, 0.05, 0.3))
    theta = np.random.default_rng(1).standard_normal(obj.n_params)
    rows = (X, Y) if w is None else (X, Y, w)
    stats = SquaredStats.of(X, Y, w, fit_intercept)
    v_rows, g_rows = obj.value_and_grad(theta, rows)
    v_stats, g_stats = obj.value_and_grad(theta, stats)
    assert v_stats == pytest.approx(v_rows, rel=1e-12)
    assert obj.value(theta, stats) == v_stats
    assert _rel(g_stats, g_rows) <= 1e-12


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize(("weighted", "penalty"), [(False, None), (True, "l2"), (False, "elasticnet")])
@pytest.mark.parametrize("loss", LOSSES)
def test_a_full_batch_run_on_statistics_takes_the_plain_iterates(loss, weighted, penalty, optimizer):
    X, Y, w = _problem(1, weighted)
    params = {"loss": loss, "optimizer": optimizer, "epochs": 300, "tol": None, "penalty": penalty,
              "alpha": 0.01, "scale": "standard"}
    if optimizer == "adam":
        params["lr"] = 0.05
    fast = LinearRegression(sufficient_stats=True, **params).fit(X, Y[:, 0], sample_weight=w)
    plain = LinearRegression(sufficient_stats=False, **params).fit(X, Y[:, 0], sample_weight=w)
    assert fast.history_.meta["sufficient_stats"] and not plain.history_.meta["sufficient_stats"]
    P, Q = fast.history_.params, plain.history_.params
    worst = np.max(np.linalg.norm(P - Q, axis=1) / np.maximum(np.linalg.norm(Q, axis=1), 1e-300))
    assert worst <= 1e-10
    assert_allclose(fast.history_.loss, plain.history_.loss, rtol=1e-9)
    assert_allclose(fast.coef_, plain.coef_, rtol=1e-10)


def test_auto_uses_statistics_for_tall_data_only_and_reaches_the_closed_form():
    X, Y, _ = _problem(1, False)
    tall = LinearRegression(epochs=3000, tol=None, scale="standard").fit(X, Y[:, 0])
    assert tall.history_.meta["sufficient_stats"] is True
    assert tall.optimality_gap(X, Y[:, 0]) <= 1e-12
    from sklearn.linear_model import LinearRegression as Reference

    ref = Reference().fit(X, Y[:, 0])
    assert_allclose(tall.coef_, ref.coef_, rtol=1e-8)
    wide = LinearRegression(epochs=3, tol=None).fit(X[:20], Y[:20, 0])  # 20 rows < 4 (5 + 1)
    assert wide.history_.meta["sufficient_stats"] is False
    mini = LinearRegression(epochs=3, tol=None, batch_size=32).fit(X, Y[:, 0])
    assert mini.history_.meta["sufficient_stats"] is False
    with pytest.raises(ValueError, match="sufficient_stats must be"):
        LinearRegression(sufficient_stats="yes").fit(X, Y[:, 0])


def test_statistics_on_torch_tensors_equal_numpy():
    X, Y, w = _problem(3, True)
    obj = SquaredError(5, 3, "mse", True, Penalty("l2", 0.1))
    theta = np.random.default_rng(2).standard_normal(obj.n_params)
    v, g = obj.value_and_grad(theta, SquaredStats.of(X, Y, w))
    vt, gt = obj.value_and_grad(torch.tensor(theta), SquaredStats.of(torch.tensor(X), torch.tensor(Y), torch.tensor(w)))
    assert isinstance(gt, torch.Tensor)
    assert vt == pytest.approx(v, rel=1e-12)
    assert _rel(gt.numpy(), g) <= 1e-12


def test_statistics_of_another_model_are_refused():
    X, Y, _ = _problem(1, False)
    with pytest.raises(ValueError, match="gathered for another model"):
        SquaredError(5, 1, fit_intercept=True).value_and_grad(np.zeros(6), SquaredStats.of(X, Y, None, False))
