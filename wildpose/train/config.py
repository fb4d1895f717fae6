"""Typed training configuration: YAML recipes with ``--set key=value`` overrides.

A recipe is a YAML mapping with the sections of :class:`TrainConfig` (``data``, ``model``,
``optim``, ``schedule``, ``train``, ``eval``) and optionally ``base: other.yaml`` (a recipe it
extends: mappings merge key by key, the extending file wins). Every key is checked against the
dataclasses below: an unknown key, a wrong type or a value outside a ``Literal`` is a one-line
:class:`~wildpose.errors.ConfigError` naming the file and the key. Paths in a file are relative
to that file; paths given with ``--set`` are relative to the working directory. The resolved
config (absolute paths, every default filled in) is what :func:`config_to_dict` returns, what the
training writes as ``config.yaml`` and what every checkpoint carries as ``train_config``.

Data files are not opened here: a recipe for data that is absent still loads and validates.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..config import build, merge, parse_overrides, read_yaml, to_dict
from ..errors import ConfigError
from ..pose.arch import ARCHS

_PATH = {"path": True}  # field metadata: a filesystem path, resolved against the recipe's folder
CLIP_SOURCES = ("openai", "none")  # model.clip_weights values that are not paths
Metric = Literal["AP", "AP50", "AP75", "AR", "PCK@0.05", "PCK@0.1", "PCK@0.2"]


@dataclass(frozen=True)
class DataConfig:
    """Which instances to train and validate on.

    ``kind: coco`` reads ``train_annotations`` (COCO keypoints JSON) with images under
    ``train_images``; ``kind: dlc`` reads a DeepLabCut project folder. Validation uses
    ``val_annotations``/``val_images`` when given, else ``n_val`` images held out of the
    training data (chosen with ``split_seed``; 0 disables validation). Low-data recipes: keep
    only the categories named in ``species``, or whose supercategory (AP-10K: the family) is in
    ``train_families``; ``shots_per_species`` keeps that many instances per category (drawn with
    ``shot_seed``); ``val_families`` filters the validation data (zero-shot transfer).
    ``keypoint_prompts``, ``flip_pairs`` (0-based) and ``sigmas`` override what the data implies
    (readable names, left/right pairs, published OKS sigmas or 0.05). ``augment: false`` turns
    off the training augmentation (flip, half-body, scale, rotation, centre jitter).
    """

    kind: Literal["coco", "dlc"] = "coco"
    train_annotations: str | None = field(default=None, metadata=_PATH)
    train_images: str | None = field(default=None, metadata=_PATH)
    val_annotations: str | None = field(default=None, metadata=_PATH)
    val_images: str | None = field(default=None, metadata=_PATH)
    dlc_project: str | None = field(default=None, metadata=_PATH)
    n_val: int = 0
    split_seed: int = 0
    species: tuple[str, ...] | None = None
    train_families: tuple[str, ...] | None = None
    val_families: tuple[str, ...] | None = None
    shots_per_species: int | None = None
    shot_seed: int = 0
    keypoint_prompts: tuple[str, ...] | None = None
    flip_pairs: tuple[tuple[int, int], ...] | None = None
    sigmas: tuple[float, ...] | None = None
    augment: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """The network: ``arch`` (rn50, vitb16, vitl14, tiny, tiny-vit) and its initialisation.

    ``clip_weights``: ``openai`` (open_clip's OpenAI weights for the arch, from its cache or the
    network), ``none`` (random init, the only choice for the tiny archs) or the path of an
    OpenAI CLIP file (``RN50.pt``). ``name`` is the model name written into the checkpoint's
    manifest (default: the recipe's file name).
    """

    arch: str = "rn50"
    clip_weights: str = "openai"
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class KeyRule:
    """Multipliers of the base lr and weight decay for parameters matched by a custom key."""

    lr_mult: float = 1.0
    decay_mult: float = 1.0


@dataclass(frozen=True)
class OptimConfig:
    """AdamW. ``custom_keys`` are mmcv's rules (substring of the parameter name; the longest
    key is tried first and the first match wins); None: the spec's rules for the backbone
    (:func:`wildpose.train.recipe.default_custom_keys`)."""

    lr: float = 5e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    custom_keys: dict[str, KeyRule] | None = None
    clip_grad_norm: float | None = None


@dataclass(frozen=True)
class ScheduleConfig:
    """Epochs; linear warmup over ``warmup_iters`` iterations from ``warmup_ratio`` x lr, then
    lr x ``gamma`` at each epoch in ``milestones`` (0-based epoch counter, as mmcv)."""

    epochs: int = 210
    warmup_iters: int = 500
    warmup_ratio: float = 0.001
    milestones: tuple[int, ...] = (170, 200)
    gamma: float = 0.1


@dataclass(frozen=True)
class LoopConfig:
    """The ``train`` section. ``batch_size`` is per process (per GPU under torchrun);
    ``precision`` is the CUDA autocast dtype (the CPU always trains in fp32); ``threads``
    sets torch's CPU threads (None: torch's default); ``checkpoint_every`` is in epochs."""

    batch_size: int = 32
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp16"
    threads: int | None = None
    log_every: int = 50
    checkpoint_every: int = 1


@dataclass(frozen=True)
class EvalConfig:
    """Validation every ``every`` epochs (and after the last); ``best.pt`` keeps the weights
    with the highest ``metric``."""

    every: int = 10
    metric: Metric = "AP"
    flip_test: bool = True
    batch_size: int = 64


@dataclass(frozen=True)
class TrainConfig:
    """A whole training recipe (see the module docstring)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# ---------------------------------------------------------------------------------------------
# loading


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a recipe, apply ``key.sub=value`` overrides (values parsed as YAML), validate."""
    path = Path(path)
    raw = _read_recipe(path, seen=())
    if overrides:
        extra = parse_overrides(overrides)
        build(TrainConfig, extra, source="--set")  # unknown keys and bad types name --set
        raw = _merge_recipes(raw, _absolute_paths(extra, TrainConfig, Path.cwd()))
    cfg = config_from_dict(raw, source=str(path))
    if not cfg.model.name:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=path.stem))
    return cfg


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from plain data (a recipe with absolute paths,
    or a checkpoint's ``train_config``)."""
    if not isinstance(data, Mapping):
        raise ConfigError("a training config must be a mapping of sections", path=source)
    cfg = build(TrainConfig, data, source=source)
    keys = cfg.optim.custom_keys
    if keys is not None:  # build() leaves dict values as they are
        if not isinstance(keys, Mapping):
            raise ConfigError(f"optim.custom_keys: expected a mapping, got {keys!r}", path=source)
        rules = {
            str(k): build(KeyRule, v if v is not None else {}, source, f"optim.custom_keys.{k}")
            for k, v in keys.items()
        }
        cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, custom_keys=rules))
    _validate(cfg, source)
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain YAML/JSON data (lists for tuples)."""
    data = to_dict(cfg)
    if cfg.optim.custom_keys is not None:
        data["optim"]["custom_keys"] = {k: to_dict(v) for k, v in cfg.optim.custom_keys.items()}
    return data


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """Copy of ``data`` with relative path fields of dataclass ``cls`` joined to ``base_dir``."""
    out = dict(data)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        value = out.get(f.name)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(hints[f.name]):
            out[f.name] = _absolute_paths(value, hints[f.name], base_dir)
        elif isinstance(value, str) and _is_path_field(cls, f, value):
            out[f.name] = str((base_dir / value).resolve())
    return out


def _is_path_field(cls: type, f: dataclasses.Field, value: str) -> bool:
    if cls is ModelConfig and f.name == "clip_weights":
        return value not in CLIP_SOURCES
    return bool(f.metadata.get("path"))


def _validate(cfg: TrainConfig, source: str) -> None:
    """Cross-field checks that types cannot express."""
    d, m, s, t, e = cfg.data, cfg.model, cfg.schedule, cfg.train, cfg.eval

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{key}: {why}", path=source)

    if d.kind == "coco" and (d.train_annotations is None or d.train_images is None):
        raise bad("data", "kind coco needs train_annotations and train_images")
    if d.kind == "dlc" and d.dlc_project is None:
        raise bad("data.dlc_project", "kind dlc needs the DeepLabCut project folder")
    if (d.val_annotations is None) != (d.val_images is None):
        raise bad("data", "val_annotations and val_images go together")
    if d.val_annotations is not None and d.n_val:
        raise bad("data.n_val", "give either val_annotations or n_val, not both")
    if d.kind == "dlc" and d.val_annotations is not None:
        raise bad("data.val_annotations", "kind dlc validates on n_val held-out frames")
    checks = [
        ("data.n_val", d.n_val >= 0, "must be >= 0"),
        ("data.shots_per_species", (d.shots_per_species or 1) > 0, "must be > 0"),
        (
            "model.arch",
            m.arch in ARCHS,
            f"unknown architecture {m.arch!r}; known: " + ", ".join(ARCHS),
        ),
        (
            "model.clip_weights",
            m.clip_weights != "openai"
            or m.arch not in ARCHS
            or ARCHS[m.arch].clip_model is not None,
            f"arch {m.arch!r} has no OpenAI CLIP weights; use none",
        ),
        ("data.flip_pairs", all(len(p) == 2 for p in d.flip_pairs or ()), "needs index pairs"),
        ("optim.lr", cfg.optim.lr > 0, "must be > 0"),
        ("optim.betas", len(cfg.optim.betas) == 2, "needs two values"),
        ("schedule.epochs", s.epochs > 0, "must be > 0"),
        ("schedule.warmup_iters", s.warmup_iters >= 0, "must be >= 0"),
        ("schedule.warmup_ratio", 0 < s.warmup_ratio <= 1, "must be in (0, 1]"),
        ("schedule.milestones", list(s.milestones) == sorted(s.milestones), "must increase"),
        ("train.batch_size", t.batch_size > 0, "must be > 0"),
        ("train.workers", t.workers >= 0, "must be >= 0"),
        ("train.threads", (t.threads or 1) > 0, "must be > 0"),
        ("train.log_every", t.log_every > 0, "must be > 0"),
        ("train.checkpoint_every", t.checkpoint_every > 0, "must be > 0"),
        (
            "train.device",
            t.device in ("auto", "cpu") or t.device.startswith("cuda"),
            "must be auto, cpu, cuda or cuda:N",
        ),
        ("eval.every", e.every > 0, "must be > 0"),
        ("eval.batch_size", e.batch_size > 0, "must be > 0"),
    ]
    for key, ok, why in checks:
        if not ok:
            raise bad(key, why)
