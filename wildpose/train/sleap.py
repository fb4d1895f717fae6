"""SLEAP label files (``.slp``, read with sleap-io, io.sleap.ai) -> training samples.

User-labelled instances only (predictions in the file are not ground truth), one
:class:`~wildpose.train.samples.KeypointSample` per instance, its box drawn around the labelled
points as for DeepLabCut projects (:func:`~wildpose.train.dlc.dlc_boxes`). Keypoint names are
the skeleton's node names, turned into prompts by the same readable-name rule
(:func:`~wildpose.train.names.readable_name`); flip pairs are the skeleton's symmetries when it
has any, else inferred from left/right names. Frames of image-sequence videos are read from
their files; frames of video files and of embedded-image ``.pkg.slp`` files are decoded once
by sleap-io into PNGs under ``frames_dir`` (default ``LABELS.frames/`` beside the file).
Broken data raises :class:`~wildpose.errors.InputError` naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wildpose.atomic import write_bytes
from wildpose.errors import InputError
from wildpose.train.dlc import dlc_boxes
from wildpose.train.samples import KeypointDataset, KeypointSample, image_size, make_metadata

__all__ = ["load_sleap_labels"]


def load_sleap_labels(
    labels_path: str | Path,
    *,
    flip_pairs: Sequence[Sequence[int]] | None = None,
    frames_dir: str | Path | None = None,
) -> tuple[KeypointDataset, list[KeypointSample]]:
    """Load the user-labelled instances of a SLEAP ``.slp`` file (see the module docstring).

    Category 1 is "animal". ``flip_pairs`` (0-based) overrides the skeleton's symmetries.
    """
    import sleap_io as sio

    path = Path(labels_path)
    if not path.is_file():
        raise InputError("SLEAP labels file not found", path=path)
    try:
        labels = sio.load_slp(str(path), open_videos=True)
    except Exception as e:  # sleap-io raises h5py/KeyError/ValueError for non-SLEAP files
        raise InputError(f"not a readable SLEAP labels file ({e})", path=path) from None
    meta = _metadata(labels, path, flip_pairs)
    out_dir = Path(frames_dir) if frames_dir is not None else path.with_name(f"{path.stem}.frames")
    samples: list[KeypointSample] = []
    image_id = 0
    for lf in labels.labeled_frames:
        instances = lf.user_instances
        if not instances:
            continue
        xy = np.stack([inst.numpy() for inst in instances]).astype(np.float64)  # (I, K, 2)
        if not np.isfinite(xy).all(axis=-1).any():
            continue
        image_id += 1
        image = _frame_image(lf, labels.videos.index(lf.video), path, out_dir)
        samples.extend(_instances(xy, image, image_id, meta.num_keypoints))
    if not samples:
        raise InputError("no annotations: no user-labelled instance with a point", path=path)
    return meta, samples


def _metadata(
    labels: Any, path: Path, flip_pairs: Sequence[Sequence[int]] | None
) -> KeypointDataset:
    if len(labels.skeletons) != 1:
        raise InputError(f"has {len(labels.skeletons)} skeletons; one is supported", path=path)
    skeleton = labels.skeletons[0]
    if flip_pairs is None and skeleton.symmetries:
        flip_pairs = [tuple(pair) for pair in skeleton.symmetry_inds]
    return make_metadata(skeleton.node_names, skeleton.edge_inds, {1: "animal"}, flip_pairs)


def _instances(xy: np.ndarray, image: Path, image_id: int, k: int) -> list[KeypointSample]:
    """One sample per instance of ``xy`` (I, K, 2) px (NaN = not labelled) in ``image``."""
    size = image_size(image)
    labelled = np.isfinite(xy).all(axis=-1)  # (I, K)
    boxes = dlc_boxes(np.where(labelled[..., None], xy, np.nan), *size)
    samples = []
    for i in np.flatnonzero(labelled.any(axis=1)):
        box = boxes[i]
        if box[2] <= 0 or box[3] <= 0:  # points wholly outside the image
            continue
        kps = np.zeros((k, 3), dtype=np.float32)
        kps[labelled[i], :2] = xy[i][labelled[i]]
        kps[labelled[i], 2] = 2.0
        area = float(box[2] * box[3])
        samples.append(KeypointSample(image, image_id, 1, box, kps, area, size))
    return samples


def _frame_image(lf: Any, video_index: int, labels_path: Path, out_dir: Path) -> Path:
    """The image file of a labelled frame: an image sequence's own file, else a PNG decoded
    by sleap-io (written once; an existing one is reused)."""
    video = lf.video
    if isinstance(video.filename, list):
        return _find(Path(video.filename[lf.frame_idx]), labels_path)
    target = out_dir / f"video{video_index}_frame{int(lf.frame_idx):06d}.png"
    if target.is_file():
        return target
    if not video.exists() and not video.is_open:
        found = _find(Path(video.filename), labels_path)
        video.replace_filename(str(found))
    try:
        frame = np.asarray(video[lf.frame_idx])
    except Exception as e:
        raise InputError(f"cannot read frame {lf.frame_idx} ({e})", path=video.filename) from None
    write_bytes(target, _png(frame))
    return target


def _find(path: Path, labels_path: Path) -> Path:
    """``path`` as stored, else the file of that name beside the labels file (SLEAP stores the
    labelling machine's absolute paths)."""
    for candidate in (path, labels_path.parent / path, labels_path.parent / path.name):
        if candidate.is_file():
            return candidate
    raise InputError(f"image or video file not found (listed in {labels_path})", path=path)


def _png(frame: np.ndarray) -> bytes:
    """(H, W, 3) RGB or (H, W[, 1]) grey uint8 -> PNG bytes."""
    import cv2

    if frame.ndim == 3 and frame.shape[-1] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(frame.squeeze()))
    if not ok:
        raise InputError("cannot encode a decoded frame as PNG")
    return data.tobytes()
