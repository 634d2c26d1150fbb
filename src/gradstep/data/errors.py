"""The error of bad input data, :class:`DataError`, in a module of its own: the readers raise it and
the bundled datasets (an unknown name) raise it too, without either importing the other.

Its public home is :mod:`gradstep.data.readers`, where tracebacks and pickles name it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """Bad input data; the one-line message names the file, line or row and column, and says what to do.

    Attributes
    ----------
    path : pathlib.Path or None
        The file.
    line : int or None
        1-based line of a text file (the header is line 1), where one applies.
    row : int or None
        1-based data row (the first row under the header is row 1), where one applies.
    column : str or None
        The column's name, where one applies.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, line: int | None = None,
                 row: int | None = None, column: str | None = None) -> None:
        super().__init__(" ".join(str(message).splitlines()))
        self.path = None if path is None else Path(path)
        self.line = line
        self.row = row
        self.column = column

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0],), self.__dict__)


DataError.__module__ = "gradstep.data.readers"  # its public home: tracebacks and pickles name it there
