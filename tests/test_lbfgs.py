"""L-BFGS (``optimizer="lbfgs"``) against ``torch.optim.LBFGS`` in float64, 100 steps, on the bowl, Rosenbrock and
the regression objective of ``tests/test_optim_torch.py``, with and without ``line_search_fn="strong_wolfe"``, at
torch's defaults and at non-default settings.

A gradstep step is one ``LBFGS.step(closure)`` (up to ``max_iter`` inner iterations). The two sides share only
the problem: torch's gradients come from autograd, gradstep's from the hand-written NumPy gradient, and the
inner evaluations from the loop's ``value_and_grad_fn``.

How near is near: where L-BFGS amplifies rounding (Rosenbrock at lr = 1 with no line search, a short history on
the bowl), torch's own iterates move by up to 1e-8 relative when ``x0`` moves by one ulp, and no other
implementation can agree to 1e-12 there. Each comparison is therefore to ``max(1e-12, 10 × that spread)``
relative, the spread measured here by running torch again from ``x0 (1 + 2⁻⁵²)``; for most settings the spread
is below 1e-13 and the bound is 1e-12. Components are compared relative to the largest component of the
iterate, so a component crossing 0 is held to the iterate's scale.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from test_optim_torch import PROBLEMS, _regression_data, _rosen_fun, _rosen_grad

from gradstep import minimize
from gradstep.data.batching import Batches
from gradstep.loop import StopRule, run
from gradstep.objectives import SquaredError
from gradstep.optim import REGISTRY, make_optimizer

STEPS = 100
SETTINGS = {
    "default": {},
    "strong-wolfe": {"line_search_fn": "strong_wolfe"},
    "short-history": {"lr": 0.5, "max_iter": 5, "history_size": 3},
    "strong-wolfe-short": {"line_search_fn": "strong_wolfe", "max_iter": 4, "history_size": 2},
}


def torch_lbfgs(problem, steps: int = STEPS, **kw) -> np.ndarray:
    p = torch.tensor(problem.x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([p], **kw)

    def closure():
        opt.zero_grad()
        loss = problem.torch_loss(p)
        loss.backward()
        return loss

    path = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.step(closure)
        path.append(p.detach().numpy().copy())
    return np.array(path)


def gradstep_lbfgs(problem, steps: int = STEPS, **kw) -> np.ndarray:
    kw = dict(kw)
    opt = make_optimizer("lbfgs", kw.pop("lr", None), kw)
    x = problem.x0.copy()
    state, path = opt.init(x), [x]

    def value_and_grad(p):
        return problem.fun(p), problem.grad(p)

    for _ in range(steps):
        u, state = opt.update(problem.grad(x), state, x, value=problem.fun(x), value_fn=problem.fun,
                              value_and_grad_fn=value_and_grad)
        x = x + u
        path.append(x)
    return np.array(path)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference of an iterate relative to the iterate's largest component."""
    return float(np.max(np.abs(a - b).max(axis=1) / np.maximum(np.abs(b).max(axis=1), 1e-300)))


def tolerance(problem, **kw) -> float:
    """max(1e-12, 10 × how far torch's own iterates move when x0 moves by one ulp)."""
    spread = rel(torch_lbfgs(problem._replace(x0=problem.x0 * (1 + 2.0**-52)), **kw), torch_lbfgs(problem, **kw))
    return max(1e-12, 10 * spread)


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_iterates_match_torch_lbfgs(problem, setting):
    prob, kw = PROBLEMS[problem], SETTINGS[setting]
    expected = torch_lbfgs(prob, **kw)
    actual = gradstep_lbfgs(prob, **kw)
    assert np.all(np.isfinite(expected)) and np.linalg.norm(expected[-1] - expected[0]) > 0.1
    assert rel(actual, expected) <= tolerance(prob, **kw)


BENIGN = [("bowl", "default"), ("bowl", "strong-wolfe"), ("rosenbrock", "strong-wolfe"), ("regression", "default"),
          ("regression", "short-history"), ("regression", "strong-wolfe-short")]


@pytest.mark.parametrize("problem, setting", BENIGN)
def test_where_rounding_is_not_amplified_the_iterates_agree_to_1e_12(problem, setting):
    prob, kw = PROBLEMS[problem], SETTINGS[setting]
    assert rel(gradstep_lbfgs(prob, **kw), torch_lbfgs(prob, **kw)) <= 1e-12


def test_minimize_with_strong_wolfe_records_torchs_steps():
    prob = PROBLEMS["rosenbrock"]
    kw = {"line_search_fn": "strong_wolfe", "max_iter": 5}
    res = minimize(_rosen_fun, prob.x0, grad=_rosen_grad, optimizer="lbfgs", lr=1.0, optimizer_params=kw,
                   steps=8, gtol=None)
    expected = torch_lbfgs(prob, steps=8, **kw)
    assert res.nit == 8
    assert rel(res.history.path, expected) <= tolerance(prob, **kw)
    # the lr column: the last inner iteration's step length (0 where torch's line search kept its start)
    assert np.all(res.history.lr >= 0) and np.any(res.history.lr == 1.0)


def test_full_batch_regression_through_the_loop():
    X, y = _regression_data()
    prob = PROBLEMS["regression"]
    kw = {"line_search_fn": "strong_wolfe"}
    res = run(SquaredError(n_features=3, loss="mse"), prob.x0, make_optimizer("lbfgs", 1.0, kw),
              Batches(X, y[:, None]), StopRule(max_steps=3))
    assert rel(res.history.path, torch_lbfgs(prob, steps=3, **kw)) <= 1e-12
    # near the least-squares solution, where torch's tolerance_change (1e-9 on the loss) stops the iterations
    assert_allclose(res.x, np.linalg.lstsq(np.hstack([X, np.ones((50, 1))]), y, rcond=None)[0], rtol=1e-4)


def test_the_registry_names_torchs_class_and_settings():
    entry = REGISTRY["lbfgs"]
    p = [torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    expected = torch.optim.LBFGS(p, lr=0.5, history_size=7).defaults
    got = torch.optim.LBFGS(p, lr=0.5, **entry.settings({"history_size": 7})).defaults
    assert entry.torch == "LBFGS" and got == expected


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="line_search_fn"):
        make_optimizer("lbfgs", 1.0, {"line_search_fn": "armijo"})
    with pytest.raises(ValueError, match="history_size"):
        make_optimizer("lbfgs", 1.0, {"history_size": 0})
