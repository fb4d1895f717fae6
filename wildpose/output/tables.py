"""The tidy track table (Parquet/CSV): its schema and the streaming writer.

Tables are written under a temporary name unique to the process (:mod:`wildpose.atomic`) and
renamed to their final names only once complete, so a file with a final name is always whole;
:meth:`TrackTableWriter.abort` removes the temporaries. Given an
:class:`~wildpose.atomic.AtomicGroup` the writer leaves the renaming to the group, which commits
the tables with the run's other outputs (the run record last).

The table has one row per keypoint per animal per frame (see :data:`TRACK_SCHEMA`); rows are
ordered by frame, then by animal in the order of the :class:`~wildpose.types.TrackedPoses`,
then by keypoint in manifest order.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from wildpose import __version__
from wildpose.atomic import AtomicGroup, commit, json_default, temp_path
from wildpose.output.sink import Sink
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


CSV_SCHEMA: pa.Schema = pa.schema(
    [pa.field(f.name, pa.string()) if pa.types.is_floating(f.type) else f for f in TRACK_SCHEMA]
)
"""The CSV's columns: :data:`TRACK_SCHEMA` with the float columns as their text (see
:func:`csv_ready`)."""

CSV_WRITE_OPTIONS = pa_csv.WriteOptions(quoting_style="needed")


def _float_text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    text = pc.cast(values, pa.string())  # the shortest text that reads back as the same float
    integral = pc.match_substring_regex(text, r"^-?[0-9]+$")  # "2" would be typed as an integer
    text = pc.if_else(integral, pc.binary_join_element_wise(text, ".0", ""), text)
    return pc.if_else(pc.is_nan(values), pa.scalar(None, pa.string()), text)


def csv_ready(table: pa.Table) -> pa.Table:
    """``table`` (:data:`TRACK_SCHEMA`) as the CSV writes it: every float with a decimal point
    or exponent and the digits to round-trip float32, NaN as an empty field, so polars, pandas,
    R and duckdb type the numeric columns as numbers and missing values as missing."""
    columns = [
        _float_text(table[f.name]) if pa.types.is_floating(f.type) else table[f.name]
        for f in TRACK_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=CSV_SCHEMA)


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
        # from a list: pyarrow reads an object ndarray through pandas (a 0.2 s import)
        "class_name": per_animal([f.detections.class_name for f in frames], object).tolist(),
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


class TrackTableWriter(Sink):
    """Streams the track table of one input to ``OUT/STEM.tracks.parquet`` and/or ``.csv``.

    Frames are buffered until ``row_group_frames`` frames have been passed to :meth:`write`
    (they must not be modified after), then tabled and written as one Parquet row group (zstd)
    and appended to the CSV, so memory stays bounded.
    ``metadata`` (e.g. ``{"skeleton": [[0, 1], ...], "model": "clamp-tiny", "model_sha256": ...,
    "video_fps": 30.0, "video_size": [640, 480], "video_frame_count": 2330}``) is stored as
    Parquet key-value metadata with every value JSON-encoded (read back with
    ``json.loads(pq.read_schema(path).metadata[b"model"])``); the writer adds ``keypoints`` (the
    list of names) and, unless given, ``wildpose_version``. Use as a context manager: an
    exception inside the block aborts (removing the temporaries); a normal exit closes.
    With ``group``, :meth:`close` finishes the files under their temporary names and the group's
    :meth:`~wildpose.atomic.AtomicGroup.commit` renames them.
    """

    def __init__(
        self,
        out_dir: Path,
        stem: str,
        formats: Sequence[TableFormat],
        keypoints: Sequence[str],
        metadata: Mapping[str, Any],
        row_group_frames: int = 256,
        *,
        group: AtomicGroup | None = None,
    ) -> None:
        if not formats or set(formats) - {"parquet", "csv"}:
            raise ValueError(f"formats must be a non-empty subset of parquet/csv, got {formats}")
        self.keypoints = list(keypoints)
        self.row_group_frames = max(1, int(row_group_frames))
        meta = {
            str(key): json.dumps(value, default=json_default) for key, value in metadata.items()
        }
        meta["keypoints"] = json.dumps(self.keypoints)
        meta.setdefault("wildpose_version", json.dumps(__version__))
        self.final_paths = [
            Path(out_dir) / f"{stem}.tracks.{fmt}" for fmt in dict.fromkeys(formats)
        ]
        self._group = group
        self.temp_paths = [
            group.path(p, mkdir=False) if group else temp_path(p) for p in self.final_paths
        ]
        self._pending: list[tuple[str, list[TrackedPoses]]] = []  # (video, frames) to table
        self._pending_frames = 0
        self._parquet: pq.ParquetWriter | None = None
        self._csv: pa_csv.CSVWriter | None = None
        self._sinks: list[BinaryIO] = []
        self._open = True
        try:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            for path, tmp in zip(self.final_paths, self.temp_paths, strict=True):
                # a Python file: pyarrow opens only paths that are valid UTF-8
                self._sinks.append(sink := open(tmp, "xb"))  # noqa: SIM115 - closed in _close_files
                if path.suffix == ".parquet":
                    self._parquet = pq.ParquetWriter(
                        sink, TRACK_SCHEMA.with_metadata(meta), compression="zstd"
                    )
                else:
                    self._csv = pa_csv.CSVWriter(sink, CSV_SCHEMA, write_options=CSV_WRITE_OPTIONS)
        except BaseException:
            self.abort()
            raise

    def write(self, video: str, frames: Sequence[TrackedPoses]) -> int:
        """Add the rows of ``frames`` (in frame order); returns the number of rows added."""
        if not self._open:
            raise RuntimeError("TrackTableWriter is closed")
        k = len(self.keypoints)
        rows = 0
        for f in frames:
            if len(f) and f.poses.xy.shape[1:] != (k, 2):
                raise ValueError(
                    f"frame {f.frame}: poses have shape {f.poses.xy.shape}, expected K={k}"
                )
            rows += len(f) * k
        if rows:  # tabled once per row group: a table per frame costs more than its rows
            if self._pending and self._pending[-1][0] == video:
                self._pending[-1][1].extend(frames)
            else:
                self._pending.append((video, list(frames)))
        self._pending_frames += len(frames)
        if self._pending_frames >= self.row_group_frames:
            self._flush()
        return rows

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(
                [tracks_table(video, frames, self.keypoints) for video, frames in self._pending]
            )
            if self._parquet is not None:
                self._parquet.write_table(table, row_group_size=table.num_rows)
            if self._csv is not None:
                self._csv.write_table(csv_ready(table))
        self._pending = []
        self._pending_frames = 0

    def close(self) -> list[Path]:
        """Flush, finish the files and rename them to their final names, which are returned
        (with a group: the names they will have once the group commits)."""
        if not self._open:
            raise RuntimeError("TrackTableWriter is closed")
        try:
            self._flush()
            self._close_files()
            if self._group is None:
                for path, tmp in zip(self.final_paths, self.temp_paths, strict=True):
                    commit(tmp, path)
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
        for tmp in self.temp_paths:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _close_files(self) -> None:
        parquet, csv, self._parquet, self._csv = self._parquet, self._csv, None, None
        sinks, self._sinks = self._sinks, []
        with contextlib.ExitStack() as closing:  # every close runs; parquet's footer first
            for sink in sinks:
                closing.callback(sink.close)
            if csv is not None:
                closing.callback(csv.close)
            if parquet is not None:
                closing.callback(parquet.close)
