"""SimpleBaseline deconvolution heatmap head (clamp-spec sections 3 and 5).

Parameter names equal mmpose's ``TopdownHeatmapSimpleHead`` (``deconv_layers.*``,
``final_layer.*``), so official ``keypoint_head.*`` and ``upconv_head.*`` weights load directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class HeatmapHead(nn.Module):
    """``forward(x (B, C_in, h, w)) -> (B, K, h * 2**n, w * 2**n)`` heatmaps.

    Each of the ``n = len(filters)`` stages is ConvTranspose2d(k4, s2, p1, no bias) -> BN -> ReLU;
    a final 1x1 convolution with bias maps to K channels.
    """

    def __init__(
        self, in_channels: int, filters: Sequence[int], out_channels: int, init: bool = True
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for f in filters:
            layers += [
                nn.ConvTranspose2d(c, f, 4, stride=2, padding=1, output_padding=0, bias=False),
                nn.BatchNorm2d(f),
                nn.ReLU(inplace=True),
            ]
            c = f
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(c, out_channels, 1)
        if init:
            self.init_weights()

    def init_weights(self) -> None:
        """mmpose's init: deconv and final conv N(0, 0.001), zero bias; BN 1/0."""
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d | nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.deconv_layers(x))
