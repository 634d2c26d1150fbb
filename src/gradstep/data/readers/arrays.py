"""NumPy files: a ``.npy`` array or the arrays of a ``.npz`` archive as an :class:`_ArraySource`; headers
are read first, without loading or unpickling anything, and arrays of Python objects are refused."""

from __future__ import annotations

import ast
import math
import re
import struct
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..memory import describe
from .common import DataError, _brief, _Column, _column_from_text, _err, _first, _Located, _names, _show, _Source

_MAX_NPY_HEADER = 1 << 20


def _column_from_array(name: str, a: np.ndarray) -> _Column:
    """A 1-D NumPy column: numbers (bool, int, float), text (parsed like CSV cells), or refused."""
    kind = a.dtype.kind
    if kind in "biuf" and a.dtype.names is None:
        with np.errstate(all="ignore"):
            values = a.astype(np.float64)
        missing = np.isnan(values)
        inf = np.isinf(values)
        nonfinite = _first(inf)
        overflow = bool(nonfinite is not None and kind == "f" and np.isfinite(a[nonfinite]))
        return _Column(name, values, missing, cells=a, nonfinite=nonfinite, overflow=overflow, labels=a,
                       n_numbers=int(a.size - missing.sum()))
    if kind in "US":
        cells = [c.decode("utf-8", "replace") if isinstance(c, bytes) else c for c in a.tolist()]
        col = _column_from_text(name, cells, typed_labels=True)
        col.labels = a
        return col
    values = np.full(a.shape[0], np.nan)
    return _Column(name, values, np.zeros(a.shape[0], dtype=bool), cells=a, invalid=0 if a.size else None,
                   type_name=f"dtype {a.dtype}")


def _npy_header(fp: Any) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and header length of a ``.npy`` stream, read without loading (or unpickling) anything."""
    magic = fp.read(8)
    if len(magic) < 8 or not magic.startswith(b"\x93NUMPY"):
        raise ValueError("it does not start with the .npy magic bytes")
    major = magic[6]
    if major == 1:
        (hlen,), used = struct.unpack("<H", fp.read(2)), 10
    elif major in (2, 3):
        raw = fp.read(4)
        if len(raw) < 4:
            raise ValueError("the header is cut off")
        (hlen,), used = struct.unpack("<I", raw), 12
    else:
        raise ValueError(f"unknown .npy format version {major}")
    if hlen > _MAX_NPY_HEADER:
        raise ValueError(f"the header claims {hlen} bytes")
    raw = fp.read(hlen)
    if len(raw) < hlen:
        raise ValueError("the header is cut off")
    header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
    if not isinstance(header, dict) or not {"descr", "shape", "fortran_order"} <= set(header):
        raise ValueError("the header is not a .npy header")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ValueError(f"bad shape {shape!r}")
    dtype = np.lib.format.descr_to_dtype(header["descr"])
    return shape, dtype, used + hlen


_BUDGET_HINT = "raise memory_budget to allow more, or convert the data to Parquet and stream it"


def _check_budget(path: Path, sizes: dict[str, tuple[tuple[int, ...], np.dtype]], budget: int | None,
                  compressed: bool) -> None:
    """Refuse arrays whose expanded size (shape x itemsize, from their headers) passes ``budget`` bytes.

    >>> _check_budget(Path("a.npz"), {"X": ((1000, 20), np.dtype("f8"))}, 1024, True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gradstep.data.readers.DataError: a.npz: the array 'X' (shape (1000, 20), float64) expands to 160 kB in memory, more than the memory budget of 1.02 kB; raise memory_budget to allow more, or convert the data to Parquet and stream it
    """  # noqa: E501 (doctest output: a message is one line)
    if budget is None:
        return
    verb = "expands to" if compressed else "takes"
    total = 0
    for key, (shape, dtype) in sizes.items():
        size = math.prod(shape) * dtype.itemsize
        total += size
        if size > budget:
            what = f"the array {_show(key)}" if key else "the array"
            raise _err(path, f"{what} (shape {shape}, {dtype}) {verb} {describe(size)} in memory, "
                       f"more than the memory budget of {describe(budget)}", _BUDGET_HINT)
    if total > budget:
        raise _err(path, f"the arrays {_names(list(sizes))} together {'expand to' if compressed else 'take'} "
                   f"{describe(total)} in memory, more than the memory budget of {describe(budget)}", _BUDGET_HINT)


def _refuse_objects(path: Path, dtype: np.dtype, what: str) -> None:
    if dtype.hasobject:
        raise _err(path, f"{what} holds Python objects (dtype object), which are refused because loading them "
                   "would run pickle", "save arrays of numbers instead (e.g. X.astype(float))")


class _ArraySource(_Source):
    """Named 1-D arrays of equal length: the columns of a .npy, or the arrays of a .npz (loaded when needed)."""

    def __init__(self, path: Path, dtypes: dict[str, np.dtype], n_rows: int,
                 get: Callable[[Sequence[str]], dict[str, np.ndarray]], numbered: bool,
                 fixed_target: str | None = None) -> None:
        super().__init__(path)
        self.dtypes = dtypes
        self.names = list(dtypes)
        self.n_rows = n_rows
        self.get = get
        self.numbered = numbered
        self.where = _Located(path, numbered=numbered)
        self.default_target = self.fixed_target = fixed_target

    def resolve(self, name: str, role: str) -> str | None:
        if self.fixed_target is not None and role == "target":
            return name if name == self.fixed_target else None
        if name in self.names:
            return name
        if self.numbered and self.names:
            if name.lower() == "last":
                return self.names[-1]
            if re.fullmatch(r"-\d+", name) and 1 <= -int(name) <= len(self.names):
                return self.names[int(name)]
        return None

    def skip_reason(self, name: str) -> str | None:
        dtype = self.dtypes[name]
        return None if dtype.kind in "biuf" and dtype.names is None else f"dtype {dtype}"

    def columns(self, names: Sequence[str]) -> dict[str, _Column]:
        return {name: _column_from_array(name, np.asarray(a)) for name, a in self.get(names).items()}


def _load_npy(path: Path, budget: int | None = None) -> _ArraySource:
    def fail(err: BaseException) -> DataError:
        return _err(path, f"cannot be read as a NumPy .npy file ({_brief(err)})",
                    "save the array with numpy.save, or check that the file is complete")

    try:
        with open(path, "rb") as fp:
            shape, dtype, offset = _npy_header(fp)
        size = path.stat().st_size
    except Exception as err:
        raise fail(err) from None
    _refuse_objects(path, dtype, "the array")
    if math.prod(shape) * dtype.itemsize > size - offset:
        raise _err(path, f"is truncated: its header promises an array of shape {shape} ({dtype}) but the file is "
                   f"only {size} bytes", "save the array again with numpy.save")
    fields = dtype.names if len(shape) == 1 else None   # a structured array: a column per field
    if fields is None and len(shape) != 2:
        raise _err(path, f"holds a {len(shape)}-D array of shape {shape}, but a table must be 2-D (rows x columns)",
                   "save a 2-D array with one column per variable, e.g. np.save(path, np.column_stack([x1, x2, y]))")
    _check_budget(path, {"": (shape, dtype)}, budget, compressed=False)
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as err:
        raise fail(err) from None
    if fields is not None:
        arrays = {str(f): a[f] for f in fields}
        dtypes = {k: (v.dtype if v.ndim == 1 else np.dtype(object)) for k, v in arrays.items()}
        return _ArraySource(path, dtypes, shape[0], lambda names: {k: arrays[k] for k in names}, numbered=False)
    arrays = {str(j): a[:, j] for j in range(shape[1])}
    return _ArraySource(path, {k: a.dtype for k in arrays}, shape[0], lambda names: {k: arrays[k] for k in names},
                        numbered=True)


_Headers = dict[str, tuple[tuple[int, ...], np.dtype]]
_SAVE_HINT = "save it as np.savez(path, X=X, y=y) (X 2-D, y 1-D), or as one 1-D array per column"


def _npz_failure(path: Path, err: BaseException) -> DataError:
    return _err(path, f"cannot be read as a NumPy .npz archive ({_brief(err)})",
                "save it with numpy.savez, or check that the file is complete")


def _npz_headers(path: Path) -> _Headers:
    """Shape and dtype of every array of the archive, from the ``.npy`` headers of its members
    (nothing past a header is decompressed; arrays of Python objects are refused)."""
    headers: _Headers = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                with zf.open(info) as fp:
                    shape, dtype, offset = _npy_header(fp)
                _refuse_objects(path, dtype, f"the array {_show(key)}")
                if math.prod(shape) * dtype.itemsize > info.file_size - offset:
                    raise ValueError(f"the array {key!r} is truncated")
                headers[key] = (shape, dtype)
    except DataError:
        raise
    except Exception as err:
        raise _npz_failure(path, err) from None
    if not headers:
        raise _err(path, "holds no arrays", _SAVE_HINT)
    return headers


def _load_npz(path: Path, budget: int | None = None) -> _ArraySource:
    """The arrays of an ``.npz`` archive: ``X`` and ``y``, or one 1-D array per column; refused from its
    headers when they would expand past ``budget`` bytes."""
    headers = _npz_headers(path)
    _check_budget(path, headers, budget, compressed=True)

    def load(keys: Sequence[str]) -> dict[str, np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in keys}
        except Exception as err:
            raise _npz_failure(path, err) from None

    if "X" in headers and len(headers["X"][0]) == 2:
        return _npz_x_and_y(path, headers, load)
    return _npz_columns(path, headers, load)


def _npz_feature_names(headers: _Headers, load: Callable[[Sequence[str]], dict[str, np.ndarray]],
                       d: int) -> list[str] | None:
    """The names in a 1-D string array ``feature_names``, if it names the ``d`` columns of X well."""
    if "feature_names" not in headers:
        return None
    fn = load(["feature_names"])["feature_names"]
    if fn.ndim == 1 and len(fn) == d and fn.dtype.kind in "US":
        given = [(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip() for v in fn.tolist()]
        if all(given) and len(set(given)) == d and "y" not in given:
            return given
    return None


def _npz_x_and_y(path: Path, headers: _Headers,
                 load: Callable[[Sequence[str]], dict[str, np.ndarray]]) -> _ArraySource:
    if "y" not in headers:
        raise _err(path, f"holds a 2-D array 'X' but no array 'y' (its arrays are {_names(list(headers))})",
                   _SAVE_HINT)
    (n, d), y_shape = headers["X"][0], headers["y"][0]
    if not (len(y_shape) == 1 or (len(y_shape) == 2 and y_shape[1] == 1)):
        raise _err(path, f"'y' has shape {y_shape}, but the target must be 1-D", _SAVE_HINT)
    if y_shape[0] != n:
        raise _err(path, f"'X' has {n} rows but 'y' has {y_shape[0]}", "save X and y with one row per sample")
    given = _npz_feature_names(headers, load, d)
    names = given or [str(j) for j in range(d)]
    dtypes = {name: headers["X"][1] for name in names}
    dtypes["y"] = headers["y"][1]
    loaded: dict[str, np.ndarray] = {}

    def get(keys: Sequence[str]) -> dict[str, np.ndarray]:
        if not loaded:
            arrays = load(["X", "y"])
            loaded.update({name: arrays["X"][:, j] for j, name in enumerate(names)})
            loaded["y"] = arrays["y"].reshape(-1)
        return {k: loaded[k] for k in keys}

    return _ArraySource(path, dtypes, n, get, numbered=given is None, fixed_target="y")


def _npz_columns(path: Path, headers: _Headers,
                 load: Callable[[Sequence[str]], dict[str, np.ndarray]]) -> _ArraySource:
    for key, (shape, _) in headers.items():
        if len(shape) != 1:
            raise _err(path, f"the array {_show(key)} has shape {shape}, but without a 2-D 'X' every array must be "
                       "1-D (one column)", _SAVE_HINT)
    first = next(iter(headers))
    n = headers[first][0][0]
    for key, (shape, _) in headers.items():
        if shape[0] != n:
            raise _err(path, f"the array {_show(key)} has {shape[0]} rows but {_show(first)} has {n}",
                       "save columns of the same length")
    return _ArraySource(path, {k: v[1] for k, v in headers.items()}, n, load, numbered=False)
