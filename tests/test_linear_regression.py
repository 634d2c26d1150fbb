"""LinearRegression against independent references: the tutorial loop, the closed form, scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression as SkLinearRegression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gradstep import DivergenceError, LinearRegression
from gradstep.data.datasets import tutorial_line


def tutorial_loop(xs, ys, w, lr, epochs):
    """The classic hand-written per-sample SGD loop of the tutorials (float64 Python floats)."""
    for _ in range(epochs):
        for x, y in zip(xs, ys):
            grad = 2 * x * (x * w - y)
            w = w - lr * grad
    return w


DATASETS = {
    "tutorial-line": lambda: (tutorial_line().X.ravel(), tutorial_line().y),
    "small-integers": lambda: (np.arange(1.0, 8.0), 3.0 * np.arange(1.0, 8.0) - 2.0),
    "noisy-unit": lambda: (
        np.random.default_rng(1).uniform(-1, 1, 60),
        0.7 * np.random.default_rng(1).uniform(-1, 1, 60) + np.random.default_rng(2).normal(0, 0.1, 60),
    ),
    "negative-scale": lambda: (np.linspace(-3.3, 2.1, 37), np.sin(np.linspace(-3.3, 2.1, 37))),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("w0", [0.0, 1.0, -0.37])
def test_per_sample_sgd_equals_the_tutorial_loop_bit_for_bit(name, w0):
    xs, ys = DATASETS[name]()
    lr = 0.5 / float(np.max(xs**2)) / 2  # well inside the per-sample stable range
    epochs = 7
    expected = tutorial_loop(xs.tolist(), ys.tolist(), w0, lr, epochs)
    model = LinearRegression(
        fit_intercept=False, batch_size=1, shuffle=False, loss="mse", lr=lr, epochs=epochs, tol=None
    ).fit(xs.reshape(-1, 1), ys, coef_init=[w0])
    assert model.coef_[0] == expected  # every digit
    assert model.t_ == epochs * len(xs)
    # every step of the record equals the loop's intermediate w as well
    w = w0
    for k, (x, y) in enumerate(zip(xs.tolist(), ys.tolist())):
        assert model.history_.params[k][0] == w
        w = w - lr * (2 * x * (x * w - y))


def test_full_batch_reaches_the_closed_form():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X @ np.array([1.5, -2.0, 0.3, 4.0]) + 0.7 + rng.normal(0, 0.1, 200)
    ref = SkLinearRegression().fit(X, y)
    model = LinearRegression(lr=0.3, epochs=3000, tol=None).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-8)
    assert model.optimality_gap(X, y) < 1e-12


@pytest.mark.parametrize("loss", ["mse", "half_mse", "sum"])
def test_three_conventions_reach_the_same_optimum_with_matching_learning_rates(loss):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 2))
    y = X @ np.array([2.0, -1.0]) + 1.0 + rng.normal(0, 0.2, 50)
    # the gradient scale is 2/m, 1/m, 2: the same path needs lr scaled by the inverse
    lr = {"mse": 0.2, "half_mse": 0.4, "sum": 0.2 / 50}[loss]
    model = LinearRegression(loss=loss, lr=lr, epochs=2000, tol=None).fit(X, y)
    ref = SkLinearRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-9)
    mse_run = LinearRegression(loss="mse", lr=0.2, epochs=25, tol=None).fit(X, y)
    this_run = LinearRegression(loss=loss, lr=lr, epochs=25, tol=None).fit(X, y)
    np.testing.assert_allclose(this_run.history_.params, mse_run.history_.params, rtol=1e-12, atol=1e-15)
    residual = X @ mse_run.coef_ + mse_run.intercept_ - y
    scale = {"mse": 1 / 50, "half_mse": 1 / 100, "sum": 1.0}[loss]
    np.testing.assert_allclose(this_run.result_.fun, scale * np.sum(residual**2), rtol=1e-12)


def test_multi_output_matches_the_closed_form():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 3))
    Y = X @ rng.normal(size=(3, 2)) + np.array([0.5, -1.0])
    model = LinearRegression(lr=0.5, epochs=3000, tol=None).fit(X, Y)
    ref = SkLinearRegression().fit(X, Y)
    assert model.coef_.shape == (2, 3) and model.intercept_.shape == (2,)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-8, atol=1e-10)


def test_l2_penalty_reaches_ridge():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 3))
    y = X @ np.array([1.0, 2.0, -3.0]) + rng.normal(0, 0.5, 80)
    alpha = 0.3
    model = LinearRegression(loss="half_mse", penalty="l2", alpha=alpha, lr=0.3, epochs=3000, tol=None).fit(X, y)
    # (1/2m)|r|^2 + (alpha/2)|w|^2  <=>  sklearn Ridge: |r|^2 + (m*alpha)|w|^2
    ref = Ridge(alpha=alpha * len(y)).fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-9)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-9)
    assert abs(model.optimality_gap(X, y)) < 1e-12


def test_mini_batch_uses_the_last_partial_batch_and_counts_steps():
    X, y = tutorial_line().X, tutorial_line().y
    model = LinearRegression(batch_size=30, lr=0.001, epochs=3, tol=None, random_state=0).fit(X, y)
    assert model.t_ == 3 * 4  # 30 + 30 + 30 + 10 rows
    assert model.history_.n_epochs == 3
    np.testing.assert_array_equal(model.history_.column("epoch"), np.repeat([0, 1, 2], 4))


def test_shuffled_runs_are_reproducible_and_seed_dependent():
    X, y = tutorial_line().X, tutorial_line().y
    a = LinearRegression(batch_size=10, lr=0.001, epochs=3, tol=None, random_state=4).fit(X, y)
    b = LinearRegression(batch_size=10, lr=0.001, epochs=3, tol=None, random_state=4).fit(X, y)
    c = LinearRegression(batch_size=10, lr=0.001, epochs=3, tol=None, random_state=5).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)
    # an unseeded run records the seed it drew, and that seed reproduces it
    d = LinearRegression(batch_size=10, lr=0.001, epochs=2, tol=None).fit(X, y)
    e = LinearRegression(batch_size=10, lr=0.001, epochs=2, tol=None, random_state=d.history_.meta["seed"]).fit(X, y)
    np.testing.assert_array_equal(d.coef_, e.coef_)


def test_mini_batch_step_matches_a_hand_written_loop():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(23, 2))
    y = rng.normal(size=23)
    lr, bs = 0.05, 5
    model = LinearRegression(batch_size=bs, shuffle=False, lr=lr, epochs=2, tol=None).fit(X, y)
    w, b = np.zeros(2), 0.0
    for _ in range(2):
        for s in range(0, 23, bs):
            Xb, yb = X[s : s + bs], y[s : s + bs]
            r = Xb @ w + b - yb
            w, b = w - lr * (2 / len(yb)) * (Xb.T @ r), b - lr * (2 / len(yb)) * r.sum()
    np.testing.assert_allclose(model.coef_, w, rtol=1e-13)
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-13)


def test_tol_stops_early_and_none_runs_every_epoch():
    X, y = tutorial_line().X, tutorial_line().y
    early = LinearRegression(lr=0.01, epochs=5000, tol=1e-3).fit(X, y)
    assert early.n_iter_ < 5000 and early.result_.success
    full = LinearRegression(lr=0.01, epochs=300, tol=None).fit(X, y)
    assert full.n_iter_ == 300 and full.t_ == 300


def test_unconverged_fit_warns():
    X, y = tutorial_line().X, tutorial_line().y
    with pytest.warns(ConvergenceWarning, match="tol"):
        LinearRegression(lr=1e-6, epochs=3, tol=1e-12, n_iter_no_change=2).fit(X, y)


def test_divergence_raises_with_step_lr_and_stable_lr():
    X, y = tutorial_line().X, tutorial_line().y
    model = LinearRegression(lr=0.05, epochs=1000, tol=None)
    with pytest.raises(DivergenceError) as info:
        model.fit(X, y)
    err = info.value
    assert "step" in str(err) and "0.05" in str(err)
    Xt = np.hstack([X, np.ones((len(X), 1))])
    expected = 2 / (2 / len(X) * np.linalg.eigvalsh(Xt.T @ Xt).max())
    assert err.stable_lr == pytest.approx(expected, rel=1e-8)
    assert f"{expected:.4g}" in str(err)
    assert not hasattr(model, "coef_")  # a NaN model is never returned as a fit


def test_clipping_changes_the_path_as_a_hand_loop_does():
    X, y = tutorial_line().X, tutorial_line().y
    lr, c = 0.001, 5.0
    model = LinearRegression(lr=lr, epochs=20, tol=None, clip_norm=c).fit(X, y)
    Xt = np.hstack([X, np.ones((len(X), 1))])
    theta = np.zeros(2)
    for _ in range(20):
        g = 2 / len(y) * Xt.T @ (Xt @ theta - y)
        n = np.linalg.norm(g)
        g = g * (c / n) if n > c else g
        theta = theta - lr * g
    np.testing.assert_allclose(np.append(model.coef_, model.intercept_), theta, rtol=1e-13)


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_every_optimizer_fits_standardised_data(optimizer):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.5
    lr = {"adagrad": 0.5, "rmsprop": 0.01, "adam": 0.05}.get(optimizer, 0.1)
    model = LinearRegression(optimizer=optimizer, lr=lr, epochs=3000, tol=None).fit(X, y)
    np.testing.assert_allclose(model.coef_, [1.0, -1.0, 2.0], atol=1e-2)


def test_float32_input_stays_float32():
    X, y = tutorial_line().X.astype(np.float32), tutorial_line().y.astype(np.float32)
    model = LinearRegression(lr=0.01, epochs=500, tol=None).fit(X, y)
    assert model.coef_.dtype == np.float32
    ref = SkLinearRegression().fit(X.astype(float), y.astype(float))
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-2)


def test_bad_inputs_raise_clear_errors():
    X, y = tutorial_line().X, tutorial_line().y
    with pytest.raises(ValueError, match="loss must be one of"):
        LinearRegression(loss="l2").fit(X, y)
    with pytest.raises(ValueError, match="optimizer"):
        LinearRegression(optimizer="newton").fit(X, y)
    with pytest.raises(ValueError, match="coef_init"):
        LinearRegression().fit(X, y, coef_init=[1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        LinearRegression().fit(np.array([[1.0], [np.nan]]), [1.0, 2.0])
    with pytest.raises(ValueError, match="epochs"):
        LinearRegression(epochs=0).fit(X, y)


def test_sklearn_clone_pipeline_and_grid_search():
    X, y = tutorial_line().X, tutorial_line().y
    model = LinearRegression(lr=0.1, epochs=500, tol=None)
    assert clone(model).get_params() == model.get_params()
    pipe = make_pipeline(StandardScaler(), model).fit(X, y)
    ref = make_pipeline(StandardScaler(), SkLinearRegression()).fit(X, y)
    np.testing.assert_allclose(pipe.predict(X), ref.predict(X), rtol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(make_pipeline(StandardScaler(), model), {"linearregression__lr": [1e-4, 0.1]}, cv=3)
        search.fit(X, y)
    assert search.best_params_ == {"linearregression__lr": 0.1}


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_scaling_inside_the_model_reports_original_units(scale):
    rng = np.random.default_rng(8)
    X = np.column_stack([rng.uniform(0, 1000, 150), rng.uniform(-0.01, 0.01, 150)])
    y = X @ np.array([0.003, 250.0]) + 4.0 + rng.normal(0, 0.1, 150)
    model = LinearRegression(scale=scale, lr=0.5, epochs=20000, tol=None).fit(X, y)
    ref = SkLinearRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8)
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-8)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-10)
    # gradient descent ran on the scaled features: the same run by hand on StandardScaler/MinMaxScaler output
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    Z = (StandardScaler() if scale == "standard" else MinMaxScaler()).fit_transform(X)
    by_hand = LinearRegression(lr=model.lr, epochs=30, tol=None).fit(Z, y)
    again = LinearRegression(scale=scale, lr=model.lr, epochs=30, tol=None).fit(X, y)
    np.testing.assert_allclose(again.history_.params, by_hand.history_.params, rtol=1e-10, atol=1e-12)
    assert abs(model.optimality_gap(X, y)) < 1e-10


def test_scaling_without_intercept_keeps_the_origin():
    rng = np.random.default_rng(9)
    X = rng.uniform(1, 100, size=(80, 2))
    y = X @ np.array([0.5, -0.2])
    model = LinearRegression(scale="standard", fit_intercept=False, lr=0.1, epochs=5000, tol=None).fit(X, y)
    np.testing.assert_allclose(model.coef_, [0.5, -0.2], rtol=1e-8)
    assert model.intercept_ == 0.0


def test_coef_init_is_in_original_units_when_scaling():
    rng = np.random.default_rng(10)
    X = rng.uniform(0, 50, size=(40, 2))
    y = X @ np.array([1.0, 2.0]) + 3.0
    model = LinearRegression(scale="minmax", lr=0.1, epochs=3, tol=None).fit(X, y, coef_init=[1.0, 2.0],
                                                                           intercept_init=3.0)
    # starting at the exact solution: the gradient is zero and nothing moves
    np.testing.assert_allclose(model.coef_, [1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(model.history_.grad_norm, 0.0, atol=1e-9)
