"""Manifests: keypoint sets, weights sources, detector manifests, and every shipped file."""

from __future__ import annotations

import pytest

from wildpose.errors import ModelError
from wildpose.keypoints import AP10K
from wildpose.pose.manifest import (
    DetectorManifest,
    Manifest,
    WeightsSource,
    detector_by_file,
    find_weights,
    load_any_manifest,
    load_detector_manifest,
    load_manifest,
    manifest_names,
)

BASE = {"name": "m", "arch": "tiny"}


def test_keypoint_set_fills_keypoints_skeleton_flips_and_sigmas():
    m = Manifest.from_dict({**BASE, "keypoint_set": "ap10k"})
    assert m.keypoints == AP10K.keypoints and m.skeleton == AP10K.skeleton
    assert m.flip_pairs == AP10K.flip_pairs and m.sigmas == AP10K.sigmas
    d = m.to_dict()  # what a checkpoint embeds: resolved, no keypoint_set
    assert "keypoint_set" not in d and len(d["keypoints"]) == 17
    assert Manifest.from_dict(d) == m


def test_keypoint_set_errors():
    with pytest.raises(ModelError, match="unknown keypoint_set 'coco'"):
        Manifest.from_dict({**BASE, "keypoint_set": "coco"})
    with pytest.raises(ModelError, match="either keypoint_set or keypoints"):
        Manifest.from_dict({**BASE, "keypoint_set": "ap10k", "keypoints": ["a"]})
    with pytest.raises(ModelError, match="not a pose model"):
        Manifest.from_dict({**BASE, "kind": "detector", "keypoints": ["a"]})


def test_shipped_manifests_load_and_are_resolved():
    for name in manifest_names("pose"):
        m = load_manifest(name)
        assert m.keypoints and m.weights_source is not None
    assert load_manifest("clamp-vitl14-ap10k").keypoints == AP10K.keypoints
    for name in manifest_names("detector"):
        d = load_detector_manifest(name)
        assert d.weights.file and d.weights.source and d.weights.licence
    assert set(manifest_names("all")) == set(manifest_names("pose")) | set(
        manifest_names("detector")
    )


def test_official_clamp_manifests_share_one_release():
    sources = {load_manifest(n).weights_source for n in manifest_names() if "ap10k" in n}
    assert {(w.source, w.download_name, w.format) for w in sources} == {
        ("gdrive:1ep5WExRnN51n1w-0mg7Lxv-1vJahcECM", "clamp-official-release", "clamp-official")
    }


def test_kinds_do_not_mix():
    assert isinstance(load_any_manifest("yolo11n"), DetectorManifest)
    with pytest.raises(ModelError, match="is a detector"):
        load_manifest("yolo11n")
    with pytest.raises(ModelError, match="is a pose model"):
        load_detector_manifest("clamp-tiny")
    assert detector_by_file("MDV6-yolov10-e-1280.pt").name == "megadetector-v6"
    assert detector_by_file("nothing.pt") is None


@pytest.mark.parametrize(
    "weights, match",
    [
        ({"file": "a.pt", "colour": "red"}, "unknown weights keys"),
        ({"file": "a.pt", "source": "ftp://x/a.pt"}, "must start with one of"),
        ({"file": "a.pt", "source": "https://x/a.pt", "sha256": "abc"}, "64 lower-case hex"),
        ({"file": "a.pt", "source": "https://x/a.pt", "size": -3}, "positive number of bytes"),
        ({"source": "https://x/a.pt"}, "need a file name"),
        ({"file": "a.pt", "format": "onnx"}, "format 'onnx' is not known"),
    ],
)
def test_weights_are_validated(weights, match):
    with pytest.raises(ModelError, match=match):
        WeightsSource.from_dict(weights, "m.yaml")


def test_weights_fetch_name():
    assert WeightsSource(file="a.pt").fetch_name == "a.pt"
    assert WeightsSource(file="a.pt", download_name="release.zip").fetch_name == "release.zip"


def test_weights_shipped_in_a_package(monkeypatch):
    monkeypatch.setenv("WILDPOSE_OFFLINE", "1")
    from wildpose.hub.pull import ensure_model, install

    shipped = {"file": "clamp-tiny.yaml", "package": "wildpose.manifests"}  # any package file
    m = Manifest.from_dict({**BASE, "keypoint_set": "ap10k", "weights": shipped})
    assert find_weights(m).name == "clamp-tiny.yaml"
    assert install(m) == find_weights(m)  # nothing to download, even offline
    gone = Manifest.from_dict(
        {**BASE, "keypoint_set": "ap10k", "weights": {**shipped, "file": "x"}}
    )
    assert find_weights(gone) is None
    assert ensure_model("clamp-tiny") == "clamp-tiny"
    with pytest.raises(ModelError, match="either shipped"):
        WeightsSource.from_dict({**shipped, "source": "https://x/a.pt"})
