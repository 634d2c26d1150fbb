"""The layout of the settings the compiled epochs read: the Python side (:mod:`.loops`) writes it, the kernel
(:mod:`._loops_numba`) reads it, and neither imports the other for it.

The kernel takes its settings in three arrays: ``icfg`` (int64 switches and sizes, slots ``I_*``),
``fcfg`` (float64 numbers, slots ``F_*``) and ``tcfg`` (numbers that meet the parameters, in their
dtype, slots ``T_*``); each ``*_LEN`` is its array's length. It answers why it stopped with one of
the halt codes (``GO`` ... ``PARAMETERS``), named for :func:`gradstep.loop.run` by :data:`HALTS`.
"""

from __future__ import annotations

# the optimiser's scaling (I_OPT) and the loss (I_LOSS)
PLAIN, ADAGRAD, RMSPROP, ADAM = range(4)
SQUARED, LOGISTIC = range(2)

(I_LOSS, I_K, I_INTERCEPT, I_OPT, I_TRACE, I_NESTEROV, I_CENTERED, I_AMSGRAD, I_CLIP_VALUE, I_CLIP_NORM,
 I_DECAY, I_L1, I_L2, I_WEIGHTED, I_RECORD, I_GTOL, I_AVERAGE, I_RECORD_FIRST, I_PROX, I_LEN) = range(20)
# I_RECORD: keep θ every this many steps (0: none), from the step I_RECORD_FIRST of the call on;
# I_AVERAGE: advance the running mean of the iterates (averaged SGD);
# I_PROX: the plain step is a proximal L1 step with cumulative truncation (l1_step(..., cumulative=True))
(F_SCALE, F_SCALE_LAST, F_L1, F_L2, F_CLIP_NORM, F_GTOL, F_BETA1, F_BETA2, F_LEN) = range(9)
(T_ZERO, T_ONE, T_L1, T_L2, T_CLIP_LO, T_CLIP_HI, T_DECAY, T_MOMENTUM, T_DAMPED, T_EPS, T_ALPHA, T_ONE_ALPHA,
 T_ONE_BETA1, T_BETA2, T_ONE_BETA2, T_SCALE, T_SCALE_LAST, T_LEN) = range(18)

# why the kernel stopped before the end of the epoch, and the names run() reads (EpochSteps.halt)
GO, MAX_STEPS, GRADIENT, PARAMETERS = range(4)
HALTS = (None, "max_steps", "gradient", "parameters")
