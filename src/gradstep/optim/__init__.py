"""Optimisers as composable ``(init, update)`` transforms, and learning-rate schedules.

Examples
--------
>>> import numpy as np
>>> from gradstep import optim
>>> opt = optim.chain(optim.clip_by_norm(1.0), optim.momentum(lr=optim.schedules.cosine(0.1, T_max=100)))
>>> state = opt.init(np.zeros(3))
"""

from . import schedules
from .adam_family import (
    ScaleByAdamaxState,
    ScaleByNadamState,
    ScaleByRadamState,
    radam_rectification,
    scale_by_adamax,
    scale_by_nadam,
    scale_by_radam,
)
from .alias import (
    OPTIMIZERS,
    REGISTRY,
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    adamw,
    asgd,
    fista,
    make_optimizer,
    momentum,
    nadam,
    nesterov,
    radam,
    rmsprop,
    rprop,
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
from .classic import (
    AverageIteratesState,
    FactoredAdafactorState,
    ScaleByAdadeltaState,
    ScaleByAdafactorState,
    ScaleByRpropState,
    adafactor_step,
    add_decoupled_weight_decay,
    asgd_decay,
    average_iterates,
    scale_by_adadelta,
    scale_by_adafactor,
    scale_by_rprop,
)
from .lbfgs import lbfgs
from .linesearch import armijo, bb, polyak_step
from .plateau import ReduceOnPlateauState, reduce_on_plateau
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

__all__ = [
    # issue 19: Adam's relatives
    "ScaleByAdamaxState",
    "ScaleByNadamState",
    "ScaleByRadamState",
    "adamax",
    "adamw",
    "nadam",
    "radam",
    "radam_rectification",
    "scale_by_adamax",
    "scale_by_nadam",
    "scale_by_radam",
    # issue 19: step sizes, L-BFGS, projections
    "armijo",
    "bb",
    "lbfgs",
    "polyak_step",
    "projected",
    "OPTIMIZERS",
    "REGISTRY",
    "ReduceOnPlateauState",
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
    "reduce_on_plateau",
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
    # classic torch.optim algorithms (optim/classic.py)
    "AverageIteratesState",
    "FactoredAdafactorState",
    "ScaleByAdadeltaState",
    "ScaleByAdafactorState",
    "ScaleByRpropState",
    "adadelta",
    "adafactor",
    "adafactor_step",
    "add_decoupled_weight_decay",
    "asgd",
    "asgd_decay",
    "average_iterates",
    "rprop",
    "scale_by_adadelta",
    "scale_by_adafactor",
    "scale_by_rprop",
]
