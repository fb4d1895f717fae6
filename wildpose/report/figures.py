"""The report's figures (matplotlib, Agg canvas, no pyplot state) rendered to PNG bytes.

Every figure takes the reduced :class:`~wildpose.report.data.VideoData` (and the
:class:`~wildpose.report.qc.QcFlags`) and returns PNG bytes; time axes are in seconds.
Track colours are supervision's default palette indexed by track id, as in the annotated video
and the thumbnails (https://supervision.roboflow.com/latest/utils/draw/#supervision.draw.color.ColorPalette).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from wildpose.report.data import VideoData
from wildpose.report.qc import QcFlags

__all__ = [
    "id_timeline",
    "keypoint_confidence",
    "overview",
    "smoother_variance",
    "track_color",
    "trajectories",
]

WIDTH_IN = 10.0
DPI = 110
MAX_TRACK_ROWS = 60
MAX_TRAJECTORIES = 12
MAX_COLUMNS = 1500  # heatmap columns; longer videos are averaged into this many time bins
MAX_POINTS = 4000  # points per trajectory or variance line; longer ones keep every n-th
_FLAG = "#111111"


def track_color(track_id: int) -> str:
    """The track's colour as ``#rrggbb`` (supervision's default palette, indexed by id)."""
    import supervision as sv

    return sv.ColorPalette.DEFAULT.by_idx(int(track_id)).as_hex()


def _thin(rows: pd.DataFrame) -> pd.DataFrame:
    """Every n-th row, so that at most :data:`MAX_POINTS` remain (the last row kept)."""
    step = -(-len(rows) // MAX_POINTS)
    return rows if step <= 1 else pd.concat([rows.iloc[::step], rows.iloc[-1:]])


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(True, color="#e6e6e6", linewidth=0.7)
    ax.set_axisbelow(True)


def overview(video: VideoData, flags: QcFlags) -> bytes:
    """Animals per frame (top) and the worst and median animal's mean keypoint score per frame
    (bottom), with the low-confidence threshold and episodes shaded."""
    fig = Figure(figsize=(WIDTH_IN, 3.6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    f = video.frames
    top.step(f["time_s"], f["animals"], where="mid", color="#3465a4", linewidth=1.2)
    top.fill_between(f["time_s"], f["animals"], step="mid", color="#3465a4", alpha=0.15)
    top.set_ylabel("animals\nper frame")
    top.set_ylim(0, max(1, int(f["animals"].max())) + 0.5)
    top.yaxis.get_major_locator().set_params(integer=True)
    per_frame = video.animals.groupby("frame")["score"]
    times = video.frames["time_s"]
    worst, median = per_frame.min(), per_frame.median()
    bottom.plot(times.reindex(worst.index), worst, color="#cc0000", lw=1, label="worst animal")
    bottom.plot(times.reindex(median.index), median, color="#555555", lw=1, label="median animal")
    bottom.axhline(
        flags.threshold, color=_FLAG, ls="--", lw=0.8, label=f"threshold {flags.threshold:g}"
    )
    for e in flags.episodes:
        bottom.axvspan(
            times.get(e.first, e.time_s),
            times.get(e.last, e.time_s),
            color="#cc0000",
            alpha=0.12,
            lw=0,
        )
    bottom.set_ylim(0, 1.02)
    bottom.set_ylabel("mean keypoint\nscore")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="lower right", fontsize=8, ncols=3, frameon=False)
    for ax in (top, bottom):
        _style(ax)
    return _png(fig)


def id_timeline(video: VideoData, flags: QcFlags) -> bytes:
    """One row per track id, bars where it is present; fragments hatched, suspected swaps
    (a box jumping between frames) marked with black triangles."""
    tracks = flags.tracks.sort_values(["first", "track_id"]).head(MAX_TRACK_ROWS)
    row = {int(t): i for i, t in enumerate(tracks["track_id"])}
    fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.28 * max(len(row), 2)))
    ax = fig.subplots()
    step = 1.0 / (video.fps or 30.0)
    fragment = dict(zip(tracks["track_id"], tracks["fragment"], strict=True))
    spans = flags.spans[flags.spans["track_id"].isin(list(row))]
    for t, part in spans.groupby("track_id"):
        hatch = "////" if fragment[t] else None
        ax.broken_barh(
            list(zip(part["start_s"], part["end_s"] - part["start_s"] + step, strict=True)),
            (row[int(t)] - 0.38, 0.76),
            facecolors=track_color(int(t)),
            edgecolor=_FLAG if hatch else "none",
            hatch=hatch,
            linewidth=0.6,
        )
    jumps = flags.jumps[flags.jumps["track_id"].isin(list(row))]
    if len(jumps):
        ax.scatter(
            jumps["time_s"],
            [row[int(t)] - 0.5 for t in jumps["track_id"]],
            marker="v",
            s=42,
            color=_FLAG,
            edgecolors="white",
            linewidths=0.6,
            zorder=3,
            label="suspected swap (box jumps)",
        )
        ax.legend(
            loc="lower right", fontsize=8, frameon=False, bbox_to_anchor=(1, 1), borderaxespad=0.1
        )
    labels = [f"#{t}" + ("  fragment" if fragment[t] else "") for t in row]
    ax.set_yticks(range(len(row)), labels, fontsize=8)
    for tick, t in zip(ax.get_yticklabels(), row, strict=True):
        if fragment[t]:
            tick.set_color("#cc0000")
    ax.set_ylim(len(row) - 0.4, -0.7)
    f = video.frames
    if len(f):
        ax.set_xlim(f["time_s"].iloc[0] - step, f["time_s"].iloc[-1] + 2 * step)
    ax.set_xlabel("time (s)")
    _style(ax)
    ax.grid(False, axis="y")
    return _png(fig)


def _binned(scores: pd.DataFrame, times: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(K, B) scores and (B + 1,) bin edges in s: frames averaged into at most MAX_COLUMNS."""
    index = times.index.to_numpy()
    grid = scores.reindex(index).to_numpy(np.float64).T  # (K, T), NaN where no animal
    t = times.to_numpy(np.float64)
    step = np.median(np.diff(t)) if len(t) > 1 else 1.0
    edges = np.append(t, t[-1] + step)
    if grid.shape[1] > MAX_COLUMNS:
        bins = np.array_split(np.arange(grid.shape[1]), MAX_COLUMNS)
        with np.errstate(all="ignore"):
            grid = np.stack([np.nanmean(grid[:, b], axis=1) for b in bins], axis=1)
        edges = np.append(t[[b[0] for b in bins]], edges[-1])
    return grid, edges


def keypoint_confidence(video: VideoData) -> bytes:
    """Heatmap: keypoint (rows) by time, the median score over the frame's animals (grey where
    no animal is present)."""
    import warnings

    grid, edges = _binned(video.keypoint_score, video.frames["time_s"])
    k = len(video.keypoints)
    fig = Figure(figsize=(WIDTH_IN, 0.8 + 0.2 * max(k, 3)))
    ax = fig.subplots()
    ax.set_facecolor("#d0d0d0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mesh = ax.pcolormesh(
            edges,
            np.arange(k + 1),
            np.ma.masked_invalid(grid),
            cmap="viridis",
            vmin=0,
            vmax=1,
            shading="flat",
            rasterized=True,
        )
    ax.set_yticks(np.arange(k) + 0.5, video.keypoints, fontsize=7)
    ax.set_ylim(k, 0)
    ax.set_xlabel("time (s)")
    fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.03, label="median score")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def trajectories(video: VideoData, flags: QcFlags) -> bytes:
    """One panel per animal (the longest :data:`MAX_TRAJECTORIES` tracks): the mean of its
    keypoints, raw (grey) and smoothed (the track's colour), in image px with y down."""
    tracks = flags.tracks.sort_values("frames", ascending=False).head(MAX_TRAJECTORIES)
    ids = sorted(int(t) for t in tracks["track_id"])
    cols = min(4, max(len(ids), 1))
    rows = -(-len(ids) // cols)
    w, h = video.size or _extent(video.animals)
    panel = WIDTH_IN / cols
    fig = Figure(figsize=(WIDTH_IN, rows * (panel * h / w + 0.45) + 0.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    by_track = dict(tuple(video.animals.groupby("track_id")))
    for ax, t in zip(axes, ids, strict=False):
        a = _thin(by_track[t].sort_values("frame"))
        if np.isfinite(a["x_smooth"].to_numpy()).any():
            ax.plot(a["x_smooth"], a["y_smooth"], color=track_color(t), lw=1.8, label="smoothed")
        ax.plot(a["x"], a["y"], color="#555555", lw=0.6, alpha=0.8, label="raw")
        ax.plot(a["x"].iloc[:1], a["y"].iloc[:1], "o", color=_FLAG, ms=3)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_aspect("equal")
        ax.set_title(f"#{t}  ({len(by_track[t])} frames)", fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        _style(ax)
    for ax in axes[len(ids) :]:
        ax.set_visible(False)
    if ids:
        axes[0].legend(fontsize=7, loc="best", framealpha=0.85)
    fig.supxlabel("x (px)", fontsize=9)
    fig.supylabel("y (px, down)", fontsize=9)
    return _png(fig)


def _extent(animals: pd.DataFrame) -> tuple[float, float]:
    """(width, height) px covering the boxes, when the video size is unknown."""
    w = float(np.nanmax(animals["bbox_x2"])) if len(animals) else 1.0
    h = float(np.nanmax(animals["bbox_y2"])) if len(animals) else 1.0
    return max(w, 1.0), max(h, 1.0)


def smoother_variance(video: VideoData, flags: QcFlags) -> bytes:
    """Per track the median posterior variance over keypoints (px^2, log scale) over time:
    it grows where the smoother bridges gaps or distrusts low-score points."""
    fig = Figure(figsize=(WIDTH_IN, 2.8))
    ax = fig.subplots()
    keep = flags.tracks.sort_values("frames", ascending=False).head(MAX_TRACK_ROWS)["track_id"]
    a = video.animals[video.animals["track_id"].isin(keep)]
    for t, part in a.groupby("track_id"):
        part = _thin(part.sort_values("frame"))
        if np.isfinite(part["var_smooth"].to_numpy()).any():
            ax.plot(part["time_s"], part["var_smooth"], color=track_color(t), lw=1, label=f"#{t}")
    ax.set_yscale("log")
    ax.set_ylabel("variance (px²)")
    ax.set_xlabel("time (s)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            fontsize=7,
            ncols=min(10, len(keep)),
            loc="upper left",
            frameon=False,
            bbox_to_anchor=(0, 1.16),
        )
    _style(ax)
    return _png(fig)
