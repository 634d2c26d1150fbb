"""The figures a command writes: one set for fitted linear models, one for minimised formulas."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .common import plots_module

if TYPE_CHECKING:
    from ..plots import Aspect

GIF_FRAMES = 30  # frames of an animated descent of many steps, spread geometrically: step by step at first
EVERY_STEP = 60  # a run of at most this many steps is animated one step a frame


def _names(history: Any, coords: tuple[int, ...]) -> list[str] | None:
    names = history.param_names
    return [names[i] for i in coords] if names and max(coords) < len(names) else None


def model_figures(models: Sequence[Any], labels: Sequence[str], X: np.ndarray, y: np.ndarray, outdir: Path,
                  feature_names: Sequence[str] | None = None, target_name: str = "y", gif: bool = True) -> list[Path]:
    """Loss curves, the fitted line (or predicted vs true), the loss landscape over the first
    parameter and contours over the first two with every model's path, and the animated descent.

    The landscapes are in the units gradient descent ran in (after the model's scaling), with the
    other parameters held at the closed-form optimum, which is marked.
    """
    from ..diagnostics import closed_form

    plots = plots_module()
    outdir.mkdir(parents=True, exist_ok=True)
    first = models[0]
    histories = [m.history_ for m in models]
    obj = first.objective_
    Z, Y = first.fit_space(X, y)
    coef, b = closed_form(Z, Y, bool(first.fit_intercept), first.loss, obj.penalty.l2)
    best = obj.pack(np.asarray(coef).T, np.atleast_1d(b) if first.fit_intercept else None)
    paths = [outdir / "loss.png", outdir / "fit.png", outdir / "curve.png"]
    plots.plot_loss(histories, labels, path=paths[0])
    if all(h.n_epochs for h in histories):
        paths.append(plots.save_figure(plots.plot_epoch_loss(histories, labels, optimum=obj.value(best, (Z, Y))),
                                       outdir / "epoch_loss.png"))
    plots.plot_fit(X, y, first.predict, feature_names=feature_names, target_name=target_name, path=paths[1])
    first_name = _names(histories[0], (0,))
    plots.plot_curve(plots.objective_curve(obj, (Z, Y), best, coord=0), histories, labels, coord=0,
                     optimum=float(best[0]), xlabel=first_name[0] if first_name else None, path=paths[2])
    if best.size >= 2 and all(h.params is not None for h in histories):
        surface = plots.objective_surface(obj, (Z, Y), best, coords=(0, 1))
        paths += _contours(surface, histories, labels, outdir, gif, optimum=(float(best[0]), float(best[1])),
                           names=_names(histories[0], (0, 1)))
    return paths


def _contours(surface: Any, histories: Sequence[Any], labels: Sequence[str], outdir: Path, gif: bool,
              **kwargs: Any) -> list[Path]:
    """``contour.png`` with every path over the first two coordinates, and ``descent.gif`` animating it
    (every step of a short run; a long one's first steps one by one, then further and further apart)."""
    plots = plots_module()
    paths = [plots.save_figure(plots.plot_contour(surface, histories, labels, coords=(0, 1), **kwargs),
                               outdir / "contour.png")]
    if gif:
        points = max(len(h.path) for h in histories)
        frames = points if points <= EVERY_STEP + 1 else GIF_FRAMES
        paths.append(plots.animate_contour(surface, histories, labels, coords=(0, 1), path=outdir / "descent.gif",
                                           frames=max(frames, 2), spacing="log", **kwargs))
    return paths


def formula_figures(formula: Any, results: Sequence[Any], labels: Sequence[str], outdir: Path,
                    optimum: Sequence[float] | None = None, gif: bool = True, aspect: Aspect = "auto") -> list[Path]:
    """Loss curves and the curve (one variable) or contours (two or more, the rest held at the
    first run's end point) with every run's path, and the animated descent (``aspect="equal"``:
    both variables to the same scale, so round contours look round)."""
    plots = plots_module()
    outdir.mkdir(parents=True, exist_ok=True)
    histories = [r.history for r in results]
    paths = [outdir / "loss.png"]
    plots.plot_loss(histories, labels, path=paths[0])
    if not all(h.params is not None for h in histories):
        return paths
    center = np.asarray(results[0].x, dtype=float)
    if len(formula.variables) == 1:
        paths.append(outdir / "curve.png")
        plots.plot_curve(plots.formula_curve(formula, 0, center), histories, labels, coord=0,
                         optimum=None if optimum is None else float(optimum[0]), xlabel=formula.variables[0],
                         path=paths[-1])
        return paths
    surface = plots.formula_surface(formula, (0, 1), center)
    return paths + _contours(surface, histories, labels, outdir, gif,
                             optimum=None if optimum is None else tuple(optimum[:2]),
                             names=list(formula.variables[:2]), aspect=aspect)


def classifier_figures(model: Any, X: np.ndarray, y: np.ndarray, outdir: Path,
                       feature_names: Sequence[str] | None = None, class_names: Sequence[str] | None = None,
                       gif: bool = True) -> list[Path]:
    """Loss per step, loss and accuracy per epoch (training and validation), the confusion matrix,
    and for two features the decision boundary and its movement over training.

    ``class_names`` name the classes when the labels are codes (``classes_`` 0..K-1)."""
    plots = plots_module()
    outdir.mkdir(parents=True, exist_ok=True)
    h = model.history_
    paths = [outdir / "loss.png", outdir / "curves.png", outdir / "confusion.png"]
    plots.plot_loss(h, path=paths[0])
    plots.plot_classification_curves(h, path=paths[1])
    named = class_names is not None and len(class_names) == len(model.classes_)
    names = [str(c) for c in (class_names if class_names is not None and named else model.classes_)]
    index = np.searchsorted(model.classes_, y)
    plots.plot_confusion(np.asarray(names)[index], np.asarray(names)[np.searchsorted(model.classes_, model.predict(X))],
                         labels=names, path=paths[2])
    if X.shape[1] == 2:
        obj, scaling = model.objective_, model.scaling_

        def decide_at(theta: np.ndarray, points: np.ndarray) -> np.ndarray:
            D = obj.predict(theta, scaling.transform(points))
            return (D[:, 0] > 0).astype(int) if D.shape[1] == 1 else np.argmax(D, axis=1)

        kwargs = {"feature_names": feature_names, "class_names": names}
        paths.append(outdir / "boundary.png")
        plots.plot_decision_boundary(X, index, lambda P: decide_at(model.result_.x, P), path=paths[-1], **kwargs)
        if gif and h.path is not None:
            paths.append(plots.animate_decision_boundary(X, index, decide_at, h.path, path=outdir / "boundary.gif",
                                                         frames=GIF_FRAMES, steps=h.path_steps, spacing="log",
                                                         **kwargs))
    return paths
