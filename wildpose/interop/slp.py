"""Tracks as a SLEAP labels file (``.slp``) through sleap-io (io.sleap.ai).

One ``Video`` (the input, not opened: it may live elsewhere), one ``Skeleton`` with the
keypoint names and edges, one ``Track`` ``track_<id>`` per track id, and per frame one
``PredictedInstance`` per track present: points with their scores, the detector's score as the
instance score. SLEAP and movement (``load_poses.from_sleap_file``) read it back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sleap_io as sio

from wildpose.interop.tables import TrackArrays

__all__ = ["sleap_labels", "write_slp"]


def write_slp(tracks: TrackArrays, path: str | Path, *, smoothed: bool = False) -> Path:
    """Write :func:`sleap_labels` to ``path`` (a temporary name: the caller renames it)."""
    sio.save_slp(sleap_labels(tracks, smoothed=smoothed), str(path), verbose=False)
    return Path(path)


def sleap_labels(tracks: TrackArrays, *, smoothed: bool = False) -> sio.Labels:
    """``tracks`` as ``sio.Labels`` (raw positions, or the smoothed ones when ``smoothed``)."""
    video = sio.Video(filename=tracks.video, open_backend=False)
    skeleton = sio.Skeleton(list(tracks.keypoints), edges=[tuple(e) for e in tracks.skeleton])
    tracks_ = [sio.Track(name) for name in tracks.individual_names]
    xy = tracks.xy_smooth if smoothed else tracks.xy
    present = tracks.present
    frames = []
    for t in np.flatnonzero(present.any(axis=1)):
        instances = [
            sio.PredictedInstance.from_numpy(
                points_data=xy[t, n].astype(np.float64),
                skeleton=skeleton,
                point_scores=tracks.score[t, n].astype(np.float64),
                score=float(tracks.det_score[t, n]),
                track=tracks_[n],
            )
            for n in np.flatnonzero(present[t])
        ]
        frames.append(sio.LabeledFrame(video=video, frame_idx=int(t), instances=instances))
    return sio.Labels(frames, videos=[video], skeletons=[skeleton], tracks=tracks_)
