"""Start-up: what ``import gradstep`` and the command line import, and the cache of derived gradients.

Each check that is about imports runs in a fresh interpreter (a subprocess), as
a user would.  Timings are not asserted here (they are measured in the
benchmarks); what is asserted is which libraries get imported, and that a run
from the on-disk cache gives exactly the output of a run without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradstep
from gradstep import cache, expression
from gradstep.expression import parse

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ["dask", "matplotlib", "numba", "pandas", "scipy", "sklearn", "sympy", "torch"]
FORMULA, X0, STEPS = "x**2 + y**2", "3,2", "50"


def python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with ``gradstep`` from this checkout, without the
    caller's GRADSTEP_* settings, with those of ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GRADSTEP_")}
    env = {**base, "PYTHONPATH": SRC, **(env or {})}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300,
                          check=False)


def heavy_after(statement: str) -> list[str]:
    """The heavy libraries loaded after ``statement`` in a fresh interpreter."""
    code = (f"import json, sys\n{statement}\n"
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


# The command line as the `gradstep` script runs it, reporting the heavy libraries it loaded on stderr.
CLI = f"""
import atexit, json, sys
atexit.register(lambda: sys.stderr.write(
    "\\nHEAVY " + json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))) + "\\n"))
from gradstep.cli import app
app(prog_name="gradstep")
"""


def gradstep_cli(*args: str, cache_dir: Path | str | None, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``gradstep ARGS`` with ``GRADSTEP_CACHE_DIR=cache_dir``; the process and the heavy libraries it loaded."""
    extra = dict(env)
    if cache_dir is not None:
        extra["GRADSTEP_CACHE_DIR"] = str(cache_dir)
    proc = python(CLI, *args, env=extra)
    heavy = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY ")]
    assert heavy, proc.stderr
    return proc, json.loads(heavy[-1][len("HEAVY "):])


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


# --- import gradstep -------------------------------------------------------------------

def test_import_gradstep_loads_no_heavy_library():
    assert heavy_after("import gradstep") == []


def test_minimize_and_history_load_neither_sympy_nor_the_estimators_libraries():
    loaded = heavy_after("from gradstep import History, minimize, optim, diagnostics")
    assert not set(loaded) & {"sklearn", "sympy", "torch", "matplotlib", "pandas", "dask", "numba"}, loaded


def test_minimize_does_not_load_scipy():
    assert "scipy" not in heavy_after("from gradstep import minimize")


def test_public_names_resolve_to_their_objects():
    from gradstep import diagnostics, faults, history, loop, models, optim
    from gradstep import minimize as minimize_function

    expected = {
        "DivergenceError": loop.DivergenceError, "History": history.History, "Result": loop.Result,
        "StopRule": loop.StopRule, "run": loop.run, "LinearRegression": models.LinearRegression,
        "LogisticRegression": models.LogisticRegression, "SoftmaxRegression": models.SoftmaxRegression,
        "check_grad": diagnostics.check_grad, "closed_form": diagnostics.closed_form,
        "condition_number": diagnostics.condition_number, "numeric_grad": diagnostics.numeric_grad,
        "stable_lr": diagnostics.stable_lr, "diagnostics": diagnostics, "optim": optim,
        "minimize": sys.modules["gradstep.minimize"].minimize,
        "NumericalError": faults.NumericalError, "NumericalWarning": faults.NumericalWarning,
    }
    assert sorted(gradstep.__all__) == sorted(expected)
    for name, obj in expected.items():
        assert getattr(gradstep, name) is obj, name
    assert minimize_function is expected["minimize"] and callable(gradstep.minimize)
    assert set(gradstep.__all__) <= set(dir(gradstep)) and "__version__" in dir(gradstep)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        gradstep.not_a_name  # noqa: B018


def test_lazy_names_resolve_in_a_fresh_interpreter_whatever_was_imported_first():
    code = (
        "import gradstep.minimize\n"          # the submodule first: the package's name must stay the function
        "import gradstep\n"
        "from gradstep import LinearRegression, History, minimize\n"
        "assert callable(gradstep.minimize) and gradstep.minimize is minimize, gradstep.minimize\n"
        "assert gradstep.minimize is gradstep.minimize.__globals__['minimize']\n"
        "assert LinearRegression.__module__ == 'gradstep.models.linear'\n"
        "res = gradstep.minimize('x**2 + y**2', x0=[3, 2], lr=0.1, steps=5)\n"
        "print(res.nit, History.__name__)\n"
    )
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["5", "History"]


# --- the command line ----------------------------------------------------------------

def test_help_loads_no_heavy_library(tmp_path):
    proc, heavy = gradstep_cli("--help", cache_dir=tmp_path)
    assert proc.returncode == 0 and "minimize" in proc.stdout
    assert heavy == []


@pytest.mark.parametrize("extra", [(), ("--json",)], ids=["table", "json"])
def test_second_minimize_run_reads_the_cache_without_sympy_and_prints_the_same(tmp_path, extra):
    args = ("minimize", FORMULA, "--x0", X0, "--steps", STEPS, *extra)
    cold, cold_heavy = gradstep_cli(*args, cache_dir=tmp_path)
    assert cold.returncode == 0, cold.stderr
    assert "sympy" in cold_heavy and len(entries(tmp_path)) == 1
    warm, warm_heavy = gradstep_cli(*args, cache_dir=tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == cold.stdout
    assert not set(warm_heavy) & {"sympy", "sklearn", "torch", "matplotlib", "pandas", "dask", "numba"}, warm_heavy
    if extra:
        out = json.loads(warm.stdout)
        assert out["nit"] == 50 and out["path"][1] == pytest.approx([2.94, 1.96], rel=1e-15)   # (3, 2) - 0.01 (6, 4)


def test_warm_and_cold_iterates_are_identical_for_a_harder_formula(tmp_path):
    args = ("minimize", "(1 - x)**2 + 100*(y - x**2)**2 + abs(x) + sigmoid(x*y)/3 + log10(2 + y**2)",
            "--x0", "-1.2,1", "--lr", "0.001", "--steps", "200", "--optimizer", "adam", "--json")
    cold, _ = gradstep_cli(*args, cache_dir=tmp_path)
    warm, warm_heavy = gradstep_cli(*args, cache_dir=tmp_path)
    assert cold.returncode == warm.returncode == 0, (cold.stderr, warm.stderr)
    assert "sympy" not in warm_heavy
    assert json.loads(warm.stdout) == json.loads(cold.stdout)   # every iterate, bit for bit
    without, _ = gradstep_cli(*args, cache_dir="")
    assert json.loads(without.stdout) == json.loads(cold.stdout)


def test_a_tampered_cache_entry_is_refused_and_the_gradient_derived_again(tmp_path):
    folder, marker = tmp_path / "cache", tmp_path / "PWNED"
    args = ("minimize", FORMULA, "--x0", X0, "--steps", STEPS, "--json")
    cold, _ = gradstep_cli(*args, cache_dir=folder)
    [entry] = entries(folder)
    content = json.loads(entry.read_text())
    content["values"][1] = f"__import__('os').system('touch {marker}')"
    entry.write_text(json.dumps(content))
    again, heavy = gradstep_cli(*args, cache_dir=folder)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(cold.stdout)
    assert not marker.exists()
    assert "sympy" in heavy                                        # derived again ...
    assert json.loads(entry.read_text())["values"][1] == "2.0*x"   # ... and the entry repaired


def test_an_unwritable_cache_folder_is_skipped_silently(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = ("minimize", FORMULA, "--x0", X0, "--steps", STEPS, "--json")
    reference, _ = gradstep_cli(*args, cache_dir="")
    proc, heavy = gradstep_cli(*args, cache_dir=blocker / "cache")   # cannot be made: its parent is a file
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().startswith("HEAVY"), proc.stderr     # not a word of warning
    assert proc.stdout == reference.stdout and "sympy" in heavy
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("env", [{"GRADSTEP_NO_CACHE": "1"}, {"GRADSTEP_CACHE_DIR": ""}], ids=["no-cache", "empty-dir"])
def test_the_cache_can_be_turned_off(tmp_path, env):
    args = ("minimize", FORMULA, "--x0", X0, "--steps", STEPS)
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home"), **env}
    proc, heavy = gradstep_cli(*args, cache_dir=None, **env)
    assert proc.returncode == 0 and "sympy" in heavy
    assert not any(tmp_path.rglob("*"))


def test_the_cache_folder_follows_xdg_when_not_given(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    proc = python(CLI, "minimize", FORMULA, "--x0", X0, "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    assert len(entries(tmp_path / "xdg" / "gradstep")) == 1 and not (tmp_path / "home").exists()


# --- the compiled kernels: a notice while they compile, nothing once cached -------------

TINY_KERNEL = """
import numba


@numba.njit(cache=True)
def plus_one(x):
    return x + 1.0
"""

ANNOUNCE = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import tiny_kernel\n"
    "from gradstep.kernels import _compiling\n"
    "print(_compiling.announce(tiny_kernel.plus_one, (1.0,), 'the tiny kernel', 1))\n"
    "tiny_kernel.plus_one(1.0)\n"
    "print(_compiling.will_compile(tiny_kernel.plus_one, (2.0,)))\n"
)


def test_a_kernel_is_announced_when_it_compiles_and_not_when_it_loads_from_the_cache(tmp_path):
    """A fresh install in miniature: an empty Numba cache, the first process compiles (and says so on
    stderr before it starts), the second loads the cached kernel and says nothing."""
    (tmp_path / "tiny_kernel.py").write_text(TINY_KERNEL)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    first = python(ANNOUNCE, str(tmp_path), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["True", "False"]      # it compiled; then it is in memory
    assert "gradstep: compiling the tiny kernel with Numba (first run only; about 1 s" in first.stderr
    second = python(ANNOUNCE, str(tmp_path), env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["False", "False"] and "compiling" not in second.stderr
    quiet = python(ANNOUNCE, str(tmp_path), env={"NUMBA_CACHE_DIR": str(tmp_path / "other"), "GRADSTEP_QUIET": "1"})
    assert quiet.stdout.split() == ["True", "False"] and "compiling" not in quiet.stderr


def test_the_tours_per_sample_fit_is_silent_once_its_kernel_is_cached():
    """The README's per-sample fit, twice in new processes: the first may compile (it says so), the second
    finds the kernel in the disk cache (the signature of its real arguments) and prints nothing."""
    code = ("import gradstep\n"
            "from gradstep.data.datasets import tutorial_line\n"
            "ds = tutorial_line()\n"
            "m = gradstep.LinearRegression(fit_intercept=False, batch_size=1, shuffle=False, loss='mse', lr=1e-3,\n"
            "                              epochs=3, tol=None).fit(ds.X, ds.y, coef_init=[0.0])\n"
            "print(m.history_.meta['compiled'])\n")
    first = python(code)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["True"] and len(first.stderr.splitlines()) <= 1   # the notice, if any
    second = python(code)
    assert second.returncode == 0 and second.stdout.split() == ["True"] and second.stderr == "", second.stderr


# --- the cache, in this process --------------------------------------------------------

@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty cache folder, and parse() with no memory of earlier calls in this process."""
    monkeypatch.setenv("GRADSTEP_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRADSTEP_NO_CACHE", raising=False)
    expression._RECENT.clear()
    yield tmp_path
    expression._RECENT.clear()


def test_directory_order(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADSTEP_NO_CACHE", raising=False)
    monkeypatch.setenv("GRADSTEP_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.directory() == tmp_path / "mine"
    monkeypatch.delenv("GRADSTEP_CACHE_DIR")
    assert cache.directory() == tmp_path / "xdg" / "gradstep"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.directory() == tmp_path / "home" / ".cache" / "gradstep"
    for off in ("1", "true", "yes"):
        monkeypatch.setenv("GRADSTEP_NO_CACHE", off)
        assert cache.directory() is None
    monkeypatch.setenv("GRADSTEP_NO_CACHE", "0")
    monkeypatch.setenv("GRADSTEP_CACHE_DIR", "")
    assert cache.directory() is None


def test_store_and_load_round_trip_and_refuse_odd_keys(tmp_path):
    k = cache.key("a", "b")
    assert cache.load(k, tmp_path) is None
    assert cache.store(k, ["one", "two"], tmp_path) and cache.load(k, tmp_path) == ["one", "two"]
    assert not list(tmp_path.glob("*.tmp"))   # the temporary file was renamed into place
    assert not cache.store("../escape", ["x"], tmp_path) and cache.load("../escape", tmp_path) is None
    assert not cache.store(k, ["x" * cache.MAX_BYTES], tmp_path) and cache.load(k, tmp_path) == ["one", "two"]


def test_formula_from_the_cache_equals_the_derived_one(fresh):
    cold = parse("sin(x)*exp(-y) + abs(x - y)/3", cache=True)
    [entry] = entries(fresh)
    expression._RECENT.clear()
    warm = parse("sin(x)*exp(-y) + abs(x - y)/3", cache=True)
    assert warm is not cold and warm == cold and warm.derived == cold.derived
    assert "_symbolic" in cold.__dict__ and "_symbolic" not in warm.__dict__   # SymPy not used for the warm one
    points = np.random.default_rng(0).uniform(-2, 2, (20, 2))
    for p in points:
        assert warm(p) == cold(p) and np.array_equal(warm.grad(p), cold.grad(p))
    assert str(warm) == str(cold) and warm.latex == cold.latex   # derived again on demand
    assert entries(fresh) == [entry]


def test_the_key_is_the_normalised_formula_and_the_variables(fresh):
    parse("x**2 + y**2", cache=True)
    parse("  (x)**2+y ** 2\n", cache=True)          # the same tree: the same entry
    assert len(entries(fresh)) == 1
    parse("x**2 + y**2", ["y", "x"], cache=True)   # another order of the variables: another entry
    parse("x**2.0 + y**2", cache=True)             # 2.0 is not 2 to SymPy: another entry
    assert len(entries(fresh)) == 3


def test_without_cache_true_parse_does_no_file_io(fresh):
    parse("x**3 + y")
    assert entries(fresh) == []


HOSTILE = {   # what an entry may hold instead of ("x*y", "1.0*y", "1.0*x")
    "import": ["x*y", "__import__('os').system('touch {marker}')", "x"],
    "open": ["x*y", "y", "(lambda: open('{marker}', 'w'))()"],
    "attribute": ["x*y", "x.__class__.__base__", "x"],
    "subscript": ["x*y", "y", "x[0]"],
    "statement": ["x*y", "y; import os", "x"],
    "unknown name": ["x*y", "y + secret", "x"],
    "unknown function": ["x*y", "eval(y)", "x"],
    "string": ["x*y", "'y'", "x"],
    "empty": ["x*y", "", "x"],
    "too few": ["x*y", "y"],
    "too many": ["x*y", "y", "x", "x"],
    "not text": ["x*y", 2, "x"],
    "not a list": "x*y",
}


@pytest.mark.parametrize("values", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_entry_is_refused_before_evaluation_and_replaced(fresh, values):
    marker = fresh / "PWNED"
    cold = parse("x*y", cache=True)
    [entry] = entries(fresh)
    good = json.loads(entry.read_text())
    if isinstance(values, list):
        values = [v.format(marker=marker) if isinstance(v, str) else v for v in values]
    entry.write_text(json.dumps({**good, "values": values}))
    if isinstance(values, list) and all(isinstance(v, str) for v in values):
        assert expression._from_cache("x*y", ("x", "y"), values) is None   # the validator says no
    expression._RECENT.clear()
    again = parse("x*y", cache=True)
    assert again == cold and again.grad([2.0, 3.0]).tolist() == [3.0, 2.0]
    assert not marker.exists()
    assert json.loads(entry.read_text()) == good


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"{}" * 3_000_000,
                                     b'{"key": "another", "values": ["x*y", "y", "x"]}'],
                         ids=["empty", "truncated", "binary", "list", "huge", "wrong key"])
def test_a_corrupt_entry_is_ignored(fresh, content):
    cold = parse("x*y", cache=True)
    [entry] = entries(fresh)
    entry.write_bytes(content)
    expression._RECENT.clear()
    assert parse("x*y", cache=True) == cold
    assert json.loads(entry.read_text())["values"] == list(cold.derived)


def test_store_fails_quietly_where_the_folder_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("")
    assert not cache.store(cache.key("a"), ["x"], tmp_path / "file" / "cache")
    assert cache.load(cache.key("a"), tmp_path / "file" / "cache") is None
