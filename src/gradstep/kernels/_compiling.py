"""A one-line notice on stderr when a Numba kernel is about to be compiled rather than loaded from its cache.

The compiled loops and the fused gradients are compiled on their first use after an install (or after
the source or Numba changed): 15-20 s in which a fit would otherwise print nothing. Later processes
load them from Numba's disk cache in well under a second and print nothing. Whether a call compiles
is read from the dispatcher before the call: the signature of its arguments is compiled in this
process, or found in the cache's index (Numba's own key: the signature, the CPU and the function's
bytecode). Anything unexpected there (another Numba's internals) means no notice, never an error.

``GRADSTEP_QUIET=1`` in the environment (:mod:`gradstep.switches`), or :data:`ENABLED` ``= False``, turn the
notice off.
"""

from __future__ import annotations

import sys
from typing import Any

from .. import switches

ENABLED: bool = True
"""Whether the notice may be printed (``GRADSTEP_QUIET=1`` also turns it off)."""


def will_compile(dispatcher: Any, args: tuple) -> bool:
    """True when calling ``dispatcher(*args)`` compiles: its signature is neither compiled in this process
    nor in Numba's disk cache. False when it is, and when that cannot be told."""
    try:
        sig = tuple(dispatcher.typeof_pyval(a) for a in args)
        if sig in dispatcher.overloads:
            return False
        cache = dispatcher._cache
        index = cache._cache_file._load_index()
        return cache._index_key(sig, dispatcher.targetctx.codegen()) not in index
    except Exception:  # noqa: BLE001 - internals of another Numba version: say nothing
        return False


def notice(what: str, seconds: float) -> None:
    """Print ``gradstep: compiling WHAT (first run only; about N s)…`` on stderr, unless turned off."""
    if not ENABLED or switches.enabled("GRADSTEP_QUIET", default=False):
        return
    try:
        print(f"gradstep: compiling {what} with Numba (first run only; about {seconds:.0f} s, then cached)…",
              file=sys.stderr, flush=True)
    except (OSError, ValueError):  # a closed or broken stderr: the fit goes on
        pass


def announce(dispatcher: Any, args: tuple, what: str, seconds: float) -> bool:
    """:func:`notice` when ``dispatcher(*args)`` is about to compile; returns whether it will."""
    compiles = will_compile(dispatcher, args)
    if compiles:
        notice(what, seconds)
    return compiles
