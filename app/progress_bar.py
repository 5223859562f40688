"""A progress bar for the fractions of work done that the library reports."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QWidget

#: steps of the bar: finer than a pixel at any width it is shown at
FRACTION_STEPS = 1000


class FractionBar(QProgressBar):
    """A :class:`QProgressBar` that takes a fraction in [0, 1]."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0, FRACTION_STEPS)

    def set_fraction(self, fraction: float) -> None:
        self.setValue(round(fraction * FRACTION_STEPS))
