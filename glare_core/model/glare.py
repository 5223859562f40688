"""GLARE: the three stages assembled, with inference split into reusable steps.

Inference on a (padded, log-domain) low-light image ``x``:

1. ``condition = cond_encoder(x)``: flow conditioning, colour map, skip features.
2. ``latent = flow^-1(color_map + T * eps; cond_feat)`` with ``eps ~ N(0, I)``.
   T = 0 gives the official code's deterministic path; the official code ignores
   its temperature, ours samples the flow's base Gaussian for real.
3. ``vq_features = vqgan.decoder(codebook(latent))``: the generated normal-light
   features, retrieved from the codebook (a config may move each retrieved code part of
   the way back to the latent: :class:`~glare_core.config.RetrievalConfig`).
4. ``rgb = fusion_decoder(latent, vq_features, skips, strength)``.

A config may add a noisy-photo path (:class:`~glare_core.config.NoisyPathConfig`): a learned
denoiser that the engine runs on such photos before step 1, and a second fusion decoder,
trained behind it, for step 4 (``noisy=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from glare_core.config import GlareConfig
from glare_core.limits import TRAINED_STRENGTH
from glare_core.model.cond_encoder import CondEncoder, Condition
from glare_core.model.denoiser import Denoiser
from glare_core.model.flow import LatentFlow
from glare_core.model.fusion_decoder import FusionDecoder
from glare_core.model.precision import memory_format_for
from glare_core.model.vqgan import VQGAN


@dataclass
class Generated:
    """What stages 2 and the codebook produce for one latent sample."""

    latent: torch.Tensor  #: flow output before quantization (feeds the fusion decoder)
    indices: torch.Tensor  #: codebook rows chosen per latent position
    #: VQGAN decoder features of the retrieved codes (moved towards ``latent`` by the config)
    vq_features: list[torch.Tensor]


class NoisyPath(nn.Module):
    """What photos far noisier than the training pairs take instead of GLARE's own path."""

    def __init__(self, cfg: GlareConfig) -> None:
        super().__init__()
        self.denoiser = Denoiser(cfg.noisy_path.denoiser)
        self.fusion_decoder = FusionDecoder(cfg.fusion_decoder)


class GlareNet(nn.Module):
    def __init__(self, cfg: GlareConfig) -> None:
        super().__init__()
        self.config = cfg
        z_channels = cfg.vqgan.embed_dim
        self.vqgan = VQGAN(cfg.vqgan)
        self.cond_encoder = CondEncoder(cfg.cond_encoder)
        self.flow = LatentFlow(cfg.flow, z_channels, cfg.cond_encoder.cond_channels)
        self.fusion_decoder = FusionDecoder(cfg.fusion_decoder)
        self.noisy_path = NoisyPath(cfg) if cfg.noisy_path.enabled else None

    @property
    def fusion_decoders(self) -> tuple[FusionDecoder, ...]:
        decoders = (self.fusion_decoder,)
        return decoders if self.noisy_path is None else (*decoders, self.noisy_path.fusion_decoder)

    def fusion_decoder_for(self, noisy: bool) -> FusionDecoder:
        """The noisy-photo path's fusion decoder when ``noisy``, else GLARE's own."""
        if not noisy:
            return self.fusion_decoder
        if self.noisy_path is None:
            raise ValueError(f"the {self.config.name} network has no noisy-photo path")
        return self.noisy_path.fusion_decoder

    @property
    def decoder_parts(self) -> tuple[nn.Module, ...]:
        """What runs after codebook retrieval: free to run in reduced precision."""
        return (self.vqgan.post_quant_conv, self.vqgan.decoder, *self.fusion_decoders)

    def set_decoder_dtype(self, dtype: torch.dtype) -> None:
        """Run :attr:`decoder_parts` in ``dtype`` (reduced precision also in channels-last).

        The parts convert their inputs themselves; their output comes in ``dtype``.
        """
        for part in self.decoder_parts:
            part.to(dtype=dtype, memory_format=memory_format_for(dtype))

    @property
    def downscale(self) -> int:
        """Latent resolution is the image's divided by this."""
        return 2 ** (self.config.cond_encoder.autoencoder.num_levels - 1)

    def condition(self, low_light: torch.Tensor) -> Condition:
        return self.cond_encoder(low_light)

    def generate(
        self, condition: Condition, temperature: float = 0.0, noise: torch.Tensor | None = None
    ) -> Generated:
        """Sample the flow at ``temperature`` (``noise`` ~ N(0, I) shaped like the colour map)."""
        base = condition.color_map
        if temperature > 0:
            if noise is None:
                raise ValueError("a temperature above 0 needs a noise tensor")
            base = base + temperature * noise
        latent = self.flow.inverse(base, condition.cond_feat)
        indices = self.vqgan.quantize.nearest(latent)
        codes = self.vqgan.quantize.lookup(indices)
        vq_features = self.vqgan.decode_features(self.decoder_input(codes, latent))
        return Generated(latent=latent, indices=indices, vq_features=vq_features)

    def decoder_input(self, codes: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The retrieved ``codes`` moved the configured share of the way back to ``latent``."""
        share = self.config.retrieval.latent_share
        if share == 0:
            return codes  # the paper's retrieval, untouched (parity with the official code)
        return torch.lerp(codes, latent, share)

    def forward(
        self,
        low_light: torch.Tensor,
        strength: float = TRAINED_STRENGTH,
        temperature: float = 0.0,
        noise: torch.Tensor | None = None,
        noisy: bool = False,
    ) -> torch.Tensor:
        """``noisy``: decode with the noisy-photo path's fusion decoder (``low_light`` is then
        expected already through its denoiser)."""
        condition = self.condition(low_light)
        generated = self.generate(condition, temperature, noise)
        return self.fusion_decoder_for(noisy)(
            generated.latent, generated.vq_features, condition.skips, strength
        )
