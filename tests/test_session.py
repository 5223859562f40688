"""The app's Qt-free state and logic, driven without a window."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from glare_core.batch import BatchOptions
from glare_core.config import preset
from glare_core.engine import Enhancer, TilingConfig
from glare_core.errors import ImageWriteError, WeightsError
from glare_core.exposure import adjust_exposure
from glare_core.guided_upsample import fit_pixels, resize_rgb
from glare_core.imageio import read_image, write_image
from glare_core.limits import CONTROL_DECIMALS
from glare_core.preprocess import official_padding
from glare_core.progress import Cancelled, CancelToken
from glare_core.resources import RESOURCES_ENV, bundled_weights_path
from glare_core.session import (
    SCREEN_PREPARE_SHARE,
    BatchRequest,
    Controls,
    Exported,
    ModelChoice,
    NoPhotoError,
    PreviewPolicy,
    RenderKind,
    Session,
    VariantAxis,
    load_enhancer,
    run_batch_request,
    variant_controls,
)

SMALL = (64, 48)  # width, height: keeps the real network fast on a shared CPU


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    if bundled_weights_path().is_file():
        return Enhancer.load(device="cpu")
    return Enhancer.from_config("compact", device="cpu")


def write_small_photo(pairs_dir: Path, folder: Path, name: str, index: int = 0) -> Path:
    """A real low-light photo from the shared pairs, shrunk to SMALL."""
    source = sorted((pairs_dir / "eval" / "low").glob("*.png"))[index]
    pixels = cv2.resize(cv2.imread(str(source)), SMALL, interpolation=cv2.INTER_AREA)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    cv2.imwrite(str(path), pixels)
    return path


@pytest.fixture
def photo(pairs_dir: Path, tmp_path: Path) -> Path:
    return write_small_photo(pairs_dir, tmp_path, "dark.png")


@pytest.fixture
def session(enhancer: Enhancer, photo: Path) -> Session:
    session = Session(enhancer)
    session.open(photo, Controls())
    return session


def test_open_gives_original_and_drag_preview(enhancer: Enhancer, photo: Path) -> None:
    opened = Session(enhancer).open(photo, Controls())
    assert opened.size == SMALL
    assert opened.original.shape == (SMALL[1], SMALL[0], 3)
    assert opened.original.dtype == np.uint8
    assert opened.drag_preview is not None and opened.drag_preview.shape[2] == 3


def test_open_without_model_shows_the_original_only(photo: Path) -> None:
    opened = Session().open(photo, Controls())
    assert opened.drag_preview is None
    assert opened.original.shape == (SMALL[1], SMALL[0], 3)


def test_strength_changes_the_drag_preview(session: Session) -> None:
    trained = session.drag_preview(Controls(strength=1.0))
    faithful = session.drag_preview(Controls(strength=2.0))
    assert trained.shape == faithful.shape
    assert np.abs(trained - faithful).mean() > 1e-4


def test_temperature_with_a_fixed_seed_is_reproducible(session: Session) -> None:
    first = session.drag_preview(Controls(temperature=0.8, seed=5))
    other_seed = session.drag_preview(Controls(temperature=0.8, seed=6))
    again = session.drag_preview(Controls(temperature=0.8, seed=5))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other_seed).mean() > 1e-4


def test_noise_reduction_re_prepares_the_previews_and_keys_the_full_result(
    session: Session,
) -> None:
    plain = Controls(noise_reduction=0.0)
    filtered = Controls(noise_reduction=10.0)
    assert np.abs(session.drag_preview(plain) - session.drag_preview(filtered)).mean() > 1e-3
    np.testing.assert_array_equal(
        session.screen_preview(plain), session.screen_preview(Controls(noise_reduction=0.0))
    )
    result = session.full_result(filtered)
    assert session.full_result(plain) is not result
    np.testing.assert_allclose(
        result, session.enhancer.enhance(session.photo.rgb, noise_reduction=10.0)
    )


def test_full_result_has_the_photo_size_and_is_cached(session: Session) -> None:
    result = session.full_result(Controls(strength=1.3))
    assert result.shape == (SMALL[1], SMALL[0], 3)
    assert session.full_result(Controls(strength=1.3)) is result
    assert session.full_result(Controls(strength=0.7)) is not result


def test_exposure_alone_re_exposes_the_cached_full_result(session: Session) -> None:
    result = session.full_result(Controls())
    seconds = session.last_render_seconds
    darker = session.full_result(Controls(exposure=-1.0))
    assert session.last_render_seconds == seconds  # the network did not run again
    np.testing.assert_array_equal(darker, adjust_exposure(result, -1.0))
    assert darker.mean() < result.mean()


def _recorded_renders(monkeypatch, session: Session) -> list[dict]:
    """A list that gets the keyword arguments of every network render the session runs."""
    renders: list[dict] = []
    network = session.enhancer.render
    monkeypatch.setattr(
        session.enhancer, "render", lambda *args, **kw: renders.append(kw) or network(*args, **kw)
    )
    return renders


def test_exposure_alone_re_exposes_the_last_previews(session: Session, monkeypatch) -> None:
    first = session.drag_preview(Controls(strength=0.8))
    costs = dict(session.seconds_per_pixel)
    renders = _recorded_renders(monkeypatch, session)
    darker = session.drag_preview(Controls(strength=0.8, exposure=-1.0))
    assert renders == [] and session.seconds_per_pixel == costs  # nothing ran, nothing learnt
    np.testing.assert_array_equal(darker, adjust_exposure(first, -1.0))
    assert darker.mean() < first.mean()
    session.drag_preview(Controls(strength=0.9, exposure=-1.0))
    assert len(renders) == 1  # the strength moved: the fusion tail runs again

    screen = session.screen_preview(Controls(strength=0.9))
    brighter = session.screen_preview(Controls(strength=0.9, exposure=0.5))
    assert len(renders) == 2  # the screen preview keeps its own last render
    np.testing.assert_array_equal(brighter, adjust_exposure(screen, 0.5))


def test_photo_colour_alone_recolours_the_cached_results(session: Session, monkeypatch) -> None:
    result = session.full_result(Controls())
    seconds = session.last_render_seconds
    coloured = session.full_result(Controls(photo_colour=1.0))
    assert session.last_render_seconds == seconds  # the network did not run again
    np.testing.assert_allclose(
        coloured, session.enhancer.enhance(session.photo.rgb, photo_colour=1.0), atol=1e-6
    )
    assert np.abs(coloured - result).mean() > 0.01

    first = session.drag_preview(Controls())
    renders = _recorded_renders(monkeypatch, session)
    half = session.drag_preview(Controls(photo_colour=0.5, exposure=-1.0))
    assert renders == []
    assert np.abs(half - adjust_exposure(first, -1.0)).mean() > 0.005


def test_the_screen_preview_reports_its_progress_through_its_stages(session: Session) -> None:
    """It sat at 0% for the 15 s a 4K photo's screen preview takes."""
    reported: list[tuple[float, str]] = []
    session.screen_preview(Controls(), progress=lambda done, stage: reported.append((done, stage)))
    fractions = [done for done, _ in reported]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = [stage for _, stage in reported]
    assert stages[0] == "encoding" and "rendering" in stages
    shares = SCREEN_PREPARE_SHARE + (1 - SCREEN_PREPARE_SHARE) / 2
    assert (pytest.approx(shares), "rendering the other path") in reported  # the paths mix


def test_full_result_can_be_cancelled(session: Session) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        session.full_result(Controls(strength=0.5), cancel=token)


def test_save_writes_full_resolution_and_guards_the_original(
    session: Session, photo: Path, tmp_path: Path
) -> None:
    exported = session.save(tmp_path / "out.jpg", Controls(), quality=90)
    assert exported == Exported(tmp_path / "out.jpg", notes=())
    saved = read_image(exported.path)
    assert saved.format == "JPEG" and saved.rgb.shape == (SMALL[1], SMALL[0], 3)
    original_bytes = photo.read_bytes()
    with pytest.raises(ImageWriteError):
        session.save(photo, Controls())
    assert photo.read_bytes() == original_bytes
    session.save(photo, Controls(), replace_source=True)
    assert photo.read_bytes() != original_bytes
    with pytest.raises(ImageWriteError, match="is a file, not a folder"):
        session.save(photo / "out.png", Controls())  # a folder where a file is


def test_an_export_names_what_it_left_out_by_the_photos_file_name(
    enhancer: Enhancer, photo: Path, tmp_path: Path
) -> None:
    cut_out = tmp_path / "folder" / "cut-out.png"
    cut_out.parent.mkdir()
    pixels = cv2.imread(str(photo))
    cv2.imwrite(str(cut_out), np.dstack([pixels, np.full(pixels.shape[:2], 128, np.uint8)]))
    session = Session(enhancer)
    session.open(cut_out, Controls())
    exported = session.save(tmp_path / "out.jpg", Controls())
    assert exported.notes == (
        "JPEG has no alpha channel: the transparency of cut-out.png is dropped",
    )


def test_a_cancelled_open_leaves_the_photo_that_was_open(
    session: Session, photo: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    shown = session.drag_preview(Controls())
    other = write_small_photo(pairs_dir, tmp_path / "next", "next.png", index=5)
    token = CancelToken()

    def cancel_while_preparing(fraction: float, stage: str) -> None:
        if stage == "preparing":  # the user presses Esc once the new photo has been read
            token.cancel()

    with pytest.raises(Cancelled):
        session.open(other, Controls(), progress=cancel_while_preparing, cancel=token)
    # the view still shows the first photo: exports and renders must be of it
    assert session.is_source(photo) and not session.is_source(other)
    np.testing.assert_array_equal(session.drag_preview(Controls()), shown)


def test_an_export_of_a_photo_no_longer_open_writes_nothing(
    session: Session, photo: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    original_bytes = photo.read_bytes()
    # an export of the photo on screen, confirmed over its original, queued behind an open
    session.open(write_small_photo(pairs_dir, tmp_path / "next", "next.png", index=5), Controls())
    with pytest.raises(NoPhotoError, match="dark.png is no longer the open photo"):
        session.save(photo, Controls(), replace_source=True, shown_photo=photo)
    assert photo.read_bytes() == original_bytes


def test_variants_differ_along_their_axis(session: Session) -> None:
    variants = list(session.variants(Controls(), VariantAxis.SEED, 3))
    seeds = [controls.seed for controls, _ in variants]
    assert seeds == [0, 1, 2] and all(c.temperature > 0 for c, _ in variants)
    assert np.abs(variants[0][1] - variants[1][1]).mean() > 1e-4
    temperatures = [
        c.temperature for c, _ in session.variants(Controls(), VariantAxis.TEMPERATURE, 3)
    ]
    assert temperatures == sorted(set(temperatures))


@pytest.mark.parametrize("count", range(2, 13))
def test_temperature_variants_take_values_the_slider_can_hold(count: int) -> None:
    """Eight variants offered T = 0.171, which the slider kept but read back as 0.17: the
    picked result on screen and its saved file differed by up to 3 levels."""
    for controls in variant_controls(Controls(), VariantAxis.TEMPERATURE, count):
        assert controls.temperature == round(controls.temperature, CONTROL_DECIMALS)


def test_variants_of_one_set_share_one_size(enhancer: Enhancer, pairs_dir: Path) -> None:
    """Each variant was a drag preview, whose size follows the last render's cost: one set
    came out at 300x200, 300x200 and 280x187, unfair to compare side by side."""
    session = Session(enhancer, PreviewPolicy(max_drag_pixels=40_000, min_drag_pixels=1_000))
    session.view_size = (800, 600)
    session.open(sorted((pairs_dir / "eval" / "low").glob("*.png"))[0], Controls())
    sizes = []
    for _, rgb in session.variants(Controls(), VariantAxis.SEED, 3):
        sizes.append(rgb.shape)
        for kind in RenderKind:  # a slow render: a drag preview now would shrink
            session.seconds_per_pixel[kind] = 1e-3
    assert session.drag_size() != sizes[0][1::-1]  # else this test proves nothing
    assert sizes == [sizes[0]] * 3


def test_a_strips_drag_preview_runs_no_more_network_pixels_than_a_square_ones(
    enhancer: Enhancer, pairs_dir: Path, tmp_path: Path
) -> None:
    """The drag preview of a 1 x 100,000 strip ran the network on 1.6 MP (padded to 16
    rows), more than the strip's export, as the strip was opened."""
    row = read_image(sorted((pairs_dir / "eval" / "low").glob("*.png"))[0]).rgb[200:201]
    write_image(tmp_path / "strip.png", np.concatenate([row] * 50, axis=1))  # 1 x 30,000
    session = Session(enhancer, PreviewPolicy(max_drag_pixels=40_000, min_drag_pixels=1_000))
    session.view_size = (800, 600)
    session.open(tmp_path / "strip.png", Controls())
    side = math.isqrt(session.policy.drag_pixels(session.view_size, None))

    def padded_pixels(width: int, height: int) -> int:
        padding = official_padding(height, width, enhancer.config.input.pad_multiple)
        return (width + padding.left + padding.right) * (height + padding.top + padding.bottom)

    assert session.drag_features_size is not None
    assert padded_pixels(*session.drag_features_size) <= padded_pixels(side, side)


def test_strength_and_sampling_drags_keep_their_own_cost(session: Session) -> None:
    # opening rendered the first sample; moving strength re-runs only the fusion tail
    assert set(session.seconds_per_pixel) == {RenderKind.SAMPLE}
    session.drag_preview(Controls(strength=0.5))
    assert set(session.seconds_per_pixel) == {RenderKind.SAMPLE, RenderKind.STRENGTH}
    sample_cost = session.seconds_per_pixel[RenderKind.SAMPLE]
    session.drag_preview(Controls(strength=0.7))
    assert session.seconds_per_pixel[RenderKind.SAMPLE] == sample_cost
    session.drag_preview(Controls(temperature=0.5, seed=3))
    assert session.seconds_per_pixel[RenderKind.SAMPLE] != sample_cost


def test_drag_size_follows_view_and_speed() -> None:
    policy = PreviewPolicy(max_drag_pixels=300_000, min_drag_pixels=10_000, target_step_seconds=0.1)
    assert policy.drag_pixels((1920, 1080), None) == 300_000
    assert policy.drag_pixels((320, 200), None) == 64_000
    slow = 0.1 / 50_000  # a machine that renders 50 000 pixels in the target time
    assert policy.drag_pixels((1920, 1080), slow) == 50_000
    assert policy.drag_pixels((1920, 1080), 1.0) == 10_000
    width, height = fit_pixels((4000, 3000), 300_000)
    assert width * height <= 300_000 and abs(width / height - 4 / 3) < 0.01
    assert fit_pixels((64, 48), 300_000) == (64, 48)


def test_a_too_slow_drag_preview_shrinks_sooner_than_a_fast_one_grows(
    enhancer: Enhancer, pairs_dir: Path
) -> None:
    """The drag features are re-prepared when a step would miss its target by more than 8%,
    but grown only for a gain of more than 25% (a re-prepare stalls one step)."""
    session = Session(enhancer, PreviewPolicy(max_drag_pixels=40_000, min_drag_pixels=1_000))
    session.view_size = (800, 600)
    session.open(sorted((pairs_dir / "eval" / "low").glob("*.png"))[0], Controls())
    prepared = session.drag_features_size
    assert prepared is not None
    pixels = prepared[0] * prepared[1]

    def after_drag_at_cost(steps_per_target: float, strength: float) -> tuple[int, int]:
        session.seconds_per_pixel[RenderKind.STRENGTH] = 0.1 / (pixels * steps_per_target)
        session.drag_preview(Controls(strength=strength))
        session.seconds_per_pixel.clear()  # the real step's cost is not part of this test
        return session.drag_features_size

    assert after_drag_at_cost(0.95, 1.5) == prepared  # 5% too slow: kept
    assert after_drag_at_cost(1.2, 1.4) == prepared  # 20% to gain: kept
    shrunk = after_drag_at_cost(0.85, 1.3)  # 15% too slow: shrunk
    assert shrunk[0] * shrunk[1] < 0.9 * pixels


def test_missing_bundled_weights_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(RESOURCES_ENV, str(tmp_path))
    with pytest.raises(WeightsError, match="Load weights"):
        load_enhancer(ModelChoice())


def test_batch_request_reports_a_corrupt_file(
    enhancer: Enhancer, pairs_dir: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    for index in range(2):
        write_small_photo(pairs_dir, inputs, f"photo{index}.png", index)
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    request = BatchRequest((inputs,), tmp_path / "out", BatchOptions(), Controls())
    summary = run_batch_request(enhancer, request)
    assert len(summary.done) == 2
    assert [path.name for path, _ in summary.failed] == ["broken.png"]
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_a_batch_request_applies_exposure_and_photo_colour(
    enhancer: Enhancer, pairs_dir: Path, tmp_path: Path
) -> None:
    source = write_small_photo(pairs_dir, tmp_path / "in", "photo.png")
    controls = Controls(exposure=-0.5, photo_colour=1.0)
    request = BatchRequest((source.parent,), tmp_path / "out", BatchOptions(), controls)
    assert len(run_batch_request(enhancer, request).done) == 1
    (saved,) = (tmp_path / "out").glob("*.png")
    photo = read_image(source).rgb
    expected = enhancer.enhance(photo, exposure=-0.5, photo_colour=1.0)
    np.testing.assert_allclose(read_image(saved).rgb, expected, atol=1 / 255 + 1e-6)
    assert np.abs(read_image(saved).rgb - enhancer.enhance(photo)).mean() > 0.02


def test_a_screen_preview_larger_than_the_working_size_is_made_as_the_export_is(
    pairs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a view larger than the working size the screen preview ran the network at the
    view's size: on a 2560x1440 view a 4K photo took 24 s and 5.4 GB (its export 6 s), and
    the preview was another picture than the export. It now renders what the export runs
    the network on and finishes it onto the view's copy of the photo; the export that
    follows takes that render instead of running the network again."""
    bundled = preset("compact")
    working = 300 * 200
    config = dataclasses.replace(
        bundled, input=dataclasses.replace(bundled.input, max_working_pixels=working)
    )
    enhancer = Enhancer.load(config=config, device="cpu", precision="float32")
    path = pairs_dir / "eval" / "low" / "148.png"  # 600x400
    controls = Controls(strength=0.9, temperature=0.6, seed=2, exposure=0.3)
    export = enhancer.enhance(
        read_image(path).rgb,
        controls.strength,
        controls.temperature,
        controls.seed,
        exposure=controls.exposure,
    )
    network_sizes: list[tuple[int, ...]] = []
    enhancer.model.cond_encoder.register_forward_hook(
        lambda module, args, output: network_sizes.append(tuple(args[0].shape[-2:]))
    )
    session = Session(enhancer, PreviewPolicy(max_drag_pixels=20_000, min_drag_pixels=1_000))
    session.view_size = (480, 320)
    session.open(path, Controls())
    network_sizes.clear()

    screen = session.screen_preview(controls)
    assert screen.shape == (320, 480, 3)
    # padded to 16, once per path the result is made of
    assert network_sizes and set(network_sizes) == {(208, 304)}
    shrunk = resize_rgb(export, (480, 320))
    # the export, smaller: 0.9 levels apart on average (8.3 when run at the view's size)
    assert np.abs(screen - shrunk).mean() < 2 / 255

    monkeypatch.setattr(enhancer, "enhance", lambda *args, **kwargs: pytest.fail("ran again"))
    np.testing.assert_array_equal(session.full_result(controls), export)
    session.view_size = (600, 400)  # a view as large as the photo: the export itself
    np.testing.assert_array_equal(session.screen_preview(controls), export)
    # views smaller than the export's network image (300x200) show the render the export
    # took, brought down to them: 0.2 levels from the export shrunk, where the network run
    # at a third of the export's pixels was 6.9 levels off
    for view, shown in [((280, 190), (280, 187)), ((200, 130), (195, 130))]:
        session.view_size = view
        smaller = session.screen_preview(controls)
        assert smaller.shape == (shown[1], shown[0], 3)
        assert np.abs(smaller - resize_rgb(export, shown)).mean() < 1 / 255


def test_moving_only_the_exposure_runs_no_network(
    enhancer: Enhancer, pairs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a temperature change each exposure step prepared the drag features twice: the
    screen preview resized them for a strength step, the drag back for a sample."""
    session = Session(enhancer, PreviewPolicy(max_drag_pixels=40_000, min_drag_pixels=1_000))
    session.view_size = (800, 600)
    session.open(pairs_dir / "eval" / "low" / "148.png", Controls())
    # a machine where a sample costs four times a strength step per pixel: their drag
    # sizes differ (as measured costs make them on any machine where the budget binds)
    costs = {RenderKind.STRENGTH: 0.1 / 40_000, RenderKind.SAMPLE: 0.4 / 40_000}
    sampled = Controls(temperature=0.5, seed=3)
    runs: list[str] = []
    for name in ("prepare", "render"):
        real = getattr(enhancer, name)
        monkeypatch.setattr(
            enhancer,
            name,
            lambda *args, _real=real, _name=name, **kw: runs.append(_name) or _real(*args, **kw),
        )
    session.seconds_per_pixel.update(costs)
    drag = session.drag_preview(sampled)
    session.seconds_per_pixel.update(costs)
    screen = session.screen_preview(sampled)
    assert runs  # the sample itself ran the network
    runs.clear()
    for stops in (0.3, 0.6):
        session.seconds_per_pixel.update(costs)
        exposed = dataclasses.replace(sampled, exposure=stops)
        np.testing.assert_array_equal(session.drag_preview(exposed), adjust_exposure(drag, stops))
        np.testing.assert_array_equal(
            session.screen_preview(exposed), adjust_exposure(screen, stops)
        )
    assert runs == []


@pytest.mark.parametrize(
    ("photo", "controls"),
    [
        ("eval 148", Controls(strength=0.8)),
        ("eval 148", Controls(temperature=0.7, seed=4)),
        ("101_0_", Controls(temperature=0.7, seed=4)),  # grainy: the noisy-photo path
    ],
)
def test_a_screen_preview_of_the_whole_photo_is_its_full_result(
    enhancer: Enhancer,
    pairs_dir: Path,
    photos_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    photo: str,
    controls: Controls,
) -> None:
    """On a view larger than the photo, the screen preview renders it at its own size, and
    the full result that follows enhanced it again (0.8 s for 512x512) to the same bits."""
    path = (
        pairs_dir / "eval" / "low" / "148.png"
        if photo == "eval 148"
        else photos_dir / f"{photo}.png"
    )
    rgb = read_image(path).rgb  # 600x400 and 512x512: under the working size
    session = Session(enhancer)
    session.view_size = (800, 600)
    session.open(path, Controls())
    noisy = enhancer.takes_noisy_path(rgb)
    assert noisy == (photo == "101_0_")
    session.screen_preview(controls)
    expected = enhancer.enhance(rgb, controls.strength, controls.temperature, controls.seed)
    monkeypatch.setattr(enhancer, "enhance", lambda *args, **kwargs: pytest.fail("ran again"))
    np.testing.assert_array_equal(session.full_result(controls), expected)
    brighter = dataclasses.replace(controls, exposure=0.5)
    np.testing.assert_array_equal(session.full_result(brighter), adjust_exposure(expected, 0.5))


def test_a_photo_the_export_tiles_is_enhanced_again_for_its_full_result(
    enhancer: Enhancer, pairs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiles differ from the photo run whole by float rounding: an export in tiles must not
    take the preview's whole render, or it would not be what `glare enhance` writes."""
    tiled = Enhancer(enhancer.model, enhancer.device, TilingConfig(tile_size=128, context=16))
    assert not tiled.enhances_in_one_piece(600, 400) and enhancer.enhances_in_one_piece(600, 400)
    session = Session(tiled)
    session.view_size = (800, 600)
    session.open(pairs_dir / "eval" / "low" / "148.png", Controls())
    session.screen_preview(Controls())
    enhanced: list[int] = []
    real_enhance = tiled.enhance
    monkeypatch.setattr(
        tiled,
        "enhance",
        lambda *args, **kwargs: enhanced.append(1) or real_enhance(*args, **kwargs),
    )
    session.full_result(Controls())
    assert enhanced == [1]


def test_the_screen_preview_takes_no_drag_features_larger_than_the_exports(
    pairs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a working size below the drag size, a wide, low view reused the drag features
    for the screen preview: the network's result at a scale the export never runs (8.5
    levels from the export on average, in a reviewer's test)."""
    bundled = preset("compact")
    config = dataclasses.replace(
        bundled, input=dataclasses.replace(bundled.input, max_working_pixels=300 * 200)
    )
    enhancer = Enhancer.load(config=config, device="cpu", precision="float32")
    session = Session(enhancer)
    session.view_size = (1000, 150)  # the photo shown at 225x150, the drag size 150 000 px
    session.open(pairs_dir / "eval" / "low" / "148.png", Controls())  # 600x400
    rendered_grids: list[tuple[int, ...]] = []
    real_render = enhancer.render

    def recording_render(prepared, *args, **kwargs):
        rendered_grids.append(prepared.latent_shape[-2:])
        return real_render(prepared, *args, **kwargs)

    monkeypatch.setattr(enhancer, "render", recording_render)
    session.screen_preview(Controls(strength=0.8))
    export_grid = enhancer.sample_grid(600, 400)[-2:]
    assert rendered_grids and all(
        grid[0] <= export_grid[0] and grid[1] <= export_grid[1] for grid in rendered_grids
    )
