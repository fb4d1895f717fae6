"""From a recipe to a run: data selection, AdamW parameter groups (mmcv custom_keys), schedule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import synth
import torch

from wildpose.config.train import KeyRule, OptimConfig, ScheduleConfig, load_config
from wildpose.errors import ConfigError
from wildpose.pose.arch import get_arch
from wildpose.pose.model import build_clamp
from wildpose.train.recipe import (
    build_manifest,
    build_optimizer,
    default_custom_keys,
    load_run_data,
    lr_factor,
    match_custom_key,
    n_shot,
    param_groups,
)

NAMES = ["snout", "left ear", "right ear", "tail base"]


def test_custom_key_matching_is_mmcv() -> None:
    keys = {"backbone": KeyRule(), "norm": KeyRule(), "bias": KeyRule(), "text_encoder": KeyRule()}
    assert match_custom_key("backbone.ln_pre.bias", keys) == "backbone"  # longest first
    assert match_custom_key("text_encoder.transformer.resblocks.0.ln_1.bias", keys) == (
        "text_encoder"
    )
    # equal lengths: alphabetical order decides (mmcv sorts the keys, then by length)
    assert match_custom_key("context_decoder.decoder.0.norm1.bias", keys) == "bias"
    assert match_custom_key("keypoint_head.final_layer.weight", keys) is None
    assert match_custom_key("a.bc", {"b": KeyRule(), "bc": KeyRule(), "a.b": KeyRule()}) == "a.b"


def _rules(model: torch.nn.Module, groups: list[dict]) -> dict[str, tuple[float, float]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}


def test_resnet_groups_follow_the_spec() -> None:
    model = build_clamp("tiny", NAMES)  # the RN50 module tree at small widths
    got = _rules(model, param_groups(model, OptimConfig(), model.arch))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(got) == trainable and not any(n.startswith("text_encoder") for n in got)
    for name, (lr, wd) in got.items():
        no_decay = name.endswith("bias") or ".norm" in name
        assert (lr, wd) == (5e-4, 0.0 if no_decay else 1e-4), name
    assert got["backbone.bn1.weight"] == (5e-4, 1e-4)  # BN weights decay (spec)
    assert got["context_decoder.decoder.0.norm1.weight"] == (5e-4, 0.0)
    assert got["context_decoder.memory_proj.0.weight"] == (5e-4, 1e-4)  # an LN not named norm


def test_vit_groups_follow_the_spec() -> None:
    model = build_clamp("tiny-vit", NAMES)
    got = _rules(model, param_groups(model, OptimConfig(), model.arch))
    for name, (lr, wd) in got.items():
        if name.startswith("backbone."):
            assert (lr, wd) == (5e-5, 1e-4), name  # x0.1 lr, full decay (biases too)
        elif ".norm" in name:
            assert (lr, wd) == (5e-4, 0.0), name
        else:
            assert (lr, wd) == (5e-4, 1e-4), name
    assert got["keypoint_head.final_layer.bias"] == (5e-4, 1e-4)
    assert "text_encoder.ln_final.weight" not in got and "contexts" in got


def test_optimizer_groups_and_custom_keys() -> None:
    model = build_clamp("tiny-vit", NAMES)
    cfg = OptimConfig(lr=1e-3, custom_keys={"head": KeyRule(lr_mult=2.0, decay_mult=0.5)})
    opt = build_optimizer(model, cfg, model.arch)
    assert isinstance(opt, torch.optim.AdamW)
    by_rule = {g["rule"]: g for g in opt.param_groups}
    assert by_rule["head"]["lr"] == 2e-3 and by_rule["head"]["weight_decay"] == 5e-5
    assert by_rule["default"]["lr"] == 1e-3 and by_rule["default"]["initial_lr"] == 1e-3
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == n_trainable


def test_default_keys_per_backbone() -> None:
    assert set(default_custom_keys(get_arch("rn50"))) == {"text_encoder", "bias", "norm"}
    assert set(default_custom_keys(get_arch("vitl14"))) == {"text_encoder", "backbone", "norm"}


def test_warmup_and_steps() -> None:
    cfg = ScheduleConfig()  # 500 warmup iterations from 0.001, steps at epochs 170 and 200
    assert lr_factor(0, 0, cfg) == pytest.approx(0.001)
    assert lr_factor(250, 0, cfg) == pytest.approx(0.001 + 0.999 * 0.5)
    assert lr_factor(500, 1, cfg) == 1.0
    assert lr_factor(10**6, 169, cfg) == 1.0
    assert lr_factor(10**6, 170, cfg) == pytest.approx(0.1)
    assert lr_factor(10**6, 209, cfg) == pytest.approx(0.01)
    # warmup multiplies the step factor (mmcv warms up towards the regular lr)
    assert lr_factor(0, 170, cfg) == pytest.approx(0.1 * 0.001)
    assert lr_factor(5, 0, ScheduleConfig(warmup_iters=0)) == 1.0


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return synth.write_coco(tmp_path_factory.mktemp("coco"), n_images=12, seed=3)


def _config(tmp_path: Path, coco: tuple[Path, Path], **data):
    base = {"train_annotations": str(coco[0]), "train_images": str(coco[1])}
    return load_config(synth.write_recipe(tmp_path / "r.yaml", {**base, **data}))


def test_split_species_families_and_shots(tmp_path: Path, coco) -> None:
    run = load_run_data(_config(tmp_path, coco, n_val=3).data)
    assert len(run.train) == 9 and len(run.val) == 3
    assert not {s.image_id for s in run.train} & {s.image_id for s in run.val}
    run = load_run_data(_config(tmp_path, coco, species=["zebra"]).data)
    assert {s.category_id for s in run.train} == {2} and len(run.train) == 6
    run = load_run_data(
        _config(
            tmp_path, coco, n_val=4, train_families=["Cricetidae"], val_families=["Equidae"]
        ).data
    )
    assert {s.category_id for s in run.train} == {1} and {s.category_id for s in run.val} == {2}
    run = load_run_data(_config(tmp_path, coco, shots_per_species=2, shot_seed=1).data)
    assert sorted(s.category_id for s in run.train) == [1, 1, 2, 2]
    with pytest.raises(ConfigError, match="unknown categories"):
        load_run_data(_config(tmp_path, coco, species=["unicorn"]).data)
    with pytest.raises(ConfigError, match="no training instances"):
        load_run_data(_config(tmp_path, coco, train_families=["Felidae"]).data)


def test_n_shot_is_seeded_and_keeps_order(tmp_path: Path, coco) -> None:
    samples = load_run_data(_config(tmp_path, coco).data).train
    a, b = n_shot(samples, 3, seed=0), n_shot(samples, 3, seed=0)
    assert [s.image_id for s in a] == [s.image_id for s in b]
    assert [s.image_id for s in a] == sorted(s.image_id for s in a)
    assert {s.image_id for s in n_shot(samples, 3, 1)} != {s.image_id for s in a}
    assert len(n_shot(samples, 100, 0)) == len(samples)


def test_prompt_and_sigma_overrides_reach_the_manifest(tmp_path: Path, coco) -> None:
    prompts = ["tip of the nose", "head", "middle of the back", "tail"]
    cfg = _config(tmp_path, coco, keypoint_prompts=prompts, sigmas=[0.1, 0.2, 0.3, 0.4])
    run = load_run_data(cfg.data)
    manifest = build_manifest(cfg, run.meta)
    assert manifest.keypoints == tuple(prompts) and manifest.arch == "tiny-vit"
    assert np.allclose(manifest.sigmas, [0.1, 0.2, 0.3, 0.4])
    assert manifest.input_size == (64, 64) and manifest.skeleton == ((0, 1), (1, 2), (2, 3))
    with pytest.raises(ConfigError, match="keypoint_prompts"):
        load_run_data(_config(tmp_path, coco, keypoint_prompts=["a"]).data)
