"""Held-out detection rate of a trained detector, measured the way ``wildpose track`` detects.

The weights run through :func:`wildpose.detect.build_detector` on the held-out images; detections
are matched one-to-one to the annotated boxes at IoU >= 0.5, best score first, each taking the
still-free box it overlaps most (COCO's matching, Lin et al., "Microsoft COCO: Common Objects
in Context", ECCV 2014). Class-agnostic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wildpose.detect import Detector, DetectorOptions, build_detector
from wildpose.errors import InputError
from wildpose.messages import display_path
from wildpose.train.samples import KeypointSample
from wildpose.train.yolo_dataset import by_image
from wildpose.types import Frame

HELDOUT_MAX_DET = 100  # boxes per image kept when measuring (more than track's default 20)


def heldout_detection(
    weights: str | Path,
    samples: Sequence[KeypointSample],
    *,
    imgsz: int,
    device: str = "cpu",
    conf: float = 0.25,
) -> dict[str, float]:
    """Detection rate of ``weights`` on ``samples``' images, class-agnostic.

    ``imgsz``: detector input size, px; ``conf``: minimum score kept. Returns ``recall50`` /
    ``precision50`` (annotated boxes / detections matched one-to-one at IoU >= 0.5),
    ``mean_iou`` (each annotated box's best IoU with any detection, 0 when none, averaged),
    ``boxes``, ``images`` and ``detections`` (detections per image).
    """
    from supervision import box_iou_batch

    options = DetectorOptions(
        model=str(weights), conf=conf, imgsz=imgsz, device=device, max_det=HELDOUT_MAX_DET
    )
    detector = build_detector(options)
    groups = by_image(samples)
    found = [_detect_image(detector, path, i) for i, path in enumerate(groups)]
    best, matched, n_det = [], 0, 0
    for group, (xyxy, score) in zip(groups.values(), found, strict=True):
        gt = np.stack([s.bbox for s in group]).astype(np.float64)  # xywh px
        gt[:, 2:] += gt[:, :2]
        iou = box_iou_batch(gt, xyxy[np.argsort(-score)])  # (G, D), by decreasing score
        best.append(iou.max(axis=1) if iou.shape[1] else np.zeros(len(gt)))
        matched += greedy_matches(iou)
        n_det += len(score)
    ious = np.concatenate(best) if best else np.zeros(0)
    return {
        "recall50": matched / ious.size if ious.size else float("nan"),
        "precision50": matched / n_det if n_det else float("nan"),
        "mean_iou": float(ious.mean()) if ious.size else float("nan"),
        "boxes": int(ious.size),
        "images": len(groups),
        "detections": n_det / max(len(groups), 1),
    }


def greedy_matches(iou: np.ndarray, threshold: float = 0.5) -> int:
    """One-to-one matches at IoU >= ``threshold`` when each detection (a column of the (G, D)
    ``iou``, best first) takes the still-free box it overlaps most (COCO's matching)."""
    free = np.ones(iou.shape[0], dtype=bool)
    for column in iou.T:  # a handful of detections per image
        overlap = np.where(free, column, -1.0)
        if overlap.size and overlap.max() >= threshold:
            free[overlap.argmax()] = False
    return int((~free).sum())


def _detect_image(detector: Detector, path: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (M, 4) float32 xyxy px and scores (M,) that ``detector`` finds in image ``path``."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError("cannot read image", path=display_path(path))
    frame = Frame(index=index, time_s=0.0, image=np.ascontiguousarray(image[..., ::-1]))
    det = detector.detect([frame])[0]
    return det.xyxy, det.score
