r"""What the register of named optimisers holds: one :class:`Entry` per name.

An entry says everything the toolkit knows about a named optimiser besides its maths: the factory
that builds its chain (whose signature gives its hyper-parameters and their defaults), the
``torch.optim`` class with the same iterates and the settings the name fixes in that class's terms,
whether an L1 term makes its step proximal, and how the compiled epochs
(:mod:`gradstep.kernels.loops`) make its step (:class:`CompiledStep`). The entries themselves are
:data:`gradstep.optim.alias.REGISTRY`, next to the factories; adding an optimiser is writing its
factory and adding its entry there.

Examples
--------
>>> from gradstep.optim import REGISTRY
>>> entry = REGISTRY["nesterov"]
>>> entry.torch, entry.settings({"momentum": 0.7})
('SGD', {'momentum': 0.7, 'weight_decay': 0.0, 'nesterov': True})
>>> entry.compiled_step({}).trace, REGISTRY["fista"].compiled_step({}) is None
(True, True)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from .base import GradientTransformation

Scaling = Literal["plain", "adagrad", "rmsprop", "adam"]


@dataclass(frozen=True)
class CompiledStep:
    r"""An optimiser's step as the compiled epochs make it, in this order: weight decay
    :math:`g \leftarrow g + \lambda\theta`, the ``scaling`` (none, AdaGrad's, RMSProp's plain or
    ``centered``, Adam's with ``betas`` and ``amsgrad``; each divides by a root plus ``eps``), then with
    ``trace`` a momentum buffer :math:`b_t = \mu b_{t-1} + (1-\tau) g_t` (``momentum`` :math:`\mu`,
    ``dampening`` :math:`\tau`, ``nesterov``), and :math:`-\eta_t` times the result, with
    :math:`\eta_t` the schedule's, divided by :math:`1 + t\cdot` ``lr_decay`` (AdaGrad's decay).
    """

    scaling: Scaling = "plain"
    weight_decay: float = 0.0
    trace: bool = False
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    eps: float = 0.0
    alpha: float = 0.0
    centered: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    amsgrad: bool = False
    lr_decay: float = 0.0


@dataclass(frozen=True)
class Entry:
    """One named optimiser.

    Attributes
    ----------
    factory : callable
        Builds the chain: ``factory(lr=..., **hyper_parameters)``.
    torch : str or None
        The ``torch.optim`` class whose iterates the chain reproduces (None: it has none).
    fixed : mapping
        Settings of that class the name fixes, in its terms (``nesterov`` is ``SGD`` with
        ``nesterov=True``); the compiled step reads them too.
    proximal : bool
        With an L1 term the step is a proximal one (:func:`~gradstep.optim.proximal.l1_step`):
        its step is ``-lr`` times a gradient or a momentum buffer.
    compiled : callable or None
        ``compiled(settings) -> CompiledStep`` from :meth:`settings`; None: the compiled epochs
        do not make this step (the plain loop runs it).
    """

    factory: Callable[..., GradientTransformation]
    torch: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)
    proximal: bool = False
    compiled: Callable[[Mapping[str, Any]], CompiledStep] | None = None

    @cached_property
    def defaults(self) -> dict[str, Any]:
        """The hyper-parameters besides ``lr`` and their defaults, in the factory's order (its signature)."""
        return {p.name: p.default for p in inspect.signature(self.factory).parameters.values() if p.name != "lr"}

    @cached_property
    def default_lr(self) -> Any:
        """The learning rate the factory takes when given none (torch's default)."""
        return inspect.signature(self.factory).parameters["lr"].default

    @cached_property
    def takes_schedule(self) -> bool:
        """Whether ``lr`` may be a schedule: a factory whose ``lr`` is annotated a plain number (Rprop's
        first step, L-BFGS's step) takes only a number."""
        hint = inspect.signature(self.factory).parameters["lr"].annotation
        return (hint.__name__ if isinstance(hint, type) else str(hint)) not in ("float", "int")

    def settings(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every hyper-parameter but ``lr``: the defaults, ``params`` over them, and the :attr:`fixed` ones;
        the keyword arguments of ``torch.optim.<torch>`` besides ``lr``."""
        return {**self.defaults, **(params or {}), **self.fixed}

    def compiled_step(self, params: Mapping[str, Any] | None = None) -> CompiledStep | None:
        """The :class:`CompiledStep` of ``factory(**params)`` (None when the compiled epochs do not make it)."""
        return None if self.compiled is None else self.compiled(self.settings(params))
