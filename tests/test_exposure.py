"""Exposure normalisation: inputs outside the trained brightness range are re-exposed into it;
and the result's exposure control."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from glare_core.config import COMPACT_EXPOSURE, RetrievalConfig, preset
from glare_core.engine import Enhancer
from glare_core.exposure import (
    MAX_EXPOSURE_STOPS,
    ExposureRange,
    adjust_exposure,
    apply_gain,
    mean_luma,
    normalize_exposure,
    to_display,
    to_linear,
)
from glare_core.imageio import read_image
from glare_core.model.glare import GlareNet
from glare_core.train.augment import AugmentConfig, augment_pair

BOUNDS = ExposureRange(floor=0.045, ceiling=0.14)


@pytest.fixture(scope="module")
def low(pairs_dir: Path) -> np.ndarray:
    return read_image(pairs_dir / "eval" / "low" / "148.png").rgb


def _darker(image: np.ndarray, linear_factor: float) -> np.ndarray:
    """What a shorter exposure records: linear light times the factor."""
    return to_display(to_linear(image) * np.float32(linear_factor))


def test_images_in_range_pass_untouched(low) -> None:
    assert BOUNDS.floor < mean_luma(low) < BOUNDS.ceiling
    assert normalize_exposure(low, BOUNDS) is low


def test_a_darker_exposure_is_lifted_to_the_floor_and_recovers_the_scene(low) -> None:
    darker = _darker(low, 0.05)
    assert mean_luma(darker) < BOUNDS.floor
    lifted = normalize_exposure(darker, BOUNDS)
    assert mean_luma(lifted) == pytest.approx(BOUNDS.floor, abs=1e-3)
    # the same scene at the floor's exposure, whichever exposure it was captured at
    at_floor = normalize_exposure(_darker(low, 0.2), BOUNDS)
    assert np.abs(lifted - at_floor).max() < 1e-3


def test_a_bright_photo_is_brought_down_to_the_ceiling(photos_dir: Path) -> None:
    dusk = read_image(photos_dir / "435_0_.png").rgb[::4, ::4]
    assert mean_luma(dusk) > BOUNDS.ceiling
    assert mean_luma(normalize_exposure(dusk, BOUNDS)) == pytest.approx(BOUNDS.ceiling, abs=1e-3)


def test_values_outside_the_stored_range_are_measured_as_clipped(low) -> None:
    """A float image may overshoot [0, 1] (a filter's ringing); its brightness is that of
    what would be stored."""
    overshooting = low.copy()
    overshooting[::2] = -1.0
    overshooting[1::4] = 3.0
    assert mean_luma(overshooting) == pytest.approx(mean_luma(np.clip(overshooting, 0, 1)))


def test_no_bounds_and_unit_gain_change_nothing(low) -> None:
    very_dark = _darker(low, 0.01)
    assert normalize_exposure(very_dark, ExposureRange()) is very_dark
    assert apply_gain(low, 1.0) is low
    assert not ExposureRange().enabled


def test_the_official_preset_never_reexposes_and_the_compact_one_does() -> None:
    assert not preset("official").input.exposure.enabled
    assert preset("compact").input.exposure == COMPACT_EXPOSURE


def test_the_engine_gives_one_result_for_every_darker_exposure(low) -> None:
    # float32: bfloat16 decoders would add their own rounding to the comparison. Codes as
    # retrieved: random codes all lie near zero, and under the preset's latent share the
    # VQGAN decoder would read half a random flow's latent, which 8-bit rounding moves
    torch.manual_seed(0)
    retrieved = dataclasses.replace(preset("compact"), retrieval=RetrievalConfig())
    enhancer = Enhancer(GlareNet(retrieved), torch.device("cpu"), precision="float32")
    crop = low[:128, :160]
    darker, darkest = (
        enhancer.enhance(_darker(crop, factor), strength=1.0) for factor in (0.1, 0.02)
    )
    assert np.abs(darker - darkest).mean() < 2e-3


def test_training_inputs_are_quantized_like_an_8_bit_file(low, pairs_dir: Path) -> None:
    high = read_image(pairs_dir / "eval" / "high" / "148.png").rgb[:64, :64]
    rng = np.random.default_rng(0)
    augmented = augment_pair(low[:64, :64], high, rng, AugmentConfig())
    np.testing.assert_allclose(augmented * 255, np.round(augmented * 255), atol=1e-3)
    floats = augment_pair(low[:64, :64], high, rng, AugmentConfig(quantize_levels=0))
    assert np.abs(floats * 255 - np.round(floats * 255)).max() > 0.01


def test_each_stop_of_exposure_doubles_or_halves_the_light(low) -> None:
    lifted = to_display(to_linear(low) * np.float32(4.0))
    unclipped = to_linear(lifted) < 0.45  # still below white after one stop more
    brighter, darker = adjust_exposure(lifted, 1.0), adjust_exposure(lifted, -1.0)
    np.testing.assert_allclose(
        to_linear(brighter)[unclipped], 2 * to_linear(lifted)[unclipped], rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(to_linear(darker), to_linear(lifted) / 2, rtol=1e-4, atol=1e-6)
    assert adjust_exposure(lifted, 0.0) is lifted
    assert to_linear(adjust_exposure(lifted, 2.0)).max() == pytest.approx(1.0)  # whites clip


def test_exposure_beyond_the_control_is_refused(low) -> None:
    with pytest.raises(ValueError, match="exposure"):
        adjust_exposure(low, MAX_EXPOSURE_STOPS + 0.5)
    enhancer = Enhancer.from_config("compact", device="cpu", seed=0)
    with pytest.raises(ValueError, match="exposure"):
        enhancer.enhance(low[:32, :32], exposure=-MAX_EXPOSURE_STOPS - 1)


def test_the_engine_re_exposes_its_result(low) -> None:
    enhancer = Enhancer.from_config("compact", device="cpu", seed=0, precision="float32")
    crop = low[:96, :128]
    result = enhancer.enhance(crop)
    np.testing.assert_array_equal(
        enhancer.enhance(crop, exposure=-1.0), adjust_exposure(result, -1)
    )
