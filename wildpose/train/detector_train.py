"""Fine-tune an ultralytics detector on boxes derived from keypoint annotations.

The same data that ``wildpose train`` reads becomes a YOLO dataset in ``OUT/dataset``
(:mod:`wildpose.train.yolo_dataset`); a held-out split of ``n_val`` images is drawn with
:func:`~wildpose.train.samples.split_samples`, so with the same seed (0, ``wildpose train``'s
``data.split_seed`` default) and count the detector and the pose model hold out the same frames.

Training runs ``ultralytics.YOLO(model).train(...)`` fully offline
(:func:`wildpose.adapters.ultralytics.fit`: no font download, no AMP check download, no hub or
logger callbacks; plots are off and AMP is trusted on CUDA). Results in ``OUT``: ``best.pt``
(works as ``wildpose track --detector OUT/best.pt``), ``train-detector.json`` (resolved
settings, split, metrics, held-out detection rate, time) and ``run/`` (ultralytics' own outputs:
``weights/``, ``results.csv``, ``args.yaml``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wildpose.adapters import ultralytics as yolo_adapter
from wildpose.atomic import copy_file, write_json
from wildpose.config.base import to_dict
from wildpose.config.detector import DetectorTrainConfig
from wildpose.errors import ConfigError, WildposeError
from wildpose.messages import display_path
from wildpose.train.detector_eval import heldout_detection
from wildpose.train.samples import split_samples
from wildpose.train.yolo_dataset import (
    YoloDataset,
    class_map,
    load_keypoint_data,
    write_yolo_dataset,
)

RUN_NAME = "run"  # ultralytics' run folder inside OUT
DATASET_DIR = "dataset"
REPORT_NAME = "train-detector.json"
MAX_CAUSE_CHARS = 300  # of an ultralytics error message quoted in ours


@dataclass(frozen=True)
class DetectorTrainResult:
    """What :func:`train_detector` produced: ``best`` weights, the ``report`` JSON file and its
    content ``summary``."""

    best: Path
    report: Path
    summary: dict[str, Any]


def resolve_model(spec: str) -> str:
    """The model to start from: a local weights file or model YAML (returned as an absolute
    path), or the name of a YAML shipped with ultralytics (``yolo11n.yaml``, returned as is).
    Anything else, e.g. a weights name that ultralytics would download, is a ConfigError; a
    ``.pt`` that would run code when loaded is a ModelError
    (:func:`~wildpose.adapters.ultralytics.check_weights`)."""
    path = Path(spec)
    suffix = path.suffix.lower()
    if path.exists():
        if not path.is_file() or suffix not in (".pt", ".yaml", ".yml"):
            raise ConfigError(
                "--model must be a .pt weights file or a model .yaml", path=display_path(path)
            )
        yolo_adapter.check_weights(path)  # before anything is written
        return str(path.resolve())
    if suffix in (".yaml", ".yml") and path.name == spec:
        if yolo_adapter.is_bundled_model_yaml(spec):
            return spec
        raise ConfigError(
            "--model is neither a local file nor a model YAML of ultralytics",
            path=display_path(spec),
        )
    raise ConfigError(
        "--model not found: pass a local .pt weights file (nothing is downloaded) or a model "
        "YAML such as yolo11n.yaml (random init)",
        path=display_path(spec),
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


def train_detector(
    data: str | Path,
    out: str | Path,
    cfg: DetectorTrainConfig | None = None,
    *,
    images: str | Path | None = None,
) -> DetectorTrainResult:
    """Fine-tune a detector on ``data`` (see the module docstring) and write ``out/best.pt``
    and ``out/train-detector.json``; ``cfg`` None: the defaults. Raises ConfigError /
    InputError for bad arguments or data, before anything is written."""
    cfg = cfg if cfg is not None else DetectorTrainConfig()
    t0 = time.perf_counter()
    out = Path(out).absolute()
    model = resolve_model(cfg.model)
    args = train_arguments(cfg, out / DATASET_DIR / "data.yaml", out)
    yolo_adapter.check_train_arguments(args)
    meta, samples, kind = load_keypoint_data(data, images)
    train, val = split_samples(samples, cfg.n_val, cfg.seed)
    names, class_of = class_map(meta, samples, cfg.single_class)
    dataset = write_yolo_dataset(train, val, names, class_of, out / DATASET_DIR)
    t1 = time.perf_counter()
    run_best, metrics = _fit(model, args, cfg.threads, data)
    t2 = time.perf_counter()
    best = copy_file(run_best, out / "best.pt")
    device = "cpu" if args["device"] == "cpu" else f"cuda:{args['device']}"
    heldout = heldout_detection(best, val, imgsz=cfg.imgsz, device=device) if val else None
    summary = _summary(cfg, model, data, kind, dataset, args, metrics, heldout)
    summary["seconds"] = {"prepare": t1 - t0, "train": t2 - t1, "total": time.perf_counter() - t0}
    report = write_json(out / REPORT_NAME, summary)
    return DetectorTrainResult(best, report, summary)


def _fit(
    model: str, args: dict[str, Any], threads: int | None, data: str | Path
) -> tuple[Path, dict[str, float | None]]:
    """:func:`~wildpose.adapters.ultralytics.fit`, its exceptions as one line naming the model
    and the data (the original stays chained, for ``--debug``)."""
    try:
        return yolo_adapter.fit(model, args, threads)
    except WildposeError:
        raise
    except Exception as e:  # noqa: BLE001 - ultralytics and torch raise many types
        text = " ".join(str(e).split()) or "no message"
        text = text if len(text) <= MAX_CAUSE_CHARS else text[: MAX_CAUSE_CHARS - 3] + "..."
        raise WildposeError(
            f"detector training failed (model {display_path(model)}, data "
            f"{display_path(data)}): {type(e).__name__}: {text}"
        ) from e


def _summary(
    cfg: DetectorTrainConfig,
    model: str,
    data: str | Path,
    kind: str,
    dataset: YoloDataset,
    args: Mapping[str, Any],
    metrics: Mapping[str, float | None],
    heldout: Mapping[str, float] | None,
) -> dict[str, Any]:
    """The content of ``train-detector.json`` (without the times)."""
    from wildpose.about import versions

    return {
        "data": str(Path(data).absolute()),
        "kind": kind,
        "model": model,
        "settings": to_dict(cfg),
        "ultralytics_args": dict(args),
        "classes": list(dataset.names),
        "split": {
            "seed": cfg.seed,
            "n_val": cfg.n_val,
            "instances": dataset.instances,
            "train_images": [str(p) for p in dataset.train],
            "val_images": [str(p) for p in dataset.val] if cfg.n_val else [],
        },
        "metrics": dict(metrics),
        "heldout": heldout,
        "versions": versions(),
    }
