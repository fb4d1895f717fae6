"""What one input's run leaves in ``STEM.run.json``: its counters and the run record."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from wildpose import __version__
from wildpose.about import versions
from wildpose.atomic import json_default
from wildpose.config import to_dict
from wildpose.pipeline.stages import Stages
from wildpose.types import Detections, TrackedPoses
from wildpose.video import VideoReader

__all__ = ["RunStats", "dump_json", "run_record", "run_warnings"]

T = TypeVar("T")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunStats:
    """Counters of one input: boxes detected, rows and track ids written, seconds per stage,
    wall clock."""

    started: str = field(default_factory=_now)
    t0: float = field(default_factory=time.perf_counter)
    detections: int = 0
    rows: int = 0
    track_ids: set[int] = field(default_factory=set)
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the seconds spent in the block to ``seconds[stage]``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t

    def timed_iter(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """``items``, adding the time spent waiting for each to ``seconds[stage]``."""
        it = iter(items)
        while True:
            with self.timed(stage):
                item = next(it, _END)
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def detected(self, detections: Sequence[Detections]) -> None:
        """Count the boxes the detector found in one chunk of frames."""
        self.detections += sum(len(d) for d in detections)

    def wrote(self, frames: Sequence[TrackedPoses], rows: int) -> None:
        self.rows += rows
        for f in frames:
            self.track_ids.update(int(i) for i in f.track_id)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


_END = object()


def run_record(
    stages: Stages,
    reader: VideoReader,
    video: str,
    outputs: Sequence[Path],
    stats: RunStats,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run record of one input (``outputs``: the files written, without the record).

    ``device``/``precision`` are what the pose model ran with (``config`` holds what was asked
    for: fp16 is asked by default and the CPU runs fp32); ``warnings`` are the one-line notes
    of :func:`run_warnings` (the CLI prints them too).
    """
    seconds = stats.elapsed()
    loaded = stages.loaded
    record = {
        "wildpose_version": __version__,
        "input": reader.source,
        "video": video,
        "outputs": [Path(o).name for o in outputs],
        "started": stats.started,
        "finished": _now(),
        "config": to_dict(stages.config),
        "model": {
            "name": loaded.manifest.name,
            "sha256": loaded.sha256,
            "source": loaded.source,
            "keypoints": list(loaded.manifest.keypoints),
        },
        "device": str(stages.predictor.device),
        "precision": stages.predictor.precision,
        "pose_backend": stages.predictor.backend,
        "video_info": asdict(reader.info),
        "frames_read": reader.frames_read,
        "frames_skipped": reader.skipped,
        "skipped_errors": reader.skipped_errors,
        "detections": stats.detections,
        "rows": stats.rows,
        "tracks": len(stats.track_ids),
        "seconds": round(seconds, 3),
        "frames_per_s": round(reader.frames_read / seconds, 3) if seconds > 0 else None,
        "timings_s": {k: round(v, 3) for k, v in stats.seconds.items()},
        "versions": versions(),
        "warnings": run_warnings(reader.frames_read, stats),
    }
    record.update(extra or {})
    return record


def run_warnings(frames_read: int, stats: RunStats) -> list[str]:
    """Notes on a run that succeeded but found nothing: no box in any of the ``frames_read``
    frames, or boxes that never started a track (so the table has no rows)."""
    if not frames_read or stats.rows:
        return []
    if stats.detections == 0:
        return [f"no animals detected in {frames_read} frames"]
    return [
        f"{stats.detections} boxes detected in {frames_read} frames but none started a track "
        "(see tracker.activation_threshold)"
    ]


def dump_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path``, a temporary name of :class:`~wildpose.atomic.AtomicGroup`
    (the same format as :func:`wildpose.atomic.write_json`)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=json_default, allow_nan=True)
        f.write("\n")
