"""Click option blocks shared by several commands.

``run_options`` holds the model, detector, device and output options of ``track`` and
``batch``; :func:`run_config_from_options` turns them into a validated run config. The small
factories (``set_option``, ``device_option``, ``batch_size_option``, ``precision_option``,
``backend_option``) give ``eval``, ``train`` and ``train-detector`` the same spelling of the
same option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..config import RunConfig

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

PRECISIONS = ("auto", "fp32", "fp16", "bf16")

# track/batch flag name -> the run-config key it sets (None: the flag was not given)
_FLAG_KEYS = {
    "pose": "pose.model",
    "detector": "detector.model",
    "device": "device",
    "batch_size": "pose.batch_size",
    "precision": "precision",
    "backend": "pose.backend",
    "flip_test": "pose.flip_test",
    "smooth": "smooth.mode",
    "fmt": "output.format",
    "render": "output.render",
    "report": "output.report",
    "start": "video.start",
    "end": "video.end",
    "offline": "offline",
}


def set_option(example: str) -> Decorator:
    """``--set KEY=VALUE`` (repeatable) into the ``overrides`` parameter; values read as YAML."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"Override a config value, e.g. {example} (the value is read as YAML; repeatable).",
    )


def device_option(default: str | None = None) -> Decorator:
    """``--device auto|cpu|cuda|cuda:N``; ``default=None`` leaves the choice to the config."""
    if default is None:
        return click.option("--device", help="auto, cpu, cuda or cuda:N. [default: auto]")
    return click.option(
        "--device", default=default, show_default=True, help="auto, cpu, cuda or cuda:N."
    )


def batch_size_option(default: int | None = None, help_text: str | None = None) -> Decorator:
    """``--batch-size N`` (N >= 1)."""
    return click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


def precision_option(default: str | None = None) -> Decorator:
    """``--precision fp32|fp16|bf16``: autocast dtype on CUDA."""
    return click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default=default,
        show_default=default is not None,
        help="Autocast precision. auto: bf16 on CPUs with fast bf16 (AMX, AVX512-BF16) and on "
        "CUDA where supported, else fp16 on CUDA and fp32 on the CPU (fp16 on a CPU runs fp32).",
    )


BACKENDS = ("torch", "onnxruntime")


def backend_option(default: str | None = None) -> Decorator:
    """``--backend torch|onnxruntime``: the pose network's runtime."""
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=default,
        show_default=default is not None,
        help="Pose network runtime: torch (autocast per --precision) or onnxruntime (CPU, "
        "fp32; the model is exported once into the cache; needs wildpose[onnx]), faster than "
        "torch fp32 on CPUs without native bf16 (docs/tracking.md)."
        + ("" if default else " [default: torch]"),
    )


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``track`` and ``batch`` (model, detector, device, output)."""
    opts = [
        click.option(
            "--pose",
            help="Pose model: manifest name (see `wildpose models`), "
            "checkpoint path, or hf://ORG/REPO/FILE. [default: clamp-vitb16-ap10k]",
        ),
        click.option(
            "--detector",
            help="A known detector (see `wildpose models`: yolo11n..yolo11x, megadetector-v6), "
            "ultralytics weights or model YAML by path, 'full-frame' (the whole frame is one "
            "animal), or 'boxes:FILE': a CSV with columns frame,x1,y1,x2,y2[,score,class_name] "
            "(0-based frame index, image px) or a MegaDetector batch output JSON "
            "(docs/tracking.md). [default: yolo11n.pt]",
        ),
        click.option(
            "--pipeline",
            "preset",
            help="Preset from pipelines/ (field-video, camera-trap, lab-arena) or a YAML path.",
        ),
        device_option(),
        batch_size_option(help_text="Crops per pose batch."),
        precision_option(),
        backend_option(),
        click.option(
            "--flip-test/--no-flip-test",
            default=None,
            help="Average with the horizontally flipped crop. [default: on]",
        ),
        click.option(
            "--smooth",
            type=click.Choice(["rts", "kalman", "none"]),
            help="Kalman smoothing of every keypoint. [default: rts]",
        ),
        click.option(
            "--format",
            "fmt",
            metavar="LIST",
            help="Outputs, a comma list: the track table as parquet and/or csv (both = the "
            "two), and exports made from it: dlc (DeepLabCut .h5), sleap (.slp), nwb (NWB with "
            "ndx-pose), netcdf (movement dataset); e.g. parquet,nwb (needs wildpose[interop]). "
            "[default: parquet]",
        ),
        click.option(
            "--render",
            is_flag=True,
            default=None,
            help="Also write STEM.annotated.mp4 with boxes, ids and smoothed skeletons.",
        ),
        click.option(
            "--report",
            is_flag=True,
            default=None,
            help="Also write STEM.report.html: a self-contained QC page (detections, id "
            "timeline, confidence, trajectories, low-confidence frames, settings).",
        ),
        click.option("--start", type=float, help="Start time, s."),
        click.option("--end", type=float, help="End time, s."),
        set_option("detector.conf=0.4"),
        click.option(
            "--offline",
            is_flag=True,
            default=None,
            help="Never download: a missing model is an error naming `wildpose models pull` "
            "(also WILDPOSE_OFFLINE=1 or HF_HUB_OFFLINE=1). By default a missing known model "
            "is downloaded, verified and installed on first use.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def run_config_from_options(kw: dict[str, Any]) -> RunConfig:
    """The validated run config from ``run_options``' values (flags override the preset,
    ``--set`` overrides both). Raises ConfigError naming the key."""
    from ..config import resolve_run_config

    flags: dict[str, Any] = {}
    for name, key in _FLAG_KEYS.items():
        value = kw.get(name)
        if value is None:
            continue
        *parents, last = key.split(".")
        node = flags
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return resolve_run_config(kw.get("preset"), flags, kw.get("overrides") or ())
