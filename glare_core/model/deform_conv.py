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

from glare_core.progress import check_running


def _normalized_positions(size: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel centres 0..size-1 in grid_sample's align_corners=False coordinates: (2i+1)/size-1."""
    positions = torch.arange(size, dtype=like.dtype, device=like.device)
    return (2 * positions + 1) / size - 1


def _tap_grid(
    offset: torch.Tensor,
    row: int,
    col: int,
    padding: int,
    base_y: torch.Tensor,
    base_x: torch.Tensor,
) -> torch.Tensor:
    """The grid_sample grid ``(B, G, H, W, 2)`` of tap ``(row, col)``, holding ``(x, y)``.

    ``offset`` is this tap's ``(B, G, 2, H, W)`` in pixels, ``(dy, dx)``. The tap of output
    pixel ``(y, x)`` reads input position ``(y - padding + row + dy, ...)``; in normalised
    coordinates that is the pixel's own position plus ``(row - padding + dy) * 2 / size``,
    so a grid costs one multiply-add per coordinate. One tap at a time keeps the grids'
    memory at a ninth of computing them all at once.
    """
    height, width = offset.shape[-2:]
    grid_y = (base_y + 2 * (row - padding) / height) + offset[:, :, 0] * (2 / height)
    grid_x = (base_x + 2 * (col - padding) / width) + offset[:, :, 1] * (2 / width)
    return torch.stack(torch.broadcast_tensors(grid_x, grid_y), dim=-1)


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
    # per-tap planes must be contiguous: a channels-last mask or offset makes every
    # tap's slice a strided gather (measured 6x slower); the result keeps x's layout.
    # Sampling runs in float32 whatever x's dtype: grid_sample on bfloat16 crashes on
    # CPU (segmentation fault in torch 2.13), and the grids (positions plus offsets, see
    # _tap_grid) come out float32 as the positions are, since bfloat16 cannot tell
    # neighbouring pixels of a wide image apart. Offsets and mask keep their dtype.
    layout, dtype = _memory_format(x), x.dtype
    compute = torch.promote_types(dtype, torch.float32)  # float64 stays float64
    x = x.to(compute).contiguous()
    offset, mask = offset.contiguous(), mask.contiguous()
    weight = weight.to(compute)
    bias = None if bias is None else bias.to(compute)
    batch, channels, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight.shape
    taps = kernel_h * kernel_w
    groups = deformable_groups
    out_h = height + 2 * padding - kernel_h + 1
    out_w = width + 2 * padding - kernel_w + 1
    if (out_h, out_w) != (height, width):
        raise ValueError("only size-preserving padding is supported")
    grouped_x = x.reshape(batch * groups, channels // groups, height, width)
    offset = offset.reshape(batch, groups, taps, 2, out_h, out_w)
    base_y = _normalized_positions(out_h, x).view(out_h, 1)
    base_x = _normalized_positions(out_w, x).view(1, out_w)
    mask = mask.reshape(batch, groups, 1, taps, out_h, out_w)
    if bias is None:
        out = x.new_zeros(batch, out_channels, out_h * out_w)
    else:
        out = bias.view(1, -1, 1).expand(batch, out_channels, out_h * out_w).clone()
    for tap in range(taps):
        check_running()  # a tap takes a tenth of a second at the working size on a CPU
        row, col = divmod(tap, kernel_w)
        sampled = F.grid_sample(
            grouped_x,
            _tap_grid(offset[:, :, tap], row, col, padding, base_y, base_x).reshape(
                batch * groups, out_h, out_w, 2
            ),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        ).view(batch, groups, channels // groups, out_h, out_w)
        modulated = (sampled * mask[:, :, :, tap]).view(batch, channels, out_h * out_w)
        # accumulate in place: one pass over the output per tap instead of three
        out.baddbmm_(weight[:, :, row, col].expand(batch, -1, -1), modulated)
    return out.view(batch, out_channels, out_h, out_w).to(dtype, memory_format=layout)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


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
