"""Identities: ByteTrack on detector boxes assigns each animal a ``track_id`` >= 1.

:class:`Tracker` runs Roboflow's ByteTrack (``trackers.ByteTrackTracker``, the successor of
``supervision.ByteTrack``, which current supervision releases no longer ship) through
:mod:`wildpose.adapters.trackers`, which never lets it see or mutate our arrays: it returns the
rows of the tracked boxes, and those rows realign the poses with them.

Behaviour worth knowing:

- Association is by box IoU against a Kalman-predicted box, in two stages (confident boxes
  first, then the rest); there is no appearance model.
- A new animal gets its id on its first frame with the default ``minimum_consecutive_frames``
  1 (upstream ByteTrack waits for a second match, which would drop the first frame of every
  video and of every new animal); with N > 1 it gets its id on its Nth consecutive matched
  frame and its earlier detections are not returned. Detections too weak to start a track
  (below ``track_activation_threshold``) that match no track are not returned either.
- Leaving and coming back: a track that matches nothing is kept "lost" for
  ``lost_track_buffer_s`` seconds of video time (measured with ``time_s``, so skipped frames
  count as the time they span). An animal that reappears within that time, near where the
  Kalman filter predicts it, gets its old id back; after that the track is dropped and the
  animal gets a new id (a new animal, as far as the output can tell). Ids are never reused.
"""

from __future__ import annotations

import numpy as np

from wildpose.adapters.trackers import ByteTrack
from wildpose.types import Detections, Poses, TrackedPoses


class Tracker:
    """ByteTrack identities for the animals of one video, fed frame by frame in time order.

    ``fps`` is the rate of the frames passed to :meth:`update` (it scales the Kalman motion
    model). ``track_activation_threshold``: minimum detector score to start a track, also the
    split between the two association stages. ``minimum_matching_threshold``: the largest
    matching cost ``1 - IoU`` accepted (0.8 means IoU >= 0.2 with the predicted box).
    ``minimum_consecutive_frames``: consecutive matches before a track gets an id.
    """

    def __init__(
        self,
        fps: float,
        *,
        track_activation_threshold: float = 0.25,
        lost_track_buffer_s: float = 1.0,
        minimum_matching_threshold: float = 0.8,
        minimum_consecutive_frames: int = 1,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if lost_track_buffer_s < 0:
            raise ValueError(f"lost_track_buffer_s must be >= 0, got {lost_track_buffer_s}")
        self._byte_track = ByteTrack(
            fps=fps,
            lost_track_buffer_s=lost_track_buffer_s,
            track_activation_threshold=track_activation_threshold,
            minimum_iou=1.0 - minimum_matching_threshold,
            minimum_consecutive_frames=minimum_consecutive_frames,
        )
        self._last_time_s: float | None = None

    def update(
        self, frame: int, time_s: float, detections: Detections, poses: Poses
    ) -> TrackedPoses:
        """Assign ids to one frame's animals; ``time_s`` must increase from call to call.

        ``detections`` and ``poses`` are aligned along N. Returns only the animals that have
        an id, in the tracker's order, with their detections and poses selected to match;
        the inputs are not modified.
        """
        if len(detections) != len(poses):
            raise ValueError(f"{len(detections)} detections but {len(poses)} poses")
        if self._last_time_s is not None and not time_s > self._last_time_s:
            raise ValueError(f"frame {frame}: time {time_s} s does not follow {self._last_time_s}")
        self._last_time_s = time_s
        rows, track_id = self._byte_track.update(detections.xyxy, detections.score, time_s)
        return TrackedPoses(
            frame=frame,
            time_s=time_s,
            detections=detections[rows],
            poses=poses[rows],
            track_id=track_id,
        )

    def reset(self) -> None:
        """Forget all tracks (between videos); ids start again from 1."""
        self._byte_track.reset()
        self._last_time_s = None


class FixedIdTracker:
    """Identities for ``full-frame`` detection: the single box of every frame is track 1.

    With several boxes per frame they get ids 1..N in box order (no association is done).
    """

    def update(
        self, frame: int, time_s: float, detections: Detections, poses: Poses
    ) -> TrackedPoses:
        """Return all animals with ids 1..N; the inputs are not modified."""
        if len(detections) != len(poses):
            raise ValueError(f"{len(detections)} detections but {len(poses)} poses")
        every = np.arange(len(detections))
        return TrackedPoses(
            frame=frame,
            time_s=time_s,
            detections=detections[every],
            poses=poses[every],
            track_id=np.arange(1, len(detections) + 1, dtype=np.int64),
        )

    def reset(self) -> None:
        """Nothing to forget."""
