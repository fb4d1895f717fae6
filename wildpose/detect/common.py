"""What every detector shares: building :class:`~wildpose.types.Detections`, the default classes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wildpose.types import Detections

COCO_ANIMALS: tuple[str, ...] = (
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
)
"""The animal classes of COCO, detected by default with COCO-trained models."""


def make_detections(xyxy: np.ndarray, score: np.ndarray, class_name: np.ndarray) -> Detections:
    """Detections with the canonical dtypes: xyxy (N, 4) float32 px, score (N,) float32,
    class_name (N,) object."""
    return Detections(
        xyxy=np.asarray(xyxy, dtype=np.float32).reshape(-1, 4),
        score=np.asarray(score, dtype=np.float32).reshape(-1),
        class_name=np.asarray(class_name, dtype=object).reshape(-1),
    )


def default_classes(names: Sequence[str]) -> list[str] | None:
    """The classes detected when none are asked for (``None``: all).

    Names including all COCO animals: :data:`COCO_ANIMALS`; names with an ``animal`` class
    (MegaDetector: animal, person, vehicle): ``["animal"]``; anything else: every class.
    """
    present = set(names)
    if present.issuperset(COCO_ANIMALS):
        return list(COCO_ANIMALS)
    if "animal" in present:
        return ["animal"]
    return None
