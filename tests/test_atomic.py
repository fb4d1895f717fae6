"""The one atomic writer: unique temp names, whole files or none, umask mode, grouped commits."""

from __future__ import annotations

import os
import stat

import pytest

from wildpose import atomic


def test_temp_names_unique_and_partial(tmp_path):
    a, b = atomic.temp_path(tmp_path / "x.json"), atomic.temp_path(tmp_path / "x.json")
    assert a != b
    assert atomic.is_partial(a) and str(os.getpid()) in a.name
    assert not atomic.is_partial(tmp_path / "x.json")


def test_write_json_whole_and_umask(tmp_path):
    old = os.umask(0o027)
    try:
        p = atomic.write_json(tmp_path / "sub" / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert p.read_text() == '{\n  "a": 1\n}\n'
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert [q.name for q in p.parent.iterdir()] == ["r.json"]


def test_failure_keeps_old_file_and_no_temp(tmp_path):
    p = atomic.write_text(tmp_path / "t.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(p) as f:
            f.write("new")
            raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert list(tmp_path.iterdir()) == [p]


def test_group_commits_together_or_not_at_all(tmp_path):
    with atomic.AtomicGroup() as g:
        a, b = g.path(tmp_path / "a"), g.path(tmp_path / "b")
        a.write_text("A")
        b.write_text("B")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a", "b"]
    with pytest.raises(OSError):
        with atomic.AtomicGroup() as g:
            g.path(tmp_path / "c").write_text("C")
            raise OSError(28, "No space left on device")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a", "b"]
