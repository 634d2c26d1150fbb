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
optimiser's numbers (:func:`optimizer_spec`, read from the optimiser's entry of
:data:`gradstep.optim.REGISTRY`), the learning rates of an epoch (:func:`learning_rates`),
and the state read in and written back (:class:`CompiledEpochs`); the layout of the settings
both sides share is :mod:`gradstep.kernels._slots`. With averaging (scikit-learn's ``average``)
a call takes the running mean of the iterates and hands it back advanced (:class:`RunningMean`):
the estimator keeps it.

Anything else (a user-supplied transform, torch tensors, softmax, a callback,
full batches, FISTA, Numba missing) is left to the plain loop: :func:`epoch_runner`
answers ``None``. Switch the compiled path off with ``ENABLED = False`` or the
environment variable ``GRADSTEP_COMPILED=0`` (:mod:`gradstep.switches`).

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import switches
from ..data.batching import Batches, epoch_order
from ..loop import EpochSteps
from ..objectives import LogisticLoss, SquaredError
from ..optim.alias import REGISTRY
from ..optim.base import ChainState, EmptyState, find_states
from ..optim.proximal import L1StepState
from ..optim.registry import CompiledStep
from ..optim.schedules import adagrad_decay, as_schedule, constant
from ..optim.transforms import (
    ScaleByAdagradState,
    ScaleByAdamState,
    ScaleByLrState,
    ScaleByRmsState,
    TraceState,
)
from . import _compiling
from . import _slots as slot
from ._slots import ADAGRAD, ADAM, HALTS, LOGISTIC, PLAIN, RMSPROP, SQUARED

# ---------------------------------------------------------------------------------------------- configuration
KINDS = {"plain": PLAIN, "adagrad": ADAGRAD, "rmsprop": RMSPROP, "adam": ADAM}
"""The kernel's number (slot ``I_OPT``) of each scaling of :class:`~gradstep.optim.registry.CompiledStep`."""

SCALING_STATES = {"adagrad": ScaleByAdagradState, "rmsprop": ScaleByRmsState, "adam": ScaleByAdamState}
"""The state of each scaling that has one."""

COMPILE_SECONDS = 15
"""About how long the first run after an install compiles the kernel for one dtype (measured: 14.8 s on
2 cores); :mod:`._compiling` says so on stderr before it starts, and later processes load it from the cache."""

ENABLED = True
"""Module switch: ``False`` sends every run through the plain loop (as ``GRADSTEP_COMPILED=0`` does)."""


def epoch_runner_available() -> bool:
    """True when compiled epochs may run: Numba is installed, :data:`ENABLED`, and the switch
    ``GRADSTEP_COMPILED`` (:func:`gradstep.switches.enabled`, read at each call) is not off. Numba itself
    is imported with the kernel (:mod:`gradstep.kernels._loops_numba`), on the first run that uses it."""
    if not ENABLED or not switches.enabled("GRADSTEP_COMPILED"):
        return False
    return importlib.util.find_spec("numba") is not None


@dataclass(frozen=True)
class OptimizerSpec:
    """A named optimiser chain as :func:`gradstep.optim.make_optimizer` builds it: the step of its registry
    entry (:class:`~gradstep.optim.registry.CompiledStep`), its learning-rate schedule (AdaGrad's decay
    included), the clipping before it, and ``l1`` > 0 when the chain is wrapped in a proximal L1 step
    (:func:`gradstep.optim.proximal.l1_step`, as ``make_optimizer`` wraps the plain steps when given
    ``l1``), whose state :class:`L1StepState` holds the chain's.
    """

    step: CompiledStep
    schedule: Any
    clip_value: float | None = None
    clip_norm: float | None = None
    l1: float = 0.0

    @property
    def kind(self) -> int:
        """The kernel's number of the step's scaling (``PLAIN``, ``ADAGRAD``, ``RMSPROP``, ``ADAM``)."""
        return KINDS[self.step.scaling]

    def leaf_states(self) -> list[type]:
        """The state types of the chain, in order (a check that the transform is the one described); those
        inside the proximal step's :class:`L1StepState` when there is one (see :func:`_leaves`)."""
        step = self.step
        clips = [EmptyState] * ((self.clip_value is not None) + (self.clip_norm is not None))
        body: list[type]
        if step.scaling == "plain":
            body = [EmptyState] * bool(step.weight_decay) + [TraceState] * step.trace
        else:
            body = [EmptyState, SCALING_STATES[step.scaling]] + [TraceState] * step.trace
        return clips + body + [ScaleByLrState]


def optimizer_spec(optimizer: Any, lr: Any, optimizer_params: Mapping[str, Any] | None,
                   clip_value: float | None, clip_norm: float | None, l1: float = 0.0) -> OptimizerSpec | None:
    """The :class:`OptimizerSpec` of ``make_optimizer(optimizer, lr, optimizer_params, clip_value, clip_norm,
    l1=l1, ...)``, read from the optimiser's entry of :data:`gradstep.optim.REGISTRY`: with ``l1`` > 0, the
    proximal ones (SGD, momentum, Nesterov) take proximal steps, the adaptive ones are left as they are.

    ``None`` when ``optimizer`` is not a name of the registry (a transform given by the user is opaque:
    it runs in the plain loop), or one without a compiled step (FISTA). The arguments are taken to be
    valid: the plain transform is built (and checks them) first.
    """
    entry = REGISTRY.get(optimizer.lower()) if isinstance(optimizer, str) else None
    step = None if entry is None else entry.compiled_step(optimizer_params)
    if entry is None or step is None:
        return None
    schedule = as_schedule(entry.default_lr if lr is None else lr)
    if step.lr_decay:
        schedule = adagrad_decay(schedule, step.lr_decay)
    return OptimizerSpec(step, schedule, None if clip_value is None else float(clip_value),
                         None if clip_norm is None else float(clip_norm), float(l1) if entry.proximal else 0.0)


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
    if isinstance(schedule, constant) and schedule.plain:
        return np.full(n, float(schedule.lr))
    if isinstance(schedule, adagrad_decay) and isinstance(schedule.schedule, constant) and schedule.schedule.plain:
        return float(schedule.schedule.lr) / (1 + np.arange(first, first + n, dtype=np.int64) * schedule.lr_decay)
    return np.fromiter((float(schedule(t)) for t in range(first, first + n)), dtype=np.float64, count=n)


class RunningMean(NamedTuple):
    r"""Averaged SGD's running mean of the iterates, as a call of :meth:`CompiledEpochs.run` takes it and
    hands it back advanced: :math:`\bar\theta_n = \bar\theta_{n-1} + (\theta_n - \bar\theta_{n-1}) / n`
    over the updates from the one at which ``start`` rows have been seen (scikit-learn's ``average``).

    Attributes
    ----------
    start : int
        Rows to see before the mean starts.
    rows, averaged : int
        Rows seen, and updates averaged (:math:`n`).
    mean : ndarray or None
        :math:`\bar\theta_n`; None before the first update averaged.
    """

    start: int
    rows: int
    averaged: int
    mean: np.ndarray | None


class _Moments(NamedTuple):
    """The optimiser's state as the kernel reads and writes it: the momentum buffer, the scaling's arrays
    (AdaGrad's sum of squares as ``s1``; RMSProp's square and gradient averages as ``s1``, ``s2``; Adam's
    ``nu``, ``mu``, ``nu_max`` as ``s1``, ``s2``, ``s3``), the update counts of the buffer and of Adam, and
    the proximal step's ``q`` and its one-element ``u`` (a float64, as the state's Python float)."""

    trace: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    s3: np.ndarray
    counts: np.ndarray
    q: np.ndarray
    u: np.ndarray


def _settings(objective: Any, batches: Batches, spec: OptimizerSpec, dtype: Any) -> tuple[np.ndarray, ...]:
    """``(icfg, fcfg, tcfg)``, the settings of a run in the kernel's slots (:mod:`._slots`): the loss, the
    penalty, the clipping and the optimiser's step; ``tcfg`` in the rows' ``dtype``, as a Python float meets
    an array of it. The per-call ones (recorded steps, ``gtol``, averaging) are filled in by each call."""
    bs, step = batches.size, spec.step
    last = batches.X.shape[0] - (batches.steps_per_epoch - 1) * bs
    icfg = np.zeros(slot.I_LEN, np.int64)
    fcfg = np.zeros(slot.F_LEN, np.float64)
    icfg[slot.I_LOSS] = LOGISTIC if isinstance(objective, LogisticLoss) else SQUARED
    icfg[slot.I_K], icfg[slot.I_INTERCEPT] = objective.n_outputs, bool(objective.fit_intercept)
    if icfg[slot.I_LOSS] == SQUARED:  # the gradient's scale for m rows (its value's is half of it)
        fcfg[slot.F_SCALE], fcfg[slot.F_SCALE_LAST] = objective.curvature(bs), objective.curvature(last)
    pen = objective.penalty
    l1, l2 = (float(pen.l1), float(pen.l2)) if pen.active else (0.0, 0.0)
    icfg[slot.I_L1], icfg[slot.I_L2], fcfg[slot.F_L1], fcfg[slot.F_L2] = bool(l1), bool(l2), l1, l2
    icfg[slot.I_OPT], icfg[slot.I_TRACE], icfg[slot.I_NESTEROV] = spec.kind, step.trace, step.nesterov
    icfg[slot.I_CENTERED], icfg[slot.I_AMSGRAD] = step.centered, step.amsgrad
    icfg[slot.I_DECAY] = bool(step.weight_decay)
    icfg[slot.I_PROX] = bool(spec.l1)  # the same λ1 as the penalty's: make_optimizer(l1=objective.penalty.l1)
    icfg[slot.I_CLIP_VALUE], icfg[slot.I_CLIP_NORM] = spec.clip_value is not None, spec.clip_norm is not None
    icfg[slot.I_WEIGHTED] = batches.w is not None
    fcfg[slot.F_CLIP_NORM] = spec.clip_norm or 0.0
    fcfg[slot.F_BETA1], fcfg[slot.F_BETA2] = step.betas
    cv = spec.clip_value or 0.0
    b1, b2 = step.betas
    tcfg = np.zeros(slot.T_LEN, np.float64)
    tcfg[[slot.T_ZERO, slot.T_ONE, slot.T_L1, slot.T_L2, slot.T_CLIP_LO, slot.T_CLIP_HI, slot.T_DECAY,
          slot.T_MOMENTUM, slot.T_DAMPED, slot.T_EPS, slot.T_ALPHA, slot.T_ONE_ALPHA, slot.T_ONE_BETA1, slot.T_BETA2,
          slot.T_ONE_BETA2, slot.T_SCALE, slot.T_SCALE_LAST]] = [
        0.0, 1.0, l1, l2, -cv, cv, step.weight_decay, step.momentum, 1 - step.dampening, step.eps, step.alpha,
        1 - step.alpha, 1 - b1, b2, 1 - b2, fcfg[slot.F_SCALE], fcfg[slot.F_SCALE_LAST]]
    return icfg, fcfg, tcfg.astype(dtype)


# ---------------------------------------------------------------------------------------------- the runner
class CompiledEpochs:
    """An epoch runner (:class:`gradstep.loop.EpochRunner`) for a linear or logistic model on NumPy rows.

    Built by :func:`epoch_runner`, which checks that the run is one it makes exactly. The
    kernel reads the run's settings from three arrays (:func:`_settings`): ``icfg`` (switches and
    sizes, slots ``I_*``), ``fcfg`` (numbers used in float64, slots ``F_*``) and ``tcfg`` (numbers
    that meet the parameters, in their dtype as NumPy casts a Python float, slots ``T_*``).

    Calling it makes the updates of an epoch (the loop's hook); :meth:`run` does the same and
    continues a :class:`RunningMean` of the iterates too (averaged SGD), handing back what it counted.

    Parameters
    ----------
    objective : SquaredError or LogisticLoss
    batches : Batches
        Mini-batches (or single rows) of NumPy float32 or float64 arrays.
    spec : OptimizerSpec
        The optimiser chain's numbers.
    """

    def __init__(self, objective: Any, batches: Batches, spec: OptimizerSpec) -> None:
        from . import (
            _loops_numba,  # compiled on first use, then loaded from the disk cache
        )

        self._kernel = _loops_numba
        self._announced = False
        self.objective, self.batches, self.spec = objective, batches, spec
        X = np.ascontiguousarray(batches.X)
        self.dtype = X.dtype
        self.X, self.Y = X, np.ascontiguousarray(batches.Y, dtype=X.dtype)
        self.w = np.empty(0, X.dtype) if batches.w is None else np.ascontiguousarray(batches.w, dtype=X.dtype)
        n, bs = X.shape[0], batches.size
        self._rows = np.arange(n, dtype=np.int64)
        self._drawn: tuple[int, np.ndarray] | None = None
        p = self.n_params = objective.n_params
        self.icfg, self.fcfg, self.tcfg = _settings(objective, batches, spec, X.dtype)
        k = objective.n_outputs
        self._scratch = (np.zeros(p, X.dtype), np.zeros((bs, X.shape[1]), X.dtype), np.zeros(bs * k, X.dtype),
                         np.zeros(bs * k, X.dtype), np.zeros(max(p, bs * k), X.dtype), np.zeros(1, X.dtype))

    def _order(self, epoch: int) -> np.ndarray:
        """The shuffled rows of ``epoch`` (:func:`~gradstep.data.batching.epoch_order`), drawn once for all the
        pieces the loop runs it in."""
        if self._drawn is None or self._drawn[0] != epoch:
            self._drawn = (epoch, epoch_order(self.batches.n_samples, epoch, self.batches.seed))
        return self._drawn[1]

    def _moments_in(self, state: Any) -> _Moments:
        """Copies of the arrays and counts of the optimiser's ``state`` for the kernel to advance."""
        spec, dt = self.spec, self.dtype
        empty = np.zeros(0, dt)
        counts = np.zeros(2, np.int64)  # the momentum buffer's and Adam's update counts
        trace = s1 = s2 = s3 = q = empty
        u = np.zeros(1)
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
        return _Moments(trace, s1, s2, s3, counts, q, u)

    def _moments_out(self, state: Any, m: _Moments, lr_count: int, done: int, last_lr: float) -> Any:
        """``state`` after ``done`` > 0 updates: its leaves replaced by the kernel's arrays and counts."""
        spec = self.spec
        new: dict[type, Any] = {ScaleByLrState: ScaleByLrState(lr_count + done, last_lr)}
        if spec.l1:
            new[L1StepState] = L1StepState(state.inner, float(m.u[0]), m.q)
        if spec.step.trace:
            new[TraceState] = TraceState(int(m.counts[0]), m.trace)
        if spec.kind == ADAGRAD:
            new[ScaleByAdagradState] = ScaleByAdagradState(m.s1)
        elif spec.kind == RMSPROP:
            new[ScaleByRmsState] = ScaleByRmsState(m.s1, m.s2)
        elif spec.kind == ADAM:
            new[ScaleByAdamState] = ScaleByAdamState(int(m.counts[1]), m.s2, m.s1, m.s3)
        return _replace(state, new)

    def _average_in(self, average: RunningMean | None) -> tuple[np.ndarray, np.ndarray]:
        """``(avg, mean)`` for the kernel: ``start``, ``rows``, ``averaged`` as int64, and a copy of the mean."""
        avg = np.zeros(3, np.int64)
        if average is None:
            return avg, np.zeros(0, self.dtype)
        avg[:] = average.start, average.rows, average.averaged
        mean = np.zeros(self.n_params, self.dtype) if average.mean is None else np.array(average.mean, self.dtype,
                                                                                         copy=True)
        return avg, mean

    def __call__(self, params: Any, state: Any, epoch: int, *, start: int = 0, max_steps: int | None = None,
                 gtol: float | None = None, record_params: Any = True) -> EpochSteps:
        """Make the updates of ``epoch`` from its batch ``start`` on, from ``params`` and ``state``
        (neither is modified).

        ``record_params``: a :class:`gradstep.param_rows.KeepParams` (θ of the steps it names only, so that a
        bounded record never holds a whole epoch's path; it is advanced past the steps made), or a
        bool (every step's θ, or none)."""
        return self.run(params, state, epoch, start=start, max_steps=max_steps, gtol=gtol,
                        record_params=record_params)[0]

    def run(self, params: Any, state: Any, epoch: int, *, start: int = 0, max_steps: int | None = None,
            gtol: float | None = None, record_params: Any = True,
            average: RunningMean | None = None) -> tuple[EpochSteps, RunningMean | None]:
        """What a call makes (see :meth:`__call__`), and with ``average`` the running mean advanced over
        the updates made (``average`` itself is not modified)."""
        b, dt = self.batches, self.dtype
        left = b.steps_per_epoch - start
        n_steps = left if max_steps is None else min(left, max_steps)
        order = self._order(epoch) if b.shuffle else self._rows
        order = order[start * b.size:] if start else order
        lr_state = find_states(state, ScaleByLrState)[-1]
        lrs = learning_rates(self.spec.schedule, lr_state.count, n_steps)
        theta = np.array(params, dtype=dt, copy=True)
        m = self._moments_in(state)
        icfg, fcfg = self.icfg.copy(), self.fcfg.copy()
        every, first = _keep(record_params)
        icfg[slot.I_RECORD], icfg[slot.I_RECORD_FIRST], icfg[slot.I_GTOL] = every, first, gtol is not None
        icfg[slot.I_AVERAGE] = average is not None
        fcfg[slot.F_GTOL] = 0.0 if gtol is None else float(gtol)
        avg, mean = self._average_in(average)
        loss, gnorm = np.empty(n_steps), np.empty(n_steps)
        path = np.empty((max(0, -(-(n_steps - first) // every)) if every else 0, self.n_params), dt)
        args = ((self.X, self.Y, self.w, order), n_steps, b.size,
                (theta, np.negative(lrs).astype(dt, copy=False), lrs), (icfg, fcfg, self.tcfg),
                (m.trace, m.s1, m.s2, m.s3, m.counts, avg, mean, m.q, m.u), (loss, gnorm, path), self._scratch)
        if not self._announced:   # once a fit: a cold cache means seconds of silence otherwise
            self._announced = True
            _compiling.announce(self._kernel._epoch, args, "the SGD loops", COMPILE_SECONDS)
        done, halt, halt_loss, halt_gnorm = self._kernel._epoch(*args)
        if hasattr(record_params, "advance"):
            record_params.advance(done)
        kept = max(0, -(-(done - first) // every)) if every else 0
        steps = EpochSteps(theta if done else params,
                           self._moments_out(state, m, lr_state.count, done, float(lrs[done - 1])) if done else state,
                           loss[:done], gnorm[:done], lrs[:done], path[:kept] if record_params else None,
                           HALTS[halt], float(halt_loss), float(halt_gnorm))
        if average is None:
            return steps, None
        averaged = int(avg[2])
        return steps, RunningMean(average.start, int(avg[1]), averaged, mean if averaged else None)


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
                 average: RunningMean | None = None, block: bool = False) -> CompiledEpochs | None:
    """A :class:`CompiledEpochs` for this run, or ``None`` when the plain loop must run it.

    Compiled: mini-batches (any size below the number of rows) of NumPy float32 / float64
    rows, a :class:`~gradstep.objectives.SquaredError` or
    :class:`~gradstep.objectives.LogisticLoss` objective, a named optimiser (``lr`` a
    number or a schedule) whose ``state`` has the structure its chain gives. ``block=True``: the
    rows are one block of a longer epoch (:class:`gradstep.models.streaming.StreamEpochs`), so a
    block of a single batch is compiled too. ``average``: the running mean the calls will continue
    (:meth:`CompiledEpochs.run`), whose mean must then be a NumPy array or None.

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
            matches = isinstance(v, np.ndarray) and v.dtype == dt and v.shape == (p,)
            if not isinstance(v, (int, float)) and not matches:
                return None
    if average is not None and average.mean is not None and not isinstance(average.mean, np.ndarray):
        return None
    return CompiledEpochs(objective, batches, spec)
