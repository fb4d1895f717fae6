"""Streaming per-track smoothing of tracked frames, with memory bounded by a fixed lag in seconds.

The model and its equations are those of :mod:`wildpose.smooth.kalman`; every time step is the
gap between the frames' presentation times ``time_s``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from wildpose.errors import ConfigError
from wildpose.smooth.kalman import KalmanParams, _filter_step, _rts_step, _State
from wildpose.types import TrackedPoses

__all__ = ["SmootherParams", "TrackSmoother"]

SmoothMode = Literal["rts", "kalman", "none"]
_EPS_S = 1e-6  # times within this of the lag count as at the lag (PTS are rounded)


@dataclass(frozen=True)
class SmootherParams:
    """How a :class:`TrackSmoother` smooths: the mode, its windows (s) and the Kalman model.

    ``mode``: "rts" (fixed-lag RTS smoother), "kalman" (forward filter) or "none" (NaN).
    ``lag_s``: lookahead of the RTS smoother, s. ``max_gap_s``: a track unseen for longer ends
    (a later frame with its id starts a new filter). ``kalman``: the model's parameters.
    """

    mode: SmoothMode = "rts"
    lag_s: float = 2.0
    max_gap_s: float = 2.0
    kalman: KalmanParams = field(default_factory=KalmanParams)

    def __post_init__(self) -> None:
        if self.mode not in ("rts", "kalman", "none"):
            raise ConfigError(
                f"smoothing mode must be 'rts', 'kalman' or 'none', got {self.mode!r}"
            )
        for name in ("lag_s", "max_gap_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"smoothing parameter {name} must be >= 0, got {value!r}")


@dataclass(frozen=True)
class _Pending:
    """A frame waiting for lookahead: ``seg`` (N,) segment ids, ``filt`` (N, K) filtered
    states, ``restart`` (N, K) where the filter (re)started at this frame."""

    frame: TrackedPoses
    seg: np.ndarray
    filt: _State
    restart: np.ndarray


class TrackSmoother:
    """Streaming per-track smoother for tracked frames, with memory bounded by the lag.

    Each track (keyed by ``track_id``) has its own filter over its K keypoints; frames where it
    is absent are predict-only steps (dt = the ``time_s`` gap), and a track unseen for more than
    ``max_gap_s`` seconds is ended (a later frame with the same id starts a new track). Frames
    must come with increasing ``frame`` and ``time_s``.

    ``mode="kalman"`` emits every frame at once with the forward filter; ``"none"`` emits it at
    once with NaN smoothed fields. ``mode="rts"`` carries the forward filter exactly and smooths
    in blocks: when the oldest buffered frame is ``2 * lag_s`` behind the newest, an RTS
    backward pass runs over the buffered window and every frame with at least ``lag_s`` of
    lookahead is emitted; :meth:`flush` smooths and emits the rest. At most the frames of
    ``2 * lag_s`` seconds plus one are buffered (121 at 30 fps and the default 2 s).

    :attr:`latest` is the frame pushed last with its causal estimate (the forward filter; NaN
    for "none"): what a live display can draw without waiting for the lag.
    """

    def __init__(self, num_keypoints: int, params: SmootherParams | None = None) -> None:
        self.num_keypoints = int(num_keypoints)
        self.params = SmootherParams() if params is None else params
        self.latest: TrackedPoses | None = None
        self._next_seg = 0
        self._reset_tracks()
        self._pending: deque[_Pending] = deque()
        self._last_frame: tuple[int, float] | None = None

    @property
    def buffered_frames(self) -> int:
        """Frames held back waiting for lookahead."""
        return len(self._pending)

    @property
    def active_tracks(self) -> int:
        """Tracks whose filter state is kept."""
        return int(self._ids.shape[0])

    def push(self, frame: TrackedPoses) -> list[TrackedPoses]:
        """Add the next frame; return the frames now final, in frame order, as new values
        with ``xy_smooth`` (N, K, 2) and ``var_smooth`` (N, K) float32 filled."""
        self._check(frame)
        self._last_frame = (frame.frame, frame.time_s)
        if self.params.mode == "none":
            shape = frame.poses.score.shape
            self.latest = _with_smooth(frame, np.full((*shape, 2), np.nan), np.full(shape, np.nan))
            return [self.latest]
        seg, filt, restart = self._forward(frame)
        self.latest = _with_smooth(frame, filt.pos, filt.a)
        if self.params.mode == "kalman":
            return [self.latest]
        self._pending.append(_Pending(frame, seg, filt, restart))
        lag = self.params.lag_s
        if frame.time_s - self._pending[0].frame.time_s >= 2 * lag - _EPS_S:
            return self._emit(cutoff_s=frame.time_s - lag + _EPS_S)
        return []

    def flush(self) -> list[TrackedPoses]:
        """End every track; smooth and return all frames still held back, in frame order."""
        out = self._emit(cutoff_s=None) if self._pending else []
        self._reset_tracks()
        return out

    def _check(self, frame: TrackedPoses) -> None:
        n, k = len(frame), self.num_keypoints
        if frame.poses.xy.shape != (n, k, 2) or frame.poses.score.shape != (n, k):
            raise ValueError(
                f"frame {frame.frame}: poses {frame.poses.xy.shape} / {frame.poses.score.shape} "
                f"do not match {n} tracks x {k} keypoints"
            )
        if not math.isfinite(frame.time_s):
            raise ValueError(f"frame {frame.frame}: time {frame.time_s} s is not finite")
        if self._last_frame is not None:
            last, last_s = self._last_frame
            if frame.frame <= last or frame.time_s <= last_s:
                raise ValueError(
                    f"frame {frame.frame} at {frame.time_s} s pushed after frame {last} at "
                    f"{last_s} s"
                )
        if np.unique(frame.track_id).shape[0] != n:
            raise ValueError(f"frame {frame.frame}: duplicate track ids {frame.track_id}")

    def _reset_tracks(self) -> None:
        """Forget all tracks. Active tracks are rows sorted by id: ``_ids``, ``_seg`` (segment
        id, unique per track start), ``_last_s`` (time last seen, s), ``_state`` (M, K) and
        ``_miss`` (M, K) consecutive gated points."""
        self._ids = np.zeros(0, dtype=np.int64)
        self._seg = np.zeros(0, dtype=np.int64)
        self._last_s = np.zeros(0, dtype=np.float64)
        self._state = _State.empty((0, self.num_keypoints))
        self._miss = np.zeros((0, self.num_keypoints), dtype=np.int64)

    def _keep_tracks(self, keep: np.ndarray) -> None:
        self._ids, self._seg, self._last_s = self._ids[keep], self._seg[keep], self._last_s[keep]
        self._state, self._miss = self._state[keep], self._miss[keep]

    def _rows(self, frame: TrackedPoses) -> np.ndarray:
        """Rows of ``frame``'s tracks in the active table, ending stale and adding new tracks."""
        ids = np.asarray(frame.track_id, dtype=np.int64)
        stale = frame.time_s - self._last_s > self.params.max_gap_s
        if stale.any():
            self._keep_tracks(~stale)
        known = np.zeros(ids.shape, dtype=bool)
        if self._ids.size:
            at = np.minimum(np.searchsorted(self._ids, ids), self._ids.size - 1)
            known = self._ids[at] == ids
        new = ids[~known]
        if new.size:
            m, k = new.size, self.num_keypoints
            order = np.argsort(np.concatenate([self._ids, new]), kind="stable")
            self._ids = np.concatenate([self._ids, new])[order]
            self._seg = np.concatenate([self._seg, self._next_seg + np.arange(m)])[order]
            self._last_s = np.concatenate([self._last_s, np.full(m, frame.time_s)])[order]
            old_rows = np.argsort(order)[: order.size - m]
            grown = _State.empty((self._ids.size, k))
            grown.put(old_rows, self._state)
            miss = np.zeros((self._ids.size, k), dtype=np.int64)
            miss[old_rows] = self._miss
            self._state, self._miss = grown, miss
            self._next_seg += m
        return np.searchsorted(self._ids, ids)

    def _forward(self, frame: TrackedPoses) -> tuple[np.ndarray, _State, np.ndarray]:
        """Run the forward filter for the tracks in ``frame``; return their segment ids (N,),
        filtered states (N, K) and (re)start mask (N, K)."""
        rows = self._rows(frame)
        kalman = self.params.kalman
        z, r, valid = kalman.measurements(frame.poses.xy, frame.poses.score)
        dt = (frame.time_s - self._last_s[rows])[:, None]
        filt, miss, restart = _filter_step(
            self._state[rows], self._miss[rows], z, r, valid, dt, kalman
        )
        self._state.put(rows, filt)
        self._miss[rows] = miss
        self._last_s[rows] = frame.time_s
        return self._seg[rows], filt, restart

    def _emit(self, cutoff_s: float | None) -> list[TrackedPoses]:
        """RTS backward pass over the buffered window; pop and return the frames with
        ``time_s <= cutoff_s`` (all when None)."""
        entries = list(self._pending)
        segs = np.unique(np.concatenate([e.seg for e in entries]))
        # carry: each segment's smoothed state at its next buffered frame (at carry_s, NaN =
        # none yet); link: smooth from it (false where there is none or it is a restart)
        carry = _State.empty((segs.size, self.num_keypoints))
        carry_s = np.full(segs.size, np.nan)
        link = np.zeros((segs.size, self.num_keypoints), dtype=bool)
        q = self.params.kalman.process_noise
        smoothed: list[_State] = [None] * len(entries)  # type: ignore[list-item]
        for i in range(len(entries) - 1, -1, -1):
            e = entries[i]
            idx = np.searchsorted(segs, e.seg)
            dt = np.where(np.isnan(carry_s[idx]), 1.0, carry_s[idx] - e.frame.time_s)
            s = _rts_step(e.filt, carry[idx], dt[:, None], q).where(link[idx], e.filt)
            carry.put(idx, s)
            carry_s[idx] = e.frame.time_s
            link[idx] = ~e.restart
            smoothed[i] = s
        out = []
        while self._pending and (cutoff_s is None or self._pending[0].frame.time_s <= cutoff_s):
            e = self._pending.popleft()
            s = smoothed[len(out)]
            out.append(_with_smooth(e.frame, s.pos, s.a))
        return out


def _with_smooth(frame: TrackedPoses, xy: np.ndarray, var: np.ndarray) -> TrackedPoses:
    return dataclasses.replace(
        frame, xy_smooth=xy.astype(np.float32), var_smooth=var.astype(np.float32)
    )
