"""The pipeline's values, not its shapes: a pose stage that knows the answer, on generated videos.

The detector finds each synthetic animal by its exact body colour (RGB; lossless FFV1 video keeps
colours exact), so frames reaching the detector in BGR order give no boxes. The pose stage looks
up each frame it is handed by its pixels and answers, for each crop box, the generator's true
keypoints in that frame for the animal whose colour box (found in that frame) is nearest, so a
crop cut from the wrong frame of a cross-frame batch gets another frame's keypoints. What the
pipeline writes must then be the truth, per animal and frame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from wildpose.config import resolve_run_config
from wildpose.pipeline import Stages, track_video
from wildpose.pose.checkpoint import LoadedModel
from wildpose.pose.manifest import Manifest
from wildpose.synthetic import KEYPOINT_NAMES, SKELETON, SyntheticTruth, write_synthetic_video
from wildpose.types import Detections, Frame
from wildpose.video import open_video

# body colours of the generator's first three animals (RGB), as drawn by wildpose.synthetic
BODY_RGB = np.array([(150, 105, 60), (85, 85, 100), (205, 175, 120)], np.int16)
K = len(KEYPOINT_NAMES)


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


class ColourDetector:
    """Boxes around the pixels of each body colour (RGB, within 2 levels), class ``animalN``."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        out = []
        for frame in frames:
            img = frame.image.astype(np.int16)
            boxes, names = [], []
            for n, rgb in enumerate(BODY_RGB):
                ys, xs = np.nonzero((np.abs(img - rgb) <= 2).all(axis=-1))
                if xs.size >= 30:
                    boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
                    names.append(f"animal{n}")
            xyxy = np.array(boxes, np.float32).reshape(-1, 4)
            out.append(
                Detections(xyxy, np.full(len(names), 0.9, np.float32), np.array(names, object))
            )
        return out


class TruthPredictor:
    """A pose stage that answers the generator's truth (plus ``noise_px`` of seeded noise).

    ``prepare_frames`` recognises each image by its pixels (frame indices of the decoded video);
    ``predict`` gives each box the true keypoints, in the frame the pipeline says the box belongs
    to, of the animal whose colour box in that frame is nearest (equal when nothing is mixed up).
    """

    device = torch.device("cpu")
    precision = "fp32"
    backend = "torch"

    def __init__(self, truth: SyntheticTruth, video: Path, noise_px: float = 0.0) -> None:
        self.truth, self.noise_px = truth, noise_px
        self.index_of: dict[bytes, int] = {}
        self.colour_boxes: dict[int, Detections] = {}
        with open_video(video) as reader:
            for frame in reader:
                self.index_of[_digest(frame.image)] = frame.index
                self.colour_boxes[frame.index] = ColourDetector().detect([frame])[0]
        assert len(self.index_of) == truth.n_frames  # every frame is distinct

    def prepare_frames(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([self.index_of[_digest(img)] for img in images])

    def predict(
        self, frames: np.ndarray, boxes: np.ndarray, frame_index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        xy = np.zeros((len(boxes), K, 2), np.float32)
        for i, (box, local) in enumerate(zip(boxes, frame_index, strict=True)):
            t = int(frames[local])
            found = self.colour_boxes[t]
            nearest = np.argmin(np.abs(found.xyxy - box).sum(axis=-1))
            n = int(found.class_name[nearest].removeprefix("animal"))
            noise = np.random.default_rng([t, n]).normal(0.0, self.noise_px, (K, 2))
            xy[i] = self.truth.keypoints[t, n] + noise
        return xy, np.full((len(boxes), K), 0.9, np.float32)


def _stages(
    truth: SyntheticTruth, video: Path, noise_px: float = 0.0, overrides: Sequence[str] = ()
) -> Stages:
    """Stages around the colour detector and the truth predictor (``overrides``: ``--set``)."""
    config = resolve_run_config(
        None,
        {},
        [
            "device=cpu",
            "detector.model=colour-stub.pt",  # never loaded: the detector is given
            "detector.frames_per_batch=4",  # four frames per chunk ...
            "pose.batch_size=3",  # ... and pose batches that straddle frames
            *overrides,
        ],
    )
    manifest = Manifest("truth", "stub", KEYPOINT_NAMES, SKELETON)
    loaded = LoadedModel(None, manifest, "0" * 64, "stub")  # type: ignore[arg-type]
    predictor = TruthPredictor(truth, video, noise_px)
    return Stages(config, loaded, predictor, detector=ColourDetector())  # type: ignore[arg-type]


def _video(path: Path, **kw) -> SyntheticTruth:
    return write_synthetic_video(
        path, size=(320, 240), n_animals=3, codec="ffv1", pix_fmt="bgr0", background="plain", **kw
    )


def _against_truth(df: pd.DataFrame, truth: SyntheticTruth, cols: tuple[str, str]) -> np.ndarray:
    """Per row, the distance (px) between ``cols`` and the true keypoint of its animal."""
    animal = df.class_name.str.removeprefix("animal").astype(int).to_numpy()
    kp = df.keypoint.astype(str).map({n: i for i, n in enumerate(KEYPOINT_NAMES)}).to_numpy()
    want = truth.keypoints[df.frame.to_numpy(), animal, kp.astype(int)]
    return np.linalg.norm(df[list(cols)].to_numpy() - want, axis=-1)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> tuple[Path, SyntheticTruth]:
    path = tmp_path_factory.mktemp("values") / "three animals.mkv"
    return path, _video(path, n_frames=20, fps=10.0, seed=3)  # ~10 px steps between frames


def test_written_keypoints_are_the_truth_per_animal_and_frame(scene, tmp_path):
    video, truth = scene
    result = track_video(video, tmp_path, _stages(truth, video))
    df = pd.read_parquet(tmp_path / "three animals.tracks.parquet")
    # every animal in every frame, once, with all its keypoints
    seen = df.groupby(["frame", "class_name"]).size()
    assert len(seen) == truth.n_frames * truth.n_animals and (seen == K).all()
    assert result.rows == len(df) == truth.n_frames * truth.n_animals * K
    assert df.groupby("class_name").track_id.nunique().eq(1).all()  # one identity each
    err = _against_truth(df, truth, ("x", "y"))
    assert err.max() < 0.01, f"raw keypoints off the truth by up to {err.max():.1f} px"
    err_smooth = _against_truth(df, truth, ("x_smooth", "y_smooth"))
    assert np.median(err_smooth) < 1.0 and err_smooth.max() < 4.0


def test_variable_frame_rate_is_smoothed_on_its_own_clock(tmp_path):
    """2 s at 30 fps, 2 s at 5 fps, twice: with 4 px of noise on the keypoints, the smoothed
    track is closer to the truth than the raw one only if each step is the true time gap."""
    steps = np.concatenate([np.full(60, 1 / 30), np.full(10, 1 / 5)] * 2)
    times = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    video = tmp_path / "vfr.mkv"
    truth = _video(video, times_s=times, fps=30.0, seed=3)
    track_video(video, tmp_path, _stages(truth, video, noise_px=4.0))
    df = pd.read_parquet(tmp_path / "vfr.tracks.parquet")
    np.testing.assert_allclose(np.unique(df.time_s), truth.times_s)
    raw = np.sqrt(np.mean(_against_truth(df, truth, ("x", "y")) ** 2))
    smooth = np.sqrt(np.mean(_against_truth(df, truth, ("x_smooth", "y_smooth")) ** 2))
    assert 4.0 < raw < 7.0
    assert smooth < 0.8 * raw, f"smoothed {smooth:.2f} px vs raw {raw:.2f} px"
