"""The desktop app under pytest-qt (offscreen), with the real network on tiny photos."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QColorSpace, QDropEvent, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractSlider,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QMessageBox,
)

from app import main as app_main
from app.batch_dialog import BATCH_KIND, BatchDialog, batch_progress_reporter
from app.compare_view import BACKGROUND, CompareMode, CompareView
from app.controls import SETTLE_DEBOUNCE_MS, ControlsPanel
from app.dialogs import VARIANT_ICON, SettingsDialog, VariantsDialog
from app.images import pixmap_from_rgb8, qimage_from_rgb8, rgb8_from_qimage
from app.main_window import (
    DEFAULT_WINDOW,
    DRAG,
    EXPORT_FILTERS,
    FULL,
    KIND_NAMES,
    MODEL,
    MODEL_LOADING_LABEL,
    NAME_WIDTH,
    NOISY_PHOTO_MESSAGE,
    OPEN,
    SAVE,
    VARIANTS,
    MainWindow,
)
from app.settings import (
    AUTOMATIC_TILE_SIZE,
    CONFIG_DIR_ENV,
    SETTINGS_VERSION,
    Settings,
    load_settings,
    save_settings,
    settings_path,
)
from glare_core.batch import BatchProgress
from glare_core.config import COMPACT_NOISE_REDUCTION
from glare_core.eight_bit import to_uint8
from glare_core.engine import Enhancer, TilingConfig
from glare_core.errors import DeviceError
from glare_core.imageio import read_image
from glare_core.progress import CancelToken, check
from glare_core.resources import bundled_weights_path
from glare_core.session import Controls, ModelChoice, Session, load_enhancer
from glare_core.train.augment import darker_capture

SMALL = (64, 48)  # width, height
RENDER_TIMEOUT_MS = 60_000
#: how long the app may take to start, load the bundled model and quit
START_AND_QUIT_MS = 120_000
#: how long a test waits to see that something does not happen (a load, a render)
SETTLE_MS = 500
#: a photo big enough, with tiles small enough, that a full render takes many steps
LONG_PHOTO = (640, 480)
LONG_TILING = TilingConfig(tile_size=128, context=16, min_tile_size=128)


@pytest.fixture(scope="module")
def enhancer() -> Enhancer:
    if bundled_weights_path().is_file():
        return Enhancer.load(device="cpu")
    return Enhancer.from_config("compact", device="cpu")


def random_picture(index: int, size: tuple[int, int] = (600, 400)) -> np.ndarray:
    """A stand-in picture for dialogs, the size of a pair's photo."""
    return np.random.default_rng(index).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def write_photo(pairs_dir: Path, path: Path, size: tuple[int, int] = SMALL, index: int = 0) -> Path:
    source = sorted((pairs_dir / "eval" / "low").glob("*.png"))[index]
    pixels = cv2.resize(cv2.imread(str(source)), size, interpolation=cv2.INTER_AREA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), pixels)
    return path


@pytest.fixture
def photo(pairs_dir: Path, tmp_path: Path) -> Path:
    return write_photo(pairs_dir, tmp_path / "photos" / "dark.png")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    return folder


def make_window(qtbot, enhancer: Enhancer, settings: Settings | None = None) -> MainWindow:
    window = MainWindow(settings or Settings(), enhancer_loader=lambda choice: enhancer)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.shown, timeout=RENDER_TIMEOUT_MS):
        window.load_model()
    return window


@pytest.fixture
def window(qtbot, enhancer: Enhancer, config_dir: Path):
    window = make_window(qtbot, enhancer)
    yield window
    window.close()


def wait_shown(qtbot, window: MainWindow, kind: str):
    return qtbot.waitSignal(
        window.shown, timeout=RENDER_TIMEOUT_MS, check_params_cb=lambda shown: shown == kind
    )


def displayed(window: MainWindow) -> np.ndarray:
    return rgb8_from_qimage(window.compare.after.toImage())


def open_and_render(qtbot, window: MainWindow, photo: Path) -> np.ndarray:
    with wait_shown(qtbot, window, FULL):
        window.open_photo(photo)
    return displayed(window)


def test_open_shows_full_result_from_the_worker(qtbot, window: MainWindow, photo: Path) -> None:
    result = open_and_render(qtbot, window, photo)
    assert result.shape == (SMALL[1], SMALL[0], 3)
    assert window.file_label.text() == "dark.png"
    assert "64×48" in window.size_label.text()
    assert window.device_label.text() == "Device: CPU"
    assert window.time_label.text().startswith(f"{KIND_NAMES[FULL]}:")
    original = rgb8_from_qimage(window.compare._before.toImage())
    assert np.abs(result.astype(int) - original.astype(int)).mean() > 1


def test_a_wide_gamut_photo_looks_as_its_exported_result_will_in_colour_managed_viewers(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path
) -> None:
    """A phone's photo in Display P3 was shown as if its values were sRGB: duller than in
    any colour-managed viewer, and than its exported result there."""
    p3 = QColorSpace(QColorSpace.NamedColorSpace.DisplayP3)
    srgb = QColorSpace(QColorSpace.NamedColorSpace.SRgb)

    def as_viewers_show(path: Path) -> np.ndarray:
        image = qimage_from_rgb8(np.asarray(Image.open(path).convert("RGB")))
        image.setColorSpace(p3)
        return rgb8_from_qimage(image.convertedToColorSpace(srgb))

    photo = tmp_path / "phone.png"
    source = sorted((pairs_dir / "eval" / "high").glob("*.png"))[1]
    Image.open(source).resize(SMALL).save(photo, icc_profile=bytes(p3.iccProfile()))
    shown = open_and_render(qtbot, window, photo).astype(int)
    before = rgb8_from_qimage(window.compare._before.toImage()).astype(int)
    assert np.abs(before - as_viewers_show(photo)).max() <= 1
    assert np.abs(before - np.asarray(Image.open(photo).convert("RGB"))).mean() > 1
    with wait_shown(qtbot, window, SAVE):
        window.export(tmp_path / "phone_glare.png")
    assert Image.open(tmp_path / "phone_glare.png").info["icc_profile"] == bytes(p3.iccProfile())
    assert np.abs(shown - as_viewers_show(tmp_path / "phone_glare.png")).max() <= 1


def write_noisy_photo(pairs_dir: Path, path: Path) -> Path:
    """A photo that takes the noisy-photo path: two stops darker with a sensor's noise, as
    `glare eval` scores darker captures."""
    low = read_image(pairs_dir / "eval" / "low" / "148.png").rgb
    noisy = darker_capture(low, 0.25, 5e-5, 2e-4, np.random.default_rng(0))
    cv2.imwrite(str(path), cv2.cvtColor(to_uint8(noisy), cv2.COLOR_RGB2BGR))
    return path


def test_a_very_noisy_photo_says_it_takes_the_learned_denoiser(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path
) -> None:
    open_and_render(qtbot, window, write_noisy_photo(pairs_dir, tmp_path / "noisy.png"))
    assert window.statusBar().currentMessage() == NOISY_PHOTO_MESSAGE
    open_and_render(qtbot, window, write_photo(pairs_dir, tmp_path / "dark.png", (600, 400)))
    assert window.statusBar().currentMessage() != NOISY_PHOTO_MESSAGE


def test_moving_strength_slider_changes_the_result(qtbot, window: MainWindow, photo: Path) -> None:
    before = open_and_render(qtbot, window, photo)
    slider = window.controls.strength
    with wait_shown(qtbot, window, "drag"):
        slider.setSliderDown(True)
        slider.setValue(1.9)
    dragged = displayed(window)
    with wait_shown(qtbot, window, FULL):
        slider.setSliderDown(False)  # emits sliderReleased: screen preview, then full
    released = displayed(window)
    assert released.shape == before.shape
    assert np.abs(released.astype(int) - before.astype(int)).mean() > 0.5
    assert dragged.shape[2] == 3
    assert window.settings.strength == pytest.approx(1.9)


def test_the_noise_slider_reaches_the_network(qtbot, window: MainWindow, photo: Path) -> None:
    before = open_and_render(qtbot, window, photo)
    with wait_shown(qtbot, window, FULL):
        window.controls.noise_reduction.setValue(10.0)  # a click or key: settles after a pause
    filtered = displayed(window)
    assert window.settings.noise_reduction == 10.0
    assert np.abs(filtered.astype(int) - before.astype(int)).mean() > 0.5


def test_dragging_exposure_darkens_the_result_live(qtbot, window: MainWindow, photo: Path):
    before = open_and_render(qtbot, window, photo)
    slider = window.controls.exposure
    with wait_shown(qtbot, window, "drag"):
        slider.setSliderDown(True)
        slider.setValue(-1.5)
    with wait_shown(qtbot, window, FULL):
        slider.setSliderDown(False)
    darker = displayed(window)
    assert window.settings.exposure == pytest.approx(-1.5)
    assert darker.mean() < before.mean() - 10


def test_a_drag_faster_than_its_previews_still_shows_them_as_it_moves(
    qtbot, window: MainWindow, photo: Path, monkeypatch
) -> None:
    """On a 4K photo a drag preview takes 60-300 ms and a moving slider asks for one every
    40 ms: each step cancelled the preview rendering, and none was shown until release."""
    open_and_render(qtbot, window, photo)
    render = window.session.drag_preview

    def slow_preview(controls: Controls, cancel: CancelToken | None = None) -> np.ndarray:
        time.sleep(0.15)  # as a 4K photo's, on two cores
        check(cancel)
        return render(controls, cancel=cancel)

    monkeypatch.setattr(window.session, "drag_preview", slow_preview)
    shown: list[str] = []
    window.shown.connect(shown.append)
    slider = window.controls.strength
    slider.setSliderDown(True)
    for step in range(25):  # one second of dragging
        slider.setValue(1.0 - 0.02 * step)
        qtbot.wait(40)
    assert shown.count(DRAG) >= 2
    slider.setSliderDown(False)


def test_dragging_photo_colour_recolours_the_result_live(qtbot, window: MainWindow, photo: Path):
    before = open_and_render(qtbot, window, photo)
    slider = window.controls.photo_colour
    with wait_shown(qtbot, window, "drag"):
        slider.setSliderDown(True)
        slider.setValue(1.0)
    with wait_shown(qtbot, window, FULL):
        slider.setSliderDown(False)
    coloured = displayed(window)
    assert window.settings.photo_colour == pytest.approx(1.0)
    assert np.abs(coloured.astype(int) - before.astype(int)).mean() > 2


def test_the_noise_slider_renders_once_let_go(qtbot) -> None:
    """Each noise step re-encodes the photo: a drag must not queue one render per step."""
    panel = ControlsPanel()
    qtbot.addWidget(panel)
    dragged: list[Controls] = []
    panel.dragged.connect(dragged.append)
    slider = panel.noise_reduction
    slider.setSliderDown(True)
    with qtbot.assertNotEmitted(panel.settled, wait=2 * SETTLE_DEBOUNCE_MS):
        slider.setValue(7.0)
        slider.setValue(8.0)
    with qtbot.waitSignal(panel.settled) as settled:
        slider.setSliderDown(False)
    assert settled.args[0].noise_reduction == 8.0 and not dragged


def test_the_first_window_fits_the_screen(qtbot, enhancer: Enhancer, config_dir: Path) -> None:
    """It opened at 1400x900 whatever the screen: on a laptop's 1024x700 the controls and
    the status bar lay off-screen (the offscreen platform's screen is 800x800)."""
    window = make_window(qtbot, enhancer)
    room = window.screen().availableGeometry().size()
    assert room.width() < DEFAULT_WINDOW.width()  # else this test proves nothing
    assert window.width() <= room.width() and window.height() <= room.height()
    window.close()


@pytest.mark.parametrize("name", ["noise_reduction", "strength"])
def test_a_press_on_the_track_renders_nothing_until_let_go(qtbot, name: str) -> None:
    """The jump to where the track was pressed came before the slider counted as held, and
    the settle it scheduled rendered at full size in the middle of the drag."""
    panel = ControlsPanel()
    qtbot.addWidget(panel)
    panel.show()
    track = getattr(panel, name)._slider  # superqt's slider inside the labelled one
    held = QPoint(round(track.width() * 0.8), track.height() // 2)
    with qtbot.assertNotEmitted(panel.settled, wait=2 * SETTLE_DEBOUNCE_MS):
        QTest.mousePress(track, Qt.MouseButton.LeftButton, pos=held)
    with qtbot.waitSignal(panel.settled, timeout=SETTLE_DEBOUNCE_MS) as settled:
        QTest.mouseRelease(track, Qt.MouseButton.LeftButton, pos=held)
    assert getattr(settled.args[0], name) == getattr(panel.controls(), name)


@pytest.mark.parametrize(
    ("key", "strength"),
    [(Qt.Key.Key_Right, 1.01), (Qt.Key.Key_Down, 0.99), (Qt.Key.Key_PageUp, 1.2),
     (Qt.Key.Key_End, 2.0), (Qt.Key.Key_Home, 0.0)],
)  # fmt: skip
def test_keys_move_a_slider_and_render_once_settled(qtbot, key: Qt.Key, strength: float) -> None:
    """superqt's labelled slider ignored every key, and took a Tab stop of its own that
    showed no focus: a keyboard user could not change a control."""
    panel = ControlsPanel()
    qtbot.addWidget(panel)
    panel.set_controls(Controls())  # strength 1
    panel.show()
    track = panel.strength._slider
    assert panel.strength.focusPolicy() == Qt.FocusPolicy.NoFocus  # one Tab stop: the track
    with qtbot.waitSignal(panel.settled, timeout=4 * SETTLE_DEBOUNCE_MS) as settled:
        QTest.keyClick(track, key)
    assert settled.args[0].strength == strength == panel.controls().strength


def test_temperature_with_fixed_seed_is_reproducible(
    qtbot, window: MainWindow, photo: Path
) -> None:
    open_and_render(qtbot, window, photo)

    def render(controls: Controls) -> np.ndarray:
        window.controls.set_controls(controls)
        with wait_shown(qtbot, window, FULL):
            window.render_settled(controls)
        return displayed(window)

    first = render(Controls(temperature=0.9, seed=11))
    other = render(Controls(temperature=0.9, seed=12))
    again = render(Controls(temperature=0.9, seed=11))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 0.1


def test_cancel_stops_a_long_render(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    tiled = Enhancer(enhancer.model, enhancer.device, LONG_TILING)
    window = make_window(qtbot, tiled)
    big = write_photo(pairs_dir, tmp_path / "big.png", LONG_PHOTO)
    full_results: list[str] = []
    window.shown.connect(lambda kind: kind == FULL and full_results.append(kind))
    window.open_photo(big)
    qtbot.waitUntil(
        lambda: window.running_kind == FULL and window.progress.value() > 0,
        timeout=RENDER_TIMEOUT_MS,
    )
    assert window.cancel_button.isVisible()
    with qtbot.waitSignal(window.cancelled, timeout=RENDER_TIMEOUT_MS):
        window.cancel_button.click()
    qtbot.waitUntil(lambda: not window.progress.isVisible(), timeout=RENDER_TIMEOUT_MS)
    assert full_results == []
    assert "Cancelled" in window.statusBar().currentMessage()
    with wait_shown(qtbot, window, "drag"):  # the app keeps working
        window.preview_drag(Controls(strength=0.5))
    window.close()


def test_cancel_names_an_export_it_dropped_before_it_started(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    """Esc during a render also drops an export queued behind it: the status bar says so
    (it said only that the render was cancelled, and no file came)."""
    tiled = Enhancer(enhancer.model, enhancer.device, LONG_TILING)
    window = make_window(qtbot, tiled)
    window.open_photo(write_photo(pairs_dir, tmp_path / "big.png", LONG_PHOTO))
    qtbot.waitUntil(lambda: window.running_kind == FULL, timeout=RENDER_TIMEOUT_MS)
    target = tmp_path / "result.png"
    window.export(target)
    with qtbot.waitSignal(window.cancelled, timeout=RENDER_TIMEOUT_MS):
        window.cancel_work()
    assert window.statusBar().currentMessage() == (
        "Cancelled: Full size, 1 waiting export (not written)"
    )
    assert not target.exists()
    window.close()


def test_cancel_too_late_for_the_render_still_names_the_exports_it_dropped(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    """A render past its last cancel check ends as if no cancel had come: the export the
    cancel dropped went unreported."""
    window = make_window(qtbot, enhancer)
    full_result = window.session.full_result
    started = threading.Event()

    def late_full_result(controls, progress=None, cancel=None):
        started.set()
        time.sleep(1.0)  # the cancel comes now, and is not looked at
        return full_result(controls, progress=progress)

    window.session.full_result = late_full_result
    target = tmp_path / "result.png"
    with wait_shown(qtbot, window, FULL):
        window.open_photo(write_photo(pairs_dir, tmp_path / "dark.png"))
        qtbot.waitUntil(started.is_set, timeout=RENDER_TIMEOUT_MS)
        window.export(target)
        window.cancel_work()
    qtbot.waitUntil(lambda: window.running_kind is None, timeout=RENDER_TIMEOUT_MS)
    assert window.statusBar().currentMessage() == "Cancelled: 1 waiting export (not written)"
    assert not target.exists()
    # nor does that cancel call a later render, replaced by a newer one, "Cancelled"
    window.statusBar().clearMessage()

    def slow_full_result(controls, progress=None, cancel=None):
        started.set()
        time.sleep(0.5)
        return full_result(controls, progress=progress, cancel=cancel)

    window.session.full_result = slow_full_result
    started.clear()
    window.render_settled(Controls(strength=0.5))
    qtbot.waitUntil(started.is_set, timeout=RENDER_TIMEOUT_MS)
    with qtbot.waitSignal(window.cancelled, timeout=RENDER_TIMEOUT_MS):
        window.render_settled(Controls(strength=0.7))
    assert "Cancelled" not in window.statusBar().currentMessage()
    window.close()


def test_escape_as_a_render_ends_names_the_export_it_stops(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    """Esc pressed as a full-size render ended (the window not yet told) cancelled the
    export that had just started behind it, and nothing said the file was not written."""
    window = make_window(qtbot, enhancer)
    open_and_render(qtbot, window, write_photo(pairs_dir, tmp_path / "dark.png"))
    session = window.session
    full_result, save = session.full_result, session.save
    rendering, saving = threading.Event(), threading.Event()

    def held_full_result(controls, progress=None, cancel=None):
        rendering.wait(RENDER_TIMEOUT_MS / 1000)
        return full_result(controls, progress=progress, cancel=cancel)

    def watched_save(*args, cancel, **kwargs):
        saving.set()
        deadline = time.monotonic() + RENDER_TIMEOUT_MS / 1000
        while not cancel.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)  # till the Esc below
        return save(*args, cancel=cancel, **kwargs)

    session.full_result, session.save = held_full_result, watched_save
    window.render_settled(Controls(strength=0.5))
    qtbot.waitUntil(lambda: window.running_kind == FULL, timeout=RENDER_TIMEOUT_MS)
    target = tmp_path / "result.png"
    window.export(target)
    rendering.set()  # the render ends and the export starts, unheard by the window yet
    assert saving.wait(RENDER_TIMEOUT_MS / 1000) and window.running_kind == FULL
    with qtbot.waitSignal(window.cancelled, timeout=RENDER_TIMEOUT_MS):
        window.cancel_work()
    qtbot.waitUntil(lambda: window.running_kind is None, timeout=RENDER_TIMEOUT_MS)
    assert window.statusBar().currentMessage() == "Cancelled: Export"
    assert not target.exists()
    window.close()


def test_escape_just_after_a_render_ended_leaves_later_cancels_reported(
    qtbot,
    enhancer: Enhancer,
    config_dir: Path,
    fixture_dir: Path,
    photo: Path,
    tmp_path: Path,
    monkeypatch,
) -> None:
    """The window heard a render end before the worker let go of it: Esc then took the
    render for running, waited for it to end (it had), and said nothing of the exports
    later cancels dropped."""
    window, checkpoint = _window_loading_slowly(qtbot, enhancer)
    open_and_render(qtbot, window, photo)
    queue = window.worker.queue
    done = queue.done

    def late_done(request) -> None:  # the worker thread paused as it leaves a render
        if request.kind == FULL:
            time.sleep(SETTLE_MS / 1000)
        done(request)

    monkeypatch.setattr(queue, "done", late_done)
    with wait_shown(qtbot, window, FULL):
        window.render_settled(Controls(strength=0.5))
    qtbot.waitUntil(lambda: window.running_kind is None, timeout=RENDER_TIMEOUT_MS)
    window.cancel_work()
    checkpoint.start(qtbot, window, _official_files(fixture_dir))
    window.export(tmp_path / "result.png")  # waits behind the model load
    window.cancel_work()
    assert window.statusBar().currentMessage() == "Cancelled: 1 waiting export (not written)"
    with wait_shown(qtbot, window, MODEL):
        checkpoint.open()
    window.close()


def test_escape_during_a_model_load_calls_no_later_render_cancelled(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    """A model load cannot be cancelled: Esc during one left a flag that called the next
    render replaced by a newer one "Cancelled"."""
    loading = threading.Event()

    def slow_loader(choice: ModelChoice) -> Enhancer:
        loading.wait(RENDER_TIMEOUT_MS / 1000)
        return Enhancer(enhancer.model, enhancer.device, LONG_TILING)

    window = MainWindow(Settings(), enhancer_loader=slow_loader)
    qtbot.addWidget(window)
    window.load_model()
    qtbot.waitUntil(lambda: window.running_kind == MODEL, timeout=RENDER_TIMEOUT_MS)
    window.cancel_work()
    with wait_shown(qtbot, window, MODEL):
        loading.set()
    window.open_photo(write_photo(pairs_dir, tmp_path / "big.png", LONG_PHOTO))
    qtbot.waitUntil(lambda: window.running_kind == FULL, timeout=RENDER_TIMEOUT_MS)
    with qtbot.waitSignal(window.cancelled, timeout=RENDER_TIMEOUT_MS):
        window.render_settled(Controls(strength=0.5))  # replaces the full-size render
    assert "Cancelled" not in window.statusBar().currentMessage()
    window.close()


def test_a_batch_cancelled_while_it_waits_ends_and_the_dialog_closes(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    """A batch queued behind a render was dropped without a signal: the dialog said
    "Cancelling…" for ever, and, modal and refusing to close mid-batch, held the app."""
    window = make_window(qtbot, Enhancer(enhancer.model, enhancer.device, LONG_TILING))
    window.open_photo(write_photo(pairs_dir, tmp_path / "big.png", LONG_PHOTO))
    qtbot.waitUntil(lambda: window.running_kind == FULL, timeout=RENDER_TIMEOUT_MS)
    inputs = tmp_path / "batch-in"
    write_photo(pairs_dir, inputs / "photo.png")
    dialog = window.open_batch(inputs)
    dialog.output.edit.setText(str(tmp_path / "batch-out"))
    dialog.start.click()
    assert dialog.running() and window.running_kind == FULL  # the batch waits
    with qtbot.waitSignal(dialog.batch_finished, timeout=RENDER_TIMEOUT_MS):
        dialog.cancel.click()
    assert not dialog.running() and dialog.close_button.isEnabled()
    assert dialog.status.text() == "Batch cancelled before it started."
    dialog.reject()
    assert not dialog.isVisible()
    assert not (tmp_path / "batch-out").exists()
    window.close()


def test_bad_file_shows_an_error_and_the_app_stays_usable(
    qtbot, window: MainWindow, photo: Path, tmp_path: Path, caplog
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.open_photo(broken)
    assert "broken.jpg" in window.last_error
    # a bad file is the user's to fix, not a bug: its log line carries no traceback
    failures = [record for record in caplog.records if "request failed" in record.getMessage()]
    assert [record.exc_info for record in failures] == [None]
    assert "broken.jpg" in failures[0].getMessage()
    assert window.error_box is not None and window.error_box.isVisible()
    assert "Opening" not in window.statusBar().currentMessage()  # the dialog says it failed
    window.error_box.close()
    result = open_and_render(qtbot, window, photo)
    assert result.shape == (SMALL[1], SMALL[0], 3)


def test_a_failed_open_renders_the_shown_photo_again(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    """The open cancelled the shown photo's full render when it started: it used to stay at
    the preview's size, labelled as a preview, with nothing running."""
    window = make_window(qtbot, Enhancer(enhancer.model, enhancer.device, LONG_TILING))
    window.resize(620, 420)
    window.open_photo(write_photo(pairs_dir, tmp_path / "big.png", LONG_PHOTO))
    qtbot.waitUntil(lambda: window.running_kind == FULL, timeout=RENDER_TIMEOUT_MS)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"junk")
    with (
        wait_shown(qtbot, window, FULL),
        qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS),
    ):
        window.open_photo(broken)
    assert displayed(window).shape == (LONG_PHOTO[1], LONG_PHOTO[0], 3)
    assert window.file_label.text() == "big.png"
    window.close()


def test_missing_weights_offers_load_weights(qtbot, config_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GLARE_RESOURCES", str(tmp_path))  # no bundled weights there
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.load_model()
    assert "Load weights" in window.last_error
    labels = [button.text() for button in window.error_box.buttons()]
    assert "Load weights…" in labels
    assert window.device_label.text() == "Model: none"
    window.close()


def _drop(window: MainWindow, paths: list[Path]) -> None:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    window.dropEvent(
        QDropEvent(
            QPointF(10, 10),
            Qt.DropAction.CopyAction,
            data,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    )


def test_dropping_several_items_opens_the_first_photo_and_says_so(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    """Only the first dropped item was opened (a text file: an error), the rest ignored."""
    window = make_window(qtbot, enhancer)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    photo = write_photo(pairs_dir, tmp_path / "dark.png")
    with wait_shown(qtbot, window, OPEN):
        _drop(window, [notes, photo, tmp_path])
    assert window.file_label.text() == "dark.png"
    assert window.statusBar().currentMessage().startswith("2 other items not opened")
    # the noisy-photo message replaced the note as soon as it was shown
    noisy = write_noisy_photo(pairs_dir, tmp_path / "noisy.png")
    with wait_shown(qtbot, window, OPEN):
        _drop(window, [noisy, photo])
    message = window.statusBar().currentMessage()
    assert message.startswith(NOISY_PHOTO_MESSAGE)
    assert message.endswith("1 other item not opened: one photo at a time (File > "
                            "Batch… enhances a folder).")  # fmt: skip
    window.close()


def test_dropping_a_folder_offers_it_to_the_batch_dialog(
    qtbot, enhancer: Enhancer, config_dir: Path, tmp_path: Path
) -> None:
    window = make_window(qtbot, enhancer)
    _drop(window, [tmp_path])
    dialog = window.findChild(BatchDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.input.path() == tmp_path
    dialog.close()
    # of two folders, the first (the second was opened as a photo: "not a file")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _drop(window, [tmp_path / "a", tmp_path / "b"])
    dialogs = [found for found in window.findChildren(BatchDialog) if found.isVisible()]
    assert [found.input.path() for found in dialogs] == [tmp_path / "a"]
    assert window.last_error is None
    window.close()


def test_export_without_a_model_says_so_rather_than_to_open_a_photo(
    qtbot, config_dir: Path, pairs_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("GLARE_RESOURCES", str(tmp_path))  # no bundled weights there
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.load_model()
    window.open_photo(write_photo(pairs_dir, tmp_path / "dark.png", (96, 64)))
    qtbot.waitUntil(lambda: window.photo is not None, timeout=RENDER_TIMEOUT_MS)
    window.choose_export()
    assert window.last_error.startswith("Nothing to export yet: no model is loaded")
    window.render_variants()
    assert window.last_error.startswith("No variants yet: no model is loaded")
    window.close()


def test_export_writes_the_full_result_and_never_the_original(
    qtbot, window: MainWindow, photo: Path, tmp_path: Path
) -> None:
    open_and_render(qtbot, window, photo)
    target = tmp_path / "export" / "dark_glare.png"
    with wait_shown(qtbot, window, SAVE):
        window.export(target)
    written = cv2.imread(str(target))
    assert written.shape == (SMALL[1], SMALL[0], 3)
    original = photo.read_bytes()
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.export(photo)
    assert photo.read_bytes() == original
    assert "overwrite" in window.last_error


def test_an_export_that_leaves_metadata_out_says_so_in_the_window(
    qtbot, window: MainWindow, photo: Path, tmp_path: Path
) -> None:
    """A JPEG cannot hold an XMP over 64 KB (an editor's history): the result is saved
    without it, and the window said only "Saved" (the reason went to a log)."""
    history = b"".join(b"<rdf:li>xmp.did:%032x</rdf:li>" % index for index in range(2000))
    edited = tmp_path / "photos" / "edited.png"
    with Image.open(photo) as dark:
        dark.save(edited, pnginfo=_with_xmp(b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + history))
    open_and_render(qtbot, window, edited)
    with wait_shown(qtbot, window, SAVE):
        window.export(tmp_path / "edited_glare.jpg")
    message = window.statusBar().currentMessage()
    assert message.startswith(f"Saved {tmp_path / 'edited_glare.jpg'}; its XMP (")
    assert message.endswith("does not fit in a JPEG file; the result is saved without it")
    with wait_shown(qtbot, window, SAVE):
        window.export(tmp_path / "edited_glare.png")  # a PNG holds it
    assert window.statusBar().currentMessage() == f"Saved {tmp_path / 'edited_glare.png'}"


def _with_xmp(xmp: bytes) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    return info


def test_only_a_folder_that_took_an_export_is_suggested_for_the_next(
    qtbot, window: MainWindow, photo: Path, tmp_path: Path, monkeypatch
) -> None:
    open_and_render(qtbot, window, photo)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the export wants a folder")
    chosen = [(str(blocker / "out.png"), EXPORT_FILTERS["png"])]
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: chosen[0])
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.choose_export()
    assert window.suggested_export_path().parent == photo.parent

    chosen[0] = (str(tmp_path / "exports" / "out.png"), EXPORT_FILTERS["png"])
    with wait_shown(qtbot, window, SAVE):
        window.choose_export()
    assert window.suggested_export_path().parent == tmp_path / "exports"


@pytest.mark.parametrize("typed", ["myresult", "IMG_2024.05"])
def test_export_takes_the_extension_of_the_file_type_chosen(
    qtbot, window: MainWindow, photo: Path, tmp_path: Path, monkeypatch, typed: str
) -> None:
    """Qt's own save dialog returns a name typed without extension as it is: the export
    failed ("cannot write format (no extension)", or "(.05)" for a dotted name) whatever
    type the user had chosen."""
    open_and_render(qtbot, window, photo)
    chosen = (str(tmp_path / typed), EXPORT_FILTERS["jpeg"])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args: chosen)
    with wait_shown(qtbot, window, SAVE):
        window.choose_export()
    written = tmp_path / f"{typed}.jpg"
    assert written.read_bytes().startswith(b"\xff\xd8")  # a JPEG

    # that name was not the one the dialog asked about replacing: the app asks
    kept = written.read_bytes()
    asked: list[str] = []

    def decline(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Cancel

    monkeypatch.setattr(QMessageBox, "question", decline)
    window.choose_export()
    qtbot.wait(500)
    assert asked == [f"{typed}.jpg already exists. Replace it?"]
    assert window.running_kind is None and written.read_bytes() == kept


def test_an_export_queued_behind_an_open_never_writes_the_new_photo_over_the_shown_one(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path
) -> None:
    shown = write_photo(pairs_dir, tmp_path / "a.png")
    open_and_render(qtbot, window, shown)
    original_bytes = shown.read_bytes()
    window.open_photo(write_photo(pairs_dir, tmp_path / "b.png", LONG_PHOTO, index=5))
    qtbot.waitUntil(lambda: window.running_kind == OPEN, timeout=RENDER_TIMEOUT_MS)
    # Ctrl+S over the original of the photo still on screen, confirmed as choose_export asks
    assert window._is_shown_photo(shown)
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.export(shown, replace_source=True)
    assert "a.png is no longer the open photo" in window.last_error
    assert shown.read_bytes() == original_bytes


def test_closing_the_window_finishes_the_export_asked_for(
    qtbot, enhancer: Enhancer, config_dir: Path, pairs_dir: Path, tmp_path: Path
) -> None:
    window = make_window(qtbot, enhancer)
    open_and_render(qtbot, window, write_photo(pairs_dir, tmp_path / "a.png", LONG_PHOTO))
    target = tmp_path / "a_glare.png"
    window.controls.set_controls(Controls(strength=0.6))  # a full result still to render
    window.export(target)
    window.close()  # at once: the export was queued, not written
    assert read_image(target).rgb.shape == (LONG_PHOTO[1], LONG_PHOTO[0], 3)
    # and the next export dialog opens where it went (the settings were saved before it)
    assert load_settings().last_save_dir == str(tmp_path)


def test_variants_report_progress_as_each_one_is_rendered(
    qtbot, window: MainWindow, photo: Path
) -> None:
    open_and_render(qtbot, window, photo)
    reported: list[float] = []
    window.worker.runner.progress.connect(
        lambda kind, generation, fraction, stage: reported.append(fraction)
    )
    window.variant_count.setValue(3)
    with wait_shown(qtbot, window, VARIANTS):
        window.render_variants()
    assert reported == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert len(window.variants_dialog.buttons) == 3
    window.variants_dialog.close()


def test_eight_variants_fit_the_screen_and_enter_picks_the_one_in_focus(qtbot) -> None:
    """Eight 600x400 variants made a dialog 1130 px tall, its Cancel off a laptop's screen,
    and Enter pressed Cancel."""
    variants = [(Controls(temperature=0.6, seed=seed), random_picture(seed)) for seed in range(8)]
    dialog = VariantsDialog(variants)
    qtbot.addWidget(dialog)
    dialog.show()
    screen = dialog.screen().availableGeometry()
    assert dialog.frameGeometry().height() <= screen.height()
    assert dialog.frameGeometry().width() <= screen.width()
    assert dialog.buttons[0].iconSize().height() < VARIANT_ICON.height()
    picked: list[Controls] = []
    dialog.picked.connect(picked.append)
    assert dialog.focusWidget() is dialog.buttons[0]  # not the scroll area around them
    for _ in range(5):  # from the first variant to the sixth
        QTest.keyClick(dialog.focusWidget(), Qt.Key.Key_Tab)
    QTest.keyClick(dialog.focusWidget(), Qt.Key.Key_Return)
    assert [controls.seed for controls in picked] == [5]
    assert dialog.result() == QDialog.DialogCode.Accepted
    again = VariantsDialog(variants[:2])
    qtbot.addWidget(again)
    again.show()
    cancel = again.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Cancel)
    cancel.setFocus()
    QTest.keyClick(cancel, Qt.Key.Key_Return)  # Enter on Cancel cancels, as everywhere
    assert again.result() == QDialog.DialogCode.Rejected and not again.isVisible()


def test_the_status_bar_cuts_a_long_message_and_keeps_it_whole_in_its_tooltip(
    qtbot, window: MainWindow
) -> None:
    """Cut by the first permanent label, "Saved /photos/Holiday" ran into the photo's name."""
    window.resize(720, 540)
    message = "Saved " + "/holiday" * 20 + "/IMG_2024.png"
    window.statusBar().showMessage(message)
    label = window.statusBar().message_label
    qtbot.waitUntil(lambda: label.text() != message)
    assert label.text().endswith("…") and label.toolTip() == message
    assert window.statusBar().currentMessage() == message
    assert label.geometry().right() < window.file_label.geometry().left()
    assert window.width() == 720
    window.statusBar().showMessage("Saved", 50)
    assert label.text() == "Saved" and label.toolTip() == ""
    qtbot.waitUntil(lambda: window.statusBar().currentMessage() == "")


def test_the_compare_view_takes_the_keys_for_its_divider_and_pan(
    qtbot, window: MainWindow, photo: Path
) -> None:
    open_and_render(qtbot, window, photo)
    view = window.compare

    def shown() -> np.ndarray:
        return rgb8_from_qimage(view.grab().toImage()).astype(int)

    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert view.split == pytest.approx(0.6)
    fitted = shown()
    QTest.keyClick(view, Qt.Key.Key_Left)  # a fitted photo stays fitted
    np.testing.assert_array_equal(shown(), fitted)
    view.set_zoom(view.zoom() * 4)
    before = shown()
    QTest.keyClick(view, Qt.Key.Key_Left)
    assert view.split == pytest.approx(0.6)  # the divider stays where it was
    assert np.abs(shown() - before).mean() > 1
    for _ in range(200):  # far past the photo's edge: its corner stays in the middle
        QTest.keyClick(view, Qt.Key.Key_Up)
        QTest.keyClick(view, Qt.Key.Key_Left)
    beyond_divider = round(view.width() * view.split) + 16  # past its handle too
    quarter = shown()[view.height() // 2 + 16 :, beyond_divider:]
    background = [BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue()]
    assert (quarter != background).any(axis=2).mean() > 0.9  # the photo, not the background


def test_screen_readers_get_each_controls_name_and_shown_value(window: MainWindow) -> None:
    panel = window.controls
    panel.strength.setValue(1.5)
    bar = panel.strength.findChild(QAbstractSlider)
    assert bar.focusPolicy() != Qt.FocusPolicy.NoFocus  # the Tab stop
    assert (bar.accessibleName(), bar.accessibleDescription()) == ("Strength", "1.50")
    assert panel.seed.accessibleName() == "Seed"
    assert window.variant_count.accessibleName() == "Number of variants"


def test_export_suggests_a_format_it_can_write(
    qtbot, window: MainWindow, photo: Path, tmp_path: Path
) -> None:
    bitmap = tmp_path / "dark.bmp"
    cv2.imwrite(str(bitmap), cv2.imread(str(photo)))
    open_and_render(qtbot, window, bitmap)
    window.settings.default_format = "same"
    window.settings.last_save_dir = None
    assert window.suggested_export_path() == tmp_path / "dark_glare.png"  # BMP is saved as PNG
    window.settings.default_format = "jpeg"
    assert window.suggested_export_path().name == "dark_glare.jpg"


def test_batch_dialog_reports_the_corrupt_file(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "batch-in"
    for index in range(2):
        write_photo(pairs_dir, inputs / f"photo{index}.png", index=index)
    (inputs / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    # an output folder inside the input is not searched: the photo already in it is named
    output = inputs / "batch-out"
    write_photo(pairs_dir, output / "already-there.png")
    window.controls.set_controls(Controls(strength=1.2, noise_reduction=0.0, exposure=-0.5))
    dialog = window.open_batch()
    assert dialog.status.text() == (
        "Settings: strength 1.20, T 0.00, noise reduction 0, exposure -0.5 stops"
    )
    dialog.input.edit.setText(str(inputs))
    dialog.output.edit.setText(str(output))
    with qtbot.waitSignal(dialog.batch_finished, timeout=RENDER_TIMEOUT_MS):
        dialog.start.click()
    assert dialog.summary is not None
    assert len(dialog.summary.done) == 2
    assert dialog.failures.count() == 2
    assert dialog.failures.item(0).text().startswith("corrupt.png")
    assert dialog.failures.item(1).text().startswith("1 photo(s) in the output folder")
    assert dialog.failures.item(1).text().endswith(": already-there.png")
    assert dialog.progress.value() == dialog.progress.maximum()
    assert dialog.start.isEnabled()
    assert len(list(output.glob("*_glare.png"))) == 2
    dialog.close()


def test_a_cancelled_batch_says_so_once_with_what_was_done(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "batch-in"
    for index in range(4):
        write_photo(pairs_dir, inputs / f"photo{index}.png", LONG_PHOTO, index=index)
    dialog = window.open_batch()
    dialog.input.edit.setText(str(inputs))
    dialog.output.edit.setText(str(tmp_path / "batch-out"))
    dialog.start.click()
    qtbot.waitUntil(lambda: "2/4" in dialog.status.text(), timeout=RENDER_TIMEOUT_MS)
    with qtbot.waitSignal(dialog.batch_finished, timeout=RENDER_TIMEOUT_MS):
        QTest.keyClick(dialog, Qt.Key.Key_Escape)  # as the Cancel button (Esc did nothing)
    assert dialog.isVisible()  # to say what was done
    assert dialog.summary is not None and dialog.summary.cancelled
    done = len(dialog.summary.done)
    assert dialog.status.text() == f"Cancelled: {done} done, 0 skipped, 0 failed"
    assert len(list((tmp_path / "batch-out").iterdir())) == done
    dialog.close()


def test_batch_dialog_needs_both_folders_and_some_images(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an empty field must not stand for the working folder
    write_photo(pairs_dir, tmp_path / "stray.png")
    dialog = window.open_batch()
    dialog.input.edit.setText("")
    dialog.output.edit.setText("")
    dialog.start.click()
    assert dialog.status.text() == "Choose the input folder."
    dialog.input.edit.setText(str(tmp_path))
    dialog.start.click()
    assert dialog.status.text() == "Choose the output folder."
    no_images = tmp_path / "notes"
    no_images.mkdir()
    (no_images / "readme.txt").write_text("no photos here")
    dialog.input.edit.setText(str(no_images))
    dialog.output.edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(dialog.batch_finished, timeout=RENDER_TIMEOUT_MS):
        dialog.start.click()
    assert dialog.status.text().endswith(f"no images found in {no_images}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes", "stray.png"]
    dialog.close()


def test_enter_in_a_batch_field_starts_the_batch_not_a_folder_browser(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    browsed: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda *args: browsed.append(args[1]) or ""
    )
    write_photo(pairs_dir, tmp_path / "in" / "night.png")
    dialog = window.open_batch()
    dialog.input.edit.setText(str(tmp_path / "in"))
    dialog.output.edit.setText(str(tmp_path / "out"))
    assert dialog.input.edit.accessibleName() == "Input folder"
    dialog.show()
    dialog.input.edit.setFocus()
    with qtbot.waitSignal(dialog.batch_finished, timeout=RENDER_TIMEOUT_MS):
        QTest.keyClick(dialog.input.edit, Qt.Key.Key_Return)
    assert browsed == []
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["night_glare.png"]
    dialog.close()


def test_batch_dialog_names_results_with_the_chosen_suffix(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path
) -> None:
    write_photo(pairs_dir, tmp_path / "in" / "night.png")
    dialog = window.open_batch()
    assert dialog.suffix.text() == "_glare"
    dialog.input.edit.setText(str(tmp_path / "in"))
    dialog.output.edit.setText(str(tmp_path / "out"))
    dialog.suffix.setText("/up")
    dialog.start.click()
    assert "must not contain a path separator" in dialog.status.text()
    assert not dialog.running() and not (tmp_path / "out").exists()
    assert window.settings.batch_suffix == "_glare"  # not remembered for the next batch
    dialog.suffix.setText("-bright")
    with qtbot.waitSignal(dialog.batch_finished, timeout=RENDER_TIMEOUT_MS):
        dialog.start.click()
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["night-bright.png"]
    dialog.close()
    assert window.settings.batch_suffix == "-bright"  # the next batch starts with it


def test_failed_weights_keep_the_model_and_are_never_saved(
    qtbot, enhancer: Enhancer, config_dir: Path, photo: Path, tmp_path: Path
) -> None:
    def loader(choice: ModelChoice) -> Enhancer:  # named weights load for real (and fail)
        return load_enhancer(choice) if choice.weights else enhancer

    window = MainWindow(Settings(), enhancer_loader=loader)
    qtbot.addWidget(window)
    with wait_shown(qtbot, window, MODEL):
        window.load_model()
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not weights")
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.load_weights([broken])
    assert window.device_label.text() == "Device: CPU"  # the previous model is still in use
    with wait_shown(qtbot, window, MODEL):
        window.load_model()  # a later load that succeeds (a change of device, say)
    assert window.settings.weights == []
    assert open_and_render(qtbot, window, photo).shape == (SMALL[1], SMALL[0], 3)
    window.close()


def test_a_device_that_fails_to_load_is_never_saved(
    qtbot, enhancer: Enhancer, config_dir: Path, monkeypatch
) -> None:
    """A device chosen in Settings was saved before its model loaded: one without that GPU
    then started with no model at all, every time, and was offered to load weights."""

    def loader(choice: ModelChoice) -> Enhancer:
        if choice.device != "cpu":
            raise RuntimeError(f"{choice.device} was asked for but is not available")
        return enhancer

    window = MainWindow(Settings(device="cpu"), enhancer_loader=loader)
    qtbot.addWidget(window)
    with wait_shown(qtbot, window, MODEL):
        window.load_model()

    def choose_cuda(dialog: SettingsDialog) -> int:
        dialog.device.setCurrentText("cuda")
        dialog.threads.setValue(1)
        dialog.quality.setValue(77)  # not the model's: saved at once
        return 1

    monkeypatch.setattr(SettingsDialog, "exec", choose_cuda)
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.open_settings()
    assert "cuda" in window.last_error
    assert [button.text() for button in window.error_box.buttons()] == ["Close"]
    assert (window.settings.device, window.settings.threads) == ("cpu", 0)
    assert window.settings.jpeg_quality == 77
    assert window.device_label.text() == "Device: CPU"

    def choose_two_threads(dialog: SettingsDialog) -> int:
        dialog.threads.setValue(2)
        return 1

    monkeypatch.setattr(SettingsDialog, "exec", choose_two_threads)
    with wait_shown(qtbot, window, MODEL):
        window.open_settings()  # one that loads is saved
    assert (window.settings.device, window.settings.threads) == ("cpu", 2)
    window.close()


def _official_files(fixture_dir: Path) -> list[Path]:
    return [fixture_dir / name for name in ("net_G.pth", "vqgan.pkl", "config.yml")]


def test_official_weights_load_and_give_the_official_output(
    qtbot, enhancer: Enhancer, config_dir: Path, fixture_dir: Path
) -> None:
    def loader(choice: ModelChoice) -> Enhancer:  # named weights load for real
        return load_enhancer(choice) if choice.weights else enhancer

    window = MainWindow(Settings(), enhancer_loader=loader)
    qtbot.addWidget(window)
    with wait_shown(qtbot, window, MODEL):
        window.load_model()
    assert window.controls.controls().noise_reduction == COMPACT_NOISE_REDUCTION
    official = _official_files(fixture_dir)
    with wait_shown(qtbot, window, MODEL):
        window.load_weights(official)
    assert window.controls.controls().noise_reduction == 0  # the official code has no filter
    assert window.settings.weights == [str(path) for path in official[:2]]
    result = open_and_render(qtbot, window, fixture_dir / "inputs" / "input.png")
    expected = cv2.cvtColor(cv2.imread(str(fixture_dir / "output.png")), cv2.COLOR_BGR2RGB)
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    with wait_shown(qtbot, window, MODEL):
        window.use_bundled_weights()  # and back
    assert window.session.enhancer is enhancer
    assert (window.settings.weights, window.settings.weights_config) == ([], None)
    assert window.controls.controls().noise_reduction == enhancer.noise_reduction
    window.close()


class _SlowCheckpoint:
    """Named weights load for real, the official ones only as the test lets them through
    one by one: a slow checkpoint, during which the user chooses again."""

    def __init__(self, enhancer: Enhancer) -> None:
        self._enhancer = enhancer
        self.reached = threading.Event()  # a load of the official weights is waiting
        self._passes = threading.Semaphore(0)

    def __call__(self, choice: ModelChoice) -> Enhancer:
        if any(name.endswith("net_G.pth") for name in choice.weights):
            self.reached.set()
            self._passes.acquire(timeout=RENDER_TIMEOUT_MS / 1000)
        return load_enhancer(choice) if choice.weights else self._enhancer

    def start(self, qtbot, window: MainWindow, weights: list[Path]) -> None:
        """Load ``weights``, returning once their load waits."""
        self.reached.clear()
        window.load_weights(weights)
        qtbot.waitUntil(self.reached.is_set, timeout=RENDER_TIMEOUT_MS)

    def open(self, loads: int = 1) -> None:
        """Let ``loads`` loads of the official weights through."""
        self._passes.release(loads)


def _broken_weights(path: Path) -> Path:
    path.write_bytes(b"not weights" * 10)
    return path


def _window_loading_slowly(qtbot, enhancer: Enhancer) -> tuple[MainWindow, _SlowCheckpoint]:
    """A window on the bundled model whose official weights load only when let through."""
    checkpoint = _SlowCheckpoint(enhancer)
    window = MainWindow(Settings(), enhancer_loader=checkpoint)
    qtbot.addWidget(window)
    with wait_shown(qtbot, window, MODEL):
        window.load_model()
    return window, checkpoint


def test_a_choice_made_while_weights_load_is_the_one_saved_and_shown(
    qtbot, enhancer: Enhancer, config_dir: Path, fixture_dir: Path, tmp_path: Path
) -> None:
    """Each load took the latest choice's pending state: a broken file picked while the
    official weights loaded was saved for the next start (which then failed to load any
    model), and the bundled model chosen meanwhile kept the official noise reduction."""
    official = _official_files(fixture_dir)
    broken = _broken_weights(tmp_path / "broken.safetensors")
    window, checkpoint = _window_loading_slowly(qtbot, enhancer)
    checkpoint.start(qtbot, window, official)
    window.load_weights([broken])  # while the official ones load
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        checkpoint.open()
    # the official weights loaded and are in use: saved, at their own noise reduction
    assert window.settings.weights == [str(path) for path in official[:2]]
    assert window.controls.controls().noise_reduction == 0
    checkpoint.start(qtbot, window, official)
    window.use_bundled_weights()  # while the official ones load
    with wait_shown(qtbot, window, MODEL):  # once the last choice has loaded
        checkpoint.open()
    assert window.session.enhancer is enhancer and window.settings.weights == []
    assert window.controls.controls().noise_reduction == enhancer.noise_reduction
    checkpoint.start(qtbot, window, official)
    window.load_weights([broken])
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        checkpoint.open()
    window.close()
    assert load_settings().weights == [str(path) for path in official[:2]]  # never the broken


def test_settings_changed_while_picked_weights_load_keep_them(
    qtbot, enhancer: Enhancer, config_dir: Path, fixture_dir: Path
) -> None:
    """The dialog started from the saved model: OK on a new tile size loaded the bundled
    model instead of the weights just picked. And while the later load ran, the status bar
    named the device of the model about to go."""
    official = _official_files(fixture_dir)
    window, checkpoint = _window_loading_slowly(qtbot, enhancer)
    checkpoint.start(qtbot, window, official)

    def set_tile_size() -> None:
        dialog = QApplication.activeModalWidget()
        dialog.tile_size.setValue(256)
        dialog.accept()

    QTimer.singleShot(0, set_tile_size)
    window.open_settings()
    checkpoint.reached.clear()
    checkpoint.open()  # the weights load as picked; then again at the new tile size
    qtbot.waitUntil(checkpoint.reached.is_set, timeout=RENDER_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.enhancer is not enhancer, timeout=RENDER_TIMEOUT_MS)
    # the model in use is about to go: the status bar said "Device: CPU" (the batch dialog,
    # "The model is still loading")
    assert window.device_label.text() == MODEL_LOADING_LABEL
    with wait_shown(qtbot, window, MODEL):  # once the last choice has loaded
        checkpoint.open()
    assert window.device_label.text() == "Device: CPU"
    assert window.settings.weights == [str(path) for path in official[:2]]
    assert window.settings.tile_size == 256
    assert window.controls.controls().noise_reduction == 0
    window.close()


def test_settings_ok_keeps_what_work_saved_while_the_dialog_was_open(
    qtbot, enhancer: Enhancer, config_dir: Path, photo: Path, tmp_path: Path, monkeypatch
) -> None:
    """OK put back the settings as they were when the dialog opened: the folder of an export
    and the photo opened meanwhile were forgotten."""
    window = make_window(qtbot, enhancer)
    target = tmp_path / "exports" / "result.png"
    target.parent.mkdir()

    def exec_while_work_ends(dialog: SettingsDialog) -> int:
        with wait_shown(qtbot, window, FULL):
            window.open_photo(photo)
        with wait_shown(qtbot, window, SAVE):
            window.export(target)
        dialog.quality.setValue(80)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(SettingsDialog, "exec", exec_while_work_ends)
    window.open_settings()
    assert window.settings.jpeg_quality == 80
    assert window.settings.last_save_dir == str(target.parent)
    assert window.settings.recent_files == [str(photo.resolve())]
    window.close()


def test_settings_ok_loads_no_weights_that_failed_while_the_dialog_was_open(
    qtbot, enhancer: Enhancer, config_dir: Path, fixture_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """The dialog showed the weights being loaded; they failed, and OK with no model setting
    changed loaded them again, to fail again."""
    window, checkpoint = _window_loading_slowly(qtbot, enhancer)
    broken = _broken_weights(tmp_path / "net_G.pth")  # held as the official ones, then fails
    checkpoint.start(qtbot, window, [broken])
    failures: list[str] = []
    window.failed.connect(lambda kind, message: failures.append(kind))

    def exec_while_the_load_fails(dialog: SettingsDialog) -> int:
        checkpoint.reached.clear()
        checkpoint.open()
        qtbot.waitUntil(lambda: failures == [MODEL], timeout=RENDER_TIMEOUT_MS)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(SettingsDialog, "exec", exec_while_the_load_fails)
    window.open_settings()
    qtbot.wait(SETTLE_MS)
    assert not checkpoint.reached.is_set() and failures == [MODEL]
    assert not window.model_loading() and window.session.enhancer is enhancer
    window.close()


def test_a_batch_waits_for_the_model_being_loaded(
    qtbot, enhancer: Enhancer, config_dir: Path, fixture_dir: Path, pairs_dir: Path, tmp_path
) -> None:
    """Started while picked weights loaded, a batch ran on the model about to go, at its
    noise reduction, and said "Finished"."""
    official = _official_files(fixture_dir)
    write_photo(pairs_dir, tmp_path / "in" / "night.png")
    window, checkpoint = _window_loading_slowly(qtbot, enhancer)
    window.load_weights(official)
    dialog = window.open_batch(tmp_path / "in")
    dialog.output.edit.setText(str(tmp_path / "out"))
    dialog.start.click()
    assert dialog.status.text().startswith("The model is still loading")
    assert not dialog.running() and not (tmp_path / "out").exists()
    with wait_shown(qtbot, window, MODEL):  # once the last choice has loaded
        checkpoint.open()
    # the settings line showed the noise reduction of the model gone
    assert dialog.status.text().endswith("noise reduction 0")
    with qtbot.waitSignal(dialog.batch_finished, timeout=RENDER_TIMEOUT_MS):
        dialog.start.click()
    written = read_image(tmp_path / "out" / "night_glare.png").rgb
    photo = read_image(tmp_path / "in" / "night.png").rgb
    expected = window.enhancer.enhance(photo, noise_reduction=0)  # the official model's own
    assert np.abs(written - expected).max() * 255 <= 1
    dialog.close()
    window.close()


def test_the_batch_settings_line_follows_each_model_load_and_gives_way_to_news(
    qtbot, enhancer: Enhancer, config_dir: Path, fixture_dir: Path, tmp_path: Path
) -> None:
    """Picked weights that loaded before a later choice failed left the line at the noise
    reduction of the model gone; and any render that ended put the line back over the
    dialog's own news ("Choose the output folder.", "Batch cancelled before it started.")."""
    official = _official_files(fixture_dir)
    broken = _broken_weights(tmp_path / "broken.safetensors")
    window, checkpoint = _window_loading_slowly(qtbot, enhancer)
    checkpoint.start(qtbot, window, official)
    window.load_weights([broken])  # while the official ones load
    dialog = window.open_batch(tmp_path)
    assert dialog.status.text().endswith(f"noise reduction {enhancer.noise_reduction:g}")
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        checkpoint.open()
    assert dialog.status.text().endswith("noise reduction 0")  # the official model's, in use
    dialog.start.click()
    assert dialog.status.text() == "Choose the output folder."
    checkpoint.start(qtbot, window, official)
    with wait_shown(qtbot, window, MODEL):
        checkpoint.open()
    assert dialog.status.text() == "Choose the output folder."
    dialog.close()
    window.close()


@pytest.mark.parametrize(
    ("names", "heading"),
    [
        (["result.png"], "An export was"),
        (["first.png", "second.jpg"], "2 exports were"),
    ],
)
def test_exports_that_fail_as_the_window_closes_are_told_by_file_once_it_has_closed(
    qtbot,
    enhancer: Enhancer,
    config_dir: Path,
    pairs_dir: Path,
    tmp_path: Path,
    monkeypatch,
    names: list[str],
    heading: str,
) -> None:
    """Their error box opened on the closing window and went with it as the app quit:
    nothing said the file was not written. Then each failure's message named the folder
    only: two exports into one bad folder read as the same line twice."""
    window = make_window(qtbot, enhancer)
    open_and_render(qtbot, window, write_photo(pairs_dir, tmp_path / "a.png"))
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: told.append(text))
    (tmp_path / "a file").write_text("not a folder")
    for name in names:
        window.export(tmp_path / "a file" / name)
    window.close()
    assert len(told) == 1
    lines = told[0].splitlines()
    assert lines[0] == f"{heading} not written as Glare Studio closed:"
    assert [line.split(": ")[0] for line in lines[1:]] == names
    assert all("a file" in line for line in lines[1:])


def test_weights_that_load_as_the_window_closes_are_not_saved_half_set_up(
    qtbot, enhancer: Enhancer, config_dir: Path, fixture_dir: Path
) -> None:
    """Picked weights whose load ended as the window closed were saved as the next start's
    model, at the noise reduction of the model before them (the official ones at 4, as the
    app never runs them)."""
    window, checkpoint = _window_loading_slowly(qtbot, enhancer)
    checkpoint.start(qtbot, window, _official_files(fixture_dir))
    letting_through = threading.Timer(SETTLE_MS / 1000, checkpoint.open)
    letting_through.start()  # the load ends while the window waits for its exports
    window.close()
    letting_through.join()
    saved = load_settings()
    assert saved.weights == [] and saved.noise_reduction == enhancer.noise_reduction


def test_a_closed_batch_dialog_goes(qtbot, window: MainWindow, tmp_path: Path) -> None:
    """Each batch dialog stayed, hidden, for as long as the window, listening to the worker
    and to model loads."""
    for _ in range(3):
        window.open_batch(tmp_path).close()
    qtbot.waitUntil(lambda: not window.findChildren(BatchDialog), timeout=RENDER_TIMEOUT_MS)


def test_settings_persist_controls_and_folders(qtbot, enhancer: Enhancer, config_dir: Path):
    window = make_window(qtbot, enhancer)
    chosen = Controls(1.4, 0.3, seed=9, noise_reduction=7.5, exposure=0.7, photo_colour=0.4)
    window.controls.set_controls(chosen)
    window.settings.last_open_dir = "/photos"
    window.close()
    saved = json.loads(settings_path().read_text())
    assert saved["strength"] == 1.4 and saved["seed"] == 9 and saved["noise_reduction"] == 7.5
    assert saved["exposure"] == 0.7 and saved["photo_colour"] == 0.4
    restored = load_settings()
    assert restored.controls == chosen and restored.geometry
    assert settings_path().parent == config_dir


def test_app_screenshot_is_taken_when_the_photo_fails_to_open(
    qapp, config_dir: Path, tmp_path: Path
) -> None:
    """It waited for a full result that never came: the app ran for good."""
    shot = tmp_path / "shot.png"
    QTimer.singleShot(START_AND_QUIT_MS, qapp.quit)  # should it never quit by itself
    assert app_main.main([str(tmp_path / "missing.jpg"), "--screenshot", str(shot)]) == 0
    assert not QImage(str(shot)).isNull()


def test_app_screenshot_is_taken_when_the_full_result_fails(
    qapp, config_dir: Path, pairs_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """... and when the full-size render failed (out of memory on a large photo)."""

    def out_of_memory(*args: object, **kwargs: object) -> np.ndarray:
        raise MemoryError

    monkeypatch.setattr(Session, "full_result", out_of_memory)
    shot = tmp_path / "shot.png"
    photo = write_photo(pairs_dir, tmp_path / "a.png")
    QTimer.singleShot(START_AND_QUIT_MS, qapp.quit)  # should it never quit by itself
    assert app_main.main([str(photo), "--screenshot", str(shot)]) == 0
    assert not QImage(str(shot)).isNull()


def test_several_photos_from_the_command_line_open_the_first(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path
) -> None:
    """The app did not start (argparse: unrecognized arguments); a file manager's "Open
    with" passes each selected file."""
    photos = [write_photo(pairs_dir, tmp_path / name) for name in ("a.png", "b.png", "c.png")]
    # photos after an option too (argparse refused them: unrecognized arguments)
    args = app_main.parse_args([str(photos[0]), "--screenshot", "s.png", *map(str, photos[1:])])
    with wait_shown(qtbot, window, OPEN):
        window.open_initial(args.photos)
    assert window.file_label.text() == "a.png"
    assert window.statusBar().currentMessage().startswith("2 other items not opened")


def test_a_saved_device_that_is_gone_points_to_settings_not_to_weights(
    qtbot, enhancer: Enhancer, config_dir: Path
) -> None:
    """At start the box offered "Load weights…" for a device the machine lacks, and said
    nothing of where to choose another."""

    def loader(choice: ModelChoice) -> Enhancer:  # as glare_core.device says it
        raise DeviceError(f"{choice.device} was asked for but is not available on this machine")

    window = MainWindow(Settings(device="cuda"), enhancer_loader=loader)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.failed, timeout=RENDER_TIMEOUT_MS):
        window.load_model()
    assert window.last_error.endswith("Choose another device in File > Settings…")
    assert [button.text() for button in window.error_box.buttons()] == ["Close"]
    window.close()


def test_a_window_size_qt_cannot_restore_opens_as_on_a_first_run(
    qtbot, enhancer: Enhancer, config_dir: Path
) -> None:
    """Qt refuses a geometry saved on a screen of another size (or damaged) and leaves the
    window at its smallest (594 x 470), which was then saved for the next start too."""
    first = make_window(qtbot, enhancer)
    expected = first.size()
    first.close()
    window = make_window(qtbot, enhancer, Settings(geometry="bm90IGEgZ2VvbWV0cnk="))
    assert window.size() == expected
    window.close()


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", "\xff\xfe"])
def test_a_settings_file_that_is_no_object_gives_the_defaults(config_dir: Path, text) -> None:
    """... and is kept beside it: the next save replaced a hand edit's stray comma, and every
    setting with it, by the defaults, saying so only in a log."""
    config_dir.mkdir()
    settings_path().write_bytes(text.encode("latin-1"))
    assert load_settings() == Settings()
    assert (config_dir / "settings.json.bad").read_bytes() == text.encode("latin-1")


def test_a_newer_versions_settings_survive_a_run_of_this_one(config_dir: Path) -> None:
    """Its settings were dropped at the next save, or reset where their values are new, and
    the file then claimed to be of this version."""
    config_dir.mkdir()
    text = json.dumps({"version": 3, "future": {"a": 1}, "device": "xpu", "seed": 42})
    settings_path().write_text(text)
    settings = load_settings()
    assert settings.seed == 42  # what this version understands is used
    settings.seed = 7
    save_settings(settings)
    assert settings_path().read_text() == text


def test_a_settings_file_that_cannot_be_read_is_not_replaced(config_dir: Path, monkeypatch):
    """The next save replaced it with the defaults (root reads any file: the refusal is
    made here as a file without read permission gives it)."""
    config_dir.mkdir()
    settings_path().write_text(json.dumps({"seed": 42, "recent_files": ["/a.png"]}))
    before = settings_path().read_bytes()

    def refuse(self: Path, *args: object, **kwargs: object) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    with monkeypatch.context() as patched:
        patched.setattr(Path, "read_bytes", refuse)
        settings = load_settings()
    assert settings.seed == Settings().seed
    save_settings(settings)
    assert settings_path().read_bytes() == before


def test_damaged_settings_lose_only_what_is_wrong_and_the_app_starts(
    qtbot, enhancer: Enhancer, config_dir: Path, photo: Path
) -> None:
    saved = {
        "strength": 1.5, "seed": 12, "last_open_dir": "/photos",  # kept
        "temperature": 99, "noise_reduction": 50, "exposure": 9, "photo_colour": 3,
        "device": 3, "threads": -2, "tile_size": "big", "jpeg_quality": 1000,
        "default_format": "gif", "weights": "net.pth", "recent_files": [1, 2],
        "geometry": "géométrie", "last_save_dir": 7, "batch_suffix": "/up", "unknown": True,
    }  # fmt: skip
    config_dir.mkdir()
    settings_path().write_text(json.dumps(saved))
    settings = load_settings()
    defaults = Settings()
    assert (settings.strength, settings.seed, settings.last_open_dir) == (1.5, 12, "/photos")
    for name in saved.keys() - {"strength", "seed", "last_open_dir", "unknown"}:
        assert getattr(settings, name) == getattr(defaults, name), name
    window = make_window(qtbot, enhancer, settings)
    assert open_and_render(qtbot, window, photo).shape == (SMALL[1], SMALL[0], 3)
    window.close()


@pytest.mark.parametrize(
    ("saved", "loaded"),
    [
        ({"tile_size": 1024}, AUTOMATIC_TILE_SIZE),  # the first version's default, saved
        ({"tile_size": 512}, 512),  # chosen in the first version
        ({"version": SETTINGS_VERSION, "tile_size": 1024}, 1024),  # chosen in this one
    ],
)
def test_settings_of_the_first_version_take_the_automatic_tile_size(
    config_dir: Path, saved: dict, loaded: int
) -> None:
    config_dir.mkdir()
    settings_path().write_text(json.dumps(saved))
    assert load_settings().tile_size == loaded
    save_settings(load_settings())
    assert json.loads(settings_path().read_text())["version"] == SETTINGS_VERSION


def test_the_tile_size_is_automatic_unless_one_is_set(qtbot) -> None:
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.tile_size.text() == "automatic"
    assert dialog.chosen_model().tile_size is None
    dialog.tile_size.setValue(512)
    assert dialog.chosen_model().tile_size == 512
    dialog.tile_size.setValue(200)  # typed below the smallest tile
    assert dialog.chosen_model().tile_size == 256
    assert SettingsDialog(Settings(tile_size=768)).tile_size.value() == 768


def test_a_long_photo_name_is_cut_in_the_middle(
    qtbot, window: MainWindow, pairs_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A 120-letter name took the status bar's width, and its messages with it; the batch
    dialog's progress line could not wrap it and lost its end."""
    name = "night_market_" + "a" * 103 + ".png"
    path = write_photo(pairs_dir, tmp_path / name)
    open_and_render(qtbot, window, path)
    shown = window.file_label.text()
    assert "…" in shown and shown.startswith("night_market_") and shown.endswith("aa.png")
    assert window.file_label.fontMetrics().horizontalAdvance(shown) <= NAME_WIDTH
    assert window.file_label.toolTip() == str(path)
    # 100% is one photo pixel per device pixel, on a high-DPI screen too
    monkeypatch.setattr(window.compare, "devicePixelRatioF", lambda: 2.0)
    QTest.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.compare.zoom() == 0.5


def test_the_batch_progress_line_cuts_a_long_name_to_its_width(qtbot, window: MainWindow) -> None:
    """Cut to a number of characters, a name of wide letters still ran off the dialog's edge."""
    name = "night_market_" + "a" * 103 + ".png"
    dialog = window.open_batch()
    lines = []
    reporter = batch_progress_reporter(lambda fraction, text: lines.append(text))
    for shown_name in (name, "W" * 120 + ".png"):  # wide letters: fewer fit
        reporter(BatchProgress(0, 3, Path(shown_name), file_fraction=0.5, eta_seconds=61))
        dialog._generation = 1  # as a started batch's
        dialog._on_progress(BATCH_KIND, 1, 0.5, lines[-1])
        shown = dialog.status.text()
        assert "…" in shown and shown.startswith("1/3 ") and shown.endswith(" — 1:01 left")
        assert dialog.status.fontMetrics().horizontalAdvance(shown) <= dialog.status.width()
    assert lines[0] == f"1/3 {name} — 1:01 left"
    dialog.close()


def test_compare_view_divider_zoom_and_modes(qtbot, window: MainWindow, photo: Path) -> None:
    open_and_render(qtbot, window, photo)
    view = window.compare
    fit_zoom = view.zoom()
    # the tiny photo fits at more than the largest zoom: zoom out, anchored off-centre
    view.set_zoom(fit_zoom / 2, QPointF(10, 10))
    assert view.zoom() == pytest.approx(fit_zoom / 2)
    view.fit()
    assert view.zoom() == pytest.approx(fit_zoom)
    start = QPointF(view.width() / 2, view.height() / 2)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start.toPoint())
    qtbot.mouseMove(view, pos=QPointF(view.width() / 4, start.y()).toPoint())
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPointF(view.width() / 4, 1).toPoint())
    assert view.split == pytest.approx(0.25, abs=0.02)
    for mode in CompareMode:
        view.set_mode(mode)
        frame = rgb8_from_qimage(view.grab().toImage())
        assert frame.std() > 1  # something other than the empty background is drawn


@pytest.mark.parametrize("mode", list(CompareMode))
def test_holding_the_button_shows_the_original_in_every_mode(
    qtbot, window: MainWindow, photo: Path, mode: CompareMode
) -> None:
    open_and_render(qtbot, window, photo)
    view = window.compare
    view.set_mode(mode)
    view.set_split(0.5)
    viewports = view._viewports()
    result_side = viewports[-1].toRect().adjusted(0, 60, 0, 0)  # below the labels
    if mode is CompareMode.SPLIT:
        result_side.setLeft(view.width() // 2 + 12)  # right of the divider
    showing_result = rgb8_from_qimage(view.grab(result_side).toImage()).astype(int)
    qtbot.mousePress(window.hold_original, Qt.MouseButton.LeftButton)
    held = rgb8_from_qimage(view.grab(result_side).toImage()).astype(int)
    qtbot.mouseRelease(window.hold_original, Qt.MouseButton.LeftButton)
    view.set_after(view._before)  # the result replaced by the original, drawn the same way
    original = rgb8_from_qimage(view.grab(result_side).toImage()).astype(int)
    assert np.abs(showing_result - original).mean() > 1
    assert np.abs(held - original).max() <= 1


def test_split_view_lines_the_original_up_with_the_result(qtbot, pairs_dir: Path) -> None:
    """With the result equal to the original, the split view must look like the plain photo."""
    source = sorted((pairs_dir / "eval" / "high").glob("*.png"))[0]
    rgb = cv2.cvtColor(cv2.imread(str(source)), cv2.COLOR_BGR2RGB)
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    pixmap = pixmap_from_rgb8(rgb)
    view.set_photo(pixmap, QSize(rgb.shape[1], rgb.shape[0]))
    view.set_after(pixmap_from_rgb8(rgb.copy()))
    view.set_zoom(view.zoom() * 1.5, QPointF(300, 200))  # off-centre: both sides must follow
    view.set_split(0.4)
    split = rgb8_from_qimage(view.grab().toImage()).astype(int)
    view.set_mode(CompareMode.TOGGLE)
    plain = rgb8_from_qimage(view.grab().toImage()).astype(int)
    divider = round(0.4 * view.width())
    below_labels = slice(60, view.height())
    for columns in (slice(0, divider - 12), slice(divider + 12, view.width())):
        assert np.abs(split[below_labels, columns] - plain[below_labels, columns]).max() <= 1
