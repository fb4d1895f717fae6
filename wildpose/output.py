"""Output writers: the tidy track table (Parquet/CSV), ``run.json`` and the annotated video.

Every output is written to a hidden temporary name in the output folder
(``.foo.tracks.parquet.partial``) and renamed to its final name only once it is complete, so a
file with a final name is always whole. :meth:`TrackTableWriter.abort` and
:meth:`AnnotatedVideoWriter.abort` remove the temporaries.

The table has one row per keypoint per animal per frame (see :data:`TRACK_SCHEMA`); rows are
ordered by frame, then by animal in the order of the :class:`~wildpose.types.TrackedPoses`,
then by keypoint in manifest order.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from wildpose import __version__
from wildpose.types import TrackedPoses

TableFormat = Literal["parquet", "csv"]

TRACK_SCHEMA: pa.Schema = pa.schema(
    [
        ("video", pa.string()),
        ("frame", pa.int64()),
        ("time_s", pa.float64()),
        ("track_id", pa.int64()),
        ("class_name", pa.string()),
        ("det_score", pa.float32()),
        ("bbox_x1", pa.float32()),
        ("bbox_y1", pa.float32()),
        ("bbox_x2", pa.float32()),
        ("bbox_y2", pa.float32()),
        ("keypoint", pa.dictionary(pa.int32(), pa.string())),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("score", pa.float32()),
        ("x_smooth", pa.float32()),
        ("y_smooth", pa.float32()),
        ("var_smooth", pa.float32()),
    ]
)
"""Columns, order and types of the track table (the output contract). ``keypoint`` is
dictionary-encoded; x/y are image px with the origin at the top-left pixel corner."""


def partial_path(path: Path) -> Path:
    """The temporary name ``path`` is written under: ``DIR/.NAME.partial``."""
    return path.with_name(f".{path.name}.partial")


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` via a temporary name and a rename.

    numpy scalars/arrays and paths are converted; other non-JSON values raise ``TypeError``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, default=_json_default, allow_nan=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def tracks_table(video: str, frames: Sequence[TrackedPoses], keypoints: Sequence[str]) -> pa.Table:
    """The rows of ``frames`` as a table with :data:`TRACK_SCHEMA` (no metadata).

    Columns are built with vectorised numpy over all animals of all frames at once: per-animal
    values are repeated K times, per-keypoint values flattened from (N, K[, 2]). Frames whose
    smoothing is ``None`` get NaN in ``x_smooth``, ``y_smooth`` and ``var_smooth``.
    """
    k = len(keypoints)
    frames = [f for f in frames if len(f)]
    if not frames:
        return TRACK_SCHEMA.empty_table()
    for f in frames:
        if f.poses.xy.shape[1:] != (k, 2):
            raise ValueError(
                f"frame {f.frame}: poses have shape {f.poses.xy.shape}, expected K={k}"
            )
    n_per_frame = np.array([len(f) for f in frames])
    rows_per_frame = n_per_frame * k
    n_animals = int(n_per_frame.sum())

    def per_animal(values: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.repeat(np.concatenate(values).astype(dtype, copy=False), k, axis=0)

    xyxy = per_animal([f.detections.xyxy for f in frames], np.float32)
    xy = np.concatenate([f.poses.xy for f in frames]).astype(np.float32).reshape(-1, 2)
    xy_s = np.concatenate([_smooth_xy(f) for f in frames]).reshape(-1, 2)
    kp_index = np.tile(np.arange(k, dtype=np.int32), n_animals)
    columns = {
        "video": pa.repeat(pa.scalar(video, pa.string()), n_animals * k),
        "frame": np.repeat(np.array([f.frame for f in frames], np.int64), rows_per_frame),
        "time_s": np.repeat(np.array([f.time_s for f in frames], np.float64), rows_per_frame),
        "track_id": per_animal([f.track_id for f in frames], np.int64),
        "class_name": pa.array(per_animal([f.detections.class_name for f in frames], object)),
        "det_score": per_animal([f.detections.score for f in frames], np.float32),
        "bbox_x1": xyxy[:, 0],
        "bbox_y1": xyxy[:, 1],
        "bbox_x2": xyxy[:, 2],
        "bbox_y2": xyxy[:, 3],
        "keypoint": pa.DictionaryArray.from_arrays(
            kp_index, pa.array(list(keypoints), pa.string())
        ),
        "x": xy[:, 0],
        "y": xy[:, 1],
        "score": np.concatenate([f.poses.score for f in frames]).astype(np.float32).reshape(-1),
        "x_smooth": xy_s[:, 0],
        "y_smooth": xy_s[:, 1],
        "var_smooth": np.concatenate([_smooth_var(f) for f in frames]).reshape(-1),
    }
    arrays = [pa.array(columns[c.name], c.type) for c in TRACK_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=TRACK_SCHEMA)


def _smooth_xy(f: TrackedPoses) -> np.ndarray:
    if f.xy_smooth is None:
        return np.full((len(f), f.poses.xy.shape[1], 2), np.nan, np.float32)
    return f.xy_smooth.astype(np.float32, copy=False)


def _smooth_var(f: TrackedPoses) -> np.ndarray:
    if f.var_smooth is None:
        return np.full((len(f), f.poses.xy.shape[1]), np.nan, np.float32)
    return f.var_smooth.astype(np.float32, copy=False)


class TrackTableWriter:
    """Streams the track table of one input to ``OUT/STEM.tracks.parquet`` and/or ``.csv``.

    Rows are buffered until ``row_group_frames`` frames have been passed to :meth:`write`, then
    written as one Parquet row group (zstd) and appended to the CSV, so memory stays bounded.
    ``metadata`` (e.g. ``{"skeleton": [[0, 1], ...], "model": "clamp-tiny", "model_sha256": ...,
    "video_fps": 30.0, "video_size": [640, 480], "video_frame_count": 2330}``) is stored as
    Parquet key-value metadata with every value JSON-encoded (read back with
    ``json.loads(pq.read_schema(path).metadata[b"model"])``); the writer adds ``keypoints`` (the
    list of names) and, unless given, ``wildpose_version``. Use as a context manager: an
    exception inside the block aborts (removing the temporaries); a normal exit closes.
    """

    def __init__(
        self,
        out_dir: Path,
        stem: str,
        formats: Sequence[TableFormat],
        keypoints: Sequence[str],
        metadata: Mapping[str, Any],
        row_group_frames: int = 256,
    ) -> None:
        if not formats or set(formats) - {"parquet", "csv"}:
            raise ValueError(f"formats must be a non-empty subset of parquet/csv, got {formats}")
        self.keypoints = list(keypoints)
        self.row_group_frames = max(1, int(row_group_frames))
        meta = {
            str(key): json.dumps(value, default=_json_default) for key, value in metadata.items()
        }
        meta["keypoints"] = json.dumps(self.keypoints)
        meta.setdefault("wildpose_version", json.dumps(__version__))
        self.final_paths = [
            Path(out_dir) / f"{stem}.tracks.{fmt}" for fmt in dict.fromkeys(formats)
        ]
        self._pending: list[pa.Table] = []
        self._pending_frames = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pa_csv.CSVWriter | None = None
        self._open = True
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            for path in self.final_paths:
                if path.suffix == ".parquet":
                    self._parquet = pq.ParquetWriter(
                        partial_path(path), TRACK_SCHEMA.with_metadata(meta), compression="zstd"
                    )
                else:
                    self._csv = pa_csv.CSVWriter(partial_path(path), TRACK_SCHEMA)
        except BaseException:
            self.abort()
            raise

    def write(self, video: str, frames: Sequence[TrackedPoses]) -> int:
        """Add the rows of ``frames`` (in frame order); returns the number of rows added."""
        if not self._open:
            raise RuntimeError("TrackTableWriter is closed")
        table = tracks_table(video, frames, self.keypoints)
        if table.num_rows:
            self._pending.append(table)
        self._pending_frames += len(frames)
        if self._pending_frames >= self.row_group_frames:
            self._flush()
        return table.num_rows

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending)
            if self._parquet is not None:
                self._parquet.write_table(table, row_group_size=table.num_rows)
            if self._csv is not None:
                self._csv.write_table(table)
        self._pending = []
        self._pending_frames = 0

    def close(self) -> list[Path]:
        """Flush, finish the files and rename them to their final names, which are returned."""
        if not self._open:
            raise RuntimeError("TrackTableWriter is closed")
        try:
            self._flush()
            self._close_files()
            for path in self.final_paths:
                os.replace(partial_path(path), path)
        except BaseException:
            self.abort()
            raise
        self._open = False
        return list(self.final_paths)

    def abort(self) -> None:
        """Stop writing and remove the temporary files; no final-name file is created."""
        self._open = False
        self._pending = []
        with contextlib.suppress(Exception):
            self._close_files()
        for path in self.final_paths:
            partial_path(path).unlink(missing_ok=True)

    def _close_files(self) -> None:
        parquet, csv, self._parquet, self._csv = self._parquet, self._csv, None, None
        try:
            if parquet is not None:
                parquet.close()
        finally:
            if csv is not None:
                csv.close()

    def __enter__(self) -> TrackTableWriter:
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
        self._tmp = partial_path(self.path)
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
            os.replace(self._tmp, self.path)
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
