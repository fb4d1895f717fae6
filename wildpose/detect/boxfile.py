"""``boxes:FILE`` detectors: boxes someone already computed, looked up by frame.

Two file kinds:

- a CSV with columns ``frame,x1,y1,x2,y2`` and optional ``score`` (default 1) and
  ``class_name`` (default ``animal``), image px, one file per video;
- a MegaDetector batch output JSON (``{"images": [{"file", "detections": [{"category",
  "conf", "bbox"}]}], "detection_categories": {...}}``, ``bbox`` = normalised ``[x, y, w, h]``;
  the batch output format of github.com/agentmorris/MegaDetector). An entry is matched to a frame
  either by the frame number in names like ``video.mp4/frame000123.jpg`` (MegaDetector's video
  frames; when the file holds several videos, ``source`` picks the folder named like the input)
  or, for image sequences, by file name: ``image_names`` lists the frames' files in decode order
  and an entry matches the frame whose path ends with its ``file``. Frames without an entry
  have no boxes.

``conf`` and the class filter apply to both; a MegaDetector file keeps only ``animal`` unless
other classes are asked for (:func:`~wildpose.detect.common.default_classes`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wildpose.detect.common import default_classes, make_detections
from wildpose.errors import ConfigError, InputError
from wildpose.types import Detections, Frame

_FRAME_NAME = re.compile(r"frame(\d+)\.[A-Za-z0-9]+$")


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
            out.append(make_detections(xyxy, self.score[start:stop], self.class_name[start:stop]))
        return out


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
