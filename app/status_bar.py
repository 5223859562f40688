"""A status bar whose messages are cut to the room they have, whole in their tooltip.

Qt's own status bar clips a message at the first permanent widget: on a narrow window "Saved
/photos/Holiday" ran straight into the photo's name beside it, as if another file had been
written. Here the message is a label that takes the room the permanent widgets leave, never
widens the window, and ends in "…" where it is cut.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

#: room between the message and the permanent widgets, in pixels
MESSAGE_GAP = 12


class ElidedLabel(QLabel):
    """One line of text, cut at its end to the label's width; the whole text in its tooltip
    when cut."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full_text = ""
        # any width, down to none: the text is cut rather than the window made wider
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def full_text(self) -> str:
        return self._full_text

    def set_full_text(self, text: str) -> None:
        self._full_text = text
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full_text, Qt.TextElideMode.ElideRight, room)
        self.setText(shown)
        self.setToolTip(self._full_text if shown != self._full_text else "")


class MessageStatusBar(QStatusBar):
    """:class:`QStatusBar` with :meth:`showMessage`, :meth:`currentMessage` and
    :meth:`clearMessage` shown in an :class:`ElidedLabel` left of the permanent widgets.

    Python's calls reach these; Qt's own (an action's status tip, which this app's actions
    do not set) still show in Qt's way, over the label.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_label = ElidedLabel()
        self.message_label.setContentsMargins(0, 0, MESSAGE_GAP, 0)
        self.addWidget(self.message_label, 1)
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(self.clearMessage)

    def showMessage(self, message: str, timeout: int = 0) -> None:  # noqa: N802
        """Show ``message``, for ``timeout`` milliseconds (0: until the next one)."""
        self._timeout.stop()
        self.message_label.set_full_text(message)
        self.messageChanged.emit(message)
        if timeout > 0:
            self._timeout.start(timeout)

    def currentMessage(self) -> str:  # noqa: N802
        return self.message_label.full_text()

    def clearMessage(self) -> None:  # noqa: N802
        self.showMessage("")
