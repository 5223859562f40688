"""Photo colour: the photo's own colour at the result's brightness (glare_core.photo_colour)."""

from __future__ import annotations

import numpy as np
import pytest

from glare_core.engine import Enhancer
from glare_core.exposure import LUMA_WEIGHTS, to_linear
from glare_core.imageio import read_image
from glare_core.photo_colour import photo_chromaticity
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
    np.testing.assert_allclose(_mean_chromaticity(photo_coloured, kept), own, atol=0.02)
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
