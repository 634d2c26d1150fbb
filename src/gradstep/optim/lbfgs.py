r"""L-BFGS as ``torch.optim.LBFGS`` computes it: the same settings, the same iterates (float64, 1e-12).

**How a step is counted.** One gradstep step (one update of the loop, one row of the history) is one
call of torch's ``LBFGS.step(closure)``: up to ``max_iter`` inner iterations and ``max_eval``
evaluations of the objective, made through the loop's ``value_and_grad_fn`` on the step's batch (the
loop's own evaluation at the step's start is torch's first ``closure()``). The history's ``lr`` column is
the step length :math:`t` of the last inner iteration (0 when the step did not move: the largest
gradient component was already at most ``tolerance_grad``). With ``max_iter=1`` a step is one inner
iteration (for ``line_search_fn=None``: one evaluation, the loop's).

An inner iteration is the two-loop recursion (Nocedal, 1980) over the last ``history_size`` pairs
:math:`s_i = t_i d_i`, :math:`y_i = g_{i+1} - g_i` (kept when :math:`y^\top s > 10^{-10}`), with
:math:`H_0 = (y^\top s / y^\top y)\,I`,

.. math::
    d_k = -H_k g_k,\qquad \theta_{k+1} = \theta_k + t_k d_k,

:math:`t_0 = \eta\min(1, 1/\lVert g_0\rVert_1)` at the very first iteration and :math:`t_k = \eta`
(``lr``) after, or :math:`t_k` from a line search satisfying the strong Wolfe conditions
(``line_search_fn="strong_wolfe"``: :func:`_strong_wolfe`, torch's port of minFunc's, with cubic
interpolation). The state keeps torch's: the last direction and step, the pairs (fixed-size arrays, the
first ``num_old`` rows in use, oldest first), :math:`H_0`'s scale, the last gradient and loss, and the
counters of iterations and evaluations over all steps.

Examples
--------
>>> import numpy as np
>>> from gradstep import minimize
>>> res = minimize("(1 - x)**2 + 100*(y - x**2)**2", x0=[-1.2, 1], optimizer="lbfgs", lr=1,
...                optimizer_params={"line_search_fn": "strong_wolfe", "tolerance_change": 0.0})
>>> res.success, res.nit, res.x.round(8).tolist()   # two steps of up to 20 iterations each
(True, 2, [1.0, 1.0])

torch's ``tolerance_change=1e-9`` ends a step's iterations once the loss changes by less than that, so
near a minimum whose value is about 1e-9 a step makes no progress (in torch too: at the default settings
this run stays at f = 4e-10): give ``tolerance_change=0`` to let ``gtol`` decide.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from ..backend import Array, as_float, copy, device, namespace
from .base import GradientTransformationExtraArgs, UpdateFn
from .transforms import ScaleByLrState

ValueAndGrad = Callable[[Array], tuple[float, Array]]


class LBFGSState(NamedTuple):
    """torch's ``LBFGS.state``: ``inner`` (steps made, the last step length :math:`t`), ``n_iter`` and
    ``func_evals`` over all steps, the direction ``d`` and step ``t`` of the last inner iteration, the pairs
    ``dirs`` (:math:`y_i`) and ``stps`` (:math:`s_i`) with ``ro`` (:math:`1/y_i^\\top s_i`), their number
    ``num_old``, ``H_diag``, ``prev_flat_grad`` and ``prev_loss``."""

    inner: ScaleByLrState
    n_iter: int
    func_evals: int
    d: Array
    t: float
    dirs: Array
    stps: Array
    ro: tuple[float, ...]
    num_old: int
    H_diag: float
    prev_flat_grad: Array
    prev_loss: float


def _dot(a: Array, b: Array) -> float:
    return as_float(namespace(a, b).sum(a * b))


def _absmax(a: Array) -> float:
    return as_float(namespace(a).max(namespace(a).abs(a)))


# --------------------------------------------------------------------- strong Wolfe line search
def _cubic_interpolate(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                       bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through :math:`(x_1, f_1, g_1)` and :math:`(x_2, f_2, g_2)`, clipped to
    ``bounds`` (default: between the two points); their midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


class _Point(NamedTuple):
    """A trial step ``t`` of the line search: the value, gradient and slope :math:`g^\\top d` there."""

    t: float
    f: float
    g: Array
    gtd: float


class _Search(NamedTuple):
    """The line search's fixed data: the function along ``d`` from ``x``, the value and slope at 0."""

    at: Callable[[float], _Point]
    f: float
    gtd: float
    c1: float
    c2: float


def _bracket(s: _Search, first: _Point, start: _Point, max_ls: int) -> tuple[list[_Point], bool, int, int]:
    """Phase 1: grow the step until an interval holds a point of the strong Wolfe conditions (or one is
    found). Returns the bracket, whether done, the trials made after the first, and the evaluations."""
    prev, new, ls_iter, evals = start, first, 0, 1
    while ls_iter < max_ls:
        if new.f > s.f + s.c1 * new.t * s.gtd or (ls_iter > 1 and new.f >= prev.f):
            return [prev, new], False, ls_iter, evals
        if abs(new.gtd) <= -s.c2 * s.gtd:
            return [new], True, ls_iter, evals
        if new.gtd >= 0:
            return [prev, new], False, ls_iter, evals
        t = _cubic_interpolate(prev.t, prev.f, prev.gtd, new.t, new.f, new.gtd,
                               bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev, new = new, s.at(t)
        evals += 1
        ls_iter += 1
    return [start, new], False, ls_iter, evals


def _zoom_trial(bracket: list[_Point], insuf_progress: bool) -> tuple[float, bool]:
    """The next trial step inside ``bracket``: the cubic's minimiser, kept away from the ends."""
    lo_t, hi_t = min(p.t for p in bracket), max(p.t for p in bracket)
    t = _cubic_interpolate(bracket[0].t, bracket[0].f, bracket[0].gtd, bracket[1].t, bracket[1].f, bracket[1].gtd)
    eps = 0.1 * (hi_t - lo_t)
    if min(hi_t - t, t - lo_t) >= eps:
        return t, False
    if insuf_progress or t >= hi_t or t <= lo_t:
        return (hi_t - eps if abs(t - hi_t) < abs(t - lo_t) else lo_t + eps), False
    return t, True


def _zoom(s: _Search, bracket: list[_Point], ls_iter: int, max_ls: int, d_norm: float,
          tolerance_change: float) -> tuple[_Point, int]:
    """Phase 2: shrink the bracket by cubic interpolation until a point meets the strong Wolfe conditions."""
    insuf_progress, evals, done = False, 0, False
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1].t - bracket[0].t) * d_norm < tolerance_change:
            break
        t, insuf_progress = _zoom_trial(bracket, insuf_progress)
        new = s.at(t)
        evals += 1
        ls_iter += 1
        if new.f > s.f + s.c1 * t * s.gtd or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(new.gtd) <= -s.c2 * s.gtd:
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = new
    return bracket[low], evals


def _strong_wolfe(value_and_grad: ValueAndGrad, x: Array, t: float, d: Array, f: float, g: Array, gtd: float,
                  tolerance_change: float = 1e-9, max_ls: int = 25) -> tuple[float, Array, float, int]:
    r"""torch's ``_strong_wolfe`` (minFunc's): a step :math:`t` along ``d`` from ``x`` with
    :math:`f(x + td) \le f + c_1 t\, g^\top d` and :math:`|\nabla f(x + td)^\top d| \le c_2 |g^\top d|`
    (:math:`c_1 = 10^{-4}`, :math:`c_2 = 0.9`). Returns the value, gradient and step found and the
    evaluations made."""

    def at(step: float) -> _Point:
        f_new, g_new = value_and_grad(x + step * d)
        return _Point(step, float(f_new), g_new, _dot(g_new, d))

    search = _Search(at, f, gtd, 1e-4, 0.9)
    bracket, done, ls_iter, evals = _bracket(search, at(t), _Point(0.0, f, g, gtd), max_ls)
    if done:
        return bracket[0].f, bracket[0].g, bracket[0].t, evals
    if ls_iter == max_ls:      # torch's bracket [0, t] (then no zoom: the budget is spent)
        low = 0 if f <= bracket[-1].f else 1
        return bracket[low].f, bracket[low].g, bracket[low].t, evals
    best, more = _zoom(search, bracket, ls_iter, max_ls, _absmax(d), tolerance_change)
    return best.f, best.g, best.t, evals + more


# --------------------------------------------------------------------- the two-loop recursion
def _direction(st: LBFGSState, flat_grad: Array, history_size: int) -> LBFGSState:
    """The state with the new direction :math:`d = -H g` (and the pair of the last step added)."""
    if st.n_iter == 1:
        zeros = namespace(flat_grad).zeros_like(st.dirs)
        return st._replace(d=-flat_grad, dirs=zeros, stps=copy(zeros), ro=(0.0,) * history_size, num_old=0,
                           H_diag=1.0)
    xp = namespace(flat_grad)
    y, s = flat_grad - st.prev_flat_grad, st.d * st.t
    ys = _dot(y, s)
    dirs, stps, ro, num_old, H_diag = st.dirs, st.stps, st.ro, st.num_old, st.H_diag
    if ys > 1e-10:
        if num_old == history_size:       # drop the oldest pair
            dirs, stps, ro, num_old = xp.roll(dirs, -1, axis=0), xp.roll(stps, -1, axis=0), ro[1:] + (0.0,), num_old - 1
        else:
            dirs, stps = copy(dirs), copy(stps)
        dirs[num_old], stps[num_old] = y, s
        ro = ro[:num_old] + (1.0 / ys,) + ro[num_old + 1:]
        num_old += 1
        H_diag = ys / _dot(y, y)
    al = [0.0] * num_old
    q = -flat_grad
    for i in range(num_old - 1, -1, -1):
        al[i] = _dot(stps[i], q) * ro[i]
        q = q - al[i] * dirs[i]
    r = q * H_diag
    for i in range(num_old):
        be_i = _dot(dirs[i], r) * ro[i]
        r = r + (al[i] - be_i) * stps[i]
    return st._replace(d=r, dirs=dirs, stps=stps, ro=ro, num_old=num_old, H_diag=H_diag)


# --------------------------------------------------------------------- the optimiser
class _Settings(NamedTuple):
    lr: float
    max_iter: int
    max_eval: int
    tolerance_grad: float
    tolerance_change: float
    history_size: int
    strong_wolfe: bool


def _check_settings(lr: float, max_iter: int, max_eval: int | None, tolerance_grad: float,
                    tolerance_change: float, history_size: int, line_search_fn: str | None) -> _Settings:
    if not (math.isfinite(float(lr)) and lr >= 0):
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    for name, v in (("max_iter", max_iter), ("history_size", history_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {v!r}")
    if line_search_fn not in (None, "strong_wolfe"):
        raise ValueError(f"line_search_fn must be None or 'strong_wolfe' (as in torch.optim.LBFGS), "
                         f"got {line_search_fn!r}")
    max_eval = max_iter * 5 // 4 if max_eval is None else int(max_eval)
    return _Settings(float(lr), max_iter, max_eval, float(tolerance_grad), float(tolerance_change), history_size,
                     line_search_fn == "strong_wolfe")


def _iterate(cfg: _Settings, st: LBFGSState, x: Array, loss: float, flat_grad: Array,
             value_and_grad: ValueAndGrad) -> tuple[Array, LBFGSState]:
    """The inner iterations of one torch ``step()`` from ``x`` (where the loop evaluated ``loss`` and
    ``flat_grad``): the point reached and the state."""
    n_iter, current_evals, func_evals = 0, 1, st.func_evals + 1
    while n_iter < cfg.max_iter:
        n_iter += 1
        st = _direction(st._replace(n_iter=st.n_iter + 1), flat_grad, cfg.history_size)
        st = st._replace(prev_flat_grad=flat_grad, prev_loss=loss)
        t = min(1.0, 1.0 / as_float(namespace(flat_grad).sum(namespace(flat_grad).abs(flat_grad)))) * cfg.lr \
            if st.n_iter == 1 else cfg.lr
        st = st._replace(t=t)
        gtd = _dot(flat_grad, st.d)
        if gtd > -cfg.tolerance_change:
            break
        ls_evals, opt_cond = 0, False
        if cfg.strong_wolfe:
            loss, flat_grad, t, ls_evals = _strong_wolfe(value_and_grad, x, t, st.d, loss, flat_grad, gtd,
                                                         max_ls=cfg.max_eval - current_evals)
            x = x + t * st.d
            opt_cond = _absmax(flat_grad) <= cfg.tolerance_grad
        else:
            x = x + t * st.d
            if n_iter != cfg.max_iter:
                loss, flat_grad = value_and_grad(x)
                loss, ls_evals = float(loss), 1
                opt_cond = _absmax(flat_grad) <= cfg.tolerance_grad
        current_evals += ls_evals
        func_evals += ls_evals
        st = st._replace(t=t)   # the line search's
        if (n_iter == cfg.max_iter or current_evals >= cfg.max_eval or opt_cond
                or _absmax(st.d * t) <= cfg.tolerance_change or abs(loss - st.prev_loss) < cfg.tolerance_change):
            break
    return x, st._replace(func_evals=func_evals)


def lbfgs(lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None, tolerance_grad: float = 1e-7,
          tolerance_change: float = 1e-9, history_size: int = 100,
          line_search_fn: str | None = None) -> GradientTransformationExtraArgs:
    r"""L-BFGS with ``torch.optim.LBFGS``'s settings and iterates; a step is one torch ``step(closure)``
    (see the module's docstring: how a step is counted). Full batch: the inner iterations evaluate the
    objective on the step's batch.

    Parameters
    ----------
    lr : float, default=1.0
        The step length :math:`\eta` of an iteration without a line search (the first trial step with one).
    max_iter : int, default=20
        Inner iterations per step.
    max_eval : int, optional
        Evaluations per step (default ``max_iter * 5 // 4``, as torch).
    tolerance_grad, tolerance_change : float
        A step stops when the largest gradient component is at most ``tolerance_grad``, or the step, the
        loss change or the slope are below ``tolerance_change``.
    history_size : int, default=100
        The pairs :math:`(s, y)` kept.
    line_search_fn : {None, "strong_wolfe"}

    Examples
    --------
    >>> import numpy as np
    >>> opt, x = lbfgs(), np.array([1.0, 1.0])
    >>> vg = lambda p: (float(p @ p), 2 * p)
    >>> u, state = opt.update(2 * x, opt.init(x), x, value=2.0, value_fn=None, value_and_grad_fn=vg)
    >>> np.abs(x + u).max() < 1e-12, state.n_iter    # the second iteration's quasi-Newton step is exact
    (np.True_, 2)
    """
    cfg = _check_settings(lr, max_iter, max_eval, tolerance_grad, tolerance_change, history_size, line_search_fn)

    def init(params: Array) -> LBFGSState:
        xp = namespace(params)
        flat = xp.reshape(params, (-1,))
        pairs = xp.zeros((cfg.history_size, flat.shape[0]), dtype=params.dtype, device=device(params))
        return LBFGSState(ScaleByLrState(0, math.nan), 0, 0, xp.zeros_like(flat), 0.0, pairs, copy(pairs),
                          (0.0,) * cfg.history_size, 0, 1.0, xp.zeros_like(flat), math.nan)

    def update(grads: Array, state: LBFGSState, params: Array | None = None, *, value: float,
               value_fn: Any, value_and_grad_fn: ValueAndGrad) -> tuple[Array, LBFGSState]:
        if params is None:
            raise ValueError("lbfgs needs params: call update(grads, state, params, value=..., ...)")
        xp = namespace(params)
        shape, x0 = params.shape, xp.reshape(params, (-1,))
        flat_grad = xp.reshape(grads, (-1,))
        count = state.inner.count + 1
        if _absmax(flat_grad) <= cfg.tolerance_grad:
            return xp.zeros_like(params), state._replace(inner=ScaleByLrState(count, 0.0),
                                                         func_evals=state.func_evals + 1)

        def flat_value_and_grad(x: Array) -> tuple[float, Array]:
            f, g = value_and_grad_fn(xp.reshape(x, shape))
            return float(f), xp.reshape(g, (-1,))

        x, st = _iterate(cfg, state, x0, float(value), flat_grad, flat_value_and_grad)
        return xp.reshape(x - x0, shape), st._replace(inner=ScaleByLrState(count, st.t))

    return GradientTransformationExtraArgs(init, cast(UpdateFn, update))   # takes the loop's keywords
