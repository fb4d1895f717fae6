"""Dense CLIP visual encoders (DenseCLIP, Rao et al., CVPR 2022; as CLAMP uses them).

Both classes subclass open_clip's towers, so their parameter names are exactly CLIP's ``visual.*``
names (and the official CLAMP ``backbone.*`` names); only the forward differs: every token of the
last stage is kept and projected into the text space, and intermediate maps are returned.

``forward(x)`` takes (B, 3, H, W) normalised crops and returns ``(maps, (g, V))`` where ``maps`` is
a tuple of four feature maps x[0..3] (x[3] feeds the keypoint head), ``g`` (B, D) is the global
embedding and ``V`` (B, D, h, w) the dense embedding on the last stage's grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from torch import nn

from ..adapters.open_clip import (
    ModifiedResNet,
    QuickGELU,
    VisionTransformer,
    attention_branch,
    attention_pool_tokens,
    mlp_branch,
)
from .arch import ClampArch


def resize_pos_embed(pos: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Resize a (1 + h0*w0, C) positional embedding to (1 + h*w, C), keeping the class row.

    The square stored grid is resized bilinearly (align_corners=False), as DenseCLIP/CLAMP do.
    """
    n0 = pos.shape[0] - 1
    side = int(round(n0**0.5))
    if side * side != n0:
        raise ValueError(f"positional embedding with {n0} spatial rows is not a square grid")
    if (side, side) == tuple(grid):
        return pos
    spatial = pos[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    spatial = F.interpolate(spatial.float(), size=grid, mode="bilinear", align_corners=False)
    spatial = spatial.to(pos.dtype).permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1)
    return torch.cat([pos[:1], spatial], dim=0)


class DenseResNet(ModifiedResNet):
    """CLIP modified ResNet whose attention pool keeps every token (DenseCLIP style)."""

    def __init__(self, arch: ClampArch) -> None:
        super().__init__(
            layers=list(arch.resnet_layers),
            output_dim=arch.embed_dim,
            heads=arch.attnpool_heads,
            image_size=arch.image_size,
            width=arch.resnet_width,
        )

    def dense_attnpool(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, h, w) layer4 map -> g (B, D) and V (B, D, h, w)."""
        ap = self.attnpool
        b, c, h, w = x.shape
        tokens = x.reshape(b, c, h * w).permute(2, 0, 1)  # (hw, B, C)
        tokens = torch.cat([tokens.mean(dim=0, keepdim=True), tokens], dim=0)
        pos = resize_pos_embed(ap.positional_embedding, (h, w))
        tokens = tokens + pos[:, None, :].to(tokens.dtype)
        out = attention_pool_tokens(ap, tokens)  # (1 + hw, B, D)
        g = out[0]
        v = out[1:].permute(1, 2, 0).reshape(b, -1, h, w)
        return g, v

    def forward(self, x: torch.Tensor):  # type: ignore[override]
        x = self.stem(x.to(self.conv1.weight.dtype))
        x1 = self.layer1(x)
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        x4 = self.layer4(x3)
        return (x1, x2, x3, x4), self.dense_attnpool(x4)


class DenseViT(VisionTransformer):
    """CLIP ViT returning intermediate maps and projected embeddings for every token.

    Reproduces the DenseCLIP/CLAMP class-token quirk: the class position receives
    ``pos[0] + class_embedding``, so the class token becomes ``2 * class_embedding + pos[0]``.
    Stochastic depth (drop-path, linearly spaced up to ``arch.drop_path_rate``) is active in
    training mode only.
    """

    def __init__(self, arch: ClampArch) -> None:
        super().__init__(
            image_size=arch.image_size,
            patch_size=arch.patch_size,
            width=arch.vit_width,
            layers=arch.vit_layers,
            heads=arch.vit_heads,
            mlp_ratio=4.0,
            output_dim=arch.embed_dim,
            act_layer=QuickGELU,
        )
        self.out_indices = tuple(arch.out_indices)
        rates = torch.linspace(0, arch.drop_path_rate, arch.vit_layers).tolist()
        self.drop_paths = nn.ModuleList(DropPath(r) if r > 0 else nn.Identity() for r in rates)

    def forward(self, x: torch.Tensor):  # type: ignore[override]
        b = x.shape[0]
        x = self.conv1(x.to(self.conv1.weight.dtype))  # (B, width, h, w)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # (B, hw, width)
        cls = self.class_embedding.to(x.dtype).expand(b, 1, -1)
        x = torch.cat([cls, x], dim=1)
        pos = resize_pos_embed(self.positional_embedding, (h, w)).to(x.dtype)
        pos = torch.cat([pos[:1] + self.class_embedding.to(x.dtype), pos[1:]], dim=0)
        x = self.ln_pre(x + pos)
        maps = []
        for i, (blk, dp) in enumerate(
            zip(self.transformer.resblocks, self.drop_paths, strict=True)
        ):
            x = x + dp(attention_branch(blk, x))
            x = x + dp(mlp_branch(blk, x))
            if i in self.out_indices:
                maps.append(x[:, 1:].transpose(1, 2).reshape(b, -1, h, w))
        x = self.ln_post(x) @ self.proj
        g = x[:, 0]
        v = x[:, 1:].transpose(1, 2).reshape(b, -1, h, w)
        return tuple(maps), (g, v)


def build_backbone(arch: ClampArch) -> DenseResNet | DenseViT:
    return DenseResNet(arch) if arch.backbone == "resnet" else DenseViT(arch)
