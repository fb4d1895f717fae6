"""What ``wildpose models`` shows: present or not, size, licence and source per model."""

from __future__ import annotations

from wildpose.hub.catalog import model_status


def _by_name():
    return {s.name: s for s in model_status()}


def test_every_known_model_has_a_licence_and_a_source(hub_env):
    rows = _by_name()
    assert {"clamp-tiny", "clamp-vitb16-ap10k", "yolo11n", "megadetector-v6"} <= set(rows)
    for row in rows.values():
        assert row.source
        if not row.built_in:
            assert row.licence and not row.present and row.path is None
    assert rows["clamp-tiny"].built_in and rows["clamp-tiny"].present
    assert rows["clamp-rn50-ap10k"].licence.startswith("Apache-2.0")
    assert rows["yolo11m"].licence.startswith("AGPL-3.0")
    assert rows["megadetector-v6"].licence.startswith("AGPL-3.0")
    assert rows["clamp-vitb16-ap10k"].source == (
        "https://drive.google.com/file/d/1ep5WExRnN51n1w-0mg7Lxv-1vJahcECM"
    )
    assert rows["megadetector-v6"].source.startswith("https://zenodo.org/records/15398270/")
    assert rows["yolo11n"].kind == "detector" and rows["clamp-tiny"].kind == "pose"


def test_present_models_show_their_file_and_size(hub_env, monkeypatch):
    hub_env.mkdir(parents=True)
    (hub_env / "yolo11s.pt").write_bytes(b"x" * 1234)
    row = _by_name()["yolo11s"]
    assert row.present and row.path == str(hub_env / "yolo11s.pt") and row.size == 1234
    assert row.to_dict()["size"] == 1234


def test_the_mirror_is_shown_as_the_source(hub_env, monkeypatch):
    monkeypatch.setenv("WILDPOSE_MIRROR", "https://mirror.example.org/wildpose")
    rows = _by_name()
    assert rows["clamp-rn50-ap10k"].source == (
        "https://mirror.example.org/wildpose/clamp-official-release (mirror)"
    )
    assert rows["megadetector-v6"].source.startswith(
        "https://mirror.example.org/wildpose/MDV6-yolov10-e-1280.pt"
    )
