"""Stage 3: the multi-scale fusion decoder (Adaptive Feature Transformation).

It decodes the *unquantized* flow latent with the VQGAN decoder's layout. At every
level but the coarsest it (1) mixes in the conditional encoder's skip feature with
an AMB, (2) aligns the VQGAN decoder's feature of the *retrieved* codes to it with
a modulated deformable convolution (the warp), and (3) adds the warped feature,
rescaled so its image-wide mean matches the decoder's:
``h + x_vq * mean(h) / mean(x_vq)``.

For interactive use the decoder is split where the controls start to matter:
:meth:`FusionDecoder.head` (everything before the first AMB) depends only on the
latent; :meth:`FusionDecoder.tail` depends on the strength.
"""

from __future__ import annotations

import torch
from torch import nn

from glare_core.config import FusionDecoderConfig
from glare_core.limits import TRAINED_STRENGTH
from glare_core.model.amb import AdaptiveMixUp
from glare_core.model.autoencoder import MidBlock, build_decoder_levels
from glare_core.model.blocks import GroupNorm, swish
from glare_core.model.deform_conv import ModulatedDeformConv2d
from glare_core.model.global_stats import GlobalStatistics
from glare_core.model.precision import as_format_of

WARP_KERNEL = 3


class WarpBlock(nn.Module, GlobalStatistics):
    """Deformably aligns a VQGAN decoder feature to the current decoder feature."""

    def __init__(self, channels: int, deformable_groups: int) -> None:
        super().__init__()
        self.init_statistics()
        self.offset = nn.Conv2d(2 * channels, channels, WARP_KERNEL, padding=WARP_KERNEL // 2)
        self.dcn = ModulatedDeformConv2d(channels, WARP_KERNEL, deformable_groups)

    def forward(self, h: torch.Tensor, vq_feature: torch.Tensor) -> torch.Tensor:
        """The fused feature ``h + warped * mean(h) / mean(warped)`` (means image-wide)."""
        guide = self.offset(torch.cat([vq_feature, h], dim=1))
        warped = self.dcn(vq_feature, guide)
        # accumulated and kept in float32 whatever the decoder's dtype: a mean over a whole
        # image needs more than bfloat16's three digits
        h_mean = self.statistic("h_mean", lambda: h.mean(dtype=torch.float32))
        warped_mean = self.statistic("warped_mean", lambda: warped.mean(dtype=torch.float32))
        return torch.addcmul(h, warped, h_mean / warped_mean)


class FusionDecoder(nn.Module):
    def __init__(self, cfg: FusionDecoderConfig) -> None:
        super().__init__()
        auto = cfg.autoencoder
        fused_levels = list(reversed(range(auto.num_levels - 1)))  # coarse to fine
        if len(cfg.amb_init) != len(fused_levels):
            raise ValueError("one AMB initial weight per fused level is needed")
        coarsest = auto.level_channels(auto.num_levels - 1)
        self.conv_in = nn.Conv2d(auto.z_channels, coarsest, 3, padding=1)
        self.mid = MidBlock(auto, coarsest)
        self.up = build_decoder_levels(auto)
        self.warp = nn.ModuleList(
            WarpBlock(auto.level_channels(level), cfg.deformable_groups) for level in fused_levels
        )
        self.mix = nn.ModuleList(AdaptiveMixUp(weight) for weight in cfg.amb_init)
        self.norm_out = GroupNorm(auto.level_channels(0), auto.norm_groups)
        self.residual_conv = nn.Conv2d(auto.level_channels(0), 3, 3, padding=1)

    @property
    def fused_levels(self) -> int:
        return len(self.mix)

    def head(self, z: torch.Tensor) -> torch.Tensor:
        """Everything before the first AMB: depends on the latent only."""
        h = self.mid(self.conv_in(as_format_of(z, self.conv_in.weight)))
        coarsest = len(self.up) - 1
        h = self.up[coarsest].upsample(self.up[coarsest](h))
        return self.up[coarsest - 1](h)

    def tail(
        self,
        h: torch.Tensor,
        vq_features: list[torch.Tensor],
        skips: list[torch.Tensor],
        strength: float = TRAINED_STRENGTH,
    ) -> torch.Tensor:
        """From the first AMB to RGB. ``vq_features`` coarse to fine, ``skips`` fine first."""
        own = self.residual_conv.weight
        h = as_format_of(h, own)
        vq_features = [as_format_of(feature, own) for feature in vq_features]
        skips = [as_format_of(skip, own) for skip in skips]
        for index in range(self.fused_levels):
            level = self.fused_levels - 1 - index
            if index > 0:
                h = self.up[level](self.up[level + 1].upsample(h))
            h = self.mix[index](skips[level], h, strength)
            h = self.warp[index](h, vq_features[index])
        return self.residual_conv(swish(self.norm_out(h)))

    def forward(
        self,
        z: torch.Tensor,
        vq_features: list[torch.Tensor],
        skips: list[torch.Tensor],
        strength: float = TRAINED_STRENGTH,
    ) -> torch.Tensor:
        return self.tail(self.head(z), vq_features, skips, strength)
