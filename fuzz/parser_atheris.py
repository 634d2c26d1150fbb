"""Coverage-guided fuzzing of the formula parser with atheris (libFuzzer), for long runs outside CI.

    python fuzz/parser_atheris.py -atheris_runs=200000
    python fuzz/parser_atheris.py -max_total_time=180 -dict=fuzz/formula.dict

Each input is a formula: the bytes as Latin-1 text (so libFuzzer's byte mutations
and the dictionary of tokens act on the text directly), or, when the first byte
is odd, Unicode text from atheris' FuzzedDataProvider.  The harness fails on
anything that ``parse`` raises other than ``FormulaError``, on a parse (plus
evaluation of a parsed formula and its gradient at finite points) slower than
``GRADSTEP_FUZZ_BOUND`` seconds (default 2), and on any exception or warning
from the evaluation.  Every 10 000 runs, on a new slowest input and at exit it prints the runs, formulas parsed and the slowest
input.
"""

from __future__ import annotations

import atexit
import sys
import time
import warnings

import atheris

with atheris.instrument_imports(include=["gradstep"]):
    from gradstep.expression import FormulaError, parse

import numpy as np
from _timing import account

POINTS = np.array([0.0, 1.0, -1.0, 0.5, -2.5, 1e-300, 1e300, -1e300, 710.0, -745.0])
STATS = {"runs": 0, "parsed": 0, "refused": 0, "slowest_s": 0.0, "slowest_input": ""}


def _text(data: bytes) -> str:
    if data[:1] and data[0] & 1:
        return atheris.FuzzedDataProvider(data[1:]).ConsumeUnicodeNoSurrogates(len(data))
    return data.decode("latin-1")


def TestOneInput(data: bytes) -> None:
    text = _text(data)
    STATS["runs"] += 1
    start = time.perf_counter()
    try:
        f = parse(text)
    except FormulaError:
        STATS["refused"] += 1
        f = None
    if f is not None:
        STATS["parsed"] += 1
        grids = [np.roll(POINTS, 3 * i) for i in range(len(f.variables))]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = f.evaluate(*grids)
            grads = f.evaluate_grad(*grids)
            f(np.stack(grids)[:, 0]), f.grad(np.stack(grids)[:, 1])
        assert np.shape(value) == POINTS.shape and len(grads) == len(f.variables)
    elapsed = time.perf_counter() - start
    account(STATS, elapsed, text[:200], _report, 0.01, f"parse({text!r})")


@atexit.register
def _report(why: str = "exit") -> None:
    print(f"[parser_atheris] {why}: runs={STATS['runs']} parsed={STATS['parsed']} refused={STATS['refused']} "
          f"slowest={STATS['slowest_s'] * 1000:.1f} ms on {STATS['slowest_input']!r}", file=sys.stderr)


def main() -> None:
    parse("sigmoid(x) + softplus(x) + abs(sqrt(x)) + log10(x) + x**y")   # import SymPy before fuzzing
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
