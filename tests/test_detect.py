"""Tests for wildpose.detect: full-frame, box files, and ultralytics models built from YAML.

Ultralytics models here have random weights (built from a model YAML) and the network is made
unreachable: any connection attempt is recorded and fails.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import yaml

from wildpose.detect import COCO_ANIMALS, DetectorOptions, build_detector, default_classes
from wildpose.errors import ConfigError, InputError, ModelError
from wildpose.types import Frame

H, W = 48, 80


def build(model: str, *, source=None, image_names=None, **options):
    """build_detector for ``DetectorOptions(model=model, **options)``."""
    return build_detector(
        DetectorOptions(model=model, **options), source=source, image_names=image_names
    )


@pytest.fixture
def frames() -> list[Frame]:
    rng = np.random.default_rng(0)
    return [Frame(i, i / 30, rng.integers(0, 255, (H, W, 3), dtype=np.uint8)) for i in range(3)]


@pytest.fixture
def no_network(monkeypatch) -> list[tuple]:
    """Makes every DNS lookup or connection fail, and records the attempts."""
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return attempts


def test_full_frame(frames):
    out = build("full-frame").detect(frames)
    assert len(out) == len(frames)
    for det in out:
        np.testing.assert_array_equal(det.xyxy, [[0, 0, W, H]])
        assert det.xyxy.dtype == np.float32 and det.score.tolist() == [1.0]
        assert det.class_name.dtype == object and det.class_name.tolist() == ["animal"]


def test_box_csv(tmp_path, frames):
    path = tmp_path / "boxes.csv"
    path.write_text(
        "frame,x1,y1,x2,y2,score,class_name\n"
        "2,1,2,30,40,0.9,dog\n"
        "0,5,6,20,25,0.8,cat\n"
        "0,10,11,50,45,0.1,dog\n"
        "7,0,0,5,5,0.9,dog\n"
    )
    out = build(f"boxes:{path}", conf=0.0).detect(frames)
    assert [len(d) for d in out] == [2, 0, 1]
    np.testing.assert_array_equal(out[0].xyxy, [[5, 6, 20, 25], [10, 11, 50, 45]])
    np.testing.assert_allclose(out[0].score, [0.8, 0.1])
    assert out[2].class_name.tolist() == ["dog"]
    assert [len(d) for d in build(f"boxes:{path}", conf=0.5).detect(frames)] == [1, 0, 1]
    only_cats = build(f"boxes:{path}", classes=("cat",), conf=0.0).detect(frames)
    assert [d.class_name.tolist() for d in only_cats] == [["cat"], [], []]


def test_box_csv_defaults_and_errors(tmp_path, frames):
    path = tmp_path / "boxes.csv"
    path.write_text("frame,x1,y1,x2,y2\n1,1,2,3,4\n")
    out = build(f"boxes:{path}").detect(frames)
    assert out[1].score.tolist() == [1.0] and out[1].class_name.tolist() == ["animal"]
    path.write_text("frame,x1,y1,x2\n1,1,2,3\n")
    with pytest.raises(InputError, match="y2"):
        build(f"boxes:{path}")
    with pytest.raises(InputError, match="not found"):
        build(f"boxes:{tmp_path / 'missing.csv'}")


def megadetector_json(path, files: list[str]) -> None:
    images = [
        {
            "file": name,
            "detections": [
                {"category": "1", "conf": 0.9, "bbox": [0.25, 0.5, 0.5, 0.25]},
                {"category": "2", "conf": 0.7, "bbox": [0.0, 0.0, 0.1, 0.1]},
                {"category": "1", "conf": 0.05, "bbox": [0.0, 0.0, 1.0, 1.0]},
            ],
        }
        for name in files
    ]
    images.append({"file": files[0].replace("0", "9"), "failure": "corrupt", "detections": None})
    categories = {"1": "animal", "2": "person", "3": "vehicle"}
    path.write_text(json.dumps({"images": images, "detection_categories": categories}))


def test_megadetector_json_video_frames(tmp_path, frames):
    path = tmp_path / "md.json"
    megadetector_json(path, ["site/v.mp4/frame000000.jpg", "site/v.mp4/frame000002.jpg"])
    out = build(f"boxes:{path}", conf=0.2).detect(frames)
    assert [len(d) for d in out] == [1, 0, 1]
    np.testing.assert_allclose(out[0].xyxy, [[0.25 * W, 0.5 * H, 0.75 * W, 0.75 * H]])
    assert out[0].class_name.tolist() == ["animal"]  # MegaDetector: animals only by default
    people = build(f"boxes:{path}", classes=("person",), conf=0.2).detect(frames)
    assert people[2].class_name.tolist() == ["person"]


def test_megadetector_json_several_videos(tmp_path, frames):
    path = tmp_path / "md.json"
    megadetector_json(path, ["a.mp4/frame000001.jpg", "b.mp4/frame000002.jpg"])
    with pytest.raises(ConfigError, match="2 videos"):
        build(f"boxes:{path}")
    out = build(f"boxes:{path}", source="/data/b.mp4").detect(frames)
    assert [len(d) for d in out] == [0, 0, 1]
    with pytest.raises(InputError, match="no frames of c.mp4"):  # that input's failure
        build(f"boxes:{path}", source="c.mp4")


def test_megadetector_json_image_sequence(tmp_path, frames):
    path = tmp_path / "md.json"
    megadetector_json(path, ["cam1/IMG_0002.JPG", "cam2/IMG_0001.JPG"])
    names = ["/data/cam1/IMG_0001.JPG", "/data/cam1/IMG_0002.JPG", "/data/cam1/IMG_0003.JPG"]
    out = build(f"boxes:{path}", image_names=names, conf=0.2).detect(frames)
    assert [len(d) for d in out] == [0, 1, 0]  # cam2/IMG_0001.JPG is another folder
    with pytest.raises(InputError, match="does not cover this video"):
        build(f"boxes:{path}")
    with pytest.raises(
        InputError, match=r"no entry for any of the 1 images of this input \(first: x.jpg\)"
    ):
        build(f"boxes:{path}", image_names=["/data/cam1/x.jpg"])


def test_missing_weights_fail_without_download(tmp_path, monkeypatch, no_network):
    monkeypatch.chdir(tmp_path)
    for name in ["yolo11n.pt", "MDV6-yolov10-e.pt", "model.onnx"]:
        with pytest.raises(ModelError) as info:
            build(name)
        message = str(info.value)
        assert name in message and "download" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
    assert no_network == []


def test_corrupt_weights(tmp_path, no_network):
    path = tmp_path / "broken.pt"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ModelError, match="cannot load detector") as info:
        build(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert no_network == []


def test_unknown_spec():
    with pytest.raises(ConfigError, match="unknown detector"):
        build("yolo-please")


def test_default_classes():
    assert default_classes(["person", *COCO_ANIMALS, "car"]) == list(COCO_ANIMALS)
    assert default_classes(["animal", "person", "vehicle"]) == ["animal"]
    assert default_classes(["mouse", "rat"]) is None


@pytest.fixture(scope="module")
def coco_yaml(tmp_path_factory):
    """yolo11n with COCO's class names (random weights)."""
    from ultralytics.utils import ROOT

    config = yaml.safe_load((ROOT / "cfg/models/11/yolo11.yaml").read_text())
    coco = yaml.safe_load((ROOT / "cfg/datasets/coco.yaml").read_text())["names"]
    config["names"] = [coco[i] for i in range(80)]
    path = tmp_path_factory.mktemp("models") / "yolo11n-coco.yaml"  # 'n': the scale
    path.write_text(yaml.safe_dump(config))
    return path


def favouring(path, class_id: int, **kwargs):
    """A random model biased so that every box is ``class_id`` (score ~1).

    The bias must be set before the first ``detect``: ultralytics fuses the model then.
    """
    detector = build(str(path), conf=0.5, imgsz=64, **kwargs)
    for branch in detector.model.model.model[-1].cv3:
        branch[-1].bias.data[:] = -10.0
        branch[-1].bias.data[class_id] = 10.0
    return detector


def test_yaml_model_detects_offline(frames, no_network):
    detector = build("yolo11n.yaml", conf=0.0, imgsz=64, max_det=20)
    before = [f.image.copy() for f in frames]
    out = detector.detect(frames)
    assert len(out) == len(frames)
    for det in out:
        assert 0 < len(det) <= 20
        assert det.xyxy.dtype == np.float32 and det.xyxy.shape == (len(det), 4)
        assert det.score.dtype == np.float32 and det.class_name.dtype == object
        assert (det.xyxy[:, [0, 2]] <= W).all() and (det.xyxy[:, [1, 3]] <= H).all()
    for frame, image in zip(frames, before, strict=True):
        np.testing.assert_array_equal(frame.image, image)
    assert detector.detect([]) == []
    assert no_network == []


def test_class_filter_with_coco_names(coco_yaml, frames, no_network):
    cat, person = 15, 0
    default = favouring(coco_yaml, cat)
    assert [default.names[i] for i in default.class_ids] == sorted(
        COCO_ANIMALS, key=list(default.names.values()).index
    )
    assert all(len(d) > 0 and set(d.class_name) == {"cat"} for d in default.detect(frames))
    people_only = favouring(coco_yaml, person)
    assert all(len(d) == 0 for d in people_only.detect(frames))  # people are not animals
    asked = favouring(coco_yaml, person, classes=("person",))
    assert all(len(d) > 0 and set(d.class_name) == {"person"} for d in asked.detect(frames))
    not_asked = favouring(coco_yaml, cat, classes=("person", "dog"))
    assert all(len(d) == 0 for d in not_asked.detect(frames))
    assert no_network == []


def test_unknown_class_and_bad_names(coco_yaml, tmp_path):
    with pytest.raises(ConfigError, match="no class unicorn"):
        build(str(coco_yaml), classes=("unicorn",))
    config = yaml.safe_load(coco_yaml.read_text())
    config["names"] = ["animal", "person"]
    bad = tmp_path / "yolo11n-two.yaml"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="2 names for 80 classes"):
        build(str(bad))


def test_megadetector_like_model_keeps_animals(coco_yaml, tmp_path):
    config = yaml.safe_load(coco_yaml.read_text())
    config.update(nc=3, names=["animal", "person", "vehicle"])
    path = tmp_path / "yolo11n-md.yaml"
    path.write_text(yaml.safe_dump(config))
    assert build(str(path)).class_ids == [0]
    assert build(str(path), classes=("vehicle", "person")).class_ids == [1, 2]


def test_default_input_size_is_the_training_size():
    from types import SimpleNamespace

    from wildpose.detect import UltralyticsDetector

    trained = SimpleNamespace(overrides={"imgsz": 256}, names={0: "animal"})
    unknown = SimpleNamespace(overrides={}, names={0: "animal"})
    default = DetectorOptions(imgsz=None, max_det=5)
    assert UltralyticsDetector(trained, None, default).predict_args["imgsz"] == 256
    assert UltralyticsDetector(unknown, None, default).predict_args["imgsz"] == 640
    asked = DetectorOptions(imgsz=320, max_det=5)
    assert UltralyticsDetector(trained, None, asked).predict_args["imgsz"] == 320


def test_half_asks_ultralytics_for_fp16():
    from types import SimpleNamespace

    from wildpose.adapters.ultralytics import known_train_arguments
    from wildpose.detect import UltralyticsDetector

    model = SimpleNamespace(overrides={}, names={0: "animal"})
    args = UltralyticsDetector(model, None, DetectorOptions(half=True)).predict_args
    fp16 = {"quantize": "fp16"} if "quantize" in known_train_arguments() else {"half": True}
    assert fp16.items() <= args.items()
    assert "quantize" not in UltralyticsDetector(model, None, DetectorOptions()).predict_args


def test_options():
    options = DetectorOptions(classes=["cat", "dog"])  # a list from a caller: kept as a tuple
    assert options.classes == ("cat", "dog")
    assert hash(options) == hash(DetectorOptions(classes=("cat", "dog")))  # usable as a key
    assert DetectorOptions(model="boxes:b.csv").per_input
    assert not DetectorOptions().per_input and not DetectorOptions(model="full-frame").per_input


@pytest.mark.gpu
def test_fp16_on_cuda(frames, no_network):
    """``half`` goes through ultralytics' fp16 switch (``quantize`` in 8.4) and still gives
    float32 boxes in image px."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    detector = build("yolo11n.yaml", conf=0.0, imgsz=64, device="cuda", half=True)
    for det in detector.detect(frames):
        assert 0 < len(det) and det.xyxy.dtype == np.float32 and det.score.dtype == np.float32
        assert (det.xyxy[:, [0, 2]] <= W).all() and (det.xyxy[:, [1, 3]] <= H).all()
    assert no_network == []
