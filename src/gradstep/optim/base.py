"""The transform interface: an optimiser is a pair of pure functions.

A :class:`GradientTransformation` turns the gradient ``g`` of a loss into an
update ``u`` that is *added* to the parameters::

    state = transform.init(params)
    updates, state = transform.update(grads, state, params)
    params = params + updates

``init`` and ``update`` never modify their arguments; the state is an immutable
``NamedTuple`` of arrays and counters, so a run can be saved, resumed or
inspected at any step. This is optax's ``GradientTransformation`` written for
one array of parameters (the maths is element-wise, so any array shape works)
of any array-API library: NumPy arrays or torch tensors, whose type, dtype and
device the updates and states keep (see :mod:`gradstep.backend`).

Examples
--------
>>> import numpy as np
>>> from gradstep.optim import chain, clip_by_norm, sgd
>>> opt = chain(clip_by_norm(1.0), sgd(lr=0.1))
>>> state = opt.init(np.zeros(2))
>>> updates, state = opt.update(np.array([3.0, 4.0]), state, np.zeros(2))
>>> updates
array([-0.06, -0.08])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from ..backend import Array, as_float, namespace

OptState = Any
"""An optimiser state: a NamedTuple of its transform's own type (each transform's ``update`` takes only its
own, so the protocols below take any)."""


class InitFn(Protocol):
    def __call__(self, params: Array) -> OptState: ...


class UpdateFn(Protocol):
    def __call__(self, grads: Array, state: OptState, params: Array | None = None) -> tuple[Array, OptState]: ...


class UpdateFnExtraArgs(Protocol):
    def __call__(self, grads: Array, state: OptState, params: Array | None = None,
                 **extra_args: Any) -> tuple[Array, OptState]: ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)``.

    Attributes
    ----------
    init : callable
        ``init(params) -> state``.
    update : callable
        ``update(grads, state, params) -> (updates, new_state)``.
    """

    init: InitFn
    update: UpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A transform whose ``update`` also takes what only the loop knows, as keywords (optax's convention of
    the same name): ``update(grads, state, params, *, value, value_fn, value_and_grad_fn)``.

    ``value`` is the objective at ``params`` on the batch of ``grads``; ``value_fn(p)`` and
    ``value_and_grad_fn(p)`` evaluate it, on the same batch, at other points (a line search, L-BFGS,
    a schedule fed by the loss). :func:`gradstep.loop.run` passes them to a transform of this type (and
    :func:`chain` to the members of this type); a plain transform is called without them.
    """


def takes_extra_args(transform: GradientTransformation) -> bool:
    """Whether ``update`` takes the keywords of :class:`GradientTransformationExtraArgs`."""
    return isinstance(transform, GradientTransformationExtraArgs)


class EmptyState(NamedTuple):
    """The state of a stateless transform."""


def stateless(fn: Callable[[Array, Array | None], Array]) -> GradientTransformation:
    """Build a transform with no state from ``fn(grads, params) -> updates``."""

    def init(params: Array) -> EmptyState:
        return EmptyState()

    def update(grads: Array, state: EmptyState, params: Array | None = None) -> tuple[Array, EmptyState]:
        return fn(grads, params), state

    return GradientTransformation(init, update)


class ChainState(NamedTuple):
    """The states of the transforms of a :func:`chain`, in order."""

    states: tuple


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transforms one after the other: the updates of one are the grads of the next.

    Parameters
    ----------
    *transforms : GradientTransformation
        Applied left to right, e.g. ``chain(clip_by_norm(1.0), scale_by_adam(), scale_by_lr(1e-3))``.

    Returns
    -------
    GradientTransformation
        Its state is a :class:`ChainState` holding each transform's state.

    Examples
    --------
    >>> import numpy as np
    >>> from gradstep.optim import chain, clip_by_value, sgd
    >>> opt = chain(clip_by_value(1.0), sgd(lr=0.5))
    >>> opt.update(np.array([4.0, -0.5]), opt.init(np.zeros(2)), np.zeros(2))[0]
    array([-0.5 ,  0.25])
    """
    for i, t in enumerate(transforms):
        if not isinstance(t, GradientTransformation):
            raise TypeError(
                f"chain: argument {i} is {type(t).__name__}, not a GradientTransformation; "
                "build one with gradstep.optim (e.g. sgd(lr=0.1), clip_by_norm(1.0))"
            )

    extra = [takes_extra_args(t) for t in transforms]

    def init(params: Array) -> ChainState:
        return ChainState(tuple(t.init(params) for t in transforms))

    def update(grads: Array, state: ChainState, params: Array | None = None,
               **extra_args: Any) -> tuple[Array, ChainState]:
        new_states = []
        for t, s, wants in zip(transforms, state.states, extra):
            grads, s = t.update(grads, s, params, **extra_args) if wants else t.update(grads, s, params)
            new_states.append(s)
        return grads, ChainState(tuple(new_states))

    return GradientTransformationExtraArgs(init, update) if any(extra) else GradientTransformation(init, update)


def find_states(state: Any, cls: type) -> list:
    """All sub-states of type ``cls`` inside ``state`` (which may be a :class:`ChainState`, or the state
    of a wrapper transform, whose ``inner`` field holds the wrapped one), in order."""
    if isinstance(state, cls):
        return [state]
    if isinstance(state, ChainState):
        return [s for sub in state.states for s in find_states(sub, cls)]
    inner = getattr(state, "inner", None)
    return find_states(inner, cls) if isinstance(inner, tuple) else []


def apply_updates(params: Array, updates: Array) -> Array:
    """Return ``params + updates`` (a new array; ``params`` is not modified)."""
    return params + updates


def global_norm(x: Array) -> float:
    """The L2 norm of all entries of ``x``, ``sqrt(sum(x**2))``, as a Python float."""
    xp = namespace(x)
    return as_float(xp.sqrt(xp.sum(xp.square(x))))
