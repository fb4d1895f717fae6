"""A shortened open-field tutorial through the CLI: every step makes its artefact and the
figures are computed (docs/tutorial-openfield.md; the full run is
benchmarks/openfield_tutorial.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_shortened_tutorial(shared_data, tmp_path):
    data = shared_data / "dlc-openfield"
    out = tmp_path / "figures.json"
    work = tmp_path / "work"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "openfield_tutorial.py"),
            "--quick",
            "--data",
            str(data),
            "--work",
            str(work),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    fig = json.loads(out.read_text())
    for artefact in (
        "detector/best.pt",
        "detector/train-detector.json",
        "pose/best.pt",
        "pose/log.jsonl",
        "track/m3v1mp4.tracks.parquet",
        "track/m3v1mp4.run.json",
        "track/m3v1mp4.annotated.mp4",
        "openfield-snout-trajectory.png",
        "openfield-annotated-frame.png",
    ):
        assert (work / artefact).is_file(), artefact
    pose = fig["pose"]
    assert 0 <= pose["val_last"]["PCK@0.1"] <= 1 and pose["baseline"]["PCK@0.1"] >= 0
    assert pose["val_last"]["RMSE"] >= 0
    track = fig["track"]
    assert 89 <= track["frames_in_video"] <= 91  # --end 3 s at 30 fps (PTS rounding at 3.0 s)
    assert 0 <= track["fraction_frames_detected"] <= 1
    assert track["distinct_track_ids"] >= (1 if track["frames_with_detection"] else 0)
    assert "snout_jitter_median_px_raw" in track and "snout_jitter_median_px_smoothed" in track
