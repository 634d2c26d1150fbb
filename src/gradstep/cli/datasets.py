"""``gradstep datasets``: what can be used with ``--dataset NAME``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .common import emit_json, out


def datasets(as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False) -> None:
    """List the bundled datasets."""
    from ..data.datasets import describe_datasets

    rows = describe_datasets()
    if as_json:
        emit_json({"datasets": rows})
        return
    table = Table("name", "task", "rows", "features", "description", show_edge=False)
    for r in rows:
        table.add_row(r["name"], r["task"], str(r["n_samples"]), str(r["n_features"]), r["description"])
    out.print(table)
