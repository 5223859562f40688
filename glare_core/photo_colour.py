"""Photo colour: a share of the photo's own colour, at the result's brightness and detail.

The training references are neutrally lit, so the network removes a photo's colour cast
along with whatever else makes it warm or cool: a brown table, an espresso's crema and
sodium lamplight come out grey (MODEL_CARD.md, Limits). No statistic of a dark photo tells a
warm scene from a warm cast (the eval pairs' casts are the camera's, and removing them is
worth dB there), so the model's neutral colour stays the default and the user chooses: like
a photo editor's "as shot" white balance against "auto".

At share 1 every pixel takes the result's linear luminance, divided between the channels as
the photo divides its own light: its chromaticity. A dark photo's colour is noisy in blotches
a dozen pixels wide, which the network's result is not, so the photo's chromaticity is
smoothed along the result: a guided filter whose guide is the result's luma makes it flat
where the result is flat and lets it change across the result's edges. Where that would push
a channel past white (a warm table at the network's brightness), the pixel is desaturated
towards its grey just enough to fit, so that hue and brightness stay and no channel clips.
Between 0 and 1 the two are mixed in display values. The chromaticity is measured once per
photo and size (the app re-renders a preview on every slider step), on at most
:data:`MAX_CHROMATICITY_PIXELS`; the photo's exposure hardly changes it (only near-black
pixels, against :data:`CHANNEL_FLOOR`, turn greyer in a darker photo).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from glare_core.exposure import LUMA_WEIGHTS, luma, to_display, to_linear
from glare_core.guided_upsample import apply_upsampled, fit_local_linear, fit_pixels, resize_rgb
from glare_core.limits import check_range

#: the blur on the photo's light, in fractions of its long side (2 px at 1000 px), against
#: single pixels' colour noise before the channels are divided
CHROMATICITY_BLUR = 0.002
#: the photo's own chromaticity alone, at the network's luminance
MAX_PHOTO_COLOUR = 1.0
#: a colour smoothed over a few percent of the side needs no more pixels than this; at 8
#: megapixels it saves most of the time the full-size chromaticity took
MAX_CHROMATICITY_PIXELS = 1_000_000
#: the guided filter's window radius, in fractions of the long side: wider than the photo's
#: colour blotches (a dozen pixels at a megapixel)
SMOOTHING_RADIUS = 0.02
#: the guided filter's regularisation, a variance of display luma: edges of the result
#: brighter or darker by more than about its square root (0.1) keep their colours apart
SMOOTHING_EPS = 1e-2
#: linear light added to each channel before proportions are taken: a black pixel turns
#: grey at the result's brightness instead of dividing by zero
CHANNEL_FLOOR = 1e-4
#: a grey pixel's spread of channels about its luminance, floored: no division by zero
MIN_HEADROOM = 1e-6


def check_photo_colour(share: float) -> float:
    """``share``, or a ValueError outside [0, :data:`MAX_PHOTO_COLOUR`]."""
    return check_range("photo colour", share, 0.0, MAX_PHOTO_COLOUR)


def photo_chromaticity(photo: np.ndarray) -> np.ndarray:
    """Each pixel's channels over its luma in linear light (``HxWx3`` float32), blurred, of
    ``photo`` shrunk to at most :data:`MAX_CHROMATICITY_PIXELS`."""
    height, width = photo.shape[:2]
    photo = resize_rgb(photo, fit_pixels((width, height), MAX_CHROMATICITY_PIXELS))
    sigma = CHROMATICITY_BLUR * max(photo.shape[:2])
    return chromaticity_of(cv2.GaussianBlur(to_linear(photo), (0, 0), sigma), CHANNEL_FLOOR)


def chromaticity_of(linear: np.ndarray, floor: float) -> np.ndarray:
    """Each pixel's channels over its luma, ``linear`` light with ``floor`` added to every
    channel first (a black pixel turns grey; the luma weights sum to 1, so it is at least
    the floor)."""
    floored = linear + np.float32(floor)
    return floored / (floored @ LUMA_WEIGHTS)[..., None]


def smoothed_along(result: np.ndarray, chromaticity: np.ndarray) -> np.ndarray:
    """``chromaticity`` (of the photo, at most ``result``'s size) smoothed along ``result``
    and brought to its size: fitted per window as a linear function of the result's luma."""
    height, width = chromaticity.shape[:2]
    guide = luma(resize_rgb(result, (width, height)))
    radius = max(1, round(SMOOTHING_RADIUS * max(height, width)))
    slope, offset = fit_local_linear(guide, chromaticity, radius, SMOOTHING_EPS)
    if result.shape[:2] == (height, width):
        return slope * guide[..., None] + offset
    return apply_upsampled(slope, offset, luma(result))


def _desaturated_to_fit(linear: np.ndarray, luminance: np.ndarray) -> np.ndarray:
    """``linear`` light moved towards grey of the same ``luminance`` just enough that no
    channel passes 1: hue and luminance kept where clipping would shift both."""
    # the brightest channel is at least the luminance (a weighted mean of the channels), so
    # the scale is 1 wherever nothing passes white, and a grey pixel's floor keeps it finite
    # the channels' maximum taken pairwise: numpy's reduction over a last axis of three is
    # several times slower (0.4 s at 12 MP)
    brightest = np.maximum(np.maximum(linear[..., 0], linear[..., 1]), linear[..., 2])
    headroom = np.maximum(brightest - luminance, np.float32(MIN_HEADROOM))
    scale = np.minimum(np.float32(1.0), (np.float32(1.0) - luminance) / headroom)
    grey = luminance[..., None]
    fitted = linear - grey
    fitted *= scale[..., None]
    fitted += grey
    return fitted


def recoloured(
    result: np.ndarray,
    chromaticity: np.ndarray,
    share: float | np.ndarray,
    *,
    fit_gamut: bool = False,
) -> np.ndarray:
    """``result`` with ``share`` (a number or ``HxWx1``) of ``chromaticity`` at its luminance;
    ``fit_gamut`` desaturates what would clip instead of clipping it."""
    result_luma = to_linear(result) @ LUMA_WEIGHTS
    linear = chromaticity * result_luma[..., None]
    if fit_gamut:
        linear = _desaturated_to_fit(linear, result_luma)
    mixed = to_display(linear)
    mixed -= result
    mixed *= share
    mixed += result
    return mixed


def with_photo_colour(
    result: np.ndarray, share: float, chromaticity: Callable[[], np.ndarray]
) -> np.ndarray:
    """``result`` with ``share`` of the photo's colour: ``chromaticity`` gives the photo's
    :func:`photo_chromaticity` (of the photo at the result's size), asked for only when share
    is above 0 (share 0 returns ``result`` itself); it is smoothed along the result."""
    if check_photo_colour(share) == 0.0:
        return result
    along = smoothed_along(result, chromaticity())
    return recoloured(result, along, share, fit_gamut=True)
