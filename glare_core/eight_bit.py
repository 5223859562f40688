"""8-bit pixels: the scale photos are stored in, and conversions to and from floats in [0, 1].

The library computes on float32 images in [0, 1]; files, the screen, OpenCV's filters and the
quality metrics speak 0-255.
"""

from __future__ import annotations

import numpy as np

#: the largest 8-bit pixel value
EIGHT_BIT_MAX = 255


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (values outside are clipped) as rounded 8-bit values."""
    return to_unsigned(image, np.uint8)


def to_unsigned(image: np.ndarray, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """A float image in [0, 1] (values outside are clipped) as rounded values of ``dtype``
    (uint8, uint16): the inverse of :func:`from_unsigned`."""
    # one temporary, scaled and rounded in place: at 12 MP each full-size copy costs ~30 ms
    scaled = np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)
    scaled *= np.float32(np.iinfo(dtype).max)
    return np.rint(scaled, out=scaled).astype(dtype)


def from_uint8(values: np.ndarray) -> np.ndarray:
    """8-bit values as a float32 image in [0, 1]."""
    return values.astype(np.float32) / np.float32(EIGHT_BIT_MAX)


def from_unsigned(values: np.ndarray) -> np.ndarray:
    """Unsigned integer pixels of any depth (uint8, uint16) as a float32 image in [0, 1]."""
    return values.astype(np.float32) / np.float32(np.iinfo(values.dtype).max)


def as_stored(image: np.ndarray) -> np.ndarray:
    """A float image as an 8-bit file holds it: clipped to [0, 1] and rounded to 255 steps."""
    return from_uint8(to_uint8(image))
