"""CLAMP training losses (the CLAMP paper, Zhang et al., CVPR 2023, section 3).

Total = heatmap MSE (weight 1) + spatial MSE on the upconv head (``spatial_loss_weight``) +
feature contrastive loss (``feature_loss_weight``, CL_ratio 5e-4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def joints_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mmpose JointsMSELoss with target weights: (1/K) sum_k mean((w*pred - w*target)^2).

    ``pred``/``target`` (B, K, H, W); ``weight`` (B, K) or (B, K, 1). No 1/2 factor.
    """
    w = weight.reshape(weight.shape[0], weight.shape[1], 1, 1).to(pred.dtype)
    return ((pred * w - target * w) ** 2).mean(dim=(0, 2, 3)).mean()


def keypoint_features(visual: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """V (B, D, h, w) and peak-cell mask (B, K, h, w) -> f (B, K, D) (zero where no peak)."""
    return torch.einsum("bkhw,bchw->bkc", mask.to(visual.dtype), visual)


def feature_loss(
    visual: torch.Tensor,
    prompts: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    logit_scale: torch.Tensor,
) -> torch.Tensor:
    """Symmetric InfoNCE between keypoint features and prompts (CLAMP paper, section 3.3).

    ``visual`` V (B, D, h, w); ``prompts`` P (B, K, D); ``mask`` (B, K, h, w) down-target peak
    cells; ``weight`` (B, K) down-target weights. Means run over all B*K entries (zero-weighted
    included) and invisible keypoints stay in the softmax denominators, as in the official code.
    Returns the unweighted loss (multiply by CL_ratio).
    """
    f = F.normalize(keypoint_features(visual, mask).float(), dim=-1)
    p = F.normalize(prompts.float(), dim=-1)
    logits = logit_scale.float().exp() * torch.einsum("bid,bjd->bij", f, p)  # (B, K, K)
    k = logits.shape[1]
    labels = torch.arange(k, device=logits.device).expand(logits.shape[0], k)
    w = weight.reshape(weight.shape[0], k).float()
    # softmax over the visual index i for each text j, and over the text index j for each i
    loss_a = F.cross_entropy(logits, labels, reduction="none")  # softmax over dim 1
    loss_b = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
    return 0.5 * ((w * loss_a).mean() + (w * loss_b).mean())


def clamp_losses(
    model: torch.nn.Module,
    images: torch.Tensor,
    target: torch.Tensor,
    target_weight: torch.Tensor,
    down_mask: torch.Tensor,
    down_weight: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """One training forward: the three weighted loss terms and their sum under ``"loss"``.

    ``images`` (B, 3, H, W); ``target`` (B, K, Hm, Wm); ``target_weight`` (B, K[, 1]);
    ``down_mask`` (B, K, h, w) peak cells of the down-sampled target; ``down_weight`` (B, K[, 1]).
    """
    arch = model.arch
    out = model.forward_features(images)
    mse = joints_mse(out.heatmaps, target, target_weight)
    spatial = arch.spatial_loss_weight * joints_mse(
        model.upconv_head(out.score_map), target, target_weight
    )
    feat = arch.feature_loss_weight * feature_loss(
        out.visual, out.prompts, down_mask, down_weight, model.logit_scale
    )
    return {
        "loss": mse + spatial + feat,
        "mse_loss": mse,
        "spatial_loss": spatial,
        "feature_loss": feat,
    }
