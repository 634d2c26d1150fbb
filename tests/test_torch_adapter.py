"""``gradstep.torch.Optimizer``: any ``nn.Module`` trained with a gradstep transform chain.

A two-layer MLP on iris (standardised, full batch, ``CrossEntropyLoss``, float64) from the
same ``torch.manual_seed`` initialisation, 200 steps: the adapter with ``gradstep.optim.adam``
against ``torch.optim.Adam``, and momentum with ``clip_by_norm`` against ``torch.optim.SGD``
with ``clip_grad_norm_``. The History it records is checked against the torch run too.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris
from torch import nn

from gradstep import History, optim
from gradstep.optim import ScaleByAdamState, find_states
from gradstep.torch import Optimizer

from devices import TORCH_DEVICES

STEPS = 200


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return torch.tensor(X), torch.tensor(y)


def mlp(dtype=torch.float64, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype)


def flat(model: nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def train(model, opt, data, steps=STEPS, before_step=None):
    """torch's closure loop; returns the losses and the global gradient norms seen by each step."""
    X, y = data
    crit = nn.CrossEntropyLoss()
    losses, norms = [], []
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = crit(model(X), y)
            loss.backward()
            norms.append(math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters())))
            if before_step is not None:
                before_step(model)
            return loss

        losses.append(float(opt.step(closure).detach()))
    return np.array(losses), np.array(norms)


# --------------------------------------------------------------------------- Adam
def test_mlp_with_gradstep_adam_equals_torch_adam(iris):
    ours, ref = mlp(), mlp()
    assert_array_equal(flat(ours), flat(ref))
    opt = Optimizer(ours.parameters(), optim.adam(lr=1e-2))
    losses, norms = train(ours, opt, iris)
    ref_losses, ref_norms = train(ref, torch.optim.Adam(ref.parameters(), lr=1e-2), iris)

    diff = max(float((a - b).detach().abs().max()) for a, b in zip(ours.parameters(), ref.parameters()))
    # asked for: 1e-6; measured: ~7e-16 (a few ulps), so the bound is set 4 orders above that
    assert diff <= 1e-12, diff
    assert float(np.max(np.abs(flat(ours) - flat(ref)))) == diff
    h = opt.history
    assert h.n_steps == STEPS and len(h) == STEPS
    assert_allclose(h.loss, ref_losses, rtol=1e-12)
    assert_allclose(h.loss, losses, rtol=0)  # the closure's own losses, as recorded
    assert ref_losses[-1] < 0.1 < ref_losses[0]  # it learnt something
    assert_allclose(h.grad_norm, ref_norms, rtol=1e-12)
    assert_allclose(h.grad_norm, norms, rtol=1e-14)  # the norm of the gradients the step was given
    assert_array_equal(h.lr, np.full(STEPS, 1e-2))
    assert_array_equal(h.column("step"), np.arange(STEPS))
    assert h.params is None  # record_params is off by default
    (adam,) = find_states(opt.transform_state, ScaleByAdamState)
    assert adam.count == STEPS and adam.mu.shape == (opt.n_params,) == (4 * 16 + 16 + 16 * 3 + 3,)


# --------------------------------------------------------------------------- momentum + clipping
@pytest.mark.parametrize("torch_clip", ["clip_grad_norm_", "exact"])
def test_momentum_with_clip_by_norm_equals_torch_sgd_with_clipping(iris, torch_clip):
    lr, mu, c = 0.05, 0.9, 0.1
    ours, ref = mlp(), mlp()
    opt = Optimizer(ours.parameters(), optim.chain(optim.clip_by_norm(c), optim.momentum(lr=lr, momentum=mu)))

    def clip(model):
        if torch_clip == "clip_grad_norm_":
            nn.utils.clip_grad_norm_(model.parameters(), c)  # grads *= min(1, c / (norm + 1e-6))
        else:
            n = math.sqrt(sum(float((p.grad**2).sum()) for p in model.parameters()))
            if n > c:  # gradstep's rule: grads *= c / norm
                for p in model.parameters():
                    p.grad.mul_(c / n)

    train(ours, opt, iris)
    _, ref_norms = train(ref, torch.optim.SGD(ref.parameters(), lr=lr, momentum=mu), iris, before_step=clip)
    clipped = int(np.sum(ref_norms > c))
    assert clipped >= 50  # the clipping matters for a good part of the run
    diff = float(np.max(np.abs(flat(ours) - flat(ref))))
    if torch_clip == "exact":
        assert diff <= 1e-12, diff
    else:
        # torch divides by norm + 1e-6: each clipped gradient (norm c) differs by at most
        # c * 1e-6 / norm <= 1e-6, and the momentum step passes a change of the gradient to the
        # parameters with total weight lr / (1 - mu): to first order the parameters can differ
        # by lr * 1e-6 * clipped / (1 - mu). Measured: a few 1e-7.
        bound = lr * 1e-6 * clipped / (1 - mu)
        assert 1e-12 < diff <= bound, (diff, bound)
    assert_array_equal(opt.history.lr, np.full(STEPS, lr))
    # the recorded norm is the one before clipping (the runs drift apart by ~1e-8 with torch's eps)
    assert_allclose(opt.history.grad_norm, ref_norms, rtol=1e-12 if torch_clip == "exact" else 1e-5)
    assert opt.history.grad_norm[0] == pytest.approx(ref_norms[0], rel=1e-14)


# --------------------------------------------------------------------------- the record
def test_record_params_schedule_and_step_without_closure(iris):
    model = mlp()
    p0 = flat(model)
    schedule = optim.schedules.cosine(0.1, T_max=10)
    opt = Optimizer(model.parameters(), optim.sgd(lr=schedule), record_params=True)
    X, y = iris
    crit = nn.CrossEntropyLoss()
    for k in range(10):
        opt.zero_grad()
        loss = crit(model(X), y)
        loss.backward()
        out = opt.step(loss=loss) if k < 5 else opt.step()  # no loss for the record: nan
        assert out is (loss if k < 5 else None)
        if k % 5 == 4:
            opt.record_epoch(float(crit(model(X), y).detach()))
    h = opt.history
    assert h.path.shape == (11, opt.n_params)
    assert_array_equal(h.path[0], p0)
    assert_array_equal(h.path[-1], flat(model))
    assert np.all(np.isfinite(h.loss[:5])) and np.all(np.isnan(h.loss[5:]))
    assert_allclose(h.lr, [schedule(k) for k in range(10)], rtol=1e-15)
    assert_array_equal(h.column("epoch"), [0] * 5 + [1] * 5)
    assert h.n_epochs == 2 and opt.epoch == 2


def test_history_given_and_float32_model(iris):
    X, y = iris
    ours, ref = mlp(torch.float32), mlp(torch.float32)
    history = History(record_params=False, meta={"run": "float32"})
    opt = Optimizer(ours.parameters(), optim.adam(lr=1e-2), history=history)
    assert opt.history is history and opt._dtype == torch.float32
    train(ours, opt, (X.float(), y), steps=50)
    train(ref, torch.optim.Adam(ref.parameters(), lr=1e-2), (X.float(), y), steps=50)
    assert all(p.dtype == torch.float32 for p in ours.parameters())
    # float32 arithmetic in a different order (torch fuses Adam's update): a few ulps of O(1) parameters
    assert_allclose(flat(ours), flat(ref), rtol=0, atol=1e-5)
    assert history.n_steps == 50 and history.meta["run"] == "float32"


# --------------------------------------------------------------------------- parameters without a gradient
def test_parameters_without_grad_are_skipped_as_torch_skips_them(iris):
    """A frozen layer (never a grad) and a parameter used only from step 100 on (grad None before)."""
    X, y = iris
    crit = nn.CrossEntropyLoss()

    def setup():
        model = mlp()
        model[0].bias.requires_grad_(False)  # frozen: in the optimiser, never a gradient
        extra = nn.Parameter(torch.ones(3, dtype=torch.float64))  # used only from step 100 on
        return model, extra, list(model.parameters()) + [extra]

    ours, ours_extra, ours_params = setup()
    ref, ref_extra, ref_params = setup()
    opt = Optimizer(ours_params, optim.adam(lr=1e-2))
    ref_opt = torch.optim.Adam(ref_params, lr=1e-2)
    frozen = ours[0].bias.detach().clone()
    for k in range(150):
        for model, extra, o in ((ours, ours_extra, opt), (ref, ref_extra, ref_opt)):
            o.zero_grad()
            out = model(X)
            loss = crit(out * extra if k >= 100 else out, y)
            loss.backward()
            o.step()
        if k == 99:  # not a single gradient yet: untouched, and its Adam moments still 0
            assert_array_equal(ours_extra.detach().numpy(), np.ones(3))
            (adam,) = find_states(opt.transform_state, ScaleByAdamState)
            assert not adam.mu[-3:].any() and not adam.nu[-3:].any()
            # the rest moved exactly as torch moved it
            assert_allclose(flat(ours), flat(ref), rtol=0, atol=1e-12)
    assert_array_equal(ours[0].bias.detach(), frozen)
    # The parameters that always had a gradient follow torch until `extra` joins; after that
    # torch bias-corrects `extra` with its own step count (1, 2, ...) and gradstep with the
    # global one (101, 102, ...): different by design, so `extra` is only checked to move.
    assert not torch.equal(ours_extra.detach(), torch.ones(3, dtype=torch.float64))


# --------------------------------------------------------------------------- torch's machinery
def test_state_dict_round_trip_continues_the_run_exactly(iris):
    straight = mlp()
    opt = Optimizer(straight.parameters(), optim.adam(lr=1e-2))
    train(straight, opt, iris, steps=60)

    first = mlp()
    opt1 = Optimizer(first.parameters(), optim.adam(lr=1e-2))
    train(first, opt1, iris, steps=30)
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)  # weights_only=True, torch's default: only tensors and numbers inside
    saved_model, saved_opt = saved["model"], saved["opt"]
    assert saved_opt["gradstep"]["epoch"] == 0 and len(saved_opt["gradstep"]["transform_state"]) == 6

    resumed = mlp(seed=1)
    resumed.load_state_dict(saved_model)
    opt2 = Optimizer(resumed.parameters(), optim.adam(lr=1e-2))
    opt2.load_state_dict(saved_opt)
    train(resumed, opt2, iris, steps=30)
    assert_array_equal(flat(resumed), flat(straight))
    assert_array_equal(opt2.history.loss, opt.history.loss[30:])  # a new history: the steps after the load

    with pytest.raises(ValueError, match="does not fit"):  # saved with Adam, loaded into momentum
        Optimizer(mlp().parameters(), optim.momentum(lr=0.1)).load_state_dict(saved_opt)


def test_hooks_zero_grad_and_refusals():
    w = nn.Parameter(torch.tensor([3.0, 2.0], dtype=torch.float64))
    opt = Optimizer([w], optim.sgd(lr=0.1))
    seen = []
    opt.register_step_post_hook(lambda o, args, kwargs: seen.append(o.history.n_steps))
    (w**2).sum().backward()
    opt.step()
    assert seen == [1] and w.detach().tolist() == [2.4, 1.6]
    opt.zero_grad()
    assert w.grad is None
    opt.step()  # nothing has a gradient: nothing moves, the row says so
    assert w.detach().tolist() == [2.4, 1.6] and opt.history.grad_norm[-1] == 0.0

    with pytest.raises(TypeError, match="GradientTransformation"):
        Optimizer([w], torch.optim.SGD)
    with pytest.raises(ValueError, match="one parameter group"):
        Optimizer([{"params": [w]}, {"params": [nn.Parameter(torch.zeros(1))]}], optim.sgd(lr=0.1))
    with pytest.raises(ValueError, match="one parameter group"):
        opt.add_param_group({"params": [nn.Parameter(torch.zeros(1))]})
    with pytest.raises(ValueError, match="more than once"), pytest.warns(UserWarning, match="duplicate"):
        Optimizer([w, w], optim.sgd(lr=0.1))
    with pytest.raises(ValueError, match="not both"):
        opt.step(lambda: None, loss=1.0)
    with pytest.raises(KeyError):  # torch's lr schedulers have no "lr" to drive: a loud failure
        torch.optim.lr_scheduler.StepLR(opt, step_size=1)


# --------------------------------------------------------------------------- on the parameters' device
def _states(state) -> list:
    """Every leaf of a transform state (NamedTuples and tuples, recursively)."""
    return [leaf for part in state for leaf in _states(part)] if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_flat_vectors_and_state_live_on_the_parameters_device_and_dtype(iris, device, dtype):
    """Adam with clipping on the device: every state array is a tensor there, and the run is torch's."""
    X, y = (t.to(device) for t in iris)
    X = X.to(dtype)
    ours, ref = mlp(dtype).to(device), mlp(dtype).to(device)
    opt = Optimizer(ours.parameters(), optim.chain(optim.clip_by_norm(10.0), optim.adam(lr=1e-2)), record_params=True)
    assert opt._flat_params().device == X.device and opt._flat_params().dtype == dtype
    train(ours, opt, (X, y), steps=20)
    train(ref, torch.optim.Adam(ref.parameters(), lr=1e-2), (X, y), steps=20)

    (adam,) = find_states(opt.transform_state, ScaleByAdamState)
    arrays = [leaf for leaf in _states(opt.transform_state) if not isinstance(leaf, (int, float))]
    assert len(arrays) == 3 and all(a is b for a, b in zip(arrays, (adam.mu, adam.nu, adam.nu_max)))
    for a in arrays:
        assert isinstance(a, torch.Tensor) and a.device == X.device and a.dtype == dtype and a.shape == (opt.n_params,)
    assert all(p.device == X.device and p.dtype == dtype for p in ours.parameters())
    # the same maths as torch.optim.Adam on the same device (the clip never acts: norms stay below 10)
    assert np.all(opt.history.grad_norm < 10.0)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    diff = max(float((a - b).detach().abs().max()) for a, b in zip(ours.parameters(), ref.parameters()))
    assert diff <= tol, diff
    # the record is NumPy, whatever the device
    h = opt.history
    assert isinstance(h.path, np.ndarray) and h.path.shape == (21, opt.n_params)
    assert_array_equal(h.path[-1], torch.cat([p.detach().reshape(-1) for p in ours.parameters()]).cpu().numpy())
    assert h.grad_norm.dtype == np.float64 and np.all(np.isfinite(h.loss))


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_state_dict_moves_between_the_cpu_and_the_device(iris, device):
    """Saved on the CPU, resumed on the device (and back): the leaves stay tensors and follow the parameters."""
    X, y = iris
    straight = mlp()
    train(straight, Optimizer(straight.parameters(), optim.adam(lr=1e-2)), iris, steps=20)

    first = mlp()
    opt1 = Optimizer(first.parameters(), optim.adam(lr=1e-2))
    train(first, opt1, iris, steps=10)
    buffer = io.BytesIO()
    torch.save(opt1.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    leaves = saved["gradstep"]["transform_state"]
    assert [type(leaf).__name__ for leaf in leaves] == ["int", "Tensor", "Tensor", "Tensor", "int", "float"]

    moved = mlp(seed=1).to(device)
    moved.load_state_dict(first.state_dict())
    opt2 = Optimizer(moved.parameters(), optim.adam(lr=1e-2))
    opt2.load_state_dict(saved)
    (adam,) = find_states(opt2.transform_state, ScaleByAdamState)
    assert adam.count == 10 and adam.mu.device == next(moved.parameters()).device
    train(moved, opt2, (X.to(device), y.to(device)), steps=5)
    moved.cpu()  # the model goes back: the next step moves the state with it
    train(moved, opt2, iris, steps=5)
    (adam,) = find_states(opt2.transform_state, ScaleByAdamState)
    assert adam.count == 20 and adam.mu.device == torch.device("cpu")
    assert_allclose(flat(moved), flat(straight), rtol=0, atol=1e-12)


def test_parameters_on_two_devices_are_refused():
    cpu = nn.Parameter(torch.zeros(2))
    meta = nn.Parameter(torch.zeros(3, device="meta"))
    with pytest.raises(ValueError, match=r"one device.*cpu, meta.*model\.to"):
        Optimizer([cpu, meta], optim.sgd(lr=0.1))
    # a parameter swapped for one on another device after the optimiser was built: the step refuses
    opt = Optimizer([cpu, nn.Parameter(torch.zeros(3))], optim.sgd(lr=0.1))
    opt.param_groups[0]["params"][1] = meta
    with pytest.raises(ValueError, match="one device.*cpu, meta"):
        opt.step()


@pytest.mark.parametrize("low", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_half_precision_parameters_compute_in_float32(device, low):
    """A float16/bfloat16 parameter next to a float32 one: float32 state, each parameter keeps its dtype."""
    w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=low, device=device))
    v = nn.Parameter(torch.tensor([0.5], dtype=torch.float32, device=device))
    opt = Optimizer([w, v], optim.momentum(lr=0.1, momentum=0.9))
    for _ in range(3):
        opt.zero_grad()
        ((w.float() ** 2).sum() + (v**2).sum()).backward()
        opt.step()
    assert w.dtype == low and v.dtype == torch.float32
    (trace,) = find_states(opt.transform_state, optim.TraceState)
    assert trace.trace.dtype == torch.float32 and trace.trace.device == w.device
    # the float32 state carries what the low-precision parameter cannot hold: the update of
    # step k is computed from the parameter read back in `low`, so compare with that loop
    x, b = torch.tensor([1.0, -2.0], dtype=low).float(), None
    for k in range(3):
        g = 2 * x
        b = g if k == 0 else 0.9 * b + g
        x = (x - 0.1 * b).to(low).float()
    assert_array_equal(w.detach().cpu().float().numpy(), x.numpy())
