"""Versions of wildpose and the libraries it runs on (for `wildpose info` and run.json)."""

from __future__ import annotations

import importlib.metadata as md
import platform

from . import __version__

DISTRIBUTIONS = (
    "torch",
    "open_clip_torch",
    "timm",
    "ultralytics",
    "supervision",
    "trackers",
    "av",
    "decord",
    "numpy",
    "pandas",
    "pyarrow",
    "filterpy",
)


def versions() -> dict[str, str]:
    out = {"wildpose": __version__, "python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out
