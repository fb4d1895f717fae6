"""The run configuration of ``wildpose track`` / ``wildpose batch``: presets, flags, ``--set``.

:func:`resolve_run_config` layers the defaults below, a preset (``pipelines/NAME.yaml`` or a
YAML path), the command-line flags and the ``--set key=value`` overrides, and validates the
result once: a bad value is a one-line :class:`~wildpose.errors.ConfigError` naming the layer that
set it (the preset's file, ``command line`` or ``--set``) and the dotted key. Deeper code receives
a :class:`RunConfig` (or the objects built from it), never a dict; :func:`~.base.to_dict` of it is
what ``run.json`` records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from ..errors import ConfigError
from .base import (
    AsList,
    AtLeastOne,
    Bool,
    ConfigModel,
    Device,
    Finite,
    Int,
    NonNegative,
    Positive,
    Unit,
    fail,
    merge,
    parse_overrides,
    read_yaml,
    validate_layers,
)
from .export import ExportSettings


def _gate(value: Any) -> Any:
    """``gate: off`` unquoted is YAML 1.1's ``false``: read it as "off"."""
    if value is False:
        return "off"
    if value is True:
        raise fail("", "must be a number or off", value)
    if value is None or value == "off":
        return value
    try:
        float(value)
    except (TypeError, ValueError):
        raise fail("", "must be a number or off", value) from None
    return value


class VideoConfig(ConfigModel):
    """Decoding. ``start``/``end``: the time span read, s (None: from the start / to the end)."""

    backend: Literal["auto", "decord", "pyav"] = "auto"  # auto: PyAV (bounded memory)
    start: NonNegative | None = None  # s
    end: NonNegative | None = None  # s
    image_fps: Positive = 1.0  # frame rate assumed for image sequences without capture times
    prefetch: AtLeastOne = 32  # frames decoded ahead

    @model_validator(mode="after")
    def _span(self) -> VideoConfig:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise fail("end", f"must be > video.start ({self.start:g})", self.end)
        return self


class DetectorConfig(ConfigModel):
    """Which boxes the pose model sees (see :mod:`wildpose.detect`)."""

    model: str = "yolo11n.pt"  # ultralytics weights or YAML, "full-frame", or "boxes:FILE"
    classes: Annotated[tuple[str, ...], AsList] | None = None  # None: the model's animal classes
    conf: Unit = 0.25
    iou: Unit = 0.7
    imgsz: Annotated[Int, Field(ge=32)] | None = None  # px; None: the detector's training size
    max_det: AtLeastOne = 20
    frames_per_batch: AtLeastOne = 16


class PoseConfig(ConfigModel):
    """The pose model and how crops are cut for it."""

    model: str = "clamp-vitb16-ap10k"  # manifest name, checkpoint path, or hf://ORG/REPO/FILE
    batch_size: AtLeastOne = 64  # crops per forward pass
    flip_test: Bool = True
    padding: Positive = 1.25  # crop side / box side
    # sub-pixel decoding of the heatmap peaks: DARK's Taylor refinement, or argmax + a quarter
    # pixel towards the higher neighbour (mmpose's default, as the CLAMP paper evaluates)
    refine: Literal["dark", "quarter"] = "dark"
    # the network's runtime on the CPU: torch (autocast as ``precision`` says) or onnxruntime
    # (fp32, the model exported once into the cache; the onnx extra)
    backend: Literal["torch", "onnxruntime"] = "torch"


class TrackerConfig(ConfigModel):
    """ByteTrack thresholds; ``lost_buffer_s``: how long a hidden animal keeps its id, s."""

    activation_threshold: Unit = 0.25
    lost_buffer_s: NonNegative = 1.0
    matching_threshold: Unit = 0.8


class SmoothConfig(ConfigModel):
    """The per-keypoint Kalman smoother (see :mod:`wildpose.smooth`); None: its default."""

    mode: Literal["rts", "kalman", "none"] = "rts"
    lag_s: Positive = 2.0  # lookahead of the streaming RTS smoother, s
    max_gap_s: Positive = 2.0  # a track unseen this long restarts its filter, s
    process_noise: Positive | None = None  # px^2/s^3
    meas_std: Positive | None = None  # px at score 1
    min_score: Annotated[Finite, Field(gt=0, le=1)] | None = None  # points below are gaps
    # chi-square(2) outlier gate on the squared Mahalanobis distance; "off" disables it
    gate: Annotated[Positive | Literal["off"] | None, BeforeValidator(_gate)] = None


TABLE_FORMATS = ("parquet", "csv")
EXPORT_FORMATS = ("dlc", "sleap", "nwb", "netcdf")


def _formats(value: Any) -> Any:
    """``"parquet,nwb"``, ``["csv", "dlc"]`` or ``"both"`` -> the canonical comma list."""
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str) or value.strip().lower() == "both":
        return value.strip().lower() if isinstance(value, str) else value
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    names = [m for n in names for m in (TABLE_FORMATS if n == "both" else (n,))]
    unknown = [n for n in names if n not in TABLE_FORMATS + EXPORT_FORMATS]
    if unknown or not names:
        known = ", ".join((*TABLE_FORMATS, "both", *EXPORT_FORMATS))
        raise ValueError(f"unknown format {unknown[0] if unknown else value!r} (known: {known})")
    if not any(n in TABLE_FORMATS for n in names):
        names.insert(0, "parquet")  # exports are made from the track table
    return ",".join(dict.fromkeys(names))


class OutputConfig(ConfigModel):
    """What is written next to each input.

    ``format``: a comma list of ``parquet``, ``csv`` (``both`` = the two) and the exports
    ``dlc``, ``sleap``, ``nwb``, ``netcdf`` (made from the track table, which is always written:
    Parquet unless only csv is named). ``render``: the annotated video (and a contact sheet
    PNG); ``render_points``: which positions it draws. ``report``: the QC report HTML.
    """

    format: Annotated[str, BeforeValidator(_formats)] = "parquet"
    render: Bool = False
    render_points: Literal["smoothed", "raw", "both"] = "smoothed"
    report: Bool = False
    row_group_frames: AtLeastOne = 256

    @property
    def tables(self) -> tuple[str, ...]:
        """The track-table formats to write (``parquet`` and/or ``csv``)."""
        names = self.format.split(",")
        return TABLE_FORMATS if names == ["both"] else tuple(n for n in names if n in TABLE_FORMATS)

    @property
    def exports(self) -> tuple[str, ...]:
        """The export formats to make from the table (``dlc``, ``sleap``, ``nwb``, ``netcdf``)."""
        return tuple(f for f in self.format.split(",") if f in EXPORT_FORMATS)


class RunConfig(ConfigModel):
    """Everything one ``track``/``batch`` run is configured by.

    ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether it exists is checked when the
    model is placed). ``precision``: the autocast dtype; ``auto``: bf16 on CPUs with fast bf16
    (AMX or AVX512-BF16) and on CUDA devices that support it, fp16 on other CUDA devices, fp32
    on other CPUs (``fp16`` on a CPU runs fp32).
    """

    device: Device = "auto"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    # never download a missing model (also WILDPOSE_OFFLINE=1 or HF_HUB_OFFLINE=1)
    offline: Bool = False
    video: VideoConfig = VideoConfig()
    detector: DetectorConfig = DetectorConfig()
    pose: PoseConfig = PoseConfig()
    tracker: TrackerConfig = TrackerConfig()
    smooth: SmoothConfig = SmoothConfig()
    output: OutputConfig = OutputConfig()
    # exports (--format dlc,sleap,nwb,netcdf): NWB session metadata, positions for DLC/SLEAP
    export: ExportSettings = ExportSettings()


# --------------------------------------------------------------------------------------------
# presets and layering


def _presets() -> dict[str, Path]:
    return {
        p.name[:-5]: Path(str(p))
        for p in resources.files("wildpose.presets").iterdir()
        if p.name.endswith(".yaml")
    }


def preset_names() -> list[str]:
    """The names ``--pipeline`` accepts (``pipelines/*.yaml``)."""
    return sorted(_presets())


def load_preset(name_or_path: str) -> tuple[dict[str, Any], str]:
    """A preset by name (``pipelines/NAME.yaml``) or path -> (its data, its file path)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return read_yaml(path), str(path)
    presets = _presets()
    if name_or_path in presets:
        return read_yaml(presets[name_or_path]), str(presets[name_or_path])
    raise ConfigError(
        f"unknown pipeline preset {name_or_path!r}; presets: "
        f"{', '.join(sorted(presets))} (or a path to a YAML file)"
    )


def resolve_run_config(
    preset: str | None, flags: Mapping[str, Any], overrides: Iterable[str]
) -> RunConfig:
    """Defaults < preset < command-line flags < ``--set`` overrides, validated once.

    ``flags`` is nested like the config (``{"pose": {"batch_size": 8}}``); ``overrides`` are
    ``key.path=value`` strings (values parsed as YAML).
    """
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if preset:
        data, source = load_preset(preset)
        layers.append((source, data))
    layers.append(("command line", flags))
    layers.append(("--set", parse_overrides(overrides)))
    merged: dict[str, Any] = {}
    for _, data in layers:
        merged = merge(merged, data)
    return validate_layers(RunConfig, merged, layers)
