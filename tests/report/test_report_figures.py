"""Tests for wildpose.report.figures: PNGs for tables with many tracks, no smoothing, one frame."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from wildpose.output.tables import TrackTableWriter
from wildpose.report import figures, write_report
from wildpose.report.data import read_video
from wildpose.report.qc import flag
from wildpose.types import Detections, Poses, TrackedPoses

KEYPOINTS = ["nose", "tail"]


def _table(tmp_path: Path, n_frames: int, ids_per_frame: Callable[[int], list[int]]) -> Path:
    rng = np.random.default_rng(0)
    frames = []
    for t in range(n_frames):
        ids = np.asarray(ids_per_frame(t), np.int64)
        n = len(ids)
        xy = rng.uniform(10, 90, (n, 2, 2)).astype(np.float32)
        frames.append(
            TrackedPoses(
                frame=t,
                time_s=t / 10,
                detections=Detections(
                    np.tile([0, 0, 100, 100], (n, 1)).astype(np.float32),
                    np.full(n, 0.9, np.float32),
                    np.array(["cat"] * n, dtype=object),
                ),
                poses=Poses(xy, rng.uniform(0, 1, (n, 2)).astype(np.float32)),
                track_id=ids,
            )
        )
    with TrackTableWriter(tmp_path, "many", ["parquet"], KEYPOINTS, {"video_fps": 10.0}) as w:
        w.write("many.mp4", frames)
    return tmp_path / "many.tracks.parquet"


def test_many_tracks_without_smoothing(tmp_path: Path):
    path = _table(tmp_path, 140, lambda t: [1 + t // 2])  # 70 ids, 2 frames each
    video = read_video(path)
    flags = flag(video)
    assert len(flags.tracks) == 70 and flags.tracks["fragment"].all()
    for png in (figures.id_timeline(video, flags), figures.trajectories(video, flags)):
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.width > 500
    page = write_report([path], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Shown: the first 60 of 70 track ids." in page
    assert "Shown: the longest 12 of 70 track ids." in page
    assert "source video (many.mp4) was not found" in page


def test_single_frame(tmp_path: Path):
    path = _table(tmp_path, 1, lambda t: [1, 2])
    page = write_report([path], tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("<img") >= 4
