"""Bundled datasets: scikit-learn's sets equal its own loaders; the tutorial sets are unchanged."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sklearn.datasets as skd

from gradstep.data.datasets import DATASETS, DEFAULT_SEED, Dataset, describe_datasets, load_dataset
from gradstep.data.readers import DataError

SKLEARN = {
    "diabetes": (skd.load_diabetes, "regression"),
    "iris": (skd.load_iris, "classification"),
    "breast_cancer": (skd.load_breast_cancer, "classification"),
    "wine": (skd.load_wine, "classification"),
    "digits": (skd.load_digits, "classification"),
}


@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_sklearn_sets_equal_sklearn_loaders(name):
    loader, task = SKLEARN[name]
    ref = loader()
    ds = load_dataset(name)
    assert isinstance(ds, Dataset) and ds.name == name and ds.task == task
    assert ds.X.shape == ref.data.shape and ds.y.shape == ref.target.shape
    assert ds.X.dtype == np.float64
    np.testing.assert_array_equal(ds.X, ref.data)
    np.testing.assert_array_equal(ds.y, ref.target)
    assert ds.feature_names == tuple(ref.feature_names)
    assert ds.description and "\n" not in ds.description
    if task == "classification":
        assert ds.class_names == tuple(str(c) for c in ref.target_names)
        assert set(np.unique(ds.y)) == set(range(len(ref.target_names)))
    else:
        assert ds.y.dtype == np.float64 and ds.class_names == ()


def test_tutorial_line_is_unchanged():
    rng = np.random.default_rng(DEFAULT_SEED)
    x = rng.uniform(0.0, 15.0, size=100)
    y = 2.0 * x + 1.0 + rng.normal(0.0, 1.0, size=100)
    ds = load_dataset("tutorial-line")
    np.testing.assert_array_equal(ds.X, x.reshape(-1, 1))
    np.testing.assert_array_equal(ds.y, y)
    assert ds.feature_names == ("x",) and ds.target_name == "y" and ds.task == "regression"


def test_tutorial_plane_is_unchanged():
    rng = np.random.default_rng(DEFAULT_SEED)
    X = rng.uniform(0.0, 10.0, size=(100, 2))
    y = 2.0 * X[:, 0] + X[:, 1] + 3.0 + rng.normal(0.0, 1.0, size=100)
    ds = load_dataset("tutorial-plane")
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)
    assert ds.feature_names == ("x1", "x2") and ds.task == "regression"


def test_describe_datasets_lists_every_one():
    rows = describe_datasets()
    assert [r["name"] for r in rows] == list(DATASETS)
    assert set(DATASETS) == {"tutorial-line", "tutorial-plane", *SKLEARN}
    for row in rows:
        assert set(row) == {"name", "task", "n_samples", "n_features", "description"}
        ds = load_dataset(row["name"])
        assert (row["n_samples"], row["n_features"]) == ds.X.shape
        assert row["task"] == ds.task and row["description"] == ds.description
    for name, (loader, task) in SKLEARN.items():
        row = next(r for r in rows if r["name"] == name)
        assert (row["n_samples"], row["n_features"]) == loader().data.shape and row["task"] == task


def test_names_and_unknown_names():
    np.testing.assert_array_equal(load_dataset("breast-cancer").X, skd.load_breast_cancer().data)
    with pytest.raises(DataError, match="unknown dataset 'irsi'.*did you mean 'iris'") as info:
        load_dataset("irsi")
    assert isinstance(info.value, ValueError)


def test_sklearn_loaders_are_imported_lazily():
    code = ("import sys, gradstep.data.datasets as d; assert 'sklearn.datasets' not in sys.modules; "
            "d.load_dataset('tutorial-line'); assert 'sklearn.datasets' not in sys.modules; "
            "d.load_dataset('iris'); assert 'sklearn.datasets' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
