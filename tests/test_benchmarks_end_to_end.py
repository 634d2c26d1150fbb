"""``benchmarks/end_to_end.py --quick`` runs every command as a whole process and reports it.

Speed and memory are measured by the benchmark, not asserted here; what is checked are the
facts it reports that do not depend on the machine: every command ran (or failed as it must,
with exit code 2 for the bad files), a streamed epoch read each row at most twice (the summary
pass and the epoch), and the logistic fit's training accuracy against scikit-learn's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "end_to_end.py"


def test_the_quick_benchmark_runs_every_command(tmp_path):
    report = tmp_path / "e2e.json"
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--dir", str(tmp_path / "data"),
                          "--json", str(report)], check=False, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    rows = json.loads(report.read_text())["rows"]
    cases = [r["case"] for r in rows]
    assert cases.count("gd") == cases.count("sgd") == cases.count("stream") == cases.count("nan") == 2
    for r in rows:
        expected = 2 if r["case"] in ("nan", "npz") else 0
        assert r["code"] == expected, r
        assert r["seconds"] > 0 and r["peak_mb"] > 0
    for r in rows:
        if r["case"] == "stream":
            assert r["rows_read_per_row"] <= 2.0 + 1e-12, r
        if r["case"] == "nan":
            assert "row" in r["stderr"][0] and "x10" in r["stderr"][0]
        if r["case"] == "logistic":
            assert abs(r["accuracy_gap"]) <= 0.005, r
    assert "| case | data |" in out.stdout
