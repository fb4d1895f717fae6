"""SHIM: removed at integration; the code lives in samples, coco, dlc and dataset."""

from wildpose.train.coco import load_coco_keypoints
from wildpose.train.dataset import BOX_PADDING, Augmentation, TopDownDataset, TopDownItem, collate
from wildpose.train.dlc import DLC_BOX_MARGIN, DLC_BOX_MIN_MARGIN_PX, dlc_boxes, load_dlc_project
from wildpose.train.samples import (
    DEFAULT_SIGMA,
    KeypointDataset,
    KeypointSample,
    make_metadata,
    sanitize_box,
    split_samples,
    upper_body_ids,
)
from wildpose.train.samples import image_size as _image_size

__all__ = [
    "BOX_PADDING",
    "DEFAULT_SIGMA",
    "DLC_BOX_MARGIN",
    "DLC_BOX_MIN_MARGIN_PX",
    "Augmentation",
    "KeypointDataset",
    "KeypointSample",
    "TopDownDataset",
    "TopDownItem",
    "_image_size",
    "collate",
    "dlc_boxes",
    "load_coco_keypoints",
    "load_dlc_project",
    "make_metadata",
    "sanitize_box",
    "split_samples",
    "upper_body_ids",
]
