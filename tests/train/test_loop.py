"""The training loop on generated data: overfitting, resume = uninterrupted, outputs, logs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import synth
import torch

from wildpose.config.train import config_to_dict, load_config
from wildpose.errors import ConfigError
from wildpose.pose.checkpoint import load_model, read_checkpoint
from wildpose.pose.predictor import PosePredictor
from wildpose.train.loop import train
from wildpose.train.recipe import lr_factor


def read_log(work: Path) -> list[dict]:
    return [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]


def events(log: list[dict], name: str) -> list[dict]:
    return [r for r in log if r["event"] == name]


def test_tiny_training_overfits(tmp_path: Path) -> None:
    ann, images = synth.write_coco(tmp_path, n_images=4, seed=1)
    data = {"train_annotations": str(ann), "train_images": str(images), "augment": False}
    recipe = synth.write_recipe(
        tmp_path / "overfit.yaml",
        data,
        optim={"lr": 2e-2},
        schedule={"epochs": 60, "warmup_iters": 5, "milestones": []},
    )
    best = train(load_config(recipe), tmp_path / "work")
    losses = [r["loss"] for r in events(read_log(tmp_path / "work"), "train")]
    assert len(losses) == 60  # one iteration of 4 images per epoch, logged each iteration
    assert losses[0] / losses[-1] >= 10, (losses[0], losses[-1])
    assert best == tmp_path / "work" / "best.pt" and best.is_file()  # no val: final weights


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same recipe (validation each epoch, augmentation, dropout) trained for 2 epochs in
    one go and as 1 epoch + a resumed second epoch."""
    root = tmp_path_factory.mktemp("runs")
    ann, images = synth.write_coco(root, n_images=8, seed=2)
    data = {"train_annotations": str(ann), "train_images": str(images), "n_val": 2}
    recipe = synth.write_recipe(root / "r.yaml", data, train={"batch_size": 2})
    train(load_config(recipe), root / "whole")
    train(load_config(recipe, ["schedule.epochs=1"]), root / "split")
    train(load_config(recipe), root / "split", resume=root / "split" / "last.pt")
    return {"recipe": recipe, "whole": root / "whole", "split": root / "split"}


def test_resumed_equals_uninterrupted(runs: dict[str, Path]) -> None:
    whole = events(read_log(runs["whole"]), "train")
    split = events(read_log(runs["split"]), "train")
    assert [r["iteration"] for r in whole] == [r["iteration"] for r in split] == list(range(1, 7))
    for a, b in zip(whole, split, strict=True):
        for key in ("loss", "mse_loss", "spatial_loss", "feature_loss", "lr"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-12), (a["iteration"], key)
    sa = read_checkpoint(runs["whole"] / "last.pt")["state_dict"]
    sb = read_checkpoint(runs["split"] / "last.pt")["state_dict"]
    for name, value in sa.items():
        torch.testing.assert_close(value, sb[name], rtol=1e-5, atol=1e-7, msg=name)
    val_a = events(read_log(runs["whole"]), "val")[-1]
    val_b = events(read_log(runs["split"]), "val")[-1]
    assert val_a["PCK@0.1"] == val_b["PCK@0.1"] and val_a["AP"] == pytest.approx(val_b["AP"])


def test_logged_lr_follows_the_schedule(runs: dict[str, Path]) -> None:
    cfg = load_config(runs["recipe"])
    for r in events(read_log(runs["whole"]), "train"):
        it, epoch = r["iteration"] - 1, r["epoch"] - 1
        assert r["lr"] == pytest.approx(cfg.optim.lr * lr_factor(it, epoch, cfg.schedule))
        assert r["images_per_s"] > 0


def test_outputs_are_self_describing(runs: dict[str, Path]) -> None:
    work = runs["whole"]
    cfg = load_config(runs["recipe"])
    assert load_config(work / "config.yaml") == cfg
    loaded = load_model(work / "best.pt")  # what `wildpose track --pose work/best.pt` does
    assert loaded.manifest.keypoints == synth.NAMES and loaded.manifest.arch == "tiny-vit"
    assert loaded.manifest.name == "r" and loaded.train_config == config_to_dict(cfg)
    best = read_checkpoint(work / "best.pt")
    assert "optimizer" not in best
    log = read_log(work)
    end = events(log, "end")[0]
    val = next(r for r in events(log, "val") if r["epoch"] == end["best_epoch"])
    assert best["epoch"] == end["best_epoch"] and val[cfg.eval.metric] == end["best"]
    for key, value in best["metrics"].items():  # the best epoch's validation, as logged
        assert val[key] == (None if np.isnan(value) else pytest.approx(value)), key
    last = read_checkpoint(work / "last.pt")
    assert {"optimizer", "scaler", "rng", "epoch", "iteration"} <= set(last)
    assert (last["epoch"], last["iteration"]) == (2, 6)
    predictor = PosePredictor(loaded.model, flip_pairs=loaded.manifest.flip_pairs, device="cpu")
    frames = torch.zeros(1, 3, 120, 160)
    xy, score = predictor.predict(frames, np.array([[10, 10, 90, 80]]), np.array([0]))
    assert xy.shape == (1, 4, 2) and np.isfinite(xy).all()
    assert not list(work.glob(".*partial"))


def test_log_records(runs: dict[str, Path]) -> None:
    log = read_log(runs["whole"])
    assert [r["event"] for r in log][:2] == ["start", "baseline"]
    start = log[0]
    assert start["train_instances"] == 6 and start["val_instances"] == 2
    assert {g["rule"] for g in start["param_groups"]} == {"default", "backbone", "norm"}
    assert len(events(log, "epoch")) == 2 and len(events(log, "val")) == 2
    val = events(log, "val")[0]
    for key in ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "PCK@0.05", "PCK@0.1", "PCK@0.2"):
        assert key in val
    assert log[-1]["event"] == "end" and log[-1]["iteration"] == 6
    resumed = [r for r in read_log(runs["split"]) if r["event"] == "start"]
    assert resumed[1]["resume"].endswith("last.pt") and resumed[1]["start_epoch"] == 1


def test_resume_needs_last_pt(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a resumable checkpoint"):
        train(load_config(runs["recipe"]), tmp_path, resume=runs["whole"] / "best.pt")


@pytest.mark.slow
def test_cpu_mouse_recipe_on_real_frames(shared_data: Path, tmp_path: Path) -> None:
    """The documented CPU recipe on the DeepLabCut open-field frames, 16 held out: the loss
    falls and held-out PCK@0.1 beats the mean-pose baseline by a wide margin."""
    project = shared_data / "dlc-openfield"
    recipe = Path(__file__).resolve().parents[2] / "configs" / "dlc-openfield-tiny-cpu.yaml"
    cfg = load_config(recipe, [f"data.dlc_project={project}"])
    start = time.perf_counter()
    best = train(cfg, tmp_path / "work")
    minutes = (time.perf_counter() - start) / 60
    log = read_log(tmp_path / "work")
    losses = [r["loss"] for r in events(log, "epoch")]
    baseline, final = events(log, "baseline")[0], events(log, "val")[-1]
    print(
        f"\nopenfield: {minutes:.1f} min, loss {losses[0]:.4f} -> {losses[-1]:.4f}, held-out "
        f"PCK@0.1 {final['PCK@0.1']:.3f} (mean pose {baseline['PCK@0.1']:.3f}), RMSE "
        f"{final['RMSE']:.1f} px (mean pose {baseline['RMSE']:.1f} px)"
    )
    assert events(log, "start")[0]["val_instances"] == 16
    assert losses[-1] < 0.5 * losses[0]
    assert final["PCK@0.1"] >= baseline["PCK@0.1"] + 0.3
    assert final["RMSE"] < baseline["RMSE"]
    assert load_model(best).manifest.keypoints == ("snout", "left ear", "right ear", "tail base")
