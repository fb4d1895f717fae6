"""``wildpose export``: a written track table to DeepLabCut, SLEAP, NWB or netCDF.

Every format is written by its maintained library: movement's ``save_poses.to_dlc_file``
(DeepLabCut ``.h5``, one multi-animal file), sleap-io (``.slp``), pynwb with ndx-pose
(``.nwb``, :mod:`wildpose.interop.nwb`) and xarray's ``to_netcdf`` of the movement dataset
(``.nc``). For ``foo.tracks.parquet`` (or ``.csv``) the outputs are ``foo.dlc.h5``,
``foo.predictions.slp``, ``foo.nwb`` and ``foo.tracks.nc``; each is written under a temporary
name that keeps the extension the library needs (:func:`atomic_output`) and renamed when whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from wildpose.atomic import atomic_path
from wildpose.config.base import validate as validate_config
from wildpose.config.export import ExportSettings
from wildpose.errors import ConfigError, InputError
from wildpose.interop.tables import TrackArrays, read_tracks, table_stem

__all__ = [
    "EXPORT_FORMATS",
    "ExportFormat",
    "atomic_output",
    "export_after_track",
    "export_path",
    "export_tracks",
]

log = logging.getLogger(__name__)

ExportFormat = Literal["dlc", "sleap", "nwb", "netcdf"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
TABLE_FORMATS = ("parquet", "csv")  # written by the track table writer, not here
_SUFFIXES = {"dlc": ".dlc.h5", "sleap": ".predictions.slp", "nwb": ".nwb", "netcdf": ".tracks.nc"}


def export_path(table_path: str | Path, fmt: str, out_dir: str | Path | None = None) -> Path:
    """Where ``fmt`` of ``table_path`` goes: ``OUT/STEM<suffix>`` (default: the table's folder)."""
    folder = Path(out_dir) if out_dir is not None else Path(table_path).parent
    return folder / f"{table_stem(table_path)}{_SUFFIXES[fmt]}"


def atomic_output(final: str | Path):  # noqa: ANN201 - a context manager
    """:func:`wildpose.atomic.atomic_path` for libraries that check the extension: the
    temporary name ends with the final one's (``DIR/.NAME.<pid>-<hex>.partial<ext>``)."""
    return atomic_path(final, keep_suffix=True)


def export_tracks(
    path: str | Path,
    to: str,
    out: str | Path | None = None,
    settings: ExportSettings | None = None,
) -> Path:
    """Export the track table ``path`` as ``to`` (dlc, sleap, nwb or netcdf) into the folder
    ``out`` (default: beside the table); returns the file written."""
    fmt = _check_format(to)
    final = export_path(path, fmt, out)
    _write(read_tracks(path), fmt, final, settings or ExportSettings())
    return final


def export_after_track(
    table_path: str | Path,
    formats: Iterable[str],
    out_dir: str | Path | None = None,
    metadata_overrides: ExportSettings | Mapping[str, Any] | None = None,
) -> list[Path]:
    """The ``--format`` names other than parquet/csv, exported from a table just written.

    ``metadata_overrides`` is :class:`ExportSettings` or its data (``{"nwb": {"subject":
    {"species": ...}}}``, validated here). A table without rows (no animal found) exports
    nothing. Returns the files written.
    """
    wanted = [_check_format(f) for f in dict.fromkeys(formats) if f not in TABLE_FORMATS]
    if not wanted:
        return []
    settings = metadata_overrides
    if not isinstance(settings, ExportSettings):
        settings = validate_config(ExportSettings, settings or {}, "export settings")
    try:
        tracks = read_tracks(table_path)
    except InputError as e:
        if "no rows" not in str(e):
            raise
        log.warning("%s: no tracked animals, nothing to export", table_path)
        return []
    paths = [export_path(table_path, fmt, out_dir) for fmt in wanted]
    for fmt, final in zip(wanted, paths, strict=True):
        _write(tracks, fmt, final, settings)
    return paths


def _check_format(fmt: str) -> str:
    if fmt not in EXPORT_FORMATS:
        known = ", ".join((*TABLE_FORMATS, *EXPORT_FORMATS))
        raise ConfigError(f"unknown export format {fmt!r} (known: {known})")
    return fmt


def _write(tracks: TrackArrays, fmt: str, final: Path, settings: ExportSettings) -> None:
    """Write one format; the libraries are imported here (the ``interop`` extra)."""
    smoothed = settings.smoothed
    if smoothed and fmt in ("dlc", "sleap") and not tracks.has_smooth:
        log.warning("%s: written with smoothing off; exporting raw positions", tracks.path)
        smoothed = False
    try:
        with atomic_output(final) as tmp:
            if fmt == "nwb":
                from wildpose.interop.nwb import write_nwb

                write_nwb(tracks, tmp, settings.nwb)
            elif fmt == "sleap":
                from wildpose.interop.slp import write_slp

                write_slp(tracks, tmp, smoothed=smoothed)
            else:
                from movement.io import save_poses

                from wildpose.interop.movement_io import to_movement

                if fmt == "dlc":
                    ds = to_movement(tracks, smoothed=smoothed)
                    save_poses.to_dlc_file(ds, tmp, split_individuals=False)
                else:
                    to_movement(tracks).to_netcdf(tmp)
    except ImportError as e:
        raise ConfigError(
            f"exporting {fmt} needs the interop extra ({e}): pip install 'wildpose[interop]'"
        ) from None
