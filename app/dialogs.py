"""Small dialogs: the settings, and the picker of rendered variants."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.images import pixmap_from_rgb8
from app.settings import (
    AUTOMATIC_TILE_SIZE,
    DEVICES,
    EXPORT_FORMATS,
    MAX_THREADS,
    Settings,
)
from glare_core.engine import ATTENTION_TILE_SIZE, TilingConfig
from glare_core.limits import MAX_TILE_SIZE, MIN_TILE_SIZE, QUALITY_RANGE
from glare_core.session import Controls, ModelChoice

TILE_SIZE_STEP = 64
#: wide enough that a spin box shows "automatic" beside its arrows
SETTINGS_MIN_WIDTH = 380
VARIANT_COLUMNS = 2
VARIANT_ICON = QSize(360, 240)
#: the variants' pictures shrink to fit a small screen down to this share of their size; a
#: scroll bar shows the rest
MIN_VARIANT_SCALE = 0.5
#: share of the screen's free area a dialog may take (the rest: its frame and title bar)
SCREEN_SHARE = 0.9


def combo(values: tuple[str, ...], current: str) -> QComboBox:
    combo = QComboBox()
    combo.addItems(list(values))
    combo.setCurrentText(current)
    return combo


def _spin(low: int, high: int, value: int, special: str | None = None) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    if special:
        spin.setSpecialValueText(special)
    return spin


def _buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def quality_spin(value: int) -> QSpinBox:
    spin = _spin(*QUALITY_RANGE, value)
    spin.setToolTip("JPEG/WebP quality")
    return spin


class SettingsDialog(QDialog):
    """Device, threads, tile size and export defaults."""

    def __init__(
        self, settings: Settings, model: ModelChoice | None = None, parent: QWidget | None = None
    ) -> None:
        """``model``: the model whose device, threads and tile size the dialog starts from,
        the one the user chose last (which may still be loading); the saved one by default."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(SETTINGS_MIN_WIDTH)
        self._model = model or settings.model_choice
        self.device = combo(DEVICES, self._model.device)
        self.threads = _spin(0, MAX_THREADS, self._model.threads or 0, special="automatic")
        # one step below the smallest tile stands for "automatic", which Qt shows as text
        automatic = MIN_TILE_SIZE - TILE_SIZE_STEP
        self.tile_size = _spin(
            automatic, MAX_TILE_SIZE, self._model.tile_size or automatic, special="automatic"
        )
        self.tile_size.setSingleStep(TILE_SIZE_STEP)
        self.tile_size.setToolTip(
            "Largest piece processed at once; smaller uses less memory. Automatic: "
            f"{TilingConfig.tile_size} px, or {ATTENTION_TILE_SIZE} px for networks with attention"
        )
        self.default_format = combo(EXPORT_FORMATS, settings.default_format)
        self.quality = quality_spin(settings.jpeg_quality)
        form = QFormLayout(self)
        form.addRow("Device", self.device)
        form.addRow("CPU threads", self.threads)
        form.addRow("Tile size (px)", self.tile_size)
        form.addRow("Default export format", self.default_format)
        form.addRow("JPEG/WebP quality", self.quality)
        form.addRow(_buttons(self))

    def chosen_model(self) -> ModelChoice:
        """The model the dialog started from, on the device, threads and tile size set."""
        return dataclasses.replace(
            self._model,
            device=self.device.currentText(),
            threads=self.threads.value() or None,
            tile_size=self._chosen_tile_size() or None,
        )

    def apply_export_defaults(self, settings: Settings) -> None:
        """The export defaults set, into ``settings`` (the live ones, which work that ended
        while the dialog was open may have changed)."""
        settings.default_format = self.default_format.currentText()
        settings.jpeg_quality = self.quality.value()

    def _chosen_tile_size(self) -> int:
        """The tile size set, raised to the smallest one where a number below it was typed."""
        if self.tile_size.value() == self.tile_size.minimum():
            return AUTOMATIC_TILE_SIZE
        return max(self.tile_size.value(), MIN_TILE_SIZE)


def describe_controls(controls: Controls) -> str:
    text = f"strength {controls.strength:.2f}, T {controls.temperature:.2f}"
    text += f", seed {controls.seed}" if controls.temperature > 0 else ""
    text += f", noise reduction {controls.noise_reduction:g}"
    text += f", exposure {controls.exposure:+g} stops" if controls.exposure else ""
    return text + (f", photo colour {controls.photo_colour:g}" if controls.photo_colour else "")


class VariantsDialog(QDialog):
    """Preview-size results side by side; clicking one (or Enter or Space on it) picks its
    controls."""

    picked = Signal(object)  # Controls

    def __init__(
        self, variants: list[tuple[Controls, np.ndarray]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pick a variant")
        tiles = QWidget()
        grid = QGridLayout(tiles)
        self.buttons: list[QToolButton] = []
        for index, (controls, rgb) in enumerate(variants):
            button = QToolButton()
            button.setIcon(QIcon(pixmap_from_rgb8(rgb)))
            button.setText(describe_controls(controls))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.clicked.connect(lambda _=False, chosen=controls: self._pick(chosen))
            grid.addWidget(button, index // VARIANT_COLUMNS, index % VARIANT_COLUMNS)
            self.buttons.append(button)
        self.scroll = QScrollArea()
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes from variant to variant
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(tiles)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._fit_screen(tiles, math.ceil(len(variants) / VARIANT_COLUMNS))
        if self.buttons:
            self.buttons[0].setFocus()

    def _fit_screen(self, tiles: QWidget, rows: int) -> None:
        """Pictures as large as the screen's free area holds them, down to
        MIN_VARIANT_SCALE of their size, and the tiles scrolled beyond that."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        available = screen.availableGeometry().size() * SCREEN_SHARE
        self._set_icon_size(VARIANT_ICON)
        self.scroll.setMinimumSize(tiles.sizeHint())
        overflow = self.sizeHint() - available
        scale = min(
            1.0,
            1 - overflow.width() / (VARIANT_COLUMNS * VARIANT_ICON.width()),
            1 - overflow.height() / (rows * VARIANT_ICON.height()),
        )
        self._set_icon_size(VARIANT_ICON * max(scale, MIN_VARIANT_SCALE))
        room = available - (self.sizeHint() - self.scroll.minimumSize())  # less buttons, margins
        wanted = tiles.sizeHint()
        if wanted.height() > room.height():  # the vertical scroll bar takes room beside them
            wanted.setWidth(wanted.width() + self.scroll.verticalScrollBar().sizeHint().width())
        self.scroll.setMinimumSize(wanted.boundedTo(room))

    def _set_icon_size(self, size: QSize) -> None:
        for button in self.buttons:
            button.setIconSize(size)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        focused = self.focusWidget()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and focused in self.buttons:
            focused.click()
            return
        super().keyPressEvent(event)

    def _pick(self, controls: Controls) -> None:
        self.picked.emit(controls)
        self.accept()
