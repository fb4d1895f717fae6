"""The training log: append-only JSON lines, one object per event (strict JSON: NaN -> null)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


class JsonLog:
    """Append-only JSON-lines log (``None`` path: a no-op, for ranks other than 0).

    Records are appended and flushed one line at a time, so a crash leaves every earlier line
    whole; the file is never rewritten, which is why it does not go through
    :mod:`wildpose.atomic` (a temporary file and rename per record).
    """

    def __init__(self, path: Path | None) -> None:
        self.file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, event: str, **fields: Any) -> None:
        if self.file is None:
            return
        record = {"event": event, "time": round(time.time(), 3), **fields}
        self.file.write(json.dumps(_finite(record)) + "\n")
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _finite(value: Any) -> Any:
    """NaN/inf -> None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
