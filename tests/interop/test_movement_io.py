"""wildpose.interop.movement_io and wildpose.load_tracks: movement's own poses datasets."""

from __future__ import annotations

import logging

import numpy as np
from interop_compare import assert_same_tracks
from interop_data import FPS, KEYPOINTS, N_FRAMES, write_table
from movement.validators.datasets import ValidPosesInputs

import wildpose
from wildpose.interop import read_tracks
from wildpose.interop.movement_io import to_movement


def test_dataset_is_movements_with_our_identities(table):
    tracks = read_tracks(table)
    ds = to_movement(tracks)
    ValidPosesInputs.validate(ds)
    assert ds.position.dims == ValidPosesInputs.DIM_NAMES
    assert ds.attrs["ds_type"] == "poses" and ds.attrs["fps"] == FPS
    assert ds.attrs["time_unit"] == "seconds" and ds.attrs["smoothed"] == 0
    assert list(ds.track_id.values) == [1, 3, 7] and list(ds.keypoints.values) == list(KEYPOINTS)
    np.testing.assert_allclose(ds.time.values, np.arange(N_FRAMES) / FPS)
    assert_same_tracks(ds, tracks)
    np.testing.assert_array_equal(
        ds.position_smoothed.transpose("time", "individuals", "keypoints", "space").values,
        tracks.xy_smooth,
    )
    assert ds.position.dtype == np.float32


def test_load_tracks_gives_smoothed_positions_by_default(table):
    tracks = read_tracks(table)
    ds = wildpose.load_tracks(table)
    assert ds.attrs["smoothed"] == 1
    assert_same_tracks(ds, tracks, smoothed=True)
    raw = wildpose.load_tracks(table, smoothed=False)
    assert_same_tracks(raw, tracks)
    # movement's kinematics run on it as on any movement dataset
    from movement.kinematics import compute_velocity

    assert compute_velocity(ds.position).dims == ds.position.dims


def test_smoothing_off_falls_back_to_raw(tmp_path, caplog):
    path = write_table(tmp_path, smoothed=False)[0]
    with caplog.at_level(logging.WARNING):
        ds = wildpose.load_tracks(path)
    assert ds.attrs["smoothed"] == 0 and "smoothing off" in caplog.text
    assert "position_smoothed" not in ds and "smooth_variance" not in ds
    assert_same_tracks(ds, read_tracks(path))
