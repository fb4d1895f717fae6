"""The report page: one self-contained HTML file (inline CSS, PNG figures as data URIs; no
scripts, fonts or other files), written atomically.

Layout: a header with a contents list; for a batch, the inputs' status table and the failures
with their errors; then one section per video (:mod:`wildpose.report.sections`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from wildpose import __version__
from wildpose.atomic import write_text
from wildpose.errors import WildposeError
from wildpose.report.data import read_video, section_id
from wildpose.report.inputs import BatchData, read_batch
from wildpose.report.markup import fmt, table
from wildpose.report.sections import video_section
from wildpose.report.style import CSS

__all__ = ["batch_section", "render_page", "write_report"]


def write_report(
    tracks: Sequence[str | Path],
    out: str | Path,
    *,
    batch_dir: str | Path | None = None,
    low_score: float = 0.3,
) -> Path:
    """Write the QC report of ``tracks`` (track tables) to ``out`` (HTML); returns ``out``.

    ``batch_dir``: a batch output folder whose run log gives the per-input status table (with
    no ``tracks``, its done inputs' tables are reported). ``low_score``: frames where an
    animal's mean keypoint score is below it are listed as low-confidence. A table that cannot
    be read gets a section saying why; the others are reported.
    """
    batch = read_batch(batch_dir) if batch_dir is not None else None
    paths = [Path(t) for t in tracks] or (list(batch.tables.values()) if batch else [])
    return write_text(out, render_page(paths, batch, low_score=low_score))


def render_page(tables: Sequence[Path], batch: BatchData | None, *, low_score: float) -> str:
    """The whole page as a string."""
    sections, toc = [], []
    for path in tables:
        try:
            video = read_video(path)
        except WildposeError as e:
            sections.append(
                f'<section class="video" id="{section_id(path)}"><h2>{escape(str(path))}</h2>'
                f'<p class="bad">This table could not be read: {escape(str(e))}</p></section>'
            )
            toc.append((section_id(path), str(path)))
            continue
        toc.append((video.anchor, video.video))
        sections.append(video_section(video, low_score))
    names = ", ".join(n for _, n in toc) or "no tables"
    title = f"wildpose QC report: {f'batch {batch.folder.name}' if batch else names}"
    body = [_header(title, toc, batch), batch_section(batch, tables) if batch else "", *sections]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _header(title: str, toc: list[tuple[str, str]], batch: BatchData | None) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    links = "".join(f'<li><a href="#{a}">{escape(n)}</a></li>' for a, n in toc)
    if batch:
        links = '<li><a href="#batch">Batch inputs</a></li>' + links
    return (
        f'<header><h1>{escape(title)}</h1><p class="muted">Made {now} by wildpose '
        f"{escape(__version__)}.</p><nav><ol>{links}</ol></nav></header>"
    )


def batch_section(batch: BatchData, tables: Sequence[Path]) -> str:
    """Counts per status, the failures with their whole error messages, and one row per input
    (status, rows, tracks, frames, seconds, error) linked to its video's section."""
    reported = {str(p) for p in tables}
    counts: dict[str, int] = {}
    rows = []
    for rec in batch.records:
        status = str(rec.get("status", "?"))
        counts[status] = counts.get(status, 0) + 1
        name = escape(rec["input"])
        table_path = batch.tables.get(rec["input"])
        if table_path is not None and str(table_path) in reported:
            name = f'<a href="#{section_id(table_path)}">{name}</a>'
        badge = f'<span class="st st-{escape(status)}">{escape(status)}</span>'
        error = f'<span class="err">{escape(str(rec.get("error") or ""))}</span>'
        cells = [fmt(rec.get(k)) for k in ("rows", "tracks", "frames", "seconds")]
        rows.append([name, badge, *cells, error])
    summary = ", ".join(f"{n} {escape(s)}" for s, n in sorted(counts.items()))
    failures = [r for r in batch.records if r.get("status") == "failed"]
    fail_html = ""
    if failures:
        items = "".join(
            f"<li><b>{escape(r['input'])}</b>: "
            f"<code>{escape(str(r.get('error') or 'no message'))}</code></li>"
            for r in failures
        )
        fail_html = (
            f'<h3 class="bad">Failures ({len(failures)})</h3><ul class="failures">{items}</ul>'
        )
    header = ["input", "status", "rows", "tracks", "frames", "seconds", "error"]
    return (
        f'<section id="batch"><h2>Batch inputs</h2><p>{escape(str(batch.folder))}: '
        f"{len(batch.records)} inputs: {summary}.</p>{fail_html}"
        f"{table(header, rows, 'batch')}</section>"
    )
