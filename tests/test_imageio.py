"""Image I/O on real files written in each test: formats, modes, bit depths, metadata, faults."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps
from PIL.ExifTags import IFD

from glare_core import atomic, imageio
from glare_core.atomic import is_partial_name
from glare_core.batch import iter_images
from glare_core.eight_bit import from_uint8, to_uint8
from glare_core.errors import ImageReadError, ImageWriteError
from glare_core.imageio import read_image, write_image

RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ORIENTATION = 0x0112
MAKE = 0x010F
IMAGE_WIDTH, IMAGE_LENGTH = 0x0100, 0x0101
EXIF_IFD = 0x8769
DATE_TAKEN = 0x9003


def random_pixels(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def camera_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "GlareCam"
    exif.get_ifd(EXIF_IFD)[DATE_TAKEN] = "2024:09:30 21:15:00"
    return exif


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def as_bytes(values: np.ndarray) -> np.ndarray:
    return np.round(values * 255).astype(np.uint8)


def leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if is_partial_name(path.name)]


# --------------------------------------------------------------------------- reading


def test_rgb_png_reads_exactly(tmp_path: Path) -> None:
    pixels = random_pixels(12, 17, 3)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    loaded = read_image(tmp_path / "a.png")
    assert (loaded.mode, loaded.bit_depth, loaded.format) == ("RGB", 8, "PNG")
    assert loaded.rgb.dtype == np.float32 and loaded.alpha is None
    np.testing.assert_array_equal(as_bytes(loaded.rgb), pixels)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "turned.png"
    Image.fromarray(random_pixels(5, 9, 4)).save(path, exif=camera_exif(orientation))
    loaded = read_image(path)
    with Image.open(path) as reference:
        upright = np.asarray(ImageOps.exif_transpose(reference))
    np.testing.assert_array_equal(as_bytes(loaded.rgb), upright[..., :3])
    np.testing.assert_array_equal(as_bytes(loaded.alpha), upright[..., 3])


def test_exif_rotated_jpeg_comes_back_upright_and_keeps_its_exif(tmp_path: Path) -> None:
    source, result = tmp_path / "phone.jpg", tmp_path / "out.jpg"
    Image.fromarray(random_pixels(6, 10, 3)).save(source, exif=camera_exif(6), quality=95)
    loaded = read_image(source)
    assert loaded.rgb.shape == (10, 6, 3)  # stored landscape, shown portrait
    write_image(result, loaded.rgb, source=loaded)
    with Image.open(result) as written:
        exif = written.getexif()
        assert written.size == (6, 10)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "GlareCam"
    assert exif.get_ifd(EXIF_IFD)[DATE_TAKEN] == "2024:09:30 21:15:00"


def test_rgba_png_alpha_is_carried_through_unchanged(tmp_path: Path) -> None:
    pixels = random_pixels(9, 11, 4, seed=3)
    Image.fromarray(pixels).save(tmp_path / "logo.png")
    loaded = read_image(tmp_path / "logo.png")
    brighter = np.sqrt(loaded.rgb)
    write_image(tmp_path / "out.png", brighter, source=loaded)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(written)[..., 3], pixels[..., 3])


def test_grey_png_stays_grey(tmp_path: Path) -> None:
    pixels = random_pixels(8, 8, 1)
    Image.fromarray(pixels).save(tmp_path / "grey.png")
    loaded = read_image(tmp_path / "grey.png")
    assert loaded.mode == "L" and loaded.is_grey
    np.testing.assert_array_equal(as_bytes(loaded.rgb[..., 1]), pixels)
    write_image(tmp_path / "out.png", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "L"
        np.testing.assert_array_equal(np.asarray(written), pixels)


def test_palette_png_is_written_as_rgb(tmp_path: Path) -> None:
    palette = Image.fromarray(random_pixels(7, 7, 3)).quantize(colors=16)
    palette.save(tmp_path / "p.png")
    loaded = read_image(tmp_path / "p.png")
    assert loaded.mode == "P"
    np.testing.assert_array_equal(as_bytes(loaded.rgb), np.asarray(palette.convert("RGB")))
    write_image(tmp_path / "out.png", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGB"


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (6, 4), (0, 0, 0, 0))  # no ink: white paper
    cmyk.paste((255, 0, 0, 0), (0, 0, 3, 4))  # full cyan on the left half
    cmyk.save(tmp_path / "print.jpg", quality=100)
    loaded = read_image(tmp_path / "print.jpg")
    assert loaded.mode == "CMYK" and loaded.icc_profile is None
    right, left = loaded.rgb[2, 5], loaded.rgb[2, 0]
    assert right.min() > 0.95  # white
    assert left[0] < 0.1 and left[1] > 0.9 and left[2] > 0.9  # cyan
    write_image(tmp_path / "out.jpg", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "out.jpg") as written:
        assert written.mode == "RGB"


@pytest.mark.parametrize("mode", ["RGB", "CMYK", "P"])
@pytest.mark.parametrize("name", ["out.tif", "out.png", "out.jpg"])
def test_a_tiff_source_passes_on_its_description_but_not_its_pixel_layout(
    tmp_path: Path, mode: str, name: str
) -> None:
    pixels = Image.fromarray(random_pixels(5, 7, 3)).convert(mode)
    pixels.save(tmp_path / "scan.tif", exif=camera_exif(6), compression="tiff_lzw")
    loaded = read_image(tmp_path / "scan.tif")
    assert loaded.rgb.shape == (7, 5, 3)  # turned upright
    write_image(tmp_path / name, loaded.rgb, source=loaded)
    with Image.open(tmp_path / name) as written:
        written.load()  # a result with the scan's strip offsets or CMYK layout fails here
        exif = written.getexif()
        assert (written.mode, written.size) == ("RGB", (5, 7))
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "GlareCam"


def test_a_phone_jpegs_picture_size_in_exif_does_not_become_a_tiff_results_own(
    tmp_path: Path,
) -> None:
    exif = camera_exif(1)
    exif[IMAGE_WIDTH], exif[IMAGE_LENGTH] = 4000, 3000  # phones record the full-size picture
    Image.fromarray(random_pixels(6, 8, 3)).save(tmp_path / "phone.jpg", exif=exif)
    loaded = read_image(tmp_path / "phone.jpg")
    write_image(tmp_path / "out.tif", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "out.tif") as written:
        written.load()  # a result laid out as 4000 x 3000 fails here, its strips too short
        assert written.size == (8, 6) and written.getexif()[MAKE] == "GlareCam"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_16_bit_tiff_is_turned_upright_once(tmp_path: Path, orientation: int) -> None:
    stored = random_pixels(5, 9, 3).astype(np.uint16) * 257
    turned = [(ORIENTATION, "H", 1, orientation, True)]
    tifffile.imwrite(tmp_path / "deep.tif", stored, photometric="rgb", extratags=turned)
    Image.fromarray((stored // 257).astype(np.uint8)).save(
        tmp_path / "same.png", exif=camera_exif(orientation)
    )
    loaded = read_image(tmp_path / "deep.tif")
    with Image.open(tmp_path / "same.png") as reference:
        upright = np.asarray(ImageOps.exif_transpose(reference))
    assert loaded.bit_depth == 16
    np.testing.assert_array_equal(as_bytes(loaded.rgb), upright)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("channels", [1, 4])
def test_an_uncompressed_grey_or_rgba_tiff_is_turned_upright(
    tmp_path: Path, orientation: int, channels: int
) -> None:
    """Pillow maps such a TIFF into memory when opened by path, and then skipped turning it:
    a quarter turn came out as stripes."""
    stored = random_pixels(6, 10, channels, seed=orientation)
    turned = [(ORIENTATION, "H", 1, orientation, True)]
    photometric = "minisblack" if channels == 1 else "rgb"
    tifffile.imwrite(tmp_path / "turned.tif", stored, photometric=photometric, extratags=turned)
    loaded = read_image(tmp_path / "turned.tif")
    Image.fromarray(stored).save(tmp_path / "same.png", exif=camera_exif(orientation))
    with Image.open(tmp_path / "same.png") as reference:
        upright = np.asarray(ImageOps.exif_transpose(reference))
    got = as_bytes(loaded.rgb)
    if channels == 1:
        np.testing.assert_array_equal(got[..., 0], upright)
    else:
        np.testing.assert_array_equal(got, upright[..., :3])
        np.testing.assert_array_equal(as_bytes(loaded.alpha), upright[..., 3])


@pytest.mark.parametrize("orientation", [3, 6])
def test_a_half_transparent_premultiplied_16_bit_tiff_is_turned_upright_once(
    tmp_path: Path, orientation: int
) -> None:
    """Pillow's 8-bit reading of it, which tells whether OpenCV has turned it already, is
    levels off where alpha is low: it was turned twice."""
    colour = random_pixels(5, 9, 3).astype(np.float64) / 255
    alpha = np.full((5, 9, 1), 0.5)
    stored = np.round(np.concatenate([colour * alpha, alpha], axis=2) * 65535).astype(np.uint16)
    turned = [(ORIENTATION, "H", 1, orientation, True)]
    tifffile.imwrite(
        tmp_path / "cut.tif",
        stored,
        photometric="rgb",
        extrasamples=["assocalpha"],
        extratags=turned,
    )
    Image.fromarray(random_pixels(5, 9, 3)).save(
        tmp_path / "same.png", exif=camera_exif(orientation)
    )
    with Image.open(tmp_path / "same.png") as reference:
        upright = np.asarray(ImageOps.exif_transpose(reference))
    np.testing.assert_allclose(as_bytes(read_image(tmp_path / "cut.tif").rgb), upright, atol=1)


def test_a_camera_jpeg_with_a_preview_appended_reads_as_its_first_picture(
    tmp_path: Path,
) -> None:
    photo, preview = Image.fromarray(random_pixels(6, 8, 3)), random_pixels(3, 4, 3, seed=1)
    photo.save(tmp_path / "plain.jpg", exif=camera_exif(1), quality=95)
    photo.save(
        tmp_path / "camera.jpg",
        format="MPO",  # what Pillow calls a JPEG with more pictures appended (MPF)
        save_all=True,
        append_images=[Image.fromarray(preview)],
        exif=camera_exif(1),
        quality=95,
    )
    loaded, plain = read_image(tmp_path / "camera.jpg"), read_image(tmp_path / "plain.jpg")
    assert loaded.format == "JPEG"
    np.testing.assert_array_equal(loaded.rgb, plain.rgb)
    exif = Image.Exif()
    exif.load(loaded.exif)
    assert exif[MAKE] == "GlareCam"


def test_16_bit_rgba_png_and_tiff_keep_16_bits(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    bgra = rng.integers(0, 65536, size=(6, 9, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), bgra)
    loaded = read_image(tmp_path / "deep.png")
    assert (loaded.mode, loaded.bit_depth) == ("RGBA", 16)
    for name in ("out.png", "out.tif"):
        write_image(tmp_path / name, loaded.rgb, source=loaded)
        written = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint16
        np.testing.assert_array_equal(written, bgra)


@pytest.mark.parametrize("channels", [3, 4])
def test_a_16_bit_tiff_of_separate_planes_reads_exactly(tmp_path: Path, channels: int) -> None:
    """Pillow called its planes 8-bit and OpenCV reads them as interleaved: the photo came
    out as noise, enhanced and saved in 8 bits without a word."""
    pixels = np.random.default_rng(3).integers(0, 65536, (6, 9, channels), dtype=np.uint16)
    extra = {"extrasamples": ["unassalpha"]} if channels == 4 else {}
    planes = np.moveaxis(pixels, -1, 0)
    tifffile.imwrite(
        tmp_path / "planes.tif", planes, photometric="rgb", planarconfig="separate", **extra
    )
    loaded = read_image(tmp_path / "planes.tif")
    assert loaded.bit_depth == 16
    np.testing.assert_allclose(loaded.rgb, pixels[..., :3] / 65535, atol=1e-7)
    if channels == 4:
        np.testing.assert_allclose(loaded.alpha, pixels[..., 3] / 65535, atol=1e-7)


@pytest.mark.parametrize("layout", ["contig", "separate"])
def test_a_16_bit_grey_tiff_with_alpha_keeps_its_16_bits_and_alpha(
    tmp_path: Path, layout: str
) -> None:
    """Pillow cannot open a TIFF of 16-bit grey and alpha: it was 'not an image'."""
    pixels = np.random.default_rng(4).integers(0, 65536, (6, 9, 2), dtype=np.uint16)
    stored = pixels if layout == "contig" else np.moveaxis(pixels, -1, 0)
    tifffile.imwrite(
        tmp_path / "scan.tif",
        stored,
        photometric="minisblack",
        planarconfig=layout,
        extrasamples=["unassalpha"],
    )
    loaded = read_image(tmp_path / "scan.tif")
    assert (loaded.mode, loaded.bit_depth, loaded.is_grey) == ("LA", 16, True)
    np.testing.assert_allclose(loaded.rgb, np.repeat(pixels[..., :1], 3, axis=2) / 65535, atol=1e-7)
    np.testing.assert_allclose(loaded.alpha, pixels[..., 1] / 65535, atol=1e-7)
    write_image(tmp_path / "out.tif", loaded.rgb, source=loaded)
    with tifffile.TiffFile(tmp_path / "out.tif") as written:
        np.testing.assert_array_equal(written.pages[0].asarray(), pixels)
        assert written.pages[0].description == ""  # not the source's layout, (2, 6, 9)


@pytest.mark.parametrize(
    ("photometric", "channels", "planar"),
    [("minisblack", 1, "contig"), ("rgb", 3, "contig"), ("rgb", 3, "separate")],
)
def test_a_premultiplied_16_bit_tiff_is_divided_by_its_alpha(
    tmp_path: Path, photometric: str, channels: int, planar: str
) -> None:
    """Grey, interleaved colour (OpenCV's) and planes: each was read as stored, or only one."""
    colour, alpha = np.full((4, 5, channels), 0.25), np.full((4, 5, 1), 0.5)
    stored = np.round(np.concatenate([colour * alpha, alpha], axis=2) * 65535).astype(np.uint16)
    stored = stored if planar == "contig" else np.moveaxis(stored, -1, 0)
    tifffile.imwrite(
        tmp_path / "cut.tif",
        stored,
        photometric=photometric,
        planarconfig=planar,
        extrasamples=["assocalpha"],
    )
    loaded = read_image(tmp_path / "cut.tif")
    np.testing.assert_allclose(loaded.rgb, 0.25, atol=1e-4)
    np.testing.assert_allclose(loaded.alpha, 0.5, atol=1e-4)


def test_a_tiff_read_by_tifffile_keeps_its_resolution_and_takes_no_mask_for_alpha(
    tmp_path: Path, caplog
) -> None:
    """A fourth sample of unspecified meaning (a depth map, a mask) is not transparency."""
    pixels = np.full((2, 4, 5, 4), 0.3, np.float32)  # two pages
    tifffile.imwrite(
        tmp_path / "raw.tif",
        pixels,
        photometric="rgb",
        extrasamples=["unspecified"],
        resolution=(118.11, 118.11),
        resolutionunit="CENTIMETER",
    )
    with caplog.at_level(logging.WARNING, logger="glare_core.imageio"):
        loaded = read_image(tmp_path / "raw.tif")
    assert (loaded.mode, loaded.alpha) == ("RGB", None)
    assert loaded.dpi == pytest.approx((300.0, 300.0), abs=0.01)
    assert "raw.tif holds 2 pages or frames: only the first is enhanced" in caplog.text


def test_a_floating_point_colour_tiff_is_read_turned_and_written_in_16_bits(
    tmp_path: Path,
) -> None:
    """Raw converters' float TIFFs: Pillow cannot open colour ones."""
    pixels = np.linspace(-0.2, 1.2, 5 * 9 * 3, dtype=np.float32).reshape(5, 9, 3)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    turned = [(ORIENTATION, "H", 1, 6, True), (34675, "B", len(profile), profile, True)]
    tifffile.imwrite(tmp_path / "raw.tif", pixels, photometric="rgb", extratags=turned)
    loaded = read_image(tmp_path / "raw.tif")
    assert (loaded.mode, loaded.bit_depth, loaded.icc_profile) == ("RGB", 16, profile)
    upright = np.clip(pixels, 0, 1).transpose(1, 0, 2)[:, ::-1]  # orientation 6
    np.testing.assert_array_equal(loaded.rgb, upright)
    write_image(tmp_path / "out.tif", loaded.rgb, source=loaded)
    with tifffile.TiffFile(tmp_path / "out.tif") as written:
        assert written.pages[0].dtype == np.uint16 and written.pages[0].shape == (9, 5, 3)


def test_a_tiff_compressed_without_its_codec_says_what_reads_it(tmp_path: Path) -> None:
    """LZW (Photoshop's default) needs imagecodecs in tifffile: it read as 'damaged'."""
    if importlib.util.find_spec("imagecodecs") is not None:
        pytest.skip("imagecodecs is installed: LZW is read")
    tifffile.imwrite(
        tmp_path / "scan.tif", np.zeros((6, 9, 2), np.uint16), extrasamples=["unassalpha"]
    )
    uncompressed = struct.pack("<HHIHH", 259, 3, 1, 1, 0)  # Compression, SHORT, 1: none
    data = (tmp_path / "scan.tif").read_bytes()
    assert data.count(uncompressed) == 1
    lzw = data.replace(uncompressed, struct.pack("<HHIHH", 259, 3, 1, 5, 0))
    (tmp_path / "scan.tif").write_bytes(lzw)
    with pytest.raises(ImageReadError, match=r"scan\.tif: its compression \(LZW\) needs the"):
        read_image(tmp_path / "scan.tif")


def test_a_tiff_no_reader_takes_is_refused_with_its_layout(tmp_path: Path) -> None:
    inks = np.zeros((4, 5, 4), np.float32)
    tifffile.imwrite(tmp_path / "print.tif", inks, photometric="separated")
    with pytest.raises(ImageReadError, match=r"print\.tif: unsupported TIFF \(SEPARATED, float32"):
        read_image(tmp_path / "print.tif")
    grey_and_alpha = np.zeros((64, 64, 2), np.uint16)
    tifffile.imwrite(tmp_path / "cut.tif", grey_and_alpha, extrasamples=["unassalpha"])
    (tmp_path / "cut.tif").write_bytes((tmp_path / "cut.tif").read_bytes()[:400])
    with pytest.raises(ImageReadError, match=r"cut\.tif: damaged or unsupported TIFF \("):
        read_image(tmp_path / "cut.tif")


def test_an_orientation_no_camera_writes_is_taken_as_upright(tmp_path: Path, caplog) -> None:
    """It was a "damaged or truncated image" (int('x')), though Pillow decodes the photo."""
    encoded = tmp_path / "plain.jpg"
    Image.fromarray(random_pixels(5, 9, 3)).save(encoded)
    jpeg = encoded.read_bytes()
    # one big-endian IFD entry: Orientation (0x0112), type ASCII, count 2, value "x\0"
    entry = struct.pack(">HHI2s2x", ORIENTATION, 2, 2, b"x")
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + entry + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    (tmp_path / "odd.jpg").write_bytes(jpeg[:2] + segment + jpeg[2:])
    with caplog.at_level(logging.WARNING):
        loaded = read_image(tmp_path / "odd.jpg")
    assert loaded.rgb.shape == (5, 9, 3)
    assert "EXIF orientation 'x' is not one of 1 to 8" in caplog.text


@pytest.mark.parametrize("orientation", [0, 9])
def test_a_result_carries_orientation_1_where_its_photo_held_one_no_camera_writes(
    tmp_path: Path, orientation: int
) -> None:
    """The photo was taken as upright and its EXIF kept byte for byte, the bad tag with it:
    the result carried 0 or 9 where every result carries 1."""
    Image.fromarray(random_pixels(5, 9, 3)).save(
        tmp_path / "odd.jpg", exif=camera_exif(orientation)
    )
    photo = read_image(tmp_path / "odd.jpg")
    write_image(tmp_path / "result.jpg", photo.rgb, source=photo)
    with Image.open(tmp_path / "result.jpg") as result:
        assert result.getexif()[ORIENTATION] == 1


def test_pillows_warnings_on_a_damaged_exif_are_logged_with_the_photos_name(
    tmp_path: Path, caplog, recwarn
) -> None:
    """They reached stderr as raw Python warnings naming Pillow's source file."""
    # an IFD of five entries of which the file holds one: Pillow reads what is there
    entry = struct.pack(">HHIHH", ORIENTATION, 3, 1, 6, 0)
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 5) + entry
    Image.fromarray(random_pixels(5, 9, 3)).save(tmp_path / "cut.jpg", exif=b"Exif\x00\x00" + tiff)
    with caplog.at_level(logging.WARNING):
        loaded = read_image(tmp_path / "cut.jpg")
    assert loaded.rgb.shape == (9, 5, 3)  # its orientation, 6, was read and honoured
    assert f"{tmp_path / 'cut.jpg'}: Corrupt EXIF data" in caplog.text
    assert not [warning for warning in recwarn if "EXIF" in str(warning.message)]


def _exif_with_a_thumbnail(orientation: int, size: tuple[int, int], thumbnail: bytes) -> bytes:
    """Big-endian EXIF as cameras write it: IFD0 (orientation, a pointer to the Exif IFD
    with the pixel dimensions), then IFD1 pointing at a JPEG thumbnail."""

    def directory(entries: list[tuple[int, int, int]], following: int) -> bytes:
        packed = b"".join(
            struct.pack(">HHI", tag, kind, 1)
            + (struct.pack(">H2x", value) if kind == 3 else struct.pack(">I", value))
            for tag, kind, value in entries
        )
        return struct.pack(">H", len(entries)) + packed + struct.pack(">I", following)

    short, long = 3, 4
    size_of_two = 2 + 2 * 12 + 4  # a directory of two entries
    exif_at, thumbnail_ifd_at = 8 + size_of_two, 8 + 2 * size_of_two
    thumbnail_at = 8 + 3 * size_of_two
    tiff = (
        b"MM\x00\x2a"
        + struct.pack(">I", 8)
        + directory(
            [(ORIENTATION, short, orientation), (EXIF_IFD, long, exif_at)], thumbnail_ifd_at
        )
        + directory([(0xA002, long, size[0]), (0xA003, long, size[1])], 0)
        + directory([(0x0201, long, thumbnail_at), (0x0202, long, len(thumbnail))], 0)
        + thumbnail
    )
    return b"Exif\x00\x00" + tiff


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_result_carries_no_stale_thumbnail_and_its_own_dimensions(
    tmp_path: Path, orientation: int
) -> None:
    """An upright photo's result kept the original's (dark) EXIF thumbnail, which file
    browsers show for it; a turned one's kept the stored, not the upright, dimensions."""
    thumbnail = tmp_path / "thumbnail.jpg"
    Image.fromarray(random_pixels(4, 6, 3, seed=2)).save(thumbnail)
    exif = _exif_with_a_thumbnail(orientation, (12, 8), thumbnail.read_bytes())
    Image.fromarray(random_pixels(8, 12, 3)).save(tmp_path / "photo.jpg", exif=exif)
    with Image.open(tmp_path / "photo.jpg") as source:
        assert source.getexif().get_ifd(IFD.IFD1)  # the thumbnail is there to drop
    loaded = read_image(tmp_path / "photo.jpg")
    write_image(tmp_path / "result.jpg", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "result.jpg") as result:
        written = result.getexif()
        assert result.size == ((12, 8) if orientation == 1 else (8, 12))
        assert not written.get_ifd(IFD.IFD1)
        details = written.get_ifd(IFD.Exif)
        assert (details[0xA002], details[0xA003]) == result.size
        assert written[ORIENTATION] == 1


def test_16_bit_grey_png_round_trips(tmp_path: Path) -> None:
    grey = np.random.default_rng(6).integers(0, 65536, size=(5, 7), dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "deep.png")
    loaded = read_image(tmp_path / "deep.png")
    assert loaded.bit_depth == 16 and loaded.is_grey
    write_image(tmp_path / "out.png", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(written), grey)


def test_a_float_grey_tiff_reads_from_black_at_0_to_white_at_1(tmp_path: Path) -> None:
    ramp = np.linspace(-0.5, 1.5, 6 * 8, dtype=np.float32).reshape(6, 8)
    ramp[0, 0] = np.nan
    Image.fromarray(ramp, mode="F").save(tmp_path / "merged.tif")
    loaded = read_image(tmp_path / "merged.tif")
    assert loaded.is_grey and loaded.bit_depth == 16
    expected = np.clip(np.nan_to_num(ramp), 0, 1)
    np.testing.assert_array_equal(loaded.rgb, np.repeat(expected[..., None], 3, axis=2))
    write_image(tmp_path / "out.tif", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "out.tif") as written:
        assert written.mode == "I;16"  # grey, as deep as is written


def test_16_bit_input_to_jpeg_is_8_bit(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((4, 4, 3), 65535, dtype=np.uint16))
    loaded = read_image(tmp_path / "deep.png")
    write_image(tmp_path / "out.jpg", loaded.rgb, source=loaded)
    assert read_image(tmp_path / "out.jpg").bit_depth == 8


@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.tif", "out.webp"])
def test_exif_icc_and_dpi_survive_every_output_format(tmp_path: Path, name: str) -> None:
    icc = srgb_profile()
    Image.fromarray(random_pixels(8, 8, 3)).save(
        tmp_path / "in.jpg", exif=camera_exif(3), icc_profile=icc, dpi=(300, 300)
    )
    loaded = read_image(tmp_path / "in.jpg")
    write_image(tmp_path / name, loaded.rgb, source=loaded)
    with Image.open(tmp_path / name) as written:
        exif = written.getexif()
        assert written.info.get("icc_profile") == icc
        if written.format != "WEBP":  # WebP has no resolution field
            assert written.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert exif[ORIENTATION] == 1 and exif[MAKE] == "GlareCam"


def grey_profile() -> bytes:
    from PySide6.QtGui import QColorSpace  # the only maker of a grey profile at hand

    srgb = QColorSpace(QColorSpace.NamedColorSpace.SRgb)
    grey = QColorSpace(srgb.whitePoint(), QColorSpace.TransferFunction.Gamma, 1.8)
    return bytes(grey.iccProfile())


@pytest.mark.parametrize(
    ("mode", "name", "kept"),
    [
        ("L", "out.png", True),
        ("L", "out.jpg", True),
        ("L", "out.tif", True),
        ("RGB", "out.png", False),  # a grey profile on colour pixels, as some tools write
    ],
)
def test_a_grey_profile_goes_only_into_a_grey_file(
    tmp_path: Path, caplog, mode: str, name: str, kept: bool
) -> None:
    """An RGB file with a grey profile is invalid: libpng warns, Qt and LittleCMS refuse it."""
    profile = grey_profile()
    Image.fromarray(random_pixels(6, 8, 1 if mode == "L" else 3)).save(
        tmp_path / "in.png", icc_profile=profile
    )
    loaded = read_image(tmp_path / "in.png")
    with caplog.at_level(logging.WARNING, logger="glare_core.imageio"):
        write_image(tmp_path / name, loaded.rgb, source=loaded)
    with Image.open(tmp_path / name) as written:
        assert written.info.get("icc_profile") == (profile if kept else None)
        assert (written.mode == "L") == kept
    left_out = "its GRAY colour profile cannot describe a colour PNG file"
    assert (left_out in caplog.text) == (not kept)


def test_a_grey_photos_grey_profile_goes_into_the_pixels_of_a_webp(tmp_path: Path) -> None:
    """A WebP holds no grey, so no grey profile: without it the result looked as if its
    levels were sRGB's (12 levels off on average at gamma 1.8)."""
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "in.png", icc_profile=grey_profile())
    loaded = read_image(tmp_path / "in.png")
    write_image(tmp_path / "out.webp", loaded.rgb, source=loaded, quality=100)
    with Image.open(tmp_path / "out.webp") as written:
        assert written.info.get("icc_profile") is None
        shown = np.asarray(written.convert("L"), float)
    srgb_levels = 255 * (ramp / 255) ** (1.8 / 2.2)  # gamma 1.8 in sRGB's curve, roughly
    assert np.abs(shown - srgb_levels).mean() < 3 < np.abs(shown - ramp).mean()


@pytest.mark.parametrize("source", ["in.jpg", "in.png", "in.webp"])
@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.tif", "out.webp"])
def test_exif_of_an_upright_photo_survives_every_pair_of_formats(
    tmp_path: Path, source: str, name: str
) -> None:
    """An upright photo's EXIF is passed on as read; Pillow gives a WebP's without the
    ``Exif`` header a JPEG needs, and readers ignored the segment written from it."""
    Image.fromarray(random_pixels(8, 8, 3)).save(tmp_path / source, exif=camera_exif(1))
    loaded = read_image(tmp_path / source)
    write_image(tmp_path / name, loaded.rgb, source=loaded)
    with Image.open(tmp_path / name) as written:
        assert written.getexif()[MAKE] == "GlareCam"


@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.tif"])
@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
def test_a_resolution_of_zero_over_zero_is_left_out(tmp_path: Path, name: str, depth) -> None:
    pixels = random_pixels(4, 6, 3).astype(depth)
    marked = (123456789, 1)  # a resolution no other field holds, rewritten as 0/0 below
    tifffile.imwrite(tmp_path / "scan.tif", pixels, photometric="rgb", resolution=(marked, marked))
    data = (tmp_path / "scan.tif").read_bytes()
    (tmp_path / "scan.tif").write_bytes(data.replace(struct.pack("<II", *marked), bytes(8)))
    loaded = read_image(tmp_path / "scan.tif")
    assert loaded.dpi is None
    write_image(tmp_path / name, loaded.rgb, source=loaded)
    assert read_image(tmp_path / name).rgb.shape == (4, 6, 3)


def test_xmp_too_long_for_a_jpeg_is_left_out_of_it(tmp_path: Path, caplog) -> None:
    history = b"".join(b"<rdf:li>xmp.did:%032x</rdf:li>" % index for index in range(2000))
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + history + b"</x:xmpmeta>"
    Image.fromarray(random_pixels(4, 6, 3)).save(tmp_path / "edited.webp", xmp=xmp)
    loaded = read_image(tmp_path / "edited.webp")
    assert loaded.xmp == xmp and len(xmp) > 65536
    write_image(tmp_path / "out.jpg", loaded.rgb, source=loaded)
    with Image.open(tmp_path / "out.jpg") as written:
        assert "xmp" not in written.info
    assert "XMP" in caplog.text and "does not fit in a JPEG file" in caplog.text
    write_image(tmp_path / "out.webp", loaded.rgb, source=loaded)  # WebP holds it
    assert Image.open(tmp_path / "out.webp").info["xmp"] == xmp


@pytest.mark.parametrize("name", ["out.png", "out.tif"])
def test_16_bit_results_keep_the_photos_metadata(tmp_path: Path, name: str) -> None:
    icc, xmp = srgb_profile(), b'<x:xmpmeta xmlns:x="adobe:ns:meta/">night</x:xmpmeta>'
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((4, 6, 3), 4000, dtype=np.uint16))
    loaded = read_image(tmp_path / "deep.png")
    loaded.icc_profile, loaded.exif = icc, camera_exif(1).tobytes()
    loaded.xmp, loaded.dpi, loaded.text = xmp, (300.0, 300.0), {"Comment": "Nacht über Wien"}
    write_image(tmp_path / name, loaded.rgb, source=loaded)
    with Image.open(tmp_path / name) as written:
        assert written.info["icc_profile"] == icc
        assert written.getexif()[MAKE] == "GlareCam"
        assert written.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        if name.endswith(".png"):
            assert written.info["xmp"] == xmp
            assert written.text["Comment"] == "Nacht über Wien"  # TIFF has no free text
        else:
            assert written.tag_v2[700] == xmp
    assert cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED).dtype == np.uint16


# --------------------------------------------------------------------------- read faults


def read_error(path: Path, **kwargs: int) -> str:
    with pytest.raises(ImageReadError) as caught:
        read_image(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert "empty file" in read_error(tmp_path / "empty.jpg")


def test_truncated_jpeg(tmp_path: Path) -> None:
    Image.fromarray(random_pixels(64, 64, 3)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert "damaged or truncated" in read_error(tmp_path / "cut.jpg")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("shopping list: milk, eggs\n")
    assert "not an image" in read_error(tmp_path / "notes.png")


def test_missing_file_and_folder_named_like_an_image(tmp_path: Path) -> None:
    (tmp_path / "album.png").mkdir()
    assert "not a file" in read_error(tmp_path / "album.png")
    assert "file not found" in read_error(tmp_path / "gone.png")
    # the system refuses to look at it at all (it was an OSError, shown raw in the app)
    assert "cannot look at it (File name too long)" in read_error(tmp_path / ("n" * 300 + ".png"))


@pytest.mark.skipif(RUNNING_AS_ROOT, reason="running as root: chmod 000 does not block reads")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.fromarray(random_pixels(4, 4, 3)).save(path)
    path.chmod(0)
    try:
        assert "permission denied" in read_error(path)
    finally:
        path.chmod(0o644)


def test_pixel_limit_refuses_large_images(tmp_path: Path) -> None:
    Image.fromarray(random_pixels(20, 30, 3)).save(tmp_path / "big.png")
    assert "over the" in read_error(tmp_path / "big.png", max_pixels=500)
    assert read_image(tmp_path / "big.png", max_pixels=600).rgb.shape == (20, 30, 3)


def test_pillow_decompression_bomb_becomes_a_read_error(tmp_path: Path) -> None:
    # A 1x1 PNG whose header claims 30000 x 30000: Pillow refuses it on open.
    path = tmp_path / "bomb.png"
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    header = b"IHDR" + struct.pack(">II", 30000, 30000) + bytes(data[24:29])
    data[12:33] = header + struct.pack(">I", zlib.crc32(header))
    path.write_bytes(bytes(data))
    assert "refused" in read_error(path, max_pixels=10**10)
    assert "decompression bomb" in read_error(path)


# --------------------------------------------------------------------------- write faults


def test_write_refuses_to_replace_its_source(tmp_path: Path) -> None:
    path = tmp_path / "only.png"
    Image.fromarray(random_pixels(4, 4, 3)).save(path)
    original = path.read_bytes()
    loaded = read_image(path)
    with pytest.raises(ImageWriteError, match="refusing to overwrite the input"):
        write_image(path, loaded.rgb * 0.5, source=loaded)
    assert path.read_bytes() == original


def test_unwritable_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageWriteError, match="cannot write format"):
        write_image(tmp_path / "out.bmp", np.zeros((2, 2, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_target_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(ImageWriteError, match="cannot write"):
        write_image(tmp_path / "blocked" / "out.png", np.zeros((2, 2, 3), np.float32))


def test_read_only_folder(read_only_folder: Path) -> None:
    with pytest.raises(ImageWriteError, match="Permission denied|Operation not permitted"):
        write_image(read_only_folder / "out.png", np.zeros((2, 2, 3), np.float32))
    assert list(read_only_folder.iterdir()) == []


def test_failed_encode_leaves_old_file_and_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "result.png"
    target.write_bytes(b"previous result")

    def disk_full(temp: Path, *_: object) -> None:
        temp.write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imageio, "_encode", disk_full)
    with pytest.raises(ImageWriteError, match="No space left on device"):
        write_image(target, np.zeros((2, 2, 3), np.float32))
    assert target.read_bytes() == b"previous result"
    assert leftovers(tmp_path) == []


KILLED_WRITER = """
import sys, time
import numpy as np
from glare_core import atomic, imageio

def slow_encode(temp, *_):
    temp.write_bytes(b"half a PNG")
    print("writing", flush=True)
    time.sleep(60)

imageio._encode = slow_encode
imageio.write_image(sys.argv[1], np.zeros((2, 2, 3), np.float32))
"""


def test_a_result_name_near_the_file_system_limit_is_written(tmp_path: Path) -> None:
    name = "é" * 120 + "_glare.png"  # 250 bytes of UTF-8: the limit is 255
    write_image(tmp_path / name, from_uint8(random_pixels(4, 6, 3)))
    assert [path.name for path in tmp_path.iterdir()] == [name]


def test_killed_writer_leaves_only_a_recognisable_partial(tmp_path: Path) -> None:
    target = tmp_path / "result.png"
    target.write_bytes(b"previous result")
    repository = Path(__file__).resolve().parents[1]
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(target)],
        cwd=repository,
        stdout=subprocess.PIPE,
    )
    assert writer.stdout is not None and writer.stdout.readline() == b"writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert target.read_bytes() == b"previous result"
    left = leftovers(tmp_path)
    assert len(left) == 1 and left[0].startswith(".result.png.")


def test_a_rewrite_removes_what_a_killed_writer_left_once_it_is_stale(tmp_path: Path) -> None:
    target = tmp_path / "result.png"
    killed = tmp_path / ".result.png.1f2e3d4c.partial"  # as SIGKILL mid-write leaves it
    in_progress = tmp_path / ".result.png.5a6b7c8d.partial"  # another writer, busy now
    other_target = tmp_path / ".other.png.1f2e3d4c.partial"
    for path in (killed, in_progress, other_target):
        path.write_bytes(b"half a picture")
    long_ago = time.time() - atomic.STALE_AFTER_SECONDS - 1
    for path in (killed, other_target):
        os.utime(path, (long_ago, long_ago))
    write_image(target, from_uint8(random_pixels(4, 6, 3)))
    assert sorted(leftovers(tmp_path)) == [other_target.name, in_progress.name]
    assert read_image(target).rgb.shape == (4, 6, 3)


def test_a_result_complete_under_its_name_is_not_a_failure_for_its_temporary_one(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    """Windows scanners hold new files open: the temporary name's removal may fail after
    the result is complete, and the batch counted the photo failed (a rerun skipped it)."""
    unlink = Path.unlink

    def held_open(path: Path, missing_ok: bool = False) -> None:
        if is_partial_name(path.name):
            raise PermissionError(13, "Permission denied")
        unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", held_open)
    pixels = random_pixels(4, 6, 3)
    with caplog.at_level(logging.WARNING, logger="glare_core.atomic"):
        write_image(tmp_path / "result.png", from_uint8(pixels), replace=False)
    np.testing.assert_array_equal(to_uint8(read_image(tmp_path / "result.png").rgb), pixels)
    assert "could not remove the temporary name" in caplog.text


def test_heic_is_read_when_pillow_heif_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif", reason="optional HEIC support (pillow-heif) not installed")
    Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(tmp_path / "phone.heic", quality=90)
    loaded = read_image(tmp_path / "phone.heic")
    assert loaded.format == "HEIF" and loaded.bit_depth == 8
    assert loaded.rgb.mean() * 255 == pytest.approx(100, abs=2)


def test_a_multi_page_tiff_says_only_its_first_page_is_enhanced(tmp_path: Path, caplog) -> None:
    pages = [Image.fromarray(random_pixels(6, 8, 3)) for _ in range(3)]
    pages[0].save(tmp_path / "scan.tif", save_all=True, append_images=pages[1:])
    with caplog.at_level(logging.WARNING, logger="glare_core.imageio"):
        loaded = read_image(tmp_path / "scan.tif")
    assert np.array_equal(to_uint8(loaded.rgb), np.asarray(pages[0]))
    assert "scan.tif holds 3 pages or frames: only the first is enhanced" in caplog.text


def test_a_heic_photo_without_pillow_heif_fails_with_the_way_to_read_it(
    tmp_path: Path, caplog
) -> None:
    """Named, it fails with the way to read it; in a folder scan it is passed over with the
    same words (listed, it would clash with the JPEG copy phones export beside it)."""
    if imageio.HEIF_AVAILABLE:
        pytest.skip("pillow-heif is installed: it reads HEIC photos")
    phone = tmp_path / "IMG_0001.HEIC"
    phone.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))  # an HEIF box, no picture
    with pytest.raises(ImageReadError, match=r"need the optional pillow-heif \(pip install"):
        read_image(phone)
    (tmp_path / "IMG_0001.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="glare_core.batch"):
        assert list(iter_images(tmp_path)) == [tmp_path / "IMG_0001.jpg"]
    assert f"{phone} passed over: HEIC photos need the optional pillow-heif" in caplog.text
    # the desktop build has no pip: it says what else to do
    assert "pip" not in imageio.heic_reader_missing(frozen=True)
    assert "convert them to JPEG" in imageio.heic_reader_missing(frozen=True)


@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.webp", "out.tif"])
def test_xmp_is_kept_with_its_orientation_reset(tmp_path: Path, name: str) -> None:
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6" dc:title="night"/></x:xmpmeta>'
    Image.fromarray(random_pixels(4, 8, 3)).save(tmp_path / "in.jpg", xmp=xmp)
    loaded = read_image(tmp_path / "in.jpg")
    assert loaded.rgb.shape == (8, 4, 3)  # XMP orientation is honoured like EXIF's
    write_image(tmp_path / name, loaded.rgb, source=loaded)
    with Image.open(tmp_path / name) as written:
        written.load()
        kept = written.info.get("xmp") or written.info.get("XML:com.adobe.xmp")
    kept = kept.encode() if isinstance(kept, str) else kept
    assert kept == xmp.replace(b'Orientation="6"', b'Orientation="1"')


def test_every_8_bit_value_survives_the_float_round_trip_and_floats_round_to_the_nearest() -> None:
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_uint8(from_uint8(levels)), levels)
    # a third of a level either way rounds back; out-of-range floats clip instead of wrapping
    nudged = from_uint8(levels) + np.float32(1 / 765) * np.where(levels % 2 == 0, 1, -1)
    assert np.array_equal(to_uint8(nudged), levels)
    assert to_uint8(np.array([-0.5, 1.7], dtype=np.float32)).tolist() == [0, 255]


@pytest.mark.parametrize("name", ["out.png", "out.tif"])
def test_a_saved_result_holds_the_8_bit_values_shown_and_scored(tmp_path: Path, name) -> None:
    """Every value half way between two levels (k/510) is rounded as to_uint8 rounds it."""
    halves = (np.arange(511, dtype=np.float32) / np.float32(510)).reshape(1, 511, 1)
    rgb = np.repeat(halves, 3, axis=2)
    write_image(tmp_path / name, rgb)
    with Image.open(tmp_path / name) as written:
        assert np.array_equal(np.asarray(written.convert("RGB")), to_uint8(rgb))


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (random_pixels(4, 6, 3), "expected float values in \\[0, 1\\], got uint8"),
        (random_pixels(4, 6, 3).astype(np.uint16), "got uint16"),
        (np.full((4, 6, 3), np.nan, np.float32), "values that are not finite numbers"),
    ],
)
def test_pixels_that_are_not_a_unit_range_picture_are_refused_not_written(
    tmp_path: Path, pixels: np.ndarray, message: str
) -> None:
    """8-bit values were written nearly white and NaN black, with nothing said."""
    with pytest.raises(ImageWriteError, match=message):
        write_image(tmp_path / "out.png", pixels)
    assert list(tmp_path.iterdir()) == []
