"""Reading and writing photos without losing pixels, alpha, bit depth or metadata.

Decoding and encoding are Pillow's, OpenCV's and tifffile's; this module only picks
the right one and moves metadata across:

* Pillow reads every format and all 8-bit and 16-bit grey pixels. Pillow reduces
  16-bit colour to 8 bits, so 16-bit colour PNG/TIFF pixels are decoded by OpenCV.
  TIFFs Pillow cannot open at all (16-bit grey with alpha, floating-point colour) are
  decoded by tifffile (:mod:`glare_core.tiff_reader`).
* EXIF orientation is applied to the pixels (and the alpha) on read, and the EXIF
  kept on :class:`LoadedImage` says orientation 1 so nothing is rotated twice.
* CMYK is converted to sRGB on read (through its ICC profile when it has one); the
  CMYK profile is then dropped because it no longer describes the pixels.
* Writes are atomic (:mod:`glare_core.atomic`). The output keeps the source's
  greyness, alpha and bit depth where the format can hold them, plus its EXIF, ICC
  profile, XMP, DPI and PNG text where the format and encoder support them.

HEIC/HEIF is readable when the optional ``pillow-heif`` package is installed.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import re
import struct
import sys
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageCms, PngImagePlugin, UnidentifiedImageError
from PIL.ExifTags import IFD, Base

from glare_core import icc
from glare_core.atomic import atomic_write
from glare_core.eight_bit import from_uint8, from_unsigned, to_unsigned
from glare_core.errors import ImageReadError, ImageWriteError, ResultExistsError, one_line
from glare_core.exposure import LUMA_WEIGHTS
from glare_core.limits import DEFAULT_QUALITY
from glare_core.tiff_reader import (
    is_associated_alpha,
    is_tiff,
    read_first_page,
    resolution,
    unpremultiplied,
)

logger = logging.getLogger(__name__)

try:  # optional: HEIC/HEIF from phones
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:
    HEIF_AVAILABLE = False

#: pixels (width x height) above which an image is refused as a possible decompression bomb
DEFAULT_MAX_PIXELS = 100_000_000

FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "PNG": (".png",),
    "JPEG": (".jpg", ".jpeg", ".jpe"),
    "TIFF": (".tif", ".tiff"),
    "WEBP": (".webp",),
    "BMP": (".bmp",),
    "HEIF": (".heic", ".heif"),
}
READ_FORMATS: frozenset[str] = frozenset(
    name for name in FORMAT_EXTENSIONS if name != "HEIF" or HEIF_AVAILABLE
)
WRITE_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "WEBP")
#: lower-case file extensions :func:`read_image` accepts (used by folder scans and file dialogs)
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    extension for name in READ_FORMATS for extension in FORMAT_EXTENSIONS[name]
)


def heic_reader_missing(frozen: bool) -> str:
    """Why a HEIC photo cannot be read without pillow-heif, and what to do: in a desktop
    build (``frozen``, PyInstaller's bundle) there is no pip to install it with."""
    if frozen:
        return "HEIC photos are not read by this desktop build: convert them to JPEG"
    return "HEIC photos need the optional pillow-heif (pip install 'glare-studio[heic]')"


#: lower-case extensions of photo formats that an optional package reads, with what to do
UNREADABLE_EXTENSIONS: dict[str, str] = (
    {}
    if HEIF_AVAILABLE
    else dict.fromkeys(
        FORMAT_EXTENSIONS["HEIF"], heic_reader_missing(getattr(sys, "frozen", False))
    )
)
#: picture formats neither read nor written here that a user may still name a result with
#: (other extensions of Pillow's, such as .ps or .h5, name folders as well)
_OTHER_PICTURE_EXTENSIONS = frozenset(
    {".gif", ".apng", ".avif", ".jxl", ".jp2", ".j2k", ".ico", ".psd", ".tga", ".qoi", ".jfif"}
    # cameras' raw files
    | {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw"}
)
#: output format for inputs whose format cannot be written: BMP is lossless, HEIF lossy
_WRITE_SUBSTITUTES = {"BMP": "PNG", "HEIF": "JPEG"}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "HEIC": "HEIF"}
#: what Pillow names some files that are read as another format: cameras and phones store
#: JPEGs with previews or depth maps appended (MPF), which Pillow opens as "MPO"; the first
#: picture is the photo
_READ_AS = {"MPO": "JPEG"}

_SIXTEEN_BIT_MAX = 65535
_ORIENTATION_TAG = 0x0112
#: EXIF PixelXDimension and PixelYDimension: the width and height of the picture
_PIXEL_DIMENSION_TAGS = (0xA002, 0xA003)
_UPRIGHT = 1
#: EXIF orientations run from 1 (upright) to 8
_LAST_ORIENTATION = 8
#: the TIFF tag of each channel's bits, and the depth read through OpenCV
_BITS_PER_SAMPLE = 258
_SIXTEEN_BITS = 16
_EIGHT_BITS = 8
#: the TIFF tag that says whether channels are interleaved (1) or stored as planes (2)
_PLANAR_CONFIGURATION = 284
_SEPARATE_PLANES = 2
#: the TIFF tag that says what a channel beyond the colour ones holds (alpha, and which)
_EXTRA_SAMPLES = 338
#: the tags of a TIFF's first directory that describe the photo rather than lay out its
#: pixels: the only ones carried as EXIF, since Pillow reads the whole directory, strip
#: offsets and sample layout included, and a result written with the source's layout is
#: unreadable
_TIFF_TEXT_TAGS = (
    Base.ImageDescription,
    Base.Make,
    Base.Model,
    Base.Software,
    Base.DateTime,
    Base.Artist,
    Base.HostComputer,
    Base.Copyright,
)
_TIFF_DESCRIPTIVE_TAGS = (
    *_TIFF_TEXT_TAGS,  # the ones a 16-bit TIFF result carries (tifffile writes those alone)
    Base.Orientation,
    Base.XPTitle,
    Base.XPComment,
    Base.XPAuthor,
    Base.XPKeywords,
    Base.XPSubject,
)
_TIFF_SUB_DIRECTORIES = (IFD.Exif, IFD.GPSInfo)
#: Pillow's modes for one-channel images ("I" is how older Pillow opened 16-bit grey PNG)
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_SIXTEEN_BIT_GREY_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
#: 32-bit float grey (scientific and merged-exposure TIFFs), whose values run from black at 0
#: to white at 1; their results are written in 16 bits, the most that is written
_FLOAT_GREY_MODE = "F"
#: deep modes that Pillow decodes itself (OpenCV decodes deep colour)
_DEEP_GREY_MODES = _SIXTEEN_BIT_GREY_MODES | {_FLOAT_GREY_MODE}
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
#: the image description tifffile writes: the array's shape, which another layout contradicts
_TIFFFILE_SHAPE = re.compile(r'\{\s*"shape"\s*:')
#: JPEG quality from which chroma is kept at full resolution (4:4:4)
_FULL_CHROMA_QUALITY = 90
#: the most a JPEG marker segment holds after its length, and the name an XMP segment starts with
_JPEG_MARKER_BYTES = 65533
_JPEG_XMP_NAMESPACE = b"http://ns.adobe.com/xap/1.0/\x00"
_PNG_SIGNATURE_AND_IHDR = 8 + 4 + 4 + 13 + 4
_EXIF_HEADER = b"Exif\x00\x00"
_PNG_XMP_KEY = "XML:com.adobe.xmp"
_PNG_MAX_KEYWORD = 79
_PNG_UNIT_METRE = 1
_INCHES_PER_METRE = 0.0254
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)\d')


@dataclass
class LoadedImage:
    """A decoded photo plus what is needed to write its result back faithfully."""

    rgb: np.ndarray  #: float32 HxWx3 RGB in [0, 1], EXIF orientation applied
    alpha: np.ndarray | None  #: float32 HxW in [0, 1], carried through unchanged
    mode: str  #: source PIL mode: "RGB", "L", "RGBA", "I;16", "CMYK", "P", ...
    bit_depth: int  #: 8 or 16
    format: str  #: "PNG", "JPEG", "TIFF", "WEBP", "BMP" (or "HEIF")
    exif: bytes | None  #: with orientation reset to 1, since ``rgb`` is already upright
    icc_profile: bytes | None
    path: Path | None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    text: dict[str, str] = field(default_factory=dict)  #: PNG text chunks

    @property
    def is_grey(self) -> bool:
        return self.mode in _GREY_MODES


def normalize_format(name: str) -> str | None:
    """Canonical Pillow format name for ``name`` ("jpg" -> "JPEG"), or None if unknown."""
    upper = name.strip().lstrip(".").upper()
    upper = _FORMAT_ALIASES.get(upper, upper)
    return upper if upper in FORMAT_EXTENSIONS else None


def format_from_extension(path: str | Path) -> str | None:
    """The format a file name's extension stands for, or None."""
    suffix = Path(path).suffix.lower()
    return next((name for name, exts in FORMAT_EXTENSIONS.items() if suffix in exts), None)


def names_a_picture(path: str | Path) -> bool:
    """Whether ``path``'s extension is a picture's: one read here, another common picture
    format or a camera's raw file; ``out.gif`` is a file's name, not a folder's."""
    suffix = Path(path).suffix.lower()
    return format_from_extension(path) is not None or suffix in _OTHER_PICTURE_EXTENSIONS


def writable_format(name: str) -> str:
    """``name`` if it can be written, else the format its results are saved in."""
    return _WRITE_SUBSTITUTES.get(name, name)


def extension_for(format_name: str) -> str:
    """The usual file extension of a format (".png", ".jpg", ...)."""
    return FORMAT_EXTENSIONS[format_name][0]


# --------------------------------------------------------------------------- reading


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode ``path``; raise :class:`ImageReadError` with a one-line reason on any failure."""
    path = Path(path)
    _check_is_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _open_and_decode(path, max_pixels)
        finally:
            _log_decoder_warnings(caught, path)


def _log_decoder_warnings(caught: list[warnings.WarningMessage], path: Path) -> None:
    """Pillow's warnings about the file ("Corrupt EXIF data", user warnings) as log lines
    naming the photo, once each, not as Python warnings on stderr; any other warning is
    issued again, as it would have been without the recording."""
    messages = set()
    for warning in caught:
        if issubclass(warning.category, Image.DecompressionBombWarning):
            continue  # Pillow's bomb warning fires below our limit; max_pixels is the rule
        if issubclass(warning.category, UserWarning):
            messages.add(one_line(warning.message))
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    for message in sorted(messages):
        logger.warning("%s: %s", path, message)


def _open_and_decode(path: Path, max_pixels: int) -> LoadedImage:
    try:
        # from a handle, not the path: Pillow maps an uncompressed TIFF strip from a path into
        # memory and then skips turning it upright (Pillow 13: a grey or RGBA TIFF with
        # orientation 6 came out as stripes)
        with path.open("rb") as handle, Image.open(handle) as image:
            _check_format(image, path)
            _check_size(path, *image.size, max_pixels)
            return _decode(image, path)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageReadError(f"{path}: refused, too many pixels ({error})") from error
    except UnidentifiedImageError as error:
        if is_tiff(path):
            return _decode_with_tifffile(path, max_pixels)
        if missing := UNREADABLE_EXTENSIONS.get(path.suffix.lower()):
            raise ImageReadError(f"{path}: {missing}") from error
        raise ImageReadError(f"{path}: not an image, or not a supported format") from error
    except PermissionError as error:
        raise ImageReadError(f"{path}: permission denied") from error
    except MemoryError as error:
        raise ImageReadError(f"{path}: not enough memory to decode it") from error
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
        raise ImageReadError(f"{path}: damaged or truncated image ({error})") from error


def _check_is_file(path: Path) -> None:
    try:
        if not path.exists():
            raise ImageReadError(f"{path}: file not found")
        if not path.is_file():
            raise ImageReadError(f"{path}: not a file")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
    except OSError as error:  # the system will not look: a name too long, a locked folder
        raise ImageReadError(f"{path}: cannot look at it ({error.strerror or error})") from error


def _format(image: Image.Image) -> str:
    return _READ_AS.get(image.format or "", image.format or "")


def _check_format(image: Image.Image, path: Path) -> None:
    if _format(image) not in READ_FORMATS:
        raise ImageReadError(f"{path}: {image.format} images are not supported")
    # an MPO's further pictures are the camera's previews and depth maps, not photos
    if image.format not in _READ_AS:
        _note_first_picture_only(path, getattr(image, "n_frames", 1))


def _note_first_picture_only(path: Path, pictures: int) -> None:
    if pictures > 1:
        logger.warning("%s holds %d pages or frames: only the first is enhanced", path, pictures)


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        megapixels = width * height / 1e6
        raise ImageReadError(
            f"{path}: refused, {width}x{height} ({megapixels:.0f} MP) is over the "
            f"{max_pixels / 1e6:.0f} MP limit (possible decompression bomb)"
        )


def _decode(image: Image.Image, path: Path) -> LoadedImage:
    bit_depth = _source_bit_depth(image)
    if bit_depth == _SIXTEEN_BITS and _has_separate_planes(image):
        # OpenCV reads them as interleaved; the size was checked from Pillow's header
        picture = read_first_page(path, check_size=lambda width, height: None)
        colour, alpha = picture.colour, picture.alpha
    elif bit_depth == _SIXTEEN_BITS and image.mode not in _DEEP_GREY_MODES:
        colour, alpha = _planes_from_opencv(path)
        if alpha is not None and _has_associated_alpha(image):
            colour = unpremultiplied(colour, alpha)
    else:
        image.load()  # Pillow turns a TIFF upright as it loads it, and drops its orientation
        colour, alpha = _planes_from_pillow(image, path)
    exif = image.getexif()
    if image.format == "TIFF":
        exif = _descriptive_tags(exif)
    orientation = _orientation(exif, path)
    if (
        orientation != _UPRIGHT
        and image.format == "TIFF"
        and _upright_as_pillow(colour, orientation, image)
    ):
        orientation = _UPRIGHT
    rgb, alpha = _upright(colour, alpha, orientation)
    # a TIFF's tags are rebuilt from its descriptive ones; other files' EXIF may go as read
    as_stored = None if image.format == "TIFF" else (image.info.get("exif") or exif.tobytes())
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        mode=image.mode,
        bit_depth=bit_depth,
        format=_format(image),
        exif=_upright_exif(exif, (rgb.shape[1], rgb.shape[0]), as_stored),
        icc_profile=None if image.mode == "CMYK" else image.info.get("icc_profile"),
        path=path,
        xmp=_upright_xmp(image.info.get("xmp")),
        dpi=_dpi(image),
        text=_png_text(image),
    )


def _upright(
    colour: np.ndarray, alpha: np.ndarray | None, orientation: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The photo's RGB and alpha, turned upright by its EXIF ``orientation``."""
    rgb = _as_rgb(_apply_orientation(colour, orientation))
    if alpha is not None:
        alpha = np.ascontiguousarray(_apply_orientation(alpha, orientation))
    return rgb, alpha


def _decode_with_tifffile(path: Path, max_pixels: int) -> LoadedImage:
    """A TIFF that Pillow cannot open (16-bit grey with alpha, floating-point colour):
    its first page's pixels, orientation, descriptive tags, resolution, colour profile and
    XMP."""
    picture = read_first_page(path, lambda *size: _check_size(path, *size, max_pixels))
    _note_first_picture_only(path, picture.pages)
    exif = _descriptive_tags(picture.tags)
    orientation = _orientation(exif, path)
    rgb, alpha = _upright(picture.colour, picture.alpha, orientation)
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        mode=picture.mode,
        bit_depth=picture.bit_depth,
        format="TIFF",
        exif=_upright_exif(exif, (rgb.shape[1], rgb.shape[0]), None),
        icc_profile=picture.tags.get(tifffile.TIFF.TAGS["InterColorProfile"]),
        path=path,
        xmp=_upright_xmp(picture.tags.get(tifffile.TIFF.TAGS["XMP"])),
        dpi=resolution(picture.tags),
    )


def _orientation(exif: Image.Exif, path: Path) -> int:
    """The EXIF orientation, 1 to 8; upright for a value no camera writes (the photo is fine)."""
    value = exif.get(_ORIENTATION_TAG, _UPRIGHT)
    if isinstance(value, int) and _UPRIGHT <= value <= _LAST_ORIENTATION:
        return value
    logger.warning("%s: EXIF orientation %r is not one of 1 to 8; taken as upright", path, value)
    return _UPRIGHT


def _source_bit_depth(image: Image.Image) -> int:
    """16 when the file stores 16 bits per sample, even where Pillow would decode 8."""
    if image.mode in _DEEP_GREY_MODES:
        return _SIXTEEN_BITS
    # a TIFF of separate 16-bit planes has 8-bit raw modes in Pillow (and decodes wrongly)
    if image.format == "TIFF" and _SIXTEEN_BITS in _as_tuple(image.tag_v2.get(_BITS_PER_SAMPLE)):
        return _SIXTEEN_BITS
    # Pillow names the file's sample layout in its decoder "raw mode" ("RGB;16B", ...).
    decoder_args = image.tile[0].args if image.tile else None
    raw_mode = decoder_args[0] if isinstance(decoder_args, tuple) else decoder_args
    return _SIXTEEN_BITS if isinstance(raw_mode, str) and ";16" in raw_mode else _EIGHT_BITS


def _as_tuple(value: object) -> tuple:
    """A TIFF tag's value as a tuple (Pillow gives one number for a single value)."""
    if value is None:
        return ()
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _has_associated_alpha(image: Image.Image) -> bool:
    """A TIFF whose alpha is premultiplied into its colour (Pillow's 8-bit "RGBa")."""
    return image.format == "TIFF" and is_associated_alpha(image.tag_v2.get(_EXTRA_SAMPLES))


def _has_separate_planes(image: Image.Image) -> bool:
    return image.format == "TIFF" and image.tag_v2.get(_PLANAR_CONFIGURATION) == _SEPARATE_PLANES


def _planes_from_opencv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    # imdecode from bytes: cv2.imread cannot open non-ASCII paths on Windows.
    pixels = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageReadError(f"{path}: damaged or truncated image (OpenCV could not decode it)")
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(
            pixels, cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
        )
    return _colour_and_alpha(from_unsigned(pixels))


def _colour_and_alpha(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB (or grey) pixels, and the alpha channel of RGBA ones."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return pixels[..., :3], pixels[..., 3]
    return pixels, None


def _upright_as_pillow(colour: np.ndarray, orientation: int, image: Image.Image) -> bool:
    """Whether OpenCV has turned a 16-bit TIFF upright by its orientation tag already.

    Some versions (5.x) do so as they decode it, whatever the flags say, as Pillow always
    does; the orientation must be applied once. Pillow's decoding of the same file (to 8
    bits) is upright: OpenCV's pixels are when they lie nearer to it than the same pixels
    turned. (Nearer, not within a level or two: Pillow un-premultiplies associated alpha at
    8 bits, levels off where alpha is low. A picture that looks the same turned comes out
    the same either way.)
    """
    upright = from_uint8(np.asarray(image.convert("RGB")))
    decoded = _as_rgb(colour)
    turned = _apply_orientation(decoded, orientation)
    if decoded.shape[:2] != turned.shape[:2]:  # a quarter turn: the shape tells
        return decoded.shape[:2] == upright.shape[:2]
    as_decoded = np.abs(decoded[..., :3] - upright).mean()
    return bool(as_decoded <= np.abs(turned[..., :3] - upright).mean())


def _planes_from_pillow(image: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if image.mode in _SIXTEEN_BIT_GREY_MODES:
        values = np.asarray(image).astype(np.float32)
        return np.clip(values, 0, _SIXTEEN_BIT_MAX) / np.float32(_SIXTEEN_BIT_MAX), None
    if image.mode == _FLOAT_GREY_MODE:
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        return np.clip(values, 0.0, 1.0), None
    if image.mode == "CMYK":
        image = _cmyk_to_rgb(image, path)
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    target_mode = ("LA" if has_alpha else "L") if image.mode in _GREY_MODES else "RGB"
    if target_mode == "RGB" and has_alpha:
        target_mode = "RGBA"
    values = from_uint8(np.asarray(image.convert(target_mode)))
    if not has_alpha:
        return values, None
    colour = values[..., 0] if target_mode == "LA" else values[..., :3]
    return colour, values[..., -1]


def _cmyk_to_rgb(image: Image.Image, path: Path) -> Image.Image:
    profile = image.info.get("icc_profile")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            logger.info("%s: CMYK converted to sRGB through its ICC profile", path)
            return converted
        except (ImageCms.PyCMSError, OSError) as error:
            logger.warning("%s: CMYK profile unusable (%s); plain conversion", path, error)
    logger.info("%s: CMYK converted to RGB (no colour profile)", path)
    return image.convert("RGB")


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` upright (works on HxW and HxWxC)."""
    swap = (1, 0, *range(2, pixels.ndim))
    upright = {
        2: lambda p: p[:, ::-1],
        3: lambda p: p[::-1, ::-1],
        4: lambda p: p[::-1],
        5: lambda p: p.transpose(swap),
        6: lambda p: p.transpose(swap)[:, ::-1],
        7: lambda p: p[::-1, ::-1].transpose(swap),
        8: lambda p: p.transpose(swap)[::-1],
    }
    return upright.get(orientation, lambda p: p)(pixels)


def _as_rgb(colour: np.ndarray) -> np.ndarray:
    if colour.ndim == 2:
        colour = np.repeat(colour[..., np.newaxis], 3, axis=2)
    return np.ascontiguousarray(colour, dtype=np.float32)


def _descriptive_tags(directory: Image.Exif | dict[int, object]) -> Image.Exif:
    """The tags of a TIFF's first ``directory`` that can travel as EXIF to another file
    (Pillow's, with its sub-directories, or tifffile's values by tag number)."""
    kept = Image.Exif()
    for tag in _TIFF_DESCRIPTIVE_TAGS:
        if tag in directory:
            kept[tag] = directory[tag]
    if _TIFFFILE_SHAPE.match(str(kept.get(Base.ImageDescription, ""))):
        del kept[Base.ImageDescription]  # tifffile's record of this file's array layout
    if isinstance(directory, Image.Exif):
        for sub_directory in _TIFF_SUB_DIRECTORIES:
            if tags := directory.get_ifd(sub_directory):
                kept[sub_directory] = tags
    return kept


def _upright_exif(exif: Image.Exif, size: tuple[int, int], as_stored: bytes | None) -> bytes | None:
    """The EXIF a result of ``size`` (width, height, upright) carries: orientation 1, its own
    pixel dimensions, and no thumbnail (the original's, dark, would stand for the result in
    file browsers). Pillow writes EXIF without its thumbnail directory; an upright photo
    without either to change keeps its EXIF ``as_stored`` byte for byte, where given."""
    if not exif:
        return None
    resized = _with_pixel_dimensions(exif, size)
    if (
        # the tag as stored: one no camera writes (read as upright) is written as 1 too
        exif.get(_ORIENTATION_TAG, _UPRIGHT) == _UPRIGHT
        and as_stored is not None
        and not resized
        and not exif.get_ifd(IFD.IFD1)
    ):
        # Pillow reads a WebP's EXIF without the header a JPEG's segment must start with
        return _EXIF_HEADER + as_stored.removeprefix(_EXIF_HEADER)
    exif[_ORIENTATION_TAG] = _UPRIGHT
    return exif.tobytes()


def _with_pixel_dimensions(exif: Image.Exif, size: tuple[int, int]) -> bool:
    """Set the EXIF pixel dimensions, where the photo names them, to ``size``; True if they
    changed (a turned photo's are the other way round)."""
    details = exif.get_ifd(IFD.Exif)
    named = {
        tag: value for tag, value in zip(_PIXEL_DIMENSION_TAGS, size, strict=True) if tag in details
    }
    changed = any(details[tag] != value for tag, value in named.items())
    details.update(named)
    return changed


def _upright_xmp(xmp: bytes | str | None) -> bytes | None:
    if not xmp:
        return None
    data = xmp.encode() if isinstance(xmp, str) else xmp
    return _XMP_ORIENTATION.sub(rb"tiff:Orientation\g<1>1", data)


def _dpi(image: Image.Image) -> tuple[float, float] | None:
    """The photo's resolution, or None where it names none that can be written (a TIFF's 0/0
    reads as NaN)."""
    dpi = image.info.get("dpi")
    if not dpi:
        return None
    horizontal, vertical = float(dpi[0]), float(dpi[1])
    usable = all(math.isfinite(value) and value > 0 for value in (horizontal, vertical))
    return (horizontal, vertical) if usable else None


def _png_text(image: Image.Image) -> dict[str, str]:
    if image.format != "PNG":
        return {}
    texts = getattr(image, "text", {}) or {}
    return {key: str(value) for key, value in texts.items() if key != _PNG_XMP_KEY}


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _Layout:
    grey: bool  #: the result is written as its luma
    alpha: bool
    bit_depth: int
    grey_file: bool  #: ... in a grey file (a WebP holds colour alone)


def write_image(
    path: str | Path,
    rgb: np.ndarray,
    source: LoadedImage | None = None,
    format: str | None = None,  # noqa: A002 - the agreed interface's name
    quality: int = DEFAULT_QUALITY,
    replace: bool = True,
) -> None:
    """Write ``rgb`` (float HxWx3 in [0, 1]) atomically, in the shape of ``source``.

    ``format`` defaults to the one ``path``'s extension names. Raises
    :class:`ImageWriteError` with a one-line reason; with ``replace`` false,
    :class:`ResultExistsError` where ``path`` exists when the file is complete.
    """
    path = Path(path)
    format_name = _resolve_write_format(path, format)
    _check_not_source(path, source)
    _check_pixels(path, rgb, source)
    layout = _layout(format_name, source)
    pixels = _compose(rgb, source.alpha if source else None, layout)
    source, pixels = _with_fitting_profile(source, pixels, layout, format_name)
    try:
        with atomic_write(path, replace=replace) as temp:
            _encode(temp, pixels, format_name, layout, source, quality)
    except FileExistsError as error:
        raise ResultExistsError(f"{path}: appeared while it was being made; kept") from error
    except OSError as error:
        raise ImageWriteError(f"{path}: cannot write ({error.strerror or error})") from error
    except (ValueError, TypeError, RuntimeError, cv2.error) as error:
        raise ImageWriteError(f"{path}: encoder failed ({error})") from error


def _resolve_write_format(path: Path, requested: str | None) -> str:
    name = normalize_format(requested) if requested else format_from_extension(path)
    if name not in WRITE_FORMATS:
        wanted = requested or path.suffix or "(no extension)"
        choices = ", ".join(WRITE_FORMATS)
        raise ImageWriteError(f"{path}: cannot write format {wanted}; choose one of {choices}")
    return name


def _check_not_source(path: Path, source: LoadedImage | None) -> None:
    if source is None or source.path is None or not path.exists():
        return
    if path.samefile(source.path):
        raise ImageWriteError(f"{path}: refusing to overwrite the input photo")


def _check_pixels(path: Path, rgb: np.ndarray, source: LoadedImage | None) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageWriteError(f"{path}: expected an HxWx3 RGB array, got shape {rgb.shape}")
    # 8-bit values read as [0, 1] came out nearly white, and NaN black: both silently
    if not np.issubdtype(rgb.dtype, np.floating):
        raise ImageWriteError(
            f"{path}: expected float values in [0, 1], got {rgb.dtype} "
            "(divide 8-bit values by 255, 16-bit ones by 65535)"
        )
    if not np.isfinite(rgb).all():
        raise ImageWriteError(f"{path}: the result holds values that are not finite numbers")
    alpha = source.alpha if source else None
    if alpha is not None and alpha.shape != rgb.shape[:2]:
        raise ImageWriteError(
            f"{path}: result size {rgb.shape[:2]} differs from the alpha's {alpha.shape}"
        )


def _layout(format_name: str, source: LoadedImage | None) -> _Layout:
    sixteen_bit = source is not None and source.bit_depth == _SIXTEEN_BITS
    keeps_alpha = source is not None and source.alpha is not None and format_name != "JPEG"
    if source is not None and source.alpha is not None and not keeps_alpha:
        logger.warning("JPEG has no alpha channel: the transparency of %s is dropped", source.path)
    return _Layout(
        grey=source is not None and source.is_grey,
        alpha=keeps_alpha,
        bit_depth=_SIXTEEN_BITS if sixteen_bit and format_name in ("PNG", "TIFF") else _EIGHT_BITS,
        grey_file=source is not None and source.is_grey and format_name != "WEBP",
    )


def _with_fitting_profile(
    source: LoadedImage | None, pixels: np.ndarray, layout: _Layout, format_name: str
) -> tuple[LoadedImage | None, np.ndarray]:
    """``source`` and ``pixels``, less a colour profile the result's file cannot carry (a
    grey profile in a colour file, or a colour one in a grey file: glare_core/icc.py). A grey
    photo's grey profile in a WebP, which holds no grey, goes into the pixels instead: each
    level becomes the sRGB colour the profile gives it, so that the file looks as the photo's
    result does."""
    if (
        source is None
        or not source.icc_profile
        or icc.describes(source.icc_profile, layout.grey_file)
    ):
        return source, pixels
    left_out = dataclasses.replace(source, icc_profile=None)
    if layout.grey and icc.describes(source.icc_profile, grey=True):
        try:
            curve = icc.grey_curve(source.icc_profile)
        except (ImageCms.PyCMSError, OSError) as error:
            logger.warning("%s: grey colour profile unusable (%s)", source.path, error)
        else:
            coloured = curve[pixels if pixels.ndim == 2 else pixels[..., 0]]
            if pixels.ndim == 3:  # grey + alpha
                coloured = np.concatenate([coloured, pixels[..., 1:]], axis=2)
            return left_out, coloured
    logger.warning(
        "%s: its %s colour profile cannot describe a %s %s file; the result is saved without it",
        source.path,
        icc.colour_space(source.icc_profile),
        "grey" if layout.grey_file else "colour",
        format_name,
    )
    return left_out, pixels


def _compose(rgb: np.ndarray, alpha: np.ndarray | None, layout: _Layout) -> np.ndarray:
    """Integer pixels: HxW grey, HxWx2 grey+alpha, HxWx3 RGB or HxWx4 RGBA."""
    colour = rgb.astype(np.float32, copy=False)
    if layout.grey:
        colour = colour @ LUMA_WEIGHTS
    planes = colour if colour.ndim == 3 else colour[..., np.newaxis]
    if layout.alpha and alpha is not None:
        planes = np.concatenate([planes, alpha[..., np.newaxis]], axis=2)
    dtype = np.uint16 if layout.bit_depth == _SIXTEEN_BITS else np.uint8
    # rounded as the screen's and the metrics' 8-bit values are: the file holds what they saw
    scaled = to_unsigned(planes, dtype)
    return scaled.squeeze(axis=2) if planes.shape[2] == 1 else scaled


def _encode(
    temp: Path,
    pixels: np.ndarray,
    format_name: str,
    layout: _Layout,
    source: LoadedImage | None,
    quality: int,
) -> None:
    if pixels.dtype == np.uint16 and pixels.ndim == 3:
        # Pillow has no 16-bit colour (or 16-bit grey + alpha) mode.
        if format_name == "TIFF":
            _encode_tiff16(temp, pixels, source)
        else:
            _encode_png16(temp, pixels, source)
        return
    image = Image.fromarray(pixels)
    image.save(temp, format=format_name, **_pillow_options(format_name, source, quality))


def _pillow_options(format_name: str, source: LoadedImage | None, quality: int) -> dict:
    options: dict = {}
    if format_name in ("JPEG", "WEBP"):
        options["quality"] = quality
    if format_name == "JPEG" and quality >= _FULL_CHROMA_QUALITY:
        options["subsampling"] = 0
    if source is None:
        return options
    if format_name == "TIFF" and (source.exif or source.xmp):
        options["exif"] = _tiff_tags(source)
    elif source.exif and _fits(format_name, source.exif, 0, "EXIF", source):
        options["exif"] = source.exif
    if source.icc_profile:
        options["icc_profile"] = source.icc_profile
    if source.dpi and format_name != "WEBP":
        options["dpi"] = source.dpi
    if source.xmp and format_name in ("JPEG", "WEBP"):
        if _fits(format_name, source.xmp, len(_JPEG_XMP_NAMESPACE), "XMP", source):
            options["xmp"] = source.xmp
    if format_name == "PNG" and (source.text or source.xmp):
        options["pnginfo"] = _png_info(source)
    return options


def _fits(format_name: str, data: bytes, header: int, what: str, source: LoadedImage) -> bool:
    """Whether ``data`` fits the one marker segment a JPEG file gives it, after its ``header``;
    a result is better saved without a photo's oversized EXIF or XMP (an editor's history can
    grow it past 64 KB) than not at all."""
    if format_name != "JPEG" or header + len(data) <= _JPEG_MARKER_BYTES:
        return True
    logger.warning(
        "%s: its %s (%d KB) does not fit in a JPEG file; the result is saved without it",
        source.path,
        what,
        len(data) // 1024,
    )
    return False


def _tiff_tags(source: LoadedImage) -> Image.Exif:
    """What a TIFF result's first directory takes from ``source``: its EXIF's descriptive tags
    and its XMP. Pillow writes the tags it is given as the result's own, and a phone's JPEG
    EXIF may name a picture size or sample layout that is not the result's; Pillow writes XMP
    as one of those tags too, ignoring ``exif`` when given them separately."""
    tags = Image.Exif()
    if source.exif:
        tags.load(source.exif)
        # through bytes: Pillow saves the sub-directories of tags it has read
        tags.load(_descriptive_tags(tags).tobytes())
    if source.xmp:
        tags[Base.XMLPacket] = source.xmp
    return tags


def _png_info(source: LoadedImage) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in source.text.items():
        info.add_itxt(key, value)
    if source.xmp:
        info.add_itxt(_PNG_XMP_KEY, source.xmp.decode("utf-8", errors="replace"))
    return info


def _encode_png16(temp: Path, pixels: np.ndarray, source: LoadedImage | None) -> None:
    if pixels.shape[2] == 2:  # grey + alpha: OpenCV writes 1, 3 or 4 channels
        pixels = pixels[..., [0, 0, 0, 1]]
    order = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, order))
    if not ok:
        raise ValueError("OpenCV could not encode the 16-bit PNG")
    temp.write_bytes(_with_png_metadata(encoded.tobytes(), source))


def _with_png_metadata(png: bytes, source: LoadedImage | None) -> bytes:
    """Add the source's ICC profile, EXIF, resolution, XMP and text right after IHDR, as
    Pillow writes them in 8-bit PNGs."""
    if source is None:
        return png
    chunks = b""
    if source.icc_profile:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(source.icc_profile))
    if source.exif:
        chunks += _png_chunk(b"eXIf", source.exif.removeprefix(_EXIF_HEADER))
    if source.dpi:
        per_metre = [round(dots / _INCHES_PER_METRE) for dots in source.dpi]
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", *per_metre, _PNG_UNIT_METRE))
    texts = dict(source.text)
    if source.xmp:
        texts[_PNG_XMP_KEY] = source.xmp.decode("utf-8", errors="replace")
    for key, value in texts.items():
        chunks += _png_chunk(b"iTXt", _international_text(key, value))
    return png[:_PNG_SIGNATURE_AND_IHDR] + chunks + png[_PNG_SIGNATURE_AND_IHDR:]


def _international_text(key: str, value: str) -> bytes:
    """An uncompressed iTXt chunk's data: keyword, flags, no language, UTF-8 text."""
    keyword = key.encode("latin-1", errors="replace")[:_PNG_MAX_KEYWORD]
    return keyword + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    checksum = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)


def _encode_tiff16(temp: Path, pixels: np.ndarray, source: LoadedImage | None) -> None:
    grey = pixels.shape[2] <= 2
    has_alpha = pixels.shape[2] in (2, 4)
    tifffile.imwrite(
        temp,
        pixels,
        photometric="minisblack" if grey else "rgb",
        extrasamples=("unassalpha",) if has_alpha else None,
        compression="zlib",
        iccprofile=source.icc_profile if source else None,
        resolution=source.dpi if source and source.dpi else None,
        resolutionunit="inch" if source and source.dpi else None,
        metadata=None,
        software="",  # not tifffile's own name: the source's software, if any, is in extratags
        extratags=_tiff_extra_tags(source),
    )


def _tiff_extra_tags(source: LoadedImage | None) -> list[tuple[int, str, int, object, bool]]:
    """The source's XMP and the descriptive tags of its EXIF's first directory (make, model,
    date...), as tifffile writes extra tags. tifffile writes no Exif sub-directory: exposure
    details stay behind in 16-bit TIFF results."""
    if source is None:
        return []
    tags: list[tuple[int, str, int, object, bool]] = []
    if source.exif:
        exif = Image.Exif()
        exif.load(source.exif)
        for tag in _TIFF_TEXT_TAGS:
            if isinstance(exif.get(tag), str) and exif[tag].isascii():
                tags.append((tag, "s", 0, exif[tag], True))
    if source.xmp:
        tags.append((Base.XMLPacket, "B", len(source.xmp), source.xmp, True))
    return tags
