r"""Where an estimator computes, and in what type its results come back.

An estimator fitted on NumPy input computes with NumPy; on PyTorch tensors it
computes with torch on the tensors' device (CPU or CUDA), keeping their dtype.
``backend="torch"`` (with ``device=``) moves NumPy input to torch;
``backend="numpy"`` moves tensors to NumPy. Whatever ran the maths, fitted
arrays (``coef_``, ``intercept_`` when it is an array) and the results of
``predict``, ``predict_proba`` and ``decision_function`` come back in the type
of the input: a tensor on the input's device for tensor input, a NumPy array
otherwise (scikit-learn's array-API convention).

Tensor input is checked where it lives (shape, dtype, finite values) rather
than copied to the host for :func:`sklearn.utils.validation.validate_data`.
Targets and sample weights are checked and encoded on the host, one pass over
``n`` values, and then moved to the compute device; the history is recorded
in NumPy, as on every backend.

Examples
--------
>>> import numpy as np
>>> place = Placement.resolve(np.zeros((2, 2)), backend=None, device=None)
>>> place.torch, place.describe()
(False, 'numpy')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from .. import backend

BACKENDS = (None, "numpy", "torch")


def is_tensor(a: Any) -> bool:
    """True for a torch tensor (without importing torch)."""
    return array_api_compat.is_torch_array(a)


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a test dependency
        raise ImportError("backend='torch' needs PyTorch: pip install torch") from e
    return torch


@dataclass(frozen=True)
class Placement:
    """The compute device: ``None`` for NumPy, else a ``torch.device``."""

    device: Any = None

    @property
    def torch(self) -> bool:
        return self.device is not None

    def describe(self) -> str:
        return "numpy" if self.device is None else f"torch:{self.device}"

    @classmethod
    def resolve(cls, X: Any, backend: str | None, device: Any) -> Placement:
        """From the estimator's ``backend`` / ``device`` parameters and the type of ``X``."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS} (None: the input's own), got {backend!r}")
        if backend == "numpy" or (backend is None and not is_tensor(X)):
            if device is not None and str(device) != "cpu":
                raise ValueError(f"device={device!r} needs backend='torch' (or torch tensors as input); "
                                 "NumPy computes on the CPU")
            return cls(None)
        torch = _torch()
        if device is None:
            dev = X.device if is_tensor(X) else torch.device("cpu")
        else:
            try:
                dev = torch.device(device)
            except (RuntimeError, TypeError) as e:
                raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from e
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={str(dev)!r} but PyTorch sees no CUDA device on this machine; "
                             "use device='cpu' or run where a GPU is present")
        return cls(dev)

    def put(self, a: Any, dtype: Any = None) -> Any:
        """``a`` (NumPy or torch) on the compute side; floating arrays get ``dtype`` (a NumPy dtype) when given."""
        if a is None:
            return None
        if not self.torch:
            out = backend.to_numpy(a)
            return out if dtype is None else out.astype(dtype, copy=False)
        from ..objectives.autograd import to_tensor

        torch = _torch()
        tdtype = None if dtype is None else (torch.float32 if np.dtype(dtype) == np.float32 else torch.float64)
        return to_tensor(a, dtype=tdtype, device=self.device)


def check_tensor(X: Any, name: str = "X") -> Any:
    """A 2-D torch tensor checked where it lives: at least one row and column, real, finite.

    Integer and boolean tensors become float64, half precision float32; float32
    and float64 are kept. Errors say what is wrong and what to do, as
    scikit-learn's ``check_array`` does for NumPy input.
    """
    torch = _torch()
    if X.is_complex():
        raise ValueError(f"{name} is a complex tensor ({X.dtype}); gradstep fits real data")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D tensor for {name}, got {X.ndim}D (shape {tuple(X.shape)}): use "
                         f"{name}.reshape(-1, 1) for a single feature or {name}.reshape(1, -1) for a single sample")
    n, d = X.shape
    if n < 1 or d < 1:
        raise ValueError(f"Found array with {n} sample(s) and {d} feature(s) (shape={tuple(X.shape)}) while a "
                         "minimum of 1 is required")
    if not X.is_floating_point():
        X = X.to(torch.float64)
    elif X.dtype not in (torch.float32, torch.float64):
        X = X.to(torch.float32)
    if not backend.isfinite_all(X):
        raise ValueError(f"Input {name} contains NaN or infinity; remove or impute those rows first")
    return X.detach()


def host(a: Any) -> Any:
    """A tensor as a NumPy array; anything else (lists, DataFrames, None) as it is."""
    return backend.to_numpy(a) if is_tensor(a) else a


def float_dtype(X: Any) -> np.dtype:
    """The NumPy dtype matching ``X``'s floating dtype (NumPy or torch): float32 or float64."""
    return np.dtype(np.float32) if str(X.dtype).rsplit(".", 1)[-1] == "float32" else np.dtype(np.float64)


__all__ = ["BACKENDS", "Placement", "check_tensor", "float_dtype", "host", "is_tensor"]
