"""The demo clip's box file is what ``--detector boxes:FILE`` reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wildpose.demo.clip import box_file_path, write_demo_clip
from wildpose.detect.boxfile import load_box_file
from wildpose.types import Frame


def test_box_file_beside_the_clip_reads_back(tmp_path: Path) -> None:
    truth = write_demo_clip(tmp_path / "demo.mp4", n_frames=6, n_animals=3, seed=2)
    path = box_file_path(tmp_path / "demo.mp4")
    assert path.name == "demo.boxes.csv" and path.is_file()
    detector = load_box_file(path)
    frames = [Frame(i, i / 30, np.zeros((240, 320, 3), np.uint8)) for i in range(6)]
    found = detector.detect(frames)
    for t, det in enumerate(found):
        np.testing.assert_allclose(det.xyxy, truth.boxes[t], atol=0.01)
        assert list(det.class_name) == ["animal"] * 3
