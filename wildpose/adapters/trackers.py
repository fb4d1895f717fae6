"""The one place that touches the private API of Roboflow's ``trackers`` (ByteTrack).

Tested with trackers 2.6.x (2.6.1) and supervision 0.31; ``pyproject.toml`` bounds trackers
below 2.7 and ``tests/adapters/test_trackers.py`` fails with a clear message when a shape used
here changes. ``trackers`` and ``supervision`` are imported on first use.

What is fragile:

- ``ByteTrackTracker._spawn_new_tracks`` (private) is overridden so that a new track gets its
  id on its first frame when ``minimum_consecutive_frames`` is 1; upstream waits for a second
  match, which would drop the first frame of every video and of every new animal. The override
  relies on the private ``_allocate_tracker_id``, the ``tracks`` list and each tracklet's
  ``tracker_id``.
- ``lost_track_buffer`` is given in frames at 30 fps: with timestamps, trackers keeps a lost
  track for ``lost_track_buffer / 30`` seconds (``maximum_time_without_update``).

ByteTrack: Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection Box",
ECCV 2022; trackers: https://trackers.roboflow.com.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

TESTED_VERSIONS = ">=2.6,<2.7"  # as in pyproject.toml
_INDEX_KEY = "wildpose_index"
_BUFFER_FPS = 30.0  # trackers expresses lost_track_buffer in frames at this rate


class ByteTrack:
    """ByteTrack on numpy boxes; never sees or mutates the caller's arrays.

    ``fps``: rate of the frames passed to :meth:`update` (scales the Kalman motion model);
    ``lost_track_buffer_s``: video time a lost track is kept, s; ``track_activation_threshold``:
    minimum score to start a track, also the split between the two association stages;
    ``minimum_iou``: least IoU with the predicted box accepted as a match;
    ``minimum_consecutive_frames``: consecutive matches before a track gets an id.
    """

    def __init__(
        self,
        *,
        fps: float,
        lost_track_buffer_s: float,
        track_activation_threshold: float,
        minimum_iou: float,
        minimum_consecutive_frames: int,
    ) -> None:
        self._tracker = _immediate_bytetrack_class()(
            lost_track_buffer=round(lost_track_buffer_s * _BUFFER_FPS),
            frame_rate=float(fps),
            track_activation_threshold=track_activation_threshold,
            high_conf_det_threshold=track_activation_threshold,
            minimum_iou_threshold=minimum_iou,
            minimum_consecutive_frames=minimum_consecutive_frames,
        )

    def update(
        self, xyxy: np.ndarray, score: np.ndarray, time_s: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Associate one frame's boxes, ``xyxy`` (N, 4) image px and ``score`` (N,), at
        ``time_s`` seconds. Returns (rows (M,) intp into the inputs, ids (M,) int64 >= 1) for
        the boxes that have an id, in the tracker's order."""
        import supervision as sv

        n = len(score)
        query = sv.Detections(
            xyxy=np.array(xyxy, dtype=np.float32).reshape(n, 4),
            confidence=np.array(score, dtype=np.float32).reshape(n),
            class_id=np.zeros(n, dtype=int),
            data={_INDEX_KEY: np.arange(n)},
        )
        result = self._tracker.update(query, timestamp=float(time_s))
        keep = result.tracker_id >= 0
        rows = np.asarray(result.data.get(_INDEX_KEY, np.zeros(0, int)), dtype=np.intp)[keep]
        return rows, result.tracker_id[keep].astype(np.int64) + 1  # trackers counts from 0

    def reset(self) -> None:
        """Forget all tracks; ids start again from 1."""
        self._tracker.reset()


@functools.cache
def _immediate_bytetrack_class() -> type[Any]:
    """``trackers.ByteTrackTracker`` that gives a new track its id when it is spawned, if one
    match suffices (``minimum_consecutive_frames`` 1)."""
    from trackers import ByteTrackTracker

    class ImmediateByteTrack(ByteTrackTracker):
        def _spawn_new_tracks(
            self,
            detection_boxes: np.ndarray,
            confidences: np.ndarray,
            unmatched_high_local: list[int],
            high_indices: np.ndarray,
            out_det_indices: list[int],
            out_tracker_ids: list[int],
        ) -> None:
            first_out, first_track = len(out_tracker_ids), len(self.tracks)
            super()._spawn_new_tracks(
                detection_boxes,
                confidences,
                unmatched_high_local,
                high_indices,
                out_det_indices,
                out_tracker_ids,
            )
            if self.minimum_consecutive_frames > 1:
                return
            # upstream appends one output per detection and one track per detection that
            # clears the activation threshold, in the same order
            spawned = iter(self.tracks[first_track:])
            for pos in range(first_out, len(out_tracker_ids)):
                if float(confidences[out_det_indices[pos]]) >= self.track_activation_threshold:
                    track = next(spawned)
                    track.tracker_id = self._allocate_tracker_id()
                    out_tracker_ids[pos] = track.tracker_id

    return ImmediateByteTrack
