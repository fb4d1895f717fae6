"""``wildpose train-detector``: fine-tune an ultralytics detector on boxes from keypoint
annotations.

Torch and ultralytics are imported inside the command so that ``wildpose --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..config import parse_overrides, validate
from ..config.detector import DetectorTrainConfig
from ..errors import ConfigError
from ..train.detector_train import DetectorTrainResult, train_detector
from .options import device_option

_D = DetectorTrainConfig()  # the defaults shown in --help


def parse_train_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--arg KEY=VALUE`` pairs (values read as YAML, as ``--set``) -> dict; every key must be
    an ultralytics training argument. Raises ConfigError naming the pair."""
    if not pairs:
        return {}
    from ..adapters.ultralytics import known_train_arguments

    args = parse_overrides(pairs, source="--arg")
    unknown = sorted(set(args) - known_train_arguments())
    if unknown:
        raise ConfigError(f"--arg {unknown[0]}: not an ultralytics training argument")
    return args


@click.command("train-detector")
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder. [default: work/detector-DATA-NAME]",
)
@click.option(
    "--images",
    type=click.Path(path_type=Path),
    default=None,
    help="Image folder of a COCO keypoints DATA file.",
)
@click.option(
    "--model",
    default=_D.model,
    show_default=True,
    help="Start: an ultralytics model YAML (random init) or local weights (.pt).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=_D.epochs, show_default=True)
@click.option(
    "--imgsz",
    type=click.IntRange(min=32),
    default=_D.imgsz,
    show_default=True,
    help="Training image size, px (use the same with track: --set detector.imgsz=N).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=_D.batch,
    show_default=True,
    help="Images per optimizer step.",
)
@click.option(
    "--val",
    "n_val",
    type=click.IntRange(min=0),
    default=_D.n_val,
    show_default=True,
    help="Images held out for validation (0: none).",
)
@click.option(
    "--seed",
    type=int,
    default=_D.seed,
    show_default=True,
    help="Split and training seed (the split equals wildpose train's with "
    "data.n_val and data.split_seed the same).",
)
@click.option(
    "--single-class/--per-species",
    default=_D.single_class,
    show_default=True,
    help="One 'animal' class, or one class per annotation category.",
)
@device_option(_D.device)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=_D.workers,
    show_default=True,
    help="Data-loading processes (CUDA only).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Torch CPU threads while training. [default: one per core]",
)
@click.option(
    "--arg",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other ultralytics training argument, e.g. --arg flipud=0.5 (repeatable).",
)
@click.option("-q", "--quiet", is_flag=True, help="No ultralytics progress output.")
def train_detector_cmd(
    data: Path,
    out: Path | None,
    images: Path | None,
    quiet: bool,
    extra: tuple[str, ...],
    **settings: Any,
) -> None:
    """Fine-tune an ultralytics detector on boxes from keypoint annotations.

    DATA is a DeepLabCut project folder or a COCO keypoints JSON (with --images). Boxes come
    from the annotations (DeepLabCut: the keypoints' extent, padded). Writes OUT/best.pt (use
    it as wildpose track --detector OUT/best.pt), OUT/train-detector.json (settings, split,
    metrics, time), OUT/dataset/ (the YOLO dataset) and OUT/run/ (ultralytics' run). Nothing
    is downloaded: start from a model YAML (random init) or local weights.
    """
    # ``settings`` holds the options named as DetectorTrainConfig's fields (model ... threads)
    os.environ.setdefault("YOLO_VERBOSE", "False" if quiet else "True")
    cfg = validate(
        DetectorTrainConfig, {**settings, "extra": parse_train_args(extra)}, "train-detector"
    )
    out = out if out is not None else Path("work") / f"detector-{data.stem or data.name}"
    result = train_detector(data, out, cfg, images=images)
    _report(result, cfg.imgsz)


def _report(result: DetectorTrainResult, imgsz: int) -> None:
    """Print the best weights, validation and held-out figures, and how to track with them."""
    s = result.summary
    m, held = s["metrics"], s["heldout"]
    click.echo(f"best weights: {result.best} ({s['seconds']['total']:.0f} s)")
    if m.get("mAP50") is not None:
        click.echo(f"validation: mAP50 {m['mAP50']:.3f}, recall {m['recall']:.3f}")
    if held:
        click.echo(
            f"held-out {held['images']} images: recall@IoU0.5 {held['recall50']:.3f}, "
            f"mean IoU {held['mean_iou']:.3f}"
        )
    click.echo(
        f"track with: wildpose track VIDEO --detector {result.best} --set detector.imgsz={imgsz}"
    )
