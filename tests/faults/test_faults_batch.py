"""Faults of ``wildpose batch``, made for real: a box file covering part of an archive, two runs
on one output folder, damaged outputs and run log lines, odd file names.

Runs the CLI in process (clamp-tiny, full-frame boxes, CPU) on tiny generated videos.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wildpose.batch import DONE, FAILED, SKIPPED, Shard, latest_records, read_run_log
from wildpose.batch.lock import OutputInUse, lock_output
from wildpose.synthetic import write_synthetic_video

FAST = ["--pose", "clamp-tiny", "--no-flip-test", "--device", "cpu", "-q"]
FULL = [*FAST, "--detector", "full-frame"]


def _video(path: Path, n: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_video(path, n_frames=n, size=(64, 48), fps=10.0, n_animals=1)
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for name in "abcde":
        _video(root / f"{name}.mp4")
    return root


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("wildpose: error:")]


def test_megadetector_json_covering_part_of_an_archive(invoke, archive, tmp_path, capsys) -> None:
    """Inputs the JSON does not cover fail alone (exit 1); the others are done."""
    det = {"category": "1", "conf": 0.9, "bbox": [0.1, 0.1, 0.5, 0.5]}
    images = [
        {"file": f"{v}.mp4/frame{i:06d}.jpg", "detections": [det]} for v in "abc" for i in range(4)
    ]
    boxes = tmp_path / "md.json"
    boxes.write_text(json.dumps({"images": images, "detection_categories": {"1": "animal"}}))
    out = tmp_path / "out"
    code = invoke(["batch", str(archive), "-o", str(out), *FAST, "--detector", f"boxes:{boxes}"])
    err = capsys.readouterr().err
    assert code == 1, err
    latest = latest_records(out)
    assert {k: r["status"] for k, r in latest.items()} == {
        "a.mp4": DONE,
        "b.mp4": DONE,
        "c.mp4": DONE,
        "d.mp4": FAILED,
        "e.mp4": FAILED,
    }
    assert latest["d.mp4"]["error"] == f"d.mp4: {boxes}: box file has no frames of d.mp4"
    assert len(_errors(err)) == 2 and "Traceback" not in err


_HOLD = textwrap.dedent(
    """
    import sys, time
    from wildpose.batch import Shard
    from wildpose.batch.lock import lock_output
    shard = Shard.parse(sys.argv[2]) if len(sys.argv) > 2 else None
    with lock_output(sys.argv[1], shard):
        print("held", flush=True)
        sys.stdin.read()
    """
)


class _Holder:
    """Another process holding the output folder (for a shard) until closed."""

    def __init__(self, out: Path, shard: str | None = None) -> None:
        args = [sys.executable, "-c", _HOLD, str(out)] + ([shard] if shard else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_second_run_on_the_same_output_exits_2(invoke, archive, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    holder = _Holder(out)
    try:
        code = invoke(["batch", str(archive), "-o", str(out), *FULL])
        err = capsys.readouterr().err
        assert code == 2, err
        (line,) = _errors(err)
        host = os.uname().nodename
        assert f"{out} is in use by wildpose batch pid {holder.proc.pid} on {host} since" in line
        assert not list(out.glob("*.parquet")) and not list(out.glob("runlog*"))
    finally:
        holder.close()
    assert invoke(["batch", str(archive), "-o", str(out), *FULL]) == 0  # released on exit


def test_lock_lets_shards_run_side_by_side(tmp_path) -> None:
    out = tmp_path / "out"
    holder = _Holder(out, "0/2")
    try:
        with lock_output(out, Shard(1, 2)):  # another shard: fine
            with lock_output(out, Shard(1, 2)):  # re-entrant in one process
                pass
        with pytest.raises(OutputInUse, match=rf"pid {holder.proc.pid} on .* since"):
            with lock_output(out, Shard(0, 2)):
                pass
        with pytest.raises(OutputInUse, match=rf"in use by wildpose batch pid {holder.proc.pid}"):
            with lock_output(out):  # the whole archive while a shard runs
                pass
    finally:
        holder.close()
    with lock_output(out):
        pass


def test_lock_on_unwritable_output_is_one_line(tmp_path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(Exception, match="cannot create the output folder") as info:
        with lock_output(target / "out"):
            pass
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_resume_verifies_outputs(invoke, archive, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert invoke(["batch", str(archive), "-o", str(out), *FULL]) == 0
    first = latest_records(out)
    sums = first["a.mp4"]["checksums"]
    assert set(sums) == set(first["a.mp4"]["outputs"])
    assert all(len(v["sha256"]) == 64 and v["size"] > 0 for v in sums.values())
    (out / "a.tracks.parquet").write_bytes(b"")  # truncated to 0 bytes
    table = out / "b.tracks.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    table.write_bytes(bytes(data))
    records = [json.loads(line) for line in (out / "runlog.jsonl").read_text().splitlines()]
    for rec in records:  # a record of an older version: no checksums, the outputs exist
        if rec["input"] == "c.mp4":
            del rec["checksums"]
    (out / "runlog.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    capsys.readouterr()
    assert invoke(["batch", str(archive), "-o", str(out), *FULL]) == 0
    again = latest_records(out)
    assert {k: r["status"] for k, r in again.items()} == {
        "a.mp4": DONE,  # redone: truncated output
        "b.mp4": DONE,  # redone: changed output
        "c.mp4": SKIPPED,  # no checksums recorded: exists is enough
        "d.mp4": SKIPPED,
        "e.mp4": SKIPPED,
    }
    assert (out / "a.tracks.parquet").stat().st_size == sums["a.tracks.parquet"]["size"]


def test_run_log_with_wrong_types_does_not_crash_resume(
    invoke, archive, tmp_path, capsys, caplog
) -> None:
    out = tmp_path / "out"
    assert invoke(["batch", str(archive), "-o", str(out), *FULL]) == 0
    path = out / "runlog.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    poison = {
        "a.mp4": {"frames": "abc"},
        "b.mp4": {"size": "big", "finished": "yesterday"},
        "c.mp4": {"outputs": "a.tracks.parquet"},
        "d.mp4": {"status": 3},
    }
    for rec in records:
        rec.update(poison.get(rec["input"], {}))
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    capsys.readouterr()
    assert invoke(["batch", str(archive), "-o", str(out), *FULL]) == 0
    err = capsys.readouterr().err
    warnings = [r.getMessage() for r in caplog.records if "the record is ignored" in r.getMessage()]
    assert all("\n" not in w for w in warnings)
    assert len(warnings) == 4 and "Traceback" not in err, err
    shown = [line for line in err.splitlines() if "the record is ignored" in line]
    assert len(shown) == 4 and all(line.startswith("wildpose: warning: ") for line in shown)
    assert "line 1 (input 'a.mp4'): 'frames' is not a whole number (\"abc\")" in warnings[0]
    statuses = {r["input"]: r["status"] for r in read_run_log(path)[5:]}
    assert statuses == {
        "a.mp4": DONE,
        "b.mp4": DONE,
        "c.mp4": DONE,
        "d.mp4": DONE,
        "e.mp4": SKIPPED,
    }


def test_odd_file_names_stay_one_line(invoke, tmp_path, capsys) -> None:
    root = tmp_path / "root"
    _video(root / "new\nline.mp4")
    (root / "bad\nname.mp4").write_bytes(b"not a video")
    os.makedirs(root, exist_ok=True)
    with open(os.fsencode(root) + b"/caf\xe9.mp4", "wb") as f:
        f.write(b"not a video either")
    out = tmp_path / "out"
    code = invoke(["batch", str(root), "-o", str(out), *FULL])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    errors = _errors(captured.err)
    assert len(errors) == 2 and "Traceback" not in captured.err
    assert any(line.startswith("wildpose: error: bad\\nname.mp4: ") for line in errors), errors
    assert any(line.startswith("wildpose: error: caf\\xe9.mp4: ") for line in errors), errors
    latest = latest_records(out)
    assert latest["new\nline.mp4"]["status"] == DONE


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path) -> None:
    from wildpose.batch.discover import BatchInput
    from wildpose.batch.partials import remove_stale_partials

    out = tmp_path / "out"
    (out / "site").mkdir(parents=True)
    names = [
        ".a.tracks.parquet.123-0badcafe.partial",  # a's: stale
        ".a.run.json.123-0badcafe.partial",  # a's: stale
        ".a.annotated.mp4.77-12345678.partial.mp4",  # a's, with the extension kept
        ".a.b.tracks.parquet.99-deadbeef.partial",  # input "a.b" (another shard): kept
        "a.tracks.parquet",  # a final name: kept
    ]
    for name in names:
        (out / "site" / name).write_bytes(b"x")
    item = BatchInput("site/a.mp4", "video", (tmp_path / "a.mp4",), "a")
    assert remove_stale_partials([item], out) == 3
    assert sorted(p.name for p in (out / "site").iterdir()) == sorted(names[3:])
