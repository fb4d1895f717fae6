"""wildpose: tracked animal poses from wildlife footage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import xarray

__version__ = "0.1.0"


def load_tracks(path: str | Path, smoothed: bool = True) -> xarray.Dataset:
    """A track table (``foo.tracks.parquet`` or ``.csv``) as a movement poses dataset.

    Dimensions (time, space, keypoints, individuals) in movement's order; ``position`` is the
    smoothed estimate unless ``smoothed=False`` (or the table was written with smoothing off);
    see :func:`wildpose.interop.movement_io.load_tracks`. Needs the ``interop`` extra
    (movement); imported on first use so ``import wildpose`` stays light.
    """
    from wildpose.interop.movement_io import load_tracks as _load_tracks

    return _load_tracks(path, smoothed=smoothed)
