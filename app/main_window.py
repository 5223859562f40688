"""The main window: a thin view over :class:`glare_core.session.Session` and the worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QFontMetrics,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.batch_dialog import BatchDialog
from app.compare_view import CompareMode, CompareView
from app.controls import ControlsPanel
from app.dialogs import SettingsDialog, VariantsDialog
from app.images import pixmap_from_rgb8
from app.progress_bar import FractionBar
from app.settings import SAME_FORMAT, Settings, save_settings
from app.status_bar import MessageStatusBar
from app.worker import Worker
from glare_core.batch import DEFAULT_SUFFIX, result_name
from glare_core.config import OFFICIAL_CONFIG_SUFFIXES
from glare_core.engine import Enhancer
from glare_core.errors import DeviceError
from glare_core.imageio import (
    FORMAT_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    WRITE_FORMATS,
    extension_for,
    format_from_extension,
    normalize_format,
)
from glare_core.progress import CancelToken, ProgressFn
from glare_core.resources import sample_photo_path
from glare_core.session import (
    Controls,
    Exported,
    ModelChoice,
    OpenedPhoto,
    Session,
    VariantAxis,
    is_photo_file,
    load_enhancer,
)
from glare_core.work_queue import REPLACES_ITS_KIND, KindRule

logger = logging.getLogger(__name__)

EnhancerLoader = Callable[[ModelChoice], Enhancer]

# request kinds, and which queued or running work each one makes stale
MODEL, OPEN, DRAG, SCREEN, FULL, VARIANTS, SAVE = (
    "model",
    "open",
    "drag",
    "screen",
    "full",
    "variants",
    "save",
)
#: what the status bar calls each kind
KIND_NAMES = {
    MODEL: "Loading the model",
    OPEN: "Opening",
    DRAG: "Preview",
    SCREEN: "Preview",
    FULL: "Full size",
    VARIANTS: "Variants",
    SAVE: "Export",
}
RENDERS = (DRAG, SCREEN, FULL, VARIANTS)
#: what a new request of each of the window's kinds does to the others
KIND_RULES = {
    MODEL: KindRule(supersedes=RENDERS),  # a photo being opened opens with the new model
    OPEN: KindRule(supersedes=RENDERS),
    # a drag sends a step every DRAG_THROTTLE_MS, sooner than a drag preview renders
    # (60-300 ms on a 4K photo): cancelling the running one left the view unchanged until the
    # slider stopped, so a step replaces it only once it ends
    DRAG: KindRule(supersedes=RENDERS, lets_finish=(DRAG,)),
    SCREEN: KindRule(supersedes=(FULL, VARIANTS)),
    FULL: REPLACES_ITS_KIND,
    VARIANTS: REPLACES_ITS_KIND,
    SAVE: KindRule(queue_up=True),  # each export writes a file of its own
}
#: kinds that show the progress bar and the cancel button
LONG_KINDS = (MODEL, OPEN, SCREEN, FULL, VARIANTS, SAVE)
CANCELLABLE = (OPEN, SCREEN, FULL, VARIANTS, SAVE)
STATUS_MESSAGE_MS = 8000
MODEL_LOADING_LABEL = "Model: loading…"
#: shown when a photo opens that takes the noisy-photo path (glare_core.config.NoisyPathConfig)
NOISY_PHOTO_MESSAGE = (
    "Noisy, grainy or very dark photo: the learned denoiser cleans it first "
    "(more noise reduction smooths, less keeps grain, 0 turns it off)."
)
#: shown, until a model loads, when a photo opens without one
NO_MODEL_MESSAGE = "No model loaded: showing the original only."
#: room for the seed's ten digits, its arrows and the New seed button on one row
PANEL_WIDTH = 350
DEFAULT_WINDOW = QSize(1400, 900)
#: the most of the screen's free area a first window takes
FIRST_WINDOW_SHARE = 0.9
#: ends the message of a model load that failed for its device: where to choose another
DEVICE_HINT = ". Choose another device in File > Settings…"
DEFAULT_VARIANTS = 4
MIN_VARIANTS = 2  # one variant is the result itself
MAX_VARIANTS = 8
#: the status bar's progress bar: room for its stage and percentage
PROGRESS_BAR_WIDTH = 220
#: the status bar's photo name is cut in the middle past this width (its tooltip is whole)
NAME_WIDTH = 250
#: every extension the reader accepts (HEIC only with the optional pillow-heif)
PHOTO_FILTER = (
    "Images (" + " ".join(f"*{ext}" for ext in sorted(SUPPORTED_EXTENSIONS)) + ");;All files (*)"
)
WEIGHTS_FILTER = "GLARE weights (*.safetensors *.pth *.pt *.ckpt *.pkl *.yml *.yaml);;All files (*)"
#: how the export dialog names a format, where not as the library does
FORMAT_LABELS = {"WEBP": "WebP"}
EXPORT_FILTERS = {
    name.lower(): f"{FORMAT_LABELS.get(name, name)} ("
    + " ".join(f"*{extension}" for extension in FORMAT_EXTENSIONS[name])
    + ")"
    for name in WRITE_FORMATS
}


@dataclass(frozen=True)
class _ModelRequest:
    """A model the user chose, and whether it brings weights of their own (which start at
    their own noise reduction)."""

    choice: ModelChoice
    weights_picked: bool


class MainWindow(QMainWindow):
    """Open, compare, tune, export; all model work in the one worker thread."""

    # Emitted in the GUI thread after the window has handled the worker's signal (the worker's
    # own signals reach plain Python callables in the worker thread; wait for these instead).
    #: a kind, after its result is on screen (tests and --screenshot)
    shown = Signal(str)
    #: a kind and the message shown for its failure
    failed = Signal(str, str)
    #: a kind whose request was cancelled
    cancelled = Signal(str)
    #: a model load ended, loaded (its controls set) or failed; another may be on its way
    model_load_ended = Signal()

    def __init__(
        self,
        settings: Settings,
        enhancer_loader: EnhancerLoader = load_enhancer,
        settings_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Glare Studio")
        self.setAcceptDrops(True)
        self.settings = settings
        self._settings_file = settings_file
        self._enhancer_loader = enhancer_loader
        self.session = Session()
        self.worker = Worker(self)
        self.enhancer: Enhancer | None = None
        self.photo: OpenedPhoto | None = None
        self.last_error: str | None = None
        self.error_box: QMessageBox | None = None
        self._shown_generation = 0
        self._open_generation = 0
        self._model_generation = 0
        self._long_running: tuple[str, int] | None = None
        #: the running request the user cancelled, as (kind, generation), till it ends
        self._user_cancelled: tuple[str, int] | None = None
        self._dropped_exports = 0
        self._opened_note = ""  # for the status bar once the photo being opened is open
        #: the models the user chose, by load generation: each is saved as the one to load
        #: next time once it loads (one that fails would fail again at every start)
        self._model_requests: dict[int, _ModelRequest] = {}
        self._loaded_model_generation = 0  # the latest load that has ended
        #: set as the window closes: only the exports' news is heard from then on
        self._closing = False
        self._unwritten_exports: list[str] = []  # why each export that failed then failed
        # each export's file by generation, for a failure told after the window has closed
        # (its message may name only the folder); forgotten once the queue has passed it
        self._export_files: dict[int, Path] = {}
        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self._connect_worker()
        self.controls.set_controls(settings.controls)
        self._restore_geometry()

    # -- construction -----------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.compare = CompareView()
        self.controls = ControlsPanel()
        self.controls.dragged.connect(self.preview_drag)
        self.controls.settled.connect(self.render_settled)
        panel = QWidget()
        panel.setFixedWidth(PANEL_WIDTH)
        column = QVBoxLayout(panel)
        column.addWidget(self._group("Enhancement", self.controls))
        column.addWidget(self._group("Compare", self._compare_box()))
        column.addWidget(self._group("Variants", self._variants_box()))
        column.addStretch(1)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.compare, 1)
        row.addWidget(panel)
        self.setCentralWidget(central)

    @staticmethod
    def _group(title: str, content: QWidget) -> QGroupBox:
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        layout.addWidget(content)
        return box

    def _compare_box(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.mode_buttons = QButtonGroup(box)
        for mode in CompareMode:
            button = QRadioButton(mode.value.capitalize())
            button.setChecked(mode is self.compare.mode)
            button.toggled.connect(lambda on, chosen=mode: on and self.compare.set_mode(chosen))
            self.mode_buttons.addButton(button)
            layout.addWidget(button)
        self.hold_original = QPushButton("Hold to see the original")
        self.hold_original.pressed.connect(lambda: self.compare.set_showing_original(True))
        self.hold_original.released.connect(lambda: self.compare.set_showing_original(False))
        layout.addWidget(self.hold_original)
        return box

    def _variants_box(self) -> QWidget:
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.variant_count = QSpinBox()
        self.variant_count.setRange(MIN_VARIANTS, MAX_VARIANTS)
        self.variant_count.setValue(DEFAULT_VARIANTS)
        self.variant_count.setAccessibleName("Number of variants")
        self.variant_count.setToolTip("Number of variants to render side by side")
        self.variant_axis = QComboBox()
        self.variant_axis.addItems([axis.value for axis in VariantAxis])
        self.variant_axis.setAccessibleName("Variants differ in")
        self.variant_axis.setToolTip("What the variants differ in: the seed or the temperature")
        render = QPushButton("Render…")
        render.clicked.connect(self.render_variants)
        layout.addWidget(self.variant_count)
        layout.addWidget(self.variant_axis, 1)
        layout.addWidget(render)
        return box

    def _action(
        self, menu: QMenu, text: str, slot: Callable[[], object], shortcut: object = None
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open…", self.choose_photo, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._action(
            file_menu, "&Export result…", self.choose_export, QKeySequence.StandardKey.Save
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Batch…", self.open_batch, "Ctrl+B")
        self._action(file_menu, "Load &weights…", self.choose_weights)
        self._action(file_menu, "Use the b&undled model", self.use_bundled_weights)
        self._action(file_menu, "&Settings…", self.open_settings, "Ctrl+,")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = bar.addMenu("&View")
        self._action(view_menu, "Zoom to &fit", self.compare.fit, "Ctrl+0")
        self._action(view_menu, "&100%", self.compare.show_actual_pixels, "Ctrl+1")
        self._action(
            view_menu, "Zoom &in", lambda: self._zoom_by(2.0), QKeySequence.StandardKey.ZoomIn
        )
        self._action(
            view_menu, "Zoom &out", lambda: self._zoom_by(0.5), QKeySequence.StandardKey.ZoomOut
        )
        enhance_menu = bar.addMenu("&Enhance")
        self._action(enhance_menu, "&New seed", self.controls.roll_seed, "Ctrl+R")
        self._action(enhance_menu, "Render &variants…", self.render_variants)
        self._action(enhance_menu, "&Cancel", self.cancel_work, "Esc")

    def _zoom_by(self, factor: float) -> None:
        self.compare.set_zoom(self.compare.zoom() * factor)

    def _build_status_bar(self) -> None:
        status = MessageStatusBar()
        self.setStatusBar(status)
        self.file_label, self.size_label = QLabel("No photo"), QLabel()
        self.device_label, self.time_label = QLabel(MODEL_LOADING_LABEL), QLabel()
        self.progress = FractionBar()
        self.progress.setMaximumWidth(PROGRESS_BAR_WIDTH)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_work)
        for widget in (self.file_label, self.size_label, self.device_label, self.time_label):
            status.addPermanentWidget(widget)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        self._set_busy(False)

    def _connect_worker(self) -> None:
        runner = self.worker.runner
        runner.started.connect(self._on_started)
        runner.progress.connect(self._on_progress)
        runner.result.connect(self._on_result)
        runner.error.connect(self._on_error)
        runner.cancelled.connect(self._on_cancelled)
        runner.finished.connect(self._on_finished)

    def _restore_geometry(self) -> None:
        saved = QByteArray.fromBase64(self.settings.geometry.encode("ascii"))
        # Qt refuses a geometry saved on a screen of another size, or damaged, and leaves the
        # window at its smallest: then it opens as on a first run
        if not (self.settings.geometry and self.restoreGeometry(saved)):
            # on a small screen, what fits of it: no window manager shrinks it everywhere
            room = self.screen().availableGeometry().size() * FIRST_WINDOW_SHARE
            self.resize(DEFAULT_WINDOW.boundedTo(room))

    # -- submitting work --------------------------------------------------------------
    def _submit(self, kind: str, job: Callable[[ProgressFn, CancelToken], object]) -> int:
        return self.worker.submit(kind, job, KIND_RULES[kind])

    def _update_view_size(self) -> None:
        ratio = self.compare.devicePixelRatioF()
        size = self.compare.size()
        self.session.view_size = (round(size.width() * ratio), round(size.height() * ratio))

    def load_model(self, choice: ModelChoice | None = None) -> int:
        choice = choice or self.settings.model_choice
        session, loader = self.session, self._enhancer_loader

        def job(progress: ProgressFn, cancel: CancelToken) -> Enhancer:
            progress(0.0, "loading the model")
            try:
                enhancer = loader(choice)
            except DeviceError as exc:  # the settings' device, not the weights, is at fault
                raise DeviceError(f"{exc}{DEVICE_HINT}") from exc
            session.set_enhancer(enhancer)
            return enhancer

        self._model_generation = self._submit(MODEL, job)
        self._show_device()
        return self._model_generation

    def open_photo(self, path: str | Path, *, note: str = "") -> int:
        """Open a photo in the background; its first preview follows, and ``note`` in the
        status bar once it is open."""
        self._opened_note = note
        self._update_view_size()
        session, controls = self.session, self.controls.controls()

        def job(progress: ProgressFn, cancel: CancelToken) -> OpenedPhoto:
            return session.open(path, controls, progress=progress, cancel=cancel)

        self.statusBar().showMessage(f"Opening {Path(path).name}…", STATUS_MESSAGE_MS)
        self._open_generation = self._submit(OPEN, job)
        return self._open_generation

    def open_initial(self, paths: Sequence[str | Path]) -> None:
        """The first photo from the command line (the status bar says the others were not
        opened), else the bundled sample (if present)."""
        if paths:
            self.open_photo(paths[0], note=_others_not_opened(len(paths) - 1))
        elif sample_photo_path().is_file():
            self.open_photo(sample_photo_path())

    def _render_job(self, kind: str, controls: Controls) -> int:
        session = self.session

        def job(progress: ProgressFn, cancel: CancelToken) -> tuple[np.ndarray, float]:
            started = time.perf_counter()
            if kind == DRAG:
                rgb = session.drag_preview(controls, cancel=cancel)
            elif kind == SCREEN:
                rgb = session.screen_preview(controls, progress=progress, cancel=cancel)
            else:
                rgb = session.full_result(controls, progress=progress, cancel=cancel)
            return session.to_screen(rgb), time.perf_counter() - started

        return self._submit(kind, job)

    def _ready(self) -> bool:
        return self._not_ready_reason() is None

    def _not_ready_reason(self) -> str | None:
        """Why no result can be made now, as the end of a sentence; None when one can."""
        if self.photo is None:
            return "open a photo first"
        if self.enhancer is None:
            return "no model is loaded (File > Load weights… or Use the bundled model)"
        return None

    def preview_drag(self, controls: Controls) -> None:
        if self._ready():
            self._render_job(DRAG, controls)

    def render_settled(self, controls: Controls) -> None:
        """After a slider is released: the screen-size preview, then full resolution."""
        self.settings.remember_controls(controls)
        if self._ready():
            self._update_view_size()
            self._render_job(SCREEN, controls)
            self._render_job(FULL, controls)

    def render_variants(self) -> None:
        if reason := self._not_ready_reason():
            self._show_error(f"No variants yet: {reason}.")
            return
        session, controls = self.session, self.controls.controls()
        axis = VariantAxis(self.variant_axis.currentText())
        count = self.variant_count.value()

        def job(progress: ProgressFn, cancel: CancelToken) -> list[tuple[Controls, np.ndarray]]:
            rendered = []
            progress(0.0, f"variant 1/{count}")
            for chosen, rgb in session.variants(controls, axis, count, cancel=cancel):
                rendered.append((chosen, session.to_screen(rgb)))
                progress(len(rendered) / count, f"variant {min(len(rendered) + 1, count)}/{count}")
            return rendered

        self._submit(VARIANTS, job)

    def cancel_work(self) -> None:
        cancellation = self.worker.cancel(CANCELLABLE)
        # the request the worker runs now, which may have started since the window last
        # heard (Esc as a render ends stops the export behind it); a model load cannot be
        # cancelled
        running = cancellation.running
        if running is not None:
            self._user_cancelled = (running.kind, running.generation)
        # exports queued behind the running work never start: the status bar names them
        self._dropped_exports += cancellation.dropped.count(SAVE)
        if self._dropped_exports and self._user_cancelled is None:
            self._show_cancelled([])

    # -- user actions -----------------------------------------------------------------
    def choose_photo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a photo", self.settings.last_open_dir, PHOTO_FILTER
        )
        if path:
            self.settings.last_open_dir = str(Path(path).parent)
            self.open_photo(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for entry in self.settings.recent_files:
            self._action(self.recent_menu, entry, lambda chosen=entry: self.open_photo(chosen))
        if not self.settings.recent_files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def suggested_export_path(self) -> Path:
        source = self.photo.path if self.photo and self.photo.path else Path("photo.png")
        chosen = self.settings.default_format
        requested = None if chosen == SAME_FORMAT else normalize_format(chosen)
        folder = Path(self.settings.last_save_dir or source.parent)
        return folder / result_name(source, DEFAULT_SUFFIX, requested)

    def choose_export(self) -> None:
        if reason := self._not_ready_reason():
            self._show_error(f"Nothing to export yet: {reason}.")
            return
        suggested = self.suggested_export_path()
        path, chosen_filter = QFileDialog.getSaveFileName(
            self,
            "Export the result",
            str(suggested),
            ";;".join(EXPORT_FILTERS.values()),
            EXPORT_FILTERS.get((format_from_extension(suggested) or "").lower(), ""),
        )
        if path and format_from_extension(path) is None:  # Qt's dialog returns a name as typed
            path = self._named_by_filter(Path(path), chosen_filter)
        if not path:
            return
        replace_source = self._is_shown_photo(path)
        if replace_source and not self._confirm_overwrite_original(Path(path)):
            return
        self.export(path, replace_source=replace_source)

    def _named_by_filter(self, path: Path, chosen_filter: str) -> str | None:
        """``path`` with the extension of the file type chosen in the dialog; None when that
        names an existing file the user would rather keep (the dialog asked about the name
        without it)."""
        chosen = next(
            (name for name, text in EXPORT_FILTERS.items() if text == chosen_filter), None
        )
        if chosen is None:
            return str(path)  # the write names the missing extension
        named = path.with_name(path.name + extension_for(normalize_format(chosen)))
        if named.exists() and not self._is_shown_photo(named):
            answer = QMessageBox.question(
                self,
                "Replace the file?",
                f"{named.name} already exists. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        return str(named)

    def _confirm_overwrite_original(self, path: Path) -> bool:
        answer = QMessageBox.warning(
            self,
            "Overwrite the original?",
            f"{path.name} is the original photo. Replace it with the enhanced result?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    @property
    def _shown_file(self) -> Path | None:
        """The file of the photo on screen (the session may have left it for one opening)."""
        return self.photo.path if self.photo is not None else None

    def _is_shown_photo(self, path: str | Path) -> bool:
        return is_photo_file(path, self._shown_file)

    def export(self, path: str | Path, *, replace_source: bool = False) -> int:
        """Write the full-resolution result of the photo on screen, for the current controls,
        in the background."""
        session, controls = self.session, self.controls.controls()
        quality = self.settings.jpeg_quality
        shown = self._shown_file

        def job(progress: ProgressFn, cancel: CancelToken) -> Exported:
            return session.save(
                path,
                controls,
                quality=quality,
                replace_source=replace_source,
                shown_photo=shown,
                progress=progress,
                cancel=cancel,
            )

        generation = self._submit(SAVE, job)
        self._export_files[generation] = Path(path)
        return generation

    def choose_weights(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Load GLARE weights", "", WEIGHTS_FILTER)
        if paths:
            self.load_weights([Path(p) for p in paths])

    def load_weights(self, paths: list[Path]) -> int:
        configs = [p for p in paths if p.suffix.lower() in OFFICIAL_CONFIG_SUFFIXES]
        weights = [str(p) for p in paths if p.suffix.lower() not in OFFICIAL_CONFIG_SUFFIXES]
        if len(configs) > 1 or not weights:
            self._show_error("Choose one or more weight files and at most one .yml config.")
            return 0
        config = str(configs[0]) if configs else None
        base = self._chosen_model()
        choice = ModelChoice(tuple(weights), config, base.device, base.threads, base.tile_size)
        return self._load_chosen_model(choice, weights_picked=True)

    def use_bundled_weights(self) -> int:
        """Back to the bundled model after other weights were loaded (and remembered)."""
        base = self._chosen_model()
        choice = ModelChoice((), None, base.device, base.threads, base.tile_size)
        return self._load_chosen_model(choice, weights_picked=True)

    def _load_chosen_model(self, choice: ModelChoice, weights_picked: bool) -> int:
        loading = self._model_requests.get(self._model_generation)
        if loading is not None and (loading.choice.weights, loading.choice.config) == (
            choice.weights,
            choice.config,
        ):  # the same weights in new settings: picked all the same
            weights_picked = weights_picked or loading.weights_picked
        generation = self.load_model(choice)
        self._model_requests[generation] = _ModelRequest(choice, weights_picked)
        return generation

    def model_loading(self) -> bool:
        """Whether a model load is on its way (the one in use, if any, is about to go)."""
        return self._loaded_model_generation != self._model_generation

    def _chosen_model(self) -> ModelChoice:
        """The model the user chose last: the one loading, else the saved one."""
        request = self._model_requests.get(self._model_generation)
        return request.choice if request is not None else self.settings.model_choice

    def _model_load_ended(self, generation: int) -> _ModelRequest | None:
        """The request of the load ``generation``, which ended (None: the model of the
        settings, loaded at start)."""
        request = self._model_requests.pop(generation, None)
        if generation == self._model_generation:
            self._loaded_model_generation = generation
            self._model_requests.clear()  # earlier loads superseded before they ran
        return request

    def open_settings(self) -> None:
        # it starts from the model chosen last, which may still be loading (weights picked a
        # moment ago were dropped by an OK here)
        shown = self._chosen_model()
        dialog = SettingsDialog(self.settings, shown, self)
        if dialog.exec():
            dialog.apply_export_defaults(self.settings)
            # the model's own settings are saved once a model loads with them (a device
            # that fails to load would fail again at every start); unchanged, none loads (a
            # load that failed while the dialog was open would fail again)
            wanted = dialog.chosen_model()
            if wanted != shown:
                self._load_chosen_model(wanted, weights_picked=False)

    def open_batch(self, input_folder: Path | None = None) -> BatchDialog:
        dialog = BatchDialog(
            self.worker, self._batch_model, self.controls.controls, self.settings, self
        )
        if input_folder is not None:
            dialog.input.edit.setText(str(input_folder))
        self.model_load_ended.connect(dialog.show_settings)
        # gone once closed: each dialog listens to the worker and to model loads
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setModal(True)
        dialog.show()
        return dialog

    def _batch_model(self) -> Enhancer | str:
        """The model a batch runs with, or why none can start now."""
        if self.model_loading():  # the batch would run on the model about to go
            return "The model is still loading: start the batch once it has loaded."
        return self.enhancer or "No model is loaded: use File > Load weights… first."

    # -- worker signals ---------------------------------------------------------------
    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        # the last render's time makes room for the progress: a new render is under way
        self.time_label.setVisible(not busy)
        self.progress.setValue(0)
        self.progress.setFormat(f"{text} %p%" if text else "%p%")

    def _on_started(self, kind: str, generation: int) -> None:
        if kind in LONG_KINDS:
            self._long_running = (kind, generation)
            self._set_busy(True, KIND_NAMES[kind])
            self.cancel_button.setEnabled(kind in CANCELLABLE)

    @property
    def running_kind(self) -> str | None:
        """The kind of the long request whose progress the status bar shows, if any."""
        return self._long_running[0] if self._long_running else None

    def _on_progress(self, kind: str, generation: int, fraction: float, stage: str) -> None:
        if self._long_running == (kind, generation):
            self.progress.set_fraction(fraction)
            self.progress.setFormat(f"{stage} %p%")

    def _on_finished(self, kind: str, generation: int) -> None:
        # the queue runs in order: the exports before this one have ended or were dropped
        self._export_files = {g: p for g, p in self._export_files.items() if g > generation}
        if self._long_running == (kind, generation):
            self._long_running = None
            self._set_busy(False)
        if self._user_cancelled == (kind, generation):
            # a cancel that came too late for this work (it ends as if none had come; a
            # cancelled one was reported just before): the exports it dropped are still news
            self._user_cancelled = None
            if self._dropped_exports:
                self._show_cancelled([])

    def _on_cancelled(self, kind: str, generation: int) -> None:
        if self._user_cancelled == (kind, generation):  # superseded work is not news
            self._user_cancelled = None
            self._show_cancelled([KIND_NAMES.get(kind, kind)])  # a batch names its own kind
        self.cancelled.emit(kind)

    def _show_cancelled(self, names: list[str]) -> None:
        """Say what the user's cancel stopped, with the exports it dropped unstarted."""
        parts = list(names)
        if self._dropped_exports:
            plural = "s" if self._dropped_exports > 1 else ""
            parts.append(f"{self._dropped_exports} waiting export{plural} (not written)")
            self._dropped_exports = 0
        self.statusBar().showMessage(f"Cancelled: {', '.join(parts)}", STATUS_MESSAGE_MS)

    def _on_error(self, kind: str, generation: int, message: str) -> None:
        if self._closing:
            if kind == SAVE:  # told once the window has closed (a box on it would go with it)
                self._unwritten_exports.append(f"{self._export_files[generation].name}: {message}")
            return
        if kind not in KIND_RULES:
            return  # a batch's failure is shown by its dialog
        if kind in (DRAG, SCREEN):
            self.statusBar().showMessage(f"Preview failed: {message}", STATUS_MESSAGE_MS)
            self.last_error = message
        else:
            self.statusBar().clearMessage()  # "Opening …" is over: the dialog says why
            # a device or thread count chosen in Settings is not the weights' fault
            request = self._model_requests.get(generation)
            picked = request is None or request.weights_picked  # None: the saved model's
            weights_may_fail = picked and not message.endswith(DEVICE_HINT)
            self._show_error(message, offer_weights=kind == MODEL and weights_may_fail)
        if kind == MODEL:
            self._model_load_ended(generation)  # never saved as the model to load next time
            self._show_device()  # the model in use, if any, stays loaded
            self.model_load_ended.emit()
        self._render_again_after(kind, generation)
        self.failed.emit(kind, message)

    def _render_again_after(self, kind: str, generation: int) -> None:
        """An open or a model load that failed had cancelled the renders of the photo still
        shown (KIND_RULES): it gets them again, unless a newer open or load is on its way,
        which renders anyway. (One the user cancelled leaves them cancelled, as asked.)"""
        latest = {OPEN: self._open_generation, MODEL: self._model_generation}
        if latest.get(kind) == generation and self._ready():
            self.render_settled(self.controls.controls())

    def _show_device(self) -> None:
        """The loaded model's device in the status bar, or that one is on its way (the
        model in use is about to go), or that none is loaded."""
        if self.model_loading():
            self.device_label.setText(MODEL_LOADING_LABEL)
        elif self.enhancer is None:
            self.device_label.setText("Model: none")
        else:
            self.device_label.setText(f"Device: {self.enhancer.device.type.upper()}")

    def _show_error(self, message: str, offer_weights: bool = False) -> None:
        """A non-blocking dialog; the app keeps working behind it."""
        self.last_error = message
        box = QMessageBox(QMessageBox.Icon.Warning, "Glare Studio", message, parent=self)
        box.addButton(QMessageBox.StandardButton.Close)
        if offer_weights:
            load = box.addButton("Load weights…", QMessageBox.ButtonRole.ActionRole)
            load.clicked.connect(self.choose_weights)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_box = box

    def _on_result(self, kind: str, generation: int, value: object) -> None:
        if self._closing and kind != SAVE:
            return  # a model that loads now is not the one saved, nor are its controls
        handlers = {
            MODEL: lambda enhancer: self._model_loaded(enhancer, generation),
            OPEN: self._photo_opened,
            VARIANTS: self._variants_ready,
            SAVE: self._saved,
        }
        if kind in handlers:
            handlers[kind](value)
        elif kind in (DRAG, SCREEN, FULL):
            self._show_render(kind, generation, value)
        # other kinds (a batch) belong to the dialog that submitted them

    def _model_loaded(self, enhancer: Enhancer, generation: int) -> None:
        self.enhancer = enhancer  # the session's now (a load sets it as it ends)
        # the model in use, saved and set up as such even if a later choice is on its way
        # (that one may fail)
        request = self._model_load_ended(generation)
        self._show_device()
        if self.statusBar().currentMessage().startswith(NO_MODEL_MESSAGE):
            self.statusBar().clearMessage()
        if request is not None:
            self.settings.remember_model(request.choice)
        if request is not None and request.weights_picked:
            # weights the user picked start at their own noise reduction (0 for the official
            # ones, whose results then match the official code's)
            chosen = replace(self.controls.controls(), noise_reduction=enhancer.noise_reduction)
            self.controls.set_controls(chosen)
        self.model_load_ended.emit()
        if self.model_loading():
            return  # the later choice renders once it has loaded (or failed to)
        if self.photo is not None:
            self.render_settled(self.controls.controls())
        self.shown.emit(MODEL)

    def _photo_opened(self, photo: OpenedPhoto) -> None:
        self.photo = photo
        width, height = photo.size
        name = photo.path.name if photo.path else "untitled"
        # a long name took the status bar's width, and its messages with it
        metrics = QFontMetrics(self.file_label.font())
        self.file_label.setText(metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, NAME_WIDTH))
        self.file_label.setToolTip(str(photo.path) if photo.path else name)
        self.time_label.clear()  # the last photo's render time
        self.size_label.setText(f"{width}×{height} px, {photo.bit_depth}-bit")
        self.compare.set_photo(pixmap_from_rgb8(photo.original), QSize(width, height))
        if photo.path is not None:
            self.settings.add_recent(photo.path)
        self._shown_generation = self._open_generation
        notes = [self._opened_note] if self._opened_note else []
        if photo.drag_preview is not None:
            self.compare.set_after(pixmap_from_rgb8(photo.drag_preview))
            self.render_settled(self.controls.controls())
            if photo.noisy_path:
                notes.insert(0, NOISY_PHOTO_MESSAGE)
            # replaces "Opening …", which is done
            self.statusBar().showMessage(" ".join(notes), STATUS_MESSAGE_MS)
        else:  # stays until a model loads
            self.statusBar().showMessage(" ".join([NO_MODEL_MESSAGE, *notes]))
        self.shown.emit(OPEN)

    def _show_render(self, kind: str, generation: int, value: tuple[np.ndarray, float]) -> None:
        if generation <= max(self._shown_generation, self._open_generation):
            return  # a newer picture is already on screen
        rgb, seconds = value
        self._shown_generation = generation
        self.compare.set_after(pixmap_from_rgb8(rgb))
        self.time_label.setText(f"{KIND_NAMES[kind]}: {seconds * 1000:.0f} ms")
        self.shown.emit(kind)

    def _variants_ready(self, variants: list[tuple[Controls, np.ndarray]]) -> None:
        dialog = VariantsDialog(variants, self)
        dialog.picked.connect(self._variant_picked)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.variants_dialog = dialog
        self.shown.emit(VARIANTS)

    def _variant_picked(self, controls: Controls) -> None:
        self.controls.set_controls(controls)
        self.render_settled(controls)

    def _saved(self, exported: Exported) -> None:
        self.settings.last_save_dir = str(exported.path.parent)  # a folder that took a file
        if exported.notes:  # metadata left out: kept on screen until the next message
            self.statusBar().showMessage(f"Saved {exported.path}; {'; '.join(exported.notes)}")
        else:
            self.statusBar().showMessage(f"Saved {exported.path}", STATUS_MESSAGE_MS)
        self.shown.emit(SAVE)

    # -- drag and drop, closing ---------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """One photo opens; a folder, where no photo came with it, goes to the batch dialog;
        of several items the first photo opens, and the status bar says the others did not."""
        dropped = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if not dropped:
            return
        event.acceptProposedAction()
        photos = [path for path in dropped if path.suffix.lower() in SUPPORTED_EXTENSIONS]
        folders = [path for path in dropped if path.is_dir()]
        if folders and not photos:
            self.open_batch(folders[0])
            return
        self.open_photo((photos or dropped)[0], note=_others_not_opened(len(dropped) - 1))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        QTimer.singleShot(0, self._update_view_size)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.settings.geometry = bytes(self.saveGeometry().toBase64()).decode("ascii")
        self.settings.remember_controls(self.controls.controls())
        self.hide()  # gone at once, while the exports the user asked for are still written
        self._closing = True
        self.worker.finish((SAVE,))
        # their results, queued for this window, before the settings are saved: the folder
        # of an export written as the window closed is the next one's
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
        save_settings(self.settings, self._settings_file)
        self.worker.stop()
        if self._unwritten_exports:  # the app quits once the user has read it
            QMessageBox.warning(None, "Glare Studio", _unwritten(self._unwritten_exports))
        super().closeEvent(event)


def _others_not_opened(others: int) -> str:
    """What the status bar says of the items given beside the photo that opens."""
    if not others:
        return ""
    plural = "s" if others > 1 else ""
    return (
        f"{others} other item{plural} not opened: one photo at a time (File > Batch… enhances "
        "a folder)."
    )


def _unwritten(reasons: list[str]) -> str:
    """What a window that closed as exports failed tells."""
    heading = "An export was" if len(reasons) == 1 else f"{len(reasons)} exports were"
    return f"{heading} not written as Glare Studio closed:\n" + "\n".join(reasons)
