"""Differentiable image losses for images in [0, 1] shaped ``Bx3xHxW``.

:func:`ssim` follows Wang et al. (2004) with an 11x11 Gaussian window (sigma 1.5), computed
per channel over the "valid" region (no padding), which is what scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``
measures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
#: the SSIM stabilisers K1 and K2 of Wang et al.
SSIM_K1 = 0.01
SSIM_K2 = 0.03
#: relative ridge of the least-squares fit in :func:`unexplained_colour` (keeps it solvable)
LSTSQ_RIDGE = 1e-4
#: colour energy below which a batch counts as grey (no share of nothing to explain)
COLOUR_ENERGY_FLOOR = 1e-6


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    offsets = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * sigma**2))
    profile = profile / profile.sum()
    window = profile[:, None] * profile[None, :]
    return window.expand(channels, 1, size, size).contiguous()


def ssim_map(
    prediction: torch.Tensor,
    target: torch.Tensor,
    window_size: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
    data_range: float = 1.0,
) -> torch.Tensor:
    """The local SSIM of every valid window position, per channel: ``BxCxH'xW'``."""
    channels = prediction.shape[1]
    window = _gaussian_window(window_size, sigma, channels, prediction)

    def local_mean(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, window, groups=channels)

    mean_p, mean_t = local_mean(prediction), local_mean(target)
    var_p = local_mean(prediction * prediction) - mean_p**2
    var_t = local_mean(target * target) - mean_t**2
    covariance = local_mean(prediction * target) - mean_p * mean_t
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    luminance = (2 * mean_p * mean_t + c1) / (mean_p**2 + mean_t**2 + c1)
    structure = (2 * covariance + c2) / (var_p + var_t + c2)
    return luminance * structure


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM over the batch, channels and window positions (a scalar, 1 = identical)."""
    return ssim_map(prediction, target).mean()


def ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM``: zero for identical images."""
    return 1.0 - ssim(prediction, target)


def colour_part(image: torch.Tensor) -> torch.Tensor:
    """Each channel minus the pixel's mean over the channels: zero for any grey."""
    return image - image.mean(dim=1, keepdim=True)


def chroma_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the colour parts: blind to lightness, so only a colour error costs."""
    return F.l1_loss(colour_part(prediction), colour_part(target))


def unexplained_colour(latent: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """The share of ``image``'s local colour that no linear map of ``latent`` reads.

    The colour part of the image, averaged over each latent cell, is regressed on the
    latent (least squares with a bias, fitted afresh on the batch); the loss is the residual
    energy over the colour's. It is 0 when the latent holds the colour linearly and 1 when
    it holds none of it, whatever the latent's coordinates. Given the quantized codes (with a
    straight-through gradient), an axis the codebook does not span holds nothing.
    """
    factor = image.shape[-1] // latent.shape[-1]
    colour = F.avg_pool2d(colour_part(image), factor)
    features = latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1])
    features = torch.cat([features, torch.ones_like(features[:, :1])], dim=1)
    targets = colour.permute(0, 2, 3, 1).reshape(-1, colour.shape[1])
    gram = features.T @ features
    ridge = LSTSQ_RIDGE * gram.diagonal().mean() * torch.eye(len(gram), device=gram.device)
    coefficients = torch.linalg.solve(gram + ridge, features.T @ targets)
    residual = targets - features @ coefficients
    return residual.pow(2).mean() / targets.pow(2).mean().clamp_min(COLOUR_ENERGY_FLOOR)
