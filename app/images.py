"""numpy <-> Qt image conversion (GUI thread only)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def qimage_from_rgb8(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of an HxWx3 uint8 RGB array."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    # QImage only borrows the buffer; copy() detaches it before ``rgb`` can be freed
    return QImage(rgb.data, width, height, width * 3, QImage.Format.Format_RGB888).copy()


def pixmap_from_rgb8(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(qimage_from_rgb8(rgb))


def rgb8_from_qimage(image: QImage) -> np.ndarray:
    """An HxWx3 uint8 copy of a QImage: the inverse of :func:`qimage_from_rgb8`, with which
    the tests read what the window shows."""
    converted = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width = converted.height(), converted.width()
    buffer = np.frombuffer(converted.constBits(), dtype=np.uint8, count=converted.sizeInBytes())
    rows = buffer.reshape(height, converted.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()
