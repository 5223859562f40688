"""TIFF pictures Pillow cannot decode, read with tifffile.

Pillow opens most TIFFs, but not 16-bit grey with alpha, nor floating-point or 32-bit
integer colour, and it decodes 16-bit colour stored as separate planes wrongly. This module
reads the first page of such a file into float pixels in [0, 1] with its alpha and tags;
:mod:`glare_core.imageio` turns that into a photo with its metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from glare_core.eight_bit import from_unsigned
from glare_core.errors import ImageReadError, one_line

#: the first bytes of a TIFF file, little- and big-endian (classic and BigTIFF)
_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: the layouts read, by photometric interpretation (black at 0): Pillow's mode names for
#: them without and with alpha
_MODES = {
    tifffile.PHOTOMETRIC.MINISBLACK: ("L", "LA"),
    tifffile.PHOTOMETRIC.RGB: ("RGB", "RGBA"),
}
#: sample types read: unsigned integers, and floating point from black at 0 to white at 1
_SAMPLE_KINDS = frozenset({"u", "f"})
_ALPHA_SAMPLES = frozenset({tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA})
#: the resolution tags, and how many of their units make an inch
_X_RESOLUTION, _Y_RESOLUTION, _RESOLUTION_UNIT = 282, 283, 296
_UNITS_PER_INCH = {tifffile.RESUNIT.INCH: 1.0, tifffile.RESUNIT.CENTIMETER: 2.54}
#: what tifffile says when a compression (LZW, a predictor) needs a package it lacks
_MISSING_CODECS = "imagecodecs"
_EIGHT_BITS, _SIXTEEN_BITS = 8, 16


@dataclass(frozen=True)
class TiffPicture:
    """The first page of a TIFF, upright as stored (orientation not applied)."""

    colour: np.ndarray  #: float32 HxW (grey) or HxWx3, in [0, 1], divided by a premultiplied alpha
    alpha: np.ndarray | None  #: float32 HxW in [0, 1]
    mode: str  #: Pillow's name for the layout: "L", "LA", "RGB" or "RGBA"
    bit_depth: int  #: 8, or 16 for anything deeper (floating point, 32-bit integers)
    tags: dict[int, object]  #: the page's tags by number
    pages: int


def is_tiff(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(_SIGNATURES[0])) in _SIGNATURES


def read_first_page(path: Path, check_size: Callable[[int, int], None]) -> TiffPicture:
    """The first page of the TIFF at ``path``; :class:`ImageReadError` with a one-line reason
    for a damaged file or a layout not read here. ``check_size(width, height)`` may refuse
    the picture before it is decoded."""
    try:
        with tifffile.TiffFile(path) as tiff:
            if not tiff.pages:
                raise ImageReadError(f"{path}: damaged TIFF (no picture in it)")
            page = tiff.pages.first
            mode = _mode(page, path)
            check_size(page.imagewidth, page.imagelength)
            pixels = _decoded(page, path)
            tags = {tag.code: tag.value for tag in page.tags.values()}
            pages = len(tiff.pages)
    except MemoryError as error:
        raise ImageReadError(f"{path}: not enough memory to decode it") from error
    except (tifffile.TiffFileError, OSError, ValueError, KeyError, IndexError) as error:
        raise ImageReadError(f"{path}: damaged or unsupported TIFF ({one_line(error)})") from error
    if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and pixels.ndim == 3:
        pixels = np.moveaxis(pixels, 0, -1)  # samples first: (channels, height, width)
    colour, alpha = _planes(pixels, mode, page.extrasamples)
    bit_depth = _EIGHT_BITS if pixels.dtype == np.uint8 else _SIXTEEN_BITS
    return TiffPicture(colour, alpha, mode, bit_depth, tags, pages)


def resolution(tags: dict[int, object]) -> tuple[float, float] | None:
    """Dots per inch from a page's resolution tags; None where they name none."""
    unit = _UNITS_PER_INCH.get(tags.get(_RESOLUTION_UNIT, tifffile.RESUNIT.INCH))
    values = [_rational(tags.get(tag)) for tag in (_X_RESOLUTION, _Y_RESOLUTION)]
    if unit is None or not all(values):
        return None
    horizontal, vertical = (value * unit for value in values)
    return horizontal, vertical


def unpremultiplied(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour stored multiplied by its alpha (TIFF's associated alpha), divided back."""
    covered = alpha if colour.ndim == alpha.ndim else alpha[..., np.newaxis]
    divided = np.divide(colour, covered, out=np.zeros_like(colour), where=covered > 0)
    return np.clip(divided, 0.0, 1.0)


def is_associated_alpha(extra_samples: object) -> bool:
    """Whether a TIFF's ExtraSamples value says its first extra sample is premultiplied."""
    first = extra_samples[0] if isinstance(extra_samples, tuple | list) else extra_samples
    return first == tifffile.EXTRASAMPLE.ASSOCALPHA


def _mode(page: tifffile.TiffPage, path: Path) -> str:
    """The Pillow mode that names ``page``'s layout; refuses layouts read as something else."""
    modes = _MODES.get(page.photometric)
    if modes is None or page.dtype is None or page.dtype.kind not in _SAMPLE_KINDS:
        kind = getattr(page.photometric, "name", page.photometric)
        raise ImageReadError(f"{path}: unsupported TIFF ({kind}, {page.dtype} samples)")
    plain, with_alpha = modes
    return with_alpha if page.extrasamples and page.extrasamples[0] in _ALPHA_SAMPLES else plain


def _decoded(page: tifffile.TiffPage, path: Path) -> np.ndarray:
    try:
        return page.asarray()
    except ValueError as error:
        if _MISSING_CODECS not in str(error):
            raise
        compression = getattr(page.compression, "name", page.compression)
        raise ImageReadError(
            f"{path}: its compression ({compression}) needs the optional imagecodecs package "
            "(pip install imagecodecs), or save it uncompressed"
        ) from error


def _planes(
    pixels: np.ndarray, mode: str, extra: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour and alpha in [0, 1]; other extra samples (depth, masks) are left out."""
    if pixels.dtype.kind == "f":
        values = np.clip(np.nan_to_num(pixels.astype(np.float32)), 0.0, 1.0)
    else:
        values = from_unsigned(pixels)
    if values.ndim == 2:
        return values, None
    colour_channels = 1 if mode.startswith("L") else 3
    colour = values[..., 0] if colour_channels == 1 else values[..., :colour_channels]
    if not mode.endswith("A"):
        return np.ascontiguousarray(colour), None
    alpha = values[..., colour_channels]
    if is_associated_alpha(extra):
        colour = unpremultiplied(colour, alpha)
    return colour, alpha


def _rational(value: object) -> float | None:
    """A TIFF rational (numerator, denominator) as a positive number, or None."""
    if isinstance(value, tuple) and len(value) == 2 and value[1]:
        number = value[0] / value[1]
    elif isinstance(value, int | float):
        number = float(value)
    else:
        return None
    return number if number > 0 and np.isfinite(number) else None
