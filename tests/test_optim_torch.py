"""Parity of the gradstep optimisers with ``torch.optim`` (the issue's "Done when").

Every optimiser's iterates must match torch.optim's from the same start and settings,
to 1e-12 relative in float64, over 100 steps, on three objectives:

* an ill-conditioned quadratic bowl ``0.5 xᵀAx - bᵀx`` in 5-D (condition number 100);
* Rosenbrock ``(1-x)² + 100(y-x²)²`` from ``(-1.2, 1)``;
* linear regression, mean squared error with an intercept, on a seeded 50×3 ``X``.

The two sides share nothing but the problem data: torch gets its gradient from
autograd (``loss.backward()``) on float64 tensors and steps with ``torch.optim``;
gradstep gets a hand-written numpy gradient (or :class:`SquaredError`) and adds
``opt.update``'s updates. Schedules are checked against ``torch.optim.lr_scheduler``
(and scikit-learn's ``invscaling`` formula), clipping against ``torch.nn.utils``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose, assert_array_equal

from gradstep import minimize
from gradstep.data.batching import Batches
from gradstep.loop import StopRule, run
from gradstep.objectives import FunctionObjective, SquaredError
from gradstep.optim import OPTIMIZERS, REGISTRY, chain, clip_by_norm, clip_by_value, global_norm, schedules, sgd

STEPS = 100
RTOL = 1e-12
# Iterate components cross zero or settle near it (the bowl's minimiser has components
# of order 0.1 and the paths swing through 0); there a relative tolerance means nothing,
# and the two sides legitimately differ by a few ulps of the O(1) quantities that produced
# the component (~1e-16 absolute). 1e-14 absolute is far below 1e-12 relative for any
# component of size >= 0.01, so it only acts on those near-zero crossings.
ATOL = 1e-14


# --------------------------------------------------------------------------- problems
class Problem(NamedTuple):
    x0: np.ndarray
    grad: Callable[[np.ndarray], np.ndarray]  # numpy gradient (the gradstep side)
    fun: Callable[[np.ndarray], float]  # numpy value (for minimize / loop.run)
    torch_loss: Callable[[torch.Tensor], torch.Tensor]  # torch expression (the reference side)


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def _bowl() -> Problem:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    A = q @ np.diag(np.logspace(0, 2, 5)) @ q.T  # eigenvalues 1 .. 100
    A = (A + A.T) / 2  # exactly symmetric, so the gradient is A x - b
    b = rng.standard_normal(5)
    At, bt = _t(A), _t(b)
    return Problem(
        x0=np.array([1.0, -1.0, 2.0, 0.5, -0.5]),
        grad=lambda x: A @ x - b,
        fun=lambda x: float(0.5 * x @ A @ x - b @ x),
        torch_loss=lambda x: 0.5 * x @ (At @ x) - bt @ x,
    )


def _rosen_grad(p: np.ndarray) -> np.ndarray:
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])


def _rosen_fun(p: np.ndarray) -> float:
    x, y = p
    return float((1 - x) ** 2 + 100 * (y - x**2) ** 2)


def _rosenbrock() -> Problem:
    return Problem(
        x0=np.array([-1.2, 1.0]),
        grad=_rosen_grad,
        fun=_rosen_fun,
        torch_loss=lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
    )


def _regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(50)
    return X, y


def _regression() -> Problem:
    X, y = _regression_data()
    obj = SquaredError(n_features=3, loss="mse", fit_intercept=True)  # θ = [w1, w2, w3, b]
    Xt, yt = _t(X), _t(y)
    return Problem(
        x0=np.zeros(4),
        grad=lambda p: obj.value_and_grad(p, (X, y[:, None]))[1],
        fun=lambda p: obj.value(p, (X, y[:, None])),
        torch_loss=lambda p: F.mse_loss(Xt @ p[:3] + p[3], yt),
    )


PROBLEMS = {"bowl": _bowl(), "rosenbrock": _rosenbrock(), "regression": _regression()}

# Learning rates per torch optimiser and problem: large enough that 100 steps travel
# well away from x0, small enough to be stable (the bowl's largest eigenvalue is 100,
# Rosenbrock's Hessian at x0 has one of about 1330).
LR = {
    "bowl": {"SGD": 0.01, "Adagrad": 0.5, "RMSprop": 0.01, "Adam": 0.05},
    "rosenbrock": {"SGD": 1e-3, "Adagrad": 0.5, "RMSprop": 0.01, "Adam": 0.05},
    "regression": {"SGD": 0.1, "Adagrad": 0.5, "RMSprop": 0.01, "Adam": 0.05},
}


class Config(NamedTuple):
    torch_name: str  # torch.optim class
    torch_kwargs: dict
    name: str  # gradstep.optim.OPTIMIZERS name (also minimize's optimizer=)
    kwargs: dict  # gradstep hyper-parameters (torch names)


def _same(torch_name: str, name: str, **kw) -> Config:
    return Config(torch_name, kw, name, kw)


CONFIGS = {
    "sgd": _same("SGD", "sgd"),
    "sgd-momentum": _same("SGD", "sgd", momentum=0.9),
    "sgd-momentum-dampening": _same("SGD", "sgd", momentum=0.9, dampening=0.1),
    "sgd-nesterov": _same("SGD", "sgd", momentum=0.9, nesterov=True),
    "sgd-weight-decay": _same("SGD", "sgd", weight_decay=0.1),
    "alias-momentum": Config("SGD", {"momentum": 0.9}, "momentum", {}),
    "alias-momentum-0.5-wd": Config("SGD", {"momentum": 0.5, "weight_decay": 0.1}, "momentum",
                                    {"momentum": 0.5, "weight_decay": 0.1}),
    "alias-nesterov": Config("SGD", {"momentum": 0.9, "nesterov": True}, "nesterov", {}),
    "alias-nesterov-0.7": Config("SGD", {"momentum": 0.7, "nesterov": True}, "nesterov", {"momentum": 0.7}),
    "adagrad": _same("Adagrad", "adagrad"),
    "adagrad-lr-decay": _same("Adagrad", "adagrad", lr_decay=0.01),
    "adagrad-initial-accumulator": _same("Adagrad", "adagrad", initial_accumulator_value=0.1),
    "adagrad-weight-decay": _same("Adagrad", "adagrad", weight_decay=0.1),
    "rmsprop": _same("RMSprop", "rmsprop"),
    "rmsprop-momentum": _same("RMSprop", "rmsprop", momentum=0.9),
    "rmsprop-centered": _same("RMSprop", "rmsprop", centered=True),
    "rmsprop-centered-momentum": _same("RMSprop", "rmsprop", centered=True, momentum=0.9),
    "adam": _same("Adam", "adam"),
    "adam-amsgrad": _same("Adam", "adam", amsgrad=True),
    "adam-weight-decay": _same("Adam", "adam", weight_decay=0.1),
    "adam-betas": _same("Adam", "adam", betas=(0.8, 0.99)),
}


# --------------------------------------------------------------------------- the two loops
def torch_path(problem: Problem, torch_name: str, lr, torch_kwargs: dict, steps: int = STEPS,
               scheduler=None, clip_norm: float | None = None) -> np.ndarray:
    """Iterates x_0 .. x_steps of ``torch.optim.<torch_name>`` with autograd gradients (float64).

    ``lr`` is a number; ``scheduler(opt)`` builds a torch LR scheduler stepped after every
    ``opt.step()``; ``clip_norm`` calls ``clip_grad_norm_`` between ``backward`` and ``step``.
    """
    p = torch.tensor(problem.x0, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, torch_name)([p], lr=lr, **torch_kwargs)
    sched = scheduler(opt) if scheduler is not None else None
    path = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        loss = problem.torch_loss(p)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_([p], clip_norm)
        opt.step()
        if sched is not None:
            sched.step()
        path.append(p.detach().numpy().copy())
    return np.array(path)


def gradstep_path(problem: Problem, opt, steps: int = STEPS) -> np.ndarray:
    """Iterates x_0 .. x_steps of ``x = x + opt.update(grad(x), s, x)[0]``."""
    x = problem.x0.copy()
    s = opt.init(x)
    path = [x]
    for _ in range(steps):
        g = problem.grad(x)
        u, s = opt.update(g, s, x)
        x = x + u
        path.append(x)
    return np.array(path)


def assert_same_path(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert np.all(np.isfinite(expected))
    # the comparison means something only if the run went somewhere
    assert np.linalg.norm(expected[-1] - expected[0]) > 0.1
    assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- the registry's torch names
@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_registry_names_the_torch_optimiser_of_each_config(config):
    """gradstep.optim.REGISTRY's torch class and settings of a name build the torch optimiser written out
    by hand above, with the same settings (torch's ``defaults``)."""
    c = CONFIGS[config]
    entry = REGISTRY[c.name]
    p = [torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    expected = getattr(torch.optim, c.torch_name)(p, lr=0.1, **c.torch_kwargs).defaults
    assert entry.torch == c.torch_name
    assert getattr(torch.optim, entry.torch)(p, lr=0.1, **entry.settings(c.kwargs)).defaults == expected


def test_every_name_with_a_torch_counterpart_has_a_config():
    from test_optim_adam_family import CONFIGS as ADAM_FAMILY  # issue 19: their parity table is there
    from test_optim_classic import CONFIGS as CLASSIC  # adadelta, asgd, rprop, adafactor

    named = {c.name for c in (*CONFIGS.values(), *ADAM_FAMILY.values(), *CLASSIC.values())}
    # lbfgs: a step is torch's step(closure), compared in tests/test_lbfgs.py
    assert {name for name, e in REGISTRY.items() if e.torch is not None} - {"gd", "lbfgs"} == named
    assert REGISTRY["fista"].torch is None


# --------------------------------------------------------------------------- optimiser parity
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_iterates_match_torch_optim(problem, config):
    c, prob = CONFIGS[config], PROBLEMS[problem]
    lr = LR[problem][c.torch_name]
    expected = torch_path(prob, c.torch_name, lr, c.torch_kwargs)
    actual = gradstep_path(prob, OPTIMIZERS[c.name](lr=lr, **c.kwargs))
    assert_same_path(actual, expected)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_minimize_path_matches_torch_on_rosenbrock(config):
    """The public path: minimize(fun, x0, optimizer=name, ...) records torch's iterates."""
    c, prob = CONFIGS[config], PROBLEMS["rosenbrock"]
    lr = LR["rosenbrock"][c.torch_name]
    expected = torch_path(prob, c.torch_name, lr, c.torch_kwargs)
    res = minimize(_rosen_fun, prob.x0, optimizer=c.name, lr=lr, optimizer_params=c.kwargs,
                   steps=STEPS, grad=_rosen_grad)
    assert res.nit == STEPS
    assert_same_path(res.history.path, expected)
    assert_array_equal(res.x, res.history.path[-1])


@pytest.mark.parametrize("problem", ["bowl", "regression"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_loop_run_path_matches_torch(problem, config):
    """gradstep.loop.run with a function objective (bowl) or full-batch SquaredError data (regression)."""
    c, prob = CONFIGS[config], PROBLEMS[problem]
    lr = LR[problem][c.torch_name]
    expected = torch_path(prob, c.torch_name, lr, c.torch_kwargs)
    opt = OPTIMIZERS[c.name](lr=lr, **c.kwargs)
    if problem == "regression":
        X, y = _regression_data()
        res = run(SquaredError(n_features=3, loss="mse"), prob.x0, opt, Batches(X, y[:, None]),
                  StopRule(max_steps=STEPS))
    else:
        res = run(FunctionObjective(prob.fun, grad=prob.grad), prob.x0, opt, None, StopRule(max_steps=STEPS))
    assert res.nit == STEPS
    assert_same_path(res.history.path, expected)


# --------------------------------------------------------------------------- schedules
def _torch_lrs(make_scheduler, base_lr: float, n: int) -> list[float]:
    """The lr torch uses at each of n optimizer steps, the scheduler stepped after each step."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_scheduler(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros_like(p)
        opt.step()
        sched.step()
    return out


# torch's schedulers are recursive (lr *= gamma, cosine ratio updates); gradstep's are the
# closed forms: equal up to the rounding of ~50 chained multiplications, far below 1e-12.
SCHEDULES = {
    "step": (schedules.step(0.1, step_size=7, gamma=0.5),
             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5), 0.1, 50),
    "step-gamma-0.3": (schedules.step(2.0, step_size=3, gamma=0.3),
                       lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.3), 2.0, 50),
    "exponential": (schedules.exponential(0.1, gamma=0.93),
                    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.93), 0.1, 50),
    "cosine": (schedules.cosine(0.1, T_max=50),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50), 0.1, 51),
    "cosine-eta-min": (schedules.cosine(0.5, T_max=40, eta_min=0.01),
                       lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40, eta_min=0.01), 0.5, 41),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch_lr_scheduler(name):
    schedule, make_scheduler, base_lr, n = SCHEDULES[name]
    expected = _torch_lrs(make_scheduler, base_lr, n)
    actual = [schedule(count) for count in range(n)]
    # atol: cosine ends at exactly 0 = eta_min, where torch's recursion leaves ~1e-18
    assert_allclose(actual, expected, rtol=RTOL, atol=1e-15)


def test_cosine_stays_at_eta_min_after_t_max():
    """Documented difference from torch: after T_max gradstep holds eta_min (torch's cosine climbs back)."""
    s = schedules.cosine(0.5, T_max=10, eta_min=0.01)
    torch_lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 0.5, 11)
    assert_allclose(s(10), torch_lrs[10], rtol=RTOL)  # both reach eta_min at T_max
    assert all(s(k) == s(10) for k in range(11, 40))


@pytest.mark.parametrize("eta0, power_t", [(0.1, 0.25), (1.0, 0.5), (0.03, 1.0)])
def test_inverse_time_is_sklearn_invscaling(eta0, power_t):
    """scikit-learn's invscaling: eta = eta0 / t**power_t with t counted from 1 (first update t = 1)."""
    s = schedules.inverse_time(eta0, power_t=power_t)
    for count in range(50):
        t = count + 1
        assert s(count) == pytest.approx(eta0 / t**power_t, rel=RTOL)


def test_inverse_time_default_power_is_sklearns():
    from sklearn.linear_model import SGDRegressor

    assert schedules.inverse_time(0.1).power_t == SGDRegressor().power_t


SCHEDULED_RUNS = {
    "sgd-step": ("SGD", {}, "sgd", {}, lambda: schedules.step(0.01, step_size=10, gamma=0.5),
                 lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5), 0.01),
    "momentum-cosine": ("SGD", {"momentum": 0.9}, "momentum", {}, lambda: schedules.cosine(0.01, T_max=100),
                        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=100), 0.01),
    "adam-exponential": ("Adam", {}, "adam", {}, lambda: schedules.exponential(0.1, gamma=0.97),
                         lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.97), 0.1),
    "adam-cosine": ("Adam", {"amsgrad": True}, "adam", {"amsgrad": True},
                    lambda: schedules.cosine(0.1, T_max=100, eta_min=0.001),
                    lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=100, eta_min=0.001), 0.1),
}


@pytest.mark.parametrize("problem", ["bowl", "regression"])
@pytest.mark.parametrize("name", list(SCHEDULED_RUNS))
def test_scheduled_lr_matches_torch_scheduler(problem, name):
    torch_name, torch_kwargs, gs_name, gs_kwargs, schedule, make_scheduler, base_lr = SCHEDULED_RUNS[name]
    prob = PROBLEMS[problem]
    expected = torch_path(prob, torch_name, base_lr, torch_kwargs, scheduler=make_scheduler)
    actual = gradstep_path(prob, OPTIMIZERS[gs_name](lr=schedule(), **gs_kwargs))
    assert_same_path(actual, expected)


def test_scheduled_lr_through_minimize_matches_torch():
    prob = PROBLEMS["rosenbrock"]
    expected = torch_path(prob, "Adam", 0.05, {},
                          scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=20, gamma=0.5))
    res = minimize(_rosen_fun, prob.x0, optimizer="adam", lr=schedules.step(0.05, step_size=20, gamma=0.5),
                   steps=STEPS, grad=_rosen_grad)
    assert_same_path(res.history.path, expected)
    # the recorded lr column is the schedule torch used
    lrs = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=20, gamma=0.5), 0.05, STEPS)
    assert_allclose(res.history.lr, lrs, rtol=RTOL)


# --------------------------------------------------------------------------- clipping
def _norm(g: np.ndarray) -> float:
    """The L2 norm, summed exactly (math.fsum)."""
    return math.sqrt(math.fsum(float(v) ** 2 for v in g))


def _grads() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal(6) * scale for scale in (0.01, 0.3, 1.0, 5.0, 100.0)] + [
        np.array([3.0, -4.0]), np.array([0.0, 0.0, 0.0]), np.array([-1e3, 2.0, 0.5]),
    ]


@pytest.mark.parametrize("c", [0.1, 1.0, 2.5, 50.0])
def test_clip_by_value_matches_torch(c):
    t = clip_by_value(c)
    for g in _grads():
        tg = torch.tensor(g, dtype=torch.float64)
        tg.grad = tg.clone()
        torch.nn.utils.clip_grad_value_([tg], c)
        out, _ = t.update(g.copy(), t.init(np.zeros_like(g)), np.zeros_like(g))
        assert_array_equal(out, tg.grad.numpy())


@pytest.mark.parametrize("c", [0.1, 1.0, 2.5, 50.0])
def test_clip_by_norm_is_the_hand_formula(c):
    t = clip_by_norm(c)
    for g in _grads():
        out, _ = t.update(g.copy(), t.init(np.zeros_like(g)), np.zeros_like(g))
        norm = _norm(g)
        expected = g * min(1.0, c / norm) if norm > 0 else g
        assert_allclose(out, expected, rtol=1e-14, atol=0)
        if norm <= c:
            assert_array_equal(out, g)  # untouched below the threshold
        else:
            assert math.isclose(_norm(out), c, rel_tol=1e-14)


@pytest.mark.parametrize("c", [1.0, 2.5, 50.0])
def test_clip_by_norm_matches_torch_clip_grad_norm(c):
    t = clip_by_norm(c)
    for g in _grads():
        tg = torch.tensor(g, dtype=torch.float64)
        tg.grad = tg.clone()
        total = torch.nn.utils.clip_grad_norm_([tg], c)
        assert global_norm(g) == pytest.approx(float(total), rel=1e-14)
        out, _ = t.update(g.copy(), t.init(np.zeros_like(g)), np.zeros_like(g))
        # torch scales by c / (norm + 1e-6), gradstep by c / norm: when clipping (norm > c >= 1)
        # the two differ by a relative 1e-6 / (norm + 1e-6) < 1e-6; below c both leave g as it is.
        assert_allclose(out, tg.grad.numpy(), rtol=1e-6, atol=0)


def _n_clipped(problem: Problem, path: np.ndarray, c: float) -> int:
    return sum(_norm(problem.grad(x)) > c for x in path[:-1])


@pytest.mark.parametrize("problem, c", [("rosenbrock", 1.0), ("rosenbrock", 5.0), ("bowl", 1.0), ("regression", 1.0)])
def test_clipped_sgd_run_matches_torch(problem, c):
    """chain(clip_by_norm(c), sgd(lr)) against a torch loop: backward, clip_grad_norm_, SGD.step."""
    prob, lr = PROBLEMS[problem], 0.01
    actual = gradstep_path(prob, chain(clip_by_norm(c), sgd(lr=lr)))
    expected = torch_path(prob, "SGD", lr, {}, clip_norm=c)
    assert _n_clipped(prob, expected, c) >= 30  # clipping is what this run exercises
    assert np.linalg.norm(expected[-1] - expected[0]) > 0.1
    # torch scales by c / (n + 1e-6) instead of c / n: a clipped update lr * g * c / n changes by
    # lr * c * 1e-6 / (n + 1e-6) <= lr * 1e-6 in norm (n > c). These runs do not amplify such
    # perturbations, so after STEPS steps the paths differ by at most STEPS * lr * 1e-6.
    assert_allclose(actual, expected, rtol=0, atol=STEPS * lr * 1e-6)


# Momentum with norm-clipped (constant-length) steps on Rosenbrock amplifies ulp-level
# differences chaotically, so the exact-formula loops below use the bowl and regression.
@pytest.mark.parametrize("problem, c, momentum", [
    ("rosenbrock", 1.0, 0.0), ("rosenbrock", 5.0, 0.0), ("bowl", 1.0, 0.0), ("bowl", 5.0, 0.9),
    ("bowl", 1.0, 0.9), ("regression", 1.0, 0.0), ("regression", 1.0, 0.9),
])
def test_clipped_run_is_the_hand_formula_loop(problem, c, momentum):
    """chain(clip_by_norm(c), sgd(lr, momentum)) is the loop g <- g * min(1, c / ||g||); heavy ball; x -= lr b."""
    prob, lr = PROBLEMS[problem], 0.01
    actual = gradstep_path(prob, chain(clip_by_norm(c), sgd(lr=lr, momentum=momentum)))
    x, buf, path = prob.x0.copy(), None, [prob.x0.copy()]
    for _ in range(STEPS):
        g = prob.grad(x)
        g = g * min(1.0, c / _norm(g))
        if momentum:
            buf = g if buf is None else momentum * buf + g
            g = buf
        x = x - lr * g
        path.append(x)
    expected = np.array(path)
    assert _n_clipped(prob, expected, c) >= 10
    assert_same_path(actual, expected)
