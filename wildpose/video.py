"""Frame sources: video files (decord, PyAV fallback), image folders and globs, and prefetching.

``open_video`` returns a :class:`VideoReader` whose iteration yields :class:`~wildpose.types.Frame`
values: ``image`` (H, W, 3) uint8 RGB, C-contiguous, rotation metadata applied, grayscale/IR
replicated to three channels; ``index`` the 0-based position of the frame in the whole input;
``time_s`` its presentation time in seconds relative to the stream start (variable frame rate
stays exact). decord is used where it is installed and decodes the file like FFmpeg does (checked
on the first frame); PyAV decodes everything else. Frames that fail to decode are skipped,
counted in ``VideoReader.skipped`` and described in ``VideoReader.skipped_errors``.

:class:`Prefetcher` runs any iterator (frames now, batch inputs later) ahead in a thread with a
bounded queue and stops it promptly on close, error, Ctrl-C or garbage collection.
"""

from __future__ import annotations

import glob
import heapq
import logging
import queue
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import av
import numpy as np
from PIL import ExifTags, Image, ImageOps

from wildpose.errors import ConfigError, InputError
from wildpose.types import Frame, VideoInfo

log = logging.getLogger(__name__)

Backend = Literal["auto", "decord", "pyav"]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
MAX_ERRORS_KEPT = 5
# decord and PyAV both wrap FFmpeg, so a correct decode agrees to ~0 grey levels; 4:4:4 chroma,
# rotation or colour-range bugs show up as differences of tens.
DECORD_MAX_MEAN_ABS_DIFF = 2.0
_TIME_EPS_S = 1e-6  # start/end comparisons tolerate float rounding of PTS * time_base
_PROBE_MAX_PACKETS = 300


def _cause(exc: BaseException) -> str:
    """One-line cause of an FFmpeg/decord/OS error, without the file name FFmpeg appends."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split("\n")[-1].split()) or type(exc).__name__


# --------------------------------------------------------------------------------------------
# Probing


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("file not found", path=path)
    if not path.is_file():
        raise InputError("not a file", path=path)
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)", path=path)


def _first_frame(container: Any, stream: Any, path: Path) -> av.VideoFrame:
    """Decode the stream's first frame, or raise InputError saying why there is none."""
    if stream.codec_context is None:
        raise InputError("unsupported codec: FFmpeg has no decoder for its video stream", path=path)
    codec, errors, packets = stream.codec_context.name, [], 0
    try:
        for packet in container.demux(stream):
            packets += bool(packet.size)
            try:
                frames = stream.decode(packet)
            except av.error.FFmpegError as exc:
                errors.append(_cause(exc))
                frames = []
            if frames:
                return frames[0]
            if packets >= _PROBE_MAX_PACKETS:
                break
    except av.error.FFmpegError as exc:
        errors.append(_cause(exc))
    if packets == 0:
        raise InputError("video stream has zero frames", path=path)
    detail = f" ({errors[0]})" if errors else ""
    raise InputError(f"no frame of its {codec} video stream could be decoded{detail}", path=path)


def _rotation_cw(frame: av.VideoFrame, stream: Any) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270) from the display matrix or tag."""
    ccw = frame.rotation  # FFmpeg's display matrix angle: counterclockwise degrees
    if not ccw:
        ccw = -float(stream.metadata.get("rotate", 0) or 0)
    return int(round(-ccw / 90.0)) % 4 * 90


def _probe_video(path: Path) -> tuple[VideoInfo, np.ndarray]:
    """Container facts and the first frame, (h, w, 3) uint8 RGB in stored (unrotated) order."""
    _check_file(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise InputError(f"not a readable video ({_cause(exc)})", path=path) from None
    with container:
        if not container.streams.video:
            raise InputError("no video stream (audio-only or empty container)", path=path)
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
    paths = _image_paths(source=path)
    if paths is not None:
        return _ImageBackend(paths, None, None, image_fps).info(source_label(path))
    return _probe_video(Path(path))[0]


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Tally:
    """Counts of one decoding pass. Indices are expected to rise by one; gaps are skipped frames."""

    frames_read: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    next_index: int | None = None

    def note(self, message: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)

    def delivered(self, index: int) -> None:
        if self.next_index is not None and index > self.next_index:
            self.skipped += index - self.next_index
        self.next_index = index + 1
        self.frames_read += 1

    def tail(self, total: int) -> int:
        """The pass ended; count frames up to index ``total`` never delivered. Returns them."""
        missing = 0 if self.next_index is None else max(0, total - self.next_index)
        self.skipped += missing
        return missing


class VideoReader:
    """An opened input. Iterate for frames; each iteration is a fresh pass over [start, end).

    Attributes: ``info`` (:class:`VideoInfo`, ``backend`` says which decoder runs), ``source``
    (the input as given), and for the latest pass ``frames_read``, ``skipped`` (frames that
    failed to decode or were missing) and ``skipped_errors`` (the first few messages).
    """

    def __init__(
        self,
        source: str,
        info: VideoInfo,
        backend: Any,
        start: float | None = None,
        end: float | None = None,
    ) -> None:
        self.source, self.info = source, info
        self.start, self.end = start, end
        self._backend = backend
        self._tally = _Tally()
        self._closed = False
        self._active: Iterator[Frame] | None = None

    @property
    def image_paths(self) -> list[Path] | None:
        """The files of an image sequence, in decode order; None for a video file."""
        paths = getattr(self._backend, "paths", None)
        return list(paths) if paths is not None else None

    @property
    def frames_read(self) -> int:
        return self._tally.frames_read

    @property
    def skipped(self) -> int:
        return self._tally.skipped

    @property
    def skipped_errors(self) -> list[str]:
        return list(self._tally.errors)

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise ValueError(f"{self.source}: reader is closed")
        self._tally = _Tally()
        self._active = self._run(self._tally)
        return self._active

    def _run(self, tally: _Tally) -> Iterator[Frame]:
        for frame in self._backend.frames(tally):
            if self._closed:
                return
            tally.delivered(frame.index)
            yield frame
        if tally.frames_read == 0:
            raise InputError(self._nothing_read(tally), path=self.source)

    def _nothing_read(self, tally: _Tally) -> str:
        if self.start is not None or self.end is not None:
            span = f"[{self.start or 0:g}, {'end' if self.end is None else f'{self.end:g}'}) s"
            return (
                f"no frames in the time range {span}; it lasts about {self.info.duration_s:.3f} s"
            )
        cause = f": {tally.errors[0]}" if tally.errors else ""
        return f"no frame could be decoded{cause}"

    def close(self) -> None:
        """Stop the current pass (from any thread: it ends at its next frame) and free decoders."""
        self._closed = True
        active, self._active = self._active, None
        if active is not None:
            try:
                active.close()  # type: ignore[attr-defined]
            except ValueError:  # running in another thread (a Prefetcher): it stops itself
                pass
        self._backend.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgb(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a clockwise display rotation to (h, w, 3) RGB; always C-contiguous."""
    if rotation:
        image = np.rot90(image, k=-(rotation // 90))
    return np.ascontiguousarray(image)


class _PacketIndex:
    """Frame index from packet PTS: the number of the stream's packets presented before a frame.

    The decoder emits frames in presentation order, and every packet presented before frame
    ``f`` is demuxed before ``f`` comes out, so counting demuxed PTS below ``f.pts`` gives its
    index in the whole file, unaffected by frames that fail to decode. Memory is bounded by the
    decoder's reordering window.
    """

    def __init__(self, base: int = 0) -> None:
        self._pending: list[int] = []
        self._below = base
        self.total = base

    def add(self, packet: Any) -> None:
        if packet.size and packet.pts is not None and not packet.is_discard:
            heapq.heappush(self._pending, packet.pts)
            self.total += 1

    def index_of(self, pts: int) -> int:
        while self._pending and self._pending[0] < pts:
            heapq.heappop(self._pending)
            self._below += 1
        return self._below


def _count_packets_before(path: str, dts: int) -> int:
    """Number of video packets before decode timestamp ``dts`` (demux only, no decoding)."""
    count = 0
    with av.open(path) as container:
        for packet in container.demux(container.streams.video[0]):
            stamp = packet.dts if packet.dts is not None else packet.pts
            if packet.size == 0 or stamp is None or stamp >= dts:
                break
            count += bool(not packet.is_discard)
    return count


class _PyAVBackend:
    """Decodes with PyAV (FFmpeg), seeking to the keyframe before ``start``."""

    name = "pyav"

    def __init__(self, path: str, info: VideoInfo, start: float | None, end: float | None):
        self.path, self.rotation = path, info.rotation
        self.start, self.end = start, end

    def frames(self, tally: _Tally, start: float | None = None) -> Iterator[Frame]:
        start = self.start if start is None else start
        if not start:
            tally.next_index = 0 if tally.next_index is None else tally.next_index
        with av.open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from self._decode(container, stream, start, tally)

    def _decode(
        self, container: Any, stream: Any, start: float | None, tally: _Tally
    ) -> Iterator[Frame]:
        tb, t0 = stream.time_base, stream.start_time or 0
        packets = container.demux(stream)
        index = _PacketIndex()
        if start:
            # Prime the decoder with the first packet before seeking: some streams carry state
            # only there, e.g. x264's version SEI, which FFmpeg needs to undo the 4:4:4 bug of
            # x264 builds < 151 (the DeepLabCut open-field video decodes to garbage without it).
            _prime(container, stream)
            container.seek(t0 + int(start / tb), stream=stream, backward=True)
            packets = container.demux(stream)
            first = next(packets, None)
            if first is None:
                return
            stamp = first.dts if first.dts is not None else first.pts
            index = _PacketIndex(_count_packets_before(self.path, stamp))
            packets = _chain_one(first, packets)
        ended = True
        for frame in _decode_packets(packets, stream, index, tally, tb, t0):
            time_s = (frame.pts - t0) * float(tb) if frame.pts is not None else float("nan")
            if start and time_s < start - _TIME_EPS_S:
                continue
            if self.end is not None and time_s >= self.end - _TIME_EPS_S:
                ended = False
                break
            i = index.index_of(frame.pts) if frame.pts is not None else tally.next_index or 0
            yield Frame(i, time_s, _rgb(frame.to_ndarray(format="rgb24"), self.rotation))
        total = max(stream.frames, index.total)
        if ended and tally.tail(total):
            tally.note(
                f"stream ended after frame {tally.next_index - 1} but the container lists "
                f"{total} frames (truncated file?)"
            )

    def close(self) -> None:
        pass


def _prime(container: Any, stream: Any) -> None:
    try:
        next(container.decode(stream), None)
    except av.error.FFmpegError:
        pass  # a broken start is reported, if it matters, by the pass itself


def _chain_one(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _decode_packets(
    packets: Iterator[Any], stream: Any, index: _PacketIndex, tally: _Tally, tb: Any, t0: int
) -> Iterator[av.VideoFrame]:
    """Decode packets in order; a packet that fails is reported and skipped, a read error ends."""
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            tally.note(f"read error, decoding stops: {_cause(exc)}")
            break
        index.add(packet)
        try:
            yield from stream.decode(packet)
        except av.error.FFmpegError as exc:
            at = "" if packet.pts is None else f" at {float((packet.pts - t0) * tb):.3f} s"
            tally.note(f"frame{at} failed to decode: {_cause(exc)}")
    try:
        yield from stream.decode(None)  # flush (a no-op after the demuxer's own flush packet)
    except av.error.FFmpegError:
        pass


class _DecordUnfit(Exception):
    """decord cannot read this file correctly; ``loud`` when users should hear about it."""

    def __init__(self, message: str, *, loud: bool = False) -> None:
        super().__init__(message)
        self.loud = loud


class _DecordBackend:
    """Decodes with decord; hands over to PyAV from the failing frame if decord raises."""

    name = "decord"

    def __init__(self, path: str, info: VideoInfo, first_rgb: np.ndarray, pyav: _PyAVBackend):
        self.path = path
        self._vr, self._ts = _open_decord(path, info, first_rgb)
        self.frame_count = len(self._ts)
        self._pyav = pyav

    def frames(self, tally: _Tally) -> Iterator[Frame]:
        vr, ts = self._vr, self._ts
        if vr is None:  # decord failed in an earlier pass
            yield from self._pyav.frames(tally)
            return
        start, end = self._pyav.start, self._pyav.end
        i0 = int(np.searchsorted(ts, start - _TIME_EPS_S)) if start else 0
        i1 = int(np.searchsorted(ts, end - _TIME_EPS_S)) if end is not None else len(ts)
        tally.next_index = i0
        from decord import DECORDError

        for i in range(i0, i1):
            try:
                if i == i0:
                    vr.seek_accurate(i0)
                image = vr.next().asnumpy()
            except DECORDError as exc:
                log.warning(
                    "%s: decord failed at frame %d (%s); PyAV takes over", self.path, i, exc
                )
                tally.note(f"decord failed at frame {i}; PyAV decodes the rest")
                self._vr = None
                yield from self._pyav.frames(tally, start=float(ts[i]))
                return
            yield Frame(i, float(ts[i]), image)

    def close(self) -> None:
        self._vr = None


def _open_decord(path: str, info: VideoInfo, first_rgb: np.ndarray) -> tuple[Any, np.ndarray]:
    """Open with decord, checked against FFmpeg on the first frame; else raise _DecordUnfit.

    Returns the decord reader and the (T,) float64 frame times in seconds from the packets' PTS
    (decord's own timestamps are float32, off by up to ~1e-4 s after an hour).
    """
    if info.rotation:
        raise _DecordUnfit("decord mishandles rotation metadata (returns malformed frames)")
    import decord

    try:
        vr = decord.VideoReader(path, ctx=decord.cpu(0))
        n = len(vr)
        first = vr[0].asnumpy() if n else None
        coarse = vr.get_frame_timestamp(np.arange(n))[:, 0] if n else np.zeros(0)
    except decord.DECORDError as exc:
        raise _DecordUnfit(f"decord cannot open it ({_cause(exc)[:120]})") from None
    if first is None:
        raise _DecordUnfit("decord finds no frames")
    if first.shape != first_rgb.shape:
        raise _DecordUnfit(f"decord returns {first.shape} frames, FFmpeg {first_rgb.shape}")
    diff = float(np.abs(first.astype(np.int16) - first_rgb).mean())
    if diff > DECORD_MAX_MEAN_ABS_DIFF:
        raise _DecordUnfit(
            f"decord decodes its {info.pix_fmt} frames differently from FFmpeg "
            f"(mean abs difference {diff:.1f} grey levels)",
            loud=True,
        )
    times = _packet_times(path)
    if times.shape != coarse.shape or np.abs(times - (coarse - coarse[0])).max() > 1e-3:
        raise _DecordUnfit("decord's frame list does not match the container's packets")
    return vr, times


def _packet_times(path: str) -> np.ndarray:
    """(T,) float64 presentation times in s (from stream start) of all video packets, sorted."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        pts = [
            p.pts
            for p in container.demux(stream)
            if p.size and p.pts is not None and not p.is_discard
        ]
        t0, tb = stream.start_time or 0, stream.time_base
    return (np.sort(np.array(pts, dtype=np.int64)) - t0) * float(tb)


def _choose_backend(
    path: Path, info: VideoInfo, first: np.ndarray, pyav: _PyAVBackend, want: Backend
) -> _PyAVBackend | _DecordBackend:
    """PyAV for "auto" and "pyav"; decord only when asked for and fit for this file.

    "auto" streams with PyAV: once read from, a decord 0.6 reader keeps decoding the rest of the
    file in a background thread, unbounded (dmlc/decord#157, #208), while the pose model runs.
    Measured on the 2330-frame open-field video: it took about a core from the pose model
    (end-to-end / pose-only 0.49 vs 0.83 with PyAV) and peak memory grew with the video length
    (+15 % for 10x the frames vs +1 % with PyAV).
    """
    if want in ("pyav", "auto"):
        return pyav
    try:
        decord_backend = _DecordBackend(str(path), info, first, pyav)
    except ImportError:
        if want == "decord":
            raise ConfigError("backend 'decord' requested but decord is not installed") from None
        return pyav
    except _DecordUnfit as exc:
        if want == "decord":
            raise InputError(f"{exc}; use the pyav backend", path=path) from None
        log.log(logging.WARNING if exc.loud else logging.INFO, "%s: %s; using PyAV", path, exc)
        return pyav
    return decord_backend


def _check_range(start: float | None, end: float | None) -> None:
    if start is not None and start < 0:
        raise ConfigError(f"start time must be >= 0 s, got {start:g}")
    if end is not None and end <= (start or 0):
        raise ConfigError(f"end time ({end:g} s) must be after start time ({start or 0:g} s)")


def open_video(
    source: str | Path | Sequence[str | Path],
    *,
    start: float | None = None,
    end: float | None = None,
    backend: Backend = "auto",
    image_fps: float = 1.0,
) -> VideoReader:
    """Open a video file, a folder of images, a glob of images or a list of image paths (kept
    in the given order, e.g. a camera-trap burst) for decoding.

    ``start``/``end`` (seconds) select frames with start <= time_s < end. ``backend``: "auto"
    (PyAV, see :func:`_choose_backend`), "decord" (checked against PyAV on the first frame and
    refused with a one-line error where it mishandles the file) or "pyav". Image
    sequences are sorted naturally (img2 before img10) and timed from EXIF capture times when
    every image has one, else ``index / image_fps``.
    """
    if backend not in ("auto", "decord", "pyav"):
        raise ConfigError(f"unknown video backend {backend!r} (auto, decord, pyav)")
    _check_range(start, end)
    paths = _image_paths(source)
    if paths is not None:
        images = _ImageBackend(paths, start, end, image_fps)
        label = source_label(source)
        return VideoReader(label, images.info(label), images, start, end)
    path = Path(source)
    info, first = _probe_video(path)
    pyav = _PyAVBackend(str(path), info, start, end)
    chosen = _choose_backend(path, info, first, pyav, backend)
    info = replace(info, backend=chosen.name)
    if chosen is not pyav:
        info = replace(info, frame_count=chosen.frame_count)
    return VideoReader(str(source), info, chosen, start, end)


# --------------------------------------------------------------------------------------------
# Image sequences


def natural_key(text: str) -> list[Any]:
    """Sort key ordering digit runs by value: img2 before img10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def source_label(source: str | Path | Sequence[str | Path]) -> str:
    """How an input is named in messages: the path, or ``FOLDER/FIRST..LAST`` for a list."""
    if isinstance(source, str | Path):
        return str(source)
    paths = [Path(p) for p in source]
    if not paths:
        return "(no images)"
    return str(paths[0].parent / f"{paths[0].name}..{paths[-1].name}")


def _image_paths(source: str | Path | Sequence[str | Path]) -> list[Path] | None:
    """The images of an explicit list (kept in order), or the naturally sorted images of a
    folder or glob pattern; None for anything else."""
    if not isinstance(source, str | Path):
        found = [Path(p) for p in source]
        if not found:
            raise InputError("empty list of images", path=source_label(source))
        return found
    path = Path(source)
    if path.is_dir():
        found = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not found:
            raise InputError("folder holds no images (jpg, png, bmp, tif, webp)", path=path)
    elif not path.exists() and any(c in str(source) for c in "*?["):
        found = [Path(p) for p in glob.glob(str(source))]
        found = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not found:
            raise InputError("no images match this pattern", path=str(source))
    else:
        return None
    return sorted(found, key=lambda p: natural_key(str(p)))


def _read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB with EXIF orientation applied; 16-bit (IR) images keep the top byte."""
    with _open_image(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            grey = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


# ImportError: see _open_image.
_UNREADABLE = (OSError, ValueError, ImportError, Image.DecompressionBombError)


def _open_image(path: Path) -> Image.Image:
    """``PIL.Image.open``, bypassing ultralytics' replacement of it when a detector is loaded
    (that one tries an optional HEIF plugin on unidentifiable images and fails with ImportError
    instead of PIL's clear "cannot identify image file")."""
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)(path)


def exif_seconds(path: Path) -> float | None:
    """Capture time (DateTimeOriginal + SubsecTimeOriginal, else DateTime) in seconds, or None."""
    try:
        with _open_image(path) as im:
            exif = im.getexif()
    except _UNREADABLE:
        return None
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    stamp, subsec = (
        sub.get(ExifTags.Base.DateTimeOriginal),
        sub.get(ExifTags.Base.SubsecTimeOriginal),
    )
    if not stamp:
        stamp, subsec = exif.get(ExifTags.Base.DateTime), sub.get(ExifTags.Base.SubsecTime)
    try:
        when = datetime.strptime(str(stamp).strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    digits = "".join(c for c in str(subsec or "") if c.isdigit())
    return (when - datetime(1970, 1, 1)).total_seconds() + (float(f"0.{digits}") if digits else 0)


class _ImageBackend:
    """Images read one by one with Pillow; an unreadable image is skipped and reported."""

    name = "images"

    def __init__(self, paths: list[Path], start: float | None, end: float | None, fps: float):
        if fps <= 0:
            raise ConfigError(f"image_fps must be > 0, got {fps:g}")
        self.paths, self.start, self.end = paths, start, end
        stamps = [exif_seconds(p) for p in paths]
        times = np.array(stamps, dtype=np.float64) if None not in stamps else None
        if times is not None and len(times) > 1 and np.all(np.diff(times) > 0):
            self.times, self.fps = times - times[0], (len(times) - 1) / (times[-1] - times[0])
        else:
            if times is not None and len(times) > 1:
                log.warning("%s: EXIF capture times not increasing; using index / fps", paths[0])
            self.times, self.fps = np.arange(len(paths)) / fps, fps

    def info(self, source: str) -> VideoInfo:
        for path in self.paths:
            try:
                height, width = _read_image(path).shape[:2]
                break
            except _UNREADABLE:
                continue
        else:
            raise InputError("none of its images can be read", path=source)
        return VideoInfo(
            path=source,
            fps=float(self.fps),
            frame_count=len(self.paths),
            width=width,
            height=height,
            duration_s=float(self.times[-1] + 1.0 / self.fps),
            codec="image",
            pix_fmt="rgb24",
            backend=self.name,
        )

    def frames(self, tally: _Tally) -> Iterator[Frame]:
        end = np.inf if self.end is None else self.end
        chosen = np.flatnonzero(
            (self.times >= (self.start or 0) - _TIME_EPS_S) & (self.times < end - _TIME_EPS_S)
        )
        if chosen.size == 0:
            return
        tally.next_index = int(chosen[0])
        for i in chosen:
            try:
                image = _read_image(self.paths[i])
            except _UNREADABLE as exc:
                tally.note(f"{self.paths[i]}: cannot read image ({_cause(exc)})")
                continue
            yield Frame(int(i), float(self.times[i]), image)
        tally.tail(int(chosen[-1]) + 1)

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------------------------
# Prefetching

T = TypeVar("T")
_ITEM, _DONE, _ERROR = "item", "done", "error"
_POLL_S = 0.05


def _put(q: queue.Queue, stop: threading.Event, message: tuple[str, Any]) -> bool:
    """Put unless stopped (or the interpreter is shutting down); False when the put gave up."""
    main = threading.main_thread()
    while not stop.is_set():
        try:
            q.put(message, timeout=_POLL_S)
            return True
        except queue.Full:
            if not main.is_alive():
                return False
    return False


def _produce(iterator: Iterator[Any], q: queue.Queue, stop: threading.Event) -> None:
    """Thread body: holds no reference to the Prefetcher, so an abandoned one is collected."""
    try:
        for item in iterator:
            if not _put(q, stop, (_ITEM, item)) or stop.is_set():
                return
        _put(q, stop, (_DONE, None))
    except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
        _put(q, stop, (_ERROR, exc))
    finally:
        close: Callable[[], None] | None = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()  # e.g. a generator's finally closes its container, in this thread
            except Exception:  # noqa: BLE001 - nobody to report to once stopped
                log.exception("closing the prefetched iterator failed")


def _shutdown(stop: threading.Event, q: queue.Queue, thread: threading.Thread) -> None:
    stop.set()
    _drain(q)
    if thread is not threading.current_thread():
        thread.join()
    _drain(q)


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


class Prefetcher(Generic[T]):
    """Iterate ``iterable`` in a background (non-daemon) thread, up to ``maxsize`` items ahead.

    Items arrive in order; an exception raised by the producer is re-raised in the consumer
    after the items produced before it. ``close()`` (also ``__exit__`` and garbage collection)
    stops the producer within ~50 ms even while it waits on a full queue (or after its current
    item, if it is inside one), closes the source iterator in the producer thread and joins it.
    Use as ``with Prefetcher(reader, 16) as frames: for frame in frames: ...``.
    """

    def __init__(self, iterable: Iterable[T], maxsize: int = 8, *, name: str = "wildpose-prefetch"):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce, args=(iter(iterable), self._queue, self._stop), name=name, daemon=False
        )
        self._thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, self._stop, self._queue, self._thread)

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, payload = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    kind, payload = _DONE, None  # stopped by close() from another thread
                    break
        if kind == _ITEM:
            return payload
        self.close()
        if kind == _ERROR:
            raise payload
        raise StopIteration

    def close(self) -> None:
        """Stop the producer, drop queued items and join the thread (idempotent)."""
        self._done = True
        self._finalizer()

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
