"""Transforms that take the loop's extra arguments (optax's ``GradientTransformationExtraArgs``): the value at
the parameters and the objective on the same batch, as a line search or a schedule fed by the loss needs."""

from __future__ import annotations

import math

import numpy as np

from gradstep.data.batching import Batches
from gradstep.loop import StopRule, run
from gradstep.objectives import FunctionObjective, SquaredError
from gradstep.optim import GradientTransformation, GradientTransformationExtraArgs, chain, clip_by_norm, sgd
from gradstep.optim.transforms import ScaleByLrState


def _recording(seen: list) -> GradientTransformationExtraArgs:
    """-0.1 g, recording what the loop passed: the value, and the two functions evaluated at params."""

    def init(params):
        return ScaleByLrState(0, math.nan)

    def update(grads, state, params=None, *, value, value_fn, value_and_grad_fn):
        f, g = value_and_grad_fn(params)
        seen.append((value, value_fn(params), f, np.array(g), np.array(grads)))
        return -0.1 * grads, ScaleByLrState(state.count + 1, 0.1)

    return GradientTransformationExtraArgs(init, update)


def test_a_function_gets_its_value_and_gradient_at_each_iterate():
    seen: list = []
    obj = FunctionObjective(lambda x: float(x @ x), grad=lambda x: 2 * x)
    got = run(obj, np.array([3.0, 2.0]), chain(clip_by_norm(100.0), _recording(seen)), None, StopRule(max_steps=4))
    ref = run(obj, np.array([3.0, 2.0]), sgd(0.1), None, StopRule(max_steps=4))
    np.testing.assert_array_equal(got.x, ref.x)
    x = np.array([3.0, 2.0])
    for value, at, f, g, grads in seen:          # the hand loop: x ← 0.8 x, f = x·x, ∇f = 2x
        assert value == at == f == float(x @ x)
        np.testing.assert_array_equal(g, 2 * x)
        np.testing.assert_array_equal(grads, 2 * x)
        x = x - 0.1 * (2 * x)
    np.testing.assert_array_equal(got.history.lr, [0.1] * 4)


def test_a_model_gets_the_objective_on_the_batch_of_the_step():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(12, 2)), rng.normal(size=(12, 1))
    obj = SquaredError(2, 1)
    batches = Batches(X, Y, batch_size=4, shuffle=False)
    seen: list = []
    run(obj, np.zeros(obj.n_params), _recording(seen), batches, StopRule(max_epochs=1, divergence=None))
    theta = np.zeros(obj.n_params)
    for k, (value, at, f, g, grads) in enumerate(seen):
        np.testing.assert_array_equal(grads, g)
        rows = (X[4 * k:4 * k + 4], Y[4 * k:4 * k + 4])
        want, want_g = obj.value_and_grad(theta, rows)
        assert value == at == f == want
        np.testing.assert_array_equal(g, want_g)
        theta = theta - 0.1 * want_g


def test_chain_is_of_the_extra_kind_only_when_a_member_is():
    plain = chain(clip_by_norm(1.0), sgd(0.1))
    assert type(plain) is GradientTransformation
    assert isinstance(chain(plain, _recording([])), GradientTransformationExtraArgs)
