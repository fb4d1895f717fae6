"""The ``wildpose`` command line: one click module per command group, assembled in ``main``."""

from __future__ import annotations

from .main import cli, main

__all__ = ["cli", "main"]
