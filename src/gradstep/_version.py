"""The package's version, in a module of its own so that submodules can read it without importing
the package ``gradstep`` (whose ``__init__`` names them)."""

__version__ = "0.1.0"
