"""Small dialogs: the settings, and the picker of rendered variants."""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
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
from glare_core.session import Controls

TILE_SIZE_STEP = 64
#: wide enough that a spin box shows "automatic" beside its arrows
SETTINGS_MIN_WIDTH = 380
VARIANT_COLUMNS = 2
VARIANT_ICON = QSize(360, 240)


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

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(SETTINGS_MIN_WIDTH)
        self._settings = settings
        self.device = combo(DEVICES, settings.device)
        self.threads = _spin(0, MAX_THREADS, settings.threads, special="automatic")
        # one step below the smallest tile stands for "automatic", which Qt shows as text
        automatic = MIN_TILE_SIZE - TILE_SIZE_STEP
        shown = settings.tile_size if settings.tile_size != AUTOMATIC_TILE_SIZE else automatic
        self.tile_size = _spin(automatic, MAX_TILE_SIZE, shown, special="automatic")
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

    def updated(self) -> Settings:
        return dataclasses.replace(
            self._settings,
            device=self.device.currentText(),
            threads=self.threads.value(),
            tile_size=self._chosen_tile_size(),
            default_format=self.default_format.currentText(),
            jpeg_quality=self.quality.value(),
        )

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
    """Preview-size results side by side; clicking one picks its controls."""

    picked = Signal(object)  # Controls

    def __init__(
        self, variants: list[tuple[Controls, np.ndarray]], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pick a variant")
        grid = QGridLayout()
        self.buttons: list[QToolButton] = []
        for index, (controls, rgb) in enumerate(variants):
            button = QToolButton()
            button.setIcon(QIcon(pixmap_from_rgb8(rgb)))
            button.setIconSize(VARIANT_ICON)
            button.setText(describe_controls(controls))
            button.setToolButtonStyle(button.toolButtonStyle().ToolButtonTextUnderIcon)
            button.clicked.connect(lambda _=False, chosen=controls: self._pick(chosen))
            grid.addWidget(button, index // VARIANT_COLUMNS, index % VARIANT_COLUMNS)
            self.buttons.append(button)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _pick(self, controls: Controls) -> None:
        self.picked.emit(controls)
        self.accept()
