"""Figures: valid files, not blank, and drawing exactly the numbers of the run.

Every number checked comes from somewhere else than the plotting code: the
history's columns and path, the data, a hand-written loss (``x**2 + y**2``,
the mean squared error of a line), or the formula / objective evaluated point
by point. The drawn data is read back from the matplotlib artists, found by
their gid (``"path:0"``, ``"loss:1"``, ...).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.contour import ContourSet
from PIL import Image, ImageChops

import gradstep
from gradstep import plots
from gradstep.data.datasets import tutorial_line, tutorial_plane
from gradstep.expression import parse
from gradstep.objectives import SquaredError

from figure_checks import SIZE, check_png, drawn

BOWL = "x**2 + y**2"
ROSENBROCK = "(1 - x)**2 + 100*(y - x**2)**2"


# --- runs ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bowl():
    # the tutorial's fixed 50 steps each (gtol off: lr 0.4 would meet the default gtol at step 9)
    return [gradstep.minimize(BOWL, x0=[3, 2], lr=lr, steps=50, gtol=None).history for lr in (0.4, 0.1, 0.01)]


@pytest.fixture(scope="module")
def rosenbrock():
    return gradstep.minimize(ROSENBROCK, x0=[-1.5, 2], optimizer="adam", lr=0.05, steps=300).history


@pytest.fixture(scope="module")
def diverged():
    res = gradstep.minimize(BOWL, x0=[3, 2], lr=1.1, steps=50)
    assert not res.success and np.abs(res.history.path).max() > 1000
    return res.history


@pytest.fixture(scope="module")
def overflowed():
    """Diverged until the gradient overflowed: the path ends in inf."""
    res = gradstep.minimize(BOWL, x0=[3, 2], lr=1.1, steps=3000, divergence=None)
    assert not np.all(np.isfinite(res.history.path)) or np.abs(res.history.path).max() > 1e150
    return res.history


@pytest.fixture(scope="module")
def line():
    ds = tutorial_line()
    full = gradstep.LinearRegression(lr=0.005, epochs=40, tol=None).fit(ds.X, ds.y)
    mini = gradstep.LinearRegression(lr=0.002, epochs=8, batch_size=10, tol=None, random_state=0).fit(ds.X, ds.y)
    return ds, full, mini


# --- helpers ---------------------------------------------------------------------------------





def legend_texts(ax) -> list[str]:
    """The legend's entries: in the axes, or under them (the figure's)."""
    legend = ax.get_legend() or (ax.figure.legends[0] if ax.figure.legends else None)
    return [t.get_text() for t in legend.get_texts()]


def mse(w, b, X, y) -> np.ndarray:
    """The mean squared error of the line y = w x + b, written out by hand; w, b broadcast."""
    w, b = np.asarray(w, dtype=float)[..., None], np.asarray(b, dtype=float)[..., None]
    return np.mean((w * X[:, 0] + b - y) ** 2, axis=-1)


def contour_set(ax) -> ContourSet:
    (cs,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    return cs


# --- plot_loss -------------------------------------------------------------------------------

def test_plot_loss_draws_loss_grad_norm_and_lr_of_each_run(bowl, tmp_path):
    fig = plots.plot_loss(bowl, path=tmp_path / "loss.png")
    check_png(tmp_path / "loss.png")
    top, middle, bottom = fig.axes
    for i, h in enumerate(bowl):
        steps = np.arange(h.n_steps)
        x, y = h.params.T
        np.testing.assert_array_equal(drawn(top, f"loss:{i}"), np.column_stack([steps, h.loss]))
        np.testing.assert_allclose(drawn(top, f"loss:{i}")[:, 1], x**2 + y**2, rtol=1e-12, atol=1e-300)
        np.testing.assert_array_equal(drawn(middle, f"grad_norm:{i}"), np.column_stack([steps, h.grad_norm]))
        np.testing.assert_allclose(drawn(middle, f"grad_norm:{i}")[:, 1], 2 * np.hypot(x, y), rtol=1e-12)
        np.testing.assert_array_equal(drawn(bottom, f"lr:{i}"), np.column_stack([steps, h.lr]))
    np.testing.assert_array_equal([drawn(bottom, f"lr:{i}")[0, 1] for i in range(3)], [0.4, 0.1, 0.01])
    assert legend_texts(top) == ["gd, lr=0.4", "gd, lr=0.1", "gd, lr=0.01"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "gradient norm", "learning rate"]
    assert bottom.get_xlabel() == "step" and top.get_shared_x_axes().joined(top, bottom)
    # lr=0.4 takes the loss from 13 to ~1e-69: log scales; the learning rates are not positive-wide
    assert (top.get_yscale(), middle.get_yscale(), bottom.get_yscale()) == ("log", "log", "linear")


def test_plot_loss_uses_a_linear_scale_when_values_span_less_than_two_decades(bowl):
    slow = bowl[2]   # lr=0.01: the loss falls from 13 by a factor (1 - 0.02)**98 ~ 7
    assert slow.loss.max() / slow.loss.min() < 100
    fig = plots.plot_loss(slow)
    assert fig.axes[0].get_yscale() == "linear"
    assert fig.axes[0].get_legend() is None and not fig.legends   # one run: no legend needed
    assert "x**2 + y**2" in fig.axes[0].get_title() and "lr=0.01" in fig.axes[0].get_title()


def test_plot_loss_marks_the_epoch_loss_on_all_the_data(line, tmp_path):
    ds, full, mini = line
    fig = plots.plot_loss([full.history_, mini.history_], labels=["full batch", "mini-batch"],
                          path=tmp_path / "epochs.png")
    check_png(tmp_path / "epochs.png")
    top = fig.axes[0]
    for i, (h, steps_per_epoch) in enumerate([(full.history_, 1), (mini.history_, 10)]):
        xy = drawn(top, f"epoch_loss:{i}")
        ends = steps_per_epoch * np.arange(1, h.n_epochs + 1)   # the step count after each epoch
        np.testing.assert_array_equal(xy[:, 0], ends)
        np.testing.assert_array_equal(xy[:, 1], h.epoch_loss)
        np.testing.assert_array_equal(xy, h.to_pandas("epochs")[["step", "loss"]].to_numpy())
        # and it is the loss on all the data at the parameters reached after the epoch
        w, b = h.path[ends].T
        np.testing.assert_allclose(xy[:, 1], mse(w, b, ds.X, ds.y), rtol=1e-10)
    # full batch: the loss on all the data after epoch e is step e+1's loss
    np.testing.assert_allclose(full.history_.epoch_loss[:-1], full.history_.loss[1:], rtol=1e-12)
    assert legend_texts(top)[:3] == ["full batch", "loss on all the data, end of epoch", "mini-batch"]


def test_plot_loss_of_a_run_that_overflowed(overflowed, tmp_path):
    fig = plots.plot_loss(overflowed, path=tmp_path / "overflow.png")
    check_png(tmp_path / "overflow.png")
    y = drawn(fig.axes[0], "loss:0")[:, 1]
    finite = np.isfinite(overflowed.loss)
    np.testing.assert_array_equal(y[finite], overflowed.loss[finite])
    assert np.all(np.isnan(y[~finite]))     # inf is drawn as a gap
    assert all(np.all(np.isfinite(ax.get_ylim())) for ax in fig.axes)


# --- plot_fit --------------------------------------------------------------------------------

def test_plot_fit_one_feature_draws_the_data_and_the_fitted_line(line, tmp_path):
    ds, full, _ = line
    fig = plots.plot_fit(ds.X, ds.y, full.predict, feature_names=ds.feature_names, path=tmp_path / "fit.png")
    check_png(tmp_path / "fit.png")
    ax = fig.axes[0]
    (points,) = ax.collections
    np.testing.assert_array_equal(points.get_offsets(), np.column_stack([ds.X[:, 0], ds.y]))
    x, yhat = drawn(ax, "fit").T
    assert np.all(np.diff(x) > 0) and x[0] == ds.X.min() and x[-1] == ds.X.max()
    np.testing.assert_allclose(yhat, full.coef_[0] * x + full.intercept_, rtol=1e-12)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert f"mse {mse(full.coef_[0], full.intercept_, ds.X, ds.y):.4g}" in ax.get_title()


def test_plot_fit_several_features_draws_predicted_against_true(tmp_path):
    ds = tutorial_plane()
    model = gradstep.LinearRegression(lr=0.005, epochs=300, tol=None).fit(ds.X, ds.y)
    fig = plots.plot_fit(ds.X, ds.y, model.predict, target_name="price", path=tmp_path / "plane.png")
    check_png(tmp_path / "plane.png")
    ax = fig.axes[0]
    predicted = ds.X[:, 0] * model.coef_[0] + ds.X[:, 1] * model.coef_[1] + model.intercept_
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([ds.y, predicted]), rtol=1e-12)
    diagonal = drawn(ax, "diagonal")
    np.testing.assert_array_equal(diagonal[:, 0], diagonal[:, 1])
    assert diagonal[0, 0] <= min(ds.y.min(), predicted.min()) and diagonal[1, 0] >= max(ds.y.max(), predicted.max())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("true price", "predicted price")


def test_plot_fit_rejects_mismatched_data():
    with pytest.raises(ValueError, match="n_samples"):
        plots.plot_fit(np.zeros((3, 1)), np.zeros(4), lambda X: X[:, 0])


# --- surfaces --------------------------------------------------------------------------------

def test_formula_surface_and_curve_equal_the_formula_point_by_point():
    rng = np.random.default_rng(0)
    A, B = rng.uniform(-2, 2, (2, 7, 5))
    f = parse(ROSENBROCK)
    Z = plots.formula_surface(f)(A, B)
    assert Z.shape == A.shape
    for i in np.ndindex(A.shape):
        assert Z[i] == pytest.approx(f([A[i], B[i]]), rel=1e-14)
        assert Z[i] == pytest.approx((1 - A[i]) ** 2 + 100 * (B[i] - A[i] ** 2) ** 2, rel=1e-12)
    g = parse("x**2 + 2*y**2 + 3*z**2")   # two coordinates of three, the third held at the center
    center = [0.5, -1.0, 2.0]
    Z = plots.formula_surface(g, coords=(2, 0), center=center)(A, B)
    for i in np.ndindex(A.shape):
        assert Z[i] == pytest.approx(g([B[i], -1.0, A[i]]), rel=1e-14)
    w = np.linspace(-3, 3, 11)
    np.testing.assert_allclose(plots.formula_curve(g, coord=1, center=center)(w), 0.25 + 2 * w**2 + 12.0, rtol=1e-14)


def test_objective_surface_and_curve_equal_the_objective_value(line):
    ds = line[0]
    obj = SquaredError(1)
    batch = (ds.X, ds.y.reshape(-1, 1))
    coef, b = gradstep.closed_form(ds.X, ds.y)
    center = [coef[0], b]
    W, Bs = np.meshgrid(np.linspace(0, 3, 6), np.linspace(-1, 2, 4))
    Z = plots.objective_surface(obj, batch, center)(W, Bs)
    np.testing.assert_allclose(Z, mse(W, Bs, ds.X, ds.y), rtol=1e-12)
    for i in np.ndindex(W.shape):
        assert Z[i] == obj.value(np.array([W[i], Bs[i]]), batch)
    np.testing.assert_allclose(plots.objective_surface(obj, batch, center, coords=(1, 0))(Bs, W), Z, rtol=1e-15)
    w = np.linspace(0, 3, 7)
    np.testing.assert_allclose(plots.objective_curve(obj, batch, center)(w), mse(w, b, ds.X, ds.y), rtol=1e-12)
    np.testing.assert_allclose(plots.objective_curve(obj, batch, center, coord=1)(w), mse(coef[0], w, ds.X, ds.y),
                               rtol=1e-12)


def test_surface_builders_check_center_and_coords():
    with pytest.raises(ValueError, match="center"):
        plots.formula_surface(BOWL, center=[1.0])
    with pytest.raises(ValueError, match="coords"):
        plots.formula_surface(BOWL, coords=(0, 0))
    with pytest.raises(ValueError, match="coords"):
        plots.objective_curve(SquaredError(1), None, [0.0, 0.0], coord=2)


# --- plot_contour ----------------------------------------------------------------------------

def test_plot_contour_draws_each_path_with_start_end_and_optimum(bowl, tmp_path):
    fig = plots.plot_contour(plots.formula_surface(BOWL), bowl, optimum=(0, 0), path=tmp_path / "contour.png")
    check_png(tmp_path / "contour.png")
    ax = fig.axes[0]
    for i, h in enumerate(bowl):
        np.testing.assert_array_equal(drawn(ax, f"path:{i}"), h.path[:, [0, 1]])
        np.testing.assert_array_equal(drawn(ax, f"start:{i}"), [[3.0, 2.0]])
        np.testing.assert_array_equal(drawn(ax, f"end:{i}"), h.final_params.reshape(1, 2))
    np.testing.assert_array_equal(drawn(ax, "optimum"), [[0.0, 0.0]])
    assert legend_texts(ax) == ["gd, lr=0.4", "gd, lr=0.1", "gd, lr=0.01", "start", "end", "optimum"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    # the default bounds hold every path and the optimum, with a margin
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    points = np.vstack([h.path for h in bowl] + [[[0.0, 0.0]]])
    assert x0 < points[:, 0].min() and points[:, 0].max() < x1 and y0 < points[:, 1].min() and points[:, 1].max() < y1
    # linear levels within the values of x**2 + y**2 over those bounds
    cs = contour_set(ax)
    assert not isinstance(cs.norm, LogNorm)
    corners = np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]])
    assert cs.levels.min() >= 0 and cs.levels.max() <= (corners**2).sum(axis=1).max() + 5
    assert np.ptp(np.diff(cs.levels)) < 1e-9


def test_plot_contour_of_rosenbrock_uses_log_spaced_levels(rosenbrock, tmp_path):
    fig = plots.plot_contour(plots.formula_surface(ROSENBROCK), rosenbrock, optimum=(1, 1),
                             path=tmp_path / "rosenbrock.png")
    check_png(tmp_path / "rosenbrock.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(drawn(ax, "path:0"), rosenbrock.path)
    np.testing.assert_array_equal(drawn(ax, "optimum"), [[1.0, 1.0]])
    cs = contour_set(ax)
    assert isinstance(cs.norm, LogNorm) and len(cs.levels) == 30
    ratios = cs.levels[1:] / cs.levels[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    # the top level is the largest value of the function on the plotted grid, evaluated here
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    X, Y = np.meshgrid(np.linspace(x0, x1, plots.GRID), np.linspace(y0, y1, plots.GRID))
    assert cs.levels[-1] == pytest.approx(((1 - X) ** 2 + 100 * (Y - X**2) ** 2).max(), rel=1e-12)
    assert "adam" in ax.get_title()


def test_plot_contour_of_a_diverging_run_keeps_the_start_in_view(diverged, bowl, tmp_path):
    fig = plots.plot_contour(plots.formula_surface(BOWL), [diverged, bowl[0]], optimum=(0, 0),
                             path=tmp_path / "diverged.png")
    check_png(tmp_path / "diverged.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(drawn(ax, "path:0"), diverged.path)   # all of it is drawn ...
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert np.all(np.isfinite([x0, x1, y0, y1]))
    assert x0 < 3 < x1 and y0 < 2 < y1 and x0 < 0 < x1 and y0 < 0 < y1
    outside = (diverged.path[:, 0] < x0) | (diverged.path[:, 0] > x1)
    assert outside[-1] and outside.sum() > 10                          # ... and it leaves the plot
    assert x1 - x0 < 0.1 * np.ptp(diverged.path[:, 0])


def test_plot_contour_of_a_path_that_reached_inf(overflowed, tmp_path):
    fig = plots.plot_contour(plots.formula_surface(BOWL), overflowed, path=tmp_path / "inf.png")
    check_png(tmp_path / "inf.png")
    limits = np.array([fig.axes[0].get_xlim(), fig.axes[0].get_ylim()])
    assert np.all(np.isfinite(limits)) and np.abs(limits).max() < 100


def test_plot_contour_of_a_linear_model_over_w_and_b(line, tmp_path):
    ds, full, mini = line
    coef, b = gradstep.closed_form(ds.X, ds.y)
    surface = plots.objective_surface(full._objective_, (ds.X, ds.y.reshape(-1, 1)), [coef[0], b])
    fig = plots.plot_contour(surface, [full.history_, mini.history_], optimum=(coef[0], b),
                             path=tmp_path / "wb.png")
    check_png(tmp_path / "wb.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(drawn(ax, "path:0"), full.history_.path)
    np.testing.assert_array_equal(drawn(ax, "path:1"), mini.history_.path)
    np.testing.assert_array_equal(drawn(ax, "end:1"), [[mini.coef_[0], mini.intercept_]])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("w[x0]", "b")
    assert legend_texts(ax)[0] == "sgd, lr=0.005" and legend_texts(ax)[1] == "sgd, lr=0.002, batch=10"


def test_plot_contour_errors(bowl):
    fun = plots.formula_surface(BOWL)
    with pytest.raises(ValueError, match="labels"):
        plots.plot_contour(fun, bowl, labels=["one"])
    with pytest.raises(ValueError, match="bounds"):
        plots.plot_contour(fun, bowl, bounds=((1, 0), (0, 1)))
    with pytest.raises(ValueError, match="coords"):
        plots.plot_contour(fun, bowl, coords=(0, 2))
    unrecorded = gradstep.minimize(BOWL, x0=[3, 2], lr=0.1, steps=5, record_params=False).history
    with pytest.raises(ValueError, match="record_params"):
        plots.plot_contour(fun, unrecorded)
    with pytest.raises(TypeError):
        plots.plot_contour(fun, [])


# --- plot_curve ------------------------------------------------------------------------------

def test_plot_curve_draws_the_path_on_the_loss_against_w(tmp_path):
    ds = tutorial_line()
    model = gradstep.LinearRegression(lr=0.002, epochs=30, tol=None, fit_intercept=False).fit(ds.X, ds.y)
    h = model.history_
    w_star = float(gradstep.closed_form(ds.X, ds.y, fit_intercept=False)[0][0])
    fun = plots.objective_curve(model._objective_, (ds.X, ds.y.reshape(-1, 1)), [w_star])
    fig = plots.plot_curve(fun, h, optimum=w_star, path=tmp_path / "curve.png")
    check_png(tmp_path / "curve.png")
    ax = fig.axes[0]
    w, loss = drawn(ax, "path:0").T
    np.testing.assert_array_equal(w, h.path[:, 0])
    np.testing.assert_allclose(loss, mse(w, 0.0, ds.X, ds.y), rtol=1e-12)
    np.testing.assert_allclose(loss[:-1], h.loss, rtol=1e-12)          # full batch: the recorded losses
    grid, curve = drawn(ax, "curve").T
    np.testing.assert_allclose(curve, mse(grid, 0.0, ds.X, ds.y), rtol=1e-12)
    assert grid[0] < min(w.min(), w_star) and grid[-1] > max(w.max(), w_star)
    np.testing.assert_allclose(drawn(ax, "optimum"), [[w_star, mse(w_star, 0.0, ds.X, ds.y)]], rtol=1e-12)
    np.testing.assert_array_equal(drawn(ax, "start:0"), [[0.0, mse(0.0, 0.0, ds.X, ds.y)]])
    assert ax.get_xlabel() == "w[x0]" and ax.get_ylabel() == "loss"


def test_plot_curve_of_a_formula_and_of_a_diverging_run(diverged, bowl, tmp_path):
    fun = plots.formula_curve(BOWL, coord=0, center=[0.0, 0.0])
    fig = plots.plot_curve(fun, [diverged, bowl[1]], labels=["lr=1.1", "lr=0.1"], optimum=0.0,
                           xlabel="x (y = 0)", path=tmp_path / "curve.png")
    check_png(tmp_path / "curve.png")
    ax = fig.axes[0]
    for i, h in enumerate([diverged, bowl[1]]):
        np.testing.assert_array_equal(drawn(ax, f"path:{i}"), np.column_stack([h.path[:, 0], h.path[:, 0] ** 2]))
    lo, hi = ax.get_xlim()
    assert np.isfinite([lo, hi]).all() and lo < 0 < 3 < hi and hi - lo < 0.1 * np.ptp(diverged.path[:, 0])
    assert legend_texts(ax)[1] == "lr=1.1" and ax.get_xlabel() == "x (y = 0)"


# --- animate_contour -------------------------------------------------------------------------

@pytest.fixture()
def grabbed(monkeypatch):
    """The drawn paths at each frame the GIF writer grabs."""
    frames: list[list[np.ndarray]] = []
    grab = plots._GifWriter.grab_frame

    def spy(self, **kwargs):
        ax = self.fig.axes[0]
        frames.append([line.get_xydata().copy() for line in ax.get_lines() if str(line.get_gid()).startswith("path:")])
        return grab(self, **kwargs)

    monkeypatch.setattr(plots._GifWriter, "grab_frame", spy)
    return frames


def test_animate_contour_grows_the_paths_step_by_step(bowl, grabbed, tmp_path):
    out = plots.animate_contour(plots.formula_surface(BOWL), bowl, optimum=(0, 0), path=tmp_path / "descent.gif",
                                frames=20, fps=10)
    assert out == tmp_path / "descent.gif"
    with Image.open(out) as im:
        im.verify()
    with Image.open(out) as im:
        assert im.format == "GIF" and im.size == SIZE and im.n_frames == 20
        im.seek(0)
        first = im.convert("RGB")
        im.seek(im.n_frames - 1)
        last = im.convert("RGB")
    assert ImageChops.difference(first, last).getbbox() is not None
    # one palette for all frames: the first frame's colours (e.g. the legend's) are colours of the last
    colours = [set(map(tuple, np.asarray(f).reshape(-1, 3))) for f in (first, last)]
    assert colours[0] <= colours[1]
    assert np.asarray(last.convert("L"), dtype=float).var() > 100
    # 51 points in 20 frames: the counts shown are spread evenly from 1 to 51
    counts = [len(paths[0]) for paths in grabbed]
    assert len(grabbed) == 20 and counts[0] == 1 and counts[-1] == 51 and np.all(np.diff(counts) > 0)
    for paths in grabbed:
        for p, h in zip(paths, bowl):
            np.testing.assert_array_equal(p, h.path[: len(p)])
    assert [len(p) for p in grabbed[-1]] == [len(h.path) for h in bowl]


def test_animate_contour_shows_every_step_of_a_short_run(grabbed, tmp_path):
    h = gradstep.minimize(ROSENBROCK, x0=[-1.5, 2], optimizer="adam", lr=0.05, steps=12).history
    out = plots.animate_contour(plots.formula_surface(ROSENBROCK), h, path=tmp_path / "short.gif")
    with Image.open(out) as im:
        assert im.n_frames == 13
    assert [len(paths[0]) for paths in grabbed] == list(range(1, 14))
    np.testing.assert_array_equal(grabbed[-1][0], h.path)


def test_animate_contour_of_a_long_run_plays_its_first_steps_one_by_one(grabbed, tmp_path, monkeypatch):
    """spacing="log": the first steps one a frame (where a descent moves most), then further apart; the
    title counts the steps; the last frame is held."""
    h = gradstep.minimize(BOWL, x0=[3, 2], lr=0.01, steps=500).history
    titles = []
    grab = plots._GifWriter.grab_frame

    def spy(self, **kwargs):
        titles.append(self.fig.axes[0].get_title())
        return grab(self, **kwargs)

    monkeypatch.setattr(plots._GifWriter, "grab_frame", spy)
    out = plots.animate_contour(plots.formula_surface(BOWL), h, path=tmp_path / "long.gif", frames=20, spacing="log")
    counts = [len(paths[0]) for paths in grabbed]
    assert counts[:4] == [1, 2, 3, 4] and counts[-1] == 501 and len(counts) == 20 and np.all(np.diff(counts) > 0)
    assert titles[0].endswith(", step 0") and titles[-1].endswith(", step 500")
    with Image.open(out) as im:
        im.seek(im.n_frames - 1)
        assert im.info["duration"] == 1000 * plots.GIF_HOLD
    with pytest.raises(ValueError, match="spacing"):
        plots.animate_contour(plots.formula_surface(BOWL), h, path=tmp_path / "x.gif", spacing="cubic")


def test_animate_contour_needs_a_gif_name(bowl, tmp_path):
    with pytest.raises(ValueError, match=".gif"):
        plots.animate_contour(plots.formula_surface(BOWL), bowl, path=tmp_path / "descent.png")
    assert list(tmp_path.iterdir()) == []


# --- writing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_save_figure_is_atomic(bowl, tmp_path, monkeypatch, error):
    target = tmp_path / "loss.png"
    plots.plot_loss(bowl[0], path=target)
    before = target.read_bytes()

    print_png = FigureCanvasAgg.print_png

    def half_written(self, target, **kwargs):
        if not isinstance(target, (str, os.PathLike)):   # matplotlib sizing text in memory first
            return print_png(self, target, **{k: v for k, v in kwargs.items() if k in ("metadata", "pil_kwargs")})
        Path(target).write_bytes(b"\x89PNG\r\n\x1a\n half of it")
        raise error

    monkeypatch.setattr(FigureCanvasAgg, "print_png", half_written)
    with pytest.raises(type(error)):
        plots.plot_loss(bowl[1], path=target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png"]


def test_animate_contour_is_atomic(bowl, tmp_path, monkeypatch):
    target = tmp_path / "descent.gif"
    target.write_bytes(b"GIF89a the old one")

    def half_written(self):
        Path(self.outfile).write_bytes(b"GIF89a half")
        raise OSError("disk full")

    monkeypatch.setattr(plots._GifWriter, "finish", half_written)
    with pytest.raises(OSError, match="disk full"):
        plots.animate_contour(plots.formula_surface(BOWL), bowl[0], path=target, frames=3)
    assert target.read_bytes() == b"GIF89a the old one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["descent.gif"]


def test_save_figure_formats_and_permissions(bowl, tmp_path):
    fig = plots.plot_loss(bowl[0])
    svg = plots.save_figure(fig, tmp_path / "new" / "loss.svg")
    pdf = plots.save_figure(fig, tmp_path / "loss.pdf")
    assert b"<svg" in svg.read_bytes()[:1000] and pdf.read_bytes().startswith(b"%PDF")
    umask = os.umask(0)
    os.umask(umask)
    assert pdf.stat().st_mode & 0o777 == 0o666 & ~umask    # as open() would make it, not 0600
    with pytest.raises(ValueError, match=".png"):
        plots.save_figure(fig, tmp_path / "loss.jpeg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.pdf", "new"]


def test_figures_can_be_made_in_threads(bowl, tmp_path):
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            plots.plot_contour(plots.formula_surface(BOWL), bowl[i % 3], path=tmp_path / f"c{i}.png")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(4):
        check_png(tmp_path / f"c{i}.png")


def test_import_gradstep_does_not_import_matplotlib():
    code = ("import sys, gradstep; assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
            "from gradstep import plots; plots.plot_loss(gradstep.minimize('x**2', x0=[1]).history); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
