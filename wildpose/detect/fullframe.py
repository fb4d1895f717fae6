"""The ``full-frame`` detector: each frame is one box (single-animal footage, ready-made crops)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wildpose.detect.common import make_detections
from wildpose.types import Detections, Frame


class FullFrameDetector:
    """One box covering the whole frame, ``[0, 0, W, H]``, class ``animal``, score 1."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        out = []
        for frame in frames:
            h, w = frame.image.shape[:2]
            box = np.array([[0.0, 0.0, w, h]])
            out.append(make_detections(box, np.ones(1), np.array(["animal"], dtype=object)))
        return out
