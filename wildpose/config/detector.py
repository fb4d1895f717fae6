"""Settings of ``wildpose train-detector``: one detector fine-tuning run.

Validated like every wildpose config (:mod:`wildpose.config.base`): build it with
``validate(DetectorTrainConfig, data, source)`` to get one-line errors naming the source and key.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from .base import AtLeastOne, Bool, ConfigModel, Count, Device, Int, fail

# Ultralytics arguments that train-detector sets itself (not overridable through ``extra``).
OWN_ARGUMENTS = frozenset("data model project name exist_ok epochs imgsz batch device seed".split())


class DetectorTrainConfig(ConfigModel):
    """Settings of one detector fine-tuning run.

    ``model``: ultralytics model YAML (``yolo11n.yaml``: random init, nothing downloaded) or a
    local weights file (``.pt``, pretrained start). ``epochs``; ``imgsz``: training image size,
    px (square, letterboxed); ``batch``: images per step (``nbs`` = batch, so every batch is one
    optimizer step); ``n_val``: images held out for validation (0: validate on the training
    images); ``seed``: split and training seed; ``single_class``: one ``animal`` class, else one
    class per category name; ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``;
    ``workers``: data-loading processes on CUDA (ultralytics uses none on the CPU); ``threads``:
    torch CPU threads while training (None: torch's default, one per core); ``extra``:
    further ultralytics train arguments (``{"flipud": 0.5}``,
    https://docs.ultralytics.com/usage/cfg/), applied last.
    """

    model: str = "yolo11n.yaml"
    epochs: AtLeastOne = 25
    imgsz: AtLeastOne = 256
    batch: AtLeastOne = 8
    n_val: Count = 16
    seed: Int = 0
    single_class: Bool = True
    device: Device = "auto"
    workers: Count = 2
    threads: AtLeastOne | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extra")
    @classmethod
    def _not_own(cls, extra: dict[str, Any]) -> dict[str, Any]:
        own = sorted(set(extra) & OWN_ARGUMENTS)
        if own:
            raise fail(
                own[0], "is set by its own option, not as an ultralytics argument", extra[own[0]]
            )
        return extra
