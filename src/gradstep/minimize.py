r"""Minimise any function by gradient descent, SciPy-style.

As SciPy's ``minimize(method="BFGS")``, a run succeeds when the gradient norm falls to
``gtol`` (default ``1e-5``); one that spends its ``steps`` first does not, and says why.

Examples
--------
>>> from gradstep import minimize
>>> res = minimize("x**2 + y**2", x0=[3, 2], lr=0.1)
>>> res.success, res.nit, res.message     # ‖∇f(x_k)‖ = 2‖x_k‖ = 2‖(3, 2)‖ 0.8^k ≤ 1e-5 from k = 61 on
(True, 61, 'converged: the gradient norm 8.84e-06 is at most gtol=1e-05')
>>> res.history.path[1].tolist()      # one step: (3, 2) - 0.1 * (6, 4)
[2.4, 1.6]
>>> res = minimize("x**2 + y**2", x0=[3, 2], lr=0.1, steps=50)
>>> res.success, res.status, res.x.round(6).tolist()   # the 50 steps ran out first
(False, 1, [4.3e-05, 2.9e-05])
>>> res.message
'stopped at the limit of 50 steps with gtol=1e-05 not met (gradient norm 0.000129 at the last step): allow more steps, raise the learning rate, or loosen gtol'

A torch tensor (CPU or CUDA) as ``x0`` keeps the whole run on its device, in
its dtype; the history is NumPy as always:

>>> import torch
>>> res = minimize("x**2 + y**2", x0=torch.tensor([3.0, 2.0], dtype=torch.float64), lr=0.1, steps=1)
>>> res.x, res.history.path[-1].tolist()
(tensor([2.4000, 1.6000], dtype=torch.float64), [2.4, 1.6])
"""  # noqa: E501 (doctest output: a message is one line)

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import array_api_compat
import numpy as np

from . import checkpoint as checkpoints
from . import diagnostics
from .backend import Array, device, isfinite_all, namespace, to_numpy
from .history import History
from .loop import Checkpointing, Result, StepInfo, StopRule, run
from .objectives import FormulaObjective, FunctionObjective
from .optim import GradientTransformation, chain, make_optimizer
from .optim.linesearch import line_search
from .optim.projections import ProjectedGradient, as_projection, projected

GRADS = ("symbolic", "numeric", "autograd")
DEFAULT_GTOL = 1e-5
"""The default ``gtol``: the value of SciPy's ``minimize(method="BFGS")``. SciPy tests it on the largest
component of the gradient (``norm=inf``), gradstep on its 2-norm, which is never smaller: the stricter rule."""
DEFAULT_STEPS = 10_000
r"""The default step budget. Plain gradient descent at the default ``lr = 0.01`` shrinks the gradient of
a quadratic whose Hessian's smallest eigenvalue is :math:`\mu` by :math:`1 - 0.01\mu` a step, so going
from a gradient norm of 1 to ``gtol = 1e-5`` takes :math:`\ln(10^5) / (0.01\mu) \approx 1150/\mu`
steps: 10,000 reach it for :math:`\mu \gtrsim 0.12` (the README's :math:`\|x - 1\|^2`, with
:math:`\mu = 2`, needs 622). It is also the most steps whose every point the history keeps
(:data:`gradstep.param_rows.MAX_PARAM_ROWS`). SciPy's ``200 n`` suits quasi-Newton steps, whose count
does not grow with the conditioning: plain gradient descent's does."""


def _start(x0: Any, n_vars: int | None) -> Array:
    """``x0`` checked and copied: a float NumPy array, or for a torch tensor a detached tensor copy on its device."""
    if array_api_compat.is_torch_array(x0):
        return _start_tensor(x0, n_vars)
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
    return _finite_one_per_variable(x, n_vars)


def _start_tensor(x0: Any, n_vars: int | None) -> Any:
    """A torch ``x0``: the checks of :func:`_start`, on its device (never modifying the caller's tensor)."""
    import torch

    x = x0.detach()
    if x.dtype == torch.bool or x.is_complex() or x.is_quantized:
        raise ValueError(f"x0 must be a tensor of real numbers (float32, float64 or integers), got dtype {x.dtype}; "
                         "convert it, e.g. x0.double()")
    if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"x0 must be a float32 or float64 tensor, got {x.dtype}; convert it, e.g. x0.float()")
    x = x.clone() if x.is_floating_point() else x.to(torch.float64)  # integers count as float64, as in NumPy
    x = x.reshape(1) if x.ndim == 0 else x
    if x.ndim != 1:
        raise ValueError(f"x0 must be a 1-D tensor, one value per variable, got shape {tuple(x.shape)}; "
                         "flatten it, e.g. x0.reshape(-1)")
    return _finite_one_per_variable(x, n_vars)


def _finite_one_per_variable(x: Array, n_vars: int | None) -> Array:
    """The checks every 1-D starting point gets, in its own array library: finite, one value per variable."""
    if not isfinite_all(x):
        raise ValueError(f"x0 must be finite, got {x.tolist()}")
    if n_vars is not None and x.shape[0] != n_vars:
        raise ValueError(f"x0 has {x.shape[0]} values but the formula has {n_vars} variables; "
                         "give one value per variable")
    return x


def _in_namespace_of(fun: Callable[[Any], Any], x: Array) -> Callable[[Any], Any]:
    """``fun`` taking NumPy points as arrays of ``x``'s library on its device (float64, as NumPy gives them)."""
    xp, dev = namespace(x), device(x)

    @functools.wraps(fun)
    def wrapped(p: Any) -> Any:
        return fun(xp.asarray(p, device=dev) if isinstance(p, np.ndarray) else p)

    return wrapped


def _autograd_objective(fun: Callable[[Any], Any]) -> Any:
    """``AutogradObjective(fun)``, importing torch only now (``import gradstep`` never does)."""
    try:
        from .objectives.autograd import AutogradObjective
    except ImportError as e:
        raise ImportError("grad='autograd' needs PyTorch: pip install torch") from e
    return AutogradObjective(fun)


def minimize(
    fun: str | Callable[[Array], Any],
    x0: Sequence[float] | Array,
    *,
    optimizer: str | GradientTransformation = "gd",
    lr: Any = 0.01,
    steps: int = DEFAULT_STEPS,
    tol: float | None = None,
    gtol: float | None = DEFAULT_GTOL,
    n_iter_no_change: int = 5,
    grad: Callable[[Array], Any] | str | None = None,
    variables: Sequence[str] | None = None,
    optimizer_params: Mapping[str, Any] | None = None,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    record_params: bool | int | str = True,
    callback: Callable[[StepInfo], Any] | None = None,
    divergence: float | None = 1e6,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1000,
    resume: bool = False,
    line_search: str | Mapping[str, Any] | None = None,
    bounds: Sequence[tuple[float | None, float | None]] | None = None,
    projection: str | tuple | Callable[[Array], Array] | None = None,
) -> Result:
    r"""Minimise ``fun`` from ``x0`` by (stochastic-free) gradient descent.

    Repeats :math:`x_{k+1} = x_k + u_k` with :math:`u_k` from the optimiser
    (for ``"gd"``, :math:`u_k = -\eta_k \nabla f(x_k)`) until :math:`\|\nabla f(x_k)\| \le` ``gtol``
    (a success, as in SciPy), the ``tol`` rule holds (a success too), ``steps`` updates are spent (a
    failure whose message says which rule was not met and what to change), or it diverges.

    Parameters
    ----------
    fun : str or callable
        A formula such as ``"x**2 + y**2"`` or ``"(1 - x)**2 + 100*(y - x**2)**2"``
        (parsed safely, never evaluated as Python; variables in alphabetical order
        unless ``variables`` names them), or a function ``fun(x) -> float`` of a 1-D array
        (of ``x0``'s library: a tensor when ``x0`` is one).
    x0 : array_like or torch.Tensor
        Starting point, one value per variable: a list or NumPy array (run in
        float64, or float32 if it is float32), or a 1-D torch tensor on any
        device, float32 or float64 (integers become float64). A tensor is
        copied (detached from any graph; the caller's is never modified) and
        the whole run stays on its device, in its dtype: iterates, gradients
        and optimiser state are tensors there; only the history is NumPy.
    optimizer : str or GradientTransformation, default="gd"
        ``"gd"`` / ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``,
        ``"rmsprop"``, ``"adam"``, or a transform chain.
    lr : float, schedule or "polyak", default=0.01
        ``"polyak"``: Polyak's step :math:`(f(x_k) - f^\star)/\lVert\nabla f(x_k)\rVert^2` for ``"gd"``,
        with ``optimizer_params={"f_star": ...}`` (default 0; also ``max_lr``), e.g.
        ``minimize("x**2 + 4*y**2", [1, 1], lr="polyak")``.
    steps : int, default=10_000
        Maximum number of updates (:data:`DEFAULT_STEPS` says why this many).
    tol : float, optional
        Converge when ``fun`` has not decreased by ``tol`` for ``n_iter_no_change`` steps.
    gtol : float or None, default=1e-5
        Converge when the gradient's 2-norm is at most ``gtol`` (SciPy's BFGS default value; SciPy
        measures the largest component, so this is the stricter test).
        ``None`` switches the rule off: with ``tol`` off too the run does its ``steps`` and, no rule
        having been met, reports ``success=False``.
    grad : callable or {"symbolic", "numeric", "autograd"}, optional
        The gradient: a function ``grad(x) -> array``; ``"symbolic"`` (exact,
        formulas only; the default for them); ``"numeric"`` (central differences,
        :math:`h = 10^{-6}`; the default for callables); ``"autograd"`` (PyTorch's
        autograd: ``fun`` receives ``x`` as a tensor of ``x0``'s float type and
        must compute its value with torch operations, e.g.
        ``lambda p: ((p - target) ** 2).mean()``; a formula is evaluated with torch).
        Only ``"autograd"`` imports torch. With a tensor ``x0`` a formula is
        evaluated with torch on its device; ``"numeric"`` steps in float64 on
        the host (as for NumPy), handing a callable each point as a float64
        tensor on ``x0``'s device.
    variables : sequence of str, optional
        Order of a formula's variables, e.g. ``["w", "b"]``.
    optimizer_params : dict, optional
        Further hyper-parameters of a named optimiser (torch names).
    clip_value, clip_norm : float, optional
        Gradient clipping by value / by L2 norm.
    record_params : {"thinned", "all", "none"}, bool or int, default=True
        Which :math:`x_k` the history keeps (its ``path``): ``True`` or ``"all"`` every one;
        ``"thinned"`` every one up to 10,000 steps, then an evenly thinned set (:mod:`gradstep.param_rows`);
        an int ``L >= 2`` at most ``L`` so thinned; ``False`` or ``"none"`` none.
    callback : callable, optional
        ``callback(StepInfo)`` after every step; raise ``StopIteration`` to stop.
    divergence : float or None, default=1e6
        Stop as diverged when ``fun`` exceeds ``f(x0) + divergence * max(|f(x0)|, 1)``.
    checkpoint : path, optional
        Save the run there (atomically, :mod:`gradstep.checkpoint`) every ``checkpoint_every``
        steps and when it is interrupted (:mod:`gradstep.interrupt`).
    checkpoint_every : int, default=1000
    resume : bool, default=False
        If ``checkpoint`` exists, go on from it (the same settings are required) to the result
        the uninterrupted run would have given.
    line_search : "armijo" or dict, optional
        Choose each step by backtracking (:func:`gradstep.optim.linesearch.armijo`; ``lr`` is then not
        used): ``"armijo"``, or a dict of its settings (``c``, ``shrink``, ``initial``, ``grow``,
        ``max_backtracks``), e.g. ``minimize("x**2 + 1000*y**2", [1, 1], line_search={"c": 0.1})``.
        With ``"gd"`` it searches along the gradient; with another optimiser, along that optimiser's
        update at ``lr = 1``. The history's ``lr`` column is the step taken.
    bounds : list of (lo, hi), optional
        One pair per variable as SciPy spells it, ``None`` for an open side:
        ``minimize("(x - 2)**2 + y**2", [0, 0], bounds=[(0, 1), (None, None)])`` keeps
        :math:`0 \le x \le 1` at every iterate (projected gradient descent,
        :mod:`gradstep.optim.projections`).
    projection : "simplex", "l2_ball", ("l2_ball", r) or callable, optional
        Keep every iterate in a set by projecting it after each step (a callable maps a point to its
        projection): ``minimize("(x - 1)**2 + (y - 1)**2", [0.5, 0.5], projection="simplex")``.
        With ``bounds`` or ``projection``, ``x0`` is projected first, so the whole path is feasible, and
        the gradient (the optimiser's, ``gtol``'s, the history's) is the gradient mapping
        :math:`(x - P(x - \eta\nabla f(x)))/\eta` (:class:`~gradstep.optim.projections.ProjectedGradient`,
        :math:`\eta` the ``lr`` when it is a number, else 1), 0 exactly at the constrained optimum: ``"gd"``
        steps to :math:`P(x - \eta\nabla f(x))`, projected gradient descent.

    Returns
    -------
    Result
        SciPy's fields (``x``, ``fun``, ``jac``, ``nit``, ``success``, ``status``,
        ``message``) and ``history``; ``x`` and ``jac`` have ``x0``'s library,
        dtype and device (a NumPy array for a list). ``success`` is True only when ``gtol`` or
        ``tol`` was met (``status`` 0). On divergence ``success`` is False and the
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
    elif callable(fun):
        if variables is not None:
            raise ValueError("variables names the variables of a formula string; fun is a function")
        names = None
    else:
        raise TypeError(f"fun must be a formula string or a callable, got {type(fun).__name__}")
    x = _start(x0, len(names) if names is not None else None)
    objective = _objective(formula if names is not None else fun, grad, x)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    project = as_projection(projection, bounds)
    transform = _transform(optimizer, lr, optimizer_params, (clip_value, clip_norm), line_search, project)
    if project is not None:   # a feasible start, and the projected gradient (0 at the constrained optimum)
        eta = float(lr) if isinstance(lr, (int, float)) and lr > 0 else 1.0
        x, objective = project(x), ProjectedGradient(objective, project, eta)
    from . import faults

    faults.check_schedule(lr)          # a schedule giving nan/inf/negative at the start: ValueError naming lr
    faults.check_start(objective, x)   # fun or its gradient not finite at x0: an error, not a "divergence"
    stop = StopRule(max_steps=int(steps), tol=tol, n_iter_no_change=n_iter_no_change, gtol=gtol,
                    divergence=divergence)
    history = History(
        record_params=record_params,
        param_names=names,
        meta={"fun": fun if isinstance(fun, str) else getattr(fun, "__name__", repr(fun)),
              "optimizer": optimizer if isinstance(optimizer, str) else "custom transform",
              "lr": lr if isinstance(lr, (int, float, str)) else repr(lr),
              "optimizer_params": dict(optimizer_params or {}),
              "x0": x.tolist(), "steps": steps, **_constraints(line_search, bounds, projection)},
    )
    value_and_grad, x_start = _on_numpy(objective, x)
    ck = checkpoints.CheckpointFile.of(checkpoint, checkpoint_every, resume)
    saving, snapshot = None, None
    if ck is not None:
        settings = {**history.meta, "tol": tol, "gtol": gtol,
                    "n_iter_no_change": n_iter_no_change, "grad": grad if isinstance(grad, (str, type(None)))
                    else getattr(grad, "__qualname__", repr(grad)), "clip_value": clip_value, "clip_norm": clip_norm,
                    "divergence": divergence, "record_params": record_params, "variables": list(names or [])}
        if ck.resumes():
            history, snapshot = _restore(ck.path, settings)

        def save(snap: Any) -> None:
            checkpoints.save(ck.path, {"kind": "minimize", "settings": settings, "history": history,
                                       "snapshot": snap})

        saving = Checkpointing(save, ck.every)

    result = run(objective, x, transform, None, stop, history=history, callback=callback,
                 stable_lr=lambda: diagnostics.stable_lr_at(value_and_grad, x_start),
                 checkpoint=saving, resume=snapshot)
    if names is not None:
        result["variables"] = tuple(names)
    return result


def _transform(optimizer: str | GradientTransformation, lr: Any, params: Mapping[str, Any] | None,
               clips: tuple[float | None, float | None], search: str | Mapping[str, Any] | None,
               project: Callable[[Array], Array] | None) -> GradientTransformation:
    """The chain of a run: the optimiser (or a line search along its direction), then the projection."""
    if search is None:
        transform = make_optimizer(optimizer, lr, params, *clips)
    elif clips != (None, None) or isinstance(lr, str):
        raise ValueError("line_search chooses each step itself: leave out clip_value, clip_norm and lr='polyak'")
    else:
        plain = isinstance(optimizer, str) and optimizer.lower() in ("gd", "sgd") and not params
        transform = line_search(search, None if plain else make_optimizer(optimizer, 1.0, params))
    return transform if project is None else chain(transform, projected(project))


def _constraints(search: Any, bounds: Any, projection: Any) -> dict[str, Any]:
    """The history's record of the line search and the constraints, those given only."""
    given = {"line_search": search, "bounds": bounds,
             "projection": getattr(projection, "__name__", repr(projection)) if callable(projection) else projection}
    return {k: (list(v) if k == "bounds" else v) for k, v in given.items() if v is not None}


def _restore(path: str | os.PathLike, settings: dict[str, Any]) -> tuple[History, Any]:
    """The history and snapshot saved in the checkpoint ``path``, after checking it is this run's."""
    saved = checkpoints.load(path)
    if not isinstance(saved, dict) or saved.get("kind") != "minimize":
        raise ValueError(f"{path}: the checkpoint is not of a minimize run; give another --checkpoint, or delete "
                         f"it to start afresh")
    theirs = saved["settings"]
    differ = [f"{k}={theirs.get(k)!r} there, {v!r} here" for k, v in settings.items() if theirs.get(k) != v]
    if differ:
        raise ValueError(f"{path}: the checkpoint was made with other settings ({'; '.join(differ)}); use the "
                         f"same settings to resume, or delete the checkpoint to start afresh")
    return saved["history"], saved["snapshot"]


def _objective(fun: Any, grad: Any, x: Array) -> Any:
    """The objective of ``fun`` (a parsed formula or a callable) with the gradient ``grad`` asks for.

    Everything is evaluated in ``x``'s library, dtype and device, except the
    central differences of ``grad="numeric"``: :func:`~gradstep.objectives.numeric_grad`
    steps in float64 NumPy, so a formula is evaluated there by NumPy and a
    callable receives each point as a float64 array of ``x``'s library on its
    device (2n host-to-device copies of n numbers per gradient).
    """
    from .expression import Formula

    if isinstance(fun, Formula):
        formula = FormulaObjective(fun)  # evaluated in x's library, on its device
        if grad in (None, "symbolic"):
            return formula
        if grad == "numeric":
            return FunctionObjective(formula.value, "numeric")
        if grad == "autograd":
            return _autograd_objective(formula.evaluate)  # torch operations, so autograd sees them
        if callable(grad):
            return FunctionObjective(formula.value, grad)
        raise ValueError(f"grad must be a function, 'symbolic', 'numeric' or 'autograd', got {grad!r}")
    if grad == "symbolic":
        raise ValueError("grad='symbolic' needs a formula string; for a function give grad=callable, "
                         "'numeric' or 'autograd'")
    if grad == "autograd":
        return _autograd_objective(fun)
    if grad is None or grad == "numeric":
        return FunctionObjective(fun if isinstance(x, np.ndarray) else _in_namespace_of(fun, x), "numeric")
    if callable(grad):
        return FunctionObjective(fun, grad)
    raise ValueError(f"grad must be a function, 'numeric' or 'autograd', got {grad!r}")


def _on_numpy(objective: Any, x: Array) -> tuple[Callable[[np.ndarray], tuple[float, np.ndarray]], np.ndarray]:
    """``(value_and_grad, x)`` for :func:`gradstep.diagnostics.stable_lr_at`, which works on NumPy points.

    For an ``x`` of another library, each NumPy point is evaluated as an array
    of ``x``'s library on its device (float64, as the diagnostic steps) and the
    gradient comes back with :func:`~gradstep.backend.to_numpy`.
    """
    if isinstance(x, np.ndarray):
        return (lambda p: objective.value_and_grad(p)), x.copy()
    xp, dev = namespace(x), device(x)

    def value_and_grad(p: np.ndarray) -> tuple[float, np.ndarray]:
        value, g = objective.value_and_grad(xp.asarray(p, device=dev))
        return value, to_numpy(g)

    return value_and_grad, np.array(to_numpy(x), dtype=np.float64, copy=True)
