"""The run config of track/batch: ranges, types, unknown keys, layering, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wildpose.config import (
    PoseConfig,
    RunConfig,
    load_preset,
    preset_names,
    resolve_run_config,
    to_dict,
    validate,
)
from wildpose.errors import ConfigError


def error(*overrides: str, preset: str | None = None, flags: dict | None = None) -> str:
    """The one-line message ``resolve_run_config`` raises."""
    with pytest.raises(ConfigError) as exc:
        resolve_run_config(preset, flags or {}, overrides)
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_defaults_are_todays() -> None:
    cfg = resolve_run_config(None, {}, [])
    assert cfg == RunConfig()
    assert cfg.device == "auto" and cfg.precision == "auto" and cfg.pose.refine == "dark"
    assert (cfg.pose.batch_size, cfg.pose.padding, cfg.pose.flip_test) == (64, 1.25, True)
    assert (cfg.detector.conf, cfg.detector.max_det, cfg.detector.classes) == (0.25, 20, None)
    assert cfg.smooth.mode == "rts" and cfg.output.format == "parquet"


@pytest.mark.parametrize(
    ("override", "key", "why"),
    [
        ("pose.padding=0", "pose.padding", "must be > 0"),
        ("pose.batch_size=0", "pose.batch_size", "must be >= 1"),
        ("video.prefetch=-1", "video.prefetch", "must be >= 1"),
        ("detector.frames_per_batch=0", "detector.frames_per_batch", "must be >= 1"),
        ("output.row_group_frames=0", "output.row_group_frames", "must be >= 1"),
        ("detector.max_det=0", "detector.max_det", "must be >= 1"),
        ("detector.conf=-0.1", "detector.conf", "must be >= 0"),
        ("detector.iou=1.5", "detector.iou", "must be <= 1"),
        ("detector.imgsz=16", "detector.imgsz", "must be >= 32"),
        ("tracker.activation_threshold=2", "tracker.activation_threshold", "<= 1"),
        ("tracker.matching_threshold=-1", "tracker.matching_threshold", ">= 0"),
        ("tracker.lost_buffer_s=-1", "tracker.lost_buffer_s", "must be >= 0"),
        ("smooth.lag_s=0", "smooth.lag_s", "must be > 0"),
        ("smooth.max_gap_s=-2", "smooth.max_gap_s", "must be > 0"),
        ("smooth.process_noise=0", "smooth.process_noise", "must be > 0"),
        ("smooth.meas_std=-1", "smooth.meas_std", "must be > 0"),
        ("smooth.min_score=1.5", "smooth.min_score", "must be <= 1"),
        ("smooth.gate=0", "smooth.gate", "must be > 0"),
        ("smooth.gate=wide", "smooth.gate", "must be a number or off"),
        ("video.image_fps=0", "video.image_fps", "must be > 0"),
        ("video.start=-1", "video.start", "must be >= 0"),
        ("video.start=.inf", "video.start", "must be a finite number"),
        ("video.end=.nan", "video.end", "must be a finite number"),
        ("device=tpu", "device", "must be auto, cpu, cuda or cuda:N"),
        ("device=cuda:x", "device", "must be auto, cpu, cuda or cuda:N"),
        ("precision=fp8", "precision", "must be one of"),
        ("smooth.mode=ukf", "smooth.mode", "must be one of"),
    ],
)
def test_out_of_range_values_are_one_line_errors(override: str, key: str, why: str) -> None:
    text = error(override)
    assert text.startswith(f"--set: '{key}' ") and why in text


def test_end_must_follow_start() -> None:
    text = error("video.start=5", "video.end=2")
    assert text == "--set: 'video.end' must be > video.start (5), got 2.0"
    assert resolve_run_config(None, {}, ["video.start=1", "video.end=2.5"]).video.end == 2.5


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ("pose.flip_test=1", "'pose.flip_test' must be true or false, got 1"),
        ("pose.batch_size=8.0", "'pose.batch_size' must be an integer, got 8.0"),
        ("pose.batch_size=true", "'pose.batch_size' must be an integer, got True"),
        ("pose.padding=wide", "'pose.padding' must be a number, got 'wide'"),
        ("detector.conf=true", "'detector.conf' must be a number, got True"),
        ("video=3", "'video' must be a mapping, got 3"),
        ("pose.model=[a, b]", "'pose.model' must be a string"),
    ],
)
def test_wrong_types(override: str, why: str) -> None:
    assert why in error(override)


def test_lenient_where_yaml_is_ambiguous() -> None:
    cfg = resolve_run_config(
        None,
        {},
        [
            "smooth.process_noise=1e6",  # YAML 1.1: a string
            "pose.padding=2",  # an int for a float
            "detector.classes=animal",  # one class for a list
            "pose.model=12",  # a number for a string
            "smooth.gate=off",  # YAML 1.1: false
        ],
    )
    assert cfg.smooth.process_noise == 1e6 and cfg.pose.padding == 2.0
    assert cfg.detector.classes == ("animal",) and cfg.pose.model == "12"
    assert cfg.smooth.gate == "off"
    assert resolve_run_config(None, {}, ["smooth.gate=9.2"]).smooth.gate == 9.2


def test_unknown_keys_list_the_known_ones() -> None:
    assert error("pose.foo=1") == (
        "--set: unknown key 'pose.foo' "
        "(known: model, batch_size, flip_test, padding, refine, backend)"
    )
    assert "unknown key 'bogus'" in error("bogus=1")


def test_precedence_defaults_preset_flags_set() -> None:
    assert load_preset("field-video")[0]["detector"]["conf"] == 0.3
    cfg = resolve_run_config("field-video", {}, [])
    assert cfg.detector.conf == 0.3 and cfg.detector.max_det == 20  # preset over default
    cfg = resolve_run_config("field-video", {"pose": {"batch_size": 8}}, ["detector.conf=0.5"])
    assert cfg.detector.conf == 0.5 and cfg.pose.batch_size == 8
    cfg = resolve_run_config(None, {"pose": {"batch_size": 8}}, ["pose.batch_size=4"])
    assert cfg.pose.batch_size == 4  # --set over flags


def test_errors_name_the_layer_that_set_the_value(tmp_path: Path) -> None:
    preset = tmp_path / "camera-trap.yaml"
    preset.write_text(yaml.safe_dump({"pose": {"padding": 0}, "video": {"start": 3}}))
    assert error(preset=str(preset)) == f"{preset}: 'pose.padding' must be > 0, got 0"
    assert error("pose.padding=0.5", "pose.padding=0", preset="lab-arena").startswith("--set:")
    text = error(flags={"video": {"start": float("inf")}})
    assert text.startswith("command line: 'video.start'")
    fixed = ["pose.padding=1"]
    assert error(*fixed, "video.end=1", preset=str(preset)).startswith("--set: 'video.end'")


def test_presets() -> None:
    assert {"camera-trap", "field-video", "lab-arena"} <= set(preset_names())
    for name in preset_names():
        resolve_run_config(name, {}, [])
    with pytest.raises(ConfigError, match="unknown pipeline preset 'nope'"):
        resolve_run_config("nope", {}, [])


def test_to_dict_round_trip() -> None:
    cfg = resolve_run_config("camera-trap", {}, ["smooth.gate=off", "video.end=9"])
    data = to_dict(cfg)
    assert data["detector"]["classes"] == ["animal"]  # JSON-friendly: lists, not tuples
    assert validate(RunConfig, data, "run.json") == cfg
    assert to_dict(RunConfig())["pose"] == {
        "model": "clamp-vitb16-ap10k",
        "batch_size": 64,
        "flip_test": True,
        "padding": 1.25,
        "refine": "dark",
        "backend": "torch",
    }


def test_configs_are_frozen_and_replace_validates() -> None:
    cfg = RunConfig()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        cfg.device = "cpu"  # type: ignore[misc]
    moved = cfg.replace(device="cpu", pose=PoseConfig(batch_size=8))
    assert moved.device == "cpu" and moved.pose.batch_size == 8 and cfg.device == "auto"
    with pytest.raises(ConfigError, match="'device' must be"):
        cfg.replace(device="tpu")
