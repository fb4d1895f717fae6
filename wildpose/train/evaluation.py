"""Evaluate a pose model on annotated images: OKS AP/AR, PCK and RMSE.

Top-down protocol of the official CLAMP test (Zhang et al., CVPR 2023; mmpose 0.x
``TopDown`` testing): one crop per box (GT boxes by default), the
official crop (box -> centre/scale, 1.25 padding, aspect-fixed; cv2 warp) and flip test,
heatmap decoding back to image px, instance rescoring and OKS-NMS (0.9), COCO keypoint AP with
the dataset's sigmas. PCK (normalised by max(w, h) of the GT box) and RMSE (px) compare each
ground truth with its own prediction (GT boxes) or with its best-OKS prediction in the image
(detector boxes; a ground truth without one counts as missed for PCK and is left out of RMSE).

Coordinates are image px with pixel centres at integers (the COCO / mmpose convention the
annotations use).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .. import keypoints
from ..atomic import write_json
from ..errors import ConfigError, InputError, WildposeError
from ..metrics.coco import coco_keypoint_eval, oks
from ..metrics.pose import (
    mean_pose_baseline,
    pck,
    rescore_and_nms,
    rmse,
    to_coco_results,
    write_coco_results,
)
from ..pose.checkpoint import LoadedModel
from ..pose.crop import CropTransform
from ..pose.manifest import Manifest
from ..pose.model import ClampPose
from ..pose.predictor import Backend, PosePredictor, Precision
from .coco import load_coco_keypoints
from .dataset import TopDownDataset, collate
from .samples import KeypointDataset, KeypointSample
from .transforms import IMAGENET_MEAN, IMAGENET_STD

PCK_THRESHOLDS = (0.05, 0.1, 0.2)


@dataclass(frozen=True)
class Predictions:
    """Top-down predictions for N boxes: ``xy`` (N, K, 2) float32 image px, ``score`` (N, K)
    float32 heatmap maxima, ``box_area`` (N,) float64 px^2 of the padded crop box."""

    xy: np.ndarray
    score: np.ndarray
    box_area: np.ndarray


def make_predictor(
    model: ClampPose,
    manifest: Manifest,
    *,
    flip_test: bool = True,
    device: str | torch.device = "auto",
    precision: Precision = "auto",
    backend: Backend = "torch",
) -> PosePredictor:
    """A predictor for ``model`` with the manifest's normalisation and flip pairs."""
    return PosePredictor(
        model,
        mean=manifest.mean,
        std=manifest.std,
        flip_pairs=manifest.flip_pairs,
        flip_test=flip_test,
        device=device,
        precision=precision,
        backend=backend,
    )


def predict_samples(
    predictor: PosePredictor,
    samples: Sequence[KeypointSample],
    meta: KeypointDataset,
    *,
    batch_size: int = 64,
    workers: int = 0,
) -> Predictions:
    """Predict every sample's box (``sample.bbox``) with the official crop, in batches.

    Crops come from :class:`TopDownDataset` (``train=False``: cv2 warp, ImageNet-normalised),
    renormalised when the predictor's mean/std differ.
    """
    arch = predictor.model.arch
    size, k = arch.image_size, predictor.model.num_keypoints
    if not samples:
        return Predictions(
            np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32), np.zeros(0)
        )
    dataset = TopDownDataset(
        samples, meta, (size, size), (arch.heatmap_size,) * 2, arch.grid_size, train=False
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(0),  # leaves the global RNG alone
        pin_memory=predictor.device.type == "cuda",
    )
    dev = predictor.device
    mean_in = torch.as_tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std_in = torch.as_tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
    same_norm = torch.equal(mean_in, predictor.mean.float()) and torch.equal(
        std_in, predictor.std.float()
    )
    xy, score, area = [], [], []
    for batch in loader:
        crops = batch.image.to(dev, non_blocking=True)
        if not same_norm:
            crops = (crops * std_in + mean_in - predictor.mean) / predictor.std
        xy_crop, s = predictor.predict_crops(crops)
        center, scale = batch.center.numpy(), batch.scale.numpy()
        xy.append(CropTransform(center, scale, (size, size)).to_image(xy_crop.cpu().numpy()))
        score.append(s.float().cpu().numpy())
        area.append(np.prod(scale.astype(np.float64) * 200.0, axis=1))
    return Predictions(np.concatenate(xy), np.concatenate(score), np.concatenate(area))


def samples_to_coco(samples: Sequence[KeypointSample]) -> dict[str, Any]:
    """A COCO keypoints ground-truth dict for ``samples`` (annotation ids 1..N in order)."""
    anns = []
    for i, s in enumerate(samples):
        kp = s.keypoints.astype(np.float64)
        anns.append(
            {
                "id": i + 1,
                "image_id": int(s.image_id),
                "category_id": int(s.category_id),
                "keypoints": kp.reshape(-1).tolist(),
                "num_keypoints": int((kp[:, 2] > 0).sum()),
                "area": float(s.area),
                "bbox": [float(v) for v in s.bbox],
                "iscrowd": 0,
            }
        )
    return {
        "images": [{"id": i} for i in sorted({int(s.image_id) for s in samples})],
        "categories": [{"id": c} for c in sorted({int(s.category_id) for s in samples})],
        "annotations": anns,
    }


def score_predictions(
    gt_samples: Sequence[KeypointSample],
    pred_samples: Sequence[KeypointSample],
    pred: Predictions,
    sigmas: np.ndarray,
    *,
    gt: dict[str, Any] | None = None,
    box_score: np.ndarray | None = None,
    use_cats: bool = True,
) -> tuple[dict[str, float], list[dict]]:
    """Metrics and COCO results of predictions for the boxes of ``pred_samples``.

    ``gt`` is the COCO ground truth for AP (default: built from ``gt_samples``). When
    ``pred_samples`` is ``gt_samples`` (GT boxes) prediction i belongs to ground truth i;
    otherwise each ground truth takes its best-OKS prediction in its image.
    """
    image_ids = np.array([s.image_id for s in pred_samples], dtype=np.int64)
    cat_ids = np.array([s.category_id for s in pred_samples], dtype=np.int64)
    keep, inst = rescore_and_nms(image_ids, pred.xy, pred.score, pred.box_area, sigmas, box_score)
    results = to_coco_results(
        image_ids[keep], cat_ids[keep], pred.xy[keep], pred.score[keep], inst[keep]
    )
    gt = samples_to_coco(gt_samples) if gt is None else gt
    metrics = coco_keypoint_eval(gt, results, sigmas, use_cats=use_cats)
    if pred_samples is gt_samples:
        matched = pred.xy.astype(np.float64)
    else:
        matched = match_predictions(gt_samples, image_ids[keep], pred.xy[keep], sigmas)
    metrics.update(pose_errors(gt_samples, matched))
    metrics.update(instances=len(gt_samples), images=len({s.image_id for s in gt_samples}))
    return metrics, results


def pose_errors(samples: Sequence[KeypointSample], xy: np.ndarray) -> dict[str, float]:
    """PCK@0.05/0.1/0.2 (max(w, h) of the GT box) and RMSE (px) of ``xy`` (N, K, 2) px against
    the samples' labelled keypoints; NaN rows (unmatched) miss in PCK and are left out of RMSE."""
    gt = np.stack([s.keypoints for s in samples]).astype(np.float64)
    visible = gt[..., 2] > 0
    norm = np.stack([s.bbox for s in samples])[:, 2:].max(axis=1).astype(np.float64)
    out = pck(np.nan_to_num(xy, nan=1e12), gt[..., :2], visible, norm, PCK_THRESHOLDS)
    found = np.isfinite(xy).all(-1)
    out["RMSE"] = rmse(np.nan_to_num(xy), gt[..., :2], visible & found)
    return out


def match_predictions(
    samples: Sequence[KeypointSample], image_ids: np.ndarray, xy: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """For each ground truth its best-OKS prediction of the same image, each prediction used
    at most once (ground truths in order of their best OKS): (N, K, 2) px, NaN if none."""
    out = np.full((len(samples), len(sigmas), 2), np.nan)
    gt_img = np.array([s.image_id for s in samples])
    for img in np.unique(gt_img):
        g = np.flatnonzero(gt_img == img)
        p = np.flatnonzero(image_ids == img)
        if p.size == 0:
            continue
        kp = np.stack([samples[i].keypoints for i in g])
        area = np.array([samples[i].area for i in g])
        sim = oks(xy[p], kp[..., :2], kp[..., 2], area, sigmas).T  # (G, P)
        for gi in np.argsort(-sim.max(axis=1), kind="stable"):
            if np.isfinite(sim[gi]).any() and sim[gi].max() >= 0:
                j = int(np.argmax(sim[gi]))
                out[g[gi]] = xy[p[j]]
                sim[:, j] = -np.inf
    return out


def baseline_metrics(
    train: Sequence[KeypointSample], val: Sequence[KeypointSample], sigmas: np.ndarray
) -> dict[str, float]:
    """Scores of the mean-pose baseline (:func:`wildpose.metrics.pose.mean_pose_baseline`) on
    ``val``: the mean training pose in box coordinates put into each validation GT box."""
    kp = np.stack([s.keypoints for s in train])
    xy = mean_pose_baseline(
        kp[..., :2],
        kp[..., 2] > 0,
        np.stack([s.bbox for s in train]),
        np.stack([s.bbox for s in val]),
    )
    n, k = xy.shape[:2]
    box = np.stack([s.bbox for s in val]).astype(np.float64)
    pred = Predictions(xy.astype(np.float32), np.ones((n, k), np.float32), box[:, 2] * box[:, 3])
    return score_predictions(val, val, pred, sigmas)[0]


def evaluation_sigmas(meta: KeypointDataset, manifest: Manifest) -> np.ndarray:
    """The dataset's published OKS sigmas (AP-10K, Animal-Pose), else the model's, else 0.05."""
    published = keypoints.match(meta.readable_names) is not None
    if not published and len(manifest.sigmas) == meta.num_keypoints:
        return np.asarray(manifest.sigmas, dtype=np.float64)
    return meta.sigmas.astype(np.float64)


def evaluate_model(
    loaded: LoadedModel,
    annotations: str | Path,
    images: str | Path,
    *,
    flip_test: bool = True,
    batch_size: int = 64,
    device: str = "auto",
    precision: Precision = "auto",
    backend: Backend = "torch",
    boxes: str = "gt",
    workers: int = 2,
    predictions_path: str | Path | None = None,
    json_path: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``loaded`` on a COCO keypoints file whose images are under ``images``.

    ``backend``/``precision``: the network's runtime (:class:`PosePredictor`).
    ``boxes``: ``gt`` (the annotations' boxes; AP per species category) or a detector spec for
    :func:`wildpose.detect.build_detector` (categories are unknown, so AP pools them). Writes
    the COCO results (``predictions_path``) and the metrics (``json_path``) atomically.
    Returns the metrics (AP ... AR_L in [0, 1], PCK@t, RMSE px, instances, images).
    """
    annotations = Path(annotations)
    meta, samples = load_coco_keypoints(annotations, images)
    k_model = loaded.model.num_keypoints
    if meta.num_keypoints != k_model:
        raise ConfigError(
            f"the annotations have {meta.num_keypoints} keypoints per instance, the model "
            f"{loaded.manifest.name!r} predicts {k_model}",
            path=annotations,
        )
    gt = json.loads(annotations.read_text(encoding="utf-8"))
    sigmas = evaluation_sigmas(meta, loaded.manifest)
    predictor = make_predictor(loaded.model, loaded.manifest, flip_test=flip_test,
                               device=device, precision=precision, backend=backend)  # fmt: skip
    box_score = None
    if boxes == "gt":
        pred_samples = samples
    else:
        pred_samples, box_score = detect_samples(boxes, gt, Path(images), k_model, device)
    pred = predict_samples(predictor, pred_samples, meta, batch_size=batch_size, workers=workers)
    metrics, results = score_predictions(
        samples, pred_samples, pred, sigmas, gt=gt, box_score=box_score, use_cats=boxes == "gt"
    )
    if predictions_path is not None:
        write_coco_results(predictions_path, results)
    if json_path is not None:
        report = {
            "model": loaded.source,
            "model_sha256": loaded.sha256,
            "annotations": str(annotations),
            "images": str(images),
            "boxes": boxes,
            "flip_test": flip_test,
            "device": str(predictor.device),
            "precision": predictor.precision,
            "backend": predictor.backend,
            "sigmas": sigmas.tolist(),
            "metrics": metrics,
        }
        try:
            write_json(json_path, report)
        except OSError as exc:
            raise WildposeError(f"cannot write: {exc}", path=Path(json_path)) from None
    return metrics


def detect_samples(
    spec: str, gt: dict[str, Any], root: Path, k: int, device: str
) -> tuple[list[KeypointSample], np.ndarray]:
    """Detector boxes on every image of ``gt`` as keypoint-less samples, with their scores.

    Boxes (corner-origin px from the detector) are shifted by -0.5 px into the annotations'
    pixel-centre convention. Species are unknown: every box gets the first category id (AP then
    pools the categories). Image ``i`` of ``gt["images"]`` is frame ``i`` for box files; a
    MegaDetector JSON is matched by file name.
    """
    from ..detect import DetectorOptions, build_detector
    from ..types import Frame

    names = [str(image["file_name"]) for image in gt["images"]]
    options = DetectorOptions(model=spec, max_det=100, device="cpu" if device == "auto" else device)
    detector = build_detector(options, image_names=names)
    category = min(int(c["id"]) for c in gt["categories"])
    samples, scores = [], []
    for i, image in enumerate(gt["images"]):
        path = root / image["file_name"]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError("cannot read image (missing or corrupt)", path=path)
        det = detector.detect([Frame(i, 0.0, np.ascontiguousarray(bgr[..., ::-1]))])[0]
        size = (bgr.shape[1], bgr.shape[0])
        for xyxy, score in zip(det.xyxy, det.score, strict=True):
            x1, y1, x2, y2 = (float(v) - 0.5 for v in xyxy)
            bbox = np.array([x1, y1, x2 - x1, y2 - y1], np.float32)
            kp = np.zeros((k, 3), np.float32)
            samples.append(
                KeypointSample(
                    path, int(image["id"]), category, bbox, kp, float(bbox[2] * bbox[3]), size
                )
            )
            scores.append(float(score))
    return samples, np.asarray(scores, dtype=np.float64)


def format_metrics(metrics: dict[str, float]) -> str:
    """One readable line per metric group (AP in %, RMSE in px)."""
    ap = " ".join(
        f"{k} {100 * metrics[k]:.1f}"
        for k in ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR")
        if k in metrics
    )
    pcks = " ".join(f"{k} {100 * v:.1f}" for k, v in metrics.items() if k.startswith("PCK@"))
    return f"{ap}\n{pcks} RMSE {metrics.get('RMSE', float('nan')):.2f} px"
