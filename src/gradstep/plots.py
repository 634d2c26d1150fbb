r"""Figures of a run: the loss per step, the fitted line, the loss landscape with the descent path,
and for classifiers the loss and accuracy per epoch, the confusion matrix and the decision regions.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``,
no global state: it works without a display and in threads), returns it, and
writes it with :func:`save_figure` when ``path`` is given (atomically; the
format from the suffix: ``.png``, ``.svg`` or ``.pdf``).

The landscape plots take a vectorised function of the plotted coordinates;
:func:`formula_surface`, :func:`objective_surface` (and their ``_curve``
variants) build one. ``import gradstep`` does not import this module or matplotlib.

Examples
--------
>>> import pathlib, tempfile
>>> from gradstep import minimize
>>> runs = [minimize("x**2 + y**2", x0=[3, 2], lr=lr, steps=30).history for lr in (0.4, 0.1)]
>>> with tempfile.TemporaryDirectory() as d:
...     fig = plot_contour(formula_surface("x**2 + y**2"), runs, optimum=(0, 0),
...                        path=pathlib.Path(d, "contour.png"))
...     [p.name for p in pathlib.Path(d).iterdir()]
['contour.png']
>>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
('x', 'y')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, LogNorm, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator
from PIL import Image
from sklearn.metrics import confusion_matrix
from sklearn.utils.multiclass import unique_labels

from .atomic import replacing
from .history import History

__all__ = ["animate_contour", "animate_decision_boundary", "formula_curve", "formula_surface", "objective_curve",
           "objective_surface", "plot_classification_curves", "plot_confusion", "plot_contour", "plot_curve",
           "plot_decision_boundary", "plot_epoch_loss", "plot_fit", "plot_loss", "save_figure"]

FIGSIZE = (7.0, 5.0)   # inches
DPI = 100
FORMATS = ("png", "svg", "pdf")
GRID = 150             # points per side of a contour grid
GIF_HOLD = 1.5         # seconds an animation's last frame stays before it starts again
REGION_GRID = 400      # cells per side of a decision-region grid (about a pixel each: smooth edges)
CURVE_POINTS = 400     # points of a 1-D loss curve
MARGIN = 0.15          # share of the span added on each side of the default bounds
BLOWUP = 10.0          # a path counts for the default bounds until its loss exceeds f0 + BLOWUP * max(|f0|, 1)
LOG_LIMIT = 150.0      # log axes end by 1e±150: matplotlib's log ticks overflow near 1e308
MAX_MARKERS = 100      # markers drawn along one path (every point is in the line's data)
SPARSE_PATH = 15       # a path of at most this many points gets large markers: each of its steps shows
PATH_MARKERS = "o^sDv"  # one marker shape per overlaid path (or per class of the data)
REGION_TINT = 0.3      # a decision region's colour: its class colour mixed with this much of it, the rest white
MAX_CELL_TEXTS = 20    # classes up to which the confusion matrix writes the count in each cell

Histories = History | Sequence[History]
PathLike = str | os.PathLike
Run = tuple[History, str | None]   # a history and its legend label
Aspect = Literal["auto", "equal"] | float   # a contour plot's y/x scale ratio, as matplotlib's set_aspect takes it


# --- writing ------------------------------------------------------------------------------

def save_figure(fig: Figure, path: PathLike) -> Path:
    """Write ``fig`` to ``path`` atomically: render to a temporary file in the same folder, then rename.

    The format comes from the suffix (``.png``, ``.svg``, ``.pdf``); missing folders are created.
    A failure leaves the old file, if any, as it was and no temporary file behind.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> fig = Figure(figsize=(2, 1))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_figure(fig, pathlib.Path(d, "out", "empty.svg")).name
    'empty.svg'
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"cannot tell the figure format from {path.name!r}: end the name with "
                         + ", ".join(f".{f}" for f in FORMATS))
    with replacing(path, parents=True) as tmp:
        fig.savefig(tmp, format=fmt, dpi=fig.dpi)
    return path


def _figure() -> Figure:
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)   # a pixel canvas of its own, not pyplot's
    return fig


def _finish(fig: Figure, path: PathLike | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


LEGEND_FONT = 9.0      # points: the legend under a figure, readable when the figure is shown at 3/4 size


def _legend(fig: Figure, handles: Sequence[Any], labels: Sequence[str], **kwargs: Any) -> Any:
    """The legend under the axes (``fig.legend``, laid out by the figure), never over a path or a curve,
    in as many columns as fit on a line of the figure's width."""
    inch_per_char, entry = 0.5 * LEGEND_FONT / 72, 0.6   # an entry's handle and spacing, in inches
    widths = [entry + inch_per_char * max(map(len, str(label).splitlines())) for label in labels]
    room = fig.get_figwidth() - 0.3
    rows, ncols = 1, len(widths)   # as few rows as hold the widest entries side by side
    while ncols > 1 and sum(sorted(widths)[-ncols:]) > room:
        rows += 1
        ncols = -(-len(widths) // rows)
    legend = fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=LEGEND_FONT,
                        title_fontsize=LEGEND_FONT, **kwargs)
    for handle in legend.legend_handles:   # a faint line (per-step noise) named at full strength
        if isinstance(handle, Line2D):
            handle.set_alpha(1.0)
            handle.set_linewidth(max(handle.get_linewidth(), 1.5))
    return legend


# --- runs, labels, titles -------------------------------------------------------------------

def _describe(h: History) -> str:
    """``"adam, lr=0.05, batch=10"`` from the settings saved in ``h.meta``."""
    s = {**(h.meta.get("params") or {}), **h.meta}
    parts = [str(s["optimizer"])] if s.get("optimizer") else []
    if isinstance(s.get("lr"), (int, float)):
        parts.append(f"lr={s['lr']:g}")
    if s.get("batch_size"):
        parts.append(f"batch={s['batch_size']}")
    return ", ".join(parts)


def _runs(histories: Histories, labels: Sequence[str] | None) -> list[Run]:
    """The histories paired with their legend labels (from their settings when not given)."""
    hs = [histories] if isinstance(histories, History) else list(histories)
    if not hs or not all(isinstance(h, History) for h in hs):
        raise TypeError("histories must be a History or a non-empty sequence of them")
    named: list[str | None]
    if labels is None:
        described = [_describe(h) for h in hs]
        if len(hs) == 1:
            named = [None]
        elif not all(described) or len(set(described)) < len(described):
            named = [f"run {i + 1}" + (f" ({s})" if s else "") for i, s in enumerate(described)]
        else:
            named = list(described)
    else:
        named = list(labels)
    if len(named) != len(hs):
        raise ValueError(f"got {len(named)} labels for {len(hs)} histories")
    return list(zip(hs, named))


def _title(what: str, runs: list[Run]) -> str:
    """``what: subject (settings)``, the subject on a second line when it is long."""
    subjects = {str(h.meta.get("fun") or h.meta.get("model") or "") for h, _ in runs}
    subject = subjects.pop() if len(subjects) == 1 else ""
    if len(runs) == 1 and (settings := _describe(runs[0][0])):
        subject = f"{subject} ({settings})" if subject else settings
    if len(subject) > 70:
        subject = subject[:67] + "..."
    return f"{what}: {subject}" if subject and len(what) + len(subject) <= 55 else f"{what}\n{subject}".strip()


def _axis_names(runs: list[Run], coords: Sequence[int], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        return [str(n) for n in names]
    for h, _ in runs:
        if h.param_names and all(-len(h.param_names) <= c < len(h.param_names) for c in coords):
            return [h.param_names[c] for c in coords]
    return [f"θ[{c}]" for c in coords]


def _finite(a: Any) -> np.ndarray:
    """``a`` as floats with inf shown as a gap (nan), as matplotlib draws it."""
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def _epoch_style(i: int, n_epochs: int) -> dict[str, Any]:
    """Line style of run ``i``'s per-epoch values: its colour and marker shape, at most ~30 markers."""
    return {"color": f"C{i % 10}", "marker": PATH_MARKERS[i % len(PATH_MARKERS)], "ms": 3, "lw": 1.5,
            "markevery": max(1, n_epochs // 30)}


def _accuracy(hits: np.ndarray) -> str:
    """``"accuracy 0.935 on 200 points"`` from the right/wrong flag of each point."""
    return f"accuracy {np.mean(hits):.3f} on {hits.size} points"


def _log_if_wide(ax: Axes, arrays: Sequence[np.ndarray]) -> bool:
    """Log y-scale when the finite values are all positive and span more than two decades (True then)."""
    v = np.concatenate([np.ravel(a) for a in arrays])
    v = v[np.isfinite(v)]
    if v.size and v.min() > 0 and v.max() > 100 * v.min():
        lo, hi = np.log10([v.min(), v.max()])
        pad = 0.05 * (hi - lo)   # set here: matplotlib's margins overflow near 1e308 (a diverged run)
        ax.set_ylim(10.0 ** max(lo - pad, -LOG_LIMIT), 10.0 ** min(hi + pad, LOG_LIMIT))
        ax.set_yscale("log")
        return True
    return False


def _central(values: Any) -> np.ndarray:
    """The 5th and 95th percentiles of the finite values (all of them when there are few)."""
    v = _finite(values)
    v = v[np.isfinite(v)]
    return v if v.size < 40 else np.percentile(v, [5, 95])


# --- loss curves and fits -------------------------------------------------------------------

def plot_loss(histories: Histories, labels: Sequence[str] | None = None, *,
              path: PathLike | None = None) -> Figure:
    """Loss, gradient norm and learning rate per step: three stacked axes sharing the step axis.

    Step ``k``'s loss is the batch loss at :math:`\\theta_k`. With epochs, the loss on all
    the data after each epoch is drawn as a line with markers through the steps where the
    epochs ended (the index of the parameters it was measured at); a run of several steps
    per epoch then draws its per-step values faintly, a band of batch-to-batch noise under
    that line. An axis is logarithmic when its values are positive and span more than two
    decades. Several histories are overlaid, labelled (in a legend under the axes) by
    ``labels`` or by their optimiser and learning rate. Returns the figure, written to
    ``path`` if given.

    Examples
    --------
    >>> from gradstep import minimize
    >>> fig = plot_loss([minimize("x**2", x0=[3], lr=lr, steps=20).history for lr in (0.1, 0.3)])
    >>> [ax.get_ylabel() for ax in fig.axes], fig.axes[0].get_yscale()
    (['loss', 'gradient norm', 'learning rate'], 'log')
    """
    runs = _runs(histories, labels)
    fig = _figure()
    axes = fig.subplots(3, 1, sharex=True)
    rows = (("loss", "loss"), ("grad_norm", "gradient norm"), ("lr", "learning rate"))
    epoch_losses = []
    for i, (h, label) in enumerate(runs):
        color = f"C{i % 10}"
        scatters = bool(h.n_epochs) and h.n_steps > h.n_epochs   # several batches an epoch: their losses scatter
        for ax, (column, _) in zip(axes, rows):
            ax.plot(h.column("step"), _finite(h.column(column)), color=color, gid=f"{column}:{i}",
                    lw=0.6 if scatters and column != "lr" else 1.3, alpha=0.3 if scatters and column != "lr" else 1.0,
                    zorder=2 + len(runs) - i,  # earlier runs on top: a smooth batch-GD curve over SGD noise
                    label=label or ("loss per step (batch)" if column == "loss" and h.n_epochs else None))
        if h.n_epochs:
            epochs = h.to_pandas("epochs")
            epoch_losses.append(epochs["loss"].to_numpy(dtype=float))
            axes[0].plot(epochs["step"].to_numpy(), _finite(epoch_losses[-1]), "-o", color=color, mec="black",
                         ms=4, lw=1.8, markevery=max(1, -(-h.n_epochs // 30)), gid=f"epoch_loss:{i}",
                         zorder=3 + len(runs), label="loss on all the data, end of epoch" if i == 0 else None)
    for ax, (column, name) in zip(axes, rows):
        # the axis spans what is to be compared: a noisy run's per-step values only between their 5th and 95th
        # percentiles (one row's squared error reaches 1e-6), the epoch losses and every step of the others
        noisy = [bool(h.n_epochs) and h.n_steps > h.n_epochs and column != "lr" for h, _ in runs]
        spans = [_central(h.column(column)) if n else h.column(column) for (h, _), n in zip(runs, noisy)]
        spans += epoch_losses if column == "loss" else []
        if not _log_if_wide(ax, spans) and any(noisy):
            v = _finite(np.concatenate([np.ravel(a) for a in spans]))
            if np.isfinite(v).any():
                lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
                pad = 0.05 * (hi - lo) or 0.5 * abs(hi) or 1.0
                ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("step")
    axes[0].set_title(_title("Loss per step", runs))
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        _legend(fig, handles, labels)
    return _finish(fig, path)


def plot_epoch_loss(histories: Histories, labels: Sequence[str] | None = None, *,
                    optimum: float | None = None, path: PathLike | None = None) -> Figure:
    """Loss on all the data after each epoch, one line per history: the fair comparison of batch
    sizes, whose per-step losses are measured on batches of different sizes.

    Epoch ``e`` (from 1) is the loss at the parameters after ``e`` passes over the data. With
    ``optimum`` (the smallest loss, e.g. of the closed form) the gap :math:`f - f^*` is drawn on a
    log scale, which shows the rate of convergence and the noise floor of stochastic runs;
    without it the loss, logarithmic when it spans more than two decades. The epoch axis is
    logarithmic when the runs' lengths differ tenfold. Returns the figure, written to ``path``
    if given.

    Examples
    --------
    >>> import numpy as np
    >>> from gradstep import LinearRegression
    >>> X = np.arange(10.0).reshape(-1, 1)
    >>> h = LinearRegression(lr=0.01, epochs=5, batch_size=2, tol=None).fit(X, 2 * X.ravel()).history_
    >>> plot_epoch_loss(h).axes[0].get_lines()[0].get_xdata().tolist()
    [1, 2, 3, 4, 5]
    """
    runs = [(h, label) for h, label in _runs(histories, labels) if h.n_epochs]
    if not runs:
        raise ValueError("plot_epoch_loss needs histories with epochs (runs fitted to data)")
    fig = _figure()
    ax = fig.subplots()
    values = []
    for i, (h, label) in enumerate(runs):
        epochs = h.to_pandas("epochs")
        y = epochs["loss"].to_numpy(dtype=float)
        if optimum is not None:
            y = y - optimum
            y[y <= 0] = np.nan  # at the optimum to rounding: nothing to draw on a log scale
        values.append(y)
        ax.plot(epochs["epoch"].to_numpy() + 1, _finite(y), "-", gid=f"epoch_loss:{i}", label=label,
                **_epoch_style(i, h.n_epochs))
    if optimum is not None:
        ax.set_yscale("log")
    else:
        _log_if_wide(ax, values)
    lengths = [h.n_epochs for h, _ in runs]
    if max(lengths) >= 10 * min(lengths):
        ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss on all the data" + (" − optimum" if optimum is not None else ""))
    ax.grid(alpha=0.3)
    ax.set_title(_title("Loss per epoch", runs))
    if ax.get_legend_handles_labels()[0]:
        _legend(fig, *ax.get_legend_handles_labels())
    return _finish(fig, path)


def _data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as (n_samples, n_features) floats (a vector is one feature) and ``y`` as (n_samples,), checked."""
    X = np.asarray(X, dtype=float)
    X = X.reshape(-1, 1) if X.ndim == 1 else X
    y = np.asarray(y)
    y = y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.size:
        raise ValueError(f"X must be (n_samples, n_features) and y (n_samples,); got {X.shape} and {y.shape}")
    if y.size == 0:
        raise ValueError("X and y have no samples: nothing to plot")
    return X, y


def plot_fit(X: Any, y: Any, predict: Callable[[np.ndarray], Any], *, feature_names: Sequence[str] | None = None,
             target_name: str = "y", path: PathLike | None = None) -> Figure:
    """The data and the fit: the fitted line for one feature, predicted vs true for several.

    ``X`` is (n_samples, n_features) or (n_samples,), ``y`` (n_samples,), and ``predict``
    maps a 2-D NumPy array to predictions (e.g. ``model.predict``); the line is
    ``predict`` on a sorted grid spanning ``x``. ``feature_names[0]`` labels the x-axis
    when there is one feature. Returns the figure, written to ``path`` if given.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> fig = plot_fit(X, [1.0, 3.1, 4.9], lambda X: 2 * X[:, 0] + 1)
    >>> fig.axes[0].get_title()
    'Fitted line: mse 0.006667 on 3 points'
    """
    X, y = _data(X, y)
    y = y.astype(float)
    fitted = np.asarray(predict(X), dtype=float).reshape(-1)
    fig = _figure()
    ax = fig.subplots()
    if X.shape[1] == 1:
        ax.scatter(X[:, 0], y, s=14, alpha=0.7, label="data", gid="data")
        grid = np.linspace(X[:, 0].min(), X[:, 0].max(), CURVE_POINTS)
        ax.plot(grid, np.asarray(predict(grid[:, None]), dtype=float).reshape(-1), color="C3", lw=2,
                label="fitted line", gid="fit")
        ax.set_xlabel(feature_names[0] if feature_names else "x")
        ax.set_ylabel(target_name)
        what = "Fitted line"
    else:
        ax.scatter(y, fitted, s=14, alpha=0.7, label="data", gid="data")
        lo, hi = min(y.min(), fitted.min()), max(y.max(), fitted.max())
        ax.plot([lo, hi], [lo, hi], "--", color="0.4", label="predicted = true", gid="diagonal")
        ax.set_xlabel(f"true {target_name}")
        ax.set_ylabel(f"predicted {target_name}")
        what = f"Predicted vs true ({X.shape[1]} features)"
    ax.set_title(f"{what}: mse {np.mean((fitted - y) ** 2):.4g} on {y.size} points")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _finish(fig, path)


# --- loss landscapes --------------------------------------------------------------------------

def _path(h: History, coords: Sequence[int]) -> np.ndarray:
    """The points visited, restricted to ``coords``: shape (n_points, len(coords))."""
    p = h.path
    if p is None or p.size == 0:
        raise ValueError("the history has no parameters recorded; run with record_params=True")
    if not all(-p.shape[1] <= c < p.shape[1] for c in coords):
        raise ValueError(f"coords {tuple(coords)} out of range for {p.shape[1]} parameters")
    return p[:, list(coords)].astype(float)


def _near(h: History, points: np.ndarray) -> np.ndarray:
    """The finite points of a path before its loss blows up (all of them unless the run diverges).

    The points are those of ``h.path``, at the steps ``h.path_steps`` (a thinned record keeps
    some steps' only)."""
    loss = h.loss
    near = points
    if loss.size:
        f0 = loss[0]
        bad = ~np.isfinite(loss) | (loss > f0 + BLOWUP * max(abs(f0), 1.0))
        if bad.any():
            cut = max(int(np.argmax(bad)), 1)
            steps = h.path_steps
            steps = steps if steps is not None and len(steps) == len(points) else np.arange(len(points))
            before = steps < cut
            before[0] = True
            near = points[before]
    return near[np.all(np.isfinite(near), axis=1)]


def _in_view(runs: list[Run], paths: list[np.ndarray], optimum: Any) -> list[np.ndarray]:
    """What a landscape's default bounds cover: each path until its loss blows up, and the optimum."""
    pts = [_near(h, p) for (h, _), p in zip(runs, paths)]
    if optimum is not None:
        pts.append(np.asarray(optimum, dtype=float).reshape(1, paths[0].shape[1]))
    return pts


def _bounds(bounds: Any, points: Sequence[np.ndarray]) -> np.ndarray:
    """``(k, 2)`` low/high per plotted coordinate: as given, or covering the (finite) points with a margin."""
    k = points[0].shape[1]
    if bounds is None:
        pts = np.vstack(points)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = np.where(hi > lo, MARGIN * (hi - lo), np.maximum(0.5 * np.abs(lo), 1.0))
        return np.column_stack([lo - pad, hi + pad])
    box = np.asarray(bounds, dtype=float).reshape(k, 2)
    if not (np.all(np.isfinite(box)) and np.all(box[:, 0] < box[:, 1])):
        raise ValueError(f"bounds must be finite (low, high) pairs with low < high, got {bounds!r}")
    return box


def _values(fun: Callable[..., Any], *grids: np.ndarray) -> np.ma.MaskedArray:
    """``fun`` on the grids, non-finite values masked (overflow far from the optimum is expected)."""
    with np.errstate(all="ignore"):
        z = np.broadcast_to(np.asarray(fun(*grids), dtype=float), grids[0].shape)
    z = np.ma.masked_invalid(z)
    if z.count() == 0:
        raise ValueError("the function is not finite anywhere in the bounds")
    return z


def _levels(z: np.ma.MaskedArray, levels: int | Sequence[float]) -> tuple[np.ma.MaskedArray, dict]:
    """Log-spaced levels when the surface is positive and spans many decades (Rosenbrock), else linear."""
    if not isinstance(levels, (int, np.integer)):
        return z, {"levels": levels}
    v = z.compressed()
    p5, p95 = np.percentile(v, [5, 95])
    if v.min() >= 0 and p5 > 0 and p95 > 100 * p5:
        top = v.max()
        bottom = max(v[v > 0].min(), top * 1e-6)
        return np.ma.masked_less_equal(z, 0), {"levels": np.geomspace(bottom, top, levels),
                                               "norm": LogNorm(bottom, top)}
    return z, {"levels": levels}


def _draw_paths(ax: Axes, runs: list[Run], xys: list[np.ndarray]) -> list[tuple[Line2D, Line2D]]:
    """Each path as a line with markers, its start (hollow circle) and end (square); returns (line, end).

    Paths are stacked so that all of them show. Stochastic ones (several batches an epoch) zig-zag:
    they go underneath, thin. Deterministic ones often share a ray (learning rates on a bowl): the
    densest goes underneath and widest, the sparsest on top, narrowest, with the largest markers, so
    that a few long steps (a large learning rate) show over many short ones. All of them lie above the
    contours (``zorder`` 3 and up)."""
    noisy = [bool(h.n_epochs) and h.n_steps > h.n_epochs for h, _ in runs]
    order = sorted(range(len(xys)), key=lambda i: (not noisy[i], -len(xys[i]), i))   # bottom to top
    smooth = [i for i in order if not noisy[i]]
    drawn = []
    for i, ((_, label), xy) in enumerate(zip(runs, xys)):
        color, first, level = f"C{i % 10}", i == 0, order.index(i)
        sparse = len(xy) <= SPARSE_PATH
        if noisy[i]:
            lw, ms = 1.0, 2.5
        else:
            wider = len(smooth) - 1 - smooth.index(i)
            lw, ms = 1.3 + 1.5 * wider, 9.0 if sparse else 3 + 1.5 * wider
        (line,) = ax.plot(xy[:, 0], xy[:, 1], "-", marker=PATH_MARKERS[i % len(PATH_MARKERS)], color=color,
                          ms=ms, lw=lw, alpha=0.9, gid=f"path:{i}", zorder=3 + 0.1 * level,
                          mec="black" if sparse else color, mew=0.8,
                          markevery=max(1, len(xy) // MAX_MARKERS), label=label or "descent path")
        ax.plot(xy[:1, 0], xy[:1, 1], "o", ms=11, mfc="none", mec=color, mew=2, gid=f"start:{i}", zorder=3.9,
                label="start" if first else None)
        (end,) = ax.plot(xy[-1:, 0], xy[-1:, 1], "s", ms=7, color=color, mec="black", gid=f"end:{i}",
                         zorder=3.95, label="end" if first else None)
        drawn.append((line, end))
    return drawn


def _path_legend(fig: Figure, ax: Axes) -> None:
    """The legend of :func:`_draw_paths`' axes: the runs, then what the start, end and optimum marks are."""
    handles, labels = ax.get_legend_handles_labels()
    marks = [i for i, label in enumerate(labels) if label in ("start", "end", "optimum")]
    keep = [i for i in range(len(labels)) if i not in marks] + marks
    _legend(fig, [handles[i] for i in keep], [labels[i] for i in keep])


def _mark_optimum(ax: Axes, x: float, y: float) -> None:
    ax.plot([x], [y], "*", ms=17, color="gold", mec="black", zorder=5, gid="optimum", label="optimum")


def plot_curve(fun: Callable[[np.ndarray], Any], histories: Histories, labels: Sequence[str] | None = None, *,
               coord: int = 0, bounds: tuple[float, float] | None = None, optimum: float | None = None,
               xlabel: str | None = None, path: PathLike | None = None) -> Figure:
    """The loss against one parameter ``w``, with each descent path drawn on the curve.

    ``fun`` is vectorised, ``fun(w_array) -> loss_array`` (see :func:`formula_curve`,
    :func:`objective_curve`). Each history's coordinate ``coord`` is drawn as the points
    ``(w_k, fun(w_k))`` joined by lines, start and end marked; ``optimum`` gets a star.
    ``bounds = (low, high)`` default to cover the paths and the optimum with a margin (a
    diverging path counts until its loss blows up, then visibly leaves the plot). The
    x-axis is named by ``xlabel`` or the history's parameter name. Returns the figure,
    written to ``path`` if given.

    Examples
    --------
    >>> from gradstep import minimize
    >>> h = minimize("(w - 3)**2", x0=[0], lr=0.1, steps=30).history
    >>> fig = plot_curve(formula_curve("(w - 3)**2"), h, optimum=3.0)
    >>> fig.axes[0].get_xlabel(), np.round(fig.axes[0].get_xlim(), 2).tolist()
    ('w', [-0.45, 3.45])
    """
    runs = _runs(histories, labels)
    ws = [_path(h, (coord,)) for h, _ in runs]
    (lo, hi), = _bounds(bounds, _in_view(runs, ws, optimum))
    fig = _figure()
    ax = fig.subplots()
    grid = np.linspace(lo, hi, CURVE_POINTS)
    curve = _values(fun, grid)
    ax.plot(grid, curve.filled(np.nan), color="0.35", lw=2, label="loss", gid="curve")
    _draw_paths(ax, runs, [np.column_stack([w[:, 0], _values(fun, w[:, 0]).filled(np.nan)]) for w in ws])
    if optimum is not None:
        _mark_optimum(ax, float(optimum), float(_values(fun, np.array([float(optimum)]))[0]))
    pad = 0.05 * float(curve.max() - curve.min()) or 1.0
    ax.set_xlim(lo, hi)
    ax.set_ylim(float(curve.min()) - pad, float(curve.max()) + pad)
    ax.set_xlabel(xlabel or _axis_names(runs, (coord,), None)[0])
    ax.set_ylabel("loss")
    ax.set_title(_title("Loss curve", runs))
    _path_legend(fig, ax)
    ax.grid(alpha=0.3)
    return _finish(fig, path)


def _contour_figure(fun: Callable[..., Any], runs: list[Run], coords: Sequence[int], bounds: Any, optimum: Any,
                    names: Sequence[str] | None, levels: int | Sequence[float],
                    aspect: Aspect = "auto") -> tuple[Figure, list]:
    """The contour plot with the paths; returns it and ``(line, end marker, path)`` per history."""
    paths = [_path(h, coords) for h, _ in runs]
    box = _bounds(bounds, _in_view(runs, paths, optimum))
    fig = _figure()
    ax = fig.subplots()
    A, B = np.meshgrid(np.linspace(box[0, 0], box[0, 1], GRID), np.linspace(box[1, 0], box[1, 1], GRID))
    Z, style = _levels(_values(fun, A, B), levels)
    contours = ax.contour(A, B, Z, cmap="viridis", linewidths=0.9, **style)
    bar = fig.colorbar(contours, ax=ax, label="loss")
    if "norm" in style:
        bar.set_ticks(LogLocator())
    drawn = _draw_paths(ax, runs, paths)
    if optimum is not None:
        _mark_optimum(ax, *np.asarray(optimum, dtype=float).reshape(2))
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    ax.set_aspect(aspect, adjustable="box")
    xname, yname = _axis_names(runs, coords, names)
    ax.set_xlabel(xname)
    ax.set_ylabel(yname)
    ax.set_title(_title("Loss surface", runs))
    _path_legend(fig, ax)
    return fig, [(line, end, p) for (line, end), p in zip(drawn, paths)]


def plot_contour(fun: Callable[[np.ndarray, np.ndarray], Any], histories: Histories,
                 labels: Sequence[str] | None = None, *, coords: tuple[int, int] = (0, 1), bounds: Any = None,
                 optimum: tuple[float, float] | None = None, names: Sequence[str] | None = None,
                 levels: int | Sequence[float] = 30, aspect: Aspect = "auto",
                 path: PathLike | None = None) -> Figure:
    """Contours of ``fun`` over two parameters, with each history's descent path.

    ``fun`` is vectorised over meshgrid arrays, ``fun(A, B) -> Z`` (see
    :func:`formula_surface`, :func:`objective_surface`). Each path
    ``history.path[:, coords]`` is a line with markers, its start a hollow circle, its
    end a square; several are overlaid with a legend; ``optimum`` gets a star.
    ``bounds = ((xlow, xhigh), (ylow, yhigh))`` default to cover the paths and the optimum
    with a margin; a diverging path counts only until its loss blows up, so the surface
    near the start stays in view and the path visibly leaves the plot. ``levels`` is a
    number (log-spaced when the surface is positive and spans many decades, e.g.
    Rosenbrock) or the levels. Axes are named by ``names`` or the history's parameter
    names. ``aspect="equal"`` draws both axes to the same scale (circles stay round).
    Returns the figure, written to ``path`` if given.

    Examples
    --------
    >>> from gradstep import minimize
    >>> h = minimize("(1 - x)**2 + 100*(y - x**2)**2", x0=[-1.5, 2], optimizer="adam", lr=0.05, steps=200).history
    >>> fig = plot_contour(formula_surface("(1 - x)**2 + 100*(y - x**2)**2"), h, optimum=(1, 1))
    >>> type(fig.axes[0].collections[0].norm).__name__    # Rosenbrock spans many decades
    'LogNorm'
    """
    fig, _ = _contour_figure(fun, _runs(histories, labels), coords, bounds, optimum, names, levels, aspect)
    return _finish(fig, path)


SPACINGS = ("linear", "log")


def _frame_counts(n_points: int, frames: int, spacing: str = "linear") -> np.ndarray:
    """How many points of the path each frame shows: 1..n_points, sub-sampled to at most ``frames``,
    evenly (``"linear"``) or geometrically (``"log"``: the first steps one by one, where a descent moves
    most, then further and further apart).

    Less one, they are the indices of the points shown last: 0 and ``n_points - 1`` always among them.

    >>> _frame_counts(1000, 8).tolist(), _frame_counts(1000, 8, "log").tolist()
    ([1, 144, 286, 429, 572, 715, 857, 1000], [1, 3, 7, 19, 52, 139, 373, 1000])
    """
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if n_points <= frames:
        return np.arange(1, n_points + 1)
    if spacing == "linear":
        return np.unique(np.linspace(1, n_points, frames).round().astype(int))
    wanted = frames
    while True:   # as many distinct counts as frames: geometric spacing repeats its first, small ones
        counts = np.unique(np.geomspace(1, n_points, wanted).round().astype(int))
        if len(counts) >= frames or wanted >= n_points:
            return counts if len(counts) <= frames else np.unique(np.r_[counts[:frames - 1], n_points])
        wanted += 1


class _GifWriter(PillowWriter):
    """A GIF writer that draws the still parts of the figure once and only the moving artists per frame
    (blitting: a frame costs a few lines, not the contours and every tick label again), gives every
    frame the palette of the last, fullest one, so colours never shift, and holds the last frame
    :data:`GIF_HOLD` seconds, so that the end is seen before the animation starts again.

    (Pillow would choose 256 colours per frame, e.g. turning a thin orange line yellow in early frames.)
    """

    _frames: list[Image.Image]   # PillowWriter's frames (set by its setup; matplotlib's stubs leave it out)

    def setup(self, fig: Figure, outfile: Any, dpi: float | None = None, moving: Sequence[Any] = ()) -> None:
        super().setup(fig, outfile, dpi)
        self._moving = sorted(moving, key=lambda a: a.get_zorder())
        self._background: Any = None

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        canvas = self.fig.canvas
        if not self._moving or self.dpi != self.fig.dpi or not isinstance(canvas, FigureCanvasAgg):
            super().grab_frame(**savefig_kwargs)   # the whole figure (only a pixel canvas can be blitted)
            return
        if self._background is None:   # the first frame: everything that does not move, once
            for artist in self._moving:
                artist.set_animated(True)
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        for artist in self._moving:
            self.fig.draw_artist(artist)
        size = canvas.get_width_height(physical=True)
        self._frames.append(Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB"))

    def finish(self) -> None:
        palette = self._frames[-1].convert("RGB").quantize(colors=256)
        frames = [f.convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE) for f in self._frames]
        durations = [round(1000 / self.fps)] * len(frames)
        durations[-1] = max(durations[-1], round(1000 * GIF_HOLD))
        frames[0].save(self.outfile, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=0)


def _gif_path(path: PathLike, frames: int, fps: float, what: str) -> Path:
    """``path`` checked to name a GIF, and the frame count and rate checked."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"{what} writes a GIF: end the name with .gif, got {path.name!r}")
    if frames < 2 or fps <= 0:
        raise ValueError(f"frames must be >= 2 and fps > 0, got frames={frames!r}, fps={fps!r}")
    return path


def _redrawn(fig: Figure, changing: Sequence[Any]) -> list[Any]:
    """The artists to draw each frame: those ``show`` changes, and those drawn over them (a higher
    ``zorder`` in the same axes, inside the axes' box: a marker over a path, the data over the regions)."""
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):   # no pixel canvas to blit into: every frame is drawn whole
        return []
    renderer = canvas.get_renderer()
    out = list(changing)
    for ax in {a.axes for a in changing if a.axes is not None}:
        z = min(a.get_zorder() for a in changing if a.axes is ax)
        for child in ax.get_children():
            if child in out or child is ax.patch or isinstance(child, Axis) or not child.get_visible():
                continue
            if child.get_zorder() > z and child.get_window_extent(renderer).overlaps(ax.bbox):
                out.append(child)
    return out


def _write_gif(fig: Figure, path: Path, fps: float, keys: Iterable[Any], show: Callable[[Any], None],
               changing: Sequence[Any] = ()) -> Path:
    """Write the GIF atomically: one frame per key, drawn by ``show(key)`` into ``fig`` as it stands.

    The layout (and each legend's place) is fixed from ``fig`` as it is on entry, so nothing jumps
    between frames; build it showing the last, fullest frame. Every frame gets that frame's palette.
    ``changing``: the artists ``show`` changes; only they (and what lies over them) are drawn again for
    each frame (without it, the whole figure is).
    """
    fig.canvas.draw()
    fig.set_layout_engine("none")
    for ax in fig.axes:
        if (legend := ax.get_legend()) is not None:
            legend.set_loc(tuple(legend.get_window_extent().transformed(ax.transAxes.inverted()).p0))
    writer = _GifWriter(fps=fps)  # type: ignore[arg-type]  # the stub says int; any fps > 0 works (finish rounds)
    with replacing(path, parents=True) as tmp:
        writer.setup(fig, tmp, DPI, moving=_redrawn(fig, changing))
        for key in keys:
            show(key)
            writer.grab_frame()
        writer.finish()
    return path


def animate_contour(fun: Callable[[np.ndarray, np.ndarray], Any], histories: Histories,
                    labels: Sequence[str] | None = None, *, coords: tuple[int, int] = (0, 1), bounds: Any = None,
                    optimum: tuple[float, float] | None = None, names: Sequence[str] | None = None,
                    aspect: Aspect = "auto", path: PathLike, frames: int = 60, fps: float = 12,
                    spacing: str = "linear") -> Path:
    """An animated GIF of :func:`plot_contour` (same arguments) in which the paths grow step by step.

    Frame ``j`` shows the first ``k_j`` points of every path (a shorter path stops at its
    end), the square marking the current point, and the step in the title; with more points
    than ``frames`` the ``k_j`` are spread evenly (``spacing="linear"``) or geometrically
    (``"log"``: step by step at first, where a long run moves most), the last frame showing
    the whole paths, held 1.5 s. ``path`` must end in ``.gif``; it is written atomically and
    returned.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from PIL import Image
    >>> from gradstep import minimize
    >>> h = minimize("x**2 + 3*y**2", x0=[3, 2], lr=0.1, steps=10).history
    >>> with tempfile.TemporaryDirectory() as d:
    ...     gif = animate_contour(formula_surface("x**2 + 3*y**2"), h, path=pathlib.Path(d, "descent.gif"))
    ...     with Image.open(gif) as im:
    ...         im.n_frames
    11
    """
    path = _gif_path(path, frames, fps, "animate_contour")
    runs = _runs(histories, labels)
    fig, drawn = _contour_figure(fun, runs, coords, bounds, optimum, names, 30, aspect)
    ax = fig.axes[0]
    title = ax.get_title()
    longest = max(range(len(drawn)), key=lambda i: len(drawn[i][2]))
    steps = runs[longest][0].path_steps
    steps = steps if steps is not None and len(steps) == len(drawn[longest][2]) else np.arange(len(drawn[longest][2]))

    def show(k: int) -> None:   # the first k points of every path
        for line, end, p in drawn:
            shown = p[:k]
            line.set_data(shown[:, 0], shown[:, 1])
            end.set_data(shown[-1:, 0], shown[-1:, 1])
        ax.set_title(f"{title}, step {steps[k - 1]}")

    show(len(steps))   # laid out with the whole paths drawn
    return _write_gif(fig, path, fps, _frame_counts(len(steps), int(frames), spacing), show,
                      [artist for line, end, _ in drawn for artist in (line, end)] + [ax.title])


# --- classifiers ------------------------------------------------------------------------------

def plot_classification_curves(histories: Histories, labels: Sequence[str] | None = None, *,
                               path: PathLike | None = None) -> Figure:
    """Loss and accuracy after each epoch of a classifier's fit: two stacked axes sharing the epoch axis.

    Epoch ``e`` (from 1) shows the loss and the accuracy on the training rows at the
    parameters after ``e`` passes over the data (the ``loss`` and ``accuracy`` columns of
    ``history.to_pandas("epochs")``); with early stopping, those on the held-out rows
    (``val_loss``, ``val_accuracy``) are dashed in the same colour. The loss axis is
    logarithmic when it spans more than two decades. Several histories are overlaid,
    labelled by ``labels`` or by their optimiser and learning rate. Returns the figure,
    written to ``path`` if given.

    Raises
    ------
    ValueError
        For a history without epochs or without accuracy (not a classifier's fit to data).

    Examples
    --------
    >>> import numpy as np
    >>> from gradstep import LogisticRegression
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    >>> h = LogisticRegression(lr=0.5, epochs=5, tol=None).fit(X, [0, 0, 1, 1]).history_
    >>> fig = plot_classification_curves(h)
    >>> [ax.get_ylabel() for ax in fig.axes], fig.axes[1].get_lines()[0].get_xdata().tolist()
    (['loss', 'accuracy'], [1, 2, 3, 4, 5])
    """
    runs = _runs(histories, labels)
    tables = []
    for i, (h, _) in enumerate(runs):
        name = f"history {i + 1} of {len(runs)}" if len(runs) > 1 else "the history"
        if not h.n_epochs:
            raise ValueError(f"{name} has no epochs: plot_classification_curves needs a classifier fitted to data")
        tables.append(h.to_pandas("epochs"))
        if "accuracy" not in tables[-1]:
            raise ValueError(f"{name} has no accuracy per epoch: it is not a classifier's (LogisticRegression, "
                             f"SoftmaxRegression); plot_epoch_loss draws the loss of any fit")
    fig = _figure()
    axes = fig.subplots(2, 1, sharex=True)
    losses = []
    for i, ((h, label), epochs) in enumerate(zip(runs, tables)):
        x = epochs["epoch"].to_numpy() + 1
        for ax, column in zip(axes, ("loss", "accuracy")):
            for kind, style in (("", "-"), ("val_", "--")):
                if kind + column not in epochs:
                    continue
                values = epochs[kind + column].to_numpy(dtype=float)
                if column == "loss":
                    losses.append(values)
                what = "validation" if kind else "training"
                ax.plot(x, _finite(values), style, gid=f"{kind}{column}:{i}",
                        label=(f"{label}, {what}" if label else what) if ax is axes[0] else None,
                        **_epoch_style(i, h.n_epochs))
    _log_if_wide(axes[0], losses)
    for ax, name in zip(axes, ("loss", "accuracy")):
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("epoch")
    axes[0].set_title(_title("Loss and accuracy per epoch", runs))
    _legend(fig, *axes[0].get_legend_handles_labels())
    return _finish(fig, path)


def plot_confusion(y_true: Any, y_pred: Any, *, labels: Sequence[Any] | None = None,
                   path: PathLike | None = None) -> Figure:
    """The confusion matrix: row ``i``, column ``j`` counts the points of true class ``labels[i]``
    predicted as ``labels[j]`` (:func:`sklearn.metrics.confusion_matrix`), the count written in each cell.

    ``y_true`` and ``y_pred`` hold class labels of any type (e.g. ``y`` and ``model.predict(X)``);
    ``labels`` chooses and orders the classes (default: every label in either, sorted). The
    title gives the accuracy, the share of all points predicted right. Returns the figure,
    written to ``path`` if given.

    Examples
    --------
    >>> fig = plot_confusion(["cat", "dog", "dog", "dog"], ["cat", "dog", "cat", "dog"])
    >>> fig.axes[0].get_title(), fig.axes[0].get_images()[0].get_array().tolist()
    ('Confusion matrix: accuracy 0.750 on 4 points', [[1, 0], [1, 2]])
    """
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if y_true.size != y_pred.size or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must hold the same number of labels, at least one; "
                         f"got {y_true.size} and {y_pred.size}")
    classes = np.asarray(labels) if labels is not None else unique_labels(y_true, y_pred)
    counts = confusion_matrix(y_true, y_pred, labels=classes)
    fig = _figure()
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues", vmin=0, gid="confusion")
    fig.colorbar(image, ax=ax, label="points")
    if len(classes) <= MAX_CELL_TEXTS:
        dark = counts > counts.max() / 2
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if dark[i, j] else "black",
                    fontsize="medium" if len(classes) <= 10 else "x-small", gid=f"count:{i}:{j}")
    names = [str(c) for c in classes]
    slanted = len(names) * max(map(len, names)) > 40   # the names would run into each other
    ax.set_xticks(range(len(names)), names, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix: {_accuracy(y_true == y_pred)}")
    return _finish(fig, path)


def _class_indices(values: Any, n: int, n_classes: int | None, what: str) -> np.ndarray:
    """``values`` checked to be ``n`` class indices (below ``n_classes`` when given), as ints."""
    a = np.asarray(values)
    a = a.ravel() if a.shape == (n, 1) else a
    integral = a.dtype.kind in "biu" or (a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)))
    if a.shape != (n,) or not integral or (a.size and (a.min() < 0 or (n_classes and a.max() >= n_classes))):
        top = f"0..{n_classes - 1}" if n_classes else "0, 1, ..."
        raise ValueError(f"{what} must give {n} class indices {top}, one per point (for labels, "
                         f"np.searchsorted(model.classes_, labels)); got {a.dtype} values of shape {a.shape}")
    return a.astype(int)


def _boundary_figure(X: Any, y: Any, feature_names: Sequence[str] | None, class_names: Sequence[Any] | None,
                     bounds: Any) -> tuple[Figure, Callable[[Callable[[np.ndarray], Any], str], None]]:
    """The data coloured by class over empty decision regions; returns the figure and
    ``show(decide, title)``, which fills the regions with ``decide``'s classes and titles the axes."""
    X, y = _data(X, y)
    if X.shape[1] != 2:
        raise ValueError(f"decision regions are drawn over two features; X has {X.shape[1]}: fit and plot "
                         f"a model on two columns, e.g. X[:, [0, 1]]")
    if not np.all(np.isfinite(X)):
        raise ValueError("X has values that are not finite")
    y = _class_indices(y, y.size, None, "y")
    n_classes = int(y.max()) + 1 if class_names is None else len(class_names)
    if y.max() >= n_classes:
        raise ValueError(f"y has class index {y.max()}, but class_names names only {n_classes} classes")
    names = [f"class {c}" for c in range(n_classes)] if class_names is None else [str(c) for c in class_names]
    box = _bounds(bounds, [X])
    A, B = np.meshgrid(*(np.linspace(lo, hi, 2 * REGION_GRID + 1)[1::2] for lo, hi in box))   # cell centres
    grid = np.column_stack([A.ravel(), B.ravel()])
    tints = [REGION_TINT * np.array(to_rgb(f"C{c % 10}")) + 1 - REGION_TINT for c in range(n_classes)]
    fig = _figure()
    ax = fig.subplots()
    regions = ax.imshow(np.zeros(A.shape, dtype=int), cmap=ListedColormap(tints), vmin=-0.5,
                        vmax=n_classes - 0.5, origin="lower", extent=tuple(box.ravel()), aspect="auto",
                        interpolation="nearest", gid="regions")
    handles = []
    for c in range(len(names)):
        mine = y == c
        points = ax.scatter(X[mine, 0], X[mine, 1], s=24, color=f"C{c % 10}", edgecolors="black", linewidths=0.5,
                            marker=PATH_MARKERS[c % len(PATH_MARKERS)], gid=f"data:{c}")
        # the marker over its region's colour (which so stays in every GIF frame's palette)
        handles.append((Patch(facecolor=tuple(tints[c]), edgecolor="0.6"), points))
    _legend(fig, handles, names, title="points: their true class; regions: the class predicted there")
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])
    axis_names = ["feature 0", "feature 1"] if feature_names is None else [str(n) for n in feature_names]
    if len(axis_names) != 2:
        raise ValueError(f"feature_names must name the two features; got {len(axis_names)} names")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])

    def show(decide: Callable[[np.ndarray], Any], title: str) -> None:
        regions.set_data(_class_indices(decide(grid), len(grid), n_classes, "decide").reshape(A.shape))
        ax.set_title(f"{title}: {_accuracy(_class_indices(decide(X), len(X), n_classes, 'decide') == y)}")

    return fig, show


def plot_decision_boundary(X: Any, y: Any, decide: Callable[[np.ndarray], Any], *,
                           feature_names: Sequence[str] | None = None, class_names: Sequence[Any] | None = None,
                           bounds: Any = None, path: PathLike | None = None) -> Figure:
    """The decision regions of a classifier over two features, with the data coloured by class.

    ``X`` is (n_samples, 2); ``y`` holds the class *indices* ``0 .. K-1`` (not the labels:
    ``np.searchsorted(model.classes_, labels)`` turns labels into indices). ``decide`` maps
    points, an array (n, 2), to their predicted class indices (n,), e.g.
    ``lambda P: np.searchsorted(model.classes_, model.predict(P))``. The plane is cut into a
    grid of cells, each filled with the light colour of ``decide`` at its centre; the points
    are drawn in their class's colour and marker, named in the legend by ``class_names``
    (default ``class 0``, ``class 1``...). ``bounds = ((xlow, xhigh), (ylow, yhigh))``
    default to the data with a margin. The title gives the accuracy of ``decide`` on the
    data. Returns the figure, written to ``path`` if given.

    Raises
    ------
    ValueError
        When ``X`` does not have two columns, or ``y`` or ``decide`` do not give class indices.

    Examples
    --------
    >>> X = np.array([[-2.0, 0.0], [-1.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    >>> fig = plot_decision_boundary(X, [0, 0, 1, 1], lambda P: P[:, 0] > 0, class_names=["no", "yes"])
    >>> fig.axes[0].get_title(), [t.get_text() for t in fig.legends[0].get_texts()]
    ('Decision regions: accuracy 1.000 on 4 points', ['no', 'yes'])
    """
    fig, show = _boundary_figure(X, y, feature_names, class_names, bounds)
    show(decide, "Decision regions")
    return _finish(fig, path)


def animate_decision_boundary(X: Any, y: Any, decide_at: Callable[[np.ndarray, np.ndarray], Any],
                              thetas: Sequence[Any] | np.ndarray, *, feature_names: Sequence[str] | None = None,
                              class_names: Sequence[Any] | None = None, bounds: Any = None, path: PathLike,
                              frames: int = 30, fps: float = 8, steps: Sequence[int] | None = None,
                              spacing: str = "linear") -> Path:
    """An animated GIF of :func:`plot_decision_boundary` (same data arguments) as the parameters move in training.

    ``thetas`` are the parameter vectors in order, e.g. ``history.path`` (:math:`\\theta_k`
    is the one step ``k`` starts from), and ``decide_at(theta, points)`` gives the class
    indices predicted with ``theta``. Frame ``j`` shows the regions of ``thetas[k_j]``,
    titled with ``step k_j`` and its accuracy on the data; with more thetas than
    ``frames`` the ``k_j`` are spread evenly (``spacing="linear"``) or geometrically
    (``"log"``: every one of the first steps, where the boundary moves most), always from the
    first to the last (held 1.5 s). ``steps``
    names the step of each theta when they are not every step's (``history.path_steps`` of a
    thinned record). ``path`` must end in ``.gif``; it is written atomically and returned.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from PIL import Image
    >>> X = np.array([[-2.0, 0.0], [-1.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    >>> thetas = [[-1.0], [0.0], [1.5]]           # a threshold on the first feature
    >>> with tempfile.TemporaryDirectory() as d:
    ...     gif = animate_decision_boundary(X, [0, 0, 1, 1], lambda t, P: P[:, 0] > t[0], thetas,
    ...                                     path=pathlib.Path(d, "regions.gif"))
    ...     with Image.open(gif) as im:
    ...         im.n_frames
    3
    """
    path = _gif_path(path, frames, fps, "animate_decision_boundary")
    thetas = np.asarray(thetas if thetas is not None else [], dtype=float)
    if thetas.ndim != 2 or not len(thetas):
        raise ValueError(f"thetas must be a non-empty sequence of parameter vectors (e.g. history.path, "
                         f"recorded with record_params=True); got shape {thetas.shape}")
    fig, show = _boundary_figure(X, y, feature_names, class_names, bounds)

    at = np.arange(len(thetas)) if steps is None else np.asarray(steps, dtype=int)
    if len(at) != len(thetas):
        raise ValueError(f"steps has {len(at)} entries for {len(thetas)} thetas")

    def show_step(k: int) -> None:
        show(lambda points: decide_at(thetas[k], points), f"Decision regions at step {at[k]}")

    show_step(len(thetas) - 1)   # laid out at the end of training
    ax = fig.axes[0]
    regions = [image for image in ax.get_images() if image.get_gid() == "regions"]
    return _write_gif(fig, path, fps, _frame_counts(len(thetas), int(frames), spacing) - 1, show_step,
                      [*regions, ax.title])


# --- surfaces from formulas and objectives ---------------------------------------------------

def _center(center: Any, n: int, coords: Sequence[int]) -> np.ndarray:
    base = np.zeros(n) if center is None else np.asarray(center, dtype=float).reshape(-1)
    if base.size != n:
        raise ValueError(f"center has {base.size} values; it needs {n}, one per parameter")
    if not all(-n <= c < n for c in coords) or len({c % n for c in coords}) != len(coords):
        raise ValueError(f"coords {tuple(coords)} must be distinct parameter indices below {n}")
    return base


def _formula_slice(formula: Any, coords: Sequence[int], center: Any) -> Callable[..., np.ndarray]:
    if isinstance(formula, str):
        from .expression import parse

        formula = parse(formula)
    base = _center(center, len(formula.variables), coords)

    def fun(*grids: Any) -> np.ndarray:
        arrays: list[Any] = list(base)
        for c, g in zip(coords, grids):
            arrays[c] = np.asarray(g, dtype=float)
        return np.asarray(formula.evaluate(*arrays), dtype=float)

    return fun


def _objective_slice(objective: Any, batch: Any, center: Any, coords: Sequence[int]) -> Callable[..., np.ndarray]:
    theta0 = np.array(center, dtype=float).reshape(-1)
    _center(theta0, theta0.size, coords)
    index = list(coords)

    def fun(*grids: Any) -> np.ndarray:
        grids = np.broadcast_arrays(*[np.asarray(g, dtype=float) for g in grids])
        out = np.empty(grids[0].shape)
        theta = theta0.copy()
        for i in np.ndindex(out.shape):
            theta[index] = [g[i] for g in grids]
            out[i] = objective.value(theta, batch)
        return out

    return fun


def formula_surface(formula: Any, coords: tuple[int, int] = (0, 1),
                    center: Sequence[float] | None = None) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``fun(A, B)``: a formula over two of its variables, the others held at ``center`` (default 0).

    ``formula`` is a :class:`~gradstep.expression.Formula` or its text. Vectorised.

    Examples
    --------
    >>> fun = formula_surface("x**2 + y**2 + z", coords=(0, 2), center=[0, 1, 0])
    >>> fun(np.array([1.0, 2.0]), np.array([10.0, 20.0])).tolist()
    [12.0, 25.0]
    """
    return _formula_slice(formula, tuple(coords), center)


def formula_curve(formula: Any, coord: int = 0,
                  center: Sequence[float] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """``fun(w)``: a formula along one variable, the others held at ``center`` (default 0).

    Examples
    --------
    >>> formula_curve("(w - 3)**2")(np.array([0.0, 3.0])).tolist()
    [9.0, 0.0]
    """
    return _formula_slice(formula, (coord,), center)


def objective_surface(objective: Any, batch: Any, center: Sequence[float],
                      coords: tuple[int, int] = (0, 1)) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``fun(A, B)``: ``objective.value(theta, batch)`` over two coordinates of ``theta``, the others at ``center``.

    Evaluated point by point, so any objective works; for a linear model's ``(w, b)``
    with squared error this is the tutorials' loss surface over ``(w, b)``.

    Examples
    --------
    >>> from gradstep.objectives import SquaredError
    >>> X, Y = np.array([[1.0], [2.0]]), np.array([[3.0], [5.0]])
    >>> fun = objective_surface(SquaredError(1), (X, Y), center=[2.0, 1.0])
    >>> fun(np.array([2.0, 0.0]), np.array([1.0, 0.0])).tolist()     # (w, b) = (2, 1) fits exactly
    [0.0, 17.0]
    """
    return _objective_slice(objective, batch, center, tuple(coords))


def objective_curve(objective: Any, batch: Any, center: Sequence[float],
                    coord: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """``fun(w)``: ``objective.value(theta, batch)`` along coordinate ``coord``, the others at ``center``.

    Examples
    --------
    >>> from gradstep.objectives import SquaredError
    >>> X, Y = np.array([[1.0], [2.0]]), np.array([[2.0], [4.0]])
    >>> fun = objective_curve(SquaredError(1, fit_intercept=False), (X, Y), center=[2.0])
    >>> fun(np.array([1.0, 2.0])).tolist()     # residuals (-1, -2), then (0, 0)
    [2.5, 0.0]
    """
    return _objective_slice(objective, batch, center, (coord,))
