"""Shared pieces of the command line: output, errors, option parsing, progress, loading data."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, NoReturn, Self

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)

EXIT_DIVERGED = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: message`` on one line of stderr and exit (2: bad input, 1: diverged)."""
    err.print(f"[bold red]error:[/] {escape(' '.join(str(message).split()))}", highlight=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def optional_float(text: str | None, name: str) -> float | None:
    """A number, or None for 'none' / 'off'."""
    if text is None or text.strip().lower() in ("none", "off", ""):
        return None
    try:
        return float(text)
    except ValueError:
        fail(f"{name} must be a number or 'none', got {text!r}")


def floats(text: str, name: str) -> list[float]:
    """``"3,2"`` -> ``[3.0, 2.0]``."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{name} must be numbers separated by commas, e.g. 3,2; got {text!r}")
    if not values:
        fail(f"{name} needs at least one number, e.g. 3,2")
    return values


def names(text: str | None) -> list[str] | None:
    return [v.strip() for v in text.split(",") if v.strip()] if text else None


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    parts = [p for p in text.split(",") if p.strip()]
    nums = [float(p) for p in parts]
    return tuple(nums) if len(nums) > 1 else nums[0]


def optimizer_params(items: list[str] | None) -> dict[str, Any]:
    """``["momentum=0.95", "betas=0.9,0.99", "amsgrad=true"]`` -> a dict of hyper-parameters."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--opt takes NAME=VALUE, e.g. --opt momentum=0.95 or --opt betas=0.9,0.99; got {item!r}")
        try:
            params[key.strip()] = _value(value)
        except ValueError:
            fail(f"--opt {key.strip()}: {value!r} is not a number, a list of numbers or true/false")
    return params


SCHEDULE_HELP = ("constant | step:STEP_SIZE[:GAMMA] | exponential:GAMMA | inverse_time[:POWER] | "
                 "cosine:T_MAX[:ETA_MIN], applied to --lr")


def schedule(spec: str | None, lr: float) -> Any:
    """Turn ``--schedule step:100:0.5`` and ``--lr`` into a learning rate or schedule."""
    from ..optim import schedules

    if spec is None or spec.strip().lower() in ("", "constant", "none"):
        return lr
    kind, *args = [p.strip() for p in spec.split(":")]
    table = {"step": (schedules.step, (int, float)), "exponential": (schedules.exponential, (float,)),
             "inverse_time": (schedules.inverse_time, (float,)), "cosine": (schedules.cosine, (int, float))}
    if kind not in table or len(args) > len(table[kind][1]):
        fail(f"--schedule {spec!r} is not understood; use {SCHEDULE_HELP}")
    make, types = table[kind]
    try:
        return make(lr, *[t(a) for t, a in zip(types, args)])
    except (TypeError, ValueError) as e:
        fail(f"--schedule {spec!r}: {e}; use {SCHEDULE_HELP}")


def jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def emit_json(payload: dict[str, Any]) -> None:
    print(json.dumps(jsonable(payload), indent=2))


def brief(summary: dict[str, Any], numbers: np.ndarray, as_json: bool, quiet: bool) -> bool:
    """Print the run as JSON (``--json``) or only its numbers (``--quiet``); True when done so."""
    if as_json:
        emit_json(summary)
    elif quiet:
        print(" ".join(f"{v:.10g}" for v in numbers))
    return as_json or quiet


class Progress:
    """A progress bar on stderr that appears only once a run has taken longer than ``delay`` seconds.

    Use as the run's callback: ``callback(StepInfo)``. It needs no more than one call per compiled piece
    of an epoch (``every_step = False``), so it leaves a fit on the compiled path.
    """

    every_step = False

    def __init__(self, total: int, description: str, enabled: bool = True, delay: float = 1.0) -> None:
        self.total, self.description, self.enabled, self.delay = total, description, enabled, delay
        self.start = time.perf_counter()
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, info: Any) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if time.perf_counter() - self.start < self.delay:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress("{task.description}", BarColumn(), MofNCompleteColumn(),
                                     "loss {task.fields[loss]:.4g}", TimeRemainingColumn(),
                                     console=err, transient=True)
            self._task = self._bar.add_task(self.description, total=self.total, loss=info.loss)
            self._bar.start()
        self._bar.update(self._task, completed=info.step, loss=info.loss)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_data(file: Path | None, dataset: str | None, target: str | None, features: str | None,
              delimiter: str | None, dropna: bool, fill: str | None, task: str = "regression",
              memory: str | None = None):
    """The data of a command: a file, a bundled dataset by name, or the tutorial line (``memory``: the
    ``--memory`` budget, past which a NumPy file is refused from its headers)."""
    from ..data.datasets import load_dataset
    from ..data.memory import parse_size
    from ..data.readers import DataError, read_table

    if file is not None and dataset is not None:
        fail("give a FILE or --dataset NAME, not both")
    if dropna and fill is not None:
        fail("--dropna and --fill exclude each other: drop the rows or fill them")
    if fill is not None and fill != "mean":
        fail(f"--fill supports 'mean', got {fill!r}")
    try:
        if file is None:
            if target is not None or features is not None:
                fail("--target and --features go with a FILE; bundled datasets know their target")
            return load_dataset(dataset or "tutorial-line")
        if target is None:
            fail(f"give the column to predict with --target COLUMN (file {file})")
        missing = "drop" if dropna else ("mean" if fill else "error")
        budget = parse_size(memory) if memory is not None else None
        return read_table(file, target=target, features=names(features), delimiter=delimiter,
                          missing=missing, task=task, memory_budget=budget)
    except DataError as e:
        fail(str(e).replace("raise memory_budget", "give --memory SIZE"))
    except ValueError as e:  # unknown dataset name
        fail(str(e))


def plots_module():
    """Import :mod:`gradstep.plots`, or fail with how to install matplotlib."""
    try:
        from .. import plots
    except ImportError as e:  # pragma: no cover - depends on the environment
        fail(f"plots need matplotlib ({e}); install it with: pip install 'gradstep[plot]'")
    return plots


def written(paths: list[Path], quiet: bool) -> None:
    if not quiet and paths:
        out.print("wrote " + ", ".join(str(p) for p in paths), highlight=False, markup=False)
