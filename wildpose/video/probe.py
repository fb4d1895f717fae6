"""Probing: what a video file or image sequence holds, read from its container and first frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from wildpose.errors import InputError
from wildpose.messages import display_path
from wildpose.types import VideoInfo

from .base import cause
from .images import ImageBackend, image_paths, source_label

_PROBE_MAX_PACKETS = 300  # packets demuxed looking for a first decodable frame


def check_file(path: Path) -> None:
    """Raise InputError for a missing, non-regular or empty file."""
    if not path.exists():
        raise InputError("file not found", path=display_path(path))
    if not path.is_file():
        raise InputError("not a file", path=display_path(path))
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)", path=display_path(path))


def _first_frame(container: Any, stream: Any, path: Path) -> av.VideoFrame:
    """Decode the stream's first frame, or raise InputError saying why there is none."""
    if stream.codec_context is None:
        raise InputError(
            "unsupported codec: FFmpeg has no decoder for its video stream", path=display_path(path)
        )
    codec, errors, packets = stream.codec_context.name, [], 0
    try:
        for packet in container.demux(stream):
            packets += bool(packet.size)
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as exc:
                errors.append(cause(exc))
                frames = []
            if frames:
                return frames[0]
            if packets >= _PROBE_MAX_PACKETS:
                break
    except av.error.FFmpegError as exc:
        errors.append(cause(exc))
    if packets == 0:
        raise InputError("video stream has zero frames", path=display_path(path))
    detail = f" ({errors[0]})" if errors else ""
    raise InputError(
        f"no frame of its {codec} video stream could be decoded{detail}", path=display_path(path)
    )


def _rotation_cw(frame: av.VideoFrame, stream: Any) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270) from the display matrix or tag."""
    ccw = frame.rotation  # FFmpeg's display matrix angle: counterclockwise degrees
    if not ccw:
        ccw = -float(stream.metadata.get("rotate", 0) or 0)
    return int(round(-ccw / 90.0)) % 4 * 90


def probe_video(path: Path) -> tuple[VideoInfo, np.ndarray]:
    """Container facts and the first frame, (h, w, 3) uint8 RGB in stored (unrotated) order."""
    check_file(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(f"not a readable video ({cause(exc)})", path=display_path(path)) from None
    with container:
        if not container.streams.video:
            raise InputError(
                "no video stream (audio-only or empty container)", path=display_path(path)
            )
        stream = container.streams.video[0]
        first = _first_frame(container, stream, path)
        fps = float(stream.average_rate or stream.guessed_rate or stream.base_rate or 0)
        if stream.duration:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (container.duration or 0) / av.time_base
        count = stream.frames or int(round(duration * fps))
        rotation = _rotation_cw(first, stream)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        info = VideoInfo(
            path=str(path),
            fps=fps,
            frame_count=int(count),
            width=width,
            height=height,
            duration_s=duration,
            rotation=rotation,
            codec=stream.codec_context.name,
            pix_fmt=first.format.name,
        )
        return info, first.to_ndarray(format="rgb24")


def probe(path: str | Path | Sequence[str | Path], *, image_fps: float = 1.0) -> VideoInfo:
    """Describe a video file (decoding only its first frame) or an image folder/glob/list.

    Raises InputError (one line naming the file) for a missing or empty file, a file that is not
    a video, an audio-only file, zero frames, or a codec FFmpeg cannot decode.
    """
    paths = image_paths(source=path)
    if paths is not None:
        return ImageBackend(paths, None, None, image_fps).info(source_label(path))
    return probe_video(Path(path))[0]
