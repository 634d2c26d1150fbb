r"""gradstep's fast paths against every peer and the memory floor, side by side in one run.

One command, one process, the same data for every contender::

    python benchmarks/speed.py            # the full sizes of issue 6 (a few minutes on 2 cores)
    python benchmarks/speed.py --quick    # small sizes, seconds (what the test suite runs)

It prints one table per comparison with medians and ratios, and a last table of
the targets with their measured ratios and whether each is met:

1. **Read floor**: one parallel pass that reads ``X`` (n × d float64) once and
   sums it, compiled with Numba over all cores: the least any full-batch
   gradient must cost.
2. **Full-batch gradient**, linear (``X.T @ (X @ w - y) / n``) and logistic, d =
   20 and 100: gradstep (fused single-pass kernel), plain NumPy (the formula as
   written), PyTorch CPU (the same formula in torch), each as a multiple of the
   read floor.
3. **Sufficient statistics**: one full-batch step of squared loss from XᵀX, Xᵀy
   against a plain NumPy step at n = 10⁶, d = 20; and a whole gradient-descent
   solve to 1e-8 (relative, coefficients) of the closed form against
   ``np.linalg.lstsq`` on the same data.
4. **Per-sample SGD**, linear and logistic, d = 20: gradstep's compiled loop
   against scikit-learn's ``SGDRegressor`` / ``SGDClassifier`` (same epochs,
   constant learning rate, no penalty, no shuffling) and a tutorial-style Python
   loop, in samples per second, with final training losses.
5. **Mini-batch 64**, linear, d = 20: gradstep against a plain NumPy loop over
   batches and the usual PyTorch CPU loop (``nn.Linear``, autograd,
   ``torch.optim.SGD``).
6. **Start-up**: ``import gradstep`` and ``gradstep minimize "x**2 + y**2" --x0
   3,2 --steps 50`` end to end (second run, warm caches), wall time in fresh
   processes, less a bare ``python -c pass``.
7. **GPU** (only where CUDA is available): ``benchmarks/gpu_bandwidth.py``'s
   table, gradients against the device's copy bandwidth.

Times are medians of ``--repeat`` runs after a warm-up (compilation happens
there and is cached on disk). Nothing here asserts a speed; the test suite runs
``--quick`` only to check that the command works and the fast paths give the
plain paths' numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


# --------------------------------------------------------------------------- timing
def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class Target:
    """A target of issue 6: ``measured`` against ``bound`` (``at_least`` or at most)."""

    name: str
    measured: float
    bound: float
    at_least: bool
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.measured >= self.bound if self.at_least else self.measured <= self.bound


@dataclass
class Report:
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def table(self, title: str, header: list[str], rows: list[list[Any]]) -> None:
        self.tables.append((title, header, [[_fmt(c) for c in r] for r in rows]))
        _print_table(title, header, self.tables[-1][2])

    def target(self, name: str, measured: float, bound: float, at_least: bool, unit: str = "x") -> None:
        self.targets.append(Target(name, measured, bound, at_least, unit))


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.3g}" if abs(c) < 1e4 else f"{c:.3e}"
    return str(c)


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


# --------------------------------------------------------------------------- 1. the read floor
def read_floor(X: np.ndarray, repeat: int) -> float:
    """Seconds for one parallel pass reading ``X`` once (a compiled sum over all cores)."""
    import numba

    @numba.njit(parallel=True, cache=False, fastmath=True)
    def total(A):  # pragma: no cover - compiled
        n, d = A.shape
        s = 0.0
        for i in numba.prange(n):
            for j in range(d):
                s += A[i, j]
        return s

    return median_time(lambda: total(X), repeat, warmup=2)


# --------------------------------------------------------------------------- 2. full-batch gradients
def _full_batch(report: Report, n: int, ds: Sequence[int], repeat: int, floor_of: dict[int, float]) -> None:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rows = []
    for d in ds:
        rows += _full_batch_rows(report, n, d, repeat, floor_of[d])
    report.table(f"2. Full-batch gradient, n={n:,}, float64 (ms; 'x floor' = time / read floor)",
                 ["loss", "d", "floor ms", "gradstep ms", "numpy ms", "torch ms", "gradstep x floor",
                  "numpy x floor", "torch x floor", "numpy/gradstep", "torch/gradstep"], rows)


def _full_batch_rows(report: Report, n: int, d: int, repeat: int, floor: float) -> list[list[Any]]:
    """The linear and logistic rows of table 2 for one ``d``."""
    import torch

    from gradstep.objectives import LogisticLoss, SquaredError

    rng = np.random.default_rng(d)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d)
    y = X @ w + 0.1 * rng.standard_normal(n)
    labels = (y > 0).astype(np.float64)
    Y, L = y.reshape(-1, 1), labels.reshape(-1, 1)
    Xt, wt, yt, lt = (torch.from_numpy(a) for a in (X, w, y, labels))
    lin, logi = SquaredError(d, 1, "half_mse", False), LogisticLoss(d, False)

    def sig(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    contenders = {
        "linear": {
            "gradstep": lambda: lin.value_and_grad(w, (X, Y)),
            "numpy": lambda: X.T @ (X @ w - y) / n,
            "torch": lambda: Xt.T @ (Xt @ wt - yt) / n,
        },
        "logistic": {
            "gradstep": lambda: logi.value_and_grad(w, (X, L)),
            "numpy": lambda: X.T @ (sig(X @ w) - labels) / n,
            "torch": lambda: Xt.T @ (torch.sigmoid(Xt @ wt) - lt) / n,
        },
    }
    rows = []
    for loss, fns in contenders.items():
        t = {name: median_time(fn, repeat, warmup=2) for name, fn in fns.items()}
        rows.append([loss, d, f"{floor * 1e3:.2f}", f"{t['gradstep'] * 1e3:.2f}", f"{t['numpy'] * 1e3:.2f}",
                     f"{t['torch'] * 1e3:.2f}", t["gradstep"] / floor, t["numpy"] / floor, t["torch"] / floor,
                     t["numpy"] / t["gradstep"], t["torch"] / t["gradstep"]])
        report.target(f"full-batch {loss} gradient d={d}: time / read floor", t["gradstep"] / floor, 1.5, False)
        report.target(f"full-batch {loss} gradient d={d}: plain NumPy / gradstep", t["numpy"] / t["gradstep"],
                      3.0, True)
        report.target(f"full-batch {loss} gradient d={d}: PyTorch CPU / gradstep", t["torch"] / t["gradstep"],
                      3.0, True)
    return rows


# --------------------------------------------------------------------------- 3. sufficient statistics
def _statistics(report: Report, n: int, d: int, repeat: int) -> None:
    from gradstep import LinearRegression
    from gradstep.objectives import SquaredError, SquaredStats

    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, d)) + rng.uniform(-1, 1, d)
    coef = rng.standard_normal(d)
    y = X @ coef + 0.5 + 0.1 * rng.standard_normal(n)
    obj = SquaredError(d, 1, "mse", True)
    theta = np.zeros(d + 1)
    Y = y.reshape(-1, 1)
    stats = SquaredStats.of(X, Y, None, True)
    t_stats = median_time(lambda: obj.value_and_grad(theta, stats), repeat * 20, warmup=5)
    W, b = theta[:d], theta[d]
    t_plain = median_time(lambda: 2.0 / n * (X.T @ (X @ W + b - y)), repeat, warmup=1)
    t_gather = median_time(lambda: SquaredStats.of(X, Y, None, True), max(3, repeat // 2), warmup=1)

    A = np.column_stack([X, np.ones(n)])
    t_lstsq = median_time(lambda: np.linalg.lstsq(A, y, rcond=None), max(3, repeat // 2), warmup=1)
    exact = np.linalg.lstsq(A, y, rcond=None)[0]

    def solve() -> LinearRegression:
        return LinearRegression(optimizer="nesterov", epochs=400, tol=None, record_params=False,
                                sufficient_stats=True).fit(X, y)

    t_solve = median_time(solve, max(3, repeat // 2), warmup=1)
    model = solve()
    got = np.append(model.coef_, model.intercept_)
    rel = float(np.linalg.norm(got - exact) / np.linalg.norm(exact))
    report.table(f"3. Squared loss from sufficient statistics, n={n:,}, d={d}, float64",
                 ["what", "ms", "ratio"],
                 [["plain NumPy step (2/n Xᵀ(Xw + b − y))", f"{t_plain * 1e3:.3f}", ""],
                  ["gradstep step from XᵀX, Xᵀy", f"{t_stats * 1e3:.4f}", t_plain / t_stats],
                  ["gathering XᵀX, Xᵀy (once)", f"{t_gather * 1e3:.2f}", ""],
                  ["np.linalg.lstsq", f"{t_lstsq * 1e3:.2f}", ""],
                  [f"gradstep fit: Nesterov, 400 steps, rel. error {rel:.1e}", f"{t_solve * 1e3:.2f}",
                   t_solve / t_lstsq]])
    report.target("squared-loss step: plain NumPy / statistics", t_plain / t_stats, 1000.0, True)
    report.target(f"GD solve to 1e-8 (reached {rel:.1e}): time / lstsq", t_solve / t_lstsq if rel <= 1e-8 else
                  float("inf"), 2.0, False)


# --------------------------------------------------------------------------- 4, 5. SGD loops
def _sgd_data(n: int, d: int, logistic: bool, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    z = X @ (rng.standard_normal(d) / np.sqrt(d)) + 0.2
    if logistic:
        return X, (z + rng.logistic(size=n) > 0).astype(np.float64)
    return X, z + 0.3 * rng.standard_normal(n)


def _tutorial_loop(X: np.ndarray, y: np.ndarray, lr: float, logistic: bool) -> np.ndarray:
    """The tutorials' per-sample loop: one row at a time, in Python."""
    w, b = np.zeros(X.shape[1]), 0.0
    for i in range(X.shape[0]):
        z = X[i] @ w + b
        r = (1.0 / (1.0 + np.exp(-z)) - y[i]) if logistic else 2.0 * (z - y[i])
        w -= lr * r * X[i]
        b -= lr * r
    return np.append(w, b)


def _loss(X: np.ndarray, y: np.ndarray, coef: np.ndarray, b: float, logistic: bool) -> float:
    z = X @ coef + b
    if logistic:
        return float(np.mean(np.logaddexp(0.0, z) - y * z))
    return float(np.mean((z - y) ** 2))


def _per_sample(report: Report, n: int, d: int, epochs: int, repeat: int) -> None:
    rows = [_per_sample_row(report, kind, n, d, epochs, repeat) for kind in ("linear", "logistic")]
    report.table(f"4. Per-sample SGD, n={n:,}, d={d}, {epochs} epochs, constant lr (M samples/s; loss = "
                 "training loss after the run)",
                 ["model", "gradstep path", "gradstep", "sklearn", "tutorial loop", "vs sklearn", "vs tutorial",
                  "gradstep loss", "sklearn loss", "loss rel. diff"], rows)


def _per_sample_row(report: Report, kind: str, n: int, d: int, epochs: int, repeat: int) -> list[Any]:
    """One row of table 4: gradstep's per-sample SGD against scikit-learn's and the tutorial loop."""
    from sklearn.linear_model import SGDClassifier, SGDRegressor

    from gradstep import LinearRegression, LogisticRegression

    logistic = kind == "logistic"
    X, y = _sgd_data(n, d, logistic)
    lr = 0.01 if logistic else 0.005
    common = {"batch_size": 1, "shuffle": False, "epochs": epochs, "tol": None, "record_params": False,
              "optimizer": "sgd"}
    sk = {"penalty": None, "learning_rate": "constant", "eta0": lr, "max_iter": epochs, "tol": None,
          "shuffle": False, "average": False}

    def ours() -> Any:  # "half_mse" is scikit-learn's squared_error: the same step for the same lr
        if logistic:
            return LogisticRegression(lr=lr, **common).fit(X, y)
        return LinearRegression(lr=lr, loss="half_mse", **common).fit(X, y)

    def peer() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if logistic:
                return SGDClassifier(loss="log_loss", **sk).fit(X, y)
            return SGDRegressor(loss="squared_error", **sk).fit(X, y)

    t_ours = median_time(ours, repeat, warmup=1)
    t_peer = median_time(peer, repeat, warmup=1)
    m_ours, m_peer = ours(), peer()
    m = min(n, 20_000)
    t_tut = median_time(lambda: _tutorial_loop(X[:m], y[:m], lr if logistic else lr / 2, logistic), 1, 0)
    rate = {"gradstep": n * epochs / t_ours, "sklearn": n * epochs / t_peer, "tutorial": m / t_tut}
    l_ours = _loss(X, y, np.ravel(m_ours.coef_), float(np.ravel(m_ours.intercept_)[0]), logistic)
    l_peer = _loss(X, y, np.ravel(m_peer.coef_), float(np.ravel(m_peer.intercept_)[0]), logistic)
    report.target(f"per-sample SGD {kind} d={d}: gradstep / scikit-learn samples/s",
                  rate["gradstep"] / rate["sklearn"], 2.5, True)
    report.target(f"per-sample SGD {kind} d={d}: gradstep / tutorial loop samples/s",
                  rate["gradstep"] / rate["tutorial"], 30.0, True)
    report.target(f"per-sample SGD {kind} d={d}: |loss - sklearn's| / sklearn's", abs(l_ours - l_peer) / l_peer,
                  0.01, False, unit="")
    return [kind, "compiled" if m_ours.history_.meta.get("compiled") else "plain", rate["gradstep"] / 1e6,
            rate["sklearn"] / 1e6, rate["tutorial"] / 1e6, rate["gradstep"] / rate["sklearn"],
            rate["gradstep"] / rate["tutorial"], l_ours, l_peer, abs(l_ours - l_peer) / l_peer]


def _mini_batch(report: Report, n: int, d: int, epochs: int, repeat: int) -> None:
    import torch

    from gradstep import LinearRegression

    X, y = _sgd_data(n, d, False)
    lr, bs = 0.01, 64

    def numpy_loop() -> np.ndarray:
        w, b = np.zeros(d), 0.0
        for _ in range(epochs):
            for s in range(0, n, bs):
                Xb, yb = X[s:s + bs], y[s:s + bs]
                r = Xb @ w + b - yb
                w -= lr * (2.0 / len(yb)) * (Xb.T @ r)
                b -= lr * (2.0 / len(yb)) * r.sum()
        return np.append(w, b)

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)

    def torch_loop() -> Any:
        torch.manual_seed(0)
        model = torch.nn.Linear(d, 1, dtype=torch.float64)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        loss_fn = torch.nn.MSELoss()
        for _ in range(epochs):
            for s in range(0, n, bs):
                opt.zero_grad()
                loss = loss_fn(model(Xt[s:s + bs]), yt[s:s + bs])
                loss.backward()
                opt.step()
        return model

    def ours() -> LinearRegression:
        return LinearRegression(lr=lr, batch_size=bs, shuffle=False, epochs=epochs, tol=None,
                                record_params=False).fit(X, y)

    t_ours = median_time(ours, repeat, warmup=1)
    t_np = median_time(numpy_loop, max(1, repeat // 2), warmup=0)
    t_torch = median_time(torch_loop, 1, warmup=0)
    m = ours()
    ref = numpy_loop()
    rel = float(np.linalg.norm(np.append(m.coef_, m.intercept_) - ref) / np.linalg.norm(ref))
    rate = {k: n * epochs / t for k, t in (("gradstep", t_ours), ("numpy", t_np), ("torch", t_torch))}
    report.table(f"5. Mini-batch 64, linear, n={n:,}, d={d}, {epochs} epochs (M samples/s)",
                 ["gradstep path", "gradstep", "numpy loop", "torch loop", "vs numpy", "vs torch",
                  "coef rel. diff to the numpy loop"],
                 [["compiled" if m.history_.meta.get("compiled") else "plain", rate["gradstep"] / 1e6,
                   rate["numpy"] / 1e6, rate["torch"] / 1e6, rate["gradstep"] / rate["numpy"],
                   rate["gradstep"] / rate["torch"], f"{rel:.1e}"]])
    report.target(f"mini-batch 64 linear d={d}: gradstep / NumPy loop samples/s", rate["gradstep"] / rate["numpy"],
                  3.0, True)
    report.target(f"mini-batch 64 linear d={d}: gradstep / PyTorch loop samples/s",
                  rate["gradstep"] / rate["torch"], 20.0, True)


# --------------------------------------------------------------------------- 6. start-up
def _wall(cmd: Sequence[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _startup(report: Report, repeat: int) -> None:
    env = dict(os.environ)
    bare = _wall([sys.executable, "-c", "pass"], repeat, env)
    imp = _wall([sys.executable, "-c", "import gradstep"], repeat, env)
    cli = [sys.executable, "-m", "gradstep", "minimize", "x**2 + y**2", "--x0", "3,2", "--steps", "50"]
    subprocess.run(cli, check=True, capture_output=True, env=env)  # the first run fills the caches
    run = _wall(cli, repeat, env)
    report.table("6. Start-up, fresh processes (s; median)", ["what", "wall s", "less bare python"],
                 [["python -c pass", bare, ""], ["import gradstep", imp, imp - bare],
                  ["gradstep minimize 'x**2 + y**2' --x0 3,2 --steps 50 (second run)", run, run - bare]])
    report.target("import gradstep (s, less bare python)", imp - bare, 0.3, False, unit="s")
    report.target("gradstep minimize end to end, second run (s)", run, 1.0, False, unit="s")


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: checks that everything runs (seconds)")
    ap.add_argument("--repeat", type=int, default=None, help="timed runs per measurement (median)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["full", "stats", "sgd", "minibatch", "startup", "gpu"])
    args = ap.parse_args(argv)
    quick = args.quick
    repeat = args.repeat or (3 if quick else 10)
    n_full, n_sgd, epochs = (20_000, 5_000, 2) if quick else (1_000_000, 200_000, 5)
    ds = (20, 100)
    report = Report()
    import numba
    import sklearn
    import torch

    print(f"gradstep speed benchmark: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}, "
          f"PyTorch {torch.__version__}, scikit-learn {sklearn.__version__}{' (quick)' if quick else ''}")
    floors = {}
    for d in ds:
        X = np.random.default_rng(0).standard_normal((n_full, d))
        floors[d] = read_floor(X, repeat)
    report.table(f"1. Read floor: one parallel pass over X, n={n_full:,}, float64",
                 ["d", "MB", "ms", "GB/s"],
                 [[d, n_full * d * 8 / 1e6, floors[d] * 1e3, n_full * d * 8 / floors[d] / 1e9] for d in ds])
    if "full" not in args.skip:
        _full_batch(report, n_full, ds, repeat, floors)
    if "stats" not in args.skip:
        _statistics(report, n_full, 20, repeat)
    if "sgd" not in args.skip:
        _per_sample(report, n_sgd, 20, epochs, max(1, repeat // 3))
    if "minibatch" not in args.skip:
        _mini_batch(report, n_sgd, 20, epochs, max(1, repeat // 3))
    if "startup" not in args.skip:
        _startup(report, max(3, repeat // 2))
    if "gpu" not in args.skip and torch.cuda.is_available():
        sys.path.insert(0, os.path.dirname(__file__))
        import gpu_bandwidth

        gpu_bandwidth.main(["--device", "cuda"] + (["--n", "100000"] if quick else []))
    rows = [[t.name, f"{t.measured:.3g}{t.unit}", f"{'>=' if t.at_least else '<='} {t.bound:g}{t.unit}",
             "met" if t.met else "MISSED"] for t in report.targets]
    report.table("Targets (issue 6)", ["target", "measured", "target", ""], rows)
    print(f"\n{sum(t.met for t in report.targets)} of {len(report.targets)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
