"""The learned denoiser of the noisy-photo path (not in the paper).

GLARE learns to remove the noise of its training pairs. A capture a few stops darker, once
brought into the trained exposure range, holds many times that noise, and the network reads
what it cannot remove as texture. This small residual U-Net takes such an input back to the
same picture without its noise, before the network sees it (``glare train denoiser``); a
second fusion decoder learns behind it (``glare train noisy_fusion``; see
:class:`~glare_core.config.NoisyPathConfig`).

The image is pixel-unshuffled first (2x2 pixels become 12 channels), so the widest layers run
at half resolution, and the network predicts a correction added to its input: with the last
convolution at zero, as it starts, it is the identity. No normalisation layers: its answer
for a pixel depends on its neighbourhood only, so it can run in tiles.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from glare_core.config import DenoiserConfig

#: the image is pixel-unshuffled by this factor before the first layer
UNSHUFFLE = 2
RGB_CHANNELS = 3


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a leaky ReLU between them, added to the input."""

    def __init__(self, channels: int, slope: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), self.slope))


class Denoiser(nn.Module):
    """``Bx3xHxW`` image in [0, 1] -> the same image without its noise (not clamped)."""

    def __init__(self, cfg: DenoiserConfig) -> None:
        super().__init__()
        widths = cfg.widths
        # (wider, deeper) channels of each step down and back up
        steps = list(itertools.pairwise(widths))
        unshuffled = RGB_CHANNELS * UNSHUFFLE**2
        self.slope = cfg.leaky_slope
        self.entry = nn.Conv2d(unshuffled, widths[0], 3, padding=1)
        self.encoder = nn.ModuleList(ResidualBlock(w, cfg.leaky_slope) for w in widths[:-1])
        self.down = nn.ModuleList(nn.Conv2d(wide, deep, 2, stride=2) for wide, deep in steps)
        self.middle = nn.Sequential(
            *(ResidualBlock(widths[-1], cfg.leaky_slope) for _ in range(cfg.middle_blocks))
        )
        self.up = nn.ModuleList(nn.ConvTranspose2d(deep, wide, 2, stride=2) for wide, deep in steps)
        self.decoder = nn.ModuleList(ResidualBlock(w, cfg.leaky_slope) for w in widths[:-1])
        self.exit = nn.Conv2d(widths[0], unshuffled, 3, padding=1)
        # the correction starts at zero: an untrained denoiser passes its input through
        nn.init.zeros_(self.exit.weight)
        nn.init.zeros_(self.exit.bias)

    @property
    def size_multiple(self) -> int:
        """Inputs are padded to a multiple of this many pixels."""
        return UNSHUFFLE * 2 ** len(self.down)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        multiple = self.size_multiple
        padded = F.pad(image, (0, -width % multiple, 0, -height % multiple), mode="replicate")
        h = self._activate(self.entry(F.pixel_unshuffle(padded, UNSHUFFLE)))
        skips = []
        for block, down in zip(self.encoder, self.down, strict=True):
            h = block(h)
            skips.append(h)
            h = self._activate(down(h))
        h = self.middle(h)
        for up, block, skip in zip(
            reversed(self.up), reversed(self.decoder), reversed(skips), strict=True
        ):
            h = block(up(h) + skip)
        correction = F.pixel_shuffle(self.exit(h), UNSHUFFLE)
        return (padded + correction)[..., :height, :width]

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.slope)
