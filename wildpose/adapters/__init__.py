"""Adapters: one module per third-party library whose private or version-fragile API we use.

Each module states the upstream versions it is tested with (also the upper bounds in
``pyproject.toml``); ``tests/adapters`` fails with a clear message when an upstream shape used
here changes. The rest of wildpose calls these modules, never those internals. Submodules are
imported on use (``import wildpose.adapters.ultralytics``): each pulls in its library lazily.
"""

from __future__ import annotations

__all__: list[str] = []
