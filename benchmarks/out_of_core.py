r"""Linear regression fitted out of core on Parquet files of 1, 4 and 16 GB, against the speed of reading them.

One command::

    python benchmarks/out_of_core.py                  # 1, 4 and 16 GB (needs ~16 GB of free disk; long)
    python benchmarks/out_of_core.py --sizes 1,4      # other sizes (GB = 10**9 bytes of raw float64 data)
    python benchmarks/out_of_core.py --quick          # 5, 10 and 20 MB, seconds (what the test suite runs)
    python benchmarks/out_of_core.py --keep --json results.json

For each size it writes a Parquet file of ``d`` float64 features ``x0 .. x{d-1}`` and a target
``y = X @ w + 0.5 + noise`` (a seeded NumPy generator, chunk by chunk with
``pyarrow.parquet.ParquetWriter``, uncompressed, so the file is about the raw data:
``rows = size / (8 (d + 1))``). A file already there with the same rows and settings is reused.
Then it runs every measurement in a fresh Python process, so that each one's peak RSS is its own:

1. ``read``, **the floor**: every row group read with pyarrow
   (``ParquetFile.iter_batches(row_groups=[g])`` for each group ``g``, as the stream reads them),
   counting the rows and nothing else;
2. ``read+numpy``: the same, each chunk converted to a float64 ``(m, d)`` NumPy array and ``y``;
3. ``stream``: the rows as a streamed fit reads them, ``gradstep.data.stream.ParquetRows.read()``
   (the conversion plus its check for missing and infinite values);
4. ``sgd``: ``LinearRegression(batch_size=B, lr=..., epochs=E, tol=None, shuffle=True).fit_stream``:
   one summary pass (``gradstep.models.streaming.summarise``, timed on its own by wrapping it)
   then ``E`` shuffled epochs of compiled mini-batch steps;
5. ``gd``: ``LinearRegression(batch_size=None, lr="auto", epochs=S, tol=None).fit_stream``: the
   summary pass, then ``S`` full-batch steps from ``X̃ᵀX̃``, ``X̃ᵀy`` (no further pass).

A child first warms the Numba compile cache with a tiny fit of the same settings (not timed),
records its RSS after imports and warm-up (``base``), resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``, where allowed) and does the work. It reports ``peak``
(``getrusage(RUSAGE_SELF).ru_maxrss``: the whole process, imports and warm-up included) and
``work`` (``VmHWM`` after the reset: the peak during the measured work only).

The table gives, per measurement, seconds, rows per second (for a fit: rows × passes / seconds)
and ``× floor``: the floor's rows/s over the measurement's rows/s, i.e. how many times the time
of simply reading the file the measurement takes per pass. The last table compares the peak RSS
at the largest size with that at the smallest for every measurement (target: within 20%).

The file is read from the page cache when it fits there (the machine's memory); the floor is
measured first and under the same conditions as the fits. Nothing here asserts a speed; the test
suite runs ``--quick`` to check the command, and the fits' coefficients against the true ``w``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

MODES = ("read", "read+numpy", "stream", "sgd", "gd")
TAG = "OOC-RESULT "
SEED = 20240601
INTERCEPT = 0.5
NOISE = 0.1
GB = 10**9


# --------------------------------------------------------------------------- data
def true_coef(d: int, seed: int = SEED) -> np.ndarray:
    """The coefficients the data are generated from."""
    return np.random.default_rng([seed, d]).uniform(-2.0, 2.0, size=d)


def rows_for(size_gb: float, d: int) -> int:
    """Rows of ``d`` features and a target making ``size_gb`` GB of raw float64 data."""
    return max(1, int(size_gb * GB) // (8 * (d + 1)))


def _file_meta(d: int, rows: int, row_group_rows: int) -> dict[str, Any]:
    return {"generator": "gradstep benchmarks/out_of_core.py", "seed": SEED, "features": d, "rows": rows,
            "row_group_rows": row_group_rows, "intercept": INTERCEPT, "noise": NOISE, "version": 1}


def existing_ok(path: Path, d: int, rows: int, row_group_rows: int) -> bool:
    """Whether ``path`` is a complete file this script wrote with these settings."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return False
    try:
        meta = pq.read_metadata(path)
        kv = meta.metadata or {}
        stored = json.loads(kv.get(b"gradstep_ooc", b"{}"))
    except (OSError, ValueError):  # pyarrow's ArrowInvalid and JSON errors are ValueErrors
        return False
    return meta.num_rows == rows and meta.num_columns == d + 1 and stored == _file_meta(d, rows, row_group_rows)


def generate(path: Path, d: int, rows: int, row_group_rows: int) -> None:
    """Write ``rows`` rows to ``path`` in row groups of ``row_group_rows``, one group in memory at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"x{j}" for j in range(d)] + ["y"]
    schema = pa.schema([(n, pa.float64()) for n in names],
                       metadata={"gradstep_ooc": json.dumps(_file_meta(d, rows, row_group_rows))})
    w = true_coef(d)
    rng = np.random.default_rng([SEED, d, 1])
    tmp = path.with_name(path.name + ".part")
    with pq.ParquetWriter(tmp, schema, compression="none", write_statistics=False) as writer:
        done = 0
        while done < rows:
            m = min(row_group_rows, rows - done)
            X = rng.standard_normal((m, d))
            y = X @ w + INTERCEPT + NOISE * rng.standard_normal(m)
            arrays = [pa.array(X[:, j]) for j in range(d)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=row_group_rows)
            done += m
    os.replace(tmp, path)


# --------------------------------------------------------------------------- child: one measurement
def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) of this process; False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _warm_file(folder: str, d: int, m: int) -> str:
    """A tiny file of the same columns, for the warm-up."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, d))
    cols = {f"x{j}": X[:, j] for j in range(d)} | {"y": X @ true_coef(d) + INTERCEPT}
    path = os.path.join(folder, "warm.parquet")
    pq.write_table(pa.table(cols), path, row_group_size=max(1, m // 4))
    return path


def _measure(mode: str, path: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement of ``mode`` on ``path`` (its time in ``seconds``)."""
    import pyarrow.parquet as pq

    d = args.features
    cols = [f"x{j}" for j in range(d)] + ["y"]
    out: dict[str, Any] = {}
    rows = 0
    t0 = time.perf_counter()
    def batches() -> Any:
        # row group by row group, as the stream reads them: one iter_batches over a whole file
        # holds on to memory in proportion to the file (seen with pyarrow 26 on Linux)
        pf = pq.ParquetFile(path)
        for g in range(pf.num_row_groups):
            yield from pf.iter_batches(batch_size=args.chunk_rows, row_groups=[g], columns=cols,
                                       use_pandas_metadata=False)

    if mode == "read":
        for rb in batches():
            rows += rb.num_rows
        out["passes"] = 1
    elif mode == "read+numpy":
        checksum = 0.0
        for rb in batches():
            X = np.empty((rb.num_rows, d))
            for j in range(d):
                X[:, j] = rb.column(j).to_numpy()
            y = np.array(rb.column(d).to_numpy(), dtype=np.float64)
            checksum += X[-1, -1] + y[-1]
            rows += X.shape[0]
        out["passes"], out["checksum"] = 1, checksum
    elif mode == "stream":
        from gradstep.data.stream import ParquetRows

        for X, _y in ParquetRows(path, "y", chunk_rows=args.chunk_rows).read():
            rows += X.shape[0]
        out["passes"] = 1
    else:
        from gradstep import LinearRegression
        from gradstep.models import streaming

        timed: dict[str, Any] = {}
        plain = streaming.summarise

        def summarise(*a: Any, **k: Any) -> Any:  # the same function, timed
            s0 = time.perf_counter()
            timed["summary"] = plain(*a, **k)
            timed["summary_s"] = time.perf_counter() - s0
            return timed["summary"]

        streaming.summarise = summarise
        try:
            if mode == "sgd":
                model = LinearRegression(batch_size=args.batch_size, lr=args.lr, epochs=args.epochs, tol=None,
                                         shuffle=True, random_state=0, record_params=False)
                model.fit_stream(path, target="y", chunk_rows=args.chunk_rows, buffer_rows=args.buffer_rows)
                out["passes"] = 1 + args.epochs
            else:
                model = LinearRegression(batch_size=None, lr="auto", epochs=args.gd_steps, tol=None,
                                         record_params=False)
                model.fit_stream(path, target="y", chunk_rows=args.chunk_rows)
                out["passes"] = 1
        finally:
            streaming.summarise = plain
        seconds = time.perf_counter() - t0
        summary = timed["summary"]
        rows = summary.n_rows
        out["summary_s"] = timed["summary_s"]
        out["steps"] = int(model.history_.n_steps)
        out["compiled"] = bool(model.history_.meta.get("compiled", False))
        out["sufficient_stats"] = bool(model.history_.meta.get("sufficient_stats", False))
        w = true_coef(d)
        coef = np.ravel(model.coef_)
        intercept = float(np.ravel(model.intercept_)[0])
        out["coef_error"] = float(max(np.max(np.abs(coef - w)), abs(intercept - INTERCEPT)))
        G, C = np.asarray(summary.stats.G), np.asarray(summary.stats.C)[:, 0]
        exact = np.linalg.solve(G, C)  # the closed form of the same rows
        out["closed_form_error"] = float(np.max(np.abs(exact - np.append(w, INTERCEPT))))
        out["to_closed_form"] = float(np.max(np.abs(np.append(coef, intercept) - exact)))
        out["final_loss"] = float(model.history_.loss[-1]) if model.history_.n_steps else None
        out["seconds"], out["rows"] = seconds, int(rows)
        return out
    out["seconds"], out["rows"] = time.perf_counter() - t0, int(rows)
    return out


def child(args: argparse.Namespace) -> dict[str, Any]:
    import pyarrow.parquet  # noqa: F401

    if args.child in ("stream", "sgd", "gd"):
        import gradstep  # noqa: F401
    # warm-up, not timed: first calls into pyarrow's conversions, Numba compilation (or its disk cache)
    warm_args = argparse.Namespace(**{**vars(args), "epochs": 1, "gd_steps": 2})
    with tempfile.TemporaryDirectory() as tmp:
        _measure(args.child, _warm_file(tmp, args.features, 8 * args.batch_size), warm_args)
    gc.collect()
    out: dict[str, Any] = {"mode": args.child, "base_rss_kib": _status_kib("VmRSS"),
                           "peak_before_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    out["peak_reset"] = _reset_peak()
    out.update(_measure(args.child, args.path, args))
    out["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["work_peak_kib"] = _status_kib("VmHWM") if out["peak_reset"] else None
    return out


def run_child(mode: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--path", str(path),
           "--features", str(args.features), "--chunk-rows", str(args.chunk_rows),
           "--batch-size", str(args.batch_size), "--lr", repr(args.lr), "--epochs", str(args.epochs),
           "--gd-steps", str(args.gd_steps)]
    if args.buffer_rows:
        cmd += ["--buffer-rows", str(args.buffer_rows)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(TAG)]
    if proc.returncode != 0 or not lines:
        return {"mode": mode, "error": (proc.stderr or proc.stdout)[-2000:], "returncode": proc.returncode}
    res = json.loads(lines[-1][len(TAG):])
    res["process_s"] = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------- report
def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / 1024:,.0f}"


def _rate(rows: float, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def table(entry: dict[str, Any], args: argparse.Namespace) -> list[str]:
    res = entry["results"]
    floor = res.get("read", {})
    floor_rps = _rate(floor["rows"], floor["seconds"]) if "seconds" in floor else None
    head = (f"{'measurement':<28}{'seconds':>10}{'rows/s':>14}{'x floor':>9}{'base MiB':>10}{'peak MiB':>10}"
            f"{'work MiB':>10}")
    lines = [head, "-" * len(head)]

    def row(label: str, seconds: float, rows: float, r: dict | None = None) -> None:
        rps = _rate(rows, seconds)
        ratio = f"{floor_rps / rps:.2f}" if floor_rps and rps else "-"
        mem = (f"{_mib(r.get('base_rss_kib')):>10}{_mib(r.get('peak_rss_kib')):>10}{_mib(r.get('work_peak_kib')):>10}"
               if r else f"{'':>30}")
        lines.append(f"{label:<28}{seconds:>10.3f}{rps:>14,.0f}{ratio:>9}{mem}")

    for mode in MODES:
        r = res.get(mode)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"{mode:<28}FAILED (exit {r['returncode']}): {r['error'].strip().splitlines()[-1:]}")
            continue
        n = r["rows"]
        if mode == "read":
            row("read (floor)", r["seconds"], n, r)
        elif mode in ("read+numpy", "stream"):
            row(mode, r["seconds"], n, r)
        else:
            rest = r["seconds"] - r["summary_s"]
            row(f"{mode}: summary pass", r["summary_s"], n)
            if mode == "sgd":
                row(f"sgd: {args.epochs} epoch(s), per pass", rest, n * args.epochs)
            else:
                lines.append(f"{'gd: ' + str(r['steps']) + ' steps (no pass)':<28}{rest:>10.3f}")
            row(f"{mode}: whole fit, per pass", r["seconds"], n * r["passes"], r)
    for mode in ("sgd", "gd"):
        r = res.get(mode)
        if r and "error" not in r:
            how = ("from the summary's X̃ᵀX̃, X̃ᵀy" if r.get("sufficient_stats") else
                   "compiled" if r["compiled"] else "NOT compiled")
            lines.append(f"{mode}: {r['steps']:,} steps ({how}), "
                         f"max |coef - true w| {r['coef_error']:.2e}, max |coef - closed form| "
                         f"{r['to_closed_form']:.2e} (closed form vs true w {r['closed_form_error']:.2e})")
    return lines


def rss_targets(entries: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any], bool]:
    """Peak RSS at the largest size over the smallest, per measurement (target <= 1.2)."""
    ok = [e for e in entries if e["results"]]
    out: dict[str, Any] = {}
    lines = [(f"{'measurement':<14}{'peak MiB (smallest)':>21}{'peak MiB (largest)':>20}{'ratio':>8}"
              f"{'work ratio':>12}  target <= 1.2")]
    all_met = True
    if len(ok) < 2:
        return lines + ["(one size only: no ratio)"], out, True
    small, large = min(ok, key=lambda e: e["rows"]), max(ok, key=lambda e: e["rows"])
    for mode in [m for m in MODES if m in small["results"]]:
        a, b = small["results"].get(mode, {}), large["results"].get(mode, {})
        if "peak_rss_kib" not in a or "peak_rss_kib" not in b:
            lines.append(f"{mode:<14}  missing")
            all_met = False
            continue
        ratio = b["peak_rss_kib"] / a["peak_rss_kib"]
        work = (b["work_peak_kib"] / a["work_peak_kib"]) if a.get("work_peak_kib") and b.get("work_peak_kib") \
            else None
        met = ratio <= 1.2
        all_met &= met
        out[mode] = {"smallest_gb": small["size_gb"], "largest_gb": large["size_gb"], "ratio": ratio,
                     "work_ratio": work, "met": met}
        lines.append(f"{mode:<14}{_mib(a['peak_rss_kib']):>21}{_mib(b['peak_rss_kib']):>20}{ratio:>8.3f}"
                     f"{'-' if work is None else f'{work:.3f}':>12}  {'met' if met else 'MISSED'}")
    return lines, out, all_met


# --------------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1,4,16", help="data sizes in GB (10**9 bytes of raw float64), comma-separated")
    p.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "gradstep-ooc"), help="where the files go")
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--row-group-rows", type=int, default=1 << 17)
    p.add_argument("--chunk-rows", type=int, default=None, help="rows read at a time (default: the library's)")
    p.add_argument("--buffer-rows", type=int, default=None, help="rows shuffled together (default: the library's)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=0.1, help="the SGD learning rate (constant)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--gd-steps", type=int, default=100)
    p.add_argument("--modes", default=",".join(MODES), help="measurements to run, comma-separated (default all)")
    p.add_argument("--keep", action="store_true", help="keep the files (default: delete each after its runs)")
    p.add_argument("--quick", action="store_true", help="sizes 0.005,0.01,0.02 GB and small row groups")
    p.add_argument("--json", default=None, help="write the results there")
    p.add_argument("--child", choices=MODES, default=None, help=argparse.SUPPRESS)
    p.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        p.error(f"unknown measurement(s) {unknown}; choose among {', '.join(MODES)}")
    if args.quick:
        args.sizes = "0.005,0.01,0.02"
        args.row_group_rows = min(args.row_group_rows, 1 << 12)
        args.chunk_rows = args.chunk_rows or 1 << 12
        args.buffer_rows = args.buffer_rows or 1 << 14
    if args.chunk_rows is None:
        from gradstep.data.stream import CHUNK_ROWS
        args.chunk_rows = CHUNK_ROWS
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        print(TAG + json.dumps(child(args)), flush=True)
        return 0
    sizes = sorted(float(s) for s in args.sizes.split(",") if s.strip())
    d = args.features
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Out-of-core linear regression: {d} float64 features, row groups of {args.row_group_rows:,} rows, "
          f"chunks of {args.chunk_rows:,}, buffer {args.buffer_rows or 'default'}, batch {args.batch_size}, "
          f"lr {args.lr}, {args.epochs} epoch(s); GD {args.gd_steps} steps (lr auto)")
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; data in {folder}\n")
    need = max(rows_for(s, d) * 8 * (d + 1) for s in sizes) * 1.05
    free = shutil.disk_usage(folder).free
    if not args.keep and need > free:
        print(f"not enough disk in {folder}: the largest file needs about {need / GB:.1f} GB, "
              f"{free / GB:.1f} GB free (give --dir elsewhere)", file=sys.stderr)
        return 2
    entries: list[dict[str, Any]] = []
    failed = False
    for size in sizes:
        rows = rows_for(size, d)
        path = folder / f"ooc-{size:g}GB-d{d}-rg{args.row_group_rows}.parquet"
        entry: dict[str, Any] = {"size_gb": size, "rows": rows, "path": str(path), "results": {}}
        if existing_ok(path, d, rows, args.row_group_rows):
            entry["generated_s"] = None
            how = "reused"
        else:
            if shutil.disk_usage(folder).free < rows * 8 * (d + 1) * 1.05:
                print(f"size {size:g} GB: not enough free disk in {folder}, skipped", file=sys.stderr)
                failed = True
                continue
            t0 = time.perf_counter()
            generate(path, d, rows, args.row_group_rows)
            entry["generated_s"] = time.perf_counter() - t0
            how = f"generated in {entry['generated_s']:.1f} s"
        entry["file_bytes"] = path.stat().st_size
        groups = -(-rows // args.row_group_rows)
        print(f"== {size:g} GB: {rows:,} rows, {groups:,} row groups, file {entry['file_bytes'] / GB:.3f} GB "
              f"({how})", flush=True)
        try:
            for mode in [m for m in MODES if m in args.modes]:
                res = run_child(mode, path, args)
                entry["results"][mode] = res
                failed |= "error" in res
        finally:
            if not args.keep:
                path.unlink(missing_ok=True)
        print("\n".join(table(entry, args)) + "\n", flush=True)
        entries.append(entry)
    lines, ratios, met = rss_targets(entries)
    print("Peak RSS, largest size over smallest (issue: within 20% from 1 GB to 16 GB)")
    print("\n".join(lines))
    print("peak = whole child process (ru_maxrss); work = peak during the measured work only (VmHWM after reset)")
    if args.json:
        report = {"config": {k: v for k, v in vars(args).items() if k not in ("child", "path")},
                  "python": platform.python_version(), "cpus": os.cpu_count(), "sizes": entries,
                  "rss_ratio": ratios, "rss_target_met": met}
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
