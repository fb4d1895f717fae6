"""The trackers (ByteTrack) shapes wildpose.adapters.trackers relies on: each failure names what
moved. When one fails after an upgrade, update the adapter and its bound in pyproject.toml."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from packaging.specifiers import SpecifierSet

from wildpose.adapters import trackers as adapter

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SPAWN_PARAMS = [
    "self",
    "detection_boxes",
    "confidences",
    "unmatched_high_local",
    "high_indices",
    "out_det_indices",
    "out_tracker_ids",
]
INIT_KWARGS = {
    "lost_track_buffer",
    "frame_rate",
    "track_activation_threshold",
    "high_conf_det_threshold",
    "minimum_iou_threshold",
    "minimum_consecutive_frames",
}


def boxes(*xs: float) -> np.ndarray:
    return np.array([[x, 10.0, x + 40.0, 50.0] for x in xs], np.float32).reshape(-1, 4)


def test_installed_version_is_a_tested_one() -> None:
    installed = version("trackers")
    assert installed in SpecifierSet(adapter.TESTED_VERSIONS), (
        f"trackers {installed} is outside {adapter.TESTED_VERSIONS}, the versions "
        "wildpose.adapters.trackers is tested with: run tests/adapters, then widen the bound"
    )


def test_pyproject_bound_is_the_tested_range() -> None:
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("trackers")]
    assert SpecifierSet(spec.removeprefix("trackers")) == SpecifierSet(adapter.TESTED_VERSIONS)


def test_private_spawn_method_has_the_signature_we_override() -> None:
    from trackers import ByteTrackTracker

    method = getattr(ByteTrackTracker, "_spawn_new_tracks", None)
    assert method is not None, "ByteTrackTracker._spawn_new_tracks is gone: override is dead"
    params = list(inspect.signature(method).parameters)
    assert params == SPAWN_PARAMS, f"ByteTrackTracker._spawn_new_tracks{params} changed"
    assert callable(getattr(ByteTrackTracker, "_allocate_tracker_id", None)), (
        "ByteTrackTracker._allocate_tracker_id is gone"
    )
    assert "self._spawn_new_tracks(" in inspect.getsource(ByteTrackTracker.update), (
        "ByteTrackTracker.update no longer calls _spawn_new_tracks"
    )


def test_constructor_and_state_we_use() -> None:
    from trackers import ByteTrackTracker

    missing = INIT_KWARGS - set(inspect.signature(ByteTrackTracker.__init__).parameters)
    assert not missing, f"ByteTrackTracker() no longer takes {sorted(missing)}"
    assert "timestamp" in inspect.signature(ByteTrackTracker.update).parameters
    tracker = ByteTrackTracker(lost_track_buffer=45, frame_rate=10.0)
    for name in ("tracks", "minimum_consecutive_frames", "track_activation_threshold"):
        assert hasattr(tracker, name), f"ByteTrackTracker has no attribute {name!r} any more"
    assert tracker.maximum_time_without_update == pytest.approx(1.5), (
        "lost_track_buffer is no longer frames at 30 fps (buffer / 30 s with timestamps)"
    )


def test_ids_from_the_first_frame_and_kept() -> None:
    track = adapter.ByteTrack(
        fps=30.0,
        lost_track_buffer_s=1.0,
        track_activation_threshold=0.25,
        minimum_iou=0.2,
        minimum_consecutive_frames=1,
    )
    score = np.array([0.9, 0.9, 0.1], np.float32)  # the weak box never starts a track
    rows, ids = track.update(boxes(0, 100, 200), score, 0.0)
    assert sorted(rows.tolist()) == [0, 1] and sorted(ids.tolist()) == [1, 2]
    first = dict(zip(rows.tolist(), ids.tolist(), strict=True))
    rows, ids = track.update(boxes(103, 3), score[:2], 1 / 30)  # swapped input order
    assert dict(zip(rows.tolist(), ids.tolist(), strict=True)) == {0: first[1], 1: first[0]}
    track.reset()
    rows, ids = track.update(boxes(0), score[:1], 0.0)
    assert ids.tolist() == [1]


def test_upstream_still_waits_for_a_second_match() -> None:
    """If upstream starts giving ids on spawn, the override would allocate a second id."""
    import supervision as sv
    from trackers import ByteTrackTracker

    upstream = ByteTrackTracker(minimum_consecutive_frames=1, track_activation_threshold=0.25)
    det = sv.Detections(xyxy=boxes(0), confidence=np.array([0.9], np.float32))
    assert upstream.update(det, timestamp=0.0).tracker_id.tolist() == [-1], (
        "upstream ByteTrack now gives ids on the first frame: drop the _spawn_new_tracks override"
    )
