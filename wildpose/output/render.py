"""The annotated video: tracked poses drawn on the frames, encoded to H.264 MP4 with PyAV.

Written under a temporary name (:mod:`wildpose.atomic`) and renamed when the encoder is flushed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from wildpose.atomic import commit, temp_path
from wildpose.types import TrackedPoses


class AnnotatedVideoWriter:
    """Draws tracked poses on frames and encodes them to an H.264 (yuv420p) MP4 with PyAV.

    Boxes are coloured by track id and labelled ``#ID class``; skeleton edges and keypoints use
    the smoothed positions where present, else the raw ones; keypoints with a score below
    ``min_score`` are not drawn. ``size`` is (width, height) of the frames passed to
    :meth:`write`; odd sizes are padded by one black pixel on the right/bottom because yuv420p
    needs even dimensions. ``skeleton`` holds 0-based keypoint index pairs.
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
        crf: int = 23,
    ) -> None:
        import av
        import supervision as sv

        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self.keypoint_names = list(keypoint_names)
        self.min_score = float(min_score)
        self.frames_written = 0
        self._open = True
        self._pad = (self.size[1] % 2, self.size[0] % 2)  # (rows, cols) to add
        edges = [(int(a) + 1, int(b) + 1) for a, b in skeleton]  # supervision is 1-based
        self._box = sv.BoxAnnotator(color_lookup=sv.ColorLookup.TRACK)
        self._label = sv.LabelAnnotator(color_lookup=sv.ColorLookup.TRACK)
        self._edge = sv.EdgeAnnotator(edges=edges, thickness=2) if edges else None
        self._vertex = sv.VertexAnnotator(radius=3)
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
        scene = np.ascontiguousarray(image[..., ::-1])  # supervision draws on BGR
        if tracked is not None and len(tracked):
            scene = self._annotate(scene, tracked)
        if any(self._pad):
            scene = np.pad(scene, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)))
        frame = av.VideoFrame.from_ndarray(scene, format="bgr24")
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def _annotate(self, scene: np.ndarray, tracked: TrackedPoses) -> np.ndarray:
        import supervision as sv

        det = tracked.detections
        boxes = sv.Detections(
            xyxy=det.xyxy.astype(np.float32),
            confidence=det.score.astype(np.float32),
            tracker_id=tracked.track_id.astype(int),
        )
        labels = [
            f"#{i} {c}"
            for i, c in zip(tracked.track_id.tolist(), det.class_name.tolist(), strict=True)
        ]
        xy = tracked.poses.xy
        if tracked.xy_smooth is not None:
            xy = np.where(np.isfinite(tracked.xy_smooth), tracked.xy_smooth, xy)
        points = sv.KeyPoints(
            xy=xy.astype(np.float32),
            visible=tracked.poses.score >= self.min_score,
        )
        scene = self._box.annotate(scene, boxes)
        scene = self._label.annotate(scene, boxes, labels=labels)
        if self._edge is not None:
            scene = self._edge.annotate(scene, points)
        return self._vertex.annotate(scene, points)

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

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._open:
            self.close()
