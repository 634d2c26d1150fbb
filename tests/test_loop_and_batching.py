"""The one loop and the batch iterators, against hand-written references."""

from __future__ import annotations

import numpy as np
import pytest

from gradstep.data.batching import Batches, epoch_order, resolve_seed
from gradstep.loop import StopRule, run
from gradstep.objectives import FunctionObjective, SquaredError
from gradstep.optim import sgd


@pytest.mark.parametrize("n, bs", [(10, 3), (10, 10), (10, 1), (7, 100), (12, 4)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_each_epoch_covers_every_row_once_with_the_last_batch_kept(n, bs, shuffle):
    X = np.arange(n, dtype=float).reshape(-1, 1)
    b = Batches(X, X.copy(), bs, shuffle, seed=3)
    for epoch in range(3):
        batches = list(b.epoch(epoch))
        sizes = [len(Xb) for Xb, _ in batches]
        assert sizes == [min(bs, n - s) for s in range(0, n, bs)] if bs < n else sizes == [n]
        rows = np.concatenate([Xb[:, 0] for Xb, _ in batches])
        assert sorted(rows.tolist()) == list(range(n))
        for Xb, Yb in batches:
            np.testing.assert_array_equal(Xb, Yb)  # X and y stay paired
        if shuffle and bs < n:
            np.testing.assert_array_equal(rows, epoch_order(n, epoch, 3))
        elif bs < n:
            np.testing.assert_array_equal(rows, np.arange(n))


def test_epoch_order_depends_only_on_seed_and_epoch():
    a = [epoch_order(50, e, 9) for e in range(3)]
    assert all(np.array_equal(x, epoch_order(50, e, 9)) for e, x in enumerate(a))
    assert not np.array_equal(a[0], a[1])
    np.testing.assert_array_equal(a[1], np.random.default_rng([9, 1]).permutation(50))


def test_resolve_seed():
    assert resolve_seed(5) == 5
    assert isinstance(resolve_seed(None), int)
    assert resolve_seed(np.random.default_rng(0)) == np.random.default_rng(0).integers(2**32)
    with pytest.raises(ValueError):
        resolve_seed(-1)
    with pytest.raises(TypeError):
        resolve_seed("seed")


def test_batches_reject_bad_sizes():
    X = np.zeros((5, 1))
    with pytest.raises(ValueError, match="batch_size"):
        Batches(X, X, 0)
    with pytest.raises(ValueError, match="rows"):
        Batches(X, np.zeros((4, 1)), 2)


def test_max_steps_can_stop_inside_an_epoch():
    X = np.arange(10.0).reshape(-1, 1)
    obj = SquaredError(1, 1, "mse", False)
    res = run(obj, np.zeros(1), sgd(lr=1e-3), Batches(X, 2 * X, 3), StopRule(max_steps=5, max_epochs=10))
    assert res.nit == 5 and res.history.n_epochs == 1 and res.status == 1
    # the step budget ran out with no rule on: not a success (SciPy's maxiter), and the message says so
    assert not res.success and "completed the 5 steps asked for" in res.message


def test_stop_rule_validation():
    with pytest.raises(ValueError, match="limit"):
        StopRule()
    with pytest.raises(ValueError, match="tol"):
        StopRule(max_steps=1, tol=-1.0)
    with pytest.raises(ValueError, match="n_iter_no_change"):
        StopRule(max_steps=1, n_iter_no_change=0)


def test_a_step_of_size_zero_changes_nothing_and_non_finite_gradients_stop():
    obj = FunctionObjective(lambda x: float(x @ x), grad=lambda x: 2 * x)
    res = run(obj, np.array([1.0, 2.0]), sgd(lr=0.0), None, StopRule(max_steps=10))
    np.testing.assert_array_equal(res.x, [1.0, 2.0])
    bad = FunctionObjective(lambda x: 1.0, grad=lambda x: np.array([np.nan]))
    res = run(bad, np.array([1.0]), sgd(lr=0.1), None, StopRule(max_steps=10))
    assert res.status == 2 and not res.success and "gradient" in res.message


def test_mini_batch_divergence_is_caught_on_the_epoch_loss():
    X = np.linspace(0, 15, 40).reshape(-1, 1)
    obj = SquaredError(1, 1, "mse", True)
    res = run(obj, np.zeros(2), sgd(lr=0.02), Batches(X, 2 * X, 8, True, 0), StopRule(max_epochs=200))
    assert res.status == 2 and "diverged" in res.message
