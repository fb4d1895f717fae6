"""Faults of frame sources, made for real: unreadable images, bursts of mixed sizes, odd names."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wildpose.errors import InputError
from wildpose.synthetic import write_synthetic_video
from wildpose.video import open_video, probe


def _png(path: Path, height: int, width: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_unreadable_images_name_the_first_and_its_cause(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InputError) as info:
        open_video(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: none of its images can be read (first: a.jpg: cannot identify image file)"
    )


def test_a_burst_of_mixed_sizes_is_read_at_each_size(tmp_path: Path) -> None:
    """Mixed cameras and EXIF-rotated stills: every frame keeps its own size; the sequence's
    size is that of its first image."""
    _png(tmp_path / "img1.png", 48, 64)
    _png(tmp_path / "img2.png", 64, 48)
    _png(tmp_path / "img3.png", 40, 80)
    rotated = Image.fromarray(np.zeros((30, 50, 3), np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    rotated.save(tmp_path / "img4.jpg", exif=exif)
    with open_video(tmp_path) as reader:
        shapes = [frame.image.shape for frame in reader]
        assert (reader.info.width, reader.info.height) == (64, 48)
        assert reader.frames_read == 4 and reader.skipped == 0
    assert shapes == [(48, 64, 3), (64, 48, 3), (40, 80, 3), (50, 30, 3)]
    assert (probe(str(tmp_path)).width, probe(str(tmp_path)).height) == (64, 48)


def test_names_with_newlines_and_undecodable_bytes_stay_one_line(tmp_path: Path) -> None:
    odd = tmp_path / "new\nline.mp4"
    odd.write_bytes(b"not a video")
    with pytest.raises(InputError) as info:
        open_video(odd)
    assert str(info.value).startswith(f"{tmp_path}/new\\nline.mp4: not a readable video")
    raw = os.fsencode(tmp_path) + b"/caf\xe9.mp4"
    with open(raw, "wb") as f:
        f.write(b"")
    with pytest.raises(InputError) as info:
        open_video(os.fsdecode(raw))
    text = str(info.value)
    assert text == f"{tmp_path}/caf\\xe9.mp4: empty file (0 bytes)"
    text.encode("utf-8")  # printable: no lone surrogates left


def test_a_video_named_with_a_newline_decodes(tmp_path: Path) -> None:
    path = tmp_path / "new\nline.mp4"
    write_synthetic_video(path, n_frames=3, size=(32, 24), fps=10.0, n_animals=1)
    with open_video(path) as reader:
        assert sum(1 for _ in reader) == 3
