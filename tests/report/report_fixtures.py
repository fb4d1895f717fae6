"""Generated runs for the report tests: a multi-animal video, its track table and run record,
and a batch output folder with a run log (done, failed, skipped and an empty input).

The table is the generator's ground truth with noise, written by the real table writer and
smoothed by the real Kalman/RTS smoother, with the problems a report must show: an identity
swap (ids 1 and 2 exchange animals at frame 90), a track broken by an occlusion (animal 3 is
id 3, then id 4), a 7-frame false detection (id 5) and a low-confidence episode (id 4,
frames 110-118).

Run as a script to make the demo report and screenshot of docs/report.md:
``python tests/report/report_fixtures.py OUT_DIR``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from wildpose.atomic import write_json
from wildpose.output.tables import TrackTableWriter
from wildpose.smooth import kalman_smooth
from wildpose.synthetic import KEYPOINT_NAMES, SKELETON, write_synthetic_video
from wildpose.types import Detections, Poses, TrackedPoses

N_FRAMES, FPS, SIZE = 150, 30.0, (480, 320)
SWAP_FRAME = 90
HIDDEN = (60, 80)  # animal 3 unseen: its track ends, a new id starts after
EPISODE = (110, 119)  # id 4 scores low
SPURIOUS = (30, 37)  # a false detection, id 5


def _assign(truth_xy: np.ndarray, truth_box: np.ndarray, rng: np.random.Generator) -> list:
    """Per frame the (track_id, box, xy, score, det_score) of every reported animal."""
    t_count, _, k, _ = truth_xy.shape
    out = []
    for t in range(t_count):
        rows = []
        for a in range(3):
            if a == 2 and HIDDEN[0] <= t < HIDDEN[1]:
                continue
            tid = {0: 1, 1: 2, 2: 3 if t < HIDDEN[0] else 4}[a]
            if t >= SWAP_FRAME and a < 2:
                tid = 3 - tid
            low = tid == 4 and EPISODE[0] <= t < EPISODE[1]
            score = rng.uniform(0.05, 0.2, k) if low else rng.uniform(0.7, 0.97, k)
            score[-1] *= 0.7  # the tail tip is the hardest keypoint
            noise = rng.normal(0, 12.0 if low else 1.5, (k, 2))
            rows.append(
                (tid, truth_box[t, a], truth_xy[t, a] + noise, score, rng.uniform(0.6, 0.95))
            )
        if SPURIOUS[0] <= t < SPURIOUS[1]:
            box = np.array([400, 20, 440, 60], np.float32)
            xy = rng.uniform([400, 20], [440, 60], (k, 2))
            rows.append((5, box, xy, rng.uniform(0.1, 0.3, k), 0.3))
        out.append(rows)
    return out


def _smooth(per_frame: list, times: np.ndarray, k: int) -> dict:
    """(track_id, frame) -> (xy_smooth (K, 2), var (K,)) by the RTS smoother, per track."""
    by_track: dict[int, list] = {}
    for t, rows in enumerate(per_frame):
        for tid, _, xy, score, _ in rows:
            by_track.setdefault(tid, []).append((t, xy, score))
    out = {}
    for tid, items in by_track.items():
        frames = np.array([i[0] for i in items])
        xy = np.stack([i[1] for i in items]).astype(np.float64)
        score = np.stack([i[2] for i in items]).astype(np.float64)
        xs, var = kalman_smooth(xy, score, times[frames])
        for j, f in enumerate(frames):
            out[(tid, int(f))] = (xs[j], var[j])
    return out


def write_run(
    out_dir: Path,
    video: Path,
    *,
    stem: str = "arena",
    fmt: str = "parquet",
    seed: int = 0,
    record: bool = True,
) -> Path:
    """Write ``video`` (generated), ``OUT/STEM.tracks.<fmt>`` and ``OUT/STEM.run.json``;
    returns the table's path."""
    video.parent.mkdir(parents=True, exist_ok=True)
    truth = write_synthetic_video(video, n_frames=N_FRAMES, size=SIZE, fps=FPS, n_animals=3, seed=3)
    rng = np.random.default_rng(seed)
    k = len(KEYPOINT_NAMES)
    per_frame = _assign(truth.keypoints, truth.boxes, rng)
    smooth = _smooth(per_frame, truth.times_s, k)
    frames = []
    for t, rows in enumerate(per_frame):
        ids = np.array([r[0] for r in rows], np.int64)
        frames.append(
            TrackedPoses(
                frame=t,
                time_s=float(truth.times_s[t]),
                detections=Detections(
                    xyxy=np.stack([r[1] for r in rows]).astype(np.float32),
                    score=np.array([r[4] for r in rows], np.float32),
                    class_name=np.array(["dog"] * len(rows), dtype=object),
                ),
                poses=Poses(
                    np.stack([r[2] for r in rows]).astype(np.float32),
                    np.stack([r[3] for r in rows]).astype(np.float32),
                ),
                track_id=ids,
                xy_smooth=np.stack([smooth[(i, t)][0] for i in ids]).astype(np.float32),
                var_smooth=np.stack([smooth[(i, t)][1] for i in ids]).astype(np.float32),
            )
        )
    meta = {
        "skeleton": [list(p) for p in SKELETON],
        "model": "clamp-tiny",
        "model_sha256": "ab" * 32,
        "video_fps": FPS,
        "video_size": list(SIZE),
        "video_frame_count": N_FRAMES,
    }
    with TrackTableWriter(out_dir, stem, [fmt], KEYPOINT_NAMES, meta, 64) as writer:
        rows = sum(writer.write(str(video), frames[i : i + 16]) for i in range(0, N_FRAMES, 16))
    if record:
        write_json(out_dir / f"{stem}.run.json", run_record(video, rows))
    return out_dir / f"{stem}.tracks.{fmt}"


def run_record(video: Path, rows: int) -> dict:
    """A run record shaped like the pipeline's (wildpose.pipeline.record.run_record)."""
    return {
        "wildpose_version": "0.1.0",
        "input": str(video),
        "video": str(video),
        "outputs": [f"{video.stem}.tracks.parquet"],
        "started": "2026-12-01T21:00:00+00:00",
        "finished": "2026-12-01T21:00:09+00:00",
        "config": {
            "device": "cpu",
            "detector": {"model": "boxes:arena.boxes.csv", "conf": 0.25},
            "pose": {"model": "clamp-tiny", "batch_size": 64, "flip_test": True},
            "smooth": {"mode": "rts", "lag_s": 2.0},
            "video": {"start": None, "end": None},
        },
        "model": {
            "name": "clamp-tiny",
            "sha256": "ab" * 32,
            "source": "clamp-tiny (random weights)",
            "keypoints": list(KEYPOINT_NAMES),
        },
        "device": "cpu",
        "video_info": {
            "path": str(video),
            "fps": FPS,
            "frame_count": N_FRAMES,
            "width": SIZE[0],
            "height": SIZE[1],
            "duration_s": N_FRAMES / FPS,
            "codec": "h264",
            "backend": "pyav",
        },
        "frames_read": N_FRAMES,
        "frames_skipped": 0,
        "skipped_errors": [],
        "rows": rows,
        "tracks": 5,
        "seconds": 9.21,
        "frames_per_s": 16.29,
        "timings_s": {
            "decode_wait": 0.41,
            "detect": 0.02,
            "pose": 7.9,
            "track": 0.3,
            "smooth_write": 0.5,
        },
        "versions": {"wildpose": "0.1.0", "python": "3.11.7", "torch": "2.14.1"},
    }


def write_batch(root: Path) -> Path:
    """A batch output folder ``root/out`` with a run log: site1/arena done (with its table),
    site1/broken failed, site2/empty done with an empty table, site2/old skipped."""
    out = root / "out"
    table = write_run(out / "site1", root / "videos" / "arena.mp4")
    empty = out / "site2"
    with TrackTableWriter(empty, "empty", ["parquet"], KEYPOINT_NAMES, {"video_fps": FPS}) as w:
        w.write("site2/empty.mp4", [])
    base = {"model_sha256": "ab" * 32, "config_hash": "cd" * 32, "kind": "video", "files": 1}
    records = [
        {
            "input": "site1/arena.mp4",
            "status": "done",
            "rows": 4000,
            "tracks": 5,
            "frames": 150,
            "seconds": 9.4,
            "outputs": [f"site1/{table.name}", "site1/arena.run.json"],
            "finished": 1.0,
        },
        {
            "input": "site1/broken.mp4",
            "status": "failed",
            "seconds": 0.1,
            "finished": 2.0,
            "error": "site1/broken.mp4: no frame could be decoded: "
            "Invalid data found when processing input",
        },
        {
            "input": "site2/empty.mp4",
            "status": "done",
            "rows": 0,
            "tracks": 0,
            "frames": 40,
            "seconds": 1.2,
            "outputs": ["site2/empty.tracks.parquet"],
            "finished": 3.0,
        },
        {
            "input": "site2/old.mp4",
            "status": "skipped",
            "rows": 12,
            "seconds": 0.0,
            "finished": 4.0,
            "outputs": [],
        },
    ]
    lines = [json.dumps({**base, **r}) for r in records]
    (out / "runlog.jsonl").write_text("\n".join(lines) + "\n", encoding="ascii")
    return out


if __name__ == "__main__":
    from wildpose.report import write_report

    where = Path(sys.argv[1])
    batch = write_batch(where)
    print(write_report([], where / "batch.report.html", batch_dir=batch))
    print(write_report([batch / "site1" / "arena.tracks.parquet"], where / "arena.report.html"))
