"""How well a pose model finds the demo animals: keypoint errors on generated clips.

Clips are H.264 videos of :mod:`wildpose.synthetic` (the codec's losses included); the model
runs on the ground-truth boxes with the real predictor (flip test, image-px output), and only
keypoints the generator marks visible count.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from wildpose.pose.checkpoint import LoadedModel
from wildpose.pose.predictor import PosePredictor
from wildpose.synthetic import write_synthetic_video


@dataclass(frozen=True)
class DemoAccuracy:
    """Errors of visible keypoints: ``errors`` (M,) px; PCK at fractions of the box's longer
    side (as ``wildpose eval``); ``per_keypoint_median`` (K,) px."""

    errors: np.ndarray
    box_side: np.ndarray
    per_keypoint_median: np.ndarray

    @property
    def median_px(self) -> float:
        return float(np.median(self.errors))

    def pck(self, alpha: float) -> float:
        return float(np.mean(self.errors < alpha * self.box_side))

    def within(self, px: float) -> float:
        return float(np.mean(self.errors < px))

    def summary(self) -> str:
        return (
            f"{self.errors.size} keypoints: median {self.median_px:.2f} px, "
            f"within 5 px {self.within(5):.3f}, PCK@0.05 {self.pck(0.05):.3f}, "
            f"PCK@0.1 {self.pck(0.1):.3f}, PCK@0.2 {self.pck(0.2):.3f}"
        )


def decode_rgb(path: str | Path) -> np.ndarray:
    """All frames of a video as (T, H, W, 3) uint8 RGB (PyAV)."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def demo_accuracy(
    loaded: LoadedModel,
    seeds: Sequence[int],
    *,
    n_frames: int = 16,
    n_animals: int = 2,
    size: tuple[int, int] = (320, 240),
    fps: float = 2.0,
) -> DemoAccuracy:
    """Errors over one clip per seed (``fps`` low: frames far apart, poses varied)."""
    predictor = PosePredictor(
        loaded.model, mean=loaded.manifest.mean, std=loaded.manifest.std,
        flip_pairs=loaded.manifest.flip_pairs, device="cpu",
    )  # fmt: skip
    errors, sides, kinds = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            truth = write_synthetic_video(
                Path(tmp) / f"s{seed}.mp4", n_frames=n_frames, size=size, fps=fps,
                n_animals=n_animals, seed=int(seed),
            )  # fmt: skip
            frames = predictor.prepare_frames(decode_rgb(truth.path))
            boxes = truth.boxes.reshape(-1, 4)
            index = np.repeat(np.arange(truth.n_frames), truth.n_animals)
            xy, _ = predictor.predict(frames, boxes, index)
            err = np.linalg.norm(xy - truth.keypoints.reshape(xy.shape), axis=-1)  # (T N, K)
            visible = truth.visible.reshape(err.shape)
            side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            errors.append(err[visible])
            sides.append(np.broadcast_to(side[:, None], err.shape)[visible])
            kinds.append(np.broadcast_to(np.arange(err.shape[1]), err.shape)[visible])
    e, k = np.concatenate(errors), np.concatenate(kinds)
    per_kp = np.array(
        [np.median(e[k == i]) if (k == i).any() else np.nan for i in range(xy.shape[1])]
    )
    return DemoAccuracy(e, np.concatenate(sides), per_kp)
