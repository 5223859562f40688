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

import io
import logging

import numpy as np
from PIL import Image, ImageCms

logger = logging.getLogger(__name__)

#: levels between probe colours along each channel: 0, 15, ..., 255 (18³ colours)
PROBE_STEP = 15
#: a transform that moves no probe colour by more than this many 8-bit levels is taken
#: for the identity (an sRGB profile's own rounding), and not run
IDENTITY_TOLERANCE = 1
EIGHT_BIT_LEVELS = 256


def _probe_colours() -> np.ndarray:
    levels = np.arange(0, EIGHT_BIT_LEVELS, PROBE_STEP, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)
    return grid.reshape(1, -1, 3)


def _srgb_transform(
    source: ImageCms.ImageCmsProfile, mode: str, flags: ImageCms.Flags = ImageCms.Flags.NONE
) -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, "RGB", flags=flags)


def _applied(transform: ImageCms.ImageCmsTransform, pixels: np.ndarray) -> np.ndarray:
    return np.array(ImageCms.applyTransform(Image.fromarray(pixels), transform))


class _ColourTransform:
    """An RGB profile's transform to sRGB, run by LittleCMS on each picture."""

    def __init__(self, source: ImageCms.ImageCmsProfile) -> None:
        self._transform = _srgb_transform(source, "RGB")

    def moves(self) -> bool:
        probe = _probe_colours()
        moved = _applied(self._transform, probe)
        return np.abs(moved.astype(np.int16) - probe).max() > IDENTITY_TOLERANCE

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return _applied(self._transform, rgb)


class _GreyTransform:
    """A grey profile's tone curve to sRGB, as a table of the 256 levels: exact for the
    grey photo, and applied to each channel of its results (which the network may tint)."""

    def __init__(self, source: ImageCms.ImageCmsProfile) -> None:
        ramp = np.arange(EIGHT_BIT_LEVELS, dtype=np.uint8)[np.newaxis]
        # unoptimised: LittleCMS's 8-bit shortcut is 7 levels off in a linear curve's shadows
        exact = _srgb_transform(source, "L", ImageCms.Flags.NOOPTIMIZE)
        self._table = _applied(exact, ramp)[0]  # level -> sRGB

    def moves(self) -> bool:
        levels = np.arange(EIGHT_BIT_LEVELS)[:, np.newaxis]
        return np.abs(self._table.astype(np.int16) - levels).max() > IDENTITY_TOLERANCE

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self._table[rgb, np.arange(3)]


#: the transforms for the colour spaces of profiles (ICC data colour space signatures)
_TRANSFORMS = {"RGB": _ColourTransform, "GRAY": _GreyTransform}


class ScreenColour:
    """Converts uint8 RGB in a photo's colour profile to uint8 sRGB for the screen.

    Without a profile, with an sRGB one, or with one LittleCMS cannot use (damaged, or
    made for CMYK or Lab pixels), pictures pass unchanged.
    """

    def __init__(self, icc_profile: bytes | None, *, name: str = "photo") -> None:
        self._transform: _ColourTransform | _GreyTransform | None = None
        if icc_profile:
            self._transform = self._build(icc_profile, name)

    @staticmethod
    def _build(icc_profile: bytes, name: str) -> _ColourTransform | _GreyTransform | None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            space = source.profile.xcolor_space.strip()
            if space not in _TRANSFORMS:
                # the photo was read as RGB through it (CMYK), or it fits no photo
                logger.info("%s: %s colour profile not applied on screen", name, space)
                return None
            transform = _TRANSFORMS[space](source)
            if not transform.moves():
                return None
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            logger.warning(
                "%s: colour profile unusable for the screen (%s); shown as sRGB", name, error
            )
            return None
        logger.info("%s: shown through its colour profile (%s)", name, _description(source))
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


def _description(profile: ImageCms.ImageCmsProfile) -> str:
    return ImageCms.getProfileDescription(profile).strip() or "no description"
