"""Training recipes: YAML files with ``base:`` inheritance and ``--set key=value`` overrides.

A recipe is a YAML mapping with the sections of :class:`TrainConfig` (``data``, ``model``,
``optim``, ``schedule``, ``train``, ``eval``) and optionally ``base: other.yaml`` (a recipe it
extends: mappings merge key by key, the extending file wins). Every key is checked by the models
below: an unknown key, a wrong type or a value out of range is a one-line
:class:`~wildpose.errors.ConfigError` naming the file (or ``--set``) and the key. Paths in a file
are relative to that file; paths given with ``--set`` are relative to the working directory. The
resolved config (absolute paths, every default filled in) is what :func:`config_to_dict`
returns, what the training writes as ``config.yaml`` and what every checkpoint carries as
``train_config``.

Data files are not opened here: a recipe for data that is absent still loads and validates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from ..atomic import write_text
from ..errors import ConfigError
from ..pose.arch import ARCHS
from .base import (
    AsList,
    AtLeastOne,
    Bool,
    ConfigModel,
    Count,
    Device,
    Finite,
    Int,
    NonNegative,
    Positive,
    fail,
    merge,
    parse_overrides,
    read_yaml,
    to_dict,
    validate,
    validate_layers,
)

__all__ = [
    "CLIP_SOURCES",
    "DataConfig",
    "EvalConfig",
    "KeyRule",
    "LoopConfig",
    "Metric",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "save_config",
]

CLIP_SOURCES = ("openai", "none")  # model.clip_weights values that are not paths
Metric = Literal["AP", "AP50", "AP75", "AR", "PCK@0.05", "PCK@0.1", "PCK@0.2"]
Names = Annotated[tuple[str, ...], AsList]
Beta = Annotated[Finite, Field(ge=0, lt=1)]  # an Adam moment decay rate


def _known_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise ValueError("must be one of " + ", ".join(ARCHS))
    return arch


def _increasing(values: tuple[int, ...]) -> tuple[int, ...]:
    if list(values) != sorted(values):
        raise ValueError("must increase")
    return values


def _rules(value: Any) -> Any:
    """``bias: ~`` in a recipe is a rule with the default multipliers."""
    if isinstance(value, Mapping):
        return {k: {} if v is None else v for k, v in value.items()}
    return value


class DataConfig(ConfigModel):
    """Which instances to train and validate on.

    ``kind: coco`` reads ``train_annotations`` (COCO keypoints JSON) with images under
    ``train_images``; ``kind: dlc`` reads a DeepLabCut project folder; ``kind: sleap`` a SLEAP
    label file (``sleap_labels``, ``.slp``: its user-labelled instances). Validation uses
    ``val_annotations``/``val_images`` when given, else ``n_val`` images held out of the
    training data (chosen with ``split_seed``; 0 disables validation). Low-data recipes: keep
    only the categories named in ``species``, or whose supercategory (AP-10K: the family) is in
    ``train_families``; ``shots_per_species`` keeps that many instances per category (drawn with
    ``shot_seed``); ``val_families`` filters the validation data (zero-shot transfer).
    ``keypoint_prompts``, ``flip_pairs`` (0-based) and ``sigmas`` override what the data implies
    (readable names, left/right pairs, published OKS sigmas or 0.05). ``augment: false`` turns
    off the training augmentation (flip, half-body, scale, rotation, centre jitter).
    """

    path_fields: ClassVar[tuple[str, ...]] = (
        "train_annotations",
        "train_images",
        "val_annotations",
        "val_images",
        "dlc_project",
        "sleap_labels",
    )

    kind: Literal["coco", "dlc", "sleap"] = "coco"
    train_annotations: str | None = None
    train_images: str | None = None
    val_annotations: str | None = None
    val_images: str | None = None
    dlc_project: str | None = None
    sleap_labels: str | None = None
    n_val: Count = 0
    split_seed: Int = 0
    species: Names | None = None
    train_families: Names | None = None
    val_families: Names | None = None
    shots_per_species: AtLeastOne | None = None
    shot_seed: Int = 0
    keypoint_prompts: Names | None = None
    flip_pairs: tuple[tuple[Count, Count], ...] | None = None
    sigmas: tuple[Positive, ...] | None = None
    augment: Bool = True


class ModelConfig(ConfigModel):
    """The network: ``arch`` (rn50, vitb16, vitl14, tiny, tiny-vit) and its initialisation.

    ``clip_weights``: ``openai`` (open_clip's OpenAI weights for the arch, from its cache or the
    network), ``none`` (random init, the only choice for the tiny archs) or the path of an
    OpenAI CLIP file (``RN50.pt``). ``name`` is the model name written into the checkpoint's
    manifest (default: the recipe's file name).
    """

    path_fields: ClassVar[tuple[str, ...]] = ("clip_weights",)  # unless one of CLIP_SOURCES

    arch: Annotated[str, AfterValidator(_known_arch)] = "rn50"
    clip_weights: str = "openai"
    name: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _weights_exist(self) -> ModelConfig:
        if self.clip_weights == "openai" and ARCHS[self.arch].clip_model is None:
            raise fail(
                "clip_weights", f"must be none: arch {self.arch} has no CLIP weights", "openai"
            )
        return self


class KeyRule(ConfigModel):
    """Multipliers of the base lr and weight decay for parameters matched by a custom key."""

    lr_mult: NonNegative = 1.0
    decay_mult: NonNegative = 1.0


class OptimConfig(ConfigModel):
    """AdamW. ``custom_keys`` are mmcv's rules (substring of the parameter name; the longest
    key is tried first and the first match wins); None: the spec's rules for the backbone
    (:func:`wildpose.train.recipe.default_custom_keys`)."""

    lr: Positive = 5e-4
    weight_decay: NonNegative = 1e-4
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    eps: Positive = 1e-8
    custom_keys: Annotated[dict[str, KeyRule], BeforeValidator(_rules)] | None = None
    clip_grad_norm: Positive | None = None


class ScheduleConfig(ConfigModel):
    """Epochs; linear warmup over ``warmup_iters`` iterations from ``warmup_ratio`` x lr, then
    lr x ``gamma`` at each epoch in ``milestones`` (0-based epoch counter, as mmcv)."""

    epochs: AtLeastOne = 210
    warmup_iters: Count = 500
    warmup_ratio: Annotated[Finite, Field(gt=0, le=1)] = 0.001
    milestones: Annotated[tuple[Count, ...], AsList, AfterValidator(_increasing)] = (170, 200)
    gamma: Positive = 0.1


class LoopConfig(ConfigModel):
    """The ``train`` section. ``batch_size`` is per process (per GPU under torchrun);
    ``precision`` is the CUDA autocast dtype (the CPU always trains in fp32); ``threads``
    sets torch's CPU threads (None: torch's default); ``checkpoint_every`` is in epochs."""

    batch_size: AtLeastOne = 32
    workers: Count = 2
    seed: Int = 0
    device: Device = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp16"
    threads: AtLeastOne | None = None
    log_every: AtLeastOne = 50
    checkpoint_every: AtLeastOne = 1


class EvalConfig(ConfigModel):
    """Validation every ``every`` epochs (and after the last); ``best.pt`` keeps the weights
    with the highest ``metric``."""

    every: AtLeastOne = 10
    metric: Metric = "AP"
    flip_test: Bool = True
    batch_size: AtLeastOne = 64


class TrainConfig(ConfigModel):
    """A whole training recipe (see the module docstring)."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: LoopConfig = LoopConfig()
    eval: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _sources(self) -> TrainConfig:
        """The data sources a ``kind`` needs (checked here so that sections build alone)."""
        d = self.data
        if d.kind == "coco":
            for key in ("train_annotations", "train_images"):
                if getattr(d, key) is None:
                    raise fail(f"data.{key}", "is needed for kind coco", None)
        if d.kind == "dlc" and d.dlc_project is None:
            raise fail("data.dlc_project", "is needed for kind dlc (the DeepLabCut project)", None)
        if d.kind == "sleap" and d.sleap_labels is None:
            raise fail("data.sleap_labels", "is needed for kind sleap (a .slp file)", None)
        if d.kind in ("dlc", "sleap") and d.val_annotations is not None:
            why = f"must be unset for kind {d.kind} (it validates on n_val held-out frames)"
            raise fail("data.val_annotations", why, d.val_annotations)
        if (d.val_annotations is None) != (d.val_images is None):
            key = "val_images" if d.val_images is None else "val_annotations"
            why = "is needed too: val_annotations and val_images go together"
            raise fail(f"data.{key}", why, getattr(d, key))
        if d.val_annotations is not None and d.n_val:
            raise fail("data.n_val", "must be 0 when val_annotations is given", d.n_val)
        return self


# ---------------------------------------------------------------------------------------------
# loading and saving


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a recipe, apply ``key.sub=value`` overrides (values parsed as YAML), validate."""
    path = Path(path)
    raw = _read_recipe(path, seen=())
    extra = _absolute_paths(parse_overrides(overrides), TrainConfig, Path.cwd())
    layers = [(str(path), raw), ("--set", extra)]
    cfg = validate_layers(TrainConfig, _merge_recipes(raw, extra), layers)
    if not cfg.model.name:
        cfg = cfg.replace(model=cfg.model.replace(name=path.stem))
    return cfg


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from plain data (a recipe with absolute paths,
    or a checkpoint's ``train_config``)."""
    if not isinstance(data, Mapping):
        raise ConfigError("a training config must be a mapping of sections", path=source)
    return validate(TrainConfig, data, source)


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain YAML/JSON data (lists for tuples)."""
    return to_dict(cfg)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML atomically (see :mod:`wildpose.atomic`)."""
    write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def _read_recipe(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The YAML of ``path`` with its ``base`` chain merged in; paths made absolute per file."""
    data = read_yaml(path)
    data = _absolute_paths(data, TrainConfig, path.resolve().parent)
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = (path.parent / str(base)).resolve()
    if base_path in seen or base_path == path.resolve():
        raise ConfigError(f"'base' chain loops back to {base_path}", path=path)
    return _merge_recipes(_read_recipe(base_path, (*seen, path.resolve())), data)


def _merge_recipes(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base`` key by key, except that ``optim.custom_keys`` is replaced whole:
    the rules are one set, not settings to combine."""
    optim = top.get("optim")
    if (
        isinstance(optim, Mapping)
        and "custom_keys" in optim
        and isinstance(base.get("optim"), Mapping)
    ):
        base = {**base, "optim": {k: v for k, v in base["optim"].items() if k != "custom_keys"}}
    return merge(base, top)


def _absolute_paths(data: Mapping[str, Any], cls: type, base_dir: Path) -> dict[str, Any]:
    """Copy of ``data`` with the relative path fields of ``cls`` joined to ``base_dir``."""
    out = dict(data)
    paths = getattr(cls, "path_fields", ())
    keywords = CLIP_SOURCES if cls is ModelConfig else ()  # clip_weights values that are not paths
    for name, field in cls.model_fields.items():
        value, section = out.get(name), field.annotation
        if (
            isinstance(value, Mapping)
            and isinstance(section, type)
            and issubclass(section, ConfigModel)
        ):
            out[name] = _absolute_paths(value, section, base_dir)
        elif isinstance(value, str) and name in paths and value not in keywords:
            out[name] = str((base_dir / value).resolve())
    return out
