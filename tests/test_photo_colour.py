"""Photo colour: the photo's own colour at the result's brightness (glare_core.photo_colour)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from glare_core.engine import Enhancer
from glare_core.exposure import LUMA_WEIGHTS, to_linear
from glare_core.imageio import read_image
from glare_core.photo_colour import photo_chromaticity, recoloured
from glare_core.resources import sample_photo_path


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    """The bundled sample: an espresso on a brown wooden table, in warm light."""
    return read_image(sample_photo_path()).rgb


@pytest.fixture(scope="module")
def bundled() -> Enhancer:
    return Enhancer.load(device="cpu", precision="float32")


@pytest.fixture(scope="module")
def results(bundled: Enhancer, sample: np.ndarray) -> dict[float, np.ndarray]:
    return {share: bundled.enhance(sample, photo_colour=share) for share in (0.0, 0.5, 1.0)}


def _unclipped(*images: np.ndarray) -> np.ndarray:
    """Pixels no channel of which is clipped in any of ``images``."""
    return np.all([image.max(axis=-1) < 0.99 for image in images], axis=0)


def _mean_chromaticity(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    linear = to_linear(image)[where] + np.float32(1e-4)
    return (linear / (linear @ LUMA_WEIGHTS)[:, None]).mean(axis=0)


def test_the_model_neutralises_the_sample_and_full_photo_colour_brings_it_back(
    sample, results
) -> None:
    neutral, photo_coloured = results[0.0], results[1.0]
    kept = _unclipped(neutral, photo_coloured)
    assert kept.mean() > 0.5
    own = photo_chromaticity(sample)[kept].mean(axis=0)
    # the model's result is far nearer grey (1, 1, 1) than the photo: its warmth is gone
    assert _mean_chromaticity(neutral, kept)[0] < own[0] - 0.5
    # the photo's colour is smoothed along the result, which moves a little of it across
    # the result's edges (0.03 of red at most)
    np.testing.assert_allclose(_mean_chromaticity(photo_coloured, kept), own, atol=0.04)
    # the brightness and detail are the network's: the linear luminance is kept, also where
    # the photo's colour at that brightness would pass white and is desaturated to fit
    assert photo_coloured.max() <= 1.0
    np.testing.assert_allclose(
        to_linear(photo_coloured) @ LUMA_WEIGHTS, to_linear(neutral) @ LUMA_WEIGHTS, atol=2e-3
    )


def test_shares_between_mix_the_two_and_zero_is_the_model_result(bundled, sample, results) -> None:
    np.testing.assert_array_equal(results[0.0], bundled.enhance(sample))
    np.testing.assert_allclose(results[0.5], (results[0.0] + results[1.0]) / 2, atol=1e-5)


def test_a_share_outside_zero_to_one_is_refused(sample) -> None:
    enhancer = Enhancer.from_config("compact", device="cpu", seed=0)
    with pytest.raises(ValueError, match="photo colour"):
        enhancer.enhance(sample[:32, :32], photo_colour=1.5)


def _colour_noise(image: np.ndarray) -> float:
    """Mean CIELAB a*b* distance of each pixel from its surroundings (a Gaussian of 8 px)."""
    chroma = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 1:]
    return float(np.linalg.norm(chroma - cv2.GaussianBlur(chroma, (0, 0), 8), axis=-1).mean())


def test_the_photos_colour_noise_stays_out(bundled: Enhancer, photos_dir: Path) -> None:
    # the ground of a dark phone photo: its colour is noisy in pink and green blotches
    ground = read_image(photos_dir / "159_0_.png").rgb[1300:1700, 300:700]
    neutral = bundled.enhance(ground)
    photo_coloured = bundled.enhance(ground, photo_colour=1.0)
    unsmoothed = recoloured(neutral, photo_chromaticity(ground), 1.0, fit_gamut=True)
    assert _colour_noise(photo_coloured) < 0.4 * _colour_noise(unsmoothed)
    # the smoothing evens the colour out; it keeps its overall hue
    mean_chroma = [
        cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 1:].mean(axis=(0, 1))
        for image in (photo_coloured, unsmoothed)
    ]
    np.testing.assert_allclose(*mean_chroma, atol=1.5)
