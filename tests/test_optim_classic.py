"""Parity of adadelta, asgd, rprop and adafactor (``gradstep.optim.classic``) with ``torch.optim`` (issue 19).

Each optimiser × {bowl, Rosenbrock, regression} (``PROBLEMS`` of ``test_optim_torch.py``) × {torch's
defaults, one non-default setting}, 100 steps from the same start: every iterate within 1e-12 relative
of torch's in float64 and within 1e-5 in float32.

Near-zero components: a relative tolerance means nothing where an iterate component crosses or settles
near 0 (the regression starts at exactly 0), so float64 adds an absolute 1e-14 (``ATOL`` of
``test_optim_torch.py``: far below 1e-12 relative for any component of size >= 0.01) and float32 an
absolute 1e-7 (under 1e-5 relative for components >= 0.01; a float32 ulp of an O(1) number is 1.2e-7).

The two sides share the problem data only: torch steps with autograd gradients, gradstep with the
hand-written NumPy gradient (float64); in float32 both get the gradient of the same float32 autograd
expression, so that only the optimisers' float32 arithmetic is compared. torch runs under
``torch.set_default_dtype(torch.float64)`` in the float64 tests: torch keeps ASGD's ``eta`` and ``mu``
(and every optimiser's step count) in the default dtype, and a float32 ``eta`` is the learning rate
rounded to 7 digits.

Adafactor's step is scaled by norms (the RMS of the parameters and of the scaled gradient) that torch
reduces in its own order (vector lanes, fused multiply-adds): its iterates can differ from any other
summation in the last bit, and some runs amplify that (torch against torch with the gradient changed by
one ulp moves by about 1e-6 relative on the regression at lr = 0.1, see
``test_some_adafactor_runs_amplify_one_ulp``). The runs compared are those where a one-ulp change moves
torch itself by less than a tenth of the tolerance (``test_the_compared_runs_are_well_conditioned``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from test_optim_torch import ATOL, PROBLEMS, STEPS, Problem, gradstep_path, torch_path

from gradstep import minimize
from gradstep.optim import (
    OPTIMIZERS,
    REGISTRY,
    AverageIteratesState,
    adafactor,
    chain,
    find_states,
    make_optimizer,
    scale_by_adafactor,
    scale_by_lr,
)

RTOL64, RTOL32, ATOL32 = 1e-12, 1e-5, 1e-7
TRAVEL = 0.05   # the runs must go somewhere for the comparison to mean something


class Config(NamedTuple):
    torch_name: str
    name: str
    kwargs: dict   # the same keywords on both sides (torch's names)


CONFIGS = {
    "adadelta": Config("Adadelta", "adadelta", {}),
    "adadelta-rho-eps-wd": Config("Adadelta", "adadelta", {"rho": 0.95, "eps": 1e-5, "weight_decay": 0.01}),
    "asgd": Config("ASGD", "asgd", {}),
    "asgd-averaging-wd": Config("ASGD", "asgd", {"lambd": 1e-2, "alpha": 0.5, "t0": 20, "weight_decay": 0.1}),
    "rprop": Config("Rprop", "rprop", {}),
    "rprop-etas-steps": Config("Rprop", "rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-4, 1.0)}),
    "adafactor": Config("Adafactor", "adafactor", {}),
    "adafactor-eps-wd": Config("Adafactor", "adafactor", {"eps": (1e-10, 1e-2), "weight_decay": 0.1}),
}

# Learning rates per torch optimiser and problem (torch's defaults where they travel far enough:
# Adadelta's 1.0, ASGD's and Rprop's 0.01).
LR = {
    "bowl": {"Adadelta": 1.0, "ASGD": 0.01, "Rprop": 0.01, "Adafactor": 0.03},
    "rosenbrock": {"Adadelta": 1.0, "ASGD": 1e-3, "Rprop": 0.01, "Adafactor": 0.03},
    "regression": {"Adadelta": 1.0, "ASGD": 0.01, "Rprop": 0.01, "Adafactor": 0.05},
}

CASES = [(p, c) for p in sorted(PROBLEMS) for c in CONFIGS]


@contextlib.contextmanager
def torch_default_dtype(dtype: torch.dtype) -> Iterator[None]:
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _torch64(problem: Problem, config: Config, lr: float) -> np.ndarray:
    with torch_default_dtype(torch.float64):
        return torch_path(problem, config.torch_name, lr, config.kwargs)


def assert_near(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> None:
    assert actual.shape == expected.shape and np.all(np.isfinite(expected))
    assert np.linalg.norm(expected[-1] - expected[0]) > TRAVEL
    assert_allclose(actual, expected, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- the registry
@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_registry_builds_the_torch_optimiser(config):
    """REGISTRY's torch class and settings of a name give torch's optimiser with these settings."""
    c = CONFIGS[config]
    entry = REGISTRY[c.name]
    p = [torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    expected = getattr(torch.optim, c.torch_name)(p, lr=0.1, **c.kwargs).defaults
    assert entry.torch == c.torch_name and entry.compiled is None
    assert getattr(torch.optim, entry.torch)(p, lr=0.1, **entry.settings(c.kwargs)).defaults == expected


@pytest.mark.parametrize("name", ["adadelta", "asgd", "rprop", "adafactor"])
def test_defaults_are_torchs(name):
    """Every keyword of the torch class but the implementation switches is a hyper-parameter, with torch's default."""
    entry = REGISTRY[name]
    p = [torch.zeros(2, requires_grad=True)]
    switches = {"foreach", "maximize", "differentiable", "capturable"}
    torch_defaults = {k: v for k, v in getattr(torch.optim, entry.torch)(p).defaults.items() if k not in switches}
    assert {"lr": entry.default_lr, **entry.defaults} == torch_defaults


# --------------------------------------------------------------------------- float64
@pytest.mark.parametrize("problem, config", CASES)
def test_iterates_match_torch_float64(problem, config):
    c, prob = CONFIGS[config], PROBLEMS[problem]
    lr = LR[problem][c.torch_name]
    expected = _torch64(prob, c, lr)
    actual = gradstep_path(prob, OPTIMIZERS[c.name](lr=lr, **c.kwargs))
    assert_near(actual, expected, RTOL64, ATOL)


def _perturbed_torch_path(problem: Problem, config: Config, lr: float) -> np.ndarray:
    """torch's iterates with every gradient multiplied by 1 + 2**-52 (one ulp)."""
    p = torch.tensor(problem.x0, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, config.torch_name)([p], lr=lr, **config.kwargs)
    path = [problem.x0.copy()]
    for _ in range(STEPS):
        opt.zero_grad()
        problem.torch_loss(p).backward()
        p.grad.mul_(1 + 2.0**-52)
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.array(path)


@pytest.mark.parametrize("problem, config", CASES)
def test_the_compared_runs_are_well_conditioned(problem, config):
    """torch against torch with one-ulp different gradients stays within a tenth of the tolerance: the
    runs above can be compared to 1e-12 at all."""
    c, prob = CONFIGS[config], PROBLEMS[problem]
    lr = LR[problem][c.torch_name]
    with torch_default_dtype(torch.float64):
        base, moved = torch_path(prob, c.torch_name, lr, c.kwargs), _perturbed_torch_path(prob, c, lr)
    assert np.all(np.abs(moved - base) <= 0.1 * (ATOL + RTOL64 * np.abs(base)))


def test_some_adafactor_runs_amplify_one_ulp():
    """Why Adafactor's runs are chosen: at lr = 0.1 on the regression torch itself, given gradients one
    ulp apart, ends 1e-9 or more apart relative, so no other summation order could match it to 1e-12."""
    c, prob = CONFIGS["adafactor"], PROBLEMS["regression"]
    with torch_default_dtype(torch.float64):
        base, moved = torch_path(prob, c.torch_name, 0.1, c.kwargs), _perturbed_torch_path(prob, c, 0.1)
    assert np.max(np.abs(moved[-1] - base[-1]) / np.abs(base[-1])) > 1e-9


@pytest.mark.parametrize("problem", ["bowl", "regression"])
def test_asgd_average_is_torchs_ax(problem):
    """The averaged parameters in the state (``AverageIteratesState.ax``) are torch's ``state["ax"]`` at
    every step, averaging from t0 = 20 on; the iterate stays the plain one."""
    c, prob = CONFIGS["asgd-averaging-wd"], PROBLEMS[problem]
    lr = LR[problem]["ASGD"]
    with torch_default_dtype(torch.float64):
        p = torch.tensor(prob.x0, requires_grad=True)
        topt = torch.optim.ASGD([p], lr=lr, **c.kwargs)
        x, opt = prob.x0.copy(), OPTIMIZERS["asgd"](lr=lr, **c.kwargs)
        state = opt.init(x)
        for _ in range(STEPS):
            topt.zero_grad()
            prob.torch_loss(p).backward()
            topt.step()
            u, state = opt.update(prob.grad(x), state, x)
            x = x + u
            ax = find_states(state, AverageIteratesState)[0].ax
            assert_allclose(ax, topt.state[p]["ax"].numpy(), rtol=RTOL64, atol=ATOL)
            assert_allclose(x, p.detach().numpy(), rtol=RTOL64, atol=ATOL)
    assert np.linalg.norm(ax - x) > 1e-3          # the average is not the iterate


# --------------------------------------------------------------------------- float32
def _autograd32(problem: Problem):
    """The problem's float64 autograd gradient rounded to float32, as NumPy: both sides get it, so that the
    float32 comparison is about the optimisers' float32 arithmetic alone."""
    def grad(x: np.ndarray) -> np.ndarray:
        p = torch.tensor(x, dtype=torch.float32, requires_grad=True)
        problem.torch_loss(p.double()).backward()
        return p.grad.numpy()
    return grad


def _torch32(problem: Problem, config: Config, lr: float) -> np.ndarray:
    p = torch.tensor(problem.x0, dtype=torch.float32, requires_grad=True)
    opt = getattr(torch.optim, config.torch_name)([p], lr=lr, **config.kwargs)
    grad = _autograd32(problem)
    path = [p.detach().numpy().copy()]
    for _ in range(STEPS):
        p.grad = torch.from_numpy(grad(p.detach().numpy()))
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.array(path)


@pytest.mark.parametrize("problem, config", CASES)
def test_iterates_match_torch_float32(problem, config):
    c, prob = CONFIGS[config], PROBLEMS[problem]
    lr = LR[problem][c.torch_name]
    expected = _torch32(prob, c, lr)
    x, opt, grad = prob.x0.astype(np.float32), OPTIMIZERS[c.name](lr=lr, **c.kwargs), _autograd32(prob)
    state, path = opt.init(x), [x]
    for _ in range(STEPS):
        u, state = opt.update(grad(x), state, x)
        x = x + u
        assert x.dtype == np.float32
        path.append(x)
    assert_near(np.array(path), expected, RTOL32, ATOL32)


# --------------------------------------------------------------------------- the public path
@pytest.mark.parametrize("config", list(CONFIGS))
def test_minimize_is_the_transform_driven_by_hand(config):
    """minimize(fun, x0, optimizer=NAME, optimizer_params=...) records the iterates of the transform
    driven by hand, and its lr column is the step size of each update (nan for Rprop)."""
    c, prob = CONFIGS[config], PROBLEMS["rosenbrock"]
    lr = LR["rosenbrock"][c.torch_name]
    res = minimize(prob.fun, prob.x0, optimizer=c.name, lr=lr, optimizer_params=c.kwargs, steps=STEPS,
                   grad=prob.grad)
    assert res.nit == STEPS
    assert_array_equal(res.history.path, gradstep_path(prob, OPTIMIZERS[c.name](lr=lr, **c.kwargs)))
    k = np.arange(STEPS)
    kw = c.kwargs
    expected_lr = {
        "adadelta": np.full(STEPS, lr),
        "asgd": lr / (1 + kw.get("lambd", 1e-4) * lr * k) ** kw.get("alpha", 0.75),
        "rprop": np.full(STEPS, np.nan),
        "adafactor": np.minimum(lr, 1 / np.sqrt(k + 1.0)),
    }[c.name]
    assert_allclose(res.history.lr, expected_lr, rtol=1e-15)


def test_make_optimizer_takes_torchs_keywords():
    opt = make_optimizer("rprop", lr=0.1, optimizer_params={"etas": (0.4, 1.3), "step_sizes": (1e-5, 2.0)})
    assert opt.update(np.array([1.0, -1.0]), opt.init(np.zeros(2)), np.zeros(2))[0].tolist() == [-0.1, 0.1]
    with pytest.raises(ValueError, match="no parameter"):
        make_optimizer("adafactor", optimizer_params={"betas": (0.9, 0.99)})


@pytest.mark.parametrize("make, message", [
    (lambda: OPTIMIZERS["rprop"](etas=(1.2, 0.5)), "etas"),
    (lambda: OPTIMIZERS["rprop"](lr=lambda t: 0.1), "first step size"),
    (lambda: OPTIMIZERS["asgd"](lambd=-1.0), "lambd"),
    (lambda: OPTIMIZERS["adadelta"](rho=1.5), "rho"),
    (lambda: OPTIMIZERS["adafactor"](beta2_decay=0.5), "beta2_decay"),
    (lambda: OPTIMIZERS["adafactor"](d=0.5), "d must"),
    (lambda: OPTIMIZERS["adafactor"](eps=1e-3), "eps must be a pair"),
])
def test_bad_settings_say_which(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


# --------------------------------------------------------------------------- Adafactor on matrices
def _matrix_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return rng.standard_normal((20, 3)), rng.standard_normal((20, 4)), 0.1 * rng.standard_normal((3, 4))


def test_adafactor_on_a_matrix_by_hand_is_torchs_factored_step():
    """scale_by_adafactor driven by hand on a 3×4 matrix factors its second moment (rows and columns) as
    torch does for a 2-D parameter: the same iterates as torch.optim.Adafactor on that matrix."""
    X, Y, W0 = _matrix_problem()
    with torch_default_dtype(torch.float64):
        w = torch.tensor(W0, requires_grad=True)
        topt = torch.optim.Adafactor([w], lr=0.03)
        opt = chain(scale_by_adafactor(), scale_by_lr(lambda t: min(0.03, 1 / math.sqrt(t + 1))))
        W, state = W0.copy(), opt.init(W0)
        assert state.states[0].row_var.shape == (3, 1) and state.states[0].col_var.shape == (1, 4)   # factored
        for _ in range(STEPS):
            topt.zero_grad()
            torch.mean((torch.tensor(X) @ w - torch.tensor(Y)) ** 2).backward()
            topt.step()
            u, state = opt.update(2 * X.T @ (X @ W - Y) / Y.size, state, W)
            W = W + u
            assert_allclose(W, w.detach().numpy(), rtol=RTOL64, atol=ATOL)
    assert np.linalg.norm(W - W0) > TRAVEL


def test_adafactor_through_the_torch_adapter_is_torchs_on_the_flattened_parameter():
    """gradstep.torch.Optimizer hands the transform one flat vector of all the parameters, so a 3×4 weight
    is not factored: the iterates are torch's Adafactor on the same weight as one 12-vector, and they are
    not torch's on the 3×4 matrix (factored second moment)."""
    from gradstep.torch import Optimizer

    X, Y, W0 = _matrix_problem()
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    with torch_default_dtype(torch.float64):
        w = torch.nn.Parameter(torch.tensor(W0))
        ours = Optimizer([w], adafactor(lr=0.03))
        v = torch.tensor(W0.reshape(-1), requires_grad=True)    # the flattened weight, torch's unfactored step
        flat = torch.optim.Adafactor([v], lr=0.03)
        m = torch.tensor(W0, requires_grad=True)                 # the matrix, torch's factored step
        factored = torch.optim.Adafactor([m], lr=0.03)
        for _ in range(STEPS):
            for opt, loss in ((ours, torch.mean((Xt @ w - Yt) ** 2)), (flat, torch.mean((Xt @ v.view(3, 4) - Yt) ** 2)),
                              (factored, torch.mean((Xt @ m - Yt) ** 2))):
                opt.zero_grad()
                loss.backward()
                opt.step()
    assert w.shape == (3, 4)
    assert_allclose(w.detach().numpy().reshape(-1), v.detach().numpy(), rtol=RTOL64, atol=ATOL)
    assert np.max(np.abs(w.detach().numpy() - m.detach().numpy())) > 1e-4
