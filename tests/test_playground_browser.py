"""The playground page in a real (headless) Chromium: what it draws is what gradstep computes.

The app runs under uvicorn in a background thread on a free loopback port; the page is driven with
Playwright's sync API. The paths drawn are read back from the Plotly divs: every trace carries
``meta`` naming its role, and a run's whole path is the trace with ``meta == "path"`` whose ``name``
is the run's label (the animation draws the trail up to the current step in separate "trail"/"now"
traces, so these tests need not wait for it; the data-mode test presses "to end" to read the
line of the last step). They are compared with the API called directly and with gradstep itself.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import playwright.sync_api as playwright_sync
import pytest
import uvicorn

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]
SHOTS = Path("/tmp/playground-shots")
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}
DONE = "document.body.dataset.state === 'done'"
READY = "document.body.dataset.state === 'ready'"

PATHS_JS = """id => document.getElementById(id).data.filter(t => t.meta === 'path')
                 .map(t => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))"""
LOSS_JS = """id => document.getElementById(id).data.filter(t => t.meta === 'loss')
                .map(t => ({name: t.name, y: Array.from(t.y)}))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from gradstep.web.app import create_app

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60   # a guard against a hang, not a bound
    while True:
        try:
            if httpx.get(base + "/api/limits", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("the playground server did not answer within 60 s")
        time.sleep(0.05)
    yield base
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        apt = shutil.which("apt-get")
        if apt:   # a fresh machine has no package lists yet: read them, then install
            for cmd in (["update"], ["install", "-y", "chromium"]):
                subprocess.run([apt, *cmd], check=False, capture_output=True, timeout=900)
        if not Path(CHROMIUM).exists():
            pytest.fail(f"the browser tests need Chromium at {CHROMIUM}; install it with: apt-get install -y chromium")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A page whose every request is recorded: after the test, none may have gone beyond the server."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    outside: list[str] = []
    context.on("request", lambda r: None if r.url.startswith((server + "/", "data:", "blob:"))
               else outside.append(r.url))
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert outside == [], f"the page fetched from outside the server: {outside[:5]}"


def _open(page, url: str, state: str = READY) -> None:
    page.goto(url)
    page.wait_for_function(state)


def _set_formula(page, formula: str) -> None:
    page.fill("#formula", formula)
    page.press("#formula", "Enter")
    page.wait_for_function(
        "f => document.body.dataset.state === 'ready' && "
        "document.getElementById('surface-title').textContent.endsWith(f)", arg=formula)


def _set_opt(page, index: int, **fields) -> None:
    card = page.locator("#opt-list .opt").nth(index)
    for key, value in fields.items():
        target = card.locator(f'[data-k="{key}"]')
        if key in ("name", "kind"):
            target.select_option(str(value))
        else:
            target.fill(str(value))


def _close(a, b, tol=1e-12) -> None:
    a = np.array(a, dtype=float)   # None (a non-finite value) becomes nan: equal_nan compares them
    b = np.array(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


def _race(page, formula: str, opts: list[dict], steps: int) -> None:
    _set_formula(page, formula)
    while page.locator("#opt-list .opt").count() < len(opts):
        page.click("#add-opt")
    for i, o in enumerate(opts):
        _set_opt(page, i, **o)
    page.fill("#steps", str(steps))
    page.click("#run")
    page.wait_for_function(DONE)


def _api_opts(opts: list[dict]) -> list[dict]:
    return [{k: (float(v) if k not in ("name", "kind") else v) for k, v in o.items()} for o in opts]


def _shot(page, tmp_path: Path, name: str) -> Path:
    from PIL import Image

    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / name)
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.std() > 10, f"{name} looks blank"
    assert len(np.unique(img.reshape(-1, 3)[::7], axis=0)) > 3, f"{name} has almost no colours"
    return path


def test_surface_race_draws_the_api_paths_and_losses(server, page, tmp_path):
    _open(page, server + "/")
    _set_formula(page, "x**2 + 3*y**2")      # a typed formula: x and y from -3 to 3
    box = page.locator("#surface-plot .nsewdrag").bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])   # about (1.5, 1.5)
    x0 = [float(page.input_value("#x0x")), float(page.input_value("#x0y"))]
    assert x0 != [1.8, 1.5] and abs(x0[0] - 1.5) < 0.2 and abs(x0[1] - 1.5) < 0.2, x0
    opts = [{"name": "gd", "lr": 0.1}, {"name": "momentum", "lr": 0.05, "momentum": 0.9}]
    _race(page, "x**2 + 3*y**2", opts, 40)

    api = httpx.post(server + "/api/run", json={"formula": "x**2 + 3*y**2", "x0": x0,
                                                 "optimizers": _api_opts(opts), "steps": 40}).json()
    drawn = page.evaluate(PATHS_JS, "surface-plot")
    assert ([d["name"] for d in drawn] == [r["label"] for r in api["runs"]]
            == ["gd, lr 0.1", "momentum, lr 0.05, momentum 0.9"])
    for d, r in zip(drawn, api["runs"]):
        path = np.array(r["path"], dtype=float)
        assert len(d["x"]) == 41
        _close(d["x"], path[:, 0])
        _close(d["y"], path[:, 1])
    losses = page.evaluate(LOSS_JS, "loss-plot")
    assert [d["name"] for d in losses] == [r["label"] for r in api["runs"]]
    for d, r in zip(losses, api["runs"]):
        _close(d["y"], r["loss"])
    assert page.evaluate("window.gradstepLast.runs.length") == 2
    # the player steps: "to end" puts the current-iterate marker on the last point of the path
    page.click("#surface-to-end")
    now = page.evaluate("document.getElementById('surface-plot').data.filter(t => t.meta === 'now')"
                        ".map(t => [t.x[0], t.y[0]])")
    _close(now, [r["path"][-1] for r in api["runs"]])
    assert page.input_value("#surface-slider") == "40"
    # "Download history" saves the runs' history JSON (one list, an entry per optimiser)
    with page.expect_download() as info:
        page.click("#download")
    saved = json.loads(Path(info.value.path()).read_text())
    assert [e["label"] for e in saved] == [r["label"] for r in api["runs"]]
    assert saved[0]["history"] == api["runs"][0]["history"]


def test_data_mode_fit_of_an_uploaded_csv(server, page, tmp_path):
    from gradstep import LinearRegression

    rng = np.random.default_rng(7)
    x = np.round(np.linspace(0, 5, 30), 6)
    y = np.round(1.5 * x - 2 + rng.normal(0, 0.3, x.size), 6)
    csv = tmp_path / "points.csv"
    csv.write_text("size,price\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(x, y)))

    _open(page, server + "/")
    page.click("#tab-data")
    page.set_input_files("#csv-file", str(csv))
    page.wait_for_function("document.getElementById('points-info').textContent.includes('30 uploaded points')")
    page.select_option("#method", "minibatch")
    page.fill("#batch-size", "8")
    page.fill("#epochs", "30")
    page.fill("#seed", "3")
    page.locator('#fit-opt [data-k="lr"]').fill("0.02")
    page.click("#fit")
    page.wait_for_function(DONE)
    page.click("#data-to-end")

    model = LinearRegression(optimizer="gd", lr=0.02, optimizer_params=None, clip_value=None, clip_norm=None,
                             batch_size=8, epochs=30, tol=None, random_state=3, shuffle=True,
                             sufficient_stats=False).fit(x[:, None], y)
    h = model.history_
    expected = np.vstack([h.params, np.asarray(h.final_params, dtype=float)[None, :]])
    drawn = page.evaluate(PATHS_JS, "contour-plot")
    assert len(drawn) == 1 and len(drawn[0]["x"]) == expected.shape[0] == 30 * 4 + 1
    _close(drawn[0]["x"], expected[:, 0])
    _close(drawn[0]["y"], expected[:, 1])

    line = page.evaluate("document.getElementById('data-plot').data.find(t => t.meta === 'line')")
    w, b = line["customdata"][0]
    _close([w, b], [float(np.ravel(model.coef_)[0]), float(model.intercept_)])
    _close(line["y"], [w * x.min() + b, w * x.max() + b])
    closed = page.evaluate("document.getElementById('contour-plot').data.find(t => t.meta === 'closed')")
    _close([closed["x"][0], closed["y"][0]], np.polyfit(x, y, 1), tol=1e-9)

    api = httpx.post(server + "/api/fit", json={"x": x.tolist(), "y": y.tolist(), "method": "minibatch",
                                                 "batch_size": 8, "epochs": 30, "seed": 3,
                                                 "optimizer": {"name": "gd", "lr": 0.02}}).json()
    _close(drawn[0]["x"], np.array(api["path"])[:, 0])
    _close(page.evaluate(LOSS_JS, "fit-loss-plot")[0]["y"], api["loss"])
    # small uploads travel in the link
    assert "px=" in page.url and "src=upload" in page.url


def test_shared_url_reproduces_the_run(server, browser, page):
    _open(page, server + "/")
    page.select_option("#preset", "elongated bowl")
    page.wait_for_function("document.getElementById('surface-title').textContent.endsWith('10*y**2')")
    page.wait_for_function(READY)
    opts = [{"name": "gd", "lr": 0.05}, {"name": "adam", "lr": 0.3, "beta1": 0.8, "kind": "step", "step_size": 20}]
    _race(page, "x**2 + 10*y**2", opts, 60)
    first = page.evaluate(PATHS_JS, "surface-plot")
    url = page.url
    assert "run=1" in url

    other = page.context.new_page()
    _open(other, url, DONE)
    assert other.input_value("#formula") == "x**2 + 10*y**2"
    assert other.locator("#opt-list .opt").count() == 2
    assert other.evaluate(PATHS_JS, "surface-plot") == first
    assert other.evaluate("JSON.stringify(window.gradstepLast)") == page.evaluate("JSON.stringify(window.gradstepLast)")
    assert first[1]["name"] == "adam, lr 0.3, betas 0.8/0.999, step"


def test_divergence_is_shown_with_the_stable_learning_rate(server, page):
    _open(page, server + "/")
    _race(page, "x**2 + y**2", [{"name": "gd", "lr": 1.5}], 50)
    first = page.locator("#messages .msg").first.inner_text()
    assert first.startswith("gd, lr 1.5 diverged at step 10: the loss grew to ")
    # once, concisely: the loop's message says the stable lr twice and names the Hessian
    assert first.count("Stable learning rate: about 1 ") == 1 and "Hessian" not in first and "\n" not in first.strip()
    assert "largest stable" not in first.lower()
    path = page.evaluate(PATHS_JS, "surface-plot")[0]
    assert max(abs(v) for v in path["x"] if v is not None) > 100      # it left the plot (x in [-3, 3])
    assert page.is_hidden("#error")
    _in_view(page, "#messages")


def test_bad_formula_shows_the_api_error(server, page):
    _open(page, server + "/")
    page.fill("#formula", "x**2 +* y")
    page.click("#run")
    page.wait_for_function("document.body.dataset.state === 'error'")
    detail = httpx.post(server + "/api/surface", json={"formula": "x**2 +* y"}).json()["detail"]
    assert page.is_visible("#error")
    assert detail in page.inner_text("#error")


def test_screenshots_are_not_blank(server, page, tmp_path):
    opts = "&".join(f"o={o}" for o in ["gd,lr=0.001", "momentum,lr=0.001", "adam,lr=0.05"])
    _open(page, f"{server}/?mode=surface&p=Rosenbrock&n=400&{opts}&run=1", DONE)
    page.click("#surface-to-end")
    _shot(page, tmp_path, "surface.png")
    page.goto(f"{server}/?mode=data&src=bundled&m=minibatch&bs=10&ep=20&do=gd,lr=0.01&run=1")
    page.wait_for_function(DONE)
    page.click("#data-pause")
    page.click("#data-slider")   # the middle of the run
    _shot(page, tmp_path, "data.png")
    runs = json.loads(page.evaluate("JSON.stringify(window.gradstepLast.history)"))
    assert runs["format"] == "gradstep.history"


def test_large_upload_is_not_put_in_the_link(server, page, tmp_path):
    csv = tmp_path / "many.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(250)))
    _open(page, server + "/?mode=data")
    page.set_input_files("#csv-file", str(csv))
    page.wait_for_function("document.getElementById('points-info').textContent.includes('250 uploaded points')")
    assert page.is_visible("#upload-note")
    assert "upload the CSV again" in page.inner_text("#upload-note")
    assert "np=250" in page.url and "px=" not in page.url
    other = page.context.new_page()
    _open(other, page.url)
    assert "upload the same file again" in other.inner_text("#upload-note")


# ============================================================== a learner's first hour (issue 17)

RUN_STATE = "['done', 'error'].includes(document.body.dataset.state)"
OVERFLOW_JS = "[document.documentElement.scrollWidth, window.innerWidth]"
SCALE_JS = """id => { const f = document.getElementById(id)._fullLayout, x = f.xaxis, y = f.yaxis;
  return {x: (x.range[1] - x.range[0]) / x._length, y: (y.range[1] - y.range[0]) / y._length,
          anchor: y.scaleanchor,
          bar: document.getElementById(id).data.filter(t => t.type === 'contour').map(t => t.showscale)}; }"""
STYLE_JS = """id => document.getElementById(id).data.filter(t => t.meta === 'trail')
                 .map(t => ({width: t.line.width, dash: t.line.dash, color: t.line.color}))"""


def _presets(server) -> list[dict]:
    return httpx.get(server + "/api/presets").json()


def _in_view(page, selector: str) -> dict:
    """The element is visible inside the window (not above or below what the learner sees)."""
    box = page.locator(selector).bounding_box()
    height = page.evaluate("window.innerHeight")
    assert box is not None and box["height"] > 0, selector
    assert box["y"] >= 0 and box["y"] + min(box["height"], 40) <= height, (selector, box, height)
    return box


def _no_overflow(page, when: str) -> None:
    wide, window = page.evaluate(OVERFLOW_JS)
    assert wide <= window, f"{when}: the page is {wide} px wide in a {window} px window"


def _run_preset(page, name: str) -> dict:
    page.select_option("#preset", name)
    page.wait_for_function(READY)
    page.click("#run")
    page.wait_for_function(RUN_STATE)
    return page.evaluate("window.gradstepLast")


def test_every_preset_races_as_given_without_error_or_divergence(server, page):
    _open(page, server + "/")
    for p in _presets(server):
        res = _run_preset(page, p["name"])
        assert page.evaluate("document.body.dataset.state") == "done", (p["name"], page.inner_text("#error"))
        assert page.is_hidden("#error"), p["name"]
        # the preset's own settings were sent: its start, steps and optimisers
        assert float(page.input_value("#steps")) == p["steps"]
        assert [r["path"][0] for r in res["runs"]] == [p["x0"]] * len(p["optimizers"]), p["name"]
        assert len(res["runs"]) == len(p["optimizers"]) and not any(r["diverged"] for r in res["runs"]), p["name"]
        assert "diverged" not in page.inner_text("#messages"), p["name"]
        drawn = page.evaluate(PATHS_JS, "surface-plot")
        for d, r in zip(drawn, res["runs"]):   # 2-D: the (x, y) path; 1-D: on the curve, at f(x)
            _close(d["x"], [q[0] for q in r["path"]])
            _close(d["y"], [q[1] for q in r["path"]] if len(p["x0"]) == 2 else r["values"])
        minima = page.evaluate("document.getElementById('surface-plot').data.filter(t => t.meta === 'minimum')"
                               ".map(t => Array.from(t.x))")
        assert minima == ([[m[0] for m in p["minima"]]] if p["minima"] else []), p["name"]


@pytest.mark.parametrize("formula", ["x**2", "(2 - x**2 * sin(x))**2"])
def test_a_typed_one_variable_formula_runs_on_its_curve(server, page, formula):
    _open(page, server + "/")
    page.select_option("#preset", "Rosenbrock")       # its ranges, start and lrs must not carry over
    page.wait_for_function(READY)
    _set_formula(page, formula)
    assert page.input_value("#preset") == ""
    assert [page.input_value(i) for i in ("#xmin", "#xmax")] == ["-3", "3"]
    assert page.is_hidden("#yrange-row") and page.is_hidden("#x0y-field")
    x0 = float(page.input_value("#x0x"))
    assert -3 < x0 < 3 and abs(x0) > 0.3, x0         # inside the range, not at the stationary point 0
    page.click("#run")
    page.wait_for_function(RUN_STATE)
    assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#error")
    assert page.is_hidden("#error")
    res = page.evaluate("window.gradstepLast")
    assert res["variables"] == ["x"] and not any(r["diverged"] for r in res["runs"])
    f = (lambda x: x**2) if formula == "x**2" else (lambda x: (2 - x**2 * np.sin(x))**2)
    for d, _ in zip(page.evaluate(PATHS_JS, "surface-plot"), res["runs"]):
        assert d["x"][0] == x0
        _close(d["y"], f(np.array(d["x"])), tol=1e-9)    # drawn on the curve, the last point included
    mark = page.evaluate("document.getElementById('surface-plot').data.find(t => t.meta === 'minimum')")
    assert mark["name"] == "lowest grid point"


def test_a_typed_formula_gets_its_own_ranges_and_start(server, page):
    _open(page, server + "/")
    page.select_option("#preset", "Rosenbrock")
    page.wait_for_function(READY)
    _set_formula(page, "x**2 + y**2")
    assert [page.input_value(i) for i in ("#xmin", "#xmax", "#ymin", "#ymax")] == ["-3", "3", "-3", "3"]
    x0 = [float(page.input_value("#x0x")), float(page.input_value("#x0y"))]
    assert all(-3 < v < 3 for v in x0) and np.hypot(*x0) > 0.5, x0   # not at the minimum (0, 0)
    page.press("#formula", "Enter")                                     # the same formula again: the start stays
    page.wait_for_function(READY)
    assert [float(page.input_value("#x0x")), float(page.input_value("#x0y"))] == x0


def test_overlapping_paths_stay_visible(server, page):
    _open(page, server + "/")
    _race(page, "x**2 + 3*y**2", [{"name": "gd", "lr": 0.1}, {"name": "sgd", "lr": 0.1}], 30)
    paths = page.evaluate(PATHS_JS, "surface-plot")
    assert paths[0]["x"] == paths[1]["x"] and paths[0]["y"] == paths[1]["y"]     # the very same path
    first, second = page.evaluate(STYLE_JS, "surface-plot")
    # drawn later, so on top: narrower and dashed, in another colour, so the first shows around it
    assert second["width"] < first["width"] and second["dash"] != first["dash"] and second["color"] != first["color"]


@pytest.mark.parametrize("name", ["bowl", "elongated bowl", "Beale", "Himmelblau"])
@pytest.mark.parametrize("size", SIZES)
def test_contours_are_drawn_to_scale_with_a_colour_bar(server, browser, name, size):
    context = browser.new_context(viewport=dict(zip(("width", "height"), SIZES[size])))
    try:
        page = context.new_page()
        _open(page, server + "/")
        _run_preset(page, name)
        page.wait_for_timeout(300)     # a narrow window gives back the height the scaled y axis leaves empty
        scale = page.evaluate(SCALE_JS, "surface-plot")
        assert scale["anchor"] == "x" and scale["bar"] == [True]
        assert abs(scale["x"] / scale["y"] - 1) < 0.02, scale      # equal units per pixel
    finally:
        context.close()


@pytest.mark.parametrize("size", SIZES)
def test_both_modes_fit_the_window_before_and_after_a_run(server, browser, size):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        _open(page, server + "/")
        _no_overflow(page, "surface mode, first view")
        res = _run_preset(page, "Rosenbrock")               # three optimisers: the longest controls
        assert not any(r["diverged"] for r in res["runs"])
        page.click("#surface-to-end")
        page.wait_for_timeout(300)
        _no_overflow(page, "surface mode after a run")
        _screens(page, f"surface-{size}.png")
        page.click("#tab-data")
        page.wait_for_timeout(300)                           # Plotly resizes the plots drawn while hidden
        _no_overflow(page, "data mode, first view")
        for plot in ("data-plot", "contour-plot", "fit-loss-plot"):
            drawn, room = page.evaluate("id => [document.getElementById(id)._fullLayout.width, "
                                        "document.getElementById(id).clientWidth]", plot)
            assert drawn <= room + 1, (plot, drawn, room)
        page.click("#fit")
        page.wait_for_function(DONE)
        page.click("#data-to-end")
        page.wait_for_timeout(300)
        _no_overflow(page, "data mode after a fit")
        _screens(page, f"data-{size}.png")
        # the player's buttons stay on one row, inside the card
        tops = page.evaluate("[...document.querySelectorAll('#data-player button')]"
                             ".map(b => b.getBoundingClientRect().top)")
        assert max(tops) - min(tops) < 2, tops
    finally:
        context.close()


def _screens(page, name: str) -> None:
    """A full-page screenshot for a person to look at (SHOTS), checked not to be blank."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=True)
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.std() > 10, f"{name} looks blank"


def test_errors_and_divergence_show_beside_the_run_button(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        _open(page, server + "/")
        page.select_option("#preset", "Rosenbrock")           # three optimiser cards
        page.wait_for_function(READY)
        page.fill("#xmin", "5")                                # an empty range: the API refuses it
        page.click("#run")
        page.wait_for_function("document.body.dataset.state === 'error'")
        error = _in_view(page, "#error")
        run = page.locator("#run").bounding_box()
        assert 0 <= error["y"] - (run["y"] + run["height"]) < 30, (error, run)
        assert "xrange" in page.inner_text("#error")
        page.fill("#xmin", "-2")
        _set_opt(page, 0, lr=0.01)                              # gd far above the stable lr
        page.click("#run")
        page.wait_for_function(DONE)
        assert page.is_hidden("#error")
        box = _in_view(page, "#messages .msg.diverged")
        assert box["y"] - (run["y"] + run["height"]) < 30
        text = page.inner_text("#messages .msg.diverged")
        assert text.startswith("gd, lr 0.01 diverged at step ")
        assert text.count("Stable learning rate: about 0.001328") == 1
    finally:
        context.close()


def test_a_plot_drawn_while_its_mode_was_hidden_is_drawn_again_when_shown(server, page):
    _open(page, server + "/?mode=data")           # the contours are drawn while surface mode is hidden
    page.click("#tab-surface")
    page.wait_for_timeout(300)
    size = page.evaluate("""() => { const d = document.getElementById('surface-plot'), f = d._fullLayout;
        return {drawn: f.width, room: d.clientWidth, height: d.clientHeight, area: f.xaxis._length}; }""")
    assert abs(size["drawn"] - size["room"]) <= 1 and size["height"] >= 300 and size["area"] >= 300, size
    scale = page.evaluate(SCALE_JS, "surface-plot")
    assert abs(scale["x"] / scale["y"] - 1) < 0.02, scale


# ============================================================== every optimiser of the registry (issue 19)

FIELDS_JS = """() => [...document.querySelectorAll('#opt-list .opt')].map(c => ({
  name: c.querySelector('[data-k="name"]').value,
  options: [...c.querySelectorAll('[data-k="name"] option')].map(o => o.value),
  shown: [...c.querySelectorAll('.opt-grid .field')].filter(f => !f.hidden).map(f => f.dataset.field)}))"""
FIT_JS = """() => [...document.querySelectorAll('.opt')].filter(c => c.getBoundingClientRect().width > 0)
  .map(c => { const card = c.getBoundingClientRect();
    return [...c.querySelectorAll('select, input')].filter(e => e.offsetParent !== null).map(e => {
      const r = e.getBoundingClientRect();
      return {k: e.dataset.k, left: r.left - card.left, right: card.right - r.right, width: r.width}; }); })"""


def _published(server) -> list[dict]:
    return httpx.get(server + "/api/optimizers").json()


def _race_lr(o: dict) -> float:
    """A learning rate at which every optimiser moves visibly on the bowl in 100 steps and none diverges:
    its own default where that is at least 0.1 (Adadelta's 1, L-BFGS's 1), else 0.1."""
    return max(o["lr"], 0.1)


def _cards(page, n: int) -> None:
    """Exactly ``n`` optimiser cards (added with "+ Add optimiser", removed with their ✕)."""
    while page.locator("#opt-list .opt").count() < n:
        page.click("#add-opt")
    while page.locator("#opt-list .opt").count() > n:
        page.locator("#opt-list .opt .remove").last.click()


def _expected_fields(o: dict) -> list[str]:
    shown = ["lr", *(["momentum"] if "momentum" in o["settings"] else []),
             *(["beta1", "beta2"] if "betas" in o["settings"] else []),
             *(["kind"] if o["schedule"] else []), "clip_value", "clip_norm"]
    return shown


def test_every_published_optimizer_races_on_a_preset(server, page):
    """Every optimiser the server publishes (``GET /api/optimizers``: the registry), raced on the bowl preset
    in groups of at most ``LIMITS["optimizers"]``: the select offers exactly the published names, each card
    shows the fields its optimiser takes (momentum, β₁/β₂, a schedule) with its defaults, and each run draws
    its path and loss curve -- the API's -- with no error shown and no divergence."""
    published = _published(server)
    limit = httpx.get(server + "/api/limits").json()["optimizers"]
    _open(page, server + "/")
    page.select_option("#preset", "bowl")
    page.wait_for_function(READY)
    preset = next(p for p in _presets(server) if p["name"] == "bowl")
    for start in range(0, len(published), limit):
        group = published[start:start + limit]
        _cards(page, len(group))
        for i, o in enumerate(group):
            _set_opt(page, i, name=o["name"], lr=_race_lr(o))
        cards = page.evaluate(FIELDS_JS)
        for card, o in zip(cards, group, strict=True):
            assert card["options"] == [q["name"] for q in published]
            assert card["name"] == o["name"] and card["shown"] == _expected_fields(o), (o, card)
        for i, o in enumerate(group):   # the fields start at the optimiser's own defaults
            card = page.locator("#opt-list .opt").nth(i)
            if "momentum" in o["settings"]:
                assert float(card.locator('[data-k="momentum"]').input_value()) == o["settings"]["momentum"]
            if "betas" in o["settings"]:
                assert [float(card.locator(f'[data-k="beta{j}"]').input_value()) for j in (1, 2)] == \
                    o["settings"]["betas"]
        page.click("#run")
        page.wait_for_function(RUN_STATE)
        names = [o["name"] for o in group]
        assert page.evaluate("document.body.dataset.state") == "done", (names, page.inner_text("#error"))
        assert page.is_hidden("#error"), names
        res = page.evaluate("window.gradstepLast")
        assert not any(r["diverged"] for r in res["runs"]), names
        assert "diverged" not in page.inner_text("#messages"), names
        body = {"formula": preset["formula"], "x0": preset["x0"], "steps": preset["steps"],
                "optimizers": [{"name": o["name"], "lr": _race_lr(o)} for o in group]}
        api = httpx.post(server + "/api/run", json=body).json()["runs"]
        drawn, losses = page.evaluate(PATHS_JS, "surface-plot"), page.evaluate(LOSS_JS, "loss-plot")
        assert [d["name"] for d in drawn] == [d["name"] for d in losses] == [r["label"] for r in api]
        for o, d, loss, r in zip(group, drawn, losses, api, strict=True):
            assert r["label"].startswith(f"{o['name']}, lr ") and len(d["x"]) >= 2, (o, r["label"])
            path = np.array(r["path"], dtype=float)
            _close(d["x"], path[:, 0])
            _close(d["y"], path[:, 1])
            _close(loss["y"], r["loss"])
            assert r["values"][-1] < r["values"][0], (o, r["values"][-1])   # f at the path's ends
    # the link carries the last group: opened elsewhere it races the same optimisers to the same paths
    other = page.context.new_page()
    _open(other, page.url + "&run=1" if "run=1" not in page.url else page.url, DONE)
    assert other.evaluate(PATHS_JS, "surface-plot") == page.evaluate(PATHS_JS, "surface-plot")


def test_switching_optimizer_shows_its_fields_and_the_link_keeps_its_settings(server, page):
    """A card switched to another optimiser shows that one's fields with its defaults; settings that differ
    from them travel in the link (``m``, ``b1``, ``b2``) and come back; an optimiser whose lr is a number
    (Rprop) shows no schedule and sends none."""
    published = {o["name"]: o for o in _published(server)}
    _open(page, server + "/")
    _set_formula(page, "x**2 + 3*y**2")
    _cards(page, 1)
    _set_opt(page, 0, name="momentum")
    card = page.locator("#opt-list .opt").first
    assert float(card.locator('[data-k="momentum"]').input_value()) == published["momentum"]["settings"]["momentum"]
    adamlike = next(n for n, o in published.items() if "betas" in o["settings"] and n != "adam")
    _set_opt(page, 0, name=adamlike, lr=0.2, beta1=0.7)
    assert card.locator('[data-field="momentum"]').is_hidden() and card.locator('[data-field="beta1"]').is_visible()
    fixed = [n for n, o in published.items() if not o["schedule"]]
    _cards(page, 2)
    _set_opt(page, 1, name=fixed[0], lr=0.05)
    assert page.locator("#opt-list .opt").nth(1).locator('[data-field="kind"]').is_hidden()
    page.fill("#steps", "30")
    page.click("#run")
    page.wait_for_function(DONE)
    runs = page.evaluate("window.gradstepLast.runs")
    assert runs[0]["label"] == f"{adamlike}, lr 0.2, betas 0.7/{published[adamlike]['settings']['betas'][1]:g}"
    assert runs[1]["label"] == f"{fixed[0]}, lr 0.05"
    assert f"o={adamlike}%2Clr%3D0.2%2Cb1%3D0.7&" in page.url + "&", page.url
    other = page.context.new_page()
    _open(other, page.url, DONE)
    assert other.evaluate("window.gradstepLast.runs.map(r => r.label)") == [r["label"] for r in runs]
    assert other.evaluate(PATHS_JS, "surface-plot") == page.evaluate(PATHS_JS, "surface-plot")


@pytest.mark.parametrize("size", SIZES)
def test_optimizer_cards_fit_the_window(server, browser, size):
    """The longest names and every kind of card (momentum, β₁/β₂, no schedule) at desktop and phone width:
    the page does not overflow, and each select and field lies inside its card (screenshots in SHOTS)."""
    published = _published(server)
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        _open(page, server + "/")
        longest = max(published, key=lambda o: len(o["name"]))
        kinds = [next(o for o in published if "momentum" in o["settings"] and o["settings"]["momentum"]),
                 next(o for o in published if "betas" in o["settings"]),
                 next((o for o in published if not o["schedule"]), published[0]), longest]
        _cards(page, len(kinds))
        for i, o in enumerate(kinds):
            _set_opt(page, i, name=o["name"], lr=_race_lr(o))
        page.click("#run")
        page.wait_for_function(RUN_STATE)
        assert page.evaluate("document.body.dataset.state") == "done", page.inner_text("#error")
        page.wait_for_timeout(300)
        _no_overflow(page, f"{size}: four optimiser cards")
        for card in page.evaluate(FIT_JS):
            for el in card:
                assert el["left"] >= 0 and el["right"] >= 0 and el["width"] >= 40, (size, el)
        _screens(page, f"optimizers-{size}.png")
        page.click("#tab-data")
        page.wait_for_timeout(300)
        _set_fit = page.locator('#fit-opt [data-k="name"]')
        _set_fit.select_option(kinds[1]["name"])
        _no_overflow(page, f"{size}: data mode with {kinds[1]['name']}")
        for card in page.evaluate(FIT_JS):
            for el in card:
                assert el["left"] >= 0 and el["right"] >= 0 and el["width"] >= 40, (size, el)
    finally:
        context.close()
