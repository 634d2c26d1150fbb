"""Classification figures: valid files, not blank, and drawing exactly the numbers of the fit.

Every number checked comes from somewhere else than the plotting code: the
history's epoch table, :func:`sklearn.metrics.confusion_matrix`, the model's
``predict``, the data, or the decision rule written out here from the
objective's decision values. The drawn data is read back from the matplotlib
artists, found by their gid (``"loss:0"``, ``"regions"``, ``"data:1"``, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_iris, make_classification
from sklearn.metrics import confusion_matrix

import gradstep
from gradstep import plots

from figure_checks import SIZE, check_png, drawn

# --- fits ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=200, n_features=2, n_redundant=0, n_informative=2, random_state=0)
    model = gradstep.LogisticRegression(lr=0.5, epochs=60, tol=None, early_stopping=True, random_state=0).fit(X, y)
    return X, y, model


@pytest.fixture(scope="module")
def iris():
    data = load_iris()
    X, y = data.data[:, :2], data.target
    model = gradstep.SoftmaxRegression(lr=0.5, epochs=100, tol=None, scale="standard", random_state=0).fit(X, y)
    return X, y, model, data


def decide_at(model):
    """The class index predicted with parameters ``theta``: positive logit (binary) or the largest one."""
    def decide(theta, P):
        D = model._objective_.predict(theta, model.scaling_.transform(P))
        return (D[:, 0] > 0).astype(int) if D.shape[1] == 1 else np.argmax(D, axis=1)
    return decide


def decide(model):
    """The class index of the model's prediction (its public ``predict``)."""
    return lambda P: np.searchsorted(model.classes_, model.predict(P))


# --- helpers ---------------------------------------------------------------------------------





def gids(ax) -> set[str]:
    return {str(a.get_gid()) for a in ax.get_children() if a.get_gid() is not None}


def legend_texts(ax) -> list[str]:
    """The legend's entries: in the axes, or under them (the figure's)."""
    legend = ax.get_legend() or (ax.figure.legends[0] if ax.figure.legends else None)
    return [t.get_text() for t in legend.get_texts()]


def regions(ax) -> np.ndarray:
    (image,) = [im for im in ax.get_images() if im.get_gid() == "regions"]
    return np.asarray(image.get_array())


def cell_centres(ax, shape: tuple[int, int]) -> np.ndarray:
    """The centres of the grid cells filling the axes, rows from the bottom: (rows * cols, 2)."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    rows, cols = shape
    xs = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols
    ys = y0 + (np.arange(rows) + 0.5) * (y1 - y0) / rows
    return np.array([(x, y) for y in ys for x in xs])


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        im.verify()
    frames = []
    with Image.open(path) as im:
        assert im.format == "GIF" and im.size == SIZE
        for j in range(im.n_frames):
            im.seek(j)
            frames.append(np.asarray(im.convert("RGB"), dtype=int))
    return frames


# --- plot_classification_curves ------------------------------------------------------------

def test_curves_draw_the_epoch_table_of_a_run_with_validation(binary, tmp_path):
    _, _, model = binary
    h = model.history_
    table = h.to_pandas("epochs")
    assert {"val_loss", "accuracy", "val_accuracy"} <= set(table.columns)
    fig = plots.plot_classification_curves(h, path=tmp_path / "curves.png")
    check_png(tmp_path / "curves.png")
    loss_ax, acc_ax = fig.axes
    epochs = np.arange(1, h.n_epochs + 1)
    for ax, columns in ((loss_ax, ("loss", "val_loss")), (acc_ax, ("accuracy", "val_accuracy"))):
        for column in columns:
            xy = drawn(ax, f"{column}:0")
            np.testing.assert_array_equal(xy[:, 0], epochs)
            np.testing.assert_array_equal(xy[:, 1], table[column].to_numpy())
        assert [line.get_linestyle() for line in ax.get_lines()] == ["-", "--"]
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "accuracy"
    assert acc_ax.get_xlabel() == "epoch" and loss_ax.get_shared_x_axes().joined(loss_ax, acc_ax)
    assert legend_texts(loss_ax) == ["training", "validation"]
    assert "LogisticRegression" in loss_ax.get_title()
    # the last training accuracy is the model's score on the rows it was trained on, >= 90% here
    assert table["accuracy"].iloc[-1] >= 0.9


def test_curves_overlay_several_runs(binary, iris, tmp_path):
    h1, h2 = binary[2].history_, iris[2].history_
    fig = plots.plot_classification_curves([h1, h2], ["logistic", "softmax"], path=tmp_path / "two.png")
    check_png(tmp_path / "two.png")
    loss_ax, acc_ax = fig.axes
    t2 = h2.to_pandas("epochs")
    assert "val_loss" not in t2       # no early stopping: no validation lines
    np.testing.assert_array_equal(drawn(loss_ax, "loss:1"), np.column_stack([t2["epoch"] + 1, t2["loss"]]))
    np.testing.assert_array_equal(drawn(acc_ax, "accuracy:1"), np.column_stack([t2["epoch"] + 1, t2["accuracy"]]))
    assert gids(acc_ax) >= {"accuracy:0", "val_accuracy:0", "accuracy:1"} and "val_accuracy:1" not in gids(acc_ax)
    assert legend_texts(loss_ax) == ["logistic, training", "logistic, validation", "softmax, training"]
    assert drawn(loss_ax, "loss:0")[0, 1] != drawn(loss_ax, "loss:1")[0, 1]


def test_curves_need_a_classifier_fitted_to_data(binary):
    X, y, model = binary
    with pytest.raises(ValueError, match="no epochs"):
        plots.plot_classification_curves(gradstep.minimize("x**2", x0=[1.0], steps=3).history)
    regression = gradstep.LinearRegression(lr=0.1, epochs=3, tol=None).fit(X, y.astype(float)).history_
    with pytest.raises(ValueError, match="no accuracy"):
        plots.plot_classification_curves([model.history_, regression])


# --- plot_confusion --------------------------------------------------------------------------

def test_confusion_of_a_binary_fit_counts_as_sklearn(binary, tmp_path):
    X, y, model = binary
    predicted = model.predict(X)
    expected = confusion_matrix(y, predicted)
    fig = plots.plot_confusion(y, predicted, path=tmp_path / "confusion.png")
    check_png(tmp_path / "confusion.png")
    ax = fig.axes[0]
    (image,) = ax.get_images()
    assert image.get_gid() == "confusion"
    np.testing.assert_array_equal(image.get_array(), expected)
    texts = {t.get_gid(): t for t in ax.texts}
    for (i, j), n in np.ndenumerate(expected):
        cell = texts[f"count:{i}:{j}"]
        assert cell.get_text() == str(n) and cell.get_position() == (j, i)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert ax.get_title() == f"Confusion matrix: accuracy {model.score(X, y):.3f} on 200 points"
    assert expected.trace() == round(model.score(X, y) * 200)


def test_confusion_of_iris_names_and_orders_the_classes(iris, tmp_path):
    X, y, model, data = iris
    names = data.target_names
    true, predicted = names[y], names[model.predict(X)]
    order = ["virginica", "setosa", "versicolor"]
    fig = plots.plot_confusion(true, predicted, labels=order, path=tmp_path / "iris.png")
    check_png(tmp_path / "iris.png")
    ax = fig.axes[0]
    expected = confusion_matrix(true, predicted, labels=order)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == order == [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(n) for n in expected.ravel())
    assert expected.sum(axis=1).tolist() == [50, 50, 50]   # rows are the true classes


def test_confusion_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="same number"):
        plots.plot_confusion([0, 1, 1], [0, 1])


# --- plot_decision_boundary ------------------------------------------------------------------

def test_decision_boundary_of_a_binary_fit(binary, tmp_path):
    X, y, model = binary
    fig = plots.plot_decision_boundary(X, y, decide(model), path=tmp_path / "boundary.png")
    check_png(tmp_path / "boundary.png")
    ax = fig.axes[0]
    Z = regions(ax)
    assert Z.shape[0] > 100 and Z.shape[1] > 100
    np.testing.assert_array_equal(Z.ravel(), decide(model)(cell_centres(ax, Z.shape)))
    assert set(np.unique(Z)) == {0, 1}             # the boundary crosses the plot
    image = ax.get_images()[0]
    assert image.origin == "lower" and np.allclose(image.get_extent(), [*ax.get_xlim(), *ax.get_ylim()])
    # the data, coloured by class, inside the plot with a margin
    for c in (0, 1):
        (points,) = [s for s in ax.collections if s.get_gid() == f"data:{c}"]
        np.testing.assert_array_equal(points.get_offsets(), X[y == c])
    span = X.max(axis=0) - X.min(axis=0)
    np.testing.assert_allclose([ax.get_xlim(), ax.get_ylim()],
                               np.column_stack([X.min(axis=0) - 0.15 * span, X.max(axis=0) + 0.15 * span]))
    assert legend_texts(ax) == ["class 0", "class 1"]
    assert ax.get_title() == f"Decision regions: accuracy {np.mean(model.predict(X) == y):.3f} on 200 points"


def test_decision_boundary_of_iris_three_classes(iris, tmp_path):
    X, y, model, data = iris
    fig = plots.plot_decision_boundary(X, y, decide(model), feature_names=data.feature_names[:2],
                                       class_names=data.target_names, bounds=((4, 8.5), (1.5, 5)),
                                       path=tmp_path / "iris.png")
    check_png(tmp_path / "iris.png")
    ax = fig.axes[0]
    assert ax.get_xlim() == (4, 8.5) and ax.get_ylim() == (1.5, 5)
    Z = regions(ax)
    np.testing.assert_array_equal(Z.ravel(), decide(model)(cell_centres(ax, Z.shape)))
    assert set(np.unique(Z)) == {0, 1, 2}
    offsets = np.vstack([s.get_offsets() for c in range(3) for s in ax.collections if s.get_gid() == f"data:{c}"])
    np.testing.assert_array_equal(offsets, np.vstack([X[y == c] for c in range(3)]))
    assert legend_texts(ax) == ["setosa", "versicolor", "virginica"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("sepal length (cm)", "sepal width (cm)")


def test_decision_boundary_errors(iris):
    X, y, model, data = iris
    with pytest.raises(ValueError, match="two features"):
        plots.plot_decision_boundary(data.data[:, :3], y, decide(model))
    with pytest.raises(ValueError, match="class indices"):
        plots.plot_decision_boundary(X, data.target_names[y], decide(model))
    with pytest.raises(ValueError, match="class indices"):       # decision values, not classes
        plots.plot_decision_boundary(X, y, lambda P: model.predict_proba(P))
    with pytest.raises(ValueError, match="class_names"):
        plots.plot_decision_boundary(X, y, decide(model), class_names=["a", "b"])


# --- animate_decision_boundary ---------------------------------------------------------------

@pytest.fixture()
def grabbed(monkeypatch):
    """The regions and the title at each frame the GIF writer grabs."""
    frames: list[tuple[np.ndarray, str]] = []
    grab = plots._GifWriter.grab_frame

    def spy(self, **kwargs):
        ax = self.fig.axes[0]
        frames.append((regions(ax).copy(), ax.get_title()))
        return grab(self, **kwargs)

    monkeypatch.setattr(plots._GifWriter, "grab_frame", spy)
    return frames


def test_animate_decision_boundary_moves_with_training(iris, grabbed, tmp_path):
    X, y, model, data = iris
    thetas = model.history_.path
    assert len(thetas) == 101
    out = plots.animate_decision_boundary(X, y, decide_at(model), thetas, class_names=data.target_names,
                                          path=tmp_path / "regions.gif", frames=20, fps=5)
    assert out == tmp_path / "regions.gif"
    frames = gif_frames(out)
    assert len(frames) == len(grabbed) == 20
    assert np.abs(frames[0] - frames[-1]).sum() > 0 and np.abs(frames[1] - frames[-1]).sum() > 0
    steps = [int(title.split("step ")[1].split(":")[0]) for _, title in grabbed]
    assert steps[0] == 0 and steps[-1] == 100 and np.all(np.diff(steps) > 0)
    assert np.all(np.abs(np.diff(steps) - 100 / 19) <= 1)   # spread evenly
    # each frame fills the regions with the parameters of its step
    still = plots.plot_decision_boundary(X, y, lambda P: decide_at(model)(thetas[-1], P),
                                         class_names=data.target_names, path=tmp_path / "last.png")
    centres = cell_centres(still.axes[0], grabbed[0][0].shape)
    for (Z, title), k in zip(grabbed, steps):
        np.testing.assert_array_equal(Z.ravel(), decide_at(model)(thetas[k], centres))
        accuracy = np.mean(decide_at(model)(thetas[k], X) == y)
        assert title == f"Decision regions at step {k}: accuracy {accuracy:.3f} on 150 points"
    # the last frame looks like the still figure of the last parameters (but for the title)
    np.testing.assert_array_equal(grabbed[-1][0], regions(still.axes[0]))
    with Image.open(tmp_path / "last.png") as im:
        picture = np.asarray(im.convert("RGB"), dtype=int)
    below_title = slice(40, None)
    assert np.abs(frames[-1][below_title] - picture[below_title]).mean() < 1.0


def test_animate_decision_boundary_of_a_short_run_shows_every_step(binary, grabbed, tmp_path):
    X, y, model = binary
    thetas = model.history_.path[:6]
    out = plots.animate_decision_boundary(X, y, decide_at(model), list(thetas), path=tmp_path / "short.gif")
    assert len(gif_frames(out)) == 6
    assert [title.split(":")[0] for _, title in grabbed] == [f"Decision regions at step {k}" for k in range(6)]


def test_animate_decision_boundary_errors(binary, tmp_path):
    X, y, model = binary
    with pytest.raises(ValueError, match=".gif"):
        plots.animate_decision_boundary(X, y, decide_at(model), model.history_.path, path=tmp_path / "r.png")
    with pytest.raises(ValueError, match="thetas"):
        plots.animate_decision_boundary(X, y, decide_at(model), None, path=tmp_path / "r.gif")
    assert list(tmp_path.iterdir()) == []
