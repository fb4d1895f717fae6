"""Tests for wildpose.report.html: the page is self-contained and shows what it should."""

from __future__ import annotations

import base64
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from wildpose.atomic import is_partial
from wildpose.report import write_report

_SRC = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _pngs(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(m))) for m in _SRC.findall(page)]


def test_page_is_self_contained(report_run: Path, tmp_path: Path):
    out = write_report([report_run], tmp_path / "r.html")
    page = out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # nothing else, no partials
    assert not re.search(r"<script|<link|@import|url\(|https?://", page)
    assert page.count("<img") == len(_SRC.findall(page))  # every image inline
    images = _pngs(page)
    assert len(images) == 5 + 2  # five figures, two low-confidence thumbnails
    assert all(im.format == "PNG" and im.width > 100 for im in images)


def test_page_shows_flags_settings_and_thumbnails(report_run: Path, tmp_path: Path):
    page = write_report([report_run], tmp_path / "r.html").read_text(encoding="utf-8")
    for text in (
        "Identity timeline",
        "Keypoint confidence over time",
        "Smoother variance",
        "Trajectories, raw vs smoothed",
        "#5 (7 frames at 1.00 s)",
        "#1 at 3.00 s (frame 90)",
        "110–118",
        "clamp-tiny",
        "smooth_write",
        "Resolved configuration",
        "1 suspected swap at 3.00 s (frame 90)",
        "1 short fragment: #5 at 1.00 s",
        "16 low-confidence frames in 2 episodes",
    ):
        assert text in page, text
    assert page.count('class="thumb"') == 2


def test_missing_video_lists_frames_without_thumbnails(report_run: Path, tmp_path: Path):
    moved = tmp_path / "moved"
    shutil.copytree(report_run.parent, moved)
    video = Path(report_run.parent.parent / "arena.mp4")
    hidden = video.with_suffix(".hidden")
    video.rename(hidden)
    try:
        page = write_report([moved / report_run.name], tmp_path / "r.html").read_text("utf-8")
    finally:
        hidden.rename(video)
    assert "was not found, so frames are listed without thumbnails" in page
    assert 'class="thumb"' not in page and "110–118" in page


def test_smoothing_off_and_no_run_record(report_run: Path, tmp_path: Path):
    table = pq.read_table(report_run)
    nan = pa.array(np.full(table.num_rows, np.nan, np.float32))
    for name in ("x_smooth", "y_smooth", "var_smooth"):
        table = table.set_column(table.schema.get_field_index(name), name, nan)
    path = tmp_path / "raw.tracks.parquet"
    pq.write_table(table, path)
    page = write_report([path], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Smoothing was off: no variance." in page
    assert "No run record (raw.run.json)" in page
    assert len(_pngs(page)) == 4 + 2  # the video is found by the table's video column


def test_batch_page(report_batch: Path, tmp_path: Path):
    page = write_report([], tmp_path / "b.html", batch_dir=report_batch).read_text("utf-8")
    assert "4 inputs: 2 done, 1 failed, 1 skipped." in page
    assert "Invalid data found when processing input" in page
    assert 'href="#video-arena"' in page and 'id="video-arena"' in page
    assert "No animals were tracked: the table has no rows." in page


def test_unreadable_table_is_reported_in_the_page(tmp_path: Path):
    bad = tmp_path / "bad.tracks.parquet"
    bad.write_bytes(b"not parquet")
    page = write_report([bad], tmp_path / "r.html").read_text(encoding="utf-8")
    assert "This table could not be read" in page


def test_csv_table(report_run: Path, tmp_path: Path):
    csv = tmp_path / "arena.tracks.csv"
    pd.read_parquet(report_run).to_csv(csv, index=False)
    shutil.copy(report_run.with_name("arena.run.json"), tmp_path)
    page = write_report([csv], tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(_pngs(page)) == 7
    assert not any(is_partial(p) for p in tmp_path.iterdir())
