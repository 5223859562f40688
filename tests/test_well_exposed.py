"""Photos brighter than the trained range keep their own colour where well exposed."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from glare_core.config import preset
from glare_core.engine import Enhancer
from glare_core.errors import ConfigError
from glare_core.exposure import LUMA_WEIGHTS, luma, to_linear
from glare_core.imageio import read_image
from glare_core.resources import bundled_weights_path
from glare_core.weights import build_model
from glare_core.well_exposed import WellExposedColour, kept_colour

SETTING = WellExposedColour(full_effect_stops=1.0)


def _saturation(pixels: np.ndarray) -> float:
    """Mean (max - min) / max of the channels: 0 for greys, 1 for pure colours."""
    top = pixels.max(axis=-1)
    return float(np.mean((top - pixels.min(axis=-1)) / np.maximum(top, 1e-3)))


@pytest.fixture(scope="module")
def pool(photos_dir) -> np.ndarray:
    """The dusk photo of a lit pool (mean luma 0.23, above the compact range), at 480x270."""
    photo = read_image(photos_dir / "435_0_.png").rgb
    return cv2.resize(photo, (480, 270), interpolation=cv2.INTER_AREA)


def _lit_water(photo: np.ndarray) -> np.ndarray:
    """The pool's well-exposed, unclipped water: a clear blue-green."""
    bright = (luma(photo) > 0.5) & (photo.max(axis=-1) < 0.95)
    return bright & (photo[..., 2] > photo[..., 0] + 0.1)


@pytest.fixture(scope="module")
def lit_water(pool) -> np.ndarray:
    return _lit_water(pool)


def _bundled_enhancer(setting: WellExposedColour | None = None) -> Enhancer:
    model = build_model([bundled_weights_path()])
    if setting is not None:  # an inference setting: the network stays as loaded
        changed = dataclasses.replace(model.config.input, well_exposed=setting)
        model.config = dataclasses.replace(model.config, input=changed)
    return Enhancer(model, torch.device("cpu"))


def _dark(photo: np.ndarray) -> np.ndarray:
    """Pixels with nothing near the well-exposed ramp within 8 pixels (the blur's reach)."""
    return cv2.dilate(luma(photo), np.ones((17, 17), np.uint8)) < 0.3


def test_only_a_darkened_photo_keeps_colour_and_by_how_far_it_was_darkened(pool, lit_water) -> None:
    assert kept_colour(pool, 1.0, SETTING) is None  # in range: the network's result as is
    assert kept_colour(pool, 0.25, WellExposedColour()) is None  # off
    two_stops, half_a_stop = kept_colour(pool, 0.25, SETTING), kept_colour(pool, 2**-0.5, SETTING)
    assert two_stops is not None and half_a_stop is not None
    np.testing.assert_allclose(half_a_stop.weight, 0.5 * two_stops.weight, atol=1e-6)
    # the lit water keeps nearly all its colour, the dark garden none of it
    assert two_stops.weight[..., 0][lit_water].mean() > 0.8
    assert two_stops.weight[..., 0][_dark(pool)].max() == 0.0


@pytest.mark.parametrize(
    "changes",
    [
        {"full_effect_stops": -1.0},
        {"luma_start": 0.6, "luma_full": 0.6},
        {"luma_full": 1.5},
        {"smoothing_sigma": 0.0},
        {"full_effect_stops": "one"},
        {"full_effect_stops": float("inf")},
        {"smoothing_sigma": float("nan")},
    ],
)
def test_impossible_settings_are_refused_with_a_config_error(changes) -> None:
    with pytest.raises(ConfigError, match="well_exposed"):
        WellExposedColour(**changes)


def test_a_darkened_photo_with_nothing_well_exposed_keeps_nothing() -> None:
    dim_grey = np.full((32, 32, 3), 0.3, dtype=np.float32)  # below the ramp everywhere
    assert kept_colour(dim_grey, 0.25, SETTING) is None


def test_a_black_line_in_a_bright_area_turns_grey_at_the_result_brightness() -> None:
    """The blurred luma counts a thin dark line in a lit wall as well exposed; its missing
    colour must give grey, not black or one saturated channel."""
    wall = np.full((40, 40, 3), 0.8, dtype=np.float32)
    wall[20] = 0.0
    wall[30] = (0.0, 0.001, 0.0)  # nearly black, faintly green
    kept = kept_colour(wall, 0.25, SETTING)
    assert kept is not None and kept.weight[20].min() == 1.0
    recoloured = kept.apply(np.full_like(wall, 0.7))
    np.testing.assert_allclose(recoloured[[20, 30]], 0.7, atol=0.01)


def test_kept_colour_takes_the_photo_chromaticity_at_the_result_luminance(pool, lit_water) -> None:
    result = np.full_like(pool, 0.8)  # grey, as the network whitens the water
    kept = kept_colour(pool, 0.25, SETTING)
    assert kept is not None
    recoloured = kept.apply(result)
    assert _saturation(pool[lit_water]) > 0.3
    assert _saturation(recoloured[lit_water]) > 0.7 * _saturation(pool[lit_water])
    unclipped = lit_water & (recoloured.max(axis=-1) < 0.999) & (kept.weight[..., 0] == 1)
    assert unclipped.sum() > 100
    linear_luma = to_linear(recoloured) @ LUMA_WEIGHTS
    expected = to_linear(result) @ LUMA_WEIGHTS
    np.testing.assert_allclose(linear_luma[unclipped], expected[unclipped], rtol=0.03)


def test_the_bundled_model_keeps_a_dusk_pool_blue_in_full_results_and_previews(
    pool, lit_water
) -> None:
    """The network alone turns the lit water nearly white; the bundled settings keep it blue,
    in :meth:`Enhancer.enhance` and in the app's prepare/render previews alike (saturation
    measured: photo 0.38, network alone 0.035, bundled 0.29)."""
    bundled = _bundled_enhancer()
    assert bundled.config.input.well_exposed.enabled
    assert not preset("official").input.well_exposed.enabled
    network_only = _bundled_enhancer(WellExposedColour()).enhance(pool)
    result = bundled.enhance(pool)
    preview = bundled.render(bundled.prepare(pool))
    photo_saturation = _saturation(pool[lit_water])
    assert _saturation(network_only[lit_water]) < 0.5 * photo_saturation
    assert _saturation(result[lit_water]) > 0.7 * photo_saturation
    np.testing.assert_allclose(preview, result, atol=0.02)
    # the dark garden is the network's alone
    garden = _dark(pool)
    assert garden.mean() > 0.3
    np.testing.assert_array_equal(result[garden], network_only[garden])


def test_a_photo_over_the_working_size_keeps_its_colour_at_full_size(photos_dir) -> None:
    """The 1920x1080 original runs at the working size and is guided back up; the colour is
    kept on the full-size result, from the full-size photo."""
    photo = read_image(photos_dir / "435_0_.png").rgb
    bundled = _bundled_enhancer()
    assert bundled.working_size(1920, 1080) is not None
    result = bundled.enhance(photo)
    water = _lit_water(photo)
    assert result.shape == photo.shape
    assert _saturation(result[water]) > 0.7 * _saturation(photo[water])
