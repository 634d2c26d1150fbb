"""Tensors in, tensors out: the estimators on PyTorch give the NumPy run's numbers.

Each estimator is fitted twice on the same data, settings and seed: on NumPy
float64 arrays (the reference) and on torch tensors (or with
``backend="torch"``). The recorded iterates (``history_.params``), the fitted
coefficients and the predictions must agree to 1e-12 relative in float64 and
1e-5 in float32, and every fitted array and prediction must come back in the
type, dtype and device of the input. The tutorials' per-sample autograd loop
is the independent reference for the float32 one-liner.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression

from devices import TORCH_DEVICES

TOL = {torch.float64: {"rtol": 1e-12, "atol": 1e-14}, torch.float32: {"rtol": 1e-5, "atol": 1e-6}}
MODES = {"full": None, "mini16": 16, "per-sample": 1}
N = 50
EPOCHS_FOR_100_STEPS = {"full": 100, "mini16": 25, "per-sample": 2}  # 50 rows: batches of 16, 16, 16, 2


def _data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    X = rng.standard_normal((N, 3)) * np.array([1.0, 3.0, 0.5]) + np.array([0.0, 2.0, -1.0])
    z = X @ np.array([1.5, -0.7, 0.5]) + 0.3
    if kind == "linear":
        return X, z + 0.1 * rng.standard_normal(N)
    if kind == "logistic":
        return X, (z + rng.logistic(size=N) > 0).astype(np.int64)
    return X, np.digitize(z + 0.5 * rng.standard_normal(N), [-1.0, 1.5])  # 3 classes


MODELS = {"linear": LinearRegression, "logistic": LogisticRegression, "softmax": SoftmaxRegression}


def _t(a: np.ndarray, device: str, dtype: torch.dtype | None = torch.float64) -> torch.Tensor:
    t = torch.tensor(a, device=device)
    return t.to(dtype) if dtype is not None and t.is_floating_point() else t


def _epochs(est):
    return est.history_.to_pandas("epochs")


def _assert_in_input_type(a, device: str, dtype: torch.dtype) -> None:
    assert isinstance(a, torch.Tensor), type(a)
    assert a.device.type == torch.device(device).type and a.dtype == dtype


def _close(torch_value, numpy_value, dtype) -> None:
    """Each iterate (row) within ``rtol`` of the reference in norm: :math:`\\lVert a_k - b_k\\rVert \\le
    rtol \\lVert b_k\\rVert + atol`. In norm, not per component: an intercept or momentum term
    passing near 0 carries a few ulps of the O(1) terms that produced it, which is no relative
    error of the iterate (the loop-level table, test_backend_parity, holds components to atol)."""
    a = torch_value.detach().cpu().numpy() if isinstance(torch_value, torch.Tensor) else np.asarray(torch_value)
    b = np.asarray(numpy_value)
    assert a.shape == b.shape
    a2, b2 = np.atleast_2d(a).reshape(len(np.atleast_2d(a)), -1), np.atleast_2d(b).reshape(len(np.atleast_2d(b)), -1)
    err = np.linalg.norm(a2 - b2, axis=1)
    bound = TOL[dtype]["rtol"] * np.linalg.norm(b2, axis=1) + TOL[dtype]["atol"]
    assert np.all(err <= bound), f"worst relative error {np.max(err / np.maximum(bound, 1e-300)):.3g} x tolerance"


@pytest.mark.parametrize("device", TORCH_DEVICES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", MODELS)
def test_tensor_input_takes_the_numpy_path(kind, mode, optimizer, device):
    X, y = _data(kind)
    params = {"optimizer": optimizer, "batch_size": MODES[mode], "epochs": EPOCHS_FOR_100_STEPS[mode], "tol": None,
              "random_state": 5, "scale": "standard", "penalty": "l2", "alpha": 0.01, "clip_norm": 5.0}
    ref = MODELS[kind](**params).fit(X, y)
    est = MODELS[kind](**params).fit(_t(X, device), _t(y, device))
    assert est.history_.n_steps == ref.history_.n_steps == 100
    _close(est.history_.params, ref.history_.params, torch.float64)
    _close(est.history_.loss, ref.history_.loss, torch.float64)
    if callable(ref.lr_):   # mini-batches: a decaying schedule, the same one
        assert type(est.lr_) is type(ref.lr_) and est.lr_(0) == pytest.approx(ref.lr_(0), rel=1e-12)
    else:
        assert est.lr_ == pytest.approx(ref.lr_, rel=1e-12) if ref.lr_ is not None else est.lr_ is None
    _assert_in_input_type(est.coef_, device, torch.float64)
    _close(est.coef_, ref.coef_, torch.float64)
    _close(est.intercept_, ref.intercept_, torch.float64)
    Xt = _t(X, device)
    pred = est.predict(Xt)
    if kind == "linear":
        _assert_in_input_type(pred, device, torch.float64)
        _close(pred, ref.predict(X), torch.float64)
    else:
        assert isinstance(pred, torch.Tensor) and pred.device.type == torch.device(device).type
        assert_array_equal(pred.cpu().numpy(), ref.predict(X))
        proba = est.predict_proba(Xt)
        _assert_in_input_type(proba, device, torch.float64)
        _close(proba, ref.predict_proba(X), torch.float64)
        _close(est.predict_log_proba(Xt), ref.predict_log_proba(X), torch.float64)
        _close(est.decision_function(Xt), ref.decision_function(X), torch.float64)
        assert_array_equal(_epochs(est)["accuracy"], _epochs(ref)["accuracy"])
    assert est.history_.meta["backend"] == f"torch:{torch.device(device).type}"
    assert ref.history_.meta["backend"] == "numpy"


@pytest.mark.parametrize("device", TORCH_DEVICES)
@pytest.mark.parametrize("kind", MODELS)
def test_backend_torch_runs_numpy_input_on_torch_and_answers_in_numpy(kind, device):
    X, y = _data(kind)
    params = {"batch_size": 8, "epochs": 5, "tol": None, "random_state": 2}
    ref = MODELS[kind](**params).fit(X, y)
    est = MODELS[kind](backend="torch", device=device, **params).fit(X, y)
    assert est.history_.meta["backend"].startswith("torch:")
    assert isinstance(est.coef_, np.ndarray) and est.coef_.dtype == np.float64
    assert_allclose(est.history_.params, ref.history_.params, **TOL[torch.float64])
    assert_allclose(est.coef_, ref.coef_, **TOL[torch.float64])
    pred = est.predict(X)
    assert isinstance(pred, np.ndarray)
    if kind == "linear":
        assert_allclose(pred, ref.predict(X), **TOL[torch.float64])
    else:
        assert_array_equal(pred, ref.predict(X))


@pytest.mark.parametrize("kind", MODELS)
def test_backend_numpy_computes_tensor_input_with_numpy_and_answers_in_tensors(kind):
    X, y = _data(kind)
    ref = MODELS[kind](epochs=5, tol=None).fit(X, y)
    est = MODELS[kind](backend="numpy", epochs=5, tol=None).fit(_t(X, "cpu"), _t(y, "cpu"))
    assert est.history_.meta["backend"] == "numpy"
    assert isinstance(est.coef_, torch.Tensor)
    assert_array_equal(est.history_.params, ref.history_.params)  # the same NumPy computation
    assert_array_equal(est.coef_.numpy(), ref.coef_)


@pytest.mark.parametrize("device", TORCH_DEVICES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", MODELS)
def test_float32_tensors_compute_in_float32_and_agree_with_numpy(kind, mode, device):
    X, y = _data(kind)
    params = {"batch_size": MODES[mode], "epochs": 4, "tol": None, "random_state": 1, "scale": "standard"}
    ref32 = MODELS[kind](**params).fit(X.astype(np.float32), y)
    est = MODELS[kind](**params).fit(_t(X, device, torch.float32), _t(y, device, torch.float32))
    _assert_in_input_type(est.coef_, device, torch.float32)
    assert est.history_.params.dtype == np.float32
    _close(est.history_.params, ref32.history_.params, torch.float32)
    ref64 = MODELS[kind](**params).fit(X, y)
    _close(est.history_.params, ref64.history_.params, torch.float32)


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_the_tutorial_autograd_loop_is_a_one_liner_in_float32(device):
    """The tutorials' PyTorch loop: ``w`` and ``b`` with ``requires_grad``, one row at a time,
    ``loss.backward()``, a manual update under ``no_grad``, ``grad.zero_()``."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, 40)
    y = 4 + 3 * x + rng.normal(0, 0.5, 40)
    X_t = torch.tensor(x, dtype=torch.float32, device=device).reshape(-1, 1)
    y_t = torch.tensor(y, dtype=torch.float32, device=device)
    lr, epochs = 0.05, 3
    w = torch.zeros(1, dtype=torch.float32, device=device, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float32, device=device, requires_grad=True)
    path = []
    for _ in range(epochs):
        for i in range(len(x)):
            path.append(torch.cat([w.detach(), b.detach()]).cpu().numpy().copy())
            loss = ((X_t[i] @ w + b - y_t[i]) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
            w.grad.zero_()
            b.grad.zero_()
    model = LinearRegression(lr=lr, batch_size=1, shuffle=False, epochs=epochs, tol=None).fit(X_t, y_t)
    assert model.history_.params.dtype == np.float32
    assert_array_equal(model.history_.params, np.array(path))  # bit for bit, every step
    assert model.coef_[0].item() == w.item() and model.intercept_ == b.item()
    # and NumPy float32 input asked to run on torch gives the same numbers
    same = LinearRegression(lr=lr, batch_size=1, shuffle=False, epochs=epochs, tol=None, backend="torch",
                            device=device).fit(x.astype(np.float32).reshape(-1, 1), y.astype(np.float32))
    assert_array_equal(same.history_.params, model.history_.params)


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_sample_weights_early_stopping_averaging_and_partial_fit_on_torch(device):
    X, y = _data("softmax")
    sw = np.random.default_rng(4).uniform(0.5, 2.0, len(y))
    params = {"batch_size": 10, "epochs": 6, "tol": None, "random_state": 9, "early_stopping": True, "average": 20,
                  "class_weight": "balanced"}
    ref = SoftmaxRegression(**params).fit(X, y, sample_weight=sw)
    est = SoftmaxRegression(**params).fit(_t(X, device), _t(y, device), sample_weight=_t(sw, device))
    _close(est.history_.params, ref.history_.params, torch.float64)
    assert_allclose(_epochs(est)["val_loss"], _epochs(ref)["val_loss"], rtol=1e-12)
    assert_array_equal(_epochs(est)["val_accuracy"], _epochs(ref)["val_accuracy"])
    _close(est.coef_, ref.coef_, torch.float64)  # the averaged iterate

    Xl, yl = _data("linear")
    ref = LinearRegression(batch_size=5, shuffle=False)
    est = LinearRegression(batch_size=5, shuffle=False)
    for rows in (slice(0, 25), slice(25, 50)):
        ref.partial_fit(Xl[rows], yl[rows])
        est.partial_fit(_t(Xl[rows], device), _t(yl[rows], device))
    _close(est.history_.params, ref.history_.params, torch.float64)
    _assert_in_input_type(est.coef_, device, torch.float64)
    assert est.loss_value(_t(Xl, device), _t(yl, device)) == pytest.approx(ref.loss_value(Xl, yl), rel=1e-12)
    assert est.score(_t(Xl, device), _t(yl, device)) == pytest.approx(ref.score(Xl, yl), rel=1e-12)


def test_a_torch_fitted_estimator_pickles_clones_and_warm_starts():
    X, y = _data("logistic")
    est = LogisticRegression(epochs=5, tol=None, warm_start=True).fit(torch.tensor(X), torch.tensor(y))
    back = pickle.loads(pickle.dumps(est))
    assert torch.equal(back.coef_, est.coef_)
    assert torch.equal(back.predict_proba(torch.tensor(X)), est.predict_proba(torch.tensor(X)))
    assert clone(est).get_params()["backend"] is None
    ref = LogisticRegression(epochs=10, tol=None).fit(X, y)
    est.fit(torch.tensor(X), torch.tensor(y))  # 5 more epochs from where it stopped
    assert_allclose(est.history_.params, ref.history_.params, **TOL[torch.float64])


def test_string_labels_with_tensor_features():
    X, y = _data("logistic")
    labels = np.where(y == 1, "yes", "no")
    est = LogisticRegression(epochs=20, tol=None).fit(torch.tensor(X), labels)
    ref = LogisticRegression(epochs=20, tol=None).fit(X, labels)
    pred = est.predict(torch.tensor(X))
    assert isinstance(pred, np.ndarray)  # labels that are not numbers cannot be a tensor
    assert_array_equal(pred, ref.predict(X))


@pytest.mark.parametrize(
    ("params", "X", "message"),
    [
        ({"backend": "jax"}, None, "backend must be one of"),
        ({"device": "cuda:0"}, None, "needs backend='torch'"),
        ({"backend": "torch", "device": "not-a-device"}, None, "device must be a torch device"),
        ({}, torch.tensor([1.0, 2.0, 3.0]), "Expected a 2D tensor for X"),
        ({}, torch.tensor([[1.0], [float("nan")], [3.0]]), "X contains NaN or infinity"),
        ({}, torch.ones((3, 1), dtype=torch.complex64), "complex"),
        ({}, torch.ones((0, 2)), "0 sample"),
    ],
)
def test_bad_placement_or_tensor_input_is_refused_clearly(params, X, message):
    X = np.array([[1.0], [2.0], [3.0]]) if X is None else X
    with pytest.raises(ValueError, match=message):
        LinearRegression(epochs=2, **params).fit(X, np.ones(X.shape[0]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="sees no CUDA device"):
        LinearRegression(backend="torch", device="cuda").fit(np.ones((3, 1)), np.ones(3))


def test_tensor_input_checks_features_and_rows():
    est = LinearRegression(epochs=2, tol=None).fit(torch.ones((4, 2), dtype=torch.float64), torch.arange(4.0))
    with pytest.raises(ValueError, match="X has 3 features, but LinearRegression is expecting 2"):
        est.predict(torch.ones((2, 3)))
    with pytest.raises(ValueError, match="X has 4 rows but y has 3"):
        LinearRegression().fit(torch.ones((4, 2)), torch.ones(3))
    # integer tensors are features like any other: float64, as scikit-learn converts them
    ints = LinearRegression(epochs=2, tol=None).fit(torch.arange(8).reshape(4, 2), torch.arange(4.0))
    assert ints.coef_.dtype == torch.float64
