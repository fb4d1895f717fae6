"""``track --format parquet,nwb,...``: exports made from the committed table, listed in run.json;
``wildpose info TRACKS`` reads the table's metadata."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wildpose.cli import cli
from wildpose.config import resolve_run_config
from wildpose.errors import ConfigError
from wildpose.synthetic import write_synthetic_video


@pytest.mark.parametrize(
    "given, tables, exports",
    [
        ("parquet", ("parquet",), ()),
        ("both", ("parquet", "csv"), ()),
        ("csv,NWB", ("csv",), ("nwb",)),
        ("dlc, sleap", ("parquet",), ("dlc", "sleap")),  # the table is always written
        (["parquet", "netcdf"], ("parquet",), ("netcdf",)),
    ],
)
def test_format_lists(given, tables, exports):
    out = resolve_run_config(None, {"output": {"format": given}}, ()).output
    assert (out.tables, out.exports) == (tables, exports)


def test_unknown_format_is_one_line():
    with pytest.raises(ConfigError) as e:
        resolve_run_config(None, {}, ["output.format=parquet,xls"])
    assert "\n" not in str(e.value) and "'xls'" in str(e.value) and "--set" in str(e.value)


def test_track_exports_and_info(tmp_path):
    video = tmp_path / "clip.mp4"
    write_synthetic_video(video, n_frames=8, size=(160, 120), n_animals=1)
    out = tmp_path / "out"
    args = ["track", str(video), "--pose", "clamp-tiny", "--detector", "full-frame", "-q"]
    res = CliRunner().invoke(cli, [*args, "--format", "csv,nwb,dlc", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "clip.dlc.h5",
        "clip.nwb",
        "clip.run.json",
        "clip.tracks.csv",
    ]
    run = json.loads((out / "clip.run.json").read_text())
    assert run["exports"] == ["clip.nwb", "clip.dlc.h5"]
    assert run["outputs"] == ["clip.tracks.csv", "clip.nwb", "clip.dlc.h5"]
    res = CliRunner().invoke(cli, ["info", str(out / "clip.tracks.csv"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["rows"] == 8 * 17 and info["frames"] == 8 and info["tracks"] == 1
    assert info["metadata"]["model"] == "clamp-tiny" and len(info["metadata"]["keypoints"]) == 17
