"""Compose the stages for one input: decode -> detect -> pose -> identities -> smooth -> write.

:class:`Stages` holds what is loaded once (pose model and predictor, detector settings) and is
reused across inputs (``wildpose batch`` loads the model once). :func:`track_video` streams one
input through the stages with bounded memory: frames are decoded ahead in a thread, processed in
chunks of ``detector.frames_per_batch`` frames whose crops share pose batches, and rows are
written as soon as the smoother releases them.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .about import versions
from .config import RunConfig, to_dict
from .detect import Detector, build_detector
from .output import AnnotatedVideoWriter, TrackTableWriter, write_json_atomic
from .pose.checkpoint import LoadedModel, load_model
from .pose.predictor import PosePredictor
from .smooth import TrackSmoother
from .track import FixedIdTracker, Tracker
from .types import Frame, Poses, TrackedPoses
from .video import Prefetcher, open_video


@dataclass
class Stages:
    """Everything loaded once per run."""

    config: RunConfig
    loaded: LoadedModel
    predictor: PosePredictor

    @classmethod
    def load(cls, config: RunConfig) -> Stages:
        loaded = load_model(config.pose.model)
        m = loaded.manifest
        predictor = PosePredictor(
            loaded.model,
            mean=m.mean,
            std=m.std,
            flip_pairs=m.flip_pairs,
            flip_test=config.pose.flip_test,
            device=config.device,
            precision=config.precision,
            padding=config.pose.padding,
        )
        stages = cls(config, loaded, predictor)
        stages.detector_for("")  # validate the detector spec before any input is read
        stages.smoother(30.0)  # and the smoothing parameters
        return stages

    def smoother(self, fps: float) -> TrackSmoother:
        """A fresh per-video smoother (raises ConfigError for bad parameters)."""
        s = self.config.smooth
        kw = {
            k: getattr(s, k)
            for k in ("process_noise", "meas_std", "min_score", "gate")
            if getattr(s, k) is not None
        }
        if kw.get("gate") == "off":
            kw["gate"] = None
        return TrackSmoother(
            len(self.loaded.manifest.keypoints),
            fps,
            s.mode,
            lag=max(1, round(s.lag_s * fps)),
            max_gap_s=s.max_gap_s,
            **kw,
        )

    def detector_for(self, source: str, image_names: Sequence[str] | None = None) -> Detector:
        d = self.config.detector
        dev = str(self.predictor.device)
        return _cached_detector(
            d.model,
            d.classes,
            d.conf,
            d.iou,
            d.imgsz,
            dev,
            self.predictor.precision == "fp16",
            d.max_det,
            source,
            tuple(image_names) if image_names else None,
        )


_DETECTORS: dict[tuple, Detector] = {}


def _cached_detector(spec, classes, conf, iou, imgsz, device, half, max_det, source, names):
    """Network detectors are loaded once per process; box files once per input."""
    per_input = spec.startswith("boxes:")
    key = (
        spec,
        classes,
        conf,
        iou,
        imgsz,
        device,
        half,
        max_det,
        source if per_input else None,
        names if per_input else None,
    )
    if key not in _DETECTORS:
        if per_input and not source:
            return build_detector("full-frame")  # validation only; real files load per input
        _DETECTORS[key] = build_detector(
            spec,
            classes=list(classes) if classes else None,
            conf=conf,
            iou=iou,
            imgsz=imgsz,
            device=device,
            half=half,
            max_det=max_det,
            source=source or None,
            image_names=list(names) if names else None,
        )
    return _DETECTORS[key]


@dataclass
class TrackResult:
    """What one input produced (also written as ``STEM.run.json``)."""

    source: str
    outputs: list[str]
    frames_read: int
    frames_skipped: int
    rows: int
    tracks: int
    seconds: float
    run_json: str
    info: dict[str, Any] = field(default_factory=dict)


def output_stem(source: str | Path) -> str:
    """``foo.mp4`` -> ``foo``; a folder -> its name; a glob -> the folder of its first part."""
    p = Path(source)
    if p.is_dir():
        return p.name or "images"
    if any(c in str(source) for c in "*?[") and not p.exists():
        return p.parent.name or "images"
    return p.stem


def _chunks(it: Iterator[Frame], n: int) -> Iterator[list[Frame]]:
    while chunk := list(itertools.islice(it, n)):
        yield chunk


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, key: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[key] = self.seconds.get(key, 0.0) + now - start
        return now


def track_video(
    source: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    stages: Stages,
    *,
    stem: str | None = None,
    video_name: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    extra_run_info: dict[str, Any] | None = None,
) -> TrackResult:
    """Track one video / image sequence into ``out_dir``; returns a :class:`TrackResult`.

    ``source`` is a video file, an image folder or glob, or a list of image paths (a burst).
    ``stem`` names the outputs (default :func:`output_stem`); ``video_name`` is the ``video``
    column value (default: the source as given). ``progress`` is
    called with the number of frames done after each chunk; ``on_start`` with the expected frame
    count. Every output is written to a temporary name and renamed when whole; on any error
    (or Ctrl-C) the temporaries are removed and the exception propagates.
    """
    cfg = stages.config
    t_start = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    v = cfg.video
    reader = open_video(source, start=v.start, end=v.end, backend=v.backend, image_fps=v.image_fps)
    source = reader.source  # a list of images is named FOLDER/FIRST..LAST
    stem = stem or output_stem(source)
    out_dir = Path(out_dir)
    info = reader.info
    names = reader.image_paths  # image sequences: per-frame file names (box files use them)
    detector = stages.detector_for(source, [str(p) for p in names] if names else None)
    manifest, loaded = stages.loaded.manifest, stages.loaded
    k = len(manifest.keypoints)
    fps = info.fps if info.fps > 0 else 1.0
    full_frame = cfg.detector.model == "full-frame"
    tracker: Tracker | FixedIdTracker = (
        FixedIdTracker()
        if full_frame
        else Tracker(
            fps,
            track_activation_threshold=cfg.tracker.activation_threshold,
            lost_track_buffer_s=cfg.tracker.lost_buffer_s,
            minimum_matching_threshold=cfg.tracker.matching_threshold,
        )
    )
    s = cfg.smooth
    smooth_kw = {
        k_: getattr(s, k_)
        for k_ in ("process_noise", "meas_std", "min_score", "gate")
        if getattr(s, k_) is not None
    }
    smoother = TrackSmoother(
        k, fps, s.mode, lag=max(1, round(s.lag_s * fps)), max_gap_s=s.max_gap_s, **smooth_kw
    )
    formats = ["parquet", "csv"] if cfg.output.format == "both" else [cfg.output.format]
    metadata = {
        "skeleton": [list(p) for p in manifest.skeleton],
        "model": manifest.name,
        "model_sha256": loaded.sha256,
        "video_fps": info.fps,
        "video_size": [info.width, info.height],
        "video_frame_count": info.frame_count,
        "detector": cfg.detector.model,
    }
    name = video_name if video_name is not None else source
    writer = TrackTableWriter(
        out_dir, stem, formats, manifest.keypoints, metadata, cfg.output.row_group_frames
    )
    render = None
    images: deque[tuple[int, np.ndarray]] = deque()
    timer = _Timer()
    rows = 0
    track_ids: set[int] = set()
    if on_start:
        on_start(info.frame_count)
    try:
        if cfg.output.render:
            render = AnnotatedVideoWriter(
                out_dir / f"{stem}.annotated.mp4",
                fps,
                (info.width, info.height),
                manifest.skeleton,
                manifest.keypoints,
            )

        def emit(done: list[TrackedPoses]) -> None:
            nonlocal rows
            if not done:
                return
            rows += writer.write(name, done)
            for tp in done:
                track_ids.update(int(i) for i in tp.track_id)
            if render is not None:
                for tp in done:
                    while images and images[0][0] < tp.frame:
                        fi, img = images.popleft()
                        render.write(img, None)
                    if images and images[0][0] == tp.frame:
                        render.write(images.popleft()[1], tp)

        with Prefetcher(reader, max(1, v.prefetch)) as frames:
            done_frames = 0
            tick = time.perf_counter()
            for chunk in _chunks(iter(frames), max(1, cfg.detector.frames_per_batch)):
                tick = timer.add("decode_wait", tick)
                tracked = _process_chunk(chunk, detector, stages, tracker, timer)
                tick = time.perf_counter()
                for fr, tp in zip(chunk, tracked, strict=True):
                    if render is not None:
                        images.append((fr.index, fr.image))
                    emit(smoother.push(tp))
                tick = timer.add("smooth_write", tick)
                done_frames += len(chunk)
                if progress:
                    progress(len(chunk))
            emit(smoother.flush())
            if render is not None:
                while images:
                    render.write(images.popleft()[1], None)
        outputs = [str(p) for p in writer.close()]
        if render is not None:
            outputs.append(str(render.close()))
    except BaseException:
        writer.abort()
        if render is not None:
            render.abort()
        reader.close()
        raise
    reader.close()
    seconds = time.perf_counter() - t_start
    run = {
        "wildpose_version": __version__,
        "input": source,
        "video": name,
        "outputs": [Path(o).name for o in outputs],
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": to_dict(cfg),
        "model": {
            "name": manifest.name,
            "sha256": loaded.sha256,
            "source": loaded.source,
            "keypoints": list(manifest.keypoints),
        },
        "device": str(stages.predictor.device),
        "video_info": asdict(info),
        "frames_read": reader.frames_read,
        "frames_skipped": reader.skipped,
        "skipped_errors": reader.skipped_errors,
        "rows": rows,
        "tracks": len(track_ids),
        "seconds": round(seconds, 3),
        "frames_per_s": round(reader.frames_read / seconds, 3) if seconds > 0 else None,
        "timings_s": {k_: round(v_, 3) for k_, v_ in timer.seconds.items()},
        "versions": versions(),
    }
    run.update(extra_run_info or {})
    run_json = write_json_atomic(out_dir / f"{stem}.run.json", run)
    return TrackResult(
        source,
        outputs + [str(run_json)],
        reader.frames_read,
        reader.skipped,
        rows,
        len(track_ids),
        seconds,
        str(run_json),
        run,
    )


def _process_chunk(
    chunk: list[Frame], detector: Detector, stages: Stages, tracker, timer: _Timer
) -> list[TrackedPoses]:
    """Detect and estimate poses for a chunk of frames; crops of all frames share batches."""
    t = time.perf_counter()
    dets = detector.detect(chunk)
    t = timer.add("detect", t)
    pred = stages.predictor
    k = len(stages.loaded.manifest.keypoints)
    counts = np.array([len(d) for d in dets])
    boxes = np.concatenate([d.xyxy for d in dets]) if counts.sum() else np.zeros((0, 4), np.float32)
    frame_of = np.repeat(np.arange(len(chunk)), counts)
    xy = np.zeros((len(boxes), k, 2), np.float32)
    score = np.zeros((len(boxes), k), np.float32)
    if len(boxes):
        used = np.unique(frame_of)
        frames_t = pred.prepare_frames([chunk[i].image for i in used])
        local = np.searchsorted(used, frame_of)
        bs = max(1, stages.config.pose.batch_size)
        for i in range(0, len(boxes), bs):
            xy[i : i + bs], score[i : i + bs] = pred.predict(
                frames_t, boxes[i : i + bs], local[i : i + bs]
            )
    t = timer.add("pose", t)
    out = []
    starts = np.concatenate([[0], np.cumsum(counts)])
    for j, (fr, d) in enumerate(zip(chunk, dets, strict=True)):
        sl = slice(starts[j], starts[j + 1])
        out.append(tracker.update(fr.index, fr.time_s, d, Poses(xy[sl], score[sl])))
    timer.add("track", t)
    return out
