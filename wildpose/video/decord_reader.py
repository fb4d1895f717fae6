"""The decord video decoder, used only when asked for and only where it decodes like FFmpeg.

decord 0.6 keeps decoding the rest of a file in a background thread once read from, without
bound (dmlc/decord#157, #208), and mishandles rotation metadata and some frame widths, so each
file is checked against PyAV on its first frame and refused where they differ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from wildpose.types import Frame, VideoInfo

from .base import TIME_EPS_S, Tally, cause
from .pyav_reader import PyAVBackend, packet_times

log = logging.getLogger(__name__)

# decord and PyAV both wrap FFmpeg, so a correct decode agrees to ~0 grey levels; 4:4:4 chroma,
# rotation or colour-range bugs show up as differences of tens.
DECORD_MAX_MEAN_ABS_DIFF = 2.0


class DecordUnfit(Exception):
    """decord cannot read this file correctly (the message says why)."""


class DecordBackend:
    """Decodes with decord; hands over to PyAV from the failing frame if decord raises.

    Raises ImportError when decord is not installed and :class:`DecordUnfit` when it would
    decode this file differently from FFmpeg.
    """

    name = "decord"

    def __init__(self, path: str, info: VideoInfo, first_rgb: np.ndarray, pyav: PyAVBackend):
        self.path = path
        self._vr, self._ts = _open_decord(path, info, first_rgb)
        self.frame_count = len(self._ts)
        self._pyav = pyav

    def frames(self, tally: Tally) -> Iterator[Frame]:
        vr, ts = self._vr, self._ts
        if vr is None:  # decord failed in an earlier pass
            yield from self._pyav.frames(tally)
            return
        start, end = self._pyav.start, self._pyav.end
        i0 = int(np.searchsorted(ts, start - TIME_EPS_S)) if start else 0
        i1 = int(np.searchsorted(ts, end - TIME_EPS_S)) if end is not None else len(ts)
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
    """Open with decord, checked against FFmpeg on the first frame; else raise DecordUnfit.

    Returns the decord reader and the (T,) float64 frame times in seconds from the packets' PTS
    (decord's own timestamps are float32, off by up to ~1e-4 s after an hour).
    """
    if info.rotation:
        raise DecordUnfit("decord mishandles rotation metadata (returns malformed frames)")
    import decord

    try:
        vr = decord.VideoReader(path, ctx=decord.cpu(0))
        n = len(vr)
        first = vr[0].asnumpy() if n else None
        coarse = vr.get_frame_timestamp(np.arange(n))[:, 0] if n else np.zeros(0)
    except decord.DECORDError as exc:
        raise DecordUnfit(f"decord cannot open it ({cause(exc)[:120]})") from None
    if first is None:
        raise DecordUnfit("decord finds no frames")
    if first.shape != first_rgb.shape:
        raise DecordUnfit(f"decord returns {first.shape} frames, FFmpeg {first_rgb.shape}")
    diff = float(np.abs(first.astype(np.int16) - first_rgb).mean())
    if diff > DECORD_MAX_MEAN_ABS_DIFF:
        raise DecordUnfit(
            f"decord decodes its {info.pix_fmt} frames differently from FFmpeg "
            f"(mean abs difference {diff:.1f} grey levels)"
        )
    times = packet_times(path)
    if times.shape != coarse.shape or np.abs(times - (coarse - coarse[0])).max() > 1e-3:
        raise DecordUnfit("decord's frame list does not match the container's packets")
    return vr, times
