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
from typing import Any, NamedTuple, Protocol

import numpy as np

from . import interrupt
from .backend import isfinite_all, to_numpy
from .data.batching import Batches
from .history import History
from .param_rows import KeepParams
from .objectives.base import Objective
from .optim.base import GradientTransformation, find_states, global_norm
from .optim.transforms import ScaleByLrState

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

    __setattr__ = dict.__setitem__  # type: ignore[assignment]
    __delattr__ = dict.__delitem__  # type: ignore[assignment]

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

    Taken every ``checkpoint_every`` updates and handed to ``checkpoint``; give it back as
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


def current_lr(state: Any) -> float:
    """The learning rate of the last update, read from the optimiser state (nan if it has none)."""
    found = find_states(state, ScaleByLrState)
    return found[-1].lr if found else math.nan


class _Divergence(Exception):
    def __init__(self, what: str, loss: float, where: str):
        self.what, self.loss, self.where = what, loss, where


class _Stop(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class _Divergences:
    """Divergence: a non-finite loss, or one above ``L0 + divergence * max(|L0|, 1)``."""

    def __init__(self, divergence: float | None):
        self.divergence = divergence
        self.reference: float | None = None

    def check(self, loss: float, where: str) -> None:
        if not math.isfinite(loss):
            raise _Divergence(f"the loss became {loss}", loss, where)
        if self.reference is None:
            self.reference = loss
        elif self.divergence is not None and loss > self.reference + self.divergence * max(abs(self.reference), 1.0):
            raise _Divergence(f"the loss grew to {loss:.4g} from {self.reference:.4g} at the start", loss, where)


class _Patience:
    """scikit-learn's rule: stop after ``n`` checks in a row without going below ``best - tol``."""

    def __init__(self, tol: float | None, n: int, what: str):
        self.tol, self.n, self.what = tol, n, what
        self.best = math.inf
        self.no_improvement = 0

    def check(self, loss: float) -> None:
        if self.tol is None:
            return
        self.no_improvement = self.no_improvement + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)
        if self.no_improvement >= self.n:
            raise _Stop(CONVERGED, f"converged: the {self.what} improved by less than tol={self.tol:g} "
                                   f"for {self.n} epochs in a row")


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
    checkpoint: Callable[[Snapshot], Any] | None = None,
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
    checkpoint : callable, optional
        ``checkpoint(Snapshot)`` after every ``checkpoint_every``-th update of this run (e.g. to
        save it to disk: :mod:`gradstep.checkpoint`).
    checkpoint_every : int, optional
        How many updates between two snapshots.
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
    """
    if checkpoint is not None and (isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int)
                                   or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be an int >= 1 with a checkpoint, got {checkpoint_every!r}")
    params = params0
    history = history if history is not None else History()
    state = transform.init(params) if state is None else state
    data = batches.data if batches is not None else None
    full_batch = batches is None or batches.full_batch
    diverges = _Divergences(stop.divergence)
    patience = _Patience(stop.tol, stop.n_iter_no_change, "validation loss" if validation else "loss")
    step = 0
    epoch = start_epoch
    batch = 0  # batches of the current epoch done
    status, message = MAX_ITER, ""
    pending: dict[str, float] = {}  # a full-batch epoch's extras, recorded with its loss at the next step
    compiled = epoch_runner is not None and not full_batch and (callback is None or not every_step(callback))
    if resume is not None:
        params, state, step, epoch, batch = resume.params, resume.state, resume.step, resume.epoch, resume.batch
        diverges.reference, patience.best, patience.no_improvement = (resume.reference, resume.best,
                                                                      resume.no_improvement)
        pending.update(resume.pending)

    def snapshot() -> Snapshot:
        return Snapshot(params, state, step, epoch, batch, diverges.reference, patience.best,
                        patience.no_improvement, dict(pending))

    def save_checkpoint() -> None:
        """A :class:`Snapshot` for ``checkpoint`` after every ``checkpoint_every``-th update."""
        if checkpoint is not None and step % checkpoint_every == 0:
            checkpoint(snapshot())

    interrupted: list[Snapshot] = []

    def stop_if_asked() -> None:
        """Before an update: a stop asked for (:mod:`gradstep.interrupt`) ends the run here, its
        snapshot handed to the checkpoint (whatever the step count) and kept for the result."""
        if interrupt.requested():
            interrupted.append(snapshot())
            if checkpoint is not None:
                checkpoint(interrupted[0])
            raise _Stop(INTERRUPTED, f"interrupted by {interrupt.signal_name()} after {step} steps of this run")

    def explain(what: str, where: str) -> tuple[str, float | None]:
        lr = current_lr(state)
        where = f"Gradient descent diverged {where}: {what}"
        if math.isfinite(lr):
            where += f", with learning rate {lr:.4g}"
        s = stable_lr() if stable_lr is not None else None
        if s is not None and math.isfinite(s):
            hint = (f" The largest stable learning rate for plain gradient descent on this problem is "
                    f"about {s:.4g} (2/L, L the largest eigenvalue of the Hessian): use lr below that, "
                    f"scale the features, or clip the gradient.")
        else:
            hint = " Lower the learning rate, scale the features, or clip the gradient."
        return where + "." + hint, s

    def finish(fun: float, jac: Any, status: int, message: str, stable: float | None = None,
               success: bool = False) -> Result:
        """The Result (a divergence records the stable learning rate that explained it)."""
        history.final_params = to_numpy(params)
        history.close()   # its steps file, if it has one, complete
        if status == DIVERGED:
            history.meta["stable_lr"] = stable
        return Result(x=params, fun=fun, jac=jac, nit=step, nepoch=epoch - start_epoch, success=success,
                      status=status, message=message, history=history, state=state,
                      snapshot=interrupted[0] if interrupted else None)

    first_gnorm = [float(history.grad_norm[0])] if history.n_steps else []

    def check_gradient(value: float, gnorm: float) -> None:
        """The checks before an update: a non-finite gradient diverges, ``gtol`` and ``rgtol`` converge."""
        if not math.isfinite(gnorm):
            raise _Divergence(f"the gradient became {gnorm}", value, f"at step {history.n_steps}")
        if stop.gtol is not None and gnorm <= stop.gtol:
            raise _Stop(CONVERGED, f"converged: the gradient norm {gnorm:.3g} is at most gtol={stop.gtol:g}")
        if stop.rgtol is not None and full_batch:
            first = first_gnorm[0] if first_gnorm else gnorm
            first_gnorm[:1] = [first]
            if gnorm <= stop.rgtol * first:
                raise _Stop(CONVERGED, f"converged: the gradient norm {gnorm:.3g} is at most gtol={stop.rgtol:g} "
                                       f"times its first value {first:.3g}")

    first_full: list[float] = []   # mini-batches: the full gradient's norm at params0, then at the last epoch end

    def full_gradient_converged(gnorm: float) -> None:
        """Mini-batches: ``rgtol`` on the gradient over all the rows at the end of an epoch."""
        first_full[1:] = [gnorm]
        if gnorm <= stop.rgtol * first_full[0]:
            raise _Stop(CONVERGED, f"converged: the gradient norm over all the rows {gnorm:.3g} is at most "
                                   f"gtol={stop.rgtol:g} times its value at the start {first_full[0]:.3g}")

    def tell(info: StepInfo) -> None:
        """The callback; its ``StopIteration`` stops the run."""
        try:
            callback(info)
        except StopIteration:
            raise _Stop(STOPPED, "stopped by the callback (it raised StopIteration)") from None

    def parameters_diverged(value: float) -> None:
        raise _Divergence("the parameters became non-finite", value, f"at step {history.n_steps - 1}")

    def run_epoch(epoch: int) -> None:
        """The updates of one epoch by ``epoch_runner`` (in pieces that end at the checkpoints),
        recorded and checked as the per-batch body does."""
        nonlocal params, state, step, batch
        while batch < batches.steps_per_epoch:
            if stop.max_steps is not None and step >= stop.max_steps:
                raise _Stop(MAX_ITER, "")
            stop_if_asked()
            allowed = [stop.max_steps - step] if stop.max_steps is not None else []
            if checkpoint is not None:
                allowed.append(checkpoint_every - step % checkpoint_every)
            if interrupt.active() or callback is not None:  # short pieces: a stop is honoured soon, progress shown
                allowed.append(max(INTERRUPT_PIECE, PIECE_WORK // max(1, batches.size * math.prod(params.shape))))
            # the runner hands back only the parameter rows the history keeps (a bounded number)
            every, first, cap = history.param_plan(min(allowed) if allowed else None)
            done = epoch_runner(params, state, epoch, start=batch, gtol=stop.gtol,
                                record_params=KeepParams(every, first), max_steps=cap)
            history.record_steps(epoch, done.loss, done.grad_norm, done.lr, done.path, every, first)
            params, state = done.params, done.state
            step += len(done.loss)
            batch += len(done.loss)
            if len(done.loss) == 0 and done.halt is None:  # e.g. a file that lost rows since it was counted
                raise RuntimeError(f"the epoch runner made no update at batch {batch} of epoch {epoch}, which has "
                                   f"{batches.steps_per_epoch}; did the data change during the run?")
            if done.halt == "gradient":
                check_gradient(done.halt_loss, done.halt_grad_norm)
                raise RuntimeError(f"the epoch runner halted on a gradient norm of {done.halt_grad_norm}, "
                                   f"which passes the checks")
            if done.halt == "parameters":
                parameters_diverged(done.halt_loss)
            if callback is not None and len(done.loss):
                tell(StepInfo(history.n_steps, epoch, params, float(done.loss[-1]), float(done.grad_norm[-1]),
                              float(done.lr[-1]), len(done.loss) * batches.size))
            save_checkpoint()

    measured = epoch_metrics is not None and hasattr(objective, "evaluate")

    def evaluate(rows: Any, grad: bool = True) -> tuple[float, Any, dict | None]:
        """``(value, gradient or None, what the same pass measured)`` on all the training rows: an objective
        with ``evaluate`` (the classifiers) counts the epoch metrics it can (accuracy) in its pass."""
        if measured:
            return objective.evaluate(params, rows, grad=grad)
        if grad:
            value, g = objective.value_and_grad(params, rows)
            return value, g, None
        return objective.value(params, rows), None, None

    def metrics(seen: dict | None) -> dict:
        """The epoch metrics at ``params``; those in ``seen`` (measured by the pass just made there) are not
        measured again."""
        return epoch_metrics(params, seen) if epoch_metrics is not None else {}

    def end_of_epoch() -> None:
        """Validation loss and, for mini-batches, the loss and metrics on all the data (one pass); then the
        rules. A full-batch epoch's loss and metrics come from the next step's pass, at the same point."""
        nonlocal epoch, batch
        extra = {}
        if validation is not None:
            extra["val_loss"] = objective.value(params, validation)
        if full_batch:
            pending.clear()
            pending.update(extra)  # the training loss and metrics arrive with the next step's evaluation
        else:
            loss, full_grad, seen = evaluate(data, grad=stop.rgtol is not None)
            history.record_epoch(epoch, loss, params=params, **extra, **metrics(seen))
            diverges.check(loss, f"after epoch {epoch} (step {history.n_steps - 1})")
            if validation is None:
                patience.check(loss)
            if full_grad is not None:
                full_gradient_converged(global_norm(full_grad))
        epoch += 1
        batch = 0
        if validation is not None:
            patience.check(extra["val_loss"])

    # NumPy's floating-point warnings are off: overflow is detected (and explained) by the checks below
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        try:
            if not full_batch and stop.rgtol is not None:   # the reference of rgtol: the gradient at params0
                value0, grad0 = objective.value_and_grad(params0, data)
                first_full.append(global_norm(grad0))
                if resume is None:
                    diverges.check(value0, "before the first step")
            elif not full_batch and resume is None:
                diverges.check(objective.value(params, data), "before the first step")
            while stop.max_epochs is None or epoch - start_epoch < stop.max_epochs:
                if compiled:
                    run_epoch(epoch)
                    end_of_epoch()
                    continue
                for rows in (batches.epoch(epoch, batch) if batches is not None else (None,) if batch == 0 else ()):
                    if stop.max_steps is not None and step >= stop.max_steps:
                        raise _Stop(MAX_ITER, "")
                    stop_if_asked()
                    if full_batch:
                        value, grad, seen = evaluate(rows)
                    else:
                        value, grad = objective.value_and_grad(params, rows)
                    if tuple(grad.shape) != tuple(params.shape):
                        raise ValueError(f"the gradient has shape {tuple(grad.shape)} but the parameters "
                                         f"{tuple(params.shape)}")
                    gnorm = global_norm(grad)
                    if full_batch:
                        if batches is not None and step > 0:
                            history.record_epoch(epoch - 1, value, **{**pending, **metrics(seen)})
                        diverges.check(value, f"at step {history.n_steps}")
                        if validation is None:
                            patience.check(value)
                    check_gradient(value, gnorm)
                    updates, state = transform.update(grad, state, params)
                    lr = current_lr(state)
                    history.record_step(epoch, value, gnorm, lr, params)  # copied only if params are recorded
                    params = params + updates
                    step += 1
                    batch += 1
                    if not isfinite_all(params):
                        parameters_diverged(value)
                    if callback is not None:
                        tell(StepInfo(history.n_steps, epoch, params, value, gnorm, lr, _rows(rows)))
                    save_checkpoint()
                end_of_epoch()
        except _Stop as s:
            status, message = s.status, s.message
        except _Divergence as d:
            return finish(d.loss, None, DIVERGED, *explain(d.what, d.where))
        if status == INTERRUPTED:   # no pass over the data: the last loss recorded, or f at x for a function
            fun, jac = (objective.value_and_grad(params, None) if batches is None
                        else (float(history.loss[-1]) if history.n_steps else math.nan, None))
            return finish(fun, jac, status, message)
        fun, jac, seen = evaluate(data)

        last = history.last_epoch
        if full_batch and batches is not None and step > 0 and (last is None or last < epoch - 1):
            history.record_epoch(epoch - 1, fun, **{**pending, **metrics(seen)})
    if not math.isfinite(fun):
        return finish(fun, jac, DIVERGED, *explain(f"the loss became {fun}", f"after step {history.n_steps - 1}"))
    if status == MAX_ITER:
        steps_out = stop.max_steps is not None and step >= stop.max_steps
        limit = f"{step} steps" if steps_out else f"{epoch - start_epoch} epochs"
        if full_batch:
            last, first = (history.last("grad_norm") if step else None), (first_gnorm[0] if first_gnorm else None)
        else:   # rgtol's measures: the gradient over all the rows
            last, first = (first_full[1] if len(first_full) > 1 else None), (first_full[0] if first_full else None)
        unmet = _unmet_rules(stop, full_batch, last, first, patience)
        message = _limit_message(limit, unmet)
    return finish(fun, jac, status, message, success=status == CONVERGED)


def _unmet_rules(stop: StopRule, full_batch: bool, last_gnorm: float | None, first_gnorm: float | None,
                 patience: _Patience) -> dict[str, str]:
    """The convergence rules that were on when the budget ran out, each with how far it was from holding.

    ``last_gnorm`` is the gradient norm of the last update (the last one ``gtol`` and ``rgtol``
    tested; None when this run made none), ``first_gnorm`` the first one of the history (``rgtol``'s
    reference); for mini-batches, those of the gradient over all the rows (the last epoch's end, and
    ``params0``), which ``rgtol`` tests there.
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
        unmet["tol"] = (f"tol={stop.tol:g} not met (the {patience.what} improved by more than tol within the last "
                        f"{patience.n} epochs)")
    return unmet


def _limit_message(limit: str, unmet: dict[str, str]) -> str:
    """The message of a run that spent its budget (status 1, ``success`` False, as SciPy's ``maxiter``):
    which rules were on and not met, and what to change; or that no rule was on to be met.

    >>> _limit_message("100 steps", {"gtol": "gtol=1e-05 not met (gradient norm 0.0132 at the last step)"})
    'stopped at the limit of 100 steps with gtol=1e-05 not met (gradient norm 0.0132 at the last step): allow more steps, raise the learning rate, or loosen gtol'
    >>> _limit_message("5 epochs", {})
    'completed the 5 epochs asked for with no convergence rule on (gtol, rgtol and tol None): success needs one of them met'
    """
    if not unmet:
        return (f"completed the {limit} asked for with no convergence rule on (gtol, rgtol and tol None): "
                f"success needs one of them met")
    unit = limit.split()[-1]
    return (f"stopped at the limit of {limit} with {'; '.join(unmet.values())}: allow more {unit}, "
            f"raise the learning rate, or loosen {' or '.join(unmet)}")
