"""What the report shows, read from a track table, its metadata and run record, and a run log.

A table (Parquet or CSV) is streamed in record batches of the needed columns only (pyarrow),
regrouped so that each chunk holds whole frames, and reduced per chunk with pandas to

- one row per animal per frame (``VideoData.animals``): box, detector score, the mean of the
  keypoints raw and smoothed, the median smoother variance and the mean keypoint score;
- one row per frame and keypoint name: the median score over the frame's animals
  (``VideoData.keypoint_score``);

so memory grows with frames x animals, not with rows (x keypoints). The run record
``STEM.run.json`` beside the table supplies the settings, timings and the video's path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from wildpose.errors import InputError
from wildpose.interop.tables import read_metadata, table_stem
from wildpose.output.tables import TRACK_SCHEMA

__all__ = ["VideoData", "read_video", "section_id", "table_frames"]

_BOX = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2")
_COLUMNS = (
    "video",
    "frame",
    "time_s",
    "track_id",
    "det_score",
    *_BOX,
    "keypoint",
    "x",
    "y",
    "score",
    "x_smooth",
    "y_smooth",
    "var_smooth",
)
_BATCH_ROWS = 1 << 16


@dataclass(frozen=True, eq=False)
class VideoData:
    """One track table reduced for the report.

    ``animals``: one row per (frame, track_id), columns ``frame``, ``time_s`` (s),
    ``track_id``, ``det_score``, ``bbox_x1..bbox_y2`` (image px), ``x``/``y`` (mean of the raw
    keypoints, px), ``x_smooth``/``y_smooth`` (mean of the smoothed ones; NaN when smoothing was
    off), ``var_smooth`` (median posterior variance over keypoints, px^2) and ``score`` (mean
    keypoint score). ``keypoint_score``: index ``frame``, one column per keypoint name (median
    over the frame's animals). ``frames``: index ``frame`` over every frame the run read (first
    to last), columns ``time_s`` (s, interpolated where a frame has no row) and ``animals``
    (count). ``record`` is ``STEM.run.json`` (None when absent).
    """

    table: Path
    stem: str
    videos: tuple[str, ...]
    metadata: dict[str, Any]
    record: dict[str, Any] | None
    keypoints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    fps: float | None
    size: tuple[int, int] | None
    rows: int
    animals: pd.DataFrame
    keypoint_score: pd.DataFrame
    frames: pd.DataFrame

    @property
    def video(self) -> str:
        """The ``video`` column's value (the input as given), or the stem for an empty table."""
        return self.videos[0] if self.videos else self.stem

    @property
    def has_smooth(self) -> bool:
        return bool(np.isfinite(self.animals["x_smooth"].to_numpy()).any())

    @property
    def anchor(self) -> str:
        """The HTML id of this video's section (see :func:`section_id`)."""
        return section_id(self.table)

    def source_path(self) -> Path | None:
        """The video (or image folder) the run read, if it still exists: the run record's
        ``input``, else the table's ``video`` column (as given, or relative to the table)."""
        candidates = []
        if self.record and isinstance(self.record.get("input"), str):
            candidates.append(Path(self.record["input"]))
        for name in self.videos[:1]:
            candidates += [Path(name), self.table.parent / name]
        return next((p for p in candidates if p.exists()), None)


def section_id(table: str | Path) -> str:
    """The HTML id of a table's section in the report: ``video-STEM``, HTML-safe."""
    stem = table_stem(table)
    return "video-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)


def read_video(path: str | Path) -> VideoData:
    """Reduce one track table (Parquet or CSV) with its metadata and run record."""
    path = Path(path)
    metadata = read_metadata(path)
    record = _run_record(path)
    keypoints = _keypoints(metadata, record)
    animals, scores, videos, rows = _aggregate(path, keypoints)
    keypoints = keypoints or tuple(str(c) for c in scores.columns)
    fps = _number(metadata.get("video_fps")) or _number(
        (record or {}).get("video_info", {}).get("fps")
    )
    size = metadata.get("video_size") or _record_size(record)
    return VideoData(
        table=path,
        stem=table_stem(path),
        videos=videos,
        metadata=metadata,
        record=record,
        keypoints=keypoints,
        skeleton=tuple((int(a), int(b)) for a, b in metadata.get("skeleton") or ()),
        fps=fps,
        size=(int(size[0]), int(size[1])) if size else None,
        rows=rows,
        animals=animals,
        keypoint_score=scores.reindex(columns=list(keypoints)),
        frames=_frames(animals, record, fps),
    )


def _run_record(path: Path) -> dict[str, Any] | None:
    run_json = path.with_name(f"{table_stem(path)}.run.json")
    try:
        record = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _keypoints(metadata: dict[str, Any], record: dict[str, Any] | None) -> tuple[str, ...]:
    names = metadata.get("keypoints") or ((record or {}).get("model") or {}).get("keypoints")
    return tuple(str(k) for k in names) if isinstance(names, list) else ()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _record_size(record: dict[str, Any] | None) -> list[int] | None:
    info = (record or {}).get("video_info") or {}
    return [info["width"], info["height"]] if "width" in info and "height" in info else None


def _batches(path: Path, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    """The table's ``columns`` in record batches; CSV empty fields (and ``nan``) become null."""
    try:
        if path.suffix.lower() == ".csv":
            types = {f.name: f.type for f in TRACK_SCHEMA if f.name in columns}
            types["keypoint"] = pa.string()
            options = pa_csv.ConvertOptions(
                column_types=types,
                include_columns=list(columns),
                null_values=["", "nan", "NaN"],
                strings_can_be_null=False,
            )
            yield from pa_csv.open_csv(path, convert_options=options)
        else:
            yield from pq.ParquetFile(path).iter_batches(_BATCH_ROWS, columns=list(columns))
    except (pa.ArrowException, OSError, KeyError) as e:
        cause = " ".join(str(e).split())
        raise InputError(f"not a wildpose track table ({cause})", path=path) from None


def _whole_frames(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Regroup record batches into tables that never split a frame's rows (rows are ordered by
    frame: the rows of a batch's last frame are carried into the next table)."""
    carry: pa.Table | None = None
    for batch in batches:
        table = pa.Table.from_batches([batch])
        if carry is not None:
            table = pa.concat_tables([carry, table], promote_options="permissive")
        if table.num_rows == 0:
            continue
        frame = table["frame"].to_numpy()
        cut = int(np.flatnonzero(frame != frame[-1])[-1]) + 1 if (frame != frame[-1]).any() else 0
        carry = table.slice(cut)
        if cut:
            yield table.slice(0, cut)
    if carry is not None and carry.num_rows:
        yield carry


def table_frames(path: str | Path, frames: Sequence[int]) -> pd.DataFrame:
    """Every row of the given frames (all columns but ``video``), read by streaming."""
    wanted = np.asarray(sorted(set(int(f) for f in frames)), np.int64)
    columns = [f.name for f in TRACK_SCHEMA if f.name != "video"]
    parts = []
    for batch in _batches(Path(path), columns):
        keep = np.isin(batch.column("frame").to_numpy(), wanted)
        if keep.any():
            parts.append(batch.filter(pa.array(keep)).to_pandas())
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    out["keypoint"] = out["keypoint"].astype(str)
    return out


def _aggregate(
    path: Path, keypoints: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...], int]:
    """(animals, keypoint_score, videos, rows) of a table; see :class:`VideoData`.

    Each whole-frames chunk is grouped with pyarrow (``Table.group_by``) for minima and means
    and with :func:`grouped_median` for medians; NaN counts as missing.
    """
    names = list(keypoints)
    animals, scores, videos, rows = [], [], set(), 0
    for chunk in _whole_frames(_batches(path, _COLUMNS)):
        rows += chunk.num_rows
        videos.update(pc.unique(chunk["video"]).to_pylist())
        chunk = _nan_to_null(chunk.drop_columns(["video"]))
        animals.append(_per_animal(chunk))
        kp = chunk["keypoint"]
        names += [n for n in pc.unique(kp).to_pylist() if n not in names]
        code = pc.index_in(kp, value_set=pa.array(names, pa.string())).to_numpy()
        frame, k, med = grouped_median(chunk["frame"].to_numpy(), code, _floats(chunk, "score"))
        scores.append(pd.DataFrame({"frame": frame, "k": k, "score": med}))
    if not animals:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in _ANIMAL_COLUMNS})
        return empty, pd.DataFrame(columns=names), (), 0
    long = pd.concat(scores, ignore_index=True)
    score = long.pivot(index="frame", columns="k", values="score").sort_index()
    score.columns = [names[int(i)] for i in score.columns]
    per_animal = pd.concat(animals, ignore_index=True)
    per_animal = per_animal.sort_values(["frame", "track_id"], ignore_index=True)
    return per_animal, score, tuple(sorted(videos)), rows


def grouped_median(
    a: np.ndarray, b: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact median of ``values`` per distinct pair (``a``, ``b``), NaN skipped.

    ``a``, ``b``, ``values``: (R,) arrays. Returns (G,) arrays: the pairs (sorted) and their
    medians (NaN where a pair has no finite value). One sort, no Python loop over groups.
    """
    order = np.lexsort((values, b, a))  # NaN sorts last within a pair
    a, b, v = a[order], b[order], values[order].astype(np.float64)
    new = np.ones(len(a), bool)
    new[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    start = np.flatnonzero(new)
    count = np.add.reduceat(np.isfinite(v).astype(np.int64), start) if len(v) else start
    lo = start + np.maximum(count - 1, 0) // 2
    hi = start + count // 2
    with np.errstate(invalid="ignore"):
        median = np.where(count > 0, (v[lo] + v[np.minimum(hi, len(v) - 1)]) / 2, np.nan)
    return a[start], b[start], median


def _floats(table: pa.Table, name: str) -> np.ndarray:
    """A float column as float64 numpy, null as NaN."""
    return pc.fill_null(table[name], np.nan).to_numpy().astype(np.float64)


_ANIMAL_COLUMNS = (
    "frame",
    "track_id",
    "time_s",
    "det_score",
    *_BOX,
    "x",
    "y",
    "x_smooth",
    "y_smooth",
    "var_smooth",
    "score",
)
_FIRST = ("time_s", "det_score", *_BOX)  # one value per animal and frame
_MEAN = ("x", "y", "x_smooth", "y_smooth", "score")


def _nan_to_null(table: pa.Table) -> pa.Table:
    """Float columns with NaN as null (pyarrow's aggregates skip nulls, not NaN); keypoint
    names as plain strings (Parquet dictionaries may differ between batches; CSV has none)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_floating(f.type):
            col = table.column(i)
            table = table.set_column(i, f.name, pc.if_else(pc.is_nan(col), None, col))
        elif f.name == "keypoint" and pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table


def _per_animal(chunk: pa.Table) -> pd.DataFrame:
    """One row per (frame, track_id) of a chunk's rows (see :class:`VideoData`)."""
    aggs = [(c, "min") for c in _FIRST] + [(c, "mean") for c in _MEAN]
    out = chunk.group_by(["frame", "track_id"], use_threads=False).aggregate(aggs)
    names = {f"{c}_{fn}": c for c, fn in aggs}
    out = out.rename_columns([names.get(n, n) for n in out.column_names]).to_pandas()
    frame, track, var = grouped_median(
        chunk["frame"].to_numpy(), chunk["track_id"].to_numpy(), _floats(chunk, "var_smooth")
    )
    var = pd.DataFrame({"frame": frame, "track_id": track, "var_smooth": var})
    out = out.merge(var, on=["frame", "track_id"], how="left")
    return out[list(_ANIMAL_COLUMNS)]


def _frames(
    animals: pd.DataFrame, record: dict[str, Any] | None, fps: float | None
) -> pd.DataFrame:
    """Per frame the number of animals and the time, over every frame the run read.

    Frames are 0..frames_read-1 (offset by ``--start``) when the run record says how many were
    read, else the table's first to last frame; times of frames without a row are interpolated
    between known frames and extrapolated at ``fps``.
    """
    counts = animals.groupby("frame").size()
    times = animals.groupby("frame")["time_s"].first()
    if counts.empty:
        return pd.DataFrame({"time_s": [], "animals": []}, index=pd.Index([], name="frame"))
    lo, hi = int(counts.index.min()), int(counts.index.max())
    read = (record or {}).get("frames_read")
    start = (((record or {}).get("config") or {}).get("video") or {}).get("start")
    if isinstance(read, int) and read > 0 and not start:
        lo, hi = 0, max(hi, read - 1)
    index = np.arange(lo, hi + 1)
    known = times.index.to_numpy()
    t = np.interp(index, known, times.to_numpy())
    step = 1.0 / (fps or 1.0)
    t = np.where(index < known[0], times.iloc[0] - (known[0] - index) * step, t)
    t = np.where(index > known[-1], times.iloc[-1] + (index - known[-1]) * step, t)
    n = counts.reindex(index, fill_value=0).to_numpy()
    return pd.DataFrame({"time_s": t, "animals": n}, index=pd.Index(index, name="frame"))
