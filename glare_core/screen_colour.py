"""A photo's pixels as an sRGB screen should show them: its ICC profile applied.

A phone's photo (Display P3) or a camera's set to Adobe RGB stores values that mean other
colours than the same values in sRGB: shown raw, its reds and greens look duller than in
any colour-managed viewer. The app shows every picture of a photo (the photo itself, its
previews, its variants) through one transform from the photo's profile to sRGB, built once
per photo by LittleCMS (Pillow's ImageCms), the same for the photo and its results because
the results keep the photo's profile when saved (:mod:`glare_core.imageio`). Screens are
taken to be sRGB, as Qt and most viewers that do not read the monitor's profile take them.
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


def _probe_colours() -> np.ndarray:
    levels = np.arange(0, 256, PROBE_STEP, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)
    return grid.reshape(1, -1, 3)


class ScreenColour:
    """Converts uint8 RGB in a photo's colour profile to uint8 sRGB for the screen.

    Without a profile, with an sRGB one, or with one LittleCMS cannot use (damaged, or
    made for grey or CMYK pixels), pictures pass unchanged.
    """

    def __init__(self, icc_profile: bytes | None, *, name: str = "photo") -> None:
        self._transform: ImageCms.ImageCmsTransform | None = None
        if icc_profile:
            self._transform = self._build(icc_profile, name)

    @staticmethod
    def _build(icc_profile: bytes, name: str) -> ImageCms.ImageCmsTransform | None:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
            if source.profile.xcolor_space.strip() != "RGB":
                # a grey photo's profile describes one channel, which is shown as it is
                logger.info(
                    "%s: %s colour profile not applied on screen",
                    name,
                    source.profile.xcolor_space.strip(),
                )
                return None
            transform = ImageCms.buildTransform(
                source, ImageCms.createProfile("sRGB"), "RGB", "RGB"
            )
            probe = _probe_colours()
            moved = np.asarray(ImageCms.applyTransform(Image.fromarray(probe), transform))
        except (ImageCms.PyCMSError, OSError, ValueError) as error:
            logger.warning(
                "%s: colour profile unusable for the screen (%s); shown as sRGB", name, error
            )
            return None
        if np.abs(moved.astype(np.int16) - probe).max() <= IDENTITY_TOLERANCE:
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
        return np.array(ImageCms.applyTransform(Image.fromarray(rgb), self._transform))


def _description(profile: ImageCms.ImageCmsProfile) -> str:
    return ImageCms.getProfileDescription(profile).strip() or "no description"
