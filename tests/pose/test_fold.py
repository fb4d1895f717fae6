"""BatchNorm folding: the folded network computes what the unfolded one does."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wildpose.keypoints import AP10K
from wildpose.pose.fold import fold_batchnorm
from wildpose.pose.model import build_clamp
from wildpose.pose.predictor import PosePredictor


def _model(arch: str) -> nn.Module:
    """A random model whose BatchNorms hold non-trivial statistics and affine parameters."""
    torch.manual_seed(0)
    model = build_clamp(arch, AP10K.keypoints)
    for bn in model.modules():
        if isinstance(bn, nn.BatchNorm2d):
            c = bn.num_features
            bn.running_mean.normal_(0, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.normal_(0, 0.2)
            assert bn.running_mean.shape == (c,)
    return model.eval()


@pytest.mark.parametrize("arch", ["tiny", "tiny-vit"])
def test_folded_model_gives_the_same_heatmaps(arch):
    model = _model(arch)
    size = model.arch.image_size
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        want = model(x)
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert fold_batchnorm(model) == bns > 0  # every BatchNorm of the network follows a conv
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        got = model(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


def test_folding_needs_eval_mode():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(_model("tiny").train())


def test_predictor_folds_when_asked():
    plain = PosePredictor(_model("tiny"), device="cpu", precision="fp32", flip_test=False)
    folded = PosePredictor(_model("tiny"), device="cpu", precision="fp32", flip_test=False,
                           fold_batchnorm=True)  # fmt: skip
    assert plain.folded == 0 and folded.folded > 0
    crops = torch.rand(2, 3, 128, 128)  # random weights: compare heatmaps, not their argmax
    want, got = plain.heatmaps(crops), folded.heatmaps(crops)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
