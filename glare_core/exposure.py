"""Exposure normalisation: bringing a photo's overall brightness into the trained range.

A network trained on pairs whose low images have a mean luma between about 0.02 and 0.14
(5th and 95th percentile of ``lowlight-pairs/train``) meets much darker and much brighter
photos in users' hands. Outside its range it guesses the gain badly: too dark a photo comes
out dark, a dusk photo comes out washed out. Before the network, an image whose mean luma
lies below ``floor`` is re-exposed to ``floor``, one above ``ceiling`` down to ``ceiling``;
images in between pass untouched, so the network sees them exactly as in training.

Re-exposing multiplies linear light (sRGB values treated as ``v ** DISPLAY_GAMMA``, as the
training augmentations do): what a longer or shorter exposure of the same scene records.
The gain is one number for the whole image, measured on a subsampled copy, so a tile, a
preview and the full image all get the same one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glare_core.limits import check_range

#: the power law between stored sRGB values and linear light
DISPLAY_GAMMA = 2.2
#: ITU-R BT.601 luma weights (the ones Pillow's RGB -> L conversion uses)
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: pixels farther apart than this are enough to measure an image-wide mean
MEASURE_STRIDE = 4
#: bisection over log(gain) in this range, this many times (log(1e6) / 2**24: the gain to
#: within 1e-6 of itself)
GAIN_RANGE = (1e-3, 1e3)
BISECTION_STEPS = 24
#: the result's exposure control reaches this many stops either way (x4 or 1/4 the light)
MAX_EXPOSURE_STOPS = 2.0


@dataclass(frozen=True)
class ExposureRange:
    """Mean luma (sRGB, in [0, 1]) an input is brought into; ``None`` leaves that side open."""

    floor: float | None = None
    ceiling: float | None = None

    @property
    def enabled(self) -> bool:
        return self.floor is not None or self.ceiling is not None


#: no re-exposure at all (the official network's behaviour)
UNBOUNDED = ExposureRange()


def mean_luma(image: np.ndarray) -> float:
    """Mean BT.601 luma of an ``HxWx3`` float image in [0, 1], from a subsampled copy."""
    sample = np.clip(image[::MEASURE_STRIDE, ::MEASURE_STRIDE], 0.0, 1.0)
    return float(np.mean(sample @ LUMA_WEIGHTS))


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an ``HxWx3`` image (any scale) as a contiguous float32 ``HxW`` plane."""
    return np.ascontiguousarray(image @ LUMA_WEIGHTS, dtype=np.float32)


def to_linear(image: np.ndarray) -> np.ndarray:
    """Stored values in [0, 1] as linear light (the plain power law, float32)."""
    return np.power(np.clip(image, 0.0, 1.0), DISPLAY_GAMMA, dtype=np.float32)


def to_display(linear: np.ndarray) -> np.ndarray:
    """Linear light back to stored values, clipped to [0, 1] (float32)."""
    return np.power(np.clip(linear, 0.0, 1.0), 1.0 / DISPLAY_GAMMA, dtype=np.float32)


def _display_factor(gain: float) -> np.float32:
    """What a linear-light ``gain`` multiplies stored values by, below white.

    Under a pure power law, ``(v ** g) * k == (v * k ** (1 / g)) ** g``: re-exposing is a
    multiplication of the stored values, clipped at white, and needs no power per pixel
    (which made re-exposure most of the time to a 12 MP photo's first preview).
    """
    return np.float32(gain ** (1.0 / DISPLAY_GAMMA))


def _scaled(image: np.ndarray, factor: np.float32) -> np.ndarray:
    """``image`` clipped to [0, 1], times ``factor``, clipped to white again (a new array)."""
    scaled = np.clip(image, 0.0, 1.0, dtype=np.float32)
    scaled *= factor
    return np.minimum(scaled, np.float32(1.0), out=scaled)


def gain_for_luma(image: np.ndarray, target: float) -> float:
    """The linear-light gain that gives ``image`` the mean luma ``target`` (clipping included)."""
    sample = np.clip(image[::MEASURE_STRIDE, ::MEASURE_STRIDE], 0.0, 1.0, dtype=np.float32)
    low, high = np.log(GAIN_RANGE[0]), np.log(GAIN_RANGE[1])
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        reexposed = _scaled(sample, _display_factor(float(np.exp(middle))))
        if float(np.mean(reexposed @ LUMA_WEIGHTS)) < target:
            low = middle
        else:
            high = middle
    return float(np.exp(0.5 * (low + high)))


def exposure_gain(image: np.ndarray, bounds: ExposureRange) -> float:
    """1.0 when the mean luma lies within ``bounds`` (or nothing bounds it, which is not
    measured), else the gain to the nearer bound."""
    if not bounds.enabled:
        return 1.0
    luma = mean_luma(image)
    if bounds.floor is not None and luma < bounds.floor:
        return gain_for_luma(image, bounds.floor)
    if bounds.ceiling is not None and luma > bounds.ceiling:
        return gain_for_luma(image, bounds.ceiling)
    return 1.0


def apply_gain(image: np.ndarray, gain: float) -> np.ndarray:
    """``image`` re-exposed by the linear-light ``gain`` (the same array when gain is 1)."""
    if gain == 1.0:
        return image
    return _scaled(image, _display_factor(gain))


def check_exposure_stops(stops: float) -> float:
    """``stops``, or a ValueError when it lies outside +-:data:`MAX_EXPOSURE_STOPS`."""
    return check_range("exposure (stops)", stops, -MAX_EXPOSURE_STOPS, MAX_EXPOSURE_STOPS)


def adjust_exposure(image: np.ndarray, stops: float) -> np.ndarray:
    """``image`` as an exposure ``stops`` longer (or shorter, when negative) would record it.

    The network picks a result's brightness as its training references were lit, which suits
    some scenes better than others; this is the user's say over it, applied to the result.
    Each stop doubles (or halves) the linear light; what passes white clips. 0 returns
    ``image`` itself.
    """
    return apply_gain(image, 2.0 ** check_exposure_stops(stops))


def normalize_exposure(image: np.ndarray, bounds: ExposureRange) -> np.ndarray:
    """``image`` with its mean luma brought within ``bounds`` (unchanged when already inside)."""
    return apply_gain(image, exposure_gain(image, bounds))
