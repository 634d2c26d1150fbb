r"""Compiled per-sample and mini-batch epochs for linear and logistic models on NumPy data.

An epoch of mini-batch descent is a few arithmetic operations per row; run as
NumPy calls from Python, each step costs microseconds of overhead whatever the
batch size. :class:`CompiledEpochs` makes all the updates of one epoch in one
call of a function compiled by Numba (cached on disk, so a new process does not
compile again) and hands their rows to :func:`gradstep.loop.run`, which keeps
every rule of the run (stopping, divergence messages, the epoch loss, the
history): it is an ``epoch_runner`` for the one loop, not a second loop.

The compiled step is the plain step written out element by element, in the
same order of operations: for a batch :math:`B` of :math:`m` rows (row order
from :func:`gradstep.data.batching.epoch_order`),

* squared error (:class:`~gradstep.objectives.SquaredError`, any convention and
  number of outputs): :math:`R = X_B W + b - Y_B`,
  :math:`f = \tfrac{c}{2} \sum_i w_i R_i^2`, :math:`\nabla_W f = c\, X_B^\top (w \circ R)`
  with :math:`c` the convention's scale for ``m`` rows;
* logistic loss (:class:`~gradstep.objectives.LogisticLoss`): the stable forms of
  :mod:`gradstep.objectives.logistic`,
  :math:`\ell = -y \log\sigma(z) - (1-y)\log\sigma(-z)`,
  :math:`\sigma(z) - y = (1-y)\,\sigma(z) - y\,\sigma(-z)`;
* then the penalty on ``W`` (with an L1 part, the minimum-norm subgradient of
  :meth:`~gradstep.objectives.penalties.Penalty.add_grad`, whose norm the record keeps),
  the clipping (by value, then by norm), weight decay,
  the optimiser (SGD with momentum, dampening or Nesterov, AdaGrad, RMSProp plain,
  with momentum or centred, Adam or AMSGrad) and :math:`\theta \leftarrow \theta - \eta_t u`
  with the learning rates :math:`\eta_t` of the schedule, evaluated in Python for
  the steps of the epoch;
* with an L1 part, the plain steps (SGD, momentum, Nesterov) are the proximal steps of
  :func:`~gradstep.optim.proximal.l1_step` with Tsuruoka's cumulative truncation, as
  the estimators build them for mini-batches: the chain above runs on the smooth part's
  gradient (:func:`~gradstep.optim.proximal.smooth_gradient`), then the coefficients are
  truncated towards 0 by the cumulative penalty (``u`` and ``q`` of :class:`L1StepState`,
  carried from call to call). The adaptive optimisers take the subgradient as it is.

Same iterates: the matrix products call the BLAS routines NumPy's ``@`` calls
for the same shapes (a dot product for one row, ``gemv`` / ``gemm`` for more),
and the sums are NumPy's pairwise sums, so squared error gives the plain path's
numbers to the last bit in float64; the logistic loss agrees to about 1e-15
(NumPy's own ``exp`` and ``log1p`` round a few results differently from the C
library's), float32 to float32 rounding. The optimiser state is read from the
transform's state and written back in the same structure, so ``partial_fit``
and ``warm_start`` continue either path from either.

The compiled code is :mod:`gradstep.kernels._loops_numba` (Numba is imported
with it, on the first run that uses it): one function per dtype for every loss
and optimiser, about 0.1 µs per shuffled per-sample step at 20 features. This
module is the Python side: which runs it can make (:func:`epoch_runner`), the
optimiser's numbers (:func:`optimizer_spec`), the learning rates of an epoch
(:func:`learning_rates`), and the state read in and written back (:class:`CompiledEpochs`).

Anything else (a user-supplied transform, torch tensors, softmax, a callback,
full batches, FISTA, Numba missing) is left to the plain loop: :func:`epoch_runner`
answers ``None``. Switch the compiled path off with ``ENABLED = False`` or the
environment variable ``GRADSTEP_COMPILED=0``.

Examples
--------
>>> import numpy as np
>>> from gradstep import LinearRegression
>>> from gradstep.kernels import loops
>>> X = np.arange(8.0).reshape(4, 2); y = X @ np.array([1.0, -1.0]) + 0.5
>>> fast = LinearRegression(batch_size=1, lr=0.01, epochs=3, tol=None, random_state=0).fit(X, y)
>>> loops.ENABLED = False                      # the plain loop, step by step in Python
>>> plain = LinearRegression(batch_size=1, lr=0.01, epochs=3, tol=None, random_state=0).fit(X, y)
>>> loops.ENABLED = True
>>> plain.history_.meta["compiled"], bool(np.array_equal(fast.history_.params, plain.history_.params))
(False, True)
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batching import Batches, epoch_order
from ..loop import EpochSteps
from ..objectives import LogisticLoss, SquaredError
from ..optim import alias
from ..optim.base import ChainState, EmptyState, find_states
from ..optim.proximal import L1StepState
from ..optim.schedules import as_schedule, constant
from ..optim.transforms import (
    ScaleByAdagradState,
    ScaleByAdamState,
    ScaleByLrState,
    ScaleByRmsState,
    TraceState,
)
from . import _compiling

# ---------------------------------------------------------------------------------------------- configuration
# the optimisers' kinds and the slots of the configuration arrays handed to the kernel
PLAIN, ADAGRAD, RMSPROP, ADAM = range(4)
SQUARED, LOGISTIC = range(2)

(I_LOSS, I_K, I_INTERCEPT, I_OPT, I_TRACE, I_NESTEROV, I_CENTERED, I_AMSGRAD, I_CLIP_VALUE, I_CLIP_NORM,
 I_DECAY, I_L1, I_L2, I_WEIGHTED, I_RECORD, I_GTOL, I_AVERAGE, I_RECORD_FIRST, I_PROX, I_LEN) = range(20)
# I_RECORD: keep θ every this many steps (0: none), from the step I_RECORD_FIRST of the call on;
# I_PROX: the plain step is a proximal L1 step with cumulative truncation (l1_step(..., cumulative=True))
(F_SCALE, F_SCALE_LAST, F_L1, F_L2, F_CLIP_NORM, F_GTOL, F_BETA1, F_BETA2, F_LEN) = range(9)
(T_ZERO, T_ONE, T_L1, T_L2, T_CLIP_LO, T_CLIP_HI, T_DECAY, T_MOMENTUM, T_DAMPED, T_EPS, T_ALPHA, T_ONE_ALPHA,
 T_ONE_BETA1, T_BETA2, T_ONE_BETA2, T_SCALE, T_SCALE_LAST, T_LEN) = range(18)
# why the kernel stopped before the end of the epoch (the names run() reads, in EpochSteps.halt)
GO, MAX_STEPS, GRADIENT, PARAMETERS = range(4)
HALTS = (None, "max_steps", "gradient", "parameters")

COMPILE_SECONDS = 15
"""About how long the first run after an install compiles the kernel for one dtype (measured: 14.8 s on
2 cores); :mod:`._compiling` says so on stderr before it starts, and later processes load it from the cache."""

ENABLED = True
"""Module switch: ``False`` sends every run through the plain loop (as ``GRADSTEP_COMPILED=0`` does)."""


def epoch_runner_available() -> bool:
    """True when compiled epochs may run: Numba is installed, :data:`ENABLED`, and ``GRADSTEP_COMPILED``
    is not ``0``. Numba itself is imported with the kernel (:mod:`gradstep.kernels._loops_numba`),
    on the first run that uses it."""
    if not ENABLED or os.environ.get("GRADSTEP_COMPILED", "1").strip() == "0":
        return False
    return importlib.util.find_spec("numba") is not None


@dataclass(frozen=True)
class OptimizerSpec:
    """The numbers of a named optimiser chain, as :func:`gradstep.optim.make_optimizer` builds it.

    ``kind`` is one of ``PLAIN`` (SGD, momentum, Nesterov), ``ADAGRAD``, ``RMSPROP``, ``ADAM``;
    ``trace`` says whether a momentum buffer follows it (SGD's or RMSProp's); ``l1`` > 0: the chain
    is wrapped in a proximal L1 step (:func:`gradstep.optim.proximal.l1_step`, as ``make_optimizer``
    wraps the plain steps when given ``l1``), whose state :class:`L1StepState` holds the chain's.
    """

    kind: int
    schedule: Any
    weight_decay: float = 0.0
    trace: bool = False
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    eps: float = 0.0
    alpha: float = 0.0
    centered: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    amsgrad: bool = False
    clip_value: float | None = None
    clip_norm: float | None = None
    l1: float = 0.0

    def leaf_states(self) -> list[type]:
        """The state types of the chain, in order (a check that the transform is the one described); those
        inside the proximal step's :class:`L1StepState` when there is one (see :func:`_leaves`)."""
        clips = [EmptyState] * ((self.clip_value is not None) + (self.clip_norm is not None))
        if self.kind == PLAIN:
            body = [EmptyState] * bool(self.weight_decay) + [TraceState] * self.trace
        else:
            middle = {ADAGRAD: ScaleByAdagradState, RMSPROP: ScaleByRmsState, ADAM: ScaleByAdamState}[self.kind]
            body = [EmptyState, middle] + [TraceState] * self.trace
        return clips + body + [ScaleByLrState]


def optimizer_spec(optimizer: Any, lr: Any, optimizer_params: Mapping[str, Any] | None,
                   clip_value: float | None, clip_norm: float | None, l1: float = 0.0) -> OptimizerSpec | None:
    """The :class:`OptimizerSpec` of ``make_optimizer(optimizer, lr, optimizer_params, clip_value, clip_norm,
    l1=l1, ...)``: with ``l1`` > 0, the plain steps (SGD, momentum, Nesterov) are proximal ones
    (:data:`gradstep.optim.alias.PROXIMAL`), the adaptive ones are left as they are.

    ``None`` when ``optimizer`` is not a name of :data:`gradstep.optim.OPTIMIZERS` (a
    transform given by the user is opaque: it runs in the plain loop), or is FISTA. The arguments are
    taken to be valid: the plain transform is built (and checks them) first.
    """
    if not isinstance(optimizer, str) or optimizer.lower() not in alias.OPTIMIZERS:
        return None
    factory = alias.OPTIMIZERS[optimizer.lower()]
    kw = {p.name: p.default for p in inspect.signature(factory).parameters.values()}
    kw.update(optimizer_params or {})
    if lr is not None:
        kw["lr"] = lr
    clips = {"clip_value": None if clip_value is None else float(clip_value),
             "clip_norm": None if clip_norm is None else float(clip_norm)}
    schedule = as_schedule(kw["lr"])
    decay = float(kw.get("weight_decay", 0.0))
    if factory in (alias.sgd, alias.momentum, alias.nesterov):
        nesterov = bool(kw.get("nesterov", factory is alias.nesterov))
        mom, damp = float(kw["momentum"]), float(kw.get("dampening", 0.0))
        return OptimizerSpec(PLAIN, schedule, decay, bool(mom or nesterov), mom, damp, nesterov, **clips,
                             l1=float(l1) if factory in alias.PROXIMAL else 0.0)
    if factory is alias.adagrad:
        if float(kw["lr_decay"]):
            schedule = alias._AdagradDecay(schedule, float(kw["lr_decay"]))
        return OptimizerSpec(ADAGRAD, schedule, decay, eps=float(kw["eps"]), **clips)
    if factory is alias.rmsprop:
        mom = float(kw["momentum"])
        return OptimizerSpec(RMSPROP, schedule, decay, bool(mom), mom, eps=float(kw["eps"]),
                             alpha=float(kw["alpha"]), centered=bool(kw["centered"]), **clips)
    if factory is alias.adam:
        b1, b2 = kw["betas"]
        return OptimizerSpec(ADAM, schedule, decay, eps=float(kw["eps"]), betas=(float(b1), float(b2)),
                             amsgrad=bool(kw["amsgrad"]), **clips)
    return None


def _leaves(state: Any) -> list:
    """The leaf states of a chain, in order; of a proximal step's (:class:`L1StepState`), those of the chain
    it wraps (its own ``u`` and ``q`` are checked and carried apart)."""
    if isinstance(state, ChainState):
        return [leaf for sub in state.states for leaf in _leaves(sub)]
    if isinstance(state, L1StepState):
        return _leaves(state.inner)
    return [state]


def _replace(state: Any, new: dict[type, Any]) -> Any:
    """``state`` with each leaf of a type in ``new`` replaced (the chain's structure kept); a proximal
    step's ``u`` and ``q`` from ``new[L1StepState]`` (its ``inner`` ignored), around the chain's."""
    if isinstance(state, ChainState):
        return ChainState(tuple(_replace(sub, new) for sub in state.states))
    if isinstance(state, L1StepState):
        outer = new.get(L1StepState, state)
        return L1StepState(_replace(state.inner, new), outer.u, outer.q)
    return new.get(type(state), state)


def learning_rates(schedule: Any, first: int, n: int) -> np.ndarray:
    r""":math:`\eta_t` for ``t = first, ..., first + n - 1`` as :func:`~gradstep.optim.scale_by_lr` takes them.

    A constant (and AdaGrad's decay of one) is filled in with the same float operations;
    any other schedule is called once per step.

    Examples
    --------
    >>> from gradstep.optim import schedules
    >>> learning_rates(schedules.step(1.0, step_size=2, gamma=0.5), 1, 3).tolist()
    [1.0, 0.5, 0.5]
    """
    if isinstance(schedule, constant):
        return np.full(n, float(schedule.lr))
    if isinstance(schedule, alias._AdagradDecay) and isinstance(schedule.lr, constant):
        return float(schedule.lr.lr) / (1 + np.arange(first, first + n, dtype=np.int64) * schedule.lr_decay)
    return np.fromiter((float(schedule(t)) for t in range(first, first + n)), dtype=np.float64, count=n)


# ---------------------------------------------------------------------------------------------- the runner
class CompiledEpochs:
    """An epoch runner (:class:`gradstep.loop.EpochRunner`) for a linear or logistic model on NumPy rows.

    Built by :func:`epoch_runner`, which checks that the run is one it makes exactly. The
    kernel reads the run's settings from three arrays: ``icfg`` (switches and sizes, slots
    ``I_*``), ``fcfg`` (numbers used in float64, slots ``F_*``) and ``tcfg`` (numbers that meet
    the parameters, in their dtype as NumPy casts a Python float, slots ``T_*``).

    Parameters
    ----------
    objective : SquaredError or LogisticLoss
    batches : Batches
        Mini-batches (or single rows) of NumPy float32 or float64 arrays.
    spec : OptimizerSpec
        The optimiser chain's numbers.
    averager : object, optional
        :class:`gradstep.models.base.Averager` (``start``, ``rows``, ``count``, ``mean``), advanced
        after each update as the loop's callback would.
    """

    def __init__(self, objective: Any, batches: Batches, spec: OptimizerSpec, averager: Any = None) -> None:
        from . import (
            _loops_numba,  # compiled on first use, then loaded from the disk cache
        )

        self._kernel = _loops_numba
        self._announced = False
        self.objective, self.batches, self.spec, self.averager = objective, batches, spec, averager
        X = np.ascontiguousarray(batches.X)
        self.dtype = X.dtype
        self.X, self.Y = X, np.ascontiguousarray(batches.Y, dtype=X.dtype)
        self.w = np.empty(0, X.dtype) if batches.w is None else np.ascontiguousarray(batches.w, dtype=X.dtype)
        n, bs = X.shape[0], batches.size
        self._rows = np.arange(n, dtype=np.int64)
        self._drawn: tuple[int, np.ndarray] | None = None
        last = n - (batches.steps_per_epoch - 1) * bs
        p = objective.n_params
        self.n_params = p
        icfg = np.zeros(I_LEN, np.int64)
        fcfg = np.zeros(F_LEN, np.float64)
        icfg[I_LOSS] = LOGISTIC if isinstance(objective, LogisticLoss) else SQUARED
        icfg[I_K], icfg[I_INTERCEPT] = objective.n_outputs, bool(objective.fit_intercept)
        if icfg[I_LOSS] == SQUARED:  # the gradient's scale for m rows (its value's is half of it)
            fcfg[F_SCALE], fcfg[F_SCALE_LAST] = objective.curvature(bs), objective.curvature(last)
        pen = objective.penalty
        l1, l2 = (float(pen.l1), float(pen.l2)) if pen.active else (0.0, 0.0)
        icfg[I_L1], icfg[I_L2], fcfg[F_L1], fcfg[F_L2] = bool(l1), bool(l2), l1, l2
        icfg[I_OPT], icfg[I_TRACE], icfg[I_NESTEROV] = spec.kind, spec.trace, spec.nesterov
        icfg[I_CENTERED], icfg[I_AMSGRAD], icfg[I_DECAY] = spec.centered, spec.amsgrad, bool(spec.weight_decay)
        icfg[I_PROX] = bool(spec.l1)  # the same λ1 as the penalty's: make_optimizer(l1=objective.penalty.l1)
        icfg[I_CLIP_VALUE], icfg[I_CLIP_NORM] = spec.clip_value is not None, spec.clip_norm is not None
        icfg[I_WEIGHTED] = batches.w is not None
        fcfg[F_CLIP_NORM] = spec.clip_norm or 0.0
        fcfg[F_BETA1], fcfg[F_BETA2] = spec.betas
        cv = spec.clip_value or 0.0
        b1, b2 = spec.betas
        tcfg = np.zeros(T_LEN, np.float64)
        tcfg[[T_ZERO, T_ONE, T_L1, T_L2, T_CLIP_LO, T_CLIP_HI, T_DECAY, T_MOMENTUM, T_DAMPED, T_EPS, T_ALPHA,
              T_ONE_ALPHA, T_ONE_BETA1, T_BETA2, T_ONE_BETA2, T_SCALE, T_SCALE_LAST]] = [
            0.0, 1.0, l1, l2, -cv, cv, spec.weight_decay, spec.momentum, 1 - spec.dampening, spec.eps, spec.alpha,
            1 - spec.alpha, 1 - b1, b2, 1 - b2, fcfg[F_SCALE], fcfg[F_SCALE_LAST]]
        self.icfg, self.fcfg, self.tcfg = icfg, fcfg, tcfg.astype(X.dtype)  # Python floats meet arrays in their dtype
        k = objective.n_outputs
        self._scratch = (np.zeros(p, X.dtype), np.zeros((bs, X.shape[1]), X.dtype), np.zeros(bs * k, X.dtype),
                         np.zeros(bs * k, X.dtype), np.zeros(max(p, bs * k), X.dtype), np.zeros(1, X.dtype))

    def _order(self, epoch: int) -> np.ndarray:
        """The shuffled rows of ``epoch`` (:func:`~gradstep.data.batching.epoch_order`), drawn once for all the
        pieces the loop runs it in."""
        if self._drawn is None or self._drawn[0] != epoch:
            self._drawn = (epoch, epoch_order(self.batches.n_samples, epoch, self.batches.seed))
        return self._drawn[1]

    def __call__(self, params: Any, state: Any, epoch: int, *, start: int = 0, max_steps: int | None = None,
                 gtol: float | None = None, record_params: Any = True) -> EpochSteps:
        """Make the updates of ``epoch`` from its batch ``start`` on, from ``params`` and ``state``
        (neither is modified).

        ``record_params``: a :class:`gradstep.param_rows.KeepParams` (θ of the steps it names only, so that a
        bounded record never holds a whole epoch's path; it is advanced past the steps made), or a
        bool (every step's θ, or none)."""
        b, spec, dt = self.batches, self.spec, self.dtype
        p = self.n_params
        left = b.steps_per_epoch - start
        n_steps = left if max_steps is None else min(left, max_steps)
        order = self._order(epoch) if b.shuffle else self._rows
        order = order[start * b.size:] if start else order
        lr_state = find_states(state, ScaleByLrState)[-1]
        lrs = learning_rates(spec.schedule, lr_state.count, n_steps)
        theta = np.array(params, dtype=dt, copy=True)
        empty = np.zeros(0, dt)
        counts = np.zeros(2, np.int64)  # the momentum buffer's and Adam's update counts
        trace = s1 = s2 = s3 = q = empty
        u = np.zeros(1)  # the proximal step's cumulative penalty u (a float64, as the state's Python float)
        if spec.l1:
            u[0], q = state.u, np.array(state.q, dt, copy=True)
        traces = find_states(state, TraceState)
        if traces:
            counts[0], trace = traces[0].count, np.array(traces[0].trace, dt, copy=True)
        if spec.kind == ADAGRAD:
            s1 = np.array(find_states(state, ScaleByAdagradState)[0].sum_of_squares, dt, copy=True)
        elif spec.kind == RMSPROP:
            rms = find_states(state, ScaleByRmsState)[0]
            s1, s2 = np.array(rms.square_avg, dt, copy=True), np.array(rms.grad_avg, dt, copy=True)
        elif spec.kind == ADAM:
            st = find_states(state, ScaleByAdamState)[0]
            counts[1] = st.count
            s1, s2, s3 = (np.array(a, dt, copy=True) for a in (st.nu, st.mu, st.nu_max))
        icfg, fcfg = self.icfg.copy(), self.fcfg.copy()
        every, first = _keep(record_params)
        icfg[I_RECORD], icfg[I_RECORD_FIRST], icfg[I_GTOL] = every, first, gtol is not None
        fcfg[F_GTOL] = 0.0 if gtol is None else float(gtol)
        avg = np.zeros(3, np.int64)  # start, rows, count
        mean = empty
        a = self.averager
        if a is not None:
            icfg[I_AVERAGE] = 1
            avg[:] = a.start, a.rows, a.count
            mean = np.zeros(p, dt) if a.mean is None else np.array(a.mean, dt, copy=True)
        loss, gnorm = np.empty(n_steps), np.empty(n_steps)
        path = np.empty((max(0, -(-(n_steps - first) // every)) if every else 0, p), dt)
        args = ((self.X, self.Y, self.w, order), n_steps, b.size,
                (theta, np.negative(lrs).astype(dt, copy=False), lrs), (icfg, fcfg, self.tcfg),
                (trace, s1, s2, s3, counts, avg, mean, q, u), (loss, gnorm, path), self._scratch)
        if not self._announced:   # once a fit: a cold cache means seconds of silence otherwise
            self._announced = True
            _compiling.announce(self._kernel._epoch, args, "the SGD loops", COMPILE_SECONDS)
        done, halt, halt_loss, halt_gnorm = self._kernel._epoch(*args)
        new: dict[type, Any] = {}
        if done:
            new[ScaleByLrState] = ScaleByLrState(lr_state.count + done, float(lrs[done - 1]))
            if spec.l1:
                new[L1StepState] = L1StepState(None, float(u[0]), q)
            if traces:
                new[TraceState] = TraceState(int(counts[0]), trace)
            if spec.kind == ADAGRAD:
                new[ScaleByAdagradState] = ScaleByAdagradState(s1)
            elif spec.kind == RMSPROP:
                new[ScaleByRmsState] = ScaleByRmsState(s1, s2)
            elif spec.kind == ADAM:
                new[ScaleByAdamState] = ScaleByAdamState(int(counts[1]), s2, s1, s3)
        if a is not None:
            a.rows, a.count = int(avg[1]), int(avg[2])
            a.mean = mean if a.count else None
        if hasattr(record_params, "advance"):
            record_params.advance(done)
        kept = max(0, -(-(done - first) // every)) if every else 0
        return EpochSteps(theta if done else params, _replace(state, new) if done else state,
                          loss[:done], gnorm[:done], lrs[:done], path[:kept] if record_params else None,
                          HALTS[halt], float(halt_loss), float(halt_gnorm))


def _keep(record_params: Any) -> tuple[int, int]:
    """``(every, first)`` of a runner's ``record_params``: a :class:`gradstep.param_rows.KeepParams`, or a bool."""
    if hasattr(record_params, "every"):
        return int(record_params.every), int(record_params.first)
    return int(bool(record_params)), 0



def _cumulative(state: L1StepState, dtype: Any, p: int) -> bool:
    """Whether a proximal step's ``state`` is the cumulative truncation's, for ``p`` parameters of ``dtype``."""
    return isinstance(state.u, float) and isinstance(state.q, np.ndarray) and state.q.dtype == dtype and \
        state.q.shape == (p,)


def epoch_runner(objective: Any, batches: Any, optimizer: Any, lr: Any, optimizer_params: Mapping[str, Any] | None,
                 clip_value: float | None, clip_norm: float | None, state: Any,
                 averager: Any = None, block: bool = False) -> CompiledEpochs | None:
    """A :class:`CompiledEpochs` for this run, or ``None`` when the plain loop must run it.

    Compiled: mini-batches (any size below the number of rows) of NumPy float32 / float64
    rows, a :class:`~gradstep.objectives.SquaredError` or
    :class:`~gradstep.objectives.LogisticLoss` objective, a named optimiser (``lr`` a
    number or a schedule) whose ``state`` has the structure its chain gives. ``block=True``: the
    rows are one block of a longer epoch (:class:`gradstep.models.streaming.StreamEpochs`), so a
    block of a single batch is compiled too.

    With an L1 term in the objective the transform is taken to be the estimators':
    ``make_optimizer(..., l1=objective.penalty.l1, mask=1 on the coefficients and 0 on the intercept,
    cumulative=True)``; the plain steps' ``state`` is then an :class:`L1StepState` with the cumulative
    penalty (``q`` an array: the exact soft-thresholding of full batches is left to the plain loop).
    """
    if not epoch_runner_available() or type(objective) not in (SquaredError, LogisticLoss):
        return None
    if not isinstance(batches, Batches) or (batches.full_batch and not block):
        return None
    arrays = [a for a in (batches.X, batches.Y, batches.w) if a is not None]
    if not all(isinstance(a, np.ndarray) for a in arrays):
        return None
    dt = batches.X.dtype
    if dt not in (np.float32, np.float64) or any(a.dtype != dt for a in arrays) or batches.Y.ndim != 2:
        return None
    spec = optimizer_spec(optimizer, lr, optimizer_params, clip_value, clip_norm, objective.penalty.l1)
    if spec is None or [type(s) for s in _leaves(state)] != spec.leaf_states():
        return None
    p = objective.n_params
    if isinstance(state, L1StepState) != bool(spec.l1) or (spec.l1 and not _cumulative(state, dt, p)):
        return None
    for leaf in _leaves(state):
        for v in leaf:
            if not isinstance(v, (int, float)) and not (isinstance(v, np.ndarray) and v.dtype == dt and v.shape == (p,)):
                return None
    if averager is not None and averager.mean is not None and not isinstance(averager.mean, np.ndarray):
        return None
    return CompiledEpochs(objective, batches, spec, averager)
