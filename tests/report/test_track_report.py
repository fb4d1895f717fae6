"""`wildpose track --report` writes STEM.report.html from the committed table (in run.json)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from wildpose.cli import cli
from wildpose.synthetic import write_synthetic_video


def test_track_report(tmp_path):
    video = tmp_path / "clip.mp4"
    write_synthetic_video(video, n_frames=8, size=(160, 120), n_animals=1)
    out = tmp_path / "out"
    args = ["track", str(video), "--pose", "clamp-tiny", "--detector", "full-frame"]
    res = CliRunner().invoke(cli, [*args, "--report", "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "clip.report.html",
        "clip.run.json",
        "clip.tracks.parquet",
    ]
    page = (out / "clip.report.html").read_text()
    assert page.count("<img") >= 4 and "data:image/png;base64," in page and "clip" in page
    run = json.loads((out / "clip.run.json").read_text())
    assert run["outputs"] == ["clip.tracks.parquet", "clip.report.html"] and run["exports"] == []
