"""``python -m gradstep``: the ``gradstep`` command."""

from .cli import app

app(prog_name="gradstep")
