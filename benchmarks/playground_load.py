r"""Load test of the playground server: ``gradstep serve`` under a mix of normal and hostile requests.

One command::

    python benchmarks/playground_load.py                          # 600 requests, 16 at a time (~1-2 min)
    python benchmarks/playground_load.py --requests 200 --concurrency 16 --seconds 60 --json load.json
    python benchmarks/playground_load.py --requests 200 --scale 0.5     # normal sizes from the lower half only

It starts ``python -m gradstep serve --port <free port>`` on 127.0.0.1 (its own formula cache in a
temporary folder), waits until ``/api/limits`` answers, warms it up with one request of each normal
kind (SymPy and the formulas' derivations are then loaded: that is the *baseline* RSS), then sends
a fixed list of ``--requests`` requests, ``--concurrency`` at a time, with ``httpx.AsyncClient``,
for at most ``--seconds`` (a hard cap: whatever is still in flight then is cancelled and counted as
not answered). Every body is built and encoded before the clock starts, from a seeded generator
(``--seed``), so two runs send the same requests.

The mix (``KINDS``) -- normal requests, answered 200:

* ``run``: ``/api/run``, a preset formula, 2-4 optimisers, 200-2000 steps;
* ``surface``: ``/api/surface``, a preset formula on a grid of 80-200;
* ``fit``: ``/api/fit``, 100-5000 points, full-batch or mini-batch;
* ``upload``: ``/api/upload``, a CSV of 50-500 rows;

and oversized or bad ones, each with the one status it must get:

* ``formula_201`` (422), ``steps_10001`` (422), ``grid_201`` (422), ``optimizers_5`` (422),
  ``points_5001`` (422): one past each bound of :data:`gradstep.web.app.LIMITS`;
* ``upload_2mb`` (413): a 2 MB CSV; ``body_50mb`` (413): 50 MB of JSON numbers posted to ``/api/fit``;
* ``malformed_json`` (422): a body cut in the middle;
* ``slow`` (408): within every bound, but 4 optimisers × 10 000 steps of a formula whose gradient
  has hundreds of terms (about 25 s of work alone): it must be stopped at ``LIMITS["seconds"]``.

While the load runs, a thread probes ``GET /api/limits`` every ``--probe-interval`` seconds on its
own connection: the page's lightest request, whose latency says whether the server still answers.
Another thread samples the server's RSS (psutil, else ``/proc/<pid>/status``); the peak is the
kernel's high-water mark ``VmHWM`` where there is one. After the load, the RSS is read again.

Measured and printed: requests sent and answered, concurrency, duration, throughput; per kind the
count, the statuses, p50/p95/p99/max latency and errors (connection errors, timeouts and 5xx); every
bad request whose status is not its expected 4xx; the probes' p50/p99/max; the server's RSS at
baseline, at its peak and after. ``--json PATH`` writes all of it. Nothing is asserted here
(``tests/test_playground_load.py`` runs :func:`load` with small numbers and asserts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"

PRESETS = [   # formula, x0 (the playground's presets)
    ("x**2 + y**2", [3.0, 2.0]),
    ("x**2 + 10*y**2", [3.0, 1.5]),
    ("(1 - x)**2 + 100*(y - x**2)**2", [-1.2, 1.0]),
    ("(x**2 + y - 11)**2 + (x + y**2 - 7)**2", [0.0, 0.0]),
    ("(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2", [1.0, 1.0]),
    ("(2 - x**2 * sin(x))**2", [0.5]),
]
SLOW_FORMULA = "*".join(f"sin(x+{i}*y)" for i in range(1, 18))   # 194 characters; its gradient: 17 products of 17
OPTIMIZERS = [{"name": "gd", "lr": 0.001}, {"name": "momentum", "lr": 0.001, "momentum": 0.9},
              {"name": "nesterov", "lr": 0.001, "momentum": 0.5}, {"name": "adam", "lr": 0.01},
              {"name": "rmsprop", "lr": 0.001}, {"name": "adagrad", "lr": 0.1}]


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None


def _json(kind: str, path: str, body: Any) -> Request:
    return Request(kind, "POST", path, json.dumps(body).encode(), {"content-type": "application/json"})


def _csv(rng: random.Random, rows: int) -> bytes:
    return b"x,y\n" + "".join(f"{x:.6f},{2 * x + 1 + rng.gauss(0, 0.5):.6f}\n"
                              for x in (rng.uniform(-5, 5) for _ in range(rows))).encode()


def _upload(kind: str, data: bytes) -> Request:
    return Request(kind, "POST", "/api/upload", files={"file": ("points.csv", data, "text/csv")})


def _upto(rng: random.Random, low: int, high: int, scale: float) -> int:
    """An integer from ``low`` to ``low + scale * (high - low)``."""
    return rng.randint(low, low + round(scale * (high - low)))


def _run(rng: random.Random, scale: float = 1.0) -> Request:
    formula, x0 = rng.choice(PRESETS)
    opts = rng.sample(OPTIMIZERS, rng.randint(2, 4))
    return _json("run", "/api/run", {"formula": formula, "x0": x0, "optimizers": opts,
                                     "steps": _upto(rng, 200, 2000, scale)})


def _surface(rng: random.Random, scale: float = 1.0) -> Request:
    formula, x0 = rng.choice(PRESETS)
    body = {"formula": formula, "xrange": [-4, 4], "yrange": [-4, 4] if len(x0) == 2 else None,
            "grid": _upto(rng, 80, 200, scale)}
    return _json("surface", "/api/surface", body)


def _points(rng: random.Random, n: int) -> dict[str, list[float]]:
    x = [round(rng.uniform(-3, 3), 6) for _ in range(n)]
    return {"x": x, "y": [round(2 * v + 1 + rng.gauss(0, 0.3), 6) for v in x]}


def _fit(rng: random.Random, scale: float = 1.0) -> Request:
    n = _upto(rng, 100, 5000, scale)
    if rng.random() < 0.5:
        body = {"method": "full", "epochs": _upto(rng, 50, 500, scale)}
    else:
        bs = rng.randint(50, 500)
        body = {"method": "minibatch", "batch_size": bs, "epochs": max(1, round(1000 * scale) // -(-n // bs))}
    return _json("fit", "/api/fit", {**_points(rng, n), **body, "optimizer": {"name": "gd", "lr": 0.05}})


def _body_50mb() -> bytes:
    numbers = b"0.5," * (50 * 2**20 // 8)
    return b'{"x": [' + numbers + b'0.5], "y": [' + numbers + b"0.5]}"


_BIG_BODY: list[bytes] = []


def _big_body() -> bytes:   # built once and shared: 50 MB
    if not _BIG_BODY:
        _BIG_BODY.append(_body_50mb())
    return _BIG_BODY[0]


BAD: dict[str, tuple[int, Callable[[random.Random], Request]]] = {   # kind: (the status it must get, request)
    "formula_201": (422, lambda rng: _json("formula_201", rng.choice(["/api/run", "/api/surface"]),
                                           {"formula": "x" + "+x" * 100, "x0": [1.0],
                                            "optimizers": [{"name": "gd"}], "steps": 10})),
    "steps_10001": (422, lambda rng: _json("steps_10001", "/api/run",
                                           {"formula": "x**2 + y**2", "x0": [1, 1], "optimizers": [{"name": "gd"}],
                                            "steps": 10_001})),
    "grid_201": (422, lambda rng: _json("grid_201", "/api/surface", {"formula": "x*y", "grid": 201})),
    "optimizers_5": (422, lambda rng: _json("optimizers_5", "/api/run",
                                            {"formula": "x**2 + y**2", "x0": [1, 1], "steps": 10,
                                             "optimizers": [{"name": "gd"}] * 5})),
    "points_5001": (422, lambda rng: _json("points_5001", "/api/fit", _points(rng, 5001))),
    "upload_2mb": (413, lambda rng: _upload("upload_2mb", (b"x,y\n" + b"1.000000,2.000000\n" * 111_112)[:2_000_000])),
    "body_50mb": (413, lambda rng: Request("body_50mb", "POST", "/api/fit", _big_body(),
                                           {"content-type": "application/json"})),
    "malformed_json": (422, lambda rng: Request("malformed_json", "POST", rng.choice(["/api/run", "/api/fit"]),
                                                b'{"formula": "x**2", "x0": [1, ',
                                                {"content-type": "application/json"})),
    "slow": (408, lambda rng: _json("slow", "/api/run", {"formula": SLOW_FORMULA, "x0": [0.3, 0.2], "steps": 10_000,
                                                         "optimizers": [{"name": "gd", "lr": 1e-6}] * 4})),
}
NORMAL: dict[str, Callable[[random.Random, float], Request]] = {
    "run": _run, "surface": _surface, "fit": _fit,
    "upload": lambda rng, scale=1.0: _upload("upload", _csv(rng, _upto(rng, 50, 500, scale)))}
NORMAL_SHARE = {"run": 0.30, "surface": 0.20, "fit": 0.15, "upload": 0.10}   # the bad kinds share the other 25 %
RARE = {"body_50mb": 0.01, "slow": 0.01}    # of all requests, at least one each: they are heavy on purpose


def plan(n: int, seed: int = 0, kinds: set[str] | None = None, scale: float = 1.0) -> list[Request]:
    """``n`` requests of every kind, in a seeded random order (at least one of each kind when n allows).
    ``scale`` < 1 draws the normal requests' sizes from the lower part of their ranges only."""
    rng = random.Random(seed)
    kinds = set(NORMAL) | set(BAD) if kinds is None else kinds
    counts = {k: max(1, round(n * RARE[k])) for k in RARE if k in kinds}
    bad = [k for k in BAD if k in kinds and k not in RARE]
    each = (1 - sum(NORMAL_SHARE.values()) - sum(RARE.values())) / len(BAD.keys() - RARE.keys())
    for k in bad:
        counts[k] = max(1, round(n * each))
    normal = [k for k in NORMAL if k in kinds]
    rest = max(0, n - sum(counts.values()))
    share = sum(NORMAL_SHARE[k] for k in normal) or 1
    for k in normal:
        counts[k] = round(rest * NORMAL_SHARE[k] / share)
    if normal:   # rounding: the first normal kind takes up the difference
        counts[normal[0]] += n - sum(counts.values())
    reqs = [NORMAL[k](rng, scale) if k in NORMAL else BAD[k][1](rng)
            for k in sorted(counts) for _ in range(max(0, counts[k]))]
    rng.shuffle(reqs)
    return reqs[:n]


# ------------------------------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss(pid: int) -> int:
    """The process's resident memory now, in bytes."""
    try:
        import psutil
    except ImportError:
        return _status(pid, "VmRSS")
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error as e:
        raise OSError(f"no process {pid}: {e}") from None


def peak_rss(pid: int) -> int | None:
    """The process's peak resident memory (the kernel's ``VmHWM``), or None where there is none."""
    try:
        return _status(pid, "VmHWM")
    except OSError:
        return None


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"no {key} in /proc/{pid}/status")


@dataclass
class Server:
    proc: subprocess.Popen
    base: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextmanager
def serve(seconds_limit: float | None = None, ready_timeout: float = 60.0) -> Iterator[Server]:
    """``python -m gradstep serve`` on a free port of 127.0.0.1, stopped on exit.

    ``seconds_limit`` starts it with ``LIMITS["seconds"]`` set to that instead (the same command,
    run from ``python -c`` after the change), so that a test need not wait 10 s for a 408."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gradstep-load-") as tmp:
        env = {**os.environ, "GRADSTEP_CACHE_DIR": str(Path(tmp) / "cache"), "COLUMNS": "200"}
        if seconds_limit is None:
            cmd = [sys.executable, "-m", "gradstep", "serve", "--host", HOST, "--port", str(port)]
        else:
            code = ("import sys; from gradstep.web import app as w; w.LIMITS['seconds'] = float(sys.argv[1]); "
                    "from gradstep.cli import app; app(sys.argv[2:], prog_name='gradstep')")
            cmd = [sys.executable, "-c", code, str(seconds_limit), "serve", "--host", HOST, "--port", str(port)]
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        server = Server(proc, f"http://{HOST}:{port}", log)
        try:
            deadline = time.monotonic() + ready_timeout
            while True:
                try:
                    if httpx.get(server.base + "/api/limits", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gradstep serve did not answer on port {port}: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------- the load

def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile (None for no values)."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


@dataclass
class Result:
    kind: str
    status: int | None      # None: no answer (connection error, timeout, cancelled at the cap)
    seconds: float
    error: str = ""
    detail: str = ""        # the first 200 characters of a non-200 answer


async def _send(client: httpx.AsyncClient, r: Request, timeout: float) -> Result:
    t = time.perf_counter()
    try:
        resp = await client.request(r.method, r.path, content=r.content or None, headers=r.headers,
                                    files=r.files, timeout=timeout)
        body = await resp.aread()
        detail = "" if resp.status_code == 200 else body[:200].decode("utf-8", "replace")
        return Result(r.kind, resp.status_code, time.perf_counter() - t, detail=detail)
    except httpx.HTTPError as e:
        return Result(r.kind, None, time.perf_counter() - t, error=f"{type(e).__name__}: {e}"[:200])


async def _drive(base: str, reqs: list[Request], concurrency: int, seconds: float,
                 timeout: float) -> tuple[list[Result], float]:
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in reqs:
        queue.put_nowait(r)
    results: list[Result] = []
    started: dict[int, tuple[str, float]] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits) as client:
        async def worker(i: int) -> None:
            while not queue.empty():
                r = queue.get_nowait()
                started[i] = (r.kind, time.perf_counter())
                results.append(await _send(client, r, timeout))
                started.pop(i, None)

        t0 = time.perf_counter()
        tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        _done, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        duration = time.perf_counter() - t0
    now = time.perf_counter()
    results += [Result(kind, None, now - t, error="cancelled at the --seconds cap") for kind, t in started.values()]
    return results, duration


def _probe(base: str, stop: threading.Event, interval: float, out: list[tuple[float, int | None]]) -> None:
    with httpx.Client(base_url=base) as client:
        while not stop.is_set():
            t = time.perf_counter()
            try:
                status: int | None = client.get("/api/limits", timeout=30).status_code
            except httpx.HTTPError:
                status = None
            out.append((time.perf_counter() - t, status))
            stop.wait(interval)


def _sample(pid: int, stop: threading.Event, out: list[int]) -> None:
    while not stop.is_set():
        try:
            out.append(rss(pid))
        except OSError:   # the process is gone
            return
        stop.wait(0.05)


def warm_up(base: str) -> None:
    """One request of each normal kind and the slow formula's derivation (not its run), so that the
    baseline RSS includes SymPy and the cached derivations."""
    rng = random.Random(12345)
    with httpx.Client(base_url=base, timeout=120) as client:
        for make in NORMAL.values():
            r = make(rng, 1.0)
            client.request(r.method, r.path, content=r.content or None, headers=r.headers, files=r.files)
        client.post("/api/surface", json={"formula": SLOW_FORMULA, "grid": 2})


def load(server: Server, requests: int = 600, concurrency: int = 16, seconds: float = 150.0, seed: int = 0,
         probe_interval: float = 0.2, timeout: float = 60.0, kinds: set[str] | None = None,
         scale: float = 1.0) -> dict[str, Any]:
    """Warm the server up, send the planned requests and return every measurement (see the module's text)."""
    reqs = plan(requests, seed, kinds, scale)
    warm_up(server.base)
    time.sleep(0.5)
    baseline = rss(server.pid)
    stop = threading.Event()
    probes: list[tuple[float, int | None]] = []
    samples: list[int] = []
    threads = [threading.Thread(target=_probe, args=(server.base, stop, probe_interval, probes), daemon=True),
               threading.Thread(target=_sample, args=(server.pid, stop, samples), daemon=True)]
    for t in threads:
        t.start()
    try:
        results, duration = asyncio.run(_drive(server.base, reqs, concurrency, seconds, timeout))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=35)
    peak = max([peak_rss(server.pid) or 0, *samples, baseline])
    time.sleep(1.0)   # a run stopped by its 408 ends at its next step
    after = rss(server.pid)
    return summarise(reqs, results, duration, concurrency, seconds, probes, baseline, peak, after,
                     server.proc.poll() is None)


def summarise(reqs: list[Request], results: list[Result], duration: float, concurrency: int, cap: float,
              probes: list[tuple[float, int | None]], baseline: int, peak: int, after: int,
              alive: bool) -> dict[str, Any]:
    planned = Counter(r.kind for r in reqs)
    kinds: dict[str, Any] = {}
    for kind in [*NORMAL, *BAD]:
        rs = [r for r in results if r.kind == kind]
        if not planned[kind]:
            continue
        lat = [r.seconds for r in rs if r.status is not None]
        expected = 200 if kind in NORMAL else BAD[kind][0]
        kinds[kind] = {
            "planned": planned[kind], "answered": len(lat), "expected": expected,
            "statuses": {str(s): n for s, n in sorted(Counter(r.status for r in rs if r.status is not None).items())},
            "p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
            "max": max(lat, default=None),
            "connection_errors": sum(r.status is None for r in rs),
            "server_errors": sum(r.status is not None and r.status >= 500 for r in rs),
            "unexpected": [{"status": r.status, "detail": r.detail, "error": r.error}
                           for r in rs if r.status != expected][:5],
            "unexpected_count": sum(r.status != expected for r in rs),
        }
    lat = [r.seconds for r in results if r.status is not None]
    probe_lat = [s for s, status in probes if status == 200]
    return {
        "requests": len(reqs), "answered": len(lat), "concurrency": concurrency, "cap_seconds": cap,
        "duration_s": duration, "throughput_rps": len(lat) / duration if duration else None,
        "p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
        "connection_errors": sum(r.status is None for r in results) + len(reqs) - len(results),
        "server_errors": sum(r.status is not None and r.status >= 500 for r in results),
        "not_sent": len(reqs) - len(results),
        "kinds": kinds,
        "bad_not_4xx": [{"kind": k, **u} for k, v in kinds.items() if k in BAD for u in v["unexpected"]
                        if not (u["status"] is not None and 400 <= u["status"] < 500)],
        "probes": {"count": len(probes), "failed": sum(status != 200 for _, status in probes),
                   "p50": percentile(probe_lat, 50), "p99": percentile(probe_lat, 99),
                   "max": max(probe_lat, default=None)},
        "rss": {"baseline": baseline, "peak": peak, "after": after, "growth": peak - baseline},
        "server_alive": alive,
    }


# ------------------------------------------------------------------------------------------- the report

def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def _mb(v: int) -> str:
    return f"{v / 2**20:.0f} MB"


def table(res: dict[str, Any]) -> str:
    lines = [(f"{'kind':<15}{'n':>5}{'expect':>7}  {'statuses':<26}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
             f"{'max ms':>8}{'errors':>7}{'unexpected':>11}")]
    for kind, k in res["kinds"].items():
        statuses = " ".join(f"{s}:{n}" for s, n in k["statuses"].items()) or "-"
        lines.append(f"{kind:<15}{k['planned']:>5}{k['expected']:>7}  {statuses:<26}"
                     f"{_ms(k['p50']):>8}{_ms(k['p95']):>8}"
                     f"{_ms(k['p99']):>8}{_ms(k['max']):>8}{k['connection_errors'] + k['server_errors']:>7}"
                     f"{k['unexpected_count']:>11}")
    p, m = res["probes"], res["rss"]
    lines += [
        "",
        (f"requests {res['requests']} (answered {res['answered']}, not sent {res['not_sent']}), concurrency "
        f"{res['concurrency']}, duration {res['duration_s']:.1f} s (cap {res['cap_seconds']:g} s), throughput "
        f"{res['throughput_rps']:.1f} req/s"),
        f"latency, all kinds: p50 {_ms(res['p50'])} ms, p95 {_ms(res['p95'])} ms, p99 {_ms(res['p99'])} ms",
        f"errors: {res['connection_errors']} connection errors / timeouts, {res['server_errors']} 5xx",
        f"bad requests not answered with a 4xx: {len(res['bad_not_4xx'])}"
        + "".join(f"\n  {b['kind']}: {b['status']} {b['error'] or b['detail']}" for b in res["bad_not_4xx"]),
        (f"GET /api/limits probes during the load: {p['count']} ({p['failed']} failed), p50 {_ms(p['p50'])} ms, "
        f"p99 {_ms(p['p99'])} ms, max {_ms(p['max'])} ms"),
        (f"server RSS: baseline {_mb(m['baseline'])}, peak {_mb(m['peak'])} (+{_mb(m['growth'])}), after "
        f"{_mb(m['after'])}; server {'alive' if res['server_alive'] else 'DEAD'}"),
    ]
    wrong = [(kind, u) for kind, k in res["kinds"].items() for u in k["unexpected"]]
    if wrong:
        lines.append("unexpected answers (first of each kind):")
        seen: set[str] = set()
        for kind, u in wrong:
            if kind not in seen:
                seen.add(kind)
                lines.append(f"  {kind}: {u['status']} {u['error'] or u['detail']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=600, help="how many requests (default 600)")
    p.add_argument("--concurrency", type=int, default=16, help="how many at a time (default 16)")
    p.add_argument("--seconds", type=float, default=150.0, help="hard cap on the load's duration (default 150)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe-interval", type=float, default=0.2, help="seconds between /api/limits probes")
    p.add_argument("--scale", type=float, default=1.0,
                   help="draw normal sizes from the lowest SCALE part of their ranges (default 1: all of them)")
    p.add_argument("--json", default=None, help="write the results there")
    args = p.parse_args(argv)
    with serve() as server:
        res = load(server, args.requests, args.concurrency, args.seconds, args.seed, args.probe_interval,
                   scale=args.scale)
    print(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
