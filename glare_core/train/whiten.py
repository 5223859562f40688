"""Whitening a trained VQGAN's latent, to bring back a latent axis its codebook lost.

A small VQGAN can settle with every code on a plane of its three-channel latent. The codes
never vary along the third axis, so the decoder never learns to read it, and ``quant_conv``
learns to squash it: round 1's VQGAN kept lightness and a blue-orange axis and lost red
against green (MODEL_CARD.md). Fine-tuning alone cannot leave that state, because a latent
off the plane is quantized back onto it.

:func:`whiten_latent` re-fits ``quant_conv`` so that the latent of real images has unit
variance along every principal axis, and ``post_quant_conv`` so that the decoder still sees
what it saw: the unquantized network's output does not change. A codebook re-seeded from
that latent then spans all three axes. That alone is not enough: the decoder's input still
has no component along the collapsed axis, so neither the decoder nor the encoder gets a
gradient to use it (tried: it collapsed again). So ``post_quant_conv`` also routes each
collapsed axis into the direction of the decoder's input that the live axes leave unused,
at their gain: the output moves a little, and fine-tuning learns what to put there.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from glare_core.model.vqgan import VQGAN

log = logging.getLogger(__name__)

#: variance floor of a principal axis, so that a dead axis is not blown up to noise
MIN_AXIS_VARIANCE = 1e-6
#: an axis that reaches the decoder's input at under this share of the strongest axis's
#: reach counts as collapsed (round 1's VQGAN: about 0.1)
COLLAPSED_SHARE = 0.2


def _set_conv(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> None:
    conv.weight.copy_(weight.to(conv.weight.dtype)[:, :, None, None])
    conv.bias.copy_(bias.to(conv.bias.dtype))


@torch.no_grad()
def whiten_latent(vqgan: VQGAN, images: torch.Tensor) -> torch.Tensor:
    """Re-fit ``vqgan``'s 1x1 convs around the codebook on ``images`` (normal-light, in [0, 1]).

    Returns how far each new axis reached the decoder's input before (the old chain's gain
    along it times the latent's spread).
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
    old_reach = torch.linalg.norm(post_weight, dim=0)
    collapsed = old_reach < COLLAPSED_SHARE * old_reach.max()
    post_weight[:, collapsed] = _unused_directions(post_weight[:, ~collapsed], int(collapsed.sum()))
    _set_conv(vqgan.quant_conv, to_white, -to_white @ mean)
    _set_conv(vqgan.post_quant_conv, post_weight, post_bias)

    log.info(
        "whitened the latent: its axes reached the decoder by %s; revived %d",
        ", ".join(f"{value:.3f}" for value in old_reach.tolist()),
        int(collapsed.sum()),
    )
    return old_reach.float()


def _unused_directions(live_columns: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` unit directions orthogonal to ``live_columns``, scaled to their mean norm."""
    left, _, _ = torch.linalg.svd(live_columns, full_matrices=True)
    gain = torch.linalg.norm(live_columns, dim=0).mean()
    return left[:, live_columns.shape[1] : live_columns.shape[1] + count] * gain
