r"""What a user types, timed as a whole process at the size users bring, against the simplest alternative.

One command::

    python benchmarks/end_to_end.py                     # 500,000 and 4,000,000 rows (84 and 672 MB); minutes
    python benchmarks/end_to_end.py --rows 500000       # one size
    python benchmarks/end_to_end.py --dask              # also through a 2-worker Dask cluster started from the shell
    python benchmarks/end_to_end.py --quick             # tiny files, seconds (what the test suite runs)
    python benchmarks/end_to_end.py --dir DATA --json results.json

It writes (once; a file already there is reused) the data a user would bring: Parquet files of
``rows`` × 20 float64 features ``x0 .. x19`` and a target ``y = X w + 0.5 + noise`` (uncompressed,
no dictionary: about 168 bytes a row), a CSV of 200,000 rows × 20 features and a 0/1 ``label``
drawn from a logistic model, and a CSV of 200,000 rows × 10 features and ``y``. Then it runs
every command as its own process (``subprocess``; peak RSS from ``os.wait4``'s resource usage of
that process alone) next to its peers, in the same run:

========== ================================================================ ===============================
case       the command                                                      its peer (the floor)
========== ================================================================ ===============================
gd         ``gradstep fit FILE --target y --epochs 100``                    a process that reads FILE with
                                                                            ``pyarrow.parquet.read_table``
sgd        ``gradstep fit FILE --target y --batch-size 256 --epochs 1``     the same read
stream     the same with ``--stream --json`` (rows read from its JSON)      the same read
dask       the same with ``--scheduler tcp://127.0.0.1:PORT`` (``--dask``)  ``stream``
logistic   ``gradstep fit clf.csv --target label --model logistic``         a process that reads the CSV with
                                                                            pyarrow and fits scikit-learn's
                                                                            ``LogisticRegression()`` (each
                                                                            with its defaults)
sgd1       ``gradstep fit data.csv --target y --batch-size 1 --epochs 2     a process that reads the CSV with
           --lr 0.001``                                                     pyarrow and runs the library's
                                                                            ``LinearRegression.fit``
nan        ``gradstep fit FILE`` on FILE with a NaN in its last row         the read (it must stop within it)
npz        ``gradstep fit`` on a 10 MB ``.npz`` that expands to 20 GB       (refused in under a second)
========== ================================================================ ===============================

The table gives seconds, peak RSS and the ratio to the peer; the last lines give the growth of
``gd``'s peak RSS against the data's growth between the two sizes. Nothing here asserts a speed;
the test suite runs ``--quick`` to check the commands and what they report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

D = 20
SEED = 20261203
CSV_ROWS = 200_000
GRADSTEP = [sys.executable, "-m", "gradstep"]


# --------------------------------------------------------------------------- data
def write_parquet(path: Path, rows: int, nan_last: bool = False) -> Path:
    """``rows`` × ``D`` features and ``y``, written in row groups of 131,072 rows without holding them all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists():
        return path
    w = np.random.default_rng([SEED, D]).uniform(-2, 2, D)
    names = [f"x{i}" for i in range(D)] + ["y"]
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, pa.schema([(n, pa.float64()) for n in names]), compression="none",
                          use_dictionary=False) as out:
        for lo in range(0, rows, 1 << 17):
            m = min(1 << 17, rows - lo)
            rng = np.random.default_rng([SEED, lo])
            X = rng.standard_normal((m, D))
            y = X @ w + 0.5 + 0.1 * rng.standard_normal(m)
            if nan_last and lo + m == rows:
                X[-1, D // 2] = np.nan
            out.write_table(pa.table(dict(zip(names, [*X.T, y]))), row_group_size=1 << 17)
    tmp.rename(path)
    return path


def write_csv(path: Path, rows: int, d: int, label: bool) -> Path:
    """A CSV of ``rows`` × ``d`` features (6 decimals) and ``y`` or a 0/1 ``label`` from a logistic model."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if path.exists():
        return path
    rng = np.random.default_rng([SEED, d, int(label)])
    w = rng.uniform(-2, 2, d)
    X = np.round(rng.standard_normal((rows, d)), 6)
    z = X @ w
    cols = {f"x{i}": X[:, i] for i in range(d)}
    if label:
        cols["label"] = (rng.uniform(size=rows) < 1 / (1 + np.exp(-z))).astype(np.int64)
    else:
        cols["y"] = np.round(z + 0.5 + 0.1 * rng.standard_normal(rows), 6)
    pacsv.write_csv(pa.table(cols), path.with_suffix(".tmp"))
    path.with_suffix(".tmp").rename(path)
    return path


def write_bomb(path: Path, expanded: int) -> Path:
    """An ``.npz`` whose arrays ``X`` (n × 100) and ``y`` (float64 zeros) take ``expanded`` bytes once
    decompressed; written in pieces, so they are never held in memory."""
    if path.exists():
        return path
    n = expanded // (8 * 101)
    piece = bytes(1 << 24)
    with zipfile.ZipFile(path.with_suffix(".tmp"), "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, shape in (("X", (n, 100)), ("y", (n,))):
            header = np.lib.format.header_data_from_array_1_0(np.zeros((0,) * len(shape)))
            header["shape"] = shape
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, header)
                left = int(np.prod(shape)) * 8
                while left > 0:
                    f.write(piece[:min(left, len(piece))])
                    left -= len(piece)
    path.with_suffix(".tmp").rename(path)
    return path


# --------------------------------------------------------------------------- measuring
def measure(cmd: list[str], env: dict | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Seconds, peak RSS (MB) and exit code of ``cmd`` run as one process, and its stdout."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errs:
        proc = subprocess.Popen(cmd, stdout=out, stderr=errs, env=env)
        try:
            _, status, usage = _wait(proc.pid, timeout)
        except TimeoutError:
            proc.kill()
            raise
        seconds = time.perf_counter() - t0
        out.seek(0)
        errs.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), errs.read().decode(errors="replace")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "code": os.waitstatus_to_exitcode(status),
            "stdout": stdout, "stderr": stderr.strip().splitlines()[-1:] if stderr.strip() else []}


def _wait(pid: int, timeout: float) -> tuple[int, int, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got = os.wait4(pid, os.WNOHANG)
        if got[0] == pid:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"process {pid} ran past {timeout} s")
        time.sleep(0.01)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


READ_PARQUET = "import sys, pyarrow.parquet as pq; t = pq.read_table(sys.argv[1]); print(t.num_rows)"
SKLEARN_LOGISTIC = """
import sys, numpy as np, pyarrow.csv as pacsv
from sklearn.linear_model import LogisticRegression
t = pacsv.read_csv(sys.argv[1]); y = t.column("label").to_numpy()
X = np.column_stack([t.column(c).to_numpy() for c in t.column_names if c != "label"])
ref = LogisticRegression(max_iter=1000).fit(X, y)
print(ref.score(X, y))
"""
LIBRARY_SGD1 = """
import sys, numpy as np, pyarrow.csv as pacsv
import gradstep
t = pacsv.read_csv(sys.argv[1]); y = t.column("y").to_numpy()
X = np.column_stack([t.column(c).to_numpy() for c in t.column_names if c != "y"])
m = gradstep.LinearRegression(batch_size=1, lr=0.001, epochs=2, tol=None, random_state=0).fit(X, y)
print(m.intercept_)
"""


def run_cases(files: dict[str, Path], sizes: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every case at every size, each next to its peer; the rows of the table."""
    rows: list[dict[str, Any]] = []

    def add(case: str, size: str, cmd: list[str], peer: dict | None, **extra: Any) -> dict:
        best = None
        for _ in range(args.repeat):
            r = measure(cmd)
            best = r if best is None or r["seconds"] < best["seconds"] else best
        best.update(case=case, size=size, ratio=best["seconds"] / peer["seconds"] if peer else None, **extra)
        rows.append(best)
        _show(best)
        return best

    for n in sizes:
        big = files[f"parquet{n}"]
        label = f"{n:,} rows ({big.stat().st_size / 1e6:.0f} MB)"
        floor = add("read", label, python(READ_PARQUET) + [str(big)], None)
        add("gd", label, GRADSTEP + ["fit", str(big), "--target", "y", "--epochs", "100", "--quiet"], floor)
        add("sgd", label, GRADSTEP + ["fit", str(big), "--target", "y", "--batch-size", "256", "--epochs", "1",
                                      "--quiet"], floor)
        st = add("stream", label, GRADSTEP + ["fit", str(big), "--target", "y", "--batch-size", "256", "--epochs",
                                              "1", "--stream", "--json"], floor)
        st["rows_read_per_row"] = _rows_read(st) / n
        if args.dask:
            with dask_cluster() as address:
                d = add("dask", label, GRADSTEP + ["fit", str(big), "--target", "y", "--batch-size", "256", "--epochs",
                                                   "1", "--scheduler", address, "--json"], st)
                d["rows_read_per_row"] = _rows_read(d) / n
        nan = files.get(f"nan{n}")
        if nan is not None:
            add("nan", label, GRADSTEP + ["fit", str(nan), "--target", "y", "--epochs", "1", "--quiet"], floor)
    ref = add("sklearn", "clf.csv", python(SKLEARN_LOGISTIC) + [str(files["clf"])], None)
    lg = add("logistic", "clf.csv", GRADSTEP + ["fit", str(files["clf"]), "--target", "label", "--model", "logistic",
                                                "--json"], ref)
    lg["accuracy_gap"] = _accuracy(lg) - float(ref["stdout"].split()[-1])
    lib = add("library", "data.csv", python(LIBRARY_SGD1) + [str(files["data"])], None)
    add("sgd1", "data.csv", GRADSTEP + ["fit", str(files["data"]), "--target", "y", "--batch-size", "1", "--epochs",
                                        "2", "--lr", "0.001", "--quiet"], lib)
    budget = ["--memory", "50M"] if args.quick else []   # the quick archive expands to 200 MB only
    add("npz", f"{files['npz'].stat().st_size / 1e6:.0f} MB .npz", GRADSTEP + ["fit", str(files["npz"]), "--target",
                                                                             "y", "--quiet", *budget], None)
    return rows


def _rows_read(r: dict) -> float:
    try:
        return float(json.loads(r["stdout"])["rows_read"])
    except (ValueError, KeyError):
        return float("nan")


def _accuracy(r: dict) -> float:
    try:
        return float(json.loads(r["stdout"])["accuracy"])
    except (ValueError, KeyError):
        return float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class dask_cluster:
    """A ``dask scheduler`` and two ``dask worker`` processes (one thread each) on 127.0.0.1, started as a
    user would start them from the shell; stopped on exit."""

    def __enter__(self) -> str:
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        dask = shutil.which("dask") or "dask"
        self.procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--dashboard-address", ":0"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        time.sleep(3)
        for _ in range(2):
            self.procs.append(subprocess.Popen([dask, "worker", self.address, "--nthreads", "1",
                                                "--dashboard-address", ":0"],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(5)
        return self.address

    def __exit__(self, *exc: object) -> None:
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


# --------------------------------------------------------------------------- report
def _show(r: dict) -> None:
    ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else ""
    extra = "".join(f"  {k}={r[k]:.4g}" for k in ("rows_read_per_row", "accuracy_gap") if k in r)
    print(f"{r['case']:<9} {r['size']:<28} {r['seconds']:8.2f} s {r['peak_mb']:8.0f} MB  exit {r['code']:<3} "
          f"{ratio:>8}{extra}  {' '.join(r['stderr'])[:160]}", flush=True)


def growth(rows: list[dict], sizes: list[int], files: dict[str, Path]) -> dict[str, float] | None:
    """``gd``'s peak RSS growth between the smallest and the largest size, over the data's growth."""
    if len(sizes) < 2:
        return None
    gd = {r["size"]: r["peak_mb"] for r in rows if r["case"] == "gd"}
    small, large = (f"{n:,} rows ({files[f'parquet{n}'].stat().st_size / 1e6:.0f} MB)" for n in (sizes[0], sizes[-1]))
    data = (sizes[-1] - sizes[0]) * (D + 1) * 8 / 1e6
    return {"rss_growth_mb": gd[large] - gd[small], "data_growth_mb": data, "ratio": (gd[large] - gd[small]) / data}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", default="500000,4000000", help="Parquet sizes in rows, comma-separated")
    p.add_argument("--quick", action="store_true", help="tiny files (for the test suite)")
    p.add_argument("--dask", action="store_true", help="also through a 2-worker Dask cluster")
    p.add_argument("--repeat", type=int, default=1, help="runs per case (the fastest is kept)")
    p.add_argument("--dir", type=Path, default=None, help="where the data files are kept (default: a temporary folder)")
    p.add_argument("--json", type=Path, default=None, help="write the results there")
    args = p.parse_args(argv)
    sizes = [4000, 32000] if args.quick else [int(s) for s in args.rows.split(",")]
    csv_rows = 2000 if args.quick else CSV_ROWS
    folder = args.dir or Path(tempfile.mkdtemp(prefix="gradstep-e2e-"))
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for n in sizes:
        files[f"parquet{n}"] = write_parquet(folder / f"rows{n}.parquet", n)
        files[f"nan{n}"] = write_parquet(folder / f"rows{n}-nan.parquet", n, nan_last=True)
    files["clf"] = write_csv(folder / f"clf{csv_rows}.csv", csv_rows, D, label=True)
    files["data"] = write_csv(folder / f"data{csv_rows}.csv", csv_rows, 10, label=False)
    files["npz"] = write_bomb(folder / "bomb.npz", (20 << 30) if not args.quick else (200 << 20))
    print(f"gradstep end to end — {os.cpu_count()} cores, Python {sys.version.split()[0]}; data in {folder}")
    print(f"{'case':<9} {'data':<28} {'time':>10} {'peak RSS':>11}  exit  vs peer")
    rows = run_cases(files, sizes, args)
    print("\n| case | data | seconds | peak RSS (MB) | exit | × peer | notes |\n|---|---|---|---|---|---|---|")
    for r in rows:
        notes = ", ".join(f"{k.replace('_', ' ')} {r[k]:.3g}" for k in ("rows_read_per_row", "accuracy_gap") if k in r)
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else ""
        print(f"| {r['case']} | {r['size']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {r['code']} | {ratio} "
              f"| {notes} |")
    g = growth(rows, sizes, files)
    if g:
        print(f"gd peak RSS grew {g['rss_growth_mb']:.0f} MB for {g['data_growth_mb']:.0f} MB more data: "
              f"{g['ratio']:.2f}x the data's growth")
    if args.json:
        args.json.write_text(json.dumps({"rows": [{k: v for k, v in r.items() if k != "stdout"} for r in rows],
                                         "growth": g}, indent=2))
    if args.dir is None:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
