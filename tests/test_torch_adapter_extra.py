"""The torch adapter drives transforms that evaluate the loss at other points (L-BFGS, a line search) through
the closure of ``step(closure)``, as ``torch.optim.LBFGS`` does: the same iterates as torch's own."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from gradstep.optim import make_optimizer  # noqa: E402
from gradstep.torch import Optimizer  # noqa: E402


def _model() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()


def _closure(model, opt, X, y):
    def closure():
        opt.zero_grad()
        loss = ((model(X).squeeze(1) - y) ** 2).mean()
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_through_the_adapter_is_torchs(line_search_fn):
    torch.manual_seed(0)
    X = torch.randn(40, 3, dtype=torch.float64)
    y = torch.sin(X @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    settings = {"max_iter": 3, "history_size": 4, "line_search_fn": line_search_fn}
    ours, theirs = _model(), _model()
    opt = Optimizer(ours.parameters(), make_optimizer("lbfgs", 1.0, settings))
    ref = torch.optim.LBFGS(theirs.parameters(), lr=1.0, **settings)   # lr 1: the Wolfe search moves the step
    for _ in range(6):
        opt.step(_closure(ours, opt, X, y))
        ref.step(_closure(theirs, ref, X, y))
        for a, b in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert opt.history.n_steps == 6


def test_a_transform_that_needs_the_loss_asks_for_a_closure():
    model = _model()
    opt = Optimizer(model.parameters(), make_optimizer("lbfgs", 1.0))
    model(torch.ones(2, 3, dtype=torch.float64)).sum().backward()
    with pytest.raises(ValueError, match="step\\(closure\\)"):
        opt.step(loss=1.0)
