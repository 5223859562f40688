"""Strength, temperature, noise, exposure and photo colour sliders, seed field: emits drag
steps and settled values."""

from __future__ import annotations

import random

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)
from superqt import QLabeledDoubleSlider
from superqt.utils import qdebounced, qthrottled

from glare_core.denoise import MAX_NOISE_REDUCTION
from glare_core.exposure import MAX_EXPOSURE_STOPS
from glare_core.limits import (
    CONTROL_DECIMALS,
    MAX_SEED,
    MAX_STRENGTH,
    MAX_TEMPERATURE,
    MIN_STRENGTH,
)
from glare_core.photo_colour import MAX_PHOTO_COLOUR
from glare_core.session import Controls

#: at most one drag preview request per this many milliseconds while a slider moves
DRAG_THROTTLE_MS = 40
#: a typed or keyboard change settles after this quiet time
SETTLE_DEBOUNCE_MS = 300
#: Page Up / Page Down move a slider by this fraction of its range
KEY_PAGES = 10


def _slider(name: str, minimum: float, maximum: float, tooltip: str) -> QLabeledDoubleSlider:
    slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
    slider.setRange(minimum, maximum)
    slider.setDecimals(CONTROL_DECIMALS)
    slider.setSingleStep(10.0**-CONTROL_DECIMALS)  # one step of the shown value
    slider.setPageStep((maximum - minimum) / KEY_PAGES)
    slider.setToolTip(tooltip)
    slider.setAccessibleName(name)  # also the text of its row's label
    # one Tab stop, the bar, which shows its focus and takes the keys (the labelled slider
    # around it took focus too, showing none and ignoring keys)
    slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    keys = _SliderKeys(slider)
    for bar in slider.findChildren(QAbstractSlider):
        bar.installEventFilter(keys)
        _name_for_screen_readers(bar, name, tooltip, slider)
    for field in slider.findChildren(QAbstractSpinBox):
        field.setAccessibleName(f"{name} value")
    return slider


def _name_for_screen_readers(
    bar: QAbstractSlider, name: str, tooltip: str, slider: QLabeledDoubleSlider
) -> None:
    """The Tab stop is the bar inside the labelled slider: it carries the name, and its
    shown value as its description (its own value is an integer the screen reader would
    read: 0 to 99 whatever the slider shows)."""
    bar.setAccessibleName(name)
    bar.setToolTip(tooltip)

    def describe(value: float) -> None:
        bar.setAccessibleDescription(f"{value:.{CONTROL_DECIMALS}f}")

    slider.valueChanged.connect(describe)
    describe(slider.value())


class _SliderKeys(QObject):
    """Arrow keys, Page Up/Down, Home and End for a labelled slider: superqt's own key
    handling is still to be written, and the bar's moved an integer the slider ignores."""

    def __init__(self, slider: QLabeledDoubleSlider) -> None:
        super().__init__(slider)
        self._slider = slider

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        target = self._target(event.key())
        if target is None:
            return False
        self._slider.setValue(target)  # a change that is not a drag: it settles, then renders
        return True

    def _target(self, key: int) -> float | None:
        slider = self._slider
        steps = {
            Qt.Key.Key_Right: slider.singleStep(),
            Qt.Key.Key_Up: slider.singleStep(),
            Qt.Key.Key_Left: -slider.singleStep(),
            Qt.Key.Key_Down: -slider.singleStep(),
            Qt.Key.Key_PageUp: slider.pageStep(),
            Qt.Key.Key_PageDown: -slider.pageStep(),
        }
        if key in steps:
            return slider.value() + steps[key]
        return {Qt.Key.Key_Home: slider.minimum(), Qt.Key.Key_End: slider.maximum()}.get(key)


class ControlsPanel(QWidget):
    dragged = Signal(object)  # Controls, throttled while a slider moves
    settled = Signal(object)  # Controls, once a change is complete

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.strength = _slider(
            "Strength",
            MIN_STRENGTH,
            MAX_STRENGTH,
            "How much of the original's detail is mixed back in (1 = trained model, "
            "0 = most generated, 2 = most faithful to the photo)",
        )
        self.temperature = _slider(
            "Temperature",
            0.0,
            MAX_TEMPERATURE,
            "Sampling temperature of the flow: 0 = deterministic, higher = more varied",
        )
        self.noise_reduction = _slider(
            "Noise reduction",
            0.0,
            MAX_NOISE_REDUCTION,
            "Noise filter on the photo before enhancing: 0 = off, higher = smoother "
            "(removes the grain the model would otherwise lift into speckle; "
            "photos noisier than usual get proportionally more)",
        )
        self.exposure = _slider(
            "Exposure (stops)",
            -MAX_EXPOSURE_STOPS,
            MAX_EXPOSURE_STOPS,
            "Brightness of the result in stops: 0 = as the model chose it, -1 = half the "
            "light, +1 = twice the light (what passes white clips)",
        )
        self.photo_colour = _slider(
            "Photo colour",
            0.0,
            MAX_PHOTO_COLOUR,
            "Colour of the result: 0 = neutral, as the model chose it (colour casts removed), "
            "1 = the photo's own colour (warm lamplight and warm scenes stay warm, and so do "
            "casts)",
        )
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip("Noise seed (matters when temperature > 0)")
        self.seed.setAccessibleName("Seed")  # its row holds the button too: no label buddy
        # room for the largest seed's ten digits, which a squeezed row would cut off
        self.seed.setMinimumWidth(self.seed.sizeHint().width())
        self.new_seed = QPushButton("New seed")
        self._layout()
        self._throttled_drag = qthrottled(self._emit_dragged, timeout=DRAG_THROTTLE_MS, parent=self)
        self._debounced_settle = qdebounced(
            self._emit_settled, timeout=SETTLE_DEBOUNCE_MS, parent=self
        )
        for slider in self._live_sliders:
            slider.valueChanged.connect(self._slider_changed)
            slider.sliderReleased.connect(self._slider_released)
        # the noise filter re-encodes the photo (about 0.7 s at the drag size on 2 cores), too
        # slow to follow a drag, and grain is judged at screen size: it renders once let go
        self.noise_reduction.valueChanged.connect(self._noise_changed)
        self.noise_reduction.sliderReleased.connect(self._slider_released)
        for slider in (*self._live_sliders, self.noise_reduction):
            # a press on the track moves the value before the slider counts as held down: the
            # settle that change scheduled would render in the middle of the drag
            slider.sliderPressed.connect(self._debounced_settle.cancel)
        self.seed.valueChanged.connect(lambda _: self._debounced_settle())
        self.new_seed.clicked.connect(self.roll_seed)

    def _layout(self) -> None:
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.new_seed)
        form = QFormLayout(self)
        rows = (
            self.strength,
            self.temperature,
            (self.seed, seed_row),
            self.noise_reduction,
            self.exposure,
            self.photo_colour,
        )
        for row in rows:  # each labelled with its control's accessible name
            named, shown = row if isinstance(row, tuple) else (row, row)
            form.addRow(named.accessibleName(), shown)

    @property
    def _live_sliders(self) -> tuple[QLabeledDoubleSlider, ...]:
        """The sliders whose drags render as they move."""
        return (self.strength, self.temperature, self.exposure, self.photo_colour)

    def controls(self) -> Controls:
        return Controls(
            round(self.strength.value(), CONTROL_DECIMALS),
            round(self.temperature.value(), CONTROL_DECIMALS),
            self.seed.value(),
            round(self.noise_reduction.value(), CONTROL_DECIMALS),
            round(self.exposure.value(), CONTROL_DECIMALS),
            round(self.photo_colour.value(), CONTROL_DECIMALS),
        )

    def set_controls(self, controls: Controls) -> None:
        """Show ``controls`` without emitting anything."""
        for widget, value in (
            (self.strength, controls.strength),
            (self.temperature, controls.temperature),
            (self.seed, controls.seed),
            (self.noise_reduction, controls.noise_reduction),
            (self.exposure, controls.exposure),
            (self.photo_colour, controls.photo_colour),
        ):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    def roll_seed(self) -> None:
        self.seed.setValue(random.randint(0, MAX_SEED))

    def _dragging(self) -> bool:
        return any(slider.isSliderDown() for slider in self._live_sliders)

    def _slider_changed(self, _value: float) -> None:
        if self._dragging():
            self._throttled_drag()
        else:
            self._debounced_settle()

    def _noise_changed(self, _value: float) -> None:
        if not self.noise_reduction.isSliderDown():
            self._debounced_settle()

    def _slider_released(self) -> None:
        self._throttled_drag.cancel()
        self._debounced_settle.cancel()
        self._emit_settled()

    def _emit_dragged(self) -> None:
        self.dragged.emit(self.controls())

    def _emit_settled(self) -> None:
        self.settled.emit(self.controls())
