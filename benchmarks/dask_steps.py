r"""Full-batch gradient steps on a Dask cluster against the same steps on NumPy arrays in memory.

One command, one process, the same rows for every contender::

    python benchmarks/dask_steps.py              # 2e6 x 20 float64 rows (about a minute on 2 cores)
    python benchmarks/dask_steps.py --quick      # tiny sizes, seconds
    python benchmarks/dask_steps.py --rows 500000 --blocks 8

For :class:`~gradstep.LinearRegression` with ``sufficient_stats=False`` (every step is a pass over
the rows: :math:`X^\top (X w - y) / n`) and :class:`~gradstep.LogisticRegression`, it times

* **numpy**: ``fit`` on the NumPy arrays in memory (gradstep's fused kernels, all cores);
* **dask, W workers**: ``fit`` on a Dask array of the same rows in ``--blocks`` row blocks,
  persisted in the memory of a ``LocalCluster`` of W single-threaded worker processes on
  127.0.0.1 (:func:`gradstep.distributed.client`): each step maps the block gradients on the
  workers and sums them there, one round trip to the cluster.

A step's time is ``(t(E) - t(1)) / (E - 1)`` with ``t(E)`` the median wall time of a fit of ``E``
full-batch epochs (one step each): fixed costs (the summary pass, the learning rate, start-up)
cancel. The learning rates are fixed (below ``2/L`` for these rows), so every contender makes the
same steps; *coef rel diff* is the fitted coefficients' relative distance from numpy's. The
*round trip* column is the median time of a ``map_reduce`` that does nothing on the blocks: the
floor of a cluster step. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_rows(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X`` (n, d), a linear target and 0/1 labels drawn from a logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d)
    z = X @ w
    y = z + 0.1 * rng.standard_normal(n)
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-3 * z))).astype(np.float64)
    return X, y, labels


MODELS = {
    "linear (rows)": lambda epochs: _linear(epochs),
    "logistic": lambda epochs: _logistic(epochs),
}


def _linear(epochs: int) -> Any:
    from gradstep import LinearRegression

    return LinearRegression(sufficient_stats=False, lr=0.4, epochs=epochs, tol=None)


def _logistic(epochs: int) -> Any:
    from gradstep import LogisticRegression

    return LogisticRegression(lr=3.0, epochs=epochs, tol=None)


def step_time(fit: Callable[[int], Any], epochs: int, repeat: int) -> float:
    """Seconds per full-batch step: ``(t(epochs) - t(1)) / (epochs - 1)``."""
    long = median_time(lambda: fit(epochs), repeat)
    short = median_time(lambda: fit(1), repeat, warmup=0)
    return max(long - short, 0.0) / (epochs - 1)


def check_steps(model: Any, epochs: int) -> None:
    assert model.history_.n_steps == epochs, (model.history_.n_steps, epochs)


def measure(rows: int, d: int, blocks: int, epochs: int, repeat: int, workers: Sequence[int]) -> list[dict]:
    from gradstep.distributed import DaskRows, client

    X, y, labels = make_rows(rows, d)
    targets = {"linear (rows)": y, "logistic": labels}
    out: list[dict] = []
    reference: dict[str, np.ndarray] = {}
    for name, make in MODELS.items():
        t = targets[name]

        def fit_np(e: int, make=make, t=t) -> Any:
            m = make(e).fit(X, t)
            check_steps(m, e)
            return m

        reference[name] = np.atleast_1d(fit_np(epochs).coef_).ravel()
        out.append({"model": name, "contender": "numpy (in memory)", "step": step_time(fit_np, epochs, repeat),
                    "trip": None, "diff": 0.0})
    chunk = -(-rows // blocks)
    for w in workers:
        with client(workers=w) as c:
            Xd, yd, ld = (_on_workers(c, a, chunk) for a in (X, y, labels))
            src = DaskRows(Xd, yd)
            src.map_reduce(_nothing, _first)  # warm: the workers import gradstep
            trip = median_time(lambda src=src: src.map_reduce(_nothing, _first), max(repeat, 5))
            for name, make in MODELS.items():
                t = {"linear (rows)": yd, "logistic": ld}[name]

                def fit_dask(e: int, make=make, t=t, Xd=Xd) -> Any:
                    m = make(e).fit(Xd, t)
                    check_steps(m, e)
                    return m

                coef = np.atleast_1d(fit_dask(epochs).coef_).ravel()
                diff = float(np.linalg.norm(coef - reference[name]) / np.linalg.norm(reference[name]))
                out.append({"model": name, "contender": f"dask, {w} worker{'s' * (w > 1)}",
                            "step": step_time(fit_dask, epochs, repeat), "trip": trip, "diff": diff})
    return out


def _on_workers(c: Any, a: np.ndarray, chunk: int) -> Any:
    """``a`` as a Dask array of row blocks of ``chunk`` rows persisted in the workers' memory (sent
    once, so that the graph of each step carries no data)."""
    import dask.array as da
    from distributed import wait

    with warnings.catch_warnings():  # the rows go to the cluster in the graph, once
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        out = c.persist(da.from_array(a, chunks=(chunk,) + a.shape[1:]))
        wait(out)
    return out


def _nothing(X: np.ndarray, y: np.ndarray) -> int:
    return 0


def _first(a: Any, b: Any) -> Any:
    return a


def table(results: list[dict]) -> str:
    base = {r["model"]: r["step"] for r in results if r["contender"].startswith("numpy")}
    head = f"{'model':<15} {'contender':<20} {'ms/step':>10} {'x numpy':>9} {'round trip ms':>14} {'coef rel diff':>14}"
    lines = [head, "-" * len(head)]
    for r in sorted(results, key=lambda r: (r["model"], r["contender"] != "numpy (in memory)", r["contender"])):
        ratio = r["step"] / base[r["model"]] if base[r["model"]] > 0 else float("nan")
        trip = "" if r["trip"] is None else f"{1e3 * r['trip']:.1f}"
        lines.append(f"{r['model']:<15} {r['contender']:<20} {1e3 * r['step']:>10.1f} {ratio:>9.2f} "
                     f"{trip:>14} {r['diff']:>14.1e}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (20 000 rows), seconds")
    ap.add_argument("--rows", type=int, default=None, help="rows (default 2 000 000; 20 000 with --quick)")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--blocks", type=int, default=8, help="row blocks of the Dask array")
    ap.add_argument("--epochs", type=int, default=None, help="full-batch steps per timed fit (default 11; 6 quick)")
    ap.add_argument("--repeat", type=int, default=None, help="timed fits per contender (default 3; 2 quick)")
    ap.add_argument("--workers", type=str, default="1,2", help="cluster sizes, comma-separated")
    args = ap.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 2_000_000)
    epochs = args.epochs or (6 if args.quick else 11)
    repeat = args.repeat or (2 if args.quick else 3)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if rows < args.blocks or epochs < 2 or not workers or min(workers) < 1:
        ap.error("need rows >= blocks, epochs >= 2 and worker counts >= 1")
    import dask
    import distributed

    print(f"{rows} x {args.features} float64 rows ({rows * args.features * 8 / 1e6:.0f} MB), {args.blocks} blocks; "
          f"{epochs} full-batch steps per fit, median of {repeat}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, dask {dask.__version__}, "
          f"distributed {distributed.__version__}, {os.cpu_count()} CPU cores")
    t0 = time.perf_counter()
    results = measure(rows, args.features, args.blocks, epochs, repeat, workers)
    print()
    print(table(results))
    print(f"\n(whole run {time.perf_counter() - t0:.0f} s; 'x numpy' = ms/step over numpy's ms/step; "
          "'coef rel diff' = the fitted coefficients against numpy's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
