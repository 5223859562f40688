"""What an ICC colour profile is made for, and a grey profile's tone curve in sRGB.

A profile describes one kind of pixels (ICC's data colour space, in its header: RGB, GRAY,
CMYK, Lab...). Written into a file of another kind it makes the file invalid (libpng warns;
Qt and LittleCMS refuse the profile), and applied to pixels of another kind it means
nothing; both the screen (:mod:`glare_core.screen_colour`) and the writer
(:mod:`glare_core.imageio`) follow that one rule.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms

from glare_core.eight_bit import EIGHT_BIT_MAX

#: where a profile's header names its data colour space, and the two that photos carry
_SPACE_FIELD = slice(16, 20)
GREY_SPACE, COLOUR_SPACE = b"GRAY", b"RGB "


def colour_space(profile: bytes) -> str:
    """The data colour space ``profile`` is made for: "RGB", "GRAY", "CMYK", "Lab"..."""
    return profile[_SPACE_FIELD].decode("ascii", errors="replace").strip() or "unnamed"


def describes(profile: bytes, grey: bool) -> bool:
    """Whether ``profile`` is made for grey pixels (``grey``) or for RGB ones."""
    return profile[_SPACE_FIELD] == (GREY_SPACE if grey else COLOUR_SPACE)


def opened(profile: bytes) -> ImageCms.ImageCmsProfile:
    """``profile`` parsed by LittleCMS; ImageCms.PyCMSError or OSError if it is damaged."""
    return ImageCms.ImageCmsProfile(io.BytesIO(profile))


def to_srgb(
    source: ImageCms.ImageCmsProfile, mode: str, flags: ImageCms.Flags = ImageCms.Flags.NONE
) -> ImageCms.ImageCmsTransform:
    """LittleCMS's transform from ``source`` (pixels of ``mode``, "RGB" or "L") to sRGB."""
    return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode, "RGB", flags=flags)


def applied(transform: ImageCms.ImageCmsTransform, pixels: np.ndarray) -> np.ndarray:
    """uint8 ``pixels`` through ``transform``, as a writable uint8 array."""
    return np.array(ImageCms.applyTransform(Image.fromarray(pixels), transform))


def grey_curve(profile: bytes) -> np.ndarray:
    """A grey ``profile``'s 256 levels as sRGB colours (a 256x3 uint8 table): its tone curve,
    and the white point it adapts to sRGB's."""
    ramp = np.arange(EIGHT_BIT_MAX + 1, dtype=np.uint8)[np.newaxis]
    # unoptimised: LittleCMS's 8-bit shortcut is 7 levels off in a linear curve's shadows
    exact = to_srgb(opened(profile), "L", ImageCms.Flags.NOOPTIMIZE)
    return applied(exact, ramp)[0]
