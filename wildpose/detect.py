"""Animal detection: boxes per frame from ultralytics models, a box file, or the whole frame.

:func:`build_detector` turns a ``--detector`` spec into a :class:`Detector`:

- ``full-frame``: each frame is one box, class ``animal``, score 1 (single-animal footage such as
  lab arenas, or crops that already show one animal).
- ``boxes:FILE``: boxes someone already computed, either
  a CSV with columns ``frame,x1,y1,x2,y2`` and optional ``score`` (default 1) and
  ``class_name`` (default ``animal``), image px, one file per video; or a MegaDetector batch
  output JSON (``{"images": [{"file", "detections": [{"category", "conf", "bbox"}]}],
  "detection_categories": {...}}``, ``bbox`` = normalised ``[x, y, w, h]``). A JSON entry is
  matched to a frame either by the frame number in names like ``video.mp4/frame000123.jpg``
  (MegaDetector's video frames; when the file holds several videos, ``source`` picks the
  folder named like the input) or, for image sequences, by file name: ``image_names`` lists the
  frames' files in decode order and an entry matches the frame whose path ends with its
  ``file``. Frames without an entry have no boxes. ``conf`` and the class filter apply.
- a path to ultralytics weights (``.pt``; ``.onnx``, ``.engine`` and other formats that
  ``ultralytics.YOLO`` loads), including the MegaDetector v6 family, or an ultralytics model YAML
  (``yolo11n.yaml``: random weights, for tests; a local YAML may carry a ``names`` list). Weights
  are never downloaded: a missing file is an error saying how to get it.

Class filter: ``classes`` are names from the model (``model.names``) or the box file. By
default a model whose names include the COCO animals detects only :data:`COCO_ANIMALS`; a model
with an ``animal`` class (MegaDetector: animal, person, vehicle) detects only ``animal``; other
models and CSV box files keep every class.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from wildpose.errors import ConfigError, InputError, ModelError
from wildpose.types import Detections, Frame

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

WEIGHT_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript", ".tflite", ".pb", ".mlpackage")
_FRAME_NAME = re.compile(r"frame(\d+)\.[A-Za-z0-9]+$")


class Detector(Protocol):
    """Finds animals in frames; returns one :class:`Detections` per frame, in order."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


def _make_detections(xyxy: np.ndarray, score: np.ndarray, class_name: np.ndarray) -> Detections:
    return Detections(
        xyxy=np.asarray(xyxy, dtype=np.float32).reshape(-1, 4),
        score=np.asarray(score, dtype=np.float32).reshape(-1),
        class_name=np.asarray(class_name, dtype=object).reshape(-1),
    )


class FullFrameDetector:
    """One box covering the whole frame, ``[0, 0, W, H]``, class ``animal``, score 1."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        out = []
        for frame in frames:
            h, w = frame.image.shape[:2]
            box = np.array([[0.0, 0.0, w, h]])
            out.append(_make_detections(box, np.ones(1), np.array(["animal"], dtype=object)))
        return out


class BoxFileDetector:
    """Boxes read from a file, looked up by frame index.

    ``frame``: (M,) int64 sorted; ``xyxy``: (M, 4) float32, image px, or normalised to [0, 1]
    when ``normalised`` (scaled by each frame's size on lookup); ``score``: (M,) float32;
    ``class_name``: (M,) object.
    """

    def __init__(
        self,
        frame: np.ndarray,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_name: np.ndarray,
        *,
        normalised: bool = False,
    ) -> None:
        order = np.argsort(frame, kind="stable")
        self.frame = np.asarray(frame, dtype=np.int64)[order]
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)[order]
        self.score = np.asarray(score, dtype=np.float32)[order]
        self.class_name = np.asarray(class_name, dtype=object)[order]
        self.normalised = normalised

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        index = np.array([f.index for f in frames], dtype=np.int64)
        starts = np.searchsorted(self.frame, index, side="left")
        stops = np.searchsorted(self.frame, index, side="right")
        out = []
        for frame, start, stop in zip(frames, starts, stops, strict=True):
            xyxy = self.xyxy[start:stop]
            if self.normalised:
                h, w = frame.image.shape[:2]
                xyxy = xyxy * np.array([w, h, w, h], dtype=np.float32)
            out.append(_make_detections(xyxy, self.score[start:stop], self.class_name[start:stop]))
        return out


class UltralyticsDetector:
    """An ultralytics model (YOLO, RT-DETR, MegaDetector v6) run on batches of frames.

    ``model`` is the ``ultralytics`` model object; ``class_ids`` the model class ids kept
    (``None``: all). Frames are passed to ``predict`` as one batch per :meth:`detect` call.
    """

    def __init__(
        self,
        model: Any,
        class_ids: list[int] | None,
        *,
        conf: float,
        iou: float,
        imgsz: int | None,
        device: str,
        half: bool,
        max_det: int,
    ) -> None:
        self.model = model
        self.class_ids = class_ids
        if imgsz is None:  # the size the model was trained at (a fine-tuned detector: its own)
            imgsz = int((getattr(model, "overrides", None) or {}).get("imgsz") or 640)
        self.predict_args: dict[str, Any] = dict(
            conf=conf, iou=iou, imgsz=imgsz, device=device, max_det=max_det
        )
        if half:  # ultralytics >= 8.4 replaced `half` with `quantize`
            from ultralytics.cfg import DEFAULT_CFG_DICT

            fp16 = {"quantize": "fp16"} if "quantize" in DEFAULT_CFG_DICT else {"half": True}
            self.predict_args.update(fp16)

    @property
    def names(self) -> dict[int, str]:
        return dict(self.model.names)

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        if not frames:
            return []
        images = [np.ascontiguousarray(f.image[..., ::-1]) for f in frames]  # ultralytics: BGR
        threads = torch.get_num_threads()
        try:
            results = self.model.predict(
                images, classes=self.class_ids, verbose=False, stream=False, **self.predict_args
            )
        finally:
            # ultralytics' select_device sets torch to cpu_count - 1 threads on the CPU, which
            # would silently slow the pose model sharing this process
            torch.set_num_threads(threads)
        names = self.names
        out = []
        for result in results:
            boxes = result.boxes
            cls = boxes.cls.cpu().numpy().astype(np.int64)
            class_name = np.array([names[int(c)] for c in cls], dtype=object)
            out.append(
                _make_detections(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), class_name)
            )
        return out


def build_detector(
    spec: str,
    *,
    classes: Sequence[str] | None = None,
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int | None = None,
    device: str = "cpu",
    half: bool = False,
    max_det: int = 100,
    source: str | None = None,
    image_names: Sequence[str] | None = None,
) -> Detector:
    """The detector named by ``spec`` (see the module docstring).

    ``conf``: minimum score kept; ``iou``: NMS IoU threshold; ``imgsz``: model input size, px
    (None: the size the model was trained at, 640 when unknown);
    ``device``: ``cpu``, ``cuda`` or ``cuda:N``; ``half``: fp16 inference on CUDA; ``max_det``:
    most boxes per frame. ``source`` and ``image_names`` only serve MegaDetector JSON box files.
    Raises :class:`ConfigError` / :class:`ModelError` (one line, naming the file) for a bad spec,
    a missing or unreadable file, or an unknown class name.
    """
    if spec == "full-frame":
        return FullFrameDetector()
    if spec.startswith("boxes:"):
        path = Path(spec.removeprefix("boxes:"))
        return load_box_file(
            path, classes=classes, conf=conf, source=source, image_names=image_names
        )
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _ultralytics_detector(path, classes, conf, iou, imgsz, device, half, max_det)
    if suffix in WEIGHT_SUFFIXES or path.is_dir():
        if not path.exists():
            raise ModelError(
                "detector weights not found; wildpose never downloads them: download the file "
                "(YOLO: github.com/ultralytics/assets/releases; MegaDetector v6: "
                "github.com/microsoft/CameraTraps) and pass its local path to --detector",
                path=path,
            )
        return _ultralytics_detector(path, classes, conf, iou, imgsz, device, half, max_det)
    raise ConfigError(
        f"unknown detector {spec!r}: expected full-frame, boxes:FILE, a weights file "
        f"({', '.join(WEIGHT_SUFFIXES[:3])}, ...) or an ultralytics model YAML"
    )


def _import_ultralytics() -> Any:
    """Import ultralytics offline and quiet (no connectivity probe, telemetry or update check)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")  # never pip-install behind our back
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import ultralytics

    return ultralytics


def _ultralytics_detector(
    path: Path,
    classes: Sequence[str] | None,
    conf: float,
    iou: float,
    imgsz: int | None,
    device: str,
    half: bool,
    max_det: int,
) -> UltralyticsDetector:
    ultralytics = _import_ultralytics()
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    try:  # YOLO() also routes RT-DETR checkpoints to ultralytics.RTDETR
        model = ultralytics.YOLO(str(path), verbose=False)
    except FileNotFoundError as e:
        raise ModelError(f"model YAML not found: {e}", path=path) from e
    except Exception as e:  # ultralytics raises many types for corrupt or foreign files
        raise ModelError(f"cannot load detector: {type(e).__name__}: {e}", path=path) from e
    if is_yaml and path.is_file():
        names = _yaml_names(path)
        if names is not None:
            if len(names) != len(model.names):
                raise ConfigError(f"{len(names)} names for {len(model.names)} classes", path=path)
            model.model.names = names
    class_ids = _class_ids(dict(model.names), classes, path)
    return UltralyticsDetector(
        model,
        class_ids,
        conf=conf,
        iou=iou,
        imgsz=imgsz,
        device=device,
        half=half,
        max_det=max_det,
    )


def _yaml_names(path: Path) -> dict[int, str] | None:
    import yaml

    names = (yaml.safe_load(path.read_text()) or {}).get("names")
    if names is None:
        return None
    return (
        dict(enumerate(names)) if isinstance(names, list) else {int(k): v for k, v in names.items()}
    )


def default_classes(names: Sequence[str]) -> list[str] | None:
    """The classes detected when none are asked for (``None``: all), see the module docstring."""
    present = set(names)
    if present.issuperset(COCO_ANIMALS):
        return list(COCO_ANIMALS)
    if "animal" in present:
        return ["animal"]
    return None


def _class_ids(
    names: dict[int, str], classes: Sequence[str] | None, path: Path
) -> list[int] | None:
    wanted = default_classes(list(names.values())) if classes is None else list(classes)
    if wanted is None:
        return None
    ids = {name: i for i, name in names.items()}
    unknown = [c for c in wanted if c not in ids]
    if unknown:
        known = ", ".join(list(ids)[:20]) + (", ..." if len(ids) > 20 else "")
        raise ConfigError(
            f"detector has no class {', '.join(unknown)} (classes: {known})", path=path
        )
    return sorted(ids[c] for c in wanted)


def load_box_file(
    path: Path,
    *,
    classes: Sequence[str] | None = None,
    conf: float = 0.0,
    source: str | None = None,
    image_names: Sequence[str] | None = None,
) -> BoxFileDetector:
    """Read a CSV or MegaDetector JSON box file (see the module docstring)."""
    if not path.is_file():
        raise InputError("box file not found", path=path)
    if path.suffix.lower() == ".json":
        frame, xyxy, score, class_name, categories = _read_megadetector(path, source, image_names)
        normalised = True
        if classes is None:
            classes = default_classes(categories)
    else:
        frame, xyxy, score, class_name = _read_box_csv(path)
        normalised = False
    keep = score >= conf
    if classes is not None:
        keep &= np.isin(class_name, np.array(list(classes), dtype=object))
    return BoxFileDetector(
        frame[keep], xyxy[keep], score[keep], class_name[keep], normalised=normalised
    )


def _read_box_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except Exception as e:
        raise InputError(f"cannot read box CSV: {e}", path=path) from e
    missing = [c for c in ("frame", "x1", "y1", "x2", "y2") if c not in table.columns]
    if missing:
        raise InputError(f"box CSV lacks column(s) {', '.join(missing)}", path=path)
    try:
        frame = table["frame"].to_numpy(dtype=np.int64)
        xyxy = table[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float32)
        score = (
            table["score"].to_numpy(dtype=np.float32)
            if "score" in table
            else np.ones(len(table), np.float32)
        )
    except (ValueError, TypeError) as e:
        raise InputError(f"box CSV has a non-numeric value: {e}", path=path) from e
    if "class_name" in table:
        class_name = table["class_name"].astype(str).to_numpy(dtype=object)
    else:
        class_name = np.full(len(table), "animal", dtype=object)
    return frame, xyxy, score, class_name


def _read_megadetector(
    path: Path, source: str | None, image_names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Boxes of a MegaDetector batch output: frame, xyxy (normalised), score, class, categories."""
    try:
        data = json.loads(path.read_text())
        images = data["images"]
        categories = dict(data.get("detection_categories") or {"1": "animal"})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"not a MegaDetector batch output file: {e}", path=path) from e
    files = [str(entry.get("file", "")).replace("\\", "/") for entry in images]
    frame_of = _frame_numbers(files, path, source, image_names)
    frame, xywh, score, class_name = [], [], [], []
    for entry, index in zip(images, frame_of, strict=True):
        if index is None:
            continue
        for det in entry.get("detections") or []:  # null for images that failed to load
            frame.append(index)
            xywh.append(det["bbox"])
            score.append(det["conf"])
            class_name.append(categories.get(str(det["category"]), str(det["category"])))
    xywh_arr = np.asarray(xywh, dtype=np.float32).reshape(-1, 4)
    xyxy = np.concatenate([xywh_arr[:, :2], xywh_arr[:, :2] + xywh_arr[:, 2:]], axis=1)
    return (
        np.asarray(frame, dtype=np.int64),
        xyxy,
        np.asarray(score, dtype=np.float32),
        np.asarray(class_name, dtype=object),
        list(categories.values()),
    )


def _frame_numbers(
    files: list[str], path: Path, source: str | None, image_names: Sequence[str] | None
) -> list[int | None]:
    """Frame index of each JSON entry (``None``: not a frame of this input)."""
    if image_names is not None:
        by_basename: dict[str, list[tuple[str, int]]] = {}
        for i, name in enumerate(image_names):
            name = _norm(name)
            by_basename.setdefault(name.rsplit("/", 1)[-1], []).append((name, i))
        return [_match_suffix(file, by_basename) for file in files]
    matches = [_FRAME_NAME.search(file) for file in files]
    if not files or not all(matches):
        raise ConfigError(
            "cannot tell which frame each image is: names are not like 'video.mp4/frame000123.jpg'"
            " (for image sequences the pipeline must pass the frames' file names)",
            path=path,
        )
    folders = [file.rsplit("/", 1)[0] if "/" in file else "" for file in files]
    if len(set(folders)) == 1:
        selected = [True] * len(files)
    elif source is None:
        raise ConfigError(
            f"box file holds frames of {len(set(folders))} videos; name the input it belongs to",
            path=path,
        )
    else:
        wanted = Path(source).name
        selected = [folder.rsplit("/", 1)[-1] == wanted for folder in folders]
        if not any(selected):
            raise ConfigError(f"box file has no frames of {wanted}", path=path)
    return [int(m.group(1)) if keep else None for m, keep in zip(matches, selected, strict=True)]


def _norm(name: str) -> str:
    return str(name).replace("\\", "/")


def _match_suffix(file: str, by_basename: dict[str, list[tuple[str, int]]]) -> int | None:
    """Index of the frame whose path ends with ``file`` (``by_basename``: name -> (path, i))."""
    for name, i in by_basename.get(file.rsplit("/", 1)[-1], []):
        if name == file or name.endswith("/" + file):
            return i
    return None
