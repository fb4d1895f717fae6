"""From a :class:`~wildpose.config.train.TrainConfig` to the objects one training run needs.

The data a recipe selects (splits, species / family filters, N-shot), the manifest the
checkpoints carry, the initialised model, AdamW's parameter groups (mmcv ``custom_keys``
semantics, as the official CLAMP configs set them) and the learning-rate schedule (linear
warmup + steps).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config.train import (
    DataConfig,
    KeyRule,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
)
from ..errors import ConfigError, InputError
from ..pose.arch import ClampArch, get_arch
from ..pose.clip_init import init_from_clip
from ..pose.manifest import Manifest
from ..pose.model import ClampPose, build_clamp
from .coco import load_coco_keypoints
from .dlc import load_dlc_project
from .samples import KeypointDataset, KeypointSample, split_samples


@dataclass(frozen=True, eq=False)
class RunData:
    """The keypoint set (``meta``, prompts and sigmas overridden as configured) and the train
    and validation instances (``val`` is empty when the recipe has no validation)."""

    meta: KeypointDataset
    train: list[KeypointSample]
    val: list[KeypointSample]


def load_run_data(cfg: DataConfig) -> RunData:
    """Load, split and filter the data of a recipe (files are opened here, not at config load)."""
    val: list[KeypointSample] = []
    if cfg.kind == "dlc":
        meta, samples = load_dlc_project(cfg.dlc_project, flip_pairs=cfg.flip_pairs)
    elif cfg.kind == "sleap":
        from .sleap import load_sleap_labels

        meta, samples = load_sleap_labels(cfg.sleap_labels, flip_pairs=cfg.flip_pairs)
    else:
        meta, samples = load_coco_keypoints(
            cfg.train_annotations, cfg.train_images, flip_pairs=cfg.flip_pairs
        )
        if cfg.val_annotations is not None:
            val_meta, val = load_coco_keypoints(
                cfg.val_annotations, cfg.val_images, flip_pairs=cfg.flip_pairs
            )
            if val_meta.keypoint_names != meta.keypoint_names:
                raise InputError(
                    f"validation keypoints {list(val_meta.keypoint_names)} differ from the "
                    f"training keypoints {list(meta.keypoint_names)}",
                    path=cfg.val_annotations,
                )
    train = samples
    if cfg.n_val:
        train, val = split_samples(samples, cfg.n_val, cfg.split_seed)
    train = _select_train(train, meta, cfg)
    if cfg.val_families is not None:
        families = category_families(cfg.val_annotations or cfg.train_annotations)
        val = [s for s in val if families.get(s.category_id) in cfg.val_families]
        if not val:
            raise ConfigError(f"data.val_families {list(cfg.val_families)}: no instances")
    return RunData(_override_meta(meta, cfg), train, val)


def _select_train(
    samples: list[KeypointSample], meta: KeypointDataset, cfg: DataConfig
) -> list[KeypointSample]:
    """Species / family filters, then ``shots_per_species`` instances per category."""
    if cfg.species is not None:
        unknown = sorted(set(cfg.species) - set(meta.categories.values()))
        if unknown:
            raise ConfigError(f"data.species: unknown categories {unknown}")
        samples = [s for s in samples if meta.categories.get(s.category_id) in cfg.species]
    if cfg.train_families is not None:
        families = category_families(cfg.train_annotations)
        samples = [s for s in samples if families.get(s.category_id) in cfg.train_families]
    if cfg.shots_per_species is not None:
        samples = n_shot(samples, cfg.shots_per_species, cfg.shot_seed)
    if not samples:
        raise ConfigError("data: the filters leave no training instances")
    return samples


def n_shot(samples: Sequence[KeypointSample], shots: int, seed: int) -> list[KeypointSample]:
    """At most ``shots`` instances per category, drawn with ``seed``; input order is kept."""
    rng = np.random.default_rng(seed)
    cats = np.array([s.category_id for s in samples])
    keep = np.zeros(len(samples), dtype=bool)
    for cat in np.unique(cats):
        idx = np.flatnonzero(cats == cat)
        keep[rng.permutation(idx)[:shots]] = True
    return [s for s, k in zip(samples, keep, strict=True) if k]


def category_families(json_path: str | Path | None) -> dict[int, str]:
    """Category id -> ``supercategory`` (AP-10K: the animal family) of a COCO file."""
    path = Path(str(json_path))
    try:
        cats = json.loads(path.read_text(encoding="utf-8"))["categories"]
        return {int(c["id"]): str(c.get("supercategory", "")) for c in cats}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read the categories' families: {exc}", path=path) from None


def _override_meta(meta: KeypointDataset, cfg: DataConfig) -> KeypointDataset:
    k = meta.num_keypoints
    for key, value in (("keypoint_prompts", cfg.keypoint_prompts), ("sigmas", cfg.sigmas)):
        if value is not None and len(value) != k:
            raise ConfigError(f"data.{key}: {len(value)} values for {k} keypoints")
    return dataclasses.replace(
        meta,
        readable_names=tuple(cfg.keypoint_prompts or meta.readable_names),
        sigmas=np.asarray(cfg.sigmas or meta.sigmas, dtype=np.float32),
    )


# ---------------------------------------------------------------------------------------------
# model


def build_manifest(cfg: TrainConfig, meta: KeypointDataset) -> Manifest:
    """The manifest every checkpoint of the run embeds (prompts = readable names)."""
    arch = get_arch(cfg.model.arch)
    return Manifest(
        name=cfg.model.name or "wildpose-model",
        arch=arch.name,
        keypoints=tuple(meta.readable_names),
        skeleton=tuple(meta.skeleton),
        flip_pairs=tuple(meta.flip_pairs),
        sigmas=tuple(float(s) for s in meta.sigmas),
        input_size=(arch.image_size, arch.image_size),
        description=cfg.model.description or f"trained with wildpose train ({arch.name})",
    )


def build_model(cfg: ModelConfig, prompts: Sequence[str]) -> ClampPose:
    """A CLAMP for ``prompts`` initialised as configured (CLIP weights or random)."""
    model = build_clamp(cfg.arch, prompts)
    if cfg.clip_weights != "none":
        init_from_clip(model, None if cfg.clip_weights == "openai" else cfg.clip_weights)
    return model


# ---------------------------------------------------------------------------------------------
# optimiser and schedule


def default_custom_keys(arch: ClampArch) -> dict[str, KeyRule]:
    """The official CLAMP optimizer rules: frozen text encoder; ResNet: no decay on biases and
    ``norm``; ViT: backbone lr x 0.1 (full decay), no decay on ``norm`` (the context decoder's
    norms)."""
    if arch.backbone == "vit":
        return {
            "text_encoder": KeyRule(lr_mult=0.0),
            "backbone": KeyRule(lr_mult=0.1),
            "norm": KeyRule(decay_mult=0.0),
        }
    return {
        "text_encoder": KeyRule(lr_mult=0.0),
        "bias": KeyRule(decay_mult=0.0),
        "norm": KeyRule(decay_mult=0.0),
    }


def match_custom_key(name: str, custom_keys: Mapping[str, KeyRule]) -> str | None:
    """The key whose rule applies to parameter ``name``: mmcv tries keys longest first (ties
    alphabetically) as substrings of the full name, and the first match wins."""
    for key in sorted(sorted(custom_keys), key=len, reverse=True):
        if key in name:
            return key
    return None


def param_groups(
    model: torch.nn.Module, cfg: OptimConfig, arch: ClampArch
) -> list[dict[str, object]]:
    """AdamW parameter groups: one per distinct (lr, weight decay), each with ``rule`` (the
    matched key or ``default``) and ``initial_lr``. Parameters that do not train (frozen, or
    lr x 0, for which AdamW's decoupled decay is also 0) are left out."""
    keys = default_custom_keys(arch) if cfg.custom_keys is None else cfg.custom_keys
    groups: dict[tuple[float, float], dict[str, object]] = {}
    for name, param in model.named_parameters():
        key = match_custom_key(name, keys)
        rule = keys[key] if key is not None else KeyRule()
        lr, wd = cfg.lr * rule.lr_mult, cfg.weight_decay * rule.decay_mult
        if not param.requires_grad or lr == 0:
            continue
        group = groups.setdefault(
            (lr, wd), {"params": [], "lr": lr, "initial_lr": lr, "weight_decay": wd, "rule": []}
        )
        group["params"].append(param)
        if (key or "default") not in group["rule"]:
            group["rule"].append(key or "default")
    return [dict(g, rule="+".join(g["rule"])) for g in groups.values()]


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig, arch: ClampArch):
    """AdamW over :func:`param_groups` (no decay applies outside the groups' own values)."""
    return torch.optim.AdamW(
        param_groups(model, cfg, arch), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps
    )


def lr_factor(iteration: int, epoch: int, cfg: ScheduleConfig) -> float:
    """Multiplier of every group's base lr at global ``iteration`` (0-based) in ``epoch``.

    mmcv's step policy with linear warmup: ``gamma ** (milestones passed)``, and during the first
    ``warmup_iters`` iterations that times ``1 - (1 - iteration / warmup_iters) * (1 -
    warmup_ratio)`` (``warmup_ratio`` at iteration 0, 1 at ``warmup_iters``).
    """
    steps = sum(epoch >= m for m in cfg.milestones)
    factor = cfg.gamma**steps
    if iteration < cfg.warmup_iters:
        factor *= 1 - (1 - iteration / cfg.warmup_iters) * (1 - cfg.warmup_ratio)
    return factor
