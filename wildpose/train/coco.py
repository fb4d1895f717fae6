"""COCO-keypoint JSON (AP-10K, Animal-Pose, custom sets) -> labelled samples.

The format is the COCO keypoint annotation format (cocodataset.org/#format-data): each category
lists its keypoint names and a 1-based skeleton; each annotation has a box and ``[x, y, v] * K``.
Broken data (missing image, bad JSON, keypoint-count mismatch, no annotations) raises
:class:`~wildpose.errors.InputError` with one line naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wildpose.errors import InputError
from wildpose.train.samples import (
    KeypointDataset,
    KeypointSample,
    image_size,
    make_metadata,
    sanitize_box,
)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("annotation file not found", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise InputError("not a COCO keypoints file (no 'annotations' list)", path=path)
    if not isinstance(data.get("images"), list) or not isinstance(data.get("categories"), list):
        raise InputError("not a COCO keypoints file (needs 'images' and 'categories')", path=path)
    return data


def _coco_categories(data: dict[str, Any], path: Path) -> tuple[list[str], list, dict[int, str]]:
    cats = [c for c in data["categories"] if isinstance(c, dict)]
    with_kps = [c for c in cats if c.get("keypoints")]
    if not with_kps:
        raise InputError("no category lists keypoint names", path=path)
    names = list(with_kps[0]["keypoints"])
    if any(list(c["keypoints"]) != names for c in with_kps):
        raise InputError("categories disagree on the keypoint names", path=path)
    skeleton = [(int(a) - 1, int(b) - 1) for a, b in with_kps[0].get("skeleton") or []]
    categories = {int(c["id"]): str(c.get("name", c["id"])) for c in cats if "id" in c}
    return names, skeleton, categories


def _coco_sample(
    ann: dict[str, Any], images: dict[int, dict[str, Any]], root: Path, k: int, path: Path
) -> KeypointSample | None:
    kps = ann.get("keypoints")
    if kps is None or "bbox" not in ann:
        return None
    if len(kps) != 3 * k:
        raise InputError(
            f"annotation {ann.get('id')} has {len(kps)} keypoint values, expected {3 * k} "
            f"({k} keypoints in the categories)",
            path=path,
        )
    image = images.get(ann.get("image_id"))
    if image is None:
        raise InputError(f"annotation {ann.get('id')} refers to unknown image", path=path)
    keypoints = np.asarray(kps, dtype=np.float32).reshape(k, 3)
    if not (keypoints[:, 2] > 0).any() or ann.get("num_keypoints", 1) == 0:
        return None
    image_path = root / image["file_name"]
    if "width" in image and "height" in image:
        size = (int(image["width"]), int(image["height"]))
    else:
        size = image_size(image_path)
    bbox = sanitize_box(ann["bbox"], *size)
    if bbox is None or ann.get("area", 1) <= 0:
        return None
    area = float(ann.get("area", bbox[2] * bbox[3]))
    return KeypointSample(
        image_path, int(image["id"]), int(ann.get("category_id", 1)), bbox, keypoints, area, size
    )


def _check_images_exist(samples: Sequence[KeypointSample], source: Path) -> None:
    paths = sorted({s.image_path for s in samples})
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"image file not found (referenced by {source}; "
            f"{len(missing)} of {len(paths)} images missing)",
            path=missing[0],
        )


def load_coco_keypoints(
    json_path: str | Path,
    image_root: str | Path,
    *,
    flip_pairs: Sequence[Sequence[int]] | None = None,
) -> tuple[KeypointDataset, list[KeypointSample]]:
    """Load a COCO-keypoints file (AP-10K layout, Animal-Pose, custom sets).

    Image ``file_name`` s are relative to ``image_root``. Instances without a box or without a
    labelled keypoint are dropped; boxes are sanitised (:func:`sanitize_box`). ``flip_pairs``
    (0-based) overrides the pairs inferred from left/right names.
    """
    path = Path(json_path)
    data = _read_json(path)
    names, skeleton, categories = _coco_categories(data, path)
    meta = make_metadata(names, skeleton, categories, flip_pairs)
    images = {img.get("id"): img for img in data["images"] if isinstance(img, dict)}
    root = Path(image_root)
    samples = []
    for ann in data["annotations"]:
        try:
            sample = _coco_sample(ann, images, root, len(names), path)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            what = ann.get("id") if isinstance(ann, dict) else ann
            raise InputError(f"annotation {what} is malformed: {exc!r}", path=path) from None
        if sample is not None:
            samples.append(sample)
    if not samples:
        raise InputError("no annotations with labelled keypoints and a valid box", path=path)
    _check_images_exist(samples, path)
    return meta, samples
