"""Seconds and peak memory of reading a table: gradstep's reader against pyarrow alone, each in a fresh process.

Run: ``python benchmarks/reader_memory.py FILE [FILE ...] [--target y] [--task classification] [--repeat 3]``,
e.g. ``python benchmarks/reader_memory.py /work/data/small.parquet /work/data/big.parquet --target y``.
Each case is a fresh ``python`` process under ``/usr/bin/time -f "%e %M"`` (wall seconds and peak resident
memory), so the figures include the interpreter and its imports; the best of ``--repeat`` runs is shown
(timings on a shared machine are noisy; peaks are steady). The reader case is
``gradstep.data.readers.read_table(FILE, target=...)``; the pyarrow case is ``pyarrow.parquet.read_table(FILE)``
or ``pyarrow.csv.read_csv(FILE)`` alone, which builds an Arrow table and nothing else.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

_READER = """
import sys
from gradstep.data.readers import read_table
ds = read_table(sys.argv[1], target=sys.argv[2], task=sys.argv[3])
print(ds.X.shape, ds.X.nbytes + ds.y.nbytes)
"""
_PYARROW = """
import sys
if sys.argv[1].endswith((".parquet", ".pq")):
    import pyarrow.parquet as pq
    table = pq.read_table(sys.argv[1])
else:
    import pyarrow.csv as pacsv
    table = pacsv.read_csv(sys.argv[1])
print(table.shape, table.nbytes)
"""


def measure(code: str, args: list[str], repeat: int) -> tuple[float, int, str]:
    """Best wall seconds, lowest peak RSS (KB) and the printed line of ``repeat`` fresh processes."""
    best_s, best_kb, line = float("inf"), 0, ""
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile("r") as timing:
            done = subprocess.run(["/usr/bin/time", "-o", timing.name, "-f", "%e %M", sys.executable, "-c", code,
                                   *args], capture_output=True, text=True, check=True)
            seconds, kb = timing.read().split()[-2:]
        best_s = min(best_s, float(seconds))
        best_kb = int(kb) if not best_kb else min(best_kb, int(kb))
        line = done.stdout.strip()
    return best_s, best_kb, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--target", default="y")
    parser.add_argument("--task", default="regression")
    parser.add_argument("--repeat", type=int, default=3)
    ns = parser.parse_args()
    print("| file | process | seconds | peak RSS (MB) | result |")
    print("| --- | --- | ---: | ---: | --- |")
    for path in ns.files:
        for name, code, args in (("pyarrow only", _PYARROW, [path]),
                                 ("gradstep read_table", _READER, [path, ns.target, ns.task])):
            seconds, kb, line = measure(code, args, ns.repeat)
            print(f"| {path} | {name} | {seconds:.2f} | {kb / 1024:.0f} | {line} |", flush=True)


if __name__ == "__main__":
    main()
