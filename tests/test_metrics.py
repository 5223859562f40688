"""PSNR, SSIM and the GT-mean correction against hand-computed values and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from glare_core.errors import GlareError
from glare_core.metrics import gt_mean_scale, psnr, score_pair, ssim, to_255


@pytest.fixture(scope="module")
def eval_pair(pairs_dir) -> tuple[np.ndarray, np.ndarray]:
    """One real low/normal-light pair as uint8 RGB."""
    low = np.asarray(Image.open(pairs_dir / "eval" / "low" / "148.png").convert("RGB"))
    high = np.asarray(Image.open(pairs_dir / "eval" / "high" / "148.png").convert("RGB"))
    return low, high


def _gradient(height: int = 48, width: int = 64) -> np.ndarray:
    """A uint8 RGB image with every level from 40 to 200, so offsets never clip."""
    ramp = np.linspace(40, 200, width, dtype=np.float64)
    image = np.broadcast_to(ramp[None, :, None], (height, width, 3))
    return np.round(image).astype(np.uint8)


def test_psnr_of_identical_images_is_infinite(eval_pair) -> None:
    low, _ = eval_pair
    assert psnr(low, low.copy()) == math.inf


def test_psnr_of_a_constant_offset_matches_the_formula() -> None:
    reference = _gradient()
    offset = 10
    # MSE = offset², so PSNR = 10·log10(255² / offset²) = 20·log10(25.5) ≈ 28.13 dB
    expected = 20 * math.log10(255 / offset)
    assert psnr(reference + np.uint8(offset), reference) == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(28.1308, abs=1e-4)


def test_uint8_and_unit_float_images_score_the_same(eval_pair) -> None:
    low, high = eval_pair
    as_float = score_pair(low.astype(np.float32) / 255, high.astype(np.float32) / 255)
    as_uint8 = score_pair(low, high)
    assert as_float.psnr == pytest.approx(as_uint8.psnr, abs=1e-4)
    assert as_float.ssim == pytest.approx(as_uint8.ssim, abs=1e-5)
    assert as_float.psnr_gt_mean == pytest.approx(as_uint8.psnr_gt_mean, abs=1e-4)


def test_ssim_equals_scikit_image_on_the_0_255_scale(eval_pair) -> None:
    low, high = eval_pair
    expected = structural_similarity(
        low.astype(np.float64), high.astype(np.float64), channel_axis=-1, data_range=255
    )
    assert ssim(low, high) == pytest.approx(expected, abs=1e-12)
    assert ssim(high, high) == pytest.approx(1.0)


def test_gt_mean_scale_multiplies_by_the_ratio_of_mean_greys(eval_pair) -> None:
    low, high = eval_pair
    ratio = high.astype(np.float64).mean() / low.astype(np.float64).mean()
    assert ratio > 2  # a real dark photo: most of it brightens, its highlights clip
    expected = np.minimum(low.astype(np.float64) * ratio, 255.0)
    np.testing.assert_allclose(gt_mean_scale(low, high), expected, rtol=1e-12)


def test_gt_mean_scale_matches_the_reference_mean_grey_when_nothing_clips() -> None:
    prediction = _gradient()
    reference = np.round(prediction * 0.8).astype(np.uint8)
    rescaled = gt_mean_scale(prediction, reference)
    assert rescaled.mean() == pytest.approx(reference.astype(np.float64).mean(), rel=1e-12)


def test_gt_mean_scale_clips_to_white() -> None:
    prediction = _gradient()
    reference = np.full_like(prediction, 250)
    rescaled = gt_mean_scale(prediction, reference)
    assert rescaled.max() == 255.0
    assert rescaled.mean() < 250  # clipping loses some of the brightness


def test_gt_mean_leaves_an_all_black_prediction_alone() -> None:
    black = np.zeros((8, 8, 3), np.uint8)
    assert np.array_equal(gt_mean_scale(black, _gradient(8, 8)), to_255(black))


def test_gt_mean_scores_ignore_a_global_exposure_error() -> None:
    reference = _gradient()
    half_as_bright = (reference.astype(np.float64) * 0.5) / 255
    scores = score_pair(half_as_bright, reference)
    assert scores.psnr < 15  # a whole stop too dark is heavily penalised
    assert scores.psnr_gt_mean > 45  # only the 8-bit rounding of the reference remains
    assert scores.ssim_gt_mean > scores.ssim


def test_images_of_different_sizes_are_refused() -> None:
    with pytest.raises(GlareError, match="sizes differ"):
        score_pair(_gradient(48, 64), _gradient(48, 60))


def test_images_smaller_than_the_ssim_window_are_refused_but_psnr_scores_them() -> None:
    tiny, dimmer = _gradient(5, 64), _gradient(5, 64) // 2
    with pytest.raises(GlareError, match="5 image is too small to score"):
        score_pair(tiny, dimmer)
    assert math.isfinite(psnr(tiny, dimmer))
    assert 0 < score_pair(_gradient(7, 7), _gradient(7, 7) // 2).ssim < 1


def test_integer_images_other_than_uint8_are_refused() -> None:
    with pytest.raises(TypeError, match="uint16"):
        to_255(np.zeros((2, 2, 3), np.uint16))
