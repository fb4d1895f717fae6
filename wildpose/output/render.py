"""Annotated frames: tracked poses drawn on video frames, and the H.264 MP4 that holds them.

:class:`PoseDrawer` draws one frame: boxes and ``#ID class`` labels in the track's colour
(supervision's ``BoxAnnotator`` and ``LabelAnnotator``, whose smart positioning keeps labels
inside the frame and apart), skeleton lines in the track's colour, keypoints in one colour per
keypoint name, and a legend naming the colours. Confidence shows as the marker: a filled disc
at or above ``sure_score``, a faded ring between ``min_score`` and ``sure_score``, nothing
below. Every size (line width, radius, font) scales with the frame (:class:`RenderStyle`), so
a 384 px lab video and a 1080p field video are both readable.

:class:`AnnotatedVideoWriter` encodes drawn frames to MP4 with PyAV, written under a
temporary name (:mod:`wildpose.atomic`) and renamed when the encoder is flushed.
"""

from __future__ import annotations

import colorsys
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from wildpose.atomic import commit, temp_path
from wildpose.output.sink import Sink
from wildpose.types import TrackedPoses

PointsMode = Literal["smoothed", "raw", "both"]
BGR = tuple[int, int, int]
_SHIFT = 4  # cv2 fixed-point bits: keypoints are drawn at sub-pixel positions
_AA = cv2.LINE_AA
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK: BGR = (20, 20, 20)  # marker outlines: dark, so light colours stand out on light ground


@dataclass(frozen=True)
class RenderStyle:
    """Drawing sizes in px for one frame size: ``line`` (skeleton and box width), ``radius``
    (keypoint discs), ``font_scale`` / ``font_thickness`` (cv2 Hershey font), ``padding``."""

    line: int
    radius: int
    font_scale: float
    font_thickness: int
    padding: int

    @classmethod
    def for_size(cls, size: tuple[int, int]) -> RenderStyle:
        """Sizes proportional to the shorter frame side (``size`` is width, height px): at
        480 px lines are 2 px, discs 4 px and text about 11 px tall."""
        unit = min(size) / 480.0
        return cls(
            line=max(1, round(2 * unit)),
            radius=max(2, round(4 * unit)),
            font_scale=max(0.33, 0.45 * unit),
            font_thickness=max(1, round(1.2 * unit)),
            padding=max(2, round(4 * unit)),
        )


def keypoint_colors(k: int) -> list[BGR]:
    """K distinct BGR colours: hues evenly around the wheel, bright and saturated."""
    out = []
    for i in range(k):
        r, g, b = colorsys.hsv_to_rgb(i / max(k, 1), 0.85, 1.0)
        out.append((round(255 * b), round(255 * g), round(255 * r)))
    return out


def _fixed(x: float, y: float) -> tuple[int, int]:
    """Image px (corner origin) to cv2 fixed point (cv2 puts pixel centres at integers)."""
    return round((x - 0.5) * (1 << _SHIFT)), round((y - 0.5) * (1 << _SHIFT))


class PoseDrawer:
    """Draws tracked poses on (H, W, 3) uint8 BGR frames of one ``size`` (width, height px).

    ``skeleton``: 0-based keypoint index pairs. ``points``: which positions are drawn:
    ``"smoothed"`` (the smoother's where finite, else raw), ``"raw"`` (the pose model's), or
    ``"both"`` (smoothed as discs, raw as small crosses). ``boxes`` / ``labels`` turn the
    detection boxes and ``#ID class`` labels on or off.
    """

    def __init__(
        self,
        size: tuple[int, int],
        skeleton: Sequence[tuple[int, int]],
        keypoint_names: Sequence[str],
        *,
        min_score: float = 0.3,
        sure_score: float = 0.6,
        points: PointsMode = "smoothed",
        boxes: bool = True,
        labels: bool = True,
    ) -> None:
        import supervision as sv

        if points not in ("smoothed", "raw", "both"):
            raise ValueError(f"points must be 'smoothed', 'raw' or 'both', got {points!r}")
        self.size = (int(size[0]), int(size[1]))
        self.skeleton = [(int(a), int(b)) for a, b in skeleton]
        self.keypoint_names = list(keypoint_names)
        self.colors = keypoint_colors(len(self.keypoint_names))
        self.min_score, self.sure_score = float(min_score), max(float(sure_score), min_score)
        self.points = points
        self.style = s = RenderStyle.for_size(self.size)
        self.palette = sv.ColorPalette.DEFAULT
        self._legend_at: tuple[int, int] | None = None  # (x, y) px of the legend, once placed
        lookup = sv.ColorLookup.TRACK
        self._box = sv.BoxAnnotator(thickness=s.line, color_lookup=lookup) if boxes else None
        self._label = (
            sv.LabelAnnotator(
                color_lookup=lookup,
                text_scale=s.font_scale,
                text_thickness=s.font_thickness,
                text_padding=s.padding,
                smart_position=True,
            )
            if labels
            else None
        )

    def track_color(self, track_id: int) -> BGR:
        """The BGR colour of a track (supervision's palette, as the boxes use)."""
        return self.palette.by_idx(int(track_id)).as_bgr()

    def draw(
        self, scene: np.ndarray, tracked: TrackedPoses | None, *, legend: bool = False
    ) -> np.ndarray:
        """A drawn copy of ``scene`` (H, W, 3) uint8 BGR; ``legend`` adds the colour legend."""
        out = scene.copy()
        if tracked is not None and len(tracked):
            out = self._draw_boxes(out, tracked)
            self._draw_poses(out, tracked)
        if legend:
            xyxy = tracked.detections.xyxy if tracked is not None else np.zeros((0, 4))
            self.draw_legend(out, avoid=xyxy)
        return out

    def _draw_boxes(self, scene: np.ndarray, tracked: TrackedPoses) -> np.ndarray:
        import supervision as sv

        det = tracked.detections
        boxes = sv.Detections(
            xyxy=det.xyxy.astype(np.float32),
            confidence=det.score.astype(np.float32),
            tracker_id=tracked.track_id.astype(int),
        )
        if self._box is not None:
            scene = self._box.annotate(scene, boxes)
        if self._label is not None:
            ids, names = tracked.track_id.tolist(), det.class_name.tolist()
            labels = [f"#{i} {c}" for i, c in zip(ids, names, strict=True)]
            scene = self._label.annotate(scene, boxes, labels=labels)
        return scene

    def _positions(self, tracked: TrackedPoses) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, K, 2) positions drawn as discs, and (N, K, 2) raw ones drawn as crosses."""
        raw = tracked.poses.xy
        if self.points == "raw" or tracked.xy_smooth is None:
            return raw, None
        smooth = np.where(np.isfinite(tracked.xy_smooth), tracked.xy_smooth, raw)
        return smooth, (raw if self.points == "both" else None)

    def _draw_poses(self, scene: np.ndarray, tracked: TrackedPoses) -> None:
        """Unsure parts first, blended in at half strength, then the sure ones on top."""
        xy, raw = self._positions(tracked)
        score = tracked.poses.score
        shown = (score >= self.min_score) & np.isfinite(xy).all(-1)  # (N, K)
        sure = shown & (score >= self.sure_score)
        if (shown & ~sure).any():
            layer = scene.copy()
            self._draw_layer(layer, tracked, xy, raw, shown & ~sure, shown, ring=True)
            mask = (layer != scene).any(-1)
            scene[mask] = (0.55 * layer[mask] + 0.45 * scene[mask]).astype(np.uint8)
        self._draw_layer(scene, tracked, xy, raw, sure, sure, ring=False)

    def _draw_layer(
        self,
        scene: np.ndarray,
        tracked: TrackedPoses,
        xy: np.ndarray,
        raw: np.ndarray | None,
        marked: np.ndarray,
        linked: np.ndarray,
        *,
        ring: bool,
    ) -> None:
        """Markers of the (N, K) ``marked`` keypoints; edges with one end marked and both
        ends ``linked``; ``ring`` draws rings instead of discs."""
        s = self.style
        for n, track_id in enumerate(tracked.track_id.tolist()):
            color = self.track_color(track_id)
            for a, b in self.skeleton:
                if linked[n, a] and linked[n, b] and (marked[n, a] or marked[n, b]):
                    pa, pb = _fixed(*xy[n, a]), _fixed(*xy[n, b])
                    cv2.line(scene, pa, pb, _INK, s.line + 2, _AA, _SHIFT)
                    cv2.line(scene, pa, pb, color, s.line, _AA, _SHIFT)
        for n in range(len(tracked)):
            for k, color in enumerate(self.colors):
                if not marked[n, k]:
                    continue
                if raw is not None and np.isfinite(raw[n, k]).all():
                    self.draw_marker(scene, "cross", raw[n, k], color)
                self.draw_marker(scene, "ring" if ring else "disc", xy[n, k], color)

    def draw_marker(
        self, scene: np.ndarray, kind: str, p: np.ndarray, color: BGR, radius: int | None = None
    ) -> None:
        """Draw one marker in place at ``p`` (x, y px): ``"disc"`` (sure keypoint), ``"ring"``
        (unsure keypoint) or ``"cross"`` (raw position); ``radius`` defaults to the style's."""
        r = (self.style.radius if radius is None else int(radius)) << _SHIFT
        centre, one = _fixed(*p), 1 << _SHIFT
        if kind == "disc":
            cv2.circle(scene, centre, r + one, _INK, -1, _AA, _SHIFT)
            cv2.circle(scene, centre, r, color, -1, _AA, _SHIFT)
        elif kind == "ring":
            w = max(1, self.style.line)
            cv2.circle(scene, centre, r, _INK, w + 2, _AA, _SHIFT)
            cv2.circle(scene, centre, r, color, w, _AA, _SHIFT)
        elif kind == "cross":
            d, w = 0.8 * r, max(1, self.style.line // 2)
            for dx, dy in ((d, d), (d, -d)):
                a = (round(centre[0] - dx), round(centre[1] - dy))
                b = (round(centre[0] + dx), round(centre[1] + dy))
                cv2.line(scene, a, b, color, w, _AA, _SHIFT)
        else:
            raise ValueError(f"unknown marker {kind!r}")

    def legend_rows(self) -> list[tuple[str, str, BGR]]:
        """(marker, text, colour) rows: one per keypoint, then the marker key."""
        rows = [("disc", name, c) for name, c in zip(self.keypoint_names, self.colors, strict=True)]
        grey: BGR = (200, 200, 200)
        rows.append(("ring", f"score < {self.sure_score:g}", grey))
        if self.points == "both":
            rows.append(("cross", "raw (discs: smoothed)", grey))
        return rows

    def draw_legend(self, scene: np.ndarray, avoid: np.ndarray | None = None) -> None:
        """Draw the legend in place, in the frame corner that overlaps ``avoid`` (M, 4) xyxy
        boxes least the first time, and there after (a legend that jumps is hard to read);
        long lists wrap into columns no taller than 60 % of the frame."""
        s, rows = self.style, self.legend_rows()
        (tw, th), base = cv2.getTextSize("Ag", _FONT, s.font_scale, s.font_thickness)
        row_h = max(th + base, 2 * s.radius + 2) + s.padding
        per_col = max(1, min(len(rows), int(0.6 * self.size[1] // row_h)))
        n_cols = -(-len(rows) // per_col)
        widths = [
            cv2.getTextSize(t, _FONT, s.font_scale, s.font_thickness)[0][0] for _, t, _ in rows
        ]
        col_w = max(widths) + 4 * s.radius + 3 * s.padding
        w, h = n_cols * col_w + s.padding, per_col * row_h + s.padding
        if self._legend_at is None:
            self._legend_at = self._legend_corner(w, h, avoid)
        x0, y0 = self._legend_at
        x1, y1 = min(x0 + w, self.size[0]), min(y0 + h, self.size[1])
        patch = scene[y0:y1, x0:x1]
        patch[:] = (0.35 * patch).astype(np.uint8)  # darkened panel: light text reads on it
        for i, (marker, text, color) in enumerate(rows):
            cx = x0 + (i // per_col) * col_w + s.padding + 2 * s.radius
            cy = y0 + (i % per_col) * row_h + s.padding + row_h // 2 - s.padding // 2
            centre = np.array([cx + 0.5, cy + 0.5])
            self.draw_marker(scene, marker, centre, color)
            org = (cx + 2 * s.radius + s.padding, cy + th // 2)
            cv2.putText(
                scene, text, org, _FONT, s.font_scale, (235, 235, 235), s.font_thickness, _AA
            )

    def _legend_corner(self, w: int, h: int, avoid: np.ndarray | None) -> tuple[int, int]:
        width, height = self.size
        corners = [(0, 0), (width - w, 0), (0, height - h), (width - w, height - h)]
        corners = [(max(0, x), max(0, y)) for x, y in corners]
        if avoid is None or len(avoid) == 0:
            return corners[0]
        boxes = np.asarray(avoid, dtype=np.float64).reshape(-1, 4)

        def overlap(corner: tuple[int, int]) -> float:
            x, y = corner
            ix = np.clip(np.minimum(boxes[:, 2], x + w) - np.maximum(boxes[:, 0], x), 0, None)
            iy = np.clip(np.minimum(boxes[:, 3], y + h) - np.maximum(boxes[:, 1], y), 0, None)
            return float((ix * iy).sum())

        return min(corners, key=overlap)


class AnnotatedVideoWriter(Sink):
    """Draws tracked poses on frames (:class:`PoseDrawer`) and encodes them to an H.264
    (yuv420p) MP4 with PyAV.

    ``size`` is (width, height) of the frames passed to :meth:`write`; odd sizes are padded by
    one black pixel on the right/bottom because yuv420p needs even dimensions. ``skeleton``
    holds 0-based keypoint index pairs. The legend is drawn on the frames with poses during
    the ``legend_s`` seconds from the first one. ``points``, ``min_score``, ``sure_score``,
    ``boxes`` and ``labels`` are :class:`PoseDrawer`'s.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        size: tuple[int, int],
        skeleton: Sequence[tuple[int, int]],
        keypoint_names: Sequence[str],
        *,
        min_score: float = 0.3,
        sure_score: float = 0.6,
        points: PointsMode = "smoothed",
        legend_s: float = 4.0,
        boxes: bool = True,
        labels: bool = True,
        crf: int = 23,
    ) -> None:
        import av

        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self.keypoint_names = list(keypoint_names)
        self.min_score = float(min_score)
        self.drawer = PoseDrawer(
            self.size,
            skeleton,
            keypoint_names,
            min_score=min_score,
            sure_score=sure_score,
            points=points,
            boxes=boxes,
            labels=labels,
        )
        self.legend_frames = round(max(0.0, legend_s) * fps)
        self._legend_from: int | None = None  # the first frame with poses
        self.frames_written = 0
        self._open = True
        self._pad = (self.size[1] % 2, self.size[0] % 2)  # (rows, cols) to add
        self._tmp = temp_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        try:
            rate = Fraction(fps).limit_denominator(100_000)
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.width = self.size[0] + self._pad[1]
            self._stream.height = self.size[1] + self._pad[0]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        except BaseException:
            self.abort()
            raise

    def write(self, image: np.ndarray, tracked: TrackedPoses | None) -> None:
        """Annotate and encode one frame. ``image``: (H, W, 3) uint8 RGB; it is not modified."""
        import av

        if not self._open:
            raise RuntimeError("AnnotatedVideoWriter is closed")
        if image.shape != (self.size[1], self.size[0], 3):
            raise ValueError(f"frame has shape {image.shape}, expected {self.size[::-1]} x 3")
        scene = np.ascontiguousarray(image[..., ::-1])  # cv2 and supervision draw on BGR
        if tracked is not None and len(tracked):
            if self._legend_from is None:
                self._legend_from = self.frames_written
            legend = self.frames_written < self._legend_from + self.legend_frames
            scene = self.drawer.draw(scene, tracked, legend=legend)
        if any(self._pad):
            scene = np.pad(scene, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)))
        frame = av.VideoFrame.from_ndarray(scene, format="bgr24")
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> Path:
        """Flush the encoder, finish the file and rename it to its final name."""
        if not self._open:
            raise RuntimeError("AnnotatedVideoWriter is closed")
        self._open = False
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            commit(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Stop encoding and remove the temporary file."""
        self._open = False
        with contextlib.suppress(Exception):
            self._container.close()
        self._tmp.unlink(missing_ok=True)
