"""The published keypoint sets wildpose knows: AP-10K and Animal-Pose, each written once.

A :class:`KeypointSet` holds the keypoints as readable language prompts in heatmap-channel
order, the skeleton and left/right flip pairs as 0-based index pairs, the per-keypoint OKS
sigmas and the half-body "upper" joints used by the top-down training augmentation.

- AP-10K (Yu et al., "AP-10K: A Benchmark for Animal Pose Estimation in the Wild", NeurIPS 2021
  Datasets and Benchmarks): the prompts are the class names the official CLAMP weights were
  trained with (Zhang et al., "CLAMP: Prompt-based Contrastive Learning for Connecting Language
  and Animal Pose", CVPR 2023); skeleton from the AP-10K annotation files; sigmas, flip pairs and
  the upper-body split from mmpose's AP-10K dataset info (``configs/_base_/datasets/ap10k.py``).
- Animal-Pose (Cao et al., "Cross-Domain Adaptation for Animal Pose Estimation", ICCV 2019):
  prompts are the readable form of its keypoint names (``L_F_Paw`` -> "left front paw");
  skeleton from its COCO-format annotation file; sigmas, flip pairs and upper-body split from
  mmpose's ``configs/_base_/datasets/animalpose.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ANIMALPOSE", "AP10K", "KEYPOINT_SETS", "KeypointSet", "match"]


@dataclass(frozen=True)
class KeypointSet:
    """One published keypoint set of K keypoints.

    ``keypoints`` (K,) readable names (the language prompts), in heatmap-channel order;
    ``skeleton`` and ``flip_pairs`` 0-based index pairs (flip pairs i < j, sorted); ``sigmas``
    (K,) OKS constants; ``upper_body_ids`` the half-body "upper" joints (all others "lower").
    """

    name: str
    keypoints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]
    upper_body_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if len(self.sigmas) != k:
            raise ValueError(f"{self.name}: {len(self.sigmas)} sigmas for {k} keypoints")
        indices = [i for pairs in (self.skeleton, self.flip_pairs) for p in pairs for i in p]
        if any(not 0 <= i < k for i in (*indices, *self.upper_body_ids)):
            raise ValueError(f"{self.name}: an index is outside 0..{k - 1}")

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def sigma_array(self) -> np.ndarray:
        """The OKS sigmas as a read-only (K,) float64 array."""
        out = np.array(self.sigmas, dtype=np.float64)
        out.setflags(write=False)
        return out


AP10K = KeypointSet(
    name="ap10k",
    keypoints=(
        "left eye", "right eye", "nose", "neck", "tail root",
        "left shoulder", "left elbow", "left front paw",
        "right shoulder", "right elbow", "right front paw",
        "left hip", "left knee", "left back paw",
        "right hip", "right knee", "right back paw",
    ),
    skeleton=(
        (0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (3, 8), (8, 9), (9, 10),
        (4, 11), (11, 12), (12, 13), (4, 14), (14, 15), (15, 16),
    ),
    flip_pairs=((0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16)),
    sigmas=(
        0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062,
        0.107, 0.087, 0.089, 0.107, 0.087, 0.089,
    ),
    # mmpose's split: the right front paw (10) is listed as "lower" there, and kept so here.
    upper_body_ids=(0, 1, 2, 3, 5, 6, 7, 8, 9),
)  # fmt: skip

ANIMALPOSE = KeypointSet(
    name="animalpose",
    keypoints=(
        "left eye", "right eye", "left ear base", "right ear base", "nose", "throat",
        "tail base", "withers", "left front elbow", "right front elbow", "left back elbow",
        "right back elbow", "left front knee", "right front knee", "left back knee",
        "right back knee", "left front paw", "right front paw", "left back paw", "right back paw",
    ),
    skeleton=(
        (0, 1), (0, 2), (1, 3), (0, 4), (1, 4), (4, 5), (5, 7), (6, 7), (5, 8), (8, 12),
        (12, 16), (5, 9), (9, 13), (13, 17), (6, 10), (10, 14), (14, 18), (6, 11), (11, 15),
        (15, 19),
    ),
    flip_pairs=((0, 1), (2, 3), (8, 9), (10, 11), (12, 13), (14, 15), (16, 17), (18, 19)),
    sigmas=(
        0.025, 0.025, 0.026, 0.035, 0.035, 0.10, 0.10, 0.10, 0.107, 0.107, 0.107, 0.107,
        0.087, 0.087, 0.087, 0.087, 0.089, 0.089, 0.089, 0.089,
    ),
    upper_body_ids=(0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17),
)  # fmt: skip

KEYPOINT_SETS: dict[str, KeypointSet] = {s.name: s for s in (AP10K, ANIMALPOSE)}


def match(readable_names: tuple[str, ...] | list[str]) -> KeypointSet | None:
    """The known set whose keypoints are exactly ``readable_names`` (same order), else None."""
    names = tuple(readable_names)
    return next((s for s in KEYPOINT_SETS.values() if s.keypoints == names), None)
