from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from wildpose import keypoints
from wildpose.errors import ConfigError, InputError
from wildpose.pose.crop import CropTransform
from wildpose.train.coco import load_coco_keypoints
from wildpose.train.dataset import TopDownDataset, TopDownItem, collate
from wildpose.train.dlc import load_dlc_project
from wildpose.train.samples import KeypointSample, split_samples
from wildpose.train.transforms import flip_permutation

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
AP10K = DATA / "ap10k-sample"
ANIMALPOSE = DATA / "animalpose-sample"
OPENFIELD = DATA / "dlc-openfield"

# clamp-spec sections 7 and 8.
SPEC_FLIP_PAIRS = ((0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16))
SPEC_SKELETON = ((0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (3, 8), (8, 9),
                 (9, 10), (4, 11), (11, 12), (12, 13), (4, 14), (14, 15), (15, 16))  # fmt: skip
SPEC_SIGMAS = [0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062,
               0.107, 0.087, 0.089, 0.107, 0.087, 0.089]  # fmt: skip


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real test data not found at {path} (../shared/data beside the repository)")
    return path


def expected_box(bbox: list[float], width: int, height: int) -> list[float]:
    x, y, w, h = bbox
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(width - 1, x1 + max(0, w - 1)), min(height - 1, y1 + max(0, h - 1))
    return [x1, y1, x2 - x1, y2 - y1]


@pytest.mark.parametrize(
    ("folder", "json_name", "k"),
    [(AP10K, "test_ap10k.json", 17), (ANIMALPOSE, "test_animalpose.json", 20)],
)
def test_coco_samples_load(folder: Path, json_name: str, k: int) -> None:
    raw = json.loads(need(folder / json_name).read_text())
    meta, samples = load_coco_keypoints(folder / json_name, folder)
    assert meta.num_keypoints == k and len(meta.sigmas) == k and len(samples) == 2
    images = {img["id"]: img for img in raw["images"]}
    for sample, ann in zip(samples, raw["annotations"], strict=True):
        img = images[ann["image_id"]]
        assert sample.image_path == folder / img["file_name"] and sample.image_path.is_file()
        assert sample.keypoints.shape == (k, 3) and sample.keypoints.dtype == np.float32
        np.testing.assert_array_equal(sample.keypoints.ravel(), ann["keypoints"])
        np.testing.assert_array_equal(
            sample.bbox, expected_box(ann["bbox"], img["width"], img["height"])
        )
        assert sample.area == ann["area"] and sample.category_id == ann["category_id"]
        assert sample.image_size == (img["width"], img["height"])


def test_ap10k_metadata_is_the_spec() -> None:
    meta, _ = load_coco_keypoints(need(AP10K / "test_ap10k.json"), AP10K)
    assert meta.readable_names == keypoints.AP10K.keypoints
    assert meta.flip_pairs == SPEC_FLIP_PAIRS
    assert meta.skeleton == SPEC_SKELETON
    np.testing.assert_array_equal(meta.sigmas, np.float32(SPEC_SIGMAS))
    assert meta.upper_body_ids == (0, 1, 2, 3, 5, 6, 7, 8, 9)
    assert len(meta.categories) == 54 and meta.categories[1] == "antelope"


def test_animalpose_metadata() -> None:
    meta, _ = load_coco_keypoints(need(ANIMALPOSE / "test_animalpose.json"), ANIMALPOSE)
    assert meta.readable_names[2] == "left ear base" and meta.categories == {1: "cat"}
    assert len(meta.flip_pairs) == 8 and meta.skeleton[0] == (0, 1)
    # mmpose's animalpose dataset info types these "upper".
    assert meta.upper_body_ids == (0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17)


def test_dlc_project_loads() -> None:
    meta, samples = load_dlc_project(need(OPENFIELD))
    assert len(samples) == 116 and meta.num_keypoints == 4
    assert meta.readable_names == ("snout", "left ear", "right ear", "tail base")
    assert meta.flip_pairs == ((1, 2),) and meta.skeleton == ()
    np.testing.assert_array_equal(meta.sigmas, np.full(4, 0.05, dtype=np.float32))
    first = samples[0]
    assert first.image_path.name == "img0000.png" and first.image_size == (640, 480)
    np.testing.assert_allclose(first.keypoints[0], [21.521, 265.428, 2], rtol=1e-6)
    for s in samples:
        x, y, w, h = s.bbox
        xy = s.keypoints[s.keypoints[:, 2] > 0, :2]
        assert x >= 0 and y >= 0 and x + w <= 639 and y + h <= 479
        margin = np.concatenate([xy.min(0) - [x, y], [x + w, y + h] - xy.max(0)])
        clipped = np.isclose([x, y, x + w, y + h], [0, 0, 639, 479])
        assert np.all((margin >= 10 - 1e-3) | clipped)
    assert len({s.image_id for s in samples}) == 116


# --- broken data ---------------------------------------------------------------------------


def coco_file(tmp_path: Path, edit=None) -> Path:
    data = json.loads(need(AP10K / "test_ap10k.json").read_text())
    if edit is not None:
        edit(data)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))
    return path


def assert_one_line(exc: pytest.ExceptionInfo, name: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and name in text, text


def test_coco_missing_image(tmp_path: Path) -> None:
    path = coco_file(tmp_path)
    shutil.copy(AP10K / "000000037516.jpg", tmp_path)  # the other image is missing
    with pytest.raises(InputError) as exc:
        load_coco_keypoints(path, tmp_path)
    assert_one_line(exc, "000000000004.jpg")


def test_coco_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"images": [1, 2,')
    with pytest.raises(InputError) as exc:
        load_coco_keypoints(path, tmp_path)
    assert_one_line(exc, "bad.json")
    assert "JSON" in str(exc.value)


def test_coco_keypoint_count_mismatch(tmp_path: Path) -> None:
    def drop_one(data):
        data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:-3]

    with pytest.raises(InputError) as exc:
        load_coco_keypoints(coco_file(tmp_path, drop_one), AP10K)
    assert_one_line(exc, "ann.json")
    assert "48" in str(exc.value) and "51" in str(exc.value)


def test_coco_no_annotations(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        load_coco_keypoints(coco_file(tmp_path, lambda d: d.update(annotations=[])), AP10K)
    assert_one_line(exc, "ann.json")


def test_coco_unlabelled_instances_are_dropped(tmp_path: Path) -> None:
    def unlabel(data):
        ann = data["annotations"][0]
        ann["keypoints"] = [0] * len(ann["keypoints"])
        ann["num_keypoints"] = 0

    _, samples = load_coco_keypoints(coco_file(tmp_path, unlabel), AP10K)
    assert [s.image_id for s in samples] == [4]


def dlc_project(tmp_path: Path, rows: int = 3, bodyparts=("nose", "leftear", "rightear")) -> Path:
    """A small single-animal DeepLabCut project (new three-column index CSV)."""
    folder = tmp_path / "proj" / "labeled-data" / "v1"
    folder.mkdir(parents=True)
    (tmp_path / "proj" / "config.yaml").write_text(
        "bodyparts:\n" + "".join(f"- {b}\n" for b in bodyparts) + "skeleton:\n- [nose, leftear]\n"
    )
    parts = ["nose", "leftear", "rightear"]
    lines = [
        ",,," + ",".join(["me"] * 6),
        "bodyparts,,," + ",".join(p for p in parts for _ in "xy"),
        "coords,,," + ",".join("xy" * 3),
    ]
    for i in range(rows):
        cv2.imwrite(str(folder / f"img{i}.png"), np.zeros((60, 80, 3), np.uint8))
        values = [10 + i, 20, "", "", 30, 25 + i] if i else ["", "", "", "", "", ""]
        lines.append(f"labeled-data,v1,img{i}.png," + ",".join(map(str, values)))
    lines[0] = "scorer" + lines[0]
    (folder / "CollectedData_me.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "proj"


def test_dlc_small_project(tmp_path: Path) -> None:
    meta, samples = load_dlc_project(dlc_project(tmp_path))
    assert len(samples) == 2  # frame 0 has no labelled keypoint
    assert meta.skeleton == ((0, 1),) and meta.flip_pairs == ((1, 2),)
    s = samples[0]
    np.testing.assert_allclose(s.keypoints, [[11, 20, 2], [0, 0, 0], [30, 26, 2]])
    # extent x 11..30, y 20..26; margin max(0.1 * 19, 10) = 10, clipped to the 80x60 image.
    np.testing.assert_allclose(s.bbox, [1, 10, 39, 26])
    assert s.image_size == (80, 60) and s.area == pytest.approx(39 * 26)


def test_dlc_missing_image(tmp_path: Path) -> None:
    project = dlc_project(tmp_path)
    (project / "labeled-data" / "v1" / "img2.png").unlink()
    with pytest.raises(InputError) as exc:
        load_dlc_project(project)
    assert_one_line(exc, "img2.png")


def test_dlc_bad_yaml(tmp_path: Path) -> None:
    project = dlc_project(tmp_path)
    (project / "config.yaml").write_text("bodyparts: [nose,\n  - : :\n")
    with pytest.raises(InputError) as exc:
        load_dlc_project(project)
    assert_one_line(exc, "config.yaml")


def test_dlc_keypoint_mismatch(tmp_path: Path) -> None:
    project = dlc_project(tmp_path, bodyparts=("nose", "leftear", "rightear", "tailbase"))
    with pytest.raises(InputError) as exc:
        load_dlc_project(project)
    assert_one_line(exc, "CollectedData_me.csv")
    assert "tailbase" in str(exc.value)


def test_dlc_no_annotations(tmp_path: Path) -> None:
    project = dlc_project(tmp_path)
    (project / "labeled-data" / "v1" / "CollectedData_me.csv").unlink()
    with pytest.raises(InputError) as exc:
        load_dlc_project(project)
    assert_one_line(exc, "proj")


def test_split_samples() -> None:
    samples = [
        KeypointSample(Path(f"im{i // 2}.png"), i // 2, 1, np.zeros(4), np.zeros((1, 3)), 1.0)
        for i in range(20)
    ]
    train, val = split_samples(samples, 3, seed=5)
    assert len(val) == 6 and len(train) == 14  # 3 images of two instances each
    assert not {s.image_path for s in train} & {s.image_path for s in val}
    again = split_samples(samples, 3, seed=5)
    assert [s.image_path for s in again[1]] == [s.image_path for s in val]
    other = split_samples(samples, 3, seed=6)[1]
    assert {s.image_path for s in other} != {s.image_path for s in val}
    with pytest.raises(ConfigError):
        split_samples(samples, 10, seed=0)


# --- torch dataset ---------------------------------------------------------------------------


def assert_item_shapes(item: TopDownItem, k: int, down: int, size: int = 256) -> None:
    shapes = {name: tuple(value.shape) for name, value in zip(item._fields, item, strict=True)}
    assert shapes == {
        "image": (3, size, size),
        "target": (k, 64, 64),
        "target_weight": (k, 1),
        "target_down": (k, down, down),
        "target_down_weight": (k, 1),
        "center": (2,),
        "scale": (2,),
        "rotation": (),
        "bbox": (4,),
        "joints": (k, 2),
        "visible": (k,),
        "area": (),
        "image_id": (),
        "category_id": (),
        "index": (),
    }
    assert item.image.dtype == torch.float32 and item.index.dtype == torch.int64


@pytest.mark.parametrize("train", [False, True])
def test_item_shapes_k17(train: bool) -> None:
    meta, samples = load_coco_keypoints(need(AP10K / "test_ap10k.json"), AP10K)
    ds = TopDownDataset(samples, meta, down_size=16, train=train, seed=0)
    perm = flip_permutation(17, meta.flip_pairs)
    flips = set()
    for epoch, i in [(e, i) for e in range(3) for i in range(len(ds))]:
        ds.set_epoch(epoch)
        item = ds[i]
        assert_item_shapes(item, 17, 16)
        aug = ds.augmentation(i, samples[i].image_size[0])  # the draw __getitem__ used
        assert np.array_equal(aug.visible, item.visible.numpy()[perm if aug.flipped else ...])
        # R_Eye is unlabelled in both samples: no weight on its channel (L_Eye's when flipped).
        assert item.target_weight[0 if aug.flipped else 1, 0] == 0
        assert (item.target_weight[:, 0] <= torch.from_numpy(aug.visible)).all()
        flips.add(aug.flipped)
    assert flips == ({False, True} if train else {False})


def test_item_shapes_k4_and_batches() -> None:
    meta, samples = load_dlc_project(need(OPENFIELD))
    ds = TopDownDataset(samples[:4], meta, input_size=(224, 224), down_size=16, train=True)
    assert_item_shapes(ds[0], 4, 16, size=224)
    batch = collate([ds[i] for i in range(3)])
    assert batch.image.shape == (3, 3, 224, 224) and batch.target.shape == (3, 4, 64, 64)
    loaded = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert isinstance(loaded, TopDownItem)
    for a, b in zip(batch, loaded, strict=True):
        assert torch.equal(a, b)


def test_val_item_targets_follow_the_crop() -> None:
    meta, samples = load_coco_keypoints(need(AP10K / "test_ap10k.json"), AP10K)
    ds = TopDownDataset(samples, meta, down_size=8, train=False)
    item = ds[0]
    sample = samples[0]
    x, y, w, h = sample.bbox
    crop = CropTransform.from_boxes(np.array([[x, y, x + w, y + h]]), (256, 256))
    np.testing.assert_allclose(item.center.numpy(), crop.center[0])
    np.testing.assert_allclose(item.scale.numpy(), crop.scale[0])
    joints_crop = crop.to_crop(sample.keypoints[None, :, :2])[0]
    visible = sample.keypoints[:, 2] > 0
    peaks = item.target.flatten(1).argmax(1).numpy()
    expected = np.floor(joints_crop / 4 + 0.5).astype(int)
    np.testing.assert_array_equal(peaks[visible] % 64, expected[visible, 0])
    np.testing.assert_array_equal(peaks[visible] // 64, expected[visible, 1])
    # The crop shows the image region: compare with a direct cv2 warp of the file.
    image = cv2.imread(str(sample.image_path))[..., ::-1].astype(np.float32) / 255
    direct = cv2.warpAffine(image, crop.matrix()[0], (256, 256), flags=cv2.INTER_LINEAR)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    restored = item.image.numpy().transpose(1, 2, 0) * std + mean
    assert np.abs(restored - direct).mean() < 0.01


def test_determinism_and_epochs() -> None:
    meta, samples = load_coco_keypoints(need(AP10K / "test_ap10k.json"), AP10K)
    a = TopDownDataset(samples, meta, train=True, seed=3)
    b = TopDownDataset(samples, meta, train=True, seed=3)
    for x, y in zip(a[1], b[1], strict=True):
        assert torch.equal(x, y)
    draws = []
    for epoch in range(300):
        a.set_epoch(epoch)
        draws.append(a.augmentation(0, 1200))
    flipped = np.array([d.flipped for d in draws])
    rotated = np.array([d.rotation != 0 for d in draws])
    base = [a.centers[0].copy() for _ in draws]
    for c, d in zip(base, draws, strict=True):
        if d.flipped:
            c[0] = 1200 - 1 - c[0]
    half_body = np.array([not np.allclose(d.center, c) for c, d in zip(base, draws, strict=True)])
    assert 0.4 < flipped.mean() < 0.6 and 0.5 < rotated.mean() < 0.7
    assert 0.2 < half_body.mean() < 0.4  # 16 visible joints > 8: half-body with p 0.3
    a.set_epoch(0)
    b.set_epoch(1)
    assert not torch.equal(a[0].image, b[0].image)
    c = TopDownDataset(samples, meta, train=True, seed=4)
    assert not np.array_equal(c.centers, a.centers) or not np.array_equal(c[0].image, a[0].image)


def test_coco_malformed_annotation(tmp_path: Path) -> None:
    def corrupt(data):
        data["annotations"][0]["bbox"] = "wide"

    with pytest.raises(InputError) as exc:
        load_coco_keypoints(coco_file(tmp_path, corrupt), AP10K)
    assert_one_line(exc, "ann.json")


def test_flip_pairs_from_the_config(tmp_path: Path) -> None:
    project = dlc_project(tmp_path)
    meta, _ = load_dlc_project(project, flip_pairs=[(0, 2)])
    assert meta.flip_pairs == ((0, 2),)
    with pytest.raises(ConfigError):
        load_dlc_project(project, flip_pairs=[(0, 3)])
    with pytest.raises(ConfigError):
        load_dlc_project(project, flip_pairs=[(0, 1), (1, 2)])


def test_dlc_multi_animal(tmp_path: Path) -> None:
    folder = tmp_path / "ma" / "labeled-data" / "v"
    folder.mkdir(parents=True)
    (tmp_path / "ma" / "config.yaml").write_text(
        "multianimalproject: true\nmultianimalbodyparts: [head, tail]\nuniquebodyparts: [cup]\n"
    )
    cv2.imwrite(str(folder / "a.png"), np.zeros((50, 60, 3), np.uint8))
    (folder / "CollectedData_x.csv").write_text(
        "scorer,x,x,x,x,x,x,x,x,x,x\n"
        "individuals,m1,m1,m1,m1,m2,m2,m2,m2,single,single\n"
        "bodyparts,head,head,tail,tail,head,head,tail,tail,cup,cup\n"
        "coords,x,y,x,y,x,y,x,y,x,y\n"
        "labeled-data/v/a.png,5,6,7,8,30,31,,,1,1\n"
    )
    meta, samples = load_dlc_project(tmp_path / "ma")
    assert meta.keypoint_names == ("head", "tail") and len(samples) == 2
    np.testing.assert_allclose(samples[0].keypoints, [[5, 6, 2], [7, 8, 2]])
    np.testing.assert_allclose(samples[1].keypoints, [[30, 31, 2], [0, 0, 0]])
