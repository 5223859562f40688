"""Stage 2: the conditional encoder on the low-light image.

A taming encoder reads the log-domain low-light image. Its latent gives
``cond_feat`` (sigmoid of a 3x3 conv), which conditions every flow coupling, and
``color_map`` (a 3x3 conv), the mean of the flow's base Gaussian. Its per-level skip
features are what the Adaptive Mix-up Blocks mix into the fusion decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from glare_core.config import AutoencoderConfig, CondEncoderConfig
from glare_core.model.autoencoder import Encoder


@dataclass
class Condition:
    cond_feat: torch.Tensor  #: (B, cond_channels, h, w): conditions the flow couplings
    color_map: torch.Tensor  #: (B, z_channels, h, w): mean of the flow's base Gaussian
    skips: list[torch.Tensor]  #: encoder features per level, full resolution first


class CondEncoder(nn.Module):
    def __init__(self, cfg: CondEncoderConfig) -> None:
        super().__init__()
        auto: AutoencoderConfig = cfg.autoencoder
        self.encoder = Encoder(auto)
        self.cond_conv = nn.Sequential(
            nn.Conv2d(auto.z_channels, cfg.cond_channels, 3, padding=1), nn.Sigmoid()
        )
        self.color_conv = nn.Conv2d(auto.z_channels, auto.z_channels, 3, padding=1)

    def forward(self, low_light: torch.Tensor) -> Condition:
        latent, skips = self.encoder(low_light)
        return Condition(
            cond_feat=self.cond_conv(latent), color_map=self.color_conv(latent), skips=skips
        )
