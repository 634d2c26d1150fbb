r"""The array namespace of the inputs, and the few helpers the numerical core needs beyond it.

The maths of gradstep (objectives, optimiser transforms, the loop) is written
once against the `array API <https://data-apis.org/array-api/>`_ namespace of
its inputs, as returned by :func:`namespace`: NumPy arrays get
``array_api_compat.numpy``, PyTorch tensors ``array_api_compat.torch`` (CPU or
CUDA), and so on. Results keep the input's type, dtype and device; nothing is
converted behind the caller's back. Only three things leave the namespace:

* numbers for the record (losses, norms): :func:`as_float`, a Python float;
* arrays for the record (the :class:`~gradstep.history.History`): :func:`to_numpy`;
* the row order of a shuffled epoch, drawn by NumPy on every backend (so the
  same seed gives the same batches) and applied with :func:`index`.

The functions below are what the array API lacks or spells differently: finite
checks, a stable logistic sigmoid and its log, ``logsumexp`` and ``softmax``,
each written once with ``xp`` operations.

Examples
--------
>>> import numpy as np
>>> xp = namespace(np.zeros(2))
>>> as_float(logsumexp(xp.asarray([0.0, 0.0])))   # log 2
0.6931471805599453
>>> to_numpy(sigmoid(xp.asarray([-1e4, 0.0, 1e4]))).tolist()
[0.0, 0.5, 1.0]
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat
import array_api_compat.numpy as numpy_namespace
import numpy as np

Array = Any
"""An array of any array-API library (NumPy ndarray, torch Tensor, ...)."""


def namespace(*arrays: Any) -> ModuleType:
    """The array-API namespace of ``arrays`` (anything that is not an array, e.g. a number or ``None``, is ignored).

    NumPy arrays, and calls with no array at all (only numbers, ``None``,
    lists), give ``array_api_compat.numpy``; mixing libraries (a NumPy array
    with a torch tensor) raises ``TypeError``.

    Examples
    --------
    >>> import numpy as np
    >>> namespace(np.ones(2), None, 1.0).__name__
    'array_api_compat.numpy'
    """
    if all(type(a) is np.ndarray for a in arrays):  # the common case, without the library checks
        return numpy_namespace
    arrays = tuple(a for a in arrays if array_api_compat.is_array_api_obj(a))
    return array_api_compat.array_namespace(*arrays) if arrays else numpy_namespace


def device(x: Array) -> Any:
    """The device ``x`` lives on (``"cpu"`` for NumPy)."""
    return array_api_compat.device(x)


def to_numpy(x: Array) -> np.ndarray:
    """``x`` as a NumPy array on the host (a NumPy array is returned as it is; a result may share memory with ``x``).

    Works for torch tensors on any device (with or without ``requires_grad``),
    CuPy and anything ``np.asarray`` understands.
    """
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def as_float(x: Array) -> float:
    """A one-element array (0-d, any device, in an autograd graph or not) or a number as a Python float.

    On an accelerator this waits for the result: call it for what is recorded, not inside the maths.
    """
    return float(to_numpy(x))


def isfinite_all(x: Array) -> bool:
    """True when every entry of ``x`` is finite (no nan, no ±inf)."""
    xp = namespace(x)
    return bool(xp.all(xp.isfinite(x)))


def copy(x: Array) -> Array:
    """A copy of ``x`` of the same type, dtype and device."""
    return namespace(x).asarray(x, copy=True)


def zeros_like(x: Array) -> Array:
    """Zeros of the shape, dtype and device of ``x``."""
    return namespace(x).zeros_like(x)


def index(x: Array, idx: np.ndarray) -> Array:
    """The rows ``x[idx]`` for an integer index array ``idx`` (NumPy, moved to ``x``'s library and device).

    NumPy's fancy index and torch's ``index_select`` are both ``take`` along axis 0.
    """
    xp = namespace(x)
    return xp.take(x, xp.asarray(idx, device=device(x)), axis=0)


def log_sigmoid(z: Array) -> Array:
    r""":math:`\log\sigma(z) = \min(z, 0) - \log(1 + e^{-|z|})`, finite for every finite ``z``, no overflow."""
    xp = namespace(z)
    return xp.minimum(z, xp.zeros_like(z)) - xp.log1p(xp.exp(-xp.abs(z)))


def sigmoid(z: Array) -> Array:
    r"""The logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})` without overflow.

    With :math:`e = e^{-|z|} \le 1`: :math:`\sigma(z) = 1/(1+e)` for :math:`z \ge 0` and
    :math:`e/(1+e)` below, each accurate to a few ulps (no ``1 - p`` cancellation).
    """
    xp = namespace(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, xp.ones_like(e), e) / (1.0 + e)


def logsumexp(Z: Array, axis: int | None = None, keepdims: bool = False) -> Array:
    r""":math:`\log\sum_j e^{Z_j}` along ``axis``, computed as :math:`M + \log\sum_j e^{Z_j - M}`,
    :math:`M = \max_j Z_j`.

    No overflow for any finite ``Z``; a slice that is all ``-inf`` gives ``-inf``
    (its maximum is replaced by 0, as in :func:`scipy.special.logsumexp`).
    """
    xp = namespace(Z)
    M = _finite_max(Z, axis)
    out = xp.log(xp.sum(xp.exp(Z - M), axis=axis, keepdims=True)) + M
    if keepdims:
        return out
    return xp.reshape(out, ()) if axis is None else xp.squeeze(out, axis=axis)


def softmax(Z: Array, axis: int = -1) -> Array:
    r""":math:`e^{Z_j - M} / \sum_k e^{Z_k - M}` along ``axis``, :math:`M = \max_k Z_k` (probabilities summing to 1).

    Each probability is accurate to a few ulps; :math:`e^{Z - \operatorname{lse}(Z)}`
    would carry the rounding of :math:`\operatorname{lse}` (an ulp of :math:`M`) into every one.
    """
    xp = namespace(Z)
    e = xp.exp(Z - _finite_max(Z, axis))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _finite_max(Z: Array, axis: int | None) -> Array:
    """The maximum along ``axis`` (kept as a length-1 axis), 0 where it is not finite."""
    xp = namespace(Z)
    M = xp.max(Z, axis=axis, keepdims=True)
    return xp.where(xp.isfinite(M), M, xp.zeros_like(M))


def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread: for products over blocks that sit in cache, where
    more threads only spin (on a busy machine they cost ten times the work)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


__all__ = [
    "Array",
    "as_float",
    "copy",
    "device",
    "index",
    "isfinite_all",
    "log_sigmoid",
    "logsumexp",
    "namespace",
    "one_blas_thread",
    "sigmoid",
    "softmax",
    "to_numpy",
    "zeros_like",
]
