"""Crop geometry: centre/scale, affines against cv2, batched crops against cv2.warpAffine."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from wildpose.pose.crop import CropTransform, affine_matrix, box_to_center_scale, crop_images


def _mmpose_affine(center, scale, rot, size):
    """mmpose 0.x get_affine_transform (three-point construction), the reference."""
    src_w = scale[0] * 200.0
    dst_w, dst_h = size
    rot_rad = np.pi * rot / 180
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    src_dir = np.array([0.0 * cs - src_w * -0.5 * sn, 0.0 * sn + src_w * -0.5 * cs])
    dst_dir = np.array([0.0, dst_w * -0.5])
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]], dtype=np.float32)

    src[2] = third(src[0], src[1])
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0])
def test_affine_matches_mmpose(rot):
    center = np.array([[120.5, 80.25]])
    scale = np.array([[1.3, 1.3]])
    got = affine_matrix(center, scale, rot, (256, 256))[0]
    want = _mmpose_affine(center[0], scale[0], rot, (256, 256))
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_box_to_center_scale_aspect_and_padding():
    c, s = box_to_center_scale(np.array([[10, 20, 110, 70]]), aspect_ratio=1.0, padding=1.25)
    np.testing.assert_allclose(c, [[60, 45]])
    np.testing.assert_allclose(s, [[100 / 200 * 1.25, 100 / 200 * 1.25]])
    c, s = box_to_center_scale(np.array([[0, 0, 30, 90]]), aspect_ratio=0.75, padding=1.0)
    np.testing.assert_allclose(s * 200, [[67.5, 90]])


def test_round_trip():
    rng = np.random.default_rng(0)
    boxes = np.array([[10, 10, 90, 60], [5, 40, 300, 200]], np.float32)
    tf = CropTransform.from_boxes(boxes, (128, 96))
    pts = rng.uniform(0, 300, size=(2, 7, 2)).astype(np.float32)
    np.testing.assert_allclose(tf.to_image(tf.to_crop(pts)), pts, atol=1e-3)
    # the crop spans the padded box: box centre -> crop centre
    centre = np.array([[[50, 35]], [[152.5, 120]]], np.float32)
    np.testing.assert_allclose(tf.to_crop(centre), [[[64, 48]], [[64, 48]]], atol=1e-4)


def test_batched_crops_equal_cv2_warp():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, size=(2, 60, 80, 3)).astype(np.float32)
    boxes = np.array([[10, 5, 50, 45], [30, 20, 79, 59], [-10, -10, 30, 30]], np.float32)
    index = np.array([0, 1, 1])
    tf = CropTransform.from_boxes(boxes, (32, 32))
    t = torch.from_numpy(frames).permute(0, 3, 1, 2)
    got = crop_images(t, torch.from_numpy(index), tf).permute(0, 2, 3, 1).numpy()
    mats = tf.matrix()
    for i in range(3):
        want = cv2.warpAffine(
            frames[index[i]],
            mats[i],
            (32, 32),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        # cv2 uses fixed-point interpolation weights: compare to its precision; the border
        # row/column of out-of-frame samples differs by construction (bilinear vs zero fill)
        inner = np.abs(got[i] - want)[2:-2, 2:-2]
        assert np.median(inner) < 0.5 and np.percentile(inner, 95) < 2.0


@pytest.mark.parametrize("sampler, atol", [("torch", 1e-5), ("auto", 1 / 255)])
def test_uint8_frames_crop_like_float_frames(sampler, atol):
    """Crops cut from uint8 (F, H, W, 3) frames equal those from the float frames / 255.

    ``auto`` on the CPU is cv2.warpAffine, whose crop pixels are uint8 (fixed-point
    weights, rounded to 1/255).
    """
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, size=(2, 60, 80, 3), dtype=np.uint8)
    boxes = np.array([[10, 5, 50, 45], [30, 20, 79, 59], [-10, -10, 30, 30]], np.float32)
    index = torch.tensor([0, 1, 1])
    tf = CropTransform.from_boxes(boxes, (32, 24))
    as_float = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    want = crop_images(as_float, index, tf)
    got = crop_images(torch.from_numpy(frames), index, tf, sampler=sampler)
    assert got.dtype == torch.float32 and got.shape == want.shape == (3, 3, 24, 32)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want, rtol=0, atol=atol)
    empty = CropTransform.from_boxes(np.zeros((0, 4), np.float32), (32, 24))
    assert crop_images(torch.from_numpy(frames), index[:0], empty).shape == (0, 3, 24, 32)


def test_unknown_sampler_is_refused():
    tf = CropTransform.from_boxes(np.array([[0, 0, 8, 8]], np.float32), (8, 8))
    with pytest.raises(ValueError, match="sampler 'fast'"):
        crop_images(torch.zeros((1, 8, 8, 3), dtype=torch.uint8), torch.tensor([0]), tf,
                    sampler="fast")  # type: ignore[arg-type]  # fmt: skip
