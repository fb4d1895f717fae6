"""A multi-animal track table written by the real writer, without the pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wildpose.output import TrackTableWriter
from wildpose.types import Detections, Poses, TrackedPoses

KEYPOINTS = ("nose", "left ear", "right ear", "tail base")
SKELETON = [[0, 1], [0, 2], [0, 3]]
FPS = 25.0
N_FRAMES = 30


def _frame(rng: np.random.Generator, index: int, ids: list[int], smoothed: bool) -> TrackedPoses:
    n, k = len(ids), len(KEYPOINTS)
    xy = rng.uniform(0, 320, (n, k, 2)).astype(np.float32)
    corner = rng.uniform(0, 200, (n, 2))
    return TrackedPoses(
        frame=index,
        time_s=index / FPS,
        detections=Detections(
            xyxy=np.concatenate([corner, corner + 40], axis=1).astype(np.float32),
            score=rng.uniform(0.3, 1, n).astype(np.float32),
            class_name=np.array(["dog"] * n, dtype=object),
        ),
        poses=Poses(xy=xy, score=rng.uniform(0, 1, (n, k)).astype(np.float32)),
        track_id=np.array(ids, np.int64),
        xy_smooth=(xy + 0.25).astype(np.float32) if smoothed else None,
        var_smooth=rng.uniform(0, 4, (n, k)).astype(np.float32) if smoothed else None,
    )


def track_ids(frame: int) -> list[int]:
    """Who is in a frame: track 1 always, track 3 from frame 5, track 7 in 10..19 (no frame 2)."""
    if frame == 2:
        return []
    ids = [3, 1] if frame >= 5 else [1]
    return [*ids, 7] if 10 <= frame < 20 else ids


def write_table(
    out: Path, stem: str = "clip", formats=("parquet",), seed: int = 0, smoothed: bool = True
) -> list[Path]:
    """``OUT/STEM.tracks.<format>`` written by TrackTableWriter; returns the paths."""
    rng = np.random.default_rng(seed)
    frames = [_frame(rng, i, track_ids(i), smoothed) for i in range(N_FRAMES)]
    meta = {
        "skeleton": SKELETON,
        "model": "clamp-tiny",
        "model_sha256": "ab" * 32,
        "video_fps": FPS,
        "video_size": [320, 240],
        "video_frame_count": N_FRAMES,
    }
    with TrackTableWriter(out, stem, list(formats), KEYPOINTS, meta, row_group_frames=8) as w:
        w.write(f"{stem}.mp4", frames)
    return w.final_paths
