"""Detection: boxes per frame from ultralytics models, a box file, or the whole frame.

:func:`build_detector` turns :class:`DetectorOptions` into a :class:`Detector`; see
:mod:`wildpose.detect.base` for the choices.
"""

from __future__ import annotations

from wildpose.detect.base import (
    WEIGHT_SUFFIXES,
    Detector,
    DetectorOptions,
    build_detector,
)
from wildpose.detect.boxfile import BoxFileDetector, load_box_file
from wildpose.detect.common import COCO_ANIMALS, default_classes
from wildpose.detect.fullframe import FullFrameDetector
from wildpose.detect.yolo import UltralyticsDetector

__all__ = [
    "COCO_ANIMALS",
    "WEIGHT_SUFFIXES",
    "BoxFileDetector",
    "Detector",
    "DetectorOptions",
    "FullFrameDetector",
    "UltralyticsDetector",
    "build_detector",
    "default_classes",
    "load_box_file",
]
