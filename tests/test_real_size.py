"""What makes the commands fast at real size, checked against independent references.

The Gram matrix (one pass) against ``X̃ᵀX̃`` formed explicitly; the diagnostics built on it against
NumPy's ``eigvalsh``, ``cond`` and scikit-learn; the accuracy counted inside the gradient pass
against predictions made from the recorded parameters; ``gtol`` against the recorded gradient
norms of a run without it; a progress callback that leaves the compiled epochs on against the
same run without it; the memory budget's choice between memory and streaming against the file's
size. Speed is measured by ``benchmarks/end_to_end.py``, not here.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression as SkLinearRegression
from typer.testing import CliRunner

import gradstep
from gradstep import diagnostics
from gradstep.cli import app
from gradstep.data import memory
from gradstep.kernels import fused
from gradstep.objectives import LogisticLoss
from gradstep.objectives.stats import gram
from gradstep.scaling import FeatureScaling

RNG = np.random.default_rng(7)


def _tilde(X, w=None):
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    return Xt.T @ (Xt if w is None else w[:, None] * Xt)


# --------------------------------------------------------------------------- the Gram matrix
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_gram_equals_the_explicit_product(dtype, weighted, monkeypatch):
    monkeypatch.setattr("gradstep.objectives.stats.GRAM_ROWS", 7)  # many blocks
    X = RNG.standard_normal((50, 4)).astype(dtype)
    w = RNG.uniform(0, 3, 50).astype(dtype) if weighted else None
    ref = X.astype(np.float64).T @ (X.astype(np.float64) * (1.0 if w is None else w[:, None].astype(np.float64)))
    G = gram(X, w)
    assert G.dtype == dtype and np.allclose(G, G.T, rtol=0, atol=0)
    np.testing.assert_allclose(G, ref, rtol=1e-12 if dtype == np.float64 else 2e-5)


def test_augmented_gram_of_numpy_and_torch_without_forming_the_column_of_ones():
    X = RNG.standard_normal((40, 3))
    w = RNG.uniform(0.5, 2, 40)
    np.testing.assert_allclose(diagnostics.gram(X), _tilde(X), rtol=1e-13)
    np.testing.assert_allclose(diagnostics.gram(X, sample_weight=w), _tilde(X, w), rtol=1e-13)
    np.testing.assert_allclose(diagnostics.gram(X, fit_intercept=False), X.T @ X, rtol=1e-13)
    np.testing.assert_allclose(diagnostics.gram(torch.tensor(X)), _tilde(X), rtol=1e-13)


@pytest.mark.parametrize("kind", ["standard", "minmax"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_gram_matrix_maps_through_the_scaling(kind, fit_intercept):
    X = RNG.normal(5.0, 3.0, (60, 3))
    sc = FeatureScaling.fit(kind, X, center=fit_intercept)
    np.testing.assert_allclose(sc.transform_gram(diagnostics.gram(X, fit_intercept), fit_intercept),
                               diagnostics.gram(sc.transform(X), fit_intercept), rtol=1e-9, atol=1e-9)


def test_stable_lr_and_condition_number_accept_a_known_gram_matrix():
    X = RNG.standard_normal((80, 4)) * [1.0, 3.0, 0.5, 2.0]
    G = _tilde(X)
    H = 2 / 80 * G
    assert diagnostics.stable_lr(X, gram=G) == pytest.approx(2 / np.linalg.eigvalsh(H).max(), rel=1e-12)
    assert diagnostics.largest_stable_lr(G, 80, "mse", True) == pytest.approx(diagnostics.stable_lr(X), rel=1e-12)
    cond = np.linalg.cond(np.hstack([X, np.ones((80, 1))])) ** 2
    assert diagnostics.condition_number(X, gram=G) == pytest.approx(cond, rel=1e-10)


def test_closed_form_of_an_ill_conditioned_problem_falls_back_to_lstsq():
    X = RNG.standard_normal((200, 3))
    X = np.hstack([X, X[:, :1] + 1e-7 * RNG.standard_normal((200, 1))])  # kappa(G) ~ 1e15
    y = X @ [1.0, -2.0, 0.5, 3.0] + 0.01 * RNG.standard_normal(200)
    coef, b = gradstep.closed_form(X, y)
    theta = np.linalg.lstsq(np.hstack([X, np.ones((200, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(np.append(coef, b), theta, rtol=1e-9)
    # scikit-learn cuts the smallest singular value off: its residual is larger, never smaller
    ref = SkLinearRegression().fit(X, y)
    assert np.sum((X @ coef + b - y) ** 2) <= np.sum((ref.predict(X) - y) ** 2)


def test_closed_form_of_a_tall_problem_equals_lstsq_to_rounding():
    X = RNG.standard_normal((5000, 6)) * np.logspace(0, 2, 6) + 3.0   # kappa ~ 1e6: the refinement matters
    y = X @ RNG.standard_normal(6) + 1.5 + 0.1 * RNG.standard_normal(5000)
    coef, b = gradstep.closed_form(X, y)
    theta = np.linalg.lstsq(np.hstack([X, np.ones((5000, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(np.append(coef, b), theta, rtol=1e-11)


# --------------------------------------------------------------------------- accuracy from the pass
def _correct_reference(D, Y):
    pred = (D[:, 0] > 0) if D.shape[1] == 1 else np.argmax(D, axis=1)
    truth = (Y[:, 0] > 0.5) if Y.shape[1] == 1 else np.argmax(Y, axis=1)
    return int(np.sum(pred == truth))


@pytest.mark.parametrize("k", [1, 4])
def test_the_fused_pass_counts_the_rows_classified_right(k):
    n, d = 3000, 5
    X = RNG.standard_normal((n, d))
    W, b = RNG.standard_normal((d, k)), RNG.standard_normal(k)
    Y = (RNG.random((n, 1)) < 0.5).astype(float) if k == 1 else np.eye(k)[RNG.integers(0, k, n)]
    X[:5] = 0.0                       # ties: decisions equal to b, the first largest wins
    W[:, -1] = W[:, 0] if k > 1 else W[:, 0]
    if not fused.available():
        pytest.skip("Numba is not available on this machine")
    *_, correct = fused.linear_parts_counted("logistic" if k == 1 else "softmax", X, Y, None, W, b, 1.0 / n)
    assert correct == _correct_reference(X @ W + b, Y)


@pytest.mark.parametrize("model, batch_size", [("logistic", None), ("softmax", None), ("logistic", 16),
                                               ("softmax", 16)])
def test_recorded_accuracy_equals_predictions_of_the_recorded_parameters(monkeypatch, model, batch_size):
    monkeypatch.setattr(fused, "MIN_ELEMENTS", 64)  # the fused pass on this small data
    n = 400
    X = RNG.standard_normal((n, 3))
    y = (X @ [1.0, -1.0, 0.5] + 0.5 * RNG.standard_normal(n) > 0).astype(int)
    if model == "softmax":
        y = y + (X[:, 2] > 0.8)
    cls = gradstep.LogisticRegression if model == "logistic" else gradstep.SoftmaxRegression
    est = cls(epochs=6, tol=None, batch_size=batch_size, random_state=0, record_params=True)
    est.fit(X, y)
    epochs = est.history_.to_pandas("epochs")
    obj = est._objective_
    Y = est._encode(y, first=False)
    params = _epoch_end_params(est)
    for e, theta in enumerate(params):
        expected = _correct_reference(np.asarray(obj.predict(theta, X)), Y) / n
        assert epochs["accuracy"].iloc[e] == expected


def _epoch_end_params(est):
    """The parameters after each epoch, from the recorded path: the first step of the next epoch starts
    there; the last epoch ends at the fitted parameters."""
    h = est.history_
    steps = h.to_pandas("steps")
    path = np.asarray(h.path)
    firsts = [int(i) for i in steps.groupby("epoch").head(1).index][1:]
    return [path[i] for i in firsts] + [np.asarray(est._theta)]


def test_full_batch_accuracy_costs_no_extra_pass(monkeypatch):
    X = RNG.standard_normal((300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    calls = {"decision": 0}
    original = LogisticLoss.decision

    def counted(self, params, Xb):
        calls["decision"] += 1
        return original(self, params, Xb)

    monkeypatch.setattr(LogisticLoss, "decision", counted)
    monkeypatch.setattr(fused, "ENABLED", False)  # the plain path: every pass computes the decision once
    passes = []
    for epochs in (10, 20):
        calls["decision"] = 0
        gradstep.LogisticRegression(epochs=epochs, tol=None).fit(X, y)
        passes.append(calls["decision"])
    assert passes[1] - passes[0] == 10   # one pass per full-batch epoch: its step's (the accuracy is free)


# --------------------------------------------------------------------------- gtol
@pytest.mark.parametrize("cls", [gradstep.LinearRegression, gradstep.LogisticRegression])
def test_gtol_stops_at_the_first_step_whose_gradient_is_that_small(cls):
    X = RNG.standard_normal((200, 3))
    y = X @ [1.0, 2.0, -1.0] + 0.3 * RNG.standard_normal(200)
    if cls is gradstep.LogisticRegression:
        y = (y > 0).astype(int)
    free = cls(epochs=100, tol=None, lr="auto").fit(X, y)
    g = free.history_.grad_norm
    gtol = float(g[60] / g[0])
    k = int(np.argmax(g <= gtol * g[0]))
    assert 0 < k <= 60
    est = cls(epochs=100, tol=None, lr="auto", gtol=gtol).fit(X, y)
    assert est.t_ == k and est.result_.success and "converged" in est.result_.message
    np.testing.assert_array_equal(est.history_.grad_norm, g[:k])


def test_gtol_not_met_is_not_success():
    X = RNG.standard_normal((100, 2))
    y = X @ [1.0, 2.0]
    with pytest.warns(Warning):
        est = gradstep.LinearRegression(epochs=3, tol=None, gtol=1e-12).fit(X, y)
    assert not est.result_.success and est.result_.status == 1
    assert "limit of 3 epochs" in est.result_.message and "gtol=1e-12 not met" in est.result_.message


# --------------------------------------------------------------------------- progress on the compiled path
def test_a_progress_callback_leaves_the_compiled_epochs_on_and_the_iterates_unchanged():
    X = RNG.standard_normal((3000, 4))
    y = X @ [1.0, -1.0, 2.0, 0.5] + 0.1 * RNG.standard_normal(3000)
    plain = gradstep.LinearRegression(batch_size=1, lr=1e-3, epochs=2, tol=None, random_state=3).fit(X, y)
    seen = []

    class Progress:
        every_step = False

        def __call__(self, info):
            seen.append(info.step)

    est = gradstep.LinearRegression(batch_size=1, lr=1e-3, epochs=2, tol=None, random_state=3)
    est.fit(X, y, callback=Progress())
    assert est.history_.meta["compiled"] is True
    np.testing.assert_array_equal(est.coef_, plain.coef_)
    np.testing.assert_array_equal(est.history_.loss, plain.history_.loss)
    assert seen[-1] == 6000 and len(seen) >= 2 and seen == sorted(seen)


def test_a_callback_of_every_step_still_sees_every_step():
    X = RNG.standard_normal((50, 2))
    y = X @ [1.0, 2.0]
    seen = []
    model = gradstep.LinearRegression(batch_size=1, lr=1e-2, epochs=1, tol=None)
    model.fit(X, y, callback=lambda i: seen.append(i.step))
    assert seen == list(range(1, 51))


# --------------------------------------------------------------------------- memory or stream
def test_table_bytes_of_a_parquet_file_from_its_metadata(tmp_path):
    import pandas as pd

    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": np.arange(1000.0), "b": np.arange(1000), "s": ["x"] * 1000}).to_parquet(path)
    assert memory.table_bytes(path) == 1000 * 2 * 8


def test_parse_size_and_its_errors():
    assert memory.parse_size("800M") == 800 * 10**6 and memory.parse_size("1GiB") == 1 << 30
    for bad in ("", "12 parsecs", "-1G", "0"):
        with pytest.raises(ValueError, match="memory size"):
            memory.parse_size(bad)


def test_gradstep_fit_streams_a_file_past_the_memory_budget_and_gives_the_in_memory_answer(tmp_path):
    import pandas as pd

    X = RNG.standard_normal((2000, 3))
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": X @ [1.0, -1.0, 2.0] + 0.5}).to_parquet(path)
    runner = CliRunner()
    args = ["fit", str(path), "--target", "y", "--epochs", "50", "--lr", "0.3", "--json"]
    small = runner.invoke(app, [*args, "--memory", "10K"])
    big = runner.invoke(app, [*args, "--memory", "1G"])
    assert small.exit_code == 0 and big.exit_code == 0, small.output + big.output
    streamed, in_memory = json.loads(small.stdout), json.loads(big.stdout)
    assert streamed["streamed"] is True and in_memory["streamed"] is False
    np.testing.assert_allclose(streamed["coef"], in_memory["coef"], rtol=1e-9)
    said = runner.invoke(app, ["fit", str(path), "--target", "y", "--epochs", "5", "--memory", "10K"])
    assert "streaming d.parquet" in said.stderr and "--memory" in said.stderr
    refused = runner.invoke(app, [*args, "--memory", "10K", "--dropna"])
    assert refused.exit_code == 2 and "--memory" in refused.stderr and math.isfinite(memory.table_bytes(path))


def test_sample_weight_column_in_memory_and_streamed_equals_the_library_fit(tmp_path):
    import pandas as pd

    X = RNG.standard_normal((300, 2))
    w = RNG.uniform(0.5, 2.0, 300)
    y = X @ [1.0, 2.0] + 0.5 + 0.1 * RNG.standard_normal(300)
    path = tmp_path / "w.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "wt": w, "y": y}).to_csv(path, index=False)
    ref = gradstep.LinearRegression(lr=0.1, epochs=100, tol=None).fit(X, y, sample_weight=w)
    runner = CliRunner()
    for extra in ([], ["--stream"]):
        out = runner.invoke(app, ["fit", str(path), "--target", "y", "--sample-weight", "wt", "--lr", "0.1",
                                  "--epochs", "100", "--json", *extra])
        assert out.exit_code == 0, out.output
        got = json.loads(out.stdout)
        assert got["features"] == ["a", "b"]
        np.testing.assert_allclose(got["coef"], ref.coef_, rtol=1e-12)
    bad = runner.invoke(app, ["fit", str(path), "--target", "y", "--sample-weight", "nope"])
    assert bad.exit_code == 2 and "--sample-weight 'nope'" in bad.stderr
