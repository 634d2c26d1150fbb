"""Checks shared by the figure tests: a written image is valid and not blank; drawn data by artist id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (700, 500)   # 7 x 5 inches at 100 dpi


def check_png(path: Path, size: tuple[int, int] = SIZE) -> None:
    """A valid PNG of ``size`` pixels that is not blank (its grey levels vary)."""
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == size
        assert np.asarray(im.convert("L"), dtype=float).std() > 10


def drawn(ax, gid: str) -> np.ndarray:
    """The (x, y) data of the line with this gid."""
    lines = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(lines) == 1, f"{gid}: {[line.get_gid() for line in ax.get_lines()]}"
    return lines[0].get_xydata()
