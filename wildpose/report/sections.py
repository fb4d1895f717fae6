"""One video's section of the report: summary and flags at a glance, the figures, the
low-confidence frames with thumbnails, and the run's settings and timings."""

from __future__ import annotations

import json
from html import escape

from wildpose.report import figures
from wildpose.report.data import VideoData
from wildpose.report.markup import count, figure, fmt, img, key_values, table
from wildpose.report.qc import QcFlags, flag
from wildpose.report.thumbs import thumbnails

__all__ = ["video_section"]

MAX_EPISODES = 8  # low-confidence episodes shown with thumbnails
MAX_LISTED = 12  # fragments / swaps named in a caption


def video_section(video: VideoData, low_score: float) -> str:
    """The section of one video (``low_score``: the low-confidence threshold)."""
    parts = [
        f'<section class="video" id="{video.anchor}"><h2>{escape(video.video)}</h2>',
        f'<p class="muted">Table {escape(str(video.table))}</p>',
    ]
    if len(video.videos) > 1:
        parts.append(
            f'<p class="bad">This table holds {len(video.videos)} videos; the figures combine '
            "them.</p>"
        )
    if video.animals.empty:
        parts.append('<p class="bad">No animals were tracked: the table has no rows.</p>')
        return "".join([*parts, settings(video), "</section>"])
    flags = flag(video, low_score=low_score)
    parts.append(f'<div class="cols">{summary(video, flags)}{glance(flags)}</div>')
    parts += _figures(video, flags)
    parts += [low_confidence(video, flags), settings(video), "</section>"]
    return "".join(parts)


def _figures(video: VideoData, flags: QcFlags) -> list[str]:
    out = [
        figure(
            figures.overview(video, flags),
            "Detections and confidence per frame",
            "Top: animals with a pose in each frame. Bottom: each animal's mean keypoint "
            "score, the worst and the median animal per frame; shaded: low-confidence "
            "episodes.",
        ),
        figure(figures.id_timeline(video, flags), "Identity timeline", _timeline_caption(flags)),
        figure(
            figures.keypoint_confidence(video),
            "Keypoint confidence over time",
            "Median score over the frame's animals per keypoint; grey: no animal.",
        ),
        figure(
            figures.trajectories(video, flags),
            "Trajectories, raw vs smoothed",
            "Mean of each animal's keypoints per frame in image px (y down); grey: raw "
            "estimates, colour: smoothed; dot: first frame."
            + _shown(len(flags.tracks), figures.MAX_TRAJECTORIES, "longest")
            + ("" if video.has_smooth else " Smoothing was off for this run."),
        ),
    ]
    if video.has_smooth:
        out.append(
            figure(
                figures.smoother_variance(video, flags),
                "Smoother variance",
                "Median posterior positional variance over keypoints per animal; it rises "
                "where the smoother bridges gaps or discounts low scores.",
            )
        )
    else:
        out.append("<h3>Smoother variance</h3><p>Smoothing was off: no variance.</p>")
    return out


def summary(video: VideoData, flags: QcFlags) -> str:
    """Frames, video, track ids, animals per frame, scores, rows, smoothing and model."""
    f, t = video.frames, flags.tracks
    seconds = float(f["time_s"].iloc[-1] - f["time_s"].iloc[0]) if len(f) else 0.0
    empty = int((f["animals"] == 0).sum())
    model = ((video.record or {}).get("model") or {}).get("name") or video.metadata.get("model")
    size = f", {video.size[0]}×{video.size[1]} px" if video.size else ""
    items = [
        ("frames", f"{fmt(len(f))} ({fmt(seconds)} s; {fmt(empty)} without animals)"),
        ("video", f"{fmt(video.fps)} fps{size}"),
        ("track ids", f"{fmt(len(t))} ({count(int(t['fragment'].sum()), 'fragment')})"),
        (
            "animals per frame",
            f"mean {fmt(float(f['animals'].mean()))}, max {fmt(int(f['animals'].max()))}",
        ),
        ("keypoint score", f"median {fmt(float(video.animals['score'].median()))}"),
        ("rows", fmt(video.rows)),
        ("smoothing", "on" if video.has_smooth else "off"),
        ("model", fmt(model)),
    ]
    return key_values(items, "kv summary")


def glance(flags: QcFlags) -> str:
    """What to look at: fragments, suspected swaps and low-confidence episodes, with times."""
    frag = flags.tracks[flags.tracks["fragment"]]
    swaps = flags.jumps.drop_duplicates("frame")
    items = []
    if len(frag):
        ids = ", ".join(
            f"#{r.track_id} at {r.start_s:.2f} s" for r in frag.head(MAX_LISTED).itertuples()
        )
        items.append(f"{count(len(frag), 'short fragment')}: {ids}")
    if len(swaps):
        when = ", ".join(
            f"{r.time_s:.2f} s (frame {r.frame})" for r in swaps.head(MAX_LISTED).itertuples()
        )
        items.append(f"{count(len(swaps), 'suspected swap')} at {when}")
    if flags.episodes:
        worst = flags.episodes[0]
        items.append(
            f"{count(flags.low_frames, 'low-confidence frame')} in "
            f"{count(len(flags.episodes), 'episode')}; "
            f"worst: frame {worst.worst} ({worst.time_s:.2f} s), #{worst.track_id}, "
            f"score {worst.score:.2f}"
        )
    if not items:
        return '<div class="glance ok"><h3>At a glance</h3><p>Nothing flagged.</p></div>'
    lis = "".join(f"<li>{i}</li>" for i in items)
    return f'<div class="glance"><h3>At a glance</h3><ul>{lis}</ul></div>'


def _shown(n: int, limit: int, which: str) -> str:
    """A caption's note when a figure shows only ``limit`` of ``n`` track ids."""
    return f" Shown: the {which} {limit} of {n} track ids." if n > limit else ""


def _timeline_caption(flags: QcFlags) -> str:
    frag = flags.tracks[flags.tracks["fragment"]]
    text = (
        "One row per track id in order of first appearance, bars where it is present. "
        f"Hatched, red label: fragments, present in fewer than {flags.fragment_frames} frames. "
        "Triangles: suspected identity swaps, where a box jumps by more than half its "
        "diagonal between frames." + _shown(len(flags.tracks), figures.MAX_TRACK_ROWS, "first")
    )
    if len(frag):
        listed = frag.head(MAX_LISTED).itertuples()
        text += (
            " Fragments: "
            + ", ".join(f"#{r.track_id} ({r.frames} frames at {r.start_s:.2f} s)" for r in listed)
            + "."
        )
    if len(flags.jumps):
        listed = flags.jumps.head(MAX_LISTED).itertuples()
        text += (
            " Swaps: "
            + ", ".join(f"#{r.track_id} at {r.time_s:.2f} s (frame {r.frame})" for r in listed)
            + "."
        )
    return text


def low_confidence(video: VideoData, flags: QcFlags) -> str:
    """The worst :data:`MAX_EPISODES` episodes: frames, time, animal, score and a thumbnail."""
    head = "<h3>Low-confidence frames</h3>"
    if not flags.episodes:
        return head + (
            f"<p>No frame where an animal's mean keypoint score is below {flags.threshold:g}.</p>"
        )
    shown = flags.episodes[:MAX_EPISODES]
    thumbs, note = thumbnails(video, shown, flags.threshold)
    rows = []
    for e in shown:
        span = f"{e.first}–{e.last}" if e.last > e.first else str(e.first)
        cell = img(thumbs[e.worst], f"frame {e.worst}", "thumb") if e.worst in thumbs else "–"
        rows.append(
            [span, str(e.worst), f"{e.time_s:.2f}", f"#{e.track_id}", f"{e.score:.3f}", cell]
        )
    more = len(flags.episodes) - len(shown)
    text = (
        f"<p>{count(flags.low_frames, 'frame')} where an animal's mean keypoint score is below "
        f"{flags.threshold:g}, in {count(len(flags.episodes), 'episode')}; "
        + (f"the worst {len(shown)} ({more} more not shown)" if more else "each")
        + " with its worst frame. Thumbnails: the frame, and the animal that scored worst; "
        "rings: keypoints below the threshold, crosses: raw positions.</p>"
    )
    if note:
        text += f'<p class="bad">Note: {escape(note)}.</p>'
    header = ["frames", "worst frame", "time (s)", "animal", "score", "thumbnail"]
    return head + text + table(header, rows, "low")


def settings(video: VideoData) -> str:
    """Run settings (input, model, detector, device, decoder, versions, config) and timings
    per stage, from the run record."""
    rec = video.record
    head = "<h3>Run settings and timings</h3>"
    if rec is None:
        return head + f"<p>No run record ({escape(video.stem)}.run.json) beside the table.</p>"
    model, config = rec.get("model") or {}, rec.get("config") or {}
    info = rec.get("video_info") or {}
    sha = escape(str(model.get("sha256") or "")[:12])
    items = [
        ("input", fmt(rec.get("input"))),
        ("model", f"{fmt(model.get('name'))} <code>{sha}</code> ({fmt(model.get('source'))})"),
        ("detector", fmt((config.get("detector") or {}).get("model"))),
        ("device", fmt(rec.get("device"))),
        ("decoder", f"{fmt(info.get('backend'))}, {fmt(info.get('codec'))}"),
        (
            "frames read",
            f"{fmt(rec.get('frames_read'))} ({fmt(rec.get('frames_skipped'))} skipped)",
        ),
        ("wall clock", f"{fmt(rec.get('seconds'))} s, {fmt(rec.get('frames_per_s'))} frames/s"),
        ("started", fmt(rec.get("started"))),
        ("wildpose", fmt(rec.get("wildpose_version"))),
    ]
    timings = {k: v for k, v in (rec.get("timings_s") or {}).items() if isinstance(v, int | float)}
    total = sum(timings.values()) or 1.0
    trows = [[escape(k), fmt(v), f"{100 * v / total:.0f} %"] for k, v in timings.items()]
    versions = ", ".join(
        f"{escape(k)} {escape(str(v))}" for k, v in (rec.get("versions") or {}).items()
    )
    timing_table = table(["stage", "seconds", "share"], trows, "timings")
    return (
        head
        + f'<div class="cols">{key_values(items)}{timing_table}</div>'
        + f"<details><summary>Versions</summary><p>{versions or '–'}</p></details>"
        + "<details><summary>Resolved configuration</summary><pre>"
        + f"{escape(json.dumps(config, indent=2))}</pre></details>"
    )
