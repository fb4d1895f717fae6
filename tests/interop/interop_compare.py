"""Assertions shared by the interop tests: a loaded movement dataset equals the table's arrays."""

from __future__ import annotations

import numpy as np
import xarray as xr

from wildpose.interop.tables import TrackArrays


def assert_same_tracks(
    ds: xr.Dataset,
    tracks: TrackArrays,
    *,
    smoothed: bool = False,
) -> None:
    """Positions, confidences, identities and keypoint names of ``ds`` (any loader's) equal
    ``tracks``' (float32, NaN where absent; ``smoothed``: the smoothed positions)."""
    got = [str(i) for i in ds.individuals.values]
    assert sorted(got) == sorted(tracks.individual_names)
    assert sorted(map(str, ds.keypoints.values)) == sorted(tracks.keypoints)
    assert ds.sizes["time"] == tracks.n_frames
    xy = tracks.xy_smooth if smoothed else tracks.xy
    for ind, ours in zip(ds.individuals.values, got, strict=True):
        n = tracks.individual_names.index(ours)
        for k, keypoint in enumerate(tracks.keypoints):
            sel = {"individuals": ind, "keypoints": keypoint}
            pos = ds.position.sel(sel).transpose("time", "space").values.astype(np.float32)
            np.testing.assert_array_equal(pos, xy[:, n, k], err_msg=f"{ours} {keypoint}")
            conf = ds.confidence.sel(sel).values.astype(np.float32)
            np.testing.assert_array_equal(conf, tracks.score[:, n, k], err_msg=f"{ours} {keypoint}")
