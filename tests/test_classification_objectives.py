"""Classification losses and weighted squared error, against independent references.

References: torch autograd (float64), central differences (``check_grad``),
``sklearn.metrics.log_loss``, analytic limits, hand-written sums and repeated rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss

from gradstep import check_grad
from gradstep.objectives import LinearObjective, LogisticLoss, Penalty, SoftmaxCrossEntropy, SquaredError
from gradstep.objectives.squared import _scales

M, D, K = 30, 3, 4
RNG = np.random.default_rng(2024)
X = RNG.normal(size=(M, D))
LABELS_BIN = RNG.integers(0, 2, size=M)
LABELS_MULTI = np.r_[np.arange(K), RNG.integers(0, K, size=M - K)]  # every class present
Y_BIN = LABELS_BIN.astype(np.float64).reshape(-1, 1)
Y_ONEHOT = np.eye(K)[LABELS_MULTI]
WEIGHTS = RNG.uniform(0.1, 3.0, size=M)
WEIGHTS[[3, 17]] = 0.0  # a weight of 0 drops the row (still counted in m)

PENALTIES = [None, Penalty("l2", 0.3), Penalty("l1", 0.2), Penalty("elasticnet", 0.25, 0.4)]
PENALTY_IDS = ["none", "l2", "l1", "elasticnet"]


def _make(kind, fit_intercept, penalty):
    pen = penalty or Penalty()
    if kind == "logistic":
        obj, Y = LogisticLoss(D, fit_intercept, pen), Y_BIN
    else:
        obj, Y = SoftmaxCrossEntropy(D, K, fit_intercept, pen), Y_ONEHOT
    # entries of magnitude >= 0.2: away from the L1 kink at 0
    rng = np.random.default_rng(7)
    theta = rng.choice([-1.0, 1.0], size=obj.n_params) * rng.uniform(0.2, 0.9, size=obj.n_params)
    return obj, theta, Y


def _batch(Y, weighted):
    return (X, Y, WEIGHTS) if weighted else (X, Y)


def _torch_penalty(W, penalty):
    pen = penalty or Penalty()
    return pen.l2 / 2 * (W**2).sum() + pen.l1 * W.abs().sum()


def _torch_reference(kind, obj, theta, Y, weighted, penalty):
    """Value and gradient from torch's own losses, by autograd, in float64."""
    k = obj.n_outputs
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    W = t[: D * k].reshape(D, k)
    Z = torch.from_numpy(X) @ W + (t[D * k :] if obj.fit_intercept else 0.0)
    w = torch.from_numpy(WEIGHTS) if weighted else torch.ones(M, dtype=torch.float64)
    if kind == "logistic":
        data = F.binary_cross_entropy_with_logits(Z, torch.from_numpy(Y), weight=w.reshape(-1, 1), reduction="mean")
    else:
        per_row = F.cross_entropy(Z, torch.from_numpy(LABELS_MULTI), reduction="none")
        data = (w * per_row).sum() / M  # mean over the m rows, not over sum(w)
    total = data + _torch_penalty(W, penalty)
    total.backward()
    return total.item(), t.grad.numpy()


CASES = [
    pytest.param(kind, fit_intercept, penalty, weighted,
                 id=f"{kind}-{'b' if fit_intercept else 'nob'}-{pid}-{'w' if weighted else 'now'}")
    for kind in ("logistic", "softmax")
    for fit_intercept in (True, False)
    for penalty, pid in zip(PENALTIES, PENALTY_IDS)
    for weighted in (False, True)
]


# ---------------------------------------------------------------------------------- torch, check_grad
@pytest.mark.parametrize("kind, fit_intercept, penalty, weighted", CASES)
def test_value_and_gradient_match_torch_autograd(kind, fit_intercept, penalty, weighted):
    obj, theta, Y = _make(kind, fit_intercept, penalty)
    value, grad = obj.value_and_grad(theta, _batch(Y, weighted))
    ref_value, ref_grad = _torch_reference(kind, obj, theta, Y, weighted, penalty)
    assert grad.shape == theta.shape == (obj.n_params,)
    assert value == pytest.approx(ref_value, rel=1e-12)
    assert obj.value(theta, _batch(Y, weighted)) == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind, fit_intercept, penalty, weighted", CASES)
def test_gradient_passes_check_grad(kind, fit_intercept, penalty, weighted):
    obj, theta, Y = _make(kind, fit_intercept, penalty)
    batch = _batch(Y, weighted)
    err = check_grad(lambda t: obj.value(t, batch), lambda t: obj.value_and_grad(t, batch)[1], theta)
    assert err.max() < 1e-6


# ---------------------------------------------------------------------------------- scikit-learn
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_binary_loss_equals_sklearn_log_loss(fit_intercept, weighted):
    obj, theta, Y = _make("logistic", fit_intercept, None)
    p = obj.predict_proba(theta, X)
    assert p.shape == (M, 1)
    w = WEIGHTS if weighted else None
    ref = log_loss(LABELS_BIN, p[:, 0], sample_weight=w, normalize=False) / M
    assert obj.value(theta, _batch(Y, weighted)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_softmax_loss_equals_sklearn_log_loss(fit_intercept, weighted):
    obj, theta, Y = _make("softmax", fit_intercept, None)
    P = obj.predict_proba(theta, X)
    assert P.shape == (M, K)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-15)
    w = WEIGHTS if weighted else None
    ref = log_loss(LABELS_MULTI, P, sample_weight=w, normalize=False, labels=np.arange(K)) / M
    assert obj.value(theta, _batch(Y, weighted)) == pytest.approx(ref, rel=1e-12)


# ---------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_integer_weights_equal_repeated_rows(kind):
    obj, theta, Y = _make(kind, True, Penalty("l2", 0.1))
    reps = np.random.default_rng(3).integers(0, 4, size=M)  # 0 drops the row
    Xr, Yr = np.repeat(X, reps, axis=0), np.repeat(Y, reps, axis=0)
    n = int(reps.sum())
    pen = obj.penalty.value(obj.unpack(theta)[0])
    v_w, g_w = obj.value_and_grad(theta, (X, Y, reps.astype(float)))
    v_r, g_r = obj.value_and_grad(theta, (Xr, Yr))
    # (1/m) sum w_i l_i  ==  (n/m) * mean over the n repeated rows
    assert v_w - pen == pytest.approx((v_r - pen) * n / M, rel=1e-12)
    g_pen = obj._gradient(np.zeros((D, obj.n_outputs)), np.zeros(obj.n_outputs), obj.unpack(theta)[0])
    np.testing.assert_allclose(g_w - g_pen, (g_r - g_pen) * n / M, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_weights_of_one_and_none_are_the_unweighted_loss_exactly(kind):
    obj, theta, Y = _make(kind, True, Penalty("elasticnet", 0.2, 0.5))
    v, g = obj.value_and_grad(theta, (X, Y))
    for batch in ((X, Y, None), (X, Y, np.ones(M))):
        v2, g2 = obj.value_and_grad(theta, batch)
        assert v2 == v and obj.value(theta, batch) == obj.value(theta, (X, Y))
        assert np.array_equal(g2, g)


# ---------------------------------------------------------------------------------- stability
def test_logistic_huge_decisions_give_the_analytic_limits():
    obj = LogisticLoss(1, fit_intercept=False)
    theta = np.array([1e4])
    Xs = np.array([[1.0], [1.0], [-1.0], [-1.0]])  # z = +1e4, +1e4, -1e4, -1e4
    Ys = np.array([[1.0], [0.0], [1.0], [0.0]])  # losses 0, 1e4, 1e4, 0
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        value, grad = obj.value_and_grad(theta, (Xs, Ys))
        v_only = obj.value(theta, (Xs, Ys))
        p = obj.predict_proba(theta, Xs)
        v_w, g_w = obj.value_and_grad(theta, (Xs, Ys, np.array([1.0, 2.0, 3.0, 4.0])))
    assert value == v_only == 5000.0
    # sigma(z) - y = 0, 1, -1, 0  ->  (1/4) sum x_i (sigma - y)_i = (1 + 1) / 4
    np.testing.assert_array_equal(grad, [0.5])
    np.testing.assert_array_equal(p[:, 0], [1.0, 1.0, 0.0, 0.0])
    assert v_w == (2e4 + 3e4) / 4
    np.testing.assert_array_equal(g_w, [(2.0 + 3.0) / 4])


def test_softmax_huge_decisions_give_the_analytic_limits():
    obj = SoftmaxCrossEntropy(1, 3, fit_intercept=False)
    theta = np.array([1e4, -1e4, 0.0])
    Xs = np.array([[1.0], [-1.0]])  # Z rows (1e4, -1e4, 0) and (-1e4, 1e4, 0)
    Ys = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # losses 0 and 2e4
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        value, grad = obj.value_and_grad(theta, (Xs, Ys))
        v_only = obj.value(theta, (Xs, Ys))
        P = obj.predict_proba(theta, Xs)
    assert value == v_only == 1e4
    # softmax - y: row 1 zero, row 2 (-1, 1, 0); times x = -1, over m = 2
    np.testing.assert_array_equal(grad, [0.5, -0.5, 0.0])
    np.testing.assert_array_equal(P, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_logistic_confident_right_answers_lose_no_precision():
    # z = 30, y = 1: the loss is log(1 + e^-30) ~ 9.4e-14 and sigma(z) - y = -sigma(-30);
    # softplus(z) - y z and expit(z) - y would both keep only 2-3 digits of them
    obj = LogisticLoss(1, fit_intercept=False)
    value, grad = obj.value_and_grad(np.array([30.0]), (np.array([[1.0]]), np.array([[1.0]])))
    assert value == pytest.approx(np.log1p(np.exp(-30.0)), rel=1e-14, abs=0)
    assert grad[0] == pytest.approx(-1.0 / (1.0 + np.exp(30.0)), rel=1e-14, abs=0)


def test_softmax_confident_right_answers_are_accurate_to_an_ulp_of_the_decision():
    # lse(Z) - Z_c cancels: the absolute error is about an ulp of 30 (3.6e-15), not better
    obj = SoftmaxCrossEntropy(1, 2, fit_intercept=False)
    value = obj.value(np.array([30.0, 0.0]), (np.array([[1.0]]), np.array([[1.0, 0.0]])))
    assert value == pytest.approx(np.log1p(np.exp(-30.0)), rel=0, abs=1e-14)


# ---------------------------------------------------------------------------------- curvature bounds
def _fd_hessian(obj, theta, batch, h=1e-5):
    n = theta.size
    H = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        H[:, j] = (obj.value_and_grad(theta + e, batch)[1] - obj.value_and_grad(theta - e, batch)[1]) / (2 * h)
    return (H + H.T) / 2


def test_logistic_hessian_at_zero_attains_the_lipschitz_factor():
    obj = LogisticLoss(D, fit_intercept=True)
    Xt = np.hstack([X, np.ones((M, 1))])
    H = _fd_hessian(obj, np.zeros(obj.n_params), (X, Y_BIN))
    np.testing.assert_allclose(H, obj.lipschitz_factor * Xt.T @ Xt / M, rtol=1e-7, atol=1e-9)
    assert LogisticLoss.lipschitz_factor == 0.25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_hessian_is_bounded_by_the_lipschitz_factor(seed):
    obj = SoftmaxCrossEntropy(D, K, fit_intercept=True)
    theta = np.random.default_rng(seed).normal(size=obj.n_params)
    Xt = np.hstack([X, np.ones((M, 1))])
    lam = np.linalg.eigvalsh(_fd_hessian(obj, theta, (X, Y_ONEHOT)))[-1]
    bound = obj.lipschitz_factor * np.linalg.eigvalsh(Xt.T @ Xt / M)[-1]
    assert 0 < lam <= bound * (1 + 1e-6)
    assert SoftmaxCrossEntropy.lipschitz_factor == 0.5


# ---------------------------------------------------------------------------------- API
def test_shapes_packing_and_decision():
    obj = SoftmaxCrossEntropy(D, K)
    assert isinstance(obj, LinearObjective) and obj.n_outputs == K and obj.n_params == K * (D + 1)
    W, b = np.arange(D * K, dtype=float).reshape(D, K), np.arange(K, dtype=float)
    theta = obj.pack(W, b)
    W2, b2 = obj.unpack(theta)
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(b2, b)
    np.testing.assert_array_equal(obj.decision(theta, X), X @ W + b)
    logit = LogisticLoss(D, fit_intercept=False)
    assert logit.n_outputs == 1 and logit.n_params == D
    assert logit.decision(np.ones(D), X).shape == (M, 1)


def test_bad_batches_and_sizes_are_refused():
    obj = LogisticLoss(D)
    theta = np.zeros(obj.n_params)
    with pytest.raises(ValueError, match="2-D"):
        obj.value(theta, (X, LABELS_BIN.astype(float)))  # 1-D Y would broadcast to (m, m)
    with pytest.raises(ValueError, match="weights"):
        obj.value_and_grad(theta, (X, Y_BIN, np.ones(M - 1)))
    with pytest.raises(ValueError, match="2-D"):
        SoftmaxCrossEntropy(D, K).value(np.zeros(K * (D + 1)), (X, Y_BIN))
    with pytest.raises(ValueError, match="n_classes"):
        SoftmaxCrossEntropy(D, 1)


@pytest.mark.parametrize("label_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_float32_stays_float32(kind, label_dtype):
    # float64 weights and labels (as np.eye / astype(float) give them) do not upcast the gradient
    obj, theta, Y = _make(kind, True, Penalty("l2", 0.1))
    X32, theta32 = X.astype(np.float32), theta.astype(np.float32)
    value, g = obj.value_and_grad(theta32, (X32, Y.astype(label_dtype), WEIGHTS))
    assert g.dtype == np.float32
    ref_value, ref_grad = obj.value_and_grad(theta, (X, Y, WEIGHTS))
    assert value == pytest.approx(ref_value, rel=1e-5)
    np.testing.assert_allclose(g, ref_grad, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------- weighted squared error
Y2 = RNG.normal(size=(M, 2))
SQUARED = [
    pytest.param(loss, k, fit_intercept, penalty, id=f"{loss}-k{k}-{'b' if fit_intercept else 'nob'}-{pid}")
    for loss in ("mse", "half_mse", "sum")
    for k in (1, 2)
    for fit_intercept in (True, False)
    for penalty, pid in zip(PENALTIES, PENALTY_IDS)
]


def _squared(loss, k, fit_intercept, penalty):
    obj = SquaredError(D, k, loss, fit_intercept, penalty or Penalty())
    rng = np.random.default_rng(k)
    theta = rng.choice([-1.0, 1.0], size=obj.n_params) * rng.uniform(0.2, 0.9, size=obj.n_params)
    return obj, theta, Y2[:, :k]


@pytest.mark.parametrize("loss, k, fit_intercept, penalty", SQUARED)
def test_weighted_squared_error_matches_torch_autograd(loss, k, fit_intercept, penalty):
    obj, theta, Y = _squared(loss, k, fit_intercept, penalty)
    value, grad = obj.value_and_grad(theta, (X, Y, WEIGHTS))
    t = torch.tensor(theta, requires_grad=True)
    W = t[: D * k].reshape(D, k)
    pred = torch.from_numpy(X) @ W + (t[D * k :] if fit_intercept else 0.0)
    sq = (torch.from_numpy(WEIGHTS)[:, None] * (pred - torch.from_numpy(Y)) ** 2).sum()
    data = {"mse": sq / (M * k), "half_mse": sq / (2 * M * k), "sum": sq}[loss]
    total = data + _torch_penalty(W, penalty)
    total.backward()
    assert value == pytest.approx(total.item(), rel=1e-12)
    assert obj.value(theta, (X, Y, WEIGHTS)) == pytest.approx(total.item(), rel=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss, k, fit_intercept, penalty", SQUARED)
def test_weighted_squared_error_passes_check_grad(loss, k, fit_intercept, penalty):
    obj, theta, Y = _squared(loss, k, fit_intercept, penalty)
    batch = (X, Y, WEIGHTS)
    err = check_grad(lambda t: obj.value(t, batch), lambda t: obj.value_and_grad(t, batch)[1], theta)
    assert err.max() < 1e-6


@pytest.mark.parametrize("loss", ["mse", "half_mse", "sum"])
@pytest.mark.parametrize("k", [1, 2])
def test_weighted_squared_error_is_the_hand_written_sum_and_repeated_rows(loss, k):
    obj, theta, Y = _squared(loss, k, True, None)
    reps = np.random.default_rng(5).integers(0, 4, size=M)
    W, b = obj.unpack(theta)
    total = 0.0  # sum_i w_i sum_j r_ij^2, one term at a time
    for i in range(M):
        for j in range(k):
            r = sum(X[i, f] * W[f, j] for f in range(D)) + b[j] - Y[i, j]
            total += reps[i] * r * r
    scale = {"mse": 1 / (M * k), "half_mse": 1 / (2 * M * k), "sum": 1.0}[loss]
    value = obj.value(theta, (X, Y, reps.astype(float)))
    assert value == pytest.approx(scale * total, rel=1e-12)
    # the same data with row i repeated reps[i] times (n rows), unweighted
    Xr, Yr, n = np.repeat(X, reps, axis=0), np.repeat(Y, reps, axis=0), int(reps.sum())
    v_r, g_r = obj.value_and_grad(theta, (Xr, Yr))
    _, g_w = obj.value_and_grad(theta, (X, Y, reps.astype(float)))
    ratio = 1.0 if loss == "sum" else n / M  # a mean divides by m, not by sum(w)
    assert value == pytest.approx(v_r * ratio, rel=1e-12)
    np.testing.assert_allclose(g_w, g_r * ratio, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("loss, k, fit_intercept, penalty", SQUARED)
def test_unweighted_squared_error_is_bit_for_bit_the_old_formula(loss, k, fit_intercept, penalty):
    obj, theta, Y = _squared(loss, k, fit_intercept, penalty)
    value, grad = obj.value_and_grad(theta, (X, Y))
    # a copy of the formula before weights existed
    W = theta[: D * k].reshape(D, k)
    b = theta[D * k :] if fit_intercept else None
    R = (X @ W if b is None else X @ W + b) - Y
    vs, gs = _scales(loss, M, k)
    old_value = vs * float(np.sum(R * R))
    gW = (X.T @ R) * gs
    pen = penalty or Penalty()
    if pen.active:
        old_value += pen.value(W)
        gW = gW + pen.grad(W)
    old_grad = gW.reshape(-1) if b is None else np.concatenate([gW.reshape(-1), R.sum(axis=0) * gs])
    assert value == old_value and obj.value(theta, (X, Y)) == old_value
    assert np.array_equal(grad, old_grad)
    for batch in ((X, Y, None), (X, Y, np.ones(M))):  # w = None and w = 1 take the same numbers
        v2, g2 = obj.value_and_grad(theta, batch)
        assert v2 == old_value and np.array_equal(g2, old_grad)


def test_per_sample_weighted_squared_error_step():
    # one row, one feature, no intercept: the "mse" gradient is w * 2x(xw - y)
    obj = SquaredError(1, fit_intercept=False)
    x, y, w, wt = 1.7, -0.4, 2.5, 0.3
    value, grad = obj.value_and_grad(np.array([wt]), (np.array([[x]]), np.array([[y]]), np.array([w])))
    assert value == pytest.approx(w * (x * wt - y) ** 2, rel=1e-15)
    assert grad[0] == pytest.approx(w * 2 * x * (x * wt - y), rel=1e-15)
