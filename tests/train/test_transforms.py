from __future__ import annotations

import numpy as np
import pytest

from wildpose.pose.crop import affine_matrix
from wildpose.train import transforms as T

PAIRS = [(0, 1), (3, 4)]


def _blob_image(points: np.ndarray, height: int, width: int, sigma: float = 2.5) -> np.ndarray:
    """(K, H, W) float32 images, one Gaussian blob per point (x, y) in pixel-index coords."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    d2 = (xs[None] - points[:, 0, None, None]) ** 2 + (ys[None] - points[:, 1, None, None]) ** 2
    return np.exp(-d2 / (2 * sigma**2)).astype(np.float32)


def _centroids(channels: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroids (K, 2) x, y of (H, W, K) images."""
    h, w, _ = channels.shape
    ys, xs = np.mgrid[0:h, 0:w]
    mass = channels.sum(axis=(0, 1))
    cx = (channels * xs[..., None]).sum(axis=(0, 1)) / mass
    cy = (channels * ys[..., None]).sum(axis=(0, 1)) / mass
    return np.stack([cx, cy], axis=1)


@pytest.mark.parametrize(("rotation", "flip"), [(0.0, False), (30.0, False), (-55.0, True)])
def test_warped_joints_land_on_the_warped_dots(rotation: float, flip: bool) -> None:
    height, width = 240, 320
    joints = np.array([[100.0, 80.5], [180.3, 90.0], [150.0, 160.0], [120.7, 130.2], [200, 120]])
    visible = np.ones(5, dtype=np.float32)
    image = _blob_image(joints, height, width).transpose(1, 2, 0)  # one dot per channel
    center, scale = np.array([150.0, 120.0]), np.array([0.9, 0.9])
    j, v = joints, visible
    if flip:
        j, v = T.flip_joints(joints, visible, width, PAIRS)
        center = T.flip_center(center, width)
    matrix = affine_matrix(center, scale, rotation, (256, 256))[0]
    image_matrix = T.flip_affine(matrix, width) if flip else matrix
    crop = T.warp_image(image, image_matrix, (256, 256))
    joints_crop = T.warp_joints(j, v, matrix)
    # After a flip, joint k is the mirrored dot of original joint perm[k].
    perm = T.flip_permutation(5, PAIRS) if flip else np.arange(5)
    found = _centroids(crop)[perm]
    np.testing.assert_allclose(joints_crop, found, atol=0.05)


def test_flip_affine_equals_warping_the_mirrored_image() -> None:
    rng = np.random.default_rng(0)
    image = (rng.random((90, 130, 3)) * 255).astype(np.uint8)
    matrix = affine_matrix(np.array([60.0, 40.0]), np.array([0.5, 0.5]), 20.0, (64, 64))[0]
    mirrored = np.ascontiguousarray(image[:, ::-1])
    a = T.warp_image(mirrored, matrix, (64, 64)).astype(int)
    b = T.warp_image(image, T.flip_affine(matrix, 130), (64, 64)).astype(int)
    assert np.abs(a - b).max() <= 1  # cv2's fixed-point interpolation may round differently


def test_flip_twice_is_identity_and_swaps_pairs() -> None:
    joints = np.array([[10, 20], [30, 40], [50, 60], [70, 80], [0, 0]], dtype=np.float32)
    visible = np.array([1, 1, 1, 1, 0], dtype=np.float32)
    flipped, vis = T.flip_joints(joints, visible, 100, PAIRS)
    np.testing.assert_array_equal(flipped[0], [100 - 1 - 30, 40])
    np.testing.assert_array_equal(flipped[1], [100 - 1 - 10, 20])
    np.testing.assert_array_equal(flipped[3], [0, 0])  # swapped with the unlabelled joint 4
    np.testing.assert_array_equal(vis, [1, 1, 1, 0, 1])
    back, vis2 = T.flip_joints(flipped, vis, 100, PAIRS)
    np.testing.assert_array_equal(back, joints)
    np.testing.assert_array_equal(vis2, visible)
    np.testing.assert_array_equal(
        T.flip_center(T.flip_center(np.array([3.5, 7]), 100), 100), [3.5, 7]
    )


def test_warp_joints_moves_only_visible_joints() -> None:
    matrix = np.array([[2.0, 0.0, 1.0], [0.0, 2.0, -1.0]])
    out = T.warp_joints(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([2, 0]), matrix)
    np.testing.assert_array_equal(out, [[3.0, 3.0], [3.0, 4.0]])


def test_half_body_box_selection() -> None:
    upper = np.array([True] * 4 + [False] * 4)
    joints = np.array(
        [[0, 0], [10, 0], [10, 20], [0, 20], [100, 100], [140, 100], [140, 110], [100, 110]],
        dtype=np.float32,
    )
    visible = np.ones(8)
    center, scale = T.half_body_box(joints, visible, upper, prefer_upper=True)
    np.testing.assert_allclose(center, [5, 10])
    np.testing.assert_allclose(scale, [20 / 200 * 1.5, 20 / 200 * 1.5])  # 10x20 -> 20x20
    center, scale = T.half_body_box(joints, visible, upper, prefer_upper=False)
    np.testing.assert_allclose(center, [120, 105])
    np.testing.assert_allclose(scale, [40 / 200 * 1.5, 40 / 200 * 1.5])
    # Only 2 upper joints visible: the lower set is used even when upper is preferred.
    few_upper = np.array([1, 1, 0, 0, 1, 1, 1, 1])
    center, _ = T.half_body_box(joints, few_upper, upper, prefer_upper=True)
    np.testing.assert_allclose(center, [120, 105])
    # Two lower joints, two upper: falls back to the upper set (2 joints suffice) ...
    center, _ = T.half_body_box(joints, np.array([1, 1, 0, 0, 1, 1, 0, 0]), upper, False)
    np.testing.assert_allclose(center, [5, 0])
    # ... and with one upper joint there is no half-body box.
    assert T.half_body_box(joints, np.array([1, 0, 0, 0, 1, 1, 0, 0]), upper, True) is None


def test_random_draw_distributions() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([T.draw_scale(rng) for _ in range(4000)])
    rotations = np.array([T.draw_rotation(rng) for _ in range(4000)])
    assert scales.min() >= 0.5 and scales.max() <= 1.5
    assert np.isclose((scales == 1.5).mean(), 0.1587, atol=0.02)  # P(N(0,1) > 1)
    assert rotations.min() >= -80 and rotations.max() <= 80
    assert np.isclose((rotations == 0).mean(), 0.4, atol=0.03)
    nonzero = rotations[rotations != 0]
    assert np.isclose((np.abs(nonzero) == 80).mean(), 0.0455, atol=0.015)  # P(|N(0,1)| > 2)


def test_center_jitter() -> None:
    boxes = np.tile(np.array([[0.0, 0.0, 100.0, 50.0]]), (5000, 1))
    shift = T.center_jitter(boxes, np.random.default_rng(1))
    moved = np.any(shift != 0, axis=1)
    assert np.isclose(moved.mean(), 0.3, atol=0.03)
    assert np.abs(shift[:, 0]).max() <= 20 and np.abs(shift[:, 1]).max() <= 10
    assert np.abs(shift[moved, 0]).max() > 19  # the full U(-0.2, 0.2) * w range is used
    np.testing.assert_array_equal(shift, T.center_jitter(boxes, np.random.default_rng(1)))


def test_normalize_image() -> None:
    crop = np.zeros((2, 3, 3), dtype=np.uint8)
    crop[0, 0] = [255, 255, 255]
    out = T.normalize_image(crop)
    assert out.shape == (3, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], (1 - T.IMAGENET_MEAN) / T.IMAGENET_STD, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1, 1], -T.IMAGENET_MEAN / T.IMAGENET_STD, rtol=1e-6)
