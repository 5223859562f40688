"""A photo's pixels as an sRGB screen should show them: its ICC profile applied.

A phone's photo (Display P3) or a camera's set to Adobe RGB stores values that mean other
colours than the same values in sRGB: shown raw, its reds and greens look duller than in
any colour-managed viewer. The app shows every picture of a photo (the photo itself, its
previews, its variants) through one transform from the photo's profile (colour or grey) to
sRGB, built once per photo by LittleCMS (Pillow's ImageCms), the same for the photo and its
results because the results keep the photo's profile when saved (:mod:`glare_core.imageio`).
Screens are taken to be sRGB, as Qt and most viewers that do not read the monitor's profile
take them.
"""

from __future__ import annotations

import logging

import numpy as np
from PIL import ImageCms

from glare_core import icc
from glare_core.eight_bit import EIGHT_BIT_MAX

logger = logging.getLogger(__name__)

#: levels between probe colours along each channel: 0, 15, ..., 255 (18³ colours)
PROBE_STEP = 15
#: a transform that moves no probe colour by more than this many 8-bit levels is taken
#: for the identity (an sRGB profile's own rounding), and not run
IDENTITY_TOLERANCE = 1


def _probe_colours() -> np.ndarray:
    levels = np.arange(0, EIGHT_BIT_MAX + 1, PROBE_STEP, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)
    return grid.reshape(1, -1, 3)


class _ColourTransform:
    """An RGB profile's transform to sRGB, run by LittleCMS on each picture."""

    def __init__(self, profile: bytes) -> None:
        self._transform = icc.to_srgb(icc.opened(profile), "RGB")

    def moves(self) -> bool:
        probe = _probe_colours()
        moved = icc.applied(self._transform, probe)
        return np.abs(moved.astype(np.int16) - probe).max() > IDENTITY_TOLERANCE

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return icc.applied(self._transform, rgb)


class _GreyTransform:
    """A grey profile's tone curve to sRGB as a table of the 256 levels: exact for the grey
    photo, and applied to each channel of its results (which the network may tint)."""

    def __init__(self, profile: bytes) -> None:
        self._table = icc.grey_curve(profile)

    def moves(self) -> bool:
        levels = np.arange(EIGHT_BIT_MAX + 1)[:, np.newaxis]
        return np.abs(self._table.astype(np.int16) - levels).max() > IDENTITY_TOLERANCE

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self._table[rgb, np.arange(3)]


class ScreenColour:
    """Converts uint8 RGB in a photo's colour profile to uint8 sRGB for the screen.

    Without a profile, with an sRGB one, with one LittleCMS cannot use (damaged), or with
    one made for other pixels than the photo's (a grey profile on a colour photo: invalid,
    and ignored by every viewer), pictures pass unchanged.
    """

    def __init__(self, icc_profile: bytes | None, *, grey: bool, name: str = "photo") -> None:
        """``grey``: whether the photo is grey (its profile must then be a grey one)."""
        self._transform: _ColourTransform | _GreyTransform | None = None
        if icc_profile:
            self._transform = self._build(icc_profile, grey, name)

    @staticmethod
    def _build(
        icc_profile: bytes, grey: bool, name: str
    ) -> _ColourTransform | _GreyTransform | None:
        if not icc.describes(icc_profile, grey):
            logger.info(
                "%s: its %s colour profile does not describe its %s pixels: not applied",
                name,
                icc.colour_space(icc_profile),
                "grey" if grey else "colour",
            )
            return None
        try:
            transform = _GreyTransform(icc_profile) if grey else _ColourTransform(icc_profile)
            if not transform.moves():
                return None
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            logger.warning(
                "%s: colour profile unusable for the screen (%s); shown as sRGB", name, error
            )
            return None
        logger.info("%s: shown through its colour profile", name)
        return transform

    @property
    def converts(self) -> bool:
        """Whether pictures are changed: the photo has a usable profile other than sRGB."""
        return self._transform is not None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB in the photo's profile -> contiguous HxWx3 uint8 sRGB."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if self._transform is None:
            return rgb
        return self._transform(rgb)
