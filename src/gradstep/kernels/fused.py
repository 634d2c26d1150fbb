r"""Fused single-pass loss and gradient of the linear-model losses, for large NumPy arrays.

The plain path of a linear loss reads ``X`` twice and writes several ``(m, k)``
temporaries: ``Z = X @ W + b``, the per-row loss and :math:`G = \partial\ell/\partial Z`,
then :math:`X^\top G`. Here one compiled, multi-threaded pass over the rows of
``X`` computes, block by block while the block is in cache,

.. math::
    \text{total} = \sum_i w_i\,\ell_i,\qquad
    g_W = s\,X^\top G,\qquad g_b = s\,\mathbf 1^\top G,\qquad
    G_{ij} = w_i\,\frac{\partial \ell_i}{\partial z_{ij}}

for the squared error (:math:`\ell_i = \sum_j r_{ij}^2`, :math:`G = w\circ r`,
:math:`r = Z - Y`), the binary log loss and the softmax cross-entropy, in the
numerically stable forms of the plain path (:mod:`gradstep.objectives.logistic`),
with ``s`` the caller's scale (``2/(mk)``, ``1/m``, ...). The objective adds the
penalty as before, so penalties stay in one place.

**When.** :func:`applies` says whether the fused path runs: :data:`ENABLED`,
Numba importable, NumPy float32 or float64 ``X`` that is C-contiguous with at
least :data:`MIN_ELEMENTS` entries, ``params`` of the same dtype, NumPy labels
and weights. Anything else (torch tensors, Fortran-ordered or strided ``X``,
small batches, mixed dtypes) runs the plain code unchanged.

**Same results.** Sums are taken in another order than BLAS and NumPy take them,
and the exponential and logarithm are polynomials (a few ulps), so the results
agree with the plain path to about 1e-14 relative in float64. Float32 input is
widened to float64 on load and everything is accumulated in float64, so the
fused float32 result is the more accurate of the two; they agree to about 1e-6.
For a given shape the result is the same on every run and for any number of
threads (the rows are cut into a fixed set of chunks, whose partial sums are
added in order). Non-finite input gives a non-finite total, as the plain path
does, without warnings.

**Switches.** ``GRADSTEP_FUSED=0`` in the environment (read at import, :mod:`gradstep.switches`) or
``gradstep.kernels.fused.ENABLED = False`` turns the fused path off. The
kernels are compiled with Numba on first use (seconds) and cached on disk
(Numba's ``cache=True``), so a second process loads them. They run on Numba's
threads (``numba.set_num_threads`` / ``NUMBA_NUM_THREADS``); calls from several
Python threads take turns. A process forked after the kernels ran in its parent
uses the plain path (Numba's OpenMP threads do not survive a fork).

Examples
--------
>>> import numpy as np
>>> from gradstep.kernels import fused
>>> rng = np.random.default_rng(0)
>>> X, Y = rng.standard_normal((2**16, 16)), rng.standard_normal((2**16, 1))
>>> W, b = np.zeros((16, 1)), np.zeros(1)
>>> fused.applies(W, X, Y), fused.applies(W, X[:1000], Y[:1000]), fused.applies(W, np.asfortranarray(X), Y)
(True, False, False)
>>> total, gW, gb = fused.linear_parts("squared", X, Y, None, W, b, scale=1.0)   # residual R = -Y
>>> bool(np.isclose(total, np.sum(Y**2))), bool(np.allclose(gW, -X.T @ Y)), bool(np.isclose(gb[0], -Y.sum()))
(True, True, True)
"""

from __future__ import annotations

import os
import threading
from types import ModuleType
from typing import Literal

import numpy as np

from .. import switches
from . import _compiling

__all__ = ["ENABLED", "MIN_ELEMENTS", "applies", "available", "linear_parts", "linear_parts_counted"]

ENABLED: bool = switches.enabled("GRADSTEP_FUSED")
"""Whether the fused path may run at all (``GRADSTEP_FUSED=0`` turns it off: :mod:`gradstep.switches`; tests
set this)."""

MIN_ELEMENTS: int = 1 << 20
"""The fused path runs when ``X`` has at least this many entries (``n·d``, 8 MiB of float64).

Measured on 2 cores (Zen 4, d = 5, 20, 100): below 2**18 entries ``X`` sits in
the caches, the plain path's two BLAS passes are cheap and the kernel's fixed
cost (~0.1 ms: thread wake-up, partial sums) loses; from 2**20 on the fused
pass wins, by 2-10x.
"""

COMPILE_SECONDS = 16
"""About how long the first use after an install compiles the kernels (measured: 16 s on 2 cores), said
on stderr before it starts (:mod:`._compiling`); later processes load them from the cache."""

Loss = Literal["squared", "logistic", "softmax"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

_kernels: ModuleType | None = None
_failed = False
_lock = threading.Lock()
_launched_in: int | None = None  # the process that first ran a kernel


def available() -> bool:
    """True when the compiled kernels can be used: Numba imports and the process has not forked since they ran."""
    return _load() is not None and (_launched_in is None or _launched_in == os.getpid())


def applies(params: object, X: object, Y: object, w: object = None, labels: bool = False) -> bool:
    """True when :func:`linear_parts` takes this batch (see the module docstring); never raises.

    Parameters
    ----------
    params : array
        The flat parameters (their dtype must be ``X``'s).
    X : array
        ``(m, d)`` features.
    Y : array
        ``(m, k)`` targets or labels.
    w : array or None
        ``(m,)`` row weights.
    labels : bool
        ``Y`` holds labels, cast to ``X``'s dtype as the plain path does; else
        (targets of the squared error) ``Y`` must already have ``X``'s dtype.
    """
    if not ENABLED:
        return False
    if not (isinstance(X, np.ndarray) and type(params) is np.ndarray and isinstance(Y, np.ndarray)):
        return False
    if w is not None and not isinstance(w, np.ndarray):
        return False
    if X.ndim != 2 or X.dtype not in _FLOATS or params.dtype != X.dtype or type(X) is np.matrix:
        return False
    if not X.flags.c_contiguous or X.size < max(MIN_ELEMENTS, 1):
        return False
    if Y.ndim != 2 or (Y.dtype.kind not in "biuf" if labels else Y.dtype != X.dtype):
        return False
    return available()


def linear_parts(
    loss: Loss,
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    W: np.ndarray,
    b: np.ndarray | None,
    scale: float,
    grad: bool = True,
) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    r"""``(Σ_i w_i ℓ_i, scale · XᵀG, scale · 1ᵀG)`` in one pass over ``X`` (call only where :func:`applies`).

    :func:`linear_parts_counted` gives the same and the rows classified right.

    Parameters
    ----------
    loss : {"squared", "logistic", "softmax"}
        :math:`\ell_i = \sum_j (z_{ij} - y_{ij})^2`, the binary log loss of
        :math:`z_i` against :math:`y_i \in [0, 1]`, or :math:`\operatorname{lse}(z_i) - z_i\cdot y_i`.
    X : (m, d) float32 or float64, C-contiguous
        The features.
    Y : (m, k) array
        Targets (squared error: ``X``'s dtype) or labels (cast to ``X``'s dtype, as the plain path does).
    w : (m,) array or None
        Row weights (``X``'s dtype), or none.
    W : (d, k) array
        The weights of the decision :math:`Z = XW + b`.
    b : (k,) array or None
        The intercept, or none.
    scale : float
        Multiplies the gradient parts (not the total).
    grad : bool
        ``False`` skips the gradient (both parts are then ``None``).

    Returns
    -------
    total : float
        :math:`\sum_i w_i \ell_i` (unscaled), a Python float.
    gW : (d, k) ndarray of X's dtype, or None
        :math:`s\,X^\top G`.
    gb : (k,) ndarray of X's dtype, or None
        :math:`s\sum_i G_i`.
    """
    return linear_parts_counted(loss, X, Y, w, W, b, scale, grad)[:3]


def linear_parts_counted(
    loss: Loss,
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    W: np.ndarray,
    b: np.ndarray | None,
    scale: float,
    grad: bool = True,
) -> tuple[float, np.ndarray | None, np.ndarray | None, int]:
    r""":func:`linear_parts` and, for ``"logistic"`` and ``"softmax"``, the number of rows whose predicted
    class is their label's (:math:`z_i > 0` against :math:`y_i > 1/2`; the first largest decision against
    the first largest label), counted in the same pass: the training accuracy comes for free."""
    kernels = _load()
    if kernels is None:
        raise RuntimeError("the fused kernels need Numba; check fused.applies(...) before calling linear_parts")
    kind = {"squared": kernels.SQUARED, "logistic": kernels.LOGISTIC, "softmax": kernels.SOFTMAX}[loss]
    dtype = X.dtype
    d = X.shape[1]
    k = Y.shape[1]
    Y = np.ascontiguousarray(Y, dtype=dtype)
    w = np.empty(0, dtype=dtype) if w is None else np.ascontiguousarray(w, dtype=dtype)
    WT = np.ascontiguousarray(np.asarray(W, dtype=np.float64).reshape(d, k).T)
    b = np.zeros(k) if b is None else np.ascontiguousarray(b, dtype=np.float64)
    block_rows = min(128, max(32, -(-d // 8) * 8))  # measured: 32 rows for d = 20, 128 for d = 100
    global _launched_in
    with _lock:
        total, gWT, gb, correct = kernels.run(kind, np.asarray(X), Y, w, WT, b, block_rows, grad)
        _launched_in = os.getpid()
    if not grad:
        return float(total), None, None, int(correct)
    return (float(total), np.ascontiguousarray((gWT * scale).T, dtype=dtype), (gb * scale).astype(dtype),
            int(correct))


def _load() -> ModuleType | None:
    """The kernel module (importing Numba on first use), or ``None`` when Numba is missing or broken."""
    global _kernels, _failed
    if _kernels is None and not _failed:
        try:
            from . import _fused_numba
        except ImportError:  # no Numba, or one that does not support this NumPy
            _failed = True
            return None
        try:  # the kernels use Numba internals (hand-emitted LLVM): a version that cannot compile them
            one = np.ones((1, 1))  # means the plain path, with a warning, not an error on every call
            args = (_fused_numba.SQUARED, one, one, np.empty(0), one, np.zeros(1), 32, True)
            _compiling.announce(_fused_numba.linear_parts, args, "the fused gradients", COMPILE_SECONDS)
            _fused_numba.run(*args)
        except Exception as e:  # noqa: BLE001 - any compiler failure
            _failed = True
            import warnings

            warnings.warn(f"gradstep's fused kernels do not compile with this Numba ({e.__class__.__name__}: {e}); "
                          "using the plain NumPy path", stacklevel=3)
        else:
            _kernels = _fused_numba
    return _kernels
