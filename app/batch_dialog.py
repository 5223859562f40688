"""Batch dialog: a folder in, a folder out, progress with ETA, failures listed, cancel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import combo, describe_controls, quality_spin
from app.progress_bar import FractionBar
from app.settings import EXPORT_FORMATS, SAME_FORMAT, Settings
from app.worker import Worker
from glare_core.batch import (
    DEFAULT_SUFFIX,
    BatchOptions,
    BatchProgress,
    BatchSummary,
    BatchUsageError,
    check_suffix,
)
from glare_core.engine import Enhancer
from glare_core.progress import CancelToken, ProgressFn
from glare_core.session import BatchRequest, Controls, run_batch_request

BATCH_KIND = "batch"
#: room for a folder path and the failures' reasons on one line each
DIALOG_MIN_WIDTH = 560
SECONDS_PER_MINUTE = 60


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    minutes, rest = divmod(round(seconds), SECONDS_PER_MINUTE)
    return f"{minutes}:{rest:02d} left"


def batch_progress_reporter(progress: ProgressFn) -> Callable[[BatchProgress], None]:
    """Turn the batch engine's detailed progress into the worker's (fraction, text)."""

    def on_progress(state: BatchProgress) -> None:
        done = (state.index + state.file_fraction) / max(1, state.total)
        position = f"{state.index + 1}/{state.total} {state.current.name}"
        progress(done, f"{position} — {format_eta(state.eta_seconds)}")

    return on_progress


class FolderField(QWidget):
    def __init__(self, value: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(value)
        self.edit.setAccessibleName(title)
        self._title = title
        # the form's label (and its mnemonic) gives the field the focus
        self.setFocusProxy(self.edit)
        browse = QPushButton("Browse…")
        browse.setAccessibleName(f"Browse for the {title.lower()}")
        # Enter in a field starts the batch rather than opening a folder browser
        browse.setAutoDefault(False)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self._title, self.edit.text())
        if folder:
            self.edit.setText(folder)

    def path(self) -> Path | None:
        """The chosen path; None while the field is empty (not the working folder)."""
        text = self.edit.text().strip()
        return Path(text) if text else None


class BatchDialog(QDialog):
    """Runs the CLI's batch engine in the app's worker thread with the current controls."""

    #: emitted in the GUI thread once a batch has ended and the dialog shows its outcome
    batch_finished = Signal()

    def __init__(
        self,
        worker: Worker,
        model: Callable[[], Enhancer | str],
        controls: Callable[[], Controls],
        settings: Settings,
        parent: QWidget | None = None,
    ) -> None:
        """``model``: the model a batch started now runs with, or why none can start;
        ``controls``: the window's controls, read as a batch starts (a model that loaded
        since the dialog opened may have set its own noise reduction)."""
        super().__init__(parent)
        self.setWindowTitle("Batch enhance")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        self._worker = worker
        self._model = model
        self._controls = controls
        self._settings = settings
        self._generation: int | None = None
        self.summary: BatchSummary | None = None
        self._build(settings)
        runner = worker.runner
        runner.progress.connect(self._on_progress)
        runner.result.connect(self._on_result)
        runner.error.connect(self._on_error)
        runner.cancelled.connect(self._on_cancelled)
        runner.finished.connect(self._on_finished)

    def _build(self, settings: Settings) -> None:
        self.input = FolderField(settings.last_batch_input, "Input folder")
        self.recursive = QCheckBox("Include subfolders")
        self.recursive.setChecked(True)
        self.output = FolderField(settings.last_batch_output, "Output folder")
        self.format = combo(EXPORT_FORMATS, settings.default_format)
        self.quality = quality_spin(settings.jpeg_quality)
        self.suffix = QLineEdit(settings.batch_suffix)
        self.suffix.setToolTip(
            f"Added to each result's name: photo.jpg becomes photo{DEFAULT_SUFFIX}.jpg"
        )
        self.existing = QComboBox()
        self.existing.addItems(["skip", "overwrite"])
        form = QFormLayout()
        form.addRow("Input folder", self.input)
        form.addRow("", self.recursive)
        form.addRow("Output folder", self.output)
        form.addRow("Name suffix", self.suffix)
        form.addRow("Format", self.format)
        form.addRow("JPEG/WebP quality", self.quality)
        form.addRow("Existing outputs", self.existing)
        self.progress = FractionBar()
        self.status = QLabel()
        self._status_provisional = True
        self.show_settings()
        self.status.setWordWrap(True)
        self.failures = QListWidget()
        self.failures.setWordWrap(True)  # reasons and notes run longer than the dialog
        self.start = QPushButton("Start")
        self.cancel = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        self.cancel.setEnabled(False)
        self.start.setDefault(True)
        self.start.clicked.connect(self.start_batch)
        self.cancel.clicked.connect(self.cancel_batch)
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start, self.cancel, self.close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("Failures and photos passed over:"))
        layout.addWidget(self.failures)
        layout.addLayout(buttons)

    def options(self) -> BatchOptions:
        chosen = self.format.currentText()
        return BatchOptions(
            format=None if chosen == SAME_FORMAT else chosen,
            quality=self.quality.value(),
            overwrite=self.existing.currentText() == "overwrite",
            recursive=self.recursive.isChecked(),
            suffix=self.suffix.text(),
        )

    def start_batch(self) -> None:
        enhancer = self._model()
        if isinstance(enhancer, str):
            self._say(enhancer, provisional=True)  # till the model loads
            return
        source, output = self.input.path(), self.output.path()
        if source is None or output is None:
            self._say(f"Choose the {'input' if source is None else 'output'} folder.")
            return
        try:
            check_suffix(self.suffix.text())  # before it is remembered for the next batch
        except BatchUsageError as error:
            self._say(str(error))
            return
        request = BatchRequest((source,), output, self.options(), self._controls())
        self._settings.last_batch_input = str(request.inputs[0])
        self._settings.last_batch_output = str(request.output)
        self._settings.batch_suffix = request.options.suffix

        def job(progress: ProgressFn, cancel: CancelToken) -> BatchSummary:
            reporter = batch_progress_reporter(progress)
            return run_batch_request(enhancer, request, progress=reporter, cancel=cancel)

        self.failures.clear()
        self.summary = None
        self.progress.setValue(0)
        self._say("Starting…")
        self._set_running(True)
        self._generation = self._worker.submit(BATCH_KIND, job)

    def cancel_batch(self) -> None:
        if BATCH_KIND not in self._worker.cancel([BATCH_KIND]).dropped:
            self._say("Cancelling…")
            return
        # it waited behind a render or an export and never started: no signal will follow
        self._say("Batch cancelled before it started.")
        self._generation = None
        self._set_running(False)
        self.batch_finished.emit()

    @Slot()
    def show_settings(self) -> None:
        """The controls a batch started now runs at, in place of the line that said them or
        of a refusal to start while a model loaded (a model that loads while the dialog is
        open sets its own noise reduction); never in place of other news."""
        if self._status_provisional:
            self._say("Settings: " + describe_controls(self._controls()), provisional=True)

    def _say(self, text: str, *, provisional: bool = False) -> None:
        self.status.setText(text)
        self._status_provisional = provisional

    def running(self) -> bool:
        return self._generation is not None

    def _set_running(self, running: bool) -> None:
        self.start.setEnabled(not running)
        self.cancel.setEnabled(running)
        self.close_button.setEnabled(not running)

    def _mine(self, kind: str, generation: int) -> bool:
        return kind == BATCH_KIND and generation == self._generation

    def _on_progress(self, kind: str, generation: int, fraction: float, text: str) -> None:
        if self._mine(kind, generation):
            self.progress.set_fraction(fraction)
            # cut in the middle, the photo's name, to the line's width: a long name is a word
            # the label cannot wrap, and ran off the dialog's edge with the time left
            width = self.status.contentsRect().width()
            elided = self.status.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, width)
            self._say(elided)

    def _on_result(self, kind: str, generation: int, summary: BatchSummary) -> None:
        if not self._mine(kind, generation):
            return
        self.summary = summary
        for path, reason in summary.failed:
            self.failures.addItem(f"{path.name}: {reason}")
        self.failures.addItems(summary.notes)
        if not summary.cancelled:
            self.progress.set_fraction(1.0)
        self._say(("Cancelled: " if summary.cancelled else "Finished: ") + summary.counts())

    def _on_error(self, kind: str, generation: int, message: str) -> None:
        if self._mine(kind, generation):
            self._say(f"Batch failed: {message}")

    def _on_cancelled(self, kind: str, generation: int) -> None:
        if self._mine(kind, generation):
            self._say("Batch cancelled.")

    def _on_finished(self, kind: str, generation: int) -> None:
        if self._mine(kind, generation):
            self._generation = None
            self._set_running(False)
            self.batch_finished.emit()

    def reject(self) -> None:
        """Esc or the window's close: a running batch is cancelled first (closing mid-batch
        would orphan it), and the dialog stays to show what was done."""
        if self.running():
            self.cancel_batch()
            return
        super().reject()
