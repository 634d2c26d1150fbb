r"""The one descent loop that every run goes through.

::

    for each epoch:
        for each batch:
            f, g = objective.value_and_grad(θ, batch)        # stop if non-finite or exploding
            u, state = transform.update(g, state, θ)          # clip → optimiser → learning rate
            history.record_step(...)
            θ = θ + u
        history.record_epoch(loss on all the data)            # tolerance and divergence checks

Fitting a model, minimising a typed-in function and every later front end
plug different objectives, transforms and batches into :func:`run`.

The parameters, gradients and optimiser states stay in the array library of
``params0`` (NumPy, or torch on any device: see :mod:`gradstep.backend`);
only the record leaves it: losses and norms as Python floats, and the
:class:`~gradstep.history.History` holding NumPy copies of the iterates.

A fast path may take over the inner loop of an epoch (``epoch_runner``, e.g.
:mod:`gradstep.kernels.loops`, compiled per-sample and mini-batch steps): it
makes the same steps and hands back their rows and the step-level checks that
would have fired; everything else (stopping rules, divergence messages,
validation loss, epoch metrics, the history) stays here.

The run is a small object whose fields are those of a :class:`Snapshot` (where it stands), with one
method per phase: a batch step, a compiled epoch, an epoch's end, a divergence explained, the
:class:`Result`. A fresh run starts from :meth:`Snapshot.first`; resuming is starting from a saved
snapshot; a :class:`Checkpointing` receives the snapshots.

Stopping (first that holds):

* ``max_steps`` updates or ``max_epochs`` epochs done (``status`` 1);
* ``gtol``: the gradient norm at the current point is at most ``gtol`` (status 0);
* ``rgtol`` (full batch): the gradient norm is at most ``rgtol`` times the first one recorded in
  the history (this run's first step, or the first of the run it continues) (status 0);
  (mini-batches): at the end of an epoch, the norm of the gradient over all the rows is at most
  ``rgtol`` times its norm at ``params0`` (one gradient pass more at the start; the epoch's
  pass over all the rows computes the gradient besides the loss) (status 0);
* ``tol`` with patience: the loss has not gone below ``best - tol`` for
  ``n_iter_no_change`` epochs in a row, scikit-learn's rule (status 0);
* divergence: a non-finite loss, gradient or parameter, or a loss above
  ``L0 + divergence * max(|L0|, 1)`` (status 2);
* the callback raised ``StopIteration`` (status 3);
* a stop was asked for (Ctrl-C or SIGTERM inside :func:`gradstep.interrupt.graceful`): checked
  before every update, and between the pieces of a compiled epoch (status 4). The run's
  checkpoint, if it has one, receives the snapshot of that moment, and ``Result.snapshot`` holds it.

Only status 0 is a success (``Result.success``), as in SciPy, whose ``maxiter`` and
"``callback`` raised ``StopIteration``" are failures too: a spent budget says which rules were on,
how far each was from holding and what to change; with every rule off it says that none was on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, cast

import numpy as np

from . import interrupt
from .backend import isfinite_all, to_numpy
from .data.batching import Batches
from .history import History
from .objectives.base import Objective
from .optim.base import GradientTransformation, UpdateFnExtraArgs, find_states, global_norm, takes_extra_args
from .optim.transforms import ScaleByLrState
from .param_rows import KeepParams

CONVERGED, MAX_ITER, DIVERGED, STOPPED, INTERRUPTED = 0, 1, 2, 3, 4
INTERRUPT_PIECE = 256
"""Inside :func:`gradstep.interrupt.graceful` (or with a progress callback), compiled epochs run at least
this many updates a call, and more for small updates (:data:`PIECE_WORK`): a stop is honoured and
progress shown within a small fraction of a second, without paying a call for every few updates."""
PIECE_WORK = 1 << 21
"""Multiply-adds (batch rows times parameters, per update) of one such piece: a few milliseconds of
mini-batch steps, a few tens of per-sample ones (about 100,000 updates of 20 parameters), so the calls
cost nothing next to the work; a large batch gets :data:`INTERRUPT_PIECE` updates."""


class DivergenceError(FloatingPointError):
    """A run diverged: its loss became non-finite or exploded.

    Attributes: ``step``, ``lr``, ``loss``, ``stable_lr`` (None when unknown), ``history``.
    """

    def __init__(self, message: str, step: int, lr: float, loss: float, stable_lr: float | None, history: History):
        super().__init__(message)
        self.step, self.lr, self.loss, self.stable_lr, self.history = step, lr, loss, stable_lr, history


class Result(dict):
    """The outcome of a run, following :class:`scipy.optimize.OptimizeResult`.

    Attributes
    ----------
    x : array
        Final parameters :math:`\\theta_n`, of the type, dtype and device of ``params0``.
    fun : float
        Objective at ``x`` (on all the data, for a model).
    jac : array
        Gradient at ``x`` (of ``x``'s type).
    nit : int
        Number of updates made.
    nepoch : int
        Number of epochs completed.
    success : bool
        True only when a convergence rule was met (``status`` 0), as in SciPy: a spent
        budget (even one with every rule off), a callback's ``StopIteration``, a
        divergence and an interruption are not successes.
    status : int
        0 converged, 1 step/epoch limit, 2 diverged, 3 stopped by the callback, 4 interrupted
        (Ctrl-C / SIGTERM in :func:`gradstep.interrupt.graceful`; ``success`` is False).
    message : str
        What happened, in words.
    history : History
        The record of the run.
    state : NamedTuple
        The optimiser state after the last update (to continue the run).
    snapshot : Snapshot or None
        Where an interrupted run stood (status 4): give it back as ``resume`` to go on.
    met : str or None
        The convergence rule that held (status 0): ``"gtol"``, ``"rgtol"`` or ``"tol"``; else None.
    unmet : dict
        A spent budget (status 1): each convergence rule that was on and not met, with how far it was from
        holding (``{"gtol": "gtol=1e-05 not met (gradient norm 0.0132 at the last step)"}``, as the message
        says it); empty otherwise, and when no rule was on.

    Notes
    -----
    A ``dict`` with attribute access, as SciPy's ``OptimizeResult`` is; it is
    not that class so that ``import gradstep`` and ``minimize`` do not import
    SciPy (about 0.4 s).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __dir__(self) -> list[str]:
        return list(self.keys())

    def __repr__(self) -> str:
        width = max(map(len, self.keys()), default=0) + 1
        return "\n".join(f"{k.rjust(width)}: {v!r}" if k != "history" else f"{k.rjust(width)}: {v}"
                         for k, v in self.items())


@dataclass(frozen=True)
class StopRule:
    """When the loop stops; see the module docstring. ``None`` switches a rule off."""

    max_steps: int | None = None
    max_epochs: int | None = None
    tol: float | None = None
    n_iter_no_change: int = 5
    gtol: float | None = None
    divergence: float | None = 1e6
    rgtol: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_epochs"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or int(v) != v or v < 0):
                raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
        if self.max_steps is None and self.max_epochs is None:
            raise ValueError("give max_steps or max_epochs: a run needs a limit")
        for name in ("tol", "gtol", "divergence", "rgtol"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be None or a finite number >= 0, got {v!r}")
        if int(self.n_iter_no_change) != self.n_iter_no_change or self.n_iter_no_change < 1:
            raise ValueError(f"n_iter_no_change must be a whole number >= 1, got {self.n_iter_no_change!r}")


def every_step(callback: Any) -> bool:
    """Whether ``callback`` must hear about every update. A callback that only reports progress sets the
    attribute ``every_step = False``: compiled epochs then stay on, and it is called after each piece of
    them (at most :data:`INTERRUPT_PIECE` updates) with the last update's :class:`StepInfo`."""
    return bool(getattr(callback, "every_step", True))


class StepInfo(NamedTuple):
    """What a callback receives after each update (``params`` are those after it); a callback with
    ``every_step = False`` may receive it only for the last update of a compiled piece (:func:`every_step`),
    ``rows`` then counting the rows of the whole piece."""

    step: int
    epoch: int
    params: Any
    loss: float
    grad_norm: float
    lr: float
    rows: int


class EpochSteps(NamedTuple):
    """What an epoch runner did: the steps of one epoch, or fewer when it halted.

    Attributes
    ----------
    params, state : array, NamedTuple
        Parameters and optimiser state after the last update made.
    loss, grad_norm, lr : ndarray
        One value per update made, as :meth:`History.record_step` records them.
    path : ndarray or None
        :math:`\\theta_k` of the updates ``record_params`` names (a
        :class:`~gradstep.param_rows.KeepParams`; a runner that ignores it may give every update's, as
        ``(len(loss), n_params)``); None when not recorded.
        These four arrays go to the history as they are (:meth:`History.record_steps`, no copy).
    halt : str or None
        Why it stopped before the end of the epoch: ``None`` (it did not), ``"max_steps"``,
        ``"gradient"`` (the next step's gradient norm is not finite, or, with ``gtol``, at most
        ``gtol``: no update made), ``"parameters"`` (the last update gave non-finite parameters).
    halt_loss, halt_grad_norm : float
        The batch loss and gradient norm of the step that halted it (nan when none did).
    """

    params: Any
    state: Any
    loss: np.ndarray
    grad_norm: np.ndarray
    lr: np.ndarray
    path: np.ndarray | None
    halt: str | None = None
    halt_loss: float = math.nan
    halt_grad_norm: float = math.nan


class EpochRunner(Protocol):
    """Runs the updates of one epoch of mini-batches in one call, exactly as the loop's inner body would.

    ``start`` is the first batch of the epoch to run (not 0 when a checkpoint or a resumed run
    falls inside an epoch); ``max_steps`` is the number of updates allowed in this call (None: to
    the end of the epoch); ``gtol`` is the stop rule's; ``record_params`` (a
    :class:`~gradstep.param_rows.KeepParams`) names the updates whose parameters the history keeps.
    """

    def __call__(self, params: Any, state: Any, epoch: int, *, start: int, max_steps: int | None,
                 gtol: float | None, record_params: Any) -> EpochSteps: ...


@dataclass(frozen=True)
class Snapshot:
    """Where a run stands between two updates: all :func:`run` needs to go on exactly as it would have.

    Taken every ``every`` updates and handed to the run's :class:`Checkpointing`; give it back as
    ``resume`` (with the same objective, transform, batches, stop rule, history and
    ``start_epoch``) to continue. The history is not in it: the caller keeps (and saves) that.

    Attributes
    ----------
    params, state : array, NamedTuple
        The parameters and optimiser state after ``step`` updates.
    step : int
        Updates made by this run so far.
    epoch, batch : int
        The epoch under way and the batches of it done (``batch`` may equal the epoch's
        batch count: the epoch's end-of-epoch checks are still to come).
    reference, best, no_improvement : float or None, float, int
        The divergence rule's starting loss and the ``tol`` rule's best loss and count.
    pending : dict
        A full-batch epoch's extra values, recorded with its loss at the next step.
    """

    params: Any
    state: Any
    step: int
    epoch: int
    batch: int
    reference: float | None
    best: float
    no_improvement: int
    pending: dict

    @classmethod
    def first(cls, params: Any, state: Any, epoch: int = 0) -> Snapshot:
        """Where a fresh run stands before its first update: ``params`` and ``state`` at the start of ``epoch``."""
        return cls(params, state, 0, epoch, 0, None, math.inf, 0, {})


def current_lr(state: Any) -> float:
    """The learning rate of the last update, read from the optimiser state (nan if it has none)."""
    found = find_states(state, ScaleByLrState)
    return found[-1].lr if found else math.nan


@dataclass(frozen=True)
class Checkpointing:
    """A run's checkpoint: ``save(Snapshot)`` after every ``every``-th update of the run, and when a stop
    is asked for (:mod:`gradstep.interrupt`) whatever the count. An example ends :func:`run`'s docstring.
    """

    save: Callable[[Snapshot], Any]
    every: int

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"checkpoint_every must be an int >= 1 with a checkpoint, got {self.every!r}")


class _Divergence(Exception):
    def __init__(self, what: str, loss: float, where: str):
        self.what, self.loss, self.where = what, loss, where


class _Stop(Exception):
    """The run ends with ``status``; ``rule`` names the convergence rule met (status 0)."""

    def __init__(self, status: int, message: str, rule: str | None = None):
        self.status, self.message, self.rule = status, message, rule


def _rows(batch: Any) -> int:
    """Rows in a batch: 0 for none, ``len`` of a summary (e.g. SquaredStats), else ``X``'s rows."""
    if batch is None:
        return 0
    return batch[0].shape[0] if isinstance(batch, tuple) else len(batch)


def run(
    objective: Objective,
    params0: Any,
    transform: GradientTransformation,
    batches: Batches | None,
    stop: StopRule,
    *,
    history: History | None = None,
    state: Any = None,
    callback: Callable[[StepInfo], Any] | None = None,
    stable_lr: Callable[[], float | None] | None = None,
    validation: tuple | None = None,
    start_epoch: int = 0,
    epoch_metrics: Callable[[Any], dict[str, float]] | None = None,
    epoch_runner: EpochRunner | None = None,
    checkpoint: Checkpointing | Callable[[Snapshot], Any] | None = None,
    checkpoint_every: int | None = None,
    resume: Snapshot | None = None,
) -> Result:
    """Run gradient descent and return its :class:`Result` (with the full :class:`History`).

    Parameters
    ----------
    objective : Objective
        ``value(params, batch)`` and ``value_and_grad(params, batch)``.
    params0 : array
        Starting parameters :math:`\\theta_0` (not modified): a NumPy array or
        a torch tensor, in the library, dtype and device of the data.
    transform : GradientTransformation
        The optimiser chain, e.g. ``make_optimizer("adam", lr=0.01)``.
    batches : Batches or None
        The data and how it is batched; ``None`` for a function of the
        parameters alone (then every step is one epoch).
    stop : StopRule
        When to stop.
    history : History, optional
        Record into this history (a new one by default; a continued run appends).
    state : NamedTuple, optional
        Optimiser state to continue from (default: ``transform.init(params0)``);
        its counters carry schedules on across calls.
    callback : callable, optional
        ``callback(StepInfo)`` after each update; raise ``StopIteration`` to stop. It turns
        ``epoch_runner`` off unless it has ``every_step = False`` (:func:`every_step`: progress bars).
    stable_lr : callable, optional
        ``stable_lr() -> float | None``, the largest stable learning rate of
        the problem, called only to explain a divergence.
    validation : tuple, optional
        A held-out batch ``(X, Y[, w])``: its loss is recorded after every epoch
        (``val_loss``) and the ``tol`` rule watches it instead of the training
        loss (early stopping).
    start_epoch : int
        Index of the first epoch (a continued run goes on counting; shuffling
        depends on it).
    epoch_metrics : callable, optional
        ``epoch_metrics(params, seen) -> {name: value}`` after every epoch, recorded in the epoch
        table (e.g. training and validation accuracy). ``seen`` holds the metrics that the pass over
        all the training rows at ``params`` already measured (an objective with
        ``evaluate(params, batch, grad) -> (value, grad, metrics)``, e.g. the classifiers' accuracy),
        or None: they need not be measured again. Full batch, that pass is the next step's.
    epoch_runner : EpochRunner, optional
        Makes all the updates of a mini-batch epoch in one call (a compiled loop), with the
        same iterates, rows and step checks as the per-batch body; used only for mini-batches
        and without a ``callback`` that needs every step. The rules of this function apply to what it returns.
    checkpoint : Checkpointing, optional
        Where the run's snapshots go and how often (e.g. to save it to disk: :mod:`gradstep.checkpoint`).
        A callable ``checkpoint(Snapshot)`` with ``checkpoint_every`` is the same as
        ``Checkpointing(checkpoint, checkpoint_every)``.
    checkpoint_every : int, optional
        With a callable ``checkpoint``: how many updates between two snapshots.
    resume : Snapshot, optional
        Go on from this snapshot (taken by an earlier, interrupted call with the same
        arguments) instead of from ``params0``: the result is that of the uninterrupted run.

    Returns
    -------
    Result
        ``success`` True only for status 0 (a rule met); ``status`` 2 (and ``success=False``) on
        divergence: this function never raises for it.

    Examples
    --------
    >>> import numpy as np
    >>> from gradstep.objectives import FunctionObjective
    >>> from gradstep.optim import sgd
    >>> obj = FunctionObjective(lambda x: float(x @ x), grad=lambda x: 2 * x)
    >>> res = run(obj, np.array([3.0, 2.0]), sgd(lr=0.1), None, StopRule(max_steps=2))
    >>> res.x
    array([1.92, 1.28])
    >>> res.success, res.message
    (False, 'completed the 2 steps asked for with no convergence rule on (gtol, rgtol and tol None): success needs one of them met')
    >>> res = run(obj, np.array([3.0, 2.0]), sgd(lr=0.1), None, StopRule(max_steps=1000, gtol=1e-5))
    >>> res.success, res.nit, bool(np.linalg.norm(2 * res.x) <= 1e-5)   # ‖∇f(x)‖ = ‖2x‖
    (True, 61, True)
    >>> saved = []    # a snapshot every 2 updates; resume=saved[-1] would go on from the 4th
    >>> res = run(obj, np.array([3.0, 2.0]), sgd(lr=0.1), None, StopRule(max_steps=5),
    ...           checkpoint=Checkpointing(saved.append, every=2))
    >>> [s.step for s in saved], saved[-1].params
    ([2, 4], array([1.2288, 0.8192]))
    """  # noqa: E501 (doctest output: a message is one line)
    if isinstance(checkpoint, Checkpointing):
        if checkpoint_every is not None:
            raise ValueError("checkpoint_every goes with a callable checkpoint; a Checkpointing holds its own")
    elif checkpoint is not None:   # the callable and its interval given apart
        checkpoint = Checkpointing(checkpoint, checkpoint_every)  # type: ignore[arg-type]
    start = resume if resume is not None else Snapshot.first(
        params0, transform.init(params0) if state is None else state, start_epoch)
    descent = _Run(start, objective, params0, transform, batches, stop, History() if history is None else history,
                   resumed=resume is not None, callback=callback, stable_lr=stable_lr, validation=validation,
                   start_epoch=start_epoch, epoch_metrics=epoch_metrics, epoch_runner=epoch_runner,
                   checkpoint=checkpoint)
    return descent.result()


class _Run:
    """One call of :func:`run`. Its fields are where the run stands, those of a :class:`Snapshot` (``params``,
    ``state``, ``step``, ``epoch``, ``batch``, the divergence rule's ``reference``, the ``tol`` rule's ``best``
    and ``no_improvement``, a full-batch epoch's ``pending`` values); the rest is what :func:`run` was given.
    A fresh run starts from :meth:`Snapshot.first`, a resumed one from the snapshot it resumes.

    Each phase is a method: :meth:`batch_step` (one update of the per-batch body), :meth:`compiled_epoch`
    (an epoch by the ``epoch_runner``, in pieces), :meth:`end_epoch`, :meth:`explain` (a divergence in
    words) and :meth:`finish` (the :class:`Result`); :meth:`result` strings them together.
    """

    def __init__(self, at: Snapshot, objective: Objective, params0: Any, transform: GradientTransformation,
                 batches: Batches | None, stop: StopRule, history: History, *, resumed: bool,
                 callback: Callable[[StepInfo], Any] | None, stable_lr: Callable[[], float | None] | None,
                 validation: tuple | None, start_epoch: int, epoch_metrics: Callable[..., dict[str, float]] | None,
                 epoch_runner: EpochRunner | None, checkpoint: Checkpointing | None) -> None:
        self.objective, self.params0, self.transform, self.batches = objective, params0, transform, batches
        self.stop, self.history, self.resumed, self.callback = stop, history, resumed, callback
        self.stable_lr, self.validation, self.start_epoch = stable_lr, validation, start_epoch
        self.epoch_metrics, self.checkpoint = epoch_metrics, checkpoint
        self.data = batches.data if batches is not None else None
        self.full_batch = batches is None or batches.full_batch
        compiled = not self.full_batch and (callback is None or not every_step(callback))
        self.runner = epoch_runner if compiled else None
        self.measured = epoch_metrics is not None and hasattr(objective, "evaluate")
        self.watched = "validation loss" if validation else "loss"   # what the tol rule watches
        # where the run stands: a Snapshot's fields
        self.params, self.state, self.step, self.epoch, self.batch = at.params, at.state, at.step, at.epoch, at.batch
        self.reference, self.best, self.no_improvement = at.reference, at.best, at.no_improvement
        self.pending: dict[str, float] = dict(at.pending)
        # the gradient rules' references: full batch, the history's first norm; mini-batches, the norm of the
        # gradient over all the rows at params0 and at the last epoch's end
        self.first_gnorm: float | None = float(history.grad_norm[0]) if history.n_steps else None
        self.full_gnorm0: float | None = None
        self.full_gnorm: float | None = None
        self.interrupted: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        """Where the run stands (its fields), to go on from."""
        return Snapshot(self.params, self.state, self.step, self.epoch, self.batch, self.reference, self.best,
                        self.no_improvement, dict(self.pending))

    # ------------------------------------------------------------------ the run
    def result(self) -> Result:
        """The epochs until a rule stops the run, then its :class:`Result`."""
        status, message, met = MAX_ITER, "", None
        # NumPy's floating-point warnings are off: overflow is detected (and explained) by the checks
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            try:
                self.start()
                while self.stop.max_epochs is None or self.epoch - self.start_epoch < self.stop.max_epochs:
                    if self.runner is not None:
                        self.compiled_epoch()
                    else:
                        for rows in self.epoch_batches():
                            self.batch_step(rows)
                    self.end_epoch()
            except _Stop as s:
                status, message, met = s.status, s.message, s.rule
            except _Divergence as d:
                return self.finish(d.loss, None, DIVERGED, *self.explain(d.what, d.where))
            if status == INTERRUPTED:
                return self.finish(*self.value_when_interrupted(), status, message)
            fun, jac = self.last_evaluation()
        if not math.isfinite(fun):
            return self.finish(fun, jac, DIVERGED,
                               *self.explain(f"the loss became {fun}", f"after step {self.history.n_steps - 1}"))
        unmet: dict[str, str] = {}
        if status == MAX_ITER:
            limit, unmet = self.spent()
            message = _limit_message(limit, unmet)
        return self.finish(fun, jac, status, message, met=met, unmet=unmet)

    def start(self) -> None:
        """Mini-batches: the divergence rule's reference, the loss at the start (not again when resumed), and
        ``rgtol``'s, the norm of the gradient over all the rows at ``params0``."""
        if self.full_batch:
            return
        if self.stop.rgtol is not None:
            value0, grad0 = self.objective.value_and_grad(self.params0, self.data)
            self.full_gnorm0 = global_norm(grad0)
            if not self.resumed:
                self.check_divergence(value0, "before the first step")
        elif not self.resumed:
            self.check_divergence(self.objective.value(self.params, self.data), "before the first step")

    def epoch_batches(self) -> Any:
        """The batches of this epoch still to do (a function of the parameters alone: one empty batch)."""
        if self.batches is not None:
            return self.batches.epoch(self.epoch, self.batch)
        return (None,) if self.batch == 0 else ()

    # ------------------------------------------------------------------ phases
    def batch_step(self, rows: Any) -> None:
        """One update of the per-batch body: evaluate, check, update, record, tell the callback, checkpoint."""
        self.before_update()
        if self.full_batch:
            value, grad, seen = self.evaluate(rows)
        else:
            value, grad = self.objective.value_and_grad(self.params, rows)
        if tuple(grad.shape) != tuple(self.params.shape):
            raise ValueError(f"the gradient has shape {tuple(grad.shape)} but the parameters "
                             f"{tuple(self.params.shape)}")
        gnorm = global_norm(grad)
        if self.full_batch:   # this pass is also the last epoch's: its loss, and the rules on it
            if self.batches is not None and self.step > 0:
                self.record_full_batch_epoch(value, seen)
            self.check_divergence(value, f"at step {self.history.n_steps}")
            if self.validation is None:
                self.check_patience(value)
        self.check_gradient(value, gnorm)
        updates, self.state = self.update(grad, value, rows)
        lr = current_lr(self.state)
        self.history.record_step(self.epoch, value, gnorm, lr, self.params)  # copied only if params are recorded
        self.params = self.params + updates
        self.step += 1
        self.batch += 1
        if not isfinite_all(self.params):
            self.parameters_diverged(value)
        if self.callback is not None:
            self.tell(StepInfo(self.history.n_steps, self.epoch, self.params, value, gnorm, lr, _rows(rows)))
        self.save()

    def update(self, grad: Any, value: float, rows: Any) -> tuple[Any, Any]:
        """The transform's update; one that takes the loop's extra arguments
        (:class:`~gradstep.optim.base.GradientTransformationExtraArgs`: a line search, L-BFGS, a schedule fed
        by the loss) also gets the value at ``params`` and the objective on this batch at any point."""
        if not takes_extra_args(self.transform):
            return self.transform.update(grad, self.state, self.params)
        objective, update = self.objective, cast(UpdateFnExtraArgs, self.transform.update)
        return update(grad, self.state, self.params, value=value,
                                     value_fn=lambda p: objective.value(p, rows),
                                     value_and_grad_fn=lambda p: objective.value_and_grad(p, rows))

    def compiled_epoch(self) -> None:
        """The updates of one epoch by the ``epoch_runner``, in pieces that end at the checkpoints, recorded
        and checked as the per-batch body does."""
        runner, batches = self.runner, self.batches
        assert runner is not None and batches is not None
        while self.batch < batches.steps_per_epoch:
            self.before_update()
            # the runner hands back only the parameter rows the history keeps (a bounded number)
            every, first, cap = self.history.param_plan(self.piece(batches.size))
            done = runner(self.params, self.state, self.epoch, start=self.batch, gtol=self.stop.gtol,
                          record_params=KeepParams(every, first), max_steps=cap)
            self.history.record_steps(self.epoch, done.loss, done.grad_norm, done.lr, done.path, every, first)
            self.params, self.state = done.params, done.state
            self.step += len(done.loss)
            self.batch += len(done.loss)
            self.check_piece(done, batches.steps_per_epoch)
            if self.callback is not None and len(done.loss):
                self.tell(StepInfo(self.history.n_steps, self.epoch, self.params, float(done.loss[-1]),
                                   float(done.grad_norm[-1]), float(done.lr[-1]), len(done.loss) * batches.size))
            self.save()

    def piece(self, batch_rows: int) -> int | None:
        """The most updates the next compiled piece may make: to ``max_steps``, to the next checkpoint, and,
        inside :func:`gradstep.interrupt.graceful` or with a callback, few enough that a stop is honoured and
        progress shown soon (:data:`INTERRUPT_PIECE`, :data:`PIECE_WORK`, for batches of ``batch_rows`` rows);
        None: to the end of the epoch."""
        allowed = [self.stop.max_steps - self.step] if self.stop.max_steps is not None else []
        if self.checkpoint is not None:
            allowed.append(self.checkpoint.every - self.step % self.checkpoint.every)
        if interrupt.active() or self.callback is not None:
            allowed.append(max(INTERRUPT_PIECE, PIECE_WORK // max(1, batch_rows * math.prod(self.params.shape))))
        return min(allowed) if allowed else None

    def check_piece(self, done: EpochSteps, steps_per_epoch: int) -> None:
        """Why a compiled piece halted, checked as the per-batch body checks the step it halted at."""
        if len(done.loss) == 0 and done.halt is None:  # e.g. a file that lost rows since it was counted
            raise RuntimeError(f"the epoch runner made no update at batch {self.batch} of epoch {self.epoch}, which "
                               f"has {steps_per_epoch}; did the data change during the run?")
        if done.halt == "gradient":
            self.check_gradient(done.halt_loss, done.halt_grad_norm)
            raise RuntimeError(f"the epoch runner halted on a gradient norm of {done.halt_grad_norm}, "
                               f"which passes the checks")
        if done.halt == "parameters":
            self.parameters_diverged(done.halt_loss)

    def end_epoch(self) -> None:
        """Validation loss and, for mini-batches, the loss and metrics on all the data (one pass); then the
        rules. A full-batch epoch's loss and metrics come from the next step's pass, at the same point."""
        extra = {}
        if self.validation is not None:
            extra["val_loss"] = self.objective.value(self.params, self.validation)
        if self.full_batch:
            self.pending = dict(extra)  # the training loss and metrics arrive with the next step's evaluation
        else:
            loss, full_grad, seen = self.evaluate(self.data, grad=self.stop.rgtol is not None)
            self.history.record_epoch(self.epoch, loss, params=self.params, **extra, **self.metrics(seen))
            self.check_divergence(loss, f"after epoch {self.epoch} (step {self.history.n_steps - 1})")
            if self.validation is None:
                self.check_patience(loss)
            if full_grad is not None:
                self.check_full_gradient(global_norm(full_grad))
        self.epoch += 1
        self.batch = 0
        if self.validation is not None:
            self.check_patience(extra["val_loss"])

    def last_evaluation(self) -> tuple[float, Any]:
        """``f`` and its gradient at ``x`` on all the data; a full-batch run records with them the loss of
        its last epoch, which no later step did."""
        fun, jac, seen = self.evaluate(self.data)
        last = self.history.last_epoch
        if self.full_batch and self.batches is not None and self.step > 0 and (last is None or last < self.epoch - 1):
            self.record_full_batch_epoch(fun, seen)
        return fun, jac

    def value_when_interrupted(self) -> tuple[float, Any]:
        """An interrupted run makes no pass over the data: the last loss recorded, or ``f`` and its gradient
        at ``x`` for a function of the parameters alone."""
        if self.batches is None:
            return self.objective.value_and_grad(self.params, None)
        return (float(self.history.loss[-1]) if self.history.n_steps else math.nan), None

    def spent(self) -> tuple[str, dict[str, str]]:
        """A spent budget: the limit reached (``"100 steps"``, ``"5 epochs"``) and the convergence rules that
        were on and not met, each with how far it was from holding (:func:`_unmet_rules`)."""
        steps_out = self.stop.max_steps is not None and self.step >= self.stop.max_steps
        limit = f"{self.step} steps" if steps_out else f"{self.epoch - self.start_epoch} epochs"
        if self.full_batch:
            last, first = (self.history.last("grad_norm") if self.step else None), self.first_gnorm
        else:   # rgtol's measures: the gradient over all the rows
            last, first = self.full_gnorm, self.full_gnorm0
        return limit, _unmet_rules(self.stop, self.full_batch, last, first, self.watched)

    def explain(self, what: str, where: str) -> tuple[str, float | None]:
        """A divergence in words, with what to change; and the largest stable learning rate, when known."""
        lr = current_lr(self.state)
        where = f"Gradient descent diverged {where}: {what}"
        if math.isfinite(lr):
            where += f", with learning rate {lr:.4g}"
        s = self.stable_lr() if self.stable_lr is not None else None
        if s is not None and math.isfinite(s):
            hint = (f" The largest stable learning rate for plain gradient descent on this problem is "
                    f"about {s:.4g} (2/L, L the largest eigenvalue of the Hessian): use lr below that, "
                    f"scale the features, or clip the gradient.")
        else:
            hint = " Lower the learning rate, scale the features, or clip the gradient."
        return where + "." + hint, s

    def finish(self, fun: float, jac: Any, status: int, message: str, stable: float | None = None, *,
               met: str | None = None, unmet: dict[str, str] | None = None) -> Result:
        """The :class:`Result` (a divergence records the stable learning rate that explained it)."""
        self.history.final_params = to_numpy(self.params)
        self.history.close()   # its steps file, if it has one, complete
        if status == DIVERGED:
            self.history.meta["stable_lr"] = stable
        return Result(x=self.params, fun=fun, jac=jac, nit=self.step, nepoch=self.epoch - self.start_epoch,
                      success=status == CONVERGED, status=status, message=message, history=self.history,
                      state=self.state, snapshot=self.interrupted, met=met, unmet=unmet or {})

    # ------------------------------------------------------------------ what the phases share
    def evaluate(self, rows: Any, grad: bool = True) -> tuple[float, Any, dict | None]:
        """``(value, gradient or None, what the same pass measured)`` on ``rows``: an objective with
        ``evaluate`` (the classifiers) counts the epoch metrics it can (accuracy) in its pass."""
        if self.measured:
            return self.objective.evaluate(self.params, rows, grad=grad)  # type: ignore[attr-defined]
        if grad:
            value, g = self.objective.value_and_grad(self.params, rows)
            return value, g, None
        return self.objective.value(self.params, rows), None, None

    def metrics(self, seen: dict | None) -> dict:
        """The epoch metrics at ``params``; those in ``seen`` (measured by the pass just made there) are not
        measured again."""
        return self.epoch_metrics(self.params, seen) if self.epoch_metrics is not None else {}

    def record_full_batch_epoch(self, value: float, seen: dict | None) -> None:
        """Full batch: the loss of the epoch before, from the pass at the point it ended, with its extras."""
        self.history.record_epoch(self.epoch - 1, value, **{**self.pending, **self.metrics(seen)})

    def before_update(self) -> None:
        """The budget of updates, then a stop asked for (:mod:`gradstep.interrupt`): it ends the run here, its
        snapshot handed to the checkpoint (whatever the step count) and kept for the result."""
        if self.stop.max_steps is not None and self.step >= self.stop.max_steps:
            raise _Stop(MAX_ITER, "")
        if interrupt.requested():
            self.interrupted = self.snapshot()
            if self.checkpoint is not None:
                self.checkpoint.save(self.interrupted)
            raise _Stop(INTERRUPTED, f"interrupted by {interrupt.signal_name()} after {self.step} steps of this run")

    def save(self) -> None:
        """A :class:`Snapshot` for the checkpoint after every ``every``-th update."""
        if self.checkpoint is not None and self.step % self.checkpoint.every == 0:
            self.checkpoint.save(self.snapshot())

    def tell(self, info: StepInfo) -> None:
        """The callback; its ``StopIteration`` stops the run."""
        try:
            self.callback(info)  # type: ignore[misc]
        except StopIteration:
            raise _Stop(STOPPED, "stopped by the callback (it raised StopIteration)") from None

    # ------------------------------------------------------------------ the rules
    def check_divergence(self, loss: float, where: str) -> None:
        """Divergence: a non-finite loss, or one above ``L0 + divergence * max(|L0|, 1)``."""
        if not math.isfinite(loss):
            raise _Divergence(f"the loss became {loss}", loss, where)
        divergence = self.stop.divergence
        if self.reference is None:
            self.reference = loss
        elif divergence is not None and loss > self.reference + divergence * max(abs(self.reference), 1.0):
            raise _Divergence(f"the loss grew to {loss:.4g} from {self.reference:.4g} at the start", loss, where)

    def check_patience(self, loss: float) -> None:
        """``tol``, scikit-learn's rule: stop after ``n_iter_no_change`` checks in a row without going below
        ``best - tol``."""
        tol, n = self.stop.tol, self.stop.n_iter_no_change
        if tol is None:
            return
        self.no_improvement = self.no_improvement + 1 if loss > self.best - tol else 0
        self.best = min(self.best, loss)
        if self.no_improvement >= n:
            raise _Stop(CONVERGED, f"converged: the {self.watched} improved by less than tol={tol:g} "
                                   f"for {n} epochs in a row", "tol")

    def check_gradient(self, value: float, gnorm: float) -> None:
        """The checks before an update: a non-finite gradient diverges, ``gtol`` and (full batch) ``rgtol``
        converge."""
        if not math.isfinite(gnorm):
            raise _Divergence(f"the gradient became {gnorm}", value, f"at step {self.history.n_steps}")
        gtol, rgtol = self.stop.gtol, self.stop.rgtol
        if gtol is not None and gnorm <= gtol:
            raise _Stop(CONVERGED, f"converged: the gradient norm {gnorm:.3g} is at most gtol={gtol:g}", "gtol")
        if rgtol is not None and self.full_batch:
            if self.first_gnorm is None:
                self.first_gnorm = gnorm
            if gnorm <= rgtol * self.first_gnorm:
                raise _Stop(CONVERGED, f"converged: the gradient norm {gnorm:.3g} is at most gtol={rgtol:g} "
                                       f"times its first value {self.first_gnorm:.3g}", "rgtol")

    def check_full_gradient(self, gnorm: float) -> None:
        """Mini-batches: ``rgtol`` on the gradient over all the rows at the end of an epoch."""
        self.full_gnorm = gnorm
        first, rgtol = self.full_gnorm0, self.stop.rgtol
        assert first is not None and rgtol is not None   # measured at the start when rgtol is on
        if gnorm <= rgtol * first:
            raise _Stop(CONVERGED, f"converged: the gradient norm over all the rows {gnorm:.3g} is at most "
                                   f"gtol={rgtol:g} times its value at the start {first:.3g}", "rgtol")

    def parameters_diverged(self, value: float) -> None:
        raise _Divergence("the parameters became non-finite", value, f"at step {self.history.n_steps - 1}")



def _unmet_rules(stop: StopRule, full_batch: bool, last_gnorm: float | None, first_gnorm: float | None,
                 watched: str) -> dict[str, str]:
    """The convergence rules that were on when the budget ran out, each with how far it was from holding.

    ``last_gnorm`` is the gradient norm of the last update (the last one ``gtol`` and ``rgtol``
    tested; None when this run made none), ``first_gnorm`` the first one of the history (``rgtol``'s
    reference); for mini-batches, those of the gradient over all the rows (the last epoch's end, and
    ``params0``), which ``rgtol`` tests there; ``watched``, what the ``tol`` rule watches (the loss or the
    validation loss).
    """
    where = "at the last step" if full_batch else "over all the rows at the last epoch's end"
    seen = f"gradient norm {last_gnorm:.3g} {where}" if last_gnorm is not None else "no step made"
    unmet = {}
    if stop.gtol is not None:
        unmet["gtol"] = f"gtol={stop.gtol:g} not met ({seen})"
    if stop.rgtol is not None:
        ratio = (f", {last_gnorm / first_gnorm:.3g} times its first value {first_gnorm:.3g}"
                 if last_gnorm is not None and first_gnorm else "")
        unmet["rgtol"] = f"rgtol={stop.rgtol:g} not met ({seen}{ratio})"
    if stop.tol is not None:
        unmet["tol"] = (f"tol={stop.tol:g} not met (the {watched} improved by more than tol within the last "
                        f"{stop.n_iter_no_change} epochs)")
    return unmet


def _limit_message(limit: str, unmet: dict[str, str]) -> str:
    """The message of a run that spent its budget (status 1, ``success`` False, as SciPy's ``maxiter``):
    which rules were on and not met, and what to change; or that no rule was on to be met.

    >>> _limit_message("100 steps", {"gtol": "gtol=1e-05 not met (gradient norm 0.0132 at the last step)"})
    'stopped at the limit of 100 steps with gtol=1e-05 not met (gradient norm 0.0132 at the last step): allow more steps, raise the learning rate, or loosen gtol'
    >>> _limit_message("5 epochs", {})
    'completed the 5 epochs asked for with no convergence rule on (gtol, rgtol and tol None): success needs one of them met'
    """  # noqa: E501 (doctest output: a message is one line)
    if not unmet:
        return (f"completed the {limit} asked for with no convergence rule on (gtol, rgtol and tol None): "
                f"success needs one of them met")
    unit = limit.split()[-1]
    advice = f"allow more {unit}, raise the learning rate, or loosen {' or '.join(unmet)}"
    return f"{limit_reached(limit, unmet)}: {advice}"


def limit_reached(limit: str, unmet: dict[str, str]) -> str:
    """What a spent budget left undone: the limit and the rules on and not met (``Result.unmet``), the facts
    of the message of status 1 without its advice (an estimator gives its own).

    >>> limit_reached("3 epochs",
    ...               {"tol": "tol=0.001 not met (the loss improved by more than tol within the last 5 epochs)"})
    'stopped at the limit of 3 epochs with tol=0.001 not met (the loss improved by more than tol within the last 5 epochs)'
    """  # noqa: E501 (doctest output: a message is one line)
    return f"stopped at the limit of {limit} with {'; '.join(unmet.values())}"
