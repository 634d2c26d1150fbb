"""``benchmarks/gpu_bandwidth.py`` runs as one command (on the CPU here) and checks gradients before timing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_bandwidth.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_bandwidth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_on_the_cpu_and_prints_the_table():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--n", "20000", "--repeat", "3"],
        check=False, capture_output=True, text=True, timeout=300, cwd=SCRIPT.parents[1],
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "gradient check passed" in text
    rows = [line.split() for line in text.splitlines()]
    for kernel in ("copy", "linear", "logistic"):
        for dtype in ("float32", "float64"):
            for d in ("20", "100"):
                assert any(r[:1] == [kernel] and dtype in r and d in r for r in rows), (kernel, dtype, d, text)
    assert sum(r[:2] == ["linear", "torch"] for r in rows) == 4  # the plain torch reference, per dtype and d
    # every timing row reports a positive time and bandwidth
    timed = [r for r in rows if r[:1] in (["copy"], ["linear"], ["logistic"])]
    assert len(timed) == 20
    for r in timed:  # kernel words, dtype, d, X MB, time ms, GB/s, of copy[, grad rel err]
        i = next(j for j, word in enumerate(r) if word in ("float32", "float64"))
        ms, gbps = float(r[i + 3]), float(r[i + 4])
        assert ms > 0 and gbps > 0, r
        if r[1] == "gradstep":  # gradstep's gradient against the torch formula, in that dtype
            assert float(r[i + 6]) <= (1e-5 if r[i] == "float32" else 1e-12), r
    assert "2 x bytes(X) / time" in text  # the convention is printed with the table


def test_benchmark_exits_non_zero_when_the_gradient_is_wrong(monkeypatch, capsys):
    bench = _module()
    right = bench.gradients

    def wrong(p):  # gradstep's linear gradient off by 1e-8 relative: the float64 check must refuse it
        out = right(p)
        ours, ref = out["linear"]
        out["linear"] = (lambda: (0.0, ours()[1] * (1 + 1e-8)), ref)
        return out

    monkeypatch.setattr(bench, "gradients", wrong)
    assert bench.main(["--device", "cpu", "--n", "500", "--d", "3", "--repeat", "1"]) == 1
    err = capsys.readouterr().err
    assert "gradient check FAILED" in err and "linear, d=3" in err and "logistic" not in err


def test_benchmark_refuses_bad_arguments(capsys):
    bench = _module()
    with pytest.raises(SystemExit) as e:
        bench.main(["--device", "cpu", "--n", "0"])
    assert e.value.code == 2 and "--n" in capsys.readouterr().err
