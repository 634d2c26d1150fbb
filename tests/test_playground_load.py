"""The playground server under load: ``benchmarks/playground_load.py``'s core with small numbers.

A real ``gradstep serve`` on 127.0.0.1 (started and stopped here) gets 160 requests, 16 at a time:
normal runs, surfaces, fits and uploads, and requests that break each limit, a 50 MB body and runs
that must be stopped at ``LIMITS["seconds"]``. Asserted: no connection error and no 5xx; every normal
request answered 200 and every bad one with its own 4xx (422 past a field's bound or for bad JSON,
413 for an oversized body, 408 for the slow run); ``GET /api/limits`` answered throughout, never as
slowly as a computation the server stops at its time limit (no probe waited behind one); the server's
peak RSS within 300 MB of its warmed-up baseline. No latency is asserted in seconds (a busy machine
stretches them all): ``benchmarks/playground_load.py`` measures and reports them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gradstep.expression import parse
from gradstep.web.app import LIMITS, SERVER_LIMITS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "playground_load.py"
spec = importlib.util.spec_from_file_location("playground_load", SCRIPT)
bench = importlib.util.module_from_spec(spec)
sys.modules["playground_load"] = bench
spec.loader.exec_module(bench)

REQUESTS, CONCURRENCY, CAP = 160, 16, 90.0


@pytest.fixture(scope="module")
def result():
    with bench.serve() as server:
        yield bench.load(server, REQUESTS, CONCURRENCY, CAP, seed=1, scale=0.5)


def _bodies(kind: str) -> list[dict]:
    return [json.loads(r.content) for r in bench.plan(REQUESTS, seed=1, scale=0.5) if r.kind == kind and r.content]


def test_every_bad_kind_breaks_exactly_the_limit_it_names():
    """What the load sends, checked against LIMITS, not against the server's answers."""
    reqs = bench.plan(REQUESTS, seed=1, scale=0.5)
    assert len(reqs) == REQUESTS
    assert {r.kind for r in reqs} == set(bench.NORMAL) | set(bench.BAD)
    assert {len(b["formula"]) for b in _bodies("formula_201")} == {LIMITS["formula_chars"] + 1}
    assert {b["steps"] for b in _bodies("steps_10001")} == {LIMITS["steps"] + 1}
    assert {b["grid"] for b in _bodies("grid_201")} == {LIMITS["grid"] + 1}
    assert {len(b["optimizers"]) for b in _bodies("optimizers_5")} == {LIMITS["optimizers"] + 1}
    assert {len(b["x"]) for b in _bodies("points_5001")} == {LIMITS["points"] + 1}
    uploads = [r.files["file"][1] for r in reqs if r.kind == "upload_2mb"]
    assert uploads and all(len(u) == 2_000_000 > SERVER_LIMITS["body_bytes"] for u in uploads)
    big = [r.content for r in reqs if r.kind == "body_50mb"]
    assert big and all(len(b) > 50 * 10**6 > SERVER_LIMITS["body_bytes"] for b in big)
    for r in reqs:
        if r.kind == "malformed_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(r.content)
    for b in _bodies("slow"):     # within every bound, yet heavy: the 408 is the only way it can end
        assert len(b["formula"]) <= LIMITS["formula_chars"] and b["steps"] <= LIMITS["steps"]
        assert len(b["optimizers"]) <= LIMITS["optimizers"]
        assert len(parse(b["formula"]).variables) == 2
    for kind in bench.NORMAL:
        for b in _bodies(kind):
            assert b.get("steps", 1) <= LIMITS["steps"] and b.get("grid", 2) <= LIMITS["grid"]
            assert len(b.get("x", [])) <= LIMITS["points"]


def test_no_connection_errors_and_no_5xx(result):
    assert result["server_alive"]
    assert result["not_sent"] == 0 and result["answered"] == REQUESTS, result["kinds"]
    assert result["connection_errors"] == 0 and result["server_errors"] == 0, result["kinds"]
    # (CAP is the load's safety cut-off, not a bound: every request was answered before it)


def test_every_request_got_its_own_status(result):
    planned = {}
    for r in bench.plan(REQUESTS, seed=1, scale=0.5):
        planned[r.kind] = planned.get(r.kind, 0) + 1
    expected = {**dict.fromkeys(bench.NORMAL, 200), "formula_201": 422, "steps_10001": 422, "grid_201": 422,
                "optimizers_5": 422, "points_5001": 422, "malformed_json": 422, "upload_2mb": 413,
                "body_50mb": 413, "slow": 408}
    assert set(result["kinds"]) == set(expected)
    for kind, status in expected.items():
        k = result["kinds"][kind]
        assert k["statuses"] == {str(status): planned[kind]}, (kind, k["unexpected"])
    assert result["bad_not_4xx"] == []


def test_the_server_answers_during_the_load(result):
    probes = result["probes"]
    assert probes["count"] >= 10 and probes["failed"] == 0
    # the lightest request never waited as long as a computation the server cut at LIMITS["seconds"]
    # (measured in the same load): the event loop is not blocked by the computations
    assert probes["p99"] < result["kinds"]["slow"]["p50"], (probes, result["kinds"]["slow"])


def test_memory_stays_bounded(result):
    rss = result["rss"]
    assert rss["growth"] < 300 * 2**20, rss
    assert rss["after"] < rss["baseline"] + 300 * 2**20, rss
