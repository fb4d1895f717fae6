"""clamp-demo, the shipped tiny CLAMP: small, self-describing, and right on unseen demo clips.

Training used scenes with seeds 10000 and up (scripts/train_demo.py); every clip here has a
seed below 10000, so none was seen.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from wildpose.demo.accuracy import demo_accuracy
from wildpose.demo.clip import box_file_path, write_demo_clip
from wildpose.demo.pack import TOKEN_TABLE, pack_checkpoint
from wildpose.pose.checkpoint import (
    LoadedModel,
    load_checkpoint,
    load_model,
    random_model,
    save_checkpoint,
)
from wildpose.pose.manifest import load_manifest
from wildpose.synthetic import KEYPOINT_NAMES, SKELETON

SHIPPED = Path(__file__).resolve().parents[1] / "wildpose" / "demo" / "clamp-demo.pt"


@pytest.fixture(scope="module")
def demo() -> LoadedModel:
    return load_checkpoint(SHIPPED)


def test_shipped_file_is_small_and_self_describing(demo: LoadedModel) -> None:
    assert SHIPPED.stat().st_size <= 10_000_000
    m = demo.manifest
    assert m.name == "clamp-demo" and m.arch == "tiny" and m.keypoints == KEYPOINT_NAMES
    assert m.skeleton == SKELETON and m.flip_pairs == ((1, 2),)
    assert demo.train_config["model"]["arch"] == "tiny"


def test_name_resolves_to_the_shipped_file(demo: LoadedModel) -> None:
    manifest = load_manifest("clamp-demo")
    assert manifest.weights["sha256"] == demo.sha256
    assert load_model("clamp-demo").sha256 == demo.sha256


def test_keypoints_within_5_px_on_unseen_clips(demo: LoadedModel) -> None:
    acc = demo_accuracy(demo, seeds=[1, 2, 3], n_frames=12)
    print(acc.summary())  # the figures quoted in docs: pytest -s shows them
    assert acc.errors.size > 300
    assert acc.median_px < 5.0, acc.summary()
    assert acc.pck(0.1) > 0.8, acc.summary()
    assert np.nanmax(acc.per_keypoint_median) < 8.0, acc.per_keypoint_median


def test_packing_keeps_the_model_output(tmp_path: Path) -> None:
    """Zeroed unused token rows and fp16 weights: the same heatmaps up to fp16 rounding, in a
    much smaller file."""
    manifest = replace(
        load_manifest("clamp-tiny"),
        keypoints=KEYPOINT_NAMES, skeleton=SKELETON, flip_pairs=((1, 2),), sigmas=(),
    )  # fmt: skip
    model = random_model(manifest, seed=3)
    save_checkpoint(tmp_path / "full.pt", model, manifest, train_config={"data": {}})
    pack_checkpoint(tmp_path / "full.pt", tmp_path / "small.pt", name="x", description="y")
    full, small = load_checkpoint(tmp_path / "full.pt"), load_checkpoint(tmp_path / "small.pt")
    assert small.manifest.name == "x"
    assert (tmp_path / "small.pt").stat().st_size < 0.3 * (tmp_path / "full.pt").stat().st_size
    table = small.model.state_dict()[TOKEN_TABLE]
    assert (table.abs().sum(1) > 0).sum() <= len(full.model.texts.unique())
    crops = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        a, b = full.model(crops), small.model(crops)
    assert float((a - b).norm() / a.norm()) < 1e-2  # fp16 rounding only


def _track(video: Path, out: Path, detector: str) -> pd.DataFrame:
    env = dict(os.environ, OMP_NUM_THREADS="1", WILDPOSE_OFFLINE="1")
    command = [sys.executable, "-m", "wildpose", "track", str(video), "--pose", "clamp-demo"]
    command += ["--detector", detector, "-o", str(out), "--format", "csv", "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return pd.read_csv(out / f"{video.stem}.tracks.csv")


def _errors(table: pd.DataFrame, truth) -> np.ndarray:
    """Raw keypoint errors (px) of visible truth keypoints; rows matched by box centre."""
    errors = []
    centres = truth.boxes.reshape(truth.n_frames, -1, 2, 2).mean(2)  # (T, N, 2)
    for (frame, _), rows in table.groupby(["frame", "track_id"]):
        box = rows[["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]].to_numpy()[0]
        centre = box.reshape(2, 2).mean(0)
        n = int(np.argmin(np.linalg.norm(centres[frame] - centre, axis=-1)))
        k = [KEYPOINT_NAMES.index(name) for name in rows["keypoint"]]
        err = np.linalg.norm(rows[["x", "y"]].to_numpy() - truth.keypoints[frame, n, k], axis=-1)
        errors.append(err[truth.visible[frame, n, k]])
    return np.concatenate(errors)


def test_track_with_the_demo_box_file(tmp_path: Path) -> None:
    truth = write_demo_clip(tmp_path / "demo.mp4", n_frames=30, n_animals=3, seed=7)
    table = _track(tmp_path / "demo.mp4", tmp_path / "out", f"boxes:{box_file_path(truth.path)}")
    assert table["track_id"].nunique() >= 3
    assert np.median(_errors(table, truth)) < 5.0


def test_track_full_frame_on_one_animal(tmp_path: Path) -> None:
    """The whole frame as the box: the animal is small in the crop (about 20 of 128 px), so
    the keypoints are coarse, but they land on the animal."""
    truth = write_demo_clip(tmp_path / "one.mp4", n_frames=12, n_animals=1, seed=8)
    table = _track(tmp_path / "one.mp4", tmp_path / "out", "full-frame")
    errors = _errors(table, truth)
    length = np.linalg.norm(truth.keypoints[:, 0, 0] - truth.keypoints[:, 0, 4], axis=-1)
    assert np.median(errors) < 0.5 * length.mean(), (np.median(errors), length.mean())


def test_render_and_contact_sheet_show_the_poses(tmp_path: Path) -> None:
    """``--render``: the annotated video (one frame per input frame) and the contact sheet,
    committed with the tables; the keypoints are drawn where the animals' parts are."""
    import av
    from PIL import Image

    truth = write_demo_clip(tmp_path / "demo.mp4", n_frames=24, n_animals=2, seed=5)
    env = dict(os.environ, OMP_NUM_THREADS="1", WILDPOSE_OFFLINE="1")
    command = [sys.executable, "-m", "wildpose", "track", str(truth.path), "--pose", "clamp-demo"]
    command += ["--detector", f"boxes:{box_file_path(truth.path)}", "--render", "-q"]
    command += ["-o", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "demo.annotated.mp4",
        "demo.contact.png",
        "demo.run.json",
        "demo.tracks.parquet",
    ]
    with av.open(str(out / "demo.annotated.mp4")) as c:
        drawn = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(truth.path)) as c:
        plain = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(drawn) == len(plain) == 24
    # around each visible nose of frame 12 the render differs from the plain frame
    for n in range(2):
        if truth.visible[12, n, 0]:
            x, y = np.round(truth.keypoints[12, n, 0]).astype(int)
            patch = np.s_[max(y - 3, 0) : y + 4, max(x - 3, 0) : x + 4]
            diff = np.abs(drawn[12][patch].astype(int) - plain[12][patch].astype(int))
            assert diff.max() > 60
    sheet = Image.open(out / "demo.contact.png")
    assert sheet.format == "PNG" and sheet.width >= 640
