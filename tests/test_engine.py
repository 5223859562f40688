"""The inference engine: controls, tiling, sizes, cancellation, memory fallback, loading."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from glare_core import engine
from glare_core.config import RetrievalConfig, preset
from glare_core.eight_bit import EIGHT_BIT_MAX
from glare_core.engine import Enhancer, TilingConfig, default_tiling
from glare_core.errors import WeightsError
from glare_core.guided_upsample import fit_pixels, resize_rgb
from glare_core.imageio import read_image
from glare_core.limits import MAX_TEMPERATURE, MIN_TILE_SIZE
from glare_core.model.glare import GlareNet
from glare_core.preprocess import official_padding
from glare_core.progress import Cancelled, CancelToken
from glare_core.resources import bundled_weights_path, sample_photo_path
from glare_core.tiling import runs_whole
from glare_core.weights import CONFIG_METADATA_KEY, average_weights, build_model, save_weights

#: half an 8-bit level: tiles that differ less than this are indistinguishable in a PNG
INVISIBLE = 0.5 / 255
#: the 4K photo's lit wall, white to pale yellow, above the cabinet (rows, columns of 1280x720)
LIT_WALL = (slice(0, 86), slice(845, 1062))


@pytest.fixture(scope="module")
def compact() -> Enhancer:
    # float32 throughout: these tests check tiling and caching to float rounding, which
    # bfloat16 decoders would blur (their own bound is tested below)
    return Enhancer.from_config("compact", device="cpu", seed=0, precision="float32")


@pytest.fixture(scope="module")
def photo(pairs_dir: Path) -> np.ndarray:
    return read_image(pairs_dir / "eval" / "low" / "148.png").rgb[:192, :256]


def test_strength_ends_differ_and_one_is_the_trained_model(compact, photo) -> None:
    prepared = compact.prepare(photo)
    trained = compact.render(prepared, strength=1.0)
    np.testing.assert_array_equal(trained, compact.enhance(photo))
    generated, faithful = compact.render(prepared, 0.0), compact.render(prepared, 2.0)
    assert np.abs(generated - faithful).mean() > 0.01
    assert np.abs(compact.render(prepared, 1.2) - trained).mean() > 0


@pytest.mark.parametrize(
    ("controls", "message"),
    [
        ({"temperature": float("inf")}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": -0.5}, "temperature"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, r"seed must lie in \[0, 2147483647\]"),
        ({"seed": 1.5}, "seed must be a whole number"),  # was run as seed 1
        ({"seed": 10**400}, r"seed must lie in \[0, 2147483647\]"),  # float() overflowed
        ({"strength": 2.5}, "strength"),
    ],
)
def test_controls_outside_their_range_are_refused(compact, photo, controls, message) -> None:
    with pytest.raises(ValueError, match=message):
        compact.enhance(photo, **controls)
    with pytest.raises(ValueError, match=message):
        compact.render(compact.prepare(photo), **controls)


@pytest.mark.parametrize(
    ("draft", "message"),
    [(1.5, "draft must be a whole number"), (3, r"draft must lie in \[0, 2\]")],
)
def test_draft_levels_that_do_not_exist_are_refused(compact, photo, draft, message) -> None:
    """1.5 ended in a raw error from inside torch's pooling."""
    with pytest.raises(ValueError, match=message):
        compact.render(compact.prepare(photo), draft=draft)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_pixels_are_scaled_by_their_types_maximum(compact, photo, dtype) -> None:
    maximum = np.iinfo(dtype).max
    stored = np.rint(photo * maximum).astype(dtype)
    expected = compact.enhance(stored.astype(np.float32) / maximum)
    np.testing.assert_array_equal(compact.enhance(stored), expected)
    prepared = compact.prepare(stored)
    np.testing.assert_array_equal(compact.render(prepared), expected)
    assert compact.takes_noisy_path(stored) == compact.takes_noisy_path(photo)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda image: image * 255, r"this one's run from 1 to 91: divide 8-bit values by 255"),
        (lambda image: np.where(image > 0.1, np.nan, image), r"\d+ values that are not finite"),
        (lambda image: np.where(image > 0.1, np.inf, image), "not finite"),
    ],
)
def test_float_images_that_are_not_in_the_unit_range_are_refused(
    compact, photo, damage, message
) -> None:
    # such values came out as a white picture, or as an error blaming the weights
    with pytest.raises(ValueError, match=message):
        compact.enhance(damage(photo))
    with pytest.raises(ValueError, match=message):
        compact.prepare(damage(photo))


def test_resampling_overshoot_is_clipped(compact, photo) -> None:
    overshot = photo * 1.1 - 0.05  # a Lanczos resize rings this far past black and white
    np.testing.assert_array_equal(
        compact.enhance(overshot), compact.enhance(np.clip(overshot, 0, 1))
    )


def test_weights_holding_nan_fail_instead_of_saving_a_black_picture(photo) -> None:
    damaged = Enhancer.from_config("compact", device="cpu", seed=0, precision="float32")
    with torch.no_grad():
        next(damaged.model.fusion_decoder.parameters()).fill_(float("nan"))
    with pytest.raises(WeightsError, match="not finite"):
        damaged.enhance(photo)


def test_a_preview_above_temperature_zero_shows_the_full_results_sample(pairs_dir) -> None:
    """A half-size preview drew its noise on its own latent grid: a sample unrelated to the
    one the full result (the export) has. Measured by how the change that a temperature
    makes follows the full result's, downscaled, for its own seed and for another."""
    bundled = Enhancer.load(device="cpu")  # trained: random weights sample no texture
    photo = read_image(pairs_dir / "eval" / "low" / "148.png").rgb
    height, width = photo.shape[:2]
    half = (width // 2, height // 2)

    deterministic = bundled.enhance(photo)

    def sampled(seed: int) -> np.ndarray:  # what the temperature changes, downscaled
        return resize_rgb(bundled.enhance(photo, temperature=0.8, seed=seed) - deterministic, half)

    prepared = bundled.prepare(
        resize_rgb(photo, half), sample_grid=bundled.sample_grid(width, height)
    )
    preview = bundled.render(prepared, temperature=0.8, seed=1) - bundled.render(prepared)

    def follows(full: np.ndarray) -> float:
        return float(np.corrcoef(preview.ravel(), full.ravel())[0, 1])

    assert follows(sampled(1)) > follows(sampled(2)) + 0.15


def test_the_highest_temperature_varies_the_picture_without_breaking_it() -> None:
    """Up to T = 2 was offered, where the flow's inverse explodes: the bundled sample came out
    near-black (it moves 17 levels of 255 at 1.2, 124 at 1.4)."""
    bundled = Enhancer.load(device="cpu")
    sample = read_image(sample_photo_path()).rgb
    deterministic = bundled.enhance(sample)
    for seed in (0, 1, 2):
        varied = bundled.enhance(sample, temperature=MAX_TEMPERATURE, seed=seed)
        assert 0.5 / 255 < np.abs(varied - deterministic).mean() < 8 / 255


def test_a_draft_render_is_a_soft_version_of_the_full_one(photo) -> None:
    bundled = Enhancer.load(device="cpu")  # trained features: random ones have no scale
    prepared = bundled.prepare(photo)
    full = {strength: bundled.render(prepared, strength) for strength in (0.0, 2.0)}
    for draft in (1, 2):
        drafts = {s: bundled.render(prepared, s, draft=draft) for s in (0.0, 2.0)}
        assert drafts[0.0].shape == photo.shape
        # each draft stays nearer its own full render than the strength ends are apart
        apart = np.abs(full[0.0] - full[2.0]).mean()
        assert np.abs(drafts[0.0] - full[0.0]).mean() < apart / 2
        assert np.abs(drafts[2.0] - full[2.0]).mean() < apart / 2
    with pytest.raises(ValueError, match="draft"):
        bundled.render(prepared, 1.0, draft=3)


def test_reduced_precision_decoders_stay_within_a_level_of_float32(photo) -> None:
    exact = Enhancer.load(device="cpu", precision="float32")
    assert exact.decoder_dtype == torch.float32
    fast = Enhancer.load(device="cpu")  # the bundled config allows bfloat16 decoders
    if fast.decoder_dtype == torch.float32:
        pytest.skip("this CPU has no native bfloat16: the decoders stay float32")
    assert fast.decoder_dtype == torch.bfloat16
    # the codebook choice is made in float32 either way
    with torch.inference_mode():
        picks = [e.model.generate(e.prepare(photo).condition).indices for e in (exact, fast)]
    assert torch.equal(*picks)
    for temperature in (0.0, 0.6):
        difference = np.abs(
            exact.enhance(photo, temperature=temperature, seed=3)
            - fast.enhance(photo, temperature=temperature, seed=3)
        )
        # measured on this photo: mean 0.3 levels, 99.9th percentile 2.5 levels
        assert difference.mean() < 0.6 / 255
        assert np.quantile(difference, 0.999) < 5 / 255
        assert difference.max() > 0  # bfloat16 did run
    with pytest.raises(ValueError, match="precision"):
        Enhancer.load(device="cpu", precision="float16")


@pytest.mark.parametrize("tile_size", [64, 8192])
def test_tile_sizes_outside_the_range_are_refused(tile_size: int) -> None:
    with pytest.raises(ValueError, match=r"tile size must lie in \[256, 4096\]"):
        Enhancer.load(device="cpu", tile_size=tile_size)


def test_temperature_zero_is_deterministic_and_seeds_reproduce(compact, photo) -> None:
    prepared = compact.prepare(photo)
    zero = compact.render(prepared, temperature=0.0, seed=1)
    np.testing.assert_array_equal(zero, compact.render(prepared, temperature=0.0, seed=2))
    sampled = compact.render(prepared, temperature=0.8, seed=7)
    np.testing.assert_array_equal(sampled, compact.enhance(photo, temperature=0.8, seed=7))
    assert np.abs(sampled - zero).mean() > 1e-3
    assert np.abs(sampled - compact.render(prepared, temperature=0.8, seed=8)).mean() > 1e-3


def test_the_render_cache_keeps_what_its_byte_budget_holds(compact, photo, monkeypatch) -> None:
    """Four cached samples of each of two paths took a 1600x1067 preview past 3 GB."""
    prepared = compact.prepare(photo)
    samples = [(0.5, seed) for seed in range(3)]
    for temperature, seed in samples:
        compact.render(prepared, temperature=temperature, seed=seed)
    assert all(prepared.has_sample(*sample) for sample in samples)  # room for all three

    one_sample = next(iter(prepared.renders.values()))
    monkeypatch.setattr(engine, "RENDER_CACHE_BYTES", 2.5 * engine._tensor_bytes(one_sample))
    latest = compact.render(prepared, temperature=0.5, seed=9)
    assert [prepared.has_sample(*sample) for sample in samples] == [False, False, True]
    assert prepared.has_sample(0.5, 9)
    # what the cache dropped renders again, as it was
    np.testing.assert_array_equal(latest, compact.render(prepared, temperature=0.5, seed=9))
    first = compact.render(prepared, temperature=0.5, seed=0)
    np.testing.assert_array_equal(first, compact.enhance(photo, temperature=0.5, seed=0))

    monkeypatch.setattr(engine, "RENDER_CACHE_BYTES", 1)
    compact.render(prepared, temperature=0.5, seed=1)
    assert list(prepared.renders) == [(0.5, 1)]  # the newest is always kept


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_tiles_equal_the_whole_image_when_statistics_are_shared(photo, temperature) -> None:
    # trained weights: random codes all lie near zero, so under the preset's latent share the
    # VQGAN decoder reads half a random flow's latent, which a tile's limited context moves
    # visibly; the trained model's tiles match the whole image to about 1e-6. Above
    # temperature 0 the statistics are measured at it: measured on the deterministic path, a
    # 1 MP photo's 1024 px tiles were 6 levels of 255 off the whole image on average at 0.7
    bundled = Enhancer.load(device="cpu", precision="float32")
    whole = bundled.enhance(photo, temperature=temperature, seed=3)
    tiling = TilingConfig(tile_size=160, context=64, min_tile_size=128, stats_size=512)
    tiled = Enhancer(bundled.model, bundled.device, tiling, "float32")
    difference = np.abs(tiled.enhance(photo, temperature=temperature, seed=3) - whole)
    assert difference.mean() < 1e-4
    assert difference.max() < 2 * INVISIBLE


@pytest.mark.parametrize("size", [(1, 1), (3, 17), (17, 3), (43, 57)])
def test_odd_sizes(compact, size) -> None:
    image = np.random.default_rng(0).random((*size, 3), dtype=np.float32) * 0.2
    out = compact.enhance(image)
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_a_photo_as_large_as_the_tile_runs_whole(compact, photo) -> None:
    """The padding the network needs took a 256 px photo over 256 px tiles: it was tiled."""
    side = photo[:256, :256]
    tiled = Enhancer(compact.model, compact.device, TilingConfig(tile_size=256), "float32")
    np.testing.assert_array_equal(tiled.enhance(side), compact.enhance(side))


def test_a_strip_no_larger_than_a_tile_runs_whole(compact, pairs_dir: Path) -> None:
    """Cut into tiles, a strip shared statistics measured on a copy a few pixels high (the
    tiles' proxy): with the bundled model, strips 4000 px long came out 9-18 levels darker
    than whole."""
    strip = read_image(pairs_dir / "eval" / "low" / "148.png").rgb[100:164]
    tiled = Enhancer(compact.model, compact.device, TilingConfig(tile_size=256), "float32")
    np.testing.assert_array_equal(tiled.enhance(strip), compact.enhance(strip))


def test_a_strip_larger_than_a_tile_shares_statistics_of_its_own_shape(
    compact, pairs_dir: Path
) -> None:
    """Tiles share statistics measured on a copy of as many pixels as a tile: scaled by its
    long side, a 1200x64 strip's copy was 13 px high, and the tiles' result moved by 84
    levels on average from the whole strip's (the bundled model: 18)."""
    rows = read_image(pairs_dir / "eval" / "low" / "148.png").rgb[100:164]
    strip = np.ascontiguousarray(np.concatenate([rows, rows[:, ::-1]], axis=1)[:, :1200])
    tiled = Enhancer(compact.model, compact.device, TilingConfig(tile_size=256), "float32")
    whole = Enhancer(compact.model, compact.device, TilingConfig(tile_size=4096), "float32")
    moved = np.abs(tiled.enhance(strip) - whole.enhance(strip)).mean() * EIGHT_BIT_MAX
    assert moved < 8  # 4.5 levels


def test_threads_sharing_a_network_get_their_own_pictures_and_cancels(compact, photo) -> None:
    """A tiled run in one thread and a whole one in another, on one network: the whole run
    read the tiles' recorded statistics (53 levels off, no error), and a cancel of one run
    stopped the other."""
    tiled = Enhancer(compact.model, compact.device, TilingConfig(tile_size=256), "float32")
    large = np.ascontiguousarray(np.concatenate([photo, photo[:, ::-1]], axis=1))
    small = np.ascontiguousarray(photo[:48, :64])
    alone = {"large": tiled.enhance(large), "small": compact.enhance(small)}
    results: dict[str, list[np.ndarray]] = {"large": [], "small": []}
    failures: list[tuple[str, BaseException]] = []
    token = CancelToken()

    def run(name: str, enhance) -> None:
        try:
            results[name].append(enhance())
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append((name, error))

    large_run = threading.Thread(target=run, args=("large", lambda: tiled.enhance(large)))
    large_run.start()
    while large_run.is_alive():
        run("small", lambda: compact.enhance(small))
    cancelled = threading.Thread(
        target=run, args=("large", lambda: tiled.enhance(large, cancel=token))
    )
    cancelled.start()
    token.cancel()
    run("small", lambda: compact.enhance(small))  # no token of its own
    cancelled.join()
    for name, pictures in results.items():
        for picture in pictures:
            np.testing.assert_array_equal(picture, alone[name])
    assert all(name == "large" and isinstance(error, Cancelled) for name, error in failures)
    # a run cancelled while it waits for another's ends at once, not when the other does
    inside = threading.Event()  # set by the run's progress, within its hold of the network
    large_run = threading.Thread(
        target=tiled.enhance, args=(large,), kwargs={"progress": lambda *_: inside.set()}
    )
    large_run.start()
    inside.wait()
    with pytest.raises(Cancelled):
        compact.enhance(small, cancel=token)
    assert large_run.is_alive()
    large_run.join()


def test_a_whole_number_tile_size_given_as_a_float_is_taken(photo) -> None:
    tiled = Enhancer.load(device="cpu", tile_size=256.0)
    assert tiled.tiling.tile_size == 256 and isinstance(tiled.tiling.tile_size, int)
    assert tiled.enhance(np.tile(photo, (2, 2, 1))).shape == (384, 512, 3)


def test_a_finite_image_too_large_for_float32_is_out_of_range_not_infinite(compact) -> None:
    huge = np.full((8, 8, 3), 1e300)
    with pytest.raises(ValueError, match="values must lie in \\[0, 1\\], this one's run from 1e"):
        compact.enhance(huge)


def test_a_cancel_stops_a_run_within_a_layer(compact, photo) -> None:
    """Cancels were checked between tiles alone: a photo run in one piece (every photo of the
    working size) ran to its end after Esc, and closing the app waited for it."""
    model = compact.model
    last_layer = list(model.fusion_decoder.modules())[-1]
    prepared = compact.prepare(photo)
    encoder_layer = list(model.cond_encoder.modules())[1]
    flow_layer = list(model.flow.modules())[-1]  # the flow's inverse calls its layers alone
    for cancelled_after, run in (
        (encoder_layer, lambda token: compact.enhance(photo, cancel=token)),
        (encoder_layer, lambda token: compact.prepare(photo, cancel=token)),
        (flow_layer, lambda token: compact.render(prepared, 0.5, cancel=token)),
    ):
        token, decoded = CancelToken(), []
        cancelling = cancelled_after.register_forward_hook(lambda *_, t=token: t.cancel())
        watching = last_layer.register_forward_pre_hook(lambda *_, d=decoded: d.append(1))
        try:
            with pytest.raises(Cancelled):
                run(token)
        finally:
            cancelling.remove()
            watching.remove()
        assert decoded == []  # the decoder's last layer, after the cancel, never ran
    assert not any(module._forward_pre_hooks for module in model.modules())
    np.testing.assert_array_equal(compact.render(prepared), compact.enhance(photo))


def test_a_cancel_stops_a_deformable_convolution_between_its_taps(
    compact, photo, monkeypatch
) -> None:
    """Its nine taps are one layer that runs about a second at the working size on two
    cores: a cancel during it took 1.0-1.6 s to stop a 4K photo's screen preview."""
    from glare_core.model import deform_conv

    token, taps = CancelToken(), []
    sample = deform_conv.F.grid_sample

    def first_tap_cancels(*args, **kwargs):
        taps.append(1)
        token.cancel()
        return sample(*args, **kwargs)

    prepared = compact.prepare(photo)
    monkeypatch.setattr(deform_conv.F, "grid_sample", first_tap_cancels)
    with pytest.raises(Cancelled):
        compact.render(prepared, cancel=token)
    assert taps == [1]
    monkeypatch.undo()
    deform_conv.check_running()  # no run, no token: nothing to stop


def test_official_networks_run_photos_of_the_official_size_whole() -> None:
    """Tiles cannot equal the whole image under global attention: a 600x400 LOL photo was
    tiled by the official preset's default tiles, and its result left the official code's."""
    config = preset("official")
    padding = official_padding(400, 600, config.input.pad_multiple)
    padded = (400 + padding.top + padding.bottom, 600 + padding.left + padding.right)
    assert runs_whole(*padded, default_tiling(config).tile_size, config.input.pad_multiple)


def test_twelve_megapixels_via_tiles(photos_dir) -> None:
    """A 4000x3000 photo goes through the tiled path (a narrow network keeps this fast)."""
    compact = preset("compact")

    def narrow(part):
        return dataclasses.replace(
            part, autoencoder=dataclasses.replace(part.autoencoder, channels=8)
        )

    config = dataclasses.replace(
        compact,
        vqgan=narrow(compact.vqgan),
        cond_encoder=narrow(compact.cond_encoder),
        fusion_decoder=narrow(compact.fusion_decoder),
    )
    enhancer = Enhancer(GlareNet(config), torch.device("cpu"), full_resolution=True)
    large = read_image(sorted(photos_dir.glob("*.png"))[0]).rgb
    reps = (-(-3000 // large.shape[0]), -(-4000 // large.shape[1]), 1)
    image = np.tile(large, reps)[:3000, :4000]
    fractions = []
    out = enhancer.enhance(image, progress=lambda fraction, stage: fractions.append(fraction))
    assert out.shape == (3000, 4000, 3)
    assert len(fractions) > 4 and fractions == sorted(fractions) and fractions[-1] == 1.0


def _network_input_sizes(enhancer: Enhancer) -> list[tuple[int, int]]:
    sizes: list[tuple[int, int]] = []
    enhancer.model.cond_encoder.register_forward_hook(
        lambda module, args, output: sizes.append(tuple(args[0].shape[-2:]))
    )
    return sizes


def test_large_photos_run_at_the_working_size_and_come_back_full_size(pairs_dir) -> None:
    bundled = preset("compact")
    working = 300 * 200
    config = dataclasses.replace(
        bundled, input=dataclasses.replace(bundled.input, max_working_pixels=working)
    )
    photo = read_image(pairs_dir / "eval" / "low" / "148.png").rgb  # 600x400
    small = Enhancer.load(config=config, device="cpu", precision="float32")
    full = Enhancer.load(config=config, device="cpu", precision="float32", full_resolution=True)
    small_sizes, full_sizes = _network_input_sizes(small), _network_input_sizes(full)
    assert small.working_size(600, 400) == (300, 200) and full.working_size(600, 400) is None
    assert small.working_size(300, 200) is None  # photos within the size run as they are

    result = small.enhance(photo)
    reference = full.enhance(photo)
    # padded to 16; the network runs once per path the photo's result is made of
    runs = 1 + bool(config.noisy_path.mix.other_share(small.takes_noisy_path(photo)))
    assert small_sizes == [(208, 304)] * runs and full_sizes == [(416, 608)] * runs
    assert result.shape == photo.shape and result.dtype == np.float32
    # the same picture: tones and colours from the working size, detail from the photo
    assert np.abs(result - reference).mean() < 0.04
    sharpness = [float(np.abs(np.diff(image, axis=1)).mean()) for image in (result, reference)]
    assert sharpness[0] > 0.6 * sharpness[1]
    seeded = [small.enhance(photo, temperature=0.7, seed=5) for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    assert np.abs(seeded[0] - result).mean() > 1e-3


def test_a_strip_runs_no_more_network_pixels_than_a_square_photo_of_the_working_size(
    pairs_dir,
) -> None:
    """A strip a pixel or two high is padded to 16 rows: a 1 x 100,000 one (0.1 MP) ran the
    network on 1.6 MP, a 1 x 2,000,000 one on 22.6 MP (7 GB, over 5 minutes)."""
    bundled = preset("compact")
    working = 100 * 100
    config = dataclasses.replace(
        bundled, input=dataclasses.replace(bundled.input, max_working_pixels=working)
    )
    enhancer = Enhancer.load(config=config, device="cpu", precision="float32")
    sizes = _network_input_sizes(enhancer)
    row = read_image(pairs_dir / "eval" / "low" / "148.png").rgb[200:202]  # 2 x 600
    strip = np.concatenate([row] * 3, axis=1)  # 2 x 1,800, padded to 16 x 1,808
    result = enhancer.enhance(strip)
    side = 112  # a 100 x 100 photo padded to 16
    assert sizes and all(height * width <= side * side for height, width in sizes)
    assert result.shape == strip.shape
    # photos of usual shapes keep their size at a megapixel, though padded they hold more
    # than a square megapixel padded (1008 x 1008)
    megapixel = 1_000_000
    for width, height in [(1152, 864), (1224, 816), (4000, 3000), (6000, 4000)]:
        expected = fit_pixels((width, height), megapixel)
        assert enhancer.fitted_size(width, height, megapixel) == expected


def test_cancel_stops_between_tiles(compact, photo) -> None:
    token = CancelToken()
    tiling = TilingConfig(tile_size=128, context=32)
    tiled = Enhancer(compact.model, compact.device, tiling, "float32")
    with pytest.raises(Cancelled):
        tiled.enhance(photo, progress=lambda fraction, stage: token.cancel(), cancel=token)


def test_out_of_memory_halves_the_tile(compact, photo, monkeypatch) -> None:
    limit = 256 * 256
    real_forward = GlareNet.forward

    def small_memory_forward(self, low_light, *args, **kwargs):
        if low_light.shape[2] * low_light.shape[3] > limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, low_light, *args, **kwargs)

    tiled = Enhancer(compact.model, compact.device, TilingConfig(512, context=32), "float32")
    monkeypatch.setattr(GlareNet, "forward", small_memory_forward)
    out = tiled.enhance(photo)
    assert out.shape == photo.shape


def test_out_of_memory_halves_the_tile_no_further_than_the_smallest(compact, photo) -> None:
    """Halving 500 px tiles gives 250, under the 256 px the fallback stops at: it tries 256."""
    tiled = Enhancer(compact.model, compact.device, TilingConfig(500, context=32), "float32")
    tried: list[int] = []

    def out_of_memory(padded, controls, tile_size, progress, cancel):
        tried.append(tile_size)
        raise torch.OutOfMemoryError("CUDA out of memory")

    tiled._enhance_padded = out_of_memory
    with pytest.raises(torch.OutOfMemoryError):
        tiled.enhance(photo)
    assert tried == [500, MIN_TILE_SIZE]


def test_own_weights_round_trip_with_embedded_config(compact, photo, tmp_path) -> None:
    path = tmp_path / "model.safetensors"
    save_weights(compact.model, compact.config, path)
    loaded = Enhancer.load([path], device="cpu", precision="float32")  # as the fixture runs
    assert loaded.config == compact.config
    np.testing.assert_array_equal(loaded.enhance(photo), compact.enhance(photo))
    # one file needs no list (a name was read as a list of one-letter files)
    for one in (path, str(path)):
        alone = Enhancer.load(one, device="cpu", precision="float32")
        assert alone.config == compact.config


def test_averaged_weights_lie_between_the_models_and_refuse_other_networks(compact) -> None:
    nudged = copy.deepcopy(compact.model)
    with torch.no_grad():
        for parameter in nudged.parameters():
            parameter.add_(0.02)
    averaged = average_weights([compact.model, nudged])
    first_weight = next(name for name, _ in compact.model.named_parameters())
    original = compact.model.state_dict()[first_weight]
    torch.testing.assert_close(averaged[first_weight], original + 0.01)
    # a model averaged with itself is itself
    same = average_weights([compact.model, compact.model])
    assert all(torch.equal(same[k], v) for k, v in compact.model.state_dict().items())
    counter = torch.nn.Module()
    counter.register_buffer("seen", torch.tensor([1]))
    other = torch.nn.Module()
    other.register_buffer("seen", torch.tensor([2]))
    with pytest.raises(WeightsError, match="integer"):
        average_weights([counter, other])
    with pytest.raises(WeightsError, match="different tensors"):
        average_weights([compact.model, counter])


def test_weights_whose_config_metadata_is_malformed_name_the_file(compact, tmp_path) -> None:
    tensors = {key: value.contiguous() for key, value in compact.model.state_dict().items()}
    for broken in ('{"input": null}', '{"input": '):
        path = tmp_path / "broken.safetensors"
        save_file(tensors, str(path), metadata={CONFIG_METADATA_KEY: broken})
        with pytest.raises(WeightsError, match="broken.safetensors: the config in its metadata"):
            build_model([path])


def _official_checkpoint(manifest: dict, folder: Path) -> list[Path]:
    """Random tensors with every key and shape of the official LOL.yml release."""
    generator = torch.Generator().manual_seed(0)
    paths = []
    for name, description in manifest["files"].items():
        state = {
            entry["key"]: torch.randn(entry["shape"], generator=generator) * 0.02
            for entry in description["entries"]
        }
        torch.save(state, folder / name)
        paths.append(folder / name)
    return paths


def test_full_official_preset_loads_an_official_format_checkpoint(fixture_dir, tmp_path) -> None:
    manifest = json.loads((fixture_dir.parent / "official-full-manifest.json").read_text())
    paths = _official_checkpoint(manifest, tmp_path)
    model = build_model(paths)
    assert dataclasses.replace(model.config, name="official") == preset("official")
    bad = torch.load(paths[0], weights_only=True)
    bad["RRDB.color_conv.weight"] = torch.zeros(3, 3, 1, 1)
    del bad["flowUpsamplerNet.layers.3.invconv.weight"]
    torch.save(bad, paths[0])
    with pytest.raises(WeightsError) as error:
        build_model(paths, "official")
    assert "1 missing: flow.steps.3.invconv.weight" in str(error.value)
    assert "cond_encoder.color_conv.weight (3, 3, 1, 1) != (3, 3, 3, 3)" in str(error.value)
    # the message names the files and the architecture they were checked against
    assert str(error.value).startswith("the weights in net_G.pth, vqgan.pkl do not fit the")
    assert "architecture of official:" in str(error.value)


def test_half_an_official_release_is_refused_by_name(fixture_dir) -> None:
    for given, other in (("net_G.pth", "vqgan.pkl"), ("vqgan.pkl", "net_G.pth")):
        for config in (None, fixture_dir / "config.yml"):
            with pytest.raises(WeightsError, match=f"{given} checkpoint alone; give its {other}"):
                build_model([fixture_dir / given], config)


def _yellowness_steps(image: np.ndarray) -> float:
    """Mean gradient of each pixel's yellowness (red and green over blue), lightly smoothed."""
    yellowness = cv2.GaussianBlur(image[..., :2].mean(axis=-1) - image[..., 2], (0, 0), 1.0)
    rows, columns = np.gradient(yellowness)
    return float(np.hypot(rows, columns).mean())


def test_the_bundled_model_softens_codebook_patches_on_a_lit_wall(photos_dir) -> None:
    """512 codes in a three-channel latent break the 4K photo's lit wall into white and
    yellow patches when the retrieved codes are decoded; the bundled file decodes them moved
    half way back to the flow's latent, and the wall's colour changes less abruptly (mean
    yellowness gradient 0.0040 as retrieved, 0.0027 as bundled)."""
    photo = read_image(photos_dir / "512_0_.png").rgb
    working = cv2.resize(photo, (1280, 720), interpolation=cv2.INTER_AREA)  # ~ the working size
    bundled = build_model([bundled_weights_path()])
    assert bundled.config.retrieval.latent_share > 0
    as_retrieved = dataclasses.replace(bundled.config, retrieval=RetrievalConfig())
    paper = build_model([bundled_weights_path()], as_retrieved)
    steps = {
        name: _yellowness_steps(Enhancer(model, torch.device("cpu")).enhance(working)[LIT_WALL])
        for name, model in (("bundled", bundled), ("retrieved", paper))
    }
    assert steps["bundled"] < 0.8 * steps["retrieved"]
