"""The taming-style convolutional encoder and decoder shared by GLARE's parts.

The VQGAN (stage 1) uses both; the conditional encoder (stage 2) reuses
:class:`Encoder`; the fusion decoder (stage 3) has the decoder's layout plus fusion.
Both expose their per-level features, which GLARE passes between networks.
"""

from __future__ import annotations

import torch
from torch import nn

from glare_core.config import AutoencoderConfig
from glare_core.model.blocks import (
    AttnBlock,
    Downsample,
    GroupNorm,
    ResnetBlock,
    Upsample,
    swish,
)


class MidBlock(nn.Module):
    """Residual block, optional attention, residual block: the bottleneck."""

    def __init__(self, cfg: AutoencoderConfig, channels: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, cfg.norm_groups)
        self.attn_1 = AttnBlock(channels, cfg.norm_groups) if cfg.mid_attention else nn.Identity()
        self.block_2 = ResnetBlock(channels, channels, cfg.norm_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class ResolutionLevel(nn.Module):
    """The residual blocks of one resolution (with attention where configured).

    The encoder gives a level a ``downsample`` after it, the decoder an ``upsample``.
    """

    def __init__(
        self, cfg: AutoencoderConfig, level: int, in_channels: int, num_blocks: int
    ) -> None:
        super().__init__()
        out_channels = cfg.level_channels(level)
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()
        for index in range(num_blocks):
            block_in = in_channels if index == 0 else out_channels
            self.block.append(ResnetBlock(block_in, out_channels, cfg.norm_groups))
            if cfg.has_attention(level):
                self.attn.append(AttnBlock(out_channels, cfg.norm_groups))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for index, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[index](h)
        return h


class Encoder(nn.Module):
    """Image -> latent at 1/2^(levels-1) resolution, plus the skip feature of each level.

    ``forward`` returns ``(latent, skips)`` where ``skips[level]`` is the feature just
    before that level's downsampling (full resolution first).
    """

    def __init__(self, cfg: AutoencoderConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, cfg.channels, 3, padding=1)
        self.down = nn.ModuleList()
        channels = cfg.channels
        for level in range(cfg.num_levels):
            resolution = ResolutionLevel(cfg, level, channels, cfg.num_res_blocks)
            channels = cfg.level_channels(level)
            if level != cfg.num_levels - 1:
                resolution.downsample = Downsample(channels)
            self.down.append(resolution)
        self.mid = MidBlock(cfg, channels)
        self.norm_out = GroupNorm(channels, cfg.norm_groups)
        self.conv_out = nn.Conv2d(channels, cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.conv_in(x)
        skips = []
        for level in self.down:
            h = level(h)
            if hasattr(level, "downsample"):
                skips.append(h)
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(swish(self.norm_out(h))), skips


def build_decoder_levels(cfg: AutoencoderConfig) -> nn.ModuleList:
    """Decoder levels indexed by resolution (0 = full), built coarsest first as in taming."""
    levels: list[nn.Module] = [nn.Identity()] * cfg.num_levels
    channels = cfg.level_channels(cfg.num_levels - 1)
    for level in reversed(range(cfg.num_levels)):
        levels[level] = ResolutionLevel(cfg, level, channels, cfg.num_res_blocks + 1)
        channels = cfg.level_channels(level)
        if level != 0:
            levels[level].upsample = Upsample(channels)
    return nn.ModuleList(levels)


class Decoder(nn.Module):
    """Latent -> RGB, also returning the features of every level but the coarsest.

    ``forward`` returns ``(rgb, features)`` with ``features`` ordered coarse to fine:
    these are what the fusion decoder's deformable warps align and fuse.
    """

    def __init__(self, cfg: AutoencoderConfig, out_channels: int = 3) -> None:
        super().__init__()
        coarsest = cfg.level_channels(cfg.num_levels - 1)
        self.conv_in = nn.Conv2d(cfg.z_channels, coarsest, 3, padding=1)
        self.mid = MidBlock(cfg, coarsest)
        self.up = build_decoder_levels(cfg)
        self.norm_out = GroupNorm(cfg.level_channels(0), cfg.norm_groups)
        self.conv_out = nn.Conv2d(cfg.level_channels(0), out_channels, 3, padding=1)

    def features(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the levels; returns the full-resolution feature and the fused-level features."""
        h = self.mid(self.conv_in(z))
        fused_levels = []
        for level in reversed(range(len(self.up))):
            h = self.up[level](h)
            if level != len(self.up) - 1:
                fused_levels.append(h)
            if level != 0:
                h = self.up[level].upsample(h)
        return h, fused_levels

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, fused_levels = self.features(z)
        return self.conv_out(swish(self.norm_out(h))), fused_levels
