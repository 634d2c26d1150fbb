r"""Train any :class:`torch.nn.Module` with a gradstep transform chain.

:class:`Optimizer` is a :class:`torch.optim.Optimizer`: it goes wherever a
torch optimiser goes (``zero_grad``, ``step(closure)``, hooks, ``state_dict``),
and each ``step`` does what :func:`gradstep.loop.run` does for one update::

    g = torch.cat([p.grad.reshape(-1) for p in params])    one tensor on the parameters' device,
    p = torch.cat([p.reshape(-1) for p in params])         float64 if a parameter is, else float32
    u, state = transform.update(g, state, p)               (init on the first step)
    parameters <- p + u                                    (in place, under no_grad)
    history.record_step(epoch, loss, ||g||, lr, p)

so every gradstep optimiser, schedule and clipping works on a network, and the
run leaves the same :class:`~gradstep.History` a gradstep fit does (loss, global
gradient norm, learning rate, optionally the parameters, per step).

Examples
--------
>>> import torch
>>> from gradstep.optim import sgd
>>> w = torch.nn.Parameter(torch.tensor([3.0, 2.0], dtype=torch.float64))
>>> opt = Optimizer([w], sgd(lr=0.1))
>>> loss = (w ** 2).sum()
>>> loss.backward()
>>> _ = opt.step(loss=loss)
>>> w.detach().tolist(), opt.history.loss.tolist(), opt.history.lr.tolist()
([2.4, 1.6], [13.0], [0.1])

Notes
-----
The transform works on one flat vector of all the parameters: chains are
global (``clip_by_norm`` clips by the global norm, as
``torch.nn.utils.clip_grad_norm_`` over all parameters). The vector, the
gradient and the transform's state (momentum, Adam's moments...) are torch
tensors on the parameters' device -- the transforms are written once against
the array API (:mod:`gradstep.backend`) -- so a model on a GPU is trained on
the GPU. What leaves the device is the record: the loss and the gradient norm
(one Python float each per step) and, with ``record_params``, a NumPy copy of
the parameters at every step (a full device-to-host copy: leave it off for
large models).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

try:
    import torch
except ImportError as e:  # pragma: no cover - torch is a test dependency
    raise ImportError("gradstep.torch needs PyTorch: pip install torch") from e

from .backend import to_numpy
from .history import History
from .loop import current_lr
from .optim.base import GradientTransformation, global_norm, takes_extra_args

__all__ = ["Optimizer"]


def _merge_skipped(new: Any, old: Any, keep: torch.Tensor, n: int) -> Any:
    """``new`` state with the entries of skipped parameters (``keep`` True) taken from ``old``.

    Walks NamedTuples and tuples; every tensor of the flat length ``n`` is merged
    entry by entry (``torch.where``, on the tensors' device), everything else
    (counters, learning rates) comes from ``new``.
    """
    if isinstance(new, torch.Tensor) and isinstance(old, torch.Tensor) and new.shape == old.shape == (n,):
        return torch.where(keep, old, new)
    if isinstance(new, tuple) and isinstance(old, tuple) and len(new) == len(old):
        parts = [_merge_skipped(a, b, keep, n) for a, b in zip(new, old)]
        return new._make(parts) if hasattr(new, "_make") else type(new)(parts)
    return new


def _to(state: Any, device: torch.device) -> Any:
    """``state`` with every tensor moved to ``device`` (structure, dtypes and numbers unchanged)."""
    if isinstance(state, torch.Tensor):
        return state.to(device)
    if isinstance(state, tuple):
        parts = [_to(part, device) for part in state]
        return state._make(parts) if hasattr(state, "_make") else type(state)(parts)
    return state


def _leaves(state: Any) -> list[Any]:
    """The state's tensors (copies, on their device) and numbers, depth first: what
    ``torch.load(weights_only=True)`` reads."""
    if isinstance(state, tuple):
        return [leaf for part in state for leaf in _leaves(part)]
    if isinstance(state, torch.Tensor):
        return [state.detach().clone()]
    if isinstance(state, np.ndarray):
        return [torch.from_numpy(state.copy())]
    if isinstance(state, (bool, np.bool_)):
        return [bool(state)]
    if isinstance(state, (int, np.integer)):
        return [int(state)]
    if isinstance(state, (float, np.floating)):
        return [float(state)]
    raise TypeError(f"cannot save a transform state holding {type(state).__name__}")


def _rebuild(template: Any, leaves: Iterator[Any]) -> Any:
    """``template``'s structure (NamedTuples and all) filled with ``leaves`` in :func:`_leaves` order.

    A tensor leaf takes the template's device and dtype (the parameters'), so a
    state saved on a GPU loads on the CPU and the other way round.
    """
    if isinstance(template, tuple):
        parts = [_rebuild(part, leaves) for part in template]
        return template._make(parts) if hasattr(template, "_make") else type(template)(parts)
    try:
        leaf = next(leaves)
    except StopIteration:
        raise ValueError("the saved state does not fit this transform (it was saved with another one)") from None
    if isinstance(template, torch.Tensor):
        if not isinstance(leaf, torch.Tensor) or leaf.shape != template.shape:
            raise ValueError("the saved state does not fit this transform or these parameters")
        return leaf.detach().to(template.device, template.dtype, copy=True)
    if isinstance(leaf, torch.Tensor):
        # a saved tensor where the transform has a number: bad saved data, hence ValueError
        raise ValueError("the saved state does not fit this transform (it was saved with another one)")  # noqa: TRY004
    return type(template)(leaf) if isinstance(template, (int, float, np.generic)) else leaf


def _one_device(params: Iterable[torch.Tensor]) -> torch.device:
    """The device every parameter lives on; ``ValueError`` naming them when they are on several."""
    devices = {p.device for p in params}
    if len(devices) != 1:
        raise ValueError(
            f"gradstep.torch.Optimizer needs every parameter on one device, got parameters on "
            f"{', '.join(sorted(str(d) for d in devices))}: move the model to one device (model.to(device)) "
            "first, or build one Optimizer per device"
        )
    return next(iter(devices))


class Optimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` that steps with a gradstep transform and records a :class:`~gradstep.History`.

    Parameters
    ----------
    params : iterable of tensors (or of one param-group dict)
        The parameters, e.g. ``model.parameters()``. One parameter group: the
        transform carries its own hyper-parameters, so groups with other
        settings have no meaning here (build one ``Optimizer`` per group).
    transform : GradientTransformation
        The chain, e.g. ``gradstep.optim.adam(lr=1e-2)`` or
        ``make_optimizer("momentum", lr=0.1, clip_norm=1.0)``.
    history : History, optional
        Record into this history (a new one by default).
    record_params : bool or str, default=False
        Keep the flat parameter vector :math:`\\theta_k` in the history rows
        (and ``history.final_params``), so ``history.path`` is the trajectory;
        ``True`` every step's, ``"thinned"`` a bounded, evenly spaced set
        (:mod:`gradstep.param_rows`); off by default, as a network has many parameters.

    Attributes
    ----------
    transform : GradientTransformation
    history : History
        One row per ``step``: the loss (of the closure, or ``step(loss=...)``;
        nan without either), the global L2 norm of the gradient, the learning
        rate of the update (from the state's :class:`~gradstep.optim.ScaleByLrState`),
        and the parameters before the update if ``record_params``.
    transform_state : NamedTuple or None
        The transform's state (``None`` before the first step); saved by
        :meth:`state_dict`.
    epoch : int
        The epoch written in each history row; :meth:`record_epoch` advances it.

    Notes
    -----
    * The flat layout is the group's parameters in order, each flattened
      row-major, fixed when the optimiser is built. The vector is a tensor on
      the parameters' device (all of them must share one: mixed devices are
      refused), float64 if any parameter is float64, else float32 (half and
      bfloat16 compute in float32); the updated values are cast back to each
      parameter's dtype. The transform's state lives there too.
    * A parameter whose ``.grad`` is ``None`` at a step is skipped, as torch's
      optimisers skip it: its gradient counts as zero for the chain (so it adds
      nothing to the global norm or to clipping), it is not written, and its
      entries of every per-parameter buffer of the state (momentum, moments...)
      keep their values. The chain's counters are global, though: a
      parameter that misses steps is later bias-corrected (Adam) and scheduled
      with the global step count, where torch keeps one count per parameter.
      A parameter that always has a gradient, or never has one, behaves exactly as in torch.
    * Sparse gradients are refused, like ``torch.optim.Adam`` refuses them.
    * Torch's learning-rate schedulers need a ``"lr"`` in the group; there is
      none (the schedule is part of the transform: ``gradstep.optim.schedules``),
      so they fail loudly rather than being ignored.
    """

    def __init__(
        self,
        params: Iterable[Any],
        transform: GradientTransformation,
        history: History | None = None,
        record_params: bool = False,
    ) -> None:
        if not isinstance(transform, GradientTransformation):
            raise TypeError(
                f"transform must be a gradstep GradientTransformation (e.g. gradstep.optim.adam(lr=1e-3)), "
                f"got {type(transform).__name__}"
            )
        super().__init__(params, {})
        if len(self.param_groups) != 1:
            raise ValueError(
                f"gradstep.torch.Optimizer takes one parameter group, got {len(self.param_groups)}: "
                "the transform holds the hyper-parameters, so build one Optimizer per group"
            )
        group = self.param_groups[0]["params"]
        if len({id(p) for p in group}) != len(group):
            raise ValueError("a parameter appears more than once in params")
        if any(not p.is_floating_point() for p in group):
            raise TypeError("gradstep.torch.Optimizer takes real floating-point parameters "
                            f"(got {sorted({str(p.dtype) for p in group if not p.is_floating_point()})})")
        _one_device(group)
        self.transform = transform
        self.record_params = False if record_params is None else record_params   # History checks it
        self.history = history if history is not None else History(
            record_params=self.record_params, meta={"optimizer": "gradstep.torch.Optimizer"}
        )
        self.transform_state: Any = None
        self.epoch = 0
        self._offsets = [0, *itertools.accumulate(p.numel() for p in group)]
        self._dtype = torch.float64 if any(p.dtype == torch.float64 for p in group) else torch.float32
        self._state_device: torch.device | None = None  # where transform_state's tensors are
        self._built = True

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if getattr(self, "_built", False):
            raise ValueError("gradstep.torch.Optimizer has one parameter group, fixed when it is built: "
                             "build a new Optimizer (or another one for the new parameters)")
        super().add_param_group(param_group)

    @property
    def _params(self) -> list[torch.Tensor]:
        return self.param_groups[0]["params"]

    @property
    def n_params(self) -> int:
        """Length of the flat vector: the number of scalar parameters."""
        return int(self._offsets[-1])

    # ------------------------------------------------------------------ flat vectors
    def _flat_params(self) -> torch.Tensor:
        """All parameters in one new tensor of the flat layout (on their device, in the compute dtype)."""
        _one_device(self._params)
        return torch.cat([p.detach().reshape(-1).to(self._dtype) for p in self._params])

    def _flat_grads(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The gradient vector (zeros for ``grad is None``) and the mask of skipped entries (None if none)."""
        parts, skipped = [], []
        device = _one_device(self._params)
        for i, p in enumerate(self._params):
            if p.grad is None:
                parts.append(torch.zeros(p.numel(), dtype=self._dtype, device=device))
                skipped.append(i)
                continue
            if p.grad.is_sparse:
                raise RuntimeError(f"parameter {i} has a sparse gradient; gradstep.torch.Optimizer needs dense ones")
            if p.grad.device != device:
                raise ValueError(f"parameter {i} is on {device} but its gradient on {p.grad.device}")
            parts.append(p.grad.detach().reshape(-1).to(self._dtype))
        g = torch.cat(parts)
        if not skipped:
            return g, None
        mask = torch.zeros(self.n_params, dtype=torch.bool, device=device)
        for i in skipped:
            mask[self._offsets[i]:self._offsets[i + 1]] = True
        return g, mask

    # ------------------------------------------------------------------ the step
    def step(self, closure: Callable[[], Any] | None = None, loss: Any = None) -> Any:
        """One update from the parameters' current ``.grad``; returns the loss.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (torch's convention: it
            zeroes the grads, computes the loss and calls ``backward``). Run
            with gradients enabled; its loss is recorded.
        loss : tensor or float, optional
            The loss of this step's gradient, for the record when there is no closure.
        """
        if closure is not None:
            if loss is not None:
                raise ValueError("give a closure or loss=..., not both")
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            g, skipped = self._flat_grads()
            p = self._flat_params()
            if self.transform_state is None:
                state = self.transform.init(p)
            elif self._state_device != p.device:  # the model was moved since the last step (or the load)
                state = _to(self.transform_state, p.device)
            else:
                state = self.transform_state
            if takes_extra_args(self.transform):
                updates, new_state = self.transform.update(g, state, p, **self._extra_args(closure, loss))
            else:
                updates, new_state = self.transform.update(g, state, p)
            if skipped is not None:
                new_state = _merge_skipped(new_state, state, skipped, self.n_params)
            self.transform_state, self._state_device = new_state, p.device
            new = p + updates
            for q, a, b in zip(self._params, self._offsets, self._offsets[1:]):
                if q.grad is not None:
                    q.copy_(new[a:b].view(q.shape))  # copy_ casts back to q's dtype
        value = math.nan if loss is None else float(loss.detach() if isinstance(loss, torch.Tensor) else loss)
        self.history.record_step(self.epoch, value, global_norm(g), current_lr(new_state),
                                 p if self.record_params else None)
        if self.record_params:  # `new` is this step's own tensor: on the CPU NumPy may share its memory
            self.history.final_params = to_numpy(new)
        return loss

    def _extra_args(self, closure: Callable[[], Any] | None, loss: Any) -> dict[str, Any]:
        """What a transform that takes the loop's extra arguments (a line search, L-BFGS, a schedule fed by
        the loss) gets: the loss, and the model's loss and flat gradient at other parameters, by setting them
        and calling ``closure`` (as ``torch.optim.LBFGS`` does; the model is left at the last point tried,
        then moved to the update's)."""
        if closure is None:
            raise ValueError("this transform evaluates the loss at other points (a line search, L-BFGS): call "
                             "step(closure), the closure zeroing the grads, computing the loss and calling backward")

        def value_and_grad(q: torch.Tensor) -> tuple[float, torch.Tensor]:
            for param, a, b in zip(self._params, self._offsets, self._offsets[1:]):
                param.copy_(q[a:b].view(param.shape))
            with torch.enable_grad():
                at = closure()
            return float(at.detach() if isinstance(at, torch.Tensor) else at), self._flat_grads()[0]

        return {"value": float(loss.detach() if isinstance(loss, torch.Tensor) else loss),
                "value_fn": lambda q: value_and_grad(q)[0], "value_and_grad_fn": value_and_grad}

    def record_epoch(self, loss: float, **extra: float) -> None:
        """Record an end-of-epoch row (e.g. the loss on all the data, ``val_loss=...``) and advance :attr:`epoch`."""
        self.history.record_epoch(self.epoch, float(loss), **{k: float(v) for k, v in extra.items()})
        self.epoch += 1

    # ------------------------------------------------------------------ saving
    def state_dict(self) -> dict[str, Any]:
        """torch's state dict plus ``"gradstep"``: the transform state and the epoch counter.

        The transform state is stored as a list of tensors and numbers (its
        leaves), so ``torch.save`` / ``torch.load`` (``weights_only=True``) work.
        """
        out = super().state_dict()
        leaves = None if self.transform_state is None else _leaves(self.transform_state)
        out["gradstep"] = {"transform_state": leaves, "epoch": self.epoch}
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a :meth:`state_dict`. The transform is not saved: build this optimiser with the same one."""
        state_dict = dict(state_dict)
        extra = state_dict.pop("gradstep", None)
        super().load_state_dict(state_dict)
        if extra is not None:
            leaves = extra["transform_state"]
            if leaves is None:
                self.transform_state = None
            else:
                it = iter(leaves)
                p = self._flat_params()
                state = _rebuild(self.transform.init(p), it)  # on the parameters' device and dtype
                if next(it, None) is not None:
                    raise ValueError("the saved state does not fit this transform (it was saved with another one)")
                self.transform_state, self._state_device = state, p.device
            self.epoch = int(extra["epoch"])
