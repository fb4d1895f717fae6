"""HTTP downloads against the loopback server: install, resume, verification, offline, mirror."""

from __future__ import annotations

import hashlib
import random

import pytest

from wildpose.atomic import is_partial
from wildpose.errors import ModelError
from wildpose.hub.download import download, is_offline, mirror_url

DATA = random.Random(20261201).randbytes(3 * (1 << 20) + 12345)  # fixed bytes: a few read chunks
SHA = hashlib.sha256(DATA).hexdigest()


def _partials(folder):
    return [p for p in folder.iterdir() if is_partial(p)]


def test_download_verifies_and_installs(server, tmp_path):
    server.files["w.pt"] = DATA
    dst = tmp_path / "models" / "w.pt"
    assert download(f"{server.url}/w.pt", dst, sha256=SHA, size=len(DATA), progress=False) == SHA
    assert dst.read_bytes() == DATA
    assert _partials(dst.parent) == []
    assert server.requests == [("w.pt", None)]


def test_cut_download_resumes_with_range(server, tmp_path):
    server.files["w.pt"] = DATA
    server.cut["w.pt"] = 1  # the first answer is cut after half of the file
    dst = tmp_path / "w.pt"
    digest = download(f"{server.url}/w.pt", dst, sha256=SHA, progress=False, backoff=0)
    assert digest == SHA and dst.read_bytes() == DATA
    (first, r1), (second, r2) = server.requests
    assert r1 is None and r2 == f"bytes={len(DATA) // 2}-"  # only the missing half again
    assert _partials(tmp_path) == []


def test_a_later_run_resumes_the_partial_of_an_earlier_one(server, tmp_path):
    server.files["w.pt"] = DATA
    server.cut["w.pt"] = 5  # every attempt of the first run is cut
    dst = tmp_path / "w.pt"
    with pytest.raises(ModelError, match="run the same command again to resume") as e:
        download(f"{server.url}/w.pt", dst, sha256=SHA, progress=False, retries=1, backoff=0)
    assert "\n" not in str(e.value) and not dst.exists()
    (left,) = _partials(tmp_path)  # kept for the next run
    have = left.stat().st_size
    assert 0 < have < len(DATA)
    server.cut["w.pt"] = 0
    server.requests.clear()
    assert download(f"{server.url}/w.pt", dst, sha256=SHA, progress=False) == SHA
    assert server.requests == [("w.pt", f"bytes={have}-")]
    assert dst.read_bytes() == DATA and _partials(tmp_path) == []


def test_server_without_range_support_starts_over(server, tmp_path):
    server.files["w.pt"] = DATA
    server.ranges = False
    dst = tmp_path / "w.pt"
    (tmp_path / f".{dst.name}.999-abcd1234.partial").write_bytes(b"stale bytes")
    assert download(f"{server.url}/w.pt", dst, sha256=SHA, progress=False) == SHA
    assert dst.read_bytes() == DATA and _partials(tmp_path) == []


def test_a_stale_partial_is_replaced_by_a_whole_download(server, tmp_path):
    server.files["w.pt"] = DATA
    dst = tmp_path / "w.pt"
    (tmp_path / f".{dst.name}.999-abcd1234.partial").write_bytes(b"\xff" * 1000)  # not a prefix
    assert download(f"{server.url}/w.pt", dst, sha256=SHA, progress=False) == SHA
    assert server.requests == [("w.pt", "bytes=1000-"), ("w.pt", None)]
    assert dst.read_bytes() == DATA and _partials(tmp_path) == []


def test_sha256_mismatch_is_refused(server, tmp_path):
    server.files["w.pt"] = DATA[:-1] + bytes([DATA[-1] ^ 0xFF])  # always differs
    dst = tmp_path / "w.pt"
    with pytest.raises(ModelError, match="sha256 mismatch") as e:
        download(f"{server.url}/w.pt", dst, sha256=SHA, progress=False)
    assert "\n" not in str(e.value) and "nothing was installed" in str(e.value)
    assert not dst.exists() and _partials(tmp_path) == []


def test_size_mismatch_is_refused(server, tmp_path):
    server.files["w.pt"] = DATA
    with pytest.raises(ModelError, match=f"expected {len(DATA) + 1}"):
        download(f"{server.url}/w.pt", tmp_path / "w.pt", size=len(DATA) + 1, progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / ".w.pt.lock"]


def test_missing_file_is_one_line_and_not_retried(server, tmp_path):
    with pytest.raises(ModelError, match="HTTP 404") as e:
        download(f"{server.url}/nope.pt?token=secret", tmp_path / "n.pt", progress=False)
    assert "\n" not in str(e.value) and "secret" not in str(e.value)
    assert len(server.requests) == 1


def test_unreachable_server_fails_after_retries(tmp_path):
    with pytest.raises(ModelError, match="failed after 2 attempts"):
        download("http://127.0.0.1:9/w.pt", tmp_path / "w.pt", progress=False, retries=1,
                 backoff=0, timeout=2)  # fmt: skip


def test_file_urls_are_downloads_too(tmp_path):
    src = tmp_path / "share" / "w.pt"
    src.parent.mkdir()
    src.write_bytes(DATA)
    dst = tmp_path / "w.pt"
    assert download(src.as_uri(), dst, sha256=SHA, progress=False) == SHA


@pytest.mark.parametrize(
    "env, flag, expected",
    [
        ({}, False, False),
        ({}, True, True),
        ({"WILDPOSE_OFFLINE": "1"}, False, True),
        ({"HF_HUB_OFFLINE": "1"}, False, True),
        ({"HF_HUB_OFFLINE": "true"}, False, True),
        ({"WILDPOSE_OFFLINE": "0"}, False, False),
    ],
)
def test_offline_switches(monkeypatch, env, flag, expected):
    for var in ("WILDPOSE_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert is_offline(flag) is expected


def test_mirror_url(monkeypatch):
    monkeypatch.delenv("WILDPOSE_MIRROR", raising=False)
    assert mirror_url("a b.pt") is None
    assert mirror_url("a b.pt", "https://m.example/w/") == "https://m.example/w/a%20b.pt"
    monkeypatch.setenv("WILDPOSE_MIRROR", "http://127.0.0.1:1/x")
    assert mirror_url("w.pt", "https://m.example/w") == "http://127.0.0.1:1/x/w.pt"
