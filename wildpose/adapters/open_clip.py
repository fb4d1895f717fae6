"""The one place that uses open_clip's tower internals, tokenizer and pretrained weights.

Tested with open_clip_torch 2.26 to 3.3 (3.3.0); ``pyproject.toml`` bounds it below 3.4 and
``tests/adapters/test_open_clip.py`` fails with a clear message when a shape used here changes.
open_clip: github.com/mlfoundations/open_clip (Ilharco et al., "OpenCLIP", 2021).

What is fragile:

- :class:`~wildpose.pose.backbone.DenseResNet` subclasses ``ModifiedResNet(layers, output_dim,
  heads, image_size, width)`` and reads the names in :data:`RESNET_READS`, its attention pool's
  in :data:`ATTNPOOL_READS` (through :func:`attention_pool_tokens`).
- :class:`~wildpose.pose.backbone.DenseViT` subclasses ``VisionTransformer(image_size,
  patch_size, width, layers, heads, mlp_ratio, output_dim, act_layer)`` and reads
  :data:`VIT_READS`; each residual block runs through :func:`attention_branch` and
  :func:`mlp_branch` (the names in :data:`BLOCK_READS`), so drop-path can wrap each branch.
- The text side builds ``Transformer(width, layers, heads, act_layer=QuickGELU)`` and feeds it
  batch-first (N, L, D) sequences with ``attn_mask``; open_clip before 2.26 was sequence-first.
- Inference folds BatchNorm into the convolutions named in :data:`CONV_BN_PAIRS` of
  ``ModifiedResNet`` (stem) and ``Bottleneck``, relying on their forward order.
- The towers' parameter names are CLIP's ``visual.*`` names, which are also the official CLAMP
  ``backbone.*`` names that checkpoint conversion and CLIP initialisation map.
"""

from __future__ import annotations

from collections.abc import Sequence

import open_clip
import torch
import torch.nn.functional as F
from open_clip.modified_resnet import Bottleneck, ModifiedResNet
from open_clip.transformer import LayerNorm, QuickGELU, Transformer, VisionTransformer
from torch import nn

__all__ = [
    "ATTNPOOL_READS",
    "BLOCK_READS",
    "CONTEXT_LENGTH",
    "CONV_BN_PAIRS",
    "Bottleneck",
    "RESNET_READS",
    "TESTED_VERSIONS",
    "VIT_READS",
    "LayerNorm",
    "ModifiedResNet",
    "QuickGELU",
    "Transformer",
    "VisionTransformer",
    "attention_branch",
    "attention_pool_tokens",
    "mlp_branch",
    "pretrained_state",
    "tokenize",
]

TESTED_VERSIONS = ">=2.26,<3.4"
CONTEXT_LENGTH = 77  # CLIP's text context; tokenize pads/truncates to it

# What wildpose reads of each upstream object (checked by the adapter test).
RESNET_READS = ("stem", "conv1", "layer1", "layer2", "layer3", "layer4", "attnpool")
ATTNPOOL_READS = ("positional_embedding", "num_heads", "q_proj", "k_proj", "v_proj", "c_proj")
VIT_READS = (
    "conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer", "ln_post", "proj"
)  # fmt: skip
BLOCK_READS = ("ln_1", "attention", "ls_1", "ln_2", "mlp", "ls_2")
# ModifiedResNet's stem and each Bottleneck apply ``bnN`` directly to ``convN``'s output, which
# is what lets :func:`wildpose.pose.fold.fold_batchnorm` fold them (checked by its test).
CONV_BN_PAIRS = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))


def tokenize(texts: Sequence[str], context_length: int = CONTEXT_LENGTH) -> torch.Tensor:
    """CLIP BPE token ids (N, context_length) long: [SOT, words..., EOT, 0...], truncated.

    The tokenizer's vocabulary ships with open_clip (no download).
    """
    return open_clip.tokenize(list(texts), context_length=context_length)


def pretrained_state(model_name: str, tag: str = "openai") -> dict[str, torch.Tensor]:
    """State dict (float32, CLIP key names) of open_clip's ``model_name`` with weights ``tag``.

    Weights come from open_clip's cache or are downloaded; any failure propagates as raised by
    open_clip (the caller turns it into one clear error).
    """
    clip = open_clip.create_model(model_name, pretrained=tag)
    return {k: v.float() for k, v in clip.state_dict().items()}


def pretrained_cached(model_name: str, tag: str = "openai") -> bool:
    """Whether open_clip's weights ``model_name``/``tag`` are already on disk (the Hugging Face
    cache of its ``hf_hub`` repository, or open_clip's URL cache), so no download is needed."""
    import os

    cfg = open_clip.get_pretrained_cfg(model_name, tag) or {}
    repo = str(cfg.get("hf_hub") or "").strip("/")
    if repo:
        from huggingface_hub import try_to_load_from_cache

        for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(repo, name), str):
                return True
    url = str(cfg.get("url") or "")
    cached = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))
    return bool(url) and os.path.isfile(cached)


def attention_pool_tokens(pool: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """ModifiedResNet's attention pool over every token: (L, B, C) -> (L, B, D).

    ``tokens`` already hold the positional embedding. The same multi-head attention as
    open_clip's ``AttentionPool2d.forward``, which keeps only token 0.
    """
    out, _ = F.multi_head_attention_forward(
        query=tokens,
        key=tokens,
        value=tokens,
        embed_dim_to_check=tokens.shape[-1],
        num_heads=pool.num_heads,
        q_proj_weight=pool.q_proj.weight,
        k_proj_weight=pool.k_proj.weight,
        v_proj_weight=pool.v_proj.weight,
        in_proj_weight=None,
        in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        bias_k=None,
        bias_v=None,
        add_zero_attn=False,
        dropout_p=0.0,
        out_proj_weight=pool.c_proj.weight,
        out_proj_bias=pool.c_proj.bias,
        use_separate_proj_weight=True,
        training=pool.training,
        need_weights=False,
    )
    return out


def attention_branch(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The attention residual branch of a ``ResidualAttentionBlock`` on (B, L, C) ``x``."""
    return block.ls_1(block.attention(block.ln_1(x)))


def mlp_branch(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The MLP residual branch of a ``ResidualAttentionBlock`` on (B, L, C) ``x``."""
    return block.ls_2(block.mlp(block.ln_2(x)))
