"""Every command run as a user runs it (a subprocess), and what it writes checked against references."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradstep import History
from gradstep.data.datasets import DATASETS, tutorial_line
from gradstep.diagnostics import stable_lr


def gradstep(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradstep.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def assert_image(path: Path, frames: int = 1) -> None:
    """A valid PNG/GIF, not blank (its pixels vary), with at least ``frames`` frames."""
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert getattr(im, "n_frames", 1) >= frames
        pixels = np.asarray(im.convert("L"), dtype=float)
        assert pixels.std() > 10, f"{path} looks blank"
        if frames > 1:
            im.seek(0)
            first = np.asarray(im.convert("L"), dtype=float)
            im.seek(im.n_frames - 1)
            last = np.asarray(im.convert("L"), dtype=float)
            assert np.abs(first - last).sum() > 0, f"{path}: the animation does not move"


class Sources(HTMLParser):
    """The files a page links to or shows (``src``, ``href``), its links within the page (``#id``), its ids,
    its images and the text of its figure captions."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.anchors: list[str] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.captions: list[str] = []
        self._caption: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value:
                (self.anchors if value.startswith("#") else self.sources).append(value)
            if name == "src" and tag == "img":
                self.images.append(value)
            if name == "id":
                self.ids.add(value)
        if tag == "figcaption":
            self._caption = []

    def handle_data(self, data):
        if self._caption is not None:
            self._caption.append(data)

    def handle_endtag(self, tag):
        if tag == "figcaption" and self._caption is not None:
            self.captions.append("".join(self._caption))
            self._caption = None


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    proc = gradstep("demo", "--out", str(out / "report"))
    assert proc.returncode == 0, proc.stderr
    assert "report.html" in proc.stdout
    # never silent for long: a line on stderr before each lesson's runs and before its figures
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("gradstep demo: 4 lessons") and lines[-1].startswith("writing report.html")
    for k in range(1, 5):
        assert sum(line.startswith(f"{k}/4 ") for line in lines) >= 2, proc.stderr
    return out / "report"


def test_demo_writes_a_report_that_references_only_existing_files(demo):
    page = (demo / "report.html").read_text(encoding="utf-8")
    parser = Sources()
    parser.feed(page)
    assert len(parser.sources) >= 10
    for src in parser.sources:
        assert (demo / src).is_file(), src
    for section in ("batch GD", "mini-batch", "per-sample SGD", "x² + y²", "too large", "diverged"):
        assert section in page
    # a table of contents whose links all land; an animation instead of (not beside) its still
    assert len(parser.anchors) >= 5 and {a[1:] for a in parser.anchors} <= parser.ids
    shown = set(parser.images)
    assert {"line/descent.gif", "bowl/descent.gif", "classify-iris/boundary.gif"} <= shown
    for gif in [i for i in shown if i.endswith(".gif")]:
        still = gif.replace("descent.gif", "contour.png").replace("boundary.gif", "boundary.png")
        assert still not in shown and (demo / still).is_file(), still
    # captions say what to look at, not the file's name
    assert len(parser.captions) == len(parser.images)
    for caption in parser.captions:
        assert len(caption.split()) >= 12 and ".png" not in caption and ".gif" not in caption, caption


def test_demo_figures_are_valid_and_not_blank(demo):
    pngs, gifs = sorted(demo.rglob("*.png")), sorted(demo.rglob("*.gif"))
    assert len(pngs) >= 15 and len(gifs) == 5  # contour paths x3, decision boundaries x2
    for png in pngs:
        assert_image(png)
    for gif in gifs:
        assert_image(gif, frames=2)


def test_demo_histories_are_the_tutorial_runs(demo):
    bowl = History.from_json(demo / "histories" / "bowl-lr0.1.json")
    np.testing.assert_allclose(bowl.path, np.array([3.0, 2.0]) * 0.8 ** np.arange(51)[:, None], rtol=1e-12)
    slow = History.from_json(demo / "histories" / "bowl-lr0.01.json")
    np.testing.assert_allclose(slow.final_params, np.array([3.0, 2.0]) * 0.98**50, rtol=1e-12)
    big = History.from_json(demo / "histories" / "bowl-lr1.1.json")
    assert big.n_steps < 50  # stopped when it diverged
    sgd = History.from_json(demo / "histories" / "line-1.json")
    assert sgd.n_steps == 50 * 100 and sgd.meta["params"]["batch_size"] == 1
    full = History.from_json(demo / "histories" / "line-all.json")
    ds = tutorial_line()
    w, b = full.final_params
    assert full.epoch_loss[-1] == pytest.approx(np.mean((ds.X[:, 0] * w + b - ds.y) ** 2), rel=1e-12)


def test_fit_with_plots_history_and_a_learning_rate_warning(tmp_path):
    proc = gradstep("fit", "--lr", "0.014", "--epochs", "300", "--plot", str(tmp_path / "fig"),
                    "--history", str(tmp_path / "run.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for name in ("loss.png", "fit.png", "curve.png", "contour.png", "epoch_loss.png"):
        assert_image(tmp_path / "fig" / name)
    assert_image(tmp_path / "fig" / "descent.gif", frames=2)
    h = History.from_json(tmp_path / "run.json")
    np.testing.assert_allclose(h.final_params, np.append(out["coef"], out["intercept"]), rtol=1e-15)
    ds = tutorial_line()
    assert out["stable_lr"] == pytest.approx(stable_lr(ds.X), rel=1e-12)
    # above the bound: a warning first, then the divergence (exit 1)
    proc = gradstep("fit", "--lr", "0.02")
    assert proc.returncode == 1
    assert "warning" in proc.stderr and f"{stable_lr(ds.X):.4g}" in proc.stderr and "diverged" in proc.stderr


def test_fit_bundled_dataset_with_scaling_and_schedule(tmp_path):
    proc = gradstep("fit", "--dataset", "diabetes", "--scale", "standard", "--lr", "0.2",
                    "--schedule", "step:10000:0.5", "--epochs", "20000", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True)
    ref = LinearRegression().fit(X, y)
    np.testing.assert_allclose(out["coef"], ref.coef_, rtol=1e-6)
    proc = gradstep("fit", "--dataset", "iris")
    assert proc.returncode == 2 and "classification" in proc.stderr


@pytest.mark.parametrize("formula, x0, files", [("x**2 + 3*y**2", "3,2", ["loss.png", "contour.png", "descent.gif"]),
                                                ("(2 - x**2*sin(x))**2", "1", ["loss.png", "curve.png"])])
def test_minimize_with_plots(tmp_path, formula, x0, files):
    proc = gradstep("minimize", formula, "--x0", x0, "--lr", "0.05", "--steps", "40", "--plot", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for name in files:
        assert_image(tmp_path / name, frames=2 if name.endswith(".gif") else 1)


def test_sweep_on_a_formula(tmp_path):
    proc = gradstep("sweep", "--formula", "x**2 + y**2", "--x0", "3,2", "--lr", "0.4,0.1,1.1",
                    "--steps", "100", "--tol", "1e-6", "--plot", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["runs"]
    assert [r["lr"] for r in rows] == [0.4, 0.1, 1.1]
    for r in rows[:2]:
        factor = abs(1 - 2 * r["lr"])  # |x_k| = |x_0| factor^k, gradient norm 2|x_k|
        k = int(np.ceil(np.log(1e-6 / (2 * np.hypot(3, 2))) / np.log(factor)))
        assert r["steps_to_tol"] == k and not r["diverged"]
    assert rows[2]["diverged"] and rows[2]["steps_to_tol"] is None
    assert_image(tmp_path / "contour.png")
    assert_image(tmp_path / "loss.png")


def test_sweep_on_data_over_batch_sizes():
    proc = gradstep("sweep", "--lr", "0.001,0.05", "--batch-size", "all,10", "--epochs", "20", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["runs"]
    assert [(r["lr"], r["batch_size"]) for r in rows] == [(0.001, None), (0.001, 10), (0.05, None), (0.05, 10)]
    assert not rows[0]["diverged"] and rows[2]["diverged"]
    ds = tutorial_line()
    from gradstep import LinearRegression

    ref = LinearRegression(lr=0.001, epochs=20, tol=None).fit(ds.X, ds.y)
    assert rows[0]["final_loss"] == pytest.approx(ref.history_.epoch_loss[-1], rel=1e-12)


def test_check_grad_against_hand_derivatives():
    proc = gradstep("check-grad", "x**2 * y + sin(y)", "--at", "1.5,-0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    x, y = 1.5, -0.5
    np.testing.assert_allclose(out["exact"], [2 * x * y, x**2 + np.cos(y)], rtol=1e-15)
    f = lambda a, b: a**2 * b + np.sin(b)  # noqa: E731
    h = 1e-6
    central = [(f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)]
    np.testing.assert_allclose(out["numeric"], central, rtol=1e-12)
    assert max(out["relative_error"]) < 1e-8
    proc = gradstep("check-grad", "x**2", "--at", "1,2")
    assert proc.returncode == 2 and "1 variables" in proc.stderr


def test_history_show_and_plot(tmp_path):
    assert gradstep("minimize", "x**2 + y**2", "--x0", "3,2", "--lr", "0.1", "--steps", "20",
                    "--history", str(tmp_path / "run.json"), "--quiet").returncode == 0
    proc = gradstep("history", "show", str(tmp_path / "run.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["steps"] == 20
    np.testing.assert_allclose(out["final_params"], np.array([3.0, 2.0]) * 0.8**20, rtol=1e-12)
    assert out["first_loss"] == 13.0
    proc = gradstep("history", "plot", str(tmp_path / "run.json"), "--out", str(tmp_path / "fig"))
    assert proc.returncode == 0, proc.stderr
    assert_image(tmp_path / "fig" / "loss.png")
    assert_image(tmp_path / "fig" / "contour.png")
    (tmp_path / "bad.json").write_text("{nope")
    proc = gradstep("history", "show", str(tmp_path / "bad.json"))
    assert proc.returncode == 2 and "bad.json" in proc.stderr and "Traceback" not in proc.stderr


def test_datasets_lists_every_bundled_set():
    proc = gradstep("datasets", "--json")
    assert proc.returncode == 0, proc.stderr
    names = [d["name"] for d in json.loads(proc.stdout)["datasets"]]
    assert sorted(names) == sorted(DATASETS)
    assert {"tutorial-line", "tutorial-plane", "diabetes", "iris", "breast_cancer", "wine", "digits"} <= set(names)


def test_fit_logistic_on_breast_cancer_matches_scikit_learn():
    n = 569
    proc = gradstep("fit", "--dataset", "breast_cancer", "--model", "logistic", "--scale", "standard",
                    "--penalty", "l2", "--alpha", str(1 / n), "--optimizer", "nesterov", "--epochs", "20000", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression as Reference
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    ref = Reference(C=1.0, tol=1e-12, max_iter=100000).fit(StandardScaler().fit_transform(X), y)
    assert abs(out["accuracy"] - ref.score(StandardScaler().fit_transform(X), y)) <= 0.005
    assert abs(out["relative_gap_to_sklearn"]) < 1e-6
    assert out["classes"] == [0, 1]


def test_fit_softmax_on_a_csv_with_string_labels_and_plots(tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[iris.target]
    path = tmp_path / "iris.csv"
    path.write_text("petal_length,petal_width,species\n"
                    + "".join(f"{a},{b},{c}\n" for a, b, c in zip(iris.data[:, 2], iris.data[:, 3], names)))
    proc = gradstep("fit", str(path), "--target", "species", "--model", "softmax", "--scale", "standard",
                    "--epochs", "200", "--early-stopping", "--plot", str(tmp_path / "fig"), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["classes"] == ["setosa", "versicolor", "virginica"]
    assert out["accuracy"] > 0.9 and out["val_accuracy"] is not None
    for name in ("loss.png", "curves.png", "confusion.png", "boundary.png"):
        assert_image(tmp_path / "fig" / name)
    assert_image(tmp_path / "fig" / "boundary.gif", frames=2)
    proc = gradstep("fit", "--dataset", "diabetes", "--model", "logistic")
    assert proc.returncode == 2 and "class label" in proc.stderr
