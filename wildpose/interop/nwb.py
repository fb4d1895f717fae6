"""Tracks as an NWB file, through pynwb and the ndx-pose extension (github.com/rly/ndx-pose).

One file per video. ``processing/behavior`` holds the shared ``Skeletons/skeleton`` and, per
track id, a ``PoseEstimation`` named ``track_<id>`` with one ``PoseEstimationSeries`` per
keypoint (position (T, 2) px, confidence = the keypoint score) and, when the table was
smoothed, ``track_<id>_smoothed`` beside it (the smoother's positions, same confidences). All
series share one timestamps vector (the table's ``time_s`` for frames 0..last) and are NaN
where the track is absent. The source video is an external-file ``ImageSeries`` in
``acquisition`` linked from every PoseEstimation. movement reads one track with
``movement.io.load_poses.from_nwb_file(path, pose_estimation_key="track_1")``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

import ndx_pose
import numpy as np
import pynwb
from hdmf.backends.hdf5.h5_utils import H5DataIO

from wildpose import __version__
from wildpose.config.export import NWBSession
from wildpose.errors import ConfigError
from wildpose.interop.tables import TrackArrays

__all__ = ["nwb_file", "write_nwb"]

REFERENCE_FRAME = (
    "image px of the displayed video frame: (0, 0) is the top-left corner of the top-left pixel, "
    "x to the right, y down"
)
CONFIDENCE = "CLAMP heatmap peak value of the keypoint, in [0, 1]"


def write_nwb(tracks: TrackArrays, path: str | Path, session: NWBSession) -> Path:
    """Write :func:`nwb_file` to ``path`` (a temporary name: the caller renames it)."""
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb_file(tracks, session))
    return Path(path)


def nwb_file(tracks: TrackArrays, session: NWBSession) -> pynwb.NWBFile:
    """The in-memory ``NWBFile`` of ``tracks`` with ``session``'s metadata (module docstring)."""
    nwbfile = _session(tracks, session)
    skeleton = ndx_pose.Skeleton(
        name="skeleton",
        nodes=list(tracks.keypoints),
        edges=np.asarray(tracks.skeleton, dtype=np.uint8).reshape(-1, 2),
        subject=nwbfile.subject,
    )
    behavior = nwbfile.create_processing_module("behavior", "Animal poses tracked by wildpose")
    behavior.add(ndx_pose.Skeletons(skeletons=[skeleton]))
    video = _source_video(tracks)
    nwbfile.add_acquisition(video)
    variants = [("", tracks.xy, "raw")]
    if tracks.has_smooth:
        variants.append(("_smoothed", tracks.xy_smooth, "Kalman/RTS-smoothed"))
    timestamps: np.ndarray | ndx_pose.PoseEstimationSeries = tracks.time_s
    for n, name in enumerate(tracks.individual_names):
        for suffix, xy, what in variants:
            series = []
            for k, keypoint in enumerate(tracks.keypoints):
                series.append(
                    ndx_pose.PoseEstimationSeries(
                        name=keypoint,
                        description=f"{what} position of {keypoint} of {name}",
                        data=H5DataIO(np.ascontiguousarray(xy[:, n, k]), compression="gzip"),
                        unit="pixels",
                        reference_frame=REFERENCE_FRAME,
                        timestamps=timestamps,
                        confidence=H5DataIO(
                            np.ascontiguousarray(tracks.score[:, n, k]), compression="gzip"
                        ),
                        confidence_definition=CONFIDENCE,
                    )
                )
                if isinstance(timestamps, np.ndarray):
                    timestamps = series[-1]  # the others link to the first one's timestamps
            behavior.add(
                ndx_pose.PoseEstimation(
                    name=f"{name}{suffix}",
                    pose_estimation_series=series,
                    description=f"{what} keypoints of track id {tracks.track_ids[n]} "
                    f"({tracks.class_names[n]}) in {tracks.video}",
                    scorer=str(tracks.metadata.get("model", "wildpose")),
                    source_software="wildpose",
                    source_software_version=__version__,
                    skeleton=skeleton,
                    source_video=video,
                )
            )
    return nwbfile


def _session(tracks: TrackArrays, session: NWBSession) -> pynwb.NWBFile:
    subject = None
    if session.subject is not None:
        fields = session.subject.model_dump(exclude_none=True)
        try:
            subject = pynwb.file.Subject(**fields)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"nwb.subject: {e}") from None
    optional = {
        "experimenter": list(session.experimenter) or None,
        "keywords": list(session.keywords) or None,
        "lab": session.lab,
        "institution": session.institution,
        "experiment_description": session.experiment_description,
        "session_id": session.session_id,
    }
    try:
        return pynwb.NWBFile(
            session_description=session.session_description or f"wildpose tracks of {tracks.video}",
            identifier=session.identifier or str(uuid.uuid4()),
            session_start_time=session.session_start_time or datetime.now(timezone.utc),
            subject=subject,
            **{k: v for k, v in optional.items() if v is not None},
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"nwb: {e}") from None


def _source_video(tracks: TrackArrays) -> pynwb.image.ImageSeries:
    """The input video as an external file; size and frame count from the table's metadata."""
    size = tracks.metadata.get("video_size")
    count = tracks.metadata.get("video_frame_count")
    count = count if isinstance(count, int) and count > 0 else tracks.n_frames
    timing = (
        {"rate": float(tracks.fps), "starting_time": 0.0, "num_samples": count}
        if tracks.fps
        else {"timestamps": tracks.time_s}
    )
    return pynwb.image.ImageSeries(
        name="source_video",
        description=f"the video wildpose tracked: {tracks.video}",
        unit="n.a.",
        external_file=[tracks.video],
        format="external",
        starting_frame=[0],
        dimension=[int(v) for v in size] if isinstance(size, list) else None,
        **timing,
    )
