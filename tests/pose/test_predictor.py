"""The predictor: text cache, flip test, image-space mapping, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.pose.codec import decode_heatmaps, flip_back, shift_right
from wildpose.pose.predictor import PosePredictor


@pytest.fixture()
def predictor(tiny_model):
    return PosePredictor(
        tiny_model.model, flip_pairs=tiny_model.manifest.flip_pairs, flip_test=True, device="cpu"
    )


def _crops(n=3, size=128, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_cached_prompts_equal_uncached(tiny_model):
    cached = PosePredictor(tiny_model.model, flip_test=False, device="cpu", cache_prompts=True)
    plain = PosePredictor(tiny_model.model, flip_test=False, device="cpu", cache_prompts=False)
    x = _crops()
    torch.testing.assert_close(cached.heatmaps(x), plain.heatmaps(x), rtol=0, atol=1e-6)


def test_prompt_cache_follows_weight_changes(tiny_model):
    from wildpose.pose.checkpoint import random_model

    model = random_model(tiny_model.manifest, seed=3)
    pred = PosePredictor(model, flip_test=False, device="cpu")
    first = pred.prompt_embeddings().clone()
    assert pred.prompt_embeddings() is pred.prompt_embeddings()  # cached
    with torch.no_grad():
        model.contexts.add_(0.5)
    second = pred.prompt_embeddings()
    assert not torch.allclose(first, second)
    torch.testing.assert_close(second, model.encode_prompts().detach())


def test_flip_test_by_hand(predictor):
    x = _crops(2)
    model = predictor.model
    with torch.no_grad():
        plain = model(x)
        flipped = model(x.flip(-1))
    pairs = (
        predictor.manifest_pairs if hasattr(predictor, "manifest_pairs") else predictor.flip_pairs
    )
    perm = list(range(plain.shape[1]))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    back = flipped[:, perm].flip(-1)
    back_shifted = back.clone()
    back_shifted[..., 1:] = back[..., :-1]
    want = 0.5 * (plain + back_shifted)
    torch.testing.assert_close(predictor.heatmaps(x), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(shift_right(flip_back(flipped, pairs)), back_shifted)


def test_predict_maps_to_image_pixels(predictor):
    frames = predictor.prepare_frames(
        np.random.default_rng(0).integers(0, 255, size=(2, 120, 160, 3), dtype=np.uint8)
    )
    boxes = np.array([[10, 20, 74, 84], [40, 30, 140, 110]], np.float32)
    xy, score = predictor.predict(frames, boxes, np.array([0, 1]), origin="center")
    assert xy.shape == (2, 17, 2) and score.shape == (2, 17) and xy.dtype == np.float32
    # recompute by hand: crop -> heatmap -> decode -> spec formula
    from wildpose.pose.crop import CropTransform, crop_images

    tf = CropTransform.from_boxes(boxes, (128, 128))
    crops = crop_images(frames, torch.tensor([0, 1]), tf)
    crops = (crops - predictor.mean) / predictor.std
    hm_xy, hm_score = decode_heatmaps(predictor.heatmaps(crops), refine=predictor.refine)
    hm = predictor.heatmap_size[0]
    s_w = tf.scale[:, 0:1] * 200
    want_x = hm_xy[..., 0].numpy() * (s_w / hm) + tf.center[:, 0:1] - s_w / 2
    np.testing.assert_allclose(xy[..., 0], want_x, atol=1e-3)
    np.testing.assert_allclose(score, hm_score.numpy(), atol=1e-6)
    corner, _ = predictor.predict(frames, boxes + 0.5, np.array([0, 1]), origin="corner")
    np.testing.assert_allclose(corner, xy + 0.5, atol=1e-3)


def test_batch_composition_does_not_change_results(predictor):
    frames = predictor.prepare_frames(
        np.random.default_rng(1).integers(0, 255, size=(3, 96, 96, 3), dtype=np.uint8)
    )
    boxes = np.array([[0, 0, 50, 50], [20, 20, 90, 90], [5, 30, 60, 95]], np.float32)
    together, _ = predictor.predict(frames, boxes, np.array([0, 1, 2]))
    alone, _ = predictor.predict(frames[2:], boxes[2:], np.array([0]))
    np.testing.assert_allclose(together[2:], alone, atol=1e-3)
    empty_xy, empty_s = predictor.predict(frames, np.zeros((0, 4), np.float32), np.zeros(0, int))
    assert empty_xy.shape == (0, 17, 2) and empty_s.shape == (0, 17)


def test_frames_stay_uint8_and_float_frames_give_the_same_keypoints(predictor):
    images = np.random.default_rng(2).integers(0, 255, size=(2, 90, 120, 3), dtype=np.uint8)
    frames = predictor.prepare_frames(list(images))
    assert frames.dtype == torch.uint8 and frames.shape == (2, 90, 120, 3)
    boxes = np.array([[5, 10, 60, 80], [30, 0, 119, 89]], np.float32)
    xy, score = predictor.predict(frames, boxes, np.array([0, 1]))
    as_float = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    xy_f, score_f = predictor.predict(as_float, boxes, np.array([0, 1]))
    # uint8 CPU frames are cut by cv2.warpAffine into uint8 crops (pixels within 1/255)
    np.testing.assert_allclose(xy, xy_f, atol=0.05)
    np.testing.assert_allclose(score, score_f, atol=1e-3)


def test_channels_last_and_dark_options(tiny_model):
    x = _crops(2)
    plain = PosePredictor(tiny_model.model, device="cpu", precision="fp32", channels_last=False)
    cl = PosePredictor(tiny_model.model, device="cpu", precision="fp32", channels_last=True)
    assert cl.memory_format == torch.channels_last
    torch.testing.assert_close(cl.heatmaps(x), plain.heatmaps(x), rtol=1e-4, atol=1e-6)
    assert plain.refine == "dark"  # the default
    quarter = PosePredictor(tiny_model.model, device="cpu", precision="fp32", refine="quarter")
    dark = PosePredictor(tiny_model.model, device="cpu", precision="fp32", refine="dark")
    xy_q, _ = quarter.predict_crops(x)
    xy_d, _ = dark.predict_crops(x)
    assert (xy_q - xy_d).abs().max() <= 5.0  # DARK step <= 1 cell, quarter 0.25 (4 px each)
    tiny_model.model.to(memory_format=torch.contiguous_format)  # the fixture is shared
