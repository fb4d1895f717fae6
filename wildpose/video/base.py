"""What every frame source shares: the per-pass tally, the source protocol, error causes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from wildpose.types import Frame

MAX_ERRORS_KEPT = 5
TIME_EPS_S = 1e-6  # start/end comparisons tolerate float rounding of PTS * time_base


def cause(exc: BaseException) -> str:
    """One-line cause of an FFmpeg/decord/OS error, without the file name FFmpeg appends."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split("\n")[-1].split()) or type(exc).__name__


@dataclass
class Tally:
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


class FrameSource(Protocol):
    """A decoder behind :class:`~wildpose.video.reader.VideoReader`.

    ``frames`` makes one pass over the reader's time range, yielding frames in order and noting
    skipped frames and errors in ``tally``; ``name`` is recorded as ``VideoInfo.backend``.
    """

    name: str

    def frames(self, tally: Tally) -> Iterator[Frame]: ...

    def close(self) -> None: ...
