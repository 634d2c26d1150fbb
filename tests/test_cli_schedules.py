"""``--schedule SPEC`` names torch's schedulers with their arguments in order: each spec's learning rates equal
``torch.optim.lr_scheduler``'s, and a command runs with them (its path is plain descent at those rates)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from gradstep.cli import app  # noqa: E402
from gradstep.cli.common import schedule  # noqa: E402

S = torch.optim.lr_scheduler
LR = 0.1
CASES = {
    "constant:0.5:3": lambda o: S.ConstantLR(o, factor=0.5, total_iters=3),
    "multistep:3,6:0.5": lambda o: S.MultiStepLR(o, milestones=[3, 6], gamma=0.5),
    "cosine_warm_restarts:5:2:0.01": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01),
    "linear:0.5:1:4": lambda o: S.LinearLR(o, start_factor=0.5, end_factor=1.0, total_iters=4),
    "polynomial:10:2": lambda o: S.PolynomialLR(o, total_iters=10, power=2.0),
    "one_cycle:40": lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=40),
    "cyclic:0.5:4:triangular2": lambda o: S.CyclicLR(o, base_lr=LR, max_lr=0.5, step_size_up=4, mode="triangular2",
                                                     cycle_momentum=False),
    "step:3:0.5": lambda o: S.StepLR(o, step_size=3, gamma=0.5),
}


def _torch_rates(make, n: int) -> list[float]:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    scheduler = make(opt)
    rates = []
    for _ in range(n):
        rates.append(scheduler.get_last_lr()[0])
        opt.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("spec", list(CASES))
def test_each_spec_gives_torchs_learning_rates(spec):
    got = schedule(spec, LR)
    want = _torch_rates(CASES[spec], 39)
    np.testing.assert_allclose([got(t) for t in range(39)], want, rtol=1e-12, atol=0)


def test_a_command_descends_at_the_specs_rates():
    out = CliRunner().invoke(app, ["minimize", "x**2", "--x0", "3", "--steps", "8", "--lr", "0.1",
                                   "--schedule", "multistep:3,6:0.5", "--json"])
    assert out.exit_code == 0, out.output
    path = np.array(json.loads(out.output)["path"], dtype=float).ravel()
    x, rates = 3.0, _torch_rates(CASES["multistep:3,6:0.5"], 8)
    for k, rate in enumerate(rates):        # the hand loop: x ← x − η_k · 2x
        assert path[k] == pytest.approx(x, rel=1e-15)
        x = x - rate * 2 * x
    assert path[-1] == pytest.approx(x, rel=1e-15)


def test_a_spec_that_is_not_understood_names_the_choices():
    out = CliRunner().invoke(app, ["minimize", "x**2", "--x0", "3", "--schedule", "multistep:3,six"])
    assert out.exit_code == 2
    assert "multistep:M1,M2" in out.output
