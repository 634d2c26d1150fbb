"""Fast paths that must give the plain path's results: fused single-pass gradients (:mod:`.fused`), compiled loops.

Importing this package imports no compiler: each module loads Numba on first use.
"""
