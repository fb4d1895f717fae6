"""The PyAV (FFmpeg) video decoder: seeking, frame indices from packet timestamps, bad packets.

The default decoder: it decodes a frame only when the reader is asked for one, so a paused
reader holds no more than the decoder's reordering window.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

import av
import numpy as np

from wildpose.types import Frame, VideoInfo

from .base import TIME_EPS_S, Tally, cause


def rgb(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a clockwise display rotation to (h, w, 3) RGB; always C-contiguous."""
    if rotation:
        image = np.rot90(image, k=-(rotation // 90))
    return np.ascontiguousarray(image)


class PacketIndex:
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


def count_packets_before(path: str, dts: int) -> int:
    """Number of video packets before decode timestamp ``dts`` (demux only, no decoding)."""
    count = 0
    with av.open(path) as container:
        for packet in container.demux(container.streams.video[0]):
            stamp = packet.dts if packet.dts is not None else packet.pts
            if packet.size == 0 or stamp is None or stamp >= dts:
                break
            count += bool(not packet.is_discard)
    return count


def packet_times(path: str) -> np.ndarray:
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


class PyAVBackend:
    """Decodes with PyAV (FFmpeg), seeking to the keyframe before ``start`` (seconds)."""

    name = "pyav"

    def __init__(self, path: str, info: VideoInfo, start: float | None, end: float | None):
        self.path, self.rotation = path, info.rotation
        self.start, self.end = start, end

    def frames(self, tally: Tally, start: float | None = None) -> Iterator[Frame]:
        """One pass from ``start`` (default: the reader's start) to the reader's end."""
        start = self.start if start is None else start
        if not start:
            tally.next_index = 0 if tally.next_index is None else tally.next_index
        with av.open(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from self._decode(container, stream, start, tally)

    def _decode(
        self, container: Any, stream: Any, start: float | None, tally: Tally
    ) -> Iterator[Frame]:
        tb, t0 = stream.time_base, stream.start_time or 0
        packets = container.demux(stream)
        index = PacketIndex()
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
            index = PacketIndex(count_packets_before(self.path, stamp))
            packets = _chain_one(first, packets)
        ended = True
        for frame in _decode_packets(packets, stream, index, tally, tb, t0):
            time_s = (frame.pts - t0) * float(tb) if frame.pts is not None else float("nan")
            if start and time_s < start - TIME_EPS_S:
                continue
            if self.end is not None and time_s >= self.end - TIME_EPS_S:
                ended = False
                break
            i = index.index_of(frame.pts) if frame.pts is not None else tally.next_index or 0
            yield Frame(i, time_s, rgb(frame.to_ndarray(format="rgb24"), self.rotation))
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
    packets: Iterator[Any], stream: Any, index: PacketIndex, tally: Tally, tb: Any, t0: int
) -> Iterator[av.VideoFrame]:
    """Decode packets in order; a packet that fails is reported and skipped, a read error ends."""
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError as exc:
            tally.note(f"read error, decoding stops: {cause(exc)}")
            break
        index.add(packet)
        try:
            yield from stream.decode(packet)
        except av.error.FFmpegError as exc:
            at = "" if packet.pts is None else f" at {float((packet.pts - t0) * tb):.3f} s"
            tally.note(f"frame{at} failed to decode: {cause(exc)}")
    try:
        yield from stream.decode(None)  # flush (a no-op after the demuxer's own flush packet)
    except av.error.FFmpegError:
        pass
