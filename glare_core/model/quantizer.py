"""The codebook: nearest-neighbour vector quantization with a straight-through gradient."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Quantized:
    """Result of quantizing a latent map."""

    codes: torch.Tensor  #: (B, C, H, W) codebook vectors, straight-through to the input
    indices: torch.Tensor  #: (B, H, W) int64 codebook row of each position
    loss: torch.Tensor  #: codebook + beta * commitment loss (for stage-1 training)


class Codebook(nn.Module):
    """``size`` learned vectors of ``dim`` channels; each latent position takes its nearest."""

    def __init__(self, size: int, dim: int, commitment_beta: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(size, dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / size, 1.0 / size)
        self.commitment_beta = commitment_beta

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Indices (B, H, W) of the nearest codebook row (squared L2) at each position."""
        batch, channels, height, width = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, channels)
        table = self.embedding.weight
        # |z|^2 + |e|^2 - 2 z.e: one matrix product instead of a (N, K, C) difference
        distances = (
            flat.pow(2).sum(dim=1, keepdim=True) + table.pow(2).sum(dim=1) - 2.0 * flat @ table.t()
        )
        return distances.argmin(dim=1).reshape(batch, height, width)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codebook vectors (B, C, H, W) for indices (B, H, W)."""
        return self.embedding(indices).permute(0, 3, 1, 2)

    def forward(self, z: torch.Tensor) -> Quantized:
        indices = self.nearest(z)
        codes = self.lookup(indices)
        loss = torch.mean((codes - z.detach()) ** 2) + self.commitment_beta * torch.mean(
            (codes.detach() - z) ** 2
        )
        straight_through = z + (codes - z).detach()
        return Quantized(codes=straight_through, indices=indices, loss=loss)
