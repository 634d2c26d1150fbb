r"""How close gradstep's full-batch gradients come to the memory bandwidth of the device.

A full-batch gradient of a linear model reads the whole ``n × d`` matrix ``X``
(once for :math:`z = Xw`, once more for :math:`X^\top r`), and does
:math:`O(nd)` arithmetic on it: on a GPU it is bound by memory traffic. This
script measures, in one run on one device,

1. the device-to-device copy bandwidth, ``dst.copy_(src)`` of a buffer the size
   of ``X`` (what the memory system delivers to a plain streaming kernel);
2. the time of gradstep's ``value_and_grad`` (what :func:`gradstep.loop.run`
   calls at every step) for linear regression
   (:class:`~gradstep.objectives.SquaredError`, ``loss="half_mse"``, no intercept:
   :math:`\nabla = X^\top(Xw - y)/n`) and logistic regression
   (:class:`~gradstep.objectives.LogisticLoss`, no intercept:
   :math:`\nabla = X^\top(\sigma(Xw) - y)/n`), in float32 and float64;
3. the same gradients written directly in torch, ``X.T @ (X @ w - y) / n`` and
   ``X.T @ (torch.sigmoid(X @ w) - y) / n``, as the reference.

Conventions of the table (GB = 1e9 bytes, times are medians over ``--repeat``
runs after ``--warmup`` runs, each between ``torch.cuda.synchronize()`` calls on
CUDA, measured with :func:`time.perf_counter`):

* ``copy`` GB/s = bytes read + bytes written = 2 × (bytes of X) / time;
* a gradient's GB/s = (bytes of X, read once) / time;
* ``of copy`` = gradient GB/s ÷ copy GB/s = copy time / (2 × gradient time):
  1.0 would be a gradient that streams ``X`` once at the copy's rate; the
  two-pass computation (``X @ w`` then ``X.T @ r``) is bounded by about 0.5
  when ``X`` does not fit in a cache.

gradstep's time includes the loss value it also returns (one more pass over the
``n`` decisions, not over ``X``, and one host synchronisation for the float).

Before anything is timed, gradstep's gradient is checked against the torch
formula in float64 (relative L2 error at most 1e-10); the script exits with
status 1 if it is not.

Usage::

    python benchmarks/gpu_bandwidth.py [--device cuda|cpu] [--n 1000000] [--d 20 100] [--repeat 20]
                                       [--warmup 3] [--threads N] [--seed 0]

On a CPU shared with other work, torch's thread pool can add milliseconds of
wake-up latency to every parallel kernel (the copy among them); ``--threads 1``
measures the kernels rather than the scheduler.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gradstep.objectives import LogisticLoss, SquaredError

GRAD_RTOL = 1e-10
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    kernel: str
    dtype: str
    d: int
    seconds: float
    gbps: float
    of_copy: float
    rel_err: float  # gradient against the torch formula (nan for the copy and the references)


def sync_for(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def median_time(fn: Callable[[], Any], repeat: int, warmup: int, sync: Callable[[], None]) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs, after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    r""":math:`\lVert a - b\rVert_2 / \lVert b\rVert_2` as a Python float (computed in float64)."""
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def problem(n: int, d: int, dtype: torch.dtype, device: torch.device, seed: int) -> dict[str, torch.Tensor]:
    """Seeded ``X`` (n, d), a point ``w`` (d,), linear targets and 0/1 labels, on ``device`` in ``dtype``."""
    gen = torch.Generator(device=device).manual_seed(seed)
    X = torch.randn(n, d, generator=gen, device=device, dtype=dtype)
    w_true = torch.randn(d, generator=gen, device=device, dtype=dtype) / math.sqrt(d)
    z = X @ w_true + 0.1 * torch.randn(n, generator=gen, device=device, dtype=dtype)
    w = 0.1 * torch.randn(d, generator=gen, device=device, dtype=dtype)  # the point where the gradient is taken
    return {"X": X, "w": w, "y_lin": z, "y_log": (z > 0).to(dtype)}


def gradients(p: dict[str, torch.Tensor]) -> dict[str, tuple[Callable[[], Any], Callable[[], torch.Tensor]]]:
    """For linear and logistic: ``(gradstep's value_and_grad call, the plain torch formula)``."""
    X, w = p["X"], p["w"]
    n, d = X.shape
    linear, logistic = SquaredError(d, loss="half_mse", fit_intercept=False), LogisticLoss(d, fit_intercept=False)
    y_lin, y_log = p["y_lin"], p["y_log"]
    batch_lin, batch_log = (X, y_lin[:, None]), (X, y_log[:, None])
    return {
        "linear": (lambda: linear.value_and_grad(w, batch_lin), lambda: X.T @ (X @ w - y_lin) / n),
        "logistic": (lambda: logistic.value_and_grad(w, batch_log), lambda: X.T @ (torch.sigmoid(X @ w) - y_log) / n),
    }


def check_gradients(n: int, ds: Sequence[int], device: torch.device, seed: int) -> list[str]:
    """gradstep's float64 gradients against the torch formulas; the failures, described (empty when all pass)."""
    failures = []
    for d in ds:
        for name, (ours, ref) in gradients(problem(n, d, torch.float64, device, seed)).items():
            err = relative_error(ours()[1], ref())
            if not err <= GRAD_RTOL:
                failures.append(f"{name}, d={d}: gradstep's gradient differs from the torch formula by "
                                f"{err:.3g} relative (allowed {GRAD_RTOL:g})")
    return failures


def copy_time(X: torch.Tensor, repeat: int, warmup: int, sync: Callable[[], None]) -> float:
    """Median time of ``dst.copy_(X)`` into a buffer like ``X`` (device to device)."""
    dst = torch.empty_like(X)
    return median_time(lambda: dst.copy_(X), repeat, warmup, sync)


def measure(n: int, ds: Sequence[int], device: torch.device, repeat: int, warmup: int, seed: int) -> list[Row]:
    """Every row of the table: per dtype and d, the copy, then gradstep's and torch's gradients."""
    sync = sync_for(device)
    rows = []
    for dtype_name, dtype in DTYPES.items():
        for d in ds:
            p = problem(n, d, dtype, device, seed)
            nbytes = p["X"].numel() * p["X"].element_size()
            t_copy = copy_time(p["X"], repeat, warmup, sync)
            copy_gbps = 2 * nbytes / t_copy / 1e9
            rows.append(Row("copy (read + write)", dtype_name, d, t_copy, copy_gbps, 1.0, math.nan))
            for name, (ours, ref) in gradients(p).items():
                err = relative_error(ours()[1], ref())
                for label, fn, e in ((f"{name} gradstep", ours, err), (f"{name} torch", ref, math.nan)):
                    t = median_time(fn, repeat, warmup, sync)
                    gbps = nbytes / t / 1e9
                    rows.append(Row(label, dtype_name, d, t, gbps, gbps / copy_gbps, e))
    return rows


def table(rows: Sequence[Row], n: int) -> str:
    """The rows as a plain fixed-width text table."""
    head = (f"{'kernel':<20} {'dtype':<8} {'d':>5} {'X MB':>9} {'time ms':>10} {'GB/s':>9} {'of copy':>8} "
            f"{'grad rel err':>13}")
    lines = [head, "-" * len(head)]
    for r in rows:
        mb = n * r.d * (4 if r.dtype == "float32" else 8) / 1e6
        err = "" if math.isnan(r.rel_err) else f"{r.rel_err:.2e}"
        lines.append(f"{r.kernel:<20} {r.dtype:<8} {r.d:>5} {mb:>9.1f} {r.seconds * 1e3:>10.3f} "
                     f"{r.gbps:>9.3g} {r.of_copy:>8.3g} {err:>13}")
    return "\n".join(lines)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU, {torch.get_num_threads()} torch threads"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"],
                        default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where to run (default: cuda if available, else cpu)")
    parser.add_argument("--n", type=int, default=1_000_000, help="rows of X (default 1000000)")
    parser.add_argument("--d", type=int, nargs="+", default=[20, 100],
                        help="columns of X, one or more (default 20 100)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per kernel; the median is reported")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's); 1 avoids thread-pool wake-up "
                             "latency on a busy machine")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here; use --device cpu")
    if args.n < 1 or args.repeat < 1 or args.warmup < 0 or any(d < 1 for d in args.d):
        parser.error("--n, --d and --repeat must be >= 1, --warmup >= 0")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    print(f"gradstep gradient bandwidth on {describe(device)}, torch {torch.__version__}")
    print(f"n = {args.n}, d = {' '.join(map(str, args.d))}, median of {args.repeat} runs after {args.warmup} warm-up")

    failures = check_gradients(args.n, args.d, device, args.seed)
    if failures:
        print("gradient check FAILED (float64, before timing):", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print(f"gradient check passed: gradstep's float64 gradients equal the torch formulas to {GRAD_RTOL:g} relative")
    print()
    print(table(measure(args.n, args.d, device, args.repeat, args.warmup, args.seed), args.n))
    print()
    print("GB/s: copy = (bytes read + bytes written) / time = 2 x bytes(X) / time; "
          "gradients = bytes(X) / time (X read once).")
    print("of copy = gradient GB/s / copy GB/s = copy time / (2 x gradient time); "
          "a two-pass gradient (X @ w, then X.T @ r) tops out near 0.5.")
    print("grad rel err: ||gradstep - torch formula|| / ||torch formula|| in that dtype.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
