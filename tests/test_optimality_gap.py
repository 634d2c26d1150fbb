"""The reference optimum (gradstep.reference) against scikit-learn's solvers, and every estimator's optimality gap."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression
from gradstep.cli import app
from gradstep.objectives import Penalty, SquaredError
from gradstep.reference import reference_solve, smooth_part


def standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def rough(model, X, y):
    """``model`` fitted for a few epochs only (a start for the reference, far from the optimum)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.set_params(epochs=5, tol=None).fit(X, y)


def objective_at(model, X, y, coef, intercept):
    """``model``'s objective (no weights, fit units = X's: no scaling) at scikit-learn's ``coef_``, ``intercept_``."""
    Z, Y = model.fit_space(X, y)
    obj = model._objective_
    theta = obj.pack(np.atleast_2d(coef).T, np.atleast_1d(intercept))
    return theta, obj.value(theta, (Z, Y))


def relative(a, b):
    return abs(a - b) / abs(b)


def stationarity(model, X, y, theta):
    """The largest entry of the gradient of ``model``'s (smooth) objective at ``theta``."""
    return np.max(np.abs(model._objective_.value_and_grad(theta, model.fit_space(X, y))[1]))


def identified(model, theta):
    """``theta`` with a softmax's intercepts centred: adding one constant to every class's intercept changes
    nothing, and the intercept is not penalised, so only their differences are determined."""
    if not isinstance(model, SoftmaxRegression) or not model.fit_intercept:
        return theta
    k = model._objective_.n_outputs
    return np.concatenate([theta[:-k], theta[-k:] - theta[-k:].mean()])


# ---------------------------------------------------------------------------- against scikit-learn
def test_logistic_reference_matches_scikit_learn_lbfgs():
    X, y = standardised(load_breast_cancer)
    n, alpha = len(y), 0.01
    model = rough(LogisticRegression(penalty="l2", alpha=alpha), X, y)
    theta, f = model.reference_optimum(X, y)
    # mean log-loss + alpha/2 |w|^2  =  (C sum log-loss + |w|^2 / 2) / (C n)  with  C = 1 / (n alpha)
    sk = SkLogisticRegression(C=1 / (n * alpha), tol=1e-12, max_iter=10000).fit(X, y)
    theta_sk, f_sk = objective_at(model, X, y, sk.coef_, sk.intercept_)
    assert f <= f_sk and relative(f, f_sk) < 1e-10
    np.testing.assert_allclose(theta, theta_sk, rtol=0, atol=1e-6 * max(1.0, np.max(np.abs(theta_sk))))
    assert stationarity(model, X, y, theta) < stationarity(model, X, y, theta_sk)   # the tighter of the two


def test_softmax_reference_matches_scikit_learn_multinomial():
    X, y = standardised(load_iris)
    n, alpha = len(y), 0.01
    model = rough(SoftmaxRegression(penalty="l2", alpha=alpha), X, y)
    theta, f = model.reference_optimum(X, y)
    sk = SkLogisticRegression(C=1 / (n * alpha), tol=1e-12, max_iter=10000).fit(X, y)   # multinomial for 3 classes
    theta_sk, f_sk = objective_at(model, X, y, sk.coef_, sk.intercept_)
    assert relative(f, f_sk) < 1e-10
    np.testing.assert_allclose(identified(model, theta), identified(model, theta_sk), rtol=0,
                               atol=1e-6 * max(1.0, np.max(np.abs(theta_sk))))
    assert stationarity(model, X, y, theta) < stationarity(model, X, y, theta_sk)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0])
def test_lasso_reference_matches_scikit_learn_with_the_same_zeros(alpha):
    X, y = load_diabetes(return_X_y=True)
    # half_mse + l1: 1/(2n) |y - Xw - b|^2 + alpha |w|_1, scikit-learn's Lasso objective
    model = rough(LinearRegression(loss="half_mse", penalty="l1", alpha=alpha), X, y)
    theta, f = model.reference_optimum(X, y)
    sk = Lasso(alpha=alpha, tol=1e-14, max_iter=100000).fit(X, y)
    theta_sk, f_sk = objective_at(model, X, y, sk.coef_, sk.intercept_)
    assert relative(f, f_sk) < 1e-10
    assert np.max(np.abs(theta - theta_sk)) <= 1e-7 * np.max(np.abs(theta_sk))
    zeros = np.abs(theta[:-1]) < 1e-10
    assert zeros.any() and np.array_equal(zeros, sk.coef_ == 0)
    assert np.all(theta[:-1][zeros] == 0.0)   # on their bounds: exactly 0


@pytest.mark.parametrize("alpha, l1_ratio", [(0.01, 0.5), (0.1, 0.9)])
def test_elastic_net_reference_matches_scikit_learn(alpha, l1_ratio):
    X, y = load_diabetes(return_X_y=True)
    # alpha (rho |w|_1 + (1 - rho)/2 |w|^2) in both
    model = rough(LinearRegression(loss="half_mse", penalty="elasticnet", alpha=alpha, l1_ratio=l1_ratio), X, y)
    theta, f = model.reference_optimum(X, y)
    sk = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=100000).fit(X, y)
    theta_sk, f_sk = objective_at(model, X, y, sk.coef_, sk.intercept_)
    assert relative(f, f_sk) < 1e-10
    assert np.max(np.abs(theta - theta_sk)) <= 1e-7 * np.max(np.abs(theta_sk))
    assert np.array_equal(np.abs(theta[:-1]) < 1e-10, sk.coef_ == 0)


def test_ridge_reference_solve_agrees_with_the_closed_form():
    X, y = load_diabetes(return_X_y=True)
    model = rough(LinearRegression(penalty="l2", alpha=0.01), X, y)
    theta_cf, f_cf = model.reference_optimum(X, y)   # LinearRegression without L1: the closed form
    theta, f = reference_solve(model._objective_, model.fit_space(X, y))
    assert relative(f, f_cf) < 1e-12
    assert np.max(np.abs(theta - theta_cf)) <= 1e-8 * np.max(np.abs(theta_cf))


def test_the_l1_reference_never_differentiates_the_l1_term():
    """Only the L2 part is handed to value_and_grad: a changed L1 subgradient cannot move the reference."""
    X, y = load_diabetes(return_X_y=True)
    obj = SquaredError(X.shape[1], loss="half_mse", penalty=Penalty("elasticnet", alpha=0.1, l1_ratio=0.5))
    seen = []

    class Spy(SquaredError):
        def value_and_grad(self, params, batch):
            seen.append(self.penalty)
            return super().value_and_grad(params, batch)

    spy = Spy(obj.n_features, obj.n_outputs, obj.loss, obj.fit_intercept, obj.penalty)
    theta, f = reference_solve(spy, (X, y[:, None]))
    assert seen and set(seen) == {Penalty("l2", alpha=0.05)} == {smooth_part(obj).penalty}
    assert f == pytest.approx(reference_solve(obj, (X, y[:, None]))[1], rel=1e-14)


# ---------------------------------------------------------------------------- every estimator's gap
def _models():
    X, y = load_diabetes(return_X_y=True)
    Xc, yc = standardised(load_breast_cancer)
    Xs, ys = standardised(load_iris)
    return [
        (LinearRegression(lr=0.1, scale="standard"), X, y),
        (LinearRegression(lr=0.1, penalty="l1", alpha=0.5, scale="standard"), X, y),
        (LinearRegression(loss="half_mse", penalty="elasticnet", alpha=0.05, lr=0.5), X, np.c_[y, -y / 3]),
        (LogisticRegression(penalty="l2", alpha=0.01, batch_size=32, random_state=0), Xc, yc),
        (LogisticRegression(penalty="l1", alpha=0.01, average=True, batch_size=32, random_state=0), Xc, yc),
        (SoftmaxRegression(penalty="elasticnet", alpha=0.01, optimizer="adam", lr=0.05), Xs, ys),
    ]


@pytest.mark.parametrize("case", range(6))
def test_the_gap_of_a_fitted_model_is_positive_and_the_reference_does_not_depend_on_the_start(case):
    model, X, y = _models()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(epochs=20, tol=None).fit(X, y)
    theta, f_star = model.reference_optimum(X, y)
    gap = model.optimality_gap(X, y)
    assert gap >= -1e-12 * abs(f_star)
    assert gap == pytest.approx(model.loss_value(X, y) - f_star, rel=1e-9, abs=1e-14)
    cold, f_cold = reference_solve(model._objective_, model.fit_space(X, y))   # from zeros
    assert relative(f_cold, f_star) < 1e-12
    np.testing.assert_allclose(identified(model, cold), identified(model, theta), rtol=0,
                               atol=1e-6 * max(1.0, np.max(np.abs(theta))))


@pytest.mark.parametrize("case", range(6))
def test_a_model_started_at_the_reference_has_no_gap(case):
    model, X, y = _models()[case]
    rough(model, X, y)
    theta, f_star = model.reference_optimum(X, y)
    W, b = model.scaling_.to_original(*model._objective_.unpack(theta))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(lr=1e-12, optimizer="sgd", average=False, epochs=1).fit(X, y, coef_init=W.T, intercept_init=b)
    assert abs(model.optimality_gap(X, y)) <= 1e-8 * abs(f_star)


def test_linear_regression_with_l1_has_a_gap_instead_of_an_error():
    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression(loss="half_mse", penalty="l1", alpha=0.1, lr=0.2, epochs=20000, tol=None,
                             scale="standard").fit(X, y)
    # subgradient steps hover around the coefficients that should be 0: close, not exact
    assert 0 <= model.optimality_gap(X, y) < 1e-6 * model.reference_optimum(X, y)[1]


def test_the_gap_needs_a_fitted_model():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        LogisticRegression().optimality_gap(np.zeros((2, 1)), np.array([0, 1]))


def test_the_gap_ignores_sample_and_class_weights():
    Xc, yc = standardised(load_breast_cancer)
    w = np.where(yc == 1, 3.0, 1.0)
    settings = dict(penalty="l2", alpha=0.01, optimizer="nesterov", epochs=20000, tol=None, gtol=1e-10)
    weighted = LogisticRegression(class_weight="balanced", **settings).fit(Xc, yc, sample_weight=w)
    plain = LogisticRegression(**settings).fit(Xc, yc)
    # the weighted fit's optimum is another problem's: it is above the unweighted optimum
    assert weighted.optimality_gap(Xc, yc) > 1e-4 > 1e-12 > plain.optimality_gap(Xc, yc) >= 0


def test_loss_value_scores_the_averaged_parameters_predict_uses():
    X, y = load_diabetes(return_X_y=True)
    model = LinearRegression(lr=0.01, batch_size=16, epochs=3, tol=None, average=True, scale="standard",
                             random_state=0).fit(X, y)
    assert model.loss_value(X, y) == pytest.approx(np.mean((model.predict(X) - y) ** 2), rel=1e-12)


# ---------------------------------------------------------------------------- the CLI
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("model, dataset", [("logistic", "breast_cancer"), ("softmax", "iris")])
def test_fit_prints_the_gap_of_a_classifier_and_puts_it_in_the_json(model, dataset):
    args = ("fit", "--dataset", dataset, "--model", model, "--scale", "standard", "--penalty", "l2",
            "--alpha", "0.01", "--epochs", "3000")
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert 0 <= out["optimality_gap"] < 1e-6
    # scikit-learn's lbfgs solves the same problem: our objective at its solution is the minimum to its tolerance
    assert out["loss_value"] - out["optimality_gap"] == pytest.approx(out["sklearn_loss"], rel=1e-8)
    result = invoke(*args)
    assert result.exit_code == 0 and "gap to the optimum" in result.stdout


def test_fit_json_of_a_regression_has_the_gap_with_an_l1_penalty():
    result = invoke("fit", "--dataset", "diabetes", "--scale", "standard", "--penalty", "l1", "--alpha", "0.1",
                    "--lr", "0.1", "--epochs", "3000", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    X, y = load_diabetes(return_X_y=True)
    same = LinearRegression(penalty="l1", alpha=0.1, lr=0.1, epochs=3000, tol=None, scale="standard").fit(X, y)
    assert out["optimality_gap"] == pytest.approx(same.optimality_gap(X, y), rel=1e-6)
    assert out["loss_value"] - out["optimality_gap"] == pytest.approx(same.reference_optimum(X, y)[1], rel=1e-12)
    # the table's reference is the exact optimum of the same L1 objective: scikit-learn's Lasso on the
    # standardised rows (mean of squares + alpha |w|_1 is Lasso's half mean of squares at alpha / 2)
    assert out["reference"].startswith("exact optimum")
    scaler = StandardScaler().fit(X)
    lasso = Lasso(alpha=0.05, tol=1e-14, max_iter=10**6).fit(scaler.transform(X), y)
    np.testing.assert_allclose(out["closed_form_coef"], lasso.coef_ / scaler.scale_, rtol=1e-6, atol=1e-6)
    assert out["relative_error_to_closed_form"] < 0.01


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_streamed_linear_regression_has_the_gap_of_the_in_memory_fit_and_a_classifier_none(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) * [1.0, 10.0, 100.0]
    y = X @ [1.0, 0.2, 0.03] + rng.normal(size=400)
    path = tmp_path / "rows.csv"
    path.write_text("a,b,c,y,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t},{int(t > 0)}\n" for r, t in zip(X, y)))
    args = ("--stream", "--scale", "standard", "--penalty", "elasticnet", "--alpha", "0.1", "--lr", "0.1",
            "--epochs", "20", "--json")
    result = invoke("fit", str(path), "--target", "y", "--features", "a,b,c", *args)
    assert result.exit_code == 0, result.output
    gap = json.loads(result.stdout)["optimality_gap"]
    same = LinearRegression(penalty="elasticnet", alpha=0.1, lr=0.1, epochs=20, tol=None, scale="standard").fit(X, y)
    # from the summary's statistics: accurate to about eps * mean(y^2)
    assert gap == pytest.approx(same.optimality_gap(X, y), rel=1e-9, abs=1e-12 * np.mean(y**2))
    result = invoke("fit", str(path), "--target", "label", "--features", "a,b,c", "--model", "logistic", *args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["optimality_gap"] is None
