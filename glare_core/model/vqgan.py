"""Stage 1: the VQGAN learned on normal-light images.

Encoder -> 1x1 ``quant_conv`` -> codebook -> 1x1 ``post_quant_conv`` -> decoder.
GLARE's later stages never use this encoder: the flow produces the latent from the
low-light image, and only the codebook and the decoder turn it back into features.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from glare_core.config import VQGANConfig
from glare_core.model.autoencoder import Decoder, Encoder
from glare_core.model.precision import as_format_of
from glare_core.model.quantizer import Codebook, Quantized


@dataclass
class VQGANOutput:
    reconstruction: torch.Tensor
    quantized: Quantized


class VQGAN(nn.Module):
    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        z_channels = cfg.autoencoder.z_channels
        self.encoder = Encoder(cfg.autoencoder)
        self.quant_conv = nn.Conv2d(z_channels, cfg.embed_dim, 1)
        self.quantize = Codebook(cfg.codebook_size, cfg.embed_dim, cfg.commitment_beta)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, z_channels, 1)
        self.decoder = Decoder(cfg.autoencoder)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Normal-light image in [0, 1] -> unquantized latent (what the flow models)."""
        latent, _ = self.encoder(image)
        return self.quant_conv(latent)

    def decode_features(self, quantized: torch.Tensor) -> list[torch.Tensor]:
        """Decoder features of every level but the coarsest, coarse to fine."""
        quantized = as_format_of(quantized, self.post_quant_conv.weight)
        _, fused_levels = self.decoder.features(self.post_quant_conv(quantized))
        return fused_levels

    def forward(self, image: torch.Tensor) -> VQGANOutput:
        quantized = self.quantize(self.encode(image))
        reconstruction, _ = self.decoder(self.post_quant_conv(quantized.codes))
        return VQGANOutput(reconstruction=reconstruction, quantized=quantized)
