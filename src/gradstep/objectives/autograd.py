r"""Objectives whose gradient comes from PyTorch's autograd.

Write the loss with torch operations and gradstep differentiates it with
:func:`torch.autograd.grad`; everything else (optimisers, schedules,
clipping, :func:`gradstep.loop.run` and its :class:`~gradstep.History`) is
unchanged, because both classes have the objective interface
``value(params, batch)`` / ``value_and_grad(params, batch)``.

* :class:`AutogradObjective` -- ``fun(params) -> scalar tensor``, a function
  of the parameters alone (what ``minimize(fun, x0, grad="autograd")`` uses);
* :class:`TorchDataObjective` -- ``fun(params, X, y)`` (or
  ``fun(params, X, y, w)`` for weighted batches) over a batch ``(X, y[, w])``,
  for a model of your own fitted to data.

``params`` may be a NumPy array (float32 or float64; it is copied into a
tensor of the same dtype) or a torch tensor (used on its device, detached from
any graph it belongs to). The value comes back as a Python float and the
gradient with the type, dtype and shape of ``params``.

This module imports torch; ``import gradstep`` does not import it.

Examples
--------
>>> import numpy as np
>>> import torch
>>> obj = AutogradObjective(lambda p: (p ** 2).sum() + torch.sin(p[0]))
>>> value, grad = obj.value_and_grad(np.array([0.0, 3.0]))
>>> value, grad
(9.0, array([1., 6.]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import torch
except ImportError as e:  # pragma: no cover - torch is a test dependency
    raise ImportError("gradstep.objectives.autograd needs PyTorch: pip install torch") from e

__all__ = ["AutogradObjective", "TorchDataObjective", "to_tensor"]


def to_tensor(a: Any, dtype: Any = None, device: Any = None) -> torch.Tensor:
    """``a`` as a tensor (NumPy arrays shared when possible, copied when read-only or cast).

    Floating arrays get ``dtype`` when it is given; integer and boolean arrays
    (class labels, masks) keep their type.
    """
    if isinstance(a, torch.Tensor):
        t = a
    else:
        arr = np.asarray(a)
        if not arr.flags.writeable or any(s < 0 for s in arr.strides):
            arr = arr.copy()  # torch.from_numpy warns on read-only memory and refuses negative strides
        try:
            t = torch.from_numpy(arr)
        except (TypeError, ValueError):  # a dtype torch.from_numpy does not take
            t = torch.as_tensor(arr.tolist())
    if dtype is not None and t.is_floating_point():
        t = t.to(dtype)
    if device is not None:
        t = t.to(device)
    return t


def _leaf(params: Any) -> tuple[torch.Tensor, bool]:
    """A fresh leaf tensor that requires grad, and whether ``params`` was a NumPy array."""
    if isinstance(params, torch.Tensor):
        t = params.detach()
        if not t.is_floating_point():
            t = t.to(torch.float64)
        return t.clone().requires_grad_(True), False
    arr = np.asarray(params)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"params must be real numbers (float32 or float64), got dtype {arr.dtype}")
    return torch.tensor(arr).requires_grad_(True), True  # torch.tensor copies


def _scalar_output(out: Any, what: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"{what} must return a torch tensor computed from params with torch operations, got "
            f"{type(out).__name__}; autograd cannot see through NumPy, math or .item()"
        )
    if out.numel() != 1:
        raise ValueError(f"{what} must return a single number, got a tensor of shape {tuple(out.shape)}")
    return out.reshape(())


def _value_and_grad(call: Callable[[torch.Tensor], Any], params: Any, what: str) -> tuple[float, Any]:
    x, was_numpy = _leaf(params)
    with torch.enable_grad():
        out = _scalar_output(call(x), what)
        if not out.requires_grad:
            raise ValueError(
                f"the value of {what} does not depend on params through torch operations (did it use "
                "NumPy, math, .item(), .detach() or torch.no_grad()?), so autograd has no gradient"
            )
        (g,) = torch.autograd.grad(out, x)
    value = float(out.detach())
    g = g.detach()
    if was_numpy:
        return value, g.cpu().numpy()
    return value, g.to(params.dtype) if params.is_floating_point() else g


def _value(call: Callable[[torch.Tensor], Any], params: Any, what: str) -> float:
    x, _ = _leaf(params)
    with torch.no_grad():
        return float(_scalar_output(call(x.detach()), what))


@dataclass(frozen=True)
class AutogradObjective:
    """A function of the parameters written with torch operations; its gradient by autograd.

    Parameters
    ----------
    fun : callable
        ``fun(params) -> scalar tensor`` with ``params`` a 1-D tensor (or any
        shape: the shape of the parameters given to the methods).

    Notes
    -----
    A function of the parameters alone: ``batch`` must be ``None`` (use
    :class:`TorchDataObjective` for a loss over data). For ``value`` the
    function runs under :func:`torch.no_grad`.

    Examples
    --------
    >>> import numpy as np
    >>> rosen = AutogradObjective(lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2)
    >>> rosen.value_and_grad(np.array([0.0, 0.0]))
    (1.0, array([-2.,  0.]))
    """

    fun: Callable[[torch.Tensor], Any]

    def __post_init__(self) -> None:
        if not callable(self.fun):
            raise TypeError(f"fun must be callable, got {type(self.fun).__name__}")

    def _check(self, batch: Any) -> None:
        if batch is not None:
            raise ValueError("AutogradObjective is a function of the parameters alone (batch=None); "
                             "for a loss over data use TorchDataObjective(fun(params, X, y))")

    def value(self, params: Any, batch: Any = None) -> float:
        self._check(batch)
        return _value(self.fun, params, "fun")

    def value_and_grad(self, params: Any, batch: Any = None) -> tuple[float, Any]:
        self._check(batch)
        return _value_and_grad(self.fun, params, "fun")


@dataclass(frozen=True)
class TorchDataObjective:
    """A differentiable loss of your own over a batch ``(X, y)`` or ``(X, y, w)``; gradient by autograd.

    Parameters
    ----------
    fun : callable
        ``fun(params, X, y) -> scalar tensor``, or ``fun(params, X, y, w)`` for
        batches with per-row weights ``w`` (as the loop's :class:`~gradstep.data.batching.Batches`
        yields them when given ``w``). The conventions (mean or sum over the
        batch, penalty) are the function's own.

    Notes
    -----
    Each batch array is passed as a tensor on the parameters' device: floating
    arrays in the parameters' dtype (float32 parameters with float64 data
    compute in float32), integer and boolean arrays (class labels for
    :func:`torch.nn.functional.cross_entropy`) as they are. NumPy arrays are
    shared with torch, not copied, when no cast is needed.

    Examples
    --------
    >>> import numpy as np
    >>> obj = TorchDataObjective(lambda p, X, y: ((X @ p - y) ** 2).mean())
    >>> X, y = np.array([[1.0], [2.0]]), np.array([2.0, 4.0])
    >>> obj.value_and_grad(np.array([1.0]), (X, y))   # residuals -1, -2
    (2.5, array([-5.]))
    """

    fun: Callable[..., Any]

    def __post_init__(self) -> None:
        if not callable(self.fun):
            raise TypeError(f"fun must be callable, got {type(self.fun).__name__}")

    @staticmethod
    def _tensors(batch: Any, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if batch is None or not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            raise ValueError(f"a batch is (X, y) or (X, y, w), got {type(batch).__name__}")
        parts = batch if len(batch) == 3 and batch[2] is not None else batch[:2]
        return tuple(to_tensor(a, like.dtype, like.device) for a in parts)

    def _call(self, batch: Any) -> Callable[[torch.Tensor], Any]:
        def call(p: torch.Tensor) -> Any:
            return self.fun(p, *self._tensors(batch, p))

        return call

    def value(self, params: Any, batch: Any = None) -> float:
        return _value(self._call(batch), params, "fun(params, X, y)")

    def value_and_grad(self, params: Any, batch: Any = None) -> tuple[float, Any]:
        return _value_and_grad(self._call(batch), params, "fun(params, X, y)")
