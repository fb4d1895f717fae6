"""Keypoint training data: COCO-keypoint JSON and DeepLabCut projects -> top-down samples.

Loaders return ``(KeypointDataset, list[KeypointSample])``: the keypoint set's metadata and one
sample per labelled animal instance. :class:`TopDownDataset` turns samples into network inputs
and targets with the official CLAMP (mmpose 0.x) pipeline (clamp-spec sections 4-6).

Broken data (missing image, bad JSON/CSV/YAML, keypoint-count mismatch, no annotations) raises
:class:`~wildpose.errors.InputError` with one line naming the file; a bad ``flip_pairs`` or
``n_val`` argument raises :class:`~wildpose.errors.ConfigError`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import torch
import yaml
from PIL import Image

from wildpose.errors import ConfigError, InputError
from wildpose.evaluate import AP10K_SIGMAS as _EVAL_AP10K_SIGMAS
from wildpose.pose.crop import affine_matrix, box_to_center_scale
from wildpose.train import transforms as T
from wildpose.train.names import AP10K_NAMES, infer_flip_pairs, readable_name
from wildpose.train.targets import down_targets, gaussian_targets

DEFAULT_SIGMA = 0.05  # OKS sigma for keypoint sets without published ones
BOX_PADDING = 1.25  # top-down crop padding around the box
DLC_BOX_MARGIN = 0.1  # DeepLabCut boxes: keypoint extent padded by 10% of its longer side ...
DLC_BOX_MIN_MARGIN_PX = 10.0  # ... and by at least 10 px on each side, then clipped to the image

AP10K_SIGMAS = tuple(float(s) for s in _EVAL_AP10K_SIGMAS)  # one source: wildpose.evaluate
AP10K_UPPER_IDS = (0, 1, 2, 3, 5, 6, 7, 8, 9)  # mmpose's AP-10K split: R_F_Paw (10) is "lower"
_ANIMALPOSE_RAW = """L_Eye R_Eye L_EarBase R_EarBase Nose Throat TailBase Withers
    L_F_Elbow R_F_Elbow L_B_Elbow R_B_Elbow L_F_Knee R_F_Knee L_B_Knee R_B_Knee
    L_F_Paw R_F_Paw L_B_Paw R_B_Paw"""
ANIMALPOSE_NAMES = tuple(readable_name(n) for n in _ANIMALPOSE_RAW.split())
ANIMALPOSE_SIGMAS = (0.025, 0.025, 0.026, 0.035, 0.035, 0.10, 0.10, 0.10, 0.107, 0.107, 0.107,
                     0.107, 0.087, 0.087, 0.087, 0.087, 0.089, 0.089, 0.089, 0.089)  # fmt: skip
_KNOWN_SIGMAS = {AP10K_NAMES: AP10K_SIGMAS, ANIMALPOSE_NAMES: ANIMALPOSE_SIGMAS}

# Half-body split for keypoint sets other than AP-10K, from the readable names.
_FORE_WORDS = frozenset("front fore".split())
_HIND_WORDS = frozenset("back hind rear tail".split())
_UPPER_WORDS = frozenset(
    """eye ear nose snout head neck throat chin jaw mouth lip cheek forehead muzzle beak bill
    crown nape withers shoulder elbow wrist hand arm chest brow eyebrow tongue whisker antenna
    horn antler trunk""".split()
)


@dataclass(frozen=True, eq=False)
class KeypointSample:
    """One labelled animal instance.

    ``bbox`` (4,) float32 xywh image px, sanitised as mmpose does; ``keypoints`` (K, 3) float32:
    x, y image px and visibility (0 unlabelled, 1 labelled but occluded, 2 visible; unlabelled
    joints have x = y = 0); ``area`` in px^2 (the annotation's, for OKS); ``image_size`` is
    (width, height) px, (0, 0) when unknown.
    """

    image_path: Path
    image_id: int
    category_id: int
    bbox: np.ndarray
    keypoints: np.ndarray
    area: float
    image_size: tuple[int, int] = (0, 0)


@dataclass(frozen=True, eq=False)
class KeypointDataset:
    """Metadata of a keypoint set (K keypoints).

    ``readable_names`` are the language prompts; ``skeleton`` and ``flip_pairs`` hold 0-based
    index pairs; ``sigmas`` (K,) float32 are OKS sigmas (AP-10K's and Animal-Pose's published
    ones, else 0.05 each); ``categories`` maps category id -> name; ``upper_body_ids`` are the
    half-body "upper" joints (all others are "lower").
    """

    keypoint_names: tuple[str, ...]
    readable_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: np.ndarray
    categories: dict[int, str] = field(default_factory=dict)
    upper_body_ids: tuple[int, ...] = ()

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)


def upper_body_ids(readable: Sequence[str]) -> tuple[int, ...]:
    """Half-body "upper" joints: AP-10K's official ids, else derived from the names.

    A name is upper if it has a fore-limb word (front, fore); else lower if it has a hind word
    (back, hind, rear, tail); else upper if it names a head, neck or fore-limb part. For
    Animal-Pose this reproduces mmpose's split.
    """
    if tuple(readable) == AP10K_NAMES:
        return AP10K_UPPER_IDS
    ids = []
    for i, name in enumerate(readable):
        words = set(name.split())
        if words & _FORE_WORDS or (not words & _HIND_WORDS and words & _UPPER_WORDS):
            ids.append(i)
    return tuple(ids)


def _check_pairs(pairs: Sequence[Sequence[int]], k: int, what: str) -> tuple[tuple[int, int], ...]:
    out = tuple((int(a), int(b)) for a, b in pairs)
    flat = [i for pair in out for i in pair]
    if any(not 0 <= i < k for i in flat):
        raise ConfigError(f"{what} {list(out)} has an index outside 0..{k - 1}")
    if what == "flip_pairs" and len(set(flat)) != len(flat):
        raise ConfigError(f"flip_pairs {list(out)} uses a keypoint twice")
    return out


def make_metadata(
    names: Sequence[str],
    skeleton: Sequence[Sequence[int]] = (),
    categories: dict[int, str] | None = None,
    flip_pairs: Sequence[Sequence[int]] | None = None,
) -> KeypointDataset:
    """Metadata for raw keypoint ``names``: readable prompts, flip pairs (given or inferred from
    left/right names), sigmas, half-body split. ``skeleton`` is 0-based."""
    names = tuple(str(n) for n in names)
    readable = tuple(readable_name(n) for n in names)
    k = len(names)
    pairs = infer_flip_pairs(names) if flip_pairs is None else flip_pairs
    sigmas = _KNOWN_SIGMAS.get(readable, (DEFAULT_SIGMA,) * k)
    return KeypointDataset(
        keypoint_names=names,
        readable_names=readable,
        skeleton=_check_pairs(skeleton, k, "skeleton"),
        flip_pairs=_check_pairs(pairs, k, "flip_pairs"),
        sigmas=np.asarray(sigmas, dtype=np.float32),
        categories=dict(categories or {}),
        upper_body_ids=upper_body_ids(readable),
    )


# ---------------------------------------------------------------------------------------------
# COCO keypoints


def sanitize_box(bbox: Sequence[float], width: int, height: int) -> np.ndarray | None:
    """mmpose's box cleaning: xywh -> clipped xywh (4,) float32, or None when degenerate.

    ``x1 = max(0, x)``, ``x2 = min(W - 1, x1 + max(0, w - 1))`` (same for y); kept only when
    ``x2 > x1`` and ``y2 > y1``.
    """
    x, y, w, h = (float(v) for v in bbox[:4])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 <= x1 or y2 <= y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


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


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header (Pillow reads no pixels)."""
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise InputError("image file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read image: {exc}", path=path) from None


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
        size = _image_size(image_path)
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


# ---------------------------------------------------------------------------------------------
# DeepLabCut


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("DeepLabCut config.yaml not found", path=path)
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid YAML: {' '.join(str(exc).split())}", path=path) from None
    if not isinstance(cfg, dict):
        raise InputError("not a DeepLabCut config (expected a mapping)", path=path)
    return cfg


_DLC_HEADERS = ("scorer", "individuals", "bodyparts", "coords")


def _read_dlc_csv(
    path: Path, bodyparts: Sequence[str]
) -> tuple[list[str], list[str | None], np.ndarray]:
    """DeepLabCut CollectedData CSV -> (image paths relative to the project, individuals,
    xy (F, I, K, 2) float64 with NaN for unlabelled). Handles one- and three-column indices."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    n_head = 0
    while n_head < len(rows) and rows[n_head][0].strip().lower() in _DLC_HEADERS:
        n_head += 1
    header = {rows[i][0].strip().lower(): rows[i] for i in range(n_head)}
    if "bodyparts" not in header or "coords" not in header:
        raise InputError("not a DeepLabCut CollectedData CSV (no bodyparts/coords rows)", path=path)
    coords_row = header["coords"]
    n_idx = 1
    while n_idx < len(coords_row) and not coords_row[n_idx].strip():
        n_idx += 1
    width = len(coords_row)
    inds_row = header.get("individuals", [""] * width)
    columns = {
        (inds_row[j] or None, header["bodyparts"][j], coords_row[j]): j for j in range(n_idx, width)
    }
    individuals = list(dict.fromkeys(ind for ind, _, _ in columns if ind != "single"))
    index = []
    for ind in individuals:
        for bp in bodyparts:
            for c in ("x", "y"):
                if (ind, bp, c) not in columns:
                    raise InputError(f"bodypart {bp!r} of config.yaml has no {c} column", path=path)
                index.append(columns[(ind, bp, c)])
    body = [(row + [""] * width)[:width] for row in rows[n_head:]]
    rel = ["/".join(c.strip() for c in row[:n_idx] if c.strip()).replace("\\", "/") for row in body]
    cells = np.array([row[n_idx:] for row in body], dtype=object).reshape(len(body), -1)
    cells = cells[:, np.asarray(index, dtype=np.int64) - n_idx]
    try:
        values = np.where(cells == "", "nan", cells).astype(np.float64)
    except ValueError as exc:
        raise InputError(f"bad number: {exc}", path=path) from None
    return rel, individuals, values.reshape(len(body), len(individuals), len(bodyparts), 2)


def dlc_boxes(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boxes (N, 4) xywh float32 around labelled keypoints ``xy`` (N, K, 2) (NaN = unlabelled).

    The keypoints' extent padded on each side by ``max(DLC_BOX_MARGIN * longer side,
    DLC_BOX_MIN_MARGIN_PX)`` and clipped to [0, W-1] x [0, H-1]. Rows with no labelled keypoint
    give NaN.
    """
    lo = np.nanmin(xy, axis=1)
    hi = np.nanmax(xy, axis=1)
    margin = np.maximum(DLC_BOX_MARGIN * (hi - lo).max(axis=1), DLC_BOX_MIN_MARGIN_PX)[:, None]
    x1y1 = np.maximum(lo - margin, 0.0)
    x2y2 = np.minimum(hi + margin, [width - 1.0, height - 1.0])
    return np.concatenate([x1y1, x2y2 - x1y1], axis=1).astype(np.float32)


def _dlc_project_images(project: Path, csv_path: Path, rel: str) -> Path:
    candidate = project / rel
    if candidate.is_file():
        return candidate
    local = csv_path.parent / Path(rel).name
    if local.is_file():
        return local
    raise InputError(f"image file not found (listed in {csv_path})", path=candidate)


def _dlc_samples(project: Path, csv_path: Path, bodyparts: Sequence[str], first_id: int) -> list:
    rel, _, xy = _read_dlc_csv(csv_path, bodyparts)
    samples = []
    for f, name in enumerate(rel):
        labelled = np.isfinite(xy[f]).all(axis=-1)  # (I, K)
        if not labelled.any():
            continue
        image_path = _dlc_project_images(project, csv_path, name)
        size = _image_size(image_path)
        boxes = dlc_boxes(np.where(labelled[..., None], xy[f], np.nan), *size)
        for i in np.flatnonzero(labelled.any(axis=1)):
            box = boxes[i]
            if box[2] <= 0 or box[3] <= 0:  # keypoints wholly outside the image
                continue
            kps = np.zeros((len(bodyparts), 3), dtype=np.float32)
            kps[labelled[i], :2] = xy[f, i][labelled[i]]
            kps[labelled[i], 2] = 2.0
            area = float(box[2] * box[3])
            samples.append(KeypointSample(image_path, first_id + f, 1, box, kps, area, size))
    return samples


def load_dlc_project(
    project_dir: str | Path, *, flip_pairs: Sequence[Sequence[int]] | None = None
) -> tuple[KeypointDataset, list[KeypointSample]]:
    """Load a DeepLabCut project's labelled frames (``labeled-data/*/CollectedData_*.csv``).

    Keypoints are ``bodyparts`` from ``config.yaml`` (``multianimalbodyparts`` for multi-animal
    projects, one instance per labelled individual; unique bodyparts are ignored); the skeleton
    is taken from ``skeleton``. One instance per labelled frame for single-animal projects, its
    box from :func:`dlc_boxes`. Category 1 is "animal".
    """
    project = Path(project_dir)
    cfg_path = project / "config.yaml"
    cfg = _read_yaml(cfg_path)
    key = "multianimalbodyparts" if cfg.get("multianimalproject") else "bodyparts"
    bodyparts = cfg.get(key)
    if not isinstance(bodyparts, list) or not bodyparts:
        raise InputError(f"no {key} list", path=cfg_path)
    bodyparts = [str(b) for b in bodyparts]
    position = {b: i for i, b in enumerate(bodyparts)}
    try:
        skeleton = [(position[a], position[b]) for a, b in cfg.get("skeleton") or []]
    except (KeyError, ValueError, TypeError):
        raise InputError("skeleton names a bodypart that is not listed", path=cfg_path) from None
    meta = make_metadata(bodyparts, skeleton, {1: "animal"}, flip_pairs)
    csvs = sorted(project.glob("labeled-data/*/CollectedData_*.csv"))
    if not csvs:
        raise InputError("no annotations: no labeled-data/*/CollectedData_*.csv", path=project)
    samples: list[KeypointSample] = []
    for csv_path in csvs:
        first_id = 1 + (max(s.image_id for s in samples) if samples else 0)
        samples.extend(_dlc_samples(project, csv_path, bodyparts, first_id))
    if not samples:
        raise InputError("no annotations: no frame has a labelled keypoint", path=project)
    return meta, samples


def split_samples(
    samples: Sequence[KeypointSample], n_val: int, seed: int
) -> tuple[list[KeypointSample], list[KeypointSample]]:
    """Deterministic train/val split by image: ``n_val`` images (with all their instances) go
    to validation. Both lists keep the input order."""
    images = list(dict.fromkeys(s.image_path for s in samples))
    if not 0 <= n_val < len(images):
        raise ConfigError(f"n_val={n_val} must be in [0, {len(images)}) (number of images)")
    order = np.random.default_rng(seed).permutation(len(images))
    val_images = {images[i] for i in order[:n_val]}
    train = [s for s in samples if s.image_path not in val_images]
    val = [s for s in samples if s.image_path in val_images]
    return train, val


# ---------------------------------------------------------------------------------------------
# Torch dataset


class TopDownItem(NamedTuple):
    """One training example (or a batch, with a leading B axis, after :func:`collate`).

    Field order (also the tuple order):
    ``image`` (3, H, W) float32, ImageNet-normalised RGB crop;
    ``target`` (K, h, w) float32 heatmaps; ``target_weight`` (K, 1) float32;
    ``target_down`` (K, d, d) float32 down target; ``target_down_weight`` (K, 1) float32;
    ``center`` (2,) px and ``scale`` (2,) 200-px units of the crop actually used (augmented in
    training), ``rotation`` () degrees; ``bbox`` (4,) float32 xywh image px (sanitised);
    ``joints`` (K, 2) float32 image px (unaugmented); ``visible`` (K,) float32 (1 labelled);
    ``area`` () float32 px^2; ``image_id``, ``category_id``, ``index`` () int64.
    """

    image: torch.Tensor
    target: torch.Tensor
    target_weight: torch.Tensor
    target_down: torch.Tensor
    target_down_weight: torch.Tensor
    center: torch.Tensor
    scale: torch.Tensor
    rotation: torch.Tensor
    bbox: torch.Tensor
    joints: torch.Tensor
    visible: torch.Tensor
    area: torch.Tensor
    image_id: torch.Tensor
    category_id: torch.Tensor
    index: torch.Tensor


def collate(items: Sequence[TopDownItem]) -> TopDownItem:
    """Stack items into a batch (torch's default collate does the same for this NamedTuple)."""
    return TopDownItem(*(torch.stack(list(field_)) for field_ in zip(*items, strict=True)))


@dataclass(frozen=True, eq=False)
class Augmentation:
    """The crop of one training draw: centre (2,) px, scale (2,), rotation degrees, whether the
    image was mirrored, and the joints (K, 2) px / visibility (K,) in the (mirrored) image."""

    center: np.ndarray
    scale: np.ndarray
    rotation: float
    flipped: bool
    joints: np.ndarray
    visible: np.ndarray


class TopDownDataset(torch.utils.data.Dataset):
    """Top-down crops and targets for CLAMP training / validation.

    ``input_size`` and ``heatmap_size`` are (width, height); ``down_size`` is the backbone's
    token grid (8 for RN50, 16 for ViT). Items are :class:`TopDownItem`.

    ``train=True`` applies the official pipeline: the fixed 30 % centre jitter drawn once here
    from ``seed``, then per item flip (p 0.5), half-body (p 0.3, more than 8 visible joints;
    upper set ``meta.upper_body_ids``, so sets with K <= 8 never use it), scale, rotation, affine
    warp, ImageNet normalisation, targets. Draws come from a generator seeded by
    ``(seed, epoch, index)``: an item is reproducible, and :meth:`set_epoch` (call it before
    each epoch's DataLoader iterator is created) gives each epoch fresh draws.
    """

    def __init__(
        self,
        samples: Sequence[KeypointSample],
        meta: KeypointDataset,
        input_size: tuple[int, int] = (256, 256),
        heatmap_size: tuple[int, int] = (64, 64),
        down_size: int = 8,
        train: bool = False,
        seed: int = 0,
    ) -> None:
        k = meta.num_keypoints
        bad = [s.image_path for s in samples if s.keypoints.shape != (k, 3)]
        if bad:
            raise InputError(f"sample keypoints are not ({k}, 3) as the metadata says", path=bad[0])
        self.samples = list(samples)
        self.meta = meta
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.down_size = int(down_size)
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self._upper = np.isin(np.arange(k), meta.upper_body_ids)
        bbox = np.stack([s.bbox for s in self.samples]) if self.samples else np.zeros((0, 4))
        xyxy = np.concatenate([bbox[:, :2], bbox[:, :2] + bbox[:, 2:]], axis=1)
        aspect = self.input_size[0] / self.input_size[1]
        center, scale = box_to_center_scale(xyxy, aspect, BOX_PADDING)
        if self.train:
            center = center + T.center_jitter(bbox, np.random.default_rng(self.seed))
        # Crop before augmentation, per sample: centres (N, 2) px (with the fixed train jitter)
        # and scales (N, 2) in 200-px units (box padded by 1.25, aspect-fixed).
        self.centers = center.astype(np.float32)
        self.scales = scale.astype(np.float32)

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws :meth:`__getitem__` uses."""
        self.epoch = int(epoch)

    def augmentation(self, index: int, image_width: int) -> Augmentation:
        """The crop for item ``index`` (deterministic given seed, epoch and index)."""
        sample = self.samples[index]
        joints = sample.keypoints[:, :2].copy()
        visible = (sample.keypoints[:, 2] > 0).astype(np.float32)
        center, scale = self.centers[index].copy(), self.scales[index].copy()
        if not self.train:
            return Augmentation(center, scale, 0.0, False, joints, visible)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        flipped = bool(rng.random() <= T.FLIP_PROB)
        if flipped:
            joints, visible = T.flip_joints(joints, visible, image_width, self.meta.flip_pairs)
            center = T.flip_center(center, image_width)
        if visible.sum() > T.HALF_BODY_MIN_VISIBLE and rng.random() < T.HALF_BODY_PROB:
            aspect = self.input_size[0] / self.input_size[1]
            half = T.half_body_box(
                joints, visible, self._upper, bool(rng.standard_normal() < 0.5), aspect
            )
            if half is not None:
                center, scale = half
        scale = (scale * T.draw_scale(rng)).astype(np.float32)
        rotation = T.draw_rotation(rng)
        return Augmentation(center, scale, rotation, flipped, joints, visible)

    def _read_image(self, path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError("cannot read image (missing or corrupt)", path=path)
        return image

    def __getitem__(self, index: int) -> TopDownItem:
        sample = self.samples[index]
        image = self._read_image(sample.image_path)  # (H, W, 3) uint8 BGR
        aug = self.augmentation(index, image.shape[1])
        matrix = affine_matrix(aug.center, aug.scale, aug.rotation, self.input_size)[0]
        image_matrix = T.flip_affine(matrix, image.shape[1]) if aug.flipped else matrix
        crop = T.warp_image(image, image_matrix, self.input_size)[..., ::-1]  # BGR -> RGB
        joints_crop = T.warp_joints(aug.joints, aug.visible, matrix)
        target, weight = gaussian_targets(
            joints_crop, aug.visible, self.input_size, self.heatmap_size
        )
        target_down, weight_down = down_targets(
            joints_crop, aug.visible, self.input_size, self.down_size
        )
        f32 = torch.float32
        return TopDownItem(
            image=torch.from_numpy(T.normalize_image(crop)),
            target=torch.from_numpy(target),
            target_weight=torch.from_numpy(weight[:, None]),
            target_down=torch.from_numpy(target_down),
            target_down_weight=torch.from_numpy(weight_down[:, None]),
            center=torch.as_tensor(aug.center, dtype=f32),
            scale=torch.as_tensor(aug.scale, dtype=f32),
            rotation=torch.tensor(aug.rotation, dtype=f32),
            bbox=torch.as_tensor(sample.bbox, dtype=f32),
            joints=torch.as_tensor(sample.keypoints[:, :2], dtype=f32),
            visible=torch.as_tensor(sample.keypoints[:, 2] > 0, dtype=f32),
            area=torch.tensor(sample.area, dtype=f32),
            image_id=torch.tensor(sample.image_id, dtype=torch.int64),
            category_id=torch.tensor(sample.category_id, dtype=torch.int64),
            index=torch.tensor(index, dtype=torch.int64),
        )
