"""Parity of AdamW, Adamax, NAdam and RAdam with ``torch.optim`` (issue 19, item 1).

Each optimiser runs with torch's defaults and with one set of non-default settings (amsgrad,
weight decay as an L2 term or decoupled, momentum_decay, betas) on the three problems of
``tests/test_optim_torch.py`` (the 5-D bowl of condition number 100, Rosenbrock from (-1.2, 1), least
squares with an intercept), 100 steps from the same start.

* float64: torch's iterates from autograd gradients, gradstep's from hand-written NumPy gradients
  (the two share only the problem data); every component of every iterate must satisfy
  ``|a - b| <= 1e-12 * |b| + 1e-14`` (``assert_same_path``): 1e-12 relative, with an absolute floor
  of 1e-14 for components that cross or settle near zero, where a relative measure means nothing
  and the two sides differ by the ulps (~1e-16) of the O(1) numbers that produced the component.
  torch keeps NAdam's :math:`\\prod\\mu_i` in its *default* dtype (float32 unless changed), which
  alone moves its float64 iterates by ~1e-9 relative: these runs set torch's default dtype to
  float64, the float64 computation throughout.
* float32: parameters, states and gradients in float32 on both sides; both are given the same
  gradient (the float64 gradient at the float32 iterate, rounded to float32), so what is compared is
  the optimisers' float32 arithmetic: ``|a - b| <= 1e-5 * max(|b|, 1)``.

Then the public paths: ``minimize(..., optimizer="nadam")`` and ``LinearRegression(optimizer="adamw",
batch_size=16)`` equal the transform driven by hand (and torch), a schedule's lr reaches the decoupled
decay as in torch, and the settings torch refuses are refused.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose, assert_array_equal
from test_optim_torch import (
    PROBLEMS,
    STEPS,
    Problem,
    _regression_data,
    _rosen_fun,
    _rosen_grad,
    assert_same_path,
    gradstep_path,
    torch_path,
)

from gradstep import LinearRegression, minimize
from gradstep.optim import (
    OPTIMIZERS,
    REGISTRY,
    ScaleByLrState,
    adamw,
    find_states,
    make_optimizer,
    nadam,
    schedules,
)

F32_TOL = 1e-5


class Config(NamedTuple):
    torch_name: str
    name: str  # gradstep.optim name
    kwargs: dict  # the same keywords on both sides (torch's names)


CONFIGS = {
    "adamw": Config("AdamW", "adamw", {}),
    "adamw-amsgrad-wd": Config("AdamW", "adamw", {"amsgrad": True, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    "adamax": Config("Adamax", "adamax", {}),
    "adamax-wd-betas-eps": Config("Adamax", "adamax", {"weight_decay": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
    "nadam": Config("NAdam", "nadam", {}),
    "nadam-l2": Config("NAdam", "nadam", {"weight_decay": 0.1}),
    "nadam-decoupled-momentum-decay": Config("NAdam", "nadam", {"weight_decay": 0.1, "decoupled_weight_decay": True,
                                                                 "momentum_decay": 0.01}),
    "radam": Config("RAdam", "radam", {}),
    "radam-l2": Config("RAdam", "radam", {"weight_decay": 0.1}),
    "radam-decoupled": Config("RAdam", "radam", {"weight_decay": 0.1, "decoupled_weight_decay": True,
                                                 "betas": (0.8, 0.99)}),
}

# One lr per optimiser for the three problems: the runs travel well away from x0 and stay finite.
# RAdam's first updates (while rho_t <= 5) are momentum steps lr * m_hat with no adaptive scaling,
# so its lr is that of a plain step on these gradients (|g| ~ 200 on Rosenbrock at x0).
LR = {"adamw": 0.05, "adamax": 0.05, "nadam": 0.05, "radam": 0.005}

configs = pytest.mark.parametrize("config", list(CONFIGS))
problems = pytest.mark.parametrize("problem", sorted(PROBLEMS))


@pytest.fixture
def torch_float64() -> Iterator[None]:
    """torch's default dtype float64 for the test (NAdam's mu_product is kept in it)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


# --------------------------------------------------------------------------- the registry
@configs
def test_the_registry_entry_builds_the_torch_optimiser(config):
    c = CONFIGS[config]
    entry = REGISTRY[c.name]
    p = [torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    expected = getattr(torch.optim, c.torch_name)(p, lr=0.1, **c.kwargs).defaults
    assert entry.torch == c.torch_name
    assert getattr(torch.optim, entry.torch)(p, lr=0.1, **entry.settings(c.kwargs)).defaults == expected


@pytest.mark.parametrize("name", ["adamw", "adamax", "nadam", "radam"])
def test_names_and_defaults_are_torchs(name):
    """Every argument of the torch class but its implementation switches, with torch's default."""
    entry = REGISTRY[name]
    switches = {"self", "params", "maximize", "foreach", "capturable", "differentiable", "fused"}
    torch_params = inspect.signature(getattr(torch.optim, entry.torch).__init__).parameters
    expected = {k: p.default for k, p in torch_params.items() if k not in switches}
    assert {"lr": entry.default_lr, **entry.defaults} == expected


# --------------------------------------------------------------------------- float64 parity
@problems
@configs
def test_float64_iterates_match_torch(problem, config, torch_float64):
    c, prob = CONFIGS[config], PROBLEMS[problem]
    lr = LR[c.name]
    expected = torch_path(prob, c.torch_name, lr, c.kwargs)
    actual = gradstep_path(prob, OPTIMIZERS[c.name](lr=lr, **c.kwargs))
    assert_same_path(actual, expected)


# --------------------------------------------------------------------------- float32 parity
def _f32_grad(prob: Problem, x: np.ndarray) -> np.ndarray:
    """The gradient both sides get at a float32 iterate: computed in float64, rounded to float32."""
    return prob.grad(x.astype(np.float64)).astype(np.float32)


def _torch_path_f32(prob: Problem, torch_name: str, lr: float, kwargs: dict) -> np.ndarray:
    p = torch.tensor(prob.x0, dtype=torch.float32)
    opt = getattr(torch.optim, torch_name)([p], lr=lr, **kwargs)
    path = [p.numpy().copy()]
    for _ in range(STEPS):
        p.grad = torch.from_numpy(_f32_grad(prob, p.numpy()))
        opt.step()
        path.append(p.numpy().copy())
    return np.array(path)


def _gradstep_path_f32(prob: Problem, opt) -> np.ndarray:
    x = prob.x0.astype(np.float32)
    s = opt.init(x)
    path = [x]
    for _ in range(STEPS):
        u, s = opt.update(_f32_grad(prob, x), s, x)
        x = x + u
        assert x.dtype == np.float32
        path.append(x)
    return np.array(path)


@problems
@configs
def test_float32_iterates_match_torch(problem, config):
    c, prob = CONFIGS[config], PROBLEMS[problem]
    lr = LR[c.name]
    expected = _torch_path_f32(prob, c.torch_name, lr, c.kwargs)
    actual = _gradstep_path_f32(prob, OPTIMIZERS[c.name](lr=lr, **c.kwargs))
    assert actual.dtype == expected.dtype == np.float32
    assert np.linalg.norm(expected[-1] - expected[0]) > 0.1
    assert np.all(np.abs(actual - expected) <= F32_TOL * np.maximum(np.abs(expected), 1.0))


# --------------------------------------------------------------------------- with a schedule
@pytest.mark.parametrize("config", ["adamw-amsgrad-wd", "nadam-decoupled-momentum-decay", "radam-decoupled",
                                    "adamax-wd-betas-eps"])
def test_a_schedule_reaches_the_step_and_the_decoupled_decay_as_in_torch(config, torch_float64):
    """torch decays by (1 - lr_t * weight_decay) with the scheduler's lr_t: so does the chain."""
    c, prob = CONFIGS[config], PROBLEMS["bowl"]
    lr = LR[c.name]
    expected = torch_path(prob, c.torch_name, lr, c.kwargs,
                          scheduler=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS))
    actual = gradstep_path(prob, OPTIMIZERS[c.name](lr=schedules.cosine(lr, T_max=STEPS), **c.kwargs))
    assert_same_path(actual, expected)


# --------------------------------------------------------------------------- the public paths
def test_minimize_with_nadam_is_the_transform_driven_by_hand(torch_float64):
    prob, lr, settings = PROBLEMS["rosenbrock"], LR["nadam"], {"momentum_decay": 0.01}
    res = minimize(_rosen_fun, prob.x0, optimizer="nadam", lr=lr, optimizer_params=settings,
                   steps=STEPS, grad=_rosen_grad)
    assert res.nit == STEPS
    assert_array_equal(res.history.path, gradstep_path(prob, nadam(lr=lr, **settings)))
    assert_same_path(res.history.path, torch_path(prob, "NAdam", lr, settings))
    assert_array_equal(res.history.lr, np.full(STEPS, lr))  # the lr column: the step's lr, as for Adam


def _batches(n: int, size: int) -> list[slice]:
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


def test_linear_regression_with_adamw_mini_batches_is_the_transform_driven_by_hand(torch_float64):
    """LinearRegression(optimizer="adamw", batch_size=16) in data order: the hand loop of the adamw chain on
    each batch's mean-squared-error gradient, and torch.optim.AdamW on the same batches."""
    X, y = _regression_data()
    lr, epochs, settings = 0.05, 4, {"weight_decay": 0.1, "amsgrad": True}
    model = LinearRegression(optimizer="adamw", lr=lr, optimizer_params=settings, batch_size=16, shuffle=False,
                             epochs=epochs, tol=None, gtol=None).fit(X, y)
    Xt = np.hstack([X, np.ones((len(X), 1))])  # θ = [w, b]
    opt, theta = adamw(lr=lr, **settings), np.zeros(4)
    state = opt.init(theta)
    p = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.AdamW([p], lr=lr, **settings)
    Xtt, yt = torch.from_numpy(Xt), torch.from_numpy(y)
    for _ in range(epochs):
        for b in _batches(len(y), 16):
            g = 2 / len(y[b]) * Xt[b].T @ (Xt[b] @ theta - y[b])
            u, state = opt.update(g, state, theta)
            theta = theta + u
            topt.zero_grad()
            F.mse_loss(Xtt[b] @ p, yt[b]).backward()
            topt.step()
    assert model.t_ == epochs * 4
    fitted = np.append(model.coef_, model.intercept_)
    assert_allclose(fitted, theta, rtol=1e-13)
    assert_allclose(fitted, p.detach().numpy(), rtol=1e-12)
    assert find_states(state, ScaleByLrState)[-1].count == model.t_


@pytest.mark.parametrize("name", ["adamw", "adamax", "nadam", "radam"])
def test_an_estimators_auto_lr_is_torchs_default_for_them(name):
    """lr="auto" is 1/L for steps in units of the gradient; these scale it, so they keep torch's default."""
    X, y = _regression_data()
    model = LinearRegression(optimizer=name, epochs=3, tol=None, gtol=None).fit(X, y)
    assert model.lr_ is None
    assert_array_equal(model.history_.lr, np.full(model.t_, REGISTRY[name].default_lr))


# --------------------------------------------------------------------------- settings torch refuses
INVALID = {
    "adamw-beta1-one": ("adamw", {"betas": (1.0, 0.999)}, r"betas\[0\]"),
    "adamax-beta2-negative": ("adamax", {"betas": (0.9, -0.1)}, r"betas\[1\]"),
    "adamax-betas-not-a-pair": ("adamax", {"betas": (0.9,)}, "betas must be a pair"),
    "nadam-negative-momentum-decay": ("nadam", {"momentum_decay": -0.1}, "momentum_decay"),
    "nadam-negative-eps": ("nadam", {"eps": -1e-8}, "eps"),
    "radam-negative-weight-decay": ("radam", {"weight_decay": -0.1}, "weight_decay"),
    "radam-beta2-one": ("radam", {"betas": (0.9, 1.0)}, r"betas\[1\]"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_settings_torch_refuses_are_refused(case):
    name, settings, message = INVALID[case]
    torch_name = REGISTRY[name].torch
    if len(settings.get("betas", (0, 0))) == 2:  # a betas of the wrong length is a torch IndexError
        with pytest.raises(ValueError):
            getattr(torch.optim, torch_name)([torch.zeros(2, requires_grad=True)], lr=0.1, **settings)
    with pytest.raises(ValueError, match=message):
        make_optimizer(name, lr=0.1, optimizer_params=settings)


@pytest.mark.parametrize("param", ["maximize", "foreach", "capturable", "differentiable", "fused"])
def test_torch_implementation_switches_are_not_parameters(param):
    with pytest.raises(ValueError, match=f"no parameter.*{param}"):
        make_optimizer("adamw", lr=0.1, optimizer_params={param: False})


@pytest.mark.parametrize("config", ["adamw-amsgrad-wd", "adamax", "nadam-decoupled-momentum-decay", "radam-l2"])
def test_torch_adapter_trains_a_module_as_torch_optim_does(config, torch_float64):
    """gradstep.torch.Optimizer with the chain against torch.optim on an MLP (its parameters as one vector)."""
    from sklearn.datasets import load_iris
    from torch import nn

    from gradstep.torch import Optimizer

    c = CONFIGS[config]
    X, y = (torch.tensor(a) for a in load_iris(return_X_y=True))
    X = (X - X.mean(dim=0)) / X.std(dim=0)

    def mlp() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)).to(torch.float64)

    ours, ref = mlp(), mlp()
    opts = [Optimizer(ours.parameters(), OPTIMIZERS[c.name](lr=1e-2, **c.kwargs)),
            getattr(torch.optim, c.torch_name)(ref.parameters(), lr=1e-2, **c.kwargs)]
    for model, opt in zip((ours, ref), opts):
        for _ in range(STEPS):
            opt.zero_grad()
            F.cross_entropy(model(X), y).backward()
            opt.step()
    a, b = (torch.cat([p.detach().reshape(-1) for p in m.parameters()]).numpy() for m in (ours, ref))
    assert np.linalg.norm(b - torch.cat([p.detach().reshape(-1) for p in mlp().parameters()]).numpy()) > 0.1
    assert np.all(np.abs(a - b) <= 1e-12 * np.maximum(np.abs(b), 1.0))
