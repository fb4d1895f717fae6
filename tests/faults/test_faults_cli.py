"""Faults of ``wildpose track`` (and the CLI around it), made for real through the CLI.

Tests run as root, which ignores permission bits (``chmod`` proves nothing): a read-only output
is an immutable folder (``chattr +i``) or a read-only bind mount, a full disk a small tmpfs
filled up. Where neither works here, the test falls back to a monkeypatched write raising the
same ``OSError`` (EROFS, ENOSPC). The CLI runs in this process (clamp-tiny, CPU) on tiny clips.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from wildpose.synthetic import write_synthetic_video

FAST = ["--pose", "clamp-tiny", "--no-flip-test", "--device", "cpu", "-q"]
FULL_FRAME = [*FAST, "--detector", "full-frame"]


def invoke(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, list[str]]:
    """``wildpose ARGS`` in this process: (exit code, stdout, stderr lines)."""
    from wildpose.cli import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, [line for line in out.err.splitlines() if line.strip()]


def final_files(folder: Path) -> list[str]:
    """Names in ``folder`` (recursively), temporaries included."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _can_write(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


def _run(*cmd: str) -> bool:
    if shutil.which(cmd[0]) is None:
        return False
    return subprocess.run(cmd, capture_output=True).returncode == 0


@contextmanager
def read_only(folder: Path) -> Iterator[str | None]:
    """Make ``folder`` refuse new files: ``chattr +i`` (EPERM), else a read-only bind mount
    (EROFS). Yields the mechanism, or None when neither works here."""
    folder.mkdir(parents=True, exist_ok=True)
    if _run("chattr", "+i", str(folder)):
        if not _can_write(folder):
            try:
                yield "chattr +i"
            finally:
                _run("chattr", "-i", str(folder))
            return
        _run("chattr", "-i", str(folder))
    if _run("mount", "--bind", "-o", "ro", str(folder), str(folder)):
        try:
            yield "ro bind mount" if not _can_write(folder) else None
        finally:
            _run("umount", str(folder))
        return
    yield None


@contextmanager
def small_disk(folder: Path, size: str = "1M") -> Iterator[bool]:
    """A tmpfs of ``size`` at ``folder``; yields False when mounting is not possible here."""
    folder.mkdir(parents=True, exist_ok=True)
    if not _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)):
        yield False
        return
    try:
        yield True
    finally:
        _run("umount", str(folder))


def fill(folder: Path, leave: int = 0) -> None:
    """Use up the free space of ``folder``'s file system but ``leave`` bytes."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "ab") as f:
        try:
            f.write(b"\0" * max(0, free - leave))
            f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC


def no_space(path: object = None) -> OSError:
    """The error a full disk gives."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(path)] if path else []))


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A short clip (8 frames, 96x80, 10 fps, one animal)."""
    path = tmp_path_factory.mktemp("clip") / "c.mp4"
    write_synthetic_video(path, n_frames=8, size=(96, 80), fps=10.0, n_animals=1)
    return path


def _copy(src: Path, dst: Path | bytes) -> Path:
    """Copy ``src`` to ``dst`` (a bytes path for names that are not UTF-8)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    return Path(os.fsdecode(dst))


def _one_error_line(err: list[str], *words: str) -> str:
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith("wildpose: error: ") and "Traceback" not in line, line
    for word in words:
        assert word in line, (word, line)
    return line


# 1. every exception of one input is that input's one-line failure; the others go on


def test_os_error_of_one_input_is_its_line_and_the_next_is_done(clip, tmp_path, capsys):
    """The first input's own folder refuses new files (no -o: outputs go beside each input)."""
    ro, ok = tmp_path / "ro", tmp_path / "ok"
    bad, good = _copy(clip, ro / "a.mp4"), _copy(clip, ok / "b.mp4")
    with read_only(ro) as how:
        if how is None:
            pytest.skip("neither chattr +i nor a read-only bind mount works here")
        code, out, err = invoke(["track", str(bad), str(good), *FULL_FRAME], capsys)
        left = final_files(ro)
    assert code == 1
    line = _one_error_line(err, str(bad))
    assert "not permitted" in line or "Read-only file system" in line
    assert ".partial" not in line  # the message names the output, not its temporary name
    assert left == ["a.mp4"]
    assert out.count("\n") == 1 and out.startswith(f"{good}: 8 frames")
    assert (ok / "b.tracks.parquet").exists() and (ok / "b.run.json").exists()


def test_a_bug_in_one_input_is_its_line_and_debug_shows_the_traceback(
    clip, tmp_path, capsys, monkeypatch
):
    """A non-wildpose exception (here a RuntimeError from the pose stage on the first input)."""
    import wildpose.pipeline.run as run

    real, calls = run.estimate_poses, []

    def flaky(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA error: an illegal memory access\nwas encountered")
        return real(*args, **kw)

    monkeypatch.setattr(run, "estimate_poses", flaky)
    second = _copy(clip, tmp_path / "d.mp4")
    code, out, err = invoke(
        ["track", str(clip), str(second), "-o", str(tmp_path / "o")] + FULL_FRAME, capsys
    )
    assert code == 1
    _one_error_line(err, str(clip), "RuntimeError: CUDA error: an illegal memory access was")
    assert final_files(tmp_path / "o") == ["d.run.json", "d.tracks.parquet"]
    assert out.startswith(f"{second}: 8 frames")

    calls.clear()
    args = ["--debug", "track", str(clip), str(second), "-o", str(tmp_path / "p"), *FULL_FRAME]
    code, out, err = invoke(args, capsys)
    assert code == 1 and err[0].startswith("Traceback") and err[-1].startswith("wildpose: error:")
    assert (tmp_path / "p" / "d.tracks.parquet").exists()


def test_ctrl_c_stops_with_130_and_leaves_nothing(clip, tmp_path, capsys, monkeypatch):
    """Ctrl-C in the second chunk of the first input: exit 130, no output, no other input."""
    import wildpose.pipeline.run as run

    real, calls = run.estimate_poses, []

    def interrupted(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(run, "estimate_poses", interrupted)
    out = tmp_path / "out"
    args = ["track", str(clip), str(_copy(clip, tmp_path / "e.mp4")), "-o", str(out)]
    code, stdout, err = invoke([*args, *FULL_FRAME, "--set", "detector.frames_per_batch=2"], capsys)
    assert code == 130 and err == ["wildpose: interrupted"] and stdout == ""
    assert final_files(out) == [] and len(calls) == 2


# 2. the file system: read-only or wrong output folders, full disks, odd names


def test_read_only_output_folder_is_exit_2_before_any_input(clip, tmp_path, capsys):
    out = tmp_path / "out"
    with read_only(out) as how:
        if how is None:
            pytest.skip("neither chattr +i nor a read-only bind mount works here")
        for target, words in ((out, "cannot write in"), (out / "new", "cannot create")):
            args = ["track", str(clip), "nope.mp4", "-o", str(target), *FAST]
            code, stdout, err = invoke(args, capsys)
            assert code == 2 and stdout == ""
            _one_error_line(err, str(target), f"{words} the output folder")
        left = final_files(out)
    assert left == []


def test_output_that_is_a_file_is_exit_2(clip, tmp_path, capsys):
    afile = tmp_path / "out"
    afile.write_text("not a folder\n")
    for out, words in ((afile, "must be a folder"), (afile / "sub", "is a file")):
        code, stdout, err = invoke(["track", str(clip), "-o", str(out), *FAST], capsys)
        assert code == 2 and stdout == ""
        _one_error_line(err, str(out), words)
    assert afile.read_text() == "not a folder\n"


def test_full_disk_at_the_tables(clip, tmp_path, capsys, monkeypatch):
    out = tmp_path / "full"
    with small_disk(out, "256k") as mounted:
        if mounted:
            fill(out)
        else:
            from wildpose.output import TrackTableWriter

            def full(self, *a, **kw):
                raise no_space()

            monkeypatch.setattr(TrackTableWriter, "write", full)
        code, stdout, err = invoke(
            ["track", str(clip), "-o", str(out), "--format", "both", *FULL_FRAME], capsys
        )
        left = final_files(out)
    assert code == 1 and stdout == ""
    _one_error_line(err, str(clip), "No space left on device")
    assert left == (["filler"] if mounted else [])


def test_full_disk_at_the_batch_run_log(clip, tmp_path, capsys, monkeypatch):
    """The disk fills up as the first record is appended: the batch stops with one line and
    exit 1; the input has no record, so a rerun does it again."""
    from wildpose.batch.runlog import RunLog

    root, out = tmp_path / "archive", tmp_path / "full"
    _copy(clip, root / "site" / "c.mp4")
    _copy(clip, root / "site" / "d.mp4")
    real = RunLog.append
    with small_disk(out, "1M") as mounted:

        def disk_fills_up(self, record, **kw):
            if not mounted:
                raise no_space()
            fill(out)
            real(self, record, **kw)

        monkeypatch.setattr(RunLog, "append", disk_fills_up)
        code, stdout, err = invoke(["batch", str(root), "-o", str(out), *FULL_FRAME], capsys)
        runlog = (out / "runlog.jsonl").read_bytes() if (out / "runlog.jsonl").exists() else b""
        tables = sorted(p.name for p in out.rglob("*.tracks.parquet"))
    assert code == 1 and stdout == "" and runlog == b""
    assert tables == ["c.tracks.parquet"]  # done but not recorded; d never ran
    line = _one_error_line(err, str(out), "No space left on device", "batch stopped")
    assert "run it again to resume" in line


def test_file_names_that_are_not_utf8(clip, tmp_path, capsys):
    """click hands such names over as surrogate escapes (PEP 383): they are read, written
    under the same bytes, and named in messages as ``\\xff``; the track table's ``video``
    column stays valid UTF-8."""
    import pyarrow.parquet as pq

    folder = os.fsencode(tmp_path)
    name = _copy(clip, folder + b"/c\xff.mp4")
    out = tmp_path / "out"
    code, stdout, err = invoke(["track", str(name), "-o", str(out), *FULL_FRAME], capsys)
    assert code == 0 and err == [], err
    assert stdout.count("\n") == 1 and "c\\xff.mp4: 8 frames" in stdout
    assert sorted(os.listdir(os.fsencode(out))) == [b"c\xff.run.json", b"c\xff.tracks.parquet"]
    with open(os.fsencode(out) + b"/c\xff.tracks.parquet", "rb") as f:
        videos = set(pq.read_table(f).column("video").to_pylist())
    assert videos == {os.fsdecode(folder) + "/c\\xff.mp4"}


def test_missing_file_whose_name_is_not_utf8(tmp_path, capsys):
    missing = os.fsdecode(os.fsencode(tmp_path) + b"/gone\xff.mp4")
    code, stdout, err = invoke(["track", missing, *FULL_FRAME], capsys)
    assert code == 1 and stdout == ""
    _one_error_line(err, "gone\\xff.mp4")


def test_a_newline_in_a_name_stays_one_line(clip, tmp_path, capsys):
    good = _copy(clip, tmp_path / "a\nb.mp4")
    missing = tmp_path / "x\ny.mp4"
    out = tmp_path / "out"
    code, stdout, err = invoke(
        ["track", str(good), str(missing), "-o", str(out), *FULL_FRAME], capsys
    )
    assert code == 1
    _one_error_line(err, "x\\ny.mp4")
    assert stdout.count("\n") == 1 and "a\\nb.mp4: 8 frames" in stdout, stdout
    assert final_files(out) == ["a\nb.run.json", "a\nb.tracks.parquet"]


# 3. a burst whose images differ in size


def test_burst_of_mixed_image_sizes(tmp_path, capsys):
    """Mixed cameras and EXIF-rotated stills in one folder: every frame is posed in its own
    size (full-frame boxes are each image's own bounds)."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    sizes = [(96, 80), (80, 96), (96, 80), (64, 48), (80, 96)]  # (w, h)
    burst = tmp_path / "burst"
    burst.mkdir()
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(burst / f"img_{i}.png")
    out = tmp_path / "out"
    args = ["track", str(burst), "-o", str(out), *FULL_FRAME, "--set", "pose.batch_size=2"]
    code, stdout, err = invoke(args, capsys)
    assert code == 0 and err == [], err
    df = pd.read_parquet(out / "burst.tracks.parquet")
    assert len(df) == len(sizes) * 17
    boxes = df.groupby("frame")[["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]].first()
    assert boxes.to_numpy().tolist() == [[0, 0, w, h] for w, h in sizes]
    assert np.isfinite(df[["x", "y", "score"]].to_numpy()).all()
    assert stdout.startswith(f"{burst}: 5 frames, 1 tracks, {len(df)} rows")


# 4. two inputs that would write the same names


def test_inputs_with_one_stem_get_their_whole_names(clip, tmp_path, capsys):
    import pyarrow.parquet as pq

    from wildpose.synthetic import write_synthetic_video

    mov = tmp_path / "c.mov"
    write_synthetic_video(mov, n_frames=5, size=(64, 48), fps=10.0, n_animals=1)
    out = tmp_path / "out"
    code, stdout, err = invoke(["track", str(clip), str(mov), "-o", str(out), *FULL_FRAME], capsys)
    assert code == 0 and err == []
    assert final_files(out) == [
        "c.mov.run.json",
        "c.mov.tracks.parquet",
        "c.mp4.run.json",
        "c.mp4.tracks.parquet",
    ]
    for video, frames in ((clip, 8), (mov, 5)):
        table = pq.read_table(out / f"{video.name}.tracks.parquet").to_pandas()
        assert set(table.video) == {str(video)} and table.frame.nunique() == frames
    assert [line.split(" -> ")[1] for line in stdout.splitlines()] == [
        "c.mp4.tracks.parquet, c.mp4.run.json",
        "c.mov.tracks.parquet, c.mov.run.json",
    ]


def test_inputs_that_would_still_collide_are_refused_before_any_runs(clip, tmp_path, capsys):
    a, b = _copy(clip, tmp_path / "a" / "c.mp4"), _copy(clip, tmp_path / "b" / "c.mp4")
    out = tmp_path / "out"
    code, stdout, err = invoke(["track", str(a), str(b), "-o", str(out), *FULL_FRAME], capsys)
    assert code == 2 and stdout == "" and not out.exists()
    _one_error_line(err, str(a), str(b), "would both write")
    code, stdout, err = invoke(["track", str(a), str(a), "-o", str(out), *FULL_FRAME], capsys)
    assert code == 2 and not out.exists()
    _one_error_line(err, str(a), "given twice")


def test_help_says_how_outputs_are_named(capsys):
    from click.testing import CliRunner

    from wildpose.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["track", "--help"]).output.split())
    assert "named by their whole file name" in text and "c.mp4.tracks.parquet" in text


# 5. what -q keeps, and a video in which nothing is found


def test_quiet_keeps_the_summary_and_nothing_found_is_said(clip, tmp_path, capsys):
    empty = tmp_path / "boxes.csv"
    empty.write_text("frame,x1,y1,x2,y2\n")
    out = tmp_path / "out"
    args = ["track", str(clip), "-o", str(out), *FAST, "--detector", f"boxes:{empty}"]
    code, stdout, err = invoke(args, capsys)
    assert code == 0
    assert stdout.startswith(f"{clip}: 8 frames, 0 tracks, 0 rows") and stdout.count("\n") == 1
    assert len(err) == 1 and err[0].startswith(f"wildpose: warning: {clip}: no animals"), err
    assert "in 8 frames" in err[0]
    record = json.loads((out / "c.run.json").read_text())
    assert record["rows"] == 0 and record["detections"] in (0, None)  # None: not counted
    assert len(record["warnings"]) == 1 and record["warnings"][0] in err[0]
    # what ran, never fp16 on a CPU: bf16 where the CPU has fast bf16 (precision auto), else fp32
    from wildpose.pose.precision import cpu_has_fast_bf16

    want = "bf16" if cpu_has_fast_bf16() else "fp32"
    assert record["device"] == "cpu" and record["precision"] == want


# 6. configuration values: one line, exit 2, before any input is read


BAD_CONFIG = {
    "device=tpu": (["--device", "tpu"], "device"),
    "--start inf": (["--start", "inf"], "video.start"),
    "--end nan": (["--end", "nan"], "video.end"),
    "padding=0": (["--set", "pose.padding=0"], "pose.padding"),
    "--batch-size 0": (["--batch-size", "0"], "--batch-size"),
    "pose.batch_size=0": (["--set", "pose.batch_size=0"], "pose.batch_size"),
    "prefetch=0": (["--set", "video.prefetch=0"], "video.prefetch"),
    "row_group_frames=-1": (["--set", "output.row_group_frames=-1"], "output.row_group_frames"),
    "frames_per_batch=0": (["--set", "detector.frames_per_batch=0"], "frames_per_batch"),
    "conf=-0.1": (["--set", "detector.conf=-0.1"], "detector.conf"),
    "YAML not UTF-8": (["--pipeline", "LATIN1"], "not UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIG))
def test_bad_configuration_is_exit_2_before_any_input(case, tmp_path, capsys):
    args, word = BAD_CONFIG[case]
    latin1 = tmp_path / "preset.yaml"
    latin1.write_bytes("detector:\n  conf: 0.3  # café\n".encode("latin-1"))
    args = [str(latin1) if a == "LATIN1" else a for a in args]
    missing = tmp_path / "never-read.mp4"  # reading it would be exit 1
    code, stdout, err = invoke(["track", str(missing), *FULL_FRAME, *args], capsys)
    assert code == 2 and stdout == ""
    line = _one_error_line(err, word)
    assert "never-read" not in line


def test_cuda_without_cuda_is_exit_2(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    for device in ("cuda", "cuda:1"):
        missing = tmp_path / "never-read.mp4"
        code, _, err = invoke(["track", str(missing), *FULL_FRAME, "--device", device], capsys)
        assert code == 2, err
        _one_error_line(err, "CUDA")


# 7. a full disk at run.json: the input's new files are committed together or not at all


def test_full_disk_at_run_json_keeps_the_previous_outputs(clip, tmp_path, capsys, monkeypatch):
    import wildpose.pipeline.run as run

    out = tmp_path / "full"
    with small_disk(out, "2M") as mounted:
        code, _, _ = invoke(["track", str(clip), "-o", str(out), *FULL_FRAME], capsys)
        assert code == 0
        before = {name: (out / name).read_bytes() for name in final_files(out)}
        assert sorted(before) == ["c.run.json", "c.tracks.parquet"]
        real = run.dump_json

        def disk_fills_up(path, obj):
            """The table is written (under its temporary name); then the disk is full."""
            if not mounted:
                raise no_space()
            fill(out)
            real(path, obj)

        monkeypatch.setattr(run, "dump_json", disk_fills_up)
        args = ["track", str(clip), "-o", str(out), *FULL_FRAME, "--set", "pose.padding=1.5"]
        code, stdout, err = invoke(args, capsys)
        after = {name: (out / name).read_bytes() for name in final_files(out) if name != "filler"}
    assert code == 1 and stdout == ""
    _one_error_line(err, str(clip), "No space left on device")
    assert after == before  # the old table and record, whole; no new file, no temporary
