"""The README's "A short tour", run as a newcomer runs it: its code block as a script in a new
interpreter (in an empty folder), where a warning is an error: the tour must run without one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tour() -> str:
    """The Python block under "## A short tour"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## A short tour"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_tour_runs_without_a_warning(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GRADSTEP_")}, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", "-W", "error::RuntimeWarning", "-c", tour()],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # nothing on stderr but, on a first run after an install, the one line saying the loops compile
    assert [line for line in proc.stderr.splitlines() if not line.startswith("gradstep: compiling")] == []
    assert json.loads((tmp_path / "run.json").read_text())["format"]   # to_json("run.json") wrote the history


def test_the_tour_uses_only_what_the_quick_start_installs_or_names_the_extra():
    """torch is not in the [plot] extra of the quick start: the tour says which extra its lines need."""
    code = tour()
    before_torch = code[:code.index("import torch")]
    assert "torch extra" in before_torch.splitlines()[-2] + before_torch.splitlines()[-1]
    assert "torch" not in code[:code.index("# PyTorch")]
