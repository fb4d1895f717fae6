"""Cross-frame batching of the pose stage: the crops of several frames share forward passes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from wildpose.pose.predictor import PosePredictor
from wildpose.types import Detections, Frame, Poses

__all__ = ["estimate_poses"]


def estimate_poses(
    predictor: PosePredictor,
    frames: Sequence[Frame],
    detections: Sequence[Detections],
    num_keypoints: int,
    batch_size: int,
) -> list[Poses]:
    """Poses for every box of every frame, ``batch_size`` crops per forward pass.

    ``detections[i]`` holds the boxes of ``frames[i]``; boxes of all frames are concatenated,
    each remembering its frame (``frame_of``), so one batch may mix frames of one image size.
    Frames of different sizes (an image burst from mixed cameras, EXIF-rotated stills) are
    sent to the device in one group per size. Only frames with boxes are sent. Returns one
    :class:`Poses` per frame, aligned with its detections: xy (N_i, K, 2) image px, score
    (N_i, K), K = ``num_keypoints``.
    """
    k = num_keypoints
    counts = np.array([len(d) for d in detections], dtype=np.int64)
    total = int(counts.sum())
    xy = np.zeros((total, k, 2), np.float32)
    score = np.zeros((total, k), np.float32)
    if total:
        boxes = np.concatenate([d.xyxy for d in detections])
        frame_of = np.repeat(np.arange(len(frames)), counts)  # (total,) frame of each box
        step = max(1, int(batch_size))
        for used in _same_size_groups(frames, np.unique(frame_of)):
            sel = np.flatnonzero(np.isin(frame_of, used))  # the boxes on these frames
            images = predictor.prepare_frames([frames[i].image for i in used])
            local = np.searchsorted(used, frame_of[sel])  # index into ``images``
            for i in range(0, len(sel), step):
                part = sel[i : i + step]
                xy[part], score[part] = predictor.predict(images, boxes[part], local[i : i + step])
            del images  # before the next group's frames go to the device
    ends = np.cumsum(counts)
    return [Poses(xy[e - n : e], score[e - n : e]) for n, e in zip(counts, ends, strict=True)]


def _same_size_groups(frames: Sequence[Frame], used: np.ndarray) -> Iterator[np.ndarray]:
    """The sorted frame indices ``used``, split into groups of one image shape (H, W, C)."""
    shapes = [frames[i].image.shape for i in used]
    for shape in dict.fromkeys(shapes):
        yield used[[s == shape for s in shapes]]
