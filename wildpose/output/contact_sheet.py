"""The contact sheet: one PNG grid of frames across a video with their poses drawn.

:class:`ContactSheet` is fed frames as a run decodes them (:meth:`ContactSheet.offer`) and keeps
at most ``2 n`` drawn, downscaled thumbnails spread evenly over the video, whatever its length
(the kept frames are every ``stride``-th, the stride doubling when too many are kept), so memory
stays bounded. :func:`write_contact_sheet` does the same for frames already in hand. Poses are
drawn on the downscaled tile with sizes for the tile (:class:`~wildpose.output.render.PoseDrawer`),
so labels and markers stay readable however large the video.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from wildpose.atomic import write_bytes
from wildpose.output.render import PointsMode, PoseDrawer
from wildpose.types import Detections, Poses, TrackedPoses

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_AA = cv2.LINE_AA
_GAP = 4  # px between tiles
_BACKGROUND = (32, 32, 32)  # BGR


class ContactSheet:
    """Collects up to ``n`` tiles of a video of ``size`` (width, height px) for one PNG.

    ``expected_frames`` (the container's frame count, if known) sets the first stride so that
    about ``n`` frames are drawn; a wrong or missing count only costs some extra drawing.
    ``tile_width`` is the width of each tile in px. Drawing options are :class:`PoseDrawer`'s.
    """

    def __init__(
        self,
        size: tuple[int, int],
        skeleton: Sequence[tuple[int, int]],
        keypoint_names: Sequence[str],
        *,
        expected_frames: int | None = None,
        n: int = 12,
        tile_width: int = 320,
        min_score: float = 0.3,
        sure_score: float = 0.6,
        points: PointsMode = "smoothed",
        title: str = "",
    ) -> None:
        if n < 1:
            raise ValueError(f"a contact sheet needs at least one tile, got n={n}")
        self.n, self.title = int(n), title
        self.tile_size = (int(tile_width), max(1, round(tile_width * size[1] / size[0])))
        self.scale = self.tile_size[0] / size[0]
        self.drawer = PoseDrawer(
            self.tile_size, skeleton, keypoint_names, min_score=min_score, sure_score=sure_score,
            points=points,
        )  # fmt: skip
        self.stride = max(1, int(expected_frames or 0) // self.n)
        self.tiles: dict[int, np.ndarray] = {}  # frame index -> (h, w, 3) uint8 BGR tile

    def wants(self, frame_index: int) -> bool:
        """Whether :meth:`offer` would keep this frame (lets a caller skip the drawing)."""
        return frame_index % self.stride == 0

    def offer(self, frame_index: int, image: np.ndarray, tracked: TrackedPoses | None) -> bool:
        """Maybe keep one frame: ``image`` (H, W, 3) uint8 RGB, not modified. True if kept."""
        if not self.wants(frame_index):
            return False
        self.tiles[int(frame_index)] = self.tile(image, tracked)
        while len(self.tiles) > 2 * self.n:
            self.stride *= 2
            self.tiles = {i: t for i, t in self.tiles.items() if i % self.stride == 0}
        return True

    def tile(self, image: np.ndarray, tracked: TrackedPoses | None) -> np.ndarray:
        """One drawn tile (h, w, 3) uint8 BGR of an (H, W, 3) uint8 RGB frame."""
        small = cv2.resize(image[..., ::-1], self.tile_size, interpolation=cv2.INTER_AREA)
        scaled = None if tracked is None else _scaled(tracked, self.scale)
        return self.drawer.draw(small, scaled)

    def image(self) -> np.ndarray:
        """The sheet as (H, W, 3) uint8 RGB: ``n`` tiles evenly chosen among those kept."""
        order = sorted(self.tiles)
        if len(order) > self.n:
            order = [order[i] for i in np.linspace(0, len(order) - 1, self.n).round().astype(int)]
        return _compose([(i, self.tiles[i]) for i in order], self.drawer, self.title)

    def png(self) -> bytes:
        """The sheet encoded as PNG (for a caller that commits its outputs together)."""
        return _encode_png(self.image())

    def write(self, path: str | Path) -> Path:
        """Write the sheet as PNG (atomically); returns ``path``."""
        return write_bytes(path, self.png())


def write_contact_sheet(
    path: str | Path,
    frames_with_poses: Iterable[tuple[int, np.ndarray, TrackedPoses | None]],
    *,
    skeleton: Sequence[tuple[int, int]],
    keypoint_names: Sequence[str],
    tile_width: int = 320,
    min_score: float = 0.3,
    sure_score: float = 0.6,
    points: PointsMode = "smoothed",
    title: str = "",
) -> Path:
    """Write a PNG of every given ``(frame index, (H, W, 3) uint8 RGB image, poses)`` in order,
    all frames of one size. The caller chooses the frames (or use :class:`ContactSheet`)."""
    items = list(frames_with_poses)
    if not items:
        raise ValueError("a contact sheet needs at least one frame")
    h, w = items[0][1].shape[:2]
    sheet = ContactSheet(
        (w, h), skeleton, keypoint_names, n=len(items), tile_width=tile_width,
        min_score=min_score, sure_score=sure_score, points=points, title=title,
    )  # fmt: skip
    tiles = [(index, sheet.tile(image, tracked)) for index, image, tracked in items]
    return write_bytes(path, _encode_png(_compose(tiles, sheet.drawer, title)))


def _scaled(tracked: TrackedPoses, scale: float) -> TrackedPoses:
    """The same poses in a frame resized by ``scale`` (positions and boxes times ``scale``)."""
    det, poses = tracked.detections, tracked.poses
    smooth = None if tracked.xy_smooth is None else tracked.xy_smooth * scale
    return replace(
        tracked,
        detections=Detections(det.xyxy * scale, det.score, det.class_name),
        poses=Poses(poses.xy * scale, poses.score),
        xy_smooth=smooth,
    )


def _compose(tiles: list[tuple[int, np.ndarray]], drawer: PoseDrawer, title: str) -> np.ndarray:
    """Tiles in a near-square grid with frame numbers, a title row and a legend strip; RGB."""
    if not tiles:
        raise ValueError("a contact sheet needs at least one frame")
    th, tw = tiles[0][1].shape[:2]
    cols = int(np.ceil(np.sqrt(1.6 * len(tiles) * th / tw)))  # about 16:10, as screens
    cols = max(1, min(cols, len(tiles)))
    rows = -(-len(tiles) // cols)
    width = cols * tw + (cols + 1) * _GAP
    scale, thick = max(0.4, 0.45 * tw / 320), 1  # sheet text: readable at the tile width
    line_h = cv2.getTextSize("Ag", _FONT, scale, thick)[0][1] * 2
    head = line_h + _GAP if title else 0
    legend = _legend_strip(drawer, width, scale, thick, line_h)
    grid = np.full((head + rows * (th + _GAP) + _GAP, width, 3), _BACKGROUND, np.uint8)
    if title:
        cv2.putText(grid, title, (_GAP, line_h), _FONT, 1.3 * scale, (235, 235, 235), thick, _AA)
    for i, (frame, tile) in enumerate(tiles):
        x = _GAP + (i % cols) * (tw + _GAP)
        y = head + _GAP + (i // cols) * (th + _GAP)
        grid[y : y + th, x : x + tw] = tile
        _tag(grid, f"frame {frame}", (x, y + th), scale, thick)
    return np.ascontiguousarray(np.concatenate([grid, legend])[..., ::-1])


def _tag(image: np.ndarray, text: str, bottom_left: tuple[int, int], scale: float, thick: int):
    """White text on a dark box at a tile's bottom-left corner."""
    (w, h), base = cv2.getTextSize(text, _FONT, scale, thick)
    x, y = bottom_left
    image[y - h - base - 4 : y, x : x + w + 6] //= 3
    cv2.putText(image, text, (x + 3, y - base - 2), _FONT, scale, (255, 255, 255), thick, _AA)


def _legend_strip(
    drawer: PoseDrawer, width: int, scale: float, thick: int, line_h: int
) -> np.ndarray:
    """Rows of ``(marker) name`` entries wrapped to ``width`` px; (h, width, 3) BGR."""
    entries = drawer.legend_rows()
    radius = max(3, line_h // 4)
    sizes = [cv2.getTextSize(t, _FONT, scale, thick)[0][0] + 3 * radius + 16 for _, t, _ in entries]
    places, x, y = [], _GAP, 0
    for size in sizes:
        if x + size > width and x > _GAP:
            x, y = _GAP, y + line_h
        places.append((x, y))
        x += size
    strip = np.full((y + line_h + _GAP, width, 3), _BACKGROUND, np.uint8)
    for (marker, text, color), (x, y) in zip(entries, places, strict=True):
        centre = np.array([x + radius + 0.5, y + line_h / 2 + 0.5])
        drawer.draw_marker(strip, marker, centre, color, radius)
        org = (x + 2 * radius + 6, y + line_h // 2 + line_h // 4)
        cv2.putText(strip, text, org, _FONT, scale, (235, 235, 235), thick, _AA)
    return strip


def _encode_png(rgb: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError("cv2 could not encode the contact sheet as PNG")
    return png.tobytes()
