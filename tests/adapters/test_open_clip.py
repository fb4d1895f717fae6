"""The open_clip shapes wildpose.adapters.open_clip relies on: fail loudly when upstream changes.

Each failure names the open_clip_torch version, what changed and what to do: stay inside the
tested range (``TESTED_VERSIONS``, the bounds in pyproject.toml) or update the adapter.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
import torch
from torch import nn

from wildpose.adapters import open_clip as oc

VERSION = version("open_clip_torch")


def fail(what: str) -> None:
    pytest.fail(
        f"open_clip_torch {VERSION}: {what}. wildpose.adapters.open_clip is tested with "
        f"open_clip_torch{oc.TESTED_VERSIONS}; install a version in that range or update the "
        "adapter (and its bounds in pyproject.toml).",
        pytrace=False,
    )


def require_parameters(fn, names: tuple[str, ...], what: str) -> None:  # noqa: ANN001
    params = inspect.signature(fn).parameters
    missing = [n for n in names if n not in params]
    if missing:
        fail(f"{what} no longer takes {missing} (it takes {list(params)})")


def require_attributes(obj: object, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if not hasattr(obj, n)]
    if missing:
        fail(f"{what} has no {missing}")


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    require_parameters(
        oc.ModifiedResNet.__init__,
        ("layers", "output_dim", "heads", "image_size", "width"),
        "ModifiedResNet(...)",
    )
    return oc.ModifiedResNet(layers=[1, 1, 1, 1], output_dim=32, heads=2, image_size=64, width=8)


@pytest.fixture(scope="module")
def vit() -> nn.Module:
    names = ("image_size", "patch_size", "width", "layers", "heads", "mlp_ratio", "output_dim")
    require_parameters(oc.VisionTransformer.__init__, (*names, "act_layer"), "VisionTransformer")
    return oc.VisionTransformer(
        image_size=32, patch_size=16, width=32, layers=2, heads=2, mlp_ratio=4.0,
        output_dim=16, act_layer=oc.QuickGELU,
    ).eval()  # fmt: skip


def test_resnet_attributes_and_attention_pool(resnet: nn.Module) -> None:
    require_attributes(resnet, oc.RESNET_READS, "ModifiedResNet")
    require_attributes(resnet.attnpool, oc.ATTNPOOL_READS, "ModifiedResNet.attnpool")
    torch.manual_seed(0)
    x = torch.randn(2, resnet.attnpool.positional_embedding.shape[1], 2, 2)
    pos = resnet.attnpool.positional_embedding[:, None]  # (1 + hw, 1, C)
    tokens = x.flatten(2).permute(2, 0, 1)  # (hw, B, C)
    tokens = torch.cat([tokens.mean(0, keepdim=True), tokens]) + pos
    with torch.no_grad():
        ours = oc.attention_pool_tokens(resnet.attnpool, tokens)[0]
        ref = resnet.attnpool(x)
    if ours.shape != ref.shape or not torch.allclose(ours, ref, atol=1e-5):
        fail("AttentionPool2d.forward no longer equals attention_pool_tokens' token 0")


def test_vit_attributes_and_block_branches(vit: nn.Module) -> None:
    require_attributes(vit, oc.VIT_READS, "VisionTransformer")
    require_attributes(vit.transformer, ("resblocks",), "VisionTransformer.transformer")
    block = vit.transformer.resblocks[0]
    require_attributes(block, oc.BLOCK_READS, "ResidualAttentionBlock")
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        split = x + oc.attention_branch(block, x)
        split = split + oc.mlp_branch(block, split)
        whole = block(x)
    if not torch.allclose(split, whole, atol=1e-5):
        fail("ResidualAttentionBlock.forward is no longer x + attention branch + MLP branch")


def test_parameter_names_are_clip_visual_names(resnet: nn.Module, vit: nn.Module) -> None:
    resnet_keys = {k.split(".")[0] for k in resnet.state_dict()}
    vit_keys = {k.split(".")[0] for k in vit.state_dict()}
    want_resnet = {"conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "layer1", "attnpool"}
    want_vit = {"class_embedding", "positional_embedding", "proj", "conv1", "ln_pre", "ln_post"}
    if not want_resnet <= resnet_keys or not {*want_vit, "transformer"} <= vit_keys:
        fail(f"tower parameter names changed: {sorted(resnet_keys)}, {sorted(vit_keys)}")
    block_keys = {k.split(".")[0] for k in vit.transformer.resblocks[0].state_dict()}
    if not {"ln_1", "attn", "ln_2", "mlp"} <= block_keys:
        fail(f"residual block parameter names changed: {sorted(block_keys)}")


def test_text_transformer_is_batch_first() -> None:
    require_parameters(
        oc.Transformer.__init__, ("width", "layers", "heads", "act_layer"), "Transformer"
    )
    require_parameters(oc.Transformer.forward, ("x", "attn_mask"), "Transformer.forward")
    t = oc.Transformer(16, 1, 2, act_layer=oc.QuickGELU).eval()
    if not getattr(t, "batch_first", False):
        fail("Transformer is not batch-first (N, L, D) (open_clip before 2.26 was sequence-first)")
    x = torch.randn(3, 5, 16)
    mask = torch.full((5, 5), float("-inf")).triu_(1)
    with torch.no_grad():
        out = t(x, attn_mask=mask)
    if out.shape != x.shape:
        fail(f"Transformer maps (3, 5, 16) to {tuple(out.shape)}")
    if not isinstance(oc.LayerNorm(16), nn.LayerNorm):
        fail("open_clip's LayerNorm is no longer a torch LayerNorm")


def test_tokenizer_layout() -> None:
    require_parameters(oc.open_clip.tokenize, ("texts", "context_length"), "open_clip.tokenize")
    ids = oc.tokenize(["left eye", "nose"])
    if ids.shape != (2, oc.CONTEXT_LENGTH) or ids.dtype != torch.long:
        fail(f"tokenize gives {tuple(ids.shape)} {ids.dtype}, not (2, 77) long")
    sot, eot = 49406, 49407  # CLIP's start/end-of-text ids
    first_eot = int(ids[1].argmax())
    if ids[0, 0] != sot or ids[1, first_eot] != eot or ids[1, first_eot + 1 :].any():
        fail(f"tokenize layout is not [SOT, words..., EOT, 0...]: {ids[1, :6].tolist()}")


def test_pretrained_loader_signature() -> None:
    require_parameters(oc.open_clip.create_model, ("model_name", "pretrained"), "create_model")
