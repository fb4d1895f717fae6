"""The report in a real headless Chromium: no console errors, no requests, every image shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cdp_browser import Chromium, find_chromium

from wildpose.report import write_report

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


def test_report_renders_in_chromium(report_run: Path, report_batch: Path, tmp_path: Path):
    pages = [
        write_report([report_run], tmp_path / "video.html"),
        write_report([], tmp_path / "batch.html", batch_dir=report_batch),
    ]
    shot = Path(os.environ.get("WILDPOSE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    with Chromium(CHROMIUM) as browser:
        for page in pages:
            url = page.resolve().as_uri()
            check = browser.check_page(url, screenshot=shot if page.stem == "batch" else None)
            assert check.errors == [], check.errors
            foreign = [u[:80] for u in check.requests if u != url and not u.startswith("data:")]
            assert check.requests and foreign == []
            assert len(check.images) >= 5
            broken = [i for i in check.images if not (i["complete"] and i["width"] > 0)]
            assert broken == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_broken_image_is_caught(tmp_path: Path):
    """The check itself: a page with a broken image and a console error fails it."""
    page = tmp_path / "bad.html"
    page.write_text('<img src="data:image/png;base64,AAAA"><script>console.error("boom")</script>')
    with Chromium(CHROMIUM) as browser:
        check = browser.check_page(page.as_uri())
    assert any("boom" in e for e in check.errors)
    assert check.images and check.images[0]["width"] == 0
