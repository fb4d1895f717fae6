"""MegaDetector batch output JSON as a box file: validated entries, matched to an input's frames.

The format (github.com/agentmorris/MegaDetector, "MegaDetector batch output format"):
``{"images": [{"file", "detections": [{"category", "conf", "bbox"}]}],
"detection_categories": {"1": "animal", ...}}``, ``bbox`` = normalised ``[x, y, w, h]``,
``detections`` null for an image that failed to load. Every entry is checked; a bad one is a
one-line :class:`~wildpose.errors.InputError` naming the file and the entry
(``md.json: images[3] ('a.jpg'): detections[0]: bbox must have 4 numbers, got 2``).

An entry is matched to a frame either by the frame number in names like
``video.mp4/frame000123.jpg`` (MegaDetector's video frames; when the file holds several videos,
``source`` picks the folder named like the input) or, for image sequences, by file name:
``image_names`` lists the frames' files in decode order and an entry matches the frame whose path
ends with its ``file``. An input the file does not cover at all is that input's InputError, so a
batch over an archive goes on with the inputs the file does cover.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from wildpose.errors import ConfigError, InputError
from wildpose.messages import display_path, display_text

_FRAME_NAME = re.compile(r"frame(\d+)\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class MegaDetectorFile:
    """A validated MegaDetector file: per entry its ``file`` (POSIX separators) and its boxes,
    ``xywh`` (K, 4) float32 normalised, ``score`` (K,) float32, ``category`` (K,) class names;
    ``categories``: every class name the file declares."""

    files: tuple[str, ...]
    xywh: tuple[np.ndarray, ...]
    score: tuple[np.ndarray, ...]
    category: tuple[np.ndarray, ...]
    categories: tuple[str, ...]


def read_megadetector(
    path: Path, source: str | None, image_names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Boxes of one input: frame (M,), xyxy (M, 4) normalised, score (M,), class (M,), and the
    file's class names. Raises InputError for a malformed file or an input it does not cover."""
    stat = path.stat()
    md = _parse(str(path), stat.st_size, stat.st_mtime_ns)
    frame_of = _frame_numbers(md.files, path, source, image_names)
    keep = [i for i, f in enumerate(frame_of) if f is not None]
    frames = [np.full(len(md.score[i]), frame_of[i], dtype=np.int64) for i in keep]
    xywh = np.concatenate([md.xywh[i] for i in keep] or [np.zeros((0, 4), np.float32)])
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    return (
        np.concatenate(frames or [np.zeros(0, np.int64)]),
        xyxy,
        np.concatenate([md.score[i] for i in keep] or [np.zeros(0, np.float32)]),
        np.concatenate([md.category[i] for i in keep] or [np.zeros(0, object)]),
        list(md.categories),
    )


@functools.lru_cache(maxsize=2)  # batch builds one detector per input from the same file
def _parse(path: str, size: int, mtime_ns: int) -> MegaDetectorFile:
    """Read and validate the file at ``path`` (``size`` and ``mtime_ns`` key the cache)."""
    del size, mtime_ns
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as e:
        why = f"not a MegaDetector batch output file: {e}"
        raise InputError(why, path=display_path(path)) from e
    if not isinstance(data, dict):
        _fail(path, f"not a MegaDetector batch output file: the top level is {_kind(data)}")
    images = data.get("images")
    if not isinstance(images, list):
        _fail(path, f"'images' must be a list of entries, got {_kind(images)}")
    categories = _categories(path, data.get("detection_categories"))
    files, xywh, score, category = [], [], [], []
    for i, entry in enumerate(images):
        name, boxes = _entry(path, i, entry, categories)
        files.append(name)
        xywh.append(np.array([b[0] for b in boxes], dtype=np.float32).reshape(-1, 4))
        score.append(np.array([b[1] for b in boxes], dtype=np.float32))
        category.append(np.array([b[2] for b in boxes], dtype=object))
    return MegaDetectorFile(
        tuple(files), tuple(xywh), tuple(score), tuple(category), tuple(categories.values())
    )


def _categories(path: str, value: Any) -> dict[str, str]:
    if value is None:
        return {"1": "animal"}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        _fail(path, f"'detection_categories' must map ids to names, got {_kind(value)}")
    return {str(k): v for k, v in value.items()}


def _entry(
    path: str, i: int, entry: Any, categories: dict[str, str]
) -> tuple[str, list[tuple[list[float], float, str]]]:
    """One ``images`` entry checked: its file name and (bbox, conf, class name) per detection."""
    where = f"images[{i}]"
    if not isinstance(entry, dict):
        _fail(path, f"{where} must be an object with 'file' and 'detections', got {_kind(entry)}")
    name = entry.get("file")
    if not isinstance(name, str) or not name:
        _fail(path, f"{where}: 'file' must be a file name, got {_kind(name)}")
    where = f"{where} ({display_text(repr(name))})"
    dets = entry.get("detections")
    if dets is None:  # an image MegaDetector failed to load
        return name.replace("\\", "/"), []
    if not isinstance(dets, list):
        _fail(path, f"{where}: 'detections' must be a list, got {_kind(dets)}")
    boxes = []
    for j, det in enumerate(dets):
        at = f"{where}: detections[{j}]"
        if not isinstance(det, dict):
            _fail(path, f"{at} must be an object with category, conf and bbox, got {_kind(det)}")
        for key in ("bbox", "conf", "category"):
            if key not in det:
                _fail(path, f"{at} has no {key}")
        bbox, conf, cat = det["bbox"], det["conf"], det["category"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            got = len(bbox) if isinstance(bbox, list) else _kind(bbox)
            _fail(path, f"{at}: bbox must have 4 numbers [x, y, w, h], got {got}")
        if not all(_is_finite(v) for v in bbox):
            _fail(path, f"{at}: bbox must have 4 finite numbers, got {_short(bbox)}")
        if not _is_finite(conf):
            _fail(path, f"{at}: conf must be a finite number, got {_short(conf)}")
        if not isinstance(cat, str | int) or isinstance(cat, bool):
            _fail(path, f"{at}: category must be an id, got {_short(cat)}")
        boxes.append(([float(v) for v in bbox], float(conf), categories.get(str(cat), str(cat))))
    return name.replace("\\", "/"), boxes


def _frame_numbers(
    files: Sequence[str], path: Path, source: str | None, image_names: Sequence[str] | None
) -> list[int | None]:
    """Frame index of each entry (``None``: not a frame of this input); InputError when no
    entry is a frame of this input."""
    where = display_path(path)
    if image_names is not None:
        by_basename: dict[str, list[tuple[str, int]]] = {}
        for i, name in enumerate(image_names):
            name = str(name).replace("\\", "/")
            by_basename.setdefault(name.rsplit("/", 1)[-1], []).append((name, i))
        found = [_match_suffix(file, by_basename) for file in files]
        if image_names and all(f is None for f in found):
            first = display_path(Path(image_names[0]).name)
            raise InputError(
                f"box file has no entry for any of the {len(image_names)} images of this input "
                f"(first: {first})",
                path=where,
            )
        return found
    matches = [_FRAME_NAME.search(file) for file in files]
    if not files or not all(matches):
        raise InputError(
            "box file does not cover this video: its names are not like "
            "'video.mp4/frame000123.jpg' (MegaDetector's video frames)",
            path=where,
        )
    folders = [file.rsplit("/", 1)[0] if "/" in file else "" for file in files]
    if len(set(folders)) == 1:
        selected = [True] * len(files)
    elif source is None:
        raise ConfigError(
            f"box file holds frames of {len(set(folders))} videos; name the input it belongs to",
            path=where,
        )
    else:
        wanted = Path(source).name
        selected = [folder.rsplit("/", 1)[-1] == wanted for folder in folders]
        if not any(selected):
            raise InputError(f"box file has no frames of {display_path(wanted)}", path=where)
    return [int(m.group(1)) if keep else None for m, keep in zip(matches, selected, strict=True)]


def _match_suffix(file: str, by_basename: dict[str, list[tuple[str, int]]]) -> int | None:
    """Index of the frame whose path ends with ``file`` (``by_basename``: name -> (path, i))."""
    for name, i in by_basename.get(file.rsplit("/", 1)[-1], []):
        if name == file or name.endswith("/" + file):
            return i
    return None


def _is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    """How a JSON value is named in messages."""
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def _short(value: Any) -> str:
    text = display_text(json.dumps(value) if not isinstance(value, float) else repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(path: str, message: str) -> NoReturn:
    raise InputError(message, path=display_path(path))
