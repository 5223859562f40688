"""Before/after view: split with a draggable divider, hold-to-compare, side by side.

Both pictures are drawn in the coordinates of the full-resolution photo, whatever
size each pixmap has (a drag preview, a screen preview or the full result), so one
zoom and one pan apply to both and they always line up.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

BACKGROUND = QColor(32, 32, 36)
DIVIDER_COLOR = QColor(255, 255, 255, 220)
LABEL_COLOR = QColor(255, 255, 255, 200)
LABEL_SHADOW = QColor(0, 0, 0, 160)
DIVIDER_GRAB_PIXELS = 8
HANDLE_RADIUS = 9
LABEL_MARGIN = 10
WHEEL_STEP = 1.25
WHEEL_UNIT = 120  # angleDelta of one wheel notch
MIN_ZOOM, MAX_ZOOM = 0.02, 16.0
SIDE_GAP = 4
#: the smallest view that still shows a picture and its labels
MIN_VIEW_SIZE = QSize(200, 150)
#: an arrow key pans a zoomed photo by this share of the view
KEY_PAN_SHARE = 0.1
#: Shift+Left/Right move the split divider by this share of the width
KEY_DIVIDER_STEP = 0.1
#: the way each arrow key moves the pictures, and the divider
_PAN_KEYS = {
    Qt.Key.Key_Left: QPointF(1, 0),
    Qt.Key.Key_Right: QPointF(-1, 0),
    Qt.Key.Key_Up: QPointF(0, 1),
    Qt.Key.Key_Down: QPointF(0, -1),
}
_DIVIDER_KEYS = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}
FOCUS_FRAME_WIDTH = 2


class CompareMode(StrEnum):
    SPLIT = "split"
    TOGGLE = "toggle"
    SIDE_BY_SIDE = "side by side"


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setMinimumSize(MIN_VIEW_SIZE)
        # Tab or a click gives it the keys: arrows pan, Shift+Left/Right move the divider
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Before and after")
        self.setAccessibleDescription(
            "Arrow keys pan a zoomed photo; Shift+Left and Shift+Right move the split divider"
        )
        self._before: QPixmap | None = None
        self._after: QPixmap | None = None
        self._photo_size = QSize()
        self.mode = CompareMode.SPLIT
        self._split = 0.5
        self._zoom: float | None = None  # None: fit
        self._center = QPointF()
        self._showing_original = False
        self._dragging_divider = False
        self._pan_from: QPointF | None = None
        self.placeholder = "Open a photo (Ctrl+O) or drop one here"

    # -- content ----------------------------------------------------------------------
    def set_photo(self, before: QPixmap, size: QSize) -> None:
        """A new photo: shows ``before`` until a result arrives; resets zoom to fit."""
        self._before, self._after = before, None
        self._photo_size = size
        self.fit()

    def set_after(self, after: QPixmap | None) -> None:
        self._after = after
        self.update()

    @property
    def after(self) -> QPixmap | None:
        return self._after

    def set_mode(self, mode: CompareMode) -> None:
        self.mode = mode
        self.update()

    def set_split(self, fraction: float) -> None:
        self._split = min(max(fraction, 0.0), 1.0)
        self.update()

    @property
    def split(self) -> float:
        return self._split

    def set_showing_original(self, showing: bool) -> None:
        self._showing_original = showing
        self.update()

    # -- zoom and pan -----------------------------------------------------------------
    def fit(self) -> None:
        self._zoom = None
        self._center = QPointF(self._photo_size.width() / 2, self._photo_size.height() / 2)
        self._zoom_changed()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` keeping the photo point under ``anchor`` (view coords) still."""
        viewport = self._viewports()[0]
        anchor = anchor if anchor is not None else viewport.center()
        before = self._to_photo(anchor, viewport)
        self._zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        after = self._to_photo(anchor, viewport)
        self._center += before - after
        self._zoom_changed()

    def show_actual_pixels(self) -> None:
        """100%: one photo pixel on each of the screen's device pixels (on a high-DPI screen a
        zoom of 1 would draw each photo pixel on several)."""
        self.set_zoom(1.0 / self.devicePixelRatioF())

    def zoom(self) -> float:
        if self._zoom is not None:
            return self._zoom
        viewport = self._viewports()[0]
        if self._photo_size.isEmpty():
            return 1.0
        return min(
            viewport.width() / self._photo_size.width(),
            viewport.height() / self._photo_size.height(),
        )

    def _zoom_changed(self) -> None:
        self.update()

    def _viewports(self) -> list[QRectF]:
        full = QRectF(self.rect())
        if self.mode is not CompareMode.SIDE_BY_SIDE:
            return [full]
        half = (full.width() - SIDE_GAP) / 2
        return [
            QRectF(full.left(), full.top(), half, full.height()),
            QRectF(full.left() + half + SIDE_GAP, full.top(), half, full.height()),
        ]

    def _photo_rect(self, viewport: QRectF) -> QRectF:
        scale = self.zoom()
        top_left = viewport.center() - self._center * scale
        return QRectF(
            top_left.x(),
            top_left.y(),
            self._photo_size.width() * scale,
            self._photo_size.height() * scale,
        )

    def _to_photo(self, point: QPointF, viewport: QRectF) -> QPointF:
        return (point - viewport.center()) / self.zoom() + self._center

    # -- painting ---------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self._paint_pictures(painter)
        if self.hasFocus():  # the keys reach the view: say so, as other widgets do
            pen = QPen(self.palette().highlight().color(), FOCUS_FRAME_WIDTH)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            inset = FOCUS_FRAME_WIDTH / 2
            painter.drawRect(QRectF(self.rect()).adjusted(inset, inset, -inset, -inset))

    def _paint_pictures(self, painter: QPainter) -> None:
        if self._before is None:
            painter.setPen(LABEL_COLOR)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        after = self._after if self._after is not None else self._before
        if self.mode is CompareMode.TOGGLE:
            self._paint_toggle(painter, after)
            return
        # held (the window's "hold to see the original" button): the original where the
        # result would be, so the whole view shows it in every mode
        held = self._showing_original
        after, after_label = (self._before, "Before") if held else (after, "After")
        if self.mode is CompareMode.SIDE_BY_SIDE:
            self._paint_side_by_side(painter, after, after_label)
        else:
            self._paint_split(painter, after, after_label)

    def _draw(
        self, painter: QPainter, pixmap: QPixmap, viewport: QRectF, clip: QRectF | None = None
    ) -> None:
        """Draw ``pixmap`` where the photo lies in ``viewport``, only inside ``clip``."""
        painter.save()
        painter.setClipRect(clip if clip is not None else viewport)
        painter.drawPixmap(self._photo_rect(viewport), pixmap, QRectF(pixmap.rect()))
        painter.restore()

    def _label(self, painter: QPainter, text: str, viewport: QRectF, right: bool) -> None:
        align = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
        box = viewport.adjusted(LABEL_MARGIN, LABEL_MARGIN, -LABEL_MARGIN, -LABEL_MARGIN)
        flags = align | Qt.AlignmentFlag.AlignTop
        painter.setPen(LABEL_SHADOW)
        painter.drawText(box.translated(1, 1), flags, text)
        painter.setPen(LABEL_COLOR)
        painter.drawText(box, flags, text)

    def _paint_split(self, painter: QPainter, after: QPixmap, after_label: str) -> None:
        viewport = self._viewports()[0]
        divider_x = self._divider_x()
        self._draw(painter, after, viewport)
        left = QRectF(
            viewport.left(), viewport.top(), divider_x - viewport.left(), viewport.height()
        )
        # the original is placed like the result (same viewport), only clipped to the left
        self._draw(painter, self._before, viewport, clip=left)
        painter.setPen(QPen(DIVIDER_COLOR, 2))
        painter.drawLine(QPointF(divider_x, viewport.top()), QPointF(divider_x, viewport.bottom()))
        painter.setBrush(DIVIDER_COLOR)
        painter.drawEllipse(QPointF(divider_x, viewport.center().y()), HANDLE_RADIUS, HANDLE_RADIUS)
        self._label(painter, "Before", viewport, right=False)
        self._label(painter, after_label, viewport, right=True)

    def _paint_toggle(self, painter: QPainter, after: QPixmap) -> None:
        viewport = self._viewports()[0]
        original = self._showing_original
        self._draw(painter, self._before if original else after, viewport)
        text = "Before" if original else "After (hold the mouse button for the original)"
        self._label(painter, text, viewport, right=False)

    def _paint_side_by_side(self, painter: QPainter, after: QPixmap, after_label: str) -> None:
        left, right = self._viewports()
        self._draw(painter, self._before, left)
        self._draw(painter, after, right)
        self._label(painter, "Before", left, right=False)
        self._label(painter, after_label, right, right=False)

    def _divider_x(self) -> float:
        return self.rect().left() + self._split * self.rect().width()

    # -- mouse ------------------------------------------------------------------------
    def _near_divider(self, x: float) -> bool:
        return self.mode is CompareMode.SPLIT and abs(x - self._divider_x()) <= DIVIDER_GRAB_PIXELS

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        position = event.position()
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self._near_divider(position.x()):
            self._dragging_divider = True
        else:
            self._pan_from = position
        if self.mode is CompareMode.TOGGLE:
            self.set_showing_original(True)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        position = event.position()
        if self._dragging_divider:
            self.set_split((position.x() - self.rect().left()) / max(1, self.rect().width()))
        elif self._pan_from is not None:
            self._pan_by(position - self._pan_from)
            self._pan_from = position
        cursor = Qt.CursorShape.SplitHCursor
        if not (self._dragging_divider or self._near_divider(position.x())):
            cursor = Qt.CursorShape.OpenHandCursor
        self.setCursor(cursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._dragging_divider = False
        self._pan_from = None
        if self.mode is CompareMode.TOGGLE:
            self.set_showing_original(False)

    def _pan_by(self, shift: QPointF) -> None:
        """Move the pictures by ``shift`` view pixels, keeping the view's centre on the photo
        (further, a few key presses pushed it out of sight)."""
        if self._zoom is None:
            self._zoom = self.zoom()
        center = self._center - shift / self.zoom()
        self._center = QPointF(
            min(max(center.x(), 0.0), self._photo_size.width()),
            min(max(center.y(), 0.0), self._photo_size.height()),
        )
        self.update()

    # -- keys -------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key, shifted = event.key(), event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if shifted and key in _DIVIDER_KEYS and self.mode is CompareMode.SPLIT:
            self.set_split(self._split + _DIVIDER_KEYS[key] * KEY_DIVIDER_STEP)
        elif key in _PAN_KEYS and self._zoom is not None:  # a fitted photo has nowhere to go
            direction = _PAN_KEYS[key]
            step = QPointF(self.width(), self.height()) * KEY_PAN_SHARE
            self._pan_by(QPointF(direction.x() * step.x(), direction.y() * step.y()))
        else:
            super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        notches = event.angleDelta().y() / WHEEL_UNIT
        if notches:
            self.set_zoom(self.zoom() * WHEEL_STEP**notches, event.position())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._zoom is None:
            self._zoom_changed()
