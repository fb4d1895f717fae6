"""wildpose train-detector: YOLO dataset from keypoint boxes, offline training, errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from synth import write_coco

from wildpose.adapters.ultralytics import offline_ultralytics
from wildpose.cli import main
from wildpose.config.base import validate
from wildpose.config.detector import DetectorTrainConfig
from wildpose.errors import ConfigError, InputError, ModelError
from wildpose.train.coco import load_coco_keypoints
from wildpose.train.detector_eval import greedy_matches
from wildpose.train.detector_train import resolve_model, train_arguments, train_detector
from wildpose.train.dlc import load_dlc_project
from wildpose.train.samples import split_samples
from wildpose.train.yolo_dataset import class_map, load_keypoint_data, write_yolo_dataset

OPENFIELD = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dlc-openfield"


@pytest.fixture
def network_log(monkeypatch: pytest.MonkeyPatch) -> list:
    """Records (and refuses) every DNS lookup and connection to a non-loopback host."""
    attempts: list = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    local = ("localhost", "127.0.0.1", "::1")

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and host not in local:
            attempts.append(("dns", host))
            raise socket.gaierror(f"test refused a DNS lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address, *args, **kwargs):
        host = address[0] if isinstance(address, tuple) else address
        if self.family != socket.AF_UNIX and host not in local and not str(host).startswith("127."):
            attempts.append(("connect", address))
            raise OSError(f"test refused a connection to {address}")
        return real_connect(self, address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """8 generated 160x120 images, one animal each, categories vole / zebra alternating."""
    return write_coco(tmp_path_factory.mktemp("coco"), n_images=8, size=(160, 120), seed=3)


def read_labels(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.loadtxt(p, ndmin=2) for p in sorted(folder.glob("*.txt"))}


def test_labels_equal_the_boxes(coco: tuple[Path, Path], tmp_path: Path) -> None:
    meta, samples = load_coco_keypoints(*coco)
    train, val = split_samples(samples, 3, seed=0)
    names, class_of = class_map(meta, samples, single_class=False)
    assert names == ("vole", "zebra") and class_of == {1: 0, 2: 1}
    ds = write_yolo_dataset(train, val, names, class_of, tmp_path / "ds")

    spec = yaml.safe_load(ds.yaml_path.read_text())
    assert spec["names"] == {0: "vole", 1: "zebra"}
    assert Path(spec["train"]).is_absolute() and Path(spec["train"]).name == "train"
    assert Path(spec["val"]).name == "val"
    assert ds.instances == {"train": 5, "val": 3}
    for split, part in (("train", train), ("val", val)):
        images = sorted((tmp_path / "ds" / "images" / split).iterdir())
        sources = [p.resolve() for p in images]
        assert sources == [s.image_path.resolve() for s in part]  # written in sample order
        labels = read_labels(tmp_path / "ds" / "labels" / split)
        assert sorted(labels) == [p.stem for p in images]
        for image, sample in zip(images, part, strict=True):
            row = labels[image.stem][0]
            w, h = sample.image_size
            x, y, bw, bh = sample.bbox
            expected = [class_of[sample.category_id], (x + bw / 2) / w, (y + bh / 2) / h, bw / w,
                        bh / h]  # fmt: skip
            np.testing.assert_allclose(row, expected, atol=1e-6)
    assert set(ds.train).isdisjoint(ds.val)


def test_single_class_and_rewrite(coco: tuple[Path, Path], tmp_path: Path) -> None:
    meta, samples = load_coco_keypoints(*coco)
    names, class_of = class_map(meta, samples, single_class=True)
    assert names == ("animal",) and set(class_of.values()) == {0}
    root = tmp_path / "ds"
    write_yolo_dataset(samples[:3], [], names, class_of, root)
    ds = write_yolo_dataset(samples, [], names, class_of, root)  # replaces the first one
    assert len(list((root / "labels" / "train").glob("*.txt"))) == len(samples)
    spec = yaml.safe_load(ds.yaml_path.read_text())
    assert spec["val"] == spec["train"]  # nothing held out: validate on the training images
    rows = np.concatenate(list(read_labels(root / "labels" / "train").values()))
    assert (rows[:, 0] == 0).all()
    assert not list(tmp_path.glob(".ds.*"))  # no temporary folder left behind
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match="not a dataset written by train-detector"):
        write_yolo_dataset(samples, [], names, class_of, tmp_path / "mine")


def dlc_project(root: Path, n: int = 6) -> Path:
    """A single-animal DeepLabCut project: dark blobs on a light 96x64 background."""
    folder = root / "labeled-data" / "s1"
    folder.mkdir(parents=True)
    (root / "config.yaml").write_text("bodyparts: [snout, tailbase]\nskeleton: []\n")
    rows = ["scorer,me,me,me,me", "bodyparts,snout,snout,tailbase,tailbase", "coords,x,y,x,y"]
    rng = np.random.default_rng(0)
    for i in range(n):
        snout = rng.uniform([20, 15], [76, 49])
        tail = snout + rng.uniform(-15, 15, 2)
        image = np.full((64, 96, 3), 220, np.uint8)
        cv2.line(image, tuple(snout.astype(int)), tuple(tail.astype(int)), (30, 30, 30), 6)
        cv2.imwrite(str(folder / f"img{i}.png"), image)
        rows.append(f"labeled-data/s1/img{i}.png,{snout[0]},{snout[1]},{tail[0]},{tail[1]}")
    (folder / "CollectedData_me.csv").write_text("\n".join(rows) + "\n")
    return root


def test_dlc_boxes_become_labels(tmp_path: Path) -> None:
    project = dlc_project(tmp_path / "proj")
    meta, samples, kind = load_keypoint_data(project)
    assert kind == "dlc" and len(samples) == 6
    names, class_of = class_map(meta, samples, single_class=False)
    assert names == ("animal",)  # a DeepLabCut project's one category
    write_yolo_dataset(samples, [], names, class_of, tmp_path / "ds")
    labels = np.concatenate(list(read_labels(tmp_path / "ds" / "labels" / "train").values()))
    xyxy = np.concatenate([labels[:, 1:3] - labels[:, 3:] / 2, labels[:, 1:3] + labels[:, 3:] / 2],
                          axis=1) * [96, 64, 96, 64]  # fmt: skip
    boxes = np.stack([s.bbox for s in samples])
    np.testing.assert_allclose(xyxy, np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1),
                               atol=1e-3)  # fmt: skip


def test_matching() -> None:
    from supervision import box_iou_batch

    gt = np.array([[0, 0, 10, 10], [4, 0, 14, 10]])
    dets = np.array([[3, 0, 13, 10], [0, 0, 10, 10], [1, 0, 11, 10]])  # best first
    # the first detection overlaps the second box most (0.82 vs 0.54), the second then takes
    # the first box, the third (a duplicate) finds both taken
    assert greedy_matches(box_iou_batch(gt, dets)) == 2
    assert greedy_matches(box_iou_batch(gt, dets[2:])) == 1
    assert greedy_matches(box_iou_batch(gt, np.zeros((0, 4)))) == 0
    assert greedy_matches(np.zeros((1, 0))) == 0


def test_train_arguments_are_cheap_and_offline(tmp_path: Path) -> None:
    cfg = DetectorTrainConfig(epochs=12, batch=8, device="cpu", extra={"flipud": 0.5})
    args = train_arguments(cfg, tmp_path / "data.yaml", tmp_path)
    assert args["device"] == "cpu" and args["amp"] is False and args["plots"] is False
    assert args["val"] is False and args["nbs"] == 8 and args["flipud"] == 0.5
    assert args["project"] == str(tmp_path) and args["exist_ok"] is True
    with pytest.raises(ConfigError, match="settings: 'extra.epochs' is set by its own option"):
        validate(DetectorTrainConfig, {"extra": {"epochs": 3}}, "settings")
    for key, value in [("epochs", 0), ("imgsz", 0), ("batch", 0), ("n_val", -1), ("threads", 0)]:
        with pytest.raises(ConfigError, match=f"'{key}' must be >= "):
            validate(DetectorTrainConfig, {key: value}, "settings")


def test_network_log_sees_ultralytics_font_download(network_log: list, tmp_path: Path) -> None:
    """Without offline_ultralytics, checking a dataset fetches a font: the log must see it."""
    from ultralytics.utils.checks import check_font

    assert check_font("wildpose-test-missing-font.ttf") is None
    assert network_log, "the network recorder missed ultralytics' font download"


def test_dataset_check_is_offline(network_log: list, coco: tuple[Path, Path], tmp_path: Path):
    meta, samples = load_coco_keypoints(*coco)
    ds = write_yolo_dataset(samples, [], *class_map(meta, samples, True), tmp_path / "ds")
    with offline_ultralytics():
        from ultralytics.data.utils import check_det_dataset

        data = check_det_dataset(str(ds.yaml_path))
    assert data["names"] == {0: "animal"}
    assert network_log == []


def test_train_detector_cli(network_log: list, coco: tuple[Path, Path], tmp_path: Path) -> None:
    """One epoch at 64 px through the CLI: best.pt loads in build_detector and runs offline."""
    from wildpose.detect import DetectorOptions, UltralyticsDetector, build_detector
    from wildpose.types import Frame

    out = tmp_path / "det"
    argv = ["train-detector", str(coco[0]), "--images", str(coco[1]), "-o", str(out),
            "--epochs", "1", "--imgsz", "64", "--batch", "4", "--val", "2", "--device", "cpu",
            "--per-species", "-q"]  # fmt: skip
    import torch

    threads = torch.get_num_threads()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert network_log == []
    assert torch.get_num_threads() == threads  # ultralytics' select_device would lower it
    report = json.loads((out / "train-detector.json").read_text())
    assert report["classes"] == ["vole", "zebra"] and report["kind"] == "coco"
    assert report["ultralytics_args"]["epochs"] == 1 and report["split"]["n_val"] == 2
    assert len(report["split"]["val_images"]) == 2 and report["heldout"]["boxes"] == 2
    assert set(report["metrics"]) == {"mAP50", "mAP50-95", "precision", "recall"}
    assert report["seconds"]["total"] > report["seconds"]["train"] > 0
    assert (out / "run" / "weights" / "last.pt").is_file()

    detector = build_detector(DetectorOptions(str(out / "best.pt"), imgsz=64, conf=0.0))
    assert isinstance(detector, UltralyticsDetector)
    assert detector.names == {0: "vole", 1: "zebra"} and detector.class_ids is None
    image = cv2.imread(str(next(coco[1].glob("*.png"))))[..., ::-1]
    (det,) = detector.detect([Frame(index=0, time_s=0.0, image=np.ascontiguousarray(image))])
    assert det.xyxy.shape[1] == 4 and set(det.class_name) <= {"vole", "zebra"}

    # fine-tune those weights further (a local .pt start), nothing held out, one class
    cfg = DetectorTrainConfig(model=str(out / "best.pt"), epochs=1, imgsz=64, batch=4, n_val=0,
                              device="cpu")  # fmt: skip
    again = train_detector(coco[0], tmp_path / "again", cfg, images=coco[1])
    assert again.summary["model"] == str((out / "best.pt").resolve())
    assert again.summary["heldout"] is None and again.summary["split"]["val_images"] == []
    assert build_detector(DetectorOptions(str(again.best), imgsz=64)).names == {0: "animal"}
    assert network_log == []


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code), capsys.readouterr().err.strip()


def test_cli_errors(coco: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nothing.json"
    code, err = run_cli(["train-detector", str(missing), "-o", str(tmp_path / "o")], capsys)
    assert code == 1 and str(missing) in err and "not found" in err and "\n" not in err
    code, err = run_cli(["train-detector", str(coco[0]), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "--images" in err and str(coco[0]) in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, err = run_cli(["train-detector", str(bad), "--images", str(coco[1])], capsys)
    assert code == 1 and str(bad) in err and "JSON" in err and "\n" not in err
    code, err = run_cli(["train-detector", str(coco[0]), "--images", str(coco[1]),
                         "--model", "nosuchmodel.yaml"], capsys)  # fmt: skip
    assert code == 2 and "nosuchmodel.yaml" in err and "neither a local file" in err
    code, err = run_cli(["train-detector", str(coco[0]), "--images", str(coco[1]),
                         "--arg", "nosuchthing=1"], capsys)  # fmt: skip
    assert code == 2 and "nosuchthing" in err
    assert not (tmp_path / "o").exists()  # nothing written before the arguments are checked


def test_resolve_model(network_log: list, tmp_path: Path) -> None:
    assert resolve_model("yolo11n.yaml") == "yolo11n.yaml"
    import torch

    weights = tmp_path / "w.pt"
    torch.save({"train_args": {}}, weights)  # plain data: passes the pickle check
    assert resolve_model(str(weights)) == str(weights.resolve())
    weights.write_bytes(b"")
    with pytest.raises(ModelError, match="not a torch checkpoint archive"):
        resolve_model(str(weights))  # checked before anything is written
    with pytest.raises(ConfigError, match="nothing is downloaded"):
        resolve_model("yolo11n.pt")  # a name ultralytics would download
    with pytest.raises(ConfigError, match="must be a .pt"):
        resolve_model(str(tmp_path))  # a folder is no model
    with pytest.raises(ConfigError, match="neither a local file"):
        resolve_model("nosuch.yaml")
    assert network_log == []


def test_load_keypoint_data_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="training data not found"):
        load_keypoint_data(tmp_path / "missing")
    with pytest.raises(InputError, match="config.yaml not found"):
        load_keypoint_data(tmp_path)  # a folder that is no DeepLabCut project
    with pytest.raises(ConfigError, match="not a DeepLabCut project"):
        load_keypoint_data(tmp_path, images=tmp_path)


@pytest.mark.slow
def test_openfield_artefacts(network_log: list, tmp_path: Path) -> None:
    """Two epochs on the real DeepLabCut project: the split and the artefacts."""
    if not OPENFIELD.is_dir():
        pytest.skip(f"real test data not found at {OPENFIELD} (../shared/data beside the repo)")
    cfg = DetectorTrainConfig(epochs=2, imgsz=160, device="cpu")
    result = train_detector(OPENFIELD, tmp_path / "det", cfg)
    assert result.best.is_file() and result.report.is_file()
    _, samples = load_dlc_project(OPENFIELD)
    _, val = split_samples(samples, 16, 0)
    s = result.summary
    assert s["split"]["val_images"] == [str(v.image_path) for v in val]
    assert s["split"]["instances"] == {"train": 100, "val": 16}
    assert s["heldout"]["images"] == 16 and 0.0 <= s["heldout"]["mean_iou"] <= 1.0
    labels = list((tmp_path / "det" / "dataset" / "labels" / "val").glob("*.txt"))
    assert len(labels) == 16
    assert network_log == []


def test_ultralytics_training_errors_are_one_line(
    network_log: list, coco: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    """An error raised inside ultralytics' trainer (an optimizer it does not know) is one line
    naming the model and the data, exit 1; --debug keeps the traceback."""
    argv = ["train-detector", str(coco[0]), "--images", str(coco[1]), "-o", str(tmp_path / "o"),
            "--epochs", "1", "--imgsz", "64", "--batch", "4", "--val", "0", "--device", "cpu",
            "--arg", "optimizer=Nope", "-q"]  # fmt: skip
    code, err = run_cli(argv, capsys)
    line = err.splitlines()[-1]
    assert code == 1 and "Traceback" not in err, err
    assert line.startswith("wildpose: error: detector training failed (model yolo11n.yaml, data ")
    assert str(coco[0]) in line and "NotImplementedError: Optimizer 'Nope' not found" in line
    with pytest.raises(Exception) as info:
        cfg = DetectorTrainConfig(epochs=1, imgsz=64, batch=4, n_val=0, device="cpu",
                                  extra={"optimizer": "Nope"})  # fmt: skip
        train_detector(coco[0], tmp_path / "o2", cfg, images=coco[1])
    assert isinstance(info.value.__cause__, NotImplementedError)
    assert network_log == []


def test_malicious_start_weights_do_not_run(coco: tuple[Path, Path], tmp_path: Path) -> None:
    import os

    import torch

    target = tmp_path / "created-by-the-checkpoint"

    class WritesFile:
        def __reduce__(self):
            return (os.system, (f"touch {target}",))

    weights = tmp_path / "evil.pt"
    torch.save({"model": WritesFile()}, weights)
    cfg = DetectorTrainConfig(model=str(weights), epochs=1, imgsz=64, batch=4, n_val=0,
                              device="cpu")  # fmt: skip
    with pytest.raises(Exception, match="refusing to load detector weights") as info:
        train_detector(coco[0], tmp_path / "o", cfg, images=coco[1])
    assert not target.exists() and "\n" not in str(info.value)
    assert not (tmp_path / "o").exists()  # refused before anything is written
