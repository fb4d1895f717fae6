"""Values passed between pipeline stages.

Every stage takes and returns these frozen dataclasses of parallel numpy arrays; no stage mutates
its input. Coordinates are image pixels with the origin at the top-left corner of the top-left
pixel, x to the right, y down. Per-frame values hold N animals and K keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What is known about an input before decoding it.

    ``width``/``height`` are those of the decoded frames *after* rotation metadata is applied.
    ``frame_count`` is the container's count (an estimate for some formats; the pipeline reports
    the number of frames actually read). ``rotation`` is in degrees clockwise (0, 90, 180, 270).
    """

    path: str
    fps: float
    frame_count: int
    width: int
    height: int
    duration_s: float
    rotation: int = 0
    codec: str = ""
    pix_fmt: str = ""
    backend: str = ""


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``image``: (H, W, 3) uint8 RGB (grayscale/IR inputs are replicated to 3 channels).
    ``index``: 0-based index of the decoded frame in the input; ``time_s``: presentation time, s.
    """

    index: int
    time_s: float
    image: np.ndarray


def _empty(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@dataclass(frozen=True)
class Detections:
    """Animal boxes in one frame.

    ``xyxy``: (N, 4) float32 image px; ``score``: (N,) float32 in [0, 1];
    ``class_name``: (N,) object array of str.
    """

    xyxy: np.ndarray = field(default_factory=lambda: _empty((0, 4)))
    score: np.ndarray = field(default_factory=lambda: _empty((0,)))
    class_name: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=object))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, mask: np.ndarray | slice) -> Detections:
        """Boolean-mask or index-array selection, returning a new value."""
        return Detections(self.xyxy[mask], self.score[mask], self.class_name[mask])


@dataclass(frozen=True)
class Poses:
    """Keypoints of N animals in one frame.

    ``xy``: (N, K, 2) float32 image px; ``score``: (N, K) float32 in [0, 1].
    """

    xy: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return int(self.xy.shape[0])

    def __getitem__(self, mask: np.ndarray | slice) -> Poses:
        return Poses(self.xy[mask], self.score[mask])


@dataclass(frozen=True)
class TrackedPoses:
    """Detections, poses and identities of one frame, aligned along the N axis.

    ``track_id``: (N,) int64, >= 1. Smoothed fields are filled by the smoother:
    ``xy_smooth``: (N, K, 2) float32 px and ``var_smooth``: (N, K) float32 px^2 (NaN when off).
    """

    frame: int
    time_s: float
    detections: Detections
    poses: Poses
    track_id: np.ndarray
    xy_smooth: np.ndarray | None = None
    var_smooth: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.track_id.shape[0])
