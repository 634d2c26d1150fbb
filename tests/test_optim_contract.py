"""The optimiser contract table: every optimiser × objective × dtype, and the error messages.

Each optimiser in ``OPTIMIZERS`` (plus two clipping chains) runs on three objectives
(an ill-conditioned quadratic bowl, Rosenbrock, linear regression) in float32 and
float64, and must keep the invariants of the ``(init, update)`` contract:

* a learning rate of 0 leaves the parameters exactly where they are;
* the state keeps its structure (same NamedTuple types, nesting, array shapes and
  dtypes) across updates, and float32 stays float32;
* ``update`` is pure: it modifies none of its inputs;
* with a sensible learning rate the loss goes down (and on the bowl, the iterate
  reaches the closed-form minimiser ``A⁻¹b``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch

from gradstep.objectives import SquaredError
from gradstep.optim import (
    OPTIMIZERS,
    ChainState,
    GradientTransformation,
    ScaleByLrState,
    adagrad,
    adam,
    chain,
    clip_by_norm,
    clip_by_value,
    find_states,
    make_optimizer,
    momentum,
    nesterov,
    rmsprop,
    sgd,
)

DTYPES = [np.float32, np.float64]


# --------------------------------------------------------------------------- objectives
class Objective(NamedTuple):
    x0: np.ndarray  # in the dtype under test
    grad: Callable[[np.ndarray], np.ndarray]  # in the dtype under test
    loss: Callable[[np.ndarray], float]  # evaluated in float64
    minimiser: np.ndarray | None  # closed form, where there is one


def _bowl_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    A = q @ np.diag(np.logspace(0, 1, 5)) @ q.T  # eigenvalues 1 .. 10: ill-conditioned, yet
    A = (A + A.T) / 2  # plain GD can reach A⁻¹b in 200 steps
    return A, rng.standard_normal(5)


def _regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(50)
    return X, y[:, None]


def make_objective(name: str, dtype) -> Objective:
    if name == "bowl":
        A, b = _bowl_data()
        Ad, bd = A.astype(dtype), b.astype(dtype)
        return Objective(
            x0=np.array([1.0, -1.0, 2.0, 0.5, -0.5], dtype=dtype),
            grad=lambda x: Ad @ x - bd,
            loss=lambda x: float(0.5 * x @ A @ x - b @ x),
            minimiser=np.linalg.solve(A, b),
        )
    if name == "rosenbrock":
        def grad(p):
            x, y = p
            return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], dtype=p.dtype)

        return Objective(
            x0=np.array([-1.2, 1.0], dtype=dtype),
            grad=grad,
            loss=lambda p: float((1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2),
            minimiser=None,
        )
    if name == "regression":
        X, Y = _regression_data()
        obj = SquaredError(n_features=3, loss="mse")
        data = (X.astype(dtype), Y.astype(dtype))
        return Objective(
            x0=np.zeros(4, dtype=dtype),
            grad=lambda p: obj.value_and_grad(p, data)[1],
            loss=lambda p: obj.value(p, (X, Y)),
            minimiser=None,
        )
    raise KeyError(name)


OBJECTIVES = ["bowl", "rosenbrock", "regression"]


# --------------------------------------------------------------------------- optimisers
def build(name: str, lr) -> GradientTransformation:
    if name == "chain-clip-momentum":
        return chain(clip_by_value(2.0), clip_by_norm(1.0), momentum(lr=lr))
    if name == "make-clip-adam":
        return make_optimizer("adam", lr=lr, clip_value=10.0, clip_norm=5.0)
    return make_optimizer(name, lr=lr)


# L-BFGS evaluates the objective inside its step (GradientTransformationExtraArgs): its table is tests/test_lbfgs.py
NAMES = sorted(set(OPTIMIZERS) - {"lbfgs"}) + ["chain-clip-momentum", "make-clip-adam"]

# A stable learning rate per objective that makes real progress in 200 steps.
LR = {
    "bowl": {"gd": 0.1, "sgd": 0.1, "momentum": 0.03, "nesterov": 0.03, "adagrad": 0.5, "rmsprop": 0.03,
             "adam": 0.3, "fista": 0.1, "chain-clip-momentum": 0.03, "make-clip-adam": 0.3},
    "rosenbrock": {"gd": 1e-3, "sgd": 1e-3, "momentum": 1e-3, "nesterov": 1e-3, "adagrad": 0.5,
                   "rmsprop": 0.03, "adam": 0.1, "fista": 1e-3, "chain-clip-momentum": 3e-3, "make-clip-adam": 0.03},
    "regression": {"gd": 0.1, "sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.3,
                   "rmsprop": 0.03, "adam": 0.1, "fista": 0.1, "chain-clip-momentum": 0.03, "make-clip-adam": 0.1},
}
# issue 19, step sizes without a learning rate: BB's lr is only its first step (and its fallback)
for _objective, _lr in {"bowl": 0.1, "rosenbrock": 2e-3, "regression": 0.1}.items():   # BB is not monotone
    LR[_objective]["bb"] = _lr

# How close to A⁻¹b (relative) each optimiser gets on the bowl in 200 steps at LR["bowl"]:
# plain GD converges linearly at rate 9/11; heavy ball with μ = 0.9 only at about √0.9 per
# step; fixed-lr RMSprop and Adam hover around the minimum at a distance set by the lr; FISTA with
# restarts converges at least as fast as plain GD.
BOWL_RTOL = {"gd": 1e-8, "sgd": 1e-8, "nesterov": 1e-6, "adagrad": 1e-5, "fista": 1e-8}
BOWL_RTOL_SLOW = 1e-3
# float32 cannot do better than its rounding (eps ~1.2e-7) times the condition number (10).
FLOAT32_FLOOR = 1e-5

# issue 19, Adam's relatives (torch parity: tests/test_optim_adam_family.py). RAdam's first updates are
# unadapted momentum steps, hence its small lr on Rosenbrock. At a fixed lr NAdam hovers around the
# bowl's minimum (erratically above lr ~0.1), and AdamW's decoupled decay (0.01) moves its fixed point
# off A⁻¹b: both get within 1e-2.
for _objective, _lrs in {"bowl": {"adamw": 0.3, "adamax": 0.3, "nadam": 0.05, "radam": 0.3},
                         "rosenbrock": {"adamw": 0.1, "adamax": 0.1, "nadam": 0.1, "radam": 3e-3},
                         "regression": {"adamw": 0.1, "adamax": 0.1, "nadam": 0.03, "radam": 0.1}}.items():
    LR[_objective].update(_lrs)
BOWL_RTOL.update({"adamw": 1e-2, "nadam": 1e-2})
# Issue 19's classic torch algorithms (optim/classic.py). Adadelta's step starts at sqrt(eps) and grows as
# its accumulators fill, and Adafactor's relative step only decays as RMS(θ)/sqrt(t): in 200 steps at a
# fixed setting the first is within 20% of A⁻¹b and both within 30% of the least-squares loss (measured:
# 12% and 24%; 25% for Adafactor). Rprop's lr is its first step size, not a factor: see
# test_zero_lr_changes_nothing.
for _objective, _lrs in {"bowl": {"adadelta": 8.0, "asgd": 0.1, "rprop": 0.01, "adafactor": 1.0},
                         "rosenbrock": {"adadelta": 1.0, "asgd": 1e-3, "rprop": 0.01, "adafactor": 0.03},
                         "regression": {"adadelta": 5.0, "asgd": 0.1, "rprop": 0.01, "adafactor": 0.1}}.items():
    LR[_objective].update(_lrs)
BOWL_RTOL["adadelta"] = 0.2
REGRESSION_RTOL = {"adadelta": 0.3, "adafactor": 0.3}


# --------------------------------------------------------------------------- helpers
def structure(state: Any) -> Any:
    """The shape of a state: NamedTuple types and nesting, array shapes and dtypes, scalar types."""
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return (type(state), tuple(structure(s) for s in state))
    if isinstance(state, tuple):
        return (tuple, tuple(structure(s) for s in state))
    if isinstance(state, np.ndarray):
        return (np.ndarray, state.shape, state.dtype)
    return (type(state),)


def arrays_in(state: Any) -> list[np.ndarray]:
    if isinstance(state, np.ndarray):
        return [state]
    if isinstance(state, tuple):
        return [a for s in state for a in arrays_in(s)]
    return []


def run_steps(opt: GradientTransformation, obj: Objective, n: int):
    x = obj.x0.copy()
    state = opt.init(x)
    for _ in range(n):
        updates, state = opt.update(obj.grad(x), state, x)
        x = x + updates
    return x, state


table = pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
objectives = pytest.mark.parametrize("objective", OBJECTIVES)
names = pytest.mark.parametrize("name", NAMES)


# --------------------------------------------------------------------------- the contract table
@names
@objectives
@table
def test_zero_lr_changes_nothing(name, objective, dtype):
    obj = make_objective(objective, dtype)
    if name == "rprop":   # lr is the first step; the smallest step (1e-6 by default) is the one to set to 0
        opt = make_optimizer("rprop", lr=0.0, optimizer_params={"step_sizes": (0.0, 50.0)})
        x, state = run_steps(opt, obj, 20)
        assert np.array_equal(x, obj.x0) and not find_states(state, ScaleByLrState)   # no single lr
        return
    x, state = run_steps(build(name, 0.0), obj, 20)
    assert x.dtype == dtype
    assert np.array_equal(x, obj.x0)
    # the state still moved on (counters, momentum buffers, moments): only the lr is 0
    lr_state = find_states(state, ScaleByLrState)[-1]
    assert lr_state.count == 20
    assert lr_state.lr == 0.0


@names
@objectives
@table
def test_state_keeps_its_structure(name, objective, dtype):
    obj = make_objective(objective, dtype)
    opt = build(name, LR[objective][name])
    init = opt.init(obj.x0)
    assert isinstance(init, tuple) and hasattr(init, "_fields")  # a NamedTuple
    for n in (1, 20):
        x, state = run_steps(opt, obj, n)
        assert structure(state) == structure(init), f"after {n} updates"
        assert x.dtype == dtype
        updates, _ = opt.update(obj.grad(x), state, x)
        assert updates.dtype == dtype and updates.shape == x.shape
    for a in arrays_in(init):
        assert a.dtype == dtype and a.shape == obj.x0.shape


@names
@objectives
@table
def test_update_is_pure(name, objective, dtype):
    obj = make_objective(objective, dtype)
    opt = build(name, LR[objective][name])
    x = obj.x0.copy()
    x0_before = x.copy()
    state = opt.init(x)
    assert np.array_equal(x, x0_before)  # init does not touch params
    for _ in range(5):
        g = obj.grad(x)
        before = [a.copy() for a in (g, x, *arrays_in(state))]
        updates, new_state = opt.update(g, state, x)
        after = [g, x, *arrays_in(state)]
        for b, a in zip(before, after, strict=True):
            assert np.array_equal(a, b)
        # the new state holds no view of the caller's buffers (which the caller may reuse)
        for a in arrays_in(new_state):
            assert not np.shares_memory(a, g) and not np.shares_memory(a, x)
        x, state = x + updates, new_state


@names
@objectives
@table
def test_sensible_lr_lowers_the_loss(name, objective, dtype):
    obj = make_objective(objective, dtype)
    x, _ = run_steps(build(name, LR[objective][name]), obj, 200)
    assert x.dtype == dtype and np.all(np.isfinite(x))
    assert obj.loss(x.astype(np.float64)) < obj.loss(obj.x0.astype(np.float64))
    if obj.minimiser is not None:
        tol = BOWL_RTOL.get(name, BOWL_RTOL_SLOW)
        if dtype == np.float32:
            tol = max(tol, FLOAT32_FLOOR)
        err = np.linalg.norm(x.astype(np.float64) - obj.minimiser) / np.linalg.norm(obj.minimiser)
        assert err <= tol


@names
@table
def test_regression_reaches_the_least_squares_loss(name, dtype):
    obj = make_objective("regression", dtype)
    X, Y = _regression_data()
    Xt = np.hstack([X, np.ones((len(X), 1))])
    best = obj.loss(np.linalg.lstsq(Xt, Y[:, 0], rcond=None)[0])
    x, _ = run_steps(build(name, LR["regression"][name]), obj, 200)
    assert obj.loss(x.astype(np.float64)) == pytest.approx(best, rel=REGRESSION_RTOL.get(name, 1e-2))


# --------------------------------------------------------------------------- make_optimizer errors
def test_unknown_optimizer_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'") as err:
        make_optimizer("adamx", lr=0.1)
    for name in OPTIMIZERS:
        assert repr(name) in str(err.value)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_unknown_parameter_lists_the_accepted_ones(name):
    accepted = [p for p in inspect.signature(OPTIMIZERS[name]).parameters if p != "lr"]
    with pytest.raises(ValueError, match="bogus") as err:
        make_optimizer(name, lr=0.1, optimizer_params={"bogus": 1.0})
    for p in accepted:
        assert repr(p) in str(err.value)


@pytest.mark.parametrize("param", ["foreach", "maximize", "nesterov"])
def test_torch_only_parameter_of_adam_is_refused(param):
    with pytest.raises(ValueError, match=f"no parameter.*{param}"):
        make_optimizer("adam", lr=0.1, optimizer_params={param: True})


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_lr_inside_optimizer_params_is_refused_with_a_hint(name):
    with pytest.raises(ValueError, match=r"lr=\.\.\., not inside optimizer_params"):
        make_optimizer(name, optimizer_params={"lr": 0.1})


def test_optimizer_params_with_a_ready_transform_are_refused():
    with pytest.raises(ValueError, match="optimizer_params apply to a named optimizer"):
        make_optimizer(sgd(lr=0.1), optimizer_params={"momentum": 0.9})


# (gradstep call, the torch.optim call with the same settings or None, what the message names)
INVALID = {
    "sgd-negative-lr": (lambda: sgd(lr=-0.1), lambda p: torch.optim.SGD(p, lr=-0.1), r"lr.*-0\.1"),
    "adam-negative-lr": (lambda: make_optimizer("adam", lr=-1e-3), lambda p: torch.optim.Adam(p, lr=-1e-3),
                         r"lr.*-0\.001"),
    "adam-nan-lr": (lambda: adam(lr=float("nan")), None, r"lr.*nan"),
    "sgd-negative-momentum": (lambda: sgd(lr=0.1, momentum=-0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=-0.9),
                              r"momentum.*-0\.9"),
    "sgd-negative-weight-decay": (lambda: sgd(lr=0.1, weight_decay=-1.0),
                                  lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=-1.0), r"weight_decay.*-1\.0"),
    "sgd-nesterov-without-momentum": (lambda: sgd(lr=0.1, nesterov=True),
                                      lambda p: torch.optim.SGD(p, lr=0.1, nesterov=True), r"Nesterov.*momentum > 0"),
    "sgd-nesterov-with-dampening": (lambda: sgd(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
                                    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
                                    r"Nesterov.*dampening = 0"),
    "nesterov-alias-zero-momentum": (lambda: nesterov(lr=0.1, momentum=0.0), None, r"Nesterov.*momentum > 0"),
    "make-nesterov-without-momentum": (lambda: make_optimizer("sgd", lr=0.1, optimizer_params={"nesterov": True}),
                                       None, r"Nesterov"),
    "adam-beta1-one": (lambda: adam(betas=(1.0, 0.999)), lambda p: torch.optim.Adam(p, betas=(1.0, 0.999)),
                       r"betas\[0\].*1\.0"),
    "adam-beta1-negative": (lambda: adam(betas=(-0.1, 0.999)), lambda p: torch.optim.Adam(p, betas=(-0.1, 0.999)),
                            r"betas\[0\].*-0\.1"),
    "adam-beta2-above-one": (lambda: adam(betas=(0.9, 1.5)), lambda p: torch.optim.Adam(p, betas=(0.9, 1.5)),
                             r"betas\[1\].*1\.5"),
    "adam-betas-not-a-pair": (lambda: adam(betas=(0.9,)), None, r"betas must be a pair"),
    "adam-negative-eps": (lambda: adam(eps=-1e-8), lambda p: torch.optim.Adam(p, eps=-1e-8), r"eps.*-1e-08"),
    "adagrad-negative-lr-decay": (lambda: adagrad(lr_decay=-0.5), lambda p: torch.optim.Adagrad(p, lr_decay=-0.5),
                                  r"lr_decay.*-0\.5"),
    "adagrad-negative-initial-accumulator": (
        lambda: adagrad(initial_accumulator_value=-1.0),
        lambda p: torch.optim.Adagrad(p, initial_accumulator_value=-1.0), r"initial_accumulator_value.*-1\.0"),
    "rmsprop-negative-alpha": (lambda: rmsprop(alpha=-0.5), lambda p: torch.optim.RMSprop(p, alpha=-0.5),
                               r"alpha.*-0\.5"),
    "rmsprop-alpha-above-one": (lambda: rmsprop(alpha=1.5), None, r"alpha.*1\.5"),
    "rmsprop-negative-momentum": (lambda: rmsprop(momentum=-0.5), lambda p: torch.optim.RMSprop(p, momentum=-0.5),
                                  r"momentum.*-0\.5"),
    "clip-value-zero": (lambda: clip_by_value(0.0), None, r"clip_value must be > 0"),
    "clip-value-negative": (lambda: make_optimizer("sgd", lr=0.1, clip_value=-1.0), None, r"clip_value.*-1\.0"),
    "clip-norm-zero": (lambda: clip_by_norm(0.0), None, r"clip_norm must be > 0"),
    "clip-norm-negative": (lambda: make_optimizer("sgd", lr=0.1, clip_norm=-1.0), None, r"clip_norm.*-1\.0"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_hyper_parameters_raise_value_error(case):
    call, torch_call, message = INVALID[case]
    if torch_call is not None:  # torch refuses the same settings: the reference for "invalid"
        with pytest.raises(ValueError):
            torch_call([torch.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match=message):
        call()


def test_a_learning_rate_that_is_not_a_number_is_a_type_error():
    with pytest.raises(TypeError, match="lr must be a number or a schedule"):
        sgd(lr="fast")


# --------------------------------------------------------------------------- chain
@pytest.mark.parametrize("bad", [
    "adam",
    lambda g: g,
    (lambda p: (), lambda g, s, p=None: (g, s)),  # a plain tuple of two functions
    None,
])
def test_chain_of_non_transforms_is_a_type_error(bad):
    with pytest.raises(TypeError, match="argument 1 is .*not a GradientTransformation"):
        chain(sgd(lr=0.1), bad)


def test_chain_state_nests_its_parts_in_order():
    opt = chain(clip_by_value(1.0), clip_by_norm(1.0), momentum(lr=0.1))
    state = opt.init(np.zeros(3))
    assert isinstance(state, ChainState) and len(state.states) == 3
    parts = [clip_by_value(1.0), clip_by_norm(1.0), momentum(lr=0.1)]
    assert [structure(s) for s in state.states] == [structure(p.init(np.zeros(3))) for p in parts]
