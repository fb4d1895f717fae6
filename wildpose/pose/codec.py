"""Heatmap codec: decoding heatmaps to keypoints and the flip-test helpers (clamp-spec 5, 7).

All functions are batched torch operations (no Python loop over crops or keypoints).
Coordinates are heatmap px: column / row index of the heatmap cell, origin at cell 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def decode_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K, H, W) heatmaps -> xy (N, K, 2) heatmap px and score (N, K).

    mmpose 0.x 'default' post-processing: argmax per channel; where the max is <= 0 the location
    is -1; where ``1 < x < W-1`` and ``1 < y < H-1`` a quarter-pixel step toward the higher
    neighbour is added to each coordinate. The score is the maximum value.
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w).float()
    score, idx = flat.max(dim=2)
    x = (idx % w).float()
    y = torch.div(idx, w, rounding_mode="floor").float()
    xi, yi = x.long(), y.long()
    hm = heatmaps.float()
    inner = (xi > 1) & (xi < w - 1) & (yi > 1) & (yi < h - 1)
    xc = xi.clamp(1, w - 2)
    yc = yi.clamp(1, h - 2)
    gather = _gather2d(hm, yc, xc)
    dx = gather(0, 1) - gather(0, -1)
    dy = gather(1, 0) - gather(-1, 0)
    x = x + torch.where(inner, 0.25 * torch.sign(dx), torch.zeros_like(x))
    y = y + torch.where(inner, 0.25 * torch.sign(dy), torch.zeros_like(y))
    xy = torch.stack([x, y], dim=-1)
    xy = torch.where((score > 0)[..., None], xy, torch.full_like(xy, -1.0))
    return xy, score


def _gather2d(hm: torch.Tensor, y: torch.Tensor, x: torch.Tensor):
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, h * w)

    def at(dy: int, dx: int) -> torch.Tensor:
        return flat.gather(2, ((y + dy) * w + (x + dx))[..., None])[..., 0]

    return at


def flip_back(heatmaps: torch.Tensor, flip_pairs: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Undo a horizontal input flip on (N, K, H, W) heatmaps: swap paired channels, mirror W."""
    perm = list(range(heatmaps.shape[1]))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return heatmaps[:, perm].flip(-1)


def shift_right(heatmaps: torch.Tensor) -> torch.Tensor:
    """mmpose's ``shift_heatmap``: column i takes column i-1; column 0 keeps its value."""
    out = heatmaps.clone()
    out[..., 1:] = heatmaps[..., :-1]
    return out


def heatmap_to_crop(xy: torch.Tensor, heatmap_size: Sequence[int], input_size: Sequence[int]):
    """Heatmap px (..., 2) -> crop px: multiply by input / heatmap size per axis."""
    sx = input_size[0] / heatmap_size[0]
    sy = input_size[1] / heatmap_size[1]
    return xy * xy.new_tensor([sx, sy])
