"""The shape the code keeps (issue 18), checked on the source as it is: no function longer than 80 lines
(its docstring excluded; the compiled Numba kernels are exempt, as they are from ruff's complexity rule)
and no import cycle between gradstep's modules, counting the imports inside functions.

McCabe complexity (at most 15) is ruff's rule ``C901``, configured in ``pyproject.toml``."""

from __future__ import annotations

import ast
from pathlib import Path

import gradstep

PACKAGE = Path(gradstep.__file__).parent
MAX_LINES = 80
EXEMPT = ("_fused_numba.py", "_loops_numba.py")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]
    return 0 if not body else (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The gradstep modules an import statement loads: ``from . import x`` names module ``x`` when there is one,
    else the package it is taken from."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in MODULES}
    if node.level:
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
    if len(subs) < len(node.names) and target in MODULES:
        subs.add(target)
    return subs


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _imported(module, path, node)
        graph[module] = edges - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_function_longer_than_80_lines():
    long = []
    for module, path in MODULES.items():
        if path.name in EXEMPT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_LINES:
                long.append(f"{module}.{node.name} (line {node.lineno}): {_body_lines(node)} lines")
    assert not long, "split these along their own parts: " + "; ".join(long)


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, f"modules that import each other (imports inside functions count): {cycles}"


def test_the_checks_find_what_they_look_for():
    """The two checks see a cycle and a long function when there is one (a check that cannot fail proves nothing)."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    source = "def f():\n    '''doc'''\n" + "    x = 1\n" * 81
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef) and _body_lines(node) == 81
    edges = _graph()
    assert "gradstep.loop" in edges["gradstep.models.descent"]      # an import at the top of a module
    assert "gradstep.kernels._loops_numba" in edges["gradstep.kernels.loops"]   # one inside a function
