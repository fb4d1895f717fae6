"""The pose path on CUDA: precision resolution, uint8 crops, bf16/fp16 keypoints, throughput.

Marked ``gpu``; every test skips without a CUDA device (``benchmarks/gpu.sh`` runs them).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from wildpose.pose.codec import decode_heatmaps
from wildpose.pose.crop import CropTransform, crop_images
from wildpose.pose.precision import resolve_precision
from wildpose.pose.predictor import PosePredictor

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CUDA = torch.device("cuda")


def test_auto_is_bf16_where_supported() -> None:
    want = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert resolve_precision("auto", CUDA) == want


def test_uint8_crops_on_cuda_equal_the_cpu(tiny_model) -> None:
    images = np.random.default_rng(0).integers(0, 256, (2, 1080, 1920, 3), dtype=np.uint8)
    boxes = np.array([[100, 200, 600, 700], [1500, 800, 1950, 1100]], np.float32)
    tf = CropTransform.from_boxes(boxes, (128, 128))
    pred = PosePredictor(tiny_model.model, device="cuda", precision="fp32")
    frames = pred.prepare_frames(images)
    assert frames.device.type == "cuda" and frames.dtype == torch.uint8
    got = crop_images(frames, torch.tensor([0, 1], device="cuda"), tf).cpu()
    want = crop_images(torch.from_numpy(images), torch.tensor([0, 1]), tf)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_keeps_the_keypoints(precision: str) -> None:
    """ViT-B/16 (random weights) on CUDA: decoded keypoints within half a heatmap pixel of
    fp32 for >= 99% of the keypoints with a clear peak; heatmaps within 3%."""
    from wildpose.pose.checkpoint import load_model

    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("no bf16 on this GPU")
    loaded = load_model("clamp-vitb16-ap10k", random_weights=True)
    m = loaded.manifest
    kw = {"mean": m.mean, "std": m.std, "flip_pairs": m.flip_pairs, "device": "cuda"}
    x = torch.randn(
        32, 3, 256, 256, device="cuda", generator=torch.Generator("cuda").manual_seed(0)
    )
    x = torch.nn.functional.avg_pool2d(x, 9, 1, 4)  # smooth: structured features, clear peaks
    hm32 = PosePredictor(loaded.model, precision="fp32", **kw).heatmaps(x)
    hm16 = PosePredictor(loaded.model, precision=precision, **kw).heatmaps(x)  # type: ignore[arg-type]
    xy32, _ = decode_heatmaps(hm32)
    xy16, _ = decode_heatmaps(hm16)
    dist = (xy32 - xy16).norm(dim=-1).cpu()
    n, k, h, w = hm32.shape
    flat = hm32.reshape(n, k, -1)
    top, idx = flat.max(-1)
    ys = torch.arange(h, device="cuda").view(1, 1, h, 1)
    xs = torch.arange(w, device="cuda").view(1, 1, 1, w)
    far = ((ys - (idx // w)[..., None, None]).abs() > 2) | (
        (xs - (idx % w)[..., None, None]).abs() > 2
    )
    runner = torch.where(far, hm32, -torch.inf).reshape(n, k, -1).max(-1).values
    clear = ((top - runner) >= 0.01 * (top - flat.min(-1).values)).cpu()
    assert clear.sum() >= 3
    assert (dist[clear] <= 0.5).float().mean() >= 0.99
    assert float((hm32 - hm16).abs().max() / hm32.abs().max()) < 0.03


def test_vitb16_bf16_throughput_is_reported() -> None:
    """Not a pass/fail speed gate (GPUs differ): prints ViT-B/16 crops/s at batch 256."""
    from wildpose.pose.checkpoint import load_model

    loaded = load_model("clamp-vitb16-ap10k", random_weights=True)
    pred = PosePredictor(loaded.model, device="cuda", precision="auto", flip_test=False)
    x = torch.randn(256, 3, 256, 256, device="cuda")
    pred.predict_crops(x)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(3):
        pred.predict_crops(x)
    torch.cuda.synchronize()
    rate = 3 * 256 / (time.perf_counter() - t0)
    print(f"ViT-B/16 {pred.precision_used} batch 256: {rate:.0f} crops/s")
    assert rate > 0
