"""Shapes, parameter counts, gradients and fidelity cross-checks of the CLAMP modules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wildpose.adapters.open_clip import VisionTransformer
from wildpose.pose.arch import ARCHS, get_arch
from wildpose.pose.losses import clamp_losses, feature_loss, joints_mse
from wildpose.pose.model import build_clamp
from wildpose.pose.text import tokenize_names

AP10K = [
    "left eye",
    "right eye",
    "nose",
    "neck",
    "tail root",
    "left shoulder",
    "left elbow",
    "left front paw",
    "right shoulder",
    "right elbow",
    "right front paw",
    "left hip",
    "left knee",
    "left back paw",
    "right hip",
    "right knee",
    "right back paw",
]
MOUSE = ["snout", "left ear", "right ear", "tail base"]

# (arch, x[3] shape, V shape, head input channels, total params in M without the official
# unused tensors, clamp-spec section 9)
PAPER = [
    ("rn50", (2048, 8, 8), (1024, 8, 8), 2065, 133.4 - 2.11),
    ("vitb16", (768, 16, 16), (512, 16, 16), 785, 161.2 - 0.53),
    ("vitl14", (1024, 16, 16), (768, 16, 16), 1041, 444.9 - 1.19),
]


@pytest.mark.parametrize("name,x3,v,head_in,params_m", PAPER)
def test_paper_architectures(name, x3, v, head_in, params_m):
    arch = get_arch(name)
    torch.manual_seed(0)
    model = build_clamp(arch, AP10K).eval()
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert n == pytest.approx(params_m, rel=0.005)
    assert model.keypoint_head.deconv_layers[0].in_channels == head_in
    x = torch.randn(1, 3, arch.image_size, arch.image_size)
    with torch.no_grad():
        maps, (g, vis) = model.backbone(x)
        out = model.forward_features(x)
    assert len(maps) == 4 and tuple(maps[3].shape[1:]) == x3
    assert tuple(g.shape) == (1, arch.embed_dim) and tuple(vis.shape[1:]) == v
    assert tuple(out.score_map.shape) == (1, 17, *v[1:])
    assert tuple(out.heatmaps.shape) == (1, 17, 64, 64)
    assert out.score_map.abs().max() <= 1 + 1e-5


def test_rn50_intermediate_maps():
    torch.manual_seed(0)
    model = build_clamp("rn50", MOUSE).eval()
    with torch.no_grad():
        maps, _ = model.backbone(torch.randn(1, 3, 256, 256))
    assert [tuple(m.shape[1:]) for m in maps] == [
        (256, 64, 64),
        (512, 32, 32),
        (1024, 16, 16),
        (2048, 8, 8),
    ]
    # any keypoint list works: the names are the prompts
    assert model.keypoint_head.deconv_layers[0].in_channels == 2048 + 4
    assert model.keypoint_head.final_layer.out_channels == 4


@pytest.mark.parametrize("name", ["tiny", "tiny-vit"])
@pytest.mark.parametrize("names", [AP10K, MOUSE])
def test_tiny_shapes(name, names):
    arch = ARCHS[name]
    model = build_clamp(arch, names).eval()
    x = torch.randn(3, 3, arch.image_size, arch.image_size)
    with torch.no_grad():
        out = model.forward_features(x)
    hm = arch.heatmap_size
    assert tuple(out.heatmaps.shape) == (3, len(names), hm, hm)
    assert tuple(model.upconv_head(out.score_map).shape) == (3, len(names), hm, hm)
    assert tuple(out.prompts.shape) == (3, len(names), arch.embed_dim)


def test_tokenisation_matches_clip():
    ids = tokenize_names(AP10K, 5)
    assert ids.shape == (17, 5)
    assert (ids[:, 0] == 49406).all()
    assert (ids.argmax(dim=1) >= 2).all()  # EOT (the largest id) after at least one word
    paws = [i for i, n in enumerate(AP10K) if n.endswith("paw")]
    assert (ids[paws, 4] == 49407).all()  # "... paw" names use exactly five tokens


def test_name_too_long_is_a_clear_error():
    from wildpose.errors import ModelError

    with pytest.raises(ModelError, match="too long|at most 3"):
        build_clamp("tiny", ["left front paw tip of the toe"])


def test_gradients_reach_contexts_not_text_weights():
    torch.manual_seed(0)
    model = build_clamp("tiny", MOUSE).train()
    arch = model.arch
    b, k, hm, g = 2, 4, arch.heatmap_size, arch.grid_size
    mask = torch.zeros(b, k, g, g)
    mask[:, :, 1, 2] = 1
    losses = clamp_losses(
        model,
        torch.randn(b, 3, arch.image_size, arch.image_size),
        torch.rand(b, k, hm, hm),
        torch.ones(b, k, 1),
        mask,
        torch.ones(b, k, 1),
    )
    losses["loss"].backward()
    assert model.contexts.grad is not None and model.contexts.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.text_encoder.parameters())
    assert all(not p.requires_grad for p in model.text_encoder.parameters())
    for part in ("backbone", "prompt_encoder", "context_decoder", "keypoint_head", "upconv_head"):
        grads = [p.grad for p in getattr(model, part).parameters() if p.requires_grad]
        assert any(gr is not None and gr.abs().sum() > 0 for gr in grads), part
    assert model.gamma.grad is not None and model.logit_scale.grad is not None


def test_joints_mse_by_hand():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.ones(1, 2, 2, 2)
    weight = torch.tensor([[1.0, 0.0]])
    # (1/K) sum_k mean((w p - w t)^2) = (1 + 0) / 2
    assert joints_mse(pred, target, weight).item() == pytest.approx(0.5)


def test_feature_loss_by_hand():
    torch.manual_seed(0)
    b, d, k = 2, 8, 3
    visual = torch.randn(b, d, 4, 4)
    prompts = torch.randn(b, k, d)
    mask = torch.zeros(b, k, 4, 4)
    cells = [(0, 0), (1, 2), (3, 3)]
    for i, (y, x) in enumerate(cells):
        mask[:, i, y, x] = 1
    weight = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.5, 1.0]])
    scale = torch.tensor(2.0)
    got = feature_loss(visual, prompts, mask, weight, scale)
    f = torch.stack([visual[:, :, y, x] for (y, x) in cells], dim=1)
    logits = scale.exp() * F.normalize(f, dim=-1) @ F.normalize(prompts, dim=-1).transpose(1, 2)
    la = -torch.log_softmax(logits, dim=1).diagonal(dim1=1, dim2=2)  # over visual i per text j
    lb = -torch.log_softmax(logits, dim=2).diagonal(dim1=1, dim2=2)  # over text j per visual i
    want = 0.5 * ((weight * la).mean() + (weight * lb).mean())
    assert got.item() == pytest.approx(want.item(), rel=1e-6)


def test_resnet_global_token_equals_open_clip_attnpool():
    torch.manual_seed(0)
    model = build_clamp("tiny", MOUSE).eval()
    bb = model.backbone
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        maps, (g, _) = bb(x)
        ref = bb.attnpool(maps[3])  # open_clip keeps only token 0
    torch.testing.assert_close(g, ref, rtol=0, atol=1e-6)


def test_vit_matches_open_clip_without_the_class_quirk():
    """With class_embedding = 0 the doubled-class-token quirk vanishes, so the global
    embedding must equal open_clip's own ViT forward; with it, they must differ."""
    torch.manual_seed(0)
    model = build_clamp("tiny-vit", MOUSE).eval()
    bb = model.backbone
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        _, (g, v) = bb(x)
        ref = VisionTransformer.forward(bb, x)
        assert not torch.allclose(g, ref, atol=1e-4)
        bb.class_embedding.zero_()
        _, (g0, _) = bb(x)
        ref0 = VisionTransformer.forward(bb, x)
    torch.testing.assert_close(g0, ref0, rtol=1e-5, atol=1e-5)


def test_vitl_text_heads_quirk_is_an_option():
    from dataclasses import replace

    from wildpose.pose.text import PromptTextEncoder

    arch = get_arch("vitl14")
    assert arch.text_heads == 8  # what the official weights were trained with
    small = replace(arch, text_layers=1, vocab_size=16)  # the same blocks, cheap to build
    assert PromptTextEncoder(small).transformer.resblocks[0].attn.num_heads == 8
    clip_like = replace(small, text_heads=12)
    assert PromptTextEncoder(clip_like).transformer.resblocks[0].attn.head_dim == 64
