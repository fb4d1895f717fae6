"""Pose metrics: COCO keypoint AP/AR (OKS), PCK, RMSE, rescoring and OKS-NMS, baselines."""

from wildpose.metrics.coco import coco_keypoint_eval, oks
from wildpose.metrics.pose import (
    mean_pose_baseline,
    pck,
    rescore_and_nms,
    rmse,
    to_coco_results,
    write_coco_results,
)

__all__ = [
    "coco_keypoint_eval",
    "mean_pose_baseline",
    "oks",
    "pck",
    "rescore_and_nms",
    "rmse",
    "to_coco_results",
    "write_coco_results",
]
