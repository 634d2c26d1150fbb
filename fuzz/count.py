"""Run the Hypothesis fuzz properties with a larger budget and print a table.

    python fuzz/count.py            # 10 times the CI budget
    python fuzz/count.py --scale 3  # 3 times

It runs ``tests/test_fuzz_parser.py`` and ``tests/test_fuzz_readers.py`` in this
process under pytest with ``GRADSTEP_FUZZ_SCALE`` set (each property's
``max_examples`` is multiplied by it), then reads the counters the two modules
keep and prints, per target: the cases run, the failing properties (crashes:
an exception other than FormulaError/DataError, or a broken property), the
cases over the cost bound (hangs: CPU time past a multiple of a reference operation, see
tests/cost.py) and the slowest case in milliseconds of CPU time.
Exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Failures:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        if report.failed:
            self.failed.append(report.nodeid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0, help="times the CI budget (default 10)")
    args = parser.parse_args()
    os.environ["GRADSTEP_FUZZ_SCALE"] = str(args.scale)
    import pytest

    failures = _Failures()
    start = time.perf_counter()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(ROOT),
                        str(ROOT / "tests" / "test_fuzz_parser.py"), str(ROOT / "tests" / "test_fuzz_readers.py")],
                       plugins=[failures])
    wall = time.perf_counter() - start
    parser_mod, readers_mod = sys.modules.get("test_fuzz_parser"), sys.modules.get("test_fuzz_readers")
    if parser_mod is None or readers_mod is None:
        print("the fuzz modules were not imported", file=sys.stderr)
        return 1
    rows = []
    p_cases = sum(parser_mod.COUNTS[k] for k in ("grammar", "text", "tokens"))
    rows.append(("parser", p_cases, [f for f in failures.failed if "test_fuzz_parser" in f],
                 [h for h in parser_mod.HANGS], max(parser_mod.SLOWEST.values(), default=0.0)))
    for target, words in (("csv", ("csv", "wide", "million")), ("parquet", ("parquet",)),
                          ("npz/npy", ("numpy", "unpickled"))):
        failed = [f for f in failures.failed if "test_fuzz_readers" in f and any(w in f for w in words)]
        hangs = [h for h in readers_mod.HANGS if h.startswith(target)]
        rows.append((target, readers_mod.COUNTS[target], failed, hangs, readers_mod.SLOWEST.get(target, 0.0)))
    print(f"\n{'target':<10}{'cases':>9}{'crashes':>9}{'hangs':>7}{'slowest CPU ms':>16}")
    for target, cases, failed, hangs, slowest in rows:
        print(f"{target:<10}{cases:>9}{len(failed):>9}{len(hangs):>7}{slowest * 1000:>16.1f}")
    print(f"(parser formulas that parsed: {parser_mod.COUNTS['parsed']}; files read into a Dataset: "
          f"{readers_mod.COUNTS['read']}; scale {args.scale:g}; {wall:.0f} s)")
    for _, _, failed, hangs, _ in rows:
        for line in failed + hangs:
            print("  ", line)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
