"""Well-exposed colour: a photo brighter than the trained range keeps its own colours.

The training references (LOL-style pairs) are exposed for their dark parts, so whatever is
already bright in a low image is white in its reference: lamps, windows, lit walls. The
network learnt that bright means white, which the eval pairs reward (keeping the low image
itself there costs 0.2-0.4 dB). A photo a user brings is often just a little dark (dusk, a
lit pool, a sunset): :mod:`glare_core.exposure` darkens it into the trained range and the
network then paints its well-exposed water and sky white.

So where a photo lies above the trained range, its well-exposed pixels take the result's
luminance with the photo's own chromaticity: the result's linear light, divided between the
channels as the photo divides it. How much follows two ramps: the photo's local luma (a
blurred copy, so grain does not speckle the mask) and how many stops the photo had to be
darkened. Photos within the trained range, every eval pair but one among them, are left
exactly as the network makes them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from glare_core.errors import ConfigError
from glare_core.exposure import luma, to_linear
from glare_core.photo_colour import chromaticity_of, recoloured

#: linear light added to each of the photo's channels before its proportions are taken: a
#: black or nearly black pixel in a bright area (a thin dark line, which the blurred luma
#: still counts as well exposed) turns grey at the result's brightness, instead of black or
#: one saturated channel; a well-exposed pixel (linear luma 0.1 or more) loses 1% of its
#: saturation at most
CHANNEL_FLOOR = 1e-3


@dataclass(frozen=True)
class WellExposedColour:
    """Which pixels of a photo darkened into the trained range keep their colour.

    ``full_effect_stops`` 0 turns it off (the official code has no such step).
    """

    #: a photo darkened by this many stops or more gets the full effect; less, a share of it
    full_effect_stops: float = 0.0
    #: local luma (sRGB) where pixels start to keep their colour ...
    luma_start: float = 0.35
    #: ... and where they keep it fully
    luma_full: float = 0.6
    #: standard deviation, in pixels, of the blur on the luma that decides
    smoothing_sigma: float = 2.0

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"well_exposed.{name} must be a number, not {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"well_exposed.{name} must be finite, not {value}")
        if self.full_effect_stops < 0:
            raise ConfigError(
                f"well_exposed.full_effect_stops must be 0 or more, not {self.full_effect_stops}"
            )
        if not 0 <= self.luma_start < self.luma_full <= 1:
            raise ConfigError(
                "well_exposed needs 0 <= luma_start < luma_full <= 1, not "
                f"{self.luma_start} and {self.luma_full}"
            )
        if self.smoothing_sigma <= 0:
            raise ConfigError(
                f"well_exposed.smoothing_sigma must be above 0, not {self.smoothing_sigma}"
            )

    @property
    def enabled(self) -> bool:
        return self.full_effect_stops > 0


@dataclass(frozen=True)
class KeptColour:
    """A photo's chromaticity and the per-pixel share of it a result keeps.

    Both are measured once per photo (the app re-renders a preview on every slider step).
    """

    #: the photo's linear light over its linear luma (``HxWx3``): each channel's proportion
    chromaticity: np.ndarray
    #: the share of it each pixel keeps (``HxWx1``, in [0, 1])
    weight: np.ndarray

    def apply(self, result: np.ndarray) -> np.ndarray:
        """``result`` (the photo's size) with the photo's chromaticity blended in."""
        return recoloured(result, self.chromaticity, self.weight)


def kept_colour(
    photo: np.ndarray, darkening_gain: float, setting: WellExposedColour
) -> KeptColour | None:
    """What of ``photo``'s colour its result keeps; None for nothing (a photo in range, or
    one darkened with nothing well exposed in it).

    ``darkening_gain`` is the linear-light gain the exposure normalisation applied to
    ``photo`` (1 for a photo in range, less than 1 for one it darkened).
    """
    if not setting.enabled or darkening_gain >= 1.0:
        return None
    share = min(1.0, -math.log2(darkening_gain) / setting.full_effect_stops)
    stored_luma = np.clip(luma(photo), 0.0, 1.0)
    local_luma = cv2.GaussianBlur(stored_luma, (0, 0), setting.smoothing_sigma)
    ramp = (local_luma - setting.luma_start) / (setting.luma_full - setting.luma_start)
    weight = np.clip(ramp, 0.0, 1.0) * np.float32(share)
    if not weight.any():
        return None
    return KeptColour(chromaticity_of(to_linear(photo), CHANNEL_FLOOR), weight[..., None])
