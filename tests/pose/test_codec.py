"""Heatmap decoding and flip-test helpers against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.pose.codec import (
    decode_heatmaps,
    flip_back,
    gaussian_heatmaps,
    heatmap_to_crop,
    shift_right,
)


def test_decode_argmax_and_quarter_offset():
    hm = torch.zeros(1, 3, 8, 8)
    hm[0, 0, 4, 5] = 1.0
    hm[0, 0, 4, 6] = 0.5  # right neighbour higher than left: +0.25 in x
    hm[0, 0, 3, 5] = 0.2  # upper neighbour higher than lower: -0.25 in y
    hm[0, 1, 1, 3] = 0.7  # y == 1: no offset (mmpose requires 1 < y)
    hm[0, 1, 1, 4] = 0.6
    hm[0, 2] = -1.0  # max <= 0: location -1
    xy, score = decode_heatmaps(hm)
    np.testing.assert_allclose(xy[0].numpy(), [[5.25, 3.75], [3, 1], [-1, -1]])
    np.testing.assert_allclose(score[0].numpy(), [1.0, 0.7, -1.0])


def test_flip_back_and_shift_by_hand():
    hm = torch.arange(2 * 1 * 4, dtype=torch.float32).reshape(1, 2, 1, 4)
    back = flip_back(hm, [(0, 1)])
    np.testing.assert_array_equal(back[0, 0, 0].numpy(), [7, 6, 5, 4])
    np.testing.assert_array_equal(back[0, 1, 0].numpy(), [3, 2, 1, 0])
    np.testing.assert_array_equal(shift_right(back)[0, 0, 0].numpy(), [7, 7, 6, 5])


def test_heatmap_to_crop():
    xy = torch.tensor([[[16.0, 8.0]]])
    np.testing.assert_allclose(heatmap_to_crop(xy, (64, 64), (256, 256)).numpy(), [[[64, 32]]])
    np.testing.assert_allclose(heatmap_to_crop(xy, (64, 64), (224, 224)).numpy(), [[[56, 28]]])


def test_dark_recovers_subpixel_peaks_better_than_quarter():
    """On sigma-2 Gaussians at random sub-pixel centres (64 x 64, CLAMP's target), DARK's
    Taylor step finds the centre to ~0.01 px where the quarter offset errs ~0.2 px; with
    noise it still wins."""
    gen = torch.Generator().manual_seed(0)
    centers = torch.rand(4, 17, 2, generator=gen) * 40 + 12
    hm = gaussian_heatmaps(centers, (64, 64), sigma=2.0)
    noisy = hm + 0.05 * torch.randn(hm.shape, generator=gen)
    err = {}
    for name, maps in (("clean", hm), ("noisy", noisy)):
        for refine in ("quarter", "dark"):
            xy, score = decode_heatmaps(maps, refine=refine)
            err[name, refine] = float((xy - centers).norm(dim=-1).mean())
    assert err["clean", "dark"] < 0.01 < 0.1 < err["clean", "quarter"]
    assert err["noisy", "dark"] < 0.5 * err["noisy", "quarter"]


def test_dark_keeps_the_argmax_where_the_quadratic_fails():
    """Border cells, flat or non-positive maps: no Taylor step (and -1 where max <= 0)."""
    hm = torch.zeros(1, 3, 16, 16)
    hm[0, 0, 1, 8] = 1.0  # row 1: too close to the border for the second differences
    hm[0, 1] = 0.5  # flat: singular Hessian
    hm[0, 1, 8, 8] = 0.5 + 1e-3
    hm[0, 2] = -1.0
    xy, _ = decode_heatmaps(hm, refine="dark")
    np.testing.assert_allclose(xy[0].numpy(), [[8, 1], [8, 8], [-1, -1]], atol=1e-3)
    with pytest.raises(ValueError, match="refine"):
        decode_heatmaps(hm, refine="udp")  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(3, 17, 32, 32), (2, 5, 64, 48), (1, 2, 8, 20)])
def test_matmul_blur_equals_the_separable_convolution(shape):
    from wildpose.pose.codec import gaussian_blur, gaussian_blur_conv

    hm = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    hm[0, 0] = 0  # a flat channel keeps its zeros
    want = gaussian_blur_conv(hm)
    torch.testing.assert_close(gaussian_blur(hm), want, rtol=1e-5, atol=1e-5)
