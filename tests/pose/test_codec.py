"""Heatmap decoding and flip-test helpers against hand computations."""

from __future__ import annotations

import numpy as np
import torch

from wildpose.pose.codec import decode_heatmaps, flip_back, heatmap_to_crop, shift_right


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
