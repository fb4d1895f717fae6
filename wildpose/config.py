"""Typed run configuration: YAML presets + ``--set key=value`` overrides, validated once.

Configs are frozen dataclasses. :func:`build` turns a nested dict into one, rejecting unknown keys
and values of the wrong type or outside a ``Literal``'s choices with a one-line
:class:`ConfigError` naming the source and the key. Deeper code receives the dataclasses (or the
objects built from them), never a dict.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")


def build(
    cls: type[T], data: Mapping[str, Any] | None, source: str = "config", _path: str = ""
) -> T:
    """Nested dict -> dataclass ``cls``, checking keys, types and Literal choices."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        where = f"{_path}." if _path else ""
        raise ConfigError(
            f"{source}: unknown key '{where}{unknown[0]}' (known: {', '.join(known)})"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{_path}.{name}" if _path else name
        kwargs[name] = _coerce(hints[name], value, source, key)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: '{key}' must be a mapping, got {value!r}")
        return build(tp, value, source, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, source, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{source}: bad value for '{key}'")
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"{source}: '{key}' must be one of {', '.join(map(str, args))}, got {value!r}"
            )
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, Iterable):
            value = [value]
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v, source, key) for v in value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: '{key}' must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-12" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{source}: '{key}' must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{source}: '{key}' must be a string, got {value!r}")
    return value


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain nested dict/list values (YAML/JSON friendly)."""
    if is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj


def parse_overrides(items: Iterable[str], source: str = "--set") -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{source}: expected key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"{source}: bad key {key!r}")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: {key!r} conflicts with another override")
        node[parts[-1]] = value
    return out


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file, with one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("no such config file", path=path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML ({str(e).splitlines()[0]})", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("must be a YAML mapping at the top level", path=path)
    return data


# --------------------------------------------------------------------------------------------
# The run configuration of `wildpose track` / `wildpose batch`


@dataclass(frozen=True)
class VideoConfig:
    backend: Literal["auto", "decord", "pyav"] = "auto"  # auto: PyAV (bounded memory)
    start: float | None = None  # s
    end: float | None = None  # s
    image_fps: float = 1.0  # frame rate assumed for image sequences without capture times
    prefetch: int = 32  # frames decoded ahead


@dataclass(frozen=True)
class DetectorConfig:
    model: str = "yolo11n.pt"  # ultralytics weights or YAML, "full-frame", or "boxes:FILE"
    classes: tuple[str, ...] | None = None  # None: the model's animal classes
    conf: float = 0.25
    iou: float = 0.7
    imgsz: int | None = None  # px; None: the size the detector was trained at
    max_det: int = 20
    frames_per_batch: int = 16


@dataclass(frozen=True)
class PoseConfig:
    model: str = "clamp-vitb16-ap10k"  # manifest name, checkpoint path, or hf://ORG/REPO/FILE
    batch_size: int = 64  # crops per forward pass
    flip_test: bool = True
    padding: float = 1.25


@dataclass(frozen=True)
class TrackerConfig:
    activation_threshold: float = 0.25
    lost_buffer_s: float = 1.0
    matching_threshold: float = 0.8


@dataclass(frozen=True)
class SmoothConfig:
    mode: Literal["rts", "kalman", "none"] = "rts"
    lag_s: float = 2.0  # lookahead of the streaming RTS smoother, s
    max_gap_s: float = 2.0  # a track unseen this long restarts its filter
    process_noise: float | None = None  # px^2/s^3; None: the smoother's default
    meas_std: float | None = None  # px at score 1
    min_score: float | None = None
    gate: float | Literal["off"] | None = None  # chi-square(2) outlier gate; "off" disables


@dataclass(frozen=True)
class OutputConfig:
    format: Literal["parquet", "csv", "both"] = "parquet"
    render: bool = False
    row_group_frames: int = 256


@dataclass(frozen=True)
class RunConfig:
    device: str = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp16"
    video: VideoConfig = field(default_factory=VideoConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smooth: SmoothConfig = field(default_factory=SmoothConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def replace(self, **kw: Any) -> RunConfig:
        return dataclasses.replace(self, **kw)


def preset_names() -> list[str]:
    return sorted(
        p.name[:-5]
        for p in resources.files("wildpose.presets").iterdir()
        if p.name.endswith(".yaml")
    )


def load_preset(name_or_path: str) -> tuple[dict[str, Any], str]:
    """A preset by name (``pipelines/NAME.yaml``) or path -> (dict, source label)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return read_yaml(path), str(path)
    for entry in resources.files("wildpose.presets").iterdir():
        if entry.name == f"{name_or_path}.yaml":
            return read_yaml(Path(str(entry))), f"pipeline {name_or_path}"
    raise ConfigError(
        f"unknown pipeline preset {name_or_path!r}; presets: "
        f"{', '.join(preset_names())} (or a path to a YAML file)"
    )


def resolve_run_config(
    preset: str | None, flags: Mapping[str, Any], overrides: Iterable[str]
) -> RunConfig:
    """Defaults < preset < command-line flags < ``--set`` overrides, validated once."""
    data: dict[str, Any] = {}
    source = "config"
    if preset:
        data, source = load_preset(preset)
    data = merge(data, flags)
    data = merge(data, parse_overrides(overrides))
    return build(RunConfig, data, source)
