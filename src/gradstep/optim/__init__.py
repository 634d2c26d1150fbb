"""Optimisers as composable ``(init, update)`` transforms, and learning-rate schedules.

Examples
--------
>>> import numpy as np
>>> from gradstep import optim
>>> opt = optim.chain(optim.clip_by_norm(1.0), optim.momentum(lr=optim.schedules.cosine(0.1, T_max=100)))
>>> state = opt.init(np.zeros(3))
"""

from . import schedules
from .alias import (
    OPTIMIZERS,
    REGISTRY,
    adagrad,
    adam,
    fista,
    make_optimizer,
    momentum,
    nesterov,
    rmsprop,
    sgd,
)
from .base import (
    ChainState,
    EmptyState,
    GradientTransformation,
    GradientTransformationExtraArgs,
    apply_updates,
    chain,
    find_states,
    global_norm,
    stateless,
)
from .lbfgs import lbfgs
from .linesearch import armijo, bb, polyak_step
from .projections import projected
from .proximal import accelerate, l1_step
from .schedules import (
    Schedule,
    as_schedule,
    constant,
    cosine,
    exponential,
    inverse_epochs,
    inverse_time,
)
from .transforms import (
    ScaleByAdagradState,
    ScaleByAdamState,
    ScaleByLrState,
    ScaleByRmsState,
    TraceState,
    add_decayed_weights,
    clip_by_norm,
    clip_by_value,
    identity,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_lr,
    scale_by_rms,
    trace,
)

step = schedules.step

__all__ = [  # issue 19 (step sizes, L-BFGS, projections): armijo, bb, lbfgs, polyak_step, projected
    "armijo",
    "bb",
    "lbfgs",
    "polyak_step",
    "projected",
    "OPTIMIZERS",
    "REGISTRY",
    "ChainState",
    "EmptyState",
    "GradientTransformation",
    "GradientTransformationExtraArgs",
    "ScaleByAdagradState",
    "ScaleByAdamState",
    "ScaleByLrState",
    "ScaleByRmsState",
    "Schedule",
    "TraceState",
    "accelerate",
    "adagrad",
    "adam",
    "add_decayed_weights",
    "apply_updates",
    "as_schedule",
    "chain",
    "clip_by_norm",
    "clip_by_value",
    "constant",
    "cosine",
    "exponential",
    "find_states",
    "fista",
    "global_norm",
    "identity",
    "inverse_epochs",
    "inverse_time",
    "l1_step",
    "make_optimizer",
    "momentum",
    "nesterov",
    "rmsprop",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_lr",
    "scale_by_rms",
    "schedules",
    "sgd",
    "stateless",
    "step",
    "trace",
]
