"""Safe formulas: turn typed-in text into a function and its exact gradient.

``parse("(1 - x)**2 + 100*(y - x**2)**2")`` works in three steps:

1. **Validate** in pure Python, before SymPy is even imported: the text is read
   with ``ast.parse(text, mode="eval")`` and every node is checked against a
   whitelist -- numbers, variable names, ``+ - * / **``, unary ``-``/``+`` and
   calls of the :data:`FUNCTIONS` by name.  Constant parts are folded with
   Python floats, so ``9**9**9`` or ``log(-1)`` are refused in microseconds.
2. **Build** the SymPy expression ``f`` from the checked tree (never
   ``sympify``, which uses ``eval``) and differentiate it exactly:
   ``gradient[i] = ∂f/∂v_i``.
3. **Compile** ``f`` and each ``∂f/∂v_i`` into Python closures that call an
   array namespace ``xp`` (NumPy by default, PyTorch works too).  No generated
   code is ever executed (no ``lambdify``).
"""

from __future__ import annotations

import ast
import functools
import keyword
import math
import operator
import re
import tokenize
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

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
        0-based column of the offending part, when known.
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
        where = "" if position is None else f" at column {position}"
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


FUNCTIONS: Mapping[str, FunctionSpec] = types.MappingProxyType({
    name: FunctionSpec(1, fold, sympy_name) for name, fold, sympy_name in [
        ("sin", math.sin, "sin"), ("cos", math.cos, "cos"), ("tan", math.tan, "tan"),
        ("exp", math.exp, "exp"), ("log", math.log, "log"), ("log10", math.log10, "log10"),
        ("log2", math.log2, "log2"), ("sqrt", math.sqrt, "sqrt"), ("abs", abs, "abs"),
        ("tanh", math.tanh, "tanh"), ("sinh", math.sinh, "sinh"), ("cosh", math.cosh, "cosh"),
        ("arcsin", math.asin, "asin"), ("asin", math.asin, "asin"),
        ("arccos", math.acos, "acos"), ("acos", math.acos, "acos"),
        ("arctan", math.atan, "atan"), ("atan", math.atan, "atan"),
        ("sigmoid", _sigmoid, "sigmoid"), ("softplus", _softplus, "softplus")]})
CONSTANTS: Mapping[str, float] = types.MappingProxyType({"pi": math.pi, "e": math.e})

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

def _read(text: str) -> tuple[ast.expr, str, int]:
    """Character checks, then ``ast.parse``.  Returns the tree, the text as one
    line (so columns are plain indices) and the column where the tree starts."""
    if not isinstance(text, str):
        raise TypeError(f"a formula must be a str, not {type(text).__name__}")
    if "\x00" in text:
        raise FormulaError(text, "the formula contains a NUL byte", text.index("\x00"), "remove it")
    if not text.strip():
        raise FormulaError(text, "the formula is empty", None, "type an expression such as x**2 + y**2")
    if len(text) > MAX_LENGTH:   # before ast.parse, which would happily read megabytes
        raise FormulaError(text, f"the formula is too long ({len(text)} characters, at most {MAX_LENGTH})",
                           MAX_LENGTH, "shorten it")
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
    or ``None`` if it depends on a variable; names used go to ``self.names``."""

    def __init__(self, text: str, source: str, offset: int, allowed: tuple[str, ...] | None):
        self.text, self.source, self.offset, self.allowed, self.names = text, source, offset, allowed, []

    def fail(self, col: int, what: str, hint: str = "") -> None:
        raise FormulaError(self.text, what, self.offset + col, hint)

    def fold(self, node: ast.expr, fn: Callable[..., float], *args: float) -> float:
        part = f"'{self.source[self.offset + node.col_offset:self.offset + node.end_col_offset][:40]}'"
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
        if depth > MAX_DEPTH:
            self.fail(node.col_offset, f"the formula is nested more than {MAX_DEPTH} levels deep", "simplify it")
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                what = {complex: "complex numbers are", str: "strings are", bytes: "bytes are"}
                self.fail(node.col_offset, f"{what.get(type(node.value), repr(node.value) + ' is')} not allowed",
                          "use real numbers such as 2 or 0.5")
            return self.fold(node, float, node.value)   # OverflowError for ints beyond 1.8e308
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
        col = node.value.end_col_offset if isinstance(node, (ast.Attribute, ast.Subscript)) else node.col_offset
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
            col = node.left.end_col_offset   # point at the operator, past spaces and ')'
            while self.offset + col < len(self.source) and self.source[self.offset + col] in " )":
                col += 1
            self.fail(col, *_BAD_OPS.get(op, (f"'{op.__name__}' is not allowed", _HINT)))
        if op is ast.Pow:   # exponent first: it bounds how far SymPy may expand the base
            right = self.visit(node.right, depth + 1)
            power *= 1.0 if right is None else max(1.0, abs(right))
            if power > MAX_POWER:
                self.fail(node.right.col_offset, f"the exponent is too large (more than {MAX_POWER} in all)")
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
            self.fail(func.end_col_offset, "calling something that is not a function is not allowed",
                      "use * to multiply, e.g. (x + 1)*(y - 1)")
        name, spec, example = func.id, FUNCTIONS.get(func.id), f"write e.g. {func.id}(x)"
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
        return None if None in values else self.fold(node, spec.fold, *values)


def _natural(name: str) -> tuple:
    """Sort key: alphabetical, with digit runs compared as numbers (x2 before x10)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)], name


def parse(text: str, variables: Sequence[str] | None = None) -> Formula:
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

    Returns
    -------
    Formula
        ``f`` with ``gradient[i] = ∂f/∂variables[i]``, derived symbolically.

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
    >>> parse("x ^ 2")
    Traceback (most recent call last):
    ...
    gradstep.expression.FormulaError: '^' is not allowed at column 2; use ** for powers, e.g. x**2
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
    return _build(text, body, names, checker.fail)


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
            return r"\left|{%s}\right|" % printer._print(self.args[0])

    return types.SimpleNamespace(
        sp=sp, sin=sp.sin, cos=sp.cos, tan=sp.tan, exp=sp.exp, log=sp.log, sqrt=sp.sqrt,
        log10=lambda u: sp.log(u, 10), log2=lambda u: sp.log(u, 2), abs=abs, tanh=sp.tanh,
        sinh=sp.sinh, cosh=sp.cosh, asin=sp.asin, acos=sp.acos, atan=sp.atan,
        sigmoid=sigmoid, softplus=softplus,
        xp_names={sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.exp: "exp", sp.log: "log",
                  sp.Abs: "abs", abs: "abs", sp.sign: "sign", sp.tanh: "tanh", sp.sinh: "sinh",
                  sp.cosh: "cosh", sp.asin: "arcsin", sp.acos: "arccos", sp.atan: "arctan"})


def _build(text: str, body: ast.expr, names: tuple[str, ...], fail: Callable[..., None]) -> Formula:
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
            return getattr(S, FUNCTIONS[node.func.id].sympy_name)(*map(build, node.args))
        if isinstance(node.op, ast.Pow):   # as in _Checker, but on the simplified exponent (x - x + 5000)
            exponent = build(node.right)
            if exponent.is_number:
                power *= max(1.0, float(sp.Abs(exponent)))
                if not power <= MAX_POWER:
                    fail(node.right.col_offset, f"the exponent is too large (more than {MAX_POWER} in all)")
            return build(node.left, power) ** exponent
        return _BINOPS[type(node.op)](build(node.left, power), build(node.right, power))

    expr = build(body)
    gradient = tuple(sp.diff(expr, symbols[name]) for name in names)
    for e in (expr, *gradient):
        if e.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise FormulaError(text, "the formula or its derivative is undefined (a division by zero?)")
        if e.has(sp.I):
            raise FormulaError(text, "the formula is complex-valued", None,
                               "check for sqrt or log of something that is always negative")
    formula = Formula(text, names, expr, gradient)
    formula._compiled   # compile now, so any problem surfaces in parse()
    return formula


# --- step 3: compile SymPy trees into closures over an array namespace xp ------------------

_Fn = Callable[[Sequence[Any], Any], Any]   # fn(values of the variables, xp) -> value


def _product(fns: list[_Fn]) -> _Fn:
    return lambda v, xp: functools.reduce(operator.mul, [f(v, xp) for f in fns], 1.0)


def _xp_softplus(u: Any, xp: Any) -> Any:
    """log(1 + exp(u)) = max(u, 0) + log1p(exp(-|u|)), which cannot overflow."""
    return (u + xp.abs(u)) / 2 + xp.log1p(xp.exp(-xp.abs(u)))


def _compile(expr: sympy.Expr, index: Mapping[Any, int], text: str) -> _Fn:
    """Turn ``expr`` into ``fn(values, xp)``, walking its tree once."""
    S = _sympy()

    def comp(e: sympy.Expr) -> _Fn:
        if e.is_Symbol:
            if e not in index:
                raise FormulaError(text, f"'{e}' is not one of the variables")
            i = index[e]
            return lambda v, xp: v[i]
        if e.is_number:   # 3, 1/3, pi, log(10), sqrt(2), ...
            try:
                c = float(e)
            except TypeError:
                raise FormulaError(text, "the formula contains a complex constant") from None
            if not math.isfinite(c):
                raise FormulaError(text, "a constant in the formula or its derivative is too large")
            return lambda v, xp: c
        if e.is_Add:
            terms = [comp(a) for a in e.args]
            return lambda v, xp: functools.reduce(operator.add, [t(v, xp) for t in terms])
        if e.is_Mul:   # as numerator / denominator, so that x/3 and x/y round like plain division
            num, den = [], []
            for a in e.args:
                if a.is_Rational and a.q != 1:
                    num.append(comp(S.sp.Integer(a.p))), den.append(comp(S.sp.Integer(a.q)))
                elif a.is_Pow and a.exp.is_number and a.exp.is_negative:
                    den.append(comp(a.base ** -a.exp))
                else:
                    num.append(comp(a))
            top, bottom = _product(num), _product(den)
            return top if not den else (lambda v, xp: top(v, xp) / bottom(v, xp))
        if e.is_Pow:
            base, p = comp(e.base), e.exp
            if p == S.sp.S.Half:
                return lambda v, xp: xp.sqrt(base(v, xp))
            if p.is_Integer and p > 0:   # x**2 on floats is exact
                n = int(p)
                return lambda v, xp: base(v, xp) ** n
            if p.is_number and p.is_negative:   # x**-2 = 1/x**2
                inverse = comp(e.base ** -p)
                return lambda v, xp: 1.0 / inverse(v, xp)
            exponent = comp(p)
            return lambda v, xp: base(v, xp) ** exponent(v, xp)
        if e.func is S.softplus:
            u = comp(e.args[0])
            return lambda v, xp: _xp_softplus(u(v, xp), xp)
        if e.func is S.sigmoid:   # sigmoid(u) = exp(-softplus(-u)), accurate for any u
            u = comp(e.args[0])
            return lambda v, xp: xp.exp(-_xp_softplus(-u(v, xp), xp))
        if e.func in S.xp_names and len(e.args) == 1:
            name, u = S.xp_names[e.func], comp(e.args[0])
            return lambda v, xp: getattr(xp, name)(u(v, xp))
        raise FormulaError(text, f"cannot evaluate the SymPy function '{e.func.__name__}'")

    return comp(expr)


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
    expr : sympy.Expr
        ``f`` as a SymPy expression (the symbols are real).
    gradient : tuple of sympy.Expr
        ``(∂f/∂v_1, ..., ∂f/∂v_n)`` from ``sympy.diff``.

    Examples
    --------
    >>> f = parse("(1 - x)**2 + 100*(y - x**2)**2")
    >>> f([1, 1]), f.grad([0, 0]).tolist()
    (0.0, [-2.0, 0.0])
    >>> f.evaluate(np.array([0.0, 1.0]), np.array([0.0])).tolist()
    [1.0, 100.0]
    """

    text: str
    variables: tuple[str, ...]
    expr: sympy.Expr
    gradient: tuple[sympy.Expr, ...]

    @functools.cached_property
    def _compiled(self) -> tuple[_Fn, tuple[_Fn, ...]]:
        index = {_sympy().sp.Symbol(name, real=True): i for i, name in enumerate(self.variables)}
        return _compile(self.expr, index, self.text), tuple(_compile(g, index, self.text) for g in self.gradient)

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
        if xp is np:
            arrays = [np.asarray(a) for a in arrays]
            arrays = [a if a.dtype.kind == "f" else a.astype(np.float64) for a in arrays]
        return list(arrays), functools.reduce(operator.add, [xp.zeros_like(a) for a in arrays])

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
