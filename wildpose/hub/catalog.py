"""What ``wildpose models`` shows per known model: present or not, size, licence, source."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..pose.manifest import (
    DetectorManifest,
    WeightsSource,
    find_weights,
    load_any_manifest,
    manifest_names,
)
from .download import clean_url, mirror_url


@dataclass(frozen=True)
class ModelStatus:
    """One known model as the listing shows it.

    ``size``: bytes of the installed file when present, else of the download where the
    manifest knows it (None: unknown). ``source``: where a pull fetches it from (the mirror's URL
    when one is set), ``shipped with wildpose (PACKAGE)`` or ``built in`` (random init).
    """

    name: str
    kind: str  # "pose" or "detector"
    present: bool
    built_in: bool
    path: str | None
    size: int | None
    licence: str | None
    source: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_label(w: WeightsSource) -> str:
    """A readable address for a weights source (mirror first when one is set)."""
    if w.package:
        return f"shipped with wildpose ({w.package})"
    if not w.source:
        return "built in"
    url = mirror_url(str(w.fetch_name), w.mirror)
    if url is not None:
        return f"{url} (mirror)"
    if w.source.startswith("gdrive:"):
        return f"https://drive.google.com/file/d/{w.source.removeprefix('gdrive:')}"
    if w.source.startswith("ultralytics:"):
        name = w.source.removeprefix("ultralytics:")
        return f"https://github.com/ultralytics/assets/releases ({name})"
    return clean_url(w.source)


def model_status() -> list[ModelStatus]:
    """Every known model (pose models, then detectors), by name."""
    out = []
    for kind in ("pose", "detector"):
        for name in manifest_names(kind):  # type: ignore[arg-type]
            m = load_any_manifest(name)
            w = m.weights if isinstance(m, DetectorManifest) else m.weights_source
            found = find_weights(m)
            out.append(
                ModelStatus(
                    name=name,
                    kind=kind,
                    present=found is not None or not w.file,
                    built_in=not w.file or bool(w.package),
                    path=str(found) if found else None,
                    size=found.stat().st_size if found else w.size,
                    licence=w.licence,
                    source=source_label(w),
                    description=m.description,
                )
            )
    return out
