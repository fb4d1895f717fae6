"""Tests for wildpose.report.qc: the generated run's swap, fragments and low-confidence frames."""

from __future__ import annotations

from pathlib import Path

from report_fixtures import EPISODE, HIDDEN, SPURIOUS, SWAP_FRAME

from wildpose.report.data import read_video
from wildpose.report.qc import flag


def test_flags_of_the_generated_run(report_run: Path):
    f = flag(read_video(report_run), low_score=0.3)
    tracks = f.tracks.set_index("track_id")
    assert list(tracks.index) == [1, 2, 3, 4, 5]
    assert list(tracks.index[tracks["fragment"]]) == [5]
    assert tracks.loc[3, "last"] == HIDDEN[0] - 1 and tracks.loc[4, "first"] == HIDDEN[1]
    assert sorted(f.jumps["track_id"]) == [1, 2]
    assert set(f.jumps["frame"]) == {SWAP_FRAME}
    spans = f.spans.set_index("track_id")
    assert (spans.loc[5, "first"], spans.loc[5, "last"]) == (SPURIOUS[0], SPURIOUS[1] - 1)
    worst = f.episodes[0]
    assert worst.track_id == 4 and (worst.first, worst.last) == (EPISODE[0], EPISODE[1] - 1)
    assert worst.first <= worst.worst <= worst.last
    assert {e.track_id for e in f.episodes} == {4, 5}
    assert f.low_frames == (EPISODE[1] - EPISODE[0]) + (SPURIOUS[1] - SPURIOUS[0])


def test_threshold_zero_flags_nothing(report_run: Path):
    f = flag(read_video(report_run), low_score=0.0)
    assert f.episodes == [] and f.low_frames == 0
