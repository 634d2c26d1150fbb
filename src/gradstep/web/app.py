r"""The playground's server: a FastAPI app whose JSON API runs gradstep, and the static page that draws it.

Every computation is gradstep's own: ``/api/run`` is :func:`gradstep.minimize` once per optimiser,
``/api/fit`` is :class:`gradstep.LinearRegression` on the points, ``/api/surface`` evaluates the
parsed formula on a grid (:func:`gradstep.expression.parse`: the safe parser, never ``eval``).
The page (``static/``) only draws what the API returns, with the copy of Plotly.js that the
``plotly`` Python package ships (served from ``/static/plotly.min.js``: nothing from outside).

Limits (:data:`LIMITS`) bound every request: formula length, steps, grid, optimisers, points,
upload size and time. Breaking one is a 4xx answer whose ``detail`` is one sentence saying
what to change; the OpenAPI schema (``/openapi.json``) documents the API.

:data:`SERVER_LIMITS` bound the server as a whole, so that no mix of requests makes it stop answering
or grow without bound (``benchmarks/playground_load.py`` measures it under load):

* a request body larger than ``body_bytes`` is refused with **413** before it is read -- from its
  ``Content-Length``, or as soon as a body sent without one (chunked) passes the bound -- instead of
  being read whole into memory and parsed;
* at most ``computations`` computations run at once, the machine's cores up to 4 (worker threads that
  share one interpreter lock: more would not compute faster, only slow every answer, and push requests
  that take a few seconds alone past ``LIMITS["seconds"]``: with 4 on 2 cores the load test saw such
  408s, with 2 none); a request
  beyond them waits for a slot, first come first served, at most ``queue_seconds``, with at most
  ``queued`` others; past either it is answered **503** with ``Retry-After``. A request's
  ``LIMITS["seconds"]`` count from when it has a slot; its slot is given back when its computation has
  really stopped (after a 408, at its next step).

Examples
--------
>>> from fastapi.testclient import TestClient
>>> client = TestClient(create_app())
>>> r = client.post("/api/run", json={"formula": "x**2 + y**2", "x0": [3, 2],
...                                   "optimizers": [{"name": "gd", "lr": 0.1}], "steps": 2})
>>> r.status_code, r.json()["runs"][0]["path"]
(200, [[3.0, 2.0], [2.4, 1.6], [1.92, 1.28]])
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import threading
import warnings
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..optim import REGISTRY

LIMITS = {
    "formula_chars": 200,
    "steps": 10_000,
    "grid": 200,
    "optimizers": 4,
    "points": 5_000,
    "upload_bytes": 1_000_000,
    "seconds": 10.0,
}
"""The bounds of a request (``/api/limits`` tells the page)."""

SERVER_LIMITS = {
    "body_bytes": 1_100_000,
    "computations": max(1, min(4, os.cpu_count() or 1)),
    "queued": 64,
    "queue_seconds": 30.0,
}
"""The bounds of the server as a whole: the largest request body (the largest upload and its form's
framing; the largest JSON body, 5000 points, is about 250 kB), the computations run at once, the
requests that may wait for one and how long (see the module's text)."""

STATIC = Path(__file__).parent / "static"

def _gd(lr: float) -> dict[str, Any]:
    return {"name": "gd", "lr": lr}


def _momentum(lr: float, momentum: float) -> dict[str, Any]:
    return {"name": "momentum", "lr": lr, "momentum": momentum}


PRESETS: list[dict[str, Any]] = [
    {"name": "bowl", "formula": "x**2 + y**2", "x0": [3.0, 2.0], "xrange": [-4.0, 4.0], "yrange": [-4.0, 4.0],
     "steps": 100, "optimizers": [_gd(0.1), _momentum(0.05, 0.8)], "minima": [[0.0, 0.0]]},
    {"name": "elongated bowl", "formula": "x**2 + 10*y**2", "x0": [3.0, 1.5], "xrange": [-4.0, 4.0],
     "yrange": [-2.5, 2.5], "steps": 100, "optimizers": [_gd(0.09), _momentum(0.05, 0.5)], "minima": [[0.0, 0.0]]},
    {"name": "Rosenbrock", "formula": "(1 - x)**2 + 100*(y - x**2)**2", "x0": [-1.2, 1.0], "xrange": [-2.0, 2.0],
     "yrange": [-1.0, 3.0], "steps": 2000,
     "optimizers": [_gd(0.0012), _momentum(0.0008, 0.9), {"name": "adam", "lr": 0.05}], "minima": [[1.0, 1.0]]},
    {"name": "saddle", "formula": "x**2 - y**2", "x0": [2.0, 0.01], "xrange": [-3.0, 3.0], "yrange": [-3.0, 3.0],
     "steps": 30, "optimizers": [_gd(0.1), _momentum(0.05, 0.9)], "minima": []},
    {"name": "Himmelblau", "formula": "(x**2 + y - 11)**2 + (x + y**2 - 7)**2", "x0": [0.0, 0.0],
     "xrange": [-5.0, 5.0], "yrange": [-5.0, 5.0], "steps": 300, "optimizers": [_gd(0.01), _momentum(0.005, 0.9)],
     "minima": [[3.0, 2.0], [-2.805118, 3.131313], [-3.77931, -3.283186], [3.584428, -1.848126]]},
    {"name": "Beale", "formula": "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
     "x0": [1.0, 1.0], "xrange": [-0.5, 4.5], "yrange": [-1.5, 2.0], "steps": 2000,
     "optimizers": [_gd(0.02), _momentum(0.005, 0.9), {"name": "adam", "lr": 0.05}], "minima": [[3.0, 0.5]]},
    {"name": "one-variable curve", "formula": "(2 - x**2 * sin(x))**2", "x0": [0.5], "xrange": [-3.0, 3.0],
     "yrange": None, "steps": 100, "optimizers": [_gd(0.1), _momentum(0.02, 0.7)],
     "minima": [[1.422083392947465], [2.901780227173435]]},
]
"""The preset surfaces, each with what a first race needs: a start, the plotted ranges, steps and the
optimisers (settings under which none diverges: ``tests/test_web_api.py`` runs them through
:func:`gradstep.minimize`), and its minima in the plotted ranges (``[]``: it has none)."""

BIG = 1e100
"""The largest magnitude a number in a request may have (squares and sums of them stay finite)."""

Number = Annotated[float, Field(ge=-BIG, le=BIG, allow_inf_nan=False)]
POINT = 1e9
"""The largest magnitude of a data-mode coordinate (sums of squares of 5000 points stay exact enough)."""
Point = Annotated[float, Field(ge=-POINT, le=POINT, allow_inf_nan=False)]
Range = Annotated[list[Number], Field(min_length=2, max_length=2, description="[low, high], low < high")]
Formula = Annotated[str, Field(min_length=1, max_length=LIMITS["formula_chars"])]


class Schedule(BaseModel):
    """A learning-rate schedule applied to ``lr`` (see :mod:`gradstep.optim.schedules`)."""

    kind: Literal["constant", "step", "exponential", "inverse_time", "cosine"] = "constant"
    step_size: Annotated[int, Field(ge=1, le=100_000)] = 100
    gamma: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.5
    power: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 1.0
    t_max: Annotated[int, Field(ge=1, le=100_000)] = 1000


RACE_SETTINGS = ("momentum", "betas")
"""The hyper-parameters a race sets besides ``lr`` (an optimiser's card shows those its factory takes)."""

if TYPE_CHECKING:
    OptimizerName = str
else:   # the registry's names, as an enum in the schema and in the 422 that lists the choices
    OptimizerName = Literal[tuple(REGISTRY)]


def optimizers() -> list[dict[str, Any]]:
    """What the page offers: every name of :data:`gradstep.optim.REGISTRY`, its default ``lr`` (torch's),
    whether it takes a schedule, its ``torch.optim`` counterpart, and the :data:`RACE_SETTINGS` its factory
    takes with their defaults (``betas`` as a list)."""
    published = []
    for name, entry in REGISTRY.items():
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in entry.defaults.items() if k in RACE_SETTINGS}
        published.append({"name": name, "lr": float(entry.default_lr), "schedule": entry.takes_schedule,
                          "torch": entry.torch, "settings": settings})
    return published


class OptimizerSpec(BaseModel):
    """One optimiser of a race: its name (one of ``GET /api/optimizers``) and settings (torch's names)."""

    name: OptimizerName = "gd"
    lr: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] = 0.1
    momentum: Annotated[float | None, Field(ge=0, lt=1, allow_inf_nan=False, description=(
        "for the optimisers that take a momentum (GET /api/optimizers); left out: the optimiser's default"))] = None
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]] | None,
                     Field(min_length=2, max_length=2, description=(
                         "for the optimisers that take betas (GET /api/optimizers); left out: the optimiser's "
                         "default"))] = None
    schedule: Schedule = Schedule()
    clip_value: Annotated[float | None, Field(gt=0, le=1e12, allow_inf_nan=False)] = None
    clip_norm: Annotated[float | None, Field(gt=0, le=1e12, allow_inf_nan=False)] = None
    label: Annotated[str | None, Field(max_length=60)] = None


class SurfaceRequest(BaseModel):
    formula: Formula
    xrange: Range = [-4.0, 4.0]
    yrange: Range | None = [-4.0, 4.0]
    grid: Annotated[int, Field(ge=2, le=LIMITS["grid"])] = 80


class RunRequest(BaseModel):
    formula: Formula
    x0: Annotated[list[Number], Field(min_length=1, max_length=2)]
    optimizers: Annotated[list[OptimizerSpec], Field(min_length=1, max_length=LIMITS["optimizers"])]
    steps: Annotated[int, Field(ge=1, le=LIMITS["steps"])] = 50


class FitRequest(BaseModel):
    x: Annotated[list[Point], Field(min_length=2, max_length=LIMITS["points"])]
    y: Annotated[list[Point], Field(min_length=2, max_length=LIMITS["points"])]
    method: Literal["full", "minibatch", "sgd"] = "full"
    batch_size: Annotated[int, Field(ge=1, le=LIMITS["points"])] = 10
    epochs: Annotated[int, Field(ge=1, le=LIMITS["steps"])] = 100
    optimizer: OptimizerSpec = OptimizerSpec(lr=0.01)
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    grid: Annotated[int, Field(ge=2, le=LIMITS["grid"])] = 60

    @model_validator(mode="after")
    def _same_length(self) -> FitRequest:
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} values and y has {len(self.y)}: give one y per x")
        return self


class Refusal(BaseModel):
    """A refused request: one sentence saying what to change."""

    detail: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    408: {"model": Refusal, "description": "The computation ran longer than `LIMITS['seconds']`; it is stopped."},
    413: {"model": Refusal, "description": "The body is larger than `SERVER_LIMITS['body_bytes']` (or the "
                                           "upload larger than `LIMITS['upload_bytes']`); it is not read."},
    503: {"model": Refusal, "description": "Busy: `SERVER_LIMITS['computations']` run and no slot came free in "
                                           "`SERVER_LIMITS['queue_seconds']` (or `SERVER_LIMITS['queued']` "
                                           "requests already wait); see the `Retry-After` header."},
}
"""The refusals every computing endpoint may answer besides 422, as the OpenAPI schema lists them."""


_WARNINGS = threading.Lock()
"""``warnings.catch_warnings`` changes the process's filters: one fit records its warnings at a time."""


def _schedule(lr: float, s: Schedule) -> Any:
    from ..optim import schedules

    return {"constant": lambda: lr, "step": lambda: schedules.step(lr, s.step_size, s.gamma),
            "exponential": lambda: schedules.exponential(lr, s.gamma),
            "inverse_time": lambda: schedules.inverse_time(lr, s.power),
            "cosine": lambda: schedules.cosine(lr, s.t_max)}[s.kind]()


def _settings(o: OptimizerSpec) -> dict[str, Any]:
    """The :data:`RACE_SETTINGS` of ``o`` that its optimiser's factory takes and the request gives other than
    the factory's defaults (a page that sends its fields as shown and a call that leaves them out run, and
    record, the same ``optimizer_params``)."""
    takes = REGISTRY[o.name].defaults
    given = {k: tuple(v) if isinstance(v, list) else v
             for k in RACE_SETTINGS if k in takes and (v := getattr(o, k)) is not None}
    return {k: v for k, v in given.items() if v != takes[k]}


def _optimizer_params(o: OptimizerSpec) -> dict[str, Any] | None:
    return _settings(o) or None


def _label(o: OptimizerSpec) -> str:
    """``o.label``, else the name, the lr and the race's settings in effect (given or the factory's default)
    that are not zero, e.g. ``"momentum, lr 0.05, momentum 0.9"`` or ``"adam, lr 0.1, betas 0.9/0.999"``."""
    if o.label:
        return o.label
    effect = {**{k: v for k, v in REGISTRY[o.name].defaults.items() if k in RACE_SETTINGS}, **_settings(o)}
    extra = "".join(f", {k} " + "/".join(f"{float(b):g}" for b in np.atleast_1d(v))
                    for k, v in effect.items() if np.any(np.asarray(v) != 0))
    return f"{o.name}, lr {o.lr:g}{extra}" + (f", {o.schedule.kind}" if o.schedule.kind != "constant" else "")


def _check_schedule(o: OptimizerSpec, where: str) -> None:
    if o.schedule.kind != "constant" and not REGISTRY[o.name].takes_schedule:
        raise HTTPException(422, f"{where}.schedule: {o.name}'s lr is a number (its first step), not a schedule; "
                                 f"choose the constant schedule")


def _finite(values: Any) -> list:
    """Numbers for JSON, any shape: non-finite ones become None (the page shows where a path left the plot)."""
    arr = np.asarray(values, dtype=float)
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def _history(h: Any) -> dict:
    return h.to_dict()


def _until(cancel: threading.Event | None) -> Any:
    """A step callback that stops the run (``StopIteration``) once ``cancel`` is set: a request that ran
    out of time stops computing at its next step instead of running on in the background."""
    def check(_info: Any) -> None:
        if cancel is not None and cancel.is_set():
            raise StopIteration
    return check


def _check_range(name: str, r: list[float]) -> None:
    if not r[0] < r[1]:
        raise HTTPException(422, f"{name}: [{r[0]:g}, {r[1]:g}] is empty; give [low, high] with low < high")


def _parse(formula: str, n: int | None = None) -> Any:
    from ..expression import FormulaError, parse

    try:
        f = parse(formula, cache=True)
    except FormulaError as e:
        raise HTTPException(422, f"formula: {e}") from None
    if not 1 <= len(f.variables) <= 2:
        raise HTTPException(422, f"formula: the playground draws functions of one or two variables; "
                                 f"{formula!r} has {len(f.variables)} ({', '.join(f.variables) or 'none'})")
    if n is not None and len(f.variables) != n:
        raise HTTPException(422, f"x0 has {n} values but the formula has {len(f.variables)} variables "
                                 f"({', '.join(f.variables)}): give one starting value per variable")
    return f


def surface(req: SurfaceRequest, cancel: threading.Event | None = None) -> dict:
    f = _parse(req.formula)
    _check_range("xrange", req.xrange)
    x = np.linspace(req.xrange[0], req.xrange[1], req.grid)
    with np.errstate(all="ignore"):
        if len(f.variables) == 1:
            z = np.broadcast_to(f.evaluate(x), x.shape)
            return {"variables": list(f.variables), "dims": 1, "x": x.tolist(), "z": _finite(z)}
        if req.yrange is None:
            raise HTTPException(422, "yrange: a function of two variables needs a yrange")
        _check_range("yrange", req.yrange)
        y = np.linspace(req.yrange[0], req.yrange[1], req.grid)
        X, Y = np.meshgrid(x, y)
        Z = np.broadcast_to(f.evaluate(X, Y), X.shape)
    return {"variables": list(f.variables), "dims": 2, "x": x.tolist(), "y": y.tolist(), "z": _finite(Z)}


def _values(f: Any, path: np.ndarray) -> np.ndarray:
    """f at every point of a path (the loss records f before each step; this adds the last point): the
    heights at which the page draws a one-variable path on its curve."""
    with np.errstate(all="ignore"):
        return np.broadcast_to(f.evaluate(*path.T), path.shape[:1])


def run(req: RunRequest, cancel: threading.Event | None = None) -> dict:
    from ..minimize import minimize

    f = _parse(req.formula, len(req.x0))
    for i, o in enumerate(req.optimizers):
        _check_schedule(o, f"optimizers.{i}")
    runs = []
    for o in req.optimizers:
        try:
            res = minimize(f.text, req.x0, optimizer=o.name, lr=_schedule(o.lr, o.schedule), steps=req.steps,
                           optimizer_params=_optimizer_params(o), clip_value=o.clip_value, clip_norm=o.clip_norm,
                           variables=f.variables, callback=_until(cancel), record_params="all")
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        h = res.history
        path = np.vstack([h.params, np.asarray(h.final_params, dtype=float)[None, :]]) if h.n_steps else \
            np.asarray([req.x0], dtype=float)
        stable = h.meta.get("stable_lr")
        runs.append({"label": _label(o), "path": _finite(path), "values": _finite(_values(f, path)),
                     "loss": _finite(h.loss), "status": int(res.status),
                     "success": bool(res.success), "diverged": int(res.status) == 2, "message": res.message,
                     "stable_lr": stable if isinstance(stable, float) and math.isfinite(stable) else None,
                     "history": _history(h)})
    return {"variables": list(f.variables), "runs": runs}


def fit(req: FitRequest, cancel: threading.Event | None = None) -> dict:
    from ..loop import DivergenceError
    from ..models import LinearRegression

    x, y = np.asarray(req.x, dtype=float), np.asarray(req.y, dtype=float)
    n = len(x)
    bs = {"full": None, "minibatch": min(req.batch_size, n), "sgd": 1}[req.method]
    steps = req.epochs * (1 if bs is None else -(-n // bs))
    if steps > LIMITS["steps"]:
        raise HTTPException(422, f"epochs: {req.epochs} epochs of {n} points in batches of {bs or n} make {steps} "
                                 f"steps, more than {LIMITS['steps']}; ask for fewer epochs or a larger batch")
    o = req.optimizer
    _check_schedule(o, "optimizer")
    model = LinearRegression(optimizer=o.name, lr=_schedule(o.lr, o.schedule), optimizer_params=_optimizer_params(o),
                             clip_value=o.clip_value, clip_norm=o.clip_norm, batch_size=bs, epochs=req.epochs,
                             tol=None, random_state=req.seed, shuffle=True, sufficient_stats=False,
                             record_params="all")   # at most LIMITS["steps"] steps: every point drawn
    message, diverged = "", False
    with _WARNINGS, warnings.catch_warnings(record=True) as caught:   # told in the answer, not the server's log
        warnings.simplefilter("always")
        try:
            model.fit(x[:, None], y, callback=_until(cancel))   # the step loop (no compiled epochs): cancellable
            h, message = model.history_, model.result_.message
        except DivergenceError as e:
            h, message, diverged = e.history, str(e), True
        except ValueError as e:   # settings the optimiser refuses: the client's to change
            raise HTTPException(422, f"optimizer: {e}") from None
    told = list(dict.fromkeys(str(w.message) for w in caught))
    path = (np.vstack([h.params, np.asarray(h.final_params, dtype=float)[None, :]])
            if h.n_steps and h.params is not None else np.zeros((1, 2)))   # every step's parameters are recorded
    A = np.c_[x, np.ones(n)]
    best = np.linalg.lstsq(A, y, rcond=None)[0]
    finite = path[np.all(np.isfinite(path), axis=1)]
    lo = np.minimum(finite.min(axis=0), best) if finite.size else best - 1
    hi = np.maximum(finite.max(axis=0), best) if finite.size else best + 1
    pad = 0.15 * np.maximum(hi - lo, 1e-3)
    w = np.linspace(lo[0] - pad[0], hi[0] + pad[0], req.grid)
    b = np.linspace(lo[1] - pad[1], hi[1] + pad[1], req.grid)
    W, B = np.meshgrid(w, b)
    sxx, sx, sxy, sy, syy = x @ x, x.sum(), x @ y, y.sum(), y @ y
    with np.errstate(all="ignore"):   # far from the data (a diverged path) the loss overflows: drawn as a gap
        L = (W * W * sxx + 2 * W * B * sx + B * B * n - 2 * W * sxy - 2 * B * sy + syy) / n   # mse at (w, b)
    return {"label": _label(o), "path": _finite(path), "loss": _finite(h.loss), "closed_form": best.tolist(),
            "diverged": diverged, "message": message, "warnings": told, "batch_size": bs or n, "history": _history(h),
            "contour": {"w": w.tolist(), "b": b.tolist(), "loss": _finite(L)}}


def points_from_csv(data: bytes, cancel: threading.Event | None = None) -> dict:
    """Two numeric columns of a CSV upload, read by gradstep's CSV reader (first column x, second y)."""
    import tempfile

    from ..data.readers import DataError, read_csv

    if len(data) > LIMITS["upload_bytes"]:
        raise HTTPException(413, f"the file has {len(data):,} bytes, more than {LIMITS['upload_bytes']:,}; "
                                 f"upload a smaller CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, "the file is not UTF-8 text; upload a CSV file") from None
    header = text.splitlines()[0] if text.strip() else ""
    with tempfile.TemporaryDirectory() as folder:   # the reader reads files; the name is ours, not the client's
        path = Path(folder) / "upload.csv"
        path.write_text(text, encoding="utf-8")
        try:
            import csv

            names = next(csv.reader(io.StringIO(header))) if header else []
            if len(names) != 2:
                raise HTTPException(422, f"the CSV must have two columns (x, y); its header has {len(names)}")
            ds = read_csv(path, target=names[1].strip(), features=[names[0].strip()])
        except DataError as e:
            problem, _, hint = str(e).replace(str(path), "the uploaded CSV").rpartition("; ")
            # the reader's hint names a parameter (features=, task=) the page does not have
            if "--" in hint or "=" in hint:
                hint = "fix or remove that row and upload again"
            raise HTTPException(422, f"{problem}; {hint}" if problem else hint) from None
    if len(ds.y) > LIMITS["points"]:
        raise HTTPException(413, f"the CSV has {len(ds.y):,} rows, more than {LIMITS['points']:,}")
    lines = [k + 1 for k, line in enumerate(text.splitlines()) if line.strip()][1:]   # data rows' line numbers
    for j, col in enumerate((ds.X[:, 0], np.asarray(ds.y, dtype=float))):
        big = np.flatnonzero(np.abs(col) > POINT)
        if big.size:
            where = f"line {lines[big[0]]}" if len(lines) == len(col) else f"data row {big[0] + 1}"
            raise HTTPException(422, f"the uploaded CSV, {where}, column {names[j].strip()!r}: {col[big[0]]:g} "
                                     f"is larger than {POINT:g} in size; rescale the data")
    return {"x": ds.X[:, 0].tolist(), "y": np.asarray(ds.y, dtype=float).tolist(),
            "names": [ds.feature_names[0], ds.target_name]}


class _Slots:
    """At most ``SERVER_LIMITS["computations"]`` holders at once; others wait in line (first come, first
    served), at most ``SERVER_LIMITS["queued"]`` of them and ``SERVER_LIMITS["queue_seconds"]`` each, else
    503. Safe across threads and event loops (a freed slot passes straight to the first in line)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self._line: deque[asyncio.Future] = deque()

    def _busy(self, why: str) -> HTTPException:
        return HTTPException(503, f"the server is busy: {why}; try again in a few seconds",
                             headers={"Retry-After": "2"})

    async def enter(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.running < SERVER_LIMITS["computations"] and not self._line:
                self.running += 1
                return
            if len(self._line) >= SERVER_LIMITS["queued"]:
                raise self._busy(f"{self.running} computations are running and {len(self._line)} requests "
                                 f"are waiting for one")
            turn = loop.create_future()
            self._line.append(turn)
        try:
            await asyncio.wait_for(turn, SERVER_LIMITS["queue_seconds"])
        except BaseException as e:
            with self._lock:
                try:
                    self._line.remove(turn)
                    given = False
                except ValueError:   # leave() took it out of the line: the slot is ours, pass it on
                    given = True
            if given:
                self.leave()
            if isinstance(e, TimeoutError):
                raise self._busy(f"no computation slot came free in {SERVER_LIMITS['queue_seconds']:g} s") from None
            raise

    def leave(self) -> None:
        """Give a slot back (from any thread): to the first in line, or free."""
        with self._lock:
            if not self._line:
                self.running -= 1
                return
            turn = self._line.popleft()
        try:
            turn.get_loop().call_soon_threadsafe(_wake, turn)
        except RuntimeError:   # its event loop has closed, cancelling it first: it passed the slot on (enter)
            pass


def _wake(turn: asyncio.Future) -> None:
    if not turn.done():
        turn.set_result(None)


async def _bounded(fn: Any, arg: Any, slots: _Slots | None = None) -> Any:
    """``fn(arg, cancel)`` in a worker thread once ``slots`` has room (else 503), answered with 408 after
    ``LIMITS["seconds"]``; ``cancel`` is then set, the run stops at its next step and only then gives its
    slot back."""
    slots = slots or _Slots()
    await slots.enter()
    cancel = threading.Event()
    lock, state = threading.Lock(), {"started": False, "dropped": False}

    def job() -> Any:   # the slot is given back when the computation has ended, not when the answer is sent
        with lock:
            if state["dropped"]:
                return None
            state["started"] = True
        try:
            return fn(arg, cancel)
        finally:
            slots.leave()

    def finished(t: asyncio.Future) -> None:
        with lock:
            unstarted = not state["started"]
            state["dropped"] = unstarted
        if unstarted:   # cancelled before a thread took it up: it never will
            slots.leave()
        if not t.cancelled():
            t.exception()   # retrieved: an error after a 408 is not logged as never retrieved

    try:
        work = asyncio.ensure_future(run_in_threadpool(job))
    except BaseException:
        slots.leave()
        raise
    work.add_done_callback(finished)
    try:
        done, _ = await asyncio.wait({work}, timeout=LIMITS["seconds"])
    except BaseException:   # the request itself was cancelled (the server stops): so is the run
        cancel.set()
        raise
    if done:
        return work.result()
    cancel.set()
    raise HTTPException(408, f"the request took longer than {LIMITS['seconds']:g} s; ask for fewer steps "
                             f"or a smaller grid")


class _BodyLimit:
    """Refuse a request body larger than ``SERVER_LIMITS["body_bytes"]`` with 413 before reading it (its
    ``Content-Length``) or while it streams in (a body sent without one): it is never read whole."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = SERVER_LIMITS["body_bytes"]
        hint = (f"upload a CSV of at most {LIMITS['upload_bytes']:,} bytes" if scope.get("path") == "/api/upload"
                else "send fewer or shorter numbers")
        length = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            detail = f"the request body has {int(length):,} bytes, more than {limit:,}; {hint}"
            await JSONResponse({"detail": detail}, 413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the request body is larger than {limit:,} bytes; {hint}")
            return message

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except HTTPException as e:   # raised while reading the body outside a route: answered here
            if started or e.status_code != 413:
                raise
            await JSONResponse({"detail": e.detail}, 413)(scope, receive, send)


_BOUNDS = {"less_than_equal": ("le", "less than or equal to"), "less_than": ("lt", "less than"),
           "greater_than_equal": ("ge", "greater than or equal to"), "greater_than": ("gt", "greater than")}


def _message(e: dict) -> str:
    """Pydantic's message, with numeric bounds written as numbers (1e+100, not a hundred digits) and the
    value that broke them."""
    kind, ctx, given = e.get("type"), e.get("ctx") or {}, e.get("input")
    if kind in _BOUNDS and isinstance(ctx.get(_BOUNDS[kind][0]), (int, float)):
        shown = f"{given:g}" if isinstance(given, (int, float)) and not isinstance(given, bool) else repr(given)
        return f"Input should be {_BOUNDS[kind][1]} {ctx[_BOUNDS[kind][0]]:g}, not {shown}"
    return str(e.get("msg", "invalid")).removeprefix("Value error, ")


def create_app() -> FastAPI:
    """The playground app: the page at ``/``, its files under ``/static``, the API under ``/api``."""
    import plotly

    app = FastAPI(title="gradstep playground", version="1", docs_url=None, redoc_url=None,   # their pages load
                  description="Gradient descent you can watch: every number comes from gradstep.")  # from a CDN
    app.add_middleware(_BodyLimit)
    slots = _Slots()   # this app's computations
    published = optimizers()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "the request body"
            parts.append(f"{where}: {_message(e)}")
        return JSONResponse({"detail": "; ".join(parts)}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                            media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/limits")
    async def limits() -> dict[str, int | float]:
        """The bounds of every request (``LIMITS``) and of the server as a whole (``SERVER_LIMITS``)."""
        return {**LIMITS, **SERVER_LIMITS}

    @app.get("/api/optimizers")
    async def api_optimizers() -> list[dict[str, Any]]:
        """The optimisers a race may use (``gradstep.optim.REGISTRY``): each one's name, default ``lr``,
        whether its ``lr`` may follow a schedule, its ``torch.optim`` counterpart and the settings of
        ``OptimizerSpec`` besides ``lr`` that it takes (``momentum``, ``betas``) with their defaults."""
        return published

    @app.get("/api/presets")
    async def presets() -> list[dict[str, Any]]:
        """The preset surfaces: formula, a starting point, the plotted ranges, the steps and optimisers
        of a first race (none diverges) and the minima in those ranges."""
        return PRESETS

    @app.get("/api/datasets")
    async def datasets() -> dict[str, Any]:
        """The bundled points for data mode (the tutorials' noisy line)."""
        from ..data.datasets import load_dataset

        ds = load_dataset("tutorial-line")
        return {"name": "tutorial-line", "description": ds.description, "x": ds.X[:, 0].tolist(),
                "y": np.asarray(ds.y, dtype=float).tolist()}

    @app.post("/api/surface", responses=REFUSALS)
    async def api_surface(req: SurfaceRequest) -> dict[str, Any]:
        """The formula on a grid over ``xrange`` (× ``yrange``): contours or a curve."""
        return await _bounded(surface, req, slots)

    @app.post("/api/run", responses=REFUSALS)
    async def api_run(req: RunRequest) -> dict[str, Any]:
        """Race up to four optimisers on the formula from ``x0``: each one's path, f at every point of
        it (``values``), loss per step, outcome and full history."""
        return await _bounded(run, req, slots)

    @app.post("/api/fit", responses=REFUSALS)
    async def api_fit(req: FitRequest) -> dict[str, Any]:
        """Fit y = w x + b by full-batch, mini-batch or per-sample gradient descent: the (w, b) path,
        the loss, the closed form and the loss contours."""
        return await _bounded(fit, req, slots)

    @app.post("/api/upload", responses=REFUSALS)
    async def api_upload(
            file: Annotated[UploadFile, File(description="A CSV with two columns: x, y")]) -> dict[str, Any]:
        """Points from an uploaded CSV of two columns (at most 1 MB and 5000 rows)."""
        data = await file.read(int(LIMITS["upload_bytes"]) + 1)
        return await _bounded(points_from_csv, data, slots)

    return app


def warn_if_exposed(host: str) -> str | None:
    """A warning when ``host`` is not a loopback address (the playground runs typed-in formulas)."""
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        return None
    return (f"serving on {host}: anyone who can reach this address can run gradient descent here; "
            f"bind to 127.0.0.1 unless you mean it")


__all__ = ["LIMITS", "PRESETS", "RACE_SETTINGS", "SERVER_LIMITS", "create_app", "optimizers", "warn_if_exposed"]
