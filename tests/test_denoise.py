"""Noise reduction before the network, on a real photo darkened and given camera-like grain."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from glare_core.config import compact_config, official_config
from glare_core.denoise import (
    VIEWING_LUMA,
    NoiseAdaptation,
    adapted_strength,
    estimate_noise,
    grain_noise,
    reduce_noise,
)
from glare_core.eight_bit import to_uint8
from glare_core.engine import Enhancer
from glare_core.exposure import (
    LUMA_WEIGHTS,
    apply_gain,
    gain_for_luma,
    mean_luma,
    to_display,
    to_linear,
)
from glare_core.imageio import read_image
from glare_core.metrics import psnr
from glare_core.train.augment import add_sensor_noise, grained_normal

#: a dark capture's linear-light exposure relative to the reference photo
DARKENING = 0.03
#: noise of a few pixels' grain, as camera pipelines leave it (sRGB units, dark capture)
GRAIN_PIXELS = 2
GRAIN_SIGMA = 0.012


@pytest.fixture(scope="module")
def dark_scene(pairs_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(clean, grainy): an eval reference photo darkened, without and with grain."""
    clean = apply_gain(read_image(pairs_dir / "eval" / "high" / "100.png").rgb, DARKENING)
    rng = np.random.default_rng(0)
    grain = grained_normal(clean.shape, GRAIN_PIXELS, rng).astype(np.float32)
    grainy = np.clip(clean + GRAIN_SIGMA * grain, 0, 1).astype(np.float32)
    return clean, grainy


def _as_seen(image: np.ndarray, gain: float) -> np.ndarray:
    """The photo at viewing brightness, where the noise shows."""
    return apply_gain(image, gain)


def test_it_removes_grain_from_a_dark_photo(dark_scene) -> None:
    clean, grainy = dark_scene
    gain = gain_for_luma(clean, VIEWING_LUMA)
    before = psnr(_as_seen(grainy, gain), _as_seen(clean, gain))
    after = psnr(_as_seen(reduce_noise(grainy, 6.0), gain), _as_seen(clean, gain))
    assert after > before + 1.5, (before, after)


def test_it_keeps_the_exposure_and_strength_zero_is_a_no_op(dark_scene) -> None:
    _, grainy = dark_scene
    assert reduce_noise(grainy, 0.0) is grainy
    filtered = reduce_noise(grainy, 6.0)
    assert filtered.dtype == np.float32 and filtered.shape == grainy.shape
    assert mean_luma(filtered) == pytest.approx(mean_luma(grainy), rel=0.02)


@pytest.mark.parametrize("level", [0.0, 0.02, 0.5, 1.0])
def test_a_flat_photo_comes_back_unchanged(level: float) -> None:
    flat = np.full((24, 32, 3), level, dtype=np.float32)
    flat[..., 2] *= 0.8  # a tint, so that colour conversions have something to round
    np.testing.assert_allclose(reduce_noise(flat, 6.0), flat, atol=1e-5)


def test_values_the_brightening_clips_are_kept(dark_scene) -> None:
    """A lamp in a dark room: the filter must not touch what it cannot see."""
    _, grainy = dark_scene
    lamp = grainy.copy()
    lamp[100:140, 200:260] = [1.0, 0.9, 0.6]
    filtered = reduce_noise(lamp, 6.0)
    np.testing.assert_array_equal(filtered[100:140, 200:260], lamp[100:140, 200:260])


def test_the_enhancer_filters_what_the_network_sees(dark_scene) -> None:
    _, grainy = dark_scene
    crop = grainy[:128, :192]
    plain = Enhancer.from_config("compact", device="cpu", noise_reduction=0.0)
    filtered = Enhancer.from_config("compact", device="cpu", noise_reduction=6.0)
    assert plain.noise_reduction == 0.0 and filtered.noise_reduction == 6.0
    assert np.abs(plain.enhance(crop) - filtered.enhance(crop)).max() > 1e-3
    prepared = filtered.prepare(crop)
    np.testing.assert_allclose(filtered.render(prepared), filtered.enhance(crop), atol=2e-3)
    with pytest.raises(ValueError, match="noise reduction"):
        Enhancer.from_config("compact", device="cpu", noise_reduction=-1.0)


def _with_noise(stored: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """8-bit ``stored`` with Gaussian noise of ``sigma`` levels."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, stored.shape)
    return np.clip(stored + noise, 0, 255).astype(np.uint8)


def test_the_noise_estimate_reads_the_noise_added_to_a_real_photo(pairs_dir: Path) -> None:
    photo = to_uint8(read_image(pairs_dir / "eval" / "high" / "100.png").rgb)
    own = estimate_noise(photo)
    assert own < 4.0, own
    for sigma in (6.0, 20.0):
        # luma averages the channels' independent noise: sigma * |LUMA_WEIGHTS|
        expected = np.hypot(own, sigma * np.linalg.norm(LUMA_WEIGHTS))
        assert estimate_noise(_with_noise(photo, sigma)) == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize("reference", ["4", "148"])
def test_the_grain_reading_sees_camera_grain_that_the_per_pixel_estimate_misses(
    pairs_dir: Path, reference: str
) -> None:
    photo = to_uint8(read_image(pairs_dir / "eval" / "high" / f"{reference}.png").rgb)
    assert grain_noise(photo) < 2.0  # its texture and edges do not count
    for grain in (2, 4):
        noise = grained_normal(photo.shape, grain, np.random.default_rng(grain)) * 12.0
        grainy = np.clip(photo + noise, 0, 255).astype(np.uint8)
        assert estimate_noise(grainy) < estimate_noise(photo) + 1.0
        assert grain_noise(grainy) > 10.0
    per_pixel = _with_noise(photo, 12.0)  # read at about the per-pixel estimate's level
    assert grain_noise(per_pixel) == pytest.approx(estimate_noise(per_pixel), rel=0.3)
    # too small to measure: in a small image even the flattest blocks hold texture
    thumbnail = cv2.resize(grainy, (160, 107), interpolation=cv2.INTER_AREA)
    assert grain_noise(thumbnail) == 0.0
    assert grain_noise(photo[:30, :60]) == 0.0


def test_the_filter_strength_grows_with_the_noise_above_the_reference(pairs_dir: Path) -> None:
    photo = to_uint8(read_image(pairs_dir / "eval" / "high" / "100.png").rgb)
    adaptation = NoiseAdaptation(reference_noise=8.0, max_factor=4.0)
    assert adapted_strength(photo, 4.0, adaptation) == 4.0  # ordinary noise: as set
    noisy = _with_noise(photo, 24.0)
    stronger = adapted_strength(noisy, 4.0, adaptation)
    assert 6.0 < stronger < 12.0, stronger
    assert adapted_strength(noisy, 2.0, adaptation) == pytest.approx(stronger / 2)
    assert adapted_strength(_with_noise(photo, 150.0), 4.0, adaptation) == 16.0  # capped
    assert adapted_strength(noisy, 4.0, NoiseAdaptation()) == 4.0  # off by default
    assert adapted_strength(noisy[:2, :5], 4.0, adaptation) == 4.0  # too small to measure
    assert official_config().input.noise_adaptation == NoiseAdaptation()
    assert compact_config().input.noise_adaptation.reference_noise > 0


def test_a_dark_noisy_capture_is_filtered_harder_and_an_ordinary_one_as_set(
    pairs_dir: Path,
) -> None:
    low = read_image(pairs_dir / "eval" / "low" / "100.png").rgb
    adaptation = compact_config().input.noise_adaptation
    np.testing.assert_array_equal(reduce_noise(low, 4.0, adaptation), reduce_noise(low, 4.0))
    # a stop darker, with read noise above the darkest pixels' signal
    darker = low * np.float32(0.5)
    noisy = to_display(add_sensor_noise(to_linear(darker), 5e-5, 2e-4, np.random.default_rng(0)))
    gain = gain_for_luma(darker, VIEWING_LUMA)
    stored = to_uint8(_as_seen(noisy, gain))
    assert adapted_strength(stored, 4.0, adaptation) > 8.0
    fixed = _as_seen(reduce_noise(noisy, 4.0), gain)
    adapted = _as_seen(reduce_noise(noisy, 4.0, adaptation), gain)
    clean = _as_seen(darker, gain)
    assert psnr(adapted, clean) > psnr(fixed, clean) + 0.05
    assert estimate_noise(to_uint8(adapted)) < estimate_noise(to_uint8(fixed)) - 0.3
