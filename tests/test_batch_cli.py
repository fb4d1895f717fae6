"""`wildpose batch` end to end (clamp-tiny, full-frame boxes) on generated archives.

The archive mixes valid videos and image bursts with bad inputs; a subprocess run killed with
SIGKILL and then resumed must end with the same outputs as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from wildpose.batch import (
    DONE,
    FAILED,
    SKIPPED,
    Shard,
    latest_records,
    read_run_log,
    run_log_path,
)
from wildpose.synthetic import write_audio_file, write_image_sequence, write_synthetic_video

REPO = Path(__file__).resolve().parents[1]
FAST = ["--pose", "clamp-tiny", "--detector", "full-frame", "--no-flip-test", "--device", "cpu"]
FAST += ["-q"]

# key -> frames of every valid input of the archive
VALID = {
    "site A/clip 1.mp4": 12,
    "site A/IMG_0000.JPG..IMG_0003.JPG": 4,  # an EXIF burst
    "site A/IMG_0004.JPG..IMG_0005.JPG": 2,  # consecutive names, but an hour later
    "cam2/frame_1.png..frame_3.png": 3,  # no EXIF: consecutive names
    "cam2/one frame.mp4": 1,
    "cam2/tiny16.mp4": 8,
    "cam2/gray.mkv": 8,
    "cam2/rotated.mp4": 8,
    "nested/dëep/ñandú ü.mp4": 8,
    "nested/dëep/x/noext": 8,  # no extension: found by probing
}
# key -> a word of the expected cause
BAD = {
    "bad/empty.mp4": "empty file",
    "bad/truncated.mp4": "could be decoded",
    "bad/notes.mp4": "not a readable video",
    "bad/audio.mp4": "no video stream",
    "bad/garbage.mkv": "not a readable video",
    "bad/no frames.avi": "zero frames",
    "bad/ghost.mp4": "broken link",
    "bad/jpeg/broken.jpg": "none of its images can be read",
    "bad/jpeg/empty.jpg": "none of its images can be read",
    "bad/jpeg/text.png": "none of its images can be read",
}


def _video(path: Path, n: int = 8, size: tuple[int, int] = (64, 48), **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_video(path, n_frames=n, size=size, fps=10.0, n_animals=1, **kw)
    return path


def _bad_inputs(root: Path) -> None:
    bad = root / "bad"
    good = _video(root / "scratch.mp4", 8, (96, 64))
    (bad / "jpeg").mkdir(parents=True)
    (bad / "empty.mp4").write_bytes(b"")
    data = good.read_bytes()
    (bad / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (bad / "notes.mp4").write_text("field notes, not a video\n")
    write_audio_file(bad / "audio.mp4")
    (bad / "garbage.mkv").write_bytes(os.urandom(3000))
    import av

    with av.open(str(bad / "no frames.avi"), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # a header and no packets
    os.symlink(root / "missing.mp4", bad / "ghost.mp4")
    write_image_sequence(bad / "jpeg", 1, (64, 48), name="broken.jpg")
    jpeg = (bad / "jpeg" / "broken.jpg").read_bytes()
    (bad / "jpeg" / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (bad / "jpeg" / "empty.jpg").write_bytes(b"")
    (bad / "jpeg" / "text.png").write_text("not an image")
    good.unlink()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    _video(root / "site A" / "clip 1.mp4", 12, (96, 64))
    write_image_sequence(root / "site A", 4, (80, 64), name="IMG_000{i}.JPG")
    later = datetime(2024, 5, 1, 7, 30)
    write_image_sequence(root / "site A", 2, (80, 64), start_time=later, name="IMG_x{i}.JPG")
    for i in range(2):
        (root / "site A" / f"IMG_x{i}.JPG").rename(root / "site A" / f"IMG_000{i + 4}.JPG")
    write_image_sequence(root / "cam2", 4, (64, 48), exif=False, name="frame_{i}.png")
    (root / "cam2" / "frame_0.png").unlink()  # frame_1..frame_3
    _video(root / "cam2" / "one frame.mp4", 1)
    _video(root / "cam2" / "tiny16.mp4", 8, (16, 16))
    _video(root / "cam2" / "gray.mkv", codec="ffv1", pix_fmt="gray", gray=True)
    _video(root / "cam2" / "rotated.mp4", rotation=90)
    _video(root / "nested" / "dëep" / "ñandú ü.mp4")
    (root / "nested" / "dëep" / "x").mkdir()
    shutil.copy(_video(root / "n.mp4"), root / "nested" / "dëep" / "x" / "noext")
    (root / "n.mp4").unlink()
    # ignored: hidden, system and non-media files
    shutil.copy(root / "cam2" / "tiny16.mp4", root / "cam2" / ".hidden.mp4")
    (root / "cam2" / "Thumbs.db").write_bytes(b"\0" * 64)
    (root / "site A" / "notes.txt").write_text("deployment 3")
    _bad_inputs(root)
    return root


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {
        p.relative_to(out).as_posix(): pq.read_table(p).to_pandas()
        for p in sorted(out.rglob("*.tracks.parquet"))
    }


def test_archive_valid_done_bad_recorded_then_resumed(invoke, archive, tmp_path, capsys):
    out = tmp_path / "out"
    assert invoke(["batch", str(archive), "-o", str(out), *FAST]) == 1
    err = capsys.readouterr().err
    latest = latest_records(out)
    assert set(latest) == set(VALID) | set(BAD)  # hidden, system and text files ignored
    for key, frames in VALID.items():
        rec = latest[key]
        assert rec["status"] == DONE, (key, rec.get("error"))
        assert rec["frames"] == frames and rec["rows"] == frames * 17, key
        assert rec["error"] is None and len(rec["model_sha256"]) == 64
        folder, _, name = key.rpartition("/")
        stem = name if ".." in name else Path(name).stem  # a burst's stem is its whole name
        assert rec["outputs"] == [f"{folder}/{stem}.tracks.parquet", f"{folder}/{stem}.run.json"]
        df = pq.read_table(out / folder / f"{stem}.tracks.parquet").to_pandas()
        assert (df.video == key).all() and df.frame.nunique() == frames
        values = df[["x", "y", "score", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]]
        assert np.isfinite(values.to_numpy(np.float64)).all(), key
        assert df.score.between(0, 1).all(), key
        run = json.loads((out / folder / f"{stem}.run.json").read_text())
        assert run["video"] == key and run["batch"]["input"] == key
    assert json.loads((out / "site A/IMG_0000.JPG..IMG_0003.JPG.run.json").read_text())[
        "images"
    ] == [f"IMG_000{i}.JPG" for i in range(4)]
    for key, cause in BAD.items():
        rec = latest[key]
        assert rec["status"] == FAILED and "outputs" not in rec, key
        assert rec["error"].startswith(f"{key}: ") and cause in rec["error"], rec["error"]
        assert "\n" not in rec["error"] and rec["error"] in err
    assert not list(out.rglob("*partial"))
    assert not (out / "cam2" / ".hidden.tracks.parquet").exists()

    # Rerun: done inputs are skipped (outputs untouched), failed ones are tried again.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.tracks.parquet")}
    assert invoke(["batch", str(archive), "-o", str(out), *FAST]) == 1
    latest = latest_records(out)
    assert {k for k, r in latest.items() if r["status"] == SKIPPED} == set(VALID)
    assert {k for k, r in latest.items() if r["status"] == FAILED} == set(BAD)
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.tracks.parquet")}
    assert len(read_run_log(run_log_path(out))) == 2 * len(latest)


def test_configuration_errors_exit_2_before_anything_runs(invoke, archive, tmp_path):
    out = tmp_path / "out"
    assert invoke(["batch", str(archive), "-o", str(out), "--shard", "2/2", *FAST]) == 2
    assert invoke(["batch", str(tmp_path / "nope"), "-o", str(out), *FAST]) == 2
    assert invoke(["batch", str(archive), "-o", str(out), "--set", "bogus=1", *FAST]) == 2
    assert invoke(["batch", str(archive), "-o", str(out), *FAST[2:], "--pose", "no-such"]) == 2
    (tmp_path / "empty").mkdir()
    assert invoke(["batch", str(tmp_path / "empty"), "-o", str(out), *FAST]) == 2
    assert not out.exists()


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Four short videos and a burst in two folders."""
    root = tmp_path_factory.mktemp("small")
    for i, rel in enumerate(("a/v1.mp4", "a/v2.mp4", "b/v3.mp4", "v4.mp4")):
        _video(root / rel, 16, (96, 64), seed=i)
    write_image_sequence(root / "b", 3, (64, 48), name="IMG_{i}.jpg")
    return root


def test_shards_cover_every_input_once_and_merge(invoke, small, tmp_path, capsys):
    out = tmp_path / "out"
    listed = []
    for i in range(2):
        assert invoke(["batch", str(small), "-o", str(out), "--shard", f"{i}/2", "--dry-run"]) == 0
        listed.append([line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[1:]])
    assert invoke(["batch", str(small), "-o", str(out), "--dry-run"]) == 0
    everything = capsys.readouterr().out.splitlines()[1:]
    assert sorted(listed[0] + listed[1]) == sorted(line.split("\t")[0] for line in everything)
    assert len(everything) == 5 and not set(listed[0]) & set(listed[1])
    assert not out.exists()  # a dry run writes nothing

    # shard 0 runs; merging reports the inputs no shard has recorded yet
    assert invoke(["batch", str(small), "-o", str(out), "--shard", "0/2", *FAST]) == 0
    assert [r["input"] for r in read_run_log(run_log_path(out, Shard.parse("0/2")))] == listed[0]
    assert invoke(["batch", str(small), "-o", str(out), "--merge-shards"]) == 1
    assert invoke(["batch", str(small), "-o", str(out), "--shard", "1/2", *FAST]) == 0
    capsys.readouterr()
    assert invoke(["batch", str(small), "-o", str(out), "--merge-shards"]) == 0
    assert "5 inputs, 5 done" in capsys.readouterr().out
    merged = read_run_log(run_log_path(out))
    assert sorted(r["input"] for r in merged) == sorted(listed[0] + listed[1])
    assert all(r["status"] == DONE for r in merged)

    # an unsharded rerun sees the shards' records; --no-resume redoes one shard
    assert invoke(["batch", str(small), "-o", str(out), *FAST]) == 0
    assert all(r["status"] == SKIPPED for r in read_run_log(run_log_path(out))[5:])
    assert (
        invoke(["batch", str(small), "-o", str(out), "--shard", "1/2", "--no-resume", *FAST]) == 0
    )
    redone = read_run_log(run_log_path(out, Shard.parse("1/2")))[len(listed[1]) :]
    assert [r["status"] for r in redone] == [DONE] * len(listed[1])


def _wait_for_done(run_log: Path, proc: subprocess.Popen, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if run_log.exists():
            done = sum(r["status"] == DONE for r in read_run_log(run_log))
            if done:
                return done
        time.sleep(0.01)
    raise AssertionError(f"no input was recorded done (exit code {proc.poll()})")


def test_sigkill_midway_then_resume_equals_an_uninterrupted_run(invoke, small, tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "wildpose", "batch", str(small), "-o", str(killed), *FAST]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_done(run_log_path(killed), proc, 240)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = read_run_log(run_log_path(killed))
    assert proc.returncode == -signal.SIGKILL and len(before) < 5, "not killed midway"
    for table in killed.rglob("*.tracks.parquet"):  # every file with a final name is whole
        pq.read_table(table)
    for run in killed.rglob("*.run.json"):
        json.loads(run.read_text())
    first = killed / Path(before[0]["outputs"][0])
    stamp = first.stat().st_mtime_ns

    assert invoke(["batch", str(small), "-o", str(killed), *FAST]) == 0
    assert invoke(["batch", str(small), "-o", str(ref), *FAST]) == 0
    assert first.stat().st_mtime_ns == stamp  # the input done before the kill was not redone
    latest = latest_records(killed)
    assert latest[before[0]["input"]]["status"] == SKIPPED
    assert all(r["status"] in (DONE, SKIPPED) for r in latest.values()) and len(latest) == 5

    def files(out: Path) -> set[str]:
        return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}

    assert files(killed) == files(ref)  # hence no *.partial either
    assert not [f for f in files(killed) if f.endswith(".partial")]
    got, want = _tables(killed), _tables(ref)
    assert got.keys() == want.keys() and len(want) == 5
    for name, df in want.items():
        pd.testing.assert_frame_equal(got[name], df, obj=name)
        meta = pq.read_schema(killed / name).metadata
        assert meta == pq.read_schema(ref / name).metadata
