"""The CLAMP pose network (Zhang et al., CVPR 2023): tensors in, heatmaps out.

:class:`ClampPose` is a pure ``nn.Module``; the stateful wrapper that owns crops, batching,
precision, flip test and the cached prompts is :class:`wildpose.pose.predictor.PosePredictor`.
Attribute names mirror the official CLAMP module tree, so official weights load one-to-one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .arch import ClampArch, get_arch
from .backbone import DenseResNet, DenseViT, build_backbone
from .decoder import ContextDecoder
from .heads import HeatmapHead
from .text import PromptEncoder, PromptTextEncoder, tokenize_names


@dataclass(frozen=True)
class ClampOutput:
    """Everything one forward produces.

    ``heatmaps`` (B, K, Hm, Wm) keypoint-head output; ``score_map`` S (B, K, h, w) cosine
    similarities in [-1, 1]; ``visual`` V (B, D, h, w); ``prompts`` P (B, K, D) refined prompts.
    """

    heatmaps: torch.Tensor
    score_map: torch.Tensor
    visual: torch.Tensor
    prompts: torch.Tensor


class ClampPose(nn.Module):
    """CLAMP: CLIP visual encoder + prompted text encoder + context decoder + heatmap heads.

    ``keypoints`` are the prompt texts (one per heatmap channel, in order).
    """

    def __init__(
        self,
        arch: ClampArch,
        keypoints: Sequence[str],
        backbone: DenseResNet | DenseViT,
        text_encoder: PromptTextEncoder,
        prompt_encoder: PromptEncoder,
        context_decoder: ContextDecoder,
        keypoint_head: HeatmapHead,
        upconv_head: HeatmapHead,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.keypoints = tuple(keypoints)
        self.backbone = backbone
        self.text_encoder = text_encoder
        self.prompt_encoder = prompt_encoder
        self.context_decoder = context_decoder
        self.keypoint_head = keypoint_head
        self.upconv_head = upconv_head
        k, d = len(self.keypoints), arch.embed_dim
        self.register_buffer("texts", tokenize_names(self.keypoints, arch.name_context), False)
        self.contexts = nn.Parameter(torch.empty(1, arch.n_contexts, arch.text_width))
        nn.init.trunc_normal_(self.contexts)  # std 1, clipped to [-2, 2], as the official code
        self.gamma = nn.Parameter(torch.full((d,), arch.gamma_init))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.text_encoder.requires_grad_(False)  # frozen CLIP text weights; contexts still learn
        assert k > 0, "a CLAMP model needs at least one keypoint"

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def encode_prompts(self) -> torch.Tensor:
        """Text encoder + prompt encoder: (K, D). Depends only on weights, never on the image."""
        t = self.text_encoder(self.texts, self.contexts)  # (K, D)
        return self.prompt_encoder(t[None])[0]

    def forward_features(
        self, images: torch.Tensor, prompt_embed: torch.Tensor | None = None
    ) -> ClampOutput:
        """``images`` (B, 3, H, W) ImageNet-normalised; ``prompt_embed`` (K, D) cached or None."""
        maps, (g, v) = self.backbone(images)
        b, d, h, w = v.shape
        t_pe = self.encode_prompts() if prompt_embed is None else prompt_embed
        t_pe = t_pe.to(v.dtype)[None].expand(b, -1, -1)
        tokens = torch.cat([g[:, None], v.flatten(2).transpose(1, 2)], dim=1)  # (B, 1+hw, D)
        residual = self.context_decoder(t_pe, tokens)
        prompts = t_pe + self.gamma.to(v.dtype) * residual
        s = torch.einsum("bchw,bkc->bkhw", F.normalize(v, dim=1), F.normalize(prompts, dim=2))
        fused = torch.cat([maps[3], s.to(maps[3].dtype)], dim=1)
        return ClampOutput(self.keypoint_head(fused), s, v, prompts)

    def forward(
        self, images: torch.Tensor, prompt_embed: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, 3, H, W) -> heatmaps (B, K, Hm, Wm)."""
        return self.forward_features(images, prompt_embed).heatmaps


def build_clamp(arch: ClampArch | str, keypoints: Sequence[str]) -> ClampPose:
    """Build a randomly initialised CLAMP for ``arch`` with one prompt per keypoint name."""
    arch = get_arch(arch) if isinstance(arch, str) else arch
    k = len(keypoints)
    upconv = arch.upconv_filters or (k,) * len(arch.head_filters)
    return ClampPose(
        arch,
        keypoints,
        backbone=build_backbone(arch),
        text_encoder=PromptTextEncoder(arch),
        prompt_encoder=PromptEncoder(arch),
        context_decoder=ContextDecoder(arch),
        keypoint_head=HeatmapHead(arch.visual_channels + k, arch.head_filters, k),
        # The official upconv head is never passed through init_weights: PyTorch defaults.
        upconv_head=HeatmapHead(k, upconv, k, init=False),
    )
