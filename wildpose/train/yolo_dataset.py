"""Keypoint annotations -> an ultralytics YOLO detection dataset (boxes only).

The data ``wildpose train`` reads (a COCO-keypoints JSON with its image folder, or a DeepLabCut
project) becomes ``ROOT/images/{train,val}/`` (images symlinked, copied where symlinks are not
available), ``ROOT/labels/{train,val}/*.txt`` (one ``class cx cy w h`` row per box, normalised by
the image size) and ``ROOT/data.yaml`` (absolute paths). Format:
https://docs.ultralytics.com/datasets/detect/. Classes: one ``animal`` class, or one per
category name (COCO categories, i.e. species).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from wildpose.atomic import commit, temp_path
from wildpose.errors import ConfigError, InputError
from wildpose.messages import display_path
from wildpose.train.coco import load_coco_keypoints
from wildpose.train.dlc import load_dlc_project
from wildpose.train.samples import KeypointDataset, KeypointSample, image_size

SINGLE_CLASS = "animal"


@dataclass(frozen=True)
class YoloDataset:
    """An ultralytics detection dataset written by :func:`write_yolo_dataset`.

    ``yaml_path``: ``data.yaml`` (absolute paths); ``names``: class names by class index;
    ``train`` / ``val``: the source image paths of each split (val = train when nothing is held
    out); ``instances``: boxes per split.
    """

    yaml_path: Path
    names: tuple[str, ...]
    train: tuple[Path, ...]
    val: tuple[Path, ...]
    instances: dict[str, int]


def load_keypoint_data(
    data: str | Path, images: str | Path | None = None
) -> tuple[KeypointDataset, list[KeypointSample], str]:
    """Samples of ``data``: a DeepLabCut project folder (kind ``dlc``) or a COCO-keypoints JSON
    whose images lie under ``images`` (kind ``coco``). Returns (metadata, samples, kind)."""
    path = Path(data)
    if path.is_dir():
        if images is not None:
            raise ConfigError(
                "--images is for a COCO JSON, not a DeepLabCut project", path=display_path(path)
            )
        meta, samples = load_dlc_project(path)
        return meta, samples, "dlc"
    if not path.exists():
        raise InputError(
            "training data not found (a DeepLabCut project or COCO JSON)", path=display_path(path)
        )
    if images is None:
        raise ConfigError(
            "a COCO keypoints file needs its image folder (--images DIR)", path=display_path(path)
        )
    if not Path(images).is_dir():
        raise InputError("image folder not found", path=display_path(images))
    meta, samples = load_coco_keypoints(path, images)
    return meta, samples, "coco"


def class_map(
    meta: KeypointDataset, samples: Sequence[KeypointSample], single_class: bool
) -> tuple[tuple[str, ...], dict[int, int]]:
    """Class names and category id -> class index. One ``animal`` class, or one class per
    category name present in ``samples`` (in category-id order; ids sharing a name share it)."""
    ids = sorted({s.category_id for s in samples})
    if single_class:
        return (SINGLE_CLASS,), dict.fromkeys(ids, 0)
    names = list(dict.fromkeys(meta.categories.get(i, str(i)) for i in ids))
    return tuple(names), {i: names.index(meta.categories.get(i, str(i))) for i in ids}


def yolo_labels(samples: Sequence[KeypointSample], class_of: Mapping[int, int]) -> np.ndarray:
    """Label rows (N, 5) float64 ``class cx cy w h`` for the samples' boxes, centre and size
    normalised by the image size (clipped to [0, 1]). Boxes are the samples' ``bbox`` (xywh px)."""
    if not samples:
        return np.zeros((0, 5))
    box = np.stack([s.bbox for s in samples]).astype(np.float64)
    size = np.array([_size(s) for s in samples], dtype=np.float64)  # (N, 2) W, H
    lo = np.clip(box[:, :2] / size, 0.0, 1.0)
    hi = np.clip((box[:, :2] + box[:, 2:]) / size, 0.0, 1.0)
    cls = np.array([class_of[s.category_id] for s in samples], dtype=np.float64)
    return np.column_stack([cls, (lo + hi) / 2, hi - lo])


def by_image(samples: Sequence[KeypointSample]) -> dict[Path, list[KeypointSample]]:
    """The samples grouped by image path, in order of first appearance."""
    groups: dict[Path, list[KeypointSample]] = {}
    for s in samples:
        groups.setdefault(s.image_path, []).append(s)
    return groups


def write_yolo_dataset(
    train: Sequence[KeypointSample],
    val: Sequence[KeypointSample],
    names: Sequence[str],
    class_of: Mapping[int, int],
    root: str | Path,
) -> YoloDataset:
    """Write an ultralytics dataset to ``root`` (replacing one written before; built under a
    temporary name, then renamed). An empty ``val`` validates on the training images."""
    root = Path(root).absolute()
    if root.exists() and not (root / "data.yaml").is_file():
        raise ConfigError(
            "exists and is not a dataset written by train-detector", path=display_path(root)
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(root)
    tmp.mkdir()
    try:
        train_images = _write_split(tmp, "train", train, class_of)
        val_images = _write_split(tmp, "val", val, class_of) if val else train_images
        spec = {
            "path": str(root),
            "train": str(root / "images" / "train"),
            "val": str(root / "images" / ("val" if val else "train")),
            "names": dict(enumerate(names)),
        }
        (tmp / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        if root.exists():
            shutil.rmtree(root)
        commit(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = {"train": len(train), "val": len(val) if val else len(train)}
    return YoloDataset(root / "data.yaml", tuple(names), train_images, val_images, counts)


def _size(sample: KeypointSample) -> tuple[int, int]:
    if sample.image_size[0] > 0 and sample.image_size[1] > 0:
        return sample.image_size
    return image_size(sample.image_path)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        dst.symlink_to(src.resolve())
    except OSError:  # filesystems without symlinks
        shutil.copy2(src, dst)


def _write_split(
    root: Path, split: str, samples: Sequence[KeypointSample], class_of: Mapping[int, int]
) -> tuple[Path, ...]:
    """Images (``images/SPLIT/NNNNN_name``) and labels (``labels/SPLIT/NNNNN_name.txt``) inside
    the temporary folder ``root``, which is renamed whole once complete."""
    (root / "images" / split).mkdir(parents=True)
    (root / "labels" / split).mkdir(parents=True)
    groups = by_image(samples)
    for i, (image, group) in enumerate(groups.items()):
        name = f"{i:05d}_{image.name}"  # unique although folders may repeat file names
        _link_or_copy(image, root / "images" / split / name)
        rows = yolo_labels(group, class_of)
        text = "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows)
        (root / "labels" / split / name).with_suffix(".txt").write_text(text)
    return tuple(groups)
