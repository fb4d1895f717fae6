"""Training recipes: typed YAML, unknown keys rejected, --set overrides, bases, every recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wildpose.config.train import (
    KeyRule,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from wildpose.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "configs").glob("*.yaml"))

SMALL = {
    "data": {"train_annotations": "ann/train.json", "train_images": "images", "n_val": 2},
    "model": {"arch": "tiny", "clip_weights": "none"},
}


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_recipe_loads_without_its_data(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, TrainConfig)
    assert cfg.model.name
    files = [cfg.data.train_annotations, cfg.data.train_images, cfg.data.dlc_project]
    assert all(Path(f).is_absolute() for f in files if f is not None)
    assert config_from_dict(config_to_dict(cfg), source="roundtrip") == cfg


def test_paper_recipes_follow_the_spec() -> None:
    rn50 = load_config(REPO / "configs" / "ap10k-clamp-rn50.yaml")
    vitb = load_config(REPO / "configs" / "ap10k-clamp-vitb16.yaml")
    vitl = load_config(REPO / "configs" / "ap10k-clamp-vitl14.yaml")
    for cfg in (rn50, vitb, vitl):
        assert (cfg.optim.lr, cfg.optim.weight_decay) == (5e-4, 1e-4)
        assert cfg.schedule.epochs == 210 and cfg.schedule.milestones == (170, 200)
        assert (cfg.schedule.warmup_iters, cfg.schedule.warmup_ratio) == (500, 0.001)
        assert cfg.train.batch_size == 32 and cfg.eval.metric == "AP" and cfg.eval.flip_test
        assert cfg.data.train_annotations.endswith("ap10k-train-split1.json")
        assert cfg.data.val_annotations.endswith("ap10k-val-split1.json")
    assert rn50.optim.custom_keys == {
        "text_encoder": KeyRule(lr_mult=0.0),
        "bias": KeyRule(decay_mult=0.0),
        "norm": KeyRule(decay_mult=0.0),
    }
    for cfg in (vitb, vitl):
        assert cfg.optim.custom_keys == {
            "text_encoder": KeyRule(lr_mult=0.0),
            "backbone": KeyRule(lr_mult=0.1),
            "norm": KeyRule(decay_mult=0.0),
        }
    assert (rn50.model.arch, vitb.model.arch, vitl.model.arch) == ("rn50", "vitb16", "vitl14")


def test_low_data_recipes_extend_the_paper_ones() -> None:
    shot = load_config(REPO / "configs" / "ap10k-20shot-clamp-vitb16.yaml")
    assert shot.data.shots_per_species == 20 and shot.train.batch_size == 64
    assert shot.optim.lr == 5e-5 and shot.model.arch == "vitb16"
    assert "bias" not in shot.optim.custom_keys  # the ViT rules of its base
    zero = load_config(REPO / "configs" / "ap10k-zeroshot-bovidae-equidae-rn50.yaml")
    assert zero.data.train_families == ("Bovidae",) and zero.data.val_families == ("Equidae",)
    assert zero.model.name == "clamp-rn50-ap10k-bovidae-to-equidae"


def test_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "sub" / "r.yaml", SMALL))
    assert cfg.data.train_annotations == str(tmp_path / "sub" / "ann" / "train.json")
    assert cfg.data.train_images == str(tmp_path / "sub" / "images")
    assert cfg.model.name == "r"  # default: the file name


def test_unknown_key_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", {**SMALL, "optim": {"lrr": 1e-3}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in one_line(exc) and "optim.lrr" in str(exc.value)
    path = write(tmp_path / "s.yaml", {**SMALL, "trian": {}})
    with pytest.raises(ConfigError, match="trian"):
        load_config(path)


@pytest.mark.parametrize(
    ("section", "value", "key"),
    [
        ("train", {"batch_size": "many"}, "train.batch_size"),
        ("train", {"precision": "fp8"}, "train.precision"),
        ("eval", {"metric": "mAP"}, "eval.metric"),
        ("schedule", {"epochs": 0}, "schedule.epochs"),
        ("schedule", {"milestones": [20, 10]}, "schedule.milestones"),
        ("model", {"arch": "rn101", "clip_weights": "none"}, "model.arch"),
        ("model", {"arch": "tiny", "clip_weights": "openai"}, "model.clip_weights"),
        ("data", {"kind": "dlc"}, "data.dlc_project"),
        ("data", {"n_val": 2, "flip_pairs": [[0, 1, 2]]}, "data.flip_pairs"),
        ("data", {"val_annotations": "v.json", "n_val": 0}, "data.val_images"),
        ("data", {"val_annotations": "v.json", "val_images": "i"}, "data.n_val"),
        ("data", {"shots_per_species": 0}, "data.shots_per_species"),
        ("optim", {"lr": 0}, "optim.lr"),
        ("optim", {"betas": [0.9]}, "optim.betas"),
        ("optim", {"custom_keys": {"bias": {"lr_mult": -1}}}, "optim.custom_keys.bias.lr_mult"),
        ("schedule", {"warmup_ratio": 0}, "schedule.warmup_ratio"),
        ("train", {"workers": -1}, "train.workers"),
        ("train", {"device": "tpu"}, "train.device"),
        ("train", {"threads": 0}, "train.threads"),
        ("eval", {"batch_size": 0}, "eval.batch_size"),
    ],
)
def test_bad_values(tmp_path: Path, section: str, value: dict, key: str) -> None:
    data = {**SMALL, section: {**SMALL.get(section, {}), **value}}
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path / "r.yaml", data))
    assert key in one_line(exc) and "r.yaml" in str(exc.value)


def test_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = {**SMALL, "optim": {"custom_keys": {"bias": {"decay_mult": 0.0}}}}
    path = write(tmp_path / "cfg" / "r.yaml", recipe)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(
        path,
        [
            "optim.lr=5e-4",  # YAML 1.1 reads this as a string: still a number
            "train.batch_size=8",
            "data.species=[vole, zebra]",
            "data.train_images=elsewhere/imgs",  # --set paths: relative to the cwd
            "optim.custom_keys={backbone: {lr_mult: 0.5}}",
        ],
    )
    assert cfg.optim.lr == 5e-4 and cfg.train.batch_size == 8
    assert cfg.data.species == ("vole", "zebra")
    assert cfg.data.train_images == str(tmp_path / "elsewhere" / "imgs")
    assert cfg.data.train_annotations == str(tmp_path / "cfg" / "ann" / "train.json")
    assert cfg.optim.custom_keys == {"backbone": KeyRule(lr_mult=0.5)}  # replaced, not merged
    for bad, what in (("optim.lrr=1", "lrr"), ("train=3", "train"), ("nokey", "key=value")):
        with pytest.raises(ConfigError, match=what) as exc:
            load_config(path, [bad])
        one_line(exc)


def test_errors_name_the_file_or_set(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", {**SMALL, "train": {"batch_size": 0}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert one_line(exc) == f"{path}: 'train.batch_size' must be >= 1, got 0"
    with pytest.raises(ConfigError) as exc:
        load_config(path, ["train.batch_size=-2"])
    assert one_line(exc) == "--set: 'train.batch_size' must be >= 1, got -2"
    cfg = load_config(path, ["train.batch_size=4", "optim.custom_keys={bias: }"])
    assert cfg.train.batch_size == 4 and cfg.optim.custom_keys == {"bias": KeyRule()}


def test_base_recipes_merge_and_replace_custom_keys(tmp_path: Path) -> None:
    base = {**SMALL, "optim": {"lr": 1e-3, "custom_keys": {"bias": {"decay_mult": 0.0}}}}
    write(tmp_path / "base" / "b.yaml", base)
    top = write(
        tmp_path / "top.yaml",
        {
            "base": "base/b.yaml",
            "optim": {"custom_keys": {"norm": {"decay_mult": 0}}},
            "train": {"batch_size": 2},
        },
    )
    cfg = load_config(top)
    assert cfg.optim.lr == 1e-3 and cfg.train.batch_size == 2
    assert cfg.optim.custom_keys == {"norm": KeyRule(decay_mult=0.0)}
    # the base's relative paths stay relative to the base's folder
    assert cfg.data.train_annotations == str(tmp_path / "base" / "ann" / "train.json")
    write(tmp_path / "loop.yaml", {"base": "loop.yaml"})
    with pytest.raises(ConfigError, match="loops"):
        load_config(tmp_path / "loop.yaml")


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as exc:
        load_config(tmp_path / "bad.yaml")
    one_line(exc)
    (tmp_path / "latin1.yaml").write_bytes("model: {description: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8") as exc:
        load_config(tmp_path / "latin1.yaml")
    one_line(exc)


def test_saved_config_loads_back(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "r.yaml", SMALL), ["optim.custom_keys={x: {}}"])
    save_config(cfg, tmp_path / "work" / "config.yaml")
    again = load_config(tmp_path / "work" / "config.yaml")
    assert again == cfg
    assert not list((tmp_path / "work").glob(".*partial"))
