"""Whitening a trained VQGAN's latent, to bring back a latent axis its codebook lost.

A small VQGAN can settle with every code on a plane of its three-channel latent. The codes
never vary along the third axis, so the decoder never learns to read it, and ``quant_conv``
learns to squash it: round 1's VQGAN kept lightness and a blue-orange axis and lost red
against green (MODEL_CARD.md). Fine-tuning alone cannot leave that state, because a latent
off the plane is quantized back onto it.

:func:`whiten_latent` re-fits ``quant_conv`` so that the latent of real images has unit
variance along every principal axis, and ``post_quant_conv`` so that the decoder still sees
what it saw: the unquantized network's output does not change. A codebook re-seeded from
that latent then spans all three axes, and fine-tuning teaches the decoder to read the third.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from glare_core.model.vqgan import VQGAN

log = logging.getLogger(__name__)

#: variance floor of a principal axis, so that a dead axis is not blown up to noise
MIN_AXIS_VARIANCE = 1e-6


def _set_conv(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> None:
    conv.weight.copy_(weight.to(conv.weight.dtype)[:, :, None, None])
    conv.bias.copy_(bias.to(conv.bias.dtype))


@torch.no_grad()
def whiten_latent(vqgan: VQGAN, images: torch.Tensor) -> torch.Tensor:
    """Re-fit ``vqgan``'s 1x1 convs around the codebook on ``images`` (normal-light, in [0, 1]).

    Returns the latent's standard deviations along its principal axes before whitening.
    """
    features, _ = vqgan.encoder(images)
    channels = features.shape[1]
    if vqgan.quant_conv.out_channels != channels:
        raise ValueError("whitening needs a latent as wide as the encoder's output")
    samples = features.permute(0, 2, 3, 1).reshape(-1, channels).double()
    mean = samples.mean(dim=0)
    variances, axes = torch.linalg.eigh(torch.cov(samples.T))
    spread = variances.clamp_min(MIN_AXIS_VARIANCE).sqrt()
    to_white = (axes / spread).T
    from_white = axes * spread

    old_quant_weight = vqgan.quant_conv.weight[:, :, 0, 0].double()
    old_quant_bias = vqgan.quant_conv.bias.double()
    old_post_weight = vqgan.post_quant_conv.weight[:, :, 0, 0].double()
    old_post_bias = vqgan.post_quant_conv.bias.double()
    # the decoder's input for a white latent w is the old chain's for z = from_white w + mean
    post_weight = old_post_weight @ old_quant_weight @ from_white
    post_bias = old_post_weight @ (old_quant_weight @ mean + old_quant_bias) + old_post_bias
    _set_conv(vqgan.quant_conv, to_white, -to_white @ mean)
    _set_conv(vqgan.post_quant_conv, post_weight, post_bias)

    old_spread = torch.linalg.svdvals(old_quant_weight @ from_white)
    log.info(
        "whitened the latent: spread along its axes was %s",
        ", ".join(f"{value:.3f}" for value in old_spread.tolist()),
    )
    return old_spread.float()
