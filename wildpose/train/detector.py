"""Fine-tune an ultralytics detector on boxes derived from keypoint annotations.

The same data that ``wildpose train`` reads (a COCO-keypoints JSON with its image folder, or a
DeepLabCut project) becomes an ultralytics YOLO dataset in ``OUT/dataset`` (images symlinked,
``labels/*.txt`` with normalised ``class cx cy w h``, ``data.yaml`` with absolute paths); a held-out
split of ``n_val`` images is drawn with :func:`~wildpose.train.data.split_samples`, so with the
same seed (0, ``wildpose train``'s ``data.split_seed`` default) and count the detector and the
pose model hold out the same frames. Classes: one ``animal`` class, or one per category name
(COCO categories, i.e. species).

Training runs ``ultralytics.YOLO(model).train(...)`` fully offline: ultralytics would fetch a font
when it checks the dataset and ``yolo26n.pt`` for its AMP sanity check on CUDA, and adds hub and
logger callbacks; :func:`offline_ultralytics` turns those off for the duration (plots are off, so
no font is needed; AMP is trusted on CUDA). Results in ``OUT``: ``best.pt`` (works as
``wildpose track --detector OUT/best.pt``), ``train-detector.json`` (resolved settings, split,
metrics, time) and ``run/`` (ultralytics' own outputs: ``weights/``, ``results.csv``,
``args.yaml``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from wildpose.errors import ConfigError, InputError

if TYPE_CHECKING:  # wildpose.train.data imports torch: loaded when needed (fast CLI --help)
    from wildpose.train.data import KeypointDataset, KeypointSample

SINGLE_CLASS = "animal"
RUN_NAME = "run"  # ultralytics' run folder inside OUT
DATASET_DIR = "dataset"
REPORT_NAME = "train-detector.json"

# Ultralytics arguments this module sets itself (not overridable through ``extra``).
_OWN_ARGS = frozenset("data model project name exist_ok epochs imgsz batch device seed".split())


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Settings of one detector fine-tuning run.

    ``model``: ultralytics model YAML (``yolo11n.yaml``: random init, nothing downloaded) or a
    local weights file (``.pt``, pretrained start). ``epochs``; ``imgsz``: training image size,
    px (square, letterboxed); ``batch``: images per step (``nbs`` = batch, so every batch is one
    optimizer step); ``n_val``: images held out for validation (0: validate on the training
    images); ``seed``: split and training seed; ``single_class``: one ``animal`` class, else one
    class per category name; ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``;
    ``workers``: data-loading processes on CUDA (ultralytics uses none on the CPU); ``threads``:
    torch CPU threads while training (None: torch's default, one per core); ``extra``:
    further ultralytics train arguments (``{"flipud": 0.5}``), applied last.
    """

    model: str = "yolo11n.yaml"
    epochs: int = 25
    imgsz: int = 256
    batch: int = 8
    n_val: int = 16
    seed: int = 0
    single_class: bool = True
    device: str = "auto"
    workers: int = 2
    threads: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("epochs", "imgsz", "batch"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.n_val < 0 or self.workers < 0:
            raise ConfigError("n_val and workers must be >= 0")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        own = sorted(set(self.extra) & _OWN_ARGS)
        if own:
            raise ConfigError(f"ultralytics argument {own[0]!r} is set by its own option")


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


@dataclass(frozen=True)
class DetectorTrainResult:
    """What :func:`train_detector` produced: ``best`` weights, the ``report`` JSON file and its
    content ``summary``."""

    best: Path
    report: Path
    summary: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# data


def load_keypoint_data(
    data: str | Path, images: str | Path | None = None
) -> tuple[KeypointDataset, list[KeypointSample], str]:
    """Samples of ``data``: a DeepLabCut project folder (kind ``dlc``) or a COCO-keypoints JSON
    whose images lie under ``images`` (kind ``coco``). Returns (metadata, samples, kind)."""
    from wildpose.train.data import load_coco_keypoints, load_dlc_project

    path = Path(data)
    if path.is_dir():
        if images is not None:
            raise ConfigError("--images is for a COCO JSON, not a DeepLabCut project", path=path)
        meta, samples = load_dlc_project(path)
        return meta, samples, "dlc"
    if not path.exists():
        raise InputError("training data not found (a DeepLabCut project or COCO JSON)", path=path)
    if images is None:
        raise ConfigError("a COCO keypoints file needs its image folder (--images DIR)", path=path)
    if not Path(images).is_dir():
        raise InputError("image folder not found", path=images)
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


def _size(sample: KeypointSample) -> tuple[int, int]:
    from wildpose.train.data import _image_size

    if sample.image_size[0] > 0 and sample.image_size[1] > 0:
        return sample.image_size
    return _image_size(sample.image_path)


def _by_image(samples: Sequence[KeypointSample]) -> dict[Path, list[KeypointSample]]:
    groups: dict[Path, list[KeypointSample]] = {}
    for s in samples:
        groups.setdefault(s.image_path, []).append(s)
    return groups


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        dst.symlink_to(src.resolve())
    except OSError:  # filesystems without symlinks
        shutil.copy2(src, dst)


def _write_split(
    root: Path, split: str, samples: Sequence[KeypointSample], class_of: Mapping[int, int]
) -> tuple[Path, ...]:
    """Images (``images/SPLIT/NNNNN_name``) and labels (``labels/SPLIT/NNNNN_name.txt``)."""
    (root / "images" / split).mkdir(parents=True)
    (root / "labels" / split).mkdir(parents=True)
    groups = _by_image(samples)
    for i, (image, group) in enumerate(groups.items()):
        name = f"{i:05d}_{image.name}"  # unique although folders may repeat file names
        _link_or_copy(image, root / "images" / split / name)
        rows = yolo_labels(group, class_of)
        text = "".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows)
        (root / "labels" / split / name).with_suffix(".txt").write_text(text)
    return tuple(groups)


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
        raise ConfigError("exists and is not a dataset written by train-detector", path=root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    os.chmod(tmp, _mode(0o777))  # mkdtemp's 0700 -> as a plain mkdir would make it
    try:
        train_images = _write_split(tmp, "train", train, class_of)
        val_images = _write_split(tmp, "val", val, class_of) if val else train_images
        val_split = "val" if val else "train"
        spec = {
            "path": str(root),
            "train": str(root / "images" / "train"),
            "val": str(root / "images" / val_split),
            "names": dict(enumerate(names)),
        }
        (tmp / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = {"train": len(train), "val": len(val) if val else len(train)}
    return YoloDataset(root / "data.yaml", tuple(names), train_images, val_images, counts)


# ---------------------------------------------------------------------------------------------
# model and ultralytics


def import_ultralytics() -> Any:
    """Import ultralytics with its connectivity probe, update check and telemetry off
    (``YOLO_OFFLINE=1`` is read when ultralytics is first imported)."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import ultralytics

    return ultralytics


def resolve_model(spec: str) -> str:
    """The model to start from: a local weights file or model YAML (returned as an absolute
    path), or the name of a YAML shipped with ultralytics (``yolo11n.yaml``, returned as is).
    Anything else, e.g. a weights name that ultralytics would download, is a ConfigError."""
    path = Path(spec)
    suffix = path.suffix.lower()
    if path.exists():
        if not path.is_file() or suffix not in (".pt", ".yaml", ".yml"):
            raise ConfigError("--model must be a .pt weights file or a model .yaml", path=path)
        return str(path.resolve())
    if suffix in (".yaml", ".yml") and path.name == spec:
        import_ultralytics()
        from ultralytics.nn.tasks import yaml_model_load

        try:
            yaml_model_load(spec)  # looks in ultralytics' cfg/models, never online
        except (FileNotFoundError, OSError, ValueError):
            pass
        else:
            return spec
        raise ConfigError(
            "--model is neither a local file nor a model YAML of ultralytics", path=spec
        )
    raise ConfigError(
        "--model not found: pass a local .pt weights file (nothing is downloaded) or a model "
        "YAML such as yolo11n.yaml (random init)",
        path=spec,
    )


def ultralytics_device(device: str) -> str:
    """wildpose's ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` -> ultralytics' ``cpu`` / ``N``."""
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        return "0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return device[5:]
    raise ConfigError(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}")


def train_arguments(cfg: DetectorTrainConfig, data_yaml: Path, out: Path) -> dict[str, Any]:
    """The ultralytics ``train`` arguments for ``cfg`` (see :class:`DetectorTrainConfig`).

    Cheap on the CPU: validation only after the last epoch (``val=False``), no plots, images
    cached in RAM, fp32 on the CPU, one optimizer step per batch (``nbs=batch``).
    """
    device = ultralytics_device(cfg.device)
    args: dict[str, Any] = dict(
        data=str(data_yaml),
        epochs=cfg.epochs,
        imgsz=cfg.imgsz,
        batch=cfg.batch,
        nbs=cfg.batch,
        device=device,
        workers=cfg.workers,
        seed=cfg.seed,
        project=str(out.absolute()),
        name=RUN_NAME,
        exist_ok=True,
        val=False,
        plots=False,
        cache="ram",
        amp=device != "cpu",
        close_mosaic=max(1, cfg.epochs // 6),
        patience=cfg.epochs,
        verbose=False,
    )
    args.update(cfg.extra)
    return args


@contextlib.contextmanager
def offline_ultralytics() -> Iterator[Any]:
    """Ultralytics with nothing that reaches the network, for the duration of the block.

    Replaces (and restores afterwards) the font check run on every dataset check (a download
    when Arial.ttf is not cached; no plots are drawn), the CUDA AMP check (downloads
    ``yolo26n.pt``; AMP is kept on) and the integration callbacks (hub, telemetry, loggers).
    Yields the ``ultralytics`` module.
    """
    ultralytics = import_ultralytics()
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer_mod
    import ultralytics.utils.callbacks as callbacks_mod

    patches = [
        (data_utils, "check_font", lambda *a, **k: None),
        (trainer_mod, "check_amp", lambda *a, **k: True),
        (callbacks_mod, "add_integration_callbacks", lambda *a, **k: None),
    ]
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in patches]
    try:
        for mod, name, value in patches:
            setattr(mod, name, value)
        yield ultralytics
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


@contextlib.contextmanager
def keep_torch_threads() -> Iterator[int]:
    """Restore torch's CPU thread count after the block (ultralytics' ``select_device`` sets it
    to ``cpu_count - 1``: 1 thread on a 2-core machine). Yields the count kept."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def check_train_arguments(args: Mapping[str, Any]) -> None:
    """ConfigError unless ultralytics accepts ``args`` (names and value types)."""
    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT, get_cfg

    try:
        get_cfg(DEFAULT_CFG_DICT, dict(args))
    except (SyntaxError, TypeError, ValueError) as exc:
        why = " ".join(str(exc).split())
        raise ConfigError(f"ultralytics rejected the training arguments: {why}") from None


def _fit(
    model: str, args: Mapping[str, Any], threads: int | None = None
) -> tuple[Path, dict[str, float]]:
    """Train with ultralytics on ``threads`` CPU threads (None: the current count); returns
    (best weights of the run, final validation metrics)."""
    import torch

    with offline_ultralytics() as ultralytics, keep_torch_threads() as current:
        threads = threads or current
        torch.set_num_threads(threads)
        yolo = ultralytics.YOLO(model, task="detect")
        # runs right after the trainer's select_device, which lowers the thread count
        yolo.add_callback("on_pretrain_routine_start", lambda _: torch.set_num_threads(threads))
        metrics = yolo.train(**args)
        trainer = yolo.trainer
    best = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
    values = getattr(metrics, "results_dict", None) or dict(trainer.metrics or {})
    return best, {str(k): float(v) for k, v in values.items()}


# ---------------------------------------------------------------------------------------------
# evaluation and the whole run


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU (N, M) float64 of boxes ``a`` (N, 4) and ``b`` (M, 4), xyxy px."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(a[..., 2:] - a[..., :2], axis=-1)
    area_b = np.prod(b[..., 2:] - b[..., :2], axis=-1)
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def heldout_detection(
    weights: str | Path,
    samples: Sequence[KeypointSample],
    *,
    imgsz: int,
    device: str = "cpu",
    conf: float = 0.25,
) -> dict[str, float]:
    """Detection rate of ``weights`` on ``samples``' images through
    :func:`wildpose.detect.build_detector` (what ``wildpose track`` runs), class-agnostic.

    Returns ``recall50`` / ``precision50`` (annotated boxes / detections matched one-to-one at
    IoU >= 0.5, detections taken by decreasing score), ``mean_iou`` (each annotated box's best
    IoU with any detection, 0 when none, averaged), ``boxes``, ``images`` and ``detections``
    (detections per image).
    """
    from wildpose.detect import build_detector

    detector = build_detector(str(weights), conf=conf, imgsz=imgsz, device=device)
    groups = _by_image(samples)
    with keep_torch_threads():
        found = [_detect_image(detector, path, i) for i, path in enumerate(groups)]
    best, matched, n_det = [], 0, 0
    for group, (xyxy, score) in zip(groups.values(), found, strict=True):
        gt = np.stack([s.bbox for s in group]).astype(np.float64)
        gt[:, 2:] += gt[:, :2]
        iou = box_iou(gt, xyxy[np.argsort(-score)])  # (G, D), detections by decreasing score
        best.append(iou.max(axis=1) if iou.shape[1] else np.zeros(len(gt)))
        matched += _greedy_matches(iou)
        n_det += len(score)
    ious = np.concatenate(best) if best else np.zeros(0)
    return {
        "recall50": matched / ious.size if ious.size else float("nan"),
        "precision50": matched / n_det if n_det else float("nan"),
        "mean_iou": float(ious.mean()) if ious.size else float("nan"),
        "boxes": int(ious.size),
        "images": len(groups),
        "detections": n_det / max(len(groups), 1),
    }


def _greedy_matches(iou: np.ndarray, threshold: float = 0.5) -> int:
    """One-to-one matches at IoU >= ``threshold`` when each detection (a column of the (G, D)
    ``iou``, best first) takes the still-free box it overlaps most (COCO's matching)."""
    free = np.ones(iou.shape[0], dtype=bool)
    for column in iou.T:  # a handful of detections per image
        overlap = np.where(free, column, -1.0)
        if overlap.size and overlap.max() >= threshold:
            free[overlap.argmax()] = False
    return int((~free).sum())


def _detect_image(detector: Any, path: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (M, 4) float32 xyxy px and scores (M,) that ``detector`` finds in image ``path``."""
    import cv2

    from wildpose.types import Frame

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError("cannot read image", path=path)
    frame = Frame(index=index, time_s=0.0, image=np.ascontiguousarray(image[..., ::-1]))
    det = detector.detect([frame])[0]
    return det.xyxy, det.score


def _mode(full: int) -> int:
    """``full`` permissions less the process umask (what open() or mkdir() would give)."""
    umask = os.umask(0)
    os.umask(umask)
    return full & ~umask


def _atomic_copy(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent)
    os.close(fd)
    os.chmod(tmp, _mode(0o666))
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_json(data: Mapping[str, Any], dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent)
    os.chmod(tmp, _mode(0o666))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def train_detector(
    data: str | Path,
    out: str | Path,
    cfg: DetectorTrainConfig = DetectorTrainConfig(),
    *,
    images: str | Path | None = None,
) -> DetectorTrainResult:
    """Fine-tune a detector on ``data`` (see the module docstring) and write ``out/best.pt``
    and ``out/train-detector.json``. Raises ConfigError / InputError for bad arguments or data."""
    from wildpose.train.data import split_samples

    t0 = time.perf_counter()
    out = Path(out).absolute()
    model = resolve_model(cfg.model)
    args = train_arguments(cfg, out / DATASET_DIR / "data.yaml", out)
    check_train_arguments(args)
    meta, samples, kind = load_keypoint_data(data, images)
    train, val = split_samples(samples, cfg.n_val, cfg.seed)
    names, class_of = class_map(meta, samples, cfg.single_class)
    dataset = write_yolo_dataset(train, val, names, class_of, out / DATASET_DIR)
    t1 = time.perf_counter()
    run_best, metrics = _fit(model, args, cfg.threads)
    t2 = time.perf_counter()
    best = out / "best.pt"
    _atomic_copy(run_best, best)
    device = "cpu" if args["device"] == "cpu" else f"cuda:{args['device']}"
    heldout = heldout_detection(best, val, imgsz=cfg.imgsz, device=device) if val else None
    summary = _summary(cfg, model, data, kind, dataset, args, metrics, heldout)
    summary["seconds"] = {"prepare": t1 - t0, "train": t2 - t1, "total": time.perf_counter() - t0}
    report = out / REPORT_NAME
    _atomic_json(summary, report)
    return DetectorTrainResult(best, report, summary)


def _summary(
    cfg: DetectorTrainConfig,
    model: str,
    data: str | Path,
    kind: str,
    dataset: YoloDataset,
    args: Mapping[str, Any],
    metrics: Mapping[str, float],
    heldout: Mapping[str, float] | None,
) -> dict[str, Any]:
    from wildpose.about import versions

    return {
        "data": str(Path(data).absolute()),
        "kind": kind,
        "model": model,
        "settings": {**asdict(cfg), "extra": dict(cfg.extra)},
        "ultralytics_args": dict(args),
        "classes": list(dataset.names),
        "split": {
            "seed": cfg.seed,
            "n_val": cfg.n_val,
            "instances": dataset.instances,
            "train_images": [str(p) for p in dataset.train],
            "val_images": [str(p) for p in dataset.val] if cfg.n_val else [],
        },
        "metrics": {
            "mAP50": metrics.get("metrics/mAP50(B)"),
            "mAP50-95": metrics.get("metrics/mAP50-95(B)"),
            "precision": metrics.get("metrics/precision(B)"),
            "recall": metrics.get("metrics/recall(B)"),
        },
        "heldout": heldout,
        "versions": versions(),
    }
