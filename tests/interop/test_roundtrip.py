"""Issue 13's round trip: ``wildpose track`` on a generated multi-animal video -> ``wildpose
export`` to every format -> movement (and pynwb) read back the Parquet's positions,
confidences, identities and keypoint names."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pynwb
import pytest
import xarray as xr
from click.testing import CliRunner
from interop_compare import assert_same_tracks
from movement.io import load_poses

from wildpose.cli import main
from wildpose.cli.export import export_cmd
from wildpose.interop import read_tracks
from wildpose.synthetic import write_synthetic_video

FPS = 25.0


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """The tracks of three generated animals (boxes from the generator's truth)."""
    root = tmp_path_factory.mktemp("roundtrip")
    video = root / "three animals.mp4"
    truth = write_synthetic_video(video, n_frames=16, size=(192, 144), fps=FPS, n_animals=3)
    frames, animals = truth.boxes.shape[:2]
    boxes = pd.DataFrame(
        [(t, *truth.boxes[t, a]) for t in range(frames) for a in range(animals)],
        columns=["frame", "x1", "y1", "x2", "y2"],
    )
    boxes.to_csv(root / "boxes.csv", index=False)
    out = root / "out"
    args = ["track", str(video), "-o", str(out), "--pose", "clamp-tiny", "--no-flip-test"]
    args += ["--detector", f"boxes:{root / 'boxes.csv'}", "--device", "cpu", "-q"]
    args += ["--set", "smooth.min_score=1e-12"]  # the random model scores ~1e-9: smooth them
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    return out / "three animals.tracks.parquet"


def test_every_format_round_trips(tracked):
    out = tracked.parent / "exported"
    res = CliRunner().invoke(
        export_cmd,
        [str(tracked), "--to", "dlc,sleap,nwb,netcdf", "-o", str(out), "--set", "nwb.lab=L"],
    )
    assert res.exit_code == 0, res.output
    tracks = read_tracks(tracked)
    assert len(tracks.track_ids) == 3 and tracks.present.all()
    assert len(tracks.keypoints) == 17 and tracks.has_smooth
    stem = "three animals"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        dlc = load_poses.from_file(out / f"{stem}.dlc.h5", "DeepLabCut", fps=FPS)
        slp = load_poses.from_file(out / f"{stem}.predictions.slp", "SLEAP", fps=FPS)
    for ds in (dlc, slp, xr.load_dataset(out / f"{stem}.tracks.nc")):
        assert_same_tracks(ds, tracks)
    with pynwb.NWBHDF5IO(str(out / f"{stem}.nwb"), "r") as io:
        behavior = io.read().processing["behavior"]
        for n, name in enumerate(tracks.individual_names):
            for suffix, xy in (("", tracks.xy), ("_smoothed", tracks.xy_smooth)):
                series = behavior[f"{name}{suffix}"].pose_estimation_series
                assert sorted(series) == sorted(tracks.keypoints)
                got = np.stack([series[kp].data[:] for kp in tracks.keypoints], axis=1)
                np.testing.assert_array_equal(got, xy[:, n])
                conf = np.stack([series[kp].confidence[:] for kp in tracks.keypoints], axis=1)
                np.testing.assert_array_equal(conf, tracks.score[:, n])
    # and the Parquet itself, read with pandas, is what every format was compared against
    df = pd.read_parquet(tracked)
    assert sorted(df.track_id.unique()) == list(tracks.track_ids)
    assert list(df.keypoint.cat.categories) == list(tracks.keypoints)
