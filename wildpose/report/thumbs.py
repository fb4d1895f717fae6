"""Thumbnails of a few frames: decoded again from the source video, poses drawn, PNG bytes.

Each thumbnail is the whole frame (boxes, ids and skeletons drawn by
:class:`~wildpose.output.render.PoseDrawer`, every keypoint shown: rings below the
low-confidence threshold, crosses at the raw positions) beside a close-up of the animal that
scored worst, both scaled to :data:`HEIGHT` px.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd

from wildpose.errors import WildposeError
from wildpose.output.render import PoseDrawer
from wildpose.report.data import VideoData, table_frames
from wildpose.report.qc import Episode
from wildpose.types import Detections, Poses, TrackedPoses
from wildpose.video import open_video

__all__ = ["HEIGHT", "thumbnails"]

HEIGHT = 200
"""Thumbnail height, px."""
_TIME_EPS_S = 1e-3


def thumbnails(
    video: VideoData, episodes: Sequence[Episode], threshold: float
) -> tuple[dict[int, bytes], str | None]:
    """PNG bytes per worst frame of ``episodes``, and why there are none (or None).

    Frames are decoded from :meth:`VideoData.source_path` one at a time (a seek each), so only
    these few frames are read.
    """
    if not episodes:
        return {}, None
    source = video.source_path()
    if source is None:
        where = (video.record or {}).get("input") or video.video
        return (
            {},
            f"the source video ({where}) was not found, so frames are listed without thumbnails",
        )
    rows = table_frames(video.table, [e.worst for e in episodes])
    out: dict[int, bytes] = {}
    for e in episodes:
        try:
            with open_video(
                source, start=max(e.time_s - _TIME_EPS_S, 0.0) or None, end=e.time_s + _TIME_EPS_S
            ) as reader:
                image = next((f.image for f in reader if f.index == e.worst), None)
        except (WildposeError, OSError) as exc:
            return out, f"{source}: frames could not be decoded ({exc})"
        if image is None:
            continue
        tracked = _tracked(rows[rows["frame"] == e.worst], video.keypoints, e.worst)
        out[e.worst] = _thumbnail(image, tracked, video, e.track_id, threshold)
    return out, None


def _tracked(rows: pd.DataFrame, keypoints: Sequence[str], frame: int) -> TrackedPoses:
    """The rows of one frame as :class:`TrackedPoses` (keypoints in ``keypoints`` order)."""
    ids = np.array(sorted(rows["track_id"].unique()), np.int64)
    k = len(keypoints)
    n_idx = np.searchsorted(ids, rows["track_id"].to_numpy())
    k_idx = pd.Categorical(rows["keypoint"], categories=list(keypoints)).codes
    ok = k_idx >= 0
    xy = np.full((len(ids), k, 2), np.nan, np.float32)
    xy_s, score = xy.copy(), np.zeros((len(ids), k), np.float32)
    n_idx, k_idx, r = n_idx[ok], k_idx[ok], rows[ok]
    xy[n_idx, k_idx] = r[["x", "y"]].to_numpy()
    xy_s[n_idx, k_idx] = r[["x_smooth", "y_smooth"]].to_numpy()
    score[n_idx, k_idx] = r["score"].to_numpy()
    first = rows.groupby("track_id").first().reindex(ids)
    return TrackedPoses(
        frame=frame,
        time_s=float(first["time_s"].iloc[0]) if len(ids) else 0.0,
        detections=Detections(
            xyxy=first[["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]].to_numpy(np.float32),
            score=first["det_score"].to_numpy(np.float32),
            class_name=first["class_name"].astype(str).to_numpy(object),
        ),
        poses=Poses(xy=xy, score=score),
        track_id=ids,
        xy_smooth=xy_s,
    )


def _thumbnail(
    rgb: np.ndarray, tracked: TrackedPoses, video: VideoData, track_id: int, threshold: float
) -> bytes:
    """The drawn frame and the close-up of ``track_id``, side by side, as PNG bytes."""
    h, w = rgb.shape[:2]
    drawer = PoseDrawer(
        (w, h),
        video.skeleton,
        video.keypoints,
        min_score=0.0,
        sure_score=threshold,
        points="both",
    )
    drawn = drawer.draw(np.ascontiguousarray(rgb[..., ::-1]), tracked)
    tiles = [_scaled(drawn, HEIGHT)]
    hit = np.flatnonzero(tracked.track_id == track_id)
    if hit.size:
        tiles.append(_scaled(_crop(drawn, tracked.detections.xyxy[hit[0]]), HEIGHT))
    gap = np.full((HEIGHT, 6, 3), 255, np.uint8)
    sheet = np.concatenate([tiles[0], *(t for tile in tiles[1:] for t in (gap, tile))], axis=1)
    ok, png = cv2.imencode(".png", sheet)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return png.tobytes()


def _crop(image: np.ndarray, xyxy: np.ndarray, pad: float = 0.25) -> np.ndarray:
    """``image`` around box ``xyxy`` (px) grown by ``pad`` of its size on each side."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    dx, dy = pad * max(x2 - x1, 8.0), pad * max(y2 - y1, 8.0)
    c = [int(np.clip(v, 0, m)) for v, m in ((x1 - dx, w), (y1 - dy, h), (x2 + dx, w), (y2 + dy, h))]
    if c[2] - c[0] < 2 or c[3] - c[1] < 2:
        return image
    return image[c[1] : c[3], c[0] : c[2]]


def _scaled(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    interp = cv2.INTER_AREA if height < h else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interp)
