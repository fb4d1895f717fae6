"""Training targets: MSRA Gaussian heatmaps and CLAMP's down-sampled feature-loss target.

Both follow mmpose 0.x ``TopDownGenerateTarget`` (MSRA, non-UDP) as the official CLAMP weights
were trained with it, including its integer arithmetic:

- stride = input_size / grid_size per axis; centre ``mu = int(x / stride + 0.5)`` (``int``
  truncates towards zero);
- window ``[ul, br)`` with ``ul = int(mu - 3 sigma)``, ``br = int(mu + 3 sigma + 1)``; the
  unnormalised Gaussian ``g[k] = exp(-(k - x0)^2 / (2 sigma^2))``, ``k = 0 .. ceil(2*3sigma+1)-1``,
  ``x0 = (2*3sigma+1) // 2``, is pasted with ``g[k]`` on cell ``ul + k``;
- weight = visibility, set to 0 when ``ul >= size`` or ``br < 0`` on either axis.

With sigma = 2 (13x13 window) the peak value exactly 1 sits on cell ``mu``. With sigma = 0.5
(the down target: a 4x4 window) the truncation puts the peak one cell too far for ``mu`` in
{0, 1} (cells 1 and 2), and for ``mu == grid size`` no cell holds the peak although the weight
stays 1. These quirks are reproduced on purpose.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _axis_profile(
    mu: np.ndarray, tmp: float, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-joint squared offsets (K, size) float32 on one axis, their mask and the weight test.

    Returns ``(d2, inside, off)``: ``d2[k, c] = (c - ul_k - x0)^2``, ``inside`` marks the cells that
    receive a window value, ``off`` (K,) is True where the window misses the axis entirely.
    """
    window = 2 * tmp + 1
    n_g = math.ceil(window)  # len(np.arange(0, window, 1))
    x0 = window // 2
    ul = np.trunc(mu - tmp).astype(np.int64)
    br = np.trunc(mu + tmp + 1).astype(np.int64)
    cells = np.arange(size, dtype=np.int64)
    k = cells[None, :] - ul[:, None]
    inside = (k >= 0) & (k < n_g) & (cells[None, :] < br[:, None])
    d2 = np.square(k.astype(np.float32) - np.float32(x0))
    off = (ul >= size) | (br < 0)
    return d2, inside, off


def _msra(
    joints: np.ndarray,
    visible: np.ndarray,
    input_size: tuple[int, int],
    grid_size: tuple[int, int],
    sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    joints = np.nan_to_num(np.asarray(joints, dtype=np.float64).reshape(-1, 2))
    weight = (np.asarray(visible).reshape(-1) > 0).astype(np.float32)
    grid_w, grid_h = int(grid_size[0]), int(grid_size[1])
    stride = np.array([input_size[0] / grid_w, input_size[1] / grid_h])
    mu = np.trunc(joints / stride + 0.5)  # mmpose's int(x / stride + 0.5)
    tmp = sigma * 3
    dx2, in_x, off_x = _axis_profile(mu[:, 0], tmp, grid_w)
    dy2, in_y, off_y = _axis_profile(mu[:, 1], tmp, grid_h)
    weight[off_x | off_y] = 0.0
    d2 = dy2[:, :, None] + dx2[:, None, :]  # (K, h, w), float32 like mmpose's window
    gauss = np.exp(-d2 / np.float32(2 * sigma**2))
    keep = in_y[:, :, None] & in_x[:, None, :] & (weight[:, None, None] > 0.5)
    target = np.where(keep, gauss, np.float32(0)).astype(np.float32)
    return target, weight


def gaussian_targets(
    joints_crop: np.ndarray,
    visible: np.ndarray,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """MSRA heatmap targets for the keypoint head and the spatial loss.

    ``joints_crop`` (K, 2) px in input-crop coordinates; ``visible`` (K,) (> 0 means labelled);
    ``input_size`` and ``heatmap_size`` are (width, height). Returns ``target`` (K, h, w) float32
    (unnormalised Gaussians, peak exactly 1 on cell ``int(x / stride + 0.5)``) and ``weight``
    (K,) float32 (visibility, 0 where the 13x13 window lies wholly outside the map).
    """
    return _msra(joints_crop, visible, input_size, heatmap_size, sigma)


def down_targets(
    joints_crop: np.ndarray,
    visible: np.ndarray,
    input_size: tuple[int, int],
    down_size: int | tuple[int, int],
    sigma: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """CLAMP's down-sampled target on the backbone's token grid (feature loss).

    ``down_size`` is the grid (8 for RN50, 16 for ViT), an int or (width, height). Same inputs
    and algorithm as :func:`gaussian_targets` with sigma 0.5 (a 4x4 window), official quirks
    included. Returns ``target_down`` (K, d, d) float32 and ``weight`` (K,) float32; the
    feature-loss cell is :func:`peak_mask`.
    """
    grid = (down_size, down_size) if isinstance(down_size, int) else down_size
    return _msra(joints_crop, visible, input_size, grid, sigma)


def peak_mask(target_down: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """The feature-loss mask ``1[target_down == 1]`` (exact float test) as float, same shape.

    Works on numpy arrays and torch tensors; a torch mask keeps the input's dtype and device.
    """
    if isinstance(target_down, torch.Tensor):
        return (target_down == 1).to(target_down.dtype)
    return (np.asarray(target_down) == 1).astype(np.float32)
