"""Classification and the scikit-learn contract, against scikit-learn and hand-written loops."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from gradstep import LinearRegression, LogisticRegression, SoftmaxRegression
from gradstep.objectives import LogisticLoss, Penalty, SoftmaxCrossEntropy
from gradstep.optim.schedules import inverse_time


@parametrize_with_checks([LinearRegression(), LogisticRegression(), SoftmaxRegression()])
def test_scikit_learn_contract(estimator, check):
    check(estimator)


def _standardised(loader):
    X, y = loader(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def _objective(obj, coef, intercept, X, Y):
    W = np.asarray(coef, dtype=float).T
    return obj.value(obj.pack(W, np.asarray(intercept, dtype=float)), (X, Y))


@pytest.mark.parametrize(
    "loader, model, C, epochs",
    [(load_breast_cancer, LogisticRegression, 1.0, 30000), (load_digits, SoftmaxRegression, 0.1, 6000)],
)
def test_full_batch_gd_reaches_scikit_learn_lbfgs(loader, model, C, epochs):
    X_tr, X_te, y_tr, y_te = _standardised(loader)
    n = len(y_tr)
    ref = SkLogistic(C=C, tol=1e-12, max_iter=100000).fit(X_tr, y_tr)
    # sklearn minimises C * sum(loss) + |w|^2 / 2, i.e. mean(loss) + (1 / (C n)) |w|^2 / 2
    ours = model(penalty="l2", alpha=1 / (C * n), optimizer="nesterov", lr="auto", epochs=epochs,
                 tol=None).fit(X_tr, y_tr)
    k = len(ours.classes_)
    obj = (LogisticLoss(X_tr.shape[1], True, Penalty("l2", 1 / (C * n))) if k == 2
           else SoftmaxCrossEntropy(X_tr.shape[1], k, True, Penalty("l2", 1 / (C * n))))
    Y = ours._encode(y_tr, first=False)
    f_ref = _objective(obj, ref.coef_, ref.intercept_, X_tr, Y)
    f_ours = _objective(obj, ours.coef_, ours.intercept_, X_tr, Y)
    assert abs(f_ours - f_ref) / f_ref < 1e-6
    assert abs(ours.score(X_te, y_te) - ref.score(X_te, y_te)) <= 0.005


@pytest.mark.parametrize("loader, model, C", [(load_breast_cancer, LogisticRegression, 1.0),
                                              (load_digits, SoftmaxRegression, 0.1)])
def test_mini_batch_sgd_is_within_a_point_of_scikit_learn(loader, model, C):
    X_tr, X_te, y_tr, y_te = _standardised(loader)
    ref = SkLogistic(C=C, tol=1e-12, max_iter=100000).fit(X_tr, y_tr)
    ours = model(penalty="l2", alpha=1 / (C * len(y_tr)), batch_size=32, lr=0.05, epochs=60, tol=None,
                 random_state=0).fit(X_tr, y_tr)
    assert abs(ours.score(X_te, y_te) - ref.score(X_te, y_te)) <= 0.01


@pytest.mark.parametrize("model", [LinearRegression, LogisticRegression, SoftmaxRegression])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_partial_fit_over_ten_chunks_equals_fit(model, optimizer):
    X, y = make_classification(n_samples=400, n_features=5, n_informative=3, n_classes=3 if model is
                               SoftmaxRegression else 2, random_state=1)
    y = y.astype(float) if model is LinearRegression else y
    kwargs = dict(optimizer=optimizer, lr=inverse_time(0.1, power_t=0.5), batch_size=8, shuffle=False,
                  penalty="l2", alpha=1e-3)
    full = model(epochs=1, tol=None, **kwargs).fit(X, y)
    chunked = model(**kwargs)
    for chunk in np.array_split(np.arange(400), 10):  # 40 rows = 5 batches of 8
        extra = {} if model is LinearRegression else {"classes": np.unique(y)}
        chunked.partial_fit(X[chunk], y[chunk], **extra)
    np.testing.assert_allclose(chunked.coef_, full.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(chunked.intercept_, full.intercept_, rtol=1e-12, atol=1e-15)
    assert chunked.history_.n_steps == full.history_.n_steps == 50
    np.testing.assert_allclose(chunked.history_.lr, full.history_.lr, rtol=1e-15)  # the schedule went on
    assert chunked.history_.n_epochs == 10 and chunked.n_iter_ == 1


def test_logistic_labels_probabilities_and_decision():
    X, y01 = make_classification(n_samples=200, n_features=4, random_state=3)
    labels = np.where(y01 == 1, "spam", "ham")
    clf = LogisticRegression(lr=0.5, epochs=300, tol=None).fit(X, labels)
    assert clf.classes_.tolist() == ["ham", "spam"] and clf.coef_.shape == (1, 4)
    z = X @ clf.coef_[0] + clf.intercept_[0]
    np.testing.assert_allclose(clf.decision_function(X), z, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], expit(z), rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(clf.predict_proba(X)), rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X), np.where(z > 0, "spam", "ham"))


def test_softmax_probabilities_and_decision():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=4, random_state=4)
    clf = SoftmaxRegression(lr=0.5, epochs=300, tol=None).fit(X, y)
    Z = X @ clf.coef_.T + clf.intercept_
    np.testing.assert_allclose(clf.decision_function(X), Z, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X), softmax(Z, axis=1), rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(Z, axis=1)])


def test_one_weighted_step_equals_the_hand_formula():
    X, y = make_classification(n_samples=50, n_features=3, n_redundant=0, random_state=5)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, 50)
    clf = LogisticRegression(lr=0.3, epochs=1, tol=None, class_weight={0: 2.0, 1: 1.0}).fit(X, y, sample_weight=sw)
    w = sw * np.where(y == 0, 2.0, 1.0)
    w = w / w.mean()  # weights of mean 1: weight k on a row is the row repeated k times
    Xt = np.hstack([X, np.ones((50, 1))])
    theta = -0.3 * Xt.T @ (w * (expit(np.zeros(50)) - y)) / 50
    np.testing.assert_allclose(np.append(clf.coef_, clf.intercept_), theta, rtol=1e-13)


def test_integer_weights_equal_repeated_rows():
    X, y = make_classification(n_samples=60, n_features=3, n_redundant=0, random_state=6)
    counts = np.random.default_rng(1).integers(1, 4, 60)
    a = SoftmaxRegression(lr=0.2, epochs=50, tol=None).fit(X, y, sample_weight=counts)
    b = SoftmaxRegression(lr=0.2, epochs=50, tol=None).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)


def test_balanced_class_weight_is_n_over_k_count():
    X, y = make_classification(n_samples=100, n_features=3, n_redundant=0, weights=[0.8, 0.2], random_state=7)
    a = LogisticRegression(lr=0.2, epochs=30, tol=None, class_weight="balanced").fit(X, y)
    counts = np.bincount(y)
    b = LogisticRegression(lr=0.2, epochs=30, tol=None).fit(X, y, sample_weight=(100 / (2 * counts))[y])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-13)


def test_early_stopping_records_the_validation_loss():
    X, y = make_classification(n_samples=400, n_features=5, random_state=8)
    clf = LogisticRegression(lr=0.5, epochs=5000, early_stopping=True, validation_fraction=0.2, tol=1e-4,
                             n_iter_no_change=3, random_state=0).fit(X, y)
    epochs = clf.history_.to_pandas("epochs")
    assert "val_loss" in epochs and clf.n_iter_ < 5000 and clf.result_.success
    # the validation rows are scikit-learn's split with the same seed; their loss is recorded
    Xtr, Xv, ytr, yv = train_test_split(X, y, test_size=0.2, random_state=clf.history_.meta["seed"], stratify=y)
    assert clf.history_.meta["n_samples"] == 400
    p = np.clip(clf.predict_proba(Xv)[:, 1], 1e-300, 1)
    expected = -np.mean(yv * np.log(p) + (1 - yv) * np.log(np.clip(1 - p, 1e-300, 1)))
    assert epochs["val_loss"].iloc[-1] == pytest.approx(expected, rel=1e-9)


def test_average_is_the_mean_of_the_iterates():
    X, y = make_classification(n_samples=40, n_features=3, n_redundant=0, random_state=9)
    clf = LogisticRegression(lr=0.1, epochs=3, batch_size=5, shuffle=False, tol=None, average=True).fit(X, y)
    path = clf.history_.path[1:]  # the iterates after each update
    np.testing.assert_allclose(np.append(clf.coef_, clf.intercept_), path.mean(axis=0), rtol=1e-12)
    later = LogisticRegression(lr=0.1, epochs=3, batch_size=5, shuffle=False, tol=None, average=60).fit(X, y)
    np.testing.assert_allclose(np.append(later.coef_, later.intercept_), path[11:].mean(axis=0), rtol=1e-12)


def test_warm_start_continues_the_run():
    X, y = make_classification(n_samples=80, n_features=3, n_redundant=0, random_state=10)
    once = LogisticRegression(optimizer="adam", lr=0.05, epochs=40, tol=None).fit(X, y)
    twice = LogisticRegression(optimizer="adam", lr=0.05, epochs=20, tol=None, warm_start=True)
    twice.fit(X, y).fit(X, y)
    np.testing.assert_allclose(twice.coef_, once.coef_, rtol=1e-13)
    assert twice.history_.n_steps == 40


def test_pipeline_grid_search_clone_and_pickle():
    X, y = make_classification(n_samples=150, n_features=4, random_state=11)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(epochs=200))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, {"logisticregression__penalty": [None, "l2"]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.8
    clf = clone(search.best_estimator_).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_classifier_errors():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="Only binary"):
        LogisticRegression().fit(X, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="one class"):
        SoftmaxRegression().fit(X, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        SoftmaxRegression(epochs=1).partial_fit(X, [0, 1, 0, 1]).partial_fit(X, [0, 2, 0, 1])
    with pytest.raises(ValueError, match="non-zero"):
        LogisticRegression().fit(X, [0, 1, 0, 1], sample_weight=np.zeros(4))
