"""Fixtures of the report tests: one generated run (video, table, run record) and a batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import write_batch, write_run


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The track table (Parquet) of a generated 3-animal run, with its video and run record."""
    root = tmp_path_factory.mktemp("report_run")
    return write_run(root / "out", root / "arena.mp4")


@pytest.fixture(scope="session")
def report_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch output folder: one done input with a table, one failed, one empty, one skipped."""
    return write_batch(tmp_path_factory.mktemp("report_batch"))
