"""What a long per-sample fit costs in memory and checkpoints (issue 15, item 7).

Each case runs in a fresh child process (peak RSS is per process), with one BLAS thread (on a
busy machine a multi-threaded BLAS makes the small blocks of ``faults.check_data`` 100 times
slower, which would swamp the figures)::

    PYTHONPATH=src python benchmarks/record_size.py            # every case, 1M x 20 rows
    PYTHONPATH=src python benchmarks/record_size.py --rows 200000 memory

Cases:

* ``memory``: ``LinearRegression(batch_size=1, lr=0.001, epochs=5, tol=None)`` on X (rows x 20,
  float64, in memory): peak RSS (``ru_maxrss``) before and after the fit, for the default
  ``record_params="thinned"``, for ``"all"`` (every step's parameters, the old default) and for
  ``"none"`` (the run without any parameter record: what the rest of the fit costs);
* ``checkpoint``: 2 epochs without and with ``checkpoint_every=50000``: the time ratio and the size
  on disk of the checkpoint (its state and its ``.history`` files);
* ``graceful``: the ``checkpoint`` case inside :func:`gradstep.interrupt.graceful` (short pieces);
* ``sigterm``: 8 epochs with checkpoints inside :func:`gradstep.interrupt.graceful`, SIGTERM sent
  half a second into the fit: the seconds until ``fit`` returns;
* ``resume``: that interrupted run killed with SIGKILL mid-way, then resumed from its checkpoint:
  whether ``coef_``, ``intercept_`` and the history equal the uninterrupted run's bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

D = 20


def data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, D))
    return X, X @ rng.standard_normal(D) + 0.1 * rng.standard_normal(rows)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One case in this process; prints one JSON line."""
    from gradstep import LinearRegression, interrupt

    X, y = data(args.rows)
    LinearRegression(batch_size=1, lr=0.001, epochs=1, tol=None).fit(X[:100], y[:100])  # compile / load kernel
    from gradstep.models.base import GradientDescentModel

    loop_seconds = []
    run = GradientDescentModel._run

    def timed(self, *a, **k):
        t = time.perf_counter()
        try:
            return run(self, *a, **k)
        finally:
            loop_seconds.append(time.perf_counter() - t)

    GradientDescentModel._run = timed
    before = peak_mb()
    model = LinearRegression(batch_size=1, lr=0.001, epochs=args.epochs, tol=None, random_state=0,
                             record_params=args.record)
    kw = ({"checkpoint": args.checkpoint, "checkpoint_every": args.every, "resume": args.resume}
          if args.checkpoint else {})
    print(json.dumps({"event": "fitting", "time": time.time()}), flush=True)
    t0 = time.perf_counter()
    if args.graceful:
        with interrupt.graceful(notice=False):
            model.fit(X, y, **kw)
    else:
        model.fit(X, y, **kw)
    seconds = time.perf_counter() - t0
    h = model.history_
    out = {"event": "done", "time": time.time(), "seconds": seconds, "peak_before_mb": before,
           "peak_after_mb": peak_mb(), "loop_seconds": sum(loop_seconds), "steps": h.n_steps,
           "param_rows": 0 if h.params is None else len(h.params),
           "status": model.result_.status}
    if args.save:
        np.savez(args.save, coef=model.coef_, intercept=model.intercept_, loss=h.loss, params=h.params,
                 steps=h.param_steps, epoch_loss=h.epoch_loss)
    print(json.dumps(out), flush=True)


ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def spawn(rows: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--child", "--rows", str(rows), *extra],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, **ONE_THREAD})


def lines(p: subprocess.Popen) -> list[dict]:
    out, _ = p.communicate()
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def ckpt_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*"))


def memory(rows: int) -> None:
    data_mb = rows * D * 8 / 2**20
    for record in ("thinned", "all", "none"):
        r = lines(spawn(rows, "--epochs", "5", "--record", record))[-1]
        print(f"memory  record_params={record!r:10} {r['steps']} steps, {r['param_rows']} parameter rows: peak RSS "
              f"{r['peak_before_mb']:.0f} MB -> {r['peak_after_mb']:.0f} MB "
              f"(+{r['peak_after_mb'] - r['peak_before_mb']:.0f} MB;"
              f" data {data_mb:.0f} MB), fit {r['seconds']:.2f} s (descent {r['loop_seconds']:.2f} s)")


def checkpoint(rows: int, folder: Path, *extra: str, repeat: int = 3) -> None:
    """Without and with checkpoints, alternately ``repeat`` times: the fastest of each (timings on a
    shared machine are noisy)."""
    ck = folder / "bench.ckpt"
    plain, saved = [], []
    for _ in range(repeat):
        plain.append(lines(spawn(rows, "--epochs", "2", *extra))[-1])
        saved.append(lines(spawn(rows, "--epochs", "2", "--checkpoint", str(ck), *extra))[-1])
    fit0, fit1 = min(r["seconds"] for r in plain), min(r["seconds"] for r in saved)
    loop0, loop1 = min(r["loop_seconds"] for r in plain), min(r["loop_seconds"] for r in saved)
    print(f"checkpoint{' (in graceful)' if extra else ''}  {plain[0]['steps']} steps, fastest of {repeat}: fit "
          f"{fit0:.2f} s without, {fit1:.2f} s with a checkpoint every 50000 (x{fit1 / fit0:.2f}); descent "
          f"{loop0:.2f} s and {loop1:.2f} s (x{loop1 / loop0:.2f}); on disk {ckpt_size(ck) / 2**20:.1f} MB "
          f"({', '.join(f'{p.name} {p.stat().st_size / 2**20:.2f} MB' for p in sorted(folder.glob(ck.name + '*')))})")


def sigterm(rows: int, folder: Path) -> None:
    ck = folder / "term.ckpt"
    p = spawn(rows, "--epochs", "8", "--checkpoint", str(ck), "--graceful")   # a run of a few seconds
    first = json.loads(p.stdout.readline())
    time.sleep(max(0.0, first["time"] + 0.5 - time.time()))
    sent = time.time()
    p.send_signal(signal.SIGTERM)
    r = lines(p)[-1]
    print(f"sigterm  stopped after {r['steps']} steps, status {r['status']}: fit returned {r['time'] - sent:.3f} s "
          f"after SIGTERM")


def resume(rows: int, folder: Path) -> None:
    ref = folder / "ref.npz"
    lines(spawn(rows, "--epochs", "2", "--save", str(ref)))
    ck, out = folder / "kill.ckpt", folder / "resumed.npz"
    p = spawn(rows, "--epochs", "2", "--checkpoint", str(ck))
    p.stdout.readline()
    while not ck.exists() and p.poll() is None:   # killed once it has saved a few checkpoints
        time.sleep(0.01)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    from gradstep import checkpoint as checkpoints

    at = checkpoints.load(ck)["snapshot"].step
    r = lines(spawn(rows, "--epochs", "2", "--checkpoint", str(ck), "--resume", "--save", str(out)))[-1]
    a, b = np.load(ref, allow_pickle=True), np.load(out, allow_pickle=True)
    same = all(np.array_equal(a[k], b[k]) for k in a.files)
    print(f"resume  killed (last checkpoint at step {at}), then resumed to {r['steps']} steps: coef_, intercept_, "
          f"losses and kept parameters identical to the uninterrupted run: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=["memory", "checkpoint", "graceful", "sigterm", "resume"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--record", default="thinned")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--every", type=int, default=50_000)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--save", default=None)
    parser.add_argument("--graceful", action="store_true", help="fit inside gradstep.interrupt.graceful")
    args = parser.parse_args()
    if args.child:
        if args.record in ("True", "False"):
            args.record = args.record == "True"
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            {"memory": memory, "checkpoint": lambda r: checkpoint(r, Path(tmp)),
             "graceful": lambda r: checkpoint(r, Path(tmp), "--graceful"),
             "sigterm": lambda r: sigterm(r, Path(tmp)), "resume": lambda r: resume(r, Path(tmp))}[case](args.rows)


if __name__ == "__main__":
    main()
