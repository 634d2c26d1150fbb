"""The environment switches ``GRADSTEP_*`` that turn a behaviour on or off: one way to read them.

=====================  =======  ====================================================================
variable               default  what it switches
=====================  =======  ====================================================================
``GRADSTEP_FUSED``     on       the fused single-pass gradients (:mod:`gradstep.kernels.fused`), read at import
``GRADSTEP_COMPILED``  on       the compiled epochs (:mod:`gradstep.kernels.loops`), read at each fit
``GRADSTEP_QUIET``     off      silence: no notice while Numba compiles (:mod:`gradstep.kernels._compiling`)
``GRADSTEP_NO_CACHE``  off      no on-disk cache of derived gradients (:mod:`gradstep.cache`)
=====================  =======  ====================================================================

A switch that is unset, or set to an empty string, keeps its default; ``0``, ``false``, ``no`` and
``off`` (in any case, spaces around ignored) turn it off; any other value turns it on.

Examples
--------
>>> import os
>>> os.environ["GRADSTEP_EXAMPLE"] = " Off "
>>> enabled("GRADSTEP_EXAMPLE"), enabled("GRADSTEP_UNSET_EXAMPLE"), enabled("GRADSTEP_UNSET_EXAMPLE", default=False)
(False, True, False)
>>> del os.environ["GRADSTEP_EXAMPLE"]
"""

from __future__ import annotations

import os

OFF = frozenset({"0", "false", "no", "off"})
"""The values that turn a switch off (compared in lower case, without surrounding spaces)."""


def enabled(name: str, default: bool = True) -> bool:
    """Whether the switch ``name`` is on now: ``default`` when it is unset or empty, else ``False`` for a
    value in :data:`OFF` and ``True`` for any other."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in OFF
