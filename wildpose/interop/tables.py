"""A written track table (Parquet or CSV) and its metadata back into dense arrays.

The long table (one row per keypoint per animal per frame, see
:data:`wildpose.output.tables.TRACK_SCHEMA`) becomes arrays over (time, track, keypoint): the
time axis holds every frame index from 0 to the last frame in the table (frames without a row,
and tracks absent from a frame, are NaN), so frame ``t`` of the arrays is frame ``t`` of the
video. Parquet files carry their metadata as key-value pairs (JSON values); a CSV's comes from
the run record ``STEM.run.json`` beside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from wildpose.errors import InputError

__all__ = ["TrackArrays", "describe_tracks", "read_metadata", "read_tracks", "table_stem"]

_FLOATS = ("time_s", "det_score", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")
_POINTS = ("x", "y", "score", "x_smooth", "y_smooth", "var_smooth")
_COLUMNS = ("video", "frame", "track_id", "class_name", "keypoint", *_FLOATS, *_POINTS)


@dataclass(frozen=True, eq=False)
class TrackArrays:
    """One video's tracks as dense arrays: T frames (0..last frame), N tracks, K keypoints.

    ``time_s`` (T,) float64 s: the table's times, frames without a row interpolated (and
    extrapolated at ``fps``); ``track_ids`` (N,) int64 ascending; ``xy``/``xy_smooth``
    (T, N, K, 2) float32 image px; ``score``/``var_smooth`` (T, N, K) float32 (px^2 for the
    variance); ``det_score`` (T, N) float32; ``bbox`` (T, N, 4) float32 x1, y1, x2, y2 px.
    NaN wherever a track is absent from a frame (and in the smoothed fields when smoothing was
    off). ``fps`` is the video's rate (``video_fps``), else estimated from the times.
    """

    path: str
    video: str
    keypoints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    fps: float | None
    track_ids: np.ndarray
    class_names: tuple[str, ...]
    time_s: np.ndarray
    xy: np.ndarray
    score: np.ndarray
    xy_smooth: np.ndarray
    var_smooth: np.ndarray
    det_score: np.ndarray
    bbox: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def individual_names(self) -> tuple[str, ...]:
        """``track_<id>`` per track: the individuals of every exported format."""
        return tuple(f"track_{int(i)}" for i in self.track_ids)

    @property
    def present(self) -> np.ndarray:
        """(T, N) bool: the track has a row in the frame."""
        return np.isfinite(self.det_score)

    @property
    def has_smooth(self) -> bool:
        """Whether the table holds smoothed positions (smoothing was on)."""
        return bool(np.isfinite(self.xy_smooth).any())


def table_stem(path: str | Path) -> str:
    """``foo.tracks.parquet`` -> ``foo`` (the input's stem; other names lose their suffix)."""
    name = Path(path).name
    for suffix in (".tracks.parquet", ".tracks.csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The table's metadata (keys in docs/export.md) as plain values, read in one call.

    Parquet: its key-value metadata, each value JSON-decoded. CSV: the run record beside it
    (``STEM.run.json``), mapped to the same keys; ``{}`` when there is none.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("track table not found", path=path)
    if path.suffix.lower() == ".csv":
        return _csv_metadata(path)
    try:
        raw = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"not a readable Parquet file ({e})", path=path) from None
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode("utf-8", "replace")
        if name.startswith("ARROW:") or name == "pandas":
            continue
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value.decode("utf-8", "replace")
    return out


def _csv_metadata(path: Path) -> dict[str, Any]:
    record_path = path.with_name(f"{table_stem(path)}.run.json")
    if not record_path.is_file():
        return {}
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise InputError(f"run record is not readable JSON ({e})", path=record_path) from None
    if isinstance(record.get("table_metadata"), dict):
        return dict(record["table_metadata"])
    model = record.get("model") or {}
    info = record.get("video_info") or {}
    detector = (record.get("config") or {}).get("detector") or {}
    candidates = {
        "keypoints": model.get("keypoints"),
        "skeleton": model.get("skeleton"),
        "model": model.get("name"),
        "model_sha256": model.get("sha256"),
        "video_fps": info.get("fps"),
        "video_size": [info["width"], info["height"]] if "width" in info else None,
        "video_frame_count": info.get("frame_count"),
        "detector": detector.get("model"),
        "wildpose_version": record.get("wildpose_version"),
    }
    return {k: v for k, v in candidates.items() if v is not None}


def describe_tracks(path: str | Path) -> dict[str, Any]:
    """What ``wildpose info TRACKS`` shows: format, rows, videos, frames, tracks, metadata."""
    path = Path(path)
    metadata = read_metadata(path)
    table = _read_table(path, ("video", "frame", "track_id"))
    return {
        "path": str(path),
        "format": "csv" if path.suffix.lower() == ".csv" else "parquet",
        "rows": table.num_rows,
        "videos": pc.unique(table["video"]).to_pylist(),
        "frames": len(pc.unique(table["frame"])),
        "tracks": len(pc.unique(table["track_id"])),
        "metadata": metadata,
    }


def _read_table(path: Path, columns: Sequence[str]) -> pa.Table:
    """The named columns of a Parquet or CSV track table, floats with NaN for empty fields."""
    from wildpose.output.tables import TRACK_SCHEMA

    try:
        if path.suffix.lower() == ".csv":
            types = {f.name: f.type for f in TRACK_SCHEMA if f.name in columns}
            if "keypoint" in types:
                types["keypoint"] = pa.string()
            table = pa_csv.read_csv(
                path,
                convert_options=pa_csv.ConvertOptions(
                    column_types=types,
                    include_columns=list(columns),
                    null_values=["", "nan", "NaN"],
                    strings_can_be_null=False,
                ),
            )
        else:
            table = pq.read_table(path, columns=list(columns))
    except (pa.ArrowException, OSError, KeyError) as e:
        why = " ".join(str(e).split())
        raise InputError(f"not a wildpose track table ({why})", path=path) from None
    for i, f in enumerate(table.schema):
        if pa.types.is_floating(f.type):
            table = table.set_column(i, f.name, pc.fill_null(table[f.name], np.nan))
    return table


def read_tracks(path: str | Path, *, video: str | None = None) -> TrackArrays:
    """A track table as :class:`TrackArrays` (``video`` picks one when the table holds several)."""
    path = Path(path)
    metadata = read_metadata(path)
    table = _read_table(path, _COLUMNS)
    videos = pc.unique(table["video"]).to_pylist()
    if video is None and len(videos) > 1:
        raise InputError(f"holds {len(videos)} videos; pick one of {videos[:5]}", path=path)
    if video is not None:
        table = table.filter(pc.equal(table["video"], video))
    if table.num_rows == 0:
        raise InputError("no tracked animals (the table has no rows)", path=path)
    video = video if video is not None else videos[0]
    keypoints = _keypoint_names(table, metadata)
    return _pivot(table, str(path), str(video), keypoints, metadata)


def _keypoint_names(table: pa.Table, metadata: dict[str, Any]) -> tuple[str, ...]:
    if isinstance(metadata.get("keypoints"), list):
        return tuple(str(k) for k in metadata["keypoints"])
    return tuple(pc.unique(table["keypoint"].cast(pa.string())).to_pylist())


def _pivot(
    table: pa.Table, path: str, video: str, keypoints: tuple[str, ...], metadata: dict[str, Any]
) -> TrackArrays:
    names = table["keypoint"].cast(pa.string())
    k_idx = pc.index_in(names, value_set=pa.array(keypoints, pa.string())).to_numpy(
        zero_copy_only=False
    )
    if np.isnan(k_idx.astype(np.float64)).any():
        unknown = sorted(set(names.to_pylist()) - set(keypoints))
        raise InputError(f"keypoint(s) {unknown[:5]} are not in the metadata's list", path=path)
    k_idx = k_idx.astype(np.int64)
    col = {c: table[c].to_numpy() for c in ("frame", "track_id", *_FLOATS, *_POINTS)}
    frame = col["frame"].astype(np.int64)
    ids, n_idx = np.unique(col["track_id"], return_inverse=True)
    t, n, k = int(frame.max()) + 1, len(ids), len(keypoints)

    def grid(shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, np.nan, np.float32)

    xy, xy_s = grid((t, n, k, 2)), grid((t, n, k, 2))
    score, var_s = grid((t, n, k)), grid((t, n, k))
    det, bbox = grid((t, n)), grid((t, n, 4))
    xy[frame, n_idx, k_idx] = np.stack([col["x"], col["y"]], axis=-1)
    xy_s[frame, n_idx, k_idx] = np.stack([col["x_smooth"], col["y_smooth"]], axis=-1)
    score[frame, n_idx, k_idx] = col["score"]
    var_s[frame, n_idx, k_idx] = col["var_smooth"]
    det[frame, n_idx] = col["det_score"]
    bbox[frame, n_idx] = np.stack([col[f"bbox_{c}"] for c in ("x1", "y1", "x2", "y2")], -1)
    first = np.unique(n_idx, return_index=True)[1]
    classes = tuple(str(c) for c in table["class_name"].take(pa.array(first)).to_pylist())
    fps = _fps(metadata, frame, col["time_s"])
    return TrackArrays(
        path=path,
        video=video,
        keypoints=keypoints,
        skeleton=tuple((int(a), int(b)) for a, b in metadata.get("skeleton") or ()),
        fps=fps,
        track_ids=ids.astype(np.int64),
        class_names=classes,
        time_s=_frame_times(frame, col["time_s"], t, fps),
        xy=xy,
        score=score,
        xy_smooth=xy_s,
        var_smooth=var_s,
        det_score=det,
        bbox=bbox,
        metadata=metadata,
    )


def _fps(metadata: dict[str, Any], frame: np.ndarray, time_s: np.ndarray) -> float | None:
    """``video_fps`` when positive, else frames per second between the table's times."""
    fps = metadata.get("video_fps")
    if isinstance(fps, int | float) and fps > 0:
        return float(fps)
    frames, first = np.unique(frame, return_index=True)
    if len(frames) < 2:
        return None
    rate = np.diff(frames) / np.diff(time_s[first])
    rate = rate[np.isfinite(rate) & (rate > 0)]
    return float(np.median(rate)) if len(rate) else None


def _frame_times(frame: np.ndarray, time_s: np.ndarray, n: int, fps: float | None) -> np.ndarray:
    """(n,) float64 s for frames 0..n-1: the table's times, linear between known frames and at
    ``fps`` (1 when unknown) before the first and after the last."""
    known, first = np.unique(frame, return_index=True)
    times = time_s[first].astype(np.float64)
    idx = np.arange(n)
    out = np.interp(idx, known, times)
    step = 1.0 / (fps or 1.0)
    out[idx < known[0]] = times[0] - (known[0] - idx[idx < known[0]]) * step
    out[idx > known[-1]] = times[-1] + (idx[idx > known[-1]] - known[-1]) * step
    return out
