"""Precision resolution and bf16 accuracy: decoded keypoints of bf16 against fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from wildpose.pose import precision as prec
from wildpose.pose.codec import decode_heatmaps
from wildpose.pose.crop import CropTransform, crop_images
from wildpose.pose.predictor import PosePredictor
from wildpose.synthetic import generate_frames

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    ("requested", "fast", "want"),
    [("auto", True, "bf16"), ("auto", False, "fp32"), ("fp16", True, "fp32"),
     ("bf16", False, "bf16"), ("fp32", True, "fp32")],
)  # fmt: skip
def test_cpu_resolution(monkeypatch, requested, fast, want) -> None:
    monkeypatch.setattr(prec, "cpu_has_fast_bf16", lambda: fast)
    assert prec.resolve_precision(requested, CPU) == want


@pytest.mark.parametrize(("bf16", "want"), [(True, "bf16"), (False, "fp16")])
def test_cuda_auto(monkeypatch, bf16, want) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert prec.resolve_precision("auto", CUDA) == want
    assert prec.resolve_precision("fp16", CUDA) == "fp16"
    with pytest.raises(ValueError, match="precision must be"):
        prec.resolve_precision("fp8", CPU)  # type: ignore[arg-type]


def test_bf16_flags_from_proc_cpuinfo(monkeypatch, tmp_path) -> None:
    """Without ``torch.cpu.get_capabilities`` (PyTorch < 2.8) the kernel's flags are read."""
    monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    info = tmp_path / "cpuinfo"
    info.write_text("model name\t: X\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    real = prec.Path

    monkeypatch.setattr(prec, "Path", lambda p: info if p == "/proc/cpuinfo" else real(p))
    assert prec.cpu_bf16_flags() == ("avx512_bf16",)


def test_predictor_records_what_runs(tiny_model, monkeypatch) -> None:
    monkeypatch.setattr(prec, "cpu_has_fast_bf16", lambda: False)
    pred = PosePredictor(tiny_model.model, device="cpu", precision="auto")
    assert pred.precision_used == "fp32" and pred.requested_precision == "auto"
    pred = PosePredictor(tiny_model.model, device="cpu", precision="fp16")
    assert pred.precision_used == "fp32"  # the CPU has no fast fp16: never recorded as fp16


def _synthetic_crops(loaded, n: int, mean, std) -> torch.Tensor:
    """(n, 3, S, S) normalised crops of one synthetic animal at n poses."""
    frames, truth = generate_frames(np.arange(n) * 0.7, n_animals=1, seed=1)
    size = loaded.model.arch.image_size
    tf = CropTransform.from_boxes(truth.boxes.reshape(-1, 4), (size, size))
    crops = crop_images(torch.from_numpy(frames), torch.arange(n), tf)
    return (crops - mean) / std


def clear_peak(hm: torch.Tensor, margin: float = 0.01) -> torch.Tensor:
    """(N, K) bool: the maximum exceeds every value outside its 5 x 5 neighbourhood by at least
    ``margin`` of the channel's range (max - min)."""
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, -1)
    top, idx = flat.max(-1)
    low = flat.min(-1).values
    ys = torch.arange(h).view(1, 1, h, 1)
    xs = torch.arange(w).view(1, 1, 1, w)
    far = ((ys - (idx // w)[..., None, None]).abs() > 2) | (
        (xs - (idx % w)[..., None, None]).abs() > 2
    )
    runner = torch.where(far, hm, torch.finfo(hm.dtype).min).reshape(n, k, -1).max(-1).values
    return (top - runner) >= margin * (top - low)


def bf16_agreement(loaded, n: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Decoded-keypoint distance (N, K) heatmap px bf16 vs fp32, clear-peak mask, heatmap
    error relative to the fp32 heatmaps' largest magnitude."""
    m = loaded.manifest
    kw = {"mean": m.mean, "std": m.std, "flip_pairs": m.flip_pairs, "device": "cpu"}
    fp32 = PosePredictor(loaded.model, precision="fp32", channels_last=False, **kw)
    crops = _synthetic_crops(loaded, n, fp32.mean, fp32.std)
    hm32 = fp32.heatmaps(crops)
    hm16 = PosePredictor(loaded.model, precision="bf16", **kw).heatmaps(crops)
    xy32, _ = decode_heatmaps(hm32)
    xy16, _ = decode_heatmaps(hm16)
    rel = float((hm32 - hm16).abs().max() / hm32.abs().max())
    return (xy32 - xy16).norm(dim=-1), clear_peak(hm32), rel


def test_bf16_keeps_the_trained_demo_model_keypoints() -> None:
    """The shipped demo model (trained: every peak is clear) decodes the same in bf16."""
    import wildpose.demo
    from wildpose.pose.checkpoint import load_checkpoint

    loaded = load_checkpoint(Path(wildpose.demo.__file__).parent / "clamp-demo.pt")
    dist, clear, rel = bf16_agreement(loaded, 6)
    assert clear.float().mean() > 0.9
    assert (dist[clear] <= 0.5).float().mean() >= 0.99
    assert rel < 0.03


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clamp-rn50-ap10k", "clamp-vitb16-ap10k"])
def test_bf16_keeps_paper_model_keypoints(name: str) -> None:
    """Random-weight paper models: >= 99% of the keypoints with a clear peak within half a
    heatmap pixel, heatmaps within 3% (bf16 has 8 mantissa bits: ~0.4% per rounding)."""
    from wildpose.pose.checkpoint import load_model

    torch.manual_seed(0)
    dist, clear, rel = bf16_agreement(load_model(name, random_weights=True), 2)
    assert clear.sum() >= 3  # the criterion is not empty
    assert (dist[clear] <= 0.5).float().mean() >= 0.99
    assert rel < 0.03
