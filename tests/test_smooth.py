"""Tests for wildpose.smooth: filterpy as the reference, synthetic trajectories, streaming."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from filterpy.common import Q_continuous_white_noise
from filterpy.kalman import KalmanFilter

from wildpose.errors import ConfigError
from wildpose.smooth import KalmanParams, SmootherParams, TrackSmoother, kalman_smooth
from wildpose.types import Detections, Poses, TrackedPoses

FPS = 30.0


def _truth(rng: np.random.Generator, num_t: int, k: int, fps: float = FPS) -> np.ndarray:
    """(T, K, 2) px: a drifting body with keypoints oscillating at 0.5-2 Hz, amplitude 20 px."""
    t = np.arange(num_t)[:, None, None] / fps
    drift = 400.0 + t * rng.uniform(-80, 80, (1, 1, 2))
    offset = rng.uniform(-100, 100, (1, k, 2))
    freq = rng.uniform(0.5, 2.0, (1, k, 1))
    return drift + offset + 20.0 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6, (1, k, 2)))


def _smooth(xy, score, mode: str = "rts", fps: float = FPS, **params):
    """``kalman_smooth`` at a constant frame rate with ``KalmanParams(**params)``."""
    times = np.arange(np.shape(xy)[0]) / fps
    return kalman_smooth(xy, score, times, mode, params=KalmanParams(**params))


def _noisy(rng: np.random.Generator, truth: np.ndarray, drop: float = 0.1):
    """Observations of ``truth``: std 3 px / score, scores in [0.3, 1], a fraction dropped."""
    score = rng.uniform(0.3, 1.0, truth.shape[:-1])
    xy = truth + rng.normal(0.0, 1.0, truth.shape) * (3.0 / score)[..., None]
    xy[rng.random(score.shape) < drop] = np.nan
    return xy, score


def _filterpy(xy: np.ndarray, score: np.ndarray, fps: float, model: KalmanParams, rts: bool):
    """One keypoint series (T, 2) / (T,) through filterpy, state [x, vx, y, vy]."""
    num_t, dt = xy.shape[0], 1.0 / fps
    valid = np.isfinite(xy).all(axis=-1) & (score >= model.min_score)
    out, var = np.full((num_t, 2), np.nan), np.full(num_t, np.nan)
    if not valid.any():
        return out, var
    t0 = int(np.argmax(valid))
    r = (model.meas_std / np.minimum(score, 1.0)) ** 2
    kf = KalmanFilter(dim_x=4, dim_z=2)
    kf.F = np.kron(np.eye(2), np.array([[1.0, dt], [0.0, 1.0]]))
    kf.Q = np.kron(np.eye(2), Q_continuous_white_noise(2, dt, model.process_noise))
    kf.H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    kf.x = np.array([xy[t0, 0], 0.0, xy[t0, 1], 0.0])
    kf.P = np.diag([r[t0], model.init_vel_std**2] * 2)
    xs, ps = kf.x[None].copy(), kf.P[None].copy()
    if t0 + 1 < num_t:
        zs = [xy[t] if valid[t] else None for t in range(t0 + 1, num_t)]
        rs = [np.eye(2) * (r[t] if valid[t] else 1.0) for t in range(t0 + 1, num_t)]
        means, covs, _, _ = kf.batch_filter(zs, Rs=rs)
        xs, ps = np.concatenate([xs, means]), np.concatenate([ps, covs])
    if rts:
        xs, ps, _, _ = kf.rts_smoother(xs, ps)
    out[t0:], var[t0:] = xs[:, [0, 2]], ps[:, 0, 0]
    return out, var


@pytest.mark.parametrize("mode", ["rts", "kalman"])
@pytest.mark.parametrize(
    "params",
    [{}, {"process_noise": 5e4, "meas_std": 2.0, "min_score": 0.4, "init_vel_std": 50.0}],
)
def test_matches_filterpy_without_gating(mode: str, params: dict) -> None:
    rng = np.random.default_rng(0)
    xy, score = _noisy(rng, _truth(rng, 90, 7), drop=0.15)
    score[rng.random(score.shape) < 0.1] = 0.05  # below min_score: gaps
    xy[:25, 1] = np.nan  # starts late
    xy[:, 2] = np.nan  # never seen
    xy[:-1, 3] = np.nan  # one point, at the end
    xy[40:70, 4] = np.nan  # long gap
    got, var = _smooth(xy, score, mode, 25.0, gate=None, **params)
    model = KalmanParams(gate=None, **params)
    for k in range(xy.shape[1]):
        ref, ref_var = _filterpy(xy[:, k], score[:, k], 25.0, model, rts=mode == "rts")
        np.testing.assert_allclose(got[:, k], ref, rtol=0, atol=1e-6)
        np.testing.assert_allclose(var[:, k], ref_var, rtol=0, atol=1e-6)
    assert np.isnan(got[:, 2]).all() and np.isnan(got[:25, 1]).all()
    assert np.isfinite(got[25:, 1]).all()


def _outliers(rng: np.random.Generator, xy: np.ndarray, frac: float = 0.03):
    """Copy of ``xy`` with a fraction of points jumped by 60-150 px; returns it and the mask."""
    xy = xy.copy()
    mask = (rng.random(xy.shape[:-1]) < frac) & np.isfinite(xy).all(axis=-1)
    jump = rng.uniform(60, 150, (mask.sum(), 1)) * rng.choice([-1.0, 1.0], (mask.sum(), 2))
    xy[mask] += jump
    return xy, mask


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(np.sum((a - b) ** 2, axis=-1))))


def test_smoothing_lowers_error_and_gating_rejects_outliers() -> None:
    rng = np.random.default_rng(1)
    truth = _truth(rng, 300, 17)
    clean, score = _noisy(rng, truth)
    xy, outlier = _outliers(rng, clean)
    gated, _ = _smooth(xy, score)
    ungated, _ = _smooth(xy, score, gate=None)
    forward, _ = _smooth(xy, score, "kalman")
    raw = _rmse(xy, truth)
    assert _rmse(gated, truth) < 0.35 * raw
    assert _rmse(forward, truth) < 0.5 * raw
    inliers = ~outlier & np.isfinite(xy).all(axis=-1)
    assert _rmse(gated[inliers], truth[inliers]) < 0.9 * _rmse(xy[inliers], truth[inliers])
    # at the outliers themselves, gating beats letting them in
    err_gated = np.linalg.norm(gated - truth, axis=-1)[outlier]
    err_ungated = np.linalg.norm(ungated - truth, axis=-1)[outlier]
    assert np.median(err_gated) < 0.15 * np.median(err_ungated)
    assert _rmse(gated, truth) < 0.6 * _rmse(ungated, truth)
    # gaps are filled by the smoother
    assert np.isfinite(gated[5:]).all()


def test_persistent_jump_restarts_the_filter() -> None:
    rng = np.random.default_rng(2)
    truth = _truth(rng, 120, 3)
    truth[60:] += 200.0  # e.g. an identity swap: the keypoint really is elsewhere now
    xy, score = _noisy(rng, truth, drop=0.0)
    filt, _ = _smooth(xy, score, "kalman", max_gated=3)
    smooth, _ = _smooth(xy, score, max_gated=3)
    np.testing.assert_array_equal(filt[62], xy[62])  # restarted at the third gated point
    assert _rmse(smooth[70:], truth[70:]) < 5.0
    assert _rmse(smooth[:60], truth[:60]) < 5.0  # no smoothing across the restart


def test_all_missing_series_and_nan_before_first_point() -> None:
    rng = np.random.default_rng(3)
    xy, score = _noisy(rng, _truth(rng, 50, 4), drop=0.0)
    xy[:, 0] = np.nan
    score[:, 1] = 0.0
    xy[:10, 2] = np.nan
    got, var = _smooth(xy, score, "kalman")
    assert np.isnan(got[:, :2]).all() and np.isnan(var[:, :2]).all()
    assert np.isnan(got[:10, 2]).all() and np.isnan(var[:10, 2]).all()
    np.testing.assert_array_equal(got[10, 2], xy[10, 2])  # starts at the measurement
    np.testing.assert_allclose(var[10, 2], (3.0 / score[10, 2]) ** 2)
    assert np.isfinite(got[:, 3]).all()
    allnan, allvar = _smooth(np.full((20, 3, 2), np.nan), np.ones((20, 3)))
    assert np.isnan(allnan).all() and np.isnan(allvar).all()


def test_low_score_points_are_gaps() -> None:
    rng = np.random.default_rng(4)
    xy, score = _noisy(rng, _truth(rng, 80, 5), drop=0.0)
    low = rng.random(score.shape) < 0.2
    score[low] = 0.05
    wild = xy.copy()
    wild[low] = 1e4  # would wreck the estimate if used
    as_nan = xy.copy()
    as_nan[low] = np.nan
    nan_score = score.copy()
    nan_score[low] = np.nan
    ref, ref_var = _smooth(as_nan, score, min_score=0.1, gate=None)
    for a, s in ((wild, score), (xy, nan_score)):
        got, var = _smooth(a, s, min_score=0.1, gate=None)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(var, ref_var)
    # confidence weighting: a lower score pulls less
    z = np.zeros((10, 1, 2))
    z[5] = 10.0
    hi, _ = _smooth(z, np.ones((10, 1)), "kalman", gate=None)
    s_lo = np.ones((10, 1))
    s_lo[5] = 0.3
    lo, _ = _smooth(z, s_lo, "kalman", gate=None)
    assert 0 < lo[5, 0, 0] < hi[5, 0, 0]


def test_shapes_dtypes_layouts_and_no_mutation() -> None:
    rng = np.random.default_rng(5)
    xy, score = _noisy(rng, _truth(rng, 40, 6))
    xy32, score32 = xy.astype(np.float32), score.astype(np.float32)
    before = (xy32.copy(), score32.copy())
    got, var = _smooth(xy32, score32)
    assert got.shape == (40, 6, 2) and var.shape == (40, 6)
    assert got.dtype == np.float64 and var.dtype == np.float64
    np.testing.assert_array_equal(xy32, before[0])
    np.testing.assert_array_equal(score32, before[1])
    # any series layout between time and the last axis: (T, N, K, 2)
    grouped, gvar = _smooth(xy32.reshape(40, 2, 3, 2), score32.reshape(40, 2, 3))
    np.testing.assert_array_equal(grouped.reshape(40, 6, 2), got)
    np.testing.assert_array_equal(gvar.reshape(40, 6), var)
    one, one_var = _smooth(xy[:1], score[:1])
    assert one.shape == (1, 6, 2) and one_var.shape == (1, 6)
    empty, empty_var = _smooth(np.zeros((0, 6, 2)), np.zeros((0, 6)))
    assert empty.shape == (0, 6, 2) and empty_var.shape == (0, 6)


def test_bad_arguments() -> None:
    xy, score = np.zeros((5, 2, 2)), np.ones((5, 2))
    with pytest.raises(ConfigError):
        _smooth(xy, score, "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="increasing"):
        kalman_smooth(xy, score, [0.0, 0.1, 0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="5 frames"):
        kalman_smooth(xy, score, [0.0, 0.1])
    with pytest.raises(ConfigError):
        _smooth(xy, score, meas_std=-1.0)
    with pytest.raises(ConfigError):
        _smooth(xy, score, max_gated=0)
    with pytest.raises(ValueError):
        _smooth(xy, np.ones((5, 3)))
    with pytest.raises(ConfigError):
        SmootherParams(mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SmootherParams(lag_s=-1.0)


# ---------------------------------------------------------------- streaming


def _tracked(frame: int, ids: list[int], xy: np.ndarray, score: np.ndarray) -> TrackedPoses:
    n = len(ids)
    return TrackedPoses(
        frame=frame,
        time_s=frame / FPS,
        detections=Detections(
            np.zeros((n, 4), np.float32), np.ones(n, np.float32), np.array(["dog"] * n, object)
        ),
        poses=Poses(xy.astype(np.float32), score.astype(np.float32)),
        track_id=np.asarray(ids, dtype=np.int64),
    )


def _scene(rng: np.random.Generator, num_frames: int, k: int, tracks: dict[int, tuple]):
    """Frames of several tracks. ``tracks``: id -> (first, last, absent frames); each track has
    its own trajectory (with outliers) over [first, last]. Returns the frames and, per id, the
    dense (xy, score) over [first, last] with NaN where absent."""
    dense, frames = {}, []
    for tid, (first, last, absent) in tracks.items():
        xy, score = _noisy(rng, _truth(rng, last - first + 1, k))
        xy, _ = _outliers(rng, xy)
        xy[[f - first for f in absent]] = np.nan
        dense[tid] = (xy, score)
    for f in range(num_frames):
        ids = [t for t, (a, b, absent) in tracks.items() if a <= f <= b and f not in absent]
        ids = ids[::-1] if f % 2 else ids  # the order along N is arbitrary
        xy = np.array([dense[t][0][f - tracks[t][0]] for t in ids]).reshape(len(ids), k, 2)
        score = np.array([dense[t][1][f - tracks[t][0]] for t in ids]).reshape(len(ids), k)
        frames.append(_tracked(f, ids, xy, score))
    return frames, dense


def _run(smoother: TrackSmoother, frames: list[TrackedPoses]) -> list[TrackedPoses]:
    out = []
    for f in frames:
        out += smoother.push(f)
    return out + smoother.flush()


def _per_track(out: list[TrackedPoses], tid: int, first: int, last: int, k: int):
    """Dense (xy_smooth, var_smooth) of one track over [first, last], NaN where absent."""
    xy, var = np.full((last - first + 1, k, 2), np.nan), np.full((last - first + 1, k), np.nan)
    for f in out:
        hit = np.flatnonzero(f.track_id == tid)
        if hit.size and first <= f.frame <= last:
            xy[f.frame - first], var[f.frame - first] = f.xy_smooth[hit[0]], f.var_smooth[hit[0]]
    return xy, var


TRACKS = {
    1: (0, 149, set(range(20, 25)) | {60}),
    2: (30, 99, set()),
    3: (50, 149, set(range(100, 111))),
    7: (120, 149, set()),
}


@pytest.mark.parametrize("mode", ["rts", "kalman"])
def test_stream_with_full_lag_equals_kalman_smooth(mode: str) -> None:
    rng = np.random.default_rng(6)
    k = 5
    frames, dense = _scene(rng, 160, k, TRACKS)  # frames 150-159 hold no animal
    out = _run(TrackSmoother(k, SmootherParams(mode, lag_s=1000 / FPS, max_gap_s=1.0)), frames)
    for tid, (first, last, absent) in TRACKS.items():
        xy, score = dense[tid]
        xy32, score32 = xy.astype(np.float32), score.astype(np.float32)
        ref, ref_var = _smooth(xy32, score32, mode)
        got, var = _per_track(out, tid, first, last, k)
        present = np.array([f not in absent for f in range(first, last + 1)])
        np.testing.assert_allclose(got[present], ref[present], rtol=1e-6)
        np.testing.assert_allclose(var[present], ref_var[present], rtol=1e-6)


def test_stream_track_ends_after_max_gap() -> None:
    rng = np.random.default_rng(7)
    k = 4
    # id 5 is away for 80 frames (> 2 s): it comes back as a new track
    tracks = {5: (0, 199, set(range(40, 120))), 6: (0, 199, set())}
    frames, dense = _scene(rng, 200, k, tracks)
    smoother = TrackSmoother(k, SmootherParams(lag_s=1000 / FPS, max_gap_s=2.0))
    out = _run(smoother, frames)
    xy, score = dense[5]
    got, _ = _per_track(out, 5, 0, 199, k)
    for a, b in ((0, 40), (120, 200)):
        ref, _ = _smooth(xy[a:b].astype(np.float32), score[a:b].astype(np.float32))
        np.testing.assert_allclose(got[a:b], ref, rtol=1e-6)
    assert smoother.active_tracks == 0  # flush ended everything


def test_stream_default_lag_close_to_full_rts() -> None:
    rng = np.random.default_rng(8)
    k = 6
    tracks = {1: (0, 599, set(range(200, 230))), 2: (100, 599, set())}
    frames, dense = _scene(rng, 600, k, tracks)
    smoother = TrackSmoother(k)
    assert smoother.params.lag_s == 2.0  # 60 frames
    out = _run(smoother, frames)
    forward = _run(TrackSmoother(k, SmootherParams("kalman")), frames)
    for tid, (first, last, _) in tracks.items():
        xy, score = dense[tid]
        ref, _ = _smooth(xy.astype(np.float32), score.astype(np.float32))
        got, _ = _per_track(out, tid, first, last, k)
        causal, _ = _per_track(forward, tid, first, last, k)
        err = np.nanmax(np.abs(got - ref))
        assert err < 0.01
        assert np.nanmax(np.abs(causal - ref)) > 100 * err  # the lookahead matters


@pytest.mark.parametrize("mode", ["rts", "kalman", "none"])
def test_stream_order_count_and_values(mode: str) -> None:
    rng = np.random.default_rng(9)
    k = 3
    frames, _ = _scene(rng, 100, k, {1: (0, 99, set()), 4: (10, 60, {30})})
    smoother = TrackSmoother(k, SmootherParams(mode, lag_s=7 / FPS))
    out = []
    for f in frames:
        emitted = smoother.push(f)
        if mode != "rts":
            assert [e.frame for e in emitted] == [f.frame]
        out += emitted
    out += smoother.flush()
    assert [o.frame for o in out] == [f.frame for f in frames]
    for o, f in zip(out, frames, strict=True):
        assert o is not f and f.xy_smooth is None and f.var_smooth is None
        np.testing.assert_array_equal(o.track_id, f.track_id)
        assert o.poses is f.poses and o.detections is f.detections
        assert o.xy_smooth.shape == (len(f), k, 2) and o.xy_smooth.dtype == np.float32
        assert o.var_smooth.shape == (len(f), k) and o.var_smooth.dtype == np.float32
        assert np.isnan(o.xy_smooth).all() == (mode == "none")


def test_stream_memory_is_bounded() -> None:
    rng = np.random.default_rng(10)
    k, lag = 4, 15
    smoother = TrackSmoother(k, SmootherParams(lag_s=lag / FPS, max_gap_s=0.5))
    most_frames = most_tracks = emitted = 0
    for f in range(3000):
        ids = [f // 100 + 1, f // 100 + 1000] if f % 7 else []  # ids live 100 frames
        xy = 300 + rng.normal(0, 3, (len(ids), k, 2))
        emitted += len(smoother.push(_tracked(f, ids, xy, np.ones((len(ids), k)))))
        most_frames = max(most_frames, smoother.buffered_frames)
        most_tracks = max(most_tracks, smoother.active_tracks)
    emitted += len(smoother.flush())
    assert emitted == 3000
    assert most_frames <= 2 * lag + 1
    assert most_tracks <= 4  # two live ids, plus two ended ones not yet timed out


def test_stream_rejects_bad_frames() -> None:
    smoother = TrackSmoother(2)
    xy, score = np.zeros((1, 2, 2)), np.ones((1, 2))
    smoother.push(_tracked(5, [1], xy, score))
    with pytest.raises(ValueError):
        smoother.push(_tracked(5, [1], xy, score))
    with pytest.raises(ValueError):
        smoother.push(_tracked(6, [1, 1], np.zeros((2, 2, 2)), np.ones((2, 2))))
    with pytest.raises(ValueError):
        smoother.push(_tracked(7, [1], np.zeros((1, 3, 2)), np.ones((1, 3))))


def test_variable_frame_rate_uses_presentation_times() -> None:
    """2 s at 60 fps, then 2 s at 8 fps, four times (a phone video dropping its rate): with the
    frames' ``time_s`` the stream follows the true motion; with index / nominal fps (the average
    rate a container reports) the steps are wrong by up to 4x and the estimate lags badly."""
    rng = np.random.default_rng(11)
    dts = np.concatenate([np.full(120, 1 / 60), np.full(16, 1 / 8)] * 4)
    times = np.concatenate([[0.0], np.cumsum(dts)[:-1]])
    k = 3
    phase = np.arange(k)
    truth = np.stack(
        [
            400 + 150 * np.sin(2 * np.pi * 0.4 * times[:, None] + phase),
            300 + 100 * np.cos(2 * np.pi * 0.3 * times[:, None] + phase),
        ],
        -1,
    )
    xy = truth + rng.normal(0, 4, truth.shape)
    score = np.ones(truth.shape[:2])
    xy[rng.random(score.shape) < 0.15] = np.nan

    def stream(clock: np.ndarray) -> np.ndarray:
        frames = [
            dataclasses.replace(_tracked(i, [1], xy[i][None], score[i][None]), time_s=float(c))
            for i, c in enumerate(clock)
        ]
        return np.stack([f.xy_smooth[0] for f in _run(TrackSmoother(k), frames)])

    nominal_fps = len(times) / times[-1]
    with_time = _rmse(stream(times), truth)
    with_index = _rmse(stream(np.arange(len(times)) / nominal_fps), truth)
    assert with_time < 0.7 * _rmse(xy, truth)  # better than the raw points
    assert with_time < 0.25 * with_index
    whole, _ = kalman_smooth(xy, score, times)  # the whole-array smoother agrees
    assert _rmse(whole, truth) < 1.05 * with_time
