"""Fixtures of the interop tests (the table builders are in interop_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from interop_data import write_table


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    """``clip.tracks.parquet``: tracks 1, 3 and 7 coming and going over 30 frames at 25 fps."""
    return write_table(tmp_path)[0]
