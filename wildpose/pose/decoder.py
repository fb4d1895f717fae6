"""DenseCLIP context decoder: prompts cross-attend to the image's tokens (clamp-spec section 2).

Parameter names equal the official ``context_decoder.*``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arch import ClampArch


class Attention(nn.Module):
    """Multi-head attention with bias-free q/k/v projections and a biased output projection."""

    def __init__(self, dim: int, heads: int, proj_drop: float) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q (B, N, C), k and v (B, M, C) -> (B, N, C)."""
        b, n, c = q.shape
        m = k.shape[1]
        h = self.heads
        q = self.q_proj(q).reshape(b, n, h, c // h).transpose(1, 2)
        k = self.k_proj(k).reshape(b, m, h, c // h).transpose(1, 2)
        v = self.v_proj(v).reshape(b, m, h, c // h).transpose(1, 2)
        x = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(head_dim), no dropout
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class DecoderLayer(nn.Module):
    """Self-attention, cross-attention to the visual memory, MLP; pre-LN residuals."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = Attention(width, heads, dropout)
        self.cross_attn = Attention(width, heads, dropout)
        self.norm1 = nn.LayerNorm(width)
        self.norm2 = nn.LayerNorm(width)
        self.norm3 = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.mlp = nn.Sequential(
            nn.Linear(width, width * 4), nn.GELU(), nn.Dropout(dropout), nn.Linear(width * 4, width)
        )

    def forward(self, x: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y)
        x = x + self.cross_attn(self.norm2(x), mem, mem)
        return x + self.dropout(self.mlp(self.norm3(x)))


class ContextDecoder(nn.Module):
    """``forward(prompts (B, K, D), visual (B, 1 + h*w, D)) -> (B, K, D)`` residual."""

    def __init__(self, arch: ClampArch) -> None:
        super().__init__()
        d, w = arch.embed_dim, arch.decoder_width
        self.memory_proj = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, w), nn.LayerNorm(w))
        self.text_proj = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, w))
        self.decoder = nn.ModuleList(
            DecoderLayer(w, arch.decoder_heads, arch.decoder_dropout)
            for _ in range(arch.decoder_layers)
        )
        self.out_proj = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, d))
        self.apply(_init_weights)

    def forward(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        mem = self.memory_proj(visual)
        x = self.text_proj(text)
        for layer in self.decoder:
            x = layer(x, mem)
        return self.out_proj(x)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
