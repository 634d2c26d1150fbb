"""``minimize`` on torch tensors: the run stays on ``x0``'s device and dtype, the history is NumPy.

References: the closed form of gradient descent on the bowl, the NumPy run of the same
problem (the maths is written once, so the two libraries must give the same iterates),
and hand-derived paths for the autograd and numeric cases.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from gradstep import minimize

from devices import TORCH_DEVICES

ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"
DTYPES = [pytest.param(torch.float64, id="float64"), pytest.param(torch.float32, id="float32")]
RTOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def _is_on(t, device, dtype) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type == device and t.dtype == dtype


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_bowl_path_is_0_8_to_the_k_on_torch(device):
    x0 = torch.tensor([3.0, 2.0], dtype=torch.float64, device=device, requires_grad=True)
    res = minimize("x**2 + y**2", x0, lr=0.1, steps=50)
    k = np.arange(51)[:, None]
    expected = np.array([3.0, 2.0]) * 0.8**k  # x_{k+1} = x_k - 0.1 * 2 x_k, the closed form
    path = res.history.path
    assert isinstance(path, np.ndarray) and path.shape == (51, 2)
    assert_allclose(path, expected, rtol=1e-14, atol=0)
    assert not res.success and res.status == 1 and res.nit == 50   # the budget ran out
    assert _is_on(res.x, device, torch.float64) and not res.x.requires_grad
    assert _is_on(res.jac, device, torch.float64)
    assert_allclose(res.x.cpu().numpy(), expected[-1], rtol=1e-14)
    assert_allclose(res.jac.cpu().numpy(), 2 * expected[-1], rtol=1e-14)
    assert res.fun == pytest.approx(float(expected[-1] @ expected[-1]), rel=1e-13)
    # the caller's tensor is untouched: same values, still a leaf of its graph, no gradient written
    assert x0.tolist() == [3.0, 2.0] and x0.requires_grad and x0.grad is None and x0.is_leaf
    assert res.history.meta["x0"] == [3.0, 2.0] and res.variables == ("x", "y")


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_integer_and_zero_d_tensors_start_in_float64(device):
    res = minimize("x**2 + y**2", torch.tensor([3, 2], device=device), lr=0.1, steps=1)
    assert _is_on(res.x, device, torch.float64) and res.x.tolist() == [2.4, 1.6]
    res = minimize("x**2", torch.tensor(3.0, device=device), lr=0.25, steps=1)  # 0-d: one variable
    assert _is_on(res.x, device, torch.float32) and res.x.tolist() == [1.5]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_rosenbrock_with_adam_on_torch_equals_numpy(device, dtype):
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    kwargs = {"optimizer": "adam", "lr": 0.05, "steps": 300}
    ours = minimize(ROSENBROCK, torch.tensor([-1.2, 1.0], dtype=dtype, device=device), **kwargs)
    ref = minimize(ROSENBROCK, np.array([-1.2, 1.0], dtype=np_dtype), **kwargs)
    assert ref.x.dtype == np_dtype and _is_on(ours.x, device, dtype)
    assert np.abs(ref.history.path[-1] - ref.history.path[0]).min() > 0.5  # it travelled
    # both paths live in NumPy; every iterate agrees (float64: a few ulps; float32 near zero: atol)
    assert_allclose(ours.history.path, ref.history.path, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)
    assert_allclose(ours.x.cpu().numpy(), ref.x, rtol=RTOL[dtype])
    assert_allclose(ours.history.loss, ref.history.loss, rtol=RTOL[dtype] * 10)
    assert ours.fun == pytest.approx(ref.fun, rel=RTOL[dtype] * 10)


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_autograd_with_a_torch_written_function(device):
    """``f(p) = ||p - t||²``: gd with lr 0.1 gives p_k = t + 0.8^k (p_0 - t)."""
    target = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float32, device=device)
    seen = []

    def fun(p):
        seen.append((p.device.type, p.dtype))
        return ((p - target) ** 2).sum()

    x0 = torch.zeros(3, dtype=torch.float32, device=device)
    res = minimize(fun, x0, grad="autograd", lr=0.1, steps=30)
    k = np.arange(31)[:, None]
    expected = target.cpu().numpy() * (1 - 0.8**k)
    assert_allclose(res.history.path, expected, rtol=1e-5, atol=1e-6)
    assert _is_on(res.x, device, torch.float32) and res.status == 1
    assert set(seen) == {(device, torch.float32)}  # every evaluation on the device, in x0's dtype
    assert x0.abs().sum().item() == 0.0
    # a formula with grad="autograd" on a tensor: evaluated with torch, the symbolic run's iterates
    sym = minimize(ROSENBROCK, torch.tensor([-1.2, 1.0], dtype=torch.float64, device=device), lr=1e-3, steps=50)
    auto = minimize(ROSENBROCK, torch.tensor([-1.2, 1.0], dtype=torch.float64, device=device), lr=1e-3, steps=50,
                    grad="autograd")
    assert _is_on(auto.x, device, torch.float64)
    assert_allclose(auto.history.path, sym.history.path, rtol=1e-12)


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_numeric_and_given_gradients_on_tensors(device):
    """``grad="numeric"`` differences in float64 on the host; a callable gets tensors on the device."""
    x0 = torch.tensor([1.0, 0.5], dtype=torch.float64, device=device)
    sym = minimize("sin(x)**2 + sin(y)**2", x0, lr=0.1, steps=20)
    seen = set()

    def fun(p):  # torch operations only: it must be given tensors, on the device
        seen.add((type(p).__name__, p.device.type, p.dtype))
        return (torch.sin(p) ** 2).sum()

    num = minimize(fun, x0, lr=0.1, steps=20)  # numeric: the default for callables
    formula_num = minimize("sin(x)**2 + sin(y)**2", x0, lr=0.1, steps=20, grad="numeric")
    given = minimize(fun, x0, lr=0.1, steps=20, grad=lambda p: torch.sin(2 * p))  # d/dx sin²x = sin 2x
    assert seen == {("Tensor", device, torch.float64)}
    for res in (num, formula_num, given):
        assert _is_on(res.x, device, torch.float64)
    # central differences with h = 1e-6: an error of about 1e-10 on each gradient
    assert_allclose(num.history.path, sym.history.path, rtol=1e-8)
    assert_allclose(formula_num.history.path, sym.history.path, rtol=1e-8)
    assert_allclose(given.history.path, sym.history.path, rtol=1e-13)


@pytest.mark.parametrize("grad", ["symbolic", "autograd"])
@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_divergence_on_torch_gives_the_stable_learning_rate(device, grad):
    x0 = torch.tensor([3.0, 2.0], dtype=torch.float64, device=device)
    res = minimize("x**2 + y**2", x0, lr=1.1, steps=50, grad=grad)
    assert not res.success and res.status == 2 and res.nit < 50
    assert "diverged" in res.message and "1.1" in res.message
    assert "about 1 (" in res.message  # the Hessian is 2I: 2/L = 1
    assert res.history.meta["stable_lr"] == pytest.approx(1.0, rel=1e-6)
    assert _is_on(res.x, device, torch.float64) and np.all(np.isfinite(res.history.path))
    # x_k = (3, 2) (-1.2)^k up to the step where it stopped
    k = np.arange(res.nit + 1)[:, None]
    assert_allclose(res.history.path, np.array([3.0, 2.0]) * (-1.2) ** k, rtol=1e-13)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: torch.ones(2, 2, dtype=torch.float64, device=d), r"x0 must be a 1-D tensor.*\(2, 2\).*reshape"),
        (lambda d: torch.tensor([1.0, float("nan")], device=d), r"x0 must be finite"),
        (lambda d: torch.tensor([1.0, float("inf")], device=d), r"x0 must be finite"),
        (lambda d: torch.tensor([1 + 2j, 3 + 0j], device=d), r"x0 must be a tensor of real numbers.*complex"),
        (lambda d: torch.tensor([True, False], device=d), r"x0 must be a tensor of real numbers.*bool"),
        (lambda d: torch.tensor([1.0, 2.0], dtype=torch.float16, device=d),
         r"x0 must be a float32 or float64.*float\(\)"),
        (lambda d: torch.tensor([1.0, 2.0, 3.0], device=d), r"x0 has 3 values but the formula has 2 variables"),
    ],
    ids=["2-D", "nan", "inf", "complex", "bool", "float16", "count"],
)
@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_bad_tensor_x0_raises_value_error_naming_x0(device, make, match):
    with pytest.raises(ValueError, match=match):
        minimize("x**2 + y**2", make(device), lr=0.1, steps=1)
