"""Guided upsampling: a result computed on a downscaled photo, carried back to full size.

A network sees its training photos at one scale. Run on a photo many times larger, each of
its windows covers a small, nearly flat patch, and it fills flat dark patches with codebook
texture (blocks and blotches on a 4K wall). So photos larger than the model's working size
are enhanced at that size and the result is brought back with the fast guided filter (He &
Sun, 2015, "Fast Guided Filter", arXiv:1505.00996), as the Deep Guided Filter networks do:

In every window of the working-size image the result is fitted, per channel, as a linear
function of the input's luma, ``result = slope * luma + offset`` (a ridge regression whose
``eps`` keeps the slope small where the input is flat). Slope and offset vary slowly, so they
are upsampled bilinearly and applied to the full-resolution luma. The photo's edges and fine
detail come back through its luma; tone and colour come from the network. Where the input is
flat and only noisy, the ridge term pulls the slope to 0 and the noise stays out.

Images are float32 ``HxWx3`` arrays in [0, 1].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from glare_core.exposure import luma

if TYPE_CHECKING:  # the config imports photo colour, which builds on this module
    from glare_core.config import UpsamplingConfig

#: keeps the guide's normalisation finite on an all-black photo
MIN_MEAN_LUMA = 1e-4


def fit_pixels(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """``size`` (width, height) shrunk (never enlarged) to at most ``max_pixels``, aspect kept."""
    width, height = size
    return fit_scale(size, min(1.0, (max_pixels / (width * height)) ** 0.5))


def fit_scale(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """``size`` (width, height) times ``scale``, each side at least one pixel."""
    width, height = size
    # rounded down: rounded to the nearest, 1200x834 stayed 1200x834 for a million pixels, and
    # a photo a little over the working size was run at full size and guided onto itself
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def resize_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average downscale of an HxWx3 float image to ``size`` (width, height)."""
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _window_mean(image: np.ndarray, radius: int) -> np.ndarray:
    side = 2 * radius + 1
    return cv2.boxFilter(image, -1, (side, side), borderType=cv2.BORDER_REFLECT)


def fit_local_linear(
    guide: np.ndarray, result: np.ndarray, radius: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ``slope`` and ``offset`` (``HxWx3``) with ``result ≈ slope * guide + offset``.

    Fitted in every ``(2 radius + 1)²`` window, then averaged over the windows that cover a
    pixel (the guided filter's output coefficients).
    """
    guide_mean = _window_mean(guide, radius)
    guide_var = _window_mean(guide * guide, radius) - guide_mean * guide_mean
    result_mean = _window_mean(result, radius)
    covariance = _window_mean(guide[..., None] * result, radius)
    covariance -= guide_mean[..., None] * result_mean
    slope = covariance / (guide_var + eps)[..., None]
    offset = result_mean - slope * guide_mean[..., None]
    return _window_mean(slope, radius), _window_mean(offset, radius)


def guided_upsample(
    small_input: np.ndarray,
    small_result: np.ndarray,
    full_input: np.ndarray,
    config: UpsamplingConfig,
) -> np.ndarray:
    """The full-size result for ``full_input``, from ``small_result`` of its downscaled copy.

    The guide is the input's luma divided by its mean, so how strongly a fit is regularised
    (``config.eps``) does not depend on how bright the photo is.
    """
    small_luma = luma(small_input)
    scale = max(float(small_luma.mean()), MIN_MEAN_LUMA)
    small_guide = small_luma / np.float32(scale)
    slope, offset = fit_local_linear(small_guide, small_result, config.radius, config.eps)
    full_guide = luma(full_input) / np.float32(scale)
    output = apply_upsampled(slope, offset, full_guide)
    return np.clip(output, 0.0, 1.0, out=output)


def apply_upsampled(slope: np.ndarray, offset: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """``slope * guide + offset`` at the size of ``guide`` (``HxW``), with ``slope`` and
    ``offset`` (``hxwx3``, fitted on a smaller copy) upsampled bilinearly: ``HxWx3``."""
    height, width = guide.shape
    output = np.empty((height, width, 3), dtype=np.float32)
    for channel in range(3):  # one channel at a time: full-size planes set the memory peak
        channel_slope, channel_offset = (
            cv2.resize(
                np.ascontiguousarray(plane[..., channel]),
                (width, height),
                interpolation=cv2.INTER_LINEAR,
            )
            for plane in (slope, offset)
        )
        output[..., channel] = channel_slope * guide + channel_offset
    return output
