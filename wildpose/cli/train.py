"""``wildpose train`` (a CLAMP pose model from a YAML recipe) and ``wildpose eval`` (OKS AP,
PCK and RMSE on a COCO keypoints file).

Torch and the model are imported inside the commands so that ``wildpose --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from .options import (
    backend_option,
    batch_size_option,
    device_option,
    precision_option,
    set_option,
)


@click.command("train")
@click.argument("config", type=click.Path(path_type=Path))
@set_option("--set optim.lr=1e-3 --set train.batch_size=16")
@click.option(
    "--work-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for config.yaml, log.jsonl, best.pt and last.pt (default: work/CONFIG-NAME).",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    default=None,
    help="Continue from a last.pt: model, optimizer, schedule, epoch and RNG states.",
)
def train_cmd(
    config: Path, overrides: tuple[str, ...], work_dir: Path | None, resume: Path | None
) -> None:
    """Train a CLAMP pose model from a YAML recipe (see configs/).

    Multi-GPU: torchrun --nproc_per_node N -m wildpose train CONFIG (train.batch_size is per
    process). The best checkpoint is self-describing: wildpose track --pose WORK/best.pt.
    """
    from ..config.train import load_config
    from ..train.loop import train

    cfg = load_config(config, overrides)
    work = work_dir if work_dir is not None else Path("work") / config.stem
    best = train(cfg, work, resume=resume)
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 speaks
        click.echo(f"best checkpoint: {best}")


@click.command("eval")
@click.argument("model")
@click.argument("annotations", type=click.Path(path_type=Path))
@click.argument("images", type=click.Path(path_type=Path))
@click.option(
    "--flip-test/--no-flip-test",
    default=True,
    show_default=True,
    help="Average with the prediction on the mirrored crop.",
)
@click.option(
    "--detector",
    "boxes",
    default="gt",
    show_default=True,
    help="Boxes to crop: gt (the annotations' boxes) or a detector spec as for wildpose track "
    "(a weights file, an ultralytics YAML, boxes:FILE, full-frame).",
)
@device_option("auto")
@batch_size_option(64, "Crops per pose batch.")
@precision_option("auto")
@backend_option("torch")
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="Image-loading processes.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the metrics as JSON.",
)
@click.option(
    "--predictions",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the predictions as COCO keypoint results JSON.",
)
def eval_cmd(
    model: str,
    annotations: Path,
    images: Path,
    flip_test: bool,
    boxes: str,
    device: str,
    batch_size: int,
    precision: str,
    backend: str,
    workers: int,
    json_out: Path | None,
    predictions: Path | None,
) -> None:
    """Evaluate MODEL on a COCO keypoints file (ANNOTATIONS) with its IMAGES folder.

    MODEL is a manifest name, a checkpoint path or hf://ORG/REPO/FILE. Reports OKS AP, AP50,
    AP75, AP_M, AP_L and AR with the dataset's sigmas (AP-10K's for AP-10K), PCK@0.05/0.1/0.2
    (normalised by the GT box's longer side) and RMSE in px.
    """
    from ..pose.checkpoint import load_model
    from ..train.evaluation import evaluate_model, format_metrics

    loaded = load_model(model)
    metrics = evaluate_model(
        loaded,
        annotations,
        images,
        flip_test=flip_test,
        batch_size=batch_size,
        device=device,
        precision=precision,  # type: ignore[arg-type]
        backend=backend,  # type: ignore[arg-type]
        boxes=boxes,
        workers=workers,
        predictions_path=predictions,
        json_path=json_out,
    )
    click.echo(
        f"{loaded.manifest.name} on {annotations} ({metrics['instances']} instances, "
        f"{'GT boxes' if boxes == 'gt' else boxes})"
    )
    click.echo(format_metrics(metrics))
