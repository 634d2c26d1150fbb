r"""Linear regression by gradient descent, a scikit-learn regressor.

Examples
--------
>>> import numpy as np
>>> from gradstep import LinearRegression
>>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 2 * X.ravel() + 1
>>> model = LinearRegression(lr=0.1, epochs=2000, tol=None).fit(X, y)
>>> np.round(model.coef_, 6), round(model.intercept_, 6)
(array([2.]), 1.0)
>>> model.history_.loss[:2]   # mse at theta_0 = (0, 0) and theta_1 = (1.7, 0.8)
array([21.   ,  0.535])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from .. import backend, diagnostics
from ..data.batching import FixedBatch
from ..objectives import LOSSES, Penalty, SquaredError, SquaredStats
from ..optim import GradientTransformation
from .base import GradientDescentModel


class LinearRegression(RegressorMixin, GradientDescentModel):
    r"""Linear regression fitted by gradient descent, with a full record of the run.

    Minimises, over :math:`W` (d × k) and :math:`b` (k),

    .. math:: \frac{1}{m}\sum_i s_i\,\ell(x_i^\top W + b, y_i) + \alpha R(W)

    where :math:`\ell` is the squared error in the convention ``loss`` (see
    :class:`gradstep.objectives.SquaredError`), :math:`s_i` the sample weights and
    :math:`R` the ``penalty``. ``batch_size=None`` is batch gradient descent, ``1``
    per-sample SGD and anything between mini-batch; each epoch is one pass over the rows.

    Parameters
    ----------
    loss : {"mse", "half_mse", "sum"}, default="mse"
        Mean of squares (PyTorch's ``MSELoss``), half of it, or the plain sum.
    fit_intercept : bool, default=True
    optimizer : str or GradientTransformation, default="auto"
        ``"auto"``: FISTA with restarts (``"fista"``) for full batches with ``lr="auto"``, else
        the plain step; ``"gd"`` / ``"sgd"`` (the plain step), ``"momentum"``, ``"nesterov"``,
        ``"adagrad"``, ``"rmsprop"``, ``"adam"``, ``"fista"``, or a transform from
        :mod:`gradstep.optim` (which then carries its own learning rate). The one used is
        ``optimizer_``. With an L1 part in the penalty, the plain, momentum and FISTA steps are
        proximal (:mod:`gradstep.optim.proximal`): coefficients land on exact zeros.
    lr : float, schedule or "auto", default="auto"
        Learning rate, a number or a function ``count -> lr`` (:mod:`gradstep.optim.schedules`).
        ``"auto"`` takes :math:`1/L`, half the largest stable learning rate of the data
        (:func:`gradstep.stable_lr`) for full batches; for mini-batches and single rows,
        :math:`1/\mathcal L_B` from the batch's expected smoothness, decayed as
        :math:`\eta_0/(1 + \eta_0\lambda_2 t)` with an L2 part :math:`\lambda_2` (so that the
        steps reach the optimum, not a noise ball around it); torch's default for AdaGrad,
        RMSProp and Adam. The value used is ``lr_``.
    optimizer_params : dict, optional
        Hyper-parameters of the named optimizer, torch's names: ``{"momentum": 0.95}``, ``{"betas": (0.9, 0.99)}``.
    epochs : int, default=1000
        Maximum number of passes over the data.
    batch_size : int or None, default=None
        Rows per step; ``None`` for all of them.
    shuffle : bool, default=True
        Shuffle the rows every epoch (mini-batch and per-sample only).
    random_state : int, Generator or None
        Seed of the shuffling and of the validation split; the seed used is saved in ``history_.meta``.
    penalty : {None, "l2", "l1", "elasticnet"}, default=None
    alpha : float, default=0.0001
        Penalty strength (scikit-learn's SGD convention: :math:`\alpha\cdot\tfrac12\lVert w\rVert^2` for L2).
    l1_ratio : float, default=0.15
        Share of L1 in the elastic net.
    clip_value, clip_norm : float, optional
        Clip each gradient component to ``[-clip_value, clip_value]`` / rescale the
        gradient to L2 norm at most ``clip_norm``.
    scale : {None, "standard", "minmax"}, default=None
        Scale the features inside the model (see :mod:`gradstep.scaling`):
        gradient descent runs on the scaled features (the history is in those
        units), ``coef_`` and ``intercept_`` are reported in the original units.
    tol : float, "auto" or None, default="auto"
        Stop when the loss on all the data (the validation loss with
        ``early_stopping``) has not improved by ``tol`` for ``n_iter_no_change``
        epochs. ``"auto"``: 1e-3 on the validation loss with ``early_stopping``, else off (slow
        progress is no sign of an optimum near: ``gtol`` decides). ``None`` with ``gtol="auto"``
        runs exactly ``epochs`` epochs. The value used is ``tol_``.
    n_iter_no_change : int, default=5
    gtol : float, "auto" or None, default="auto"
        Stop (converged) once the gradient norm is at most ``gtol`` times its norm at the
        start, :math:`\lVert\nabla f(\theta_k)\rVert \le \mathrm{gtol}\,
        \lVert\nabla f(\theta_0)\rVert` (scale-free, unlike SciPy's absolute ``gtol``; with
        L1, the minimum-norm subgradient); it measures the distance to the optimum, where the
        ``tol`` rule measures progress. Full batch: at every step. Mini-batches: the gradient
        over all the rows at the end of each epoch. ``"auto"``: 1e-5 for full batches, 2e-4
        for mini-batches (objective within about 1e-7 and 5e-5 of its minimum, relative, on the
        problems of ``benchmarks/defaults.py``); off with ``tol=None``. The value used is ``gtol_``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows; their loss is recorded every
        epoch (``val_loss`` in ``history_``) and drives the ``tol`` rule.
    validation_fraction : float, default=0.1
    average : bool or int, default=False
        Averaged SGD: report the mean of the iterates (from the start, or once
        ``average`` rows have been seen).
    warm_start : bool, default=False
        ``fit`` continues from the last fit: its parameters, optimiser state,
        schedule and history.
    record_params : {"thinned", "all", "none"}, bool or int, default="thinned"
        Which steps' parameters ``history_`` keeps (every step's scalars are always kept):
        ``"thinned"`` every step's up to :data:`gradstep.param_rows.MAX_PARAM_ROWS` (10,000)
        steps, then evenly thinned (every 2nd, 4th... step, at most 10,000 rows) plus each
        epoch's end; an int ``L`` the same with at most ``L``; ``"all"`` (or ``True``) every
        step's; ``"none"`` (or ``False``) none. ``history_.param_steps`` names the steps kept.
    backend : {None, "numpy", "torch"}, default=None
        What computes: ``None`` follows the input (NumPy arrays with NumPy, torch
        tensors with torch on their device); ``"torch"`` runs NumPy input on PyTorch.
        Results come back in the input's type either way (see :mod:`gradstep.models.placement`).
    device : str or torch.device, optional
        The torch device for ``backend="torch"`` (``"cpu"``, ``"cuda"``); tensor input
        stays on its own device by default.
    sufficient_stats : bool or "auto", default="auto"
        Full-batch descent from :math:`\tilde X^\top\tilde X` and :math:`\tilde X^\top y`, gathered
        in one pass (:mod:`gradstep.objectives.stats`): each step then costs :math:`O(d^2)`
        whatever the number of rows. ``"auto"`` uses them for full batches when the rows are
        at least ``4 (d + 1)``; ``False`` always steps through the rows. The iterates agree to
        rounding (about :math:`\kappa\epsilon` relative); the recorded loss is accurate to
        :math:`\epsilon \sum y^2` absolute. Ignored for mini-batches.

    Attributes
    ----------
    coef_ : ndarray or tensor of shape (n_features,) or (n_targets, n_features)
        A tensor on the input's device when fitted on tensors.
    intercept_ : float or ndarray (tensor) of shape (n_targets,)
    scaling_ : FeatureScaling
        The scaling learnt from ``X`` (identity when ``scale=None``).
    lr_ : float or schedule
        The learning rate used (``lr`` resolved).
    n_iter_ : int
        Epochs run by the last call.
    t_ : int
        Updates made in all.
    history_ : History
        Loss, gradient norm, learning rate (and parameters) per step; loss per epoch.
    result_ : Result
        The loop's result of the last call (SciPy ``OptimizeResult`` conventions).
    """

    _multi_output = True

    def __init__(
        self,
        loss: str = "mse",
        fit_intercept: bool = True,
        optimizer: str | GradientTransformation = "auto",
        lr: Any = "auto",
        optimizer_params: Mapping[str, Any] | None = None,
        epochs: int = 1000,
        batch_size: int | None = None,
        shuffle: bool = True,
        random_state: Any = None,
        penalty: str | None = None,
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        scale: str | None = None,
        tol: float | str | None = "auto",
        n_iter_no_change: int = 5,
        gtol: float | str | None = "auto",
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        average: bool | int = False,
        warm_start: bool = False,
        record_params: bool | int | str = "thinned",
        backend: str | None = None,
        device: Any = None,
        sufficient_stats: bool | str = "auto",
    ) -> None:
        self.loss = loss
        self.sufficient_stats = sufficient_stats
        super().__init__(
            fit_intercept=fit_intercept, optimizer=optimizer, lr=lr, optimizer_params=optimizer_params,
            epochs=epochs, batch_size=batch_size, shuffle=shuffle, random_state=random_state, penalty=penalty,
            alpha=alpha, l1_ratio=l1_ratio, clip_value=clip_value, clip_norm=clip_norm, scale=scale, tol=tol,
            n_iter_no_change=n_iter_no_change, gtol=gtol, early_stopping=early_stopping,
            validation_fraction=validation_fraction, average=average, warm_start=warm_start,
            record_params=record_params, backend=backend, device=device,
        )

    @property
    def loss_name(self) -> str:
        return self.loss

    def _encode(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        if first:
            self._single_output = y.ndim == 1
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _objective(self, n_features: int, n_outputs: int, penalty: Penalty) -> SquaredError:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES} ('mse' = mean of squares, 'half_mse' = half of it, "
                             f"'sum' = plain sum), got {self.loss!r}")
        return SquaredError(n_features, n_outputs, self.loss, bool(self.fit_intercept), penalty)

    def _store(self, W: Any, b: Any) -> None:
        if self._single_output:
            self.coef_ = backend.copy(W[:, 0])
            self.intercept_ = float(b[0]) if b is not None else 0.0
        else:
            self.coef_ = backend.copy(W.T)
            self.intercept_ = backend.copy(b) if b is not None else backend.zeros_like(W[0, :])

    def _batches(self, Z: Any, Y: Any, w: Any) -> Any:
        batches = super()._batches(Z, Y, w)
        if self.sufficient_stats not in (True, False, "auto"):
            raise ValueError(f"sufficient_stats must be True, False or 'auto', got {self.sufficient_stats!r}")
        p = Z.shape[1] + int(bool(self.fit_intercept))
        use = self.sufficient_stats is True or (self.sufficient_stats == "auto" and Z.shape[0] >= 4 * p)
        self.history_.meta["sufficient_stats"] = bool(batches.full_batch and use)
        if not (batches.full_batch and use):
            return batches
        return FixedBatch(SquaredStats.of(Z, Y, w, bool(self.fit_intercept)), Z.shape[0])

    def _summary_data(self, summary: Any) -> Any:
        return None if self.sufficient_stats is False else self.stream_summary_.units.stats(summary)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> LinearRegression:
        """One more epoch over ``(X, y)``, continuing the optimiser state, schedule and history.

        Over consecutive chunks this gives the same iterates as ``fit`` with the same
        batch order (``shuffle=False``, chunk sizes a multiple of ``batch_size``).
        """
        return self._partial_fit(X, y, sample_weight=sample_weight)

    def predict(self, X: Any) -> Any:
        """:math:`\\hat y = X w + b` for each row of ``X`` (in the type of ``X``: an array or a tensor)."""
        from .. import faults

        out = faults.check_predictions(self._decision(X), X)  # an overflow is an error, never inf or nan
        return out[:, 0] if self._single_output else out

    def _reference(self, batch: tuple[np.ndarray, np.ndarray], start: np.ndarray) -> tuple[np.ndarray, float]:
        """The closed form (:func:`gradstep.diagnostics.closed_form`, exact and faster) unless there is an
        L1 penalty, which has none: then the base class's :func:`~gradstep.reference.reference_solve`."""
        obj = self._objective_
        if obj.penalty.l1:
            return super()._reference(batch, start)
        Z, Y = batch
        coef, b = diagnostics.closed_form(Z, Y, bool(self.fit_intercept), self.loss, obj.penalty.l2)
        best = obj.pack(np.asarray(coef).T, np.atleast_1d(b) if self.fit_intercept else None)
        return best, obj.value(best, batch)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
