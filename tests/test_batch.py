"""Archive discovery, image bursts, shards, the run log and the resume rule (no model runs)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from wildpose.batch import (
    DONE,
    FAILED,
    BatchInput,
    RunLog,
    Shard,
    config_hash,
    discover,
    group_images,
    is_current,
    latest_records,
    merge_run_logs,
    read_run_log,
    run_log_files,
    run_log_path,
)
from wildpose.config import PoseConfig, RunConfig, resolve_run_config
from wildpose.errors import ConfigError
from wildpose.synthetic import write_image_sequence, write_synthetic_video

T0 = datetime(2024, 5, 1, 6, 30, 0)


def _names(groups: list[list[Path]]) -> list[list[str]]:
    return [[p.name for p in g] for g in groups]


def test_bursts_from_exif_times_split_by_gap(tmp_path):
    # Consecutive numbers, but the second trigger came an hour later: two bursts.
    write_image_sequence(tmp_path, 3, (48, 32), interval_s=0.5, name="IMG_000{i}.JPG")
    later = T0 + timedelta(hours=1)
    write_image_sequence(tmp_path, 2, (48, 32), start_time=later, name="IMG_000{i}x.JPG")
    for i in range(2):  # rename to IMG_0003, IMG_0004: names continue the first burst
        (tmp_path / f"IMG_000{i}x.JPG").rename(tmp_path / f"IMG_000{i + 3}.JPG")
    paths = sorted(tmp_path.iterdir())
    assert _names(group_images(paths, 3.0)) == [
        ["IMG_0000.JPG", "IMG_0001.JPG", "IMG_0002.JPG"],
        ["IMG_0003.JPG", "IMG_0004.JPG"],
    ]
    assert len(group_images(paths, 7200.0)) == 1  # the gap is configurable
    # 0.5 s apart: a gap below that splits every image
    assert len(group_images(paths, 0.4)) == 5


def test_bursts_without_exif_follow_consecutive_names(tmp_path):
    write_image_sequence(tmp_path, 3, (48, 32), exif=False, name="frame_{i}.png")
    shutil.copy(tmp_path / "frame_0.png", tmp_path / "frame_7.png")
    shutil.copy(tmp_path / "frame_0.png", tmp_path / "other_8.png")
    paths = [tmp_path / n for n in ("frame_0.png", "frame_1.png", "frame_2.png")]
    paths += [tmp_path / "frame_7.png", tmp_path / "other_8.png"]
    assert _names(group_images(paths)) == [
        ["frame_0.png", "frame_1.png", "frame_2.png"],
        ["frame_7.png"],
        ["other_8.png"],
    ]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A small archive: natural folder order, hidden/system files, collisions, a probed file."""
    root = tmp_path_factory.mktemp("tree")
    video = root / "cam2" / "b.mp4"
    video.parent.mkdir()
    write_synthetic_video(video, n_frames=2, size=(32, 32))
    for rel in ("cam10/a.mp4", "cam2/a.mp4", "cam2/a.mkv", "cam2/noext", "@eaDir/x.mp4"):
        (root / rel).parent.mkdir(exist_ok=True)
        shutil.copy(video, root / rel)
    for rel in (".hidden.mp4", "cam2/._b.mp4", "cam2/.DS_Store", "cam2/Thumbs.db"):
        shutil.copy(video, root / rel)
    (root / ".git").mkdir()
    shutil.copy(video, root / ".git" / "v.mp4")
    (root / "cam2" / "notes.dat").write_text("field notes\n" * 50)
    (root / "cam2" / "README.txt").write_text("readme")
    write_image_sequence(root / "cam2", 2, (32, 32), name="a{i}.jpg")
    (root / "out").mkdir()
    shutil.copy(video, root / "out" / "b.annotated.mp4")
    return root


def test_discover_order_kinds_stems_and_ignored(tree):
    found = discover(tree, out=tree / "out")
    got = [(i.key, i.kind, i.stem) for i in found.inputs]
    assert got == [
        ("cam2/a0.jpg..a1.jpg", "images", "a0.jpg..a1.jpg"),
        ("cam2/a.mkv", "video", "a.mkv"),  # same stem as a.mp4: whole names
        ("cam2/a.mp4", "video", "a.mp4"),
        ("cam2/b.mp4", "video", "b"),
        ("cam2/noext", "video", "noext"),  # no extension: found by probing
        ("cam10/a.mp4", "video", "a"),  # natural order: cam2 before cam10
    ]
    assert found.ignored == 6  # hidden, AppleDouble, .DS_Store, Thumbs.db, text, README
    assert all(p.is_absolute() for i in found.inputs for p in i.paths)
    assert discover(tree, out=tree / "out") == found  # deterministic
    # Outputs written beside the inputs (OUT = ROOT) are not inputs; an OUT elsewhere in ROOT is
    assert "out/b.annotated.mp4" not in [i.key for i in discover(tree, out=tree).inputs]
    assert "out/b.annotated.mp4" in [i.key for i in discover(tree, out=tree / "x").inputs]


def test_discover_refuses_missing_root(tmp_path):
    with pytest.raises(ConfigError, match="no such folder"):
        discover(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        discover(tmp_path / "f")


def test_input_stat_and_out_dir(tree):
    item = next(i for i in discover(tree).inputs if i.kind == "images")
    size, mtime_ns = item.stat()
    assert size == sum(p.stat().st_size for p in item.paths)
    assert mtime_ns == max(p.stat().st_mtime_ns for p in item.paths)
    assert item.out_dir(Path("/o")) == Path("/o/cam2")
    assert BatchInput("x.mp4", "video", (Path("/x.mp4"),), "x").out_dir(Path("/o")) == Path("/o")


def test_shards_partition_every_input_exactly_once():
    keys = [f"site{i % 7}/IMG_{i:04d}.JPG..IMG_{i + 4:04d}.JPG" for i in range(200)]
    items = [BatchInput(k, "images", (Path(k),), k) for k in keys]
    for n in (1, 2, 3, 8):
        parts = [Shard(i, n).select(items) for i in range(n)]
        assert sorted(i.key for p in parts for i in p) == sorted(keys)
        if n > 1:
            assert all(len(p) > 0 for p in parts)
    # the partition of a key does not depend on the other inputs
    assert Shard(1, 3).select(items[:50]) == [
        i for i in Shard(1, 3).select(items) if i in items[:50]
    ]
    assert Shard.parse(" 3/4 ") == Shard(3, 4) and str(Shard(3, 4)) == "3/4"
    for bad in ("4/4", "1", "a/b", "-1/2", "0/0"):
        with pytest.raises(ConfigError, match="--shard"):
            Shard.parse(bad)


def test_run_log_survives_a_torn_last_line(tmp_path):
    path = run_log_path(tmp_path)
    with RunLog(path) as log:
        log.append({"input": "a.mp4", "status": DONE})
        log.append({"input": "b.mp4", "status": FAILED, "error": "b.mp4: empty file"})
    with open(path, "ab") as f:  # a writer killed in the middle of a record
        f.write(b'{"input":"c.mp4","sta')
    assert [r["input"] for r in read_run_log(path)] == ["a.mp4", "b.mp4"]
    with RunLog(path) as log:  # reopening ends the torn line: the next record is whole
        log.append({"input": "d.mp4", "status": DONE})
    assert [r["input"] for r in read_run_log(path)] == ["a.mp4", "b.mp4", "d.mp4"]
    assert path.read_bytes().endswith(b"\n")


def test_latest_record_per_input_and_merge(tmp_path):
    s0, s1 = run_log_path(tmp_path, Shard(0, 2)), run_log_path(tmp_path, Shard(1, 2))
    assert s0.name == "runlog.shard-0-of-2.jsonl"
    with RunLog(s0) as log:
        log.append({"input": "a.mp4", "status": FAILED, "finished": 1.0})
        log.append({"input": "a.mp4", "status": DONE, "finished": 3.0})
    with RunLog(s1) as log:
        log.append({"input": "b.mp4", "status": DONE, "finished": 2.0})
        log.append({"input": "a.mp4", "status": FAILED, "finished": 2.5})  # older than s0's
    latest = latest_records(tmp_path)
    assert {k: r["status"] for k, r in latest.items()} == {"a.mp4": DONE, "b.mp4": DONE}
    path, merged = merge_run_logs(tmp_path, ["b.mp4", "a.mp4"])
    assert path == tmp_path / "runlog.jsonl"
    assert [r["input"] for r in read_run_log(path)] == ["b.mp4", "a.mp4"]
    assert merged == {"b.mp4": latest["b.mp4"], "a.mp4": latest["a.mp4"]}
    first = path.read_bytes()
    merge_run_logs(tmp_path, ["b.mp4", "a.mp4"])  # merging again changes nothing
    assert path.read_bytes() == first
    assert not list(tmp_path.glob(".*partial"))


def test_config_hash_ignores_speed_settings_only():
    base = config_hash(RunConfig())
    same = resolve_run_config(
        None,
        {"device": "cuda:1", "pose": {"batch_size": 7}, "video": {"prefetch": 2}},
        ["detector.frames_per_batch=3", "output.row_group_frames=9"],
    )
    assert config_hash(same) == base
    for change in ("output.format=csv", "pose.flip_test=false", "smooth.mode=none"):
        assert config_hash(resolve_run_config(None, {}, [change])) != base, change
    assert len(base) == 64 and json.loads(json.dumps(base)) == base


def test_resume_rule(tmp_path):
    (tmp_path / "a.tracks.parquet").write_bytes(b"x")
    rec = {
        "input": "a.mp4",
        "status": DONE,
        "model_sha256": "m",
        "config_hash": "c",
        "size": 10,
        "mtime_ns": 5,
        "outputs": ["a.tracks.parquet"],
    }
    assert is_current(rec, 10, 5, "m", "c", tmp_path)
    assert is_current({**rec, "status": "skipped"}, 10, 5, "m", "c", tmp_path)
    assert not is_current(None, 10, 5, "m", "c", tmp_path)
    assert not is_current({**rec, "status": FAILED}, 10, 5, "m", "c", tmp_path)
    assert not is_current(rec, 11, 5, "m", "c", tmp_path)  # input changed
    assert not is_current(rec, 10, 6, "m", "c", tmp_path)
    assert not is_current(rec, 10, 5, "other model", "c", tmp_path)
    assert not is_current(rec, 10, 5, "m", "other config", tmp_path)
    os.remove(tmp_path / "a.tracks.parquet")
    assert not is_current(rec, 10, 5, "m", "c", tmp_path)  # output gone


# The hash of the default configuration as wildpose 0.1 recorded it: run logs written by
# earlier releases resume only while an unchanged configuration hashes the same.
DEFAULT_CONFIG_HASH_0_1 = "c4d2c4167dd017a649ffcf2cdd1c4f1038298f6da85b4933237ecb3c07239255"


def test_config_hash_is_stable_across_releases():
    # 0.1's defaults spelled out: later keys at their 0.1 behaviour leave the hash as it was
    as_0_1 = RunConfig().replace(precision="fp16", pose=PoseConfig(refine="quarter"))
    assert config_hash(as_0_1) == DEFAULT_CONFIG_HASH_0_1
    # 0.2's defaults (bf16 where the CPU has it, DARK decoding) change outputs: inputs are redone
    assert config_hash(RunConfig()) != DEFAULT_CONFIG_HASH_0_1
    assert config_hash(as_0_1.replace(offline=True)) == DEFAULT_CONFIG_HASH_0_1


def _done_record(key: str, size: int, mtime_ns: int, **extra) -> dict:
    return {
        "input": key,
        "status": DONE,
        "model_sha256": "m",
        "config_hash": config_hash(RunConfig()),
        "size": size,
        "mtime_ns": mtime_ns,
        "outputs": [f"{Path(key).stem}.tracks.parquet"],
        "rows": 3,
        "finished": 1.0,
        **extra,
    }


def test_run_logs_include_legacy_manifests_and_nothing_else(tmp_path):
    for name in ("manifest.jsonl", "manifest.shard-1-of-2.jsonl", "runlog.jsonl"):
        (tmp_path / name).write_text("")
    for name in ("camera_manifest.jsonl", "manifest-notes.jsonl", "runlog.old.jsonl"):
        (tmp_path / name).write_text(json.dumps({"input": "a.mp4", "status": FAILED}) + "\n")
    assert [p.name for p in run_log_files(tmp_path)] == [
        "manifest.jsonl",
        "manifest.shard-1-of-2.jsonl",
        "runlog.jsonl",
    ]
    assert latest_records(tmp_path) == {}
    assert run_log_files(tmp_path / "missing") == []


def test_resume_from_a_legacy_manifest(tmp_path):
    """An archive processed by a release that wrote ``manifest.jsonl`` resumes: its done inputs
    are skipped, the new records go to ``runlog.jsonl``, and the legacy file is left as it was."""
    from types import SimpleNamespace

    from wildpose.batch import run_batch

    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    out.mkdir()
    (root / "a.mp4").write_bytes(b"not decoded: the input is already done")
    (out / "a.tracks.parquet").write_bytes(b"x")
    item = BatchInput("a.mp4", "video", (root / "a.mp4",), "a")
    size, mtime_ns = item.stat()
    legacy = out / "manifest.jsonl"
    legacy.write_text(json.dumps(_done_record("a.mp4", size, mtime_ns)) + "\n")
    before = legacy.read_bytes()
    stages = SimpleNamespace(loaded=SimpleNamespace(sha256="m"), config=RunConfig())

    summary = run_batch([item], out, stages, progress=False)  # type: ignore[arg-type]

    assert (summary.skipped, summary.done, summary.failed) == (1, 0, 0)
    assert summary.run_log == out / "runlog.jsonl"
    (rec,) = read_run_log(out / "runlog.jsonl")
    assert (
        rec["status"] == "skipped" and rec["rows"] == 3 and rec["outputs"] == ["a.tracks.parquet"]
    )
    assert legacy.read_bytes() == before
    # the newer record wins; merging writes runlog.jsonl and keeps the legacy file
    path, merged = merge_run_logs(out)
    assert path == out / "runlog.jsonl" and merged["a.mp4"]["status"] == "skipped"
    assert legacy.read_bytes() == before


def test_a_run_log_record_beats_a_legacy_one_on_a_tie(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(json.dumps(_done_record("a.mp4", 1, 1)) + "\n")
    with RunLog(run_log_path(tmp_path)) as log:
        log.append({**_done_record("a.mp4", 1, 1), "status": FAILED})
    assert latest_records(tmp_path)["a.mp4"]["status"] == FAILED
