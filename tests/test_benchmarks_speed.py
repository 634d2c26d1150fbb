"""``benchmarks/speed.py --quick`` runs end to end and prints every table and the targets.

Speed itself is measured by the benchmark, not asserted here; this checks that
the one command of the README works and reports each comparison of issue 6.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


def test_the_quick_benchmark_prints_every_table_and_target():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--repeat", "1", "--skip", "gpu"], check=False,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for title in ("1. Read floor", "2. Full-batch gradient", "3. Squared loss from sufficient statistics",
                  "4. Per-sample SGD", "5. Mini-batch 64", "6. Start-up", "Targets (issue 6)"):
        assert title in text, title
    assert "targets met" in text
    # the fast paths ran (not the plain fallbacks) and the per-sample runs reach scikit-learn's loss
    assert "compiled" in text.split("4. Per-sample SGD")[1].split("5. Mini-batch")[0]
