"""Track tables to and from the researchers' tools: movement, DeepLabCut, SLEAP, NWB, netCDF.

:mod:`~wildpose.interop.tables` reads a track table and its metadata into arrays (pyarrow only);
:mod:`~wildpose.interop.movement_io` builds movement datasets and
:mod:`~wildpose.interop.export` writes the other formats. The last two need the ``interop``
extra (``pip install "wildpose[interop]"``) and are imported on use.
"""

from __future__ import annotations

from wildpose.interop.tables import TrackArrays, describe_tracks, read_metadata, read_tracks

__all__ = ["TrackArrays", "describe_tracks", "read_metadata", "read_tracks"]
