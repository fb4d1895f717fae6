"""Readers (decord, PyAV, image sequences), bad inputs, the real yuv444p video, the prefetcher."""

from __future__ import annotations

import _thread
import gc
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from wildpose.errors import ConfigError, InputError
from wildpose.synthetic import (
    SyntheticTruth,
    write_audio_file,
    write_image_sequence,
    write_synthetic_video,
)
from wildpose.video import Prefetcher, open_video, probe

try:
    import decord  # noqa: F401

    BACKENDS = ["pyav", "decord"]
except ImportError:  # decord has wheels for x86-64 only
    BACKENDS = ["pyav"]
needs_decord = pytest.mark.skipif("decord" not in BACKENDS, reason="decord is not installed")

VFR_TIMES = [0.0, 0.04, 0.08, 0.3, 0.34, 0.5, 0.9, 0.93, 0.96, 1.5, 1.52, 1.6, 2.0, 2.04]
KINDS = {
    "yuv420p": dict(size=(160, 120), n_frames=40),
    "yuv444p": dict(size=(160, 120), n_frames=40, pix_fmt="yuv444p"),
    "gray": dict(size=(160, 120), n_frames=20, gray=True, pix_fmt="gray", codec="ffv1"),
    "rot90": dict(size=(160, 120), n_frames=20, rotation=90),
    "rot270": dict(size=(160, 120), n_frames=10, rotation=270),
    "vfr": dict(size=(160, 120), times_s=VFR_TIMES),
    "one": dict(size=(160, 120), n_frames=1),
    "tiny": dict(size=(16, 16), n_frames=12, n_animals=1),
}
# decord 0.6 returns malformed frames for these (rotation metadata; some widths such as 16, 48,
# 72 px, where it returns 4 or 6 "channels"); the reader checks and uses PyAV instead.
DECORD_REFUSES = {"rot90": "rotation", "rot270": "rotation", "tiny": "decord returns"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SyntheticTruth]:
    folder = tmp_path_factory.mktemp("videos")
    out = {}
    for kind, options in KINDS.items():
        suffix = ".mkv" if options.get("codec") == "ffv1" else ".mp4"
        out[kind] = write_synthetic_video(folder / f"{kind}{suffix}", seed=3, **options)
    return out


@pytest.fixture()
def no_thread_leak() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and _prefetch_threads():
        time.sleep(0.01)
    assert not _prefetch_threads(), "a prefetch thread outlived its Prefetcher"


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wildpose-prefetch")]


def _read_all(path: str | Path, **options) -> tuple[list, object]:
    with open_video(path, **options) as reader:
        frames = list(reader)
    return frames, reader


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --------------------------------------------------------------------------------------------
# Synthetic videos of several kinds


@pytest.mark.parametrize("backend", ["auto", *BACKENDS])
@pytest.mark.parametrize("kind", KINDS)
def test_reads_every_frame_with_its_pts(videos, kind: str, backend: str) -> None:
    truth = videos[kind]
    if backend == "decord" and kind in DECORD_REFUSES:
        pytest.skip("decord mishandles this file (covered below)")
    frames, reader = _read_all(truth.path, backend=backend)
    assert reader.info.backend == ("decord" if backend == "decord" else "pyav")
    width, height = truth.size
    assert reader.info.width == width and reader.info.height == height
    assert reader.info.frame_count == truth.n_frames
    assert len(frames) == reader.frames_read == truth.n_frames
    assert reader.skipped == 0 and reader.skipped_errors == []
    assert [f.index for f in frames] == list(range(truth.n_frames))
    np.testing.assert_allclose([f.time_s for f in frames], truth.times_s, atol=1e-9)
    for frame in frames:
        assert frame.image.shape == (height, width, 3) and frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous


def test_probe_values(videos) -> None:
    vfr = probe(videos["vfr"].path)
    assert vfr.frame_count == len(VFR_TIMES) and vfr.fps > 0
    rot = probe(videos["rot90"].path)
    assert (rot.rotation, rot.width, rot.height) == (90, 160, 120)
    assert probe(videos["yuv444p"].path).pix_fmt == "yuv444p"
    gray = probe(videos["gray"].path)
    assert gray.pix_fmt == "gray" and gray.codec == "ffv1"
    info = probe(videos["yuv420p"].path)
    assert (info.fps, info.width, info.height, info.codec) == (30.0, 160, 120, "h264")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["yuv420p", "yuv444p", "gray", "rot90", "rot270"])
def test_keypoints_land_on_the_drawn_animals(videos, kind: str, backend: str) -> None:
    """The dark nose dot sits at the true nose: checks drawing, decoding and rotation together."""
    truth = videos[kind]
    if backend == "decord" and kind in DECORD_REFUSES:
        pytest.skip("decord mishandles this file")
    frames, _ = _read_all(truth.path, backend=backend)
    for frame in frames[:: max(1, len(frames) // 5)]:
        x, y = np.floor(truth.keypoints[frame.index, :, 0]).astype(int).T  # nose, (N,)
        inside = (x >= 0) & (x < truth.size[0]) & (y >= 0) & (y < truth.size[1])
        assert inside.any()
        nose = frame.image[y[inside], x[inside]].astype(int).mean(axis=-1)
        assert (nose < 60).all(), f"frame {frame.index}: nose pixels {nose} are not dark"


def test_rotation_is_undone(videos, tmp_path: Path) -> None:
    """Rotated files decode to the same picture as an unrotated file of the same scene."""
    plain = write_synthetic_video(tmp_path / "plain.mp4", size=(160, 120), n_frames=10, seed=3)
    upright, _ = _read_all(plain.path)
    for kind in ("rot90", "rot270"):
        turned, reader = _read_all(videos[kind].path)
        assert reader.info.backend == "pyav"
        for a, b in zip(upright, turned, strict=False):
            assert _diff(a.image, b.image) < 3.0


@needs_decord
@pytest.mark.parametrize("kind", ["yuv420p", "yuv444p", "gray", "vfr", "one"])
def test_decord_and_pyav_agree(videos, kind: str) -> None:
    by_pyav, _ = _read_all(videos[kind].path, backend="pyav")
    by_decord, reader = _read_all(videos[kind].path, backend="decord")
    assert reader.info.backend == "decord"
    assert [f.index for f in by_pyav] == [f.index for f in by_decord]
    assert [f.time_s for f in by_pyav] == [f.time_s for f in by_decord]
    for a, b in zip(by_pyav, by_decord, strict=True):
        assert _diff(a.image, b.image) < 1.0


@needs_decord
@pytest.mark.parametrize("kind", DECORD_REFUSES)
def test_decord_is_not_used_where_it_mishandles_the_file(videos, kind: str) -> None:
    with pytest.raises(InputError, match=DECORD_REFUSES[kind]) as caught:
        open_video(videos[kind].path, backend="decord")
    assert videos[kind].path in str(caught.value) and "pyav" in str(caught.value)
    with open_video(videos[kind].path) as reader:
        assert reader.info.backend == "pyav"


@pytest.mark.parametrize("backend", ["auto", *BACKENDS])
@pytest.mark.parametrize(
    ("kind", "start", "end"),
    [("yuv420p", 0.5, 1.0), ("yuv420p", 0.75, None), ("yuv420p", None, 0.2), ("vfr", 0.35, 1.55)],
)
def test_start_end_select_by_time(videos, kind, start, end, backend) -> None:
    truth = videos[kind]
    frames, reader = _read_all(truth.path, start=start, end=end, backend=backend)
    t = truth.times_s
    wanted = np.flatnonzero((t >= (start or 0)) & (t < (end if end is not None else np.inf)))
    assert [f.index for f in frames] == wanted.tolist()
    np.testing.assert_allclose([f.time_s for f in frames], t[wanted], atol=1e-9)
    assert reader.skipped == 0
    if kind != "vfr":  # the progress bar's estimate, from the nominal rate
        assert reader.expected_frames == len(wanted)
    full, _ = _read_all(truth.path, backend="pyav")
    assert _diff(frames[0].image, full[wanted[0]].image) < 1.0


def test_bad_time_ranges(videos) -> None:
    path = videos["yuv420p"].path
    with pytest.raises(ConfigError):
        open_video(path, start=-1.0)
    with pytest.raises(ConfigError):
        open_video(path, start=1.0, end=0.5)
    with pytest.raises(ConfigError):
        open_video(path, backend="opencv")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no frames in the time range") as caught:
        list(open_video(path, start=100.0))
    assert str(caught.value).startswith(path)


# --------------------------------------------------------------------------------------------
# Bad inputs


def _zero_frame_avi(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        container.start_encoding()


def _unknown_codec_avi(path: Path) -> None:
    write_synthetic_video(path, n_frames=3, size=(64, 48), codec="mjpeg", pix_fmt="yuvj420p")
    path.write_bytes(path.read_bytes().replace(b"MJPG", b"QQQQ"))  # fourcc nobody decodes


BAD_INPUTS = {
    "missing": (lambda p: None, "not found"),
    "empty": (lambda p: p.write_bytes(b""), "empty"),
    "text": (lambda p: p.write_text("this is not a video\n" * 20), "not a readable video"),
    "audio": (write_audio_file, "no video stream"),
    "zero-frames": (_zero_frame_avi, "zero frames"),
    "codec": (_unknown_codec_avi, "unsupported codec"),
}


@pytest.mark.parametrize("backend", ["auto", "pyav"])
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_naming_the_file(tmp_path: Path, case: str, backend: str) -> None:
    make, cause = BAD_INPUTS[case]
    path = tmp_path / ("bad.avi" if case in ("zero-frames", "codec") else "bad.mp4")
    make(path)
    for call in (lambda: probe(path), lambda: open_video(path, backend=backend)):
        with pytest.raises(InputError) as caught:
            call()
        message = str(caught.value)
        assert "\n" not in message and message.startswith(str(path)), message
        assert cause in message


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_truncated_mp4_keeps_frames_before_the_cut(tmp_path: Path, backend: str) -> None:
    truth = write_synthetic_video(tmp_path / "whole.mp4", n_frames=40, size=(160, 120))
    cut = tmp_path / "cut.mp4"
    data = Path(truth.path).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    frames, reader = _read_all(cut, backend=backend)
    whole, _ = _read_all(truth.path, backend="pyav")
    assert 0 < len(frames) < 40
    assert [f.index for f in frames] == list(range(len(frames)))
    assert reader.skipped == 40 - len(frames)
    assert any("truncated" in e for e in reader.skipped_errors)
    for a in frames:
        assert _diff(a.image, whole[a.index].image) < 1.0


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_corrupt_frame_mid_video_is_skipped_and_counted(tmp_path: Path, backend: str) -> None:
    """With "auto", decord either refuses the file at open (its read-ahead thread may already
    hit the bad frame) or raises mid-pass and PyAV goes on: the frames are the same."""
    truth = write_synthetic_video(
        tmp_path / "mj.avi", n_frames=12, size=(96, 64), codec="mjpeg", pix_fmt="yuvj420p"
    )
    with av.open(truth.path) as container:
        spans = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(Path(truth.path).read_bytes())
    pos, size = spans[5]
    data[pos + 16 : pos + size - 16] = bytes(size - 32)  # frame 5's JPEG data zeroed
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    frames, reader = _read_all(broken, backend=backend)
    assert [f.index for f in frames] == [i for i in range(12) if i != 5]
    np.testing.assert_allclose([f.time_s for f in frames], np.delete(truth.times_s, 5))
    assert reader.skipped == 1 and reader.frames_read == 11
    assert reader.skipped_errors


@needs_decord
def test_decord_failure_mid_pass_hands_over_to_pyav(videos, monkeypatch) -> None:
    import decord

    real_next, calls = decord.VideoReader.next, itertools.count()

    def failing_next(self):
        if next(calls) == 7:
            raise decord.DECORDError("injected failure")
        return real_next(self)

    expected, _ = _read_all(videos["yuv420p"].path, backend="pyav")
    with open_video(videos["yuv420p"].path, backend="decord") as reader:
        monkeypatch.setattr(decord.VideoReader, "next", failing_next)
        frames = list(reader)
        assert reader.skipped == 0 and "PyAV decodes the rest" in reader.skipped_errors[0]
        again = list(reader)  # later passes stay on PyAV
    assert [f.index for f in frames] == [f.index for f in expected] == [f.index for f in again]
    assert [f.time_s for f in frames] == [f.time_s for f in expected]
    for a, b in zip(frames, expected, strict=True):
        assert _diff(a.image, b.image) < 1.0


# --------------------------------------------------------------------------------------------
# Image sequences


def test_image_folder_is_sorted_naturally_and_timed_by_exif(tmp_path: Path) -> None:
    truth = write_image_sequence(tmp_path / "burst", n=12, size=(96, 64), interval_s=0.25)
    with open_video(tmp_path / "burst") as reader:
        frames = list(reader)
    assert reader.info.frame_count == 12 and reader.info.fps == pytest.approx(4.0)
    assert probe(tmp_path / "burst") == reader.info
    assert (reader.info.width, reader.info.height) == (96, 64)
    assert [f.index for f in frames] == list(range(12))
    np.testing.assert_allclose([f.time_s for f in frames], truth.times_s, atol=1e-3)
    # img2 before img10: the nose moves with time, so a lexical order would put frames apart
    reference = np.asarray(Image.open(tmp_path / "burst" / "img10.jpg").convert("RGB"))
    assert _diff(frames[10].image, reference) < 1.0


def test_image_glob_without_exif_uses_image_fps(tmp_path: Path) -> None:
    write_image_sequence(tmp_path, n=6, size=(64, 48), exif=False, name="cam_{i}.png", gray=True)
    (tmp_path / "notes.txt").write_text("not an image")
    frames, reader = _read_all(str(tmp_path / "cam_*.png"), image_fps=2.0, start=1.0)
    assert [f.index for f in frames] == [2, 3, 4, 5]
    assert [f.time_s for f in frames] == [1.0, 1.5, 2.0, 2.5]
    assert reader.info.fps == 2.0 and reader.info.backend == "images"
    assert all(f.image.shape == (48, 64, 3) for f in frames)
    assert (frames[0].image[..., 0] == frames[0].image[..., 2]).all()  # grey replicated


def test_unreadable_image_is_skipped(tmp_path: Path) -> None:
    write_image_sequence(tmp_path, n=5, size=(64, 48))
    (tmp_path / "img3.jpg").write_bytes(b"\xff\xd8 broken")
    frames, reader = _read_all(tmp_path)
    assert [f.index for f in frames] == [0, 1, 2, 4]
    assert reader.skipped == 1 and "img3.jpg" in reader.skipped_errors[0]


def test_sixteen_bit_image_keeps_its_top_byte(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 10), 0x8000, np.uint16)).save(tmp_path / "ir0.png")
    frames, _ = _read_all(tmp_path)
    assert frames[0].image.shape == (8, 10, 3) and (frames[0].image == 0x80).all()


def test_empty_folder_and_unmatched_glob(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no images"):
        open_video(tmp_path)
    with pytest.raises(InputError, match="no images match"):
        open_video(str(tmp_path / "*.jpg"))


# --------------------------------------------------------------------------------------------
# The real DeepLabCut open-field video (H.264 yuv444p)


@pytest.fixture(scope="module")
def openfield(shared_data: Path) -> Path:
    path = shared_data / "dlc-openfield" / "videos" / "m3v1mp4.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def test_real_video_probe(openfield: Path) -> None:
    info = probe(openfield)
    assert (info.width, info.height, info.frame_count) == (640, 480, 2330)
    assert info.fps == pytest.approx(30.0, rel=1e-4)
    assert info.duration_s == pytest.approx(77.67, abs=0.02)
    assert (info.pix_fmt, info.codec, info.rotation) == ("yuv444p", "h264", 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_video_head_and_seek_near_the_end(openfield: Path, backend: str) -> None:
    head, reader = _read_all(openfield, end=100 / 30 - 1e-3, backend=backend)
    assert reader.info.backend == backend
    assert [f.index for f in head] == list(range(100))
    np.testing.assert_allclose([f.time_s for f in head], np.arange(100) * 0.033333, atol=1e-6)
    tail, _ = _read_all(openfield, start=75.0, end=75.5, backend=backend)
    first = int(np.ceil(75.0 / 0.033333))  # frame k is presented at k * 33333 us
    assert tail[0].index == first and tail[0].time_s == pytest.approx(first * 0.033333, abs=1e-6)
    assert [f.index for f in tail] == list(range(first, first + 15))
    assert head[0].image.shape == (480, 640, 3) and head[0].image.std() > 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_yuv444p_seek_decodes_like_a_sequential_read(openfield: Path, backend: str) -> None:
    """x264 < 151 wrote buggy 4:4:4; FFmpeg undoes it only after seeing the first packet's SEI.

    Seeking (here to the keyframe at 6.0 s) with a fresh decoder gives garbage (mean abs
    difference ~120 grey levels) unless the reader primes the decoder first.
    """
    sequential, _ = _read_all(openfield, end=7.2, backend="pyav")
    seeked, reader = _read_all(openfield, start=7.0, end=7.2, backend=backend)
    assert reader.info.backend == backend and len(seeked) == 6
    for frame in seeked:
        assert _diff(frame.image, sequential[frame.index].image) < 0.5
        assert frame.time_s == sequential[frame.index].time_s


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_real_video_full_decode(openfield: Path, backend: str) -> None:
    count, last = 0, None
    with open_video(openfield, backend=backend) as reader:
        for frame in reader:
            assert frame.index == count
            count, last = count + 1, frame
    assert count == 2330 and reader.skipped == 0
    assert last.time_s == pytest.approx(77.63, abs=0.01)


# --------------------------------------------------------------------------------------------
# Prefetcher


def _slow(n: int | None, delay: float = 0.01) -> Iterator[int]:
    for i in itertools.count() if n is None else range(n):
        time.sleep(delay)
        yield i


def test_prefetcher_yields_everything_in_order(no_thread_leak) -> None:
    with Prefetcher(range(100), maxsize=3) as items:
        assert list(items) == list(range(100))


def test_prefetcher_reraises_the_producer_error_after_earlier_items(no_thread_leak) -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ZeroDivisionError("boom in the producer")

    got = []
    with pytest.raises(ZeroDivisionError, match="boom in the producer") as caught:
        with Prefetcher(failing(), maxsize=1) as items:
            got.extend(items)
    assert got == [1, 2]
    assert any(entry.name == "failing" for entry in caught.traceback)


def test_prefetcher_close_is_prompt_while_producer_waits_on_a_full_queue(no_thread_leak) -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            yield from itertools.count()
        finally:
            closed.set()

    items = Prefetcher(endless(), maxsize=2)
    assert next(items) == 0
    time.sleep(0.1)  # the producer now blocks on the full queue
    started = time.monotonic()
    items.close()
    assert time.monotonic() - started < 1.5  # polls every 50 ms; slack for a loaded CI machine
    assert closed.is_set(), "the source iterator was not closed"
    with pytest.raises(StopIteration):
        next(items)


def test_abandoned_prefetcher_is_collected_and_its_thread_ends(no_thread_leak) -> None:
    items = Prefetcher(itertools.count(), maxsize=2)
    next(items)
    del items
    gc.collect()


def test_consumer_error_and_ctrl_c_stop_the_producer(no_thread_leak, request) -> None:
    with pytest.raises(RuntimeError):
        with Prefetcher(_slow(None), maxsize=2) as items:
            for i in items:
                if i == 3:
                    raise RuntimeError("consumer failed")
    # Ctrl-C as a terminal gives it to a CLI: Python's handler raising KeyboardInterrupt. A
    # test run started in the background by a non-interactive shell inherits SIGINT ignored,
    # and then interrupt_main does nothing. It is resent every 0.2 s until the consumer has it,
    # so the test does not depend on where one lands.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    lock, received = threading.Lock(), threading.Event()

    def ctrl_c() -> None:
        while not received.wait(0.2):
            with lock:
                if not received.is_set():
                    _thread.interrupt_main()

    sender = threading.Thread(target=ctrl_c, name="ctrl-c")
    with pytest.raises(KeyboardInterrupt):
        with Prefetcher(_slow(None), maxsize=2) as items:
            sender.start()
            try:
                for n, _ in enumerate(items):
                    assert n < 2000, "Ctrl-C never reached the consumer"
            finally:
                received.set()  # no interrupt is sent after this ...
                with lock:  # ... and one being sent has been sent (it raises in here)
                    pass
    sender.join()


@pytest.mark.parametrize("backend", BACKENDS)
def test_prefetched_reader_stops_midway(videos, backend: str, no_thread_leak) -> None:
    with open_video(videos["yuv420p"].path, backend=backend) as reader:
        with Prefetcher(reader, maxsize=4) as frames:
            first = [next(frames) for _ in range(5)]
        assert [f.index for f in first] == list(range(5))
        reader.close()  # from the consumer thread while nothing runs: harmless
    with pytest.raises(ValueError, match="closed"):
        iter(reader)


def test_unreadable_image_after_ultralytics_patched_pil(tmp_path: Path) -> None:
    """A detector run imports ultralytics, which replaces PIL.Image.open; an unreadable image
    must still be skipped with PIL's own message."""
    import ultralytics.utils.patches  # noqa: F401

    from wildpose.synthetic import write_image_sequence

    write_image_sequence(tmp_path, 3, (64, 48))
    images = sorted(tmp_path.iterdir())
    images[1].write_bytes(b"garbage")
    reader = open_video(tmp_path)
    assert len(list(reader)) == 2 and reader.skipped == 1
    assert "pi_heif" not in reader.skipped_errors[0]


def test_unreadable_image_when_ultralytics_was_imported_first(tmp_path: Path) -> None:
    """Also when ultralytics replaced PIL.Image.open before wildpose was imported (a fresh
    interpreter, as in a user's script that loads a YOLO model first)."""
    from wildpose.synthetic import write_image_sequence

    write_image_sequence(tmp_path, 3, (64, 48))
    sorted(tmp_path.iterdir())[1].write_bytes(b"garbage")
    script = (
        "import sys, ultralytics.utils.patches\n"
        "from wildpose.video import open_video\n"
        "reader = open_video(sys.argv[1])\n"
        "print(len(list(reader)), reader.skipped, reader.skipped_errors[0])\n"
    )
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 1 ") and "cannot identify image file" in done.stdout


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")


def test_paused_default_reader_does_not_decode_ahead(openfield: Path) -> None:
    """The default backend decodes only what is asked for: a reader left waiting (as while the
    pose model runs) must not fill memory with the rest of the file (decord 0.6 does)."""
    with open_video(openfield) as reader:
        frames = iter(reader)
        next(frames)
        before = _rss_mib()
        time.sleep(1.5)
        grown = _rss_mib() - before
        next(frames)
    assert reader.info.backend == "pyav"
    assert grown < 40, f"RSS grew {grown:.0f} MiB while the reader was paused"
