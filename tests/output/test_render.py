"""Readable renders: per-keypoint colours, confidence, raw/smoothed, labels, legend, sizes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from wildpose.output.render import AnnotatedVideoWriter, PoseDrawer, RenderStyle, keypoint_colors
from wildpose.types import Detections, Poses, TrackedPoses

NAMES = ["nose", "left ear", "right ear", "tail base", "tail end"]
SKELETON = [(0, 1), (0, 2), (0, 3), (3, 4)]
GREY = 128


def _tracked(xy, score, boxes, ids=None, smooth=None) -> TrackedPoses:
    xy, boxes = np.asarray(xy, np.float32), np.asarray(boxes, np.float32)
    n = len(boxes)
    return TrackedPoses(
        frame=0,
        time_s=0.0,
        detections=Detections(boxes, np.ones(n, np.float32), np.array(["animal"] * n, object)),
        poses=Poses(xy, np.asarray(score, np.float32)),
        track_id=np.arange(1, n + 1) if ids is None else np.asarray(ids),
        xy_smooth=None if smooth is None else np.asarray(smooth, np.float32),
    )


def _spread(n: int = 1, size=(320, 240)) -> np.ndarray:
    """(n, 5, 2) keypoints far apart in the middle of the frame."""
    base = np.array([[60, 60], [120, 60], [180, 60], [60, 160], [180, 160]], np.float32)
    return np.stack([base + [5 * i, 0] for i in range(n)])


def _blank(size=(320, 240)) -> np.ndarray:
    return np.full((size[1], size[0], 3), GREY, np.uint8)


def _near(image: np.ndarray, xy, bgr, r: int = 1) -> bool:
    x, y = int(xy[0]), int(xy[1])
    patch = image[y - r : y + r + 1, x - r : x + r + 1].astype(int)
    return bool((np.abs(patch - bgr).max(-1) < 40).any())


def test_sizes_scale_with_the_frame() -> None:
    small, large = RenderStyle.for_size((384, 384)), RenderStyle.for_size((1920, 1080))
    assert large.line > small.line >= 1 and large.radius > small.radius >= 2
    assert large.font_scale > small.font_scale >= 0.33
    tiny = RenderStyle.for_size((64, 48))
    assert tiny.line >= 1 and tiny.radius >= 2 and tiny.font_scale >= 0.33


def test_keypoint_colours_are_distinct() -> None:
    colors = keypoint_colors(17)
    assert len(set(colors)) == 17
    assert all(max(c) > 200 for c in colors)  # bright on dark and light ground


def test_confidence_filled_faded_or_hidden() -> None:
    drawer = PoseDrawer((320, 240), SKELETON, NAMES, boxes=False, labels=False)
    colors = drawer.colors
    score = [[0.9, 0.45, 0.1, 0.9, 0.9]]
    out = drawer.draw(_blank(), _tracked(_spread(), score, [[40, 40, 200, 180]]))
    xy = _spread()[0]
    assert _near(out, xy[0], colors[0])  # sure: filled disc in its own colour
    assert not _near(out, xy[1], colors[1], r=0)  # unsure: a ring, its centre is not filled
    ring = out[int(xy[1][1]) - 8 : int(xy[1][1]) + 9, int(xy[1][0]) - 8 : int(xy[1][0]) + 9]
    assert (np.abs(ring.astype(int) - GREY).max(-1) > 30).any()  # ... but something is there
    hidden = out[int(xy[2][1]) - 6 : int(xy[2][1]) + 7, int(xy[2][0]) - 6 : int(xy[2][0]) + 7]
    assert (hidden == GREY).all()  # below min_score: nothing, and no edge to it


def test_raw_smoothed_or_both() -> None:
    raw, smooth = _spread(), _spread() + [0, 30]
    tracked = _tracked(raw, np.ones((1, 5)), [[40, 40, 200, 200]], smooth=smooth)
    color = keypoint_colors(5)[4]
    for points, at_raw, at_smooth in (("smoothed", 0, 1), ("raw", 1, 0), ("both", 1, 1)):
        drawer = PoseDrawer((320, 240), (), NAMES, points=points, boxes=False, labels=False)
        out = drawer.draw(_blank(), tracked)
        assert _near(out, raw[0, 4], color, r=2) == bool(at_raw), points
        assert _near(out, smooth[0, 4], color) == bool(at_smooth), points
    with pytest.raises(ValueError, match="points"):
        PoseDrawer((320, 240), (), NAMES, points="mean")  # type: ignore[arg-type]


def test_nan_smoothed_falls_back_to_raw() -> None:
    smooth = np.full((1, 5, 2), np.nan, np.float32)
    tracked = _tracked(_spread(), np.ones((1, 5)), [[40, 40, 200, 200]], smooth=smooth)
    drawer = PoseDrawer((320, 240), SKELETON, NAMES, boxes=False, labels=False)
    assert _near(drawer.draw(_blank(), tracked), _spread()[0, 0], drawer.colors[0])


def test_labels_stay_inside_and_apart() -> None:
    """Two animals with the same box at the top edge: both labels are drawn, in the frame."""
    drawer = PoseDrawer((320, 240), (), NAMES, boxes=False)
    boxes = [[100, 0, 220, 80], [100, 0, 220, 80]]
    out = drawer.draw(_blank(), _tracked(_spread(2), np.zeros((2, 5)), boxes))
    for track_id in (1, 2):
        mask = (np.abs(out.astype(int) - drawer.track_color(track_id)).max(-1) < 10).sum()
        assert mask > 100, track_id


def test_legend_goes_where_the_animals_are_not() -> None:
    drawer = PoseDrawer((320, 240), SKELETON, NAMES, boxes=False, labels=False)
    box = [[0, 0, 150, 110]]  # the top-left corner is taken
    out = drawer.draw(
        _blank(), _tracked(np.full((1, 5, 2), 50.0), np.zeros((1, 5)), box), legend=True
    )
    dark = out.max(-1) < 60  # the legend's darkened panel
    assert not dark[:60, :60].any() and dark.any()


def _pose_frames(n: int) -> list[TrackedPoses]:
    return [_tracked(_spread(), np.ones((1, 5)), [[40, 40, 200, 200]]) for _ in range(n)]


def test_video_legend_only_in_the_first_seconds(tmp_path: Path) -> None:
    path = tmp_path / "a.annotated.mp4"
    with AnnotatedVideoWriter(path, 10.0, (320, 240), SKELETON, NAMES, legend_s=0.5) as writer:
        for tracked in _pose_frames(10):
            writer.write(_blank()[..., ::-1], tracked)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    panel = [bool((f.max(-1) < 60).sum() > 3000) for f in frames]  # the darkened panel
    assert panel == [True] * 5 + [False] * 5
