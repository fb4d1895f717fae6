"""How one input runs through the stages: render timing, the smoother's lag, committed outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_pipeline_values import ColourDetector, _stages, _video

import wildpose.pipeline.run as run_module
from wildpose.pipeline import track_video


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "clip.mkv"
    return path, _video(path, n_frames=12, fps=10.0, seed=3)


class CountingDetector(ColourDetector):
    """Counts its calls (one per chunk); raises on call ``fail_at`` when given."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls, self.fail_at = 0, fail_at

    def detect(self, frames):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("detector failed")
        return super().detect(frames)


def test_render_draws_each_frame_before_the_next_chunk(scene, tmp_path, monkeypatch):
    """No decoded frame waits for the smoother's lag: a chunk's frames are drawn before the
    next chunk is detected, each with the causal estimate for that very frame."""
    video, truth = scene
    stages = _stages(truth, video, overrides=["output.render=true"])
    stages.detector = CountingDetector()
    drawn = []

    class Recorder:
        def __init__(self, path, fps, size, skeleton, names, **options):
            self.path = path

        def write(self, image, tracked):
            drawn.append((stages.detector.calls, image, tracked))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(run_module, "AnnotatedVideoWriter", Recorder)
    result = track_video(video, tmp_path, stages)
    assert [t.frame for _, _, t in drawn] == list(range(truth.n_frames))
    chunk = stages.config.detector.frames_per_batch
    assert [calls for calls, _, _ in drawn] == [i // chunk + 1 for i in range(truth.n_frames)]
    for _, image, tracked in drawn:
        assert image.shape == (240, 320, 3) and len(tracked) == 3
        assert np.isfinite(tracked.xy_smooth).all()  # the forward filter, not NaN
    assert [Path(o).name for o in result.outputs[-3:]] == [
        "clip.annotated.mp4",
        "clip.contact.png",
        "clip.run.json",
    ]


def test_a_failure_leaves_no_output(scene, tmp_path):
    video, truth = scene
    stages = _stages(truth, video)
    stages.detector = CountingDetector(fail_at=2)
    with pytest.raises(RuntimeError, match="detector failed"):
        track_video(video, tmp_path, stages)
    assert list(tmp_path.iterdir()) == []  # neither final names nor temporaries


def test_outputs_and_record_are_committed_together(scene, tmp_path):
    video, truth = scene
    stages = _stages(truth, video)
    result = track_video(video, tmp_path, stages)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["clip.run.json", "clip.tracks.parquet"]
    assert result.info["outputs"] == ["clip.tracks.parquet"]
    assert result.info["rows"] == result.rows == truth.n_frames * truth.n_animals * 5
    assert set(result.info["timings_s"]) == {
        "decode_wait",
        "detect",
        "pose",
        "track",
        "smooth_write",
    }
