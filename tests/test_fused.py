"""Fused single-pass gradients (gradstep.kernels.fused) against the plain path and torch autograd.

The fused kernels must give the plain path's numbers: 1e-12 relative in float64
(value, and gradient normwise), 1e-5 in float32, for every loss convention, with
and without intercept and row weights, one and several outputs. The sizes are
moderate (the threshold is lowered for the comparisons) but cut the rows into
many blocks and chunks, with a last block and a last column group that are not
full. Where the fused path must not run (torch tensors, Fortran-ordered or
strided ``X``, small batches, mixed dtypes, Numba missing, the switches), the
objective still answers, through the plain code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gradstep.kernels import fused
from gradstep.objectives import LogisticLoss, Penalty, SoftmaxCrossEntropy, SquaredError

pytestmark = pytest.mark.skipif(not fused.available(), reason="the fused kernels need Numba")

N, D, K = 3001, 13, 3  # 3001 rows: 94 blocks of 32 in 47 chunks, the last block 25 rows; 13 columns: 8 + 5
TOL = {np.float64: 1e-12, np.float32: 1e-5}
PENALTY = Penalty("l2", 0.05)
MODELS = {
    "mse": lambda fi, k: SquaredError(D, k, "mse", fi, PENALTY),
    "half_mse": lambda fi, k: SquaredError(D, k, "half_mse", fi, PENALTY),
    "sum": lambda fi, k: SquaredError(D, k, "sum", fi, PENALTY),
    "logistic": lambda fi, k: LogisticLoss(D, fi, PENALTY),
    "softmax": lambda fi, k: SoftmaxCrossEntropy(D, k, fi, PENALTY),
}


@pytest.fixture
def calls(monkeypatch):
    """Counts the fused kernel's runs; lowers the size threshold so that the moderate test data qualifies."""
    monkeypatch.setattr(fused, "MIN_ELEMENTS", 4096)
    count = {"n": 0}
    inner = fused.linear_parts_counted  # every loss's pass goes through it

    def counted(*args, **kwargs):
        count["n"] += 1
        return inner(*args, **kwargs)

    monkeypatch.setattr(fused, "linear_parts_counted", counted)
    return count


def _problem(model, k, fit_intercept, weighted, dtype, seed=0, n=N):
    """``(objective, params, batch)``: random data and parameters of moderate size (decisions of order 1)."""
    rng = np.random.default_rng(seed)
    k = 1 if model == "logistic" else k
    obj = MODELS[model](fit_intercept, k)
    X = rng.standard_normal((n, D)).astype(dtype)
    if model == "logistic":
        Y = (rng.random((n, 1)) < 0.5).astype(np.float64)  # float64 labels with float32 X: cast, as the plain path
    elif model == "softmax":
        Y = np.eye(k)[rng.integers(0, k, n)]
    else:
        Y = rng.standard_normal((n, k)).astype(dtype)
    theta = (rng.standard_normal(obj.n_params) / np.sqrt(D)).astype(dtype)
    batch = (X, Y, rng.uniform(0.0, 2.0, n).astype(dtype)) if weighted else (X, Y)
    return obj, theta, batch


def _plain(obj, theta, batch):
    """Value and gradient (and value alone) from the plain code."""
    saved = fused.ENABLED
    fused.ENABLED = False
    try:
        return obj.value_and_grad(theta, batch), obj.value(theta, batch)
    finally:
        fused.ENABLED = saved


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


CASES = [
    pytest.param(model, k, fi, weighted, dtype,
                 id=f"{model}-k{k}-{'b' if fi else 'nob'}-{'w' if weighted else 'now'}-{dtype.__name__}")
    for model, ks in (("mse", (1, 3)), ("half_mse", (1, 3)), ("sum", (1, 3)), ("logistic", (1,)), ("softmax", (K,)))
    for k in ks
    for fi in (True, False)
    for weighted in (False, True)
    for dtype in (np.float64, np.float32)
]


# --------------------------------------------------------------------------- fused == plain
@pytest.mark.parametrize("model, k, fit_intercept, weighted, dtype", CASES)
def test_fused_equals_plain(calls, model, k, fit_intercept, weighted, dtype):
    obj, theta, batch = _problem(model, k, fit_intercept, weighted, dtype)
    value, grad = obj.value_and_grad(theta, batch)
    value_only = obj.value(theta, batch)
    assert calls["n"] == 2, "the fused path did not run"
    (ref_value, ref_grad), ref_value_only = _plain(obj, theta, batch)
    assert calls["n"] == 2, "the plain path ran the kernel"
    assert type(value) is float and type(value_only) is float
    assert grad.dtype == ref_grad.dtype == dtype and grad.shape == (obj.n_params,)
    tol = TOL[dtype]
    assert abs(value - ref_value) <= tol * abs(ref_value)
    assert abs(value_only - ref_value_only) <= tol * abs(ref_value_only)
    assert _rel(grad, ref_grad) <= tol


@pytest.mark.parametrize("model", ["logistic", "softmax"])
def test_huge_decisions_match_the_plain_limits(calls, model):
    """|z| up to 1e4: e^{-|z|} underflows, the kernels hand those rows to np.exp, as exactly as the plain path."""
    obj, theta, batch = _problem(model, K, True, True, np.float64)
    theta = theta * 3000.0
    value, grad = obj.value_and_grad(theta, batch)
    (ref_value, ref_grad), _ = _plain(obj, theta, batch)
    assert calls["n"] == 1 and np.isfinite(value) and np.all(np.isfinite(grad))
    assert abs(value - ref_value) <= 1e-12 * abs(ref_value)
    assert _rel(grad, ref_grad) <= 1e-12


def test_several_shapes_and_block_tails(calls):
    """Rows and columns around the block and lane sizes (d < 8, d = 8, one row past a block)."""
    rng = np.random.default_rng(5)
    for n, d in ((4097, 1), (1025, 7), (1024, 8), (513, 9), (129, 64), (33, 130)):
        X = rng.standard_normal((n, d))
        Y = rng.standard_normal((n, 2))
        obj = SquaredError(d, 2, "mse", True)
        theta = rng.standard_normal(obj.n_params)
        value, grad = obj.value_and_grad(theta, (X, Y))
        (ref_value, ref_grad), _ = _plain(obj, theta, (X, Y))
        assert abs(value - ref_value) <= 1e-12 * ref_value, (n, d)
        assert _rel(grad, ref_grad) <= 1e-12, (n, d)
    assert calls["n"] == 6


# --------------------------------------------------------------------------- an independent reference
def _torch_value_and_grad(model, obj, theta, batch):
    """The same loss written with torch's own functions, differentiated by autograd, in float64."""
    X, Y = (torch.from_numpy(a) for a in batch[:2])
    w = torch.from_numpy(batch[2]) if len(batch) == 3 else torch.ones(X.shape[0], dtype=torch.float64)
    m, k = Y.shape
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    W = t[: D * k].reshape(D, k)
    Z = X @ W + (t[D * k :] if obj.fit_intercept else 0.0)
    if model == "mse":
        data = (w[:, None] * (Z - Y) ** 2).sum() / (m * k)
    elif model == "logistic":
        data = F.binary_cross_entropy_with_logits(Z, Y, weight=w[:, None], reduction="sum") / m
    else:
        data = (w * F.cross_entropy(Z, Y.argmax(dim=1), reduction="none")).sum() / m
    total = data + PENALTY.alpha / 2 * (W**2).sum()
    total.backward()
    return total.item(), t.grad.numpy()


@pytest.mark.parametrize("model, k", [("mse", 3), ("logistic", 1), ("softmax", K)])
def test_fused_matches_torch_autograd(calls, model, k):
    obj, theta, batch = _problem(model, k, True, True, np.float64, seed=3)
    value, grad = obj.value_and_grad(theta, batch)
    ref_value, ref_grad = _torch_value_and_grad(model, obj, theta, batch)
    assert calls["n"] == 1
    assert abs(value - ref_value) <= 1e-12 * abs(ref_value)
    assert _rel(grad, ref_grad) <= 1e-12


# --------------------------------------------------------------------------- determinism
def test_same_result_every_run_and_any_thread_count(calls):
    import numba

    obj, theta, batch = _problem("logistic", 1, True, True, np.float64, seed=4, n=20_011)
    first = obj.value_and_grad(theta, batch)
    again = obj.value_and_grad(theta, batch)
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = obj.value_and_grad(theta, batch)
    finally:
        numba.set_num_threads(saved)
    for other in (again, single):
        assert other[0] == first[0]
        np.testing.assert_array_equal(other[1], first[1])


# --------------------------------------------------------------------------- where the fused path must not run
def _fallback_cases():
    rng = np.random.default_rng(9)
    n, d = 2**17, 8  # 2**20 entries: at the default threshold
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, 1))
    theta = rng.standard_normal(d + 1)
    return X, Y, theta


def test_default_threshold_takes_large_c_contiguous_numpy_batches(monkeypatch):
    X, Y, theta = _fallback_cases()
    obj = SquaredError(X.shape[1], 1, "mse")
    assert fused.applies(theta, X, Y)
    assert not fused.applies(theta, X[: X.shape[0] // 2], Y[: X.shape[0] // 2])  # below MIN_ELEMENTS
    value, grad = obj.value_and_grad(theta, (X, Y))
    (ref_value, ref_grad), _ = _plain(obj, theta, (X, Y))
    assert abs(value - ref_value) <= 1e-12 * ref_value and _rel(grad, ref_grad) <= 1e-12


@pytest.mark.parametrize("case", ["torch", "fortran", "strided", "small", "mixed-dtype", "f64-targets-f32-x",
                                  "switch", "no-numba"])
def test_fallback_gives_the_plain_result(monkeypatch, case):
    X, Y, theta = _fallback_cases()
    obj = SquaredError(X.shape[1], 1, "mse")
    ran = {"n": 0}
    monkeypatch.setattr(fused, "linear_parts", lambda *a, **k: ran.__setitem__("n", ran["n"] + 1))
    if case == "torch":
        theta, X, Y = (torch.from_numpy(a) for a in (theta, X, Y))
    elif case == "fortran":
        X = np.asfortranarray(X)
    elif case == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    elif case == "small":
        X, Y = X[:1000], Y[:1000]
    elif case == "mixed-dtype":
        theta = theta.astype(np.float32)  # float64 X: the plain path promotes to float64
    elif case == "f64-targets-f32-x":
        X = X.astype(np.float32)
        theta = theta.astype(np.float32)  # float64 Y: the plain residual is float64
    elif case == "switch":
        monkeypatch.setattr(fused, "ENABLED", False)
    elif case == "no-numba":
        monkeypatch.setattr(fused, "_load", lambda: None)
    assert not fused.applies(theta, X, Y)
    value, grad = obj.value_and_grad(theta, (X, Y))
    assert ran["n"] == 0
    # the plain formula, written out
    Xn, Yn, tn = (np.asarray(a, dtype=np.float64) for a in (X, Y, theta))
    R = Xn @ tn[:-1, None] + tn[-1] - Yn
    expected = (np.mean(R**2), np.r_[2 * Xn.T @ R[:, 0], 2 * R.sum()] / len(R))
    assert float(value) == pytest.approx(expected[0], rel=1e-6)
    np.testing.assert_allclose(np.asarray(grad, dtype=np.float64), expected[1], rtol=1e-5, atol=1e-6)


def test_environment_variable_turns_it_off():
    code = "from gradstep.kernels import fused; print(fused.ENABLED)"
    env = {**os.environ, "GRADSTEP_FUSED": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_importing_gradstep_imports_no_compiler():
    code = "import sys, gradstep, gradstep.objectives, gradstep.kernels.fused; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- non-finite input
@pytest.mark.parametrize("model", ["mse", "logistic", "softmax"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_gives_a_non_finite_value_not_a_crash(calls, model, bad):
    obj, theta, batch = _problem(model, K, True, False, np.float64)
    X = batch[0].copy()
    X[17, 4] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the kernels raise no floating-point warnings
        value, grad = obj.value_and_grad(theta, (X, batch[1]))
    assert calls["n"] == 1
    with np.errstate(all="ignore"):
        (ref_value, ref_grad), _ = _plain(obj, theta, (X, batch[1]))
    assert not np.isfinite(value) and not np.isfinite(ref_value)
    assert not np.all(np.isfinite(grad)) and not np.all(np.isfinite(ref_grad))
