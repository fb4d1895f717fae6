"""Kalman filtering and RTS smoothing of keypoint trajectories, whole-array and streaming."""

from wildpose.smooth.kalman import CHI2_2DOF_999, KalmanParams, kalman_smooth, time_steps
from wildpose.smooth.stream import SmootherParams, TrackSmoother

__all__ = [
    "CHI2_2DOF_999",
    "KalmanParams",
    "SmootherParams",
    "TrackSmoother",
    "kalman_smooth",
    "time_steps",
]
