"""`wildpose track` end to end through the CLI on generated videos (clamp-tiny)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from wildpose.cli import cli
from wildpose.synthetic import write_synthetic_video

CONTRACT = [
    ("video", pa.string()),
    ("frame", pa.int64()),
    ("time_s", pa.float64()),
    ("track_id", pa.int64()),
    ("class_name", pa.string()),
    ("det_score", pa.float32()),
    ("bbox_x1", pa.float32()),
    ("bbox_y1", pa.float32()),
    ("bbox_x2", pa.float32()),
    ("bbox_y2", pa.float32()),
    ("keypoint", pa.dictionary(pa.int32(), pa.string())),
    ("x", pa.float32()),
    ("y", pa.float32()),
    ("score", pa.float32()),
    ("x_smooth", pa.float32()),
    ("y_smooth", pa.float32()),
    ("var_smooth", pa.float32()),
]
FAST = ["--pose", "clamp-tiny", "--no-flip-test", "--device", "cpu", "-q"]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("v") / "two animals.mp4"
    truth = write_synthetic_video(path, n_frames=24, size=(160, 128), fps=25.0, n_animals=2)
    return path, truth


def _check_table(path: Path, frames: int, k: int = 17) -> pd.DataFrame:
    table = pq.read_table(path)
    for (name, typ), f in zip(CONTRACT, table.schema, strict=True):
        assert f.name == name
        assert f.type == typ or (name == "keypoint" and pa.types.is_dictionary(f.type)), name
    df = table.to_pandas()
    assert (df.track_id >= 1).all()
    assert df.frame.between(0, frames - 1).all()
    # exactly one row per keypoint per animal per frame
    per = df.groupby(["frame", "track_id"]).size()
    assert (per == k).all()
    _check_values(df)
    return df


def _check_values(df: pd.DataFrame) -> None:
    """Rows exist, numbers are finite and in range, and every keypoint lies in its own crop.

    The crop of a box (w, h) is a square of side 1.25 * max(w, h) around the box centre
    (clamp-tiny's input is square), and a keypoint is a heatmap peak inside it.
    """
    assert len(df) > 0, "no rows: the detector found nothing"
    numbers = df[["det_score", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "x", "y", "score"]]
    assert np.isfinite(numbers.to_numpy(np.float64)).all()
    assert df.score.between(0, 1).all() and df.det_score.between(0, 1).all()
    assert (df.bbox_x2 > df.bbox_x1).all() and (df.bbox_y2 > df.bbox_y1).all()
    half = 0.625 * np.maximum(df.bbox_x2 - df.bbox_x1, df.bbox_y2 - df.bbox_y1) + 1.0
    assert ((df.x - (df.bbox_x1 + df.bbox_x2) / 2).abs() <= half).all()
    assert ((df.y - (df.bbox_y1 + df.bbox_y2) / 2).abs() <= half).all()
    smoothed = df.x_smooth.notna()
    assert (df.y_smooth.notna() == smoothed).all() and (df.var_smooth.notna() == smoothed).all()
    assert np.isfinite(df.loc[smoothed, ["x_smooth", "y_smooth"]].to_numpy(np.float64)).all()
    assert (df.var_smooth[smoothed] > 0).all()


def test_full_frame_end_to_end(invoke, video, tmp_path):
    path, truth = video
    out = tmp_path / "out"
    # random tiny weights score ~0: accept every point so that smoothing has input
    code = invoke(
        [
            "track",
            str(path),
            "-o",
            str(out),
            "--detector",
            "full-frame",
            "--format",
            "both",
            "--set",
            "smooth.min_score=1e-12",
            *FAST,
        ]
    )
    assert code == 0
    stem = "two animals"
    df = _check_table(out / f"{stem}.tracks.parquet", 24)
    assert len(df) == 24 * 17 * 1  # frames x keypoints x boxes (one full-frame box)
    np.testing.assert_allclose(
        df.groupby("frame").time_s.first().to_numpy(), np.arange(24) / 25.0, atol=1e-3
    )
    assert set(df.video) == {str(path)}
    assert (df[["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]] == [0, 0, 160, 128]).all().all()
    assert df.x_smooth.notna().all()  # min_score=1e-12 accepts every point
    # CSV equals Parquet
    csv = pd.read_csv(out / f"{stem}.tracks.csv")
    pd.testing.assert_frame_equal(
        csv.astype({c: df[c].dtype for c in ("det_score", "x", "y", "score")}).drop(
            columns=["keypoint"]
        ),
        df.drop(columns=["keypoint"]).astype({"video": object, "class_name": object}),
        check_dtype=False,
        rtol=1e-6,
    )
    assert list(csv.keypoint) == [str(k) for k in df.keypoint]
    meta = pq.read_schema(out / f"{stem}.tracks.parquet").metadata
    assert json.loads(meta[b"model"]) == "clamp-tiny"
    assert len(json.loads(meta[b"keypoints"])) == 17
    assert json.loads(meta[b"video_fps"]) == pytest.approx(25.0)
    assert json.loads(meta[b"video_size"]) == [160, 128]
    for key in (b"skeleton", b"model_sha256", b"video_frame_count", b"wildpose_version"):
        assert key in meta
    run = json.loads((out / f"{stem}.run.json").read_text())
    assert run["frames_read"] == 24 and run["rows"] == len(df)
    assert len(run["model"]["sha256"]) == 64 and run["config"]["smooth"]["mode"] == "rts"
    assert not list(out.glob("*.partial")) and not list(out.glob(".*"))


def test_yolo_yaml_detector_end_to_end(invoke, video, tmp_path):
    path, _ = video
    out = tmp_path / "yolo"
    code = invoke(
        [
            "track",
            str(path),
            "-o",
            str(out),
            "--detector",
            "yolo11n.yaml",
            "--set",
            "detector.conf=0.0",
            "--set",
            "detector.imgsz=64",
            "--set",
            "detector.max_det=3",
            "--set",
            "tracker.activation_threshold=0.0",
            "--smooth",
            "kalman",
            *FAST,
        ]
    )
    assert code == 0
    df = _check_table(out / "two animals.tracks.parquet", 24)
    run = json.loads((out / "two animals.run.json").read_text())
    assert run["rows"] == len(df) and run["tracks"] == df.track_id.nunique()
    # random weights at conf 0: at most max_det boxes, found in every frame
    assert (df.groupby("frame").track_id.nunique() <= 3).all() and df.frame.nunique() == 24


def test_box_file_detector_follows_each_animal(invoke, video, tmp_path):
    """The generator's own boxes as a boxes:FILE: every box is in the table, under one id per
    animal for the whole clip."""
    path, truth = video
    frames, animals = truth.boxes.shape[:2]
    boxes = pd.DataFrame(
        [(t, *truth.boxes[t, a]) for t in range(frames) for a in range(animals)],
        columns=["frame", "x1", "y1", "x2", "y2"],
    )
    boxes.to_csv(tmp_path / "boxes.csv", index=False)
    out = tmp_path / "out"
    detector = f"boxes:{tmp_path / 'boxes.csv'}"
    assert invoke(["track", str(path), "-o", str(out), "--detector", detector, *FAST]) == 0
    df = _check_table(out / "two animals.tracks.parquet", frames)
    assert len(df) == frames * animals * 17 and (df.det_score == 1).all()
    assert df.track_id.nunique() == animals
    for track_id, rows in df.groupby("track_id"):
        got = rows.groupby("frame")[["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]].first()
        assert list(got.index) == list(range(frames)), track_id
        # the track's boxes are one animal's in every frame
        err = np.abs(got.to_numpy()[:, None] - truth.boxes).max(-1)  # (T, N)
        assert (err.min(1) < 1e-3).all(), track_id
        assert len(set(err.argmin(1))) == 1, f"track {track_id} switched animals"


def test_smoothing_off_gives_nan(video, tmp_path):
    path, _ = video
    res = CliRunner().invoke(
        cli,
        [
            "track",
            str(path),
            "-o",
            str(tmp_path),
            "--detector",
            "full-frame",
            "--smooth",
            "none",
            "--end",
            "0.4",
            *FAST,
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "two animals.tracks.parquet")
    assert df.x_smooth.isna().all() and df.var_smooth.isna().all()
    assert df.frame.max() == 9  # --end 0.4 s at 25 fps: frames 0..9


def test_render_writes_a_decodable_video(invoke, video, tmp_path):
    from wildpose.video import probe

    path, _ = video
    assert (
        invoke(
            [
                "track",
                str(path),
                "-o",
                str(tmp_path),
                "--detector",
                "full-frame",
                "--render",
                "--end",
                "0.2",
                *FAST,
            ]
        )
        == 0
    )
    info = probe(tmp_path / "two animals.annotated.mp4")
    assert info.frame_count == 5 and (info.width, info.height) == (160, 128)


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated"])
def test_bad_inputs_one_line_exit_1_no_output(invoke, kind, video, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    if kind == "text":
        bad.write_text("this is not a video\n")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(video[0].read_bytes()[:600])
    out = tmp_path / "out"
    code = invoke(["track", str(bad), "-o", str(out), "--detector", "full-frame", *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and str(bad) in err[0] and err[0].startswith("wildpose: error:")
    assert not list(out.glob("bad.*")) if out.exists() else True


def test_one_bad_input_does_not_stop_the_others(invoke, video, tmp_path, capsys):
    bad = tmp_path / "nope.mp4"
    out = tmp_path / "out"
    code = invoke(
        [
            "track",
            str(bad),
            str(video[0]),
            "-o",
            str(out),
            "--detector",
            "full-frame",
            "--end",
            "0.2",
            *FAST,
        ]
    )
    assert code == 1
    assert (out / "two animals.tracks.parquet").exists()
    assert "nope.mp4" in capsys.readouterr().err


def test_usage_errors_exit_2(invoke, video, tmp_path, capsys):
    assert invoke(["track", str(video[0]), "--set", "detector.bogus=1", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "detector.bogus" in err[0], err
    assert invoke(["track", str(video[0]), "--pose", "no-such-model", *FAST]) == 2
    assert invoke(["track", str(video[0]), "--pipeline", "nowhere", *FAST]) == 2
    assert invoke(["track", str(video[0]), "--detector", "missing-weights.pt", *FAST]) == 2


def test_image_folder_and_preset(invoke, tmp_path):
    from wildpose.synthetic import write_image_sequence

    folder = tmp_path / "burst"
    write_image_sequence(folder, 5, (96, 80))
    out = tmp_path / "out"
    assert invoke(["track", str(folder), "-o", str(out), "--pipeline", "lab-arena", *FAST]) == 0
    df = pd.read_parquet(out / "burst.tracks.parquet")
    assert sorted(df.frame.unique()) == [0, 1, 2, 3, 4]


def test_subprocess_help_and_track(video, tmp_path):
    help_ = subprocess.run(
        [sys.executable, "-m", "wildpose", "track", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert help_.returncode == 0 and "--flip-test" in help_.stdout
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "wildpose",
            "track",
            str(tmp_path / "x.mp4"),
            "--detector",
            "full-frame",
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1 and "x.mp4" in res.stderr and "Traceback" not in res.stderr
