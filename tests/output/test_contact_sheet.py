"""Contact sheets: bounded memory, frames spread over the video, one whole PNG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from wildpose.output.contact_sheet import ContactSheet, write_contact_sheet
from wildpose.types import Detections, Poses, TrackedPoses

NAMES = ["nose", "left ear", "right ear", "tail base", "tail end"]
SKELETON = [(0, 1), (0, 2), (0, 3), (3, 4)]


def _tracked(frame: int) -> TrackedPoses:
    xy = np.array([[[60, 60], [90, 50], [90, 70], [150, 60], [190, 90]]], np.float32)
    return TrackedPoses(
        frame, frame / 30, Detections(np.array([[40, 30, 200, 110]], np.float32),
        np.ones(1, np.float32), np.array(["animal"], object)),
        Poses(xy, np.ones((1, 5), np.float32)), np.array([1]),
    )  # fmt: skip


def _image(i: int) -> np.ndarray:
    return np.full((120, 240, 3), i % 250, np.uint8)


def test_keeps_few_frames_spread_over_the_video(tmp_path: Path) -> None:
    sheet = ContactSheet((240, 120), SKELETON, NAMES, expected_frames=300, n=6, tile_width=120)
    kept = [i for i in range(300) if sheet.offer(i, _image(i), _tracked(i))]
    assert 6 <= len(kept) <= 12 and kept[0] == 0 and kept[-1] >= 250
    assert sheet.png()[:8] == b"\x89PNG\r\n\x1a\n"
    path = sheet.write(tmp_path / "a.sheet.png")
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] >= 3 * 120
    assert [p.name for p in tmp_path.iterdir()] == ["a.sheet.png"]


def test_memory_is_bounded_without_a_frame_count() -> None:
    sheet = ContactSheet((240, 120), SKELETON, NAMES, n=4, tile_width=60)
    for i in range(1000):
        if sheet.wants(i):
            sheet.offer(i, _image(i), None)
        assert len(sheet.tiles) <= 8
    frames = sorted(sheet.tiles)
    assert frames[0] == 0 and frames[-1] > 500  # still spread over the whole video
    assert sheet.image().shape[2] == 3


def test_write_contact_sheet_from_chosen_frames(tmp_path: Path) -> None:
    items = [(i, _image(40 * i), _tracked(i)) for i in range(5)]
    path = write_contact_sheet(
        tmp_path / "b.png", items, skeleton=SKELETON, keypoint_names=NAMES, title="b.mp4"
    )
    image = cv2.imread(str(path))
    assert image.shape[0] > 2 * 60 and image.shape[1] > 2 * 320
