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
"""

from __future__ import annotations

import cv2
import numpy as np

from glare_core.eight_bit import EIGHT_BIT_MAX, to_uint8
from glare_core.exposure import gain_for_luma, to_display, to_linear

#: mean luma (sRGB) the photo is brought to for filtering: a normally exposed picture
VIEWING_LUMA = 0.4
#: side of the patches non-local means compares (OpenCV's default is 7; 5 looks the same on
#: the real photos and takes half the time)
PATCH_SIZE = 5
#: side of the window searched for similar patches (OpenCV's default is 21)
SEARCH_SIZE = 15


def check_noise_reduction(strength: float) -> float:
    """``strength``, or a ValueError when it is negative."""
    if strength < 0:
        raise ValueError(f"noise reduction must be 0 or more, not {strength}")
    return strength


def reduce_noise(image: np.ndarray, strength: float) -> np.ndarray:
    """``image`` (HxWx3 float in [0, 1]) with its noise filtered; ``strength`` 0 returns it.

    ``strength`` is the filter's ``h``, in 8-bit levels of the brightened photo: about the
    size of noise that is removed (3 is barely visible, 10 paints surfaces flat).
    """
    if strength <= 0:
        return image
    gain = np.float32(gain_for_luma(image, VIEWING_LUMA))
    brightened_linear = to_linear(image) * gain
    brightened = to_display(brightened_linear)
    stored = to_uint8(brightened)
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
