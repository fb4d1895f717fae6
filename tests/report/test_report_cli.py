"""Tests for ``wildpose report`` (wildpose.cli.report)."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from wildpose.cli.report import report_cmd
from wildpose.errors import InputError


def test_report_of_one_table_goes_beside_it(report_run: Path, tmp_path: Path):
    table = tmp_path / report_run.name
    shutil.copy(report_run, table)
    result = CliRunner().invoke(report_cmd, [str(table)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "arena.report.html").is_file()


def test_report_of_a_batch_folder(report_batch: Path, tmp_path: Path):
    out = tmp_path / "b.html"
    result = CliRunner().invoke(
        report_cmd, [str(report_batch), "-o", str(out), "--low-score", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "2 tables, batch" in result.output
    assert "Failures (1)" in out.read_text(encoding="utf-8")


def test_missing_input_is_an_input_error(tmp_path: Path):
    result = CliRunner().invoke(report_cmd, [str(tmp_path / "nope.tracks.parquet")])
    assert isinstance(result.exception, InputError)
    assert "no such file or folder" in str(result.exception)
