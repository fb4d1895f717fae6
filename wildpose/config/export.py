"""What an export needs beyond the table: the NWB session metadata and the position choice.

Given on the command line as ``--set nwb.subject.species="Canis lupus"``, ``--set
nwb.session_start_time=2026-05-01T06:30:00+02:00``, ``--set smoothed=true`` or in a small YAML
file (``--metadata session.yaml``) with the same keys; validated once here (unknown keys are an
error) into :class:`ExportSettings`. The NWB fields are those of ``pynwb.NWBFile`` and
``pynwb.file.Subject`` (pynwb.readthedocs.io).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from .base import AsList, Bool, ConfigModel, merge, parse_overrides, read_yaml
from .base import validate as validate_config

__all__ = ["ExportSettings", "NWBSession", "NWBSubject", "export_settings"]


def _aware(value: datetime | None) -> datetime | None:
    """Times without a zone are UTC (NWB stores zone-aware times)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


Time = Annotated[datetime, AfterValidator(_aware)]
Texts = Annotated[tuple[str, ...], AsList]


class NWBSubject(ConfigModel):
    """``pynwb.file.Subject``: who was recorded (``age`` as ISO 8601, e.g. ``P2Y``)."""

    subject_id: str | None = None
    species: str | None = None
    sex: str | None = None
    age: str | None = None
    description: str | None = None
    strain: str | None = None
    genotype: str | None = None
    weight: str | None = None
    date_of_birth: Time | None = None


def _subject(value: Any) -> Any:
    """``nwb.subject=wolf-7`` names the subject (its ``subject_id``)."""
    return {"subject_id": value} if isinstance(value, str | int) else value


class NWBSession(ConfigModel):
    """``pynwb.NWBFile`` fields. Unset: ``session_description`` "wildpose tracks of VIDEO",
    ``identifier`` a new UUID, ``session_start_time`` the time of the export (UTC)."""

    session_description: str | None = None
    identifier: str | None = None
    session_start_time: Time | None = None
    experimenter: Texts = ()
    lab: str | None = None
    institution: str | None = None
    experiment_description: str | None = None
    session_id: str | None = None
    keywords: Texts = ()
    subject: Annotated[NWBSubject | None, BeforeValidator(_subject)] = None


class ExportSettings(ConfigModel):
    """``smoothed``: DeepLabCut and SLEAP files get the smoothed positions instead of the raw
    ones (NWB and netCDF always hold both); ``nwb``: the session metadata."""

    smoothed: Bool = False
    nwb: NWBSession = NWBSession()


def export_settings(
    metadata_file: str | Path | None = None, overrides: Iterable[str] = ()
) -> ExportSettings:
    """Settings from a YAML file and ``key=value`` overrides (these win); one-line errors."""
    data: Mapping[str, Any] = read_yaml(metadata_file) if metadata_file is not None else {}
    data = merge(data, parse_overrides(overrides))
    source = "--set" if metadata_file is None else f"{metadata_file} / --set"
    return validate_config(ExportSettings, data, source)
