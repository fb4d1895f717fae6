"""Track tables as movement poses datasets (movement.neuroinformatics.dev).

The dataset is built by movement's own constructor (``movement.io.load_poses.from_numpy``), so
it is exactly what movement's loaders return and goes straight into its kinematics, filters and
plots: ``position`` (time, space, keypoints, individuals) px and ``confidence`` (time,
keypoints, individuals), one individual ``track_<id>`` per track id, keypoint names from the
table's metadata, ``time`` in seconds (the table's ``time_s``). wildpose adds, beside them:
the other position (``position_smoothed`` beside raw, ``position_raw`` beside smoothed),
``smooth_variance`` (px^2) when the table was smoothed, ``det_score`` (time, individuals), a
``track_id`` coordinate, and attributes ``video``, ``skeleton`` (JSON pairs of keypoint
indices), ``smoothed`` (1 or 0) and the model's name.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import xarray as xr
from movement.io import load_poses
from movement.validators.datasets import ValidPosesInputs

from wildpose.interop.tables import TrackArrays, read_tracks

__all__ = ["load_tracks", "to_movement"]

log = logging.getLogger(__name__)

# TrackArrays' axis order; movement's order is ValidPosesInputs.DIM_NAMES.
_OURS = ("time", "individuals", "keypoints", "space")
_METADATA_ATTRS = ("model", "model_sha256", "detector", "wildpose_version")


def _movement_order(values: np.ndarray, dims: tuple[str, ...]) -> np.ndarray:
    """``values``, whose axes are named ``dims`` (names of :data:`_OURS`), in movement's order."""
    target = [d for d in ValidPosesInputs.DIM_NAMES if d in dims]
    return values.transpose([dims.index(d) for d in target])


def _dims(with_space: bool) -> tuple[str, ...]:
    return tuple(d for d in ValidPosesInputs.DIM_NAMES if with_space or d != "space")


def to_movement(tracks: TrackArrays, *, smoothed: bool = False) -> xr.Dataset:
    """A movement poses dataset of ``tracks``: ``position`` is the smoothed estimate when
    ``smoothed`` (NaN where smoothing was off), else the raw one; see the module docstring."""
    main, other = (tracks.xy_smooth, tracks.xy) if smoothed else (tracks.xy, tracks.xy_smooth)
    ds = load_poses.from_numpy(
        position_array=_movement_order(main, _OURS),
        confidence_array=_movement_order(tracks.score, _OURS[:3]),
        individual_names=list(tracks.individual_names),
        keypoint_names=list(tracks.keypoints),
        fps=tracks.fps,
        source_software="wildpose",
    )
    if tracks.fps is not None:  # movement's time is frame / fps; the table's times are exact
        ds = ds.assign_coords(time=tracks.time_s)
    ds = ds.assign_coords(track_id=("individuals", tracks.track_ids))
    if smoothed or tracks.has_smooth:
        name = "position_raw" if smoothed else "position_smoothed"
        ds[name] = (_dims(True), _movement_order(other, _OURS))
    if tracks.has_smooth:
        ds["smooth_variance"] = (_dims(False), _movement_order(tracks.var_smooth, _OURS[:3]))
    ds["det_score"] = (("time", "individuals"), tracks.det_score)
    ds.attrs.update(
        source_file=tracks.path,
        video=tracks.video,
        skeleton=json.dumps([list(p) for p in tracks.skeleton]),
        smoothed=int(smoothed),
        **{k: str(tracks.metadata[k]) for k in _METADATA_ATTRS if k in tracks.metadata},
    )
    return ds


def load_tracks(path: str | Path, smoothed: bool = True) -> xr.Dataset:
    """A track table (Parquet or CSV) as a movement poses dataset (:func:`to_movement`).

    ``smoothed`` (default) puts the smoother's estimate in ``position``; a table written with
    smoothing off gives its raw positions (with a warning), and ``ds.attrs["smoothed"]`` says
    which one ``position`` holds.
    """
    tracks = read_tracks(path)
    if smoothed and not tracks.has_smooth:
        log.warning("%s: written with smoothing off; position holds the raw estimates", path)
        smoothed = False
    return to_movement(tracks, smoothed=smoothed)
