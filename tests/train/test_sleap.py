"""wildpose.train.sleap: SLEAP labels (.slp, built here with sleap-io) -> training samples."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import sleap_io as sio

from wildpose.errors import InputError
from wildpose.synthetic import write_synthetic_video
from wildpose.train.dataset import TopDownDataset
from wildpose.train.sleap import load_sleap_labels

NODES = ("Nose", "leftEar", "rightEar", "tailBase")


def skeleton() -> sio.Skeleton:
    sk = sio.Skeleton(list(NODES), edges=[(0, 1), (0, 2), (0, 3)])
    sk.add_symmetry("leftEar", "rightEar")
    return sk


def instance(sk: sio.Skeleton, points: list[list[float]], predicted: bool = False):
    xy = np.array(points, dtype=np.float64)
    if predicted:
        return sio.PredictedInstance.from_numpy(xy, sk, point_scores=np.ones(len(xy)), score=1)
    return sio.Instance.from_numpy(xy, sk)


def image_labels(tmp_path: Path) -> Path:
    """Two 80x60 PNG frames labelled by hand: frame 0 two animals (one ear unlabelled), frame
    1 only a prediction (not ground truth)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    paths = []
    for i in range(2):
        paths.append(folder / f"img{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((60, 80, 3), 40 * i, np.uint8))
    video = sio.Video.from_filename([str(p) for p in paths])
    sk = skeleton()
    nan = float("nan")
    frame0 = sio.LabeledFrame(
        video=video,
        frame_idx=0,
        instances=[
            instance(sk, [[11, 20], [nan, nan], [30, 26], [25, 22]]),
            instance(sk, [[50, 40], [55, 35], [58, 36], [70, 50]]),
        ],
    )
    frame1 = sio.LabeledFrame(
        video=video, frame_idx=1, instances=[instance(sk, [[1, 1]] * 4, predicted=True)]
    )
    labels = sio.Labels([frame0, frame1], videos=[video], skeletons=[sk])
    path = tmp_path / "labels.slp"
    sio.save_slp(labels, str(path), verbose=False)
    return path


def test_user_instances_become_samples_with_readable_names(tmp_path):
    meta, samples = load_sleap_labels(image_labels(tmp_path))
    assert meta.keypoint_names == tuple(NODES)
    assert meta.readable_names == ("nose", "left ear", "right ear", "tail base")
    assert meta.skeleton == ((0, 1), (0, 2), (0, 3)) and meta.flip_pairs == ((1, 2),)
    assert meta.categories == {1: "animal"}
    assert len(samples) == 2  # the prediction in frame 1 is not a label
    first, second = samples
    assert first.image_path.name == "img0.png" and first.image_size == (80, 60)
    assert first.image_id == second.image_id == 1
    np.testing.assert_allclose(first.keypoints, [[11, 20, 2], [0, 0, 0], [30, 26, 2], [25, 22, 2]])
    # the DeepLabCut rule: extent x 11..30, y 20..26 padded by 10 px, clipped to the image
    np.testing.assert_allclose(first.bbox, [1, 10, 39, 26])
    np.testing.assert_allclose(second.keypoints[:, 2], 2)


def test_flip_pairs_override_the_symmetries(tmp_path):
    meta, _ = load_sleap_labels(image_labels(tmp_path), flip_pairs=[])
    assert meta.flip_pairs == ()


def test_video_frames_are_decoded_once_for_training(tmp_path):
    clip = tmp_path / "clip.mp4"
    truth = write_synthetic_video(clip, n_frames=6, size=(96, 64), n_animals=1)
    video = sio.Video.from_filename(str(clip))
    sk = skeleton()
    frames = []
    for t in (1, 4):
        xy = truth.keypoints[t, 0, [0, 1, 2, 3]]
        frames.append(sio.LabeledFrame(video=video, frame_idx=t, instances=[instance(sk, xy)]))
    path = tmp_path / "clip.slp"
    sio.save_slp(sio.Labels(frames, videos=[video], skeletons=[sk]), str(path), verbose=False)
    meta, samples = load_sleap_labels(path)
    names = sorted(s.image_path.name for s in samples)
    assert names == ["video0_frame000001.png", "video0_frame000004.png"]
    assert all(s.image_path.parent == tmp_path / "clip.frames" for s in samples)
    image = cv2.imread(str(samples[0].image_path))
    assert image.shape == (64, 96, 3) and samples[0].image_size == (96, 64)
    np.testing.assert_allclose(samples[1].keypoints[:, :2], truth.keypoints[4, 0, :4], atol=1e-4)
    before = samples[0].image_path.stat().st_mtime_ns
    load_sleap_labels(path)  # the decoded frames are reused
    assert samples[0].image_path.stat().st_mtime_ns == before
    # and the samples feed the top-down training dataset as DeepLabCut's do
    dataset = TopDownDataset(samples, meta, input_size=(64, 64), heatmap_size=(16, 16))
    assert dataset[0].image.shape[-2:] == (64, 64)


def test_missing_media_is_a_one_line_error(tmp_path):
    path = image_labels(tmp_path)
    (tmp_path / "frames" / "img0.png").unlink()
    with pytest.raises(InputError, match="img0.png"):
        load_sleap_labels(path)
    with pytest.raises(InputError, match="not found"):
        load_sleap_labels(tmp_path / "nothing.slp")
    bad = tmp_path / "bad.slp"
    bad.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable SLEAP"):
        load_sleap_labels(bad)


def test_embedded_images_of_a_package_file(tmp_path):
    labels = sio.load_slp(str(image_labels(tmp_path)))
    package = tmp_path / "labels.pkg.slp"
    sio.save_slp(labels, str(package), embed="user", verbose=False)
    for image in (tmp_path / "frames").iterdir():
        image.unlink()  # a .pkg.slp carries its frames
    _, samples = load_sleap_labels(package)
    assert len(samples) == 2 and samples[0].image_path.parent == tmp_path / "labels.pkg.frames"
    assert cv2.imread(str(samples[0].image_path)).shape == (60, 80, 3)


def test_wildpose_train_reads_a_sleap_recipe(tmp_path):
    """``data.kind: sleap`` through the real command: the labels train a model whose prompts
    are the readable node names."""
    from click.testing import CliRunner
    from synth import write_recipe

    from wildpose.cli import cli
    from wildpose.pose.checkpoint import load_checkpoint

    labels = image_labels(tmp_path)
    recipe = write_recipe(
        tmp_path / "recipe.yaml",
        {"kind": "sleap", "sleap_labels": str(labels)},
        schedule={"epochs": 1, "warmup_iters": 1, "milestones": []},
    )
    work = tmp_path / "work"
    res = CliRunner().invoke(cli, ["train", str(recipe), "--work-dir", str(work)])
    assert res.exit_code == 0, res.output
    ckpt = next(p for p in (work / "best.pt", work / "last.pt") if p.exists())
    assert load_checkpoint(ckpt).manifest.keypoints == (
        "nose",
        "left ear",
        "right ear",
        "tail base",
    )


def test_a_sleap_recipe_needs_its_labels(tmp_path):
    from wildpose.config.train import config_from_dict
    from wildpose.errors import ConfigError

    with pytest.raises(ConfigError, match="data.sleap_labels"):
        config_from_dict({"data": {"kind": "sleap"}})
