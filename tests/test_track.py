"""Tests for wildpose.track: ByteTrack identities, alignment of poses, no mutation of inputs."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from wildpose.track import FixedIdTracker, Tracker
from wildpose.types import Detections, Poses

K = 3
FPS = 30.0


def box_at(x: float, y: float) -> np.ndarray:
    return np.array([x, y, x + 60.0, y + 40.0], np.float32)


def frame_inputs(boxes: list[np.ndarray], names: list[str]) -> tuple[Detections, Poses]:
    """Detections and poses whose keypoints sit at the box centre (so alignment is checkable)."""
    n = len(boxes)
    xyxy = np.array(boxes, np.float32).reshape(n, 4)
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    xy = np.repeat(centre[:, None, :], K, axis=1) + np.arange(K, dtype=np.float32)[None, :, None]
    return (
        Detections(xyxy, np.full(n, 0.9, np.float32), np.array(names, dtype=object)),
        Poses(xy.astype(np.float32), np.full((n, K), 0.8, np.float32)),
    )


def check_aligned(tracked) -> None:
    centre = (tracked.detections.xyxy[:, :2] + tracked.detections.xyxy[:, 2:]) / 2
    np.testing.assert_allclose(tracked.poses.xy[:, 0], centre)
    assert tracked.poses.xy.shape == (len(tracked), K, 2)
    assert tracked.track_id.dtype == np.int64


def test_two_moving_boxes_keep_their_ids():
    tracker = Tracker(FPS)
    rng = np.random.default_rng(0)
    id_of: dict[str, int] = {}
    for i in range(20):
        boxes = [box_at(10 + 4 * i, 20), box_at(400 - 4 * i, 200 + 2 * i)]
        names = ["dog", "cat"]
        order = rng.permutation(2)  # input order must not matter
        det, poses = frame_inputs([boxes[j] for j in order], [names[j] for j in order])
        tracked = tracker.update(i, i / FPS, det, poses)
        check_aligned(tracked)
        assert len(tracked) == 2  # ids from the very first frame
        assert (tracked.track_id >= 1).all()
        for name, track_id in zip(tracked.detections.class_name, tracked.track_id, strict=True):
            assert id_of.setdefault(name, int(track_id)) == track_id
    assert sorted(id_of.values()) == [1, 2]


def test_confirmation_after_n_frames_is_an_option():
    tracker = Tracker(FPS, minimum_consecutive_frames=3)
    counts = []
    for i in range(5):
        det, poses = frame_inputs([box_at(10 + 4 * i, 20)], ["dog"])
        counts.append(len(tracker.update(i, i / FPS, det, poses)))
    assert counts == [0, 0, 1, 1, 1]


def test_inputs_are_not_mutated():
    tracker = Tracker(FPS)
    for i in range(5):
        det, poses = frame_inputs([box_at(10 + 3 * i, 10), box_at(200, 100 + 3 * i)], ["a", "b"])
        det_copy, poses_copy = copy.deepcopy(det), copy.deepcopy(poses)
        tracked = tracker.update(i, i / FPS, det, poses)
        for got, want in [
            (det.xyxy, det_copy.xyxy),
            (det.score, det_copy.score),
            (det.class_name, det_copy.class_name),
            (poses.xy, poses_copy.xy),
            (poses.score, poses_copy.score),
        ]:
            np.testing.assert_array_equal(got, want)
        if len(tracked):
            assert not np.shares_memory(tracked.poses.xy, poses.xy)
            assert not np.shares_memory(tracked.detections.xyxy, det.xyxy)


def run_with_gap(gap_frames: int, lost_track_buffer_s: float) -> tuple[set[int], set[int]]:
    """One animal, absent for ``gap_frames``; returns its ids before and after the gap."""
    tracker = Tracker(FPS, lost_track_buffer_s=lost_track_buffer_s)
    before, after = set(), set()
    for i in range(10 + gap_frames + 10):
        visible = i < 10 or i >= 10 + gap_frames
        boxes = [box_at(100, 100)] if visible else []
        det, poses = frame_inputs(boxes, ["dog"] * len(boxes))
        tracked = tracker.update(i, i / FPS, det, poses)
        (before if i < 10 else after).update(tracked.track_id.tolist())
    return before, after


def test_short_absence_keeps_the_id():
    before, after = run_with_gap(gap_frames=4, lost_track_buffer_s=0.5)  # 0.13 s < 0.5 s
    assert before == after == {1}


def test_long_absence_gives_a_new_id():
    before, after = run_with_gap(gap_frames=30, lost_track_buffer_s=0.5)  # 1 s > 0.5 s
    assert before == {1}
    assert after == {2}  # ids are never reused


@pytest.mark.parametrize(("gap_frames", "new_id"), [(4, False), (8, True)])
def test_buffer_is_in_seconds_not_frames(gap_frames, new_id):
    """At 10 fps a 0.5 s buffer spans 5 frames: a 0.4 s gap keeps the id, 0.8 s does not."""
    tracker = Tracker(10.0, lost_track_buffer_s=0.5)
    ids = []
    for i in range(12 + gap_frames):
        visible = not 6 <= i < 6 + gap_frames
        det, poses = frame_inputs([box_at(50, 50)] if visible else [], ["dog"] * visible)
        ids.extend(tracker.update(i, i / 10.0, det, poses).track_id.tolist())
    assert set(ids) == ({1, 2} if new_id else {1})


def test_empty_frames_and_reset():
    tracker = Tracker(FPS)
    det, poses = frame_inputs([], [])
    tracked = tracker.update(0, 0.0, det, poses)
    assert len(tracked) == 0 and tracked.poses.xy.shape == (0, K, 2)
    for i in range(1, 4):
        det, poses = frame_inputs([box_at(10, 10)], ["dog"])
        tracked = tracker.update(i, i / FPS, det, poses)
    assert tracked.track_id.tolist() == [1]
    tracker.reset()
    for i in range(3):
        det, poses = frame_inputs([box_at(300, 300)], ["dog"])
        tracked = tracker.update(i, i / FPS, det, poses)
    assert tracked.track_id.tolist() == [1]


def test_bad_calls_are_rejected():
    tracker = Tracker(FPS)
    det, poses = frame_inputs([box_at(10, 10)], ["dog"])
    with pytest.raises(ValueError, match="poses"):
        tracker.update(0, 0.0, det, poses[np.zeros(0, dtype=int)])
    tracker.update(0, 0.0, det, poses)
    with pytest.raises(ValueError, match="does not follow"):
        tracker.update(1, 0.0, det, poses)
    with pytest.raises(ValueError, match="fps"):
        Tracker(0.0)


def test_fixed_id_tracker():
    tracker = FixedIdTracker()
    for i in range(3):
        det, poses = frame_inputs([np.array([0, 0, 64, 48], np.float32)], ["animal"])
        det_copy = copy.deepcopy(det)
        tracked = tracker.update(i, i / FPS, det, poses)
        assert tracked.track_id.tolist() == [1] and tracked.track_id.dtype == np.int64
        assert tracked.frame == i
        check_aligned(tracked)
        np.testing.assert_array_equal(det.xyxy, det_copy.xyxy)
        assert not np.shares_memory(tracked.detections.xyxy, det.xyxy)
