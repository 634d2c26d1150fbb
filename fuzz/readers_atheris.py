"""Coverage-guided fuzzing of the data readers with atheris (libFuzzer), for long runs outside CI.

    python fuzz/readers_atheris.py -atheris_runs=200000
    python fuzz/readers_atheris.py -max_total_time=180

The first byte of an input picks the file's extension and the arguments
(target, missing policy, task, read_table or read_csv); the rest is the file,
written to a temporary folder and read.  The harness fails on any exception
other than ``DataError``, on an error message that does not start with the path
or names a line that is not in the file, on a read slower than
``GRADSTEP_FUZZ_BOUND`` seconds (default 2) and on an object array being
unpickled.  Unless corpus folders are given, it starts from a seed corpus of
valid CSV, Parquet, .npy and .npz files that it writes to a temporary folder.
Every 10 000 runs, on a new slowest input and at exit it prints the runs per format, the files read and the slowest input.
"""

from __future__ import annotations

import atexit
import io
import sys
import tempfile
import time
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["gradstep"]):
    from gradstep.data.readers import DataError, read_csv, read_table

import numpy as np
from _timing import account

SUFFIXES = (".csv", ".parquet", ".npz", ".npy", ".tsv", ".txt", ".bin", ".pq")
TARGETS = (None, "y", "last", "x")
FOLDER = Path(tempfile.mkdtemp(prefix="gradstep-fuzz-readers-"))
STATS = {"runs": 0, "read": 0, "slowest_s": 0.0, "slowest_input": "", **{s: 0 for s in SUFFIXES}}
UNPICKLED: list[str] = []


class Canary:
    def __reduce__(self):
        return UNPICKLED.append, ("unpickled",)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    choice, raw = data[0], data[1:]
    suffix = SUFFIXES[choice % len(SUFFIXES)]
    target = TARGETS[(choice >> 3) % len(TARGETS)]
    kwargs = {"missing": ("error", "drop", "mean")[(choice >> 5) % 3], "task": ("regression", "classification")[
        (choice >> 7) & 1]}
    path = FOLDER / f"input{suffix}"
    path.write_bytes(raw)
    STATS["runs"] += 1
    STATS[suffix] += 1
    reader = read_csv if suffix == ".txt" and choice & 64 else read_table
    UNPICKLED.clear()
    start = time.perf_counter()
    try:
        reader(path, target, **kwargs)
        STATS["read"] += 1
    except DataError as err:
        message = str(err)
        assert message.startswith(str(path)), message
        assert "\n" not in message and "\r" not in message, message
        if err.line is not None:
            lines = raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n") + 1
            assert f"line {err.line}" in message and 1 <= err.line <= lines, message
    elapsed = time.perf_counter() - start
    assert not UNPICKLED, "an object array was unpickled"
    account(STATS, elapsed, f"{suffix} {raw[:60]!r}", _report, 0.05, f"reading {len(raw)} bytes as {suffix}")


def _seeds(folder: Path) -> None:
    """Valid files of each format (first byte: its suffix and target 'y'), for libFuzzer to mutate."""
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=6), "n": rng.integers(0, 9, size=6), "s": list("abcabc"),
                       "y": rng.normal(size=6)})

    def choice(suffix: str) -> bytes:   # target index 1 ('y'), missing 'error', regression
        return bytes([SUFFIXES.index(suffix) + (1 << 3)])

    (folder / "csv").write_bytes(choice(".csv") + df.to_csv(index=False).encode())
    (folder / "csv-quoted").write_bytes(choice(".csv") + b'x;"y"\n"1,5";2\n3;"4"\n\n5;NA\n')
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    (folder / "parquet").write_bytes(choice(".parquet") + buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, X=df[["x", "n"]].to_numpy(), y=df["y"].to_numpy(), feature_names=np.array(["x", "n"]))
    (folder / "npz").write_bytes(choice(".npz") + buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, x=df["x"].to_numpy(), y=df["y"].to_numpy(), o=np.array([Canary()], dtype=object))
    (folder / "npz-object").write_bytes(choice(".npz") + buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, df[["x", "n", "y"]].to_numpy())
    (folder / "npy").write_bytes(bytes([SUFFIXES.index(".npy") + (2 << 3)]) + buf.getvalue())


@atexit.register
def _report(why: str = "exit") -> None:
    per = " ".join(f"{s}={STATS[s]}" for s in SUFFIXES)
    print(f"[readers_atheris] {why}: runs={STATS['runs']} read={STATS['read']} ({per}) "
          f"slowest={STATS['slowest_s'] * 1000:.1f} ms on {STATS['slowest_input']}", file=sys.stderr)


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):   # no corpus folder given: start from the seeds
        corpus = FOLDER / "corpus"
        corpus.mkdir()
        _seeds(corpus)
        argv.append(str(corpus))
    import pyarrow.parquet  # noqa: F401 - imported before fuzzing, not timed
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
