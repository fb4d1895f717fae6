"""wildpose.interop.tables: a written track table back into dense arrays and its metadata."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from interop_data import FPS, KEYPOINTS, N_FRAMES, SKELETON, track_ids, write_table

from wildpose.errors import InputError
from wildpose.interop import describe_tracks, read_metadata, read_tracks


def test_arrays_hold_every_row_in_place(table):
    tracks = read_tracks(table)
    df = pd.read_parquet(table)
    assert tracks.keypoints == KEYPOINTS and tracks.skeleton == tuple(map(tuple, SKELETON))
    assert list(tracks.track_ids) == [1, 3, 7] and tracks.fps == FPS
    assert tracks.individual_names == ("track_1", "track_3", "track_7")
    assert tracks.xy.shape == (N_FRAMES, 3, len(KEYPOINTS), 2) and tracks.xy.dtype == np.float32
    n = {1: 0, 3: 1, 7: 2}
    k = {name: i for i, name in enumerate(KEYPOINTS)}
    for row in df.itertuples():
        t, i, j = row.frame, n[row.track_id], k[row.keypoint]
        assert tuple(tracks.xy[t, i, j]) == (row.x, row.y)
        assert tuple(tracks.xy_smooth[t, i, j]) == (row.x_smooth, row.y_smooth)
        assert tracks.score[t, i, j] == row.score and tracks.var_smooth[t, i, j] == row.var_smooth
        assert tracks.det_score[t, i] == row.det_score
    present = np.array([[tid in track_ids(t) for tid in (1, 3, 7)] for t in range(N_FRAMES)])
    np.testing.assert_array_equal(tracks.present, present)
    assert np.isnan(tracks.xy[~present]).all() and np.isnan(tracks.score[~present]).all()
    # frame 2 has no row: its time is interpolated
    np.testing.assert_allclose(tracks.time_s, np.arange(N_FRAMES) / FPS)
    assert tracks.class_names == ("dog",) * 3 and tracks.has_smooth


def test_metadata_and_description_in_one_call(table):
    meta = read_metadata(table)
    assert meta["keypoints"] == list(KEYPOINTS) and meta["skeleton"] == SKELETON
    assert meta["video_fps"] == FPS and meta["model"] == "clamp-tiny" and "wildpose_version" in meta
    info = describe_tracks(table)
    assert info["rows"] == len(pd.read_parquet(table)) and info["tracks"] == 3
    assert info["frames"] == N_FRAMES - 1 and info["videos"] == ["clip.mp4"]
    assert info["format"] == "parquet" and info["metadata"] == meta


def test_csv_reads_like_parquet_with_the_run_record(tmp_path):
    parquet, csv = write_table(tmp_path, formats=("parquet", "csv"))
    record = {"model": {"name": "clamp-tiny", "keypoints": list(KEYPOINTS)}}
    record["video_info"] = {"fps": FPS, "width": 320, "height": 240, "frame_count": N_FRAMES}
    (tmp_path / "clip.run.json").write_text(json.dumps(record))
    a, b = read_tracks(parquet), read_tracks(csv)
    assert b.keypoints == a.keypoints and b.fps == a.fps
    for name in ("xy", "score", "xy_smooth", "var_smooth", "det_score", "bbox", "time_s"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    assert read_metadata(csv)["video_size"] == [320, 240]


def test_csv_without_a_record_takes_names_from_the_rows(tmp_path):
    _, csv = write_table(tmp_path, formats=("parquet", "csv"))
    tracks = read_tracks(csv)
    assert set(tracks.keypoints) == set(KEYPOINTS) and tracks.fps == pytest.approx(FPS)


def test_bad_tables_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_tracks(tmp_path / "missing.tracks.parquet")
    bad = tmp_path / "bad.tracks.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InputError, match="Parquet"):
        read_tracks(bad)
