r"""An estimator's checkpoints: what identifies its data, saving it with the loop's snapshot, and resuming.

A checkpoint (:mod:`gradstep.checkpoint`) holds the estimator as its run began, the loop's
:class:`~gradstep.loop.Snapshot` and a description of the data; :func:`restore` takes them back
only for the same settings and the same data, so a resumed run ends where the uninterrupted
one would have. Rows in memory are described by :func:`fingerprint`, streamed rows by their
source and shuffle buffer (:meth:`~gradstep.models.base.GradientDescentModel.fit_stream`).

Examples
--------
>>> import numpy as np
>>> fingerprint(np.zeros((2, 3)), None).split(";")[0]
'rows in memory (2x3, -'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .. import backend
from .. import checkpoint as checkpoints
from ..loop import Checkpointing, Snapshot
from .settings import plain_values

FINGERPRINT_PIECE = 1 << 24
"""Bytes hashed per piece by :func:`fingerprint` (the pieces' digests are hashed in turn)."""


def fingerprint(*arrays: Any) -> str:
    """What identifies in-memory training data (and a given start) in a checkpoint: shapes, dtypes and a
    SHA-256 hash tree of the bytes (pieces of :data:`FINGERPRINT_PIECE` bytes hashed on every core, read in
    place: one pass over the data, far cheaper than the fit)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    h, parts = hashlib.sha256(), []
    with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:  # hashlib lets go of the GIL on large buffers
        for a in arrays:
            if a is None:
                parts.append("-")
                continue
            arr = np.ascontiguousarray(backend.to_numpy(a) if not isinstance(a, (int, float)) else np.asarray(a))
            h.update(str((arr.shape, arr.dtype.str)).encode())
            data = arr.data.cast("B")   # no copy of the data (tobytes would make one)
            pieces = [data[i:i + FINGERPRINT_PIECE] for i in range(0, len(data), FINGERPRINT_PIECE)]
            for digest in pool.map(lambda piece: hashlib.sha256(piece).digest(), pieces):
                h.update(digest)
            parts.append("x".join(map(str, arr.shape)) or "scalar")
    return f"rows in memory ({', '.join(parts)}; digest {h.hexdigest()})"


def checkpointing(model: BaseEstimator, ck: checkpoints.CheckpointFile | None,
                  description: Callable[[], str] | str) -> Checkpointing | None:
    """The loop's checkpointing for ``ck``: ``model``, the loop's snapshot and what the data are
    (``description``, or what it returns, asked only when saving), saved to ``ck.path`` every
    ``ck.every`` updates; :func:`restore` reads them back."""
    if ck is None:
        return None
    path = ck.path

    def save(snapshot: Snapshot) -> None:
        described = description() if callable(description) else description
        checkpoints.save(path, {"model": model, "snapshot": snapshot, "data": described})

    return Checkpointing(save, ck.every)


def restore(model: BaseEstimator, path: str | os.PathLike, description: str) -> Snapshot:
    """``model`` given the fitted state saved in the checkpoint ``path`` (after checking it is this run's:
    the same type, settings and data ``description``); the loop's snapshot to resume from."""
    saved = checkpoints.load(path)
    theirs_model = saved["model"]
    if type(theirs_model) is not type(model):
        raise ValueError(f"{path}: the checkpoint is of a {type(theirs_model).__name__}, not a {type(model).__name__}")
    mine, theirs = plain_values(model.get_params()), plain_values(theirs_model.get_params())
    differ = [f"{k}={theirs.get(k)!r} there, {mine[k]!r} here" for k in mine if mine[k] != theirs.get(k)]
    if differ:
        raise ValueError(f"{path}: the checkpoint was made with other settings ({'; '.join(differ)}); "
                         f"use the same settings to resume, or delete the checkpoint to start afresh")
    if saved["data"] != description:
        raise ValueError(f"{path}: the checkpoint was made on {saved['data']}, not {description}; resume on "
                         f"the same data, or delete the checkpoint to start afresh")
    model.__dict__.update(theirs_model.__dict__)
    snapshot: Snapshot = saved["snapshot"]
    return snapshot


__all__ = ["FINGERPRINT_PIECE", "checkpointing", "fingerprint", "restore"]
