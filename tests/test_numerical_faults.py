"""Numerical faults: overflow, bad scales, non-unique coefficients, separable classes, non-finite results.

Each case must end in an error or a NumericalWarning that names the column / parameter and the
remedy, never a silent NaN or a silently wrong "converged". The numbers checked come from
independent references: NumPy's least squares, hand computations in float64, scikit-learn.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest

from gradstep import (
    LinearRegression,
    LogisticRegression,
    NumericalError,
    NumericalWarning,
    SoftmaxRegression,
    minimize,
)


def _data(n=200, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.arange(1.0, d + 1) + 0.5 + 0.1 * rng.normal(size=n)
    return X, y


def _lstsq(X, y):
    """Least squares with an intercept, by NumPy (the reference)."""
    A = np.c_[X, np.ones(len(X))]
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    return theta[:-1], theta[-1]


def _numerical(record):
    return [w for w in record if issubclass(w.category, NumericalWarning)]


def _fit_recording(model, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(*args, **kwargs)
    return _numerical(record)


# ------------------------------------------------------------------------------ 1. overflow
def test_float32_column_whose_squares_overflow_is_named_before_fitting():
    X, y = _data()
    X32 = X.astype(np.float32)
    X32[:, 1] *= np.float32(1e20)
    with pytest.raises(NumericalError) as e:
        LinearRegression().fit(X32, y.astype(np.float32))
    msg = str(e.value)
    assert "'x1'" in msg and "'x0'" not in msg and "'x2'" not in msg
    assert "overflow float32" in msg and "divide that column by a constant" in msg and "fit in float64" in msg
    assert f"{float(np.abs(X32[:, 1]).max()):.3g}" in msg
    assert isinstance(e.value, ValueError) and isinstance(e.value, FloatingPointError)


def test_the_overflow_error_names_dataframe_columns():
    X, y = _data()
    df = pd.DataFrame(X.astype(np.float32), columns=["age", "income", "height"])
    df["income"] *= np.float32(1e21)
    with pytest.raises(NumericalError, match="'income'"):
        LinearRegression().fit(df, y.astype(np.float32))


@pytest.mark.parametrize("scale", [1e17, 10 ** 18.4, 10 ** 18.7, 1e19])
def test_the_overflow_error_fires_exactly_when_the_float64_sum_of_squares_passes_float32_max(scale):
    X, y = _data()
    X32 = (X * scale).astype(np.float32)
    overflows = bool(np.any(np.sum(X32.astype(np.float64) ** 2, axis=0) > np.finfo(np.float32).max))
    model = LinearRegression(epochs=2, tol=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)   # scales: tested below
        if overflows:
            with pytest.raises(NumericalError, match="overflow float32"):
                model.fit(X32, y.astype(np.float32))
        else:
            model.fit(X32, y.astype(np.float32))
            assert np.all(np.isfinite(model.coef_))
    assert scale != 1e17 or not overflows        # both outcomes are exercised
    assert scale != 1e19 or overflows


def test_the_remedies_work_float64_with_standard_scaling_matches_least_squares():
    X, y = _data()
    coef, b = _lstsq(X, y)
    X[:, 1] *= 1e20
    coef[1] /= 1e20                      # the reference in the new units: x1 is 1e20 times larger
    model = LinearRegression(scale="standard", epochs=400, tol=None)
    assert _fit_recording(model, X, y) == []
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-6)
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-6)


def test_a_float32_target_whose_squares_overflow_is_named():
    X, y = _data()
    with pytest.raises(NumericalError) as e:
        LinearRegression().fit(X.astype(np.float32), (y * 1e20).astype(np.float32))
    assert "target y" in str(e.value) and "float64" in str(e.value) and "standard deviation" in str(e.value)


def test_partial_fit_checks_overflow_on_every_chunk():
    X, y = _data()
    model = LinearRegression(lr=0.01).partial_fit(X.astype(np.float32), y.astype(np.float32))
    with pytest.raises(NumericalError, match="target y"):
        model.partial_fit(X.astype(np.float32), (y * 1e20).astype(np.float32))


def test_torch_float32_tensor_overflow_is_named():
    torch = pytest.importorskip("torch")
    X, y = _data()
    X[:, 2] *= 1e20
    with pytest.raises(NumericalError) as e:
        LinearRegression().fit(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert "'x2'" in str(e.value) and "float32" in str(e.value)


# ------------------------------------------------------------------------------ 2. scales
def test_tiny_features_warn_before_and_after_the_fit_and_the_stop_was_indeed_far():
    X, y = _data()
    Xs = X * 1e-8
    model = LinearRegression(epochs=200)
    found = _fit_recording(model, Xs, y)
    assert len(found) == 2
    before, after = (str(w.message) for w in found)
    for name in ("'x0'", "'x1'", "'x2'"):
        assert name in before
    assert f"{np.std(Xs[:, 0]):.3g}" in before and "scale='standard'" in before
    assert "far from the optimum" in after and "scale='standard'" in after
    assert all(os.path.samefile(w.filename, __file__) for w in found)   # they point at the user's call
    # the reference: the loss at the least-squares optimum (NumPy) is far below the fitted one
    coef, b = _lstsq(Xs, y)
    fitted = np.mean((Xs @ model.coef_ + model.intercept_ - y) ** 2)
    best = np.mean((Xs @ coef + b - y) ** 2)
    assert fitted - best > 0.1 * fitted
    # the remedy: scaled, no warning, and the least-squares answer
    fixed = LinearRegression(scale="standard", epochs=300, tol=None)
    assert _fit_recording(fixed, Xs, y) == []
    np.testing.assert_allclose(fixed.coef_, coef, rtol=1e-6)


def test_one_column_on_a_far_larger_scale_is_named_with_its_scale():
    X, y = _data()
    X[:, 0] *= 1e7
    found = _fit_recording(LinearRegression(epochs=50, tol=None), X, y)
    assert len(found) == 1
    msg = str(found[0].message)
    assert f"'x0' {np.std(X[:, 0]):.3g}" in msg and "scale='standard'" in msg


def test_no_scale_warning_when_scaling_is_on_or_without_intercept_on_a_common_scale():
    X, y = _data()
    assert _fit_recording(LinearRegression(scale="minmax", epochs=20, tol=None), X * 1e8, y) == []
    assert _fit_recording(LinearRegression(fit_intercept=False, epochs=20, tol=None), X * 1e8, y) == []


# ------------------------------------------------------------------------------ 3. constant and dependent columns
def test_a_constant_column_is_named_and_an_l2_penalty_silences_it():
    X, y = _data()
    Xc = np.c_[X, np.full(len(X), 3.0)]
    found = _fit_recording(LinearRegression(epochs=50, tol=None), Xc, y)
    assert [str(w.message).split(":")[0] for w in found] == ["column 'x3' is constant (it duplicates the intercept)"]
    assert "penalty='l2'" in str(found[0].message) and "drop it" in str(found[0].message)
    assert _fit_recording(LinearRegression(epochs=50, tol=None, penalty="l2", alpha=0.01), Xc, y) == []
    # without an intercept a constant column is the intercept: nothing to say
    assert _fit_recording(LinearRegression(epochs=50, tol=None, fit_intercept=False), Xc, y) == []


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_scaling_makes_a_constant_column_zeros_silently_and_its_coefficient_stays_zero(scale):
    """As scikit-learn's scalers do (the digits' blank pixels): no warning, the minimum-norm coefficient 0."""
    X, y = _data()
    Xc = np.c_[X, np.full(len(X), 3.0), np.zeros(len(X))]
    model = LinearRegression(scale=scale, epochs=50, tol=None)
    assert _fit_recording(model, Xc, y) == []
    assert model.coef_[3] == model.coef_[4] == 0.0
    assert _fit_recording(LinearRegression(scale=scale, fit_intercept=False, epochs=50, tol=None), Xc, y) == []


def test_identical_columns_are_named_and_gd_splits_the_least_squares_coefficient():
    X, y = _data()
    Xd = np.c_[X, X[:, 0]]
    model = LinearRegression(epochs=2000, tol=None)
    found = _fit_recording(model, Xd, y)
    assert len(found) == 1
    assert "columns 'x0' and 'x3' are identical" in str(found[0].message)
    assert "penalty='l2'" in str(found[0].message)
    coef, _ = _lstsq(X, y)             # the reference on the columns without the duplicate
    np.testing.assert_allclose(model.coef_[0] + model.coef_[3], coef[0], rtol=1e-6)


def test_a_linear_combination_is_named_without_the_independent_column():
    X, y = _data(d=4)
    X[:, 3] = X[:, 0] + 2 * X[:, 1]
    assert np.linalg.matrix_rank(np.c_[X, np.ones(len(X))]) == 4   # the reference: rank 4 of 5
    found = _fit_recording(LinearRegression(epochs=20, tol=None), X, y)
    assert len(found) == 1
    msg = str(found[0].message)
    assert "'x0', 'x1' and 'x3' are linearly dependent" in msg and "'x2'" not in msg


# ------------------------------------------------------------------------------ 4. separable classes
def _separable(seed=0, k=2):
    rng = np.random.default_rng(seed)
    centres = np.array([[-8.0, 0.0], [8.0, 0.0], [0.0, 12.0]])[:k]
    y = np.repeat(np.arange(k), 60)
    return centres[y] + rng.normal(size=(len(y), 2)), y


@pytest.mark.parametrize("model", [LogisticRegression, SoftmaxRegression])
def test_separable_classes_warn_with_the_weight_norm(model):
    from sklearn.linear_model import Perceptron

    X, y = _separable(k=2 if model is LogisticRegression else 3)
    # the reference: a perceptron reaches zero training errors only on separable data
    assert Perceptron(max_iter=1000, tol=None, random_state=0).fit(X, y).score(X, y) == 1.0
    clf = model(epochs=300)
    found = _fit_recording(clf, X, y)
    assert len(found) == 1
    msg = str(found[0].message)
    assert "perfectly separable" in msg and "still growing" in msg and "penalty='l2'" in msg
    assert f"|w| = {np.linalg.norm(clf.coef_):.3g}" in msg
    # with a penalty the minimiser exists: nothing to say
    assert _fit_recording(model(epochs=300, penalty="l2", alpha=0.01), X, y) == []


def test_overlapping_classes_do_not_warn():
    X, y = _separable()
    X[:10] = X[60:70]            # the same points with the other label: not separable
    assert _fit_recording(LogisticRegression(epochs=300), X, y) == []


# ------------------------------------------------------------------------------ 5. never a silent nan
@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NumPy's own overflow warning comes first
def test_predictions_that_overflow_are_an_error():
    X, y = _data()
    model = LinearRegression(epochs=50, tol=None).fit(X, y)
    rows = np.vstack([X[:2], np.full((1, 3), 1e308)])
    with pytest.raises(NumericalError) as e:
        model.predict(rows)
    assert "row 2" in str(e.value) and "1e+308" in str(e.value)
    Xc, yc = _separable()
    Xc[:10] = Xc[60:70]
    clf = LogisticRegression(epochs=50, tol=None, scale="standard").fit(Xc / 1000, yc)
    assert np.abs(clf.coef_).sum() > 2       # so that the row below overflows float64
    with pytest.raises(NumericalError, match="row 0"):
        clf.predict_proba(1e308 * np.sign(clf.coef_))


def test_minimize_refuses_a_start_where_the_function_or_gradient_is_not_finite():
    with pytest.raises(NumericalError, match=r"fun\(x0\) = nan at x0 = \[-1.0\]"):
        minimize("sqrt(x)", x0=[-1.0], steps=5)
    with pytest.raises(NumericalError, match="gradient at x0"):
        minimize(lambda x: float(x @ x), x0=[1.0], grad=lambda x: x * np.nan, steps=5)


def test_schedules_and_starting_values_that_are_not_finite_name_the_parameter():
    X, y = _data()
    with pytest.raises(ValueError, match=r"lr: the schedule gives lr\(0\) = nan"):
        minimize("x**2", x0=[1.0], lr=lambda t: float("nan"))
    with pytest.raises(ValueError, match=r"lr: the schedule gives lr\(0\) = inf"):
        LinearRegression(lr=lambda t: float("inf")).fit(X, y)
    with pytest.raises(ValueError, match="coef_init has non-finite values"):
        LinearRegression().fit(X, y, coef_init=[np.nan, 0.0, 0.0])


# ------------------------------------------------------------------------------ clean data: no warning at all
def test_clean_data_gives_no_numerical_warning_and_the_reference_answer():
    X, y = _data()
    coef, b = _lstsq(X, y)
    for Xi, yi, rtol in ((X, y, 1e-6), (X.astype(np.float32), y.astype(np.float32), 1e-3)):
        model = LinearRegression(epochs=300, tol=None)
        assert _fit_recording(model, Xi, yi) == []
        np.testing.assert_allclose(model.coef_, coef, rtol=rtol)
        np.testing.assert_allclose(model.intercept_, b, rtol=rtol)
    tol_stop = LinearRegression()        # stopped by the tol rule, near the optimum: no "far" warning
    assert _fit_recording(tol_stop, X, y) == [] and tol_stop.result_.status == 0
    Xc, yc = _separable()
    Xc[:10] = Xc[60:70]
    assert _fit_recording(SoftmaxRegression(epochs=200), Xc, yc) == []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        res = minimize("(x - 1)**2 + (y + 2)**2", x0=[0.0, 0.0], lr=0.1, steps=200, gtol=None)   # all 200
    assert _numerical(record) == []
    np.testing.assert_allclose(res.x, [1.0, -2.0], atol=1e-12)


def test_clean_torch_float32_gives_no_numerical_warning():
    torch = pytest.importorskip("torch")
    X, y = _data()
    coef, _ = _lstsq(X, y)
    model = LinearRegression(epochs=300, tol=None)
    assert _fit_recording(model, torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)) == []
    np.testing.assert_allclose(model.coef_.numpy(), coef, rtol=1e-3)
