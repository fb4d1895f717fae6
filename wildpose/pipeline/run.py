"""One input through the stages: decode -> detect -> pose -> track -> smooth -> sinks.

Memory is bounded whatever the video's length: frames are decoded ahead in a thread
(``video.prefetch`` frames), processed in chunks of ``detector.frames_per_batch`` frames whose
crops share pose batches, and rows are written as soon as the smoother releases them.

``--render`` (and ``STEM.contact.png``, a grid of frames across the input) draws every frame
as soon as its chunk is tracked, with the causal (forward Kalman) estimate the smoother has for
that frame at that moment (raw poses when smoothing is off), so no decoded frame waits for the
smoother's lag: the render holds no frame beyond the chunk in flight, and the contact sheet at
most 24 small tiles. The track table's ``x_smooth``/``y_smooth`` are the fixed-lag RTS estimates,
which also use the frames after each one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildpose.atomic import AtomicGroup, write_json
from wildpose.output import AnnotatedVideoWriter, TrackTableWriter
from wildpose.output.contact_sheet import ContactSheet
from wildpose.pipeline.poses import estimate_poses
from wildpose.pipeline.record import RunStats, dump_json, run_record
from wildpose.pipeline.stages import Stages
from wildpose.types import Frame, VideoInfo
from wildpose.video import Prefetcher, VideoReader, open_video

__all__ = ["TrackResult", "output_stem", "track_video"]


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
    column value (default: the source as given). ``progress`` is called with the number of
    frames done after each chunk; ``on_start`` with the expected frame count;
    ``extra_run_info`` is merged into the run record. Outputs get their final names only when
    the input is done: the annotated video first, then the tables and ``STEM.run.json``
    together, the record last; then the exports (``output.format``) and the QC report
    (``output.report``), made from the committed table, each atomically, and ``run.json`` is
    rewritten to list them. On an error (or Ctrl-C) while tracking, no new file gets a final
    name, the temporaries are removed and the exception propagates.
    """
    stats = RunStats()
    v = stages.config.video
    reader = open_video(source, start=v.start, end=v.end, backend=v.backend, image_fps=v.image_fps)
    with reader, AtomicGroup() as group:
        stem = stem or output_stem(reader.source)
        name = video_name if video_name is not None else reader.source
        base = Path(out_dir) / stem
        if on_start:
            on_start(reader.expected_frames)
        outputs = _stream(reader, stages, name, base, group, stats, progress)
        record = run_record(stages, reader, name, outputs, stats, extra_run_info)
        run_json = base.with_name(f"{stem}.run.json")
        dump_json(group.path(run_json), record)
        group.commit()
    extra = _export(stages, outputs)
    if stages.config.output.report:
        from wildpose.report import write_report

        table = _table_of(outputs)
        extra.append(write_report([table], base.with_name(f"{stem}.report.html")))
    if extra:
        outputs = [*outputs, *extra]
        record["outputs"] = [*record["outputs"], *(p.name for p in extra)]
        record["exports"] = [p.name for p in extra if not p.name.endswith(".report.html")]
        write_json(run_json, record)
    return TrackResult(
        reader.source,
        [str(p) for p in [*outputs, run_json]],
        reader.frames_read,
        reader.skipped,
        stats.rows,
        len(stats.track_ids),
        record["seconds"],
        str(run_json),
        record,
    )


def _stream(
    reader: VideoReader,
    stages: Stages,
    name: str,
    base: Path,
    group: AtomicGroup,
    stats: RunStats,
    progress: Callable[[int], None] | None,
) -> list[Path]:
    """Run every frame of ``reader`` through the stages into the sinks; returns their paths."""
    cfg = stages.config
    names = reader.image_paths  # image sequences: per-frame file names (box files use them)
    detector = stages.detector_for(reader.source, [str(p) for p in names] if names else None)
    fps = reader.info.fps if reader.info.fps > 0 else 1.0
    tracker, smoother = stages.new_tracker(fps), stages.new_smoother()
    chunk_size = max(1, cfg.detector.frames_per_batch)
    with ExitStack() as sinks:  # writers abort on an exception, close otherwise
        tables = sinks.enter_context(_table_writer(stages, reader.info, base, group))
        render = sheet = None
        if cfg.output.render:
            render = sinks.enter_context(_render_writer(stages, fps, reader.info, base))
            sheet = _contact_sheet(stages, reader, name)
        frames = sinks.enter_context(Prefetcher(reader, max(1, cfg.video.prefetch)))
        for chunk in stats.timed_iter("decode_wait", _chunks(frames, chunk_size)):
            with stats.timed("detect"):
                detections = detector.detect(chunk)
            stats.detected(detections)
            with stats.timed("pose"):
                poses = estimate_poses(
                    stages.predictor, chunk, detections, stages.num_keypoints, cfg.pose.batch_size
                )
            for frame, det, pose in zip(chunk, detections, poses, strict=True):
                with stats.timed("track"):
                    tracked = tracker.update(frame.index, frame.time_s, det, pose)
                with stats.timed("smooth_write"):
                    done = smoother.push(tracked)
                    stats.wrote(done, tables.write(name, done))
                if render is not None:
                    render.write(frame.image, smoother.latest)
                if sheet is not None and sheet.wants(frame.index):
                    sheet.offer(frame.index, frame.image, smoother.latest)
            if progress:
                progress(len(chunk))
        done = smoother.flush()
        stats.wrote(done, tables.write(name, done))
    extra = []
    if render is not None and sheet is not None:
        contact = base.with_name(f"{base.name}.contact.png")
        group.path(contact).write_bytes(sheet.png())  # committed with the tables
        extra = [render.path, contact]
    return tables.final_paths + extra


def _export(stages: Stages, outputs: list[Path]) -> list[Path]:
    """The ``--format`` exports (DeepLabCut, SLEAP, NWB, netCDF) made from the committed track
    table, each written atomically; returns their paths."""
    out = stages.config.output
    if not out.exports:
        return []
    from wildpose.interop.export import export_after_track

    table = _table_of(outputs)
    return export_after_track(table, out.exports, table.parent, stages.config.export)


def _table_of(outputs: list[Path]) -> Path:
    """The track table among an input's outputs (Parquet first)."""
    return next(p for p in outputs if p.name.endswith((".tracks.parquet", ".tracks.csv")))


def _chunks(frames: Iterable[Frame], n: int) -> Iterator[list[Frame]]:
    it = iter(frames)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def _table_writer(
    stages: Stages, info: VideoInfo, base: Path, group: AtomicGroup
) -> TrackTableWriter:
    """``BASE.tracks.parquet`` and/or ``.csv``, committed by ``group``."""
    out = stages.config.output
    manifest = stages.loaded.manifest
    metadata = {
        "skeleton": [list(p) for p in manifest.skeleton],
        "model": manifest.name,
        "model_sha256": stages.loaded.sha256,
        "video_fps": info.fps,
        "video_size": [info.width, info.height],
        "video_frame_count": info.frame_count,
        "detector": stages.config.detector.model,
    }
    return TrackTableWriter(
        base.parent,
        base.name,
        list(out.tables),
        manifest.keypoints,
        metadata,
        out.row_group_frames,
        group=group,
    )


def _render_writer(stages: Stages, fps: float, info: VideoInfo, base: Path) -> AnnotatedVideoWriter:
    manifest = stages.loaded.manifest
    return AnnotatedVideoWriter(
        base.with_name(f"{base.name}.annotated.mp4"),
        fps,
        (info.width, info.height),
        manifest.skeleton,
        manifest.keypoints,
        points=stages.config.output.render_points,
    )


def _contact_sheet(stages: Stages, reader: VideoReader, title: str) -> ContactSheet:
    """A grid of frames across the input (at most a few dozen small tiles held)."""
    info, manifest = reader.info, stages.loaded.manifest
    return ContactSheet(
        (info.width, info.height),
        manifest.skeleton,
        manifest.keypoints,
        expected_frames=info.frame_count or None,
        points=stages.config.output.render_points,
        title=title,
    )
