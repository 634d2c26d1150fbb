"""Gradients from PyTorch's autograd (``gradstep.objectives.autograd``, ``minimize(grad="autograd")``).

* autograd equals the analytic gradients of every objective to 1e-10 relative (float64):
  the linear-model losses (their torch versions written here, independently of gradstep's
  NumPy code) and the formulas (against their exact SymPy gradients);
* the tutorials' PyTorch examples give gradstep's numbers: the per-sample autograd loop in
  float32 (``loss.backward()``, ``w -= lr * w.grad``) is ``LinearRegression(batch_size=1)``,
  and a probability vector pushed to a target by MSE with ``torch.optim.SGD`` is
  ``minimize(..., grad="autograd")``;
* a user's own torch loss (:class:`TorchDataObjective`) runs through the loop with
  mini-batches, shuffling, clipping and a schedule exactly as gradstep's own objective does.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose, assert_array_equal

from gradstep import LinearRegression, minimize
from gradstep.data.batching import Batches
from gradstep.data.datasets import tutorial_line
from gradstep.expression import parse
from gradstep.loop import StopRule, run
from gradstep.objectives import LogisticLoss, Penalty, SoftmaxCrossEntropy, SquaredError
from gradstep.objectives.autograd import AutogradObjective, TorchDataObjective
from gradstep.optim import make_optimizer, schedules

RTOL = 1e-10


def max_rel_err(got: np.ndarray, want: np.ndarray) -> float:
    """Largest error relative to the gradient's size (normwise, so zero components are fine)."""
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


# --------------------------------------------------------------------------- torch versions of the losses
def torch_penalty(W: torch.Tensor, penalty: Penalty) -> torch.Tensor:
    """alpha R(W) as penalties.py defines it: l2/2 |W|^2 + l1 |W|_1 (the subgradient of |w| is sign(w))."""
    return 0.5 * penalty.l2 * (W * W).sum() + penalty.l1 * W.abs().sum()


def torch_linear(p: torch.Tensor, X: torch.Tensor, d: int, k: int, fit_intercept: bool):
    W = p[: d * k].reshape(d, k)
    Z = X @ W
    return (Z + p[d * k :] if fit_intercept else Z), W


def torch_squared_error(loss: str, d: int, k: int, fit_intercept: bool, penalty: Penalty):
    def fun(p, X, Y, w=None):
        Z, W = torch_linear(p, X, d, k, fit_intercept)
        sq = (Z - Y) ** 2
        if w is not None:
            sq = w[:, None] * sq
        m = X.shape[0]
        total = {"mse": sq.sum() / (m * k), "half_mse": sq.sum() / (2 * m * k), "sum": sq.sum()}[loss]
        return total + torch_penalty(W, penalty)

    return fun


def torch_logistic(d: int, fit_intercept: bool, penalty: Penalty):
    def fun(p, X, Y, w=None):
        z, W = torch_linear(p, X, d, 1, fit_intercept)
        loss = F.binary_cross_entropy_with_logits(z, Y, reduction="none")
        if w is not None:
            loss = w[:, None] * loss
        return loss.sum() / X.shape[0] + torch_penalty(W, penalty)

    return fun


def torch_softmax(d: int, k: int, fit_intercept: bool, penalty: Penalty):
    def fun(p, X, Y, w=None):
        Z, W = torch_linear(p, X, d, k, fit_intercept)
        loss = torch.logsumexp(Z, dim=1) - (Z * Y).sum(dim=1)
        if w is not None:
            loss = w * loss
        return loss.sum() / X.shape[0] + torch_penalty(W, penalty)

    return fun


PENALTIES = {
    "none": Penalty(),
    "l2": Penalty("l2", 0.3),
    "l1": Penalty("l1", 0.2),
    "elasticnet": Penalty("elasticnet", 0.25, l1_ratio=0.4),
}


def data(m: int, d: int, k: int, kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, d))
    if kind == "regression":
        Y = X @ rng.normal(size=(d, k)) + rng.normal(0, 0.3, size=(m, k))
    elif kind == "binary":
        Y = (rng.uniform(size=(m, 1)) < 0.5).astype(float)
    else:
        Y = np.eye(k)[rng.integers(0, k, m)]
    theta = rng.normal(size=k * (d + 1))  # never exactly 0: |w| is differentiable there
    w = rng.uniform(0.2, 3.0, m)
    return X, Y, w, theta


# --------------------------------------------------------------------------- 1. autograd == analytic
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("penalty", sorted(PENALTIES))
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("loss", ["mse", "half_mse", "sum"])
def test_squared_error_autograd_equals_analytic(loss, k, fit_intercept, penalty, weighted):
    d = 4
    X, Y, w, theta = data(30, d, k, "regression")
    obj = SquaredError(d, k, loss, fit_intercept, PENALTIES[penalty])
    theta = theta[: obj.n_params]
    batch = (X, Y, w) if weighted else (X, Y)
    auto = TorchDataObjective(torch_squared_error(loss, d, k, fit_intercept, PENALTIES[penalty]))
    v, g = auto.value_and_grad(theta, batch)
    v0, g0 = obj.value_and_grad(theta, batch)
    assert g.dtype == np.float64 and g.shape == theta.shape
    assert max_rel_err(g, g0) <= RTOL
    assert v == pytest.approx(v0, rel=1e-13)
    assert auto.value(theta, batch) == pytest.approx(v0, rel=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("penalty", sorted(PENALTIES))
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_logistic_loss_autograd_equals_analytic(fit_intercept, penalty, weighted):
    d = 5
    X, Y, w, theta = data(40, d, 1, "binary")
    obj = LogisticLoss(d, fit_intercept, PENALTIES[penalty])
    theta = theta[: obj.n_params]
    batch = (X, Y, w) if weighted else (X, Y)
    v, g = TorchDataObjective(torch_logistic(d, fit_intercept, PENALTIES[penalty])).value_and_grad(theta, batch)
    v0, g0 = obj.value_and_grad(theta, batch)
    assert max_rel_err(g, g0) <= RTOL
    assert v == pytest.approx(v0, rel=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("penalty", sorted(PENALTIES))
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_softmax_cross_entropy_autograd_equals_analytic(fit_intercept, penalty, weighted):
    d, k = 4, 3
    X, Y, w, theta = data(40, d, k, "multiclass")
    obj = SoftmaxCrossEntropy(d, k, fit_intercept, PENALTIES[penalty])
    theta = theta[: obj.n_params]
    batch = (X, Y, w) if weighted else (X, Y)
    v, g = TorchDataObjective(torch_softmax(d, k, fit_intercept, PENALTIES[penalty])).value_and_grad(theta, batch)
    v0, g0 = obj.value_and_grad(theta, batch)
    assert max_rel_err(g, g0) <= RTOL
    assert v == pytest.approx(v0, rel=1e-13)


FORMULAS = {
    "x**2 + y**2": [np.array([3.0, 2.0]), np.array([-0.7, 1e-3]), np.array([12.5, -4.0])],
    "(1 - x)**2 + 100*(y - x**2)**2": [np.array([-1.2, 1.0]), np.array([0.3, -0.4]), np.array([2.0, 3.9])],
    "(2 - x**2*sin(x))**2": [np.array([1.0]), np.array([-2.3]), np.array([4.1])],
}


@pytest.mark.parametrize("text", sorted(FORMULAS))
def test_formula_autograd_equals_symbolic(text):
    f = parse(text)
    obj = AutogradObjective(lambda p: f.evaluate(*torch.unbind(p), xp=torch))
    for x in FORMULAS[text]:
        v, g = obj.value_and_grad(x)
        assert max_rel_err(g, f.grad(x)) <= RTOL
        assert v == pytest.approx(f(x), rel=1e-13)


@pytest.mark.parametrize("text", sorted(FORMULAS))
def test_minimize_formula_with_autograd_follows_the_symbolic_path(text):
    x0 = FORMULAS[text][0]
    auto = minimize(text, x0, grad="autograd", lr=1e-3, steps=50)
    exact = minimize(text, x0, lr=1e-3, steps=50)
    assert_allclose(auto.history.path, exact.history.path, rtol=1e-12, atol=1e-14)
    assert_allclose(auto.history.loss, exact.history.loss, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- 2. the tutorials' examples
@pytest.mark.parametrize("w0", [0.0, 1.0, -0.37])
def test_float32_autograd_loop_is_per_sample_linear_regression(w0):
    """The tutorial's loop in float32: autograd's gradient, ``w -= lr * w.grad``, ``w.grad.zero_()``."""
    X = tutorial_line().X.astype(np.float32)  # (100, 1), x in [0, 15]
    y = tutorial_line().y.astype(np.float32)
    lr, epochs = 1e-3, 4  # per-sample stable: lr < 1 / max(x^2) ~ 4.4e-3

    w = torch.tensor([w0], dtype=torch.float32, requires_grad=True)
    ws, losses = [], []
    for _ in range(epochs):
        for x_i, y_i in zip(torch.from_numpy(X), torch.from_numpy(y)):
            ws.append(w.detach().clone())
            loss = ((x_i * w - y_i) ** 2).mean()  # mean over the single sample
            losses.append(loss.item())
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                w.grad.zero_()
    assert w.dtype == torch.float32

    model = LinearRegression(fit_intercept=False, batch_size=1, shuffle=False, loss="mse", lr=lr,
                             epochs=epochs, tol=None).fit(X, y, coef_init=[w0])
    assert model.coef_.dtype == np.float32
    path = model.history_.params[:, 0]
    assert path.dtype == np.float32
    torch_path = torch.cat(ws).numpy()
    # the contract: 1e-6 relative; in fact every step is the same float32 number
    assert_allclose(model.coef_[0], w.item(), rtol=1e-6)
    assert_allclose(path, torch_path, rtol=1e-6)
    assert_array_equal(path, torch_path)
    assert model.coef_[0] == w.detach().numpy()[0]
    assert_array_equal(model.history_.loss, np.array(losses, dtype=np.float32).astype(float))


def test_probability_vector_to_target_with_sgd_equals_torch_optim():
    """The tutorial's MSE between a probability vector and a target distribution, ``torch.optim.SGD``."""
    target = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    p0 = np.array([0.7, 0.1, 0.1, 0.1])
    lr, steps = 0.1, 100

    p = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    path, losses = [p.detach().clone().numpy()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((p - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        path.append(p.detach().clone().numpy())

    res = minimize(lambda q: ((q - target) ** 2).mean(), p0, grad="autograd", lr=lr, steps=steps)
    assert res.status == 1 and not res.success and res.nit == steps   # the steps ran out
    assert_allclose(res.history.path, np.array(path), rtol=1e-12, atol=0)
    assert_allclose(res.history.loss, losses, rtol=1e-12, atol=0)
    assert_allclose(res.x.sum(), 1.0, rtol=1e-12)  # the gradient sums to 0: p stays a distribution
    assert_allclose(res.jac, 2 / 4 * (res.x - target.numpy()), rtol=1e-10)


# --------------------------------------------------------------------------- 3. a torch loss in the loop
@pytest.mark.parametrize("weighted", [False, True])
def test_torch_data_objective_runs_through_the_loop_like_gradstep_objectives(weighted):
    """Mini-batches, shuffling, clipping and a schedule: the same iterates and History as SoftmaxCrossEntropy."""
    d, k = 4, 3
    X, Y, w, _ = data(90, d, k, "multiclass", seed=3)
    theta0 = np.zeros(k * (d + 1))
    penalty = Penalty("l2", 1e-3)
    transform = lambda: make_optimizer("adam", lr=schedules.cosine(0.05, T_max=40), clip_norm=0.5)
    stop = StopRule(max_epochs=8)
    batches = Batches(X, Y, batch_size=16, shuffle=True, seed=7, w=w if weighted else None)

    ours = run(TorchDataObjective(torch_softmax(d, k, True, penalty)), theta0, transform(), batches, stop)
    ref = run(SoftmaxCrossEntropy(d, k, True, penalty), theta0, transform(), batches, stop)
    assert ours.nit == ref.nit == 8 * 6
    assert_allclose(ours.history.path, ref.history.path, rtol=1e-12, atol=1e-14)
    assert_allclose(ours.history.loss, ref.history.loss, rtol=1e-12)
    assert_allclose(ours.history.grad_norm, ref.history.grad_norm, rtol=1e-10)
    assert_array_equal(ours.history.lr, ref.history.lr)
    assert_allclose(ours.history.epoch_loss, ref.history.epoch_loss, rtol=1e-12)


def test_torch_data_objective_with_integer_labels_and_cross_entropy():
    """``F.cross_entropy`` on int64 labels (kept as integers) is SoftmaxCrossEntropy on one-hot rows."""
    d, k = 4, 3
    X, Y, _, theta = data(50, d, k, "multiclass", seed=5)
    labels = Y.argmax(axis=1)  # int64

    def fun(p, X, y):
        Z, _ = torch_linear(p, X, d, k, True)
        return F.cross_entropy(Z, y)

    auto = TorchDataObjective(fun)
    v, g = auto.value_and_grad(theta, (X, labels))
    v0, g0 = SoftmaxCrossEntropy(d, k).value_and_grad(theta, (X, Y))
    assert max_rel_err(g, g0) <= RTOL and v == pytest.approx(v0, rel=1e-13)
    batches = Batches(X, labels, batch_size=10, shuffle=True, seed=1)
    ours = run(auto, np.zeros_like(theta), make_optimizer("momentum", lr=0.1), batches, StopRule(max_epochs=3))
    ref = run(SoftmaxCrossEntropy(d, k), np.zeros_like(theta), make_optimizer("momentum", lr=0.1),
              Batches(X, Y, batch_size=10, shuffle=True, seed=1), StopRule(max_epochs=3))
    assert_allclose(ours.x, ref.x, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- types, dtypes, errors
def test_types_and_dtypes_follow_the_parameters():
    obj = AutogradObjective(lambda p: (p**3).sum())
    v, g = obj.value_and_grad(np.array([1.0, 2.0], dtype=np.float32))
    assert isinstance(v, float) and g.dtype == np.float32 and g.tolist() == [3.0, 12.0]
    v, g = obj.value_and_grad(np.array([1, 2]))  # integers are computed in float64
    assert g.dtype == np.float64 and g.tolist() == [3.0, 12.0]
    t = torch.tensor([[1.0, 2.0]], dtype=torch.float64, requires_grad=True)
    v, g = obj.value_and_grad(t)
    assert isinstance(g, torch.Tensor) and g.dtype == torch.float64 and g.shape == (1, 2)
    assert g.tolist() == [[3.0, 12.0]] and t.grad is None  # the caller's tensor is left alone
    with torch.no_grad():  # works inside a caller's no_grad block
        assert obj.value_and_grad(np.array([2.0]))[1].tolist() == [12.0]
    x = np.array([1.0, 2.0])
    obj.value_and_grad(x)
    assert x.tolist() == [1.0, 2.0]
    # float32 parameters with float64 data compute in float32
    lin = TorchDataObjective(lambda p, X, y: ((X @ p - y) ** 2).mean())
    X, y = np.ones((3, 2)), np.zeros(3)
    assert lin.value_and_grad(np.ones(2, dtype=np.float32), (X, y))[1].dtype == np.float32
    X.setflags(write=False)  # read-only data (memory-mapped, say) works without a warning
    assert lin.value(np.ones(2), (X, y)) == 4.0


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
def test_clear_errors():
    with pytest.raises(TypeError, match="torch tensor"):
        AutogradObjective(lambda p: float(p.sum())).value_and_grad(np.ones(2))
    with pytest.raises(TypeError, match="torch tensor"):
        AutogradObjective(lambda p: np.sum(p.detach().numpy())).value(np.ones(2))
    with pytest.raises(ValueError, match="single number"):
        AutogradObjective(lambda p: p * 2).value_and_grad(np.ones(2))
    with pytest.raises(ValueError, match="does not depend on params"):
        AutogradObjective(lambda p: p.detach().sum()).value_and_grad(np.ones(2))
    with pytest.raises(ValueError, match="TorchDataObjective"):
        AutogradObjective(lambda p: p.sum()).value_and_grad(np.ones(2), (np.ones((1, 2)), np.ones(1)))
    with pytest.raises(ValueError, match=r"\(X, y\)"):
        TorchDataObjective(lambda p, X, y: p.sum()).value_and_grad(np.ones(2), None)
    with pytest.raises(TypeError, match="callable"):
        AutogradObjective(3)
    with pytest.raises(ValueError, match="'autograd'"):
        minimize(lambda p: p.sum(), [1.0], grad="exact")


def test_import_gradstep_does_not_import_torch():
    code = ("import sys, gradstep; assert 'torch' not in sys.modules; "
            "gradstep.minimize('x**2', [1.0], steps=2); gradstep.minimize(lambda v: float(v @ v), [1.0], steps=2); "
            "assert 'torch' not in sys.modules; "
            "r = gradstep.minimize('x**2', [1.0], grad='autograd', steps=2); assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
