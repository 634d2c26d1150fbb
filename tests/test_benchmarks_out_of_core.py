"""``benchmarks/out_of_core.py --quick`` runs end to end: every measurement at every size, and correct fits.

Speed and memory are measured by the benchmark, not asserted here (beyond being reported);
the fits are checked against the coefficients the data were generated from, an independent
reference, and full-batch descent against the closed form of the same rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "out_of_core.py"
MODES = ("read", "read+numpy", "stream", "sgd", "gd")


def test_the_quick_benchmark_reports_every_measurement_and_fits_the_true_coefficients(tmp_path):
    report = tmp_path / "ooc.json"
    data = tmp_path / "data"
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--dir", str(data), "--json", str(report)],
                         check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    text = out.stdout
    for title in ("read (floor)", "read+numpy", "stream", "sgd: summary pass", "sgd: whole fit",
                  "gd: summary pass", "gd: whole fit", "Peak RSS, largest size over smallest"):
        assert title in text, title
    assert text.count("== ") == 3
    assert not list(data.glob("*.parquet")), "the files are deleted without --keep"

    result = json.loads(report.read_text())
    sizes = result["sizes"]
    assert [e["size_gb"] for e in sizes] == [0.005, 0.01, 0.02]
    for entry in sizes:
        assert entry["rows"] == int(entry["size_gb"] * 10**9) // (8 * 21)
        for mode in MODES:
            r = entry["results"][mode]
            assert "error" not in r, (mode, r.get("error"))
            assert r["rows"] == entry["rows"], mode
            assert r["seconds"] > 0 and r["rows"] / r["seconds"] > 0, mode
            assert r["peak_rss_kib"] > 0 and r["base_rss_kib"] > 0, mode
        sgd, gd = entry["results"]["sgd"], entry["results"]["gd"]
        assert sgd["compiled"] and sgd["steps"] == -(-entry["rows"] // 512)
        assert 0 < sgd["summary_s"] < sgd["seconds"]
        assert sgd["coef_error"] < 0.05, sgd["coef_error"]
        assert gd["steps"] == 100 and gd["sufficient_stats"]
        assert gd["coef_error"] < 0.01, gd["coef_error"]
        assert gd["to_closed_form"] < 1e-8, gd["to_closed_form"]
    assert set(result["rss_ratio"]) == set(MODES)
    assert all(v["ratio"] > 0 for v in result["rss_ratio"].values())
