"""Building blocks of the taming-transformers autoencoders that GLARE reuses.

Parameter names (``norm1``, ``conv1``, ``nin_shortcut``, ``q``/``k``/``v``...) are
taming's, so checkpoints of that family map onto these modules one to one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glare_core.model.global_stats import GlobalStatistics, StatsMode

NORM_EPS = 1e-6


def swish(x: torch.Tensor) -> torch.Tensor:
    """``x * sigmoid(x)`` in one fused pass (memory traffic dominates at full resolution)."""
    return F.silu(x)


class GroupNorm(nn.GroupNorm, GlobalStatistics):
    """GroupNorm whose per-group mean and variance can be shared between tiles."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__(groups, channels, eps=NORM_EPS, affine=True)
        self.init_statistics()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stats_mode is StatsMode.LIVE:
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        batch = x.shape[0]

        def group_statistics() -> torch.Tensor:
            # one pass, in float32 whatever x's dtype; reshaping a channels-last x copies
            # it, but this runs only while recording
            grouped = x.reshape(batch, self.num_groups, -1).float()
            return torch.stack(torch.var_mean(grouped, dim=2, unbiased=False, keepdim=True))

        var, mean = self.statistic("var_mean", group_statistics)
        # normalising and the affine map folded into one scale and shift per channel (in
        # float32, then x's dtype), so each tile costs one pass over x instead of four
        per_channel = self.num_channels // self.num_groups
        inv_std = torch.rsqrt(var + self.eps).repeat_interleave(per_channel, dim=1)
        scale = inv_std.view(batch, -1, 1, 1) * self.weight.view(1, -1, 1, 1).float()
        mean = mean.repeat_interleave(per_channel, dim=1).view(batch, -1, 1, 1)
        shift = self.bias.view(1, -1, 1, 1).float() - mean * scale
        return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))


class ResnetBlock(nn.Module):
    """Pre-activation residual block: (GroupNorm, swish, 3x3 conv) twice."""

    def __init__(self, in_channels: int, out_channels: int, norm_groups: int) -> None:
        super().__init__()
        self.norm1 = GroupNorm(in_channels, norm_groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = GroupNorm(out_channels, norm_groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        shortcut = x if self.nin_shortcut is None else self.nin_shortcut(x)
        return h.add_(shortcut)  # h is this block's own fresh tensor


class AttnBlock(nn.Module):
    """Single-head spatial self-attention over all positions (quadratic in pixels)."""

    def __init__(self, channels: int, norm_groups: int) -> None:
        super().__init__()
        self.norm = GroupNorm(channels, norm_groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        batch, channels, height, width = x.shape
        q = self.q(h).reshape(batch, 1, channels, height * width).transpose(2, 3)
        k = self.k(h).reshape(batch, 1, channels, height * width).transpose(2, 3)
        v = self.v(h).reshape(batch, 1, channels, height * width).transpose(2, 3)
        attended = F.scaled_dot_product_attention(q, k, v)
        attended = attended.transpose(2, 3).reshape(batch, channels, height, width)
        return x + self.proj_out(attended)


class Downsample(nn.Module):
    """Stride-2 3x3 convolution after padding one pixel right and bottom (taming)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling followed by a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
