"""Shared pieces of the command line: output, errors, option parsing, progress, loading data."""

from __future__ import annotations

import difflib
import json
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, Self

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)

EXIT_DIVERGED = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: message`` on one line of stderr and exit (2: bad input, 1: diverged)."""
    err.print(f"[bold red]error:[/] {escape(' '.join(str(message).split()))}", highlight=False)
    raise typer.Exit(code)


# --------------------------------------------------------------------------------------------- help and parsing

# the panels that group a command's options in --help
DATA, MODEL, OPTIMISER, STOPPING, OUTPUT, LARGE = ("Data", "Model", "Optimiser", "Stopping", "Output",
                                                   "Large data and checkpoints")
START, GRID, CHECKPOINTS = "Problem", "Grid", "Checkpoints"

OPTIMIZER_DEFAULT = "auto"
"""The default ``--optimizer`` of every command: FISTA at 1/L for a full-batch fit with ``--lr auto``, else
plain gradient descent at the given ``--lr`` (``gd``; ``minimize`` and ``sweep`` always take a number)."""

def plain_optimizer(name: str) -> str:
    """``--optimizer`` of a command whose learning rate is always a number (``minimize``, ``sweep``): 'auto'
    is plain gradient descent, ``gd``, as in ``fit`` with a number for ``--lr``."""
    return "gd" if name.strip().lower() == OPTIMIZER_DEFAULT else name


OPTIMIZER_NAMES = ("gd", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "fista", "adamw", "adamax",
                   "nadam", "radam", "adadelta", "asgd", "rprop", "adafactor", "bb", "lbfgs")
"""The names of ``gradstep.optim.REGISTRY``, written out: importing the registry would add 120 ms to
``gradstep --help`` (``tests/test_registry_names.py`` checks that they are its names)."""

OPTIMIZER_LIST = "gd/sgd, " + ", ".join(OPTIMIZER_NAMES[2:])
"""The names as the ``--optimizer`` help lists them (``gd`` and ``sgd`` are the same plain step)."""

SYNONYMS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("--learning-rate", "--learningrate", "--step-size", "--stepsize", "--eta", "--rate"), ("--lr",)),
    **dict.fromkeys(("--iterations", "--iters", "--iter", "--max-iter", "--n-iter", "--num-iter", "--max-epochs",
                     "--n-epochs", "--num-epochs", "--epoch", "--n-steps", "--num-steps", "--max-steps", "--step"),
                    ("--epochs", "--steps")),
    **dict.fromkeys(("--optimiser", "--method", "--solver", "--algorithm", "--algo"), ("--optimizer",)),
    **dict.fromkeys(("--tolerance", "--ftol"), ("--tol",)),
    **dict.fromkeys(("--gradient-tolerance", "--grad-tol", "--gradtol"), ("--gtol",)),
    **dict.fromkeys(("--label", "--y", "--response", "--target-column", "--column", "--predict"), ("--target",)),
    **dict.fromkeys(("--scaling", "--standardize", "--standardise", "--normalize", "--normalise", "--standard"),
                    ("--scale",)),
    **dict.fromkeys(("--random-state", "--random-seed", "--rng"), ("--seed",)),
    **dict.fromkeys(("--lambda", "--reg", "--regularization", "--regularisation", "--weight-decay", "--l2"),
                    ("--alpha",)),
    **dict.fromkeys(("--start", "--init", "--initial", "--x", "--x-0", "--from"), ("--x0", "--at")),
    **dict.fromkeys(("--batch", "--batchsize", "--minibatch", "--mini-batch"), ("--batch-size",)),
    **dict.fromkeys(("--data", "--file", "--input"), ("--dataset",)),
    **dict.fromkeys(("--output", "--out-dir", "--plots", "--figures", "--figs", "--out"), ("--plot", "--out")),
    **dict.fromkeys(("--validation", "--val-fraction", "--validation-split", "--val"), ("--validation-fraction",)),
    **{f"--{name}": (f"--optimizer {name}",) for name in OPTIMIZER_NAMES},
}
"""Names a newcomer may try for an option, and the options they mean (the first one the command has is
suggested): ``--learning-rate`` is ``--lr``, ``--iterations`` is ``--epochs`` in ``fit`` and ``--steps`` in
``minimize``."""


def suggest(name: str, known: list[str]) -> str | None:
    """The option meant by a misspelt ``name`` among a command's ``known`` long options: the same with
    ``-`` for ``_`` or another case, a synonym from :data:`SYNONYMS`, or a close spelling."""
    key = name.lower().replace("_", "-")
    if not key.startswith("--"):
        key = "--" + key.lstrip("-")
    if key in known and key != name:
        return key
    for meant in SYNONYMS.get(key, ()):
        if meant.split()[0] in known:
            return meant
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _as_flags(params: list[Any]) -> list[Any]:
    """``params`` with every flag's value type hidden in ``--help`` (``--dropna``, not ``--dropna <bool>``)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """Every gradstep command: a flag shows no value type in ``--help``, and a misspelt option is answered
    with the option meant (``--learning-rate``: ``Did you mean --lr?``), from :data:`SYNONYMS` or a close
    spelling."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = _as_flags(super().get_params(ctx))
        panels = [getattr(p, "rich_help_panel", None) for p in params]
        if OUTPUT in panels:   # --help joins the output options, rather than a panel of its own
            for param in params:
                if "--help" in getattr(param, "opts", ()):
                    param.rich_help_panel = OUTPUT
        return params

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as e:   # Click's NoSuchOption (Typer vendors Click: matched by its attributes)
            name = getattr(e, "option_name", None)
            if not (isinstance(name, str) and hasattr(e, "possibilities") and hasattr(e, "message")):
                raise
            known = sorted({o for p in self.get_params(ctx) for o in (*p.opts, *p.secondary_opts)
                            if o.startswith("--")})
            meant = suggest(name, known)
            e.message = f"No such option: {name}" + (f". Did you mean {meant}?" if meant else "")
            e.possibilities = None
            raise


class Group(TyperGroup):
    """The ``gradstep`` command and ``gradstep history``: their flags shown as flags too."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _as_flags(super().get_params(ctx))


def cli_words(message: str) -> str:
    """A library message in the command line's words: its Python keywords and class names become the
    options that set them (``task='classification'``: ``--model logistic``; ``penalty must``: ``--penalty
    must``; the data readers' ``features=``: ``--features``, ``missing='drop'``: ``--dropna``)."""
    for python, option in CLI_WORDS:
        message = message.replace(python, option)
    message = _DATA_PARAMETER.sub(_data_flag, message)
    return _LEADING_NAME.sub(lambda m: "--" + m.group(1).replace("_", "-"), message)


def _data_flag(match: re.Match[str]) -> str:
    """The flag that sets a data reader's parameter: ``target='y'``: ``--target y``; ``missing='mean'``:
    ``--fill mean``."""
    name, value = match.group("name"), match.group("value")
    if name == "missing":
        return MISSING_FLAGS.get(value, match.group(0))
    return f"--{name}" if value is None else f"--{name} {value}"


CLI_WORDS = (
    ("resume=True needs checkpoint= (the file to go on from)",
     "--resume needs --checkpoint PATH (the checkpoint to go on from)"),
    ("for class labels use task='classification'", "for class labels use --model logistic (two classes) or "
                                                   "--model softmax (more)"),
    ("raise memory_budget", "give --memory SIZE"),
    ("pass target='y' or leave the target out", "pass --target y"),
    ("; use SoftmaxRegression", "; use --model softmax"),
    (" or a gradstep.optim transform", ""),
    ("(None, 'none', ", "('none', "),
    ("must be None (full batch) or an int >= 1", "must be a whole number >= 1 (leave it out for the full batch)"),
    ("must be an int >= 1", "must be a whole number >= 1"),
)
MISSING_FLAGS = {"drop": "--dropna", "mean": "--fill mean"}
"""The flags of ``read_table``'s ``missing=`` policies."""
# a reader's parameter as its messages spell it (``features=``, ``target='y'``, ``missing='drop'``), not
# inside a quoted name (a column called "target=" is shown as 'target=')
_DATA_PARAMETER = re.compile(r"(?<![\w'\"])(?P<name>target|features|delimiter|missing)=(?:'(?P<value>[^'\s]*)')?")
_LEADING_NAME = re.compile(r"^(penalty|scale|epochs|loss|optimizer|alpha|validation_fraction|batch_size|class_weight|"
                           r"clip_value|clip_norm|tol|gtol|lr)(?= must)")


def positive_lr(value: float, name: str = "--lr", auto: bool = False) -> float:
    """A learning rate as a step: a finite number above 0 (0 never moves, a negative one climbs the loss);
    ``auto``: the command also takes 'auto'."""
    if not (math.isfinite(value) and value > 0):
        why = "a step of 0 never moves" if value == 0 else "a negative step climbs the loss" if value < 0 else \
            "it is not finite"
        fail(f"{name} must be a number > 0{' or auto' if auto else ''}, got {value:g}: {why}; try 0.01"
             + (" or auto" if auto else ""))
    return value


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


SCHEDULE_HELP = ("constant[:FACTOR[:TOTAL]] | step:STEP_SIZE[:GAMMA] | multistep:M1,M2,...[:GAMMA] | "
                 "exponential:GAMMA | inverse_time[:POWER] | cosine:T_MAX[:ETA_MIN] | "
                 "cosine_warm_restarts:T_0[:T_MULT[:ETA_MIN]] | linear[:START[:END[:TOTAL]]] | "
                 "polynomial[:TOTAL[:POWER]] | one_cycle:TOTAL_STEPS (--lr the peak) | "
                 "cyclic:MAX_LR[:STEP_UP[:MODE]] (--lr the base); torch's lr_scheduler arguments, applied to --lr")


# the optimiser options fit and minimize share, declared once
ScheduleOption = Annotated[str | None, typer.Option("--schedule", metavar="SPEC", rich_help_panel=OPTIMISER,
                                                    help=SCHEDULE_HELP, show_default="constant")]
OptOption = Annotated[list[str] | None, typer.Option("--opt", metavar="NAME=VALUE", rich_help_panel=OPTIMISER,
                                                     help="Optimizer setting (torch names), repeatable.")]
ClipValueOption = Annotated[float | None, typer.Option(metavar="C", rich_help_panel=OPTIMISER,
                                                       help="Clip each gradient component to [-c, c].",
                                                       show_default="off")]
ClipNormOption = Annotated[float | None, typer.Option(metavar="C", rich_help_panel=OPTIMISER,
                                                      help="Rescale the gradient to L2 norm at most c.",
                                                      show_default="off")]


def schedule(spec: str | None, lr: float) -> Any:
    """Turn ``--schedule step:100:0.5`` and ``--lr`` into a learning rate or schedule."""
    from ..optim import schedules

    if spec is None or spec.strip().lower() in ("", "constant", "none"):
        return lr
    kind, *args = [p.strip() for p in spec.split(":")]
    table: dict[str, tuple[Callable[..., Any], tuple[Callable[[str], Any], ...]]] = {
        "constant": (schedules.constant, (float, int)),
        "step": (schedules.step, (int, float)),
        "multistep": (schedules.multistep, (_whole_numbers, float)),
        "exponential": (schedules.exponential, (float,)),
        "inverse_time": (schedules.inverse_time, (float,)),
        "cosine": (schedules.cosine, (int, float)),
        "cosine_warm_restarts": (schedules.cosine_warm_restarts, (int, int, float)),
        "linear": (schedules.linear, (float, float, int)),
        "polynomial": (schedules.polynomial, (int, float)),
        "one_cycle": (lambda peak, total: schedules.one_cycle(peak, total_steps=total), (int,)),
        "cyclic": (lambda base, top, up=2000, mode="triangular": schedules.cyclic(base, top, up, mode=mode),
                   (float, int, str)),
    }
    if kind not in table or len(args) > len(table[kind][1]):
        fail(f"--schedule {spec!r} is not understood; use {SCHEDULE_HELP}")
    make, types = table[kind]
    try:
        return make(lr, *[t(a) for t, a in zip(types, args)])
    except (TypeError, ValueError) as e:
        fail(f"--schedule {spec!r}: {e}; use {SCHEDULE_HELP}")


def _whole_numbers(text: str) -> tuple[int, ...]:
    """``"100,200"`` as ``(100, 200)``: a schedule's milestones."""
    return tuple(int(part) for part in text.split(","))


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
        fail(cli_words(str(e)))
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
