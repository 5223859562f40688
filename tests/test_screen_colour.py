"""A photo in a wide-gamut profile is shown as colour-managed viewers show it.

Profiles come from Qt's own colour spaces (there is no ICC file on a bare machine), and Qt's
independent colour engine is the reference the conversion is checked against.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from PySide6.QtGui import QColorSpace, QImage

from app.images import qimage_from_rgb8, rgb8_from_qimage
from glare_core.eight_bit import to_uint8
from glare_core.screen_colour import ScreenColour
from glare_core.session import Session

#: a warm orange, a leaf green and a mid grey: wide-gamut values that sRGB reads duller
COLOURS = np.array([[[200, 100, 50], [60, 170, 70], [128, 128, 128]]], dtype=np.uint8)


def qt_profile(name: str) -> bytes:
    return bytes(QColorSpace(getattr(QColorSpace.NamedColorSpace, name)).iccProfile())


def qt_to_srgb(rgb: np.ndarray, profile: bytes) -> np.ndarray:
    """Qt's conversion of ``rgb`` in ``profile`` to sRGB."""
    image = qimage_from_rgb8(rgb)
    image.setColorSpace(QColorSpace.fromIccProfile(profile))
    return rgb8_from_qimage(
        image.convertedToColorSpace(QColorSpace(QColorSpace.NamedColorSpace.SRgb))
    )


@pytest.mark.parametrize("name", ["DisplayP3", "AdobeRgb", "ProPhotoRgb"])
def test_a_wide_gamut_photo_is_shown_as_qt_converts_it(name: str) -> None:
    profile = qt_profile(name)
    screen = ScreenColour(profile, grey=False)
    shown = screen(COLOURS)
    assert screen.converts
    assert np.abs(shown.astype(int) - qt_to_srgb(COLOURS, profile)).max() <= 2
    # the orange and the green come out more saturated than their stored values
    assert shown[0, 0, 0] > COLOURS[0, 0, 0] and shown[0, 0, 2] < COLOURS[0, 0, 2]
    assert shown[0, 1, 1] > COLOURS[0, 1, 1] and shown[0, 1, 0] < COLOURS[0, 1, 0]


@pytest.mark.parametrize(
    "profile",
    [
        None,
        b"",
        qt_profile("SRgb"),
        ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    ],
    ids=["none", "empty", "qt-srgb", "lcms-srgb"],
)
def test_no_profile_or_an_srgb_one_leaves_the_pixels_alone(profile: bytes | None) -> None:
    screen = ScreenColour(profile, grey=False)
    assert not screen.converts
    np.testing.assert_array_equal(screen(COLOURS), COLOURS)


def test_a_damaged_profile_is_shown_as_srgb_and_said(caplog) -> None:
    damaged = qt_profile("DisplayP3")[:100]
    with caplog.at_level(logging.WARNING, logger="glare_core.screen_colour"):
        screen = ScreenColour(damaged, grey=False, name="phone.jpg")
    assert not screen.converts
    np.testing.assert_array_equal(screen(COLOURS), COLOURS)
    assert "phone.jpg: colour profile unusable for the screen" in caplog.text


def grey_profile(gamma: float) -> bytes:
    srgb = QColorSpace(QColorSpace.NamedColorSpace.SRgb)
    return bytes(
        QColorSpace(srgb.whitePoint(), QColorSpace.TransferFunction.Gamma, gamma).iccProfile()
    )


@pytest.mark.parametrize("gamma", [1.0, 1.8])
def test_a_grey_photo_is_shown_through_its_grey_profile_as_qt_converts_it(gamma: float) -> None:
    profile = grey_profile(gamma)
    levels = np.arange(0, 256, 5, dtype=np.uint8)[np.newaxis]
    stored = np.ascontiguousarray(np.repeat(levels[..., np.newaxis], 3, axis=2))
    screen = ScreenColour(profile, grey=True)
    assert screen.converts
    data = levels.tobytes()  # QImage borrows it
    image = QImage(data, levels.shape[1], 1, levels.shape[1], QImage.Format.Format_Grayscale8)
    image.setColorSpace(QColorSpace.fromIccProfile(profile))
    srgb = QColorSpace(QColorSpace.NamedColorSpace.SRgb)
    expected = rgb8_from_qimage(image.convertedToColorSpace(srgb)).astype(int)
    assert np.abs(screen(stored).astype(int) - expected).max() <= 2


@pytest.mark.parametrize(
    ("profile", "grey"),
    [
        (ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(), False),
        (grey_profile(1.8), False),  # invalid on colour pixels: every viewer ignores it
        (qt_profile("DisplayP3"), True),
    ],
    ids=["lab", "grey-on-colour", "colour-on-grey"],
)
def test_a_profile_made_for_other_pixels_is_not_applied(caplog, profile: bytes, grey: bool):
    with caplog.at_level(logging.WARNING):
        screen = ScreenColour(profile, grey=grey)
    assert not screen.converts and not caplog.records
    np.testing.assert_array_equal(screen(COLOURS), COLOURS)


def _display_p3_photo(pairs_dir: Path, path: Path) -> Path:
    source = sorted((pairs_dir / "eval" / "high").glob("*.png"))[0]
    with Image.open(source) as image:
        image.resize((96, 64)).save(path, icc_profile=qt_profile("DisplayP3"))
    return path


def test_the_session_shows_the_photo_and_its_results_through_its_profile(
    pairs_dir: Path, tmp_path: Path
) -> None:
    path = _display_p3_photo(pairs_dir, tmp_path / "phone.png")
    session = Session()
    opened = session.open(path, session.controls)
    stored = to_uint8(session.photo.rgb)
    assert (
        np.abs(opened.original.astype(int) - qt_to_srgb(stored, qt_profile("DisplayP3"))).max() <= 2
    )
    assert np.abs(opened.original.astype(int) - stored).mean() > 1
    # any picture of the photo goes through the same transform
    np.testing.assert_array_equal(session.to_screen(session.photo.rgb), opened.original)
    # a photo without a profile opened next is shown as stored
    plain = tmp_path / "plain.png"
    with Image.open(path) as image:
        image.save(plain, icc_profile=None)
    opened = session.open(plain, session.controls)
    np.testing.assert_array_equal(opened.original, to_uint8(session.photo.rgb))
