"""Typed configuration (pydantic): run configs, presets, training recipes, ``--set`` overrides."""

from __future__ import annotations

from .base import ConfigModel, merge, parse_overrides, read_yaml, to_dict, validate
from .run import (
    DetectorConfig,
    OutputConfig,
    PoseConfig,
    RunConfig,
    SmoothConfig,
    TrackerConfig,
    VideoConfig,
    load_preset,
    preset_names,
    resolve_run_config,
)

__all__ = [
    "ConfigModel",
    "DetectorConfig",
    "OutputConfig",
    "PoseConfig",
    "RunConfig",
    "SmoothConfig",
    "TrackerConfig",
    "VideoConfig",
    "load_preset",
    "merge",
    "parse_overrides",
    "preset_names",
    "read_yaml",
    "resolve_run_config",
    "to_dict",
    "validate",
]
