"""Modulated deformable convolution (DCNv2) in plain PyTorch.

Each of the k*k kernel taps of every output pixel samples its input at a learned
fractional offset, bilinearly, and is weighted by a learned mask in [0, 1]. This
reproduces the CUDA kernel GLARE ships (basicsr/mmcv layout): offsets hold, per
deformable group, ``(dy, dx)`` pairs tap by tap; samples outside the image read
zero. It runs anywhere PyTorch runs: one ``grid_sample`` and one matrix product per
tap, so memory stays at one sampled copy of the input rather than k*k.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _base_grid(height: int, width: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(height, dtype=like.dtype, device=like.device).view(1, 1, height, 1)
    xs = torch.arange(width, dtype=like.dtype, device=like.device).view(1, 1, 1, width)
    return ys, xs


def modulated_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    padding: int,
    deformable_groups: int,
) -> torch.Tensor:
    """Stride-1, dilation-1 modulated deformable convolution.

    Shapes: ``x`` (B, C, H, W); ``offset`` (B, 2*G*K, H, W) with K = kh*kw;
    ``mask`` (B, G*K, H, W); ``weight`` (O, C, kh, kw). Output (B, O, H, W) when
    ``padding`` keeps the size (the only case GLARE uses).
    """
    batch, channels, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    taps = kernel_h * kernel_w
    groups = deformable_groups
    out_h = height + 2 * padding - kernel_h + 1
    out_w = width + 2 * padding - kernel_w + 1
    grouped_x = x.reshape(batch * groups, channels // groups, height, width)
    offset = offset.reshape(batch, groups, taps, 2, out_h, out_w)
    mask = mask.reshape(batch, groups, taps, out_h, out_w)
    ys, xs = _base_grid(out_h, out_w, x)
    out = x.new_zeros(batch, out_channels, out_h * out_w)
    for tap in range(taps):
        row, col = divmod(tap, kernel_w)
        sample_y = ys - padding + row + offset[:, :, tap, 0]
        sample_x = xs - padding + col + offset[:, :, tap, 1]
        # grid_sample's align_corners=False convention: pixel i sits at (2i + 1) / size - 1
        grid = torch.stack(
            ((2 * sample_x + 1) / width - 1, (2 * sample_y + 1) / height - 1), dim=-1
        ).reshape(batch * groups, out_h, out_w, 2)
        sampled = F.grid_sample(
            grouped_x, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        sampled = sampled.reshape(batch, groups, channels // groups, out_h, out_w)
        sampled = (sampled * mask[:, :, tap, None]).reshape(batch, channels, out_h * out_w)
        out = out + torch.matmul(weight[:, :, row, col], sampled)
    out = out.reshape(batch, out_channels, out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 whose offsets and masks come from a separate guide feature (``conv_offset``).

    ``forward(x, guide)``: ``conv_offset(guide)`` gives, in thirds, the dy/dx halves
    of the offsets and the mask logits.
    """

    def __init__(self, channels: int, kernel_size: int, deformable_groups: int) -> None:
        super().__init__()
        self.padding = kernel_size // 2
        self.deformable_groups = deformable_groups
        self.weight = nn.Parameter(torch.empty(channels, channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels))
        bound = 1.0 / (channels * kernel_size * kernel_size) ** 0.5
        nn.init.uniform_(self.weight, -bound, bound)
        offset_channels = deformable_groups * 3 * kernel_size * kernel_size
        self.conv_offset = nn.Conv2d(channels, offset_channels, kernel_size, padding=self.padding)
        # zero offsets and mask logits: starts as a plain convolution at half gain
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        first, second, mask_logits = torch.chunk(self.conv_offset(guide), 3, dim=1)
        offset = torch.cat((first, second), dim=1)
        return modulated_deform_conv2d(
            x,
            offset,
            torch.sigmoid(mask_logits),
            self.weight,
            self.bias,
            self.padding,
            self.deformable_groups,
        )
