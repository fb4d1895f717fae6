"""Google Drive downloads through gdown, with gdown's download replaced by a local copy (no test
can reach Drive)."""

from __future__ import annotations

import hashlib
import shutil

import gdown
import pytest

from wildpose.errors import ModelError
from wildpose.hub.gdrive import gdrive_download
from wildpose.hub.pull import install
from wildpose.pose.manifest import DetectorManifest, WeightsSource

DATA = b"official release bytes " * 1000
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def fake_drive(tmp_path, monkeypatch):
    """gdown.download copying ``tmp_path/drive/<id>``; records its keyword arguments."""
    drive = tmp_path / "drive"
    drive.mkdir()
    calls: list[dict] = []

    def download(url=None, output=None, **kw):
        calls.append(dict(kw, url=url, output=output))
        shutil.copyfile(drive / kw["id"], output)
        return output

    monkeypatch.setattr(gdown, "download", download)
    return drive, calls


def test_drive_file_is_verified_and_renamed(fake_drive, tmp_path):
    drive, calls = fake_drive
    (drive / "ID1").write_bytes(DATA)
    dst = tmp_path / "dl" / "release"
    dst.parent.mkdir()
    assert gdrive_download("ID1", dst, sha256=SHA, progress=False) == SHA
    assert dst.read_bytes() == DATA
    (call,) = calls
    assert call["id"] == "ID1" and call["resume"] is True and call["quiet"] is True
    assert call["output"] != str(dst)  # gdown writes a staging name, renamed once verified
    assert sorted(p.name for p in dst.parent.iterdir()) == [".release.lock", "release"]


def test_drive_mismatch_installs_nothing(fake_drive, tmp_path):
    drive, _ = fake_drive
    (drive / "ID1").write_bytes(DATA + b"!")
    with pytest.raises(ModelError, match="Google Drive file ID1: sha256 mismatch") as e:
        gdrive_download("ID1", tmp_path / "release", sha256=SHA, progress=False)
    assert "\n" not in str(e.value)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["drive"]


def test_drive_refusal_is_one_line_with_the_manual_route(monkeypatch, tmp_path):
    def refuse(**kw):
        raise gdown.exceptions.FileURLRetrievalError("Too many users have viewed\nthis file")

    monkeypatch.setattr(gdown, "download", refuse)
    with pytest.raises(ModelError) as e:
        gdrive_download("ID2", tmp_path / "release", progress=False)
    msg = str(e.value)
    assert "\n" not in msg and "Too many users" in msg
    assert "https://drive.google.com/file/d/ID2/view" in msg


def test_pull_from_a_drive_source(fake_drive, hub_env):
    drive, calls = fake_drive
    (drive / "ID3").write_bytes(DATA)
    m = DetectorManifest(
        name="drive-test",
        weights=WeightsSource(file="d.pt", source="gdrive:ID3", sha256=SHA, format="ultralytics"),
    )
    assert install(m, progress=False).read_bytes() == DATA
    assert len(calls) == 1
