"""Faults in detector inputs, made for real: malformed box files and malicious weights.

Each bad file must give one :class:`~wildpose.errors.InputError` / ModelError line naming the
file and the entry, never a traceback or a silently wrong box.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from wildpose.detect import DetectorOptions, build_detector
from wildpose.errors import InputError, ModelError
from wildpose.types import Frame

H, W = 48, 80


def _frames(n: int = 3) -> list[Frame]:
    return [Frame(i, i / 10, np.zeros((H, W, 3), np.uint8)) for i in range(n)]


def _build(spec: str, **kw):
    return build_detector(DetectorOptions(model=spec, conf=0.0), **kw)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("0,1,2,30,40\n1,nan,2,30,40\n", "row 2 (line 3): x1 must be a finite number, got 'nan'"),
        ("0,1,2,inf,40\n", "row 1 (line 2): x2 must be a finite number, got 'inf'"),
        ("0,1,2,30,40\n1.5,1,2,30,40\n", "row 2 (line 3): frame must be a whole frame number"),
        ("0,1,2,30,40\n,1,2,30,40\n", "row 2 (line 3): frame must be a whole frame number"),
        ("-1,1,2,30,40\n", "row 1 (line 2): frame must be a whole frame number >= 0"),
        ("0,1,2,30,4O\n", "row 1 (line 2): y2 must be a finite number, got '4O'"),
    ],
)
def test_box_csv_bad_values(tmp_path: Path, rows: str, expected: str) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text("frame,x1,y1,x2,y2\n" + rows)
    with pytest.raises(InputError) as info:
        _build(f"boxes:{path}")
    assert _one_line(info).startswith(f"{path}: {expected}"), _one_line(info)


def test_box_csv_bad_score(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text("frame,x1,y1,x2,y2,score\n0,1,2,30,40,high\n")
    with pytest.raises(InputError, match=r"row 1 \(line 2\): score must be a finite number"):
        _build(f"boxes:{path}")


def _det(**kw) -> dict:
    return {"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.5, 0.5], **kw}


def _md(path: Path, images, **top) -> Path:
    path.write_text(json.dumps({"images": images, "detection_categories": {"1": "animal"}, **top}))
    return path


GOOD = {"file": "v.mp4/frame000000.jpg", "detections": [_det()]}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"file": "a.jpg", "detections": [{"category": "1", "conf": 0.9}]}, "has no bbox"),
        (
            {"file": "a.jpg", "detections": [_det(bbox=[0.1, 0.2])]},
            "images[1] ('a.jpg'): detections[0]: bbox must have 4 numbers [x, y, w, h], got 2",
        ),
        (
            {"file": "a.jpg", "detections": [_det(conf="high")]},
            "images[1] ('a.jpg'): detections[0]: conf must be a finite number, got \"high\"",
        ),
        (
            {"file": "a.jpg", "detections": [_det(bbox=[0.1, float("nan"), 0.5, 0.5])]},
            "bbox must have 4 finite numbers",
        ),
        ({"file": "a.jpg", "detections": [_det(bbox=[0.1, True, 0.5, 0.5])]}, "4 finite"),
        ({"detections": []}, "images[1]: 'file' must be a file name, got null"),
        ({"file": "a.jpg", "detections": {"bbox": 1}}, "'detections' must be a list"),
        ("a.jpg", "images[1] must be an object"),
    ],
)
def test_megadetector_bad_entries(tmp_path: Path, entry, expected: str) -> None:
    path = _md(tmp_path / "md.json", [GOOD, entry])
    with pytest.raises(InputError) as info:
        _build(f"boxes:{path}")
    assert _one_line(info).startswith(f"{path}: ") and expected in _one_line(info)


def test_megadetector_bad_top_level(tmp_path: Path) -> None:
    path = tmp_path / "md.json"
    path.write_text(json.dumps({"images": {"a.jpg": GOOD}}))
    with pytest.raises(InputError, match="'images' must be a list of entries, got an object"):
        _build(f"boxes:{path}")
    path.write_text(json.dumps([GOOD]))
    with pytest.raises(InputError, match="top level is a list"):
        _build(f"boxes:{path}")
    path.write_text('{"images": [')
    with pytest.raises(InputError, match="not a MegaDetector batch output file"):
        _build(f"boxes:{path}")
    _md(path, [GOOD], detection_categories=["animal"])
    with pytest.raises(InputError, match="'detection_categories' must map ids to names"):
        _build(f"boxes:{path}")


def test_megadetector_inputs_not_covered_fail_alone(tmp_path: Path) -> None:
    """A file of some videos' frames: other inputs fail as inputs (exit 1), not config (2)."""
    images = [{**GOOD, "file": f"{v}.mp4/frame{i:06d}.jpg"} for v in "ab" for i in range(2)]
    path = _md(tmp_path / "md.json", images)
    assert [len(d) for d in _build(f"boxes:{path}", source="/x/b.mp4").detect(_frames())] == [
        1,
        1,
        0,
    ]
    with pytest.raises(InputError, match="box file has no frames of c.mp4"):
        _build(f"boxes:{path}", source="/x/c.mp4")
    with pytest.raises(InputError, match="no entry for any of the 2 images"):
        _build(f"boxes:{path}", source="/x/burst", image_names=["/x/p1.jpg", "/x/p2.jpg"])


def test_box_file_names_stay_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "new\nline"
    folder.mkdir()
    path = _md(folder / "md.json", [GOOD, {"file": "a.jpg", "detections": [_det(bbox=[1])]}])
    with pytest.raises(InputError) as info:
        _build(f"boxes:{path}")
    assert "new\\nline/md.json: images[1]" in _one_line(info)


# ---------------------------------------------------------------------------------------------
# malicious weights


class _WritesFile:
    """Unpickling this calls ``os.system`` (a checkpoint that runs code when loaded)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


class _OpensFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (exec, (f"open({str(self.target)!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("payload", [_WritesFile, _OpensFile])
@pytest.mark.parametrize("layout", ["torch-zip", "raw-pickle"])
def test_malicious_detector_weights_do_not_run(tmp_path: Path, payload, layout: str) -> None:
    import pickle

    import torch

    target = tmp_path / "created-by-the-checkpoint"
    weights = tmp_path / "evil.pt"
    ckpt = {"model": payload(target), "train_args": {}}
    if layout == "torch-zip":
        torch.save(ckpt, weights)
    else:
        weights.write_bytes(pickle.dumps(ckpt))
    with pytest.raises(ModelError) as info:
        _build(str(weights))
    assert not target.exists(), "loading detector weights ran code from the checkpoint"
    text = _one_line(info)
    assert text.startswith(f"{weights}: refusing to") or text.startswith(
        f"{weights}: cannot load detector weights: not a torch checkpoint archive"
    ), text
    if layout == "torch-zip":
        assert ("system" if payload is _WritesFile else "builtins.exec") in text


def test_model_yaml_activation_is_not_evaluated(tmp_path: Path) -> None:
    """Ultralytics eval()s a model YAML's ``activation`` unless its restricted mode is on."""
    import yaml

    from wildpose.adapters.ultralytics import import_ultralytics

    import_ultralytics()
    from ultralytics.nn.tasks import yaml_model_load

    target = tmp_path / "created-by-the-yaml"
    spec = yaml_model_load("yolo11n.yaml")
    spec = {k: v for k, v in spec.items() if k != "yaml_file"}
    spec["activation"] = f"__import__('os').system('touch {target}')"
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ModelError) as info:
        _build(str(path))
    assert not target.exists(), "building a detector from a YAML ran its activation string"
    assert _one_line(info).startswith(f"{path}: cannot load detector")
