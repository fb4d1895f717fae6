"""Tests for wildpose.output: the track table contract, atomic writes and the annotated video."""

from __future__ import annotations

import json

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wildpose.atomic import AtomicGroup, is_partial, write_json
from wildpose.output import TRACK_SCHEMA, AnnotatedVideoWriter, TrackTableWriter, tracks_table
from wildpose.types import Detections, Poses, TrackedPoses

KEYPOINTS = ["nose", "left eye", "right eye", "tail base"]
SKELETON = [(0, 1), (0, 2), (0, 3)]
META = {"model": "clamp-tiny", "model_sha256": "ab" * 32, "skeleton": SKELETON, "video_fps": 30.0}

# The output contract (architecture.md section 4), written out independently of the code.
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


def make_frame(rng: np.random.Generator, index: int, n: int, smoothed: bool) -> TrackedPoses:
    k = len(KEYPOINTS)
    xy = rng.uniform(0, 640, (n, k, 2)).astype(np.float32)
    corner = rng.uniform(0, 300, (n, 2))
    return TrackedPoses(
        frame=index,
        time_s=index / 29.97,
        detections=Detections(
            xyxy=np.concatenate([corner, corner + 50], axis=1).astype(np.float32),
            score=rng.uniform(0, 1, n).astype(np.float32),
            class_name=rng.choice(np.array(["dog", "cat"], dtype=object), n),
        ),
        poses=Poses(xy=xy, score=rng.uniform(0, 1, (n, k)).astype(np.float32)),
        track_id=rng.permutation(np.arange(1, n + 1)).astype(np.int64),
        xy_smooth=(xy + 0.5).astype(np.float32) if smoothed else None,
        var_smooth=rng.uniform(0, 4, (n, k)).astype(np.float32) if smoothed else None,
    )


def make_frames(n_frames: int, seed: int = 0) -> list[TrackedPoses]:
    rng = np.random.default_rng(seed)
    return [make_frame(rng, i, int(rng.integers(0, 4)), bool(i % 2)) for i in range(n_frames)]


def test_schema_matches_contract():
    assert TRACK_SCHEMA.names == [name for name, _ in CONTRACT]
    assert [f.type for f in TRACK_SCHEMA] == [t for _, t in CONTRACT]


def test_table_rows_and_values():
    frames = make_frames(12)
    table = tracks_table("clips/a.mp4", frames, KEYPOINTS)
    k = len(KEYPOINTS)
    assert table.num_rows == sum(len(f) for f in frames) * k
    assert table.schema == TRACK_SCHEMA
    df = table.to_pandas()
    assert (df["video"] == "clips/a.mp4").all()
    # Row order: frame, then animal (as given), then keypoint in manifest order.
    f = next(f for f in frames if len(f) >= 2 and f.xy_smooth is not None)
    rows = df[df["frame"] == f.frame]
    assert rows["track_id"].tolist() == np.repeat(f.track_id, k).tolist()
    assert rows["keypoint"].astype(str).tolist() == KEYPOINTS * len(f)
    np.testing.assert_array_equal(rows[["x", "y"]].to_numpy(), f.poses.xy.reshape(-1, 2))
    np.testing.assert_array_equal(rows["score"].to_numpy(), f.poses.score.reshape(-1))
    np.testing.assert_array_equal(
        rows[["x_smooth", "y_smooth"]].to_numpy(), f.xy_smooth.reshape(-1, 2)
    )
    np.testing.assert_array_equal(rows["var_smooth"].to_numpy(), f.var_smooth.reshape(-1))
    np.testing.assert_array_equal(
        rows[["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2"]].to_numpy(),
        np.repeat(f.detections.xyxy, k, axis=0),
    )
    assert rows["class_name"].tolist() == np.repeat(f.detections.class_name, k).tolist()
    assert rows["time_s"].iloc[0] == f.time_s
    unsmoothed = df[df["frame"].isin([g.frame for g in frames if g.xy_smooth is None])]
    assert len(unsmoothed) > 0
    assert unsmoothed[["x_smooth", "y_smooth", "var_smooth"]].isna().all().all()


def test_table_rejects_wrong_keypoint_count():
    frames = [make_frame(np.random.default_rng(1), 0, 2, False)]
    with pytest.raises(ValueError, match="K=3"):
        tracks_table("a.mp4", frames, KEYPOINTS[:3])


def test_parquet_and_csv_agree(tmp_path):
    frames = make_frames(40)
    with TrackTableWriter(tmp_path, "a", ["parquet", "csv"], KEYPOINTS, META) as writer:
        rows = writer.write("a.mp4", frames[:25]) + writer.write("a.mp4", frames[25:])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tracks.csv", "a.tracks.parquet"]
    parquet = pq.read_table(tmp_path / "a.tracks.parquet")
    assert parquet.schema.remove_metadata() == TRACK_SCHEMA
    assert parquet.num_rows == rows == sum(len(f) for f in frames) * len(KEYPOINTS)
    expected = parquet.to_pandas()
    expected["keypoint"] = expected["keypoint"].astype(str)
    csv = pd.read_csv(tmp_path / "a.tracks.csv")
    assert list(csv.columns) == TRACK_SCHEMA.names
    for field in TRACK_SCHEMA:
        got, want = csv[field.name], expected[field.name]
        if pa.types.is_floating(field.type):
            dtype = np.float32 if field.type == pa.float32() else np.float64
            np.testing.assert_array_equal(got.to_numpy(dtype), want.to_numpy(dtype))
        else:
            assert got.astype(str).tolist() == want.astype(str).tolist(), field.name


def test_parquet_metadata(tmp_path):
    with TrackTableWriter(tmp_path, "a", ["parquet"], KEYPOINTS, META) as writer:
        writer.write("a.mp4", make_frames(3))
    meta = pq.read_schema(tmp_path / "a.tracks.parquet").metadata
    decoded = {key.decode(): json.loads(value) for key, value in meta.items()}
    assert decoded["keypoints"] == KEYPOINTS
    assert decoded["skeleton"] == [list(edge) for edge in SKELETON]
    assert decoded["model"] == "clamp-tiny"
    assert decoded["model_sha256"] == META["model_sha256"]
    assert decoded["video_fps"] == 30.0
    assert isinstance(decoded["wildpose_version"], str) and decoded["wildpose_version"]


def test_row_groups_follow_frames(tmp_path):
    frames = [make_frame(np.random.default_rng(i), i, 2, False) for i in range(50)]
    with TrackTableWriter(
        tmp_path, "a", ["parquet"], KEYPOINTS, META, row_group_frames=8
    ) as writer:
        for start in range(0, 50, 5):
            writer.write("a.mp4", frames[start : start + 5])
    meta = pq.ParquetFile(tmp_path / "a.tracks.parquet").metadata
    assert meta.num_row_groups == 5  # flushed after 10, 20, 30, 40 frames and on close
    assert meta.row_group(0).num_rows == 10 * 2 * len(KEYPOINTS)
    assert meta.num_rows == 50 * 2 * len(KEYPOINTS)


def test_empty_run_writes_valid_files(tmp_path):
    empty = make_frame(np.random.default_rng(0), 0, 0, False)
    with TrackTableWriter(tmp_path, "a", ["parquet", "csv"], KEYPOINTS, META) as writer:
        assert writer.write("a.mp4", [empty]) == 0
    table = pq.read_table(tmp_path / "a.tracks.parquet")
    assert table.num_rows == 0
    assert table.schema.remove_metadata() == TRACK_SCHEMA
    csv = pd.read_csv(tmp_path / "a.tracks.csv")
    assert len(csv) == 0 and list(csv.columns) == TRACK_SCHEMA.names


def test_only_partial_names_until_close(tmp_path):
    writer = TrackTableWriter(tmp_path, "a", ["parquet", "csv"], KEYPOINTS, META)
    writer.write("a.mp4", make_frames(5))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n.split(".")[1:4] for n in names] == [
        ["a", "tracks", "csv"],
        ["a", "tracks", "parquet"],
    ]
    assert all(is_partial(n) for n in names)
    paths = writer.close()
    assert sorted(p.name for p in paths) == ["a.tracks.csv", "a.tracks.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tracks.csv", "a.tracks.parquet"]


def test_abort_leaves_nothing(tmp_path):
    writer = TrackTableWriter(tmp_path, "a", ["parquet", "csv"], KEYPOINTS, META)
    writer.write("a.mp4", make_frames(5))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="boom"):
        with TrackTableWriter(tmp_path, "b", ["parquet", "csv"], KEYPOINTS, META) as writer:
            writer.write("b.mp4", make_frames(5))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_bad_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="formats"):
        TrackTableWriter(tmp_path, "a", ["xlsx"], KEYPOINTS, META)
    assert list(tmp_path.iterdir()) == []


def test_tables_commit_with_their_group(tmp_path):
    rng = np.random.default_rng(3)
    frames = [make_frame(rng, i, 2, True) for i in range(3)]
    with AtomicGroup() as group:
        with TrackTableWriter(tmp_path, "a", ["parquet", "csv"], KEYPOINTS, META, group=group) as w:
            w.write("v.mp4", frames)
        assert [p for p in tmp_path.iterdir() if not is_partial(p)] == []  # the group renames
        write_json(tmp_path / "other.json", {})  # unrelated files are untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.tracks.csv",
        "a.tracks.parquet",
        "other.json",
    ]
    with pytest.raises(RuntimeError), AtomicGroup() as group:
        with TrackTableWriter(tmp_path / "b", "b", ["parquet"], KEYPOINTS, META, group=group) as w:
            w.write("v.mp4", frames)
        raise RuntimeError("after the tables, before the commit")
    assert list((tmp_path / "b").iterdir()) == []


def test_write_json(tmp_path):
    path = tmp_path / "a.run.json"
    obj = {"fps": np.float32(29.97), "frames": np.int64(12), "size": np.array([640, 480])}
    write_json(path, obj)
    assert json.loads(path.read_text()) == {
        "fps": pytest.approx(29.97),
        "frames": 12,
        "size": [640, 480],
    }
    assert [p.name for p in tmp_path.iterdir()] == ["a.run.json"]
    with pytest.raises(TypeError):
        write_json(tmp_path / "b.run.json", {"bad": object()})
    assert [p.name for p in tmp_path.iterdir()] == ["a.run.json"]


def test_annotated_video(tmp_path):
    width, height, n_frames = 65, 49, 7  # odd sizes are padded to even
    rng = np.random.default_rng(0)
    path = tmp_path / "a.annotated.mp4"
    image = np.zeros((height, width, 3), np.uint8)
    before = image.copy()
    with AnnotatedVideoWriter(path, 12.5, (width, height), SKELETON, KEYPOINTS) as writer:
        for i in range(n_frames):
            tracked = make_frame(rng, i, 2, bool(i % 2)) if i < n_frames - 1 else None
            if tracked is not None:
                tracked = TrackedPoses(
                    frame=i,
                    time_s=i / 12.5,
                    detections=Detections(
                        np.array([[5, 5, 40, 30], [20, 10, 60, 45]], np.float32),
                        np.array([0.9, 0.8], np.float32),
                        np.array(["dog", "cat"], dtype=object),
                    ),
                    poses=Poses(
                        rng.uniform(5, 45, (2, len(KEYPOINTS), 2)).astype(np.float32),
                        np.ones((2, len(KEYPOINTS)), np.float32),
                    ),
                    track_id=np.array([1, 2]),
                )
            writer.write(image, tracked)
        assert not path.exists()
    np.testing.assert_array_equal(image, before)
    assert [p.name for p in tmp_path.iterdir()] == ["a.annotated.mp4"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == n_frames
    assert decoded[0].shape == (height + 1, width + 1, 3)
    assert decoded[0].max() > 100  # something was drawn on the black frame
    assert decoded[-1].max() < 30  # the last frame had nothing to draw


def test_annotated_video_abort(tmp_path):
    path = tmp_path / "a.annotated.mp4"
    with pytest.raises(RuntimeError):
        with AnnotatedVideoWriter(path, 30.0, (64, 48), SKELETON, KEYPOINTS) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8), None)
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with AnnotatedVideoWriter(path, 30.0, (64, 48), SKELETON, KEYPOINTS) as writer:
        with pytest.raises(ValueError, match="shape"):
            writer.write(np.zeros((48, 60, 3), np.uint8), None)
        writer.write(np.zeros((48, 64, 3), np.uint8), None)
    assert [p.name for p in tmp_path.iterdir()] == ["a.annotated.mp4"]
