"""``gradstep serve``: the browser playground on http://127.0.0.1:8765 (see :mod:`gradstep.web.app`)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import fail, out, warn


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; keep 127.0.0.1 unless others must reach it.")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
) -> None:
    """Start the playground: watch descent on any formula, race optimisers, fit a line by hand."""
    try:
        import uvicorn

        from ..web.app import create_app, warn_if_exposed
    except ImportError as e:
        fail(f"the playground needs FastAPI and uvicorn ({e}); install them with: pip install 'gradstep[web]'")
    if not 0 < port < 65536:
        fail(f"--port must be between 1 and 65535, got {port}")
    warning = warn_if_exposed(host)
    if warning:
        warn(warning)
    shown = f"[{host}]" if ":" in host else host
    out.print(f"gradstep playground: http://{shown}:{port}/  (Ctrl+C stops it)", highlight=False)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
