"""Architecture descriptions of CLAMP models (data, not code).

One frozen :class:`ClampArch` per model size. The three paper sizes are those of the CLAMP paper
(Zhang et al., CVPR 2023) and its official configs (github.com/xuzhang1199/CLAMP); ``tiny`` and
``tiny-vit`` use the same modules with small widths (random init) for tests, benchmarks and CPU
training. :data:`ARCHS` is the one table of names to architectures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from ..errors import ModelError


@dataclass(frozen=True)
class ClampArch:
    """Hyper-parameters that fix every tensor shape of a CLAMP model (keypoint count aside).

    Sizes are in channels or tokens; ``image_size`` is the square crop side in px.
    """

    name: str
    backbone: Literal["resnet", "vit"]
    image_size: int
    embed_dim: int  # D: joint text/visual embedding width
    clip_model: str | None = None  # open_clip model name whose weights initialise training
    # ResNet backbone (CLIP "modified ResNet")
    resnet_layers: tuple[int, int, int, int] = (3, 4, 6, 3)
    resnet_width: int = 64
    attnpool_heads: int = 32
    # ViT backbone
    patch_size: int = 16
    vit_width: int = 768
    vit_layers: int = 12
    vit_heads: int = 12
    out_indices: tuple[int, ...] = (3, 5, 7, 11)
    drop_path_rate: float = 0.0
    # text side
    text_width: int = 512
    text_heads: int = 8
    text_layers: int = 12
    vocab_size: int = 49408
    name_context: int = 5  # tokens per keypoint name incl. SOT/EOT
    n_contexts: int = 8  # learnable context tokens shared by all keypoints
    prompt_heads: int = 8
    # context decoder (DenseCLIP)
    decoder_width: int = 256
    decoder_heads: int = 4
    decoder_layers: int = 3
    decoder_dropout: float = 0.1
    gamma_init: float = 1e-3
    # heads
    head_filters: tuple[int, ...] = (256, 256, 256)
    upconv_filters: tuple[int, ...] | None = (256, 256, 256)  # None: K filters per deconv
    # losses
    spatial_loss_weight: float = 0.4
    feature_loss_weight: float = 0.0005

    @property
    def stride(self) -> int:
        """Backbone output stride in input px (32 for ResNet, the patch size for ViT)."""
        return 32 if self.backbone == "resnet" else self.patch_size

    @property
    def grid_size(self) -> int:
        """Side of the H x W token grid of the last stage at ``image_size``."""
        return self.image_size // self.stride

    @property
    def heatmap_size(self) -> int:
        """Side of the output heatmaps: the grid doubled once per deconvolution."""
        return self.grid_size * 2 ** len(self.head_filters)

    @property
    def visual_channels(self) -> int:
        """Channels of x[3], the map the keypoint head reads (before the score maps)."""
        return self.resnet_width * 32 if self.backbone == "resnet" else self.vit_width

    @property
    def text_context(self) -> int:
        """Length of each prompt sequence: name tokens plus learnable contexts (13)."""
        return self.name_context + self.n_contexts

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClampArch:
        known = {f.name for f in fields(cls)}
        # Format-1 checkpoints may carry an always-empty "extra" entry; it holds nothing.
        d = {k: v for k, v in d.items() if not (k == "extra" and not v)}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"unknown architecture keys {sorted(unknown)}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kw)


_RN50 = ClampArch(
    name="rn50",
    backbone="resnet",
    image_size=256,
    embed_dim=1024,
    clip_model="RN50-quickgelu",
    resnet_layers=(3, 4, 6, 3),
    resnet_width=64,
    attnpool_heads=32,
    text_width=512,
    text_heads=8,
    head_filters=(256, 256, 256),
    upconv_filters=(256, 256, 256),
    spatial_loss_weight=0.4,
)

_VITB16 = ClampArch(
    name="vitb16",
    backbone="vit",
    image_size=256,
    embed_dim=512,
    clip_model="ViT-B-16-quickgelu",
    patch_size=16,
    vit_width=768,
    vit_layers=12,
    vit_heads=12,
    out_indices=(3, 5, 7, 11),
    drop_path_rate=0.4,
    text_width=512,
    text_heads=8,
    head_filters=(256, 256),
    upconv_filters=None,
    spatial_loss_weight=2.0,
)

_VITL14 = ClampArch(
    name="vitl14",
    backbone="vit",
    image_size=224,
    embed_dim=768,
    clip_model="ViT-L-14-quickgelu",
    patch_size=14,
    vit_width=1024,
    vit_layers=24,
    vit_heads=16,
    out_indices=(7, 11, 15, 23),
    drop_path_rate=0.4,
    text_width=768,
    # The official ViT-L text encoder runs CLIP's 12-head weights with 8 heads (its config sets
    # 8 where CLIP ViT-L/14 has 12); the official checkpoint needs 8. Set text_heads=12 for
    # CLIP's own attention.
    text_heads=8,
    head_filters=(256, 256),
    upconv_filters=None,
    spatial_loss_weight=1.0,
)

_TINY = ClampArch(
    name="tiny",
    backbone="resnet",
    image_size=128,
    embed_dim=64,
    resnet_layers=(1, 1, 1, 1),
    resnet_width=16,
    attnpool_heads=4,
    text_width=64,
    text_heads=4,
    text_layers=2,
    prompt_heads=4,
    decoder_width=64,
    decoder_heads=2,
    decoder_layers=1,
    head_filters=(64, 64, 64),
    upconv_filters=(32, 32, 32),
    spatial_loss_weight=0.4,
)

_TINY_VIT = ClampArch(
    name="tiny-vit",
    backbone="vit",
    image_size=64,
    embed_dim=32,
    patch_size=8,
    vit_width=64,
    vit_layers=4,
    vit_heads=2,
    out_indices=(0, 1, 2, 3),
    drop_path_rate=0.1,
    text_width=64,
    text_heads=4,
    text_layers=2,
    prompt_heads=4,
    decoder_width=64,
    decoder_heads=2,
    decoder_layers=1,
    head_filters=(32, 32),
    upconv_filters=None,
    spatial_loss_weight=2.0,
)

ARCHS: dict[str, ClampArch] = {a.name: a for a in (_RN50, _VITB16, _VITL14, _TINY, _TINY_VIT)}


def get_arch(name: str) -> ClampArch:
    """Look up an architecture: ``rn50``, ``vitb16``, ``vitl14``, ``tiny`` or ``tiny-vit``."""
    try:
        return ARCHS[name]
    except KeyError:
        raise ModelError(f"unknown architecture {name!r}; known: {', '.join(ARCHS)}") from None
