r"""An estimator's run of the one loop: a fresh start (the ``"auto"`` settings resolved) and each call of it.

:class:`Descent` is what an in-memory fit (:mod:`gradstep.models.memory`) and a streamed fit
(:mod:`gradstep.models.streamed`) share: :meth:`Descent._begin` makes the objective, the
learning rate (``lr="auto"``: :meth:`Descent._auto_lr`), the optimiser (``optimizer="auto"``),
the start, the optimiser state and the history; :meth:`Descent._run` calls
:func:`gradstep.loop.run` on the batches it is given (through the compiled epochs of
:mod:`gradstep.kernels.loops` when they can run the fit) and sets the fitted attributes from
its result.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import backend
from ..data.batching import Batches, resolve_seed
from ..history import History
from ..loop import (
    DIVERGED,
    MAX_ITER,
    Checkpointing,
    DivergenceError,
    EpochRunner,
    Result,
    Snapshot,
    StepInfo,
    StopRule,
    every_step,
    limit_reached,
    run,
)
from ..objectives import LinearObjective, Penalty
from ..optim import REGISTRY, GradientTransformation, make_optimizer
from ..optim.schedules import inverse_epochs
from ..scaling import FeatureScaling
from .averaging import Averager
from .placement import host
from .settings import Settings, plain_values

GTOL_FULL = 1e-5
"""``gtol="auto"`` for full batches: the gradient norm at most 1e-5 of its first value (on standardised data
the objective is then within about 1e-7 of its minimum, relative: ``benchmarks/defaults.py``)."""

HALF_LIFE = 10.0
"""Epochs until the mini-batch step of ``lr="auto"`` is halved (longer with an L2 penalty: :meth:`Descent._auto_lr`)."""

GTOL_BATCHES = 2e-4
"""``gtol="auto"`` for mini-batches: the gradient over all the rows, at the end of an epoch, at most 2e-4
of its norm at the start."""


class Descent(Settings):
    """A fresh run's settings and the calls of the loop, shared by in-memory and streamed fits."""

    # ------------------------------------------------------------------ a fresh run
    def _begin(self, penalty: Penalty, d: int, k: int, n: int, dtype: np.dtype, scaling: FeatureScaling,
               stable: Callable[[bool], float], coef_init: Any, intercept_init: Any) -> None:
        """A fresh run: objective, scaling, learning rate, optimiser state, history.

        ``lr="auto"``: :meth:`_auto_lr` (``stable(per_sample)`` the largest stable learning rate, full batch
        or one row) for the plain and momentum steps; ``None`` (the optimiser's torch default) for the
        adaptive ones.
        """
        self._seed = resolve_seed(self.random_state)
        self._objective_ = self._objective(d, k, penalty)
        self.scaling_ = scaling
        auto = isinstance(self.lr, str) and self.lr == "auto"
        if isinstance(self.lr, str) and not auto:
            raise ValueError(f"lr must be a number, a schedule or 'auto', got {self.lr!r}")
        self._full_batch = self.batch_size is None or self.batch_size >= n
        self.optimizer_ = self._resolve_optimizer(self._full_batch)
        self.lr_ = self._auto_lr(stable, n) if auto else self.lr
        self._theta = self._initial_params(self._objective_, dtype, coef_init, intercept_init)
        self._state = self._make_transform().init(self._theta)
        self._epochs_done = 0
        start = int(self.average) if not isinstance(self.average, bool) else (1 if self.average else 0)
        self._averager = Averager(start) if start else None
        self.history_ = History(
            record_params=self.record_params, param_names=self._param_names(d, k),
            meta={"model": type(self).__name__, "params": plain_values(self.get_params()), "seed": self._seed,
                  "optimizer": self.optimizer_ if isinstance(self.optimizer_, str) else "transform",
                  "backend": self._placement.describe(),
                  "n_samples": n, "scale": self.scaling_.kind,
                  "lr": self.lr_ if isinstance(self.lr_, (int, float)) or self.lr_ is None else repr(self.lr_)},
        )
        if scaling.active:   # the parameters are recorded in the scaled units: what maps them back (x - c) / s
            self.history_.meta["scaling"] = {
                "center": np.asarray(backend.to_numpy(scaling.center), dtype=np.float64).tolist(),
                "scale": np.asarray(backend.to_numpy(scaling.scale), dtype=np.float64).tolist()}

    def _initial_params(self, obj: LinearObjective, dtype: Any, coef_init: Any, intercept_init: Any) -> Any:
        """The start: ``coef_init`` / ``intercept_init`` (original units; zeros when not given) in the units
        of the fit, on the compute side."""
        d, k = obj.n_features, obj.n_outputs
        W = np.zeros((d, k), dtype=dtype)
        if coef_init is not None:
            c = np.asarray(host(coef_init), dtype=dtype)
            if c.size != d * k:
                want = f"({d},)" if k == 1 else f"({k}, {d})"
                raise ValueError(f"coef_init has shape {c.shape}; it must have shape {want} (n_targets, n_features)")
            W = c.reshape(k, d).T.copy()
        b = np.zeros(k, dtype=dtype)
        if intercept_init is not None:
            if not self.fit_intercept:
                raise ValueError("intercept_init was given but fit_intercept=False")
            i = np.asarray(host(intercept_init), dtype=dtype).reshape(-1)
            if i.size != k:
                raise ValueError(f"intercept_init has {i.size} values; it must have {k} (one per output)")
            b = i
        W, b = self._placement.put(W), self._placement.put(b)
        return obj.pack(*self.scaling_.to_scaled(W, b if self.fit_intercept else None))

    def _auto_lr(self, stable: Callable[[bool], float], n: int) -> Any:
        r"""``lr="auto"``: :math:`1/L` for full batches; for batches of :math:`B` rows, the step
        :math:`\eta_0 = 1/\mathcal L_B` of the batch gradient's expected smoothness (Gower et al., 2019),

        .. math:: \mathcal L_B = \frac{n - B}{B(n - 1)} L_{max} + \frac{n (B - 1)}{B (n - 1)} L

        (:math:`L_{max}` the largest one-row curvature: the noise of small batches), decayed with the
        epochs, :math:`\eta_0 / (1 + k/h)` (:class:`~gradstep.optim.schedules.inverse_epochs`), so that the
        steps reach the optimum instead of a noise ball around it. The half-life :math:`h` is
        :data:`HALF_LIFE` epochs, or :math:`4 / (\lambda_2 \eta_0 s)` (:math:`s` steps per epoch) when
        an L2 part :math:`\lambda_2` makes that longer: the decay must not outrun the contraction
        :math:`(1 - \eta\lambda_2)^s` of an epoch (measured: 2 left the softmax fits of
        ``benchmarks/defaults.py`` 4e-4 above the optimum after 1000 epochs, 4 and 8 about 5e-5).
        ``None`` (torch's default) for the adaptive optimisers."""
        if self._adaptive():
            return None
        if self._full_batch:
            return 0.5 * stable(False)
        B = int(cast(int, self.batch_size))   # mini-batches: a number
        L_max = 2.0 / stable(True)
        L = L_max if B == 1 else 2.0 / stable(False)
        L_B = ((n - B) * L_max + n * (B - 1) * L) / (B * (n - 1)) if n > 1 else L_max
        eta, steps = 1.0 / L_B, -(-n // B)
        mu = self._objective_.penalty.l2
        half_life = max(HALF_LIFE, 4.0 / (mu * eta * steps)) if mu > 0 else HALF_LIFE
        return inverse_epochs(eta, steps, half_life)

    def _resolve_optimizer(self, full_batch: bool) -> str | GradientTransformation:
        """``optimizer="auto"``: FISTA for full batches with ``lr="auto"`` (its step 1/L is known), else
        the plain step (``"sgd"``), whose meaning an explicit learning rate keeps exactly."""
        if not (isinstance(self.optimizer, str) and self.optimizer.lower() == "auto"):
            return self.optimizer
        lr_auto = isinstance(self.lr, str) and self.lr == "auto"
        return "fista" if full_batch and lr_auto and not self.optimizer_params else "sgd"

    def _adaptive(self) -> bool:
        """AdaGrad, RMSProp, the Adam family, ...: the named optimisers whose step is not ``-lr`` times a
        gradient or a momentum buffer (the registry's non-proximal ones), so no ``lr="auto"`` bound."""
        entry = REGISTRY.get(self.optimizer.lower()) if isinstance(self.optimizer, str) else None
        return entry is not None and not entry.proximal

    def _make_transform(self) -> GradientTransformation:
        """The optimiser chain, rebuilt from the hyper-parameters (its closures are not stored, so a
        fitted estimator pickles; its state is)."""
        obj = self._objective_
        W, b = obj.unpack(self._theta)
        xp = backend.namespace(W)
        mask = obj.pack(xp.ones_like(W), None if b is None else xp.zeros_like(b))
        return make_optimizer(self.optimizer_, self.lr_, self.optimizer_params, self.clip_value, self.clip_norm,
                              l1=obj.penalty.l1, mask=mask, cumulative=not self._full_batch)

    # ------------------------------------------------------------------ a call of the loop
    def _run(self, objective: Any, batches: Any, *, epochs: int, tol: float | str | None, callback: Callable | None,
             validation: tuple | None, explain: Callable[[], float | None],
             compile: Callable[[], EpochRunner | None], epoch_metrics: Callable | None = None,
             checkpoint: Checkpointing | None = None, resume: Snapshot | None = None) -> Result:
        """The loop on ``batches`` from the current state; the fitted attributes from its result."""
        self.tol_, self.gtol_ = self._rules(tol, validation is not None)
        stop = StopRule(max_epochs=epochs, tol=self.tol_, n_iter_no_change=self.n_iter_no_change,
                        rgtol=self.gtol_)
        transform = self._make_transform()  # built (and its settings checked) before any fast path looks at them
        compiled = compile()
        self.history_.meta["compiled"] = compiled is not None
        # compiled epochs average inside the kernel and tell a progress callback between their pieces
        callbacks = [c for c in (self._averager, callback) if c is not None and (compiled is None or c is callback)]

        def both(info: StepInfo) -> None:
            for c in callbacks:
                c(info)

        both.every_step = any(every_step(c) for c in callbacks)  # type: ignore[attr-defined]

        result = run(objective, self._theta, transform, batches, stop, history=self.history_,
                     state=self._state, callback=both if callbacks else None, stable_lr=explain,
                     validation=validation, start_epoch=self._epochs_done,
                     epoch_metrics=epoch_metrics, epoch_runner=compiled, checkpoint=checkpoint, resume=resume)
        if result.status == DIVERGED:
            raise DivergenceError(result.message, self.history_.n_steps, self.history_.lr[-1] if self.history_.n_steps
                                  else np.nan, result.fun, self.history_.meta.get("stable_lr"), self.history_)
        self._theta, self._state = result.x, result.state
        self._epochs_done += result.nepoch
        theta = self._averager.mean if self._averager is not None and self._averager.mean is not None else result.x
        W, b = self.scaling_.to_original(*self._objective_.unpack(theta))
        self._store(self._output.put(W), self._output.put(b))
        self.n_iter_ = result.nepoch
        self.t_ = self.history_.n_steps
        self.result_ = result
        return result

    def _rules(self, tol: float | str | None, validating: bool) -> tuple[float | None, float | None]:
        """The ``tol`` and ``gtol`` in force: ``"auto"`` is the gradient rule (``gtol`` :data:`GTOL_FULL`
        for full batches, :data:`GTOL_BATCHES` on the gradient over all the rows at each epoch's end for
        mini-batches), the loss rule only on a validation loss (``tol`` 1e-3 with ``early_stopping``):
        the loss improving slowly is no sign of an optimum near. ``tol=None`` with ``gtol="auto"`` runs
        every epoch asked for (``partial_fit``'s one epoch too)."""
        gtol = self.gtol
        if isinstance(gtol, str):   # tol=None asks for every epoch (scikit-learn's way): no rule then
            gtol = None if tol is None else GTOL_FULL if self._full_batch else GTOL_BATCHES
        if isinstance(tol, str):
            tol = 1e-3 if validating else None
        return tol, gtol

    def _compiled_epochs(self, batches: Any, callback: Callable | None, block: bool = False) -> EpochRunner | None:
        """The compiled epochs of :mod:`gradstep.kernels.loops` when they can run this fit (mini-batches
        of NumPy rows, a named optimiser, no callback; averaging included), else None: the plain loop."""
        if (callback is not None and every_step(callback)) or not isinstance(batches, Batches) or (
                batches.full_batch and not block):
            return None
        if not isinstance(self.optimizer, str) or not isinstance(batches.X, np.ndarray):
            return None
        from ..kernels import loops

        averager = self._averager
        runner = loops.epoch_runner(self._objective_, batches, self.optimizer_, self.lr_, self.optimizer_params,
                                    self.clip_value, self.clip_norm, self._state, block=block,
                                    average=None if averager is None else averager.running_mean())
        return runner if runner is None or averager is None else averager.around(runner)

    def _warn_unconverged(self, result: Result) -> None:
        """scikit-learn's convention: a ``ConvergenceWarning`` when the epochs ran out while a convergence
        rule (``tol``, ``gtol``) was on, naming what to change; a run with every rule off did what it was asked."""
        if result.status == MAX_ITER and (self.tol_ is not None or self.gtol_ is not None):
            # the loop's facts (its rgtol is the estimators' gtol), then the estimator's own advice
            said = limit_reached(f"{result.nepoch} epochs", result.unmet).replace("rgtol", "gtol")
            warnings.warn(f"{type(self).__name__} did not converge: {said}; {self._advice()}", ConvergenceWarning,
                          stacklevel=3)

    def _advice(self) -> str:
        """What to change when the epochs ran out before the rules in force were met."""
        rules = ", ".join(f"{name}={value:g}" for name, value in (("tol", self.tol_), ("gtol", self.gtol_))
                          if value is not None)
        steps = [f"raise epochs (now {self.epochs})"]
        if self.scale is None:
            steps.append("scale the features (scale='standard') if they are not standardised")
        if not self._full_batch:
            steps.append("use larger batches (batch_size: less noisy steps)")
        elif not (isinstance(self.lr, str) and self.lr == "auto"):
            steps.append("leave lr='auto' (FISTA at 1/L)")
        return f"{', '.join(steps)}, or loosen the rule ({rules}; None turns it off)"


__all__ = ["GTOL_BATCHES", "GTOL_FULL", "HALF_LIFE", "Descent"]
