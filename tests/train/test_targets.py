from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.train.targets import down_targets, gaussian_targets, peak_mask


def reference_msra(joints, visible, input_size, grid, sigma):
    """mmpose 0.x ``_msra_generate_target`` (non-UDP), written as the original loop."""
    w, h = grid
    k = len(joints)
    weight = np.zeros((k, 1), dtype=np.float32)
    target = np.zeros((k, h, w), dtype=np.float32)
    tmp = sigma * 3
    stride = np.array(input_size) / np.array([w, h])
    for j in range(k):
        weight[j] = visible[j]
        mu_x = int(joints[j][0] / stride[0] + 0.5)
        mu_y = int(joints[j][1] / stride[1] + 0.5)
        ul = [int(mu_x - tmp), int(mu_y - tmp)]
        br = [int(mu_x + tmp + 1), int(mu_y + tmp + 1)]
        if ul[0] >= w or ul[1] >= h or br[0] < 0 or br[1] < 0:
            weight[j] = 0
        if weight[j] > 0.5:
            size = 2 * tmp + 1
            x = np.arange(0, size, 1, np.float32)
            y = x[:, None]
            x0 = y0 = size // 2
            g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
            g_x = max(0, -ul[0]), min(br[0], w) - ul[0]
            g_y = max(0, -ul[1]), min(br[1], h) - ul[1]
            img_x = max(0, ul[0]), min(br[0], w)
            img_y = max(0, ul[1]), min(br[1], h)
            target[j][img_y[0] : img_y[1], img_x[0] : img_x[1]] = g[
                g_y[0] : g_y[1], g_x[0] : g_x[1]
            ]
    return target, weight[:, 0]


@pytest.mark.parametrize(
    ("input_size", "grid", "sigma"),
    [((256, 256), (64, 64), 2.0), ((224, 224), (64, 64), 2.0), ((256, 192), (48, 64), 2.0),
     ((256, 256), (8, 8), 0.5), ((256, 256), (16, 16), 0.5), ((224, 224), (16, 16), 0.5)],
)  # fmt: skip
def test_matches_the_mmpose_loop(input_size, grid, sigma) -> None:
    rng = np.random.default_rng(0)
    k = 300
    joints = rng.uniform(-60, max(input_size) + 60, size=(k, 2))
    joints[:20] = rng.integers(-3, 4, size=(20, 2)) * (input_size[0] / grid[0])  # on cell edges
    visible = (rng.random(k) < 0.85).astype(np.float32)
    ref_t, ref_w = reference_msra(joints, visible, input_size, grid, sigma)
    target, weight = (gaussian_targets if sigma == 2.0 else down_targets)(
        joints, visible, input_size, grid, sigma
    )
    assert target.dtype == np.float32 and weight.dtype == np.float32
    assert target.shape == (k, grid[1], grid[0]) and weight.shape == (k,)
    np.testing.assert_array_equal(weight, ref_w)
    np.testing.assert_allclose(target, ref_t, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(target == 1, ref_t == 1)


def test_gaussian_peak_window_and_weights() -> None:
    joints = np.array(
        [[130.0, 70.0], [-10.0, 70.0], [-40.0, 70.0], [280.0, 70.0], [275.0, 70.0], [50, 50]]
    )
    visible = np.array([2, 2, 2, 2, 2, 0])
    target, weight = gaussian_targets(joints, visible, (256, 256), (64, 64))
    # mu = int(130/4 + 0.5) = 33, int(70/4 + 0.5) = 18: peak exactly 1, 13x13 window.
    assert target[0, 18, 33] == 1.0 and target[0].max() == 1.0
    assert np.isclose(target[0, 18, 34], np.exp(-1 / 8))
    assert np.isclose(target[0, 18 + 6, 33 + 6], np.exp(-72 / 8))
    assert target[0, 18, 33 + 7] == 0 and target[0, 18 - 7, 33] == 0
    assert np.count_nonzero(target[0]) == 13 * 13
    # mu_x = int(-2.5 + 0.5) = -2: window clipped at the left, columns 0..4 filled.
    assert weight[1] == 1 and np.count_nonzero(target[1].max(axis=0)) == 5
    assert np.isclose(target[1, 18, 0], np.exp(-4 / 8))
    # mu_x = -9 (br < 0) and mu_x = 70 (ul >= 64): window outside, weight 0, empty map.
    assert weight[2] == 0 and weight[3] == 0 and not target[2].any() and not target[3].any()
    # mu_x = 69: only the window's last column (cell 63) is inside.
    assert weight[4] == 1 and np.isclose(target[4, 18, 63], np.exp(-36 / 8))
    assert weight[5] == 0 and not target[5].any()  # unlabelled


def test_down_target_quirks() -> None:
    # 256 px input, 8x8 grid: stride 32. y = 100 px -> mu_y = 3 (row 3 is correct).
    x = np.array([5.0, 40.0, 64.0, 230.0, 250.0])  # mu_x = 0, 1, 2, 7, 8
    joints = np.stack([x, np.full_like(x, 100.0)], axis=1)
    target, weight = down_targets(joints, np.ones(5), (256, 256), 8)
    mask = peak_mask(target)
    assert mask.dtype == np.float32 and mask.shape == (5, 8, 8)
    peaks = [tuple(np.argwhere(m)[0]) if m.any() else None for m in mask]
    assert peaks == [(3, 1), (3, 2), (3, 2), (3, 7), None]  # mu 0 -> 1, mu 1 -> 2, none at 8
    np.testing.assert_array_equal(weight, np.ones(5, dtype=np.float32))
    assert target[4].any()  # mu == grid size: window partly inside, but no peak cell


def test_peak_mask_torch() -> None:
    t = torch.tensor([[[0.5, 1.0], [1.0 - 1e-7, 0.0]]], dtype=torch.float32)
    m = peak_mask(t)
    assert m.dtype == torch.float32
    assert m.tolist() == [[[0.0, 1.0], [0.0, 0.0]]]
