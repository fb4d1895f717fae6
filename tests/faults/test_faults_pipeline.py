"""Faults inside one input's pipeline: frames of different sizes in one chunk (mixed cameras,
EXIF-rotated stills) go to the pose stage in one group per size, with the same keypoints as
frame by frame (wildpose/pipeline/poses.py)."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.pipeline.poses import estimate_poses
from wildpose.pose.predictor import PosePredictor
from wildpose.types import Detections, Frame

SIZES = [(80, 96), (96, 80), (80, 96), (48, 64), (96, 80)]  # (h, w) of each frame of a burst


def _frames() -> list[Frame]:
    rng = np.random.default_rng(0)
    return [
        Frame(i, float(i), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        for i, (h, w) in enumerate(SIZES)
    ]


def _boxes(n: int, h: int, w: int, seed: int) -> Detections:
    rng = np.random.default_rng(seed)
    x1, y1 = rng.uniform(0, w / 2, n), rng.uniform(0, h / 2, n)
    xyxy = np.stack([x1, y1, x1 + w / 3, y1 + h / 3], axis=1).astype(np.float32)
    return Detections(xyxy, np.ones(n, np.float32), np.array(["animal"] * n, dtype=object))


@pytest.fixture()
def predictor(tiny_model) -> PosePredictor:
    return PosePredictor(tiny_model.model, flip_test=False, device="cpu")


def test_mixed_sizes_equal_frame_by_frame(predictor, tiny_model):
    frames = _frames()
    counts = [2, 1, 0, 3, 1]  # boxes per frame; frame 2 has none
    dets = [_boxes(n, h, w, i) for i, (n, (h, w)) in enumerate(zip(counts, SIZES, strict=True))]
    k = len(tiny_model.manifest.keypoints)
    poses = estimate_poses(predictor, frames, dets, k, batch_size=2)
    for frame, det, pose in zip(frames, dets, poses, strict=True):
        alone = estimate_poses(predictor, [frame], [det], k, batch_size=64)[0]
        assert pose.xy.shape == (len(det), k, 2)
        np.testing.assert_allclose(pose.xy, alone.xy, atol=1e-3)
        np.testing.assert_allclose(pose.score, alone.score, atol=1e-4)


class _Recorder:
    """A pose stage that records what it is given: frame stacks of one size, and boxes."""

    def __init__(self) -> None:
        self.stacks: list[tuple[int, ...]] = []
        self.batches: list[int] = []

    def prepare_frames(self, images):
        stack = np.stack(images)  # the real predictor stacks: one size per call
        self.stacks.append(stack.shape)
        return stack

    def predict(self, frames, boxes, frame_index):
        self.batches.append(len(boxes))
        # each box answers its own frame's size, so a frame mix-up shows
        h, w = frames.shape[1:3]
        xy = np.broadcast_to(np.array([w, h], np.float32), (len(boxes), 2, 2)).copy()
        xy[:, 1] = frames[frame_index, 0, 0, :2]  # and its own frame's first pixel
        return xy, np.ones((len(boxes), 2), np.float32)


def test_one_stack_per_size_and_frames_of_one_size_share_batches():
    frames = _frames()
    dets = [_boxes(2, h, w, i) for i, (h, w) in enumerate(SIZES)]
    stage = _Recorder()
    poses = estimate_poses(stage, frames, dets, 2, batch_size=3)  # type: ignore[arg-type]
    assert stage.stacks == [(2, 80, 96, 3), (2, 96, 80, 3), (1, 48, 64, 3)]
    assert stage.batches == [3, 1, 3, 1, 2]  # frames 0 and 2 share a batch, as 1 and 4 do
    for frame, pose in zip(frames, poses, strict=True):
        h, w = frame.image.shape[:2]
        assert (pose.xy[:, 0] == [w, h]).all()
        assert (pose.xy[:, 1] == frame.image[0, 0, :2]).all()


def test_frames_without_boxes_are_not_sent():
    frames = _frames()
    dets = [_boxes(1 if i == 3 else 0, h, w, i) for i, (h, w) in enumerate(SIZES)]
    stage = _Recorder()
    poses = estimate_poses(stage, frames, dets, 2, batch_size=8)  # type: ignore[arg-type]
    assert stage.stacks == [(1, 48, 64, 3)]
    assert [len(p.xy) for p in poses] == [0, 0, 0, 1, 0]
