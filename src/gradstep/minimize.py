r"""Minimise any function by gradient descent, SciPy-style.

Examples
--------
>>> from gradstep import minimize
>>> res = minimize("x**2 + y**2", x0=[3, 2], lr=0.1, steps=50)
>>> res.success, res.nit, res.x.round(6).tolist()
(True, 50, [4.3e-05, 2.9e-05])
>>> res.history.path[1].tolist()      # one step: (3, 2) - 0.1 * (6, 4)
[2.4, 1.6]
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from . import diagnostics
from .history import History
from .loop import Result, StepInfo, StopRule, run
from .objectives import FormulaObjective, FunctionObjective
from .optim import GradientTransformation, make_optimizer

GRADS = ("symbolic", "numeric", "autograd")


def _start(x0: Any, n_vars: int | None) -> np.ndarray:
    try:
        x = np.array(x0, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"x0 must be a list of numbers, got {x0!r}") from None
    if x.dtype.kind in "iub":
        x = x.astype(np.float64)
    elif x.dtype not in (np.float32, np.float64):
        raise ValueError(f"x0 must be real numbers (float32 or float64), got dtype {x.dtype}")
    x = np.atleast_1d(x)
    if x.ndim != 1:
        raise ValueError(f"x0 must be a flat list of numbers, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x0 must be finite, got {x.tolist()}")
    if n_vars is not None and x.size != n_vars:
        raise ValueError(f"x0 has {x.size} values but the formula has {n_vars} variables; give one value per variable")
    return x


def _autograd_objective(fun: Callable[[Any], Any]) -> Any:
    """``AutogradObjective(fun)``, importing torch only now (``import gradstep`` never does)."""
    try:
        from .objectives.autograd import AutogradObjective
    except ImportError as e:
        raise ImportError("grad='autograd' needs PyTorch: pip install torch") from e
    return AutogradObjective(fun)


def _evaluate_with_torch(formula: Any, x: Any) -> Any:
    """A formula at the 1-D tensor ``x``, with torch operations (so autograd can differentiate it)."""
    import torch

    return formula.evaluate(*torch.unbind(x), xp=torch)


def minimize(
    fun: str | Callable[[np.ndarray], float],
    x0: Sequence[float] | np.ndarray,
    *,
    optimizer: str | GradientTransformation = "gd",
    lr: Any = 0.01,
    steps: int = 100,
    tol: float | None = None,
    gtol: float | None = None,
    n_iter_no_change: int = 5,
    grad: Callable[[np.ndarray], Any] | str | None = None,
    variables: Sequence[str] | None = None,
    optimizer_params: Mapping[str, Any] | None = None,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    record_params: bool = True,
    callback: Callable[[StepInfo], Any] | None = None,
    divergence: float | None = 1e6,
) -> Result:
    r"""Minimise ``fun`` from ``x0`` by (stochastic-free) gradient descent.

    Repeats :math:`x_{k+1} = x_k + u_k` with :math:`u_k` from the optimiser
    (for ``"gd"``, :math:`u_k = -\eta_k \nabla f(x_k)`) for ``steps`` steps, or
    until a tolerance or divergence stops it.

    Parameters
    ----------
    fun : str or callable
        A formula such as ``"x**2 + y**2"`` or ``"(1 - x)**2 + 100*(y - x**2)**2"``
        (parsed safely, never evaluated as Python; variables in alphabetical order
        unless ``variables`` names them), or a function ``fun(x) -> float`` of a 1-D array.
    x0 : array_like
        Starting point, one value per variable.
    optimizer : str or GradientTransformation, default="gd"
        ``"gd"`` / ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``,
        ``"rmsprop"``, ``"adam"``, or a transform chain.
    lr : float or schedule, default=0.01
    steps : int, default=100
        Maximum number of updates.
    tol : float, optional
        Stop when ``fun`` has not decreased by ``tol`` for ``n_iter_no_change`` steps.
    gtol : float, optional
        Stop when the gradient norm is at most ``gtol``.
    grad : callable or {"symbolic", "numeric", "autograd"}, optional
        The gradient: a function ``grad(x) -> array``; ``"symbolic"`` (exact,
        formulas only; the default for them); ``"numeric"`` (central differences,
        :math:`h = 10^{-6}`; the default for callables); ``"autograd"`` (PyTorch's
        autograd: ``fun`` receives ``x`` as a tensor of ``x0``'s float type and
        must compute its value with torch operations, e.g.
        ``lambda p: ((p - target) ** 2).mean()``; a formula is evaluated with torch).
        Only ``"autograd"`` imports torch.
    variables : sequence of str, optional
        Order of a formula's variables, e.g. ``["w", "b"]``.
    optimizer_params : dict, optional
        Further hyper-parameters of a named optimiser (torch names).
    clip_value, clip_norm : float, optional
        Gradient clipping by value / by L2 norm.
    record_params : bool, default=True
        Keep :math:`x_k` in the history (its ``path``).
    callback : callable, optional
        ``callback(StepInfo)`` after every step; raise ``StopIteration`` to stop.
    divergence : float or None, default=1e6
        Stop as diverged when ``fun`` exceeds ``f(x0) + divergence * max(|f(x0)|, 1)``.

    Returns
    -------
    Result
        SciPy's fields (``x``, ``fun``, ``jac``, ``nit``, ``success``, ``status``,
        ``message``) and ``history``. On divergence ``success`` is False and the
        message gives the step, the learning rate and the largest stable one.

    Raises
    ------
    gradstep.expression.FormulaError
        For a formula that is refused (with what and where).
    """
    if isinstance(fun, str):
        from .expression import parse

        formula = parse(fun, variables)
        names: Sequence[str] | None = formula.variables
        if grad in (None, "symbolic"):
            objective: Any = FormulaObjective(formula)
        elif grad == "numeric":
            objective = FunctionObjective(formula, "numeric")
        elif grad == "autograd":
            objective = _autograd_objective(functools.partial(_evaluate_with_torch, formula))
        elif callable(grad):
            objective = FunctionObjective(formula, grad)
        else:
            raise ValueError(f"grad must be a function, 'symbolic', 'numeric' or 'autograd', got {grad!r}")
    elif callable(fun):
        if variables is not None:
            raise ValueError("variables names the variables of a formula string; fun is a function")
        if grad == "symbolic":
            raise ValueError("grad='symbolic' needs a formula string; for a function give grad=callable, "
                             "'numeric' or 'autograd'")
        if grad == "autograd":
            objective = _autograd_objective(fun)
        elif grad is None or grad == "numeric" or callable(grad):
            objective = FunctionObjective(fun, "numeric" if grad is None else grad)
        else:
            raise ValueError(f"grad must be a function, 'numeric' or 'autograd', got {grad!r}")
        names = None
    else:
        raise TypeError(f"fun must be a formula string or a callable, got {type(fun).__name__}")

    x = _start(x0, len(names) if names is not None else None)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    transform = make_optimizer(optimizer, lr, optimizer_params, clip_value, clip_norm)
    stop = StopRule(max_steps=int(steps), tol=tol, n_iter_no_change=n_iter_no_change, gtol=gtol,
                    divergence=divergence)
    history = History(
        record_params=record_params,
        param_names=names,
        meta={"fun": fun if isinstance(fun, str) else getattr(fun, "__name__", repr(fun)),
              "optimizer": optimizer if isinstance(optimizer, str) else "custom transform",
              "lr": lr if isinstance(lr, (int, float)) else repr(lr),
              "optimizer_params": dict(optimizer_params or {}),
              "x0": x.tolist(), "steps": steps},
    )
    x_start = x.copy()
    result = run(objective, x, transform, None, stop, history=history, callback=callback,
                 stable_lr=lambda: diagnostics.stable_lr_at(lambda p: objective.value_and_grad(p), x_start))
    if names is not None:
        result["variables"] = tuple(names)
    return result
