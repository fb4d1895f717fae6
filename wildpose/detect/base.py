"""The detector interface, its options, and :func:`build_detector`, which picks the detector.

``DetectorOptions.model`` names it:

- ``full-frame``: each frame is one box, class ``animal``, score 1
  (:mod:`wildpose.detect.fullframe`);
- ``boxes:FILE``: a CSV or MegaDetector JSON box file (:mod:`wildpose.detect.boxfile`);
- a path to ultralytics weights (``.pt``, ``.onnx``, ``.engine``, ...), the MegaDetector v6
  family included, or an ultralytics model YAML (:mod:`wildpose.detect.yolo`). Weights are never
  downloaded: a missing file is an error saying how to get it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wildpose.detect.boxfile import load_box_file
from wildpose.detect.fullframe import FullFrameDetector
from wildpose.detect.yolo import load_ultralytics_detector
from wildpose.errors import ConfigError, ModelError
from wildpose.messages import display_path
from wildpose.types import Detections, Frame

WEIGHT_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript", ".tflite", ".pb", ".mlpackage")
FULL_FRAME = "full-frame"
BOXES_PREFIX = "boxes:"


class Detector(Protocol):
    """Finds animals in frames; returns one :class:`Detections` per frame, in order."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


@dataclass(frozen=True)
class DetectorOptions:
    """Which detector to build and how it runs.

    ``model``: ultralytics weights or model YAML, ``full-frame`` or ``boxes:FILE``;
    ``classes``: class names kept (None: the model's animal classes, see
    :func:`~wildpose.detect.common.default_classes`); ``conf``: minimum score kept; ``iou``: NMS
    IoU threshold; ``imgsz``: model input size, px (None: the size the model was trained at, 640
    when unknown); ``max_det``: most boxes per frame; ``device``: ``cpu``, ``cuda`` or
    ``cuda:N``; ``half``: fp16 inference on CUDA. Box files use ``classes`` and ``conf`` only.
    """

    model: str = "yolo11n.pt"
    classes: tuple[str, ...] | None = None
    conf: float = 0.25
    iou: float = 0.7
    imgsz: int | None = None
    max_det: int = 20
    device: str = "cpu"
    half: bool = False

    def __post_init__(self) -> None:
        if self.classes is not None and not isinstance(self.classes, tuple):
            object.__setattr__(self, "classes", tuple(self.classes))  # hashable, as declared

    @property
    def per_input(self) -> bool:
        """Whether the detector is built per input (box files hold one video's boxes), rather
        than once per process."""
        return self.model.startswith(BOXES_PREFIX)


def build_detector(
    options: DetectorOptions,
    *,
    source: str | None = None,
    image_names: Sequence[str] | None = None,
) -> Detector:
    """The detector named by ``options.model`` (see the module docstring).

    ``source`` (the input's path) and ``image_names`` (an image sequence's files in decode
    order) only serve MegaDetector JSON box files. Raises :class:`ConfigError` /
    :class:`ModelError` / :class:`~wildpose.errors.InputError` (one line, naming the file) for
    a bad spec, a missing or unreadable file, or an unknown class name.
    """
    spec = options.model
    if spec == FULL_FRAME:
        return FullFrameDetector()
    if spec.startswith(BOXES_PREFIX):
        return load_box_file(
            Path(spec.removeprefix(BOXES_PREFIX)),
            classes=options.classes,
            conf=options.conf,
            source=source,
            image_names=image_names,
        )
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return load_ultralytics_detector(path, options)
    if suffix in WEIGHT_SUFFIXES or path.is_dir():
        if not path.exists():
            raise ModelError(
                "detector weights not found; wildpose never downloads them: download the file "
                "(YOLO: github.com/ultralytics/assets/releases; MegaDetector v6: "
                "github.com/microsoft/CameraTraps) and pass its local path to --detector",
                path=display_path(path),
            )
        return load_ultralytics_detector(path, options)
    raise ConfigError(
        f"unknown detector {spec!r}: expected {FULL_FRAME}, {BOXES_PREFIX}FILE, a weights file "
        f"({', '.join(WEIGHT_SUFFIXES[:3])}, ...) or an ultralytics model YAML"
    )
