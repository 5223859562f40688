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

The noisy-photo path (glare_core.config.NoisyPathConfig) reads two measures of the photo as
viewed (:func:`as_viewed`): its noise per pixel (:func:`estimate_noise`), and a camera's grain
a few pixels wide (:func:`grain_noise`), which the per-pixel measure hardly sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from glare_core.eight_bit import EIGHT_BIT_MAX, to_uint8
from glare_core.exposure import apply_gain, gain_for_luma, luma
from glare_core.limits import check_range

logger = logging.getLogger(__name__)

#: the filter's strongest setting: beyond it surfaces turn flat and waxy
MAX_NOISE_REDUCTION = 10.0
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
#: camera grain is measured on the photo shrunk this many times per side: grain a few pixels
#: wide is still noise there, and the area averaging lowers per-pixel noise by as much as the
#: reading is scaled up, so per-pixel noise reads as at full size
GRAIN_SCALE = 4
#: side, in pixels of the shrunk photo, of the blocks whose noise is compared
GRAIN_BLOCK = 8
#: the grain reading is this percentile of the blocks' noise: the flattest blocks, where
#: texture and edges, which also answer the kernel at a coarse scale, do not reach
GRAIN_PERCENTILE = 10
#: fewer blocks than this are not read: in a small photo (under about 0.1 MP) texture is dense
#: and even the flattest blocks hold some (eval's low images shrunk to half their side read
#: up to 29 levels of grain, at full size 15)
GRAIN_MIN_BLOCKS = 100


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
    """``strength``, or a ValueError outside [0, :data:`MAX_NOISE_REDUCTION`] (NaN included)."""
    return check_range("noise reduction", strength, 0.0, MAX_NOISE_REDUCTION)


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


def grain_noise(stored: np.ndarray) -> float:
    """The noise of an 8-bit RGB image's luma at :data:`GRAIN_SCALE` times coarser, in its
    flattest blocks, in levels of the full-size image; 0 for an image too small to hold
    :data:`GRAIN_MIN_BLOCKS` blocks.

    Real photos' noise has been spread over several pixels by the camera (demosaicing,
    in-camera denoising, resizing), and a per-pixel estimate (:func:`estimate_noise`) reads
    little of it. At a coarse scale it survives, but so do texture and edges; the flattest
    blocks of the photo hold the noise alone.
    """
    height, width = stored.shape[:2]
    small_size = (width // GRAIN_SCALE, height // GRAIN_SCALE)
    # the kernel's response loses a pixel at each border
    rows = (small_size[1] - 2) // GRAIN_BLOCK * GRAIN_BLOCK
    columns = (small_size[0] - 2) // GRAIN_BLOCK * GRAIN_BLOCK
    if rows * columns < GRAIN_MIN_BLOCKS * GRAIN_BLOCK**2:
        return 0.0
    small = cv2.resize(luma(stored), small_size, interpolation=cv2.INTER_AREA)
    response = np.abs(cv2.filter2D(small, -1, NOISE_KERNEL)[1:-1, 1:-1])
    blocks = response[:rows, :columns].reshape(
        rows // GRAIN_BLOCK, GRAIN_BLOCK, columns // GRAIN_BLOCK, GRAIN_BLOCK
    )
    flattest = np.percentile(blocks.mean(axis=(1, 3)), GRAIN_PERCENTILE)
    return float(flattest / NOISE_KERNEL_SCALE * GRAIN_SCALE)


def _brightened(image: np.ndarray) -> tuple[np.ndarray, float]:
    """``image`` re-exposed in linear light to :data:`VIEWING_LUMA`, and the gain used."""
    gain = gain_for_luma(image, VIEWING_LUMA)
    return apply_gain(image, gain), gain


def as_viewed(image: np.ndarray) -> np.ndarray:
    """``image`` (HxWx3 float) brightened to view and stored in 8 bits: what the noise
    measures read, so that they read the noise a user would see, whatever the exposure."""
    return to_uint8(_brightened(image)[0])


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
    brightened, gain = _brightened(image)
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
    denoised = apply_gain(brightened + change, 1.0 / gain)
    # where brightening clipped, the photo's own value is the better one
    return np.where(brightened < 1.0, denoised, image).astype(np.float32)
