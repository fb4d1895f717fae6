"""Text side of CLAMP: keypoint-name prompts with learnable contexts (CoOp-style prompts).

The keypoint names are the prompts: any keypoint list works. Each name is tokenised with the CLIP
BPE tokenizer into ``name_context`` tokens; ``n_contexts`` learnable context vectors (shared by all
names) are inserted after the start token, and the frozen CLIP text transformer encodes each
sequence. The embedding of the end token (shifted by the contexts) is projected into the joint
space.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..adapters.open_clip import LayerNorm, QuickGELU, Transformer, tokenize
from ..errors import ModelError
from .arch import ClampArch


def tokenize_names(names: Sequence[str], context: int) -> torch.Tensor:
    """Keypoint names -> (K, context) long token ids ([SOT, words..., EOT, 0...]).

    Uses the CLIP BPE tokenizer shipped with open_clip (no download). Raises
    :class:`ModelError` when a name needs more than ``context - 2`` BPE tokens (it would be
    truncated and lose its end token).
    """
    names = list(names)
    if not names:
        return torch.zeros((0, context), dtype=torch.long)
    full = tokenize(names)
    lengths = (full != 0).sum(dim=1)
    for name, n in zip(names, lengths.tolist(), strict=True):
        if n > context:
            raise ModelError(
                f"keypoint name {name!r} needs {n - 2} BPE tokens; at most {context - 2} fit "
                f"the {context}-token name prompt (use a shorter name)"
            )
    return full[:, :context].contiguous()


class PromptTextEncoder(nn.Module):
    """CLIP text transformer encoding names with learnable contexts (CLAMP's text_encoder).

    Parameter names equal the official ``text_encoder.*``. The weights are frozen by the model
    (``requires_grad=False``); gradients still flow through them to the contexts.
    """

    def __init__(self, arch: ClampArch) -> None:
        super().__init__()
        w = arch.text_width
        self.n_contexts = arch.n_contexts
        self.token_embedding = nn.Embedding(arch.vocab_size, w)
        self.positional_embedding = nn.Parameter(torch.empty(arch.text_context, w))
        self.transformer = Transformer(w, arch.text_layers, arch.text_heads, act_layer=QuickGELU)
        self.ln_final = LayerNorm(w)
        self.text_projection = nn.Parameter(torch.empty(w, arch.embed_dim))
        n = arch.text_context
        self.register_buffer(
            "attn_mask", torch.full((n, n), float("-inf")).triu_(1), persistent=False
        )
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=w**-0.5)

    def forward(self, tokens: torch.Tensor, contexts: torch.Tensor) -> torch.Tensor:
        """``tokens`` (K, name_context) long, ``contexts`` (1, n_contexts, W) -> (K, D)."""
        k = tokens.shape[0]
        emb = self.token_embedding(tokens)  # (K, n, W)
        ctx = contexts.to(emb.dtype).expand(k, -1, -1)
        x = torch.cat([emb[:, :1], ctx, emb[:, 1:]], dim=1)  # (K, 13, W)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.transformer(x, attn_mask=self.attn_mask)
        x = self.ln_final(x)
        eot = tokens.argmax(dim=-1) + self.n_contexts
        x = x[torch.arange(k, device=x.device), eot]
        return x @ self.text_projection


class PromptEncoder(nn.Module):
    """One CLIP residual attention block over the K prompts, no positional embedding, then LN."""

    def __init__(self, arch: ClampArch) -> None:
        super().__init__()
        self.transformer = Transformer(arch.embed_dim, 1, arch.prompt_heads, act_layer=QuickGELU)
        self.ln_final = LayerNorm(arch.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, D) -> (B, K, D)."""
        return self.ln_final(self.transformer(x))
