"""Confidence-weighted Kalman filtering and RTS smoothing of keypoint trajectories.

Model (per keypoint, independently, in image px; the same for x and y)
----------------------------------------------------------------------
State per axis ``[p, v]``: position (px) and velocity (px/s); a keypoint's state is
``[p_x, v_x, p_y, v_y]`` with block-diagonal matrices, one 2x2 block per axis. The time step
``dt`` is the gap between the frames' presentation times ``time_s`` (the one clock of the
pipeline, so variable-frame-rate videos, skipped frames and EXIF-timed bursts get their true
step)::

    F = [[1, dt],                 Q = q * [[dt^3/3, dt^2/2],      (white-noise acceleration,
         [0,  1]]                          [dt^2/2, dt    ]]       q = process_noise, px^2/s^3)
    H = [1, 0]                    R = (meas_std / min(score, 1))^2   (px^2)

so the measurement std is ``meas_std`` px at score 1 and grows as ``1 / score``. Because x and
y share F, Q, H, R and their missing pattern, they share one 2x2 covariance
``P = [[a, b], [b, c]]`` (a: px^2, b: px^2/s, c: px^2/s^2); the code runs that one recursion per
keypoint, vectorised over all keypoints (and series), looping only over time.

Missing, low-confidence and gated points
----------------------------------------
A point is a *gap* when x or y is NaN, its score is NaN, or its score is below ``min_score``:
the filter only predicts there. A valid point is *gated* (also treated as a gap) when its squared
Mahalanobis distance ``|z - p_pred|^2 / (a_pred + R)``, chi-square with 2 degrees of freedom,
exceeds ``gate`` (default: the 0.999 quantile, 13.82); ``gate=None`` disables gating. Gaps and
gated points still get an estimate (the prediction, or the RTS interpolation).

Each series *starts* at its first valid point (never gated) with ``p = z``, ``v = 0``,
``a = R``, ``b = 0``, ``c = init_vel_std^2``; before it the output is NaN, and an all-missing
series is all NaN. The ``max_gated``-th gated point in a row (gaps neither count nor break the
run) means the filter has lost the keypoint: it *restarts* there the same way, and the RTS pass
does not smooth across a restart (the pieces are independent). Without gating nothing restarts.

Defaults suit pose estimates of moving animals in HD video at 25-60 fps: q = 1e6 px^2/s^3 keeps
up with fast limbs (too small a q makes true points look like outliers; too large only smooths
less), measurement std 3 px at score 1. q scales with the square of the image scale.

``mode="kalman"`` returns the forward (causal) filter; ``mode="rts"`` adds the
Rauch-Tung-Striebel backward pass (Rauch, Tung & Striebel 1965; the equations of filterpy's
``KalmanFilter.rts_smoother``, https://filterpy.readthedocs.io). The returned variance is
``a``, the posterior variance of *each* coordinate (px^2); the expected squared 2-D error is
twice that.

:func:`kalman_smooth` works on whole arrays; :class:`~wildpose.smooth.stream.TrackSmoother`
streams tracked frames with memory bounded by the lag (filterpy's KalmanFilter is the reference
in the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from wildpose.errors import ConfigError

__all__ = ["CHI2_2DOF_999", "KalmanParams", "kalman_smooth", "time_steps"]

CHI2_2DOF_999 = -2.0 * math.log(1e-3)  # chi-square(2) 0.999 quantile, 13.8155


@dataclass(frozen=True)
class KalmanParams:
    """Parameters of the constant-velocity model (see the module docstring).

    ``process_noise``: white-noise acceleration spectral density q, px^2/s^3.
    ``meas_std``: measurement std at score 1, px. ``min_score``: points scoring below are gaps.
    ``gate``: chi-square(2) threshold on the squared Mahalanobis distance, None = no gating.
    ``init_vel_std``: std of the initial velocity, px/s.
    ``max_gated``: after this many gated points in a row the filter restarts at the last one.
    """

    process_noise: float = 1e6
    meas_std: float = 3.0
    min_score: float = 0.1
    gate: float | None = CHI2_2DOF_999
    init_vel_std: float = 300.0
    max_gated: int = 3

    def __post_init__(self) -> None:
        checks = {
            "process_noise": self.process_noise,
            "meas_std": self.meas_std,
            "min_score": self.min_score,
            "init_vel_std": self.init_vel_std,
        }
        if self.gate is not None:
            checks["gate"] = self.gate
        for name, value in checks.items():
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"smoothing parameter {name} must be > 0, got {value!r}")
        if int(self.max_gated) != self.max_gated or self.max_gated < 1:
            raise ConfigError(f"smoothing parameter max_gated must be >= 1, got {self.max_gated!r}")

    def measurements(
        self, xy: np.ndarray, score: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Measurements ready for the filter.

        ``xy``: (..., 2) px, NaN = missing; ``score``: (...). Returns ``z`` (..., 2) float64 with
        gaps replaced by 0 (never used), ``r`` (...) float64 measurement variance px^2 and
        ``valid`` (...) bool.
        """
        xy = np.asarray(xy, dtype=np.float64)
        score = np.asarray(score, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(xy).all(axis=-1) & (score >= self.min_score)
        safe = np.where(valid, np.minimum(score, 1.0), 1.0)
        z = np.where(valid[..., None], xy, 0.0)
        return z, (self.meas_std / safe) ** 2, valid


@dataclass(frozen=True)
class _State:
    """Gaussians of many series: means ``pos``/``vel`` (..., 2) px, px/s; covariance
    ``[[a, b], [b, c]]`` (...) shared by x and y. NaN where a series has not started."""

    pos: np.ndarray
    vel: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray

    @staticmethod
    def empty(shape: tuple[int, ...]) -> _State:
        def nan(s: tuple[int, ...]) -> np.ndarray:
            return np.full(s, np.nan)

        return _State(nan((*shape, 2)), nan((*shape, 2)), nan(shape), nan(shape), nan(shape))

    def __getitem__(self, idx: object) -> _State:
        return _State(self.pos[idx], self.vel[idx], self.a[idx], self.b[idx], self.c[idx])

    def put(self, idx: object, other: _State) -> None:
        """Write ``other`` into this state at ``idx`` (in place; internal buffers only)."""
        for name in ("pos", "vel", "a", "b", "c"):
            getattr(self, name)[idx] = getattr(other, name)

    def where(self, mask: np.ndarray, other: _State) -> _State:
        """``self`` where ``mask`` (...) is true, else ``other``."""
        m2 = mask[..., None]
        return _State(
            np.where(m2, self.pos, other.pos),
            np.where(m2, self.vel, other.vel),
            np.where(mask, self.a, other.a),
            np.where(mask, self.b, other.b),
            np.where(mask, self.c, other.c),
        )


def _predict(s: _State, dt: np.ndarray | float, q: float) -> _State:
    """x <- F x, P <- F P F^T + Q for a step of ``dt`` seconds (broadcast against ``s.a``)."""
    dt2 = dt * dt
    a = s.a + 2.0 * dt * s.b + dt2 * s.c + q * dt2 * dt / 3.0
    b = s.b + dt * s.c + q * dt2 / 2.0
    c = s.c + q * dt
    dt_xy = dt[..., None] if isinstance(dt, np.ndarray) else dt
    return _State(s.pos + dt_xy * s.vel, s.vel, a, b, c)


def _filter_step(
    s: _State,
    miss: np.ndarray,
    z: np.ndarray,
    r: np.ndarray,
    valid: np.ndarray,
    dt: np.ndarray | float,
    params: KalmanParams,
) -> tuple[_State, np.ndarray, np.ndarray]:
    """One predict + gated update of series ``s`` (...), ``miss`` (...) int counting consecutive
    gated points. A series (re)starts at a valid point when it has not started yet or when that
    point is its ``max_gated``-th gated one in a row. Returns the state, ``miss`` and the
    (re)start mask (...)."""
    p = _predict(s, dt, params.process_noise)
    started = ~np.isnan(s.a)
    innov = z - p.pos
    sv = p.a + r
    ok = valid & started
    if params.gate is not None:
        with np.errstate(invalid="ignore"):
            gated = ok & ((innov * innov).sum(axis=-1) > params.gate * sv)
        ok &= ~gated
        miss = np.where(ok, 0, miss + gated)
        restart = valid & (~started | (miss >= params.max_gated))
        miss[restart] = 0
    else:
        restart = valid & ~started
    k1, k2 = ok * (p.a / sv), ok * (p.b / sv)  # gains, 0 where there is no update
    out = _State(
        p.pos + k1[..., None] * innov,
        p.vel + k2[..., None] * innov,
        p.a - k1 * p.a,
        p.b - k1 * p.b,
        p.c - k2 * p.b,
    )
    if restart.any():
        v0 = params.init_vel_std**2
        fresh = _State(z, np.zeros_like(z), r, np.zeros_like(r), np.full_like(r, v0))
        out = fresh.where(restart, out)
    return out, miss, restart


def _rts_step(f: _State, s1: _State, dt: np.ndarray | float, q: float) -> _State:
    """Smoothed state at step k from the filtered one at k and the smoothed one at k + 1."""
    p = _predict(f, dt, q)
    det = p.a * p.c - p.b * p.b
    u00, u10 = f.a + dt * f.b, f.b + dt * f.c  # P_f F^T = [[u00, f.b], [u10, f.c]]
    g00 = (u00 * p.c - f.b * p.b) / det  # G = P_f F^T Pp^-1
    g01 = (f.b * p.a - u00 * p.b) / det
    g10 = (u10 * p.c - f.c * p.b) / det
    g11 = (f.c * p.a - u10 * p.b) / det
    dpos, dvel = s1.pos - p.pos, s1.vel - p.vel
    d00, d01, d11 = s1.a - p.a, s1.b - p.b, s1.c - p.c
    return _State(
        f.pos + g00[..., None] * dpos + g01[..., None] * dvel,
        f.vel + g10[..., None] * dpos + g11[..., None] * dvel,
        f.a + g00 * g00 * d00 + 2.0 * g00 * g01 * d01 + g01 * g01 * d11,
        f.b + g00 * g10 * d00 + (g00 * g11 + g01 * g10) * d01 + g01 * g11 * d11,
        f.c + g10 * g10 * d00 + 2.0 * g10 * g11 * d01 + g11 * g11 * d11,
    )


def _run(
    z: np.ndarray,
    r: np.ndarray,
    valid: np.ndarray,
    dt: np.ndarray,
    params: KalmanParams,
    rts: bool,
) -> _State:
    """Filter (and smooth) series laid out as ``z`` (T, S, 2), ``r``/``valid`` (T, S), with
    ``dt`` (T,) s the step into each frame (``dt[0]`` is unused: series start there)."""
    num_t = r.shape[0]
    out = _State.empty(r.shape)
    restart = np.zeros(r.shape, dtype=bool)
    s = _State.empty(r.shape[1:])
    miss = np.zeros(r.shape[1:], dtype=np.int64)
    for t in range(num_t):
        s, miss, restart[t] = _filter_step(s, miss, z[t], r[t], valid[t], dt[t], params)
        out.put(t, s)
    if rts:
        for t in range(num_t - 2, -1, -1):
            s = _rts_step(out[t], s, dt[t + 1], params.process_noise)
            if restart[t + 1].any():  # a restart cuts the series: no smoothing across it
                s = out[t].where(restart[t + 1], s)
            out.put(t, s)
    return out


def time_steps(times_s: np.ndarray | list[float]) -> np.ndarray:
    """(T,) presentation times, s, strictly increasing -> (T,) float64 steps into each frame
    (the first is 0). Raises ValueError for non-finite or non-increasing times."""
    t = np.asarray(times_s, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(f"times_s must be (T,), got shape {t.shape}")
    dt = np.diff(t, prepend=t[:1])
    if not np.isfinite(t).all() or (dt[1:] <= 0).any():
        raise ValueError("times_s must be finite and strictly increasing")
    return dt


def kalman_smooth(
    xy: np.ndarray,
    score: np.ndarray,
    times_s: np.ndarray | list[float],
    mode: Literal["rts", "kalman"] = "rts",
    *,
    params: KalmanParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth whole keypoint series (model and parameters: see the module docstring).

    ``xy``: (T, K, 2) image px, NaN = missing; more generally (T, *S, 2) for any series shape S
    (e.g. (T, N, K, 2)); time is always the first axis. ``score``: (T, K) (resp. (T, *S)).
    ``times_s``: (T,) presentation times of the frames, s, strictly increasing (for a constant
    rate, ``np.arange(T) / fps``). ``mode``: "rts" (smoother) or "kalman" (forward filter only).
    ``params``: the model's parameters (default :class:`KalmanParams`). Returns ``xy_smooth``
    shaped like ``xy`` and ``var`` shaped like ``score``, both float64: the posterior mean (px)
    and the posterior variance of each coordinate (px^2), NaN before a series' first valid
    point. Inputs are not modified.
    """
    if mode not in ("rts", "kalman"):
        raise ConfigError(f"smoothing mode must be 'rts' or 'kalman', got {mode!r}")
    params = KalmanParams() if params is None else params
    xy = np.asarray(xy)
    score = np.asarray(score)
    if xy.ndim < 2 or xy.shape[-1] != 2 or xy.shape[:-1] != score.shape:
        raise ValueError(f"xy {xy.shape} must be (T, ..., 2) and score {score.shape} (T, ...)")
    dt = time_steps(times_s)
    if dt.shape[0] != xy.shape[0]:
        raise ValueError(f"times_s has {dt.shape[0]} entries for {xy.shape[0]} frames")
    num_t, num_s = xy.shape[0], math.prod(xy.shape[1:-1])
    z, r, valid = params.measurements(xy.reshape(num_t, num_s, 2), score.reshape(num_t, num_s))
    out = _run(z, r, valid, dt, params, rts=mode == "rts")
    return out.pos.reshape(xy.shape), out.a.reshape(score.shape)
