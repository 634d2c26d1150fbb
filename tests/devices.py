"""The torch devices a test runs on: the CPU always, CUDA where a GPU exists.

``pytest -m cuda`` runs only the CUDA cases (on a GPU machine); on a machine
without one they are reported as skipped with the reason, never silently passed.
"""

from __future__ import annotations

import pytest
import torch

CUDA = pytest.param(
    "cuda",
    marks=[pytest.mark.cuda,
           pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")],
    id="cuda",
)
TORCH_DEVICES = ["cpu", CUDA]
"""For ``@pytest.mark.parametrize("device", TORCH_DEVICES)``."""
