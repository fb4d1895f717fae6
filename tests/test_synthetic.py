"""Generated videos and bursts: ground truth consistent with the pixels and the container."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import ExifTags, Image

from wildpose.synthetic import (
    KEYPOINT_NAMES,
    SKELETON,
    generate_frames,
    write_audio_file,
    write_image_sequence,
    write_synthetic_video,
)


def _decode(path: str) -> list[av.VideoFrame]:
    """Frames straight from PyAV (independent of wildpose.video)."""
    with av.open(path) as container:
        return list(container.decode(video=0))


def test_truth_shapes_and_names(tmp_path: Path) -> None:
    truth = write_synthetic_video(tmp_path / "a.mp4", n_frames=7, n_animals=3, size=(96, 64))
    k = len(KEYPOINT_NAMES)
    assert truth.boxes.shape == (7, 3, 4) and truth.boxes.dtype == np.float32
    assert truth.keypoints.shape == (7, 3, k, 2) and truth.keypoints.dtype == np.float32
    assert truth.keypoint_names == KEYPOINT_NAMES and truth.size == (96, 64)
    assert (truth.n_frames, truth.n_animals) == (7, 3)
    np.testing.assert_allclose(truth.times_s, np.arange(7) / 30.0)
    assert all(0 <= a < k and 0 <= b < k for a, b in SKELETON)


def test_keypoints_inside_boxes_inside_frame(tmp_path: Path) -> None:
    truth = write_synthetic_video(tmp_path / "a.mp4", n_frames=90, n_animals=4, seed=5)
    w, h = truth.size
    x1, y1, x2, y2 = np.moveaxis(truth.boxes, -1, 0)
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= w).all() and (y2 <= h).all()
    assert (x2 - x1 > 5).all() and (y2 - y1 > 5).all()
    x, y = truth.keypoints[..., 0], truth.keypoints[..., 1]
    assert (x >= x1[..., None] - 1e-3).all() and (x <= x2[..., None] + 1e-3).all()
    assert (y >= y1[..., None] - 1e-3).all() and (y <= y2[..., None] + 1e-3).all()


def test_motion_is_smooth_and_real(tmp_path: Path) -> None:
    truth = write_synthetic_video(tmp_path / "a.mp4", n_frames=60, n_animals=2)
    centre = truth.boxes.reshape(60, 2, 2, 2).mean(axis=2)
    step = np.linalg.norm(np.diff(centre, axis=0), axis=-1)
    assert step.max() < 0.05 * min(truth.size)
    assert np.linalg.norm(centre[-1] - centre[0], axis=-1).min() > 2.0


def test_left_ear_is_on_the_animals_left(tmp_path: Path) -> None:
    """Seen from above with y down, the animal's left is counterclockwise of its heading."""
    truth = write_synthetic_video(tmp_path / "a.mp4", n_frames=30, n_animals=3)
    kp = truth.keypoints
    ahead = kp[..., 0, :] - kp[..., 3, :]  # tail base -> nose

    def side(ear: int) -> np.ndarray:
        to_ear = kp[..., ear, :] - kp[..., 3, :]
        return ahead[..., 0] * to_ear[..., 1] - ahead[..., 1] * to_ear[..., 0]

    assert (side(KEYPOINT_NAMES.index("left ear")) < 0).all()
    assert (side(KEYPOINT_NAMES.index("right ear")) > 0).all()


def test_boxes_are_tight_around_the_drawn_pixels(tmp_path: Path) -> None:
    truth = write_synthetic_video(
        tmp_path / "a.mp4", n_frames=10, n_animals=1, pix_fmt="yuv444p", background="plain"
    )
    for t, frame in enumerate(_decode(truth.path)):
        image = frame.to_ndarray(format="rgb24").astype(int)
        drawn = np.abs(image - [200, 200, 195]).max(axis=-1) > 40
        ys, xs = np.nonzero(drawn)
        found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert np.abs(found - truth.boxes[t, 0]).max() < 2.5, (t, found, truth.boxes[t, 0])


def test_seed_reproduces_the_scene(tmp_path: Path) -> None:
    a = write_synthetic_video(tmp_path / "a.mp4", n_frames=5, seed=1)
    b = write_synthetic_video(tmp_path / "b.mp4", n_frames=5, seed=1)
    c = write_synthetic_video(tmp_path / "c.mp4", n_frames=5, seed=2)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert not np.allclose(a.keypoints, c.keypoints)


def test_rotation_is_written_as_display_matrix(tmp_path: Path) -> None:
    truth = write_synthetic_video(tmp_path / "r.mp4", n_frames=3, size=(96, 64), rotation=90)
    first = _decode(truth.path)[0]
    assert (first.width, first.height) == (64, 96)  # stored upright-rotated
    assert first.rotation == -90  # FFmpeg: rotate 90 degrees clockwise to display
    with pytest.raises(ValueError, match="rotation"):
        write_synthetic_video(tmp_path / "bad.mp4", rotation=45)


def test_variable_frame_rate_pts_are_written(tmp_path: Path) -> None:
    times = [0.0, 0.05, 0.1, 0.4, 0.45, 1.0, 1.01, 1.5]
    truth = write_synthetic_video(tmp_path / "v.mp4", times_s=times)
    np.testing.assert_allclose(truth.times_s, times, atol=1e-5)
    frames = _decode(truth.path)
    np.testing.assert_allclose([float(f.time) for f in frames], truth.times_s, atol=1e-9)
    mkv = write_synthetic_video(tmp_path / "v.mkv", times_s=[0.0, 0.0333, 0.5])
    np.testing.assert_allclose(mkv.times_s, [0.0, 0.033, 0.5])  # Matroska stores ms


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "suffix"), [("ffv1", "gray", ".mkv"), ("libx264", "yuv444p", ".mp4")]
)
def test_pixel_formats(tmp_path: Path, codec: str, pix_fmt: str, suffix: str) -> None:
    truth = write_synthetic_video(
        tmp_path / f"p{suffix}", n_frames=4, codec=codec, pix_fmt=pix_fmt, gray=pix_fmt == "gray"
    )
    frames = _decode(truth.path)
    assert len(frames) == 4 and frames[0].format.name == pix_fmt


def test_image_sequence_with_exif_times(tmp_path: Path) -> None:
    start = datetime(2024, 5, 1, 6, 30, 0)
    truth = write_image_sequence(tmp_path, n=11, size=(64, 48), interval_s=0.25, start_time=start)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 11 and "img10.jpg" in names and "img2.jpg" in names
    assert truth.keypoints.shape == (11, 1, len(KEYPOINT_NAMES), 2) and truth.fps == 4.0
    with Image.open(tmp_path / "img5.jpg") as im:
        exif = im.getexif().get_ifd(ExifTags.IFD.Exif)
        assert im.size == (64, 48)
    assert exif[ExifTags.Base.DateTimeOriginal] == "2024:05:01 06:30:01"
    assert exif[ExifTags.Base.SubsecTimeOriginal] == "250"


def test_gray_image_sequence_without_exif(tmp_path: Path) -> None:
    write_image_sequence(tmp_path, n=2, size=(32, 24), exif=False, gray=True, name="f{i}.png")
    with Image.open(tmp_path / "f1.png") as im:
        assert im.mode == "L" and not im.getexif()


def test_audio_only_file(tmp_path: Path) -> None:
    write_audio_file(tmp_path / "a.m4a")
    with av.open(str(tmp_path / "a.m4a")) as container:
        assert len(container.streams.audio) == 1 and len(container.streams.video) == 0


def test_visibility_marks_keypoints_under_other_animals(tmp_path: Path) -> None:
    frames, truth = generate_frames(
        np.linspace(0, 20, 40), n_animals=4, seed=11, background="plain"
    )
    assert truth.visible.shape == truth.keypoints.shape[:3] and truth.visible.dtype == bool
    assert truth.visible[:, -1].all()  # the animal drawn last is under nobody
    hidden = ~truth.visible
    assert hidden.any() and hidden.mean() < 0.3
    # A hidden keypoint lies on another animal's pixels: not on the plain background.
    t, n, k = np.argwhere(hidden)[0]
    x, y = truth.keypoints[t, n, k].astype(int)
    assert np.abs(frames[t, y, x].astype(int) - [200, 200, 195]).max() > 20


def test_generate_frames_matches_the_video(tmp_path: Path) -> None:
    video = write_synthetic_video(tmp_path / "a.mp4", n_frames=5, seed=4, pix_fmt="yuv444p")
    frames, truth = generate_frames(video.times_s, seed=4)
    np.testing.assert_allclose(truth.keypoints, video.keypoints, atol=1e-4)
    np.testing.assert_array_equal(truth.visible, video.visible)
    decoded = _decode(video.path)[2].to_ndarray(format="rgb24").astype(int)
    assert np.abs(decoded - frames[2]).mean() < 3  # only the codec's losses
    assert generate_frames([], seed=4)[0].shape == (0, 240, 320, 3)
