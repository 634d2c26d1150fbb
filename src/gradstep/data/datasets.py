"""Bundled datasets: two generated from a fixed seed, five that ship inside scikit-learn (no network).

* ``tutorial-line``: 100 points :math:`y = 2x + 1 + \\varepsilon`, :math:`x \\sim U[0, 15]`,
  :math:`\\varepsilon \\sim N(0, 1)` — the tutorials' noisy line.
* ``tutorial-plane``: 100 points :math:`y = 2x_1 + x_2 + 3 + \\varepsilon`.
* ``diabetes`` (regression), ``iris``, ``breast_cancer``, ``wine``, ``digits`` (classification):
  scikit-learn's copies, read from the files installed with it by ``sklearn.datasets.load_*``
  (imported only when one of them is loaded). ``breast-cancer`` is accepted for ``breast_cancer``.

Examples
--------
>>> ds = load_dataset("tutorial-line")
>>> ds.X.shape, ds.y.shape, ds.feature_names, ds.task
((100, 1), (100,), ('x',), 'regression')
>>> iris = load_dataset("iris")
>>> iris.X.shape, iris.task, iris.class_names
((150, 4), 'classification', ('setosa', 'versicolor', 'virginica'))
>>> [d["name"] for d in describe_datasets()]
['tutorial-line', 'tutorial-plane', 'diabetes', 'iris', 'breast_cancer', 'wine', 'digits']
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DataError

DEFAULT_SEED = 20240501


@dataclass(frozen=True)
class Dataset:
    """A table of features ``X`` (n, d) and a target ``y`` (n,).

    ``task`` is ``"regression"`` (``y`` float64) or ``"classification"`` (``y`` holds labels);
    ``skipped`` names the columns of a file that were left out of the default features
    (text, empty, unnamed, an index); ``class_names`` names the classes ``0, 1, ...`` of a
    bundled classification set.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    description: str
    task: str = "regression"
    skipped: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()


def tutorial_line(
    n: int = 100, w: float = 2.0, b: float = 1.0, noise: float = 1.0, seed: int = DEFAULT_SEED
) -> Dataset:
    """``n`` points on ``y = w x + b`` plus Gaussian noise of std ``noise``, ``x`` uniform in [0, 15]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 15.0, size=n)
    y = w * x + b + rng.normal(0.0, noise, size=n)
    return Dataset(
        "tutorial-line", x.reshape(-1, 1), y, ("x",), "y",
        f"{n} points y = {w}*x + {b} + N(0, {noise}^2), x in [0, 15] (seed {seed})",
    )


def tutorial_plane(n: int = 100, noise: float = 1.0, seed: int = DEFAULT_SEED) -> Dataset:
    """``n`` points on ``y = 2 x1 + x2 + 3`` plus Gaussian noise, ``x1, x2`` uniform in [0, 10]."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 10.0, size=(n, 2))
    y = 2.0 * X[:, 0] + X[:, 1] + 3.0 + rng.normal(0.0, noise, size=n)
    return Dataset(
        "tutorial-plane", X, y, ("x1", "x2"), "y",
        f"{n} points y = 2*x1 + x2 + 3 + N(0, {noise}^2), x in [0, 10]^2 (seed {seed})",
    )


def _from_sklearn(loader: str, name: str, target_name: str, task: str, about: str) -> Dataset:
    from sklearn import datasets as skd  # imported here: only these five sets need scikit-learn

    bunch = getattr(skd, loader)()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.float64 if task == "regression" else np.int64)
    classes = tuple(str(c) for c in bunch.target_names) if task == "classification" else ()
    shape = f"{X.shape[0]} samples, {X.shape[1]} features"
    if classes:
        shape += f", {len(classes)} classes"
    return Dataset(name, X, y, tuple(str(f) for f in bunch.feature_names), target_name,
                   f"{about} ({shape}; scikit-learn's {loader}())", task=task, class_names=classes)


def diabetes() -> Dataset:
    """scikit-learn's diabetes regression set (features mean-centred and scaled, as its loader gives them)."""
    return _from_sklearn("load_diabetes", "diabetes", "progression", "regression",
                         "disease progression one year after baseline from age, sex, BMI, blood pressure and six "
                         "blood serum measurements (scaled)")


def iris() -> Dataset:
    """Fisher's iris flowers: four measurements, three species."""
    return _from_sklearn("load_iris", "iris", "species", "classification",
                         "iris species from sepal and petal length and width")


def breast_cancer() -> Dataset:
    """Wisconsin diagnostic breast cancer: 30 features of cell nuclei, malignant or benign."""
    return _from_sklearn("load_breast_cancer", "breast_cancer", "diagnosis", "classification",
                         "malignant or benign tumour from 30 measurements of cell nuclei in a breast mass image")


def wine() -> Dataset:
    """Wine recognition: 13 chemical measurements, three cultivars."""
    return _from_sklearn("load_wine", "wine", "cultivar", "classification",
                         "wine cultivar from 13 results of chemical analysis")


def digits() -> Dataset:
    """Handwritten digits: 8x8 images with pixel values 0..16, ten classes."""
    return _from_sklearn("load_digits", "digits", "digit", "classification",
                         "handwritten digit 0-9 from an 8x8 image of pixel intensities 0..16")


DATASETS: dict[str, Callable[[], Dataset]] = {
    "tutorial-line": tutorial_line,
    "tutorial-plane": tutorial_plane,
    "diabetes": diabetes,
    "iris": iris,
    "breast_cancer": breast_cancer,
    "wine": wine,
    "digits": digits,
}


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name (see :data:`DATASETS`; ``-`` and ``_`` are interchangeable).

    Raises
    ------
    gradstep.data.readers.DataError
        (a ValueError) for an unknown name, listing the known ones.
    """
    for key in (name, name.replace("-", "_"), name.replace("_", "-")):
        if key in DATASETS:
            return DATASETS[key]()
    close = difflib.get_close_matches(name, list(DATASETS), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "run 'gradstep datasets' to list them"
    raise DataError(f"unknown dataset {name!r}; choose one of {list(DATASETS)}; {hint}")


def describe_datasets() -> list[dict[str, Any]]:
    """One dict per bundled dataset: ``name``, ``task``, ``n_samples``, ``n_features``, ``description``."""
    rows = []
    for name, loader in DATASETS.items():
        ds = loader()
        rows.append({"name": name, "task": ds.task, "n_samples": int(ds.X.shape[0]),
                     "n_features": int(ds.X.shape[1]), "description": ds.description})
    return rows
