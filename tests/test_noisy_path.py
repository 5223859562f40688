"""The noisy-photo path: a learned denoiser before the network and a fusion decoder behind it,
for photos far noisier than the training pairs (glare_core.config.NoisyPathConfig)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from glare_core.config import GlareConfig, NoisyPathConfig, preset
from glare_core.denoise import as_viewed, estimate_noise, grain_noise
from glare_core.eight_bit import EIGHT_BIT_MAX, to_uint8
from glare_core.engine import Enhancer, TilingConfig, mix
from glare_core.exposure import apply_gain, exposure_gain
from glare_core.guided_upsample import resize_rgb
from glare_core.imageio import read_image
from glare_core.metrics import psnr, ssim
from glare_core.model.denoiser import Denoiser
from glare_core.model.glare import GlareNet
from glare_core.session import Controls, PreviewPolicy, Session
from glare_core.train.augment import darker_capture

#: eval pairs the path is judged on, and the darker capture they are turned into: two stops
#: darker with `glare eval`'s sensor noise (MODEL_CARD.md)
PAIRS = ("148", "4", "56", "99")
DARKEN = 0.25
SHOT_NOISE = 5e-5
READ_NOISE = 2e-4


def noisier_capture(low: np.ndarray, seed: int) -> np.ndarray:
    """``low`` two stops darker with a sensor's noise, stored in 8 bits again."""
    return darker_capture(low, DARKEN, SHOT_NOISE, READ_NOISE, np.random.default_rng(seed))


#: a camera's grain (`glare eval --shot-noise 2e-5 --read-noise 1e-4 --noise-grain 3`): weaker
#: noise than a darker capture's, at the pair's own exposure, spread over a few pixels, and
#: the eval pairs (of :data:`PAIRS`) whose grain then reads above the path's threshold
GRAIN_SHOT_NOISE = 2e-5
GRAIN_READ_NOISE = 1e-4
GRAIN_PIXELS = 3
GRAINY_PAIRS = ("4", "56")


def grainy_capture(low: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return darker_capture(low, 1.0, GRAIN_SHOT_NOISE, GRAIN_READ_NOISE, rng, GRAIN_PIXELS)


def with_thresholds(monkeypatch, enhancer: Enhancer, **thresholds: float | None) -> None:
    """``enhancer``'s network with its noisy path's ``thresholds`` changed for one test (they
    are inference settings: the network is the same)."""
    noisy_path = dataclasses.replace(enhancer.config.noisy_path, **thresholds)
    changed = dataclasses.replace(enhancer.config, noisy_path=noisy_path)
    monkeypatch.setattr(enhancer.model, "config", changed)


@pytest.fixture(scope="module")
def bundled() -> Enhancer:
    return Enhancer.load(device="cpu", precision="float32")


@pytest.fixture(scope="module")
def pairs(pairs_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(low as captured, reference) of :data:`PAIRS`."""
    folder = pairs_dir / "eval"
    return [
        (read_image(folder / "low" / f"{n}.png").rgb, read_image(folder / "high" / f"{n}.png").rgb)
        for n in PAIRS
    ]


def test_an_untrained_denoiser_passes_any_size_through() -> None:
    denoiser = Denoiser(preset("compact").noisy_path.denoiser)
    image = torch.rand(1, 3, 37, 50)
    torch.testing.assert_close(denoiser(image), image, rtol=0, atol=0)
    torch.nn.init.normal_(denoiser.exit.weight, std=0.1)
    assert denoiser(image).shape == image.shape
    assert (denoiser(image) - image).abs().max() > 1e-3


@torch.no_grad()
def test_the_path_decodes_with_its_own_fusion_decoder() -> None:
    torch.manual_seed(0)
    model = GlareNet(preset("compact")).eval()
    low_light = torch.log(torch.rand(1, 3, 64, 64) * 0.2 + 1e-3)
    assert (model(low_light, noisy=True) - model(low_light)).abs().max() > 1e-3
    model.noisy_path.fusion_decoder.load_state_dict(model.fusion_decoder.state_dict())
    torch.testing.assert_close(model(low_light, noisy=True), model(low_light))

    without = GlareNet(dataclasses.replace(preset("compact"), noisy_path=NoisyPathConfig()))
    assert without.noisy_path is None
    with pytest.raises(ValueError, match="no noisy-photo path"):
        without(low_light, noisy=True)
    with pytest.raises(ValueError, match="no noisy-photo path"):
        Enhancer(without, torch.device("cpu"), noisy_path=True)
    glare_only = Enhancer(without, torch.device("cpu"), precision="float32")
    with pytest.raises(ValueError, match="no noisy-photo path"):
        glare_only.with_noisy_path(True)
    assert glare_only.with_noisy_path(False).noisy_path is False


def test_a_forced_path_keeps_the_enhancers_network_and_settings(bundled, pairs) -> None:
    low = pairs[0][0][:64, :96]
    assert not bundled.takes_noisy_path(low)
    forced = bundled.with_noisy_path(True)
    assert forced.takes_noisy_path(low) and not bundled.takes_noisy_path(low)
    assert forced.model is bundled.model and forced.tiling == bundled.tiling
    assert forced.decoder_dtype == bundled.decoder_dtype
    cpu, tiling = bundled.device, bundled.tiling
    through_path = Enhancer(bundled.model, cpu, tiling, "float32", noisy_path=True)
    np.testing.assert_array_equal(forced.enhance(low), through_path.enhance(low))


def test_configs_written_before_the_path_build_networks_without_it() -> None:
    written = preset("compact").to_dict()
    del written["noisy_path"]
    config = GlareConfig.from_dict(written)
    assert not config.noisy_path.enabled and GlareNet(config).noisy_path is None
    assert GlareConfig.from_json(preset("compact").to_json()) == preset("compact")


def test_noisy_photos_take_the_path_and_photos_as_captured_do_not(bundled, pairs) -> None:
    assert bundled.model.noisy_path is not None  # the bundled file carries the path
    for index, (low, _) in enumerate(pairs):
        noisy = noisier_capture(low, index)
        assert not bundled.takes_noisy_path(low)
        assert bundled.takes_noisy_path(noisy)
        # noise reduction off turns the learned denoiser off too
        assert not bundled.takes_noisy_path(noisy, noise_reduction=0)


@torch.no_grad()
def test_photos_with_a_cameras_grain_take_the_path_though_each_pixel_reads_little_noise(
    bundled, pairs, monkeypatch
) -> None:
    glare_only = Enhancer(bundled.model, torch.device("cpu"), precision="float32", noisy_path=False)
    grainy = {
        name: (grainy_capture(low, index), reference)
        for index, (name, (low, reference)) in enumerate(zip(PAIRS, pairs, strict=True))
        if name in GRAINY_PAIRS
    }
    ssim_gains = []
    for capture, reference in grainy.values():
        assert bundled.takes_noisy_path(capture)
        ssim_gains.append(
            ssim(bundled.enhance(capture), reference) - ssim(glare_only.enhance(capture), reference)
        )
    assert np.mean(ssim_gains) > 0.03, ssim_gains

    # it is the grain reading that sends them: per pixel, they read as ordinary photos
    with_thresholds(monkeypatch, bundled, grain_threshold=None)
    for capture, _ in grainy.values():
        assert not bundled.takes_noisy_path(capture)


#: a capture so dark that its photo holds a few 8-bit levels: eval's low images times this
VERY_DARK = 0.05


@torch.no_grad()
def test_very_dark_photos_take_the_path_and_come_out_closer_to_their_references(
    bundled, pairs, monkeypatch
) -> None:
    glare_only = Enhancer(bundled.model, torch.device("cpu"), precision="float32", noisy_path=False)
    psnr_gains, ssim_gains = [], []
    rng = np.random.default_rng(0)  # draws nothing: no noise is added
    dark = [(darker_capture(low, VERY_DARK, 0.0, 0.0, rng), reference) for low, reference in pairs]
    for capture, reference in dark:
        assert bundled.takes_noisy_path(capture)
        result, alone = bundled.enhance(capture), glare_only.enhance(capture)
        psnr_gains.append(psnr(result, reference) - psnr(alone, reference))
        ssim_gains.append(ssim(result, reference) - ssim(alone, reference))
    assert np.mean(psnr_gains) > 0.2, psnr_gains
    assert np.mean(ssim_gains) > 0.01, ssim_gains

    # it is their darkness that sends them: their noise reads below the thresholds
    with_thresholds(monkeypatch, bundled, dark_threshold=None)
    assert not any(bundled.takes_noisy_path(capture) for capture, _ in dark)


@torch.no_grad()
def test_noisy_photos_come_out_closer_to_their_references_through_the_path(bundled, pairs) -> None:
    cpu = torch.device("cpu")
    glare_only = Enhancer(bundled.model, cpu, precision="float32", noisy_path=False)
    gains = []
    for index, (low, reference) in enumerate(pairs):
        noisy = noisier_capture(low, index)
        result = bundled.enhance(noisy)
        gains.append(psnr(result, reference) - psnr(glare_only.enhance(noisy), reference))
        # the interactive path renders the same picture
        rendered = bundled.render(bundled.prepare(noisy))
        np.testing.assert_allclose(rendered, result, atol=1e-4)
    assert np.mean(gains) > 0.3, gains


@torch.no_grad()
def test_the_denoiser_runs_in_tiles_without_seams(bundled, pairs) -> None:
    capture = noisier_capture(pairs[0][0], 0)
    # what the denoiser gets: the photo re-exposed into the exposure range
    noisy = apply_gain(capture, exposure_gain(capture, bundled.config.input.exposure))
    tiled = Enhancer(bundled.model, torch.device("cpu"), TilingConfig(tile_size=256), "float32")
    whole = bundled._learned_denoised(noisy)
    pieces = tiled._learned_denoised(noisy)
    # it does denoise
    assert estimate_noise(as_viewed(whole)) < 0.3 * estimate_noise(as_viewed(noisy))
    assert np.abs(pieces - whole).max() < 2 / EIGHT_BIT_MAX


def test_previews_take_the_path_the_full_result_takes(bundled, pairs, tmp_path) -> None:
    """A small preview shows less of the photo's noise than the size the network runs at:
    its path is the full result's, not its own."""
    noisy = noisier_capture(pairs[0][0], 0)
    path = tmp_path / "noisy.png"
    cv2.imwrite(str(path), cv2.cvtColor(to_uint8(noisy), cv2.COLOR_RGB2BGR))
    policy = PreviewPolicy(max_drag_pixels=10_000, min_drag_pixels=1_000)
    session = Session(bundled, policy)
    opened = session.open(path, Controls())
    assert opened.noisy_path
    preview = opened.drag_preview
    small = resize_rgb(noisy, session.drag_features_size)
    assert bundled.takes_noisy_path(noisy) and not bundled.takes_noisy_path(small)
    for noisy_path, matches in ((True, True), (False, False)):
        prepared = bundled.prepare(small, noisy_path=noisy_path)
        expected = to_uint8(bundled.render(prepared, draft=policy.drag_draft))
        assert (np.abs(preview.astype(int) - expected).max() <= 1) == matches


def test_noise_reduction_still_acts_on_a_photo_that_takes_the_path(bundled, photos_dir) -> None:
    """Below the weights' own strength the result keeps more of the photo's grain, above it
    the filter follows the denoiser and flattens more: the slider is not dead on such photos."""
    photo = read_image(photos_dir / "893_0_.png").rgb  # a phone's grain: the path's kind
    trained = bundled.config.input.noise_reduction
    strengths = (trained / 2, trained, trained * 7 / 4)
    assert all(bundled.takes_noisy_path(photo, noise_reduction=s) for s in strengths)
    grain = [grain_noise(as_viewed(bundled.enhance(photo, noise_reduction=s))) for s in strengths]
    assert grain[0] > 1.1 * grain[1] and grain[1] > 1.3 * grain[2], grain


def test_photos_on_glares_path_take_a_share_of_the_noisy_paths_result(bundled, pairs) -> None:
    """The two paths err differently: the mix scores above GLARE's path alone, and the app's
    interactive renders mix the same way."""
    share = bundled.config.noisy_path.mix.into_glare_path
    assert share > 0
    cpu = torch.device("cpu")
    glare_only = Enhancer(bundled.model, cpu, precision="float32", noisy_path=False)
    path_only = Enhancer(bundled.model, cpu, precision="float32", noisy_path=True)
    gains = []
    for low, reference in pairs:
        assert not bundled.takes_noisy_path(low)
        result, own = bundled.enhance(low), glare_only.enhance(low)
        np.testing.assert_allclose(result, mix(own, path_only.enhance(low), share), atol=1e-6)
        gains.append(psnr(result, reference) - psnr(own, reference))
    assert np.mean(gains) > 0.05, gains
    prepared = bundled.prepare(low)
    np.testing.assert_allclose(bundled.render(prepared), result, atol=1e-4)
    # a draft, following a slider, renders the photo's own path alone
    own_draft = glare_only.render(glare_only.prepare(low), draft=1)
    np.testing.assert_allclose(bundled.render(prepared, draft=1), own_draft, atol=1e-6)
    # noise reduction 0 turns the path off, and the mix with it
    np.testing.assert_array_equal(
        bundled.enhance(low, noise_reduction=0), glare_only.enhance(low, noise_reduction=0)
    )
