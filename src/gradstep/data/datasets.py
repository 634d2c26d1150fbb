"""Bundled datasets, generated from a fixed seed so every machine gets the same numbers.

* ``tutorial-line``: 100 points :math:`y = 2x + 1 + \\varepsilon`, :math:`x \\sim U[0, 15]`,
  :math:`\\varepsilon \\sim N(0, 1)` — the tutorials' noisy line.
* ``tutorial-plane``: 100 points :math:`y = 2x_1 + x_2 + 3 + \\varepsilon`.

Examples
--------
>>> ds = load_dataset("tutorial-line")
>>> ds.X.shape, ds.y.shape, ds.feature_names
((100, 1), (100,), ('x',))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

DEFAULT_SEED = 20240501


@dataclass(frozen=True)
class Dataset:
    """A table of features ``X`` (n, d) and a target ``y`` (n,)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    description: str


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


DATASETS: dict[str, Callable[[], Dataset]] = {
    "tutorial-line": tutorial_line,
    "tutorial-plane": tutorial_plane,
}


def load_dataset(name: str) -> Dataset:
    """Load a bundled dataset by name (see :data:`DATASETS`)."""
    try:
        return DATASETS[name]()
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None
