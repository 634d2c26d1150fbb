"""The playground's JSON API (``gradstep.web.app``), checked against independent references.

Every number checked comes from outside the server: NumPy's evaluation of the formula on the
same grid, hand-written gradient-descent / momentum / Adam loops in NumPy, :func:`gradstep.minimize`
called directly, ``np.linalg.lstsq`` and the mean squared error computed point by point.
Every refusal is a 4xx whose body is ``{"detail": "<one readable sentence>"}`` naming the field.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import gradstep
from gradstep.expression import parse
from gradstep.history import History
from gradstep.web import app as web
from gradstep.web.app import LIMITS, PRESETS, create_app

BEALE = "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2"


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app())


def strict_json(text: str):
    """The body parsed as standard JSON: NaN / Infinity tokens are refused."""
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def finite_or_null(values):
    """A nested list of numbers and None back as a float array (None -> nan)."""
    return np.array(values, dtype=object).astype(float)


def run_body(formula="x**2 + y**2", x0=(3.0, 2.0), steps=50, **opt):
    return {"formula": formula, "x0": list(x0), "optimizers": [{"name": "gd", "lr": 0.1, **opt}], "steps": steps}


def assert_error(r, status: int, *words: str) -> str:
    """A refusal: the status, a JSON body {"detail": one readable line} that names each of ``words``."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"detail"}, body
    detail = body["detail"]
    assert isinstance(detail, str) and detail.strip() and "\n" not in detail, detail
    assert "Traceback" not in detail and "object at 0x" not in detail, detail
    for w in words:
        assert w.lower() in detail.lower(), (w, detail)
    return detail


# ============================================================== happy paths: GET endpoints

def test_limits_are_the_module_limits(client):
    r = client.get("/api/limits")
    assert r.status_code == 200
    assert r.json() == {"formula_chars": 200, "steps": 10_000, "grid": 200, "optimizers": 4, "points": 5_000,
                        "upload_bytes": 1_000_000, "seconds": 10.0,
                        "body_bytes": 1_100_000, "computations": max(1, min(4, os.cpu_count() or 1)), "queued": 64,
                        "queue_seconds": 30.0}


def test_presets_parse_and_have_one_start_per_variable(client):
    r = client.get("/api/presets")
    assert r.status_code == 200
    presets = r.json()
    assert [p["name"] for p in presets] == [p["name"] for p in PRESETS]
    for p in presets:
        f = parse(p["formula"])
        assert 1 <= len(f.variables) <= 2, p
        assert len(p["x0"]) == len(f.variables), p
        assert (p["yrange"] is None) == (len(f.variables) == 1), p
        assert p["xrange"][0] < p["xrange"][1]
        s = client.post("/api/surface", json={"formula": p["formula"], "xrange": p["xrange"],
                                              "yrange": p["yrange"], "grid": 5})
        assert s.status_code == 200 and s.json()["dims"] == len(f.variables), (p, s.text)
        assert 1 <= p["steps"] <= LIMITS["steps"] and 1 <= len(p["optimizers"]) <= LIMITS["optimizers"], p
        for o in p["optimizers"]:
            web.OptimizerSpec(**o)                        # the page sends them as they are: /api/run takes them
        for m in p["minima"]:
            assert len(m) == len(f.variables), p
            assert all(lo <= v <= hi for v, (lo, hi) in zip(m, [p["xrange"], p["yrange"]])), (p, m)


@pytest.mark.parametrize("preset", PRESETS, ids=[p["name"] for p in PRESETS])
def test_each_preset_s_optimizers_do_not_diverge_under_minimize(preset):
    """A learner's first race is the preset as given: minimize with its steps and optimisers never diverges,
    and each run ends lower than it started, near a minimum where the preset has one (at it, unless the steps
    ran out first)."""
    f = parse(preset["formula"])
    start = float(f.evaluate(*preset["x0"]))
    for o in preset["optimizers"]:
        spec = web.OptimizerSpec(**o)
        res = gradstep.minimize(preset["formula"], preset["x0"], optimizer=spec.name, lr=spec.lr,
                                steps=preset["steps"], optimizer_params=web._optimizer_params(spec),
                                variables=f.variables)
        assert res.status != 2, (preset["name"], o, res.message)
        assert np.all(np.isfinite(res.history.path)), (preset["name"], o)
        assert res.fun < start, (preset["name"], o, res.fun, start)
        if preset["minima"]:   # most end at a minimum; Rosenbrock's gd is still in its valley, 0.45 from (1, 1)
            gap = min(np.linalg.norm(np.asarray(res.x) - m) for m in preset["minima"])
            first = min(np.linalg.norm(np.asarray(preset["x0"]) - m) for m in preset["minima"])
            assert gap < 0.25 * first and (gap < 1e-3 or res.status == 1), (preset["name"], o, res.x, res.message)


def test_each_preset_runs_through_the_api_as_the_page_sends_it(client):
    for p in PRESETS:
        r = client.post("/api/run", json={"formula": p["formula"], "x0": p["x0"], "optimizers": p["optimizers"],
                                          "steps": p["steps"]})
        assert r.status_code == 200, (p["name"], r.text)
        assert not any(run["diverged"] for run in r.json()["runs"]), p["name"]


def test_datasets_are_equal_length_points(client):
    r = client.get("/api/datasets")
    assert r.status_code == 200
    d = r.json()
    assert d["name"] == "tutorial-line" and isinstance(d["description"], str)
    assert len(d["x"]) == len(d["y"]) == 100
    assert np.all(np.isfinite(d["x"])) and np.all(np.isfinite(d["y"]))
    slope, intercept = np.polyfit(d["x"], d["y"], 1)     # the tutorials' noisy y = 2x + 1
    assert abs(slope - 2) < 0.2 and abs(intercept - 1) < 1.5


# ============================================================== /api/surface

def test_surface_2d_equals_numpy_on_the_same_grid(client):
    r = client.post("/api/surface", json={"formula": "x**2 + 3*y**2", "xrange": [-2, 3], "yrange": [-1, 4],
                                          "grid": 7})
    assert r.status_code == 200
    d = strict_json(r.text)
    x, y = np.linspace(-2, 3, 7), np.linspace(-1, 4, 7)
    X, Y = np.meshgrid(x, y)
    assert d["variables"] == ["x", "y"] and d["dims"] == 2
    np.testing.assert_allclose(d["x"], x, rtol=0, atol=1e-15)
    np.testing.assert_allclose(d["y"], y, rtol=0, atol=1e-15)
    z = np.asarray(d["z"])
    assert z.shape == (7, 7)                           # rows follow y, columns x
    np.testing.assert_allclose(z, X**2 + 3 * Y**2, rtol=1e-14, atol=1e-14)


def test_surface_1d_curve_preset_equals_numpy(client):
    curve = next(p for p in PRESETS if p["name"] == "one-variable curve")
    r = client.post("/api/surface", json={"formula": curve["formula"], "xrange": curve["xrange"], "yrange": None,
                                          "grid": 41})
    assert r.status_code == 200
    d = strict_json(r.text)
    x = np.linspace(-3.0, 3.0, 41)
    assert d["dims"] == 1 and d["variables"] == ["x"] and "y" not in d
    np.testing.assert_allclose(d["x"], x, rtol=0, atol=1e-15)
    np.testing.assert_allclose(d["z"], (2 - x**2 * np.sin(x)) ** 2, rtol=1e-13, atol=1e-13)


def test_surface_constant_after_simplification_still_fills_the_grid(client):
    r = client.post("/api/surface", json={"formula": "x - x + 2", "xrange": [0, 1], "yrange": None, "grid": 4})
    assert r.status_code == 200
    assert r.json()["z"] == [2.0, 2.0, 2.0, 2.0]


def test_surface_non_finite_values_are_null_and_json_is_standard(client):
    r = client.post("/api/surface", json={"formula": "log(x) + 1/y", "xrange": [-1, 1], "yrange": [-1, 1],
                                          "grid": 5})
    assert r.status_code == 200
    d = strict_json(r.text)
    X, Y = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    with np.errstate(all="ignore"):
        ref = np.log(X) + 1 / Y
    z = finite_or_null(d["z"])
    assert np.array_equal(np.isnan(z), ~np.isfinite(ref))     # every nan/inf of NumPy is a null, nothing else
    assert any(v is None for row in d["z"] for v in row)
    ok = np.isfinite(ref)
    np.testing.assert_allclose(z[ok], ref[ok], rtol=1e-14)


def test_surface_two_variables_without_yrange_is_refused(client):
    r = client.post("/api/surface", json={"formula": "x + y", "yrange": None})
    assert_error(r, 422, "yrange")


# ============================================================== /api/run

def test_run_gd_equals_hand_written_loop_iterate_by_iterate(client):
    r = client.post("/api/run", json=run_body(steps=50))
    assert r.status_code == 200
    d = strict_json(r.text)
    assert d["variables"] == ["x", "y"] and len(d["runs"]) == 1
    run = d["runs"][0]
    lr, x = 0.1, np.array([3.0, 2.0])
    ref = [x.copy()]
    for _ in range(50):
        x = x - lr * np.array([2 * x[0], 2 * x[1]])          # grad of x**2 + y**2
        ref.append(x.copy())
    ref = np.array(ref)
    path = np.asarray(run["path"])
    assert path.shape == (51, 2)
    np.testing.assert_allclose(path, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(run["loss"], ref[:-1, 0] ** 2 + ref[:-1, 1] ** 2, rtol=1e-12, atol=1e-14)
    # minimize's default gtol=1e-5 is on: the 50 steps ran out first (‖∇f‖ = 2‖x_49‖ > 1e-5), not a success
    assert run["diverged"] is False and run["status"] == 1 and run["success"] is False
    assert run["message"].startswith("stopped at the limit of 50 steps with gtol=1e-05 not met")
    assert run["label"] == "gd, lr 0.1"


def test_run_stops_with_success_where_the_gradient_norm_reaches_minimize_s_gtol(client):
    r = client.post("/api/run", json=run_body(steps=500))
    assert r.status_code == 200
    run = r.json()["runs"][0]
    x, ref = np.array([3.0, 2.0]), []
    while np.linalg.norm(2 * x) > 1e-5:                      # the hand-written loop, stopped by gtol=1e-5
        ref.append(x.copy())
        x = x - 0.1 * 2 * x
    ref.append(x)
    np.testing.assert_allclose(run["path"], ref, rtol=1e-12, atol=1e-15)
    assert run["success"] is True and run["status"] == 0 and run["message"].startswith("converged")


def test_run_momentum_equals_hand_written_heavy_ball_and_minimize(client):
    body = run_body(formula="x**2 + 10*y**2", x0=(3.0, 1.5), steps=40, name="momentum", lr=0.02, momentum=0.8)
    r = client.post("/api/run", json=body)
    assert r.status_code == 200
    run = r.json()["runs"][0]
    x, v, ref = np.array([3.0, 1.5]), np.zeros(2), []
    for _ in range(40):                                  # torch's SGD with momentum
        ref.append(x.copy())
        g = np.array([2 * x[0], 20 * x[1]])
        v = 0.8 * v + g
        x = x - 0.02 * v
    ref.append(x)
    np.testing.assert_allclose(run["path"], ref, rtol=1e-12, atol=1e-12)
    res = gradstep.minimize("x**2 + 10*y**2", [3.0, 1.5], optimizer="momentum", lr=0.02, steps=40,
                            optimizer_params={"momentum": 0.8})
    np.testing.assert_array_equal(run["path"], res.history.path)
    np.testing.assert_array_equal(run["loss"], res.history.loss)
    assert run["label"] == "momentum, lr 0.02, momentum 0.8"


def test_run_adam_equals_hand_written_adam_and_minimize(client):
    body = run_body(formula=BEALE, x0=(1.0, 1.0), steps=60, name="adam", lr=0.05, betas=[0.8, 0.99])
    r = client.post("/api/run", json=body)
    assert r.status_code == 200
    run = r.json()["runs"][0]

    def grad(p):
        x, y = p
        a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
        return np.array([2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
                         2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2])

    x, m, v, ref = np.array([1.0, 1.0]), np.zeros(2), np.zeros(2), []
    for t in range(1, 61):                               # torch's Adam, eps 1e-8
        ref.append(x.copy())
        g = grad(x)
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        x = x - 0.05 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.99**t)) + 1e-8)
    ref.append(x)
    np.testing.assert_allclose(run["path"], ref, rtol=1e-10, atol=1e-12)
    res = gradstep.minimize(BEALE, [1.0, 1.0], optimizer="adam", lr=0.05, steps=60,
                            optimizer_params={"betas": (0.8, 0.99)})
    np.testing.assert_array_equal(run["path"], res.history.path)
    np.testing.assert_array_equal(run["loss"], res.history.loss)


def test_run_races_several_optimizers_in_order(client):
    opts = [{"name": "gd", "lr": 0.05}, {"name": "nesterov", "lr": 0.05, "momentum": 0.5},
            {"name": "rmsprop", "lr": 0.01}, {"name": "adagrad", "lr": 0.3, "label": "mine"}]
    r = client.post("/api/run", json={"formula": "x**2 + 10*y**2", "x0": [3, 1.5], "optimizers": opts, "steps": 30})
    assert r.status_code == 200
    runs = r.json()["runs"]
    assert [run["label"] for run in runs][3] == "mine" and len(runs) == 4
    for o, run in zip(opts, runs):
        params = {"momentum": o["momentum"]} if "momentum" in o else None
        res = gradstep.minimize("x**2 + 10*y**2", [3.0, 1.5], optimizer=o["name"], lr=o["lr"], steps=30,
                                optimizer_params=params)
        np.testing.assert_array_equal(run["path"], res.history.path)
        P = np.asarray(run["path"])[:-1]
        np.testing.assert_allclose(run["loss"], P[:, 0] ** 2 + 10 * P[:, 1] ** 2, rtol=1e-12, atol=1e-14)


# ============================================================== every optimiser of the registry (issue 19)

def test_the_published_optimizers_are_the_registry_s(client):
    """``GET /api/optimizers`` is :data:`gradstep.optim.REGISTRY`, in its order: each name's default lr,
    its torch counterpart, and the race's settings (momentum, betas) its factory takes, with the factory's
    defaults; the schema's enum of ``OptimizerSpec.name`` is the same list."""
    import inspect

    from gradstep.optim import REGISTRY

    r = client.get("/api/optimizers")
    assert r.status_code == 200
    published = r.json()
    assert [o["name"] for o in published] == list(REGISTRY)
    for o in published:
        entry = REGISTRY[o["name"]]
        params = inspect.signature(entry.factory).parameters
        assert o["lr"] == params["lr"].default and o["torch"] == entry.torch, o
        expected = {k: list(v) if isinstance(v, tuple) else v for k, v in
                    ((k, params[k].default) for k in ("momentum", "betas") if k in params)}
        assert o["settings"] == expected, o
        assert isinstance(o["schedule"], bool)
    schema = client.get("/openapi.json").json()["components"]["schemas"]["OptimizerSpec"]
    assert schema["properties"]["name"]["enum"] == list(REGISTRY)
    assert "/api/optimizers" in client.get("/openapi.json").json()["paths"]


def _published(client) -> list[dict]:
    return client.get("/api/optimizers").json()


def test_every_published_optimizer_races_as_minimize_runs_it(client):
    """Each published optimiser, with its default lr and settings and then with the race's settings it takes
    changed, in races of at most ``LIMITS["optimizers"]``: the path and loss are :func:`gradstep.minimize`'s
    with the same settings, finite and lower at the end than at the start."""
    opts = []
    for o in _published(client):
        opts.append({"name": o["name"], "lr": o["lr"]})
        changed = {k: 0.5 if k == "momentum" else [0.8, 0.99] for k in o["settings"]}
        if changed:
            opts.append({"name": o["name"], "lr": o["lr"], **changed})
    k = LIMITS["optimizers"]
    for group in (opts[i:i + k] for i in range(0, len(opts), k)):
        r = client.post("/api/run", json={"formula": "x**2 + 3*y**2", "x0": [1.5, -1.0], "optimizers": group,
                                          "steps": 40})
        assert r.status_code == 200, (group, r.text)
        for o, run in zip(group, r.json()["runs"], strict=True):
            params = {k: tuple(v) if isinstance(v, list) else v for k, v in o.items() if k not in ("name", "lr")}
            res = gradstep.minimize("x**2 + 3*y**2", [1.5, -1.0], optimizer=o["name"], lr=o["lr"], steps=40,
                                    optimizer_params=params or None)
            np.testing.assert_array_equal(run["path"], res.history.path)
            np.testing.assert_array_equal(run["loss"], res.history.loss)
            assert np.all(np.isfinite(run["path"])) and run["values"][-1] < run["values"][0], o   # f at the ends
            assert not run["diverged"] and run["label"].startswith(f"{o['name']}, lr {o['lr']:g}"), (o, run["label"])
            for key, value in params.items():   # the changed settings are named in the label
                shown = "/".join(f"{v:g}" for v in np.atleast_1d(value))
                assert f", {key} {shown}" in run["label"], (o, run["label"])


def test_every_published_optimizer_fits_the_points(client):
    x = np.linspace(-1, 1, 20)
    for o in _published(client):
        r = client.post("/api/fit", json={"x": x.tolist(), "y": (2 * x + 1).tolist(), "epochs": 5,
                                          "optimizer": {"name": o["name"], "lr": o["lr"]}})
        assert r.status_code == 200, (o["name"], r.text)
        assert r.json()["label"].startswith(f"{o['name']}, lr {o['lr']:g}")


def test_a_setting_the_optimizer_does_not_take_is_left_out(client):
    """Adam takes no momentum, gd no betas: the race runs as without them, and the label does not name them."""
    plain = client.post("/api/run", json=run_body(name="adam", lr=0.1)).json()["runs"][0]
    given = client.post("/api/run", json=run_body(name="adam", lr=0.1, momentum=0.5)).json()["runs"][0]
    assert given["path"] == plain["path"] and given["label"] == plain["label"] == "adam, lr 0.1, betas 0.9/0.999"
    gd = client.post("/api/run", json=run_body(lr=0.1, betas=[0.5, 0.5])).json()["runs"][0]
    assert gd["label"] == "gd, lr 0.1"


def test_an_unknown_optimizer_is_refused_naming_the_choices(client):
    from gradstep.optim import REGISTRY

    detail = assert_error(client.post("/api/run", json=run_body(name="newton")), 422, "optimizers.0.name")
    assert all(f"'{name}'" in detail for name in REGISTRY), detail
    detail = assert_error(client.post("/api/fit", json={"x": [0, 1], "y": [0, 1], "optimizer": {"name": "newton"}}),
                          422, "optimizer.name")
    assert all(f"'{name}'" in detail for name in REGISTRY), detail


def test_a_schedule_for_an_optimizer_whose_lr_is_a_number_is_refused(client):
    """Rprop's lr is its first step size (L-BFGS's a step length): a schedule is refused with a 422 saying so."""
    fixed = [o["name"] for o in _published(client) if not o["schedule"]]
    assert "rprop" in fixed
    for name in fixed:
        body = run_body(name=name, schedule={"kind": "step"})
        assert_error(client.post("/api/run", json=body), 422, "optimizers.0.schedule", name, "constant")
        body = {"x": [0, 1], "y": [0, 1], "optimizer": {"name": name, "schedule": {"kind": "cosine"}}}
        assert_error(client.post("/api/fit", json=body), 422, "optimizer.schedule", name)
        assert client.post("/api/run", json=run_body(name=name, lr=0.01)).status_code == 200


def test_run_schedule_and_clipping_equal_minimize(client):
    body = run_body(steps=25, lr=0.3, schedule={"kind": "step", "step_size": 10, "gamma": 0.5}, clip_norm=1.0)
    r = client.post("/api/run", json=body)
    assert r.status_code == 200
    run = r.json()["runs"][0]
    x, ref = np.array([3.0, 2.0]), []
    for k in range(25):
        ref.append(x.copy())
        g = 2 * x
        g = g * min(1.0, 1.0 / np.linalg.norm(g))       # clip by norm 1
        x = x - 0.3 * 0.5 ** (k // 10) * g
    ref.append(x)
    np.testing.assert_allclose(run["path"], ref, rtol=1e-12, atol=1e-12)
    assert run["label"] == "gd, lr 0.3, step"


def test_run_one_variable(client):
    r = client.post("/api/run", json=run_body(formula="(x - 1)**2", x0=(4.0,), steps=5, lr=0.25))
    assert r.status_code == 200
    d = r.json()
    assert d["variables"] == ["x"]
    ref = [4.0]
    for _ in range(5):
        ref.append(ref[-1] - 0.25 * 2 * (ref[-1] - 1))
    np.testing.assert_allclose(np.asarray(d["runs"][0]["path"]).ravel(), ref, rtol=1e-15)


def test_run_values_are_f_along_the_path_last_point_included(client):
    """The page draws a one-variable path on its curve at these heights: f at every iterate, the last too."""
    for formula, x0, f in [("(2 - x**2 * sin(x))**2", (0.5,), lambda p: (2 - p[:, 0]**2 * np.sin(p[:, 0]))**2),
                           ("x**2 + 3*y**2", (3.0, 2.0), lambda p: p[:, 0]**2 + 3 * p[:, 1]**2)]:
        run = client.post("/api/run", json=run_body(formula=formula, x0=x0, steps=20)).json()["runs"][0]
        path = np.asarray(run["path"])
        assert len(run["values"]) == len(path) == len(run["loss"]) + 1
        np.testing.assert_allclose(run["values"], f(path), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(run["values"][:-1], run["loss"], rtol=1e-12, atol=1e-14)
    diverged = strict_json(client.post("/api/run", json=run_body(steps=50, lr=1.5)).text)["runs"][0]
    assert len(diverged["values"]) == len(diverged["path"])      # standard JSON, as far as it went


def test_run_diverging_gd_names_the_step_and_the_stable_lr(client):
    r = client.post("/api/run", json=run_body(steps=50, lr=1.5))
    assert r.status_code == 200
    d = strict_json(r.text)                               # standard JSON: no NaN or Infinity
    run = d["runs"][0]
    # x_k = (1 - 2*1.5)^k x_0, f(x_k) = 13 * 4^k; the loop stops when f exceeds f(x0) + 1e6 * max(|f(x0)|, 1)
    f0 = 13.0
    k = next(k for k in range(1, 50) if f0 * 4.0**k > f0 + 1e6 * f0)
    assert run["diverged"] is True and run["status"] == 2
    assert f"step {k}" in run["message"] and "diverged" in run["message"]
    assert run["stable_lr"] == pytest.approx(1.0, rel=1e-6)      # 2 / L with L = 2
    path = run["path"]
    assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for p in path for v in p)
    ref = np.array([[3.0, 2.0]]) * (-2.0) ** np.arange(len(path))[:, None]
    np.testing.assert_allclose(finite_or_null(path), ref, rtol=1e-12)
    assert len(path) == k + 1


def test_run_overflowing_gradient_is_reported_not_crashed(client):
    r = client.post("/api/run", json=run_body(formula="1e303*x + y**2", x0=(1.0, 0.0), steps=5, lr=1e6))
    assert r.status_code == 200
    run = strict_json(r.text)["runs"][0]
    assert run["diverged"] is True and "step 0" in run["message"]
    assert all(v is None or math.isfinite(v) for p in run["path"] for v in p)


def test_run_history_reloads_and_equals_the_run(client):
    r = client.post("/api/run", json={"formula": "x**2 + y**2", "x0": [3, 2], "steps": 20,
                                      "optimizers": [{"name": "gd", "lr": 0.1}, {"name": "gd", "lr": 1.5}]})
    assert r.status_code == 200
    for run in r.json()["runs"]:
        h = History.from_dict(run["history"])
        assert h.n_steps == len(run["loss"])
        np.testing.assert_array_equal(h.path, finite_or_null(run["path"]))
        np.testing.assert_array_equal(h.loss, run["loss"])
        assert h.param_names == ("x", "y")
        assert h.meta["optimizer"] == "gd" and h.meta["fun"] == "x**2 + y**2"
        again = History.from_json(json.dumps(run["history"]))
        np.testing.assert_array_equal(again.path, h.path)


# ============================================================== /api/fit

def mse(w, b, x, y):
    return np.mean((w * x + b - y) ** 2)


def test_fit_full_batch_equals_hand_written_gd_on_mse(client):
    x, y = np.array([0.0, 1.0, 2.0, 3.0, 4.0]), np.array([1.2, 2.9, 5.1, 7.2, 8.8])
    r = client.post("/api/fit", json={"x": x.tolist(), "y": y.tolist(), "method": "full", "epochs": 30,
                                      "optimizer": {"name": "gd", "lr": 0.03}, "grid": 9})
    assert r.status_code == 200
    d = strict_json(r.text)
    w, b, ref = 0.0, 0.0, []
    for _ in range(30):
        ref.append((w, b))
        res = w * x + b - y
        w, b = w - 0.03 * 2 * np.mean(res * x), b - 0.03 * 2 * np.mean(res)
    ref.append((w, b))
    np.testing.assert_allclose(d["path"], ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d["loss"], [mse(w_, b_, x, y) for w_, b_ in ref[:-1]], rtol=1e-12)
    assert d["batch_size"] == 5 and d["diverged"] is False
    assert d["message"].startswith("completed the 30 epochs asked for")
    # the closed form is the least-squares line
    best = np.linalg.lstsq(np.c_[x, np.ones_like(x)], y, rcond=None)[0]
    np.testing.assert_allclose(d["closed_form"], best, rtol=1e-12)
    # the contour is the mse at each (w, b) of its grid: rows follow b, columns w
    c = d["contour"]
    assert len(c["w"]) == len(c["b"]) == 9
    L = np.asarray(c["loss"])
    assert L.shape == (9, 9)
    for i, j in [(0, 0), (0, 8), (4, 4), (8, 0), (3, 7), (8, 8)]:
        assert L[i, j] == pytest.approx(mse(c["w"][j], c["b"][i], x, y), rel=1e-10, abs=1e-12)
    # the grid covers the path and the optimum
    assert min(c["w"]) <= min(min(p[0] for p in d["path"]), best[0]) and max(c["w"]) >= best[0]
    assert min(c["b"]) <= min(min(p[1] for p in d["path"]), best[1]) and max(c["b"]) >= best[1]
    h = History.from_dict(d["history"])
    np.testing.assert_array_equal(h.path, d["path"])
    np.testing.assert_array_equal(h.loss, d["loss"])


@pytest.mark.parametrize(("method", "n", "batch_size", "epochs", "per_epoch", "reported"), [
    ("minibatch", 7, 3, 4, 3, 3),      # ceil(7 / 3) batches an epoch
    ("minibatch", 6, 3, 2, 2, 3),
    ("minibatch", 5, 50, 3, 1, 5),     # a batch larger than the data is the whole data
    ("sgd", 5, 10, 3, 5, 1),           # one sample a step, whatever batch_size says
])
def test_fit_minibatch_and_sgd_step_counts(client, method, n, batch_size, epochs, per_epoch, reported):
    x = np.linspace(0, 1, n)
    y = 2 * x + 1 + 0.1 * np.cos(7 * x)
    r = client.post("/api/fit", json={"x": x.tolist(), "y": y.tolist(), "method": method, "batch_size": batch_size,
                                      "epochs": epochs, "optimizer": {"name": "gd", "lr": 0.05}})
    assert r.status_code == 200, r.text
    d = r.json()
    assert len(d["loss"]) == epochs * per_epoch
    assert len(d["path"]) == epochs * per_epoch + 1
    assert d["batch_size"] == reported
    h = History.from_dict(d["history"])
    assert h.n_epochs == epochs and h.n_steps == epochs * per_epoch
    # every step is a gradient step on the mse of some batch: the last point moved toward the line
    assert mse(*d["path"][-1], x, y) < mse(0.0, 0.0, x, y)


def test_fit_sgd_one_epoch_equals_hand_written_per_sample_steps(client):
    x, y = np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0])
    r = client.post("/api/fit", json={"x": x.tolist(), "y": y.tolist(), "method": "sgd", "epochs": 1,
                                      "optimizer": {"name": "gd", "lr": 0.1}})
    assert r.status_code == 200
    d = r.json()
    path = np.asarray(d["path"])
    # whatever order the samples are visited in, each step is the gradient step of one sample's squared error
    for (w, b), (w1, b1) in itertools.pairwise(path):
        candidates = [(w - 0.1 * 2 * (w * xi + b - yi) * xi, b - 0.1 * 2 * (w * xi + b - yi)) for xi, yi in zip(x, y)]
        assert any(np.allclose((w1, b1), c, rtol=1e-12, atol=1e-14) for c in candidates), (w, b, w1, b1)
    for (w, b), loss in zip(path[:-1], d["loss"]):      # the loss of a step is its sample's squared error
        assert any(math.isclose(loss, (w * xi + b - yi) ** 2, rel_tol=1e-12) for xi, yi in zip(x, y)), (w, b, loss)


def test_fit_diverging_is_reported(client):
    r = client.post("/api/fit", json={"x": [0, 1], "y": [0, 1e6], "epochs": 50, "optimizer": {"lr": 1e6}})
    assert r.status_code == 200
    d = strict_json(r.text)
    assert d["diverged"] is True and "diverged" in d["message"]
    np.testing.assert_allclose(d["closed_form"], [1e6, 0.0], atol=1e-6)


# ============================================================== /api/upload

def upload(client, data: bytes, name: str = "points.csv"):
    return client.post("/api/upload", files={"file": (name, data, "text/csv")})


def test_upload_two_columns(client):
    r = upload(client, b"hours,score\n1,2.5\n2,4\n3.5,-1e3\n")
    assert r.status_code == 200
    assert r.json() == {"x": [1.0, 2.0, 3.5], "y": [2.5, 4.0, -1000.0], "names": ["hours", "score"]}


def test_upload_bom_quoted_header_and_crlf(client):
    r = upload(client, '\ufeff"x","y"\r\n0,1\r\n1,3\r\n'.encode())
    assert r.status_code == 200
    assert r.json() == {"x": [0.0, 1.0], "y": [1.0, 3.0], "names": ["x", "y"]}


def test_upload_then_fit(client):
    r = upload(client, b"a,b\n0,1\n1,3\n2,5\n3,7\n")
    pts = r.json()
    fit = client.post("/api/fit", json={"x": pts["x"], "y": pts["y"], "epochs": 5})
    assert fit.status_code == 200
    np.testing.assert_allclose(fit.json()["closed_form"], [2.0, 1.0], rtol=1e-12)


# ============================================================== limits and bad input

@pytest.mark.parametrize("path", ["/api/surface", "/api/run"])
def test_formula_too_long(client, path):
    formula = "x" + "+x" * 100
    assert len(formula) == LIMITS["formula_chars"] + 1
    body = {"formula": formula, "x0": [1.0], "optimizers": [{}]}
    assert_error(client.post(path, json=body), 422, "formula", "200")
    ok = {"formula": formula[:-2], "x0": [1.0], "optimizers": [{}], "steps": 1, "grid": 2}
    assert client.post(path, json=ok).status_code == 200        # 199 characters are fine


@pytest.mark.parametrize(("formula", "words"), [
    ("", ["formula", "at least 1"]),
    ("   ", ["formula", "empty"]),
    ("x**2 + y**2 + z", ["formula", "one or two variables", "3", "x, y, z"]),
    ("2 + 3", ["formula", "no variables"]),
    ("__import__('os')", ["formula", "not allowed"]),
    ("__import__", ["formula", "'_'", "not allowed"]),
    ("open('x')", ["formula", "strings are not allowed"]),
    ("open(x)", ["formula", "unknown function 'open'"]),
    ("x.real", ["formula", "attribute access"]),
    ("(lambda x: x)(y)", ["formula", "lambda"]),
    ("lambda x: x", ["formula", "lambda"]),
    ("'x' + y", ["formula", "strings are not allowed"]),
    ("f'{x}'", ["formula", "strings are not allowed"]),
    ("10**10**10", ["formula", "exponent is too large"]),
    ("foo(x)", ["formula", "unknown function 'foo'"]),
    ("x ^ 2", ["formula", "'^'"]),
    ("x[0]", ["formula", "indexing"]),
    ("exec(x)", ["formula", "unknown function 'exec'"]),
    ("x if y else 1", ["formula", "conditional"]),
    ("log(-1) + x", ["formula", "undefined"]),
    ("x\x00", ["formula", "NUL"]),
])
@pytest.mark.parametrize("path", ["/api/surface", "/api/run"])
def test_bad_formulas_are_refused(client, path, formula, words):
    body = {"formula": formula, "x0": [1.0, 2.0], "optimizers": [{}], "steps": 3}
    assert_error(client.post(path, json=body), 422, *words)


@pytest.mark.parametrize(("x0", "words"), [
    ([1.0], ["x0 has 1 values", "2 variables"]),
    ([1.0, 2.0, 3.0], ["x0", "at most 2"]),
    ([], ["x0", "at least 1"]),
])
def test_x0_length_mismatch(client, x0, words):
    assert_error(client.post("/api/run", json=run_body(x0=x0)), 422, *words)


def test_x0_two_values_for_a_one_variable_formula(client):
    assert_error(client.post("/api/run", json=run_body(formula="x**2", x0=(1.0, 2.0))), 422,
                 "x0 has 2 values", "1 variables")


@pytest.mark.parametrize("steps", [0, -1, LIMITS["steps"] + 1])
def test_steps_out_of_bounds(client, steps):
    assert_error(client.post("/api/run", json=run_body(steps=steps)), 422, "steps")


@pytest.mark.parametrize("grid", [1, LIMITS["grid"] + 1])
@pytest.mark.parametrize("path", ["/api/surface", "/api/fit"])
def test_grid_out_of_bounds(client, path, grid):
    body = {"formula": "x**2", "yrange": None, "x": [0, 1], "y": [1, 2], "grid": grid}
    assert_error(client.post(path, json=body), 422, "grid")


def test_grid_at_the_limit_is_fine(client):
    r = client.post("/api/surface", json={"formula": "x*y", "grid": LIMITS["grid"]})
    assert r.status_code == 200 and np.asarray(r.json()["z"]).shape == (200, 200)


@pytest.mark.parametrize("n", [0, LIMITS["optimizers"] + 1])
def test_number_of_optimizers(client, n):
    body = {"formula": "x**2 + y**2", "x0": [1, 1], "optimizers": [{"name": "gd"}] * n, "steps": 2}
    assert_error(client.post("/api/run", json=body), 422, "optimizers")


@pytest.mark.parametrize(("opt", "words"), [
    ({"name": "newton"}, ["optimizers.0.name", "'adam'"]),
    ({"lr": 0}, ["optimizers.0.lr", "greater than 0"]),
    ({"lr": -0.1}, ["optimizers.0.lr", "greater than 0"]),
    ({"lr": 1e7}, ["optimizers.0.lr"]),
    ({"lr": "fast"}, ["optimizers.0.lr", "number"]),
    ({"momentum": 1.0}, ["optimizers.0.momentum", "less than 1"]),
    ({"momentum": -0.1}, ["optimizers.0.momentum"]),
    ({"betas": [0.9]}, ["optimizers.0.betas"]),
    ({"betas": [0.9, 1.0]}, ["optimizers.0.betas.1", "less than 1"]),
    ({"schedule": {"kind": "linear"}}, ["optimizers.0.schedule.kind", "'cosine'"]),
    ({"schedule": {"kind": "step", "gamma": 0}}, ["optimizers.0.schedule.gamma"]),
    ({"clip_norm": 0}, ["optimizers.0.clip_norm", "greater than 0"]),
    ({"clip_norm": -1}, ["optimizers.0.clip_norm"]),
    ({"clip_value": 0}, ["optimizers.0.clip_value"]),
    ({"label": "x" * 61}, ["optimizers.0.label", "60"]),
])
def test_bad_optimizer_settings(client, opt, words):
    body = {"formula": "x**2 + y**2", "x0": [1, 1], "optimizers": [{"name": "gd", **opt}], "steps": 2}
    assert_error(client.post("/api/run", json=body), 422, *words)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_raw_json_are_a_4xx(client, token):
    raw = ('{"formula": "x**2 + y**2", "x0": [1, 1], "optimizers": [{"name": "gd", "lr": TOKEN}], "steps": 2}'
           .replace("TOKEN", token))
    r = client.post("/api/run", content=raw, headers={"content-type": "application/json"})
    assert_error(r, 422, "optimizers.0.lr")
    raw = '{"formula": "x**2 + y**2", "x0": [TOKEN, 1], "optimizers": [{}], "steps": 2}'.replace("TOKEN", token)
    r = client.post("/api/run", content=raw, headers={"content-type": "application/json"})
    assert_error(r, 422, "x0.0", "finite")
    raw = '{"formula": "x*y", "xrange": [0, TOKEN]}'.replace("TOKEN", token)
    r = client.post("/api/surface", content=raw, headers={"content-type": "application/json"})
    assert_error(r, 422, "xrange.1", "finite")
    raw = '{"x": [0, 1, 2], "y": [1, TOKEN, 3]}'.replace("TOKEN", token)
    r = client.post("/api/fit", content=raw, headers={"content-type": "application/json"})
    assert_error(r, 422, "y.1", "finite")


def test_fit_x_and_y_of_different_lengths(client):
    assert_error(client.post("/api/fit", json={"x": [1, 2, 3], "y": [1, 2]}), 422,
                 "x has 3 values", "y has 2")


def test_fit_too_many_points(client):
    n = LIMITS["points"] + 1
    r = client.post("/api/fit", json={"x": list(range(n)), "y": list(range(n))})
    assert_error(r, 422, "x", "5000")


def test_fit_too_few_points(client):
    assert_error(client.post("/api/fit", json={"x": [1], "y": [1]}), 422, "x", "at least 2")


@pytest.mark.parametrize(("body", "steps"), [
    ({"method": "sgd", "epochs": 101, "n": 100}, 10_100),
    ({"method": "minibatch", "batch_size": 10, "epochs": 2001, "n": 50}, 10_005),
])
def test_fit_epochs_times_steps_over_the_limit(client, body, steps):
    n = body.pop("n")
    r = client.post("/api/fit", json={"x": list(range(n)), "y": list(range(n)), **body})
    detail = assert_error(r, 422, "epochs", str(steps), "10000")
    assert "fewer epochs" in detail


def test_fit_epochs_times_steps_at_the_limit_is_fine(client):
    r = client.post("/api/fit", json={"x": [0, 1], "y": [1, 3], "method": "sgd", "epochs": 5000,
                                      "optimizer": {"lr": 0.01}})
    assert r.status_code == 200 and len(r.json()["loss"]) == 10_000


def test_fit_bad_method(client):
    assert_error(client.post("/api/fit", json={"x": [0, 1], "y": [1, 3], "method": "newton"}), 422, "method")


def test_upload_too_large_is_413(client):
    line = b"1.000000,2.000000\n"
    data = b"x,y\n" + line * (LIMITS["upload_bytes"] // len(line) + 1)
    assert len(data) > LIMITS["upload_bytes"]
    assert_error(upload(client, data), 413, "1,000,000", "smaller")


def test_upload_too_many_rows_is_413(client):
    data = b"x,y\n" + b"".join(b"%d,%d\n" % (i, i) for i in range(LIMITS["points"] + 1))
    assert len(data) < LIMITS["upload_bytes"]
    assert_error(upload(client, data), 413, "5,001 rows", "5,000")


def test_upload_not_utf8(client):
    assert_error(upload(client, "x,y\n1,\u00e9\n".encode("latin-1")), 422, "UTF-8")
    assert_error(upload(client, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"), 422, "UTF-8")


@pytest.mark.parametrize(("data", "words"), [
    (b"x,y,z\n1,2,3\n4,5,6\n", ["two columns", "3"]),
    (b"x\n1\n2\n", ["two columns", "1"]),
    (b"", ["two columns", "0"]),
    (b"   \n\n", ["two columns", "0"]),
    (b"x,y\n", ["no rows"]),
    (b"x,y\n1,2\n", ["one row"]),
    (b"x,y\n1,2\n3,abc\n", ["line 3", "column 'y'", "'abc'", "not a number"]),
    (b"x,y\n1,2\nfoo,4\n", ["line 3", "column 'x'", "'foo'"]),
    (b"x,y\n1,2\n3,4,5\n", ["line 3", "3 fields"]),
    (b"x,y\n1,inf\n2,3\n", ["line 2", "column 'y'", "infinite"]),
    (b"x,y\n1e400,2\n2,3\n", ["line 2", "column 'x'", "too large"]),
    (b"x,x\n1,2\n2,3\n", ["both named 'x'"]),
])
def test_upload_bad_csv(client, data, words):
    detail = assert_error(upload(client, data), 422, *words)
    assert "/tmp" not in detail and "upload.csv" not in detail      # the server's temporary path never leaks


def test_upload_without_a_file(client):
    assert_error(client.post("/api/upload"), 422, "file")


@pytest.mark.parametrize("path", ["/api/surface", "/api/run", "/api/fit"])
def test_missing_json_body(client, path):
    assert_error(client.post(path), 422, "required")


@pytest.mark.parametrize("path", ["/api/surface", "/api/run", "/api/fit"])
def test_wrong_content_type(client, path):
    r = client.post(path, content=b'{"formula": "x**2", "x": [0, 1], "y": [0, 1]}',
                    headers={"content-type": "text/plain"})
    assert_error(r, 422, "dictionary")
    r = client.post(path, data={"formula": "x**2"})      # a form, not JSON
    assert_error(r, 422)


@pytest.mark.parametrize("path", ["/api/surface", "/api/run", "/api/fit"])
def test_malformed_json(client, path):
    r = client.post(path, content=b'{"formula": "x**2", ', headers={"content-type": "application/json"})
    assert_error(r, 422, "JSON")


@pytest.mark.parametrize("body", [[1, 2], "x**2", 3, None])
def test_json_that_is_not_an_object(client, body):
    assert_error(client.post("/api/run", json=body), 422)


@pytest.mark.parametrize("path", ["/api/surface", "/api/run", "/api/fit", "/api/upload"])
def test_get_on_post_endpoints_is_405(client, path):
    r = client.get(path)
    assert_error(r, 405, "method not allowed")
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ["/api/limits", "/api/presets", "/api/datasets"])
def test_post_on_get_endpoints_is_405(client, path):
    assert_error(client.post(path, json={}), 405, "method not allowed")


def test_slow_request_is_408(client, monkeypatch):
    monkeypatch.setitem(web.LIMITS, "seconds", 0.001)
    body = {"formula": BEALE, "x0": [1, 1], "optimizers": [{"name": "adam", "lr": 1e-4}], "steps": 10_000}
    detail = assert_error(client.post("/api/run", json=body), 408, "longer than 0.001 s", "fewer steps")
    assert detail.startswith("the request took longer")


def test_limits_endpoint_reports_a_patched_limit(client, monkeypatch):
    monkeypatch.setitem(web.LIMITS, "seconds", 2.5)
    assert client.get("/api/limits").json()["seconds"] == 2.5


@pytest.mark.parametrize(("body", "field"), [
    ({"formula": "x + y", "xrange": [-1e308, 1e308], "grid": 3}, "xrange.0"),
    ({"formula": "x + y", "xrange": [0, 1], "yrange": [-1.7e308, 1.7e308], "grid": 3}, "yrange.0"),
    ({"formula": "x**2", "xrange": [-1.7976931348623157e308, 1.7976931348623157e308], "yrange": None, "grid": 2},
     "xrange.0"),
    ({"formula": "x", "x0": [1e101], "optimizers": [{}]}, "x0.0"),
])
def test_numbers_beyond_1e100_are_refused(client, body, field):
    """A range whose width would overflow a float is refused by the field, before any work."""
    path = "/api/run" if "x0" in body else "/api/surface"
    assert_error(client.post(path, json=body), 422, field, "less than or equal to 1e+100")


def test_largest_allowed_ranges_are_drawn_in_finite_numbers(client):
    r = client.post("/api/surface", json={"formula": "x + y", "xrange": [-1e100, 1e100],
                                          "yrange": [-1e100, 1e100], "grid": 3})
    assert r.status_code == 200, r.text
    d = strict_json(r.text)
    assert d["x"] == np.linspace(-1e100, 1e100, 3).tolist() == d["y"]
    assert finite_or_null(d["z"]).tolist() == (np.add.outer(d["y"], d["x"])).tolist()


@pytest.mark.parametrize(("rng", "field"), [([1, 1], "xrange"), ([2, -2], "xrange")])
def test_empty_ranges_are_refused(client, rng, field):
    assert_error(client.post("/api/surface", json={"formula": "x", "xrange": rng, "yrange": None}), 422,
                 field, "low < high")
    assert_error(client.post("/api/surface", json={"formula": "x*y", "xrange": [0, 1], "yrange": rng}), 422,
                 "yrange", "low < high")


@pytest.mark.parametrize(("body", "field"), [
    ({"x": [1e200, 2e200, 3e200], "y": [1, 2, 3], "epochs": 2}, "x.0"),
    ({"x": [1, -1], "y": [3, 1e300], "epochs": 2}, "y.1"),
    ({"x": [0, 1, 2], "y": [1e10, -1e160, 1e160], "epochs": 2}, "y.0"),
])
def test_fit_points_beyond_1e9_are_refused(client, body, field):
    assert_error(client.post("/api/fit", json=body), 422, field, "less than or equal to 1e+09")


def test_fit_points_at_1e9_diverge_plainly_in_standard_json(client):
    """The largest allowed points with lr 0.01: the run blows up; the answer says so and the contour stays
    finite where it is drawn (overflowed loss is a gap, null)."""
    r = client.post("/api/fit", json={"x": [1e9, -1e9, 5e8], "y": [1e9, 3, -1e9], "epochs": 5})
    assert r.status_code == 200, r.text
    d = strict_json(r.text)
    assert d["diverged"] is True and "diverged" in d["message"].lower()
    assert all(v is not None for v in d["contour"]["w"] + d["contour"]["b"])
    A = np.c_[[1e9, -1e9, 5e8], np.ones(3)]
    assert np.allclose(d["closed_form"], np.linalg.lstsq(A, [1e9, 3, -1e9], rcond=None)[0])


def test_upload_values_beyond_1e9_name_the_line_and_column(client):
    assert_error(upload(client, b"x,y\n1,2\n\n3,4e12\n"), 422, "uploaded csv", "line 4", "column 'y'", "rescale")


def test_upload_hints_speak_of_the_page_not_the_command_line(client):
    detail = assert_error(upload(client, b"x,y\n1,2\n3,\n"), 422, "line 3", "missing", "upload again")
    assert "--" not in detail


@pytest.mark.parametrize("which", ["run", "fit"])
def test_a_cancelled_request_stops_at_its_next_step(which):
    """After a 408 the server sets the request's cancel event: the run stops after the step it is in,
    instead of computing on in the background (here the event is set before the run starts)."""
    import threading

    cancel = threading.Event()
    cancel.set()
    if which == "run":
        out = web.run(web.RunRequest(**run_body(steps=10_000)), cancel)["runs"][0]
    else:
        out = web.fit(web.FitRequest(x=[0, 1, 2], y=[1, 3, 5], epochs=10_000), cancel)
    assert len(out["path"]) == 2 and len(out["loss"]) == 1      # the start and one step, of 10 000 asked for
    assert "stopped" in out["message"]


def test_the_408_sets_the_cancel_event(client, monkeypatch):
    import threading

    seen: list[threading.Event] = []

    def slow(req, cancel):
        seen.append(cancel)
        cancel.wait(5)
        return {}

    monkeypatch.setattr(web, "run", slow)
    monkeypatch.setitem(web.LIMITS, "seconds", 0.05)
    assert_error(client.post("/api/run", json=run_body()), 408, "longer than")
    assert len(seen) == 1 and seen[0].is_set()


# ============================================================== nothing reaches the file system

def test_upload_filename_is_never_used(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    for name in ["../../etc/passwd", "../../escaped.csv", "/tmp/gradstep-web-upload-probe.csv", "..\\..\\win.csv"]:
        r = upload(client, b"x,y\n1,2\n3,4\n", name=name)
        assert r.status_code == 200
        assert r.json() == {"x": [1.0, 3.0], "y": [2.0, 4.0], "names": ["x", "y"]}
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a", "a/b"]
    assert not Path("/tmp/gradstep-web-upload-probe.csv").exists()
    assert not (tmp_path / "etc").exists()


def test_formulas_cannot_name_files(client, tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("42")
    monkeypatch.chdir(tmp_path)
    for formula in ["open('secret')", "secret", "read(secret)", "__import__('os').system('touch pwned')",
                    "x + eval('1')", "x.__class__", "compile(x)", "globals()", "x + secret.read"]:
        r = client.post("/api/surface", json={"formula": formula, "yrange": None, "grid": 2})
        if formula == "secret":          # a plain name is a variable called "secret", nothing more
            assert r.status_code == 200 and r.json()["variables"] == ["secret"]
            assert r.json()["z"] == [-4.0, 4.0]
        else:
            assert_error(r, 422, "formula")
    assert sorted(os.listdir(tmp_path)) == ["secret"]


# ============================================================== server limits: body size and computation slots

def test_a_body_over_the_limit_is_413_from_its_content_length(client, monkeypatch):
    """A body larger than SERVER_LIMITS["body_bytes"] is refused before it is read; one byte less is fine
    (valid JSON padded with spaces to exactly the limit)."""
    body = json.dumps({"formula": "x**2 + y**2", "grid": 3}).encode()
    limit = len(body) + 100
    monkeypatch.setitem(web.SERVER_LIMITS, "body_bytes", limit)
    exact = body + b" " * (limit - len(body))
    assert len(exact) == limit
    assert client.post("/api/surface", content=exact, headers={"content-type": "application/json"}).status_code == 200
    over = exact + b" "
    r = client.post("/api/surface", content=over, headers={"content-type": "application/json"})
    assert_error(r, 413, f"{len(over):,} bytes", f"more than {limit:,}", "fewer")


def test_a_large_upload_is_413_before_the_form_is_parsed(client, monkeypatch):
    data = b"x,y\n" + b"1,2\n" * 3000
    monkeypatch.setitem(web.SERVER_LIMITS, "body_bytes", 5000)
    r = upload(client, data)
    sent = int(r.request.headers["content-length"])          # the client's own count of the multipart body
    assert sent > len(data) > 5000
    assert_error(r, 413, f"{sent:,} bytes", "more than 5,000", f"at most {LIMITS['upload_bytes']:,} bytes")


def test_the_default_body_limit_admits_the_largest_requests(client):
    """The largest upload (with its form's framing) and the largest fit body, written with every digit,
    fit within the default body limit."""
    line = b"-123456.123456,-654321.654321\n"
    data = b"x,y\n" + line * ((LIMITS["upload_bytes"] - 4) // len(line))
    assert len(data) <= LIMITS["upload_bytes"]
    r = upload(client, data)
    assert int(r.request.headers["content-length"]) <= web.SERVER_LIMITS["body_bytes"]
    assert r.status_code == 413 and "rows" in r.json()["detail"]      # refused by the rows limit, not the body's
    x = [-987654321.12345678 + k for k in range(LIMITS["points"])]
    body = json.dumps({"x": x, "y": x, "epochs": 1, "grid": 2}).encode()
    assert len(body) <= web.SERVER_LIMITS["body_bytes"]
    r = client.post("/api/fit", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text[:300]


def _asgi(app, path, chunks, headers=()):
    """Send ``chunks`` as a body without Content-Length straight to the ASGI app; the answer's status, its
    JSON body and how many chunks the app asked for."""
    import asyncio

    pulled = []
    sent: list[dict] = []

    async def receive():
        if len(pulled) < len(chunks):
            pulled.append(1)
            return {"type": "http.request", "body": chunks[len(pulled) - 1], "more_body": len(pulled) < len(chunks)}
        await asyncio.sleep(3600)             # never: the app does not read past the end

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"transfer-encoding", b"chunked"), *headers],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), len(pulled)


@pytest.mark.parametrize("path", ["/api/fit", "/api/upload"])
def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(monkeypatch, path):
    monkeypatch.setitem(web.SERVER_LIMITS, "body_bytes", 10_000)
    chunk = 1000
    chunks = [b" " * chunk] * 1000                      # a megabyte, sent without Content-Length
    ctype = b"application/json" if path == "/api/fit" else b"multipart/form-data; boundary=XX"
    if path == "/api/upload":
        chunks = [b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nx,y\n'] + \
                 [b"1,2\n" * (chunk // 4)] * 1000
    status, body, pulled = _asgi(create_app(), path, chunks, [(b"content-type", ctype)])
    assert status == 413 and set(body) == {"detail"}
    assert "larger than 10,000 bytes" in body["detail"]
    read = sum(map(len, chunks[:pulled]))
    assert 10_000 < read <= 10_000 + max(map(len, chunks))       # read up to the chunk that passed the limit
    assert pulled < len(chunks)


def _blocking(monkeypatch, release, log, hold=0.0):
    """Replace ``run`` by one that records when it starts and ends, at most how many run at once, and waits
    for ``release`` (or its cancel event)."""
    import threading
    import time

    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def fake(req, cancel):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        start = time.monotonic()
        while not (release.is_set() or cancel.is_set()):
            time.sleep(0.005)
        time.sleep(hold)
        with lock:
            state["now"] -= 1
        log.append((req.steps, start, time.monotonic()))
        return {"steps": req.steps}

    monkeypatch.setattr(web, "run", fake)
    return state


def _until_running(state, n, seconds=10.0):
    """Wait (at most ``seconds``) until ``n`` of the fake computations of :func:`_blocking` run."""
    import time

    deadline = time.monotonic() + seconds
    while state["now"] < n and time.monotonic() < deadline:
        time.sleep(0.01)


def _in_threads(client, bodies, stagger=0.0):
    import time
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(len(bodies))
    futures = []
    for b in bodies:
        futures.append(pool.submit(client.post, "/api/run", json=b))
        time.sleep(stagger)
    return pool, futures


def test_at_most_the_configured_computations_run_at_once(monkeypatch):
    import threading
    import time

    monkeypatch.setitem(web.SERVER_LIMITS, "computations", 3)
    release, log = threading.Event(), []
    state = _blocking(monkeypatch, release, log)
    client = TestClient(create_app())
    pool, futures = _in_threads(client, [run_body(steps=k + 1) for k in range(10)])
    _until_running(state, 3)
    time.sleep(0.2)                                     # the others are waiting, not running
    assert state["now"] == 3
    release.set()
    answers = [f.result(timeout=30) for f in futures]
    pool.shutdown()
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["steps"] for a in answers) == list(range(1, 11))
    assert state["most"] == 3 and len(log) == 10


def test_a_full_line_is_503_at_once_with_retry_after(monkeypatch):
    import threading
    import time

    monkeypatch.setitem(web.SERVER_LIMITS, "computations", 1)
    monkeypatch.setitem(web.SERVER_LIMITS, "queued", 1)
    release, log = threading.Event(), []
    state = _blocking(monkeypatch, release, log)
    client = TestClient(create_app())
    pool, futures = _in_threads(client, [run_body(steps=1), run_body(steps=2)], stagger=0.3)
    _until_running(state, 1)
    time.sleep(0.3)
    r = client.post("/api/run", json=run_body(steps=3))     # one running, one waiting: no room
    # at once: answered while the one computation still holds its slot (it runs until released), not by
    # a wait for a slot (that would end in "no computation slot came free")
    assert state["now"] == 1 and not release.is_set()
    assert_error(r, 503, "busy", "1 computations are running", "1 requests are waiting", "try again")
    assert int(r.headers["retry-after"]) >= 1
    release.set()
    assert [f.result(timeout=30).status_code for f in futures] == [200, 200]
    pool.shutdown()
    assert [steps for steps, *_ in log] == [1, 2]            # first come, first served; the refused one never ran


def test_a_wait_past_queue_seconds_is_503(monkeypatch):
    import threading
    import time

    monkeypatch.setitem(web.SERVER_LIMITS, "computations", 1)
    monkeypatch.setitem(web.SERVER_LIMITS, "queue_seconds", 0.3)
    release, log = threading.Event(), []
    state = _blocking(monkeypatch, release, log)
    client = TestClient(create_app())
    pool, futures = _in_threads(client, [run_body(steps=1)])
    _until_running(state, 1)
    t = time.monotonic()
    r = client.post("/api/run", json=run_body(steps=2))
    waited = time.monotonic() - t
    assert_error(r, 503, "no computation slot came free in 0.3 s")
    assert "retry-after" in r.headers
    assert waited >= 0.3 and state["now"] == 1   # it waited its 0.3 s (no upper bound: a busy machine is slow)
    release.set()
    assert futures[0].result(timeout=30).status_code == 200
    pool.shutdown()
    r = client.post("/api/run", json=run_body(steps=4))      # the slot is free again
    assert r.status_code == 200 and r.json() == {"steps": 4}
    assert [steps for steps, *_ in log] == [1, 4]


def test_after_a_408_the_slot_is_held_until_the_run_has_stopped(monkeypatch):
    """The 408 answers at once; the next request in line starts only when the cancelled computation ended
    (here it takes 0.4 s to reach its next step)."""
    import threading
    import time

    monkeypatch.setitem(web.SERVER_LIMITS, "computations", 1)
    monkeypatch.setitem(web.LIMITS, "seconds", 0.2)
    release, log = threading.Event(), []
    _blocking(monkeypatch, release, log, hold=0.4)
    client = TestClient(create_app())
    t = time.monotonic()
    pool, futures = _in_threads(client, [run_body(steps=1), run_body(steps=2)], stagger=0.05)
    first, second = (f.result(timeout=30) for f in futures)
    pool.shutdown()
    assert_error(first, 408, "longer than 0.2 s")
    assert_error(second, 408, "longer than 0.2 s")
    while len(log) < 2 and time.monotonic() - t < 60:        # the second's run ends 0.4 s after its 408
        time.sleep(0.01)
    assert len(log) == 2, log                                  # (60 s: only a guard against a hang)
    (s1, start1, end1), (s2, start2, _) = sorted(log)
    assert (s1, s2) == (1, 2)
    assert end1 - start1 >= 0.2 + 0.4 - 0.01                   # it ran to its cancel, then its last step
    assert start2 >= end1                                      # the second waited for the first to stop


def test_refusals_are_in_the_openapi_schema(client):
    schema = client.get("/openapi.json").json()
    for path in ["/api/surface", "/api/run", "/api/fit", "/api/upload"]:
        responses = schema["paths"][path]["post"]["responses"]
        assert {"408", "413", "422", "503"} <= set(responses), (path, set(responses))
    assert schema["components"]["schemas"]["Refusal"]["required"] == ["detail"]


# ============================================================== what the fit noticed is told in the answer

def test_fit_tells_its_warnings_in_the_answer(client):
    """Unscaled x (std about 3e5 against the intercept's 1): the estimator's NumericalWarning, the same
    one LinearRegression gives for these points called directly, is in ``warnings``."""
    import warnings as w

    from gradstep import LinearRegression
    from gradstep.faults import NumericalWarning

    x = np.linspace(0, 1e6, 40)
    y = 2e-6 * x + 1
    with w.catch_warnings(record=True) as direct:
        w.simplefilter("always")
        LinearRegression(lr=1e-13, epochs=5, tol=None, sufficient_stats=False).fit(x[:, None], y)
    expected = [str(m.message) for m in direct if issubclass(m.category, NumericalWarning)]
    assert expected, "the reference call gave no NumericalWarning"
    r = client.post("/api/fit", json={"x": x.tolist(), "y": y.tolist(), "epochs": 5,
                                      "optimizer": {"name": "gd", "lr": 1e-13}})
    assert r.status_code == 200, r.text
    assert set(expected) <= set(r.json()["warnings"])


def test_fit_on_scaled_points_has_no_warnings(client):
    x = np.linspace(-1, 1, 30)
    r = client.post("/api/fit", json={"x": x.tolist(), "y": (2 * x + 1).tolist(), "epochs": 50,
                                      "optimizer": {"name": "gd", "lr": 0.1}})
    assert r.status_code == 200 and r.json()["warnings"] == []
