"""Ultralytics detectors (YOLO, RT-DETR, the MegaDetector v6 family), through the adapter.

A weights file (``.pt``; ``.onnx``, ``.engine`` and the other formats ``ultralytics.YOLO``
loads) or an ultralytics model YAML (``yolo11n.yaml``: random weights, for tests; a local YAML
may carry a ``names`` list). Weights are never downloaded. Class filter: ``classes`` are names
from the model (``model.names``); by default :func:`~wildpose.detect.common.default_classes`.
See https://docs.ultralytics.com/modes/predict/ for the prediction arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wildpose.adapters import ultralytics as yolo_adapter
from wildpose.detect.common import default_classes, make_detections
from wildpose.errors import ConfigError, ModelError
from wildpose.messages import display_path
from wildpose.types import Detections, Frame

if TYPE_CHECKING:
    from wildpose.detect.base import DetectorOptions

DEFAULT_IMGSZ = 640  # ultralytics' default input size, px, for models that do not record theirs


class UltralyticsDetector:
    """An ultralytics model run on batches of frames, one ``predict`` call per :meth:`detect`.

    ``model`` is the loaded ultralytics model; ``class_ids`` the model class ids kept
    (``None``: all); ``options`` the thresholds, input size, device and precision
    (``options.imgsz`` None: the size the model was trained at, 640 when unknown).
    """

    def __init__(self, model: Any, class_ids: list[int] | None, options: DetectorOptions) -> None:
        self.model = model
        self.class_ids = class_ids
        imgsz = options.imgsz
        if imgsz is None:  # the size the model was trained at (a fine-tuned detector: its own)
            imgsz = yolo_adapter.trained_imgsz(model) or DEFAULT_IMGSZ
        self.predict_args: dict[str, Any] = dict(
            conf=options.conf,
            iou=options.iou,
            imgsz=imgsz,
            device=options.device,
            max_det=options.max_det,
        )
        if options.half:
            self.predict_args.update(yolo_adapter.fp16_arguments())

    @property
    def names(self) -> dict[int, str]:
        """Class names by class id."""
        return yolo_adapter.class_names(self.model)

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        results = yolo_adapter.predict_boxes(
            self.model, [f.image for f in frames], classes=self.class_ids, args=self.predict_args
        )
        names = self.names
        out = []
        for xyxy, score, cls in results:
            class_name = np.array([names[int(c)] for c in cls], dtype=object)
            out.append(make_detections(xyxy, score, class_name))
        return out


def load_ultralytics_detector(path: Path, options: DetectorOptions) -> UltralyticsDetector:
    """The detector for weights or a model YAML at ``path``; ModelError when it cannot load,
    ConfigError for a YAML whose names do not fit or an unknown class."""
    try:  # YOLO() also routes RT-DETR checkpoints to ultralytics.RTDETR
        model = yolo_adapter.load_model(path)
    except ModelError:
        raise
    except FileNotFoundError as e:
        raise ModelError(f"model YAML not found: {e}", path=display_path(path)) from e
    except Exception as e:  # ultralytics raises many types for corrupt or foreign files
        raise ModelError(
            f"cannot load detector: {type(e).__name__}: {e}", path=display_path(path)
        ) from e
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        names = _yaml_names(path)
        if names is not None:
            n_model = len(yolo_adapter.class_names(model))
            if len(names) != n_model:
                raise ConfigError(
                    f"{len(names)} names for {n_model} classes", path=display_path(path)
                )
            yolo_adapter.set_class_names(model, names)
    class_ids = _class_ids(yolo_adapter.class_names(model), options.classes, path)
    return UltralyticsDetector(model, class_ids, options)


def _yaml_names(path: Path) -> dict[int, str] | None:
    """The ``names`` of a model YAML (a list or an id -> name mapping), None when absent."""
    import yaml

    names = (yaml.safe_load(path.read_text()) or {}).get("names")
    if names is None:
        return None
    if isinstance(names, list):
        return dict(enumerate(names))
    return {int(k): v for k, v in names.items()}


def _class_ids(
    names: dict[int, str], classes: Sequence[str] | None, path: Path
) -> list[int] | None:
    """Sorted ids of the wanted classes (None: every class); ConfigError for an unknown name."""
    wanted = default_classes(list(names.values())) if classes is None else list(classes)
    if wanted is None:
        return None
    ids = {name: i for i, name in names.items()}
    unknown = [c for c in wanted if c not in ids]
    if unknown:
        known = ", ".join(list(ids)[:20]) + (", ..." if len(ids) > 20 else "")
        raise ConfigError(
            f"detector has no class {', '.join(unknown)} (classes: {known})",
            path=display_path(path),
        )
    return sorted(ids[c] for c in wanted)
