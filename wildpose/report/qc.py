"""What the report flags: track lifetimes and fragments, suspected identity swaps, and episodes
of low keypoint confidence, computed from :attr:`VideoData.animals` (one row per animal per
frame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wildpose.report.data import VideoData

__all__ = ["Episode", "QcFlags", "flag", "low_confidence_episodes", "track_spans"]

FRAGMENT_S = 1.0
"""A track present for less than this many seconds (or 10 % of the video) is a fragment."""
JUMP_BOX = 0.5
"""A box centre moving more than this many box diagonals between two frames of a track is a
suspected identity swap."""


@dataclass(frozen=True)
class Episode:
    """Consecutive frames (``first``..``last``, 0-based) whose worst animal scores below the
    threshold; ``worst`` is the frame with the lowest score ``score`` there, ``track_id`` the
    animal scoring it."""

    first: int
    last: int
    worst: int
    score: float
    track_id: int
    time_s: float


@dataclass(frozen=True, eq=False)
class QcFlags:
    """``tracks``: one row per track id (``track_id``, ``first``/``last`` frame, ``frames``
    present, ``start_s``/``end_s``, ``fragment`` bool); ``spans``: runs of consecutive frames per
    track (``track_id``, ``first``, ``last``, ``start_s``, ``end_s``); ``jumps``: suspected
    swaps (``track_id``, ``frame``, ``time_s``, ``distance`` px); ``episodes``: low-confidence
    episodes, worst first; ``low_frames``: how many frames score below ``threshold``."""

    tracks: pd.DataFrame
    spans: pd.DataFrame
    jumps: pd.DataFrame
    episodes: list[Episode]
    low_frames: int
    threshold: float
    fragment_frames: int


def flag(video: VideoData, *, low_score: float = 0.3) -> QcFlags:
    """Everything :class:`QcFlags` holds for one video; ``low_score`` is the threshold on an
    animal's mean keypoint score."""
    a = video.animals
    n_frames = max(len(video.frames), 1)
    fragment = max(2, min(round(FRAGMENT_S * (video.fps or 30.0)), round(0.1 * n_frames)))
    spans = track_spans(a)
    g = a.groupby("track_id")
    tracks = pd.DataFrame(
        {
            "first": g["frame"].min(),
            "last": g["frame"].max(),
            "frames": g.size(),
            "start_s": g["time_s"].min(),
            "end_s": g["time_s"].max(),
        }
    ).reset_index()
    tracks["fragment"] = tracks["frames"] < fragment
    episodes, low = low_confidence_episodes(a, low_score)
    return QcFlags(tracks, spans, _jumps(a), episodes, low, low_score, int(fragment))


def track_spans(animals: pd.DataFrame) -> pd.DataFrame:
    """Runs of consecutive frames per track: ``track_id``, ``first``, ``last``, ``start_s``,
    ``end_s`` (a frame missing from a track ends a run)."""
    a = animals[["track_id", "frame", "time_s"]].sort_values(["track_id", "frame"])
    new = (a["track_id"].diff() != 0) | (a["frame"].diff() != 1)
    run = new.cumsum()
    g = a.groupby(run)
    return pd.DataFrame(
        {
            "track_id": g["track_id"].first(),
            "first": g["frame"].first(),
            "last": g["frame"].last(),
            "start_s": g["time_s"].first(),
            "end_s": g["time_s"].last(),
        }
    ).reset_index(drop=True)


def _jumps(animals: pd.DataFrame) -> pd.DataFrame:
    """Frames where a track's box centre moves more than :data:`JUMP_BOX` diagonals from the
    previous frame of the same track."""
    a = animals.sort_values(["track_id", "frame"])
    cx = (a["bbox_x1"] + a["bbox_x2"]).to_numpy() / 2
    cy = (a["bbox_y1"] + a["bbox_y2"]).to_numpy() / 2
    diag = np.hypot(a["bbox_x2"] - a["bbox_x1"], a["bbox_y2"] - a["bbox_y1"]).to_numpy()
    same = (a["track_id"].diff() == 0).to_numpy()
    step = np.hypot(np.diff(cx, prepend=np.nan), np.diff(cy, prepend=np.nan))
    ref = np.fmax(diag, np.roll(diag, 1))
    hit = same & (step > JUMP_BOX * ref)
    out = a.loc[hit, ["track_id", "frame", "time_s"]].copy()
    out["distance"] = step[hit]
    return out.reset_index(drop=True)


def low_confidence_episodes(animals: pd.DataFrame, threshold: float) -> tuple[list[Episode], int]:
    """Episodes of frames whose worst animal's mean keypoint score is below ``threshold``
    (worst episode first) and the number of such frames. Frames one apart join an episode."""
    if animals.empty:
        return [], 0
    worst = animals.loc[animals.groupby("frame")["score"].idxmin().dropna()]
    low = worst[worst["score"] < threshold].sort_values("frame")
    if low.empty:
        return [], 0
    run = (low["frame"].diff() > 2).cumsum()
    episodes = []
    for _, part in low.groupby(run):
        i = part["score"].idxmin()
        row = part.loc[i]
        episodes.append(
            Episode(
                first=int(part["frame"].iloc[0]),
                last=int(part["frame"].iloc[-1]),
                worst=int(row["frame"]),
                score=float(row["score"]),
                track_id=int(row["track_id"]),
                time_s=float(row["time_s"]),
            )
        )
    episodes.sort(key=lambda e: e.score)
    return episodes, len(low)
