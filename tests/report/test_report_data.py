"""Tests for wildpose.report.data: tables reduced per frame and animal, batches, inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import N_FRAMES, write_run

from wildpose.errors import InputError
from wildpose.report import data
from wildpose.report.data import read_video, table_frames
from wildpose.report.inputs import find_inputs, read_batch
from wildpose.synthetic import KEYPOINT_NAMES


def test_read_video_reduces_per_animal_and_frame(report_run: Path):
    v = read_video(report_run)
    full = pd.read_parquet(report_run)
    assert v.rows == len(full)
    assert v.keypoints == KEYPOINT_NAMES
    assert v.fps == 30.0 and v.size == (480, 320)
    assert v.record is not None and v.record["frames_read"] == N_FRAMES
    pairs = full.groupby(["frame", "track_id"])
    assert len(v.animals) == pairs.ngroups
    a = v.animals.set_index(["frame", "track_id"]).sort_index()
    np.testing.assert_allclose(a["x"], pairs["x"].mean(), rtol=1e-5)
    np.testing.assert_allclose(a["var_smooth"], pairs["var_smooth"].median(), rtol=1e-5)
    np.testing.assert_allclose(a["score"], pairs["score"].mean(), rtol=1e-5)
    median = full.groupby(["frame", "keypoint"], observed=True)["score"].median().unstack()
    assert list(v.keypoint_score.columns) == list(KEYPOINT_NAMES)
    np.testing.assert_allclose(v.keypoint_score[list(median.columns)], median, rtol=1e-5)
    assert list(v.frames.index) == list(range(N_FRAMES))
    assert v.frames["animals"].max() == 4 and v.has_smooth
    assert v.source_path() == Path(v.record["input"])


def test_small_batches_never_split_a_frame(report_run: Path, monkeypatch: pytest.MonkeyPatch):
    whole = read_video(report_run)
    monkeypatch.setattr(data, "_BATCH_ROWS", 7)  # many batches, each ending mid-frame
    split = read_video(report_run)
    pd.testing.assert_frame_equal(split.animals, whole.animals)
    pd.testing.assert_frame_equal(split.keypoint_score, whole.keypoint_score)


def test_csv_reads_like_parquet(report_run: Path, tmp_path: Path):
    csv = write_run(tmp_path, tmp_path / "arena.mp4", fmt="csv")
    a, b = read_video(report_run), read_video(csv)
    assert b.keypoints == a.keypoints and b.rows == a.rows
    pd.testing.assert_frame_equal(b.animals, a.animals, check_dtype=False, rtol=1e-5)


def test_table_frames_reads_only_those_frames(report_run: Path):
    rows = table_frames(report_run, [3, 90, 3])
    assert sorted(rows["frame"].unique()) == [3, 90]
    assert len(rows) == 2 * 3 * len(KEYPOINT_NAMES)


def test_read_batch_and_find_inputs(report_batch: Path, tmp_path: Path):
    b = read_batch(report_batch)
    assert [r["status"] for r in b.records] == ["done", "failed", "done", "skipped"]
    assert set(b.tables) == {"site1/arena.mp4", "site2/empty.mp4"}
    tables, batch = find_inputs([report_batch])
    assert batch == report_batch and len(tables) == 2
    plain = tmp_path / "plain"
    shutil.copytree(report_batch / "site1", plain)
    assert find_inputs([plain]) == ([plain / "arena.tracks.parquet"], None)
    with pytest.raises(InputError, match="no such file"):
        find_inputs([tmp_path / "missing.parquet"])
    with pytest.raises(InputError, match="no run log"):
        read_batch(plain)


def test_grouped_median_matches_pandas():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 20, 500), rng.integers(0, 4, 500)
    v = rng.normal(size=500)
    v[rng.random(500) < 0.3] = np.nan
    v[(a == 3) & (b == 2)] = np.nan  # a pair with no finite value
    ga, gb, med = data.grouped_median(a, b, v)
    want = pd.Series(v).groupby([a, b]).median()
    assert list(zip(ga, gb, strict=True)) == list(want.index)
    np.testing.assert_allclose(med, want.to_numpy())
