"""Pose metrics and post-processing besides COCO AP: PCK, RMSE, instance rescoring and OKS-NMS,
COCO results lists and the mean-pose baseline.

Coordinates are image px; ``K`` is the number of keypoints and ``sigmas`` (K,) the dataset's
OKS constants. Rescoring and NMS follow mmpose 0.x's top-down evaluation (``oks_nms``), PCK its
``keypoint_pck_accuracy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wildpose.atomic import write_json
from wildpose.errors import WildposeError


def pck(
    pred_xy: np.ndarray,
    gt_xy: np.ndarray,
    visible: np.ndarray,
    norm: np.ndarray,
    thresholds: Sequence[float] = (0.05, 0.1, 0.2),
) -> dict[str, float]:
    """Bbox-normalised PCK as mmpose's ``keypoint_pck_accuracy`` (keys ``PCK@0.05`` ...).

    ``pred_xy``/``gt_xy`` (N, K, 2) px, ``visible`` (N, K) bool, ``norm`` (N,) px or (N, 2) per
    axis. mmpose's bbox normaliser is max(w, h) of the GT box on both axes, so pass
    ``bbox[:, 2:].max(1)``. A keypoint is correct when ||(pred - gt) / norm|| < thr; PCK is the
    mean over keypoints (with at least one visible instance) of the fraction correct, 0.0 when
    nothing is visible. Instances whose ``norm`` is not positive are left out.
    """
    pred = np.asarray(pred_xy, dtype=np.float64)
    gt = np.asarray(gt_xy, dtype=np.float64)
    norm = np.asarray(norm, dtype=np.float64)
    norm2 = np.broadcast_to(norm[:, None] if norm.ndim == 1 else norm, (pred.shape[0], 2))
    valid = np.asarray(visible, dtype=bool) & (norm2 > 0).all(1)[:, None]
    dist = np.linalg.norm((pred - gt) / np.where(norm2 > 0, norm2, 1.0)[:, None], axis=-1)
    n_valid = valid.sum(0)
    out = {}
    for thr in thresholds:
        hits = ((dist < thr) & valid).sum(0)
        acc = hits[n_valid > 0] / n_valid[n_valid > 0]
        out[f"PCK@{thr:g}"] = float(acc.mean()) if acc.size else 0.0
    return out


def rmse(pred_xy: np.ndarray, gt_xy: np.ndarray, visible: np.ndarray) -> float:
    """Root-mean-square Euclidean keypoint error in px over visible keypoints (NaN if none).

    ``pred_xy``/``gt_xy`` (N, K, 2) px, ``visible`` (N, K) bool. This is sqrt(mean(d^2)), not
    the mean distance that DeepLabCut reports under the same name.
    """
    d2 = ((np.asarray(pred_xy, np.float64) - np.asarray(gt_xy, np.float64)) ** 2).sum(-1)
    vis = np.asarray(visible, dtype=bool)
    return float(np.sqrt(d2[vis].mean())) if vis.any() else float("nan")


def _nms_oks(xy: np.ndarray, area: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """(P, P) OKS between predictions as mmpose's ``oks_iou``: all K keypoints, mean area."""
    d2 = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    mean_area = (area[:, None] + area[None]) / 2
    e = d2 / ((sigmas * 2) ** 2) / (mean_area[..., None] + np.spacing(1)) / 2
    return np.exp(-e).mean(-1)


def rescore_and_nms(
    image_ids: np.ndarray,
    xy: np.ndarray,
    score: np.ndarray,
    box_area: np.ndarray,
    sigmas: np.ndarray,
    box_score: np.ndarray | None = None,
    *,
    keypoint_thr: float = 0.2,
    nms_thr: float | None = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """CLAMP/mmpose instance rescoring and per-image OKS-NMS of top-down predictions.

    ``image_ids`` (N,), ``xy`` (N, K, 2) px, ``score`` (N, K) keypoint scores, ``box_area`` (N,)
    px^2 (area of the predicted crop box), ``sigmas`` (K,), ``box_score`` (N,) (default 1).
    Instance score = box score x mean of the keypoint scores > ``keypoint_thr`` (0 if none).
    Then, per image in decreasing instance score (ties: input order), a prediction is kept
    unless its OKS with an already kept one exceeds ``nms_thr`` (None: no NMS).
    Returns ``keep`` (M,) int64 indices in increasing order and the instance scores (N,) float64.
    """
    score = np.asarray(score, dtype=np.float64)
    above = score > keypoint_thr
    kpt_mean = np.where(above, score, 0.0).sum(1) / np.maximum(above.sum(1), 1)
    inst = kpt_mean * (1.0 if box_score is None else np.asarray(box_score, np.float64))
    n = inst.size
    if nms_thr is None or n == 0:
        return np.arange(n, dtype=np.int64), inst
    _, img = np.unique(np.asarray(image_ids), return_inverse=True)
    order = np.lexsort((np.arange(n), -inst, img.ravel()))
    starts = np.flatnonzero(np.r_[True, np.diff(img.ravel()[order]) != 0, True])
    xy = np.asarray(xy, dtype=np.float64)
    area = np.asarray(box_area, dtype=np.float64)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    keep = np.ones(n, dtype=bool)
    for s, e in zip(starts[:-1], starts[1:], strict=True):
        if e - s < 2:
            continue
        idx = order[s:e]
        overlap = _nms_oks(xy[idx], area[idx], sigmas) > nms_thr
        alive = np.ones(idx.size, dtype=bool)
        for i in range(idx.size):
            if alive[i]:
                alive[i + 1 :] &= ~overlap[i, i + 1 :]
        keep[idx] = alive
    return np.flatnonzero(keep), inst


def to_coco_results(
    image_ids: np.ndarray,
    category_ids: np.ndarray,
    xy: np.ndarray,
    score: np.ndarray,
    instance_score: np.ndarray,
) -> list[dict]:
    """COCO keypoint results: one dict per instance with ``image_id``, ``category_id``,
    ``keypoints`` [x, y, s]*K (px, keypoint score) and ``score`` (instance score).

    ``image_ids``/``category_ids``/``instance_score`` (N,), ``xy`` (N, K, 2), ``score`` (N, K).
    """
    xy = np.asarray(xy, dtype=np.float64)
    kp = np.concatenate([xy, np.asarray(score, np.float64)[..., None]], -1)
    rows = zip(
        np.asarray(image_ids).tolist(),
        np.asarray(category_ids).tolist(),
        kp.reshape(xy.shape[0], -1).tolist(),
        np.asarray(instance_score, dtype=np.float64).tolist(),
        strict=True,
    )
    return [{"image_id": i, "category_id": c, "keypoints": k, "score": s} for i, c, k, s in rows]


def write_coco_results(path: str | Path, results: list[dict]) -> None:
    """Write COCO results JSON to ``path`` atomically (a temporary name, renamed when whole)."""
    try:
        write_json(path, results, indent=None)
    except (OSError, TypeError, ValueError) as exc:
        raise WildposeError(f"cannot write results: {exc}", path=Path(path)) from None


def mean_pose_baseline(
    train_xy: np.ndarray,
    train_visible: np.ndarray,
    train_bbox: np.ndarray,
    test_bbox: np.ndarray,
) -> np.ndarray:
    """The mean-pose baseline: the mean training pose, in box coordinates, put into test boxes.

    Each visible training keypoint is mapped to box coordinates u = (x - x0) / w,
    v = (y - y0) / h of its instance's box; the baseline pose is the per-keypoint mean of (u, v)
    over the instances where that keypoint is visible (the box centre, (0.5, 0.5), for a keypoint
    never visible) and is mapped back into every test box. It is what a model that ignores the
    image scores given only the box: a floor for AP/PCK.

    ``train_xy`` (M, K, 2) px, ``train_visible`` (M, K) bool, ``train_bbox`` (M, 4) and
    ``test_bbox`` (N, 4) xywh px (training boxes without positive size are skipped).
    Returns predicted xy (N, K, 2) float64 px.
    """
    box = np.asarray(train_bbox, dtype=np.float64)
    ok = np.asarray(train_visible, dtype=bool) & (box[:, 2:] > 0).all(1)[:, None]
    size = np.where(box[:, 2:] > 0, box[:, 2:], 1.0)[:, None]
    uv = (np.asarray(train_xy, dtype=np.float64) - box[:, None, :2]) / size
    count = ok.sum(0)[:, None]
    mean = np.where(ok[..., None], uv, 0.0).sum(0) / np.maximum(count, 1)
    mean = np.where(count > 0, mean, 0.5)
    test = np.asarray(test_bbox, dtype=np.float64)
    return test[:, None, :2] + mean[None] * test[:, None, 2:]
