"""Noise reduction before the network: non-local means on the photo brightened to view.

The compact model learnt to remove the fine, pixel-sized noise of its training pairs, but
real photos carry grain that the camera's pipeline (demosaicing, in-camera denoising,
compression, resizing) has spread over several pixels; the network reads it as texture and
lifts it into speckle and colour blotches (MODEL_CARD.md). Non-local means (Buades, Coll and
Morel, CVPR 2005; OpenCV's ``fastNlMeansDenoisingColored``) removes such grain while keeping
edges, and runs in well under a second per megapixel on a CPU.

A dark photo holds its noise within a few 8-bit levels, too few for an 8-bit filter to tell
it from the picture, so the photo is first re-exposed by one linear-light gain to a viewing
brightness, filtered there, and the filter's change is carried back by the inverse gain.
Values the brightening clips are left as they were.

A fixed strength suits the grain of ordinary photos. A capture several stops darker carries
many times that noise once brightened, and needs a stronger filter; a config may therefore
multiply the set strength by how far the photo's estimated noise exceeds a reference
(:class:`NoiseAdaptation`), so photos of ordinary noise are filtered exactly as set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from glare_core.eight_bit import EIGHT_BIT_MAX, to_uint8
from glare_core.exposure import gain_for_luma, luma, to_display, to_linear

logger = logging.getLogger(__name__)

#: mean luma (sRGB) the photo is brought to for filtering: a normally exposed picture
VIEWING_LUMA = 0.4
#: side of the patches non-local means compares (OpenCV's default is 7; 5 looks the same on
#: the real photos and takes half the time)
PATCH_SIZE = 5
#: side of the window searched for similar patches (OpenCV's default is 21)
SEARCH_SIZE = 15
#: Immerkær's noise-measuring kernel: the difference of two Laplacians, blind to planes and
#: linear ramps, so a photo's smooth shading does not count as noise
NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
#: the kernel's response to unit Gaussian noise has mean absolute value 6 * sqrt(2 / pi)
NOISE_KERNEL_SCALE = 6.0 * np.sqrt(2.0 / np.pi)


@dataclass(frozen=True)
class NoiseAdaptation:
    """How much the filter strengthens on noisier photos.

    A photo whose estimated noise (:func:`estimate_noise`) exceeds ``reference_noise`` gets
    the set strength times their ratio, at most ``max_factor`` times: the set strength keeps
    its meaning (0 is off, 2 half as strong as 4) on photos of any noise.
    ``reference_noise`` 0 keeps the set strength (the official code has no filter at all).
    """

    reference_noise: float = 0.0
    max_factor: float = 4.0


def check_noise_reduction(strength: float) -> float:
    """``strength``, or a ValueError when it is negative."""
    if strength < 0:
        raise ValueError(f"noise reduction must be 0 or more, not {strength}")
    return strength


def estimate_noise(stored: np.ndarray) -> float:
    """The standard deviation of the pixel noise in an 8-bit RGB image's luma, in levels.

    Immerkær, "Fast noise variance estimation" (CVIU 1996): the mean absolute response to
    :data:`NOISE_KERNEL`, which is zero on smooth shading. Edges and texture add a little, so
    it reads an upper bound on detailed photos. An image too small for the kernel reads 0.
    """
    response = cv2.filter2D(luma(stored), -1, NOISE_KERNEL)[1:-1, 1:-1]
    if response.size == 0:
        return 0.0
    return float(np.abs(response).mean() / NOISE_KERNEL_SCALE)


def _brightened(image: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """``image`` re-exposed in linear light to :data:`VIEWING_LUMA`, and the gain used."""
    gain = np.float32(gain_for_luma(image, VIEWING_LUMA))
    return to_linear(image) * gain, gain


def viewing_noise(image: np.ndarray) -> float:
    """:func:`estimate_noise` of ``image`` (HxWx3 float) brightened to view, as stored in 8
    bits: the noise a user would see, whatever the photo's exposure."""
    brightened_linear, _ = _brightened(image)
    return estimate_noise(to_uint8(to_display(brightened_linear)))


def adapted_strength(stored: np.ndarray, strength: float, adaptation: NoiseAdaptation) -> float:
    """``strength``, raised as ``adaptation`` asks for the noise of ``stored`` (8-bit RGB)."""
    if adaptation.reference_noise <= 0:
        return strength
    noise = estimate_noise(stored)
    factor = float(np.clip(noise / adaptation.reference_noise, 1.0, adaptation.max_factor))
    logger.debug("noise %.1f levels: filter strength %.1f", noise, strength * factor)
    return strength * factor


def reduce_noise(
    image: np.ndarray, strength: float, adaptation: NoiseAdaptation = NoiseAdaptation()
) -> np.ndarray:
    """``image`` (HxWx3 float in [0, 1]) with its noise filtered; ``strength`` 0 returns it.

    ``strength`` is the filter's ``h``, in 8-bit levels of the brightened photo: about the
    size of noise that is removed (3 is barely visible, 10 paints surfaces flat).
    ``adaptation`` may raise it on a noisier photo.
    """
    if strength <= 0:
        return image
    brightened_linear, gain = _brightened(image)
    brightened = to_display(brightened_linear)
    stored = to_uint8(brightened)
    strength = adapted_strength(stored, strength, adaptation)
    filtered = cv2.fastNlMeansDenoisingColored(
        stored, None, strength, strength, PATCH_SIZE, SEARCH_SIZE
    )
    # the change, not the 8-bit result: the photo keeps its precision where nothing is removed.
    # The filter works in 8-bit CIELAB (OpenCV converts as from linear BGR), whose round trip
    # alone moves values by a level or two; measured against that round trip, a flat or
    # noise-free photo comes back unchanged.
    round_trip = cv2.cvtColor(cv2.cvtColor(stored, cv2.COLOR_LBGR2Lab), cv2.COLOR_Lab2LBGR)
    change = (filtered.astype(np.float32) - round_trip) / np.float32(EIGHT_BIT_MAX)
    denoised = to_display(to_linear(brightened + change) / gain)
    return np.where(brightened_linear < 1.0, denoised, image).astype(np.float32)
