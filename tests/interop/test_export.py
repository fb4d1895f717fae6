"""wildpose.interop.export: each format written by its library and read back by movement
(and pynwb for NWB) equals the table."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import numpy as np
import pynwb
import pytest
import sleap_io as sio
import xarray as xr
from click.testing import CliRunner
from interop_compare import assert_same_tracks
from interop_data import FPS, KEYPOINTS, SKELETON, write_table
from movement.io import load_poses

from wildpose.atomic import is_partial
from wildpose.cli.export import export_cmd
from wildpose.config.export import ExportSettings, export_settings
from wildpose.errors import ConfigError
from wildpose.interop import read_tracks
from wildpose.interop.export import export_after_track, export_tracks


def load(path, fmt: str):
    """``path`` through movement's loader for ``fmt`` (netCDF: xarray)."""
    if fmt == "netcdf":
        return xr.load_dataset(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # from_file: the brief's entry point
        software = {"dlc": "DeepLabCut", "sleap": "SLEAP"}[fmt]
        return load_poses.from_file(path, software, fps=FPS)


def no_partials(folder) -> bool:
    return not [p for p in folder.iterdir() if is_partial(p) or ".partial" in p.name]


@pytest.mark.parametrize("fmt", ["dlc", "sleap", "netcdf"])
def test_movement_reads_back_the_table(table, fmt):
    out = export_tracks(table, fmt)
    assert out.parent == table.parent and out.name.startswith("clip.")
    tracks = read_tracks(table)
    ds = load(out, fmt)
    assert_same_tracks(ds, tracks)
    np.testing.assert_allclose(ds.time.values, tracks.time_s)
    assert no_partials(table.parent)


def test_smoothed_setting_exports_smoothed_positions(table, tmp_path):
    tracks = read_tracks(table)
    settings = ExportSettings(smoothed=True)
    for fmt in ("dlc", "sleap"):
        ds = load(export_tracks(table, fmt, tmp_path / "s", settings), fmt)
        assert_same_tracks(ds, tracks, smoothed=True)


def test_sleap_file_keeps_skeleton_tracks_and_scores(table):
    labels = sio.load_slp(str(export_tracks(table, "sleap")), open_videos=False)
    assert labels.skeletons[0].node_names == list(KEYPOINTS)
    assert labels.skeletons[0].edge_inds == [tuple(e) for e in SKELETON]
    assert [t.name for t in labels.tracks] == ["track_1", "track_3", "track_7"]
    assert labels.videos[0].filename == "clip.mp4"
    tracks = read_tracks(table)
    inst = labels.labeled_frames[0].instances[0]
    assert inst.score == pytest.approx(float(tracks.det_score[0, 0]))


def test_nwb_holds_one_pose_estimation_per_track_with_the_session(table, tmp_path):
    meta = tmp_path / "session.yaml"
    meta.write_text(
        "nwb:\n  session_description: den at dusk\n  experimenter: [Ada, Grace]\n"
        "  subject: {subject_id: pack-2, species: Canis lupus, age: P2Y}\n"
    )
    settings = export_settings(meta, ["nwb.session_start_time=2026-05-01T06:30:00", "nwb.lab=L"])
    out = export_tracks(table, "nwb", tmp_path / "nwb", settings)
    tracks = read_tracks(table)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        assert nwb.session_description == "den at dusk" and nwb.lab == "L"
        assert list(nwb.experimenter) == ["Ada", "Grace"]
        assert nwb.session_start_time == datetime(2026, 5, 1, 6, 30, tzinfo=timezone.utc)
        assert nwb.subject.species == "Canis lupus" and nwb.subject.subject_id == "pack-2"
        behavior = nwb.processing["behavior"]
        skeleton = behavior["Skeletons"]["skeleton"]
        assert list(skeleton.nodes[:]) == list(KEYPOINTS)
        assert skeleton.edges[:].tolist() == SKELETON
        names = {n for n in behavior.data_interfaces if n.startswith("track_")}
        want = {f"track_{i}{s}" for i in (1, 3, 7) for s in ("", "_smoothed")}
        assert names == want
        video = nwb.acquisition["source_video"]
        assert list(video.external_file[:]) == ["clip.mp4"] and video.rate == FPS
        for n, name in enumerate(tracks.individual_names):
            pe = behavior[name]
            assert pe.source_software == "wildpose" and pe.skeleton is skeleton
            assert pe.source_video is video
            for k, keypoint in enumerate(KEYPOINTS):
                raw = pe.pose_estimation_series[keypoint]
                np.testing.assert_array_equal(raw.data[:], tracks.xy[:, n, k])
                np.testing.assert_array_equal(raw.confidence[:], tracks.score[:, n, k])
                np.testing.assert_allclose(raw.timestamps[:], tracks.time_s)
                smooth = behavior[f"{name}_smoothed"].pose_estimation_series[keypoint]
                np.testing.assert_array_equal(smooth.data[:], tracks.xy_smooth[:, n, k])
    # movement reads each track (its individual is named after the file's identifier)
    for name in tracks.individual_names:
        ds = load_poses.from_nwb_file(out, pose_estimation_key=name)
        n = tracks.individual_names.index(name)
        got = ds.isel(individuals=0)
        for k, keypoint in enumerate(KEYPOINTS):
            xy = got.position.sel(keypoints=keypoint).transpose("time", "space").values
            np.testing.assert_array_equal(xy, tracks.xy[:, n, k])
            conf = got.confidence.sel(keypoints=keypoint).values
            np.testing.assert_array_equal(conf, tracks.score[:, n, k])


def test_settings_are_validated_once():
    with pytest.raises(ConfigError, match="unknown key 'nwb.colour'"):
        export_settings(None, ["nwb.colour=red"])
    with pytest.raises(ConfigError, match="smoothed"):
        export_settings(None, ["smoothed=maybe"])
    assert export_settings(None, ["nwb.subject=wolf-7"]).nwb.subject.subject_id == "wolf-7"


def test_export_after_track_writes_the_extra_formats(table, tmp_path):
    out = tmp_path / "extra"
    paths = export_after_track(table, ["parquet", "nwb", "netcdf"], out, {"nwb": {"lab": "L"}})
    assert [p.name for p in paths] == ["clip.nwb", "clip.tracks.nc"]
    assert all(p.is_file() for p in paths) and no_partials(out)
    assert export_after_track(table, ["parquet", "csv"], out) == []
    with pytest.raises(ConfigError, match="unknown export format 'mat'"):
        export_after_track(table, ["mat"], out)


def test_empty_table_exports_nothing(tmp_path):
    from wildpose.output import TrackTableWriter

    with TrackTableWriter(tmp_path, "empty", ["parquet"], KEYPOINTS, {}) as writer:
        writer.write("empty.mp4", [])
    assert export_after_track(writer.final_paths[0], ["nwb"], tmp_path) == []


def test_cli_exports_each_table_and_reports_failures(tmp_path):
    a = write_table(tmp_path / "a", stem="a")[0]
    b = write_table(tmp_path / "b", stem="b", seed=1)[0]
    out = tmp_path / "out"
    args = [str(a), str(b), "--to", "dlc,netcdf", "--to", "sleap", "-o", str(out)]
    res = CliRunner().invoke(export_cmd, [*args, "--set", "nwb.lab=L"])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    suffixes = ("dlc.h5", "tracks.nc", "predictions.slp")
    assert names == sorted(f"{stem}.{suffix}" for stem in "ab" for suffix in suffixes)
    missing = str(tmp_path / "missing.tracks.parquet")
    res = CliRunner().invoke(export_cmd, [missing, str(a), "--to", "nwb", "-o", str(out)])
    assert res.exit_code == 1 and "not found" in res.output and (out / "a.nwb").is_file()
    res = CliRunner().invoke(export_cmd, [str(a), "--to", "mat"])
    assert isinstance(res.exception, ConfigError)


def test_smoothed_without_smoothing_exports_raw(tmp_path):
    path = write_table(tmp_path, smoothed=False)[0]
    out = export_tracks(path, "dlc", settings=ExportSettings(smoothed=True))
    assert_same_tracks(load(out, "dlc"), read_tracks(path))


def test_a_failing_writer_leaves_no_file(table, monkeypatch):
    import wildpose.interop.nwb as nwb

    def broken(tracks, path, session):
        path.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(nwb, "write_nwb", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_tracks(table, "nwb")
    assert sorted(p.name for p in table.parent.iterdir()) == ["clip.tracks.parquet"]
