"""Safe formulas: turn typed-in text into a function and its exact gradient.

``parse("(1 - x)**2 + 100*(y - x**2)**2")`` works in four steps:

1. **Validate** in pure Python, before SymPy is even imported: the text is read
   with ``ast.parse(text, mode="eval")`` and every node is checked against a
   whitelist -- numbers, variable names, ``+ - * / **``, unary ``-``/``+`` and
   calls of the :data:`FUNCTIONS` by name.  Constant parts are folded with
   Python floats, so ``9**9**9`` or ``log(-1)`` are refused in microseconds.
2. **Derive**: build the SymPy expression ``f`` from the checked tree (never
   ``sympify``, which uses ``eval``) and differentiate it exactly:
   ``gradient[i] = ∂f/∂v_i``.
3. **Print** ``f`` and each ``∂f/∂v_i`` back as text in the same grammar (plus
   ``sign``, the derivative of ``abs``), spelling out the order of every
   operation: :attr:`Formula.derived`.
4. **Compile** each printed text -- read and checked again by the same
   validator -- into Python closures that call an array namespace ``xp``
   (NumPy by default, PyTorch works too).  No generated code is ever executed
   (no ``lambdify``).

Steps 2 and 3 need SymPy (half a second to import).  ``parse(text, cache=True)``
keeps their result, the printed texts, in a small on-disk cache
(:mod:`gradstep.cache`), keyed by the SHA-256 of the formula's normalised tree,
the variable names, the gradstep and SymPy versions and this module's source;
a later process reads the texts back through step 4 without importing SymPy.
As step 4 checks them like typed-in text, a tampered cache file can inject
nothing, and any entry that does not pass is ignored and derived again.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import keyword
import math
import operator
import re
import tokenize
import types
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import numpy as np

if TYPE_CHECKING:
    import sympy

__all__ = ["CONSTANTS", "FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "MAX_POWER",
           "Formula", "FormulaError", "FunctionSpec", "parse"]

MAX_LENGTH: int = 500   # characters
MAX_DEPTH: int = 40     # nesting depth of the expression tree (a+b+c or a*b/c count once)
MAX_POWER: int = 1000   # largest |constant exponent|, multiplied along nested powers

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_TOKEN = re.compile(rf"(?P<name>[A-Za-z_]\w*)|(?P<number>{tokenize.Number})|.")   # as Python splits them
_HINT = "use numbers, variables, + - * / **, parentheses and functions such as sin(x)"


class FormulaError(ValueError):
    """A formula was refused.

    Attributes
    ----------
    formula : str
        The text that was refused.
    position : int or None
        0-based index of the offending part in ``formula``, when known (the message counts columns from 1).
    reason : str
        What was refused and what to do instead.

    Examples
    --------
    >>> try:
    ...     parse("x ^ 2")
    ... except FormulaError as err:
    ...     print(err.position, err.reason)
    2 '^' is not allowed; use ** for powers, e.g. x**2
    """

    def __init__(self, formula: str, what: str, position: int | None = None, hint: str = ""):
        self.formula, self.position, self._args = formula, position, (formula, what, position, hint)
        self.reason = f"{what}; {hint}" if hint else what
        where = "" if position is None else f" at column {position + 1}"   # counted from 1, as editors do
        super().__init__(what + where + (f"; {hint}" if hint else ""))

    def __reduce__(self):
        return type(self), self._args


# --- the fixed tables -------------------------------------------------------------

class FunctionSpec(NamedTuple):
    """An allowed function: arity, a ``math`` version to fold constants, and the
    name of its SymPy counterpart (see ``_sympy()``)."""
    arity: int
    fold: Callable[..., float]
    sympy_name: str


def _sigmoid(u: float) -> float:
    return 1 / (1 + math.exp(-u)) if u >= 0 else math.exp(u) / (1 + math.exp(u))


def _softplus(u: float) -> float:
    return max(u, 0.0) + math.log1p(math.exp(-abs(u)))


def _sign(u: float) -> float:
    return math.copysign(1.0, u) if u else 0.0


_ONE_ARGUMENT: list[tuple[str, Callable[[float], float], str]] = [   # name, math version, SymPy name
        ("sin", math.sin, "sin"), ("cos", math.cos, "cos"), ("tan", math.tan, "tan"),
        ("exp", math.exp, "exp"), ("log", math.log, "log"), ("log10", math.log10, "log10"),
        ("log2", math.log2, "log2"), ("sqrt", math.sqrt, "sqrt"), ("abs", abs, "abs"),
        ("tanh", math.tanh, "tanh"), ("sinh", math.sinh, "sinh"), ("cosh", math.cosh, "cosh"),
        ("arcsin", math.asin, "asin"), ("asin", math.asin, "asin"),
        ("arccos", math.acos, "acos"), ("acos", math.acos, "acos"),
        ("arctan", math.atan, "atan"), ("atan", math.atan, "atan"),
        ("sigmoid", _sigmoid, "sigmoid"), ("softplus", _softplus, "softplus")]
FUNCTIONS: Mapping[str, FunctionSpec] = types.MappingProxyType({
    name: FunctionSpec(1, fold, sympy_name) for name, fold, sympy_name in _ONE_ARGUMENT})
CONSTANTS: Mapping[str, float] = types.MappingProxyType({"pi": math.pi, "e": math.e})
# the functions of derived texts (step 3): those of SymPy's results, and the others for completeness
_DERIVED_FUNCTIONS: Mapping[str, FunctionSpec] = types.MappingProxyType(
    {**FUNCTIONS, "sign": FunctionSpec(1, _sign, "sign")})
_XP_FUNCTIONS: Mapping[str, str] = types.MappingProxyType({   # derived-text name -> array-namespace name
    **{name: name for name in ("sin", "cos", "tan", "exp", "log", "log10", "log2", "sqrt", "abs", "sign",
                               "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan")},
    "asin": "arcsin", "acos": "arccos", "atan": "arctan"})

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: math.pow}   # math.pow: ValueError, not complex
_FAMILY = {ast.Add: "+", ast.Sub: "+", ast.Mult: "*", ast.Div: "*"}
_BAD_OPS = {
    ast.BitXor: ("'^' is not allowed", "use ** for powers, e.g. x**2"),
    ast.MatMult: ("'@' is not allowed", "use * to multiply"),
    ast.FloorDiv: ("'//' is not allowed", "use / to divide"),
    ast.Mod: ("'%' is not allowed", _HINT), ast.LShift: ("'<<' is not allowed", _HINT),
    ast.RShift: ("'>>' is not allowed", _HINT), ast.BitAnd: ("'&' is not allowed", _HINT),
    ast.BitOr: ("'|' is not allowed", _HINT), ast.Invert: ("'~' is not allowed", "use - to negate"),
    ast.Not: ("'not' is not allowed", "use - to negate"),
}
_BAD_NODES = {
    ast.Attribute: "attribute access with '.' is not allowed", ast.Subscript: "indexing with [] is not allowed",
    ast.Lambda: "'lambda' is not allowed", ast.IfExp: "conditional expressions (if/else) are not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed", ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons (==, <, >, ...) are not allowed", ast.BoolOp: "'and'/'or' are not allowed",
    ast.NamedExpr: "assignment with ':=' is not allowed", ast.JoinedStr: "strings are not allowed",
    ast.Tuple: "tuples (values separated by commas) are not allowed", ast.List: "lists are not allowed",
    ast.Set: "sets are not allowed", ast.Dict: "dicts are not allowed", ast.Await: "'await' is not allowed",
    ast.Starred: "starred arguments are not allowed", ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
}


# --- step 1: validation, pure Python ------------------------------------------------------

def _read(text: str, max_length: int | None = MAX_LENGTH) -> tuple[ast.expr, str, int]:
    """Character checks, then ``ast.parse``.  Returns the tree, the text as one
    line (so columns are plain indices) and the column where the tree starts."""
    if not isinstance(text, str):
        raise TypeError(f"a formula must be a str, not {type(text).__name__}")
    if "\x00" in text:
        raise FormulaError(text, "the formula contains a NUL byte", text.index("\x00"), "remove it")
    if not text.strip():
        raise FormulaError(text, "the formula is empty", None, "type an expression such as x**2 + y**2")
    if max_length is not None and len(text) > max_length:   # before ast.parse, which reads megabytes happily
        raise FormulaError(text, f"the formula is too long ({len(text)} characters, at most {max_length})",
                           max_length, "shorten it")
    for col, ch in enumerate(text):
        if ch in "'\"":
            raise FormulaError(text, "strings are not allowed", col, _HINT)
        if ch in "\\#" or not (" " <= ch <= "~" or ch in "\t\n\r\f\v"):
            hint = "use ASCII letters for names, e.g. theta" if ord(ch) > 127 else _HINT
            raise FormulaError(text, f"the character {ch!r} is not allowed", col, hint)
    source = re.sub(r"[\t\n\r\f\v]", " ", text)
    offset = len(source) - len(source.lstrip())   # ast.parse refuses leading spaces
    previous = None
    for token in _TOKEN.finditer(source):   # "2x", "1if": a number glued to a name
        if previous and previous.lastgroup == "number" and token.lastgroup == "name" \
                and previous.end() == token.start():   # (ast.parse would print a SyntaxWarning for "1if")
            raise FormulaError(text, f"the number {previous[0]} runs into the name {token[0]}", token.start(),
                               f"write {previous[0]}*{token[0]} to multiply")
        previous = token
    try:
        return ast.parse(source[offset:], mode="eval").body, source, offset
    except SyntaxError as exc:
        col = min(offset + max(0, (exc.offset or 1) - 1), len(text))
        raise FormulaError(text, f"could not read the formula ({exc.msg})", col,
                           "check for a missing operator (write 2*x, not 2 x) or parenthesis") from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise FormulaError(text, "the formula is nested too deeply", None, "simplify it") from None


class _Checker:
    """Walks the checked ``ast`` tree.  ``visit`` returns a node's folded value,
    or ``None`` if it depends on a variable; names used go to ``self.names``.

    Typed-in formulas are held to :data:`FUNCTIONS`, :data:`MAX_DEPTH` and
    :data:`MAX_POWER` (which bound the work of SymPy); derived texts, which
    SymPy never sees, to :data:`_DERIVED_FUNCTIONS` only."""

    def __init__(self, text: str, source: str, offset: int, allowed: tuple[str, ...] | None,
                 functions: Mapping[str, FunctionSpec] = FUNCTIONS, max_depth: float = MAX_DEPTH,
                 max_power: float = MAX_POWER):
        self.text, self.source, self.offset, self.allowed = text, source, offset, allowed
        self.names: list[str] = []
        self.functions, self.max_depth, self.max_power = functions, max_depth, max_power

    def fail(self, col: int, what: str, hint: str = "") -> NoReturn:
        raise FormulaError(self.text, what, self.offset + col, hint)

    def fold(self, node: ast.expr, fn: Callable[..., float], *args: float) -> float:
        part = f"'{self.source[self.offset + node.col_offset:self.offset + _end(node)][:40]}'"
        try:
            value = fn(*args)
        except ZeroDivisionError:
            self.fail(node.col_offset, f"{part} divides by zero")
        except OverflowError:
            self.fail(node.col_offset, f"{part} is too large (overflow)")
        except ValueError:
            self.fail(node.col_offset, f"{part} is undefined",
                      "check for log, sqrt, arcsin or a fractional power of a negative number")
        if not math.isfinite(value):
            self.fail(node.col_offset, f"{part} is too large or not a finite number")
        return float(value)

    def visit(self, node: ast.expr, depth: int = 1, power: float = 1.0) -> float | None:
        if depth > self.max_depth:
            self.fail(node.col_offset, f"the formula is nested more than {self.max_depth} levels deep", "simplify it")
        if isinstance(node, ast.Constant):
            number = node.value
            if isinstance(number, bool) or not isinstance(number, (int, float)):   # int and float, exactly
                what = {complex: "complex numbers are", str: "strings are", bytes: "bytes are"}
                self.fail(node.col_offset, f"{what.get(type(number), repr(number) + ' is')} not allowed",
                          "use real numbers such as 2 or 0.5")
            return self.fold(node, float, number)   # OverflowError for ints beyond 1.8e308
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and type(node.op) not in _BAD_OPS:
            value = self.visit(node.operand, depth + 1, power)
            return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
        if isinstance(node, ast.UnaryOp):
            self.fail(node.col_offset, *_BAD_OPS[type(node.op)])
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth, power)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        col = _end(node.value) if isinstance(node, (ast.Attribute, ast.Subscript)) else node.col_offset
        self.fail(col, _BAD_NODES.get(type(node), f"'{type(node).__name__}' is not allowed"), _HINT)

    def name(self, node: ast.Name) -> float | None:
        name, col = node.id, node.col_offset
        if not _NAME.fullmatch(name):
            self.fail(col, f"names starting with '_' are not allowed ('{name}')", "start names with a letter")
        if name in FUNCTIONS:
            self.fail(col, f"'{name}' is a function", f"call it, e.g. {name}(x)")
        if name in CONSTANTS:
            return CONSTANTS[name]
        if self.allowed is not None and name not in self.allowed:
            self.fail(col, f"unknown variable '{name}'", f"the variables are: {', '.join(self.allowed)}")
        self.names.append(name)
        return None

    def binop(self, node: ast.BinOp, depth: int, power: float) -> float | None:
        op = type(node.op)
        if op not in _BINOPS:
            col = _end(node.left)   # point at the operator, past spaces and ')'
            while self.offset + col < len(self.source) and self.source[self.offset + col] in " )":
                col += 1
            self.fail(col, *_BAD_OPS.get(op, (f"'{op.__name__}' is not allowed", _HINT)))
        if op is ast.Pow:   # exponent first: it bounds how far SymPy may expand the base
            right = self.visit(node.right, depth + 1)
            power *= 1.0 if right is None else max(1.0, abs(right))
            if power > self.max_power:
                self.fail(node.right.col_offset, f"the exponent is too large (more than {self.max_power} in all)")
            left = self.visit(node.left, depth + 1, power)
        else:
            chain = isinstance(node.left, ast.BinOp) and _FAMILY.get(type(node.left.op)) == _FAMILY[op]
            left = self.visit(node.left, depth if chain else depth + 1, power)
            right = self.visit(node.right, depth + 1, power)
            if op is ast.Div and right == 0:
                self.fail(node.right.col_offset, "division by zero")
        return None if left is None or right is None else self.fold(node, _BINOPS[op], left, right)

    def call(self, node: ast.Call, depth: int) -> float | None:
        func = node.func
        if not isinstance(func, ast.Name):
            self.visit(func, depth + 1)   # refuses x.attr(...) or x[0](...) with the precise reason
            self.fail(_end(func), "calling something that is not a function is not allowed",
                      "use * to multiply, e.g. (x + 1)*(y - 1)")
        name, spec, example = func.id, self.functions.get(func.id), f"write e.g. {func.id}(x)"
        if spec is None:
            what = f"unknown function '{name}'" if name[0] != "_" else "names starting with '_' are not allowed"
            self.fail(func.col_offset, what, f"the functions are: {', '.join(FUNCTIONS)}")
        if node.keywords:
            self.fail(node.keywords[0].col_offset, f"keyword arguments are not allowed in {name}()", example)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail(arg.col_offset, "starred arguments are not allowed", example)
        if len(node.args) != spec.arity:
            self.fail(func.col_offset, f"{name}() takes {spec.arity} argument, not {len(node.args)}", example)
        values = [self.visit(arg, depth + 1) for arg in node.args]
        known = [value for value in values if value is not None]
        return None if len(known) < len(values) else self.fold(node, spec.fold, *known)


def _end(node: ast.expr) -> int:
    """The column where a parsed node ends (``ast.parse`` sets it; the node type allows ``None``)."""
    assert node.end_col_offset is not None
    return node.end_col_offset


def _callee(node: ast.Call) -> str:
    """The function a checked call names (:class:`_Checker` refused every other callee)."""
    assert isinstance(node.func, ast.Name)
    return node.func.id


def _natural(name: str) -> tuple:
    """Sort key: alphabetical, with digit runs compared as numbers (x2 before x10)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)], name


def parse(text: str, variables: Sequence[str] | None = None, *, cache: bool = False) -> Formula:
    """Parse a formula safely into a :class:`Formula` with its exact gradient.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"(1 - x)**2 + 100*(y - x**2)**2"``: numbers, names,
        ``+ - * / **``, parentheses and the :data:`FUNCTIONS`; at most
        :data:`MAX_LENGTH` characters and :data:`MAX_DEPTH` levels deep.
    variables : sequence of str, optional
        The order of the coordinates of a point.  Default: the names used,
        sorted alphabetically (``x2`` before ``x10``).  Listed variables that
        the formula does not use have gradient 0.
    cache : bool, default=False
        Read the derived texts of ``f`` and its gradient from the on-disk
        cache of :mod:`gradstep.cache` (then SymPy is not imported), or write
        them there after deriving them.  ``GRADSTEP_NO_CACHE=1`` or
        ``GRADSTEP_CACHE_DIR=""`` turn it off; an entry that cannot be read or
        does not pass the validator is ignored, a folder that cannot be
        written is skipped, silently.  Either way the result is the same.

    Returns
    -------
    Formula
        ``f`` with ``gradient[i] = ∂f/∂variables[i]``, derived symbolically.
        The same text and variables give the same (immutable) object again
        within a process.

    Raises
    ------
    FormulaError
        For anything outside the grammar, a constant part that is undefined or
        overflows, an unknown name, or a formula without variables.

    Examples
    --------
    >>> f = parse("x**2 + y**2")
    >>> f.variables, f([3, 2]), f.grad([3, 2]).tolist()
    (('x', 'y'), 13.0, [6.0, 4.0])
    >>> f.derived   # f, ∂f/∂x, ∂f/∂y as they are evaluated
    ('x**2 + y**2', '2.0*x', '2.0*y')
    >>> parse("x ^ 2")
    Traceback (most recent call last):
    ...
    gradstep.expression.FormulaError: '^' is not allowed at column 3; use ** for powers, e.g. x**2
    """
    body, source, offset = _read(text)
    allowed = None
    if variables is not None:
        if isinstance(variables, str):
            raise FormulaError(text, "variables must be a list of names, not one string",
                               None, f"write e.g. {list(variables)!r}")
        allowed = tuple(variables)
        for name in allowed:
            if not isinstance(name, str) or not _NAME.fullmatch(name) or keyword.iskeyword(name) \
                    or name in FUNCTIONS or name in CONSTANTS:
                raise FormulaError(text, f"{name!r} cannot be a variable name", None,
                                   "use a letter, then letters, digits or _ (not a function or constant)")
        if len(set(allowed)) != len(allowed):
            raise FormulaError(text, f"duplicate variable names in {list(allowed)}")
    checker = _Checker(text, source, offset, allowed)
    checker.visit(body)
    if not checker.names:
        raise FormulaError(text, "the formula has no variables: nothing to minimise",
                           None, "use a variable, e.g. (x - 3)**2")
    names = allowed if allowed is not None else tuple(sorted(set(checker.names), key=_natural))
    formula = _RECENT.get((text, names))
    if formula is None:
        formula = _formula(text, body, names, checker.fail, cache)
        if len(_RECENT) >= _RECENT_SIZE:
            _RECENT.popitem(last=False)
        _RECENT[text, names] = formula
    return formula


_RECENT: OrderedDict[tuple[str, tuple[str, ...]], Formula] = OrderedDict()   # parse() in this process, oldest first
_RECENT_SIZE = 256


def _formula(text: str, body: ast.expr, names: tuple[str, ...], fail: Callable[..., NoReturn],
             use_cache: bool) -> Formula:
    """Steps 2 to 4 for a checked tree, or step 4 alone on a cache entry."""
    from . import cache

    entry = _cache_key(body, names) if use_cache else None
    if entry is not None:
        formula = _from_cache(text, names, cache.load(entry))
        if formula is not None:
            return formula
    expr, gradient = _derive(text, body, names, fail)
    formula = Formula(text, names, tuple(_print(e, names, text) for e in (expr, *gradient)))
    formula.__dict__["_symbolic"] = expr, gradient   # its cached_property, already known
    try:
        _ = formula._compiled   # compile now, so any problem surfaces in parse()
    except RecursionError:
        raise FormulaError(text, "the derivative is nested too deeply to evaluate", None, "simplify it") from None
    if entry is not None:
        cache.store(entry, formula.derived)
    return formula


def _from_cache(text: str, names: tuple[str, ...], derived: list[str] | None) -> Formula | None:
    """The formula from a cache entry's texts, if they pass step 4 as typed-in text would; else None."""
    if derived is None or len(derived) != len(names) + 1:
        return None
    formula = Formula(text, names, tuple(derived))
    try:
        _ = formula._compiled
    except Exception:  # noqa: BLE001 - whatever is wrong with an entry, it is a miss, never an error
        return None
    return formula


def _cache_key(body: ast.expr, names: tuple[str, ...]) -> str | None:
    """The cache entry of a checked tree; None when caching is off (or SymPy is not installed)."""
    from . import cache
    from ._version import __version__

    if cache.directory() is None:
        return None
    import importlib.metadata  # SymPy's version without importing SymPy

    try:
        sympy_version = importlib.metadata.version("sympy")
    except importlib.metadata.PackageNotFoundError:
        return None
    return cache.key("gradstep.expression", __version__, sympy_version, _source_digest(), ast.dump(body), *names)


@functools.cache
def _source_digest() -> str:
    """SHA-256 of this module's source, so that an edited printer never meets an old cache entry."""
    try:
        with open(__file__, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return ""


# --- step 2: build the SymPy expression and differentiate it ------------------------------

@functools.cache
def _sympy() -> types.SimpleNamespace:
    """Import SymPy (only now) and add the functions it lacks, with stable derivatives."""
    import sympy as sp

    class sigmoid(sp.Function):
        """sigmoid(u) = 1/(1 + exp(-u)),  d/du = sigmoid(u) (1 - sigmoid(u))."""
        @classmethod
        def eval(cls, u):
            return 1 / (1 + sp.exp(-u)) if u.is_number else None

        def fdiff(self, argindex=1):
            return self * (1 - self)

    class softplus(sp.Function):
        """softplus(u) = log(1 + exp(u)),  d/du = sigmoid(u)."""
        @classmethod
        def eval(cls, u):
            return sp.log(1 + sp.exp(u)) if u.is_number else None

        def fdiff(self, argindex=1):
            return sigmoid(self.args[0])

    class abs(sp.Function):   # sympy.Abs differentiates possibly-complex arguments via re/im/atan2
        """abs(u) = |u|,  d/du = sign(u)."""
        @classmethod
        def eval(cls, u):
            return sp.Abs(u) if u.is_number or u.is_extended_real else None

        def fdiff(self, argindex=1):
            return sp.sign(self.args[0])

        def _latex(self, printer):
            return rf"\left|{{{printer._print(self.args[0])}}}\right|"

    return types.SimpleNamespace(
        sp=sp, sin=sp.sin, cos=sp.cos, tan=sp.tan, exp=sp.exp, log=sp.log, sqrt=sp.sqrt,
        log10=lambda u: sp.log(u, 10), log2=lambda u: sp.log(u, 2), abs=abs, tanh=sp.tanh,
        sinh=sp.sinh, cosh=sp.cosh, asin=sp.asin, acos=sp.acos, atan=sp.atan,
        sigmoid=sigmoid, softplus=softplus,
        xp_names={sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.exp: "exp", sp.log: "log",
                  sp.Abs: "abs", abs: "abs", sp.sign: "sign", sp.tanh: "tanh", sp.sinh: "sinh",
                  sp.cosh: "cosh", sp.asin: "arcsin", sp.acos: "arccos", sp.atan: "arctan"})


def _derive(text: str, body: ast.expr, names: tuple[str, ...],
            fail: Callable[..., NoReturn]) -> tuple[sympy.Expr, tuple[sympy.Expr, ...]]:
    """``f`` as a SymPy expression built from the checked tree, and its exact gradient."""
    S = _sympy()
    sp = S.sp
    symbols = {name: sp.Symbol(name, real=True) for name in names}
    constants = {"pi": sp.pi, "e": sp.E}

    def build(node: ast.expr, power: float = 1.0) -> sympy.Expr:   # only nodes the checker accepted
        if isinstance(node, ast.Constant):
            return sp.Integer(node.value) if type(node.value) is int else sp.Float(node.value)
        if isinstance(node, ast.Name):
            return constants[node.id] if node.id in constants else symbols[node.id]
        if isinstance(node, ast.UnaryOp):
            operand = build(node.operand, power)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            return getattr(S, FUNCTIONS[_callee(node)].sympy_name)(*map(build, node.args))
        assert isinstance(node, ast.BinOp)   # the last kind of node the checker accepts
        if isinstance(node.op, ast.Pow):   # as in _Checker, but on the simplified exponent (x - x + 5000)
            exponent = build(node.right)
            if exponent.is_number:
                power *= max(1.0, float(sp.Abs(exponent)))
                if not power <= MAX_POWER:
                    fail(node.right.col_offset, f"the exponent is too large (more than {MAX_POWER} in all)")
            return build(node.left, power) ** exponent
        return _BINOPS[type(node.op)](build(node.left, power), build(node.right, power))

    expr = build(body)
    gradient = tuple(_diff(sp, expr, symbols[name]) for name in names)
    for e in (expr, *gradient):
        if e.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise FormulaError(text, "the formula or its derivative is undefined (a division by zero?)")
        if e.has(sp.I):
            raise FormulaError(text, "the formula is complex-valued", None,
                               "check for sqrt or log of something that is always negative")
    return expr, gradient


def _diff(sp: Any, e: sympy.Expr, s: sympy.Symbol) -> sympy.Expr:
    """``sympy.diff(e, s)``, with the rules SymPy applies, but the product rule applied only to the factors
    that depend on ``s``: SymPy's ``Mul`` uses the general Leibniz rule, which differentiates every factor for
    every term, so the gradient of a product of n variables took n**3 steps (11 s for ``a0*a1*...*a121``,
    499 characters)."""
    if not e.has(s):
        return sp.S.Zero
    if e.is_Add:
        return sp.Add(*[_diff(sp, a, s) for a in e.args])
    if e.is_Mul:
        args = e.args
        return sp.Add(*[sp.Mul(*args[:i], _diff(sp, a, s), *args[i + 1:])
                        for i, a in enumerate(args) if a.has(s)])
    if type(e) is sp.Pow:   # as Pow._eval_derivative
        base, exponent = e.args
        return e * (_diff(sp, exponent, s) * sp.log(base) + _diff(sp, base, s) * exponent / base)
    if type(e) is sp.Abs and e.args[0].is_extended_real:   # as Abs._eval_derivative
        return _diff(sp, e.args[0], s) * sp.sign(sp.conjugate(e.args[0]))
    if isinstance(e, sp.Function) and len(e.args) == 1 \
            and type(e)._eval_derivative is sp.Function._eval_derivative:   # chain rule, as Function does
        inner = _diff(sp, e.args[0], s)
        return sp.S.Zero if inner.is_zero else e.fdiff(1) * inner
    return sp.diff(e, s)


# --- step 3: print SymPy trees as text that spells out each operation ---------------------

_ADD, _MUL, _POW, _ATOM = 1, 2, 4, 5   # Python's precedences (3 is unary minus, never printed)


def _print(expr: sympy.Expr, names: tuple[str, ...], text: str) -> str:
    """``expr`` in the grammar of formulas (plus ``sign``), in the order in which it is
    evaluated: sums and products left to right; ``x/3`` and ``x/y`` as numerator /
    denominator, so that they round like plain division; ``x**-2`` as ``1.0/x**2``;
    each constant part (``1/3``, ``pi``, ``log(10)``) as one float.

    Examples
    --------
    >>> parse("x/3 + pi*y**-2 + abs(x)").derived
    ('1.0*x/3.0 + 3.141592653589793/y**2 + abs(x)', '0.3333333333333333 + sign(x)', '(-2.0)*3.141592653589793/y**3')
    """
    return _Printer(names, text)(expr)[0]


_Printed = tuple[str, int]   # a printed part and the precedence of its outermost operation


def _wrap(part: _Printed, looser: int) -> str:
    """``part`` parenthesised unless it binds tighter than ``looser``."""
    return part[0] if part[1] > looser else f"({part[0]})"


def _product(factors: list[_Printed]) -> _Printed:
    """The factors multiplied left to right (``1.0`` for none)."""
    if not factors:
        return "1.0", _ATOM
    if len(factors) == 1:
        return factors[0]
    return "*".join([_wrap(factors[0], _ADD), *(_wrap(f, _MUL) for f in factors[1:])]), _MUL


class _Printer:
    """Prints a SymPy expression of the variables ``names`` as :func:`_print` says, one method per kind
    of node; ``text`` (the formula) is for the errors."""

    def __init__(self, names: tuple[str, ...], text: str) -> None:
        self.S = _sympy()
        self.symbols = {self.S.sp.Symbol(name, real=True): name for name in names}
        self.text = text

    def __call__(self, e: sympy.Expr) -> _Printed:
        if e.is_Symbol:
            return self.symbol(e)
        if e.is_number:   # 3, 1/3, pi, log(10), sqrt(2), ...
            return self.number(e)
        if e.is_Add:
            terms = [self(a) for a in e.args]
            return " + ".join([_wrap(terms[0], 0), *(_wrap(t, _ADD) for t in terms[1:])]), _ADD
        if e.is_Mul:
            return self.product(e)
        if e.is_Pow:
            return self.power(e)
        return self.function(e)

    def symbol(self, e: sympy.Expr) -> _Printed:
        if e not in self.symbols:
            raise FormulaError(self.text, f"'{e}' is not one of the variables")
        return self.symbols[e], _ATOM

    def number(self, e: sympy.Expr) -> _Printed:
        try:
            c = float(e)
        except TypeError:
            raise FormulaError(self.text, "the formula contains a complex constant") from None
        if not math.isfinite(c):
            raise FormulaError(self.text, "a constant in the formula or its derivative is too large")
        return (repr(c) if math.copysign(1.0, c) > 0 else f"({c!r})"), _ATOM

    def product(self, e: sympy.Expr) -> _Printed:
        """A product as numerator / denominator: a fraction's denominator and negative powers go below."""
        num: list[_Printed] = []
        den: list[_Printed] = []
        for a in e.args:
            if a.is_Rational and a.q != 1:
                num.append(self(self.S.sp.Integer(a.p)))
                den.append(self(self.S.sp.Integer(a.q)))
            elif a.is_Pow and a.exp.is_number and a.exp.is_negative:
                den.append(self(a.base ** -a.exp))
            else:
                num.append(self(a))
        top = _product(num)
        return top if not den else (f"{_wrap(top, _ADD)}/{_wrap(_product(den), _MUL)}", _MUL)

    def power(self, e: sympy.Expr) -> _Printed:
        p = e.exp
        if p == self.S.sp.S.Half:
            return f"sqrt({self(e.base)[0]})", _ATOM
        if p.is_Integer and p > 0:   # x**2 on floats is exact
            return f"{_wrap(self(e.base), _POW)}**{int(p)}", _POW
        if p.is_number and p.is_negative:   # x**-2 = 1/x**2
            return f"1.0/{_wrap(self(e.base ** -p), _MUL)}", _MUL
        return f"{_wrap(self(e.base), _POW)}**{_wrap(self(p), _POW)}", _POW

    def function(self, e: sympy.Expr) -> _Printed:
        S = self.S
        if e.func is S.softplus or e.func is S.sigmoid:
            return f"{e.func.__name__}({self(e.args[0])[0]})", _ATOM
        if e.func in S.xp_names and len(e.args) == 1:
            return f"{S.xp_names[e.func]}({self(e.args[0])[0]})", _ATOM
        raise FormulaError(self.text, f"cannot evaluate the SymPy function '{e.func.__name__}'")


# --- step 4: compile a checked text into closures over an array namespace xp --------------

_Fn = Callable[[Sequence[Any], Any], Any]   # fn(values of the variables, xp) -> value


def _xp_softplus(u: Any, xp: Any) -> Any:
    """log(1 + exp(u)) = max(u, 0) + log1p(exp(-|u|)), which cannot overflow."""
    return (u + xp.abs(u)) / 2 + xp.log1p(xp.exp(-xp.abs(u)))


def _program(text: str, names: tuple[str, ...]) -> _Fn:
    """A derived text read and checked as in step 1 (without the limits that bound
    SymPy's work, as SymPy never sees it), then compiled."""
    body, source, offset = _read(text, max_length=None)
    _Checker(text, source, offset, names, _DERIVED_FUNCTIONS, math.inf, math.inf).visit(body)
    return _evaluator(body, {name: i for i, name in enumerate(names)})


def _evaluator(node: ast.expr, index: Mapping[str, int]) -> _Fn:
    """``fn(values, xp)`` for a checked tree, walking it once; each operation as written."""
    if isinstance(node, ast.Constant):
        c = node.value
        return lambda v, xp: c
    if isinstance(node, ast.Name):
        if node.id in index:
            i = index[node.id]
            return lambda v, xp: v[i]
        c = CONSTANTS[node.id]
        return lambda v, xp: c
    if isinstance(node, ast.UnaryOp):
        negate = isinstance(node.op, ast.USub)
        if isinstance(node.operand, ast.Constant):   # a negative number, e.g. (-2.0)
            number = node.operand.value
            assert isinstance(number, (int, float))   # the checker accepts no other constant
            c = -number if negate else number
            return lambda v, xp: c
        u = _evaluator(node.operand, index)
        return (lambda v, xp: -u(v, xp)) if negate else u
    if isinstance(node, ast.Call):
        name, u = _callee(node), _evaluator(node.args[0], index)
        if name == "softplus":
            return lambda v, xp: _xp_softplus(u(v, xp), xp)
        if name == "sigmoid":   # sigmoid(u) = exp(-softplus(-u)), accurate for any u
            return lambda v, xp: xp.exp(-_xp_softplus(-u(v, xp), xp))
        attribute = _XP_FUNCTIONS[name]
        return lambda v, xp: getattr(xp, attribute)(u(v, xp))
    assert isinstance(node, ast.BinOp)   # the last kind of node the checker accepts
    if isinstance(node.op, ast.Pow):
        base, exponent = _evaluator(node.left, index), _evaluator(node.right, index)
        return lambda v, xp: base(v, xp) ** exponent(v, xp)
    family, chain = _FAMILY[type(node.op)], []   # a + b - c, a * b / c: one flat chain, left to right
    while isinstance(node, ast.BinOp) and _FAMILY.get(type(node.op)) == family:
        chain.append((_BINOPS[type(node.op)], _evaluator(node.right, index)))
        node = node.left
    first, rest = _evaluator(node, index), chain[::-1]

    def fold(v: Sequence[Any], xp: Any) -> Any:
        value = first(v, xp)
        for op, operand in rest:
            value = op(value, operand(v, xp))
        return value

    return fold


# --- the result ---------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class Formula:
    """A parsed formula ``f(v_1, ..., v_n)`` with its exact gradient.

    Attributes
    ----------
    text : str
        The formula as typed.
    variables : tuple of str
        The order of the coordinates of a point ``x``.
    derived : tuple of str
        ``(f, ∂f/∂v_1, ..., ∂f/∂v_n)`` as SymPy derived them, printed in the
        grammar of formulas (plus ``sign``) in the order they are evaluated:
        what the on-disk cache stores.
    expr : sympy.Expr
        ``f`` as a SymPy expression (the symbols are real); imports SymPy
        (and derives again) on first use if the formula came from the cache.
    gradient : tuple of sympy.Expr
        ``(∂f/∂v_1, ..., ∂f/∂v_n)`` from ``sympy.diff``; like ``expr``.

    Examples
    --------
    >>> f = parse("(1 - x)**2 + 100*(y - x**2)**2")
    >>> f([1, 1]), f.grad([0, 0]).tolist()
    (0.0, [-2.0, 0.0])
    >>> f.evaluate(np.array([0.0, 1.0]), np.array([0.0])).tolist()
    [1.0, 100.0]
    >>> f.derived[1]
    '(-2.0) + 2.0*x + (-400.0)*x*(y + (-1.0)*x**2)'
    """

    text: str
    variables: tuple[str, ...]
    derived: tuple[str, ...]

    @functools.cached_property
    def _symbolic(self) -> tuple[sympy.Expr, tuple[sympy.Expr, ...]]:
        body, source, offset = _read(self.text)
        checker = _Checker(self.text, source, offset, self.variables)
        checker.visit(body)
        return _derive(self.text, body, self.variables, checker.fail)

    @property
    def expr(self) -> sympy.Expr:
        return self._symbolic[0]

    @property
    def gradient(self) -> tuple[sympy.Expr, ...]:
        return self._symbolic[1]

    @functools.cached_property
    def _compiled(self) -> tuple[_Fn, tuple[_Fn, ...]]:
        value, *gradient = (_program(text, self.variables) for text in self.derived)
        return value, tuple(gradient)

    def __repr__(self) -> str:
        return f"Formula({self.text!r}, variables={self.variables!r})"

    def __reduce__(self):   # pickle the text, not SymPy objects: unpickling parses it again
        return parse, (self.text, self.variables)

    def __str__(self) -> str:
        return str(self.expr)

    @property
    def latex(self) -> str:
        """``f`` in LaTeX, from ``sympy.latex``."""
        return _sympy().sp.latex(self.expr)

    def _point(self, x: Any) -> np.ndarray:
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"expected real numbers for ({', '.join(self.variables)}), got {a.dtype}")
        a = a if a.dtype.kind == "f" else a.astype(np.float64)
        n = len(self.variables)
        a = a.reshape(1) if a.ndim == 0 and n == 1 else a
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"expected {n} value{'s' * (n != 1)}, one for each of "
                             f"({', '.join(self.variables)}), got shape {a.shape}")
        return a

    def __call__(self, x: Any) -> float | np.ndarray:
        """``f(x)`` for a point of shape ``(n,)`` (a float), or for a batch of
        shape ``(n, ...)`` (an array).  NaN or inf where ``f`` is undefined."""
        a = self._point(x)
        if a.ndim > 1:
            return self.evaluate(*a)
        with np.errstate(all="ignore"):
            return float(self._compiled[0](list(a), np))

    def grad(self, x: Any) -> np.ndarray:
        """The exact gradient ``∇f(x)``: shape ``(n,)``, or ``(n, ...)`` for a
        batch; the dtype of ``x`` if it is a float array, else float64."""
        a = self._point(x)
        with np.errstate(all="ignore"):
            parts = [g(list(a), np) for g in self._compiled[1]]
        return np.stack([np.broadcast_to(np.asarray(g, dtype=a.dtype), a.shape[1:]) for g in parts])

    def value_and_grad(self, x: Any) -> tuple[float | np.ndarray, np.ndarray]:
        """``(f(x), ∇f(x))``."""
        return self(x), self.grad(x)

    def _arrays(self, arrays: tuple[Any, ...], xp: Any) -> tuple[list[Any], Any]:
        """The inputs (NumPy ones as float arrays) and a zero of their broadcast shape."""
        if len(arrays) != len(self.variables):
            raise ValueError(f"expected {len(self.variables)} arrays, one for each of "
                             f"({', '.join(self.variables)}), got {len(arrays)}")
        inputs = list(arrays)
        if xp is np:
            inputs = [np.asarray(a) for a in inputs]
            inputs = [a if a.dtype.kind == "f" else a.astype(np.float64) for a in inputs]
        return inputs, functools.reduce(operator.add, [xp.zeros_like(a) for a in inputs])

    def evaluate(self, *arrays: Any, xp: Any = np) -> Any:
        """``f`` on arrays, one per variable, broadcast together (e.g. from
        ``np.meshgrid`` for a contour plot).  ``xp`` is the array namespace of
        the inputs (``numpy`` or ``torch``); the result has their broadcast shape."""
        v, zero = self._arrays(arrays, xp)
        with np.errstate(all="ignore"):
            return self._compiled[0](v, xp) + zero

    def evaluate_grad(self, *arrays: Any, xp: Any = np) -> tuple[Any, ...]:
        """``(∂f/∂v_1, ..., ∂f/∂v_n)`` on broadcast arrays, like :meth:`evaluate`."""
        v, zero = self._arrays(arrays, xp)
        with np.errstate(all="ignore"):
            return tuple(g(v, xp) + zero for g in self._compiled[1])
