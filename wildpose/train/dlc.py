"""DeepLabCut projects (``config.yaml`` + ``labeled-data/*/CollectedData_*.csv``) -> samples.

Single- and multi-animal projects (DeepLabCut's labelled-data layout, deeplabcut.github.io);
boxes are drawn around each instance's labelled keypoints (:func:`dlc_boxes`). Broken data
(missing image, bad CSV/YAML, bodypart mismatch, no labels) raises
:class:`~wildpose.errors.InputError` with one line naming the file.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from wildpose.errors import InputError
from wildpose.train.samples import KeypointDataset, KeypointSample, image_size, make_metadata

DLC_BOX_MARGIN = 0.1  # boxes: keypoint extent padded by 10% of its longer side ...
DLC_BOX_MIN_MARGIN_PX = 10.0  # ... and by at least 10 px on each side, then clipped to the image


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
        size = image_size(image_path)
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
